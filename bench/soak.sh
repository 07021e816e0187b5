#!/usr/bin/env bash
# soak.sh — the webhook (release build) under a fixed-rate load for a long time, with its RSS, open
# file descriptors and CPU sampled throughout (issue #8).
#
#   * main load: h2load (Debian's nghttp2-client) POSTing the seed pod's AdmissionReview over TLS
#     at RATE requests/s in total (CLIENTS connections, HTTP/2), for DURATION;
#   * side load at the same time: SIDE_RATE requests/s of a ~1.3 MB review (1,000 containers,
#     1,500 secrets) and a 2.5 MB body that is not JSON, the kind of input that grew RSS before;
#   * the server pinned to CPU 0, the load generators to CPU 1 (when there are 2 CPUs or more).
# /health/ready is probed once a second throughout. Every process it starts is stopped on exit;
# only 127.0.0.1 is used. Prints a summary and leaves samples.csv (t, rss_kib, fds, cpu_ticks) and
# health.csv (t, ms) in the output directory.
#
# Usage: bench/soak.sh [--rate 1000] [--clients 10] [--duration 600] [--side-rate 2] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=1000
CLIENTS=10
DURATION=600
SIDE_RATE=2
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE="$2"; shift 2 ;;
    --clients) CLIENTS="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --side-rate) SIDE_RATE="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
die() { echo "soak: $*" >&2; exit 1; }
log() { echo "soak: $*" >&2; }

if ! command -v h2load >/dev/null; then
  log "installing h2load (nghttp2-client) from Debian"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nghttp2-client >/dev/null \
    || die "h2load is needed: apt-get install nghttp2-client"
fi
TARGET="${CARGO_TARGET_DIR:-${FERROVAULT_CACHE:-$HOME/.cache/ferrovault}/target}"
log "building the release webhook"
cargo build --release --locked -q -p ferrovault-webhook -p ferrovault-certs
BIN="$TARGET/release/ferrovault-webhook"
OUT="${OUT:-$(mktemp -d /tmp/ferrovault-soak.XXXXXX)}"
mkdir -p "$OUT"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

"$TARGET/release/ferrovault-certs" generate --service soak --namespace bench --out "$OUT/certs" \
  --ip 127.0.0.1 --dns localhost >/dev/null
python3 - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
ann = {
    "vault.hashicorp.com/agent-inject": "true",
    "vault.hashicorp.com/role": "internal-app",
    "vault.hashicorp.com/agent-inject-secret-database-config.txt": "secret/my-secret",
    "vault.hashicorp.com/agent-inject-template-database-config.txt":
        "{{- with secret \"secret/my-secret\" -}}\npostgresql://{{ .Data.username }}:{{ .Data.password }}@postgres:5432/wizard\n{{- end }}\n",
}
def review(annotations, containers):
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "soak", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": "default",
        "operation": "CREATE", "userInfo": {"username": "soak"},
        "object": {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "moscow-python-0", "namespace": "default", "annotations": annotations},
                   "spec": {"serviceAccountName": "internal-app", "containers": containers,
                            "volumes": [{"name": "kube-api-access-abcde", "projected": {"sources": [
                                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}}]}}]}}}}
mount = [{"name": "kube-api-access-abcde", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": True}]
seed = review(ann, [{"name": "moscow-time-python", "image": "raleksan/app_python:v0.1", "volumeMounts": mount}])
json.dump(seed, open(f"{out}/seed.json", "w"))
big_ann = dict(ann)
for i in range(1500):
    big_ann[f"vault.hashicorp.com/agent-inject-secret-s{i}"] = f"kv/data/s{i}"
big = review(big_ann, [{"name": f"c{i}", "image": "busybox", "volumeMounts": mount} for i in range(1000)])
json.dump(big, open(f"{out}/big.json", "w"))
open(f"{out}/garbage.json", "w").write("[" * 1000 + "x" * (2500 * 1024))
EOF

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PIN_SERVER=(); PIN_LOAD=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then PIN_SERVER=(taskset -c 0); PIN_LOAD=(taskset -c 1); fi
"${PIN_SERVER[@]}" "$BIN" serve --listen "127.0.0.1:$PORT" --vault-address https://vault.vault.svc:8200 \
  --tls-cert-file "$OUT/certs/tls.crt" --tls-key-file "$OUT/certs/tls.key" --native-sidecar never \
  --log-level warn >"$OUT/webhook.log" 2>&1 &
SERVER=$!; PIDS+=("$SERVER")
for _ in $(seq 100); do
  curl -sk -o /dev/null "https://127.0.0.1:$PORT/health/ready" && break
  sleep 0.1
done
kill -0 "$SERVER" 2>/dev/null || die "the webhook did not start: $(cat "$OUT/webhook.log")"

sample() {
  local t=0
  echo "t,rss_kib,fds,cpu_ticks" >"$OUT/samples.csv"
  while kill -0 "$SERVER" 2>/dev/null; do
    local rss fds cpu
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER/status" 2>/dev/null || echo 0)
    fds=$(ls "/proc/$SERVER/fd" 2>/dev/null | wc -l)
    cpu=$(awk '{print $14 + $15}' "/proc/$SERVER/stat" 2>/dev/null || echo 0)
    echo "$t,$rss,$fds,$cpu" >>"$OUT/samples.csv"
    sleep 5; t=$((t + 5))
  done
}
sample & PIDS+=($!)

# /health/ready answered while the load runs: one probe a second, its total time in ms.
probe() {
  echo "t,health_ms" >"$OUT/health.csv"
  local t=0
  while kill -0 "$SERVER" 2>/dev/null; do
    local ms
    ms=$(curl -sk -o /dev/null -w '%{time_total}' --max-time 10 "https://127.0.0.1:$PORT/health/ready" \
      | awk '{printf "%.1f", $1 * 1000}')
    echo "$t,$ms" >>"$OUT/health.csv"
    sleep 1; t=$((t + 1))
  done
}
probe & PIDS+=($!)

URL="https://127.0.0.1:$PORT/mutate"
HDR=(-H 'content-type: application/json')
log "load: $RATE req/s of the seed review for ${DURATION}s on $CLIENTS connections, side load $SIDE_RATE req/s"
"${PIN_LOAD[@]}" h2load -c "$CLIENTS" --rps "$((RATE / CLIENTS))" -D "$DURATION" -d "$OUT/seed.json" \
  "${HDR[@]}" "$URL" >"$OUT/main.txt" 2>&1 &
MAIN=$!; PIDS+=("$MAIN")
if [ "$SIDE_RATE" -gt 0 ]; then
  "${PIN_LOAD[@]}" h2load -c 1 --rps "$SIDE_RATE" -D "$DURATION" -d "$OUT/big.json" "${HDR[@]}" "$URL" \
    >"$OUT/side-big.txt" 2>&1 & PIDS+=($!)
  "${PIN_LOAD[@]}" h2load -c 1 --rps 1 -D "$DURATION" -d "$OUT/garbage.json" "${HDR[@]}" "$URL" \
    >"$OUT/side-garbage.txt" 2>&1 & PIDS+=($!)
fi
wait "$MAIN" || true
sleep 6
kill -0 "$SERVER" 2>/dev/null || die "the webhook died during the soak: $(tail -5 "$OUT/webhook.log")"

summary() {
  python3 - "$OUT" "$RATE" "$DURATION" <<'EOF'
import csv, re, sys
out, rate, duration = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = list(csv.DictReader(open(f"{out}/samples.csv")))
rss = [int(r["rss_kib"]) for r in rows if r["rss_kib"] != "0"]
fds = [int(r["fds"]) for r in rows]
ticks = int(rows[-1]["cpu_ticks"]) - int(rows[0]["cpu_ticks"]) if rows else 0
def h2(name):
    text = open(f"{out}/{name}").read()
    req = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", text)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    lat = re.search(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", text)
    rps = re.search(r"finished in \S+, ([\d.]+) req/s", text)
    return req, codes, lat, rps
req, codes, lat, rps = h2("main.txt")
print(f"target {rate} req/s for {duration} s; served {rps.group(1) if rps else '?'} req/s")
if req: print(f"main: {req.group(1)} requests, {req.group(4)} succeeded, {req.group(5)} failed, {req.group(6)} errored")
if codes: print(f"main status codes: 2xx {codes.group(1)}, 4xx {codes.group(3)}, 5xx {codes.group(4)}")
if lat: print(f"main latency: min {lat.group(1)}, max {lat.group(2)}, mean {lat.group(3)}, sd {lat.group(4)}")
for side in ("side-big.txt", "side-garbage.txt"):
    try:
        r, c, l, _ = h2(side)
        print(f"{side[:-4]}: {r.group(4)} succeeded, {r.group(5)} failed; codes 2xx {c.group(1)} 4xx {c.group(3)} 5xx {c.group(4)}; max {l.group(2)}")
    except (OSError, AttributeError):
        pass
if rss:
    print(f"RSS KiB: first {rss[0]}, peak {max(rss)}, last {rss[-1]}, last 10% median {sorted(rss[-max(1, len(rss)//10):])[len(rss[-max(1, len(rss)//10):])//2]}")
if fds:
    print(f"open fds: first {fds[0]}, peak {max(fds)}, last {fds[-1]}")
print(f"server CPU: {ticks / 100:.1f} s over the run")
try:
    health = sorted(float(r["health_ms"]) for r in csv.DictReader(open(f"{out}/health.csv")) if r["health_ms"])
    if health:
        p99 = health[min(len(health) - 1, int(len(health) * 0.99))]
        print(f"/health/ready (curl, new TLS connection each probe): {len(health)} probes, median {health[len(health)//2]} ms, p99 {p99} ms, max {health[-1]} ms")
except OSError:
    pass
EOF
}
summary | tee "$OUT/summary.txt"
log "details in $OUT"
