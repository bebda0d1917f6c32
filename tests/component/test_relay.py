"""The TCP and UDP relays on real loopback sockets: bytes, half-close, back-pressure, failures."""
from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from emunet.proxy import metrics, relay, udp
from emunet.proxy.balancer import Balancer, ServicePortName

SPN = ServicePortName("default", "echo", "", "TCP")
HOST = "127.0.0.1"


async def wait_for(pred, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached before the deadline")
        await asyncio.sleep(0.01)


def free_port() -> int:
    s = socket.socket()
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there afterwards: a dial is refused
    return port


class Proxy:
    def __init__(self, endpoints, shuffle=lambda lst: None):
        self.metrics = metrics.Metrics()
        self.balancer = Balancer(shuffle=shuffle)
        self.balancer.update(SPN, endpoints)
        self.route = relay.Route(str(SPN), lambda ip, reset: self.balancer.next(SPN, ip, reset),
                                 self.metrics)
        self.server = None
        self.port = 0

    async def __aenter__(self):
        sock = relay.bind(HOST, 0)
        self.port = sock.getsockname()[1]
        self.server = await relay.serve(sock, self.route)
        return self

    async def __aexit__(self, *exc):
        self.server.close()
        await self.server.wait_closed()
        await relay.close_all()

    @property
    def stats(self):
        return self.metrics.service(str(SPN))


async def start_backend(handler):
    server = await asyncio.start_server(handler, HOST, 0)
    return server, server.sockets[0].getsockname()[1]


async def test_half_close_keeps_the_other_direction():
    async def upper_after_eof(r, w):
        data = await r.read()  # until the client's shutdown(SHUT_WR) arrives as EOF
        w.write(data.upper())
        await w.drain()
        w.close()

    backend, port = await start_backend(upper_after_eof)
    async with backend, Proxy([(HOST, port)]) as p:
        r, w = await asyncio.open_connection(HOST, p.port)
        w.write(b"hello " * 1000)
        w.write_eof()
        assert await asyncio.wait_for(r.read(), 5) == b"HELLO " * 1000
        w.close()
        await wait_for(lambda: p.stats.connections_active == 0)
        assert p.stats.bytes_in == 6000 and p.stats.bytes_out == 6000


async def test_back_pressure_with_a_slow_reader():
    total = 64 * 1024 * 1024
    writers = []

    async def flood(r, w):
        writers.append(w)
        chunk = b"x" * (1024 * 1024)
        try:
            for _ in range(total // len(chunk)):
                w.write(chunk)
                await w.drain()
        except ConnectionError:
            pass
        w.close()

    backend, port = await start_backend(flood)
    async with backend, Proxy([(HOST, port)]) as p:
        r, w = await asyncio.open_connection(HOST, p.port, limit=64 * 1024)
        # The client reads nothing: the proxy must stop reading the backend, so the
        # backend's own buffer fills instead of the proxy's memory.
        await wait_for(lambda: writers and
                       writers[0].transport.get_write_buffer_size() > 256 * 1024)
        # Stalled with most of the data still at the backend, not inside the proxy.
        assert p.stats.bytes_out < total // 2
        got = 0
        while True:
            data = await asyncio.wait_for(r.read(1 << 20), 10)
            if not data:
                break
            got += len(data)
        assert got == total
        w.close()


async def test_dial_failure_falls_over_to_the_next_endpoint():
    async def hello(r, w):
        w.write(b"hi")
        await w.drain()
        w.close()

    backend, port = await start_backend(hello)
    dead = (HOST, free_port())
    async with backend, Proxy([dead, (HOST, port)]) as p:
        r, w = await asyncio.open_connection(HOST, p.port)
        assert await asyncio.wait_for(r.read(), 5) == b"hi"
        w.close()
        assert p.stats.dial_failures == 1
        assert p.metrics.endpoint(str(SPN), f"{HOST}:{dead[1]}").dial_failures == 1


async def test_no_endpoint_resets_the_client():
    async with Proxy([]) as p:
        r, w = await asyncio.open_connection(HOST, p.port)
        with pytest.raises(ConnectionResetError):
            data = await asyncio.wait_for(r.read(), 5)
            if not data:
                raise ConnectionResetError  # some kernels report the RST as EOF
        w.close()
        assert p.metrics.refused == 1


async def test_garbage_and_reset_clients_end_only_their_own_connection():
    async def echo(r, w):
        try:
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        except ConnectionError:
            pass
        w.close()

    backend, port = await start_backend(echo)
    async with backend, Proxy([(HOST, port)]) as p:
        loop = asyncio.get_running_loop()
        for _ in range(5):
            s = socket.socket()
            s.setblocking(False)
            await loop.sock_connect(s, (HOST, p.port))
            await loop.sock_sendall(s, bytes(range(256)) * 10)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # RST
        r, w = await asyncio.open_connection(HOST, p.port)
        w.write(b"\x00\xffstill fine")
        assert await asyncio.wait_for(r.readexactly(12), 5) == b"\x00\xffstill fine"
        w.close()
        await wait_for(lambda: p.stats.connections_active == 0)


async def test_backend_reset_closes_the_client():
    async def rst(r, w):
        await r.read(1)
        w.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        w.transport.abort()

    backend, port = await start_backend(rst)
    async with backend, Proxy([(HOST, port)]) as p:
        r, w = await asyncio.open_connection(HOST, p.port)
        w.write(b"x")
        assert await asyncio.wait_for(r.read(), 5) == b""
        w.close()
        await wait_for(lambda: p.stats.connections_active == 0)


async def test_round_robin_over_real_backends():
    seen = []

    def named(name):
        async def h(r, w):
            seen.append(name)
            w.write(name.encode())
            await w.drain()
            w.close()
        return h

    b1, p1 = await start_backend(named("a"))
    b2, p2 = await start_backend(named("b"))
    async with b1, b2, Proxy([(HOST, p1), (HOST, p2)]) as p:
        for _ in range(4):
            r, w = await asyncio.open_connection(HOST, p.port)
            await asyncio.wait_for(r.read(), 5)
            w.close()
    assert seen == ["a", "b", "a", "b"]


class _Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(b"echo:" + data, addr)


class _Collect(asyncio.DatagramProtocol):
    def __init__(self):
        self.got: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data, addr):
        self.got.put_nowait(data)


async def test_udp_flows_echo_and_expire():
    loop = asyncio.get_running_loop()
    backend, _ = await loop.create_datagram_endpoint(_Echo, local_addr=(HOST, 0))
    port = backend.get_extra_info("sockname")[1]
    m = metrics.Metrics()
    bal = Balancer()
    spn = ServicePortName("default", "echo", "", "UDP")
    bal.update(spn, [(HOST, port)])
    route = relay.Route(str(spn), lambda ip, reset: bal.next(spn, ip, reset), m)
    sock = relay.bind(HOST, 0, socket.SOCK_DGRAM)
    front = await udp.serve(sock, route, idle_seconds=0.2)
    addr = sock.getsockname()
    clients = []
    try:
        for i in range(2):
            t, c = await loop.create_datagram_endpoint(_Collect, remote_addr=addr)
            clients.append(t)
            for n in range(3):
                t.sendto(f"{i}-{n}".encode())
            assert [await asyncio.wait_for(c.got.get(), 5) for _ in range(3)] == \
                [f"echo:{i}-{n}".encode() for n in range(3)]
        assert m.service(str(spn)).connections_total == 2
        await wait_for(lambda: not front.flows)  # idle flows end
        assert m.service(str(spn)).connections_active == 0
    finally:
        for t in clients:
            t.close()
        front.close()
        backend.close()



async def test_server_that_speaks_first_under_uvloop():
    """uvloop may deliver bytes before the pair exists; none may be lost or crash."""
    uvloop = pytest.importorskip("uvloop")

    async def scenario():
        async def banner(r, w):
            w.write(b"220 ready\r\n")
            await w.drain()
            w.write((await r.readline()).upper())
            await w.drain()
            w.close()

        backend, port = await start_backend(banner)
        async with backend, Proxy([(HOST, port)]) as p:
            for _ in range(20):
                r, w = await asyncio.open_connection(HOST, p.port)
                w.write(b"helo\n")
                assert await asyncio.wait_for(r.read(), 5) == b"220 ready\r\nHELO\n"
                w.close()

    await asyncio.to_thread(uvloop.run, scenario())


async def test_relay_scenarios_under_uvloop():
    uvloop = pytest.importorskip("uvloop")
    for scenario in (test_half_close_keeps_the_other_direction,
                     test_dial_failure_falls_over_to_the_next_endpoint,
                     test_garbage_and_reset_clients_end_only_their_own_connection,
                     test_udp_flows_echo_and_expire):
        await asyncio.to_thread(uvloop.run, scenario())
