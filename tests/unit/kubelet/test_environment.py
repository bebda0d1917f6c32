"""The container environment as the kubelet builds it, as tables."""
from __future__ import annotations

import base64

import pytest

from emunet.kubelet import environment as env


def svc(name, ns="default", ip="10.0.0.5", ports=None, **spec):
    return {"metadata": {"name": name, "namespace": ns},
            "spec": {"clusterIP": ip, "ports": ports or [], **spec}}


KUBE = svc("kubernetes", ip="10.0.0.1", ports=[{"name": "https", "port": 443, "protocol": "TCP"}])
NGINX = svc("my-nginx", ip="10.0.162.149", ports=[{"port": 80, "protocol": "TCP"}])


def test_service_env_matches_docker_links():
    assert env.service_env(NGINX) == {
        "MY_NGINX_SERVICE_HOST": "10.0.162.149",
        "MY_NGINX_SERVICE_PORT": "80",
        "MY_NGINX_PORT": "tcp://10.0.162.149:80",
        "MY_NGINX_PORT_80_TCP": "tcp://10.0.162.149:80",
        "MY_NGINX_PORT_80_TCP_PROTO": "tcp",
        "MY_NGINX_PORT_80_TCP_PORT": "80",
        "MY_NGINX_PORT_80_TCP_ADDR": "10.0.162.149",
    }


def test_named_ports_and_udp():
    s = svc("dns", ip="10.0.0.10", ports=[{"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                                           {"name": "dns", "port": 53, "protocol": "UDP"}])
    e = env.service_env(s)
    assert e["DNS_SERVICE_PORT"] == "53"
    assert e["DNS_SERVICE_PORT_DNS_TCP"] == "53"
    assert e["DNS_PORT"] == "tcp://10.0.0.10:53"
    assert e["DNS_PORT_53_UDP"] == "udp://10.0.0.10:53"
    assert e["DNS_PORT_53_UDP_PROTO"] == "udp"


@pytest.mark.parametrize("ns,enable,expected,absent", [
    ("default", True, ["KUBERNETES_SERVICE_HOST", "MY_NGINX_SERVICE_HOST"], ["OTHER_SERVICE_HOST"]),
    ("default", False, ["KUBERNETES_SERVICE_HOST", "KUBERNETES_PORT_443_TCP"], ["MY_NGINX_SERVICE_HOST"]),
    ("team", True, ["KUBERNETES_SERVICE_HOST", "OTHER_SERVICE_HOST"], ["MY_NGINX_SERVICE_HOST"]),
])
def test_which_services_are_visible(ns, enable, expected, absent):
    services = [KUBE, NGINX, svc("other", ns="team", ports=[{"port": 1}]),
                svc("headless", ip="None", ports=[{"port": 2}]),
                svc("ext", ip="", ports=[{"port": 3}], type="ExternalName")]
    out = env.service_links(ns, services, enable)
    for k in expected:
        assert k in out
    for k in absent:
        assert k not in out
    assert not any(k.startswith(("HEADLESS_", "EXT_")) for k in out)
    assert out["KUBERNETES_SERVICE_PORT"] == "443"
    assert out["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"


@pytest.mark.parametrize("text,expected", [
    ("$(A)-x", "1-x"), ("$$(A)", "$(A)"), ("$(MISSING)", "$(MISSING)"),
    ("a$(A)$(B)", "a12"), ("$(A", "$(A"), ("$", "$"), ("$$", "$"),
])
def test_expansion(text, expected):
    assert env.expand(text, {"A": "1", "B": "2"}) == expected


POD = {"metadata": {"name": "p1", "namespace": "default", "uid": "u-1",
                    "labels": {"app": "web"}, "annotations": {"note": "n"}},
       "spec": {"nodeName": "node-a", "serviceAccountName": "default",
                "containers": [{"name": "c"}]}}


def test_full_environment_layers_and_value_from():
    secret = {"metadata": {"name": "s", "namespace": "default"},
              "data": {"password": base64.b64encode(b"hunter2").decode()}}
    cm = {"metadata": {"name": "cm", "namespace": "default"}, "data": {"K1": "v1", "bad key": "x"}}
    container = {"name": "c", "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
                 "env": [{"name": "A", "value": "a"},
                         {"name": "B", "value": "$(A)-$(MY_NGINX_SERVICE_HOST)"},
                         {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                         {"name": "APP", "valueFrom": {"fieldRef": {
                             "fieldPath": "metadata.labels['app']"}}},
                         {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                         {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s",
                                                                       "key": "password"}}},
                         {"name": "OPT", "valueFrom": {"secretKeyRef": {
                             "name": "nope", "key": "k", "optional": True}}},
                         {"name": "CPU", "valueFrom": {"resourceFieldRef": {
                             "resource": "limits.cpu"}}}]}
    ctx = env.EnvContext(pod_ip="127.244.1.2", host_ip="127.10.0.2", services=[KUBE, NGINX],
                         secrets={("default", "s"): secret}, configmaps={("default", "cm"): cm},
                         node_cpu="2", extra={"EMUNET_POD_IP": "127.244.1.2"})
    out = env.container_env(POD, container, ctx)
    assert out["HOSTNAME"] == "p1"
    assert out["B"] == "a-10.0.162.149"
    assert out["POD"] == "p1" and out["APP"] == "web" and out["IP"] == "127.244.1.2"
    assert out["PW"] == "hunter2" and "OPT" not in out
    assert out["CM_K1"] == "v1" and "CM_bad key" not in out
    assert out["CPU"] == "2"
    assert out["KUBERNETES_SERVICE_HOST"] == "10.0.0.1"
    assert out["EMUNET_POD_IP"] == "127.244.1.2"


@pytest.mark.parametrize("src,message", [
    ({"secretKeyRef": {"name": "nope", "key": "k"}}, 'secret "nope" not found'),
    ({"configMapKeyRef": {"name": "cm", "key": "zz"}}, "couldn't find key zz in ConfigMap default/cm"),
])
def test_missing_references_are_config_errors(src, message):
    ctx = env.EnvContext(configmaps={("default", "cm"): {"metadata": {"name": "cm"}, "data": {}}})
    with pytest.raises(env.EnvError, match=message):
        env.container_env(POD, {"name": "c", "env": [{"name": "X", "valueFrom": src}]}, ctx)
