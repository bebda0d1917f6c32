"""`nslookup` as busybox 1.2x prints it (the radial/busyboxplus of the tutorial).

    Server:    10.0.0.10
    Address 1: 10.0.0.10 kube-dns.kube-system.svc.cluster.local

    Name:      my-nginx
    Address 1: 10.0.162.149 my-nginx.default.svc.cluster.local

Old busybox resolves both the server and the name through the C library:
each block is `%-10s %s` of the header and the name as typed, then one
`Address N: <ip>` line per address, followed by the reverse (PTR) name when
the server has one. Names are searched through the resolv.conf search path
and ndots; a name that does not resolve prints `nslookup: can't resolve
'<name>'` on stderr and exits 1. Start-up stays light (no aiohttp), since a
shell loop may run it many times.
"""
from __future__ import annotations

import ipaddress
import sys

from emunet.images.tools import dnsquery, resolvconf


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def lookup(name: str, conf: resolvconf.ResolvConf) -> list[str]:
    """The name's addresses, IPv4 first, following the search path."""
    if _is_ip(name):
        return [name]
    server = conf.nameservers[0]
    for candidate in resolvconf.candidates(name, conf):
        try:
            reply = dnsquery.query(server, candidate, "A", conf.timeout, conf.attempts)
        except dnsquery.NoAnswer:
            return []
        found = dnsquery.addresses(reply, "A")
        try:
            found += dnsquery.addresses(
                dnsquery.query(server, candidate, "AAAA", conf.timeout, conf.attempts), "AAAA")
        except dnsquery.NoAnswer:
            pass
        if found:
            return found
    return []


def block(header: str, name: str, ips: list[str], conf: resolvconf.ResolvConf) -> str:
    lines = [f"{header:<10} {name}"]
    for i, ip in enumerate(ips, 1):
        rev = dnsquery.ptr(conf.nameservers[0], ip, conf.timeout, conf.attempts)
        lines.append(f"Address {i}: {ip} {rev}" if rev else f"Address {i}: {ip}")
    return "\n".join(lines) + "\n"


USAGE = """BusyBox v1.22.1 (2014-09-13 22:07:01 UTC) multi-call binary.

Usage: nslookup [HOST] [SERVER]

Query the nameserver for the IP address of the given HOST
optionally using a specified DNS server
"""


def main(argv: list[str]) -> int:
    args = argv[1:]
    if not args or len(args) > 2 or args[0].startswith("-"):
        sys.stderr.write(USAGE)
        return 1
    conf = resolvconf.load()
    if len(args) == 2:
        server = args[1] if _is_ip(args[1]) else next(iter(lookup(args[1], conf)), args[1])
        conf.nameservers = [server]
    server = conf.nameservers[0]
    sys.stdout.write(block("Server:", server, [server], conf) + "\n")
    sys.stdout.flush()
    ips = lookup(args[0], conf)
    if not ips:
        sys.stderr.write(f"nslookup: can't resolve '{args[0]}'\n")
        return 1
    sys.stdout.write(block("Name:", args[0], ips, conf))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
