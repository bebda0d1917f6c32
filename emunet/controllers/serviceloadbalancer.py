"""The "cloud" service controller: LoadBalancer Services get an ingress IP.

As a cloud provider's service controller (or MetalLB): a Service of type
LoadBalancer gets `status.loadBalancer.ingress[0].ip` from the cluster's load
balancer pool, honouring `spec.loadBalancerIP` when it is free; the address
is released when the Service changes type or is deleted. The proxy then
listens on that address. The pool is rebuilt from the Services' statuses on
start, so a restart never hands an address out twice.
"""
from __future__ import annotations

import ipaddress
import logging
from typing import Any

from .. import resources
from ..client import Client, Informer
from ..config import ClusterConfig
from . import common, workqueue

log = logging.getLogger("emunet.controllers.serviceloadbalancer")
Obj = dict[str, Any]
SERVICE = resources.by_plural("services")
Key = tuple[str, str]


class Pool:
    """Load-balancer addresses by Service, lowest free address first (pure)."""

    def __init__(self, cidr: str) -> None:
        self.net = ipaddress.ip_network(cidr)
        self.owner: dict[str, Key] = {}
        self.by_key: dict[Key, str] = {}

    def holds(self, key: Key) -> str | None:
        return self.by_key.get(key)

    def take(self, key: Key, ip: str) -> bool:
        """Give `ip` to `key` if it is in the pool and free (or already key's)."""
        try:
            if ipaddress.ip_address(ip) not in self.net:
                return False
        except ValueError:
            return False
        if self.owner.get(ip, key) != key:
            return False
        self.release(key)
        self.owner[ip] = key
        self.by_key[key] = ip
        return True

    def allocate(self, key: Key) -> str | None:
        if key in self.by_key:
            return self.by_key[key]
        for addr in self.net.hosts():
            ip = str(addr)
            if ip not in self.owner:
                self.take(key, ip)
                return ip
        return None

    def release(self, key: Key) -> None:
        ip = self.by_key.pop(key, None)
        if ip is not None:
            self.owner.pop(ip, None)


def ingress_ip(svc: Obj) -> str | None:
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return ingress[0].get("ip") if ingress else None


class Controller:
    def __init__(self, client: Client, cfg: ClusterConfig) -> None:
        self.client = client
        self.cfg = cfg
        self.services = Informer.shared(client, SERVICE)
        self.pool = Pool(cfg.load_balancer_cidr)
        self.queue = workqueue.WorkQueue()
        self.services.add_handler(lambda et, obj, old: self.queue.add(common.key_of(obj)))

    async def run(self) -> None:
        await workqueue.run_controller([self.services], self.queue, self.sync, log,
                                       on_synced=self._rebuild)

    def _rebuild(self) -> None:
        for svc in self.services.items():
            ip = ingress_ip(svc)
            if ip and svc.get("spec", {}).get("type") == "LoadBalancer":
                self.pool.take(common.key_of(svc), ip)

    async def sync(self, key: Key) -> float | None:
        svc = self.services.get(*key)
        if svc is None:
            self.pool.release(key)
            return None
        svc = common.with_kind(svc, SERVICE)
        spec = svc.get("spec", {})
        current = ingress_ip(svc)
        if spec.get("type") != "LoadBalancer" or common.is_terminating(svc):
            self.pool.release(key)
            if (svc.get("status") or {}).get("loadBalancer"):
                await self._write(svc, {})
            return None
        want = spec.get("loadBalancerIP")
        ip = None
        if want and self.pool.take(key, want):
            ip = want
        elif current and self.pool.take(key, current):
            ip = current
        else:
            ip = self.pool.allocate(key)
        if ip is None:
            await self.client.event(svc, "SyncLoadBalancerFailed",
                                    "Error syncing load balancer: failed to ensure load "
                                    "balancer: no addresses left in the pool", "Warning",
                                    component="service-controller")
            return 30.0
        lb = {"ingress": [{"ip": ip, "ipMode": "VIP"}]}
        if (svc.get("status") or {}).get("loadBalancer") == lb:
            return None
        await self.client.event(svc, "EnsuringLoadBalancer", "Ensuring load balancer",
                                component="service-controller")
        await self._write(svc, lb)
        await self.client.event(svc, "EnsuredLoadBalancer", "Ensured load balancer",
                                component="service-controller")
        return None

    async def _write(self, svc: Obj, lb: Obj) -> None:
        body = dict(svc)
        body["status"] = {**(svc.get("status") or {}), "loadBalancer": lb}
        common.remember(self.services,
                        await self.client.update(SERVICE, body, subresource="status"))
