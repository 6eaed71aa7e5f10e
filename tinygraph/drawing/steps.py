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
from tinygraph.drawing.render import AUTO_COLLAPSE, Frame, render
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
    touched, so calling it changes nothing. Needs Graphviz's `dot` to draw the frames. The page
    takes `#step=N` in its address, ← and → keys, and zooms to the op whose rule runs. Without
    Graphviz's `dot` the page lays the frames out itself, in the browser (Graphviz in WebAssembly).
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
    for number, (frame, caption) in enumerate(frames):
        digraph = render(graph, view=view, values=values, grads=True, formulas=formulas, collapse=False,
                         rankdir=rankdir, recording=recording, frame=frame, images=images, lecture=lecture)
        svg = dot_payload(digraph.source) if in_browser else _inline_svg(digraph.pipe(format="svg").decode("utf-8"))
        op = graph.ops[frame.current]
        receivers = [t for t in op.inputs if t is not None and graph.tensors[t].tensor.requires_grad]
        focus = " ".join([op.id, op.output] + receivers)
        pages.append(f'<section class="frame" id="frame{number}" data-focus="{focus}"'
                     f'{" hidden" if number else ""}><p class="caption">{caption}</p>'
                     f'<div class="view">{svg}</div></section>')
    page = StepPage(_page(pages, graph.tensors[graph.root].symbol, in_browser), len(pages))
    if path is not None:
        page.save(path)
    return page


def draw_step(root: Tensor, step: int, *, recording: BackwardRecording | None = None, view: str = "both",
              values: bool = False, formulas: bool = True, rankdir: str = "LR", images: bool = True,
              lecture: bool = False) -> graphviz.Digraph:
    """One frame of the step-through, as a drawing: backward just after rule number `step` (from 1)."""
    graph = build_graph(root)
    if recording is None:
        recording = _record(root, graph)
    frames = list(_frames(graph, recording))
    if not 1 <= step <= len(frames):
        raise ValueError(f"draw_step: step must be in 1..{len(frames)} (one per backward rule), got {step}")
    frame, caption = frames[step - 1]
    digraph = render(graph, view=view, values=values, grads=True, formulas=formulas, collapse=False,
                     rankdir=rankdir, recording=recording, frame=frame, images=images, lecture=lecture)
    plain = html.unescape(re.sub(r"<[^>]+>", "", caption.replace("<br>", "\n")))
    digraph.attr(label=plain.replace("\n", "\\l") + "\\l", labelloc="t", labeljust="l", fontsize="16")
    return digraph


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
body {{ font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 0 1.2em; color: #222; }}
h1 {{ font-size: 1.3em; margin: .4em 0; }}
#controls {{ position: sticky; top: 0; z-index: 1; background: #fff; padding: .4em 0;
             border-bottom: 1px solid #ddd; }}
button {{ font-size: 1em; padding: .3em .9em; }}
input[type=range] {{ width: 30%; vertical-align: middle; }}
.caption {{ font-size: 1.05em; line-height: 1.45; margin: .4em 0; }}
code {{ background: #fff7ec; padding: 0 .3em; }}
.view svg {{ width: 100%; height: auto; }}
body.zoom .view svg {{ height: calc(100vh - 15em); min-height: 320px; }}
body.full .view {{ overflow: auto; }}
body.full .view svg {{ width: auto; height: auto; }}
</style></head>
<body>
<h1>Backpropagation of {root}, one rule at a time</h1>
<div id="controls"><button id="prev">◀ previous</button>
<input id="slider" type="range" min="0" max="{last}" value="0">
<button id="next">next ▶</button> <span id="counter"></span> &nbsp;
<label>show: <select id="mode"><option value="zoom">the running op, close up</option>
<option value="fit">the whole graph</option><option value="full">full size (scroll)</option></select></label>
<br><small>Each frame runs one op's backward rule, in the engine's order: the highlighted op receives
the gradient of its output and adds (<code>+=</code>) into its inputs' gradients; grey dashed edges
have not run yet. Keys ← →; link to a frame with <code>#step=N</code>.</small></div>
{frames}
{renderer}<script>
(function () {{
  var frames = document.querySelectorAll(".frame"), slider = document.getElementById("slider");
  var counter = document.getElementById("counter"), mode = document.getElementById("mode"), current = 0;
  function box(svg, el) {{      // el's bounding box in svg's own (viewBox) coordinates
    var b = el.getBBox(), m = svg.getScreenCTM().inverse().multiply(el.getScreenCTM());
    var xs = [], ys = [], p = svg.createSVGPoint();
    [[b.x, b.y], [b.x + b.width, b.y], [b.x, b.y + b.height], [b.x + b.width, b.y + b.height]].forEach(function (c) {{
      p.x = c[0]; p.y = c[1]; var q = p.matrixTransform(m); xs.push(q.x); ys.push(q.y); }});
    return [Math.min.apply(null, xs), Math.min.apply(null, ys), Math.max.apply(null, xs), Math.max.apply(null, ys)];
  }}
  function frameView(frame) {{
    var svg = frame.querySelector("svg");
    if (!svg) return;
    if (!svg.dataset.whole) svg.dataset.whole = svg.getAttribute("viewBox");
    svg.setAttribute("viewBox", svg.dataset.whole);
    if (mode.value !== "zoom") return;
    // The running op, the tensor whose gradient it receives and the inputs it adds into.
    var focus = frame.dataset.focus.split(" "), titles = svg.querySelectorAll("g.node > title"), r = null;
    for (var k = 0; k < titles.length; k++) {{
      if (focus.indexOf(titles[k].textContent) < 0) continue;
      var b = box(svg, titles[k].parentNode);
      r = r ? [Math.min(r[0], b[0]), Math.min(r[1], b[1]), Math.max(r[2], b[2]), Math.max(r[3], b[3])] : b;
    }}
    if (!r) return;
    var whole = svg.dataset.whole.split(" ").map(Number), rect = svg.getBoundingClientRect();
    var width = Math.max(900, r[2] - r[0] + 120);
    var height = width * Math.max(0.3, rect.height / Math.max(1, rect.width));
    var x = (r[0] + r[2]) / 2 - width / 2, y = (r[1] + r[3]) / 2 - height / 2;
    x = Math.max(whole[0], Math.min(x, whole[0] + whole[2] - width));
    y = Math.max(whole[1], Math.min(y, whole[1] + whole[3] - height));
    svg.setAttribute("viewBox", [x, y, Math.min(width, whole[2]), Math.min(height, whole[3])].join(" "));
  }}
  function show(i) {{
    current = Math.max(0, Math.min(frames.length - 1, i));
    for (var k = 0; k < frames.length; k++) frames[k].hidden = (k !== current);
    slider.value = current;
    counter.textContent = "frame " + (current + 1) + " of " + frames.length;
    document.body.className = mode.value;
    var frame = frames[current], shown = current;
    function view() {{
      if (shown !== current) return;
      frameView(frame);
      document.body.setAttribute("data-shown", String(current + 1));    // for tests: this frame is drawn
    }}
    if (typeof tinygraphRender === "undefined") view();        // frames are SVG already (rendered by dot)
    else tinygraphRender(frame).then(view, function (e) {{ console.error("tinygraph: " + e); }});
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


def _page(frames: list[str], root_symbol: str, in_browser: bool = False) -> str:
    renderer = f"<script>{viz_script()}</script>\n<script>{RENDER_JS}</script>\n" if in_browser else ""
    return PAGE.format(root=escape(root_symbol), last=len(frames) - 1, frames="\n".join(frames), renderer=renderer)
