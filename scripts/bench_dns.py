"""Cluster DNS benchmark: queries/s and latency, and how fast a new Service resolves.

    python scripts/bench_dns.py --server 127.96.0.10          # a running cluster's DNS
    python scripts/bench_dns.py --cluster                     # starts its own test cluster
    python scripts/bench_dns.py --synthetic                   # the server alone, no API

Three names are measured: a ClusterIP Service, a headless Service with 100
endpoints (truncated over UDP without EDNS, as CoreDNS does) and a name that
does not exist (NXDOMAIN). Throughput comes from `dnsperf` when it is
installed (one client thread, 100 queries outstanding, a fixed number of
runs through the input), else from the bounded asyncio generator here; p99
latency always comes from the generator (dnsperf prints only averages), at
10 queries outstanding. The server runs one event loop, so it uses one core.
`--cluster` also measures "new Service resolvable": from the create request
to the first successful answer, for a number of fresh Services.

Targets (DESIGN and research/perf-anchors.md): >= 20,000 qps on one core
(CoreDNS ~16,800 per core); a new Service resolvable within 50 ms p99.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dnslib import DNSRecord  # noqa: E402

NAMES = {
    "clusterip": "my-nginx.default.svc.cluster.local",
    "headless100": "big.default.svc.cluster.local",
    "nxdomain": "nope.default.svc.cluster.local",
}


# ---- load generation ----------------------------------------------------------

class _Gen(asyncio.DatagramProtocol):
    def __init__(self, packets: list[bytes], count: int, outstanding: int) -> None:
        self.packets = packets
        self.count = count
        self.outstanding = outstanding
        self.sent = 0
        self.sent_at: dict[int, float] = {}
        self.latencies: list[float] = []
        self.lost = 0
        self.done = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        for _ in range(min(self.outstanding, self.count)):
            self._send()

    def _send(self) -> None:
        ident = self.sent & 0xFFFF
        pkt = self.packets[self.sent % len(self.packets)]
        self.sent += 1
        self.sent_at[ident] = time.perf_counter()
        self.transport.sendto(struct.pack("!H", ident) + pkt[2:])

    def datagram_received(self, data: bytes, addr: Any) -> None:
        ident = struct.unpack("!H", data[:2])[0]
        t0 = self.sent_at.pop(ident, None)
        if t0 is None:
            return
        self.latencies.append(time.perf_counter() - t0)
        self._next()

    def _next(self) -> None:
        if self.sent < self.count:
            self._send()
        elif not self.sent_at and not self.done.done():
            self.done.set_result(None)

    def expire(self, older_than: float) -> None:
        now = time.perf_counter()
        for ident, t0 in list(self.sent_at.items()):
            if now - t0 > older_than:
                del self.sent_at[ident]
                self.lost += 1
                self._next()


async def generate(server: str, port: int, qname: str, count: int,
                   outstanding: int) -> dict[str, Any]:
    """Send `count` A queries for `qname` with `outstanding` in flight; bounded in time."""
    packet = bytes(DNSRecord.question(qname, "A").pack())
    loop = asyncio.get_running_loop()
    transport, gen = await loop.create_datagram_endpoint(
        lambda: _Gen([packet], count, outstanding), remote_addr=(server, port))
    t0 = time.perf_counter()
    deadline = t0 + 60
    try:
        while not gen.done.done() and time.perf_counter() < deadline:
            await asyncio.wait([gen.done], timeout=0.5)
            gen.expire(1.0)
    finally:
        transport.close()
    elapsed = time.perf_counter() - t0
    lat = sorted(gen.latencies)
    pct = (lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 3)) if lat else \
        (lambda p: None)
    return {"queries": count, "answered": len(lat), "lost": gen.lost,
            "qps": round(len(lat) / elapsed), "p50_ms": pct(0.50), "p99_ms": pct(0.99),
            "outstanding": outstanding}


def dnsperf(server: str, port: int, qname: str, runs: int = 50_000) -> dict[str, Any] | None:
    if not shutil.which("dnsperf"):
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(f"{qname} A\n")
    try:
        out = subprocess.run(["dnsperf", "-s", server, "-p", str(port), "-d", f.name,
                              "-n", str(runs), "-l", "30", "-c", "1", "-T", "1", "-q", "100",
                              "-t", "2"], capture_output=True, text=True, timeout=60,
                             check=False).stdout
    finally:
        os.unlink(f.name)
    qps = re.search(r"Queries per second:\s+([\d.]+)", out)
    avg = re.search(r"Average Latency \(s\):\s+([\d.]+)", out)
    lost = re.search(r"Queries lost:\s+(\d+)", out)
    if not qps:
        return {"error": out[-500:]}
    return {"qps": round(float(qps.group(1))), "avg_ms": round(float(avg.group(1)) * 1000, 3)
            if avg else None, "lost": int(lost.group(1)) if lost else None,
            "queries": runs, "outstanding": 100}


def run(server_ip: str, port: int = 53, names: dict[str, str] | None = None,
        count: int = 50_000) -> dict:
    """Throughput and latency of a DNS server for each of `names` (label -> qname)."""
    out: dict[str, Any] = {"server": f"{server_ip}:{port}", "tool": "dnsperf"
                           if shutil.which("dnsperf") else "asyncio generator"}
    for label, qname in (names or NAMES).items():
        first = DNSRecord.parse(DNSRecord.question(qname).send(server_ip, port, timeout=2))
        row: dict[str, Any] = {"qname": qname, "rcode": first.header.rcode,
                               "answers": len(first.rr), "tc": first.header.tc}
        load = dnsperf(server_ip, port, qname, count)
        if load is None:
            load = asyncio.run(generate(server_ip, port, qname, count, 100))
        row["load"] = load
        row["latency"] = asyncio.run(generate(server_ip, port, qname, min(count, 10_000), 10))
        out[label] = row
    return out


# ---- setups -------------------------------------------------------------------

def _headless_objects(n: int = 100) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "my-nginx", "namespace": "default"},
         "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "big", "namespace": "default"},
         "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "big-1", "namespace": "default",
                      "labels": {"kubernetes.io/service-name": "big"}},
         "addressType": "IPv4", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
         "endpoints": [{"addresses": [f"127.244.{1 + i // 250}.{1 + i % 250}"],
                        "conditions": {"ready": True}} for i in range(n)]},
    ]


def serve_synthetic(host: str, port: int) -> None:
    """The DNS server alone on a synthetic index (for --synthetic): no API server."""
    from emunet.dns import index, records, server
    idx = index.Index()
    for ns in ("default", "kube-system"):
        idx.apply_namespace("ADDED", {"metadata": {"name": ns}})
    objs = _headless_objects()
    objs[0]["spec"]["clusterIP"] = "127.96.12.7"
    idx.apply_service("ADDED", objs[0])
    idx.apply_service("ADDED", objs[1])
    idx.apply_slice("ADDED", objs[2])
    idx.synced = True

    async def main() -> None:
        responder = server.Responder(idx, records.Settings())
        async with server.DnsServer(responder, host, port):
            print("ready", flush=True)
            await asyncio.Event().wait()
    try:
        import uvloop
        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


def bench_synthetic(count: int) -> dict:
    host, port = "127.0.53.9", 5353
    proc = subprocess.Popen([sys.executable, __file__, "--serve-synthetic", f"{host}:{port}"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return run(host, port, count=count)
    finally:
        proc.terminate()
        proc.wait(10)


async def new_service_latency(cluster: Any, samples: int = 50) -> dict[str, Any]:
    """Create a Service through the API; time until cluster DNS first answers its name."""
    from emunet import resources
    svc_res = resources.by_plural("services")
    ip, lat, api, after = cluster.cfg.dns_service_ip, [], [], []
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    async with cluster.client() as client:
        for i in range(samples):
            name = f"bench-{i}"
            packet = bytes(DNSRecord.question(f"{name}.default.svc.cluster.local").pack())
            t0 = time.perf_counter()
            await client.create(svc_res, {"metadata": {"name": name, "namespace": "default"},
                                          "spec": {"ports": [{"port": 80}]}})
            api.append(time.perf_counter() - t0)
            deadline = t0 + 5
            while time.perf_counter() < deadline:
                sock.sendto(packet, (ip, 53))
                try:
                    data = await asyncio.wait_for(loop.sock_recv(sock, 4096), 0.005)
                except TimeoutError:
                    continue
                if data[:2] == packet[:2] and data[3] & 0x0F == 0 and struct.unpack("!H", data[6:8])[0] > 0:
                    lat.append(time.perf_counter() - t0)
                    after.append(lat[-1] - api[-1])
                    break
        for i in range(samples):
            await client.delete(svc_res, f"bench-{i}", "default")
    sock.close()
    lat.sort()
    api.sort()
    after.sort()
    return {"samples": samples, "resolved": len(lat),
            "api_create_p50_ms": round(api[len(api) // 2] * 1000, 2),
            "api_create_max_ms": round(api[-1] * 1000, 2),
            # the DNS path alone: from the create's response to the first answer
            "after_create_p99_ms": round(after[min(len(after) - 1, int(0.99 * len(after)))]
                                         * 1000, 2) if after else None,
            "p50_ms": round(lat[len(lat) // 2] * 1000, 2) if lat else None,
            "p99_ms": round(lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000, 2)
            if lat else None,
            "max_ms": round(lat[-1] * 1000, 2) if lat else None}


def bench_cluster(count: int) -> dict:
    from emunet import resources
    from emunet.testing import Cluster
    with Cluster(nodes=1) as c:
        async def setup() -> None:
            async with c.client() as client:
                for obj in _headless_objects():
                    plural = "endpointslices" if obj["kind"] == "EndpointSlice" else "services"
                    group = "discovery.k8s.io" if plural == "endpointslices" else ""
                    await client.create(resources.by_plural(plural, group), obj)
        asyncio.run(setup())
        ip = c.cfg.dns_service_ip
        c.wait(lambda: len(DNSRecord.parse(DNSRecord.question(NAMES["headless100"]).send(
            ip, 53, tcp=True, timeout=2)).rr) == 100, timeout=10, what="100 endpoints in DNS")
        out = run(ip, 53, count=count)
        out["new_service_resolvable"] = asyncio.run(new_service_latency(c))
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--server", help="a running cluster DNS to measure")
    mode.add_argument("--cluster", action="store_true", help="start a test cluster and measure")
    mode.add_argument("--synthetic", action="store_true",
                      help="measure the server alone on a synthetic index")
    mode.add_argument("--serve-synthetic", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=53)
    ap.add_argument("--count", type=int, default=50_000, help="queries per name (bounded)")
    args = ap.parse_args()
    if args.serve_synthetic:
        host, _, port = args.serve_synthetic.rpartition(":")
        serve_synthetic(host, int(port))
        return
    if args.server:
        result = run(args.server, args.port, count=args.count)
    elif args.cluster:
        result = bench_cluster(args.count)
    else:
        result = bench_synthetic(args.count)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()


def main_case() -> dict:
    """The case `scripts/bench.py dns` runs: the DNS process of a real test cluster."""
    out = bench_cluster(50_000)
    for key in ("clusterip", "headless100", "nxdomain"):
        r = out[key]
        print(f"  {key:<12} {r['qname']}: {r['load']['qps']:,} queries/s ({out['tool']}, "
              f"100 outstanding); p50 {r['latency']['p50_ms']} ms, p99 "
              f"{r['latency']['p99_ms']} ms (10 outstanding)")
    n = out["new_service_resolvable"]
    print(f"  new Service resolvable: p50 {n['p50_ms']} ms, p99 {n['p99_ms']} ms "
          f"({n['samples']} samples; target p99 <= 50 ms)")
    return out
