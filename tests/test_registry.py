"""The registry is where `tg.<op>` and the op methods come from; the package and Tensor only look."""
import importlib

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.registry import op_function


def test_tg_op_functions_come_from_the_registry_and_show_in_dir():
    assert tg.relu is op_function("relu") and tg.relu.op is tg.registry()["relu"]
    from tinygraph import conv2d          # a from-import asks the package the same way
    assert conv2d is tg.conv2d
    assert {"relu", "conv2d", "maxpool", "softmax_xent", "tensor", "nn"} <= set(dir(tg))
    with pytest.raises(AttributeError, match="no attribute 'no_such_op'"):
        tg.no_such_op
    assert not hasattr(tg, "no_such_op")


def test_a_registered_op_appears_everywhere_and_unregistering_removes_it_everywhere():
    @tg.register_op("cube", forward="{out} = {x}³", backward="δ{x} = 3{x}² δ{out}")
    class Cube(tg.Op):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, grad_out):
            (x,) = ctx.saved
            return (3 * x * x * grad_out,)

    try:
        x = tg.tensor([1.0, 2.0], requires_grad=True)
        np.testing.assert_array_equal(tg.cube(x).data, x.cube().data)
        assert "cube" in dir(tg) and "cube" in tg.registry()
    finally:
        tg.unregister_op("cube")
    assert not hasattr(tg, "cube") and not hasattr(tg.Tensor, "cube") and "cube" not in dir(tg)


@pytest.mark.parametrize("name", ["tensor", "nn", "no_grad", "engine", "models"])
def test_an_op_may_not_take_a_name_the_package_uses(name):
    class Shadow(tg.Op):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, grad_out):
            return (grad_out,)

    with pytest.raises(ValueError, match=f"would hide tinygraph.{name}"):
        tg.register_op(name)(Shadow)
    assert name not in tg.registry()


def test_an_op_may_not_hide_a_tensor_attribute():
    class Shape(tg.Op):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, grad_out):
            return (grad_out,)

    with pytest.raises(ValueError, match="would hide Tensor.detach"):
        tg.register_op("detach")(Shape)
    assert "detach" not in tg.registry()


def test_hand_written_methods_keep_their_signatures_when_their_op_is_registered_again():
    sum_op = tg.registry()["sum"]
    hand_written = tg.Tensor.sum
    tg.register_op("sum")(sum_op)            # the same class again: allowed, changes nothing
    assert tg.Tensor.sum is hand_written
    x = tg.tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(x.sum(1).data, [3.0, 12.0])
    np.testing.assert_array_equal(x.reshape(3, 2).T.data, x.data.reshape(3, 2).T)


def test_tensor_backward_is_the_engines_backward():
    engine = importlib.import_module("tinygraph.engine")
    tensor_module = importlib.import_module("tinygraph.tensor")
    assert tg.Tensor.backward is engine.backward is tg.backward
    assert not {"apply", "REGISTRY", "backward"} & set(vars(tensor_module))   # tensor.py imports none of them
