"""PyTorch's tensor vocabulary (issue 11) against PyTorch itself: forward values, gradients and refusals.

Indexing (basic, integer arrays with repeated indices, boolean masks), cat/stack/where/maximum/minimum,
the reductions with dim/keepdim (amax, amin, max/min with indices, argmax, logsumexp, var, std), the
shape methods with PyTorch's meanings (transpose swaps two dims, flatten from dim 0, squeeze, unsqueeze,
expand, view, permute), elementwise abs/sqrt/clamp/sigmoid/tanh/softmax/log_softmax, comparisons and
conversions. `compare` runs the same function on the same values in both frameworks, compares the
outputs and, after backward of a random-weighted sum, every input's gradient (an np.ndarray of the
input's shape and dtype). Values are chosen away from kinks and ties unless a test is about them.

torch is a test-only dependency: without it this file is skipped, except under CI=true, where it fails.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from torch_required import require_torch

torch = require_torch(__file__)

import tinygraph as tg  # noqa: E402
from torch_compare import assert_close, assert_gradient_contract, to_numpy  # noqa: E402

torch.set_num_threads(1)

TOLERANCES = {np.dtype(np.float64): (1e-9, 1e-12), np.dtype(np.float32): (1e-5, 1e-6)}   # (rtol, atol)
FLOATS = [np.float64, np.float32]
# The largest |tinygraph − PyTorch| / (atol-scale) seen per test, for the report (printed with -s).
WORST: dict[str, float] = {}


def values(shape, dtype=np.float64, low=-2.0, high=2.0, seed=0, distinct=False):
    """Uniform values, or all-different ones 0.1·k apart (no ties for max/min, no two on a clamp bound)."""
    rng = np.random.default_rng(seed)
    if distinct:
        size = int(np.prod(shape, dtype=np.int64))
        grid = (rng.permutation(size) - size / 2) * 0.1 + 0.05
        return grid.reshape(shape).astype(dtype)
    return rng.uniform(low, high, shape).astype(dtype)


def compare(tinygraph_fn, torch_fn, *arrays, weights_seed=1):
    """Both functions on the same arrays (floats require grad): outputs and gradients must agree."""
    tg_inputs = [tg.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    torch_inputs = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    tg_out, torch_out = tinygraph_fn(*tg_inputs), torch_fn(*torch_inputs)
    expected = to_numpy(torch_out)
    dtypes = [a.dtype for a in arrays if a.dtype.kind == "f"] + [expected.dtype]
    rtol, atol = TOLERANCES[min((d for d in dtypes if d.kind == "f"), key=lambda d: d.itemsize)]
    assert_close(tg_out.data, expected, rtol, atol, "forward value")
    _note(tg_out.data, expected)
    if not torch_out.requires_grad:
        assert not tg_out.requires_grad, "PyTorch's output needs no gradient, tinygraph's does"
        return tg_out, torch_out
    weights = np.random.default_rng(weights_seed).uniform(-1, 1, expected.shape).astype(expected.dtype)
    (tg_out * weights).sum().backward()
    (torch_out * torch.from_numpy(weights)).sum().backward()
    for i, (tg_in, torch_in) in enumerate(zip(tg_inputs, torch_inputs)):
        what = f"gradient of input {i} {tg_in.shape} {tg_in.dtype}"
        if torch_in.grad is None:
            assert tg_in.grad is None, f"{what}: PyTorch has none"
            continue
        assert_gradient_contract(tg_in.grad, arrays[i].shape, arrays[i].dtype, what)
        assert_close(tg_in.grad, to_numpy(torch_in.grad), rtol, atol, what)
        _note(np.asarray(tg_in.grad), to_numpy(torch_in.grad))
    return tg_out, torch_out


def _note(actual, expected):
    finite = np.isfinite(expected) & np.isfinite(actual)
    if finite.any():
        difference = float(np.abs(actual[finite].astype(np.float64) - expected[finite]).max())
        key = str(expected.dtype)
        WORST[key] = max(WORST.get(key, 0.0), difference)


def rejected(name, tinygraph_call, torch_call, errors=(ValueError, TypeError, IndexError)):
    """PyTorch refuses the input, and so does tinygraph, with an error that names the op."""
    with pytest.raises(Exception):
        torch_call()
    with pytest.raises(errors, match=rf"\b{name}\b"):
        tinygraph_call()


# ----------------------------------------------------------------------------- indexing
INDICES = {
    "x[0]": lambda x: x[0],
    "x[-1]": lambda x: x[-1],
    "x[:, 1:3]": lambda x: x[:, 1:3],
    "x[..., None]": lambda x: x[..., None],
    "x[None, 1]": lambda x: x[None, 1],
    "x[1, ..., ::2]": lambda x: x[1, ..., ::2],
    "x[1:, -2]": lambda x: x[1:, -2],
    "x[:0]": lambda x: x[:0],
    "x[[0, 2, 0]] (repeated rows)": lambda x: x[[0, 2, 0]],
    "x[:, [3, 3, 0, 3]] (repeated columns)": lambda x: x[:, [3, 3, 0, 3]],
    "x[[0, 1, 1], [1, 2, 2]] (repeated pairs)": lambda x: x[[0, 1, 1], [1, 2, 2]],
    "x[idx 2-D]": lambda x: x[np.array([[0, 1], [1, 1]])] if isinstance(x, tg.Tensor)
    else x[torch.tensor([[0, 1], [1, 1]])],
    "x[tensor idx]": lambda x: x[tg.tensor([2, 0, 2])] if isinstance(x, tg.Tensor) else x[torch.tensor([2, 0, 2])],
    "x[mask]": lambda x: x[x > 0.5],
    "x[row mask]": lambda x: x[np.array([True, False, True])] if isinstance(x, tg.Tensor)
    else x[torch.tensor([True, False, True])],
    "x[1][2]": lambda x: x[1][2],
    "x[0-d int tensor]": lambda x: x[tg.tensor(1)] if isinstance(x, tg.Tensor) else x[torch.tensor(1)],
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", list(INDICES))
def test_indexing(name, dtype):
    index = INDICES[name]
    compare(index, index, values((3, 4, 2) if "1, ..." in name else (3, 4), dtype))


@pytest.mark.parametrize("index", [(), Ellipsis, None, (None, None)], ids=repr)
def test_indexing_a_0d_tensor(index):
    compare(lambda x: x[index], lambda x: x[index], values(()))


def test_repeated_indices_accumulate_like_torch():
    x = np.arange(5.0)
    t, tt = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    t[[1, 1, 1, 3]].sum().backward()
    tt[[1, 1, 1, 3]].sum().backward()
    np.testing.assert_array_equal(t.grad, tt.grad.numpy())
    np.testing.assert_array_equal(t.grad, [0, 3, 0, 1, 0])


def test_indexing_integer_and_bool_tensors_needs_no_gradient():
    labels = np.array([3, 1, 4, 1, 5])
    out = tg.tensor(labels)[tg.tensor([0, 4])]
    assert out.tolist() == torch.tensor(labels)[torch.tensor([0, 4])].tolist() and not out.requires_grad


# ----------------------------------------------------------------------------- cat, stack, where, maximum, minimum
CAT_CASES = [  # shapes, dim
    ([(2, 3), (2, 3)], 0), ([(2, 3), (2, 1)], 1), ([(2, 3), (2, 2), (2, 4)], -1), ([(1, 2), (3, 2), (2, 2), (1, 2), (4, 2)], 0),
    ([(2, 0), (2, 3)], 1), ([(3,)], 0), ([(2, 1, 3), (2, 4, 3), (2, 2, 3)], 1),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shapes,dim", CAT_CASES, ids=str)
def test_cat(shapes, dim, dtype):
    arrays = [values(s, dtype, seed=i) for i, s in enumerate(shapes)]
    compare(lambda *t: tg.cat(t, dim), lambda *t: torch.cat(t, dim), *arrays)


def test_cat_mixed_dtypes_promote():
    compare(lambda a, b: tg.cat([a, b], 1), lambda a, b: torch.cat([a, b], 1),
            values((2, 2), np.float32), values((2, 3), np.float64, seed=1))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,count,dim", [((2, 3), 2, 0), ((2, 3), 3, 1), ((2, 3), 2, 2), ((2, 3), 4, -1),
                                             ((), 3, 0), ((4,), 1, -2)], ids=str)
def test_stack(shape, count, dim, dtype):
    arrays = [values(shape, dtype, seed=i) for i in range(count)]
    compare(lambda *t: tg.stack(t, dim), lambda *t: torch.stack(t, dim), *arrays)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4), (3, 4)), ((3, 4), (4,), (3, 1)), ((1, 4), (3, 1), ()),
                                    ((), (2, 3), (2, 3))], ids=str)
def test_where(shapes, dtype):
    cond_shape, a_shape, b_shape = shapes
    condition = np.asarray(values(cond_shape, seed=5) > 0)
    compare(lambda a, b: tg.where(tg.tensor(condition), a, b),
            lambda a, b: torch.where(torch.from_numpy(condition), a, b),
            values(a_shape, dtype), values(b_shape, dtype, seed=1))


def test_where_with_a_python_scalar_and_the_method_form():
    compare(lambda x: tg.where(x > 0, x, 0.0), lambda x: torch.where(x > 0, x, 0.0), values((3, 4)))
    compare(lambda x, y: x.where(x < 0.5, y), lambda x, y: x.where(x < 0.5, y), values((3, 4)), values((4,), seed=2))


@pytest.mark.parametrize("name", ["maximum", "minimum"])
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 3), (4, 1)), ((), (2, 2))], ids=str)
def test_maximum_minimum(name, shapes):
    compare(getattr(tg, name), getattr(torch, name), values(shapes[0]), values(shapes[1], seed=1))


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum_split_a_tie_like_torch(name):
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0])
    compare(getattr(tg, name), getattr(torch, name), a, b)
    compare(lambda x, y: getattr(x, name[:3])(y), lambda x, y: getattr(x, name[:3])(y), a, b)   # x.max(y)


# ----------------------------------------------------------------------------- reductions with dim / keepdim
SHAPE = (3, 4, 2)
DIMS = [None, 0, 1, -1, (0, 2), (2, 0), (0, 1, 2), (-1, 1)]


def _torch_reduce(name, dim, keepdim):
    def fn(x):
        if dim is None:
            full = tuple(range(x.ndim))
            if name in ("logsumexp",):
                return getattr(x, name)(dim=full, keepdim=keepdim)
            return getattr(x, name)(dim=full, keepdim=True) if keepdim else getattr(x, name)()
        return getattr(x, name)(dim=dim, keepdim=keepdim)
    return fn


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS, ids=str)
@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "logsumexp", "var", "std"])
def test_reductions(name, dim, keepdim, dtype):
    compare(lambda x: getattr(x, name)(dim=dim, keepdim=keepdim), _torch_reduce(name, dim, keepdim),
            values(SHAPE, dtype, distinct=name in ("amax", "amin")))


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "logsumexp", "var", "std"])
def test_reductions_take_axis_and_keepdims_as_aliases(name):
    x = values(SHAPE, distinct=True)
    compare(lambda t: getattr(t, name)(axis=1, keepdims=True), lambda t: getattr(t, name)(dim=1, keepdim=True), x)
    compare(lambda t: getattr(tg, name)(t, dim=1), lambda t: getattr(torch, name)(t, dim=1), x)


@pytest.mark.parametrize("dim", [None, 0, -1], ids=str)
@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "logsumexp"])
def test_reductions_of_a_0d_tensor(name, dim):
    compare(lambda x: getattr(x, name)(dim=dim), _torch_reduce(name, dim, False), values(()))


@pytest.mark.parametrize("correction", [0, 1, 2])
@pytest.mark.parametrize("name", ["var", "std"])
def test_var_std_correction_and_unbiased(name, correction):
    x = values((4, 5))
    compare(lambda t: getattr(t, name)(1, correction=correction), lambda t: getattr(t, name)(1, correction=correction), x)
    unbiased = bool(correction) if correction < 2 else True
    compare(lambda t: getattr(t, name)(0, unbiased), lambda t: getattr(t, name)(0, unbiased), x)


@pytest.mark.filterwarnings("ignore:.*degrees of freedom is <= 0")
def test_var_std_of_a_constant_and_of_too_few_elements_like_torch():
    compare(lambda t: t.std(1), lambda t: t.std(1), np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]]))   # 0, not NaN
    compare(lambda t: t.var(1), lambda t: t.var(1), np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]]))
    compare(lambda t: t.var(0), lambda t: t.var(0), np.array([[2.0, 3.0]]))                        # n = 1: NaN


def test_amax_and_max_share_ties_evenly_and_max_dim_routes_to_its_index():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.5]])
    compare(lambda t: t.amax(1), lambda t: t.amax(1), x)
    compare(lambda t: t.max(), lambda t: t.max(), x)
    compare(lambda t: t.amin(0), lambda t: t.amin(0), -x)
    compare(lambda t: t.max(1).values, lambda t: t.max(1).values, x)
    compare(lambda t: t.min(1).values, lambda t: t.min(1).values, -x)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1, 2], ids=str)
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_with_dim_return_values_and_indices(name, dim, keepdim):
    x = values(SHAPE, distinct=True)
    tg_out, torch_out = compare(lambda t: getattr(t, name)(dim, keepdim).values,
                                lambda t: getattr(t, name)(dim, keepdim).values, x)
    tg_result, torch_result = getattr(tg.tensor(x), name)(dim, keepdim=keepdim), getattr(torch.tensor(x), name)(dim, keepdim)
    values_, indices = tg_result                    # unpacks like PyTorch's named tuple
    assert indices.dtype == np.int64 and not indices.requires_grad
    np.testing.assert_array_equal(indices.data, torch_result.indices.numpy())
    np.testing.assert_array_equal(values_.data, torch_result.values.numpy())


def test_max_min_of_a_0d_tensor_along_dim_0():
    for name in ("max", "min"):
        result, expected = getattr(tg.tensor(2.5), name)(0), getattr(torch.tensor(2.5), name)(0)
        assert result.values.item() == expected.values.item() and result.indices.item() == expected.indices.item()


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [None, 0, 1, -1], ids=str)
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin(name, dim, keepdim):
    x = values((3, 4), distinct=True)
    result = getattr(tg.tensor(x), name)(dim=dim, keepdim=keepdim)
    expected = getattr(torch.tensor(x), name)(dim=dim, keepdim=keepdim)
    assert result.dtype == np.int64 and not result.requires_grad
    assert result.shape == tuple(expected.shape)
    np.testing.assert_array_equal(result.data, expected.numpy())


def test_argmax_returns_the_first_of_tied_maxima_like_torch():
    x = np.array([[1.0, 5.0, 5.0], [7.0, 7.0, 7.0]])
    np.testing.assert_array_equal(tg.tensor(x).argmax(1).data, torch.tensor(x).argmax(1).numpy())


# ----------------------------------------------------------------------------- shape methods
@pytest.mark.parametrize("dims", list(itertools.product(range(-3, 3), repeat=2)), ids=str)
def test_transpose_swaps_two_dims_like_torch(dims):
    compare(lambda x: x.transpose(*dims), lambda x: x.transpose(*dims), values((2, 3, 4)))


def test_transpose_of_2d_is_the_swap_the_issue_reports():
    assert tg.tensor(np.zeros((2, 3))).transpose(0, 1).shape == (3, 2)
    compare(lambda x: x.transpose(0, -1), lambda x: x.transpose(0, -1), values(()))   # 0-d: dims 0 and -1
    compare(lambda x: x.T, lambda x: x.permute(2, 1, 0), values((2, 3, 4)))


@pytest.mark.parametrize("dims", [(1, 0), (2, 0, 1), (0, 1, 2), (-1, 0, 1)], ids=str)
def test_permute(dims):
    shape = (2, 3, 4)[:len(dims)]
    compare(lambda x: x.permute(*dims), lambda x: x.permute(*dims), values(shape))
    compare(lambda x: x.permute(dims), lambda x: x.permute(dims), values(shape))


@pytest.mark.parametrize("start,end", [(0, -1), (1, -1), (0, 1), (1, 2), (2, 2), (-2, -1), (3, 3)], ids=str)
def test_flatten(start, end):
    compare(lambda x: x.flatten(start, end), lambda x: x.flatten(start, end), values((2, 3, 2, 2)))


def test_flatten_defaults_and_edge_shapes_like_torch():
    compare(lambda x: x.flatten(), lambda x: x.flatten(), values((2, 3, 2)))
    compare(lambda x: x.flatten(), lambda x: x.flatten(), values(()))
    compare(lambda x: x.flatten(1), lambda x: x.flatten(1), values((0, 3, 2)))
    assert tg.nn.Flatten()(tg.tensor(np.zeros((5, 2, 3)))).shape == (5, 6)     # nn.Flatten keeps start_dim=1


@pytest.mark.parametrize("shape,target", [((2, 3, 4), (6, 4)), ((2, 3, 4), (-1,)), ((2, 3, 4), (4, -1)), ((), (1, 1)),
                                          ((1,), ())], ids=str)
def test_view_and_reshape(shape, target):
    compare(lambda x: x.view(target), lambda x: x.view(target), values(shape))
    if target:
        compare(lambda x: x.view(*target), lambda x: x.view(*target), values(shape))
    compare(lambda x: x.reshape(target), lambda x: x.reshape(target), values(shape))


@pytest.mark.parametrize("shape,dim", [((1, 3, 1, 2), None), ((1, 3, 1, 2), 0), ((1, 3, 1, 2), 1), ((1, 3, 1, 2), -2),
                                       ((1, 3, 1, 2), (0, 2)), ((1, 1), None), ((), None), ((), 0)], ids=str)
def test_squeeze(shape, dim):
    if dim is None:
        compare(lambda x: x.squeeze(), lambda x: x.squeeze(), values(shape))
    else:
        compare(lambda x: x.squeeze(dim), lambda x: x.squeeze(dim), values(shape))


@pytest.mark.parametrize("shape,dim", [((2, 3), 0), ((2, 3), 1), ((2, 3), 2), ((2, 3), -1), ((2, 3), -3), ((), 0),
                                       ((), -1)], ids=str)
def test_unsqueeze(shape, dim):
    compare(lambda x: x.unsqueeze(dim), lambda x: x.unsqueeze(dim), values(shape))


@pytest.mark.parametrize("shape,size", [((3, 1), (3, 4)), ((3, 1), (2, 3, 4)), ((3, 1), (-1, 5)), ((1,), (0,)),
                                        ((), (2, 3)), ((2, 1, 1), (2, -1, 3)), ((2, 3), (2, 3))], ids=str)
def test_expand(shape, size):
    compare(lambda x: x.expand(*size), lambda x: x.expand(*size), values(shape))
    compare(lambda x, y: x.expand_as(y), lambda x, y: x.expand_as(y), values(shape), values(tuple(
        n if n != -1 else shape[i - (len(size) - len(shape))] for i, n in enumerate(size)), seed=3))


# ----------------------------------------------------------------------------- elementwise
ELEMENTWISE = {  # name: (tinygraph, torch, value range)
    "abs": (lambda x: x.abs(), torch.abs, (-2.0, 2.0)),
    "sqrt": (lambda x: x.sqrt(), torch.sqrt, (0.2, 3.0)),
    "sigmoid": (lambda x: x.sigmoid(), torch.sigmoid, (-4.0, 4.0)),
    "tanh": (lambda x: tg.tanh(x), torch.tanh, (-3.0, 3.0)),
    "clamp(-0.5, 0.7)": (lambda x: x.clamp(-0.5, 0.7), lambda x: x.clamp(-0.5, 0.7), (-2.0, 2.0)),
    "clamp(min=0.3)": (lambda x: x.clamp(min=0.3), lambda x: x.clamp(min=0.3), (-2.0, 2.0)),
    "clamp(max=-0.2)": (lambda x: tg.clamp(x, max=-0.2), lambda x: torch.clamp(x, max=-0.2), (-2.0, 2.0)),
    "clip(-1, 1)": (lambda x: x.clip(-1, 1), lambda x: x.clip(-1, 1), (-2.0, 2.0)),
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(), (1,), (5,), (2, 3), (2, 1, 3, 2), (0, 3)], ids=str)
@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_elementwise(name, shape, dtype):
    tinygraph_fn, torch_fn, (low, high) = ELEMENTWISE[name]
    compare(tinygraph_fn, torch_fn, values(shape, dtype, low, high))


def test_gradients_at_the_kinks_match_torch():
    """abs at 0 (0), clamp on its bounds (passes), sqrt at 0 (inf): as PyTorch, not a numerical choice."""
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    compare(lambda t: t.abs(), torch.abs, x)
    compare(lambda t: t.clamp(-0.5, 0.5), lambda t: t.clamp(-0.5, 0.5), x)
    compare(lambda t: t.sqrt(), torch.sqrt, np.array([0.0, 1.0, 4.0]))


def test_sigmoid_tanh_softmax_stay_finite_for_huge_inputs():
    x = np.array([[-800.0, 0.0, 800.0], [1e4, -1e4, 3.0]])
    compare(lambda t: t.sigmoid(), torch.sigmoid, x)
    compare(lambda t: t.tanh(), torch.tanh, x)
    compare(lambda t: t.softmax(1), lambda t: t.softmax(1), x)
    compare(lambda t: t.log_softmax(1), lambda t: t.log_softmax(1), x)
    compare(lambda t: t.logsumexp(1), lambda t: t.logsumexp(1), x)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,dim", [((3, 4), 1), ((3, 4), 0), ((3, 4), -1), ((2, 3, 4), 1), ((5,), 0), ((), 0),
                                       ((0, 3), 1), ((1, 1), 1)], ids=str)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_and_log_softmax(name, shape, dim, dtype):
    compare(lambda x: getattr(x, name)(dim), lambda x: getattr(x, name)(dim), values(shape, dtype, -3.0, 3.0))
    compare(lambda x: getattr(tg, name)(x, dim=dim), lambda x: getattr(torch, name)(x, dim=dim),
            values(shape, dtype, -3.0, 3.0, seed=4))


# ----------------------------------------------------------------------------- comparisons and conversions
COMPARISONS = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
               "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


@pytest.mark.parametrize("other", ["tensor", "broadcast", "scalar", "0-d"])
@pytest.mark.parametrize("symbol", list(COMPARISONS))
def test_comparisons_return_bool_tensors_without_gradient(symbol, other):
    x = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    y = {"tensor": np.array([[1.0, 0.0, 4.0], [3.0, 3.0, 0.0]]), "broadcast": np.array([2.0, 2.0, 1.0]),
         "scalar": 2.0, "0-d": np.array(2.0)}[other]
    a = tg.tensor(x, requires_grad=True)
    b = y if isinstance(y, float) else tg.tensor(y)
    ta = torch.tensor(x, requires_grad=True)
    tb = y if isinstance(y, float) else torch.tensor(y)
    result, expected = COMPARISONS[symbol](a, b), COMPARISONS[symbol](ta, tb)
    assert result.dtype == np.bool_ and not result.requires_grad and result.op is None
    np.testing.assert_array_equal(result.data, expected.numpy())


def test_conversions_like_torch():
    x = np.arange(6.0).reshape(2, 3)
    t, tt = tg.tensor(x), torch.tensor(x)
    assert t.tolist() == tt.tolist() and tg.tensor(2.5).tolist() == torch.tensor(2.5).tolist()
    assert float(t[1, 2]) == float(tt[1, 2]) and int(t[1, 2]) == int(tt[1, 2]) and t[0, 1].item() == tt[0, 1].item()
    assert np.asarray(t) is t.data and t.numpy() is t.data
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    assert len(t) == len(tt) == 2
    rows = list(t)
    assert [r.tolist() for r in rows] == [r.tolist() for r in tt]
    with pytest.raises(TypeError):
        len(tg.tensor(1.0))
    with pytest.raises(TypeError):
        iter(tg.tensor(1.0))
    assert {t: "by identity"}[t] == "by identity"


def test_iteration_gives_rows_with_gradients():
    compare(lambda x: tg.stack([row * (i + 1) for i, row in enumerate(x)]),
            lambda x: torch.stack([row * (i + 1) for i, row in enumerate(x)]), values((3, 2)))


# ----------------------------------------------------------------------------- refusals
def _pair(shape_or_value):
    array = np.ones(shape_or_value) if isinstance(shape_or_value, tuple) else np.asarray(shape_or_value)
    return tg.tensor(array), torch.tensor(array)


@pytest.mark.parametrize("index", [5, (0, 4), (slice(None), 7), [0, 3], (0, 0, 0)], ids=str)
def test_index_out_of_range(index):
    x, tx = _pair((3, 4))
    rejected("getitem", lambda: x[index], lambda: tx[index], errors=(IndexError,))
    with pytest.raises(tg.OpError):                  # an OpError too, naming op and argument
        x[index]


def test_bad_index_types():
    x, tx = _pair((3, 4))
    rejected("getitem", lambda: x[tg.tensor([0.5])], lambda: tx[torch.tensor([0.5])], errors=(IndexError,))
    rejected("getitem", lambda: x[np.array([True, False])], lambda: tx[torch.tensor([True, False])],
             errors=(IndexError,))


@pytest.mark.parametrize("shapes,dim", [([(2, 3), (3, 3)], 1), ([(2, 3), (2,)], 0), ([(2, 3), (2, 3)], 2),
                                        ([(), ()], 0), ([(3,)], 1)], ids=str)
def test_cat_bad_inputs(shapes, dim):
    pairs = [_pair(s) for s in shapes]
    rejected("cat", lambda: tg.cat([p[0] for p in pairs], dim), lambda: torch.cat([p[1] for p in pairs], dim))


def test_cat_and_stack_of_nothing_or_mismatched_shapes():
    rejected("cat", lambda: tg.cat([]), lambda: torch.cat([]))
    rejected("stack", lambda: tg.stack([]), lambda: torch.stack([]))
    (a, ta), (b, tb) = _pair((2, 3)), _pair((3, 2))
    rejected("stack", lambda: tg.stack([a, b]), lambda: torch.stack([ta, tb]))
    rejected("stack", lambda: tg.stack([a, a], 3), lambda: torch.stack([ta, ta], 3))


@pytest.mark.parametrize("name", ["amax", "amin", "logsumexp", "var", "std", "sum", "mean", "argmax", "argmin"])
@pytest.mark.parametrize("dim", [2, -3, (0, 0)], ids=str)
def test_reductions_bad_dims(name, dim):
    if name.startswith("arg") and isinstance(dim, tuple):
        return
    x, tx = _pair((2, 3))
    rejected(name, lambda: getattr(x, name)(dim), lambda: getattr(tx, name)(dim))


@pytest.mark.parametrize("name", ["amax", "amin", "argmax", "argmin", "max", "min"])
def test_extremes_of_an_empty_dim(name):
    x, tx = _pair((0, 3))
    if name in ("max", "min"):
        rejected("arg" + name, lambda: getattr(x, name)(0), lambda: getattr(tx, name)(0))
    else:
        rejected(name, lambda: getattr(x, name)(0), lambda: getattr(tx, name)(0))


@pytest.mark.parametrize("call", ["transpose(0, 2)", "transpose(-3, 0)", "unsqueeze(3)", "unsqueeze(-4)",
                                  "squeeze(2)", "flatten(2)", "flatten(1, 0)", "softmax(2)", "log_softmax(-3)",
                                  "expand(3, 3)", "expand(4)", "expand(-1, 2, 3)", "view(4, 2)", "permute(0, 0)",
                                  "permute(0,)"])
def test_shape_methods_bad_arguments(call):
    x, tx = _pair((2, 3))
    name = {"view": "reshape", "permute": "transpose"}.get(call.split("(")[0], call.split("(")[0])
    rejected(name, lambda: eval(f"x.{call}", {"x": x}), lambda: eval(f"x.{call}", {"x": tx}))


def test_where_needs_a_bool_condition_and_clamp_a_bound():
    x, tx = _pair((2, 3))
    rejected("where", lambda: tg.where(x, x, x), lambda: torch.where(tx, tx, tx))
    rejected("clamp", lambda: x.clamp(), lambda: tx.clamp())
    (y, ty) = _pair((4,))
    rejected("where", lambda: tg.where(x > 0, x, y), lambda: torch.where(tx > 0, tx, ty))
    rejected("maximum", lambda: tg.maximum(x, y), lambda: torch.maximum(tx, ty))


def test_report_worst_differences():
    """Not a check: prints the largest |tinygraph − PyTorch| per dtype seen by the tests above (run with -s)."""
    print("\nlargest |tinygraph − PyTorch| per dtype:", {k: f"{v:.2e}" for k, v in sorted(WORST.items())})
