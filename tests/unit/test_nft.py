"""The nftables ruleset text: what the kernel fast path would program (no nft run here)."""
from __future__ import annotations

import pytest

from emunet.proxy import nft


@pytest.mark.parametrize("cluster,table", [
    ("emunet", "emunet_emunet"), ("test20", "emunet_test20"), ("my-lab.1", "emunet_my_lab_1")])
def test_table_name_is_one_identifier_per_cluster(cluster, table):
    assert nft.table_name(cluster) == table


@pytest.mark.parametrize("cidr,addr", [("127.96.0.0/16", "127.96.255.254"),
                                       ("127.20.128.0/18", "127.20.191.254")])
def test_snat_address_is_the_last_usable_service_address(cidr, addr):
    assert nft.snat_address(cidr) == addr


def test_one_endpoint_is_a_plain_dnat_and_several_are_round_robin():
    text = nft.render("emunet_t", [
        nft.Rule("127.96.0.5", 80, (("127.244.1.2", 8080), ("127.244.2.2", 8080)), "default/web"),
        nft.Rule("127.10.0.2", 30080, (("127.244.1.2", 8080),)),
    ], "127.96.255.254")
    assert "ip daddr 127.96.0.5 tcp dport 80 counter dnat ip to numgen inc mod 2 map " \
           "{ 0 : 127.244.1.2 . 8080, 1 : 127.244.2.2 . 8080 } comment \"default/web\"" in text
    assert "ip daddr 127.10.0.2 tcp dport 30080 counter dnat ip to 127.244.1.2:8080" in text
    assert "ct status dnat ct original ip daddr { 127.10.0.2, 127.96.0.5 } counter " \
           "snat ip to 127.96.255.254" in text


def test_the_transaction_replaces_the_whole_table():
    lines = nft.render("emunet_t", [], "127.96.255.254").splitlines()
    assert lines[:3] == ["add table ip emunet_t", "delete table ip emunet_t", "table ip emunet_t {"]


def test_a_port_without_endpoints_gets_no_rule_so_the_kernel_refuses():
    text = nft.render("emunet_t", [nft.Rule("127.96.0.5", 80, ())], "127.96.255.254")
    assert "127.96.0.5" not in text
