"""How a drawing looks: colours, line styles, the HTML-like labels and the legend that explains them.

Every visual choice lives here, so the legend and the drawing cannot disagree.
"""
from __future__ import annotations

import math
import re
from html import escape

import numpy as np

from tinygraph.drawing.graph import INPUT, INTERMEDIATE, LOSS, OUTPUT, PARAMETER

FONT = "DejaVu Sans"
INK = "#333333"
MUTED = "#666666"
FORWARD = "#4d4d4d"                # solid arrows: values flowing forward
GRADIENT = "#c2410c"               # dashed arrows: gradients flowing backward
GRADIENT_TEXT = "#7c2d12"          # ‖δ‖ inside a tensor: darker, to read on the strongest fill
FADED = "#d0d0d0"                  # step-through: gradient edges whose rule has not run yet
HIGHLIGHT = "#f59e0b"              # step-through: the op whose rule runs now
UNHEALTHY = "#be185d"              # border of vanishing / exploding / NaN gradients
OP_FILL, OP_BORDER = "#e8eefc", "#3b5ba9"
INPUT_FILL = "#f1f1f1"

# Tensor border by kind; the fill is kept for the gradient-norm scale.
KIND_BORDER = {INPUT: ("#8c8c8c", 1.2), PARAMETER: ("#15803d", 2.6), INTERMEDIATE: ("#555555", 1.0),
               LOSS: ("#7f1d1d", 3.0), OUTPUT: ("#7f1d1d", 3.0)}
KIND_TEXT = {INPUT: "input or constant (no gradient needed)", PARAMETER: "parameter (leaf with requires_grad)",
             INTERMEDIATE: "intermediate result", LOSS: "the loss (backward starts here, δ = 1)",
             OUTPUT: "the drawn output"}

# Gradient norm -> fill, light to strong, on a log scale spanning the drawing's own norms.
NORM_SCALE = ("#fff7ec", "#fee8c8", "#fdd49e", "#fdbb84", "#fc8d59")


class NormScale:
    """Maps a gradient norm to one of NORM_SCALE's colours by where log10(norm) falls in [lo, hi]."""

    def __init__(self, norms: list[float]):
        logs = [math.log10(n) for n in norms if n > 0 and math.isfinite(n)]
        self.lo = min(logs) if logs else 0.0
        self.hi = max(logs) if logs else 0.0

    def colour(self, norm: float) -> str:
        if not (norm > 0 and math.isfinite(norm)):
            return NORM_SCALE[0]
        if self.hi - self.lo < 1e-9:
            return NORM_SCALE[2]
        position = (math.log10(norm) - self.lo) / (self.hi - self.lo)
        return NORM_SCALE[min(int(position * len(NORM_SCALE)), len(NORM_SCALE) - 1)]

    def bands(self) -> list[tuple[str, str]]:
        """(colour, range text) per colour, for the legend."""
        if self.hi - self.lo < 1e-9:
            return [(NORM_SCALE[2], f"‖δ‖ ≈ {num(10 ** self.lo)}")]
        step = (self.hi - self.lo) / len(NORM_SCALE)
        return [(c, f"‖δ‖ {num(10 ** (self.lo + i * step))} … {num(10 ** (self.lo + (i + 1) * step))}")
                for i, c in enumerate(NORM_SCALE)]


def num(x: float) -> str:
    """A number in 3 significant digits, with a real minus sign."""
    if x != x:
        return "NaN"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    text = f"{x:.3g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text.replace("-", "−")


def shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def size_text(nbytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1024 or unit == "GB":
            return f"{nbytes} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return ""


def wrapped(text: str, width: int = 32) -> str:
    """Escape `text` for a label and break it at spaces into lines of about `width` characters."""
    lines, line = [], ""
    # Keep short parentheses such as "(eq. 2)" or "(i*, j*)" on one line.
    text = re.sub(r"\([^()]{1,12}\)", lambda m: m.group(0).replace(" ", "\u00a0"), text)
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return '<BR ALIGN="LEFT"/>'.join(escape(part) for part in lines)


def entries(symbol: str, array) -> list[str]:
    """A small tensor written out, signed: `b = −3`, `c = [0.5, −1.2]`, or one line per matrix row."""
    array = np.asarray(array)
    if array.ndim == 0 or array.size == 1:
        return [f"{symbol} = {num(array.item())}"]
    if array.ndim == 2 and array.shape[0] > 1:
        lines = ["[" + ", ".join(num(v) for v in row) + "]" for row in array.tolist()]
        return [f"{symbol} = [{lines[0]}"] + [" " * (len(symbol) + 4) + line for line in lines[1:-1]] + \
            [" " * (len(symbol) + 4) + lines[-1] + "]"]
    flat = [num(v) for v in array.ravel().tolist()]
    chunks = [", ".join(flat[i:i + 6]) for i in range(0, len(flat), 6)]
    if len(chunks) == 1:
        return [f"{symbol} = [{chunks[0]}]"]
    indent = " " * (len(symbol) + 4)
    return [f"{symbol} = [{chunks[0]},"] + [indent + c + "," for c in chunks[1:-1]] + [indent + chunks[-1] + "]"]


def entries_inline(stat) -> str:
    """A gradient statistic's few entries on one line."""
    values = [num(v) for v in stat.values]
    return values[0] if len(values) == 1 else "[" + ", ".join(values) + "]"


def image_grid(files: list[str], shape: tuple[int, int], more: int, per_row: int = 4, side: int = 34) -> str:
    """Thumbnails in rows of `per_row`, each about `side` points on its longer edge."""
    height, width = shape
    w, h = (side, max(8, round(side * height / width))) if width >= height else (max(8, round(side * width / height)), side)
    cells = [f'<TD FIXEDSIZE="TRUE" WIDTH="{w}" HEIGHT="{h}" BORDER="1" COLOR="#bbbbbb">'
             f'<IMG SRC="{escape(f)}" SCALE="TRUE"/></TD>' for f in files]
    rows = ["".join(cells[i:i + per_row]) for i in range(0, len(cells), per_row)]
    if more:
        rows[-1] += f'<TD>{small(f"+{more}", MUTED, 9)}</TD>'
    body = "".join(f"<TR>{r}</TR>" for r in rows)
    return f'<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="0">{body}</TABLE>'


def colour_bar(file: str, scale: float) -> str:
    """−m [blue … white … red] +m: the colours of the heatmaps above, 0 is white."""
    return (f'<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1" CELLPADDING="0"><TR>'
            f'<TD>{small(num(-scale), MUTED, 9)}</TD>'
            f'<TD FIXEDSIZE="TRUE" WIDTH="60" HEIGHT="8"><IMG SRC="{escape(file)}" SCALE="TRUE"/></TD>'
            f'<TD>{small(num(scale), MUTED, 9)}</TD><TD>{small("(0 = white)", MUTED, 9)}</TD></TR></TABLE>')


def small(text: str, colour: str = MUTED, size: int = 10) -> str:
    return f'<FONT POINT-SIZE="{size}" COLOR="{colour}">{escape(text)}</FONT>'


def table(rows: list[str]) -> str:
    """An HTML-like label: one left-aligned cell per row."""
    cells = "".join(f'<TR><TD ALIGN="LEFT" BALIGN="LEFT">{r}</TD></TR>' for r in rows)
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">{cells}</TABLE>>'


def legend_label(kinds: set[str], scale: NormScale | None, show_forward: bool, show_grads: bool,
                 extra: list[str], stepping: bool = False, wrapped: bool = False) -> str:
    """The legend: one entry per colour and line style used in this drawing, in two columns."""
    def swatch(fill: str, border: str, text: str, dashed: bool = False) -> str:
        dash = ' STYLE="dashed"' if dashed else ""
        return (f'<TD BGCOLOR="{fill}" COLOR="{border}" BORDER="2" WIDTH="26"{dash}> </TD>'
                f'<TD ALIGN="LEFT">{escape(text)}</TD>')

    def line(colour: str, glyph: str, text: str) -> str:
        return (f'<TD><FONT COLOR="{colour}" POINT-SIZE="14">{glyph}</FONT></TD>'
                f'<TD ALIGN="LEFT">{escape(text)}</TD>')

    left = [swatch(OP_FILL, OP_BORDER, "op: forward formula, what it saves for backward")]
    for kind in (INPUT, PARAMETER, INTERMEDIATE, LOSS, OUTPUT):
        if kind in kinds:
            left.append(swatch(INPUT_FILL if kind == INPUT else "#ffffff", KIND_BORDER[kind][0],
                               "tensor: " + KIND_TEXT[kind]))
    if show_forward:
        left.append(line(FORWARD, "──▶", "forward: a value flows into an op, or out of it"))
    right = []
    if show_grads:
        right.append(line(GRADIENT, "╌╌▶", "backward: gradient δ, labelled with the rule that made it"))
        right.append(line(GRADIENT, "+=", "tensor used by several ops: their δ contributions add up"))
        right.append(line(GRADIENT_TEXT, "‖δ‖", "a gradient's size: the square root of its sum of squares"))
        if scale is not None:
            right.extend(swatch(colour, "#555555", "fill: " + text) for colour, text in scale.bands())
        right.append(swatch("#ffffff", UNHEALTHY, "vanishing (‖δ‖ < 1e−8) or exploding (> 1e4, NaN/Inf) δ"))
    if wrapped:
        left.append(swatch("#ffffff", "#999999", "tensor from an earlier row, repeated where it is used", True))
    if stepping:
        left.append(swatch("#fff3c4", HIGHLIGHT, "the op whose rule runs in this step"))
        left.append(line(HIGHLIGHT, "╍╍▶", "what that rule adds now (+=) into its inputs' δ"))
        left.append(line(FADED, "╌╌▶", "a rule that has not run yet"))
    empty = '<TD></TD><TD></TD>'
    rows = ['<TR><TD COLSPAN="4" ALIGN="LEFT"><B>How to read this drawing</B></TD></TR>']
    for i in range(max(len(left), len(right))):
        rows.append("<TR>" + (left[i] if i < len(left) else empty) + (right[i] if i < len(right) else empty) + "</TR>")
    rows.extend(f'<TR><TD COLSPAN="4" ALIGN="LEFT">{small(text)}</TD></TR>' for text in extra)
    body = "".join(rows)
    return f'<<TABLE BORDER="1" COLOR="#999999" CELLBORDER="0" CELLSPACING="3" CELLPADDING="3">{body}</TABLE>>'
