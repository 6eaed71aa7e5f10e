"""Without Graphviz's `dot` on PATH (hidden here): pictures are still shown, laid out in the browser.

The step page and a notebook drawing carry their DOT and Graphviz as WebAssembly (the shipped
tinygraph/drawing/vendor/viz-global.js); the command still writes `.dot` and says how to get
`dot` for SVG/PNG/PDF. tests/test_browser.py checks that such a page really renders in Chromium.
"""
import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tinygraph as tg
from drawing_cases import derivation_tensors, recorded
from tinygraph.drawing import browser

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "tinygraph" / "drawing" / "vendor"
ENTRY = '''
import numpy as np
import tinygraph as tg

def build():
    x = tg.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True, name="x")
    return (x.relu() * x).sum().named("y")
'''


@pytest.fixture
def no_dot(tmp_path, monkeypatch):
    """PATH without any directory holding `dot`."""
    keep = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not Path(d, "dot").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join(keep))
    assert shutil.which("dot") is None and not browser.has_dot()
    return os.environ["PATH"]


def frame_sources(page: str) -> list[dict]:
    return [json.loads(m) for m in re.findall(r'<script type="application/json" class="dot-source">(.*?)</script>',
                                             page, flags=re.S)]


def test_the_shipped_graphviz_is_pinned_small_and_its_licence_noted():
    script = (VENDOR / "viz-global.js").read_text(encoding="utf-8")
    assert script.startswith("/*!\nViz.js 3.31.0") and 'graphvizVersion="16.1.0"' in script
    assert (VENDOR / "viz-global.js").stat().st_size <= 3 * 2**20
    notice = (VENDOR / "README.md").read_text(encoding="utf-8")
    assert "3.31.0" in notice and "MIT" in notice and "Eclipse Public License" in notice
    assert "VERSION=3.31.0" in (ROOT / "tools" / "update_viz.sh").read_text(encoding="utf-8")
    assert "vendor/viz-global.js" in (ROOT / "pyproject.toml").read_text(encoding="utf-8")     # package data


def test_step_page_without_dot_carries_each_frames_dot_and_graphviz_in_webassembly(no_dot, tmp_path):
    L = derivation_tensors()["L"]
    page = tg.draw_steps(L, recording=recorded(L)).save(tmp_path / "steps.html").read_text(encoding="utf-8")
    sources = frame_sources(page)
    assert page.count('<section class="frame"') == 8 and len(sources) == 3 * 8    # close up, whole, full
    assert "<svg" not in page.replace("<svg", "", 0).split("<script>", 1)[0]   # no frame drawn by dot
    assert all(s["dot"].startswith("digraph tinygraph") for s in sources)
    # The heatmaps travel as data URIs with their pixel sizes, which Graphviz needs for the layout.
    images = [image for s in sources for image in s["images"]]
    assert images and all(i["name"].startswith("data:image/png;base64,") and i["width"].endswith("px")
                          for i in images)
    assert "tinygraph-images-" not in page                       # no reference to a file on this machine
    assert page.count("Viz.js 3.31.0") == 1 and "tinygraphRender(view)" in page
    # Nothing to fetch: the only URLs are XML namespaces and the licence header's homepages.
    urls = set(re.findall(r"https?://[\w./-]*\w/?", page))
    assert urls <= {"http://www.w3.org/1999/xlink", "http://www.w3.org/2000/svg", "http://www.w3.org/2000/xmlns/",
                    "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd", "http://www.w3.org/XML/1998/namespace",
                    "https://www.graphviz.org", "https://libexpat.github.io"}, urls
    assert not re.search(r"\bsrc=|<link|@import", page)


def test_a_notebook_drawing_without_dot_is_html_that_draws_in_the_browser(no_dot):
    L = derivation_tensors()["L"]
    recording = recorded(L)
    drawing = tg.draw(L, recording=recording)
    bundle = drawing._repr_mimebundle_()
    assert list(bundle) == ["text/html"]
    inner = html.unescape(re.fullmatch(r'<iframe srcdoc="(.*?)" style=.*', bundle["text/html"], flags=re.S).group(1))
    assert "Viz.js 3.31.0" in inner and len(frame_sources(inner)) == 1
    assert frame_sources(inner)[0]["dot"] == browser.browser_dot(drawing.source)[0]
    assert drawing._repr_html_() == bundle["text/html"]
    page = tg.draw_steps(L, recording=recording)
    assert "Viz.js 3.31.0" in html.unescape(page._repr_html_())


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_with_dot_the_notebook_gets_svg_and_the_page_no_webassembly():
    L = derivation_tensors()["L"]
    assert "image/svg+xml" in tg.draw(L)._repr_mimebundle_()
    page = tg.draw_steps(L, recording=recorded(L)).html
    assert "Viz.js" not in page and page.count("<svg") == 3 * 8 and not frame_sources(page)


def test_the_command_without_dot_writes_dot_and_the_page_and_says_how_to_get_dot(no_dot, tmp_path):
    (tmp_path / "entry.py").write_text(ENTRY)
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "draw_graph.py"), "--entry",
                             f"{tmp_path / 'entry.py'}:build", "--out", str(tmp_path / "g.png"),
                             "--steps", str(tmp_path / "steps.html")],
                            capture_output=True, text=True, timeout=120, env=dict(os.environ, PATH=no_dot))
    assert result.returncode == 2
    assert (tmp_path / "g.dot").read_text().startswith("digraph") and not (tmp_path / "g.png").exists()
    line, = result.stderr.strip().splitlines()
    assert "`dot`" in line and "no PNG" in line and "SVG, PNG and PDF" in line and "apt-get install graphviz" in line
    assert "laid out in the browser" in result.stdout
    assert len(frame_sources((tmp_path / "steps.html").read_text(encoding="utf-8"))) == 3 * 3    # relu, mul, sum
