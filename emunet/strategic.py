"""Kubernetes' strategic merge patch, and the schema table it merges by.

`kubectl apply`, `patch`, `edit`, `scale` and `rollout` send
`application/strategic-merge-patch+json`. The apiserver learns how each list
merges from Go struct tags (`patchStrategy`, `patchMergeKey`). emunet has no Go
types, so the tags of the built-in types it serves are written down once in
`_SCHEMAS`, a table of nested `_Struct`/`_List` nodes keyed by field name.
Everything the table does not name behaves as an untagged field does upstream:
maps merge key by key, lists are atomic (replaced). The merge algorithm walks
the object and that schema side by side and follows the upstream rules,
including how it orders a merged list.

Kept apart from the RFC patches in `patches` (whose `strategic_merge_patch`
checks the body and calls `apply`) because only this one needs to know the
object's type. Pure: inputs are deep-copied. Failures raise `errors.ApiError`s
with the status codes and messages the apiserver uses.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from emunet import errors

# --------------------------------------------------------------------------- #
# Errors
# --------------------------------------------------------------------------- #


class _UnknownReasonError(errors.ApiError):
    """A plain Go error the apiserver renders as a 500 with no reason.

    Strategic merge errors that are not one of a few known sentinels reach
    `ErrorToAPIStatus` unwrapped: code 500, reason empty (omitted), message
    verbatim. kubectl then prints `Error from server: <message>`.
    """

    code = 500
    reason = ""

    def status(self) -> dict[str, Any]:
        body = super().status()
        body.pop("reason", None)
        return body


# The sentinels that `interpretStrategicMergePatchError` turns into 400s.
_BAD_RETAIN_KEYS = "invalid patch format of retainKeys"
_BAD_SET_ORDER = "invalid patch format of setElementOrder list"
_BAD_PRIMITIVE_LIST = "invalid patch format of primitive list"


def _go(value: Any) -> str:
    """Render a decoded JSON value as Go's `%v` does, for upstream-like messages."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --------------------------------------------------------------------------- #
# The schema table
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _Struct:
    """A map whose fields' patch strategies are known; unnamed fields are untagged."""

    fields: dict[str, _Node] = field(default_factory=dict)


@dataclass(frozen=True)
class _List:
    """A list tagged `patchStrategy:"merge"`; `key` is its `patchMergeKey`.

    Lists of primitives have no key and merge as a set union. Atomic lists are
    simply absent from the table (or listed with `merge=False` for their items'
    sake), as untagged Go fields are.
    """

    key: str | None = None
    item: _Struct | None = None
    merge: bool = True


_Node = _Struct | _List


def _merge_by(key: str, item: _Struct | None = None) -> _List:
    return _List(key=key, item=item)


_SET = _List()  # a merging list of primitives, e.g. metadata.finalizers
_CONDITIONS = _merge_by("type")

_OBJECT_META = _Struct({
    "finalizers": _SET,
    "ownerReferences": _merge_by("uid"),
})

_CONTAINER = _Struct({
    "ports": _merge_by("containerPort"),
    "env": _merge_by("name"),
    "volumeMounts": _merge_by("mountPath"),
    "volumeDevices": _merge_by("devicePath"),
    # envFrom, resizePolicy, command, args: atomic (untagged).
})

_POD_SPEC = _Struct({
    "volumes": _merge_by("name"),
    "initContainers": _merge_by("name", _CONTAINER),
    "containers": _merge_by("name", _CONTAINER),
    "ephemeralContainers": _merge_by("name", _CONTAINER),
    "imagePullSecrets": _merge_by("name"),
    "hostAliases": _merge_by("ip"),
    "topologySpreadConstraints": _merge_by("topologyKey"),
    "resourceClaims": _merge_by("name"),
    "schedulingGates": _merge_by("name"),
    # tolerations, readinessGates: atomic (untagged).
})

_POD_STATUS = _Struct({
    "conditions": _CONDITIONS,
    "podIPs": _merge_by("ip"),
    "hostIPs": _merge_by("ip"),
    "resourceClaimStatuses": _merge_by("name"),
})

_POD_TEMPLATE = _Struct({"metadata": _OBJECT_META, "spec": _POD_SPEC})

_WITH_TEMPLATE = _Struct({
    "metadata": _OBJECT_META,
    "spec": _Struct({"template": _POD_TEMPLATE}),
    "status": _Struct({"conditions": _CONDITIONS}),
})

_META_ONLY = _Struct({"metadata": _OBJECT_META})

_SCHEMAS: dict[str, _Struct] = {
    "Pod": _Struct({"metadata": _OBJECT_META, "spec": _POD_SPEC, "status": _POD_STATUS}),
    "PodTemplate": _Struct({"metadata": _OBJECT_META, "template": _POD_TEMPLATE}),
    "Deployment": _WITH_TEMPLATE,
    "ReplicaSet": _WITH_TEMPLATE,
    "StatefulSet": _WITH_TEMPLATE,
    "DaemonSet": _WITH_TEMPLATE,
    "ReplicationController": _WITH_TEMPLATE,
    "Service": _Struct({
        "metadata": _OBJECT_META,
        "spec": _Struct({"ports": _merge_by("port")}),
        "status": _Struct({"conditions": _CONDITIONS}),
    }),
    "Node": _Struct({
        "metadata": _OBJECT_META,
        "spec": _Struct({"podCIDRs": _SET}),
        "status": _Struct({"conditions": _CONDITIONS, "addresses": _merge_by("type")}),
    }),
    "Namespace": _Struct({
        "metadata": _OBJECT_META,
        "status": _Struct({"conditions": _CONDITIONS}),
    }),
    "ServiceAccount": _Struct({"metadata": _OBJECT_META, "secrets": _merge_by("name")}),
    # Endpoints.subsets and every EndpointSlice list are atomic.
    "Endpoints": _META_ONLY,
    "EndpointSlice": _META_ONLY,
    "Secret": _META_ONLY,
    "ConfigMap": _META_ONLY,
    "Event": _META_ONLY,
    "Lease": _META_ONLY,
}


def schema_of(kind: str) -> _Struct:
    """The merge schema of a kind (server-side apply reads the same table)."""
    return _SCHEMAS.get(kind, _META_ONLY)


def keyed_list(schema: _Node | None, key: str) -> tuple[str | None, _Struct | None] | None:
    """For a merging list field: (its merge key, or None for a set of primitives; the
    schema of its items). None when the field is a map, a scalar or an atomic list."""
    node = _list_meta(schema, key)
    return None if node is None else (node.key, node.item)


def child_struct(schema: _Node | None, key: str) -> _Struct | None:
    return _map_schema(schema, key)


def _child(schema: _Node | None, key: str) -> _Node | None:
    return schema.fields.get(key) if isinstance(schema, _Struct) else None


def _list_meta(schema: _Node | None, key: str) -> _List | None:
    node = _child(schema, key)
    return node if isinstance(node, _List) and node.merge else None


def _map_schema(schema: _Node | None, key: str) -> _Struct | None:
    node = _child(schema, key)
    return node if isinstance(node, _Struct) else None


# --------------------------------------------------------------------------- #
# The algorithm
# --------------------------------------------------------------------------- #

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER = "$setElementOrder/"
_DELETE_FROM = "$deleteFromPrimitiveList/"


def apply(obj: dict, patch: dict, kind: str) -> dict:
    """Apply a strategic merge patch (a JSON object) to an object of the given kind.

    Directives: `$patch: replace|delete` (and `merge`, a no-op) on maps;
    `$patch: delete|replace` on items of merging lists; `$retainKeys`;
    `$setElementOrder/<list>`; `$deleteFromPrimitiveList/<list>`; `null`
    deletes a key.

    Ordering follows upstream (`normalizeElementOrder`): the items the patch
    names are ordered as the patch (or its `$setElementOrder` list) orders
    them, the items only the server has keep their relative order, and the two
    runs are interleaved by the server's order where both sides are known to
    it. A consequence worth knowing: an item new to the list lands before the
    server-only items that follow it, so adding container `b` to `[a]` yields
    `[b, a]`, exactly as the Kubernetes docs show for `kubectl patch`.

    A value the object lacks is merged into an empty value rather than stored
    verbatim, so directives never reach the stored object (the apiserver gets
    the same effect when decoding drops the unknown `$` keys).
    """
    schema = _SCHEMAS.get(kind, _META_ONLY)
    return _merge_map(copy.deepcopy(obj) if isinstance(obj, dict) else {},
                      copy.deepcopy(patch), schema)


def _merge_map(original: dict, patch: dict, schema: _Node | None) -> dict:
    """Merge `patch` into `original`; both are private copies and may be consumed."""
    if _DIRECTIVE in patch:
        directive = patch[_DIRECTIVE]
        if directive == "replace":
            del patch[_DIRECTIVE]
            return patch
        if directive == "delete":
            return {}
        if directive != "merge":
            raise _UnknownReasonError(f"unknown patch type: {_go(directive)} in map: {_go(patch)}")
        # "merge" is what a map does anyway; upstream rejects it, emunet is lenient.
        del patch[_DIRECTIVE]

    _apply_retain_keys(original, patch)
    _apply_set_element_order(original, patch, schema)

    deletions = {k: v for k, v in patch.items() if k.startswith(_DELETE_FROM)}
    for key, patch_value in patch.items():
        if key.startswith(_DELETE_FROM):
            continue
        if patch_value is None:
            original.pop(key, None)
            continue
        if key not in original:
            original[key] = _fresh(patch_value, schema, key)
            continue
        current = original[key]
        if isinstance(current, dict) and isinstance(patch_value, dict):
            original[key] = _merge_map(current, patch_value, _map_schema(schema, key))
        elif isinstance(current, list) and isinstance(patch_value, list):
            meta = _list_meta(schema, key)
            original[key] = (_merge_list(current, patch_value, meta) if meta else patch_value)
        elif isinstance(current, (dict, list)) or isinstance(patch_value, (dict, list)):
            original[key] = _fresh(patch_value, schema, key)
        else:
            original[key] = patch_value

    # Deletions go last: kubectl never names one item in both the list and its
    # deletion list, and upstream's order here is Go's random map order.
    for key, values in deletions.items():
        target = key[len(_DELETE_FROM):]
        if not target or not isinstance(values, list):
            raise errors.BadRequest(_BAD_PRIMITIVE_LIST)
        current = original.get(target)
        if isinstance(current, list):
            original[target] = [v for v in current if not any(_same(v, d) for d in values)]
    return original


def _fresh(value: Any, schema: _Node | None, key: str) -> Any:
    """A patch value for a key the original lacks, with its directives applied."""
    if isinstance(value, dict):
        return _merge_map({}, value, _map_schema(schema, key))
    if isinstance(value, list):
        meta = _list_meta(schema, key)
        return _merge_list([], value, meta) if meta else value
    return value


def _apply_retain_keys(original: dict, patch: dict) -> None:
    if _RETAIN_KEYS not in patch:
        return
    retain = patch.pop(_RETAIN_KEYS)
    if not isinstance(retain, list):
        raise errors.BadRequest(_BAD_RETAIN_KEYS)
    keep = {k for k in retain if isinstance(k, str)}
    for key, value in patch.items():
        if value is None or key.startswith((_SET_ORDER, _DELETE_FROM)):
            continue
        if key not in keep:
            raise errors.BadRequest(_BAD_RETAIN_KEYS)
    for key in list(original):
        if key not in keep:
            del original[key]


def _apply_set_element_order(original: dict, patch: dict, schema: _Node | None) -> None:
    for order_key in [k for k in patch if k.startswith(_SET_ORDER)]:
        order = patch.pop(order_key)
        key = order_key[len(_SET_ORDER):]
        if not key or not isinstance(order, list):
            raise errors.BadRequest(_BAD_SET_ORDER)
        found_original = isinstance(original.get(key), list)
        found_patch = key in patch
        if found_patch and not isinstance(patch[key], list):
            raise _UnknownReasonError(
                f"expected a []interface {{}}, but received a {_go(patch[key])}")
        meta = _list_meta(schema, key)
        merge_key = meta.key if meta else None
        patch_list = patch.get(key) or []
        if not _items_are_maps(order + patch_list) or merge_key:
            _validate_order(patch_list, order, merge_key)
        if found_original and found_patch:
            merged = (_merge_list(original[key], patch[key], meta) if meta else patch[key])
        elif found_patch:
            merged = _fresh(patch[key], schema, key)
        elif found_original:
            merged = original[key]
        else:
            continue
        if merge_key is None and _items_are_maps(merged):
            # An atomic list of maps has no identity to order by; upstream
            # never receives this from kubectl. Keep the replaced list.
            original[key] = merged
        else:
            in_order = [v for v in merged if _position(order, v, merge_key) >= 0]
            server_only = [v for v in merged if _position(order, v, merge_key) < 0]
            original[key] = _normalize(in_order, server_only, order,
                                       original.get(key) or [], merge_key)
        patch.pop(key, None)


def _validate_order(patch_list: list, order: list, merge_key: str | None) -> None:
    """The patch's own items must appear in `$setElementOrder` in the same order."""
    items = [v for v in patch_list if not (isinstance(v, dict) and _DIRECTIVE in v)]
    if not order or not items:
        return
    if merge_key:
        for v in items:
            if not isinstance(v, dict) or merge_key not in v:
                raise _UnknownReasonError(
                    f"map: {_go(v)} does not contain declared merge key: {merge_key}")
    i = 0
    for entry in order:
        if i < len(items) and _same(_identity(items[i], merge_key), _identity(entry, merge_key)):
            i += 1
    if i < len(items):
        raise _UnknownReasonError(
            f"The order in patch list:\n{_go(patch_list)}\n doesn't match "
            f"$setElementOrder list:\n{_go(order)}\n")


def _merge_list(original: list, patch: list, meta: _List) -> list:
    """Merge a patch list into an original list tagged `patchStrategy:"merge"`."""
    if not original and not patch:
        return original
    if not _items_are_maps(original + patch):
        # Lists of primitives: set union, original items first.
        merged: list = []
        for v in original + patch:
            if not any(_same(v, m) for m in merged):
                merged.append(v)
        server_order = original
        patch_items = [v for v in merged if any(_same(v, p) for p in patch)]
        server_only = [v for v in merged if not any(_same(v, p) for p in patch)]
        return _normalize(patch_items, server_only, patch, server_order, None)

    key = meta.key
    if not key:
        raise _UnknownReasonError("cannot merge lists without merge key for type map")
    original = list(original)
    plain: list = []
    replace = False
    for item in patch:
        if not isinstance(item, dict):
            raise _UnknownReasonError(
                f"list element types are not identical: {_go([original, patch])}")
        directive = item.get(_DIRECTIVE)
        if _DIRECTIVE not in item:
            plain.append(item)
        elif directive == "delete":
            if key not in item:
                raise _UnknownReasonError(
                    f"map: {_go(item)} does not contain declared merge key: {key}")
            original = [o for o in original if not _same(o.get(key), item[key])]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise _UnknownReasonError("merging lists cannot yet be specified in the patch")
        else:
            raise _UnknownReasonError(f"unknown patch type: {_go(directive)} in map: {_go(item)}")
    if replace:
        return [_merge_map({}, p, meta.item) for p in plain]

    server_order = list(original)
    merged = list(original)
    for item in plain:
        if key not in item:
            raise _UnknownReasonError(
                f"map: {_go(item)} does not contain declared merge key: {key}")
        at = next((i for i, o in enumerate(merged) if _same(o.get(key), item[key])), -1)
        if at >= 0:
            merged[at] = _merge_map(merged[at], item, meta.item)
        else:
            merged.append(_merge_map({}, item, meta.item))
    patch_items = [v for v in merged if _position(plain, v, key) >= 0]
    server_only = [v for v in merged if _position(plain, v, key) < 0]
    return _normalize(patch_items, server_only, plain, server_order, key)


def _normalize(patch_items: list, server_only: list, patch_order: list,
               server_order: list, key: str | None) -> list:
    """Order patch items by the patch, server-only items by the server, then interleave.

    The interleave takes a server-only item first only when both heads are
    known to the server's list and the server-only one comes earlier there;
    otherwise the patch item goes first (upstream `mergeSortedSlice`).
    """
    patch_items = _sort_by(patch_items, patch_order, key)
    server_only = _sort_by(server_only, server_order, key)
    result: list = []
    i = j = 0
    while i < len(server_only) and j < len(patch_items):
        si = _position(server_order, server_only[i], key)
        pj = _position(server_order, patch_items[j], key)
        if si >= 0 and pj >= 0 and si < pj:
            result.append(server_only[i])
            i += 1
        else:
            result.append(patch_items[j])
            j += 1
    return result + server_only[i:] + patch_items[j:]


def _sort_by(items: list, order: list, key: str | None) -> list:
    # Items the order does not know stay after the known ones, in their own
    # order (upstream's comparator is undefined there; kubectl never hits it).
    known = [v for v in items if _position(order, v, key) >= 0]
    unknown = [v for v in items if _position(order, v, key) < 0]
    known.sort(key=lambda v: _position(order, v, key))
    return known + unknown


def _identity(item: Any, key: str | None) -> Any:
    return item.get(key) if key and isinstance(item, dict) else item


def _position(items: list, value: Any, key: str | None) -> int:
    wanted = _identity(value, key)
    for i, item in enumerate(items):
        if _same(_identity(item, key), wanted):
            return i
    return -1


def _items_are_maps(items: list) -> bool:
    return bool(items) and isinstance(items[0], dict)


def _same(a: Any, b: Any) -> bool:
    """Go's `==` on decoded JSON scalars: no bool/number confusion, maps never equal."""
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b
