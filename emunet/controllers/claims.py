"""Claiming pods, as upstream's ControllerRefManager: the pods a workload owns.

A workload (ReplicaSet, Job, DaemonSet) owns the pods whose controller
ownerReference names it. Before each sync it adopts orphans its selector
matches (the adoption carries the pod's resourceVersion, so a pod changed
meanwhile is not taken on stale grounds) and releases owned pods the selector
no longer matches; pods being deleted are left as they are.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..client import Client, Informer
from ..resources import Resource, by_plural
from . import common

Obj = dict[str, Any]
POD = by_plural("pods")


async def claim_pods(client: Client, pods: Informer, owner: Obj, owner_res: Resource,
                     selects: Callable[[Obj], bool] | None) -> list[Obj]:
    """The pods `owner` owns after adopting and releasing. With `selects` None (a
    selector that cannot be used) it keeps what it owns and changes nothing."""
    ns = owner["metadata"]["namespace"]
    out = []
    for p in pods.items():
        if p["metadata"].get("namespace") != ns:
            continue
        owned = common.is_controlled_by(p, owner)
        if selects is None:
            if owned:
                out.append(p)
            continue
        matches = selects(p)
        if owned and matches:
            out.append(p)
        elif owned and not common.is_terminating(p):
            refs = [r for r in p["metadata"].get("ownerReferences") or []
                    if r.get("uid") != owner["metadata"]["uid"]]
            common.remember(pods, await client.patch(
                POD, p["metadata"]["name"], {"metadata": {"ownerReferences": refs or None}}, ns))
        elif common.controller_of(p) is None and matches and not common.is_terminating(p):
            refs = list(p["metadata"].get("ownerReferences") or [])
            refs.append(common.owner_ref(owner, owner_res))
            adopted = await client.patch(
                POD, p["metadata"]["name"],
                {"metadata": {"ownerReferences": refs,
                              "resourceVersion": p["metadata"]["resourceVersion"]}}, ns)
            common.remember(pods, adopted)
            out.append(adopted)
    return out
