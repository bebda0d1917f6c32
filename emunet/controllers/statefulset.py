"""The StatefulSet controller: pods with stable names, created and deleted in order.

As upstream's `pkg/controller/statefulset` (updateStatefulSet, processReplica,
processCondemned and the rolling update). The pod of ordinal i is named
`<sts>-<i>` (`spec.ordinals.start` shifts the range), made from the template
with a controller ownerReference, the labels `statefulset.kubernetes.io/pod-name`,
`apps.kubernetes.io/pod-index` and `controller-revision-hash` (the revision,
`<sts>-<hash of the template>`), `spec.hostname` its name and `spec.subdomain`
the serviceName when there is one. Each volumeClaimTemplate T becomes a volume
T referring to the claim `<T>-<pod>`, replacing a template volume of that name
(upstream's updateStorage); the kubelet serves such a claim as a directory that
outlives the pod.

Per sync, ordinals in order: a Failed or Succeeded pod is deleted (with
upstream's RecreatingFailedPod / RecreatingTerminatedPod event) and made anew
once its name is free; a missing pod is created, unless a pod of that name is
still terminating. With podManagementPolicy OrderedReady a sync stops at the
first pod it creates or deletes, and at the first pod that is pending,
terminating or not Running and Ready, so pod i+1 is made only once pods 0..i
are Running and Ready. Pods past the replica count (condemned) then go,
highest ordinal first: under OrderedReady one at a time, only when every
wanted pod is healthy and the condemned pod is healthy itself or the lowest
unhealthy one, as upstream. Parallel creates and deletes all at once.
Orphans named `<sts>-<n>` that the selector matches are adopted; owned pods
it no longer matches are released.

RollingUpdate: from the highest ordinal down to `partition`, the first pod not
at the update revision is deleted (the per-ordinal step recreates it from the
new template), but only when the pods above it are healthy and, under
OrderedReady, every pod is; one at a time. OnDelete replaces nothing. The
status is upstream's, counted from the pods as the sync found them:
replicas (pods that exist), readyReplicas, availableReplicas, currentReplicas
and updatedReplicas (pods not terminating at those revisions), currentRevision
(kept until every pod is updated and ready under RollingUpdate, then the update
revision), updateRevision, observedGeneration and collisionCount 0; it is
written only when it changes.

Not done: ControllerRevision objects (so no `kubectl rollout history` or
`undo`, and revisionHistoryLimit is not read); because old templates are not
kept, a pod below the partition that has to be recreated gets the current
template, where upstream would use the current revision's. No
PersistentVolumeClaim objects are made (volumeClaimTemplates become
persistentVolumeClaim volume references only; the retention policy is not
read); maxUnavailable is not supported (one pod at a time); minReadySeconds is
ignored (availableReplicas is readyReplicas); pods whose identity drifted are
not patched back (upstream's identityMatches/updateIdentity).
"""
from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from .. import resources
from ..client import ApiException, Client, Informer
from ..config import ClusterConfig
from ..resources import Resource
from . import claims, common, rollout, workqueue

log = logging.getLogger("emunet.controllers.statefulset")
Obj = dict[str, Any]
POD = resources.by_plural("pods")
COMPONENT = "statefulset-controller"
HASH_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
# The status fields this controller owns; any other (conditions) is kept as it is.
_STATUS_FIELDS = ("observedGeneration", "replicas", "readyReplicas", "currentReplicas",
                  "updatedReplicas", "currentRevision", "updateRevision", "collisionCount",
                  "availableReplicas")
_ORDINAL = re.compile(r"^(.*)-(0|[1-9][0-9]*)$")


def _spec(sts: Obj) -> Obj:
    return sts.get("spec") or {}


def start_ordinal(sts: Obj) -> int:
    return int((_spec(sts).get("ordinals") or {}).get("start") or 0)


def ordinal_of(sts: Obj, pod: Obj) -> int | None:
    """The ordinal of a pod named `<sts>-<n>` (n without leading zeros); None otherwise."""
    m = _ORDINAL.match((pod.get("metadata") or {}).get("name") or "")
    if m is None or m.group(1) != sts["metadata"]["name"]:
        return None
    return int(m.group(2))


def is_rolling(sts: Obj) -> bool:
    return ((_spec(sts).get("updateStrategy") or {}).get("type")
            or "RollingUpdate") == "RollingUpdate"


def partition(sts: Obj) -> int:
    if not is_rolling(sts):
        return 0
    rolling = (_spec(sts).get("updateStrategy") or {}).get("rollingUpdate") or {}
    return int(rolling.get("partition") or 0)


def is_ordered(sts: Obj) -> bool:
    """OrderedReady (upstream's monotonic), the default; Parallel is not."""
    return _spec(sts).get("podManagementPolicy") != "Parallel"


def revision(sts: Obj) -> str:
    """The update revision's name, `<sts>-<hash of the template>`."""
    collisions = (sts.get("status") or {}).get("collisionCount")
    hash_ = rollout.template_hash(_spec(sts).get("template") or {}, collisions)
    return f"{sts['metadata']['name']}-{hash_}"


def pod_revision(pod: Obj) -> str | None:
    return ((pod.get("metadata") or {}).get("labels") or {}).get(HASH_LABEL)


def _phase(pod: Obj) -> str:
    return (pod.get("status") or {}).get("phase") or ""


def is_running_and_ready(pod: Obj) -> bool:
    return _phase(pod) == "Running" and common.is_pod_ready(pod)


def is_healthy(pod: Obj) -> bool:
    return is_running_and_ready(pod) and not common.is_terminating(pod)


def pod_name(sts: Obj, ordinal: int) -> str:
    return f"{sts['metadata']['name']}-{ordinal}"


def pod_for(sts: Obj, res: Resource, ordinal: int) -> Obj:
    """The pod of one ordinal, as upstream's newVersionedStatefulSetPod at the update
    revision: identity, revision label and claim volumes."""
    pod = common.pod_from_template(sts, res)
    meta = pod["metadata"]
    name = pod_name(sts, ordinal)
    meta.pop("generateName", None)
    meta["name"] = name
    meta["labels"].update({POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal),
                           HASH_LABEL: revision(sts)})
    spec = pod["spec"]
    spec["hostname"] = name
    service = _spec(sts).get("serviceName")
    if service:
        spec["subdomain"] = service
    templates = _spec(sts).get("volumeClaimTemplates") or []
    if templates:
        claimed = [(t.get("metadata") or {}).get("name") for t in templates]
        volumes = [{"name": c, "persistentVolumeClaim": {"claimName": f"{c}-{name}"}}
                   for c in claimed if c]
        volumes += [copy.deepcopy(v) for v in spec.get("volumes") or []
                    if v.get("name") not in claimed]
        spec["volumes"] = volumes
    return pod


def current_revision(sts: Obj) -> str:
    return (sts.get("status") or {}).get("currentRevision") or revision(sts)


def statefulset_status(sts: Obj, pods: list[Obj]) -> Obj:
    """Upstream's computeReplicaStatus and completeRollingUpdate, with availability
    taken as readiness; the counters upstream marks omitempty are left out at zero."""
    current, update = current_revision(sts), revision(sts)
    replicas = ready = n_current = n_updated = 0
    for p in pods:
        replicas += 1
        ready += is_running_and_ready(p)
        if not common.is_terminating(p):
            n_current += pod_revision(p) == current
            n_updated += pod_revision(p) == update
    if is_rolling(sts) and n_updated == replicas and ready == replicas:
        current, n_current = update, n_updated
    prev = sts.get("status") or {}
    out = {k: v for k, v in prev.items() if k not in _STATUS_FIELDS}
    out.update(replicas=replicas, availableReplicas=ready, collisionCount=0)
    optional = {"observedGeneration": (sts.get("metadata") or {}).get("generation"),
                "readyReplicas": ready, "currentReplicas": n_current,
                "updatedReplicas": n_updated, "currentRevision": current,
                "updateRevision": update}
    out.update({k: v for k, v in optional.items() if v})
    return out


@dataclass
class Decision:
    """What one sync does: the events, deletes, then creates, then the status write."""

    delete: list[Obj] = field(default_factory=list)
    create: list[int] = field(default_factory=list)  # ordinals
    status: Obj = field(default_factory=dict)
    events: list[tuple[str, str, str]] = field(default_factory=list)  # type, reason, message


def _replica_step(sts: Obj, d: Decision, ordinal: int, pod: Obj | None,
                  ordered: bool) -> bool:
    """Upstream's processReplica for one wanted ordinal; True to end the sync's pod work."""
    if pod is None:
        d.create.append(ordinal)
        return ordered
    phase = _phase(pod)
    if phase in ("Failed", "Succeeded"):
        if not common.is_terminating(pod):
            meta, name = sts["metadata"], pod["metadata"]["name"]
            if phase == "Failed":
                d.events.append(("Warning", "RecreatingFailedPod",
                                 f"StatefulSet {meta.get('namespace')}/{meta['name']} "
                                 f"is recreating failed Pod {name}"))
            else:
                d.events.append(("Normal", "RecreatingTerminatedPod",
                                 f"StatefulSet {meta.get('namespace')}/{meta['name']} "
                                 f"is recreating terminated Pod {name}"))
            d.delete.append(pod)
        # The new pod is made once this one is gone: the name is taken until then.
        return True
    return ordered and not is_healthy(pod)


def decide(sts: Obj, pods: list[Obj]) -> Decision:
    """One sync (upstream's updateStatefulSet); `pods` are the pods the StatefulSet owns.
    The status counts the pods as they are, before this sync's changes."""
    d = Decision(status=statefulset_status(sts, pods))
    ordered = is_ordered(sts)
    start, want = start_ordinal(sts), rollout.replicas_of(sts)
    wanted: dict[int, Obj] = {}
    condemned: list[Obj] = []
    for p in pods:
        ordinal = ordinal_of(sts, p)
        if ordinal is None:
            continue
        if start <= ordinal < start + want:
            wanted[ordinal] = p
        else:
            condemned.append(p)
    # Highest ordinal first; the ones below the range after those above it, as upstream.
    condemned.sort(key=lambda p: ordinal_of(sts, p) or 0, reverse=True)
    for ordinal in range(start, start + want):
        # Parallel carries on past a failed pod, as upstream's runForAll does.
        if _replica_step(sts, d, ordinal, wanted.get(ordinal), ordered) and ordered:
            return d
    # Under OrderedReady every wanted pod is healthy from here on, so the first
    # unhealthy pod is the lowest unhealthy condemned one.
    first_unhealthy = next((p for p in reversed(condemned) if not is_healthy(p)), None)
    for p in condemned:
        if common.is_terminating(p):
            if ordered:
                return d
            continue
        if ordered and not is_healthy(p) and p is not first_unhealthy:
            return d
        d.delete.append(p)
        if ordered:
            return d
    if not is_rolling(sts):
        return d
    update = revision(sts)
    going = {id(p) for p in d.delete}
    for ordinal in range(start + want - 1, start + partition(sts) - 1, -1):
        target = wanted.get(ordinal)
        if target is None or id(target) in going:
            return d  # being made or replaced this sync: not healthy yet
        if pod_revision(target) != update and not common.is_terminating(target):
            d.delete.append(target)
            return d
        if not is_healthy(target):
            return d
    return d


class Controller:
    def __init__(self, client: Client, cfg: ClusterConfig) -> None:
        self.client = client
        self.cfg = cfg
        self.res = resources.by_plural("statefulsets", "apps")
        self.sets = Informer.shared(client, self.res)
        self.pods = Informer.shared(client, POD)
        self.queue = workqueue.WorkQueue()
        # Parsed selectors by StatefulSet uid: the selector is immutable in apps/v1.
        self.selectors = common.SelectorCache()
        self.sets.add_handler(self._on_sts)
        self.pods.add_handler(self._on_pod)

    async def run(self) -> None:
        await workqueue.run_controller([self.sets, self.pods], self.queue, self.sync, log)

    def _on_sts(self, etype: str, sts: Obj, old: Obj | None) -> None:
        if etype == "DELETED":
            self.selectors.forget(sts)
        self.queue.add(common.key_of(sts))

    def _selects(self, sts: Obj, pod: Obj) -> bool:
        return self.selectors.selects(sts, pod) and ordinal_of(sts, pod) is not None

    def _on_pod(self, etype: str, pod: Obj, old: Obj | None) -> None:
        for key in common.owners_of_pod_event("StatefulSet", etype, pod, old,
                                              self.sets.items(), self._selects):
            self.queue.add(key)

    async def sync(self, key: tuple[str, str]) -> float | None:
        ns, name = key
        sts = self.sets.get(ns, name)
        if sts is None or common.is_terminating(sts):
            return None
        sts = common.with_kind(sts, self.res)
        sel = self.selectors.get(sts)
        if sel.nothing or sel.empty:
            return None  # validation lets neither in
        # Upstream claims only pods named as its members (isMemberOf).
        pods = await claims.claim_pods(self.client, self.pods, sts, self.res,
                                       lambda p: self._selects(sts, p))
        d = decide(sts, pods)
        for type_, reason, message in d.events:
            await self.client.event(sts, reason, message, type_, component=COMPONENT)
        for p in d.delete:
            await self._delete(sts, p)
        for ordinal in d.create:
            await self._create(sts, ordinal)
        await common.write_status(self.client, self.sets, self.res, sts, d.status)
        return None

    async def _create(self, sts: Obj, ordinal: int) -> None:
        """One request at a time; a failure raises, so the sync is retried with back-off."""
        name, set_name = pod_name(sts, ordinal), sts["metadata"]["name"]
        try:
            pod = await self.client.create(POD, pod_for(sts, self.res, ordinal))
        except ApiException as e:
            await self.client.event(sts, "FailedCreate",
                                    f"create Pod {name} in StatefulSet {set_name} failed "
                                    f"error: {e.message}", "Warning", component=COMPONENT)
            raise
        common.remember(self.pods, pod)
        await self.client.event(sts, "SuccessfulCreate",
                                f"create Pod {name} in StatefulSet {set_name} successful",
                                component=COMPONENT)

    async def _delete(self, sts: Obj, pod: Obj) -> None:
        meta, set_name = pod["metadata"], sts["metadata"]["name"]
        try:
            await common.delete_pod(self.client, self.pods, pod)
        except ApiException as e:
            await self.client.event(sts, "FailedDelete",
                                    f"delete Pod {meta['name']} in StatefulSet {set_name} "
                                    f"failed error: {e.message}", "Warning", component=COMPONENT)
            raise
        await self.client.event(sts, "SuccessfulDelete",
                                f"delete Pod {meta['name']} in StatefulSet {set_name} "
                                "successful", component=COMPONENT)
