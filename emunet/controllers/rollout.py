"""Pure arithmetic of Deployment rollouts, kept apart from the controller's I/O.

The pod-template hash, maxSurge/maxUnavailable resolution, how far a new
ReplicaSet may grow and old ones shrink, revisions and conditions follow
Kubernetes' `pkg/controller/deployment/util` so that `kubectl rollout` sees the
same objects it sees on a real cluster. Everything here is a function of plain
dicts and ints, tested as tables.

The hash: upstream feeds the Go struct, printed by a reflection dumper, to
FNV-32a; we feed the template's canonical JSON (sorted keys) instead, since a
Python process has no Go struct to print. The encoding is upstream's: the
uint32 as decimal text, each byte mapped into the "safe" alphabet, so names
look alike (`my-nginx-5b56ccd65f`) and are stable for a given template.
"""
from __future__ import annotations

import copy
import json
import math
from typing import Any

Obj = dict[str, Any]

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
# Annotations a Deployment keeps to itself rather than copying to its ReplicaSets.
_NOT_COPIED = {"kubectl.kubernetes.io/last-applied-configuration", REVISION,
               REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS,
               "deprecated.deployment.rollback.to"}

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """`rand.SafeEncodeString`: map each byte into an alphabet without vowels."""
    return "".join(SAFE_ALPHABET[b % len(SAFE_ALPHABET)] for b in text.encode())


def template_hash(template: Obj, collision_count: int | None = None) -> str:
    canonical = json.dumps(template or {}, sort_keys=True, separators=(",", ":"))
    data = canonical.encode()
    if collision_count:
        # Upstream writes the count into the same hasher to step past a collision.
        data += str(collision_count).encode()
    return safe_encode(str(fnv32a(data)))


def strip_hash(template: Obj) -> Obj:
    t = copy.deepcopy(template or {})
    labels = t.get("metadata", {}).get("labels")
    if labels is not None:
        labels.pop(HASH_LABEL, None)
    return t


def equal_ignore_hash(a: Obj, b: Obj) -> bool:
    """`EqualIgnoreHash`: templates equal but for the pod-template-hash label."""
    def norm(t: Obj) -> Obj:
        t = strip_hash(t)
        meta = t.get("metadata") or {}
        for k in [k for k, v in meta.items() if v in ({}, None, [])]:
            del meta[k]
        t["metadata"] = meta
        return t
    return norm(a) == norm(b)


# ---- surge and unavailability ---------------------------------------------

def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """`intstr.GetScaledValueFromIntOrPercent`."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.endswith("%"):
        pct = int(text[:-1])
        exact = pct * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(text)


def resolve_fenceposts(max_surge: Any, max_unavailable: Any, desired: int) -> tuple[int, int]:
    """Surge rounds up, unavailable rounds down; both zero would deadlock, so unavailable=1."""
    surge = scaled_value(max_surge, desired, True)
    unavailable = scaled_value(max_unavailable, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _rolling(deploy: Obj) -> Obj | None:
    strategy = deploy.get("spec", {}).get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return None
    return strategy.get("rollingUpdate") or {"maxSurge": "25%", "maxUnavailable": "25%"}


def replicas_of(obj: Obj) -> int:
    r = obj.get("spec", {}).get("replicas")
    return 1 if r is None else int(r)


def max_unavailable(deploy: Obj) -> int:
    rolling = _rolling(deploy)
    desired = replicas_of(deploy)
    if rolling is None or desired == 0:
        return 0
    _, unavailable = resolve_fenceposts(rolling.get("maxSurge"), rolling.get("maxUnavailable"),
                                        desired)
    return min(unavailable, desired)


def max_surge(deploy: Obj) -> int:
    rolling = _rolling(deploy)
    if rolling is None:
        return 0
    surge, _ = resolve_fenceposts(rolling.get("maxSurge"), rolling.get("maxUnavailable"),
                                  replicas_of(deploy))
    return surge


def new_rs_new_replicas(deploy: Obj, all_spec_replicas: int, new_rs_replicas: int) -> int:
    """How many replicas the new ReplicaSet may have now (`NewRSNewReplicas`)."""
    desired = replicas_of(deploy)
    if _rolling(deploy) is None:
        return desired
    max_total = desired + max_surge(deploy)
    if all_spec_replicas >= max_total:
        return new_rs_replicas
    scale_up = min(max_total - all_spec_replicas, desired - new_rs_replicas)
    return new_rs_replicas + max(scale_up, 0)


def old_scale_down_budget(deploy: Obj, all_spec_replicas: int, new_rs_spec: int,
                          new_rs_available: int) -> int:
    """`maxScaledDown` in reconcileOldReplicaSets: how many old pods may go at most."""
    min_available = replicas_of(deploy) - max_unavailable(deploy)
    new_unavailable = new_rs_spec - new_rs_available
    return all_spec_replicas - min_available - new_unavailable


def cleanup_unhealthy(olds: list[tuple[int, int]], budget: int) -> list[int]:
    """Scale unavailable old replicas away first; olds are (spec, available), oldest first."""
    out, used = [], 0
    for spec, available in olds:
        if spec == 0 or spec == available or used >= budget:
            out.append(spec)
            continue
        down = min(budget - used, spec - available)
        used += down
        out.append(spec - down)
    return out


def scale_down_old(deploy: Obj, olds: list[int], available_total: int) -> list[int]:
    """`scaleDownOldReplicaSetsForRollingUpdate`: keep minAvailable, oldest RS first."""
    min_available = replicas_of(deploy) - max_unavailable(deploy)
    if available_total <= min_available:
        return list(olds)
    budget = available_total - min_available
    out, used = [], 0
    for spec in olds:
        if spec == 0 or used >= budget:
            out.append(spec)
            continue
        down = min(spec, budget - used)
        used += down
        out.append(spec - down)
    return out


# ---- revisions and annotations ---------------------------------------------

def revision(obj: Obj) -> int:
    try:
        return int((obj.get("metadata", {}).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def copied_annotations(deploy: Obj) -> Obj:
    """Deployment annotations a ReplicaSet carries (change-cause included, for history)."""
    return {k: v for k, v in (deploy.get("metadata", {}).get("annotations") or {}).items()
            if k not in _NOT_COPIED}


def replica_annotations(deploy: Obj) -> Obj:
    return {DESIRED_REPLICAS: str(replicas_of(deploy)),
            MAX_REPLICAS: str(replicas_of(deploy) + max_surge(deploy))}


# ---- conditions --------------------------------------------------------------

def set_condition(conditions: list[Obj], cond: Obj, now: str) -> list[Obj]:
    """Replace the condition of cond's type, keeping lastTransitionTime if status is unchanged."""
    out = [c for c in conditions if c.get("type") != cond["type"]]
    prev = next((c for c in conditions if c.get("type") == cond["type"]), None)
    cond = dict(cond)
    if prev is not None and prev.get("status") == cond["status"]:
        cond["lastTransitionTime"] = prev.get("lastTransitionTime", now)
        if prev.get("reason") == cond.get("reason") and prev.get("message") == cond.get("message"):
            cond["lastUpdateTime"] = prev.get("lastUpdateTime", now)
        else:
            cond["lastUpdateTime"] = now
    else:
        cond["lastTransitionTime"] = now
        cond["lastUpdateTime"] = now
    out.append(cond)
    order = {"Available": 0, "Progressing": 1, "ReplicaFailure": 2}
    return sorted(out, key=lambda c: order.get(c.get("type", ""), 9))


def available_condition(deploy: Obj, available: int) -> Obj:
    if available >= replicas_of(deploy) - max_unavailable(deploy):
        return {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                "message": "Deployment has minimum availability."}
    return {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
            "message": "Deployment does not have minimum availability."}


def is_complete(deploy: Obj, status: Obj) -> bool:
    """`DeploymentComplete`: all replicas updated and available, no old ones left."""
    desired = replicas_of(deploy)
    return (status.get("updatedReplicas", 0) == desired
            and status.get("replicas", 0) == desired
            and status.get("availableReplicas", 0) == desired
            and status.get("observedGeneration", 0) >= deploy["metadata"].get("generation", 1))
