# Two set-up commands: `make demo` and `make test`. Both build .venv when needed.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo lint typecheck clean

$(STAMP): requirements.txt
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) on PATH (or make PY=python3)"; exit 2; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/python -m scripts.demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy tasks runbooks simulator

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
