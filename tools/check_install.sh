#!/bin/sh
# Install as users install: build the sdist and, from it, the wheel; install the wheel (not
# editable, no extras) into a fresh virtual environment outside the source tree; and there import
# tinygraph, run the README's derivation example, draw it to SVG and run the console scripts,
# with no scikit-learn, tqdm or matplotlib installed. `make test` runs it after the test suite.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tinygraph-install.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

echo "== check_install: building the sdist and the wheel"
"$PY" -m build --no-isolation --outdir "$WORK/dist" "$ROOT" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install -q "$WORK"/dist/tinygraph-*.whl    # pip's cache makes this quick

echo "== check_install: using the installed wheel from $WORK/run"
mkdir "$WORK/run" && cd "$WORK/run"
"$WORK/venv/bin/python" - "$ROOT" <<'PYTHON'
import importlib, os, pkgutil, re, shutil, sys

root = sys.argv[1]
sys.path = [p for p in sys.path if p not in ("", ".", root) and not p.startswith(root + os.sep)]
for absent in ("sklearn", "tqdm", "matplotlib"):
    assert importlib.util.find_spec(absent) is None, f"{absent} is installed, but the core must not need it"
import numpy as np
import tinygraph as tg

assert not tg.__file__.startswith(root), f"imported the source tree, not the wheel: {tg.__file__}"
for module in pkgutil.walk_packages(tg.__path__, "tinygraph."):
    if module.name != "tinygraph.draw":                  # runs only as python -m tinygraph.draw
        importlib.import_module(module.name)
split = tg.data.load_digits()
assert (len(split.x_train), len(split.x_test)) == (1347, 450)
readme = open(os.path.join(root, "README.md"), encoding="utf-8").read()
example = re.search(r"### The derivation's network, one op per line.*?```python\n(.*?)```", readme, re.S).group(1)
namespace = {}
exec(compile(example, "README derivation example", "exec"), namespace)
L = namespace["L"]
if shutil.which("dot"):
    assert b"<svg" in tg.draw(L).pipe(format="svg")
else:
    print("check_install: no Graphviz `dot` here, so tg.draw was checked as DOT source only")
    assert tg.draw(L).source.startswith("digraph")
print(f"check_install: tinygraph {tg.__version__} from {os.path.dirname(tg.__file__)} works")
PYTHON
"$WORK/venv/bin/tinygraph-draw" --format dot --out graph.dot
"$WORK/venv/bin/python" -m tinygraph.draw --out again.dot
"$WORK/venv/bin/tinygraph-train" --model mlp --epochs 1 --out ckpt.npz | tail -1
if "$WORK/venv/bin/tinygraph-train" --epochs 1 --plot curves.png 2>err.txt >/dev/null; then
    echo "check_install: --plot without matplotlib should fail" >&2; exit 1
fi
grep -q "pip install 'tinygraph\[tools\]'" err.txt || { cat err.txt >&2; exit 1; }
echo "== check_install: ok"
