"""LeNet5 and SmallCNN: shapes, configs (as checkpoints save them), train/eval behaviour, clear refusals."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph import models, nn


def test_lenet5_is_the_textbook_network_on_32x32():
    model = models.LeNet5(rng=np.random.default_rng(0))
    assert model.config == {"in_channels": 1, "image_size": 32, "classes": 10}
    kinds = [type(m).__name__ for m in [*model.features, *model.classifier]]
    assert kinds == ["Conv2d", "Tanh", "AvgPool2d", "Conv2d", "Tanh", "AvgPool2d",
                     "Flatten", "Linear", "Tanh", "Linear", "Tanh", "Linear"]
    assert [(m.in_channels, m.out_channels, m.kernel_size) for m in model.modules() if isinstance(m, nn.Conv2d)] \
        == [(1, 6, (5, 5)), (6, 16, (5, 5))]
    assert [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, nn.Linear)] \
        == [(400, 120), (120, 84), (84, 10)]
    assert model.num_parameters() == 61_706          # the usual count for this LeNet-5
    x = np.random.default_rng(0).random((3, 1, 32, 32), dtype=np.float32)
    assert model(x).shape == (3, 10)
    loss = model.loss(x, np.array([1, 2, 3]))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_smallcnn_runs_on_8x8_digits_and_3x32x32_images():
    for config, shape in (({}, (4, 1, 8, 8)), ({"in_channels": 3, "image_size": 32}, (4, 3, 32, 32))):
        model = models.build("smallcnn", rng=np.random.default_rng(0), **config)
        assert model(np.zeros(shape, np.float32)).shape == (4, 10)
    assert models.SmallCNN().config == {"in_channels": 1, "image_size": 8, "classes": 10, "channels": [32, 64],
                                        "dropout": 0.25}


def test_smallcnn_train_and_eval_modes():
    model = models.SmallCNN(rng=np.random.default_rng(0), dropout=0.5)
    x = np.random.default_rng(1).random((8, 1, 8, 8), dtype=np.float32)
    model.train()
    first, second = model(x).data, model(x).data           # new dropout masks and batch statistics
    assert not np.array_equal(first, second)
    assert int(model.features[1].num_batches_tracked) == 2
    model.eval()
    np.testing.assert_array_equal(model(x).data, model(x).data)
    np.testing.assert_allclose(model(x[:1]).data, model(x).data[:1], rtol=1e-5, atol=1e-6)  # alone: same answer
    assert int(model.features[1].num_batches_tracked) == 2


def test_seeded_models_are_reproducible_dropout_included():
    x = np.random.default_rng(1).random((8, 1, 8, 8), dtype=np.float32)
    a, b = (models.SmallCNN(rng=np.random.default_rng(5)) for _ in range(2))
    np.testing.assert_array_equal(a(x).data, b(x).data)


def test_state_dict_round_trip_through_a_checkpoint(tmp_path):
    model = models.SmallCNN(rng=np.random.default_rng(0))
    model(np.random.default_rng(1).random((8, 1, 8, 8), dtype=np.float32))
    tg.save(tmp_path / "m.npz", {"model": model.state_dict(), "config": model.config})
    saved = tg.load(tmp_path / "m.npz")
    copy = models.build("smallcnn", **saved["config"])
    copy.load_state_dict(saved["model"])
    model.eval()
    copy.eval()
    x = np.random.default_rng(2).random((2, 1, 8, 8), dtype=np.float32)
    np.testing.assert_array_equal(model(x).data, copy(x).data)


def test_models_refuse_inputs_and_configs_they_cannot_take():
    with pytest.raises(ValueError, match=r"LeNet5: input must have shape \(N, 1, 32, 32\), got \(2, 1, 8, 8\)"):
        models.LeNet5()(np.zeros((2, 1, 8, 8), np.float32))
    with pytest.raises(ValueError, match="LeNet5: images must be at least 16×16"):
        models.LeNet5(image_size=8)
    with pytest.raises(ValueError, match="SmallCNN: images must be at least 4×4"):
        models.SmallCNN(image_size=2)
    with pytest.raises(ValueError, match="SmallCNN: channels must be two widths"):
        models.SmallCNN(channels=(8,))
    assert set(models.MODELS) >= {"two_layer_cnn", "mlp", "lenet5", "smallcnn"}
