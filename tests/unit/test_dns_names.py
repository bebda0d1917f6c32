"""The query-name grammar of cluster DNS, as a table."""
from __future__ import annotations

import pytest

from emunet.dns import names
from emunet.dns.names import APEX, DNS_VERSION, INVALID, NS, OUTSIDE, POD, REVERSE, SERVICE, Name

Z = "cluster.local"


@pytest.mark.parametrize("qname,expected", [
    ("cluster.local.", Name(APEX)),
    ("svc.cluster.local", Name(APEX)),
    ("pod.cluster.local", Name(APEX)),
    ("dns-version.cluster.local", Name(DNS_VERSION)),
    ("ns.dns.cluster.local", Name(NS)),
    ("default.svc.cluster.local", Name(SERVICE, "default")),
    ("my-nginx.default.svc.cluster.local.", Name(SERVICE, "default", "my-nginx")),
    ("My-Nginx.DEFAULT.svc.cluster.local", Name(SERVICE, "default", "my-nginx")),
    ("web-0.web.default.svc.cluster.local", Name(SERVICE, "default", "web", endpoint="web-0")),
    ("_http._tcp.my-nginx.default.svc.cluster.local",
     Name(SERVICE, "default", "my-nginx", port="http", protocol="tcp")),
    ("a.b.c.my-nginx.default.svc.cluster.local", Name(INVALID)),
    ("my-nginx.default.cluster.local", Name(INVALID)),
    ("default.pod.cluster.local", Name(POD, "default")),
    ("10-244-1-5.default.pod.cluster.local",
     Name(POD, "default", "10-244-1-5", ip="10.244.1.5")),
    ("10-244-1.default.pod.cluster.local", Name(POD, "default", "10-244-1")),
    ("x.10-244-1-5.default.pod.cluster.local", Name(INVALID)),
    ("my-nginx.default.svc.cluster.local.default.svc.cluster.local",
     Name(INVALID)),
    ("my-nginx.default.svc.cluster.local.cluster.local", Name(INVALID)),
    ("example.com", Name(OUTSIDE)),
    ("local", Name(OUTSIDE)),
    ("notcluster.local", Name(OUTSIDE)),
    ("5.1.244.10.in-addr.arpa", Name(REVERSE, ip="10.244.1.5")),
    ("1.244.10.in-addr.arpa", Name(OUTSIDE)),
    ("300.1.244.10.in-addr.arpa", Name(OUTSIDE)),
])
def test_parse(qname: str, expected: Name) -> None:
    assert names.parse(qname, Z) == expected


def test_helpers() -> None:
    assert names.dashed("10.244.1.5") == "10-244-1-5"
    assert names.reverse_name("10.96.0.10") == "10.0.96.10.in-addr.arpa."
