# ferrovault — the two commands for a fresh machine are `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
TOOLS = eval "$$(scripts/install-tools.sh)"

.PHONY: test lint fmt unit build release tools demo demo-cluster bench clean-cache

## test: everything CI runs — format, lints, unit, integration (real OpenBao, TLS, helm) and
## end-to-end (real kube-apiserver built from the Go module proxy, cached) tests
test: lint unit

tools:
	@scripts/install-tools.sh >/dev/null

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit: tools
	$(TOOLS); eval "$$(scripts/control-plane.sh build)"; \
	$(CARGO) build --locked -p ferrovault-webhook -p ferrovault-agent; \
	$(CARGO) test --workspace --locked --no-fail-fast

fmt:
	$(CARGO) fmt --all

build:
	$(CARGO) build --workspace --locked

release:
	$(CARGO) build --workspace --locked --release

## demo: OpenBao dev server + seed chart pod -> webhook inject -> agent renders database-config.txt
demo: tools
	$(TOOLS); scripts/demo.sh

## demo-cluster: a real Kubernetes 1.34 control plane (built once from the Go module proxy into the
## cache, 10-25 min cold), OpenBao and the webhook on loopback; the seed chart's pods get the agent,
## which logs in through Kubernetes auth and renders database-config.txt (the e2e tests, verbose)
demo-cluster: tools
	$(TOOLS); eval "$$(scripts/control-plane.sh build)"; \
	$(CARGO) build --locked -p ferrovault-webhook -p ferrovault-agent; \
	$(CARGO) test --locked -p ferrovault-tests --test e2e -- --nocapture

bench: tools
	$(TOOLS); $(CARGO) bench --workspace --locked
