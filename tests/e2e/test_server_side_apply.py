"""`kubectl apply --server-side`: field managers, conflicts and removals, real kubectl."""
from __future__ import annotations

import json

import pytest
import yaml

from emunet.testing import Cluster

pytestmark = pytest.mark.e2e

APP = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "ssa", "labels": {"team": "net", "tier": "web"}},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "ssa"}},
             "template": {"metadata": {"labels": {"app": "ssa"}}, "spec": {"containers": [
                 {"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]}}},
}


@pytest.fixture(scope="module")
def cluster():
    with Cluster(nodes=1) as c:
        yield c


def apply(c: Cluster, obj: dict, *flags: str):
    return c.kubectl("apply", "--server-side", *flags, "-f", "-", input=yaml.safe_dump(obj))


def get(c: Cluster) -> dict:
    r = c.kubectl("get", "deployment", "ssa", "--show-managed-fields", "-o", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def managers(obj: dict) -> list[tuple[str, str]]:
    return [(e["manager"], e["operation"]) for e in obj["metadata"]["managedFields"]]


def test_apply_creates_then_owns_its_fields(cluster):
    r = apply(cluster, APP)
    assert r.returncode == 0 and r.stdout == "deployment.apps/ssa serverside-applied\n", r.stderr
    cluster.wait(lambda: cluster.kubectl("rollout", "status", "deployment/ssa",
                                         "--timeout=1s").returncode == 0, what="rolled out")
    obj = get(cluster)
    assert managers(obj) == [("kubectl", "Apply")]
    fields = obj["metadata"]["managedFields"][0]["fieldsV1"]
    container = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert set(container) == {".", "f:image", "f:name", "f:ports"}
    # kubectl hides them unless asked, as against any cluster.
    plain = json.loads(cluster.kubectl("get", "deployment", "ssa", "-o", "json").stdout)
    assert "managedFields" not in plain["metadata"]
    assert apply(cluster, APP).returncode == 0   # applying again changes nothing


def test_a_field_another_manager_changed_is_a_conflict_until_forced(cluster):
    r = cluster.kubectl("patch", "deployment", "ssa", "-p", '{"spec":{"replicas":3}}')
    assert r.returncode == 0, r.stderr
    r = apply(cluster, APP)
    assert r.returncode == 1
    assert r.stderr.startswith('error: Apply failed with 1 conflict: conflict with '
                               '"kubectl-patch" using apps/v1: .spec.replicas\n')
    assert "--force-conflicts" in r.stderr
    assert get(cluster)["spec"]["replicas"] == 3
    r = apply(cluster, APP, "--force-conflicts")
    assert r.returncode == 0, r.stderr
    obj = get(cluster)
    assert obj["spec"]["replicas"] == 2
    assert ("kubectl-patch", "Update") not in managers(obj)


def test_two_appliers_conflict_on_a_different_image(cluster):
    other = json.loads(json.dumps(APP))
    other["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"
    r = apply(cluster, other, "--field-manager=ci")
    assert r.returncode == 1
    assert ('conflict with "kubectl" using apps/v1: '
            '.spec.template.spec.containers[name="web"].image') in r.stderr


def test_what_is_no_longer_applied_is_removed_but_others_fields_stay(cluster):
    assert cluster.kubectl("label", "deployment", "ssa", "owner=me").returncode == 0
    less = json.loads(json.dumps(APP))
    less["metadata"]["labels"] = {"team": "net"}
    del less["spec"]["replicas"]
    r = apply(cluster, less)
    assert r.returncode == 0, r.stderr
    obj = get(cluster)
    assert obj["metadata"]["labels"] == {"owner": "me", "team": "net"}
    assert obj["spec"]["replicas"] == 1   # removed, then defaulted, as Kubernetes does
    assert ("kubectl-label", "Update") in managers(obj)


def test_apply_is_validated_like_any_write(cluster):
    bad = json.loads(json.dumps(APP))
    bad["spec"]["replicaz"] = 2
    r = apply(cluster, bad)
    assert r.returncode == 1 and 'unknown field "spec.replicaz"' in r.stderr
    worse = json.loads(json.dumps(APP))
    worse["spec"]["replicas"] = -1
    r = apply(cluster, worse)
    assert r.returncode == 1
    assert "spec.replicas: Invalid value: -1: must be greater than or equal to 0" in r.stderr
    r = apply(cluster, json.loads(json.dumps(APP)), "--dry-run=server")
    assert r.stdout == "deployment.apps/ssa serverside-applied (server dry run)\n", r.stderr
