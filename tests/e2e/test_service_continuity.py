"""A Service keeps answering through a rolling update, and survives an address someone else holds."""
from __future__ import annotations

import concurrent.futures
import json
import socket
import subprocess
import time

import pytest

from emunet.testing import Cluster

pytestmark = pytest.mark.e2e

WEB = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx
        ports: [{containerPort: 80}]
        # What Kubernetes' docs advise for zero-downtime rollouts: keep serving for a
        # moment after the delete, while every proxy drops the endpoint, before nginx
        # gets its stop signal. Without it a connection can reach a listener that is
        # closing, as on a real cluster.
        lifecycle: {preStop: {sleep: {seconds: 1}}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
"""


@pytest.fixture(scope="module")
def cluster():
    with Cluster(nodes=2) as c:
        c.kubectl("apply", "-f", "-", input=WEB, check=True)
        c.wait(lambda: c.kubectl("rollout", "status", "deployment/web", "--timeout=1s"
                                 ).returncode == 0, timeout=30, what="web rolled out")
        yield c


def _hammer(url: str, seconds: float, limit: int = 2000) -> tuple[int, list[str]]:
    ok, failures = 0, []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and ok + len(failures) < limit:
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "3",
                            url], capture_output=True, text=True)
        if r.stdout == "200":
            ok += 1
        else:
            failures.append(f"rc={r.returncode} code={r.stdout}")
    return ok, failures


def test_requests_keep_succeeding_through_a_rolling_update(cluster):
    ip = cluster.kubectl("get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}",
                         check=True).stdout
    before = set(cluster.kubectl("get", "pods", "-l", "app=web", "-o", "name").stdout.split())
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(_hammer, f"http://{ip}/", 6.0)
        time.sleep(0.3)
        cluster.kubectl("set", "env", "deployment/web", "ROLL=1", check=True)
        r = cluster.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
        assert r.returncode == 0, r.stderr
        ok, failures = fut.result()
    after = set(cluster.kubectl("get", "pods", "-l", "app=web", "-o", "name").stdout.split())
    assert not before & after, "the rollout replaced every pod"
    assert ok > 20 and failures == [], f"{ok} answered; failed: {failures[:5]}"


PLAIN = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: plain}
spec:
  replicas: 2
  selector: {matchLabels: {app: plain}}
  template:
    metadata: {labels: {app: plain}}
    spec:
      containers: [{name: nginx, image: nginx, ports: [{containerPort: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: plain}
spec:
  selector: {app: plain}
  ports: [{port: 80}]
"""


def test_a_pod_deleted_under_requests_loses_none_of_them(cluster):
    """The tutorial's step 20, with no preStop: nginx's graceful SIGQUIT answers what
    reached it, and a connect to its closed listener is retried on the other pod."""
    cluster.kubectl("apply", "-f", "-", input=PLAIN, check=True)
    cluster.wait(lambda: cluster.kubectl("rollout", "status", "deployment/plain",
                                         "--timeout=1s").returncode == 0,
                 timeout=30, what="plain rolled out")
    ip = cluster.kubectl("get", "svc", "plain", "-o", "jsonpath={.spec.clusterIP}",
                         check=True).stdout
    victims = cluster.kubectl("get", "pods", "-l", "app=plain", "-o", "name").stdout.split()
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(_hammer, f"http://{ip}/", 3.0)
        time.sleep(0.3)
        cluster.kubectl("delete", victims[0], check=True)
        ok, failures = fut.result()
    assert ok > 20 and failures == [], f"{ok} answered; failed: {failures[:5]}"


def test_an_address_held_outside_emunet_gets_an_event_and_the_rest_works(cluster):
    lo, _ = cluster.cfg.node_ports
    port = lo + 321
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind((cluster.node_ip(0), port))
    squatter.listen()
    try:
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "held"},
               "spec": {"type": "NodePort", "selector": {"app": "web"},
                        "ports": [{"port": 80, "nodePort": port}]}}
        cluster.kubectl("apply", "-f", "-", input=json.dumps(svc), check=True)

        def warned() -> str | None:
            out = cluster.kubectl("get", "events", "--field-selector",
                                  "involvedObject.name=held,reason=FailedToListen").stdout
            return out if "FailedToListen" in out else None
        out = cluster.wait(warned, what="a FailedToListen event on the Service")
        assert f"{cluster.node_ip(0)}:{port}" in out
        desc = cluster.kubectl("describe", "svc", "held").stdout
        assert "FailedToListen" in desc
        # Every other address of the Service still answers.
        for ip in (cluster.node_ip(0, "ExternalIP"), cluster.node_ip(1),
                   cluster.node_ip(1, "ExternalIP")):
            r = subprocess.run(["curl", "-s", "-m", "5", f"http://{ip}:{port}/"],
                               capture_output=True, text=True)
            assert "Welcome to nginx!" in r.stdout, ip
    finally:
        squatter.close()
    cluster.kubectl("delete", "svc", "held", check=True)
