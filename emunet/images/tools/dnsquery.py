"""One DNS question to one server, as a stub resolver asks it (dnslib wire format).

UDP first, TCP when the answer is truncated, retries by the resolv.conf
`timeout` and `attempts`. Blocking sockets: the tools are short-lived
command-line programs, not servers.
"""
from __future__ import annotations

import random
import socket
import struct

from dnslib import QTYPE, RCODE, DNSQuestion, DNSRecord


class NoAnswer(Exception):
    """The server could not be reached or did not answer in time."""


def query(server: str, name: str, qtype: str, timeout: float = 5.0, attempts: int = 2,
          port: int = 53) -> DNSRecord:
    request = DNSRecord(q=DNSQuestion(name, getattr(QTYPE, qtype)))
    request.header.id = random.randint(0, 0xFFFF)
    packet = request.pack()
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.connect((server, port))
                sock.send(packet)
                while True:
                    reply = DNSRecord.parse(sock.recv(65535))
                    if reply.header.id == request.header.id:
                        break
            except (TimeoutError, ConnectionRefusedError, OSError):
                continue
        if reply.header.tc:
            return _query_tcp(server, port, packet, timeout)
        return reply
    raise NoAnswer(f"no answer from {server}")


def _query_tcp(server: str, port: int, packet: bytes, timeout: float) -> DNSRecord:
    try:
        with socket.create_connection((server, port), timeout=timeout) as sock:
            sock.sendall(struct.pack("!H", len(packet)) + packet)
            data = b""
            while len(data) < 2 or len(data) < 2 + struct.unpack("!H", data[:2])[0]:
                chunk = sock.recv(65535)
                if not chunk:
                    raise NoAnswer("connection closed")
                data += chunk
    except OSError as exc:
        raise NoAnswer(str(exc)) from None
    return DNSRecord.parse(data[2:])


def addresses(reply: DNSRecord, qtype: str) -> list[str]:
    """The addresses of the answer's records of one type (after any CNAMEs)."""
    if reply.header.rcode != RCODE.NOERROR:
        return []
    wanted = getattr(QTYPE, qtype)
    return [str(rr.rdata) for rr in reply.rr if rr.rtype == wanted]


def reverse_name(ip: str) -> str:
    if ":" in ip:
        import ipaddress
        return ipaddress.ip_address(ip).reverse_pointer
    return ".".join(reversed(ip.split("."))) + ".in-addr.arpa"


def ptr(server: str, ip: str, timeout: float, attempts: int) -> str | None:
    try:
        reply = query(server, reverse_name(ip), "PTR", timeout, attempts)
    except NoAnswer:
        return None
    if reply.header.rcode != RCODE.NOERROR:
        return None
    for rr in reply.rr:
        if rr.rtype == QTYPE.PTR:
            return str(rr.rdata).rstrip(".")
    return None
