"""No import cycles among tinygraph's own modules (point 15 of the project's style guide).

The graph is read from the source with `ast`, not by importing: every `import` and `from ... import`
anywhere in a module (function bodies too: a lazy import is still a dependency) except under
`if TYPE_CHECKING:`. tinygraph/ is `tinygraph.*`, ops/ is `tinygraph.ops.*`, models/ is
`tinygraph.models.*`, as setup.py installs them. `from package import name` depends on the
submodule `package.name` when there is one, else on the package's `__init__`; importing a
submodule is not counted as depending on its parent package, so a package that re-exports its
submodules is no cycle, while a submodule that imports its half-initialised package is.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {"tinygraph": ROOT / "tinygraph", "tinygraph.ops": ROOT / "ops", "tinygraph.models": ROOT / "models"}


def module_files(sources: dict[str, Path] = SOURCES) -> dict[str, Path]:
    """{dotted module name: file} for every .py file under the source roots."""
    modules = {}
    for package, directory in sources.items():
        for path in sorted(directory.rglob("*.py")):
            parts = list(path.relative_to(directory).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join([package, *parts])
            if name in modules:          # ops/ and models/ win over tinygraph/ops, tinygraph/models
                continue
            modules[name] = path
    return modules


def imported_names(tree: ast.Module, module: str, is_package: bool) -> list[tuple[str, list[str]]]:
    """(absolute module, names imported from it) for every import statement outside TYPE_CHECKING."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.append((target, [alias.name for alias in node.names]))
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """{module: the tinygraph modules it imports}."""
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges = set()
        for target, names in imported_names(tree, module, path.name == "__init__.py"):
            submodules = [f"{target}.{name}" for name in names if f"{target}.{name}" in modules]
            edges.update(submodules)
            if len(submodules) < len(names) or not names:
                # Names defined in the package itself, or a plain `import a.b.c`: the nearest module.
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target:
                    edges.add(target)
        graph[module] = edges
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """The groups of modules that import each other, directly or round a cycle (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph.get(node, ()):
                        components.append(set(component))
    return components


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a path that returns to its start) for each group of modules that import each other."""
    return [_one_cycle(graph, component) for component in strongly_connected(graph)]


def _one_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest path from the component's first module back to itself (breadth first)."""
    start = min(component)
    came_from = {start: None}
    queue = [start]
    for node in queue:
        for child in sorted(graph[node] & component):
            if child == start:
                path = [node]
                while came_from[path[-1]] is not None:
                    path.append(came_from[path[-1]])
                return path[::-1] + [start]
            if child not in came_from:
                came_from[child] = node
                queue.append(child)
    raise AssertionError(f"no cycle through {start}")


def test_the_package_has_no_import_cycles():
    graph = import_graph(module_files())
    found = strongly_connected(graph)
    assert not found, "import cycles:\n" + "\n".join(
        f"{' -> '.join(_one_cycle(graph, group))}  (the cycle joins {', '.join(sorted(group))})" for group in found)


def test_the_walk_sees_every_package_and_their_edges():
    modules = module_files()
    for name in ("tinygraph", "tinygraph.tensor", "tinygraph.engine", "tinygraph.ops", "tinygraph.ops.relu",
                 "tinygraph.ops._windows", "tinygraph.models", "tinygraph.models.mlp", "tinygraph.drawing.graph"):
        assert name in modules
    graph = import_graph(modules)
    assert "tinygraph.ops.relu" in graph["tinygraph.ops"]            # from tinygraph.ops import (..., relu, ...)
    assert "tinygraph.tensor" in graph["tinygraph.engine"]


def _graph_of(tmp_path: Path, files: dict[str, str]) -> dict[str, set[str]]:
    for relative, text in files.items():
        path = tmp_path / "pkg" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return import_graph(module_files({"pkg": tmp_path / "pkg"}))


@pytest.mark.parametrize("files, expected", [
    # a lazy import inside a function closes a cycle as surely as a top-level one
    ({"__init__.py": "", "a.py": "from pkg.b import f\n", "b.py": "def f():\n    from pkg.a import g\n"},
     ["pkg.a", "pkg.b", "pkg.a"]),
    # a submodule importing its half-initialised package, which imports the submodule
    ({"__init__.py": "from pkg.a import f\n", "a.py": "from pkg import g\n"}, ["pkg", "pkg.a", "pkg"]),
    ({"__init__.py": "from . import a\n", "a.py": "import pkg\n"}, ["pkg", "pkg.a", "pkg"]),
    ({"__init__.py": "", "a.py": "from .b import f\n", "b.py": "from . import a\n"}, ["pkg.a", "pkg.b", "pkg.a"]),
])
def test_cycles_are_found(tmp_path, files, expected):
    assert cycles(_graph_of(tmp_path, files)) == [expected]


def test_one_way_imports_and_type_checking_imports_are_no_cycle(tmp_path):
    graph = _graph_of(tmp_path, {
        "__init__.py": "from pkg.a import f\nfrom pkg import b\n",
        "a.py": "from pkg.b import g\n",
        "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import f\n",
    })
    assert graph["pkg"] == {"pkg.a", "pkg.b"} and graph["pkg.b"] == set()
    assert cycles(graph) == []


# The core records and differentiates; it knows no layer, no drawing (issue 19). What nn notes about
# nodes goes through tinygraph.metadata, which the drawing reads.
CORE = ("tinygraph.tensor", "tinygraph.node", "tinygraph.op", "tinygraph.engine", "tinygraph.recorded_backward",
        "tinygraph.registry", "tinygraph.grad_mode", "tinygraph.parallel", "tinygraph.buffers",
        "tinygraph.broadcast", "tinygraph.errors", "tinygraph.metadata")


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, stack = set(), [start]
    while stack:
        for child in graph.get(stack.pop(), ()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


@pytest.mark.parametrize("module", CORE)
def test_the_core_imports_no_layer_and_no_drawing(module):
    reached = reachable(import_graph(module_files()), module)
    assert not {m for m in reached if m.startswith(("tinygraph.nn", "tinygraph.drawing", "tinygraph.optim"))}


def test_the_drawing_imports_no_layer():
    graph = import_graph(module_files())
    drawing = [m for m in graph if m.startswith("tinygraph.drawing")]
    assert drawing and not {m for d in drawing for m in reachable(graph, d) if m.startswith("tinygraph.nn")}
