"""Validation of objects as the apiserver does it, with its paths and words.

kubectl prints a 422's message verbatim (`The Service "bad" is invalid:
spec.ports: Required value`), so every cause here carries upstream's field
path and wording; scripts and people grep for them. All causes are gathered
before raising, because the apiserver reports them all at once.

Validation runs on the defaulted object (as upstream validates after
defaulting), so a missing field that has a default is never reported. Values
inside messages are rendered as Go's `%#v` prints them in v1.32
(`map[string]string{"run":"y"}`), since that is what the apiserver shows.

This package is split as upstream's checks are: `formats` (the string rules
for names, labels, ports and keys), `common` (metadata, label selectors, ports
and the cause builders every kind uses), then one module per family of kinds
(`pods`, `workloads`, `services`, `config`). This module holds the entry point
and the table of kinds, and re-exports the helpers callers and tests use.
Pure functions only.

No `from __future__ import annotations` here or in `common`: the `annotations`
check is re-exported by that name.
"""
from collections.abc import Callable
from typing import Any

from emunet import errors, resources

from . import common, config, formats, pods, services, workloads
from .common import (
    Causes,
    Obj,
    annotations,
    go_selector,
    go_value,
    label_selector,
    labels,
    metadata,
    selector_matches,
)
from .formats import (
    config_key,
    dns1035_label,
    dns1123_label,
    dns1123_subdomain,
    label_value,
    port_name,
    port_number,
    qualified_name,
)
from .pods import pod_spec

__all__ = [
    "Causes", "Obj", "annotations", "check", "config_key", "dns1035_label", "dns1123_label",
    "dns1123_subdomain", "go_selector", "go_value", "kind_display", "label_selector",
    "label_value", "labels", "metadata", "pod_spec", "port_name", "port_number",
    "qualified_name", "selector_matches", "validate",
]


def kind_display(kind: str, group: str = "") -> str:
    """The qualified kind upstream prints: `Service`, `Deployment.apps`."""
    if not group:
        for r in resources.RESOURCES:
            if r.kind == kind:
                group = r.group
                break
    return f"{kind}.{group}" if group else kind


def validate(kind: str, obj: Obj, old: Obj | None = None, group: str = "") -> None:
    """Raise `errors.Invalid` listing every problem with `obj` (an update if `old`)."""
    causes = check(kind, obj, old)
    if causes:
        name = (obj.get("metadata") or {}).get("name") or ""
        display = kind_display(kind, group)
        raise errors.Invalid(display, name, causes, display.partition(".")[2])


def check(kind: str, obj: Obj, old: Obj | None = None) -> Causes:
    """Every cause `validate` would raise, in upstream's order; [] when valid."""
    name_check, spec_check, update_check = _KINDS.get(kind, (dns1123_subdomain, None, None))
    updates = update_check(obj, old) if old is not None and update_check else []
    # apps' strategies check immutability after the spec; core's before it.
    causes: Causes = [] if kind in _APPS else list(updates)
    causes += common.metadata(obj.get("metadata") or {}, name_check)
    if spec_check is not None:
        causes += spec_check(obj)
    return causes + updates if kind in _APPS else causes


# Per kind: the name rule, the object's own checks, the update-only checks.
_KINDS: dict[str, tuple[Callable[[str], list[str]], Any, Any]] = {
    "Pod": (formats.dns1123_subdomain, pods.pod, pods.pod_update),
    "Service": (formats.dns1035_label, services.service, services.service_update),
    "Deployment": (formats.dns1123_subdomain, workloads.deployment, workloads.selector_update),
    "ReplicaSet": (formats.dns1123_subdomain, workloads.replicaset, workloads.selector_update),
    "Job": (formats.dns1123_subdomain, workloads.job, workloads.job_update),
    "DaemonSet": (formats.dns1123_subdomain, workloads.daemonset, workloads.selector_update),
    "StatefulSet": (formats.dns1123_subdomain, workloads.statefulset,
                    workloads.statefulset_update),
    "Secret": (formats.dns1123_subdomain, config.secret, config.frozen(("type", "data"))),
    "ConfigMap": (formats.dns1123_subdomain, config.configmap,
                  config.frozen(("data", "binaryData"))),
    "Namespace": (formats.dns1123_label, None, None),
    "Node": (formats.dns1123_subdomain, None, None),
    "Endpoints": (formats.dns1123_subdomain, services.endpoints, None),
    "EndpointSlice": (formats.dns1123_subdomain, services.endpointslice, None),
}
_APPS = ("Deployment", "ReplicaSet", "DaemonSet", "StatefulSet")
