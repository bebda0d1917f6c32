"""Round-robin with ClientIP session affinity: which endpoint takes the next connection.

This is the old userspace kube-proxy's `roundrobin.go` as a pure component: state
is kept per key (a ServicePortName, optionally scoped to a node for the Local
traffic policies); a new endpoint list is shuffled and the index reset, so that
several proxies (or restarts) do not all start on the same pod; affinity maps a
client IP to an endpoint while it keeps being used within its TTL, and entries of
endpoints that are gone are pruned. No sockets, no awaits, an injected clock: the
unit tests drive it as a table.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import NamedTuple

DEFAULT_AFFINITY_SECONDS = 10800  # sessionAffinityConfig.clientIP.timeoutSeconds default


class ServicePortName(NamedTuple):
    """One port of one Service, the unit kube-proxy balances (port is the port's name)."""
    namespace: str
    name: str
    port: str
    protocol: str = "TCP"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}:{self.port}/{self.protocol}" if self.port \
            else f"{self.namespace}/{self.name}/{self.protocol}"


Endpoint = tuple[str, int]  # (ip, port)


@dataclass
class _Affinity:
    endpoint: Endpoint
    last_used: float


@dataclass
class _State:
    endpoints: list[Endpoint] = field(default_factory=list)
    index: int = 0
    affinity_seconds: float = 0.0  # 0: no affinity (sessionAffinity None)
    affinity: dict[str, _Affinity] = field(default_factory=dict)


class Balancer:
    """Chooses endpoints per key; every method is O(1) amortised except updates."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 shuffle: Callable[[list[Endpoint]], None] = random.shuffle) -> None:
        self.clock = clock
        self.shuffle = shuffle
        self._states: dict[Hashable, _State] = {}

    def keys(self) -> list[Hashable]:
        return list(self._states)

    def endpoints(self, key: Hashable) -> list[Endpoint]:
        st = self._states.get(key)
        return list(st.endpoints) if st else []

    def set_affinity(self, key: Hashable, seconds: float) -> None:
        """seconds > 0 turns ClientIP affinity on with that TTL; 0 turns it off."""
        st = self._states.setdefault(key, _State())
        if st.affinity_seconds != seconds:
            st.affinity_seconds = seconds
            if not seconds:
                st.affinity.clear()

    def update(self, key: Hashable, endpoints: list[Endpoint]) -> None:
        """A new endpoint list: shuffle and reset the index when the set changed."""
        st = self._states.setdefault(key, _State())
        if sorted(st.endpoints) == sorted(endpoints):
            return
        fresh = list(endpoints)
        self.shuffle(fresh)
        st.endpoints = fresh
        st.index = 0
        alive = set(fresh)
        for ip in [ip for ip, a in st.affinity.items() if a.endpoint not in alive]:
            del st.affinity[ip]

    def remove(self, key: Hashable) -> None:
        self._states.pop(key, None)

    def next(self, key: Hashable, client_ip: str = "", reset_affinity: bool = False
             ) -> Endpoint | None:
        """The endpoint for a new connection from client_ip, or None when there is none.

        reset_affinity is set by the dialer after a failed dial so the client
        moves on to another endpoint instead of sticking to a dead one.
        """
        st = self._states.get(key)
        if st is None or not st.endpoints:
            return None
        now = self.clock()
        if st.affinity_seconds and client_ip and not reset_affinity:
            a = st.affinity.get(client_ip)
            if a is not None and now - a.last_used < st.affinity_seconds:
                a.last_used = now
                return a.endpoint
        ep = st.endpoints[st.index % len(st.endpoints)]
        st.index = (st.index + 1) % len(st.endpoints)
        if st.affinity_seconds and client_ip:
            st.affinity[client_ip] = _Affinity(ep, now)
        return ep

    def prune(self) -> int:
        """Drop affinity entries past their TTL (called now and then); returns how many."""
        now = self.clock()
        dropped = 0
        for st in self._states.values():
            for ip in [ip for ip, a in st.affinity.items()
                       if now - a.last_used >= st.affinity_seconds]:
                del st.affinity[ip]
                dropped += 1
        return dropped
