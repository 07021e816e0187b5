#!/usr/bin/env bash
# instructions.sh — instructions per admission of the release webhook server, counted by valgrind's
# callgrind (issue #14): load-independent, so it is the number that shows regressions.
#
# For each body (the seed pod's AdmissionReview and the large pod's, from bench/reviews.py) the
# server is started twice under callgrind on 127.0.0.1 with a generated certificate; h2load sends
# WARMUP requests in one run and WARMUP+REQUESTS in the other, one at a time over one keep-alive TLS
# connection; the server is stopped with SIGTERM and callgrind's total is read. Start-up, the TLS
# handshake, the warm-up and the shutdown are the same in both runs, so
#     instructions per admission = (total₂ − total₁) / REQUESTS.
# --peer BIN measures a peer server the same way (bench/load.sh's peer: `BIN --listen ADDR
# --tls-cert-file F --tls-key-file F`, "listening" on stderr when ready). --keep leaves the callgrind
# files for `callgrind_annotate` (build with --profile profiling for symbols).
#
# Usage: bench/instructions.sh [--requests 500] [--warmup 100] [--h1] [--profile release]
#                              [--bodies seed,large] [--peer BIN] [--out DIR] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=500
WARMUP=100
PROTO=h2
PROFILE=release
BODIES=seed,large
PEER=""
OUT=""
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) REQUESTS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --h1) PROTO=h1; shift ;;
    --profile) PROFILE="$2"; shift 2 ;;
    --bodies) BODIES="$2"; shift 2 ;;
    --peer) PEER="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
log() { echo "instructions: $*" >&2; }
die() { log "$*"; exit 1; }
command -v valgrind >/dev/null || die "valgrind is needed: apt-get install valgrind"
command -v h2load >/dev/null || die "h2load is needed: apt-get install nghttp2-client"

TARGET="${CARGO_TARGET_DIR:-${FERROVAULT_CACHE:-$HOME/.cache/ferrovault}/target}"
log "building ferrovault-webhook and ferrovault-certs (cargo --profile $PROFILE)"
cargo build --profile "$PROFILE" --locked -q -p ferrovault-webhook -p ferrovault-certs
DIR="$PROFILE"; [ "$PROFILE" = dev ] && DIR=debug
OUT="${OUT:-$(mktemp -d /tmp/ferrovault-instructions.XXXXXX)}"
mkdir -p "$OUT"
# A copy: another checkout building into the same target directory cannot swap it mid-run.
cp "$TARGET/$DIR/ferrovault-webhook" "$OUT/ferrovault-webhook"
BIN="$OUT/ferrovault-webhook"
SERVER=""
cleanup() { if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi; }
trap cleanup EXIT

"$TARGET/$DIR/ferrovault-certs" generate --force --service bench --namespace bench --out "$OUT/certs" \
  --ip 127.0.0.1 --dns localhost >/dev/null
python3 bench/reviews.py "$OUT"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# run SERVER_KIND BODY N: sets TOTAL to callgrind's instruction total for a server that answered N
# requests (not in a subshell, so that the EXIT trap can stop a server left running)
run() {
  local kind="$1" body="$2" n="$3" port file ready cmd slog
  port=$(free_port)
  file="$OUT/callgrind.$kind.$body.$n.out"
  slog="$OUT/server.$kind.$body.$n.log"
  rm -f "$slog"
  if [ "$kind" = ours ]; then
    cmd=("$BIN" serve --listen "127.0.0.1:$port" --vault-address https://vault.vault.svc:8200
      --tls-cert-file "$OUT/certs/tls.crt" --tls-key-file "$OUT/certs/tls.key" --native-sidecar never)
    ready="ferrovault-webhook serving"
  else
    cmd=("$PEER" --listen "127.0.0.1:$port" --tls-cert-file "$OUT/certs/tls.crt"
      --tls-key-file "$OUT/certs/tls.key")
    ready="listening"
  fi
  # GODEBUG: Go's signal-based preemption trips callgrind (an assertion in its signal handling); it
  # changes scheduling only, not the work of a request. Rust ignores the variable.
  GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --callgrind-out-file="$file" "${cmd[@]}" \
    >"$slog" 2>&1 &
  SERVER=$!
  # Ready when the server says so (a probe request would add instructions of its own).
  for _ in $(seq 600); do
    grep -qs "$ready" "$slog" && break
    kill -0 "$SERVER" 2>/dev/null || die "the $kind server did not start: $(tail -5 "$slog")"
    sleep 0.1
  done
  grep -qs "$ready" "$slog" || die "the $kind server was not ready within 60 s"
  local h1=(); [ "$PROTO" = h1 ] && h1=(--h1)
  h2load "${h1[@]}" -n "$n" -c 1 -m 1 -H 'content-type: application/json' -d "$OUT/$body.json" \
    "https://127.0.0.1:$port/mutate" >"$OUT/h2load.txt" 2>&1 || true
  grep -q "status codes: $n 2xx" "$OUT/h2load.txt" \
    || die "not all $n requests answered 200: $(grep -E 'requests:|status codes:' "$OUT/h2load.txt")"
  kill -TERM "$SERVER"
  wait "$SERVER" 2>/dev/null || true
  SERVER=""
  TOTAL=$(awk '/^(summary|totals):/ {print $2; exit}' "$file")
  [ -n "$TOTAL" ] || die "no total in $file"
  [ "$KEEP" = 1 ] || rm -f "$file"
}

measure() {
  local kind="$1" body="$2" first second per
  log "$kind, $body pod ($PROTO): $WARMUP then $((WARMUP + REQUESTS)) requests under callgrind"
  run "$kind" "$body" "$WARMUP"; first=$TOTAL
  run "$kind" "$body" "$((WARMUP + REQUESTS))"; second=$TOTAL
  per=$(( (second - first) / REQUESTS ))
  printf '%-6s %-6s %-3s %14d %14d %12d\n' "$kind" "$body" "$PROTO" "$first" "$second" "$per" | tee -a "$OUT/result.txt"
}

printf '%-6s %-6s %-3s %14s %14s %12s\n' server body api "Ir($WARMUP)" "Ir($((WARMUP + REQUESTS)))" "Ir/admission" | tee "$OUT/result.txt"
IFS=, read -ra bodies <<<"$BODIES"
for body in "${bodies[@]}"; do
  measure ours "$body"
  [ -z "$PEER" ] || measure peer "$body"
done
log "details in $OUT"
