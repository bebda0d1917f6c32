"""The tutorial "Connecting Applications with Services", verbatim, as numbered in WALKTHROUGH.md.

One cluster, the tutorial's own manifests from examples/, and the real kubectl, curl,
openssl and (through `kubectl run -i --tty`, driven on a pty) nslookup. The steps run
in order, as a reader runs them; each asserts what the reader sees.
"""
from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from emunet.testing import Cluster

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


class Tutorial:
    def __init__(self, c: Cluster, workdir: Path) -> None:
        self.c = c
        self.dir = workdir

    def run(self, *args: str, input: str | None = None, check: bool = True,
            timeout: float = 60) -> str:
        r = subprocess.run(list(args), env=self.c.env, cwd=self.dir, input=input, text=True,
                           capture_output=True, timeout=timeout)
        if check:
            assert r.returncode == 0, f"{' '.join(args)} -> {r.returncode}: {r.stderr}"
        return r.stdout

    def k(self, *args: str, **kw) -> str:
        return self.run("kubectl", *args, **kw)

    def curl(self, *args: str) -> str:
        return self.run("curl", "-sS", "--max-time", "5", "--noproxy", "*", *args)

    def pods(self, selector: str) -> list[dict]:
        items = json.loads(self.k("get", "pods", "-l", selector, "-o", "json"))["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def running(self, selector: str, count: int) -> list[dict]:
        def ready() -> list[dict] | None:
            pods = self.pods(selector)
            ok = [p for p in pods if p["status"].get("phase") == "Running" and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in p["status"].get("conditions", []))]
            return ok if len(ok) == count and len(pods) == count else None
        return self.c.wait(ready, timeout=30, what=f"{count} Ready pods with {selector}")

    def endpoints(self, name: str) -> set[str]:
        ep = json.loads(self.k("get", "ep", name, "-o", "json"))
        return {f"{a['ip']}:{p['port']}" for s in ep.get("subsets") or []
                for a in s.get("addresses") or [] for p in s["ports"]}


@pytest.fixture(scope="module")
def tut(tmp_path_factory):
    work = tmp_path_factory.mktemp("tutorial")
    for f in (ROOT / "examples").glob("*.yaml"):
        shutil.copy(f, work / f.name)
    with Cluster(nodes=2) as c:
        yield Tutorial(c, work)


@pytest.fixture(scope="module")
def state():
    return {}


def test_01_cluster_is_up_and_current(tut):
    assert tut.k("config", "current-context").strip() == tut.c.cfg.context_name
    nodes = tut.k("get", "nodes").splitlines()
    assert len(nodes) == 3 and all(" Ready " in n for n in nodes[1:])


def test_02_apply_the_deployment(tut):
    assert tut.k("apply", "-f", "./run-my-nginx.yaml").strip() == "deployment.apps/my-nginx created"


def test_03_two_pods_running_on_different_nodes(tut, state):
    tut.running("run=my-nginx", 2)
    out = tut.k("get", "pods", "-l", "run=my-nginx", "-o", "wide").splitlines()
    assert out[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
                              "NOMINATED", "NODE", "READINESS", "GATES"]
    rows = [r.split() for r in out[1:]]
    assert [r[1:3] for r in rows] == [["1/1", "Running"]] * 2
    pod_net = ipaddress.ip_network(tut.c.cfg.pod_cidr)
    assert all(ipaddress.ip_address(r[5]) in pod_net for r in rows)
    assert len({r[6] for r in rows}) == 2, "the two replicas share a node"


def test_04_pod_ips_in_yaml(tut, state):
    lines = [ln for ln in tut.k("get", "pods", "-l", "run=my-nginx", "-o", "yaml").splitlines()
             if "podIP" in ln]
    ips = {ln.split(":", 1)[1].strip() for ln in lines if ln.strip().startswith("podIP:")}
    assert len(ips) == 2
    state["pod_ips"] = ips


def test_05_each_pod_serves_on_its_own_ip(tut, state):
    for ip in state["pod_ips"]:
        assert "Welcome to nginx!" in tut.curl(f"http://{ip}/")


def test_06_expose(tut):
    assert tut.k("expose", "deployment/my-nginx").strip() == "service/my-nginx exposed"


def test_07_get_svc(tut, state):
    out = tut.k("get", "svc", "my-nginx").splitlines()
    assert out[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    name, typ, ip, ext, ports, _ = out[1].split()
    assert (name, typ, ext, ports) == ("my-nginx", "ClusterIP", "<none>", "80/TCP")
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(tut.c.cfg.service_cidr)
    state["cluster_ip"] = ip


def test_08_describe_and_endpoints(tut, state):
    want = {f"{ip}:80" for ip in state["pod_ips"]}
    tut.c.wait(lambda: tut.endpoints("my-nginx") == want, what="endpoints of my-nginx")
    desc = tut.k("describe", "svc", "my-nginx")
    assert re.search(r"^Selector:\s+run=my-nginx$", desc, re.M)
    assert re.search(r"^Type:\s+ClusterIP$", desc, re.M)
    assert re.search(rf"^IP:\s+{re.escape(state['cluster_ip'])}$", desc, re.M)
    assert re.search(r"^Port:\s+<unset>\s+80/TCP$", desc, re.M)
    shown = re.search(r"^Endpoints:\s+(\S+)$", desc, re.M)
    assert shown and set(shown.group(1).split(",")) == want
    assert re.search(r"^Session Affinity:\s+None$", desc, re.M)
    row = tut.k("get", "ep", "my-nginx").splitlines()[1].split()
    assert set(row[1].split(",")) == want


def test_09_cluster_ip_round_robins_over_both_pods(tut, state):
    for _ in range(10):
        assert "Welcome to nginx!" in tut.curl(f"http://{state['cluster_ip']}:80/")
    for pod in tut.pods("run=my-nginx"):
        logs = tut.k("logs", pod["metadata"]["name"])
        assert logs.count('"GET / HTTP/1.1" 200') >= 3, f"{pod['metadata']['name']} served little"


def test_10_pods_made_before_the_service_have_no_service_variables(tut):
    pod = tut.pods("run=my-nginx")[0]["metadata"]["name"]
    env = tut.k("exec", pod, "--", "printenv")
    lines = [ln for ln in env.splitlines() if "SERVICE" in ln]
    assert any(ln.startswith("KUBERNETES_SERVICE_HOST=") for ln in lines)
    assert any(ln == "KUBERNETES_SERVICE_PORT=443" for ln in lines)
    assert not any(ln.startswith("MY_NGINX") for ln in lines)


def test_11_scaling_to_zero_and_back_gives_new_pods_with_service_variables(tut, state):
    before = {p["metadata"]["name"] for p in tut.pods("run=my-nginx")}
    tut.k("scale", "deployment", "my-nginx", "--replicas=0")
    tut.c.wait(lambda: not tut.pods("run=my-nginx"), what="pods to go")
    tut.k("scale", "deployment", "my-nginx", "--replicas=2")
    pods = tut.running("run=my-nginx", 2)
    assert not before & {p["metadata"]["name"] for p in pods}
    assert len({p["spec"]["nodeName"] for p in pods}) == 2
    env = tut.k("exec", pods[0]["metadata"]["name"], "--", "printenv").splitlines()
    assert f"MY_NGINX_SERVICE_HOST={state['cluster_ip']}" in env
    assert "MY_NGINX_SERVICE_PORT=80" in env
    state["pod_ips"] = {p["status"]["podIP"] for p in pods}


def test_12_kube_dns_service(tut):
    row = tut.k("get", "services", "kube-dns", "--namespace=kube-system").splitlines()[1].split()
    assert row[:3] == ["kube-dns", "ClusterIP", tut.c.cfg.dns_service_ip]
    assert row[4].startswith("53/UDP,53/TCP")


def test_13_nslookup_from_a_shell_in_a_pod(tut, state):
    import pty
    master, slave = pty.openpty()
    proc = subprocess.Popen(["kubectl", "run", "curl", "--image=radial/busyboxplus:curl", "-i",
                             "--tty"], env=tut.c.env, stdin=slave, stdout=slave, stderr=slave,
                            cwd=tut.dir, start_new_session=True)
    os.close(slave)
    seen = b""

    def read_until(pattern: bytes, timeout: float = 30) -> bytes:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while pattern not in seen and time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    break
        assert pattern in seen, f"never saw {pattern!r}: {seen[-2000:]!r}"
        return seen

    try:
        read_until(b"If you don't see a command prompt, try pressing enter.")
        os.write(master, b"\r")
        os.write(master, b"nslookup my-nginx\r")
        out = read_until(state["cluster_ip"].encode()).decode(errors="replace")
        assert "Server:" in out and tut.c.cfg.dns_service_ip in out
        assert re.search(r"Name:\s+my-nginx", out)
        os.write(master, b"exit\r")
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    tut.k("delete", "pod", "curl", "--wait=false")


def test_14_secret_from_the_tutorial_openssl_steps_and_from_make(tut, tmp_path):
    out = subprocess.run(["make", "keys", "secret", f"KEY={tmp_path}/nginx.key",
                          f"CERT={tmp_path}/nginx.crt", f"SECRET={tmp_path}/secret.json"],
                         cwd=ROOT / "certs",
                         capture_output=True, text=True, env=tut.c.env)
    assert out.returncode == 0, out.stderr
    assert tut.k("apply", "-f", f"{tmp_path}/secret.json").strip() == "secret/nginxsecret created"
    d = tmp_path / "d" / "tmp"
    d.mkdir(parents=True)
    tut.run("openssl", "req", "-x509", "-nodes", "-days", "365", "-newkey", "rsa:2048",
            "-keyout", f"{d}/nginx.key", "-out", f"{d}/nginx.crt", "-subj",
            "/CN=my-nginx/O=my-nginx")
    crt = tut.run("base64", "-w0", f"{d}/nginx.crt")
    key = tut.run("base64", "-w0", f"{d}/nginx.key")
    (tut.dir / "nginxsecrets.yaml").write_text(
        'apiVersion: "v1"\nkind: "Secret"\nmetadata:\n  name: "nginxsecret"\n'
        f'  namespace: "default"\ndata:\n  nginx.crt: "{crt}"\n  nginx.key: "{key}"\n')
    assert tut.k("apply", "-f", "nginxsecrets.yaml").strip() == "secret/nginxsecret configured"
    row = [r.split() for r in tut.k("get", "secrets").splitlines() if r.startswith("nginxsecret")]
    assert row and row[0][:3] == ["nginxsecret", "Opaque", "2"]
    stored = json.loads(tut.k("get", "secret", "nginxsecret", "-o", "json"))
    assert base64.b64decode(stored["data"]["nginx.crt"]) == (d / "nginx.crt").read_bytes()


def test_15_recreate_as_the_https_app(tut):
    out = tut.k("delete", "deployments,svc", "my-nginx")
    assert 'deployment.apps "my-nginx" deleted' in out and 'service "my-nginx" deleted' in out
    out = tut.k("create", "-f", "./nginx-secure-app.yaml").splitlines()
    assert out == ["service/my-nginx created", "deployment.apps/my-nginx created"]


def test_16_https_straight_to_the_pod(tut, state):
    pods = tut.running("run=my-nginx", 1)
    ips = [ln.split(":", 1)[1].strip() for ln in tut.k("get", "pods", "-o", "yaml").splitlines()
           if ln.strip().lower().startswith("podip:")]
    assert pods[0]["status"]["podIP"] in ips
    assert "<h1>Welcome to nginx!</h1>" in tut.curl("-k", f"https://{pods[0]['status']['podIP']}")


def test_17_curl_by_name_from_another_pod_verifies_the_certificate(tut):
    tut.k("apply", "-f", "./curlpod.yaml")
    pods = tut.running("app=curlpod", 1)
    row = tut.k("get", "pods", "-l", "app=curlpod").splitlines()[1].split()
    assert row[1:3] == ["1/1", "Running"]
    out = tut.k("exec", pods[0]["metadata"]["name"], "--", "curl", "https://my-nginx",
                "--cacert", "/etc/nginx/ssl/nginx.crt")
    assert "<title>Welcome to nginx!</title>" in out


def test_18_node_ports_on_every_node(tut, state):
    text = tut.k("get", "svc", "my-nginx", "-o", "yaml")
    ports = [int(m) for m in re.findall(r"nodePort: (\d+)", text)]
    assert len(ports) == 2 and all(30000 <= p <= 32767 for p in ports)
    svc = yaml.safe_load(text)
    https = next(p["nodePort"] for p in svc["spec"]["ports"] if p["name"] == "https")
    nodes = yaml.safe_load(tut.k("get", "nodes", "-o", "yaml"))["items"]
    external = [a["address"] for n in nodes for a in n["status"]["addresses"]
                if a["type"] == "ExternalIP"]
    assert len(external) == 2
    for ip in external:
        assert "<h1>Welcome to nginx!</h1>" in tut.curl(f"https://{ip}:{https}", "-k")


def test_19_edit_to_load_balancer(tut, state):
    editor = tut.dir / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/type: NodePort/type: LoadBalancer/' \"$1\"\n")
    editor.chmod(0o755)
    out = subprocess.run(["kubectl", "edit", "svc", "my-nginx"], env={**tut.c.env,
                         "KUBE_EDITOR": str(editor)}, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "service/my-nginx edited", out.stderr

    def external_ip() -> str | None:
        row = tut.k("get", "svc", "my-nginx").splitlines()[1].split()
        return row[3] if row[1] == "LoadBalancer" and row[3] not in ("<pending>", "<none>") else None
    ip = tut.c.wait(external_ip, what="an EXTERNAL-IP")
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(tut.c.cfg.load_balancer_cidr)
    assert "<h1>Welcome to nginx!</h1>" in tut.curl(f"https://{ip}", "-k")
    assert re.search(rf"^LoadBalancer Ingress:\s+{re.escape(ip)}", tut.k(
        "describe", "service", "my-nginx"), re.M)
    state["lb_ip"] = ip


def test_20_pods_and_nodes_die_and_the_service_keeps_answering(tut, state):
    tut.k("scale", "deployment", "my-nginx", "--replicas=2")
    pods = tut.running("run=my-nginx", 2)
    victim = pods[0]
    tut.k("delete", "pod", victim["metadata"]["name"])
    assert f"{victim['status']['podIP']}:443" not in tut.endpoints("my-nginx")
    pods = tut.running("run=my-nginx", 2)
    assert victim["metadata"]["name"] not in {p["metadata"]["name"] for p in pods}
    tut.c.wait(lambda: len(tut.endpoints("my-nginx")) == 4, what="the replacement to join")
    assert "Welcome to nginx!" in tut.curl(f"https://{state['lb_ip']}", "-k")
    # A node dies, with its pods; they come back on the other node.
    node = pods[0]["spec"]["nodeName"]
    tut.c.node("stop", node)  # what `emunet node stop <node>` asks the daemon
    for _ in range(5):
        assert "Welcome to nginx!" in tut.curl(f"https://{state['lb_ip']}", "-k")

    def moved() -> list[dict] | None:
        ps = tut.running("run=my-nginx", 2)
        return ps if all(p["spec"]["nodeName"] != node for p in ps) else None
    tut.c.wait(moved, timeout=40, what="pods to come back on the other node")
    assert "Welcome to nginx!" in tut.curl(f"https://{state['lb_ip']}", "-k")


def test_21_enable_service_links_false(tut):
    tut.k("apply", "-f", "-", input=yaml.safe_dump({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nolinks"},
        "spec": {"enableServiceLinks": False, "containers": [{
            "name": "c", "image": "busybox", "command": ["sh", "-c", "sleep 3600"]}]}}))
    tut.c.wait(lambda: json.loads(tut.k("get", "pod", "nolinks", "-o", "json"))["status"].get(
        "phase") == "Running", what="nolinks Running")
    env = tut.k("exec", "nolinks", "--", "printenv").splitlines()
    assert not any(ln.startswith("MY_NGINX") for ln in env)
    assert any(ln.startswith("KUBERNETES_SERVICE_HOST=") for ln in env)
