"""Answers for the cluster zone, built from the index: pure, no sockets.

This follows CoreDNS's kubernetes plugin record by record, because pods and
tools expect exactly its answers:

- A `<svc>.<ns>.svc` -> the ClusterIP; a headless Service -> its ready
  endpoint IPs; `<endpoint>.<svc>.<ns>.svc` -> that endpoint's IP, where the
  endpoint's name is its hostname or its dashed IP.
- ExternalName -> a CNAME, followed inside the zone when the target is there.
- SRV `_<port>._<proto>.<svc>.<ns>.svc` (or every port, for a bare service
  name): priority 0, weight 100/N; target `<svc>.<ns>.svc.<zone>` for a
  ClusterIP Service, `<endpoint>.<svc>.<ns>.svc.<zone>` per endpoint for a
  headless one; the targets' A records ride in the additional section.
- PTR for a ClusterIP -> its Service; for an endpoint IP -> its endpoint names.
- `<a-b-c-d>.<ns>.pod` -> a.b.c.d ("pods insecure", the kube-dns behaviour).
- A name that exists but lacks the type asked for is NODATA (NOERROR, empty
  answer); a name that does not exist is NXDOMAIN; both carry the zone's SOA
  in the authority section so resolvers cache the negative answer for the TTL.
  Whether a name exists is decided, as CoreDNS does, by looking up its A
  records ("a fake A lookup"). A namespace that does not exist makes
  everything under it NXDOMAIN.
- Until the informers have synced, SERVFAIL: an empty cache must not claim
  that names do not exist.

`resolve` returns None for names that are not ours (they go upstream).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from dnslib import CNAME, NS, PTR, QTYPE, RCODE, RR, SOA, SRV, TXT, A

from . import names
from .index import Index, Service

SCHEMA_VERSION = "1.1.0"
MAX_CNAME_CHAIN = 8


@dataclass(frozen=True)
class Settings:
    zone: str = "cluster.local"
    ttl: int = 5
    dns_ip: str = "127.96.0.10"
    # Reverse lookups of addresses in these networks are answered here,
    # authoritatively; other reverse names go upstream.
    reverse_nets: tuple[ipaddress.IPv4Network, ...] = ()


@dataclass
class Answer:
    rcode: int = RCODE.NOERROR
    answer: list[RR] = field(default_factory=list)
    authority: list[RR] = field(default_factory=list)
    additional: list[RR] = field(default_factory=list)


@dataclass(frozen=True)
class _Rec:
    """One result of a service lookup (CoreDNS's msg.Service): a key name and a host."""
    key: str           # fqdn with trailing dot
    host: str          # an IP, or for ExternalName the CNAME target
    port: int = 0
    cname: bool = False


def resolve(index: Index, qname: str, qtype: int, st: Settings) -> Answer | None:
    name = names.parse(qname, st.zone)
    owner = qname if qname.endswith(".") else qname + "."
    if name.kind == names.OUTSIDE:
        return None
    if name.kind == names.REVERSE:
        return _reverse(index, name.ip, owner, qtype, st)
    if not index.synced:
        return Answer(RCODE.SERVFAIL)
    if qtype in (QTYPE.AXFR, QTYPE.IXFR):
        return Answer(RCODE.REFUSED)
    soa = _soa(st.zone, index.serial, st)
    out = Answer()
    if name.kind == names.APEX:
        if names.split(qname) == names.split(st.zone):
            if qtype == QTYPE.SOA:
                out.answer.append(soa)
                return out
            if qtype == QTYPE.NS:
                ns = f"ns.dns.{st.zone}."
                out.answer.append(RR(f"{st.zone}.", QTYPE.NS, rdata=NS(ns), ttl=st.ttl))
                out.additional.append(RR(ns, QTYPE.A, rdata=A(st.dns_ip), ttl=st.ttl))
                return out
        return _nodata(soa)
    if name.kind == names.DNS_VERSION:
        if qtype == QTYPE.TXT:
            out.answer.append(RR(owner, QTYPE.TXT, rdata=TXT(SCHEMA_VERSION), ttl=st.ttl))
            return out
        return _nodata(soa)
    if name.kind == names.NS:
        if qtype == QTYPE.A:
            out.answer.append(RR(owner, QTYPE.A, rdata=A(st.dns_ip), ttl=st.ttl))
            return out
        return _nodata(soa)
    if name.kind == names.INVALID or name.namespace not in index.namespaces:
        return _nxdomain(soa)
    if name.kind == names.POD:
        if not name.service:
            return _nodata(soa)
        if not name.ip:
            return _nxdomain(soa)
        if qtype == QTYPE.A:
            out.answer.append(RR(owner, QTYPE.A, rdata=A(name.ip), ttl=st.ttl))
            return out
        return _nodata(soa)
    # SERVICE
    if not name.service:
        return _nodata(soa)
    recs = _find(index, name, st)
    if recs is None:
        return _nxdomain(soa)
    if qtype in (QTYPE.A, QTYPE.AAAA):
        out.answer = _address(index, owner, qtype, recs, st, depth=0)
    elif qtype == QTYPE.CNAME:
        out.answer = [RR(owner, QTYPE.CNAME, rdata=CNAME(_fqdn(r.host)), ttl=st.ttl)
                      for r in recs if r.cname]
    elif qtype == QTYPE.SRV:
        out.answer, out.additional = _srv(owner, recs, st)
    if not out.answer:
        return _nodata(soa)
    return out


def _find(index: Index, name: names.Name, st: Settings) -> list[_Rec] | None:
    """CoreDNS's findServices: the records under a service name; None means NXDOMAIN."""
    svc = index.services.get((name.namespace, name.service))
    if svc is None:
        return None
    base = f"{svc.fqdn_base}.{st.zone}."
    if svc.type == "ExternalName":
        target = svc.external_name.rstrip(".")
        if name.endpoint or not target or _is_ip(target):
            return None
        return [_Rec(base, target, cname=True)]
    recs: list[_Rec] = []
    if svc.headless or name.endpoint:
        for ep in index.endpoints(svc.namespace, svc.name):
            if name.endpoint and ep.label != name.endpoint:
                continue
            for p in ep.ports:
                if _match(name, p.name, p.protocol):
                    recs.append(_Rec(f"{ep.label}.{base}", ep.ip, p.port))
        return recs or None
    for p in svc.ports:
        if _match(name, p.name, p.protocol):
            recs.extend(_Rec(base, ip, p.port) for ip in svc.cluster_ips)
    return recs or None


def _match(name: names.Name, port_name: str, protocol: str) -> bool:
    if not name.is_srv:
        return True
    return name.port == port_name and name.protocol == protocol


def _address(index: Index, owner: str, qtype: int, recs: list[_Rec], st: Settings,
             depth: int) -> list[RR]:
    out: list[RR] = []
    seen: set[str] = set()
    for r in recs:
        if r.cname:
            out.extend(_chase(index, owner, qtype, r.host, st, depth))
            continue
        if r.host in seen:
            continue
        seen.add(r.host)
        if qtype == QTYPE.A and _is_ipv4(r.host):
            out.append(RR(owner, QTYPE.A, rdata=A(r.host), ttl=st.ttl))
    return out


def _chase(index: Index, owner: str, qtype: int, target: str, st: Settings,
           depth: int) -> list[RR]:
    """An ExternalName's CNAME; followed while the target is a Service in the zone."""
    cname = RR(owner, QTYPE.CNAME, rdata=CNAME(_fqdn(target)), ttl=st.ttl)
    tname = names.parse(target, st.zone)
    if tname.kind == names.OUTSIDE:
        # The client's resolver follows an outside target itself.
        return [cname]
    if depth >= MAX_CNAME_CHAIN or tname.kind != names.SERVICE or not tname.service \
            or tname.namespace not in index.namespaces:
        return []
    recs = _find(index, tname, st)
    if not recs:
        return []
    rest = _address(index, _fqdn(target), qtype, recs, st, depth + 1)
    # As in CoreDNS: an in-zone chain that ends in nothing is no answer at all.
    return [cname, *rest] if rest else []


def _srv(owner: str, recs: list[_Rec], st: Settings) -> tuple[list[RR], list[RR]]:
    targets: list[_Rec] = []
    seen: set[tuple[int, str]] = set()
    for r in recs:
        if r.cname or r.port < 0 or (r.port, r.key) in seen:
            continue
        seen.add((r.port, r.key))
        targets.append(r)
    if not targets:
        return [], []
    weight = max(1, 100 // len(targets))
    answer = [RR(owner, QTYPE.SRV, rdata=SRV(0, weight, r.port, r.key), ttl=st.ttl)
              for r in targets]
    extra: list[RR] = []
    added: set[tuple[str, str]] = set()
    for r in targets:
        if (r.key, r.host) not in added and _is_ipv4(r.host):
            added.add((r.key, r.host))
            extra.append(RR(r.key, QTYPE.A, rdata=A(r.host), ttl=st.ttl))
    return answer, extra


def _reverse(index: Index, ip: str, owner: str, qtype: int, st: Settings) -> Answer | None:
    addr = ipaddress.IPv4Address(ip)
    net = next((n for n in st.reverse_nets if addr in n), None)
    targets = index.names_for_ip(ip) if index.synced else []
    if net is None and not targets:
        return None
    if not index.synced:
        return Answer(RCODE.SERVFAIL)
    zone = _reverse_zone(net) if net is not None else names.reverse_name(ip).rstrip(".")
    soa = _soa(zone, index.serial, st)
    if not targets:
        return _nxdomain(soa)
    if qtype != QTYPE.PTR:
        return _nodata(soa)
    return Answer(answer=[RR(owner, QTYPE.PTR, rdata=PTR(t), ttl=st.ttl) for t in targets])


def _reverse_zone(net: ipaddress.IPv4Network) -> str:
    """The in-addr.arpa zone on an octet boundary that holds a network."""
    octets = str(net.network_address).split(".")[: max(1, net.prefixlen // 8)]
    return ".".join(reversed(octets)) + "." + names.REVERSE_SUFFIX


def _soa(zone: str, serial: int, st: Settings) -> RR:
    # CoreDNS: `<zone> <ttl> IN SOA ns.dns.<zone> hostmaster.<zone> <serial> 7200 1800 86400 <ttl>`
    return RR(f"{zone}.", QTYPE.SOA, ttl=st.ttl,
              rdata=SOA(f"ns.dns.{zone}.", f"hostmaster.{zone}.",
                        (serial & 0xFFFFFFFF, 7200, 1800, 86400, st.ttl)))


def _nodata(soa: RR) -> Answer:
    return Answer(RCODE.NOERROR, authority=[soa])


def _nxdomain(soa: RR) -> Answer:
    return Answer(RCODE.NXDOMAIN, authority=[soa])


def _fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
        return True
    except ValueError:
        return False


def service_names(svc: Service, zone: str) -> list[str]:
    """The names a Service is known by outside the pods' search path (for /etc/hosts)."""
    return [f"{svc.fqdn_base}.{zone}", svc.fqdn_base]
