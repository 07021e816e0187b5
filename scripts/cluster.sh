#!/usr/bin/env bash
# `make cluster` / `make cluster-down`: a two-node Kubernetes cluster on this machine that stays up
# for a person to use (kubectl, helm, the README's commands), with OpenBao set up for the seed's
# pods. The work is done by the `ferrovault-cluster` test binary (the node harness of
# tests/src/node); this script runs it in the background and waits for it. Needs root.
#
#   scripts/cluster.sh up BIN    starts BIN (ferrovault-cluster) unless one runs, waits until the
#                                cluster is ready, prints the exports and the next commands
#   scripts/cluster.sh env       prints the exports (eval "$(scripts/cluster.sh env)")
#   scripts/cluster.sh down      stops it; the host is cleaned (scripts/node.sh check: nothing left)
#
# State: ${FERROVAULT_CACHE:-$HOME/.cache/ferrovault}/cluster (env, kubeconfig, log, pid).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${FERROVAULT_CACHE:-$HOME/.cache/ferrovault}/cluster"
READY_TIMEOUT=600
log() { echo "cluster: $*" >&2; }

running() { [ -f "$DIR/pid" ] && kill -0 "$(cat "$DIR/pid")" 2>/dev/null; }

next_steps() {
  cat <<EOT

The cluster is up: two nodes, OpenBao at $(. "$DIR/env"; echo "$VAULT_ADDR") with the seed's secret.
Set the environment of this shell:

  eval "\$(scripts/cluster.sh env)"

then, as README.md's "Try it on a local cluster" says:

  kubectl get nodes
  helm install ferrovault charts/ferrovault -n ferrovault-system --create-namespace \\
    --set externalVaultAddr="\$VAULT_ADDR"
  kubectl rollout status deployment/ferrovault -n ferrovault-system --timeout=5m
  helm install moscow-time charts/moscow-time -n moscow --create-namespace \\
    -f "\$FERROVAULT_CLUSTER/moscow-time-values.yaml" --set vault.enabled=true
  kubectl rollout status statefulset/moscow-time -n moscow --timeout=5m
  kubectl exec -n moscow moscow-time-0 -c moscow-time -- /bin/busybox cat /vault/secrets/database-config.txt

and when done: make cluster-down
EOT
}

up() {
  local bin="${1:?usage: $0 up BIN}"
  [ "$(id -u)" = 0 ] || { log "a node needs root (containerd, the kubelet, the host network)"; exit 1; }
  mkdir -p "$DIR"
  if running; then
    log "already running (pid $(cat "$DIR/pid")); make cluster-down stops it"
    next_steps
    return
  fi
  rm -f "$DIR/ready" "$DIR/stop" "$DIR/stopped" "$DIR/env"
  log "starting the cluster in the background (log: $DIR/log)"
  setsid nohup "$bin" up "$DIR" > "$DIR/log" 2>&1 < /dev/null &
  echo $! > "$DIR/pid"
  local waited=0
  until [ -f "$DIR/ready" ]; do
    if ! running; then
      log "ferrovault-cluster exited before the cluster was ready; the end of its log:"
      tail -n 40 "$DIR/log" >&2
      exit 1
    fi
    if [ "$waited" -ge "$READY_TIMEOUT" ]; then
      log "not ready after ${READY_TIMEOUT}s; stopping it (the end of the log follows)"
      tail -n 40 "$DIR/log" >&2
      down
      exit 1
    fi
    sleep 2
    waited=$((waited + 2))
  done
  log "ready in ${waited}s"
  next_steps
}

env_lines() {
  [ -f "$DIR/env" ] && running || { log "no cluster runs: make cluster"; exit 1; }
  cat "$DIR/env"
}

down() {
  if running; then
    touch "$DIR/stop"
    local waited=0
    while running && [ "$waited" -lt 180 ]; do sleep 1; waited=$((waited + 1)); done
    if running; then
      log "ferrovault-cluster did not stop in 180s; killing it and cleaning the host"
      kill -KILL "$(cat "$DIR/pid")" 2>/dev/null || true
    fi
  else
    log "no cluster runs"
  fi
  # whatever a killed run left behind (nothing after a clean stop)
  "$ROOT/scripts/node.sh" cleanup
  rm -f "$DIR/pid" "$DIR/ready" "$DIR/stop" "$DIR/env" "$DIR/kubeconfig"
  "$ROOT/scripts/node.sh" check
}

case "${1:-}" in
  up) up "${2:-}" ;;
  env) env_lines ;;
  down) down ;;
  *) log "usage: $0 up BIN | env | down"; exit 2 ;;
esac
