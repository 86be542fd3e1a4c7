# Every target creates or updates .venv itself: a fresh clone needs only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint bench run clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# The tests start Chromium and network namespaces: on these machines they run
# inside ../shared/tools/isolated (a namespace with only loopback), unless
# they already are (no interface but lo here).
ISOLATE := $(shell test -x ../shared/tools/isolated && ls /sys/class/net | grep -qvx lo && echo "bash ../shared/tools/isolated")

test: lint
	bash .ci/system-deps
	$(ISOLATE) $(BIN)/python -m pytest

# The node's files live in ./data inside the checkout (ignored by git).
run: $(STAMP)
	$(BIN)/mutualaid run --data-dir data $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
