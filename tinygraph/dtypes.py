"""PyTorch's dtype and device vocabulary over NumPy: `tg.float32`, `tg.long`, `device="cpu"`.

The dtype objects are NumPy dtypes, so NumPy accepts them (`np.zeros(3, tg.float32)`) and they
compare equal to `t.dtype`. Factories make float32 by default, as PyTorch does (`tg.tensor` keeps
NumPy's float64 for Python floats). The only device is the CPU: `"cpu"`, `"cpu:0"` and
`tg.device("cpu")` are accepted everywhere a device is, anything else raises
`UnsupportedDeviceError` naming the backend tinygraph does not have.
"""
from __future__ import annotations

from typing import Any

import numpy as np

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
float16 = np.dtype(np.float16)
int64 = np.dtype(np.int64)
int32 = np.dtype(np.int32)
int16 = np.dtype(np.int16)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)

# PyTorch's other spellings of the same dtypes: tg.float, tg.double, tg.half, tg.long, tg.int, tg.short.
ALIASES = {"float": float32, "double": float64, "half": float16, "long": int64, "int": int32, "short": int16,
           "bool": bool_}

DEFAULT_FLOAT = float32

# What tensor.type() calls each dtype, as torch's legacy tensor type names.
TYPE_NAMES = {float32: "FloatTensor", float64: "DoubleTensor", float16: "HalfTensor", int64: "LongTensor",
              int32: "IntTensor", int16: "ShortTensor", int8: "CharTensor", uint8: "ByteTensor", bool_: "BoolTensor"}


def get_default_dtype() -> np.dtype:
    """The dtype floating factories make when given none (float32, as PyTorch's default)."""
    return DEFAULT_FLOAT


def as_dtype(dtype: Any, where: str) -> np.dtype:
    """A NumPy dtype from tg.float32, np.float32, float (float64, as torch), "float32" or a type name."""
    if isinstance(dtype, str) and dtype.rsplit(".", 1)[-1] in _BY_TYPE_NAME:
        return _BY_TYPE_NAME[dtype.rsplit(".", 1)[-1]]
    try:
        result = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{where}: {dtype!r} is not a dtype; use tg.float32, tg.float64, tg.int64, tg.bool, ...") from None
    if result.kind not in "biuf":
        raise TypeError(f"{where}: dtype {result} is not supported; tinygraph tensors are bool, integer or floating")
    return result


_BY_TYPE_NAME = {name: dtype for dtype, name in TYPE_NAMES.items()}


class UnsupportedDeviceError(RuntimeError):
    """A device other than the CPU was asked for: `.device` is what was asked, `.where` the function."""

    def __init__(self, device: Any, where: str):
        self.device, self.where = device, where
        backend = str(device).split(":")[0]
        super().__init__(f"{where}: device {str(device)!r} needs the {backend!r} backend, which tinygraph does not have; "
                         "tinygraph runs on the CPU only (device='cpu', or drop the .to(device) / .cuda() call)")


class device:
    """torch.device's CPU-only twin: `tg.device("cpu")`, equal to "cpu"; any other type raises."""

    def __init__(self, type: str = "cpu", index: int | None = None):
        text = str(type)
        check_device(text, "tg.device")
        self.type, self.index = "cpu", index

    def __eq__(self, other) -> bool:
        return isinstance(other, (device, str)) and str(other).split(":")[0] == "cpu"

    def __hash__(self) -> int:
        return hash("cpu")

    def __str__(self) -> str:
        return "cpu"

    def __repr__(self) -> str:
        return "device(type='cpu')"


def is_device(value: Any) -> bool:
    """Whether `value` names a device (a string like "cuda:0" or a tg.device) rather than a dtype."""
    if isinstance(value, device):
        return True
    if not isinstance(value, str):
        return type(value).__name__ == "device"          # a torch.device handed over by a port
    return value.split(":")[0] in _DEVICE_TYPES


_DEVICE_TYPES = {"cpu", "cuda", "mps", "xpu", "xla", "meta", "hip", "vulkan", "ipu", "mtia", "hpu", "privateuseone"}


def check_device(value: Any, where: str) -> None:
    """Accept None and the CPU; raise UnsupportedDeviceError for any other device."""
    if value is None or isinstance(value, device):
        return
    text = str(value) if not hasattr(value, "type") else str(getattr(value, "type"))
    if text.split(":")[0] != "cpu":
        raise UnsupportedDeviceError(value, where)


CPU = device("cpu")
