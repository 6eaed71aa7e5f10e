# Two commands set up and run everything on a fresh machine:
#   make demo   create .venv, install tinygraph and its tools (and Graphviz's `dot`), run the demo
#   make test   the same set-up, then the whole test suite
# Both are idempotent: a second run reuses .venv and skips what is already installed.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: demo test setup graphviz bench clean

demo: setup
	$(PY) tools/demo.py

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) tools/bench.py

setup: $(VENV)/.installed graphviz

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "tinygraph needs Python 3.10 or newer, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

graphviz:
	@sh tools/install_graphviz.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
