"""`python -m emunet.dns --state STATE`: the cluster DNS process.

Started by the daemon as a child. It serves on the kube-dns ClusterIP itself
(not through the proxy: there are no DNS pods behind that Service), watches
Namespaces, Services and EndpointSlices, and never writes to the cluster.
With `EMUNET_HOST_DNS=<hosts file>` in its environment (or `host_dns` in the
cluster config) it also keeps that file's emunet block in step with Services.
"""
from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import signal
import sys
from pathlib import Path

from .. import tasks
from ..client import Client, Credentials
from ..config import ClusterConfig
from . import hostsfile, index, records, server, upstream

log = logging.getLogger("emunet.dns")


def settings_for(cfg: ClusterConfig) -> records.Settings:
    nets = tuple(ipaddress.IPv4Network(n) for n in (cfg.service_cidr, cfg.pod_cidr))
    return records.Settings(zone=cfg.cluster_domain, ttl=cfg.dns_ttl, dns_ip=cfg.dns_service_ip,
                            reverse_nets=nets)


def upstream_for(cfg: ClusterConfig, listen_host: str, resolv_conf: Path) -> upstream.Upstream:
    found = upstream.read_resolv_conf(resolv_conf)
    service_net = ipaddress.ip_network(cfg.service_cidr)
    # Never forward to ourselves: not to the address we serve on, and not into
    # the service range (the proxy would bring the query straight back).
    own = {listen_host, cfg.dns_service_ip}
    own |= {s for s in found if _in(s, service_net)}
    return upstream.Upstream(found, exclude=own)


def _in(addr: str, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(addr) in net
    except ValueError:
        return False


async def run(cfg: ClusterConfig, creds: Credentials, host: str, port: int,
              resolv_conf: Path, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    idx = index.Index(zone=cfg.cluster_domain)
    responder = server.Responder(idx, settings_for(cfg), upstream_for(cfg, host, resolv_conf))
    log.info("upstream resolvers: %s", responder.upstream.servers or "none (REFUSED)")
    async with Client(creds) as client:
        feeds = index.Feeds(client, idx)
        feeds.start()
        hosts: hostsfile.HostsSync | None = None
        try:
            async with server.DnsServer(responder, host, port):
                path = os.environ.get("EMUNET_HOST_DNS") or getattr(cfg, "host_dns", None)
                if path:
                    hosts = hostsfile.HostsSync(idx, Path(path), cfg.name)
                    hosts.start()
                await stop.wait()
                log.info("stopping")
                if hosts is not None:
                    await hosts.stop()
        finally:
            await feeds.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m emunet.dns", description=__doc__.splitlines()[0])
    ap.add_argument("--state", required=True, type=Path, help="the cluster's state directory")
    ap.add_argument("--listen", default="",
                    help="HOST:PORT to serve on (default: the kube-dns ClusterIP, port 53)")
    ap.add_argument("--resolv-conf", default="/etc/resolv.conf", type=Path,
                    help="where the upstream resolvers are read from")
    args = ap.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = ClusterConfig.from_json((args.state / "config.json").read_text())
    creds = Credentials.from_file(args.state / "credentials.json")
    host, port = cfg.dns_service_ip, 53
    if args.listen:
        host, _, p = args.listen.rpartition(":")
        port = int(p)
    try:
        tasks.run(run(cfg, creds, host, port, args.resolv_conf))
    except OSError as e:
        log.error("cannot serve DNS on %s:%d: %s", host, port, e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
