"""The Tensor's public surface: construction, dtypes, attributes, repr, shape methods."""
import numpy as np
import pytest

import tinygraph as tg


def test_dtypes_are_kept_as_given_and_python_floats_are_float64():
    assert tg.tensor(np.ones(3, np.float32)).dtype == np.float32
    assert tg.tensor(np.ones(3, np.float64)).dtype == np.float64
    assert tg.tensor([1, 2, 3]).dtype == np.int64                  # as torch.tensor: integers stay integers
    assert tg.tensor(np.arange(3, dtype=np.int32)).dtype == np.int32
    assert tg.tensor(3).dtype == np.int64 and tg.tensor(3).shape == ()
    assert tg.tensor(True).dtype == np.bool_
    assert tg.tensor(1.5).dtype == np.float64
    assert tg.Tensor(np.arange(4.0), requires_grad=True, name="t").requires_grad
    with pytest.raises(TypeError, match=r"tinygraph.tensor: cannot make a tensor from data of dtype <U1"):
        tg.tensor(["a"])


def test_only_floating_tensors_can_require_grad():
    for data in ([1, 2], True, np.arange(3, dtype=np.uint8)):
        with pytest.raises(RuntimeError, match="only floating point tensors can require gradients"):
            tg.tensor(data, requires_grad=True)
    with pytest.raises(RuntimeError, match="int64"):
        tg.tensor([1, 2]).requires_grad_()


def test_float32_stays_float32_through_scalar_arithmetic_and_backward():
    x = tg.tensor(np.ones((2, 2), np.float32), requires_grad=True)
    y = ((x * 2 + 1.5) / 3 - np.float64(1.0)) ** 2
    assert y.dtype == np.float32
    y.mean().backward()
    assert x.grad.dtype == np.float32


def test_attributes_and_helpers():
    x = tg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True).named("x")
    assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and len(x) == 2 and x.name == "x"
    assert x.numpy() is x.data and x.is_leaf and x.op is None
    y = x.sum()
    assert y.item() == 15.0 and y.op.name == "sum"
    with pytest.raises(ValueError, match=r"item\(\): tensor of shape \(2, 3\) has 6 elements"):
        x.item()
    d = y.detach()
    assert d._node is None and not d.requires_grad and d.data is y.data


def test_repr_shows_shape_dtype_name_and_creator():
    x = tg.tensor(np.zeros((3, 4)), requires_grad=True, name="x")
    assert repr(x) == "Tensor(shape=(3, 4), dtype=float64, name='x', requires_grad=True)"
    s = x.sum().named("L")
    assert repr(s) == "Tensor(0., shape=(), dtype=float64, name='L', op=sum)"


def test_shape_methods_and_their_gradients():
    x = tg.tensor(np.random.default_rng(1).normal(size=(2, 3, 4)), requires_grad=True)
    assert x.reshape(6, 4).shape == (6, 4) and x.reshape((4, 6)).shape == (4, 6)
    assert x.flatten(1).shape == (2, 12) and x.flatten().shape == (24,) and x.flatten(0, 1).shape == (6, 4)
    assert x.permute(2, 0, 1).shape == (4, 2, 3) and x.T.shape == (4, 3, 2) and x.transpose(0, 2).shape == (4, 3, 2)
    assert x.mean(axis=(0, 2)).shape == (3,) and x.sum(axis=1, keepdims=True).shape == (2, 1, 4)
    weights = np.arange(24.0).reshape(4, 3, 2)
    assert tg.gradcheck(lambda x: (x.permute(2, 1, 0) * weights).T + x.mean(axis=-1, keepdims=True), x)
    with pytest.raises(tg.OpError, match=r"reshape: cannot reshape an input of shape \(2, 3, 4\) \(24 elements\) to shape \(5, 5\)"):
        x.reshape(5, 5)
    with pytest.raises(tg.OpError, match=r"sum: dim=3 is out of range for an input of shape \(2, 3, 4\)"):
        x.sum(axis=3)
    with pytest.raises(tg.OpError, match=r"transpose: axes=\(0, 0, 1\) is not a permutation"):
        x.permute(0, 0, 1)
    with pytest.raises(tg.OpError, match=r"add: cannot broadcast a of shape \(2, 3, 4\) and b of shape \(2, 3\) together"):
        x + np.ones((2, 3))


def test_op_functions_and_methods_exist_for_every_registered_op():
    for name in tg.registry():
        assert callable(getattr(tg, name)), name
        assert callable(getattr(tg.Tensor, name)), name
    x = tg.tensor([[1.0, -1.0]])
    np.testing.assert_array_equal(tg.relu(x).data, x.relu().data)


def test_wrong_arguments_name_the_op():
    x = tg.tensor([1.0])
    with pytest.raises(TypeError, match=r"matmul\(\) is missing its input 'b'"):
        tg.matmul(x)
    with pytest.raises(TypeError, match=r"relu\(\): input 'x' of type str is not a tensor, an array or a number"):
        tg.relu("abc")
    with pytest.raises(TypeError, match=r"sum\(\) got an unexpected argument 'axes'"):
        tg.sum(x, axes=0)
    with pytest.raises(TypeError, match=r"sum\(\) got 'dim' under two names"):
        tg.sum(x, axis=0, dim=0)


def test_reductions_take_numpys_argument_names_as_aliases():
    x = tg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    for name in ("sum", "mean", "amax", "amin", "logsumexp", "var", "std"):
        op = getattr(tg, name)
        np.testing.assert_array_equal(op(x, axis=1, keepdims=True).data, op(x, dim=1, keepdim=True).data)
    with pytest.raises(tg.OpError, match=r"matmul: inner dimensions differ: a has shape \(2, 3\).*b has shape \(2, 3\)"):
        tg.tensor(np.ones((2, 3))) @ tg.tensor(np.ones((2, 3)))


def test_tensor_takes_dtype_and_device_as_torch_tensor_does():
    assert tg.tensor([1, 2], dtype=tg.float32).dtype == np.float32
    assert tg.tensor(np.arange(3.0), dtype="float16").dtype == np.float16
    assert tg.tensor([0.5, 1.5], dtype=tg.int64).tolist() == [0, 1]          # truncated, as torch.tensor does
    assert tg.tensor([1.0], device="cpu").dtype == np.float64
    with pytest.raises(tg.UnsupportedDeviceError, match="cuda"):
        tg.tensor([1.0], device="cuda")
    with pytest.raises(TypeError, match="complex128 is not supported"):
        tg.tensor([1.0], dtype="complex")
