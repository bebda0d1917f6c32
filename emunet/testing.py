"""`emunet.Cluster`: a whole cluster for a test, isolated from every other one.

Each Cluster takes a block of loopback addresses of its own (127.B.0.0/16,
claimed with a lock file so that concurrent test processes never share one),
a temporary state directory, a free API port and its own kubeconfig, so that
several clusters run at once and none touches the user's `~/.kube/config`.
It runs the same daemon `emunet up` runs, as a child process.

    with Cluster(nodes=2) as c:
        c.kubectl("apply", "-f", "examples/run-my-nginx.yaml")

    async with Cluster() as c:   # the same, from async code
        ...
"""
from __future__ import annotations

import asyncio
import fcntl
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from . import kubeconfig, launch
from .client import Client, Credentials
from .config import ClusterConfig
from .daemon import free_port
from .paths import state_paths

BLOCKS = range(20, 90)
LOCK_DIR = Path(tempfile.gettempdir()) / "emunet-blocks"


def _claim_block() -> tuple[int, Any]:
    LOCK_DIR.mkdir(exist_ok=True)
    for b in BLOCKS:
        f = open(LOCK_DIR / f"{b}.lock", "w")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return b, f
        except OSError:
            f.close()
    raise RuntimeError("no free loopback block for another test cluster")


class Cluster:
    def __init__(self, nodes: int = 2, name: str | None = None, timeout: float = 30,
                 wait_nodes: bool = True, **config: Any) -> None:
        self.nodes = nodes
        self.wait_nodes = wait_nodes
        self.name = name
        self.timeout = timeout
        self.overrides = config
        self.proc: subprocess.Popen[bytes] | None = None
        self._lock: Any = None
        self._tmp: str | None = None

    # ---- lifecycle -------------------------------------------------------

    def start(self) -> Cluster:
        block, self._lock = _claim_block()
        self._tmp = tempfile.mkdtemp(prefix=f"emunet-{block}-")
        self.state = Path(self._tmp) / "state"
        self.state.mkdir()
        name = self.name or f"test{block}"
        cfg = ClusterConfig(
            name=name, nodes=self.nodes,
            pod_cidr=f"127.{block}.0.0/17", service_cidr=f"127.{block}.128.0/18",
            node_ip_base=f"127.{block}.192.0", load_balancer_cidr=f"127.{block}.224.0/20",
            api_port=free_port("127.0.0.1", 20000 + block * 17))
        for k, v in self.overrides.items():
            setattr(cfg, k, v)
        cfg.validate()
        self.cfg = cfg
        state_paths(self.state)["config"].write_text(cfg.to_json())
        self.proc = self._start_daemon()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        daemon = json.loads(state_paths(self.state)["daemon"].read_text())
        self.server = daemon["server"]
        self.cfg = ClusterConfig.from_json(state_paths(self.state)["config"].read_text())
        self.creds = Credentials.from_file(state_paths(self.state)["creds"])
        self.kubeconfig = Path(self._tmp) / "kubeconfig"
        kubeconfig.merge(self.kubeconfig, cfg.context_name, self.server,
                         Path(self.creds.ca_file or "").read_bytes(), self.creds.token)
        self.home = Path(self._tmp) / "home"
        self.home.mkdir()
        return self

    def _start_daemon(self) -> subprocess.Popen[bytes]:
        # The daemon stops with this process, whatever way it ends (see daemon._exit_with).
        return launch.start_daemon(self.state, EMUNET_EXIT_WITH_PID=str(os.getpid()))

    def _wait_ready(self) -> None:
        from .cli import _wait_ready
        assert self.proc is not None
        if self.wait_nodes:
            _wait_ready(self.state, self.cfg, self.proc.pid, self.timeout)
            return
        daemon_file = state_paths(self.state)["daemon"]
        deadline = time.monotonic() + self.timeout
        while not daemon_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the daemon did not start: {self.log('daemon')[-2000:]}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self._tmp and not os.environ.get("EMUNET_KEEP_TEST_STATE"):
            shutil.rmtree(self._tmp, ignore_errors=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def kill(self) -> None:
        """kill -9 the daemon (its children die with it), keeping the state."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def restart(self) -> None:
        """Start the daemon again on the same state, as `emunet up` after a stop does."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.proc = self._start_daemon()
        self._wait_ready()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Cluster:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    # ---- using it --------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["HOME"] = str(self.home)
        return env

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 60,
                check: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["kubectl", *args], env=self.env, input=input, text=True,
                              capture_output=True, timeout=timeout, check=check)

    def client(self) -> Client:
        return Client(self.creds)

    def node_ip(self, index: int, kind: str = "InternalIP") -> str:
        return (self.cfg.node_internal_ip(index) if kind == "InternalIP"
                else self.cfg.node_external_ip(index))

    def wait(self, predicate: Any, timeout: float = 20, interval: float = 0.05,
             what: str = "condition") -> Any:
        """Poll `predicate()` until it returns a truthy value, or fail naming `what`."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")

    def node(self, action: str, node: str) -> None:
        """Stop or start a node, as `emunet node stop|start NODE` does."""
        import ssl
        import urllib.request
        ctx = ssl.create_default_context(cafile=self.creds.ca_file)
        req = urllib.request.Request(f"{self.server}/emunet/v1/nodes/{node}/{action}",
                                     data=b"{}", method="POST",
                                     headers={"Authorization": f"Bearer {self.creds.token}"})
        with urllib.request.urlopen(req, context=ctx, timeout=15) as resp:
            resp.read()

    def log(self, component: str) -> str:
        f = state_paths(self.state)["logs"] / f"{component}.log"
        return f.read_text(errors="replace") if f.exists() else ""
