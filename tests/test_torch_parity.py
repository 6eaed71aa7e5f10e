"""Issue 20's tensor API against PyTorch: factories and dtypes, tensor methods and functions, layers and losses.

Every case runs the same call in tinygraph and in PyTorch on the same arrays and compares values,
dtypes, gradients (through (out * weights).sum().backward()) and, where PyTorch raises, that
tinygraph raises too, naming the op.
"""
from __future__ import annotations

import numpy as np
import pytest

from torch_required import require_torch

torch = require_torch(__file__)
import torch.nn.functional as TF  # noqa: E402

import tinygraph as tg  # noqa: E402
import tinygraph.functional as F  # noqa: E402
from tinygraph import nn  # noqa: E402

DTYPES = {tg.float16: torch.float16, tg.float32: torch.float32, tg.float64: torch.float64, tg.int64: torch.int64,
          tg.int32: torch.int32, tg.int16: torch.int16, tg.int8: torch.int8, tg.uint8: torch.uint8,
          tg.bool: torch.bool}
TOLERANCE = {np.dtype(np.float16): 2e-3, np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-10}


def same_dtype(array: np.ndarray, reference) -> bool:
    return DTYPES[np.dtype(array.dtype)] == reference.dtype


def assert_close(ours, theirs, what: str = "values", computed_in=None) -> None:
    """Same dtype, shape and values (NaN equal) as the torch tensor, to the tolerance of `computed_in` (their dtype)."""
    ours = ours.data if isinstance(ours, tg.Tensor) else np.asarray(ours)
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype}, PyTorch {theirs.dtype}"
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape}, PyTorch {theirs.shape}"
    if ours.dtype.kind == "f":
        tol = TOLERANCE[np.dtype(computed_in or ours.dtype)]
        np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(ours, theirs, err_msg=what)


def compare(tg_fn, torch_fn, *arrays, grad: bool = True, seed: int = 0) -> None:
    """tg_fn(*tensors) against torch_fn(*tensors): values, dtypes, and the gradient of every floating input."""
    ours = [tg.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    theirs = [torch.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
    out, reference = tg_fn(*ours), torch_fn(*theirs)
    if isinstance(reference, (tuple, list)):
        out, reference = out[0], reference[0]      # (values, indices): the values carry the gradient
    assert_close(out, reference)
    if not grad or not reference.requires_grad:
        return
    weights = np.random.default_rng(seed).standard_normal(reference.shape).astype(out.dtype)
    (out * tg.tensor(weights)).sum().backward()
    (reference * torch.tensor(weights)).sum().backward()
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if b.grad is not None:
            coarsest = out.dtype if np.finfo(out.dtype).eps > np.finfo(a.dtype).eps else a.dtype
            assert_close(a.grad, b.grad, f"gradient of input {i}", computed_in=coarsest)


def normal(*shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ============================================================================= factories and dtypes
@pytest.mark.parametrize("name, args, kwargs", [
    ("zeros", (2, 3), {}), ("zeros", ((2, 3),), {}), ("zeros", ([4],), {"dtype": "int64"}), ("zeros", ((),), {}),
    ("ones", (3,), {}), ("ones", (2, 2), {"dtype": "float64"}), ("ones", (2,), {"dtype": "bool"}),
    ("full", ((2, 3), 1.5), {}), ("full", ((2,), 7), {}), ("full", ((2,), True), {}),
    ("full", ((3,), 2), {"dtype": "float16"}),
    ("arange", (5,), {}), ("arange", (1, 7, 2), {}), ("arange", (0.5, 2.0, 0.25), {}), ("arange", (10, 0, -3), {}),
    ("arange", (0, 1, 0.1), {}), ("arange", (3,), {"dtype": "float64"}), ("arange", (1.0, 4), {}),
    ("linspace", (0, 1, 5), {}), ("linspace", (-3, 7, 11), {"dtype": "float64"}), ("linspace", (2, 2, 1), {}),
    ("linspace", (0, 10, 7), {"dtype": "int64"}), ("linspace", (0, 1, 0), {}), ("linspace", (-1.5, 2.3, 6), {}),
    ("eye", (3,), {}), ("eye", (2, 4), {}), ("eye", (3,), {"dtype": "int64"}),
])
def test_factories_match_pytorch(name, args, kwargs):
    ours_kwargs = {k: getattr(tg, v) if k == "dtype" else v for k, v in kwargs.items()}
    theirs_kwargs = {k: getattr(torch, v) if k == "dtype" else v for k, v in kwargs.items()}
    assert_close(getattr(tg, name)(*args, **ours_kwargs), getattr(torch, name)(*args, **theirs_kwargs))


@pytest.mark.parametrize("name", ["zeros_like", "ones_like", "empty_like", "rand_like", "randn_like"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_like_factories_keep_shape_and_dtype(name, dtype):
    x = normal(2, 3, dtype=dtype)
    ours, theirs = getattr(tg, name)(tg.tensor(x)), getattr(torch, name)(torch.tensor(x))
    assert ours.shape == tuple(theirs.shape) and same_dtype(ours.data, theirs)
    if name in ("zeros_like", "ones_like"):
        assert_close(ours, theirs)
    as64 = getattr(tg, name)(tg.tensor(x), dtype=tg.float64)
    assert as64.dtype == tg.float64


def test_full_like_and_randint_like():
    x = np.arange(6).reshape(2, 3)
    assert_close(tg.full_like(tg.tensor(x), 4), torch.full_like(torch.tensor(x), 4))
    assert_close(tg.full_like(tg.tensor(x.astype(np.float32)), 0.5), torch.full_like(torch.tensor(x).float(), 0.5))
    drawn = tg.randint_like(tg.tensor(x), 3, 9)
    reference = torch.randint_like(torch.tensor(x), 3, 9)
    assert drawn.shape == tuple(reference.shape) and same_dtype(drawn.data, reference)
    assert drawn.data.min() >= 3 and drawn.data.max() < 9
    assert tg.randint_like(tg.tensor(x), 2).data.max() < 2


@pytest.mark.parametrize("name, args, low, high", [
    ("rand", (1000,), 0.0, 1.0), ("randn", (50, 40), -np.inf, np.inf), ("randint", (10, (300,)), 0, 10),
    ("randint", (-3, 4, (2, 150)), -3, 4),
])
def test_random_factories_shape_dtype_range_and_seeding(name, args, low, high):
    reference = getattr(torch, name)(*args)
    factory = getattr(tg, name)
    drawn = factory(*args)
    assert drawn.shape == tuple(reference.shape) and same_dtype(drawn.data, reference)
    assert drawn.data.min() >= low and drawn.data.max() < high
    # the same generator seed, the same values; the default generator under manual_seed, likewise
    again = factory(*args, generator=np.random.default_rng(5)), factory(*args, generator=np.random.default_rng(5))
    np.testing.assert_array_equal(again[0].data, again[1].data)
    tg.manual_seed(7)
    first = factory(*args).data
    tg.manual_seed(7)
    np.testing.assert_array_equal(factory(*args).data, first)
    if name == "randn":                            # the right distribution, not PyTorch's numbers
        assert abs(drawn.data.mean()) < 0.1 and abs(drawn.data.std() - 1) < 0.1
    if name == "rand":
        assert abs(drawn.data.mean() - 0.5) < 0.05


def test_random_factories_take_dtype_requires_grad_and_refuse_integer_floats():
    x = tg.randn(3, 2, dtype=tg.float64, requires_grad=True)
    assert x.dtype == tg.float64 and x.requires_grad and x.is_leaf
    assert tg.rand(4, dtype=tg.half).dtype == tg.float16
    assert tg.randint(5, (3,), dtype=tg.int32).dtype == tg.int32
    with pytest.raises(TypeError, match="rand"):
        tg.rand(3, dtype=tg.int64)
    with pytest.raises(RuntimeError):
        torch.zeros(2, dtype=torch.int64, requires_grad=True)
    with pytest.raises(RuntimeError, match="zeros"):
        tg.zeros(2, dtype=tg.int64, requires_grad=True)
    with pytest.raises(RuntimeError, match="non-negative"):
        tg.zeros(2, -1)
    with pytest.raises(TypeError, match="generator"):
        tg.randn(2, generator=42)


@pytest.mark.parametrize("ours, theirs", [
    (tg.float32, torch.float32), (tg.float64, torch.float64), (tg.float16, torch.float16), (tg.int64, torch.int64),
    (tg.int32, torch.int32), (tg.int8, torch.int8), (tg.uint8, torch.uint8), (tg.bool, torch.bool),
    (tg.float, torch.float), (tg.double, torch.double), (tg.long, torch.long), (tg.half, torch.half),
    (tg.int, torch.int), (tg.short, torch.short),
])
def test_dtype_objects_are_numpy_dtypes_equal_to_tensor_dtypes(ours, theirs):
    assert DTYPES[ours] == theirs
    assert np.zeros(2, ours).dtype == ours                       # NumPy takes them
    assert tg.zeros(2, dtype=ours).dtype == ours                 # and they compare equal to t.dtype
    assert_close(tg.ones(3, dtype=ours), torch.ones(3, dtype=theirs))


def test_default_dtype_is_float32_as_pytorch():
    assert tg.get_default_dtype() == tg.float32 and torch.get_default_dtype() == torch.float32


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps"])
def test_a_device_other_than_the_cpu_names_the_missing_backend(device):
    backend = device.split(":")[0]
    for call in (lambda: tg.zeros(2, device=device), lambda: tg.randn(2, device=device),
                 lambda: tg.ones(2).to(device), lambda: tg.device(device)):
        with pytest.raises(tg.UnsupportedDeviceError, match=f"'{backend}' backend") as caught:
            call()
        assert str(caught.value.device) == device
    with pytest.raises(tg.UnsupportedDeviceError, match="'cuda' backend"):
        tg.ones(2).cuda()


def test_the_cpu_is_accepted_everywhere():
    x = tg.zeros(2, device="cpu")
    assert x.to("cpu") is x and x.cpu() is x and x.to(tg.device("cpu")) is x and x.to(torch.device("cpu")) is x
    assert x.device == "cpu" and x.device == tg.device("cpu") and not x.is_cuda
    assert tg.ones(2, device=tg.device("cpu:0")).shape == (2,)


# ============================================================================= conversions
CONVERSIONS = ["float", "double", "half", "long", "int", "short", "bool", "byte", "char"]


@pytest.mark.parametrize("method", CONVERSIONS)
@pytest.mark.parametrize("source", ["float64", "float32", "int64", "bool"])
def test_conversion_methods_match_pytorch(method, source):
    data = np.array([[-2.7, -0.5, 0.0], [0.4, 1.5, 3.9]]).astype(source)
    if method in ("byte",):
        data = np.abs(data)
    assert_close(getattr(tg.tensor(data), method)(), getattr(torch.tensor(data), method)())


@pytest.mark.parametrize("target", ["float32", "float16", "float64"])
def test_to_dtype_is_differentiable_with_the_gradient_cast_back(target):
    x = normal(3, 4)
    compare(lambda t: t.to(getattr(tg, target)) * 3, lambda t: t.to(getattr(torch, target)) * 3, x)
    compare(lambda t: t.type(getattr(tg, target)).exp(), lambda t: t.type(getattr(torch, target)).exp(), x)


def test_to_forms_and_type_names():
    x, t = tg.tensor(normal(2, 2)), torch.tensor(normal(2, 2))
    assert_close(x.to("cpu", tg.float32), t.to("cpu", torch.float32))
    assert_close(x.to(dtype=tg.float16, device="cpu"), t.to(dtype=torch.float16, device="cpu"))
    assert_close(x.to(tg.ones(1, dtype=tg.int64)), t.to(torch.ones(1, dtype=torch.int64)))
    assert_close(x.type_as(tg.ones(1)), t.type_as(torch.ones(1)))
    assert x.to(tg.float64) is x and x.double() is x                       # PyTorch returns self too
    assert x.to(tg.float64, copy=True) is not x
    assert x.type() == "tinygraph.DoubleTensor" and t.type() == "torch.DoubleTensor"
    assert x.float().type() == "tinygraph.FloatTensor"
    assert_close(x.type("torch.LongTensor"), t.type("torch.LongTensor"))
    assert x.is_floating_point() and not x.long().is_floating_point()


@pytest.mark.parametrize("source", ["float32", "float64", "int64"])
def test_new_factory_methods_take_the_tensors_dtype(source):
    ours, theirs = tg.tensor(np.ones((2, 2), source)), torch.tensor(np.ones((2, 2), source))
    assert_close(ours.new_zeros(3, 2), theirs.new_zeros(3, 2))
    assert_close(ours.new_ones((2,)), theirs.new_ones((2,)))
    assert_close(ours.new_full((2, 3), 7), theirs.new_full((2, 3), 7))
    assert_close(ours.new_tensor([[1.5, -2.0]]), theirs.new_tensor([[1.5, -2.0]]))
    assert_close(ours.new_zeros(2, dtype=tg.float16), theirs.new_zeros(2, dtype=torch.float16))
    empty, reference = ours.new_empty(4, 1), theirs.new_empty(4, 1)
    assert empty.shape == tuple(reference.shape) and same_dtype(empty.data, reference)


def test_conversion_to_an_integer_dtype_needs_no_gradient():
    x = tg.tensor(normal(3), requires_grad=True)
    reference = torch.tensor(normal(3), requires_grad=True)
    assert not x.long().requires_grad and not reference.long().requires_grad
    assert x.float().requires_grad and reference.float().requires_grad


# ============================================================================= elementwise math
UNARY = {
    "sin": normal, "cos": normal, "tan": normal, "asin": None, "acos": None, "atan": normal, "sinh": normal,
    "cosh": normal, "log1p": None, "expm1": normal, "log2": None, "log10": None, "exp2": normal, "rsqrt": None,
    "reciprocal": normal, "square": normal, "sign": normal, "floor": normal, "ceil": normal, "round": normal,
    "trunc": normal, "frac": normal, "erf": normal,
}


def unary_input(name: str, dtype) -> np.ndarray:
    values = normal(3, 5, dtype=np.float64, seed=1) * 2
    if name in ("asin", "acos"):
        values = np.tanh(values) * 0.95                   # inside (−1, 1)
    if name in ("log1p", "log2", "log10", "rsqrt"):
        values = np.abs(values) + 0.1
    return values.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(UNARY))
def test_elementwise_math_matches_pytorch(name, dtype):
    x = unary_input(name, dtype)
    compare(lambda t: getattr(t, name)(), lambda t: getattr(t, name)(), x)          # the method
    compare(lambda t: getattr(tg, name)(t), lambda t: getattr(torch, name)(t), x)   # the function


@pytest.mark.parametrize("name", ["sin", "exp2", "log1p", "erf", "reciprocal", "rsqrt", "cosh", "log10"])
def test_elementwise_math_of_integers_is_float64_as_numpy(name):
    """PyTorch computes float32 here; tinygraph keeps NumPy's float64 for every op alike (README "Dtypes")."""
    x = np.array([[1, 2, 3], [4, 5, 6]])
    ours, theirs = getattr(tg, name)(tg.tensor(x)), getattr(torch, name)(torch.tensor(x))
    assert ours.dtype == tg.float64 and theirs.dtype == torch.float32
    assert_close(ours.float(), theirs)


@pytest.mark.parametrize("name", ["square", "sign", "floor", "ceil", "round", "trunc"])
def test_integer_preserving_math_keeps_integers(name):
    x = np.array([[-3, 0, 2], [5, -1, 7]])
    compare(lambda t: getattr(t, name)(), lambda t: getattr(t, name)(), x, grad=False)


def test_math_aliases_special_values_and_round_decimals():
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, 2.5, -2.5, np.inf, -np.inf, np.nan])
    for ours, theirs in [(tg.arcsin, torch.arcsin), (tg.arccos, torch.arccos), (tg.arctan, torch.arctan),
                         (tg.round, torch.round), (tg.sign, torch.sign), (tg.frac, torch.frac), (tg.erf, torch.erf),
                         (tg.floor, torch.floor), (tg.trunc, torch.trunc), (tg.expm1, torch.expm1)]:
        with np.errstate(all="ignore"):
            assert_close(ours(tg.tensor(x)), theirs(torch.tensor(x)), ours.__name__)
    compare(lambda t: t.round(decimals=2), lambda t: t.round(decimals=2), normal(4, 3) * 10)
    assert_close(tg.tensor(x).arcsin(), torch.tensor(x).arcsin())


# ============================================================================= comparisons and shapes
@pytest.mark.parametrize("name", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_comparison_methods_and_functions(name):
    a, b = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]), np.array([2.0, 2.0, 2.0])
    assert_close(getattr(tg.tensor(a), name)(tg.tensor(b)), getattr(torch.tensor(a), name)(torch.tensor(b)))
    assert_close(getattr(tg, name)(tg.tensor(a), 2.0), getattr(torch, name)(torch.tensor(a), 2.0))


def test_clone_numel_size_dim_view_as_reshape_as():
    x = normal(2, 3, 4)
    compare(lambda t: t.clone() * t, lambda t: t.clone() * t, x)
    compare(lambda t: t.view_as(tg.zeros(6, 4)), lambda t: t.view_as(torch.zeros(6, 4)), x)
    compare(lambda t: t.reshape_as(tg.zeros(4, 6)), lambda t: t.reshape_as(torch.zeros(4, 6)), x)
    ours, theirs = tg.tensor(x), torch.tensor(x)
    clone = ours.clone()
    clone.data[0, 0, 0] = 99.0
    assert ours.data[0, 0, 0] != 99.0                                    # its own memory
    assert ours.numel() == theirs.numel() == tg.numel(ours) == 24
    assert ours.dim() == theirs.dim() == 3
    assert ours.size() == tuple(theirs.size()) and ours.size(1) == theirs.size(1) and ours.size(-1) == 4
    assert ours.size == 24 and ours.size * 2 == 48                       # the int, as before
    assert tg.tensor(2.0).size() == () and tg.tensor(2.0).size == 1
    with pytest.raises(tg.OpError, match="dim=3"):
        ours.size(3)


def test_argmax_argmin_max_min_flatten_functions():
    x = np.array([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]])
    ours, theirs = tg.tensor(x), torch.tensor(x)
    for dim, keepdim in [(None, False), (0, False), (1, True), (-1, False)]:
        assert_close(tg.argmax(ours, dim, keepdim), torch.argmax(theirs, dim, keepdim))
        assert_close(tg.argmin(ours, dim=dim, keepdim=keepdim), torch.argmin(theirs, dim=dim, keepdim=keepdim))
    compare(lambda t: tg.max(t), lambda t: torch.max(t), x)
    compare(lambda t: tg.min(t), lambda t: torch.min(t), x)
    for dim, keepdim in [(0, False), (1, True)]:
        compare(lambda t: tg.max(t, dim, keepdim), lambda t: torch.max(t, dim, keepdim), x)
        compare(lambda t: tg.min(t, dim, keepdim=keepdim), lambda t: torch.min(t, dim, keepdim=keepdim), x)
        assert_close(tg.max(ours, dim, keepdim).indices, torch.max(theirs, dim, keepdim).indices)
    y = normal(2, 3, seed=4)
    compare(lambda a, b: tg.max(a, b), lambda a, b: torch.max(a, b), x, y)
    compare(lambda a, b: tg.min(a, b), lambda a, b: torch.min(a, b), x, y)
    z = normal(2, 3, 4, 5)
    for args in [(), (1,), (1, 2), (0, -2)]:
        compare(lambda t: tg.flatten(t, *args), lambda t: torch.flatten(t, *args), z)


@pytest.mark.parametrize("args", [(2,), (2, 1), ([1, 3, 1],), ([1, 3], 1), ([0, 4], 1), (5, 1), (1, -1)])
def test_split_matches_pytorch(args):
    x = normal(5, 4)
    ours, theirs = tg.split(tg.tensor(x), *args), torch.split(torch.tensor(x), *args)
    assert len(ours) == len(theirs)
    for i in range(len(theirs)):
        compare(lambda t: t.split(*args)[i], lambda t: t.split(*args)[i], x)


@pytest.mark.parametrize("chunks, dim", [(2, 0), (3, 0), (4, 1), (5, 0), (1, 1), (7, 1)])
def test_chunk_matches_pytorch(chunks, dim):
    x = normal(5, 6)
    ours, theirs = tg.chunk(tg.tensor(x), chunks, dim), torch.chunk(torch.tensor(x), chunks, dim)
    assert [p.shape for p in ours] == [tuple(p.shape) for p in theirs]
    for i in range(len(theirs)):
        compare(lambda t: t.chunk(chunks, dim)[i], lambda t: t.chunk(chunks, dim)[i], x)


@pytest.mark.parametrize("dim, index", [
    (0, [[0, 1, 1], [1, 0, 0]]), (1, [[2, 2], [0, 1], [1, 1]]), (1, [[0], [3]]), (-1, [[1, 0, 3, 3]]),
])
def test_gather_matches_pytorch(dim, index):
    x, index = normal(3, 4), np.array(index)
    compare(lambda t: tg.gather(t, dim, tg.tensor(index)), lambda t: torch.gather(t, dim, torch.tensor(index)), x)
    compare(lambda t: t.gather(dim, index), lambda t: t.gather(dim, torch.tensor(index)), x)


def test_gather_and_scatter_add_refuse_like_pytorch():
    x = tg.tensor(normal(3, 4))
    with pytest.raises(RuntimeError):
        torch.gather(torch.tensor(normal(3, 4)), 1, torch.tensor([[4]]))
    with pytest.raises(tg.OpError, match="gather"):
        tg.gather(x, 1, np.array([[4]]))
    with pytest.raises(RuntimeError):
        torch.gather(torch.tensor(normal(3, 4)), 1, torch.tensor([[-1]]))
    with pytest.raises(tg.OpError, match="gather"):
        tg.gather(x, 1, np.array([[-1]]))
    with pytest.raises(tg.OpError, match="gather"):
        tg.gather(x, 1, np.array([[0.5]]))
    with pytest.raises(tg.OpError, match="scatter_add_along_dim"):
        tg.scatter_add(x, 0, np.array([[3]]), tg.ones(1, 1, dtype=tg.float64))


@pytest.mark.parametrize("dim, index, src_shape", [
    (0, [[1, 0, 1, 2], [1, 1, 0, 2]], (2, 4)), (1, [[0, 0], [3, 1], [2, 2]], (3, 2)), (0, [[2]], (1, 1)),
    (1, [[0, 0], [3, 1], [2, 2]], (3, 3)),       # src larger than index: only its corner is added
])
def test_scatter_add_matches_pytorch(dim, index, src_shape):
    x, src, index = normal(3, 4), normal(*src_shape, seed=2), np.array(index)
    # PyTorch's own backward refuses a src larger than index ("invalid gradient"): values only there.
    grad = src_shape == index.shape
    compare(lambda a, s: tg.scatter_add(a, dim, tg.tensor(index), s),
            lambda a, s: torch.scatter_add(a, dim, torch.tensor(index), s), x, src, grad=grad)
    compare(lambda a, s: a.scatter_add(dim, index, s),
            lambda a, s: a.scatter_add(dim, torch.tensor(index), s), x, src, grad=grad)
    if not grad:                                  # δsrc: δout read back at the index, 0 outside the corner
        x_t, src_t = tg.tensor(x, requires_grad=True), tg.tensor(src, requires_grad=True)
        tg.scatter_add(x_t, dim, index, src_t).sum().backward()
        expected = np.zeros(src_shape)
        expected[:, :index.shape[1]] = 1.0
        np.testing.assert_array_equal(src_t.grad, expected)
        np.testing.assert_array_equal(x_t.grad, np.ones_like(x))


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_cumsum_matches_pytorch(dim, dtype):
    x = (normal(3, 4) * 3).astype(dtype)
    compare(lambda t: tg.cumsum(t, dim), lambda t: torch.cumsum(t, dim), x)
    compare(lambda t: t.cumsum(dim=dim), lambda t: t.cumsum(dim=dim), x)


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_matches_pytorch(dim, descending):
    x = np.random.default_rng(3).permutation(20).reshape(4, 5) * 0.5 - 3
    compare(lambda t: tg.sort(t, dim, descending), lambda t: torch.sort(t, dim, descending), x)
    ours, theirs = tg.tensor(x).sort(dim=dim, descending=descending), torch.tensor(x).sort(dim=dim, descending=descending)
    assert_close(ours.indices, theirs.indices, "indices")


def test_sort_stable_ties_and_nan_as_pytorch():
    x = np.array([2.0, np.nan, 1.0, 2.0, -np.inf, 1.0, np.nan, 0.0])
    for descending in (False, True):
        ours = tg.sort(tg.tensor(x), descending=descending, stable=True)
        theirs = torch.sort(torch.tensor(x), descending=descending, stable=True)
        assert_close(ours.values, theirs.values)
        assert_close(ours.indices, theirs.indices, "indices")


@pytest.mark.parametrize("k, dim, largest", [(2, 1, True), (3, 0, False), (1, -1, True), (5, 1, False), (0, 1, True)])
def test_topk_matches_pytorch(k, dim, largest):
    x = np.random.default_rng(4).permutation(20).reshape(4, 5) * 0.25
    compare(lambda t: t.topk(k, dim, largest), lambda t: t.topk(k, dim, largest), x)
    assert_close(tg.tensor(x).topk(k, dim, largest).indices, torch.tensor(x).topk(k, dim, largest).indices, "indices")
    with pytest.raises(tg.OpError, match="topk"):
        tg.topk(tg.tensor(x), 9, 1)


@pytest.mark.parametrize("a_dtype, b_dtype", [(np.float64, np.float64), (np.int64, np.int64), (np.float32, np.float32)])
def test_floor_division_and_rounding_modes(a_dtype, b_dtype):
    a = np.array([[7.0, -7.0, 7.5, -7.5], [1.0, 0.3, -2.0, 5.0]]).astype(a_dtype)
    b = np.array([2.0, 2.0, -2.0, 3.0]).astype(b_dtype)
    if b.dtype.kind == "f":
        b = b * np.array([1.0, 1.0, 1.0, 0.7], dtype=b.dtype)
    # PyTorch has no derivative for // ("not implemented"); tinygraph's is 0, as div(rounding_mode="floor")'s.
    compare(lambda x, y: x // y, lambda x, y: x // y, a, b, grad=False)
    compare(lambda x, y: tg.floor_divide(x, y), lambda x, y: torch.floor_divide(x, y), a, b, grad=False)
    for mode in (None, "trunc", "floor"):
        if mode is None and a.dtype.kind != "f":
            continue                                   # true division of integers: float32 in PyTorch, NumPy's float64
        compare(lambda x, y: x.div(y, rounding_mode=mode), lambda x, y: x.div(y, rounding_mode=mode), a, b)
    compare(lambda x: 7 // x, lambda x: 7 // x, b, grad=False)
    compare(lambda x, y: x % y, lambda x, y: x % y, a, b)
    compare(lambda x, y: tg.remainder(x, y), lambda x, y: torch.remainder(x, y), a, b)
    if a.dtype.kind != "f":
        with pytest.raises(ZeroDivisionError):
            tg.tensor(a) // tg.tensor(np.zeros_like(b))


def test_div_rejects_an_unknown_rounding_mode_and_abs_is_the_builtin():
    with pytest.raises(ValueError, match="rounding_mode"):
        tg.ones(2).div(2, rounding_mode="ceil")
    compare(lambda t: abs(t), lambda t: abs(t), normal(3, 4))


# ============================================================================= layers and functions
CONV_TRANSPOSE = [
    # (N, Cin, H, W), Cout, kernel, stride, padding, output_padding, groups, dilation
    ((2, 3, 4, 5), 4, 3, 1, 0, 0, 1, 1),
    ((2, 4, 3, 3), 6, (2, 3), 2, 1, 1, 2, 1),
    ((1, 2, 5, 4), 2, 3, 3, 2, 2, 1, 2),
    ((2, 2, 3, 3), 4, 2, 1, 0, 1, 1, 2),
    ((1, 6, 2, 3), 3, 1, 2, 0, 1, 3, 1),
    ((3, 1, 1, 1), 2, 4, 2, 1, 0, 1, 1),
    ((2, 3, 6, 2), 3, (1, 2), (2, 1), (0, 1), (1, 0), 3, (1, 3)),
    ((1, 4, 4, 4), 8, 3, 2, 1, 1, 4, 1),
]


@pytest.mark.parametrize("shape, out_channels, kernel, stride, padding, output_padding, groups, dilation", CONV_TRANSPOSE)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_transpose2d_matches_pytorch(shape, out_channels, kernel, stride, padding, output_padding, groups,
                                          dilation, bias):
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    x, w = normal(*shape, seed=1), normal(shape[1], out_channels // groups, kh, kw, seed=2)
    arrays = (x, w, normal(out_channels, seed=3)) if bias else (x, w)
    options = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    compare(lambda *t: F.conv_transpose2d(*t, **options), lambda *t: TF.conv_transpose2d(*t, **options), *arrays)


def test_conv_transpose2d_float32_unbatched_and_errors():
    x, w, b = normal(3, 4, 4, dtype=np.float32), normal(3, 2, 3, 3, dtype=np.float32, seed=1), normal(2, dtype=np.float32)
    compare(lambda *t: F.conv_transpose2d(*t, stride=2), lambda *t: TF.conv_transpose2d(*t, stride=2), x, w, b)
    with pytest.raises(tg.OpError, match="output_padding"):
        F.conv_transpose2d(tg.tensor(x), tg.tensor(w), stride=2, output_padding=2)
    with pytest.raises(RuntimeError):
        TF.conv_transpose2d(torch.tensor(x), torch.tensor(w), stride=2, output_padding=2)
    with pytest.raises(tg.OpError, match="conv_transpose2d"):
        F.conv_transpose2d(tg.tensor(x), tg.tensor(normal(2, 2, 3, 3)))


@pytest.mark.parametrize("kwargs", [dict(), dict(stride=2, padding=1, output_padding=1),
                                    dict(groups=2, dilation=2, bias=False)])
def test_nn_conv_transpose2d_matches_pytorch(kwargs):
    ours = nn.ConvTranspose2d(4, 6, 3, rng=np.random.default_rng(0), dtype=np.float64, **kwargs)
    theirs = torch.nn.ConvTranspose2d(4, 6, 3, **kwargs).double()
    assert ours.weight.shape == tuple(theirs.weight.shape)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.data))
        if theirs.bias is not None:
            theirs.bias.copy_(torch.tensor(ours.bias.data))
    x = normal(2, 4, 5, 5)
    compare(lambda t: ours(t), lambda t: theirs(t), x)
    bound = 1 / np.sqrt(6 // kwargs.get("groups", 1) * 9)             # PyTorch's fan-in for this weight
    assert np.abs(ours.weight.data).max() <= bound


def test_nn_conv_transpose2d_output_size():
    ours = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, rng=np.random.default_rng(0), dtype=np.float64)
    theirs = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.data))
        theirs.bias.copy_(torch.tensor(ours.bias.data))
    x = normal(1, 2, 4, 4)
    compare(lambda t: ours(t, output_size=(8, 8)), lambda t: theirs(t, output_size=[8, 8]), x)
    with pytest.raises(ValueError, match="output_size"):
        ours(tg.tensor(x), output_size=(10, 10))


@pytest.mark.parametrize("kernel, stride, padding, ceil_mode, shape", [
    (2, None, 0, False, (2, 3, 6, 6)), (3, 2, 1, True, (2, 2, 7, 6)), (2, 1, 0, False, (1, 2, 4, 5)),
    ((2, 3), (2, 1), (1, 1), False, (1, 1, 5, 6)), (3, 3, 0, True, (2, 1, 7, 8)),
])
def test_max_pool2d_indices_and_max_unpool2d_match_pytorch(kernel, stride, padding, ceil_mode, shape):
    x = np.random.default_rng(5).permutation(int(np.prod(shape))).reshape(shape) * 0.1
    options = dict(stride=stride, padding=padding, ceil_mode=ceil_mode)
    values, indices = F.max_pool2d(tg.tensor(x), kernel, return_indices=True, **options)
    ref_values, ref_indices = TF.max_pool2d(torch.tensor(x), kernel, return_indices=True, **options)
    assert_close(values, ref_values)
    assert_close(indices, ref_indices, "indices")
    unpool = dict(stride=stride, padding=padding, output_size=shape[2:])
    compare(lambda t: F.max_unpool2d(t, indices, kernel, **unpool),
            lambda t: TF.max_unpool2d(t, ref_indices, kernel, **unpool), values.data)
    # the whole round trip, with gradients through both
    compare(lambda t: F.max_unpool2d(*F.max_pool2d(t, kernel, return_indices=True, **options), kernel, **unpool),
            lambda t: TF.max_unpool2d(*TF.max_pool2d(t, kernel, return_indices=True, **options), kernel, **unpool), x)


def test_nn_max_pool_return_indices_and_max_unpool2d():
    x = np.random.default_rng(6).permutation(2 * 3 * 4 * 4).reshape(2, 3, 4, 4) * 1.0
    pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
    ref_pool, ref_unpool = torch.nn.MaxPool2d(2, return_indices=True), torch.nn.MaxUnpool2d(2)
    compare(lambda t: unpool(*pool(t)), lambda t: ref_unpool(*ref_pool(t)), x)
    compare(lambda t: unpool(*pool(t)), lambda t: ref_unpool(*ref_pool(t)), x[0])      # unbatched (C, H, W)
    values, indices = pool(tg.tensor(x))
    compare(lambda t: unpool(t, indices, output_size=(5, 5)),
            lambda t: ref_unpool(t, torch.tensor(indices.data), output_size=(5, 5)), values.data)


@pytest.mark.parametrize("kernel, dilation", [(1, 1), (2, 1), (3, 1), (4, 1), (5, 2), ((2, 3), 1), ((4, 1), (1, 3)),
                                              (2, 3), (3, (2, 1))])
def test_conv2d_same_padding_for_every_kernel(kernel, dilation):
    ours = nn.Conv2d(2, 3, kernel, padding="same", dilation=dilation, rng=np.random.default_rng(0), dtype=np.float64)
    theirs = torch.nn.Conv2d(2, 3, kernel, padding="same", dilation=dilation).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.data))
        theirs.bias.copy_(torch.tensor(ours.bias.data))
    x = normal(2, 2, 7, 6)
    with _quiet():
        compare(lambda t: ours(t), lambda t: theirs(t), x)
        compare(lambda t, w: F.conv2d(t, w, padding="same", dilation=dilation),
                lambda t, w: TF.conv2d(t, w, padding="same", dilation=dilation), x, ours.weight.data.copy())


class _quiet:
    """PyTorch warns that even kernels need a padded copy; the warning is not under test."""

    def __enter__(self):
        import warnings
        self.catcher = warnings.catch_warnings()
        self.catcher.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        return self.catcher.__exit__(*exc)


@pytest.mark.parametrize("target_kind", ["label", "probabilities"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_of_one_unbatched_sample(target_kind, reduction):
    logits = normal(5)
    if target_kind == "label":
        compare(lambda s: F.cross_entropy(s, tg.tensor(3), reduction=reduction),
                lambda s: TF.cross_entropy(s, torch.tensor(3), reduction=reduction), logits)
        compare(lambda s: nn.CrossEntropyLoss(reduction=reduction, label_smoothing=0.1)(s, np.array(3)),
                lambda s: torch.nn.CrossEntropyLoss(reduction=reduction, label_smoothing=0.1)(s, torch.tensor(3)), logits)
    else:
        q = np.random.default_rng(1).dirichlet(np.ones(5))
        compare(lambda s: F.cross_entropy(s, tg.tensor(q), reduction=reduction),
                lambda s: TF.cross_entropy(s, torch.tensor(q), reduction=reduction), logits)


LOSSES = [
    ("L1Loss", {}, "plain"), ("L1Loss", {"reduction": "sum"}, "plain"), ("L1Loss", {"reduction": "none"}, "plain"),
    ("SmoothL1Loss", {}, "plain"), ("SmoothL1Loss", {"beta": 0.5, "reduction": "none"}, "plain"),
    ("SmoothL1Loss", {"beta": 0.0}, "plain"),
    ("HuberLoss", {}, "plain"), ("HuberLoss", {"delta": 0.3, "reduction": "sum"}, "plain"),
    ("MSELoss", {"reduction": "none"}, "plain"),
    ("BCELoss", {}, "probabilities"), ("BCELoss", {"reduction": "none"}, "probabilities"),
    ("BCELoss", {"weight": "row"}, "probabilities"),
    ("BCEWithLogitsLoss", {}, "plain"), ("BCEWithLogitsLoss", {"pos_weight": "row", "reduction": "sum"}, "plain"),
    ("BCEWithLogitsLoss", {"weight": "row", "reduction": "none"}, "plain"),
    ("KLDivLoss", {"reduction": "batchmean"}, "log_probabilities"),
    ("KLDivLoss", {"reduction": "sum", "log_target": True}, "log_probabilities"),
    ("KLDivLoss", {"reduction": "none"}, "log_probabilities"),
    ("NLLLoss", {}, "labels"), ("NLLLoss", {"weight": "row", "reduction": "sum"}, "labels"),
    ("NLLLoss", {"ignore_index": 1}, "labels"),
]


@pytest.mark.parametrize("name, options, kind", LOSSES)
def test_loss_modules_match_pytorch(name, options, kind):
    rng = np.random.default_rng(2)
    row = rng.uniform(0.5, 2.0, size=4)
    ours_options = {k: (row if v == "row" else v) for k, v in options.items()}
    theirs_options = {k: (torch.tensor(row) if v == "row" else v) for k, v in options.items()}
    x = normal(3, 4)
    if kind == "plain":
        target = rng.standard_normal((3, 4)) if name != "BCEWithLogitsLoss" else rng.uniform(0, 1, (3, 4))
    elif kind == "probabilities":
        x, target = rng.uniform(0.05, 0.95, (3, 4)), rng.uniform(0, 1, (3, 4))
    elif kind == "log_probabilities":
        x = np.log(rng.dirichlet(np.ones(4), size=3))
        target = rng.dirichlet(np.ones(4), size=3)
        target[0, 1] = 0.0                                    # 0 · log 0 = 0
        target = np.log(target + 1e-3) if options.get("log_target") else target
    else:
        x, target = np.log(rng.dirichlet(np.ones(4), size=3)), np.array([0, 1, 3])
    ours, theirs = getattr(nn, name)(**ours_options), getattr(torch.nn, name)(**theirs_options)
    compare(lambda s: ours(s, target), lambda s: theirs(s, torch.tensor(target)), x)
    function = {"L1Loss": (F.l1_loss, TF.l1_loss), "SmoothL1Loss": (F.smooth_l1_loss, TF.smooth_l1_loss),
                "HuberLoss": (F.huber_loss, TF.huber_loss)}.get(name)
    if function is not None:
        compare(lambda s: function[0](s, target, **ours_options),
                lambda s: function[1](s, torch.tensor(target), **theirs_options), x)


def test_loss_errors_and_kl_div_mean_warns_as_pytorch():
    with pytest.raises(tg.OpError, match="between 0 and 1"):
        F.binary_cross_entropy(tg.tensor([1.5]), tg.tensor([1.0]))
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        TF.binary_cross_entropy(torch.tensor([1.5]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="reduction"):
        nn.L1Loss(reduction="average")
    x, y = np.log([[0.2, 0.8]]), np.array([[0.5, 0.5]])
    with pytest.warns(UserWarning, match="batchmean"):
        ours = F.kl_div(tg.tensor(x), tg.tensor(y))
    with pytest.warns(UserWarning, match="batchmean"):
        theirs = TF.kl_div(torch.tensor(x), torch.tensor(y), reduction="mean")
    assert_close(ours, theirs)
