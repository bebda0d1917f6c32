"""A small HTTP/1.1 server protocol for the built-in images, on raw asyncio.

The pod servers are what every benchmark through the proxy measures, so
they sit directly on `asyncio.Protocol`: the request head is split with
`bytes.find`, a keep-alive connection costs no task and no timer per
request, and an application returns the response as ready-made bytes.
This also leaves each emulated program free to write its own headers in its
own order and wording (nginx's `Server:` line and error pages, Go's
`Content-Type: text/plain; charset=utf-8`), which a general framework would
rewrite.

The protocol handles what clients send in practice: keep-alive and
`Connection: close`, HTTP/1.0, pipelined requests answered in order, bodies
by Content-Length or chunked (read and handed over), write back-pressure
(reading pauses while the peer is not reading), and idle connections closed
by one sweeper per server rather than one timer per connection.
"""
from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, cast
from typing import Protocol as TypingProtocol
from urllib.parse import parse_qs

if TYPE_CHECKING:  # types only: a pod's process should not pay for this import
    from ssl import SSLContext

MAX_HEAD = 32 * 1024
MAX_BODY = 64 * 1024 * 1024


class Request:
    __slots__ = (
        "body",
        "headers",
        "keep_alive",
        "local",
        "method",
        "peer",
        "target",
        "version",
    )

    def __init__(self, method: str, target: str, version: str, headers: dict[str, str],
                 peer: tuple[str, int], local: tuple[str, int]) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers        # lower-case names; repeated headers joined by ", "
        self.body = b""
        self.peer = peer
        self.local = local
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.1":
            self.keep_alive = "close" not in connection
        else:
            self.keep_alive = "keep-alive" in connection

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.target.partition("?")[2], keep_blank_values=True)

    def arg(self, name: str) -> str:
        """The first value of a query parameter, "" when absent (Go's FormValue)."""
        values = self.query.get(name)
        return values[0] if values else ""


class Response:
    __slots__ = ("close", "data")

    def __init__(self, data: bytes, close: bool = False) -> None:
        self.data = data      # status line, headers, blank line and body
        self.close = close


class App(TypingProtocol):
    def handle(self, req: Request) -> Response | None | Awaitable[Response | None]:
        """The response; None closes the connection without one."""

    def bad_request(self, peer: tuple[str, int]) -> Response:
        """The answer to a request that cannot be parsed."""


class BadRequest(Exception):
    pass


def parse_head(head: bytes, peer: tuple[str, int], local: tuple[str, int]) -> Request:
    """Parse a request line and header fields (without the blank line)."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte
        raise BadRequest from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[0].isupper() \
            or not parts[2].startswith("HTTP/1.") or not parts[1]:
        raise BadRequest
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return Request(parts[0], parts[1], parts[2], headers, peer, local)


def take_chunked(buf: bytearray) -> tuple[bytes, int] | None:
    """Decode a whole chunked body at the start of `buf`: (body, bytes used), or None if short."""
    pos, body = 0, bytearray()
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        try:
            size = int(bytes(buf[pos:eol]).split(b";")[0].strip(), 16)
        except ValueError:
            raise BadRequest from None
        pos = eol + 2
        if size == 0:
            # Trailer fields end with an empty line.
            end = buf.find(b"\r\n\r\n", pos - 2)
            return (bytes(body), end + 4) if end >= 0 else None
        if len(buf) < pos + size + 2:
            return None
        body += buf[pos:pos + size]
        pos += size + 2
        if len(body) > MAX_BODY:
            raise BadRequest


class Connections:
    """The live connections of one server, for the idle sweep and for shutdown."""

    def __init__(self, idle_timeout: float) -> None:
        self.idle_timeout = idle_timeout
        self.live: set[HTTPProtocol] = set()

    async def sweep(self) -> None:
        while True:
            await asyncio.sleep(min(5.0, self.idle_timeout / 2))
            cutoff = time.monotonic() - self.idle_timeout
            for conn in [c for c in self.live if c.last_active < cutoff and not c.busy]:
                conn.close()

    def close_all(self) -> None:
        for conn in list(self.live):
            conn.close()

    async def drain(self, silent_grace: float = 1.0) -> None:
        """A graceful shutdown's wait: idle keep-alive connections close now, the rest
        after answering the request they are on (or, on a fresh connection, the first
        one), as nginx does on SIGQUIT. A fresh connection that has sent nothing for
        `silent_grace` seconds is closed too, so one idle client cannot hold a pod's
        deletion for its whole grace period."""
        self.draining = True
        self.drained = asyncio.Event()
        for conn in list(self.live):
            if conn.idle:
                conn.close()
        while self.live:
            try:
                await asyncio.wait_for(self.drained.wait(), silent_grace / 2)
            except TimeoutError:
                pass
            cutoff = time.monotonic() - silent_grace
            for conn in list(self.live):
                if conn.silent and conn.last_active < cutoff:
                    conn.close()

    def forget(self, conn: HTTPProtocol) -> None:
        self.live.discard(conn)
        if self.draining and not self.live:
            self.drained.set()

    draining = False
    drained: asyncio.Event


class HTTPProtocol(asyncio.Protocol):
    def __init__(self, app: App, conns: Connections) -> None:
        self.app = app
        self.conns = conns
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)
        self.local: tuple[str, int] = ("", 0)
        self.pending: Request | None = None   # head parsed, body not yet complete
        self.busy = False                      # an async handler is running
        self.task: asyncio.Task[None] | None = None
        self.closing = False
        self.last_active = time.monotonic()
        self.answered = 0

    @property
    def silent(self) -> bool:
        """A fresh connection on which nothing has arrived yet."""
        return self.answered == 0 and not self.busy and self.pending is None and not self.buf

    @property
    def idle(self) -> bool:
        """Between requests of a kept-alive connection: nothing to lose by closing."""
        return self.answered > 0 and not self.busy and self.pending is None and not self.buf

    # ---- asyncio callbacks ------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream server's protocol is handed its stream transport.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername") or ("", 0)
        local = transport.get_extra_info("sockname") or ("", 0)
        self.peer, self.local = (peer[0], peer[1]), (local[0], local[1])
        self.conns.live.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.conns.forget(self)
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self.last_active = time.monotonic()
        if not self.busy:
            self.process()

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.closing:
            self.transport.resume_reading()

    def close(self) -> None:
        if not self.closing and self.transport is not None:
            self.closing = True
            self.transport.close()

    # ---- requests ---------------------------------------------------------

    def process(self) -> None:
        while not self.closing and not self.busy:
            req = self.pending
            if req is None:
                # Clients may send stray CRLFs between requests (RFC 9112 2.2).
                while self.buf[:2] == b"\r\n":
                    del self.buf[:2]
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(self.buf) > MAX_HEAD:
                        self.fail()
                    return
                head = bytes(self.buf[:end])
                del self.buf[:end + 4]
                try:
                    req = parse_head(head, self.peer, self.local)
                except BadRequest:
                    self.fail()
                    return
                self.pending = req
            try:
                if not self.read_body(req):
                    return
            except BadRequest:
                self.fail()
                return
            self.pending = None
            if self.conns.draining:
                req.keep_alive = False   # the answer says `Connection: close`
            result = self.app.handle(req)
            if isinstance(result, Response) or result is None:
                self.send(result, req)
            else:
                self.busy = True
                self.task = asyncio.get_running_loop().create_task(self.finish(result, req))

    def read_body(self, req: Request) -> bool:
        """Move the request body out of the buffer; False if it has not all arrived."""
        if "chunked" in req.headers.get("transfer-encoding", "").lower():
            taken = take_chunked(self.buf)
            if taken is None:
                return False
            req.body, used = taken
            del self.buf[:used]
            return True
        length_text = req.headers.get("content-length")
        if not length_text:
            return True
        if not length_text.isdigit() or int(length_text) > MAX_BODY:
            raise BadRequest
        length = int(length_text)
        if len(self.buf) < length:
            return False
        req.body = bytes(self.buf[:length])
        del self.buf[:length]
        return True

    async def finish(self, result: Awaitable[Response | None], req: Request) -> None:
        try:
            response = await result
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - one bad request must not kill the server
            response = self.app.bad_request(self.peer)
            response.close = True
        self.busy = False
        self.task = None
        self.send(response, req)
        if not self.closing and self.buf:
            self.process()

    def send(self, response: Response | None, req: Request) -> None:
        assert self.transport is not None
        if response is None:
            self.close()
            return
        self.transport.write(response.data)
        self.last_active = time.monotonic()
        self.answered += 1
        if response.close or not req.keep_alive:
            self.close()

    def fail(self) -> None:
        if self.transport is not None:
            self.transport.write(self.app.bad_request(self.peer).data)
        self.close()


async def serve(app: App, sock: socket.socket, conns: Connections,
                ssl: SSLContext | None = None) -> asyncio.AbstractServer:
    """Serve `app` on an already-bound listening socket."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: HTTPProtocol(app, conns), sock=sock, ssl=ssl)


class Listener:
    """A listening socket served by `app`, with a fast and a graceful way to stop."""

    def __init__(self, app: App, sock: socket.socket, conns: Connections,
                 ssl: SSLContext | None = None) -> None:
        self.app, self.sock, self.conns, self.ssl = app, sock, conns, ssl
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> Listener:
        self.server = await serve(self.app, self.sock, self.conns, self.ssl)
        return self

    def close(self) -> None:
        """Stop at once: connections still in the kernel's queue are reset."""
        if self.server is not None:
            self.server.close()

    async def close_gracefully(self) -> None:
        """Stop listening without resetting anyone: the connections the kernel has
        already queued (their handshake done, not yet accepted) are taken and served,
        and the listener is shut down in the same step, so a later connect is refused
        (which a Service proxy retries on another endpoint) rather than reset."""
        taken: list[socket.socket] = []
        self.sock.setblocking(False)
        while True:
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            taken.append(conn)
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close()
        # Concurrently: with TLS each waits for its handshake.
        await asyncio.gather(*(self._adopt(conn) for conn in taken))

    async def _adopt(self, conn: socket.socket) -> None:
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                lambda: HTTPProtocol(self.app, self.conns), conn, ssl=self.ssl)
        except Exception:  # noqa: BLE001 - a failed handshake loses that client only
            conn.close()

