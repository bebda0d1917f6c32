"""ClusterIP and NodePort allocators: uniqueness, the apiserver's error texts, restarts."""
from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from emunet import allocators, errors, resources
from emunet.api.strategy import Strategy
from emunet.config import ClusterConfig
from emunet.store import Store

SERVICES = resources.by_plural("services")


def test_dynamic_cluster_ips_never_repeat_until_released() -> None:
    a = allocators.IPAllocator("127.96.0.0/24")
    got = [a.allocate() for _ in range(254)]
    assert len(set(got)) == 254
    net = ipaddress.ip_network("127.96.0.0/24")
    assert all(ipaddress.ip_address(ip) in net for ip in got)
    assert "127.96.0.0" not in got and "127.96.0.255" not in got
    with pytest.raises(errors.ApiError) as e:
        a.allocate()
    assert e.value.code == 500
    assert "range 127.96.0.0/24 is full" in e.value.message
    a.release(got[100])
    assert a.allocate() == got[100]


def test_dynamic_allocation_prefers_the_upper_band() -> None:
    # KEP-3070: the low addresses (e.g. .1 for kubernetes, .10 for kube-dns) stay
    # free for static requests while the upper band has room.
    a = allocators.IPAllocator("127.96.0.0/16")
    for _ in range(50):
        ip = ipaddress.ip_address(a.allocate())
        assert int(ip) - int(ipaddress.ip_address("127.96.0.0")) > 256


def test_allocate_skips_statically_reserved_addresses() -> None:
    a = allocators.IPAllocator("127.96.0.0/28")
    a.reserve("127.96.0.5")
    a.take("127.96.0.6")
    got = {a.allocate() for _ in range(12)}
    assert got.isdisjoint({"127.96.0.5", "127.96.0.6"})
    assert len(got) == 12


# (address, fragment of the 422 message)
RESERVE_ERRORS = [
    ("127.96.0.1", "provided IP is already allocated"),
    ("127.97.0.1", ("the provided IP (127.97.0.1) is not in the valid range. "
                    "The range of valid IPs is 127.96.0.0/16")),
    ("127.96.0.0", "is not in the valid range"),
    ("127.96.255.255", "is not in the valid range"),
]


@pytest.mark.parametrize("ip,fragment", RESERVE_ERRORS)
def test_reserving_a_taken_or_out_of_range_ip_is_invalid(ip: str, fragment: str) -> None:
    a = allocators.IPAllocator("127.96.0.0/16")
    a.reserve("127.96.0.1")
    with pytest.raises(errors.Invalid) as e:
        a.reserve(ip)
    assert e.value.code == 422
    cause = e.value.causes[0]
    assert cause["field"] == "spec.clusterIPs"
    assert cause["message"].startswith(f'Invalid value: []string{{"{ip}"}}: failed to allocate IP {ip}: ')
    assert fragment in cause["message"]


def test_node_ports_reserve_allocate_release() -> None:
    p = allocators.PortAllocator(30000, 30004)
    p.reserve(30002, "spec.ports[0].nodePort")
    got = {p.allocate() for _ in range(4)}
    assert got == {30000, 30001, 30003, 30004}
    with pytest.raises(errors.ApiError) as full:
        p.allocate()
    assert full.value.code == 500
    p.release(30003)
    assert p.allocate() == 30003
    p.release(None)  # a port that was never set is nothing to release


# (port, message)
PORT_ERRORS = [
    (30002, "Invalid value: 30002: provided port is already allocated"),
    (29999, ("Invalid value: 29999: provided port is not in the valid range. "
             "The range of valid ports is 30000-32767")),
    (32768, ("Invalid value: 32768: provided port is not in the valid range. "
             "The range of valid ports is 30000-32767")),
]


@pytest.mark.parametrize("port,message", PORT_ERRORS)
def test_reserving_a_taken_or_out_of_range_node_port_is_invalid(port: int, message: str) -> None:
    p = allocators.PortAllocator(30000, 32767)
    p.reserve(30002, "spec.ports[0].nodePort")
    with pytest.raises(errors.Invalid) as e:
        p.reserve(port, "spec.ports[1].nodePort")
    assert e.value.causes[0]["field"] == "spec.ports[1].nodePort"
    assert e.value.causes[0]["message"] == message


def _service(name: str, stype: str = "ClusterIP", **spec: object) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": stype, "selector": {"app": name},
                     "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}], **spec}}


def test_allocations_are_rebuilt_from_stored_services_after_a_restart(tmp_path: Path) -> None:
    cfg = ClusterConfig(service_cidr="127.96.0.0/28", node_port_range="30000-30005")
    store = Store(tmp_path / "store.db")
    strat = Strategy(cfg, store)
    before = []
    for i in range(3):
        svc = strat.prepare_create(SERVICES, _service(f"s{i}", "NodePort"))
        before.append(store.create("services", svc))
    store.close()

    store = Store(tmp_path / "store.db")
    try:
        strat = Strategy(cfg, store)
        ips = {s["spec"]["clusterIP"] for s in before}
        ports = {s["spec"]["ports"][0]["nodePort"] for s in before}
        assert len(ips) == 3 and len(ports) == 3
        # Everything still free is handed out, and nothing stored is handed out again.
        fresh_ips = {strat.cluster_ips.allocate() for _ in range(14 - 3)}
        fresh_ports = {strat.node_ports.allocate() for _ in range(6 - 3)}
        assert fresh_ips.isdisjoint(ips)
        assert fresh_ports.isdisjoint(ports)
        with pytest.raises(errors.ApiError):
            strat.cluster_ips.allocate()
        taken = before[0]["spec"]["clusterIP"]
        with pytest.raises(errors.Invalid) as e:
            strat.prepare_create(SERVICES, _service("again", clusterIP=taken))
        assert "provided IP is already allocated" in e.value.message
    finally:
        store.close()


def test_a_headless_service_takes_no_address(tmp_path: Path) -> None:
    cfg = ClusterConfig(service_cidr="127.96.0.0/28")
    store = Store(tmp_path / "store.db")
    try:
        strat = Strategy(cfg, store)
        svc = strat.prepare_create(SERVICES, _service("headless", clusterIP="None"))
        assert svc["spec"]["clusterIP"] == "None"
        store.create("services", svc)
        assert Strategy(cfg, store).cluster_ips.used == set()
    finally:
        store.close()
