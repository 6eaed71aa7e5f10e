"""GradientFlow: per-layer gradient norms, update-to-weight ratios and dead ReLUs, epoch by epoch."""
import numpy as np
import pytest

import tinygraph as tg
from tinygraph.monitor import GradientFlow


def tiny_model(scale=1.0):
    rng = np.random.default_rng(0)
    model = tg.nn.Sequential(tg.nn.Linear(4, 8, rng=rng), tg.nn.ReLU(), tg.nn.Linear(8, 3, rng=rng))
    for p in model.parameters():
        p.data *= scale
    return model


def train(model, flow, epochs=2, lr=0.1):
    rng = np.random.default_rng(1)
    optimizer = flow.watch(tg.optim.SGD(model.parameters(), lr=lr))
    x, y = rng.standard_normal((32, 4)).astype(np.float32), rng.integers(0, 3, 32)
    for _ in range(epochs):
        model.train()
        for start in range(0, 32, 8):
            loss = tg.softmax_xent(model(x[start:start + 8]), y[start:start + 8])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        flow.end_epoch()
    flow.close()


def test_flow_records_each_layer_each_epoch_as_backward_and_the_optimizer_made_them():
    model = tiny_model()
    flow = GradientFlow(model)
    train(model, flow)
    assert list(flow.grad_norm) == ["0", "2"] and flow.epochs == 2
    assert all(np.isfinite(v).all() and (np.array(v) > 0).all() for v in flow.grad_norm.values())
    # SGD without momentum: each step changes θ by lr·δθ, so the ratio is lr·‖δθ‖/‖θ‖ (mean over steps).
    for layer in flow.update_ratio:
        assert 0 < flow.update_ratio[layer][0] < 1
    assert list(flow.dead) == ["1"] and 0 <= flow.dead["1"][0] <= 1
    assert flow.warnings() == []


def test_a_layer_whose_gradient_vanishes_is_flagged():
    model = tiny_model()
    model[0].weight.data *= 0        # the first layer outputs its bias, −1 everywhere: every ReLU unit
    model[0].bias.data[:] = -1.0     # is dead, so no gradient gets back to the first layer
    flow = GradientFlow(model)
    train(model, flow, epochs=1)
    assert flow.health("0") == "vanishing"
    assert flow.warnings()[0].startswith("0: vanishing gradient")
    assert flow.dead["1"] == [1.0]


def test_plot_writes_an_image(tmp_path):
    pytest.importorskip("matplotlib")
    model = tiny_model()
    flow = GradientFlow(model)
    train(model, flow)
    flow.plot(str(tmp_path / "flow.png"))
    assert (tmp_path / "flow.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_command_writes_the_gradient_flow_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from tinygraph.cli import train

    assert train.main(["--epochs", "1", "--grad-flow", str(tmp_path / "flow.png")]) == 0
    assert "gradient flow written to" in capsys.readouterr().out
    assert (tmp_path / "flow.png").read_bytes()[:4] == b"\x89PNG"


def test_a_failed_training_run_stops_watching_forward_passes(tmp_path, monkeypatch):
    from tinygraph.cli import train as train_command
    from tinygraph.grad_mode import STATE

    def fail(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(train_command, "train_epoch", fail)
    with pytest.raises(RuntimeError, match="disk on fire"):
        train_command.run(train_command.parse_args(["--model", "mlp", "--epochs", "1",
                                                    "--grad-flow", str(tmp_path / "flow.png")]))
    assert STATE.forward_hooks == []
