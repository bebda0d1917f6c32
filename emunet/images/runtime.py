"""What every built-in needs from its process: a loop, signals, logs, sockets.

A built-in runs in a child the kubelet forked from a warm zygote, whose
stdout and stderr are the container's log pipes. So each built-in gets a
fresh event loop (uvloop when installed; the zygote's loop, if any, is not
ours), SIGTERM and SIGINT as a graceful stop, and log lines written with one
`os.write` each, unbuffered, so `kubectl logs -f` sees a line as soon as the
program would have printed it. Listening sockets are made here too, bound to
the pod IP only, so that the address-in-use case fails the way each program
reports it rather than with a Python traceback.
"""
from __future__ import annotations

import asyncio
import errno
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable


class Stop:
    """A built-in's way out: a signal, or the program deciding to exit."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.code = 0
        self.signal: int | None = None

    def exit(self, code: int) -> None:
        if not self.event.is_set():
            self.code = code
            self.event.set()

    def on_signal(self, signum: int) -> None:
        if not self.event.is_set():
            self.signal = signum
            self.event.set()

    async def wait(self) -> int:
        await self.event.wait()
        return self.code


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(main: Callable[[Stop], Awaitable[int]]) -> int:
    """Run `main(stop)` on a fresh loop until it returns its exit code."""
    loop = new_loop()
    asyncio.set_event_loop(loop)
    stop = Stop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.on_signal, signum)
    try:
        return loop.run_until_complete(main(stop))
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
        asyncio.set_event_loop(None)


def out(line: str) -> None:
    """One log line on stdout, written now."""
    _write(1, line)


def err(line: str) -> None:
    """One log line on stderr, written now."""
    _write(2, line)


def _write(fd: int, line: str) -> None:
    data = (line if line.endswith("\n") else line + "\n").encode("utf-8", "replace")
    try:
        while data:
            data = data[os.write(fd, data):]
    except (BrokenPipeError, OSError):
        pass  # The reader is gone; a server must not die of its log.


def go_log(message: str) -> None:
    """A line as Go's `log.Printf` writes it (agnhost): local time, stderr."""
    err(time.strftime("%Y/%m/%d %H:%M:%S ") + message)


class BindError(Exception):
    """A listening socket could not be made; carries errno and its text."""

    def __init__(self, host: str, port: int, code: int) -> None:
        self.reason = os.strerror(code)
        super().__init__(f"bind() to {host}:{port} failed ({code}: {self.reason})")
        self.host, self.port, self.code = host, port, code


def tcp_listener(host: str, port: int, backlog: int = 511) -> socket.socket:
    """A listening TCP socket on host:port (SO_REUSEADDR, as nginx and Go set).

    SO_REUSEADDR lets a restarted container rebind over TIME_WAIT, but two
    live listeners on one address still collide, as two pods with one IP
    would in a shared network namespace.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise BindError(host, port, exc.errno or errno.EINVAL) from None
    sock.setblocking(False)
    return sock


def udp_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise BindError(host, port, exc.errno or errno.EINVAL) from None
    sock.setblocking(False)
    return sock
