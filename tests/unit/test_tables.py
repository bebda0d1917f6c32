"""Tables as kubectl 1.32 receives them from the apiserver: ages, cells, columns, envelope."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from emunet import errors, tables

NOW = datetime(2026, 11, 27, 14, 0, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, created: str | None = None, **extra) -> dict:
    m = {"name": name, "namespace": "default", "uid": "u-1", "resourceVersion": "113",
         "creationTimestamp": created or ago(seconds=13)}
    m.update(extra)
    return m


# --- ages -------------------------------------------------------------------

@pytest.mark.parametrize("seconds, expected", [
    (-5, "<invalid>"),
    (-2, "<invalid>"),
    (-1.5, "0s"),          # truncated to -1: within the tolerated skew
    (-0.5, "0s"),
    (0, "0s"),
    (13, "13s"),
    (119, "119s"),
    (120, "2m"),
    (150, "2m30s"),
    (599, "9m59s"),
    (600, "10m"),
    (179 * 60 + 59, "179m"),
    (3 * 3600, "3h"),
    (3 * 3600 + 60 * 5, "3h5m"),
    (8 * 3600, "8h"),
    (47 * 3600 + 3599, "47h"),
    (48 * 3600, "2d"),
    (2 * 86400 + 5 * 3600, "2d5h"),
    (8 * 86400 - 1, "7d23h"),
    (8 * 86400, "8d"),
    (729 * 86400, "729d"),
    (730 * 86400, "2y"),
    (730 * 86400 + 10 * 86400, "2y10d"),
    (8 * 365 * 86400 - 86400, "7y364d"),
    (8 * 365 * 86400, "8y"),
    (20 * 365 * 86400 + 100 * 86400, "20y"),
])
def test_human_duration_follows_apimachinery_rules(seconds, expected):
    assert tables.human_duration(seconds) == expected


@pytest.mark.parametrize("timestamp, expected", [
    (None, "<unknown>"),
    ("", "<unknown>"),
    ("2026-11-27T13:59:47Z", "13s"),
    ("2026-11-27T13:59:47.123456Z", "12s"),
    ("2026-11-27T12:00:00+00:00", "120m"),
    ("2026-11-27T14:00:01Z", "0s"),
    ("2026-11-27T14:00:05Z", "<invalid>"),
])
def test_age_reads_rfc3339_timestamps(timestamp, expected):
    assert tables.age(timestamp, NOW) == expected


# --- pods -------------------------------------------------------------------

def pod(*, phase="Running", statuses=None, init=None, init_statuses=None, **extra) -> dict:
    obj = {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": meta("my-nginx-dbdcmgalba-clxq6", labels={"run": "my-nginx"}),
        "spec": {"nodeName": "emunet-worker",
                 "containers": [{"name": "my-nginx", "image": "nginx"}]},
        "status": {"phase": phase, "podIP": "127.244.1.5", "podIPs": [{"ip": "127.244.1.5"}],
                   "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": statuses if statuses is not None else [
                       {"name": "my-nginx", "ready": True, "restartCount": 0,
                        "state": {"running": {"startedAt": ago(seconds=10)}}}]},
    }
    if init is not None:
        obj["spec"]["initContainers"] = init
        obj["status"]["initContainerStatuses"] = init_statuses or []
    for key, value in extra.items():
        section, field = key.split("__")
        obj[section][field] = value
    return obj


def waiting(reason: str) -> dict:
    return {"name": "my-nginx", "ready": False, "restartCount": 0,
            "state": {"waiting": {"reason": reason}}}


@pytest.mark.parametrize("obj, ready, status", [
    (pod(), "1/1", "Running"),
    (pod(phase="Pending", statuses=[]), "0/1", "Pending"),
    (pod(phase="Pending", statuses=[waiting("ContainerCreating")]), "0/1", "ContainerCreating"),
    (pod(statuses=[waiting("CrashLoopBackOff")]), "0/1", "CrashLoopBackOff"),
    (pod(phase="Pending", statuses=[waiting("ErrImagePull")]), "0/1", "ErrImagePull"),
    (pod(phase="Pending", statuses=[waiting("ImagePullBackOff")]), "0/1", "ImagePullBackOff"),
    (pod(phase="Succeeded", statuses=[{"name": "c", "ready": False, "restartCount": 0, "state": {
        "terminated": {"exitCode": 0, "reason": "Completed"}}}]), "0/1", "Completed"),
    (pod(phase="Failed", statuses=[{"name": "c", "ready": False, "restartCount": 0, "state": {
        "terminated": {"exitCode": 1, "reason": "Error"}}}]), "0/1", "Error"),
    (pod(phase="Failed", statuses=[{"name": "c", "ready": False, "restartCount": 0, "state": {
        "terminated": {"exitCode": 137}}}]), "0/1", "ExitCode:137"),
    (pod(metadata__deletionTimestamp=ago(seconds=1)), "1/1", "Terminating"),
    (pod(phase="Succeeded", metadata__deletionTimestamp=ago(seconds=1), statuses=[]),
     "0/1", "Succeeded"),
    (pod(phase="Pending", statuses=[], status__reason="Evicted"), "0/1", "Evicted"),
    (pod(phase="Pending", statuses=[waiting("PodInitializing")],
         init=[{"name": "setup", "image": "busybox"}],
         init_statuses=[{"name": "setup", "restartCount": 0,
                         "state": {"running": {}}}]), "0/1", "Init:0/1"),
    (pod(phase="Pending", statuses=[], init=[{"name": "setup", "image": "busybox"}],
         init_statuses=[{"name": "setup", "restartCount": 0,
                         "state": {"waiting": {"reason": "ErrImagePull"}}}]),
     "0/1", "Init:ErrImagePull"),
    (pod(phase="Pending", statuses=[], init=[{"name": "setup", "image": "busybox"}],
         init_statuses=[{"name": "setup", "restartCount": 0,
                         "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}]),
     "0/1", "Init:Error"),
])
def test_pod_ready_and_status_cells_summarise_containers(obj, ready, status):
    cells = tables.row("pods", "", obj, NOW)["cells"]
    assert cells[1:3] == [ready, status]


def test_pod_row_matches_tutorial_wide_output():
    cells = tables.row("pods", "", pod(), NOW)["cells"]
    assert cells == ["my-nginx-dbdcmgalba-clxq6", "1/1", "Running", "0", "13s",
                     "127.244.1.5", "emunet-worker", "<none>", "<none>"]


def test_pending_pod_without_ip_or_node_prints_none():
    obj = pod(phase="Pending", statuses=[])
    del obj["spec"]["nodeName"], obj["status"]["podIP"], obj["status"]["podIPs"]
    assert tables.row("pods", "", obj, NOW)["cells"][5:] == ["<none>"] * 4


@pytest.mark.parametrize("statuses, expected", [
    ([{"name": "a", "ready": True, "restartCount": 0, "state": {"running": {}}}], "0"),
    ([{"name": "a", "ready": True, "restartCount": 2, "state": {"running": {}}}], "2"),
    ([{"name": "a", "ready": True, "restartCount": 2, "state": {"running": {}},
       "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(seconds=5)}}}],
     "2 (5s ago)"),
    ([{"name": "a", "ready": True, "restartCount": 1, "state": {"running": {}},
       "lastState": {"terminated": {"finishedAt": ago(minutes=30)}}},
      {"name": "b", "ready": True, "restartCount": 3, "state": {"running": {}},
       "lastState": {"terminated": {"finishedAt": ago(minutes=4)}}}],
     "4 (4m ago)"),
])
def test_pod_restarts_cell_adds_time_since_last_restart(statuses, expected):
    assert tables.row("pods", "", pod(statuses=statuses), NOW)["cells"][3] == expected


def test_pod_readiness_gates_count_true_conditions():
    obj = pod(spec__readinessGates=[{"conditionType": "example.com/lb"},
                                    {"conditionType": "example.com/dns"}])
    obj["status"]["conditions"].append({"type": "example.com/lb", "status": "True"})
    assert tables.row("pods", "", obj, NOW)["cells"][8] == "1/2"


@pytest.mark.parametrize("phase, reason", [("Succeeded", "Succeeded"), ("Failed", "Failed")])
def test_finished_pod_rows_carry_completed_condition(phase, reason):
    r = tables.row("pods", "", pod(phase=phase, statuses=[]), NOW)
    assert r["conditions"][0]["type"] == "Completed"
    assert r["conditions"][0]["reason"] == reason


# --- services ---------------------------------------------------------------

def service(spec: dict, status: dict | None = None, name="my-nginx") -> dict:
    return {"kind": "Service", "apiVersion": "v1", "metadata": meta(name),
            "spec": spec, "status": status or {}}


_PORT80 = [{"port": 80, "protocol": "TCP", "targetPort": 80}]


@pytest.mark.parametrize("svc, expected", [
    (service({"type": "ClusterIP", "clusterIP": "127.96.12.34", "clusterIPs": ["127.96.12.34"],
              "ports": _PORT80, "selector": {"run": "my-nginx"}}),
     ["my-nginx", "ClusterIP", "127.96.12.34", "<none>", "80/TCP", "13s", "run=my-nginx"]),
    (service({"type": "NodePort", "clusterIPs": ["127.96.0.7"], "selector": {"run": "my-nginx",
              "app": "web"}, "ports": [
                 {"name": "http", "port": 8080, "nodePort": 30164, "protocol": "TCP"},
                 {"name": "https", "port": 443, "nodePort": 30165, "protocol": "TCP"}]}),
     ["my-nginx", "NodePort", "127.96.0.7", "<none>", "8080:30164/TCP,443:30165/TCP", "13s",
      "app=web,run=my-nginx"]),
    (service({"type": "LoadBalancer", "clusterIPs": ["127.96.0.8"],
              "ports": [{"port": 80, "nodePort": 31000, "protocol": "TCP"}]},
             {"loadBalancer": {"ingress": [{"ip": "127.200.0.2"}, {"hostname": "lb.local"}]}}),
     ["my-nginx", "LoadBalancer", "127.96.0.8", "127.200.0.2,lb.local", "80:31000/TCP", "13s",
      "<none>"]),
    (service({"type": "LoadBalancer", "clusterIPs": ["127.96.0.8"],
              "ports": [{"port": 80, "nodePort": 31000, "protocol": "TCP"}]}),
     ["my-nginx", "LoadBalancer", "127.96.0.8", "<pending>", "80:31000/TCP", "13s", "<none>"]),
    (service({"type": "LoadBalancer", "clusterIPs": ["127.96.0.8"], "externalIPs": ["1.2.3.4"],
              "ports": _PORT80}, {"loadBalancer": {"ingress": [{"ip": "127.200.0.2"}]}}),
     ["my-nginx", "LoadBalancer", "127.96.0.8", "127.200.0.2,1.2.3.4", "80/TCP", "13s",
      "<none>"]),
    (service({"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"],
              "selector": {"app": "db"}}),
     ["my-nginx", "ClusterIP", "None", "<none>", "<none>", "13s", "app=db"]),
    (service({"type": "ClusterIP", "clusterIPs": ["127.96.0.9"], "externalIPs": ["1.2.3.4",
              "5.6.7.8"], "ports": _PORT80}),
     ["my-nginx", "ClusterIP", "127.96.0.9", "1.2.3.4,5.6.7.8", "80/TCP", "13s", "<none>"]),
    (service({"type": "ExternalName", "externalName": "example.com"}),
     ["my-nginx", "ExternalName", "<none>", "example.com", "<none>", "13s", "<none>"]),
    (service({"type": "ClusterIP", "clusterIPs": ["127.96.0.10"], "ports": [
        {"name": "dns", "port": 53, "protocol": "UDP"},
        {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]}, name="kube-dns"),
     ["kube-dns", "ClusterIP", "127.96.0.10", "<none>", "53/UDP,53/TCP", "13s", "<none>"]),
])
def test_service_cells(svc, expected):
    assert tables.row("services", "", svc, NOW)["cells"] == expected


# --- endpoints and slices ---------------------------------------------------

def endpoints(subsets: list) -> dict:
    return {"kind": "Endpoints", "apiVersion": "v1", "metadata": meta("my-nginx"),
            "subsets": subsets}


@pytest.mark.parametrize("subsets, expected", [
    ([], "<none>"),
    ([{"addresses": [{"ip": "127.244.0.12"}, {"ip": "127.244.0.11"}],
       "ports": [{"port": 80, "protocol": "TCP"}]}], "127.244.0.12:80,127.244.0.11:80"),
    ([{"addresses": [{"ip": "127.244.0.12"}, {"ip": "127.244.0.11"}],
       "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]}],
     "127.244.0.12:80,127.244.0.11:80,127.244.0.12:443 + 1 more..."),
    ([{"addresses": [{"ip": f"127.244.0.{i}"} for i in range(1, 6)],
       "ports": [{"port": 80}]}], "127.244.0.1:80,127.244.0.2:80,127.244.0.3:80 + 2 more..."),
    ([{"addresses": [{"ip": "127.244.0.1"}]}], "127.244.0.1"),
    ([{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}], "[fd00::1]:80"),
    ([{"notReadyAddresses": [{"ip": "127.244.0.1"}], "ports": [{"port": 80}]}], ""),
])
def test_endpoints_cell_lists_address_port_pairs(subsets, expected):
    assert tables.row("endpoints", "", endpoints(subsets), NOW)["cells"] == [
        "my-nginx", expected, "13s"]


def slice_(ports: list, addresses: list) -> dict:
    return {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
            "metadata": meta("my-nginx-g2d88"), "addressType": "IPv4", "ports": ports,
            "endpoints": [{"addresses": a, "conditions": {"ready": True}} for a in addresses]}


@pytest.mark.parametrize("ports, addresses, expected", [
    ([{"name": "", "port": 80, "protocol": "TCP"}], [["127.244.0.12"], ["127.244.0.11"]],
     ["80", "127.244.0.12,127.244.0.11"]),
    ([], [], ["<unset>", "<unset>"]),
    ([{"name": "http"}, {"port": 443}, {}], [], ["http,443,*", "<unset>"]),
    ([{"port": p} for p in (1, 2, 3, 4, 5)], [[f"127.244.0.{i}"] for i in range(1, 5)],
     ["1,2,3 + 2 more...", "127.244.0.1,127.244.0.2,127.244.0.3 + 1 more..."]),
])
def test_endpointslice_cells(ports, addresses, expected):
    cells = tables.row("endpointslices", "discovery.k8s.io", slice_(ports, addresses), NOW)["cells"]
    assert cells == ["my-nginx-g2d88", "IPv4", *expected, "13s"]


# --- workloads --------------------------------------------------------------

_TEMPLATE = {"metadata": {"labels": {"run": "my-nginx"}},
             "spec": {"containers": [{"name": "my-nginx", "image": "nginx"},
                                     {"name": "sidecar", "image": "busybox:1.37"}]}}


@pytest.mark.parametrize("selector, expected", [
    ({"matchLabels": {"run": "my-nginx"}}, "run=my-nginx"),
    ({"matchLabels": {"tier": "web", "app": "x"},
      "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]},
                           {"key": "zz", "operator": "DoesNotExist"},
                           {"key": "b", "operator": "Exists"}]},
     "app=x,b,env in (dev,prod),tier=web,!zz"),
    ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["a"]}]},
     "env notin (a)"),
    ({}, ""),
    ({"matchExpressions": [{"key": "env", "operator": "Bogus"}]}, "<invalid>"),
])
def test_deployment_cells_with_selector_string(selector, expected):
    d = {"kind": "Deployment", "apiVersion": "apps/v1", "metadata": meta("my-nginx"),
         "spec": {"replicas": 2, "selector": selector, "template": _TEMPLATE},
         "status": {"replicas": 2, "readyReplicas": 2, "updatedReplicas": 2,
                    "availableReplicas": 2}}
    assert tables.row("deployments", "apps", d, NOW)["cells"] == [
        "my-nginx", "2/2", 2, 2, "13s", "my-nginx,sidecar", "nginx,busybox:1.37", expected]


def test_scaled_down_deployment_without_status_counts():
    d = {"metadata": meta("my-nginx"), "spec": {"replicas": 0, "template": _TEMPLATE},
         "status": {}}
    assert tables.row("deployments", "apps", d, NOW)["cells"][:4] == ["my-nginx", "0/0", 0, 0]


@pytest.mark.parametrize("selector, expected", [
    ({"matchLabels": {"run": "my-nginx", "pod-template-hash": "dbdcmgalba"}},
     "pod-template-hash=dbdcmgalba,run=my-nginx"),
    (None, "<none>"),
])
def test_replicaset_cells(selector, expected):
    rs = {"metadata": meta("my-nginx-dbdcmgalba"),
          "spec": {"replicas": 2, "selector": selector, "template": _TEMPLATE},
          "status": {"replicas": 2, "readyReplicas": 1}}
    assert tables.row("replicasets", "apps", rs, NOW)["cells"] == [
        "my-nginx-dbdcmgalba", 2, 2, 1, "13s", "my-nginx,sidecar", "nginx,busybox:1.37",
        expected]


# --- nodes ------------------------------------------------------------------

def node(conditions, labels=None, unschedulable=False, addresses=None, info=None) -> dict:
    return {"kind": "Node", "apiVersion": "v1",
            "metadata": meta("emunet-worker", ago(days=3, hours=4), labels=labels or {}),
            "spec": {"unschedulable": unschedulable},
            "status": {"conditions": conditions, "addresses": addresses or [],
                       "nodeInfo": info if info is not None else {
                           "kubeletVersion": "v1.32.0", "osImage": "emunet",
                           "kernelVersion": "6.8.0", "containerRuntimeVersion": "emunet://0.1"}}}


_READY = [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}]


@pytest.mark.parametrize("obj, expected", [
    (node(_READY, addresses=[{"type": "Hostname", "address": "emunet-worker"},
                             {"type": "InternalIP", "address": "127.0.0.1"}]),
     ["emunet-worker", "Ready", "<none>", "3d4h", "v1.32.0", "127.0.0.1", "<none>", "emunet",
      "6.8.0", "emunet://0.1"]),
    (node([{"type": "Ready", "status": "False"}], unschedulable=True,
          labels={"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "master"},
          addresses=[{"type": "ExternalIP", "address": "1.2.3.4"}], info={}),
     ["emunet-worker", "NotReady,SchedulingDisabled", "control-plane,master", "3d4h", "",
      "<none>", "1.2.3.4", "<unknown>", "<unknown>", "<unknown>"]),
    (node([], labels={"node-role.kubernetes.io/worker": "true"}),
     ["emunet-worker", "Unknown", "worker", "3d4h", "v1.32.0", "<none>", "<none>", "emunet",
      "6.8.0", "emunet://0.1"]),
    (node([{"type": "Ready", "status": "Unknown"}]),
     ["emunet-worker", "NotReady", "<none>", "3d4h", "v1.32.0", "<none>", "<none>", "emunet",
      "6.8.0", "emunet://0.1"]),
])
def test_node_cells(obj, expected):
    assert tables.row("nodes", "", obj, NOW)["cells"] == expected


# --- the small kinds --------------------------------------------------------

@pytest.mark.parametrize("plural, group, obj, expected", [
    ("namespaces", "", {"metadata": meta("default", ago(days=1)), "status": {"phase": "Active"}},
     ["default", "Active", "24h"]),
    ("secrets", "", {"metadata": meta("nginxsecret"), "type": "kubernetes.io/tls",
                     "data": {"tls.crt": "x", "tls.key": "y"}},
     ["nginxsecret", "kubernetes.io/tls", 2, "13s"]),
    ("secrets", "", {"metadata": meta("s"), "type": "Opaque", "data": {"a": "x"},
                     "stringData": {"a": "1", "b": "2"}}, ["s", "Opaque", 2, "13s"]),
    ("configmaps", "", {"metadata": meta("nginxconfigmap"), "data": {"default.conf": "..."},
                        "binaryData": {"blob": "AA=="}}, ["nginxconfigmap", 2, "13s"]),
    ("configmaps", "", {"metadata": meta("empty")}, ["empty", 0, "13s"]),
    ("serviceaccounts", "", {"metadata": meta("default")}, ["default", 0, "13s"]),
    ("serviceaccounts", "", {"metadata": meta("bot"), "secrets": [{"name": "t"}]},
     ["bot", 1, "13s"]),
    ("leases", "coordination.k8s.io",
     {"metadata": meta("emunet-worker"), "spec": {"holderIdentity": "emunet-worker"}},
     ["emunet-worker", "emunet-worker", "13s"]),
    ("leases", "coordination.k8s.io", {"metadata": meta("free"), "spec": {}},
     ["free", "", "13s"]),
    ("widgets", "example.com", {"metadata": meta("w")}, ["w", "13s"]),
])
def test_small_kind_cells(plural, group, obj, expected):
    assert tables.row(plural, group, obj, NOW)["cells"] == expected


# --- events -----------------------------------------------------------------

_CORE_EVENT = {
    "kind": "Event", "apiVersion": "v1",
    "metadata": meta("my-nginx-abc.17a1"),
    "involvedObject": {"kind": "Pod", "name": "my-nginx-abc", "namespace": "default",
                       "fieldPath": "spec.containers{my-nginx}"},
    "reason": "Pulled", "message": "Container image \"nginx\" already present \n",
    "type": "Normal", "source": {"component": "kubelet", "host": "emunet-worker"},
    "firstTimestamp": ago(minutes=5), "lastTimestamp": ago(seconds=30), "count": 3,
}
_NEW_EVENT = {
    "kind": "Event", "apiVersion": "events.k8s.io/v1",
    "metadata": meta("my-nginx.17a2"),
    "regarding": {"kind": "Deployment", "name": "my-nginx"},
    "reason": "ScalingReplicaSet", "note": "Scaled up replica set my-nginx-dbdcmgalba to 2",
    "type": "Normal", "eventTime": "2026-11-27T13:59:50.000000Z",
    "reportingController": "deployment-controller", "reportingInstance": "",
}


@pytest.mark.parametrize("group, obj, expected", [
    ("", _CORE_EVENT,
     ["30s", "Normal", "Pulled", "pod/my-nginx-abc", "spec.containers{my-nginx}",
      "kubelet, emunet-worker", "Container image \"nginx\" already present", "5m", 3,
      "my-nginx-abc.17a1"]),
    ("events.k8s.io", _NEW_EVENT,
     ["10s", "Normal", "ScalingReplicaSet", "deployment/my-nginx", "", "deployment-controller",
      "Scaled up replica set my-nginx-dbdcmgalba to 2", "10s", 1, "my-nginx.17a2"]),
    ("", {**_NEW_EVENT, "series": {"count": 7, "lastObservedTime": ago(seconds=2)}},
     ["2s", "Normal", "ScalingReplicaSet", "deployment/my-nginx", "", "deployment-controller",
      "Scaled up replica set my-nginx-dbdcmgalba to 2", "10s", 7, "my-nginx.17a2"]),
    ("", {"metadata": meta("bare"), "involvedObject": {"kind": "Node"}},
     ["<unknown>", "", "", "node", "", "", "", "<unknown>", 1, "bare"]),
])
def test_event_cells(group, obj, expected):
    assert tables.row("events", group, obj, NOW)["cells"] == expected


# --- columns ----------------------------------------------------------------

@pytest.mark.parametrize("plural, group, normal, wide", [
    ("pods", "", ["Name", "Ready", "Status", "Restarts", "Age"],
     ["IP", "Node", "Nominated Node", "Readiness Gates"]),
    ("services", "", ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"],
     ["Selector"]),
    ("endpoints", "", ["Name", "Endpoints", "Age"], []),
    ("endpointslices", "discovery.k8s.io", ["Name", "AddressType", "Ports", "Endpoints", "Age"],
     []),
    ("deployments", "apps", ["Name", "Ready", "Up-to-date", "Available", "Age"],
     ["Containers", "Images", "Selector"]),
    ("replicasets", "apps", ["Name", "Desired", "Current", "Ready", "Age"],
     ["Containers", "Images", "Selector"]),
    ("nodes", "", ["Name", "Status", "Roles", "Age", "Version"],
     ["Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"]),
    ("namespaces", "", ["Name", "Status", "Age"], []),
    ("secrets", "", ["Name", "Type", "Data", "Age"], []),
    ("configmaps", "", ["Name", "Data", "Age"], []),
    ("serviceaccounts", "", ["Name", "Secrets", "Age"], []),
    ("events", "", ["Last Seen", "Type", "Reason", "Object", "Message"],
     ["Subobject", "Source", "First Seen", "Count", "Name"]),
    ("events", "events.k8s.io", ["Last Seen", "Type", "Reason", "Object", "Message"],
     ["Subobject", "Source", "First Seen", "Count", "Name"]),
    ("leases", "coordination.k8s.io", ["Name", "Holder", "Age"], []),
    ("widgets", "example.com", ["Name", "Age"], []),
])
def test_columns_split_by_priority_as_for_wide_output(plural, group, normal, wide):
    columns = tables.column_definitions(plural, group)
    assert [c["name"] for c in columns if c["priority"] == 0] == normal
    assert [c["name"] for c in columns if c["priority"] == 1] == wide


def test_every_column_definition_has_the_metav1_fields():
    for (group, plural) in tables.PRINTERS:
        for column in tables.column_definitions(plural, group):
            assert set(column) == {"name", "type", "format", "description", "priority"}
            assert column["type"] in ("string", "integer")
            assert column["format"] == ("name" if column["name"] == "Name" else "")


@pytest.mark.parametrize("plural, group, name, type_", [
    ("pods", "", "Restarts", "string"),
    ("replicasets", "apps", "Desired", "integer"),
    ("deployments", "apps", "Up-to-date", "string"),
])
def test_column_types_follow_upstream(plural, group, name, type_):
    by_name = {c["name"]: c for c in tables.column_definitions(plural, group)}
    assert by_name[name]["type"] == type_


@pytest.mark.parametrize("plural, group, obj", [
    ("pods", "", pod()),
    ("services", "", service({"type": "ClusterIP", "clusterIPs": ["127.96.0.1"]})),
    ("endpoints", "", endpoints([])),
    ("endpointslices", "discovery.k8s.io", slice_([], [])),
    ("nodes", "", node(_READY)),
    ("events", "", _CORE_EVENT),
    ("events", "events.k8s.io", _NEW_EVENT),
])
def test_each_row_has_one_cell_per_column(plural, group, obj):
    cells = tables.row(plural, group, obj, NOW)["cells"]
    assert len(cells) == len(tables.column_definitions(plural, group))


# --- the envelope -----------------------------------------------------------

@pytest.mark.parametrize("include_object, expected", [
    ("Metadata", {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                  "metadata": pod()["metadata"]}),
    ("Object", pod()),
])
def test_row_object_follows_include_object(include_object, expected):
    assert tables.row("pods", "", pod(), NOW, include_object)["object"] == expected


def test_row_without_object_when_include_object_is_none():
    assert "object" not in tables.row("pods", "", pod(), NOW, "None")


def test_unknown_include_object_is_a_bad_request():
    with pytest.raises(errors.BadRequest):
        tables.row("pods", "", pod(), NOW, "Everything")


def test_table_envelope():
    t = tables.table("pods", "", [pod()], NOW, "114")
    assert t["kind"] == "Table"
    assert t["apiVersion"] == "meta.k8s.io/v1"
    assert t["metadata"] == {"resourceVersion": "114"}
    assert t["columnDefinitions"] == tables.column_definitions("pods", "")
    assert [r["cells"][0] for r in t["rows"]] == ["my-nginx-dbdcmgalba-clxq6"]
    assert t["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


@pytest.mark.parametrize("objects, with_columns, rows, columns", [
    ([], True, 0, 9),
    ([pod(), pod()], True, 2, 9),
    ([pod()], False, 1, 0),
])
def test_table_rows_and_columns(objects, with_columns, rows, columns):
    t = tables.table("pods", "", objects, NOW, "1", with_columns=with_columns)
    assert len(t["rows"]) == rows
    assert len(t["columnDefinitions"]) == columns


def _job(spec: dict, status: dict, meta: dict | None = None) -> dict:
    return {"metadata": {"name": "pi", "creationTimestamp": "2026-11-27T13:59:00Z",
                         **(meta or {})},
            "spec": {"template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}},
                     "selector": {"matchLabels": {"job-name": "pi"}}, **spec},
            "status": status}


@pytest.mark.parametrize("job, expected", [
    (_job({"completions": 1}, {}), ["pi", "Running", "0/1", "", "60s"]),
    (_job({"completions": 3}, {"startTime": "2026-11-27T13:59:30Z", "succeeded": 1}),
     ["pi", "Running", "1/3", "30s", "60s"]),
    (_job({"parallelism": 2}, {}), ["pi", "Running", "0/1 of 2", "", "60s"]),
    (_job({"completions": 1}, {"startTime": "2026-11-27T13:59:00Z",
                               "completionTime": "2026-11-27T13:59:07Z", "succeeded": 1,
                               "conditions": [{"type": "SuccessCriteriaMet", "status": "True"},
                                              {"type": "Complete", "status": "True"}]}),
     ["pi", "Complete", "1/1", "7s", "60s"]),
    (_job({"completions": 1}, {"conditions": [{"type": "FailureTarget", "status": "True"}]}),
     ["pi", "FailureTarget", "0/1", "", "60s"]),
    (_job({"completions": 1}, {"conditions": [{"type": "Failed", "status": "True"}]}),
     ["pi", "Failed", "0/1", "", "60s"]),
    (_job({"completions": 1}, {}, {"deletionTimestamp": "2026-11-27T14:00:00Z"}),
     ["pi", "Terminating", "0/1", "", "60s"]),
])
def test_job_cells(job, expected):
    cells = tables.row("jobs", "batch", job, NOW)["cells"]
    assert cells[:5] == expected and cells[5:] == ["pi", "perl", "job-name=pi"]


def test_daemonset_cells():
    ds = {"metadata": {"name": "agent", "creationTimestamp": "2026-11-27T13:59:00Z"},
          "spec": {"selector": {"matchLabels": {"app": "agent"}},
                   "template": {"spec": {"nodeSelector": {"disk": "ssd"},
                                         "containers": [{"name": "a", "image": "agnhost"}]}}},
          "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2,
                     "numberReady": 1, "updatedNumberScheduled": 2, "numberAvailable": 1}}
    assert tables.row("daemonsets", "apps", ds, NOW)["cells"] == [
        "agent", 2, 2, 1, 2, 1, "disk=ssd", "60s", "a", "agnhost", "app=agent"]


def test_statefulset_cells():
    sts = {"metadata": {"name": "web", "creationTimestamp": "2026-11-27T13:59:00Z"},
           "spec": {"replicas": 2, "template": {"spec": {"containers": [
               {"name": "nginx", "image": "registry.k8s.io/nginx-slim:0.21"}]}}},
           "status": {"readyReplicas": 1}}
    assert tables.row("statefulsets", "apps", sts, NOW)["cells"] == [
        "web", "1/2", "60s", "nginx", "registry.k8s.io/nginx-slim:0.21"]
