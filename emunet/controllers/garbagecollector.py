"""The garbage collector: dependents go when their owners go.

As upstream's `pkg/controller/garbagecollector`, ownership is by uid in
`metadata.ownerReferences`. Background deletion: the apiserver removes the
owner at once and this controller deletes every dependent whose owners are
all gone (one gone owner of several is merely dropped from the references).
Foreground deletion: the apiserver leaves the owner in place with a
deletionTimestamp and the `foregroundDeletion` finalizer; this controller
deletes its dependents (ReplicaSets in the foreground too, so their pods go
first) and, once none is left, removes the finalizer, which lets the store
drop the owner. Orphaning is done by the apiserver itself.

An owner absent from our caches may only not have arrived yet (a dependent's
watch can run ahead of its owner's), so before deleting anything the owner is
looked up live by name and compared by uid, as upstream does.
"""
from __future__ import annotations

import logging
from typing import Any

from .. import resources
from ..client import ApiException, Client, Informer
from ..config import ClusterConfig
from . import workqueue

log = logging.getLogger("emunet.controllers.garbagecollector")
Obj = dict[str, Any]
FOREGROUND = "foregroundDeletion"

# Kinds that have owners here (events are never owned), and kinds that own.
DEPENDENTS = [("replicasets", "apps"), ("pods", ""), ("endpointslices", "discovery.k8s.io"),
              ("endpoints", ""), ("leases", "coordination.k8s.io"), ("deployments", "apps")]
OWNERS = [("deployments", "apps"), ("replicasets", "apps"), ("daemonsets", "apps"),
          ("statefulsets", "apps"),
          ("jobs", "batch"), ("services", ""), ("pods", ""), ("nodes", "")]


class Controller:
    def __init__(self, client: Client, cfg: ClusterConfig) -> None:
        self.client = client
        self.cfg = cfg
        self.informers: dict[str, Informer] = {}
        for plural, group in dict.fromkeys(DEPENDENTS + OWNERS):
            res = resources.by_plural(plural, group)
            inf = Informer.shared(client, res)
            inf.add_handler(self._handler(res))
            self.informers[f"{group}/{plural}"] = inf
        self.dependent_res = [resources.by_plural(p, g) for p, g in DEPENDENTS]
        self.queue = workqueue.WorkQueue()

    async def run(self) -> None:
        await workqueue.run_controller(self.informers.values(), self.queue, self.sync, log)

    def _inf(self, res: resources.Resource) -> Informer:
        return self.informers[f"{res.group}/{res.plural}"]

    def _handler(self, res: resources.Resource):
        def handle(etype: str, obj: Obj, old: Obj | None) -> None:
            meta = obj["metadata"]
            key = (f"{res.group}/{res.plural}", meta.get("namespace") or "", meta["name"])
            if meta.get("ownerReferences"):
                self.queue.add(key)
            if FOREGROUND in (meta.get("finalizers") or []):
                self.queue.add(key)
            # An owner that went away, or one that is dying in the foreground, affects
            # its dependents and their dependents in turn.
            if etype == "DELETED" or meta.get("deletionTimestamp"):
                for dep_key in self._dependents_keys(meta.get("uid")):
                    self.queue.add(dep_key)
                # A dependent that went may be the last one a foreground owner awaits.
                for ref in meta.get("ownerReferences") or []:
                    for okey in self._dying_owner_keys(ref.get("uid")):
                        self.queue.add(okey)
        return handle

    def _dependents(self, uid: str | None) -> list[tuple[resources.Resource, Obj]]:
        out = []
        for res in self.dependent_res:
            for o in self._inf(res).items():
                if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or []):
                    out.append((res, o))
        return out

    def _dying_owner_keys(self, uid: str | None) -> list[tuple[str, str, str]]:
        keys = []
        for store_key, inf in self.informers.items():
            for o in inf.items():
                m = o["metadata"]
                if m.get("uid") == uid and FOREGROUND in (m.get("finalizers") or []):
                    keys.append((store_key, m.get("namespace") or "", m["name"]))
        return keys

    def _dependents_keys(self, uid: str | None) -> list[tuple[str, str, str]]:
        keys = []
        for res, o in self._dependents(uid):
            keys.append((f"{res.group}/{res.plural}", o["metadata"].get("namespace") or "",
                         o["metadata"]["name"]))
        return keys

    async def sync(self, key: tuple[str, str, str]) -> float | None:
        store_key, ns, name = key
        group, plural = store_key.split("/")
        res = resources.by_plural(plural, group)
        obj = self._inf(res).get(ns, name)
        if obj is None:
            return None
        meta = obj["metadata"]
        if meta.get("deletionTimestamp") and FOREGROUND in (meta.get("finalizers") or []):
            return await self._foreground(res, obj)
        refs = meta.get("ownerReferences") or []
        if not refs or meta.get("deletionTimestamp"):
            return None
        dangling = [r for r in refs if not await self._owner_exists(r, ns)]
        if not dangling:
            return None
        if len(dangling) == len(refs):
            log.info("deleting %s %s/%s: its owners are gone", res.kind, ns, name)
            await self.client.delete(res, name, ns or None, propagation="Background",
                                     uid=meta.get("uid"))
        else:
            keep = [r for r in refs if r not in dangling]
            await self.client.patch(res, name, {"metadata": {
                "ownerReferences": keep, "resourceVersion": meta["resourceVersion"]}},
                ns or None)
        return None

    async def _owner_exists(self, ref: Obj, ns: str) -> bool:
        res = resources.by_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
        if res is None:
            return True  # a kind we do not serve: never guess it away
        cached = self.informers.get(f"{res.group}/{res.plural}")
        if cached is not None:
            hit = cached.get(ns if res.namespaced else "", ref.get("name", ""))
            if hit is not None and hit["metadata"].get("uid") == ref.get("uid"):
                return True
        try:
            live = await self.client.get(res, ref.get("name", ""), ns if res.namespaced else None)
        except ApiException as e:
            if e.status == 404:
                return False
            raise
        return live["metadata"].get("uid") == ref.get("uid")

    async def _foreground(self, res: resources.Resource, owner: Obj) -> float | None:
        meta = owner["metadata"]
        deps = self._dependents(meta.get("uid"))
        waiting = False
        for dres, dep in deps:
            dmeta = dep["metadata"]
            blocking = any(r.get("uid") == meta.get("uid") and r.get("blockOwnerDeletion")
                           for r in dmeta.get("ownerReferences") or [])
            if not dmeta.get("deletionTimestamp"):
                # Dependents that own things die in the foreground too, so the chain
                # deployment -> replicaset -> pods unwinds from the bottom.
                policy = "Foreground" if dres.kind != "Pod" else "Background"
                await self.client.delete(dres, dmeta["name"], dmeta.get("namespace"),
                                         propagation=policy, uid=dmeta.get("uid"))
            if blocking:
                waiting = True
        if waiting:
            return 1.0  # dependent events also requeue us; this is a safety net
        fins = [f for f in meta.get("finalizers") or [] if f != FOREGROUND]
        try:
            await self.client.patch(res, meta["name"], {"metadata": {
                "finalizers": fins or None, "resourceVersion": meta["resourceVersion"]}},
                meta.get("namespace"))
        except ApiException as e:
            if e.status != 404:
                raise
        return None
