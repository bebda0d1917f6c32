"""The kubelet API on <InternalIP>:10250: containerLogs, exec, attach, portForward.

The API server relays `kubectl logs/exec/attach` here unchanged, so this is
what a kubelet's streaming server answers: logs as plain text (follow streams
until the container's run ends or the client leaves), exec and attach as
WebSockets with the channel protocol (v5.channel.k8s.io, v4 accepted; the
chosen subprotocol is echoed): 0 stdin, 1 stdout, 2 stderr, 3 a
metav1.Status at the end, 4 resize `{"Width","Height"}`, 255 close (stdin
EOF). exec ends with NonZeroExitCode and an ExitCode cause for a non-zero
exit; attach always ends with Success (the pod status carries the exit
code, as kubectl expects). Every request needs the cluster's bearer token.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from .. import tasks
from . import logs, portforward

if TYPE_CHECKING:
    from .containers import Container
    from .pods import PodManager, PodWorker

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
log = logging.getLogger("emunet.kubelet.streams")


def _status(code: int, argv: list[str]) -> dict[str, Any]:
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command "
                       f"[{' '.join(argv)}], exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("true", "1")


class KubeletServer:
    def __init__(self, mgr: PodManager, token: str) -> None:
        self.mgr, self.token = mgr, token
        self.app = web.Application(middlewares=[self._auth])
        self.app.router.add_get("/containerLogs/{ns}/{pod}/{container}", self.container_logs)
        self.app.router.add_get("/exec/{ns}/{pod}/{container}", self.exec)
        self.app.router.add_post("/exec/{ns}/{pod}/{container}", self.exec)
        self.app.router.add_get("/attach/{ns}/{pod}/{container}", self.attach)
        self.app.router.add_get("/portForward/{ns}/{pod}", self.port_forward)
        self.app.router.add_get("/healthz", _healthz)
        self.runner: web.AppRunner | None = None

    async def start(self, host: str, port: int) -> None:
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self.runner.setup()
        await web.TCPSite(self.runner, host, port, reuse_address=True).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    @web.middleware
    async def _auth(self, request: web.Request, handler: Callable[..., Any]) -> Any:
        if request.path != "/healthz" and \
                request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.Response(status=401, text="Unauthorized")
        return await handler(request)

    def _pod(self, request: web.Request) -> PodWorker:
        ns, name = request.match_info["ns"], request.match_info["pod"]
        for w in self.mgr.workers.values():
            if w.namespace == ns and w.name == name:
                return w
        raise web.HTTPNotFound(text=f'pod "{name}" not found on this node')

    def _find(self, request: web.Request) -> tuple[PodWorker, Container]:
        w, cname = self._pod(request), request.match_info["container"]
        for c in w.containers + w.init:
            if c.name == cname:
                return w, c
        raise web.HTTPNotFound(text=f"container {cname} is not valid for pod {w.name}")

    # ---- logs ---------------------------------------------------------------

    async def container_logs(self, request: web.Request) -> web.StreamResponse:
        w, c = self._find(request)
        files = logs.log_files(w.dir / "logs" / c.name)
        previous = _flag(request, "previous")
        if previous:
            current_idx = c.state.restart_count if c.state.state != "terminated" else None
            prev = [f for f in files if current_idx is None or int(f.stem) < current_idx]
            if c.state.state == "terminated":
                prev = files[:-1]
            if not prev:
                raise web.HTTPBadRequest(text=f'previous terminated container "{c.name}" in '
                                         f'pod "{w.name}" not found')
            path = prev[-1]
        else:
            if not files:
                raise web.HTTPBadRequest(text=f'container "{c.name}" in pod "{w.name}" is '
                                         f"waiting to start: ContainerCreating")
            path = files[-1]
        timestamps = _flag(request, "timestamps")
        since = None
        if request.query.get("sinceSeconds"):
            since = time.time() - float(request.query["sinceSeconds"])
        elif request.query.get("sinceTime"):
            try:
                since = logs.parse_ts(request.query["sinceTime"])
            except ValueError:
                raise web.HTTPBadRequest(text="sinceTime: not an RFC3339 time") from None
        tail_n = int(request.query["tailLines"]) if request.query.get("tailLines") else None
        limit = int(request.query["limitBytes"]) if request.query.get("limitBytes") else None
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        sent = 0

        async def emit(chunks: list[bytes]) -> bool:
            nonlocal sent
            for chunk in chunks:
                if limit is not None:
                    chunk = chunk[:max(0, limit - sent)]
                if chunk:
                    await resp.write(chunk)
                    sent += len(chunk)
                if limit is not None and sent >= limit:
                    return False
            return True

        with open(path, "rb") as f:
            data = f.read()
            pos = data.rfind(b"\n") + 1
            lines = data[:pos].splitlines(keepends=True)
            try:
                more = await emit(logs.tail(logs.render(lines, timestamps=timestamps,
                                                        since=since), tail_n))
                follow = _flag(request, "follow") and not previous
                while more and follow:
                    run = c.run
                    live = run is not None and run.capture.path == path and \
                        not run.capture.closed
                    changed = run.capture.changed if live and run is not None else None
                    f.seek(pos)
                    chunk = f.read()
                    end = chunk.rfind(b"\n") + 1
                    if end:
                        pos += end
                        more = await emit(logs.render(chunk[:end].splitlines(keepends=True),
                                                      timestamps=timestamps, since=None))
                        continue
                    if changed is None:
                        break
                    try:
                        await asyncio.wait_for(changed.wait(), 5)
                    except TimeoutError:
                        pass
            except (ConnectionResetError, asyncio.CancelledError):
                return resp
        await resp.write_eof()
        return resp

    # ---- exec and attach ------------------------------------------------------

    async def _upgrade(self, request: web.Request,
                       protocols: tuple[str, ...] = PROTOCOLS) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=protocols, max_msg_size=0, autoping=True)
        await ws.prepare(request)
        return ws

    async def exec(self, request: web.Request) -> web.StreamResponse:
        w, c = self._find(request)
        argv = request.query.getall("command", [])
        ws = await self._upgrade(request)
        if c.run is None or c.run.exited.done() or not argv:
            await ws.send_bytes(b"\x03" + json.dumps(
                {"metadata": {}, "status": "Failure",
                 "message": f'container "{c.name}" is not running' if argv
                 else "no command given"}).encode())
            await ws.close()
            return ws
        tty = _flag(request, "tty")
        want_stdin = _flag(request, "stdin")
        loop = asyncio.get_running_loop()
        closers: list[int] = []
        if tty:
            master, slave = os.openpty()
            child = [slave, slave, slave]
            outs = [(master, 1)]
            stdin_fd: int | None = master
        else:
            in_r, stdin_fd = os.pipe() if want_stdin else (os.open(os.devnull, os.O_RDONLY), None)
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            child = [in_r, out_w, err_w]
            outs = [(out_r, 1), (err_r, 2)]
        try:
            pid = await self.mgr.runtime.spawn(w.exec_request(c, argv, tty), child)
        finally:
            for fd in set(child):
                os.close(fd)
        closers = [fd for fd, _ in outs] + ([stdin_fd] if stdin_fd is not None and not tty else [])
        open_outs = {fd for fd, _ in outs}
        drained = asyncio.Event()
        send_q: asyncio.Queue[bytes] = asyncio.Queue()

        def watch(fd: int, ch: int) -> None:
            def eof() -> None:
                open_outs.discard(fd)
                if not open_outs:
                    drained.set()
            logs.read_until_eof(fd, lambda data: send_q.put_nowait(bytes([ch]) + data), eof)

        for fd, ch in outs:
            watch(fd, ch)

        async def sender() -> None:
            while True:
                await ws.send_bytes(await send_q.get())

        async def receiver() -> None:
            nonlocal stdin_fd
            async for msg in ws:
                if msg.type != WSMsgType.BINARY or not msg.data:
                    continue
                ch, body = msg.data[0], msg.data[1:]
                if ch == 0 and stdin_fd is not None:
                    await _write_all(stdin_fd, body)
                elif ch == 4 and tty:
                    _resize(outs[0][0], body)
                elif ch == 255 and stdin_fd is not None and not tty:
                    os.close(stdin_fd)
                    closers.remove(stdin_fd)
                    stdin_fd = None

        send_task = tasks.spawn(sender(), f"exec-send-{pid}")
        recv_task = tasks.spawn(receiver(), f"exec-receive-{pid}")
        try:
            code = await self.mgr.runtime.wait(pid)
            try:
                await asyncio.wait_for(drained.wait(), 0.3)
            except TimeoutError:
                pass
            while not send_q.empty():
                await ws.send_bytes(send_q.get_nowait())
            await ws.send_bytes(b"\x03" + json.dumps(_status(code, argv)).encode())
        except (ConnectionResetError, RuntimeError):
            self.mgr.runtime.kill(pid, 9)
        finally:
            with contextlib.suppress(Exception):  # a failure of either was logged by spawn
                await tasks.cancel_and_wait(send_task, recv_task)
            for fd in closers:
                try:
                    loop.remove_reader(fd)
                    os.close(fd)
                except OSError:
                    pass
            await ws.close()
        return ws

    async def attach(self, request: web.Request) -> web.StreamResponse:
        w, c = self._find(request)
        ws = await self._upgrade(request)
        run = c.run
        if run is None or run.exited.done():
            await ws.send_bytes(b"\x03" + json.dumps({"metadata": {}, "status": "Success"}).encode())
            await ws.close()
            return ws
        want_out = _flag(request, "stdout") or _flag(request, "stderr")
        send_q: asyncio.Queue[bytes] = asyncio.Queue()

        def sub(stream: str, data: bytes) -> None:
            send_q.put_nowait((b"\x01" if stream == "stdout" else b"\x02") + data)
        if want_out:
            run.capture.subscribers.add(sub)

        async def sender() -> None:
            while True:
                await ws.send_bytes(await send_q.get())

        async def receiver() -> None:
            async for msg in ws:
                if msg.type != WSMsgType.BINARY or not msg.data:
                    continue
                ch, body = msg.data[0], msg.data[1:]
                if ch == 0 and run.stdin_fd is not None:
                    await _write_all(run.stdin_fd, body)
                elif ch == 4:
                    try:
                        size = json.loads(body)
                        run.resize(int(size["Width"]), int(size["Height"]))
                    except (ValueError, KeyError, OSError):
                        pass
                elif ch == 255 and c.spec.get("stdinOnce"):
                    run.close_stdin()

        send_task = tasks.spawn(sender(), f"attach-send-{c.name}")
        recv_task = tasks.spawn(receiver(), f"attach-receive-{c.name}")
        try:
            ends: list[asyncio.Future[Any]] = [run.exited, recv_task]
            await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
            if run.exited.done():
                await asyncio.sleep(0.05)
                while not send_q.empty():
                    await ws.send_bytes(send_q.get_nowait())
                await ws.send_bytes(b"\x03" + json.dumps(
                    {"metadata": {}, "status": "Success"}).encode())
        except (ConnectionResetError, RuntimeError):
            pass
        finally:
            run.capture.subscribers.discard(sub)
            if c.spec.get("stdinOnce"):
                run.close_stdin()
            with contextlib.suppress(Exception):  # a failure of either was logged by spawn
                await tasks.cancel_and_wait(send_task, recv_task)
            await ws.close()
        return ws


    # ---- port-forward ---------------------------------------------------------

    async def port_forward(self, request: web.Request) -> web.StreamResponse:
        """SPDY inside WebSocket binary messages, as kubectl 1.31+ tunnels it."""
        w = self._pod(request)
        ns, name = w.namespace, w.name
        if not w.ip:
            raise web.HTTPNotFound(text=f'pod "{name}" not found on this node')
        ws = await self._upgrade(request, (portforward.PROTOCOL,))
        session = portforward.Session(w.ip, f"{name}, uid {w.uid}", ws.send_bytes)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    await session.feed(msg.data)
        except portforward.spdy.ProtocolError as e:
            log.warning("port-forward to %s/%s: %s", ns, name, e)
        finally:
            await session.close()
            await ws.close()
        return ws


def _resize(fd: int, body: bytes) -> None:
    import fcntl
    import termios
    try:
        size = json.loads(body)
        fcntl.ioctl(fd, termios.TIOCSWINSZ,
                    struct.pack("HHHH", int(size["Height"]), int(size["Width"]), 0, 0))
    except (ValueError, KeyError, OSError):
        pass


async def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
            view = view[n:]
        except BlockingIOError:
            await asyncio.sleep(0.01)
        except OSError:
            return
