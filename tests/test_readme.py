"""The README's Python examples run exactly as written.

Every ```python block runs in order in one namespace, inside a temporary directory; a block whose
first line is `# file: NAME.py` is written to that file instead (the README's "your own file").
"""
import os
import re
import sys
from pathlib import Path

import pytest

import tinygraph as tg

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_examples():
    assert len(python_blocks()) >= 3


def test_readme_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    ops_before = set(tg.registry())
    modules_before = set(sys.modules)
    namespace: dict = {"__name__": "__readme__"}
    try:
        for number, block in enumerate(python_blocks(), 1):
            first = block.splitlines()[0]
            match = re.fullmatch(r"# file: (\w+\.py)", first.strip())
            if match:
                (tmp_path / match.group(1)).write_text(block, encoding="utf-8")
                continue
            try:
                exec(compile(block, f"README.md python block {number}", "exec"), namespace)
            except Exception as error:  # show which block broke
                pytest.fail(f"README python block {number} failed: {type(error).__name__}: {error}\n{block}")
    finally:
        for name in set(tg.registry()) - ops_before:
            tg.unregister_op(name)
        for name in set(sys.modules) - modules_before:
            if getattr(sys.modules[name], "__file__", "") and str(tmp_path) in sys.modules[name].__file__:
                del sys.modules[name]
    assert os.getcwd() == str(tmp_path)
