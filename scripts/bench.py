#!/usr/bin/env python3
"""emunet benchmarks: `python scripts/bench.py [startup|pods|proxy|dns|tutorial|all]`.

Every case measures side by side in one run and prints the figures with the
command that produced them, for BENCHMARKS.md. Loads are bounded in count and
time and stay on loopback.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from emunet.testing import Cluster  # noqa: E402


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def _ms(x: float) -> str:
    return f"{x * 1000:.0f} ms"


def bench_startup(runs: int = 5) -> dict:
    """`emunet up` to ready and `emunet down`, as a user runs them; then a 1,000-pod list."""
    ups, downs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "XDG_STATE_HOME": f"{tmp}/state", "KUBECONFIG": f"{tmp}/kubeconfig",
               "HOME": tmp}
        cfg = Path(tmp) / "c.yaml"
        cfg.write_text("podCIDR: 127.92.0.0/17\nserviceCIDR: 127.92.128.0/18\n"
                       "nodeIPBase: 127.92.192.0\nloadBalancerCIDR: 127.92.224.0/20\n"
                       "apiPort: 17443\n")
        for i in range(runs):
            args = ["--name", "bench"]
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "emunet", "up", *args, "--config", str(cfg)],
                           env=env, check=True, capture_output=True, cwd=ROOT)
            ups.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "emunet", "down", *args, "--purge"], env=env,
                           check=True, capture_output=True, cwd=ROOT)
            downs.append(time.perf_counter() - t0)
    lists = bench_list_1000()
    out = {"up_median_s": statistics.median(ups), "up_runs_s": ups,
           "down_median_s": statistics.median(downs), "down_runs_s": downs, **lists}
    print(f"emunet up (2 nodes) to ready: median {_ms(out['up_median_s'])} "
          f"(runs: {', '.join(_ms(x) for x in ups)}); target <= 1 s; kind 12-17 s")
    print(f"emunet down: median {_ms(out['down_median_s'])}")
    print(f"kubectl get pods with 1,000 pods stored: median {_ms(lists['list_median_s'])}, "
          f"p90 {_ms(lists['list_p90_s'])} (target <= 200 ms); -o json {_ms(lists['json_median_s'])}")
    return out


def bench_list_1000(n: int = 1000, runs: int = 7) -> dict:
    with Cluster(nodes=1, wait_nodes=False) as c:
        # Pods bound to a node that does not exist stay stored and never start, so the
        # figure is the API's listing and kubectl's printing, nothing else.
        docs = []
        for i in range(n):
            docs.append(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {
                "name": f"p{i:04d}", "labels": {"app": "bench"}},
                "spec": {"nodeName": "nowhere", "containers": [{"name": "c", "image": "nginx"}]}}))
        items = '{"apiVersion":"v1","kind":"List","items":[' + ",".join(docs) + "]}"
        r = c.kubectl("create", "-f", "-", input=items, timeout=300)
        assert r.returncode == 0, r.stderr
        c.kubectl("get", "pods")  # warm kubectl's discovery cache
        times, jtimes = [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            r = c.kubectl("get", "pods")
            times.append(time.perf_counter() - t0)
            assert r.stdout.count("\n") == n + 1
            t0 = time.perf_counter()
            c.kubectl("get", "pods", "-o", "json")
            jtimes.append(time.perf_counter() - t0)
        base = []
        for _ in range(runs):
            t0 = time.perf_counter()
            c.kubectl("get", "ns")
            base.append(time.perf_counter() - t0)
    return {"list_median_s": statistics.median(times), "list_p90_s": pct(times, 90),
            "json_median_s": statistics.median(jtimes),
            "kubectl_get_ns_median_s": statistics.median(base)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("case", nargs="?", default="all",
                   choices=["startup", "pods", "proxy", "dns", "tutorial", "all"])
    p.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = p.parse_args()
    cases = ["startup", "pods", "proxy", "dns", "tutorial"] if args.case == "all" else [args.case]
    results = {}
    for case in cases:
        print(f"== {case} ==", flush=True)
        if case == "startup":
            results[case] = bench_startup()
        else:
            mod = __import__(f"bench_{case}")
            results[case] = mod.main_case() if hasattr(mod, "main_case") else mod.run()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
