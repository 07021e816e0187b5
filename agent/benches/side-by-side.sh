#!/usr/bin/env bash
# side-by-side.sh - ferrovault-agent vs OpenBao agent (bao agent), init mode, same dev server,
# same AppRole, same KV v2 secrets, the annotation-style template, 1/10/100 templates.
# Measures wall time start->exit and peak RSS (GNU time) and checks every rendered file.
# Then runs both as sidecars with the largest count and samples steady RSS.
#
# Needs: bash, curl, python3, GNU time, `bao` (BAO_BIN or scripts/install-tools.sh) and a release
# build of ferrovault-agent (built here if missing). Only 127.0.0.1 is used; every process started
# is tracked by PID and stopped on exit.
#
# Usage: agent/benches/side-by-side.sh [--reps N] [--counts "1 10 100"] [--port P] [--settle S]
set -euo pipefail

REPS=7; COUNTS="1 10 100"; PORT=18299; SETTLE=10
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) REPS="$2"; shift 2 ;;
    --counts) COUNTS="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --settle) SETTLE="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
die() { echo "side-by-side: $*" >&2; exit 1; }

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${BAO_BIN:-}" ]; then eval "$("$ROOT/scripts/install-tools.sh")"; fi
AGENT_BIN="${AGENT_BIN:-$ROOT/target/release/ferrovault-agent}"
[ -x "$AGENT_BIN" ] || (cd "$ROOT" && cargo build --release -p ferrovault-agent) || die "build failed"
[ -x /usr/bin/time ] || die "GNU time missing"

ADDR="http://127.0.0.1:$PORT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/side-by-side.XXXXXX")
SERVER_PID=""; SIDE_PID=""
stop_pid() {
  local pid="$1"; [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() { stop_pid "$SIDE_PID"; stop_pid "$SERVER_PID"; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

curl -s -o /dev/null --max-time 1 "$ADDR/v1/sys/health" && die "$ADDR is taken; use --port"
"$BAO_BIN" server -dev -dev-root-token-id=root -dev-no-store-token \
  -dev-listen-address="127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 200); do
  curl -sf -o /dev/null --max-time 1 "$ADDR/v1/sys/health" && break
  kill -0 "$SERVER_PID" 2>/dev/null || die "server exited"
  sleep 0.1
done
api() {
  local args=(-sf --max-time 10 -H "X-Vault-Token: root" -X "$1")
  [ $# -ge 3 ] && args+=(-H "Content-Type: application/json" -d "$3")
  curl "${args[@]}" "$ADDR/v1/$2"
}
maxn=1; for n in $COUNTS; do [ "$n" -gt "$maxn" ] && maxn=$n; done
for i in $(seq 1 "$maxn"); do
  api POST "secret/data/bench/s$i" "{\"data\":{\"username\":\"user$i\",\"password\":\"pw$i\"}}" >/dev/null
done
api POST sys/auth/approle '{"type":"approle"}' >/dev/null
api PUT sys/policies/acl/bench '{"policy":"path \"secret/data/*\" { capabilities = [\"read\"] }"}' >/dev/null
api POST auth/approle/role/bench '{"token_policies":"bench","token_ttl":"1h"}' >/dev/null
api GET auth/approle/role/bench/role-id | python3 -c 'import json,sys;print(json.load(sys.stdin)["data"]["role_id"],end="")' >"$WORK/role_id"
api POST auth/approle/role/bench/secret-id '{}' | python3 -c 'import json,sys;print(json.load(sys.stdin)["data"]["secret_id"],end="")' >"$WORK/secret_id"

TEMPLATE='{{- with secret "secret/bench/sN" -}}\npostgresql://{{ .Data.data.username }}:{{ .Data.data.password }}@postgres:5432/wizard\n{{- end }}'

bao_config() { # N EXIT_AFTER_AUTH DEST
  cat <<EOF
exit_after_auth = $2
vault { address = "$ADDR" }
auto_auth {
  method "approle" {
    config = {
      role_id_file_path = "$WORK/role_id"
      secret_id_file_path = "$WORK/secret_id"
      remove_secret_id_file_after_reading = false
    }
  }
  sink "file" { config = { path = "$3/.vault-token" } }
}
template_config { exit_on_retry_failure = true }
EOF
  for i in $(seq 1 "$1"); do
    printf 'template {\n  contents = "%s"\n  destination = "%s"\n}\n' \
      "$(printf '%s' "${TEMPLATE//sN/s$i}" | sed 's/"/\\"/g')" "$3/database-config-$i.txt"
  done
}
ferro_config() { # N DEST
  python3 - "$1" "$2" "$ADDR" "$WORK" "$TEMPLATE" <<'PY'
import json, sys
n, dest, addr, work, tmpl = int(sys.argv[1]), *sys.argv[2:]
tmpl = tmpl.replace("\\n", "\n")
print(json.dumps({
  "version": 1,
  "vault": {"address": addr},
  "auto_auth": {"method": {"type": "approle", "mount_path": "auth/approle", "config": {
      "role_id_file_path": f"{work}/role_id", "secret_id_file_path": f"{work}/secret_id"}},
    "sinks": [{"path": "/home/vault/.vault-token"}]},
  "templates": [{"name": f"database-config-{i}.txt", "destination": f"{dest}/database-config-{i}.txt",
                 "contents": tmpl.replace("sN", f"s{i}")} for i in range(1, n + 1)],
  "template_config": {"exit_on_retry_failure": True},
  "secrets_dirs": [dest],
  "log": {"level": "warn", "format": "standard"},
}))
PY
}

RAW="$WORK/runs.tsv"; : >"$RAW"
run_one() { # AGENT N REP DEST cmd...
  local agent="$1" n="$2" rep="$3" dest="$4"; shift 4
  rm -rf "$dest"; mkdir -p "$dest"
  local t0 t1 rc
  t0=$(date +%s%N)
  set +e
  /usr/bin/time -v -o "$WORK/time.txt" timeout -k 5 120 "$@" >"$WORK/run.log" 2>&1; rc=$?
  set -e
  t1=$(date +%s%N)
  local got; got=$(cat "$dest/database-config-$n.txt" 2>/dev/null || true)
  [ "$rc" = 0 ] && [ "$(find "$dest" -name 'database-config-*.txt' | wc -l)" = "$n" ] \
    && [ "$got" = "postgresql://user$n:pw$n@postgres:5432/wizard" ] \
    || die "$agent n=$n rep=$rep failed (rc=$rc); log: $(head -c 2000 "$WORK/run.log")"
  printf '%s\t%s\t%s\t%s\n' "$agent" "$n" "$(( (t1 - t0) / 1000000 ))" \
    "$(awk -F': ' '/Maximum resident set size/{print $2}' "$WORK/time.txt")" >>"$RAW"
}
for n in $COUNTS; do
  bao_config "$n" true "$WORK/out-bao" >"$WORK/bao-$n.hcl"
  ferro_config "$n" "$WORK/out-ferro" >"$WORK/ferro-$n.json"
  for r in $(seq 1 "$REPS"); do
    run_one bao "$n" "$r" "$WORK/out-bao" "$BAO_BIN" agent -config="$WORK/bao-$n.hcl"
    run_one ferrovault "$n" "$r" "$WORK/out-ferro" "$AGENT_BIN" init --config "$WORK/ferro-$n.json" --home "$WORK/home"
  done
done

# Sidecars: steady RSS after all files exist.
side_rss() { # NAME DEST cmd...
  local name="$1" dest="$2"; shift 2
  rm -rf "$dest"; mkdir -p "$dest"
  "$@" >"$WORK/side-$name.log" 2>&1 &
  SIDE_PID=$!
  for _ in $(seq 1 600); do
    [ "$(find "$dest" -name 'database-config-*.txt' | wc -l)" = "$maxn" ] && break
    kill -0 "$SIDE_PID" 2>/dev/null || die "$name sidecar exited"
    sleep 0.05
  done
  sleep "$SETTLE"
  printf 'sidecar\t%s\t%s\t%s\n' "$name" "$(awk '/^VmRSS/{print $2}' "/proc/$SIDE_PID/status")" \
    "$(awk '/^Threads/{print $2}' "/proc/$SIDE_PID/status")" >>"$WORK/side.tsv"
  stop_pid "$SIDE_PID"; SIDE_PID=""
}
: >"$WORK/side.tsv"
bao_config "$maxn" false "$WORK/side-bao" >"$WORK/bao-side.hcl"
ferro_config "$maxn" "$WORK/side-ferro" >"$WORK/ferro-side.json"
side_rss bao "$WORK/side-bao" "$BAO_BIN" agent -config="$WORK/bao-side.hcl"
side_rss ferrovault "$WORK/side-ferro" "$AGENT_BIN" sidecar --config "$WORK/ferro-side.json" --home "$WORK/home"

python3 - "$RAW" "$WORK/side.tsv" "$BAO_BIN" "$AGENT_BIN" "$maxn" "$SETTLE" <<'PY'
import os, statistics, sys
raw, side, bao, agent, maxn, settle = sys.argv[1:7]
rows = [l.split("\t") for l in open(raw).read().split("\n") if l]
def mmm(v, f):
    v = sorted(v); return "/".join(f(x) for x in (v[0], statistics.median(v), v[-1]))
print(f"binaries: bao {os.path.getsize(bao)/2**20:.1f} MiB, ferrovault-agent {os.path.getsize(agent)/2**20:.1f} MiB")
print("Init mode, min/median/max")
print("| templates | agent | wall ms | peak RSS MiB |")
print("|---|---|---|---|")
for n in sorted({int(r[1]) for r in rows}):
    for a in ("bao", "ferrovault"):
        rs = [r for r in rows if r[0] == a and int(r[1]) == n]
        print(f"| {n} | {a} | {mmm([int(r[2]) for r in rs], lambda x: f'{x:.0f}')} | "
              f"{mmm([int(r[3])/1024 for r in rs], lambda x: f'{x:.1f}')} |")
print(f"Sidecar with {maxn} templates, VmRSS after {settle}s:")
for l in open(side).read().split("\n"):
    if l:
        _, name, rss, threads = l.split("\t")
        print(f"  {name}: {int(rss)/1024:.1f} MiB, {threads} threads")
PY
