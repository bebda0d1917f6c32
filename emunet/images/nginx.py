"""The `nginx` image: the stock welcome page, served the way nginx serves it.

What a user sees of a freshly started nginx container is reproduced byte
for byte where it is visible: the welcome page at `/` and `/index.html`
(and `/50x.html`, the image's other file), nginx's own error pages, its
header set and order (`Server`, `Date`, `Content-Type`, `Content-Length`,
`Last-Modified`, `Connection`, `ETag`, `Accept-Ranges`), conditional and
range requests, 405 for methods a static file does not take, and the
`combined`-plus-forwarded access log line on stdout, one per request, with
the address of whoever connected (the proxy, when a Service is in between).
Nothing nginx does not serve is added: test paths belong to agnhost.

Responses are bytes cached for the current second (the `Date` header is
the only part that changes), so a keep-alive request costs a dictionary
look-up, a write and the log line.
"""
from __future__ import annotations

import asyncio
import json
import os
import posixpath
import signal
import time
from typing import TYPE_CHECKING
from urllib.parse import unquote

from emunet import tasks
from emunet.images import http1, paths, runtime

if TYPE_CHECKING:
    import socket

VERSION = "nginx/1.27.3"
# The image's files date from its build; nginx derives ETag from mtime and size.
BUILD_MTIME = 1732636500
KEEPALIVE_TIMEOUT = 65.0

WELCOME = b"""<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""

ERROR_50X = b"""<!DOCTYPE html>
<html>
<head>
<title>Error</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>An error occurred.</h1>
<p>Sorry, the page you are looking for is currently unavailable.<br/>
Please try again later.</p>
<p>If you are the system administrator of this resource then you should check
the error log for details.</p>
<p><em>Faithfully yours, nginx.</em></p>
</body>
</html>
"""

# /usr/share/nginx/html in the image.
FILES = {"/index.html": WELCOME, "/50x.html": ERROR_50X}

REASONS = {200: "OK", 206: "Partial Content", 304: "Not Modified", 400: "Bad Request",
           403: "Forbidden", 404: "Not Found", 405: "Not Allowed", 416: "Requested Range Not Satisfiable"}


def error_page(status: int) -> bytes:
    """nginx's built-in error page (CRLF line ends, as nginx writes them)."""
    title = f"{status} {REASONS[status]}"
    return (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n"
            f"<hr><center>{VERSION}</center>\r\n</body>\r\n</html>\r\n").encode()


DOCROOT = "/usr/share/nginx/html"


def mounted_docroot() -> str | None:
    """Where to read pages from when a volume is mounted at the document root."""
    try:
        mounts = json.loads(os.environ.get("EMUNET_MOUNTS") or "{}")
    except ValueError:
        return None
    if any(m.rstrip("/") == DOCROOT for m in mounts):
        return paths.host_path(DOCROOT)
    return None


def http_date(t: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(t))


LAST_MODIFIED = http_date(BUILD_MTIME)


def etag(body: bytes) -> str:
    return f'"{BUILD_MTIME:x}-{len(body):x}"'


_LOG_ESCAPE = {c: f"\\x{c:02X}" for c in list(range(0x20)) + list(range(0x7F, 0x100))}
_LOG_ESCAPE.update({ord('"'): "\\x22", ord("\\"): "\\x5C"})


def log_field(value: str | None) -> str:
    """A header value as nginx writes it in a log: "-" if absent, unsafe bytes escaped."""
    if not value:
        return "-"
    return value.translate(_LOG_ESCAPE)


def parse_range(spec: str, size: int) -> tuple[int, int] | None | str:
    """One `bytes=a-b` range as (first, last); None to ignore it; "416" if unsatisfiable."""
    unit, _, ranges = spec.partition("=")
    if unit.strip().lower() != "bytes" or "," in ranges:
        return None
    first_text, dash, last_text = ranges.strip().partition("-")
    if not dash or not (first_text.isdigit() or last_text.isdigit()) \
            or (first_text and not first_text.isdigit()) \
            or (last_text and not last_text.isdigit()):
        return None
    if not first_text:
        suffix = int(last_text)
        if suffix == 0:
            return "416"
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = min(int(last_text), size - 1) if last_text else size - 1
    if first >= size:
        return "416"
    if last < first:
        return None
    return first, last


class Nginx:
    """The HTTP application, shared by plain and TLS listeners."""

    def __init__(self) -> None:
        self.cache_second = -1
        self.date = ""
        self.cache: dict[tuple[str, bool, bool], bytes] = {}
        self.docroot = mounted_docroot()

    def now(self) -> None:
        t = time.time()
        second = int(t)
        if second != self.cache_second:
            self.cache_second = second
            self.date = http_date(t)
            self.cache.clear()

    def head(self, status: int, keep_alive: bool, length: int, extra: str = "",
             static: bytes | None = None) -> str:
        lines = [f"HTTP/1.1 {status} {REASONS[status]}\r\nServer: {VERSION}\r\n",
                 f"Date: {self.date}\r\n"]
        if status != 304:
            lines.append(f"Content-Type: text/html\r\nContent-Length: {length}\r\n")
        if static is not None:
            lines.append(f"Last-Modified: {LAST_MODIFIED}\r\n")
        lines.append("Connection: keep-alive\r\n" if keep_alive else "Connection: close\r\n")
        if static is not None:
            lines.append(f"ETag: {etag(static)}\r\n")
        lines.append(extra)
        lines.append("\r\n")
        return "".join(lines)

    def error(self, status: int, req: http1.Request | None, keep_alive: bool) -> tuple[bytes, int]:
        body = error_page(status)
        send = req is None or req.method != "HEAD"
        data = self.head(status, keep_alive, len(body)).encode() + (body if send else b"")
        return data, len(body) if send else 0

    def respond(self, req: http1.Request) -> tuple[bytes, int, int]:
        """(response bytes, status, body bytes sent) for a parsed request."""
        self.now()
        keep = req.keep_alive
        if req.version == "HTTP/1.1" and "host" not in req.headers:
            data, sent = self.error(400, req, False)
            return data, 400, sent
        path = posixpath.normpath(unquote(req.path.split("#")[0]) or "/")
        index = path in ("/", "//")
        if index:
            path = "/index.html"
        if self.docroot is not None:
            return self.from_disk(req, path, keep, index)
        body = FILES.get(path)
        method = req.method
        if method not in ("GET", "HEAD", "POST"):
            status = 405
        elif body is None:
            status = 404
        elif method == "POST":
            status = 405
        else:
            status = 200
        if status != 200:
            data, sent = self.error(status, req, keep)
            return data, status, sent
        assert body is not None
        tag = etag(body)
        if req.headers.get("if-none-match") in (tag, "*") or \
                req.headers.get("if-modified-since") == LAST_MODIFIED:
            return self.head(304, keep, 0, static=body).encode(), 304, 0
        spec = req.headers.get("range")
        if spec:
            span = parse_range(spec, len(body))
            if span == "416":
                data = self.head(416, keep, 0, f"Content-Range: bytes */{len(body)}\r\n").encode()
                return data, 416, 0
            if isinstance(span, tuple):
                first, last = span
                part = body[first:last + 1]
                data = self.head(206, keep, len(part),
                                 f"Content-Range: bytes {first}-{last}/{len(body)}\r\n",
                                 static=body).encode()
                send = method != "HEAD"
                return data + (part if send else b""), 206, len(part) if send else 0
        key = (path, method == "HEAD", keep)
        hit = self.cache.get(key)
        if hit is None:
            hit = self.head(200, keep, len(body), "Accept-Ranges: bytes\r\n",
                            static=body).encode() + (b"" if method == "HEAD" else body)
            self.cache[key] = hit
        return hit, 200, 0 if method == "HEAD" else len(body)

    def from_disk(self, req: http1.Request, path: str, keep: bool,
                  index: bool) -> tuple[bytes, int, int]:
        """A volume mounted at the document root shadows the image's pages, as on a real
        node: its files are served as they are now, a missing index is 403 (nginx does
        not list directories), any other missing file 404."""
        assert self.docroot is not None
        body: bytes | None = None
        if req.method not in ("GET", "HEAD"):
            status = 405
        else:
            try:  # a directory, or nothing there, is an OSError too
                with open(os.path.join(self.docroot, path.lstrip("/")), "rb") as f:
                    body = f.read()
            except OSError:
                pass
            status = 200 if body is not None else 403 if index else 404
        if body is None:
            data, sent = self.error(status, req, keep)
            return data, status, sent
        head_only = req.method == "HEAD"
        data = self.head(200, keep, len(body), "Accept-Ranges: bytes\r\n").encode()
        return data + (b"" if head_only else body), 200, 0 if head_only else len(body)

    def handle(self, req: http1.Request) -> http1.Response:
        data, status, sent = self.respond(req)
        request_line = f"{req.method} {req.target} {req.version}"
        runtime.out(f'{req.peer[0]} - - [{time.strftime("%d/%b/%Y:%H:%M:%S %z")}] '
                    f'"{log_field(request_line)}" {status} {sent} '
                    f'"{log_field(req.headers.get("referer"))}" '
                    f'"{log_field(req.headers.get("user-agent"))}" '
                    f'"{log_field(req.headers.get("x-forwarded-for"))}"')
        return http1.Response(data, close=status == 400)

    def bad_request(self, peer: tuple[str, int]) -> http1.Response:
        self.now()
        data, sent = self.error(400, None, False)
        runtime.out(f'{peer[0]} - - [{time.strftime("%d/%b/%Y:%H:%M:%S %z")}] '
                    f'"-" 400 {sent} "-" "-" "-"')
        return http1.Response(data, close=True)


# ---- the process ----------------------------------------------------------

def notice(message: str) -> None:
    """An error-log line at notice level (the image sends error.log to stderr)."""
    pid = os.getpid()
    runtime.err(f"{time.strftime('%Y/%m/%d %H:%M:%S')} [notice] {pid}#{pid}: {message}")


def emerg(message: str) -> int:
    """A fatal configuration error: what `nginx` prints on stderr before exiting 1."""
    runtime.err(f"nginx: [emerg] {message}")
    return 1


def entrypoint_banner() -> None:
    """The lines the official image's docker-entrypoint.sh prints before nginx starts."""
    for line in (("/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to "
                  "perform configuration"),
                 "/docker-entrypoint.sh: Looking for shell scripts in /docker-entrypoint.d/",
                 ("/docker-entrypoint.sh: Launching /docker-entrypoint.d/"
                  "20-envsubst-on-templates.sh"),
                 "/docker-entrypoint.sh: Configuration complete; ready for start up"):
        runtime.out(line)


def start_notices() -> None:
    notice('using the "epoll" event method')
    notice(VERSION)
    notice("start worker processes")


def listen_all(ports: list[int]) -> list[socket.socket]:
    """Bind every port on the pod IP, or raise BindError for the first that fails."""
    socks: list[socket.socket] = []
    try:
        for port in ports:
            socks.append(runtime.tcp_listener(paths.pod_ip(), port))
    except runtime.BindError:
        for sock in socks:
            sock.close()
        raise
    return socks


async def serve_until_stopped(stop: runtime.Stop, listeners: list[http1.Listener],
                              conns: http1.Connections, graceful_on: tuple[int, ...] = (
                                  signal.SIGQUIT,)) -> int:
    # The sweep goes on while draining: a connection that never sends a request
    # still ends at the keep-alive timeout.
    sweeper = asyncio.get_running_loop().create_task(conns.sweep(), name="nginx-idle-sweep")
    try:
        await stop.event.wait()
        await _shut_down(stop, listeners, conns, stop.signal in graceful_on)
    finally:
        await tasks.cancel_and_wait(sweeper)
    return stop.code


async def _shut_down(stop: runtime.Stop, listeners: list[http1.Listener],
                     conns: http1.Connections, graceful: bool) -> None:
    names: dict[int, str] = {signal.SIGTERM: "15 (SIGTERM)", signal.SIGINT: "2 (SIGINT)",
             signal.SIGQUIT: "3 (SIGQUIT)"}
    if stop.signal is not None:
        how = "shutting down" if graceful else "exiting"
        notice(f"signal {names.get(stop.signal, stop.signal)} received, {how}")
    if graceful:
        # SIGQUIT (the official image's STOPSIGNAL, so what the kubelet sends) lets
        # requests already on a connection finish; SIGTERM and SIGINT cut them off.
        for listener in listeners:
            await listener.close_gracefully()
        notice("gracefully shutting down")
        await conns.drain()
        notice("exiting")
    for listener in listeners:
        listener.close()
    conns.close_all()
    notice("exit")


async def main(argv: list[str], stop: runtime.Stop) -> int:
    asyncio.get_running_loop().add_signal_handler(signal.SIGQUIT, stop.on_signal,
                                                  signal.SIGQUIT)
    ports = paths.container_ports("TCP") or [80]
    entrypoint_banner()
    try:
        socks = listen_all(ports)
    except runtime.BindError as exc:
        return emerg(str(exc))
    app = Nginx()
    conns = http1.Connections(KEEPALIVE_TIMEOUT)
    listeners = [await http1.Listener(app, sock, conns).start() for sock in socks]
    start_notices()
    return await serve_until_stopped(stop, listeners, conns)


def run(argv: list[str]) -> int:
    return runtime.run(lambda stop: main(argv, stop))
