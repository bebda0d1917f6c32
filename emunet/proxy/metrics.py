"""Counters of the proxy, per service port and per endpoint, as Prometheus text and JSON.

kube-proxy exports its work as Prometheus metrics; here the counters also show
the balancing itself (which pod took how many connections and bytes), which is
what a user of the tutorial wants to see. Counters are plain objects that the
relay holds a reference to, so counting a byte costs one attribute add; the
HTTP side renders them on demand. `format_status` renders the `/stats` JSON as
the table `emunet status` prints.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("emunet.proxy.metrics")

FIELDS = ("connections_total", "connections_active", "bytes_in", "bytes_out", "dial_failures")
_HELP = {
    "connections_total": ("counter", "Connections (or UDP flows) accepted"),
    "connections_active": ("gauge", "Connections (or UDP flows) open now"),
    "bytes_in": ("counter", "Bytes from clients to endpoints"),
    "bytes_out": ("counter", "Bytes from endpoints to clients"),
    "dial_failures": ("counter", "Dials to an endpoint that failed"),
}


class Counters:
    __slots__ = FIELDS
    connections_total: int
    connections_active: int
    bytes_in: int
    bytes_out: int
    dial_failures: int

    def __init__(self) -> None:
        for f in FIELDS:
            setattr(self, f, 0)

    def as_dict(self) -> dict[str, int]:
        return {f: getattr(self, f) for f in FIELDS}


class Metrics:
    def __init__(self) -> None:
        self.services: dict[str, Counters] = {}
        self.endpoints: dict[tuple[str, str], Counters] = {}
        self.refused = 0
        # Set by the proxier in nftables mode: ports the kernel serves are not counted
        # here (a nat-hook rule counter sees only a connection's first packet).
        self.kernel: dict[str, Any] = {}

    def service(self, spn: str) -> Counters:
        c = self.services.get(spn)
        if c is None:
            c = self.services[spn] = Counters()
        return c

    def endpoint(self, spn: str, endpoint: str) -> Counters:
        c = self.endpoints.get((spn, endpoint))
        if c is None:
            c = self.endpoints[(spn, endpoint)] = Counters()
        return c

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for spn, c in sorted(self.services.items()):
            out[spn] = {**c.as_dict(), "endpoints": {}}
        for (spn, ep), c in sorted(self.endpoints.items()):
            out.setdefault(spn, {**Counters().as_dict(), "endpoints": {}})["endpoints"][ep] = c.as_dict()
        res: dict[str, Any] = {"services": out, "refused": self.refused}
        if self.kernel:
            res["kernel"] = self.kernel
        return res

    def prometheus(self) -> str:
        lines: list[str] = []
        for f in FIELDS:
            typ, help_ = _HELP[f]
            name = f"emunet_proxy_service_{f}"
            lines += [f"# HELP {name} {help_}, per service port.", f"# TYPE {name} {typ}"]
            for spn, c in sorted(self.services.items()):
                lines.append(f'{name}{{service_port="{_esc(spn)}"}} {getattr(c, f)}')
            name = f"emunet_proxy_endpoint_{f}"
            lines += [f"# HELP {name} {help_}, per endpoint.", f"# TYPE {name} {typ}"]
            for (spn, ep), c in sorted(self.endpoints.items()):
                lines.append(f'{name}{{service_port="{_esc(spn)}",endpoint="{_esc(ep)}"}} '
                             f"{getattr(c, f)}")
        lines += ["# HELP emunet_proxy_refused_total Connections refused for want of an endpoint.",
                  "# TYPE emunet_proxy_refused_total counter",
                  f"emunet_proxy_refused_total {self.refused}"]
        return "\n".join(lines) + "\n"


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return str(n)


def format_status(stats_json: dict[str, Any] | str) -> str:
    """A human table of the proxy's /stats: one row per service port, then its endpoints."""
    stats = json.loads(stats_json) if isinstance(stats_json, str) else stats_json
    header = ("SERVICE PORT / ENDPOINT", "CONNS", "ACTIVE", "IN", "OUT", "DIAL FAILS")
    rows: list[tuple[str, ...]] = [header]
    for spn, s in stats.get("services", {}).items():
        rows.append((spn, str(s["connections_total"]), str(s["connections_active"]),
                     _human(s["bytes_in"]), _human(s["bytes_out"]), str(s["dial_failures"])))
        for ep, e in s.get("endpoints", {}).items():
            rows.append(("  -> " + ep, str(e["connections_total"]), str(e["connections_active"]),
                         _human(e["bytes_in"]), _human(e["bytes_out"]), str(e["dial_failures"])))
    note = ""
    kernel = stats.get("kernel")
    if kernel:
        note = (f"nftables mode: {len(kernel.get('ports', []))} TCP service address(es) go "
                f"through kernel DNAT and are not counted here; their new connections show "
                f"in `nft list table ip {kernel.get('table', '?')}`\n")
    if len(rows) == 1:
        return note + "no traffic through the proxy yet\n"
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    text = "\n".join("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
    return note + text + "\n"


class MetricsServer:
    """`/metrics` (Prometheus text) and `/stats` (JSON) on 127.0.0.1, a minimal HTTP/1.0 server.

    A raw asyncio server keeps the proxy free of a web framework on its hot loop.
    """

    def __init__(self, metrics: Metrics, host: str = "127.0.0.1", port: int = 0,
                 extra: dict[str, Callable[[], Any]] | None = None) -> None:
        self.metrics = metrics
        self.extra = extra or {}  # more JSON paths, e.g. /endpoints for benchmarks
        self.host, self.port = host, port
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return f"http://{self.host}:{self.port}/metrics"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)).strip():
                pass
            parts = line.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) > 1 else "/"
            if path == "/metrics":
                status, ctype, body = "200 OK", "text/plain; version=0.0.4", self.metrics.prometheus()
            elif path == "/stats":
                status, ctype, body = "200 OK", "application/json", json.dumps(self.metrics.stats())
            elif path in self.extra:
                status, ctype, body = "200 OK", "application/json", json.dumps(self.extra[path]())
            else:
                status, ctype, body = "404 Not Found", "text/plain", "try /metrics or /stats\n"
            data = body.encode()
            writer.write(f"HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\n"
                         f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
            await writer.drain()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 (one bad scrape must not matter)
            log.debug("metrics request failed: %s", e)
        finally:
            writer.close()
