"""Scheduler filtering, failure messages and spreading, as tables."""
import pytest

from emunet import scheduler


def node(name, ready="True", taints=(), unschedulable=False, labels=None):
    n = {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
         "spec": {"taints": list(taints)},
         "status": {"conditions": [{"type": "Ready", "status": ready}]}}
    if unschedulable:
        n["spec"]["unschedulable"] = True
    return n


def pod(name="p", labels=None, owner=None, ns="default", **spec):
    meta = {"name": name, "namespace": ns, "labels": labels or {}}
    if owner:
        meta["ownerReferences"] = [{"kind": "ReplicaSet", "name": owner, "uid": owner,
                                    "controller": True}]
    return {"metadata": meta, "spec": spec}


UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}
DEFAULT_TOLERATIONS = [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                        "effect": "NoExecute", "tolerationSeconds": 300},
                       {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                        "effect": "NoExecute", "tolerationSeconds": 300}]


@pytest.mark.parametrize("p,n,reason", [
    (pod(), node("a"), None),
    (pod(), node("a", unschedulable=True), "node(s) were unschedulable"),
    (pod(tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                       "effect": "NoSchedule"}]), node("a", unschedulable=True), None),
    (pod(tolerations=DEFAULT_TOLERATIONS), node("a", taints=[UNREACHABLE]),
     "node(s) had untolerated taint {node.kubernetes.io/unreachable: }"),
    (pod(), node("a", ready="False"),
     "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"),
    (pod(), node("a", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
     "node(s) had untolerated taint {dedicated: gpu}"),
    (pod(tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu"}]),
     node("a", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]), None),
    (pod(), node("a", taints=[{"key": "soft", "effect": "PreferNoSchedule"}]), None),
    (pod(nodeSelector={"disk": "ssd"}), node("a"),
     "node(s) didn't match Pod's node affinity/selector"),
    (pod(nodeSelector={"disk": "ssd"}), node("a", labels={"disk": "ssd"}), None),
    (pod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": ["b"]}]}]}}}),
     node("a"), "node(s) didn't match Pod's node affinity/selector"),
    (pod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": ["a"]}]}]}}}),
     node("a"), None),
    # Cordoned comes before taints, as NodeUnschedulable runs first.
    (pod(), node("a", unschedulable=True, taints=[UNREACHABLE]), "node(s) were unschedulable"),
])
def test_filter(p, n, reason):
    assert scheduler.filter_node(p, n) == reason


def test_fit_error_reads_like_kube_scheduler():
    affinity = "node(s) didn't match Pod's node affinity/selector"
    assert scheduler.fit_error(2, [affinity, affinity]) == (
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. "
        "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.")
    assert scheduler.fit_error(2, ["node(s) were unschedulable", affinity]) == (
        "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "1 node(s) were unschedulable. preemption: 0/2 nodes are available: "
        "2 Preemption is not helpful for scheduling.")
    assert scheduler.fit_error(0, []) == "no nodes available to schedule pods"


SVC = {"metadata": {"name": "my-nginx", "namespace": "default"},
       "spec": {"selector": {"run": "my-nginx"}}}


@pytest.mark.parametrize("p,placed,services,expected", [
    # Replicas of one ReplicaSet spread, even when the other node is busier.
    (pod(owner="rs1"), [("a", pod("x", owner="rs1")), ("b", pod("y")), ("b", pod("z"))],
     [], "b"),
    # Same Service selector counts next.
    (pod(labels={"run": "my-nginx"}), [("a", pod("x", labels={"run": "my-nginx"})),
                                       ("b", pod("y")), ("b", pod("z"))], [SVC], "b"),
    # Then fewest pods overall.
    (pod(), [("a", pod("x")), ("a", pod("y")), ("b", pod("z"))], [], "b"),
    # Then the name.
    (pod(), [], [], "a"),
    # Pods of another namespace's ReplicaSet with the same uid-less labels do not count.
    (pod(labels={"run": "my-nginx"}), [("a", pod("x", labels={"run": "my-nginx"}, ns="other"))],
     [SVC], "b"),
])
def test_pick_node_spreads(p, placed, services, expected):
    assert scheduler.pick_node(p, ["a", "b"], placed, services) == expected


def test_placement_counts_follow_pods_as_they_are_placed_moved_and_removed():
    placement = scheduler.Placement()
    placement.set(("default", "x"), "a", pod("x", owner="rs1"))
    placement.set(("default", "y"), "a", pod("y", owner="rs1"))
    placement.set(("other", "z"), "b", pod("z", ns="other"))
    assert (placement.total["a"], placement.total["b"]) == (2, 1)
    assert placement.owned[("default", "rs1", "a")] == 2
    # Setting a pod again (the watch confirming an assumed binding) moves, never doubles it.
    placement.set(("default", "y"), "b", pod("y", owner="rs1"))
    assert (placement.total["a"], placement.total["b"]) == (1, 2)
    assert placement.owned[("default", "rs1", "b")] == 1
    placement.discard(("default", "x"))
    placement.discard(("default", "x"))
    assert placement.total["a"] == 0 and placement.owned[("default", "rs1", "a")] == 0
    assert scheduler.pick_node(pod(owner="rs1"), ["a", "b"], placement, []) == "a"
