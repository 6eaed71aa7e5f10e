"""tinygraph-draw's errors: each one line on stderr and a non-zero exit; --entry failures show the
user's own traceback; the checkpoint names its model; --out's suffix and --format agree."""
import re
import subprocess
import sys

import numpy as np
import pytest

import tinygraph as tg
from tinygraph.cli import draw as draw_tool
from tinygraph.cli import train as train_tool


@pytest.fixture(scope="module")
def mlp_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "mlp.npz"
    assert train_tool.main(["--model", "mlp", "--epochs", "0", "--out", str(path)]) == 0
    return path


def command(argv, capsys):
    status = draw_tool.main(argv)
    out, err = capsys.readouterr()
    return status, out, err.strip().splitlines()


def test_an_mlp_checkpoint_is_drawn_as_an_mlp_without_model(tmp_path, capsys, mlp_checkpoint):
    status, out, err = command(["--checkpoint", str(mlp_checkpoint), "--out", str(tmp_path / "g.dot")], capsys)
    assert status == 0, err
    assert "layers.0.weight" in (tmp_path / "g.dot").read_text() or "linear" in (tmp_path / "g.dot").read_text()


def bad_files(tmp_path):
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04" + bytes(64))
    tg.save(tmp_path / "plain.npz", {"weights": np.ones(3)})
    tg.save(tmp_path / "resnet.npz", {"model": {}, "model_config": {}, "model_name": "resnet"})
    tg.save(tmp_path / "mnist.npz", {"model": {}, "model_config": {"in_channels": 1, "image_size": 28},
                                      "model_name": "two_layer_cnn"})
    (tmp_path / "afile").write_text("")
    (tmp_path / "raises.py").write_text("import numpy as np\n\ndef build():\n    return helper()\n\n\n"
                                        "def helper():\n    return 1 / 0\n")
    (tmp_path / "syntax.py").write_text("def build(:\n    pass\n")
    (tmp_path / "exits.py").write_text("import sys\n\ndef build():\n    sys.exit(3)\n")
    (tmp_path / "number.py").write_text("def build():\n    return 42\n")


@pytest.mark.parametrize("argv, expected", [
    (["--checkpoint", "{tmp}/missing.npz"], "No such file or directory: .*missing.npz"),
    (["--checkpoint", "{tmp}/corrupt.npz"], "tg.load: .*corrupt.npz is truncated or corrupt"),
    (["--checkpoint", "{tmp}/plain.npz"], r"--checkpoint .*plain.npz is not a training checkpoint"),
    (["--checkpoint", "{tmp}/resnet.npz"], ".*holds a model named 'resnet', which tinygraph.models lacks"),
    (["--checkpoint", "{tmp}/mnist.npz"], ".*holds a two_layer_cnn for other images"),
    (["--checkpoint", "{mlp}", "--model", "two_layer_cnn"], "--model two_layer_cnn conflicts with --checkpoint .*which holds a mlp"),
    (["--sample", "9999"], r"--sample 9999 is out of range; the digits test set has 450 images"),
    (["--step", "99"], r"draw_step: step must be in 1\.\.6"),
    (["--out", "{tmp}/afile/g.dot"], "(File exists|Not a directory)"),
    (["--out", "{tmp}"], "(Is a directory|cannot tell the format)"),
    (["--entry", "{tmp}/number.py:build"], "--entry .*number.py:build returned a int, not a tinygraph Tensor"),
    (["--entry", "{tmp}/number.py:nothing"], "--entry .*number.py has no function 'nothing'"),
    (["--entry", "{tmp}/missing.py:build"], "--entry file .*missing.py' does not exist"),
])
def test_every_error_is_one_line(tmp_path, capsys, mlp_checkpoint, argv, expected):
    bad_files(tmp_path)
    argv = [a.format(tmp=tmp_path, mlp=mlp_checkpoint) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "g.dot")]
    try:
        status, out, err = command(argv, capsys)
    except SystemExit as exit_:                      # argparse: usage errors exit 2
        status, err = exit_.code, capsys.readouterr().err.strip().splitlines()[-1:]
    assert status in (1, 2) and len(err) == 1, err
    assert re.match(f"tinygraph-draw: error: {expected}", err[0]), err[0]


@pytest.mark.parametrize("argv, expected", [
    (["--model", "resnet"], "argument --model: invalid choice: 'resnet'"),
    (["--wrap", "-3"], "--wrap must be 0 .* got -3"),
    (["--out", "x.png", "--format", "svg"], "--out x.png says png but --format says svg"),
    (["--out", "x.txt"], "cannot tell the format of --out x.txt"),
    (["--step", "0"], "--step counts backward's rules from 1"),
])
def test_bad_usage_is_argparse_exit_2(capsys, argv, expected):
    with pytest.raises(SystemExit) as exit_:
        draw_tool.main(argv)
    assert exit_.value.code == 2
    assert re.search(expected, capsys.readouterr().err.strip().splitlines()[-1])


def test_the_format_comes_from_the_out_suffix(tmp_path, capsys):
    status, out, _ = command(["--out", str(tmp_path / "g.dot")], capsys)
    assert status == 0 and "(dot," in out and (tmp_path / "g.dot").read_text().startswith("digraph")


@pytest.mark.parametrize("entry, user_lines, kind", [
    ("raises.py:build", ["in build", "return helper()", "in helper", "return 1 / 0"], "ZeroDivisionError"),
    ("syntax.py:build", ["syntax.py", "def build(:"], "SyntaxError"),
    ("exits.py:build", ["in build", "sys.exit(3)"], "SystemExit"),
])
def test_a_failing_entry_shows_the_users_traceback_not_ours(tmp_path, capsys, entry, user_lines, kind):
    bad_files(tmp_path)
    status, out, err = command(["--entry", f"{tmp_path / entry}", "--format", "dot", "--out", str(tmp_path / "g.dot")], capsys)
    text = "\n".join(err)
    assert status == 1
    for line in user_lines:
        assert line in text, text
    assert "tinygraph/cli" not in text and "importlib" not in text
    assert err[-1] == f"tinygraph-draw: error: --entry {tmp_path / entry} raised {kind} (its traceback is above)"


def test_python_m_tinygraph_draw_runs_and_tg_draw_stays_a_function(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tinygraph.draw", "--format", "dot", "--out", "g.dot"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0 and (tmp_path / "g.dot").exists(), done.stderr
    with pytest.raises(ImportError, match="tinygraph.draw is the function tg.draw"):
        import tinygraph.draw  # noqa: F401
    assert callable(tg.draw) and not isinstance(tg.draw, type(sys))


@pytest.mark.parametrize("model, layers", [("lenet5", ["features.0.weight", "avg_pool2d", "tanh"]),
                                           ("smallcnn", ["features.1.weight", "batch_norm", "dropout"])])
def test_lenet5_and_smallcnn_are_drawn_on_a_digit(tmp_path, capsys, model, layers):
    status, out, err = command(["--model", model, "--out", str(tmp_path / "g.dot")], capsys)
    assert status == 0, err
    source = (tmp_path / "g.dot").read_text()
    for name in layers:
        assert name in source, name


def test_a_lenet5_checkpoint_is_drawn_on_32x32_digits(tmp_path, capsys):
    path = tmp_path / "lenet5.npz"
    assert train_tool.main(["--model", "lenet5", "--epochs", "0", "--out", str(path)]) == 0
    capsys.readouterr()
    status, out, err = command(["--checkpoint", str(path), "--out", str(tmp_path / "g.dot")], capsys)
    assert status == 0, err
    assert "1, 1, 32, 32" in (tmp_path / "g.dot").read_text()      # the input X as LeNet-5 reads it
