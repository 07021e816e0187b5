#!/usr/bin/env bash
# Builds ferrovault's container images without a daemon: static binaries, then `buildah bud` on the
# repo's Containerfile (targets webhook and agent), written as OCI archives into the cache.
#
#   scripts/images.sh build        ferrovault-webhook + ferrovault-agent (the default)
#   scripts/images.sh test-images  the node tests' pause and stand-in app images (tests/images)
#   scripts/images.sh names        prints WEBHOOK_IMAGE=… AGENT_IMAGE=… (name:tag)
#   scripts/images.sh load SOCKET  imports every archive into the containerd at SOCKET (k8s.io)
#
# Names: the repositories of charts/ferrovault/values.yaml (image, agentImage), tag = the workspace
# version in Cargo.toml (the chart's appVersion must agree). Archives:
#   ${FERROVAULT_CACHE:-$HOME/.cache/ferrovault}/images/<name>-<version>.oci.tar
# Binaries are built in their own target dir (target-static) under `nice`, so a normal debug build
# is not invalidated by the static RUSTFLAGS; one cargo invocation each (no feature unification
# between them), the agent with the `small` profile (fat LTO). buildah's storage lives in the cache too (vfs driver,
# chroot isolation: no daemon, no overlay mounts, nothing under /var/lib/containers).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${FERROVAULT_CACHE:-$HOME/.cache/ferrovault}"
OUT="$CACHE/images"
TARGET=x86_64-unknown-linux-gnu
STATIC_TARGET_DIR="${FERROVAULT_STATIC_TARGET_DIR:-$CACHE/target-static}"
CARGO="${CARGO:-cargo}"
log() { echo "images: $*" >&2; }

# --- names, from one place ------------------------------------------------------------------------
version() {
  awk '/^\[workspace.package\]/{p=1;next} /^\[/{p=0} p && $1=="version"{gsub(/"/,"",$3); print $3; exit}' \
    "$ROOT/Cargo.toml"
}
# repository of a top-level block (image, agentImage) in the chart's values
repository() {
  awk -v block="$1:" '$0==block{p=1;next} /^[^ #]/{p=0} p && $1=="repository:"{print $2; exit}' \
    "$ROOT/charts/ferrovault/values.yaml"
}
VERSION="$(version)"
WEBHOOK_IMAGE="$(repository image):$VERSION"
AGENT_IMAGE="$(repository agentImage):$VERSION"
# test-only images: never pushed anywhere, so a name no registry serves
PAUSE_IMAGE="ferrovault.test/pause:$VERSION"
STANDIN_IMAGE="ferrovault.test/moscow-time-standin:$VERSION"

check_names() {
  local app
  app=$(awk '$1=="appVersion:"{gsub(/"/,"",$2); print $2}' "$ROOT/charts/ferrovault/Chart.yaml")
  if [ "$app" != "$VERSION" ]; then
    log "charts/ferrovault/Chart.yaml appVersion $app differs from the workspace version $VERSION"
    exit 1
  fi
  if [ -z "$VERSION" ] || [[ "$WEBHOOK_IMAGE" == :* ]] || [[ "$AGENT_IMAGE" == :* ]]; then
    log "cannot read the image names from charts/ferrovault/values.yaml and Cargo.toml"
    exit 1
  fi
}

archive() { # name:tag -> archive path
  local name="${1%:*}"
  echo "$OUT/${name##*/}-${1##*:}.oci.tar"
}

# --- buildah --------------------------------------------------------------------------------------
need_buildah() {
  if command -v buildah >/dev/null; then return; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing buildah (Debian package)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends buildah >&2
  fi
  command -v buildah >/dev/null || { log "buildah is needed: apt-get install buildah"; exit 1; }
}

buildah_() {
  buildah --storage-driver vfs --root "$CACHE/buildah/storage" --runroot "$CACHE/buildah/run" "$@"
}

# bud_push CONTAINERFILE CONTEXT TARGET NAME [build args…]: builds one target, writes its archive
bud_push() {
  local file="$1" context="$2" target="$3" name="$4" tmp
  shift 4
  tmp="$(archive "$name").partial"
  # --timestamp 0: the same inputs give the same image digest
  buildah_ bud --quiet --isolation chroot --timestamp 0 --layers=false -f "$file" --target "$target" \
    "$@" -t "$name" "$context" >/dev/null
  rm -f "$tmp"
  buildah_ push --quiet "$name" "oci-archive:$tmp:$name" >/dev/null
  mv "$tmp" "$(archive "$name")"
  buildah_ rmi --force "$name" >/dev/null 2>&1 || true
  log "$name -> $(archive "$name") ($(du -k "$(archive "$name")" | cut -f1) KiB)"
}

build() {
  check_names
  need_buildah
  mkdir -p "$OUT"
  log "building static ferrovault-webhook and ferrovault-agent ($TARGET, crt-static) in $STATIC_TARGET_DIR"
  # --target makes RUSTFLAGS apply to the binaries only, not to build scripts and proc macros.
  # One cargo invocation per binary: built together, the agent would get every dependency feature
  # the webhook turns on (cargo unifies features across the packages of one build): 8.6 MB instead
  # of 7.2 MB (issue #14).
  # The agent with the `small` profile (fat LTO, one codegen unit): its size is a goal.
  local package profile
  for package in ferrovault-webhook:release ferrovault-agent:small; do
    profile="${package#*:}"; package="${package%:*}"
    (cd "$ROOT" && CARGO_TARGET_DIR="$STATIC_TARGET_DIR" RUSTFLAGS="-C target-feature=+crt-static" \
      nice -n 10 "$CARGO" build --profile "$profile" --locked --target "$TARGET" -p "$package")
  done
  local webhook="$STATIC_TARGET_DIR/$TARGET/release/ferrovault-webhook"
  local agent="$STATIC_TARGET_DIR/$TARGET/small/ferrovault-agent" context bundle b
  for b in "$webhook" "$agent"; do
    if ! file_is_static "$b"; then log "$b is not statically linked"; exit 1; fi
  done
  log "binaries: ferrovault-webhook $(stat -c %s "$webhook") bytes, ferrovault-agent $(stat -c %s "$agent") bytes"
  context="$(mktemp -d)"
  trap 'rm -rf "$context"' RETURN
  cp "$webhook" "$agent" "$context/"
  bundle=/etc/ssl/certs/ca-certificates.crt
  if [ -f "$bundle" ]; then cp "$bundle" "$context/"; else : > "$context/ca-certificates.crt"; fi
  local source="https://github.com/ferrovault/ferrovault"
  bud_push "$ROOT/Containerfile" "$context" webhook "$WEBHOOK_IMAGE" \
    --build-arg "VERSION=$VERSION" --build-arg "SOURCE=$source"
  bud_push "$ROOT/Containerfile" "$context" agent "$AGENT_IMAGE" \
    --build-arg "VERSION=$VERSION" --build-arg "SOURCE=$source"
}

file_is_static() { # no program interpreter (PT_INTERP) = nothing for a dynamic loader to do
  ! LC_ALL=C readelf -l "$1" 2>/dev/null | grep -q 'Requesting program interpreter'
}

test_images() {
  check_names
  need_buildah
  mkdir -p "$OUT"
  local context busybox
  context="$(mktemp -d)"
  trap 'rm -rf "$context"' RETURN
  command -v gcc >/dev/null || { log "gcc is needed for the pause image: apt-get install gcc libc6-dev"; exit 1; }
  gcc -static -Os -s -o "$context/pause" "$ROOT/tests/images/pause.c"
  busybox="$(command -v busybox || true)"
  if [ -z "$busybox" ] || ! file_is_static "$busybox"; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      log "installing busybox-static (Debian package) for the stand-in app image"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends busybox-static >&2
    fi
    busybox="$(command -v busybox || true)"
  fi
  if [ -z "$busybox" ] || ! file_is_static "$busybox"; then
    log "a static busybox is needed for the stand-in app image: apt-get install busybox-static"
    exit 1
  fi
  cp "$busybox" "$context/busybox"
  echo "moscow-time stand-in" > "$context/index.html"
  bud_push "$ROOT/tests/images/Containerfile" "$context" pause "$PAUSE_IMAGE"
  bud_push "$ROOT/tests/images/Containerfile" "$context" standin-app "$STANDIN_IMAGE"
}

names() {
  check_names
  echo "WEBHOOK_IMAGE=$WEBHOOK_IMAGE"
  echo "AGENT_IMAGE=$AGENT_IMAGE"
  echo "PAUSE_IMAGE=$PAUSE_IMAGE"
  echo "STANDIN_IMAGE=$STANDIN_IMAGE"
  local n
  for n in WEBHOOK AGENT PAUSE STANDIN; do
    local var="${n}_IMAGE"
    echo "${n}_ARCHIVE=$(archive "${!var}")"
  done
}

load() {
  local socket="${1:?usage: $0 load CONTAINERD_SOCKET}" name
  for name in "$WEBHOOK_IMAGE" "$AGENT_IMAGE" "$PAUSE_IMAGE" "$STANDIN_IMAGE"; do
    if [ -f "$(archive "$name")" ]; then
      ctr --address "$socket" -n k8s.io images import "$(archive "$name")" >/dev/null
      log "loaded $name"
    fi
  done
}

case "${1:-build}" in
  build) build ;;
  test-images) test_images ;;
  all) build; test_images ;;
  names) names ;;
  load) load "${2:-}" ;;
  *) log "usage: $0 [build|test-images|all|names|load SOCKET]"; exit 2 ;;
esac
