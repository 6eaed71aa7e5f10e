"""The README's Python examples run exactly as written, each on its own.

Every ```python block runs alone in a fresh Python process, in a temporary directory of its own,
as a reader who copies just that block would run it: a block that leans on an import or a name
from an earlier block fails here. A block whose first line is `# file: NAME.py` is the README's
"your own file": it is written into the directory of every later block instead of being run.

The processes start together (two at a time, the machine's cores) when the first test asks for
its result, so the whole README costs about as long as its slowest blocks, not their sum.
"""
import os
import re
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TIMEOUT = 240       # seconds per block; the slowest (20 epochs of a CNN) takes a few


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def file_name(block: str) -> str | None:
    match = re.fullmatch(r"# file: (\w+\.py)", block.splitlines()[0].strip())
    return match.group(1) if match else None


def runnable_blocks() -> list[tuple[int, str, dict[str, str]]]:
    """(number, code, files written before it) for every block that runs."""
    runs, files = [], {}
    for number, block in enumerate(python_blocks(), 1):
        name = file_name(block)
        if name:
            files[name] = block
        else:
            runs.append((number, block, dict(files)))
    return runs


def run_alone(code: str, files: dict[str, str]) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter, in a fresh directory holding `files`; no shared state."""
    with tempfile.TemporaryDirectory(prefix="readme-block-") as where:
        for name, text in files.items():
            Path(where, name).write_text(text, encoding="utf-8")
        env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=where)
        return subprocess.run([sys.executable, "-c", code], cwd=where, env=env, capture_output=True,
                              text=True, timeout=TIMEOUT)


class _Runs:
    """Starts every block at once on a small pool; each test waits for its own."""

    def __init__(self):
        self.lock, self.futures, self.pool = threading.Lock(), None, None

    def result(self, number: int) -> subprocess.CompletedProcess:
        with self.lock:
            if self.futures is None:
                self.pool = ThreadPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1)))
                self.futures = {n: self.pool.submit(run_alone, code, files) for n, code, files in runnable_blocks()}
        return self.futures[number].result()


RUNS = _Runs()


def test_readme_has_examples():
    assert len(runnable_blocks()) >= 6


@pytest.mark.parametrize("number", [n for n, _, _ in runnable_blocks()])
def test_readme_block_runs_alone(number):
    result = RUNS.result(number)
    code = dict((n, c) for n, c, _ in runnable_blocks())[number]
    assert result.returncode == 0, (f"README python block {number} fails when run alone in a fresh process:\n"
                                    f"{result.stderr[-3000:]}\n--- the block:\n{code}")


def test_a_block_that_leans_on_another_fails():
    """The check is real: a block using a name it does not define fails alone."""
    result = run_alone("x = tg.tensor([1.0])\n", {})
    assert result.returncode != 0 and "NameError" in result.stderr
