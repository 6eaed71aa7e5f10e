"""tinygraph.functional against torch.nn.functional: the same call on both sides, values and gradients compared.

Every function of F with its options (groups, dilation, ceil_mode, count_include_pad, ignore_index,
label smoothing, class weights, probability targets, BatchNorm in train and eval mode with its
running statistics, Dropout with PyTorch's own mask replayed) and the inputs PyTorch refuses.
torch is a test-only dependency: without it this file is skipped, except under CI=true, where it fails.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from torch_required import require_torch

torch = require_torch(__file__)

import torch.nn.functional as TF  # noqa: E402

import tinygraph as tg  # noqa: E402
import tinygraph.functional as F  # noqa: E402
from torch_compare import assert_close, assert_gradient_contract, to_numpy  # noqa: E402

torch.set_num_threads(1)

TOLERANCES = {np.dtype(np.float64): (1e-9, 1e-12), np.dtype(np.float32): (1e-5, 1e-6)}   # (rtol, atol)
FLOATS = [np.float64, np.float32]
# The largest |tinygraph − PyTorch| seen per function, relative to max(1, max|PyTorch|): printed with -s
# when TG_REPORT_DIFFS is set.
WORST: dict[str, float] = {}


def _record(what: str, actual: np.ndarray, expected: np.ndarray) -> None:
    actual = np.asarray(actual)         # a value, or a .grad (a Tensor)
    if expected.size:
        scale = max(1.0, float(np.nanmax(np.abs(expected))) if np.isfinite(expected).any() else 1.0)
        difference = float(np.nanmax(np.abs(actual.astype(np.float64) - expected))) / scale if \
            np.isfinite(expected).any() else 0.0
        WORST[what] = max(WORST.get(what, 0.0), difference)


@pytest.fixture(scope="module", autouse=True)
def report_differences():
    yield
    if os.environ.get("TG_REPORT_DIFFS"):
        print("\nlargest relative difference from PyTorch, per function:")
        for what, difference in sorted(WORST.items()):
            print(f"  {what:36s} {difference:.2e}")


def compare(shapes, torch_fn, tinygraph_fn, dtype=np.float64, low=-2.0, high=2.0, distinct=False, seed=0,
            what="", rtol=None, atol=None):
    """Random inputs of `shapes` (all requiring grad) through both functions; compare outputs and gradients."""
    rng = np.random.default_rng(seed)
    arrays = []
    for shape in shapes:
        if distinct:                                  # no ties for max-pooling
            size = int(np.prod(shape, dtype=np.int64))
            arrays.append(((rng.permutation(size) - size / 2) * (high - low) / max(size, 1)).reshape(shape).astype(dtype))
        else:
            arrays.append(rng.uniform(low, high, shape).astype(dtype))
    tg_inputs = [tg.tensor(a, requires_grad=True) for a in arrays]
    torch_inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
    tg_out, torch_out = tinygraph_fn(*tg_inputs), torch_fn(*torch_inputs)
    expected = to_numpy(torch_out)
    rtol_default, atol_default = TOLERANCES[np.dtype(dtype)]
    rtol, atol = rtol or rtol_default, atol or atol_default
    assert_close(tg_out.data, expected, rtol, atol, f"{what} forward value")
    what = f"{what} {np.dtype(dtype)}"
    _record(what, tg_out.data, expected)
    weights = rng.uniform(-1, 1, expected.shape).astype(expected.dtype)
    (tg_out * weights).sum().backward()
    (torch_out * torch.from_numpy(weights)).sum().backward()
    for i, (tg_in, torch_in) in enumerate(zip(tg_inputs, torch_inputs)):
        label = f"{what} gradient of input {i} {arrays[i].shape}"
        if torch_in.grad is None:
            assert tg_in.grad is None, f"{label}: PyTorch has none"
            continue
        assert_gradient_contract(tg_in.grad, arrays[i].shape, np.dtype(dtype), label)
        assert_close(tg_in.grad, to_numpy(torch_in.grad), rtol, atol, label)
        _record(what, tg_in.grad, to_numpy(torch_in.grad))
    return tg_out, torch_out


def rejected_like_torch(op: str, torch_call, tinygraph_call, argument="unchecked", errors=(ValueError,)):
    """PyTorch raises for this input, and tinygraph raises ValueError naming `op` (an OpError naming `argument`)."""
    with pytest.raises(Exception):
        torch_call()
    with pytest.raises(errors, match=rf"\b{op}\b") as caught:
        tinygraph_call()
    if argument != "unchecked":
        assert isinstance(caught.value, tg.OpError) and caught.value.op == op and caught.value.argument == argument


# ----------------------------------------------------------------------------- conv2d
CONV_CASES = [  # x shape, w shape, bias, stride, padding, dilation, groups
    ((2, 3, 7, 7), (4, 3, 3, 3), True, 1, 0, 1, 1),
    ((2, 3, 9, 8), (4, 3, 3, 3), True, 1, 1, 2, 1),                 # dilation
    ((1, 2, 11, 10), (3, 2, 3, 2), False, (2, 1), (2, 1), (3, 2), 1),
    ((2, 4, 7, 7), (6, 2, 3, 3), True, 1, 1, 1, 2),                 # groups
    ((2, 6, 8, 8), (6, 1, 3, 3), True, 2, 1, 1, 6),                 # depthwise
    ((1, 6, 9, 9), (12, 2, 2, 3), True, (1, 2), (1, 0), (2, 1), 3), # groups and dilation together
    ((2, 4, 5, 5), (4, 1, 1, 1), False, 1, 0, 3, 4),                # 1×1 kernel, dilation irrelevant
    ((2, 3, 6, 7), (4, 3, 3, 2), True, 1, "same", 1, 1),
    ((2, 3, 6, 7), (4, 3, 2, 2), True, 1, "same", (2, 1), 1),       # odd total: PyTorch pads the end
    ((1, 2, 8, 6), (2, 1, 4, 3), True, 1, "same", 1, 2),
    ((2, 3, 6, 7), (4, 3, 3, 3), True, 2, "valid", 1, 1),
    ((3, 7, 7), (4, 3, 3, 3), True, 1, 1, 1, 1),                    # one unbatched image
    ((0, 2, 5, 5), (4, 1, 3, 3), True, 1, 0, 2, 2),                 # empty batch
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")      # PyTorch's note that it copies the input
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("x_shape,w_shape,bias,stride,padding,dilation,groups", CONV_CASES, ids=str)
def test_conv2d(x_shape, w_shape, bias, stride, padding, dilation, groups, dtype):
    shapes = [x_shape, w_shape] + ([(w_shape[0],)] if bias else [])
    options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    compare(shapes, lambda *t: TF.conv2d(*t, **options), lambda *t: F.conv2d(*t, **options), dtype=dtype,
            what="conv2d")


def test_conv2d_is_one_node_of_the_conv2d_op():
    x, w = tg.tensor(np.ones((1, 4, 5, 5)), requires_grad=True), tg.tensor(np.ones((2, 2, 3, 3)))
    out = F.conv2d(x, w, groups=2, dilation=2)
    assert out.grad_fn.op.name == "conv2d" and out.grad_fn.attrs == {"dilation": 2, "groups": 2}


def test_conv2d_large_enough_to_split_over_threads():
    compare([(16, 4, 20, 20), (8, 2, 3, 3), (8,)], lambda *t: TF.conv2d(*t, padding=2, dilation=2, groups=2),
            lambda *t: F.conv2d(*t, padding=2, dilation=2, groups=2), dtype=np.float32, rtol=1e-4, atol=1e-4,
            what="conv2d")


# ----------------------------------------------------------------------------- pooling
MAX_POOL_CASES = [  # x shape, kernel_size, stride, padding, dilation, ceil_mode
    ((2, 3, 8, 8), 2, None, 0, 1, False),
    ((2, 3, 7, 7), 2, None, 0, 1, True),                 # ceil_mode keeps the last partial window
    ((2, 2, 7, 7), 3, 2, 1, 1, False),
    ((2, 2, 7, 7), 3, 2, 1, 1, True),
    ((1, 2, 6, 6), 2, 2, 1, 1, True),                    # ceil_mode's last window would start in the padding
    ((1, 2, 9, 8), (3, 2), (2, 1), (1, 1), (2, 3), False),
    ((1, 2, 9, 10), 3, 2, 1, 2, True),
    ((2, 1, 6, 7), 2, 1, 0, 2, False),
    ((1, 1, 5, 5), 1, 2, 0, 1, True),
    ((3, 6, 6), 2, None, 1, 1, False),                   # unbatched
    ((2, 2, 6, 6), 2, [], 0, 1, False),                  # stride=[] is kernel_size, as PyTorch
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("x_shape,kernel,stride,padding,dilation,ceil_mode", MAX_POOL_CASES, ids=str)
def test_max_pool2d(x_shape, kernel, stride, padding, dilation, ceil_mode, dtype):
    options = dict(stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode)
    compare([x_shape], lambda x: TF.max_pool2d(x, kernel, **options), lambda x: F.max_pool2d(x, kernel, **options),
            dtype=dtype, distinct=True, what="max_pool2d")


def test_max_pool2d_with_negative_inputs_never_picks_the_padding():
    compare([(1, 2, 5, 5)], lambda x: TF.max_pool2d(x, 3, 2, 1, ceil_mode=True),
            lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), low=-5.0, high=-1.0, distinct=True, what="max_pool2d")


AVG_POOL_CASES = [  # x shape, kernel_size, stride, padding, ceil_mode, count_include_pad
    ((2, 3, 8, 8), 2, None, 0, False, True),
    ((2, 3, 7, 7), 2, None, 0, True, True),
    ((2, 2, 7, 7), 3, 2, 1, False, True),
    ((2, 2, 7, 7), 3, 2, 1, False, False),
    ((2, 2, 7, 6), 3, 2, 1, True, True),                 # the overhang past the padding never counts
    ((2, 2, 7, 6), 3, 2, 1, True, False),
    ((1, 2, 8, 9), (3, 2), (2, 3), (1, 1), True, False),
    ((1, 1, 5, 5), (2, 4), 1, (1, 2), False, True),
    ((1, 1, 6, 6), 2, 2, 1, True, True),
    ((3, 8, 8), 2, None, 0, False, True),                # unbatched (LeNet-5's subsampling)
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("x_shape,kernel,stride,padding,ceil_mode,count_include_pad", AVG_POOL_CASES, ids=str)
def test_avg_pool2d(x_shape, kernel, stride, padding, ceil_mode, count_include_pad, dtype):
    options = dict(stride=stride, padding=padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad)
    compare([x_shape], lambda x: TF.avg_pool2d(x, kernel, **options), lambda x: F.avg_pool2d(x, kernel, **options),
            dtype=dtype, what="avg_pool2d")


def test_pools_large_enough_to_split_over_threads():
    compare([(32, 8, 17, 17)], lambda x: TF.max_pool2d(x, 3, 2, 1, ceil_mode=True),
            lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), dtype=np.float32, distinct=True, what="max_pool2d")
    compare([(32, 8, 17, 17)], lambda x: TF.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
            lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), dtype=np.float32,
            what="avg_pool2d")


# ----------------------------------------------------------------------------- linear
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("x_shape,out_features,bias", [((5, 4), 3, True), ((5, 4), 3, False), ((2, 3, 4), 6, True),
                                                       ((4,), 3, True), ((1, 1), 1, True), ((0, 4), 2, True),
                                                       ((2, 1, 3, 5), 2, False)], ids=str)
def test_linear(x_shape, out_features, bias, dtype):
    shapes = [x_shape, (out_features, x_shape[-1])] + ([(out_features,)] if bias else [])
    compare(shapes, TF.linear, F.linear, dtype=dtype, what="linear")


def test_linear_is_one_node_with_the_derivations_rule():
    p, U, c = (tg.tensor(np.ones(s), requires_grad=True) for s in [(2, 3), (4, 3), (4,)])
    s = F.linear(p.named("p"), U.named("U"), c.named("c"))
    assert s.grad_fn.op.name == "linear" and [t.name for t in s.grad_fn.inputs] == ["p", "U", "c"]
    assert s.grad_fn.op.backward_formulas[1] == "∂L/∂{w} = δ{out} {x}ᵀ (§3.2)"


def test_linear_large_enough_to_split_over_threads():
    compare([(600, 64), (40, 64), (40,)], TF.linear, F.linear, dtype=np.float32, rtol=1e-4, atol=1e-5, what="linear")


# ----------------------------------------------------------------------------- activations
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_activations(name, dtype):
    compare([(3, 4, 2)], getattr(TF, name), getattr(F, name), dtype=dtype, what=name)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family(name, dim, dtype):
    compare([(3, 4, 2)], lambda x: getattr(TF, name)(x, dim), lambda x: getattr(F, name)(x, dim=dim), dtype=dtype,
            what=name)


@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 3, 4)], ids=str)
def test_softmax_without_dim_takes_pytorchs_implicit_dim_and_warns(shape):
    with pytest.warns(UserWarning, match="Implicit dimension"):
        compare([shape], lambda x: TF.softmax(x, dim=0 if len(shape) in (1, 3) else 1), lambda x: F.softmax(x),
                what="softmax")


# ----------------------------------------------------------------------------- cross_entropy and nll_loss
def _labels(n, classes, seed=1, ignore=()):
    labels = np.random.default_rng(seed).integers(0, classes, n)
    labels[list(ignore)] = -100
    return labels


def _probabilities(shape, seed=2):
    z = np.random.default_rng(seed).normal(size=shape)
    return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)


CLASS_WEIGHTS = np.array([0.5, 2.0, 1.0, 1.5, 0.25])
XENT_OPTIONS = [  # weight, ignored rows, label_smoothing
    (False, (), 0.0), (True, (), 0.0), (False, (1, 4), 0.0), (True, (1, 4), 0.0), (False, (), 0.3), (True, (), 0.1),
    (True, (0, 2), 0.2), (False, (3,), 0.2),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted,ignored,smoothing", XENT_OPTIONS, ids=str)
def test_cross_entropy_with_labels(weighted, ignored, smoothing, reduction, dtype):
    labels = _labels(6, 5, ignore=ignored)
    weight = CLASS_WEIGHTS.astype(dtype) if weighted else None
    options = dict(reduction=reduction, label_smoothing=smoothing)
    compare([(6, 5)],
            lambda s: TF.cross_entropy(s, torch.from_numpy(labels), None if weight is None else torch.from_numpy(weight),
                                       **options),
            lambda s: F.cross_entropy(s, labels, weight, **options), dtype=dtype, what="cross_entropy")


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted,smoothing", [(False, 0.0), (True, 0.0), (False, 0.25), (True, 0.1)], ids=str)
def test_cross_entropy_with_probabilities(weighted, smoothing, reduction, dtype):
    probs = _probabilities((4, 5)).astype(dtype)
    weight = CLASS_WEIGHTS.astype(dtype) if weighted else None
    options = dict(reduction=reduction, label_smoothing=smoothing)
    compare([(4, 5)],
            lambda s: TF.cross_entropy(s, torch.from_numpy(probs), None if weight is None else torch.from_numpy(weight),
                                       **options),
            lambda s: F.cross_entropy(s, probs, weight, **options), dtype=dtype, what="cross_entropy")


def test_cross_entropy_ignore_index_other_than_the_default():
    labels = np.array([0, 3, 1, 3, 2])
    compare([(5, 4)], lambda s: TF.cross_entropy(s, torch.from_numpy(labels), ignore_index=3, label_smoothing=0.1),
            lambda s: F.cross_entropy(s, labels, ignore_index=3, label_smoothing=0.1), what="cross_entropy")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_over_spatial_axes_and_a_single_sample(reduction):
    labels = np.random.default_rng(3).integers(0, 4, (2, 3, 5))
    labels[0, 1, 2] = -100
    compare([(2, 4, 3, 5)], lambda s: TF.cross_entropy(s, torch.from_numpy(labels), reduction=reduction),
            lambda s: F.cross_entropy(s, labels, reduction=reduction), what="cross_entropy")
    probs = np.moveaxis(_probabilities((30, 4)).reshape(2, 3, 5, 4), -1, 1).copy()
    compare([(2, 4, 3, 5)], lambda s: TF.cross_entropy(s, torch.from_numpy(probs), reduction=reduction),
            lambda s: F.cross_entropy(s, probs, reduction=reduction), what="cross_entropy")
    label = np.array(2)
    compare([(4,)], lambda s: TF.cross_entropy(s, torch.from_numpy(label), reduction=reduction),
            lambda s: F.cross_entropy(s, label, reduction=reduction), what="cross_entropy")


@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.1}, {"weight": CLASS_WEIGHTS[:3]}], ids=str)
def test_every_row_ignored_is_nan_with_a_zero_gradient_like_torch(options):
    labels = np.array([-100, -100])
    torch_options = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
    compare([(2, 3)], lambda s: TF.cross_entropy(s, torch.from_numpy(labels), **torch_options),
            lambda s: F.cross_entropy(s, labels, **options), what="cross_entropy")
    if "label_smoothing" not in options:
        compare([(2, 3)], lambda s: TF.nll_loss(s, torch.from_numpy(labels), torch_options.get("weight")),
                lambda s: F.nll_loss(s, labels, options.get("weight")), what="nll_loss")


def test_cross_entropy_is_the_fused_rule_and_takes_legacy_reduce():
    s = tg.tensor(np.zeros((2, 3)), requires_grad=True)
    assert F.cross_entropy(s, np.array([0, 1])).grad_fn.op.name == "softmax_xent"
    with pytest.warns(UserWarning):
        assert F.cross_entropy(s, np.array([0, 1]), reduce=False).shape == (2,)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted,ignored", [(False, ()), (True, ()), (False, (2,)), (True, (0, 5))], ids=str)
def test_nll_loss(weighted, ignored, reduction, dtype):
    labels = _labels(6, 5, seed=4, ignore=ignored)
    weight = CLASS_WEIGHTS.astype(dtype) if weighted else None
    compare([(6, 5)],
            lambda x: TF.nll_loss(x, torch.from_numpy(labels), None if weight is None else torch.from_numpy(weight),
                                  reduction=reduction),
            lambda x: F.nll_loss(x, labels, weight, reduction=reduction), dtype=dtype, what="nll_loss")


def test_nll_loss_after_log_softmax_is_cross_entropy_and_takes_spatial_axes():
    labels = np.random.default_rng(5).integers(0, 3, (2, 4))
    compare([(2, 3, 4)], lambda s: TF.nll_loss(TF.log_softmax(s, 1), torch.from_numpy(labels)),
            lambda s: F.nll_loss(F.log_softmax(s, 1), labels), what="nll_loss")


# ----------------------------------------------------------------------------- mse_loss
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shapes", [[(3, 4), (3, 4)], [(5,), (5,)], [(), ()], [(2, 3, 2), (2, 3, 2)]], ids=str)
def test_mse_loss(shapes, reduction, dtype):
    compare(shapes, lambda x, y: TF.mse_loss(x, y, reduction=reduction),
            lambda x, y: F.mse_loss(x, y, reduction=reduction), dtype=dtype, what="mse_loss")


def test_mse_loss_broadcasts_with_pytorchs_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # PyTorch's own warning
        expected = lambda x, y: TF.mse_loss(x, y)          # noqa: E731
        with pytest.warns(UserWarning, match="target size"):
            compare([(3, 4), (4,)], expected, F.mse_loss, what="mse_loss")


# ----------------------------------------------------------------------------- dropout
class ReplayMask:
    """A stand-in for numpy.random.Generator whose random() gives back a chosen keep-mask (0 keeps, 1 drops)."""

    def __init__(self, keep: np.ndarray):
        self.keep = keep

    def random(self, shape):
        assert tuple(shape) == self.keep.shape
        return np.where(self.keep, 0.0, 1.0)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_with_pytorchs_own_mask(p, dtype):
    """PyTorch draws the mask; tinygraph is handed the same one and must give the same values and gradients."""
    x = np.random.default_rng(6).uniform(0.5, 2.0, (4, 3, 5)).astype(dtype)      # no zeros: the mask is readable
    torch.manual_seed(0)
    torch_x = torch.tensor(x, requires_grad=True)
    torch_out = TF.dropout(torch_x, p=p)
    keep = to_numpy(torch_out) != 0
    assert 0 < keep.sum() < keep.size
    tg_x = tg.tensor(x, requires_grad=True)
    tg_out = F.dropout(tg_x, p=p, generator=ReplayMask(keep))
    assert_close(tg_out.data, to_numpy(torch_out), *TOLERANCES[np.dtype(dtype)], "dropout forward value")
    weights = np.random.default_rng(7).uniform(-1, 1, x.shape).astype(dtype)
    (tg_out * weights).sum().backward()
    (torch_out * torch.from_numpy(weights)).sum().backward()
    assert_gradient_contract(tg_x.grad, x.shape, np.dtype(dtype), "dropout gradient")
    assert_close(tg_x.grad, to_numpy(torch_x.grad), *TOLERANCES[np.dtype(dtype)], "dropout gradient")
    _record(f"dropout {np.dtype(dtype)}", tg_x.grad, to_numpy(torch_x.grad))
    # PyTorch's own backward kernel, given the same mask and scale, agrees too.
    kernel = torch.ops.aten.native_dropout_backward(torch.from_numpy(weights), torch.from_numpy(keep), 1 / (1 - p))
    assert_close(tg_x.grad, to_numpy(kernel), *TOLERANCES[np.dtype(dtype)], "dropout gradient (PyTorch's kernel)")


@pytest.mark.parametrize("p,training", [(0.0, True), (0.5, False), (1.0, False)])
def test_dropout_identity_like_torch(p, training):
    compare([(3, 4)], lambda x: TF.dropout(x, p, training), lambda x: F.dropout(x, p, training), what="dropout")


def test_dropout_p_one_drops_everything_like_torch():
    compare([(3, 4)], lambda x: TF.dropout(x, 1.0), lambda x: F.dropout(x, 1.0), what="dropout")


def test_dropout_mask_comes_from_the_generator():
    x = tg.tensor(np.ones((50, 40)))
    first = F.dropout(x, 0.3, generator=np.random.default_rng(1)).data
    again = F.dropout(x, 0.3, generator=np.random.default_rng(1)).data
    np.testing.assert_array_equal(first, again)
    assert abs((first == 0).mean() - 0.3) < 0.05
    assert not np.array_equal(first, F.dropout(x, 0.3, generator=np.random.default_rng(2)).data)


# ----------------------------------------------------------------------------- batch_norm
BN_SHAPES = [(6, 3), (4, 3, 5), (4, 3, 5, 2), (2, 3, 1, 1)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", BN_SHAPES, ids=str)
def test_batch_norm_training_updates_the_running_statistics_like_torch(shape, affine, dtype):
    rng = np.random.default_rng(8)
    mean, var = rng.normal(size=3).astype(dtype), rng.uniform(0.5, 2, 3).astype(dtype)
    tg_mean, tg_var = tg.tensor(mean), tg.tensor(var)
    torch_mean, torch_var = torch.tensor(mean), torch.tensor(var)
    shapes = [shape] + ([(3,), (3,)] if affine else [])
    compare(shapes, lambda x, *wb: TF.batch_norm(x, torch_mean, torch_var, *wb, training=True, momentum=0.2, eps=1e-3),
            lambda x, *wb: F.batch_norm(x, tg_mean, tg_var, *wb, training=True, momentum=0.2, eps=1e-3),
            dtype=dtype, what="batch_norm (train)")
    rtol, atol = TOLERANCES[np.dtype(dtype)]
    assert_close(tg_mean.data, to_numpy(torch_mean), rtol, atol, "running_mean after a training step")
    assert_close(tg_var.data, to_numpy(torch_var), rtol, atol, "running_var after a training step")
    assert tg_mean._version == tg_var._version == 1          # changed in place, as PyTorch bumps them


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", BN_SHAPES, ids=str)
def test_batch_norm_eval_uses_the_running_statistics_like_torch(shape, affine, dtype):
    rng = np.random.default_rng(9)
    mean, var = rng.normal(size=3).astype(dtype), rng.uniform(0.5, 2, 3).astype(dtype)
    shapes = [shape] + ([(3,), (3,)] if affine else [])
    tg_mean = mean.copy()
    compare(shapes, lambda x, *wb: TF.batch_norm(x, torch.from_numpy(mean), torch.from_numpy(var), *wb),
            lambda x, *wb: F.batch_norm(x, tg_mean, var, *wb), dtype=dtype, what="batch_norm (eval)")
    np.testing.assert_array_equal(tg_mean, mean)             # eval mode changes nothing


def test_batch_norm_training_without_running_statistics():
    compare([(5, 2, 3), (2,), (2,)], lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True),
            lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), what="batch_norm (train)")


def test_batch_norm_a_few_training_steps_then_eval():
    rng = np.random.default_rng(10)
    tg_stats, torch_stats = [np.zeros(4), np.ones(4)], [torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)]
    for step in range(3):
        x = rng.normal(2.0, 3.0, (8, 4, 3))
        F.batch_norm(x, *tg_stats, training=True)
        TF.batch_norm(torch.from_numpy(x), *torch_stats, training=True)
    for ours, theirs in zip(tg_stats, torch_stats):
        assert_close(ours, to_numpy(theirs), 1e-12, 1e-12, "running statistics after 3 steps")
    compare([(8, 4, 3)], lambda x: TF.batch_norm(x, *torch_stats), lambda x: F.batch_norm(x, *tg_stats),
            what="batch_norm (eval)")


# ----------------------------------------------------------------------------- pad
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,amounts,value", [((2, 3, 4), (1, 2), 0), ((2, 3, 4), (1, 0, 2, 1), 0.5),
                                                 ((2, 3, 4, 5), (0, 1, 1, 0, 2, 2, 1, 1), -1.0),
                                                 ((3, 5), (-1, 2, 1, -2), 0), ((4,), (0, 0), 3.0),
                                                 ((2, 0, 3), (1, 1, 2, 0), 1.0)], ids=str)
def test_pad(shape, amounts, value, dtype):
    compare([shape], lambda x: TF.pad(x, amounts, value=value), lambda x: F.pad(x, amounts, value=value),
            dtype=dtype, what="pad")


# ----------------------------------------------------------------------------- refusals
def _pair(x_shape, w_shape):
    return (np.zeros(x_shape), np.zeros(w_shape)), (torch.zeros(x_shape), torch.zeros(w_shape))


def test_conv2d_refusals_like_torch():
    (x, w), (tx, tw) = _pair((1, 4, 5, 5), (6, 2, 3, 3))
    rejected_like_torch("conv2d", lambda: TF.conv2d(tx, tw, groups=3), lambda: F.conv2d(x, w, groups=3))
    rejected_like_torch("conv2d", lambda: TF.conv2d(tx, tw, groups=4), lambda: F.conv2d(x, w, groups=4), "groups")
    rejected_like_torch("conv2d", lambda: TF.conv2d(tx, tw, groups=0), lambda: F.conv2d(x, w, groups=0), "groups")
    rejected_like_torch("conv2d", lambda: TF.conv2d(tx, tw, groups=2, dilation=0),
                        lambda: F.conv2d(x, w, groups=2, dilation=0), "dilation")
    rejected_like_torch("conv2d", lambda: TF.conv2d(tx, tw, groups=2, dilation=3),
                        lambda: F.conv2d(x, w, groups=2, dilation=3), None)       # 7×7 span on a 5×5 input
    rejected_like_torch("conv2d", lambda: TF.conv2d(tx, tw, groups=2, padding="same", stride=2),
                        lambda: F.conv2d(x, w, groups=2, padding="same", stride=2), "padding")
    (x, w), (tx, tw) = _pair((4, 5, 5), (6, 4, 3))
    rejected_like_torch("conv2d", lambda: TF.conv2d(tx[0], tw), lambda: F.conv2d(x[0], w), "x")


def test_pool_refusals_like_torch():
    x, tx = np.zeros((1, 1, 6, 6)), torch.zeros((1, 1, 6, 6))
    for name, op in (("max_pool2d", "maxpool"), ("avg_pool2d", "avg_pool2d")):
        ours, theirs = getattr(F, name), getattr(TF, name)
        rejected_like_torch(op, lambda: theirs(tx, 3, padding=2), lambda: ours(x, 3, padding=2), "padding")
        rejected_like_torch(op, lambda: theirs(tx, 7), lambda: ours(x, 7), None)
        rejected_like_torch(op, lambda: theirs(tx, 0), lambda: ours(x, 0), "size")
        rejected_like_torch(op, lambda: theirs(tx, 2, -1), lambda: ours(x, 2, -1), "stride")
        rejected_like_torch(op, lambda: theirs(tx[0, 0], 2), lambda: ours(x[0, 0], 2), "x")
    rejected_like_torch("maxpool", lambda: TF.max_pool2d(tx, 3, dilation=3), lambda: F.max_pool2d(x, 3, dilation=3), None)
    rejected_like_torch("maxpool", lambda: TF.max_pool2d(tx, 2, dilation=0), lambda: F.max_pool2d(x, 2, dilation=0),
                        "dilation")


def test_linear_refusals_like_torch():
    rejected_like_torch("linear", lambda: TF.linear(torch.zeros(2, 3), torch.zeros(4, 5)),
                        lambda: F.linear(np.zeros((2, 3)), np.zeros((4, 5))), None)
    rejected_like_torch("linear", lambda: TF.linear(torch.zeros(2, 3), torch.zeros(4, 3), torch.zeros(3)),
                        lambda: F.linear(np.zeros((2, 3)), np.zeros((4, 3)), np.zeros(3)), "b")
    rejected_like_torch("linear", lambda: TF.linear(torch.zeros(2, 3), torch.zeros(2, 4, 3)),
                        lambda: F.linear(np.zeros((2, 3)), np.zeros((2, 4, 3))), "w")


@pytest.mark.filterwarnings("ignore:Using a target size")      # PyTorch warns before it refuses
def test_loss_refusals_like_torch():
    s, ts = np.zeros((3, 4)), torch.zeros((3, 4))
    bad, good = np.array([0, 4, 1]), np.array([0, 1, 2])
    rejected_like_torch("softmax_xent", lambda: TF.cross_entropy(ts, torch.from_numpy(bad)),
                        lambda: F.cross_entropy(s, bad), "target")
    rejected_like_torch("softmax_xent", lambda: TF.cross_entropy(ts, torch.from_numpy(good), torch.ones(3)),
                        lambda: F.cross_entropy(s, good, np.ones(3)), "weight")
    rejected_like_torch("softmax_xent", lambda: TF.cross_entropy(ts, torch.from_numpy(good), label_smoothing=1.5),
                        lambda: F.cross_entropy(s, good, label_smoothing=1.5), "label_smoothing")
    rejected_like_torch("softmax_xent", lambda: TF.cross_entropy(ts, torch.from_numpy(good), reduction="avg"),
                        lambda: F.cross_entropy(s, good, reduction="avg"), "reduction")
    rejected_like_torch("softmax_xent", lambda: TF.cross_entropy(torch.zeros(2, 4, 3), torch.zeros(2, 4, dtype=torch.long)),
                        lambda: F.cross_entropy(np.zeros((2, 4, 3)), np.zeros((2, 4), dtype=np.int64)), "target")
    rejected_like_torch("nll_loss", lambda: TF.nll_loss(ts, torch.from_numpy(bad)), lambda: F.nll_loss(s, bad), "target")
    rejected_like_torch("nll_loss", lambda: TF.nll_loss(ts, torch.from_numpy(good), torch.ones(5)),
                        lambda: F.nll_loss(s, good, np.ones(5)), "weight")
    rejected_like_torch("nll_loss", lambda: TF.nll_loss(ts, torch.zeros(3)), lambda: F.nll_loss(s, np.zeros(3)), "target")
    rejected_like_torch("mse_loss", lambda: TF.mse_loss(ts, torch.zeros(3)), lambda: F.mse_loss(s, np.zeros(3)))
    rejected_like_torch("mse_loss", lambda: TF.mse_loss(ts, ts, reduction="avg"),
                        lambda: F.mse_loss(s, s, reduction="avg"), "reduction")


def test_batch_norm_dropout_and_pad_refusals_like_torch():
    x, tx = np.zeros((1, 3, 1, 1)), torch.zeros((1, 3, 1, 1))
    rejected_like_torch("batch_norm", lambda: TF.batch_norm(tx, None, None, training=True),
                        lambda: F.batch_norm(x, None, None, training=True), "x")
    x, tx = np.zeros((2, 3)), torch.zeros((2, 3))
    rejected_like_torch("batch_norm", lambda: TF.batch_norm(tx, torch.zeros(2), torch.ones(2)),
                        lambda: F.batch_norm(x, np.zeros(2), np.ones(2)), "running_mean")
    rejected_like_torch("batch_norm", lambda: TF.batch_norm(tx, torch.zeros(3), torch.ones(3), torch.ones(4)),
                        lambda: F.batch_norm(x, np.zeros(3), np.ones(3), np.ones(4)), "weight")
    rejected_like_torch("dropout", lambda: TF.dropout(tx, 1.5), lambda: F.dropout(x, 1.5), "p")
    rejected_like_torch("dropout", lambda: TF.dropout(tx, -0.1), lambda: F.dropout(x, -0.1), "p")
    rejected_like_torch("pad", lambda: TF.pad(tx, (1, 2, 3)), lambda: F.pad(x, (1, 2, 3)), "pad")
    rejected_like_torch("pad", lambda: TF.pad(tx, (1,) * 6), lambda: F.pad(x, (1,) * 6), "pad")
    rejected_like_torch("pad", lambda: TF.pad(tx, (-2, -2)), lambda: F.pad(x, (-2, -2)), "pad")


# ----------------------------------------------------------------------------- declared batch splits
@pytest.fixture
def split_everything(monkeypatch):
    """Make every op that declares a batch axis split it into 3 parts, however small the arrays."""
    from tinygraph import parallel
    for name in ("MIN_ELEMENTS_TO_SPLIT", "MIN_ELEMENTS_ONE_BLAS_THREAD"):
        monkeypatch.setattr(parallel, name, 1)
    monkeypatch.setattr(parallel, "workers", lambda: 3)
    return parallel


@pytest.mark.parametrize("call,shapes", [
    (lambda x, w, b: F.conv2d(x, w, b, padding=1, dilation=2, groups=2), [(5, 4, 7, 7), (6, 2, 3, 3), (6,)]),
    (lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), [(5, 2, 7, 6)]),
    (lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), [(5, 2, 7, 6)]),
    (lambda x, w, b: F.linear(x, w, b), [(7, 4), (3, 4), (3,)]),
    (lambda x, w, b: F.linear(x, w, b), [(4, 2, 4), (3, 4), (3,)]),
    (lambda x, w, b: F.linear(x, w, b), [(4,), (3, 4), (3,)]),        # one vector: nothing to split
], ids=["conv2d", "max_pool2d", "avg_pool2d", "linear", "linear 3-D", "linear 1-D"])
def test_split_over_the_batch_gives_the_one_piece_results(split_everything, call, shapes):
    def run(parts_expected: bool):
        rng = np.random.default_rng(11)
        inputs = [tg.tensor(rng.standard_normal(shape), requires_grad=True) for shape in shapes]
        out = call(*inputs)
        assert (out.grad_fn.ctx.parts is not None) == parts_expected
        out.backward(np.random.default_rng(12).standard_normal(out.shape))
        return [out.data] + [t.grad for t in inputs]
    split = run(parts_expected=len(shapes[0]) > 1)
    split_everything.MIN_ELEMENTS_TO_SPLIT = 1 << 62             # now one piece
    for a, b in zip(split, run(parts_expected=False)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
