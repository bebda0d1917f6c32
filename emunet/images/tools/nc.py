"""A small `nc` for pods whose host has none: connect, listen, UDP, port probe.

Busybox images carry `nc`, and readers of Service tutorials use it to poke
a port (`nc -z -v my-nginx 80`, `echo hostname | nc -u -w1 svc 8081`). This
covers those uses with busybox/openbsd flags: `-l -p PORT`, `-u`, `-w SECS`,
`-z`, `-v`. Bytes are copied between stdin/stdout and the socket until both
sides are done.
"""
from __future__ import annotations

import os
import select
import socket
import sys
from dataclasses import dataclass, field

USAGE = "usage: nc [-luvz] [-w SECS] [-p PORT] [HOST PORT]\n"


@dataclass
class Options:
    flags: set[str] = field(default_factory=set)         # the boolean letters given
    values: dict[str, str] = field(default_factory=dict)  # -w and -p
    rest: list[str] = field(default_factory=list)         # HOST PORT, or a listener's address


def parse(argv: list[str]) -> Options:
    opts = Options()
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg.startswith("-") and len(arg) > 1:
            letters = arg[1:]
            while letters:
                flag, letters = letters[0], letters[1:]
                if flag in "wpq":
                    value = letters or (args.pop(0) if args else "")
                    letters = ""
                    if flag != "q":
                        opts.values[flag] = value
                elif flag in "luvzn":
                    opts.flags.add(flag)
                else:
                    raise ValueError(f"invalid option -- '{flag}'")
        else:
            opts.rest.append(arg)
    return opts


def pump(sock: socket.socket, wait: float | None, udp: bool) -> None:
    stdin_open = True
    while True:
        watch = [sock] + ([sys.stdin.fileno()] if stdin_open else [])
        ready, _, _ = select.select(watch, [], [], wait)
        if not ready:
            return
        if sock in ready:
            data = sock.recv(65536)
            if not data and not udp:
                return
            os.write(1, data)
        if stdin_open and sys.stdin.fileno() in ready:
            data = os.read(sys.stdin.fileno(), 65536)
            if data:
                sock.send(data)
            else:
                stdin_open = False
                if not udp:
                    try:
                        sock.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass


def main(argv: list[str]) -> int:
    try:
        opts = parse(argv[1:])
    except ValueError as exc:
        sys.stderr.write(f"nc: {exc}\n{USAGE}")
        return 1
    rest = opts.rest
    wait = float(opts.values["w"]) if opts.values.get("w") else None
    udp = "u" in opts.flags
    kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    if "l" in opts.flags:
        port = int(opts.values.get("p") or (rest[-1] if rest else 0))
        listener = socket.socket(socket.AF_INET, kind)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((rest[0] if len(rest) > 1 else "0.0.0.0", port))
        if udp:
            data, peer = listener.recvfrom(65536)
            os.write(1, data)
            listener.connect(peer)
            pump(listener, wait, True)
            return 0
        listener.listen(1)
        conn, _ = listener.accept()
        pump(conn, wait, False)
        return 0
    if len(rest) != 2:
        sys.stderr.write(USAGE)
        return 1
    host, port_text = rest
    try:
        addr = socket.gethostbyname(host)
    except OSError:
        sys.stderr.write(f"nc: bad address '{host}'\n")
        return 1
    sock = socket.socket(socket.AF_INET, kind)
    sock.settimeout(wait)
    try:
        sock.connect((addr, int(port_text)))
    except OSError as exc:
        if "v" in opts.flags:
            sys.stderr.write(f"nc: {host} ({addr}:{port_text}): {exc.strerror or exc}\n")
        return 1
    if "v" in opts.flags:
        sys.stderr.write(f"{host} ({addr}:{port_text}) open\n")
    if "z" in opts.flags:
        return 0
    sock.settimeout(None)
    pump(sock, wait, udp)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
