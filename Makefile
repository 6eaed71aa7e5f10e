# Two commands set up and run everything on a fresh machine:
#   make demo   create .venv, install tinygraph[tools] (and Graphviz's `dot`), run the demo
#   make test   the same set-up (with the test extras), the whole test suite, then tools/check_install.sh
# Both are idempotent: a second run reuses .venv and skips what is already installed.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: demo test explore setup graphviz bench clean

demo: setup
	$(PY) tools/demo.py

test: setup $(VENV)/.installed-test
	@sh tools/install_browser.sh     # Chromium for the browser tests (skipped where it cannot be installed)
	$(PY) -m pytest
	sh tools/check_install.sh     # the wheel, installed as a pip user would, outside this tree

# `make test` draws the same Hypothesis examples every run. This draws new ones, many more: a failure
# prints its shrunk example, which goes into tests/differential_regressions.py to be replayed always.
explore: setup $(VENV)/.installed-test
	TINYGRAPH_HYPOTHESIS=explore TINYGRAPH_DIFF_EXAMPLES=2000 $(PY) -m pytest tests/test_differential.py \
		tests/test_op_properties.py tests/test_checkpoint.py tests/test_data.py -p no:cacheprovider

bench: setup
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) tools/bench.py

setup: $(VENV)/.installed graphviz

$(VENV)/.installed: pyproject.toml setup.py
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "tinygraph needs Python 3.10 or newer, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[tools]'
	touch $@

# The test extras: pytest, hypothesis, build, crosscheck's torch==2.13.0 (CPU), pinned exactly, and
# dist's mpi4py and mpich (tests/test_distributed.py launches mpiexec from the venv).
$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test,tools,crosscheck,dist]'
	touch $@

graphviz:
	@sh tools/install_graphviz.sh

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis
