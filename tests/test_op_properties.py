"""Property tests over conv2d and maxpool shapes, strides and paddings (hypothesis, few examples)."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygraph as tg

FEW = settings(max_examples=15, deadline=None)


@st.composite
def conv_setups(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    height = draw(st.integers(max(1, kh - 2 * ph), kh + 4))
    width = draw(st.integers(max(1, kw - 2 * pw), kw + 4))
    return dict(n=draw(st.integers(1, 2)), channels=draw(st.integers(1, 3)), filters=draw(st.integers(1, 3)),
                kernel=(kh, kw), padding=(ph, pw), stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
                size=(height, width), seed=draw(st.integers(0, 2**16)))


def conv_by_offsets(x, w, b, stride, padding):
    """Reference: Z = Σ over kernel offsets (i, j) of W[:, :, i, j] applied to the shifted, strided input."""
    (sh, sw), (ph, pw), (kh, kw) = stride, padding, w.shape[2:]
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out_h, out_w = (padded.shape[2] - kh) // sh + 1, (padded.shape[3] - kw) // sw + 1
    out = np.zeros((x.shape[0], w.shape[0], out_h, out_w)) + b[:, None, None]
    for i in range(kh):
        for j in range(kw):
            shifted = padded[:, :, i:i + sh * out_h:sh, j:j + sw * out_w:sw]
            out += np.einsum("nchw,fc->nfhw", shifted, w[:, :, i, j])
    return out


@FEW
@given(conv_setups())
def test_conv2d_matches_offsets_reference_and_gradcheck(setup):
    rng = np.random.default_rng(setup["seed"])
    x = tg.tensor(rng.standard_normal((setup["n"], setup["channels"]) + setup["size"]), requires_grad=True)
    w = tg.tensor(rng.standard_normal((setup["filters"], setup["channels"]) + setup["kernel"]), requires_grad=True)
    b = tg.tensor(rng.standard_normal(setup["filters"]), requires_grad=True)
    stride, padding = setup["stride"], setup["padding"]
    out = tg.conv2d(x, w, b, stride=stride, padding=padding)
    expected_hw = tuple((n + 2 * p - k) // s + 1 for n, p, k, s in zip(setup["size"], padding, setup["kernel"], stride))
    assert out.shape == (setup["n"], setup["filters"]) + expected_hw
    reference = conv_by_offsets(x.data, w.data, b.data, stride, padding)
    np.testing.assert_allclose(out.data, reference, rtol=1e-12, atol=1e-12)
    assert tg.gradcheck(lambda x, w, b: tg.conv2d(x, w, b, stride=stride, padding=padding), x, w, b)


@st.composite
def pool_setups(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    size = (draw(st.integers(kh, kh + 5)), draw(st.integers(kw, kw + 5)))
    return dict(kernel=(kh, kw), stride=stride, shape=(draw(st.integers(1, 2)), draw(st.integers(1, 2))) + size,
                seed=draw(st.integers(0, 2**16)))


@FEW
@given(pool_setups())
def test_maxpool_matches_offsets_reference_routes_one_gradient_per_window_and_gradchecks(setup):
    rng = np.random.default_rng(setup["seed"])
    (kh, kw), (sh, sw), shape = setup["kernel"], setup["stride"], setup["shape"]
    x = tg.tensor(rng.permutation(np.prod(shape)).reshape(shape) * 0.1, requires_grad=True)   # distinct values
    out = tg.maxpool(x, size=(kh, kw), stride=(sh, sw))
    out_h, out_w = (shape[2] - kh) // sh + 1, (shape[3] - kw) // sw + 1
    assert out.shape == shape[:2] + (out_h, out_w)
    reference = np.full(out.shape, -np.inf)
    for i in range(kh):
        for j in range(kw):
            reference = np.maximum(reference, x.data[:, :, i:i + sh * out_h:sh, j:j + sw * out_w:sw])
    np.testing.assert_array_equal(out.data, reference)

    weights = rng.uniform(1.0, 2.0, size=out.shape)
    out.backward(weights)
    assert np.isclose(x.grad.sum(), weights.sum())                  # every window passes on all of its gradient
    assert np.count_nonzero(x.grad) <= weights.size                  # ... to one element (fewer when windows share)
    fresh = tg.tensor(x.data, requires_grad=True)
    assert tg.gradcheck(lambda v: tg.maxpool(v, size=(kh, kw), stride=(sh, sw)), fresh)
