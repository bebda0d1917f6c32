"""DaemonSet controller pure logic: where daemons run, tolerations, rolling updates, status."""
import copy

import pytest
from recording_api import RecordingApi

from emunet.client import Client, Credentials
from emunet.config import ClusterConfig
from emunet.controllers import daemonset as dc
from emunet.controllers.replicaset import parse_time
from emunet.resources import Resource

T0 = parse_time("2026-11-27T16:59:28Z")
DS_RES = Resource("apps", "v1", "DaemonSet", "daemonsets", "daemonset", subresources=("status",))
NOT_READY = ("node.kubernetes.io/not-ready", "Exists", "NoExecute")
ADDED = [NOT_READY, ("node.kubernetes.io/unreachable", "Exists", "NoExecute"),
         ("node.kubernetes.io/disk-pressure", "Exists", "NoSchedule"),
         ("node.kubernetes.io/memory-pressure", "Exists", "NoSchedule"),
         ("node.kubernetes.io/pid-pressure", "Exists", "NoSchedule"),
         ("node.kubernetes.io/unschedulable", "Exists", "NoSchedule")]


def ago(seconds):
    return dc.job.rfc3339(T0 - seconds)


def node(name, labels=None, taints=None, ready="True", cordoned=False, deleting=False):
    meta = {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}}
    if deleting:
        meta["deletionTimestamp"] = ago(1)
    return {"metadata": meta, "spec": {"taints": taints or [], "unschedulable": cordoned},
            "status": {"conditions": [{"type": "Ready", "status": ready,
                                       "lastHeartbeatTime": ago(5)}]}}


def taint(key, effect="NoSchedule", value=None):
    return {"key": key, "effect": effect, **({"value": value} if value else {})}


def ds(strategy=None, status=None, generation=1, min_ready=None, **pod_spec):
    spec = {"selector": {"matchLabels": {"app": "agent"}},
            "updateStrategy": strategy or {"type": "RollingUpdate",
                                           "rollingUpdate": {"maxUnavailable": 1,
                                                             "maxSurge": 0}},
            "revisionHistoryLimit": 10,
            "template": {"metadata": {"labels": {"app": "agent"}},
                         "spec": {"restartPolicy": "Always",
                                  "containers": [{"name": "c", "image": "agnhost"}],
                                  **pod_spec}}}
    if min_ready is not None:
        spec["minReadySeconds"] = min_ready
    return {"metadata": {"name": "agent", "namespace": "default", "uid": "u1",
                         "generation": generation},
            "spec": spec, "status": status or {}}


def pod(name, on, d=None, phase="Running", ready=True, since=ago(600), created=ago(600),
        deleting=False, finished=None, old=False):
    d = d or ds()
    labels = {"app": "agent", dc.HASH_LABEL: "stale" if old else dc.template_hash(d),
              dc.GENERATION_LABEL: "0" if old else dc.template_generation(d)}
    meta = {"name": name, "namespace": "default", "creationTimestamp": created, "labels": labels}
    if deleting:
        meta["deletionTimestamp"] = ago(1)
    conds = [] if ready is None else [{"type": "Ready", "status": "True" if ready else "False",
                                       "lastTransitionTime": since}]
    state = {"terminated": {"finishedAt": finished}} if finished else {"running": {}}
    return {"metadata": meta, "spec": {"nodeName": on},
            "status": {"phase": phase, "conditions": conds,
                       "containerStatuses": [{"restartCount": 0, "state": state}]}}


def names(pods):
    return [p["metadata"]["name"] for p in pods]


def tols(tolerations):
    return [(t.get("key"), t.get("operator"), t.get("effect")) for t in tolerations]


NODES = [node("n1"), node("n2"), node("n3")]


# ---- pure parts ------------------------------------------------------------


@pytest.mark.parametrize("template,host_network,expected", [
    (None, False, ADDED),
    ([{"key": "dedicated", "operator": "Equal", "value": "x", "effect": "NoSchedule"}], False,
     [("dedicated", "Equal", "NoSchedule")] + ADDED),
    # One the template has is replaced in place, dropping its tolerationSeconds.
    ([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
       "tolerationSeconds": 300}], False, ADDED),
    # Another operator is another toleration, as MatchToleration has it.
    ([{"key": "node.kubernetes.io/unreachable", "operator": "Equal", "effect": "NoExecute"}],
     False, [("node.kubernetes.io/unreachable", "Equal", "NoExecute")] + ADDED),
    (None, True, ADDED + [("node.kubernetes.io/network-unavailable", "Exists", "NoSchedule")]),
])
def test_daemon_tolerations(template, host_network, expected):
    before = copy.deepcopy(template)
    out = dc.daemon_tolerations(template, host_network)
    assert tols(out) == expected
    assert all("tolerationSeconds" not in t for t in out if t["key"].startswith("node."))
    assert template == before


@pytest.mark.parametrize("n,pod_spec,expected", [
    (node("n1"), {}, (True, True)),
    (node("n1"), {"nodeSelector": {"disk": "ssd"}}, (False, False)),
    (node("n1", labels={"disk": "ssd"}), {"nodeSelector": {"disk": "ssd"}}, (True, True)),
    (node("n1"), {"nodeName": "n1"}, (True, True)),
    (node("n1"), {"nodeName": "n2"}, (False, False)),
    (node("n1"), {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                                "values": ["n2"]}]}]}}}}, (False, False)),
    (node("n1", deleting=True), {}, (False, False)),
    # Cordoned, and the taints the daemon tolerates: the daemon still runs there.
    (node("n1", cordoned=True), {}, (True, True)),
    (node("n1", taints=[taint("node.kubernetes.io/unschedulable")]), {}, (True, True)),
    (node("n1", taints=[taint("node.kubernetes.io/memory-pressure")]), {}, (True, True)),
    # An untolerated NoSchedule taint: no new pod, but the one there stays.
    (node("n1", taints=[taint("dedicated", value="x")]), {}, (False, True)),
    (node("n1", taints=[taint("dedicated", "NoExecute")]), {}, (False, False)),
    (node("n1", taints=[taint("dedicated", "NoExecute")]),
     {"tolerations": [{"key": "dedicated", "operator": "Exists"}]}, (True, True)),
    (node("n1", taints=[taint("dedicated", "PreferNoSchedule")]), {}, (True, True)),
    # An unreachable node (the node lifecycle controller's taints), a NotReady one.
    (node("n1", ready="Unknown", taints=[taint("node.kubernetes.io/unreachable"),
                                         taint("node.kubernetes.io/unreachable", "NoExecute")]),
     {}, (False, True)),
    (node("n1", ready="False"), {}, (False, True)),
])
def test_node_should_run(n, pod_spec, expected):
    assert dc.node_should_run(ds(**pod_spec), n) == expected
    assert dc.should_run(ds(**pod_spec), n) is expected[0]


def test_template_hash_follows_the_template_only():
    h = dc.template_hash(ds())
    assert h == dc.template_hash(ds()) and len(h) >= 8
    assert dc.template_hash(ds(strategy={"type": "OnDelete"}, generation=2)) == h
    assert dc.template_hash(ds(nodeSelector={"disk": "ssd"})) != h
    assert dc.template_hash(ds(status={"collisionCount": 1})) != h


def test_template_generation_prefers_upstreams_annotation():
    d = ds(generation=4)
    assert dc.template_generation(d) == "4"
    d["metadata"]["annotations"] = {dc.GENERATION_ANNOTATION: "2"}
    assert dc.template_generation(d) == "2"


@pytest.mark.parametrize("labels,updated", [
    ({dc.HASH_LABEL: "h", dc.GENERATION_LABEL: "3"}, True),
    ({dc.HASH_LABEL: "h", dc.GENERATION_LABEL: "1"}, True),
    ({dc.HASH_LABEL: "old", dc.GENERATION_LABEL: "3"}, True),
    ({dc.HASH_LABEL: "old", dc.GENERATION_LABEL: "1"}, False),
    ({}, False),
])
def test_is_updated(labels, updated):
    assert dc.is_updated({"metadata": {"labels": labels}}, "h", "3") is updated


@pytest.mark.parametrize("rolling,desired,expected", [
    ({"maxUnavailable": 1}, 3, 1),
    ({"maxUnavailable": 2}, 3, 2),
    ({"maxUnavailable": "34%"}, 3, 2),  # rounded up, as upstream
    ({"maxUnavailable": "50%"}, 5, 3),
    ({"maxUnavailable": "10%"}, 3, 1),
    ({"maxUnavailable": 0, "maxSurge": 1}, 3, 1),  # surge is not done: at least one
    ({"maxUnavailable": "0%", "maxSurge": "10%"}, 3, 1),
    ({"maxUnavailable": 1}, 0, 1),
])
def test_max_unavailable(rolling, desired, expected):
    d = ds(strategy={"type": "RollingUpdate", "rollingUpdate": rolling})
    assert dc.max_unavailable(d, desired) == expected


def test_on_delete_allows_no_unavailability():
    assert dc.max_unavailable(ds(strategy={"type": "OnDelete"}), 3) == 0


@pytest.mark.parametrize("p,min_ready,left", [
    (pod("a", "n1", ready=True, since=ago(5)), 0, 0.0),
    (pod("a", "n1", ready=True, since=ago(5)), 20, 15.0),
    (pod("a", "n1", ready=True, since=ago(50)), 20, 0.0),
    (pod("a", "n1", ready=False), 0, None),
    (pod("a", "n1", ready=None, phase="Pending"), 0, None),
])
def test_until_available(p, min_ready, left):
    assert dc.until_available(p, min_ready, T0) == left


def test_pods_by_node_oldest_first_deleted_last_without_finished_deleted_ones():
    pods = [pod("young", "n1", created=ago(5)), pod("old", "n1", created=ago(50)),
            pod("b", "n1", created=ago(50)), pod("oldest", "n1", created=ago(90), deleting=True),
            pod("gone", "n1", phase="Failed", deleting=True),
            pod("stopping", "n2", deleting=True), pod("unbound", "")]
    by_node = dc.pods_by_node(pods)
    assert {k: names(v) for k, v in by_node.items()} == {
        "n1": ["b", "old", "young", "oldest"], "n2": ["stopping"]}


@pytest.mark.parametrize("changed,expected", [
    (lambda n: n["status"]["conditions"][0].update(lastHeartbeatTime=ago(0)), False),
    (lambda n: n["metadata"].update(resourceVersion="9", annotations={"a": "b"}), False),
    (lambda n: n["metadata"]["labels"].update(disk="ssd"), True),
    (lambda n: n["spec"]["taints"].append(taint("dedicated")), True),
    (lambda n: n["spec"].update(unschedulable=True), True),
    (lambda n: n["status"]["conditions"][0].update(status="Unknown"), True),
    (lambda n: n["metadata"].update(deletionTimestamp=ago(0)), True),
])
def test_node_changed(changed, expected):
    new = node("n1")
    changed(new)
    assert dc.node_changed(node("n1"), new) is expected


def test_pod_from_template_is_bound_labelled_owned_and_tolerant():
    d = ds(generation=3, tolerations=[{"key": "dedicated", "operator": "Exists"}])
    before = copy.deepcopy(d)
    p = dc.pod_from_template(d, DS_RES, "n2")
    assert p["metadata"]["generateName"] == "agent-"
    assert p["metadata"]["namespace"] == "default"
    assert p["metadata"]["labels"] == {"app": "agent", dc.HASH_LABEL: dc.template_hash(d),
                                       dc.GENERATION_LABEL: "3"}
    assert p["metadata"]["ownerReferences"] == [
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": "u1",
         "controller": True, "blockOwnerDeletion": True}]
    assert p["spec"]["nodeName"] == "n2"
    assert tols(p["spec"]["tolerations"]) == [("dedicated", "Exists", None)] + ADDED
    assert p["spec"]["containers"] == d["spec"]["template"]["spec"]["containers"]
    assert d == before


# ---- one sync ----------------------------------------------------------------


def test_a_fresh_daemonset_creates_one_pod_per_node():
    d = dc.decide(ds(), NODES, [], T0)
    assert (d.delete, d.create, d.events, d.requeue) == ([], ["n1", "n2", "n3"], [], None)
    assert d.status == {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                        "desiredNumberScheduled": 3, "numberReady": 0,
                        "observedGeneration": 1, "numberUnavailable": 3}


def test_a_settled_daemonset_does_nothing_and_omits_zero_counters():
    pods = [pod("a", "n1"), pod("b", "n2"), pod("c", "n3")]
    d = dc.decide(ds(status={"collisionCount": 0, "numberUnavailable": 2}), NODES, pods, T0)
    assert (d.delete, d.create, d.events, d.requeue) == ([], [], [], None)
    assert d.status == {"currentNumberScheduled": 3, "numberMisscheduled": 0,
                        "desiredNumberScheduled": 3, "numberReady": 3,
                        "observedGeneration": 1, "updatedNumberScheduled": 3,
                        "numberAvailable": 3, "collisionCount": 0}


def test_pods_leave_nodes_that_no_longer_match():
    d0 = ds(nodeSelector={"disk": "ssd"})
    nodes = [node("n1", labels={"disk": "ssd"}), node("n2")]
    pods = [pod("a", "n1", d0), pod("b", "n2", d0), pod("c", "n2", d0, deleting=True)]
    d = dc.decide(d0, nodes, pods, T0)
    assert names(d.delete) == ["b"] and d.create == []
    assert (d.status["desiredNumberScheduled"], d.status["numberMisscheduled"]) == (1, 1)


def test_extra_pods_on_a_node_go_newest_first():
    pods = [pod("new", "n1", created=ago(5)), pod("old", "n1", created=ago(50)),
            pod("newer", "n1", created=ago(1)), pod("b", "n2"), pod("c", "n3")]
    d = dc.decide(ds(), NODES, pods, T0)
    assert names(d.delete) == ["new", "newer"] and d.create == []
    assert d.status["currentNumberScheduled"] == 3


def test_a_node_with_only_a_terminating_daemon_gets_a_new_one_at_once():
    pods = [pod("a", "n1", deleting=True), pod("b", "n2"), pod("c", "n3")]
    d = dc.decide(ds(), NODES, pods, T0)
    assert d.create == ["n1"] and d.delete == []
    assert d.status["currentNumberScheduled"] == 3


def test_the_status_counts_the_replacement_not_the_pod_it_replaces():
    pods = [pod("a", "n1", old=True, deleting=True), pod("a2", "n1", created=ago(5)),
            pod("b", "n2"), pod("c", "n3")]
    d = dc.decide(ds(), NODES, pods, T0)
    assert d.create == [] and d.delete == []
    assert d.status["updatedNumberScheduled"] == 3 and "numberUnavailable" not in d.status


def test_a_failed_pod_is_killed_after_the_backoff_then_replaced():
    failed = pod("a", "n1", phase="Failed", ready=False, finished=ago(4))
    pods = [failed, pod("b", "n2"), pod("c", "n3")]
    d = dc.decide(ds(), NODES, pods, T0, backoff=10)
    assert (d.delete, d.create, d.requeue) == ([], [], 6)
    d = dc.decide(ds(), NODES, pods, T0 + 6, backoff=10)
    assert names(d.delete) == ["a"] and d.create == []
    assert d.events == [("Warning", "FailedDaemonPod", "Found failed daemon pod default/a on "
                         "node n1, will try to kill it")]
    assert dc.decide(ds(), NODES, pods[1:], T0 + 7, backoff=10).create == ["n1"]


def test_a_succeeded_pod_is_deleted_quietly():
    pods = [pod("a", "n1", phase="Succeeded", ready=False), pod("b", "n2"), pod("c", "n3")]
    d = dc.decide(ds(), NODES, pods, T0)
    assert names(d.delete) == ["a"] and d.events == []


def test_an_unreachable_node_keeps_its_daemon_but_gets_no_new_one():
    down = node("n3", ready="Unknown", taints=[
        taint("node.kubernetes.io/unreachable"),
        taint("node.kubernetes.io/unreachable", "NoExecute")])
    pods = [pod("a", "n1"), pod("c", "n3", ready=False)]
    d = dc.decide(ds(), [node("n1"), node("n2"), down], pods, T0)
    assert d.delete == [] and d.create == ["n2"]
    assert (d.status["desiredNumberScheduled"], d.status["numberMisscheduled"]) == (2, 1)


def test_a_cordoned_node_runs_its_daemon():
    d = dc.decide(ds(), [node("n1", cordoned=True)], [], T0)
    assert d.create == ["n1"]


def test_daemon_pods_on_unknown_nodes_are_not_counted():
    d = dc.decide(ds(), [node("n1")], [pod("a", "n1"), pod("gone", "n9")], T0)
    assert d.delete == [] and d.status["currentNumberScheduled"] == 1
    assert d.status["numberMisscheduled"] == 0


def test_status_counts_the_oldest_pod_of_each_node():
    pods = [pod("a", "n1", ready=False, created=ago(50)), pod("a2", "n1", created=ago(5)),
            pod("b", "n2", old=True), pod("c", "n3", ready=True, since=ago(5))]
    d = dc.decide(ds(min_ready=20), NODES, pods, T0)
    assert {k: d.status.get(k) for k in ("numberReady", "numberAvailable",
                                         "updatedNumberScheduled", "numberUnavailable")} == {
        "numberReady": 2, "numberAvailable": 1, "updatedNumberScheduled": 2,
        "numberUnavailable": 2}
    assert d.requeue == 15  # when c has been ready for minReadySeconds


# ---- rolling updates ---------------------------------------------------------


def old_pods(**kw):
    return [pod(name, on, old=True, **kw) for name, on in (("a", "n1"), ("b", "n2"), ("c", "n3"))]


def test_a_rolling_update_deletes_one_available_old_pod_at_a_time():
    d = dc.decide(ds(), NODES, old_pods(), T0)
    assert names(d.delete) == ["a"] and d.create == []
    assert "updatedNumberScheduled" not in d.status and d.status["numberAvailable"] == 3
    # While n1 has no pod, or only an unready new one, nothing else goes.
    stopping = [pod("a", "n1", old=True, deleting=True)] + old_pods()[1:]
    assert dc.decide(ds(), NODES, stopping, T0).delete == []
    assert dc.decide(ds(), NODES, stopping, T0).create == ["n1"]
    waiting = [pod("a2", "n1", ready=False)] + old_pods()[1:]
    assert dc.decide(ds(), NODES, waiting, T0).delete == []
    ready = [pod("a2", "n1")] + old_pods()[1:]
    assert names(dc.decide(ds(), NODES, ready, T0).delete) == ["b"]


def test_max_unavailable_lets_several_go_at_once():
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "50%"}}
    assert names(dc.decide(ds(strategy=strategy), NODES, old_pods(), T0).delete) == ["a", "b"]


def test_unavailable_old_pods_are_replaced_at_once_and_count_against_the_budget():
    pods = old_pods()
    pods[1] = pod("b", "n2", old=True, ready=False)
    d = dc.decide(ds(), NODES, pods, T0)
    assert names(d.delete) == ["b"]


def test_a_new_pod_waits_min_ready_seconds_before_the_next_old_one_goes():
    pods = [pod("a2", "n1", since=ago(5))] + old_pods()[1:]
    d = dc.decide(ds(min_ready=30), NODES, pods, T0)
    assert d.delete == [] and d.requeue == 25
    assert names(dc.decide(ds(min_ready=30), NODES, pods, T0 + 25).delete) == ["b"]


def test_on_delete_never_replaces_old_pods():
    d = dc.decide(ds(strategy={"type": "OnDelete"}), NODES, old_pods(), T0)
    assert d.delete == [] and d.create == []
    assert d.status.get("updatedNumberScheduled") is None


def test_old_pods_on_nodes_that_keep_but_do_not_want_them_stay():
    tainted = node("n3", taints=[taint("dedicated")])
    d = dc.decide(ds(), [node("n1"), node("n2"), tainted], [pod("a", "n1"), pod("b", "n2"),
                                                            pod("c", "n3", old=True)], T0)
    assert d.delete == []


# ---- the controller's sync, with the API calls recorded ----------------------


class Api(RecordingApi):
    async def create(self, res, obj, namespace=None):
        self.made += 1
        out = copy.deepcopy(obj)
        out["metadata"].update(name=f"{obj['metadata']['generateName']}{self.made}",
                               uid=f"p{self.made}", resourceVersion=str(100 + self.made),
                               creationTimestamp=ago(0))
        self.calls.append(("create", out["spec"]["nodeName"]))
        return out


async def test_sync_adopts_creates_and_writes_the_status_once():
    c = Client(Credentials("https://127.0.0.1:1", "t"))
    ctrl = dc.Controller(c, ClusterConfig())
    api = Api(c, ctrl.pods)
    d = ds()
    d["metadata"]["resourceVersion"] = "7"
    ctrl.dss.cache[("default", "agent")] = d
    for n in NODES[:2]:
        ctrl.nodes.cache[("", n["metadata"]["name"])] = n
    orphan = pod("orphan", "n1")
    orphan["metadata"]["resourceVersion"] = "5"
    ctrl.pods.cache[("default", "orphan")] = orphan
    assert await ctrl.sync(("default", "agent")) is None
    kinds = [call[0] for call in api.calls]
    assert kinds == ["patch", "create", "event", "update"]
    assert api.calls[0][2]["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"
    assert api.calls[1] == ("create", "n2")
    assert api.calls[2] == ("event", "Normal", "SuccessfulCreate", "Created pod: agent-1")
    assert api.calls[3][1] == "status" and api.calls[3][2]["desiredNumberScheduled"] == 2
    assert ("default", "agent-1") in ctrl.pods.cache
    api.calls.clear()
    # The adopted pod and the new one are in the cache: only the status moves on.
    assert await ctrl.sync(("default", "agent")) is None
    assert [call[0] for call in api.calls] == ["update"]
    assert api.calls[0][2] == {
        "currentNumberScheduled": 2, "numberMisscheduled": 0, "desiredNumberScheduled": 2,
        "numberReady": 1, "observedGeneration": 1, "updatedNumberScheduled": 2,
        "numberAvailable": 1, "numberUnavailable": 1}
    api.calls.clear()
    # The status it wrote is in the cache too: nothing left to do.
    assert await ctrl.sync(("default", "agent")) is None
    assert api.calls == []


async def test_sync_reports_failed_pods_before_deleting_them():
    c = Client(Credentials("https://127.0.0.1:1", "t"))
    ctrl = dc.Controller(c, ClusterConfig(crash_backoff_seconds=0))
    api = Api(c, ctrl.pods)
    ctrl.dss.cache[("default", "agent")] = ds()
    ctrl.nodes.cache[("", "n1")] = node("n1")
    failed = pod("a", "n1", phase="Failed", ready=False, finished=ago(60))
    failed["metadata"]["ownerReferences"] = [dc.common.owner_ref(ds(), DS_RES)]
    ctrl.pods.cache[("default", "a")] = failed
    await ctrl.sync(("default", "agent"))
    assert api.calls[:3] == [
        ("event", "Warning", "FailedDaemonPod",
         "Found failed daemon pod default/a on node n1, will try to kill it"),
        ("delete", "a"), ("event", "Normal", "SuccessfulDelete", "Deleted pod: a")]
    assert ("default", "a") not in ctrl.pods.cache


async def test_a_node_heartbeat_does_not_sync_every_daemonset():
    ctrl = dc.Controller(Client(Credentials("https://127.0.0.1:1", "t")), ClusterConfig())
    ctrl.dss.cache[("default", "agent")] = ds()
    beat = node("n1")
    beat["status"]["conditions"][0]["lastHeartbeatTime"] = ago(0)
    ctrl._on_node("MODIFIED", beat, node("n1"))
    assert len(ctrl.queue) == 0
    ctrl._on_node("MODIFIED", node("n1", labels={"disk": "ssd"}), node("n1"))
    ctrl._on_node("DELETED", node("n2"), None)
    assert len(ctrl.queue) == 1
