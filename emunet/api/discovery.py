"""Discovery and OpenAPI documents, derived from the resource table.

kubectl 1.32 asks for aggregated discovery first (and insists on its content
type), falls back to the legacy per-group documents, and before
apply/create/edit reads `/openapi/v3` only to learn whether the server
validates fields itself. For a `kind: List` file (what `kubectl get -o yaml`
writes) kubectl validates the items itself against `/openapi/v2`; an empty
document there (no definitions) makes it leave them to the server's own
strict validation, which every item still gets. A PATCH operation per kind that carries the
`fieldValidation` parameter is all it needs (kubectl-protocol.md §3); the
documents are built once, since kubectl caches discovery per server address.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from ..config import GIT_VERSION, KUBE_VERSION
from ..resources import GROUPS, RESOURCES, Resource

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

_SUBRESOURCE_KINDS = {
    "scale": ("autoscaling", "v1", "Scale"),
    "status": None,
    "log": ("", "v1", "Pod"),
    "exec": ("", "v1", "PodExecOptions"),
    "attach": ("", "v1", "PodAttachOptions"),
    "portforward": ("", "v1", "PodPortForwardOptions"),
    "binding": ("", "v1", "Binding"),
}


def version_info() -> dict[str, str]:
    major, minor = KUBE_VERSION.lstrip("v").split(".")[:2]
    return {"major": major, "minor": minor, "gitVersion": GIT_VERSION,
            "gitCommit": "emunet", "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.6",
            "compiler": "gc", "platform": "linux/amd64"}


def _subresource_verbs(sub: str) -> list[str]:
    # As the apiserver lists them: pods/log is read-only, pods/binding create-only.
    return {"status": ["get", "patch", "update"], "scale": ["get", "patch", "update"],
            "log": ["get"], "binding": ["create"]}.get(sub, ["create", "get"])


def _resource_entry(r: Resource) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "singularResource": r.singular,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    subs = []
    for s in r.subresources:
        kind = _SUBRESOURCE_KINDS.get(s) or (r.group, r.version, r.kind)
        subs.append({"subresource": s,
                     "responseKind": {"group": kind[0], "version": kind[1], "kind": kind[2]},
                     "verbs": _subresource_verbs(s)})
    if subs:
        entry["subresources"] = subs
    return entry


def aggregated(core: bool) -> dict[str, Any]:
    items = []
    for g in GROUPS:
        if (g == "") != core:
            continue
        res = [r for r in RESOURCES if r.group == g]
        items.append({"metadata": {"name": g},
                      "versions": [{"version": "v1", "freshness": "Current",
                                    "resources": [_resource_entry(r) for r in res]}]})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {}, "items": items}


def api_versions(address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]}


def api_group_list() -> dict[str, Any]:
    groups = []
    for g in GROUPS:
        if not g:
            continue
        gv = {"groupVersion": f"{g}/v1", "version": "v1"}
        groups.append({"name": g, "versions": [gv], "preferredVersion": gv})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str) -> dict[str, Any] | None:
    for g in api_group_list()["groups"]:
        if g["name"] == group:
            return {"kind": "APIGroup", "apiVersion": "v1", **g}
    return None


def resource_list(group: str, version: str) -> dict[str, Any] | None:
    res = [r for r in RESOURCES if r.group == group and r.version == version]
    if not res:
        return None
    out = []
    for r in res:
        out.append({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                    "kind": r.kind, "verbs": list(r.verbs),
                    **({"shortNames": list(r.short_names)} if r.short_names else {}),
                    **({"categories": list(r.categories)} if r.categories else {})})
        for s in r.subresources:
            kind = _SUBRESOURCE_KINDS.get(s) or (r.group, r.version, r.kind)
            out.append({"name": f"{r.plural}/{s}", "singularName": "", "namespaced": r.namespaced,
                        "kind": kind[2], "verbs": _subresource_verbs(s)})
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}


def _gv_key(group: str) -> str:
    return "api/v1" if not group else f"apis/{group}/v1"


def openapi_group(group: str) -> dict[str, Any] | None:
    res = [r for r in RESOURCES if r.group == group]
    if not res:
        return None
    paths: dict[str, Any] = {}
    for r in res:
        path = r.path("{namespace}" if r.namespaced else None, "{name}")
        paths[path] = {"patch": {
            "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version,
                                                "kind": r.kind},
            "parameters": [{"name": "fieldValidation", "in": "query",
                            "schema": {"type": "string"}}]}}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": KUBE_VERSION},
            "paths": paths}


def _hash(doc: dict[str, Any]) -> str:
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:128].upper()


def openapi_root() -> dict[str, Any]:
    paths = {}
    for g in GROUPS:
        doc = openapi_group(g)
        assert doc is not None
        key = _gv_key(g)
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={_hash(doc)}"}
    return {"paths": paths}


# kubectl asks with `...spec.v2@v1.0+protobuf`; the apiserver answers with this
# spelling, which Go's media-type parser accepts (an `@` it does not).
OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def openapi_v2_protobuf() -> bytes:
    """A Swagger 2.0 document with no definitions, in gnostic's protobuf form:
    field 1 of openapi_v2.Document is `swagger`."""
    version = b"2.0"
    return bytes([0x0A, len(version)]) + version
