"""The kernel fast path: TCP Service addresses as nftables DNAT rules, as kube-proxy's
nftables mode does.

A userspace hop caps one bulk stream at ~0.3x of going direct on these machines
and new connections at ~0.5-0.7x; DNAT in the `nat output` hook costs about
nothing (research/perf-anchors.md §4). So, when the proxy runs as root with
`nft` installed and the cluster asks for `proxyMode: nftables`, every TCP
listener that needs nothing but balancing becomes one rule:

    ip daddr VIP tcp dport PORT counter dnat ip to numgen inc mod N map { i : EP . PORT }

in a table of its own, `ip emunet_<cluster>`, rewritten whole in one atomic
`nft -f` transaction on every sync whose rules changed, deleted when the proxy
starts (a crashed predecessor's rules) and when it stops. What stays in
userspace: UDP, listeners that end TLS, ClientIP affinity, and ClusterIPs with
internalTrafficPolicy Local (both need the client's address, which the SNAT
below hides). A port with no usable endpoint gets no rule and no listener, so
the kernel answers the SYN with RST, as kube-proxy's reject does.

DNAT'd connections are SNAT'd to one address of the cluster's own
(`snat_address`) that no client uses directly: a client that reached the same
pod socket directly and through the VIP from the same address could otherwise
reuse a 4-tuple still in TIME_WAIT and stall for a second on SYN retransmits
(PAWS; measured in perf-anchors §4). The price: pods see that address, not the
client's, for kernel-path connections.

Pure text building is separate from running `nft` (emunet/nftables.py), and is
tested as tables.
"""
from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass

from ..nftables import apply, delete, unavailable

__all__ = ["MODES", "Rule", "apply", "delete", "render", "snat_address", "table_name",
           "unavailable"]

log = logging.getLogger("emunet.proxy.nft")

MODES = ("userspace", "nftables")


@dataclass(frozen=True)
class Rule:
    """One VIP:port balanced over endpoints by the kernel."""
    ip: str
    port: int
    endpoints: tuple[tuple[str, int], ...]
    comment: str = ""


def table_name(cluster: str) -> str:
    return "emunet_" + re.sub(r"[^A-Za-z0-9_]", "_", cluster)


def snat_address(service_cidr: str) -> str:
    """The last usable address of the service range: never a ClusterIP in practice,
    never a pod or a client; kernel-path connections come from it."""
    net = ipaddress.ip_network(service_cidr)
    return str(net.broadcast_address - 1)


def _comment(text: str) -> str:
    return '"' + re.sub(r'[^A-Za-z0-9_./:-]', "_", text)[:120] + '"'


def render(table: str, rules: list[Rule], snat: str) -> str:
    """The whole table as one `nft -f` transaction (create, flush by delete, refill)."""
    lines = [f"add table ip {table}", f"delete table ip {table}", f"table ip {table} {{",
             "  chain output {", "    type nat hook output priority -100; policy accept;"]
    rules = sorted((r for r in rules if r.endpoints), key=lambda r: (r.ip, r.port))
    # A port with no endpoint has no rule: nothing listens, so the kernel resets the SYN.
    for r in rules:
        head = f"    ip daddr {r.ip} tcp dport {r.port} counter"
        if len(r.endpoints) == 1:
            ip, port = r.endpoints[0]
            target = f"dnat ip to {ip}:{port}"
        else:
            pairs = ", ".join(f"{i} : {ip} . {port}" for i, (ip, port) in enumerate(r.endpoints))
            target = f"dnat ip to numgen inc mod {len(r.endpoints)} map {{ {pairs} }}"
        comment = f" comment {_comment(r.comment)}" if r.comment else ""
        lines.append(f"{head} {target}{comment}")
    lines += ["  }", "  chain postrouting {",
              "    type nat hook postrouting priority 100; policy accept;"]
    vips = sorted({r.ip for r in rules}, key=ipaddress.ip_address)
    if vips:
        # Only this table's VIPs: another cluster's table SNATs its own.
        lines.append(f"    ct status dnat ct original ip daddr {{ {', '.join(vips)} }} "
                     f"counter snat ip to {snat}")
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"
