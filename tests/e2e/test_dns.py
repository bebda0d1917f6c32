"""Cluster DNS end to end: records follow the cluster, and pods resolve names."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from emunet.testing import Cluster

pytestmark = pytest.mark.e2e

APPS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: my-nginx}
spec:
  replicas: 1
  selector: {matchLabels: {run: my-nginx}}
  template:
    metadata: {labels: {run: my-nginx}}
    spec:
      containers: [{name: my-nginx, image: nginx, ports: [{containerPort: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: my-nginx}
spec:
  selector: {run: my-nginx}
  ports: [{name: http, port: 80, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-a, labels: {app: web}}
spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-b, labels: {app: web}}
spec: {containers: [{name: web, image: nginx}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  containers:
  - {name: client, image: "radial/busyboxplus:curl", command: [sh, -c, "sleep 3600"]}
"""


@pytest.fixture(scope="module")
def cluster():
    with Cluster(nodes=2) as c:
        c.kubectl("apply", "-f", "-", input=APPS, check=True)
        yield c


def dig(c: Cluster, *args: str) -> list[str]:
    out = subprocess.run(["dig", "+short", "+time=1", "+tries=2", f"@{c.cfg.dns_service_ip}",
                          *args], capture_output=True, text=True, timeout=10, check=False).stdout
    return sorted(out.split())


def rcode(c: Cluster, name: str) -> str:
    out = subprocess.run(["dig", "+time=1", "+tries=2", f"@{c.cfg.dns_service_ip}", name],
                         capture_output=True, text=True, timeout=10, check=False).stdout
    return out.split("status: ", 1)[1].split(",", 1)[0] if "status: " in out else ""


pytestmark = [pytestmark, pytest.mark.skipif(not shutil.which("dig"), reason="needs dig")]


def test_service_records_follow_the_cluster(cluster: Cluster) -> None:
    c = cluster
    assert dig(c, "-x", c.cfg.dns_service_ip) == ["kube-dns.kube-system.svc.cluster.local."]
    assert dig(c, "kubernetes.default.svc.cluster.local") == [c.cfg.kubernetes_service_ip]
    c.kubectl("create", "service", "clusterip", "later", "--tcp=8080:8080", check=True)
    ip = c.kubectl("get", "svc", "later", "-o", "jsonpath={.spec.clusterIP}").stdout
    c.wait(lambda: dig(c, "later.default.svc.cluster.local") == [ip], timeout=15,
           what="the new Service in DNS")
    assert dig(c, "SRV", "_8080-8080._tcp.later.default.svc.cluster.local") == \
        ["0", "100", "8080", "later.default.svc.cluster.local."]
    c.kubectl("delete", "service", "later", check=True)
    c.wait(lambda: rcode(c, "later.default.svc.cluster.local") == "NXDOMAIN", timeout=15,
           what="the deleted Service gone from DNS")
    assert rcode(c, "default.svc.cluster.local") == "NOERROR"
    out = subprocess.run(["nslookup", "my-nginx.default.svc.cluster.local",
                          c.cfg.dns_service_ip], capture_output=True, text=True, timeout=10,
                         check=False)
    my_ip = c.kubectl("get", "svc", "my-nginx", "-o", "jsonpath={.spec.clusterIP}").stdout
    assert f"Address: {my_ip}" in out.stdout


def test_headless_answer_follows_ready_pods(cluster: Cluster) -> None:
    c = cluster

    def pod_ip(name: str) -> str:
        return c.kubectl("get", "pod", name, "-o", "jsonpath={.status.podIP}").stdout

    c.wait(lambda: len(dig(c, "web.default.svc.cluster.local")) == 2, timeout=30,
           what="two web pods in DNS")
    both = dig(c, "web.default.svc.cluster.local")
    assert both == sorted([pod_ip("web-a"), pod_ip("web-b")])
    c.kubectl("delete", "pod", "web-b", "--grace-period=1", check=True)
    c.wait(lambda: dig(c, "web.default.svc.cluster.local") == [both[0]] or
           dig(c, "web.default.svc.cluster.local") == [pod_ip("web-a")],
           timeout=15, what="the headless answer to shrink")


def test_names_resolve_inside_a_pod(cluster: Cluster) -> None:
    c = cluster
    c.wait(lambda: c.kubectl("get", "pod", "client", "-o",
                             "jsonpath={.status.phase}").stdout == "Running",
           timeout=30, what="the client pod running")
    resolv = c.kubectl("exec", "client", "--", "cat", "/etc/resolv.conf").stdout
    if c.cfg.dns_service_ip not in resolv:
        pytest.skip("the pod's /etc/resolv.conf does not point at cluster DNS "
                    "(kubelet sandbox not available here)")
    my_ip = c.kubectl("get", "svc", "my-nginx", "-o", "jsonpath={.spec.clusterIP}").stdout
    r = c.kubectl("exec", "client", "--", "getent", "hosts", "my-nginx")
    if r.returncode == 127 or "not found" in r.stderr:
        pytest.skip("no getent in the busybox image emulation")
    assert my_ip in r.stdout and "my-nginx.default.svc.cluster.local" in r.stdout
    out = c.kubectl("exec", "client", "--", "nslookup", "my-nginx").stdout
    assert c.cfg.dns_service_ip in out and my_ip in out
    c.wait(lambda: "Welcome to nginx!" in c.kubectl(
        "exec", "client", "--", "curl", "-s", "--max-time", "3", "http://my-nginx").stdout,
        timeout=30, what="curl http://my-nginx from the pod")
