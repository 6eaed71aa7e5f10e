"""Documentation names only paths that exist, and the README's layout covers the tree.

- The README's "How the code is laid out" block: every file or folder it names exists in the
  folder of its line, and every entry of tinygraph/, ops/, models/, tools/ and tests/ is named
  there or matched by one of its globs (`test_*.py`).
- Docstrings and comments in tinygraph/, ops/, models/, tools/ and tests/ (and the build files'
  comments) name only repository paths that exist: `ops/_windows.py`, `tests/cases.py`, and bare
  file names such as `_windows.py` or `README.md`, looked up anywhere in the tree.
"""
from __future__ import annotations

import fnmatch
import io
import re
import subprocess
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAID_OUT = ("tinygraph", "ops", "models", "tools", "tests")
SCANNED = ("tinygraph", "ops", "models", "tools", "tests")
BUILD_FILES = ("pyproject.toml", "Makefile", "setup.py")
IGNORED = {"__pycache__"}


# ----------------------------------------------------------------------------- the layout block
def layout_block(readme: str) -> str:
    match = re.search(r"## How the code is laid out\n\n```\n(.*?)```", readme, flags=re.S)
    assert match, "README.md lacks its 'How the code is laid out' block"
    return match.group(1)


def layout_entries(block: str) -> dict[str, list[str]]:
    """Folder -> the names (and globs) its lines list: `tensor.py`, `nn/`, `bench*.py`."""
    entries: dict[str, list[str]] = {}
    folder = None
    for line in block.splitlines():
        head = re.match(r"^([\w.]+)/\s", line)
        if head:
            folder = head.group(1)
        if folder is None:
            continue
        body = line[len(head.group(0)):] if head else line
        entries.setdefault(folder, []).extend(
            re.findall(r"(?<![\w/.*-])((?:[\w*.-]+/)*[\w*.-]+(?:\.(?:py|sh|md|npz|js)|/))(?![\w])", body))
    return entries


def tracked(root: Path) -> list[str]:
    """The repository's files (git's, so another's uncommitted work in a shared tree is not judged)."""
    try:
        out = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout
        files = [line for line in out.splitlines() if (root / line).exists()]
        if files:
            return files
    except (OSError, subprocess.CalledProcessError):
        pass
    return [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not IGNORED & set(p.parts)]


# The repository's top-level names: a path starting elsewhere (out/ckpt.npz, which `make demo`
# writes, ~/data/mnist) is an example, not a file the repository must hold.
TOP = {name.split("/")[0] for name in tracked(ROOT)} | {"tinygraph"}


def check_layout(readme: str, root: Path) -> list[str]:
    """What is wrong with the layout block against the tree at `root` (empty when nothing)."""
    problems = []
    entries = layout_entries(layout_block(readme))
    files = tracked(root)
    paths = set(files) | {"/".join(f.split("/")[:k]) + "/" for f in files for k in range(1, f.count("/") + 1)}
    for folder in LAID_OUT:
        if folder not in entries:
            problems.append(f"{folder}/ has no line")
    for folder, names in entries.items():
        inside = sorted({p[len(folder) + 1:] for p in paths if p.startswith(folder + "/") and p != folder + "/"})
        top = sorted({p.split("/")[0] + ("/" if "/" in p else "") for p in inside})
        for name in names:
            if "*" in name:
                if not any(fnmatch.fnmatch(entry, name) for entry in top):
                    problems.append(f"{folder}/{name} matches nothing")
            elif "/" in name.rstrip("/"):      # a path further down, named on this line: drawing/vendor/
                if not any(p == name or p.endswith("/" + name) for p in paths):
                    problems.append(f"{folder}/ names {name}, which is not there")
            elif not any(p == name or p.endswith("/" + name) for p in inside):
                problems.append(f"{folder}/ lists {name}, which is not there")
        if folder not in LAID_OUT:
            continue
        for entry in top:
            if not any(fnmatch.fnmatch(entry, n) or n == entry for n in names):
                problems.append(f"{folder}/{entry} is not in the layout")
    return problems


def test_layout_block_matches_the_tree():
    assert check_layout(README_TEXT, ROOT) == []


def test_layout_check_notices_a_missing_and_an_unlisted_file(tmp_path):
    for folder in LAID_OUT:
        (tmp_path / folder).mkdir()
    (tmp_path / "tinygraph" / "tensor.py").touch()
    (tmp_path / "ops" / "new_helper.txt").touch()
    readme = ("## How the code is laid out\n\n```\ntinygraph/   tensor.py · engine.py\nops/   *.py\n"
              "models/\ntools/\ntests/  test_*.py\n```\n")
    problems = check_layout(readme, tmp_path)
    assert "tinygraph/ lists engine.py, which is not there" in problems
    assert "ops/new_helper.txt is not in the layout" in problems
    assert "ops/*.py matches nothing" in problems


# ----------------------------------------------------------------------------- paths in docs
PATH = re.compile(r"(?<![\w/.~$-])((?:[\w.-]+/)*[\w.-]*\w\.(?:py|md|sh|toml|npz|js|ipynb|json|html|svg|png))(?![\w/-])")
DIRECTORY = re.compile(r"(?<![\w/.~$-])((?:tinygraph|ops|models|tools|tests|docs)/(?:[\w.-]+/)*)(?![\w.-])")


def doc_texts(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every comment and docstring in a Python file; comment lines elsewhere."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".py":
        return [(n, line.split("#", 1)[1]) for n, line in enumerate(text.splitlines(), 1) if "#" in line]
    found, previous = [], tokenize.INDENT
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            found.append((token.start[0], token.string))
        elif token.type == tokenize.STRING and previous in (tokenize.INDENT, tokenize.NEWLINE, tokenize.DEDENT,
                                                             tokenize.NL, tokenize.ENCODING):
            found.append((token.start[0], token.string))      # a statement that is only a string
        if token.type not in (tokenize.COMMENT, tokenize.NL):
            previous = token.type
    return found


ALL_FILES = [p for p in ROOT.rglob("*") if not ({".git", ".venv", "node_modules", "build", "dist"}
                                                   | IGNORED) & set(p.relative_to(ROOT).parts)
             and not p.relative_to(ROOT).parts[0].endswith(".egg-info")]
NAMES = {p.name for p in ALL_FILES}


def exists(name: str, source: Path) -> bool:
    name = name.rstrip("/")
    if "/" not in name:
        return name in NAMES
    first = name.split("/")[0]
    if first not in TOP and not (source.parent / name).exists():
        return True                       # not a repository path: out/ckpt.npz, ~/data/mnist
    for candidate in (name, re.sub(r"^tinygraph/(ops|models)/", r"\1/", name)):
        if (ROOT / candidate).exists() or (source.parent / candidate).exists():
            return True
    return False


def is_repository_name(name: str) -> bool:
    """Which bare names are meant as this repository's files (not examples like my_op.py or backprop.svg)."""
    if "/" in name:
        return True
    return bool(re.fullmatch(r"(_\w+|test_\w+)\.(py|md|sh)|[A-Z][A-Z_]+\.md|\w+\.(sh|toml)", name))


def stale_paths(files: list[Path]) -> list[str]:
    stale = []
    for path in files:
        for line, text in doc_texts(path):
            names = PATH.findall(text) + DIRECTORY.findall(text)
            for name in names:
                if name.startswith(("http", "www.")) or not is_repository_name(name):
                    continue
                if not exists(name, path):
                    stale.append(f"{path.relative_to(ROOT)}:{line} names {name}, which does not exist")
    return stale


def scanned_files() -> list[Path]:
    """The repository's Python and shell files in SCANNED, and the build files."""
    files = [ROOT / f for f in tracked(ROOT) if f.split("/")[0] in SCANNED and f.endswith((".py", ".sh"))]
    return sorted(files) + [ROOT / name for name in BUILD_FILES if (ROOT / name).exists()]


def test_docstrings_and_comments_name_existing_paths():
    assert stale_paths(scanned_files()) == []


def test_a_stale_path_is_noticed(tmp_path):
    module = ROOT / "tests" / "drawing_cases.py"         # any scanned file will do as the 'source'
    text = '"""Runs ops/_no_such_module.py as ops/add.py does; see STYLE_GUIDE.md."""\n# tinygraph/nope/\n'
    fake = tmp_path / "fake.py"
    fake.write_text(text, encoding="utf-8")
    found = [line.split(" names ")[1] for line in stale_paths_of(fake)]
    assert found == ["ops/_no_such_module.py", "STYLE_GUIDE.md", "tinygraph/nope/"]
    assert module.exists()


def stale_paths_of(path: Path) -> list[str]:
    stale = []
    for line, text in doc_texts(path):
        for name in PATH.findall(text) + DIRECTORY.findall(text):
            if is_repository_name(name) and not exists(name, path):
                stale.append(f"{path.name}:{line} names {name}")
    return stale


README_TEXT = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["ops/add.py", "tinygraph/ops/add.py", "tinygraph/drawing/", "_windows.py",
                                  "README.md", "out/ckpt.npz"])
def test_existing_paths_pass(name):
    assert exists(name, ROOT / "tinygraph" / "draw.py")
