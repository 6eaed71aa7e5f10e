"""Feature maps, filters and their gradients as small heatmaps inside the drawing.

Graphviz draws an `<IMG>` from a file, so each heatmap is written once as a PNG (standard library
only: zlib + struct) into a cache directory, named by its content's hash so the same graph gives
the same DOT text. Every SVG a drawing produces then has those file references replaced by
base64 `data:` URIs (`inline_images`), so the SVG and the step-through page stay single,
self-contained files: no external URL, no image file next to them.

Colours: a diverging map centred at 0 — blue below, white at 0, red above — on a symmetric scale
±m where m is the largest |entry| of the tensor, so every channel of one tensor shares one scale
and the colour bar next to it gives m.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

MAX_SIDE = 32          # image-shaped: (N, C, H, W) with H and W at most this
MAX_TILES = 8          # thumbnails per tensor before "+k more"
TILE_PIXELS = 40       # a thumbnail's side, in pixels, about
NEGATIVE = np.array([33, 102, 172], dtype=np.float64)    # blue
ZERO = np.array([255, 255, 255], dtype=np.float64)       # white
POSITIVE = np.array([178, 24, 43], dtype=np.float64)     # red


def is_image_shaped(shape: tuple[int, ...]) -> bool:
    """(N, C, H, W) feature maps and (out, in, kh, kw) filters with small H, W."""
    return len(shape) == 4 and 1 < shape[2] <= MAX_SIDE and 1 < shape[3] <= MAX_SIDE and shape[0] * shape[1] > 0


def tiles(array: np.ndarray, is_filter: bool) -> tuple[list[np.ndarray], int, str]:
    """The 2-D maps to show, how many more there are, and what one map is.

    A filter bank (out, in, kh, kw) shows each output filter's first input channel; a batch of
    feature maps (N, C, H, W) shows each channel of the first sample.
    """
    if is_filter:
        maps, what = [array[k, 0] for k in range(array.shape[0])], "filter"
    else:
        maps, what = [array[0, k] for k in range(array.shape[1])], "channel"
    return maps[:MAX_TILES], max(0, len(maps) - MAX_TILES), what


def heatmap_rgb(plane: np.ndarray, scale: float) -> np.ndarray:
    """An (H, W) array as (H, W, 3) uint8 colours on the diverging map over [−scale, scale]."""
    t = np.clip(np.nan_to_num(plane.astype(np.float64)) / scale, -1.0, 1.0) if scale > 0 else np.zeros(plane.shape)
    t = t[..., None]
    rgb = np.where(t >= 0, ZERO + t * (POSITIVE - ZERO), ZERO - t * (NEGATIVE - ZERO))
    return np.round(rgb).astype(np.uint8)


def enlarge(rgb: np.ndarray, side: int = TILE_PIXELS) -> np.ndarray:
    """Nearest-neighbour upscaling, so each entry stays a crisp square."""
    factor = max(1, side // max(rgb.shape[0], rgb.shape[1]))
    return rgb.repeat(factor, axis=0).repeat(factor, axis=1)


def colour_bar_rgb(width: int = 72, height: int = 10) -> np.ndarray:
    ramp = np.linspace(-1.0, 1.0, width)[None, :].repeat(height, axis=0)
    return heatmap_rgb(ramp, 1.0)


def png_bytes(rgb: np.ndarray) -> bytes:
    """An (H, W, 3) uint8 array as a PNG file, written with zlib and struct only."""
    height, width, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[row].tobytes() for row in range(height))   # filter type 0 per row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)     # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def cache_dir() -> Path:
    """Where Graphviz reads the PNGs from; the drawings themselves never point here."""
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    path = Path(tempfile.gettempdir()) / f"tinygraph-images-{uid}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def image_file(rgb: np.ndarray) -> str:
    """Write `rgb` as a PNG named by its hash (once) and return its path."""
    data = png_bytes(rgb)
    path = cache_dir() / f"{hashlib.sha1(data).hexdigest()[:20]}.png"
    if not path.exists():
        partial = path.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(data)
        os.replace(partial, path)
    return str(path)


_IMAGE_REF = re.compile(r'(xlink:href|href)="([^"]*tinygraph-images-[^"/\\]*[/\\]([0-9a-f]{20})\.png)"')


def inline_images(svg: str) -> str:
    """Replace every reference to a cached heatmap in Graphviz's SVG by a base64 data URI."""
    def data_uri(match: re.Match) -> str:
        path = cache_dir() / f"{match.group(3)}.png"
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
        return f'{match.group(1)}="data:image/png;base64,{encoded}"'

    return _IMAGE_REF.sub(data_uri, svg)
