"""The tutorials in docs/ run from top to bottom, and are kept in the repository without outputs.

docs/derivation.ipynb checks every equation of the derivation against tinygraph's gradients (an
`assert` per equation) and draws each one's frame; docs/custom_op.ipynb writes, checks and draws an
op; docs/higher_order.ipynb draws and differentiates a gradient's graph. Each runs in a fresh
Jupyter kernel (nbclient) in a temporary directory.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the test extra's nbformat and nbclient run the notebooks")
nbclient = pytest.importorskip("nbclient")

DOCS = Path(__file__).resolve().parents[1] / "docs"
NOTEBOOKS = sorted(DOCS.glob("*.ipynb"))


def test_there_are_tutorials():
    assert {p.name for p in NOTEBOOKS} >= {"derivation.ipynb", "custom_op.ipynb", "higher_order.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_repository_keeps_no_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip its outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_notebook_runs(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=180, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()                  # raises CellExecutionError naming the cell that failed
    shown = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in shown if o.get("output_type") == "error"]
    pictures = [o for o in shown if o.get("output_type") in ("display_data", "execute_result")
                and ({"image/svg+xml", "text/html"} & set(o.get("data", {})))]
    assert pictures, f"{path.name} drew nothing"
    if shutil.which("dot") is None:    # laid out in the browser instead: the drawings carry Graphviz
        assert all("text/html" in o["data"] for o in pictures)


def test_without_dot_the_drawings_are_laid_out_in_the_browser(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", ":".join(d for d in __import__("os").environ["PATH"].split(":")
                                        if d and not Path(d, "dot").exists()))
    notebook = nbformat.read(DOCS / "custom_op.ipynb", as_version=4)
    nbclient.NotebookClient(notebook, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    last = notebook.cells[-1].outputs[-1]["data"]
    assert "image/svg+xml" not in last and "Viz.js 3.31.0" in last["text/html"]


def test_a_failing_notebook_fails(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("assert 1 + 1 == 3")])
    with pytest.raises(nbclient.exceptions.CellExecutionError):
        nbclient.NotebookClient(notebook, timeout=60, kernel_name="python3",
                                resources={"metadata": {"path": str(tmp_path)}}).execute()
