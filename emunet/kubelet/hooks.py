"""Container lifecycle hooks: postStart and preStop, as the kubelet runs them.

A handler is `exec` (a command in the container; a non-zero exit fails it),
`httpGet` (a GET to the pod IP unless `host` is set; only a failure to get an
answer fails it, any status code passes, as in the kubelet) or `sleep`
(`seconds`). `tcpSocket` passes validation for old manifests but the kubelet
cannot run it, so it fails here too.

postStart runs right after the process starts; the container is not
`running` until it returns, and if it fails the container is killed and
restarted by the pod's restartPolicy. preStop runs before the stop signal
and counts against the termination grace period. A failed hook is a
Warning event worded as the kubelet words it, since that is what users read
in `kubectl describe pod`.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import aiohttp

from . import probes

if TYPE_CHECKING:
    from .containers import Container

log = logging.getLogger("emunet.kubelet.hooks")
Obj = dict[str, Any]


def _go_list(argv: list[str]) -> str:
    return "[" + " ".join(argv) + "]"


async def run(handler: Obj, c: Container) -> str | None:
    """Run one handler to its end; None when it passed, else the kubelet's message."""
    w = c.worker
    pod = f"{w.name}_{w.namespace}({w.uid})"
    if handler.get("exec") is not None:
        argv = list(handler["exec"].get("command") or [])
        code, output = await probes.run_command(argv, c, w, None)
        if code == 0:
            return None
        err = f"command '{' '.join(argv)}' exited with {code}: "
        return (f"Exec lifecycle hook ({_go_list(argv)}) for Container \"{c.name}\" in Pod "
                f"\"{pod}\" failed - error: {err}, message: \"{_go_quote(output)}\"")
    if handler.get("httpGet") is not None:
        h = handler["httpGet"]
        error = await _http(h, c)
        if error is None:
            return None
        return (f"HTTP lifecycle hook ({h.get('path') or ''}) for Container \"{c.name}\" in "
                f"Pod \"{pod}\" failed - error: {error}")
    if handler.get("sleep") is not None:
        await asyncio.sleep(float(handler["sleep"].get("seconds") or 0))
        return None
    return f"Cannot run handler: invalid handler: {handler}"


async def _http(h: Obj, c: Container) -> str | None:
    try:
        url, host, port, headers = probes.http_target(h, c, c.worker)
    except ValueError as e:
        return str(e)
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(url, headers=headers, ssl=False, allow_redirects=False) as r:
                await r.read()
                return None
    except (aiohttp.ClientError, OSError) as e:
        return probes.http_error(url, host, port, e)


def _go_quote(text: str) -> str:
    """Enough of Go's %q for a command's output: escapes, not Unicode tables."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") \
        .replace("\t", "\\t").replace("\r", "\\r")


async def post_start(c: Container, handler: Obj) -> bool:
    """Run postStart; on failure the FailedPostStartHook event, and False."""
    message = await _until_exit(c, run(handler, c))
    if message is None:
        return True
    c.worker.event("Warning", "FailedPostStartHook", message)
    return False


async def pre_stop(c: Container, handler: Obj, limit: float) -> None:
    """Run preStop for at most `limit` seconds (what is left of the grace period)."""
    try:
        message = await asyncio.wait_for(_until_exit(c, run(handler, c)), limit)
    except TimeoutError:
        log.info("pod %s/%s: preStop hook of %s ran out the grace period",
                 c.worker.namespace, c.worker.name, c.name)
        return
    if message is not None:
        c.worker.event("Warning", "FailedPreStopHook", message)


async def _until_exit(c: Container, hook: Any) -> str | None:
    """The hook's result, or None (nothing to report) if the process exits first."""
    task = asyncio.ensure_future(hook)
    run = c.run
    if run is None:
        task.cancel()
        return None
    exited = asyncio.ensure_future(c.worker.mgr.runtime.wait(run.pid))
    try:
        await asyncio.wait([task, exited], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (task, exited):
            if not t.done():
                t.cancel()
        await asyncio.gather(task, exited, return_exceptions=True)
    if task.cancelled():
        return None
    if task.exception() is not None:
        return f"Cannot run handler: {task.exception()}"
    result: str | None = task.result()
    return result
