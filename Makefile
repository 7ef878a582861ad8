# Two set-up commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench soak clean bytecode

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The project is installed editable: compile it as a regular install does, so that a
# PYTHONDONTWRITEBYTECODE environment does not compile it again at every start (0.15 s).
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q sync

demo: bytecode
	$(BIN)/flowtrac-sync demo

test: $(STAMP)
	$(BIN)/ruff check sync tests
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check sync tests bench

bench: bytecode
	$(BIN)/python bench/run.py

soak: bytecode
	$(BIN)/python bench/soak.py

clean:
	rm -rf $(VENV) build *.egg-info
