"""Differential tests: tinygraph against PyTorch on random expression graphs that Hypothesis chooses.

A generator builds DAGs over tinygraph's ops (add, sub, mul, div, neg, pow, exp, log, sum, mean,
reshape, transpose, matmul, relu, conv2d, maxpool, softmax_xent, and base ** x; and PyTorch's tensor
vocabulary: abs, sqrt, sigmoid, tanh, clamp, softmax, log_softmax, amax, amin, max(dim), logsumexp,
var, std, indexing with repeated indices, cat, where, maximum, minimum, transpose(dim0, dim1),
unsqueeze, flatten, expand): tensors reused by
several ops (x*x*x, diamonds), broadcasting, ranks 0 to 4, size-1 and size-0 axes, transposed,
strided, reversed, broadcast and read-only leaves, float16, float32, float64 and mixed operands, integer
and bool constants, Python and NumPy scalars, index arrays as tensors, NumPy arrays or lists (int64 or
int32) and boolean masks. Values stay in safe domains (log of positives, divisors
away from 0, no relu kinks, no maxpool ties), so a difference is a bug, not an artefact. Every node's
value and every leaf's gradient (after backward of a random-weighted sum of the output) is compared
with PyTorch computing the same expression; gradients must be np.ndarrays of the leaf's shape and dtype.

Shrunk failing cases go into differential_regressions.py, replayed on every run.

Environment:
    TINYGRAPH_DIFF_EXAMPLES=N   generated graphs per test (default 120; `make explore` draws 2,000)
    TINYGRAPH_HYPOTHESIS=explore   new random graphs on each run (default: the same graphs every run,
                                   tests/conftest.py)
    CI=true                     a missing torch fails instead of skipping
Statistics of what was generated: pytest tests/test_differential.py --hypothesis-show-statistics
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from torch_required import require_torch

torch = require_torch(__file__)

from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from differential_regressions import REGRESSIONS  # noqa: E402
from torch_compare import run_spec, torch_apply, torch_constant  # noqa: E402

torch.set_num_threads(1)
# PyTorch's own advice on an empty leaf's zero-stride gradient, not a finding.
pytestmark = [pytest.mark.filterwarnings("ignore:grad and param do not obey the gradient layout contract"),
              # var/std over too few elements: NaN in both frameworks (the generator drops such nodes).
              pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0")]

# ----------------------------------------------------------------------------- tolerances per dtype
# |tinygraph − PyTorch| <= atol·max(1, max|PyTorch|) + rtol·|PyTorch|, both widened by 1/4 per op on
# the longest path (float32 rounding differs between NumPy's and PyTorch's kernels and accumulates).
TOLERANCES = {
    np.dtype(np.float64): (1e-7, 1e-9),      # (rtol, atol)
    np.dtype(np.float32): (1e-4, 1e-5),
    # float16: 4 ulps of 1. A value near 1 carries one ulp (~1e-3) of rounding that NumPy and PyTorch place
    # differently (1 − sigmoid near saturation is 1 or 2 ulps), and a graph multiplies that error on.
    np.dtype(np.float16): (1e-2, 4e-3),
}


def tolerance(dtype, depth: int) -> tuple[float, float]:
    rtol, atol = TOLERANCES[np.dtype(dtype)]
    widen = 1 + depth / 4
    return rtol * widen, atol * widen


# ----------------------------------------------------------------------------- generator limits
EXAMPLES = int(os.environ.get("TINYGRAPH_DIFF_EXAMPLES", "120"))
MAX_NODES = 8            # ops per graph
MAX_ELEMENTS = 240       # elements per tensor
VALUE_CAP = 30.0         # |value| of every intermediate (exp, products and powers stay moderate)
LOG_MIN = 0.2            # log(x) only when every x >= LOG_MIN
DIVISOR_MIN = 0.4        # a / b only when every |b| >= DIVISOR_MIN
KINK_MARGIN = 1e-2       # relu only when every |x| >= this; maxpool only when each window's max wins by this
# In a float16 graph a value the float64 evaluation puts 0.01 off a kink can round across it (float16
# resolves ~1e-3 relative, and values reach VALUE_CAP), so its kinks and ties are kept further away.
KINK_MARGIN_FLOAT16 = 0.25
# How an index array reaches the op: a tg.tensor, a NumPy array, a Python list (see torch_compare.make_index).
INDEX_FORMS = ("tensor", "numpy", "list")
POW_EXPONENTS = (2, 3, 0, 1, -1, -2, 0.5, 1.5, -0.5, 2.5)
OPS = (["add"] * 3 + ["sub"] * 2 + ["mul"] * 3 + ["div"] * 2 + ["neg", "exp", "log", "rpow"] + ["pow"] * 2
       + ["sum"] * 2 + ["mean"] * 2 + ["reshape"] * 2 + ["transpose"] * 2 + ["matmul"] * 2 + ["relu"] * 2
       + ["conv2d"] * 2 + ["maxpool"] * 2 + ["softmax_xent"] * 2
       # PyTorch's tensor vocabulary (issue 11)
       + ["abs", "sqrt", "sigmoid", "tanh", "clamp", "softmax", "log_softmax", "amax", "amin", "max_dim",
          "logsumexp", "var", "std", "getitem", "getitem", "cat", "where", "maximum", "minimum", "swapdims",
          "unsqueeze", "flatten", "expand"])
NAN_SAFE_OPS = ("add", "sub", "neg", "sum", "mean", "reshape", "transpose", "swapdims", "unsqueeze", "flatten",
                "expand", "getitem")   # for NaN from an empty mean

# Derandomized or not is the profile's business (tests/conftest.py): `make test` is reproducible.
SETTINGS = settings(max_examples=EXAMPLES, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])


class GraphBuilder:
    """Draws one expression spec, evaluating each node in float64 PyTorch to keep values in safe domains."""

    def __init__(self, draw):
        self.draw = draw
        self.dtype_policy = draw(st.sampled_from(["float64", "float32", "mixed", "mixed", "float16"]))
        self.kink_margin = KINK_MARGIN_FLOAT16 if self.dtype_policy in ("float16", "mixed") else KINK_MARGIN
        self.allow_empty = draw(st.sampled_from([False] * 5 + [True]))
        self.leaves: dict[str, dict] = {}
        self.nodes: list[dict] = []
        self.shape: dict[str, tuple] = {}
        self.value: dict[str, np.ndarray] = {}          # float64 values, for the domain checks
        self.reference: dict[str, torch.Tensor] = {}    # the same as float64 torch tensors

    # ------------------------------------------------------------------ small draws
    def choice(self, options):
        return self.draw(st.sampled_from(list(options)))

    def integer(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))

    def flag(self, chance: float = 0.5) -> bool:
        steps = 8
        return self.draw(st.integers(0, steps - 1)) < round(chance * steps)

    def dim(self) -> int:
        return self.choice([0, 1, 1, 2, 2, 3, 3, 4] if self.allow_empty else [1, 1, 2, 2, 3, 3, 4])

    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.draw(st.integers(0, 2**32 - 1)))

    @property
    def pool(self) -> list[str]:
        return list(self.shape)

    def finite(self, name: str) -> bool:
        return bool(np.isfinite(self.value[name]).all())

    # ------------------------------------------------------------------ leaves and constants
    def values(self, shape: tuple, style: str) -> np.ndarray:
        rng = self.rng()
        if style == "positive":
            v = rng.uniform(0.5, 2.0, shape)
        elif style == "away_from_zero":
            v = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
        elif style == "with_zeros":
            v = rng.uniform(-2.0, 2.0, shape) * (rng.uniform(size=shape) < 0.6)
        elif style == "integers":
            v = rng.integers(-3, 4, shape).astype(np.float64)
        else:
            v = rng.uniform(-2.0, 2.0, shape)
        return np.asarray(np.round(v, 3) + 0.0)    # + 0.0: no negative zeros in the printed spec

    def new_leaf(self, shape: tuple, style: str | None = None) -> str:
        name = f"x{len(self.leaves)}"
        style = style or self.choice(["uniform"] * 5 + ["positive", "with_zeros", "integers"])
        values = self.values(shape, style)
        dtype = self.choice(["float32", "float64", "float16"]) if self.dtype_policy == "mixed" else self.dtype_policy
        leaf = {"shape": tuple(shape), "dtype": dtype}
        layout = self.choice(["contiguous"] * 4 + ["fortran", "strided", "reversed", "broadcast"])
        if layout == "broadcast":
            if len(shape) and shape[0] > 1:
                values[...] = values[:1]
            else:
                layout = "contiguous"
        if layout != "contiguous":
            leaf["layout"] = layout
        if self.flag(0.25):
            leaf["readonly"] = True
        if self.flag(0.25):
            leaf["share"] = True
        if self.flag(0.12):
            leaf["requires_grad"] = False
        leaf["values"] = values.tolist()
        self.leaves[name] = leaf
        self._record(name, torch.from_numpy(values.astype(dtype).astype(np.float64)))
        return name

    def constant_array(self, shape: tuple, kind: str, nonzero: bool = False) -> dict:
        rng = self.rng()
        if kind == "bool":
            values, dtype = rng.uniform(size=shape) < 0.5, "bool"
        elif kind == "float":
            values = self.values(shape, "away_from_zero" if nonzero else "uniform")
            dtype = self.choice(["float32", "float64"])
        else:
            values = rng.choice([-3, -2, -1, 1, 2, 3] if nonzero else [-3, -2, -1, 0, 1, 2, 3], shape)
            dtype = self.choice(["int64", "int64", "int32"])
        return {"array": np.asarray(values).tolist(), "dtype": dtype, "shape": list(shape)}

    # ------------------------------------------------------------------ nodes
    def _record(self, name: str, reference: torch.Tensor) -> None:
        self.reference[name] = reference
        self.value[name] = reference.detach().numpy()
        self.shape[name] = tuple(reference.shape)

    def add_node(self, op: str, args: list, attrs: dict | None = None, style: str | None = None) -> str | None:
        """Evaluate the node in float64; keep it only if its value is finite (or NaN from an empty mean) and moderate."""
        attrs = attrs or {}
        inputs = [self.reference[a] if isinstance(a, str) else torch_constant(a) for a in args]
        try:
            result = torch_apply(op, inputs, attrs, eval64=True)
        except (RuntimeError, ValueError, IndexError) as error:   # the generator asked for something invalid
            raise AssertionError(f"generator built an invalid {op} node {args} {attrs}: {error}") from error
        values = result.numpy()
        if values.size > MAX_ELEMENTS or np.isinf(values).any():
            return None
        if np.isnan(values).any() and not (op == "mean" and all(self.finite(a) for a in args if isinstance(a, str))):
            return None
        if np.abs(values[np.isfinite(values)]).max(initial=0.0) > VALUE_CAP:
            return None
        name = f"n{len(self.nodes)}"
        node = {"name": name, "op": op, "args": args}
        if attrs:
            node["attrs"] = attrs
        if style:
            node["style"] = style
        self.nodes.append(node)
        self._record(name, result)
        return name

    def snapshot(self):
        return len(self.leaves), len(self.nodes)

    def restore(self, snapshot) -> None:
        n_leaves, n_nodes = snapshot
        for name in list(self.leaves)[n_leaves:]:
            del self.leaves[name]
            self._forget(name)
        for node in self.nodes[n_nodes:]:
            self._forget(node["name"])
        del self.nodes[n_nodes:]

    def _forget(self, name: str) -> None:
        for table in (self.shape, self.value, self.reference):
            table.pop(name, None)

    # ------------------------------------------------------------------ shapes
    def partner_shape(self, shape: tuple) -> tuple:
        """A shape that broadcasts against `shape`: the same, with axes of size 1, a suffix, 0-d, or one more axis."""
        kind = self.choice(["same", "same", "ones", "suffix", "scalar", "lead"])
        if kind == "ones":
            result = tuple(1 if self.flag() else n for n in shape)
        elif kind == "suffix":
            result = shape[self.integer(0, len(shape)):]
        elif kind == "scalar":
            result = ()
        elif kind == "lead" and len(shape) < 4:
            result = (self.choice([1, 2, 3]),) + tuple(1 if self.flag(0.3) else n for n in shape)
        else:
            result = shape
        return result if _size(np.broadcast_shapes(shape, result)) <= MAX_ELEMENTS else shape

    def draw_axis(self, ndim: int):
        if ndim == 0:
            return self.choice([None, 0, -1, (0,), (-1,)])     # PyTorch reduces a 0-d tensor over dim 0 or -1
        kind = self.choice(["none", "int", "tuple"])
        if kind == "none":
            return None
        if kind == "int":
            return self.integer(-ndim, ndim - 1)
        axes = sorted(self.draw(st.sets(st.integers(0, ndim - 1), min_size=1, max_size=ndim)))
        axes = [a - ndim if self.flag(0.3) else a for a in self.draw(st.permutations(axes))]
        return tuple(axes)

    def reshape_target(self, shape: tuple) -> tuple:
        size = _size(shape)
        options = [(size,), tuple(reversed(shape)), (1,) + shape, shape + (1,), tuple(n for n in shape if n != 1)]
        if size > 0:
            options += [(-1,), (shape[0], -1) if shape else (1, -1)]
            options += [(d, size // d) for d in range(2, size) if size % d == 0][:3]
            options += [(1, d, -1) for d in range(2, size) if size % d == 0][:1]
        if size == 1:
            options.append(())
        return tuple(self.choice(options))

    # ------------------------------------------------------------------ proposals, one per op
    def is_image(self, name: str) -> bool:
        """NCHW with C, H, W >= 1 (N may be 0) and finite values: input for conv2d and maxpool."""
        shape = self.shape[name]
        return len(shape) == 4 and min(shape[1:]) >= 1 and self.finite(name)

    def suits(self, op: str, name: str) -> bool:
        """Whether `name` can be the first operand of `op` with values in its safe domain."""
        v, shape = self.value[name], self.shape[name]
        if not self.finite(name):
            return op in NAN_SAFE_OPS
        if op == "log":
            return bool(np.all(v >= LOG_MIN))
        if op in ("relu", "abs"):
            return bool(np.all(np.abs(v) >= self.kink_margin))
        if op == "sqrt":
            return bool(np.all(v >= LOG_MIN))
        if op in ("amax", "amin", "max_dim"):
            return _no_near_ties(v, self.kink_margin)
        if op == "matmul":
            return len(shape) >= 1
        if op in ("conv2d", "maxpool"):
            return self.is_image(name)
        if op == "softmax_xent":
            return len(shape) == 2 and min(shape) >= 1
        return True

    def pick_operand(self, op: str) -> str:
        """Mostly the newest node (graphs grow deep), else any suitable tensor, else a fresh leaf that suits."""
        suitable = [n for n in self.pool if self.suits(op, n)]
        newest = self.nodes[-1]["name"] if self.nodes else None
        if newest in suitable and self.flag(0.6):
            return newest
        if suitable and self.flag(0.8):
            return self.choice(suitable)
        if op in ("conv2d", "maxpool", "softmax_xent") and self.flag(0.5):
            return self.choice(self.pool)        # as_4d / a reshape adapts it
        style = {"log": "positive", "pow": "positive", "sqrt": "positive", "relu": "away_from_zero",
                 "abs": "away_from_zero"}.get(op)
        rank = self.integer(0, 4)
        return self.new_leaf(tuple(self.dim() for _ in range(rank)), style)

    def propose(self, op: str, a: str) -> str | None:
        if not self.finite(a) and op not in NAN_SAFE_OPS:
            return None
        return getattr(self, f"propose_{op}", self.propose_unary)(op, a)

    def propose_binary(self, op: str, a: str) -> str | None:
        kind = self.choice(["same", "pool", "fresh", "fresh", "scalar", "npscalar", "int_array", "int_tensor",
                            "float_array", "bool_mask"])
        if kind == "bool_mask" and op != "mul":
            kind = "fresh"
        shape = self.shape[a]
        other = None
        if kind == "same":
            other = a
        elif kind == "pool":
            partners = [n for n in self.pool if n != a and self.finite(n) and _broadcastable(shape, self.shape[n])]
            other = self.choice(partners) if partners else None
            kind = "pool" if partners else "fresh"
        swap = self.flag()
        divisor_is_new = op == "div" and not swap     # the new operand is b in a / b
        if kind == "fresh":
            other = self.new_leaf(self.partner_shape(shape), "away_from_zero" if divisor_is_new else None)
        elif kind in ("scalar", "npscalar"):
            other = {"scalar": self.choice([2.0, -1.5, 0.5, 3, -2, 1.25])}
            if kind == "npscalar":
                other["numpy"] = self.choice(["float64", "float32"])
        elif kind in ("int_array", "int_tensor", "float_array", "bool_mask"):
            array_kind = {"float_array": "float", "bool_mask": "bool"}.get(kind, "int")
            other = self.constant_array(self.partner_shape(shape), array_kind, nonzero=divisor_is_new)
            if kind == "int_tensor":
                other["wrap"] = "tensor"
        args = [other, a] if swap else [a, other]
        if op == "div" and isinstance(args[1], str) and not np.all(np.abs(self.value[args[1]]) >= DIVISOR_MIN):
            return None
        if isinstance(other, str) and not self.finite(other):
            return None
        return self.add_node(op, args, style="function" if self.flag(0.25) else None)

    propose_add = propose_sub = propose_mul = propose_div = propose_binary

    def propose_unary(self, op: str, a: str) -> str | None:
        v = self.value[a]
        if op == "log" and not np.all(v >= LOG_MIN):
            return None
        if op == "relu" and not np.all(np.abs(v) >= self.kink_margin):
            return None
        return self.add_node(op, [a], style="function" if self.flag(0.3) else None)

    def propose_abs(self, op: str, a: str) -> str | None:
        if op == "abs" and not np.all(np.abs(self.value[a]) >= self.kink_margin):
            return None
        if op == "sqrt" and not np.all(self.value[a] >= LOG_MIN):
            return None
        return self.add_node(op, [a], style="function" if self.flag(0.3) else None)

    propose_sqrt = propose_sigmoid = propose_tanh = propose_abs

    def propose_clamp(self, op: str, a: str) -> str | None:
        bounds = {"min": self.choice([None, -1.0, -0.25, 0.3]), "max": self.choice([None, 1.2, 0.45, -0.4])}
        if bounds["min"] is None and bounds["max"] is None:
            bounds["min"] = 0.0
        v = self.value[a]
        if any(b is not None and np.any(np.abs(v - b) < self.kink_margin) for b in bounds.values()):
            return None          # a value on a bound: the gradient there is a convention, not a difference
        return self.add_node("clamp", [a], {k: b for k, b in bounds.items() if b is not None})

    def one_dim(self, ndim: int) -> int:
        return self.integer(-max(ndim, 1), max(ndim, 1) - 1)

    def propose_softmax(self, op: str, a: str) -> str | None:
        return self.add_node(op, [a], {"dim": self.one_dim(len(self.shape[a]))},
                             style="function" if self.flag(0.3) else None)

    propose_log_softmax = propose_softmax

    def propose_amax(self, op: str, a: str) -> str | None:
        if op in ("amax", "amin", "max_dim") and (self.value[a].size == 0 or not _no_near_ties(self.value[a], self.kink_margin)):
            return None           # no maximum of nothing; no ties to route
        ndim = len(self.shape[a])
        if op == "max_dim":
            return self.add_node(op, [a], {"dim": self.one_dim(ndim), "keepdim": self.flag()})
        attrs = {"dim": self.draw_axis(ndim), "keepdim": self.flag()}
        if isinstance(attrs["dim"], tuple) and len(attrs["dim"]) == 0:
            attrs["dim"] = None
        if op in ("var", "std"):
            attrs["correction"] = self.choice([1, 1, 0])
            if op == "std" and not np.all(_reference_std(self.value[a], attrs) >= 0.05):
                return None      # √ near 0: a huge, ill-conditioned gradient
        return self.add_node(op, [a], attrs, style="function" if op != "max_dim" and self.flag(0.3) else None)

    propose_amin = propose_max_dim = propose_logsumexp = propose_var = propose_std = propose_amax

    def propose_getitem(self, op: str, a: str) -> str | None:
        """A random index: per dim an int, a slice (negative steps too), a new axis, or one integer array with
        repeats (so backward must accumulate), sometimes with an ellipsis."""
        shape = self.shape[a]
        index, advanced = [], False
        for n in shape:
            kind = self.choice(["slice", "slice", "int", "take", "mask", "none"] if n else ["slice"])
            if kind == "int":
                index.append(self.integer(-n, n - 1))
            elif kind == "take" and not advanced:
                advanced = True
                index.append({"take": [self.integer(-n, n - 1) for _ in range(self.integer(1, 4))],
                              "as": self.choice(INDEX_FORMS), "dtype": self.choice(["int64", "int32"])})
            elif kind == "mask" and not advanced:
                advanced = True
                index.append({"mask": [self.flag() for _ in range(n)], "as": self.choice(INDEX_FORMS[:2])})
            elif kind == "none":
                index += ["None", {"slice": [None, None, None]}]
            else:
                start, stop = sorted((self.integer(-n, n), self.integer(-n, n)))
                step = self.choice([None, 1, 2])
                index.append({"slice": [start, stop, step]})
        cut = self.integer(0, len(index))
        if self.flag(0.3):
            index = index[:cut] + ["..."]
        elif not index:
            index = [self.choice(["None", "..."])]
        return self.add_node("getitem", [a], {"index": index})

    def propose_cat(self, op: str, a: str) -> str | None:
        shape = self.shape[a]
        if not shape:
            return None
        dim = self.one_dim(len(shape))
        other_shape = list(shape)
        other_shape[dim] = self.choice([0, 1, 2, 3] if self.allow_empty else [1, 2, 3])
        other = a if self.flag(0.3) else self.new_leaf(tuple(other_shape))
        return self.add_node("cat", [a, other], {"dim": dim})

    def propose_where(self, op: str, a: str) -> str | None:
        v = self.value[a]
        threshold = self.choice([0.0, 0.5, -0.5])
        if np.any(np.abs(v - threshold) < self.kink_margin):
            return None
        other = self.new_leaf(self.partner_shape(self.shape[a]))
        return self.add_node("where", [a, other], {"threshold": threshold})

    def propose_maximum(self, op: str, a: str) -> str | None:
        other = self.new_leaf(self.partner_shape(self.shape[a]))
        if np.any(np.abs(self.value[a] - self.value[other]) < self.kink_margin):
            return None          # ties split the gradient in half: tested by hand, not generated
        return self.add_node(op, [a, other], style="function")

    propose_minimum = propose_maximum

    def propose_swapdims(self, op: str, a: str) -> str | None:
        ndim = len(self.shape[a])
        return self.add_node("swapdims", [a], {"dims": [self.one_dim(ndim), self.one_dim(ndim)]})

    def propose_unsqueeze(self, op: str, a: str) -> str | None:
        ndim = len(self.shape[a])
        return self.add_node("unsqueeze", [a], {"args": [self.integer(-ndim - 1, ndim)]})

    def propose_flatten(self, op: str, a: str) -> str | None:
        ndim = len(self.shape[a])
        start, end = sorted((self.integer(0, max(ndim - 1, 0)), self.integer(0, max(ndim - 1, 0))))
        return self.add_node("flatten", [a], {"args": [start, end - ndim if self.flag() and ndim else end]})

    def propose_expand(self, op: str, a: str) -> str | None:
        shape = self.shape[a]
        size = [self.choice([2, 3]) if n == 1 and self.flag() else (-1 if self.flag() else n) for n in shape]
        if len(shape) < 4 and self.flag(0.4):
            size = [self.choice([1, 2])] + size
        if not size:
            return None
        return self.add_node("expand", [a], {"args": size})

    def propose_pow(self, op: str, a: str) -> str | None:
        exponent = self.choice(POW_EXPONENTS)
        v = self.value[a]
        if exponent != int(exponent) and not np.all(v >= LOG_MIN):      # fractional powers of positives only
            return None
        if exponent < 0 and not np.all(np.abs(v) >= DIVISOR_MIN):
            return None
        return self.add_node("pow", [a], {"exponent": exponent}, style="function" if self.flag(0.2) else None)

    def propose_rpow(self, op: str, a: str) -> str | None:
        return self.add_node("rpow", [a], {"base": self.choice([2.0, 0.5, 3.0])})

    def propose_sum(self, op: str, a: str) -> str | None:
        attrs = {"axis": self.draw_axis(len(self.shape[a])), "keepdims": self.flag()}
        return self.add_node(op, [a], attrs, style="function" if self.flag(0.3) else None)

    propose_mean = propose_sum

    def propose_reshape(self, op: str, a: str) -> str | None:
        return self.add_node("reshape", [a], {"shape": self.reshape_target(self.shape[a])},
                             style="function" if self.flag(0.3) else None)

    def propose_transpose(self, op: str, a: str) -> str | None:
        axes = tuple(self.draw(st.permutations(range(len(self.shape[a])))))
        return self.add_node("transpose", [a], {"axes": axes})

    def propose_matmul(self, op: str, a: str) -> str | None:
        shape = self.shape[a]
        if not shape:
            return None
        m = self.choice([0, 1, 2, 3] if self.allow_empty else [1, 2, 3])
        on_left = self.flag(0.65)
        if on_left:
            k = shape[-1]
            batch = self.partner_shape(shape[:-2]) if len(shape) > 2 else ((self.choice([1, 2]),) if self.flag(0.2) else ())
            other_shape = self.choice([(k,), (k, m), batch + (k, m)])
        else:
            k = shape[-2] if len(shape) > 1 else shape[0]
            other_shape = self.choice([(k,), (m, k), (self.choice([1, 2]), m, k)])
        partners = [n for n in self.pool if self.finite(n)
                    and _matmul_shape(*((shape, self.shape[n]) if on_left else (self.shape[n], shape))) is not None]
        if partners and self.flag(0.4):
            other = self.choice(partners)            # reuse: x @ x, or an earlier node
        else:
            other = self.new_leaf(other_shape)
        args = [a, other] if on_left else [other, a]
        if _matmul_shape(self.shape[args[0]], self.shape[args[1]]) is None:
            return None
        return self.add_node("matmul", args, style="function" if self.flag(0.3) else None)

    def as_4d(self, a: str) -> str | None:
        """`a` if it is NCHW, else an earlier 4-D node, a reshape of `a`, or a fresh 4-D leaf."""
        shape = self.shape[a]
        if self.is_image(a):
            return a
        earlier = [n for n in self.pool if self.is_image(n)]
        kind = self.choice(["earlier", "reshape", "fresh"])
        if kind == "earlier" and earlier:
            return self.choice(earlier)
        size = _size(shape)
        if kind == "reshape" and size >= 2 and self.finite(a):
            d = self.choice([d for d in range(1, size + 1) if size % d == 0])
            return self.add_node("reshape", [a], {"shape": (1, 1, d, size // d)})
        n = self.choice([0, 1, 2] if self.allow_empty else [1, 1, 2])
        return self.new_leaf((n, self.integer(1, 3), self.integer(1, 6), self.integer(1, 6)), "uniform")

    def propose_conv2d(self, op: str, a: str) -> str | None:
        weight_from_pool = self.is_image(a) and self.shape[a][0] >= 1 and self.flag(0.25)
        padding = (self.integer(0, 2), self.integer(0, 2))
        if weight_from_pool:                 # a is the weight (F, C, KH, KW): gradients reach an earlier node through it
            w = a
            filters, channels, kh, kw = self.shape[w]
            x = self.new_leaf((self.choice([1, 2]), channels, max(kh - 2 * padding[0], 1) + self.integer(0, 3),
                               max(kw - 2 * padding[1], 1) + self.integer(0, 3)), "uniform")
        else:
            x = self.as_4d(a)
            if x is None:
                return None
            _, channels, height, width = self.shape[x]
            kh, kw = self.integer(1, min(3, height + 2 * padding[0])), self.integer(1, min(3, width + 2 * padding[1]))
            w = self.new_leaf((self.integer(1, 3), channels, kh, kw), "uniform")
            filters = self.shape[w][0]
        args = [x, w]
        bias = self.choice(["none", "leaf", "constant"])
        if bias == "leaf":
            args.append(self.new_leaf((filters,)))
        elif bias == "constant":
            args.append(self.constant_array((filters,), "float"))
        stride = (self.integer(1, 3), self.integer(1, 3))
        attrs = {"stride": stride[0] if stride[0] == stride[1] and self.flag() else list(stride),
                 "padding": padding[0] if padding[0] == padding[1] and self.flag() else list(padding)}
        return self.add_node("conv2d", args, attrs)

    def propose_maxpool(self, op: str, a: str) -> str | None:
        x = self.as_4d(a)
        if x is None:
            return None
        height, width = self.shape[x][2:]
        size = (self.integer(1, min(3, height)), self.integer(1, min(3, width)))
        stride = self.choice([None, "int", "pair"])
        if stride == "int":
            stride = self.integer(1, 3)
        elif stride == "pair":
            stride = [self.integer(1, 3), self.integer(1, 3)]
        if not _has_clear_maxima(self.value[x], size, size if stride is None else stride, self.kink_margin):
            return None
        attrs = {"size": size[0] if size[0] == size[1] and self.flag() else list(size)}
        if stride is not None:
            attrs["stride"] = stride
        return self.add_node("maxpool", [x], attrs)

    def propose_softmax_xent(self, op: str, a: str) -> str | None:
        shape = self.shape[a]
        if len(shape) == 2 and min(shape) >= 1:
            logits = a
        elif _size(shape) >= 1 and self.finite(a) and self.flag(0.6):
            size = _size(shape)
            rows = self.choice([d for d in range(1, size + 1) if size % d == 0])
            logits = self.add_node("reshape", [a], {"shape": (rows, size // rows)})
            if logits is None:
                return None
        else:
            logits = self.new_leaf((self.integer(1, 4), self.integer(1, 5)))
        n, classes = self.shape[logits]
        kind = self.choice(["labels", "labels", "label_tensor", "probabilities", "probability_tensor"])
        rng = self.rng()
        if kind.startswith("label"):
            target = {"array": rng.integers(0, classes, n).tolist(), "dtype": self.choice(["int64", "int64", "int32"]),
                      "shape": [n]}
        else:
            logits_of_target = rng.normal(size=(n, classes))
            rows = np.exp(logits_of_target) / np.exp(logits_of_target).sum(axis=1, keepdims=True)
            target = {"array": rows.tolist(), "dtype": self.choice(["float32", "float64"]), "shape": [n, classes]}
        if kind.endswith("tensor"):
            target["wrap"] = "tensor"
        return self.add_node("softmax_xent", [logits, target], {"reduction": self.choice(["mean", "sum", "none"])})

    # ------------------------------------------------------------------ the whole graph
    def build(self) -> dict:
        for _ in range(self.integer(1, 3)):
            rank = self.integer(0, 4)
            self.new_leaf(tuple(self.dim() for _ in range(rank)))
        for _ in range(self.choice(range(1, MAX_NODES + 1))):
            for _attempt in range(3):
                saved = self.snapshot()
                op = self.choice(OPS)
                if self.propose(op, self.pick_operand(op)) is not None:
                    break
                self.restore(saved)
        if not self.nodes:
            self.add_node("neg", [self.pool[0]])
        out = self.nodes[-1]["name"]
        spec = {"leaves": self.leaves, "nodes": self.nodes}
        shape = self.shape[out]
        mode = self.choice(["plain", "weights", "grad"])
        if mode == "plain" and _size(shape) == 1:
            spec["backward"] = "plain"
        else:
            weights = np.asarray(np.round(self.rng().uniform(-1, 1, shape), 3) + 0.0)
            spec["backward"] = {"grad" if mode == "grad" else "weights": weights.tolist()}
        if self.flag(0.15):
            spec["backward_twice"] = True
        return spec


def _size(shape: tuple) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _broadcastable(a: tuple, b: tuple) -> bool:
    try:
        return _size(np.broadcast_shapes(a, b)) <= MAX_ELEMENTS
    except ValueError:
        return False


def _matmul_shape(a: tuple, b: tuple):
    if not a or not b:
        return None
    try:
        shape = np.matmul(np.zeros(a), np.zeros(b)).shape
    except ValueError:
        return None
    return shape if _size(shape) <= MAX_ELEMENTS else None


def _no_near_ties(v: np.ndarray, margin: float = KINK_MARGIN) -> bool:
    """No two values within `margin` of each other (so no max or min is shared)."""
    flat = np.sort(v.ravel())
    return bool(np.isfinite(flat).all() and np.all(np.diff(flat) >= margin))


def _reference_std(v: np.ndarray, attrs: dict) -> np.ndarray:
    dim = attrs["dim"]
    axes = None if dim is None or v.ndim == 0 else tuple(d % v.ndim for d in ((dim,) if isinstance(dim, int) else dim))
    n = v.size if axes is None else int(np.prod([v.shape[d] for d in axes]))
    if n - attrs["correction"] <= 0:
        return np.zeros(1)
    return np.sqrt(((v - v.mean(axis=axes, keepdims=True)) ** 2).sum(axis=axes) / (n - attrs["correction"]))


def _has_clear_maxima(x: np.ndarray, size, stride, margin: float = KINK_MARGIN) -> bool:
    """Every pooling window's largest value beats the runner-up by `margin` (no ties to route)."""
    kh, kw = size
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    if not np.isfinite(x).all():
        return False
    if kh * kw == 1 or x.size == 0:
        return True
    view = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    top2 = np.sort(view.reshape(view.shape[:4] + (kh * kw,)), axis=-1)[..., -2:]
    return bool(np.all(top2[..., 1] - top2[..., 0] >= margin))


@st.composite
def expression_graphs(draw) -> dict:
    return GraphBuilder(draw).build()


@st.composite
def reuse_chains(draw) -> dict:
    """One leaf used again and again: x*x*x, x+x+x+x, x/x - x, on any rank, layout and dtype (0-d often)."""
    builder = GraphBuilder(draw)
    rank = draw(st.sampled_from([0, 0, 0, 1, 2, 3, 4]))
    x = builder.new_leaf(tuple(builder.choice([1, 2, 3]) for _ in range(rank)), "away_from_zero")
    current = x
    for _ in range(draw(st.integers(1, 5))):
        op = builder.choice(["mul", "add", "add", "sub", "div"])
        args = [current, x] if builder.flag() else [x, current]
        if op == "div" and not np.all(np.abs(builder.value[args[1]]) >= DIVISOR_MIN):
            op = "mul"
        current = builder.add_node(op, args) or current
    if not builder.nodes:
        builder.add_node("mul", [x, x])
    spec = {"leaves": builder.leaves, "nodes": builder.nodes}
    out_shape = builder.shape[builder.nodes[-1]["name"]]
    spec["backward"] = "plain" if _size(out_shape) == 1 and builder.flag() else {
        "weights": np.asarray(np.round(builder.rng().uniform(-1, 1, out_shape), 3) + 0.0).tolist()}
    return spec


def _events(spec: dict) -> None:
    for node in spec["nodes"]:
        event(f"op {node['op']}")
    dtypes = {leaf["dtype"] for leaf in spec["leaves"].values()}
    event("mixed float32/float64 leaves" if len(dtypes) > 1 else f"{dtypes.pop()} leaves")
    names = [a for node in spec["nodes"] for a in node["args"] if isinstance(a, str)]
    if len(names) != len(set(names)):
        event("a tensor reused by several ops")


# ----------------------------------------------------------------------------- the tests
@SETTINGS
@given(spec=expression_graphs())
def test_random_expression_graphs_match_pytorch(spec):
    _events(spec)
    run_spec(spec, tolerance)


@settings(SETTINGS, max_examples=max(EXAMPLES // 3, 10))
@given(spec=reuse_chains())
def test_reused_tensors_accumulate_like_pytorch(spec):
    run_spec(spec, tolerance)


@pytest.mark.parametrize("spec", REGRESSIONS, ids=[spec["id"] for spec in REGRESSIONS])
def test_regression(spec):
    run_spec(spec, tolerance)


def test_regression_cube_0d_by_hand():
    """The first regression, written out: the gradient of x³ at 0.5 is 3·0.25 = 0.75, as an np.ndarray."""
    import tinygraph as tg
    x = tg.tensor(np.array(0.5), requires_grad=True)
    (x * x * x).backward()
    assert type(x.grad) is tg.Tensor and type(x.grad.data) is np.ndarray and x.grad.shape == () and x.grad.dtype == np.float64
    assert x.grad == 0.75
