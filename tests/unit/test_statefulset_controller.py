"""StatefulSet controller pure logic: ordinals, pods, ordered/parallel steps, updates, status."""
import copy

import pytest
from recording_api import RecordingApi

from emunet.client import Client, Credentials
from emunet.config import ClusterConfig
from emunet.controllers import statefulset as sc
from emunet.resources import Resource

STS_RES = Resource("apps", "v1", "StatefulSet", "statefulsets", "statefulset",
                   subresources=("scale", "status"))


def sts(replicas=3, policy="OrderedReady", strategy=None, image="nginx", status=None,
        generation=1, claims=None, service="nginx", volumes=None):
    spec = {"replicas": replicas, "podManagementPolicy": policy, "serviceName": service,
            "selector": {"matchLabels": {"app": "web"}},
            "updateStrategy": strategy or {"type": "RollingUpdate",
                                           "rollingUpdate": {"partition": 0}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"restartPolicy": "Always",
                                  "containers": [{"name": "c", "image": image}],
                                  **({"volumes": volumes} if volumes else {})}}}
    if claims:
        spec["volumeClaimTemplates"] = [{"metadata": {"name": c}} for c in claims]
    return {"metadata": {"name": "web", "namespace": "default", "uid": "u1",
                         "generation": generation},
            "spec": spec, "status": status or {}}


def pod(i, s=None, phase="Running", ready=True, deleting=False, old=False, name=None):
    s = s or sts()
    labels = {"app": "web", sc.HASH_LABEL: "web-old" if old else sc.revision(s)}
    meta = {"name": name or f"web-{i}", "namespace": "default", "labels": labels}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    conds = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {"metadata": meta, "spec": {}, "status": {"phase": phase, "conditions": conds}}


def names(pods):
    return [p["metadata"]["name"] for p in pods]


def healthy(n, s=None, **kw):
    return [pod(i, s, **kw) for i in range(n)]


# ---- pure parts ------------------------------------------------------------


@pytest.mark.parametrize("name,expected", [
    ("web-0", 0), ("web-12", 12), ("web-01", None), ("web-", None), ("web", None),
    ("web-x", None), ("webx-1", None), ("other-1", None), ("web-web-1", None),
    ("web--1", None)])
def test_ordinal_of(name, expected):
    assert sc.ordinal_of(sts(), {"metadata": {"name": name}}) == expected


def test_revision_follows_the_template_only():
    r = sc.revision(sts())
    assert r.startswith("web-") and len(r) > len("web-") + 5
    assert sc.revision(sts(replicas=5, policy="Parallel", generation=3)) == r
    assert sc.revision(sts(image="nginx:2")) != r


def test_pod_for_has_identity_revision_and_owner():
    s = sts()
    p = sc.pod_for(s, STS_RES, 2)
    meta = p["metadata"]
    assert meta["name"] == "web-2" and "generateName" not in meta
    assert meta["namespace"] == "default"
    assert meta["labels"] == {"app": "web", sc.POD_NAME_LABEL: "web-2",
                              sc.POD_INDEX_LABEL: "2", sc.HASH_LABEL: sc.revision(s)}
    assert meta["ownerReferences"] == [{
        "apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "u1",
        "controller": True, "blockOwnerDeletion": True}]
    assert p["spec"]["hostname"] == "web-2" and p["spec"]["subdomain"] == "nginx"
    assert "volumes" not in p["spec"]
    assert "subdomain" not in sc.pod_for(sts(service=""), STS_RES, 0)["spec"]


def test_pod_for_adds_claim_volumes_replacing_template_ones_of_that_name():
    s = sts(claims=["www", "logs"], volumes=[{"name": "logs", "emptyDir": {}},
                                             {"name": "cfg", "emptyDir": {}}])
    before = copy.deepcopy(s)
    vols = sc.pod_for(s, STS_RES, 1)["spec"]["volumes"]
    assert vols == [{"name": "www", "persistentVolumeClaim": {"claimName": "www-web-1"}},
                    {"name": "logs", "persistentVolumeClaim": {"claimName": "logs-web-1"}},
                    {"name": "cfg", "emptyDir": {}}]
    assert s == before


# ---- OrderedReady ------------------------------------------------------------


@pytest.mark.parametrize("pods,create,delete", [
    ([], [0], []),
    (healthy(1), [1], []),
    (healthy(2), [2], []),
    (healthy(3), [], []),
    # Pod 0 not yet Running, or not Ready: nothing more.
    ([pod(0, phase="Pending", ready=False)], [], []),
    ([pod(0, ready=False)], [], []),
    # A gap is filled first, and nothing past it is touched.
    ([pod(0), pod(2)], [1], []),
    # A terminating pod keeps its name taken, and blocks what follows.
    ([pod(0, deleting=True)], [], []),
    ([pod(0), pod(1, deleting=True)], [], []),
])
def test_ordered_ready_creates_one_pod_at_a_time(pods, create, delete):
    d = sc.decide(sts(), pods)
    assert d.create == create and names(d.delete) == delete


def test_a_failed_or_succeeded_pod_is_deleted_to_be_recreated_under_its_name():
    d = sc.decide(sts(), [pod(0), pod(1, phase="Failed", ready=False)])
    assert names(d.delete) == ["web-1"] and d.create == []
    assert d.events == [("Warning", "RecreatingFailedPod",
                         "StatefulSet default/web is recreating failed Pod web-1")]
    d = sc.decide(sts(), [pod(0, phase="Succeeded", ready=False)])
    assert names(d.delete) == ["web-0"]
    assert d.events[0][:2] == ("Normal", "RecreatingTerminatedPod")
    # Already going: wait for it to be gone.
    d = sc.decide(sts(), [pod(0, phase="Failed", ready=False, deleting=True)])
    assert (d.delete, d.create, d.events) == ([], [], [])


@pytest.mark.parametrize("pods,delete", [
    (healthy(5), ["web-4"]),
    (healthy(4), ["web-3"]),
    # One at a time: the one going blocks the next.
    (healthy(4) + [pod(4, deleting=True)], []),
    # A wanted pod that is unhealthy blocks scaling down.
    ([pod(0), pod(1, ready=False), pod(2), pod(3)], []),
    # An unhealthy condemned pod goes when it is the lowest unhealthy one...
    (healthy(3) + [pod(3), pod(4, ready=False)], ["web-4"]),
    # ...but not while a lower condemned one is unhealthy too.
    (healthy(3) + [pod(3, ready=False), pod(4, ready=False)], []),
])
def test_ordered_scale_down_goes_highest_first(pods, delete):
    d = sc.decide(sts(replicas=3), pods)
    assert names(d.delete) == delete and d.create == []


def test_a_missing_wanted_pod_is_made_before_condemned_ones_go():
    d = sc.decide(sts(replicas=3), [pod(0), pod(2), pod(3)])
    assert (d.delete, d.create) == ([], [1])


def test_pods_that_are_not_members_are_ignored():
    d = sc.decide(sts(replicas=1), [pod(0), pod(0, name="web-01"), pod(0, name="other-3")])
    assert (d.delete, d.create) == ([], [])


def test_start_ordinal_shifts_the_range():
    s = sts(replicas=2)
    s["spec"]["ordinals"] = {"start": 5}
    assert sc.decide(s, []).create == [5]
    assert sc.decide(s, [pod(5, s)]).create == [6]
    assert names(sc.decide(s, [pod(0, s), pod(5, s), pod(6, s)]).delete) == ["web-0"]


# ---- Parallel ----------------------------------------------------------------


def test_parallel_creates_and_deletes_all_at_once():
    s = sts(replicas=3, policy="Parallel")
    assert sc.decide(s, []).create == [0, 1, 2]
    d = sc.decide(s, [pod(0, s, phase="Pending", ready=False), pod(1, s, phase="Failed")])
    assert names(d.delete) == ["web-1"] and d.create == [2]
    d = sc.decide(s, [pod(i, s, ready=i != 4) for i in range(6)])
    assert names(d.delete) == ["web-5", "web-4", "web-3"]
    d = sc.decide(s, [pod(0, s), pod(1, s, deleting=True), pod(4, s, deleting=True)])
    assert (d.delete, d.create) == ([], [2])


# ---- rolling updates ---------------------------------------------------------


def test_rolling_update_replaces_the_highest_old_pod_first_one_at_a_time():
    s = sts()
    old = healthy(3, s, old=True)
    assert names(sc.decide(s, old).delete) == ["web-2"]
    # The replacement is made once the old pod is gone, then waited for.
    assert sc.decide(s, old[:2] + [pod(2, s, old=True, deleting=True)]).delete == []
    assert sc.decide(s, old[:2]).create == [2]
    assert sc.decide(s, old[:2] + [pod(2, s, phase="Pending", ready=False)]).delete == []
    assert names(sc.decide(s, old[:2] + [pod(2, s)]).delete) == ["web-1"]
    assert names(sc.decide(s, [old[0], pod(1, s), pod(2, s)]).delete) == ["web-0"]
    assert sc.decide(s, healthy(3, s)).delete == []


def test_rolling_update_stops_at_the_partition():
    s = sts(strategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})
    old = healthy(3, s, old=True)
    assert names(sc.decide(s, old).delete) == ["web-2"]
    assert sc.decide(s, old[:2] + [pod(2, s)]).delete == []


def test_ordered_rolling_update_waits_for_every_pod_to_be_healthy():
    s = sts()
    assert sc.decide(s, [pod(0, s, old=True, ready=False)] + healthy(3, s, old=True)[1:]
                     ).delete == []
    # Parallel only waits for the pods above the one it replaces.
    p = sts(policy="Parallel")
    pods = [pod(0, p, old=True, ready=False), pod(1, p, old=True), pod(2, p)]
    assert names(sc.decide(p, pods).delete) == ["web-1"]


def test_on_delete_never_replaces_old_pods():
    s = sts(strategy={"type": "OnDelete"})
    d = sc.decide(s, healthy(3, s, old=True))
    assert (d.delete, d.create) == ([], [])
    assert sc.decide(s, healthy(2, s, old=True)).create == [2]


# ---- status ------------------------------------------------------------------


def test_status_of_a_settled_statefulset():
    s = sts(generation=4)
    assert sc.decide(s, healthy(3, s)).status == {
        "observedGeneration": 4, "replicas": 3, "readyReplicas": 3, "availableReplicas": 3,
        "currentReplicas": 3, "updatedReplicas": 3, "currentRevision": sc.revision(s),
        "updateRevision": sc.revision(s), "collisionCount": 0}


def test_status_of_a_fresh_statefulset_omits_zero_counters_and_keeps_conditions():
    s = sts(status={"conditions": [{"type": "X", "status": "True"}]})
    assert sc.decide(s, []).status == {
        "conditions": [{"type": "X", "status": "True"}], "observedGeneration": 1,
        "replicas": 0, "availableReplicas": 0, "currentRevision": sc.revision(s),
        "updateRevision": sc.revision(s), "collisionCount": 0}


def test_status_during_and_after_a_rolling_update():
    s = sts(status={"currentRevision": "web-old"})
    pods = [pod(0, s, old=True), pod(1, s, old=True, deleting=True), pod(2, s)]
    st = sc.decide(s, pods).status
    assert (st["replicas"], st["readyReplicas"], st["currentReplicas"],
            st["updatedReplicas"]) == (3, 3, 1, 1)
    assert (st["currentRevision"], st["updateRevision"]) == ("web-old", sc.revision(s))
    # Every pod updated but one not ready: not yet complete.
    st = sc.decide(s, [pod(0, s, ready=False), pod(1, s), pod(2, s)]).status
    assert st["currentRevision"] == "web-old" and "currentReplicas" not in st
    st = sc.decide(s, healthy(3, s)).status
    assert st["currentRevision"] == st["updateRevision"] == sc.revision(s)
    assert st["currentReplicas"] == st["updatedReplicas"] == 3


def test_on_delete_keeps_the_current_revision():
    s = sts(strategy={"type": "OnDelete"}, status={"currentRevision": "web-old"})
    st = sc.decide(s, healthy(3, s)).status
    assert st["currentRevision"] == "web-old" and st["updatedReplicas"] == 3


# ---- the controller's sync, with the API calls recorded ----------------------


class Api(RecordingApi):
    async def create(self, res, obj, namespace=None):
        self.made += 1
        out = copy.deepcopy(obj)
        out["metadata"].update(uid=f"p{self.made}", resourceVersion=str(100 + self.made))
        out["status"] = {"phase": "Pending"}
        self.calls.append(("create", out["metadata"]["name"]))
        return out


def controller():
    c = Client(Credentials("https://127.0.0.1:1", "t"))
    ctrl = sc.Controller(c, ClusterConfig())
    return ctrl, Api(c, ctrl.pods)


async def test_sync_adopts_creates_in_order_and_writes_the_status_once():
    ctrl, api = controller()
    s = sts(replicas=2)
    s["metadata"]["resourceVersion"] = "7"
    ctrl.sets.cache[("default", "web")] = s
    orphan = pod(0, s)
    orphan["metadata"]["resourceVersion"] = "5"
    ctrl.pods.cache[("default", "web-0")] = orphan
    stranger = pod(0, s, name="web-extra")
    stranger["metadata"]["resourceVersion"] = "6"
    ctrl.pods.cache[("default", "web-extra")] = stranger
    assert await ctrl.sync(("default", "web")) is None
    assert [call[0] for call in api.calls] == ["patch", "create", "event", "update"]
    assert api.calls[0][1] == "web-0"
    assert api.calls[0][2]["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"
    assert api.calls[1] == ("create", "web-1")
    assert api.calls[2] == ("event", "Normal", "SuccessfulCreate",
                            "create Pod web-1 in StatefulSet web successful")
    assert api.calls[3][1] == "status" and api.calls[3][2]["replicas"] == 1
    assert ("default", "web-1") in ctrl.pods.cache
    api.calls.clear()
    # web-1 is pending: only the status moves on, then nothing is left to do.
    assert await ctrl.sync(("default", "web")) is None
    assert [call[0] for call in api.calls] == ["update"]
    assert api.calls[0][2]["replicas"] == 2 and api.calls[0][2]["readyReplicas"] == 1
    api.calls.clear()
    assert await ctrl.sync(("default", "web")) is None
    assert api.calls == []


async def test_sync_scales_down_with_upstreams_event():
    ctrl, api = controller()
    s = sts(replicas=1)
    ctrl.sets.cache[("default", "web")] = s
    for p in healthy(2, s):
        p["metadata"]["ownerReferences"] = [sc.common.owner_ref(s, STS_RES)]
        ctrl.pods.cache[("default", p["metadata"]["name"])] = p
    await ctrl.sync(("default", "web"))
    assert api.calls[:2] == [("delete", "web-1"), (
        "event", "Normal", "SuccessfulDelete", "delete Pod web-1 in StatefulSet web successful")]
    assert ("default", "web-1") not in ctrl.pods.cache


def test_pod_events_reach_their_statefulset():
    ctrl, _ = controller()
    s = sts()
    ctrl.sets.cache[("default", "web")] = s
    owned = pod(0, s)
    owned["metadata"]["ownerReferences"] = [sc.common.owner_ref(s, STS_RES)]
    ctrl._on_pod("MODIFIED", owned, None)
    assert len(ctrl.queue) == 1
    ctrl2, _ = controller()
    ctrl2.sets.cache[("default", "web")] = s
    ctrl2._on_pod("ADDED", pod(0, s, name="web-x"), None)  # not a member: not adopted
    assert len(ctrl2.queue) == 0
