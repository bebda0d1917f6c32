"""Pod IP allocation from the node's podCIDR."""
from __future__ import annotations

import pytest

from emunet.kubelet.ipam import IPAM, PoolExhausted


def test_skips_network_and_gateway_and_is_stable_per_pod():
    a = IPAM("127.244.1.0/24")
    assert a.allocate("u1") == "127.244.1.2"
    assert a.allocate("u2") == "127.244.1.3"
    assert a.allocate("u1") == "127.244.1.2"


def test_freed_ip_is_not_reused_at_once():
    a = IPAM("127.244.1.0/24")
    a.allocate("u1")
    a.release("u1")
    assert a.allocate("u2") == "127.244.1.3"


def test_recovered_ips_are_never_handed_out_again():
    a = IPAM("127.244.1.0/24")
    assert a.claim("old", "127.244.1.2")
    assert not a.claim("other", "127.244.1.2")
    assert not a.claim("x", "10.0.0.1")
    assert a.allocate("new") == "127.244.1.3"


def test_exhaustion():
    a = IPAM("127.244.1.0/29")   # .2 .. .6
    for i in range(5):
        a.allocate(f"u{i}")
    with pytest.raises(PoolExhausted):
        a.allocate("one-too-many")
