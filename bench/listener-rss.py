#!/usr/bin/env python3
"""The sidecar's RSS with its listener off and on (issue #12 §2–§4).

Usage: bench/listener-rss.py AGENT_BINARY [--templates 100] [--settle 10] [--creates 100] [--reads 200]

Starts an OpenBao dev server (`bao` on PATH: scripts/install-tools.sh), writes N KV v2 secrets and
runs `AGENT sidecar` with N templates three times: no listener; listener + cache, idle; listener +
cache after READS `GET secret/data/…` and CREATES distinct `POST auth/token/create` through the proxy
(each creation cached and given a renewal task). For each: VmRSS sampled 1/s over SETTLE s after the
files are rendered (and the traffic is done), VmHWM and threads. The auto-auth token is the dev
root token (token_file), so nothing but the listener differs between runs.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(addr, method, path, body=None, token="root"):
    req = urllib.request.Request(f"{addr}/v1/{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode())
    if token:
        req.add_header("X-Vault-Token", token)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.read()


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def run(agent, work, addr, n, settle, listener, creates, reads):
    dest = os.path.join(work, f"render-{listener}-{creates}")
    os.makedirs(dest, exist_ok=True)
    port = free_port()
    cfg = {
        "version": 1,
        "vault": {"address": addr},
        "auto_auth": {"method": {"type": "token_file", "mount_path": "auth/token",
                                 "config": {"token_file_path": os.path.join(work, "token")}},
                      "sinks": [{"path": os.path.join(dest, ".token")}]},
        "templates": [{
            "name": f"t{i}", "destination": os.path.join(dest, f"t{i}.txt"),
            "contents": '{{ with secret "secret/bench/s%d" }}{{ .Data.data.password }}{{ end }}' % i,
            "left_delimiter": "{{", "right_delimiter": "}}"} for i in range(1, n + 1)],
        "template_config": {"exit_on_retry_failure": True},
        "secrets_dirs": [dest],
        "log": {"level": "warn", "format": "standard"},
        "revoke_on_shutdown": False,
    }
    if listener:
        cfg["listeners"] = [{"address": f"127.0.0.1:{port}", "enable_quit": True}]
        cfg["cache"] = {"use_auto_auth_token": "true"}
    path = os.path.join(dest, "config.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    proc = subprocess.Popen([agent, "sidecar", "--config", path, "--home", os.path.join(work, "home")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while len([f for f in os.listdir(dest) if f.endswith(".txt")]) < n:
            if time.time() > deadline or proc.poll() is not None:
                sys.exit("the agent did not render its files")
            time.sleep(0.05)
        proxy = f"http://127.0.0.1:{port}"
        for i in range(reads):
            call(proxy, "GET", f"secret/data/bench/s{i % n + 1}", token=None)
        for i in range(creates):
            call(proxy, "POST", "auth/token/create", {"policies": ["default"], "ttl": "1h",
                                                       "meta": {"n": str(i)}}, token=None)
        samples = []
        for s in range(settle + 1):
            samples.append(status(proc.pid, "VmRSS"))
            if s < settle:
                time.sleep(1)
        return samples, status(proc.pid, "VmHWM"), status(proc.pid, "Threads")
    finally:
        proc.terminate()
        proc.wait()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("agent")
    p.add_argument("--templates", type=int, default=100)
    p.add_argument("--settle", type=int, default=10)
    p.add_argument("--creates", type=int, default=100)
    p.add_argument("--reads", type=int, default=200)
    a = p.parse_args()
    work = tempfile.mkdtemp(prefix="listener-rss-")
    port = free_port()
    addr = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(["bao", "server", "-dev", "-dev-root-token-id=root",
                               f"-dev-listen-address=127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while True:
            try:
                call(addr, "GET", "sys/health", token=None)
                break
            except Exception:
                if time.time() > deadline:
                    sys.exit("OpenBao did not start")
                time.sleep(0.1)
        with open(os.path.join(work, "token"), "w") as f:
            f.write("root")
        for i in range(1, a.templates + 1):
            call(addr, "POST", f"secret/data/bench/s{i}", {"data": {"password": f"pw{i}"}})
        print(f"sidecar, {a.templates} templates; VmRSS sampled 1/s over {a.settle} s")
        print("| listener | traffic through it | VmRSS min/median/max MiB | VmHWM MiB | threads |")
        print("|---|---|---|---|---|")
        for listener, creates, reads in [(False, 0, 0), (True, 0, 0), (True, a.creates, a.reads)]:
            s, hwm, threads = run(a.agent, work, addr, a.templates, a.settle, listener, creates, reads)
            mib = lambda kb: f"{kb / 1024:.1f}"
            traffic = f"{reads} reads + {creates} cached token creations" if creates or reads else "none"
            print(f"| {'on (cache)' if listener else 'off'} | {traffic} | "
                  f"{mib(min(s))}/{mib(statistics.median(s))}/{mib(max(s))} | {mib(hwm)} | {threads} |")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
