"""`python -m emunet.proxy --state STATE`: the cluster's kube-proxy as its own process.

It reads the cluster config and credentials from the state dir, follows
Services, EndpointSlices and Secrets by list/watch like any client, serves its
counters on 127.0.0.1 (the URL goes to STATE/proxy.json for `emunet status`),
and exits cleanly on SIGTERM. uvloop runs the loop when it is installed: it was
1.4-1.7x the default loop on new connections on these machines. `--mode`
overrides the config's proxyMode (userspace | nftables, see docs/proxy.md);
on exit, including SIGTERM from the daemon's death, the nftables table goes too.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

from .. import client as client_mod
from .. import tasks
from ..config import ClusterConfig
from . import metrics, nft, proxier, udp


async def main(state: Path, udp_idle: float, mode: str | None = None) -> None:
    cfg = ClusterConfig.from_json((state / "config.json").read_text())
    mode = mode or getattr(cfg, "proxy_mode", "userspace") or "userspace"
    creds = client_mod.Credentials.from_file(state / "credentials.json")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    m = metrics.Metrics()
    holder: list[proxier.Proxier] = []
    server = metrics.MetricsServer(m, extra={
        "/endpoints": lambda: holder[0].chosen() if holder else {}})
    url = await server.start()
    out = state / "proxy.json"
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"metrics": url, "stats": url.replace("/metrics", "/stats"),
                               "pid": os.getpid()}))
    tmp.replace(out)
    logging.getLogger("emunet.proxy").info("metrics on %s", url)
    async with client_mod.Client(creds) as client:
        p = proxier.Proxier(client, cfg, m, udp_idle_seconds=udp_idle, mode=mode)
        holder.append(p)
        run = loop.create_task(p.run(), name="proxier")
        waiter = loop.create_task(stop.wait(), name="stop")
        parent = loop.create_task(_watch_parent(stop, state), name="parent")
        try:
            done, _ = await asyncio.wait({run, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if run in done:
                run.result()  # surfaces a crash of the proxier
        finally:
            for t in (run, waiter, parent):
                t.cancel()
            await asyncio.gather(run, waiter, parent, return_exceptions=True)
            await p.close()
            await server.close()


def _die_with_parent() -> None:
    """Ask Linux for SIGTERM when the daemon dies, even by SIGKILL: an orphaned
    proxy would keep the cluster's addresses bound for the next cluster."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


async def _watch_parent(stop: asyncio.Event, state: Path) -> None:
    # The fallback where prctl is missing: the parent or the state dir is gone.
    parent = os.getppid()
    while not stop.is_set():
        if os.getppid() != parent or not state.exists():
            stop.set()
            return
        await asyncio.sleep(1.0)


def cli(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m emunet.proxy")
    ap.add_argument("--state", required=True, type=Path, help="the cluster's state directory")
    ap.add_argument("--udp-idle-seconds", type=float, default=udp.DEFAULT_IDLE_SECONDS)
    ap.add_argument("--mode", choices=nft.MODES, default=None,
                    help="override the cluster config's proxyMode")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    _die_with_parent()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        tasks.run(main(args.state, args.udp_idle_seconds, args.mode))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(cli())
