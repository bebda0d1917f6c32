"""Allocators for ClusterIPs, NodePorts and load-balancer IPs.

Pure bookkeeping, rebuilt from the stored Services at start, so that nothing
is handed out twice across restarts (the apiserver rebuilds its bitmaps the
same way). Like the apiserver, the ClusterIP allocator hands out addresses
from the upper part of the range first for dynamic requests, leaving the lower
part to static ones (KEP-3070); the first addresses are reserved for the
`kubernetes` (.1) and `kube-dns` (.10) Services.
"""
from __future__ import annotations

import ipaddress
import random

from . import errors


class IPAllocator:
    def __init__(self, cidr: str, field: str = "spec.clusterIPs") -> None:
        self.net = ipaddress.ip_network(cidr)
        self.field = field
        self.used: set[str] = set()
        first = int(self.net.network_address) + 1
        last = int(self.net.broadcast_address) - 1
        self._first, self._last = first, last
        # Dynamic allocation starts past the static band, as KEP-3070 does.
        size = last - first + 1
        band = min(max(16, size // 16), 256)
        self._dynamic_first = first + band if size > 2 * band else first
        self._cursor = self._dynamic_first + random.randrange(max(1, last - self._dynamic_first))

    def reserve(self, ip: str) -> None:
        addr = ipaddress.ip_address(ip)
        if addr not in self.net or int(addr) < self._first or int(addr) > self._last:
            raise errors.Invalid("Service", "", [self._cause(
                ip, f"the provided IP ({ip}) is not in the valid range. "
                f"The range of valid IPs is {self.net}")])
        if ip in self.used:
            raise errors.Invalid("Service", "", [self._cause(
                ip, "provided IP is already allocated")])
        self.used.add(ip)

    def _cause(self, ip: str, detail: str) -> errors.Cause:
        # The value is spec.clusterIPs, which the apiserver shows as Go prints it.
        return errors.Cause(self.field, "FieldValueInvalid",
                            f'Invalid value: []string{{"{ip}"}}: failed to allocate IP '
                            f"{ip}: {detail}")

    def take(self, ip: str) -> None:
        """Record an address found in the store, without checks."""
        self.used.add(ip)

    def allocate(self) -> str:
        span = self._last - self._dynamic_first + 1
        for _ in range(span):
            cand = str(ipaddress.ip_address(self._cursor))
            self._cursor += 1
            if self._cursor > self._last:
                self._cursor = self._dynamic_first
            if cand not in self.used:
                self.used.add(cand)
                return cand
        for i in range(self._first, self._dynamic_first):
            cand = str(ipaddress.ip_address(i))
            if cand not in self.used:
                self.used.add(cand)
                return cand
        raise errors.ApiError(f"failed to allocate a serviceIP: range {self.net} is full",
                              code=500, reason="InternalError")

    def release(self, ip: str | None) -> None:
        if ip:
            self.used.discard(ip)


class PortAllocator:
    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi
        self.used: set[int] = set()

    def reserve(self, port: int, field: str) -> None:
        if not self.lo <= port <= self.hi:
            raise errors.Invalid("Service", "", [errors.invalid_value(
                field, port, f"provided port is not in the valid range. The range of "
                f"valid ports is {self.lo}-{self.hi}")])
        if port in self.used:
            raise errors.Invalid("Service", "", [errors.invalid_value(
                field, port, "provided port is already allocated")])
        self.used.add(port)

    def take(self, port: int) -> None:
        self.used.add(port)

    def allocate(self) -> int:
        free = self.hi - self.lo + 1 - len(self.used)
        if free <= 0:
            raise errors.ApiError("failed to allocate a nodePort: range is full", code=500)
        while True:
            port = random.randint(self.lo, self.hi)
            if port not in self.used:
                self.used.add(port)
                return port

    def release(self, port: int | None) -> None:
        if port:
            self.used.discard(port)
