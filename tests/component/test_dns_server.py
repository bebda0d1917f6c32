"""The DNS server on real loopback sockets: the record table over UDP and TCP,
dig, truncation, malformed input, and forwarding to upstream resolvers."""
from __future__ import annotations

import asyncio
import random
import shutil
import socket
import struct
import time

import pytest
from dns_cases import CASES, SETTINGS, build_index, canon, zone_rrs
from dnslib import EDNS0, QTYPE, RCODE, DNSRecord

from emunet.dns import server, upstream

HOST = "127.0.53.1"
PORT = 0     # set per test by the fixture: each server takes a free port


def query(qname: str, qtype: str, tcp: bool = False, host: str = HOST, port: int = 0,
          edns: int | None = None, timeout: float = 3) -> DNSRecord:
    port = port or PORT
    q = DNSRecord.question(qname, qtype)
    if edns is not None:
        q.add_ar(EDNS0(udp_len=edns))
    return DNSRecord.parse(q.send(host, port, tcp=tcp, timeout=timeout))


@pytest.fixture
async def dns():
    idx = build_index()
    responder = server.Responder(idx, SETTINGS, upstream.Upstream([]))
    global PORT
    async with server.DnsServer(responder, HOST, 0) as srv:
        PORT = srv.port
        yield srv


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_record_table_over_sockets(dns: server.DnsServer, tcp: bool) -> None:
    for qname, qtype, rcode, answer, additional in CASES:
        for _ in range(2):   # the second answer comes from the cache of encoded answers
            r = await asyncio.to_thread(query, qname, qtype, tcp)
            assert r.header.rcode == rcode, (qname, qtype)
            assert r.header.aa == 1
            assert canon(r.rr) == zone_rrs(answer), (qname, qtype)
            assert canon(r.ar) == zone_rrs(additional), (qname, qtype)
            if not r.rr:
                assert [rr.rtype for rr in r.auth] == [QTYPE.SOA], (qname, qtype)


async def test_cache_keeps_question_case_and_follows_changes(dns: server.DnsServer) -> None:
    r = await asyncio.to_thread(query, "My-Nginx.default.svc.cluster.local", "A")
    assert str(r.q.qname) == "My-Nginx.default.svc.cluster.local."
    assert str(r.rr[0].rname) == "My-Nginx.default.svc.cluster.local."
    idx = dns.responder.index
    idx.apply_service("ADDED", {"metadata": {"name": "new", "namespace": "default"},
                                "spec": {"clusterIP": "127.96.40.4",
                                         "ports": [{"port": 80, "protocol": "TCP"}]}})
    r = await asyncio.to_thread(query, "new.default.svc.cluster.local", "A")
    assert [str(a.rdata) for a in r.rr] == ["127.96.40.4"]
    idx.apply_service("DELETED", {"metadata": {"name": "new", "namespace": "default"}})
    r = await asyncio.to_thread(query, "new.default.svc.cluster.local", "A")
    assert r.header.rcode == RCODE.NXDOMAIN


def _big_headless(idx, n: int = 100) -> None:
    idx.apply_service("ADDED", {"metadata": {"name": "big", "namespace": "default"},
                                "spec": {"clusterIP": "None",
                                         "ports": [{"name": "http", "port": 80}]}})
    idx.apply_slice("ADDED", {
        "metadata": {"name": "big-1", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "big"}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        "endpoints": [{"addresses": [f"127.244.3.{i + 1}"]} for i in range(n)]})


async def test_large_answer_truncated_over_udp_whole_over_tcp(dns: server.DnsServer) -> None:
    _big_headless(dns.responder.index)
    name = "big.default.svc.cluster.local"
    r = await asyncio.to_thread(query, name, "A")
    assert r.header.tc == 1 and 0 < len(r.rr) < 100
    r = await asyncio.to_thread(query, name, "A", edns=4096)
    assert r.header.tc == 0 and len(r.rr) == 100
    assert any(rr.rtype == QTYPE.OPT for rr in r.ar)       # EDNS0 echoed
    r = await asyncio.to_thread(query, name, "A", True)
    assert r.header.tc == 0 and len(r.rr) == 100


@pytest.mark.skipif(not shutil.which("dig"), reason="dig is not installed")
async def test_dig(dns: server.DnsServer) -> None:
    _big_headless(dns.responder.index)
    for args, expect in [
        (["my-nginx.default.svc.cluster.local"], ["127.96.12.7"]),
        (["-x", "127.96.0.10"], ["kube-dns.kube-system.svc.cluster.local."]),
        (["SRV", "_http._tcp.my-nginx.default.svc.cluster.local"],
         ["0 100 80 my-nginx.default.svc.cluster.local."]),
        (["+tcp", "web.default.svc.cluster.local"], ["127.244.1.5", "127.244.2.6"]),
    ]:
        proc = await asyncio.create_subprocess_exec(
            "dig", "+short", "+time=2", "+tries=1", "-p", str(PORT), f"@{HOST}", *args,
            stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        assert sorted(out.decode().split("\n")[:-1]) == sorted(expect), args
    # Truncated over UDP, dig asks again over TCP and prints every record.
    proc = await asyncio.create_subprocess_exec(
        "dig", "+noedns", "+time=2", "+tries=1", "-p", str(PORT), f"@{HOST}",
        "big.default.svc.cluster.local", stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    text = out.decode()
    assert "Truncated, retrying in TCP mode" in text
    assert "ANSWER: 100" in text


async def test_bad_input_gets_error_codes_and_service_goes_on(dns: server.DnsServer) -> None:
    def raw(packet: bytes) -> DNSRecord | None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.5)
            s.sendto(packet, (HOST, PORT))
            try:
                return DNSRecord.parse(s.recv(65535))
            except TimeoutError:
                return None

    q = DNSRecord.question("my-nginx.default.svc.cluster.local")
    notify = DNSRecord.question("my-nginx.default.svc.cluster.local")
    notify.header.opcode = 4
    two = DNSRecord.question("a.default.svc.cluster.local")
    two.add_question(*DNSRecord.question("b.default.svc.cluster.local").questions)
    chaos = DNSRecord.question("version.bind", "TXT", "CH")
    resp = q.reply()
    badvers = DNSRecord.question("my-nginx.default.svc.cluster.local")
    badvers.add_ar(EDNS0(version=1, udp_len=1232))
    cases = [
        (bytes(q.pack())[:20], RCODE.FORMERR),
        (bytes(notify.pack()), RCODE.NOTIMP),
        (bytes(two.pack()), RCODE.FORMERR),
        (bytes(chaos.pack()), RCODE.REFUSED),
        (bytes(resp.pack()), None),                  # a response: dropped
        (b"\x12", None),                             # too short: dropped
        (bytes(q.pack()) + b"\x00" * 5000, RCODE.FORMERR),
    ]
    for packet, rcode in cases:
        r = await asyncio.to_thread(raw, packet)
        if rcode is None:
            assert r is None
        else:
            assert r is not None and r.header.rcode == rcode
    r = await asyncio.to_thread(raw, bytes(badvers.pack()))
    assert r is not None
    opt = [rr for rr in r.ar if rr.rtype == QTYPE.OPT]
    assert opt and (opt[0].ttl >> 24) == 1       # extended rcode 16 = BADVERS
    r = await asyncio.to_thread(query, "my-nginx.default.svc.cluster.local", "A")
    assert r.header.rcode == RCODE.NOERROR


async def test_tcp_lying_length_and_idle_clients_do_not_block_others(
        dns: server.DnsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "TCP_IDLE_SECONDS", 0.3)
    reader, writer = await asyncio.open_connection(HOST, PORT)
    writer.write(struct.pack("!H", 500) + b"\x00" * 20)      # promises 500 bytes, sends 20
    await writer.drain()
    r = await asyncio.to_thread(query, "my-nginx.default.svc.cluster.local", "A", True)
    assert r.header.rcode == RCODE.NOERROR
    assert await asyncio.wait_for(reader.read(), 3) == b""    # closed after the idle timeout
    writer.close()
    # Two queries pipelined on one connection get two answers.
    reader, writer = await asyncio.open_connection(HOST, PORT)
    for name in ("my-nginx.default.svc.cluster.local", "kubernetes.default.svc.cluster.local"):
        pkt = bytes(DNSRecord.question(name).pack())
        writer.write(struct.pack("!H", len(pkt)) + pkt)
    await writer.drain()
    ips = []
    for _ in range(2):
        (n,) = struct.unpack("!H", await reader.readexactly(2))
        ips.append(str(DNSRecord.parse(await reader.readexactly(n)).rr[0].rdata))
    assert ips == ["127.96.12.7", "127.96.0.1"]
    writer.close()


async def test_tcp_connections_are_bounded(dns: server.DnsServer,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "MAX_TCP_CONNECTIONS", 3)
    conns = [await asyncio.open_connection(HOST, PORT) for _ in range(3)]
    await asyncio.sleep(0)   # let the server accept them
    extra_r, extra_w = await asyncio.open_connection(HOST, PORT)
    try:
        assert await asyncio.wait_for(extra_r.read(), 3) == b""    # closed at once
    except ConnectionResetError:
        pass
    extra_w.close()
    for _, w in conns:
        w.close()
    deadline = time.monotonic() + 5
    while dns._tcp_clients and time.monotonic() < deadline:   # the server sees them go
        await asyncio.sleep(0.01)
    r = await asyncio.to_thread(query, "my-nginx.default.svc.cluster.local", "A", True)
    assert r.header.rcode == RCODE.NOERROR


async def test_fuzz_random_and_mutated_packets(dns: server.DnsServer) -> None:
    rng = random.Random(5)
    seeds = [bytes(DNSRecord.question(c[0], c[1]).pack()) for c in CASES[:20]]

    def blast() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setblocking(False)
            for i in range(2000):
                if i % 2:
                    pkt = bytearray(rng.choice(seeds))
                    for _ in range(rng.randint(1, 6)):
                        pkt[rng.randrange(len(pkt))] = rng.randrange(256)
                    if rng.random() < 0.3:
                        pkt = pkt[:rng.randrange(len(pkt))]
                else:
                    pkt = bytearray(rng.randbytes(rng.randint(0, 600)))
                try:
                    s.sendto(bytes(pkt), (HOST, PORT))
                except OSError:
                    pass
                if i % 100 == 0:
                    time.sleep(0.001)   # keep the socket buffer from overflowing

    await asyncio.to_thread(blast)
    # The socket's queue may still be full of garbage (and drop a datagram), so
    # ask as a stub resolver does: again after a timeout.
    for attempt in range(5):
        try:
            r = await asyncio.to_thread(query, "my-nginx.default.svc.cluster.local", "A",
                                        False, HOST, 0, None, 1)
            break
        except TimeoutError:
            continue
    assert [str(a.rdata) for a in r.rr] == ["127.96.12.7"]


# ---- upstream ---------------------------------------------------------------

class _FakeUpstream(asyncio.DatagramProtocol):
    """An upstream resolver that answers every A query with 192.0.2.1 (or stays silent)."""

    def __init__(self, silent: bool = False) -> None:
        self.silent = silent
        self.seen = 0

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[no-untyped-def]
        self.seen += 1
        if self.silent:
            return
        req = DNSRecord.parse(data)
        rep = req.reply(aa=0)
        rep.add_answer(*__import__("dnslib").RR.fromZone(f"{req.q.qname} 60 IN A 192.0.2.1"))
        self.transport.sendto(bytes(rep.pack()), addr)


async def _fake(host: str, silent: bool = False) -> tuple[asyncio.DatagramTransport,
                                                          _FakeUpstream, int]:
    fake = _FakeUpstream(silent)
    tr, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: fake, local_addr=(host, 0))
    return tr, fake, tr.get_extra_info("sockname")[1]


async def test_other_names_are_forwarded_upstream() -> None:
    tr, fake, port = await _fake("127.0.53.3")
    try:
        up = upstream.Upstream(["127.0.53.3", "127.0.53.2"], exclude={"127.0.53.2"}, port=port)
        assert up.servers == ["127.0.53.3"]          # never itself
        responder = server.Responder(build_index(), SETTINGS, up)
        async with server.DnsServer(responder, "127.0.53.2", 0) as srv:
            ask = lambda name, tcp=False: query(name, "A", tcp, "127.0.53.2", srv.port)
            r = await asyncio.to_thread(ask, "example.com")
            assert [str(a.rdata) for a in r.rr] == ["192.0.2.1"]
            r = await asyncio.to_thread(ask, "example.com", True)
            assert r.header.rcode == RCODE.SERVFAIL   # the fake has no TCP: fails, fast
            r = await asyncio.to_thread(ask, "x.default.svc.cluster.local")
            assert r.header.rcode == RCODE.NXDOMAIN and fake.seen == 1
    finally:
        tr.close()


async def test_offline_upstream_fails_fast() -> None:
    tr, fake, port = await _fake("127.0.53.4", silent=True)
    try:
        responder = server.Responder(build_index(), SETTINGS,
                                     upstream.Upstream(["127.0.53.4"], port=port))
        async with server.DnsServer(responder, "127.0.53.2", 0) as srv:
            ask = lambda name: query(name, "A", False, "127.0.53.2", srv.port, None, 5)
            t0 = time.monotonic()
            r = await asyncio.to_thread(ask, "example.org")
            first = time.monotonic() - t0
            assert r.header.rcode == RCODE.SERVFAIL and fake.seen == 1
            t0 = time.monotonic()
            r = await asyncio.to_thread(ask, "example.net")
            assert r.header.rcode == RCODE.SERVFAIL
            # The silent server is skipped for a while: the second name fails at once.
            assert fake.seen == 1 and time.monotonic() - t0 < first
    finally:
        tr.close()


async def test_no_upstream_refused_at_once(dns: server.DnsServer) -> None:
    r = await asyncio.to_thread(query, "example.com", "A")
    assert r.header.rcode == RCODE.REFUSED


def test_error_reply_keeps_id_and_question() -> None:
    q = DNSRecord.question("example.com")
    r = DNSRecord.parse(upstream.error_reply(bytes(q.pack()), upstream.RCODE_SERVFAIL))
    assert r.header.id == q.header.id and r.header.rcode == RCODE.SERVFAIL
    assert str(r.q.qname) == "example.com."


async def test_hosts_sync_follows_services_and_cleans_up(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from emunet.dns.hostsfile import HostsSync
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    idx = build_index()
    sync = HostsSync(idx, hosts, "dev")
    sync.start()

    async def wait_for(cond) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + 5
        while not cond(hosts.read_text()):
            assert time.monotonic() < deadline, hosts.read_text()
            await asyncio.sleep(0.01)

    await wait_for(lambda t: "127.96.12.7 my-nginx.default.svc.cluster.local my-nginx.default.svc"
                   in t)
    idx.apply_service("DELETED", {"metadata": {"name": "my-nginx", "namespace": "default"}})
    await wait_for(lambda t: "my-nginx" not in t and "kubernetes.default.svc" in t)
    await sync.stop()
    assert hosts.read_text() == "127.0.0.1 localhost\n"
