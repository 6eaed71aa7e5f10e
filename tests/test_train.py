"""Training: loss falls, the defaults reach the targets, resume equals a straight run, the CLI works."""
import contextlib
import importlib.util
import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import data, optim
from tinygraph.models import TwoLayerCNN

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_PY = os.path.join(ROOT, "tools", "train.py")


def load_train_tool():
    spec = importlib.util.spec_from_file_location("train_tool", TRAIN_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train_tool = load_train_tool()


def run_quietly(argv):
    """tools/train.py's run() in this process, its printing captured; returns (results, stdout)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        results = train_tool.run(train_tool.parse_args(argv))
    return results, out.getvalue()


def test_a_short_training_run_lowers_the_loss():
    split = data.load_digits()
    x, y = split.x_train[:256], split.y_train[:256]
    model = TwoLayerCNN(filters=8, rng=np.random.default_rng(0))
    opt = optim.Adam(model.parameters(), lr=0.01)
    with tg.no_grad():
        start = model.loss(x, y).item()
    for epoch in range(8):
        for xb, yb in data.batches(x, y, 32, seed=0, epoch=epoch):
            loss = model.loss(xb, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    with tg.no_grad():
        end = model.loss(x, y).item()
    assert start > 2.0                 # about log 10 = 2.3 at initialisation
    assert end < 0.5 * start


@pytest.mark.parametrize("model, target", [("two_layer_cnn", 0.97), ("mlp", 0.95)])
def test_the_defaults_reach_the_target_accuracy_on_digits(model, target):
    results, stdout = run_quietly(["--model", model])
    assert results["test_accuracy"] >= target
    assert re.search(r"^test accuracy: \d+\.\d%$", stdout, re.MULTILINE)


def test_same_seed_same_numbers_and_another_seed_differs():
    a, _ = run_quietly(["--epochs", "2", "--seed", "3"])
    b, _ = run_quietly(["--epochs", "2", "--seed", "3"])
    c, _ = run_quietly(["--epochs", "2", "--seed", "4"])
    assert a["history"] == b["history"]
    assert a["history"] != c["history"]


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_resume_continues_the_same_run(tmp_path, optimizer):
    straight, _ = run_quietly(["--epochs", "3", "--optimizer", optimizer, "--out", str(tmp_path / "straight.npz")])
    run_quietly(["--epochs", "1", "--optimizer", optimizer, "--out", str(tmp_path / "first.npz")])
    resumed, stdout = run_quietly(["--resume", str(tmp_path / "first.npz"), "--epochs", "2",
                                   "--out", str(tmp_path / "resumed.npz")])
    assert "epoch   3/3" in stdout
    for (name, p), (_, q) in zip(straight["model"].named_parameters(), resumed["model"].named_parameters()):
        np.testing.assert_allclose(q.data, p.data, rtol=1e-6, atol=1e-7, err_msg=name)
    assert resumed["history"]["train_loss"] == pytest.approx(straight["history"]["train_loss"], rel=1e-6)
    saved = tg.load(tmp_path / "resumed.npz")
    assert saved["epoch"] == 3 and saved["settings"]["optimizer"] == optimizer
    assert saved["model_config"]["filters"] == 16


def test_resume_refuses_a_conflicting_flag(tmp_path):
    run_quietly(["--epochs", "0", "--out", str(tmp_path / "c.npz")])
    with pytest.raises(SystemExit, match="--lr 0.5 conflicts with the checkpoint"):
        run_quietly(["--resume", str(tmp_path / "c.npz"), "--lr", "0.5"])
    tg.save(tmp_path / "other.npz", {"model": {}})
    with pytest.raises(ValueError, match=r"not a training checkpoint of tools/train.py \(it lacks \['optimizer'"):
        run_quietly(["--resume", str(tmp_path / "other.npz")])


def test_mnist_format_data_trains_from_a_directory(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 10)):
        data.write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 12, 12)).astype(np.uint8))
        data.write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8))
    results, stdout = run_quietly(["--dataset", "mnist", "--data-dir", str(tmp_path), "--epochs", "1"])
    assert "40 train / 10 test images" in stdout
    assert results["model"].config == {"in_channels": 1, "image_size": 12, "filters": 16, "kernel": 3, "classes": 10}


def test_cli_end_to_end_with_checkpoint_and_plot(tmp_path):
    ckpt, plot = tmp_path / "ckpt.npz", tmp_path / "curves.png"
    done = subprocess.run([sys.executable, TRAIN_PY, "--model", "mlp", "--epochs", "1", "--batch-size", "64",
                           "--lr", "0.01", "--optimizer", "sgd", "--seed", "1", "--out", str(ckpt),
                           "--plot", str(plot)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^epoch +1/1 +loss \d", done.stdout, re.MULTILINE)
    assert re.search(r"^test accuracy: \d+\.\d%$", done.stdout, re.MULTILINE)
    assert "epoch 1/1" in done.stderr                         # the tqdm bar
    assert tg.load(ckpt)["epoch"] == 1
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = subprocess.run([sys.executable, TRAIN_PY, "--dataset", "mnist", "--data-dir", str(tmp_path / "nowhere")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "train-images-idx3-ubyte" in bad.stderr
