"""Which listeners the proxier wants for which Services (pure `desired`)."""
from __future__ import annotations

from emunet.config import ClusterConfig
from emunet.proxy import proxier

CFG = ClusterConfig(nodes=2)
N1, N2 = CFG.node_names()


def svc(typ="ClusterIP", **spec):
    s = {"metadata": {"name": "web", "namespace": "default"},
         "spec": {"type": typ, "clusterIP": "127.96.0.20",
                  "ports": [{"name": "http", "port": 80, "nodePort": 30080, "protocol": "TCP"}],
                  **spec}, "status": {}}
    return s


def slice_(*eps):
    return {"metadata": {"name": "web-x", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "nodeName": node,
                           "conditions": {"ready": ready}} for ip, node, ready in eps]}


def keys(d):
    return sorted((ls.ip, ls.port, ls.kind) for ls in d.listeners.values())


def test_cluster_ip_only_with_a_ready_endpoint():
    assert keys(proxier.desired([svc()], [slice_(("127.244.1.2", N1, False))], CFG)) == []
    assert keys(proxier.desired([svc()], [slice_(("127.244.1.2", N1, True))], CFG)) == [
        ("127.96.0.20", 80, "cluster")]


def test_node_port_on_every_node_address():
    d = proxier.desired([svc("NodePort")], [slice_(("127.244.1.2", N1, True))], CFG)
    ips = {CFG.node_internal_ip(i) for i in range(2)} | {CFG.node_external_ip(i) for i in range(2)}
    assert {(ip, 30080, "node") for ip in ips} <= set(keys(d))


def test_external_traffic_policy_local_listens_only_where_endpoints_are():
    d = proxier.desired([svc("NodePort", externalTrafficPolicy="Local")],
                        [slice_(("127.244.2.2", N2, True))], CFG)
    node_ips = {ls.ip for ls in d.listeners.values() if ls.kind == "node"}
    assert node_ips == {CFG.node_internal_ip(1), CFG.node_external_ip(1)}


def test_load_balancer_ingress_and_external_ips_with_tls():
    s = svc("LoadBalancer", externalIPs=["127.201.0.9"])
    s["metadata"]["annotations"] = {"emunet.io/tls-secret": "cert", "emunet.io/tls-ports": "80"}
    s["status"] = {"loadBalancer": {"ingress": [{"ip": "127.200.0.1"}]}}
    d = proxier.desired([s], [slice_(("127.244.1.2", N1, True))], CFG)
    ext = {ls.ip: ls.tls_secret for ls in d.listeners.values() if ls.kind == "external"}
    assert ext == {"127.200.0.1": "default/cert", "127.201.0.9": ""}
    assert d.listeners[("127.96.0.20", 80, "TCP")].tls_secret == ""


def test_headless_and_external_name_have_no_listener():
    assert keys(proxier.desired([svc(clusterIP="None")],
                                [slice_(("127.244.1.2", N1, True))], CFG)) == []
    assert keys(proxier.desired([svc("ExternalName", externalName="example.com")], [], CFG)) == []


def test_terminating_serving_endpoints_used_when_none_ready():
    eps = [proxier.EndpointInfo("127.244.1.2", 80, N1, False, True, True),
           proxier.EndpointInfo("127.244.1.3", 80, N1, False, False, True)]
    assert proxier.usable(eps) == [("127.244.1.2", 80)]


def test_node_locator_by_pod_cidr_and_node_ip():
    loc = proxier.NodeLocator(CFG)
    assert loc.node_of(CFG.node_pod_cidr(1).split("/")[0][:-1] + "7") == N2
    assert loc.node_of(CFG.node_internal_ip(0)) == N1
    assert loc.node_of("127.0.0.1") is None
