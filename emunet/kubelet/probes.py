"""Readiness, liveness and startup probes, with Kubernetes' defaults.

httpGet (to the pod IP unless `host` is set; 200-399 passes), tcpSocket
(a connect), and exec (the command in the container's namespaces; exit 0
passes). Defaults as in the API: periodSeconds 10, timeoutSeconds 1,
successThreshold 1, failureThreshold 3, initialDelaySeconds 0. Until a
startup probe succeeds, the other probes wait and `started` is false.
Readiness sets the container's `ready`; liveness failing failureThreshold
times in a row kills the container, which then restarts by its policy.
"""
from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from .containers import Container
    from .pods import PodWorker

log = logging.getLogger("emunet.kubelet.probes")
Obj = dict[str, Any]


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


async def probe_once(probe: Obj, c: Container, w: PodWorker) -> tuple[bool, str]:
    timeout = float(probe.get("timeoutSeconds", 1))
    try:
        if "httpGet" in probe:
            h = probe["httpGet"]
            host = h.get("host") or w.ip
            scheme = (h.get("scheme") or "HTTP").lower()
            url = f"{scheme}://{host}:{_port(h, c.spec)}{h.get('path', '/')}"
            headers = {x["name"]: x["value"] for x in h.get("httpHeaders") or []}
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s:
                async with s.get(url, headers=headers, ssl=False,
                                 allow_redirects=False) as r:
                    ok = 200 <= r.status < 400
                    return ok, f"HTTP probe failed with statuscode: {r.status}"
        if "tcpSocket" in probe:
            t = probe["tcpSocket"]
            host = t.get("host") or w.ip
            port = _port(t, c.spec)
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            writer.close()
            return True, ""
        if "exec" in probe:
            code = await asyncio.wait_for(w.exec_simple(c.name, probe["exec"]["command"]),
                                          timeout)
            return code == 0, f"command exited with {code}"
        if "grpc" in probe:
            return True, ""
    except asyncio.CancelledError:
        raise
    except (TimeoutError, OSError, aiohttp.ClientError, ValueError) as e:
        return False, f"probe error: {e or type(e).__name__}"
    return True, ""


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
            p.tasks.append(asyncio.create_task(p._loop("startup", spec["startupProbe"])))
        else:
            p.started.set()
        for kind in ("readiness", "liveness"):
            if spec.get(f"{kind}Probe"):
                p.tasks.append(asyncio.create_task(p._loop(kind, spec[f"{kind}Probe"]),
                                                   name=f"probe-{kind}-{c.name}"))
        return p

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            try:
                await t
            except asyncio.CancelledError:
                pass

    async def _loop(self, kind: str, probe: Obj) -> None:
        if kind != "startup":
            await self.started.wait()
        await asyncio.sleep(float(probe.get("initialDelaySeconds", 0)))
        period = float(probe.get("periodSeconds", 10))
        need_ok = int(probe.get("successThreshold", 1))
        need_fail = int(probe.get("failureThreshold", 3))
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
                self.w.event("Warning", "Unhealthy",
                             f"{kind.capitalize()} probe failed: {msg}")
            if kind == "startup" and ok:
                self.c.state.started = True
                self.started.set()
                self.w.kick()
                return
            if kind in ("liveness", "startup") and fails >= need_fail:
                self.w.event("Normal", "Killing", f"Container {self.c.name} failed {kind} "
                             f"probe, will be restarted")
                run = self.c.run
                if run is not None:
                    self.w.mgr.runtime.kill(run.pid, signal.SIGKILL)
                return
            await asyncio.sleep(period)

