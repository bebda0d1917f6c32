"""The EndpointSlice controller, with mirroring of selector-less Services' Endpoints.

As upstream's endpointslice controller: for each Service with a selector, the
matching pods (same rules as the Endpoints controller, but terminating pods
stay, with `ready: false, serving: <pod ready>, terminating: true`) become
endpoints of slices named `<svc>-<5 random chars>` (generateName), labelled
`kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by`, owned
by the Service, one slice per distinct port set (pods may resolve a named
targetPort differently).

A pod that stops being ready or starts terminating is written through at once:
the pod handler syncs that Service inline (under the key's lock, so it never
races the worker) instead of queueing the key behind whatever else the
daemon's loop is doing. Removals are what a client feels (a connection sent
to a dying pod), so they skip the queue; additions take the normal path. Every port carries a `name` key, `""` when unnamed:
kubectl 1.32's describe dereferences it. A Service with no endpoints keeps one
empty placeholder slice, as upstream does.

For Services without a selector, user Endpoints are mirrored into slices (the
endpointslicemirroring controller's job); `default/kubernetes`, whose Endpoints
the API server writes, is mirrored into the slice named `kubernetes` as the
apiserver's own reconciler does. Only differences are written.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from .. import client as client_mod
from .. import resources
from ..config import ClusterConfig
from . import common, workqueue
from . import endpoints as ep_mod

log = logging.getLogger("emunet.controllers.endpointslice")

Obj = dict[str, Any]
SLICES = resources.by_plural("endpointslices", "discovery.k8s.io")
SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
MIRROR_NAME = "endpointslicemirroring-controller.k8s.io"

Group = tuple[list[Obj], list[Obj]]  # (ports, endpoints)


# ---- pure ----------------------------------------------------------------

def slice_port(name: str, port: int, protocol: str) -> Obj:
    return {"name": name or "", "port": port, "protocol": protocol}


def _ports_key(ports: list[Obj]) -> tuple[tuple[str, int, str], ...]:
    return tuple(sorted((p.get("name") or "", p.get("port") or 0, p.get("protocol", "TCP"))
                        for p in ports))


def pod_endpoint(svc: Obj, pod: Obj) -> Obj:
    serving = common.is_pod_ready(pod)
    terminating = common.is_terminating(pod)
    ready = bool((svc.get("spec") or {}).get("publishNotReadyAddresses")) or \
        (serving and not terminating)
    ep: Obj = {"addresses": [pod["status"]["podIP"]],
               "conditions": {"ready": ready, "serving": serving, "terminating": terminating}}
    hostname = ep_mod.pod_hostname(svc, pod)
    if hostname:
        ep["hostname"] = hostname
    if (pod.get("spec") or {}).get("nodeName"):
        ep["nodeName"] = pod["spec"]["nodeName"]
    ep["targetRef"] = ep_mod.target_ref(pod)
    return ep


def desired_groups(svc: Obj, pods: list[Obj]) -> list[Group]:
    """Endpoints of a selector Service grouped by their resolved port set, sorted."""
    groups: dict[tuple[tuple[str, int, str], ...], Group] = {}
    has_ports = bool((svc.get("spec") or {}).get("ports"))
    for pod in pods:
        if not ep_mod.selects(svc, pod) or not ep_mod.pod_eligible(pod, True):
            continue
        ports = [slice_port(p["name"], p["port"], p["protocol"])
                 for p in ep_mod.pod_ports(svc, pod)]
        if has_ports and not ports:
            continue
        key = _ports_key(ports)
        groups.setdefault(key, (sorted(ports, key=lambda p: (p["name"], p["port"])), []))[1] \
            .append(pod_endpoint(svc, pod))
    out = []
    for key in sorted(groups):
        ports, eps = groups[key]
        eps.sort(key=lambda e: (ep_mod._ip_key(e["addresses"][0]), e["targetRef"]["name"]))
        out.append((ports, eps))
    return out


def mirror_groups(endpoints: Obj) -> list[Group]:
    """Slices' content mirrored from an Endpoints object's subsets."""
    out = []
    for sub in endpoints.get("subsets") or []:
        ports = sorted((slice_port(p.get("name", ""), p["port"], p.get("protocol", "TCP"))
                        for p in sub.get("ports") or []), key=lambda p: (p["name"], p["port"]))
        eps = []
        for ready, addrs in ((True, sub.get("addresses") or []),
                             (False, sub.get("notReadyAddresses") or [])):
            for a in addrs:
                e: Obj = {"addresses": [a["ip"]],
                          "conditions": {"ready": ready, "serving": ready, "terminating": False}}
                for f in ("hostname", "nodeName", "targetRef"):
                    if a.get(f):
                        e[f] = a[f]
                eps.append(e)
        if eps:
            out.append((ports, eps))
    return out


def losing_endpoint(etype: str, pod: Obj, old: Obj | None) -> bool:
    """Whether this pod event takes a ready endpoint out of rotation (urgent)."""
    if old is None:
        return False
    was = common.is_pod_ready(old) and not common.is_terminating(old)
    if etype == "DELETED":
        return was
    return was and (common.is_terminating(pod) or not common.is_pod_ready(pod)
                    or not (pod.get("status") or {}).get("podIP"))


def slice_labels(svc: Obj, managed_by: str) -> dict[str, str]:
    labels = ep_mod.desired_labels(svc)
    labels[SERVICE_NAME] = svc["metadata"]["name"]
    if managed_by:
        labels[MANAGED_BY] = managed_by
    return labels


def is_kubernetes(svc: Obj) -> bool:
    m = svc["metadata"]
    return m.get("namespace") == "default" and m["name"] == "kubernetes"


# ---- the controller -------------------------------------------------------

class Controller:
    def __init__(self, client: client_mod.Client, cfg: ClusterConfig) -> None:
        self.client = client
        self.cfg = cfg
        self.services = client_mod.Informer.shared(client, ep_mod.SERVICES)
        self.pods = client_mod.Informer.shared(client, ep_mod.PODS)
        self.endpoints = client_mod.Informer.shared(client, ep_mod.ENDPOINTS)
        self.slices = client_mod.Informer.shared(client, SLICES)
        self.queue = workqueue.WorkQueue()
        self.locks: dict[tuple[str, str], asyncio.Lock] = {}
        self.services.add_handler(lambda et, o, old: self.queue.add(common.key_of(o)))
        self.pods.add_handler(self._on_pod)
        self.endpoints.add_handler(self._on_endpoints)
        self.slices.add_handler(self._on_slice)

    async def run(self) -> None:
        await workqueue.run_controller([self.services, self.pods, self.endpoints, self.slices],
                                       self.queue, self._locked_sync, log)

    async def _on_pod(self, etype: str, pod: Obj, old: Obj | None) -> None:
        ns = pod["metadata"].get("namespace") or ""
        keys = [common.key_of(svc) for svc in self.services.items()
                if svc["metadata"].get("namespace") == ns and (
                    ep_mod.selects(svc, pod) or (old is not None and ep_mod.selects(svc, old)))]
        if not keys:
            return
        if not (self.pods.synced.is_set() and losing_endpoint(etype, pod, old)):
            for key in keys:
                self.queue.add(key)
            return
        seen = time.monotonic()
        for key in keys:
            try:
                await self._locked_sync(key)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 (the worker retries it with back-off)
                log.debug("inline sync %s failed: %s", key, e)
                self.queue.add_rate_limited(key)
            else:
                log.debug("pod %s/%s leaves %s/%s: slice written %.1f ms after the event",
                          ns, pod["metadata"]["name"], *key, (time.monotonic() - seen) * 1e3)

    async def _locked_sync(self, key: tuple[str, str]) -> None:
        # One lock per Service: the inline path and the worker never write one key at once.
        lock = self.locks.setdefault(key, asyncio.Lock())
        async with lock:
            await self.sync(key)
            if self.services.get(*key) is None:
                self.locks.pop(key, None)

    def _on_endpoints(self, etype: str, ep: Obj, old: Obj | None) -> None:
        svc = self.services.get(*common.key_of(ep))
        if svc is not None and not (svc.get("spec") or {}).get("selector"):
            self.queue.add(common.key_of(ep))

    def _on_slice(self, etype: str, sl: Obj, old: Obj | None) -> None:
        name = (sl["metadata"].get("labels") or {}).get(SERVICE_NAME)
        if name:
            self.queue.add((sl["metadata"].get("namespace") or "", name))

    def _owned(self, ns: str, name: str, managed_by: str) -> list[Obj]:
        out = []
        for sl in self.slices.items():
            m = sl["metadata"]
            labels = m.get("labels") or {}
            if m.get("namespace") != ns or labels.get(SERVICE_NAME) != name:
                continue
            if labels.get(MANAGED_BY) == managed_by or \
                    (not managed_by and m["name"] == "kubernetes"):
                out.append(sl)
        return sorted(out, key=lambda s: s["metadata"]["name"])

    async def sync(self, key: tuple[str, str]) -> None:
        ns, name = key
        svc = self.services.get(ns, name)
        if svc is None:
            for mb in (CONTROLLER_NAME, MIRROR_NAME):
                for sl in self._owned(ns, name, mb):
                    await self.client.delete(SLICES, sl["metadata"]["name"], ns)
                    common.forget(self.slices, sl)
            return
        svc = common.with_kind(svc, ep_mod.SERVICES)
        if (svc.get("spec") or {}).get("selector"):
            pods = [p for p in self.pods.items() if (p["metadata"].get("namespace") or "") == ns]
            await self._reconcile(svc, CONTROLLER_NAME, desired_groups(svc, pods), True)
            for sl in self._owned(ns, name, MIRROR_NAME):  # it gained a selector
                await self.client.delete(SLICES, sl["metadata"]["name"], ns)
                common.forget(self.slices, sl)
            return
        current = self.endpoints.get(ns, name)
        groups = mirror_groups(current) if current is not None else []
        if is_kubernetes(svc):
            await self._reconcile(svc, "", groups[:1], False, fixed_name="kubernetes")
        else:
            await self._reconcile(svc, MIRROR_NAME, groups, False)

    async def _reconcile(self, svc: Obj, managed_by: str, groups: list[Group],
                         placeholder: bool, fixed_name: str = "") -> None:
        ns, name = common.key_of(svc)
        if not groups and placeholder:
            groups = [([], [])]
        existing = self._owned(ns, name, managed_by)
        by_ports: dict[tuple[tuple[str, int, str], ...], Obj] = {}
        spare: list[Obj] = []
        for sl in existing:
            k = _ports_key(sl.get("ports") or [])
            if k in by_ports:
                spare.append(sl)
            else:
                by_ports[k] = sl
        labels = slice_labels(svc, managed_by)
        owner = [] if fixed_name else [common.owner_ref(svc, ep_mod.SERVICES)]
        unmatched: list[Group] = []
        for ports, eps in groups:
            match = by_ports.pop(_ports_key(ports), None)
            if match is None:
                unmatched.append((ports, eps))
                continue
            await self._write(match, ports, eps, labels, owner)
        spare += list(by_ports.values())
        for ports, eps in unmatched:
            if spare:  # reuse a slice whose port set went away instead of delete+create
                await self._write(spare.pop(0), ports, eps, labels, owner)
                continue
            meta: Obj = {"namespace": ns, "labels": labels}
            if fixed_name:
                meta["name"] = fixed_name
            else:
                meta["generateName"] = f"{name}-"
            if owner:
                meta["ownerReferences"] = owner
            obj = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                   "metadata": meta, "addressType": "IPv4", "endpoints": eps, "ports": ports}
            created = await self.client.create(SLICES, obj, ns)
            common.remember(self.slices, created)
        for sl in spare:
            await self.client.delete(SLICES, sl["metadata"]["name"], ns)
            common.forget(self.slices, sl)

    async def _write(self, sl: Obj, ports: list[Obj], eps: list[Obj], labels: dict[str, str],
                     owner: list[Obj]) -> None:
        m = sl["metadata"]
        if (sl.get("endpoints") or []) == eps and (sl.get("ports") or []) == ports and \
                (m.get("labels") or {}) == labels and \
                (not owner or (m.get("ownerReferences") or []) == owner):
            return
        meta = {**m, "labels": labels}
        if owner:
            meta["ownerReferences"] = owner
        obj = {**sl, "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": meta, "addressType": sl.get("addressType", "IPv4"),
               "endpoints": eps, "ports": ports}
        updated = await self.client.update(SLICES, obj)
        common.remember(self.slices, updated)
