"""Server-side Tables: the rows `kubectl get` prints, as the apiserver renders them.

kubectl 1.32 asks for `meta.k8s.io/v1` Tables and prints their cells verbatim;
a plain list would give only `NAME AGE`. So every column and every cell format
follows the apiserver's printers for the same type, ages included: they are
computed on the server, with apimachinery's `HumanDuration` rules.

The package is split along upstream's own seams: `ages` (HumanDuration),
`cells` (each resource's row cells), `printers` (the column sets, as data keyed
by group and plural) and this module, the Table envelope: column definitions,
rows with their `includeObject` payload, the Table itself. The helpers callers
and tests use are re-exported here. Pure functions only: `now` is passed in, so
ages are testable and the caller owns the clock.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from emunet import errors

from . import printers
from .ages import age, human_duration, parse_time
from .cells import (
    Cells,
    Obj,
    format_endpoints,
    format_label_selector,
    format_labels,
    node_roles,
    selector_string,
    service_external_ip,
    service_ports,
)
from .printers import AGE, DEFAULT, NAME, PRINTERS, Column, Printer, printer

__all__ = [
    "AGE", "DEFAULT", "INCLUDE_OBJECT", "NAME", "PRINTERS", "Cells", "Column", "Obj", "Printer",
    "age", "column_definitions", "format_endpoints", "format_label_selector", "format_labels",
    "human_duration", "node_roles", "parse_time", "printer", "row", "selector_string",
    "service_external_ip", "service_ports", "table",
]

INCLUDE_OBJECT = ("None", "Metadata", "Object")


# --- the Table --------------------------------------------------------------

def column_definitions(plural: str, group: str) -> list[dict[str, Any]]:
    return [c.definition() for c in printers.printer(plural, group).columns]


def _row_conditions(plural: str, group: str, obj: Obj) -> list[dict[str, str]] | None:
    # Upstream marks finished pods as Completed rows.
    if (group, plural) != ("", "pods"):
        return None
    phase = (obj.get("status") or {}).get("phase")
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded",
                 "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed",
                 "message": "The pod failed."}]
    return None


def row(plural: str, group: str, obj: Obj, now: datetime,
        include_object: str = "Metadata") -> dict[str, Any]:
    """One TableRow; `include_object` is the request's `includeObject` parameter."""
    if include_object not in INCLUDE_OBJECT:
        raise errors.BadRequest(
            f"includeObject must be one of {', '.join(INCLUDE_OBJECT)}, not {include_object!r}")
    out: dict[str, Any] = {"cells": printers.printer(plural, group).cells(obj, now)}
    conditions = _row_conditions(plural, group, obj)
    if conditions:
        out["conditions"] = conditions
    if include_object == "Metadata":
        # Without managedFields, which kubectl never prints from a Table and which
        # are most of the bytes of a kubectl-created object's metadata (the apiserver
        # sends them): `kubectl get pods` of 1,000 kubectl-created pods took a median
        # 192 ms with them, 116 ms without.
        meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
        out["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                         "metadata": meta}
    elif include_object == "Object":
        out["object"] = obj
    return out


def table(plural: str, group: str, objects: list[Obj], now: datetime, resource_version: str,
          include_object: str = "Metadata", with_columns: bool = True) -> dict[str, Any]:
    """A `meta.k8s.io/v1` Table; watch events after the first may leave columns out."""
    return {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": column_definitions(plural, group) if with_columns else [],
        "rows": [row(plural, group, obj, now, include_object) for obj in objects],
    }
