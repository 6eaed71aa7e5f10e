"""Engine semantics: accumulation, ordering, release, retain_graph, no_grad, depth, contract, anomalies."""
import numpy as np
import pytest

import tinygraph as tg


def leaf(values, name=None):
    return tg.tensor(np.asarray(values, dtype=np.float64), requires_grad=True, name=name)


def test_reused_tensor_gets_the_sum_of_its_uses():
    x = leaf([1.0, -2.0, 3.0])
    y = (x * x + x).sum()           # dy/dx = 2x + 1
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 1)


def test_diamond_runs_each_rule_once_after_all_consumers():
    x = leaf([0.5, 2.0])
    a = x * 3.0                     # two paths from a to the output
    b = a.exp()
    c = a * a
    out = (b + c).sum()             # d/dx = 3·(e^{3x} + 2·3x)
    calls = []
    with tg.backward_hook(lambda step: calls.append(None if step.node is None else step.node.op.name)):
        out.backward()
    np.testing.assert_allclose(x.grad, 3 * (np.exp(3 * x.data) + 6 * x.data))
    assert calls.count("mul") == 2 and calls.count("exp") == 1   # a's rule ran once, not once per path
    assert calls.index("exp") < calls.index("mul", 1) or calls[-2] == "mul"


def test_fan_out_to_three_consumers():
    x = leaf(np.arange(1.0, 5.0))
    out = (x.exp() + x * 2.0 + x.sum()).sum()     # d/dx = e^x + 2 + 4
    out.backward()
    np.testing.assert_allclose(x.grad, np.exp(x.data) + 2 + 4)


def test_leaf_gradients_accumulate_across_backward_calls_until_zero_grad():
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * (2 * x.data))
    x.zero_grad()
    assert x.grad is None
    (x * 5.0).sum().backward()
    np.testing.assert_allclose(x.grad, [5.0, 5.0])


def test_intermediate_grad_only_with_retain_grad():
    x = leaf([1.0, -1.0])
    h = x * 2.0
    kept = (x * 3.0).retain_grad()
    (h * kept).sum().backward()     # d/dh = kept = 3x ; d/dkept = h = 2x
    assert h.grad is None
    np.testing.assert_allclose(kept.grad, 2 * x.data)


def test_second_backward_through_released_graph_is_a_clear_error():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"(?s)already backpropagated.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * 2 * x.data)


def test_backward_keeps_graph_structure_and_releases_saved_arrays():
    x = leaf(np.ones((2, 3)))
    y = (x * x).sum()
    node = y.grad_fn.inputs[0].grad_fn
    assert [a.shape for a in node.ctx.saved] == [(2, 3), (2, 3)]
    y.backward()
    assert node.ctx.saved is None and node.released
    assert node.inputs == (x, x)


def test_backward_hooks_see_what_each_rule_returned_and_what_the_engine_passed_on():
    a, b = leaf(np.ones((2, 3)), "a"), leaf(np.ones(3), "b")
    out = a * b
    steps = []
    with tg.backward_hook(steps.append):
        out.backward(np.ones((2, 3)))
    (mul,) = [s for s in steps if s.node is not None]
    assert mul.tensor is out and mul.node is out.grad_fn
    assert [g.shape for g in mul.rule_grads] == [(2, 3), (2, 3)]       # the rule's own output
    assert [g.shape for g in mul.input_grads] == [(2, 3), (3,)]        # broadcasting undone
    assert mul.summed_axes(0) == () and mul.summed_axes(1) == (0,)


def test_no_grad_records_nothing():
    x = leaf([1.0])
    with tg.no_grad():
        assert not tg.is_grad_enabled()
        y = x * 2.0
    assert tg.is_grad_enabled()
    assert y._node is None and not y.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_constants_get_no_gradient_and_no_node():
    c = tg.tensor([1.0, 2.0])
    y = c * 3.0 + 1.0
    assert y._node is None and not y.requires_grad


def test_chain_of_100000_ops_backpropagates_without_recursion():
    x = leaf([1.0])
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0])


def test_non_scalar_root_needs_an_explicit_grad():
    x = leaf([1.0, 2.0])
    y = x * 3.0
    with pytest.raises(RuntimeError, match=r"has 2 elements; pass grad="):
        y.backward()
    y.backward(np.array([1.0, 10.0]))
    np.testing.assert_allclose(x.grad, [3.0, 30.0])
    with pytest.raises(ValueError, match=r"grad has shape \(3,\)"):
        (x * 1.0).backward(np.ones(3))


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize("shape_a, shape_b", [((2, 3), (3,)), ((4, 1, 3), (2, 1)), ((1,), (2, 2)), ((), (3,))])
def test_broadcasting_gradients_sum_over_the_copied_axes(op, shape_a, shape_b):
    rng = np.random.default_rng(0)
    a = leaf(rng.uniform(0.5, 2.0, shape_a), "a")
    b = leaf(rng.uniform(0.5, 2.0, shape_b), "b")
    fn = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b,
          "mul": lambda a, b: a * b, "div": lambda a, b: a / b}[op]
    assert tg.gradcheck(fn, a, b)
    out = fn(a, b)
    out.sum().backward()
    assert a.grad.shape == shape_a and b.grad.shape == shape_b
    # a backward hook is told which axes the engine summed (the drawing shows them)
    out = fn(a, b)
    steps = []
    with tg.backward_hook(steps.append):
        out.sum().backward()
    (step,) = [s for s in steps if s.node is out.grad_fn]
    broadcast_shape = np.broadcast_shapes(shape_a, shape_b)
    for i, shape in enumerate((shape_a, shape_b)):
        if shape != broadcast_shape:
            assert len(step.summed_axes(i)) > 0


def test_scalars_and_arrays_on_either_side():
    x = leaf([1.0, 2.0])
    y = 2.0 - x * np.array([1.0, 3.0]) + 1 / x
    assert isinstance(y, tg.Tensor)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, -np.array([1.0, 3.0]) - 1 / x.data ** 2)
    z = np.array([2.0, 2.0]) ** 1 @ x       # ndarray @ Tensor goes through Tensor.__rmatmul__
    assert isinstance(z, tg.Tensor) and z.item() == 6.0


def test_pow_with_scalar_exponent_and_scalar_base():
    x = leaf([1.0, 4.0])
    assert tg.gradcheck(lambda x: x ** 1.5 + 2 ** x, x)
    assert tg.gradcheck(lambda x: x ** x, x)          # a tensor exponent differentiates both sides (issue 18.5)


# ------------------------------------------------------------------------- the backward contract
class _Double(tg.Op):
    @staticmethod
    def forward(ctx, x):
        return 2 * x


def _register(name, backward):
    cls = type(name, (_Double,), {"backward": staticmethod(backward)})
    tg.register_op(name)(cls)
    return getattr(tg, name)


@pytest.mark.parametrize("name, backward, error, message", [
    ("double_two_grads", lambda ctx, g: (2 * g, 2 * g), TypeError, r"double_two_grads.backward returned 2 gradients for 1 inputs \('x',\)"),
    ("double_not_tuple", lambda ctx, g: 2 * g, TypeError, r"double_not_tuple.backward must return a tuple"),
    ("double_bad_shape", lambda ctx, g: (np.ones(5),), ValueError, r"double_bad_shape.backward: gradient for input 0 \('x'\) has shape \(5,\), but the input has shape \(2, 3\)"),
    ("double_bad_dtype", lambda ctx, g: ((2 * g).astype(np.complex128),), TypeError, r"double_bad_dtype.backward: gradient for input 0 \('x'\) has dtype complex128, but the input has dtype float64"),
])
def test_backward_contract_violations_name_the_op_input_and_shapes(name, backward, error, message):
    fn = _register(name, backward)
    try:
        x = leaf(np.ones((2, 3)))
        with pytest.raises(error, match=message):
            fn(x).sum().backward()
    finally:
        tg.unregister_op(name)
    assert not hasattr(tg, name) and name not in tg.registry()


def test_detect_anomaly_names_the_forward_op():
    x = leaf([1.0, 0.0]).named("x")
    with tg.detect_anomaly():
        with pytest.raises(FloatingPointError, match=r"log produced NaN/Inf in its forward.*'x'"):
            with np.errstate(divide="ignore"):
                x.log()
    with np.errstate(divide="ignore"):
        x.log()   # outside the context the same op passes silently, as NumPy does


def test_detect_anomaly_names_the_backward_op():
    x = leaf([1.0, 0.0]).named("x")
    y = (x ** 0.5).sum()          # forward finite; derivative 0.5·x^-0.5 is Inf at 0
    with tg.detect_anomaly(), np.errstate(divide="ignore"):
        with pytest.raises(FloatingPointError, match=r"pow.backward produced NaN/Inf .*'x'"):
            y.backward()


def test_a_rule_returning_none_for_an_input_that_requires_grad_is_named():
    """Issue 18 item 6's class: an input that requires grad gets its gradient, or the call raises."""
    @tg.register_op("forgets_b", forward="{out} = {a} + {b}", backward=("δ{a} = δ{out}", "δ{b} = δ{out}"))
    class ForgetsB(tg.Op):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, grad_out):
            return grad_out, None

    try:
        a, b = tg.tensor([1.0], requires_grad=True), tg.tensor([2.0], requires_grad=True)
        with pytest.raises(TypeError, match=r"forgets_b.backward returned None for input 1 \('b'"):
            tg.forgets_b(a, b).sum().backward()
        tg.forgets_b(a, tg.tensor([2.0])).sum().backward()         # b needs none: None is right there
        np.testing.assert_array_equal(a.grad, [1.0])
    finally:
        tg.unregister_op("forgets_b")


def test_an_autograd_function_may_return_none_as_pytorchs_may():
    class Half(tg.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * 0.5 + b * 0

        @staticmethod
        def backward(ctx, grad_out):
            return grad_out * 0.5, None

    a, b = tg.tensor([1.0], requires_grad=True), tg.tensor([2.0], requires_grad=True)
    Half.apply(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [0.5])
    assert b.grad is None
