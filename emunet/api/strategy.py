"""Per-kind rules the apiserver applies on create and update (its "strategies").

Defaults, validation, status/spec separation, and the Service allocations
(ClusterIP, NodePorts) live here, between the HTTP handlers and the store, so
that every write path (POST, PUT, every patch type, subresources) goes through
the same rules.
"""
from __future__ import annotations

import copy
import uuid
from typing import Any

from .. import allocators, defaults, errors, validation
from ..config import ClusterConfig
from ..resources import Resource
from ..store import Store

Obj = dict[str, Any]

# Kinds whose status is written only through the status subresource.
_STATUS_SPLIT = {"Pod", "Service", "Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job",
                 "Node", "Namespace"}


class Strategy:
    def __init__(self, cfg: ClusterConfig, store: Store) -> None:
        self.cfg = cfg
        self.store = store
        self.cluster_ips = allocators.IPAllocator(cfg.service_cidr)
        lo, hi = cfg.node_ports
        self.node_ports = allocators.PortAllocator(lo, hi)
        for svc in store.iter_all("services"):
            for ip in svc.get("spec", {}).get("clusterIPs") or []:
                if ip and ip != "None":
                    self.cluster_ips.take(ip)
            for p in svc.get("spec", {}).get("ports") or []:
                if p.get("nodePort"):
                    self.node_ports.take(p["nodePort"])

    # ---- create --------------------------------------------------------

    def prepare_create(self, res: Resource, obj: Obj) -> Obj:
        obj = defaults.apply_defaults(res.kind, obj)
        if res.kind == "Job":
            _job_selector(obj)
        validation.validate(res.kind, obj, None, res.group)
        if res.kind == "Service":
            self._allocate_service(obj, None)
        elif res.kind == "Pod":
            obj["status"] = {"phase": "Pending", "qosClass": obj.get("status", {}).get(
                "qosClass", "BestEffort")}
        elif res.kind in ("Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job"):
            obj["status"] = {}
        return obj

    def rollback_create(self, res: Resource, obj: Obj) -> None:
        if res.kind == "Service":
            self.release_service(obj)

    # ---- update --------------------------------------------------------

    def prepare_update(self, res: Resource, new: Obj, old: Obj, subresource: str = "") -> Obj:
        """The object to store for this update. `new` and `old` are the caller's own
        copies (the request's body, a patch's result, a fresh read of the store), which
        this may change and return: copying them again would cost every write."""
        new.setdefault("apiVersion", res.api_version)
        new.setdefault("kind", res.kind)
        if subresource == "status":
            # Only status changes through /status; everything else stays.
            merged = old
            merged["status"] = new.get("status", {})
            merged["metadata"]["resourceVersion"] = new["metadata"].get(
                "resourceVersion", old["metadata"]["resourceVersion"])
            return merged
        if res.kind in _STATUS_SPLIT and "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        new = defaults.apply_defaults(res.kind, new)
        if res.kind == "Service":
            self._keep_allocated(new, old)
        validation.validate(res.kind, new, old, res.group)
        if res.kind == "Service":
            self._allocate_service(new, old)
        return new

    def allocations(self) -> tuple[set[str], set[int]]:
        """What is allocated now, to put back with `restore` when a write does not land."""
        return set(self.cluster_ips.used), set(self.node_ports.used)

    def restore(self, saved: tuple[set[str], set[int]]) -> None:
        # prepare_update allocates new ports and releases old ones before the store
        # write; a dry run or a failed write (409) must leave both as they were.
        self.cluster_ips.used, self.node_ports.used = set(saved[0]), set(saved[1])

    # ---- delete --------------------------------------------------------

    def release_service(self, svc: Obj) -> None:
        spec = svc.get("spec", {})
        for ip in spec.get("clusterIPs") or []:
            if ip != "None":
                self.cluster_ips.release(ip)
        for p in spec.get("ports") or []:
            self.node_ports.release(p.get("nodePort"))

    # ---- services ------------------------------------------------------

    @staticmethod
    def _keep_allocated(new: Obj, old: Obj) -> None:
        """A PUT that omits allocated values keeps them, as the apiserver does."""
        ns, os_ = new.setdefault("spec", {}), old.get("spec", {})
        if not ns.get("clusterIP") and os_.get("clusterIP"):
            ns["clusterIP"] = os_["clusterIP"]
            ns["clusterIPs"] = list(os_.get("clusterIPs") or [os_["clusterIP"]])
        if not ns.get("clusterIPs") and ns.get("clusterIP"):
            ns["clusterIPs"] = [ns["clusterIP"]]
        new_type = ns.get("type", "ClusterIP")
        old_by_port = {(p.get("port"), p.get("protocol", "TCP")): p
                       for p in os_.get("ports") or []}
        for p in ns.get("ports") or []:
            prev = old_by_port.get((p.get("port"), p.get("protocol", "TCP")))
            if new_type in ("NodePort", "LoadBalancer"):
                if not p.get("nodePort") and prev and prev.get("nodePort"):
                    p["nodePort"] = prev["nodePort"]
            elif prev is not None and p.get("nodePort") == prev.get("nodePort"):
                # Type changed to ClusterIP: drop the node ports the user did not set.
                p.pop("nodePort", None)

    def _allocate_service(self, svc: Obj, old: Obj | None) -> None:
        spec = svc["spec"]
        name = svc["metadata"].get("name", "")
        stype = spec.get("type", "ClusterIP")
        old_spec = (old or {}).get("spec", {})
        taken_now: list[tuple[str, Any]] = []
        try:
            if stype == "ExternalName":
                spec.pop("clusterIP", None)
                spec.pop("clusterIPs", None)
            elif old is None or not old_spec.get("clusterIP"):
                want = spec.get("clusterIP") or (spec.get("clusterIPs") or [None])[0]
                if want == "None":
                    spec["clusterIP"], spec["clusterIPs"] = "None", ["None"]
                elif want:
                    self._reserve_ip(want, name)
                    taken_now.append(("ip", want))
                    spec["clusterIP"], spec["clusterIPs"] = want, [want]
                else:
                    ip = self.cluster_ips.allocate()
                    taken_now.append(("ip", ip))
                    spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
            old_ports = {p.get("nodePort") for p in old_spec.get("ports") or []}
            wants_node_ports = stype in ("NodePort", "LoadBalancer") and not (
                stype == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is False)
            for i, p in enumerate(spec.get("ports") or []):
                np = p.get("nodePort")
                if np and np not in old_ports:
                    self._reserve_port(np, f"spec.ports[{i}].nodePort", name)
                    taken_now.append(("port", np))
                elif not np and wants_node_ports:
                    p["nodePort"] = self.node_ports.allocate()
                    taken_now.append(("port", p["nodePort"]))
            if old is not None:
                kept = {p.get("nodePort") for p in spec.get("ports") or []}
                for np in old_ports - kept:
                    self.node_ports.release(np)
                if stype == "ExternalName":
                    for ip in old_spec.get("clusterIPs") or []:
                        if ip != "None":
                            self.cluster_ips.release(ip)
            if stype != "LoadBalancer":
                svc.setdefault("status", {})["loadBalancer"] = {}
        except errors.ApiError:
            for what, value in taken_now:
                if what == "ip":
                    self.cluster_ips.release(value)
                else:
                    self.node_ports.release(value)
            raise

    def _reserve_ip(self, ip: str, name: str) -> None:
        try:
            self.cluster_ips.reserve(ip)
        except errors.Invalid as e:
            raise errors.Invalid("Service", name, e.causes) from None

    def _reserve_port(self, port: int, field: str, name: str) -> None:
        try:
            self.node_ports.reserve(port, field)
        except errors.Invalid as e:
            raise errors.Invalid("Service", name, e.causes) from None


def _job_selector(job: Obj) -> None:
    """What the Job strategy does on create: unless `manualSelector`, the selector is
    the Job's own uid (assigned here, earlier than the store would), and the
    template and, if it has none, the Job carry the labels it selects by."""
    spec = job.setdefault("spec", {})
    if spec.get("manualSelector"):
        return
    meta = job.setdefault("metadata", {})
    uid = meta.get("uid") or str(uuid.uuid4())
    meta["uid"] = uid
    name = meta.get("name", "")
    template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
    labels = template_meta.get("labels") or {}
    labels.update({"batch.kubernetes.io/controller-uid": uid,
                   "batch.kubernetes.io/job-name": name, "controller-uid": uid,
                   "job-name": name})
    template_meta["labels"] = labels
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    if not meta.get("labels"):
        meta["labels"] = dict(labels)
