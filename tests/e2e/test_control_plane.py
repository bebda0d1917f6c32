"""The control plane as a kubectl user drives it (issue 2), against a real cluster."""
from __future__ import annotations

import http.client
import ipaddress
import json
import os
import ssl
import stat
import subprocess
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from emunet.testing import Cluster

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster():
    with Cluster(nodes=2, wait_nodes=False) as c:
        yield c


def ok(c: Cluster, *args: str, input: str | None = None) -> str:
    r = c.kubectl(*args, input=input)
    assert r.returncode == 0, f"kubectl {' '.join(args)} failed: {r.stderr}"
    return r.stdout


def fail(c: Cluster, *args: str, input: str | None = None) -> str:
    r = c.kubectl(*args, input=input)
    assert r.returncode != 0, f"kubectl {' '.join(args)} should have failed: {r.stdout}"
    return r.stderr


def raw(c: Cluster, method: str, path: str, body: bytes | None = None,
        headers: dict[str, str] | None = None, token: bool = True) -> tuple[int, dict]:
    ctx = ssl.create_default_context(cafile=c.creds.ca_file)
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {c.creds.token}"
    req = urllib.request.Request(c.server + path, data=body, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_builtin_objects_are_there(cluster):
    out = ok(cluster, "get", "ns")
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert ns in out
    svc = ok(cluster, "get", "services", "kube-dns", "--namespace=kube-system")
    assert cluster.cfg.dns_service_ip in svc and "53/UDP,53/TCP" in svc
    kube = json.loads(ok(cluster, "get", "svc", "kubernetes", "-o", "json"))
    assert kube["spec"]["clusterIP"] == cluster.cfg.kubernetes_service_ip
    cluster.wait(lambda: cluster.kubectl("get", "sa", "default", "-o", "name").stdout.strip()
                 == "serviceaccount/default", what="the default ServiceAccount")


def test_apply_creates_then_is_unchanged_then_configures(cluster, examples, tmp_path):
    assert ok(cluster, "apply", "-f", str(examples / "run-my-nginx.yaml")).strip() == \
        "deployment.apps/my-nginx created"
    assert ok(cluster, "apply", "-f", str(examples / "run-my-nginx.yaml")).strip() == \
        "deployment.apps/my-nginx unchanged"
    changed = (examples / "run-my-nginx.yaml").read_text().replace("replicas: 2", "replicas: 3")
    (tmp_path / "d.yaml").write_text(changed)
    assert ok(cluster, "apply", "-f", str(tmp_path / "d.yaml")).strip() == \
        "deployment.apps/my-nginx configured"
    assert ok(cluster, "get", "deploy", "my-nginx", "-o", "jsonpath={.spec.replicas}") == "3"
    d = yaml.safe_load(ok(cluster, "get", "deploy", "my-nginx", "-o", "yaml"))
    assert d["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {
        "maxSurge": "25%", "maxUnavailable": "25%"}}
    assert d["spec"]["revisionHistoryLimit"] == 10
    pod = d["spec"]["template"]["spec"]
    assert (pod["restartPolicy"], pod["dnsPolicy"], pod["terminationGracePeriodSeconds"]) == \
        ("Always", "ClusterFirst", 30)
    assert ok(cluster, "apply", "-f", str(examples / "run-my-nginx.yaml")).strip() == \
        "deployment.apps/my-nginx configured"


def test_expose_describe_and_columns(cluster, examples):
    ok(cluster, "apply", "-f", str(examples / "run-my-nginx.yaml"))
    assert ok(cluster, "expose", "deployment/my-nginx").strip() == "service/my-nginx exposed"
    out = ok(cluster, "get", "svc", "my-nginx", "-o", "wide").splitlines()
    assert out[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE",
                              "SELECTOR"]
    name, typ, ip, ext, ports, _age, sel = out[1].split()
    assert (name, typ, ext, ports, sel) == ("my-nginx", "ClusterIP", "<none>", "80/TCP",
                                            "run=my-nginx")
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(cluster.cfg.service_cidr)
    desc = ok(cluster, "describe", "svc", "my-nginx")
    for line in ("Selector:                 run=my-nginx", "Type:                     ClusterIP",
                 f"IP:                       {ip}", "Session Affinity:         None"):
        assert line in desc
    svc = json.loads(ok(cluster, "get", "svc", "my-nginx", "-o", "json"))
    assert svc["spec"]["ports"][0] == {"port": 80, "protocol": "TCP", "targetPort": 80}
    assert svc["spec"]["sessionAffinity"] == "None"
    ok(cluster, "delete", "svc", "my-nginx")


def test_scale_subresource(cluster, examples):
    ok(cluster, "apply", "-f", str(examples / "run-my-nginx.yaml"))
    assert ok(cluster, "scale", "deployment", "my-nginx", "--replicas=0").strip() == \
        "deployment.apps/my-nginx scaled"
    assert ok(cluster, "get", "deploy", "my-nginx", "-o", "jsonpath={.spec.replicas}") == "0"
    ok(cluster, "scale", "deployment", "my-nginx", "--replicas=2")
    assert ok(cluster, "get", "deploy", "my-nginx", "-o", "jsonpath={.spec.replicas}") == "2"


def test_edit_with_an_editor_script_changes_type_and_allocates_node_ports(cluster, examples,
                                                                          tmp_path):
    ok(cluster, "apply", "-f", str(examples / "nginx-svc.yaml"))
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/type: ClusterIP/type: NodePort/' \"$1\"\n")
    editor.chmod(0o755)
    r = subprocess.run(["kubectl", "edit", "svc", "my-nginx"], env={**cluster.env,
                       "EDITOR": str(editor), "KUBE_EDITOR": str(editor)},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "service/my-nginx edited"
    svc = json.loads(ok(cluster, "get", "svc", "my-nginx", "-o", "json"))
    assert svc["spec"]["type"] == "NodePort"
    lo, hi = cluster.cfg.node_ports
    assert lo <= svc["spec"]["ports"][0]["nodePort"] <= hi
    # Back to ClusterIP: the node port is released and dropped.
    ok(cluster, "patch", "svc", "my-nginx", "-p", '{"spec":{"type":"ClusterIP"}}')
    svc = json.loads(ok(cluster, "get", "svc", "my-nginx", "-o", "json"))
    assert "nodePort" not in svc["spec"]["ports"][0]
    ok(cluster, "delete", "svc", "my-nginx")


def test_requested_node_port_that_is_taken_is_rejected(cluster):
    lo, _ = cluster.cfg.node_ports
    manifest = textwrap.dedent(f"""
        apiVersion: v1
        kind: Service
        metadata: {{name: NAME}}
        spec:
          type: NodePort
          selector: {{app: x}}
          ports: [{{port: 80, nodePort: {lo + 7}}}]
    """)
    ok(cluster, "apply", "-f", "-", input=manifest.replace("NAME", "np-a"))
    err = fail(cluster, "apply", "-f", "-", input=manifest.replace("NAME", "np-b"))
    assert "spec.ports[0].nodePort: Invalid value: " in err
    assert "provided port is already allocated" in err
    ok(cluster, "delete", "svc", "np-a")
    ok(cluster, "apply", "-f", "-", input=manifest.replace("NAME", "np-b"))
    ok(cluster, "delete", "svc", "np-b")


def test_invalid_manifests_get_422_with_the_field_path(cluster):
    err = fail(cluster, "apply", "-f", "-", input=textwrap.dedent("""
        apiVersion: v1
        kind: Service
        metadata: {name: bad}
        spec: {selector: {app: x}}
    """))
    assert 'The Service "bad" is invalid: spec.ports: Required value' in err
    err = fail(cluster, "apply", "-f", "-", input=textwrap.dedent("""
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: mismatch}
        spec:
          selector: {matchLabels: {run: a}}
          template:
            metadata: {labels: {run: b}}
            spec: {containers: [{name: c, image: nginx}]}
    """))
    assert "spec.template.metadata.labels: Invalid value" in err
    assert "`selector` does not match template `labels`" in err
    err = fail(cluster, "apply", "-f", "-", input=textwrap.dedent("""
        apiVersion: v1
        kind: Service
        metadata: {name: Bad_Name}
        spec: {ports: [{port: 80}]}
    """))
    assert "metadata.name: Invalid value: \"Bad_Name\"" in err


def test_unknown_fields_are_rejected_under_strict_validation(cluster):
    err = fail(cluster, "apply", "-f", "-", input=textwrap.dedent("""
        apiVersion: v1
        kind: Service
        metadata: {name: strict}
        spec: {ports: [{port: 80}], replicas: 3}
    """))
    assert 'unknown field "spec.replicas"' in err


def test_create_secret_and_configmap_send_protobuf(cluster, tmp_path):
    (tmp_path / "default.conf").write_text("server { listen 80; }\n")
    assert ok(cluster, "create", "secret", "generic", "s1", "--from-literal=user=admin",
              "--from-literal=pass=pw").strip() == "secret/s1 created"
    assert ok(cluster, "create", "configmap", "nginxconfigmap",
              f"--from-file={tmp_path / 'default.conf'}").strip() == \
        "configmap/nginxconfigmap created"
    rows = ok(cluster, "get", "secrets").splitlines()
    assert rows[0].split() == ["NAME", "TYPE", "DATA", "AGE"]
    assert ["s1", "Opaque", "2"] == rows[1].split()[:3]
    desc = ok(cluster, "describe", "configmap", "nginxconfigmap")
    assert "server { listen 80; }" in desc
    pw = ok(cluster, "get", "secret", "s1", "-o", "jsonpath={.data.pass}")
    assert pw == "cHc="


def test_watch_sees_changes_as_table_rows(cluster):
    ok(cluster, "create", "configmap", "anchor", "--from-literal=a=b")
    proc = subprocess.Popen(["kubectl", "get", "configmaps", "-w", "--output-watch-events"],
                            env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        seen = [proc.stdout.readline().split()]
        while seen[-1][1:2] != ["anchor"]:  # the initial list has been printed
            seen.append(proc.stdout.readline().split())
        ok(cluster, "create", "configmap", "watched", "--from-literal=a=b")
        ok(cluster, "delete", "configmap", "watched")
        for line in proc.stdout:
            seen.append(line.split())
            if seen[-1][:2] == ["DELETED", "watched"]:
                break
        assert ["EVENT", "NAME", "DATA", "AGE"] == seen[0]
        assert any(s[:2] == ["ADDED", "watched"] for s in seen)
    finally:
        proc.kill()
        proc.communicate()


def test_delete_and_not_found(cluster, examples):
    ok(cluster, "apply", "-f", str(examples / "run-my-nginx.yaml"))
    ok(cluster, "expose", "deployment/my-nginx")
    out = ok(cluster, "delete", "deployments,svc", "my-nginx")
    assert 'deployment.apps "my-nginx" deleted' in out and 'service "my-nginx" deleted' in out
    err = fail(cluster, "get", "deploy", "my-nginx")
    assert 'Error from server (NotFound): deployments.apps "my-nginx" not found' in err


def test_bad_requests_get_status_bodies(cluster):
    code, body = raw(cluster, "GET", "/api/v1/namespaces", token=False)
    assert (code, body["reason"]) == (401, "Unauthorized")
    code, body = raw(cluster, "POST", "/api/v1/namespaces/default/configmaps", b"{not json",
                     {"Content-Type": "application/json"})
    assert code == 400 and body["kind"] == "Status" and "invalid JSON" in body["message"]
    code, body = raw(cluster, "POST", "/api/v1/namespaces/default/configmaps", b"x",
                     {"Content-Type": "text/csv"})
    assert code == 415 and "application/json" in body["message"]
    code, body = raw(cluster, "POST", "/api/v1/namespaces/default/configmaps",
                     b'{"metadata":{"name":"big"},"data":{"a":"' + b"x" * (4 << 20) + b'"}}',
                     {"Content-Type": "application/json"})
    assert code == 413
    code, body = raw(cluster, "POST", "/api/v1/namespaces/default/widgets", b"{}",
                     {"Content-Type": "application/json"})
    assert code == 404
    # No Content-Type at all is JSON, as the Python client sends it.
    host, port = cluster.server.removeprefix("https://").split(":")
    conn = http.client.HTTPSConnection(host, int(port), context=ssl.create_default_context(
        cafile=cluster.creds.ca_file))
    conn.putrequest("POST", "/api/v1/namespaces/default/configmaps")
    body_bytes = b'{"metadata":{"name":"no-ctype"},"data":{"k":"v"}}'
    conn.putheader("Authorization", f"Bearer {cluster.creds.token}")
    conn.putheader("Content-Length", str(len(body_bytes)))
    conn.endheaders(body_bytes)
    resp = conn.getresponse()
    assert resp.status == 201 and json.loads(resp.read())["data"] == {"k": "v"}
    conn.close()


def test_dry_run_creates_nothing(cluster):
    out = ok(cluster, "create", "configmap", "dry", "--from-literal=a=b", "--dry-run=server")
    assert "configmap/dry created (server dry run)" in out
    assert fail(cluster, "get", "cm", "dry")


def test_stale_resource_version_conflicts(cluster):
    ok(cluster, "create", "configmap", "cas", "--from-literal=a=b")
    cm = json.loads(ok(cluster, "get", "cm", "cas", "-o", "json"))
    cm["data"]["a"] = "c"
    ok(cluster, "replace", "-f", "-", input=json.dumps(cm))
    cm["data"]["a"] = "d"
    err = fail(cluster, "replace", "-f", "-", input=json.dumps(cm))
    assert "Operation cannot be fulfilled on configmaps \"cas\": the object has been modified" in err


def test_objects_survive_kill_9_and_restart(examples):
    with Cluster(nodes=1, wait_nodes=False) as c:
        ok(c, "apply", "-f", str(examples / "nginx-svc.yaml"))
        before = json.loads(ok(c, "get", "svc", "my-nginx", "-o", "json"))
        c.kill()
        c.restart()
        after = json.loads(ok(c, "get", "svc", "my-nginx", "-o", "json"))
        assert after["metadata"]["uid"] == before["metadata"]["uid"]
        assert after["spec"]["clusterIP"] == before["spec"]["clusterIP"]
        ok(c, "create", "configmap", "later", "--from-literal=a=b")
        later = json.loads(ok(c, "get", "cm", "later", "-o", "json"))
        assert int(later["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])
        # A new Service never gets the old one's address.
        ok(c, "apply", "-f", "-", input=(examples / "nginx-svc.yaml").read_text().replace(
            "name: my-nginx", "name: other"))
        other = json.loads(ok(c, "get", "svc", "other", "-o", "json"))
        assert other["spec"]["clusterIP"] != before["spec"]["clusterIP"]


def test_up_down_status_and_kubeconfig(tmp_path):
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"),
           "KUBECONFIG": str(tmp_path / "kube" / "config"), "HOME": str(tmp_path)}
    cfg = tmp_path / "cluster.yaml"
    cfg.write_text("nodes: 1\npodCIDR: 127.91.0.0/17\nserviceCIDR: 127.91.128.0/18\n"
                   "nodeIPBase: 127.91.192.0\nloadBalancerCIDR: 127.91.224.0/20\napiPort: 16443\n")

    def emunet(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["python", "-m", "emunet", *args, "--name", "cli"], env=env,
                              capture_output=True, text=True, timeout=60)

    try:
        up = emunet("up", "--config", str(cfg))
        assert up.returncode == 0, up.stderr
        assert 'Cluster "cli" is ready' in up.stdout and "cli-worker" in up.stdout
        kc = tmp_path / "kube" / "config"
        assert stat.S_IMODE(kc.stat().st_mode) == 0o600
        data = yaml.safe_load(kc.read_text())
        assert data["current-context"] == "emunet-cli"
        again = emunet("up")
        assert "already running" in again.stdout and again.returncode == 0
        r = subprocess.run(["kubectl", "get", "nodes"], env=env, capture_output=True, text=True)
        assert r.returncode == 0 and "cli-worker" in r.stdout and "Ready" in r.stdout
        st = emunet("status")
        assert st.returncode == 0 and "kubelet-cli-worker" in st.stdout
    finally:
        down = emunet("down", "--purge")
    assert down.returncode == 0 and 'Cluster "cli" stopped.' in down.stdout
    again = emunet("down")
    assert again.returncode == 0 and "is not running" in again.stdout
    data = yaml.safe_load((tmp_path / "kube" / "config").read_text())
    assert all(c["name"] != "emunet-cli" for c in data["contexts"])
    assert not Path(tmp_path / "state" / "emunet" / "cli").exists()
