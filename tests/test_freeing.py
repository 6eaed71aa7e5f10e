"""Large intermediates are freed as soon as nothing needs them, already in the forward pass.

A Node's edges lead to Nodes, never to intermediate tensors, and a Node holds its output's array
only while it is smaller than node.LET_GO_BYTES: what a rule saved lives on in the rule's context,
the rest dies with the last reference to the tensor, as in PyTorch. Gradients stay exact, held tensors
keep their values and `retain_grad()`, and a forward pass inside `record_backward()` keeps every
value for the drawing.
"""
import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import buffers
from tinygraph.node import LET_GO_BYTES, OutputRecord

SHAPE = (512, 256)                 # float64: 1 MB, above LET_GO_BYTES
assert np.prod(SHAPE) * 8 >= LET_GO_BYTES


def leaf(seed=0):
    return tg.tensor(np.random.default_rng(seed).standard_normal(SHAPE), requires_grad=True)


def test_an_unsaved_intermediate_nobody_holds_dies_before_backward_and_gradients_stay_exact():
    x = leaf()
    doubled = x * 2.0                         # mul saves its inputs, not its output
    seen = weakref.ref(doubled)
    loss = (doubled.relu() * 3.0).sum()       # relu saves a mask, not `doubled`
    del doubled
    gc.collect()
    assert seen() is None                     # nothing held it: gone before backward
    relu_input = loss.grad_fn.inputs[0].grad_fn.inputs[0].grad_fn.inputs[0]
    assert isinstance(relu_input, OutputRecord) and not relu_input.values_available
    assert relu_input.shape == SHAPE and relu_input.dtype == np.float64
    with pytest.raises(RuntimeError, match="once nothing held the tensor"):
        relu_input.data
    loss.backward()
    np.testing.assert_array_equal(x.grad, np.where(x.data > 0, 6.0, 0.0))


def test_a_held_intermediate_keeps_its_values_and_retain_grad():
    x = leaf()
    hidden = (x * 2.0).named("hidden").retain_grad()
    loss = (hidden.relu() * 3.0).sum()
    seen = loss.grad_fn.inputs[0].grad_fn.inputs[0].grad_fn.inputs[0]
    assert seen is hidden and hidden.grad_fn._value is None      # the graph itself does not hold it
    loss.backward()
    np.testing.assert_array_equal(hidden.grad, np.where(hidden.data > 0, 3.0, 0.0))
    np.testing.assert_array_equal(x.grad, 2.0 * hidden.grad)


def test_a_tensor_used_by_several_ops_is_one_node_and_sums_its_gradient():
    x = leaf()
    hidden = x * 2.0
    loss = (hidden.relu() + hidden * hidden + hidden.exp()).sum()
    del hidden
    loss.backward()
    h = 2.0 * x.data
    np.testing.assert_allclose(x.grad, 2.0 * ((h > 0) + 2.0 * h + np.exp(h)), rtol=1e-12)


def test_small_intermediates_stay_in_the_graph_until_backward():
    x = tg.tensor(np.ones((4, 4)), requires_grad=True)
    loss = ((x * 2.0).relu()).sum()
    relu_input = loss.grad_fn.inputs[0].grad_fn.inputs[0]
    assert isinstance(relu_input, OutputRecord) and relu_input.values_available
    np.testing.assert_array_equal(relu_input.data, np.full((4, 4), 2.0))


def test_a_forward_pass_inside_record_backward_keeps_every_value_for_the_drawing():
    x = leaf()
    with tg.record_backward() as recording:
        loss = ((x * 2.0).relu() * 3.0).sum()
        relu_input = loss.grad_fn.inputs[0].grad_fn.inputs[0].grad_fn.inputs[0]
        assert relu_input.values_available and relu_input.shape == SHAPE    # held by its Node
        loss.backward(retain_graph=True)
    assert "values freed" not in tg.draw(loss, recording=recording).source
    assert not tg.grad_mode.STATE.keep_values            # switched back off


def forward_backward_peak(depth: int) -> int:
    """Peak traced bytes of a chain of `depth` tanh ops on a 1 MB input, forward and backward."""
    x = leaf()
    buffers.clear()
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        y = x
        for _ in range(depth):
            y = (y * 1.0).relu()
        y.sum().backward()
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


def test_a_deep_forward_pass_holds_what_the_rules_saved_not_every_activation():
    megabyte = np.prod(SHAPE) * 8
    # Each relu keeps a bool mask (1/8 MB) and each mul its float input (1 MB): ~1.1 MB per level
    # that the rules need. Holding every activation too would add 2 MB per level.
    peak = forward_backward_peak(12)
    assert peak < 12 * 1.6 * megabyte, f"{peak / megabyte:.1f} MB for 12 levels"
