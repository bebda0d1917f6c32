"""Secrets and ConfigMaps: their data keys, required keys per type, immutability.

Both kinds share the key format and the `immutable` rule, so one update check
(`frozen`) serves both, told which fields it freezes.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emunet import errors

from . import common, formats

Obj = dict[str, Any]
Causes = list[errors.Cause]


def _keys(values: Any, path: str) -> Causes:
    return [c for key in (values or {})
            for c in common.each(f"{path}[{key}]", key, formats.config_key(key))]


def secret(obj: Obj) -> Causes:
    data = obj.get("data") or {}
    causes = _keys(data, "data")
    kind = obj.get("type") or ""
    if kind == "kubernetes.io/tls":
        causes += [errors.required(f"data[{k}]") for k in ("tls.crt", "tls.key") if k not in data]
    elif kind == "kubernetes.io/dockerconfigjson" and ".dockerconfigjson" not in data:
        causes.append(errors.required("data[.dockerconfigjson]"))
    elif kind == "kubernetes.io/dockercfg" and ".dockercfg" not in data:
        causes.append(errors.required("data[.dockercfg]"))
    return causes


def configmap(cm: Obj) -> Causes:
    causes = _keys(cm.get("data"), "data") + _keys(cm.get("binaryData"), "binaryData")
    for key in cm.get("data") or {}:
        if key in (cm.get("binaryData") or {}):
            causes.append(errors.invalid_value(f"data[{key}]", key,
                                               "duplicate of key present in binaryData"))
    return causes


def frozen(fields: tuple[str, ...]) -> Callable[[Obj, Obj], Causes]:
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
                    causes.append(errors.forbidden(
                        key, "field is immutable when `immutable` is set"))
        return causes
    return update
