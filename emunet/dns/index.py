"""The DNS server's view of the cluster: indexes fed by informers.

The record builder must answer from memory in microseconds, so the informer
handlers reduce each Namespace, Service and EndpointSlice to the few fields DNS
needs (frozen values) and keep them in dicts keyed as CoreDNS keys its
indexes (`svc.ns`). Every change that alters an answer bumps `version` and
tells the listeners, so the server can drop its cache of encoded answers;
changes that alter nothing DNS serves (a status heartbeat, a label) do not,
which keeps the cache warm under controller churn.

The `Index` itself is pure data and is fed directly by tests; `Feeds` wires
it to the informers of a live cluster.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import resources, tasks
from ..client import Client, Handler, Informer
from . import names

log = logging.getLogger("emunet.dns.index")
Obj = dict[str, Any]


@dataclass(frozen=True)
class Port:
    name: str
    port: int
    protocol: str


@dataclass(frozen=True)
class Endpoint:
    ip: str
    hostname: str
    ports: tuple[Port, ...]

    @property
    def label(self) -> str:
        """The endpoint's own name under its Service: hostname, else the dashed IP."""
        return self.hostname.lower() or names.dashed(self.ip)


@dataclass(frozen=True)
class Service:
    namespace: str
    name: str
    type: str
    cluster_ips: tuple[str, ...]
    external_name: str
    ports: tuple[Port, ...]

    @property
    def headless(self) -> bool:
        return self.cluster_ips == ("None",)

    @property
    def fqdn_base(self) -> str:
        return f"{self.name}.{self.namespace}.svc"


# The sentinel CoreDNS gives a slice without ports, so A records still exist.
NO_PORT = Port("", -1, "")


def service_from(obj: Obj) -> Service:
    meta, spec = obj["metadata"], obj.get("spec") or {}
    ips = tuple(spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else []))
    ports = tuple(Port((p.get("name") or "").lower(), int(p.get("port") or 0),
                       (p.get("protocol") or "TCP").lower()) for p in spec.get("ports") or [])
    return Service(meta.get("namespace", "").lower(), meta["name"].lower(),
                   spec.get("type") or "ClusterIP", ips, (spec.get("externalName") or ""), ports)


def endpoints_from(obj: Obj) -> tuple[str, tuple[Endpoint, ...]]:
    """(service name, ready endpoints) of an EndpointSlice; IPv4 slices only."""
    svc = ((obj.get("metadata") or {}).get("labels") or {}).get("kubernetes.io/service-name", "")
    if obj.get("addressType", "IPv4") != "IPv4":
        return svc.lower(), ()
    ports = tuple(Port((p.get("name") or "").lower(), int(p.get("port") or 0),
                       (p.get("protocol") or "TCP").lower())
                  for p in obj.get("ports") or []) or (NO_PORT,)
    out = []
    for ep in obj.get("endpoints") or []:
        # CoreDNS serves an endpoint unless conditions.ready is explicitly false.
        if (ep.get("conditions") or {}).get("ready") is False:
            continue
        for ip in ep.get("addresses") or []:
            out.append(Endpoint(ip, ep.get("hostname") or "", ports))
    return svc.lower(), tuple(out)


@dataclass
class Index:
    zone: str = "cluster.local"
    namespaces: set[str] = field(default_factory=set)
    services: dict[tuple[str, str], Service] = field(default_factory=dict)
    # (namespace, slice name) -> (service name, endpoints)
    slices: dict[tuple[str, str], tuple[str, tuple[Endpoint, ...]]] = field(default_factory=dict)
    version: int = 0
    serial: int = field(default_factory=lambda: int(time.time()))
    synced: bool = False
    listeners: list[Callable[[], None]] = field(default_factory=list)
    _by_service: dict[tuple[str, str], tuple[Endpoint, ...]] | None = None
    _by_ip: dict[str, list[str]] | None = None

    # ---- reads -------------------------------------------------------

    def endpoints(self, namespace: str, service: str) -> tuple[Endpoint, ...]:
        if self._by_service is None:
            grouped: dict[tuple[str, str], list[Endpoint]] = {}
            for (ns, _), (svc, eps) in sorted(self.slices.items()):
                grouped.setdefault((ns, svc), []).extend(eps)
            self._by_service = {k: tuple(v) for k, v in grouped.items()}
        return self._by_service.get((namespace, service), ())

    def names_for_ip(self, ip: str) -> list[str]:
        """PTR targets: the Service holding a ClusterIP, else every endpoint name of the IP."""
        if self._by_ip is None:
            by_ip: dict[str, list[str]] = {}
            for svc in self.services.values():
                for cip in svc.cluster_ips:
                    if cip != "None":
                        by_ip.setdefault(cip, []).append(f"{svc.fqdn_base}.{self.zone}.")
            cluster_ips = set(by_ip)
            for (ns, _), (svc_name, eps) in sorted(self.slices.items()):
                if (ns, svc_name) not in self.services:
                    continue
                for ep in eps:
                    if ep.ip in cluster_ips:
                        continue
                    name = f"{ep.label}.{svc_name}.{ns}.svc.{self.zone}."
                    lst = by_ip.setdefault(ep.ip, [])
                    if name not in lst:
                        lst.append(name)
            self._by_ip = by_ip
        return self._by_ip.get(ip, [])

    # ---- writes (informer handlers) ---------------------------------

    def apply_namespace(self, etype: str, obj: Obj) -> None:
        name = obj["metadata"]["name"].lower()
        present = name in self.namespaces
        if etype == "DELETED":
            if present:
                self.namespaces.discard(name)
                self._changed()
        elif not present:
            self.namespaces.add(name)
            self._changed()

    def apply_service(self, etype: str, obj: Obj) -> None:
        meta = obj["metadata"]
        key = (meta.get("namespace", "").lower(), meta["name"].lower())
        old = self.services.get(key)
        if etype == "DELETED":
            if old is not None:
                del self.services[key]
                self._changed()
            return
        new = service_from(obj)
        if new != old:
            self.services[key] = new
            self._changed()

    def apply_slice(self, etype: str, obj: Obj) -> None:
        meta = obj["metadata"]
        key = (meta.get("namespace", "").lower(), meta["name"])
        old = self.slices.get(key)
        if etype == "DELETED":
            if old is not None:
                del self.slices[key]
                self._changed()
            return
        new = endpoints_from(obj)
        if new != old:
            self.slices[key] = new
            self._changed()

    def _changed(self) -> None:
        self.version += 1
        self.serial = max(self.serial + 1, int(time.time()))
        self._by_service = None
        self._by_ip = None
        for fn in self.listeners:
            fn()


def _ignoring_old(apply: Callable[[str, Obj], None]) -> Handler:
    """An informer handler for an index update that needs only the new object."""
    return lambda etype, obj, old: apply(etype, obj)


class Feeds:
    """The informers that keep an `Index` current; `synced` once all have listed."""

    def __init__(self, client: Client, index: Index) -> None:
        self.index = index
        self.informers: list[tuple[Informer, Callable[[str, Obj], None]]] = [
            (Informer(client, resources.by_plural("namespaces")), index.apply_namespace),
            (Informer(client, resources.by_plural("services")), index.apply_service),
            (Informer(client, resources.by_plural("endpointslices", "discovery.k8s.io")),
             index.apply_slice),
        ]
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        for inf, apply in self.informers:
            inf.add_handler(_ignoring_old(apply))
            inf.start()
        self._task = asyncio.create_task(self._wait_synced(), name="dns-feeds-synced")

    async def _wait_synced(self) -> None:
        await asyncio.gather(*(inf.synced.wait() for inf, _ in self.informers))
        self.index.synced = True
        self.index._changed()
        log.info("synced: %d namespaces, %d services, %d endpoint slices",
                 len(self.index.namespaces), len(self.index.services), len(self.index.slices))

    async def stop(self) -> None:
        await tasks.cancel_and_wait(self._task)
        for inf, _ in self.informers:
            await inf.stop()
