"""Run one expression spec in tinygraph and in PyTorch, and compare the two (used by the torch test files).

An expression spec is plain data, so a failing case can be pasted into differential_regressions.py:

    {"leaves": {"x": {"shape": (), "dtype": "float64", "values": 0.5}},
     "nodes": [{"name": "x2", "op": "mul", "args": ["x", "x"]},
               {"name": "out", "op": "mul", "args": ["x2", "x"]}],
     "backward": "plain"}

leaves: name -> shape, dtype, values (one number fills the shape, else nested lists), and optionally
  requires_grad (default True), layout ("contiguous", "fortran", "strided", "reversed", "broadcast"),
  readonly (arr.flags.writeable = False) and share (tg.from_numpy instead of tg.tensor, when it exists).
nodes: evaluated in order; an arg is the name of a leaf or an earlier node, or a constant:
  {"scalar": 2.0} a Python number, {"scalar": 2.0, "numpy": "float64"} a NumPy scalar,
  {"array": [...], "dtype": "int64", "shape": [...]} a NumPy array, plus "wrap": "tensor" for tg.tensor(array).
  attrs are the op's options; "style": "function" calls tg.<op>(...) instead of an operator or method.
backward: "plain" (out.backward(), out has one element), {"weights": [...]} ((out * w).sum().backward())
  or {"grad": [...]} (out.backward(w)); the last node is the output. "backward_twice": True runs it
  twice (retain_graph=True first), so every gradient is accumulated once more.

torch is imported by the test modules first (they skip or fail loudly when it is missing).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

import tinygraph as tg

TORCH_DTYPES = {np.dtype(np.float16): torch.float16, np.dtype(np.float32): torch.float32,
                np.dtype(np.float64): torch.float64, np.dtype(np.int32): torch.int32,
                np.dtype(np.int64): torch.int64, np.dtype(np.bool_): torch.bool}
NUMPY_DTYPES = {value: key for key, value in TORCH_DTYPES.items()}

BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / b, "matmul": lambda a, b: a @ b}


# --------------------------------------------------------------------------- leaves and constants
def leaf_values(leaf: dict) -> np.ndarray:
    """The leaf's values as a C-contiguous array of its dtype and shape."""
    dtype, shape = np.dtype(leaf["dtype"]), tuple(leaf["shape"])
    values = np.asarray(leaf["values"], dtype=dtype)
    if values.ndim == 0 and shape != ():
        values = np.full(shape, values, dtype=dtype)
    return np.array(values.reshape(shape), order="C")   # (ascontiguousarray would make 0-d 1-d)


def laid_out(values: np.ndarray, layout: str = "contiguous", readonly: bool = False) -> np.ndarray:
    """The same values in another memory layout: a transposed, strided, reversed or broadcast view."""
    if values.ndim == 0:                    # one element has no layout to vary
        array = values.copy()
    elif layout == "fortran":
        array = np.asfortranarray(values)
    elif layout == "strided":               # every other element of a buffer twice as large on each axis
        buffer = np.zeros(tuple(2 * n for n in values.shape), dtype=values.dtype)
        view = buffer[tuple(slice(None, None, 2) for _ in values.shape)]
        view[...] = values
        array = view
    elif layout == "reversed":              # negative strides on every axis
        array = np.flip(np.flip(values).copy())
    elif layout == "broadcast":             # zero stride along axis 0 (read-only by NumPy's rules)
        assert values.ndim and (values == values[:1]).all(), "a broadcast leaf repeats its first row"
        array = np.broadcast_to(values[:1], values.shape)
    else:
        array = values.copy()
    if readonly and array.flags.writeable:
        array.flags.writeable = False
    return array


def tinygraph_leaf(array: np.ndarray, requires_grad: bool, share: bool = False) -> tg.Tensor:
    if share and hasattr(tg, "from_numpy"):
        tensor = tg.from_numpy(array)
        if requires_grad:
            tensor.requires_grad_()
        return tensor
    return tg.tensor(array, requires_grad=requires_grad)


def constant_array(desc: dict) -> np.ndarray:
    return np.asarray(desc["array"], dtype=desc["dtype"]).reshape(tuple(desc["shape"]))


def tinygraph_constant(desc: dict):
    if "scalar" in desc:
        return np.dtype(desc["numpy"]).type(desc["scalar"]) if "numpy" in desc else desc["scalar"]
    array = constant_array(desc)
    return tg.tensor(array) if desc.get("wrap") == "tensor" else array


def torch_constant(desc: dict):
    # A NumPy scalar operand is weak in tinygraph (it takes the tensor's dtype), like a Python number
    # in PyTorch: so PyTorch gets the Python number.
    if "scalar" in desc:
        return desc["scalar"]
    return torch.from_numpy(constant_array(desc).copy())


# --------------------------------------------------------------------------- dtype rules
def dtype_of(value) -> np.dtype | int | float:
    """What np.result_type needs: the NumPy dtype of a tensor, or the Python number itself (weak)."""
    if isinstance(value, torch.Tensor):
        return NUMPY_DTYPES[value.dtype]
    return value


def promote(*values, eval64: bool = False) -> list:
    """Cast the tensors among `values` to the dtype NumPy's promotion gives them together.

    tinygraph promotes as NumPy does; PyTorch differs in two places, both converted here explicitly:
    a 0-d float64 tensor beside an n-d float32 one (NumPy: float64, PyTorch: float32), and an integer
    tensor beside a float32 one (NumPy: float64, PyTorch: float32). Python numbers stay weak in both.
    """
    target = np.dtype(np.float64) if eval64 else np.result_type(*(dtype_of(v) for v in values))
    return [v.to(TORCH_DTYPES[target]) if isinstance(v, torch.Tensor) else v for v in values]


# --------------------------------------------------------------------------- one op, both frameworks
def tinygraph_apply(op: str, args: list, attrs: dict, style: str | None = None):
    function = style == "function"
    if op in BINARY:
        return getattr(tg, op)(*args) if function else BINARY[op](*args)
    (x, *rest) = args
    if op == "neg":
        return tg.neg(x) if function else -x
    if op in ("exp", "log", "relu"):
        return getattr(tg, op)(x) if function else getattr(x, op)()
    if op == "pow":
        return tg.pow(x, exponent=attrs["exponent"]) if function else x ** attrs["exponent"]
    if op == "rpow":
        return attrs["base"] ** x
    if op in ("sum", "mean"):
        if function and op in tg.registry():
            return getattr(tg, op)(x, dim=attrs.get("axis"), keepdim=attrs.get("keepdims", False))
        return getattr(x, op)(axis=attrs.get("axis"), keepdims=attrs.get("keepdims", False))
    if op == "reshape":
        return tg.reshape(x, shape=tuple(attrs["shape"])) if function else x.reshape(tuple(attrs["shape"]))
    if op == "transpose":
        # Explicit full permutations through tg.transpose: valid whatever Tensor.transpose comes to mean.
        return tg.transpose(x, axes=tuple(attrs["axes"]))
    if op == "conv2d":
        return tg.conv2d(x, *rest, stride=_pair_or_int(attrs.get("stride", 1)),
                         padding=_pair_or_int(attrs.get("padding", 0)))
    if op == "maxpool":
        stride = attrs.get("stride")
        return tg.maxpool(x, size=_pair_or_int(attrs.get("size", 2)),
                          stride=None if stride is None else _pair_or_int(stride))
    if op == "softmax_xent":
        return tg.softmax_xent(x, rest[0], reduction=attrs.get("reduction", "mean"))
    return _tinygraph_tensor_op(op, x, rest, attrs, function)


# --------------------------------------------------------------------------- PyTorch's tensor vocabulary (issue 11)
# The same method name in both frameworks unless noted; "max_dim" is x.max(dim).values, "swapdims"
# x.transpose(dim0, dim1), "getitem" x[index] with an index spec (see make_index), "cat" tg.cat([x, y], dim).
UNARY_METHODS = ("abs", "sqrt", "sigmoid", "tanh")
DIM_REDUCTIONS = ("amax", "amin", "logsumexp", "var", "std")


def make_index(spec: list, framework: str):
    """An index from plain data: ints, {"slice": [start, stop, step]}, "None", "...", {"take": [ints]} (an
    integer array) and {"mask": [bools]} (a boolean array along one dim). An array part may say how tinygraph
    gets it, "as": "tensor" (default), "numpy" or "list", and "dtype" (default int64); PyTorch gets a tensor."""
    parts = []
    for part in spec:
        if part == "None":
            parts.append(None)
        elif part == "...":
            parts.append(Ellipsis)
        elif isinstance(part, dict) and "slice" in part:
            parts.append(slice(*part["slice"]))
        elif isinstance(part, dict) and ("take" in part or "mask" in part):
            values = part["take"] if "take" in part else part["mask"]
            array = np.asarray(values, dtype=part.get("dtype", "int64") if "take" in part else bool)
            form = part.get("as", "tensor")
            if framework == "torch":
                parts.append(torch.from_numpy(array.astype(np.int64) if "take" in part else array))
            else:
                parts.append(tg.tensor(array) if form == "tensor" else array if form == "numpy" else list(values))
        else:
            parts.append(part)
    return tuple(parts)


def _tinygraph_tensor_op(op: str, x, rest: list, attrs: dict, function: bool):
    if op in UNARY_METHODS:
        return getattr(tg, op)(x) if function else getattr(x, op)()
    if op == "clamp":
        return x.clamp(attrs.get("min"), attrs.get("max"))
    if op in ("softmax", "log_softmax"):
        return getattr(tg, op)(x, dim=attrs["dim"]) if function else getattr(x, op)(attrs["dim"])
    if op in DIM_REDUCTIONS:
        options = {"dim": attrs.get("dim"), "keepdim": attrs.get("keepdim", False)}
        if op in ("var", "std"):
            options["correction"] = attrs.get("correction", 1)
        return getattr(tg, op)(x, **options) if function else getattr(x, op)(**options)
    if op == "max_dim":
        return x.max(attrs["dim"], keepdim=attrs.get("keepdim", False)).values
    if op == "swapdims":
        return x.transpose(*attrs["dims"])
    if op in ("unsqueeze", "flatten", "expand"):
        return getattr(x, op)(*attrs["args"])
    if op == "getitem":
        return x[make_index(attrs["index"], "tinygraph")]
    if op == "cat":
        return tg.cat([x, *rest], dim=attrs["dim"])
    if op in ("maximum", "minimum"):
        return getattr(tg, op)(x, *rest)
    if op == "where":
        return tg.where(x > attrs["threshold"], x, rest[0])
    raise KeyError(f"no tinygraph rule for op {op!r} in torch_compare")


def _torch_tensor_op(op: str, x, rest: list, attrs: dict, eval64: bool):
    if op in UNARY_METHODS:
        return getattr(torch, op)(x)
    if op == "clamp":
        return x.clamp(attrs.get("min"), attrs.get("max"))
    if op in ("softmax", "log_softmax"):
        return getattr(x, op)(attrs["dim"])
    if op in DIM_REDUCTIONS:
        dim, keepdim = attrs.get("dim"), attrs.get("keepdim", False)
        dim = tuple(range(x.ndim)) if dim is None else dim
        if op in ("var", "std"):
            correction = attrs.get("correction", 1)
            return getattr(x, op)(dim=None if dim == () else dim, correction=correction, keepdim=keepdim)
        return getattr(x, op)(dim=dim, keepdim=keepdim)
    if op == "max_dim":
        return x.max(attrs["dim"], keepdim=attrs.get("keepdim", False)).values
    if op == "swapdims":
        return x.transpose(*attrs["dims"])
    if op in ("unsqueeze", "flatten", "expand"):
        return getattr(x, op)(*attrs["args"])
    if op == "getitem":
        return x[make_index(attrs["index"], "torch")]
    if op in ("cat", "maximum", "minimum", "where"):
        (other,) = rest
        x, other = promote(x, other, eval64=eval64)
        if op == "cat":
            return torch.cat([x, other], dim=attrs["dim"])
        if op == "where":
            return torch.where(x > attrs["threshold"], x, other)
        return getattr(torch, op)(x, other)
    raise KeyError(f"no torch rule for op {op!r} in torch_compare")


def torch_apply(op: str, args: list, attrs: dict, eval64: bool = False):
    """The same op in PyTorch; eval64 computes everything in float64 (the generator's domain checks)."""
    if op in ("add", "sub", "mul", "div", "matmul"):
        a, b = promote(*args, eval64=eval64)
        return torch.matmul(a, b) if op == "matmul" else BINARY[op](a, b)
    (x, *rest) = args
    if op == "neg":
        return -x
    if op == "exp":
        return torch.exp(x)
    if op == "log":
        return torch.log(x)
    if op == "relu":
        return torch.relu(x)
    if op == "pow":
        return x ** attrs["exponent"]
    if op == "rpow":
        return attrs["base"] ** x
    if op in ("sum", "mean"):
        return _torch_reduce(op, x, attrs.get("axis"), attrs.get("keepdims", False))
    if op == "reshape":
        return x.reshape(tuple(attrs["shape"]))
    if op == "transpose":
        return x.permute(tuple(attrs["axes"]))
    if op == "conv2d":
        w, b = (rest + [None])[:2]
        x, w, b = promote(x, w, *([] if b is None else [b]), eval64=eval64) + ([None] if b is None else [])
        return F.conv2d(x, w, b, stride=_pair_or_int(attrs.get("stride", 1)),
                        padding=_pair_or_int(attrs.get("padding", 0)))
    if op == "maxpool":
        size = _pair_or_int(attrs.get("size", 2))
        stride = attrs.get("stride")
        return F.max_pool2d(x, size, size if stride is None else _pair_or_int(stride))
    if op == "softmax_xent":
        target = rest[0]
        if target.dtype.is_floating_point and target.ndim == 2:
            # tinygraph casts probability rows to the logits' dtype; PyTorch wants them equal already.
            target = target.to(x.dtype)
        else:
            target = target.to(torch.int64)     # PyTorch takes class indices only as int64
        return F.cross_entropy(x, target, reduction=attrs.get("reduction", "mean"))
    return _torch_tensor_op(op, x, rest, attrs, eval64)


def _torch_reduce(op: str, x, axis, keepdims: bool):
    if axis is None:
        if keepdims and x.ndim:
            return getattr(x, op)(dim=tuple(range(x.ndim)), keepdim=True)
        return getattr(x, op)()
    dims = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    return getattr(x, op)(dim=dims, keepdim=keepdims)


def _pair_or_int(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


# --------------------------------------------------------------------------- comparisons
def assert_close(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float, what: str) -> None:
    """Same shape, same dtype, and values within atol·max(1, max|expected|) + rtol·|expected| (NaN == NaN).

    `actual` is an array, or a Tensor (a `.grad`) whose values are compared."""
    if isinstance(actual, tg.Tensor):
        actual = actual.data
    assert isinstance(actual, np.ndarray), f"{what}: a {type(actual).__name__}, not an np.ndarray"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, PyTorch {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype}, PyTorch {expected.dtype}"
    finite = expected[np.isfinite(expected)]
    scale = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale, equal_nan=True,
                               err_msg=f"{what} differs from PyTorch")


def assert_gradient_contract(grad, shape: tuple, dtype: np.dtype, what: str) -> None:
    """A leaf's gradient is a Tensor, as in PyTorch, with no graph of its own (after a plain backward),
    holding an np.ndarray (not a NumPy scalar) of exactly the leaf's shape and dtype."""
    assert type(grad) is tg.Tensor, f"{what}: gradient is a {type(grad).__name__}, not a Tensor"
    assert grad.grad_fn is None and not grad.requires_grad, f"{what}: a first-order gradient has no graph"
    grad = grad.data
    assert type(grad) is np.ndarray, f"{what}: gradient holds a {type(grad).__name__}, not an np.ndarray"
    assert grad.shape == tuple(shape), f"{what}: gradient shape {grad.shape}, leaf shape {tuple(shape)}"
    assert grad.dtype == dtype, f"{what}: gradient dtype {grad.dtype}, leaf dtype {dtype}"


def to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


# --------------------------------------------------------------------------- a whole spec
def graph_depth(spec: dict) -> int:
    """Longest chain of ops from a leaf to the output (scales the tolerances)."""
    depth = {name: 0 for name in spec["leaves"]}
    for node in spec["nodes"]:
        depth[node["name"]] = 1 + max((depth[a] for a in node["args"] if isinstance(a, str)), default=0)
    return depth[spec["nodes"][-1]["name"]] if spec["nodes"] else 0


def least_precise(spec: dict) -> np.dtype:
    """The float dtype with the fewest bits among the spec's leaves and float constants."""
    dtypes = [np.dtype(leaf["dtype"]) for leaf in spec["leaves"].values()]
    dtypes += [np.dtype(a["dtype"]) for node in spec["nodes"] for a in node["args"]
               if isinstance(a, dict) and "dtype" in a and np.dtype(a["dtype"]).kind == "f"]
    return min(dtypes or [np.dtype(np.float64)], key=lambda d: d.itemsize)


def run_spec(spec: dict, tolerance) -> None:
    """Build the spec in both frameworks, compare every node's value and every leaf's gradient.

    tolerance(dtype, depth) -> (rtol, atol). A float64 value computed from float32 inputs carries
    float32 rounding (NumPy's and PyTorch's float32 kernels differ in the last bit), so every
    comparison uses the tolerance of the least precise float dtype in the graph.
    """
    depth = max(graph_depth(spec), 1)
    coarsest = least_precise(spec)

    def tolerance_for(dtype):
        return tolerance(min(np.dtype(dtype), coarsest, key=lambda d: d.itemsize), depth)

    arrays, tg_env, torch_env = {}, {}, {}
    for name, leaf in spec["leaves"].items():
        values = leaf_values(leaf)
        arrays[name] = laid_out(values, leaf.get("layout", "contiguous"), leaf.get("readonly", False))
        requires_grad = leaf.get("requires_grad", True)
        tg_env[name] = tinygraph_leaf(arrays[name], requires_grad, leaf.get("share", False))
        torch_env[name] = torch.tensor(values, requires_grad=requires_grad)
    originals = {name: array.copy() for name, array in arrays.items()}

    for node in spec["nodes"]:
        attrs = dict(node.get("attrs", {}))
        tg_args = [tg_env[a] if isinstance(a, str) else tinygraph_constant(a) for a in node["args"]]
        torch_args = [torch_env[a] if isinstance(a, str) else torch_constant(a) for a in node["args"]]
        tg_env[node["name"]] = tinygraph_apply(node["op"], tg_args, attrs, node.get("style"))
        torch_env[node["name"]] = torch_apply(node["op"], torch_args, attrs)

    for node in spec["nodes"]:                   # forward: every intermediate value, not just the output
        name = node["name"]
        expected = to_numpy(torch_env[name])
        rtol, atol = tolerance_for(expected.dtype)
        assert isinstance(tg_env[name], tg.Tensor), f"node {name!r} ({node['op']}): not a tg.Tensor"
        assert_close(tg_env[name].data, expected, rtol, atol, f"value of node {name!r} ({node['op']})")

    forward_values = {node["name"]: tg_env[node["name"]].data.copy() for node in spec["nodes"]}
    out_name = spec["nodes"][-1]["name"]
    tg_out, torch_out = tg_env[out_name], torch_env[out_name]
    mode = spec.get("backward", "plain")
    if not torch_out.requires_grad:
        return                                       # nothing to differentiate (no leaf requires grad)
    passes = 2 if spec.get("backward_twice") else 1      # the second pass accumulates into .grad
    if mode == "plain":
        tg_roots, torch_roots, seeds = tg_out, torch_out, (None, None)
    else:
        key = "weights" if "weights" in mode else "grad"
        weights = np.asarray(mode[key], dtype=tg_out.dtype).reshape(tg_out.shape)
        if key == "weights":
            tg_roots, torch_roots = (tg_out * weights).sum(), (torch_out * torch.from_numpy(weights.copy())).sum()
            seeds = (None, None)
        else:
            tg_roots, torch_roots, seeds = tg_out, torch_out, (weights, torch.from_numpy(weights.copy()))
    for i in range(passes):
        retain = i < passes - 1
        tg_roots.backward(seeds[0], retain_graph=retain)
        torch_roots.backward(seeds[1], retain_graph=retain)

    for node in spec["nodes"]:                   # the values a caller holds survive backward()
        name = node["name"]
        np.testing.assert_array_equal(tg_env[name].data, forward_values[name],
                                      err_msg=f"node {name!r}'s value changed during backward()")

    for name, leaf in spec["leaves"].items():
        what = f"gradient of leaf {name!r} {tuple(leaf['shape'])} {leaf['dtype']}"
        np.testing.assert_array_equal(arrays[name], originals[name], err_msg=f"leaf {name!r}'s array was modified")
        if not leaf.get("requires_grad", True):
            assert tg_env[name].grad is None, f"{what}: a leaf without requires_grad got a gradient"
            continue
        expected = torch_env[name].grad
        actual = tg_env[name].grad
        if expected is None:
            assert actual is None, f"{what}: PyTorch has none (the output does not depend on it)"
            continue
        assert actual is not None, f"{what}: missing (PyTorch has one)"
        assert_gradient_contract(actual, leaf["shape"], np.dtype(leaf["dtype"]), what)
        rtol, atol = tolerance_for(leaf["dtype"])
        assert_close(actual, to_numpy(expected), rtol, atol, what)
