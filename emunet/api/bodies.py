"""Decoding request bodies: JSON, YAML, protobuf, patches and DeleteOptions.

kubectl sends JSON for most writes, protobuf for `kubectl create secret|configmap|
service|deployment|namespace|serviceaccount`, and some clients send no
Content-Type at all (taken as JSON, as
the Python client needs). Anything else is answered 415 naming what is
supported; a body that does not parse is 400 with the parser's reason, so
nothing half-decoded reaches the store.
"""
from __future__ import annotations

import json
from typing import Any

import yaml
from aiohttp import web

from .. import errors, protobuf
from ..resources import Resource
from . import schema

SUPPORTED = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json")


def _ctype(request: web.Request) -> str:
    return request.headers.get("Content-Type", "").split(";")[0].strip().lower()


async def read_json(request: web.Request) -> Any:
    raw = await request.read()
    return _decode(raw, _ctype(request) or "application/json")


def _decode(raw: bytes, ctype: str) -> Any:
    if ctype in ("application/json", ""):
        try:
            return json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError) as e:
            raise errors.BadRequest(f"the body of the request was in an unknown format - "
                                    f"accepted media types include: {', '.join(SUPPORTED)}: "
                                    f"invalid JSON: {e}") from None
    if ctype in ("application/yaml", "application/x-yaml", "text/yaml"):
        try:
            return yaml.safe_load(raw or b"{}")
        except yaml.YAMLError as e:
            raise errors.BadRequest(f"invalid YAML: {e}") from None
    if ctype == "application/vnd.kubernetes.protobuf":
        return protobuf.decode(raw)
    raise errors.UnsupportedMediaType(
        f'the body of the request was in an unknown format - accepted media types include: '
        f'{", ".join(SUPPORTED)}')


async def read_object(request: web.Request, res: Resource) -> dict[str, Any]:
    raw = await request.read()
    obj = _decode(raw, _ctype(request))
    if not isinstance(obj, dict):
        raise errors.BadRequest(f"the request body must be a {res.kind} object")
    kind = obj.get("kind")
    if kind and kind != res.kind:
        raise errors.BadRequest(f'{kind} in version "{res.version}" cannot be handled as a '
                                f'{res.kind}: the kind of the object does not match the URL')
    api_version = obj.get("apiVersion")
    if api_version and api_version != res.api_version and not (
            res.kind == "Event" and api_version in ("v1", "events.k8s.io/v1")):
        raise errors.BadRequest(f'the API version in the data ({api_version}) does not match '
                                f'the expected API version ({res.api_version})')
    obj["apiVersion"], obj["kind"] = res.api_version, res.kind
    if not isinstance(obj.get("metadata", {}), dict):
        raise errors.BadRequest("metadata must be an object")
    check_strict(request, res, obj)
    return obj


def check_strict(request: web.Request, res: Resource, obj: dict[str, Any]) -> None:
    """fieldValidation=Strict: an unknown field is a 400 naming it, as the apiserver does."""
    if request.query.get("fieldValidation") != "Strict":
        return
    unknown = schema.unknown_fields(res.kind, obj)
    if unknown:
        listing = ", ".join(f'unknown field "{f}"' for f in unknown)
        raise errors.BadRequest(f'{res.kind} in version "{res.version}" cannot be handled as a '
                                f"{res.kind}: strict decoding error: {listing}")


APPLY_PATCH = "application/apply-patch+yaml"


def parse_apply(raw: bytes, res: Resource, name: str) -> dict[str, Any]:
    """The configuration of a server-side apply: a whole object, in YAML or JSON."""
    try:
        obj = yaml.safe_load(raw or b"") or {}
    except yaml.YAMLError as e:
        raise errors.BadRequest(f"error decoding YAML: {e}") from None
    if not isinstance(obj, dict):
        raise errors.BadRequest("the apply configuration must be an object")
    if obj.get("apiVersion") != res.api_version or obj.get("kind") != res.kind:
        raise errors.BadRequest(f"apiVersion and kind of the applied object must be "
                                f"{res.api_version} {res.kind}, not {obj.get('apiVersion')} "
                                f"{obj.get('kind')}")
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise errors.BadRequest("metadata must be an object")
    if meta.get("name", name) != name:
        raise errors.BadRequest(f"the name of the object ({meta.get('name')}) does not match "
                                f"the name on the URL ({name})")
    return obj


def parse_patch(raw: bytes, ctype: str) -> Any:
    if ctype not in PATCH_TYPES:
        raise errors.UnsupportedMediaType(
            f"the body of the request was in an unknown format - accepted media types "
            f"include: {', '.join(PATCH_TYPES)}")
    try:
        patch = json.loads(raw or b"{}")
    except ValueError as e:
        raise errors.BadRequest(f"error decoding patch: {e}") from None
    if ctype == "application/json-patch+json" and not isinstance(patch, list):
        raise errors.BadRequest("json patch must be a JSON array of operations")
    if ctype != "application/json-patch+json" and not isinstance(patch, dict):
        raise errors.BadRequest("patch must be a JSON object")
    return patch


async def read_delete_options(request: web.Request) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    raw = await request.read()
    if raw.strip():
        body = _decode(raw, _ctype(request))
        if isinstance(body, dict):
            opts.update(body)
    q = request.query
    if "gracePeriodSeconds" in q:
        try:
            opts["gracePeriodSeconds"] = int(q["gracePeriodSeconds"])
        except ValueError:
            raise errors.BadRequest("gracePeriodSeconds must be an integer") from None
    if "propagationPolicy" in q:
        opts["propagationPolicy"] = q["propagationPolicy"]
    policy = opts.get("propagationPolicy")
    if policy not in (None, "Orphan", "Background", "Foreground"):
        raise errors.Invalid("DeleteOptions", "", [errors.unsupported(
            "propagationPolicy", policy, ["Foreground", "Background", "Orphan", "nil"])])
    return opts
