"""tools/bench.py runs end to end: a quick run writes every row it was asked for, at both thread settings.

It times nothing that is asserted (timing is a benchmark, not a test); it checks that the benchmark
the README quotes still works, so a change to the library cannot break it unseen.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parent.parent / "tools"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the benchmark reads /proc")
def test_a_quick_run_writes_every_row_at_both_thread_settings(tmp_path):
    out = tmp_path / "bench.json"
    finished = subprocess.run(
        [sys.executable, str(TOOLS / "bench.py"), "--quick", "--no-torch", "--configs", "T",
         "--models", "smallcnn-64", "--no-epoch", "--no-memory", "--markdown", "--json", str(out)],
        capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    results = json.loads(out.read_text())
    settings = {s["setting"]: s for s in results["settings"]}
    assert set(settings) == {"default threads", "1 thread"}
    for setting in settings.values():
        rows = {row["row"]: row for row in setting["rows"]}
        assert set(rows) == {"T", "smallcnn-64"}
        assert rows["T"]["median_ms"]["tinygraph"] > 0 and rows["T"]["median_ms"]["numpy"] > 0
        assert rows["smallcnn-64"]["median_ms"]["tinygraph"] > 0
        for row in rows.values():                     # the step under tg.compile, timed beside eager
            assert row["median_ms"]["compiled"] > 0 and row["agreement"]["compiled_same_losses"] is True
    assert "| T |" in finished.stdout                 # the Markdown table for the README
    assert "engine overhead" in finished.stdout
    table_head = next(line for line in finished.stdout.splitlines() if line.startswith("row "))
    assert "compiled" in table_head and "comp/torch" in table_head
    assert "tg.compile (default threads)" in finished.stdout
    assert "tg.compile: the same losses as the eager step, bit for bit, on every row" in finished.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the benchmark reads /proc")
def test_no_compile_leaves_the_compiled_column_empty(tmp_path):
    out = tmp_path / "bench.json"
    finished = subprocess.run(
        [sys.executable, str(TOOLS / "bench.py"), "--quick", "--no-torch", "--no-compile", "--threads", "1",
         "--configs", "T", "--models", "none", "--no-epoch", "--no-memory", "--json", str(out)],
        capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    (setting,) = json.loads(out.read_text())["settings"]
    assert list(setting["rows"][0]["median_ms"]) == ["tinygraph", "numpy"]
    assert "tg.compile: not timed (--no-compile)" in finished.stdout
