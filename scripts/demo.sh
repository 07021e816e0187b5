#!/usr/bin/env bash
# The seed's story on one machine, no cluster needed:
#   OpenBao dev server (127.0.0.1) with the seed's secret on a KV v1 mount at secret/
#   → helm template of charts/moscow-time (the seed's StatefulSet) → one of its pods
#   → ferrovault-webhook inject (exactly what the API server would get back)
#   → ferrovault-agent run with the injected init container's args and env
#   → /vault/secrets/database-config.txt (re-rooted into a temp dir)
# Kubernetes auth needs an API server to review tokens; here the auth mount `auth/kubernetes` is a JWT
# method that checks a service-account-shaped token signed by a key made for the demo — the login
# request is byte-for-byte the one the kubernetes method receives. `make demo-cluster` runs the same
# story against a real kube-apiserver.
# Everything started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/install-tools.sh)"

# bold headings on a terminal only (never escape codes in a CI log or a file); NO_COLOR turns them off
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
  say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
else
  say() { printf '\n==> %s\n' "$*"; }
fi

say "building ferrovault-webhook and ferrovault-agent (a few minutes the first time)"
cargo build --locked -p ferrovault-webhook -p ferrovault-agent
BIN="${CARGO_TARGET_DIR:-target}/debug"

WORK=$(mktemp -d)
BAO_PID=""
cleanup() {
  if [ -n "$BAO_PID" ]; then kill "$BAO_PID" 2>/dev/null || true; wait "$BAO_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export BAO_ADDR="http://127.0.0.1:$PORT"
export BAO_TOKEN
BAO_TOKEN="demo-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"

say "starting OpenBao dev server on $BAO_ADDR"
"$BAO_BIN" server -dev -dev-root-token-id="$BAO_TOKEN" -dev-listen-address="127.0.0.1:$PORT" \
  >"$WORK/bao.log" 2>&1 &
BAO_PID=$!
for _ in $(seq 1 100); do
  if "$BAO_BIN" status >/dev/null 2>&1; then break; fi
  sleep 0.1
done
"$BAO_BIN" status >/dev/null

say "writing the seed's secret: KV version 1 at secret/, secret/my-secret = alice / s3cr3t"
"$BAO_BIN" secrets disable secret >/dev/null
"$BAO_BIN" secrets enable -path=secret -version=1 kv >/dev/null
"$BAO_BIN" kv put secret/my-secret username=alice password=s3cr3t >/dev/null
printf 'path "secret/my-secret" { capabilities = ["read"] }\n' | "$BAO_BIN" policy write internal-app - >/dev/null

say "auth/kubernetes: role internal-app for ServiceAccount default/internal-app"
openssl genrsa -out "$WORK/sa.key" 2048 2>/dev/null
openssl rsa -in "$WORK/sa.key" -pubout -out "$WORK/sa.pub" 2>/dev/null
"$BAO_BIN" auth enable -path=kubernetes jwt >/dev/null
"$BAO_BIN" write auth/kubernetes/config jwt_validation_pubkeys=@"$WORK/sa.pub" >/dev/null
"$BAO_BIN" write auth/kubernetes/role/internal-app role_type=jwt user_claim=sub \
  bound_audiences=vault bound_subject=system:serviceaccount:default:internal-app \
  token_policies=internal-app token_ttl=1h >/dev/null
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
now=$(date +%s)
header=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
payload=$(printf '{"iss":"https://kubernetes.default.svc","sub":"system:serviceaccount:default:internal-app","aud":["vault"],"iat":%d,"nbf":%d,"exp":%d,"kubernetes.io":{"namespace":"default","serviceaccount":{"name":"internal-app"}}}' \
  "$now" "$now" "$((now + 3600))" | b64url)
sig=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign "$WORK/sa.key" | b64url)
ROOT="$WORK/root"
mkdir -p "$ROOT/var/run/secrets/kubernetes.io/serviceaccount" "$WORK/home"
printf '%s.%s.%s' "$header" "$payload" "$sig" > "$ROOT/var/run/secrets/kubernetes.io/serviceaccount/token"

say "helm template charts/moscow-time (vault.enabled=true) | ferrovault-webhook inject"
"$HELM_BIN" template moscow-python charts/moscow-time > "$WORK/chart.yaml"
grep -n 'vault.hashicorp.com' "$WORK/chart.yaml" | sed 's/^/    /'
"$BIN/ferrovault-webhook" inject --file "$WORK/chart.yaml" --select StatefulSet/moscow-python \
  --vault-address "$BAO_ADDR" --output patch > "$WORK/patch.json"
"$BIN/ferrovault-webhook" inject --file "$WORK/chart.yaml" --select StatefulSet/moscow-python \
  --vault-address "$BAO_ADDR" > "$WORK/pod.json"

say "the patch the API server would apply (RFC 6902)"
python3 - "$WORK/patch.json" <<'PY'
import json, sys
for op in json.load(open(sys.argv[1])):
    v = op.get("value")
    what = v.get("name", "") if isinstance(v, dict) else (v[0].get("name", "") if isinstance(v, list) and v and isinstance(v[0], dict) else v)
    print(f"    {op['op']:<7} {op['path']:<70} {what}")
PY

say "running the injected init container's command locally: ferrovault-agent init"
python3 - "$WORK/pod.json" "$WORK/agent.env" "$WORK/agent.args" <<'PY'
import json, shlex, sys
pod = json.load(open(sys.argv[1]))
init = next(c for c in pod["spec"]["initContainers"] if c["name"] == "vault-agent-init")
with open(sys.argv[2], "w") as f:
    for e in init.get("env", []):
        if "value" in e:
            f.write(f"{e['name']}={e['value']}\n")
open(sys.argv[3], "w").write(" ".join(shlex.quote(a) for a in init["args"]))
print("    command:", init["command"], "args:", init["args"])
print("    image:", init["image"], " securityContext:", json.dumps(init.get("securityContext", {})))
PY
(
  set -a; . "$WORK/agent.env"; set +a
  # shellcheck disable=SC2046
  "$BIN/ferrovault-agent" $(cat "$WORK/agent.args") --secrets-root "$ROOT" --home "$WORK/home" \
    --token-path "$ROOT/var/run/secrets/kubernetes.io/serviceaccount/token" --init-timeout 60s
)

say "$ROOT/vault/secrets/database-config.txt:"
cat "$ROOT/vault/secrets/database-config.txt"
echo
ls -l "$ROOT/vault/secrets/"
