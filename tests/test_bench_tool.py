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
sys.path.insert(0, str(TOOLS))
import bench_report  # noqa: E402  (tools/ is not a package)


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
def test_a_quick_run_measures_the_compiled_steps_peak_memory(tmp_path):
    out = tmp_path / "bench.json"
    finished = subprocess.run(
        [sys.executable, str(TOOLS / "bench.py"), "--quick", "--no-torch", "--threads", "1", "--configs", "C",
         "--models", "none", "--no-epoch", "--markdown", "--json", str(out)],
        capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    memory = json.loads(out.read_text())["memory"]
    assert list(memory) == ["C"]                      # --quick: the rows with a memory target only
    assert list(memory["C"]) == ["tinygraph", "compiled"]
    assert all(peak["median_mb"] >= 0 and len(peak["runs"]) == 1 for peak in memory["C"].values())
    table_head = next(line for line in finished.stdout.splitlines() if line.startswith("row "))
    assert table_head.rsplit("|", 1)[1].split() == ["tinygraph", "compiled", "torch"]
    assert "peak MB tinygraph / compiled / PyTorch |" in finished.stdout   # the Markdown table's head
    assert "peak MB, compiled: " in finished.stdout                  # how it was measured


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the benchmark reads /proc")
def test_no_compile_leaves_the_compiled_column_and_memory_out(tmp_path):
    out = tmp_path / "bench.json"
    finished = subprocess.run(
        [sys.executable, str(TOOLS / "bench.py"), "--quick", "--no-torch", "--no-compile", "--threads", "1",
         "--configs", "T,C", "--models", "none", "--no-epoch", "--markdown", "--json", str(out)],
        capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    results = json.loads(out.read_text())
    (setting,) = results["settings"]
    assert list(setting["rows"][0]["median_ms"]) == ["tinygraph", "numpy"]
    assert "tg.compile: not timed (--no-compile)" in finished.stdout
    assert {row: list(peaks) for row, peaks in results["memory"].items()} == {"C": ["tinygraph"]}
    assert "peak MB tinygraph / PyTorch |" in finished.stdout
    assert "peak MB, compiled" not in finished.stdout


def peaks(tinygraph_mb: float, compiled_mb: float | None, torch_mb: float) -> dict:
    frameworks = {"tinygraph": tinygraph_mb, "compiled": compiled_mb, "torch": torch_mb}
    return {name: {"median_mb": mb, "min_mb": mb, "max_mb": mb} for name, mb in frameworks.items() if mb is not None}


def test_the_memory_verdict_misses_when_eager_or_compiled_is_above_pytorch():
    (ok,) = bench_report.memory_verdicts({"memory": {"C": peaks(65, 60, 100), "smallcnn-128": peaks(80, 90, 100)}})
    assert ok["ok"] and ok["text"].startswith(
        "peak memory ≤ 1.0× PyTorch, eager and compiled: C 0.65× (compiled 0.60×), SmallCNN 128×3×32×32 0.80× "
        "(compiled 0.90×)")
    (compiled_over,) = bench_report.memory_verdicts({"memory": {"C": peaks(65, 110, 100)}})
    assert not compiled_over["ok"] and compiled_over["misses"] == ["C compiled"]
    assert "C 0.65× (compiled 1.10× ✗)" in compiled_over["text"]
    (eager_over,) = bench_report.memory_verdicts({"memory": {"C": peaks(110, 60, 100)}})
    assert not eager_over["ok"] and eager_over["misses"] == ["C"]
    (eager_only,) = bench_report.memory_verdicts({"memory": {"C": peaks(65, None, 100)}})  # --no-compile
    assert eager_only["ok"] and eager_only["text"].startswith("peak memory ≤ 1.0× PyTorch: C 0.65× (tinygraph")
