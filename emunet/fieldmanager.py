"""Field ownership and server-side apply: `metadata.managedFields`.

Every write that names a field manager (kubectl always does: `kubectl-create`,
`kubectl-client-side-apply`, `kubectl-edit`, `kubectl-patch`, `kubectl-label`,
and `kubectl` for `apply --server-side`) records which fields that manager
set, as the apiserver's structured-merge-diff does. An Update takes the fields
it changed from whoever had them; an Apply owns exactly the fields of its
configuration: a field another manager owns with a different value is a
conflict (409, unless `force`), and a field this manager applied before and
no longer does is removed, unless someone else owns it too.

Paths are tuples of the fieldsV1 keys: `f:spec`, `f:replicas`, `k:{"name":
"nginx"}` for an item of a list keyed by merge key (ports by port and
protocol, as the list-map keys of the API), `v:"x"` for a member of a set.
Which lists are keyed comes from the strategic-merge schema table. Status and
system metadata (name, uid, resourceVersion, ...) are never owned here; writes
from components that name no manager are not tracked. Pure functions only.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from typing import Any

from . import errors, strategic

Obj = dict[str, Any]
Path = tuple[str, ...]
Schema = Any   # a strategic-merge schema node, or None
_OWNED_META = ("labels", "annotations", "ownerReferences", "finalizers")


# ---- paths ---------------------------------------------------------------------

def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _key_fields(key: str) -> tuple[str, ...]:
    return (key, "protocol") if key in ("containerPort", "port") else (key,)


def _key_values(item: Obj, key: str) -> dict[str, Any]:
    return {f: item.get(f, "TCP" if f == "protocol" else None) for f in _key_fields(key)}


def item_key(item: Obj, key: str) -> str:
    return "k:" + _json(_key_values(item, key))


def tracked(obj: Obj) -> Obj:
    """The part of an object managers own: no status, metadata only as users write it."""
    out = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k in _OWNED_META}
    if meta:
        out["metadata"] = meta
    return out


def field_set(obj: Obj, kind: str) -> set[Path]:
    return _fields(tracked(obj), strategic.schema_of(kind), ())


def _fields(value: Obj, schema: Schema, prefix: Path) -> set[Path]:
    out: set[Path] = set()
    for k, v in value.items():
        p = prefix + (f"f:{k}",)
        out.add(p)
        keyed = strategic.keyed_list(schema, k)
        if isinstance(v, dict):
            out |= _fields(v, strategic.child_struct(schema, k), p)
        elif isinstance(v, list) and keyed is not None:
            key, item_schema = keyed
            for item in v:
                if key is not None and isinstance(item, dict):
                    ip = p + (item_key(item, key),)
                    out.add(ip)
                    out |= _fields(item, item_schema, ip)
                elif key is None:
                    out.add(p + ("v:" + _json(item),))
    return out


_MISSING = object()


def _step(value: Any, elem: str, schema: Schema) -> tuple[Any, Schema]:
    """The value and schema one path element down, or _MISSING."""
    if elem.startswith("f:"):
        name = elem[2:]
        if not isinstance(value, dict) or name not in value:
            return _MISSING, None
        keyed = strategic.keyed_list(schema, name)
        return value[name], (keyed if keyed is not None else strategic.child_struct(schema, name))
    if not isinstance(value, list) or not isinstance(schema, tuple):
        return _MISSING, None
    key, item_schema = schema
    if elem.startswith("k:") and key is not None:
        want = json.loads(elem[2:])
        for item in value:
            if isinstance(item, dict) and _key_values(item, key) == want:
                return item, item_schema
        return _MISSING, None
    if elem.startswith("v:"):
        member = json.loads(elem[2:])
        return (member if member in value else _MISSING), None
    return _MISSING, None


def _walk(obj: Obj, path: Path, kind: str) -> tuple[Any, Schema]:
    """What a path names in `obj` (or _MISSING), with its schema."""
    value: Any = tracked(obj)
    schema: Schema = strategic.schema_of(kind)
    for elem in path:
        value, schema = _step(value, elem, schema)
        if value is _MISSING:
            return _MISSING, None
    return value, schema


def get(obj: Obj, path: Path, kind: str) -> Any:
    return _walk(obj, path, kind)[0]


def _is_leaf(obj: Obj, path: Path, kind: str) -> bool:
    if path[-1].startswith(("k:", "v:")):
        return False
    value, schema = _walk(obj, path, kind)
    # A merging list's schema is its (key, items) pair: its members are owned, not it.
    return not isinstance(value, dict) and not (isinstance(value, list)
                                                and isinstance(schema, tuple))


def _remove(obj: Obj, path: Path, kind: str) -> None:
    """Remove what a path names from `obj` in place (metadata fields included)."""
    parent: Any = obj
    schema: Schema = strategic.schema_of(kind)
    for elem in path[:-1]:
        parent, schema = _step(parent, elem, schema)
        if parent is _MISSING:
            return
    last = path[-1]
    if last.startswith("f:"):
        if isinstance(parent, dict):
            parent.pop(last[2:], None)
        return
    if isinstance(parent, list) and isinstance(schema, tuple):
        target, _ = _step(parent, last, schema)
        if target is not _MISSING:
            parent.remove(target)


def _ancestors(paths: Iterable[Path]) -> set[Path]:
    return {p[:i] for p in paths for i in range(1, len(p))}


def _prune(kept: set[Path], original: set[Path]) -> set[Path]:
    """Drop the nodes owned only as containers of fields no longer owned."""
    had_children = _ancestors(original)
    while True:
        has_children = _ancestors(kept)
        drop = {p for p in kept if p in had_children and p not in has_children}
        if not drop:
            return kept
        kept = kept - drop


# ---- fieldsV1 ------------------------------------------------------------------

def to_fields_v1(paths: set[Path]) -> Obj:
    root: Obj = {}
    for path in sorted(paths):
        node = root
        for elem in path:
            node = node.setdefault(elem, {})
    _mark_items(root)
    return root


def _mark_items(node: Obj) -> None:
    for key, child in node.items():
        if key.startswith(("k:", "v:")) and child:
            child.setdefault(".", {})
        _mark_items(child)


def from_fields_v1(tree: Obj, prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    for key, child in (tree or {}).items():
        if key == ".":
            continue
        p = prefix + (key,)
        out.add(p)
        if isinstance(child, dict):
            out |= from_fields_v1(child, p)
    return out


def _entries(obj: Obj | None) -> list[Obj]:
    return list(((obj or {}).get("metadata") or {}).get("managedFields") or [])


def _entry(manager: str, operation: str, api_version: str, now: str, paths: set[Path]) -> Obj:
    return {"manager": manager, "operation": operation, "apiVersion": api_version, "time": now,
            "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(paths)}


def _same(entry: Obj, manager: str, operation: str) -> bool:
    return entry.get("manager") == manager and entry.get("operation") == operation \
        and not entry.get("subresource")


def _replace(entries: list[Obj], entry: Obj) -> list[Obj]:
    out = [e for e in entries if not _same(e, entry["manager"], entry["operation"])]
    out.append(entry)
    return out


# ---- updates -----------------------------------------------------------------

def record_update(old: Obj | None, new: Obj, kind: str, manager: str, api_version: str,
                  now: str) -> list[Obj]:
    """The managedFields after a create or update by `manager`: it takes the fields it
    changed (or added) from everyone, and fields that are gone lose their owners."""
    new_paths = field_set(new, kind)
    old_paths = field_set(old, kind) if old is not None else set()
    changed = {p for p in new_paths
               if old is None or p not in old_paths
               or (_is_leaf(new, p, kind) and get(old, p, kind) != get(new, p, kind))}
    removed = old_paths - new_paths
    entries: list[Obj] = []
    mine: set[Path] = set()
    for e in _entries(old):
        paths = from_fields_v1(e.get("fieldsV1") or {})
        if _same(e, manager, "Update"):
            mine = paths - removed
            continue
        kept = _prune(paths - changed - removed, paths)
        if kept:
            entries.append({**e, "fieldsV1": to_fields_v1(kept)})
    mine |= changed | (_ancestors(changed) & new_paths)
    if mine:
        entries.append(_entry(manager, "Update", api_version, now, mine))
    return entries


# ---- apply -------------------------------------------------------------------

def _merge(cur: Obj, app: Obj, schema: Schema) -> None:
    for k, v in app.items():
        keyed = strategic.keyed_list(schema, k)
        if isinstance(v, dict) and isinstance(cur.get(k), dict):
            _merge(cur[k], v, strategic.child_struct(schema, k))
        elif isinstance(v, list) and keyed is not None and isinstance(cur.get(k), list):
            key, item_schema = keyed
            for item in v:
                if key is not None and isinstance(item, dict):
                    want = _key_values(item, key)
                    match = next((c for c in cur[k] if isinstance(c, dict)
                                  and _key_values(c, key) == want), None)
                    if match is None:
                        cur[k].append(copy.deepcopy(item))
                    else:
                        _merge(match, item, item_schema)
                elif item not in cur[k]:
                    cur[k].append(copy.deepcopy(item))
        else:
            cur[k] = copy.deepcopy(v)


def _show(path: Path) -> str:
    out = ""
    for elem in path:
        if elem.startswith("f:"):
            out += "." + elem[2:]
        elif elem.startswith("k:"):
            fields = json.loads(elem[2:])
            out += "[" + ",".join(f"{k}={_json(v)}" for k, v in fields.items()) + "]"
        else:
            out += f"[={elem[2:]}]"
    return out


class ApplyConflict(errors.ApiError):
    code = 409
    reason = "Conflict"


def _conflict(found: list[tuple[Path, Obj]]) -> ApplyConflict:
    by_owner: dict[tuple[str, str, str], list[Path]] = {}
    for path, e in found:
        owner = (e.get("manager", ""), e.get("apiVersion", ""), e.get("subresource", ""))
        by_owner.setdefault(owner, []).append(path)
    n = len(found)
    parts, causes = [], []
    for (manager, version, sub), paths in by_owner.items():
        who = f'"{manager}"' + (f' with subresource "{sub}"' if sub else "")
        if len(paths) == 1:
            parts.append(f"conflict with {who} using {version}: {_show(paths[0])}")
        else:
            parts.append(f"conflicts with {who} using {version}:\n"
                         + "\n".join(f"- {_show(p)}" for p in sorted(paths)))
        for p in sorted(paths):
            causes.append({"reason": "FieldManagerConflict",
                           "message": f"conflict with {who} using {version}",
                           "field": _show(p)})
    message = f"Apply failed with {n} conflict{'s' if n != 1 else ''}: " + "\n".join(parts)
    return ApplyConflict(message, details={"causes": causes})


def apply(current: Obj | None, applied: Obj, kind: str, manager: str, api_version: str,
          now: str, force: bool = False) -> Obj:
    """The object after `manager` applies `applied` to `current` (None: it is created),
    with its managedFields; raises ApplyConflict. Defaults and validation come after,
    as for any write."""
    mine = field_set(applied, kind)
    if current is None:
        out = copy.deepcopy(applied)
        out.setdefault("metadata", {})["managedFields"] = [
            _entry(manager, "Apply", api_version, now, mine)]
        return out
    before: set[Path] = set()
    others: list[tuple[Obj, set[Path]]] = []
    for e in _entries(current):
        paths = from_fields_v1(e.get("fieldsV1") or {})
        if _same(e, manager, "Apply"):
            before = paths
        else:
            others.append((e, paths))
    found: list[tuple[Path, Obj]] = []
    for path in sorted(mine):
        if not _is_leaf(applied, path, kind):
            continue
        if get(current, path, kind) == get(applied, path, kind):
            continue
        found += [(path, e) for e, paths in others if path in paths]
    if found and not force:
        raise _conflict(found)
    taken = {path for path, _ in found}
    out = copy.deepcopy(current)
    schema = strategic.schema_of(kind)
    merged = tracked(out)
    _merge(merged, tracked(applied), schema)
    out.update({k: v for k, v in merged.items() if k != "metadata"})
    meta = out.setdefault("metadata", {})
    meta.update(merged.get("metadata") or {})
    still_owned: set[Path] = set().union(*(paths - taken for _, paths in others))
    gone = before - mine - still_owned
    # Only the outermost: a list item goes whole, not field by field (without its key
    # fields it could no longer be found).
    for path in gone - {p for p in gone if _ancestors([p]) & gone}:
        _remove(out, path, kind)
    entries = []
    for e, paths in others:
        kept = _prune(paths - taken, paths)
        if kept:
            entries.append({**e, "fieldsV1": to_fields_v1(kept)})
    entries.append(_entry(manager, "Apply", api_version, now, mine))
    meta["managedFields"] = entries
    return out
