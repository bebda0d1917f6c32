"""Tests of the protobuf envelope reader, against bodies real kubectl sent.

The fixtures under `fixtures/protobuf/` were captured from kubectl v1.32
POSTing to a throwaway HTTP server (see `capture`); regenerate them with
`PYTHONPATH=. python tests/unit/test_protobuf.py`. Each `<case>.json` is built from the
inputs given to kubectl, never from the decoder, so the tests are not
circular. Synthetic bodies made by a small encoder cover what kubectl does
not send (labels, stringData, immutable, unknown fields, malformed bytes).
"""
from __future__ import annotations

import base64
import http.server
import json
import os
import random
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from emunet import errors, protobuf

FIXTURES = Path(__file__).parent / "fixtures" / "protobuf"
CASES = ("secret-generic", "secret-tls", "configmap")


# --- a minimal encoder, for synthetic bodies -------------------------------

def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, value: bytes | str | int, wire: int | None = None) -> bytes:
    if isinstance(value, int):
        return varint(number << 3 | (0 if wire is None else wire)) + varint(value)
    raw = value.encode() if isinstance(value, str) else value
    if wire in (1, 5):
        return varint(number << 3 | wire) + raw
    return varint(number << 3 | 2) + varint(len(raw)) + raw


def entry(number: int, key: str, value: bytes | str) -> bytes:
    return field(number, field(1, key) + field(2, value))


def envelope(kind: str, raw: bytes, api_version: str = "v1", encoding: str = "") -> bytes:
    type_meta = field(1, api_version) + field(2, kind)
    return (protobuf.MAGIC + field(1, type_meta) + field(2, raw)
            + field(3, encoding) + field(4, ""))


def meta(**parts: bytes) -> bytes:
    return b"".join(parts.values())


# --- captured kubectl bodies ------------------------------------------------

@pytest.mark.parametrize("case", CASES)
def test_decodes_bodies_kubectl_sent(case: str) -> None:
    body = bytes.fromhex((FIXTURES / f"{case}.hex").read_text())
    expected = json.loads((FIXTURES / f"{case}.json").read_text())
    assert protobuf.decode(body) == expected


@pytest.mark.parametrize("case", CASES)
def test_truncated_or_corrupted_captures_raise_only_api_errors(case: str) -> None:
    body = bytes.fromhex((FIXTURES / f"{case}.hex").read_text())
    rng = random.Random(case)
    variants = [body[:n] for n in range(len(protobuf.MAGIC), len(body), 7)]
    for _ in range(300):
        mutated = bytearray(body)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(4, len(mutated))] = rng.randrange(256)
        variants.append(bytes(mutated))
    for variant in variants:
        try:
            protobuf.decode(variant)
        except errors.ApiError as exc:
            assert exc.code in (400, 415)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not on PATH")
def test_live_kubectl_create_secret_decodes(tmp_path: Path) -> None:
    body = capture(["create", "secret", "generic", "live", "--from-literal=user=alice",
                    "--from-literal=pass=p@ss w0rd"], tmp_path)
    assert protobuf.decode(body) == {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "live"},
        "data": {"user": b64(b"alice"), "pass": b64(b"p@ss w0rd")},
    }


# --- synthetic bodies ------------------------------------------------------

def test_secret_fields_kubectl_can_carry() -> None:
    raw = (field(1, meta(name=field(1, "s"), gen=field(2, "s-"), ns=field(3, "team"),
                         uid=field(5, "u-1"), rv=field(6, "7"), generation=field(7, -1),
                         l1=entry(11, "app", "web"), l2=entry(11, "tier", "front"),
                         a=entry(12, "note", "hi"), f1=field(14, "a/b"), f2=field(14, "c/d")))
           + entry(2, "bin", b"\x00\xff") + field(3, "kubernetes.io/tls")
           + entry(4, "plain", "text") + field(5, 1))
    assert protobuf.decode(envelope("Secret", raw)) == {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "s", "generateName": "s-", "namespace": "team", "uid": "u-1",
                     "resourceVersion": "7", "generation": -1,
                     "labels": {"app": "web", "tier": "front"}, "annotations": {"note": "hi"},
                     "finalizers": ["a/b", "c/d"]},
        "data": {"bin": "AP8="}, "type": "kubernetes.io/tls",
        "stringData": {"plain": "text"}, "immutable": True,
    }


def test_configmap_fields_and_false_immutable_is_kept() -> None:
    raw = (field(1, field(1, "c")) + entry(2, "k", "v") + entry(3, "b", b"\x01")
           + field(4, 0))
    assert protobuf.decode(envelope("ConfigMap", raw)) == {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
        "data": {"k": "v"}, "binaryData": {"b": "AQ=="}, "immutable": False,
    }


@pytest.mark.parametrize("raw, expected", [
    # proto2 writes empty non-pointer scalars; the JSON object has no such keys
    (field(1, field(1, "s") + field(3, "") + field(7, 0)) + field(3, ""),
     {"metadata": {"name": "s"}}),
    # a map entry may omit its key or value; both default to empty
    (field(2, b""), {"data": {"": ""}}),
    (field(2, field(1, "k")), {"data": {"k": ""}}),
    # a repeated key: the last entry wins, as Go's map decoding does
    (entry(2, "k", b"1") + entry(2, "k", b"2"), {"data": {"k": b64(b"2")}}),
    # an empty object
    (b"", {}),
], ids=["empty-scalars-dropped", "empty-entry", "entry-without-value", "last-key-wins",
        "empty-object"])
def test_secret_zero_values(raw: bytes, expected: dict[str, Any]) -> None:
    assert protobuf.decode(envelope("Secret", raw)) == {
        "apiVersion": "v1", "kind": "Secret", **expected}


@pytest.mark.parametrize("unknown", [
    field(99, 12345),                       # varint
    field(99, b"\x01" * 8, wire=1),         # fixed64
    field(99, b"nested \xff bytes"),        # length-delimited, not UTF-8
    field(99, b"\x02" * 4, wire=5),         # fixed32
    field(8, field(1, 1700000000)),         # creationTimestamp, skipped
    field(16, b""),                         # managedFields-like, skipped
], ids=["varint", "fixed64", "length", "fixed32", "timestamp", "empty-message"])
def test_unknown_fields_of_every_wire_type_are_skipped(unknown: bytes) -> None:
    raw = field(1, unknown + field(1, "s") + unknown) + unknown + entry(2, "a", b"b") + unknown
    body = protobuf.MAGIC + unknown + field(1, field(1, "v1") + unknown + field(2, "Secret")) \
        + field(2, raw) + unknown
    assert protobuf.decode(body) == {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "data": {"a": b64(b"b")}}


@pytest.mark.parametrize("body, fragment", [
    (b"", "k8s"),
    (b'{"kind":"Secret"}', "k8s"),
    (protobuf.MAGIC + b"\x0a", "truncated varint"),
    (protobuf.MAGIC + b"\x08" + b"\xff" * 11, "longer than 10 bytes"),
    (protobuf.MAGIC + b"\x0a\x05ab", "claims 5 bytes"),
    (protobuf.MAGIC + b"\x0b", "wire type 3"),
    (protobuf.MAGIC + b"\x0c", "wire type 4"),
    (protobuf.MAGIC + b"\x0e", "wire type 6"),
    (protobuf.MAGIC + b"\x09\x00\x00", "truncated"),
    (protobuf.MAGIC + b"\x0d\x00", "truncated"),
    (protobuf.MAGIC + b"\x00\x00", "field number 0"),
    (protobuf.MAGIC + field(3, 5), "wire type 0, expected 2"),
    (protobuf.MAGIC + field(2, b"x"), "names no kind"),
    (envelope("Secret", field(1, field(1, b"\xff\xfe"))), "not valid UTF-8"),
    (envelope("Secret", field(5, "yes")), "wire type 2, expected 0"),
    (envelope("Secret", field(1, 3)), "wire type 0, expected 2"),
    (envelope("Secret", field(2, 7)), "wire type 0, expected 2"),
    (envelope("Secret", entry(4, "k", b"\xc3")), "not valid UTF-8"),
], ids=["empty", "json", "truncated-tag-length", "overlong-varint", "short-payload",
        "group-start", "group-end", "wire-6", "short-fixed64", "short-fixed32",
        "field-zero", "wrong-wire-envelope", "no-type-meta", "bad-utf8-name",
        "bool-as-string", "metadata-as-varint", "map-as-varint", "bad-utf8-stringdata"])
def test_malformed_bodies_are_bad_requests(body: bytes, fragment: str) -> None:
    with pytest.raises(errors.BadRequest) as caught:
        protobuf.decode(body)
    assert caught.value.code == 400
    assert fragment in caught.value.message


@pytest.mark.parametrize("body, fragment", [
    (envelope("Pod", b""), "v1/Pod"),
    (envelope("Deployment", b"", api_version="apps/v1"), "apps/v1/Deployment"),
    (envelope("Secret", b"", api_version="v2"), "v2/Secret"),
    (envelope("Secret", b"", encoding="gzip"), "gzip"),
], ids=["pod", "deployment", "unknown-version", "content-encoding"])
def test_unsupported_kinds_are_415_naming_supported_types(body: bytes, fragment: str) -> None:
    with pytest.raises(errors.UnsupportedMediaType) as caught:
        protobuf.decode(body)
    assert caught.value.code == 415
    message = caught.value.message
    assert fragment in message
    for media_type in ("application/json", "application/yaml",
                       "application/vnd.kubernetes.protobuf"):
        assert media_type in message


def test_is_protobuf_looks_only_at_the_magic() -> None:
    assert protobuf.is_protobuf(b"k8s\x00anything")
    assert not protobuf.is_protobuf(b"k8s")
    assert not protobuf.is_protobuf(b"{}")


# --- capturing what kubectl sends ------------------------------------------

@contextmanager
def sink() -> Iterator[tuple[int, list[bytes]]]:
    """An HTTP server on a free loopback port that records POST bodies.

    It answers `/version` (kubectl's version-skew check) and every POST with a
    201 Secret, which is all `kubectl create secret|configmap` needs.
    """
    bodies: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def reply(self, code: int, obj: dict[str, Any]) -> None:
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.startswith("/version"):
                self.reply(200, {"major": "1", "minor": "32", "gitVersion": "v1.32.4"})
            else:
                self.reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                 "reason": "NotFound", "code": 404, "message": "not found"})

        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            self.reply(201, {"kind": "Secret", "apiVersion": "v1",
                             "metadata": {"name": "x", "namespace": "default"}})

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], bodies
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def capture(args: list[str], workdir: Path) -> bytes:
    """Run kubectl against `sink` and return the one body it POSTed."""
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home),
           "KUBECONFIG": str(home / "kubeconfig")}
    with sink() as (port, bodies):
        subprocess.run(["kubectl", "--server", f"http://127.0.0.1:{port}",
                        "--insecure-skip-tls-verify", *args],
                       env=env, cwd=workdir, check=True, capture_output=True, timeout=60)
    assert len(bodies) == 1, bodies
    return bodies[0]


def regenerate(workdir: Path) -> None:
    from emunet import certs

    cases: dict[str, tuple[bytes, dict[str, Any]]] = {}
    body = capture(["create", "secret", "generic", "db", "--namespace=team",
                    "--from-literal=username=admin", "--from-literal=password=s3cr3t"], workdir)
    cases["secret-generic"] = (body, {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "team"},
        "data": {"username": b64(b"admin"), "password": b64(b"s3cr3t")}})

    cert, key = certs.self_signed("my-nginx", "my-nginx", ["my-nginx"])
    (workdir / "tls.crt").write_bytes(cert)
    (workdir / "tls.key").write_bytes(key)
    body = capture(["create", "secret", "tls", "nginxsecret", "--cert=tls.crt",
                    "--key=tls.key"], workdir)
    cases["secret-tls"] = (body, {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "nginxsecret"},
        "type": "kubernetes.io/tls", "data": {"tls.crt": b64(cert), "tls.key": b64(key)}})

    conf = b"server {\n    listen 80;\n}\n"
    blob = bytes([0, 1, 0xfe, 0xff])
    (workdir / "default.conf").write_bytes(conf)
    (workdir / "blob.bin").write_bytes(blob)
    body = capture(["create", "configmap", "nginxconfigmap", "--from-literal=k=v",
                    "--from-file=default.conf", "--from-file=blob.bin"], workdir)
    cases["configmap"] = (body, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nginxconfigmap"},
        "data": {"k": "v", "default.conf": conf.decode()}, "binaryData": {"blob.bin": b64(blob)}})

    FIXTURES.mkdir(parents=True, exist_ok=True)
    for name, (raw, expected) in cases.items():
        (FIXTURES / f"{name}.hex").write_text(raw.hex() + "\n")
        (FIXTURES / f"{name}.json").write_text(json.dumps(expected, indent=2) + "\n")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        regenerate(Path(tmp))
