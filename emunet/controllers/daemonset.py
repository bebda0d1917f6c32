"""The DaemonSet controller: one pod of the template on every node that should run it.

As upstream's `pkg/controller/daemon`. A node should run the daemon pod when
it is not being deleted, matches the template's `nodeName` (if set),
`nodeSelector` and required node affinity, and carries no NoSchedule or
NoExecute taint the pod does not tolerate, counting the tolerations every
daemon pod gets (not-ready and unreachable NoExecute; disk-, memory- and
pid-pressure and unschedulable NoSchedule; network-unavailable NoSchedule for
hostNetwork pods), so that a cordoned node keeps its daemon. The checks are
the scheduler's (`filter_node`), so a node that is not Ready and carries no
`node.kubernetes.io/` taint counts as carrying `not-ready:NoSchedule`, the
taint upstream's node lifecycle controller would give it. A node whose only
untolerated taints are NoSchedule gets no new daemon pod but keeps the one it
has, as upstream; the node lifecycle controller never evicts daemon pods,
since they tolerate `unreachable:NoExecute` forever.

Pods are made from the template with generateName `<ds>-`, a controller
ownerReference, the labels `controller-revision-hash` (the Deployment
controller's template hash) and `pod-template-generation`, and those
tolerations. Upstream gives each pod a required node affinity on
`metadata.name` and lets the scheduler bind it; here the pod is created with
`spec.nodeName` set, which the scheduler leaves alone. Per node: a pod is
created when none is there but pods being deleted; upstream waits for those to
be gone, so that with maxSurge 0 every node of a rolling update waits out its
old pod's grace period, but host ports are not bound here and nothing keeps
the two apart. Extra pods are deleted, the oldest kept; all of them go from a
node that should no longer run them. Failed pods are deleted, with a Warning
event, `crash_backoff_seconds` after they failed, and replaced on the next
sync; upstream keeps an exponential back-off per node in memory instead.
Orphans the selector matches are adopted and owned pods it no longer matches
are released, as the ReplicaSet controller does.

RollingUpdate, as upstream with maxSurge 0: an old pod (neither its hash nor
its generation label current) that is not available is deleted at once; an
available one only while the nodes that should run a pod but have no
available one stay within maxUnavailable (an int or a percentage of the
desired nodes, rounded up, at least 1). The per-node logic creates the
replacements on the next sync, once the old pods are being deleted. OnDelete
replaces nothing. The status
is upstream's, counted from each node's oldest daemon pod (one not being
deleted, if there is one), with `minReadySeconds` deciding availability.

Not done: maxSurge (treated as 0), ControllerRevisions (so no `kubectl rollout
history` or `undo`, and revisionHistoryLimit is not read), the deletion of
daemon pods bound to nodes that no longer exist (upstream's pod GC does that;
they are not counted), and status conditions (upstream sets none either).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from .. import resources, scheduler, selectors
from ..client import ApiException, Client, Informer
from ..config import ClusterConfig
from ..resources import Resource
from . import claims, common, job, replicaset, rollout, workqueue

log = logging.getLogger("emunet.controllers.daemonset")
Obj = dict[str, Any]
POD = resources.by_plural("pods")
NODE = resources.by_plural("nodes")
COMPONENT = "daemonset-controller"
BURST = 250  # upstream's BurstReplicas for DaemonSets: creates or deletes per sync
HASH_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"
# Upstream's apiserver counts template changes in this annotation; without it the
# object's generation, which also counts other spec changes, stands in.
GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"
DAEMON_TOLERATIONS = tuple(
    {"key": f"node.kubernetes.io/{key}", "operator": "Exists", "effect": effect}
    for key, effect in (("not-ready", "NoExecute"), ("unreachable", "NoExecute"),
                        ("disk-pressure", "NoSchedule"), ("memory-pressure", "NoSchedule"),
                        ("pid-pressure", "NoSchedule"), ("unschedulable", "NoSchedule")))
NETWORK_UNAVAILABLE = {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists",
                       "effect": "NoSchedule"}
# The status fields this controller owns; any other (collisionCount, conditions) is kept.
_STATUS_FIELDS = ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled",
                  "numberReady", "observedGeneration", "updatedNumberScheduled",
                  "numberAvailable", "numberUnavailable")


def _same_toleration(a: Obj, b: Obj) -> bool:
    """`Toleration.MatchToleration`: equal but for tolerationSeconds."""
    return ((a.get("key") or "", a.get("operator") or "Equal", a.get("value") or "",
             a.get("effect") or "")
            == (b.get("key") or "", b.get("operator") or "Equal", b.get("value") or "",
                b.get("effect") or ""))


def daemon_tolerations(template_tolerations: list[Obj] | None,
                       host_network: bool = False) -> list[Obj]:
    """The template's tolerations with the daemon ones added (`AddOrUpdateDaemonPodTolerations`):
    one the template already has is replaced, so that no tolerationSeconds limits it."""
    out = [dict(t) for t in template_tolerations or []]
    for tol in DAEMON_TOLERATIONS + ((NETWORK_UNAVAILABLE,) if host_network else ()):
        for i, t in enumerate(out):
            if _same_toleration(t, tol):
                out[i] = dict(tol)
                break
        else:
            out.append(dict(tol))
    return out


def _template(ds: Obj) -> Obj:
    return (ds.get("spec") or {}).get("template") or {}


def _probe(ds: Obj) -> Obj:
    """A stand-in daemon pod for the scheduler's filters: the template with its tolerations."""
    spec = _template(ds).get("spec") or {}
    return {"metadata": {}, "spec": {**spec, "tolerations": daemon_tolerations(
        spec.get("tolerations"), bool(spec.get("hostNetwork")))}}


def node_should_run(ds: Obj, node: Obj) -> tuple[bool, bool]:
    """(should run, should continue running): upstream's `NodeShouldRunDaemonPod`. A node
    whose only untolerated taints are NoSchedule keeps a daemon pod but gets no new one."""
    if common.is_terminating(node):
        return False, False
    probe = _probe(ds)
    wanted = probe["spec"].get("nodeName")
    if wanted and wanted != node["metadata"]["name"]:
        return False, False
    if not scheduler.matches_node_affinity(probe, node):
        return False, False
    if scheduler.filter_node(probe, node) is None:
        return True, True
    no_execute = [t for t in (node.get("spec") or {}).get("taints") or []
                  if t.get("effect") == "NoExecute"]
    return False, scheduler.untolerated_taint(probe, no_execute) is None


def should_run(ds: Obj, node: Obj) -> bool:
    return node_should_run(ds, node)[0]


def template_hash(ds: Obj) -> str:
    """The `controller-revision-hash` of the current template."""
    collisions = (ds.get("status") or {}).get("collisionCount")
    return rollout.template_hash(_template(ds), collisions)


def template_generation(ds: Obj) -> str:
    meta = ds.get("metadata") or {}
    gen = (meta.get("annotations") or {}).get(GENERATION_ANNOTATION)
    return str(gen if gen is not None else meta.get("generation", 1))


def is_updated(pod: Obj, hash_: str, generation: str) -> bool:
    """`IsPodUpdated`: the pod carries the current hash or template generation."""
    labels = pod["metadata"].get("labels") or {}
    return labels.get(HASH_LABEL) == hash_ or labels.get(GENERATION_LABEL) == generation


def max_unavailable(ds: Obj, desired: int) -> int:
    """How many nodes may lack an available daemon pod during a rolling update.

    maxSurge is not done, so a configuration that relies on it (maxUnavailable 0 or
    0%) gets upstream's fallback of 1 instead of a deadlocked update."""
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0
    value = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1)
    return max(rollout.scaled_value(value, desired, True), 1)


def until_available(pod: Obj, min_ready: int, now: float) -> float | None:
    """Seconds until a ready pod counts as available (0: it does); None if it is not ready."""
    if not common.is_pod_ready(pod):
        return None
    if not min_ready:
        return 0.0
    since = replicaset.parse_time((common.condition(pod, "Ready") or {}).get(
        "lastTransitionTime"))
    return max(0.0, since + min_ready - now)


def _age(pod: Obj) -> tuple[bool, float, str]:
    """Oldest first, as upstream's podByCreationTimestampAndPhase (all are bound here), but
    pods being deleted last: a replacement runs beside them, and it is the one that counts."""
    meta = pod["metadata"]
    return (common.is_terminating(pod), replicaset.parse_time(meta.get("creationTimestamp")),
            meta["name"])


def pods_by_node(pods: list[Obj]) -> dict[str, list[Obj]]:
    """The daemon pods on each node, oldest first and those being deleted last. A pod both
    finished and being deleted is left out, as upstream does: a finalizer may keep it, and
    it runs nothing."""
    out: dict[str, list[Obj]] = {}
    for p in pods:
        if common.is_terminating(p) and (p.get("status") or {}).get("phase") in (
                "Succeeded", "Failed"):
            continue
        node = (p.get("spec") or {}).get("nodeName")
        if node:
            out.setdefault(node, []).append(p)
    for here in out.values():
        here.sort(key=_age)
    return out


def _earliest(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def daemonset_status(ds: Obj, plans: dict[str, tuple[bool, bool]],
                     by_node: dict[str, list[Obj]], now: float) -> tuple[Obj, float | None]:
    """Upstream's updateDaemonSetStatus, from each node's oldest daemon pod, and when to look
    again for minReadySeconds. The counters upstream marks omitempty are left out at zero."""
    min_ready = (ds.get("spec") or {}).get("minReadySeconds") or 0
    hash_, generation = template_hash(ds), template_generation(ds)
    desired = current = misscheduled = ready = available = updated = 0
    recheck: float | None = None
    for name, (run, _) in plans.items():
        here = by_node.get(name) or []
        if not run:
            misscheduled += bool(here)
            continue
        desired += 1
        if not here:
            continue
        current += 1
        oldest = here[0]
        wait = until_available(oldest, min_ready, now)
        if wait is not None:
            ready += 1
            if wait == 0:
                available += 1
            else:
                recheck = _earliest(recheck, wait)
        updated += is_updated(oldest, hash_, generation)
    prev = ds.get("status") or {}
    out = {k: v for k, v in prev.items() if k not in _STATUS_FIELDS}
    out.update(currentNumberScheduled=current, numberMisscheduled=misscheduled,
               desiredNumberScheduled=desired, numberReady=ready)
    optional = {"observedGeneration": (ds.get("metadata") or {}).get("generation"),
                "updatedNumberScheduled": updated, "numberAvailable": available,
                "numberUnavailable": desired - available}
    out.update({k: v for k, v in optional.items() if v})
    return out, recheck


def rolling_update(ds: Obj, desired: list[str], by_node: dict[str, list[Obj]],
                   going: list[Obj], now: float) -> list[Obj]:
    """The old pods to delete now (upstream's rollingUpdate without surge), besides `going`,
    the pods this sync already deletes; `desired` are the nodes that should run a pod."""
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return []
    min_ready = (ds.get("spec") or {}).get("minReadySeconds") or 0
    hash_, generation = template_hash(ds), template_generation(ds)
    gone = {p["metadata"]["name"] for p in going}
    unavailable = 0
    replace: list[Obj] = []
    candidates: list[Obj] = []
    for name in desired:
        live = [p for p in by_node.get(name) or []
                if common.is_pod_active(p) and p["metadata"]["name"] not in gone]
        if len(live) != 1:
            # None yet (to be created, or the old one still terminating).
            unavailable += 1
            continue
        pod = live[0]
        ok = until_available(pod, min_ready, now) == 0
        if is_updated(pod, hash_, generation):
            unavailable += not ok
        elif not ok:
            # Already unavailable: replacing it costs nothing.
            replace.append(pod)
            unavailable += 1
        else:
            candidates.append(pod)
    room = max(0, max_unavailable(ds, len(desired)) - unavailable)
    return replace + candidates[:room]


@dataclass
class Decision:
    """What one sync does: the events, deletes, then creates, then the status write."""

    delete: list[Obj] = field(default_factory=list)
    create: list[str] = field(default_factory=list)  # node names
    status: Obj = field(default_factory=dict)
    events: list[tuple[str, str, str]] = field(default_factory=list)  # type, reason, message
    requeue: float | None = None  # seconds until the DaemonSet wants another look


def decide(ds: Obj, nodes: list[Obj], pods: list[Obj], now: float,
           backoff: float = 0.0) -> Decision:
    """One sync (upstream's manage, then rollingUpdate, then the status); `pods` are the
    pods the DaemonSet owns, `backoff` how long a failed pod stays before it is replaced.
    The status counts the pods as they are, before this sync's changes, as upstream's."""
    d = Decision()
    by_node = pods_by_node(pods)
    plans = {n["metadata"]["name"]: node_should_run(ds, n)
             for n in sorted(nodes, key=lambda n: n["metadata"]["name"])}
    for name, (run, keep) in plans.items():
        here = by_node.get(name) or []
        if run and all(common.is_terminating(p) for p in here):
            d.create.append(name)
        elif keep:
            running = []
            for p in here:
                if common.is_terminating(p):
                    continue
                phase = (p.get("status") or {}).get("phase")
                if phase == "Failed":
                    wait = job.finish_time(p) + backoff - now
                    if wait > 0:
                        d.requeue = _earliest(d.requeue, wait)
                        continue
                    meta = p["metadata"]
                    d.events.append(("Warning", "FailedDaemonPod",
                                     f"Found failed daemon pod {meta.get('namespace')}/"
                                     f"{meta['name']} on node {name}, will try to kill it"))
                    d.delete.append(p)
                elif phase == "Succeeded":
                    d.delete.append(p)
                else:
                    running.append(p)
            d.delete += running[1:]
        else:
            d.delete += [p for p in here if not common.is_terminating(p)]
    desired = [name for name, (run, _) in plans.items() if run]
    d.delete += rolling_update(ds, desired, by_node, d.delete, now)
    d.delete, d.create = d.delete[:BURST], d.create[:BURST]
    d.status, recheck = daemonset_status(ds, plans, by_node, now)
    d.requeue = _earliest(d.requeue, recheck)
    return d


def pod_from_template(ds: Obj, res: Resource, node: str) -> Obj:
    """The daemon pod for one node, bound to it at creation."""
    pod = common.pod_from_template(ds, res)
    pod["metadata"]["labels"].update({GENERATION_LABEL: template_generation(ds),
                                      HASH_LABEL: template_hash(ds)})
    spec = pod["spec"]
    spec["tolerations"] = daemon_tolerations(spec.get("tolerations"),
                                             bool(spec.get("hostNetwork")))
    spec["nodeName"] = node
    return pod


def node_changed(old: Obj, new: Obj) -> bool:
    """Whether a node update can change where daemon pods belong (upstream's
    shouldIgnoreNodeUpdate, inverted): kubelets rewrite their status every few seconds,
    and each rewrite would otherwise sync every DaemonSet."""
    def view(node: Obj) -> tuple:
        meta, spec = node.get("metadata") or {}, node.get("spec") or {}
        conds = {c.get("type"): c.get("status")
                 for c in (node.get("status") or {}).get("conditions") or []}
        return (meta.get("labels") or {}, bool(meta.get("deletionTimestamp")),
                spec.get("taints") or [], bool(spec.get("unschedulable")), conds)
    return view(old) != view(new)


class Controller:
    def __init__(self, client: Client, cfg: ClusterConfig) -> None:
        self.client = client
        self.cfg = cfg
        self.res = resources.by_plural("daemonsets", "apps")
        self.dss = Informer.shared(client, self.res)
        self.pods = Informer.shared(client, POD)
        self.nodes = Informer.shared(client, NODE)
        self.queue = workqueue.WorkQueue()
        # Parsed selectors by DaemonSet uid: the selector is immutable in apps/v1.
        self.selectors = common.SelectorCache()
        self.warned: set[str] = set()  # uids of DaemonSets told their selector selects all
        self.dss.add_handler(self._on_ds)
        self.pods.add_handler(self._on_pod)
        self.nodes.add_handler(self._on_node)

    async def run(self) -> None:
        await workqueue.run_controller([self.dss, self.pods, self.nodes], self.queue,
                                       self.sync, log)

    def _on_ds(self, etype: str, ds: Obj, old: Obj | None) -> None:
        if etype == "DELETED":
            self.selectors.forget(ds)
            self.warned.discard(ds["metadata"].get("uid", ""))
        self.queue.add(common.key_of(ds))

    def _on_pod(self, etype: str, pod: Obj, old: Obj | None) -> None:
        for key in common.owners_of_pod_event("DaemonSet", etype, pod, old, self.dss.items(),
                                              self.selectors.selects):
            self.queue.add(key)

    def _on_node(self, etype: str, node: Obj, old: Obj | None) -> None:
        if etype == "MODIFIED" and old is not None and not node_changed(old, node):
            return
        for ds in self.dss.items():
            self.queue.add(common.key_of(ds))

    async def sync(self, key: tuple[str, str]) -> float | None:
        ns, name = key
        ds = self.dss.get(ns, name)
        if ds is None or common.is_terminating(ds):
            return None
        ds = common.with_kind(ds, self.res)
        sel = self.selectors.get(ds)
        if sel.nothing:
            return None  # no selector at all: validation lets none in
        if sel.empty:
            # Upstream refuses a selector that would claim every pod in the namespace.
            uid = ds["metadata"].get("uid", "")
            if uid not in self.warned:
                self.warned.add(uid)
                await self.client.event(ds, "SelectingAll", "This daemon set is selecting all "
                                        "pods. A non-empty selector is required.", "Warning",
                                        component=COMPONENT)
            return None
        pods = await self._claim(ds, sel)
        d = decide(ds, self.nodes.items(), pods, time.time(), self.cfg.crash_backoff_seconds)
        for type_, reason, message in d.events:
            await self.client.event(ds, reason, message, type_, component=COMPONENT)
        for p in d.delete:
            await self._delete(ds, p)
        for node in d.create:
            await self._create(ds, node)
        await common.write_status(self.client, self.dss, self.res, ds, d.status)
        return d.requeue

    async def _claim(self, ds: Obj, sel: selectors.LabelSelector) -> list[Obj]:
        return await claims.claim_pods(self.client, self.pods, ds, self.res,
                                       lambda p: sel.matches(p["metadata"].get("labels")))

    async def _create(self, ds: Obj, node: str) -> None:
        """One request at a time; a failure raises, so a failing template costs one request
        per sync, not one per node."""
        try:
            pod = await self.client.create(POD, pod_from_template(ds, self.res, node))
        except ApiException as e:
            await self.client.event(ds, "FailedCreate", f"Error creating: {e.message}",
                                    "Warning", component=COMPONENT)
            raise
        common.remember(self.pods, pod)
        await self.client.event(ds, "SuccessfulCreate",
                                f"Created pod: {pod['metadata']['name']}", component=COMPONENT)

    async def _delete(self, ds: Obj, pod: Obj) -> None:
        await common.delete_pod(self.client, self.pods, pod)
        await self.client.event(ds, "SuccessfulDelete",
                                f"Deleted pod: {pod['metadata']['name']}", component=COMPONENT)
