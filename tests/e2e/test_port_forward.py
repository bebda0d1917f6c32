"""`kubectl port-forward` to pods and Services, driven by the real kubectl."""
from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from emunet.testing import Cluster

pytestmark = pytest.mark.e2e

APPS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: nginx, image: nginx, ports: [{containerPort: 80, name: http}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 8080, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: files}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "head -c 3000000 /dev/urandom > /etc/blob;
              exec python3 -m http.server 8000 --bind $POD_IP --directory /etc"]
    env:
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    readinessProbe:
      tcpSocket: {port: 8000}
      periodSeconds: 1
"""


@pytest.fixture(scope="module")
def cluster():
    with Cluster(nodes=2) as c:
        c.kubectl("apply", "-f", "-", input=APPS, check=True)
        c.wait(lambda: c.kubectl("rollout", "status", "deployment/web", "--timeout=1s"
                                 ).returncode == 0, timeout=30, what="web rolled out")
        c.wait(lambda: c.kubectl("get", "pod", "files", "-o",
                                 "jsonpath={.status.containerStatuses[0].ready}"
                                 ).stdout == "true", timeout=30, what="files ready")
        yield c


@contextmanager
def port_forward(c: Cluster, target: str, port: str) -> Iterator[tuple[int, subprocess.Popen]]:
    """Run `kubectl port-forward TARGET :PORT`; yields the local port kubectl chose."""
    proc = subprocess.Popen(["kubectl", "port-forward", target, f":{port}"], env=c.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)", line)
        assert m, f"kubectl said {line!r}: {proc.stderr.read() if proc.poll() is not None else ''}"
        yield int(m.group(1)), proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.communicate(timeout=10)   # also closes the pipes


def curl(url: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["curl", "-sS", "--max-time", "10", *args, url], capture_output=True,
                          timeout=20)


def test_port_forward_to_a_service_reaches_its_pod(cluster):
    with port_forward(cluster, "svc/web", "8080") as (local, proc):
        # kubectl maps the Service port to the pod's named target port itself.
        for _ in range(3):
            r = curl(f"http://127.0.0.1:{local}/")
            assert b"<title>Welcome to nginx!</title>" in r.stdout, r.stderr
        assert curl(f"http://127.0.0.1:{local}/missing", "-o", "/dev/null", "-w",
                    "%{http_code}").stdout == b"404"
    pod = cluster.kubectl("get", "pods", "-l", "app=web", "-o", "name").stdout.split()[0]
    logs = cluster.kubectl("logs", pod).stdout
    assert logs.count('"GET / HTTP/1.1" 200') >= 3 and '"GET /missing HTTP/1.1" 404' in logs


def test_port_forward_carries_megabytes_both_ways_in_order(cluster):
    want = cluster.kubectl("exec", "files", "--", "sha256sum", "/etc/blob",
                           check=True).stdout.split()[0]
    with port_forward(cluster, "pod/files", "8000") as (local, _):
        r = curl(f"http://127.0.0.1:{local}/blob")
        assert r.returncode == 0, r.stderr
        assert len(r.stdout) == 3_000_000
        assert hashlib.sha256(r.stdout).hexdigest() == want
        # Several at once, each on its own pair of streams.
        procs = [subprocess.Popen(["curl", "-sS", "--max-time", "20", "-o", "/dev/null", "-w",
                                   "%{size_download}", f"http://127.0.0.1:{local}/blob"],
                                  stdout=subprocess.PIPE) for _ in range(4)]
        sizes = [p.communicate(timeout=30)[0] for p in procs]
        assert sizes == [b"3000000"] * 4


def test_a_port_nothing_listens_on_gets_the_kubelets_error(cluster):
    proc = subprocess.Popen(["kubectl", "port-forward", "pod/files", ":81"], env=cluster.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        local = int(re.findall(r"127\.0\.0\.1:(\d+)", proc.stdout.readline())[0])
        r = curl(f"http://127.0.0.1:{local}/")
        assert r.returncode != 0
        # kubectl 1.32 gives up after a failed connection, as against a real kubelet.
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "an error occurred forwarding" in err and "error forwarding port 81 to pod files" in err
    assert re.search(r"dial tcp [\d.]+:81: connect: connection refused", err), err


def test_a_pod_that_is_not_running_is_refused(cluster):
    cluster.kubectl("apply", "-f", "-", check=True, input="""
apiVersion: v1
kind: Pod
metadata: {name: stuck}
spec:
  containers: [{name: c, image: example.com/no-such-image:1}]
""")
    r = cluster.kubectl("port-forward", "pod/stuck", ":80", timeout=20)
    assert r.returncode != 0
    assert "unable to forward port because pod is not running. Current status=Pending" \
        in r.stderr
