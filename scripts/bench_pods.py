#!/usr/bin/env python3
"""`scripts/bench.py pods`: how fast and how light pods are.

For 2, 100 and 500 replicas of the tutorial's nginx Deployment: the wall time
from creating the Deployment to every pod Ready, and each pod's start time
(first seen by a watch -> Ready), measured by a client watching the API as
kubectl does; then the memory of idle nginx pods (PSS, from
/proc/PID/smaps_rollup, which shares copy-on-write pages fairly) and the
processes per pod.
"""
from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emunet import resources  # noqa: E402
from emunet.testing import Cluster  # noqa: E402

DEPLOY = resources.by_plural("deployments", "apps")
PODS = resources.by_plural("pods")


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def _ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in pod.get("status", {}).get("conditions", []))


async def rollout(c: Cluster, name: str, replicas: int, timeout: float = 120) -> dict:
    client = c.client()
    seen: dict[str, float] = {}
    ready: dict[str, float] = {}
    lst = await client.list(PODS, "default", label_selector=f"app={name}")
    rv = lst["metadata"]["resourceVersion"]
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "containers": [{"name": "nginx", "image": "nginx",
                                         "ports": [{"containerPort": 80}]}]}}}}

    async def watch() -> None:
        async for ev in client.watch(PODS, "default", rv, label_selector=f"app={name}"):
            if ev["type"] in ("BOOKMARK", "ERROR"):
                continue
            pod = ev["object"]
            n = pod["metadata"]["name"]
            now = time.perf_counter()
            seen.setdefault(n, now)
            if _ready(pod) and n not in ready:
                ready[n] = now
                if len(ready) >= replicas:
                    return

    task = asyncio.create_task(watch())
    t0 = time.perf_counter()
    await client.create(DEPLOY, body, "default")
    try:
        await asyncio.wait_for(task, timeout)
    finally:
        task.cancel()
        await client.close()
    total = max(ready.values()) - t0
    starts = [ready[n] - seen[n] for n in ready]
    return {"replicas": replicas, "all_ready_s": total, "start_p50_s": pct(starts, 50),
            "start_p99_s": pct(starts, 99)}


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _pss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def pod_memory(c: Cluster, pods: int) -> dict:
    """PSS of the pod processes: kubelet -> zygote -> one process per container."""
    import json
    import ssl
    import urllib.request
    req = urllib.request.Request(f"{c.server}/emunet/v1/processes",
                                 headers={"Authorization": f"Bearer {c.creds.token}"})
    ctx = ssl.create_default_context(cafile=c.creds.ca_file)
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        procs = json.loads(resp.read())["children"]
    kubelets = [info["pid"] for name, info in procs.items() if name.startswith("kubelet-")]
    zygotes = [z for k in kubelets for z in _children(k)]
    containers = [p for z in zygotes for p in _children(z)]
    pss = [_pss_kib(p) for p in containers]
    return {"pods": pods, "container_processes": len(containers),
            "processes_per_pod": len(containers) / max(pods, 1),
            "pss_per_pod_mib": statistics.mean(pss) / 1024 if pss else 0.0,
            "zygote_pss_mib": sum(_pss_kib(z) for z in zygotes) / 1024}


def _report(r: dict) -> None:
    print(f"{r['replicas']:>4} replicas: all Ready {r['all_ready_s']:.2f} s; pod start p50 "
          f"{r['start_p50_s'] * 1000:.0f} ms, p99 {r['start_p99_s'] * 1000:.0f} ms", flush=True)


def run() -> dict:
    results: dict = {"rollouts": []}
    with Cluster(nodes=2, timeout=60) as c:
        for n in (2, 100):
            r = asyncio.run(rollout(c, f"bench{n}", n, timeout=120))
            results["rollouts"].append(r)
            _report(r)
        time.sleep(2)  # idle, so the pages they share stay shared
        results["memory"] = m = pod_memory(c, 102)
        print(f"idle nginx pods: PSS {m['pss_per_pod_mib']:.1f} MiB per pod, "
              f"{m['processes_per_pod']:.1f} processes per pod "
              f"(the zygotes they fork from: {m['zygote_pss_mib']:.1f} MiB in all)", flush=True)
    # 500 pods: on 5 nodes, as a real cluster must (110 pods per node at most, and a
    # node's /24 pod CIDR holds 253 addresses).
    with Cluster(nodes=5, timeout=60) as c:
        r = asyncio.run(rollout(c, "bench500", 500, timeout=300))
        results["rollouts"].append(r)
        _report(r)
        running = c.kubectl("get", "pods", "--no-headers").stdout.count(" Running ")
        results["running_pods"] = running
        print(f"pods Running at once: {running}", flush=True)
    print(f"(machine: {os.cpu_count()} cores)")
    return results


if __name__ == "__main__":
    run()
