"""Small helpers the controllers share: owner references, pod readiness, keys.

Kept free of I/O except `remember`, which writes a just-returned object into
an informer's cache (client-go's MutationCache): a controller that re-syncs a
key before the watch delivers its own write must not act on the stale copy,
or it would, say, create the same ReplicaSet twice.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from .. import resources, selectors
from ..resources import Resource

Obj = dict[str, Any]
PODS = resources.by_plural("pods")


def key_of(obj: Obj) -> tuple[str, str]:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


def with_kind(obj: Obj, res: Resource) -> Obj:
    """The object with kind/apiVersion set (list items come without them)."""
    out = dict(obj)
    out["kind"], out["apiVersion"] = res.kind, res.api_version
    return out


def owner_ref(owner: Obj, res: Resource) -> Obj:
    return {"apiVersion": res.api_version, "kind": res.kind,
            "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
            "controller": True, "blockOwnerDeletion": True}


def controller_of(obj: Obj) -> Obj | None:
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def is_controlled_by(obj: Obj, owner: Obj) -> bool:
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == owner["metadata"].get("uid")


def condition(obj: Obj, ctype: str) -> Obj | None:
    for c in obj.get("status", {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return None


def is_pod_ready(pod: Obj) -> bool:
    c = condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def is_terminating(obj: Obj) -> bool:
    return bool(obj.get("metadata", {}).get("deletionTimestamp"))


def is_pod_active(pod: Obj) -> bool:
    """`controller.IsPodActive`: not finished and not being deleted."""
    return (pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")
            and not is_terminating(pod))


def remember(informer: Any, obj: Obj) -> None:
    """Put our own write into the informer's cache unless the cache is already newer."""
    k = key_of(obj)
    cur = informer.cache.get(k)
    try:
        newer = cur is None or int(obj["metadata"]["resourceVersion"]) >= int(
            cur["metadata"]["resourceVersion"])
    except (KeyError, ValueError):
        newer = True
    if newer:
        informer.cache[k] = copy.deepcopy(obj)


def forget(informer: Any, obj: Obj) -> None:
    informer.cache.pop(key_of(obj), None)


async def write_status(client: Any, informer: Any, res: Resource, obj: Obj,
                       status: Obj) -> None:
    """Write a workload's status if it changed, and keep the answer in its informer."""
    if status != (obj.get("status") or {}):
        remember(informer, await client.update(res, {**obj, "status": status},
                                               subresource="status"))


async def delete_pod(client: Any, pods: Any, pod: Obj, grace: int | None = None) -> None:
    """Delete a pod we own (by uid) and record the answer in the pods informer: a pod
    now terminating stays, with its deletionTimestamp; one gone at once is forgotten."""
    meta = pod["metadata"]
    gone = await client.delete(PODS, meta["name"], meta["namespace"], grace=grace,
                               uid=meta.get("uid"))
    if gone is not None and (gone.get("metadata") or {}).get("deletionTimestamp"):
        remember(pods, gone)
    else:
        forget(pods, pod)


def pod_from_template(owner: Obj, res: Resource) -> Obj:
    """A pod to create for a workload: its template's labels, annotations, finalizers and
    spec, generateName `<owner>-`, and the owner as its controller."""
    tmpl = (owner.get("spec") or {}).get("template") or {}
    tmeta = tmpl.get("metadata") or {}
    meta: Obj = {"generateName": f"{owner['metadata']['name']}-",
                 "namespace": owner["metadata"]["namespace"],
                 "labels": dict(tmeta.get("labels") or {}),
                 "ownerReferences": [owner_ref(owner, res)]}
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        meta["finalizers"] = list(tmeta["finalizers"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": copy.deepcopy(tmpl.get("spec") or {})}


class SelectorCache:
    """Parsed selectors of a controller's owners, by uid: every pod event is matched
    against them, and a Job's or DaemonSet's selector never changes once set."""

    def __init__(self) -> None:
        self._by_uid: dict[str, selectors.LabelSelector] = {}

    def get(self, owner: Obj) -> selectors.LabelSelector:
        uid = owner["metadata"].get("uid", "")
        sel = self._by_uid.get(uid)
        if sel is None:
            sel = self._by_uid[uid] = selectors.from_label_selector_object(
                (owner.get("spec") or {}).get("selector"))
        return sel

    def selects(self, owner: Obj, pod: Obj) -> bool:
        """Whether the owner's selector picks the pod; an empty selector picks none."""
        sel = self.get(owner)
        return not sel.empty and sel.matches(pod["metadata"].get("labels"))

    def forget(self, owner: Obj) -> None:
        self._by_uid.pop(owner["metadata"].get("uid", ""), None)


def owners_of_pod_event(kind: str, etype: str, pod: Obj, old: Obj | None,
                        owners: Iterable[Obj],
                        selects: Callable[[Obj, Obj], bool]) -> set[tuple[str, str]]:
    """The keys of the owners of `kind` a pod event concerns: the controller named by the
    pod's (or its old version's) ownerReference, or, for an orphan, every owner in its
    namespace whose selector matches it, as a candidate to adopt it."""
    ns = pod["metadata"].get("namespace", "")
    keys: set[tuple[str, str]] = set()
    for p in (pod, old):
        if p is None:
            continue
        ref = controller_of(p)
        if ref is not None:
            if ref.get("kind") == kind:
                keys.add((ns, ref["name"]))
        elif etype != "DELETED":
            keys.update(key_of(o) for o in owners
                        if o["metadata"].get("namespace") == ns and selects(o, p))
    return keys
