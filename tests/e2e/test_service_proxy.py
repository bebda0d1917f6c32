"""The Service data plane end to end: real kubectl, curl, openssl and raw sockets."""
from __future__ import annotations

import json
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

from emunet.testing import Cluster

pytestmark = pytest.mark.e2e

AGNHOST = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo}
spec:
  replicas: 3
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers:
      - name: agnhost
        image: registry.k8s.io/e2e-test-images/agnhost:2.53
        args: [netexec, --http-port=8080, --udp-port=8081]
        ports: [{name: http, containerPort: 8080}, {name: udp, containerPort: 8081, protocol: UDP}]
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  type: NodePort
  selector: {app: echo}
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: udp, port: 81, targetPort: udp, protocol: UDP}
"""


@pytest.fixture(scope="module")
def cluster():
    with Cluster(nodes=2) as c:
        c.kubectl("apply", "-f", "-", input=AGNHOST, check=True)
        c.wait(lambda: len(ready_ips(c, "echo")) == 3, timeout=30, what="3 ready echo pods")
        yield c


def ready_ips(c: Cluster, svc: str) -> list[str]:
    r = c.kubectl("get", "endpoints", svc, "-o", "json")
    if r.returncode:
        return []
    return [a["ip"] for s in json.loads(r.stdout).get("subsets") or []
            for a in s.get("addresses") or []]


def svc_field(c: Cluster, svc: str, path: str) -> str:
    return c.kubectl("get", "svc", svc, "-o", f"jsonpath={{{path}}}", check=True).stdout


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-s", "-m", "5", *args], capture_output=True, text=True, check=False)


def hostnames(url: str, n: int) -> list[str]:
    return [curl(url).stdout.strip() for _ in range(n)]


def test_every_pod_serves_in_round_robin(cluster):
    ip = svc_field(cluster, "echo", ".spec.clusterIP")
    pods = set(cluster.kubectl("get", "pods", "-l", "app=echo", "-o",
                               "jsonpath={.items[*].metadata.name}").stdout.split())
    cluster.wait(lambda: curl(f"http://{ip}/hostname").returncode == 0, what="the ClusterIP")
    seen = hostnames(f"http://{ip}/hostname", 9)
    assert set(seen) == pods
    # The proxy's counters show the same spread.
    url = json.loads((Path(cluster.state) / "proxy.json").read_text())["stats"]
    stats = json.loads(urllib.request.urlopen(url, timeout=5).read())
    eps = stats["services"]["default/echo:http/TCP"]["endpoints"]
    assert len(eps) == 3 and all(e["connections_total"] >= 3 for e in eps.values())


def test_node_port_on_every_node_address(cluster):
    port = svc_field(cluster, "echo", ".spec.ports[0].nodePort")
    for i in range(cluster.cfg.nodes):
        for ip in (cluster.cfg.node_internal_ip(i), cluster.cfg.node_external_ip(i)):
            r = curl(f"http://{ip}:{port}/hostname")
            assert r.returncode == 0 and r.stdout.startswith("echo-"), (ip, r)


def test_udp_echo_through_the_cluster_ip(cluster):
    ip = svc_field(cluster, "echo", ".spec.clusterIP")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    try:
        s.sendto(b"echo hello", (ip, 81))
        assert s.recvfrom(4096)[0] == b"hello"
        s.sendto(b"hostname", (ip, 81))
        assert s.recvfrom(4096)[0].decode().startswith("echo-")
    finally:
        s.close()


def test_client_ip_affinity_sticks(cluster):
    cluster.kubectl("patch", "svc", "echo", "-p", '{"spec":{"sessionAffinity":"ClientIP"}}',
                    check=True)
    ip = svc_field(cluster, "echo", ".spec.clusterIP")
    try:
        cluster.wait(lambda: len(set(hostnames(f"http://{ip}/hostname", 6))) == 1,
                     what="affinity to take effect")
        assert len(set(hostnames(f"http://{ip}/hostname", 10))) == 1
    finally:
        cluster.kubectl("patch", "svc", "echo", "-p", '{"spec":{"sessionAffinity":"None"}}')


def test_load_balancer_ip_after_patch(cluster):
    cluster.kubectl("patch", "svc", "echo", "-p", '{"spec":{"type":"LoadBalancer"}}', check=True)
    lb = cluster.wait(lambda: svc_field(cluster, "echo", ".status.loadBalancer.ingress[0].ip"),
                      what="an ingress IP")
    cluster.wait(lambda: curl(f"http://{lb}/hostname").stdout.startswith("echo-"),
                 what=f"http://{lb}/hostname to answer")


def test_deleted_pod_leaves_the_rotation(cluster):
    ip = svc_field(cluster, "echo", ".spec.clusterIP")
    victim = cluster.kubectl("get", "pods", "-l", "app=echo", "-o",
                             "jsonpath={.items[0].metadata.name}").stdout
    cluster.kubectl("delete", "pod", victim, "--wait=false", check=True)
    cluster.wait(lambda: victim not in hostnames(f"http://{ip}/hostname", 6),
                 what=f"{victim} to leave the rotation")
    assert victim not in hostnames(f"http://{ip}/hostname", 9)


def test_no_endpoints_is_connection_refused(cluster):
    cluster.kubectl("create", "service", "clusterip", "nobody", "--tcp=80:80", check=True)
    ip = cluster.wait(lambda: svc_field(cluster, "nobody", ".spec.clusterIP"), what="an IP")
    r = curl(f"http://{ip}/")
    assert r.returncode == 7, r  # curl: (7) Failed to connect ... Connection refused


def test_kubernetes_service_reaches_the_api(cluster):
    r = curl("-k", "-o", "/dev/null", "-w", "%{http_code}",
             f"https://{cluster.cfg.kubernetes_service_ip}/version")
    assert r.returncode == 0 and r.stdout in ("200", "401", "403"), r


def test_load_balancer_ends_tls_with_the_secret(cluster, tmp_path):
    key, crt = tmp_path / "tls.key", tmp_path / "tls.crt"
    make_cert(key, crt)
    cluster.kubectl("create", "secret", "tls", "echo-cert", f"--cert={crt}", f"--key={key}",
                    check=True)
    cluster.kubectl("annotate", "svc", "echo", "emunet.io/tls-secret=echo-cert",
                    "emunet.io/tls-ports=80", check=True)
    cluster.kubectl("patch", "svc", "echo", "-p", '{"spec":{"type":"LoadBalancer"}}', check=True)
    lb = cluster.wait(lambda: svc_field(cluster, "echo", ".status.loadBalancer.ingress[0].ip"),
                      what="an ingress IP")
    cluster.wait(lambda: curl("--cacert", str(crt), "--resolve", f"echo.test:80:{lb}",
                              "https://echo.test:80/hostname").stdout.startswith("echo-"),
                 what="TLS to end at the load balancer")
    # The ClusterIP stays plain pass-through.
    ip = svc_field(cluster, "echo", ".spec.clusterIP")
    assert curl(f"http://{ip}/hostname").stdout.startswith("echo-")
    r = subprocess.run(["openssl", "s_client", "-connect", f"{lb}:80", "-servername", "echo.test"],
                       input="", capture_output=True, text=True, timeout=10, check=False)
    assert "CN=echo.test" in r.stdout or "CN = echo.test" in r.stdout


def make_cert(key: Path, crt: Path) -> None:
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-newkey", "rsa:2048", "-days", "1",
                    "-keyout", str(key), "-out", str(crt), "-subj", "/CN=echo.test",
                    "-addext", "subjectAltName=DNS:echo.test"],
                   check=True, capture_output=True, timeout=30)
