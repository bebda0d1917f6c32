"""`kubectl port-forward`: the kubelet's side of the SPDY session.

For each local connection kubectl opens two streams that share a
`requestID` and a `port` header: an `error` stream (kubectl only reads it)
and a `data` stream carrying the bytes both ways. Every stream gets a
SYN_REPLY at once (kubectl waits for it). When the data stream arrives the
kubelet dials the pod at the port, inside the pod's network: here that is
the pod's own loopback IP, where its processes listen. The pod's bytes go
back as DATA frames; the end of either direction is a FIN; when the pod
connection is over, both streams are FIN'd, which is what makes kubectl
finish that connection. A failed dial is written on the error stream,
worded as the kubelet words it, and kubectl prints it.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .. import tasks
from . import probes, spdy

log = logging.getLogger("emunet.kubelet.portforward")
PROTOCOL = "SPDY/3.1+portforward.k8s.io"
Send = Callable[[bytes], Awaitable[None]]


@dataclass
class _Pair:
    port: int
    error_id: int = 0
    data_id: int = 0
    writer: asyncio.StreamWriter | None = None
    early: list[bytes] = field(default_factory=list)   # data before the dial completed
    client_done: bool = False
    task: asyncio.Task[None] | None = None


class Session:
    """One kubectl port-forward session to one pod."""

    def __init__(self, pod_ip: str, pod_ref: str, send: Send) -> None:
        self.pod_ip, self.pod_ref, self._send = pod_ip, pod_ref, send
        self.framer = spdy.Framer()
        self.pairs: dict[str, _Pair] = {}
        self.by_stream: dict[int, _Pair] = {}
        self._lock = asyncio.Lock()     # frames leave whole and in order

    async def send(self, frame: bytes) -> None:
        async with self._lock:
            await self._send(frame)

    async def feed(self, data: bytes) -> None:
        for f in self.framer.feed(data):
            if f.kind == "data":
                await self._on_data(f)
            elif f.type == spdy.SYN_STREAM:
                await self._on_syn(f)
            elif f.type == spdy.PING:
                await self.send(self.framer.ping(f.value))
            elif f.type == spdy.RST_STREAM:
                pair = self.by_stream.get(f.stream_id)
                if pair is not None:
                    self._drop(pair)
            # SETTINGS, WINDOW_UPDATE, GOAWAY, HEADERS: nothing to do.

    async def _on_syn(self, f: spdy.Frame) -> None:
        def header(name: str) -> str:
            return (f.headers.get(name) or [""])[0]
        kind, port_text, request = header("streamtype"), header("port"), header("requestid")
        await self.send(self.framer.syn_reply(f.stream_id))
        if kind not in ("error", "data") or not port_text.isdigit() \
                or not 0 < int(port_text) < 65536:
            await self.send(self.framer.rst_stream(f.stream_id, spdy.PROTOCOL_ERROR))
            return
        key = request or str(f.stream_id)   # old clients paired streams without an id
        pair = self.pairs.setdefault(key, _Pair(int(port_text)))
        self.by_stream[f.stream_id] = pair
        if kind == "error":
            pair.error_id = f.stream_id
        else:
            pair.data_id = f.stream_id
            # spawn logs a failure at once; close() only gathers what is left.
            pair.task = tasks.spawn(self._forward(key, pair), f"portforward-{pair.port}")

    async def _on_data(self, f: spdy.Frame) -> None:
        pair = self.by_stream.get(f.stream_id)
        if pair is None or f.stream_id != pair.data_id:
            return   # kubectl writes nothing on the error stream but its FIN
        if pair.writer is None:
            pair.early.append(f.data)
            pair.client_done = pair.client_done or f.fin
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            if f.data:
                pair.writer.write(f.data)
                await pair.writer.drain()
            if f.fin and pair.writer.can_write_eof():
                pair.writer.write_eof()

    async def _forward(self, key: str, pair: _Pair) -> None:
        try:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.pod_ip, pair.port), 10)
            except (OSError, TimeoutError) as e:
                await self._fail(pair, e)
                return
            pair.writer = writer
            for chunk in pair.early:
                writer.write(chunk)
            pair.early.clear()
            if pair.client_done and writer.can_write_eof():
                writer.write_eof()
            try:
                while chunk := await reader.read(spdy.MAX_DATA):
                    await self.send(self.framer.data(pair.data_id, chunk))
            except ConnectionError:
                pass
            await self.send(self.framer.data(pair.data_id, fin=True))
            await self._close_error_stream(pair)
        except (ConnectionError, RuntimeError):
            pass   # the session went away
        finally:
            self._drop(pair)
            self.pairs.pop(key, None)

    async def _fail(self, pair: _Pair, e: BaseException) -> None:
        message = (f"error forwarding port {pair.port} to pod {self.pod_ref}: failed to "
                   f"connect to {self.pod_ip}:{pair.port} inside the pod's network: "
                   f"{probes.dial_error(self.pod_ip, pair.port, e)}")
        log.info("%s", message)
        if pair.error_id:
            await self.send(self.framer.data(pair.error_id, message.encode()))
        await self.send(self.framer.data(pair.data_id, fin=True))
        await self._close_error_stream(pair)

    async def _close_error_stream(self, pair: _Pair) -> None:
        if pair.error_id:
            await self.send(self.framer.data(pair.error_id, fin=True))

    def _drop(self, pair: _Pair) -> None:
        if pair.writer is not None:
            pair.writer.close()
        for sid in (pair.error_id, pair.data_id):
            self.by_stream.pop(sid, None)

    async def close(self) -> None:
        running = [p.task for p in self.pairs.values() if p.task is not None]
        for p in list(self.pairs.values()):
            self._drop(p)
        for t in running:
            t.cancel()
        await asyncio.gather(*running, return_exceptions=True)
