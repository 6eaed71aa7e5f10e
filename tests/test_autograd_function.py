"""tg.autograd.Function against torch.autograd.Function: the same class body, written once, in both.

Each Function below is made by a factory from the framework's base class, so the very code a
PyTorch user writes runs in both; values, gradients, ctx flags and errors are compared.
"""
from __future__ import annotations

import numpy as np
import pytest
from torch_required import require_torch

torch = require_torch(__file__)

import tinygraph as tg  # noqa: E402


def legendre3(base):
    """The "Learning PyTorch with Examples" Function: P3(x) = ½(5x³ − 3x), P3'(x) = 1.5(5x² − 1)."""
    class LegendrePolynomial3(base):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input ** 3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            input, = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input ** 2 - 1)
    return LegendrePolynomial3


def mul_add(base, seen=None):
    """Two tensor inputs and a number: x·y + alpha·x; records needs_input_grad and grad mode."""
    class MulAdd(base):
        @staticmethod
        def forward(ctx, x, y, alpha):
            ctx.save_for_backward(x, y)
            ctx.alpha = alpha
            if seen is not None:
                seen.append(("forward", tuple(ctx.needs_input_grad), (tg.is_grad_enabled(), torch.is_grad_enabled())))
            return x * y + alpha * x

        @staticmethod
        def backward(ctx, grad_out):
            x, y = ctx.saved_tensors
            grad_x = grad_out * (y + ctx.alpha) if ctx.needs_input_grad[0] else None
            grad_y = grad_out * x if ctx.needs_input_grad[1] else None
            return grad_x, grad_y, None
    return MulAdd


def split_sum_product(base):
    """Two outputs: (x + y, x · y), and backward takes one gradient per output."""
    class SumProduct(base):
        @staticmethod
        def forward(ctx, x, y):
            ctx.save_for_backward(x, y)
            return x + y, x * y

        @staticmethod
        def backward(ctx, grad_sum, grad_product):
            x, y = ctx.saved_tensors
            return grad_sum + grad_product * y, grad_sum + grad_product * x
    return SumProduct


def double_with_mask(base):
    """A differentiable output and a mask marked non-differentiable."""
    class DoubleWithMask(base):
        @staticmethod
        def forward(ctx, x):
            doubled = x * 2
            half = x * 0.5
            ctx.mark_non_differentiable(half)
            return doubled, half

        @staticmethod
        def backward(ctx, grad_doubled, grad_half):
            return grad_doubled * 2
    return DoubleWithMask


def both(values, requires_grad=True, dtype=np.float64):
    array = np.asarray(values, dtype=dtype)
    return (tg.tensor(array, requires_grad=requires_grad),
            torch.tensor(array.copy(), requires_grad=requires_grad))


def test_legendre_polynomial_matches_pytorch_in_values_gradients_and_gradcheck():
    ours_cls, theirs_cls = legendre3(tg.autograd.Function), legendre3(torch.autograd.Function)
    x, q = both(np.linspace(-1, 1, 7))
    y, r = ours_cls.apply(x), theirs_cls.apply(q)
    np.testing.assert_allclose(y.data, r.detach().numpy(), rtol=1e-14)
    (y * y).sum().backward()
    (r * r).sum().backward()
    np.testing.assert_allclose(x.grad, q.grad.numpy(), rtol=1e-14)
    assert y.grad_fn.op.name == "LegendrePolynomial3"
    assert tg.gradcheck(ours_cls.apply, tg.tensor(np.linspace(-1, 1, 5), requires_grad=True))
    assert tg.gradcheck(ours_cls.apply, tg.tensor(np.linspace(-1, 1, 5, dtype=np.float32), requires_grad=True))


def test_a_function_draws_and_traces_as_one_op_named_after_its_class():
    Legendre = legendre3(tg.autograd.Function)
    x = tg.tensor(np.linspace(-1, 1, 4), requires_grad=True, name="x")
    with tg.record_backward() as recording:
        loss = Legendre.apply(x).sum().named("L")
        loss.backward()
    text = str(tg.trace(loss, recording=recording))
    assert "LegendrePolynomial3(x)" in text and "LegendrePolynomial3.backward" in text
    assert text.count("LegendrePolynomial3(x)") == 2      # the call and its formula, one op
    assert "LegendrePolynomial3" in tg.draw(loss, recording=recording).source


def test_two_tensor_inputs_and_a_number_like_pytorch():
    ours_cls, theirs_cls = mul_add(tg.autograd.Function), mul_add(torch.autograd.Function)
    rng = np.random.default_rng(0)
    xv, yv = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    x, q = both(xv)
    y, s = both(yv)
    out, ref = ours_cls.apply(x, y, 0.5), theirs_cls.apply(q, s, 0.5)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-14)
    weights = rng.normal(size=(3, 4))
    (out * tg.tensor(weights)).sum().backward()
    (ref * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(x.grad, q.grad.numpy(), rtol=1e-14)
    np.testing.assert_allclose(y.grad, s.grad.numpy(), rtol=1e-14)
    assert tg.gradcheck(lambda a, b: ours_cls.apply(a, b, 0.5), x, y)
    assert dict(out.grad_fn.attrs) == {"alpha": 0.5}
    # Keywords bind by forward's signature, as torch's apply binds them.
    np.testing.assert_allclose(ours_cls.apply(x, y, alpha=2.0).data, theirs_cls.apply(q, s, alpha=2.0).detach().numpy())


@pytest.mark.parametrize("x_grad, y_grad", [(True, True), (True, False), (False, True)])
def test_needs_input_grad_and_grad_mode_inside_forward_match_pytorch(x_grad, y_grad):
    ours_seen, theirs_seen = [], []
    ours_cls, theirs_cls = mul_add(tg.autograd.Function, ours_seen), mul_add(torch.autograd.Function, theirs_seen)
    x, q = both([1.0, 2.0], x_grad)
    y, s = both([3.0, -1.0], y_grad)
    ours_cls.apply(x, y, 2.0).sum().backward()
    theirs_cls.apply(q, s, 2.0).sum().backward()
    assert ours_seen[0][1] == theirs_seen[0][1] == (x_grad, y_grad, False)
    assert ours_seen[0][2] == (False, True)        # tinygraph records nothing inside forward...
    assert theirs_seen[0][2] == (True, False)      # ...as torch does not
    for ours, theirs in ((x, q), (y, s)):
        assert (ours.grad is None) == (theirs.grad is None)
        if ours.grad is not None:
            np.testing.assert_allclose(ours.grad, theirs.grad.numpy())


def test_needs_input_grad_follows_requires_grad_under_no_grad_as_in_pytorch():
    ours_seen, theirs_seen = [], []
    x, q = both([1.0])
    with tg.no_grad():
        out = mul_add(tg.autograd.Function, ours_seen).apply(x, x, 1.0)
    with torch.no_grad():
        mul_add(torch.autograd.Function, theirs_seen).apply(q, q, 1.0)
    assert ours_seen[0][1] == theirs_seen[0][1] == (True, True, False)
    assert not out.requires_grad


def test_several_outputs_each_get_their_gradient_like_pytorch():
    ours_cls, theirs_cls = split_sum_product(tg.autograd.Function), split_sum_product(torch.autograd.Function)
    x, q = both([[1.0, 2.0], [3.0, 4.0]])
    y, s = both([[0.5, -1.0], [2.0, 0.0]])
    (total, product), (total_t, product_t) = ours_cls.apply(x, y), theirs_cls.apply(q, s)
    assert total.shape == product.shape == (2, 2)
    np.testing.assert_allclose(product.data, product_t.detach().numpy())
    (total * 3 + product * product).sum().backward()
    (total_t * 3 + product_t * product_t).sum().backward()
    np.testing.assert_allclose(x.grad, q.grad.numpy())
    np.testing.assert_allclose(y.grad, s.grad.numpy())
    # Only one output used: the other's gradient arrives as zeros, in both.
    x.grad = y.grad = None
    q.grad = s.grad = None
    ours_cls.apply(x, y)[1].sum().backward()
    theirs_cls.apply(q, s)[1].sum().backward()
    np.testing.assert_allclose(x.grad, q.grad.numpy())
    assert tg.gradcheck(lambda a, b: ours_cls.apply(a, b)[1] * ours_cls.apply(a, b)[0], x, y)


def test_mark_non_differentiable_like_pytorch():
    ours_cls, theirs_cls = double_with_mask(tg.autograd.Function), double_with_mask(torch.autograd.Function)
    x, q = both([1.0, -2.0, 3.0])
    (doubled, half), (doubled_t, half_t) = ours_cls.apply(x), theirs_cls.apply(q)
    assert (doubled.requires_grad, half.requires_grad) == (doubled_t.requires_grad, half_t.requires_grad) == (True, False)
    np.testing.assert_allclose(half.data, half_t.numpy())
    (doubled * half).sum().backward()
    (doubled_t * half_t).sum().backward()
    np.testing.assert_allclose(x.grad, q.grad.numpy())


def test_integer_outputs_are_not_differentiable():
    class Rounded(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return tg.tensor(np.round(x.data).astype(np.int64)), x * 1.0

        @staticmethod
        def backward(ctx, grad_rounded, grad_copy):
            return grad_copy
    x = tg.tensor([1.4, 2.6], requires_grad=True)
    rounded, copy = Rounded.apply(x)
    assert rounded.dtype == np.int64 and not rounded.requires_grad and copy.requires_grad


def test_gradcheck_catches_a_wrong_backward_as_torchs_does():
    def wrong(base):
        class WrongCube(base):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x ** 3

            @staticmethod
            def backward(ctx, grad_out):
                x, = ctx.saved_tensors
                return grad_out * 2 * x ** 2        # should be 3x²
        return WrongCube
    x, q = both([0.3, -0.7, 1.1])
    with pytest.raises(tg.GradcheckError, match="input 0"):
        tg.gradcheck(wrong(tg.autograd.Function).apply, x)
    with pytest.raises(Exception):
        torch.autograd.gradcheck(wrong(torch.autograd.Function).apply, (q,))
    assert tg.gradcheck(legendre3(tg.autograd.Function).apply, x)


def test_a_backward_breaking_the_contract_is_named():
    class TooFew(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x, y, k):
            return x * y * k

        @staticmethod
        def backward(ctx, grad_out):
            return grad_out, grad_out

    class GradientForANumber(TooFew):
        @staticmethod
        def backward(ctx, grad_out):
            return grad_out, grad_out, grad_out

    class WrongShape(TooFew):
        @staticmethod
        def backward(ctx, grad_out):
            return grad_out, tg.tensor(np.ones(5)), None

    x, y = tg.tensor([1.0, 2.0], requires_grad=True), tg.tensor([3.0, 4.0], requires_grad=True)
    with pytest.raises(TypeError, match="TooFew.backward returned 2 gradients, but forward took 3"):
        TooFew.apply(x, y, 2.0).sum().backward()
    with pytest.raises(TypeError, match="GradientForANumber.backward returned a gradient for argument 2, which was a float"):
        GradientForANumber.apply(x, y, 2.0).sum().backward()
    with pytest.raises(ValueError, match="WrongShape.backward: gradient for input 1 .'y'. has shape .5,."):
        WrongShape.apply(x, y, 2.0).sum().backward()


def test_trailing_none_gradients_and_once_differentiable_as_in_pytorch():
    class Scale(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            ctx.k = k
            return x * k

        @staticmethod
        @tg.autograd.function.once_differentiable
        def backward(ctx, grad_out):
            assert not tg.is_grad_enabled()
            return grad_out * ctx.k, None, None            # one None too many is allowed, as in PyTorch
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    Scale.apply(x, 3.0).sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 3.0])
    assert Scale.backward.once_differentiable


def test_saved_tensors_are_released_and_version_checked_like_pytorch():
    Legendre = legendre3(tg.autograd.Function)
    x = tg.tensor([0.5, 0.25], requires_grad=True)
    y = Legendre.apply(x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()
    base = tg.tensor([0.5, 0.25])
    z = Legendre.apply(base * 1.0 + x)                   # the Function saves its input, a non-leaf
    w = tg.tensor([0.5, 0.25], requires_grad=True)
    leaf_out = Legendre.apply(w)
    with tg.no_grad():
        w += 1.0                                          # changes what the Function saved
    with pytest.raises(RuntimeError, match="LegendrePolynomial3"):
        leaf_out.sum().backward()
    z.sum().backward()


def test_misuse_is_explained():
    Legendre = legendre3(tg.autograd.Function)
    with pytest.raises(TypeError, match=r"LegendrePolynomial3\.apply"):
        Legendre()
    with pytest.raises(TypeError, match=r"LegendrePolynomial3\.apply"):
        Legendre.apply(tg.tensor([1.0]), 2)

    class ReturnsArray(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.data * 2

    with pytest.raises(TypeError, match="ReturnsArray.forward must return Tensors"):
        ReturnsArray.apply(tg.tensor([1.0], requires_grad=True))

    class SavesNumber(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(2.0)
            return x

    with pytest.raises(TypeError, match="save_for_backward: argument 0 is a float"):
        SavesNumber.apply(tg.tensor([1.0], requires_grad=True))


def test_the_setup_context_style_like_pytorch():
    def scaled_exp(base):
        class ScaledExp(base):
            @staticmethod
            def forward(x, scale):
                return (x * scale).exp()

            @staticmethod
            def setup_context(ctx, inputs, output):
                x, scale = inputs
                ctx.scale = scale
                ctx.save_for_backward(output)

            @staticmethod
            def backward(ctx, grad_out):
                out, = ctx.saved_tensors
                return grad_out * out * ctx.scale, None
        return ScaledExp
    x, q = both([0.1, -0.4, 0.7])
    y, r = scaled_exp(tg.autograd.Function).apply(x, 2.0), scaled_exp(torch.autograd.Function).apply(q, 2.0)
    np.testing.assert_allclose(y.data, r.detach().numpy())
    y.sum().backward()
    r.sum().backward()
    np.testing.assert_allclose(x.grad, q.grad.numpy())
    assert tg.gradcheck(lambda a: scaled_exp(tg.autograd.Function).apply(a, 2.0), x)
