# Enterprise Orchestration Engine — developer entry points.
# `make demo` and `make test` work on a fresh machine: they install what they need.

SHELL := /bin/bash
PYTHON_BOOTSTRAP ?= python3
VENV := .venv
PY := $(VENV)/bin/python
K8S_VERSION ?= v1.36.3
export K8S_VERSION

.PHONY: help venv control-plane control-plane-up postgres crds lint test test-unit test-integration demo bench clean

help:
	@echo "make demo              local control plane (if no cluster), CRDs, operator, examples, report"
	@echo "make test              everything CI runs: lint, unit and integration tests"
	@echo "make lint              ruff + mypy"
	@echo "make bench             benchmarks; writes docs/benchmarks.md"
	@echo "make crds              regenerate crds/ from the pydantic models"
	@echo "make control-plane     build kube-apiserver + etcd into ~/.cache/orchestration-engine"
	@echo "make control-plane-up  start a local control plane and print how to use it"
	@echo "make postgres          install Debian's PostgreSQL server (for the store's tests) if missing"

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

control-plane: venv
	PYTHON=$(abspath $(PY)) tests/envtest/build-control-plane.sh

control-plane-up: control-plane
	$(PY) tests/envtest/controlplane.py up

# The store's integration tests start a real PostgreSQL server of their own; this installs
# Debian's server package, only when it is missing (sudo only when not root).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
postgres:
	@test -x "$$(ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | head -1)" || \
	  ($(SUDO) apt-get update -qq && \
	   $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql)

crds: venv
	$(VENV)/bin/orchestration-engine crds --output-dir crds

lint: venv
	$(VENV)/bin/ruff check operator tests examples
	$(VENV)/bin/ruff format --check operator tests examples
	$(VENV)/bin/mypy

test-unit: venv
	$(PY) -m pytest tests/unit -q

test-integration: control-plane postgres
	$(PY) -m pytest tests/integration -q

# One pytest run for the whole suite, so its closing line counts everything.
test: lint control-plane postgres
	$(PY) -m pytest tests -q -ra --durations=10

demo: control-plane
	$(PY) examples/demo.py

# Not part of `make test`: speed and memory targets are measured here, never in timed tests.
bench: control-plane
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) tests/bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache orchestration.db
