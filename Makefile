# Enterprise Orchestration Engine — developer entry points.
# `make demo` and `make test` work on a fresh machine: they install what they need.

SHELL := /bin/bash
PYTHON_BOOTSTRAP ?= python3
VENV := .venv
PY := $(VENV)/bin/python
K8S_VERSION ?= v1.36.3
export K8S_VERSION

.PHONY: help venv control-plane control-plane-up node image-tools postgres helm prometheus image e2e-images e2e crds lint test test-unit test-integration demo bench fmea audit clean

help:
	@echo "make demo              the local cluster (if none answers), CRDs, operator, examples, a failover, report"
	@echo "make test              lint, unit, integration and failure-mode tests (CI runs it, then e2e)"
	@echo "make e2e               a real single-node cluster, the chart installed from the image, tests/e2e"
	@echo "make lint              ruff + mypy + the import contracts (pyproject.toml)"
	@echo "make bench             benchmarks; writes docs/benchmarks.md"
	@echo "make fmea              the failure-mode suite at full size, then the 30-minute soak (docs/fmea.md)"
	@echo "make audit             pip-audit of the installed dependencies (needs PyPI's JSON API or OSV)"
	@echo "make crds              regenerate crds/ from the pydantic models"
	@echo "make control-plane     build kube-apiserver + etcd into ~/.cache/orchestration-engine"
	@echo "make control-plane-up  start a local control plane and print how to use it"
	@echo "make postgres          install Debian's PostgreSQL server (for the store's tests) if missing"
	@echo "make helm              build helm into ~/.cache/orchestration-engine/bin (for the chart's tests)"
	@echo "make image             the operator image from the Dockerfile as IMAGE (orchestration-engine:dev)"
	@echo "make e2e-images        that, the pause and test workload images, saved for containerd"
	@echo "make prometheus        install Debian's Prometheus and promtool (for the alert tests) if missing"

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

# helm for the chart's tests, built from the Go module proxy (no other download is possible
# here) into the cache outside the clone, so fresh clones on the same machine reuse it. Rebuilt
# only when missing or of another version.
HELM_VERSION ?= v3.22.0
# The Kubernetes minor version helm assumes without a cluster (`helm template`, `helm lint`):
# its client-go's (v0.37), stamped in as helm's own Makefile does; unstamped it would be 1.20.
HELM_KUBE_MINOR ?= 37
CACHE_ROOT := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/orchestration-engine
HELM_BIN := $(CACHE_ROOT)/bin/helm
helm:
	@if [ "$$("$(HELM_BIN)" version --template '{{.Version}}' 2>/dev/null)" != "$(HELM_VERSION)" ]; then \
	  echo "building helm $(HELM_VERSION) into $(CACHE_ROOT)/bin (a few minutes from a cold cache)"; \
	  mkdir -p "$(CACHE_ROOT)/bin" && \
	  GOBIN="$(CACHE_ROOT)/bin" GOTOOLCHAIN=local \
	  GOMODCACHE="$(CACHE_ROOT)/go/mod" GOCACHE="$(CACHE_ROOT)/go/build" \
	  go install -trimpath \
	    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
	      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$(HELM_KUBE_MINOR) \
	      -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
	      -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$(HELM_KUBE_MINOR)" \
	    helm.sh/helm/v3/cmd/helm@$(HELM_VERSION); \
	fi

# The alert rules' tests run promtool, and one integration test a real Prometheus server.
# Without recommends: those would add node-exporter and its collectors, which nothing here
# uses. Debian's package installs a service unit too; nothing here starts it.
prometheus:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || \
	  ($(SUDO) apt-get update -qq && \
	   $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus)

# Container images. No registry is reachable here, so the Python base is made locally when
# python:3.11-slim-bookworm cannot be pulled; the script starts a Docker engine when none
# answers (and stops it after) and saves each image under ~/.cache/orchestration-engine/images.
IMAGE ?= orchestration-engine:dev
# Debian's Docker engine and mmdebstrap (the local Python base where none can be pulled).
image-tools:
	@test -x /usr/sbin/dockerd -a -x /usr/bin/mmdebstrap || \
	  ($(SUDO) apt-get update -qq && \
	   $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io mmdebstrap)

image: image-tools
	IMAGE=$(IMAGE) $(PYTHON_BOOTSTRAP) tests/e2e/images/build_images.py operator

e2e-images: image-tools
	IMAGE=$(IMAGE) $(PYTHON_BOOTSTRAP) tests/e2e/images/build_images.py e2e

crds: venv
	$(VENV)/bin/orchestration-engine crds --output-dir crds
	cp crds/*.yaml charts/orchestration-engine/crds/

lint: venv
	$(VENV)/bin/ruff check operator tests examples
	$(VENV)/bin/ruff format --check operator tests examples
	$(VENV)/bin/mypy
	PYTHONPATH=operator $(VENV)/bin/lint-imports --no-cache

test-unit: venv
	$(PY) -m pytest tests/unit -q

test-integration: control-plane postgres helm prometheus
	$(PY) -m pytest tests/integration -q

# One pytest run for the whole suite, so its closing line counts everything. The end-to-end
# tier is `make e2e`: it needs the local cluster's network namespace.
test: lint control-plane postgres helm prometheus
	$(PY) -m pytest tests -q -ra --durations=10 --ignore=tests/e2e

# kubelet, kube-controller-manager, kube-scheduler, kube-proxy and CoreDNS for the local
# cluster (tests/localcluster), built once into the cache beside kube-apiserver.
# Debian's container runtime, CNI plugins, iptables (kube-proxy) and mmdebstrap (the local
# base image), only when one is missing; docker.io for `make image`'s engine.
NODE_PACKAGES := containerd runc containernetworking-plugins iptables mmdebstrap docker.io
node: control-plane
	@test -x /usr/bin/containerd -a -x /usr/sbin/runc -a -x /usr/lib/cni/bridge \
	  -a -x /usr/sbin/iptables -a -x /usr/bin/mmdebstrap -a -x /usr/sbin/dockerd || \
	  ($(SUDO) apt-get update -qq && \
	   $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(NODE_PACKAGES))
	tests/localcluster/build-node.sh

# The end-to-end tier: a real single-node cluster in a network namespace of the run's own, the
# operator installed into it by its chart from its image, and tests/e2e against real pods.
e2e: venv node helm postgres e2e-images
	$(PYTHON_BOOTSTRAP) tests/localcluster/netns.py run --label e2e -- \
	  $(abspath $(PY)) -m pytest tests/e2e -q -ra --durations=15 $(E2E_ARGS)

# The cluster your kubeconfig names if one answers; otherwise the local real cluster (what
# `make e2e` runs on) in a network namespace of the demo's own, linked to this machine so that
# kubectl and `orchestration-engine watch` reach it from outside. DEMO_ARGS=--once stops after
# the show.
demo: venv control-plane node e2e-images
	@if $(PY) examples/demo.py --cluster-answers; then \
	  $(PY) examples/demo.py $(DEMO_ARGS); \
	else \
	  $(PYTHON_BOOTSTRAP) tests/localcluster/netns.py run --label demo --host-link -- \
	    $(abspath $(PY)) examples/demo.py $(DEMO_ARGS); \
	fi

# The failure-mode suite at the issue's sizes (10 kill points, 100 conflicts, a 60 s database
# outage, three API server restarts), then the 30-minute soak at 1,000 services. `make test`
# runs the same tests shortened (FMEA_FULL unset) and a 90-second soak.
fmea: control-plane postgres
	FMEA_FULL=1 $(PY) -m pytest tests/fmea -q -ra -s
	$(PY) tests/fmea/soak.py --out build/fmea/soak.json

# Known vulnerabilities in the installed dependencies. pip-audit asks PyPI's JSON API (or
# OSV); where neither answers it cannot audit, and --strict makes that a failure, not a pass.
audit: venv
	$(PY) -m pip install --quiet pip-audit
	$(PY) -m pip_audit --strict --skip-editable

# Not part of `make test`: speed and memory targets are measured here, never in timed tests.
bench: control-plane postgres node helm e2e-images
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) tests/bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache orchestration.db
