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


# ------------------------------------------------------------------ 6. an input that requires grad gets one, or the call raises

def recorded_calls():
    """(op, input arrays, attrs) of every op application in the gradcheck table's graphs, walked through grad_fn."""
    from cases import CASES
    calls = []
    for case in CASES:
        out = case.fn(*case.make(np.random.default_rng(0)))
        stack, seen = [out], set()
        while stack:
            node = stack.pop().grad_fn
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            calls.append((case.id, node.op, [None if t is None else t.data for t in node.inputs], node.attrs))
            stack.extend(t for t in node.inputs if t is not None)
    return calls


def test_every_floating_input_that_requires_grad_gets_a_gradient_or_the_call_raises():
    silent = []
    for case_id, op, arrays, attrs in recorded_calls():
        leaves = [tg.tensor(a.copy(), requires_grad=True) if a is not None and a.dtype.kind == "f" else a
                  for a in arrays]
        try:
            out = tg.op.apply(op, *leaves, **attrs)
            if out.dtype.kind != "f":
                continue
            out.backward(np.ones(out.shape, out.dtype))
        except (tg.OpError, RuntimeError) as error:
            assert op.name in str(error), f"{case_id}: {op.name} raised without naming itself: {error}"
            continue
        for name, leaf in zip(op.arg_names, leaves):
            if isinstance(leaf, tg.Tensor) and leaf.grad is None:
                silent.append(f"{case_id}: {op.name}'s input {name!r} requires grad and got none")
    assert not silent, "\n".join(sorted(set(silent)))


@pytest.mark.parametrize("shape", [(4, 3), (3,), (2, 3, 2, 2)], ids=["rows", "one sample", "N-d"])
@pytest.mark.parametrize("options", [{}, {"reduction": "sum"}, {"reduction": "none"}, {"label_smoothing": 0.2},
                                     {"weight": [0.5, 2.0, 1.0]}], ids=["mean", "sum", "none", "smoothing", "weight"])
def test_a_probability_target_that_requires_grad_gets_pytorchs_gradient(shape, options):
    rng = np.random.default_rng(0)
    student, teacher = rng.standard_normal(shape), rng.standard_normal(shape)
    class_axis = 0 if len(shape) == 1 else 1
    weight = options.pop("weight", None)

    def ours(s, t):
        w = None if weight is None else tg.tensor(np.array(weight), requires_grad=True)
        return F.cross_entropy(s, t.softmax(class_axis), weight=w, **options)

    def theirs(s, t):
        w = None if weight is None else torch.tensor(weight, dtype=torch.float64, requires_grad=True)
        return TF.cross_entropy(s, t.softmax(class_axis), weight=w, **options)
    assert_same_grads(ours, theirs, student, teacher)


def test_a_class_weight_that_requires_grad_is_differentiated_with_probabilities():
    rng = np.random.default_rng(1)
    logits, probs = rng.standard_normal((4, 3)), rng.dirichlet(np.ones(3), size=4)
    w = tg.tensor([0.5, 2.0, 1.0], requires_grad=True)
    F.cross_entropy(tg.tensor(logits), probs, weight=w, label_smoothing=0.1).backward()
    tw = torch.tensor([0.5, 2.0, 1.0], dtype=torch.float64, requires_grad=True)
    TF.cross_entropy(torch.tensor(logits), torch.tensor(probs), weight=tw, label_smoothing=0.1).backward()
    np.testing.assert_allclose(w.grad, tw.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("ours, theirs, argument", [
    (lambda s, w: F.cross_entropy(s, np.array([0, 2]), weight=w),
     lambda s, w: TF.cross_entropy(s, torch.tensor([0, 2]), weight=w), "weight"),
    (lambda s, w: F.nll_loss(s, np.array([0, 2]), weight=w),
     lambda s, w: TF.nll_loss(s, torch.tensor([0, 2]), weight=w), "weight"),
    (lambda s, w: F.batch_norm(s, w, tg.tensor(np.ones(3))),
     lambda s, w: TF.batch_norm(s, w, torch.ones(3, dtype=torch.float64)), "running_mean"),
], ids=["cross_entropy labels", "nll_loss", "batch_norm running_mean"])
def test_an_input_pytorch_cannot_differentiate_is_refused_when_it_requires_grad(ours, theirs, argument):
    s = np.random.default_rng(2).standard_normal((2, 3))
    w = np.array([0.5, 2.0, 1.0])
    with pytest.raises(RuntimeError, match="not differentiable"):
        theirs(torch.tensor(s, requires_grad=True), torch.tensor(w, requires_grad=True))
    with pytest.raises(tg.OpError, match="not differentiable") as caught:
        ours(tg.tensor(s, requires_grad=True), tg.tensor(w, requires_grad=True))
    assert caught.value.argument == argument
    with tg.no_grad():                               # as in PyTorch, no gradient is asked for: no error
        ours(tg.tensor(s, requires_grad=True), tg.tensor(w, requires_grad=True))


# ------------------------------------------------------------------ 4. float16 accumulates in float32, as PyTorch's CPU kernels

def assert_float16_like_torch(ours, theirs, *values, rtol=4e-3):
    """A float16 computation in tinygraph against PyTorch's: values against its float16 kernels (which
    accumulate in float32), gradients against its float32 ones rounded to float16 (its float16 backward
    rounds intermediate steps, 2/(n − 1) times a small gradient is subnormal, so it is the less accurate)."""
    xs = [tg.tensor(np.asarray(v, np.float16), requires_grad=True) for v in values]
    out, expected = ours(*xs), theirs(*[torch.tensor(np.asarray(v, np.float16)) for v in values])
    assert out.dtype == np.float16 and expected.dtype == torch.float16
    np.testing.assert_allclose(out.data.astype(np.float64), expected.double().numpy(), rtol=rtol, atol=1e-3)
    out.sum().backward()
    ts = [torch.tensor(np.asarray(v, np.float16).astype(np.float32), requires_grad=True) for v in values]
    theirs(*ts).sum().backward()
    for x, t in zip(xs, ts):
        assert x.grad.dtype == np.float16
        reference = t.grad.half().double().numpy()
        scale = max(float(np.abs(reference).max()), 1e-30)
        np.testing.assert_allclose(np.asarray(x.grad, np.float64) / scale, reference / scale, atol=2 * rtol)


BIG = np.random.default_rng(3).standard_normal(70_000) * 3 + 100        # more elements than float16's max
ROWS = np.random.default_rng(4).standard_normal((3, 2, 70_000))


@pytest.mark.parametrize("ours, theirs, values", [
    (lambda x: x.mean(), lambda x: x.mean(), (BIG,)),
    (lambda x: x.mean(dim=2), lambda x: x.mean(dim=2), (ROWS,)),
    (lambda x: x.sum() / 1000, lambda x: x.sum() / 1000, (BIG / 1000,)),
    (lambda x: x.var(), lambda x: x.var(), (BIG,)),
    (lambda x: x.std(dim=2), lambda x: x.std(dim=2), (ROWS * 100,)),
    (lambda x: x.var(dim=(0, 2), correction=0), lambda x: x.var(dim=(0, 2), correction=0), (ROWS * 100,)),
    (lambda x, y: F.mse_loss(x, y), lambda x, y: TF.mse_loss(x, y), (BIG, BIG * 0)),
    (lambda x, y: F.mse_loss(x, y, reduction="sum"), lambda x, y: TF.mse_loss(x, y, reduction="sum"),
     (BIG / 1000, BIG * 0)),
    (lambda x: x.logsumexp(2), lambda x: x.logsumexp(2), (ROWS,)),
    (lambda x: x.softmax(2) * x, lambda x: x.softmax(2) * x, (ROWS[:, :, :100],)),
    (lambda x: x.log_softmax(2) * x, lambda x: x.log_softmax(2) * x, (ROWS[:, :, :100],)),
], ids=["mean", "mean(dim)", "sum", "var", "std(dim)", "var(dims)", "mse_loss", "mse_loss sum", "logsumexp",
        "softmax", "log_softmax"])
def test_float16_reductions_accumulate_in_float32(ours, theirs, values):
    assert_float16_like_torch(ours, theirs, *values)


@pytest.mark.parametrize("training", [True, False])
def test_float16_batch_norm_computes_its_statistics_in_float32(training):
    x = (np.random.default_rng(5).standard_normal((300, 2, 16, 16)) * 30 + 50).astype(np.float16)
    running = [np.full(2, 50, np.float16), np.full(2, 900, np.float16)]
    ours_stats = [a.copy() for a in running]
    gamma, beta = np.array([1.5, 0.5]), np.array([0.1, -0.2])
    pattern = np.random.default_rng(6).standard_normal(x.shape).astype(np.float16)   # δy: not the same everywhere
    assert_float16_like_torch(
        lambda x, g, b: F.batch_norm(x, *ours_stats, g, b, training=training) * pattern,
        lambda x, g, b: TF.batch_norm(x, *[torch.tensor(a).to(x.dtype) for a in running], g, b,
                                      training=training) * torch.tensor(pattern),
        x, gamma, beta)
    theirs_stats = [torch.tensor(a) for a in running]
    TF.batch_norm(torch.tensor(x), *theirs_stats, training=training)
    for ours, theirs in zip(ours_stats, theirs_stats):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=2e-3)


@pytest.mark.parametrize("scale", [1.0, 1000.0], ids=["norm 316", "norm past float16's max"])
def test_clip_grad_norm_of_float16_gradients_as_pytorch(scale):
    gradient = np.full(100_000, scale, np.float16)
    p = tg.tensor(np.zeros(100_000, np.float16), requires_grad=True)
    p.grad = gradient.copy()
    t = torch.zeros(100_000, dtype=torch.float16, requires_grad=True)
    t.grad = torch.tensor(gradient)
    total = tg.nn.utils.clip_grad_norm_([p], 1.0)
    expected = torch.nn.utils.clip_grad_norm_([t], 1.0)
    assert total.dtype == np.float16
    np.testing.assert_allclose(total.data.astype(np.float64), expected.double().numpy(), rtol=1e-3)
    np.testing.assert_allclose(np.asarray(p.grad, np.float64), t.grad.double().numpy(), rtol=1e-3)


def test_a_float16_softmax_is_a_probability_target():
    rng = np.random.default_rng(6)
    logits, teacher = rng.standard_normal((64, 5)), rng.standard_normal((64, 5))
    assert_float16_like_torch(lambda s, t: F.cross_entropy(s, t.softmax(1)),
                              lambda s, t: TF.cross_entropy(s, t.softmax(1)), logits, teacher)


# ------------------------------------------------------------------ 9. empty and 0-d edges

@pytest.mark.parametrize("index", [
    lambda labels: (labels[0], slice(None), [0, 2, 1]),
    lambda labels: (slice(None), labels[1], [0, 2]),
    lambda labels: (labels[0], [2, 0], labels[1]),
    lambda labels: (labels[0],),
], ids=["0-d, slice, list", "slice, 0-d, list", "0-d, list, 0-d", "0-d alone"])
def test_a_0d_integer_tensor_index_reads_as_an_integer_as_in_pytorch(index):
    values = np.arange(24.0).reshape(2, 3, 4)
    x = tg.tensor(values, requires_grad=True)
    t = torch.tensor(values, requires_grad=True)
    ours, theirs = x[index(tg.tensor([1, 0]))], t[index(torch.tensor([1, 0]))]
    np.testing.assert_array_equal(ours.data, theirs.detach().numpy())
    weights = np.arange(ours.data.size, dtype=np.float64).reshape(ours.shape)
    (ours * weights).sum().backward()
    (theirs * torch.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(x.grad, t.grad.numpy())


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_of_an_empty_batch_as_pytorch(training):
    running = (np.zeros(3), np.ones(3))
    ours_stats, theirs_stats = [a.copy() for a in running], [torch.tensor(a) for a in running]
    assert_same_grads(lambda x, w, b: F.batch_norm(x, *ours_stats, w, b, training=training),
                      lambda x, w, b: TF.batch_norm(x, *theirs_stats, w, b, training=training),
                      np.zeros((0, 3, 2)), np.ones(3), np.zeros(3))
    for ours, theirs in zip(ours_stats, theirs_stats):
        np.testing.assert_array_equal(ours, theirs.numpy())


def test_batch_norm_refuses_one_value_per_channel_when_training_as_pytorch():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        TF.batch_norm(torch.zeros(1, 3), None, None, training=True)
    with pytest.raises(tg.OpError, match="more than one value per channel"):
        F.batch_norm(tg.tensor(np.zeros((1, 3))), None, None, training=True)


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0)])
@pytest.mark.parametrize("dim", [None, 0, 1, -1])
def test_logsumexp_of_an_empty_input_has_pytorchs_value_and_gradient(shape, dim):
    kwargs = {} if dim is None else {"dim": dim}
    theirs_kwargs = {"dim": tuple(range(len(shape)))} if dim is None else {"dim": dim}
    x = tg.tensor(np.zeros(shape), requires_grad=True)
    t = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    ours, theirs = x.logsumexp(**kwargs), t.logsumexp(**theirs_kwargs)
    np.testing.assert_array_equal(ours.data, theirs.detach().numpy())
    ours.sum().backward()
    theirs.sum().backward()
    np.testing.assert_array_equal(x.grad, t.grad.numpy())


@pytest.mark.parametrize("target", ["labels", "probabilities"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_of_an_empty_batch_as_pytorch(target, reduction):
    made = np.zeros(0, np.int64) if target == "labels" else np.zeros((0, 3))
    s = tg.tensor(np.zeros((0, 3)), requires_grad=True)
    ts = torch.zeros((0, 3), dtype=torch.float64, requires_grad=True)
    ours, theirs = F.cross_entropy(s, made, reduction=reduction), TF.cross_entropy(ts, torch.tensor(made), reduction=reduction)
    np.testing.assert_array_equal(ours.data, theirs.detach().numpy())
    ours.sum().backward()
    theirs.sum().backward()
    np.testing.assert_array_equal(s.grad, ts.grad.numpy())


@pytest.mark.parametrize("length", [70_000, 300])
def test_any_string_is_a_checkpoint_key_as_in_torch_save(tmp_path, length):
    long_key, other = "w" * length, "w" * (length - 1) + "/"          # the same member name, cut short
    state = {long_key: np.arange(3.0), other: {"é" * length: np.ones(2, np.float32)}, "n": 1}
    torch.save({k: v for k, v in state.items()}, tmp_path / "torch.pt")
    assert list(torch.load(tmp_path / "torch.pt", weights_only=False)) == list(state)
    tg.save(tmp_path / "ckpt.npz", state)
    loaded = tg.load(tmp_path / "ckpt.npz")
    assert list(loaded) == list(state) and list(loaded[other]) == list(state[other])
    np.testing.assert_array_equal(loaded[long_key], state[long_key])
    np.testing.assert_array_equal(loaded[other]["é" * length], state[other]["é" * length])


@pytest.mark.parametrize("op", ["var", "std"])
@pytest.mark.parametrize("dim", [None, -1])
def test_float32_var_and_std_of_large_values_accumulate_in_float64_as_pytorch(op, dim):
    values = np.random.default_rng(7).uniform(-1, 1, (3, 5)).astype(np.float32) * np.float32(4e37)
    kwargs = {} if dim is None else {"dim": dim}
    x = tg.tensor(values, requires_grad=True)
    t = torch.tensor(values, requires_grad=True)
    ours, theirs = getattr(x, op)(**kwargs), getattr(t, op)(**kwargs)
    assert ours.dtype == np.float32 and np.isfinite(ours.data).all() == torch.isfinite(theirs).all().item()
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-5)
    ours.sum().backward()
    theirs.sum().backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-4, atol=1e-45)


@pytest.mark.parametrize("options", [{"kernel_size": 3, "stride": 2, "padding": 1}, {"kernel_size": 3, "stride": 1},
                                     {"kernel_size": 2}, {"kernel_size": (2, 3), "dilation": 2}],
                         ids=["3x3 padded", "3x3 overlapping", "2x2 blocks", "dilated"])
def test_maxpool_routes_a_window_of_several_nans_to_the_last_as_pytorch(options):
    x = np.random.default_rng(8).standard_normal((2, 1, 5, 6))
    x[0, 0, 1, 1] = x[0, 0, 2, 2] = x[0, 0, 0, 3] = x[1, 0, 2, 3] = x[1, 0, 3, 2] = np.nan
    weights = np.random.default_rng(9).uniform(1, 2, TF.max_pool2d(torch.tensor(x), **options).shape)
    assert_same_grads(lambda x: F.max_pool2d(x, **options) * weights,
                      lambda x: TF.max_pool2d(x, **options) * torch.tensor(weights), x)


@pytest.mark.parametrize("target", ["labels", "probabilities"])
def test_cross_entropy_under_an_infinite_upstream_gradient_as_pytorch(target):
    logits = np.array([[np.inf, 1.0, 0.5], [-np.inf, 1.0, 2.0], [0.5, -1.0, 2.0]])
    made = np.array([1, 0, 2]) if target == "labels" else np.array([[0.2, 0.3, 0.5]] * 3)
    upstream = np.array([np.inf, 1.0, -np.inf])
    with np.errstate(invalid="ignore"):
        assert_same_grads(lambda s: F.cross_entropy(s, made, reduction="none") * upstream,
                          lambda s: TF.cross_entropy(s, torch.tensor(made), reduction="none") * torch.tensor(upstream),
                          logits)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("loss", ["softmax_xent labels", "softmax_xent probabilities", "nll_loss"])
def test_one_unbatched_sample_with_a_0d_label_as_pytorch(loss, reduction):
    logits = np.array([0.5, -1.0, 2.0])
    label, probs = np.array(2), np.array([0.2, 0.3, 0.5])

    def ours(s):
        if loss == "nll_loss":
            return tg.nll_loss(s.log_softmax(0), label, reduction=reduction)
        return tg.softmax_xent(s, label if loss.endswith("labels") else probs, reduction=reduction)

    def theirs(s):
        if loss == "nll_loss":
            return TF.nll_loss(s.log_softmax(0), torch.tensor(label), reduction=reduction)
        return TF.cross_entropy(s, torch.tensor(label if loss.endswith("labels") else probs), reduction=reduction)
    assert ours(tg.tensor(logits)).shape == tuple(theirs(torch.tensor(logits)).shape) == ()
    assert_same_grads(ours, theirs, logits)


@pytest.mark.parametrize("ours, theirs", [
    (lambda x: x.amax(1) * np.inf, lambda x: x.amax(1) * np.inf),
    (lambda x: x.amin(0) * np.nan, lambda x: x.amin(0) * np.nan),
    (lambda x: x.max(1).values * np.inf, lambda x: x.max(1).values * np.inf),
    (lambda x: x[0] * np.inf, lambda x: x[0] * np.inf),
    (lambda x: x[np.array([[True, False], [False, True]])] * np.nan,
     lambda x: x[torch.tensor([[True, False], [False, True]])] * np.nan),
    (lambda x: x.abs() * np.inf, lambda x: x.abs() * np.inf),
], ids=["amax", "amin", "max(dim)", "getitem", "boolean mask", "abs at 0"])
def test_every_other_routing_rule_treats_inf_and_nan_as_pytorch(ours, theirs):
    """The audit of item 3: amax/amin and abs multiply by their mask in PyTorch too (a NaN reaches the
    other elements), indexing selects; each matches PyTorch exactly."""
    with np.errstate(invalid="ignore"):
        assert_same_grads(ours, theirs, [[1.0, 0.0], [-2.0, 3.0]])
