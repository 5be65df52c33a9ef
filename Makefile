# The two commands of README.md: `make demo` and `make test`.
# Both create their own virtual environment; nothing is assumed to be pre-installed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: bytecode demo test lint typecheck unit clean

# setup.py and the C source: the editable install compiles sync/_cstate.c, so a change
# to either must rebuild it.
$(STAMP): pyproject.toml setup.py src/threadloom/sync/_cstate.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# An editable install has no bytecode, and where PYTHONDONTWRITEBYTECODE is set Python
# never writes it: every start would compile the package again (~35 ms).
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q src/threadloom

demo: bytecode
	$(BIN)/threadloom demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict src/threadloom src/_threadloom_pytest.py

unit: $(STAMP)
	$(BIN)/pytest

test: lint typecheck unit

clean:
	rm -rf $(VENV) build src/*.egg-info src/threadloom/sync/*.so .mypy_cache .pytest_cache .ruff_cache
