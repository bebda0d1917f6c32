"""TCP relay: accept a client, dial an endpoint, splice the two until both are done.

The old userspace kube-proxy ran two io.Copy goroutines per connection; here two
asyncio Protocols forward to each other with `transport.write`, which measured
fastest on this machine for small requests (os.splice's pipe setup cost more
than it saved). What kube-proxy kept, this keeps:
- a failed dial tries the next endpoint, on the ladder 0.25, 0.5, 1, 2 s, with
  the client's affinity reset so it does not stick to a dead pod;
- half-close: one side's EOF becomes a shutdown(SHUT_WR) of the other, and the
  connection ends when both directions are done;
- back-pressure: when a side's write buffer passes its high-water mark, the
  other side stops reading until it drains;
- bytes untouched (TLS stays end to end), except on a listener given an
  SSLContext, where the load balancer ends TLS (see tls.py).
Every per-connection failure ends that connection only.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, cast

from .. import tasks
from . import metrics as metrics_mod
from .balancer import Endpoint

if TYPE_CHECKING:
    from ssl import SSLContext

log = logging.getLogger("emunet.proxy.relay")

DIAL_TIMEOUTS = (0.25, 0.5, 1.0, 2.0)
HIGH_WATER = 512 * 1024
EARLY_LIMIT = 256 * 1024  # bytes held per side before the pair is made
Chooser = Callable[[str, bool], "Endpoint | None"]


class Route:
    """What a listener asks per connection; the proxier mutates it when endpoints change."""

    def __init__(self, name: str, choose: Chooser, metrics: metrics_mod.Metrics,
                 needs_client_ip: bool = True) -> None:
        self.name = name
        self.choose = choose
        self.metrics = metrics
        self.timeouts: tuple[float, ...] = DIAL_TIMEOUTS
        # False when the chooser ignores the client (no affinity, no Local policy):
        # the per-connection getpeername is then skipped.
        self.needs_client_ip = needs_client_ip
        self.service = metrics.service(name)
        self._endpoint_counters: dict[Endpoint, metrics_mod.Counters] = {}

    def endpoint_counters(self, ep: Endpoint) -> metrics_mod.Counters:
        c = self._endpoint_counters.get(ep)
        if c is None:
            c = self._endpoint_counters[ep] = self.metrics.endpoint(self.name, f"{ep[0]}:{ep[1]}")
        return c


def bind(host: str, port: int, kind: int = socket.SOCK_STREAM) -> socket.socket:
    """A bound (and for TCP listening) non-blocking socket; raises OSError as bind does."""
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(4096)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


async def serve(sock: socket.socket, route: Route, ssl: SSLContext | None = None
                ) -> asyncio.AbstractServer:
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _Client(route), sock=sock, ssl=ssl, backlog=4096)


def reset(transport: asyncio.Transport) -> None:
    """Close with RST (SO_LINGER 0): what a client sees when kube-proxy rejects."""
    sock = transport.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    transport.abort()


class _Half(asyncio.Protocol):
    """One side of a spliced pair; `peer` is the other side."""

    transport: asyncio.Transport
    peer: _Half | None = None

    def __init__(self) -> None:
        self.early: list[bytes] = []  # bytes that arrived before pairing
        self.early_bytes = 0
        self.paused = False
        self.eof = False
        self.closed = False
        self.counters: list[metrics_mod.Counters] = []
        self.inbound = True  # data received here flows client -> endpoint

    def data_received(self, data: bytes) -> None:
        if self.peer is None:
            # Bytes before the pair is made wait here; reading pauses only past a
            # bound, since pausing and resuming every new connection costs two
            # epoll_ctl calls per side for nothing in the common case.
            self.early.append(data)
            self.early_bytes += len(data)
            if self.early_bytes > EARLY_LIMIT and not self.paused:
                self.paused = True
                self.transport.pause_reading()
            return
        self.peer.transport.write(data)
        n = len(data)
        if self.inbound:
            for c in self.counters:
                c.bytes_in += n
        else:
            for c in self.counters:
                c.bytes_out += n

    def eof_received(self) -> bool:
        self.eof = True
        peer = self.peer
        if peer is None:
            return True  # ended before pairing: handled when the pair is made
        if peer.closed:
            return False
        if peer.eof:
            peer.transport.close()
            return False
        if peer.transport.can_write_eof():
            peer.transport.write_eof()
            return True  # keep our write side open: the other direction may still flow
        peer.transport.close()  # a TLS transport cannot half-close: flush and end
        return False

    def pause_writing(self) -> None:
        if self.peer is not None and not self.peer.closed:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and not self.peer.closed:
            self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        peer = self.peer
        if peer is not None and not peer.closed:
            peer.transport.close()  # flushes what is buffered, then FIN


class _Backend(_Half):
    def __init__(self) -> None:
        super().__init__()
        self.inbound = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream protocol's own kind
        self.transport.set_write_buffer_limits(high=HIGH_WATER)
        # A server that speaks first (SSH, SMTP, MySQL) may send before the pair is
        # made: data_received holds those bytes in `early` until then.


class _Client(_Half):
    # Connection setups in flight, so none is garbage-collected mid-dial.
    setups: ClassVar[set[asyncio.Task[Any]]] = set()

    def __init__(self, route: Route) -> None:
        super().__init__()
        self.route = route
        self.service_counters: metrics_mod.Counters | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream protocol's own kind
        self.transport.set_write_buffer_limits(high=HIGH_WATER)
        tasks.spawn(self._connect(), f"relay-connect-{self.route.name}", owner=_Client.setups)

    async def _connect(self) -> None:
        route = self.route
        try:
            client_ip = ""
            if route.needs_client_ip:
                peer = self.transport.get_extra_info("peername")
                client_ip = peer[0] if peer else ""
            sc = route.service
            loop = asyncio.get_running_loop()
            backend: _Backend | None = None
            reset_affinity = False
            ep: Endpoint | None = None
            for timeout in route.timeouts:
                ep = route.choose(client_ip, reset_affinity)
                if ep is None:
                    break
                try:
                    # asyncio.timeout, not wait_for: no extra task per connection.
                    async with asyncio.timeout(timeout):
                        _, backend = await loop.create_connection(_Backend, ep[0], ep[1])
                    break
                except (TimeoutError, OSError) as e:
                    log.debug("%s: dial %s:%d failed: %s", route.name, ep[0], ep[1], e)
                    sc.dial_failures += 1
                    route.endpoint_counters(ep).dial_failures += 1
                    reset_affinity = True
                    backend = None
            if backend is None or ep is None:
                route.metrics.refused += 1
                if not self.closed:
                    reset(self.transport)
                return
            if self.closed:  # the client left while we dialled
                backend.transport.close()
                return
            ec = route.endpoint_counters(ep)
            self.counters = backend.counters = [sc, ec]
            for c in self.counters:
                c.connections_total += 1
                c.connections_active += 1
            self.service_counters = sc
            self.peer, backend.peer = backend, self
            for half in (self, backend):
                early, half.early = half.early, []
                for data in early:
                    half.data_received(data)
                if half.eof and not half.closed and not half.eof_received():
                    half.transport.close()
            for half in (self, backend):
                if half.paused and not half.closed:
                    half.paused = False
                    half.transport.resume_reading()
        except asyncio.CancelledError:
            if not self.closed:
                self.transport.abort()
            raise
        except Exception:
            log.exception("%s: connection setup failed", route.name)
            if not self.closed:
                self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.counters and not self.closed:
            for c in self.counters:
                c.connections_active -= 1
        super().connection_lost(exc)



async def close_all() -> None:
    """Cancel connection setups still in flight (used at shutdown)."""
    for t in list(_Client.setups):
        t.cancel()
    if _Client.setups:
        await asyncio.gather(*_Client.setups, return_exceptions=True)
