"""The proxy's nftables mode end to end: kernel DNAT for TCP, userspace for the rest.

Skipped where the kernel path cannot run (not root, no `nft`). One cluster, one
test, so the table's removal at stop is checked too.
"""
from __future__ import annotations

import socket
import subprocess

import pytest
from test_service_proxy import AGNHOST, curl, hostnames, ready_ips, svc_field

from emunet.proxy import nft
from emunet.testing import Cluster

WHY_NOT = nft.unavailable()
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(WHY_NOT), reason=WHY_NOT or "runs")]


def table(name: str) -> str:
    return subprocess.run(["nft", "list", "table", "ip", nft.table_name(name)],
                          capture_output=True, text=True, check=False).stdout


def test_tcp_goes_through_kernel_dnat_and_the_table_goes_at_stop():
    with Cluster(nodes=2, proxy_mode="nftables") as c:
        c.kubectl("apply", "-f", "-", input=AGNHOST, check=True)
        c.wait(lambda: len(ready_ips(c, "echo")) == 3, timeout=30, what="3 ready echo pods")
        ip = svc_field(c, "echo", ".spec.clusterIP")
        c.wait(lambda: f"ip daddr {ip} tcp dport 80" in table(c.cfg.name), what="a DNAT rule")
        pods = set(c.kubectl("get", "pods", "-l", "app=echo", "-o",
                             "jsonpath={.items[*].metadata.name}").stdout.split())
        assert set(hostnames(f"http://{ip}/hostname", 9)) == pods  # numgen round robin
        port = svc_field(c, "echo", ".spec.ports[0].nodePort")
        assert curl(f"http://{c.cfg.node_internal_ip(1)}:{port}/hostname").stdout in pods

        # The same pod socket, directly and through the VIP, in quick alternation: the
        # SNAT keeps 4-tuples apart, so no connect waits on a SYN retransmit (1 s).
        pod = ready_ips(c, "echo")[0]
        for _ in range(15):
            for url in (f"http://{pod}:8080/hostname", f"http://{ip}/hostname"):
                r = curl("--connect-timeout", "0.9", url)
                assert r.returncode == 0, (url, r)

        # UDP stays in userspace.
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        try:
            s.sendto(b"echo hello", (ip, 81))
            assert s.recvfrom(4096)[0] == b"hello"
        finally:
            s.close()

        c.kubectl("scale", "deployment/echo", "--replicas=0", check=True)
        c.wait(lambda: f"ip daddr {ip} tcp dport 80" not in table(c.cfg.name),
               what="the DNAT rule to go")
        assert curl(f"http://{ip}/hostname").returncode == 7  # refused, as kube-proxy rejects
        name = c.cfg.name
    assert table(name) == ""
