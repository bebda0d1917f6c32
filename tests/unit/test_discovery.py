"""Discovery and OpenAPI documents, as kubectl 1.32 reads them (kubectl-protocol.md §3)."""
from __future__ import annotations

import pytest

from emunet import resources
from emunet.api import discovery

# (short name, plural, group) — what `kubectl get svc,ep,po,...` resolves through.
SHORT_NAMES = [
    ("svc", "services", ""), ("ep", "endpoints", ""), ("po", "pods", ""),
    ("no", "nodes", ""), ("ns", "namespaces", ""), ("cm", "configmaps", ""),
    ("sa", "serviceaccounts", ""), ("deploy", "deployments", "apps"),
    ("rs", "replicasets", "apps"),
]


def aggregated_entries() -> dict[tuple[str, str], dict]:
    out = {}
    for core in (True, False):
        doc = discovery.aggregated(core)
        assert doc["kind"] == "APIGroupDiscoveryList"
        assert doc["apiVersion"] == "apidiscovery.k8s.io/v2"
        for group in doc["items"]:
            assert (group["metadata"]["name"] == "") == core
            for version in group["versions"]:
                for entry in version["resources"]:
                    out[(group["metadata"]["name"], entry["resource"])] = entry
    return out


def test_the_aggregated_content_type_is_the_one_kubectl_asks_for() -> None:
    assert discovery.AGGREGATED == (
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")


def test_aggregated_discovery_lists_every_resource() -> None:
    entries = aggregated_entries()
    assert set(entries) == {(r.group, r.plural) for r in resources.RESOURCES}
    for r in resources.RESOURCES:
        e = entries[(r.group, r.plural)]
        assert e["responseKind"] == {"group": r.group, "version": "v1", "kind": r.kind}
        assert e["scope"] == ("Namespaced" if r.namespaced else "Cluster")
        if r.kind in resources.REVIEWS:
            assert e["verbs"] == ["create"]   # answered, never stored
        else:
            assert {"get", "list", "watch", "create", "patch", "delete"} <= set(e["verbs"])


@pytest.mark.parametrize("short,plural,group", SHORT_NAMES)
def test_short_names_are_advertised(short: str, plural: str, group: str) -> None:
    assert short in aggregated_entries()[(group, plural)].get("shortNames", [])
    legacy = discovery.resource_list(group, "v1")
    assert legacy is not None
    row = [x for x in legacy["resources"] if x["name"] == plural][0]
    assert short in row["shortNames"]


# (group, plural, subresource, response kind, verbs)
SUBRESOURCES = [
    ("apps", "deployments", "scale", ("autoscaling", "v1", "Scale"), ["get", "patch", "update"]),
    ("apps", "deployments", "status", ("apps", "v1", "Deployment"), ["get", "patch", "update"]),
    ("", "pods", "log", ("", "v1", "Pod"), ["get"]),
    ("", "pods", "exec", ("", "v1", "PodExecOptions"), ["create", "get"]),
    ("", "pods", "binding", ("", "v1", "Binding"), ["create"]),
]


@pytest.mark.parametrize("group,plural,sub,kind,verbs", SUBRESOURCES)
def test_subresources_carry_their_kind_and_verbs(group, plural, sub, kind, verbs) -> None:
    entry = aggregated_entries()[(group, plural)]
    found = [s for s in entry["subresources"] if s["subresource"] == sub][0]
    assert found["responseKind"] == dict(zip(("group", "version", "kind"), kind))
    assert found["verbs"] == verbs
    legacy = discovery.resource_list(group, "v1")
    row = [x for x in legacy["resources"] if x["name"] == f"{plural}/{sub}"][0]
    assert row["kind"] == kind[2]
    assert row["verbs"] == verbs


def test_legacy_group_documents() -> None:
    groups = discovery.api_group_list()
    assert [g["name"] for g in groups["groups"]] == [g for g in resources.GROUPS if g]
    assert discovery.api_group("apps")["preferredVersion"] == {
        "groupVersion": "apps/v1", "version": "v1"}
    assert discovery.api_group("nope") is None
    assert discovery.resource_list("nope", "v1") is None
    assert discovery.resource_list("", "v1")["groupVersion"] == "v1"
    assert discovery.resource_list("apps", "v1")["groupVersion"] == "apps/v1"
    assert discovery.api_versions("127.0.0.1:6443")["versions"] == ["v1"]


def test_version_info_is_kubernetes_shaped() -> None:
    v = discovery.version_info()
    assert (v["major"], v["minor"]) == ("1", "32")
    assert v["gitVersion"].startswith("v1.32.")


def test_openapi_root_lists_every_group_version() -> None:
    paths = discovery.openapi_root()["paths"]
    want = {"api/v1"} | {f"apis/{g}/v1" for g in resources.GROUPS if g}
    assert set(paths) == want
    for key, ref in paths.items():
        assert ref["serverRelativeURL"].startswith(f"/openapi/v3/{key}?hash=")


@pytest.mark.parametrize("group", resources.GROUPS)
def test_each_group_version_doc_has_a_patch_with_field_validation_per_kind(group: str) -> None:
    doc = discovery.openapi_group(group)
    assert doc is not None
    kinds = set()
    for ops in doc["paths"].values():
        patch = ops["patch"]
        assert {"name": "fieldValidation", "in": "query",
                "schema": {"type": "string"}} in patch["parameters"]
        gvk = patch["x-kubernetes-group-version-kind"]
        assert gvk["group"] == group
        kinds.add(gvk["kind"])
    assert kinds == {r.kind for r in resources.RESOURCES if r.group == group}
    assert discovery.openapi_group("nope.example.com") is None
