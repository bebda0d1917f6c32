"""The DNS server: asyncio UDP and TCP on the kube-dns address.

dnslib is used only for the wire format. Parsing and packing one message with
it costs ~100 µs, which caps a Python server near 6-12k queries/s; the same
server sending cached bytes reaches 25-85k (research/perf-anchors.md §5). So
answers are cached *encoded*, keyed by the query's bytes after the ID (the
question exactly as asked, its flags and its EDNS record), and a hit is one
dict lookup plus the client's ID spliced in front. Every index change clears
the cache, so an answer is never staler than the informer; only the first
query after a change pays for dnslib.

Bad input never reaches other clients: a query with QR set is dropped, an
unparsable one gets FORMERR, other opcodes NOTIMP, other classes REFUSED,
several questions FORMERR. TCP connections have an idle timeout (which also
ends a length prefix that promises more bytes than arrive) and are bounded
in number. A UDP answer larger than 512 bytes, or than the EDNS0 size the
client offers, is cut to what fits with TC set; the client asks again over TCP.
"""
from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Coroutine
from typing import Any, cast

from dnslib import CLASS, EDNS0, QTYPE, RCODE, DNSRecord

from .. import tasks
from . import records
from .index import Index
from .upstream import Upstream, error_reply

log = logging.getLogger("emunet.dns.server")

MAX_CACHE = 10_000
MAX_QUERY = 4096
MAX_TCP_CONNECTIONS = 128
TCP_IDLE_SECONDS = 10.0
RCODE_BADVERS = 16
FORWARD = object()   # respond(): "not ours, ask upstream"


class Responder:
    """Bytes in, bytes out: the cache, the checks and the answer (no sockets)."""

    def __init__(self, index: Index, settings: records.Settings,
                 upstream: Upstream | None = None) -> None:
        self.index = index
        self.settings = settings
        self.upstream = upstream or Upstream([])
        self.udp_cache: dict[bytes, bytes] = {}
        self.tcp_cache: dict[bytes, bytes] = {}
        index.listeners.append(self.invalidate)

    def invalidate(self) -> None:
        self.udp_cache.clear()
        self.tcp_cache.clear()

    def respond(self, data: bytes, tcp: bool) -> Any:
        """The reply bytes, None to drop, or FORWARD."""
        data = bytes(data)
        cache = self.tcp_cache if tcp else self.udp_cache
        hit = cache.get(data[2:])
        if hit is not None:
            return data[:2] + hit
        if len(data) < 12 or data[2] & 0x80:
            return None             # too short to answer, or itself a response: drop
        if len(data) > MAX_QUERY:
            return error_reply(data, RCODE.FORMERR)
        try:
            req = DNSRecord.parse(data)
        except Exception:  # noqa: BLE001 -- dnslib raises several kinds on garbage (DNSError, BufferError, ...)
            return error_reply(data, RCODE.FORMERR)
        if req.header.opcode != 0:
            return error_reply(data, RCODE.NOTIMP)
        if len(req.questions) != 1:
            return error_reply(data, RCODE.FORMERR)
        opt = next((r for r in req.ar if r.rtype == QTYPE.OPT), None)
        q = req.q
        reply = req.reply()
        reply.header.rcode = 0
        reply.header.tc = 0
        if opt is not None:
            udp_len = max(512, opt.rclass)
            do = "do" if (opt.ttl >> 15) & 1 else ""
            if (opt.ttl >> 16) & 0xFF != 0:    # EDNS version > 0 (RFC 6891 §6.1.3)
                reply.add_ar(EDNS0(udp_len=udp_len, ext_rcode=RCODE_BADVERS >> 4, flags=do))
                return bytes(reply.pack())
            reply.add_ar(EDNS0(udp_len=udp_len, flags=do))
        else:
            udp_len = 512
        if q.qclass != CLASS.IN:
            reply.header.rcode = RCODE.REFUSED
            return bytes(reply.pack())
        try:
            ans = records.resolve(self.index, str(q.qname), q.qtype, self.settings)
        except Exception:
            log.exception("resolving %s failed", q.qname)
            reply.header.rcode = RCODE.SERVFAIL
            return bytes(reply.pack())
        if ans is None:
            return FORWARD
        reply.header.rcode = ans.rcode
        reply.header.aa = ans.rcode != RCODE.SERVFAIL
        for rr in ans.answer:
            reply.add_answer(rr)
        for rr in ans.authority:
            reply.add_auth(rr)
        for rr in ans.additional:
            reply.add_ar(rr)
        wire = bytes(reply.pack() if tcp else _fit(reply, udp_len))
        if ans.rcode != RCODE.SERVFAIL and self.index.synced:
            if len(cache) >= MAX_CACHE:
                cache.clear()
            cache[data[2:]] = wire[2:]
        return wire

    async def answer(self, data: bytes, tcp: bool) -> bytes | None:
        result = self.respond(data, tcp)
        if result is FORWARD:
            return await self.upstream.forward(data, tcp)
        return result


def _fit(reply: DNSRecord, limit: int) -> bytes:
    """Pack for UDP: drop authority and extra records, then answers, until it fits.

    As miekg/dns's Truncate (what CoreDNS uses): TC is set only when answers
    had to go; the OPT record stays.
    """
    wire = reply.pack()
    if len(wire) <= limit:
        return wire
    reply.auth = []
    reply.ar = [r for r in reply.ar if r.rtype == QTYPE.OPT]
    wire = reply.pack()
    if len(wire) <= limit:
        return wire
    answers = reply.rr
    lo, hi = 0, len(answers) - 1      # the largest count that fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        reply.rr = answers[:mid]
        if len(reply.pack()) <= limit:
            lo = mid
        else:
            hi = mid - 1
    reply.rr = answers[:lo]
    reply.header.tc = 1
    return reply.pack()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.cache = server.responder.udp_cache
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # a datagram protocol's own kind

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        hit = self.cache.get(data[2:])          # the hot path: no parsing at all
        if hit is not None:
            self.transport.sendto(data[:2] + hit, addr)
            return
        try:
            result = self.server.responder.respond(data, tcp=False)
        except Exception:
            log.exception("query from %s failed", addr)
            return
        if result is FORWARD:
            self.server.spawn(self._forward(data, addr))
        elif result is not None:
            self.transport.sendto(result, addr)

    async def _forward(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = await self.server.responder.upstream.forward(data, tcp=False)
        if reply is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("udp error: %s", exc)


class DnsServer:
    """The UDP and TCP listeners around one Responder; an async context manager."""

    def __init__(self, responder: Responder, host: str, port: int = 53) -> None:
        self.responder = responder
        self.host = host
        self.port = port
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._tcp_clients = 0

    async def __aenter__(self) -> DnsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        tasks.spawn(coro, "dns-forward", owner=self._tasks)

    async def start(self) -> None:
        """Bind UDP, then TCP on the same port; port 0 picks a free one (tests)."""
        loop = asyncio.get_running_loop()
        for attempt in range(20):
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=(self.host, self.port))
            port = self._udp.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._client, self.host, port,
                                                       reuse_address=True)
            except OSError:
                self._udp.close()
                if self.port or attempt == 19:
                    raise
                continue
            self.port = port
            break
        log.info("serving DNS on %s:%d udp+tcp", self.host, self.port)

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
            await asyncio.sleep(0)      # the transport lets its socket go on the next turn
        if self._tcp is not None:
            self._tcp.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._tcp is not None:
            await self._tcp.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._tcp_clients >= MAX_TCP_CONNECTIONS:
            writer.close()
            return
        self._tcp_clients += 1
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_SECONDS)
                (n,) = struct.unpack("!H", head)
                if n < 12:
                    break
                data = await asyncio.wait_for(reader.readexactly(n), TCP_IDLE_SECONDS)
                reply = await self.responder.answer(data, tcp=True)
                if reply is None:
                    continue
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except asyncio.CancelledError:
            raise
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        except Exception:
            log.exception("tcp client failed")
        finally:
            self._tcp_clients -= 1
            if task is not None:
                self._tasks.discard(task)
            writer.close()
