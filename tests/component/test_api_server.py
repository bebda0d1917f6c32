"""The API server's semantics, over a real loopback socket with a real store.

The real `ApiServer` runs in-process on 127.0.0.1 (an ephemeral port, plain
HTTP), backed by a `Store` on a temporary SQLite file; tests speak to it with
`emunet.client.Client` and raw aiohttp requests, and assert what a client sees:
status codes, `metav1.Status` bodies, objects and watch events.
"""
from __future__ import annotations

import asyncio
import io
import ipaddress
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from emunet import resources
from emunet.api import discovery
from emunet.api import watch as watch_mod
from emunet.api.server import ApiServer
from emunet.client import ApiException, Client, Credentials
from emunet.config import ClusterConfig
from emunet.store import Store

TOKEN = "component-test-token"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
PODS = resources.by_plural("pods")
SERVICES = resources.by_plural("services")
CONFIGMAPS = resources.by_plural("configmaps")
DEPLOYMENTS = resources.by_plural("deployments", "apps")
CM_PATH = "/api/v1/namespaces/default/configmaps"
POD_PATH = "/api/v1/namespaces/default/pods"
SVC_PATH = "/api/v1/namespaces/default/services"


@dataclass
class Api:
    server: ApiServer
    store: Store
    url: str
    client: Client
    http: aiohttp.ClientSession

    async def raw(self, method: str, path: str, body: Any = None, *,
                  data: bytes | io.BytesIO | None = None,
                  headers: dict[str, str] | None = None, params: dict[str, str] | None = None,
                  auth: bool = True) -> tuple[int, dict[str, str], Any]:
        h = {"Authorization": f"Bearer {TOKEN}"} if auth else {}
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        async with self.http.request(method, path, data=data, headers=h, params=params) as r:
            text = await r.read()
            try:
                payload = json.loads(text) if text else None
            except ValueError:
                payload = text.decode(errors="replace")
            return r.status, dict(r.headers), payload


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    cfg = ClusterConfig(service_cidr="127.96.0.0/24", node_port_range="30000-30099")
    store = Store(tmp_path / "store.db", history=500)
    server = ApiServer(cfg, store, TOKEN)
    ns_res = resources.by_plural("namespaces")
    for ns in ("default", "kube-system"):
        store.create("namespaces", server.strategy.prepare_create(ns_res, {
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
    runner = web.AppRunner(server.app, access_log=None, handle_signals=False,
                           shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}"
    client = Client(Credentials(url, TOKEN))
    http = aiohttp.ClientSession(base_url=url)
    try:
        yield Api(server, store, url, client, http)
    finally:
        await client.close()
        await http.close()
        store.close()  # ends every open watch stream
        await runner.cleanup()


# ---- object builders ------------------------------------------------------


def cm(name: str, labels: dict[str, str] | None = None, **extra: Any) -> dict:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {}, **extra}


def pod(name: str, labels: dict[str, str] | None = None, node: str | None = None) -> dict:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "nginx"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {"run": name}}, "spec": spec}


def service(name: str, stype: str = "ClusterIP", ports: list[dict] | None = None,
            **spec: Any) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": stype, "selector": {"run": name},
                     "ports": ports or [{"port": 80, "protocol": "TCP", "targetPort": 80}],
                     **spec}}


def deployment(name: str = "my-nginx", replicas: int = 2) -> dict:
    labels = {"run": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": name, "image": "nginx",
                                                           "ports": [{"containerPort": 80}]}]}}}}


def names(lst: dict) -> list[str]:
    return [o["metadata"]["name"] for o in lst["items"]]


async def watch_events(api: Api, path: str, params: dict[str, str],
                       until: Callable[[list[dict]], bool], headers: dict[str, str] | None = None,
                       deadline: float = 10.0) -> list[dict]:
    """Read watch events until `until(events)` holds or the stream ends."""
    h = {"Authorization": f"Bearer {TOKEN}", **(headers or {})}
    events: list[dict] = []
    async with api.http.get(path, params={"watch": "true", **params}, headers=h) as resp:
        assert resp.status == 200, await resp.text()
        async with asyncio.timeout(deadline):
            while not until(events):
                line = await resp.content.readline()
                if not line:
                    break
                events.append(json.loads(line))
    return events


def summary(events: list[dict]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"]["name"]) for e in events]


# ---- list and selectors -----------------------------------------------------

LABEL_CASES = [
    ("tier=web", ["a", "b"]),
    ("tier!=web", ["c", "d"]),
    ("tier in (web,db)", ["a", "b", "c"]),
    ("tier notin (web)", ["c", "d"]),
    ("canary", ["b"]),
    ("!canary", ["a", "c", "d"]),
    ("tier=web,!canary", ["a"]),
]


@pytest.mark.parametrize("selector,expected", LABEL_CASES)
async def test_list_with_a_label_selector(api: Api, selector: str, expected: list[str]) -> None:
    for name, labels in (("a", {"tier": "web"}), ("b", {"tier": "web", "canary": "yes"}),
                         ("c", {"tier": "db"}), ("d", {"app": "x"})):
        await api.client.create(CONFIGMAPS, cm(name, labels), "default")
    got = await api.client.list(CONFIGMAPS, "default", label_selector=selector)
    assert names(got) == expected


FIELD_CASES = [
    ("metadata.name=p1", ["p1"]),
    ("metadata.name!=p1", ["p2", "p3"]),
    ("spec.nodeName=n1", ["p1"]),
    ("spec.nodeName=", ["p3"]),
    ("status.phase=Running", ["p2"]),
    ("status.phase!=Running,spec.nodeName!=", ["p1"]),
]


@pytest.mark.parametrize("selector,expected", FIELD_CASES)
async def test_list_pods_with_a_field_selector(api: Api, selector: str,
                                               expected: list[str]) -> None:
    await api.client.create(PODS, pod("p1", node="n1"), "default")
    p2 = await api.client.create(PODS, pod("p2", node="n2"), "default")
    await api.client.create(PODS, pod("p3"), "default")
    p2["status"]["phase"] = "Running"
    await api.client.update(PODS, p2, subresource="status")
    got = await api.client.list(PODS, "default", field_selector=selector)
    assert names(got) == expected


async def test_list_carries_kind_and_resource_version(api: Api) -> None:
    await api.client.create(CONFIGMAPS, cm("a"), "default")
    lst = await api.client.list(CONFIGMAPS, "default")
    assert (lst["kind"], lst["apiVersion"]) == ("ConfigMapList", "v1")
    assert lst["metadata"]["resourceVersion"] == str(api.store.resource_version)
    everywhere = await api.client.list(CONFIGMAPS)
    assert names(everywhere) == ["a"]


# ---- watch ------------------------------------------------------------------


async def test_watch_from_a_listed_version_loses_no_change_made_in_between(api: Api) -> None:
    await api.client.create(CONFIGMAPS, cm("before"), "default")
    rv = (await api.client.list(CONFIGMAPS, "default"))["metadata"]["resourceVersion"]
    a = await api.client.create(CONFIGMAPS, cm("a"), "default")
    a["data"] = {"k": "v"}
    await api.client.update(CONFIGMAPS, a)
    await api.client.create(CONFIGMAPS, cm("b"), "default")
    await api.client.delete(CONFIGMAPS, "b", "default")
    events = await watch_events(api, CM_PATH, {"resourceVersion": rv},
                                lambda ev: len(ev) >= 4)
    assert summary(events) == [("ADDED", "a"), ("MODIFIED", "a"), ("ADDED", "b"),
                               ("DELETED", "b")]
    assert events[1]["object"]["data"] == {"k": "v"}
    assert events[0]["object"]["kind"] == "ConfigMap"
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions) and versions[0] > int(rv)


async def test_watch_sees_changes_made_after_it_started(api: Api) -> None:
    rv = str(api.store.resource_version)

    async def later() -> None:
        await api.client.create(CONFIGMAPS, cm("late"), "default")

    task = asyncio.create_task(later())
    events = await watch_events(api, CM_PATH, {"resourceVersion": rv},
                                lambda ev: len(ev) >= 1)
    await task
    assert summary(events) == [("ADDED", "late")]


async def test_watch_without_a_version_starts_with_the_current_objects(api: Api) -> None:
    await api.client.create(CONFIGMAPS, cm("a"), "default")
    await api.client.create(CONFIGMAPS, cm("b"), "default")
    events = await watch_events(api, CM_PATH, {}, lambda ev: len(ev) >= 2)
    assert summary(events) == [("ADDED", "a"), ("ADDED", "b")]


async def test_a_label_selected_watch_sees_an_object_leave_and_enter_the_set(api: Api) -> None:
    web_cm = await api.client.create(CONFIGMAPS, cm("x", {"tier": "web"}), "default")
    rv = web_cm["metadata"]["resourceVersion"]
    await api.client.create(CONFIGMAPS, cm("other", {"tier": "db"}), "default")
    await api.client.patch(CONFIGMAPS, "x", {"metadata": {"labels": {"tier": "db"}}}, "default")
    await api.client.patch(CONFIGMAPS, "x", {"metadata": {"labels": {"tier": "web"}}}, "default")
    events = await watch_events(api, CM_PATH, {"resourceVersion": rv, "labelSelector": "tier=web"},
                                lambda ev: len(ev) >= 2)
    assert summary(events) == [("DELETED", "x"), ("ADDED", "x")]
    assert events[0]["object"]["metadata"]["labels"] == {"tier": "db"}


async def test_timeout_seconds_ends_the_stream(api: Api) -> None:
    events = await watch_events(api, CM_PATH, {"resourceVersion": str(api.store.resource_version),
                                               "timeoutSeconds": "1"},
                                lambda ev: False, deadline=10)
    assert events == []


async def test_bookmarks_carry_the_current_resource_version(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch_mod, "BOOKMARK_SECONDS", 0.1)
    await api.client.create(CONFIGMAPS, cm("a"), "default")
    rv = str(api.store.resource_version)
    events = await watch_events(api, CM_PATH, {"resourceVersion": rv,
                                               "allowWatchBookmarks": "true"},
                                lambda ev: len(ev) >= 1)
    assert events[0]["type"] == "BOOKMARK"
    assert events[0]["object"]["kind"] == "ConfigMap"
    assert events[0]["object"]["metadata"]["resourceVersion"] == rv


async def test_a_watch_whose_client_left_is_dropped(api: Api,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # Even with no bookmark and no matching event to write, the server notices
    # that `kubectl get -w` was interrupted, and lets go of the watcher.
    monkeypatch.setattr(watch_mod, "BOOKMARK_SECONDS", 0.1)
    events = await watch_events(api, CM_PATH, {"labelSelector": "never=matches"},
                                lambda ev: True)
    assert events == []
    async with asyncio.timeout(10):
        while api.store._watchers:
            await api.client.create(CONFIGMAPS, cm(f"n{api.store.resource_version}"),
                                    "default")
            await asyncio.sleep(0.05)


async def test_a_watch_from_a_too_old_version_gets_an_expired_error(api: Api) -> None:
    for i in range(510):  # past the fixture's history window of 500
        api.store.create("configmaps", {"metadata": {"name": f"c{i}", "namespace": "default"}})
    events = await watch_events(api, CM_PATH, {"resourceVersion": "3"}, lambda ev: len(ev) >= 1)
    assert len(events) == 1
    assert events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
    assert "too old resource version: 3" in status["message"]


async def test_a_watch_of_one_namespace_sees_only_it(api: Api) -> None:
    await api.client.create(resources.by_plural("namespaces"),
                            {"metadata": {"name": "other"}})
    rv = str(api.store.resource_version)
    await api.client.create(CONFIGMAPS, cm("elsewhere"), "other")
    await api.client.create(CONFIGMAPS, cm("here"), "default")
    events = await watch_events(api, CM_PATH, {"resourceVersion": rv}, lambda ev: len(ev) >= 1)
    assert summary(events) == [("ADDED", "here")]


# ---- create, update, patch ------------------------------------------------


async def test_generate_name_makes_a_unique_name(api: Api) -> None:
    body = cm("")
    body["metadata"] = {"generateName": "web-"}
    a = await api.client.create(CONFIGMAPS, body, "default")
    b = await api.client.create(CONFIGMAPS, body, "default")
    for o in (a, b):
        assert o["metadata"]["name"].startswith("web-")
        assert len(o["metadata"]["name"]) == len("web-") + 5
        assert o["metadata"]["generateName"] == "web-"
    assert a["metadata"]["name"] != b["metadata"]["name"]


async def test_create_answers_201_with_the_stored_object(api: Api) -> None:
    status, _, body = await api.raw("POST", CM_PATH, cm("a"))
    assert status == 201
    assert body["metadata"]["uid"] and body["metadata"]["resourceVersion"]
    assert body["metadata"]["namespace"] == "default"
    status, _, body = await api.raw("POST", CM_PATH, cm("a"))
    assert status == 409
    assert (body["reason"], body["message"]) == ("AlreadyExists", 'configmaps "a" already exists')


async def test_dry_run_creates_nothing(api: Api) -> None:
    before = api.store.resource_version
    status, _, body = await api.raw("POST", SVC_PATH, service("dry"),
                                    params={"dryRun": "All"})
    assert status == 201
    assert body["metadata"]["name"] == "dry"
    assert body["spec"]["clusterIP"]
    status, _, _ = await api.raw("GET", SVC_PATH + "/dry")
    assert status == 404
    assert api.store.resource_version == before
    # The address shown was not kept: it is free for a real create.
    real = await api.client.create(SERVICES, service("real", clusterIP=body["spec"]["clusterIP"]),
                                   "default")
    assert real["spec"]["clusterIP"] == body["spec"]["clusterIP"]


async def test_put_with_a_stale_resource_version_is_a_conflict(api: Api) -> None:
    first = await api.client.create(CONFIGMAPS, cm("a"), "default")
    await api.client.update(CONFIGMAPS, dict(first, data={"k": "1"}))
    status, _, body = await api.raw("PUT", CM_PATH + "/a", dict(first, data={"k": "2"}))
    assert status == 409
    assert body["reason"] == "Conflict"
    assert body["message"] == ('Operation cannot be fulfilled on configmaps "a": the object has '
                               "been modified; please apply your changes to the latest version "
                               "and try again")
    assert (await api.client.get(CONFIGMAPS, "a", "default"))["data"] == {"k": "1"}


async def test_merge_patch(api: Api) -> None:
    await api.client.create(CONFIGMAPS, cm("a", {"x": "1"}, data={"k": "v", "gone": "1"}),
                            "default")
    out = await api.client.patch(CONFIGMAPS, "a", {"metadata": {"labels": {"y": "2"}},
                                                  "data": {"gone": None, "new": "n"}}, "default")
    assert out["metadata"]["labels"] == {"x": "1", "y": "2"}
    assert out["data"] == {"k": "v", "new": "n"}


async def test_json_patch(api: Api) -> None:
    await api.client.create(CONFIGMAPS, cm("a", data={"k": "v"}), "default")
    out = await api.client.patch(CONFIGMAPS, "a", [
        {"op": "add", "path": "/data/n", "value": "1"},
        {"op": "replace", "path": "/data/k", "value": "w"},
        {"op": "test", "path": "/data/k", "value": "w"},
    ], "default", kind="json")
    assert out["data"] == {"k": "w", "n": "1"}
    with pytest.raises(ApiException) as e:
        await api.client.patch(CONFIGMAPS, "a", [{"op": "test", "path": "/data/k",
                                                  "value": "nope"}], "default", kind="json")
    assert 400 <= e.value.status < 500


async def test_strategic_merge_patch_orders_and_deletes_service_ports(api: Api) -> None:
    ports = [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 80}]
    await api.client.create(SERVICES, service("s", ports=ports), "default")
    out = await api.client.patch(SERVICES, "s", {"spec": {
        "$setElementOrder/ports": [{"port": 443}, {"port": 80}],
        "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443}]}},
        "default", kind="strategic")
    assert [(p["name"], p["port"]) for p in out["spec"]["ports"]] == [("https", 443),
                                                                     ("http", 80)]
    out = await api.client.patch(SERVICES, "s", {"spec": {
        "ports": [{"port": 80, "$patch": "delete"}]}}, "default", kind="strategic")
    assert [p["port"] for p in out["spec"]["ports"]] == [443]


async def test_status_subresource_changes_only_status_and_a_put_keeps_status(api: Api) -> None:
    d = await api.client.create(DEPLOYMENTS, deployment(replicas=1), "default")
    d["spec"]["replicas"] = 5
    d["status"] = {"replicas": 2, "observedGeneration": 1}
    out = await api.client.update(DEPLOYMENTS, d, subresource="status")
    assert out["spec"]["replicas"] == 1
    assert out["status"]["replicas"] == 2
    assert out["metadata"]["generation"] == 1

    out["spec"]["replicas"] = 3
    out["status"] = {}
    out = await api.client.update(DEPLOYMENTS, out)
    assert out["spec"]["replicas"] == 3
    assert out["status"]["replicas"] == 2
    assert out["metadata"]["generation"] == 2

    out = await api.client.patch(DEPLOYMENTS, "my-nginx", {"status": {"replicas": 3}},
                                 "default", subresource="status")
    assert out["status"]["replicas"] == 3


# ---- delete -----------------------------------------------------------------


async def test_orphan_delete_removes_owner_references_from_dependents(api: Api) -> None:
    owner = await api.client.create(CONFIGMAPS, cm("owner"), "default")
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
           "uid": owner["metadata"]["uid"]}
    other = {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "1234"}
    await api.client.create(CONFIGMAPS, cm("dep", metadata={"name": "dep",
                                                            "ownerReferences": [ref]}),
                            "default")
    await api.client.create(CONFIGMAPS, cm("both", metadata={"name": "both",
                                                             "ownerReferences": [ref, other]}),
                            "default")
    await api.client.delete(CONFIGMAPS, "owner", "default", propagation="Orphan")
    assert (await api.raw("GET", CM_PATH + "/owner"))[0] == 404
    dep = await api.client.get(CONFIGMAPS, "dep", "default")
    assert "ownerReferences" not in dep["metadata"]
    both = await api.client.get(CONFIGMAPS, "both", "default")
    assert both["metadata"]["ownerReferences"] == [other]


async def test_foreground_delete_marks_the_owner_with_the_finalizer(api: Api) -> None:
    await api.client.create(CONFIGMAPS, cm("owner"), "default")
    out = await api.client.delete(CONFIGMAPS, "owner", "default", propagation="Foreground")
    assert out is not None and out["metadata"]["deletionTimestamp"]
    got = await api.client.get(CONFIGMAPS, "owner", "default")
    assert got["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert got["metadata"]["deletionTimestamp"]
    # The garbage collector's last step: dropping the finalizer removes the object.
    await api.client.patch(CONFIGMAPS, "owner", {"metadata": {"finalizers": None}}, "default")
    assert (await api.raw("GET", CM_PATH + "/owner"))[0] == 404


async def test_deletecollection_with_a_label_selector(api: Api) -> None:
    for name, tier in (("a", "web"), ("b", "web"), ("c", "db")):
        await api.client.create(CONFIGMAPS, cm(name, {"tier": tier}), "default")
    status, _, body = await api.raw("DELETE", CM_PATH, params={"labelSelector": "tier=web"})
    assert status == 200
    assert body["kind"] == "ConfigMapList"
    assert sorted(names(body)) == ["a", "b"]
    assert names(await api.client.list(CONFIGMAPS, "default")) == ["c"]


async def test_a_scheduled_pod_is_deleted_gracefully_an_unscheduled_one_at_once(
        api: Api) -> None:
    await api.client.create(PODS, pod("on-node", node="n1"), "default")
    await api.client.create(PODS, pod("nowhere"), "default")

    out = await api.client.delete(PODS, "on-node", "default")
    assert out is not None and out["metadata"]["deletionTimestamp"]
    still = await api.client.get(PODS, "on-node", "default")
    assert still["metadata"]["deletionTimestamp"]
    assert still["metadata"]["deletionGracePeriodSeconds"] == 30
    # The kubelet may still report status while the pod terminates...
    still["status"]["phase"] = "Succeeded"
    await api.client.update(PODS, still, subresource="status")
    assert (await api.client.get(PODS, "on-node", "default"))["status"]["phase"] == "Succeeded"
    # ...and its final delete with grace 0 removes it.
    await api.client.delete(PODS, "on-node", "default", grace=0)
    assert (await api.raw("GET", POD_PATH + "/on-node"))[0] == 404

    await api.client.delete(PODS, "nowhere", "default")
    assert (await api.raw("GET", POD_PATH + "/nowhere"))[0] == 404


async def test_a_delete_with_a_wrong_uid_precondition_is_a_conflict(api: Api) -> None:
    await api.client.create(CONFIGMAPS, cm("a"), "default")
    with pytest.raises(ApiException) as e:
        await api.client.delete(CONFIGMAPS, "a", "default", uid="not-the-uid")
    assert e.value.status == 409
    assert (await api.raw("GET", CM_PATH + "/a"))[0] == 200


# ---- subresources -----------------------------------------------------------


async def test_binding_sets_the_node_and_pod_scheduled(api: Api) -> None:
    await api.client.create(PODS, pod("p"), "default")
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"}}
    status, _, body = await api.raw("POST", POD_PATH + "/p/binding", binding)
    assert status == 201
    assert body["status"] == "Success"
    p = await api.client.get(PODS, "p", "default")
    assert p["spec"]["nodeName"] == "n1"
    cond = [c for c in p["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert len(cond) == 1 and cond[0]["status"] == "True"
    status, _, body = await api.raw("POST", POD_PATH + "/p/binding", binding)
    assert status == 409
    assert 'pod p is already assigned to node "n1"' in body["message"]


async def test_deployment_scale_get_and_merge_patch(api: Api) -> None:
    await api.client.create(DEPLOYMENTS, deployment(replicas=2), "default")
    path = "/apis/apps/v1/namespaces/default/deployments/my-nginx/scale"
    status, _, scale = await api.raw("GET", path)
    assert status == 200
    assert (scale["kind"], scale["apiVersion"]) == ("Scale", "autoscaling/v1")
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"]["selector"] == "run=my-nginx"
    status, _, scale = await api.raw("PATCH", path, data=b'{"spec":{"replicas":3}}',
                                     headers={"Content-Type": "application/merge-patch+json"})
    assert status == 200
    assert scale["spec"] == {"replicas": 3}
    assert scale["status"]["selector"] == "run=my-nginx"
    d = await api.client.get(DEPLOYMENTS, "my-nginx", "default")
    assert d["spec"]["replicas"] == 3
    assert d["metadata"]["generation"] == 2


# ---- services ---------------------------------------------------------------


async def test_a_service_gets_a_cluster_ip_from_the_range(api: Api) -> None:
    svc = await api.client.create(SERVICES, service("s"), "default")
    ip = svc["spec"]["clusterIP"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("127.96.0.0/24")
    assert svc["spec"]["clusterIPs"] == [ip]
    assert "nodePort" not in svc["spec"]["ports"][0]
    other = await api.client.create(SERVICES, service("t"), "default")
    assert other["spec"]["clusterIP"] != ip


async def test_node_port_is_allocated_and_released_when_the_type_changes_back(
        api: Api) -> None:
    svc = await api.client.create(SERVICES, service("s", "NodePort"), "default")
    port = svc["spec"]["ports"][0]["nodePort"]
    assert 30000 <= port <= 30099
    back = await api.client.patch(SERVICES, "s", {"spec": {"type": "ClusterIP"}}, "default")
    assert "nodePort" not in back["spec"]["ports"][0]
    # Released: another Service may ask for it now.
    again = await api.client.create(SERVICES, service("t", "NodePort", ports=[
        {"port": 80, "protocol": "TCP", "targetPort": 80, "nodePort": port}]), "default")
    assert again["spec"]["ports"][0]["nodePort"] == port


async def test_load_balancer_keeps_its_node_ports(api: Api) -> None:
    svc = await api.client.create(SERVICES, service("s", "NodePort"), "default")
    port = svc["spec"]["ports"][0]["nodePort"]
    lb = await api.client.patch(SERVICES, "s", {"spec": {"type": "LoadBalancer"}}, "default")
    assert lb["spec"]["ports"][0]["nodePort"] == port
    assert lb["spec"]["clusterIP"] == svc["spec"]["clusterIP"]


async def test_a_requested_node_port_that_is_taken_is_invalid(api: Api) -> None:
    svc = await api.client.create(SERVICES, service("s", "NodePort"), "default")
    port = svc["spec"]["ports"][0]["nodePort"]
    body = service("t", "NodePort", ports=[{"port": 80, "protocol": "TCP", "targetPort": 80,
                                            "nodePort": port}])
    status, _, err = await api.raw("POST", SVC_PATH, body)
    assert status == 422
    assert err["reason"] == "Invalid"
    assert err["message"] == (f'Service "t" is invalid: spec.ports[0].nodePort: Invalid value: '
                              f"{port}: provided port is already allocated")
    # The failed create took nothing: t's ClusterIP is free again.
    assert (await api.raw("GET", SVC_PATH + "/t"))[0] == 404


async def test_cluster_ip_is_immutable_and_a_put_without_it_keeps_it(api: Api) -> None:
    svc = await api.client.create(SERVICES, service("s"), "default")
    ip = svc["spec"]["clusterIP"]
    changed = json.loads(json.dumps(svc))
    changed["spec"]["clusterIP"] = "127.96.0.200"
    changed["spec"]["clusterIPs"] = ["127.96.0.200"]
    status, _, err = await api.raw("PUT", SVC_PATH + "/s", changed)
    assert status == 422
    assert "may not change once set" in err["message"] or "immutable" in err["message"]

    without = json.loads(json.dumps(svc))
    del without["spec"]["clusterIP"]
    del without["spec"]["clusterIPs"]
    without["metadata"]["labels"] = {"kept": "yes"}
    out = await api.client.update(SERVICES, without)
    assert out["spec"]["clusterIP"] == ip
    assert out["spec"]["clusterIPs"] == [ip]
    assert out["metadata"]["labels"] == {"kept": "yes"}


async def test_deleting_a_service_frees_its_cluster_ip(api: Api) -> None:
    svc = await api.client.create(SERVICES, service("s"), "default")
    ip = svc["spec"]["clusterIP"]
    await api.client.delete(SERVICES, "s", "default")
    again = await api.client.create(SERVICES, service("t", clusterIP=ip), "default")
    assert again["spec"]["clusterIP"] == ip


async def test_a_failed_service_update_keeps_its_node_port(api: Api) -> None:
    svc = await api.client.create(SERVICES, service("s", "NodePort"), "default")
    port = svc["spec"]["ports"][0]["nodePort"]
    await api.client.patch(SERVICES, "s", {"metadata": {"labels": {"v": "2"}}}, "default")
    stale = json.loads(json.dumps(svc))
    stale["spec"]["type"] = "ClusterIP"
    del stale["spec"]["ports"][0]["nodePort"]
    status, _, _ = await api.raw("PUT", SVC_PATH + "/s", stale)
    assert status == 409
    # s still holds its port, so nobody else may take it.
    assert (await api.client.get(SERVICES, "s", "default"))["spec"]["ports"][0]["nodePort"] == port
    taken = service("t", "NodePort", ports=[{"port": 80, "protocol": "TCP", "targetPort": 80,
                                             "nodePort": port}])
    status, _, err = await api.raw("POST", SVC_PATH, taken)
    assert status == 422, err


async def test_a_dry_run_service_update_allocates_nothing(api: Api) -> None:
    await api.client.create(SERVICES, service("s"), "default")
    used = set(api.server.strategy.node_ports.used)
    status, _, body = await api.raw("PATCH", SVC_PATH + "/s", data=b'{"spec":{"type":"NodePort"}}',
                                    headers={"Content-Type": "application/merge-patch+json"},
                                    params={"dryRun": "All"})
    assert status == 200
    assert body["spec"]["ports"][0]["nodePort"]
    assert "nodePort" not in (await api.client.get(SERVICES, "s", "default"))["spec"]["ports"][0]
    assert api.server.strategy.node_ports.used == used


# ---- tables -------------------------------------------------------------------


async def test_table_output_for_list_get_and_watch(api: Api) -> None:
    await api.client.create(CONFIGMAPS, cm("a", data={"k": "v"}), "default")
    accept = {"Accept": TABLE}
    status, _, t = await api.raw("GET", CM_PATH, headers=accept)
    assert status == 200
    assert (t["kind"], t["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert [c["name"] for c in t["columnDefinitions"]][:1] == ["Name"]
    assert [r["cells"][0] for r in t["rows"]] == ["a"]
    assert t["rows"][0]["object"]["kind"] == "PartialObjectMetadata"

    status, _, one = await api.raw("GET", CM_PATH + "/a", headers=accept)
    assert status == 200
    assert one["kind"] == "Table" and len(one["rows"]) == 1

    events = await watch_events(api, CM_PATH, {}, lambda ev: len(ev) >= 1, headers=accept)
    assert events[0]["type"] == "ADDED"
    assert events[0]["object"]["kind"] == "Table"
    assert events[0]["object"]["rows"][0]["cells"][0] == "a"


# ---- errors -------------------------------------------------------------------


async def test_no_token_is_401(api: Api) -> None:
    status, _, body = await api.raw("GET", "/api/v1/namespaces", auth=False)
    assert status == 401
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "Unauthorized", 401)
    status, _, _ = await api.raw("GET", "/api/v1/namespaces",
                                 headers={"Authorization": "Bearer wrong"}, auth=False)
    assert status == 401
    status, _, _ = await api.raw("GET", "/healthz", auth=False)
    assert status == 200


async def test_an_oversized_body_is_413(api: Api) -> None:
    big = json.dumps(cm("big", data={"k": "x" * (3 * 1024 * 1024 + 10)})).encode()
    # A file-like body, as aiohttp wants for large uploads.
    status, _, body = await api.raw("POST", CM_PATH, data=io.BytesIO(big),
                                    headers={"Content-Type": "application/json"})
    assert status == 413
    assert body["reason"] == "RequestEntityTooLarge"


async def test_an_unknown_content_type_is_415(api: Api) -> None:
    status, _, body = await api.raw("POST", CM_PATH, data=json.dumps(cm("a")).encode(),
                                    headers={"Content-Type": "text/plain"})
    assert status == 415
    assert body["reason"] == "UnsupportedMediaType"
    await api.client.create(CONFIGMAPS, cm("a"), "default")
    status, _, body = await api.raw("PATCH", CM_PATH + "/a", data=b"{}",
                                    headers={"Content-Type": "text/plain"})
    assert status == 415
    assert "application/merge-patch+json" in body["message"]


async def test_malformed_json_is_400(api: Api) -> None:
    status, _, body = await api.raw("POST", CM_PATH, data=b'{"metadata": {',
                                    headers={"Content-Type": "application/json"})
    assert status == 400
    assert body["reason"] == "BadRequest"


async def test_an_unknown_field_with_strict_validation_is_400_naming_it(api: Api) -> None:
    body = pod("p")
    body["spec"]["foo"] = 1
    status, _, err = await api.raw("POST", POD_PATH, body, params={"fieldValidation": "Strict"})
    assert status == 400
    assert 'unknown field "spec.foo"' in err["message"]
    assert (await api.raw("GET", POD_PATH + "/p"))[0] == 404
    # Without Strict the field is dropped or kept, but the create succeeds.
    status, _, _ = await api.raw("POST", POD_PATH, body)
    assert status == 201


async def test_a_post_into_a_missing_namespace_is_404(api: Api) -> None:
    status, _, body = await api.raw("POST", "/api/v1/namespaces/x/configmaps", cm("a"))
    assert status == 404
    assert body["reason"] == "NotFound"
    assert body["message"] == 'namespaces "x" not found'


async def test_bad_selectors_and_mismatched_namespaces_are_400(api: Api) -> None:
    status, _, body = await api.raw("GET", CM_PATH, params={"labelSelector": "a in ("})
    assert status == 400
    assert body["reason"] == "BadRequest"
    status, _, body = await api.raw("GET", CM_PATH, params={"fieldSelector": "nonsense"})
    assert status == 400
    wrong = cm("a")
    wrong["metadata"]["namespace"] = "kube-system"
    status, _, body = await api.raw("POST", CM_PATH, wrong)
    assert status == 400
    assert "does not match the namespace" in body["message"]


async def test_an_unknown_resource_is_404(api: Api) -> None:
    status, _, body = await api.raw("GET", "/api/v1/namespaces/default/widgets")
    assert status == 404
    assert body["kind"] == "Status"
    status, _, body = await api.raw("GET", CM_PATH + "/none")
    assert status == 404
    assert body["message"] == 'configmaps "none" not found'


# ---- discovery ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api", "/apis"])
async def test_aggregated_discovery_answers_with_its_content_type(api: Api, path: str) -> None:
    accept = {"Accept": discovery.AGGREGATED + ",application/json;q=0.9"}
    status, headers, body = await api.raw("GET", path, headers=accept)
    assert status == 200
    assert headers["Content-Type"] == discovery.AGGREGATED
    assert body["kind"] == "APIGroupDiscoveryList"
    status, headers, body = await api.raw("GET", path)
    assert headers["Content-Type"].startswith("application/json")
    assert body["kind"] == ("APIVersions" if path == "/api" else "APIGroupList")


async def test_openapi_documents_are_served(api: Api) -> None:
    status, _, root = await api.raw("GET", "/openapi/v3")
    assert status == 200
    url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
    status, _, doc = await api.raw("GET", url)
    assert status == 200
    assert any(op["patch"]["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
               for op in doc["paths"].values())
