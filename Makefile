# Two set-up commands: `make demo` and `make test`. Both build .venv when needed.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test unit demo lint typecheck clean

$(STAMP): requirements.txt
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) on PATH (or make PY=python3)"; exit 2; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $(STAMP)

# Every tier, in parallel; the JUnit file lets .ci/run check how many tests really ran.
test: $(STAMP)
	$(BIN)/python -m pytest --junitxml=.test-results.xml

# The unit tier only (no sockets, a few seconds).
unit: $(STAMP)
	$(BIN)/python -m pytest -m unit -n 2

demo: $(STAMP)
	$(BIN)/python -m scripts.demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy tasks runbooks simulator

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .test-results.xml
