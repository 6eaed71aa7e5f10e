"""`draw_steps`: one self-contained HTML page that steps through backward, one rule per frame.

Each frame is the same drawing with the op whose rule runs highlighted, the gradient it received,
what it adds into each input (`+=`), and every tensor's gradient so far. Frames are inline SVG;
the page has previous/next buttons, a slider and arrow keys, and loads nothing from anywhere.
"""
from __future__ import annotations

import html
import re
from html import escape
from pathlib import Path

import graphviz

from tinygraph.drawing import style as S
from tinygraph.drawing.graph import build_graph, formula
from tinygraph.drawing.record import BackwardRecording, record_backward
from tinygraph.drawing.render import AUTO_COLLAPSE, Frame, render
from tinygraph.engine import backward
from tinygraph.tensor import Tensor


def draw_steps(root: Tensor, path: str | Path, *, recording: BackwardRecording | None = None,
               view: str = "both", values: bool = False, formulas: bool = True,
               rankdir: str = "LR") -> Path:
    """Write the step-through page of backward from `root` to `path`; returns the path.

    Without `recording`, runs backward itself (retain_graph=True) and puts back every `.grad` it
    touched, so calling it changes nothing. Needs Graphviz's `dot` to draw the frames.
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
    pages = []
    for number, (frame, caption) in enumerate(frames):
        digraph = render(graph, view=view, values=values, grads=True, formulas=formulas, collapse=False,
                         rankdir=rankdir, recording=recording, frame=frame)
        svg = _inline_svg(digraph.pipe(format="svg").decode("utf-8"))
        pages.append(f'<section class="frame" id="frame{number}"{" hidden" if number else ""}>'
                     f'<p class="caption">{caption}</p>{svg}</section>')
    path = Path(path)
    path.write_text(_page(pages, graph.tensors[graph.root].symbol), encoding="utf-8")
    return path


def draw_step(root: Tensor, step: int, *, recording: BackwardRecording | None = None, view: str = "both",
              values: bool = False, formulas: bool = True, rankdir: str = "LR") -> graphviz.Digraph:
    """One frame of the step-through, as a drawing: backward just after rule number `step` (from 1)."""
    graph = build_graph(root)
    if recording is None:
        recording = _record(root, graph)
    frames = list(_frames(graph, recording))
    if not 1 <= step <= len(frames):
        raise ValueError(f"draw_step: step must be in 1..{len(frames)} (one per backward rule), got {step}")
    frame, caption = frames[step - 1]
    digraph = render(graph, view=view, values=values, grads=True, formulas=formulas, collapse=False,
                     rankdir=rankdir, recording=recording, frame=frame)
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
        parts.append(f"<br><code>{escape(rule)}</code> &nbsp;→&nbsp; δ{escape(parent)} += a term of norm "
                     f"{S.num(c.added.norm)}, so far ‖δ{escape(parent)}‖ = {S.num(c.running.norm)}")
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
body {{ font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 1.2em; color: #222; }}
#controls {{ position: sticky; top: 0; background: #fff; padding: .5em 0; border-bottom: 1px solid #ddd; }}
button {{ font-size: 1em; padding: .3em .9em; }}
input[type=range] {{ width: 40%; vertical-align: middle; }}
.caption {{ font-size: 1.05em; line-height: 1.5; }}
code {{ background: #fff7ec; padding: 0 .3em; }}
body.fit svg {{ max-width: 100%; height: auto; }}
</style></head>
<body>
<h1>Backpropagation of {root}, one rule at a time</h1>
<p>Each frame runs one op's backward rule, in the order the engine ran them. The highlighted op
receives the gradient of its output and adds (<code>+=</code>) into the gradient of each input;
grey dashed edges have not run yet. Keys: ← and → step; untick "fit to window" to read the
drawing at full size.</p>
<div id="controls"><button id="prev">◀ previous</button>
<input id="slider" type="range" min="0" max="{last}" value="0">
<button id="next">next ▶</button> <span id="counter"></span>
<label><input id="fit" type="checkbox" checked> fit to window</label></div>
{frames}
<script>
(function () {{
  var frames = document.querySelectorAll(".frame"), slider = document.getElementById("slider");
  var counter = document.getElementById("counter"), current = 0;
  function show(i) {{
    current = Math.max(0, Math.min(frames.length - 1, i));
    for (var k = 0; k < frames.length; k++) frames[k].hidden = (k !== current);
    slider.value = current;
    counter.textContent = "frame " + (current + 1) + " of " + frames.length;
  }}
  document.getElementById("prev").onclick = function () {{ show(current - 1); }};
  document.getElementById("next").onclick = function () {{ show(current + 1); }};
  slider.oninput = function () {{ show(parseInt(slider.value, 10)); }};
  var fit = document.getElementById("fit");
  fit.onchange = function () {{ document.body.classList.toggle("fit", fit.checked); }};
  fit.onchange();
  document.addEventListener("keydown", function (e) {{
    if (e.key === "ArrowLeft") show(current - 1);
    if (e.key === "ArrowRight") show(current + 1);
  }});
  show(0);
}})();
</script>
</body></html>
"""


def _page(frames: list[str], root_symbol: str) -> str:
    return PAGE.format(root=escape(root_symbol), last=len(frames) - 1, frames="\n".join(frames))
