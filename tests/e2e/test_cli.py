"""The README's `emunet` commands as a user types them, on one cluster started by `emunet up`.

Each test runs the command line (`python -m emunet ...`) with a scratch HOME and
XDG_STATE_HOME, so the kubeconfig written is `$HOME/.kube/config` as the README
says, and `--host-dns` writes a temporary hosts file, never /etc/hosts. The
cluster has its own address ranges (127.93.0.0/16) so that it runs beside the
test harness's clusters. The tests run in file order and share the cluster.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NAME = "clitest"
NODES = [f"{NAME}-worker", f"{NAME}-worker2", f"{NAME}-worker3"]
CONFIG = """\
podCIDR: 127.93.0.0/17
serviceCIDR: 127.93.128.0/18
nodeIPBase: 127.93.192.0
loadBalancerCIDR: 127.93.224.0/20
apiPort: 18443
"""
HOSTS = "127.0.0.1 localhost\n::1 ip6-localhost ip6-loopback\n"
TLS_LB = """
apiVersion: v1
kind: Service
metadata:
  name: my-nginx-tls
  annotations: {emunet.io/tls-secret: my-nginx-tls}
spec:
  type: LoadBalancer
  selector: {run: my-nginx}
  ports: [{name: https, port: 443, targetPort: 80}]
"""


class User:
    """Runs `emunet` and `kubectl` in one scratch environment."""

    up: subprocess.CompletedProcess[str]  # what `emunet up` printed

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.home = tmp / "home"
        self.home.mkdir()
        self.hosts = tmp / "hosts"
        self.hosts.write_text(HOSTS)
        self.env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        self.env.update(HOME=str(self.home), XDG_STATE_HOME=str(tmp / "state"),
                        PYTHONPATH=str(ROOT))

    def emunet(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "emunet", *args], env=self.env, cwd=self.tmp,
                              capture_output=True, text=True, timeout=timeout)

    def kubectl(self, *args: str, input: str | None = None) -> str:
        r = subprocess.run(["kubectl", *args], env=self.env, input=input, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, f"kubectl {' '.join(args)}: {r.stderr}"
        return r.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json"))


def wait(predicate: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def node_ready(node: dict[str, Any]) -> str:
    return next((c["status"] for c in node["status"].get("conditions", [])
                 if c["type"] == "Ready"), "Unknown")


def hosts_block(text: str) -> list[str] | None:
    lines = text.splitlines()
    begin, end = f"# BEGIN emunet {NAME}", f"# END emunet {NAME}"
    if begin not in lines:
        return None
    return lines[lines.index(begin) + 1:lines.index(end)]


def live_pods(user: User) -> list[dict[str, Any]]:
    return [p for p in user.json("pods", "-l", "run=my-nginx")["items"]
            if not p["metadata"].get("deletionTimestamp")]


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[User]:
    u = User(tmp_path_factory.mktemp("cli"))
    (u.tmp / "cluster.yaml").write_text(CONFIG)
    u.up = u.emunet("up", "--name", NAME, "--config", "cluster.yaml", "--nodes", "3",
                    "--host-dns", str(u.hosts))
    try:
        assert u.up.returncode == 0, u.up.stderr
        yield u
    finally:
        u.emunet("down", "--name", NAME, "--purge")


def test_up_prints_the_cluster_and_sets_the_kubectl_context(user: User) -> None:
    out = user.up.stdout
    assert f'Cluster "{NAME}" is ready' in out
    assert "API server:  https://127.0.0.1:" in out
    assert "Cluster DNS: 127.93.128.10:53 (kube-dns.kube-system)" in out
    for i, node in enumerate(NODES):
        assert f"InternalIP 127.93.192.{2 * i + 2}" in out and node in out
    kubeconfig = user.home / ".kube" / "config"
    assert f'kubectl context "emunet-{NAME}" is set in {kubeconfig} (now current).' in out
    assert user.kubectl("config", "current-context").strip() == f"emunet-{NAME}"
    nodes = user.json("nodes")["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == NODES
    assert all(node_ready(n) == "True" for n in nodes)
    assert "Note:" not in out  # as root on Linux, pods get their own namespaces


def test_using_it_and_host_dns_follows_the_services(user: User) -> None:
    user.kubectl("apply", "-f", str(ROOT / "examples" / "run-my-nginx.yaml"))
    wait(lambda: len(live_pods(user)) == 2 and all(p["status"].get("podIP")
                                                   for p in live_pods(user)), "2 pods")
    user.kubectl("expose", "deployment/my-nginx")
    ip = user.kubectl("get", "svc", "my-nginx", "-o", "jsonpath={.spec.clusterIP}")
    entry = f"{ip} my-nginx.default.svc.cluster.local my-nginx.default.svc"
    wait(lambda: entry in (hosts_block(user.hosts.read_text()) or []), "the hosts-file entry")
    assert user.hosts.read_text().startswith(HOSTS)  # the rest of the file is untouched
    page = wait(lambda: subprocess.run(["curl", "-s", "-m", "3", f"http://{ip}/"],
                                       capture_output=True, text=True).stdout, "curl the ClusterIP")
    assert "Welcome to nginx!" in page


def test_status_prints_processes_nodes_and_proxy_counters(user: User) -> None:
    ip = user.kubectl("get", "svc", "my-nginx", "-o", "jsonpath={.spec.clusterIP}")
    for _ in range(4):
        subprocess.run(["curl", "-s", "-o", "/dev/null", "-m", "3", f"http://{ip}/"], check=True)

    def counted() -> str | None:
        st = user.emunet("status", "--name", NAME)
        assert st.returncode == 0, st.stderr
        row = next((line.split() for line in st.stdout.splitlines()
                    if line.startswith("default/my-nginx/TCP")), None)
        return st.stdout if row and int(row[1]) >= 4 else None

    out = wait(counted, "the proxy counters for my-nginx")
    assert "SERVICE PORT / ENDPOINT" in out and "DIAL FAILS" in out
    endpoints = [line.split()[1] for line in out.splitlines() if line.strip().startswith("->")]
    assert endpoints and all(e.startswith("127.93.") and e.endswith(":80") for e in endpoints)
    for child in ("proxy", "dns", *(f"kubelet-{n}" for n in NODES)):
        assert any(line.split()[:1] == [child] and "running" in line
                   for line in out.splitlines()), child
    for node in NODES:
        assert any(line.split() == ["node", node, "Ready=True"] for line in out.splitlines()), node


def test_ps_names_every_process_of_the_cluster_and_its_pods(user: User) -> None:
    st = user.emunet("status", "--name", NAME)
    pids = {line.split()[0]: int(line.split()[2]) for line in st.stdout.splitlines()
            if len(line.split()) > 3 and line.split()[1] == "pid"}
    daemon_pid = int(st.stdout.split("daemon pid ")[1].split(",")[0])

    def args(pid: int) -> str:
        return Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").decode()

    assert args(daemon_pid) == f"emunet-daemon {NAME}"
    assert args(pids["proxy"]) == f"emunet-proxy {NAME}"
    assert args(pids["dns"]) == f"emunet-dns {NAME}"
    for node in NODES:
        assert args(pids[f"kubelet-{node}"]) == f"emunet-kubelet {node}"
    # The tutorial's nginx pods show up as nginx, as they would on a node (what `ps -e`
    # and `pgrep nginx` read).
    nginx = 0
    for proc in Path("/proc").iterdir():
        try:
            comm = (proc / "comm").read_text().strip()
            if comm == "nginx" and args(int(proc.name)) == "nginx -g daemon off;":
                nginx += 1
        except (OSError, ValueError):
            continue
    assert nginx >= 2


def test_certs_serve_gives_a_tls_secret_the_load_balancer_serves(user: User) -> None:
    r = user.emunet("certs", "serve", "--service", "my-nginx", "--out", "f.json", "--name", NAME)
    assert r.returncode == 0, r.stderr
    ca = r.stdout.split("curl --cacert ")[1].split()[0]
    assert Path(ca).is_file()
    secret = json.loads((user.tmp / "f.json").read_text())
    assert secret["type"] == "kubernetes.io/tls" and set(secret["data"]) == {"tls.crt", "tls.key"}
    user.kubectl("apply", "-f", str(user.tmp / "f.json"))
    user.kubectl("apply", "-f", "-", input=TLS_LB)
    lb = wait(lambda: user.kubectl("get", "svc", "my-nginx-tls", "-o",
                                   "jsonpath={.status.loadBalancer.ingress[0].ip}"), "an LB IP")
    name = "my-nginx.default.svc.cluster.local"

    def verified() -> str:
        return subprocess.run(["curl", "-sS", "-m", "3", "--cacert", ca, "--resolve",
                               f"{name}:443:{lb}", f"https://{name}/"],
                              capture_output=True, text=True).stdout

    assert "Welcome to nginx!" in wait(verified, "TLS verified with the cluster CA")


def test_node_stop_and_start(user: User) -> None:
    node = live_pods(user)[0]["spec"]["nodeName"]
    r = user.emunet("node", "stop", node, "--name", NAME)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"node/{node} stopped (its kubelet and every pod on it were killed)"
    wait(lambda: node_ready(user.json("node", node)) != "True", f"{node} NotReady")
    assert user.kubectl("get", "node", node, "--no-headers").split()[1] == "NotReady"
    # Its pods come back elsewhere.
    wait(lambda: len(pods := live_pods(user)) == 2 and all(
        p["spec"].get("nodeName") not in (None, node) for p in pods), "the pods moved")
    r = user.emunet("node", "start", node, "--name", NAME)
    assert r.returncode == 0 and r.stdout.strip() == f"node/{node} started", r.stderr
    wait(lambda: node_ready(user.json("node", node)) == "True", f"{node} Ready again")
    ip = user.kubectl("get", "svc", "my-nginx", "-o", "jsonpath={.spec.clusterIP}")
    assert "Welcome to nginx!" in wait(lambda: subprocess.run(
        ["curl", "-s", "-m", "3", f"http://{ip}/"], capture_output=True, text=True).stdout,
        "the Service answers after the move")


@pytest.mark.parametrize("text", [
    "nodes: 3\nfoo: 1\n",            # an unknown field
    "podCIDR: 10.0.0.0/16\n",        # not loopback
    "- a list\n",                    # not a mapping
    "nodes: [\n",                    # not YAML at all
])
def test_a_bad_config_file_is_refused(user: User, text: str) -> None:
    (user.tmp / "bad.yaml").write_text(text)
    r = user.emunet("up", "--name", "badcfg", "--config", "bad.yaml")
    assert r.returncode == 1
    assert r.stderr.startswith("emunet: bad cluster config: ") and "Traceback" not in r.stderr
    assert not (user.tmp / "state" / "emunet" / "badcfg" / "daemon.json").exists()


def test_down_removes_the_hosts_block_and_purge_the_context(user: User) -> None:
    r = user.emunet("down", "--name", NAME)
    assert r.returncode == 0 and r.stdout.strip() == f'Cluster "{NAME}" stopped.'
    assert user.hosts.read_text() == HOSTS
    r = user.emunet("down", "--name", NAME, "--purge")
    assert r.returncode == 0
    assert r.stdout.splitlines() == [f'Cluster "{NAME}" is not running.',
                                     f'Removed its state and the kubectl context "emunet-{NAME}".']
    assert not (user.tmp / "state" / "emunet" / NAME).exists()
    assert f"emunet-{NAME}" not in user.kubectl("config", "get-contexts", "-o", "name")


def test_up_says_once_when_pods_run_without_namespaces(tmp_path: Path) -> None:
    u = User(tmp_path)
    (tmp_path / "plain.yaml").write_text(CONFIG.replace("127.93.", "127.94.").replace(
        "18443", "18543") + "sandbox: false\nnodes: 1\n")
    try:
        up = u.emunet("up", "--name", "plain", "--config", "plain.yaml")
        assert up.returncode == 0, up.stderr
        notes = [ln for ln in up.stdout.splitlines() if ln.startswith("Note:")]
        assert notes == ["Note: pods run as plain processes: disabled by the cluster config. "
                         "Their hostnames, /etc/resolv.conf and volume mountPaths are the "
                         "host's; run as root on Linux for per-pod namespaces."]
    finally:
        u.emunet("down", "--name", "plain", "--purge")
