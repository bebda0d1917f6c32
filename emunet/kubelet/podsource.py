"""A pod's connections leave from its pod IP, where the host lets the kubelet arrange it.

Pods share the host's network namespace (loopback only, no veth), so a process in
a pod that connects without binding gets the host's loopback source, 127.0.0.1.
Then every pod looks alike to a Service's ClientIP affinity, a ClusterIP with
internalTrafficPolicy Local cannot tell which node a client is on, and a server
cannot say which pod called. So, as root, with a net_cls cgroup hierarchy and
nftables:

- each pod gets a net_cls cgroup whose classid is its IP: the address's four
  bytes read as the kernel reads a u32 from memory;
- every process of the pod (its containers, `kubectl exec`, exec probes) joins
  that cgroup before it execs (runtime.py);
- one rule per node, in a table of the kubelet's own, rewrites the source of
  loopback connections made from the cgroups of the node's pod CIDR to the
  classid itself:

      meta cgroup & MASK == NET ip daddr 127.0.0.0/8 ip daddr != 127.0.0.1 snat ip to meta cgroup

So a pod costs a mkdir and a write, never an nft transaction. 127.0.0.1 is left
alone: in a pod, that address is the pod itself. The rewrite is NAT (conntrack
undoes it for replies), so getsockname() in the pod still says 127.0.0.1. The
chain runs after the proxy's (priority srcnat + 10), so connections the proxy's
nftables mode balanced keep the address that mode gives them.

Without root, net_cls or nft, pods' connections keep 127.0.0.1 and the kubelet
says why once.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import sys
from pathlib import Path

from .. import nftables
from . import sandbox

log = logging.getLogger("emunet.kubelet.podsource")

# Where the kubelet mounts the net_cls hierarchy when the host has none mounted.
MOUNT_POINT = Path("/run/emunet/net_cls")
PRIORITY = 110  # after srcnat (100), where the proxy's nftables mode SNATs


def classid(ip: str) -> int:
    """The classid whose u32, as `meta cgroup` loads it into an address, is `ip`."""
    return int.from_bytes(ipaddress.IPv4Address(ip).packed, sys.byteorder)


def cidr_match(cidr: str) -> tuple[int, int]:
    """(mask, value): `meta cgroup & mask == value` holds for the classids of `cidr`."""
    net = ipaddress.IPv4Network(cidr)
    return (int.from_bytes(net.netmask.packed, sys.byteorder),
            int.from_bytes(net.network_address.packed, sys.byteorder))


def _slug(cidr: str) -> str:
    return re.sub(r"[^0-9]", "_", cidr)


def table_name(cidr: str) -> str:
    # Named for the pod CIDR, not the cluster: two clusters may share a name (in
    # different state directories), never a live pod CIDR.
    return "emunet_pods_" + _slug(cidr)


def render(table: str, cidr: str) -> str:
    mask, value = cidr_match(cidr)
    return "\n".join([
        f"add table ip {table}", f"delete table ip {table}", f"table ip {table} {{",
        "  chain postrouting {",
        f"    type nat hook postrouting priority {PRIORITY}; policy accept;",
        f"    meta cgroup & {mask:#010x} == {value:#010x} ip daddr 127.0.0.0/8 "
        "ip daddr != 127.0.0.1 snat ip to meta cgroup",
        "  }", "}"]) + "\n"


def find_net_cls(mountinfo: str) -> str | None:
    """The mount point of a cgroup v1 hierarchy with the net_cls controller."""
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) >= 5 and len(tail) >= 3 and tail[0] == "cgroup" \
                and "net_cls" in tail[2].split(","):
            return fields[4].replace("\\040", " ")
    return None


def _hierarchy() -> Path:
    found = find_net_cls(Path("/proc/self/mountinfo").read_text())
    if found:
        return Path(found)
    MOUNT_POINT.mkdir(parents=True, exist_ok=True)
    try:
        sandbox.mount("none", str(MOUNT_POINT), "cgroup", 0, "net_cls")
    except OSError:
        # Another node's kubelet, starting at the same moment, may have mounted it.
        if find_net_cls(Path("/proc/self/mountinfo").read_text()) is None:
            raise
    return MOUNT_POINT


class PodSource:
    """One node's pod source addresses: its table, and a cgroup per pod."""

    def __init__(self, pod_cidr: str) -> None:
        self.cidr = pod_cidr
        self.table = table_name(pod_cidr)
        self.root: Path | None = None  # the node's cgroups; None while not active
        self.why_not = "not started"

    @property
    def active(self) -> bool:
        return self.root is not None

    async def start(self) -> None:
        why = await asyncio.to_thread(nftables.unavailable)
        if why:
            self._off(why)
            return
        try:
            root = await asyncio.to_thread(_hierarchy) / "emunet" / _slug(self.cidr)
            await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
            await asyncio.to_thread(self._sweep, root)
            await nftables.apply(render(self.table, self.cidr))
        except (OSError, RuntimeError) as e:
            self._off(str(e))
            return
        self.root, self.why_not = root, ""
        log.info("pods' connections leave from their pod IPs (net_cls cgroups under %s, "
                 "table ip %s)", root, self.table)

    def _off(self, why: str) -> None:
        self.why_not = why
        log.warning("pods' connections leave from 127.0.0.1, not their pod IPs (%s)", why)

    def cgroup(self, uid: str, ip: str) -> str | None:
        """The cgroup.procs file a process of this pod joins (None: no pod source)."""
        if self.root is None:
            return None
        d = self.root / uid
        try:
            d.mkdir(exist_ok=True)
            (d / "net_cls.classid").write_text(str(classid(ip)))
        except OSError as e:
            log.warning("pod %s: no net_cls cgroup, so its connections leave from "
                        "127.0.0.1: %s", uid, e)
            return None
        return str(d / "cgroup.procs")

    def release(self, uid: str) -> None:
        if self.root is not None:
            try:
                (self.root / uid).rmdir()
            except OSError:
                pass  # a process that outlived its pod still holds it: the sweep retries

    def _sweep(self, root: Path) -> None:
        """Remove the cgroups of pods gone (a previous run's, or ones left busy)."""
        for d in root.iterdir():
            if d.is_dir():
                try:
                    d.rmdir()
                except OSError:
                    pass

    def close(self) -> None:
        if self.root is not None:
            nftables.delete(self.table)
            self._sweep(self.root)
            self.root = None
