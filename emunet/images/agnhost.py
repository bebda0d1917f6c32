"""The Kubernetes e2e test image `agnhost`: `netexec`, `serve-hostname`, `pause`.

Service networking is tested upstream with these subcommands, and a test
written for them should pass here unchanged: the same endpoints and flags,
the same bodies (`/hostname` is the pod's name, `/clientip` the caller's
`ip:port` as the pod sees it, so the proxy's address when proxied), the
same UDP commands (which agnhost lower-cases before answering), the same
exits (`/shutdown` and `/exit` end the process without an answer, as
`os.Exit` does), and Go's log lines on stderr. Servers bind the pod IP
only, where the real image binds every address of its own network
namespace.
"""
from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from typing import cast

from emunet.images import gostyle, http1, paths, runtime

COMMANDS = ("netexec", "serve-hostname", "pause")
_TEXT = "text/plain; charset=utf-8"

# A handler's way to answer 200 with a text body, bound to its request.
Ok = Callable[[str | bytes], http1.Response]


def go_now() -> str:
    """time.Now() as `%v` prints it (monotonic reading included)."""
    t = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))
    nanos = int((t % 1) * 1e9)
    return f"{stamp}.{nanos:09d} {time.strftime('%z %Z', time.localtime(t))} " \
           f"m=+{time.monotonic() - _START:.9f}"


_START = time.monotonic()


class Netexec:
    """netexec's HTTP handlers."""

    def __init__(self, stop: runtime.Stop, port: int) -> None:
        self.stop = stop
        self.port = port
        self.udp_ready = False
        self.tasks: set[asyncio.Task[None]] = set()

    def bad_request(self, peer: tuple[str, int]) -> http1.Response:
        return http1.Response(gostyle.BAD_REQUEST, close=True)

    def handle(self, req: http1.Request) -> http1.Response | None | Awaitable[http1.Response | None]:
        path = req.path
        head_only = req.method == "HEAD"
        close = not req.keep_alive

        def ok(body: str | bytes, code: int = 200) -> http1.Response:
            data = body.encode() if isinstance(body, str) else body
            return http1.Response(gostyle.response(code, data, close=close,
                                                   head_only=head_only))

        if path in ("/hostname", "/hostName"):
            runtime.go_log(f"GET {path}")
            return ok(paths.hostname())
        if path == "/clientip":
            runtime.go_log("GET /clientip")
            return ok(f"{req.peer[0]}:{req.peer[1]}")
        if path == "/serverport":
            runtime.go_log("GET /serverport")
            return ok(str(self.port))
        if path == "/healthz":
            runtime.go_log("GET /healthz")
            return ok(b"", 200 if self.udp_ready else 412)
        if path == "/echo":
            msg, code_text = req.arg("msg"), req.arg("code")
            runtime.go_log(f"GET /echo?msg={msg}&code={code_text}")
            if code_text:
                try:
                    return ok(msg, int(code_text))
                except ValueError:
                    return ok(f'argument \'code\' must be an integer or empty, got "{code_text}"\n')
            return ok(msg)
        if path == "/redirect":
            return self.redirect(req, ok)
        if path == "/shutdown":
            runtime.go_log("GET /shutdown")
            self.stop.exit(0)
            return None
        if path == "/exit":
            return self.exit(req, ok)
        if path == "/shell":
            return self.shell(req, ok)
        if path == "/dial":
            return self.dial(req, ok)
        if path == "/upload":
            runtime.go_log("GET /upload")
            return ok(gostyle.go_json({"error": "Unable to upload file."}))
        runtime.go_log("GET /")
        return ok(f"NOW: {go_now()}")

    def redirect(self, req: http1.Request, ok: Ok) -> http1.Response:
        location, code_text = req.arg("location"), req.arg("code")
        runtime.go_log(f"{req.method} /redirect?msg={location}&code={code_text}")
        code = 302
        if code_text:
            try:
                code = int(code_text)
            except ValueError:
                return ok(f'argument \'code\' must be an integer or empty, got "{code_text}"\n')
        body = b""
        if req.method in ("GET", "HEAD"):
            body = f'<a href="{location}">{gostyle.status_line(code)[13:].strip()}</a>.\n\n'.encode()
        return http1.Response(gostyle.response(
            code, body, headers=[("Location", location)] + (
                [("Content-Type", "text/html; charset=utf-8")] if body else []),
            close=not req.keep_alive, head_only=req.method == "HEAD"))

    def exit(self, req: http1.Request, ok: Ok) -> http1.Response | None | Awaitable[http1.Response | None]:
        wait_text, timeout_text, code_text = req.arg("wait"), req.arg("timeout"), req.arg("code")
        runtime.go_log(f"GET /exit?code={code_text}&timeout={timeout_text}&wait={wait_text}")
        try:
            timeout = gostyle.parse_duration(timeout_text)
        except ValueError:
            return ok("argument 'timeout' must be a valid golang duration or empty, "
                      f'got "{timeout_text}"\n')
        try:
            wait = gostyle.parse_duration(wait_text)
        except ValueError:
            return ok("argument 'wait' must be a valid golang duration or empty, "
                      f'got "{wait_text}"\n')
        try:
            code = int(code_text) if code_text else 0
        except ValueError:
            return ok(f"argument 'code' must be an integer [0-127] or empty, got \"{code_text}\"\n")
        runtime.go_log(f"Will begin shutdown in {gostyle.format_duration(wait)}, allowing "
                       f"{gostyle.format_duration(timeout)} for connections to close, "
                       f"then will exit with {code}")

        async def later() -> http1.Response | None:
            await asyncio.sleep(wait)
            if timeout == 0:
                self.stop.exit(code)
                return None
            # A graceful shutdown answers this request, then stops.
            asyncio.get_running_loop().call_soon(self.stop.exit, code)
            return ok(b"")
        return later()

    async def shell(self, req: http1.Request, ok: Ok) -> http1.Response:
        cmd = req.arg("shellCommand") or req.arg("cmd")
        runtime.go_log(f"GET /shell?cmd={cmd}")
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", cmd, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        output, _ = await proc.communicate()
        result: dict[str, str] = {}
        if output:
            result["output"] = output.decode("utf-8", "replace")
        if proc.returncode:
            result["error"] = (f"exit status {proc.returncode}" if proc.returncode > 0
                               else f"signal: {signal.Signals(-proc.returncode).name}")
        runtime.go_log(f"Output: map{result}")
        return ok(gostyle.go_json(result))

    async def dial(self, req: http1.Request, ok: Ok) -> http1.Response:
        host, port, request = req.arg("host"), req.arg("port"), req.arg("request")
        protocol, tries_text = req.arg("protocol"), req.arg("tries")
        runtime.go_log(f"GET /dial?host={host}&protocol={protocol}&port={port}"
                       f"&request={request}&tries={tries_text}")
        try:
            tries = int(tries_text) if tries_text else 1
        except ValueError:
            return http1.Response(gostyle.error(400, "tries parameter is invalid. "
                                                f'strconv.Atoi: parsing "{tries_text}": '
                                                "invalid syntax"))
        if not request:
            return http1.Response(gostyle.error(400, "request parameter not specified. <nil>"))
        if protocol.lower() not in ("", "http", "udp"):
            return http1.Response(gostyle.error(400, f"unsupported protocol. {protocol}"))
        if not port.isdigit():
            return http1.Response(gostyle.error(
                400, f"host and/or port param are invalid. address {host}:{port}: invalid port"))
        responses: list[str] = []
        errors: list[str] = []
        last = ""
        for _ in range(max(tries, 0)):
            try:
                if protocol.lower() == "udp":
                    last = await dial_udp(host, int(port), request)
                else:
                    last = await dial_http(host, int(port), request)
                responses.append(last)
            except Exception as exc:  # noqa: BLE001 - every failure is a reported error
                last = ""
                errors.append(str(exc) or type(exc).__name__)
        output: dict[str, list[str]] = {}
        if last:
            output["responses"] = responses
        if errors:
            output["errors"] = errors
        return ok(gostyle.go_json(output))


async def dial_http(host: str, port: int, request: str) -> str:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
    try:
        writer.write(f"GET /{request} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                     f"User-Agent: Go-http-client/1.1\r\nConnection: close\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(-1), 5)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        taken = http1.take_chunked(bytearray(body))
        body = taken[0] if taken else body
    return body.decode("utf-8", "replace")


async def dial_udp(host: str, port: int, request: str) -> str:
    loop = asyncio.get_running_loop()
    reply: asyncio.Future[bytes] = loop.create_future()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            if not reply.done():
                reply.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=(host, port))
    try:
        transport.sendto(request.encode())
        try:
            return (await asyncio.wait_for(reply, 5)).decode("utf-8", "replace")
        except TimeoutError:
            raise OSError("reading from udp connection failed. err:'read udp: i/o timeout'") \
                from None
    finally:
        transport.close()


def udp_answer(text: bytes, client: tuple[str, int]) -> bytes | None:
    """netexec's UDP commands; agnhost lower-cases and trims what it receives."""
    received = text.decode("utf-8", "replace").strip().lower()
    if received == "hostname":
        return paths.hostname().encode()
    if received.startswith("echo "):
        return received.split(" ", 1)[1].encode()
    if received == "clientip":
        return f"{client[0]}:{client[1]}".encode()
    if received:
        runtime.go_log(f"Unknown UDP command received from {client[0]}:{client[1]}: {received}")
    return None


class UDPServer(asyncio.DatagramProtocol):
    def __init__(self, answer: Callable[[bytes, tuple[str, int]], bytes | None]) -> None:
        self.answer = answer
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A datagram endpoint's protocol is handed its datagram transport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.answer(data, addr)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


async def netexec(argv: list[str], stop: runtime.Stop) -> int:
    flags = gostyle.parse_flags(argv, {
        "http-port": 8080, "udp-port": 8081, "sctp-port": -1, "tls-cert-file": "",
        "tls-private-key-file": "", "http-override": "", "udp-listen-addresses": ""})
    http_port, udp_port = int(flags["http-port"]), int(flags["udp-port"])
    loop = asyncio.get_running_loop()
    app = Netexec(stop, http_port)
    ip = paths.pod_ip()
    transports: list[asyncio.BaseTransport] = []
    if udp_port != -1:
        try:
            sock = runtime.udp_socket(ip, udp_port)
        except runtime.BindError as exc:
            runtime.go_log(f"Error occurred: failed to create listener for UDP address "
                           f":{udp_port}:listen udp :{udp_port}: bind: {exc.reason.lower()}")
            return 1
        transport, _ = await loop.create_datagram_endpoint(
            lambda: UDPServer(udp_answer), sock=sock)
        transports.append(transport)
        runtime.go_log(f"Started UDP server on port  {udp_port}")
        app.udp_ready = True
    ssl_ctx = None
    if flags["tls-cert-file"]:
        import ssl
        ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ssl_ctx.load_cert_chain(paths.host_path(str(flags["tls-cert-file"])),
                                paths.host_path(str(flags["tls-private-key-file"])) or None)
    runtime.go_log(f"Started HTTP server on port {http_port}")
    try:
        listener = runtime.tcp_listener(ip, http_port)
    except runtime.BindError as exc:
        runtime.go_log(f"listen tcp :{http_port}: bind: {exc.reason.lower()}")
        return 1
    conns = http1.Connections(180.0)
    server = await http1.serve(app, listener, conns, ssl=ssl_ctx)
    try:
        await stop.event.wait()
    finally:
        server.close()
        conns.close_all()
        for t in transports:
            t.close()
    # Go's default for SIGTERM is to die by the signal; a pod's status shows 143.
    if stop.signal is not None:
        return 128 + stop.signal
    return stop.code


class ServeHostname:
    def __init__(self, close: bool) -> None:
        self.close = close
        self.name = paths.hostname().encode()

    def bad_request(self, peer: tuple[str, int]) -> http1.Response:
        return http1.Response(gostyle.BAD_REQUEST, close=True)

    def handle(self, req: http1.Request) -> http1.Response:
        runtime.go_log(f"HTTP request from {req.peer[0]}:{req.peer[1]}")
        headers = [("Connection", "close")] if self.close else []
        data = gostyle.response(200, self.name, headers=headers,
                                close=not req.keep_alive, head_only=req.method == "HEAD")
        return http1.Response(data, close=self.close)


async def serve_hostname(argv: list[str], stop: runtime.Stop) -> int:
    flags = gostyle.parse_flags(argv, {"tcp": False, "udp": False, "http": True,
                                       "close": False, "port": 9376})
    if flags["http"] and (flags["tcp"] or flags["udp"]):
        runtime.go_log("Can't server TCP/UDP mode and HTTP mode at the same time")
        return 1
    port = int(flags["port"])
    ip = paths.pod_ip()
    loop = asyncio.get_running_loop()
    name = paths.hostname().encode()
    closers: list[object] = []
    try:
        if flags["tcp"]:
            async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                peer = writer.get_extra_info("peername")
                runtime.go_log(f"TCP request from {peer[0]}:{peer[1]}")
                writer.write(name)
                writer.close()
            closers.append(await asyncio.start_server(one, sock=runtime.tcp_listener(ip, port)))
        if flags["udp"]:
            def answer(data: bytes, addr: tuple[str, int]) -> bytes:
                runtime.go_log(f"UDP request from {addr[0]}:{addr[1]}")
                return name
            transport, _ = await loop.create_datagram_endpoint(
                lambda: UDPServer(answer), sock=runtime.udp_socket(ip, port))
            closers.append(transport)
        if flags["http"]:
            conns = http1.Connections(180.0)
            closers.append(await http1.serve(ServeHostname(bool(flags["close"])),
                                             runtime.tcp_listener(ip, port), conns))
    except runtime.BindError as exc:
        runtime.go_log(f"listen tcp :{port}: bind: {exc.reason.lower()}")
        return 1
    runtime.go_log(f"Serving on port {port}.")
    await stop.event.wait()
    if stop.signal == signal.SIGTERM:
        # serve-hostname keeps serving for a minute after SIGTERM, so that the
        # endpoint's removal, not the process's exit, ends its traffic.
        runtime.go_log("Shutting down after receiving signal: terminated.")
        runtime.go_log("Awaiting pod deletion.")
        stop.event.clear()
        try:
            await asyncio.wait_for(stop.event.wait(), 60)
        except TimeoutError:
            pass
        return 0
    return 128 + (stop.signal or 0) if stop.signal else stop.code


async def pause(argv: list[str], stop: runtime.Stop) -> int:
    runtime.out("Paused")
    await stop.event.wait()
    # agnhost's pause exits 1 on SIGINT and 2 on SIGTERM.
    codes: dict[int | None, int] = {signal.SIGINT: 1, signal.SIGTERM: 2}
    return codes.get(stop.signal, 0)


async def main(argv: list[str], stop: runtime.Stop) -> int:
    args = argv[1:]
    if not args:
        args = ["pause"]
    command, rest = args[0], args[1:]
    runners = {"netexec": netexec, "serve-hostname": serve_hostname, "pause": pause}
    if command not in runners:
        runtime.err(f'Error: unknown command "{command}" for "agnhost"')
        runtime.err("Run 'agnhost --help' for usage.")
        return 1
    try:
        return await runners[command](rest, stop)
    except gostyle.FlagError as exc:
        runtime.err(f"Error: {exc}")
        runtime.err(f"Usage:\n  agnhost {command} [flags]")
        return 1


def run(argv: list[str]) -> int:
    return runtime.run(lambda stop: main(argv, stop))
