"""Tables for the three patch types, including the bodies kubectl really sends."""
from __future__ import annotations

import copy
import json

import pytest

from emunet import errors, patches

# --------------------------------------------------------------------------- #
# JSON merge patch (RFC 7386, including the RFC's appendix A examples)
# --------------------------------------------------------------------------- #

MERGE_CASES = [
    ("replaces a scalar", {"a": "b"}, {"a": "c"}, {"a": "c"}),
    ("adds a key", {"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ("null deletes a key", {"a": "b"}, {"a": None}, {}),
    ("null keeps siblings", {"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ("replaces a list wholesale", {"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ("list replaces a scalar", {"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ("merges nested maps", {"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ("lists of maps are not merged", {"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ("nested nulls vanish from new maps", {}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ("deleting a missing key is a no-op", {"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ("labels of a pod", {"metadata": {"labels": {"run": "x", "tier": "web"}}},
     {"metadata": {"labels": {"tier": None, "env": "prod"}}},
     {"metadata": {"labels": {"run": "x", "env": "prod"}}}),
    ("docs: merge patch replaces containers",
     {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "nginx"},
                                                    {"name": "b", "image": "redis"}]}}}},
     {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "gcr.io/x"}]}}}},
     {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "gcr.io/x"}]}}}}),
]


@pytest.mark.parametrize("name,obj,patch,want", MERGE_CASES, ids=[c[0] for c in MERGE_CASES])
def test_merge_patch_follows_rfc7386(name, obj, patch, want):
    before = copy.deepcopy(obj), copy.deepcopy(patch)
    assert patches.merge_patch(obj, patch) == want
    assert (obj, patch) == before


def test_merge_patch_rejects_a_non_object_patch():
    with pytest.raises(errors.BadRequest):
        patches.merge_patch({"a": 1}, ["x"])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- #
# JSON patch (RFC 6902)
# --------------------------------------------------------------------------- #

DOC = {"metadata": {"name": "web", "labels": {"app": "web"}},
       "spec": {"containers": [{"name": "a", "args": ["x", "y"]}]}}


def doc(name="web", labels=None, args=("x", "y"), cname="a", **extra):
    out = {"metadata": {"name": name, "labels": {"app": "web"} if labels is None else labels},
           "spec": {"containers": [{"name": cname, "args": list(args)}]}}
    out.update(extra)
    return out


JSON_CASES = [
    ("add a key", [{"op": "add", "path": "/metadata/labels/tier", "value": "fe"}],
     doc(labels={"app": "web", "tier": "fe"})),
    ("add replaces an existing key", [{"op": "add", "path": "/metadata/name", "value": "x"}],
     doc(name="x")),
    ("add inserts into a list", [{"op": "add", "path": "/spec/containers/0/args/1", "value": "q"}],
     doc(args=("x", "q", "y"))),
    ("dash appends", [{"op": "add", "path": "/spec/containers/0/args/-", "value": "z"}],
     doc(args=("x", "y", "z"))),
    ("add at the root", [{"op": "add", "path": "/status", "value": {"phase": "Running"}}],
     doc(status={"phase": "Running"})),
    ("remove a key", [{"op": "remove", "path": "/metadata/labels/app"}], doc(labels={})),
    ("remove a list item", [{"op": "remove", "path": "/spec/containers/0/args/0"}],
     doc(args=("y",))),
    ("negative index removes from the end", [{"op": "remove", "path": "/spec/containers/0/args/-1"}],
     doc(args=("x",))),
    ("replace", [{"op": "replace", "path": "/spec/containers/0/name", "value": "b"}],
     doc(cname="b")),
    ("move", [{"op": "move", "from": "/metadata/labels/app", "path": "/metadata/labels/run"}],
     doc(labels={"run": "web"})),
    ("copy", [{"op": "copy", "from": "/metadata/name", "path": "/metadata/labels/name"}],
     doc(labels={"app": "web", "name": "web"})),
    ("test then replace", [{"op": "test", "path": "/metadata/name", "value": "web"},
                           {"op": "replace", "path": "/metadata/name", "value": "api"}],
     doc(name="api")),
    ("test null passes for a missing key",
     [{"op": "test", "path": "/metadata/annotations", "value": None}], doc()),
    ("test compares whole values", [{"op": "test", "path": "/spec/containers/0",
                                     "value": {"args": ["x", "y"], "name": "a"}}], doc()),
    ("pointer escapes ~1 and ~0",
     [{"op": "add", "path": "/metadata/labels/app.kubernetes.io~1name", "value": "a"},
      {"op": "add", "path": "/metadata/labels/x~0y", "value": "b"}],
     doc(labels={"app": "web", "app.kubernetes.io/name": "a", "x~y": "b"})),
]


@pytest.mark.parametrize("name,ops,want", JSON_CASES, ids=[c[0] for c in JSON_CASES])
def test_json_patch_applies_rfc6902_operations(name, ops, want):
    before = copy.deepcopy(DOC), copy.deepcopy(ops)
    assert patches.json_patch(DOC, ops) == want
    assert (DOC, ops) == before


JSON_FAILURES = [
    ("failed test", [{"op": "test", "path": "/metadata/name", "value": "api"}], "testing value"),
    ("test of a number against a bool", [{"op": "add", "path": "/n", "value": 1},
                                         {"op": "test", "path": "/n", "value": True}], "testing"),
    ("remove a missing key", [{"op": "remove", "path": "/metadata/annotations"}], "missing"),
    ("replace a missing key", [{"op": "replace", "path": "/spec/replicas", "value": 3}], "missing"),
    ("add under a missing parent", [{"op": "add", "path": "/status/phase", "value": "x"}],
     "missing path"),
    ("index out of range", [{"op": "add", "path": "/spec/containers/5", "value": {}}], "range"),
    ("unknown op", [{"op": "frobnicate", "path": "/a"}], "Unexpected kind"),
    ("path without a slash", [{"op": "add", "path": "metadata", "value": 1}], "missing path"),
    ("move into own child", [{"op": "move", "from": "/metadata", "path": "/metadata/x"}],
     "children"),
]


@pytest.mark.parametrize("name,ops,why", JSON_FAILURES, ids=[c[0] for c in JSON_FAILURES])
def test_json_patch_failure_is_422_like_the_apiserver(name, ops, why):
    with pytest.raises(patches.JsonPatchFailed) as info:
        patches.json_patch(DOC, ops)
    err = info.value
    assert err.code == 422 and err.reason == "Invalid"
    assert err.message == "the server rejected our request due to an error in our request"
    assert why in err.explanation
    assert err.status()["details"] == {}


def test_json_patch_failure_leaves_the_input_untouched():
    before = copy.deepcopy(DOC)
    with pytest.raises(patches.JsonPatchFailed):
        patches.json_patch(DOC, [{"op": "remove", "path": "/metadata/name"},
                                 {"op": "test", "path": "/metadata/name", "value": "web"}])
    assert DOC == before


def test_json_patch_that_is_not_a_list_is_400():
    with pytest.raises(errors.BadRequest, match="jsonpatch.Patch"):
        patches.json_patch(DOC, {"op": "add"})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- #
# Strategic merge patch
# --------------------------------------------------------------------------- #


def deployment(containers, tolerations=None, replicas=2):
    spec: dict = {"containers": containers}
    if tolerations is not None:
        spec["tolerations"] = tolerations
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "patch-demo", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "nginx"}},
                     "template": {"metadata": {"labels": {"app": "nginx"}}, "spec": spec}}}


def pod_spec(obj):
    return obj["spec"]["template"]["spec"]


NGINX = {"name": "patch-demo-ctr", "image": "nginx"}
REDIS = {"name": "patch-demo-ctr-2", "image": "redis"}
TOLERATION = {"effect": "NoSchedule", "key": "dedicated", "value": "test-team"}
DISK = {"effect": "NoSchedule", "key": "disktype", "value": "ssd"}


def test_docs_containers_merge_by_name_and_new_one_comes_first():
    # "Update API Objects in Place Using kubectl patch": the patched Deployment
    # lists patch-demo-ctr-2 (redis) before patch-demo-ctr (nginx).
    obj = deployment([NGINX], [TOLERATION])
    patch = {"spec": {"template": {"spec": {"containers": [REDIS]}}}}
    got = patches.strategic_merge_patch(obj, patch, "Deployment")
    assert pod_spec(got)["containers"] == [REDIS, NGINX]
    assert obj == deployment([NGINX], [TOLERATION])


def test_docs_tolerations_are_replaced_not_merged():
    obj = deployment([NGINX], [TOLERATION])
    patch = {"spec": {"template": {"spec": {"tolerations": [DISK]}}}}
    got = patches.strategic_merge_patch(obj, patch, "Deployment")
    assert pod_spec(got)["tolerations"] == [DISK]


def test_docs_patch_replace_directive_replaces_the_list():
    obj = deployment([NGINX, REDIS])
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "patch-demo-ctr-3", "image": "gcr.io/google-samples/node-hello:1.0"},
        {"$patch": "replace"}]}}}}
    got = patches.strategic_merge_patch(obj, patch, "Deployment")
    assert pod_spec(got)["containers"] == [
        {"name": "patch-demo-ctr-3", "image": "gcr.io/google-samples/node-hello:1.0"}]


def test_docs_retain_keys_clears_the_other_strategy_fields():
    obj = {"spec": {"strategy": {"type": "RollingUpdate",
                                 "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    got = patches.strategic_merge_patch(obj, patch, "Deployment")
    assert got == {"spec": {"strategy": {"type": "Recreate"}}}


def service(ports, type_="ClusterIP"):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "my-nginx", "namespace": "default", "annotations": {}},
            "spec": {"type": type_, "selector": {"run": "my-nginx"}, "ports": ports}}


def test_kubectl_apply_port_change_leaves_only_the_new_port():
    obj = service([{"port": 80, "protocol": "TCP", "targetPort": 80}])
    patch = {"metadata": {"annotations": {
                 "kubectl.kubernetes.io/last-applied-configuration": "{...}\n"}},
             "spec": {"$setElementOrder/ports": [{"port": 8080}],
                      "ports": [{"port": 8080, "protocol": "TCP"},
                                {"$patch": "delete", "port": 80}]}}
    got = patches.strategic_merge_patch(obj, patch, "Service")
    assert got["spec"]["ports"] == [{"port": 8080, "protocol": "TCP"}]
    assert got["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/last-applied-configuration": "{...}\n"}


def test_kubectl_apply_type_change_keeps_the_rest():
    obj = service([{"port": 80, "protocol": "TCP"}])
    got = patches.strategic_merge_patch(obj, {"spec": {"type": "LoadBalancer"}}, "Service")
    assert got == service([{"port": 80, "protocol": "TCP"}], "LoadBalancer")


def test_kubectl_apply_replicas_two_to_three_with_last_applied():
    obj = deployment([NGINX], replicas=2)
    obj["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": '{"spec":{"replicas":2}}\n',
        "deployment.kubernetes.io/revision": "1"}
    last = json.dumps({"spec": {"replicas": 3}}, separators=(",", ":")) + "\n"
    patch = {"metadata": {"annotations": {
        "kubectl.kubernetes.io/last-applied-configuration": last}}, "spec": {"replicas": 3}}
    got = patches.strategic_merge_patch(obj, patch, "Deployment")
    assert got["spec"]["replicas"] == 3
    assert got["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/last-applied-configuration": last,
        "deployment.kubernetes.io/revision": "1"}
    assert pod_spec(got) == pod_spec(obj)


C = {"name": "c", "image": "i"}

# (name, kind, original, patch, want)
SMP_CASES = [
    ("null deletes a key", "ConfigMap", {"data": {"a": "1", "b": "2"}},
     {"data": {"a": None}}, {"data": {"b": "2"}}),
    ("null for a missing key is dropped", "ConfigMap", {"data": {}},
     {"data": {"x": None}}, {"data": {}}),
    ("map $patch replace", "ConfigMap", {"data": {"a": "1"}},
     {"data": {"$patch": "replace", "b": "2"}}, {"data": {"b": "2"}}),
    ("map $patch delete empties it", "ConfigMap", {"data": {"a": "1"}},
     {"data": {"$patch": "delete"}}, {"data": {}}),
    ("map $patch merge is a plain merge", "ConfigMap", {"data": {"a": "1"}},
     {"data": {"$patch": "merge", "b": "2"}}, {"data": {"a": "1", "b": "2"}}),
    ("container env merges by name", "Pod",
     {"spec": {"containers": [{"name": "c", "env": [{"name": "A", "value": "1"},
                                                   {"name": "B", "value": "2"}]}]}},
     {"spec": {"containers": [{"name": "c", "env": [{"name": "B", "value": "3"}]}]}},
     {"spec": {"containers": [{"name": "c", "env": [{"name": "A", "value": "1"},
                                                   {"name": "B", "value": "3"}]}]}}),
    ("container ports merge by containerPort", "Pod",
     {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]}},
     {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80, "name": "http"}]}]}},
     {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80, "name": "http"}]}]}}),
    ("envFrom is atomic", "Pod",
     {"spec": {"containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "a"}}]}]}},
     {"spec": {"containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "b"}}]}]}},
     {"spec": {"containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "b"}}]}]}}),
    ("args are atomic", "Pod",
     {"spec": {"containers": [{"name": "c", "args": ["a", "b"]}]}},
     {"spec": {"containers": [{"name": "c", "args": ["b"]}]}},
     {"spec": {"containers": [{"name": "c", "args": ["b"]}]}}),
    ("volumeMounts merge by mountPath", "Pod",
     {"spec": {"containers": [{"name": "c", "volumeMounts": [{"mountPath": "/a", "name": "x"}]}]}},
     {"spec": {"containers": [{"name": "c", "volumeMounts": [{"mountPath": "/a", "name": "y"}]}]}},
     {"spec": {"containers": [{"name": "c", "volumeMounts": [{"mountPath": "/a", "name": "y"}]}]}}),
    ("volumes merge by name", "Pod",
     {"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}},
     {"spec": {"volumes": [{"name": "w", "emptyDir": {}}]}},
     {"spec": {"volumes": [{"name": "w", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]}}),
    ("item $patch delete removes by key", "Pod",
     {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}},
     {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}},
     {"spec": {"containers": [{"name": "b"}]}}),
    ("pod conditions merge by type", "Pod",
     {"status": {"conditions": [{"type": "Ready", "status": "False"},
                                {"type": "PodScheduled", "status": "True"}]}},
     {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
     {"status": {"conditions": [{"type": "Ready", "status": "True"},
                                {"type": "PodScheduled", "status": "True"}]}}),
    ("node addresses merge by type", "Node",
     {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}},
     {"status": {"addresses": [{"type": "Hostname", "address": "n1"}]}},
     {"status": {"addresses": [{"type": "Hostname", "address": "n1"},
                               {"type": "InternalIP", "address": "10.0.0.1"}]}}),
    ("deployment conditions merge by type", "Deployment",
     {"status": {"conditions": [{"type": "Available", "status": "False"}]}},
     {"status": {"conditions": [{"type": "Available", "status": "True"}]}},
     {"status": {"conditions": [{"type": "Available", "status": "True"}]}}),
    ("ownerReferences merge by uid", "ReplicaSet",
     {"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]}},
     {"metadata": {"ownerReferences": [{"uid": "1", "controller": True}]}},
     {"metadata": {"ownerReferences": [{"uid": "1", "name": "a", "controller": True}]}}),
    ("finalizers merge as a set", "Namespace",
     {"metadata": {"finalizers": ["a", "b"]}}, {"metadata": {"finalizers": ["b", "c"]}},
     {"metadata": {"finalizers": ["a", "b", "c"]}}),
    ("$deleteFromPrimitiveList removes", "Pod",
     {"metadata": {"finalizers": ["a", "b", "c"]}},
     {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}},
     {"metadata": {"finalizers": ["a", "c"]}}),
    ("finalizers reordered by $setElementOrder", "Pod",
     {"metadata": {"finalizers": ["a", "b"]}},
     {"metadata": {"$setElementOrder/finalizers": ["b", "a", "c"], "finalizers": ["c"],
                   }},
     {"metadata": {"finalizers": ["b", "a", "c"]}}),
    ("endpoints subsets are atomic", "Endpoints",
     {"subsets": [{"addresses": [{"ip": "1.1.1.1"}], "ports": [{"port": 80}]}]},
     {"subsets": [{"addresses": [{"ip": "2.2.2.2"}]}]},
     {"subsets": [{"addresses": [{"ip": "2.2.2.2"}]}]}),
    ("endpointslice endpoints are atomic", "EndpointSlice",
     {"endpoints": [{"addresses": ["1.1.1.1"]}]}, {"endpoints": [{"addresses": ["2.2.2.2"]}]},
     {"endpoints": [{"addresses": ["2.2.2.2"]}]}),
    ("unknown lists are atomic", "Secret", {"x": [1, 2]}, {"x": [3]}, {"x": [3]}),
    ("service ports merge by port", "Service",
     {"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]}},
     {"spec": {"ports": [{"port": 443, "targetPort": 8443}]}},
     {"spec": {"ports": [{"port": 80, "name": "http"},
                         {"port": 443, "name": "https", "targetPort": 8443}]}}),
    ("new list gets directives applied", "Pod", {"spec": {}},
     {"spec": {"containers": [{"name": "a"}, {"name": "b", "$patch": "delete"}]}},
     {"spec": {"containers": [{"name": "a"}]}}),
    ("type change replaces", "ConfigMap", {"data": "x"}, {"data": {"a": "1"}},
     {"data": {"a": "1"}}),
    ("init containers merge by name", "Pod",
     {"spec": {"initContainers": [{"name": "i", "image": "busybox"}]}},
     {"spec": {"initContainers": [{"name": "i", "image": "alpine"}]}},
     {"spec": {"initContainers": [{"name": "i", "image": "alpine"}]}}),
]


@pytest.mark.parametrize("name,kind,obj,patch,want", SMP_CASES, ids=[c[0] for c in SMP_CASES])
def test_strategic_merge_patch(name, kind, obj, patch, want):
    before = copy.deepcopy(obj), copy.deepcopy(patch)
    assert patches.strategic_merge_patch(obj, patch, kind) == want
    assert (obj, patch) == before


# (name, original names, patch items, $setElementOrder or None, want names)
ORDER_CASES = [
    ("update keeps order", ["a", "b", "c"], [{"name": "b", "x": 1}], None, ["a", "b", "c"]),
    ("new item goes before server-only items", ["a", "b"], [{"name": "c"}], None,
     ["c", "a", "b"]),
    ("new item after a patched one", ["a", "b"], [{"name": "a", "x": 1}, {"name": "c"}], None,
     ["a", "c", "b"]),
    ("setElementOrder reorders everything", ["a", "b", "c"], [],
     [{"name": "c"}, {"name": "b"}, {"name": "a"}], ["c", "b", "a"]),
    ("setElementOrder places a new item", ["a", "b"], [{"name": "c"}],
     [{"name": "a"}, {"name": "c"}, {"name": "b"}], ["a", "c", "b"]),
    ("setElementOrder with a deletion", ["a", "b", "c"],
     [{"name": "b", "$patch": "delete"}], [{"name": "c"}, {"name": "a"}], ["c", "a"]),
]


@pytest.mark.parametrize("name,names,items,order,want", ORDER_CASES,
                         ids=[c[0] for c in ORDER_CASES])
def test_strategic_merge_list_order_matches_upstream(name, names, items, order, want):
    obj = {"spec": {"containers": [{"name": n} for n in names]}}
    spec: dict = {"containers": items}
    if order is not None:
        spec["$setElementOrder/containers"] = order
    got = patches.strategic_merge_patch(obj, {"spec": spec}, "Pod")
    assert [c["name"] for c in got["spec"]["containers"]] == want


SMP_FAILURES = [
    ("retainKeys must list every patched key", {"spec": {"strategy": {
        "$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": {}}}},
     errors.BadRequest, "invalid patch format of retainKeys"),
    ("retainKeys must be a list", {"spec": {"strategy": {"$retainKeys": "type"}}},
     errors.BadRequest, "invalid patch format of retainKeys"),
    ("setElementOrder must be a list", {"spec": {"$setElementOrder/ports": "x"}},
     errors.BadRequest, "invalid patch format of setElementOrder list"),
    ("setElementOrder must agree with the patch", {"spec": {
        "$setElementOrder/ports": [{"port": 2}, {"port": 1}],
        "ports": [{"port": 1}, {"port": 2}]}}, errors.ApiError, "doesn't match"),
    ("merge key is required", {"spec": {"ports": [{"name": "x"}]}},
     errors.ApiError, "does not contain declared merge key: port"),
    ("unknown map directive", {"spec": {"$patch": "frob"}}, errors.ApiError,
     "unknown patch type: frob"),
    ("merge directive in a list", {"spec": {"ports": [{"$patch": "merge", "port": 1}]}},
     errors.ApiError, "merging lists cannot yet be specified"),
]


@pytest.mark.parametrize("name,patch,exc,message", SMP_FAILURES, ids=[c[0] for c in SMP_FAILURES])
def test_strategic_merge_patch_errors(name, patch, exc, message):
    obj = {"spec": {"ports": [{"port": 1}], "strategy": {"type": "RollingUpdate"}}}
    with pytest.raises(exc) as info:
        patches.strategic_merge_patch(obj, patch, "Service")
    assert message in info.value.message
    if exc is errors.ApiError:
        assert info.value.code == 500 and "reason" not in info.value.status()
