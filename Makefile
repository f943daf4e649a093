# The two commands of the README, and a few more. Needs only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo serve test lint typecheck unit bench fuzz mutate diagrams clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("handoff-fsm needs Python 3.11+") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,tools,testing,bench,plot,service,postgresql]'
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/handoff-fsm demo

serve: $(INSTALLED)
	$(BIN)/handoff-fsm serve

test: lint typecheck unit

lint: $(INSTALLED)
	$(BIN)/ruff check handoff_fsm tests benchmarks
	$(BIN)/ruff format --check --quiet handoff_fsm tests benchmarks

typecheck: $(INSTALLED)
	$(BIN)/mypy --strict handoff_fsm tests

unit: $(INSTALLED)
	$(BIN)/pytest -q

bench: $(INSTALLED)
	$(BIN)/python -m benchmarks

fuzz: $(INSTALLED)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q tests -k "stateful or hypothesis or property"

# Mutation testing of the core (docs/mutation.md): a seeded sample by default, every mutant with ALL=1.
$(VENV)/.mutation: $(INSTALLED)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench,mutation]'
	touch $@

mutate: $(VENV)/.mutation
	$(BIN)/python mutation/run.py $(if $(ALL),--all) $(if $(ONLY),--only "$(ONLY)")

diagrams: $(INSTALLED)
	$(BIN)/handoff-fsm diagrams --out diagrams

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis build dist
