"""The node lifecycle controller: silent nodes become NotReady and lose their pods.

As upstream's `pkg/controller/nodelifecycle` with its taint-based eviction: a
node is alive while its kubelet renews its Lease in `kube-node-lease` (or
posts a fresh heartbeat). Liveness is measured by *when this controller saw a
renewal*, not by the timestamps written, as upstream does, so clock skew
cannot kill a node. After `node_grace_seconds` of silence the node's
conditions go Unknown ("Kubelet stopped posting node status."), it is tainted
`node.kubernetes.io/unreachable` (NoSchedule and NoExecute) and its pods are
marked not Ready at once so endpoints drop them. After `eviction_seconds` more
its pods are force-deleted, so their ReplicaSets recreate them elsewhere.
(Upstream waits for the pods' default 300 s toleration; emunet's short,
configured eviction stands in for it. Pods that tolerate the taint forever
stay.) When renewals resume, the taints go and Ready is True again.
"""
from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from typing import Any

from .. import resources
from ..client import ApiException, Client, Informer
from ..config import ClusterConfig
from ..store import now_rfc3339
from . import common, workqueue

log = logging.getLogger("emunet.controllers.nodelifecycle")
Obj = dict[str, Any]
NODE = resources.by_plural("nodes")
LEASE = resources.by_plural("leases", "coordination.k8s.io")
POD = resources.by_plural("pods")
UNREACHABLE = "node.kubernetes.io/unreachable"
LEASE_NAMESPACE = "kube-node-lease"
UNKNOWN_REASON = "NodeStatusUnknown"
UNKNOWN_MESSAGE = "Kubelet stopped posting node status."


def _renewal(lease: Obj | None) -> str | None:
    return (lease or {}).get("spec", {}).get("renewTime")


def _heartbeat(node: Obj) -> str | None:
    c = common.condition(node, "Ready")
    return c.get("lastHeartbeatTime") if c else None


def unreachable_taints(node: Obj, now: str) -> list[Obj]:
    """The node's taints with both unreachable taints added (pure)."""
    taints = [t for t in node.get("spec", {}).get("taints") or [] if t.get("key") != UNREACHABLE]
    taints.append({"key": UNREACHABLE, "effect": "NoSchedule", "timeAdded": now})
    taints.append({"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": now})
    return taints


def without_unreachable(node: Obj) -> list[Obj]:
    return [t for t in node.get("spec", {}).get("taints") or [] if t.get("key") != UNREACHABLE]


def unknown_conditions(node: Obj, now: str) -> list[Obj]:
    """Every condition Unknown, as `tryUpdateNodeHealth` sets them (pure)."""
    out = []
    for c in node.get("status", {}).get("conditions") or []:
        c = dict(c)
        if c.get("status") != "Unknown":
            c["lastTransitionTime"] = now
        c.update(status="Unknown", reason=UNKNOWN_REASON, message=UNKNOWN_MESSAGE)
        out.append(c)
    if not any(c.get("type") == "Ready" for c in out):
        out.append({"type": "Ready", "status": "Unknown", "reason": UNKNOWN_REASON,
                    "message": UNKNOWN_MESSAGE, "lastTransitionTime": now,
                    "lastHeartbeatTime": now})
    return out


def evictable(pod: Obj) -> bool:
    """False for a pod that tolerates the unreachable NoExecute taint forever."""
    for t in pod.get("spec", {}).get("tolerations") or []:
        key_ok = t.get("key") in (None, "", UNREACHABLE)
        effect_ok = t.get("effect") in (None, "", "NoExecute")
        if key_ok and effect_ok and (t.get("operator") == "Exists" or not t.get("key")) \
                and t.get("tolerationSeconds") is None:
            return False
    return True


class Controller:
    def __init__(self, client: Client, cfg: ClusterConfig,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.cfg = cfg
        self.clock = clock
        self.nodes = Informer.shared(client, NODE)
        self.leases = Informer.shared(client, LEASE, namespace=LEASE_NAMESPACE)
        self.pods = Informer.shared(client, POD)
        self.queue = workqueue.WorkQueue()
        # node -> (last renewal token seen, when we saw it change)
        self.heard: dict[str, tuple[tuple[Any, Any], float]] = {}
        self.down_since: dict[str, float] = {}
        self.nodes.add_handler(lambda et, obj, old: self.queue.add(obj["metadata"]["name"]))
        self.leases.add_handler(lambda et, obj, old: self.queue.add(obj["metadata"]["name"]))

    async def run(self) -> None:
        await workqueue.run_controller([self.nodes, self.leases, self.pods], self.queue,
                                       self.sync, log)

    def _observe(self, name: str, node: Obj) -> float:
        """Seconds since a renewal of the node's lease or heartbeat was last seen."""
        token = (_renewal(self.leases.get(LEASE_NAMESPACE, name)), _heartbeat(node))
        now = self.clock()
        prev = self.heard.get(name)
        if prev is None or prev[0] != token:
            self.heard[name] = (token, now)
            return 0.0
        return now - prev[1]

    async def sync(self, name: str) -> float | None:
        node = self.nodes.get("", name)
        if node is None:
            self.heard.pop(name, None)
            self.down_since.pop(name, None)
            return None
        node = common.with_kind(node, NODE)
        silent = self._observe(name, node)
        grace = self.cfg.node_grace_seconds
        if silent < grace:
            self.down_since.pop(name, None)
            await self._recover(node)
            return grace - silent + 0.05
        now = self.clock()
        if name not in self.down_since:
            self.down_since[name] = now
        await self._mark_unknown(node)
        left = self.down_since[name] + self.cfg.eviction_seconds - now
        if left > 0:
            return left + 0.05
        await self._evict(node)
        return None

    def _pods_on(self, name: str) -> list[Obj]:
        return [p for p in self.pods.items() if p.get("spec", {}).get("nodeName") == name]

    async def _mark_unknown(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        now = now_rfc3339()
        ready = common.condition(node, "Ready")
        if not any(t.get("key") == UNREACHABLE for t in node.get("spec", {}).get("taints") or []):
            await self.client.patch(NODE, name, {"spec": {"taints": unreachable_taints(node, now)}})
        if ready is None or ready.get("status") != "Unknown":
            log.info("node %s: no heartbeat for %.1fs; NotReady", name, self.cfg.node_grace_seconds)
            body = copy.deepcopy(node)
            body.setdefault("status", {})["conditions"] = unknown_conditions(node, now)
            common.remember(self.nodes, await self.client.update(NODE, body, subresource="status"))
            await self.client.event(node, "NodeNotReady",
                                    f"Node {name} status is now: NodeNotReady",
                                    component="node-controller")
        # Endpoints must drop the pods now, not when they are evicted.
        for pod in self._pods_on(name):
            if common.is_pod_ready(pod):
                body = copy.deepcopy(pod)
                for c in body["status"]["conditions"]:
                    if c.get("type") == "Ready":
                        c.update(status="False", lastTransitionTime=now)
                try:
                    common.remember(self.pods, await self.client.update(
                        POD, body, subresource="status"))
                except ApiException as e:
                    if e.status != 404:
                        raise

    async def _evict(self, node: Obj) -> None:
        for pod in self._pods_on(node["metadata"]["name"]):
            if not evictable(pod):
                continue
            meta = pod["metadata"]
            log.info("evicting %s/%s from unreachable node %s", meta["namespace"], meta["name"],
                     node["metadata"]["name"])
            await self.client.event(common.with_kind(pod, POD), "TaintManagerEviction",
                                    f"Marking for deletion Pod {meta['namespace']}/{meta['name']}",
                                    component="taint-eviction-controller")
            await self.client.delete(POD, meta["name"], meta["namespace"], grace=0)
            common.forget(self.pods, pod)

    async def _recover(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        if any(t.get("key") == UNREACHABLE for t in node.get("spec", {}).get("taints") or []):
            await self.client.patch(NODE, name, {"spec": {"taints": without_unreachable(node)}})
        ready = common.condition(node, "Ready")
        if ready is not None and ready.get("status") == "Unknown" and \
                ready.get("reason") == UNKNOWN_REASON:
            now = now_rfc3339()
            body = copy.deepcopy(node)
            for c in body["status"]["conditions"]:
                if c.get("type") == "Ready":
                    c.update(status="True", reason="KubeletReady",
                             message="kubelet is posting ready status", lastTransitionTime=now,
                             lastHeartbeatTime=now)
            common.remember(self.nodes, await self.client.update(NODE, body, subresource="status"))
            await self.client.event(node, "NodeReady", f"Node {name} status is now: NodeReady",
                                    component="node-controller")
