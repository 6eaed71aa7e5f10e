"""Training: loss falls, the defaults reach the targets, resume equals a straight run, the CLI works
and guards its output: every error one line, non-finite losses stop it, Ctrl-C exits 130."""
import contextlib
import fcntl
import io
import os
import pty
import re
import signal
import stat
import struct
import subprocess
import sys
import termios

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import data, optim
from tinygraph.cli import train as train_tool
from tinygraph.models import TwoLayerCNN

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = [sys.executable, "-m", "tinygraph.train"]


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


def test_smallcnn_resume_continues_the_same_run_batchnorm_and_dropout_included(tmp_path):
    """Running statistics come back from the checkpoint, dropout masks from (seed, epoch)."""
    straight, _ = run_quietly(["--model", "smallcnn", "--epochs", "2", "--seed", "1"])
    run_quietly(["--model", "smallcnn", "--epochs", "1", "--seed", "1", "--out", str(tmp_path / "first.npz")])
    resumed, _ = run_quietly(["--resume", str(tmp_path / "first.npz"), "--epochs", "1"])
    for (name, p), (_, q) in zip(straight["model"].state_dict().items(), resumed["model"].state_dict().items()):
        np.testing.assert_allclose(q, p, rtol=1e-5, atol=1e-6, err_msg=name)
    assert resumed["history"]["train_loss"] == pytest.approx(straight["history"]["train_loss"], rel=1e-5)
    assert resumed["settings"]["lr"] == train_tool.MODEL_DEFAULTS["smallcnn"]["lr"]


def test_lenet5_trains_on_digits_brought_to_32x32_with_its_own_defaults(tmp_path):
    results, stdout = run_quietly(["--model", "lenet5", "--epochs", "1", "--out", str(tmp_path / "l.npz")])
    assert stdout.startswith("lenet5 (61,706 parameters) on digits")
    defaults = train_tool.MODEL_DEFAULTS["lenet5"]
    assert results["settings"]["lr"] == defaults["lr"] and results["settings"]["optimizer"] == defaults["optimizer"]
    assert tg.load(tmp_path / "l.npz")["model_config"] == {"in_channels": 1, "image_size": 32, "classes": 10}
    assert results["test_accuracy"] > 0.5           # one epoch is far from the target, but it learns
    assert results["model"].training                # left in training mode after the last evaluation
    framed = train_tool.load_dataset({"model": "lenet5", "dataset": "digits"})
    assert framed.x_train.shape[1:] == (1, 32, 32) and not framed.x_train[:, :, :6].any()   # the paper's border


def replays_of(step) -> int:
    return sum(schedule.replays for schedule in step.schedules)


def test_compile_trains_to_the_same_weights_bit_for_bit_and_replays():
    eager, _ = run_quietly(["--epochs", "1", "--seed", "2"])
    compiled, stdout = run_quietly(["--epochs", "1", "--seed", "2", "--compile"])
    for (name, p), (_, q) in zip(eager["model"].named_parameters(), compiled["model"].named_parameters()):
        assert np.array_equal(p.data, q.data), name
    assert compiled["history"] == eager["history"]
    step = compiled["step"]
    batches = data.num_batches(len(data.load_digits().x_train), 32)
    # One recording per batch shape (the full ones and the smaller last one), the rest replayed.
    assert step.eager_calls == 0 and step.records == 2 and replays_of(step) == batches - 2, repr(step)
    assert eager["step"] is train_tool.train_step                  # the eager run did not compile
    assert re.search(r"^test accuracy: \d+\.\d%$", stdout, re.MULTILINE)


def test_compile_with_dropout_and_batchnorm_keeps_each_epochs_masks():
    """SmallCNN draws new dropout masks each epoch (from a new generator); the compiled run draws the same."""
    eager, _ = run_quietly(["--model", "smallcnn", "--epochs", "2"])
    compiled, _ = run_quietly(["--model", "smallcnn", "--epochs", "2", "--compile"])
    for (name, p), (_, q) in zip(eager["model"].named_parameters(), compiled["model"].named_parameters()):
        assert np.array_equal(p.data, q.data), name
    running = [key for key in eager["model"].state_dict() if "running" in key]
    assert running and all(np.array_equal(eager["model"].state_dict()[key], compiled["model"].state_dict()[key])
                           for key in running)
    assert compiled["history"] == eager["history"] and replays_of(compiled["step"]) > 0


def test_evaluation_runs_in_eval_mode_and_restores_the_mode():
    from tinygraph import models
    model = models.SmallCNN(rng=np.random.default_rng(0))
    split = data.load_digits()
    before = int(model.features[1].num_batches_tracked)
    first = train_tool.evaluate(model, split.x_test, split.y_test)
    assert train_tool.evaluate(model, split.x_test, split.y_test) == first     # no dropout, no stats moved
    assert int(model.features[1].num_batches_tracked) == before and model.training
    model.eval()
    train_tool.evaluate(model, split.x_test, split.y_test)
    assert not model.training


def test_resume_refuses_a_conflicting_flag(tmp_path):
    run_quietly(["--epochs", "0", "--out", str(tmp_path / "c.npz")])
    with pytest.raises(train_tool.CommandError, match="--lr 0.5 conflicts with the checkpoint"):
        run_quietly(["--resume", str(tmp_path / "c.npz"), "--lr", "0.5"])
    tg.save(tmp_path / "other.npz", {"model": {}})
    with pytest.raises(train_tool.CommandError, match=r"not a training checkpoint of tinygraph-train \(it lacks \['optimizer'"):
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
    done = subprocess.run([*TRAIN, "--model", "mlp", "--epochs", "1", "--batch-size", "64",
                           "--lr", "0.01", "--optimizer", "sgd", "--seed", "1", "--out", str(ckpt),
                           "--plot", str(plot)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^epoch +1/1 +loss \d", done.stdout, re.MULTILINE)
    assert re.search(r"^test accuracy: \d+\.\d%$", done.stdout, re.MULTILINE)
    assert done.stderr == ""                                  # not a terminal: no progress bar frames
    assert tg.load(ckpt)["epoch"] == 1
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = subprocess.run([*TRAIN, "--dataset", "mnist", "--data-dir", str(tmp_path / "nowhere")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "train-images-idx3-ubyte" in bad.stderr


# ------------------------------------------------------------------ the command guards its output (issue 12)
def command(argv, capsys):
    """tinygraph-train's main() in this process: (exit status, stdout, stderr lines)."""
    status = train_tool.main(argv)
    out, err = capsys.readouterr()
    return status, out, err.strip().splitlines()


@pytest.mark.parametrize("compiled", [[], ["--compile"]])
def test_a_non_finite_loss_stops_training_and_keeps_the_checkpoint(tmp_path, capsys, compiled):
    good = tmp_path / "ckpt.npz"
    assert command(["--model", "mlp", "--epochs", "1", "--out", str(good)], capsys)[0] == 0
    before = good.read_bytes()
    status, out, err = command(["--model", "mlp", "--epochs", "2", "--lr", "1e30", "--out", str(good), *compiled],
                               capsys)
    assert status == 1 and len(err) == 1, err
    assert re.fullmatch(r"tinygraph-train: error: the loss became (nan|inf) at step \d+/43 of epoch 1 \(lr 1e\+30\); "
                        r"stopped without saving this epoch", err[0]), err
    assert good.read_bytes() == before


def test_non_finite_weights_are_never_saved(tmp_path):
    model = TwoLayerCNN(filters=2, rng=np.random.default_rng(0))
    model.parameters()[0].data[...] = np.nan
    tg.save(tmp_path / "c.npz", {"epoch": 1})
    with pytest.raises(train_tool.Diverged, match=r"after epoch 2 the weights \['conv.weight'\] are not finite"):
        train_tool.save_checkpoint(str(tmp_path / "c.npz"), model, optim.SGD(model.parameters(), lr=0.1),
                                   train_tool.DEFAULTS, {}, 2, {})
    assert tg.load(tmp_path / "c.npz") == {"epoch": 1}


@pytest.mark.parametrize("flags", [["--lr", "inf"], ["--lr", "nan"], ["--lr", "-1"], ["--epochs", "-1"],
                                   ["--model", "resnet"], ["--batch-size", "0"], ["--bogus"],
                                   ["--compile", "--grad-flow", "flow.png"], ["--compile", "--distributed"]])
def test_bad_usage_is_argparse_exit_2(flags, capsys):
    with pytest.raises(SystemExit) as exit_:
        train_tool.main(flags)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("tinygraph-train: error: ")


def crafted_resume(tmp_path):
    tg.save(tmp_path / "crafted.npz", {"model": {}, "optimizer": {}, "epoch": 1, "model_name": "mlp",
                                       "model_config": {"in_features": "x"}, "history": {},
                                       "settings": {"model": "mlp", "lr": "fast"}})
    return str(tmp_path / "crafted.npz")


def bad_gz_dir(tmp_path):
    (tmp_path / "mnist").mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / "mnist" / name).write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(200)))
    return str(tmp_path / "mnist")


@pytest.mark.parametrize("case, expected", [
    ("out_is_dir", "--out .* cannot be written: .* is a directory"),
    ("out_read_only", "--out .*ro.npz cannot be written: .*read-only"),
    ("resume_missing", "No such file or directory: .*missing.npz"),
    ("resume_corrupt", "tg.load: .*corrupt.npz is truncated or corrupt"),
    ("resume_crafted", r"--resume .*crafted.npz: not a usable training checkpoint \(.*lr 'fast'"),
    ("mnist_bad_gz", "read_idx: .*train-images-idx3-ubyte.gz is not a readable gzip/IDX file"),
    ("mnist_no_dir", "--dataset mnist needs --data-dir"),
])
def test_every_error_is_one_line_before_training(tmp_path, capsys, case, expected):
    (tmp_path / "ro.npz").write_bytes(b"")
    os.chmod(tmp_path / "ro.npz", 0o444)
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04" + bytes(100))
    argv = {"out_is_dir": ["--out", str(tmp_path)], "out_read_only": ["--out", str(tmp_path / "ro.npz")],
            "resume_missing": ["--resume", str(tmp_path / "missing.npz")],
            "resume_corrupt": ["--resume", str(tmp_path / "corrupt.npz")],
            "resume_crafted": ["--resume", crafted_resume(tmp_path)],
            "mnist_bad_gz": ["--dataset", "mnist", "--data-dir", bad_gz_dir(tmp_path)],
            "mnist_no_dir": ["--dataset", "mnist"]}[case]
    status, out, err = command(argv, capsys)
    assert status == 1 and len(err) == 1, err
    assert re.match(f"tinygraph-train: error: {expected}", err[0]), err[0]
    assert "epoch" not in out                                     # found before any training


def test_a_full_disk_mid_run_is_one_line_and_keeps_the_last_checkpoint(tmp_path, capsys, monkeypatch):
    def disk_full(path, state):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tg, "save", disk_full)
    status, out, err = command(["--model", "mlp", "--epochs", "1", "--out", str(tmp_path / "c.npz")], capsys)
    assert status == 1 and len(err) == 1
    assert err[0].startswith("tinygraph-train: error: could not write the checkpoint after epoch 1 to ")
    assert "No space left on device" in err[0]


def test_plot_without_matplotlib_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    status, out, err = command(["--epochs", "1", "--plot", str(tmp_path / "c.png")], capsys)
    assert status == 1 and err == ["tinygraph-train: error: --plot needs matplotlib, which is not installed; "
                                   "install it with: pip install 'tinygraph[tools]'"]
    assert "epoch" not in out


def test_ctrl_c_exits_130_with_one_line_and_a_complete_checkpoint(tmp_path):
    ckpt = tmp_path / "c.npz"
    child = subprocess.Popen([*TRAIN, "--epochs", "200", "--out", str(ckpt)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    while not child.stdout.readline().startswith("epoch   2"):
        pass
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 130
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and re.fullmatch(r"tinygraph-train: error: interrupted in epoch \d+; "
                                            r".*c.npz holds epoch \d+", lines[0]), stderr
    assert tg.load(ckpt)["epoch"] >= 1
    assert [name for name in os.listdir(tmp_path)] == ["c.npz"]


def test_a_terminal_gets_a_live_bar_and_a_log_gets_plain_lines(tmp_path):
    argv = [*TRAIN, "--model", "mlp", "--epochs", "2"]
    log = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert log.returncode == 0 and "\r" not in log.stdout + log.stderr
    assert len(re.findall(r"^epoch +\d/2 .*test acc", log.stdout, re.M)) == 2
    leader, follower = pty.openpty()                    # stderr a terminal, as in an interactive shell
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))   # 100 columns, not 0
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=follower, text=True)
    os.close(follower)
    frames = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        frames += chunk
    child.communicate(timeout=120)
    os.close(leader)
    assert child.returncode == 0 and b"\r" in frames and b"epoch 1/2" in frames


def test_the_tools_wrapper_and_python_m_run_the_same_command(tmp_path):
    for argv in ([sys.executable, os.path.join(ROOT, "tools", "train.py")], TRAIN):
        done = subprocess.run([*argv, "--epochs", "0", "--model", "mlp"], capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)
        assert done.returncode == 0 and "test accuracy" in done.stdout, done.stderr
