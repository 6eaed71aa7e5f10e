"""Differentiating a backward pass (issue 19): checked in float64 against exact results and PyTorch.

grad(grad(x³)) = 6x; the Hessian of ½xᵀAx is exactly ½(A + Aᵀ); Newton's method with
tg.func.hessian converges quadratically on Rosenbrock; the derivation's CNN's Hessian-vector
product in (W, U) matches torch.autograd.functional.hvp; a WGAN-GP gradient penalty and one MAML
inner step give PyTorch's parameter gradients; jvp, jacrev and jacfwd agree with each other.
"""
import numpy as np
import pytest
from torch_required import require_torch

import tinygraph as tg
from tinygraph.models.two_layer_cnn import TwoLayerCNN

torch = require_torch(__file__)
F = torch.nn.functional


def test_second_and_third_derivative_of_a_cube():
    x = tg.tensor(np.array([-1.5, 0.5, 2.0]))
    cube = lambda v: (v * v * v).sum()
    second = tg.func.grad(lambda v: tg.func.grad(cube)(v).sum())(x)
    np.testing.assert_allclose(second.data, 6 * x.data, rtol=1e-15)
    third = tg.func.grad(lambda v: tg.func.grad(lambda w: tg.func.grad(cube)(w).sum())(v).sum())(x)
    np.testing.assert_allclose(third.data, [6.0, 6.0, 6.0], rtol=1e-15)


def test_backward_create_graph_leaves_a_differentiable_grad():
    x = tg.tensor(np.array([0.5, -2.0]), requires_grad=True)
    (x * x * x).sum().backward(create_graph=True)
    first = x.grad
    assert isinstance(first, tg.Tensor) and first.requires_grad
    np.testing.assert_allclose(first.data, 3 * x.data ** 2)
    x.grad = None
    first.sum().backward()
    np.testing.assert_allclose(x.grad, 6 * x.data)


def test_hessian_of_a_quadratic_form_is_the_symmetric_part():
    A = np.random.default_rng(0).standard_normal((4, 4))
    hessian = tg.func.hessian(lambda v: 0.5 * (v @ (tg.tensor(A) @ v)))(np.ones(4))
    np.testing.assert_allclose(hessian.data, 0.5 * (A + A.T), rtol=1e-14, atol=1e-14)


def rosenbrock(v):
    x, y = v[0], v[1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def test_newton_with_tg_hessian_converges_quadratically_on_rosenbrock():
    point = np.array([1.2, 1.2])
    errors = []
    for _ in range(6):
        gradient = tg.func.grad(rosenbrock)(point).data
        hessian = tg.func.hessian(rosenbrock)(point).data
        point = point - np.linalg.solve(hessian, gradient)
        errors.append(np.linalg.norm(point - 1.0))
    assert errors[-1] < 1e-12
    # quadratic convergence: each error is about the square of the one before, once close
    close = [e for e in errors if 1e-12 < e < 1e-2]
    for before, after in zip(close, close[1:]):
        assert after <= 50 * before ** 2


def test_jacobians_by_reverse_and_forward_mode_and_jvp_agree():
    W = np.random.default_rng(1).standard_normal((3, 4))
    f = lambda x: (tg.tensor(W) @ x).tanh() * x[:3]
    x = np.random.default_rng(2).standard_normal(4)
    reverse = tg.func.jacrev(f)(x).data
    forward = tg.func.jacfwd(f)(x).data
    np.testing.assert_allclose(reverse, forward, rtol=1e-12, atol=1e-14)
    v = np.random.default_rng(3).standard_normal(4)
    _, along = tg.func.jvp(f, (x,), (v,))
    np.testing.assert_allclose(along.data, reverse @ v, rtol=1e-12, atol=1e-14)
    expected = torch.autograd.functional.jacobian(
        lambda t: (torch.tensor(W) @ t).tanh() * t[:3], torch.tensor(x)).numpy()
    np.testing.assert_allclose(reverse, expected, rtol=1e-12, atol=1e-14)


def cnn_and_batch():
    rng = np.random.default_rng(0)
    model = TwoLayerCNN(rng=np.random.default_rng(1), dtype=np.float64)
    images = rng.random((4, 1, 8, 8))
    labels = np.array([3, 1, 4, 1])
    return model, images, labels


def test_the_cnns_hessian_vector_product_in_W_and_U_matches_pytorch():
    model, images, labels = cnn_and_batch()
    W, b, U, c = (p.data for p in (model.conv.weight, model.conv.bias, model.fc.weight, model.fc.bias))
    rng = np.random.default_rng(5)
    vW, vU = rng.standard_normal(W.shape), rng.standard_normal(U.shape)

    def loss_tg(w, u):
        Z = tg.conv2d(tg.tensor(images), w, tg.tensor(b))
        p = tg.maxpool(Z.relu(), 2).reshape(len(images), -1)
        return tg.softmax_xent(tg.linear(p, u, tg.tensor(c)), labels)

    def loss_torch(w, u):
        Z = F.conv2d(torch.tensor(images), w, torch.tensor(b))
        p = F.max_pool2d(Z.relu(), 2).reshape(len(images), -1)
        return F.cross_entropy(F.linear(p, u, torch.tensor(c)), torch.tensor(labels))

    value, (hW, hU) = tg.func.hvp(loss_tg, (W, U), (vW, vU))
    expected_value, (eW, eU) = torch.autograd.functional.hvp(
        loss_torch, (torch.tensor(W), torch.tensor(U)), (torch.tensor(vW), torch.tensor(vU)))
    np.testing.assert_allclose(value.item(), expected_value.item(), rtol=1e-12)
    for got, expected in ((hW, eW), (hU, eU)):
        scale = np.abs(expected.numpy()).max()
        np.testing.assert_allclose(got.data, expected.numpy(), rtol=0, atol=1e-9 * scale)


def test_wgan_gp_gradient_penalty_gives_pytorchs_parameter_gradients():
    rng = np.random.default_rng(7)
    w1, b1, w2 = rng.standard_normal((8, 5)), rng.standard_normal(8), rng.standard_normal((1, 8))
    real, fake, alpha = rng.standard_normal((6, 5)), rng.standard_normal((6, 5)), rng.random((6, 1))

    def penalty(lib, params, mixed):
        w1, b1, w2 = params
        relu = (lambda t: t.relu())
        critic = lib.nn.functional.linear(relu(lib.nn.functional.linear(mixed, w1, b1)), w2).sum()
        (gradient,) = lib.autograd.grad(critic, mixed, create_graph=True)
        norms = ((gradient * gradient).sum(1) + 1e-12).sqrt()
        return ((norms - 1) ** 2).mean()

    tg_params = [tg.tensor(a, requires_grad=True) for a in (w1, b1, w2)]
    tg_mixed = tg.tensor(alpha * real + (1 - alpha) * fake, requires_grad=True)
    penalty(tg, tg_params, tg_mixed).backward()
    torch_params = [torch.tensor(a, requires_grad=True) for a in (w1, b1, w2)]
    torch_mixed = torch.tensor(alpha * real + (1 - alpha) * fake, requires_grad=True)
    penalty(torch, torch_params, torch_mixed).backward()
    # b1 only moves relu's kinks, whose derivative is 0: PyTorch gives it zeros, tinygraph no path (None)
    assert tg_params[1].grad is None and not torch_params[1].grad.numpy().any()
    for mine, theirs in zip(tg_params[::2], torch_params[::2]):
        np.testing.assert_allclose(mine.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_one_maml_inner_step_gives_pytorchs_meta_gradients():
    rng = np.random.default_rng(11)
    w, b = rng.standard_normal((1, 3)), rng.standard_normal(1)
    x_support, y_support = rng.standard_normal((5, 3)), rng.standard_normal((5, 1))
    x_query, y_query = rng.standard_normal((5, 3)), rng.standard_normal((5, 1))
    inner_lr = 0.1

    def meta_loss(lib, w, b):
        F_ = lib.nn.functional
        support = F_.mse_loss(F_.linear(lib.tensor(x_support), w, b).tanh(), lib.tensor(y_support))
        gw, gb = lib.autograd.grad(support, (w, b), create_graph=True)
        w_adapted, b_adapted = w - inner_lr * gw, b - inner_lr * gb
        return F_.mse_loss(F_.linear(lib.tensor(x_query), w_adapted, b_adapted).tanh(), lib.tensor(y_query))

    tg_w, tg_b = tg.tensor(w, requires_grad=True), tg.tensor(b, requires_grad=True)
    meta_loss(tg, tg_w, tg_b).backward()
    torch_w, torch_b = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    meta_loss(torch, torch_w, torch_b).backward()
    np.testing.assert_allclose(tg_w.grad, torch_w.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tg_b.grad, torch_b.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_differentiating_through_a_once_differentiable_rule_names_the_op():
    @tg.register_op("cube_once", forward="{out} = {x}³", backward="δ{x} = δ{out} ⊙ 3{x}²")
    class CubeOnce(tg.Op):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, grad_out):
            (x,) = ctx.saved
            return (grad_out * 3 * x ** 2,)

    try:
        x = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
        (first,) = tg.autograd.grad(tg.cube_once(x).sum(), x, create_graph=True)
        np.testing.assert_allclose(first.data, [3.0, 12.0])          # the first derivative still works
        with pytest.raises(RuntimeError, match="cube_once: backward is not differentiable"):
            first.sum().backward()
    finally:
        tg.unregister_op("cube_once")


def test_autograd_grad_changes_no_grad_and_refuses_unused_inputs():
    x = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    unused = tg.tensor(np.array([3.0]), requires_grad=True)
    y = (x * x).sum()
    (g,) = tg.autograd.grad(y, x, retain_graph=True)
    np.testing.assert_allclose(g.data, 2 * x.data)
    assert x.grad is None
    with pytest.raises(RuntimeError, match="was not used"):
        tg.autograd.grad(y, [x, unused], retain_graph=True)
    assert tg.autograd.grad(y, [x, unused], allow_unused=True)[1] is None


def test_a_drawn_gradient_graph_names_the_rule_that_made_each_op_and_steps_through_a_double_backward():
    Z = tg.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True, name="Z")
    A = Z.relu().named("A")
    L = (A * A).sum().named("L")
    (grad_Z,) = tg.autograd.grad(L, Z, create_graph=True)
    S = (grad_Z.named("δZ") * grad_Z).sum().named("S")
    source = tg.draw(S).source
    assert "made by relu: δZ = δA ⊙ 1[Z &gt; 0]" in source          # in the original graph's symbols
    assert "mask" in source                                         # relu's mask, drawn as the constant it is
    assert source.count("made by mul") == 2
    with tg.record_backward() as recording:
        S.backward()
    page = tg.draw_steps(S, recording=recording)
    assert page.frames == len(recording.rule_steps) >= 6             # one frame per rule of the double backward
    np.testing.assert_allclose(Z.grad, [4.0, 0.0, 16.0])            # d/dZ Σ (2 relu(Z) 1[Z>0])² = 8 Z 1[Z>0]


def test_gradgradcheck_refuses_a_recorded_rule_whose_first_derivative_differs_from_the_numpy_rule():
    """Wrong but self-consistent (twice the slope, recorded): central differences of the recorded
    gradient alone would accept it; comparing it with the NumPy rule's does not."""
    @tg.register_op("square_twice_as_steep", forward="{out} = {x}²", backward="δ{x} = 2{x} δ{out}")
    class SquareTwiceAsSteep(tg.Op):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad_out):
            (x,) = ctx.saved
            return (2 * x * grad_out,)

        @staticmethod
        def differentiable_backward(ctx, grad_out):
            (x,) = ctx.saved
            return (4 * ctx.input(0, x) * grad_out,)

    try:
        x = tg.tensor(np.array([0.5, -1.5]), requires_grad=True)
        assert tg.gradcheck(tg.square_twice_as_steep, x)
        with pytest.raises(tg.GradcheckError, match="recorded rules"):
            tg.gradgradcheck(tg.square_twice_as_steep, x)
    finally:
        tg.unregister_op("square_twice_as_steep")
