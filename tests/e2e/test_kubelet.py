"""The kubelet as a kubectl user sees it: pods start, run, log, exec, attach, restart."""
from __future__ import annotations

import ipaddress
import json
import os
import pty
import select
import signal
import time
from pathlib import Path

import pytest

from emunet.testing import Cluster

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster():
    with Cluster(nodes=2) as c:
        yield c


def ok(c: Cluster, *args: str, input: str | None = None) -> str:
    r = c.kubectl(*args, input=input)
    assert r.returncode == 0, f"kubectl {' '.join(args)} failed: {r.stderr}"
    return r.stdout


def pods(c: Cluster, selector: str) -> list[dict]:
    return json.loads(ok(c, "get", "pods", "-l", selector, "-o", "json"))["items"]


def is_ready(p: dict) -> bool:
    return p["status"].get("phase") == "Running" and any(
        x["type"] == "Ready" and x["status"] == "True" for x in p["status"].get("conditions", []))


def apply(c: Cluster, manifest: str) -> None:
    ok(c, "apply", "-f", "-", input=manifest)


def wait_pod(c: Cluster, name: str, pred, timeout: float = 20) -> dict:
    found: dict = {}

    def check() -> bool:
        r = c.kubectl("get", "pod", name, "-o", "json")
        if r.returncode != 0:
            return False
        found.update(json.loads(r.stdout))
        return pred(found)
    c.wait(check, timeout=timeout)
    return found


def busybox(name: str, command: str, **extra: str) -> str:
    more = "".join(f"\n{k}" for k in extra.values())
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: Always
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", {json.dumps(command)}]{more}
"""


def test_deployment_pods_run_with_ips_from_their_nodes(cluster):
    ok(cluster, "apply", "-f", str(ROOT / "examples" / "run-my-nginx.yaml"))
    cluster.wait(lambda: len(ps := pods(cluster, "run=my-nginx")) == 2 and all(map(is_ready, ps)))
    nodes = {n["metadata"]["name"]: n for n in json.loads(ok(cluster, "get", "nodes", "-o", "json"))["items"]}
    for p in pods(cluster, "run=my-nginx"):
        cidr = nodes[p["spec"]["nodeName"]]["spec"]["podCIDR"]
        assert ipaddress.ip_address(p["status"]["podIP"]) in ipaddress.ip_network(cidr)
        cs = p["status"]["containerStatuses"][0]
        assert cs["ready"] and cs["restartCount"] == 0 and cs["containerID"].startswith("emunet://")


def test_exec_sees_service_env_and_exit_codes(cluster):
    name = pods(cluster, "run=my-nginx")[0]["metadata"]["name"]
    assert "KUBERNETES_SERVICE_HOST=" in ok(cluster, "exec", name, "--", "printenv")
    r = cluster.kubectl("exec", name, "--", "sh", "-c", "exit 3")
    assert r.returncode == 3 and "command terminated with exit code 3" in r.stderr
    r = cluster.kubectl("exec", name, "--", "no-such-command")
    assert r.returncode == 127 and "no-such-command" in r.stderr + r.stdout


def test_logs_show_the_container_output(cluster):
    apply(cluster, busybox("talker", "echo hello from talker; echo oops >&2; sleep 3600"))
    wait_pod(cluster, "talker", is_ready)
    cluster.wait(lambda: "hello from talker" in cluster.kubectl("logs", "talker").stdout)
    out = ok(cluster, "logs", "talker", "--timestamps")
    assert "oops" in out and out.split()[0].endswith("Z")


def test_pod_has_its_own_hostname_and_resolv_conf(cluster):
    host_resolv = Path("/etc/resolv.conf").read_bytes()
    host_etc = sorted(os.listdir("/etc"))
    wait_pod(cluster, "talker", is_ready)
    assert ok(cluster, "exec", "talker", "--", "hostname").strip() == "talker"
    resolv = ok(cluster, "exec", "talker", "--", "cat", "/etc/resolv.conf")
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in resolv
    assert f"nameserver {cluster.cfg.dns_service_ip}" in resolv and "options ndots:5" in resolv
    hosts = ok(cluster, "exec", "talker", "--", "cat", "/etc/hosts")
    assert "\ttalker" in hosts
    assert Path("/etc/resolv.conf").read_bytes() == host_resolv
    assert sorted(os.listdir("/etc")) == host_etc


def test_secret_volume_waits_for_the_secret_then_mounts(cluster):
    apply(cluster, busybox("reader", "sleep 3600") + """
    volumeMounts:
    - {name: secret-volume, mountPath: /etc/nginx/ssl}
  volumes:
  - name: secret-volume
    secret: {secretName: latesecret}
""")
    cluster.wait(lambda: "FailedMount" in ok(cluster, "get", "events"))
    events = ok(cluster, "get", "events")
    assert 'secret "latesecret" not found' in events
    assert "ContainerCreating" in ok(cluster, "get", "pod", "reader")
    ok(cluster, "create", "secret", "generic", "latesecret", "--from-literal=nginx.crt=CERT")
    wait_pod(cluster, "reader", is_ready)
    assert ok(cluster, "exec", "reader", "--", "cat", "/etc/nginx/ssl/nginx.crt") == "CERT"
    assert not Path("/etc/nginx/ssl/nginx.crt").exists()


def _container_pid(pod: str) -> int:
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            env = Path(f"/proc/{d}/environ").read_bytes().split(b"\0")
            stat = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        start, session = int(stat[19]), int(stat[3])
        # The container is the oldest session leader carrying the pod's env.
        if f"EMUNET_POD_NAME={pod}".encode() in env and session == int(d):
            found.append((start, int(d)))
    return min(found)[1]


def test_killed_container_restarts(cluster):
    wait_pod(cluster, "talker", is_ready)
    os.kill(_container_pid("talker"), signal.SIGKILL)
    p = wait_pod(cluster, "talker", lambda p: is_ready(p) and
                 p["status"]["containerStatuses"][0]["restartCount"] == 1)
    last = p["status"]["containerStatuses"][0]["lastState"]["terminated"]
    assert last["exitCode"] == 137 and last["reason"] == "Error"
    assert "hello from talker" in ok(cluster, "logs", "talker", "--previous")


def test_delete_removes_the_pod(cluster):
    r = cluster.kubectl("delete", "pod", "talker", "--grace-period=1", timeout=30)
    assert r.returncode == 0, r.stderr
    assert cluster.kubectl("get", "pod", "talker").returncode != 0


def test_run_interactive_shell_through_a_pty(cluster):
    pid, fd = pty.fork()
    if pid == 0:
        env = dict(os.environ, KUBECONFIG=str(cluster.kubeconfig))
        os.execvpe("kubectl", ["kubectl", "run", "shell", "--image=radial/busyboxplus:curl",
                               "--restart=Never", "-i", "--tty", "--rm"], env)
    out = b""
    deadline = time.monotonic() + 30
    sent = False
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        if not sent and b"try pressing enter" in out:
            time.sleep(0.3)
            os.write(fd, b"echo hi-$((40+2)); exit\r")
            sent = True
    _, status = os.waitpid(pid, 0)
    assert b"hi-42" in out, out
    assert os.waitstatus_to_exitcode(status) == 0, out
