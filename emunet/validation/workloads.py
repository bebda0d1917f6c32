"""Deployments, ReplicaSets and Jobs: selector, template and strategy, as apps and
batch check them.

Apps validation differs from core's in ways kubectl users see: an invalid
selector stops the check before the template is compared with it, an empty
selector is an error, and the template may only restart `Always`. The selector
is immutable once set.
"""
from __future__ import annotations

from typing import Any

from emunet import errors

from . import common, pods

Obj = dict[str, Any]
Causes = list[errors.Cause]


def _template(owner: Obj, path: str, kind: str = "deployment",
              claims: tuple[str, ...] = ()) -> Causes:
    """A Deployment's, ReplicaSet's or DaemonSet's selector and template, as apps
    validates them."""
    spec = owner.get("spec") or {}
    causes = common.nonnegative(f"{path}.replicas", spec.get("replicas"))
    selector = spec.get("selector")
    empty = not selector or not (selector.get("matchLabels") or selector.get("matchExpressions"))
    if selector is None:
        causes.append(errors.required(f"{path}.selector"))
    else:
        syntax = common.label_selector(selector, f"{path}.selector")
        causes += syntax
        shown = common.go_selector(selector)
        if empty:
            causes.append(common.invalid_raw(f"{path}.selector", shown,
                                             f"empty selector is invalid for {kind}"))
        if syntax:
            # Upstream cannot build the selector, so it never looks at the template.
            return causes + [common.invalid_raw(f"{path}.selector", shown,
                                                "invalid label selector")]
    template = spec.get("template") or {}
    meta = template.get("metadata") or {}
    at = f"{path}.template"
    # A missing selector selects nothing, so upstream reports the template too;
    # an empty one selects everything and skips the comparison.
    if (selector is None or not empty) and \
            (selector is None or not common.selector_matches(selector, meta.get("labels"))):
        causes.append(common.invalid_raw(f"{at}.metadata.labels",
                                         common.go_value(meta.get("labels") or {}),
                                         "`selector` does not match template `labels`"))
    causes += common.labels(meta.get("labels"), f"{at}.metadata.labels")
    causes += common.annotations(meta.get("annotations"), f"{at}.metadata.annotations")
    tspec = template.get("spec") or {}
    causes += pods.pod_spec(tspec, f"{at}.spec", claims)
    if tspec.get("restartPolicy") in pods.RESTART_POLICIES and tspec["restartPolicy"] != "Always":
        causes.append(errors.unsupported(f"{at}.spec.restartPolicy", tspec["restartPolicy"],
                                         ["Always"]))
    return causes


def _one_of(path: str, value: Any, allowed: list[str]) -> Causes:
    """A field that must be one of `allowed`: Required when unset, Unsupported otherwise."""
    if value in allowed:
        return []
    return [errors.unsupported(path, value, allowed) if value else errors.required(path)]


def _update_strategy(spec: Obj, partition: bool = False) -> Causes:
    """A DaemonSet's or StatefulSet's updateStrategy (a StatefulSet's has a partition),
    and its counters."""
    strategy = spec.get("updateStrategy") or {}
    causes = _one_of("spec.updateStrategy.type", strategy.get("type"),
                     ["OnDelete", "RollingUpdate"])
    if partition:
        causes += common.nonnegative("spec.updateStrategy.rollingUpdate.partition",
                                     (strategy.get("rollingUpdate") or {}).get("partition"))
    for key in ("minReadySeconds", "revisionHistoryLimit"):
        causes += common.nonnegative(f"spec.{key}", spec.get(key))
    return causes


def deployment(deploy: Obj) -> Causes:
    causes = _template(deploy, "spec")
    spec = deploy.get("spec") or {}
    strategy = spec.get("strategy") or {}
    kind = strategy.get("type")
    causes += _one_of("spec.strategy.type", kind, ["Recreate", "RollingUpdate"])
    if kind == "Recreate" and strategy.get("rollingUpdate") is not None:
        causes.append(errors.forbidden("spec.strategy.rollingUpdate",
                                       "may not be specified when strategy `type` is 'Recreate'"))
    for key in ("minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds"):
        causes += common.nonnegative(f"spec.{key}", spec.get(key))
    return causes


def daemonset(ds: Obj) -> Causes:
    return _template(ds, "spec", "daemonset") + _update_strategy(ds.get("spec") or {})


POD_MANAGEMENT = ["OrderedReady", "Parallel"]
_STS_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy",
                "persistentVolumeClaimRetentionPolicy", "minReadySeconds")


def statefulset(sts: Obj) -> Causes:
    spec = sts.get("spec") or {}
    claims = tuple(((t.get("metadata") or {}).get("name") or "")
                   for t in spec.get("volumeClaimTemplates") or [])
    causes = _template(sts, "spec", "statefulset", claims)
    causes += _one_of("spec.podManagementPolicy", spec.get("podManagementPolicy"),
                      POD_MANAGEMENT)
    return causes + _update_strategy(spec, partition=True)


def statefulset_update(obj: Obj, old: Obj) -> Causes:
    spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
    if any(spec.get(k) != old_spec.get(k) for k in set(spec) | set(old_spec)
           if k not in _STS_MUTABLE):
        return [errors.forbidden("spec", "updates to statefulset spec for fields other than "
                                 "'replicas', 'ordinals', 'template', 'updateStrategy', "
                                 "'persistentVolumeClaimRetentionPolicy' and "
                                 "'minReadySeconds' are forbidden")]
    return []


def replicaset(rs: Obj) -> Causes:
    causes = _template(rs, "spec")
    causes += common.nonnegative("spec.minReadySeconds",
                                 (rs.get("spec") or {}).get("minReadySeconds"))
    return causes


def selector_update(obj: Obj, old: Obj) -> Causes:
    new_sel = (obj.get("spec") or {}).get("selector")
    old_sel = (old.get("spec") or {}).get("selector")
    if new_sel != old_sel:
        shown = "null" if new_sel is None else common.go_selector(new_sel)
        return [common.invalid_raw("spec.selector", shown, "field is immutable")]
    return []


JOB_RESTART_POLICIES = ["OnFailure", "Never"]


def job(obj: Obj) -> Causes:
    spec = obj.get("spec") or {}
    causes: Causes = []
    for key in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit",
                "ttlSecondsAfterFinished"):
        causes += common.nonnegative(f"spec.{key}", spec.get(key))
    selector = spec.get("selector")
    template = spec.get("template") or {}
    meta = template.get("metadata") or {}
    if selector is None:
        causes.append(errors.required("spec.selector"))
    else:
        causes += common.label_selector(selector, "spec.selector")
        if not common.selector_matches(selector, meta.get("labels")):
            causes.append(common.invalid_raw("spec.template.metadata.labels",
                                             common.go_value(meta.get("labels") or {}),
                                             "`selector` does not match template `labels`"))
    causes += common.labels(meta.get("labels"), "spec.template.metadata.labels")
    tspec = template.get("spec") or {}
    causes += pods.pod_spec(tspec, "spec.template.spec")
    policy = tspec.get("restartPolicy")
    # The template's restartPolicy is defaulted to Always before this, so upstream
    # words Always as a missing value.
    if policy in ("Always", "", None):
        causes.append(common.required("spec.template.spec.restartPolicy",
                                      'valid values: "OnFailure", "Never"'))
    elif policy in pods.RESTART_POLICIES and policy not in JOB_RESTART_POLICIES:
        causes.append(errors.unsupported("spec.template.spec.restartPolicy", policy,
                                         JOB_RESTART_POLICIES))
    if spec.get("completionMode", "NonIndexed") not in ("NonIndexed", "Indexed"):
        causes.append(errors.unsupported("spec.completionMode", spec["completionMode"],
                                         ["NonIndexed", "Indexed"]))
    return causes


def job_update(obj: Obj, old: Obj) -> Causes:
    """A Job's pod template, selector and completions cannot change once created."""
    causes = selector_update(obj, old)
    spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
    if spec.get("template") != old_spec.get("template"):
        causes.append(common.invalid_raw("spec.template", "core.PodTemplateSpec{...}",
                                         "field is immutable"))
    if spec.get("completions") != old_spec.get("completions"):
        causes.append(common.invalid_raw("spec.completions",
                                         common.go_value(spec.get("completions")),
                                         "field is immutable"))
    return causes
