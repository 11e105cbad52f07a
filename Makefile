# The two commands of the README: `make demo` (the local demo) and `make test`
# (the whole suite). Both set up everything they need on a fresh machine.
#
# sigbot is installed into .venv as users install it (`pip install .`, not
# editable), and the suite imports that installed copy: a file the package
# forgets to ship fails the tests. A change under bot/ or templates/ reinstalls.

PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed
SOURCES := pyproject.toml $(shell find bot templates -type f ! -name '*.pyc' ! -path '*/__pycache__/*' 2>/dev/null)

.PHONY: demo test system-deps bench clean

$(STAMP): $(SOURCES)
	@echo "==> installing sigbot (as users install it) with its test tools into $(VENV)"
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/python -m pip install --disable-pip-version-check -q --upgrade pip
	@$(VENV)/bin/python -m pip install --disable-pip-version-check -q '.[test]'
	@rm -rf build && touch $@

system-deps:
	@scripts/system-deps.sh

# Ports are chosen once and kept in var/demo/demo.json; to choose others, e.g.
# `make demo SIGBOT_DEMO_MATRIX_PORT=8448` (also _IRC_PORT, _WEB_PORT).
# Ctrl-C stops everything it started, also through a pipe (`make demo | tee log`).
demo: $(STAMP)
	@scripts/system-deps.sh demo
	@$(VENV)/bin/python scripts/demo.py

# -P: the checkout is not put on sys.path, so `import bot` is the installed package.
test: system-deps $(STAMP)
	@SIGBOT_SUITE_INSTALLED=1 $(VENV)/bin/python -P -m pytest $(PYTEST_ARGS)

bench: system-deps $(STAMP)
	@$(VENV)/bin/python bench/run_all.py

clean:
	rm -rf $(VENV) .venv-synapse var .pytest_cache .hypothesis build *.egg-info
