"""The cluster-DNS record table, run against the pure resolver."""
from __future__ import annotations

import pytest
from dns_cases import CASES, SERIAL, SETTINGS, build_index, canon, zone_rrs
from dnslib import QTYPE, RCODE

from emunet.dns import records


@pytest.mark.parametrize("qname,qtype,rcode,answer,additional", CASES,
                         ids=[f"{c[0]}/{c[1]}" for c in CASES])
def test_record_table(qname: str, qtype: str, rcode: int, answer: str, additional: str) -> None:
    ans = records.resolve(build_index(), qname, getattr(QTYPE, qtype), SETTINGS)
    assert ans is not None
    assert ans.rcode == rcode
    assert canon(ans.answer) == zone_rrs(answer)
    assert canon(ans.additional) == zone_rrs(additional)
    if not ans.answer:
        # NODATA and NXDOMAIN carry the zone's SOA, so resolvers cache them for the TTL.
        assert len(ans.authority) == 1 and ans.authority[0].rtype == QTYPE.SOA
        assert ans.authority[0].rdata.times[0] == SERIAL


def test_nxdomain_soa_is_the_coredns_soa() -> None:
    ans = records.resolve(build_index(), "nope.default.svc.cluster.local", QTYPE.A, SETTINGS)
    assert ans is not None
    assert canon(ans.authority) == zone_rrs(
        f"cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. "
        f"{SERIAL} 7200 1800 86400 5")


def test_servfail_until_synced() -> None:
    ans = records.resolve(build_index(synced=False), "my-nginx.default.svc.cluster.local",
                          QTYPE.A, SETTINGS)
    assert ans is not None and ans.rcode == RCODE.SERVFAIL


@pytest.mark.parametrize("qname", ["example.com", "localhost", "1.0.0.127.in-addr.arpa",
                                   "cluster.local.example.com", "96.127.in-addr.arpa"])
def test_other_names_are_not_ours(qname: str) -> None:
    assert records.resolve(build_index(), qname, QTYPE.A, SETTINGS) is None


def test_zone_transfer_refused() -> None:
    ans = records.resolve(build_index(), "cluster.local", QTYPE.AXFR, SETTINGS)
    assert ans is not None and ans.rcode == RCODE.REFUSED


def test_answers_follow_changes() -> None:
    idx = build_index()
    seen: list[int] = []
    idx.listeners.append(lambda: seen.append(idx.version))
    q = "web.default.svc.cluster.local"
    # A pod of the headless Service goes away: its answer shrinks.
    sl = {"metadata": {"name": "web-abc", "namespace": "default",
                       "labels": {"kubernetes.io/service-name": "web"}},
          "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
          "endpoints": [{"addresses": ["127.244.1.5"], "hostname": "web-0"}]}
    idx.apply_slice("MODIFIED", sl)
    ans = records.resolve(idx, q, QTYPE.A, SETTINGS)
    assert ans is not None and [str(r.rdata) for r in ans.answer] == ["127.244.1.5"]
    idx.apply_slice("DELETED", sl)
    ans = records.resolve(idx, q, QTYPE.A, SETTINGS)
    assert ans is not None and ans.rcode == RCODE.NXDOMAIN
    assert len(seen) == 2
    # A change DNS does not serve (a label) leaves the version alone.
    svc = {"metadata": {"name": "my-nginx", "namespace": "default", "labels": {"a": "b"}},
           "spec": {"clusterIP": "127.96.12.7", "type": "NodePort",
                    "ports": [{"name": "http", "port": 80, "protocol": "TCP"},
                              {"name": "https", "port": 443, "protocol": "TCP"}]}}
    idx.apply_service("MODIFIED", svc)
    assert len(seen) == 2
