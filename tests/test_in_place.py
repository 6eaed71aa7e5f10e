"""In-place updates are recorded as PyTorch records them (issue 18, item 1), and the graph is one of Nodes.

Each idiom runs in tinygraph and in PyTorch on the same values; values and every leaf's gradient
must agree. Then what must refuse: a leaf that requires grad, a saved value changed before
backward, a dtype that cannot be stored, a shape that cannot change.
"""
import numpy as np
import pytest
from torch_required import require_torch

import tinygraph as tg

torch = require_torch(__file__)

A = np.array([[-1.5, 2.0, 0.5], [3.0, -0.25, 1.0]])
B = np.array([[0.5, -1.0, 2.0], [1.5, 0.75, -2.0]])


def both(program, *arrays):
    """Run program(lib, *leaves) in both frameworks; compare the output and every leaf's gradient."""
    tg_leaves = [tg.tensor(a, requires_grad=True) for a in arrays]
    torch_leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    tg_out = program(tg, *tg_leaves)
    torch_out = program(torch, *torch_leaves)
    np.testing.assert_allclose(tg_out.data, torch_out.detach().numpy(), rtol=1e-12, atol=1e-12)
    weights = np.linspace(0.5, 1.5, tg_out.data.size).reshape(tg_out.shape)
    (tg_out * weights).sum().backward()
    (torch_out * torch.tensor(weights)).sum().backward()
    for mine, theirs in zip(tg_leaves, torch_leaves):
        expected = np.zeros_like(mine.data) if theirs.grad is None else theirs.grad.numpy()
        got = np.zeros_like(mine.data) if mine.grad is None else np.asarray(mine.grad)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def summed_chunks(lib, w, _):
    total = lib.tensor(0.0, dtype=lib.float64) if lib is torch else lib.tensor(0.0)
    for k in range(2):
        total += (w[k] * w[k]).sum()
    return total


def micrograd_reuse(lib, a, b):
    c = a * b
    c += c + 1
    c -= a
    c *= b
    c /= (b * b + 1)
    return c


def masked_zero(lib, a, b):
    h = a * b
    h[h < 0] = 0
    return h.sqrt()          # the zeroed entries must get exactly 0, not NaN, from sqrt's rule


def write_a_row(lib, a, b):
    out = a * 1
    out[0] = b[1] * 2
    return out


def add_into_a_column(lib, a, b):
    out = a * 1
    out[:, 0] += b[:, 1]
    return out


def update_a_view(lib, a, b):
    out = a * 1
    row = out[1]
    row.mul_(b[0])
    return out + row.sum()


def copy_fill_zero(lib, a, b):
    out = a * 1
    out.copy_(b)
    part = a * 2
    part[0].zero_()
    part[1].fill_(3.0)
    return out * part.sum()


def add_sub_with_alpha(lib, a, b):
    out = a * 1
    out.add_(b, alpha=2.0)
    out.sub_(a, alpha=0.5)
    return out


def clamp_in_place(lib, a, b):
    out = a * b
    out.clamp_(min=-0.5, max=1.0)
    return out


def transpose_view(lib, a, b):
    out = a * 1
    out.T[1] += b[0, 1]
    return out


def chained_use_of_old_and_new(lib, a, b):
    h = a * b
    before = h.exp()          # uses the old value: its edge keeps pointing at the old node
    h += 1
    return before * h


PROGRAMS = [summed_chunks, micrograd_reuse, masked_zero, write_a_row, add_into_a_column, update_a_view,
            copy_fill_zero, add_sub_with_alpha, clamp_in_place, transpose_view, chained_use_of_old_and_new]


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.__name__)
def test_in_place_idiom_matches_pytorch(program):
    both(program, A, B)


def test_an_in_place_update_makes_a_non_leaf_and_bumps_the_version():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    total = tg.tensor(0.0)
    version = total._version
    total += (w * w).sum()
    assert not total.is_leaf and total.requires_grad and total.grad_fn.op.name == "add"
    assert total._version == version + 1


def test_a_leaf_that_requires_grad_refuses_in_place_updates_as_in_pytorch():
    w = tg.tensor(np.ones(3), requires_grad=True, name="w")
    for update in (lambda: w.add_(1), lambda: w.zero_(), lambda: w.__setitem__(0, 2.0), lambda: w[1:].mul_(2)):
        with pytest.raises(RuntimeError, match="leaf"):
            update()
    with tg.no_grad():
        w.mul_(2)
        w[0] = 5.0
    np.testing.assert_array_equal(w.data, [5.0, 2.0, 2.0])


def test_a_value_a_rule_saved_and_then_changed_in_place_raises_at_backward():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1
    y = h * h                  # mul saves h
    h += 1
    with pytest.raises(RuntimeError, match="modified in place"):
        y.sum().backward()


def test_in_place_refuses_a_dtype_it_cannot_store_and_a_shape_it_cannot_take():
    counts = tg.tensor([1, 2, 3])
    w = tg.tensor([0.5, 0.5, 0.5], requires_grad=True)
    with pytest.raises(TypeError, match="cannot be stored in place"):
        counts += w
    small = tg.tensor([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="cannot change its shape"):
        small += tg.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match="cannot change its shape"):
        small += np.ones((2, 3))


def test_a_float32_tensor_takes_a_float64_update_in_its_own_dtype():
    acc = tg.tensor(np.zeros(2, dtype=np.float32))
    w = tg.tensor([1.0, 2.0], requires_grad=True)          # float64
    acc += w * 3
    assert acc.dtype == np.float32
    acc.sum().backward()
    assert w.grad.dtype == np.float64
    np.testing.assert_array_equal(w.grad, [3.0, 3.0])


def test_a_value_used_inside_and_outside_record_backward_is_one_node():
    """Issue 18 item 10: with stand-ins it appeared twice in the graph and relu's rule ran twice."""
    x = tg.tensor(np.linspace(-1, 1, 8), requires_grad=True)
    hidden = (x * 2).relu()
    outside = hidden * 3
    with tg.record_backward() as recording:
        inside = hidden.exp()
        loss = (outside + inside).sum()
        loss.backward()
    relu_steps = [s for s in recording.steps if s.node is not None and s.node.op.name == "relu"]
    assert len(relu_steps) == 1
    h = np.maximum(2 * x.data, 0)
    np.testing.assert_allclose(x.grad, 2 * (h > 0) * (3 + np.exp(h)), rtol=1e-12)


def test_edges_lead_to_nodes_and_a_freed_tensor_is_its_nodes_record():
    x = tg.tensor(np.ones(3), requires_grad=True)
    y = (x * 2).exp()
    mul = y.grad_fn.parents[0]
    assert isinstance(mul, tg.Node) and mul.op.name == "mul" and y.grad_fn.next_functions == (mul,)
    assert isinstance(y.grad_fn.inputs[0], tg.OutputRecord)        # nobody holds x * 2
    assert y.grad_fn.inputs[0].shape == (3,) and mul.parents[0] is x


def test_index_array_changed_after_a_write_does_not_move_the_gradient():
    x = tg.tensor(np.zeros(4))
    v = tg.tensor([1.0, 2.0], requires_grad=True)
    index = np.array([0, 2])
    x[index] = v
    index[:] = [3, 3]
    (x * tg.tensor([1.0, 10.0, 100.0, 1000.0])).sum().backward()
    np.testing.assert_array_equal(v.grad, [1.0, 100.0])
