"""Deployments, ReplicaSets, garbage collection, load balancers and node failure,
driven with real kubectl against a whole cluster."""
from __future__ import annotations

import asyncio
import json

import pytest

from emunet.testing import Cluster

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster():
    with Cluster(nodes=2, node_grace_seconds=2.0, eviction_seconds=1.0) as c:
        yield c


def ok(c: Cluster, *args: str, input: str | None = None) -> str:
    r = c.kubectl(*args, input=input)
    assert r.returncode == 0, f"kubectl {' '.join(args)} failed: {r.stderr}"
    return r.stdout


def get(c: Cluster, *args: str) -> dict:
    return json.loads(ok(c, "get", *args, "-o", "json"))


def pods(c: Cluster, selector: str) -> list[dict]:
    return [p for p in get(c, "pods", "-l", selector)["items"]
            if not p["metadata"].get("deletionTimestamp")]


def replicasets(c: Cluster, selector: str) -> list[dict]:
    return get(c, "rs", "-l", selector)["items"]


def test_deployment_runs_two_replicas_on_two_nodes(cluster, examples):
    c = cluster
    ok(c, "apply", "-f", str(examples / "run-my-nginx.yaml"))
    ok(c, "rollout", "status", "deployment/my-nginx", "--timeout=30s")
    rs = c.wait(lambda: replicasets(c, "run=my-nginx"), what="a ReplicaSet")
    assert len(rs) == 1
    name = rs[0]["metadata"]["name"]
    h = rs[0]["metadata"]["labels"]["pod-template-hash"]
    assert name == f"my-nginx-{h}" and set(h) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert rs[0]["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    running = pods(c, "run=my-nginx")
    assert len(running) == 2
    assert {p["spec"]["nodeName"] for p in running} == set(c.cfg.node_names())
    assert all(p["metadata"]["name"].startswith(name + "-") for p in running)
    table = ok(c, "get", "deploy", "my-nginx")
    assert "2/2" in table.splitlines()[1]
    events = ok(c, "get", "events", "-o", "json")
    messages = [e["message"] for e in json.loads(events)["items"]]
    assert f"Scaled up replica set {name} from 0 to 2" in messages
    assert any(m.startswith(f"Created pod: {name}-") for m in messages)
    assert any(m.startswith("Successfully assigned default/my-nginx-") for m in messages)


def test_scale_to_zero_and_back_gives_new_pods(cluster, examples):
    c = cluster
    ok(c, "apply", "-f", str(examples / "run-my-nginx.yaml"))
    before = {p["metadata"]["name"] for p in c.wait(
        lambda: len(pods(c, "run=my-nginx")) == 2 and pods(c, "run=my-nginx"))}
    ok(c, "scale", "deployment", "my-nginx", "--replicas=0")
    c.wait(lambda: not get(c, "pods", "-l", "run=my-nginx")["items"], what="pods gone")
    ok(c, "scale", "deployment", "my-nginx", "--replicas=2")
    ok(c, "rollout", "status", "deployment/my-nginx", "--timeout=30s")
    after = {p["metadata"]["name"] for p in pods(c, "run=my-nginx")}
    assert len(after) == 2 and not after & before


def test_rollout_history_and_undo(cluster, examples):
    c = cluster
    ok(c, "apply", "-f", str(examples / "run-my-nginx.yaml"))
    ok(c, "rollout", "status", "deployment/my-nginx", "--timeout=30s")
    first = ok(c, "get", "deploy", "my-nginx", "-o", "jsonpath={.spec.template.spec}")
    ok(c, "set", "env", "deployment/my-nginx", "COLOR=blue")
    ok(c, "rollout", "status", "deployment/my-nginx", "--timeout=30s")
    rss = replicasets(c, "run=my-nginx")
    assert len(rss) == 2
    revisions = sorted(r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                       for r in rss)
    assert revisions == ["1", "2"]
    assert sorted(r["spec"]["replicas"] for r in rss) == [0, 2]
    history = ok(c, "rollout", "history", "deployment/my-nginx")
    assert "REVISION" in history and "\n1 " in history and "\n2 " in history
    ok(c, "rollout", "undo", "deployment/my-nginx")
    ok(c, "rollout", "status", "deployment/my-nginx", "--timeout=30s")
    assert ok(c, "get", "deploy", "my-nginx", "-o", "jsonpath={.spec.template.spec}") == first
    history = ok(c, "rollout", "history", "deployment/my-nginx")
    assert "\n2 " in history and "\n3 " in history and "\n1 " not in history
    assert len(pods(c, "run=my-nginx")) == 2


def test_delete_with_orphan_keeps_replicasets_and_background_collects(cluster, examples):
    c = cluster
    ok(c, "apply", "-f", str(examples / "run-my-nginx.yaml"))
    ok(c, "rollout", "status", "deployment/my-nginx", "--timeout=30s")
    ok(c, "delete", "deployment", "my-nginx", "--cascade=orphan")
    rss = replicasets(c, "run=my-nginx")
    assert rss and all(not r["metadata"].get("ownerReferences") for r in rss)
    assert len(pods(c, "run=my-nginx")) == 2
    # Adopted again by a new Deployment with the same selector and template ...
    ok(c, "apply", "-f", str(examples / "run-my-nginx.yaml"))
    c.wait(lambda: all(r["metadata"].get("ownerReferences") for r in replicasets(
        c, "run=my-nginx")), what="adoption")
    # ... and collected with it.
    ok(c, "delete", "deployment", "my-nginx")
    c.wait(lambda: not replicasets(c, "run=my-nginx")
           and not get(c, "pods", "-l", "run=my-nginx")["items"], timeout=30,
           what="ReplicaSets and pods collected")


def test_foreground_deletion_removes_dependents_first(cluster, examples):
    c = cluster
    ok(c, "apply", "-f", str(examples / "run-my-nginx.yaml"))
    ok(c, "rollout", "status", "deployment/my-nginx", "--timeout=30s")
    ok(c, "delete", "deployment", "my-nginx", "--cascade=foreground", "--timeout=30s")
    assert not replicasets(c, "run=my-nginx")
    assert not get(c, "deploy")["items"]


def test_load_balancer_service_gets_an_external_ip(cluster):
    c = cluster
    ok(c, "create", "service", "loadbalancer", "lb1", "--tcp=80:80")
    ip = c.wait(lambda: get(c, "svc", "lb1")["status"].get("loadBalancer", {}).get("ingress"),
                what="an ingress IP")[0]["ip"]
    assert ip.startswith(c.cfg.load_balancer_cidr.split(".0.0")[0][:6])
    assert ip in ok(c, "get", "svc", "lb1").splitlines()[1].split()
    ok(c, "patch", "svc", "lb1", "-p", '{"spec":{"type":"ClusterIP"}}')
    c.wait(lambda: not get(c, "svc", "lb1")["status"].get("loadBalancer"), what="release")
    ok(c, "delete", "svc", "lb1")


def test_unschedulable_pod_reports_why(cluster):
    c = cluster
    ok(c, "run", "picky", "--image=nginx", "--overrides",
       '{"spec":{"nodeSelector":{"disk":"ssd"}}}')
    cond = c.wait(lambda: [x for x in get(c, "pod", "picky")["status"].get("conditions", [])
                           if x["type"] == "PodScheduled" and x["status"] == "False"],
                  what="PodScheduled False")[0]
    assert cond["reason"] == "Unschedulable"
    assert cond["message"].startswith(
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.")
    ok(c, "delete", "pod", "picky", "--now")


def test_default_service_account_in_new_namespace(cluster):
    c = cluster
    ok(c, "create", "namespace", "team-a")
    c.wait(lambda: c.kubectl("get", "sa", "default", "-n", "team-a").returncode == 0,
           what="default ServiceAccount")


def test_dead_node_goes_not_ready_and_its_pods_move(cluster, examples):
    c = cluster
    ok(c, "apply", "-f", str(examples / "run-my-nginx.yaml"))
    ok(c, "rollout", "status", "deployment/my-nginx", "--timeout=30s")
    victim = pods(c, "run=my-nginx")[0]["spec"]["nodeName"]
    other = next(n for n in c.cfg.node_names() if n != victim)

    async def stop() -> None:
        async with c.client() as client:
            await client.request("POST", f"/emunet/v1/nodes/{victim}/stop")
    asyncio.run(stop())
    try:
        c.wait(lambda: "NotReady" in ok(c, "get", "node", victim), timeout=20,
               what="node NotReady")
        taints = get(c, "node", victim)["spec"].get("taints", [])
        assert {(t["key"], t["effect"]) for t in taints} >= {
            ("node.kubernetes.io/unreachable", "NoSchedule"),
            ("node.kubernetes.io/unreachable", "NoExecute")}
        c.wait(lambda: [p["spec"].get("nodeName") for p in pods(c, "run=my-nginx")]
               == [other, other], timeout=30, what="pods recreated on the live node")
    finally:
        async def start() -> None:
            async with c.client() as client:
                await client.request("POST", f"/emunet/v1/nodes/{victim}/start")
        asyncio.run(start())
    c.wait(lambda: " Ready" in ok(c, "get", "node", victim) and not get(
        c, "node", victim)["spec"].get("taints"), timeout=20, what="node Ready again")
