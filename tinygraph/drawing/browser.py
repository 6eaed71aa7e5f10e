"""Drawings laid out in the browser, for where Graphviz's `dot` program is missing.

Without `dot`, the step-through page and a drawing shown in a notebook carry their DOT source and
Graphviz compiled to WebAssembly (`vendor/viz-global.js`, @viz-js/viz, shipped with tinygraph;
see vendor/README.md), and the browser lays the graph out itself: the same DOT, the same drawing.
Nothing is fetched from anywhere. The heatmaps inside a drawing are referenced by their file in
`images.cache_dir()`; here they become data URIs, with their pixel sizes for the layout.
"""
from __future__ import annotations

import base64
import json
import re
import shutil
import struct
from functools import lru_cache
from html import escape
from pathlib import Path

from tinygraph.drawing import images as I

VIZ_FILE = Path(__file__).resolve().parent / "vendor" / "viz-global.js"
DOT_HINT = ("install Graphviz's `dot` for SVG, PNG and PDF files (Debian/Ubuntu: sudo apt-get install graphviz; "
            "macOS: brew install graphviz; Windows: winget install graphviz; or `make setup`)")
_IMG_SRC = re.compile(r'SRC="([^"]*tinygraph-images-[^"/\\]*[/\\]([0-9a-f]{20})\.png)"')


def has_dot() -> bool:
    """Is Graphviz's `dot` program on PATH (what the graphviz package runs to render)?"""
    return shutil.which("dot") is not None


@lru_cache(maxsize=1)
def viz_script() -> str:
    """The WebAssembly build of Graphviz, as the text of a <script> (defines the global `Viz`)."""
    return VIZ_FILE.read_text(encoding="utf-8").replace("</script", "<\\/script")


def browser_dot(source: str) -> tuple[str, list[dict[str, str]]]:
    """DOT source whose heatmaps are data URIs, and the images list Viz.js needs for their sizes."""
    images: dict[str, dict[str, str]] = {}

    def data_uri(match: re.Match) -> str:
        data = (I.cache_dir() / f"{match.group(2)}.png").read_bytes()
        width, height = struct.unpack(">II", data[16:24])          # the PNG's IHDR
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        images[uri] = {"name": uri, "width": f"{width}px", "height": f"{height}px"}
        return f'SRC="{uri}"'

    return _IMG_SRC.sub(data_uri, source), list(images.values())


def dot_payload(source: str) -> str:
    """One drawing for the page: a JSON script element the page's renderer reads."""
    dot, images = browser_dot(source)
    text = json.dumps({"dot": dot, "images": images}).replace("</", "<\\/")
    return f'<script type="application/json" class="dot-source">{text}</script>'


# Renders every `.dot-source` inside `root` that is not rendered yet, into its parent; resolves
# when done. Used by the step page (one per frame, on first show) and by a notebook drawing.
RENDER_JS = """
var tinygraphViz = (typeof Viz !== "undefined") ? Viz.instance() : Promise.reject(new Error("no Viz"));
function tinygraphRender(root) {
  var sources = root.querySelectorAll("script.dot-source");
  if (!sources.length) return Promise.resolve();
  return tinygraphViz.then(function (viz) {
    for (var k = 0; k < sources.length; k++) {
      var spec = JSON.parse(sources[k].textContent), holder = sources[k].parentNode;
      var svg = viz.renderSVGElement(spec.dot, {images: spec.images});
      holder.replaceChild(svg, sources[k]);
    }
  });
}
"""


def notebook_html(source: str, title: str = "drawing") -> str:
    """A drawing's notebook output without `dot`: an iframe that lays the DOT out in the browser."""
    page = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{escape(title)}</title>'
            '<style>body{margin:0;font-family:"DejaVu Sans",Helvetica,Arial,sans-serif}'
            '.view svg{max-width:100%;height:auto}</style></head><body>'
            f'<div class="view">{dot_payload(source)}</div>'
            '<p class="note" style="color:#666;font-size:12px">laid out in the browser by Graphviz in '
            'WebAssembly (no <code>dot</code> on this machine)</p>'
            f'<script>{viz_script()}</script><script>{RENDER_JS}\n'
            'tinygraphRender(document.body).catch(function (e) { document.body.insertAdjacentText("beforeend", '
            '"could not draw: " + e); });</script></body></html>')
    return (f'<iframe srcdoc="{escape(page, quote=True)}" style="width:100%;height:640px;'
            f'border:1px solid #ddd"></iframe>')
