"""Field ownership and server-side apply, as tables of objects in and out."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from emunet import fieldmanager as fm

NOW = "2026-11-27T17:00:00Z"


def deploy(replicas: int | None = 2, image: str = "nginx", labels: dict | None = None) -> dict:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"run": "web"}},
        "template": {"metadata": {"labels": {"run": "web"}}, "spec": {"containers": [
            {"name": "web", "image": image, "ports": [{"containerPort": 80}]}]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    meta: dict[str, Any] = {"name": "web"}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def owners(obj: dict) -> dict[str, set[fm.Path]]:
    return {f"{e['manager']}/{e['operation']}": fm.from_fields_v1(e["fieldsV1"])
            for e in obj["metadata"].get("managedFields", [])}


def test_keys_of_lists_are_their_merge_keys_with_protocol_for_ports() -> None:
    paths = fm.field_set(deploy(), "Deployment")
    item = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"web"}')
    assert item + ("f:image",) in paths
    assert item + ("f:ports", 'k:{"containerPort":80,"protocol":"TCP"}', "f:containerPort") \
        in paths
    assert not any(p[0] in ("f:status", "f:apiVersion") for p in paths)


def test_fields_v1_round_trips_and_marks_list_items() -> None:
    paths = fm.field_set(deploy(), "Deployment")
    tree = fm.to_fields_v1(paths)
    item = tree["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert item["."] == {} and item["f:image"] == {}
    assert fm.from_fields_v1(tree) == paths


def test_first_apply_owns_what_it_sent() -> None:
    out = fm.apply(None, deploy(), "Deployment", "kubectl", "apps/v1", NOW)
    assert owners(out) == {"kubectl/Apply": fm.field_set(deploy(), "Deployment")}


def test_a_field_changed_by_an_update_conflicts_and_force_takes_it() -> None:
    live = fm.apply(None, deploy(), "Deployment", "kubectl", "apps/v1", NOW)
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 5
    scaled["metadata"]["managedFields"] = fm.record_update(
        live, scaled, "Deployment", "kubectl-patch", "apps/v1", NOW)
    assert owners(scaled)["kubectl-patch/Update"] == {("f:spec",), ("f:spec", "f:replicas")}
    with pytest.raises(fm.ApplyConflict) as caught:
        fm.apply(scaled, deploy(), "Deployment", "kubectl", "apps/v1", NOW)
    assert caught.value.code == 409
    assert caught.value.message == ('Apply failed with 1 conflict: conflict with '
                                    '"kubectl-patch" using apps/v1: .spec.replicas')
    assert caught.value.details["causes"] == [{
        "reason": "FieldManagerConflict", "field": ".spec.replicas",
        "message": 'conflict with "kubectl-patch" using apps/v1'}]
    forced = fm.apply(scaled, deploy(), "Deployment", "kubectl", "apps/v1", NOW, force=True)
    assert forced["spec"]["replicas"] == 2
    assert set(owners(forced)) == {"kubectl/Apply"}   # kubectl-patch had nothing else


def test_the_same_value_is_shared_not_a_conflict() -> None:
    live = fm.apply(None, deploy(), "Deployment", "kubectl", "apps/v1", NOW)
    out = fm.apply(live, deploy(), "Deployment", "other", "apps/v1", NOW)
    assert ("f:spec", "f:replicas") in owners(out)["kubectl/Apply"]
    assert ("f:spec", "f:replicas") in owners(out)["other/Apply"]


def test_a_field_no_longer_applied_is_removed_unless_someone_else_owns_it() -> None:
    live = fm.apply(None, deploy(labels={"a": "1", "b": "2"}), "Deployment", "kubectl",
                    "apps/v1", NOW)
    labelled = copy.deepcopy(live)
    labelled["metadata"]["labels"]["c"] = "3"
    labelled["metadata"]["managedFields"] = fm.record_update(
        live, labelled, "Deployment", "kubectl-label", "apps/v1", NOW)
    out = fm.apply(labelled, deploy(replicas=None, labels={"a": "1"}), "Deployment", "kubectl",
                   "apps/v1", NOW)
    assert out["metadata"]["labels"] == {"a": "1", "c": "3"}
    assert "replicas" not in out["spec"]   # defaulting puts it back at 1


def test_containers_merge_by_name_and_a_dropped_one_goes() -> None:
    two = deploy()
    two["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox"})
    live = fm.apply(None, two, "Deployment", "kubectl", "apps/v1", NOW)
    out = fm.apply(live, deploy(image="nginx:1.27"), "Deployment", "kubectl", "apps/v1", NOW)
    containers = out["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("web", "nginx:1.27")]


def test_an_update_that_removes_a_field_takes_it_from_its_owner() -> None:
    live = fm.apply(None, deploy(labels={"a": "1"}), "Deployment", "kubectl", "apps/v1", NOW)
    edited = copy.deepcopy(live)
    del edited["metadata"]["labels"]["a"]
    entries = fm.record_update(live, edited, "Deployment", "kubectl-edit", "apps/v1", NOW)
    kubectl = next(e for e in entries if e["manager"] == "kubectl")
    assert ("f:metadata", "f:labels", "f:a") not in fm.from_fields_v1(kubectl["fieldsV1"])
