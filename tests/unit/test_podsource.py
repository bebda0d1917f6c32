"""The pod source rule: classids that read as pod IPs, and the one rule per node."""
from __future__ import annotations

import sys

import pytest

from emunet.kubelet import podsource


@pytest.mark.parametrize("ip", ["127.244.1.5", "127.93.2.16", "127.0.0.1", "127.255.255.254"])
def test_a_classid_loaded_as_an_address_is_the_pod_ip(ip):
    # `snat ip to meta cgroup` copies the u32 as it lies in memory into the address.
    raw = podsource.classid(ip).to_bytes(4, sys.byteorder)
    assert ".".join(str(b) for b in raw) == ip


@pytest.mark.parametrize("cidr, inside, outside", [
    ("127.244.1.0/24", ["127.244.1.1", "127.244.1.254"], ["127.244.2.1", "127.245.1.1"]),
    ("127.93.0.0/17", ["127.93.0.1", "127.93.127.200"], ["127.93.128.1", "127.94.0.1"]),
])
def test_the_cidr_match_takes_its_pods_and_no_others(cidr, inside, outside):
    mask, value = podsource.cidr_match(cidr)
    for ip in inside:
        assert podsource.classid(ip) & mask == value, ip
    for ip in outside:
        assert podsource.classid(ip) & mask != value, ip


def test_the_rule_leaves_localhost_and_runs_after_the_proxy():
    text = podsource.render("emunet_pods_127_244_1_0_24", "127.244.1.0/24")
    mask, value = podsource.cidr_match("127.244.1.0/24")
    assert f"meta cgroup & {mask:#010x} == {value:#010x} ip daddr 127.0.0.0/8 " \
        "ip daddr != 127.0.0.1 snat ip to meta cgroup" in text
    assert "type nat hook postrouting priority 110;" in text
    # Replaced whole, so a crashed kubelet's table never doubles the rule.
    assert text.startswith("add table ip emunet_pods_127_244_1_0_24\n"
                           "delete table ip emunet_pods_127_244_1_0_24\n")


def test_tables_are_named_for_the_pod_cidr():
    assert podsource.table_name("127.244.1.0/24") == "emunet_pods_127_244_1_0_24"


MOUNTINFO = """\
25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
33 25 0:28 / /sys/fs/cgroup/memory rw,relatime shared:11 - cgroup cgroup rw,memory
34 25 0:29 / /sys/fs/cgroup/net_cls,net_prio rw,relatime shared:12 - cgroup cgroup rw,net_cls,net_prio
35 25 0:30 / /sys/fs/cgroup/unified rw,relatime shared:13 - cgroup2 cgroup2 rw
"""


def test_an_existing_net_cls_hierarchy_is_found():
    assert podsource.find_net_cls(MOUNTINFO) == "/sys/fs/cgroup/net_cls,net_prio"


def test_no_net_cls_hierarchy_is_none():
    only_v2 = "35 25 0:30 / /sys/fs/cgroup rw,relatime shared:13 - cgroup2 cgroup2 rw\n"
    assert podsource.find_net_cls(only_v2) is None
    assert podsource.find_net_cls(MOUNTINFO.replace("net_cls,net_prio", "cpu")) is None
