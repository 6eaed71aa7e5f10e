"""Checkpoints: round trip, atomic writes, and clear errors for truncated, foreign or wrong files."""
import os
import stat

import numpy as np
import pytest

import tinygraph as tg
from tinygraph import checkpoint, optim
from tinygraph.models import TwoLayerCNN


def sample_state():
    return {"model": {"conv.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
                      "fc.bias": np.array([1.5, -2.0])},
            "optimizer": {"type": "Adam", "hyper": {"lr": 0.01, "betas": [0.9, 0.999]},
                          "state": {"0": {"step": 3, "m": np.ones(2, np.float32)}}},
            "epoch": 7, "done": False, "note": None, "history": [0.5, 0.25],
            "counts": np.int64(12)}


def test_round_trip_keeps_values_types_and_dtypes(tmp_path):
    path = tmp_path / "ckpt.npz"
    tg.save(path, sample_state())
    state = tg.load(path)
    np.testing.assert_array_equal(state["model"]["conv.weight"], np.arange(6).reshape(2, 3))
    assert state["model"]["conv.weight"].dtype == np.float32
    assert state["model"]["fc.bias"].dtype == np.float64
    assert state["optimizer"]["hyper"] == {"lr": 0.01, "betas": [0.9, 0.999]}
    assert state["optimizer"]["state"]["0"]["step"] == 3
    assert state["epoch"] == 7 and state["done"] is False and state["note"] is None
    assert state["history"] == [0.5, 0.25]
    assert state["counts"] == 12 and state["counts"].dtype == np.int64
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz"]                  # no temporary file left
    assert np.load(path).files                                           # an ordinary .npz


def test_model_and_optimizer_state_survive_a_checkpoint(tmp_path):
    model = TwoLayerCNN(filters=2, rng=np.random.default_rng(0))
    opt = optim.Adam(model.parameters(), lr=0.01)
    model.loss(np.ones((2, 1, 8, 8), np.float32), np.array([1, 2])).backward()
    opt.step()
    tg.save(tmp_path / "c.npz", {"model": model.state_dict(), "optimizer": opt.state_dict()})
    state = tg.load(tmp_path / "c.npz")
    other = TwoLayerCNN(filters=2, rng=np.random.default_rng(1))
    other_opt = optim.Adam(other.parameters(), lr=0.01)
    other.load_state_dict(state["model"])
    other_opt.load_state_dict(state["optimizer"])
    for p, q in zip(model.parameters(), other.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    for s, t in zip(opt.state, other_opt.state):
        assert s["step"] == t["step"]
        np.testing.assert_array_equal(s["m"], t["m"])
        np.testing.assert_array_equal(s["v"], t["v"])


def test_a_failure_mid_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    tg.save(path, {"epoch": 1, "w": np.ones(1000)})
    before = path.read_bytes()

    def disk_full(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.np, "savez", disk_full)
    with pytest.raises(OSError, match="No space left"):
        tg.save(path, {"epoch": 2, "w": np.zeros(1000)})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert tg.load(path)["epoch"] == 1
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz"]


def test_truncated_file_gives_a_clear_error(tmp_path):
    path = tmp_path / "ckpt.npz"
    tg.save(path, {"w": np.ones(5000)})
    raw = path.read_bytes()
    for cut in (len(raw) // 2, len(raw) - 10, 30):
        path.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match="tg.load: .*ckpt.npz (is truncated or corrupt|is not a readable)"):
            tg.load(path)


def test_foreign_files_are_refused(tmp_path):
    np.savez(tmp_path / "other.npz", weights=np.ones(3))
    with pytest.raises(ValueError, match="is not a tinygraph checkpoint"):
        tg.load(tmp_path / "other.npz")
    np.save(tmp_path / "array.npy", np.ones(3))
    with pytest.raises(ValueError, match="single .npy array"):
        tg.load(tmp_path / "array.npy")
    (tmp_path / "notes.txt").write_text("hello, not a checkpoint\n")
    with pytest.raises(ValueError, match="tg.load: .*notes.txt"):
        tg.load(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError):
        tg.load(tmp_path / "missing.npz")


def test_a_wrong_format_tag_or_version_is_refused(tmp_path):
    np.savez(tmp_path / "v9.npz", __tinygraph__=np.frombuffer(
        b'{"format": "tinygraph-checkpoint", "version": 9, "tree": {}}', dtype=np.uint8))
    with pytest.raises(ValueError, match="version 9"):
        tg.load(tmp_path / "v9.npz")


def test_unsaveable_values_are_rejected_before_writing(tmp_path):
    with pytest.raises(TypeError, match="cannot save the set at 'extra'"):
        tg.save(tmp_path / "x.npz", {"extra": {1, 2}})
    with pytest.raises(ValueError, match="key 'a/b'"):
        tg.save(tmp_path / "x.npz", {"a/b": 1})
    with pytest.raises(TypeError, match="state must be a dict"):
        tg.save(tmp_path / "x.npz", [1, 2])
    assert os.listdir(tmp_path) == []


def test_loading_a_checkpoint_of_another_model_changes_nothing(tmp_path):
    tg.save(tmp_path / "small.npz", {"model": TwoLayerCNN(filters=2, rng=np.random.default_rng(0)).state_dict()})
    model = TwoLayerCNN(filters=4, rng=np.random.default_rng(1))
    before = model.state_dict()
    with pytest.raises(ValueError, match=r"'conv.weight' has shape \(2, 1, 3, 3\) in the state but \(4, 1, 3, 3\)"):
        model.load_state_dict(tg.load(tmp_path / "small.npz")["model"])
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_a_checkpoint_gets_the_permissions_of_a_normally_created_file(tmp_path):
    previous = os.umask(0o022)
    try:
        path = tmp_path / "ckpt.npz"
        tg.save(path, {"epoch": 1})
        assert stat.S_IMODE(path.stat().st_mode) == 0o644     # not mkstemp's private 0o600
    finally:
        os.umask(previous)
