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
    assert [names[k].op.name for k in "ZAPps"] == ["conv2d", "relu", "maxpool", "reshape", "linear"]   # s = U p + c, one node
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
    linears = [t for t in tg.topological_order(L) if t.op is not None and t.op.name == "linear"]
    assert [nn.module_path(t) for t in linears] == ["fc"]          # s = U p + c, one node, in fc

    mlp = MLP(in_features=4, hidden=[3], classes=2, rng=rng())
    s = mlp(np.zeros((1, 4), np.float32))
    tags = sorted((nn.module_path(t), t.op.name) for t in tg.topological_order(s) if t._node is not None)
    # (the flatten of a constant input records no node, so layers.0 has none)
    assert tags == [("layers.1", "linear"), ("layers.2", "relu"), ("layers.3", "linear")]
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
    (lambda s: s.pop("fc.bias"), RuntimeError, r'missing key\(s\) in state_dict: "fc.bias"'),
    (lambda s: s.update(extra=np.zeros(1, np.float32)), RuntimeError, r'unexpected key\(s\) in state_dict: "extra"'),
    (lambda s: s.update({"fc.weight": np.zeros((10, 5), np.float32)}), RuntimeError,
     r"'fc.weight' has shape \(10, 5\) in the state but \(10, 27\) in the model"),
    (lambda s: s.update({"conv.bias": s["conv.bias"].astype(np.int64)}), RuntimeError,
     "'conv.bias' has dtype int64 in the state but float32"),
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
    from tinygraph.nn.module import current_module_path

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2, rng=rng())

        def forward(self, x):
            return self.fc(x)

    with pytest.raises(ValueError, match="nn.Linear"):
        Outer()(tg.tensor(np.zeros((1, 4), np.float32)))
    assert current_module_path() is None
    w = tg.tensor([1.0], requires_grad=True)
    assert nn.module_path(w * 2) is None                 # ops outside any module carry no path


def test_load_state_dict_errors_are_also_value_errors_for_callers_that_catch_those():
    model = TwoLayerCNN(filters=3, rng=rng(1))
    with pytest.raises(ValueError):
        model.load_state_dict({})
    assert issubclass(nn.StateDictError, RuntimeError) and issubclass(nn.StateDictError, ValueError)


def test_load_state_dict_non_strict_reports_keys_and_loads_the_rest():
    model = nn.Sequential(nn.Linear(2, 3, rng=rng()), nn.Linear(3, 1, rng=rng()))
    source = nn.Sequential(nn.Linear(2, 3, rng=rng(5)), nn.Linear(3, 1, rng=rng(5)))
    state = source.state_dict()
    del state["1.bias"]
    state["2.weight"] = np.zeros(1, np.float32)
    result = model.load_state_dict(state, strict=False)
    assert result == ([ "1.bias"], ["2.weight"]) and result.missing_keys == ["1.bias"]
    assert result.unexpected_keys == ["2.weight"] and type(result).__name__ == "IncompatibleKeys"
    np.testing.assert_array_equal(model[0].weight.data, source[0].weight.data)
    assert not np.array_equal(model[1].bias.data, source[1].bias.data)
    assert model.load_state_dict(source.state_dict()) == ([], [])
    state["1.weight"] = np.zeros((3, 1), np.float32)         # a wrong shape raises even when not strict
    with pytest.raises(RuntimeError, match=r"size mismatch for 1.weight"):
        model.load_state_dict(state, strict=False)


def test_load_state_dict_casts_floats_like_pytorch_and_bumps_versions():
    layer = nn.Linear(2, 2, rng=rng())
    saved = layer.weight * layer.weight            # a graph that saved the old weight (w * 1.0 saves none, as in PyTorch)
    state = {k: v.astype(np.float64) + 1 for k, v in layer.state_dict().items()}
    layer.load_state_dict(state)
    assert layer.weight.dtype == np.float32
    np.testing.assert_array_equal(layer.weight.data, state["weight"].astype(np.float32))
    with pytest.raises(RuntimeError, match="modified in place"):
        saved.backward(np.ones((2, 2), np.float32))


# ------------------------------------------------------------------ buffers

class WithStats(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2, rng=rng())
        self.register_buffer("running_mean", np.zeros(2, np.float32))
        self.register_buffer("scratch", np.ones(3), persistent=False)
        self.register_buffer("count", tg.tensor(np.array(0, np.int64)))


def test_buffers_are_saved_loaded_and_listed_but_not_trained():
    model = nn.Sequential(WithStats())
    assert [n for n, _ in model.named_buffers()] == ["0.running_mean", "0.scratch", "0.count"]
    assert len(list(model.buffers())) == 3
    assert [n for n, _ in model.named_parameters()] == ["0.fc.weight", "0.fc.bias"]
    # PyTorch's order: a module's own parameters and buffers, then its children's
    assert list(model.state_dict()) == ["0.running_mean", "0.count", "0.fc.weight", "0.fc.bias"]
    model[0].running_mean = np.full(2, 7.0, np.float32)       # assignment replaces the buffer's value
    state = model.state_dict()
    np.testing.assert_array_equal(state["0.running_mean"], [7.0, 7.0])
    other = nn.Sequential(WithStats())
    array = other[0].running_mean
    state["0.count"] = np.array(5)
    other.load_state_dict(state)
    assert other[0].running_mean is array                     # loaded in place
    np.testing.assert_array_equal(array, [7.0, 7.0])
    assert int(other[0].count.data) == 5
    with pytest.raises(RuntimeError, match=r'missing key\(s\) in state_dict: "0.running_mean"'):
        other.load_state_dict({k: v for k, v in state.items() if k != "0.running_mean"})


def test_register_buffer_refuses_bad_names_values_and_parameters():
    module = WithStats()
    with pytest.raises(KeyError, match="without '.'"):
        module.register_buffer("a.b", np.zeros(1))
    with pytest.raises(KeyError, match="already exists"):
        module.register_buffer("fc", np.zeros(1))
    with pytest.raises(TypeError, match="buffers are not trained"):
        module.register_buffer("w", nn.Parameter(np.zeros(1)))
    with pytest.raises(TypeError, match="must be a numpy array, a tensor or None"):
        module.register_buffer("x", [1.0, 2.0])
    module.register_buffer("empty", None)                     # None: nothing to save, as in PyTorch
    assert "empty" not in module.state_dict()
    with pytest.raises(TypeError, match="cannot assign a plain tensor to parameter 'weight'"):
        module.fc.weight = tg.tensor(np.zeros((2, 2), np.float32))


# ------------------------------------------------------------------ walking the tree, train/eval, apply

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 3, rng=rng()), nn.ReLU())
        self.heads = nn.ModuleList([nn.Linear(4, 2, rng=rng()), nn.Identity()])
        self.shared = self.heads[0]


def test_children_modules_and_their_names_follow_pytorch():
    net = Net()
    assert [n for n, _ in net.named_children()] == ["features", "heads", "shared"]
    assert [type(m).__name__ for m in net.children()] == ["Sequential", "ModuleList", "Linear"]
    assert [n for n, _ in net.named_modules()] == ["", "features", "features.0", "features.1", "heads",
                                                    "heads.0", "heads.1"]
    assert [n for n, _ in net.named_modules(remove_duplicate=False)][-1] == "shared"
    assert len(list(net.modules())) == 7
    assert [n for n, _ in net.named_parameters(prefix="net")] == [
        "net.features.0.weight", "net.features.0.bias", "net.heads.0.weight", "net.heads.0.bias"]
    assert net.parameters(recurse=False) == []
    assert list(net.state_dict())[-2:] == ["shared.weight", "shared.bias"]   # PyTorch lists tied entries twice


def test_train_eval_and_apply():
    net = Net()
    assert net.eval() is net and not any(m.training for m in net.modules())
    assert all(m.training for m in net.train().modules())
    with pytest.raises(ValueError, match="mode must be True or False"):
        net.train("no")
    order = []
    assert net.apply(lambda m: order.append(type(m).__name__)) is net
    # children before parents; the shared Linear twice (as PyTorch's apply)
    assert order == ["Conv2d", "ReLU", "Sequential", "Linear", "Identity", "ModuleList", "Linear", "Net"]

    def zero_linear(module):
        if isinstance(module, nn.Linear):
            module.weight.data[...] = 0
    net.apply(zero_linear)
    assert not net.heads[0].weight.data.any()
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


# ------------------------------------------------------------------ containers and layer signatures

def test_module_list_indexes_appends_and_registers_children():
    layers = nn.ModuleList([nn.ReLU(), nn.Identity()])
    layers.append(nn.Linear(2, 2, rng=rng()))
    layers.extend([nn.ReLU()])
    layers += [nn.Identity()]
    assert len(layers) == 5 and [n for n, _ in layers.named_children()] == ["0", "1", "2", "3", "4"]
    assert isinstance(layers[-3], nn.Linear) and [n for n, _ in layers.named_parameters()] == ["2.weight", "2.bias"]
    tail = layers[1:3]
    assert isinstance(tail, nn.ModuleList) and [n for n, _ in tail.named_children()] == ["0", "1"]
    del layers[0]
    assert isinstance(layers[1], nn.Linear) and list(layers._modules) == ["0", "1", "2", "3"]
    layers.insert(0, nn.ReLU())
    layers[1] = nn.ReLU()
    assert [type(m).__name__ for m in layers] == ["ReLU", "ReLU", "Linear", "ReLU", "Identity"]
    with pytest.raises(IndexError, match="index 5 is out of range"):
        layers[5]
    with pytest.raises(NotImplementedError, match="no forward"):
        layers(np.zeros(1))
    with pytest.raises(TypeError, match="expected a Module"):
        layers.append("relu")


def test_sequential_slicing_keeps_names_and_dict_construction():
    seq = nn.Sequential(nn.Flatten(), nn.Linear(4, 3, rng=rng()), nn.ReLU(), nn.Linear(3, 2, rng=rng()))
    head = seq[1:]
    assert isinstance(head, nn.Sequential) and list(head._modules) == ["1", "2", "3"]      # as PyTorch
    assert head[0] is seq[1] and seq[-1] is seq[3]
    x = np.ones((2, 1, 2, 2), np.float32)
    np.testing.assert_array_equal(head(seq[0](x)).data, seq(x).data)
    named = nn.Sequential({"fc": nn.Linear(2, 2, rng=rng()), "act": nn.ReLU()})
    assert [n for n, _ in named.named_parameters()] == ["fc.weight", "fc.bias"]
    named.append(nn.Identity())
    assert list(named._modules) == ["fc", "act", "2"]
    del seq[0]
    assert list(seq._modules) == ["0", "1", "2"] and isinstance(seq[0], nn.Linear)
    seq[1] = nn.Identity()
    assert [type(m).__name__ for m in seq] == ["Linear", "Identity", "Linear"]


def test_identity_returns_its_input_and_takes_any_arguments():
    x = tg.tensor([1.0, 2.0])
    assert nn.Identity(54, unused="x")(x) is x


def test_linear_and_conv2d_take_pytorchs_arguments_by_position_and_name():
    linear = nn.Linear(3, 2, False)
    assert linear.bias is None and linear.weight.shape == (2, 3)
    conv = nn.Conv2d(in_channels=2, out_channels=4, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0),
                     dilation=1, groups=1, bias=False, rng=rng())
    assert conv.kernel_size == (3, 2) and conv.stride == (2, 1) and conv.padding == (1, 0)
    assert conv.bias is None and [n for n, _ in conv.named_parameters()] == ["weight"]
    assert conv.weight.shape == (4, 2, 3, 2)
    assert conv(np.zeros((1, 2, 7, 7), np.float32)).shape == (1, 4, 4, 6)
    positional = nn.Conv2d(2, 4, 3, 1, 1, 1, 1, True, rng=rng())
    assert positional.padding == (1, 1) and positional.bias is not None
    same = nn.Conv2d(1, 1, 5, padding="same", rng=rng())
    assert same.padding == (2, 2) and same(np.zeros((1, 1, 6, 6), np.float32)).shape == (1, 1, 6, 6)
    assert nn.Conv2d(1, 1, 3, padding="valid").padding == (0, 0)
    assert "bias=False" in repr(conv) and "kernel_size=(3, 2)" in repr(conv)


@pytest.mark.parametrize("kwargs, message", [
    ({"kernel_size": (3, 0)}, "kernel_size must be a positive integer or a pair"),
    ({"kernel_size": 3, "stride": (1, 2, 3)}, "stride must be a positive integer or a pair"),
    ({"kernel_size": 3, "padding": "full"}, "padding must be an int, a pair, 'valid' or 'same'"),
    ({"kernel_size": 3, "padding": "same", "stride": 2}, "'same' needs stride 1"),
    ({"kernel_size": 3, "groups": 3}, "divisible by groups"),
    ({"kernel_size": 3, "padding_mode": "reflect"}, "padding_mode 'reflect' is not supported"),
])
def test_conv2d_refuses_what_it_cannot_do(kwargs, message):
    with pytest.raises(ValueError, match=message):
        nn.Conv2d(2, 4, **kwargs)


def test_conv2d_dilation_and_groups_follow_what_the_op_supports():
    from tinygraph.ops.conv2d import Conv2d as Conv2dOp
    for option, value in (("dilation", 2), ("groups", 2)):
        if option in Conv2dOp.attr_names:
            layer = nn.Conv2d(2, 4, 3, **{option: value}, rng=rng())
            assert layer.weight.shape == ((4, 1, 3, 3) if option == "groups" else (4, 2, 3, 3))
            layer(np.zeros((1, 2, 7, 7), np.float32))
        else:
            with pytest.raises(ValueError, match=f"{option}=.*needs a conv2d op that supports {option}"):
                nn.Conv2d(2, 4, 3, **{option: value})
    assert nn.Conv2d(2, 4, 3, dilation=(1, 1), groups=1).dilation == (1, 1)


# ------------------------------------------------------------------ issue 11's layers (PyTorch's, checked there too)

def test_maxpool_keeps_its_old_name_as_maxpool2d():
    x = tg.tensor(np.arange(2 * 1 * 4 * 4, dtype=np.float32).reshape(2, 1, 4, 4))
    np.testing.assert_array_equal(nn.MaxPool(2)(x).data, nn.MaxPool2d(2)(x).data)
    assert isinstance(nn.MaxPool(2), nn.MaxPool2d) and nn.MaxPool(3, stride=1).stride == (1, 1)


def test_new_layers_refuse_what_they_cannot_do_by_name():
    with pytest.raises(ValueError, match="nn.AvgPool2d: padding"):
        nn.AvgPool2d(2, padding=2)
    with pytest.raises(ValueError, match="nn.Dropout: dropout probability"):
        nn.Dropout(1.5)
    with pytest.raises(TypeError, match="nn.Dropout: rng"):
        nn.Dropout(0.5, rng=3)
    with pytest.raises(ValueError, match="nn.BatchNorm2d: expected 4-D input with 3 channels"):
        nn.BatchNorm2d(3)(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match="nn.CrossEntropyLoss: reduction"):
        nn.CrossEntropyLoss(reduction="average")
    with pytest.raises(ValueError, match="nn.Softmax: dim must be an integer"):
        nn.Softmax()


def test_dropout_mask_comes_from_its_generator_and_eval_is_the_identity():
    x = tg.tensor(np.ones((4, 6), np.float32))
    first = nn.Dropout(0.5, rng=np.random.default_rng(3))(x).data
    again = nn.Dropout(0.5, rng=np.random.default_rng(3))(x).data
    np.testing.assert_array_equal(first, again)
    assert set(np.unique(first)) <= {0.0, 2.0}
    layer = nn.Sequential(nn.Dropout(0.5)).eval()
    assert layer(x) is x and not layer[0].training


def test_batchnorm_state_dict_holds_running_statistics_under_pytorchs_names():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False, rng=np.random.default_rng(0)), nn.BatchNorm2d(2))
    assert list(model.state_dict()) == ["0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                        "1.num_batches_tracked"]
    model(np.random.default_rng(0).normal(size=(4, 1, 5, 5)).astype(np.float32))
    state = model.state_dict()
    assert state["1.num_batches_tracked"] == 1 and np.abs(state["1.running_mean"]).sum() > 0
    fresh = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.BatchNorm2d(2))
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(fresh[1].running_var, state["1.running_var"])
    model.eval()                                   # eval: running statistics stay where they are
    model(np.ones((2, 1, 5, 5), np.float32))
    assert model[1].num_batches_tracked == 1


def test_module_to_and_dtype_conversions_as_pytorchs():
    model = nn.Sequential(nn.Linear(3, 2, rng=rng()), nn.BatchNorm1d(2))
    assert model.to("cpu") is model and model.cpu() is model
    model.double()
    assert {p.dtype for p in model.parameters()} == {np.dtype(np.float64)}
    buffers = dict(model.named_buffers())
    assert np.asarray(buffers["1.running_mean"]).dtype == np.float64
    assert np.asarray(buffers["1.num_batches_tracked"]).dtype.kind == "i"      # integers stay integers
    assert model(tg.tensor(np.ones((4, 3)))).dtype == np.float64
    model.to(dtype=tg.float32)
    assert model(tg.tensor(np.ones((4, 3), np.float32))).dtype == np.float32
    with pytest.raises(tg.UnsupportedDeviceError, match="cuda"):
        model.cuda()
    with pytest.raises(tg.UnsupportedDeviceError, match="mps"):
        model.to("mps")
    with pytest.raises(TypeError, match="floating"):
        model.to(tg.int64)
