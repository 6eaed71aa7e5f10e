"""Each op against PyTorch over its typical shapes and options, forward and backward, and its error cases.

`compare_with_torch(shapes, torch_fn, tinygraph_fn)` makes one random input per shape, runs both
functions, and compares the outputs and (after backward of a random-weighted sum) every input's
gradient; gradients must be np.ndarrays of the input's shape and dtype. Where PyTorch rejects an
input, tinygraph must raise ValueError (or TypeError) naming the op.

torch is a test-only dependency: without it this file is skipped, except under CI=true, where it fails.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from torch_required import require_torch

torch = require_torch(__file__)

import torch.nn.functional as F  # noqa: E402

import tinygraph as tg  # noqa: E402
from torch_compare import assert_close, assert_gradient_contract, laid_out, to_numpy  # noqa: E402

torch.set_num_threads(1)

# One op at a time: tighter than the differential suite's graphs.
DEFAULT_TOLERANCES = {np.dtype(np.float64): (1e-9, 1e-12), np.dtype(np.float32): (1e-5, 1e-6),
                      np.dtype(np.float16): (2e-3, 1e-3)}     # (rtol, atol)


def compare_with_torch(shapes, torch_fn, tinygraph_fn, dtype=np.float64, atol=None, rtol=None,
                       low=-2.0, high=2.0, distinct=False, seed=0, layout="contiguous"):
    """Run torch_fn and tinygraph_fn on the same random inputs of `shapes`; compare values and gradients.

    dtype: one dtype for every input, or one per input (mixed float32/float64). Values are uniform in
    [low, high]; distinct=True makes them all different (no maxpool ties). layout ("fortran", "strided",
    "reversed") hands tinygraph non-contiguous views through tg.from_numpy. Returns both outputs.
    """
    rng = np.random.default_rng(seed)
    dtypes = [np.dtype(d) for d in (dtype if isinstance(dtype, (list, tuple)) else [dtype] * len(shapes))]
    arrays = []
    for shape, dt in zip(shapes, dtypes):
        if distinct:
            size = int(np.prod(shape, dtype=np.int64))
            values = (rng.permutation(size) - size / 2) * (high - low) / max(size, 1)
            arrays.append(values.reshape(shape).astype(dt))
        else:
            arrays.append(rng.uniform(low, high, shape).astype(dt))
    if layout == "contiguous":
        tg_inputs = [tg.tensor(a, requires_grad=True) for a in arrays]
    else:
        tg_inputs = [tg.from_numpy(laid_out(a, layout)).requires_grad_() for a in arrays]
    torch_inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
    tg_out, torch_out = tinygraph_fn(*tg_inputs), torch_fn(*torch_inputs)

    expected = to_numpy(torch_out)
    out_rtol, out_atol = DEFAULT_TOLERANCES[min(dtypes + [expected.dtype], key=lambda d: d.itemsize)]
    assert_close(tg_out.data, expected, rtol or out_rtol, atol or out_atol, "forward value")

    weights = rng.uniform(-1, 1, expected.shape).astype(expected.dtype)
    (tg_out * weights).sum().backward()
    (torch_out * torch.from_numpy(weights)).sum().backward()
    for i, (tg_in, torch_in, dt) in enumerate(zip(tg_inputs, torch_inputs, dtypes)):
        what = f"gradient of input {i} {tg_in.shape} {dt}"
        if torch_in.grad is None:
            assert tg_in.grad is None, f"{what}: PyTorch has none"
            continue
        assert_gradient_contract(tg_in.grad, arrays[i].shape, dt, what)
        grad_rtol, grad_atol = DEFAULT_TOLERANCES[min(dtypes, key=lambda d: d.itemsize)]
        assert_close(tg_in.grad, to_numpy(torch_in.grad), rtol or grad_rtol, atol or grad_atol, what)
    return tg_out, torch_out


def assert_rejected_like_torch(op: str, torch_call, tinygraph_call, errors=(ValueError,)):
    """PyTorch raises for this input, and tinygraph raises ValueError (or `errors`) naming `op`."""
    with pytest.raises(Exception):
        torch_call()
    with pytest.raises(errors, match=rf"\b{op}\b"):
        tinygraph_call()


FLOATS = [np.float64, np.float32]

# ----------------------------------------------------------------------------- elementwise
BROADCAST_PAIRS = [((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3)), ((2, 3, 1), (4,)),
                   ((1,), (2, 2)), ((2, 1, 3, 1), (4, 1, 2)), ((0, 3), (3,)), ((1, 0), (2, 1))]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_binary_broadcasting(op, shapes, dtype):
    fn = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / (b * b + 0.5)}[op]          # the divisor stays >= 0.5
    compare_with_torch(shapes, fn, fn, dtype=dtype)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_binary_mixed_float32_float64(op):
    """NumPy and PyTorch agree here: float32 with float64 (both ≥ 1-d) is float64; grads keep their own dtype."""
    fn = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / (b * b + 0.5)}[op]
    compare_with_torch([(2, 3), (3,)], fn, fn, dtype=[np.float32, np.float64])
    compare_with_torch([(2, 3), (2, 3)], fn, fn, dtype=[np.float64, np.float32])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("fn", [lambda x: 2.0 - x, lambda x: 3 * x, lambda x: x / 2, lambda x: x - 1,
                                lambda x: 1.5 + x, lambda x: 2.0 / (x * x + 0.5), lambda x: -x],
                         ids=["rsub", "rmul-int", "div-scalar", "sub-int", "radd", "rdiv", "neg"])
def test_python_scalars_keep_the_tensor_dtype(fn, dtype):
    tg_out, _ = compare_with_torch([(2, 3)], fn, fn, dtype=dtype)
    assert tg_out.dtype == dtype


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(), (1,), (3,), (2, 3), (2, 1, 3, 2)], ids=str)
def test_exp_log_relu(shape, dtype):
    compare_with_torch([shape], torch.exp, tg.exp, dtype=dtype)
    compare_with_torch([shape], torch.log, lambda x: x.log(), dtype=dtype, low=0.2, high=3.0)
    # relu away from its kink: |x| >= 0.1
    compare_with_torch([shape], lambda x: torch.relu(x * x + 0.1) - torch.relu(-x * x - 0.1),
                       lambda x: (x * x + 0.1).relu() - (-x * x - 0.1).relu(), dtype=dtype)


def test_relu_gradient_is_zero_at_zero_like_torch():
    x = np.array([-1.0, 0.0, 2.0])
    t, tt = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    tg.relu(t).sum().backward()
    torch.relu(tt).sum().backward()
    np.testing.assert_array_equal(t.grad, tt.grad.numpy())


# ----------------------------------------------------------------------------- pow
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("exponent", [-2, -1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3])
def test_pow_on_positive_inputs(exponent, dtype):
    compare_with_torch([(2, 3)], lambda x: x ** exponent, lambda x: x ** exponent, dtype=dtype, low=0.3, high=2.0)


@pytest.mark.parametrize("exponent", [0, 1, 2, 3, -1, -2])
def test_pow_integer_exponents_on_negative_inputs(exponent):
    compare_with_torch([(3, 2)], lambda x: x ** exponent, lambda x: x ** exponent, low=-2.0, high=-0.3)


@pytest.mark.parametrize("exponent", [0, 0.0, 1, 2, 3])
@pytest.mark.parametrize("shape", [(), (3,)], ids=str)
def test_pow_at_zero_like_torch(exponent, shape):
    """d/dx x**0 is 0 even at x = 0 (PyTorch), not 0·0⁻¹ = NaN; x**1, x**2, x**3 at 0 are ordinary."""
    x = np.zeros(shape)
    t, tt = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (t ** exponent).sum().backward()
    (tt ** exponent).sum().backward()
    assert_gradient_contract(t.grad, shape, np.dtype(np.float64), f"x**{exponent} at 0")
    np.testing.assert_array_equal(t.grad, tt.grad.numpy())


# ----------------------------------------------------------------------------- reductions
REDUCE_SHAPE = (2, 3, 4)
AXES = [None, 0, 1, 2, -1, -3, (0, 1), (0, 2), (1, 2), (2, 0), (0, 1, 2), (-1, 0)]


def _torch_reduce(name, axis, keepdims):
    def fn(x):
        if axis is None:
            return getattr(x, name)(dim=tuple(range(x.ndim)), keepdim=True) if keepdims else getattr(x, name)()
        return getattr(x, name)(dim=axis, keepdim=keepdims)
    return fn


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("name", ["sum", "mean"])
def test_sum_and_mean_over_axes(name, axis, keepdims, dtype):
    compare_with_torch([REDUCE_SHAPE], _torch_reduce(name, axis, keepdims),
                       lambda x: getattr(x, name)(axis=axis, keepdims=keepdims), dtype=dtype)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, -1, (0,)], ids=str)
@pytest.mark.parametrize("name", ["sum", "mean"])
def test_sum_and_mean_of_a_0d_tensor(name, axis, keepdims):
    """PyTorch reduces a 0-d tensor over dim 0 or -1 (NumPy would raise): tinygraph follows PyTorch."""
    compare_with_torch([()], _torch_reduce(name, axis, keepdims),
                       lambda x: getattr(x, name)(axis=axis, keepdims=keepdims))


@pytest.mark.parametrize("name", ["sum", "mean"])
@pytest.mark.parametrize("shape,axis", [((1, 3, 1), 0), ((1, 3, 1), (0, 2)), ((0, 3), 0), ((0, 3), 1),
                                        ((0, 3), None), ((2, 0, 2), (0, 1))], ids=str)
def test_sum_and_mean_with_size_1_and_size_0_axes(name, shape, axis):
    """Mean over an empty axis is NaN with an empty gradient, as in PyTorch; sum is 0."""
    compare_with_torch([shape], _torch_reduce(name, axis, False), lambda x: getattr(x, name)(axis=axis))


def test_mean_float16_accumulates_wider_like_torch():
    x = np.random.default_rng(0).uniform(0, 1, 100_000).astype(np.float16)
    expected = torch.from_numpy(x).mean().numpy()
    actual = tg.tensor(x).mean().data
    assert actual.dtype == np.float16
    np.testing.assert_allclose(actual, expected, rtol=2e-3)
    np.testing.assert_allclose(tg.tensor(np.ones(100_000, np.float16)).mean().data, 1.0)


def test_mean_float16_backward():
    compare_with_torch([(4, 5)], lambda x: x.mean(dim=1), lambda x: x.mean(axis=1), dtype=np.float16)


# ----------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,target", [((2, 3, 4), (-1,)), ((2, 3, 4), (6, -1)), ((2, 3, 4), (-1, 4)),
                                          ((2, 3, 4), (2, -1, 2)), ((2, 3, 4), (4, 3, 2)), ((), (1,)),
                                          ((), (1, 1)), ((1, 1), ()), ((4,), (2, 2)), ((0, 3), (3, 0)),
                                          ((6,), (1, 6, 1))], ids=str)
def test_reshape(shape, target, dtype):
    compare_with_torch([shape], lambda x: x.reshape(target), lambda x: x.reshape(target), dtype=dtype)


def _permutations():
    for ndim in range(5):
        perms = list(itertools.permutations(range(ndim)))
        yield from (perms if ndim <= 3 else perms[::5])


@pytest.mark.parametrize("axes", list(_permutations()), ids=str)
def test_transpose_permutations(axes):
    shape = (2, 3, 4, 1)[:len(axes)]
    compare_with_torch([shape], lambda x: x.permute(axes), lambda x: tg.transpose(x, axes=axes))


def test_flatten_like_torch():
    compare_with_torch([(2, 3, 2, 2)], lambda x: torch.flatten(x, 1), lambda x: x.flatten(1))


# ----------------------------------------------------------------------------- matmul
MATMUL_SHAPES = [((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((5, 2, 3), (5, 3, 4)),
                 ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((2, 1, 2, 3), (4, 3, 2)), ((1, 2, 3), (5, 3, 4)),
                 ((4, 2, 3), (3,)), ((3,), (2, 3, 4)), ((1, 1), (1, 1)), ((2, 0), (0, 3)), ((0, 3), (3, 2))]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(shapes, dtype):
    compare_with_torch(shapes, torch.matmul, lambda a, b: a @ b, dtype=dtype)


def test_matmul_mixed_dtypes():
    # PyTorch's matmul wants one dtype: cast to float64 as NumPy's promotion (tinygraph's) does.
    def promoted(a, b):
        return torch.matmul(a.double(), b.double())
    compare_with_torch([(2, 3), (3, 4)], promoted, tg.matmul, dtype=[np.float32, np.float64])
    compare_with_torch([(5, 2, 3), (3,)], promoted, tg.matmul, dtype=[np.float64, np.float32])


@pytest.mark.parametrize("layout", ["fortran", "strided", "reversed"])
def test_large_non_contiguous_inputs(layout):
    """Big enough for the ops' multi-threaded paths, on views that are not C-contiguous."""
    tolerance = {"dtype": np.float32, "rtol": 1e-4, "atol": 1e-4, "layout": layout}
    compare_with_torch([(300, 64), (64, 40)], torch.matmul, tg.matmul, **tolerance)
    compare_with_torch([(8, 3, 34, 34), (4, 3, 3, 3), (4,)], lambda *t: F.conv2d(*t, padding=1),
                       lambda *t: tg.conv2d(*t, padding=1), **tolerance)
    compare_with_torch([(16, 8, 34, 34)], lambda x: F.max_pool2d(x, 2), tg.maxpool, distinct=True, **tolerance)
    compare_with_torch([(16, 8, 33, 33)], lambda x: F.max_pool2d(x, 3, 2), lambda x: tg.maxpool(x, 3, 2),
                       distinct=True, **tolerance)
    compare_with_torch([(64, 8, 32, 32)], lambda x: torch.relu(x * x + 0.1) - torch.relu(-x - 3.0),
                       lambda x: (x * x + 0.1).relu() - (-x - 3.0).relu(), **tolerance)


def test_matmul_large_enough_to_split_over_threads():
    compare_with_torch([(300, 64), (64, 40)], torch.matmul, tg.matmul, dtype=np.float32, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- conv2d
CONV_CASES = [  # x shape, w shape, bias, stride, padding
    ((2, 3, 7, 7), (4, 3, 3, 3), True, 1, 0),
    ((1, 1, 8, 8), (4, 1, 3, 3), True, 1, 0),                # the derivation's layer
    ((2, 3, 7, 7), (4, 3, 3, 3), False, 2, 1),
    ((2, 2, 6, 5), (3, 2, 3, 2), True, (1, 2), (2, 1)),       # non-square kernel, pairs
    ((1, 3, 5, 9), (2, 3, 1, 5), True, (2, 1), 0),
    ((2, 4, 5, 5), (5, 4, 1, 1), True, 1, 0),                # 1×1
    ((1, 2, 4, 4), (1, 2, 4, 4), True, 1, 0),                # kernel = whole input
    ((1, 1, 9, 9), (2, 1, 2, 2), False, 3, 0),               # stride > kernel
    ((3, 1, 4, 6), (2, 1, 3, 3), True, 2, 2),                # padding larger than needed
    ((1, 2, 2, 2), (3, 2, 3, 3), True, 1, 1),                # kernel larger than unpadded input
    ((0, 2, 5, 5), (3, 2, 3, 3), True, 1, 0),                # empty batch
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("x_shape,w_shape,bias,stride,padding", CONV_CASES, ids=str)
def test_conv2d(x_shape, w_shape, bias, stride, padding, dtype):
    shapes = [x_shape, w_shape] + ([(w_shape[0],)] if bias else [])
    compare_with_torch(shapes, lambda *t: F.conv2d(*t, stride=stride, padding=padding),
                       lambda *t: tg.conv2d(*t, stride=stride, padding=padding), dtype=dtype)


def test_conv2d_mixed_dtypes():
    compare_with_torch([(2, 2, 5, 5), (3, 2, 3, 3), (3,)],
                       lambda x, w, b: F.conv2d(x.double(), w, b),    # PyTorch needs one dtype: cast as NumPy promotes
                       lambda x, w, b: tg.conv2d(x, w, b), dtype=[np.float32, np.float64, np.float64])


def test_conv2d_large_enough_to_split_over_threads():
    compare_with_torch([(16, 3, 32, 32), (8, 3, 5, 5), (8,)], F.conv2d, tg.conv2d, dtype=np.float32,
                       rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- maxpool
POOL_CASES = [  # x shape, size, stride (None: = size)
    ((2, 3, 8, 8), 2, None), ((2, 3, 7, 7), 2, None), ((1, 2, 5, 7), 2, None), ((2, 2, 9, 9), 3, None),
    ((1, 1, 7, 7), 3, 1), ((1, 2, 7, 6), 3, 2), ((2, 1, 6, 6), 2, 1), ((1, 1, 6, 8), (2, 3), None),
    ((1, 2, 7, 9), (3, 2), (1, 2)), ((1, 1, 5, 5), 1, None), ((1, 1, 5, 5), 1, 2), ((1, 1, 4, 4), 4, None),
    ((2, 1, 6, 6), 2, 3), ((0, 2, 4, 4), 2, None),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("x_shape,size,stride", POOL_CASES, ids=str)
def test_maxpool(x_shape, size, stride, dtype):
    compare_with_torch([x_shape], lambda x: F.max_pool2d(x, size, size if stride is None else stride),
                       lambda x: tg.maxpool(x, size, stride), dtype=dtype, distinct=True)


def test_maxpool_large_enough_to_split_over_threads():
    compare_with_torch([(64, 8, 32, 32)], lambda x: F.max_pool2d(x, 2), tg.maxpool, dtype=np.float32, distinct=True)


# ----------------------------------------------------------------------------- softmax cross-entropy
def _labels(n, classes, seed=1):
    return np.random.default_rng(seed).integers(0, classes, n)


def _probabilities(n, classes, dtype, seed=2):
    z = np.random.default_rng(seed).normal(size=(n, classes))
    return (np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)).astype(dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("n,classes", [(1, 1), (1, 5), (3, 5), (4, 2), (8, 10)], ids=str)
def test_softmax_xent_with_labels(n, classes, reduction, dtype):
    labels = _labels(n, classes)
    compare_with_torch([(n, classes)], lambda s: F.cross_entropy(s, torch.from_numpy(labels), reduction=reduction),
                       lambda s: tg.softmax_xent(s, labels, reduction=reduction), dtype=dtype)


@pytest.mark.parametrize("label_dtype", [np.int64, np.int32, np.uint8])
def test_softmax_xent_integer_label_dtypes_and_label_tensors(label_dtype):
    labels = _labels(4, 3).astype(label_dtype)
    for target in (labels, tg.tensor(labels)):
        compare_with_torch([(4, 3)], lambda s: F.cross_entropy(s, torch.from_numpy(labels.astype(np.int64))),
                           lambda s: tg.softmax_xent(s, target))


@pytest.mark.parametrize("target_dtype", FLOATS)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("n,classes", [(1, 1), (3, 5), (4, 2)], ids=str)
def test_softmax_xent_with_probabilities(n, classes, reduction, dtype, target_dtype):
    probs = _probabilities(n, classes, target_dtype)
    # float32 rows sum to 1 only within ~1e-7; both frameworks take ŷ·Σy − y, the exact derivative.
    tolerance = {}
    # tinygraph casts probability rows to the logits' dtype; PyTorch wants them equal, so cast explicitly.
    compare_with_torch([(n, classes)],
                       lambda s: F.cross_entropy(s, torch.from_numpy(probs).to(s.dtype), reduction=reduction),
                       lambda s: tg.softmax_xent(s, probs, reduction=reduction), dtype=dtype, **tolerance)


def test_softmax_xent_is_stable_for_large_logits():
    labels = np.array([0, 1])
    compare_with_torch([(2, 3)], lambda s: F.cross_entropy(s * 1e4, torch.from_numpy(labels)),
                       lambda s: tg.softmax_xent(s * 1e4, labels), rtol=1e-9, atol=1e-8)


# ----------------------------------------------------------------------------- tensor construction
def test_tensor_copies_and_from_numpy_shares_like_torch():
    a = np.arange(3.0)
    copied, shared = tg.tensor(a), tg.from_numpy(a)
    torch_copied, torch_shared = torch.tensor(a), torch.from_numpy(a)
    a[0] = 7.0
    assert copied.data[0] == torch_copied[0].item() == 0.0
    assert shared.data[0] == torch_shared[0].item() == 7.0


@pytest.mark.parametrize("values", [np.array([1, 2]), np.array([1, 2], dtype=np.int32), np.array([True, False]),
                                    np.array([1.5], dtype=np.float32), [1, 2], 3], ids=repr)
def test_tensor_keeps_integer_and_bool_dtypes_like_torch(values):
    assert tg.tensor(values).dtype == torch.tensor(values).numpy().dtype


def test_tensor_of_python_floats_is_float64_as_in_numpy():
    # Deliberately NumPy's rule, not PyTorch's default float32: tinygraph's dtype is np.asarray's.
    assert tg.tensor([1.5, 2.0]).dtype == np.asarray([1.5, 2.0]).dtype == np.float64


@pytest.mark.parametrize("values", [np.array([1, 2]), np.array([True])], ids=repr)
def test_requires_grad_on_an_integer_tensor_raises_like_torch(values):
    with pytest.raises(RuntimeError):
        torch.tensor(values, requires_grad=True)
    with pytest.raises(RuntimeError):
        tg.tensor(values, requires_grad=True)


def test_integer_constants_promote_as_numpy_does():
    """float32 tensor * int64 array is float64 in NumPy (and tinygraph), float32 in PyTorch: compared in float64."""
    ints = np.array([1, -2, 3])
    compare_with_torch([(2, 3)], lambda x: x.double() * torch.from_numpy(ints).double(), lambda x: x * ints,
                       dtype=np.float32)
    compare_with_torch([(2, 3)], lambda x: x * torch.from_numpy(ints), lambda x: x * tg.tensor(ints), dtype=np.float64)


# ----------------------------------------------------------------------------- errors
def _t(*shape, dtype=np.float64):
    return np.ones(shape, dtype=dtype)


def _both(arrays):
    return [tg.tensor(a) for a in arrays], [torch.tensor(a) for a in arrays]


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize("shapes", [((2, 3), (4,)), ((2, 3), (3, 2)), ((0, 3), (2, 3))], ids=str)
def test_binary_shape_mismatch(op, shapes):
    (a, b), (ta, tb) = _both([_t(*s) for s in shapes])
    fn = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
          "div": lambda x, y: x / y}[op]
    assert_rejected_like_torch(op, lambda: fn(ta, tb), lambda: fn(a, b))


@pytest.mark.parametrize("shapes", [((2, 3), (4, 5)), ((3,), (4,)), ((), (3,)), ((3,), ()), ((2, 2, 3), (3, 3, 4)),
                                    ((2, 3), (2,))], ids=str)
def test_matmul_bad_shapes(shapes):
    (a, b), (ta, tb) = _both([_t(*s) for s in shapes])
    assert_rejected_like_torch("matmul", lambda: torch.matmul(ta, tb), lambda: tg.matmul(a, b))


CONV_ERRORS = [  # x shape, w shape, bias shape or None, stride, padding
    ((5, 5), (2, 3, 3, 3), None, 1, 0),              # x not 4-D (PyTorch takes 3-D as one unbatched image)
    ((1, 3, 5, 5), (2, 3, 3), None, 1, 0),           # w not 4-D
    ((1, 3, 5, 5), (2, 4, 3, 3), None, 1, 0),        # channels differ
    ((1, 3, 2, 2), (2, 3, 3, 3), None, 1, 0),        # kernel larger than the input
    ((1, 3, 5, 5), (2, 3, 3, 3), (3,), 1, 0),        # one bias per filter
    ((1, 3, 5, 5), (2, 3, 3, 3), None, 0, 0),        # stride 0
    ((1, 3, 5, 5), (2, 3, 3, 3), None, 1, -1),       # negative padding
]


@pytest.mark.parametrize("x_shape,w_shape,b_shape,stride,padding", CONV_ERRORS, ids=str)
def test_conv2d_bad_inputs(x_shape, w_shape, b_shape, stride, padding):
    arrays = [_t(*x_shape), _t(*w_shape)] + ([_t(*b_shape)] if b_shape else [])
    tgs, ts = _both(arrays)
    assert_rejected_like_torch("conv2d", lambda: F.conv2d(*ts, stride=stride, padding=padding),
                               lambda: tg.conv2d(*tgs, stride=stride, padding=padding))


@pytest.mark.parametrize("x_shape,size,stride", [((4, 4), 2, None), ((1, 1, 2, 2), 3, None),
                                                 ((1, 1, 4, 4), 0, None), ((1, 1, 4, 4), 2, 0),
                                                 ((1, 1, 4, 4), (2, 5), None)], ids=str)
def test_maxpool_bad_inputs(x_shape, size, stride):
    """(PyTorch pools a 3-D input as one unbatched image, so the wrong rank here is 2-D.)"""
    (x,), (tx,) = _both([_t(*x_shape)])
    assert_rejected_like_torch("maxpool", lambda: F.max_pool2d(tx, size, size if stride is None else stride),
                               lambda: tg.maxpool(x, size, stride))


SOFTMAX_ERRORS = {  # logits shape, target
    "label out of range": ((2, 3), np.array([0, 3])),
    "negative label": ((2, 3), np.array([-1, 0])),
    "too few labels": ((2, 3), np.array([0])),
    "float labels": ((2, 3), np.array([0.0, 1.0])),
    "bool labels": ((2, 3), np.array([True, False])),
    "probabilities of another shape": ((2, 3), np.full((2, 4), 0.25)),
    "0-d logits": ((), np.array([0])),                # (PyTorch takes 1-D logits as one unbatched row)
    "3-d logits": ((2, 3, 4), np.array([0, 1])),
}


@pytest.mark.parametrize("case", list(SOFTMAX_ERRORS))
def test_softmax_xent_bad_inputs(case):
    shape, target = SOFTMAX_ERRORS[case]
    (s,), (ts,) = _both([_t(*shape)])
    assert_rejected_like_torch("softmax_xent", lambda: F.cross_entropy(ts, torch.from_numpy(target)),
                               lambda: tg.softmax_xent(s, target))


def test_softmax_xent_bad_reduction():
    (s,), (ts,) = _both([_t(2, 3)])
    labels = np.array([0, 1])
    assert_rejected_like_torch("softmax_xent", lambda: F.cross_entropy(ts, torch.from_numpy(labels), reduction="avg"),
                               lambda: tg.softmax_xent(s, labels, reduction="avg"))


@pytest.mark.parametrize("shape,target", [((2, 3), (4,)), ((2, 3), (-1, 4)), ((2, 3), (-1, -1)), ((0, 3), (-1, 0))],
                         ids=str)
def test_reshape_bad_shapes(shape, target):
    (x,), (tx,) = _both([_t(*shape)])
    assert_rejected_like_torch("reshape", lambda: tx.reshape(target), lambda: x.reshape(target))


@pytest.mark.parametrize("shape,axes", [((2, 3), (0, 0)), ((2, 3), (0,)), ((2, 3), (0, 2)), ((2, 3, 4), (2, 1))],
                         ids=str)
def test_transpose_bad_axes(shape, axes):
    (x,), (tx,) = _both([_t(*shape)])
    assert_rejected_like_torch("transpose", lambda: tx.permute(axes), lambda: tg.transpose(x, axes=axes))


@pytest.mark.parametrize("name", ["sum", "mean"])
@pytest.mark.parametrize("shape,axis", [((2, 3), 2), ((2, 3), -3), ((2, 3), (0, 0)), ((2, 3), (1, -1)), ((), 1)],
                         ids=str)
def test_reduction_bad_axes(name, shape, axis):
    (x,), (tx,) = _both([_t(*shape)])
    assert_rejected_like_torch(name, lambda: getattr(tx, name)(dim=axis), lambda: getattr(x, name)(axis=axis))
