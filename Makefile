# The two commands of the README: `make demo` (the local demo) and `make test`
# (the whole suite). Both set up everything they need on a fresh machine.

PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test system-deps bench clean

$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing sigbot with its test tools"
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/python -m pip install --disable-pip-version-check -q --upgrade pip
	@$(VENV)/bin/python -m pip install --disable-pip-version-check -q -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

system-deps:
	@scripts/system-deps.sh

demo: $(STAMP)
	@scripts/system-deps.sh demo
	@$(VENV)/bin/python scripts/demo.py

test: system-deps $(STAMP)
	@$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

bench: system-deps $(STAMP)
	@$(VENV)/bin/python bench/run_all.py

clean:
	rm -rf $(VENV) .venv-synapse var .pytest_cache .hypothesis
