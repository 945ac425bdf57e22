# `make demo` and `make test` set everything up on a fresh Debian/Ubuntu machine.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-tw3 lint bench bench-scale sysdeps venv clean claude codex tw3 browser

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
	@# The architecture's import contracts (pyproject.toml [tool.importlinter]).
	$(VENV)/bin/lint-imports --no-cache

# The real Claude Code for tests/test_claude_e2e.py; they skip (and say why) without it.
claude:
	@./scripts/install-claude || echo "make: Claude Code not installed; its end-to-end tests will skip"

# The real Codex CLI for tests/test_codex_args.py and tests/test_codex_e2e.py; same deal.
codex:
	@./scripts/install-codex || echo "make: Codex not installed; its tests will skip"

# Chromium for tests/test_insights_e2e.py, which renders `ttal insights --html` headless;
# without it that check skips and says why.
browser:
	@./scripts/ensure-sysdeps --browser || echo "make: Chromium not installed; the HTML report's browser check will skip"

# Taskwarrior 3.x for the second pass (scripts/install-taskwarrior3: the machine's own when it
# is 3.x, else Debian's newer package in .tools/tw3); without it that pass skips and says why.
tw3:
	@./scripts/install-taskwarrior3 || echo "make: Taskwarrior 3 not installed; the 3.x pass will skip"

# The tests that talk to Taskwarrior, again on 3.x: hooks, lifecycle, races, lost updates,
# crash, bad input, gc, tasklib's reads, the task-call counts, status, budgets, the spawn
# limits' count of a project's workers.
# TTAL_TEST_TASK_MAJOR=3 fails the run if `task` is not 3.x; the header names the binary.
TW3 := .tools/tw3/bin/task
TW3_TESTS := tests/test_hooks.py tests/test_rules_in_process.py tests/test_e2e_flows.py \
	tests/test_smoke_e2e.py tests/test_race.py tests/test_lost_updates.py tests/test_crash.py \
	tests/test_bad_input.py tests/test_gc.py tests/test_history.py tests/test_person_reports.py \
	tests/test_task_calls.py tests/test_status.py tests/test_budget.py tests/test_spawn_dead_slots.py \
	tests/test_watch_calls.py

test-tw3: venv tw3
	@if [ -x $(TW3) ]; then \
	  echo "make: the Taskwarrior 3 pass"; \
	  TTAL_TEST_TASK=$(CURDIR)/$(TW3) TTAL_TEST_TASK_MAJOR=3 $(VENV)/bin/pytest -n $(JOBS) -q -rs $(TW3_TESTS); \
	else \
	  echo "make: SKIPPED the Taskwarrior 3 pass: no $(TW3) (scripts/install-taskwarrior3 said why above)"; \
	fi

# Four pytest workers on two cores: the tests mostly wait on real programs (task, git,
# tmux, agents), so the suite runs in 4:40 at -n 4 against 5:35 at -n 2 on a quiet machine.
# Tests that waited on a fixed sleep or a short idle flaked at -n 4; they now wait on events.
JOBS ?= 4

test: venv lint claude codex tw3 browser
	$(VENV)/bin/pytest -n $(JOBS) -q -rs
	@$(MAKE) --no-print-directory test-tw3

bench: venv
	$(PY) bench/run.py
	$(PY) bench/merge_queue.py

# The scale section (bench/scale.py): 25,000 tasks in the store, a 50-task fleet's CPU, a
# 10,000-message queue. Slow (10-20 minutes on 2 shared cores): ARGS=--quick for a smaller
# run, ARGS=--tw3 to add Taskwarrior 3's rows. The stores are built once into .bench/.
bench-scale: venv
	$(PY) bench/scale.py $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
