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
"""
from __future__ import annotations

import asyncio
import collections
import copy
import json
import sqlite3
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import errors

Obj = dict[str, Any]
Filter = Callable[[Obj], bool]


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Event:
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    key: str
    namespace: str
    obj: Obj
    old: Obj | None = None


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
        self._history: collections.deque[Event] = collections.deque(maxlen=history)
        self._watchers: set[Watcher] = set()
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
            self._objects[key][(ns, name)] = json.loads(data)
        self._db = db

    def _persist(self, key: str, ns: str, name: str, obj: Obj | None) -> None:
        if self._db is None:
            return
        db = self._db
        db.execute("BEGIN")
        try:
            if obj is None:
                db.execute("DELETE FROM objects WHERE key=? AND ns=? AND name=?", (key, ns, name))
            else:
                db.execute("INSERT OR REPLACE INTO objects VALUES (?,?,?,?)",
                           (key, ns, name, json.dumps(obj, separators=(",", ":"))))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('rv', ?)", (self._rv,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        for w in list(self._watchers):
            w.queue.put_nowait(None)
        if self._db is not None:
            self._db.close()
            self._db = None

    # ---- reads -------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        return self._rv

    def get(self, key: str, namespace: str, name: str) -> Obj | None:
        obj = self._objects[key].get((namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def peek(self, key: str, namespace: str, name: str) -> Obj | None:
        """The stored object itself, not a copy: callers must not change it."""
        return self._objects[key].get((namespace, name))

    def list(self, key: str, namespace: str | None = None,
             predicate: Filter | None = None) -> tuple[list[Obj], int]:
        items = []
        for (ns, _name), obj in sorted(self._objects[key].items()):
            if namespace and ns != namespace:
                continue
            if predicate is not None and not predicate(obj):
                continue
            items.append(copy.deepcopy(obj))
        return items, self._rv

    def iter_all(self, key: str) -> Iterable[Obj]:
        return list(self._objects[key].values())

    # ---- writes ------------------------------------------------------------

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def create(self, key: str, obj: Obj) -> Obj:
        meta = obj.setdefault("metadata", {})
        ns, name = meta.get("namespace", ""), meta["name"]
        if (ns, name) in self._objects[key]:
            raise errors.AlreadyExists(key.split("/")[-1], name, _group(key))
        obj = copy.deepcopy(obj)
        meta = obj["metadata"]
        meta["uid"] = meta.get("uid") or str(uuid.uuid4())
        meta["creationTimestamp"] = meta.get("creationTimestamp") or now_rfc3339()
        if "spec" in obj:
            meta.setdefault("generation", 1)
        meta.pop("deletionTimestamp", None)
        rv = self._next_rv()
        meta["resourceVersion"] = str(rv)
        self._persist(key, ns, name, obj)
        self._objects[key][(ns, name)] = obj
        self._emit(Event(rv, "ADDED", key, ns, obj))
        return copy.deepcopy(obj)

    def update(self, key: str, obj: Obj, *, check_rv: bool = True) -> Obj:
        meta = obj["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        old = self._objects[key].get((ns, name))
        if old is None:
            raise errors.NotFound(key.split("/")[-1], name, _group(key))
        want = meta.get("resourceVersion")
        if check_rv and want and want != old["metadata"]["resourceVersion"]:
            raise errors.Conflict(key.split("/")[-1], name, _group(key))
        obj = copy.deepcopy(obj)
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
            return copy.deepcopy(old)
        # As the apiserver's shouldDeleteDuringUpdate: only once no finalizer is left and
        # the grace period is over, so a terminating pod's status updates keep it.
        if (meta.get("deletionTimestamp") and not meta.get("finalizers")
                and not meta.get("deletionGracePeriodSeconds")):
            self.remove(key, ns, name)
            obj["metadata"]["resourceVersion"] = str(self._rv)
            return obj
        rv = self._next_rv()
        meta["resourceVersion"] = str(rv)
        self._persist(key, ns, name, obj)
        self._objects[key][(ns, name)] = obj
        self._emit(Event(rv, "MODIFIED", key, ns, obj, old))
        return copy.deepcopy(obj)

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
                return copy.deepcopy(old)
        obj = copy.deepcopy(old)
        obj["metadata"].setdefault("deletionTimestamp", now_rfc3339())
        if grace is not None:
            obj["metadata"]["deletionGracePeriodSeconds"] = grace
        rv = self._next_rv()
        obj["metadata"]["resourceVersion"] = str(rv)
        self._persist(key, namespace, name, obj)
        self._objects[key][(namespace, name)] = obj
        self._emit(Event(rv, "MODIFIED", key, namespace, obj, old))
        return copy.deepcopy(obj)

    def remove(self, key: str, namespace: str, name: str) -> Obj:
        old = self._objects[key].get((namespace, name))
        if old is None:
            raise errors.NotFound(key.split("/")[-1], name, _group(key))
        rv = self._next_rv()
        obj = copy.deepcopy(old)
        obj["metadata"]["resourceVersion"] = str(rv)
        self._persist(key, namespace, name, None)
        del self._objects[key][(namespace, name)]
        self._emit(Event(rv, "DELETED", key, namespace, obj))
        return copy.deepcopy(obj)

    # ---- watch -------------------------------------------------------------

    def _emit(self, ev: Event) -> None:
        self._history.append(ev)
        for w in list(self._watchers):
            if w.wants(ev):
                w.queue.put_nowait(ev)

    def watch(self, key: str, namespace: str | None, since: int | None,
              predicate: Filter | None = None) -> tuple[Watcher, list[Event]]:
        """Subscribe, and return the events after `since` still owed to the watcher.

        `since=None` means "from now, starting with the current objects as ADDED",
        as the apiserver does for a watch without a resourceVersion (or "0").
        """
        w = Watcher(key, namespace, predicate)
        backlog: list[Event] = []
        if since is None:
            for (ns, _n), obj in sorted(self._objects[key].items()):
                if namespace and ns != namespace:
                    continue
                backlog.append(Event(int(obj["metadata"]["resourceVersion"]), "ADDED",
                                     key, ns, copy.deepcopy(obj)))
        elif since < self._rv:
            oldest = self._history[0].rv if self._history else self._rv + 1
            if since < oldest - 1:
                raise errors.Gone(f"too old resource version: {since} ({oldest - 1})")
            for ev in self._history:
                if ev.rv > since and w.wants(ev):
                    backlog.append(ev)
        self._watchers.add(w)
        return w, backlog

    def unwatch(self, w: Watcher) -> None:
        self._watchers.discard(w)


def _group(key: str) -> str:
    return key.split("/")[0] if "/" in key else ""


def _spec_changed(old: Obj, new: Obj) -> bool:
    return old.get("spec") != new.get("spec")


def _same(old: Obj, new: Obj) -> bool:
    a = {k: v for k, v in old.items() if k != "metadata"}
    b = {k: v for k, v in new.items() if k != "metadata"}
    ma = {k: v for k, v in old["metadata"].items() if k != "resourceVersion"}
    mb = {k: v for k, v in new["metadata"].items() if k != "resourceVersion"}
    return a == b and ma == mb
