"""How agnhost, a Go program, looks from outside: its flags and its HTTP.

agnhost parses flags with cobra/pflag and answers with Go's net/http, and
tests written against the real image match on both: on `Error: unknown
flag: --x` and on a response's exact headers (`Date`, `Content-Length`, then
the sniffed `Content-Type: text/plain; charset=utf-8`, no `Server`, and
`Connection: close` only when closing). Both are pure and table-tested.
"""
from __future__ import annotations

import http
import json
import re
import time

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


# A flag's default fixes its type, as pflag's typed flag constructors do.
FlagValue = bool | int | str


class FlagError(Exception):
    pass


def parse_flags(argv: list[str], spec: dict[str, FlagValue]) -> dict[str, FlagValue]:
    """Parse pflag-style `--name=value`, `--name value` and bool `--name`.

    `spec` maps each flag to its default, whose type (bool, int, str) is the
    flag's type. Positional arguments are an error, as agnhost's commands
    take none.
    """
    values = dict(spec)
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("-") or arg in ("-", "--"):
            raise FlagError(f'unknown command "{arg}"')
        name, eq, value = arg.lstrip("-").partition("=")
        if name not in spec:
            raise FlagError(f"unknown flag: --{name}")
        default = spec[name]
        if isinstance(default, bool):
            if not eq:
                values[name] = True
                continue
            if value.lower() not in ("true", "false", "1", "0", "t", "f"):
                raise FlagError(f'invalid argument "{value}" for "--{name}" flag: '
                                f'strconv.ParseBool: parsing "{value}": invalid syntax')
            values[name] = value.lower() in ("true", "1", "t")
            continue
        if not eq:
            if i >= len(argv):
                raise FlagError(f"flag needs an argument: --{name}")
            value = argv[i]
            i += 1
        if isinstance(default, int):
            try:
                values[name] = int(value)
            except ValueError:
                raise FlagError(f'invalid argument "{value}" for "--{name}" flag: '
                                f'strconv.ParseInt: parsing "{value}": invalid syntax') from None
        else:
            values[name] = value
    return values


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration, in seconds ("" and "0" are zero)."""
    if text in ("", "0"):
        return 0.0
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    pos, total = 0, 0.0
    while pos < len(body):
        match = _DURATION.match(body, pos)
        if not match:
            raise ValueError(f'time: invalid duration "{text}"')
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not body:
        raise ValueError(f'time: invalid duration "{text}"')
    return sign * total


def format_duration(seconds: float) -> str:
    """Go's Duration.String for the common cases ("0s", "5s", "1.5s", "100ms", "1m0s")."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    out = f"{hours}h" if hours else ""
    if hours or minutes:
        out += f"{minutes}m"
    return out + f"{secs:g}s"


def go_json(value: object) -> str:
    """encoding/json.Marshal: compact, sorted map keys, HTML-safe escapes."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def sniff(body: bytes) -> str:
    """The part of http.DetectContentType agnhost's bodies can reach."""
    head = body.lstrip(b"\t\n\x0c\r ")[:512].lower()
    for tag in (b"<!doctype html", b"<html", b"<head", b"<body", b"<a", b"<p", b"<h1",
                b"<br", b"<div", b"<title"):
        if head.startswith(tag) and head[len(tag):len(tag) + 1] in (b" ", b">"):
            return "text/html; charset=utf-8"
    if any(b < 0x20 and b not in (9, 10, 12, 13, 27) for b in body[:512]):
        return "application/octet-stream"
    return "text/plain; charset=utf-8"


def status_line(code: int) -> str:
    try:
        reason = http.HTTPStatus(code).phrase
    except ValueError:
        reason = f"status code {code}"
    if code == 412:
        reason = "Precondition Failed"
    return f"HTTP/1.1 {code} {reason}\r\n"


def response(code: int, body: bytes = b"", *, content_type: str | None = None,
             headers: list[tuple[str, str]] | None = None, close: bool = False,
             head_only: bool = False) -> bytes:
    """Bytes of a net/http response, in Go's order.

    The handler's own header fields come first, sorted (an explicit
    Content-Type is one of them); then the server's: Date, Content-Length,
    a sniffed Content-Type when the handler set none, Connection.
    """
    fields = dict(headers or [])
    if content_type:
        fields["Content-Type"] = content_type
    lines = [status_line(code)]
    for name in sorted(fields):
        lines.append(f"{name}: {fields[name]}\r\n")
    lines.append(f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime())}\r\n")
    if not (100 <= code < 200 or code in (204, 304)):
        lines.append(f"Content-Length: {len(body)}\r\n")
    if body and "Content-Type" not in fields:
        lines.append(f"Content-Type: {sniff(body)}\r\n")
    if close and fields.get("Connection") != "close":
        lines.append("Connection: close\r\n")
    lines.append("\r\n")
    return "".join(lines).encode() + (b"" if head_only else body)


def error(code: int, message: str, close: bool = False) -> bytes:
    """http.Error: the message and a newline, plain text, nosniff."""
    return response(code, (message + "\n").encode(), content_type="text/plain; charset=utf-8",
                    headers=[("X-Content-Type-Options", "nosniff")], close=close)


BAD_REQUEST = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
               b"Connection: close\r\n\r\n400 Bad Request")
