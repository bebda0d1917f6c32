"""ReplicaSet pure logic: which pods go first on scale-down, pods from templates, status."""
from emunet.controllers import replicaset


def pod(name, node="", phase="Running", ready=None, since="2024-01-01T00:00:00Z",
        restarts=0, created="2024-01-01T00:00:00Z"):
    conds = []
    if ready is not None:
        conds.append({"type": "Ready", "status": "True" if ready else "False",
                      "lastTransitionTime": since})
    return {"metadata": {"name": name, "creationTimestamp": created, "labels": {"app": "x"}},
            "spec": {"nodeName": node},
            "status": {"phase": phase, "conditions": conds,
                       "containerStatuses": [{"restartCount": restarts}]}}


def test_scale_down_order_follows_upstream_ranks():
    pods = [
        pod("ready-old", "n1", ready=True, since="2024-01-01T00:00:00Z"),
        pod("ready-new", "n1", ready=True, since="2024-01-01T00:05:00Z"),
        pod("not-ready", "n1", ready=False),
        pod("pending", "n1", phase="Pending"),
        pod("unscheduled", "", phase="Pending"),
        pod("restarty", "n1", ready=True, since="2024-01-01T00:00:00Z", restarts=3),
    ]
    order = [p["metadata"]["name"] for p in replicaset.pods_to_delete(pods, len(pods))]
    assert order == ["unscheduled", "pending", "not-ready", "ready-new", "restarty", "ready-old"]


def test_newest_pod_goes_first_among_equals():
    pods = [pod("a", "n1", ready=True, created="2024-01-01T00:00:00Z"),
            pod("b", "n1", ready=True, created="2024-01-01T00:00:09Z")]
    assert replicaset.pods_to_delete(pods, 1)[0]["metadata"]["name"] == "b"


RS = {"metadata": {"name": "web-5b56", "namespace": "default", "uid": "u1", "generation": 3},
      "spec": {"replicas": 2, "template": {
          "metadata": {"labels": {"app": "x", "pod-template-hash": "5b56"},
                       "annotations": {"a": "b"}},
          "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


def test_pod_from_template_uses_generate_name_and_owner():
    p = replicaset.pod_from_template(RS)
    assert p["metadata"]["generateName"] == "web-5b56-"
    assert p["metadata"]["labels"] == {"app": "x", "pod-template-hash": "5b56"}
    assert p["metadata"]["annotations"] == {"a": "b"}
    ref = p["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["uid"], ref["controller"],
            ref["blockOwnerDeletion"]) == ("ReplicaSet", "web-5b56", "u1", True, True)
    assert p["spec"] == RS["spec"]["template"]["spec"]


def test_status_counts_ready_and_labelled_pods():
    pods = [pod("a", "n1", ready=True), pod("b", "n1", ready=False)]
    for p in pods:
        p["metadata"]["labels"] = {"app": "x", "pod-template-hash": "5b56"}
    status, recheck = replicaset.compute_status(RS, pods, now=1e10)
    assert status == {"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 1,
                      "availableReplicas": 1, "observedGeneration": 3}
    assert recheck is None


def test_min_ready_seconds_delays_availability():
    rs = {**RS, "spec": {**RS["spec"], "minReadySeconds": 10}}
    since = replicaset.parse_time("2024-01-01T00:00:00Z")
    status, recheck = replicaset.compute_status(rs, [pod("a", "n1", ready=True)], now=since + 4)
    assert status["readyReplicas"] == 1 and "availableReplicas" not in status
    assert recheck == 6


def test_empty_status_keeps_replicas_zero():
    status, _ = replicaset.compute_status(RS, [], now=0)
    assert status == {"replicas": 0, "observedGeneration": 3}
