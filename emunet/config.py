"""The cluster config: nodes, address ranges, ports and timings, validated once.

One object carries every setting a component needs, so that components take
it as data (as kwok's components take their config) and two clusters can run
side by side with different ranges. A YAML file may override any field:

    nodes: 3
    podCIDR: 127.244.0.0/16
    serviceCIDR: 127.96.0.0/16
    nodeIPBase: 127.10.0.0
    loadBalancerCIDR: 127.200.0.0/16
    nodePortRange: 30000-32767
    apiPort: 6443
    nodeGraceSeconds: 4
    images: {myapp: "python3 -m myapp"}
"""
from __future__ import annotations

import ipaddress
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

KUBE_VERSION = "v1.32.4"
GIT_VERSION = "v1.32.4-emunet"


@dataclass
class ClusterConfig:
    name: str = "emunet"
    nodes: int = 2
    pod_cidr: str = "127.244.0.0/16"
    service_cidr: str = "127.96.0.0/16"
    node_ip_base: str = "127.10.0.0"
    load_balancer_cidr: str = "127.200.0.0/16"
    node_port_range: str = "30000-32767"
    api_address: str = "127.0.0.1"
    api_port: int = 6443
    cluster_domain: str = "cluster.local"
    dns_ttl: int = 5
    # How long a node may miss heartbeats before it is NotReady, and then how long
    # its pods stay before eviction (Kubernetes: 40 s and 300 s; short here so that
    # a dead node's pods come back elsewhere in seconds, as the tutorial shows).
    node_grace_seconds: float = 3.0
    eviction_seconds: float = 1.0
    heartbeat_seconds: float = 1.0
    # The kubelet's CrashLoopBackOff base delay, doubling to 300 s (Kubernetes: 10 s;
    # tests shorten it to see the back-off cycle quickly).
    crash_backoff_seconds: float = 10.0
    images: dict[str, str] = field(default_factory=dict)
    # Tests run clusters without the per-pod namespaces when set.
    sandbox: bool = True
    # A hosts file (normally /etc/hosts) that the DNS process keeps in step with the
    # Services, for name resolution from the host (`emunet up --host-dns`).
    host_dns: str | None = None
    # The proxy's data plane: "userspace" (every port relayed by the proxy process) or
    # "nftables" (TCP balancing as kernel DNAT rules; root and `nft` needed).
    proxy_mode: str = "userspace"

    # ---- derived addresses ----------------------------------------------

    def node_names(self) -> list[str]:
        base = "emunet" if self.name == "emunet" else self.name
        return [f"{base}-worker" + (str(i + 1) if i else "") for i in range(self.nodes)]

    def node_index(self, node: str) -> int:
        return self.node_names().index(node)

    def node_pod_cidr(self, index: int) -> str:
        net = ipaddress.ip_network(self.pod_cidr)
        return str(list(net.subnets(new_prefix=24))[index + 1])

    def node_internal_ip(self, index: int) -> str:
        return str(ipaddress.ip_address(self.node_ip_base) + 2 * index + 2)

    def node_external_ip(self, index: int) -> str:
        return str(ipaddress.ip_address(self.node_ip_base) + 2 * index + 3)

    def service_ip(self, offset: int) -> str:
        return str(ipaddress.ip_network(self.service_cidr).network_address + offset)

    @property
    def kubernetes_service_ip(self) -> str:
        return self.service_ip(1)

    @property
    def dns_service_ip(self) -> str:
        return self.service_ip(10)

    @property
    def node_ports(self) -> tuple[int, int]:
        lo, hi = self.node_port_range.split("-")
        return int(lo), int(hi)

    @property
    def context_name(self) -> str:
        return "emunet" if self.name == "emunet" else f"emunet-{self.name}"

    # ---- io ---------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ClusterConfig:
        return cls(**json.loads(text))

    @classmethod
    def load(cls, path: Path | None, **overrides: Any) -> ClusterConfig:
        data: dict[str, Any] = {}
        written: dict[str, str] = {}  # field -> the key as the user wrote it, for errors
        if path is not None:
            raw = yaml.safe_load(path.read_text()) or {}
            if not isinstance(raw, dict):
                raise ValueError(f"{path}: the cluster config must be a YAML mapping")
            data = {_snake(str(k)): v for k, v in raw.items()}
            written = {_snake(str(k)): str(k) for k in raw}
        data.update({k: v for k, v in overrides.items() if v is not None})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(written.get(k, k) for k in set(data) - known)
        if unknown:
            raise ValueError(f"unknown cluster config field(s): {', '.join(unknown)}")
        cfg = cls(**data)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        for name in ("pod_cidr", "service_cidr", "load_balancer_cidr"):
            net = ipaddress.ip_network(getattr(self, name))
            if not (isinstance(net, ipaddress.IPv4Network)
                    and net.subnet_of(ipaddress.IPv4Network("127.0.0.0/8"))):
                raise ValueError(f"{name} {net} must lie in 127.0.0.0/8: emunet serves on loopback")
        if not 1 <= self.nodes <= 50:
            raise ValueError("nodes must be between 1 and 50")
        lo, hi = self.node_ports
        if not 1 <= lo <= hi <= 65535:
            raise ValueError(f"bad nodePortRange {self.node_port_range}")


def _snake(key: str) -> str:
    special = {"podCIDR": "pod_cidr", "serviceCIDR": "service_cidr",
               "loadBalancerCIDR": "load_balancer_cidr", "nodeIPBase": "node_ip_base",
               "apiPort": "api_port", "apiAddress": "api_address"}
    if key in special:
        return special[key]
    out = []
    for ch in key:
        if ch.isupper():
            out.append("_" + ch.lower())
        else:
            out.append(ch)
    return "".join(out)
