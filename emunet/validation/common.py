"""Causes and checks every kind shares: metadata, labels, selectors, ports.

The per-kind modules build their causes from these pieces so that a label, a
selector or a port is judged and worded the same wherever it appears. Values in
messages are rendered as Go's `%#v` prints them in v1.32
(`map[string]string{"run":"y"}`), since that is what the apiserver shows.

The label-selector check here is a syntax check of its own, kept apart from the
selector engine on purpose: it reports every problem as a cause with a path,
where the engine stops at the first one.

This module has no `from __future__ import annotations`: it defines a check
named `annotations`, and the annotations here evaluate fine at import time.
"""
import json
from collections.abc import Callable
from typing import Any

from emunet import errors

from . import formats

Obj = dict[str, Any]
Causes = list[errors.Cause]


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


def invalid_raw(path: str, shown: str, detail: str) -> errors.Cause:
    return errors.Cause(path, "FieldValueInvalid", f"Invalid value: {shown}: {detail}")


def not_found(path: str, value: Any) -> errors.Cause:
    return errors.Cause(path, "FieldValueNotFound", f"Not found: {go_value(value)}")


def required(path: str, detail: str = "") -> errors.Cause:
    if not detail:
        return errors.required(path)
    return errors.Cause(path, "FieldValueRequired", f"Required value: {detail}")


def each(path: str, value: Any, msgs: list[str]) -> Causes:
    return [errors.invalid_value(path, value, m) for m in msgs]


def nonnegative(path: str, value: Any) -> Causes:
    if isinstance(value, int) and value < 0:
        return [errors.invalid_value(path, value, "must be greater than or equal to 0")]
    return []


# --- metadata -------------------------------------------------------------

def labels(values: Any, path: str) -> Causes:
    causes: Causes = []
    for key, value in (values or {}).items():
        causes += each(path, key, formats.qualified_name(key))
        causes += each(path, value, formats.label_value(str(value)))
    return causes


def annotations(values: Any, path: str) -> Causes:
    causes: Causes = []
    total = 0
    for key, value in (values or {}).items():
        causes += each(path, key, formats.qualified_name(key.lower()))
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
        causes += each(f"{path}.generateName", generate, name_check(masked))
    if not name:
        if not generate:
            causes.append(required(f"{path}.name", "name or generateName is required"))
    else:
        causes += each(f"{path}.name", name, name_check(name))
    causes += labels(meta.get("labels"), f"{path}.labels")
    causes += annotations(meta.get("annotations"), f"{path}.annotations")
    return causes


# --- label selectors and ports -------------------------------------------

_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def label_selector(selector: Obj, path: str) -> Causes:
    causes: Causes = []
    for i, expr in enumerate(selector.get("matchExpressions") or []):
        at = f"{path}.matchExpressions[{i}]"
        op, values = expr.get("operator", ""), expr.get("values") or []
        if op in ("In", "NotIn") and not values:
            causes.append(required(f"{at}.values",
                                   "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist") and values:
            causes.append(errors.forbidden(
                f"{at}.values", "may not be specified when `operator` is 'Exists' or "
                                "'DoesNotExist'"))
        elif op not in _OPERATORS:
            causes.append(errors.invalid_value(f"{at}.operator", op,
                                               "not a valid selector operator"))
        key = expr.get("key", "")
        causes += each(f"{at}.key", key, formats.qualified_name(key))
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


_PROTOCOLS = ["SCTP", "TCP", "UDP"]


def port_num_or_name(path: str, value: Any) -> Causes:
    if isinstance(value, str):
        return each(path, value, formats.port_name(value))
    return each(path, value, formats.port_number(value))


def protocol(path: str, value: Any) -> Causes:
    if not value:
        return [errors.required(path)]
    if value not in _PROTOCOLS:
        return [errors.unsupported(path, value, _PROTOCOLS)]
    return []
