"""DaemonSets: one pod per node, node-local Services, rolling updates; real kubectl."""
from __future__ import annotations

import json
import subprocess

import pytest

from emunet.testing import Cluster

pytestmark = pytest.mark.e2e

AGENT = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers:
      - name: agent
        image: registry.k8s.io/e2e-test-images/agnhost:2.40
        args: ["serve-hostname", "--port=9376"]
        ports: [{containerPort: 9376}]
---
apiVersion: v1
kind: Service
metadata: {name: agent}
spec:
  type: NodePort
  selector: {app: agent}
  externalTrafficPolicy: Local
  ports: [{port: 80, targetPort: 9376}]
"""


@pytest.fixture(scope="module")
def cluster():
    with Cluster(nodes=3) as c:
        yield c


def ok(c: Cluster, *args: str, input: str | None = None) -> str:
    r = c.kubectl(*args, input=input)
    assert r.returncode == 0, f"kubectl {' '.join(args)}: {r.stderr}"
    return r.stdout


def agent_pods(c: Cluster) -> list[dict]:
    return [p for p in json.loads(ok(c, "get", "pods", "-l", "app=agent", "-o", "json"))["items"]
            if not p["metadata"].get("deletionTimestamp")]


def test_one_pod_per_node_and_the_columns_say_so(cluster):
    ok(cluster, "apply", "-f", "-", input=AGENT)
    ok(cluster, "rollout", "status", "daemonset/agent", "--timeout=30s")
    pods = agent_pods(cluster)
    assert sorted(p["spec"]["nodeName"] for p in pods) == sorted(cluster.cfg.node_names())
    assert all(p["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet" for p in pods)
    row = ok(cluster, "get", "ds", "agent").splitlines()[1].split()
    assert row[:7] == ["agent", "3", "3", "3", "3", "3", "<none>"]


def test_a_node_local_node_port_answers_from_that_nodes_agent(cluster):
    port = int(ok(cluster, "get", "svc", "agent", "-o", "jsonpath={.spec.ports[0].nodePort}"))
    by_node = {p["spec"]["nodeName"]: p["metadata"]["name"] for p in agent_pods(cluster)}
    for i, node in enumerate(cluster.cfg.node_names()):
        for kind in ("InternalIP", "ExternalIP"):
            # externalTrafficPolicy: Local keeps the connection on the node it reached.
            for _ in range(3):
                r = subprocess.run(["curl", "-sS", "-m", "5",
                                    f"http://{cluster.node_ip(i, kind)}:{port}"],
                                   capture_output=True, text=True, timeout=10)
                assert r.stdout == by_node[node], r.stderr


def test_a_rolling_update_replaces_every_pod(cluster):
    before = {p["metadata"]["name"] for p in agent_pods(cluster)}
    ok(cluster, "set", "env", "daemonset/agent", "ROLL=1")
    ok(cluster, "rollout", "status", "daemonset/agent", "--timeout=60s")
    pods = agent_pods(cluster)
    assert len(pods) == 3 and not before & {p["metadata"]["name"] for p in pods}
    assert len({p["metadata"]["labels"]["controller-revision-hash"] for p in pods}) == 1


def test_a_node_selector_narrows_the_nodes(cluster):
    node = cluster.cfg.node_names()[0]
    ok(cluster, "label", "node", node, "disk=ssd")
    ok(cluster, "patch", "daemonset", "agent", "-p",
       '{"spec":{"template":{"spec":{"nodeSelector":{"disk":"ssd"}}}}}')
    cluster.wait(lambda: [p["spec"]["nodeName"] for p in agent_pods(cluster)] == [node],
                 timeout=30, what="only the labelled node to run the agent")
    cluster.wait(lambda: ok(cluster, "get", "ds", "agent").splitlines()[1].split()[1:7]
                 == ["1", "1", "1", "1", "1", "disk=ssd"], what="the columns", timeout=30)


def test_deleting_the_daemonset_deletes_its_pods(cluster):
    ok(cluster, "delete", "daemonset", "agent")
    cluster.wait(lambda: not agent_pods(cluster), timeout=30, what="the agents to go")
