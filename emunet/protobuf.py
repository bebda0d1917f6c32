"""Decode the Kubernetes protobuf envelope into the API's JSON-shaped dicts.

`kubectl create secret ...` and `kubectl create configmap ...` POST their
object as `application/vnd.kubernetes.protobuf`, with no JSON fallback: a 415
reply makes kubectl fail outright. So the API server must read this one wire
format, although it answers in JSON (which kubectl accepts).

The body is the magic `k8s\\x00` followed by a `runtime.Unknown` message
(1: TypeMeta{1: apiVersion, 2: kind}, 2: raw object bytes, 3: contentEncoding,
4: contentType). The raw bytes are the typed object's own message.

Only the kinds kubectl sends this way are understood (Secret and ConfigMap),
and only the fields those clients can set. Rather than generating code from
`.proto` files, each message is a small table (field number -> JSON name and
how to read it), so adding a field is one line. Fields missing from a table
are skipped by wire type, as any protobuf reader must, which keeps the decoder
safe against fields newer clients may add. Every malformed input ends in
`errors.BadRequest`, never in an IndexError or UnicodeDecodeError.

JSON shaping follows the Go types' `omitempty` rules: proto2 writes empty
strings and zero integers for non-pointer fields (kubectl sends
`namespace: ""`), and the JSON the apiserver would have decoded has no such
keys, so empty scalars are dropped. Pointer fields (`immutable`) keep a
present `false`.
"""
from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from emunet import errors

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"

# Wire types of the protobuf encoding; 3 and 4 (groups) are obsolete and no
# Kubernetes message uses them, so they are treated as malformed input.
VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5

_SUPPORTED = (f"supported media types: application/json, application/yaml, "
              f"{MEDIA_TYPE} (for v1 Secret and ConfigMap only)")


def _bad(message: str) -> errors.BadRequest:
    return errors.BadRequest(f"invalid protobuf body: {message}")


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """Split one message into (field number, wire type, value) triples.

    Length-delimited values stay bytes (their meaning depends on the schema);
    varints become ints; fixed-width values are kept as raw bytes because no
    field we interpret uses them, but they must still be stepped over.
    """
    out: list[tuple[int, int, Any]] = []
    pos, end = 0, len(data)
    while pos < end:
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise _bad("field number 0")
        if wire == VARINT:
            value, pos = _varint(data, pos)
        elif wire == LENGTH:
            size, pos = _varint(data, pos)
            if size > end - pos:
                raise _bad(f"field {number} claims {size} bytes, {end - pos} remain")
            value, pos = data[pos:pos + size], pos + size
        elif wire in (FIXED64, FIXED32):
            width = 8 if wire == FIXED64 else 4
            if width > end - pos:
                raise _bad(f"field {number} truncated")
            value, pos = data[pos:pos + width], pos + width
        else:
            raise _bad(f"unsupported wire type {wire} for field {number}")
        out.append((number, wire, value))
    return out


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    # Ten bytes carry 64 bits; a longer run can only be garbage.
    for i in range(10):
        if pos + i >= len(data):
            raise _bad("truncated varint")
        byte = data[pos + i]
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos + i + 1
        shift += 7
    raise _bad("varint longer than 10 bytes")


# Readers: each takes (field number, wire type, value) and returns the JSON value.
Reader = Callable[[int, int, Any], Any]

# A schema maps a field number to (JSON name, reader, shape); the shape says
# how repeated occurrences combine: "one" (last wins, as protobuf merges
# scalars), "map" (entries collect, last key wins) or "list" (appended).
Schema = dict[int, tuple[str, Reader, str]]


def _expect(number: int, wire: int, wanted: int) -> None:
    if wire != wanted:
        raise _bad(f"field {number} has wire type {wire}, expected {wanted}")


def _string(number: int, wire: int, value: Any) -> str:
    _expect(number, wire, LENGTH)
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise _bad(f"field {number} is not valid UTF-8") from None


def _bytes(number: int, wire: int, value: Any) -> str:
    # JSON carries []byte as standard base64, as encoding/json does.
    _expect(number, wire, LENGTH)
    return base64.b64encode(value).decode("ascii")


def _bool(number: int, wire: int, value: Any) -> bool:
    _expect(number, wire, VARINT)
    return bool(value)


def _int64(number: int, wire: int, value: Any) -> int:
    _expect(number, wire, VARINT)
    # Two's complement: negative int64 values arrive as 10-byte varints.
    return value - (1 << 64) if value >= 1 << 63 else value


def _entry(value_reader: Reader) -> Reader:
    """A map entry {1: key, 2: value}; either half may be absent (zero value)."""
    def read(number: int, wire: int, value: Any) -> tuple[str, Any]:
        _expect(number, wire, LENGTH)
        key, item = "", value_reader(2, LENGTH, b"")
        for n, w, v in _fields(value):
            if n == 1:
                key = _string(n, w, v)
            elif n == 2:
                item = value_reader(n, w, v)
        return key, item
    return read


def _message(schema: Schema) -> Reader:
    def read(number: int, wire: int, value: Any) -> dict[str, Any]:
        _expect(number, wire, LENGTH)
        return _decode_message(value, schema)
    return read


def _raw(number: int, wire: int, value: Any) -> bytes:
    _expect(number, wire, LENGTH)
    return bytes(value)


def _decode_message(data: bytes, schema: Schema) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, wire, value in _fields(data):
        if number not in schema:
            continue
        name, reader, shape = schema[number]
        if shape == "map":
            key, item = reader(number, wire, value)
            obj.setdefault(name, {})[key] = item
        elif shape == "list":
            obj.setdefault(name, []).append(reader(number, wire, value))
        else:
            obj[name] = reader(number, wire, value)
    return obj


# Scalars whose Go field is not a pointer: a zero value means "unset".
_OMIT_EMPTY = {"name", "generateName", "namespace", "uid", "resourceVersion",
               "generation", "type"}

_OBJECT_META: Schema = {
    1: ("name", _string, "one"),
    2: ("generateName", _string, "one"),
    3: ("namespace", _string, "one"),
    5: ("uid", _string, "one"),
    6: ("resourceVersion", _string, "one"),
    7: ("generation", _int64, "one"),
    11: ("labels", _entry(_string), "map"),
    12: ("annotations", _entry(_string), "map"),
    14: ("finalizers", _string, "list"),
    # selfLink, timestamps, ownerReferences and managedFields are
    # server-owned or not sent by kubectl create; they are skipped.
}

_SECRET: Schema = {
    1: ("metadata", _message(_OBJECT_META), "one"),
    2: ("data", _entry(_bytes), "map"),
    3: ("type", _string, "one"),
    4: ("stringData", _entry(_string), "map"),
    5: ("immutable", _bool, "one"),
}

_CONFIG_MAP: Schema = {
    1: ("metadata", _message(_OBJECT_META), "one"),
    2: ("data", _entry(_string), "map"),
    3: ("binaryData", _entry(_bytes), "map"),
    4: ("immutable", _bool, "one"),
}

_KINDS: dict[tuple[str, str], Schema] = {
    ("v1", "Secret"): _SECRET,
    ("v1", "ConfigMap"): _CONFIG_MAP,
}

_TYPE_META: Schema = {1: ("apiVersion", _string, "one"), 2: ("kind", _string, "one")}

_UNKNOWN: Schema = {
    1: ("typeMeta", _message(_TYPE_META), "one"),
    2: ("raw", _raw, "one"),
    3: ("contentEncoding", _string, "one"),
    4: ("contentType", _string, "one"),
}


def _prune(obj: dict[str, Any]) -> dict[str, Any]:
    for key in list(obj):
        value = obj[key]
        if isinstance(value, dict) and key == "metadata":
            _prune(value)
        elif key in _OMIT_EMPTY and value in ("", 0):
            del obj[key]
    return obj


def is_protobuf(body: bytes) -> bool:
    """Whether a body starts with the envelope's magic (Content-Type aside)."""
    return body[:len(MAGIC)] == MAGIC


def decode(body: bytes) -> dict[str, Any]:
    """Return the JSON-shaped object carried by a protobuf request body.

    Raises `errors.BadRequest` for malformed bytes and
    `errors.UnsupportedMediaType` for kinds (or encodings) not understood.
    """
    if not is_protobuf(body):
        raise _bad("missing the k8s\\x00 prefix")
    envelope = _decode_message(body[len(MAGIC):], _UNKNOWN)
    type_meta = envelope.get("typeMeta", {})
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    if not kind:
        raise _bad("the envelope names no kind")
    if envelope.get("contentEncoding"):
        raise errors.UnsupportedMediaType(
            f"unsupported protobuf content encoding {envelope['contentEncoding']!r}; "
            + _SUPPORTED)
    schema = _KINDS.get((api_version, kind))
    if schema is None:
        raise errors.UnsupportedMediaType(
            f"the protobuf encoding of {api_version}/{kind} is not supported; " + _SUPPORTED)
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    obj.update(_prune(_decode_message(envelope.get("raw", b""), schema)))
    return obj
