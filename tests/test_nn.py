"""nn: layer shapes and parameter counts, PyTorch-style init, naming, module tags, state dicts."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import nn
from tinygraph.models import MLP, TwoLayerCNN


def rng(seed=0):
    return np.random.default_rng(seed)


# ------------------------------------------------------------------ layers: shapes, counts, values

def test_linear_stores_weight_out_by_in_and_computes_x_w_transposed_plus_b():
    layer = nn.Linear(5, 3, rng=rng())
    assert layer.weight.shape == (3, 5) and layer.bias.shape == (3,)
    assert layer.num_parameters() == 3 * 5 + 3
    x = np.arange(10, dtype=np.float32).reshape(2, 5)
    out = layer(tg.tensor(x))
    assert out.shape == (2, 3) and out.dtype == np.float32
    expected = x.astype(np.float64) @ layer.weight.data.T.astype(np.float64) + layer.bias.data
    np.testing.assert_allclose(out.data, expected, rtol=1e-5)


def test_linear_without_bias_has_only_a_weight():
    layer = nn.Linear(4, 2, bias=False, rng=rng())
    assert [name for name, _ in layer.named_parameters()] == ["weight"]


@pytest.mark.parametrize("stride, padding, out_side", [(1, 0, 6), (1, 1, 8), (2, 0, 3), (2, 1, 4)])
def test_conv2d_output_shape_and_parameter_count(stride, padding, out_side):
    layer = nn.Conv2d(2, 4, 3, stride=stride, padding=padding, rng=rng())
    assert layer.weight.shape == (4, 2, 3, 3) and layer.bias.shape == (4,)
    assert layer.num_parameters() == 4 * 2 * 3 * 3 + 4
    out = layer(tg.tensor(np.zeros((5, 2, 8, 8), np.float32)))
    assert out.shape == (5, 4, out_side, out_side)


def test_relu_maxpool_flatten_shapes():
    x = tg.tensor(np.random.default_rng(1).normal(size=(3, 2, 6, 6)).astype(np.float32))
    assert nn.ReLU()(x).shape == (3, 2, 6, 6)
    assert nn.MaxPool(2)(x).shape == (3, 2, 3, 3)
    assert nn.MaxPool(3, stride=1)(x).shape == (3, 2, 4, 4)
    assert nn.Flatten()(x).shape == (3, 72)


@pytest.mark.parametrize("make, fan_in", [(lambda r: nn.Linear(50, 40, rng=r), 50),
                                          (lambda r: nn.Conv2d(3, 20, 5, rng=r), 3 * 5 * 5)])
def test_init_is_uniform_within_one_over_sqrt_fan_in_and_seeded(make, fan_in):
    bound = 1 / np.sqrt(fan_in)
    layer = make(rng(7))
    for p in layer.parameters():
        assert p.dtype == np.float32 and p.requires_grad
        assert np.abs(p.data).max() <= bound
    w = layer.weight.data
    assert w.max() > 0.9 * bound and w.min() < -0.9 * bound          # spread over the whole interval
    assert abs(w.mean()) < 0.1 * bound
    np.testing.assert_array_equal(make(rng(7)).weight.data, w)        # same seed, same weights
    assert not np.array_equal(make(rng(8)).weight.data, w)


def test_dtype_argument_gives_float64_parameters():
    layer = nn.Linear(3, 2, rng=rng(), dtype=np.float64)
    assert all(p.dtype == np.float64 for p in layer.parameters())


def test_bad_layer_arguments_are_rejected_with_the_layer_name():
    with pytest.raises(ValueError, match="nn.Linear: in_features"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match="nn.Conv2d: padding"):
        nn.Conv2d(1, 2, 3, padding=-1)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        nn.Linear(2, 2, rng=42)
    with pytest.raises(ValueError, match=r"nn.Linear: input has shape \(2, 4\).*expects 3"):
        nn.Linear(3, 2)(tg.tensor(np.zeros((2, 4), np.float32)))
    with pytest.raises(TypeError, match="nn.Sequential: argument 1"):
        nn.Sequential(nn.ReLU(), "relu")


# ------------------------------------------------------------------ modules: registration and naming

def test_named_parameters_follow_assignment_order_with_dotted_names():
    model = nn.Sequential(nn.Linear(4, 3, rng=rng()), nn.ReLU(), nn.Linear(3, 2, rng=rng()))
    names = [name for name, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert model.num_parameters() == (4 * 3 + 3) + (3 * 2 + 2)
    assert len(model) == 3 and isinstance(model[1], nn.ReLU)


def test_a_shared_parameter_is_listed_once_and_reassignment_replaces_it():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 3, rng=rng())
            self.b = nn.Linear(3, 3, rng=rng())
            self.b.weight = self.a.weight

    model = Tied()
    assert [n for n, _ in model.named_parameters()] == ["a.weight", "a.bias", "b.bias"]
    model.b = None
    assert [n for n, _ in model.named_parameters()] == ["a.weight", "a.bias"]


def test_assigning_before_super_init_is_a_clear_error():
    class Forgetful(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"Forgetful: call super\(\).__init__\(\)"):
        Forgetful()


def test_train_eval_reach_every_submodule_and_zero_grad_clears_gradients():
    model = MLP(in_features=4, hidden=[3], classes=2, rng=rng())
    model.eval()
    assert all(not m.training for _, m in model.named_modules())
    model.train()
    assert all(m.training for _, m in model.named_modules())
    model.loss(np.ones((2, 4), np.float32), np.array([0, 1])).backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_two_layer_cnn_uses_the_documents_symbols():
    model = TwoLayerCNN(in_channels=1, image_size=8, filters=4, kernel=3, classes=10, rng=rng())
    assert [(n, p.name) for n, p in model.named_parameters()] == [
        ("conv.weight", "W"), ("conv.bias", "b"), ("fc.weight", "U"), ("fc.bias", "c")]
    # Z is 6×6, P 3×3, so p has 4·9 = 36 entries and U is 10×36.
    assert model.num_parameters() == (4 * 9 + 4) + (10 * 36 + 10)
    x = tg.tensor(np.random.default_rng(0).random((2, 1, 8, 8)).astype(np.float32))
    L = model.loss(x, np.array([3, 7]))
    assert L.name == "L" and x.name == "X"
    names = {t.name: t for t in tg.topological_order(L) if t.name}
    assert {"W", "b", "U", "c", "Z", "A", "P", "p", "s", "L"} <= set(names)
    assert [names[k].op.name for k in "ZAPps"] == ["conv2d", "relu", "maxpool", "reshape", "add"]
    assert names["Z"].shape == (2, 4, 6, 6) and names["P"].shape == (2, 4, 3, 3)
    assert names["p"].shape == (2, 36) and names["s"].shape == (2, 10)


def test_two_layer_cnn_rejects_wrong_inputs_and_too_small_images():
    model = TwoLayerCNN(rng=rng())
    with pytest.raises(ValueError, match=r"TwoLayerCNN: input X must have shape \(N, 1, 8, 8\), got \(2, 1, 7, 7\)"):
        model(np.zeros((2, 1, 7, 7), np.float32))
    with pytest.raises(ValueError, match="too small for 2×2 max-pooling"):
        TwoLayerCNN(image_size=3, kernel=3)


def test_ops_are_tagged_with_the_path_of_the_module_that_ran_them():
    model = TwoLayerCNN(filters=2, rng=rng())
    L = model.loss(np.zeros((1, 1, 8, 8), np.float32), np.array([0]))
    modules = {t.name: nn.module_path(t) for t in tg.topological_order(L) if t._node is not None and t.name}
    assert modules == {"Z": "conv", "A": "relu", "P": "pool", "p": "flatten", "s": "fc", "L": None}
    transposes = [t for t in tg.topological_order(L) if t.op is not None and t.op.name == "transpose"]
    assert [nn.module_path(t) for t in transposes] == ["fc"]       # Uᵀ inside Linear belongs to fc too

    mlp = MLP(in_features=4, hidden=[3], classes=2, rng=rng())
    s = mlp(np.zeros((1, 4), np.float32))
    tags = sorted((nn.module_path(t), t.op.name) for t in tg.topological_order(s) if t._node is not None)
    # (the flatten of a constant input records no node, so layers.0 has none)
    assert tags == [("layers.1", "add"), ("layers.1", "matmul"), ("layers.1", "transpose"), ("layers.2", "relu"),
                    ("layers.3", "add"), ("layers.3", "matmul"), ("layers.3", "transpose")]
    with tg.no_grad():                        # no graph recorded, nothing to tag, no error
        assert model(np.zeros((1, 1, 8, 8), np.float32))._node is None


# ------------------------------------------------------------------ state dicts

def test_state_dict_round_trip_copies_values():
    a, b = TwoLayerCNN(filters=3, rng=rng(1)), TwoLayerCNN(filters=3, rng=rng(2))
    state = a.state_dict()
    assert list(state) == ["conv.weight", "conv.bias", "fc.weight", "fc.bias"]
    state["conv.bias"][:] = 5.0                     # a copy: the model is untouched
    assert not np.any(a.conv.bias.data == 5.0)
    b.load_state_dict(a.state_dict())
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize("change, error, message", [
    (lambda s: s.pop("fc.bias"), KeyError, r"missing \['fc.bias'\]"),
    (lambda s: s.update(extra=np.zeros(1, np.float32)), KeyError, r"unexpected \['extra'\]"),
    (lambda s: s.update({"fc.weight": np.zeros((10, 5), np.float32)}), ValueError,
     r"'fc.weight' has shape \(10, 5\) in the state but \(10, 27\) in the model"),
    (lambda s: s.update({"conv.bias": s["conv.bias"].astype(np.float64)}), ValueError,
     "'conv.bias' has dtype float64 in the state but float32"),
])
def test_load_state_dict_errors_name_the_key_and_change_nothing(change, error, message):
    model = TwoLayerCNN(filters=3, rng=rng(1))
    before = model.state_dict()
    state = TwoLayerCNN(filters=3, rng=rng(2)).state_dict()
    change(state)
    with pytest.raises(error, match=message):
        model.load_state_dict(state)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_layers_accept_plain_numpy_arrays():
    x = np.random.default_rng(0).random((2, 1, 6, 6)).astype(np.float32)
    model = nn.Sequential(nn.Flatten(), nn.ReLU(), nn.Linear(36, 3, rng=rng()))
    out = model(x)
    assert out.shape == (2, 3) and out.requires_grad
    np.testing.assert_allclose(out.data, x.reshape(2, 36) @ model[2].weight.data.T + model[2].bias.data, rtol=1e-5)
    assert nn.MaxPool(2)(x).shape == (2, 1, 3, 3)


def test_the_module_path_marker_is_restored_when_forward_raises():
    from tinygraph.grad_mode import STATE

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2, rng=rng())

        def forward(self, x):
            return self.fc(x)

    with pytest.raises(ValueError, match="nn.Linear"):
        Outer()(tg.tensor(np.zeros((1, 4), np.float32)))
    assert STATE.module_path is None
    w = tg.tensor([1.0], requires_grad=True)
    assert nn.module_path(w * 2) is None                 # ops outside any module carry no path
