"""Pod IP allocation from a node's podCIDR (pure).

Like the host-local IPAM plugin behind kubenet/bridge CNI: the network
address and the gateway (.1) are never handed out, nor the broadcast
address; an IP stays taken until its pod is gone; allocation continues after
the last one handed out, so a just-freed IP is not reused at once (a client
that still holds a connection to the old pod does not reach the new one).
At a restart the kubelet marks the IPs of pods that already have one.
"""
from __future__ import annotations

import ipaddress


class PoolExhausted(Exception):
    pass


class IPAM:
    def __init__(self, cidr: str) -> None:
        net = ipaddress.ip_network(cidr)
        hosts = list(net.hosts())
        self._candidates = [str(ip) for ip in hosts[1:]]  # skip .1, the "gateway"
        self._owner: dict[str, str] = {}    # ip -> pod uid
        self._by_uid: dict[str, str] = {}
        self._next = 0

    def allocate(self, uid: str) -> str:
        if uid in self._by_uid:
            return self._by_uid[uid]
        n = len(self._candidates)
        for step in range(n):
            ip = self._candidates[(self._next + step) % n]
            if ip not in self._owner:
                self._next = (self._next + step + 1) % n
                self._owner[ip] = uid
                self._by_uid[uid] = ip
                return ip
        raise PoolExhausted(f"no free pod IP: all {n} addresses are in use")

    def claim(self, uid: str, ip: str) -> bool:
        """Record an IP already in use (restart recovery); False if not ours or taken."""
        if ip not in self._candidates or self._owner.get(ip, uid) != uid:
            return False
        self._owner[ip] = uid
        self._by_uid[uid] = ip
        return True

    def release(self, uid: str) -> None:
        ip = self._by_uid.pop(uid, None)
        if ip is not None:
            self._owner.pop(ip, None)

    def get(self, uid: str) -> str | None:
        return self._by_uid.get(uid)

    def in_use(self) -> dict[str, str]:
        return dict(self._owner)
