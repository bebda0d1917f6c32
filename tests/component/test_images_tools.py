"""The busybox tool shims, run as a pod runs them, against a real DNS server on :53."""
from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from dnslib import PTR, QTYPE, RCODE, RR, A, DNSRecord

from emunet.images import resolve, tools_dir

DNS_IP = "127.0.0.153"
RECORDS = {
    ("my-nginx.default.svc.cluster.local.", "A"): RR("my-nginx.default.svc.cluster.local.",
                                                     QTYPE.A, rdata=A("127.96.1.2"), ttl=5),
    ("2.1.96.127.in-addr.arpa.", "PTR"): RR("2.1.96.127.in-addr.arpa.", QTYPE.PTR,
                                            rdata=PTR("my-nginx.default.svc.cluster.local."),
                                            ttl=5),
    ("10.0.96.127.in-addr.arpa.", "PTR"): RR("10.0.96.127.in-addr.arpa.", QTYPE.PTR,
                                             rdata=PTR("kube-dns.kube-system.svc.cluster.local."),
                                             ttl=5),
}
KNOWN_NAMES = {name for name, _ in RECORDS}


@pytest.fixture(scope="module")
def dns_server() -> Iterator[list[str]]:
    """A minimal authoritative server; records the names it was asked."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((DNS_IP, 53))
    asked: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                data, addr = sock.recvfrom(4096)
            except TimeoutError:
                continue
            request = DNSRecord.parse(data)
            name, qtype = str(request.q.qname), QTYPE[request.q.qtype]
            asked.append(name)
            reply = request.reply()
            if (name, qtype) in RECORDS:
                reply.add_answer(RECORDS[(name, qtype)])
            elif name not in KNOWN_NAMES:
                reply.header.rcode = RCODE.NXDOMAIN
            sock.sendto(reply.pack(), addr)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield asked
    stop.set()
    thread.join()
    sock.close()


@pytest.fixture
def pod_env(tmp_path: Path) -> dict[str, str]:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"nameserver {DNS_IP}\n"
                      "search default.svc.cluster.local svc.cluster.local cluster.local\n"
                      "options ndots:5 timeout:1 attempts:1\n")
    launch = resolve("radial/busyboxplus:curl", ["sh"], None, {}, tools_base=tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = os.pathsep.join(launch.path_prepend + [env["PATH"]])
    env["EMUNET_RESOLV_CONF"] = str(resolv)
    return env


def sh(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", command], check=False, env=env, capture_output=True, text=True,
                          timeout=30, cwd="/")


def test_nslookup_prints_busybox_format_through_the_search_path(
        dns_server: list[str], pod_env: dict[str, str]) -> None:
    result = sh("nslookup my-nginx", pod_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "Server:    127.0.0.153\n"
        "Address 1: 127.0.0.153\n"
        "\n"
        "Name:      my-nginx\n"
        "Address 1: 127.96.1.2 my-nginx.default.svc.cluster.local\n")
    assert "my-nginx.default.svc.cluster.local." in dns_server


def test_nslookup_shows_the_server_name_when_it_has_a_ptr(dns_server: list[str],
                                                          pod_env: dict[str, str],
                                                          tmp_path: Path) -> None:
    # The pod's resolver is the kube-dns address; this server answers its PTR too.
    resolv = Path(pod_env["EMUNET_RESOLV_CONF"])
    result = sh(f"nslookup 127.96.0.10 {DNS_IP}", pod_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(
        "Name:      127.96.0.10\nAddress 1: 127.96.0.10 kube-dns.kube-system.svc.cluster.local\n")
    assert resolv.exists()


def test_nslookup_of_an_unknown_name_fails_like_busybox(dns_server: list[str],
                                                        pod_env: dict[str, str]) -> None:
    result = sh("nslookup no-such-svc", pod_env)
    assert result.returncode == 1
    assert result.stderr == "nslookup: can't resolve 'no-such-svc'\n"
    assert result.stdout.startswith("Server:    127.0.0.153\n")


def test_tools_dir_is_idempotent(tmp_path: Path) -> None:
    first = tools_dir(tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in first.iterdir()}
    assert tools_dir(tmp_path) == first
    assert {p.name: p.stat().st_mtime_ns for p in first.iterdir()} == before
    assert "nslookup" in before
