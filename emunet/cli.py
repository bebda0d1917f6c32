"""The `emunet` command: up, down, status, node stop/start, certs, demo.

`up` starts the daemon in the background and returns once the API answers and
every node is Ready, then merges a context into the kubeconfig, as `kind
create cluster` does. The CLI is a client like kubectl: it reads the cluster's
state directory for the address and credentials and talks to the API.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import ssl
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from . import kubeconfig, launch
from .config import ClusterConfig
from .paths import state_paths


def state_root() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "emunet"


def state_dir(name: str) -> Path:
    return state_root() / name


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        # A daemon that has exited but not yet been reaped (its parent, init, reaps
        # it in its own time) is a zombie: dead for every purpose here.
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2] != "Z"
    except (OSError, ValueError, IndexError):
        return True


def running_pid(state: Path) -> int | None:
    f = state_paths(state)["daemon"]
    if not f.exists():
        return None
    try:
        pid = int(json.loads(f.read_text())["pid"])
    except (ValueError, KeyError):
        return None
    return pid if _pid_alive(pid) else None


class Api:
    """A small synchronous client for the CLI (no event loop needed)."""

    def __init__(self, state: Path) -> None:
        creds = json.loads(state_paths(state)["creds"].read_text())
        self.server, self.token = creds["server"], creds["token"]
        self.ctx = ssl.create_default_context(cafile=creds["ca"])

    def call(self, method: str, path: str, body: Any = None, timeout: float = 5) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.ctx, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")


def _has_bind_capability() -> bool:
    """CAP_NET_BIND_SERVICE (bit 10) in this process's effective set."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> 10 & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


def _check_privileged_ports() -> str | None:
    # The children inherit the capability (an ambient one, as `setpriv --ambient-caps`
    # or a systemd unit gives it, survives their exec).
    if os.geteuid() == 0 or _has_bind_capability():
        return None
    try:
        start = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        start = 1024
    if start <= 53:
        return None
    return ("emunet serves cluster DNS on port 53 and Services on their own ports (80, 443), "
            "which need privileges here. Run as root, or give Python CAP_NET_BIND_SERVICE, or "
            "allow unprivileged ports once with:\n"
            "  sudo sysctl net.ipv4.ip_unprivileged_port_start=0")


def _wait_ready(state: Path, cfg: ClusterConfig, pid: int, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    daemon_file = state_paths(state)["daemon"]
    last_err = "the daemon did not start"
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            raise SystemExit(f"emunet: the daemon exited during start-up; see "
                             f"{state_paths(state)['logs'] / 'daemon.log'}")
        if daemon_file.exists():
            try:
                nodes = Api(state).call("GET", "/api/v1/nodes", timeout=2)["items"]
                ready = [n for n in nodes if any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in n.get("status", {}).get("conditions", []))]
                if len(ready) >= cfg.nodes:
                    return sorted(ready, key=lambda n: n["metadata"]["name"])
                last_err = f"{len(ready)}/{cfg.nodes} nodes Ready"
            except (urllib.error.URLError, OSError, ValueError, KeyError) as e:
                last_err = str(e)
        time.sleep(0.02)
    raise SystemExit(f"emunet: the cluster was not ready within {timeout:.0f}s ({last_err}); "
                     f"logs are in {state_paths(state)['logs']}")


def _addr(node: dict[str, Any], kind: str) -> str:
    return next((a["address"] for a in node["status"].get("addresses", []) if a["type"] == kind), "")


def cmd_up(args: argparse.Namespace) -> int:
    name = args.name or "emunet"
    state = state_dir(name)
    pid = running_pid(state)
    if pid:
        server = json.loads(state_paths(state)["daemon"].read_text())["server"]
        print(f'Cluster "{name}" is already running at {server} (daemon pid {pid}).')
        print(f"Use `emunet down{' --name ' + name if name != 'emunet' else ''}` to stop it.")
        return 0
    problem = _check_privileged_ports()
    if problem:
        print(f"emunet: {problem}", file=sys.stderr)
        return 1
    stored = state_paths(state)["config"]
    try:
        if args.config is None and stored.exists():
            cfg = ClusterConfig.from_json(stored.read_text())
            if args.nodes:
                cfg.nodes = args.nodes
            cfg.validate()
        else:
            cfg = ClusterConfig.load(args.config, name=name, nodes=args.nodes)
        if args.host_dns:
            cfg.host_dns = args.host_dns
    except (ValueError, OSError, TypeError, yaml.YAMLError) as e:
        print(f"emunet: bad cluster config: {e}", file=sys.stderr)
        return 1
    state.mkdir(parents=True, exist_ok=True)
    stored.write_text(cfg.to_json())
    if args.foreground:
        from .daemon import main as daemon_main
        daemon_main(["--state", str(state)])
        return 0
    started = time.monotonic()
    pid = launch.fork_daemon(state)
    nodes = _wait_ready(state, cfg, pid, args.timeout)
    daemon = json.loads(state_paths(state)["daemon"].read_text())
    creds = json.loads(state_paths(state)["creds"].read_text())
    kc = kubeconfig.default_path()
    kubeconfig.merge(kc, cfg.context_name, daemon["server"], Path(creds["ca"]).read_bytes(),
                     creds["token"])
    took = time.monotonic() - started
    print(f'Cluster "{name}" is ready ({took:.2f}s).')
    print(f"API server:  {daemon['server']}")
    print(f"Cluster DNS: {cfg.dns_service_ip}:53 (kube-dns.kube-system)")
    print("Nodes:")
    for n in nodes:
        print(f"  {n['metadata']['name']:<20} InternalIP {_addr(n, 'InternalIP'):<12} "
              f"ExternalIP {_addr(n, 'ExternalIP'):<12} podCIDR {n['spec'].get('podCIDR', '')}")
    print(f'kubectl context "{cfg.context_name}" is set in {kc} (now current).')
    plain = {(n["metadata"].get("annotations") or {}).get("emunet.io/pod-sandbox", "")
             for n in nodes} - {"namespaces", ""}
    for how in sorted(plain):
        print(f"Note: pods run as {how}. Their hostnames, /etc/resolv.conf and volume "
              "mountPaths are the host's; run as root on Linux for per-pod namespaces.")
    sources = {(n["metadata"].get("annotations") or {}).get("emunet.io/pod-source", "")
               for n in nodes} - {"pod IP", ""}
    for how in sorted(sources):
        addr, _, why = how.partition(": ")
        print(f"Note: pods' connections leave from {addr}, not their pod IPs ({why}), so "
              "servers, ClientIP affinity and internalTrafficPolicy Local cannot tell pods "
              "apart.")
    print("Try: kubectl get nodes")
    return 0


def stop_daemon(state: Path, timeout: float = 10) -> bool:
    pid = running_pid(state)
    if not pid:
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.02)
    if _pid_alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return True


def cmd_down(args: argparse.Namespace) -> int:
    name = args.name or "emunet"
    state = state_dir(name)
    cfg_file = state_paths(state)["config"]
    context = ClusterConfig.from_json(cfg_file.read_text()).context_name if cfg_file.exists() \
        else ("emunet" if name == "emunet" else f"emunet-{name}")
    if stop_daemon(state):
        print(f'Cluster "{name}" stopped.')
    else:
        print(f'Cluster "{name}" is not running.')
    if args.purge:
        if state.exists():
            shutil.rmtree(state)
        if kubeconfig.remove(kubeconfig.default_path(), context):
            print(f'Removed its state and the kubectl context "{context}".')
        else:
            print("Removed its state.")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    name = args.name or "emunet"
    state = state_dir(name)
    pid = running_pid(state)
    if not pid:
        print(f'Cluster "{name}" is not running.')
        return 3
    api = Api(state)
    procs = api.call("GET", "/emunet/v1/processes")
    print(f'Cluster "{name}": daemon pid {pid}, API {api.server}')
    for child, info in sorted(procs["children"].items()):
        print(f"  {child:<24} pid {info['pid']:<8} {'running' if info['running'] else 'stopped'}")
    nodes = api.call("GET", "/api/v1/nodes")["items"]
    for n in nodes:
        ready = next((c["status"] for c in n["status"].get("conditions", [])
                      if c["type"] == "Ready"), "Unknown")
        print(f"  node {n['metadata']['name']:<19} Ready={ready}")
    proxy_file = state / "proxy.json"
    if proxy_file.exists():
        try:
            from .proxy import metrics
            url = json.loads(proxy_file.read_text())["metrics"].replace("/metrics", "/stats")
            with urllib.request.urlopen(url, timeout=2) as resp:
                print(metrics.format_status(json.loads(resp.read())))
        except (OSError, ValueError, KeyError, ImportError, AttributeError) as e:
            print(f"  (proxy statistics unavailable: {e})")
    return 0


def cmd_node(args: argparse.Namespace) -> int:
    name = args.name or "emunet"
    state = state_dir(name)
    if not running_pid(state):
        print(f'emunet: cluster "{name}" is not running', file=sys.stderr)
        return 1
    try:
        Api(state).call("POST", f"/emunet/v1/nodes/{args.node}/{args.action}", body={})
    except urllib.error.HTTPError as e:
        print(f"emunet: {json.loads(e.read()).get('message', e)}", file=sys.stderr)
        return 1
    verb = "stopped (its kubelet and every pod on it were killed)" if args.action == "stop" \
        else "started"
    print(f"node/{args.node} {verb}")
    return 0


def cmd_certs(args: argparse.Namespace) -> int:
    from . import certs_cli
    return certs_cli.run(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from . import demo
    return demo.run(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="emunet", description="Kubernetes Service networking "
                                "on loopback, driven by the real kubectl.")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a cluster and make it kubectl's current context")
    up.add_argument("--name")
    up.add_argument("--nodes", type=int)
    up.add_argument("--config", type=Path, help="cluster config YAML")
    up.add_argument("--foreground", action="store_true")
    up.add_argument("--host-dns", nargs="?", const="/etc/hosts", default=None,
                    help="keep a block of /etc/hosts in step with the Services")
    up.add_argument("--timeout", type=float, default=30)
    up.set_defaults(func=cmd_up)
    down = sub.add_parser("down", help="stop a cluster (its objects stay, unless --purge)")
    down.add_argument("--name")
    down.add_argument("--purge", action="store_true")
    down.set_defaults(func=cmd_down)
    st = sub.add_parser("status", help="what runs, and how the proxy balanced")
    st.add_argument("--name")
    st.set_defaults(func=cmd_status)
    node = sub.add_parser("node", help="stop or start a node (its kubelet and pods)")
    node.add_argument("action", choices=["stop", "start"])
    node.add_argument("node")
    node.add_argument("--name")
    node.set_defaults(func=cmd_node)
    c = sub.add_parser("certs", help="make the tutorial's certificate and Secret, or "
                       "serving certificates signed by the cluster CA")
    from . import certs_cli
    certs_cli.add_arguments(c)
    c.set_defaults(func=cmd_certs)
    d = sub.add_parser("demo", help="run the tutorial on a fresh cluster and narrate it")
    d.add_argument("--name", default="demo",
                   help="the cluster to (re)create for the demo (default: demo)")
    d.add_argument("--cleanup", action="store_true", help="stop the cluster at the end")
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(args.func(args))


if __name__ == "__main__":
    main()
