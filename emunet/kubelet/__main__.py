"""`python -m emunet.kubelet --state STATE --node NAME`: one node's kubelet.

The zygote (runtime.Runtime) is forked here, before the event loop exists,
after the modules every container needs (aiohttp, the images) are imported,
so each container is a cheap fork of a warm process. Then the loop runs the
node agent (registration, heartbeats), the pod manager and the kubelet API
server, until SIGTERM.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from pathlib import Path

from .. import tasks
from ..client import Client, Credentials
from ..config import ClusterConfig
from . import node, pods, podsource, runtime, sandbox, streams

log = logging.getLogger("emunet.kubelet")


def _preload() -> None:
    import aiohttp.web  # noqa: F401 - warm the zygote for built-in images
    try:
        from .. import images  # noqa: F401
    except Exception as e:  # noqa: BLE001 - containers will report it as ErrImagePull
        log.warning("emunet.images is not importable (%r); containers cannot start", e)


async def _amain(args: argparse.Namespace, cfg: ClusterConfig, creds: Credentials,
                 rt: runtime.Runtime, use_sandbox: bool, no_sandbox_reason: str | None) -> None:
    rt.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Client(creds) as client:
        # How pods run is said on the Node, through the API, so that `emunet up` can
        # tell the user once.
        source = podsource.PodSource(cfg.node_pod_cidr(cfg.node_index(args.node)))
        await source.start()
        agent = node.NodeAgent(client, cfg, args.node, {
            node.SANDBOX_ANNOTATION: "namespaces" if use_sandbox
            else f"plain processes: {no_sandbox_reason}",
            node.SOURCE_ANNOTATION: "pod IP" if source.active
            else f"127.0.0.1: {source.why_not}"})
        await agent.register()
        mgr = pods.PodManager(client, cfg, args.node, args.state, rt, use_sandbox, source,
                              backoff_base=args.backoff)
        server = streams.KubeletServer(mgr, creds.token)
        host = cfg.node_internal_ip(cfg.node_index(args.node))
        await server.start(host, node.KUBELET_PORT)
        loops = [asyncio.create_task(agent.heartbeat(), name="heartbeat"),
                 asyncio.create_task(mgr.run(), name="pods")]
        log.info("kubelet %s ready: API on http://%s:%d, sandbox %s, PID namespace %s",
                 args.node, host, node.KUBELET_PORT, "on" if use_sandbox else "off",
                 "on" if rt.pid_namespace else "off")
        stopped = asyncio.create_task(stop.wait(), name="stop")
        await asyncio.wait([stopped, *loops], return_when=asyncio.FIRST_COMPLETED)
        for t in loops:
            if t.done() and t.exception():
                log.error("kubelet task %s failed: %r", t.get_name(), t.exception())
        with contextlib.suppress(Exception):  # failures were logged just above
            await tasks.cancel_and_wait(stopped, *loops)
        await mgr.stop()
        await server.stop()
        await asyncio.to_thread(source.close)
    await rt.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m emunet.kubelet")
    p.add_argument("--state", type=Path, required=True)
    p.add_argument("--node", required=True)
    env_backoff = os.environ.get("EMUNET_CRASH_BACKOFF")
    p.add_argument("--backoff", type=float, default=float(env_backoff) if env_backoff else None,
                   help="CrashLoopBackOff base delay in seconds (default: the cluster "
                        "config's crashBackoffSeconds; Kubernetes: 10)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s kubelet[{args.node}] %(levelname)s %(message)s")
    cfg = ClusterConfig.from_json((args.state / "config.json").read_text())
    creds = Credentials.from_file(args.state / "credentials.json")
    if args.backoff is None:
        args.backoff = cfg.crash_backoff_seconds
    use_sandbox = False
    reason: str | None = "disabled by the cluster config"
    if cfg.sandbox:
        reason = sandbox.available(str(args.state / "nodes" / args.node / "probe"))
        use_sandbox = reason is None
        if reason:
            log.warning("pods run as plain processes without their own mount/UTS namespaces "
                        "(%s): hostname, /etc/resolv.conf and volume mountPaths are the "
                        "host's; volumes are under the pod directory (EMUNET_MOUNTS)", reason)
    else:
        log.info("sandbox disabled by the cluster config: pods run as plain processes")
    _preload()
    sandbox.set_pdeathsig()
    gc.collect()
    gc.freeze()
    rt = runtime.Runtime(args.node)
    rt.fork()
    try:
        asyncio.run(_amain(args, cfg, creds, rt, use_sandbox, reason))
    finally:
        if rt.zygote_pid:
            try:
                os.kill(rt.zygote_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
