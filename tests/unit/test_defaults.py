"""Defaults as `kubectl get -o yaml` shows them on a real v1.32 cluster."""
from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from emunet import defaults


def at(obj: Any, path: str) -> Any:
    """The value at a dotted path with [i] indexes; KeyError when absent."""
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        obj = obj[int(part[1:-1])] if part.startswith("[") else obj[part]
    return obj


def absent(obj: Any, path: str) -> bool:
    try:
        at(obj, path)
    except (KeyError, IndexError):
        return True
    return False


def pod(**spec: Any) -> dict[str, Any]:
    spec.setdefault("containers", [{"name": "c", "image": "nginx"}])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}


def deployment(**spec: Any) -> dict[str, Any]:
    spec.setdefault("selector", {"matchLabels": {"app": "x"}})
    spec.setdefault("template", {"metadata": {"labels": {"app": "x"}},
                                 "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}})
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": spec}


def service(**spec: Any) -> dict[str, Any]:
    spec.setdefault("ports", [{"port": 80}])
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": spec}


@pytest.mark.parametrize("image, policy", [
    ("nginx", "Always"),
    ("nginx:latest", "Always"),
    ("nginx:1.25", "IfNotPresent"),
    ("registry.local:5000/nginx", "Always"),
    ("registry.local:5000/nginx:1.25", "IfNotPresent"),
    ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
    ("radial/busyboxplus:curl", "IfNotPresent"),
])
def test_image_pull_policy_follows_the_tag(image: str, policy: str) -> None:
    out = defaults.apply_defaults("Pod", pod(containers=[{"name": "c", "image": image}]))
    assert at(out, "spec.containers[0].imagePullPolicy") == policy


@pytest.mark.parametrize("path, expected", [
    ("spec.restartPolicy", "Always"),
    ("spec.dnsPolicy", "ClusterFirst"),
    ("spec.terminationGracePeriodSeconds", 30),
    ("spec.schedulerName", "default-scheduler"),
    ("spec.securityContext", {}),
    ("spec.enableServiceLinks", True),
    ("spec.serviceAccountName", "default"),
    ("spec.serviceAccount", "default"),
    ("spec.priority", 0),
    ("spec.preemptionPolicy", "PreemptLowerPriority"),
    ("spec.tolerations", [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300}]),
    ("spec.containers[0].terminationMessagePath", "/dev/termination-log"),
    ("spec.containers[0].terminationMessagePolicy", "File"),
    ("spec.containers[0].resources", {}),
    ("spec.containers[0].ports[0].protocol", "TCP"),
    ("spec.containers[0].readinessProbe", {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
                                           "timeoutSeconds": 1, "periodSeconds": 10,
                                           "successThreshold": 1, "failureThreshold": 3}),
    ("spec.containers[0].livenessProbe.periodSeconds", 5),
    ("spec.containers[0].env[0].valueFrom.fieldRef.apiVersion", "v1"),
    ("spec.volumes[0].secret.defaultMode", 420),
    ("spec.volumes[1].configMap.defaultMode", 420),
    ("spec.volumes[2].emptyDir", {}),
    ("status.phase", "Pending"),
    ("status.qosClass", "BestEffort"),
])
def test_pod_gets_upstream_defaults(path: str, expected: Any) -> None:
    container = {"name": "c", "image": "nginx", "ports": [{"containerPort": 80}],
                 "readinessProbe": {"httpGet": {"port": 80}},
                 "livenessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 5},
                 "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}
    volumes = [{"name": "a", "secret": {"secretName": "s"}},
               {"name": "b", "configMap": {"name": "m"}}, {"name": "e"}]
    out = defaults.apply_defaults("Pod", pod(containers=[container], volumes=volumes))
    assert at(out, path) == expected


@pytest.mark.parametrize("path", [
    "spec.template.spec.serviceAccountName",
    "spec.template.spec.serviceAccount",
    "spec.template.spec.enableServiceLinks",
    "spec.template.spec.priority",
    "spec.template.spec.preemptionPolicy",
    "spec.template.spec.tolerations",
    "spec.template.status",
])
def test_pod_only_defaults_stay_off_templates(path: str) -> None:
    assert absent(defaults.apply_defaults("Deployment", deployment()), path)


@pytest.mark.parametrize("kind, path, expected", [
    ("Deployment", "spec.replicas", 1),
    ("Deployment", "spec.strategy", {"type": "RollingUpdate",
                                     "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
    ("Deployment", "spec.revisionHistoryLimit", 10),
    ("Deployment", "spec.progressDeadlineSeconds", 600),
    ("Deployment", "spec.template.spec.restartPolicy", "Always"),
    ("Deployment", "spec.template.spec.schedulerName", "default-scheduler"),
    ("Deployment", "spec.template.spec.containers[0].imagePullPolicy", "IfNotPresent"),
    ("DaemonSet", "spec.updateStrategy", {"type": "RollingUpdate",
                                           "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
    ("DaemonSet", "spec.revisionHistoryLimit", 10),
    ("DaemonSet", "spec.template.spec.restartPolicy", "Always"),
    ("StatefulSet", "spec.podManagementPolicy", "OrderedReady"),
    ("StatefulSet", "spec.updateStrategy", {"type": "RollingUpdate",
                                             "rollingUpdate": {"partition": 0}}),
    ("StatefulSet", "spec.persistentVolumeClaimRetentionPolicy",
     {"whenDeleted": "Retain", "whenScaled": "Retain"}),
    ("ReplicaSet", "spec.replicas", 1),
    ("ReplicaSet", "spec.template.spec.dnsPolicy", "ClusterFirst"),
])
def test_workloads_get_upstream_defaults(kind: str, path: str, expected: Any) -> None:
    assert at(defaults.apply_defaults(kind, deployment()), path) == expected


@pytest.mark.parametrize("spec, path, expected", [
    ({}, "spec.completions", 1),
    ({}, "spec.parallelism", 1),
    ({}, "spec.backoffLimit", 6),
    ({}, "spec.completionMode", "NonIndexed"),
    ({}, "spec.suspend", False),
    ({"parallelism": 3}, "spec.parallelism", 3),   # a work queue: completions stay unset
    ({"completions": 5}, "spec.parallelism", 1),
    ({}, "metadata.labels", {"app": "batch"}),         # the template's, when the Job has none
])
def test_jobs_get_upstream_defaults(spec: dict[str, Any], path: str, expected: Any) -> None:
    job = {"metadata": {"name": "j"},
           "spec": {**spec, "template": {"metadata": {"labels": {"app": "batch"}},
                                         "spec": {"containers": [{"name": "c", "image": "b"}]}}}}
    out = defaults.apply_defaults("Job", job)
    assert at(out, path) == expected
    assert ("completions" in out["spec"]) == ("parallelism" not in spec or "completions" in spec)


@pytest.mark.parametrize("spec, path, expected", [
    ({"replicas": 0}, "spec.replicas", 0),
    ({"strategy": {"type": "Recreate"}}, "spec.strategy", {"type": "Recreate"}),
    ({"strategy": {"rollingUpdate": {"maxSurge": 1}}}, "spec.strategy.rollingUpdate",
     {"maxSurge": 1, "maxUnavailable": "25%"}),
    ({"template": {"spec": {"serviceAccountName": "robot", "containers": []}}},
     "spec.template.spec.serviceAccount", "robot"),
])
def test_deployment_keeps_what_the_user_set(spec: dict[str, Any], path: str,
                                            expected: Any) -> None:
    assert at(defaults.apply_defaults("Deployment", deployment(**spec)), path) == expected


@pytest.mark.parametrize("tolerations, expected_count", [
    ([], 2),
    ([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}], 2),
    ([{"operator": "Exists"}], 1),
    ([{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}], 2),
    ([{"key": "dedicated", "operator": "Equal", "value": "x", "effect": "NoSchedule"}], 3),
])
def test_default_tolerations_are_added_only_when_not_tolerated(
        tolerations: list[dict[str, Any]], expected_count: int) -> None:
    out = defaults.apply_defaults("Pod", pod(tolerations=tolerations))
    assert len(out["spec"]["tolerations"]) == expected_count


@pytest.mark.parametrize("resources, qos", [
    ({}, "BestEffort"),
    ({"requests": {"cpu": "100m"}}, "Burstable"),
    ({"limits": {"cpu": "1", "memory": "1Gi"}}, "Guaranteed"),
    ({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m"}}, "Guaranteed"),
    ({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}, "Burstable"),
    ({"limits": {"cpu": "1"}}, "Burstable"),
])
def test_qos_class_follows_requests_and_limits(resources: dict[str, Any], qos: str) -> None:
    out = defaults.apply_defaults(
        "Pod", pod(containers=[{"name": "c", "image": "nginx", "resources": resources}]))
    assert out["status"]["qosClass"] == qos


def test_pod_requests_default_to_limits() -> None:
    out = defaults.apply_defaults("Pod", pod(containers=[
        {"name": "c", "image": "nginx", "resources": {"limits": {"cpu": "1"}}}]))
    assert out["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "1"}


@pytest.mark.parametrize("spec, path, expected", [
    ({}, "spec.type", "ClusterIP"),
    ({}, "spec.sessionAffinity", "None"),
    ({}, "spec.ports[0].protocol", "TCP"),
    ({}, "spec.ports[0].targetPort", 80),
    ({"ports": [{"port": 80, "targetPort": "http"}]}, "spec.ports[0].targetPort", "http"),
    ({}, "spec.ipFamilies", ["IPv4"]),
    ({}, "spec.ipFamilyPolicy", "SingleStack"),
    ({}, "spec.internalTrafficPolicy", "Cluster"),
    ({}, "status", {"loadBalancer": {}}),
    ({"type": "NodePort"}, "spec.externalTrafficPolicy", "Cluster"),
    ({"type": "LoadBalancer"}, "spec.externalTrafficPolicy", "Cluster"),
    ({"type": "LoadBalancer"}, "spec.allocateLoadBalancerNodePorts", True),
    ({"sessionAffinity": "ClientIP"}, "spec.sessionAffinityConfig",
     {"clientIP": {"timeoutSeconds": 10800}}),
    ({"clusterIP": "None", "selector": {"app": "x"}}, "spec.clusterIPs", ["None"]),
    ({"clusterIP": "None", "selector": {"app": "x"}}, "spec.ipFamilyPolicy", "SingleStack"),
    ({"clusterIP": "None"}, "spec.ipFamilyPolicy", "RequireDualStack"),
    ({"clusterIP": "None"}, "spec.ipFamilies", ["IPv4", "IPv6"]),
])
def test_service_gets_upstream_defaults(spec: dict[str, Any], path: str, expected: Any) -> None:
    assert at(defaults.apply_defaults("Service", service(**spec)), path) == expected


@pytest.mark.parametrize("spec, path", [
    ({}, "spec.externalTrafficPolicy"),
    ({}, "spec.allocateLoadBalancerNodePorts"),
    ({}, "spec.clusterIP"),
    ({"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 5}}}, "spec.sessionAffinityConfig"),
    ({"type": "ExternalName", "externalName": "example.com"}, "spec.ipFamilies"),
    ({"type": "ExternalName", "externalName": "example.com"}, "spec.internalTrafficPolicy"),
])
def test_service_leaves_unset_what_upstream_leaves_unset(spec: dict[str, Any], path: str) -> None:
    assert absent(defaults.apply_defaults("Service", service(**spec)), path)


@pytest.mark.parametrize("kind, obj, path, expected", [
    ("Secret", {"metadata": {"name": "s"}}, "type", "Opaque"),
    ("Secret", {"metadata": {"name": "s"}, "type": "kubernetes.io/tls"}, "type",
     "kubernetes.io/tls"),
    ("Secret", {"metadata": {"name": "s"}, "data": {"a": "eA=="}, "stringData": {"b": "hi"}},
     "data", {"a": "eA==", "b": "aGk="}),
    ("Namespace", {"metadata": {"name": "dev"}}, "spec.finalizers", ["kubernetes"]),
    ("Namespace", {"metadata": {"name": "dev"}}, "status.phase", "Active"),
    ("Namespace", {"metadata": {"name": "dev"}}, "metadata.labels",
     {"kubernetes.io/metadata.name": "dev"}),
    ("Node", {"metadata": {"name": "n"}, "status": {"capacity": {"cpu": "4"}}},
     "status.allocatable", {"cpu": "4"}),
    ("Endpoints", {"metadata": {"name": "e"}, "subsets": [{"ports": [{"port": 80}]}]},
     "subsets[0].ports[0].protocol", "TCP"),
    ("EndpointSlice", {"metadata": {"name": "e"}, "ports": [{"port": 80}]}, "ports[0]",
     {"port": 80, "name": "", "protocol": "TCP"}),
    ("EndpointSlice", {"metadata": {"name": "e"},
                       "endpoints": [{"addresses": ["127.244.1.2"], "conditions": {}}]},
     "endpoints[0].conditions", {}),
    ("ConfigMap", {"metadata": {"name": "c"}}, "", {"metadata": {"name": "c"}}),
    ("Lease", {"metadata": {"name": "l"}}, "", {"metadata": {"name": "l"}}),
])
def test_other_kinds_get_upstream_defaults(kind: str, obj: dict[str, Any], path: str,
                                           expected: Any) -> None:
    assert at(defaults.apply_defaults(kind, obj), path) == expected


def test_secret_string_data_is_never_stored() -> None:
    out = defaults.apply_defaults("Secret", {"metadata": {"name": "s"}, "stringData": {"a": "b"}})
    assert "stringData" not in out


@pytest.mark.parametrize("kind, obj", [
    ("Pod", pod()), ("Deployment", deployment()), ("Service", service()),
    ("Secret", {"metadata": {"name": "s"}, "stringData": {"a": "b"}}),
])
def test_input_is_left_untouched(kind: str, obj: dict[str, Any]) -> None:
    before = copy.deepcopy(obj)
    defaults.apply_defaults(kind, obj)
    assert obj == before


@pytest.mark.parametrize("kind, obj", [
    ("Pod", pod()), ("Deployment", deployment()), ("Service", service()),
    ("Namespace", {"metadata": {"name": "dev"}}),
])
def test_defaulting_twice_changes_nothing(kind: str, obj: dict[str, Any]) -> None:
    once = defaults.apply_defaults(kind, obj)
    assert defaults.apply_defaults(kind, once) == once
