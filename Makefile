# The shared vocabulary: `make demo` and `make test` on a fresh machine, `make bench`, `make lint`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test test-all bench lint clean

$(BIN)/lstmkit: pyproject.toml
	$(PY) -m venv $(VENV)
	# torch first, pinned: a bare `torch` requirement in a fresh environment pulls a multi-GB CUDA build
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,tune,baselines,export]'
	touch $@

install: $(BIN)/lstmkit

demo: install
	$(BIN)/lstmkit forecast

# The import contract first: an arrow running back up a floor fails the test run, not only lint.
test: install
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest -q

test-all: install
	$(BIN)/pytest -q -m ''

bench: install
	$(BIN)/python benchmarks/speed.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
