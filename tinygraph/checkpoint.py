"""Checkpoints: `tg.save(path, state)` / `tg.load(path)` for nested dicts of arrays and plain values.

The file is an ordinary `.npz`: each array under its slash-joined key ("model/conv.weight"),
plus one JSON entry describing the rest of the tree (ints, floats, strings, lists, dicts). It is
read without pickle, so loading a file cannot run code. Writes go to a temporary file in the
same directory and are renamed over the target only once complete: a crash or a full disk
mid-save leaves the previous checkpoint as it was.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from typing import Any

import numpy as np

FORMAT = "tinygraph-checkpoint"
VERSION = 1
META_KEY = "__tinygraph__"


def save(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write `state` (a dict of arrays, numbers, strings, lists and dicts) to `path` atomically."""
    if not isinstance(state, dict):
        raise TypeError(f"tg.save: state must be a dict, got {type(state).__name__}")
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(state, "", arrays)
    arrays[META_KEY] = np.frombuffer(json.dumps({"format": FORMAT, "version": VERSION, "tree": tree})
                                     .encode(), dtype=np.uint8)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, _new_file_mode())      # mkstemp makes 0600; give what open() would
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def _new_file_mode() -> int:
    """The permissions open() gives a new file: 0o666 less the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def load(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by `tg.save`; ValueError if it is truncated, corrupt or foreign."""
    path = os.fspath(path)
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError(f"tg.load: {path} is a single .npy array, not a tinygraph checkpoint")
        with archive:
            if META_KEY not in archive.files:
                raise ValueError(f"tg.load: {path} is not a tinygraph checkpoint (no {META_KEY} entry)")
            arrays = {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise
    except ValueError as error:
        if str(error).startswith("tg.load"):
            raise
        raise ValueError(f"tg.load: {path} is not a readable .npz checkpoint ({error})") from None
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as error:
        raise ValueError(f"tg.load: {path} is truncated or corrupt ({type(error).__name__}: {error})") from None
    try:
        meta = json.loads(arrays.pop(META_KEY).tobytes().decode())
        if meta.get("format") != FORMAT:
            raise ValueError("wrong format tag")
        if meta.get("version") != VERSION:
            raise ValueError(f"version {meta.get('version')}, this tinygraph reads version {VERSION}")
        return _decode(meta["tree"], arrays)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise ValueError(f"tg.load: {path} has an unreadable checkpoint description ({error})") from None


def _encode(value: Any, key: str, arrays: dict[str, np.ndarray]) -> Any:
    """JSON for the tree; arrays go into `arrays` and are replaced by {"__array__": key}."""
    if isinstance(value, dict):
        out = {}
        for name, item in value.items():
            if not isinstance(name, str) or "/" in name or name.startswith("__"):
                raise ValueError(f"tg.save: key {name!r} at '{key or '/'}' must be a string without '/' "
                                 "that does not start with '__'")
            out[name] = _encode(item, f"{key}/{name}" if key else name, arrays)
        return out
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"tg.save: array at '{key}' has dtype {array.dtype}; only numeric arrays are saved")
        arrays[key] = array
        return {"__array__": key, "scalar": isinstance(value, np.generic)}
    if isinstance(value, (list, tuple)):
        return {"__list__": [_encode(item, f"{key}/{i}", arrays) for i, item in enumerate(value)]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"tg.save: cannot save the {type(value).__name__} at '{key}'; use arrays, numbers, "
                    "strings, lists and dicts")


def _decode(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(tree, dict):
        if "__array__" in tree:
            array = arrays[tree["__array__"]]
            return array[()] if tree.get("scalar") else array
        if "__list__" in tree:
            return [_decode(item, arrays) for item in tree["__list__"]]
        return {name: _decode(item, arrays) for name, item in tree.items()}
    return tree
