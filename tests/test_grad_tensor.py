"""`.grad` is a Tensor, as in PyTorch: each idiom a ported script uses on it, side by side with torch."""
import math

import numpy as np
import pytest

import tinygraph as tg
from torch_required import require_torch

torch = require_torch(__file__)


def _both(values=(1.0, -2.0, 3.0)):
    return tg.nn.Parameter(np.array(values)), torch.tensor(values, dtype=torch.float64, requires_grad=True)


def test_grad_is_a_tensor_with_no_graph_and_the_same_one_on_every_read():
    p, q = _both()
    (p * p).sum().backward()
    (q * q).sum().backward()
    assert type(p.grad) is tg.Tensor and p.grad is p.grad
    assert p.grad.grad_fn is None and not p.grad.requires_grad
    np.testing.assert_array_equal(np.asarray(p.grad), q.grad.numpy())
    assert np.shares_memory(np.asarray(p.grad), p.grad.data)


def test_a_second_backward_adds_into_the_tensor_already_read_as_pytorch_does():
    p, q = _both()
    (p * p).sum().backward()
    (q * q).sum().backward()
    held, held_torch = p.grad, q.grad
    (3 * p).sum().backward()
    (3 * q).sum().backward()
    assert p.grad is held and q.grad is held_torch
    np.testing.assert_array_equal(held.numpy(), held_torch.numpy())


def test_zero_in_place_then_backward_accumulates_from_zero():
    p, q = _both()
    for t in (p, q):
        (t * t).sum().backward()
        t.grad.zero_()
        (t * 5).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
    np.testing.assert_array_equal(p.grad.numpy(), [5.0, 5.0, 5.0])


def test_hand_written_sgd_and_the_optimizers_zero_grad():
    p, q = _both()
    for t, lib in ((p, tg), (q, torch)):
        (t * t).sum().backward()
        with lib.no_grad():
            t -= 0.1 * t.grad
    np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=0, atol=1e-15)
    opt = tg.optim.SGD([p], lr=0.1)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.numpy(), np.zeros(3))
    opt.zero_grad()
    assert p.grad is None


def test_norm_and_clipping_read_the_tensor():
    p, q = _both()
    (p ** 3).sum().backward()
    (q ** 3).sum().backward()
    assert p.grad.norm().item() == pytest.approx(q.grad.norm().item(), rel=1e-15)
    total = tg.nn.utils.clip_grad_norm_([p], 1.0)
    expected = torch.nn.utils.clip_grad_norm_([q], 1.0)
    assert float(total) == pytest.approx(float(expected), rel=1e-12)
    np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)
    assert type(p.grad) is tg.Tensor


def test_an_assigned_gradient_must_fit_its_tensor_as_in_pytorch():
    p, q = _both()
    with pytest.raises(RuntimeError):
        q.grad = torch.ones(4, dtype=torch.float64)
    with pytest.raises(RuntimeError, match=r"shape \(4,\) to tensor of shape \(3,\)"):
        p.grad = tg.ones(4, dtype=tg.float64)
    with pytest.raises(RuntimeError, match="dtype float32"):
        p.grad = np.ones(3, np.float32)
    with pytest.raises(TypeError, match="expected a Tensor"):
        p.grad = [1.0, 2.0, 3.0]
    p.grad = tg.ones(3, dtype=tg.float64)         # one that fits is kept as given
    (p * 2).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), [3.0, 3.0, 3.0])


def test_create_graph_gives_a_grad_with_its_graph_and_a_plain_one_after_it_adds():
    p, q = _both([0.5, 2.0])
    (p ** 3).sum().backward(create_graph=True)
    (q ** 3).sum().backward(create_graph=True)
    assert p.grad.requires_grad and p.grad.grad_fn is not None
    first = p.grad
    (p * p.grad).sum().backward()             # d/dp Σ p·3p² = 9p², added to 3p²
    (q * q.grad).sum().backward()
    np.testing.assert_allclose(p.grad.numpy(), q.grad.detach().numpy(), rtol=1e-15)
    np.testing.assert_array_equal(first.numpy(), 3 * np.array([0.5, 2.0]) ** 2)   # the graph's value stays


def test_one_element_gradients_format_like_numbers():
    p, _ = _both()
    (p * p).sum().backward()
    assert f"{p.grad[1]:.3f}" == "-4.000"
    assert f"{p.grad.norm():.2e}" == f"{math.sqrt(4 + 16 + 36):.2e}"
    with pytest.raises(TypeError):
        f"{p.grad:.3f}"


@pytest.mark.parametrize("p", [2, "fro", 1, 3, 0.5, math.inf, -math.inf])
@pytest.mark.parametrize("dim, keepdim", [(None, False), (1, True), ((0, 1), False)])
def test_norm_matches_pytorch_with_zeros_in_the_input(p, dim, keepdim):
    values = np.random.default_rng(0).normal(size=(3, 4))
    values[1] = 0.0                              # a zero row: the root's slope there is masked to 0
    values[2, 0] = 0.0
    x, t = tg.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    out, expected = tg.norm(x, p, dim, keepdim), torch.norm(t, p, dim, keepdim)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-14, atol=1e-15)
    weights = np.random.default_rng(1).normal(size=tuple(expected.shape))
    (out * weights).sum().backward()
    (expected * torch.from_numpy(weights)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-13, atol=1e-15)


def test_norm_is_twice_differentiable_and_refuses_what_pytorch_refuses():
    x = tg.tensor([[1.0, 2.0], [3.0, -1.0]], requires_grad=True)
    assert tg.gradgradcheck(lambda x: x.norm(dim=1), x)
    assert tg.gradgradcheck(lambda x: x.norm(3), x)
    with pytest.raises(tg.OpError, match="norm.*dtype int64"):
        tg.tensor([1, 2]).norm()
    with pytest.raises(tg.OpError, match="p must be"):
        x.norm(p=-1)


def test_numpy_functions_work_on_a_grad_and_operators_stay_recorded():
    p, q = _both()
    (p * p).sum().backward()
    (q * q).sum().backward()
    assert type(np.abs(p.grad)) is np.ndarray and np.array_equal(np.abs(p.grad), np.abs(q.grad.numpy()))
    assert np.isfinite(p.grad).all() and np.max(np.abs(p.grad - q.grad.numpy())) == 0
    weights = p.data                              # the parameter's own array, updated by NumPy in place
    weights -= 0.1 * p.grad
    assert p.data is weights and type(p.data) is np.ndarray
    np.testing.assert_allclose(p.data, [0.8, -1.6, 2.4])
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0]) * x                  # NumPy on the left: still the tensor's recorded op
    assert y.grad_fn is not None and y.grad_fn.op.name == "mul"
    with pytest.raises(TypeError, match=r"np.exp: tensor of shape \(2,\) requires grad.*x.exp\(\)|t.exp\(\)"):
        np.exp(x)


def test_numpy_reductions_call_the_tensors_own_and_sum_takes_a_dtype():
    p, q = _both()
    (p * p).sum().backward()
    (q * q).sum().backward()
    assert float(np.sum(p.grad)) == float(torch.sum(q.grad)) and float(np.mean(p.grad)) == float(torch.mean(q.grad))
    x = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    total = np.sum(x * 2, axis=0)                 # NumPy's call of x.sum: recorded, as in PyTorch
    assert total.grad_fn.op.name == "sum"
    total.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 2), 2.0))
    assert x.sum(dtype=tg.float32).dtype == np.float32 == np.dtype(str(q.sum(dtype=torch.float32).dtype)[6:])
    with pytest.raises(TypeError, match=r"sum\(\): out= is not supported"):
        np.sum(x, out=np.zeros(()))
