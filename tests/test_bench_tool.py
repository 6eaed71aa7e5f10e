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
    assert "| T |" in finished.stdout                 # the Markdown table for the README
    assert "engine overhead" in finished.stdout
