"""SPDY/3 frames as kubectl's spdystream writes and reads them."""
from __future__ import annotations

import struct
import zlib

import pytest

from emunet.kubelet import spdy


def test_the_dictionary_is_the_specs() -> None:
    # draft 3 fixes its size (1423 bytes) and it opens with length-prefixed "options".
    assert len(spdy.DICTIONARY) == 1423
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert b"\x00\x00\x00\x06200 OK\x00\x00\x00\x07version" in spdy.DICTIONARY
    assert spdy.DICTIONARY.endswith(b"utf-,*,enq=0.")


def test_frames_survive_any_split_and_headers_share_one_zlib_stream() -> None:
    client, server = spdy.Framer(), spdy.Framer()
    wire = (client.syn_stream(1, {"streamType": "error", "port": "80", "requestID": "0"})
            + client.syn_stream(3, {"streamType": "data", "port": "80", "requestID": "0"})
            + client.data(3, b"x" * 70000, fin=True) + client.ping(7))
    frames = []
    for i in range(0, len(wire), 13):
        frames += server.feed(wire[i:i + 13])
    syn1, syn3, d1, d2, ping = frames
    assert (syn1.type, syn1.stream_id, syn1.headers) == (
        spdy.SYN_STREAM, 1, {"streamtype": ["error"], "port": ["80"], "requestid": ["0"]})
    assert syn3.headers["streamtype"] == ["data"]
    assert (d1.stream_id, len(d1.data), d1.fin) == (3, spdy.MAX_DATA, False)
    assert (len(d2.data), d2.fin) == (70000 - spdy.MAX_DATA, True)
    assert (ping.type, ping.value) == (spdy.PING, 7)


def test_a_reply_reads_back() -> None:
    server, client = spdy.Framer(), spdy.Framer()
    (reply,) = client.feed(server.syn_reply(5, {"Status": "ok"}, fin=True))
    assert (reply.type, reply.stream_id, reply.fin, reply.headers) == (
        spdy.SYN_REPLY, 5, True, {"status": ["ok"]})
    (rst,) = client.feed(server.rst_stream(5, spdy.CANCEL))
    assert (rst.type, rst.stream_id, rst.value) == (spdy.RST_STREAM, 5, spdy.CANCEL)


def test_a_header_block_from_another_compressor_is_read() -> None:
    # What a Go client sends: its own zlib stream, primed with the same dictionary.
    raw = struct.pack(">I", 1) + struct.pack(">I", 4) + b"port" + struct.pack(">I", 4) + b"8080"
    z = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, zdict=spdy.DICTIONARY)
    block = z.compress(raw) + z.flush(zlib.Z_SYNC_FLUSH)
    payload = struct.pack(">IIH", 1, 0, 0) + block
    frame = struct.pack(">HHI", 0x8003, spdy.SYN_STREAM, len(payload)) + payload
    (syn,) = spdy.Framer().feed(frame)
    assert syn.headers == {"port": ["8080"]}


def test_another_version_is_refused() -> None:
    with pytest.raises(spdy.ProtocolError):
        spdy.Framer().feed(struct.pack(">HHI", 0x8002, spdy.PING, 4) + b"\0\0\0\1")
