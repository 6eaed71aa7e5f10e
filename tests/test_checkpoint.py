"""Checkpoints: round trip, safe atomic writes, and a ValueError in bounded memory for every bad file."""
import functools
import json
import os
import signal
import stat
import subprocess
import sys
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    for p, q in zip(model.parameters(), other.parameters()):       # optimizer state keyed by parameter
        s, t = opt.state[p], other_opt.state[q]
        assert s["step"] == t["step"]
        np.testing.assert_array_equal(s["exp_avg"], t["exp_avg"])
        np.testing.assert_array_equal(s["exp_avg_sq"], t["exp_avg_sq"])


def test_a_failure_mid_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    tg.save(path, {"epoch": 1, "w": np.ones(1000)})
    before = path.read_bytes()

    def disk_full(file, arrays, description):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "_write_npz", disk_full)
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
    with pytest.raises(TypeError, match="key 1 at 'a' must be a string"):
        tg.save(tmp_path / "x.npz", {"a": {1: 2}})
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


# ------------------------------------------------------------------ hostile files (issue 12)
def npy_bytes(descr, shape, data=b"", fortran=False):
    """A .npy member written by hand: any header, any data."""
    header = repr({"descr": descr, "fortran_order": fortran, "shape": shape}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + data


def description(tree, version=2):
    return json.dumps({"format": "tinygraph-checkpoint", "version": version, "tree": tree}).encode()


def hand_made_npz(path, members, compression=zipfile.ZIP_STORED):
    """A zip of raw members: {name: bytes}; the description is a uint8 .npy like tg.save writes."""
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, raw in members.items():
            archive.writestr(name, raw)
    return path


def with_description(tree, **members):
    meta = tree if isinstance(tree, bytes) else description(tree)
    return {"__tinygraph__.npy": npy_bytes("|u1", (len(meta),), meta), **members}


def test_a_small_file_declaring_a_huge_array_is_refused_without_allocating(tmp_path):
    tree = {"dict": [["w", {"array": "w", "scalar": False}]]}
    path = hand_made_npz(tmp_path / "huge.npz", with_description(tree, **{"w.npy": npy_bytes("<f8", (10**12,), bytes(8))}))
    assert path.stat().st_size < 1000
    with pytest.raises(ValueError, match=r"huge.npz holds w.npy declaring shape \(1000000000000,\)"):
        tg.load(path)


def test_a_compressed_member_is_not_inflated_past_max_bytes(tmp_path):
    tree = {"dict": [["w", {"array": "w", "scalar": False}]]}
    members = with_description(tree, **{"w.npy": npy_bytes("<f8", (5_000_000,), bytes(40_000_000))})
    path = hand_made_npz(tmp_path / "bomb.npz", members, zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 100_000                      # 40 MB of zeros in ~40 KB
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="bomb.npz declares 40,000,.* over the limit of 1,000,000"):
            tg.load(path, max_bytes=1_000_000)
        assert tracemalloc.get_traced_memory()[1] < 2_000_000
    finally:
        tracemalloc.stop()
    assert tg.load(path, max_bytes=50_000_000)["w"].shape == (5_000_000,)   # the documented way up


def test_a_corrupt_deflate_block_is_a_value_error(tmp_path):
    tg.save(tmp_path / "good.npz", {"w": np.arange(20000.0)})
    state = tg.load(tmp_path / "good.npz")
    members = with_description({"dict": [["w", {"array": "w", "scalar": False}]]},
                               **{"w.npy": npy_bytes("<f8", (20000,), state["w"].tobytes())})
    raw = bytearray(hand_made_npz(tmp_path / "z.npz", members, zipfile.ZIP_DEFLATED).read_bytes())
    start = raw.index(b"w.npy") + 5                           # the deflated data follow the local header name
    raw[start] = 0xFF                                         # deflate block type 3: reserved, invalid
    (tmp_path / "z.npz").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"z.npz is truncated or corrupt \(error: .*invalid block type"):
        tg.load(tmp_path / "z.npz")


@pytest.mark.parametrize("meta, problem", [
    (b"[1, 2, 3]", "wrong format tag"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply|unreadable"),
    (description({"dict": [["a", {"list": []}]]})[:-1] + b"x", "unreadable checkpoint description"),
    (description({"list": [{"value": 1}]}), "the state is not a dict"),
    (description({"dict": [["w", {"array": "nothing", "scalar": False}]]}), "names an array 'nothing'"),
    (description({"dict": [["w", {"value": {"a": 1}}]]}), "not a plain value"),
    (description({"a": [1, 2]}, version=1), "a bare list"),
    (description(functools.reduce(lambda t, _: {"list": [t]}, range(150), {"value": 1})), "nested deeper than 100"),
    (b"\xff\xfe not utf-8", "unreadable checkpoint description"),
])
def test_a_malformed_description_is_a_value_error(tmp_path, meta, problem):
    path = hand_made_npz(tmp_path / "meta.npz", with_description(meta))
    with pytest.raises(ValueError, match=f"meta.npz .*({problem})"):
        tg.load(path)


@pytest.mark.parametrize("descr, shape, data, problem", [
    ("|O", (1,), bytes(8), "only numeric arrays"),
    ("<c16", (1,), bytes(16), "only numeric arrays"),
    ([("a", "<f4")], (1,), bytes(4), "only numeric arrays"),
    ("<f8", (3,), bytes(16), r"declaring shape \(3,\) .* but 16 bytes"),
    ("<f8", (2**40, 2**40), bytes(8), "declaring shape"),
])
def test_hostile_array_headers_are_refused(tmp_path, descr, shape, data, problem):
    members = with_description({"dict": [["w", {"array": "w", "scalar": False}]]}, **{"w.npy": npy_bytes(descr, shape, data)})
    with pytest.raises(ValueError, match=problem):
        tg.load(hand_made_npz(tmp_path / "h.npz", members))


def test_version_1_checkpoints_still_load(tmp_path):
    tree = {"model": {"w": {"__array__": "model/w", "scalar": False}}, "epoch": 3, "h": {"__list__": [1, 2]}}
    members = with_description(description(tree, version=1), **{"model/w.npy": npy_bytes("<f4", (2,), bytes(8))})
    state = tg.load(hand_made_npz(tmp_path / "v1.npz", members))
    assert state["epoch"] == 3 and state["h"] == [1, 2] and state["model"]["w"].dtype == np.float32


def test_fortran_order_arrays_load_in_their_layout(tmp_path):
    array = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    members = with_description({"dict": [["w", {"array": "w", "scalar": False}]]},
                               **{"w.npy": npy_bytes("<f8", (2, 3), array.T.tobytes(), fortran=True)})
    np.testing.assert_array_equal(tg.load(hand_made_npz(tmp_path / "f.npz", members))["w"], array)


# ------------------------------------------------------------------ safe saves (issue 12)
def test_any_string_is_a_state_key(tmp_path):
    state = {"allow_pickle": np.ones(2), "file": np.zeros(3), "a/b": 1, "a": {"b": np.arange(2)},
             "__array__": "not an array", "__tinygraph__": np.ones(1), "": [None], "x\x00y": 2.5,
             "../../etc": np.ones(1), "δ": {"dict": 1}, "value": {"list": []}}
    tg.save(tmp_path / "keys.npz", state)
    back = tg.load(tmp_path / "keys.npz")
    assert sorted(back) == sorted(state)
    np.testing.assert_array_equal(back.pop("a")["b"], state.pop("a")["b"])
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(back[key], value)
        else:
            assert back[key] == value


def test_resaving_keeps_the_files_mode(tmp_path):
    path = tmp_path / "private.npz"
    tg.save(path, {"epoch": 1})
    os.chmod(path, 0o600)
    tg.save(path, {"epoch": 2})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and tg.load(path)["epoch"] == 2


def test_saving_never_changes_the_umask(tmp_path, monkeypatch):
    def no_umask(mask):
        raise AssertionError("tg.save changed the process umask")

    previous = os.umask(0o077)
    try:
        monkeypatch.setattr(os, "umask", no_umask)
        tg.save(tmp_path / "a.npz", {"epoch": 1})
        monkeypatch.undo()
        assert stat.S_IMODE((tmp_path / "a.npz").stat().st_mode) == 0o600      # 0666 & ~077
    finally:
        os.umask(previous)


def test_a_symlink_is_written_through_to_its_target(tmp_path):
    (tmp_path / "runs").mkdir()
    target = tmp_path / "runs" / "real.npz"
    tg.save(target, {"epoch": 1})
    link = tmp_path / "latest.npz"
    link.symlink_to(target)
    tg.save(link, {"epoch": 2})
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert tg.load(target)["epoch"] == 2
    dangling = tmp_path / "dangling.npz"
    dangling.symlink_to(tmp_path / "runs" / "new.npz")
    tg.save(dangling, {"epoch": 3})
    assert dangling.is_symlink() and tg.load(tmp_path / "runs" / "new.npz")["epoch"] == 3
    loop = tmp_path / "loop.npz"
    loop.symlink_to(loop)
    with pytest.raises(OSError, match="never reaches a file"):
        tg.save(loop, {"epoch": 4})


def test_a_read_only_file_is_refused_and_kept(tmp_path):
    path = tmp_path / "frozen.npz"
    tg.save(path, {"epoch": 1})
    os.chmod(path, 0o444)
    with pytest.raises(PermissionError, match="frozen.npz is read-only, so it is not replaced"):
        tg.save(path, {"epoch": 2})
    assert tg.load(path)["epoch"] == 1 and sorted(os.listdir(tmp_path)) == ["frozen.npz"]


def test_a_directory_or_missing_directory_is_refused(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory"):
        tg.save(tmp_path, {"epoch": 1})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tg.save(tmp_path / "no" / "c.npz", {"epoch": 1})


def test_stale_temporary_files_are_removed_by_the_next_save(tmp_path):
    path = tmp_path / "c.npz"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".c.npz.{int(dead.stdout)}.0123abcd.tmp"       # its writer has exited
    stale.write_bytes(b"PK half a checkpoint")
    old_style = tmp_path / ".c.npz.k2j4h_9x.tmp"                        # mkstemp's name, from older saves
    old_style.write_bytes(b"PK")
    os.utime(old_style, (time.time() - 3600, time.time() - 3600))
    live = tmp_path / f".c.npz.{os.getpid() + 0}.89abcdef.tmp"          # a save in progress here: kept
    live.write_bytes(b"PK")
    other = tmp_path / ".other.npz.1.0123abcd.tmp"                      # another checkpoint's: not ours
    other.write_bytes(b"PK")
    tg.save(path, {"epoch": 1})
    assert sorted(os.listdir(tmp_path)) == sorted([live.name, other.name, "c.npz"])


KILLED_SAVER = """
import sys, numpy as np, tinygraph as tg
path = sys.argv[1]
weights = np.random.default_rng(0).normal(size=300_000)
epoch = 0
while True:
    epoch += 1
    tg.save(path, {"epoch": epoch, "w": weights + epoch, "note": "x" * epoch})
    print(epoch, flush=True)
"""


def test_kill_9_during_saves_keeps_the_last_checkpoint_and_no_temporary_files_pile_up(tmp_path):
    path = tmp_path / "ckpt.npz"
    rng = np.random.default_rng(12)
    last_epoch = 0
    for kill in range(12):
        saver = subprocess.Popen([sys.executable, "-c", KILLED_SAVER, str(path)], stdout=subprocess.PIPE, text=True)
        saver.stdout.readline()                                   # at least one save finished
        time.sleep(rng.uniform(0, 0.25))                          # then die at a random moment
        saver.send_signal(signal.SIGKILL)
        saver.wait()
        state = tg.load(path)                                     # always a complete checkpoint
        np.testing.assert_array_equal(state["w"], np.random.default_rng(0).normal(size=300_000) + state["epoch"])
        assert state["note"] == "x" * state["epoch"] and state["epoch"] >= 1
        temporaries = [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
        assert len(temporaries) <= 1, temporaries                 # only the one the last kill left
        last_epoch = state["epoch"]
    tg.save(path, {"epoch": last_epoch + 1})
    assert os.listdir(tmp_path) == ["ckpt.npz"]


# ------------------------------------------------------------------ fuzzing the loader
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def good_checkpoint_bytes(tmp_path, compressed):
    path = tmp_path / "seed.npz"
    tg.save(path, {"model": {"w": np.arange(24, dtype=np.float32).reshape(2, 3, 4), "b": np.ones(3)},
                   "epoch": 4, "history": [0.5, 0.25], "name": "mlp"})
    if not compressed:
        return path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    return hand_made_npz(tmp_path / "seed_z.npz", members, zipfile.ZIP_DEFLATED).read_bytes()


def load_fuzzed(tmp_path, raw):
    """Load arbitrary bytes: a checkpoint, or a ValueError naming the file; nothing else."""
    path = tmp_path / "fuzzed.npz"
    path.write_bytes(raw)
    try:
        state = tg.load(path, max_bytes=1_000_000)
    except ValueError as error:
        assert "fuzzed.npz" in str(error)
        return None
    assert isinstance(state, dict)
    return state


@FUZZ
@given(raw=st.binary(max_size=2000))
def test_fuzz_random_bytes(tmp_path, raw):
    load_fuzzed(tmp_path, raw)
    load_fuzzed(tmp_path, b"PK\x03\x04" + raw)


@FUZZ
@given(compressed=st.booleans(), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 7)), min_size=1, max_size=8))
def test_fuzz_bit_flips(tmp_path, compressed, flips):
    raw = bytearray(good_checkpoint_bytes(tmp_path, compressed))
    for position, bit in flips:
        raw[position % len(raw)] ^= 1 << bit
    load_fuzzed(tmp_path, bytes(raw))


@FUZZ
@given(compressed=st.booleans(), cut=st.floats(0, 1, exclude_max=True))
def test_fuzz_truncations(tmp_path, compressed, cut):
    raw = good_checkpoint_bytes(tmp_path, compressed)
    assert load_fuzzed(tmp_path, raw[:int(cut * len(raw))]) is None


@FUZZ
@given(descr=st.sampled_from(["<f8", ">f4", "|u1", "|b1", "<i8", "|O", "<c8", "<U3", "|V4", "<M8[s]", "f8", "<f16"]),
       shape=st.lists(st.integers(0, 2**64), max_size=4).map(tuple), data=st.binary(max_size=64),
       fortran=st.booleans(), scalar=st.booleans(), compressed=st.booleans())
def test_fuzz_hostile_array_headers(tmp_path, descr, shape, data, fortran, scalar, compressed):
    members = with_description({"dict": [["w", {"array": "w", "scalar": scalar}]]},
                               **{"w.npy": npy_bytes(descr, shape, data, fortran)})
    raw = hand_made_npz(tmp_path / "hostile.npz", members,
                        zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED).read_bytes()
    state = load_fuzzed(tmp_path, raw)
    if state is not None:
        assert state["w"].nbytes == len(data) and state["w"].dtype.kind in "biuf"
