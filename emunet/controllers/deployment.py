"""The Deployment controller: Deployments become ReplicaSets, rolled out by strategy.

As upstream's `pkg/controller/deployment`: each Deployment owns ReplicaSets
named `<deployment>-<pod-template-hash>`; the one whose template equals the
Deployment's (ignoring the hash label) is the *new* one, the rest are old.
RollingUpdate grows the new ReplicaSet within maxSurge and shrinks old ones
within maxUnavailable; Recreate empties the old ones first. Revisions, the
desired/max-replicas annotations and the status conditions are upstream's, so
`kubectl rollout status|history|undo` and `kubectl get deploy` work unchanged.
The arithmetic lives in `rollout.py`; this module only reads caches and writes
differences.
"""
from __future__ import annotations

import copy
import logging
from typing import Any

from .. import resources, selectors
from ..client import ApiException, Client, Informer
from ..config import ClusterConfig
from ..store import now_rfc3339
from . import common, rollout, workqueue

log = logging.getLogger("emunet.controllers.deployment")
Obj = dict[str, Any]
DEPLOY = resources.by_plural("deployments", "apps")
RS = resources.by_plural("replicasets", "apps")


class Controller:
    def __init__(self, client: Client, cfg: ClusterConfig) -> None:
        self.client = client
        self.cfg = cfg
        self.deploys = Informer.shared(client, DEPLOY)
        self.rss = Informer.shared(client, RS)
        self.queue = workqueue.WorkQueue()
        self.deploys.add_handler(lambda et, obj, old: self.queue.add(common.key_of(obj)))
        self.rss.add_handler(self._on_rs)

    async def run(self) -> None:
        await workqueue.run_controller([self.deploys, self.rss], self.queue, self.sync, log)

    def _on_rs(self, etype: str, rs: Obj, old: Obj | None) -> None:
        ref = common.controller_of(rs)
        ns = rs["metadata"].get("namespace", "")
        if ref is not None:
            if ref.get("kind") == "Deployment":
                self.queue.add((ns, ref["name"]))
            return
        # An orphan: any Deployment whose selector matches may adopt it.
        for d in self.deploys.items():
            if d["metadata"].get("namespace") == ns and self._selects(d, rs):
                self.queue.add(common.key_of(d))

    @staticmethod
    def _selects(d: Obj, rs: Obj) -> bool:
        sel = selectors.from_label_selector_object(d.get("spec", {}).get("selector"))
        return not sel.empty and sel.matches(rs["metadata"].get("labels"))

    # ---- sync ----------------------------------------------------------

    async def sync(self, key: tuple[str, str]) -> float | None:
        ns, name = key
        d = self.deploys.get(ns, name)
        if d is None or common.is_terminating(d):
            return None
        d = common.with_kind(d, DEPLOY)
        rss = await self._claim(d)
        new, olds = self._split(d, rss)
        created = False
        progressed = False
        strategy = (d["spec"].get("strategy") or {}).get("type", "RollingUpdate")
        paused = bool(d["spec"].get("paused"))
        if new is not None:
            new = await self._sync_new_annotations(d, new, olds)
        if paused:
            if new is not None and new["spec"].get("replicas") != rollout.replicas_of(d) \
                    and not any(o["spec"].get("replicas") for o in olds):
                new = await self._scale(d, new, rollout.replicas_of(d))
        elif strategy == "Recreate":
            new, created, progressed = await self._recreate(d, new, olds)
        else:
            new, created, progressed = await self._rolling(d, new, olds)
        if new is not None:
            await self._set_deployment_revision(d, rollout.revision(new))
        if rollout.is_complete(d, d.get("status") or {}):
            await self._cleanup(d, olds)
        await self._sync_status(d, new, olds, created, progressed)
        return None

    async def _claim(self, d: Obj) -> list[Obj]:
        """The Deployment's ReplicaSets, adopting orphans its selector matches."""
        ns = d["metadata"]["namespace"]
        out = []
        for rs in self.rss.items():
            if rs["metadata"].get("namespace") != ns or common.is_terminating(rs) and \
                    not common.is_controlled_by(rs, d):
                continue
            if common.is_controlled_by(rs, d):
                out.append(rs)
            elif common.controller_of(rs) is None and self._selects(d, rs):
                refs = list(rs["metadata"].get("ownerReferences") or [])
                refs.append(common.owner_ref(d, DEPLOY))
                adopted = await self.client.patch(
                    RS, rs["metadata"]["name"],
                    {"metadata": {"ownerReferences": refs,
                                  "resourceVersion": rs["metadata"]["resourceVersion"]}}, ns)
                common.remember(self.rss, adopted)
                out.append(adopted)
        return out

    @staticmethod
    def _split(d: Obj, rss: list[Obj]) -> tuple[Obj | None, list[Obj]]:
        rss = sorted(rss, key=lambda r: (r["metadata"].get("creationTimestamp", ""),
                                         r["metadata"]["name"]))
        new = next((r for r in rss if rollout.equal_ignore_hash(
            r["spec"].get("template", {}), d["spec"].get("template", {}))), None)
        return new, [r for r in rss if r is not new]

    async def _sync_new_annotations(self, d: Obj, new: Obj, olds: list[Obj]) -> Obj:
        """Give a re-used ReplicaSet (e.g. after `rollout undo`) the next revision."""
        max_old = max((rollout.revision(o) for o in olds), default=0)
        rev = rollout.revision(new)
        want = dict(new["metadata"].get("annotations") or {})
        want.update(rollout.copied_annotations(d))
        if rev <= max_old:
            old_rev = str(rev) if rev else ""
            want[rollout.REVISION] = str(max_old + 1)
            if old_rev:
                hist = [h for h in want.get(rollout.REVISION_HISTORY, "").split(",") if h]
                want[rollout.REVISION_HISTORY] = ",".join(hist + [old_rev])
        if want == (new["metadata"].get("annotations") or {}):
            return new
        body = copy.deepcopy(new)
        body["metadata"]["annotations"] = want
        updated = await self.client.update(RS, body)
        common.remember(self.rss, updated)
        return updated

    async def _create_new(self, d: Obj, olds: list[Obj], replicas: int) -> Obj:
        meta = d["metadata"]
        collisions = (d.get("status") or {}).get("collisionCount")
        h = rollout.template_hash(d["spec"]["template"], collisions)
        template = copy.deepcopy(d["spec"]["template"])
        template.setdefault("metadata", {}).setdefault("labels", {})[rollout.HASH_LABEL] = h
        selector = copy.deepcopy(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[rollout.HASH_LABEL] = h
        annotations = rollout.copied_annotations(d)
        annotations.update(rollout.replica_annotations(d))
        annotations[rollout.REVISION] = str(max((rollout.revision(o) for o in olds),
                                                default=0) + 1)
        rs: Obj = {"apiVersion": RS.api_version, "kind": RS.kind,
              "metadata": {"name": f"{meta['name']}-{h}", "namespace": meta["namespace"],
                           "labels": dict(template["metadata"]["labels"]),
                           "annotations": annotations,
                           "ownerReferences": [common.owner_ref(d, DEPLOY)]},
              "spec": {"replicas": replicas, "selector": selector, "template": template,
                       **({"minReadySeconds": d["spec"]["minReadySeconds"]}
                          if d["spec"].get("minReadySeconds") else {})}}
        try:
            created = await self.client.create(RS, rs)
        except ApiException as e:
            if e.status != 409:
                raise
            existing = await self.client.get(RS, rs["metadata"]["name"], meta["namespace"])
            if common.is_controlled_by(existing, d) and rollout.equal_ignore_hash(
                    existing["spec"]["template"], d["spec"]["template"]):
                common.remember(self.rss, existing)
                return existing
            # A true hash collision: step the count so the next name differs, as upstream.
            status = dict(d.get("status") or {})
            status["collisionCount"] = (collisions or 0) + 1
            await self.client.update(DEPLOY, {**d, "status": status}, subresource="status")
            raise
        common.remember(self.rss, created)
        if replicas > 0:
            await self._scaled_event(d, created, 0, replicas)
        return created

    async def _scale(self, d: Obj, rs: Obj, replicas: int) -> Obj:
        before = rs["spec"].get("replicas", 1)
        want_ann = rollout.replica_annotations(d)
        ann = rs["metadata"].get("annotations") or {}
        if before == replicas and all(ann.get(k) == v for k, v in want_ann.items()):
            return rs
        body = copy.deepcopy(rs)
        body["spec"]["replicas"] = replicas
        body["metadata"].setdefault("annotations", {}).update(want_ann)
        updated = await self.client.update(RS, body)
        common.remember(self.rss, updated)
        if before != replicas:
            await self._scaled_event(d, updated, before, replicas)
        return updated

    async def _scaled_event(self, d: Obj, rs: Obj, before: int, after: int) -> None:
        how = "up" if after > before else "down"
        await self.client.event(d, "ScalingReplicaSet",
                                f"Scaled {how} replica set {rs['metadata']['name']} "
                                f"from {before} to {after}", component="deployment-controller")

    # ---- strategies ----------------------------------------------------

    async def _rolling(self, d: Obj, new: Obj | None,
                       olds: list[Obj]) -> tuple[Obj | None, bool, bool]:
        desired = rollout.replicas_of(d)
        old_spec = sum(o["spec"].get("replicas", 0) for o in olds)
        created = progressed = False
        if new is None:
            n = rollout.new_rs_new_replicas(d, old_spec, 0)
            new = await self._create_new(d, olds, n)
            created = True
        else:
            cur = new["spec"].get("replicas", 0)
            target = desired if cur > desired else rollout.new_rs_new_replicas(
                d, old_spec + cur, cur)
            if target != cur:
                progressed = True
            new = await self._scale(d, new, target)
        if old_spec == 0:
            return new, created, progressed
        new_spec = new["spec"].get("replicas", 0)
        new_avail = (new.get("status") or {}).get("availableReplicas", 0)
        budget = rollout.old_scale_down_budget(d, old_spec + new_spec, new_spec, new_avail)
        if budget <= 0:
            return new, created, progressed
        specs = [(o["spec"].get("replicas", 0), (o.get("status") or {}).get(
            "availableReplicas", 0)) for o in olds]
        after_cleanup = rollout.cleanup_unhealthy(specs, budget)
        available = new_avail + sum(a for _, a in specs)
        after = rollout.scale_down_old(d, after_cleanup, available)
        for i, o in enumerate(olds):
            if after[i] != o["spec"].get("replicas", 0):
                olds[i] = await self._scale(d, o, after[i])
                progressed = True
        return new, created, progressed

    async def _recreate(self, d: Obj, new: Obj | None,
                        olds: list[Obj]) -> tuple[Obj | None, bool, bool]:
        progressed = False
        for i, o in enumerate(olds):
            if o["spec"].get("replicas", 0) != 0:
                olds[i] = await self._scale(d, o, 0)
                progressed = True
        if progressed or any((o.get("status") or {}).get("replicas", 0) for o in olds):
            return new, False, progressed  # wait until every old pod is gone
        if new is None:
            return await self._create_new(d, olds, rollout.replicas_of(d)), True, True
        cur = new["spec"].get("replicas", 0)
        new = await self._scale(d, new, rollout.replicas_of(d))
        return new, False, cur != rollout.replicas_of(d)

    # ---- bookkeeping ---------------------------------------------------

    async def _set_deployment_revision(self, d: Obj, rev: int) -> None:
        ann = d["metadata"].get("annotations") or {}
        if rev and ann.get(rollout.REVISION) != str(rev):
            updated = await self.client.patch(
                DEPLOY, d["metadata"]["name"],
                {"metadata": {"annotations": {rollout.REVISION: str(rev)}}},
                d["metadata"]["namespace"])
            common.remember(self.deploys, updated)
            d["metadata"] = updated["metadata"]

    async def _cleanup(self, d: Obj, olds: list[Obj]) -> None:
        """Prune old ReplicaSets past revisionHistoryLimit, oldest revision first."""
        limit = d["spec"].get("revisionHistoryLimit")
        if limit is None:
            return
        alive = sorted((o for o in olds if not common.is_terminating(o)),
                       key=lambda o: (rollout.revision(o), o["metadata"]["name"]))
        for o in alive[:max(len(alive) - int(limit), 0)]:
            st = o.get("status") or {}
            if st.get("replicas", 0) or o["spec"].get("replicas", 0) or \
                    o["metadata"].get("generation", 1) > st.get("observedGeneration", 0):
                continue
            await self.client.delete(RS, o["metadata"]["name"], o["metadata"]["namespace"])
            common.forget(self.rss, o)

    async def _sync_status(self, d: Obj, new: Obj | None, olds: list[Obj], created: bool,
                           progressed: bool) -> None:
        all_rs = ([new] if new is not None else []) + olds

        def total(field: str) -> int:
            return sum((r.get("status") or {}).get(field, 0) for r in all_rs)
        desired = rollout.replicas_of(d)
        status: Obj = {"observedGeneration": d["metadata"].get("generation", 1),
                       "replicas": total("replicas"),
                       "updatedReplicas": (new.get("status") or {}).get("replicas", 0)
                       if new is not None else 0,
                       "readyReplicas": total("readyReplicas"),
                       "availableReplicas": total("availableReplicas")}
        status["unavailableReplicas"] = max(desired - status["availableReplicas"], 0)
        # Upstream's fields are omitempty: zeros do not appear in the JSON.
        status = {k: v for k, v in status.items() if v}
        old_status = d.get("status") or {}
        if old_status.get("collisionCount"):
            status["collisionCount"] = old_status["collisionCount"]
        now = now_rfc3339()
        conds = list(old_status.get("conditions") or [])
        conds = rollout.set_condition(conds, rollout.available_condition(
            d, status.get("availableReplicas", 0)), now)
        if new is not None:
            rs_name = new["metadata"]["name"]
            prev = common.condition(d, "Progressing")
            cond: dict[str, Any]
            if rollout.is_complete(d, status):
                cond = {"reason": "NewReplicaSetAvailable",
                        "message": f'ReplicaSet "{rs_name}" has successfully progressed.'}
            elif created:
                cond = {"reason": "NewReplicaSetCreated",
                        "message": f'Created new replica set "{rs_name}"'}
            elif progressed or prev is None or _progressing(old_status, status):
                cond = {"reason": "ReplicaSetUpdated",
                        "message": f'ReplicaSet "{rs_name}" is progressing.'}
            else:
                cond = {"reason": prev.get("reason"), "message": prev.get("message")}
            conds = rollout.set_condition(conds, {"type": "Progressing", "status": "True",
                                                  **cond}, now)
        status["conditions"] = conds
        if _strip_times(status) == _strip_times(old_status):
            return
        body = copy.deepcopy(d)
        body["status"] = status
        updated = await self.client.update(DEPLOY, body, subresource="status")
        common.remember(self.deploys, updated)


def _strip_times(status: Obj) -> Obj:
    out = dict(status)
    out["conditions"] = [{k: v for k, v in c.items() if not k.endswith("Time")}
                         for c in status.get("conditions") or []]
    return out


def _progressing(old: Obj, new: Obj) -> bool:
    """`DeploymentProgressing`: more updated/ready/available pods, or fewer old ones."""
    def get(st: Obj, f: str) -> int:
        return st.get(f, 0)
    return (get(new, "updatedReplicas") > get(old, "updatedReplicas")
            or get(new, "readyReplicas") > get(old, "readyReplicas")
            or get(new, "availableReplicas") > get(old, "availableReplicas")
            or get(new, "replicas") - get(new, "updatedReplicas")
            < get(old, "replicas") - get(old, "updatedReplicas"))
