"""The kubelet's Node: registration, status, and heartbeats.

At start the kubelet creates its Node (or, after a restart, updates the
existing Node's status), with the labels, addresses, capacity, conditions
and nodeInfo a real kubelet reports. Then, as in Kubernetes, it heartbeats
two ways: it renews the Lease `kube-node-lease/<node>` every
heartbeat_seconds (what the node lifecycle controller watches), and it
refreshes the conditions' lastHeartbeatTime less often (every 10
heartbeats, as the kubelet's nodeStatusUpdateFrequency is slower than its
lease renewals).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import platform
from typing import Any

from .. import resources
from ..client import ApiException, Client
from ..config import KUBE_VERSION, ClusterConfig

log = logging.getLogger("emunet.kubelet.node")
Obj = dict[str, Any]
NODES = resources.by_plural("nodes")
LEASES = resources.by_plural("leases", "coordination.k8s.io")
KUBELET_PORT = 10250


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _os_image() -> str:
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def _arch() -> str:
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(m, m)


def _memory_ki() -> str:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                return line.split()[1] + "Ki"
    except OSError:
        pass
    return "8000000Ki"


def conditions(now: str, since: dict[str, str] | None = None) -> list[Obj]:
    since = since or {}
    rows = [("MemoryPressure", "False", "KubeletHasSufficientMemory",
             "kubelet has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID",
             "kubelet has sufficient PID available"),
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status")]
    return [{"type": t, "status": s, "reason": r, "message": m, "lastHeartbeatTime": now,
             "lastTransitionTime": since.get(t, now)} for t, s, r, m in rows]


def node_status(cfg: ClusterConfig, name: str, old: Obj | None = None) -> Obj:
    i = cfg.node_index(name)
    now = _now()
    since = {}
    for c in (old or {}).get("conditions") or []:
        if c.get("type") == "Ready" and c.get("status") == "True":
            since["Ready"] = c.get("lastTransitionTime", now)
        elif c.get("type") != "Ready" and c.get("status") == "False":
            since[c["type"]] = c.get("lastTransitionTime", now)
    cap = {"cpu": str(os.cpu_count() or 2), "memory": _memory_ki(), "pods": "110",
           "ephemeral-storage": "100Gi", "hugepages-2Mi": "0"}
    return {
        "capacity": cap, "allocatable": dict(cap),
        "conditions": conditions(now, since),
        "addresses": [{"type": "InternalIP", "address": cfg.node_internal_ip(i)},
                      {"type": "ExternalIP", "address": cfg.node_external_ip(i)},
                      {"type": "Hostname", "address": name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": KUBELET_PORT}},
        "nodeInfo": {"machineID": "", "systemUUID": "", "bootID": "",
                     "kernelVersion": platform.release(), "osImage": _os_image(),
                     "containerRuntimeVersion": "emunet://0.1",
                     "kubeletVersion": KUBE_VERSION, "kubeProxyVersion": KUBE_VERSION,
                     "operatingSystem": "linux", "architecture": _arch()},
    }


def node_object(cfg: ClusterConfig, name: str) -> Obj:
    cidr = cfg.node_pod_cidr(cfg.node_index(name))
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name,
                         "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                    "kubernetes.io/arch": _arch(),
                                    "beta.kubernetes.io/os": "linux",
                                    "beta.kubernetes.io/arch": _arch()},
                         "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
            "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
            "status": node_status(cfg, name)}


# How this node runs pods: "namespaces", or "plain processes: <why>".
SANDBOX_ANNOTATION = "emunet.io/pod-sandbox"
# Where its pods' connections come from: "pod IP", or "127.0.0.1: <why>" (podsource.py).
SOURCE_ANNOTATION = "emunet.io/pod-source"


class NodeAgent:
    def __init__(self, client: Client, cfg: ClusterConfig, name: str,
                 annotations: dict[str, str] | None = None) -> None:
        self.client, self.cfg, self.name = client, cfg, name
        self.annotations = dict(annotations or {})

    async def register(self) -> None:
        # The kubelet starts alongside the API server: retry soon, then back off.
        delay = 0.02
        while True:
            try:
                try:
                    obj = node_object(self.cfg, self.name)
                    obj["metadata"]["annotations"].update(self.annotations)
                    await self.client.create(NODES, obj)
                    log.info("registered node %s", self.name)
                except ApiException as e:
                    if e.status != 409:
                        raise
                    await self.update_status()
                    if self.annotations:
                        await self.annotate(self.annotations)
                    log.info("node %s exists; status updated", self.name)
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - the API may not be up yet
                log.log(logging.INFO if delay < 0.5 else logging.WARNING,
                        "node registration failed: %s; retrying", e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def annotate(self, annotations: dict[str, str]) -> None:
        try:
            await self.client.patch(NODES, self.name, {"metadata": {"annotations": annotations}})
        except Exception as e:  # noqa: BLE001 - informational only
            log.warning("could not annotate node %s: %s", self.name, e)

    async def update_status(self) -> None:
        node = await self.client.get(NODES, self.name)
        st = node_status(self.cfg, self.name, node.get("status"))
        await self.client.patch(NODES, self.name, {"status": st}, subresource="status")

    async def renew_lease(self) -> None:
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": "kube-node-lease"},
                "spec": {"holderIdentity": self.name,
                         "leaseDurationSeconds": max(1, int(self.cfg.node_grace_seconds)),
                         "renewTime": _micro_now()}}
        try:
            await self.client.patch(LEASES, self.name, {"spec": body["spec"]},
                                    "kube-node-lease")
        except ApiException as e:
            if e.status != 404:
                raise
            await self.client.create(LEASES, body, "kube-node-lease")

    async def heartbeat(self) -> None:
        beats = 0
        while True:
            try:
                await self.renew_lease()
                beats += 1
                if beats % 10 == 0:
                    await self.update_status()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - keep beating through API hiccups
                log.warning("heartbeat failed: %s", e)
            await asyncio.sleep(self.cfg.heartbeat_seconds)
