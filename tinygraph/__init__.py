"""tinygraph: a small, exact reverse-mode autodiff framework on NumPy, built to show backpropagation.

    import tinygraph as tg
    x = tg.tensor(np.random.randn(3, 4), requires_grad=True, name="x")
    y = (x @ w).relu().sum()
    y.backward()            # x.grad now holds dy/dx
"""
# Core, in dependency order: tensor.py first (op.py and registry.py need Tensor defined).
from tinygraph.tensor import ReleasedTensor, Tensor, from_numpy, tensor  # noqa: I001
from tinygraph.op import Context, Node, Op, apply
from tinygraph.registry import register_op, registry, unregister_op
from tinygraph.engine import backward, topological_order
from tinygraph.grad_mode import backward_hook, detect_anomaly, enable_grad, is_grad_enabled, no_grad
from tinygraph.broadcast import unbroadcast
from tinygraph.gradcheck import GradcheckError, gradcheck

# The built-in ops register themselves as tg.<name> and Tensor methods.
import tinygraph.ops  # noqa: F401,E402
from tinygraph.ops._parallel import get_num_threads, set_num_threads  # noqa: E402  (threads per large op)

# Tools around the core.
from tinygraph.profile import OpStats, Profile, profile  # noqa: E402  (per-op timings)
from tinygraph.memory import keep_freed_memory  # noqa: E402  (opt-in: reuse freed arrays, no page faults)
from tinygraph import data, nn, optim  # noqa: E402  (tg.nn.Linear, tg.optim.Adam, tg.data.load_digits, ...)
from tinygraph.checkpoint import load, save  # noqa: E402  (tg.save(path, state) / tg.load(path))
from tinygraph.drawing import draw, draw_steps, record_backward  # noqa: E402  (see backprop)

__version__ = "0.1.0"
