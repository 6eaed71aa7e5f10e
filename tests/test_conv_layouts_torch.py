"""conv2d's three window layouts (ops/_conv_layouts.py) each against PyTorch, and the pools' fast paths on small maps.

conv2d picks "rows", "wide" or "columns" by the shapes (ops/_im2col.py); here every layout is forced
on every case it can run, so a layout the shapes of the other tests never pick is still checked,
with padding, stride, dilation, groups, bias, a float64 and a float32 run and an empty batch; and
each layout object's adjoint is checked against its windows directly.
"""
from __future__ import annotations

import numpy as np
import pytest
from torch_required import require_torch

torch = require_torch(__file__)

import torch.nn.functional as TF  # noqa: E402

import tinygraph as tg  # noqa: E402
import tinygraph.functional as F  # noqa: E402
import tinygraph.ops.conv2d as conv2d_module  # noqa: E402
from tinygraph.ops import _conv_layouts, _im2col  # noqa: E402
from torch_compare import assert_close, assert_gradient_contract, to_numpy  # noqa: E402

TOLERANCES = {np.dtype(np.float64): (1e-9, 1e-12), np.dtype(np.float32): (1e-5, 1e-5)}   # (rtol, atol)
LAYOUTS = ("rows", "wide", "columns")
CASES = [  # x shape, w shape, bias, stride, padding, dilation, groups
    ((3, 2, 8, 8), (5, 2, 3, 3), True, 1, 1, 1, 1),           # SmallCNN's first block, smaller
    ((4, 16, 4, 4), (8, 16, 3, 3), False, 1, 1, 1, 1),        # a 4×4 map with many channels: "rows" by choice
    ((2, 6, 14, 14), (16, 6, 5, 5), True, 1, 0, 1, 1),        # LeNet-5's second conv: "wide" by choice
    ((2, 3, 9, 8), (4, 3, 3, 2), True, 1, (2, 1), (2, 3), 1),  # dilation and uneven padding
    ((2, 3, 9, 10), (4, 3, 3, 3), True, (2, 3), 1, 1, 1),     # stride: no "wide"
    ((2, 4, 7, 7), (6, 2, 3, 3), True, 1, 1, 1, 2),           # groups: no "rows"
    ((2, 3, 5, 6), (4, 3, 1, 1), True, 1, 0, 1, 1),           # 1×1 kernel
    ((2, 3, 4, 4), (2, 3, 4, 4), True, 1, 0, 1, 1),           # one window: Ho = Wo = 1
    ((0, 3, 6, 6), (4, 3, 3, 3), True, 1, 1, 1, 1),           # empty batch
]


def runs(layout: str, stride, groups) -> bool:
    """Whether conv2d can lay these windows out so (rows: one group; wide: stride 1)."""
    if layout == "rows":
        return groups == 1
    if layout == "wide":
        return stride in (1, (1, 1))
    return True


@pytest.fixture
def forced_layout(monkeypatch):
    def force(layout: str):
        monkeypatch.setattr(conv2d_module, "window_layout", lambda *args: layout)
    return force


def compare_conv(shapes, options, dtype, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-2, 2, shape).astype(dtype) for shape in shapes]
    ours = [tg.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, expected = F.conv2d(*ours, **options), TF.conv2d(*theirs, **options)
    rtol, atol = TOLERANCES[np.dtype(dtype)]
    assert_close(out.data, to_numpy(expected), rtol, atol, "conv2d forward value")
    weights = rng.uniform(-1, 1, expected.shape).astype(dtype)
    (out * weights).sum().backward()
    (expected * torch.from_numpy(weights)).sum().backward()
    for i, (mine, reference) in enumerate(zip(ours, theirs)):
        assert_gradient_contract(mine.grad, arrays[i].shape, np.dtype(dtype), f"gradient of input {i}")
        assert_close(mine.grad, to_numpy(reference.grad), rtol, atol, f"conv2d gradient of input {i}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("x_shape,w_shape,bias,stride,padding,dilation,groups", CASES, ids=str)
def test_every_layout_matches_torch(forced_layout, layout, x_shape, w_shape, bias, stride, padding, dilation,
                                    groups, dtype):
    if not runs(layout, stride, groups):
        pytest.skip(f"conv2d never lays these windows out as {layout}")
    forced_layout(layout)
    shapes = [x_shape, w_shape] + ([(w_shape[0],)] if bias else [])
    compare_conv(shapes, dict(stride=stride, padding=padding, dilation=dilation, groups=groups), dtype)


def test_every_layout_with_only_some_gradients(forced_layout):
    """A constant input (no δx) or constant weights (no δW): each layout skips what is not needed."""
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 8, 4, 4)), rng.standard_normal((3, 8, 3, 3))
    expected = TF.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).numpy()
    for layout in LAYOUTS:
        forced_layout(layout)
        for needs in ((True, False), (False, True)):
            xt, wt = tg.tensor(x, requires_grad=needs[0]), tg.tensor(w, requires_grad=needs[1])
            out = F.conv2d(xt, wt, padding=1)
            np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)
            out.sum().backward()
            assert (xt.grad is not None) == needs[0] and (wt.grad is not None) == needs[1]


@pytest.mark.parametrize("shape,expected", [((1, 32, 6, 6), "rows"), ((1, 6, 14, 14), "wide"),
                                            ((1, 3, 34, 34), "columns")])
def test_the_layout_follows_the_shapes(shape, expected):
    """Small maps with many channels by rows; few filters on few channels by wide rows; else columns."""
    filters = {"rows": 64, "wide": 16, "columns": 32}[expected]
    w_shape = (filters, shape[1], 5 if expected == "wide" else 3, 5 if expected == "wide" else 3)
    assert _im2col.window_layout(shape, w_shape, (1, 1), (1, 1), 1) == expected


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("x_shape,w_shape,bias,stride,padding,dilation,groups", CASES, ids=str)
def test_every_layouts_adjoint_is_the_adjoint_of_its_windows(layout, x_shape, w_shape, bias, stride, padding,
                                                             dilation, groups):
    """⟨windows(X), G⟩ = ⟨x, adjoint(G) inside the padding⟩ for G = Wᵀ · δZ as conv2d makes it (0 where a wide window wrapped);
    and W · windows arranged by `output` is the convolution PyTorch computes."""
    if not runs(layout, stride, groups):
        pytest.skip(f"conv2d never lays these windows out as {layout}")
    rng = np.random.default_rng(5)
    pair = lambda v: v if isinstance(v, tuple) else (v, v)    # noqa: E731
    stride, padding, dilation = pair(stride), pair(padding), pair(dilation)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    expected = TF.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride=stride, padding=padding,
                         dilation=dilation, groups=groups).numpy()
    chosen = _conv_layouts.LAYOUTS[layout](x_shape, w_shape, stride, padding, dilation, groups, expected.shape[2:])
    X = chosen.pad(x)
    windows, W = chosen.windows(X), chosen.weight(w)
    np.testing.assert_allclose(chosen.output(W @ windows, None), expected, rtol=1e-10, atol=1e-12)
    grad_windows = W.swapaxes(-1, -2) @ chosen.grad_product(rng.standard_normal(expected.shape))
    grad_X = chosen.adjoint(grad_windows)              # δ of the padded input, (N, C, H', W') whatever the layout
    (ph, pw), (height, width) = padding, x_shape[2:]
    np.testing.assert_allclose((windows * grad_windows).sum(), (x * grad_X[:, :, ph:ph + height, pw:pw + width]).sum(),
                               rtol=1e-10, atol=1e-10)


def test_the_wide_columns_and_their_adjoint_agree():
    """⟨im2col_wide(x), g⟩ = ⟨x, col2im_wide(g)⟩ for g that is 0 where a window wrapped (what conv2d passes)."""
    rng = np.random.default_rng(2)
    n, channels, height, width, kernel, dilation = 2, 3, 7, 6, (3, 2), (2, 1)
    x = _im2col.zero_pad(rng.standard_normal((n, channels, height, width)), (0, 0), spare_row=True)
    out_h = height - dilation[0] * (kernel[0] - 1)
    out_w = width - dilation[1] * (kernel[1] - 1)
    cols = _im2col.im2col_wide(x, kernel, dilation, out_h)
    grad = rng.standard_normal(cols.shape).reshape(n, -1, out_h, width)
    grad[..., out_w:] = 0
    grad = grad.reshape(cols.shape)
    back = _im2col.col2im_wide(grad, x.shape, kernel, dilation)
    np.testing.assert_allclose((cols * grad).sum(), (x * back).sum(), rtol=1e-12)
    plain = _im2col.im2col(x[:, :, :height], kernel, (1, 1), dilation).reshape(n, -1, out_h, out_w)
    np.testing.assert_array_equal(cols.reshape(n, -1, out_h, width)[..., :out_w], plain)


# ----------------------------------------------------------------------------- the pools on small maps
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(3, 4, 4, 4), (2, 3, 8, 8), (2, 2, 5, 7), (1, 2, 2, 2), (0, 2, 4, 4)], ids=str)
def test_the_two_by_two_max_pool_matches_torch_with_ties(shape, dtype):
    """Values from a few levels, so many windows tie: the gradient goes where PyTorch sends it."""
    rng = np.random.default_rng(3)
    a = rng.integers(-2, 3, shape).astype(dtype)
    x, xt = tg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    out, expected = F.max_pool2d(x, 2), TF.max_pool2d(xt, 2)
    np.testing.assert_array_equal(out.data, to_numpy(expected))
    weights = rng.standard_normal(expected.shape).astype(dtype)
    (out * weights).sum().backward()
    (expected * torch.from_numpy(weights)).sum().backward()
    np.testing.assert_array_equal(x.grad, to_numpy(xt.grad))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape,size", [((2, 3, 8, 8), 2), ((2, 3, 7, 5), 2), ((2, 2, 9, 9), 3), ((1, 2, 4, 4), (2, 1)),
                                        ((0, 2, 4, 4), 2)], ids=str)
def test_tiling_average_pool_matches_torch(shape, size, dtype):
    rng = np.random.default_rng(4)
    a = rng.standard_normal(shape).astype(dtype)
    x, xt = tg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    out, expected = F.avg_pool2d(x, size), TF.avg_pool2d(xt, size)
    rtol, atol = TOLERANCES[np.dtype(dtype)]
    assert_close(out.data, to_numpy(expected), rtol, atol, "avg_pool2d forward value")
    weights = rng.standard_normal(expected.shape).astype(dtype)
    (out * weights).sum().backward()
    (expected * torch.from_numpy(weights)).sum().backward()
    assert_close(x.grad, to_numpy(xt.grad), rtol, atol, "avg_pool2d gradient")


def test_tiling_average_pool_of_integers_keeps_the_dtype():
    x = np.arange(2 * 1 * 4 * 4, dtype=np.int64).reshape(2, 1, 4, 4)
    out = tg.avg_pool2d(tg.tensor(x), 2)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.data, (x.reshape(2, 1, 2, 2, 2, 2).sum(axis=(3, 5)) / 4).astype(np.int64))
