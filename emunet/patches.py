"""The three PATCH bodies the apiserver accepts, applied to plain-dict objects.

* `merge_patch` - RFC 7386 JSON merge patch (`application/merge-patch+json`).
* `json_patch` - RFC 6902 JSON patch (`application/json-patch+json`).
* `strategic_merge_patch` - Kubernetes' strategic merge patch
  (`application/strategic-merge-patch+json`), which `kubectl apply`, `patch`,
  `edit`, `scale` and `rollout` send.

Why split so: the two RFC patches need no knowledge of the object's type and
live here whole; the strategic one needs a schema of every served type's list
merge keys, so its table and algorithm live in `emunet.strategic`, and only its
entry point (which checks the body's shape, as the other two do) is here.
Callers pick a patch kind from this one module. All three functions are pure:
they deep-copy their inputs and never touch the caller's objects. Failures
raise `errors.ApiError`s with the status codes and messages the apiserver uses.
"""
from __future__ import annotations

import copy
from typing import Any

from emunet import errors, strategic

# --------------------------------------------------------------------------- #
# Errors
# --------------------------------------------------------------------------- #


class JsonPatchFailed(errors.ApiError):
    """A JSON patch whose operations do not apply (422 Invalid).

    The apiserver answers with `NewGenericServerResponse(422, ...)`, which drops
    the library's message and says only "the server rejected our request due
    to an error in our request"; kubectl prints `The request is invalid: ...`.
    emunet keeps that wire message for fidelity and carries the real reason in
    `explanation`, for logs and tests.
    """

    code = 422
    reason = "Invalid"

    def __init__(self, explanation: str) -> None:
        super().__init__("the server rejected our request due to an error in our request")
        self.explanation = explanation

    def status(self) -> dict[str, Any]:
        body = super().status()
        body["details"] = {}
        return body


# The apiserver refuses JSON patches with more operations than this.
MAX_JSON_PATCH_OPERATIONS = 10000


# --------------------------------------------------------------------------- #
# RFC 7386 JSON merge patch
# --------------------------------------------------------------------------- #


def merge_patch(obj: dict, patch: dict) -> dict:
    """Apply an RFC 7386 merge patch: maps merge, `null` deletes, all else replaces."""
    if not isinstance(patch, dict):
        # The apiserver only stores objects; a non-object patch would replace
        # the whole document, which jsonpatch.MergePatch rejects.
        raise errors.BadRequest("Invalid JSON Patch")
    return _merge_patch(copy.deepcopy(obj) if isinstance(obj, dict) else {}, patch)


def _merge_patch(target: dict, patch: dict) -> dict:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            # A key new to the target still goes through the merge so that
            # nested nulls vanish instead of being stored (RFC 7386 section 2).
            target[key] = _merge_patch(current if isinstance(current, dict) else {}, value)
        else:
            target[key] = copy.deepcopy(value)
    return target


# --------------------------------------------------------------------------- #
# RFC 6902 JSON patch
# --------------------------------------------------------------------------- #


def json_patch(obj: dict, ops: list) -> dict:
    """Apply an RFC 6902 JSON patch atomically, as the apiserver does.

    Follows the library the apiserver uses where the RFC leaves room: a `test`
    of a missing path against `null` passes (the usual way to assert absence),
    and negative array indices count from the end for remove/replace/test.
    """
    if not isinstance(ops, list):
        raise errors.BadRequest(
            f"json: cannot unmarshal {_json_kind(ops)} into Go value of type jsonpatch.Patch")
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise errors.TooLarge(
            "Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}")
    doc: Any = copy.deepcopy(obj)
    for op in ops:
        if not isinstance(op, dict):
            raise errors.BadRequest(
                f"json: cannot unmarshal {_json_kind(op)} into Go value of type "
                "jsonpatch.Operation")
        doc = _apply_op(doc, op)
    return doc


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "array" if isinstance(value, list) else "null"


def _pointer(path: Any, what: str, kind: str) -> list[str]:
    if not isinstance(path, str):
        raise JsonPatchFailed(f"{kind} operation missing {what}")
    if path == "":
        return []
    if not path.startswith("/"):
        raise JsonPatchFailed(f"{kind} operation does not apply: doc is missing path: {path!r}")
    # ~1 before ~0, so that "~01" decodes to "~1" and not "/" (RFC 6901 section 4).
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(token: str, length: int, *, for_add: bool) -> int | None:
    if token == "-":
        return length if for_add else None
    if not token or not (token.isdigit() or (token[0] == "-" and token[1:].isdigit())):
        return None
    i = int(token)
    if i < 0:
        i += length
        if i < 0:
            return None
    limit = length if for_add else length - 1
    return i if i <= limit else None


def _parent(doc: Any, parts: list[str], kind: str, path: str) -> Any:
    node = doc
    for token in parts[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and (i := _index(token, len(node), for_add=False)) is not None:
            node = node[i]
        else:
            raise JsonPatchFailed(f"{kind} operation does not apply: doc is missing path: {path}")
    if not isinstance(node, (dict, list)):
        raise JsonPatchFailed(f"{kind} operation does not apply: doc is missing path: {path}")
    return node


def _get(doc: Any, path: str, kind: str) -> tuple[bool, Any]:
    parts = _pointer(path, "path", kind)
    if not parts:
        return True, doc
    parent = _parent(doc, parts, kind, path)
    last = parts[-1]
    if isinstance(parent, dict):
        return (last in parent), parent.get(last)
    i = _index(last, len(parent), for_add=False)
    return (i is not None), (parent[i] if i is not None else None)


def _add(doc: Any, path: str, value: Any, kind: str) -> Any:
    parts = _pointer(path, "path", kind)
    if not parts:
        return value
    parent = _parent(doc, parts, kind, path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    else:
        i = _index(last, len(parent), for_add=True)
        if i is None:
            raise JsonPatchFailed(f"{kind} operation does not apply: index out of range: {path}")
        parent.insert(i, value)
    return doc


def _remove(doc: Any, path: str, kind: str) -> tuple[Any, Any]:
    parts = _pointer(path, "path", kind)
    if not parts:
        raise JsonPatchFailed(f"{kind} operation does not apply: cannot remove the whole document")
    parent = _parent(doc, parts, kind, path)
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise JsonPatchFailed(
                f"{kind} operation does not apply: doc is missing key: {path}")
        return doc, parent.pop(last)
    i = _index(last, len(parent), for_add=False)
    if i is None:
        raise JsonPatchFailed(f"{kind} operation does not apply: index out of range: {path}")
    return doc, parent.pop(i)


def _apply_op(doc: Any, op: dict[str, Any]) -> Any:
    kind = op.get("op")
    # Unchecked JSON: `_pointer` rejects a missing or non-string path where each
    # operation reaches it, so errors come in upstream's order.
    path: Any = op.get("path")
    if kind == "add":
        if "value" not in op:
            raise JsonPatchFailed("add operation missing value")
        return _add(doc, path, copy.deepcopy(op["value"]), "add")
    if kind == "remove":
        return _remove(doc, path, "remove")[0]
    if kind == "replace":
        if "value" not in op:
            raise JsonPatchFailed("replace operation missing value")
        found, _ = _get(doc, path, "replace")
        if not found:
            raise JsonPatchFailed(f"replace operation does not apply: doc is missing key: {path}")
        if path == "":
            return copy.deepcopy(op["value"])
        doc, _ = _remove(doc, path, "replace")
        return _add(doc, path, copy.deepcopy(op["value"]), "replace")
    if kind in ("move", "copy"):
        source: Any = op.get("from")
        _pointer(source, "from", kind)
        found, value = _get(doc, source, kind)
        if not found:
            raise JsonPatchFailed(
                f"{kind} operation does not apply: doc is missing from path: {source}")
        if kind == "move":
            if isinstance(path, str) and path.startswith(source + "/"):
                raise JsonPatchFailed("move operation does not apply: "
                                      "a location cannot be moved into one of its children")
            doc, value = _remove(doc, source, kind)
        return _add(doc, path, copy.deepcopy(value), kind)
    if kind == "test":
        found, value = _get(doc, path, "test")
        expected = op.get("value")
        if (not found and expected is None) or (found and _json_equal(value, expected)):
            return doc
        raise JsonPatchFailed(f"testing value {path} failed: test failed")
    raise JsonPatchFailed(f"Unexpected kind: {kind}")


def _json_equal(a: Any, b: Any) -> bool:
    # Python says True == 1; JSON does not.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


# --------------------------------------------------------------------------- #
# Strategic merge patch: the body's shape; the merge is `strategic.apply`
# --------------------------------------------------------------------------- #


def strategic_merge_patch(obj: dict, patch: dict, kind: str) -> dict:
    """Apply a strategic merge patch to an object of the given kind.

    The patch must be a JSON object; see `strategic.apply` for the directives
    and the list ordering.
    """
    if not isinstance(patch, dict):
        raise errors.BadRequest(
            f"json: cannot unmarshal {_json_kind(patch)} into Go value of type "
            "map[string]interface {}")
    return strategic.apply(obj, patch, kind)
