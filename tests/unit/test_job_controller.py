"""Job controller pure logic: counting pods, how many to run, back-off, conditions, status."""
import pytest

from emunet.controllers import common
from emunet.controllers import job as jc
from emunet.controllers.replicaset import parse_time
from emunet.resources import Resource

T0 = parse_time("2026-11-27T16:59:28Z")
JOB_RES = Resource("batch", "v1", "Job", "jobs", "job", subresources=("status",))


def pod(name="p", phase="Running", ready=None, deleting=False, restarts=0, finished=None,
        created="2026-11-27T16:00:00Z"):
    conds = []
    if ready is not None:
        conds.append({"type": "Ready", "status": "True" if ready else "False",
                      "lastTransitionTime": "2026-11-27T16:00:00Z"})
    state = {"terminated": {"finishedAt": finished}} if finished else {"running": {}}
    meta = {"name": name, "namespace": "default", "creationTimestamp": created}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-27T16:59:00Z"
    return {"metadata": meta, "spec": {"nodeName": "n1"},
            "status": {"phase": phase, "conditions": conds,
                       "containerStatuses": [{"restartCount": restarts, "state": state}]}}


def job(completions=1, parallelism=1, backoff=6, policy="Never", suspend=False, status=None,
        **spec):
    return {"metadata": {"name": "pi", "namespace": "default", "uid": "u1"},
            "spec": {"completions": completions, "parallelism": parallelism,
                     "backoffLimit": backoff, "suspend": suspend,
                     "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}},
                     "template": {"metadata": {"labels": {"job-name": "pi"}},
                                  "spec": {"restartPolicy": policy,
                                           "containers": [{"name": "c", "image": "busybox"}]}},
                     **spec},
            "status": status or {}}


def ago(seconds):
    return jc.rfc3339(T0 - seconds)


@pytest.mark.parametrize("pods,expected", [
    ([], (0, 0, 0, 0, 0, 0)),
    ([pod(ready=True), pod(ready=False), pod(phase="Pending")], (3, 0, 0, 0, 1, 0)),
    ([pod(phase="Succeeded"), pod(phase="Failed"), pod(phase="Failed")], (0, 1, 2, 0, 0, 0)),
    ([pod(deleting=True, ready=True), pod(phase="Succeeded", deleting=True)], (0, 1, 0, 1, 0, 0)),
    # Restarts count only in pods that still run, as upstream's pastBackoffLimitOnFailure.
    ([pod(restarts=2), pod(phase="Pending", restarts=1), pod(phase="Failed", restarts=4)],
     (2, 0, 1, 0, 0, 3)),
])
def test_count_pods(pods, expected):
    c = jc.count_pods(job(), pods)
    assert (len(c.active), c.succeeded, c.failed, c.terminating, c.ready, c.restarts) == expected


def test_counts_never_fall_below_the_status():
    c = jc.count_pods(job(status={"succeeded": 2, "failed": 1}), [pod(phase="Succeeded")])
    assert (c.succeeded, c.failed) == (2, 1)


@pytest.mark.parametrize("completions,parallelism,succeeded,active,suspend,want", [
    (1, 1, 0, 0, False, 1),
    (5, 2, 0, 0, False, 2),
    (5, 2, 4, 1, False, 1),     # one completion left: one pod
    (5, 2, 5, 0, False, 0),
    (3, 2, 4, 0, False, 0),     # completions lowered below succeeded: never negative
    (5, 0, 0, 0, False, 0),
    (5, 2, 0, 2, True, 0),      # suspended
    (None, 3, 0, 0, False, 3),  # work queue: parallelism until a success
    (None, 3, 1, 2, False, 2),  # ... then only those left run
])
def test_want_active(completions, parallelism, succeeded, active, suspend, want):
    c = jc.Counts(active=[pod() for _ in range(active)], succeeded=succeeded)
    assert jc.want_active(job(completions, parallelism, suspend=suspend), c) == want


def test_neither_completions_nor_parallelism_means_one_of_each():
    j = job()
    del j["spec"]["completions"], j["spec"]["parallelism"]
    assert jc.completions_of(j) == 1
    assert jc.want_active(j, jc.Counts()) == 1


@pytest.mark.parametrize("failures,base,delay", [
    (0, 10, 0), (1, 10, 10), (2, 10, 20), (3, 10, 40), (6, 10, 320), (7, 10, 360),
    (10_000, 10, 360), (3, 0.5, 2)])
def test_backoff_delay(failures, base, delay):
    assert jc.backoff_delay(failures, base) == delay


@pytest.mark.parametrize("p,expected", [
    (pod(phase="Failed", finished=ago(5)), T0 - 5),
    # No container exit: the Ready=False transition, then the creation.
    ({**pod(phase="Failed", ready=False),
      "status": {"phase": "Failed", "conditions": [
          {"type": "Ready", "status": "False", "lastTransitionTime": ago(7)}]}}, T0 - 7),
    ({"metadata": {"name": "p", "creationTimestamp": ago(9)}, "status": {"phase": "Failed"}},
     T0 - 9),
    ({"metadata": {"name": "p", "creationTimestamp": ago(9), "deletionTimestamp": ago(3),
                   "deletionGracePeriodSeconds": 30}, "status": {}}, T0 - 33),
])
def test_finish_time(p, expected):
    assert jc.finish_time(p) == expected


@pytest.mark.parametrize("pods,wait", [
    ([], 0),
    ([pod(phase="Failed", finished=ago(3))], 7),                 # 1 failure: 10 s
    ([pod(phase="Failed", finished=ago(30)),
      pod(phase="Failed", finished=ago(3))], 17),                # 2 failures: 20 s
    ([pod(phase="Failed", finished=ago(30))], 0),                # waited long enough
    ([pod(phase="Failed", finished=ago(30)), pod(phase="Succeeded", finished=ago(20)),
      pod(phase="Failed", finished=ago(3))], 7),                 # a success resets the count
    ([pod(phase="Failed", finished=ago(3)), pod(phase="Succeeded", finished=ago(1))], 0),
])
def test_creation_backoff(pods, wait):
    assert jc.creation_backoff(pods, 10, T0) == wait


@pytest.mark.parametrize("j,counts,reason", [
    (job(backoff=6), jc.Counts(failed=6), None),
    (job(backoff=6), jc.Counts(failed=7), "BackoffLimitExceeded"),
    (job(backoff=0), jc.Counts(failed=1), "BackoffLimitExceeded"),
    # OnFailure: restarts count, and reaching the limit is enough (upstream's >=).
    (job(backoff=3, policy="OnFailure"), jc.Counts(restarts=2), None),
    (job(backoff=3, policy="OnFailure"), jc.Counts(restarts=3), "BackoffLimitExceeded"),
    (job(backoff=0, policy="OnFailure"), jc.Counts(restarts=1), "BackoffLimitExceeded"),
    (job(backoff=3, policy="Never"), jc.Counts(restarts=9), None),
    (job(activeDeadlineSeconds=60), jc.Counts(), "DeadlineExceeded"),
    (job(activeDeadlineSeconds=600), jc.Counts(), None),
    # An interim condition already written decides.
    (job(status={"conditions": [{"type": "FailureTarget", "status": "True",
                                 "reason": "DeadlineExceeded"}]}), jc.Counts(), "DeadlineExceeded"),
])
def test_finish_target(j, counts, reason):
    target = jc.finish_target(j, counts, ago(120), T0)
    assert (target or {}).get("reason") == reason


def cond(ctype, status="True", reason="R", message="M", at=ago(60)):
    return {"type": ctype, "status": status, "lastProbeTime": at, "lastTransitionTime": at,
            "reason": reason, "message": message}


@pytest.mark.parametrize("conds,status,expected,changed", [
    ([], "False", [], False),                      # never add a False condition
    ([], "True", [cond("Suspended", at=ago(0))], True),
    ([cond("Suspended")], "True", [cond("Suspended")], False),
    ([cond("Suspended")], "False", [cond("Suspended", "False", at=ago(0))], True),
])
def test_ensure_condition(conds, status, expected, changed):
    assert jc.ensure_condition(conds, "Suspended", status, "R", "M", T0) == (expected, changed)


TARGET = cond("FailureTarget", reason="BackoffLimitExceeded", message="limit", at=ago(0))


@pytest.mark.parametrize("conds,terminating,expected,finished", [
    ([], 1, [TARGET], None),
    ([], 0, [TARGET, {**TARGET, "type": "Failed"}], "Failed"),
    ([TARGET], 0, [TARGET, {**TARGET, "type": "Failed"}], "Failed"),
    ([TARGET, {**TARGET, "type": "Failed"}], 0, [TARGET, {**TARGET, "type": "Failed"}], None),
])
def test_next_conditions(conds, terminating, expected, finished):
    assert jc.next_conditions(conds, TARGET, terminating, T0) == (expected, finished)


def test_next_conditions_without_target_keep_the_list():
    assert jc.next_conditions([TARGET], None, 0, T0) == ([TARGET], None)


def test_status_omits_zero_counters_but_not_ready_and_terminating():
    s = jc.job_status({"other": 1, "active": 3}, conditions=[], start="S", completion=None,
                      active=0, ready=0, succeeded=0, failed=0, terminating=0)
    assert s == {"other": 1, "startTime": "S", "terminating": 0,
                 "uncountedTerminatedPods": {}, "ready": 0}


def test_fresh_job_creates_its_pods_and_starts():
    d = jc.decide(job(completions=5, parallelism=2), [], T0, 10)
    assert (d.delete, d.create, d.events, d.requeue) == ([], 2, [], None)
    assert d.status == {"startTime": ago(0), "active": 2, "terminating": 0,
                        "uncountedTerminatedPods": {}, "ready": 0}


def test_running_job_with_nothing_to_do_keeps_its_status():
    pods = [pod("a", ready=True)]
    first = jc.decide(job(), pods, T0, 10)
    again = jc.decide(job(status=first.status), pods, T0 + 30, 10)
    assert again.status == first.status and again.create == 0


def test_failed_pod_is_replaced_after_the_backoff():
    pods = [pod("a", phase="Failed", finished=ago(4))]
    d = jc.decide(job(status={"startTime": ago(60)}), pods, T0, 10)
    assert (d.create, d.requeue) == (0, 6)
    assert d.status["failed"] == 1 and "active" not in d.status
    assert jc.decide(job(status={"startTime": ago(60)}), pods, T0 + 6, 10).create == 1


def test_too_many_pods_delete_the_newest():
    pods = [pod("old", created=ago(50)), pod("new", created=ago(5))]
    d = jc.decide(job(parallelism=1, completions=3), pods, T0, 10)
    assert [p["metadata"]["name"] for p in d.delete] == ["new"]
    assert (d.status["active"], d.status["terminating"]) == (1, 1)


def test_backoff_limit_fails_the_job_in_two_steps():
    pods = [pod("f1", phase="Failed", finished=ago(9)), pod("f2", phase="Failed", finished=ago(2)),
            pod("run", ready=True)]
    d = jc.decide(job(backoff=1, status={"startTime": ago(60)}), pods, T0, 10)
    assert [p["metadata"]["name"] for p in d.delete] == ["run"]
    assert [c["type"] for c in d.status["conditions"]] == ["FailureTarget"]
    assert (d.status["terminating"], d.status["ready"], d.events) == (1, 0, [])
    assert d.status["failed"] == 3  # the stopped pod counts as failed, as upstream
    # The deleted pod is gone: the terminal condition follows, with its event.
    later = jc.decide(job(backoff=1, status=d.status), pods[:2], T0 + 5, 10)
    assert later.delete == [] and later.create == 0
    failed = later.status["conditions"][1]
    assert failed == {"type": "Failed", "status": "True", "lastProbeTime": ago(-5),
                      "lastTransitionTime": ago(-5), "reason": "BackoffLimitExceeded",
                      "message": "Job has reached the specified backoff limit"}
    assert later.events == [("Warning", "BackoffLimitExceeded",
                             "Job has reached the specified backoff limit")]
    assert "completionTime" not in later.status and later.status["failed"] == 3


def test_completion_writes_both_conditions_and_completion_time():
    pods = [pod("a", phase="Succeeded", finished=ago(1)), pod("b", phase="Succeeded")]
    d = jc.decide(job(completions=2, parallelism=2, status={"startTime": ago(60)}), pods, T0, 10)
    assert [(c["type"], c["reason"]) for c in d.status["conditions"]] == [
        ("SuccessCriteriaMet", "CompletionsReached"), ("Complete", "CompletionsReached")]
    assert d.status["conditions"][0]["message"] == "Reached expected number of succeeded pods"
    assert (d.status["succeeded"], d.status["completionTime"]) == (2, ago(0))
    assert d.events == [("Normal", "Completed", "Job completed")]
    assert jc.is_finished(job(status=d.status))


def test_suspend_deletes_pods_and_resume_restarts_the_clock():
    pods = [pod("a", ready=True)]
    d = jc.decide(job(suspend=True, status={"startTime": ago(60)}), pods, T0, 10)
    assert len(d.delete) == 1 and d.create == 0
    assert [(c["type"], c["status"]) for c in d.status["conditions"]] == [("Suspended", "True")]
    assert d.events == [("Normal", "Suspended", "Job suspended")]
    r = jc.decide(job(status=d.status), [], T0 + 10, 10)
    assert r.create == 1 and r.status["startTime"] == ago(-10)
    assert [(c["type"], c["status"], c["reason"]) for c in r.status["conditions"]] == [
        ("Suspended", "False", "JobResumed")]
    assert r.events == [("Normal", "Resumed", "Job resumed")]


def test_a_job_created_suspended_has_no_start_time():
    d = jc.decide(job(suspend=True), [], T0, 10)
    assert "startTime" not in d.status and d.create == 0


def test_active_deadline_requeues_then_fails():
    j = job(activeDeadlineSeconds=100, status={"startTime": ago(40)})
    assert jc.decide(j, [pod()], T0, 10).requeue == 60
    d = jc.decide(j, [pod()], T0 + 60, 10)
    assert d.status["conditions"][0]["reason"] == "DeadlineExceeded" and len(d.delete) == 1


@pytest.mark.parametrize("status,ttl,left", [
    ({"conditions": [cond("Complete", at=ago(30))]}, 100, 70),
    ({"conditions": [cond("Failed", at=ago(30))]}, 10, -20),
    ({"conditions": [cond("Complete", at=ago(30))]}, None, None),
    ({}, 100, None),
])
def test_ttl_left(status, ttl, left):
    assert jc.ttl_left(job(status=status, ttlSecondsAfterFinished=ttl), T0) == left


def test_pod_from_template_uses_generate_name_and_owner():
    p = common.pod_from_template(job(), JOB_RES)
    assert p["metadata"]["generateName"] == "pi-"
    assert p["metadata"]["labels"] == {"job-name": "pi"}
    assert p["metadata"]["ownerReferences"] == [
        {"apiVersion": "batch/v1", "kind": "Job", "name": "pi", "uid": "u1",
         "controller": True, "blockOwnerDeletion": True}]
    assert p["spec"] == job()["spec"]["template"]["spec"]
