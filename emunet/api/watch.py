"""Watch streams: newline-delimited JSON events, resumable from a resourceVersion.

A watch with a resourceVersion replays every change after it from the store's
history (so a change between a list and its watch is never lost, which
`kubectl run` depends on) or answers an ERROR event with 410 Expired past the
window. Selectors are applied to both sides of a change, so an object that
stops matching is seen leaving (DELETED), as the apiserver's watch cache does.
For `kubectl get -w` every event carries a one-row Table. Other events are
assembled from the object's bytes as the store encoded them, so an event sent
to every informer of the cluster is never encoded per watcher.
"""
from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .. import errors, tables
from ..resources import Resource
from ..store import Event
from . import encoding

if TYPE_CHECKING:
    from .server import ApiServer

BOOKMARK_SECONDS = 5.0
BATCH_EVENTS = 256  # events joined into one write at most


async def serve(server: ApiServer, request: web.Request, res: Resource,
                ns: str | None) -> web.StreamResponse:
    q = request.query
    rv_text = q.get("resourceVersion", "")
    since: int | None
    try:
        since = int(rv_text) if rv_text not in ("", "0") else None
    except ValueError:
        raise errors.BadRequest(f"invalid resourceVersion {rv_text!r}") from None
    timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else None
    bookmarks = q.get("allowWatchBookmarks") == "true"
    as_table = "as=Table" in request.headers.get("Accept", "")
    include = q.get("includeObject", "Metadata")
    matches = server.predicate(request)
    key = server.key(res)

    resp = web.StreamResponse(headers={"Content-Type": "application/json",
                                       "Transfer-Encoding": "chunked"})
    try:
        watcher, backlog = server.store.watch(key, ns, since)
    except errors.Gone as e:
        await resp.prepare(request)
        await resp.write(_line({"type": "ERROR", "object": e.status()}))
        await resp.write_eof()
        return resp
    try:
        await resp.prepare(request)
    except ConnectionResetError:  # the client left before the stream began
        server.store.unwatch(watcher)
        return resp
    first_table = [True]

    def render(ev: Event) -> bytes | None:
        etype = ev.type
        if matches is not None:
            now_match = matches(ev.obj)
            was_match = ev.old is not None and matches(ev.old)
            if etype == "MODIFIED":
                if now_match and not was_match:
                    etype = "ADDED"
                elif was_match and not now_match:
                    etype = "DELETED"
                elif not now_match:
                    return None
            elif not now_match:
                return None
        if not as_table:
            return encoding.watch_event(etype, encoding.typed(res, ev.body))
        obj = encoding.presented(res, ev.obj)
        body: Any = tables.table(res.plural, res.group, [obj], datetime.now(UTC),
                                 str(ev.rv), include_object=include,
                                 with_columns=first_table[0])
        first_table[0] = False
        return _line({"type": etype, "object": body})

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout if timeout else None
    last_rv = since or server.store.resource_version
    try:
        out: list[bytes] = []
        for ev in backlog:
            data = render(ev)
            last_rv = max(last_rv, ev.rv)
            if data:
                out.append(data)
                if len(out) >= BATCH_EVENTS:
                    await resp.write(b"".join(out))
                    out = []
        if out:
            await resp.write(b"".join(out))
        while True:
            # aiohttp does not cancel a handler whose client left, and a watch that
            # writes nothing (no bookmarks, no matching event) would never find out
            # by writing: look at the connection instead.
            if request.transport is None or request.transport.is_closing():
                break
            if watcher.queue.empty():
                wait = BOOKMARK_SECONDS
                if deadline is not None:
                    wait = min(wait, deadline - loop.time())
                    if wait <= 0:
                        break
                try:
                    first = await asyncio.wait_for(watcher.queue.get(), wait)
                except TimeoutError:
                    if bookmarks:
                        await resp.write(_line({"type": "BOOKMARK", "object": {
                            "kind": res.kind, "apiVersion": res.api_version,
                            "metadata": {"resourceVersion": str(max(last_rv, server.store.resource_version))}}}))
                    continue
                batch = [first]
            else:
                batch = []
            # What is already queued goes out in one write: a burst of changes costs
            # one TLS record and one send per watcher, not one per event.
            while len(batch) < BATCH_EVENTS and not watcher.queue.empty():
                batch.append(watcher.queue.get_nowait())
            out, closed = [], False
            for queued in batch:
                if queued is None:  # the store closed this watch
                    closed = True
                    break
                last_rv = queued.rv
                data = render(queued)
                if data:
                    out.append(data)
            if out:
                await resp.write(b"".join(out))
            if closed:
                break
    except ConnectionResetError:
        pass
    finally:
        server.store.unwatch(watcher)
    try:
        await resp.write_eof()
    except (ConnectionResetError, RuntimeError):
        pass
    return resp


def _line(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"
