"""`draw_steps`: one self-contained HTML page that steps through backward, one rule per frame.

Each frame is the same drawing with the op whose rule runs highlighted, the gradient it received,
what it adds into each input (`+=`), and every tensor's gradient so far. Frames are inline SVG;
the page has previous/next buttons, a slider and arrow keys, and loads nothing from anywhere.
Without Graphviz's `dot`, each frame is its DOT source instead, and the page carries Graphviz
as WebAssembly to lay it out in the browser (see `browser.py`).
"""
from __future__ import annotations

import html
import re
from html import escape
from pathlib import Path

import graphviz

from tinygraph.drawing import style as S
from tinygraph.drawing.browser import dot_payload, has_dot
from tinygraph.drawing.graph import build_graph, formula
from tinygraph.drawing.page import inline_svg, page_html
from tinygraph.drawing.record import BackwardRecording, record_backward
from tinygraph.drawing.render import AUTO_COLLAPSE, LECTURE_SCALE, Frame, column_count, render
from tinygraph.engine import backward
from tinygraph.tensor import Tensor


class StepPage:
    """The step-through page: shows inline in Jupyter (`_repr_html_`), `.save(path)`s as one file.

    Given a path, `draw_steps` has already saved it there; the page then also stands for that
    file (`os.fspath(page)`, `str(page)`, `page.read_text()`), as draw_steps' result once did.
    """

    def __init__(self, html_text: str, frames: int):
        self.html, self.frames, self.path = html_text, frames, None

    def save(self, path: str | Path) -> Path:
        """Write the page (a single self-contained HTML file) to `path`; returns the path."""
        self.path = Path(path)
        self.path.write_text(self.html, encoding="utf-8")
        return self.path

    def _repr_html_(self) -> str:
        # A notebook cell is a fragment of a page that is not ours: the page goes in an iframe.
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" style="width:100%;height:760px;'
                f'border:1px solid #ddd"></iframe>')

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.html

    def __fspath__(self) -> str:
        if self.path is None:
            raise TypeError("this step page was not saved yet: call .save(path) first")
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path) if self.path is not None else f"<step-through page, {self.frames} frames>"

    def __repr__(self) -> str:
        return f"StepPage({self.frames} frames{f', saved to {self.path}' if self.path else ''})"


def draw_steps(root: Tensor, path: str | Path | None = None, *, recording: BackwardRecording | None = None,
               view: str = "both", values: bool = False, formulas: bool = True,
               rankdir: str = "LR", images: bool = True, lecture: bool = False) -> StepPage:
    """The step-through page of backward from `root`, one frame per rule: a `StepPage` that shows
    inline in Jupyter and `.save(path)`s; given `path`, it is saved there too.

    Without `recording`, runs backward itself (retain_graph=True) and puts back every `.grad` it
    touched, so calling it changes nothing. The page takes `#step=N` in its address, ← and → keys,
    and shows each frame three ways, fitted to the window: the running op close up with all its
    inputs and its output (text ≥ 14 px on a 1280×800 screen), the whole graph in rows (names,
    formulas, ‖δ‖), and the full drawing to scroll, opened at the running op. lecture: larger type,
    in the drawings and on the page. Without Graphviz's `dot` the page lays the frames out itself,
    in the browser (Graphviz in WebAssembly).
    """
    graph = build_graph(root)
    if len(graph.ops) > AUTO_COLLAPSE:
        raise ValueError(f"draw_steps: the graph has {len(graph.ops)} ops, too many frames for one page "
                         f"(limit {AUTO_COLLAPSE}); step through a smaller graph and use draw() for this one")
    if recording is None:
        recording = _record(root, graph)
    frames = list(_frames(graph, recording))
    if not frames:
        raise ValueError("draw_steps: the recording holds no backward step of this graph; run "
                         "root.backward() inside tg.record_backward() first")
    pages, in_browser = [], not has_dot()
    wrap = whole_graph_wrap(graph)

    def picture(digraph) -> str:
        return dot_payload(digraph.source) if in_browser else inline_svg(digraph.pipe(format="svg").decode("utf-8"))

    def largest(digraphs) -> str:
        """Of several layouts, the one that fits SCREEN at the largest scale, as a picture."""
        if len(digraphs) == 1:
            return picture(digraphs[0])
        svgs = [picture(d) for d in digraphs]
        return max(svgs, key=lambda svg: _fit_scale(svg))

    for number, (frame, caption) in enumerate(frames):
        op = graph.ops[frame.current]
        focus = [op.id, op.output] + [t for t in dict.fromkeys(op.inputs) if t is not None]
        common = dict(view=view, grads=True, collapse=False, recording=recording, frame=frame, lecture=lecture)
        # The running op with every input and its output, no text under CLOSE_UP_FLOOR, top to bottom
        # or left to right, whichever fits the screen larger. In lecture mode its tensors say only
        # name, shape and ‖δ‖, without heatmaps, which would shrink its larger type back when fitted.
        close = [render(graph, values=values, formulas=formulas, rankdir=direction, images=images and not lecture,
                        compact=lecture, only=set(focus), floor=CLOSE_UP_FLOOR * (LECTURE_SCALE if lecture else 1),
                        **common)
                 for direction in (("TB",) if in_browser else ("TB", "LR"))]
        # The whole graph in rows, to the screen's aspect: names, formulas and ‖δ‖ only.
        whole = render(graph, values=False, formulas=formulas, rankdir="LR", images=False, compact=True,
                       wrap=wrap, floor=WHOLE_FLOOR * (LECTURE_SCALE if lecture else 1), **common)
        # Everything, as tg.draw shows it, at full size (scrolled to the running op).
        full = render(graph, values=values, formulas=formulas, rankdir=rankdir, images=images, **common)
        pages.append(f'<section class="frame" id="frame{number}" data-focus="{" ".join(focus)}"'
                     f'{" hidden" if number else ""}><p class="caption">{caption}</p>'
                     f'<div class="view close">{largest(close)}</div><div class="view whole">{picture(whole)}</div>'
                     f'<div class="view full">{picture(full)}</div></section>')
    page = StepPage(page_html(pages, graph.tensors[graph.root].symbol, in_browser, lecture), len(pages))
    if path is not None:
        page.save(path)
    return page


def draw_step(root: Tensor, step: int, *, recording: BackwardRecording | None = None, view: str = "both",
              values: bool = False, formulas: bool = True, rankdir: str = "LR", images: bool = True,
              lecture: bool = False, close_up: bool = False) -> graphviz.Digraph:
    """One frame of the step-through, as a drawing: backward just after rule number `step` (from 1).
    close_up: only the op whose rule runs, its inputs and its output, top to bottom, as the page's close-up."""
    graph = build_graph(root)
    if recording is None:
        recording = _record(root, graph)
    frames = list(_frames(graph, recording))
    if not 1 <= step <= len(frames):
        raise ValueError(f"draw_step: step must be in 1..{len(frames)} (one per backward rule), got {step}")
    frame, caption = frames[step - 1]
    close = {}
    if close_up:
        op = graph.ops[frame.current]
        close = dict(only={op.id, op.output} | {t for t in op.inputs if t is not None}, rankdir="TB",
                     floor=CLOSE_UP_FLOOR * (LECTURE_SCALE if lecture else 1))
    digraph = render(graph, **{"view": view, "values": values, "grads": True, "formulas": formulas,
                               "collapse": False, "rankdir": rankdir, "recording": recording, "frame": frame,
                               "images": images, "lecture": lecture, **close})
    plain = html.unescape(re.sub(r"<[^>]+>", "", caption.replace("<br>", "\n")))
    digraph.attr(label=plain.replace("\n", "\\l") + "\\l", labelloc="t", labeljust="l", fontsize="16")
    return digraph


CLOSE_UP_FLOOR = 13        # points: no smaller text in the close-up, so it reads ≥ 14 px fitted to 1280×800
WHOLE_FLOOR = 11           # points: the whole-graph view's smallest text (≥ 10 px fitted to 1280×800)
SCREEN = (1240, 620)       # px left for a frame's drawing on a 1280×800 screen, below the page's header
COLUMN, ROW = 200, 110     # about the size of one column and one row of the whole-graph view, in points


def whole_graph_wrap(graph) -> int | None:
    """Columns per row for the whole-graph view, so its rows take the screen's aspect at the
    largest scale: wide enough to use the screen's width, few enough rows to fit its height."""
    columns = column_count(graph)
    best, best_scale = None, 0.0
    for width in range(2, columns + 1):
        rows = -(-columns // width)
        scale = min(SCREEN[0] / (width * COLUMN), SCREEN[1] / (rows * ROW))
        if scale > best_scale + 1e-9:
            best, best_scale = width, scale
    return None if best is None or best >= columns else best


def _fit_scale(svg: str) -> float:
    """How large an SVG of Graphviz's shows when fitted to SCREEN (its viewBox is in points)."""
    match = re.search(r'viewBox="[\d.-]+ [\d.-]+ ([\d.]+) ([\d.]+)"', svg)
    return min(SCREEN[0] / float(match.group(1)), SCREEN[1] / float(match.group(2))) if match else 0.0


def _record(root: Tensor, graph) -> BackwardRecording:
    """Run backward once, recorded, and leave every tensor's `.grad` as it was."""
    before = {tid: getattr(item.tensor, "_grad", None) for tid, item in graph.tensors.items()}
    try:
        with record_backward() as recording:
            backward(root, retain_graph=True)
    except RuntimeError as error:
        raise RuntimeError(f"draw_steps: cannot run backward on this graph ({error}). Record the first "
                           "backward instead: with tg.record_backward() as rec: loss.backward(); then "
                           "tg.draw_steps(loss, path, recording=rec)") from None
    finally:
        for tid, item in graph.tensors.items():
            if isinstance(item.tensor, Tensor):       # a Node's record of a freed tensor has no .grad
                item.tensor._grad = before[tid]
    return recording


def _frames(graph, recording: BackwardRecording):
    """(Frame, caption) for every step of the recording where an op's rule ran on this graph."""
    tid_of = {id(item.tensor): tid for tid, item in graph.tensors.items()}
    state: dict[str, tuple] = {}
    ran: set[str] = set()
    rule_steps = [s for s in recording.steps if s.node is not None and id(s.tensor) in tid_of]
    total = len(rule_steps)
    for step in recording.steps:
        tid = tid_of.get(id(step.tensor))
        if tid is None:
            continue
        count = state.get(tid, (None, None, 0))[2]
        state[tid] = ("done", step.grad_out, count)
        if step.node is None:
            continue
        op = graph.ops[graph.tensors[tid].producer]
        ran.add(op.id)
        added = {}
        for c in step.contributions:
            ptid = tid_of[id(c.parent)]
            count = state.get(ptid, (None, None, 0))[2] + 1
            state[ptid] = ("partial", c.running, count)
            added[(op.id, c.index)] = c.added
        frame = Frame(op.id, set(ran), dict(state), added)
        yield frame, _caption(graph, op, step, len(ran), total)


def _caption(graph, op, step, number: int, total: int) -> str:
    out = graph.tensors[op.output].symbol
    seed = " (backward starts from δ = 1)" if number == 1 else ""
    parts = [f"<b>Step {number} of {total}</b>{seed}: <b>{escape(op.name)}</b> receives "
             f"‖δ{escape(out)}‖ = {S.num(step.grad_out.norm)} and runs its rule"]
    for c in step.contributions:
        parent = graph.tensors[op.inputs[c.index]].symbol
        rule = formula(op.node.op.backward_formulas[c.index], op.symbols)
        if c.added.values is not None and len(c.added.values) <= 4:    # a few entries: each, signed
            so_far = f"so far δ{escape(parent)} = {escape(S.entries_inline(c.running))}"
            term = escape(S.entries_inline(c.added))
        else:
            so_far = f"so far ‖δ{escape(parent)}‖ = {S.num(c.running.norm)}"
            term = f"a term of norm {S.num(c.added.norm)}"
        parts.append(f"<br><code>{escape(rule)}</code> &nbsp;→&nbsp; δ{escape(parent)} += {term}, {so_far}")
    if not step.contributions:
        parts.append("<br>none of its inputs needs a gradient")
    return "".join(parts)
