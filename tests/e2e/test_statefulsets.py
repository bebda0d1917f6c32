"""StatefulSets: stable names, DNS and storage, as Kubernetes' "StatefulSet Basics" shows.

The manifest is the tutorial's `web.yaml` (a headless Service and a StatefulSet whose
pods mount a claim at nginx's document root); the commands are its own.
"""
from __future__ import annotations

import json
import re

import pytest

from emunet.testing import Cluster

pytestmark = pytest.mark.e2e

WEB = """
apiVersion: v1
kind: Service
metadata:
  name: nginx
  labels:
    app: nginx
spec:
  ports:
  - port: 80
    name: web
  clusterIP: None
  selector:
    app: nginx
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: "nginx"
  replicas: 2
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: registry.k8s.io/nginx-slim:0.21
        ports:
        - containerPort: 80
          name: web
        volumeMounts:
        - name: www
          mountPath: /usr/share/nginx/html
  volumeClaimTemplates:
  - metadata:
      name: www
    spec:
      accessModes: [ "ReadWriteOnce" ]
      resources:
        requests:
          storage: 1Gi
"""


@pytest.fixture(scope="module")
def cluster():
    with Cluster(nodes=2) as c:
        yield c


def ok(c: Cluster, *args: str, input: str | None = None) -> str:
    r = c.kubectl(*args, input=input)
    assert r.returncode == 0, f"kubectl {' '.join(args)}: {r.stderr}"
    return r.stdout


def pod(c: Cluster, name: str) -> dict:
    return json.loads(ok(c, "get", "pod", name, "-o", "json"))


def test_pods_come_up_in_order_with_stable_names(cluster):
    ok(cluster, "apply", "-f", "-", input=WEB)
    ok(cluster, "rollout", "status", "statefulset/web", "--timeout=60s")
    web0, web1 = pod(cluster, "web-0"), pod(cluster, "web-1")
    # OrderedReady: web-1 is created only once web-0 is Running and Ready.
    ready0 = next(c["lastTransitionTime"] for c in web0["status"]["conditions"]
                  if c["type"] == "Ready")
    assert web1["metadata"]["creationTimestamp"] >= ready0
    assert ok(cluster, "get", "statefulset", "web").splitlines()[1].split()[:2] == ["web", "2/2"]
    for i in (0, 1):
        assert ok(cluster, "exec", f"web-{i}", "--", "sh", "-c", "hostname") == f"web-{i}\n"


def test_each_pod_has_a_dns_name_under_the_headless_service(cluster):
    ok(cluster, "run", "dns-client", "--image=busybox:1.28", "--restart=Never", "--",
       "sleep", "3600")
    cluster.wait(lambda: pod(cluster, "dns-client")["status"].get("phase") == "Running",
                 what="the client")
    for i in (0, 1):
        out = ok(cluster, "exec", "dns-client", "--", "nslookup", f"web-{i}.nginx")
        ip = pod(cluster, f"web-{i}")["status"]["podIP"]
        assert re.search(rf"^Address 1: {re.escape(ip)} web-{i}\.nginx\.default\.svc\."
                         r"cluster\.local$", out, re.M), out


def test_a_pods_storage_and_name_survive_its_deletion(cluster):
    for i in (0, 1):
        ok(cluster, "exec", f"web-{i}", "--", "sh", "-c",
           'echo "$(hostname)" > /usr/share/nginx/html/index.html')
    for i in (0, 1):
        ip = pod(cluster, f"web-{i}")["status"]["podIP"]
        assert ok(cluster, "exec", "dns-client", "--", "curl", "-sS", f"http://{ip}/") \
            == f"web-{i}\n"
    old_uid = pod(cluster, "web-0")["metadata"]["uid"]
    ok(cluster, "delete", "pod", "web-0")
    cluster.wait(lambda: (p := pod(cluster, "web-0"))["metadata"]["uid"] != old_uid
                 and any(c["type"] == "Ready" and c["status"] == "True"
                         for c in p["status"].get("conditions") or []),
                 timeout=30, what="web-0 recreated and Ready")
    ip = pod(cluster, "web-0")["status"]["podIP"]
    assert ok(cluster, "exec", "dns-client", "--", "curl", "-sS", f"http://{ip}/") == "web-0\n"


def test_kubectl_delete_returns_each_time_the_pod_is_made_anew(cluster):
    # kubectl 1.32 waits for a DELETED event of the name unless its list, made just
    # after the delete, shows the pod gone and nothing new under that name: the
    # kubelet must not remove a pod before its volumes are down (kubectl#1803).
    for _ in range(3):
        old_uid = pod(cluster, "web-1")["metadata"]["uid"]
        r = cluster.kubectl("delete", "pod", "web-1", timeout=30)
        assert r.returncode == 0 and r.stdout == 'pod "web-1" deleted\n', r.stderr
        cluster.wait(lambda: (p := pod(cluster, "web-1"))["metadata"]["uid"] != old_uid
                     and any(c["type"] == "Ready" and c["status"] == "True"
                             for c in p["status"].get("conditions") or []),
                     timeout=30, what="web-1 recreated and Ready")


def test_scaling_down_removes_the_highest_ordinal_first(cluster):
    ok(cluster, "scale", "statefulset", "web", "--replicas=3")
    ok(cluster, "rollout", "status", "statefulset/web", "--timeout=60s")
    assert pod(cluster, "web-2")["spec"]["hostname"] == "web-2"
    ok(cluster, "scale", "statefulset", "web", "--replicas=1")
    cluster.wait(lambda: sorted(n.split("/")[1] for n in ok(
        cluster, "get", "pods", "-l", "app=nginx", "-o", "name").split()) == ["web-0"],
        timeout=60, what="only web-0 left")


def test_an_immutable_field_is_refused(cluster):
    r = cluster.kubectl("patch", "statefulset", "web", "-p", '{"spec":{"serviceName":"other"}}')
    assert r.returncode == 1
    assert "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', " \
        "'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' " \
        "and 'minReadySeconds' are forbidden" in r.stderr
