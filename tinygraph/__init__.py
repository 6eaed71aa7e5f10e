"""tinygraph: a small, exact reverse-mode autodiff framework on NumPy, built to show backpropagation.

    import tinygraph as tg
    x = tg.tensor(np.random.randn(3, 4), requires_grad=True, name="x")
    y = (x @ w).relu().sum()
    y.backward()            # x.grad now holds dy/dx

Every module imports what it uses from the module that defines it, never from this package, so
the order below is only the order of the documentation: tensor, ops and their registry, engine,
then the tools around them. `tg.<op name>` (tg.relu, tg.conv2d, your own registered ops) is
looked up in the registry when asked for (`__getattr__` below).
"""
import pkgutil as _pkgutil

from tinygraph.tensor import Tensor, from_numpy, tensor
from tinygraph.node import Node, OutputRecord
from tinygraph.op import Context, Op, apply
from tinygraph.errors import OpError
from tinygraph.registry import op_function as _op_function
from tinygraph.registry import register_op, registry, unregister_op
from tinygraph.registry import reserve_names as _reserve_names
from tinygraph.torch_names import missing_name_error as _missing_name_error
from tinygraph.engine import backward, topological_order
from tinygraph.grad_mode import BackwardStep
from tinygraph.grad_mode import (backward_hook, detect_anomaly, enable_grad, forward_hook, is_grad_enabled, no_grad,
                                 set_grad_enabled)
from tinygraph.broadcast import unbroadcast
from tinygraph.gradcheck import GradcheckError, gradcheck, gradgradcheck

# The built-in ops, one file each; importing them registers them (tg.relu, x.relu(), ...).
import tinygraph.ops  # noqa: F401
from tinygraph.parallel import get_num_threads, set_num_threads  # threads per large op

# Tools around the core.
from tinygraph.profile import OpStats, Profile, profile  # per-op timings
from tinygraph.memory import keep_freed_memory  # opt-in: reuse freed arrays, no page faults
from tinygraph import data, nn, optim  # tg.nn.Linear, tg.optim.Adam, tg.data.load_digits, ...
from tinygraph import autograd  # tg.autograd.Function: extend tinygraph the PyTorch way
from tinygraph.compile import compile  # noqa: A001  tg.compile(step): record a training step once, replay it
from tinygraph import func  # tg.func.grad, hessian, jvp, ...: function transforms, JAX's and torch.func's names
from tinygraph import distributed  # tg.distributed: data-parallel training over MPI (mpi4py loaded on first use)
from tinygraph.random import Generator, get_rng_state, initial_seed, manual_seed, seed, set_rng_state  # tg.manual_seed(0): reproducible runs
from tinygraph.checkpoint import load, save  # tg.save(path, state) / tg.load(path)
from tinygraph.drawing import draw, draw_steps, record_backward, trace  # see backprop
from tinygraph.monitor import GradientFlow  # gradient norms, update ratios and dead ReLUs per layer and epoch

# PyTorch's vocabulary around the ops (issue 20): dtypes and devices, factories, seeding, more tensor methods.
from tinygraph.dtypes import (UnsupportedDeviceError, device, float16, float32, float64, get_default_dtype, int8,
                              int16, int32, int64, uint8)
from tinygraph.dtypes import bool_ as bool, float16 as half, float32 as float, float64 as double  # noqa: A001
from tinygraph.dtypes import int16 as short, int32 as int, int64 as long  # noqa: A001
from tinygraph.factories import (arange, empty, empty_like, eye, full, full_like, linspace, ones, ones_like, rand,
                                 rand_like, randint, randint_like, randn, randn_like, zeros, zeros_like)
from tinygraph.random import default_generator, initial_seed, manual_seed, seed
from tinygraph.tensor_api import (arccos, arcsin, arctan, argmax, argmin, chunk, eq, flatten, gather, ge, gt,  # noqa: A001
                                  is_floating_point, is_tensor, le, lt, max, min, ne, norm, numel, scatter_add, sort, split,
                                  topk)
from tinygraph.tensor_api import install as _install_tensor_api

_install_tensor_api()   # x.float(), x.to(dtype), x.size(1), x.gather(dim, index), x // y, abs(x), ...

__version__ = "0.2.0"


def __getattr__(name: str):
    """`tg.<op name>`: the function of the op registered under that name (PEP 562)."""
    function = _op_function(name)
    if function is None:
        raise _missing_name_error("tinygraph", name)     # names tinygraph's spelling of a PyTorch name
    return function


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(registry()))


# An op named like one of the package's own attributes or submodules would be hidden by it
# (models/ installs as tinygraph.models but lives outside this directory).
_reserve_names([name for name in globals() if not name.startswith("_")]
               + [module.name for module in _pkgutil.iter_modules(__path__)] + ["models"])
