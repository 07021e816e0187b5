#!/usr/bin/env bash
# Builds the real Kubernetes control plane the end-to-end tests run against (test infrastructure
# only; nothing here ships): kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
# kubectl from k8s.io/kubernetes and the etcd that release pins, all from the Go module proxy, pinned
# by tests/control-plane/<version>/go.mod + go.sum. (kubectl is built too so the client always matches
# the server, whatever kubectl the machine has.) K8S_VERSION picks the release (default v1.37.2;
# v1.34.4, v1.35.4 and v1.36.3 are pinned too, for `make test-k8s`). Binaries go to a cache outside
# the repo keyed by version, each release beside the others:
#   ${FERROVAULT_CACHE:-$HOME/.cache/ferrovault}/k8s-<version>/bin/{kube-apiserver,...,etcd}
# A warm cache costs nothing. A cold build takes 15-25 minutes on 2 cores; it runs under `nice`.
#
# Usage:
#   eval "$(scripts/control-plane.sh build)"   builds if needed, prints `export KUBE_BIN_DIR=...`
#   scripts/control-plane.sh env               prints the export only (fails if not built)
#   scripts/control-plane.sh versions          the pinned releases, newest last
set -euo pipefail

DEFAULT_K8S_VERSION=v1.37.2
K8S_VERSION="${K8S_VERSION:-$DEFAULT_K8S_VERSION}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODULE="$ROOT/tests/control-plane/$K8S_VERSION"
if [ "${1:-build}" != versions ] && [ ! -f "$MODULE/go.mod" ]; then
  echo "control-plane: K8S_VERSION=$K8S_VERSION is not pinned; pinned: $(ls "$ROOT/tests/control-plane" | grep '^v' | tr '\n' ' ')" >&2
  exit 2
fi
K8S_MINOR="${K8S_VERSION#v1.}"
K8S_MINOR="${K8S_MINOR%%.*}"
CACHE="${FERROVAULT_CACHE:-$HOME/.cache/ferrovault}"
BIN="$CACHE/k8s-$K8S_VERSION/bin"
log() { echo "control-plane: $*" >&2; }

# package path -> binary name
TARGETS=(
  "k8s.io/kubernetes/cmd/kube-apiserver:kube-apiserver"
  "k8s.io/kubernetes/cmd/kube-controller-manager:kube-controller-manager"
  "go.etcd.io/etcd/server/v3:etcd"
  "k8s.io/kubernetes/cmd/kubectl:kubectl"
  "k8s.io/kubernetes/cmd/kube-scheduler:kube-scheduler"
  "k8s.io/kubernetes/cmd/kubelet:kubelet"
)

# Kubernetes stamps its version at link time (hack/lib/version.sh); without it the API server
# reports v0.0.0-master, which breaks helm's kubeVersion checks and native-sidecar detection.
VERSION_LDFLAGS=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  VERSION_LDFLAGS+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$K8S_MINOR"
  VERSION_LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
LDFLAGS="-s -w$VERSION_LDFLAGS"

build() {
  if ! command -v go >/dev/null; then
    for candidate in /usr/local/go/bin /usr/lib/go/bin; do
      if [ -x "$candidate/go" ]; then PATH="$candidate:$PATH"; fi
    done
  fi
  command -v go >/dev/null || { log "the go command is needed to build the control plane"; exit 1; }
  mkdir -p "$BIN"
  local target pkg name stamp i=0 total=${#TARGETS[@]}
  for target in "${TARGETS[@]}"; do
    i=$((i + 1))
    pkg="${target%%:*}"
    name="${target##*:}"
    # a binary counts as built only with the flags it was linked with (the stamp)
    stamp="$pkg $LDFLAGS"
    if [ -x "$BIN/$name" ] && [ "$(cat "$BIN/.$name.stamp" 2>/dev/null)" = "$stamp" ]; then
      continue
    fi
    log "[$i/$total] building $name ($pkg) into $BIN — the first build of all six takes ~20 min on 2 cores; cached afterwards"
    local started=$SECONDS
    # a line a minute while go builds (it prints nothing until it is done)
    ( while sleep 60; do log "[$i/$total] still building $name ($((SECONDS - started))s)"; done ) &
    local ticker=$!
    # build to a temporary name and rename, so an interrupted build never leaves a half binary
    if ! (cd "$MODULE" && GOFLAGS="-p=2 -mod=readonly -buildvcs=false" CGO_ENABLED=0 nice -n 10 \
      go build -trimpath -ldflags="$LDFLAGS" -o "$BIN/.$name.partial" "$pkg"); then
      kill "$ticker" 2>/dev/null
      log "building $name failed"
      exit 1
    fi
    kill "$ticker" 2>/dev/null; wait "$ticker" 2>/dev/null || true
    mv "$BIN/.$name.partial" "$BIN/$name"
    echo "$stamp" > "$BIN/.$name.stamp"
    log "built $name in $((SECONDS - started))s"
  done
}

print_env() {
  local name
  for name in kube-apiserver kube-controller-manager etcd kubectl kube-scheduler kubelet; do
    if [ ! -x "$BIN/$name" ]; then
      log "$BIN/$name is missing: run scripts/control-plane.sh build"
      exit 1
    fi
  done
  echo "export KUBE_BIN_DIR='$BIN' K8S_VERSION='$K8S_VERSION'"
}

case "${1:-build}" in
  build) build; print_env ;;
  env) print_env ;;
  versions) ls "$ROOT/tests/control-plane" | grep '^v1\.' | sort -V ;;
  *) log "usage: $0 [build|env]"; exit 2 ;;
esac
