"""The built-in servers' listener: a graceful stop resets no connection already queued."""
from __future__ import annotations

import asyncio
import socket

import pytest

from emunet.images import http1, nginx

IP = "127.244.250.31"


def _queued_client(port: int) -> socket.socket:
    """A client whose handshake the kernel completed, not yet accepted by the server."""
    c = socket.socket()
    c.setblocking(False)
    try:
        c.connect((IP, port))
    except BlockingIOError:
        pass
    return c


async def _exchange(c: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(c, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := await asyncio.wait_for(loop.sock_recv(c, 65536), 5):
        data += chunk
    return data


async def _listener() -> tuple[http1.Listener, http1.Connections, int]:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((IP, 0))
    sock.listen(16)
    conns = http1.Connections(65)
    listener = await http1.Listener(nginx.Nginx(), sock, conns).start()
    return listener, conns, sock.getsockname()[1]


async def test_a_graceful_close_serves_the_connections_in_the_queue() -> None:
    listener, conns, port = await _listener()
    clients = [_queued_client(port) for _ in range(3)]
    await asyncio.sleep(0)  # not enough for the loop to accept: still queued
    await listener.close_gracefully()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((IP, port), timeout=2)
    for c in clients:
        reply = await _exchange(c)
        assert reply.startswith(b"HTTP/1.1 200 OK"), reply[:100]
        c.close()
    conns.close_all()


async def test_a_fast_close_resets_them() -> None:
    listener, conns, port = await _listener()
    c = _queued_client(port)
    listener.close()
    with pytest.raises(ConnectionResetError):
        await _exchange(c)
    c.close()
    conns.close_all()
