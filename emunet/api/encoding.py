"""Responses built from the store's encoded objects, without decoding them again.

The store keeps each object as compact JSON of its body (no apiVersion or
kind), encoded once per write. Gets, lists and watch events are that body with
an envelope around it, so they are assembled here from bytes: the apiserver's
watch cache serves its cached serialisations the same way, and a list of a
thousand pods or a watch event sent to a dozen watchers costs no JSON encoding
at all. The bytes are exactly what `json.dumps(..., separators=(",", ":"))` of
the presented object would give, apart from where apiVersion and kind sit.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from ..resources import Resource

Obj = dict[str, Any]


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def response(data: bytes, status: int = 200,
             content_type: str = "application/json") -> web.Response:
    return web.Response(body=data, status=status, headers={"Content-Type": content_type})


def presented(res: Resource, obj: Obj) -> Obj:
    """The object with the resource's type meta first, as the apiserver writes it.

    Only the top level is new, so a stored (shared) object can be presented too.
    """
    out: Obj = {"apiVersion": res.api_version, "kind": res.kind}
    out.update(obj)
    out["apiVersion"], out["kind"] = res.api_version, res.kind
    return out


def typed(res: Resource, body: bytes) -> bytes:
    """An object body with the resource's type meta first, as a get returns it."""
    # Every stored object has metadata, so the body is never "{}".
    return _type_meta(res.api_version, res.kind) + body[1:]


@functools.lru_cache(maxsize=256)
def _type_meta(api_version: str, kind: str) -> bytes:
    return b'{"apiVersion":' + dumps(api_version) + b',"kind":' + dumps(kind) + b","


def list_of(res: Resource, resource_version: str, bodies: Iterable[bytes]) -> bytes:
    """A `<Kind>List`; its items carry no type meta, as the apiserver's do."""
    return (b'{"kind":' + dumps(res.list_kind) + b',"apiVersion":' + dumps(res.api_version)
            + b',"metadata":{"resourceVersion":' + dumps(resource_version) + b'},"items":['
            + b",".join(bodies) + b"]}")


def watch_event(etype: str, obj: bytes) -> bytes:
    """One line of a watch stream, around an already encoded object."""
    return b'{"type":"' + etype.encode() + b'","object":' + obj + b"}\n"
