"""UDP relay: one backend socket per client address, dropped after an idle timeout.

As the userspace kube-proxy did: the first datagram from a client address picks
an endpoint (round robin or ClientIP affinity) and opens a connected socket to
it; replies on that socket go back to the client from the service address; the
flow ends after `idle_seconds` without traffic either way. A backend that
refuses (ICMP port unreachable) ends its flow, so the next datagram picks again.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import cast

from .. import tasks
from . import metrics as metrics_mod
from .relay import Route

log = logging.getLogger("emunet.proxy.udp")

DEFAULT_IDLE_SECONDS = 30.0


class _Flow(asyncio.DatagramProtocol):
    def __init__(self, service: UdpService, client: tuple[str, int],
                 counters: list[metrics_mod.Counters]) -> None:
        self.service = service
        self.client = client
        self.counters = counters
        self.transport: asyncio.DatagramTransport | None = None
        self.last = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # a datagram protocol's own kind

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.last = time.monotonic()
        for c in self.counters:
            c.bytes_out += len(data)
        front = self.service.transport
        if front is not None:
            front.sendto(data, self.client)

    def error_received(self, exc: Exception) -> None:
        log.debug("%s: flow %s: %s", self.service.route.name, self.client, exc)
        self.service.end(self.client)

    def connection_lost(self, exc: Exception | None) -> None:
        self.service.forget(self.client, self)


class UdpService(asyncio.DatagramProtocol):
    """The listening side on a service address; a Route chooses endpoints."""

    def __init__(self, route: Route, idle_seconds: float = DEFAULT_IDLE_SECONDS) -> None:
        self.route = route
        self.idle_seconds = idle_seconds
        self.transport: asyncio.DatagramTransport | None = None
        self.flows: dict[tuple[str, int], _Flow] = {}
        self._pending: dict[tuple[str, int], list[bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # a datagram protocol's own kind
        self._schedule_sweep()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        flow = self.flows.get(addr)
        if flow is not None and flow.transport is not None:
            flow.last = time.monotonic()
            for c in flow.counters:
                c.bytes_in += len(data)
            flow.transport.sendto(data)
            return
        if addr in self._pending:  # a flow is being set up: keep order
            self._pending[addr].append(data)
            return
        self._pending[addr] = [data]
        tasks.spawn(self._open(addr), f"udp-flow-{addr[0]}:{addr[1]}", owner=self._tasks)

    async def _open(self, addr: tuple[str, int]) -> None:
        route = self.route
        try:
            ep = route.choose(addr[0], False)
            if ep is None:
                route.metrics.refused += 1
                return
            loop = asyncio.get_running_loop()
            sc = route.metrics.service(route.name)
            ec = route.metrics.endpoint(route.name, f"{ep[0]}:{ep[1]}")
            counters = [sc, ec]
            transport, flow = await loop.create_datagram_endpoint(
                lambda: _Flow(self, addr, counters), remote_addr=ep, family=socket.AF_INET)
            for c in counters:
                c.connections_total += 1
                c.connections_active += 1
            self.flows[addr] = flow
            for data in self._pending.get(addr, []):
                for c in counters:
                    c.bytes_in += len(data)
                transport.sendto(data)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 (one flow's failure is its own)
            log.debug("%s: flow for %s failed: %s", route.name, addr, e)
        finally:
            self._pending.pop(addr, None)

    def end(self, client: tuple[str, int]) -> None:
        flow = self.flows.get(client)
        if flow is not None and flow.transport is not None:
            flow.transport.close()

    def forget(self, client: tuple[str, int], flow: _Flow) -> None:
        if self.flows.get(client) is flow:
            del self.flows[client]
            for c in flow.counters:
                c.connections_active -= 1

    def _schedule_sweep(self) -> None:
        loop = asyncio.get_running_loop()
        self._sweeper = loop.call_later(min(self.idle_seconds, 5.0) / 2, self._sweep)

    def _sweep(self) -> None:
        now = time.monotonic()
        for client, flow in list(self.flows.items()):
            if now - flow.last >= self.idle_seconds:
                self.end(client)
        if self.transport is not None and not self.transport.is_closing():
            self._schedule_sweep()

    def close(self) -> None:
        """Stop listening and end every flow."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        for t in self._tasks:
            t.cancel()
        for client in list(self.flows):
            self.end(client)
        if self.transport is not None:
            self.transport.close()


async def serve(sock: socket.socket, route: Route, idle_seconds: float = DEFAULT_IDLE_SECONDS
                ) -> UdpService:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_datagram_endpoint(lambda: UdpService(route, idle_seconds),
                                                   sock=sock)
    return proto
