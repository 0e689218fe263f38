# fde-workbench: two commands on a fresh machine.
#   make run    create .venv, install, start the embedded PostgreSQL, execute every notebook
#   make test   unit tests + pytest --nbval over the committed notebooks
# Other targets: make lab, make update (refresh committed notebook outputs), make bench, make clean,
#   make mage (Mage's UI for project 2; its own environment, .venv-mage, is installed on first use)

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& echo $$p && break; done)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lab update bench up down status clean mage

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "fde: Python 3.11 or newer is required (python3 --version)"; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/fde up
	$(BIN)/fde mage install
	$(BIN)/fde run

# pytest exits 5 when it collected no test: that is not a failure of the project.
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

lab: $(STAMP)
	$(BIN)/fde lab

update: $(STAMP)
	$(BIN)/fde run --update

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

up down status: $(STAMP)
	$(BIN)/fde $@

mage: $(STAMP)
	$(BIN)/fde mage

clean:
	-$(BIN)/fde down
	rm -rf $(VENV) .venv-mage .venv-mage.log runs .fde
