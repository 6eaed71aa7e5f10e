"""The ops' contracts beyond gradcheck: maxpool's tie rule, dtypes, stable softmax, clear errors."""
import numpy as np
import pytest

import tinygraph as tg
from cases import CASES


def pool_gradient(x, grad_out, **options):
    """dL/dx through maxpool for L = Σ grad_out ⊙ maxpool(x)."""
    x = tg.tensor(np.asarray(x, dtype=np.float64)[np.newaxis, np.newaxis], requires_grad=True)
    tg.maxpool(x, **options).backward(np.asarray(grad_out, dtype=np.float64)[np.newaxis, np.newaxis])
    return x.grad[0, 0]


# ------------------------------------------------------------------ maxpool: (i*, j*) on ties

def test_maxpool_ties_send_the_gradient_to_the_first_maximum_of_each_window():
    A = [[5, 5, 1, 3],
         [5, 5, 3, 3],
         [0, 0, 0, 0],      # the lower-right block is all zeros, as after ReLU
         [4, 4, 0, 0]]
    grad = pool_gradient(A, [[1, 2], [3, 4]])
    expected = [[1, 0, 0, 2],
                [0, 0, 0, 0],
                [0, 0, 4, 0],
                [3, 0, 0, 0]]
    np.testing.assert_array_equal(grad, expected)


def test_maxpool_overlapping_windows_accumulate_on_a_shared_maximum():
    A = [[0, 0, 0],
         [0, 9, 0],
         [0, 0, 0]]
    grad = pool_gradient(A, [[1, 2], [3, 4]], size=2, stride=1)
    np.testing.assert_array_equal(grad, [[0, 0, 0], [0, 10, 0], [0, 0, 0]])


def test_maxpool_overlapping_windows_with_ties_each_pick_their_own_first_maximum():
    A = np.full((3, 3), 7.0)
    grad = pool_gradient(A, [[1, 2], [3, 4]], size=2, stride=1)
    np.testing.assert_array_equal(grad, [[1, 2, 0], [3, 4, 0], [0, 0, 0]])


def test_maxpool_after_relu_puts_exactly_one_gradient_per_window():
    rng = np.random.default_rng(0)
    Z = tg.tensor(np.round(rng.standard_normal((2, 3, 8, 6))), requires_grad=True)   # many ties, many zeros
    A = tg.relu(Z).named("A")
    A.retain_grad()
    P = tg.maxpool(A, size=2)
    P.backward(np.ones(P.shape))
    per_window = (A.grad != 0).reshape(2, 3, 4, 2, 3, 2).sum(axis=(3, 5))
    np.testing.assert_array_equal(per_window, np.ones((2, 3, 4, 3)))


def test_maxpool_drops_trailing_rows_and_columns():
    x = np.arange(5 * 7, dtype=np.float64).reshape(5, 7)
    out = tg.maxpool(tg.tensor(x[np.newaxis, np.newaxis]), size=2).data[0, 0]
    np.testing.assert_array_equal(out, [[8, 10, 12], [22, 24, 26]])
    grad = pool_gradient(x, np.ones((2, 3)))
    assert grad[4].sum() == 0 and grad[:, 6].sum() == 0


# ------------------------------------------------------------------ relu: 1[Z > 0], so 0 at Z = 0

def test_relu_passes_no_gradient_at_exactly_zero():
    Z = tg.tensor([-2.0, 0.0, 3.0], requires_grad=True)
    tg.relu(Z).backward(np.array([5.0, 5.0, 5.0]))
    np.testing.assert_array_equal(Z.grad, [0.0, 0.0, 5.0])


# ------------------------------------------------------------------ conv2d output size and first layer

@pytest.mark.parametrize("stride, padding, expected", [(1, 0, (5, 4)), (2, 1, (4, 3)), ((3, 1), (2, 0), (3, 4))])
def test_conv2d_output_size(stride, padding, expected):
    # Ho = (H + 2·pad − KH) // stride + 1 with H, W = 7, 6 and a 3×3 kernel.
    out = tg.conv2d(np.zeros((2, 3, 7, 6)), np.zeros((4, 3, 3, 3)), stride=stride, padding=padding)
    assert out.shape == (2, 4) + expected


def test_conv2d_leaves_no_gradient_on_an_input_that_needs_none():
    x = tg.tensor(np.ones((1, 2, 4, 4)))
    w = tg.tensor(np.ones((3, 2, 3, 3)), requires_grad=True)
    tg.conv2d(x, w).sum().backward()
    assert x.grad is None
    np.testing.assert_array_equal(w.grad, np.full((3, 2, 3, 3), 4.0))   # each weight meets 2×2 positions of ones


# ------------------------------------------------------------------ dtypes: float32 stays float32

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_every_op_keeps_the_floating_dtype(case, dtype):
    args = [tg.tensor(a.data.astype(dtype), requires_grad=a.requires_grad)
            if isinstance(a, tg.Tensor) and a.dtype.kind == "f" else a
            for a in case.make(np.random.default_rng(0))]
    out = case.fn(*args)
    assert out.dtype == dtype, f"{case.id}: {np.dtype(dtype).name} in, {out.dtype} out"
    out.backward(np.ones(out.shape, dtype=dtype))
    for a in args:
        if isinstance(a, tg.Tensor) and a.requires_grad:
            assert a.grad.dtype == dtype, f"{case.id}: gradient of dtype {a.grad.dtype} for a {dtype} input"


# ------------------------------------------------------------------ softmax_xent: stable at ±1e4

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_xent_is_finite_for_huge_logits(dtype):
    logits = tg.tensor(np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], dtype=dtype), requires_grad=True)
    loss = tg.softmax_xent(logits, np.array([1, 1]))
    # Row 0 puts all mass on class 0 but the label is 1: −log ŷ₁ = 1e4 − (−1e4). Row 1 is right: 0.
    assert loss.item() == pytest.approx(1e4)
    loss.backward()
    np.testing.assert_allclose(logits.grad, [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]], atol=1e-6)   # (ŷ − y) / N
    assert logits.grad.dtype == dtype

    rows = tg.softmax_xent(logits.detach(), np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]), reduction="none")
    np.testing.assert_allclose(rows.data, [1e4, 1e4])
    assert rows.dtype == dtype


def test_softmax_xent_reductions_relate_as_documented():
    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((4, 3)), np.array([0, 2, 1, 2])
    rows = tg.softmax_xent(logits, labels, reduction="none").data
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))      # the unfused formula
    np.testing.assert_allclose(rows, -log_softmax[np.arange(4), labels], rtol=1e-12)
    assert tg.softmax_xent(logits, labels, reduction="sum").item() == pytest.approx(rows.sum(), rel=1e-12)
    assert tg.softmax_xent(logits, labels).item() == pytest.approx(rows.mean(), rel=1e-12)
    one_hot = np.eye(3)[labels]
    assert tg.softmax_xent(logits, one_hot).item() == pytest.approx(rows.mean(), rel=1e-12)
    as_floats = tg.tensor(labels)            # tg.tensor turns integers into float64: still labels
    assert tg.softmax_xent(logits, as_floats).item() == pytest.approx(rows.mean(), rel=1e-12)


def test_softmax_xent_differentiates_a_probability_target_as_pytorch():
    logits = tg.tensor(np.zeros((2, 3)), requires_grad=True)
    target = tg.tensor(np.full((2, 3), 1 / 3), requires_grad=True)
    tg.softmax_xent(logits, target).backward()
    np.testing.assert_allclose(target.grad, np.full((2, 3), np.log(3) / 2))   # −log ŷ / N (issue 18.6)
    np.testing.assert_allclose(logits.grad, np.zeros((2, 3)), atol=1e-15)   # ŷ = y = 1/3 everywhere


# ------------------------------------------------------------------ bad inputs: OpError naming op, argument and shapes

def zeros(*shape):
    return np.zeros(shape)


# (id, call, op, argument at fault (None: several), fragments the message must show: the shapes involved)
BAD_INPUTS = [
    ("conv2d x not 4-D", lambda: tg.conv2d(zeros(3, 5, 5), zeros(4, 3, 3, 3)), "conv2d", "x", ["(3, 5, 5)"]),
    ("conv2d w not 4-D", lambda: tg.conv2d(zeros(2, 3, 5, 5), zeros(4, 3, 3)), "conv2d", "w", ["(4, 3, 3)"]),
    ("conv2d channels differ", lambda: tg.conv2d(tg.tensor(zeros(2, 3, 5, 5)), zeros(4, 1, 3, 3)), "conv2d", None,
     ["C=3", "C=1", "(2, 3, 5, 5)", "(4, 1, 3, 3)"]),
    ("conv2d bias shape", lambda: tg.conv2d(zeros(2, 3, 5, 5), zeros(4, 3, 3, 3), zeros(3)), "conv2d", "b",
     ["(3,)", "(4, 3, 3, 3)"]),
    ("conv2d zero stride", lambda: tg.conv2d(zeros(2, 3, 5, 5), zeros(4, 3, 3, 3), stride=0), "conv2d", "stride",
     ["(2, 3, 5, 5)", "(4, 3, 3, 3)"]),
    ("conv2d negative stride pair", lambda: tg.conv2d(zeros(2, 3, 5, 5), zeros(4, 3, 3, 3), stride=(1, -2)),
     "conv2d", "stride", ["(2, 3, 5, 5)"]),
    ("conv2d fractional stride", lambda: tg.conv2d(zeros(2, 3, 5, 5), zeros(4, 3, 3, 3), stride=1.5),
     "conv2d", "stride", ["(2, 3, 5, 5)"]),
    ("conv2d negative padding", lambda: tg.conv2d(zeros(2, 3, 5, 5), zeros(4, 3, 3, 3), padding=-1),
     "conv2d", "padding", ["(2, 3, 5, 5)"]),
    ("conv2d window larger than input", lambda: tg.conv2d(zeros(2, 3, 5, 5), zeros(4, 3, 6, 3)), "conv2d", None,
     ["6×3", "(2, 3, 5, 5)", "(4, 3, 6, 3)"]),
    ("conv2d window larger than padded input", lambda: tg.conv2d(zeros(2, 3, 5, 5), zeros(4, 3, 8, 3), padding=1),
     "conv2d", None, ["8×3", "(2, 3, 5, 5)", "(7, 7)"]),
    ("maxpool x not 4-D", lambda: tg.maxpool(zeros(3, 4, 4)), "maxpool", "x", ["(3, 4, 4)"]),
    ("maxpool zero size", lambda: tg.maxpool(zeros(1, 1, 4, 4), size=0), "maxpool", "size", ["(1, 1, 4, 4)"]),
    ("maxpool negative stride", lambda: tg.maxpool(zeros(1, 1, 4, 4), stride=-1), "maxpool", "stride",
     ["(1, 1, 4, 4)"]),
    ("maxpool window larger than input", lambda: tg.maxpool(zeros(2, 3, 5, 5), size=6), "maxpool", None,
     ["6×6", "(2, 3, 5, 5)"]),
    ("softmax_xent logits 1-D", lambda: tg.softmax_xent(zeros(4), np.array([0])), "softmax_xent", "logits",
     ["(4,)"]),
    ("softmax_xent logits 3-D", lambda: tg.softmax_xent(zeros(2, 3, 4), np.array([0, 1])), "softmax_xent", "logits",
     ["(2, 3, 4)"]),
    ("softmax_xent label too large", lambda: tg.softmax_xent(zeros(3, 4), np.array([0, 1, 4])), "softmax_xent",
     "target", ["[0, 4)", "(3, 4)", "[4]"]),
    ("softmax_xent negative label", lambda: tg.softmax_xent(zeros(3, 4), np.array([0, -1, 2])), "softmax_xent",
     "target", ["[-1]", "(3, 4)"]),
    ("softmax_xent fractional label", lambda: tg.softmax_xent(zeros(3, 4), np.array([0.0, 1.5, 2.0])),
     "softmax_xent", "target", ["integer class indices", "float64", "(3,)"]),
    ("softmax_xent label count", lambda: tg.softmax_xent(zeros(3, 4), np.array([0, 1])), "softmax_xent", "target",
     ["(2,)", "(3, 4)"]),
    ("softmax_xent rows not summing to 1", lambda: tg.softmax_xent(zeros(3, 4), np.ones((3, 4))), "softmax_xent",
     "target", ["sum", "(3, 4)"]),
    ("softmax_xent negative probabilities",
     lambda: tg.softmax_xent(zeros(2, 2), np.array([[1.5, -0.5], [0.5, 0.5]])), "softmax_xent", "target",
     ["non-negative", "(2, 2)"]),
    ("softmax_xent probability shape", lambda: tg.softmax_xent(zeros(3, 4), np.full((3, 5), 0.2)), "softmax_xent",
     "target", ["(3, 5)", "(3, 4)"]),
    ("softmax_xent target 3-D", lambda: tg.softmax_xent(zeros(3, 4), zeros(3, 4, 1)), "softmax_xent", "target",
     ["(3, 4, 1)", "(3, 4)"]),
    ("softmax_xent reduction", lambda: tg.softmax_xent(zeros(3, 4), np.array([0, 1, 2]), reduction="avg"),
     "softmax_xent", "reduction", ["'avg'"]),
    ("matmul inner dimensions", lambda: tg.matmul(zeros(3, 4), zeros(5, 2)), "matmul", None,
     ["inner dimensions", "(3, 4)", "(5, 2)"]),
    ("matmul scalar operand", lambda: tg.matmul(zeros(3, 4), np.float64(2.0)), "matmul", "b", ["(3, 4)", "()"]),
    ("matmul batch axes", lambda: tg.matmul(zeros(2, 3, 4), zeros(3, 4, 5)), "matmul", None,
     ["batch axes", "(2,)", "(3,)"]),
    ("add shapes do not broadcast", lambda: tg.tensor(zeros(2, 3)) + zeros(2, 4), "add", None,
     ["a of shape (2, 3)", "b of shape (2, 4)"]),
    ("sum axis out of range", lambda: tg.tensor(zeros(2, 3)).sum(axis=2), "sum", "dim", ["(2, 3)"]),
    ("mean axis twice", lambda: tg.tensor(zeros(2, 3)).mean(axis=(0, -2)), "mean", "dim", ["(2, 3)"]),
    ("reshape size", lambda: tg.tensor(zeros(2, 3)).reshape(4, 2), "reshape", "shape", ["(2, 3)", "(4, 2)"]),
    ("transpose axes", lambda: tg.tensor(zeros(2, 3)).permute(0, 0), "transpose", "axes", ["(0, 0)", "(2, 3)"]),
    ("flatten start_dim", lambda: tg.tensor(zeros(2, 3)).flatten(2), "flatten", "start_dim", ["(2, 3)"]),
]


@pytest.mark.parametrize("call, op, argument, fragments", [row[1:] for row in BAD_INPUTS],
                         ids=[row[0] for row in BAD_INPUTS])
def test_bad_input_raises_an_op_error_naming_op_argument_and_shapes(call, op, argument, fragments):
    with pytest.raises(tg.OpError) as excinfo:
        call()
    assert (excinfo.value.op, excinfo.value.argument) == (op, argument)
    message = str(excinfo.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} missing from: {message}"


def test_an_op_error_is_a_value_error_that_survives_pickling():
    import pickle

    with pytest.raises(ValueError) as excinfo:
        tg.conv2d(zeros(2, 3, 5, 5), zeros(4, 3, 3, 3), stride=0)
    error = excinfo.value
    assert isinstance(error, tg.OpError)
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.op, copy.argument, str(copy)) == (tg.OpError, "conv2d", "stride", str(error))


def test_a_numpy_error_inside_a_rule_is_not_mistaken_for_the_ops_own():
    # apply() explains broadcasting only for errors the op did not raise itself: a rule's own
    # OpError passes unchanged, a bare NumPy ValueError from a broadcasting op gets the shapes.
    @tg.register_op("broadcast_then_fail", broadcasting=True)
    class Failing(tg.Op):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, grad_out):
            return grad_out, grad_out

    try:
        with pytest.raises(tg.OpError) as excinfo:
            tg.broadcast_then_fail(zeros(2, 3), zeros(4))
        assert (excinfo.value.op, excinfo.value.argument) == ("broadcast_then_fail", None)
        assert "a of shape (2, 3) and b of shape (4,)" in str(excinfo.value)
    finally:
        tg.unregister_op("broadcast_then_fail")
