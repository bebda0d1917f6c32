"""/etc/hosts and /etc/resolv.conf as the kubelet writes them, as tables."""
from __future__ import annotations

import pytest

from emunet.kubelet import podfiles

HOST = podfiles.parse_resolv_conf("nameserver 10.255.255.53\nsearch corp.example\noptions edns0\n")


def pod(ns="default", **spec):
    return {"metadata": {"name": "web-1", "namespace": ns}, "spec": spec}


@pytest.mark.parametrize("p,expected", [
    (pod(), "search default.svc.cluster.local svc.cluster.local cluster.local corp.example\n"
            "nameserver 127.96.0.10\noptions ndots:5\n"),
    (pod("team", dnsPolicy="ClusterFirst"),
     "search team.svc.cluster.local svc.cluster.local cluster.local corp.example\n"
     "nameserver 127.96.0.10\noptions ndots:5\n"),
    (pod(dnsPolicy="Default"), "search corp.example\nnameserver 10.255.255.53\noptions edns0\n"),
    (pod(dnsPolicy="None", dnsConfig={"nameservers": ["1.1.1.1"], "searches": ["a.b"],
                                      "options": [{"name": "ndots", "value": "2"}]}),
     "search a.b\nnameserver 1.1.1.1\noptions ndots:2\n"),
    (pod(dnsConfig={"nameservers": ["1.1.1.1"], "options": [{"name": "ndots", "value": "1"},
                                                          {"name": "edns0"}]}),
     "search default.svc.cluster.local svc.cluster.local cluster.local corp.example\n"
     "nameserver 127.96.0.10\nnameserver 1.1.1.1\noptions ndots:1 edns0\n"),
])
def test_resolv_conf(p, expected):
    assert podfiles.resolv_conf(p, HOST, "127.96.0.10", "cluster.local") == expected


def test_hosts_file_maps_the_pod_ip_to_its_name():
    text = podfiles.hosts_file(pod(), "127.244.1.5", "cluster.local")
    assert text.startswith("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n")
    assert text.endswith("127.244.1.5\tweb-1\n")


def test_hosts_file_with_subdomain_and_aliases():
    p = pod(hostname="h", subdomain="sub", hostAliases=[{"ip": "1.2.3.4", "hostnames": ["a", "b"]}])
    text = podfiles.hosts_file(p, "127.244.1.5", "cluster.local")
    assert "127.244.1.5\th.sub.default.svc.cluster.local\th\n" in text
    assert text.endswith("# Entries added by HostAliases.\n1.2.3.4\ta\tb\n")
    assert podfiles.hostname(p) == "h"
