"""The API client every component uses: REST verbs and informers over HTTPS.

Components reach the cluster only through this client, as Kubernetes
components reach the apiserver only through client-go. An informer lists,
then watches from the list's resourceVersion, keeps a cache, and relists on
410 Gone or a broken stream (kopf's and client-go's reflector loop), calling
the handlers with (event type, object, old object). Components that share a
client share informers too (`Informer.shared`, client-go's shared informer
factory): the controllers in the daemon hold one watch and one cache of pods
between them, not one each, so a pod event is sent, decoded and kept once.
Handlers must therefore treat cached objects as read only, as client-go's do.

Requests, events and watches use separate connection pools. A watch holds
its connection for as long as it runs; requests share a few keep-alive
connections, so a burst of them queues for a warm connection instead of
opening, and TLS-handshaking, one connection per request, which costs both
ends more than the requests themselves (client-go gets the same from HTTP/2,
which multiplexes every request on one connection). Events have a pool of
their own, as client-go records them through a broadcaster apart from its
requests: a node starting fifty pods posts a hundred and fifty events, which
must not queue ahead of the status writes that make those pods Ready.
"""
from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from . import resources, tasks
from .resources import Resource

log = logging.getLogger("emunet.client")
Obj = dict[str, Any]
Handler = Callable[[str, Obj, Obj | None], Awaitable[None] | None]
REQUEST_CONNECTIONS = 8  # requests in flight at once per client
EVENT_CONNECTIONS = 2  # event posts in flight at once per client


class ApiException(Exception):
    def __init__(self, status: int, body: Any) -> None:
        msg = body.get("message") if isinstance(body, dict) else str(body)
        super().__init__(f"{status}: {msg}")
        self.message = msg
        self.status = status
        self.body = body
        self.reason = body.get("reason", "") if isinstance(body, dict) else ""


@dataclass(frozen=True)
class Credentials:
    server: str
    token: str
    ca_file: str | None = None
    # A Unix socket the API server also listens on, for clients in the daemon's own
    # process: the same HTTP API, without TLS handshakes and TCP on every request.
    socket: str | None = None

    @classmethod
    def from_file(cls, path: Path) -> Credentials:
        data = json.loads(path.read_text())
        return cls(data["server"], data["token"], data.get("ca"))

    def write(self, path: Path) -> None:
        path.write_text(json.dumps({"server": self.server, "token": self.token,
                                    "ca": self.ca_file}))
        path.chmod(0o600)


class Client:
    def __init__(self, creds: Credentials) -> None:
        self.creds = creds
        self._session: aiohttp.ClientSession | None = None
        self._watch_session: aiohttp.ClientSession | None = None
        self._event_session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | bool | None = None
        self.informers: dict[tuple[str, str, str | None, str, str], Informer] = {}

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def session(self) -> aiohttp.ClientSession:
        """The session for requests: a small pool of keep-alive connections."""
        if self._session is None or self._session.closed:
            self._session = self._new_session(REQUEST_CONNECTIONS)
        return self._session

    def event_session(self) -> aiohttp.ClientSession:
        """The session for recording events, apart from the requests that change objects."""
        if self._event_session is None or self._event_session.closed:
            self._event_session = self._new_session(EVENT_CONNECTIONS)
        return self._event_session

    def watch_session(self) -> aiohttp.ClientSession:
        """The session for watches: one connection each, as many as there are watches."""
        if self._watch_session is None or self._watch_session.closed:
            self._watch_session = self._new_session(0)
        return self._watch_session

    def _new_session(self, limit: int) -> aiohttp.ClientSession:
        if self._ssl is None:
            # One context for every pool: loading the CA file is the costly part.
            self._ssl = False
            if self.creds.ca_file:
                self._ssl = ssl.create_default_context(cafile=self.creds.ca_file)
        conn: aiohttp.BaseConnector
        base_url = self.creds.server
        if self.creds.socket:
            conn = aiohttp.UnixConnector(path=self.creds.socket, limit=limit)
            base_url = "http://localhost"
        else:
            conn = aiohttp.TCPConnector(ssl=self._ssl, limit=limit)
        return aiohttp.ClientSession(
            base_url=base_url, connector=conn,
            headers={"Authorization": f"Bearer {self.creds.token}"},
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5))

    async def close(self) -> None:
        for session in (self._session, self._event_session, self._watch_session):
            if session is not None:
                await session.close()

    async def request(self, method: str, path: str, *, body: Any = None,
                      params: dict[str, str] | None = None,
                      content_type: str = "application/json",
                      session: aiohttp.ClientSession | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": content_type} if data is not None else {}
        async with (session or self.session()).request(method, path, data=data, params=params,
                                                       headers=headers) as resp:
            text = await resp.read()
            try:
                payload = json.loads(text) if text else None
            except ValueError:
                payload = text.decode(errors="replace")
            if resp.status >= 400:
                raise ApiException(resp.status, payload)
            return payload

    # ---- typed verbs ---------------------------------------------------

    async def get(self, res: Resource, name: str, namespace: str | None = None) -> Obj:
        return await self.request("GET", res.path(namespace, name))

    async def list(self, res: Resource, namespace: str | None = None,
                   label_selector: str = "", field_selector: str = "") -> Obj:
        params = {}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        return await self.request("GET", res.path(namespace), params=params)

    async def create(self, res: Resource, obj: Obj, namespace: str | None = None) -> Obj:
        ns = namespace or obj.get("metadata", {}).get("namespace")
        return await self.request("POST", res.path(ns), body=obj)

    async def update(self, res: Resource, obj: Obj, subresource: str = "") -> Obj:
        meta = obj["metadata"]
        path = res.path(meta.get("namespace"), meta["name"])
        if subresource:
            path += "/" + subresource
        return await self.request("PUT", path, body=obj)

    async def patch(self, res: Resource, name: str, patch: Any, namespace: str | None = None,
                    subresource: str = "", kind: str = "merge") -> Obj:
        path = res.path(namespace, name) + (f"/{subresource}" if subresource else "")
        ctype = {"merge": "application/merge-patch+json",
                 "strategic": "application/strategic-merge-patch+json",
                 "json": "application/json-patch+json"}[kind]
        return await self.request("PATCH", path, body=patch, content_type=ctype)

    async def delete(self, res: Resource, name: str, namespace: str | None = None,
                     grace: int | None = None, propagation: str | None = None,
                     uid: str | None = None) -> Obj | None:
        opts: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace is not None:
            opts["gracePeriodSeconds"] = grace
        if propagation:
            opts["propagationPolicy"] = propagation
        if uid:
            opts["preconditions"] = {"uid": uid}
        try:
            return await self.request("DELETE", res.path(namespace, name), body=opts)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    async def event(self, involved: Obj, reason: str, message: str, type_: str = "Normal",
                    component: str = "emunet", host: str | None = None) -> None:
        """Record an Event about an object (best effort, as client-go's recorder is)."""
        from .store import now_rfc3339
        meta = involved["metadata"]
        ns = meta.get("namespace") or "default"
        now = now_rfc3339()
        # A name as client-go's recorder makes it (<object>.<hex nanoseconds>):
        # a generateName ending in "." would be an invalid prefix.
        import time as _time
        ev = {"metadata": {"name": f"{meta['name']}.{_time.time_ns():x}", "namespace": ns},
              "involvedObject": {"kind": involved.get("kind"),
                                 "apiVersion": involved.get("apiVersion"),
                                 "name": meta["name"], "namespace": meta.get("namespace"),
                                 "uid": meta.get("uid"),
                                 "resourceVersion": meta.get("resourceVersion")},
              "reason": reason, "message": message, "type": type_,
              "source": {"component": component, **({"host": host} if host else {})},
              "firstTimestamp": now, "lastTimestamp": now, "count": 1,
              "reportingComponent": component, "reportingInstance": host or ""}
        try:
            await self.request("POST", f"/api/v1/namespaces/{ns}/events", body=ev,
                               session=self.event_session())
        except (ApiException, aiohttp.ClientError) as e:
            log.debug("event not recorded: %s", e)

    async def watch(self, res: Resource, namespace: str | None, resource_version: str,
                    label_selector: str = "", field_selector: str = ""):
        params = {"watch": "true", "resourceVersion": resource_version,
                  "allowWatchBookmarks": "true"}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        async with self.watch_session().get(res.path(namespace), params=params) as resp:
            if resp.status >= 400:
                raise ApiException(resp.status, await resp.json(content_type=None))
            buf = b""
            async for chunk in resp.content.iter_any():
                # One split per chunk: a chunk may carry many events, and splitting
                # them off one at a time would copy the rest of the chunk each time.
                lines = (buf + chunk).split(b"\n")
                buf = lines.pop()
                for line in lines:
                    if line.strip():
                        yield json.loads(line)


class Informer:
    """A cache of one resource kept current by list+watch, with change handlers."""

    def __init__(self, client: Client, res: Resource | str, namespace: str | None = None,
                 label_selector: str = "", field_selector: str = "") -> None:
        self.client = client
        self.res = _resource(res)
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.cache: dict[tuple[str, str], Obj] = {}
        self.handlers: list[Handler] = []
        self.synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._users = 0
        self._late: set[asyncio.Task[Any]] = set()

    @classmethod
    def shared(cls, client: Client, res: Resource | str, namespace: str | None = None,
               label_selector: str = "", field_selector: str = "") -> Informer:
        """The informer of this client for this selection, made on first use."""
        r = _resource(res)
        key = (r.group, r.plural, namespace, label_selector, field_selector)
        inf = client.informers.get(key)
        if inf is None:
            inf = client.informers[key] = cls(client, r, namespace, label_selector,
                                              field_selector)
        return inf

    def add_handler(self, handler: Handler) -> None:
        self.handlers.append(handler)
        # A handler added to a running shared informer first sees what it holds.
        for obj in list(self.cache.values()):
            r = handler("ADDED", obj, None)
            if asyncio.iscoroutine(r):
                tasks.spawn(r, f"informer-{self.res.plural}-replay", owner=self._late)

    def items(self) -> list[Obj]:
        return list(self.cache.values())

    def get(self, namespace: str, name: str) -> Obj | None:
        return self.cache.get((namespace or "", name))

    def start(self) -> asyncio.Task[None]:
        """Start, or join if already running; each start is matched by a `stop`."""
        self._users += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"informer-{self.res.plural}")
        return self._task

    async def stop(self) -> None:
        self._users = max(self._users - 1, 0)
        if self._users:
            return  # another user of a shared informer still needs it
        await tasks.cancel_and_wait(self._task)

    async def _dispatch(self, etype: str, obj: Obj, old: Obj | None) -> None:
        for h in self.handlers:
            try:
                r = h(etype, obj, old)
                if asyncio.iscoroutine(r):
                    await r
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("handler of %s failed", self.res.plural)

    @staticmethod
    def _key(obj: Obj) -> tuple[str, str]:
        m = obj["metadata"]
        return (m.get("namespace", ""), m["name"])

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            try:
                lst = await self.client.list(self.res, self.namespace, self.label_selector,
                                             self.field_selector)
                fresh = {self._key(o): o for o in lst["items"]}
                for k, old in list(self.cache.items()):
                    if k not in fresh:
                        del self.cache[k]
                        await self._dispatch("DELETED", old, None)
                for k, o in fresh.items():
                    prev = self.cache.get(k)
                    self.cache[k] = o
                    if prev is None:
                        await self._dispatch("ADDED", o, None)
                    elif prev["metadata"].get("resourceVersion") != o["metadata"].get("resourceVersion"):
                        await self._dispatch("MODIFIED", o, prev)
                self.synced.set()
                rv = lst["metadata"]["resourceVersion"]
                backoff = 0.05
                async for ev in self.client.watch(self.res, self.namespace, rv,
                                                  self.label_selector, self.field_selector):
                    etype, obj = ev["type"], ev["object"]
                    if etype == "BOOKMARK":
                        continue
                    if etype == "ERROR":
                        break
                    k = self._key(obj)
                    prev = self.cache.get(k)
                    if etype == "DELETED":
                        self.cache.pop(k, None)
                    else:
                        self.cache[k] = obj
                    await self._dispatch(etype, obj, prev)
            except asyncio.CancelledError:
                raise
            except (TimeoutError, aiohttp.ClientError, ApiException, OSError, ValueError) as e:
                log.debug("informer %s: %s; relisting", self.res.plural, e)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)


def _resource(res: Resource | str) -> Resource:
    """A resource, or its plural ("pods") or group-qualified plural ("apps/deployments")."""
    if isinstance(res, Resource):
        return res
    if "/" in res:
        return resources.by_plural(*res.split("/")[::-1])
    return resources.by_plural(res)
