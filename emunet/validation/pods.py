"""Pod specs, as the apiserver validates Pods and the templates that make them.

`pod_spec` is shared with Deployments and ReplicaSets, whose templates are
checked at their own path (`spec.template.spec...`). A Pod's update may change
only a few fields (images, deadline, added tolerations), so `pod_update`
blanks those out and compares what is left, as upstream does.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from emunet import errors

from . import common, formats

Obj = dict[str, Any]
Causes = list[errors.Cause]

RESTART_POLICIES = ["Always", "OnFailure", "Never"]
_DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
_PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
_VOLUME_TYPES = ("emptyDir", "secret", "configMap", "hostPath", "downwardAPI", "projected",
                 "persistentVolumeClaim", "nfs", "csi", "ephemeral", "image")


def _volumes(volumes: list[Obj], path: str) -> tuple[Causes, set[str]]:
    causes: Causes = []
    names: set[str] = set()
    for i, vol in enumerate(volumes):
        at = f"{path}[{i}]"
        sources = [k for k in _VOLUME_TYPES if vol.get(k) is not None]
        if not sources:
            causes.append(common.required(at, "must specify a volume type"))
        for extra in sources[1:]:
            causes.append(errors.forbidden(f"{at}.{extra}",
                                           "may not specify more than 1 volume type"))
        for source, ref in (("secret", "secretName"), ("configMap", "name")):
            body = vol.get(source)
            if isinstance(body, dict):
                if not body.get(ref):
                    causes.append(errors.required(f"{at}.{source}.{ref}"))
                mode = body.get("defaultMode")
                if isinstance(mode, int) and not 0 <= mode <= 0o777:
                    causes.append(errors.invalid_value(
                        f"{at}.{source}.defaultMode", mode,
                        "must be a number between 0 and 0777 (octal), both inclusive"))
        name = vol.get("name") or ""
        if not name:
            causes.append(errors.required(f"{at}.name"))
        else:
            causes += common.each(f"{at}.name", name, formats.dns1123_label(name))
        if name in names:
            causes.append(errors.duplicate(f"{at}.name", name))
        names.add(name)
    return causes, names


def _handler(h: Obj, path: str, kinds: tuple[str, ...]) -> Causes:
    """One action of a probe or a lifecycle hook: exactly one kind, each well formed."""
    causes: Causes = []
    handlers = [k for k in kinds if h.get(k) is not None]
    if not handlers:
        causes.append(common.required(path, "must specify a handler type"))
    for extra in handlers[1:]:
        causes.append(errors.forbidden(f"{path}.{extra}",
                                       "may not specify more than 1 handler type"))
    if h.get("exec") is not None and not h["exec"].get("command"):
        causes.append(errors.required(f"{path}.exec.command"))
    for handler in ("httpGet", "tcpSocket"):
        if h.get(handler) is not None:
            causes += common.port_num_or_name(f"{path}.{handler}.port",
                                              h[handler].get("port", 0))
    if h.get("httpGet") is not None and h["httpGet"].get("scheme") not in ("HTTP", "HTTPS"):
        causes.append(errors.unsupported(f"{path}.httpGet.scheme", h["httpGet"].get("scheme"),
                                         ["HTTP", "HTTPS"]))
    return causes


def _lifecycle(c: Obj, path: str, grace: Any, init: bool) -> Causes:
    lifecycle = c.get("lifecycle")
    if not lifecycle:
        return []
    if init and c.get("restartPolicy") != "Always":
        return [errors.forbidden(f"{path}.lifecycle", "may not be set for init containers "
                                 "without restartPolicy=Always")]
    causes: Causes = []
    for hook in ("postStart", "preStop"):
        h = lifecycle.get(hook)
        if h is None:
            continue
        at = f"{path}.lifecycle.{hook}"
        causes += _handler(h, at, ("exec", "httpGet", "tcpSocket", "sleep"))
        sleep = h.get("sleep")
        if sleep is not None and isinstance(grace, int):
            seconds = sleep.get("seconds", 0)
            if not isinstance(seconds, int) or seconds <= 0 or seconds > grace:
                causes.append(errors.invalid_value(
                    f"{at}.sleep", seconds, "must be greater than 0 and less than "
                    f"terminationGracePeriodSeconds ({grace})"))
    return causes


def _probe(probe: Obj | None, path: str, liveness_like: bool) -> Causes:
    if not probe:
        return []
    causes = _handler(probe, path, ("exec", "httpGet", "tcpSocket", "grpc"))
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
                "failureThreshold"):
        causes += common.nonnegative(f"{path}.{key}", probe.get(key))
    if liveness_like and probe.get("successThreshold", 1) != 1:
        causes.append(errors.invalid_value(f"{path}.successThreshold",
                                           probe["successThreshold"], "must be 1"))
    return causes


def _container(c: Obj, path: str, volumes: set[str], names: set[str], grace: Any = 30,
               init: bool = False) -> Causes:
    causes: Causes = []
    name = c.get("name") or ""
    if not name:
        causes.append(errors.required(f"{path}.name"))
    else:
        causes += common.each(f"{path}.name", name, formats.dns1123_label(name))
        if name in names:
            causes.append(errors.duplicate(f"{path}.name", name))
        names.add(name)
    if not c.get("image"):
        causes.append(errors.required(f"{path}.image"))
    causes += _probe(c.get("livenessProbe"), f"{path}.livenessProbe", True)
    causes += _probe(c.get("readinessProbe"), f"{path}.readinessProbe", False)
    causes += _probe(c.get("startupProbe"), f"{path}.startupProbe", True)
    causes += _lifecycle(c, path, grace, init)
    port_names: set[str] = set()
    for i, port in enumerate(c.get("ports") or []):
        at = f"{path}.ports[{i}]"
        if port.get("name"):
            causes += common.each(f"{at}.name", port["name"], formats.port_name(port["name"]))
            if port["name"] in port_names:
                causes.append(errors.duplicate(f"{at}.name", port["name"]))
            port_names.add(port["name"])
        if not port.get("containerPort"):
            causes.append(errors.required(f"{at}.containerPort"))
        else:
            causes += common.each(f"{at}.containerPort", port["containerPort"],
                                  formats.port_number(port["containerPort"]))
        if port.get("hostPort"):
            causes += common.each(f"{at}.hostPort", port["hostPort"],
                                  formats.port_number(port["hostPort"]))
        causes += common.protocol(f"{at}.protocol", port.get("protocol"))
    for i, env in enumerate(c.get("env") or []):
        if not env.get("name"):
            causes.append(errors.required(f"{path}.env[{i}].name"))
    mount_paths: set[str] = set()
    for i, mount in enumerate(c.get("volumeMounts") or []):
        at = f"{path}.volumeMounts[{i}]"
        mount_name = mount.get("name") or ""
        if not mount_name:
            causes.append(errors.required(f"{at}.name"))
        if mount_name not in volumes:
            causes.append(common.not_found(f"{at}.name", mount_name))
        mount_path = mount.get("mountPath") or ""
        if not mount_path:
            causes.append(errors.required(f"{at}.mountPath"))
        if mount_path in mount_paths:
            causes.append(errors.invalid_value(f"{at}.mountPath", mount_path, "must be unique"))
        mount_paths.add(mount_path)
    policy = c.get("imagePullPolicy")
    if policy not in _PULL_POLICIES:
        causes.append(errors.required(f"{path}.imagePullPolicy") if not policy else
                      errors.unsupported(f"{path}.imagePullPolicy", policy, _PULL_POLICIES))
    return causes


def _tolerations(tolerations: list[Obj], path: str) -> Causes:
    causes: Causes = []
    for i, t in enumerate(tolerations):
        at = f"{path}[{i}]"
        key, op, effect = t.get("key", ""), t.get("operator", ""), t.get("effect", "")
        if key:
            causes += common.each(f"{at}.key", key, formats.qualified_name(key))
        elif op != "Exists":
            causes.append(errors.invalid_value(
                f"{at}.operator", op, "operator must be Exists when `key` is empty, which "
                                      'means "match all values and all keys"'))
        if t.get("tolerationSeconds") is not None and effect != "NoExecute":
            causes.append(errors.invalid_value(
                f"{at}.effect", effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        if op in ("", "Equal"):
            value = t.get("value", "")
            causes += common.each(f"{at}.value", value, formats.label_value(value))
        elif op == "Exists":
            if t.get("value"):
                causes.append(errors.invalid_value(
                    f"{at}.operator", op, "value must be empty when `operator` is 'Exists'"))
        else:
            causes.append(errors.unsupported(f"{at}.operator", op, ["Equal", "Exists"]))
        if effect and effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            causes.append(errors.unsupported(f"{at}.effect", effect,
                                             ["NoSchedule", "PreferNoSchedule", "NoExecute"]))
    return causes


def pod_spec(spec: Obj, path: str = "spec", claims: Iterable[str] = ()) -> Causes:
    """`claims`: volume names a StatefulSet's volumeClaimTemplates will add."""
    causes, volumes = _volumes(spec.get("volumes") or [], f"{path}.volumes")
    volumes |= set(claims)
    containers = spec.get("containers") or []
    if not containers:
        causes.append(errors.required(f"{path}.containers"))
    names: set[str] = set()
    grace = spec.get("terminationGracePeriodSeconds", 30)
    for i, c in enumerate(containers):
        causes += _container(c, f"{path}.containers[{i}]", volumes, names, grace)
    for i, c in enumerate(spec.get("initContainers") or []):
        causes += _container(c, f"{path}.initContainers[{i}]", volumes, names, grace, True)
    policy = spec.get("restartPolicy") or ""
    if not policy:
        causes.append(errors.required(f"{path}.restartPolicy"))
    elif policy not in RESTART_POLICIES:
        causes.append(errors.unsupported(f"{path}.restartPolicy", policy, RESTART_POLICIES))
    dns = spec.get("dnsPolicy") or ""
    if not dns:
        causes.append(errors.required(f"{path}.dnsPolicy"))
    elif dns not in _DNS_POLICIES:
        causes.append(errors.unsupported(f"{path}.dnsPolicy", dns, _DNS_POLICIES))
    causes += common.labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    causes += common.nonnegative(f"{path}.activeDeadlineSeconds",
                                 spec.get("activeDeadlineSeconds"))
    causes += _tolerations(spec.get("tolerations") or [], f"{path}.tolerations")
    return causes


def pod(obj: Obj) -> Causes:
    return pod_spec(obj.get("spec") or {}, "spec")


_POD_UPDATE_MSG = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)")


def pod_update(obj: Obj, old: Obj) -> Causes:
    new_spec, old_spec = dict(obj.get("spec") or {}), old.get("spec") or {}
    # Blank out what may change, then the rest must be equal.
    for key in ("containers", "initContainers"):
        olds = old_spec.get(key) or []
        news = [dict(c) for c in new_spec.get(key) or []]
        for c, o in zip(news, olds):
            c["image"] = o.get("image")
        if key in new_spec:
            new_spec[key] = news
    if "activeDeadlineSeconds" in old_spec:
        new_spec["activeDeadlineSeconds"] = old_spec["activeDeadlineSeconds"]
    else:
        new_spec.pop("activeDeadlineSeconds", None)
    old_tolerations = old_spec.get("tolerations") or []
    if all(t in (new_spec.get("tolerations") or []) for t in old_tolerations):
        new_spec["tolerations"] = old_spec.get("tolerations")
        if "tolerations" not in old_spec:
            new_spec.pop("tolerations")
    grace = old_spec.get("terminationGracePeriodSeconds")
    if isinstance(grace, int) and grace < 0 and new_spec.get("terminationGracePeriodSeconds") == 1:
        new_spec["terminationGracePeriodSeconds"] = grace
    if new_spec != old_spec:
        return [errors.forbidden("spec", _POD_UPDATE_MSG)]
    return []
