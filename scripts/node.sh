#!/usr/bin/env bash
# The host side of the test node (tests/src/node.rs): everything a kubelet node needs from this
# machine that is not a process, and taking all of it away again. Needs root.
#
#   scripts/node.sh install          installs containerd, runc, the CNI plugins, iptables, buildah,
#                                    busybox-static and gcc from Debian when missing
#   scripts/node.sh setup STATE [N]  cleans up after an earlier run that died, then, for N nodes
#                                    (default 1): node IPs on lo, cgroup roots, firewall guard (see
#                                    below); records what it found
#   scripts/node.sh kill-node STATE I  the loss of node I (0-based): kills its containers (its cgroup
#                                    root) and every process started for it (its directory under
#                                    STATE on the command line: containerd, its shims, the kubelet)
#   scripts/node.sh dnat STATE PORT  the `kubernetes` Service for pods: 10.0.0.1:443 -> NODE_IP:PORT
#   scripts/node.sh teardown STATE   kills what is left in the node's cgroups, unmounts everything
#                                    under STATE, removes the bridge, the firewall chains, the
#                                    cgroups, the lo address, paths that did not exist before setup,
#                                    restores net.ipv4.ip_forward; idempotent
#   scripts/node.sh cleanup          teardown of the node a killed run left (if any)
#   scripts/node.sh check            prints what a node left on this machine (nothing, normally)
#
# Network: node I (0-based) has the address 10.245.0.(I+1) on lo and its pods live on the bridge
# ferrovaultI (10.244.I.0/24, gateway 10.244.I.1, no masquerade, no default route: routes to the
# first node's IP, the other nodes' pod networks and the service range only). The guard chain lets
# packets pass between the node bridges and drops anything routed between a bridge and any other
# interface, so even with ip_forward on (the bridge plugin turns it on) no pod packet leaves this
# machine.
set -euo pipefail

NODE_IP=10.245.0.1
BRIDGE=ferrovault0
# every node's bridge: ferrovault0, ferrovault1, … (an iptables interface wildcard)
BRIDGES=ferrovault+
SERVICE_IP=10.0.0.1
CGROUP_ROOT=ferrovault-node
MAX_NODES=4
# node I's address, bridge, cgroup root and directory under the state dir (the first node's is the
# state dir itself); tests/src/node/mod.rs (`Node`) names them the same way
node_ip() { echo "10.245.0.$(($1 + 1))"; }
node_bridge() { echo "ferrovault$1"; }
node_cgroup() { if [ "$1" = 0 ]; then echo "$CGROUP_ROOT"; else echo "$CGROUP_ROOT-$(($1 + 1))"; fi; }
node_count() { cat "$1/host/nodes" 2>/dev/null || echo 1; }
FWD_CHAIN=FERROVAULT-NODE-FWD
SVC_CHAIN=FERROVAULT-NODE-SVC
POINTER=/run/ferrovault-node.state
# host paths a kubelet or containerd may create whatever their flags say; each one that did not
# exist before setup is removed by teardown
HOST_PATHS=(/run/containerd /var/lib/containerd /opt/containerd /var/lib/cni /etc/cni /opt/cni
  /var/log/containers /var/log/pods /var/lib/kubelet /etc/kubernetes /run/netns /var/run/netns
  /var/lib/calico /run/flannel /var/lib/dockershim /run/kubelet /usr/libexec/kubernetes)
log() { echo "node.sh: $*" >&2; }

need_root() { [ "$(id -u)" = 0 ] || { log "must run as root"; exit 1; }; }

install() {
  local missing=() cmd
  for cmd in containerd:containerd runc:runc iptables:iptables buildah:buildah gcc:gcc; do
    command -v "${cmd%%:*}" >/dev/null || missing+=("${cmd##*:}")
  done
  [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/loopback ] ||
    missing+=(containernetworking-plugins)
  [ -f /usr/lib/x86_64-linux-gnu/libc.a ] || missing+=(libc6-dev)
  if ! command -v busybox >/dev/null || LC_ALL=C readelf -l "$(command -v busybox)" 2>/dev/null |
    grep -q 'program interpreter'; then
    missing+=(busybox-static)
  fi
  [ ${#missing[@]} = 0 ] && return
  log "installing ${missing[*]} (Debian packages)"
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "cannot install; as root: apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || {
    log "apt-get failed; install by hand: apt-get install -y --no-install-recommends ${missing[*]}"
    exit 1
  }
}

hierarchies() { # every mounted cgroup v1 hierarchy (and the v2 root if that is what is mounted)
  awk '$3=="cgroup" || $3=="cgroup2" {print $2}' /proc/self/mounts
}

iptables_cmds() {
  local c
  for c in iptables ip6tables; do command -v "$c" >/dev/null && echo "$c"; done
}

setup() {
  need_root
  local state="${1:?usage: $0 setup STATE [N]}" nodes="${2:-1}"
  case "$nodes" in [1-9]) ;; *) log "setup: N must be 1..$MAX_NODES"; exit 2 ;; esac
  [ "$nodes" -le "$MAX_NODES" ] || { log "setup: at most $MAX_NODES nodes"; exit 2; }
  if [ -f "$POINTER" ]; then
    local old
    old=$(cat "$POINTER")
    log "cleaning up after an earlier node ($old)"
    teardown "$old" || true
  fi
  mkdir -p "$state/host"
  echo "$state" > "$POINTER"
  echo "$nodes" > "$state/host/nodes"
  cat /proc/sys/net/ipv4/ip_forward > "$state/host/ip_forward"
  local p
  : > "$state/host/absent"
  for p in "${HOST_PATHS[@]}"; do [ -e "$p" ] || echo "$p" >> "$state/host/absent"; done
  local ipt
  for ipt in $(iptables_cmds); do
    "$ipt-save" 2>/dev/null | awk '/^:/{print substr($1,2)}' | sort -u > "$state/host/$ipt.chains" || true
  done

  local h i root
  for ((i = 0; i < nodes; i++)); do
    ip addr add "$(node_ip "$i")/32" dev lo 2>/dev/null || true
    # the kubelet requires its cgroup root to exist; cpuset children start empty in v1, so copy
    root=$(node_cgroup "$i")
    for h in $(hierarchies); do
      mkdir -p "$h/$root"
      if [ -f "$h/cpuset.cpus" ]; then
        cat "$h/cpuset.cpus" > "$h/$root/cpuset.cpus"
        cat "$h/cpuset.mems" > "$h/$root/cpuset.mems"
      fi
    done
  done
  iptables -N "$FWD_CHAIN"
  # between the nodes' pod bridges (pod to pod across nodes), nowhere else
  iptables -A "$FWD_CHAIN" -i "$BRIDGES" -o "$BRIDGES" -j ACCEPT
  iptables -A "$FWD_CHAIN" -i "$BRIDGES" -j DROP
  iptables -A "$FWD_CHAIN" -o "$BRIDGES" -j DROP
  iptables -I FORWARD 1 -j "$FWD_CHAIN"
  iptables -t nat -N "$SVC_CHAIN"
  iptables -t nat -I PREROUTING 1 -i "$BRIDGES" -j "$SVC_CHAIN"
}

dnat() {
  need_root
  local port="${2:?usage: $0 dnat STATE PORT}"
  iptables -t nat -A "$SVC_CHAIN" -d "$SERVICE_IP/32" -p tcp --dport 443 \
    -j DNAT --to-destination "$NODE_IP:$port"
}

# the loss of node $2: its containers and every process started for it are killed (nothing is
# unmounted or removed: teardown does that); the other nodes keep running
kill_node() {
  need_root
  local state="${1:?usage: $0 kill-node STATE I}" i="${2:?usage: $0 kill-node STATE I}" h pid m pass
  local root dir
  root=$(node_cgroup "$i")
  if [ "$i" = 0 ]; then dir="$state/containerd/"; else dir="$state/$CGROUP_ROOT-$((i + 1))/"; fi
  for pass in 1 2; do
    for m in /proc/[0-9]*; do
      pid="${m#/proc/}"
      [ "$pid" = "$$" ] && continue
      local cmd
      cmd=$( { tr '\0' ' ' < "$m/cmdline"; } 2>/dev/null) || continue
      [[ "$cmd" == *"$dir"* ]] && kill -KILL "$pid" 2>/dev/null
    done
    for h in $(hierarchies); do
      [ -d "$h/$root" ] || continue
      find "$h/$root" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r pid; do
        kill -KILL "$pid" 2>/dev/null
      done
    done
    sleep 0.5
  done
}

# mount points under $1, deepest first
mounts_under() {
  awk -v prefix="$1" 'index($5, prefix)==1 {print $5}' /proc/self/mountinfo | sort -r
}

teardown() {
  need_root
  local state="${1:?usage: $0 teardown STATE}" h pid m ipt chain p i nodes
  nodes=$(node_count "$state")
  # best effort from here on: one thing that cannot be removed must not keep the rest
  set +e +o pipefail
  # 1. processes: containers (in the node's cgroups), and processes started for this node (the
  # kubelet, containerd, its shims, the scheduler) or for the directories the harness registered in
  # host/owned (the control plane, OpenBao): all name their own temp dir on the command line.
  # Normally the harness stopped them already; this is for a run that was killed.
  local owned=("$state/")
  if [ -f "$state/host/owned" ]; then
    while read -r p; do [ -n "$p" ] && owned+=("$p/"); done < "$state/host/owned"
  fi
  # twice: a containerd killed in the first pass may have started a shim behind it
  local pass
  for pass in 1 2; do
    for h in $(hierarchies); do
      for ((i = 0; i < nodes; i++)); do
        [ -d "$h/$(node_cgroup "$i")" ] || continue
        find "$h/$(node_cgroup "$i")" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r pid; do
          kill -KILL "$pid" 2>/dev/null
        done
      done
    done
    for m in /proc/[0-9]*; do
      pid="${m#/proc/}"
      [ "$pid" = "$$" ] && continue
      local cmd
      cmd=$( { tr '\0' ' ' < "$m/cmdline"; } 2>/dev/null) || continue
      case "$cmd" in *node.sh*) continue ;; esac
      for p in "${owned[@]}"; do
        if [[ "$cmd" == *"$p"* ]]; then kill -KILL "$pid" 2>/dev/null; break; fi
      done
    done
    sleep 0.5
  done
  # 2. mounts (overlay rootfs, shm, tmpfs volumes, network namespaces) under the state dir
  for m in $(mounts_under "$state/"); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "cannot unmount $m"
  done
  # 3. network
  for ((i = 0; i < nodes; i++)); do ip link del "$(node_bridge "$i")" 2>/dev/null || true; done
  while iptables -D FORWARD -j "$FWD_CHAIN" 2>/dev/null; do :; done
  iptables -F "$FWD_CHAIN" 2>/dev/null && iptables -X "$FWD_CHAIN" 2>/dev/null || true
  while iptables -t nat -D PREROUTING -i "$BRIDGES" -j "$SVC_CHAIN" 2>/dev/null; do :; done
  # (a node of an earlier version of this script jumped from the first bridge only)
  while iptables -t nat -D PREROUTING -i "$BRIDGE" -j "$SVC_CHAIN" 2>/dev/null; do :; done
  iptables -t nat -F "$SVC_CHAIN" 2>/dev/null && iptables -t nat -X "$SVC_CHAIN" 2>/dev/null || true
  # chains the kubelet made anyway (KUBE-*-CANARY, KUBE-IPTABLES-HINT, …) that were not there before
  for ipt in $(iptables_cmds); do
    [ -f "$state/host/$ipt.chains" ] || continue
    for table in filter nat mangle; do
      "$ipt-save" -t "$table" 2>/dev/null | awk '/^:KUBE-/{print substr($1,2)}' | while read -r chain; do
        grep -qx "$chain" "$state/host/$ipt.chains" && continue
        "$ipt" -t "$table" -F "$chain" 2>/dev/null || true
        "$ipt" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
  for ((i = 0; i < nodes; i++)); do ip addr del "$(node_ip "$i")/32" dev lo 2>/dev/null || true; done
  if [ -f "$state/host/ip_forward" ]; then
    cat "$state/host/ip_forward" > /proc/sys/net/ipv4/ip_forward
  fi
  # 4. cgroups, deepest first
  for h in $(hierarchies); do
    for ((i = 0; i < nodes; i++)); do
      local root
      root=$(node_cgroup "$i")
      [ -d "$h/$root" ] || continue
      find "$h/$root" -depth -type d -exec rmdir {} \; 2>/dev/null || true
      [ -d "$h/$root" ] && log "cgroup $h/$root is still there"
    done
  done
  # 5. host paths that did not exist before
  if [ -f "$state/host/absent" ]; then
    while read -r p; do
      [ -n "$p" ] && [ -e "$p" ] || continue
      for m in $(mounts_under "$p/"); do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
      rm -rf --one-file-system "$p"
    done < "$state/host/absent"
  fi
  # 6. the registered dirs of a killed run (a finished run's harness removed them already), the
  # state dir itself (the harness's temp dir), then the pointer to it
  for p in "${owned[@]:1}"; do
    [ -d "$p" ] && [ -z "$(mounts_under "$p")" ] && rm -rf --one-file-system "$p"
  done
  if [ -n "$(mounts_under "$state/")" ]; then
    log "mounts left under $state: $(mounts_under "$state/" | tr '\n' ' ')"
  else
    rm -rf --one-file-system "$state"
  fi
  if [ -f "$POINTER" ] && [ "$(cat "$POINTER")" = "$state" ]; then rm -f "$POINTER"; fi
}

check() {
  local found=0 h i
  for ((i = 0; i < MAX_NODES; i++)); do
    ip -br addr show dev lo | grep -qw "$(node_ip "$i")" && { log "lo still has $(node_ip "$i")"; found=1; }
    ip link show "$(node_bridge "$i")" >/dev/null 2>&1 && { log "bridge $(node_bridge "$i") still exists"; found=1; }
    for h in $(hierarchies); do
      [ -d "$h/$(node_cgroup "$i")" ] && { log "cgroup $h/$(node_cgroup "$i") left"; found=1; }
    done
  done
  iptables-save 2>/dev/null | grep -q 'FERROVAULT-NODE\|KUBE-' && { log "firewall chains left"; found=1; }
  grep -q 'ferrovault-node' /proc/self/mountinfo && { log "mounts left"; found=1; }
  [ -f "$POINTER" ] && { log "$POINTER left"; found=1; }
  [ "$found" = 0 ] && log "nothing left behind"
  return "$found"
}

case "${1:-}" in
  install) install ;;
  setup) setup "${2:-}" "${3:-1}" ;;
  kill-node) kill_node "${2:-}" "${3:-}" ;;
  dnat) dnat "${2:-}" "${3:-}" ;;
  teardown) teardown "${2:-}" ;;
  cleanup) if [ -f "$POINTER" ]; then teardown "$(cat "$POINTER")"; fi ;;
  check) check ;;
  *) log "usage: $0 install|setup STATE [N]|kill-node STATE I|dnat STATE PORT|teardown STATE|check"; exit 2 ;;
esac
