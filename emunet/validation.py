"""Validation of objects as the apiserver does it, with its paths and words.

kubectl prints a 422's message verbatim (`The Service "bad" is invalid:
spec.ports: Required value`), so every cause here carries upstream's field
path and wording; scripts and people grep for them. All causes are gathered
before raising, because the apiserver reports them all at once.

Validation runs on the defaulted object (as upstream validates after
defaulting), so a missing field that has a default is never reported. Values
inside messages are rendered as Go's `%#v` prints them in v1.32
(`map[string]string{"run":"y"}`), since that is what the apiserver shows.

Pure functions only; the label-selector check here is a syntax check of its
own, kept apart from the selector engine on purpose.
"""
from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from typing import Any

from emunet import errors, resources

Obj = dict[str, Any]
Causes = list[errors.Cause]

# --- names and their messages --------------------------------------------

_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + r"(\." + _DNS1123_LABEL + ")*"
_DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = "(" + _QUALIFIED_NAME + ")?"
_CONFIG_KEY = "[-._a-zA-Z0-9]+"
_QUALIFIED_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start "
                  "and end with an alphanumeric character")


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


def _full(regex: str, value: str) -> bool:
    return re.fullmatch(regex, value) is not None


def dns1123_label(value: str) -> list[str]:
    msgs = [_max_len(63)] if len(value) > 63 else []
    if not _full(_DNS1123_LABEL, value):
        msgs.append(_regex_error(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
            "or '-', and must start and end with an alphanumeric character",
            _DNS1123_LABEL, "my-name", "123-abc"))
    return msgs


def dns1123_subdomain(value: str) -> list[str]:
    msgs = [_max_len(253)] if len(value) > 253 else []
    if not _full(_DNS1123_SUBDOMAIN, value):
        msgs.append(_regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
            "'-' or '.', and must start and end with an alphanumeric character",
            _DNS1123_SUBDOMAIN, "example.com"))
    return msgs


def dns1035_label(value: str) -> list[str]:
    msgs = [_max_len(63)] if len(value) > 63 else []
    if not _full(_DNS1035_LABEL, value):
        msgs.append(_regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
            "with an alphabetic character, and end with an alphanumeric character",
            _DNS1035_LABEL, "my-name", "abc-123"))
    return msgs


def qualified_name(value: str) -> list[str]:
    """A label or annotation key: an optional DNS subdomain prefix and '/', then a name."""
    parts = value.split("/")
    msgs: list[str] = []
    if len(parts) > 2:
        return [_regex_error("a qualified name " + _QUALIFIED_MSG, _QUALIFIED_NAME,
                             "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    name = parts[-1]
    if len(parts) == 2:
        if not parts[0]:
            msgs.append("prefix part must be non-empty")
        else:
            msgs += ["prefix part " + m for m in dns1123_subdomain(parts[0])]
    if not name:
        msgs.append("name part must be non-empty")
    elif len(name) > 63:
        msgs.append("name part " + _max_len(63))
    if not _full(_QUALIFIED_NAME, name):
        msgs.append("name part " + _regex_error(_QUALIFIED_MSG, _QUALIFIED_NAME,
                                                "MyName", "my.name", "123-abc"))
    return msgs


def label_value(value: str) -> list[str]:
    msgs = [_max_len(63)] if len(value) > 63 else []
    if not _full(_LABEL_VALUE, value):
        msgs.append(_regex_error(
            "a valid label must be an empty string or consist of alphanumeric characters, "
            "'-', '_' or '.', and must start and end with an alphanumeric character",
            _LABEL_VALUE, "MyValue", "my_value", "12345"))
    return msgs


def port_name(value: str) -> list[str]:
    """An IANA_SVC_NAME, as a named targetPort or containerPort name must be."""
    msgs = [_max_len(15)] if len(value) > 15 else []
    if not _full("[-a-z0-9]+", value):
        msgs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", value):
        msgs.append("must contain at least one letter (a-z)")
    if "--" in value:
        msgs.append("must not contain consecutive hyphens")
    if value and (value[0] == "-" or value[-1] == "-"):
        msgs.append("must not begin or end with a hyphen")
    return msgs


def port_number(value: Any) -> list[str]:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return []
    return ["must be between 1 and 65535, inclusive"]


def config_key(value: str) -> list[str]:
    msgs = [_max_len(253)] if len(value) > 253 else []
    if not _full(_CONFIG_KEY, value):
        msgs.append(_regex_error("a valid config key must consist of alphanumeric characters, "
                                 "'-', '_' or '.'", _CONFIG_KEY, "key.name", "KEY_NAME",
                                 "key-name"))
    if value == ".":
        msgs.append("must not be '.'")
    elif value == "..":
        msgs.append("must not be '..'")
    elif value.startswith(".."):
        msgs.append("must not start with '..'")
    return msgs


# --- Go renderings and causes upstream words differently ------------------

def go_value(value: Any) -> str:
    """A value as Go's `%#v` shows it in an apiserver message."""
    if isinstance(value, dict):
        items = ", ".join(f"{go_value(str(k))}:{go_value(value[k])}" for k in sorted(value))
        return f"map[string]string{{{items}}}"
    if isinstance(value, list):
        return "[]string{" + ", ".join(go_value(v) for v in value) + "}"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def go_selector(selector: Obj) -> str:
    """A LabelSelector as `%#v` prints it (the value of selector causes)."""
    labels = selector.get("matchLabels")
    shown_labels = "map[string]string(nil)" if labels is None else go_value(labels)
    exprs = selector.get("matchExpressions")
    if exprs is None:
        shown_exprs = "[]v1.LabelSelectorRequirement(nil)"
    else:
        shown_exprs = "[]v1.LabelSelectorRequirement{" + ", ".join(
            f"v1.LabelSelectorRequirement{{Key:{go_value(e.get('key', ''))}, "
            f"Operator:{go_value(e.get('operator', ''))}, Values:"
            + ("[]string(nil)" if e.get("values") is None else go_value(e["values"])) + "}"
            for e in exprs) + "}"
    return f"v1.LabelSelector{{MatchLabels:{shown_labels}, MatchExpressions:{shown_exprs}}}"


def _invalid_raw(path: str, shown: str, detail: str) -> errors.Cause:
    return errors.Cause(path, "FieldValueInvalid", f"Invalid value: {shown}: {detail}")


def _not_found(path: str, value: Any) -> errors.Cause:
    return errors.Cause(path, "FieldValueNotFound", f"Not found: {go_value(value)}")


def _required(path: str, detail: str = "") -> errors.Cause:
    if not detail:
        return errors.required(path)
    return errors.Cause(path, "FieldValueRequired", f"Required value: {detail}")


def _each(path: str, value: Any, msgs: list[str]) -> Causes:
    return [errors.invalid_value(path, value, m) for m in msgs]


def _nonnegative(path: str, value: Any) -> Causes:
    if isinstance(value, int) and value < 0:
        return [errors.invalid_value(path, value, "must be greater than or equal to 0")]
    return []


# --- metadata -------------------------------------------------------------

def labels(values: Any, path: str) -> Causes:
    causes: Causes = []
    for key, value in (values or {}).items():
        causes += _each(path, key, qualified_name(key))
        causes += _each(path, value, label_value(str(value)))
    return causes


def annotations(values: Any, path: str) -> Causes:
    causes: Causes = []
    total = 0
    for key, value in (values or {}).items():
        causes += _each(path, key, qualified_name(key.lower()))
        total += len(key) + len(str(value))
    if total > 256 * 1024:
        causes.append(errors.Cause(path, "FieldValueTooLong",
                                   "Too long: must have at most 262144 bytes"))
    return causes


def metadata(meta: Obj, name_check: Callable[[str], list[str]],
             path: str = "metadata") -> Causes:
    causes: Causes = []
    name, generate = meta.get("name") or "", meta.get("generateName") or ""
    if generate:
        # A prefix may end in '-': upstream checks it as if the dash were a letter.
        masked = generate[:-1] + "a" if generate.endswith("-") else generate
        causes += _each(f"{path}.generateName", generate, name_check(masked))
    if not name:
        if not generate:
            causes.append(_required(f"{path}.name", "name or generateName is required"))
    else:
        causes += _each(f"{path}.name", name, name_check(name))
    causes += labels(meta.get("labels"), f"{path}.labels")
    causes += annotations(meta.get("annotations"), f"{path}.annotations")
    return causes


# --- label selectors ------------------------------------------------------

_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def label_selector(selector: Obj, path: str) -> Causes:
    causes: Causes = []
    for i, expr in enumerate(selector.get("matchExpressions") or []):
        at = f"{path}.matchExpressions[{i}]"
        op, values = expr.get("operator", ""), expr.get("values") or []
        if op in ("In", "NotIn") and not values:
            causes.append(_required(f"{at}.values",
                                    "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist") and values:
            causes.append(errors.forbidden(
                f"{at}.values", "may not be specified when `operator` is 'Exists' or "
                                "'DoesNotExist'"))
        elif op not in _OPERATORS:
            causes.append(errors.invalid_value(f"{at}.operator", op,
                                               "not a valid selector operator"))
        causes += _each(f"{at}.key", expr.get("key", ""), qualified_name(expr.get("key", "")))
    causes += labels(selector.get("matchLabels"), f"{path}.matchLabels")
    return causes


def selector_matches(selector: Obj, target: Obj | None) -> bool:
    target = target or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if target.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in target
        if op == "In" and not (present and target[key] in values):
            return False
        if op == "NotIn" and present and target[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


# --- the entry point ------------------------------------------------------

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
    causes += metadata(obj.get("metadata") or {}, name_check)
    if spec_check is not None:
        causes += spec_check(obj)
    return causes + updates if kind in _APPS else causes


# --- pods and pod templates -----------------------------------------------

_PROTOCOLS = ["SCTP", "TCP", "UDP"]
_RESTART_POLICIES = ["Always", "OnFailure", "Never"]
_DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
_PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
_VOLUME_TYPES = ("emptyDir", "secret", "configMap", "hostPath", "downwardAPI", "projected",
                 "persistentVolumeClaim", "nfs", "csi", "ephemeral", "image")


def _port_num_or_name(path: str, value: Any) -> Causes:
    if isinstance(value, str):
        return _each(path, value, port_name(value))
    return _each(path, value, port_number(value))


def _protocol(path: str, value: Any) -> Causes:
    if not value:
        return [errors.required(path)]
    if value not in _PROTOCOLS:
        return [errors.unsupported(path, value, _PROTOCOLS)]
    return []


def _volumes(volumes: list[Obj], path: str) -> tuple[Causes, set[str]]:
    causes: Causes = []
    names: set[str] = set()
    for i, vol in enumerate(volumes):
        at = f"{path}[{i}]"
        sources = [k for k in _VOLUME_TYPES if vol.get(k) is not None]
        if not sources:
            causes.append(_required(at, "must specify a volume type"))
        for extra in sources[1:]:
            causes.append(errors.forbidden(f"{at}.{extra}", "may not specify more than 1 volume type"))
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
            causes += _each(f"{at}.name", name, dns1123_label(name))
        if name in names:
            causes.append(errors.duplicate(f"{at}.name", name))
        names.add(name)
    return causes, names


def _probe(probe: Obj | None, path: str, liveness_like: bool) -> Causes:
    if not probe:
        return []
    causes: Causes = []
    handlers = [k for k in ("exec", "httpGet", "tcpSocket", "grpc") if probe.get(k) is not None]
    if not handlers:
        causes.append(_required(path, "must specify a handler type"))
    for extra in handlers[1:]:
        causes.append(errors.forbidden(f"{path}.{extra}", "may not specify more than 1 handler type"))
    for handler in ("httpGet", "tcpSocket"):
        if probe.get(handler) is not None:
            causes += _port_num_or_name(f"{path}.{handler}.port", probe[handler].get("port", 0))
    if probe.get("httpGet") is not None and probe["httpGet"].get("scheme") not in ("HTTP", "HTTPS"):
        causes.append(errors.unsupported(f"{path}.httpGet.scheme", probe["httpGet"].get("scheme"),
                                         ["HTTP", "HTTPS"]))
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
                "failureThreshold"):
        causes += _nonnegative(f"{path}.{key}", probe.get(key))
    if liveness_like and probe.get("successThreshold", 1) != 1:
        causes.append(errors.invalid_value(f"{path}.successThreshold",
                                           probe["successThreshold"], "must be 1"))
    return causes


def _container(c: Obj, path: str, volumes: set[str], names: set[str]) -> Causes:
    causes: Causes = []
    name = c.get("name") or ""
    if not name:
        causes.append(errors.required(f"{path}.name"))
    else:
        causes += _each(f"{path}.name", name, dns1123_label(name))
        if name in names:
            causes.append(errors.duplicate(f"{path}.name", name))
        names.add(name)
    if not c.get("image"):
        causes.append(errors.required(f"{path}.image"))
    causes += _probe(c.get("livenessProbe"), f"{path}.livenessProbe", True)
    causes += _probe(c.get("readinessProbe"), f"{path}.readinessProbe", False)
    causes += _probe(c.get("startupProbe"), f"{path}.startupProbe", True)
    port_names: set[str] = set()
    for i, port in enumerate(c.get("ports") or []):
        at = f"{path}.ports[{i}]"
        if port.get("name"):
            causes += _each(f"{at}.name", port["name"], port_name(port["name"]))
            if port["name"] in port_names:
                causes.append(errors.duplicate(f"{at}.name", port["name"]))
            port_names.add(port["name"])
        if not port.get("containerPort"):
            causes.append(errors.required(f"{at}.containerPort"))
        else:
            causes += _each(f"{at}.containerPort", port["containerPort"],
                            port_number(port["containerPort"]))
        if port.get("hostPort"):
            causes += _each(f"{at}.hostPort", port["hostPort"], port_number(port["hostPort"]))
        causes += _protocol(f"{at}.protocol", port.get("protocol"))
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
            causes.append(_not_found(f"{at}.name", mount_name))
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
            causes += _each(f"{at}.key", key, qualified_name(key))
        elif op != "Exists":
            causes.append(errors.invalid_value(
                f"{at}.operator", op, "operator must be Exists when `key` is empty, which "
                                      'means "match all values and all keys"'))
        if t.get("tolerationSeconds") is not None and effect != "NoExecute":
            causes.append(errors.invalid_value(
                f"{at}.effect", effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        if op in ("", "Equal"):
            causes += _each(f"{at}.value", t.get("value", ""), label_value(t.get("value", "")))
        elif op == "Exists":
            if t.get("value"):
                causes.append(errors.invalid_value(f"{at}.operator", op,
                                                   "value must be empty when `operator` is 'Exists'"))
        else:
            causes.append(errors.unsupported(f"{at}.operator", op, ["Equal", "Exists"]))
        if effect and effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            causes.append(errors.unsupported(f"{at}.effect", effect,
                                             ["NoSchedule", "PreferNoSchedule", "NoExecute"]))
    return causes


def pod_spec(spec: Obj, path: str = "spec") -> Causes:
    causes, volumes = _volumes(spec.get("volumes") or [], f"{path}.volumes")
    containers = spec.get("containers") or []
    if not containers:
        causes.append(errors.required(f"{path}.containers"))
    names: set[str] = set()
    for i, c in enumerate(containers):
        causes += _container(c, f"{path}.containers[{i}]", volumes, names)
    for i, c in enumerate(spec.get("initContainers") or []):
        causes += _container(c, f"{path}.initContainers[{i}]", volumes, names)
    policy = spec.get("restartPolicy") or ""
    if not policy:
        causes.append(errors.required(f"{path}.restartPolicy"))
    elif policy not in _RESTART_POLICIES:
        causes.append(errors.unsupported(f"{path}.restartPolicy", policy, _RESTART_POLICIES))
    dns = spec.get("dnsPolicy") or ""
    if not dns:
        causes.append(errors.required(f"{path}.dnsPolicy"))
    elif dns not in _DNS_POLICIES:
        causes.append(errors.unsupported(f"{path}.dnsPolicy", dns, _DNS_POLICIES))
    causes += labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    causes += _nonnegative(f"{path}.activeDeadlineSeconds", spec.get("activeDeadlineSeconds"))
    causes += _tolerations(spec.get("tolerations") or [], f"{path}.tolerations")
    return causes


def _pod(pod: Obj) -> Causes:
    return pod_spec(pod.get("spec") or {}, "spec")


_POD_UPDATE_MSG = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)")


def _pod_update(pod: Obj, old: Obj) -> Causes:
    new_spec, old_spec = dict(pod.get("spec") or {}), old.get("spec") or {}
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


def _template(owner: Obj, path: str) -> Causes:
    """A Deployment's or ReplicaSet's selector and template, as apps validates them."""
    spec = owner.get("spec") or {}
    causes = _nonnegative(f"{path}.replicas", spec.get("replicas"))
    selector = spec.get("selector")
    empty = not selector or not (selector.get("matchLabels") or selector.get("matchExpressions"))
    if selector is None:
        causes.append(errors.required(f"{path}.selector"))
    else:
        syntax = label_selector(selector, f"{path}.selector")
        causes += syntax
        if empty:
            causes.append(_invalid_raw(f"{path}.selector", go_selector(selector),
                                       "empty selector is invalid for deployment"))
        if syntax:
            # Upstream cannot build the selector, so it never looks at the template.
            return causes + [_invalid_raw(f"{path}.selector", go_selector(selector),
                                          "invalid label selector")]
    template = spec.get("template") or {}
    meta = template.get("metadata") or {}
    at = f"{path}.template"
    # A missing selector selects nothing, so upstream reports the template too;
    # an empty one selects everything and skips the comparison.
    if (selector is None or not empty) and \
            (selector is None or not selector_matches(selector, meta.get("labels"))):
        causes.append(_invalid_raw(f"{at}.metadata.labels", go_value(meta.get("labels") or {}),
                                   "`selector` does not match template `labels`"))
    causes += labels(meta.get("labels"), f"{at}.metadata.labels")
    causes += annotations(meta.get("annotations"), f"{at}.metadata.annotations")
    tspec = template.get("spec") or {}
    causes += pod_spec(tspec, f"{at}.spec")
    if tspec.get("restartPolicy") in _RESTART_POLICIES and tspec["restartPolicy"] != "Always":
        causes.append(errors.unsupported(f"{at}.spec.restartPolicy", tspec["restartPolicy"],
                                         ["Always"]))
    return causes


def _deployment(deploy: Obj) -> Causes:
    causes = _template(deploy, "spec")
    spec = deploy.get("spec") or {}
    strategy = spec.get("strategy") or {}
    kind = strategy.get("type")
    if kind not in ("Recreate", "RollingUpdate"):
        causes.append(errors.unsupported("spec.strategy.type", kind, ["Recreate", "RollingUpdate"])
                      if kind else errors.required("spec.strategy.type"))
    if kind == "Recreate" and strategy.get("rollingUpdate") is not None:
        causes.append(errors.forbidden("spec.strategy.rollingUpdate",
                                       "may not be specified when strategy `type` is 'Recreate'"))
    for key in ("minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds"):
        causes += _nonnegative(f"spec.{key}", spec.get(key))
    return causes


def _replicaset(rs: Obj) -> Causes:
    causes = _template(rs, "spec")
    causes += _nonnegative("spec.minReadySeconds", (rs.get("spec") or {}).get("minReadySeconds"))
    return causes


def _selector_update(obj: Obj, old: Obj) -> Causes:
    new_sel = (obj.get("spec") or {}).get("selector")
    old_sel = (old.get("spec") or {}).get("selector")
    if new_sel != old_sel:
        shown = "null" if new_sel is None else go_selector(new_sel)
        return [_invalid_raw("spec.selector", shown, "field is immutable")]
    return []


# --- services -------------------------------------------------------------

_SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]


def _cluster_ips(spec: Obj) -> list[str]:
    if spec.get("clusterIPs"):
        return list(spec["clusterIPs"])
    return [spec["clusterIP"]] if spec.get("clusterIP") else []


def _service(svc: Obj) -> Causes:
    spec = svc.get("spec") or {}
    causes: Causes = []
    kind = spec.get("type") or ""
    ips = _cluster_ips(spec)
    headless = bool(ips) and ips[0] == "None"
    ports = spec.get("ports") or []
    if not ports and not headless and kind != "ExternalName":
        causes.append(errors.required("spec.ports"))
    if kind in ("LoadBalancer", "NodePort") and headless:
        causes.append(errors.invalid_value("spec.clusterIPs[0]", "None",
                                           f"may not be set to 'None' for {kind} services"))
    if kind == "ExternalName":
        if ips:
            causes.append(errors.forbidden("spec.clusterIPs",
                                           "may not be set for ExternalName services"))
        cname = (spec.get("externalName") or "").removesuffix(".")
        if cname:
            causes += _each("spec.externalName", cname, dns1123_subdomain(cname))
        else:
            causes.append(errors.required("spec.externalName"))
    names: set[str] = set()
    for i, port in enumerate(ports):
        at = f"spec.ports[{i}]"
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            causes.append(errors.required(f"{at}.name"))
        elif name:
            causes += _each(f"{at}.name", name, dns1123_label(name))
            if name in names:
                causes.append(errors.duplicate(f"{at}.name", name))
            names.add(name)
        causes += _each(f"{at}.port", port.get("port", 0), port_number(port.get("port", 0)))
        causes += _protocol(f"{at}.protocol", port.get("protocol"))
        causes += _port_num_or_name(f"{at}.targetPort", port.get("targetPort", 0))
    causes += labels(spec.get("selector"), "spec.selector")
    affinity = spec.get("sessionAffinity") or ""
    if not affinity:
        causes.append(errors.required("spec.sessionAffinity"))
    elif affinity not in ("ClientIP", "None"):
        causes.append(errors.unsupported("spec.sessionAffinity", affinity, ["ClientIP", "None"]))
    elif affinity == "ClientIP":
        timeout = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}) \
            .get("timeoutSeconds")
        if not isinstance(timeout, int) or not 0 < timeout <= 86400:
            causes.append(errors.invalid_value(
                "spec.sessionAffinityConfig.clientIP.timeoutSeconds", timeout,
                "must be greater than 0 and less than 86400"))
    if kind != "ExternalName":
        for i, ip in enumerate(ips):
            if i == 0 and ip == "None":
                continue
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                causes.append(errors.invalid_value(
                    f"spec.clusterIPs[{i}]", ip,
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
    if not kind:
        causes.append(errors.required("spec.type"))
    elif kind not in _SERVICE_TYPES:
        causes.append(errors.unsupported("spec.type", kind, _SERVICE_TYPES))
    if kind in ("ClusterIP", "ExternalName"):
        for i, port in enumerate(ports):
            if port.get("nodePort"):
                causes.append(errors.forbidden(f"spec.ports[{i}].nodePort",
                                               f"may not be used when `type` is '{kind}'"))
    seen: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        key = (port.get("protocol"), port.get("port"))
        if key in seen:
            causes.append(errors.Cause(
                f"spec.ports[{i}]", "FieldValueDuplicate",
                f'Duplicate value: core.ServicePort{{Name:"", Protocol:{go_value(key[0] or "")}, '
                f"AppProtocol:(*string)(nil), Port:{key[1]}, TargetPort:intstr.IntOrString"
                f'{{Type:0, IntVal:0, StrVal:""}}, NodePort:0}}'))
        seen.add(key)
    return causes


def _service_update(svc: Obj, old: Obj) -> Causes:
    spec, old_spec = svc.get("spec") or {}, old.get("spec") or {}
    if "ExternalName" in (spec.get("type"), old_spec.get("type")):
        return []
    # An update that leaves the IPs out keeps the allocated ones, as the registry does.
    new_ips, old_ips = _cluster_ips(spec) or _cluster_ips(old_spec), _cluster_ips(old_spec)
    if old_ips and old_ips[0] == "None" and new_ips and new_ips[0] == "None":
        return []
    return [_invalid_raw(f"spec.clusterIPs[{i}]", go_value(new_ips), "may not change once set")
            for i, ip in enumerate(old_ips[:len(new_ips)]) if ip != new_ips[i]]


# --- secrets and config maps ----------------------------------------------

def _keys(values: Any, path: str) -> Causes:
    return [c for key in (values or {})
            for c in _each(f"{path}[{key}]", key, config_key(key))]


def _secret(secret: Obj) -> Causes:
    data = secret.get("data") or {}
    causes = _keys(data, "data")
    kind = secret.get("type") or ""
    if kind == "kubernetes.io/tls":
        causes += [errors.required(f"data[{k}]") for k in ("tls.crt", "tls.key") if k not in data]
    elif kind == "kubernetes.io/dockerconfigjson" and ".dockerconfigjson" not in data:
        causes.append(errors.required("data[.dockerconfigjson]"))
    elif kind == "kubernetes.io/dockercfg" and ".dockercfg" not in data:
        causes.append(errors.required("data[.dockercfg]"))
    return causes


def _configmap(cm: Obj) -> Causes:
    causes = _keys(cm.get("data"), "data") + _keys(cm.get("binaryData"), "binaryData")
    for key in cm.get("data") or {}:
        if key in (cm.get("binaryData") or {}):
            causes.append(errors.invalid_value(f"data[{key}]", key,
                                               "duplicate of key present in binaryData"))
    return causes


def _frozen(fields: tuple[str, ...]) -> Callable[[Obj, Obj], Causes]:
    def update(obj: Obj, old: Obj) -> Causes:
        causes: Causes = []
        if "type" in fields and obj.get("type") != old.get("type"):
            causes.append(errors.invalid_value("type", obj.get("type") or "", "field is immutable"))
        if old.get("immutable"):
            if not obj.get("immutable"):
                causes.append(errors.forbidden("immutable",
                                               "field is immutable when `immutable` is set"))
            for key in fields:
                if key != "type" and (obj.get(key) or {}) != (old.get(key) or {}):
                    causes.append(errors.forbidden(key, "field is immutable when `immutable` is set"))
        return causes
    return update


# --- endpoints ------------------------------------------------------------

def _endpoints(ep: Obj) -> Causes:
    causes: Causes = []
    for i, subset in enumerate(ep.get("subsets") or []):
        at = f"subsets[{i}]"
        if not subset.get("addresses") and not subset.get("notReadyAddresses"):
            causes.append(_required(at, "must specify `addresses` or `notReadyAddresses`"))
        for key in ("addresses", "notReadyAddresses"):
            for j, addr in enumerate(subset.get(key) or []):
                try:
                    ipaddress.ip_address(addr.get("ip", ""))
                except ValueError:
                    causes.append(errors.invalid_value(
                        f"{at}.{key}[{j}].ip", addr.get("ip", ""),
                        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
        ports = subset.get("ports") or []
        for j, port in enumerate(ports):
            pat = f"{at}.ports[{j}]"
            if len(ports) > 1 and not port.get("name"):
                causes.append(errors.required(f"{pat}.name"))
            elif port.get("name"):
                causes += _each(f"{pat}.name", port["name"], dns1123_label(port["name"]))
            causes += _each(f"{pat}.port", port.get("port", 0), port_number(port.get("port", 0)))
            causes += _protocol(f"{pat}.protocol", port.get("protocol"))
    return causes


def _endpointslice(eps: Obj) -> Causes:
    causes: Causes = []
    family = eps.get("addressType") or ""
    if not family:
        causes.append(errors.required("addressType"))
    elif family not in ("FQDN", "IPv4", "IPv6"):
        causes.append(errors.unsupported("addressType", family, ["FQDN", "IPv4", "IPv6"]))
    for i, endpoint in enumerate(eps.get("endpoints") or []):
        if not endpoint.get("addresses"):
            causes.append(_required(f"endpoints[{i}].addresses", "must contain at least 1 address"))
    for i, port in enumerate(eps.get("ports") or []):
        if port.get("port") is not None:
            causes += _each(f"ports[{i}].port", port["port"], port_number(port["port"]))
        if port.get("protocol") is not None:
            causes += _protocol(f"ports[{i}].protocol", port["protocol"])
    return causes


# Per kind: the name rule, the object's own checks, the update-only checks.
_KINDS: dict[str, tuple[Callable[[str], list[str]], Any, Any]] = {
    "Pod": (dns1123_subdomain, _pod, _pod_update),
    "Service": (dns1035_label, _service, _service_update),
    "Deployment": (dns1123_subdomain, _deployment, _selector_update),
    "ReplicaSet": (dns1123_subdomain, _replicaset, _selector_update),
    "Secret": (dns1123_subdomain, _secret, _frozen(("type", "data"))),
    "ConfigMap": (dns1123_subdomain, _configmap, _frozen(("data", "binaryData"))),
    "Namespace": (dns1123_label, None, None),
    "Node": (dns1123_subdomain, None, None),
    "Endpoints": (dns1123_subdomain, _endpoints, None),
    "EndpointSlice": (dns1123_subdomain, _endpointslice, None),
}
_APPS = ("Deployment", "ReplicaSet")
