"""The step-through page's HTML: controls, the three views of a frame fitted to the window, and
the script that moves between frames (buttons, slider, ← →, `#step=N`). Self-contained: it loads
nothing; where `dot` was missing it carries Graphviz in WebAssembly (see `browser.py`).
"""
from __future__ import annotations

import re
from html import escape

from tinygraph.drawing.browser import RENDER_JS, viz_script


def inline_svg(svg: str) -> str:
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


def page_html(frames: list[str], root_symbol: str, in_browser: bool = False, lecture: bool = False) -> str:
    """The page around its frames (<section>s); with in_browser, Graphviz in WebAssembly to lay them out."""
    renderer = f"<script>{viz_script()}</script>\n<script>{RENDER_JS}</script>\n" if in_browser else ""
    return PAGE.format(root=escape(root_symbol), last=len(frames) - 1, frames="\n".join(frames), renderer=renderer,
                       lecture=" lecture" if lecture else "")
