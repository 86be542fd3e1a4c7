# Every target creates or updates .venv itself: a fresh clone needs only Python 3.11+.
# Two stamps: running a node needs the package alone (RUN_STAMP); the tests,
# linters and benchmarks need the dev extras too (STAMP, which .ci/run makes
# before it enters its network namespace). A later `make test` adds them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed

# The data directory `make run` uses, inside the checkout (ignored by git).
# `mutualaid run` without --data-dir uses $XDG_DATA_HOME/mutualaid instead.
DATA_DIR := data

.PHONY: test lint bench bench-pi run clean image container-cache

$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The tests start Chromium and network namespaces: on these machines they run
# inside ../shared/tools/isolated (a namespace with only loopback), unless
# they already are (no interface but lo here).
ISOLATE := $(shell test -x ../shared/tools/isolated && ls /sys/class/net | grep -qvx lo && echo "bash ../shared/tools/isolated")

# Two workers (pytest-xdist), a test file to each at a time so a file's
# fixtures are made once: the suite takes about 6 minutes on 2 cores instead
# of 9. `$(BIN)/python -m pytest tests/...` alone still runs in one process.
TEST_WORKERS ?= 2

# tests/container builds and runs the image with no network: what it needs
# from outside (a base image, wheels, Compose v2) is fetched into
# .cache/container/ first, outside the namespace (docker/prepare.py; a no-op
# once there). Where it cannot be made, the container tests fail saying so.
test: lint
	bash .ci/system-deps
	-$(BIN)/python docker/prepare.py cache
	$(ISOLATE) $(BIN)/python -m pytest --numprocesses=$(TEST_WORKERS) --dist=loadfile

container-cache: $(STAMP)
	$(BIN)/python docker/prepare.py cache

# The node's image (docker/README.md). BASE_IMAGE replaces the Dockerfile's
# pinned default, e.g. BASE_IMAGE=mutualaid-base:bookworm after
# `docker load -i .cache/container/base.tar`.
IMAGE ?= mutualaid:local
BASE_IMAGE ?=
DOCKER ?= docker
CONTEXT := .cache/container/context
image: $(STAMP)
	$(BIN)/python docker/prepare.py cache wheels
	$(BIN)/python docker/prepare.py context $(CONTEXT)
	$(DOCKER) build --network=host $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) \
		--file docker/Dockerfile --tag $(IMAGE) $(CONTEXT)

run: $(RUN_STAMP)
	$(BIN)/mutualaid run --data-dir $(DATA_DIR) $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

# The main figures on the full machine and under a Pi-class cgroup (a third of a
# core, 512 MB), side by side: about 10 minutes, so not part of `make bench`.
# Needs root (it makes cgroups); its nodes stay on loopback, in the namespace.
bench-pi: $(STAMP)
	$(ISOLATE) $(BIN)/python -m bench pi

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
