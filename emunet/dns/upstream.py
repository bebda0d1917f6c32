"""Forwarding of names outside the cluster to the host's resolvers.

CoreDNS's default Corefile forwards what the kubernetes plugin does not own
to `/etc/resolv.conf`. emunet does the same, but a laptop is often offline,
and a pod's resolver asks each search-path variant in turn: a forwarder that
waits out long timeouts would make every lookup of an outside name hang for
many seconds. So the whole budget is short (1 s per server, 2 s in all), a
server that timed out is skipped for a few seconds, and a name that failed
is answered SERVFAIL at once for a few seconds (a small negative cache).
With no upstream at all the answer is REFUSED, at once, as a CoreDNS without
a `forward` plugin answers names outside its zones.

The forwarder never sends to itself: nameservers that are the cluster DNS
address, or any address this server listens on, are dropped when read.
Queries pass through as bytes (the ID is the client's); only the failure
replies are built here.
"""
from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("emunet.dns.upstream")

PER_SERVER_TIMEOUT = 1.0
TOTAL_TIMEOUT = 2.0
DOWN_SECONDS = 5.0
NEGATIVE_SECONDS = 5.0
MAX_INFLIGHT = 256
MAX_NEGATIVE = 4096

RCODE_SERVFAIL = 2
RCODE_REFUSED = 5


def read_resolv_conf(path: Path = Path("/etc/resolv.conf")) -> list[str]:
    try:
        text = path.read_text()
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            out.append(parts[1])
    return out


def error_reply(query: bytes, rcode: int) -> bytes | None:
    """The query echoed back as a response with `rcode` (header flags and question kept)."""
    if len(query) < 12:
        return None
    ident, flags = struct.unpack("!HH", query[:4])
    rd = flags & 0x0100
    opcode = flags & 0x7800
    flags = 0x8000 | opcode | rd | 0x0080 | (rcode & 0xF)
    qdcount = struct.unpack("!H", query[4:6])[0]
    body = _question_bytes(query) if qdcount == 1 else None
    if body is None:
        return struct.pack("!HHHHHH", ident, flags, 0, 0, 0, 0)
    return struct.pack("!HHHHHH", ident, flags, 1, 0, 0, 0) + body


def _question_bytes(query: bytes) -> bytes | None:
    i = 12
    while i < len(query):
        n = query[i]
        if n == 0:
            end = i + 5
            return query[12:end] if end <= len(query) else None
        if n & 0xC0:
            return None
        i += n + 1
    return None


class Upstream:
    def __init__(self, servers: list[str], exclude: set[str] | None = None,
                 port: int = 53, clock: Callable[[], float] = time.monotonic) -> None:
        exclude = exclude or set()
        self.servers = [s for s in servers if s not in exclude and ":" not in s]
        self.port = port
        self.clock = clock
        self._down: dict[str, float] = {}
        self._negative: dict[bytes, float] = {}
        self._inflight = 0
        if servers and not self.servers:
            log.warning("no usable upstream resolver (only %s, which is this server)", servers)

    async def forward(self, query: bytes, tcp: bool) -> bytes | None:
        if not self.servers:
            return error_reply(query, RCODE_REFUSED)
        key = query[2:]
        now = self.clock()
        until = self._negative.get(key)
        if until is not None and until > now:
            return error_reply(query, RCODE_SERVFAIL)
        if self._inflight >= MAX_INFLIGHT:
            return error_reply(query, RCODE_SERVFAIL)
        self._inflight += 1
        try:
            reply = await self._try_servers(query, tcp, now)
        finally:
            self._inflight -= 1
        if reply is None:
            if len(self._negative) >= MAX_NEGATIVE:
                self._negative.clear()
            self._negative[key] = self.clock() + NEGATIVE_SECONDS
            return error_reply(query, RCODE_SERVFAIL)
        return reply

    async def _try_servers(self, query: bytes, tcp: bool, start: float) -> bytes | None:
        for server in self.servers:
            if self._down.get(server, 0.0) > self.clock():
                continue
            left = TOTAL_TIMEOUT - (self.clock() - start)
            if left <= 0:
                break
            try:
                coro = self._tcp(server, query) if tcp else self._udp(server, query)
                reply = await asyncio.wait_for(coro, min(PER_SERVER_TIMEOUT, left))
            except asyncio.CancelledError:
                raise
            except (TimeoutError, OSError, asyncio.IncompleteReadError) as e:
                log.info("upstream %s failed: %r", server, e)
                self._down[server] = self.clock() + DOWN_SECONDS
                continue
            if reply is not None and reply[:2] == query[:2]:
                return reply
        return None

    async def _udp(self, server: str, query: bytes) -> bytes | None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bytes] = loop.create_future()

        class _Proto(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: object) -> None:
                if not fut.done() and data[:2] == query[:2]:
                    fut.set_result(data)

            def error_received(self, exc: Exception) -> None:
                if not fut.done():
                    fut.set_exception(exc)

        transport, _ = await loop.create_datagram_endpoint(
            _Proto, remote_addr=(server, self.port))
        try:
            transport.sendto(query)
            return await fut
        finally:
            transport.close()

    async def _tcp(self, server: str, query: bytes) -> bytes | None:
        reader, writer = await asyncio.open_connection(server, self.port)
        try:
            writer.write(struct.pack("!H", len(query)) + query)
            await writer.drain()
            (n,) = struct.unpack("!H", await reader.readexactly(2))
            return await reader.readexactly(n)
        finally:
            writer.close()
