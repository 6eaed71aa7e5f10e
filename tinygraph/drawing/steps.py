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
from tinygraph.drawing.browser import RENDER_JS, dot_payload, has_dot, viz_script
from tinygraph.drawing.graph import build_graph, formula
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
        return dot_payload(digraph.source) if in_browser else _inline_svg(digraph.pipe(format="svg").decode("utf-8"))

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
    page = StepPage(_page(pages, graph.tensors[graph.root].symbol, in_browser, lecture), len(pages))
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
    before = {tid: item.tensor.grad for tid, item in graph.tensors.items()}
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
                item.tensor.grad = before[tid]
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


def _inline_svg(svg: str) -> str:
    """Graphviz's SVG without the XML prologue, doctype, comments and namespace URLs (not needed inline)."""
    svg = re.sub(r"<\?xml.*?\?>|<!DOCTYPE.*?>|<!--.*?-->", "", svg, flags=re.S)
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
    return svg.strip()


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Backpropagation of {root}, step by step</title>
<style>
body {{ font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 0 1em; color: #222; font-size: 16px; }}
body.lecture {{ font-size: 22px; }}
h1 {{ font-size: 1.15em; margin: .3em 0 .2em; }}
#controls {{ position: sticky; top: 0; z-index: 1; background: #fff; padding: .2em 0; }}
button, select {{ font-size: 1em; padding: .15em .7em; }}
input[type=range] {{ width: 25%; vertical-align: middle; }}
details {{ font-size: .85em; color: #444; }}
.caption {{ line-height: 1.4; margin: .3em 0; }}
code {{ background: #fff7ec; padding: 0 .3em; }}
.view {{ display: none; }}
body.close .view.close, body.whole .view.whole {{ display: block; }}
body.full .view.full {{ display: block; overflow: auto; }}
.view svg {{ display: block; margin: 0 auto; }}
</style></head>
<body class="close{lecture}">
<h1>Backpropagation of {root}, one rule at a time</h1>
<div id="controls"><button id="prev">◀ previous</button>
<input id="slider" type="range" min="0" max="{last}" value="0" autocomplete="off">
<button id="next">next ▶</button> <span id="counter"></span> &nbsp;
<label>show: <select id="mode" autocomplete="off"><option value="close">the running op, close up</option>
<option value="whole">the whole graph</option><option value="full">the full drawing (scroll)</option></select></label>
<details><summary>how to read it</summary>Each frame runs one op's backward rule, in the engine's
order: the highlighted op receives the gradient of its output and adds (<code>+=</code>) into its inputs'
gradients; grey dashed edges have not run yet. Keys ← →; link to a frame with <code>#step=N</code>.
The full drawing has the legend.</details></div>
{frames}
{renderer}<script>
(function () {{
  var frames = document.querySelectorAll(".frame"), slider = document.getElementById("slider");
  var counter = document.getElementById("counter"), mode = document.getElementById("mode"), current = 0;
  function fit(view, frame) {{     // the drawing as large as the window allows, whole
    var svg = view.querySelector("svg");
    if (!svg) return;
    var box = svg.viewBox.baseVal, w = box.width, h = box.height;
    if (mode.value === "full") {{
      svg.style.width = (w * 4 / 3) + "px"; svg.style.height = (h * 4 / 3) + "px";   // points to pixels
      view.style.height = Math.max(240, window.innerHeight - view.getBoundingClientRect().top - 8) + "px";
      var titles = svg.querySelectorAll("g.node > title");
      for (var k = 0; k < titles.length; k++) {{
        if (titles[k].textContent !== frame.dataset.focus.split(" ")[0]) continue;
        var r = titles[k].parentNode.getBoundingClientRect(), v = view.getBoundingClientRect();
        view.scrollLeft += (r.left + r.right) / 2 - (v.left + v.right) / 2;
        view.scrollTop += (r.top + r.bottom) / 2 - (v.top + v.bottom) / 2;
      }}
      return;
    }}
    var width = view.clientWidth, height = window.innerHeight - view.getBoundingClientRect().top - 8;
    var scale = Math.min(width / w, Math.max(120, height) / h);
    svg.style.width = (w * scale) + "px"; svg.style.height = (h * scale) + "px";
  }}
  function show(i) {{
    current = Math.max(0, Math.min(frames.length - 1, i));
    for (var k = 0; k < frames.length; k++) frames[k].hidden = (k !== current);
    slider.value = current;
    counter.textContent = "frame " + (current + 1) + " of " + frames.length;
    document.body.classList.remove("close", "whole", "full");
    document.body.classList.add(mode.value);
    var frame = frames[current], shown = current, view = frame.querySelector(".view." + mode.value);
    function drawn() {{
      if (shown !== current) return;
      window.scrollTo(0, 0);
      fit(view, frame);
      document.body.setAttribute("data-shown", (current + 1) + " " + mode.value);   // for tests: drawn
    }}
    if (typeof tinygraphRender === "undefined") drawn();        // frames are SVG already (rendered by dot)
    else tinygraphRender(view).then(drawn, function (e) {{ console.error("tinygraph: " + e); }});
    try {{ history.replaceState(null, "", "#step=" + (current + 1)); }} catch (e) {{}}   // not in every frame
  }}
  function fromHash() {{
    var m = /step=(\\d+)/.exec(location.hash);
    return m ? parseInt(m[1], 10) - 1 : 0;
  }}
  document.getElementById("prev").onclick = function () {{ show(current - 1); }};
  document.getElementById("next").onclick = function () {{ show(current + 1); }};
  slider.oninput = function () {{ show(parseInt(slider.value, 10)); }};
  mode.onchange = function () {{ show(current); }};
  window.addEventListener("hashchange", function () {{ show(fromHash()); }});
  window.addEventListener("resize", function () {{ show(current); }});
  document.addEventListener("keydown", function (e) {{
    if (e.target.tagName === "SELECT") return;
    if (e.key === "ArrowLeft") show(current - 1);
    if (e.key === "ArrowRight") show(current + 1);
  }});
  show(fromHash());
}})();
</script>
</body></html>
"""


def _page(frames: list[str], root_symbol: str, in_browser: bool = False, lecture: bool = False) -> str:
    renderer = f"<script>{viz_script()}</script>\n<script>{RENDER_JS}</script>\n" if in_browser else ""
    return PAGE.format(root=escape(root_symbol), last=len(frames) - 1, frames="\n".join(frames), renderer=renderer,
                       lecture=" lecture" if lecture else "")
