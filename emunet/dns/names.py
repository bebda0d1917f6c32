"""The query-name grammar of cluster DNS, in one pure function.

CoreDNS's kubernetes plugin reads every name in its zone with one parser
(`parseRequest`), counting labels from the right, and the record builder
then only looks things up. emunet does the same so that the grammar is
visible in one place and tested as a table:

    <zone>, svc.<zone>, pod.<zone>                 apex: names exist, no data
    dns-version.<zone>                             TXT schema version
    ns.dns.<zone>                                  the DNS server itself
    <ns>.svc.<zone>                                a namespace (NODATA if it exists)
    <svc>.<ns>.svc.<zone>                          a Service
    <endpoint>.<svc>.<ns>.svc.<zone>               one endpoint (hostname or a-b-c-d)
    _<port>._<proto>.<svc>.<ns>.svc.<zone>         SRV for a named port
    <ns>.pod.<zone>, <a-b-c-d>.<ns>.pod.<zone>     pods ("pods insecure": echo the IP)
    <d>.<c>.<b>.<a>.in-addr.arpa                   reverse lookup of one IPv4 address

Anything longer under svc is "too long to answer" (NXDOMAIN), as in CoreDNS.
All comparisons are case-insensitive (the DNS spec for Kubernetes says so):
callers match on the lower-cased labels this returns.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

OUTSIDE = "outside"      # not ours: forward upstream
INVALID = "invalid"      # in the zone but cannot exist: NXDOMAIN
APEX = "apex"            # zone, svc.zone, pod.zone: exist, hold no records of their own
DNS_VERSION = "dns-version"
NS = "ns"                # ns.dns.<zone>
SERVICE = "service"      # everything under svc.<zone> with a namespace
POD = "pod"              # everything under pod.<zone> with a namespace
REVERSE = "reverse"      # a full IPv4 in-addr.arpa name

REVERSE_SUFFIX = "in-addr.arpa"


@dataclass(frozen=True)
class Name:
    kind: str
    namespace: str = ""
    service: str = ""     # the Service name, or for pods the dashed IP label
    endpoint: str = ""
    port: str = ""        # SRV port name, without its underscore
    protocol: str = ""    # SRV protocol, without its underscore
    ip: str = ""          # reverse and pod names: the address asked about

    @property
    def is_srv(self) -> bool:
        return bool(self.port)


def split(qname: str) -> list[str]:
    """Lower-cased labels of a name, without the root."""
    name = qname.rstrip(".").lower()
    return name.split(".") if name else []


def parse(qname: str, zone: str) -> Name:
    labels = split(qname)
    zone_labels = split(zone)
    n = len(zone_labels)
    if labels[-2:] == ["in-addr", "arpa"]:
        return _reverse(labels[:-2])
    if len(labels) < n or labels[len(labels) - n:] != zone_labels:
        return Name(OUTSIDE)
    base = labels[:len(labels) - n]
    if not base or base in (["svc"], ["pod"]):
        return Name(APEX)
    if base == ["dns-version"]:
        return Name(DNS_VERSION)
    if base == ["ns", "dns"]:
        return Name(NS)
    kind = base[-1]
    if kind not in ("svc", "pod"):
        return Name(INVALID)
    rest = base[:-1]          # right to left: namespace, service, then endpoint or port/proto
    namespace = rest[-1]
    if kind == "pod":
        if len(rest) == 1:
            return Name(POD, namespace)
        if len(rest) != 2:
            return Name(INVALID)
        return Name(POD, namespace, rest[0], ip=_dashed_ip(rest[0]))
    if len(rest) == 1:
        return Name(SERVICE, namespace)
    service = rest[-2]
    if len(rest) == 2:
        return Name(SERVICE, namespace, service)
    if len(rest) == 3:
        return Name(SERVICE, namespace, service, endpoint=rest[0])
    if len(rest) == 4:
        return Name(SERVICE, namespace, service, port=_strip_underscore(rest[0]),
                    protocol=_strip_underscore(rest[1]))
    return Name(INVALID)


def _reverse(labels: list[str]) -> Name:
    if len(labels) != 4:
        return Name(OUTSIDE)
    try:
        ip = ipaddress.IPv4Address(".".join(reversed(labels)))
    except ValueError:
        return Name(OUTSIDE)
    return Name(REVERSE, ip=str(ip))


def _strip_underscore(label: str) -> str:
    return label.removeprefix("_")


def _dashed_ip(label: str) -> str:
    """`10-244-1-5` -> `10.244.1.5`; "" when the label is not a dashed IPv4 address."""
    if label.count("-") != 3 or "--" in label:
        return ""
    try:
        return str(ipaddress.IPv4Address(label.replace("-", ".")))
    except ValueError:
        return ""


def dashed(ip: str) -> str:
    """The endpoint name CoreDNS gives an address without a hostname."""
    return ip.replace(".", "-").replace(":", "-")


def reverse_name(ip: str) -> str:
    return ".".join(reversed(ip.split("."))) + "." + REVERSE_SUFFIX + "."
