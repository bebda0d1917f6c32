"""Deployment rollout arithmetic: template hash, surge/unavailable, scaling steps."""
import pytest

from emunet.controllers import rollout


def deploy(replicas, surge="25%", unavailable="25%", strategy="RollingUpdate"):
    spec = {"replicas": replicas, "strategy": {"type": strategy}}
    if strategy == "RollingUpdate":
        spec["strategy"]["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {"metadata": {"name": "d", "generation": 1}, "spec": spec}


def test_fnv32a_matches_the_reference_vectors():
    assert rollout.fnv32a(b"") == 0x811C9DC5
    assert rollout.fnv32a(b"a") == 0xE40C292C
    assert rollout.fnv32a(b"foobar") == 0xBF9CF968


def test_safe_encoding_maps_digits_as_the_apiserver_does():
    assert rollout.safe_encode("0123456789") == "456789bcdf"


TEMPLATE = {"metadata": {"labels": {"run": "my-nginx"}},
            "spec": {"containers": [{"name": "my-nginx", "image": "nginx"}]}}


def test_template_hash_is_stable_safe_and_template_sensitive():
    h = rollout.template_hash(TEMPLATE)
    assert h == rollout.template_hash({"spec": TEMPLATE["spec"],
                                       "metadata": TEMPLATE["metadata"]})
    assert 1 <= len(h) <= 10 and set(h) <= set("456789bcdf")
    other = {**TEMPLATE, "spec": {"containers": [{"name": "my-nginx", "image": "nginx:1.27"}]}}
    assert rollout.template_hash(other) != h
    assert rollout.template_hash(TEMPLATE, collision_count=1) != h


def test_equal_ignore_hash_ignores_only_the_hash_label():
    with_hash = {"metadata": {"labels": {"run": "my-nginx", "pod-template-hash": "5b56"}},
                 "spec": TEMPLATE["spec"]}
    assert rollout.equal_ignore_hash(with_hash, TEMPLATE)
    changed = {"metadata": {"labels": {"run": "other"}}, "spec": TEMPLATE["spec"]}
    assert not rollout.equal_ignore_hash(changed, TEMPLATE)


@pytest.mark.parametrize("value,total,up,expected", [
    (3, 10, True, 3), ("25%", 10, True, 3), ("25%", 10, False, 2), ("25%", 2, True, 1),
    ("25%", 2, False, 0), ("100%", 3, False, 3), ("0%", 5, True, 0), (None, 4, True, 0),
    ("50%", 3, True, 2), ("50%", 3, False, 1)])
def test_scaled_values_round_as_upstream(value, total, up, expected):
    assert rollout.scaled_value(value, total, up) == expected


@pytest.mark.parametrize("surge,unavailable,replicas,expected", [
    ("25%", "25%", 2, (1, 0)), ("25%", "25%", 4, (1, 1)), ("25%", "25%", 10, (3, 2)),
    (0, 0, 3, (0, 1)), ("0%", "0%", 3, (0, 1)), (1, 0, 1, (1, 0)), (2, "50%", 5, (2, 2))])
def test_fenceposts(surge, unavailable, replicas, expected):
    assert rollout.resolve_fenceposts(surge, unavailable, replicas) == expected


def test_max_unavailable_is_capped_and_zero_for_recreate():
    assert rollout.max_unavailable(deploy(2, 0, 5)) == 2
    assert rollout.max_unavailable(deploy(2, strategy="Recreate")) == 0
    assert rollout.max_unavailable(deploy(0)) == 0


@pytest.mark.parametrize("d,all_spec,new_spec,expected", [
    (deploy(2), 2, 0, 1),        # 2 old, surge 1: one new pod at a time
    (deploy(2), 0, 0, 2),        # fresh deployment: straight to 2
    (deploy(2), 3, 1, 1),        # at max total: wait
    (deploy(10), 10, 0, 3),      # surge 25% of 10 rounds up to 3
    (deploy(2, strategy="Recreate"), 2, 0, 2)])
def test_new_replica_set_growth(d, all_spec, new_spec, expected):
    assert rollout.new_rs_new_replicas(d, all_spec, new_spec) == expected


def test_rolling_update_of_two_replicas_steps_one_pod_at_a_time():
    d = deploy(2)  # surge 1, unavailable 0
    # old RS 2 available, new RS grown to 1 but not yet available: nothing may go.
    assert rollout.old_scale_down_budget(d, 3, 1, 0) <= 0
    # new pod available: one old may go.
    budget = rollout.old_scale_down_budget(d, 3, 1, 1)
    assert budget == 1
    olds = rollout.cleanup_unhealthy([(2, 2)], budget)
    assert olds == [2]
    assert rollout.scale_down_old(d, olds, available_total=3) == [1]


def test_unhealthy_old_replicas_go_first_and_oldest_sets_shrink_first():
    assert rollout.cleanup_unhealthy([(3, 1), (2, 2)], 5) == [1, 2]
    assert rollout.cleanup_unhealthy([(3, 1), (2, 0)], 3) == [1, 1]
    assert rollout.scale_down_old(deploy(4, 1, 1), [2, 2], available_total=5) == [0, 2]


def test_set_condition_keeps_transition_time_when_status_holds():
    conds = rollout.set_condition([], {"type": "Available", "status": "True",
                                       "reason": "R", "message": "m"}, "t1")
    conds = rollout.set_condition(conds, {"type": "Progressing", "status": "True",
                                          "reason": "A", "message": "x"}, "t1")
    conds = rollout.set_condition(conds, {"type": "Progressing", "status": "True",
                                          "reason": "B", "message": "y"}, "t2")
    prog = conds[1]
    assert [c["type"] for c in conds] == ["Available", "Progressing"]
    assert prog["lastTransitionTime"] == "t1" and prog["lastUpdateTime"] == "t2"


def test_available_condition_messages():
    assert rollout.available_condition(deploy(2), 2)["message"] == \
        "Deployment has minimum availability."
    assert rollout.available_condition(deploy(2), 1)["reason"] == "MinimumReplicasUnavailable"
