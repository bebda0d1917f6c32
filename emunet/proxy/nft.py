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

Pure text building is separate from running `nft`, and is tested as tables.
Transactions go through libnftables (the library `nft` itself is built on) by
ctypes when it loads: a fork+exec of `nft` per sync cost 10-40 ms on a busy
2-core machine, which is most of the propagation budget; the library call
takes well under a millisecond. The `nft` command is the fallback.
"""
from __future__ import annotations

import asyncio
import ctypes
import ipaddress
import logging
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass

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


def unavailable() -> str:
    """Why the kernel path cannot run here ('' when it can)."""
    if os.geteuid() != 0:
        return "nftables mode needs root (CAP_NET_ADMIN)"
    if shutil.which("nft") is None:
        return "nftables mode needs the `nft` command (Debian package nftables)"
    try:
        r = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, timeout=5,
                           check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"`nft list tables` failed: {e}"
    if r.returncode:
        return f"`nft list tables` failed: {r.stderr.strip()}"
    return ""


class _Lib:
    """libnftables through ctypes: one context, used by one thread at a time."""

    def __init__(self) -> None:
        lib = ctypes.CDLL("libnftables.so.1")
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        ctx = lib.nft_ctx_new(0)
        if not ctx:
            raise OSError("nft_ctx_new failed")
        lib.nft_ctx_buffer_output(ctx)
        lib.nft_ctx_buffer_error(ctx)
        self.lib, self.ctx = lib, ctx
        self.lock = threading.Lock()

    def run(self, text: str) -> None:
        with self.lock:
            rc = self.lib.nft_run_cmd_from_buffer(self.ctx, text.encode())
            if rc:
                err = (self.lib.nft_ctx_get_error_buffer(self.ctx) or b"").decode().strip()
                raise RuntimeError(f"nft transaction failed: {err}")


_lib: _Lib | None = None
_lib_tried = False


def _library() -> _Lib | None:
    global _lib, _lib_tried
    if not _lib_tried:
        _lib_tried = True
        try:
            _lib = _Lib()
        except (OSError, AttributeError) as e:
            log.info("libnftables not usable (%s): running the nft command instead", e)
    return _lib


async def apply(text: str) -> None:
    """Run one transaction; raises RuntimeError with nft's message on failure."""
    lib = _library()
    if lib is not None:
        await asyncio.to_thread(lib.run, text)
        return
    proc = await asyncio.create_subprocess_exec(
        "nft", "-f", "-", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate(text.encode())
    if proc.returncode:
        raise RuntimeError(f"nft -f failed ({proc.returncode}): {err.decode().strip()}")


def delete(table: str) -> None:
    """Remove the table if it exists (blocking: used at start and at exit only)."""
    if shutil.which("nft") is None:
        return
    try:
        subprocess.run(["nft", "-f", "-"], input=f"add table ip {table}\ndelete table ip {table}\n",
                       capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        log.warning("could not delete nft table %s: %s", table, e)
