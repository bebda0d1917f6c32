"""Pure parts of the node lifecycle and load-balancer controllers."""
from emunet.controllers import nodelifecycle, serviceloadbalancer

NODE = {"metadata": {"name": "n1"},
        "spec": {"taints": [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]},
        "status": {"conditions": [
            {"type": "MemoryPressure", "status": "False", "lastTransitionTime": "t0"},
            {"type": "Ready", "status": "True", "lastTransitionTime": "t0",
             "lastHeartbeatTime": "hb"}]}}


def test_unknown_conditions_keep_heartbeat_and_say_why():
    conds = nodelifecycle.unknown_conditions(NODE, "t1")
    ready = next(c for c in conds if c["type"] == "Ready")
    assert ready == {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                     "message": "Kubelet stopped posting node status.",
                     "lastTransitionTime": "t1", "lastHeartbeatTime": "hb"}
    assert all(c["status"] == "Unknown" for c in conds)


def test_unreachable_taints_are_added_once_and_removed_cleanly():
    tainted = {**NODE, "spec": {"taints": nodelifecycle.unreachable_taints(NODE, "t1")}}
    again = nodelifecycle.unreachable_taints(tainted, "t2")
    assert [(t["key"], t["effect"]) for t in again] == [
        ("dedicated", "NoSchedule"), ("node.kubernetes.io/unreachable", "NoSchedule"),
        ("node.kubernetes.io/unreachable", "NoExecute")]
    assert nodelifecycle.without_unreachable(tainted) == NODE["spec"]["taints"]


def test_only_pods_that_tolerate_unreachable_forever_stay():
    default = {"spec": {"tolerations": [{"key": "node.kubernetes.io/unreachable",
                                         "operator": "Exists", "effect": "NoExecute",
                                         "tolerationSeconds": 300}]}}
    forever = {"spec": {"tolerations": [{"operator": "Exists"}]}}
    assert nodelifecycle.evictable(default)
    assert nodelifecycle.evictable({"spec": {}})
    assert not nodelifecycle.evictable(forever)


def test_pool_allocates_lowest_free_and_honours_requests():
    pool = serviceloadbalancer.Pool("127.200.0.0/16")
    a, b = ("default", "a"), ("default", "b")
    assert pool.allocate(a) == "127.200.0.1"
    assert pool.allocate(a) == "127.200.0.1"
    assert not pool.take(b, "127.200.0.1"), "taken by another Service"
    assert not pool.take(b, "10.0.0.1"), "outside the pool"
    assert pool.take(b, "127.200.9.9")
    pool.release(a)
    assert pool.allocate(("default", "c")) == "127.200.0.1"
