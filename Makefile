# Two set-up commands: `make demo` and `make test`. Both build .venv when needed.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test unit demo lint typecheck clean

REDIS_STAMP := $(VENV)/.redis
CHROMIUM_STAMP := $(VENV)/.chromium

$(STAMP): requirements.txt
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) on PATH (or make PY=python3)"; exit 2; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $(STAMP)

# The Celery engine's tests start a private redis-server (Debian redis-server, 7.x).
$(REDIS_STAMP): $(STAMP)
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server; \
	  else echo "need redis-server on PATH: sudo apt-get install -y redis-server"; exit 2; fi; }
	redis-server --version
	touch $(REDIS_STAMP)

# The HTML change report's browser tests drive Debian's chromium through Playwright (the
# playwright package from requirements.txt; no browser of its own is downloaded).
$(CHROMIUM_STAMP): $(STAMP)
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else echo "need chromium on PATH: sudo apt-get install -y chromium"; exit 2; fi; }
	chromium --version
	touch $(CHROMIUM_STAMP)

# Every tier, in parallel; the JUnit file lets .ci/run check how many tests really ran.
# The project's modules are compiled first: where PYTHONDONTWRITEBYTECODE is set (CI
# containers often set it) every lab, runbooks and worker process the tests start would
# otherwise compile them from source again (about 0.3-0.4 CPU-s a process, hundreds of them).
# Beside it, one collection writes pytest's assertion-rewritten test modules to __pycache__
# (PYTHONDONTWRITEBYTECODE unset for it alone): otherwise each of the 8 pytest workers
# rewrites every test module again, about 3.5 CPU-s each.
test: $(STAMP) $(REDIS_STAMP) $(CHROMIUM_STAMP)
	$(BIN)/python -m compileall -q tasks runbooks simulator bench scripts examples tests & \
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest --collect-only -q -o addopts= \
	  -p no:cacheprovider >/dev/null; collected=$$?; wait $$! && exit $$collected
	$(BIN)/python -m pytest --junitxml=.test-results.xml --durations=15

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
