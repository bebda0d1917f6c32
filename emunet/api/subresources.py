"""The scale and binding subresources: small views and writes of a parent object.

`deployments/NAME/scale` (and replicasets') is an `autoscaling/v1` Scale made
from the object's spec and status, read and written as the apiserver's scale
subresource does: a write changes only `spec.replicas`, checked against the
parent's resourceVersion if the Scale carries one. `pods/NAME/binding` is the
scheduler's write: it sets `spec.nodeName` once (a second binding is a
conflict) and marks the pod PodScheduled.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from .. import errors, patches, selectors
from ..resources import Resource
from ..store import now_rfc3339
from . import bodies, encoding

if TYPE_CHECKING:
    from .server import ApiServer

Obj = dict[str, Any]


def _json(body: Any, status: int = 200) -> web.Response:
    return encoding.response(encoding.dumps(body), status)


def scale_of(obj: Obj) -> Obj:
    sel = selectors.selector_string(obj.get("spec", {}).get("selector") or {})
    meta = obj["metadata"]
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": meta["name"], "namespace": meta.get("namespace"),
                         "uid": meta["uid"], "resourceVersion": meta["resourceVersion"],
                         "creationTimestamp": meta["creationTimestamp"]},
            "spec": {"replicas": obj.get("spec", {}).get("replicas", 1)},
            "status": {"replicas": obj.get("status", {}).get("replicas", 0), "selector": sel}}


async def scale(server: ApiServer, request: web.Request, res: Resource, ns: str,
                name: str) -> web.Response:
    obj = server.store.get(server.key(res), ns, name)
    if obj is None:
        raise errors.NotFound(res.plural, name, res.group)
    obj = encoding.presented(res, obj)
    current = scale_of(obj)
    if request.method == "GET":
        return _json(current)
    if request.method == "PUT":
        new_scale = await bodies.read_json(request)
    elif request.method == "PATCH":
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip()
        patch = bodies.parse_patch(await request.read(), ctype)
        if ctype == "application/json-patch+json":
            new_scale = patches.json_patch(current, patch)
        else:
            new_scale = patches.merge_patch(current, patch)
    else:
        raise errors.MethodNotAllowed("method not allowed on scale")
    replicas = (new_scale.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        raise errors.Invalid("Scale", name, [errors.invalid_value(
            "spec.replicas", replicas, "must be greater than or equal to 0")], "autoscaling")
    want_rv = (new_scale.get("metadata") or {}).get("resourceVersion")
    if want_rv and want_rv != obj["metadata"]["resourceVersion"]:
        raise errors.Conflict(res.plural, name, res.group)
    obj["spec"]["replicas"] = replicas
    updated = server.store.update(server.key(res),
                                  server.strategy.prepare_update(res, obj, obj), check_rv=False)
    return _json(scale_of(updated))


async def bind(server: ApiServer, request: web.Request, ns: str, name: str) -> web.Response:
    binding = await bodies.read_json(request)
    node = (binding.get("target") or {}).get("name")
    if not node:
        raise errors.Invalid("Binding", name, [errors.required("target.name")])
    pod = server.store.get("pods", ns, name)
    if pod is None:
        raise errors.NotFound("pods", name)
    if pod["spec"].get("nodeName"):
        raise errors.Conflict("pods", name, "", f"pod {name} is already assigned to node "
                              f'"{pod["spec"]["nodeName"]}"')
    pod["spec"]["nodeName"] = node
    conds = [c for c in pod.setdefault("status", {}).get("conditions", [])
             if c.get("type") != "PodScheduled"]
    conds.append({"type": "PodScheduled", "status": "True",
                  "lastProbeTime": None, "lastTransitionTime": now_rfc3339()})
    pod["status"]["conditions"] = conds
    server.store.update("pods", pod, check_rv=False)
    return _json({"kind": "Status", "apiVersion": "v1", "metadata": {},
                  "status": "Success", "code": 201}, 201)
