# fde-workbench: two commands on a fresh machine.
#   make run    create .venv, install, start the embedded PostgreSQL, execute every notebook,
#               build the course website (runs/latest/site/index.html)
#   make test   unit tests + pytest --nbval over the committed notebooks (2 processes)
# Other targets: make check (lint, types and the fast tests: the edit-test loop), make lab, make update (refresh committed notebook outputs), make bench,
# make lock (after changing dependencies in pyproject.toml), make lint, make clean
#   make mage (Mage's UI for project 2; its own environment, .venv-mage, is installed on first use)

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& echo $$p && break; done)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock
# uv installs the lock in seconds. Without one on PATH, `make` puts it into the virtual
# environment from the package registry (pip install uv); failing that, pip does the install.
UV_SPEC    := uv>=0.5,<1
UV_ON_PATH := $(shell command -v uv 2>/dev/null)
UV         := $(or $(UV_ON_PATH),$(BIN)/uv)
NEEDS_UV   := $(if $(UV_ON_PATH),,$(BIN)/uv)
# pytest processes for `make test` (pytest-xdist); 1 runs in this process
JOBS   ?= 2

.PHONY: run test check lab update bench lint lock lock-upgrade up down status clean mage

# Exactly the versions in requirements.lock (--no-deps: the lock is complete, and
# tools/lockfile.py refuses a lock not made from pyproject.toml's current dependencies),
# compiled to bytecode: PYTHONDONTWRITEBYTECODE may be set, and every kernel and worker
# process would otherwise compile each module it imports again.
$(STAMP): pyproject.toml $(LOCK) | $(NEEDS_UV)
	@test -n "$(PYTHON)" || { echo "fde: Python 3.11 or newer is required (python3 --version)"; exit 2; }
	@$(PYTHON) tools/lockfile.py check $(LOCK)
	@if [ -x "$(UV)" ]; then \
		test -x $(BIN)/python || "$(UV)" venv --quiet --python "$(PYTHON)" $(VENV); \
		"$(UV)" pip install --quiet --python $(BIN)/python --compile-bytecode --no-deps -r $(LOCK) && \
		"$(UV)" pip install --quiet --python $(BIN)/python --compile-bytecode --no-deps -e . ; \
	else \
		test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
		$(BIN)/python -m pip install --quiet --no-deps -r $(LOCK) && \
		$(BIN)/python -m pip install --quiet --no-deps -e . ; \
	fi
	@$(BIN)/python -m compileall -q fdelib >/dev/null
	@touch $(STAMP)

# Only without uv on PATH: a virtual environment with uv in it.
$(BIN)/uv:
	@test -n "$(PYTHON)" || { echo "fde: Python 3.11 or newer is required (python3 --version)"; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet '$(UV_SPEC)' \
		|| echo "fde: could not install uv; installing with pip instead (slower)"

# Re-resolve requirements.lock after changing dependencies in pyproject.toml. Pins already
# in the lock are kept where the new ranges allow; `make lock-upgrade` takes the newest.
lock lock-upgrade: | $(NEEDS_UV)
	"$(UV)" pip compile pyproject.toml --extra dev --universal --python-version 3.11 --quiet \
		--custom-compile-command "make lock" $(if $(filter lock-upgrade,$@),--upgrade) -o $(LOCK)
	$(PYTHON) tools/lockfile.py stamp $(LOCK)

# After the notebooks ran, the course website from their outputs: runs/latest/site/index.html
# (`fde site` again rebuilds it; a failed notebook fails `make run` before this step).
run: $(STAMP)
	$(BIN)/fde up
	$(BIN)/fde mage install
	$(BIN)/fde run
	$(BIN)/fde site

# pytest exits 5 when it collected no test: that is not a failure of the project.
# Notebooks run one file per process (nbval's cells share a kernel): --dist loadfile.
# style and types first (seconds): a lint error fails the build like a failing test
test: lint
	$(BIN)/python -m pytest $(if $(filter-out 1,$(JOBS)),-n $(JOBS) --dist loadfile) $(PYTEST_ARGS); \
		rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

# The edit-test loop: style, types and the fast tests (no notebook, no browser, no storm), in
# under a minute on 2 cores. The slow ones are marked in conftest.py (SLOW_MODULES); `make test`
# runs everything.
check: lint
	$(BIN)/python -m pytest tests -m "not slow" -q $(if $(filter-out 1,$(JOBS)),-n $(JOBS)) $(PYTEST_ARGS); \
		rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

# Style and types (`make test` runs this first). `ruff format .` fixes the format.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

lab: $(STAMP)
	$(BIN)/fde lab

update: $(STAMP)
	$(BIN)/fde run --update

# Each benchmark appends its figures to benchmarks/history/<machine>.jsonl and prints the
# change against the previous run on this machine.
bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

up down status: $(STAMP)
	$(BIN)/fde $@

mage: $(STAMP)
	$(BIN)/fde mage

clean:
	-$(BIN)/fde down
	rm -rf $(VENV) .venv-mage .venv-mage.log runs .fde
