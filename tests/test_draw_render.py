"""Drawings through the real Graphviz `dot`, the step-through page, and tools/draw_graph.py."""
import html
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import tinygraph as tg
from drawing_cases import derivation_network, derivation_tensors, recorded

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "draw_graph.py"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
SVG = "{http://www.w3.org/2000/svg}"

ENTRY = '''
import numpy as np
import tinygraph as tg

def build():
    x = tg.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True, name="x")
    return (x.relu() * x).sum().named("y")
'''


@needs_dot
def test_dot_renders_svg_that_parses_and_holds_every_tensor_and_op():
    L = derivation_network()
    svg = tg.draw(L, recording=recorded(L), wrap=4).pipe(format="svg")
    tree = ET.fromstring(svg)
    titles = {g.find(f"{SVG}title").text for g in tree.iter(f"{SVG}g") if g.get("class") == "node"}
    # 14 tensors T0..T13 and 8 ops O0..O7 (counted in test_draw.py) and the legend ...
    expected = {f"T{i}" for i in range(14)} | {f"O{i}" for i in range(8)} | {"legend"}
    assert expected <= titles
    # ... and, wrapped at 4 columns (X conv Z relu | A maxpool P reshape | p matmul p Uᵀ add |
    # s softmax_xent L, with U → transpose → Uᵀ beside reshape), a copy of each tensor used one row
    # below where it was made: A (row 2), p and Uᵀ (row 3), s (row 4).
    copies = {t.split("_")[0] for t in titles - expected}
    assert all(re.fullmatch(r"T\d+_row\d+", t) for t in titles - expected)
    symbol = {f"T{i}": name for i, name in enumerate(
        ["X", "W", "b", "Z", "A", "P", "p", "U", "Uᵀ", "p Uᵀ", "c", "s", "y", "L"])}
    assert sorted(symbol[t] for t in copies) == sorted(["A", "p", "Uᵀ", "s"])
    words = "".join(tree.itertext())
    assert "δZ = δA ⊙ 1[Z > 0]" in words and "Z = W ⋆ X + b" in words


@needs_dot
@needs_dot    # without it the page draws in the browser: tests/test_draw_without_dot.py
def test_step_through_page_has_one_frame_per_rule_and_nothing_external(tmp_path):
    parts = derivation_tensors()
    L, U = parts["L"], parts["U"]
    path = tg.draw_steps(L, tmp_path / "steps.html")
    page = path.read_text(encoding="utf-8")
    # The 8 ops of the network each run their rule once: 8 frames.
    assert page.count('<section class="frame"') == 8
    assert page.count("<svg") == 3 * 8          # close up, the whole graph, the full drawing
    assert not re.search(r"https?://|\bsrc=|<link|@import", page)
    assert "Step 1 of 8" in page and "Step 8 of 8" in page
    assert U.grad is None                    # draw_steps ran backward itself and put .grad back
    # Frames follow the engine's own order: reversed topological order, ops only.
    engine_order = [t._node.op.name for t in reversed(tg.topological_order(L)) if t._node is not None]
    captions = re.findall(r'<p class="caption">.*?: <b>(\w+)</b> receives', page)
    assert captions == engine_order and captions[0] == "softmax_xent"


@needs_dot
def test_step_frames_show_running_sums_of_a_fanned_out_gradient(tmp_path):
    x = tg.tensor([1.0, 2.0], requires_grad=True, name="x")
    y = (x * x + x).sum().named("y")
    recording = recorded(y)
    page = tg.draw_steps(y, tmp_path / "fan.html", recording=recording).read_text(encoding="utf-8")
    # add's rule runs before mul's: add passes δx += (1, 1); then mul adds δ(x ⊙ x) ⊙ x = (1, 2)
    # once per slot: running δx = (2, 3), then (3, 5) — two entries, so written out, signed.
    assert "δx += [1, 1], so far δx = [1, 1]" in page
    assert "so far δx = [2, 3]" in page and "so far δx = [3, 5]" in page
    # In the drawn frames, x's node shows its partial sum after add's frame, its total after mul's.
    assert set(re.findall(r"δx so far[^<]*", page)) == {"δx so far: [1, 1] (1 of 3 added)"}   # close up, full
    assert "δx = [3, 5]" in page


def run_tool(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


def test_tool_without_dot_writes_the_source_and_fails_with_one_clear_line(tmp_path):
    (tmp_path / "entry.py").write_text(ENTRY)
    env = dict(os.environ, PATH=str(tmp_path / "empty"))      # no directory with a `dot` in it
    result = run_tool("--entry", f"{tmp_path / 'entry.py'}:build", "--out", str(tmp_path / "g.svg"), env=env)
    assert result.returncode != 0
    assert (tmp_path / "g.dot").exists(), result.stderr
    assert (tmp_path / "g.dot").read_text().startswith("digraph")
    assert not (tmp_path / "g.svg").exists()
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "`dot`" in lines[0] and "install Graphviz" in lines[0]
    # --format dot never needs the executable.
    result = run_tool("--entry", f"{tmp_path / 'entry.py'}:build", "--format", "dot",
                      "--out", str(tmp_path / "h.dot"), env=env)
    assert result.returncode == 0, result.stderr
    assert "relu" in (tmp_path / "h.dot").read_text()


@needs_dot
def test_tool_draws_the_cnn_by_default_and_writes_the_step_page(tmp_path):
    result = run_tool("--steps", "steps.html", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "backprop.svg" in result.stdout
    svg = ET.parse(tmp_path / "backprop.svg").getroot()
    words = "".join(svg.itertext())
    for symbol in ("X", "W", "b", "Z", "A", "P", "p", "U", "c", "s", "L"):
        assert f"‖δ{symbol}‖" in words or f"δ{symbol} = " in words or symbol in ("X",), symbol
    # TwoLayerCNN's graph has 6 ops, one per equation: conv2d, relu, maxpool, reshape, linear, softmax_xent.
    assert (tmp_path / "steps.html").read_text(encoding="utf-8").count('<section class="frame"') == 6


def test_tool_names_a_bad_entry():
    result = run_tool("--entry", "no_such_file.py:build", "--format", "dot")
    assert result.returncode != 0 and "no_such_file.py" in result.stderr


def test_one_step_as_a_drawing_highlights_the_rule_that_runs():
    from tinygraph.drawing import draw_step

    L = derivation_network()
    recording = recorded(L)
    first = draw_step(L, 1, recording=recording).source
    # Step 1 is the loss's own op, softmax_xent (O7, the last op numbered); δs gets its first term.
    assert "Step 1 of 8 (backward starts from δ = 1): softmax_xent receives ‖δL‖ = 1" in first
    highlighted = re.findall(r"^\s*(O\d+) \[.*penwidth=4", first, re.M)
    assert highlighted == ["O7"]
    assert "now: δs += [" in first           # δs has 4 entries: the term itself, signed
    with pytest.raises(ValueError, match=r"step must be in 1\.\.8"):
        draw_step(L, 9, recording=recording)
    # Close up: the op, its inputs and its output only (conv2d, step 7: X, W, b -> Z), no legend, large type.
    close = draw_step(L, 7, recording=recording, close_up=True).source
    drawn = set(re.findall(r"^\s*([OT]\d+|legend) \[", close, re.M))
    assert drawn == {"O0", "T0", "T1", "T2", "T3"} and "rankdir=TB" in close
    assert min(int(n) for n in re.findall(r'POINT-SIZE="(\d+)"', close)) >= 13


@needs_dot
def test_image_drawings_are_single_self_contained_files(tmp_path):
    parts = derivation_tensors()
    L = parts["L"]
    recording = recorded(L)
    out = tmp_path / "out"
    out.mkdir()
    path = tg.draw(L, recording=recording).render(str(out / "cnn"), format="svg")
    svg = Path(path).read_text(encoding="utf-8")
    piped = tg.draw(L, recording=recording).pipe(format="svg").decode("utf-8")
    page = tg.draw_steps(L, recording=recording).save(out / "steps.html").read_text(encoding="utf-8")
    for document in (svg, piped, page):
        refs = re.findall(r'href="([^"]*)"', document)
        assert sum(r.startswith("data:image/png;base64,") for r in refs) >= 8
        assert all(r.startswith(("data:image/png;base64,", "#")) for r in refs), refs[:3]
        assert not re.search(r"https?://(?!www\.w3\.org)|file:|\.png\"", document)
    assert sorted(p.name for p in out.iterdir()) == ["cnn", "cnn.svg", "steps.html"]   # no image files
    ET.fromstring(svg)                                      # still well-formed XML


@needs_dot
def test_draw_steps_returns_a_page_that_shows_inline_and_saves(tmp_path):
    parts = derivation_tensors()
    L = parts["L"]
    page = tg.draw_steps(L, recording=recorded(L))
    inline = page._repr_html_()
    assert inline.startswith("<iframe srcdoc=") and "Step 1 of 8" in html.unescape(inline)
    saved = page.save(tmp_path / "p.html")
    assert saved.read_text(encoding="utf-8") == page.html and "#step=" in page.html
    # Today's callers pass a path and use the result as one.
    old_style = tg.draw_steps(derivation_network(), tmp_path / "q.html")
    assert Path(old_style) == tmp_path / "q.html" and (tmp_path / "q.html").exists()
