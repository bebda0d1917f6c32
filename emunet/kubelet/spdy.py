"""SPDY/3 framing, the server's half, as much as port-forward uses.

kubectl port-forward speaks SPDY/3.1 (the moby/spdystream library) to the
kubelet; since 1.31 it carries the SPDY bytes inside WebSocket binary
messages (subprotocol `SPDY/3.1+portforward.k8s.io`), so this module only
turns bytes into frames and frames into bytes. Frames (draft 3):

- control: `1 | version(15) | type(16) | flags(8) | length(24) | data`
- data:    `0 | stream-id(31) | flags(8) | length(24) | data`

Header blocks (SYN_STREAM, SYN_REPLY, HEADERS) are `count, (len, name,
len, value)*` with 32-bit lengths, compressed by one zlib stream per
direction for the whole session, primed with the dictionary the spec
fixes. Flow control (WINDOW_UPDATE) is read and ignored: spdystream does not
enforce windows either.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS = 1, 2, 3, 4
PING, GOAWAY, HEADERS, WINDOW_UPDATE = 6, 7, 8, 9
FLAG_FIN = 0x01
MAX_DATA = 64 * 1024          # what we put in one DATA frame

# RST_STREAM status codes.
PROTOCOL_ERROR, CANCEL = 1, 5

# The SPDY/3 header dictionary: length-prefixed header names and values,
# then a run of status codes, reason phrases, dates and media types.
_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language "
    "accept-ranges age allow authorization cache-control connection content-base "
    "content-encoding content-language content-length content-location content-md5 "
    "content-range content-type date etag expect expires from host if-match "
    "if-modified-since if-none-match if-range if-unmodified-since last-modified location "
    "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after "
    "server te trailer transfer-encoding upgrade user-agent vary via warning "
    "www-authenticate method get status|200 OK|version HTTP/1.1 url public set-cookie "
    "keep-alive origin")
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, "
    "Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")


def _dictionary() -> bytes:
    # "200 OK" is one entry with a space in it; `|` marks where it starts and ends.
    words: list[str] = []
    for part in _WORDS.split("|"):
        if part.startswith("200 OK"):
            words.append("200 OK")
            part = part[len("200 OK"):]
        words += part.split()
    return b"".join(struct.pack(">I", len(w)) + w.encode() for w in words) + _TAIL.encode()


DICTIONARY = _dictionary()


class ProtocolError(Exception):
    pass


@dataclass
class Frame:
    kind: str                   # "data" or "control"
    type: int = 0               # control frame type
    flags: int = 0
    stream_id: int = 0
    data: bytes = b""           # DATA payload
    headers: dict[str, list[str]] = field(default_factory=dict)
    value: int = 0              # PING id, RST/GOAWAY status, WINDOW_UPDATE delta

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


class Framer:
    """One session's reader and writer: feed() bytes in, get frames; *_frame() out."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15,
                                         zdict=DICTIONARY)

    # ---- reading -----------------------------------------------------------

    def feed(self, data: bytes) -> list[Frame]:
        self.buf += data
        frames: list[Frame] = []
        while len(self.buf) >= 8:
            first, second = struct.unpack_from(">II", self.buf)
            length = second & 0xFFFFFF
            if len(self.buf) < 8 + length:
                break
            payload = bytes(self.buf[8:8 + length])
            del self.buf[:8 + length]
            flags = second >> 24
            if first & 0x80000000:
                version, ftype = (first >> 16) & 0x7FFF, first & 0xFFFF
                if version != VERSION:
                    raise ProtocolError(f"unsupported SPDY version {version}")
                frames.append(self._control(ftype, flags, payload))
            else:
                frames.append(Frame("data", flags=flags, stream_id=first & 0x7FFFFFFF,
                                    data=payload))
        return frames

    def _control(self, ftype: int, flags: int, p: bytes) -> Frame:
        f = Frame("control", type=ftype, flags=flags)
        try:
            if ftype == SYN_STREAM:
                f.stream_id = struct.unpack_from(">I", p)[0] & 0x7FFFFFFF
                f.headers = self._headers(p[10:])
            elif ftype in (SYN_REPLY, HEADERS):
                f.stream_id = struct.unpack_from(">I", p)[0] & 0x7FFFFFFF
                f.headers = self._headers(p[4:])
            elif ftype in (RST_STREAM, WINDOW_UPDATE):
                sid, f.value = struct.unpack_from(">II", p)
                f.stream_id = sid & 0x7FFFFFFF
            elif ftype == PING:
                f.value = struct.unpack_from(">I", p)[0]
            elif ftype == GOAWAY:
                sid, f.value = struct.unpack_from(">II", p)
                f.stream_id = sid & 0x7FFFFFFF
        except struct.error:
            raise ProtocolError(f"short control frame of type {ftype}") from None
        return f

    def _headers(self, block: bytes) -> dict[str, list[str]]:
        try:
            raw = self._inflate.decompress(block)
        except zlib.error as e:
            raise ProtocolError(f"bad header block: {e}") from None
        headers: dict[str, list[str]] = {}
        try:
            (count,), pos = struct.unpack_from(">I", raw), 4
            for _ in range(count):
                (n,) = struct.unpack_from(">I", raw, pos)
                name = raw[pos + 4:pos + 4 + n].decode("utf-8", "replace")
                pos += 4 + n
                (n,) = struct.unpack_from(">I", raw, pos)
                value = raw[pos + 4:pos + 4 + n].decode("utf-8", "replace")
                pos += 4 + n
                headers.setdefault(name.lower(), []).extend(value.split("\x00"))
        except struct.error:
            raise ProtocolError("truncated header block") from None
        return headers

    # ---- writing -----------------------------------------------------------

    def _block(self, headers: dict[str, str]) -> bytes:
        raw = bytearray(struct.pack(">I", len(headers)))
        for name, value in headers.items():
            for text in (name.lower(), value):
                b = text.encode()
                raw += struct.pack(">I", len(b)) + b
        return self._deflate.compress(bytes(raw)) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    @staticmethod
    def _control_frame(ftype: int, flags: int, payload: bytes) -> bytes:
        return struct.pack(">HHI", 0x8000 | VERSION, ftype, (flags << 24) | len(payload)) \
            + payload

    def syn_reply(self, stream_id: int, headers: dict[str, str] | None = None,
                  fin: bool = False) -> bytes:
        payload = struct.pack(">I", stream_id) + self._block(headers or {})
        return self._control_frame(SYN_REPLY, FLAG_FIN if fin else 0, payload)

    def syn_stream(self, stream_id: int, headers: dict[str, str], fin: bool = False) -> bytes:
        """A client's SYN_STREAM (the tests play kubectl with it)."""
        payload = struct.pack(">IIH", stream_id, 0, 0) + self._block(headers)
        return self._control_frame(SYN_STREAM, FLAG_FIN if fin else 0, payload)

    def data(self, stream_id: int, data: bytes = b"", fin: bool = False) -> bytes:
        out = bytearray()
        view = memoryview(data)
        while True:
            chunk, view = view[:MAX_DATA], view[MAX_DATA:]
            last = not view
            flags = FLAG_FIN if fin and last else 0
            out += struct.pack(">II", stream_id & 0x7FFFFFFF, (flags << 24) | len(chunk)) + chunk
            if last:
                return bytes(out)

    def ping(self, ping_id: int) -> bytes:
        return self._control_frame(PING, 0, struct.pack(">I", ping_id))

    def rst_stream(self, stream_id: int, status: int) -> bytes:
        return self._control_frame(RST_STREAM, 0, struct.pack(">II", stream_id, status))
