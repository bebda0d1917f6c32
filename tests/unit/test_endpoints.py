"""Endpoints and EndpointSlice contents as pure functions of a Service and its pods."""
from __future__ import annotations

import pytest

from emunet.controllers import endpoints as ep
from emunet.controllers import endpointslice as es
from emunet.proxy import proxier


def svc(ports=None, selector=None, **spec):
    return {"metadata": {"name": "my-nginx", "namespace": "default", "uid": "s-1",
                         "labels": {"run": "my-nginx"}},
            "spec": {"selector": selector if selector is not None else {"run": "my-nginx"},
                     "ports": ports if ports is not None else
                     [{"port": 80, "targetPort": 80, "protocol": "TCP"}],
                     "clusterIP": "127.96.0.20", **spec}}


def pod(name, ip, ready=True, node="emunet-worker", labels=None, phase="Running",
        deleting=False, container_ports=None, ns="default"):
    p = {"metadata": {"name": name, "namespace": ns, "uid": "u-" + name,
                      "labels": labels if labels is not None else {"run": "my-nginx"}},
         "spec": {"nodeName": node, "containers": [{"name": "c",
                                                    "ports": container_ports or []}]},
         "status": {"phase": phase, "podIP": ip,
                    "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}
    if deleting:
        p["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return p


def ref(name):
    return {"kind": "Pod", "namespace": "default", "name": name, "uid": "u-" + name}


def test_ready_and_not_ready_addresses_sorted():
    subsets = ep.desired_subsets(svc(), [
        pod("b", "127.244.1.10"), pod("a", "127.244.1.9"), pod("c", "127.244.2.3", ready=False,
                                                             node="emunet-worker2")])
    assert subsets == [{
        "addresses": [{"ip": "127.244.1.9", "nodeName": "emunet-worker", "targetRef": ref("a")},
                      {"ip": "127.244.1.10", "nodeName": "emunet-worker", "targetRef": ref("b")}],
        "notReadyAddresses": [{"ip": "127.244.2.3", "nodeName": "emunet-worker2",
                               "targetRef": ref("c")}],
        "ports": [{"port": 80, "protocol": "TCP"}],  # an empty name is left out
    }]


def test_pods_left_out():
    pods = [pod("other", "127.244.1.2", labels={"run": "x"}),
            pod("noip", ""), pod("done", "127.244.1.3", phase="Succeeded"),
            pod("gone", "127.244.1.4", deleting=True),
            pod("elsewhere", "127.244.1.5", ns="kube-system")]
    assert ep.desired_subsets(svc(), pods) == []


def test_publish_not_ready_addresses_puts_all_in_addresses():
    subsets = ep.desired_subsets(svc(publishNotReadyAddresses=True),
                                 [pod("a", "127.244.1.2", ready=False)])
    assert [a["ip"] for a in subsets[0]["addresses"]] == ["127.244.1.2"]
    assert "notReadyAddresses" not in subsets[0]


def test_named_target_port_resolved_per_pod_and_repacked():
    s = svc(ports=[{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}])
    pods = [pod("a", "127.244.1.2", container_ports=[{"name": "web", "containerPort": 8080}]),
            pod("b", "127.244.1.3", container_ports=[{"name": "web", "containerPort": 9090}]),
            pod("c", "127.244.1.4", container_ports=[{"name": "web", "containerPort": 8080}]),
            pod("d", "127.244.1.5", container_ports=[{"name": "other", "containerPort": 1}])]
    subsets = ep.desired_subsets(s, pods)
    assert [([a["ip"] for a in x["addresses"]], x["ports"]) for x in subsets] == [
        (["127.244.1.2", "127.244.1.4"], [{"name": "http", "port": 8080, "protocol": "TCP"}]),
        (["127.244.1.3"], [{"name": "http", "port": 9090, "protocol": "TCP"}]),
    ]


def test_hostname_when_subdomain_matches():
    p = pod("a", "127.244.1.2")
    p["spec"].update(hostname="web-0", subdomain="my-nginx")
    assert ep.desired_subsets(svc(), [p])[0]["addresses"][0]["hostname"] == "web-0"


def test_selectorless_service_selects_nothing():
    assert ep.desired_subsets(svc(selector={}), [pod("a", "127.244.1.2")]) == []


def test_slice_ports_always_named_and_conditions():
    s = svc(ports=[{"port": 80, "targetPort": 80, "protocol": "TCP"}])
    groups = es.desired_groups(s, [pod("a", "127.244.1.2"),
                                   pod("b", "127.244.1.3", ready=False),
                                   pod("c", "127.244.1.4", deleting=True)])
    assert len(groups) == 1
    ports, eps = groups[0]
    assert ports == [{"name": "", "port": 80, "protocol": "TCP"}]
    assert [(e["addresses"][0], e["conditions"]) for e in eps] == [
        ("127.244.1.2", {"ready": True, "serving": True, "terminating": False}),
        ("127.244.1.3", {"ready": False, "serving": False, "terminating": False}),
        ("127.244.1.4", {"ready": False, "serving": True, "terminating": True}),
    ]
    assert eps[0]["targetRef"] == ref("a") and eps[0]["nodeName"] == "emunet-worker"


def test_mirror_of_kubernetes_endpoints():
    groups = es.mirror_groups({"subsets": [{
        "addresses": [{"ip": "127.0.0.1"}],
        "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]})
    assert groups == [([{"name": "https", "port": 6443, "protocol": "TCP"}],
                       [{"addresses": ["127.0.0.1"],
                         "conditions": {"ready": True, "serving": True, "terminating": False}}])]


def test_slice_labels():
    labels = es.slice_labels(svc(clusterIP="None"), es.CONTROLLER_NAME)
    assert labels == {"run": "my-nginx", "service.kubernetes.io/headless": "",
                      "kubernetes.io/service-name": "my-nginx",
                      "endpointslice.kubernetes.io/managed-by":
                          "endpointslice-controller.k8s.io"}


def test_proxy_reads_slices_back():
    s = svc(ports=[{"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"}])
    ports, eps = es.desired_groups(s, [pod("a", "127.244.1.2"),
                                       pod("b", "127.244.1.3", ready=False)])[0]
    sl = {"metadata": {"name": "my-nginx-abcde", "namespace": "default",
                       "labels": {"kubernetes.io/service-name": "my-nginx"}},
          "addressType": "IPv4", "ports": ports, "endpoints": eps}
    infos = proxier.slice_endpoints([sl], "http", "TCP")
    assert [(i.ip, i.ready) for i in infos] == [("127.244.1.2", True), ("127.244.1.3", False)]
    assert proxier.usable(infos) == [("127.244.1.2", 80)]


def _pod_state(ready: bool, terminating: bool = False, ip: str = "127.244.1.5") -> dict:
    meta = {"name": "p", "namespace": "default"}
    if terminating:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return {"metadata": meta, "status": {"podIP": ip, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}}


@pytest.mark.parametrize("etype,new,old,urgent", [
    ("MODIFIED", _pod_state(True, terminating=True), _pod_state(True), True),
    ("MODIFIED", _pod_state(False), _pod_state(True), True),
    ("DELETED", _pod_state(True), _pod_state(True), True),
    ("MODIFIED", _pod_state(True), _pod_state(False), False),  # an addition: queued
    ("ADDED", _pod_state(True), None, False),
    ("MODIFIED", _pod_state(False, terminating=True), _pod_state(False, terminating=True), False),
])
def test_losing_a_ready_endpoint_is_urgent(etype, new, old, urgent):
    assert es.losing_endpoint(etype, new, old) is urgent
