"""A pod's connections carry its pod IP, as from a pod's own network namespace: what a
server, and a Service with internalTrafficPolicy Local, see of a client in a pod.

Needs root, nftables and a net_cls cgroup hierarchy (docs/pods.md); elsewhere the
nodes say why not and these tests are skipped.
"""
from __future__ import annotations

import json

import pytest

from emunet.testing import Cluster

pytestmark = pytest.mark.e2e

ECHO = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo}
spec:
  replicas: 2
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers:
      - name: agnhost
        image: registry.k8s.io/e2e-test-images/agnhost:2.53
        args: [netexec, --http-port=8080, --udp-port=8081]
---
apiVersion: v1
kind: Service
metadata: {name: local}
spec:
  internalTrafficPolicy: Local
  selector: {app: echo}
  ports: [{port: 80, targetPort: 8080}]
"""

CLIENT = """
apiVersion: v1
kind: Pod
metadata: {name: cli-%(i)d}
spec:
  nodeName: %(node)s
  containers:
  - name: c
    image: busybox:1.28
    command: [sleep, "3600"]
"""


def pods(c: Cluster, selector: str) -> list[dict]:
    out = c.kubectl("get", "pods", "-l", selector, "-o", "json", check=True).stdout
    return json.loads(out)["items"]


def running(c: Cluster, name: str) -> dict | None:
    r = c.kubectl("get", "pod", name, "-o", "json")
    p = json.loads(r.stdout) if r.returncode == 0 else None
    return p if p and p["status"].get("phase") == "Running" else None


@pytest.fixture(scope="module")
def cluster():
    with Cluster(nodes=2) as c:
        nodes = json.loads(c.kubectl("get", "nodes", "-o", "json", check=True).stdout)["items"]
        how = {n["metadata"]["annotations"].get("emunet.io/pod-source") for n in nodes}
        if how != {"pod IP"}:
            pytest.skip(f"pods' connections do not carry their pod IPs here: {how}")
        c.kubectl("apply", "-f", "-", input=ECHO, check=True)
        for i, n in enumerate(nodes):
            c.kubectl("apply", "-f", "-", input=CLIENT % {"i": i, "node": n["metadata"]["name"]},
                      check=True)
        c.wait(lambda: len({p["spec"]["nodeName"] for p in pods(c, "app=echo")
                            if p["status"].get("podIP")}) == 2
               and all(running(c, f"cli-{i}") for i in (0, 1)),
               timeout=30, what="an echo pod on each node, and a client on each node")
        c.wait(lambda: len(c.kubectl("get", "endpoints", "local", "-o",
                                     "jsonpath={.subsets[*].addresses[*].ip}").stdout.split())
               == 2, timeout=30, what="both echo pods in the endpoints")
        yield c


def in_pod(c: Cluster, pod: str, *argv: str) -> str:
    r = c.kubectl("exec", pod, "--", *argv)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_a_server_sees_the_client_pods_ip(cluster):
    for i in (0, 1):
        me = running(cluster, f"cli-{i}")["status"]["podIP"]
        for echo in pods(cluster, "app=echo"):
            url = f"http://{echo['status']['podIP']}:8080/clientip"
            out = in_pod(cluster, f"cli-{i}", "curl", "-sS", url)
            assert out.rsplit(":", 1)[0] == me, out


def test_over_udp_too(cluster):
    me = running(cluster, "cli-0")["status"]["podIP"]
    echo = pods(cluster, "app=echo")[0]["status"]["podIP"]
    script = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
              f"s.settimeout(5); s.sendto(b'clientip', ('{echo}', 8081)); "
              "print(s.recvfrom(100)[0].decode())")
    assert in_pod(cluster, "cli-0", "python3", "-c", script).strip().rsplit(":", 1)[0] == me


def test_a_containers_own_processes_carry_it(cluster):
    echo = pods(cluster, "app=echo")[0]["status"]["podIP"]
    cluster.kubectl("run", "caller", "--image=radial/busyboxplus:curl", "--restart=Never", "--",
                    "curl", "-sS", f"http://{echo}:8080/clientip", check=True)
    def caller() -> dict:
        return json.loads(cluster.kubectl("get", "pod", "caller", "-o", "json",
                                          check=True).stdout)

    cluster.wait(lambda: caller()["status"].get("phase") == "Succeeded", timeout=30,
                 what="the caller to finish")
    ip = caller()["status"]["podIP"]
    assert cluster.kubectl("logs", "caller", check=True).stdout.rsplit(":", 1)[0] == ip


def test_internal_traffic_policy_local_answers_from_the_clients_node(cluster):
    by_node = {p["spec"]["nodeName"]: p["metadata"]["name"] for p in pods(cluster, "app=echo")}
    for i in (0, 1):
        node = running(cluster, f"cli-{i}")["spec"]["nodeName"]
        seen = {in_pod(cluster, f"cli-{i}", "curl", "-sS", "http://local/hostname")
                for _ in range(4)}
        assert seen == {by_node[node]}, (node, seen)


def test_localhost_in_a_pod_is_left_alone(cluster):
    # 127.0.0.1 is the pod itself on Kubernetes: no rewrite, or the pod could not reach
    # what it serves on localhost.
    echo = pods(cluster, "app=echo")[0]["metadata"]["name"]
    out = in_pod(cluster, echo, "python3", "-c",
                 "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
                 "c = socket.create_connection(s.getsockname()); "
                 "print(s.accept()[1][0])")
    assert out.strip() == "127.0.0.1"
