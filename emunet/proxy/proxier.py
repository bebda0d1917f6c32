"""The proxier: from Services and EndpointSlices to listeners and balancer state.

As kube-proxy's proxier does, the informer handlers only *record* that
something changed; one coalesced `sync()` recomputes the whole desired state
(pure: `desired()`), then applies the net change: balancer endpoint lists are
replaced (shuffled on change), listeners that are no longer wanted close,
new ones open. Established connections survive a listener's close, as
conntrack entries survive a rule change.

Listeners per service port: ClusterIP:port; every node InternalIP/ExternalIP at
the nodePort (NodePort, LoadBalancer); each load-balancer ingress IP and each
externalIP at the port. "No ready endpoint" is emulated by *not listening*, so
the kernel answers the SYN with RST and curl prints "Connection refused" (exit
7) at once, as kube-proxy's REJECT rule makes it. Where the answer depends on
the client (internalTrafficPolicy Local) the listener stays open and a client
with no local endpoint gets an RST right after accept instead.

Traffic policies on one host: a NodePort on node N's addresses with
externalTrafficPolicy Local reaches only endpoints whose nodeName is N (and is
not listened on when N has none). A ClusterIP with internalTrafficPolicy Local
locates the client by its source address: inside node N's pod CIDR or equal to
one of node N's addresses means node N; any other client (the host itself) has
no node, so no local endpoint, and is reset. Load-balancer and external IPs with
externalTrafficPolicy Local use every node's local endpoints, as a cloud load
balancer only sends to nodes whose health check passes.

Modes (`proxyMode` in the cluster config, or `--mode`): `userspace` serves every
listener here; `nftables` hands the TCP listeners that need only balancing to
the kernel as DNAT rules (nft.py) and serves the rest here. When the kernel
path cannot run (not root, no `nft`, a failed transaction) the proxier says why
and serves everything in userspace.
"""
from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import socket
import ssl
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from .. import client as client_mod
from .. import resources, tasks
from ..config import ClusterConfig
from . import metrics as metrics_mod
from . import nft, relay, tls, udp
from .balancer import DEFAULT_AFFINITY_SECONDS, Balancer, Endpoint, ServicePortName

log = logging.getLogger("emunet.proxy")

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
SERVED_BY = "emunet.io/served-by"
RETRY_SECONDS = 5.0
Obj = dict[str, Any]


@dataclass(frozen=True)
class EndpointInfo:
    ip: str
    port: int
    node: str
    ready: bool
    serving: bool
    terminating: bool


@dataclass(frozen=True)
class ListenerSpec:
    ip: str
    port: int
    protocol: str
    spn: ServicePortName
    kind: str  # "cluster" | "node" | "external"
    node: str = ""  # the node whose address this is (kind "node")
    local: bool = False  # the traffic policy of this kind is Local
    tls_secret: str = ""  # "ns/name" when the load balancer ends TLS here

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.ip, self.port, self.protocol)


@dataclass
class Desired:
    listeners: dict[tuple[str, int, str], ListenerSpec] = field(default_factory=dict)
    endpoints: dict[ServicePortName, list[EndpointInfo]] = field(default_factory=dict)
    affinity: dict[ServicePortName, float] = field(default_factory=dict)


def _cond(ep: Obj, name: str, default: bool) -> bool:
    v = (ep.get("conditions") or {}).get(name)
    return default if v is None else bool(v)


def slice_endpoints(slices: list[Obj], port_name: str, protocol: str) -> list[EndpointInfo]:
    """Every endpoint of one service port over the service's slices (IPv4 only)."""
    out: dict[tuple[str, int], EndpointInfo] = {}
    for sl in slices:
        if sl.get("addressType", "IPv4") != "IPv4":
            continue
        for p in sl.get("ports") or []:
            if (p.get("name") or "") != port_name or p.get("protocol", "TCP") != protocol:
                continue
            if p.get("port") is None:
                continue
            for ep in sl.get("endpoints") or []:
                ready = _cond(ep, "ready", True)
                info = EndpointInfo(ep["addresses"][0], int(p["port"]), ep.get("nodeName", ""),
                                    ready, _cond(ep, "serving", ready),
                                    _cond(ep, "terminating", False))
                out.setdefault((info.ip, info.port), info)
    return sorted(out.values(), key=lambda e: (e.ip, e.port))


def usable(eps: list[EndpointInfo], node: str | None = None) -> list[Endpoint]:
    """Ready endpoints (of one node when given); failing that, serving terminating ones."""
    scoped = [e for e in eps if node is None or e.node == node]
    ready = [(e.ip, e.port) for e in scoped if e.ready]
    if ready:
        return ready
    return [(e.ip, e.port) for e in scoped if e.serving and e.terminating]


def desired(services: list[Obj], slices: list[Obj], cfg: ClusterConfig) -> Desired:
    """The listeners and endpoint lists that the Services and slices call for (pure)."""
    by_svc: dict[tuple[str, str], list[Obj]] = {}
    for sl in slices:
        meta = sl["metadata"]
        name = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if name:
            by_svc.setdefault((meta.get("namespace", ""), name), []).append(sl)
    nodes = cfg.node_names()
    out = Desired()
    for svc in sorted(services, key=lambda s: (s["metadata"].get("namespace", ""),
                                               s["metadata"]["name"])):
        meta, spec = svc["metadata"], svc.get("spec") or {}
        ns, name = meta.get("namespace", ""), meta["name"]
        typ = spec.get("type", "ClusterIP")
        if typ == "ExternalName":
            continue
        if (meta.get("annotations") or {}).get(SERVED_BY) == "emunet-dns":
            continue  # kube-dns: the DNS process serves on the ClusterIP itself
        svc_slices = by_svc.get((ns, name), [])
        affinity = 0.0
        if spec.get("sessionAffinity") == "ClientIP":
            affinity = float(((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
                             .get("timeoutSeconds") or DEFAULT_AFFINITY_SECONDS)
        ext_local = spec.get("externalTrafficPolicy") == "Local" and typ in ("NodePort",
                                                                              "LoadBalancer")
        int_local = spec.get("internalTrafficPolicy") == "Local"
        secret, tls_sel = tls.tls_ports(svc)
        cluster_ip = spec.get("clusterIP") or ""
        ingress = [i["ip"] for i in ((svc.get("status") or {}).get("loadBalancer") or {})
                   .get("ingress") or [] if i.get("ip")]
        for p in spec.get("ports") or []:
            proto = p.get("protocol", "TCP")
            if proto not in ("TCP", "UDP"):
                continue
            spn = ServicePortName(ns, name, p.get("name") or "", proto)
            eps = slice_endpoints(svc_slices, spn.port, proto)
            out.endpoints[spn] = eps
            out.affinity[spn] = affinity
            anywhere = bool(usable(eps))

            def add(ls: ListenerSpec) -> None:
                out.listeners.setdefault(ls.key, ls)

            if cluster_ip and cluster_ip != "None" and anywhere:
                add(ListenerSpec(cluster_ip, int(p["port"]), proto, spn, "cluster",
                                 local=int_local))
            if typ in ("NodePort", "LoadBalancer") and p.get("nodePort"):
                for i, node in enumerate(nodes):
                    if not (usable(eps, node) if ext_local else anywhere):
                        continue
                    for ip in (cfg.node_internal_ip(i), cfg.node_external_ip(i)):
                        add(ListenerSpec(ip, int(p["nodePort"]), proto, spn, "node", node,
                                         ext_local))
            if anywhere:
                end_tls = f"{ns}/{secret}" if secret and proto == "TCP" and \
                    tls.port_selected(p, tls_sel) else ""
                for ip in ingress:
                    add(ListenerSpec(ip, int(p["port"]), proto, spn, "external",
                                     local=ext_local, tls_secret=end_tls))
                for ip in spec.get("externalIPs") or []:
                    add(ListenerSpec(ip, int(p["port"]), proto, spn, "external",
                                     local=ext_local))
    return out


class NodeLocator:
    """Which node a client address is on: its pod CIDR or one of its addresses."""

    def __init__(self, cfg: ClusterConfig) -> None:
        self.nets = [(ipaddress.ip_network(cfg.node_pod_cidr(i)), n)
                     for i, n in enumerate(cfg.node_names())]
        self.ips = {}
        for i, n in enumerate(cfg.node_names()):
            self.ips[cfg.node_internal_ip(i)] = n
            self.ips[cfg.node_external_ip(i)] = n

    def node_of(self, ip: str) -> str | None:
        if ip in self.ips:
            return self.ips[ip]
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        for net, node in self.nets:
            if addr in net:
                return node
        return None


@dataclass
class _Live:
    spec: ListenerSpec
    route: relay.Route
    server: asyncio.AbstractServer | None = None
    udp: udp.UdpService | None = None

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        if self.udp is not None:
            self.udp.close()


class Proxier:
    def __init__(self, client: client_mod.Client, cfg: ClusterConfig,
                 metrics: metrics_mod.Metrics | None = None,
                 udp_idle_seconds: float = udp.DEFAULT_IDLE_SECONDS,
                 mode: str = "userspace") -> None:
        self.client = client
        self.cfg = cfg
        self.mode = mode
        self.table = nft.table_name(cfg.name)
        self.snat = nft.snat_address(cfg.service_cidr)
        self.kernel_text = ""  # the ruleset last applied ("" when none)
        self.kernel: dict[tuple[str, int, str], nft.Rule] = {}
        self._affinity: dict[ServicePortName, float] = {}
        self.metrics = metrics or metrics_mod.Metrics()
        self.udp_idle_seconds = udp_idle_seconds
        self.balancer = Balancer()
        self.locator = NodeLocator(cfg)
        self.services = client_mod.Informer(client, "services")
        self.slices = client_mod.Informer(
            client, resources.by_plural("endpointslices", "discovery.k8s.io"))
        self.secrets = client_mod.Informer(client, "secrets")
        self.live: dict[tuple[str, int, str], _Live] = {}
        self.endpoints: dict[ServicePortName, list[EndpointInfo]] = {}
        self.contexts: dict[str, tuple[str, ssl.SSLContext]] = {}  # secret -> (fingerprint, ctx)
        self.failures: dict[tuple[str, int, str], str] = {}
        self.warned: set[tuple[str, str]] = set()
        self.synced = asyncio.Event()
        self.sync_count = 0
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._events: set[asyncio.Task[None]] = set()
        for inf in (self.services, self.slices, self.secrets):
            inf.add_handler(self._changed)

    # ---- handlers only record -------------------------------------------

    def _changed(self, etype: str, obj: Obj, old: Obj | None) -> None:
        self._dirty.set()

    # ---- lifecycle -------------------------------------------------------

    async def run(self) -> None:
        if self.mode == "nftables":
            why = await asyncio.to_thread(nft.unavailable)
            if why:
                log.warning("nftables mode cannot run (%s): serving every Service port "
                            "in userspace", why)
                self.mode = "userspace"
            else:
                await asyncio.to_thread(nft.delete, self.table)  # a crashed predecessor's
                log.info("nftables mode: TCP balancing in table ip %s, SNAT to %s",
                         self.table, self.snat)
        for inf in (self.services, self.slices, self.secrets):
            self._tasks.append(inf.start())
        await asyncio.gather(self.services.synced.wait(), self.slices.synced.wait(),
                             self.secrets.synced.wait())
        self._tasks.append(asyncio.get_running_loop().create_task(self._prune(), name="prune"))
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sync failed; retrying")
                self._retry_later(1.0)

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for inf in (self.services, self.slices, self.secrets):
            await inf.stop()
        for live in self.live.values():
            live.close()
        self.live.clear()
        await relay.close_all()
        if self.kernel_text:
            nft.delete(self.table)
            self.kernel_text = ""

    def _retry_later(self, delay: float) -> None:
        asyncio.get_running_loop().call_later(delay, self._dirty.set)

    async def _prune(self) -> None:
        while True:
            await asyncio.sleep(60)
            self.balancer.prune()

    # ---- the one sync ----------------------------------------------------

    async def sync(self) -> None:
        want = desired(self.services.items(), self.slices.items(), self.cfg)
        if self.mode == "nftables":
            await self._sync_kernel(want)  # first, so /endpoints never runs ahead of the kernel
        self._update_balancer(want)
        for live in self.live.values():  # affinity may have been turned on or off
            live.route.needs_client_ip = live.spec.local or bool(want.affinity.get(live.spec.spn))
        retry = False
        for key in [k for k, live in self.live.items()
                    if k not in want.listeners or want.listeners[k] != live.spec
                    or self._tls_stale(live.spec)]:
            self.live.pop(key).close()
            log.info("closed %s:%d/%s", *key)
        for key in [k for k in self.failures if k not in want.listeners]:
            del self.failures[key]
        for key, spec in want.listeners.items():
            if key in self.live:
                continue
            ok = await self._open(spec)
            retry = retry or not ok
        if retry:
            self._retry_later(RETRY_SECONDS)
        self.sync_count += 1
        self.synced.set()

    def _kernel_rule(self, spec: ListenerSpec, want: Desired) -> nft.Rule | None:
        """The DNAT rule for a listener the kernel can serve, or None (userspace)."""
        if spec.protocol != "TCP" or spec.tls_secret or want.affinity.get(spec.spn):
            return None
        if spec.kind == "cluster" and spec.local:
            return None  # needs the client's address
        eps = want.endpoints.get(spec.spn, [])
        scoped = usable(eps, spec.node) if spec.kind == "node" and spec.local else usable(eps)
        return nft.Rule(spec.ip, spec.port, tuple(sorted(scoped)), str(spec.spn))

    async def _sync_kernel(self, want: Desired) -> None:
        kernel: dict[tuple[str, int, str], nft.Rule] = {}
        handed: dict[tuple[str, int, str], ListenerSpec] = {}
        for key, spec in list(want.listeners.items()):
            rule = self._kernel_rule(spec, want)
            if rule is not None:
                kernel[key] = rule
                handed[key] = want.listeners.pop(key)  # the kernel serves it, not a listener
        text = nft.render(self.table, list(kernel.values()), self.snat) if kernel else ""
        if text != self.kernel_text:
            try:
                if text:
                    await nft.apply(text)
                else:
                    await asyncio.to_thread(nft.delete, self.table)
            except (RuntimeError, OSError) as e:
                log.warning("%s: falling back to userspace for every Service port", e)
                self.mode = "userspace"
                await asyncio.to_thread(nft.delete, self.table)
                self.kernel_text, self.kernel = "", {}
                self.metrics.kernel = {}
                want.listeners.update(handed)
                return
            self.kernel_text = text
            log.info("nftables: %d DNAT rules in table ip %s", len(kernel), self.table)
        self.kernel = kernel
        self.metrics.kernel = {"table": self.table, "snat": self.snat,
                               "ports": sorted(f"{ip}:{port}" for ip, port, _ in kernel)}

    def _update_balancer(self, want: Desired) -> None:
        self.endpoints = want.endpoints
        self._affinity = want.affinity
        keys: set[Hashable] = set()
        for spn, eps in want.endpoints.items():
            scopes: dict[Hashable, list[Endpoint]] = {(spn, ""): usable(eps)}
            for node in self.cfg.node_names():
                scopes[(spn, node)] = usable(eps, node)
            for k, lst in scopes.items():
                self.balancer.set_affinity(k, want.affinity.get(spn, 0.0))
                self.balancer.update(k, lst)
                keys.add(k)
        for k in self.balancer.keys():  # noqa: SIM118 (a method, not a dict)
            if k not in keys:
                self.balancer.remove(k)

    def chosen(self) -> dict[str, Any]:
        """What each service port balances over now (cluster scope), and the sync count."""
        out = {str(k[0]): [f"{ip}:{port}" for ip, port in sorted(self.balancer.endpoints(k))]
               for k in self.balancer.keys()  # noqa: SIM118
               if isinstance(k, tuple) and k[1] == ""}
        return {"syncs": self.sync_count, "endpoints": out}

    def _chooser(self, spec: ListenerSpec) -> relay.Chooser:
        spn, bal = spec.spn, self.balancer
        if spec.kind == "cluster" and spec.local:
            locate = self.locator.node_of

            def choose_local_client(client_ip: str, reset: bool) -> Endpoint | None:
                node = locate(client_ip)
                return bal.next((spn, node), client_ip, reset) if node else None
            return choose_local_client
        key = (spn, spec.node) if spec.kind == "node" and spec.local else (spn, "")

        def choose(client_ip: str, reset: bool) -> Endpoint | None:
            return bal.next(key, client_ip, reset)
        return choose

    def _tls_stale(self, spec: ListenerSpec) -> bool:
        if not spec.tls_secret:
            return False
        cached = self.contexts.get(spec.tls_secret)
        pair = self._secret_pair(spec.tls_secret)
        return cached is None or pair is None or cached[0] != tls.fingerprint(pair)

    def _secret_pair(self, ref: str) -> tuple[bytes, bytes] | None:
        ns, name = ref.split("/", 1)
        secret = self.secrets.get(ns, name)
        return tls.key_pair(secret) if secret else None

    async def _context(self, spec: ListenerSpec) -> ssl.SSLContext | None:
        pair = self._secret_pair(spec.tls_secret)
        if pair is None:
            await self._warn(spec, "FailedToLoadCertificate",
                             f"Secret {spec.tls_secret} with tls.crt/tls.key is missing: "
                             f"{spec.ip}:{spec.port} refuses until it exists")
            return None
        fp = tls.fingerprint(pair)
        cached = self.contexts.get(spec.tls_secret)
        if cached and cached[0] == fp:
            return cached[1]
        try:
            ctx = await asyncio.to_thread(tls.server_context, pair)
        except (ssl.SSLError, ValueError, OSError) as e:
            await self._warn(spec, "FailedToLoadCertificate",
                             f"Secret {spec.tls_secret}: {e}; {spec.ip}:{spec.port} refuses")
            return None
        self.contexts[spec.tls_secret] = (fp, ctx)
        return ctx

    async def _open(self, spec: ListenerSpec) -> bool:
        ctx = None
        if spec.tls_secret:
            ctx = await self._context(spec)
            if ctx is None:
                return True  # not a bind failure: the Secret's arrival triggers a sync
        route = relay.Route(str(spec.spn), self._chooser(spec), self.metrics,
                            needs_client_ip=spec.local or bool(self._affinity.get(spec.spn)))
        kind = socket.SOCK_STREAM if spec.protocol == "TCP" else socket.SOCK_DGRAM
        try:
            sock = relay.bind(spec.ip, spec.port, kind)
        except OSError as e:
            return await self._bind_failed(spec, e)
        live = _Live(spec, route)
        try:
            if kind == socket.SOCK_STREAM:
                live.server = await relay.serve(sock, route, ctx)
            else:
                live.udp = await udp.serve(sock, route, self.udp_idle_seconds)
        except OSError as e:
            sock.close()
            return await self._bind_failed(spec, e)
        self.live[spec.key] = live
        self.failures.pop(spec.key, None)
        log.info("listening on %s:%d/%s for %s%s", spec.ip, spec.port, spec.protocol, spec.spn,
                 " (TLS ends here)" if ctx else "")
        return True

    async def _bind_failed(self, spec: ListenerSpec, e: OSError) -> bool:
        what = "is already in use by another program" if e.errno == errno.EADDRINUSE \
            else f"cannot be bound ({e.strerror})"
        hint = "stop that program or change the Service's port" if e.errno == errno.EADDRINUSE \
            else "check the address ranges in the cluster config"
        if e.errno == errno.EACCES:
            hint = ("ports under 1024 need root, CAP_NET_BIND_SERVICE or "
                    "`sysctl net.ipv4.ip_unprivileged_port_start=0`")
        msg = f"{spec.ip}:{spec.port}/{spec.protocol} {what}: {hint}; retrying every " \
              f"{RETRY_SECONDS:.0f}s"
        if self.failures.get(spec.key) != msg:
            self.failures[spec.key] = msg
            await self._warn(spec, "FailedToListen", msg, dedupe=False)
        return False

    async def _warn(self, spec: ListenerSpec, reason: str, message: str,
                    dedupe: bool = True) -> None:
        if dedupe:
            if (reason, message) in self.warned:
                return
            self.warned.add((reason, message))
        log.warning("%s: %s", spec.spn, message)
        svc = self.services.get(spec.spn.namespace, spec.spn.name)
        if svc is not None:
            # Recorded off the sync path: an Event is best effort, a listener is not.
            tasks.spawn(self.client.event(
                {**svc, "kind": "Service", "apiVersion": "v1"}, reason, message, "Warning",
                component="kube-proxy"), f"event-{reason}", owner=self._events)
