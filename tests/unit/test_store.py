"""The store's contract: identity fields, optimistic concurrency, durability, watch history.

These are the guarantees every component leans on (kopf's and client-go's
list-then-watch loop, `kubectl run` watching from a list's resourceVersion),
so each is checked against a real SQLite file.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from emunet import errors
from emunet.store import Store

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def cm(name: str, ns: str = "default", **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns}, "data": dict(data)}


def deploy(name: str, replicas: int = 1) -> dict:
    return {"metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas}, "status": {}}


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path / "store.db")
    yield s
    s.close()


def test_create_assigns_identity_fields(store: Store) -> None:
    a = store.create("configmaps", cm("a"))
    b = store.create("configmaps", cm("b"))
    meta = a["metadata"]
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["uid"])
    assert RFC3339.match(meta["creationTimestamp"])
    assert meta["resourceVersion"] == "1"
    assert b["metadata"]["resourceVersion"] == "2"
    assert a["metadata"]["uid"] != b["metadata"]["uid"]
    # generation is for objects with a spec, as in the apiserver.
    assert "generation" not in meta
    assert store.create("apps/deployments", deploy("d"))["metadata"]["generation"] == 1
    assert store.resource_version == 3


def test_create_of_an_existing_name_is_already_exists(store: Store) -> None:
    store.create("configmaps", cm("a"))
    with pytest.raises(errors.AlreadyExists) as e:
        store.create("configmaps", cm("a"))
    assert e.value.code == 409
    assert e.value.message == 'configmaps "a" already exists'
    # The same name in another namespace, or of another kind, is another object.
    store.create("configmaps", cm("a", ns="other"))
    store.create("apps/deployments", deploy("a"))


def test_create_does_not_keep_the_callers_dict(store: Store) -> None:
    obj = cm("a", k="v")
    store.create("configmaps", obj)
    obj["data"]["k"] = "changed"
    assert store.get("configmaps", "default", "a")["data"] == {"k": "v"}
    got = store.get("configmaps", "default", "a")
    got["data"]["k"] = "changed too"
    assert store.get("configmaps", "default", "a")["data"] == {"k": "v"}


# (change made to the object, generation after the update)
GENERATION_CASES = [
    (lambda o: o["spec"].update(replicas=3), 2),
    (lambda o: o["status"].update(replicas=1), 1),
    (lambda o: o["metadata"].setdefault("labels", {}).update(a="b"), 1),
    (lambda o: o["metadata"].setdefault("annotations", {}).update(a="b"), 1),
]


@pytest.mark.parametrize("change,generation", GENERATION_CASES)
def test_update_bumps_generation_only_when_spec_changes(store: Store, change, generation) -> None:
    d = store.create("apps/deployments", deploy("d"))
    change(d)
    out = store.update("apps/deployments", d)
    assert out["metadata"]["generation"] == generation
    assert out["metadata"]["resourceVersion"] == "2"
    assert out["metadata"]["uid"] == d["metadata"]["uid"]


def test_update_keeps_identity_fields_whatever_the_client_sent(store: Store) -> None:
    d = store.create("configmaps", cm("a"))
    forged = cm("a", k="v")
    forged["metadata"].update(uid="forged", creationTimestamp="2000-01-01T00:00:00Z")
    out = store.update("configmaps", forged)
    assert out["metadata"]["uid"] == d["metadata"]["uid"]
    assert out["metadata"]["creationTimestamp"] == d["metadata"]["creationTimestamp"]


def test_update_that_changes_nothing_keeps_the_resource_version(store: Store) -> None:
    d = store.create("configmaps", cm("a", k="v"))
    out = store.update("configmaps", d)
    assert out["metadata"]["resourceVersion"] == "1"
    assert store.resource_version == 1


def test_update_with_a_stale_resource_version_is_a_conflict(store: Store) -> None:
    first = store.create("configmaps", cm("a"))
    second = dict(first, data={"k": "1"})
    store.update("configmaps", second)
    stale = dict(first, data={"k": "2"})
    with pytest.raises(errors.Conflict) as e:
        store.update("configmaps", stale)
    assert e.value.code == 409
    assert "the object has been modified" in e.value.message
    assert store.get("configmaps", "default", "a")["data"] == {"k": "1"}
    # Without the check (a patch that carries no resourceVersion) it goes through.
    store.update("configmaps", stale, check_rv=False)
    assert store.get("configmaps", "default", "a")["data"] == {"k": "2"}


def test_update_of_a_missing_object_is_not_found(store: Store) -> None:
    with pytest.raises(errors.NotFound):
        store.update("configmaps", cm("nope"))


def test_objects_and_the_counter_survive_reopen(tmp_path: Path) -> None:
    s = Store(tmp_path / "store.db")
    a = s.create("configmaps", cm("a", k="v"))
    s.create("configmaps", cm("b"))
    s.remove("configmaps", "default", "b")
    s.close()

    s2 = Store(tmp_path / "store.db")
    try:
        got = s2.get("configmaps", "default", "a")
        assert got == a
        assert s2.get("configmaps", "default", "b") is None
        assert s2.resource_version == 3
        c = s2.create("configmaps", cm("c"))
        assert c["metadata"]["resourceVersion"] == "4"
    finally:
        s2.close()


def test_list_filters_by_namespace_and_predicate_and_returns_the_store_version(
        store: Store) -> None:
    store.create("configmaps", cm("a", ns="one", tier="web"))
    store.create("configmaps", cm("b", ns="two", tier="web"))
    store.create("configmaps", cm("c", ns="one", tier="db"))
    items, rv = store.list("configmaps")
    assert [o["metadata"]["name"] for o in items] == ["a", "c", "b"]  # by (namespace, name)
    assert rv == 3
    items, _ = store.list("configmaps", "one")
    assert [o["metadata"]["name"] for o in items] == ["a", "c"]
    items, _ = store.list("configmaps", None, lambda o: o["data"]["tier"] == "web")
    assert [o["metadata"]["name"] for o in items] == ["a", "b"]


def test_watch_from_a_version_replays_every_later_event(store: Store) -> None:
    a = store.create("configmaps", cm("a"))
    since = store.resource_version
    a["data"] = {"k": "v"}
    store.update("configmaps", a)
    store.create("configmaps", cm("b"))
    store.create("secrets", {"metadata": {"name": "s", "namespace": "default"}})
    store.create("configmaps", cm("other-ns", ns="other"))
    store.remove("configmaps", "default", "b")

    w, backlog = store.watch("configmaps", "default", since)
    try:
        assert [(e.type, e.obj["metadata"]["name"], e.rv) for e in backlog] == [
            ("MODIFIED", "a", 2), ("ADDED", "b", 3), ("DELETED", "b", 6)]
        assert backlog[0].old is not None and backlog[0].old["data"] == {}
        # ...and later events arrive on the queue.
        store.create("configmaps", cm("c"))
        ev = w.queue.get_nowait()
        assert (ev.type, ev.obj["metadata"]["name"], ev.rv) == ("ADDED", "c", 7)
    finally:
        store.unwatch(w)


def test_watch_from_the_current_version_has_no_backlog(store: Store) -> None:
    store.create("configmaps", cm("a"))
    w, backlog = store.watch("configmaps", None, store.resource_version)
    store.unwatch(w)
    assert backlog == []


def test_watch_without_a_version_starts_with_the_current_objects_as_added(
        store: Store) -> None:
    a = store.create("configmaps", cm("a"))
    store.create("configmaps", cm("b"))
    store.remove("configmaps", "default", "b")
    w, backlog = store.watch("configmaps", None, None)
    store.unwatch(w)
    assert [(e.type, e.obj["metadata"]["name"], e.rv) for e in backlog] == [
        ("ADDED", "a", int(a["metadata"]["resourceVersion"]))]


def test_watch_from_before_the_history_window_is_gone(tmp_path: Path) -> None:
    s = Store(tmp_path / "store.db", history=3)
    try:
        for i in range(6):
            s.create("configmaps", cm(f"c{i}"))
        # History keeps rv 4..6: resuming from 3 loses nothing, from 2 would lose rv 3.
        w, backlog = s.watch("configmaps", None, 3)
        s.unwatch(w)
        assert [e.rv for e in backlog] == [4, 5, 6]
        with pytest.raises(errors.Gone) as e:
            s.watch("configmaps", None, 2)
        assert e.value.code == 410
        assert e.value.reason == "Expired"
    finally:
        s.close()


def test_watch_after_reopen_from_an_older_version_is_gone(tmp_path: Path) -> None:
    s = Store(tmp_path / "store.db")
    s.create("configmaps", cm("a"))
    s.create("configmaps", cm("b"))
    s.close()
    s2 = Store(tmp_path / "store.db")
    try:
        with pytest.raises(errors.Gone):
            s2.watch("configmaps", None, 1)
        w, backlog = s2.watch("configmaps", None, 2)
        s2.unwatch(w)
        assert backlog == []
    finally:
        s2.close()


def test_removing_the_last_finalizer_of_a_deleting_object_removes_it(store: Store) -> None:
    obj = cm("a")
    obj["metadata"]["finalizers"] = ["one", "two"]
    store.create("configmaps", obj)
    marked = store.mark_deleting("configmaps", "default", "a", 0)
    assert RFC3339.match(marked["metadata"]["deletionTimestamp"])
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 0
    # Marking again changes nothing.
    again = store.mark_deleting("configmaps", "default", "a", 0)
    assert again["metadata"]["resourceVersion"] == marked["metadata"]["resourceVersion"]

    w, _ = store.watch("configmaps", None, store.resource_version)
    try:
        marked["metadata"]["finalizers"] = ["two"]
        kept = store.update("configmaps", marked)
        assert kept["metadata"]["deletionTimestamp"] == marked["metadata"]["deletionTimestamp"]
        assert store.get("configmaps", "default", "a") is not None

        kept["metadata"]["finalizers"] = []
        store.update("configmaps", kept)
        assert store.get("configmaps", "default", "a") is None
        types = [w.queue.get_nowait().type for _ in range(w.queue.qsize())]
        assert types == ["MODIFIED", "DELETED"]
    finally:
        store.unwatch(w)


def test_an_update_cannot_clear_the_deletion_timestamp(store: Store) -> None:
    obj = cm("a")
    obj["metadata"]["finalizers"] = ["keep"]
    store.create("configmaps", obj)
    marked = store.mark_deleting("configmaps", "default", "a", 0)
    del marked["metadata"]["deletionTimestamp"]
    marked["data"] = {"k": "v"}
    out = store.update("configmaps", marked)
    assert "deletionTimestamp" in out["metadata"]


def test_a_gracefully_deleting_pod_stays_through_status_updates(store: Store) -> None:
    # The apiserver deletes on update only once the grace period is 0 (the kubelet's
    # final delete), so the kubelet can still report the pod while it terminates.
    pod = {"metadata": {"name": "p", "namespace": "default"},
           "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}
    store.create("pods", pod)
    marked = store.mark_deleting("pods", "default", "p", 30)
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30
    marked["status"]["phase"] = "Succeeded"
    out = store.update("pods", marked)
    assert out["status"]["phase"] == "Succeeded"
    assert store.get("pods", "default", "p")["metadata"]["deletionGracePeriodSeconds"] == 30


def test_remove_emits_deleted_with_a_new_version_and_missing_is_not_found(
        store: Store) -> None:
    store.create("configmaps", cm("a"))
    gone = store.remove("configmaps", "default", "a")
    assert gone["metadata"]["resourceVersion"] == "2"
    with pytest.raises(errors.NotFound) as e:
        store.remove("configmaps", "default", "a")
    assert e.value.message == 'configmaps "a" not found'
    with pytest.raises(errors.NotFound) as e:
        store.mark_deleting("apps/deployments", "default", "x")
    assert e.value.message == 'deployments.apps "x" not found'


def test_a_second_delete_may_shorten_the_grace_period_only(store: Store) -> None:
    pod = {"metadata": {"name": "p", "namespace": "default", "finalizers": ["f"]},
           "spec": {"nodeName": "n1"}}
    store.create("pods", pod)
    first = store.mark_deleting("pods", "default", "p", 30)
    longer = store.mark_deleting("pods", "default", "p", 60)
    assert longer["metadata"]["deletionGracePeriodSeconds"] == 30
    assert longer["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    final = store.mark_deleting("pods", "default", "p", 0)
    assert final["metadata"]["deletionGracePeriodSeconds"] == 0
    assert final["metadata"]["deletionTimestamp"] == first["metadata"]["deletionTimestamp"]
    # With the grace period over, dropping the finalizer removes the pod.
    final["metadata"]["finalizers"] = []
    store.update("pods", final)
    assert store.get("pods", "default", "p") is None


def test_reads_share_the_stored_object_and_its_encoding_while_copies_stay_private(
        store: Store) -> None:
    store.create("configmaps", cm("a", k="v"))
    snap = store.snapshot("configmaps", "default", "a")
    assert snap is not None
    # Type meta is the API server's to present: the store keeps the body only.
    assert "kind" not in snap.obj and "apiVersion" not in snap.obj
    assert json.loads(snap.body) == snap.obj
    assert store.peek("configmaps", "default", "a") is snap.obj
    items, rv = store.snapshots("configmaps")
    assert items[0].obj is snap.obj and rv == 1
    copied, _ = store.list("configmaps")
    copied[0]["data"]["k"] = "changed"
    assert snap.obj["data"] == {"k": "v"}


def test_watch_events_carry_the_encoded_object(store: Store) -> None:
    w, _ = store.watch("configmaps", None, store.resource_version)
    try:
        a = store.create("configmaps", cm("a", k="v"))
        a["data"]["k"] = "w"
        store.update("configmaps", a)
        store.remove("configmaps", "default", "a")
        events = [w.queue.get_nowait() for _ in range(3)]
        assert [e.type for e in events] == ["ADDED", "MODIFIED", "DELETED"]
        for e in events:
            assert json.loads(e.body) == e.obj
        assert json.loads(events[2].body)["metadata"]["resourceVersion"] == "3"
    finally:
        store.unwatch(w)


def test_objects_written_with_type_meta_read_back_without_it(tmp_path: Path) -> None:
    import sqlite3
    s = Store(tmp_path / "store.db")
    s.create("configmaps", cm("a", k="v"))
    s.close()
    db = sqlite3.connect(str(tmp_path / "store.db"))
    db.execute("UPDATE objects SET data=? WHERE name='a'", (json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
            "name": "a", "namespace": "default", "uid": "u", "resourceVersion": "1",
            "creationTimestamp": "2024-01-01T00:00:00Z"}, "data": {"k": "v"}}),))
    db.commit()
    db.close()
    s2 = Store(tmp_path / "store.db")
    try:
        snap = s2.snapshot("configmaps", "default", "a")
        assert snap is not None and "kind" not in snap.obj
        assert json.loads(snap.body) == snap.obj
    finally:
        s2.close()
