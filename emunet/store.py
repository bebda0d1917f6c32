"""The object store: Kubernetes-shaped dicts, durable in SQLite, with watch history.

Like etcd under the apiserver, the store knows nothing of kinds beyond their
store key: it assigns uid, resourceVersion (one counter for the whole store,
so that a list's resourceVersion orders every change), creationTimestamp and
generation, enforces optimistic concurrency, and keeps a bounded history of
changes so that a watch can resume from a resourceVersion without losing an
event, answering 410 Gone once that version has left the window.

Every write reaches SQLite (WAL mode) before it returns, so an acknowledged
object survives `kill -9` of the daemon. `synchronous=NORMAL` is enough for
that (WAL commits survive a process crash; only a power loss can cost the last
transactions), and keeps a write well under a millisecond.

Each object is serialised once per write, as the watch cache keeps encoded
objects: the same bytes go to SQLite, into every watch event and list that
carries the object, so a read costs no copy and no re-encoding. Stored objects
are immutable: a write replaces the object, never changes it, so readers
(`snapshot`, `peek`, watch events) share it without copying, while `get`,
`list` and the writes hand out private copies decoded from those bytes. The
bytes are the object's body without its type meta (apiVersion, kind): those
are the API server's to present, for the resource the object is served as.
"""
from __future__ import annotations

import asyncio
import builtins
import collections
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import errors

Obj = dict[str, Any]
Filter = Callable[[Obj], bool]


TYPE_META = ("apiVersion", "kind")

_clock: list[Any] = [0, ""]


def now_rfc3339() -> str:
    # RFC 3339 timestamps have whole seconds: format each second once, not per write.
    t = int(time.time())
    if t != _clock[0]:
        _clock[0], _clock[1] = t, datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _clock[1]


def encode(obj: Obj) -> bytes:
    """The stored form of an object: compact JSON of its body, without type meta."""
    if "apiVersion" in obj or "kind" in obj:
        obj = {k: v for k, v in obj.items() if k not in TYPE_META}
    return json.dumps(obj, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A stored object and its encoded body; both are shared: never change them."""

    obj: Obj
    body: bytes


@dataclass(frozen=True)
class Event:
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    key: str
    namespace: str
    obj: Obj  # the stored object (shared: read only)
    old: Obj | None = None
    body: bytes = b""  # `obj` encoded, as `encode` does


class Watcher:
    """One subscriber: a queue of events for one store key, filtered by namespace."""

    def __init__(self, key: str, namespace: str | None, predicate: Filter | None) -> None:
        self.key = key
        self.namespace = namespace
        self.predicate = predicate
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()

    def wants(self, ev: Event) -> bool:
        if ev.key != self.key:
            return False
        if self.namespace and ev.namespace != self.namespace:
            return False
        return True


class Store:
    def __init__(self, path: Path | None, history: int = 20000) -> None:
        self._objects: dict[str, dict[tuple[str, str], Obj]] = collections.defaultdict(dict)
        self._bodies: dict[str, dict[tuple[str, str], bytes]] = collections.defaultdict(dict)
        self._history: collections.deque[Event] = collections.deque(maxlen=history)
        # By store key, so a write looks only at the watchers of its own kind.
        self._watchers: dict[str, set[Watcher]] = collections.defaultdict(set)
        self._rv = 0
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._open(path)

    # ---- persistence -------------------------------------------------------

    def _open(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE IF NOT EXISTS objects (key TEXT, ns TEXT, name TEXT, "
                   "data TEXT, PRIMARY KEY (key, ns, name))")
        db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER)")
        row = db.execute("SELECT v FROM meta WHERE k='rv'").fetchone()
        self._rv = int(row[0]) if row else 0
        for key, ns, name, data in db.execute("SELECT key, ns, name, data FROM objects"):
            obj = json.loads(data)
            body = data.encode() if isinstance(data, str) else bytes(data)
            if "apiVersion" in obj or "kind" in obj:  # written before type meta was left out
                obj = {k: v for k, v in obj.items() if k not in TYPE_META}
                body = encode(obj)
            self._objects[key][(ns, name)] = obj
            self._bodies[key][(ns, name)] = body
        self._db = db

    def _persist(self, key: str, ns: str, name: str, body: bytes | None) -> None:
        if self._db is None:
            return
        db = self._db
        db.execute("BEGIN")
        try:
            if body is None:
                db.execute("DELETE FROM objects WHERE key=? AND ns=? AND name=?", (key, ns, name))
            else:
                db.execute("INSERT OR REPLACE INTO objects VALUES (?,?,?,?)",
                           (key, ns, name, body.decode()))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('rv', ?)", (self._rv,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        for ws in self._watchers.values():
            for w in ws:
                w.queue.put_nowait(None)
        if self._db is not None:
            self._db.close()
            self._db = None

    # ---- reads -------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, key: str, namespace: str, name: str) -> Obj | None:
        """A private copy of the object, the caller's to change."""
        body = self._bodies[key].get((namespace, name))
        return json.loads(body) if body is not None else None

    def peek(self, key: str, namespace: str, name: str) -> Obj | None:
        """The stored object itself, not a copy: callers must not change it."""
        return self._objects[key].get((namespace, name))

    def snapshot(self, key: str, namespace: str, name: str) -> Snapshot | None:
        """The stored object and its encoded body, shared: callers must not change them."""
        k = (namespace, name)
        obj = self._objects[key].get(k)
        return Snapshot(obj, self._bodies[key][k]) if obj is not None else None

    def snapshots(self, key: str, namespace: str | None = None,
                  predicate: Filter | None = None) -> tuple[list[Snapshot], int]:
        """As `list`, without copies: each object shared with its encoded body."""
        bodies = self._bodies[key]
        items = []
        for k, obj in sorted(self._objects[key].items(), key=_by_key):
            if namespace and k[0] != namespace:
                continue
            if predicate is not None and not predicate(obj):
                continue
            items.append(Snapshot(obj, bodies[k]))
        return items, self._rv

    def list(self, key: str, namespace: str | None = None,
             predicate: Filter | None = None) -> tuple[list[Obj], int]:
        """Private copies of the objects that match, by (namespace, name)."""
        items, rv = self.snapshots(key, namespace, predicate)
        return [json.loads(s.body) for s in items], rv

    def iter_all(self, key: str) -> Iterable[Obj]:
        """The stored objects themselves: callers must not change them."""
        return list(self._objects[key].values())

    # ---- writes ------------------------------------------------------------

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _commit(self, key: str, ns: str, name: str, obj: Obj) -> tuple[Obj, bytes]:
        """Persist and keep `obj`; what is kept is decoded from the bytes written, so
        it shares nothing with the caller and is exactly what a restart reads back."""
        body = encode(obj)
        self._persist(key, ns, name, body)
        stored = json.loads(body)
        self._objects[key][(ns, name)] = stored
        self._bodies[key][(ns, name)] = body
        return stored, body

    def create(self, key: str, obj: Obj) -> Obj:
        meta = obj.setdefault("metadata", {})
        ns, name = meta.get("namespace", ""), meta["name"]
        if (ns, name) in self._objects[key]:
            raise errors.AlreadyExists(key.split("/")[-1], name, _group(key))
        # Only the top level and metadata change here; `_commit` copies the rest.
        obj = _shallow(obj)
        meta = obj["metadata"]
        meta["uid"] = meta.get("uid") or str(uuid.uuid4())
        meta["creationTimestamp"] = meta.get("creationTimestamp") or now_rfc3339()
        if "spec" in obj:
            meta.setdefault("generation", 1)
        meta.pop("deletionTimestamp", None)
        rv = self._next_rv()
        meta["resourceVersion"] = str(rv)
        stored, body = self._commit(key, ns, name, obj)
        self._emit(Event(rv, "ADDED", key, ns, stored, None, body))
        return json.loads(body)

    def update(self, key: str, obj: Obj, *, check_rv: bool = True) -> Obj:
        meta = obj["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        old = self._objects[key].get((ns, name))
        if old is None:
            raise errors.NotFound(key.split("/")[-1], name, _group(key))
        want = meta.get("resourceVersion")
        if check_rv and want and want != old["metadata"]["resourceVersion"]:
            raise errors.Conflict(key.split("/")[-1], name, _group(key))
        obj = _shallow(obj)
        meta = obj["metadata"]
        # Identity fields are the store's, whatever the client sent.
        for f in ("uid", "creationTimestamp"):
            meta[f] = old["metadata"][f]
        if "deletionTimestamp" in old["metadata"]:
            meta["deletionTimestamp"] = old["metadata"]["deletionTimestamp"]
            if "deletionGracePeriodSeconds" in old["metadata"]:
                meta["deletionGracePeriodSeconds"] = old["metadata"]["deletionGracePeriodSeconds"]
        if "spec" in obj:
            gen = old["metadata"].get("generation", 1)
            if _spec_changed(old, obj):
                gen += 1
            meta["generation"] = gen
        if _same(old, obj):
            return json.loads(self._bodies[key][(ns, name)])
        # As the apiserver's shouldDeleteDuringUpdate: only once no finalizer is left and
        # the grace period is over, so a terminating pod's status updates keep it.
        if (meta.get("deletionTimestamp") and not meta.get("finalizers")
                and not meta.get("deletionGracePeriodSeconds")):
            self.remove(key, ns, name)
            meta["resourceVersion"] = str(self._rv)
            return json.loads(encode(obj))
        rv = self._next_rv()
        meta["resourceVersion"] = str(rv)
        stored, body = self._commit(key, ns, name, obj)
        self._emit(Event(rv, "MODIFIED", key, ns, stored, old, body))
        return json.loads(body)

    def mark_deleting(self, key: str, namespace: str, name: str,
                      grace: int | None = None) -> Obj:
        """Set deletionTimestamp, as a graceful delete or a finalizer-held one does."""
        old = self._objects[key].get((namespace, name))
        if old is None:
            raise errors.NotFound(key.split("/")[-1], name, _group(key))
        if old["metadata"].get("deletionTimestamp"):
            # A second delete may only shorten the grace period (the kubelet's final
            # delete with 0), as the apiserver's graceful deletion allows.
            current = old["metadata"].get("deletionGracePeriodSeconds")
            if grace is None or current is None or grace >= current:
                return json.loads(self._bodies[key][(namespace, name)])
        obj = _shallow(old)
        obj["metadata"].setdefault("deletionTimestamp", now_rfc3339())
        if grace is not None:
            obj["metadata"]["deletionGracePeriodSeconds"] = grace
        rv = self._next_rv()
        obj["metadata"]["resourceVersion"] = str(rv)
        stored, body = self._commit(key, namespace, name, obj)
        self._emit(Event(rv, "MODIFIED", key, namespace, stored, old, body))
        return json.loads(body)

    def remove(self, key: str, namespace: str, name: str) -> Obj:
        old = self._objects[key].get((namespace, name))
        if old is None:
            raise errors.NotFound(key.split("/")[-1], name, _group(key))
        rv = self._next_rv()
        # The last state with the deletion's version; it shares the rest with `old`,
        # which no one changes.
        obj = _shallow(old)
        obj["metadata"]["resourceVersion"] = str(rv)
        body = encode(obj)
        self._persist(key, namespace, name, None)
        del self._objects[key][(namespace, name)]
        del self._bodies[key][(namespace, name)]
        self._emit(Event(rv, "DELETED", key, namespace, obj, None, body))
        return json.loads(body)

    # ---- watch -------------------------------------------------------------

    def _emit(self, ev: Event) -> None:
        self._history.append(ev)
        for w in self._watchers.get(ev.key, ()):
            if w.wants(ev):
                w.queue.put_nowait(ev)

    # `builtins.list`: inside this class `list` names the method above.
    def watch(self, key: str, namespace: str | None, since: int | None,
              predicate: Filter | None = None) -> tuple[Watcher, builtins.list[Event]]:
        """Subscribe, and return the events after `since` still owed to the watcher.

        `since=None` means "from now, starting with the current objects as ADDED",
        as the apiserver does for a watch without a resourceVersion (or "0").
        """
        w = Watcher(key, namespace, predicate)
        backlog: list[Event] = []
        if since is None:
            for s in self.snapshots(key, namespace)[0]:
                backlog.append(Event(int(s.obj["metadata"]["resourceVersion"]), "ADDED",
                                     key, s.obj["metadata"].get("namespace", ""), s.obj,
                                     None, s.body))
        elif since < self._rv:
            oldest = self._history[0].rv if self._history else self._rv + 1
            if since < oldest - 1:
                raise errors.Gone(f"too old resource version: {since} ({oldest - 1})")
            for ev in self._history:
                if ev.rv > since and w.wants(ev):
                    backlog.append(ev)
        self._watchers[key].add(w)
        return w, backlog

    def unwatch(self, w: Watcher) -> None:
        ws = self._watchers.get(w.key)
        if ws is not None:
            ws.discard(w)
            if not ws:
                del self._watchers[w.key]


def _by_key(item: tuple[tuple[str, str], Obj]) -> tuple[str, str]:
    return item[0]


def _shallow(obj: Obj) -> Obj:
    """A copy of the top level and of metadata, the only parts a write sets."""
    out = dict(obj)
    out["metadata"] = dict(obj.get("metadata") or {})
    return out


def _group(key: str) -> str:
    return key.split("/")[0] if "/" in key else ""


def _spec_changed(old: Obj, new: Obj) -> bool:
    return old.get("spec") != new.get("spec")


def _same(old: Obj, new: Obj) -> bool:
    a = {k: v for k, v in old.items() if k != "metadata" and k not in TYPE_META}
    b = {k: v for k, v in new.items() if k != "metadata" and k not in TYPE_META}
    ma = {k: v for k, v in old["metadata"].items() if k != "resourceVersion"}
    mb = {k: v for k, v in new["metadata"].items() if k != "resourceVersion"}
    return a == b and ma == mb
