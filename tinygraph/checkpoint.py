"""Checkpoints: `tg.save(path, state)` / `tg.load(path)` for nested dicts of arrays and plain values.

The file is an ordinary `.npz`: one `.npy` member per array, plus one JSON entry describing the
tree (dicts with any string keys, lists, ints, floats, strings, booleans, None) and which member
holds each array. It is read without pickle, so loading a file cannot run code, and every size a
file declares is checked against the file and against `max_bytes` before anything is allocated.

A save writes a temporary file beside the target and renames it over the target only once it is
complete and on disk: a crash, a kill or a full disk mid-save leaves the previous checkpoint as it
was, and the next save to that path removes temporary files that crashed saves left behind. An
existing checkpoint keeps its permissions; a new one gets what `open()` would give it (0666 less
the umask); a symlink is written through to its target; a read-only file is refused.
"""
from __future__ import annotations

import errno
import json
import lzma
import os
import re
import secrets
import stat
import struct
import time
import zipfile
import zlib
from contextlib import suppress
from typing import Any

import numpy as np

FORMAT = "tinygraph-checkpoint"
VERSION = 2                 # 2: tagged tree, any string key; 1 (read only): keys were member names
META_KEY = "__tinygraph__"
MAX_BYTES = 2**30           # default cap on the array data one load allocates (1 GiB)
MAX_DEPTH = 100             # nesting of dicts and lists, saved or loaded
STALE_SECONDS = 600         # a temporary file with no live owner we can name is stale after this
MEMBER_NAME_LENGTH = 200    # characters of a key kept in its array's zip member name

# What a malformed zip or .npy member can raise from the standard library, besides our ValueErrors.
_CORRUPT = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, ValueError, KeyError,
            IndexError, OverflowError, NotImplementedError, RuntimeError, struct.error, SyntaxError)


class CheckpointError(ValueError):
    """A file that tg.load refuses: truncated, corrupt, foreign or too large. Names the file."""


# ------------------------------------------------------------------------ saving
def save(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write `state` (a dict of arrays, numbers, strings, lists and dicts) to `path` atomically."""
    if isinstance(state, (str, os.PathLike)) and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"tg.save(path, state) takes the path first; this call passed a {type(path).__name__} "
                        f"first and the path {os.fspath(state)!r} second, in torch.save(state, path)'s order. "
                        "Write tg.save(path, state)")
    if not isinstance(state, dict):
        raise TypeError(f"tg.save: state must be a dict, got {type(state).__name__}")
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(state, "", arrays, 0)
    description = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree}).encode()
    target = writable_destination(path)
    directory, name = os.path.split(target)
    remove_stale_temporaries(target)
    keep_mode = stat.S_IMODE(os.stat(target).st_mode) if os.path.exists(target) else None
    temporary = os.path.join(directory, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # os.open applies the umask itself, as open() does; the process umask is never touched.
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        with os.fdopen(handle, "wb") as f:
            if keep_mode is not None:
                os.fchmod(f.fileno(), keep_mode)
            _write_npz(f, arrays, np.frombuffer(description, dtype=np.uint8))
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.remove(temporary)
        raise
    _sync_directory(directory)


def writable_destination(path: str | os.PathLike) -> str:
    """The file that saving to `path` writes (symlinks followed), or an OSError saying why it cannot.

    Refuses a directory, a read-only file, anything but a regular file, and a missing or
    unwritable directory; `tools`' training command calls it before the first epoch.
    """
    path = os.fspath(path)
    target = os.path.realpath(path)
    if os.path.islink(target):
        raise OSError(errno.ELOOP, f"tg.save: {path} is a symlink that never reaches a file")
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, f"tg.save: {path} is a directory; give a file name like "
                                f"{os.path.join(path, 'ckpt.npz')}")
    if os.path.exists(target):
        info = os.stat(target)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, f"tg.save: {path} is not a regular file; it is not replaced")
        if not info.st_mode & 0o222 or not os.access(target, os.W_OK):
            raise PermissionError(errno.EACCES, f"tg.save: {path} is read-only, so it is not replaced "
                                  "(make it writable or choose another path)")
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, f"tg.save: the directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, f"tg.save: cannot create files in {directory} "
                              "(read-only directory or file system)")
    return target


def remove_stale_temporaries(path: str | os.PathLike) -> list[str]:
    """Delete the temporary files that saves to `path` left when they were killed; returns them.

    A temporary file names the process that writes it; it is stale once that process is gone.
    """
    directory, name = os.path.split(os.path.realpath(os.fspath(path)))
    pattern = re.compile(re.escape(f".{name}.") + r"(?:(\d+)\.[0-9a-f]{8}|[^.]+)\.tmp")
    removed = []
    for entry in os.listdir(directory):
        match = pattern.fullmatch(entry)
        if match is None:
            continue
        candidate = os.path.join(directory, entry)
        owner = int(match.group(1)) if match.group(1) else None
        if owner is not None and owner != os.getpid() and _alive(owner):
            continue
        if owner == os.getpid():
            continue                                  # this process's own save, maybe on another thread
        if owner is None:                             # the old mkstemp name: judged by its age
            with suppress(FileNotFoundError):
                if time.time() - os.stat(candidate).st_mtime < STALE_SECONDS:
                    continue
        with suppress(FileNotFoundError):
            os.remove(candidate)
            removed.append(candidate)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True                                   # someone else's process: leave its file alone
    return True


def _sync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _write_npz(f, arrays: dict[str, np.ndarray], description: np.ndarray) -> None:
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for member, array in {**arrays, META_KEY: description}.items():
            with archive.open(member + ".npy", "w", force_zip64=True) as out:
                np.lib.format.write_array(out, array, allow_pickle=False)


def _encode(value: Any, key: str, arrays: dict[str, np.ndarray], depth: int) -> Any:
    """The tagged JSON tree; arrays go into `arrays` under a member name the tree records."""
    if depth > MAX_DEPTH:
        raise ValueError(f"tg.save: the state nests deeper than {MAX_DEPTH} levels at '{key}'")
    if isinstance(value, dict):
        items = []
        for name, item in value.items():
            if not isinstance(name, str):
                raise TypeError(f"tg.save: key {name!r} at '{key or '/'}' must be a string")
            items.append([name, _encode(item, f"{key}/{name}" if key else name, arrays, depth + 1)])
        return {"dict": items}
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype.kind not in "biuf" or array.dtype.fields is not None:
            raise TypeError(f"tg.save: array at '{key}' has dtype {array.dtype}; only numeric arrays are saved")
        member = _member_name(key, arrays)
        arrays[member] = array
        return {"array": member, "scalar": isinstance(value, np.generic)}
    if isinstance(value, (list, tuple)):
        return {"list": [_encode(item, f"{key}/{i}", arrays, depth + 1) for i, item in enumerate(value)]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"value": value}
    raise TypeError(f"tg.save: cannot save the {type(value).__name__} at '{key}'; use arrays, numbers, "
                    "strings, lists and dicts")


def _member_name(key: str, taken: dict[str, np.ndarray]) -> str:
    """A readable, unique zip member name for the array at `key` (keys themselves may be anything)."""
    parts = [re.sub(r"[^A-Za-z0-9._-]+", "_", part) for part in key.split("/")]
    # A zip member name holds at most 65,535 bytes; the tree records which member holds each array, so
    # a long key's member name is cut short (readable still) and kept unique by the counter below.
    base = "/".join(part if part.strip(".") else "_" for part in parts)[:MEMBER_NAME_LENGTH] or "_"
    name, n = base, 1
    while name in taken or name == META_KEY:
        n += 1
        name = f"{base}~{n}"
    return name


# ------------------------------------------------------------------------ loading
def load(path: str | os.PathLike, *, max_bytes: int = MAX_BYTES) -> dict[str, Any]:
    """Read a checkpoint written by `tg.save`; ValueError if it is truncated, corrupt or foreign.

    Arrays may hold at most `max_bytes` in all (default 1 GiB); a file declaring more is refused
    before anything is read, however well it compresses.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            if f.read(6) == b"\x93NUMPY":
                raise CheckpointError(f"tg.load: {path} is a single .npy array, not a tinygraph checkpoint")
            f.seek(0)
            with zipfile.ZipFile(f) as archive:
                return _Reader(archive, path, max_bytes).state()
    except (FileNotFoundError, IsADirectoryError, PermissionError, CheckpointError):
        raise
    except RecursionError:
        raise CheckpointError(f"tg.load: {path} has a checkpoint description nested too deeply") from None
    except _CORRUPT as error:
        raise CheckpointError(f"tg.load: {path} is truncated or corrupt ({type(error).__name__}: {error})") from None


class _Reader:
    """Reads the description, then each array it names, checking sizes before allocating."""

    def __init__(self, archive: zipfile.ZipFile, path: str, max_bytes: int):
        self.archive, self.path, self.budget = archive, path, max_bytes
        self.members = {info.filename: info for info in archive.infolist()}
        self.arrays: dict[str, np.ndarray] = {}
        declared = sum(info.file_size for info in self.members.values())
        if declared > max_bytes + (1 << 24):          # the description may use up to 16 MB more
            self.fail(f"declares {declared:,} bytes of data, over the limit of {max_bytes:,} "
                      "(pass max_bytes= to load larger checkpoints)")

    def fail(self, problem: str):
        raise CheckpointError(f"tg.load: {self.path} {problem}")

    def state(self) -> dict[str, Any]:
        if META_KEY + ".npy" not in self.members:
            self.fail(f"is not a tinygraph checkpoint (no {META_KEY} entry)")
        raw = self.read_array(META_KEY + ".npy", budget=1 << 24)
        if raw.dtype != np.uint8 or raw.ndim != 1:
            self.fail("has an unreadable checkpoint description (not a byte string)")
        try:
            meta = json.loads(raw.tobytes().decode())
        except (ValueError, UnicodeDecodeError) as error:
            self.fail(f"has an unreadable checkpoint description ({error})")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            self.fail("has an unreadable checkpoint description (wrong format tag)")
        version = meta.get("version")
        if version not in (1, VERSION):
            self.fail(f"has an unreadable checkpoint description (version {version!r}, this tinygraph "
                      f"reads versions 1 and {VERSION})")
        decode = self.decode if version == VERSION else self.decode_version_1
        state = decode(meta.get("tree"), 0)
        if not isinstance(state, dict):
            self.fail("has an unreadable checkpoint description (the state is not a dict)")
        return state

    def decode(self, node: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            self.fail(f"has a checkpoint description nested deeper than {MAX_DEPTH} levels")
        if not isinstance(node, dict) or len(node) not in (1, 2):
            self.fail(f"has an unreadable checkpoint description (unexpected {type(node).__name__})")
        if "value" in node and len(node) == 1:
            if not (node["value"] is None or isinstance(node["value"], (bool, int, float, str))):
                self.fail("has an unreadable checkpoint description (a value that is not a plain value)")
            return node["value"]
        if "list" in node and len(node) == 1 and isinstance(node["list"], list):
            return [self.decode(item, depth + 1) for item in node["list"]]
        if "dict" in node and len(node) == 1 and isinstance(node["dict"], list):
            out = {}
            for pair in node["dict"]:
                if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                    self.fail("has an unreadable checkpoint description (a dict entry is not [key, value])")
                out[pair[0]] = self.decode(pair[1], depth + 1)
            return out
        if "array" in node and isinstance(node["array"], str) and isinstance(node.get("scalar", False), bool):
            array = self.array(node["array"])
            return array[()] if node.get("scalar") and array.ndim == 0 else array
        self.fail(f"has an unreadable checkpoint description (unknown entry {sorted(node)[:3]})")

    def decode_version_1(self, node: Any, depth: int) -> Any:
        """Version 1 trees: plain JSON, with {"__array__": key} where an array was."""
        if depth > MAX_DEPTH:
            self.fail(f"has a checkpoint description nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            if "__array__" in node:
                if not isinstance(node["__array__"], str):
                    self.fail("has an unreadable checkpoint description (an array key is not a string)")
                array = self.array(node["__array__"])
                return array[()] if node.get("scalar") is True and array.ndim == 0 else array
            if "__list__" in node:
                if not isinstance(node["__list__"], list):
                    self.fail("has an unreadable checkpoint description (a list entry is not a list)")
                return [self.decode_version_1(item, depth + 1) for item in node["__list__"]]
            return {name: self.decode_version_1(item, depth + 1) for name, item in node.items()}
        if isinstance(node, list):
            self.fail("has an unreadable checkpoint description (a bare list)")
        return node

    def array(self, member: str) -> np.ndarray:
        if member not in self.arrays:
            if member + ".npy" not in self.members:
                self.fail(f"has an unreadable checkpoint description (it names an array {member!r} "
                          "the file does not hold)")
            self.arrays[member] = self.read_array(member + ".npy", budget=self.budget)
            self.budget -= self.arrays[member].nbytes
        return self.arrays[member]

    def read_array(self, member: str, budget: int) -> np.ndarray:
        """One .npy member: header checked, size checked against the member and `budget`, then read."""
        info = self.members[member]
        with self.archive.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version not in ((1, 0), (2, 0)):
                self.fail(f"holds {member} in .npy version {version}, which is not read")
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran_order, dtype = read_header(f)
            if dtype.kind not in "biuf" or dtype.fields is not None or dtype.hasobject:
                self.fail(f"holds {member} of dtype {dtype}; checkpoints hold only numeric arrays")
            nbytes = dtype.itemsize
            for size in shape:
                nbytes *= size                        # Python ints: no overflow however hostile
            held = info.file_size - f.tell()
            if nbytes != held:
                self.fail(f"holds {member} declaring shape {shape} of {dtype} ({nbytes:,} bytes) "
                          f"but {held:,} bytes of data")
            if nbytes > budget:
                self.fail(f"holds {member} of {nbytes:,} bytes, over the limit of {max(budget, 0):,} "
                          "left (pass max_bytes= to load larger checkpoints)")
            # Fortran-order data are the transpose's bytes in C order.
            array = np.empty(shape[::-1] if fortran_order else shape, dtype)
            view = memoryview(array.reshape(-1).view(np.uint8))
            got = 0
            while got < nbytes:
                n = f.readinto(view[got:])
                if not n:
                    self.fail(f"is truncated inside {member}")
                got += n
            if f.read(1):
                self.fail(f"holds more data in {member} than its header declares")
        return array.T if fortran_order else array
