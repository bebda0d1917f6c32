"""The Endpoints controller: every selector Service's pods, as `subsets`.

As kube-controller-manager's endpoints controller: handlers turn Service and
Pod events into Service keys on a de-duplicating queue; `sync(key)` reads the
caches, computes the desired subsets (pure: `desired_subsets`), and writes only
when they differ. Pods enter when they are in the Service's namespace, match
its selector, have a podIP and are not finished; ready pods go to `addresses`,
others to `notReadyAddresses` (all to `addresses` with
publishNotReadyAddresses). A terminating pod leaves Endpoints, as upstream's
`ShouldPodBeInEndpoints(pod, includeTerminating=publishNotReadyAddresses)`
does; EndpointSlices keep it with `terminating: true`. Subsets are repacked
so addresses with identical port sets share one subset (upstream
`RepackSubsets`) and sorted for stable output. A Service without a selector
keeps user-managed Endpoints untouched; deleting a Service deletes its
Endpoints. The pure helpers here are shared with the EndpointSlice controller.
"""
from __future__ import annotations

import logging
from typing import Any

from .. import client as client_mod
from .. import resources
from ..config import ClusterConfig
from . import common, workqueue

log = logging.getLogger("emunet.controllers.endpoints")

Obj = dict[str, Any]
SERVICES = resources.by_plural("services")
PODS = resources.by_plural("pods")
ENDPOINTS = resources.by_plural("endpoints")
HEADLESS_LABEL = "service.kubernetes.io/headless"


# ---- pure: which pods, which ports ------------------------------------------

def selects(svc: Obj, pod: Obj) -> bool:
    sel = (svc.get("spec") or {}).get("selector") or {}
    if not sel:
        return False
    if (pod["metadata"].get("namespace") or "") != (svc["metadata"].get("namespace") or ""):
        return False
    labels = pod["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in sel.items())


def pod_eligible(pod: Obj, include_terminating: bool) -> bool:
    """upstream ShouldPodBeInEndpoints: has an IP, not finished, terminating only if asked."""
    status = pod.get("status") or {}
    if not status.get("podIP"):
        return False
    if status.get("phase") in ("Succeeded", "Failed"):
        return False
    return include_terminating or not common.is_terminating(pod)


def resolve_target_port(svc_port: Obj, pod: Obj) -> int | None:
    """The pod's port for a service port: a number, or a containerPort looked up by name."""
    target = svc_port.get("targetPort", svc_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    proto = svc_port.get("protocol", "TCP")
    for c in (pod.get("spec") or {}).get("containers") or []:
        for cp in c.get("ports") or []:
            if cp.get("name") == target and cp.get("protocol", "TCP") == proto:
                return int(cp["containerPort"])
    return None


def pod_hostname(svc: Obj, pod: Obj) -> str:
    spec = pod.get("spec") or {}
    if spec.get("hostname") and spec.get("subdomain") == svc["metadata"]["name"] \
            and pod["metadata"].get("namespace") == svc["metadata"].get("namespace"):
        return spec["hostname"]
    return ""


def target_ref(pod: Obj) -> Obj:
    m = pod["metadata"]
    return {"kind": "Pod", "namespace": m.get("namespace", ""), "name": m["name"],
            "uid": m.get("uid", "")}


def pod_ports(svc: Obj, pod: Obj) -> list[Obj]:
    """The resolved ports {name, port, protocol} of one pod, skipping unresolvable ones."""
    out = []
    for sp in (svc.get("spec") or {}).get("ports") or []:
        port = resolve_target_port(sp, pod)
        if port is None:
            continue
        out.append({"name": sp.get("name") or "", "port": port,
                    "protocol": sp.get("protocol", "TCP")})
    return out


def _port_key(p: Obj) -> tuple[str, int, str]:
    return (p.get("name", ""), p["port"], p["protocol"])


def desired_subsets(svc: Obj, pods: list[Obj]) -> list[Obj]:
    """The Endpoints `subsets` for a Service with a selector (empty list when none)."""
    tolerate = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
    # address -> (ready?, address object, set of port keys)
    groups: dict[frozenset[tuple[str, int, str]], tuple[list[Obj], list[Obj]]] = {}
    for pod in pods:
        if not selects(svc, pod) or not pod_eligible(pod, tolerate):
            continue
        ports = pod_ports(svc, pod)
        if not ports and (svc.get("spec") or {}).get("ports"):
            continue
        addr: Obj = {"ip": pod["status"]["podIP"]}
        hostname = pod_hostname(svc, pod)
        if hostname:
            addr["hostname"] = hostname
        if pod.get("spec", {}).get("nodeName"):
            addr["nodeName"] = pod["spec"]["nodeName"]
        addr["targetRef"] = target_ref(pod)
        key = frozenset(_port_key(p) for p in ports)
        ready, not_ready = groups.setdefault(key, ([], []))
        (ready if tolerate or common.is_pod_ready(pod) else not_ready).append(addr)
    subsets = []
    for key, (ready, not_ready) in groups.items():
        sub: Obj = {}
        if ready:
            sub["addresses"] = sorted(ready, key=lambda a: (_ip_key(a["ip"]), a["targetRef"]["name"]))
        if not_ready:
            sub["notReadyAddresses"] = sorted(not_ready, key=lambda a: (_ip_key(a["ip"]),
                                                                        a["targetRef"]["name"]))
        ports = []
        for name, port, proto in sorted(key, key=lambda k: (k[0], k[1], k[2])):
            p: Obj = {"port": port, "protocol": proto}
            if name:  # upstream leaves an empty name out of Endpoints
                p = {"name": name, **p}
            ports.append(p)
        if ports:
            sub["ports"] = ports
        subsets.append(sub)
    subsets.sort(key=lambda s: ([_port_key({"name": p.get("name", ""), **p}) for p in
                                 s.get("ports", [])],
                                [_ip_key(a["ip"]) for a in s.get("addresses", []) +
                                 s.get("notReadyAddresses", [])]))
    return subsets


def _ip_key(ip: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in ip.split("."))
    except ValueError:
        return (999,)


def desired_labels(svc: Obj) -> dict[str, str]:
    labels = dict(svc["metadata"].get("labels") or {})
    if (svc.get("spec") or {}).get("clusterIP") == "None":
        labels[HEADLESS_LABEL] = ""
    else:
        labels.pop(HEADLESS_LABEL, None)
    return labels


# ---- the controller -------------------------------------------------------

class Controller:
    """Keeps one Endpoints object per selector Service."""

    def __init__(self, client: client_mod.Client, cfg: ClusterConfig) -> None:
        self.client = client
        self.cfg = cfg
        self.services = client_mod.Informer.shared(client, SERVICES)
        self.pods = client_mod.Informer.shared(client, PODS)
        self.endpoints = client_mod.Informer.shared(client, ENDPOINTS)
        self.queue = workqueue.WorkQueue()
        self.services.add_handler(self._on_service)
        self.pods.add_handler(self._on_pod)
        self.endpoints.add_handler(self._on_endpoints)

    async def run(self) -> None:
        await workqueue.run_controller([self.services, self.pods, self.endpoints], self.queue,
                                       self.sync, log)

    def _on_service(self, etype: str, svc: Obj, old: Obj | None) -> None:
        self.queue.add(common.key_of(svc))

    def _on_endpoints(self, etype: str, ep: Obj, old: Obj | None) -> None:
        # Someone else changed or deleted "our" Endpoints: level-trigger a repair.
        key = common.key_of(ep)
        if self.services.get(*key) is not None:
            self.queue.add(key)

    def _on_pod(self, etype: str, pod: Obj, old: Obj | None) -> None:
        ns = pod["metadata"].get("namespace") or ""
        for svc in self.services.items():
            if svc["metadata"].get("namespace") != ns:
                continue
            if selects(svc, pod) or (old is not None and selects(svc, old)):
                self.queue.add(common.key_of(svc))

    async def sync(self, key: tuple[str, str]) -> None:
        ns, name = key
        svc = self.services.get(ns, name)
        current = self.endpoints.get(ns, name)
        if svc is None:
            if current is not None:
                await self.client.delete(ENDPOINTS, name, ns)
                common.forget(self.endpoints, current)
            return
        if not (svc.get("spec") or {}).get("selector"):
            return  # user-managed Endpoints (or the API server's, for `kubernetes`)
        pods = [p for p in self.pods.items() if (p["metadata"].get("namespace") or "") == ns]
        subsets = desired_subsets(svc, pods)
        labels = desired_labels(svc)
        if current is None:
            obj = {"apiVersion": "v1", "kind": "Endpoints",
                   "metadata": {"name": name, "namespace": ns, "labels": labels},
                   "subsets": subsets}
            try:
                created = await self.client.create(ENDPOINTS, obj, ns)
            except client_mod.ApiException as e:
                if e.status != 409:
                    raise
                self.queue.add(key)  # it exists after all: compare on the next round
                return
            common.remember(self.endpoints, created)
            return
        if (current.get("subsets") or []) == subsets and \
                (current["metadata"].get("labels") or {}) == labels:
            return
        obj = {**current, "apiVersion": "v1", "kind": "Endpoints", "subsets": subsets,
               "metadata": {**current["metadata"], "labels": labels}}
        updated = await self.client.update(ENDPOINTS, obj)
        common.remember(self.endpoints, updated)

