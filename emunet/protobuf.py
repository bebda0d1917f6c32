"""Decode the Kubernetes protobuf envelope into the API's JSON-shaped dicts.

kubectl's typed `create` subcommands (`create secret|configmap|service|
deployment|namespace|serviceaccount`) POST their object as
`application/vnd.kubernetes.protobuf`, with no JSON fallback: a 415 reply
makes kubectl fail outright. So the API server must read this one wire
format, although it answers in JSON (which kubectl accepts).

The body is the magic `k8s\\x00` followed by a `runtime.Unknown` message
(1: TypeMeta{1: apiVersion, 2: kind}, 2: raw object bytes, 3: contentEncoding,
4: contentType). The raw bytes are the typed object's own message.

Rather than generating code from `.proto` files, each message is a small
table of data in `protobuf_schema` (field number -> JSON name and type), and
this module is the one interpreter of those tables; adding a kind is adding
tables. Fields missing from a table are skipped by wire type, as any
protobuf reader must, which keeps the decoder safe against fields newer
clients may add. Every malformed input ends in `errors.BadRequest`, never in
an IndexError or UnicodeDecodeError.

JSON shaping follows the Go types' `encoding/json` rules, marked per field in
the tables: proto2 writes zero values of non-pointer fields (kubectl sends
`namespace: ""`), and the JSON the apiserver would have decoded drops those
tagged `omitempty`, keeps pointer fields that are present (`immutable:
false`), and always has nested structs (`resources: {}`).
"""
from __future__ import annotations

import base64
import datetime
from collections.abc import Callable
from typing import Any

from emunet import errors, protobuf_schema

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"

# Wire types of the protobuf encoding; 3 and 4 (groups) are obsolete and no
# Kubernetes message uses them, so they are treated as malformed input.
VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5

_SUPPORTED = ("supported media types: application/json, application/yaml, "
              f"{MEDIA_TYPE} (only for "
              + ", ".join(f"{gv}/{kind}" for gv, kind in protobuf_schema.KINDS) + ")")


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
        value: int | bytes
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


_ABSENT = object()  # a value Go's JSON would not write (a zero metav1.Time)

# The envelope and the wire forms of the scalar-like messages, in the same
# notation as the schema tables, are private to this reader. The envelope's
# `raw` stays bytes because its meaning depends on the kind it names.
_TABLES: dict[str, protobuf_schema.Table] = {
    **protobuf_schema.MESSAGES,
    "runtime.Unknown": {1: ("typeMeta", "runtime.TypeMeta"), 2: ("raw", "raw"),
                        3: ("contentEncoding", "string"), 4: ("contentType", "string")},
    "runtime.TypeMeta": {1: ("apiVersion", "string"), 2: ("kind", "string")},
    "Timestamp": {1: ("seconds", "int"), 2: ("nanos", "int")},
    "IntOrString": {1: ("type", "int"), 2: ("intVal", "int"), 3: ("strVal", "string")},
    "Quantity": {1: ("string", "string")},
}


def _expect(number: int, wire: int, wanted: int) -> None:
    if wire != wanted:
        raise _bad(f"field {number} has wire type {wire}, expected {wanted}")


def _string(number: int, wire: int, value: Any) -> str:
    _expect(number, wire, LENGTH)
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise _bad(f"field {number} is not valid UTF-8") from None


def _raw(number: int, wire: int, value: Any) -> bytes:
    _expect(number, wire, LENGTH)
    return bytes(value)


def _int64(number: int, wire: int, value: Any) -> int:
    _expect(number, wire, VARINT)
    # Two's complement: negative int32 and int64 values alike arrive as
    # 10-byte varints.
    return value - (1 << 64) if value >= 1 << 63 else value


def _time(number: int, wire: int, value: Any) -> Any:
    # metav1.Time writes nothing for the zero time, and reads only seconds.
    _expect(number, wire, LENGTH)
    if not value:
        return _ABSENT
    seconds = _decode(value, "Timestamp").get("seconds", 0)
    try:
        moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    except (OverflowError, OSError, ValueError):
        raise _bad(f"field {number} is a time out of range") from None
    # isoformat pads the year to four digits, as RFC 3339 wants.
    return moment.replace(tzinfo=None).isoformat() + "Z"


def _intstr(number: int, wire: int, value: Any) -> int | str:
    _expect(number, wire, LENGTH)
    parts = _decode(value, "IntOrString")
    if parts.get("type", 0) == 1:
        return str(parts.get("strVal", ""))
    return int(parts.get("intVal", 0))


def _quantity(number: int, wire: int, value: Any) -> str:
    _expect(number, wire, LENGTH)
    # An empty Quantity is zero, which its JSON form spells "0".
    return str(_decode(value, "Quantity").get("string", "")) or "0"


_SCALARS: dict[str, Callable[[int, int, Any], Any]] = {
    "string": _string,
    "int": _int64,
    "bool": lambda number, wire, value: bool(_int64(number, wire, value)),
    # JSON carries []byte as standard base64, as encoding/json does.
    "bytes": lambda number, wire, value: base64.b64encode(
        _raw(number, wire, value)).decode("ascii"),
    "raw": _raw,
    "time": _time,
    "intstr": _intstr,
    "quantity": _quantity,
}


def _value(kind: str, number: int, wire: int, value: Any) -> Any:
    scalar = _SCALARS.get(kind)
    if scalar is not None:
        return scalar(number, wire, value)
    _expect(number, wire, LENGTH)
    return _decode(value, kind)


def _entry(kind: str, number: int, wire: int, value: Any) -> tuple[str, Any]:
    """A map entry {1: key, 2: value}; either half may be absent (zero value)."""
    _expect(number, wire, LENGTH)
    key, item = "", _value(kind, 2, LENGTH, b"")
    for n, w, v in _fields(value):
        if n == 1:
            key = _string(n, w, v)
        elif n == 2:
            item = _value(kind, n, w, v)
    return key, item


def _decode(data: bytes, message: str) -> dict[str, Any]:
    """Read one message by its table; see `protobuf_schema` for the notation."""
    table = _TABLES[message]
    obj: dict[str, Any] = {}
    for number, wire, value in _fields(data):
        if number not in table:
            continue
        name, spec = table[number]
        kind, _, flag = spec.partition(",")
        if kind.startswith("[]"):
            obj.setdefault(name, []).append(_value(kind[2:], number, wire, value))
        elif kind.startswith("map["):
            key, item = _entry(kind[4:-1], number, wire, value)
            obj.setdefault(name, {})[key] = item
        elif kind.startswith("inline:"):
            _expect(number, wire, LENGTH)
            obj.update(_decode(value, kind[len("inline:"):]))
        else:
            # A scalar or single message seen twice: the last one wins, as
            # protobuf does for scalars (it would merge two messages field by
            # field, which no Kubernetes client relies on).
            item = _value(kind, number, wire, value)
            if item is _ABSENT or (flag == "omitempty" and item in ("", 0)):
                obj.pop(name, None)
            else:
                obj[name] = item
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
    envelope = _decode(body[len(MAGIC):], "runtime.Unknown")
    type_meta = envelope.get("typeMeta", {})
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    if not kind:
        raise _bad("the envelope names no kind")
    if envelope.get("contentEncoding"):
        raise errors.UnsupportedMediaType(
            f"unsupported protobuf content encoding {envelope['contentEncoding']!r}; "
            + _SUPPORTED)
    message = protobuf_schema.KINDS.get((api_version, kind))
    if message is None:
        raise errors.UnsupportedMediaType(
            f"the protobuf encoding of {api_version}/{kind} is not supported; " + _SUPPORTED)
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    obj.update(_decode(envelope.get("raw", b""), message))
    return obj
