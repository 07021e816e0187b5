#!/usr/bin/env bash
# load.sh — the release webhook beside a peer server under the same load (issue #14).
#
# Both servers run on 127.0.0.1 with the same generated certificate, pinned to CPU 0; h2load (Debian's
# nghttp2-client) runs on CPU 1 and POSTs the same AdmissionReview (the seed pod's, bench/reviews.py)
# over TLS, HTTP/2, CLIENTS connections. For each round and each load — fixed rates (h2load --rps,
# RATES in total) and a closed loop (CLIENTS requests in flight, as fast as answered) — the servers
# take turns (alternating which goes first), each for DURATION seconds after a 2 s warm-up.
# Reported per run: req/s served, latency p50/p90/p99/p99.9/max (from h2load's per-request log),
# server CPU (utime+stime from /proc/PID/stat) per 10,000 requests, RSS after the run and its peak.
# Without --peer only ours runs. Only 127.0.0.1 is used; every process started is stopped on exit.
#
# The peer: any server taking `--listen ADDR --tls-cert-file F --tls-key-file F` that answers
# POST /mutate (e.g. vault-k8s's agent-inject Handler behind net/http, built outside this repo).
#
# --ours BIN runs that webhook binary instead of building the release one (to compare two builds).
#
# Usage: bench/load.sh [--peer BIN] [--ours BIN] [--rates 500,1000,2000] [--duration 15] [--clients 10]
#                      [--rounds 2] [--h1] [--body seed|large] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

PEER=""
OURS=""
RATES=500,1000,2000
DURATION=15
CLIENTS=10
ROUNDS=2
H1=()
BODY=seed
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --peer) PEER="$2"; shift 2 ;;
    --ours) OURS="$2"; shift 2 ;;
    --rates) RATES="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --clients) CLIENTS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --h1) H1=(--h1); shift ;;
    --body) BODY="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
log() { echo "load: $*" >&2; }
die() { log "$*"; exit 1; }
command -v h2load >/dev/null || die "h2load is needed: apt-get install nghttp2-client"
[ "$(nproc)" -ge 2 ] || die "two CPUs are needed (server on one, load generator on the other)"

TARGET="${CARGO_TARGET_DIR:-${FERROVAULT_CACHE:-$HOME/.cache/ferrovault}/target}"
if [ -n "$OURS" ]; then
  [ -x "$TARGET/release/ferrovault-certs" ] || cargo build --release --locked -q -p ferrovault-certs
else
  log "building the release webhook"
  cargo build --release --locked -q -p ferrovault-webhook -p ferrovault-certs
fi
OUT="${OUT:-$(mktemp -d /tmp/ferrovault-load.XXXXXX)}"
mkdir -p "$OUT"
cp "${OURS:-$TARGET/release/ferrovault-webhook}" "$OUT/ferrovault-webhook"
"$TARGET/release/ferrovault-certs" generate --force --service bench --namespace bench --out "$OUT/certs" \
  --ip 127.0.0.1 --dns localhost >/dev/null 2>&1
python3 bench/reviews.py "$OUT"

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

declare -A PORT PID
start() { # NAME CMD…  (logs at each server's default level, info, to a file)
  local name="$1"; shift
  PORT[$name]=$(free_port)
  taskset -c 0 "$@" --listen "127.0.0.1:${PORT[$name]}" --tls-cert-file "$OUT/certs/tls.crt" \
    --tls-key-file "$OUT/certs/tls.key" >"$OUT/$name.log" 2>&1 &
  PID[$name]=$!; PIDS+=("${PID[$name]}")
  for _ in $(seq 100); do
    curl -sk -o /dev/null "https://127.0.0.1:${PORT[$name]}/health/ready" && return
    sleep 0.1
  done
  die "$name did not start: $(tail -5 "$OUT/$name.log")"
}
start ours "$OUT/ferrovault-webhook" serve --vault-address https://vault.vault.svc:8200 --native-sidecar never
SERVERS=(ours)
if [ -n "$PEER" ]; then
  start peer "$PEER" --vault-address https://vault.vault.svc:8200
  SERVERS+=(peer)
fi
for s in "${SERVERS[@]}"; do
  code=$(curl -sk -o "$OUT/$s.answer.json" -w '%{http_code}' -H 'content-type: application/json' \
    --data-binary "@$OUT/$BODY.json" "https://127.0.0.1:${PORT[$s]}/mutate")
  [ "$code" = 200 ] && grep -q '"patch"' "$OUT/$s.answer.json" || die "$s did not answer with a patch ($code)"
done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }

# one SERVER LOAD ROUND: one measured run; appends a line to runs.tsv
one() {
  local s="$1" load="$2" round="$3" url="https://127.0.0.1:${PORT[$1]}/mutate" args before after
  if [ "$load" = closed ]; then args=(-c "$CLIENTS" -m 1); else args=(-c "$CLIENTS" -m 1 --rps "$((load / CLIENTS))"); fi
  taskset -c 1 h2load "${H1[@]}" "${args[@]}" -D 2 -H 'content-type: application/json' -d "$OUT/$BODY.json" \
    "$url" >/dev/null 2>&1 || true
  before=$(ticks "${PID[$s]}")
  rm -f "$OUT/req.log"
  taskset -c 1 h2load "${H1[@]}" "${args[@]}" -D "$DURATION" --log-file "$OUT/req.log" \
    -H 'content-type: application/json' -d "$OUT/$BODY.json" "$url" >"$OUT/h2load.$s.$load.$round.txt" 2>&1 || true
  after=$(ticks "${PID[$s]}")
  python3 - "$OUT/req.log" "$OUT/h2load.$s.$load.$round.txt" "$s" "$load" "$round" "$DURATION" \
    "$((after - before))" "$(kib "${PID[$s]}" VmRSS)" "$(kib "${PID[$s]}" VmHWM)" >>"$OUT/runs.tsv" <<'PY'
import re, sys
log, txt, server, load, rnd, duration, ticks, rss, hwm = sys.argv[1:]
rows = [l.split("\t") for l in open(log) if l.strip()]
ok = sorted(int(r[2]) for r in rows if r[1].startswith("2"))
failed = len(rows) - len(ok)
text = open(txt).read()
m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", text)
if m:
    failed = max(failed, int(m.group(4)))
def pct(p):
    return ok[min(len(ok) - 1, int(len(ok) * p))] / 1000 if ok else float("nan")
cpu_ms = int(ticks) * 10
per10k = cpu_ms * 10000 / len(ok) if ok else float("nan")
print("\t".join(str(x) for x in (
    load, server, rnd, f"{len(ok) / int(duration):.0f}", f"{pct(0.5):.2f}", f"{pct(0.9):.2f}",
    f"{pct(0.99):.2f}", f"{pct(0.999):.2f}", f"{ok[-1] / 1000 if ok else float('nan'):.2f}",
    f"{per10k:.0f}", f"{int(rss) / 1024:.1f}", f"{int(hwm) / 1024:.1f}", failed)))
PY
  tail -1 "$OUT/runs.tsv" | awk -F'\t' '{printf "load: %-6s %-4s round %s: %s req/s, p50 %s ms, p99 %s ms, p99.9 %s ms, CPU %s ms/10k, RSS %s MiB, failed %s\n", $1, $2, $3, $4, $5, $7, $8, $10, $11, $13}' >&2
}

IFS=, read -ra rates <<<"$RATES"
loads=("${rates[@]}" closed)
log "body $BODY, ${#SERVERS[@]} server(s), loads ${loads[*]} (req/s; closed = $CLIENTS in flight), ${DURATION}s each, $ROUNDS round(s); uptime: $(uptime)"
: >"$OUT/runs.tsv"
for round in $(seq "$ROUNDS"); do
  for load in "${loads[@]}"; do
    order=("${SERVERS[@]}")
    if [ $(( round % 2 )) = 0 ] && [ "${#SERVERS[@]}" = 2 ]; then order=("${SERVERS[1]}" "${SERVERS[0]}"); fi
    for s in "${order[@]}"; do one "$s" "$load" "$round"; done
  done
done
log "uptime at the end: $(uptime)"

python3 - "$OUT/runs.tsv" <<'PY' | tee "$OUT/summary.md"
import collections, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
groups = collections.OrderedDict()
for r in rows:
    groups.setdefault((r[0], r[1]), []).append(r)
print("| load | server | runs | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | CPU ms / 10k req | RSS MiB (peak) | failed |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
def med(rs, i):
    return statistics.median(float(r[i]) for r in rs)
for (load, server), rs in groups.items():
    label = f"{load} req/s" if load != "closed" else "closed loop"
    worst99 = max(float(r[6]) for r in rs)
    print(f"| {label} | {server} | {len(rs)} | {med(rs, 3):.0f} | {med(rs, 4):.2f} | {med(rs, 5):.2f} | "
          f"{med(rs, 6):.2f} (worst {worst99:.2f}) | {med(rs, 7):.2f} | {max(float(r[8]) for r in rs):.1f} | "
          f"{med(rs, 9):.0f} | {med(rs, 10):.1f} ({max(float(r[11]) for r in rs):.1f}) | {sum(int(r[12]) for r in rs)} |")
PY
log "medians over rounds; details in $OUT (runs.tsv, h2load.*.txt)"
