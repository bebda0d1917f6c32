"""Container logs: captured from the container's fds, kept in CRI format, served.

Each run of a container writes its own file, `<n>.log` for restart n (so
`--previous` is the file before the current one), in the CRI log format the
kubelet reads: `<RFC3339Nano> <stdout|stderr> <F|P> <text>`, P marking a
partial line (output without a newline yet, such as a shell prompt). The
kubelet reads the container's pipes (or pty master) in its loop; a
`Capture` both appends to the file and fans raw bytes out to attached
clients, and wakes followers.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from collections.abc import Callable
from pathlib import Path


def rfc3339nano(ts: float | None = None) -> str:
    t = time.time() if ts is None else ts
    d = dt.datetime.fromtimestamp(t, dt.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int((t % 1) * 1e9):09d}Z"


def cri_lines(stream: str, data: bytes, ts: str) -> bytes:
    out = []
    parts = data.split(b"\n")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if last and not part:
            break
        tag = b"P" if last else b"F"
        out.append(ts.encode() + b" " + stream.encode() + b" " + tag + b" " + part + b"\n")
    return b"".join(out)


def parse_cri(line: bytes) -> tuple[str, str, bytes] | None:
    """(timestamp, stream, text with its newline restored unless partial)."""
    try:
        ts, stream, tag, text = line.rstrip(b"\n").split(b" ", 3)
    except ValueError:
        return None
    return ts.decode(), stream.decode(), text + (b"" if tag == b"P" else b"\n")



def read_until_eof(fd: int, on_data: Callable[[bytes], None], on_eof: Callable[[], None]) -> None:
    """Read `fd` from the event loop as data comes, until EOF (or EIO: a pty whose slave
    side closed), then stop watching it and call `on_eof`."""
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)

    def ready() -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            on_data(data)
            return
        loop.remove_reader(fd)
        on_eof()

    loop.add_reader(fd, ready)

class Capture:
    """One container run's output: file + live subscribers."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = open(path, "ab", buffering=0)
        self.subscribers: set[Callable[[str, bytes], None]] = set()
        self.changed = asyncio.Event()
        self.closed = False
        self._open_fds: set[int] = set()

    def feed(self, stream: str, data: bytes) -> None:
        if not self._file.closed:
            self._file.write(cri_lines(stream, data, rfc3339nano()))
        for sub in list(self.subscribers):
            sub(stream, data)
        self.changed.set()
        self.changed = asyncio.Event()

    def read_fd(self, fd: int, stream: str, on_eof: Callable[[], None] | None = None) -> None:
        """Read fd (non-blocking) from the loop until EOF/EIO (a pty whose slave closed)."""
        self._open_fds.add(fd)

        def eof() -> None:
            self._open_fds.discard(fd)
            if on_eof is not None:
                on_eof()
            if not self._open_fds:
                self.finish()

        read_until_eof(fd, lambda data: self.feed(stream, data), eof)

    def finish(self) -> None:
        if not self.closed:
            self.closed = True
            self._file.close()
            self.changed.set()


def log_files(directory: Path) -> list[Path]:
    files = [p for p in directory.glob("*.log") if p.stem.isdigit()]
    return sorted(files, key=lambda p: int(p.stem))


def render(lines: list[bytes], *, timestamps: bool, since: float | None) -> list[bytes]:
    out = []
    for line in lines:
        rec = parse_cri(line)
        if rec is None:
            continue
        ts, _stream, text = rec
        if since is not None and parse_ts(ts) < since:
            continue
        out.append((ts.encode() + b" " + text) if timestamps else text)
    return out


def parse_ts(ts: str) -> float:
    base, _, frac = ts.rstrip("Z").partition(".")
    d = dt.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
    return d.timestamp() + (float("0." + frac) if frac else 0.0)


def tail(chunks: list[bytes], n: int | None) -> list[bytes]:
    """The last n lines, a partial line counting with the next ones as kubectl sees them."""
    if n is None or n < 0:
        return chunks
    if n == 0:
        return []
    joined = b"".join(chunks)
    lines = joined.splitlines(keepends=True)
    return lines[-n:]
