"""Issue 18, op-level silent failures (items 2-6, 9), one test each against PyTorch; every one failed before its fix."""
from __future__ import annotations

import numpy as np
import pytest

import tinygraph as tg
import tinygraph.functional as F
from torch_required import require_torch

torch = require_torch(__file__)
TF = torch.nn.functional


def grads_of(fn_tg, fn_torch, *values, dtype=np.float64):
    """Gradients of fn(x...).sum() for each input, from tinygraph and from PyTorch (as NumPy arrays)."""
    xs = [tg.tensor(np.asarray(v, dtype=dtype), requires_grad=True) for v in values]
    ts = [torch.tensor(np.asarray(v, dtype=dtype), requires_grad=True) for v in values]
    fn_tg(*xs).sum().backward()
    fn_torch(*ts).sum().backward()
    return [x.grad for x in xs], [t.grad.numpy() for t in ts]


def assert_same_grads(fn_tg, fn_torch, *values, dtype=np.float64):
    ours, theirs = grads_of(fn_tg, fn_torch, *values, dtype=dtype)
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-6, equal_nan=True)


# ------------------------------------------------------------------ 3. a rule that routes a gradient selects it

SIGNS = [-1.0, 0.0, 2.0, 3.0, np.nan]


@pytest.mark.parametrize("ours, theirs", [
    (lambda x: x.relu().sqrt(), lambda x: x.relu().sqrt()),
    (lambda x: x.clamp(min=0).sqrt(), lambda x: x.clamp(min=0).sqrt()),
    (lambda x: x.clamp(max=0).neg().sqrt(), lambda x: x.clamp(max=0).neg().sqrt()),
    (lambda x: tg.maximum(x, 0.0).sqrt(), lambda x: torch.maximum(x, torch.zeros((), dtype=x.dtype)).sqrt()),
    (lambda x: tg.maximum(0.0, x).sqrt(), lambda x: torch.maximum(torch.zeros((), dtype=x.dtype), x).sqrt()),
    (lambda x: (-tg.minimum(x, 0.0)).sqrt(), lambda x: (-torch.minimum(x, torch.zeros((), dtype=x.dtype))).sqrt()),
    (lambda x: (-tg.minimum(0.0, x)).sqrt(), lambda x: (-torch.minimum(torch.zeros((), dtype=x.dtype), x)).sqrt()),
    (lambda x: tg.where(x > 0, x, -1.0).sqrt(), lambda x: torch.where(x > 0, x, -1.0).sqrt()),
    (lambda x: (x.abs() * 0).sqrt(), lambda x: (x.abs() * 0).sqrt()),                 # PyTorch multiplies here
], ids=["relu", "clamp min", "clamp max", "maximum", "maximum (scalar first)", "minimum",
        "minimum (scalar first)", "where", "abs"])
def test_a_masked_off_element_gets_pytorchs_gradient_whatever_arrives(ours, theirs):
    with np.errstate(invalid="ignore", divide="ignore"):
        assert_same_grads(ours, theirs, SIGNS)


def test_maximum_of_two_tensors_routes_nan_and_ties_as_pytorch():
    a, b = [1.0, 2.0, np.nan, 3.0, 0.0], [2.0, 2.0, 1.0, np.nan, -1.0]
    with np.errstate(invalid="ignore", divide="ignore"):
        for ours, theirs in ((tg.maximum, torch.maximum), (tg.minimum, torch.minimum)):
            assert_same_grads(lambda x, y: ours(x, y) * np.array([1, np.inf, 1, 1, 1]),
                              lambda x, y: theirs(x, y) * torch.tensor([1, np.inf, 1, 1, 1]), a, b)


@pytest.mark.parametrize("options", [{}, {"stride": 1}, {"padding": 1}], ids=["2x2 blocks", "overlapping", "padded"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_maxpool_sends_a_nan_gradient_to_the_window_maximum_only(options, dtype):
    x = np.array([[[[1., -2, -3, -4], [-5, -6, -7, 8], [0, 1, 2, 3], [4, 5, -6, 7]]]])
    with np.errstate(invalid="ignore", divide="ignore"):
        assert_same_grads(lambda x: (F.max_pool2d(x, 2, **options) - 1.5).sqrt(),
                          lambda x: (TF.max_pool2d(x, 2, **options) - 1.5).sqrt(), x, dtype=dtype)


# ------------------------------------------------------------------ 5. dtype rules and tensor exponents

@pytest.mark.parametrize("exponent", [0.5, 1.5, -1.0, 2, 0])
def test_an_integer_tensor_to_a_power_keeps_the_exponent(exponent):
    ours = (tg.tensor([4, 9, 2]) ** exponent).data
    theirs = (torch.tensor([4, 9, 2]) ** exponent).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    # floating exactly when PyTorch's is (its default float is float32, tinygraph's float64)
    assert ours.dtype.kind == theirs.dtype.kind


def test_integers_to_a_negative_integer_power_raise_naming_pow():
    with pytest.raises(RuntimeError, match="Integers to negative integer powers"):
        torch.tensor([4, 9, 2]) ** -1
    with pytest.raises(tg.OpError, match="negative integer powers") as caught:
        tg.tensor([4, 9, 2]) ** -1
    assert caught.value.op == "pow" and caught.value.argument == "exponent"


X_VALUES, Y_VALUES = [0.0, 0.0, 0.0, 2.0, -2.0, 0.0, 1.5], [2.0, 0.0, -1.0, 0.5, 2.0, 0.5, -0.5]


@pytest.mark.parametrize("ours, theirs", [
    (lambda x, y: x ** y, lambda x, y: x ** y),
    (lambda x, y: tg.pow(x, y), lambda x, y: torch.pow(x, y)),
    (lambda x, y: x.pow(y), lambda x, y: x.pow(y)),
    (lambda x, y: x ** y[3], lambda x, y: x ** y[3]),                     # a 0-d tensor exponent broadcasts
    (lambda x, y: x[3:4] ** y, lambda x, y: x[3:4] ** y),                 # and so does a one-element base
], ids=["x ** y", "tg.pow", "x.pow(y)", "0-d exponent", "broadcast base"])
def test_a_tensor_exponent_gets_its_gradient_as_in_pytorch(ours, theirs):
    with np.errstate(invalid="ignore", divide="ignore"):
        assert_same_grads(ours, theirs, X_VALUES, Y_VALUES)


@pytest.mark.parametrize("base", [2.0, 0.0, -2.0, 0.5])
def test_a_number_to_a_tensor_power_differentiates_the_exponent(base):
    with np.errstate(invalid="ignore", divide="ignore"):
        assert_same_grads(lambda y: base ** y, lambda y: base ** y, Y_VALUES)


def test_tensor_exponents_keep_pytorchs_float_promotion():
    x32 = tg.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    y64 = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    out = x32 ** y64
    assert out.dtype == (torch.ones(2) ** torch.ones(2, dtype=torch.float64)).numpy().dtype
    out.sum().backward()
    assert x32.grad.dtype == np.float32 and y64.grad.dtype == np.float64
    assert (x32 ** 2.0).dtype == np.float32 and (2.0 ** x32).dtype == np.float32


@pytest.mark.parametrize("bounds", [{"min": np.float64(1e-8)}, {"max": np.float64(0.5)},
                                    {"min": np.array(-1.0), "max": np.float16(0.5)}])
def test_numpy_scalar_bounds_of_clamp_are_weak(bounds):
    x = tg.tensor(np.array([-2.0, 0.25, 3.0], np.float32), requires_grad=True)
    out = x.clamp(**bounds)
    expected = torch.tensor(x.data).clamp(**{k: float(v) for k, v in bounds.items()})
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.data, expected.numpy())
    out.sum().backward()
    assert x.grad.dtype == np.float32


# ------------------------------------------------------------------ 2. what a rule keeps cannot change under it

def index_grads(make_index, change):
    """x[index] then `change(index)` before backward: the gradient of tinygraph and of PyTorch on the forward's index."""
    x = tg.tensor(np.arange(5.0), requires_grad=True)
    index = make_index()
    y = x[index]
    change(index)
    (y * tg.tensor([1.0, 10.0])).sum().backward()
    t = torch.arange(5.0, requires_grad=True)
    (t[torch.tensor([0, 2])] * torch.tensor([1.0, 10.0])).sum().backward()
    return x.grad, t.grad.numpy()


def test_a_numpy_index_refilled_before_backward_does_not_move_the_gradient():
    def refill(index):
        index[:] = [3, 3]
    ours, theirs = index_grads(lambda: np.array([0, 2]), refill)
    np.testing.assert_array_equal(ours, theirs)


def test_an_index_tensor_changed_under_no_grad_does_not_move_the_gradient():
    def refill(index):
        with tg.no_grad():
            index.data[:] = [3, 3]          # the array behind the tensor, as code that reuses a buffer would
    ours, theirs = index_grads(lambda: tg.tensor([0, 2]), refill)
    np.testing.assert_array_equal(ours, theirs)


def test_a_boolean_mask_refilled_before_backward_does_not_move_the_gradient():
    x = tg.tensor(np.arange(4.0), requires_grad=True)
    mask = np.array([True, False, True, False])
    y = x[mask]
    mask[:] = [False, True, False, True]
    y.sum().backward()
    t = torch.arange(4.0, requires_grad=True)
    t[torch.tensor([True, False, True, False])].sum().backward()
    np.testing.assert_array_equal(x.grad, t.grad.numpy())


def test_a_class_weight_array_refilled_before_backward_does_not_change_the_gradient():
    logits, labels = np.random.default_rng(0).standard_normal((4, 3)), np.array([0, 2, 1, 2])
    for loss, torch_loss, make_input in ((F.cross_entropy, TF.cross_entropy, lambda s: s),
                                         (F.nll_loss, TF.nll_loss, lambda s: s.log_softmax(1))):
        weight = np.array([1.0, 2.0, 3.0])
        s = tg.tensor(logits, requires_grad=True)
        out = loss(make_input(s), labels, weight=weight)
        weight[:] = 100.0
        out.backward()
        ts = torch.tensor(logits, requires_grad=True)
        torch_loss(make_input(ts), torch.tensor(labels), weight=torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).backward()
        np.testing.assert_allclose(s.grad, ts.grad.numpy(), rtol=1e-10)


def test_a_where_mask_and_probability_target_refilled_before_backward_change_nothing():
    rng = np.random.default_rng(1)
    logits, probs = rng.standard_normal((2, 3)), np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]])
    condition = np.array([[True, False, True], [False, True, True]])
    s = tg.tensor(logits, requires_grad=True)
    out = F.cross_entropy(tg.where(condition, s, 0.0), probs)
    probs[:], condition[:] = 1 / 3, False
    out.backward()
    ts = torch.tensor(logits, requires_grad=True)
    TF.cross_entropy(torch.where(torch.tensor([[True, False, True], [False, True, True]]), ts, 0.0),
                     torch.tensor([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]], dtype=torch.float64)).backward()
    np.testing.assert_allclose(s.grad, ts.grad.numpy(), rtol=1e-10)
