# `make demo` and `make test` set everything up on a fresh Debian/Ubuntu machine.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench sysdeps venv clean claude codex

sysdeps:
	@./scripts/ensure-sysdeps

$(STAMP): pyproject.toml | sysdeps
	@test -x $(PY) || ./scripts/ensure-venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: sysdeps $(STAMP)
	@# Byte-compile ttal: with PYTHONDONTWRITEBYTECODE set (as on our CI machines) every
	@# ttal process would otherwise recompile it, ~50 ms per start (bench/).
	@$(PY) -m compileall -q ttal hooks >/dev/null

demo: venv
	$(VENV)/bin/ttal demo

lint: venv
	$(VENV)/bin/ruff check ttal tests bench hooks
	$(VENV)/bin/ruff format --check ttal tests bench hooks
	$(VENV)/bin/mypy

# The real Claude Code for tests/test_claude_e2e.py; they skip (and say why) without it.
claude:
	@./scripts/install-claude || echo "make: Claude Code not installed; its end-to-end tests will skip"

# The real Codex CLI for tests/test_codex_args.py and tests/test_codex_e2e.py; same deal.
codex:
	@./scripts/install-codex || echo "make: Codex not installed; its tests will skip"

test: venv lint claude codex
	$(VENV)/bin/pytest -n 2 -q -rs

bench: venv
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
