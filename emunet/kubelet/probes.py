"""Readiness, liveness and startup probes, with Kubernetes' defaults and words.

httpGet (to the pod IP unless `host` is set; 200-399 passes), tcpSocket
(a connect), and exec (the command in the container's namespaces; exit 0
passes, its output is the failure message). Defaults as in the API:
periodSeconds 10, timeoutSeconds 1, successThreshold 1, failureThreshold 3,
initialDelaySeconds 0. Until a startup probe succeeds, the other probes wait
and the container is neither `started` nor ready. Readiness sets the
container's `ready`; liveness (or startup) failing failureThreshold times in
a row stops the container as the kubelet does, SIGTERM then SIGKILL after
the grace period, and it restarts by the pod's restartPolicy.

Failure messages are what the kubelet's Go prober prints, since users grep
events for them: `HTTP probe failed with statuscode: 404`, `Get "http://
10.244.1.2:80/": dial tcp 10.244.1.2:80: connect: connection refused`.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
from typing import TYPE_CHECKING, Any

import aiohttp

from .. import tasks
from . import logs

if TYPE_CHECKING:
    from .containers import Container
    from .pods import PodWorker

log = logging.getLogger("emunet.kubelet.probes")
Obj = dict[str, Any]
MAX_OUTPUT = 10 * 1024   # the kubelet keeps at most 10 KiB of an exec probe's output


def _port(spec: Obj, container: Obj) -> int:
    port = spec.get("port")
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"port {port!r} not found in the container's ports")


def dial_error(host: str, port: int, e: BaseException) -> str:
    """An OSError from a connect, as Go's net.Dial words it."""
    if isinstance(e, TimeoutError):
        return f"dial tcp {host}:{port}: i/o timeout"
    code = getattr(e, "errno", None)
    if code is None and e.__cause__ is not None:
        code = getattr(e.__cause__, "errno", None)
    if code is None:
        for arg in getattr(e, "args", ()):
            code = getattr(arg, "errno", None) or code
    text = {errno.ECONNREFUSED: "connection refused", errno.EHOSTUNREACH: "no route to host",
            errno.ENETUNREACH: "network is unreachable",
            errno.ECONNRESET: "connection reset by peer"}.get(code or 0)
    if text is None:
        text = os.strerror(code).lower() if code else str(e)
    return f"dial tcp {host}:{port}: connect: {text}"


def http_error(url: str, host: str, port: int, e: BaseException) -> str:
    """A failed GET of a probe or hook, as the kubelet words it."""
    if isinstance(e, aiohttp.ClientConnectorError):
        return f'Get "{url}": {dial_error(host, port, e.os_error)}'
    if isinstance(e, aiohttp.ServerDisconnectedError):
        return f'Get "{url}": EOF'
    return f'Get "{url}": {e}'


def http_target(h: Obj, c: Container, w: PodWorker) -> tuple[str, str, int, dict[str, str]]:
    """An httpGet action's URL, host, port and headers (the pod IP unless `host`)."""
    host = h.get("host") or w.ip
    port = _port(h, c.spec)
    scheme = (h.get("scheme") or "HTTP").lower()
    path = h.get("path") or "/"
    url = f"{scheme}://{host}:{port}{path if path.startswith('/') else '/' + path}"
    headers = {x["name"]: x["value"] for x in h.get("httpHeaders") or []}
    return url, host, port, headers


async def _http(probe: Obj, c: Container, w: PodWorker, timeout: float) -> tuple[bool, str]:
    url, host, port, extra = http_target(probe["httpGet"], c, w)
    headers = {"User-Agent": "kube-probe/1.32", "Accept": "*/*", **extra}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s:
            async with s.get(url, headers=headers, ssl=False, allow_redirects=False) as r:
                ok = 200 <= r.status < 400
                return ok, f"HTTP probe failed with statuscode: {r.status}"
    except TimeoutError:
        return False, (f'Get "{url}": context deadline exceeded (Client.Timeout exceeded '
                       f"while awaiting headers)")
    except aiohttp.ClientError as e:
        return False, http_error(url, host, port, e)


async def _tcp(probe: Obj, c: Container, w: PodWorker, timeout: float) -> tuple[bool, str]:
    t = probe["tcpSocket"]
    host = t.get("host") or w.ip
    port = _port(t, c.spec)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (TimeoutError, OSError) as e:
        return False, dial_error(host, port, e)
    writer.close()
    return True, ""


async def run_command(argv: list[str], c: Container, w: PodWorker,
                      timeout: float | None) -> tuple[int | None, str]:
    """Run a command in the container: (exit code, or None when it timed out; its
    stdout and stderr, at most MAX_OUTPUT)."""
    loop = asyncio.get_running_loop()
    out_r, out_w = os.pipe()
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        pid = await w.mgr.runtime.spawn(w.exec_request(c, argv, False), [null, out_w, out_w])
    finally:
        os.close(out_w)
        os.close(null)
    chunks: list[bytes] = []
    eof = loop.create_future()

    def on_data(data: bytes) -> None:
        if sum(map(len, chunks)) < MAX_OUTPUT:
            chunks.append(data)

    logs.read_until_eof(out_r, on_data, lambda: eof.set_result(None))
    code: int | None = None
    try:
        try:
            code = await asyncio.wait_for(w.mgr.runtime.wait(pid), timeout)
        except TimeoutError:
            w.mgr.runtime.kill(pid, signal.SIGKILL)
        except asyncio.CancelledError:
            w.mgr.runtime.kill(pid, signal.SIGKILL)
            raise
        if code is not None:
            try:
                await asyncio.wait_for(asyncio.shield(eof), 0.2)
            except TimeoutError:
                pass
    finally:
        loop.remove_reader(out_r)
        os.close(out_r)
    return code, b"".join(chunks)[:MAX_OUTPUT].decode("utf-8", "replace")


async def _exec(probe: Obj, c: Container, w: PodWorker, timeout: float) -> tuple[bool, str]:
    """Run the command in the container; its stdout and stderr are the message."""
    argv = list(probe["exec"].get("command") or [])
    if c.run is None or not argv:
        return False, "container is not running"
    code, output = await run_command(argv, c, w, timeout)
    if code is None:
        return False, f'command "{" ".join(argv)}" timed out'
    return code == 0, output


async def probe_once(probe: Obj, c: Container, w: PodWorker) -> tuple[bool, str]:
    """One probe: (passed, the message the kubelet reports when it failed)."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    try:
        if "httpGet" in probe:
            return await _http(probe, c, w, timeout)
        if "tcpSocket" in probe:
            return await _tcp(probe, c, w, timeout)
        if "exec" in probe:
            return await _exec(probe, c, w, timeout)
    except asyncio.CancelledError:
        raise
    except (OSError, ValueError) as e:
        return False, str(e)
    return True, ""   # grpc: not emulated, counted as passing


class Prober:
    def __init__(self, c: Container, w: PodWorker) -> None:
        self.c, self.w = c, w
        self.started = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    @classmethod
    def for_container(cls, c: Container, w: PodWorker) -> Prober | None:
        spec = c.spec
        if not any(spec.get(k) for k in ("readinessProbe", "livenessProbe", "startupProbe")):
            return None
        p = cls(c, w)
        if spec.get("startupProbe"):
            p.tasks.append(asyncio.create_task(p._loop("startup", spec["startupProbe"]),
                                               name=f"probe-startup-{c.name}"))
        else:
            p.started.set()
        for kind in ("readiness", "liveness"):
            if spec.get(f"{kind}Probe"):
                p.tasks.append(asyncio.create_task(p._loop(kind, spec[f"{kind}Probe"]),
                                                   name=f"probe-{kind}-{c.name}"))
        return p

    async def stop(self) -> None:
        me = asyncio.current_task()
        # Called from one of the probe loops, stop must not wait for that loop itself.
        await tasks.cancel_and_wait(*(t for t in self.tasks if t is not me))

    async def _loop(self, kind: str, probe: Obj) -> None:
        if kind != "startup":
            await self.started.wait()
        await asyncio.sleep(float(probe.get("initialDelaySeconds") or 0))
        period = float(probe.get("periodSeconds") or 10)
        need_ok = int(probe.get("successThreshold") or 1)
        need_fail = int(probe.get("failureThreshold") or 3)
        oks = fails = 0
        while True:
            ok, msg = await probe_once(probe, self.c, self.w)
            oks, fails = (oks + 1, 0) if ok else (0, fails + 1)
            if kind == "readiness":
                ready = self.c.state.ready
                if ok and oks >= need_ok:
                    ready = True
                elif not ok and fails >= need_fail:
                    ready = False
                if ready != self.c.state.ready:
                    self.c.state.ready = ready
                    self.w.kick()
            if not ok:
                self.w.event("Warning", "Unhealthy", f"{kind.capitalize()} probe failed: {msg}")
            if kind == "startup" and ok:
                self.c.state.started = True
                if not self.c.spec.get("readinessProbe"):
                    self.c.state.ready = True
                self.started.set()
                self.w.kick()
                return
            if kind in ("liveness", "startup") and fails >= need_fail:
                self.w.event("Normal", "Killing", f"Container {self.c.name} failed {kind} "
                             f"probe, will be restarted")
                await self._kill(probe)
                return
            await asyncio.sleep(period)

    async def _kill(self, probe: Obj) -> None:
        """Stop the container as the kubelet does (preStop, stop signal, SIGKILL after
        the grace: the probe's own terminationGracePeriodSeconds, else the pod's)."""
        grace = probe.get("terminationGracePeriodSeconds")
        await self.c.kill(self.c.grace() if grace is None else float(grace))
