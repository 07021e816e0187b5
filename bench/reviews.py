#!/usr/bin/env python3
"""Writes the AdmissionReview bodies the benchmarks post (issue #14), the same inputs as
webhook/benches/mutate.rs: the seed StatefulSet's pod (webhook/testdata/seed-statefulset.pod.yaml)
and a large pod (the seed pod with 20 containers and 30 secrets, 15 of them with templates).

Usage: bench/reviews.py OUT_DIR   ->  OUT_DIR/seed.json, OUT_DIR/large.json
"""
import copy
import json
import os
import sys

try:
    import yaml
except ImportError:
    sys.exit("reviews.py: PyYAML is needed (apt-get install python3-yaml)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def review(pod):
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "bench",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "default",
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:statefulset-controller"},
            "object": pod,
        },
    }


def large(seed):
    pod = copy.deepcopy(seed)
    first = pod["spec"]["containers"][0]
    pod["spec"]["containers"] = [dict(copy.deepcopy(first), name=f"app-{i}") for i in range(20)]
    annotations = pod["metadata"]["annotations"]
    for i in range(30):
        annotations[f"vault.hashicorp.com/agent-inject-secret-s{i}.txt"] = f"secret/data/app/s{i}"
        if i % 2 == 0:
            annotations[f"vault.hashicorp.com/agent-inject-template-s{i}.txt"] = (
                f'{{{{- with secret "secret/data/app/s{i}" -}}}}\n'
                "{{ .Data.data.user }}:{{ .Data.data.pass }}\n{{- end }}\n"
            )
    return pod


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(ROOT, "webhook/testdata/seed-statefulset.pod.yaml")) as f:
        seed = yaml.safe_load(f)["pod"]
    for name, pod in (("seed", seed), ("large", large(seed))):
        with open(os.path.join(out, f"{name}.json"), "w") as f:
            json.dump(review(pod), f, separators=(",", ":"))


if __name__ == "__main__":
    main()
