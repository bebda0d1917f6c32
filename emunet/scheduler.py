"""The scheduler: bind each unscheduled pod to a node that fits, spreading replicas.

Filtering follows kube-scheduler's default plugins in their order, each node
failing on its first unmet plugin: NodeUnschedulable (cordoned nodes),
TaintToleration (NoSchedule/NoExecute taints; a node that is not Ready counts
as carrying the `not-ready` taint the node lifecycle controller gives it), and
NodeAffinity (`nodeSelector` and required node affinity). Scoring is reduced
to what spreading needs, in order: fewest pods of the same controller (e.g.
ReplicaSet), fewest pods a Service selecting this pod also selects, fewest pods
overall, then the node name, so two replicas land on two nodes. The failure
message is upstream's FitError text, so `kubectl describe pod` reads the same.

A pod just bound is "assumed" on its node until the watch shows the binding,
as the scheduler cache assumes pods; otherwise two replicas scheduled within
one watch round-trip would both pick the emptiest node. Bound and assumed pods
are counted per node as pod events arrive (`Placement`, the scheduler cache's
NodeInfo), so placing a pod does not walk every pod of the cluster.
"""
from __future__ import annotations

import asyncio
import collections
import copy
import logging
from collections.abc import Hashable, Iterable
from typing import Any

from . import resources
from .client import ApiException, Client, Informer
from .config import ClusterConfig
from .store import now_rfc3339

log = logging.getLogger("emunet.scheduler")
Obj = dict[str, Any]
POD = resources.by_plural("pods")
NODE = resources.by_plural("nodes")
SERVICE = resources.by_plural("services")
SCHEDULER_NAME = "default-scheduler"
NOT_READY_TAINT = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
BIND_WORKERS = 8  # bindings (and their events) in flight at once

# ---- filtering (pure) ---------------------------------------------------------


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """`Toleration.ToleratesTaint`."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    key = toleration.get("key", "")
    if key and key != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    return op == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated_taint(pod: Obj, taints: list[Obj]) -> Obj | None:
    tols = pod.get("spec", {}).get("tolerations") or []
    for t in taints:
        if t.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(tolerates(tol, t) for tol in tols):
            return t
    return None


def _expr_matches(expr: Obj, value: str | None) -> bool:
    op, values = expr.get("operator"), expr.get("values") or []
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and values:
        try:
            a, b = int(value), int(values[0])
        except ValueError:
            return False
        return a > b if op == "Gt" else a < b
    return False


def matches_node_affinity(pod: Obj, node: Obj) -> bool:
    spec = pod.get("spec", {})
    labels = node["metadata"].get("labels") or {}
    for k, v in (spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms")
    if not terms:
        return True
    fields = {"metadata.name": node["metadata"]["name"]}
    # Terms are ORed; the expressions within one term are ANDed.
    for term in terms:
        exprs = term.get("matchExpressions") or []
        fexprs = term.get("matchFields") or []
        if not exprs and not fexprs:
            continue
        if all(_expr_matches(e, labels.get(e.get("key", ""))) for e in exprs) and \
                all(_expr_matches(e, fields.get(e.get("key", ""))) for e in fexprs):
            return True
    return False


def is_node_ready(node: Obj) -> bool:
    c = common.condition(node, "Ready")
    return c is not None and c.get("status") == "True"


def filter_node(pod: Obj, node: Obj) -> str | None:
    """Why the pod cannot go to this node (upstream's reason text), or None if it fits."""
    if node.get("spec", {}).get("unschedulable"):
        tols = pod.get("spec", {}).get("tolerations") or []
        if not any(tolerates(t, UNSCHEDULABLE_TAINT) for t in tols):
            return REASON_UNSCHEDULABLE
    taints = list(node.get("spec", {}).get("taints") or [])
    if not is_node_ready(node) and not any(t.get("key", "").startswith("node.kubernetes.io/")
                                           for t in taints):
        taints.append(NOT_READY_TAINT)
    bad = untolerated_taint(pod, taints)
    if bad is not None:
        return f"node(s) had untolerated taint {{{bad.get('key')}: {bad.get('value', '')}}}"
    if not matches_node_affinity(pod, node):
        return REASON_AFFINITY
    return None


def fit_error(total_nodes: int, reasons: list[str]) -> str:
    """kube-scheduler's FitError message, with the preemption post-filter's note."""
    if total_nodes == 0:
        return "no nodes available to schedule pods"
    counts = collections.Counter(reasons)
    parts = sorted(f"{n} {r}" for r, n in counts.items())
    return (f"0/{total_nodes} nodes are available: {', '.join(parts)}. preemption: "
            f"0/{total_nodes} nodes are available: {total_nodes} Preemption is not "
            "helpful for scheduling.")


# ---- scoring (pure) ---------------------------------------------------------------


def _service_selects(svc: Obj, pod: Obj) -> bool:
    sel = svc.get("spec", {}).get("selector") or {}
    labels = pod["metadata"].get("labels") or {}
    return bool(sel) and all(labels.get(k) == v for k, v in sel.items())


class Placement:
    """Pods bound or assumed, by node, with the counts that scoring reads."""

    def __init__(self, pairs: Iterable[tuple[str, Obj]] = ()) -> None:
        self._where: dict[Hashable, tuple[str, Obj, tuple[str, str] | None]] = {}
        self.total: collections.Counter[str] = collections.Counter()
        # (namespace, controller uid, node) -> pods
        self.owned: collections.Counter[tuple[str, str, str]] = collections.Counter()
        self.by_namespace: dict[str, dict[Hashable, tuple[str, Obj]]] = \
            collections.defaultdict(dict)
        for i, (node, pod) in enumerate(pairs):
            self.set(i, node, pod)

    def set(self, key: Hashable, node: str, pod: Obj) -> None:
        self.discard(key)
        ns = pod["metadata"].get("namespace") or ""
        ref = common.controller_of(pod)
        owner = (ns, ref["uid"]) if ref and ref.get("uid") else None
        self._where[key] = (node, pod, owner)
        self.total[node] += 1
        if owner is not None:
            self.owned[(*owner, node)] += 1
        self.by_namespace[ns][key] = (node, pod)

    def discard(self, key: Hashable) -> None:
        was = self._where.pop(key, None)
        if was is None:
            return
        node, pod, owner = was
        self.total[node] -= 1
        if owner is not None:
            self.owned[(*owner, node)] -= 1
        ns = pod["metadata"].get("namespace") or ""
        self.by_namespace[ns].pop(key, None)


def pick_node(pod: Obj, fits: list[str], placed: Placement | Iterable[tuple[str, Obj]],
              services: list[Obj]) -> str:
    """The best node among `fits`; `placed` holds the pods already bound (or assumed),
    as a `Placement` or as (node name, pod) pairs."""
    if not isinstance(placed, Placement):
        placed = Placement(placed)
    owner = common.controller_of(pod)
    owner_uid = owner.get("uid") if owner else None
    ns = pod["metadata"].get("namespace") or ""
    svcs = [s for s in services if (s["metadata"].get("namespace") or "") == ns
            and _service_selects(s, pod)]
    score: dict[str, list[int]] = {n: [0, 0, placed.total[n]] for n in fits}
    if owner_uid:
        for n in fits:
            score[n][0] = placed.owned[(ns, owner_uid, n)]
    if svcs:
        for node, other in placed.by_namespace.get(ns, {}).values():
            if node in score and any(_service_selects(svc, other) for svc in svcs):
                score[node][1] += 1
    return min(fits, key=lambda n: (score[n], n))


# ---- the controller -----------------------------------------------------------------


class Controller:
    def __init__(self, client: Client, cfg: ClusterConfig) -> None:
        self.client = client
        self.cfg = cfg
        self.pods = Informer.shared(client, POD)
        self.nodes = Informer.shared(client, NODE)
        self.services = Informer.shared(client, SERVICE)
        self.queue = workqueue.WorkQueue()
        self.assumed: dict[tuple[str, str], str] = {}
        self.placement = Placement()
        self.last_failure: dict[tuple[str, str], str] = {}
        self.pods.add_handler(self._on_pod)
        self.nodes.add_handler(lambda et, obj, old: self._requeue_pending())

    async def run(self) -> None:
        # Placement is decided without an await between reading the caches and
        # assuming the pod, so it stays one pod at a time; only the binding requests
        # overlap, as kube-scheduler's binding cycles run apart from its scheduling one.
        await workqueue.run_controller([self.pods, self.nodes, self.services], self.queue,
                                       self.sync, log, workers=BIND_WORKERS)

    @staticmethod
    def _pending(pod: Obj) -> bool:
        spec = pod.get("spec", {})
        return (not spec.get("nodeName") and not common.is_terminating(pod)
                and (spec.get("schedulerName") or SCHEDULER_NAME) == SCHEDULER_NAME
                and pod.get("status", {}).get("phase", "Pending") == "Pending")

    def _on_pod(self, etype: str, pod: Obj, old: Obj | None) -> None:
        key = common.key_of(pod)
        node = pod.get("spec", {}).get("nodeName") or self.assumed.get(key)
        if etype != "DELETED" and node and common.is_pod_active(pod):
            self.placement.set(key, node, pod)
        else:
            self.placement.discard(key)
        if etype == "DELETED" or pod.get("spec", {}).get("nodeName"):
            self.assumed.pop(key, None)
            self.last_failure.pop(key, None)
            if etype == "DELETED" and self.last_failure:
                self._requeue_pending()  # a pod gone may have freed a host port or a slot
            return
        if self._pending(pod):
            self.queue.add(key)

    def _requeue_pending(self) -> None:
        for p in self.pods.items():
            if self._pending(p):
                self.queue.add(common.key_of(p))

    async def sync(self, key: tuple[str, str]) -> float | None:
        pod = self.pods.get(*key)
        if pod is None or not self._pending(pod) or key in self.assumed:
            return None
        nodes = sorted(self.nodes.items(), key=lambda n: n["metadata"]["name"])
        fits, reasons = [], []
        for n in nodes:
            why = filter_node(pod, n)
            if why is None:
                fits.append(n["metadata"]["name"])
            else:
                reasons.append(why)
        pod = common.with_kind(pod, POD)
        if not fits:
            await self._unschedulable(pod, fit_error(len(nodes), reasons))
            return 15.0  # cluster events requeue sooner; this is upstream's periodic flush
        node = pick_node(pod, fits, self.placement, self.services.items())
        ns, name = key
        binding = {"apiVersion": "v1", "kind": "Binding",
                   "metadata": {"name": name, "namespace": ns},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        self.assumed[key] = node
        self.placement.set(key, node, pod)
        try:
            await self.client.request("POST", POD.path(ns, name) + "/binding", body=binding)
        except ApiException as e:
            self._forget_assumed(key)
            if e.status in (404, 409):
                return None  # gone, or bound by someone else: nothing to do
            raise
        except asyncio.CancelledError:
            raise
        except Exception:
            self._forget_assumed(key)
            raise
        self.last_failure.pop(key, None)
        await self.client.event(pod, "Scheduled", f"Successfully assigned {ns}/{name} to {node}",
                                component=SCHEDULER_NAME)
        return None

    def _forget_assumed(self, key: tuple[str, str]) -> None:
        """A binding that failed: the pod is placed only if the watch says it is bound."""
        if self.assumed.pop(key, None) is None:
            return
        pod = self.pods.get(*key)
        node = pod.get("spec", {}).get("nodeName") if pod else None
        if pod is not None and node and common.is_pod_active(pod):
            self.placement.set(key, node, pod)
        else:
            self.placement.discard(key)

    async def _unschedulable(self, pod: Obj, message: str) -> None:
        key = common.key_of(pod)
        cond = common.condition(pod, "PodScheduled")
        if not cond or cond.get("status") != "False" or cond.get("message") != message:
            body = copy.deepcopy(pod)
            conds = [c for c in body.setdefault("status", {}).get("conditions") or []
                     if c.get("type") != "PodScheduled"]
            conds.append({"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                          "lastTransitionTime": now_rfc3339(), "reason": "Unschedulable",
                          "message": message})
            body["status"]["conditions"] = conds
            common.remember(self.pods, await self.client.update(POD, body, subresource="status"))
        if self.last_failure.get(key) != message:
            self.last_failure[key] = message
            await self.client.event(pod, "FailedScheduling", message, "Warning",
                                    component=SCHEDULER_NAME)


# Imported last on purpose: `emunet.controllers` lists this module's Controller in
# CONTROLLERS, so whichever of the two is imported first, the other must find
# this module's names already defined.
from .controllers import common, workqueue  # noqa: E402
