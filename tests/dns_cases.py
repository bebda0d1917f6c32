"""The cluster-DNS record table, shared by the resolver tests and the socket tests.

Each case is (query name, type, rcode, zone-file text of the answer section,
zone-file text of the additional section). NODATA and NXDOMAIN answers also
carry the SOA in the authority section, checked separately. The objects are
what the API would hold for the tutorial's my-nginx plus a headless Service,
an ExternalName Service and a second namespace.
"""
from __future__ import annotations

import ipaddress

from dnslib import RCODE, RR

from emunet.dns import index, records

SERIAL = 1234

NAMESPACES = ["default", "kube-system", "other"]
SERVICES = [
    {"metadata": {"name": "kubernetes", "namespace": "default"},
     "spec": {"clusterIP": "127.96.0.1", "clusterIPs": ["127.96.0.1"], "type": "ClusterIP",
              "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}},
    {"metadata": {"name": "kube-dns", "namespace": "kube-system"},
     "spec": {"clusterIP": "127.96.0.10", "type": "ClusterIP",
              "ports": [{"name": "dns", "port": 53, "protocol": "UDP"},
                        {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]}},
    {"metadata": {"name": "my-nginx", "namespace": "default"},
     "spec": {"clusterIP": "127.96.12.7", "type": "NodePort",
              "ports": [{"name": "http", "port": 80, "protocol": "TCP"},
                        {"name": "https", "port": 443, "protocol": "TCP"}]}},
    {"metadata": {"name": "unnamed", "namespace": "default"},
     "spec": {"clusterIP": "127.96.12.8", "ports": [{"port": 8080, "protocol": "TCP"}]}},
    {"metadata": {"name": "web", "namespace": "default"},
     "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}},
    {"metadata": {"name": "empty", "namespace": "default"},
     "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}},
    {"metadata": {"name": "ext", "namespace": "default"},
     "spec": {"type": "ExternalName", "externalName": "example.com"}},
    {"metadata": {"name": "alias", "namespace": "other"},
     "spec": {"type": "ExternalName", "externalName": "my-nginx.default.svc.cluster.local"}},
]
SLICES = [
    {"metadata": {"name": "web-abc", "namespace": "default",
                  "labels": {"kubernetes.io/service-name": "web"}},
     "addressType": "IPv4",
     "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
     "endpoints": [
         {"addresses": ["127.244.1.5"], "hostname": "web-0", "conditions": {"ready": True}},
         {"addresses": ["127.244.2.6"], "conditions": {"ready": True}},
         {"addresses": ["127.244.2.9"], "conditions": {"ready": False}},
     ]},
    {"metadata": {"name": "my-nginx-xyz", "namespace": "default",
                  "labels": {"kubernetes.io/service-name": "my-nginx"}},
     "addressType": "IPv4",
     "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
     "endpoints": [{"addresses": ["127.244.1.3"], "conditions": {"ready": True}}]},
]

SETTINGS = records.Settings(
    zone="cluster.local", ttl=5, dns_ip="127.96.0.10",
    reverse_nets=(ipaddress.IPv4Network("127.96.0.0/16"), ipaddress.IPv4Network("127.244.0.0/16")))

OK, NX = RCODE.NOERROR, RCODE.NXDOMAIN
Z = "cluster.local."
CASES: list[tuple[str, str, int, str, str]] = [
    # ClusterIP Services
    ("my-nginx.default.svc.cluster.local", "A", OK,
     f"my-nginx.default.svc.{Z} 5 IN A 127.96.12.7", ""),
    ("MY-NGINX.Default.svc.Cluster.Local", "A", OK,
     "MY-NGINX.Default.svc.Cluster.Local. 5 IN A 127.96.12.7", ""),
    ("kubernetes.default.svc.cluster.local", "A", OK,
     f"kubernetes.default.svc.{Z} 5 IN A 127.96.0.1", ""),
    ("kube-dns.kube-system.svc.cluster.local", "A", OK,
     f"kube-dns.kube-system.svc.{Z} 5 IN A 127.96.0.10", ""),
    ("my-nginx.default.svc.cluster.local", "AAAA", OK, "", ""),
    ("my-nginx.default.svc.cluster.local", "TXT", OK, "", ""),
    ("my-nginx.default.svc.cluster.local", "MX", OK, "", ""),
    # SRV: a named port, every port, an unknown port, an unnamed port
    ("_http._tcp.my-nginx.default.svc.cluster.local", "SRV", OK,
     f"_http._tcp.my-nginx.default.svc.{Z} 5 IN SRV 0 100 80 my-nginx.default.svc.{Z}",
     f"my-nginx.default.svc.{Z} 5 IN A 127.96.12.7"),
    ("my-nginx.default.svc.cluster.local", "SRV", OK,
     (f"my-nginx.default.svc.{Z} 5 IN SRV 0 50 80 my-nginx.default.svc.{Z}\n"
      f"my-nginx.default.svc.{Z} 5 IN SRV 0 50 443 my-nginx.default.svc.{Z}"),
     f"my-nginx.default.svc.{Z} 5 IN A 127.96.12.7"),
    ("_http._udp.my-nginx.default.svc.cluster.local", "SRV", NX, "", ""),
    ("_ftp._tcp.my-nginx.default.svc.cluster.local", "SRV", NX, "", ""),
    ("unnamed.default.svc.cluster.local", "A", OK,
     f"unnamed.default.svc.{Z} 5 IN A 127.96.12.8", ""),
    # Headless: ready endpoints only; endpoint names; SRV per endpoint
    ("web.default.svc.cluster.local", "A", OK,
     f"web.default.svc.{Z} 5 IN A 127.244.1.5\nweb.default.svc.{Z} 5 IN A 127.244.2.6", ""),
    ("web-0.web.default.svc.cluster.local", "A", OK,
     f"web-0.web.default.svc.{Z} 5 IN A 127.244.1.5", ""),
    ("127-244-2-6.web.default.svc.cluster.local", "A", OK,
     f"127-244-2-6.web.default.svc.{Z} 5 IN A 127.244.2.6", ""),
    ("127-244-2-9.web.default.svc.cluster.local", "A", NX, "", ""),
    ("_http._tcp.web.default.svc.cluster.local", "SRV", OK,
     (f"_http._tcp.web.default.svc.{Z} 5 IN SRV 0 50 8080 web-0.web.default.svc.{Z}\n"
      f"_http._tcp.web.default.svc.{Z} 5 IN SRV 0 50 8080 127-244-2-6.web.default.svc.{Z}"),
     (f"web-0.web.default.svc.{Z} 5 IN A 127.244.1.5\n"
      f"127-244-2-6.web.default.svc.{Z} 5 IN A 127.244.2.6")),
    ("empty.default.svc.cluster.local", "A", NX, "", ""),
    # an endpoint name under a ClusterIP Service
    ("127-244-1-3.my-nginx.default.svc.cluster.local", "A", OK,
     f"127-244-1-3.my-nginx.default.svc.{Z} 5 IN A 127.244.1.3", ""),
    # ExternalName: CNAME, followed inside the zone
    ("ext.default.svc.cluster.local", "A", OK,
     f"ext.default.svc.{Z} 5 IN CNAME example.com.", ""),
    ("ext.default.svc.cluster.local", "CNAME", OK,
     f"ext.default.svc.{Z} 5 IN CNAME example.com.", ""),
    ("alias.other.svc.cluster.local", "A", OK,
     (f"alias.other.svc.{Z} 5 IN CNAME my-nginx.default.svc.{Z}\n"
      f"my-nginx.default.svc.{Z} 5 IN A 127.96.12.7"), ""),
    ("_http._tcp.ext.default.svc.cluster.local", "SRV", OK, "", ""),
    # pods ("insecure")
    ("127-244-1-5.default.pod.cluster.local", "A", OK,
     f"127-244-1-5.default.pod.{Z} 5 IN A 127.244.1.5", ""),
    ("127-244-1-5.nope.pod.cluster.local", "A", NX, "", ""),
    ("not-an-ip.default.pod.cluster.local", "A", NX, "", ""),
    ("default.pod.cluster.local", "A", OK, "", ""),
    # names that exist without records, and names that do not exist
    ("cluster.local", "A", OK, "", ""),
    ("svc.cluster.local", "A", OK, "", ""),
    ("default.svc.cluster.local", "A", OK, "", ""),
    ("nope.svc.cluster.local", "A", NX, "", ""),
    ("nothere.default.svc.cluster.local", "A", NX, "", ""),
    ("my-nginx.nope.svc.cluster.local", "A", NX, "", ""),
    ("a.b.c.d.my-nginx.default.svc.cluster.local", "A", NX, "", ""),
    ("my-nginx.default.cluster.local", "A", NX, "", ""),
    # the ndots:5 search-path variants a pod's resolver tries first
    ("my-nginx.default.svc.cluster.local.default.svc.cluster.local", "A", NX, "", ""),
    ("my-nginx.default.svc.cluster.local.svc.cluster.local", "A", NX, "", ""),
    ("my-nginx.default.svc.cluster.local.cluster.local", "A", NX, "", ""),
    ("example.com.default.svc.cluster.local", "A", NX, "", ""),
    # zone apex, server name and schema version
    ("cluster.local", "SOA", OK,
     f"{Z} 5 IN SOA ns.dns.{Z} hostmaster.{Z} {SERIAL} 7200 1800 86400 5", ""),
    ("cluster.local", "NS", OK, f"{Z} 5 IN NS ns.dns.{Z}", f"ns.dns.{Z} 5 IN A 127.96.0.10"),
    ("ns.dns.cluster.local", "A", OK, f"ns.dns.{Z} 5 IN A 127.96.0.10", ""),
    ("dns-version.cluster.local", "TXT", OK, f'dns-version.{Z} 5 IN TXT "1.1.0"', ""),
    # reverse
    ("10.0.96.127.in-addr.arpa", "PTR", OK,
     f"10.0.96.127.in-addr.arpa. 5 IN PTR kube-dns.kube-system.svc.{Z}", ""),
    ("7.12.96.127.in-addr.arpa", "PTR", OK,
     f"7.12.96.127.in-addr.arpa. 5 IN PTR my-nginx.default.svc.{Z}", ""),
    ("5.1.244.127.in-addr.arpa", "PTR", OK,
     f"5.1.244.127.in-addr.arpa. 5 IN PTR web-0.web.default.svc.{Z}", ""),
    ("3.1.244.127.in-addr.arpa", "PTR", OK,
     f"3.1.244.127.in-addr.arpa. 5 IN PTR 127-244-1-3.my-nginx.default.svc.{Z}", ""),
    ("99.99.96.127.in-addr.arpa", "PTR", NX, "", ""),
    ("7.12.96.127.in-addr.arpa", "A", OK, "", ""),
]


def build_index(synced: bool = True) -> index.Index:
    idx = index.Index(zone="cluster.local")
    for ns in NAMESPACES:
        idx.apply_namespace("ADDED", {"metadata": {"name": ns}})
    for svc in SERVICES:
        idx.apply_service("ADDED", svc)
    for sl in SLICES:
        idx.apply_slice("ADDED", sl)
    idx.synced = synced
    idx.serial = SERIAL
    return idx


def zone_rrs(text: str) -> list[str]:
    """Zone-file text to a sorted list of canonical record strings."""
    if not text:
        return []
    return sorted(_canon(rr) for rr in RR.fromZone(text))


def _canon(rr: RR) -> str:
    return str(rr).lower()


def canon(rrs: list[RR]) -> list[str]:
    return sorted(_canon(rr) for rr in rrs)
