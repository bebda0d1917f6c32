"""The API server: Kubernetes REST paths over aiohttp, backed by the store.

Routing is generic: one handler per verb, with the resource found in the
resource table, as the apiserver's generic registry does. Handlers raise
`errors.ApiError`; one middleware authenticates and renders errors as
`metav1.Status`. Kind-specific rules live in `strategy`, request decoding in
`bodies`, watch streams in `watch`, and pod streams (exec, attach, logs) in
`streams`.
"""
from __future__ import annotations

import asyncio
import copy
import hmac
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .. import errors, fieldmanager, patches, resources, selectors, tables
from ..config import ClusterConfig
from ..resources import Resource
from ..store import Store, now_rfc3339
from . import bodies, discovery, encoding, streams, subresources, watch
from .strategy import Strategy

log = logging.getLogger("emunet.api")

Obj = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_BODY = 3 * 1024 * 1024  # the apiserver's request limit is 3 MiB
# A typed key: aiohttp warns on string keys (and the tests make warnings errors).
SERVER_KEY: web.AppKey[ApiServer] = web.AppKey("server")


def json_response(body: Any, status: int = 200, content_type: str = "application/json") -> web.Response:
    return encoding.response(encoding.dumps(body), status, content_type)


def wants_table(request: web.Request) -> bool:
    return "as=Table" in request.headers.get("Accept", "")


class ApiServer:
    def __init__(self, cfg: ClusterConfig, store: Store, token: str) -> None:
        self.cfg = cfg
        self.store = store
        self.token = token
        self.strategy = Strategy(cfg, store)
        self.app = web.Application(middlewares=[self._middleware], client_max_size=MAX_BODY)
        self.app[SERVER_KEY] = self
        self._routes()

    # ---- plumbing ------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            # As the apiserver's system:public-info-viewer role allows, these
            # answer anyone (a pod curling https://kubernetes/version, say).
            if request.path not in ("/healthz", "/livez", "/readyz", "/version"):
                self._authenticate(request)
            return await handler(request)
        except errors.ApiError as e:
            return json_response(e.status(), status=e.code)
        except web.HTTPRequestEntityTooLarge:
            e2 = errors.TooLarge("the request body is too large: the limit is 3145728 bytes")
            return json_response(e2.status(), status=413)
        except web.HTTPException as e:
            if e.status == 404:
                err = errors.ApiError("the server could not find the requested resource",
                                      code=404, reason="NotFound")
                return json_response(err.status(), status=404)
            raise
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as e:  # a bug must answer 500, never kill the server
            log.exception("internal error on %s %s", request.method, request.path)
            err = errors.ApiError(f"internal error: {e}")
            return json_response(err.status(), status=500)

    def _authenticate(self, request: web.Request) -> None:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not hmac.compare_digest(
                auth[7:].strip().encode(), self.token.encode()):
            raise errors.Unauthorized()

    def _routes(self) -> None:
        r = self.app.router
        r.add_get("/version", self.version)
        for p in ("/healthz", "/livez", "/readyz"):
            r.add_get(p, self.health)
        r.add_get("/api", self.api_root)
        r.add_get("/apis", self.apis_root)
        r.add_get("/api/v1", self.group_version)
        r.add_get("/apis/{group}", self.group_doc)
        r.add_get("/apis/{group}/{version}", self.group_version)
        r.add_get("/openapi/v2", self.openapi_v2)
        r.add_get("/openapi/v3", self.openapi_root)
        r.add_get("/openapi/v3/api/v1", self.openapi_gv)
        r.add_get("/openapi/v3/apis/{group}/{version}", self.openapi_gv)
        for prefix in ("/api/{version}", "/apis/{group}/{version}"):
            ns = prefix + "/namespaces/{namespace}/{plural}"
            cl = prefix + "/{plural}"
            for base in (ns, cl):
                r.add_route("*", base, self.collection)
                r.add_route("*", base + "/{name}", self.item)
                r.add_route("*", base + "/{name}/{sub}", self.subresource)

    # ---- simple documents ---------------------------------------------

    async def version(self, request: web.Request) -> web.Response:
        return json_response(discovery.version_info())

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def api_root(self, request: web.Request) -> web.Response:
        if "as=APIGroupDiscoveryList" in request.headers.get("Accept", ""):
            return json_response(discovery.aggregated(core=True), content_type=discovery.AGGREGATED)
        host = f"{self.cfg.api_address}:{request.url.port or self.cfg.api_port}"
        return json_response(discovery.api_versions(host))

    async def apis_root(self, request: web.Request) -> web.Response:
        if "as=APIGroupDiscoveryList" in request.headers.get("Accept", ""):
            return json_response(discovery.aggregated(core=False), content_type=discovery.AGGREGATED)
        return json_response(discovery.api_group_list())

    async def group_doc(self, request: web.Request) -> web.Response:
        doc = discovery.api_group(request.match_info["group"])
        if doc is None:
            raise web.HTTPNotFound()
        return json_response(doc)

    async def group_version(self, request: web.Request) -> web.Response:
        doc = discovery.resource_list(request.match_info.get("group", ""),
                                      request.match_info.get("version", "v1"))
        if doc is None:
            raise web.HTTPNotFound()
        return json_response(doc)

    async def openapi_v2(self, request: web.Request) -> web.Response:
        return web.Response(body=discovery.openapi_v2_protobuf(),
                            content_type=discovery.OPENAPI_V2_PROTOBUF)

    async def openapi_root(self, request: web.Request) -> web.Response:
        return json_response(discovery.openapi_root())

    async def openapi_gv(self, request: web.Request) -> web.Response:
        doc = discovery.openapi_group(request.match_info.get("group", ""))
        if doc is None:
            raise web.HTTPNotFound()
        return json_response(doc)

    # ---- resolution ----------------------------------------------------

    def _resource(self, request: web.Request) -> tuple[Resource, str | None]:
        mi = request.match_info
        res = resources.lookup(mi.get("group", ""), mi.get("version", "v1"), mi["plural"])
        if res is None:
            raise web.HTTPNotFound()
        if res.kind in resources.REVIEWS and request.method != "POST":
            raise errors.MethodNotAllowed("the server does not allow this method on the "
                                          "requested resource")
        ns = mi.get("namespace")
        if ns is not None and not res.namespaced:
            raise web.HTTPNotFound()
        if res.namespaced and ns is None and request.method not in ("GET",):
            raise web.HTTPNotFound()
        if ns is not None and res.kind != "Namespace" and request.method in ("POST",):
            if self.store.peek("namespaces", "", ns) is None:
                raise errors.NotFound("namespaces", ns)
        return res, ns

    @staticmethod
    def key(res: Resource) -> str:
        return resources.store_key(res)

    def _get(self, res: Resource, ns: str | None, name: str) -> Obj:
        """A private copy, presented, for a handler that changes it."""
        obj = self.store.get(self.key(res), ns or "", name)
        if obj is None:
            raise errors.NotFound(res.plural, name, res.group)
        return encoding.presented(res, obj)

    def _read(self, request: web.Request, res: Resource, ns: str | None,
              name: str) -> web.Response:
        """A GET of one object: its stored bytes, or a one-row Table; nothing copied."""
        snap = self.store.snapshot(self.key(res), ns or "", name)
        if snap is None:
            raise errors.NotFound(res.plural, name, res.group)
        if wants_table(request):
            return self._render(request, res, encoding.presented(res, snap.obj))
        return encoding.response(encoding.typed(res, snap.body))

    def _render(self, request: web.Request, res: Resource, obj: Obj, status: int = 200) -> web.Response:
        if wants_table(request):
            t = tables.table(res.plural, res.group, [obj], datetime.now(UTC),
                             obj["metadata"].get("resourceVersion", ""),
                             include_object=request.query.get("includeObject", "Metadata"))
            return json_response(t, status)
        return json_response(obj, status)

    # ---- collection: list, watch, create, deletecollection -------------

    async def collection(self, request: web.Request) -> web.StreamResponse:
        res, ns = self._resource(request)
        if request.method == "GET":
            if request.query.get("watch") in ("true", "1"):
                return await watch.serve(self, request, res, ns)
            return self._list(request, res, ns)
        if request.method == "POST":
            return await self._create(request, res, ns)
        if request.method == "DELETE":
            return await self._delete_collection(request, res, ns)
        raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")

    def predicate(self, request: web.Request) -> Callable[[Obj], bool] | None:
        """The request's label and field selectors as one test; None when both are empty,
        so that lists and watches without selectors skip the test altogether."""
        ls = selectors.parse_label_selector(request.query.get("labelSelector", ""))
        fs = selectors.parse_field_selector(request.query.get("fieldSelector", ""))
        if ls.empty and fs.empty:
            return None
        return lambda o: ls.matches(o.get("metadata", {}).get("labels")) and fs.matches(o)

    def _list(self, request: web.Request, res: Resource, ns: str | None) -> web.Response:
        items, rv = self.store.snapshots(self.key(res), ns, self.predicate(request))
        if wants_table(request):
            t = tables.table(res.plural, res.group, [encoding.presented(res, s.obj) for s in items],
                             datetime.now(UTC), str(rv),
                             include_object=request.query.get("includeObject", "Metadata"))
            return json_response(t)
        return encoding.response(encoding.list_of(res, str(rv), (s.body for s in items)))

    async def _create(self, request: web.Request, res: Resource, ns: str | None) -> web.Response:
        obj = await bodies.read_object(request, res)
        if res.kind in resources.REVIEWS:
            return json_response(_review(res, obj), status=201)
        return self._create_object(request, res, ns, obj)

    def _create_object(self, request: web.Request, res: Resource, ns: str | None, obj: Obj,
                       applied: bool = False) -> web.Response:
        meta = obj.setdefault("metadata", {})
        if ns is not None:
            if meta.get("namespace") and meta["namespace"] != ns:
                raise errors.BadRequest("the namespace of the provided object does not match "
                                        "the namespace sent on the request")
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = self._generate_name(res, ns, meta["generateName"])
        for f in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp"):
            meta.pop(f, None)
        obj = self.strategy.prepare_create(res, obj)
        manager = request.query.get("fieldManager")
        if manager and not applied:
            obj["metadata"]["managedFields"] = fieldmanager.record_update(
                None, obj, res.kind, manager, res.api_version, now_rfc3339())
        if request.query.get("dryRun") == "All":
            self.strategy.rollback_create(res, obj)
            if self.store.peek(self.key(res), ns or "", meta["name"]) is not None:
                raise errors.AlreadyExists(res.plural, meta["name"], res.group)
            return self._render(request, res, obj, 201)
        try:
            created = self.store.create(self.key(res), obj)
        except errors.ApiError:
            self.strategy.rollback_create(res, obj)
            raise
        return self._render(request, res, encoding.presented(res, created), 201)

    def _generate_name(self, res: Resource, ns: str | None, prefix: str) -> str:
        import random
        import string
        alphabet = "bcdfghjklmnpqrstvwxz2456789"
        for _ in range(100):
            cand = prefix[:58] + "".join(random.choice(alphabet) for _ in range(5))
            if self.store.peek(self.key(res), ns or "", cand) is None:
                return cand
        del string
        raise errors.AlreadyExists(res.plural, prefix, res.group)

    async def _delete_collection(self, request: web.Request, res: Resource, ns: str | None) -> web.Response:
        opts = await bodies.read_delete_options(request)
        items, _ = self.store.list(self.key(res), ns, self.predicate(request))
        deleted = []
        for o in items:
            try:
                deleted.append(self._delete(res, o["metadata"].get("namespace"), o["metadata"]["name"], opts))
            except errors.NotFound:
                pass
        return json_response({"kind": res.list_kind, "apiVersion": res.api_version,
                              "metadata": {"resourceVersion": str(self.store.resource_version)},
                              "items": deleted})

    # ---- item: get, update, patch, delete ------------------------------

    async def item(self, request: web.Request) -> web.StreamResponse:
        res, ns = self._resource(request)
        name = request.match_info["name"]
        if request.method == "GET":
            return self._read(request, res, ns, name)
        if request.method == "PUT":
            return await self._update(request, res, ns, name, "")
        if request.method == "PATCH":
            return await self._patch(request, res, ns, name, "")
        if request.method == "DELETE":
            opts = await bodies.read_delete_options(request)
            obj = self._delete(res, ns, name, opts)
            return json_response(obj)
        raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")

    async def _update(self, request: web.Request, res: Resource, ns: str | None, name: str,
                      sub: str) -> web.Response:
        obj = await bodies.read_object(request, res)
        meta = obj.setdefault("metadata", {})
        if meta.get("name") and meta["name"] != name:
            raise errors.BadRequest("the name of the object does not match the name on the URL")
        meta["name"] = name
        if ns is not None:
            meta["namespace"] = ns
        old = self._get(res, ns, name)
        return self._write(request, res, obj, old, sub)

    def _write(self, request: web.Request, res: Resource, new: Obj, old: Obj, sub: str,
               check_rv: bool = True, applied: bool = False) -> web.Response:
        if not new["metadata"].get("resourceVersion"):
            check_rv = False
        uid = new["metadata"].get("uid")
        if uid and uid != old["metadata"].get("uid"):
            # A write meant for an object that has since been deleted and made anew under
            # the same name (a StatefulSet's pod, say) must not land on the new one.
            raise errors.Conflict(res.plural, old["metadata"]["name"], res.group,
                                  f"Precondition failed: UID in precondition: {uid}, "
                                  f"UID in object meta: {old['metadata'].get('uid')}")
        # A body without managedFields leaves them as they are; one that changes them
        # sets them (kubectl does, moving client-side apply's fields to server-side apply).
        sets_fields = "managedFields" in new["metadata"] and \
            new["metadata"]["managedFields"] != old["metadata"].get("managedFields")
        if "managedFields" not in new["metadata"] and old["metadata"].get("managedFields"):
            new["metadata"]["managedFields"] = old["metadata"]["managedFields"]
        # Only Services allocate on update; their allocations go back if the write fails.
        saved = self.strategy.allocations() if res.kind == "Service" else None
        try:
            prepared = self.strategy.prepare_update(res, new, old, sub)
            manager = request.query.get("fieldManager")
            if manager and not applied and not sub and not sets_fields:
                prepared["metadata"]["managedFields"] = fieldmanager.record_update(
                    old, prepared, res.kind, manager, res.api_version, now_rfc3339())
            if request.query.get("dryRun") == "All":
                if saved is not None:
                    self.strategy.restore(saved)
                return self._render(request, res, prepared)
            updated = self.store.update(self.key(res), prepared, check_rv=check_rv)
        except errors.ApiError:
            if saved is not None:
                self.strategy.restore(saved)
            raise
        return self._render(request, res, encoding.presented(res, updated))

    async def _patch(self, request: web.Request, res: Resource, ns: str | None, name: str,
                     sub: str) -> web.Response:
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip()
        raw = await request.read()
        if ctype == bodies.APPLY_PATCH:
            return self._apply(request, res, ns, name, sub, bodies.parse_apply(raw, res, name))
        old = self._get(res, ns, name)
        patch = bodies.parse_patch(raw, ctype)
        if ctype == "application/json-patch+json":
            new = patches.json_patch(old, patch)
        elif ctype == "application/merge-patch+json":
            new = patches.merge_patch(old, patch)
        else:
            new = patches.strategic_merge_patch(old, patch, res.kind)
        bodies.check_strict(request, res, new)
        new.setdefault("metadata", {})
        new["metadata"]["name"] = name
        if ns is not None:
            new["metadata"]["namespace"] = ns
        # A patch carries the resourceVersion only when the client wants the check.
        sent_rv = isinstance(patch, dict) and patch.get("metadata", {}).get("resourceVersion")
        return self._write(request, res, new, old, sub, check_rv=bool(sent_rv))

    def _apply(self, request: web.Request, res: Resource, ns: str | None, name: str,
               sub: str, applied: Obj) -> web.Response:
        """Server-side apply (`kubectl apply --server-side`): see emunet.fieldmanager."""
        manager = request.query.get("fieldManager")
        if not manager:
            raise errors.BadRequest("fieldManager is required for apply requests")
        if sub:
            raise errors.MethodNotAllowed(f"server-side apply of the {sub} subresource is not "
                                          "supported by emunet")
        bodies.check_strict(request, res, applied)
        stored = self.store.get(self.key(res), ns or "", name)
        current = None if stored is None else encoding.presented(res, stored)
        force = request.query.get("force") == "true"
        merged = fieldmanager.apply(current, applied, res.kind, manager, res.api_version,
                                    now_rfc3339(), force=force)
        merged["metadata"]["name"] = name
        if current is None:
            return self._create_object(request, res, ns, merged, applied=True)
        if ns is not None:
            merged["metadata"]["namespace"] = ns
        sent_rv = bool((applied.get("metadata") or {}).get("resourceVersion"))
        if not sent_rv:
            merged["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        return self._write(request, res, merged, current, sub, check_rv=sent_rv, applied=True)

    def _delete(self, res: Resource, ns: str | None, name: str, opts: Obj) -> Obj:
        key = self.key(res)
        obj = self.store.get(key, ns or "", name)
        if obj is None:
            raise errors.NotFound(res.plural, name, res.group)
        policy = opts.get("propagationPolicy")
        if opts.get("orphanDependents") is True:
            policy = "Orphan"
        if policy is None and res.kind == "Job":
            # batch/v1 keeps its old default: a bare DELETE leaves the pods (kubectl
            # always asks for Background).
            policy = "Orphan"
        grace = opts.get("gracePeriodSeconds")
        precond = (opts.get("preconditions") or {})
        if precond.get("uid") and precond["uid"] != obj["metadata"]["uid"]:
            raise errors.Conflict(res.plural, name, res.group,
                                  f"Precondition failed: UID in precondition: {precond['uid']}, "
                                  f"UID in object meta: {obj['metadata']['uid']}")
        if policy == "Orphan":
            self._orphan_dependents(obj)
        elif policy == "Foreground":
            fins = obj["metadata"].setdefault("finalizers", [])
            if "foregroundDeletion" not in fins:
                fins.append("foregroundDeletion")
                obj = self.store.update(key, obj, check_rv=False)
        if res.kind == "Pod":
            return encoding.presented(res, self._delete_pod(obj, grace))
        if res.kind == "Namespace":
            return encoding.presented(res, self._delete_namespace(obj))
        if obj["metadata"].get("finalizers"):
            return encoding.presented(res, self.store.mark_deleting(key, ns or "", name, 0))
        removed = self.store.remove(key, ns or "", name)
        if res.kind == "Service":
            self.strategy.release_service(removed)
        return encoding.presented(res, removed)

    def _delete_pod(self, pod: Obj, grace: int | None) -> Obj:
        meta = pod["metadata"]
        ns, name = meta["namespace"], meta["name"]
        if grace is None:
            grace = pod.get("spec", {}).get("terminationGracePeriodSeconds", 30)
        terminal = pod.get("status", {}).get("phase") in ("Succeeded", "Failed")
        # A pod on a node is stopped by its kubelet, which then removes it; one that
        # never ran, or a forced delete, goes at once (as the apiserver does).
        if grace == 0 or not pod.get("spec", {}).get("nodeName") or terminal:
            if meta.get("finalizers"):
                return self.store.mark_deleting("pods", ns, name, 0)
            return self.store.remove("pods", ns, name)
        return self.store.mark_deleting("pods", ns, name, max(int(grace), 1))

    def _delete_namespace(self, obj: Obj) -> Obj:
        name = obj["metadata"]["name"]
        if name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            raise errors.ApiError(f'namespaces "{name}" is forbidden: this namespace may not be '
                                  "deleted", code=403, reason="Forbidden")
        for r in resources.RESOURCES:
            if r.namespaced and r.group != "events.k8s.io":
                for o in self.store.iter_all(self.key(r)):
                    if o["metadata"].get("namespace") == name:
                        removed = self.store.remove(self.key(r), name, o["metadata"]["name"])
                        if r.kind == "Service":
                            self.strategy.release_service(removed)
        return self.store.remove("namespaces", "", name)

    def _orphan_dependents(self, owner: Obj) -> None:
        uid = owner["metadata"]["uid"]
        for r in resources.RESOURCES:
            if not r.namespaced:
                continue
            for o in list(self.store.iter_all(self.key(r))):
                refs = o["metadata"].get("ownerReferences") or []
                if any(ref.get("uid") == uid for ref in refs):
                    dep = copy.deepcopy(o)
                    dep["metadata"]["ownerReferences"] = [x for x in refs if x.get("uid") != uid]
                    if not dep["metadata"]["ownerReferences"]:
                        del dep["metadata"]["ownerReferences"]
                    self.store.update(self.key(r), dep, check_rv=False)

    # ---- subresources --------------------------------------------------

    async def subresource(self, request: web.Request) -> web.StreamResponse:
        res, ns = self._resource(request)
        name, sub = request.match_info["name"], request.match_info["sub"]
        if sub not in res.subresources:
            raise web.HTTPNotFound()
        if sub == "status":
            if request.method == "GET":
                return self._read(request, res, ns, name)
            if request.method == "PUT":
                return await self._update(request, res, ns, name, "status")
            if request.method == "PATCH":
                return await self._patch(request, res, ns, name, "status")
        if sub == "scale":
            return await subresources.scale(self, request, res, ns or "", name)
        if sub == "binding" and request.method == "POST":
            return await subresources.bind(self, request, ns or "", name)
        if sub in ("exec", "attach", "log", "portforward"):
            pod = self._get(res, ns, name)
            return await streams.proxy(self, request, pod, sub)
        raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")


# The one user emunet knows: whoever holds the cluster's token, with every right
# (emunet serves no RBAC), as kind's kubeconfig user is a cluster admin.
USER = {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]}


def _review(res: Resource, obj: Obj) -> Obj:
    """The answer to `kubectl auth can-i` or `kubectl auth whoami`."""
    out = {"kind": res.kind, "apiVersion": res.api_version,
           "metadata": {"creationTimestamp": None}}
    if res.kind == "SelfSubjectReview":
        out["status"] = {"userInfo": USER}
    else:
        out["spec"] = obj.get("spec") or {}
        out["status"] = {"allowed": True,
                         "reason": "emunet serves no RBAC: the cluster's token may do anything"}
    return out
