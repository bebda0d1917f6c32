"""The emunet daemon: the composition root of a cluster.

It runs the store, the API server, the controllers and the scheduler in one
asyncio process, and starts the other components (one kubelet per node, the
proxy, the DNS server) as child processes that talk to the API over HTTPS
like any client. It is the only place where components are wired together.

It also supervises its children: a component that crashes is started again,
except a kubelet stopped on purpose (`emunet node stop`), which stays down
with its pods, as a dead machine does.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import signal
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .sslimport import import_aiohttp_without_public_cas

import_aiohttp_without_public_cas()  # before anything imports aiohttp

from . import children, errors, proctitle, resources  # noqa: E402
from .client import Client, Credentials  # noqa: E402
from .config import ClusterConfig  # noqa: E402
from .paths import state_paths  # noqa: E402

if TYPE_CHECKING:
    from aiohttp import web

    from .api.server import ApiServer
    from .store import Store

# The API server, the store and cryptography are imported where they are first used:
# the children are forked before that, and start while this process imports them.

log = logging.getLogger("emunet.daemon")

CHILD_COMPONENTS = ("proxy", "dns")


def free_port(address: str, preferred: int) -> int:
    for port in [preferred] + list(range(preferred + 1, preferred + 200)):
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((address, port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    s = socket.socket()
    s.bind((address, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Daemon:
    def __init__(self, cfg: ClusterConfig, state: Path) -> None:
        self.cfg = cfg
        self.state = state
        self.paths = state_paths(state)
        self.children: dict[str, children.Child] = {}
        self.forked: dict[str, tuple[str, str | None, int]] = {}
        self.stopped_nodes: set[str] = set()
        self.restarts: dict[str, int] = {}
        self.tasks: list[asyncio.Task[Any]] = []
        self._stop = asyncio.Event()

    # ---- setup ---------------------------------------------------------

    def _pki(self) -> tuple[Path, Path, Path, str]:
        pki = self.paths["pki"]
        ca_crt, ca_key = pki / "ca.crt", pki / "ca.key"
        crt, key = pki / "apiserver.crt", pki / "apiserver.key"
        tok = self.paths["token"]
        if not all(p.exists() for p in (ca_crt, ca_key, crt, key, tok)):
            self._make_pki(pki)
        return ca_crt, crt, key, tok.read_text().strip()

    def _make_pki(self, pki: Path) -> None:
        from . import certs  # cryptography: only when something is missing

        pki.mkdir(parents=True, exist_ok=True)
        ca_crt, ca_key = certs.ensure_ca(pki, key_type="ec")
        crt, key = pki / "apiserver.crt", pki / "apiserver.key"
        if not crt.exists() or not key.exists():
            d = self.cfg.cluster_domain
            certs.issue(ca_crt, ca_key, "kube-apiserver",
                        ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                         f"kubernetes.default.svc.{d}"],
                        [self.cfg.api_address, "127.0.0.1", self.cfg.kubernetes_service_ip],
                        crt, key, key_type="ec")
        tok = self.paths["token"]
        if not tok.exists():
            certs.write_private(tok, secrets.token_urlsafe(32).encode())

    def _bootstrap(self, api: ApiServer) -> None:
        """The objects every cluster has, created once (kubeadm and the apiserver do this)."""
        store, strat, cfg = api.store, api.strategy, self.cfg

        def ensure(plural: str, obj: dict[str, Any], group: str = "") -> None:
            res = resources.by_plural(plural, group)
            meta = obj["metadata"]
            if store.peek(resources.store_key(res), meta.get("namespace", ""), meta["name"]):
                return
            obj = {"apiVersion": res.api_version, "kind": res.kind, **obj}
            store.create(resources.store_key(res), strat.prepare_create(res, obj))

        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            ensure("namespaces", {"metadata": {"name": ns,
                                               "labels": {"kubernetes.io/metadata.name": ns}},
                                  "spec": {"finalizers": ["kubernetes"]},
                                  "status": {"phase": "Active"}})
        ensure("services", {
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": cfg.kubernetes_service_ip, "type": "ClusterIP",
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                "targetPort": cfg.api_port}]}})
        ensure("services", {
            "metadata": {"name": "kube-dns", "namespace": "kube-system",
                         "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
                                    "kubernetes.io/name": "CoreDNS"},
                         # Served by emunet's DNS process on the ClusterIP itself, not by
                         # the proxy: there are no DNS pods behind it.
                         "annotations": {"emunet.io/served-by": "emunet-dns"}},
            "spec": {"clusterIP": cfg.dns_service_ip, "type": "ClusterIP",
                     "selector": {"k8s-app": "kube-dns"},
                     "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                               {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                               {"name": "metrics", "port": 9153, "protocol": "TCP",
                                "targetPort": 9153}]}})
        self._kubernetes_endpoints(api)

    def _kubernetes_endpoints(self, api: ApiServer) -> None:
        """The `kubernetes` Service leads to the API server, wherever it listens now."""
        store, cfg = api.store, self.cfg
        ep = {"apiVersion": "v1", "kind": "Endpoints",
              "metadata": {"name": "kubernetes", "namespace": "default",
                           "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
              "subsets": [{"addresses": [{"ip": cfg.api_address}],
                           "ports": [{"name": "https", "port": cfg.api_port, "protocol": "TCP"}]}]}
        sl = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
              "metadata": {"name": "kubernetes", "namespace": "default",
                           "labels": {"kubernetes.io/service-name": "kubernetes",
                                      "endpointslice.kubernetes.io/managed-by":
                                          "endpointslice-controller.k8s.io"}},
              "addressType": "IPv4",
              "endpoints": [{"addresses": [cfg.api_address], "conditions": {"ready": True}}],
              "ports": [{"name": "https", "port": cfg.api_port, "protocol": "TCP"}]}
        for key, obj in (("endpoints", ep), ("discovery.k8s.io/endpointslices", sl)):
            old = store.get(key, "default", "kubernetes")
            if old is None:
                store.create(key, obj)
            else:
                body = {k: v for k, v in obj.items() if k != "metadata"}
                if any(old.get(k) != v for k, v in body.items()):
                    old.update(body)
                    store.update(key, old, check_rv=False)
        svc = store.get("services", "default", "kubernetes")
        if svc and svc["spec"]["ports"][0].get("targetPort") != cfg.api_port:
            svc["spec"]["ports"][0]["targetPort"] = cfg.api_port
            store.update("services", svc, check_rv=False)

    # ---- children --------------------------------------------------------

    def _log_path(self, name: str) -> Path:
        logs = self.paths["logs"]
        logs.mkdir(parents=True, exist_ok=True)
        return logs / f"{name}.log"

    def _components(self) -> list[tuple[str, str, str | None]]:
        return ([(c, c, None) for c in CHILD_COMPONENTS]
                + [(f"kubelet-{n}", "kubelet", n) for n in self.cfg.node_names()])

    def fork_children(self) -> None:
        """Fork every child from this warm process, before any loop or socket exists."""
        children.preload()
        self.forked = {name: (component, node,
                              children.fork(component, self.state, node, self._log_path(name)))
                       for name, component, node in self._components()}

    def _adopt(self, name: str, component: str, node: str | None, pid: int) -> None:
        child = children.Child(pid)
        self.children[name] = child
        self.tasks.append(asyncio.create_task(self._supervise(name, component, node, child),
                                              name=f"supervise-{name}"))

    async def _spawn(self, name: str, component: str, node: str | None = None) -> None:
        pid = children.spawn(component, self.state, node, self._log_path(name))
        self._adopt(name, component, node, pid)

    async def _supervise(self, name: str, component: str, node: str | None,
                         proc: children.Child) -> None:
        code = await proc.wait()
        if self._stop.is_set() or self.children.get(name) is not proc:
            return
        if node and node in self.stopped_nodes:
            return
        # Back off as the kubelet does for a crashing container, so a broken
        # component does not spin.
        self.restarts[name] = self.restarts.get(name, 0) + 1
        delay = min(0.25 * 2 ** (self.restarts[name] - 1), 10.0)
        log.warning("%s exited with %s; starting it again in %.2fs", name, code, delay)
        await asyncio.sleep(delay)
        if not self._stop.is_set() and not (node and node in self.stopped_nodes):
            await self._spawn(name, component, node)

    async def stop_node(self, node: str) -> None:
        self.stopped_nodes.add(node)
        proc = self.children.get(f"kubelet-{node}")
        if proc and proc.returncode is None:
            # SIGKILL to the whole group: the machine dies, with every pod on it.
            proc.killpg(signal.SIGKILL)
            await proc.wait()

    async def start_node(self, node: str) -> None:
        self.stopped_nodes.discard(node)
        proc = self.children.get(f"kubelet-{node}")
        if proc is None or proc.returncode is not None:
            await self._spawn(f"kubelet-{node}", "kubelet", node)

    # ---- admin endpoints (for `emunet node stop/start` and `emunet status`) ----

    def _admin_routes(self, app: web.Application) -> None:
        from .api.server import json_response
        async def node_action(request: web.Request) -> web.Response:
            node, action = request.match_info["node"], request.match_info["action"]
            if node not in self.cfg.node_names():
                raise errors.ApiError(f'node "{node}" is not part of this cluster; nodes: '
                                      f'{", ".join(self.cfg.node_names())}', code=404,
                                      reason="NotFound")
            if action == "stop":
                await self.stop_node(node)
            elif action == "start":
                await self.start_node(node)
            else:
                raise errors.BadRequest(f"unknown action {action}: use stop or start")
            return json_response({"node": node, "action": action})

        async def processes(request: web.Request) -> web.Response:
            return json_response({"daemon": os.getpid(), "children": {
                n: {"pid": p.pid, "running": p.returncode is None}
                for n, p in self.children.items()}, "stoppedNodes": sorted(self.stopped_nodes)})

        app.router.add_post("/emunet/v1/nodes/{node}/{action}", node_action)
        app.router.add_get("/emunet/v1/processes", processes)

    # ---- run -----------------------------------------------------------------

    def prepare(self) -> None:
        """What the children need before they start: certificates, the port, credentials."""
        paths = self.paths
        self.state.mkdir(parents=True, exist_ok=True)
        self.ca_crt, self.crt, self.key, self.token = self._pki()
        prev = json.loads(paths["daemon"].read_text()) if paths["daemon"].exists() else {}
        self.cfg.api_port = free_port(self.cfg.api_address,
                                      prev.get("apiPort") or self.cfg.api_port)
        paths["config"].write_text(self.cfg.to_json())
        self.server_url = f"https://{self.cfg.api_address}:{self.cfg.api_port}"
        Credentials(self.server_url, self.token, str(self.ca_crt)).write(paths["creds"])

    async def run(self) -> None:
        from . import controllers

        paths = self.paths
        ca_crt, crt, key, token = self.ca_crt, self.crt, self.key, self.token
        server_url = self.server_url

        from aiohttp import web

        from .api.server import ApiServer
        from .store import Store
        store = Store(paths["db"])
        api = ApiServer(self.cfg, store, token)
        self._admin_routes(api.app)
        self._bootstrap(api)

        import ssl
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(crt), str(key))
        # Open watches never end by themselves: on shutdown, don't wait for them.
        runner = web.AppRunner(api.app, access_log=None, handle_signals=False,
                               shutdown_timeout=0.25)
        await runner.setup()
        site = web.TCPSite(runner, self.cfg.api_address, self.cfg.api_port, ssl_context=ctx,
                           backlog=1024)
        await site.start()
        local = await self._local_site(runner)

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        owner = os.environ.get("EMUNET_EXIT_WITH_PID")
        if owner:
            self.tasks.append(asyncio.create_task(self._exit_with(int(owner)), name="owner"))

        # The controllers run in this process: they reach the API over its Unix socket.
        client = Client(Credentials(server_url, token, str(ca_crt),
                                    socket=str(local) if local else None))
        for C in controllers.CONTROLLERS:
            self.tasks.append(asyncio.create_task(C(client, self.cfg).run(), name=C.__module__))
        for name, (component, node, pid) in self.forked.items():
            self._adopt(name, component, node, pid)
        if not self.forked:
            for name, component, node in self._components():
                await self._spawn(name, component, node)

        # Written whole or not at all: `emunet up` and the tests poll for it.
        tmp = paths["daemon"].with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "server": server_url,
                                   "apiPort": self.cfg.api_port}))
        os.replace(tmp, paths["daemon"])
        log.info("emunet daemon serving at %s", server_url)
        try:
            await self._stop.wait()
        finally:
            await self._shutdown(runner, client, store)

    async def _local_site(self, runner: web.AppRunner) -> Path | None:
        """The API on a Unix socket only root can open, for the daemon's own controllers."""
        from aiohttp import web
        sock = self.state / "api.sock"
        if len(str(sock)) > 100:  # beyond what sun_path holds: keep to HTTPS
            return None
        sock.unlink(missing_ok=True)
        site = web.UnixSite(runner, str(sock))
        await site.start()
        os.chmod(sock, 0o600)
        return sock

    async def _exit_with(self, pid: int) -> None:
        """A test's cluster ends with the test process, even one killed by SIGKILL.

        Otherwise a leftover cluster would keep the loopback block that the next
        test claims (the block's lock dies with the test process).
        """
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                log.warning("process %d that owns this cluster is gone; stopping", pid)
                self._stop.set()
                return
            except PermissionError:
                pass
            await asyncio.sleep(0.5)

    async def _shutdown(self, runner: web.AppRunner, client: Client, store: Store) -> None:
        self._stop.set()
        for proc in self.children.values():
            proc.killpg(signal.SIGTERM)
        for proc in self.children.values():
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.killpg(signal.SIGKILL)
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await client.close()
        store.close()
        await runner.cleanup()
        try:
            self.paths["daemon"].unlink()
        except FileNotFoundError:
            pass


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="emunet-daemon")
    p.add_argument("--state", required=True, type=Path)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cfg = ClusterConfig.from_json((args.state / "config.json").read_text())
    proctitle.set_title(f"emunet-daemon {args.state.name}")
    daemon = Daemon(cfg, args.state)
    daemon.prepare()
    if os.environ.get("EMUNET_NO_FORK") != "1":
        daemon.fork_children()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(daemon.run())
    log.info("daemon stopped")
    logging.shutdown()
    # Everything is closed and written; skip the interpreter's teardown, which on
    # this many loaded modules takes longer than the rest of `emunet down`.
    os._exit(0)


if __name__ == "__main__":
    main()
