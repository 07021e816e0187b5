# ferrovault — the two commands for a fresh machine are `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
TOOLS = eval "$$(scripts/install-tools.sh)"
LINT_TOOLS = eval "$$(scripts/install-tools.sh lint)"

.PHONY: test lint fmt unit build release tools node-tools images demo demo-cluster bench clean-cache

## test: everything CI runs — format, lints, unit, integration (real OpenBao, TLS, helm),
## end-to-end (real kube-apiserver built from the Go module proxy, cached) and node tests (a real
## kubelet + containerd running the images `make images` builds)
test: lint unit

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

unit: tools images
	$(TOOLS); eval "$$(scripts/control-plane.sh build)"; \
	$(CARGO) build --locked --all-features -p ferrovault-webhook -p ferrovault-agent; \
	$(CARGO) test --workspace --all-features --locked --no-fail-fast

fmt:
	$(CARGO) fmt --all

build:
	$(CARGO) build --workspace --locked

release:
	$(CARGO) build --workspace --locked --release

## demo: OpenBao dev server + seed chart pod -> webhook inject -> agent renders database-config.txt
demo: tools
	$(TOOLS); scripts/demo.sh

## demo-cluster: a real Kubernetes 1.34 node on this machine (control plane, kubelet and scheduler
## built once from the Go module proxy into the cache; containerd from Debian); the injector chart
## runs from the local images, the seed chart's pods get the agent as a native sidecar, and the
## connection string is read from inside a running pod
demo-cluster: tools images
	$(TOOLS); eval "$$(scripts/control-plane.sh build)"; \
	$(CARGO) test --locked -p ferrovault-tests --features with-node --test node -- --demo

bench: tools
	$(TOOLS); $(CARGO) bench --workspace --locked
