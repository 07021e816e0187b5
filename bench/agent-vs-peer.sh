#!/usr/bin/env bash
# agent-vs-peer.sh — ferrovault-agent and the peer (`bao agent`, OpenBao 2.7.2, Vault Agent compatible)
# side by side in ONE run, on the same OpenBao dev server, same AppRole, same templates.
#
# Extends ../shared/bench/peer-agent.sh (same method): a dev server on 127.0.0.1, N distinct KV v2
# secrets, each template the annotation-style
#   {{- with secret "secret/bench/sN" -}}\npostgresql://{{ .Data.data.username }}:…@postgres:5432/wizard\n{{- end }}
#   * init mode: wall time start→exit, peak RSS, user+sys CPU (GNU time -v), REPS runs, alternating
#     peer/ours, for 1, 10 and 100 templates; every run checks all N files and one file's content.
#   * sidecar mode (100 templates): time until all files exist, steady RSS over SETTLE s, idle CPU.
#   * binary size of both.
# Rendered files go to a memory-backed directory (/dev/shm, like the injected `medium: Memory`
# emptyDir; --render-dir to change) for both agents, so disk fsync latency is not what is measured.
# Every process it starts is stopped on exit; loops are bounded; only 127.0.0.1 is used.
#
# Usage: bench/agent-vs-peer.sh [--reps N] [--settle S] [--counts "1 10 100"] [--agent PATH] [--out DIR]
#                              [--render-dir DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=7
SETTLE=30
COUNTS="1 10 100"
AGENT=""
OUT=""
RENDER_BASE=/dev/shm
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) REPS="$2"; shift 2 ;;
    --settle) SETTLE="$2"; shift 2 ;;
    --counts) COUNTS="$2"; shift 2 ;;
    --agent) AGENT="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --render-dir) RENDER_BASE="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
die() { echo "agent-vs-peer: $*" >&2; exit 1; }

eval "$(scripts/install-tools.sh)"
if [ -z "$AGENT" ]; then
  cargo build --quiet --locked --release -p ferrovault-agent
  AGENT="${CARGO_TARGET_DIR:-target}/release/ferrovault-agent"
fi
[ -x "$AGENT" ] || die "not executable: $AGENT"
[ -x /usr/bin/time ] || die "GNU time missing (apt-get install time)"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ADDR="http://127.0.0.1:${PORT}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/agent-vs-peer.XXXXXX")
[ -d "$RENDER_BASE" ] && [ -w "$RENDER_BASE" ] || RENDER_BASE="$WORK"
RENDER=$(mktemp -d "$RENDER_BASE/agent-vs-peer-render.XXXXXX")
[ -n "$OUT" ] || OUT="$WORK/results"
mkdir -p "$OUT"
SERVER_PID=""; AGENT_PID=""
stop_pid() {
  local pid="$1"; [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() { stop_pid "$AGENT_PID"; stop_pid "$SERVER_PID"; rm -rf "$RENDER"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

"$BAO_BIN" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:${PORT}" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 200); do
  curl -sf -o /dev/null --max-time 1 "$ADDR/v1/sys/health" && break
  kill -0 "$SERVER_PID" 2>/dev/null || die "server exited"
  sleep 0.1
done
api() {
  local args=(-sf --max-time 10 -H "X-Vault-Token: root" -X "$1")
  if [ $# -ge 3 ]; then args+=(-H "Content-Type: application/json" -d "$3"); fi
  curl "${args[@]}" "$ADDR/v1/$2"
}
maxn=1; for n in $COUNTS; do [ "$n" -gt "$maxn" ] && maxn=$n; done
for i in $(seq 1 "$maxn"); do
  api POST "secret/data/bench/s$i" "{\"data\":{\"username\":\"user$i\",\"password\":\"pw$i\"}}" >/dev/null
done
api POST sys/auth/approle '{"type":"approle"}' >/dev/null
api PUT sys/policies/acl/bench '{"policy":"path \"secret/data/*\" { capabilities = [\"read\"] }\npath \"sys/internal/ui/mounts/*\" { capabilities = [\"read\"] }"}' >/dev/null
api POST auth/approle/role/bench '{"token_policies":"bench","token_ttl":"1h","token_max_ttl":"4h"}' >/dev/null
api GET auth/approle/role/bench/role-id | python3 -c 'import json,sys;print(json.load(sys.stdin)["data"]["role_id"],end="")' >"$WORK/role_id"
api POST auth/approle/role/bench/secret-id '{}' | python3 -c 'import json,sys;print(json.load(sys.stdin)["data"]["secret_id"],end="")' >"$WORK/secret_id"

# ---- configs: the peer's HCL and our contract JSON, same templates
peer_config() { # N EXIT_AFTER_AUTH DEST
  cat <<EOF
exit_after_auth = $2
vault { address = "$ADDR" }
auto_auth {
  method "approle" {
    config = {
      role_id_file_path                   = "$WORK/role_id"
      secret_id_file_path                 = "$WORK/secret_id"
      remove_secret_id_file_after_reading = false
    }
  }
  sink "file" { config = { path = "$WORK/peer-token" } }
}
template_config { exit_on_retry_failure = true }
EOF
  for i in $(seq 1 "$1"); do
    cat <<EOF
template {
  contents    = "{{- with secret \\"secret/bench/s$i\\" -}}\\npostgresql://{{ .Data.data.username }}:{{ .Data.data.password }}@postgres:5432/wizard\\n{{- end }}"
  destination = "$3/database-config-$i.txt"
}
EOF
  done
}
ours_config() { # N DEST
  python3 - "$1" "$2" "$ADDR" "$WORK" <<'PY'
import json, sys
n, dest, addr, work = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
print(json.dumps({
  "version": 1,
  "vault": {"address": addr},
  "auto_auth": {
    "method": {"type": "approle", "mount_path": "auth/approle", "config": {
      "role_id_file_path": f"{work}/role_id", "secret_id_file_path": f"{work}/secret_id",
      "remove_secret_id_file_after_reading": "false"}},
    "sinks": [{"path": f"{dest}/.token"}]},
  "templates": [{
    "name": f"database-config-{i}.txt",
    "destination": f"{dest}/database-config-{i}.txt",
    "contents": "{{- with secret \"secret/bench/s%d\" -}}\npostgresql://{{ .Data.data.username }}:{{ .Data.data.password }}@postgres:5432/wizard\n{{- end }}" % i,
    "left_delimiter": "{{", "right_delimiter": "}}"} for i in range(1, n + 1)],
  "template_config": {"exit_on_retry_failure": True},
  "secrets_dirs": [dest],
  "log": {"level": "warn", "format": "standard"},
  "revoke_on_shutdown": False,
}))
PY
}
to_ms() { echo $(( $1 / 1000000 )); }

RAW="$OUT/init-runs.tsv"
printf 'agent\ttemplates\trep\twall_ms\tpeak_rss_kb\tuser_s\tsys_s\n' >"$RAW"
run_init() { # WHO N REP
  local who="$1" n="$2" r="$3" dest="$RENDER/render-$1-$2" cmd
  rm -rf "$dest"; mkdir -p "$dest"
  if [ "$who" = peer ]; then
    peer_config "$n" true "$dest" >"$WORK/peer-$n.hcl"
    cmd=("$BAO_BIN" agent -config="$WORK/peer-$n.hcl")
  else
    ours_config "$n" "$dest" >"$WORK/ours-$n.json"
    cmd=("$AGENT" init --config "$WORK/ours-$n.json" --home "$WORK/home")
  fi
  local t0 t1 rc
  t0=$(date +%s%N)
  set +e
  /usr/bin/time -v -o "$WORK/time.txt" timeout -k 5 120 "${cmd[@]}" >"$WORK/$who-$n-$r.log" 2>&1
  rc=$?
  set -e
  t1=$(date +%s%N)
  local files got want="postgresql://user$n:pw$n@postgres:5432/wizard"
  files=$(find "$dest" -name 'database-config-*.txt' | wc -l)
  got=$(cat "$dest/database-config-$n.txt" 2>/dev/null || true)
  [ "$rc" = 0 ] && [ "$files" = "$n" ] && [ "$got" = "$want" ] || \
    die "$who init n=$n rep=$r failed (rc=$rc files=$files); log: $WORK/$who-$n-$r.log"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$who" "$n" "$r" "$(to_ms $((t1 - t0)))" \
    "$(awk -F': ' '/Maximum resident set size/{print $2}' "$WORK/time.txt")" \
    "$(awk -F': ' '/User time \(seconds\)/{print $2}' "$WORK/time.txt")" \
    "$(awk -F': ' '/System time \(seconds\)/{print $2}' "$WORK/time.txt")" >>"$RAW"
}
mkdir -p "$WORK/home"
for n in $COUNTS; do
  for r in $(seq 1 "$REPS"); do
    run_init peer "$n" "$r"
    run_init ours "$n" "$r"
  done
done

SIDE="$OUT/sidecar.tsv"
printf 'agent\trendered_ms\trss_min_kb\trss_median_kb\trss_max_kb\thwm_kb\tthreads\tidle_cpu_ms\n' >"$SIDE"
run_sidecar() { # WHO
  local who="$1" n="$maxn" dest="$RENDER/render-side-$1"
  rm -rf "$dest"; mkdir -p "$dest"
  if [ "$who" = peer ]; then
    peer_config "$n" false "$dest" >"$WORK/peer-side.hcl"
    "$BAO_BIN" agent -config="$WORK/peer-side.hcl" >"$WORK/peer-side.log" 2>&1 &
  else
    ours_config "$n" "$dest" >"$WORK/ours-side.json"
    "$AGENT" sidecar --config "$WORK/ours-side.json" --home "$WORK/home" >"$WORK/ours-side.log" 2>&1 &
  fi
  AGENT_PID=$!
  local t0 rendered="" ; t0=$(date +%s%N)
  for _ in $(seq 1 1200); do
    kill -0 "$AGENT_PID" 2>/dev/null || die "$who sidecar exited"
    if [ "$(find "$dest" -name 'database-config-*.txt' | wc -l)" = "$n" ]; then
      rendered=$(to_ms $(( $(date +%s%N) - t0 ))); break
    fi
    sleep 0.025
  done
  [ -n "$rendered" ] || die "$who sidecar: files not rendered in 30 s"
  local clk ticks0 ticks1 samples=()
  clk=$(getconf CLK_TCK)
  ticks0=$(awk '{print $14 + $15}' "/proc/$AGENT_PID/stat")
  for s in $(seq 0 "$SETTLE"); do
    samples+=("$(awk '/^VmRSS/{print $2}' "/proc/$AGENT_PID/status")")
    [ "$s" = "$SETTLE" ] || sleep 1
  done
  ticks1=$(awk '{print $14 + $15}' "/proc/$AGENT_PID/stat")
  local hwm threads
  hwm=$(awk '/^VmHWM/{print $2}' "/proc/$AGENT_PID/status")
  threads=$(awk '/^Threads/{print $2}' "/proc/$AGENT_PID/status")
  stop_pid "$AGENT_PID"; AGENT_PID=""
  python3 - "$who" "$rendered" "$hwm" "$threads" "$(( (ticks1 - ticks0) * 1000 / clk ))" "${samples[@]}" >>"$SIDE" <<'PY'
import statistics, sys
who, rendered, hwm, threads, idle, *s = sys.argv[1:]
s = sorted(int(x) for x in s)
print("\t".join(map(str, [who, rendered, s[0], int(statistics.median(s)), s[-1], hwm, threads, idle])))
PY
}
run_sidecar peer
run_sidecar ours

RENDER="$RENDER" python3 - "$RAW" "$SIDE" "$BAO_BIN" "$AGENT" "$SETTLE" "$maxn" <<'PY'
import csv, os, statistics, subprocess, sys
raw, side, bao, agent, settle, side_n = sys.argv[1:7]
rows = list(csv.DictReader(open(raw), delimiter="\t"))
def mmm(vals, f):
    vals = sorted(vals)
    return "/".join(f(v) for v in (vals[0], statistics.median(vals), vals[-1]))
med = lambda vals: statistics.median(vals)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"host: {os.cpu_count()} CPUs, {cpu}; rendered files on {os.environ.get('RENDER', '?')}")
print(f"peer: {subprocess.run([bao, 'version'], capture_output=True, text=True).stdout.strip()}")
print(f"binary size: peer {os.path.getsize(bao)/2**20:.1f} MiB, ferrovault-agent {os.path.getsize(agent)/2**20:.1f} MiB")
print()
print("Init mode, min/median/max over", len(rows) // (2 * len({r['templates'] for r in rows})), "runs each (alternating)")
print("| templates | agent | wall ms | peak RSS MiB | user+sys CPU ms | wall vs peer | RSS vs peer |")
print("|---|---|---|---|---|---|---|")
for n in sorted({int(r["templates"]) for r in rows}):
    stats = {}
    for who in ("peer", "ours"):
        rs = [r for r in rows if r["agent"] == who and int(r["templates"]) == n]
        wall = [int(r["wall_ms"]) for r in rs]
        rss = [int(r["peak_rss_kb"]) / 1024 for r in rs]
        c = [(float(r["user_s"]) + float(r["sys_s"])) * 1000 for r in rs]
        stats[who] = (med(wall), med(rss))
        rel = "" if who == "peer" else f"{stats['ours'][0] / stats['peer'][0]:.2f}× | {stats['ours'][1] / stats['peer'][1]:.3f}×"
        name = "bao agent" if who == "peer" else "ferrovault-agent"
        print(f"| {n} | {name} | {mmm(wall, lambda v: f'{v:.0f}')} | {mmm(rss, lambda v: f'{v:.1f}')} | {mmm(c, lambda v: f'{v:.0f}')} | {rel or '— | —'} |")
print()
print(f"Sidecar, {side_n} templates, RSS sampled 1/s over {settle} s")
print("| agent | all files after ms | VmRSS min/median/max MiB | VmHWM MiB | threads | CPU while idle ms |")
print("|---|---|---|---|---|---|")
for r in csv.DictReader(open(side), delimiter="\t"):
    name = "bao agent" if r["agent"] == "peer" else "ferrovault-agent"
    rss = "/".join(f"{int(r[k])/1024:.1f}" for k in ("rss_min_kb", "rss_median_kb", "rss_max_kb"))
    print(f"| {name} | {r['rendered_ms']} | {rss} | {int(r['hwm_kb'])/1024:.1f} | {r['threads']} | {r['idle_cpu_ms']} |")
PY
echo "raw data: $OUT"
