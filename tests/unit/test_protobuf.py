"""Tests of the protobuf envelope reader, against bodies real kubectl sent.

The fixtures under `fixtures/protobuf/` were captured from kubectl v1.32
POSTing to a throwaway HTTP server (see `capture`); regenerate them with
`PYTHONPATH=. python tests/unit/test_protobuf.py`. Each `<case>.json` is built from the
inputs given to kubectl, or is kubectl's own JSON rendering of the same
command (`--dry-run=client -o json`), never from the decoder, so the tests
are not circular. Synthetic bodies made by a small encoder cover what
kubectl does not send (stringData, timestamps, volumes, probes, pointer
fields, unknown fields, malformed bytes).
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

from emunet import errors, protobuf, protobuf_schema

FIXTURES = Path(__file__).parent / "fixtures" / "protobuf"
CASES = ("secret-generic", "secret-tls", "configmap", "service-clusterip",
         "service-headless", "service-nodeport", "service-loadbalancer",
         "service-externalname", "deployment", "deployment-command",
         "deployment-two-images", "namespace",
         "serviceaccount")

# The `kubectl create` commands whose bodies are fixtures, beyond the secrets
# and the configmap above; the expected JSON is kubectl's dry-run rendering.
DRY_RUN_CASES = {
    "service-clusterip": ["service", "clusterip", "web", "--tcp=80:8080", "--tcp=443:https"],
    "service-headless": ["service", "clusterip", "headless", "--clusterip=None"],
    "service-nodeport": ["service", "nodeport", "web", "--tcp=80:8080", "--node-port=30080"],
    "service-loadbalancer": ["service", "loadbalancer", "web", "--tcp=80:8080",
                             "--namespace=team"],
    "service-externalname": ["service", "externalname", "ext",
                             "--external-name=example.com"],
    "deployment": ["deployment", "web", "--image=nginx", "--replicas=2", "--port=80"],
    "deployment-command": ["deployment", "busy", "--image=busybox", "--", "sleep", "3600"],
    "deployment-two-images": ["deployment", "two", "--image=nginx", "--image=busybox"],
    "namespace": ["namespace", "team"],
    "serviceaccount": ["serviceaccount", "robot", "--namespace=team"],
}


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


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not on PATH")
@pytest.mark.parametrize("args", [
    ["service", "nodeport", "live", "--tcp=80:http", "--tcp=8443:8443"],
    ["deployment", "live", "--image=nginx", "--replicas=3", "--port=8080"],
    ["namespace", "live"],
    ["serviceaccount", "live", "--namespace=team"],
    ["job", "live", "--image=busybox", "--", "sh", "-c", "echo hi"],
], ids=lambda args: args[0] if args[0] != "service" else f"service-{args[1]}")
def test_live_kubectl_create_decodes_as_its_own_json(args: list[str], tmp_path: Path) -> None:
    # Whatever this kubectl sends, the decoder must agree with its JSON form.
    body = capture(["create", *args], tmp_path)
    assert protobuf.decode(body) == dry_run(args, tmp_path)


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


def intstr(value: int | str) -> bytes:
    return field(1, 1) + field(3, value) if isinstance(value, str) else field(1, 0) + field(2, value)


def test_pod_spec_fields_kubectl_and_manifests_use() -> None:
    container = (
        field(1, "web") + field(2, "nginx") + field(3, "nginx") + field(4, "-g")
        + field(5, "/srv")
        + field(6, field(1, "http") + field(3, 80) + field(4, "TCP"))
        + field(7, field(1, "MODE") + field(2, "prod"))
        + field(7, field(1, "PASS") + field(3, field(4, field(1, field(1, "db"))
                                                   + field(2, "password"))))
        + field(7, field(1, "POD_IP") + field(3, field(1, field(1, "v1")
                                                     + field(2, "status.podIP"))))
        + field(19, field(2, field(1, field(1, "settings")) + field(2, 1)))
        + field(8, entry(1, "cpu", field(1, "500m")) + entry(2, "memory", b""))
        + field(9, field(1, "certs") + field(2, 1) + field(3, "/etc/nginx/ssl"))
        + field(11, field(1, field(2, field(1, "/healthz") + field(2, intstr("http"))))
                + field(2, 0) + field(4, 5))
        + field(10, field(1, field(3, field(1, intstr(80)))))
        + field(22, field(1, field(1, field(1, "true"))))
        + field(14, "IfNotPresent") + field(16, 1) + field(17, 0) + field(18, 1))
    spec = (
        field(1, field(1, "certs") + field(2, field(6, field(1, "nginxsecret")
                                                    + field(3, 0o400))))
        + field(1, field(1, "conf") + field(2, field(19, field(1, field(1, "nginxconf"))
                                                     + field(2, field(1, "k") + field(2, "p")))))
        + field(1, field(1, "tmp") + field(2, field(2, field(1, "Memory")
                                                    + field(2, field(1, "64Mi")))))
        + field(2, container) + field(3, "Never") + field(4, 0) + field(6, "ClusterFirst")
        + entry(7, "disk", "ssd") + field(8, "robot") + field(11, 0)
        + field(22, field(1, "node.kubernetes.io/unreachable") + field(2, "Exists")
                + field(4, "NoExecute") + field(5, 5))
        + field(30, 0))
    raw = field(1, field(1, "web") + field(8, field(1, 1700000000))
                + entry(11, "run", "web")) + field(2, spec) + field(3, b"")
    assert protobuf.decode(envelope("Pod", raw)) == {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "creationTimestamp": "2023-11-14T22:13:20Z",
                     "labels": {"run": "web"}},
        "spec": {
            "volumes": [
                {"name": "certs", "secret": {"secretName": "nginxsecret", "defaultMode": 256}},
                {"name": "conf", "configMap": {"name": "nginxconf",
                                               "items": [{"key": "k", "path": "p"}]}},
                {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
            ],
            "containers": [{
                "name": "web", "image": "nginx", "command": ["nginx"], "args": ["-g"],
                "workingDir": "/srv",
                "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                "env": [
                    {"name": "MODE", "value": "prod"},
                    {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "db",
                                                                    "key": "password"}}},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {
                        "apiVersion": "v1", "fieldPath": "status.podIP"}}},
                ],
                "envFrom": [{"configMapRef": {"name": "settings", "optional": True}}],
                "resources": {"limits": {"cpu": "500m"}, "requests": {"memory": "0"}},
                "volumeMounts": [{"name": "certs", "readOnly": True,
                                  "mountPath": "/etc/nginx/ssl"}],
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                                   "periodSeconds": 5},
                "livenessProbe": {"tcpSocket": {"port": 80}},
                "startupProbe": {"exec": {"command": ["true"]}},
                "imagePullPolicy": "IfNotPresent", "stdin": True, "tty": True,
            }],
            "restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
            "dnsPolicy": "ClusterFirst", "nodeSelector": {"disk": "ssd"},
            "serviceAccountName": "robot",
            "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                             "effect": "NoExecute", "tolerationSeconds": 5}],
            "enableServiceLinks": False,
        },
        "status": {},
    }


def test_deployment_strategy_selector_and_pointer_fields() -> None:
    spec = (field(1, 0)
            + field(2, entry(1, "app", "web")
                    + field(2, field(1, "tier") + field(2, "In") + field(3, "a")
                            + field(3, "b")))
            + field(3, field(1, b"") + field(2, field(2, field(1, "c") + field(2, "nginx"))))
            + field(4, field(1, "RollingUpdate")
                    + field(2, field(1, intstr(0)) + field(2, intstr("25%"))))
            + field(5, 0) + field(6, 0) + field(7, 0) + field(9, 600))
    raw = field(1, field(1, "web") + field(8, b"")) + field(2, spec) + field(3, b"")
    assert protobuf.decode(envelope("Deployment", raw, api_version="apps/v1")) == {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["a", "b"]}]},
            "template": {"metadata": {}, "spec": {"containers": [
                {"name": "c", "image": "nginx"}]}},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
            "revisionHistoryLimit": 0, "progressDeadlineSeconds": 600,
        },
        "status": {},
    }


def test_service_spec_omitempty_and_pointer_fields() -> None:
    port = (field(1, "dns") + field(2, "UDP") + field(3, 53) + field(4, intstr("dns-udp"))
            + field(5, 0) + field(6, "dns"))
    spec = (field(1, port) + field(1, field(3, 0) + field(4, intstr(0)))
            + entry(2, "k8s-app", "kube-dns") + field(3, "127.96.0.10")
            + field(18, "127.96.0.10") + field(4, "LoadBalancer") + field(5, "127.0.0.9")
            + field(7, "ClientIP") + field(8, "") + field(10, "") + field(11, "Local")
            + field(12, 0) + field(13, 0)
            + field(14, field(1, field(1, 10800))) + field(17, "SingleStack")
            + field(19, "IPv4") + field(20, 0) + field(22, "Cluster"))
    status = field(1, field(1, field(1, "127.200.0.1")))
    raw = field(1, field(1, "kube-dns")) + field(2, spec) + field(3, status)
    assert protobuf.decode(envelope("Service", raw)) == {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "kube-dns"},
        "spec": {
            "ports": [{"name": "dns", "protocol": "UDP", "port": 53, "targetPort": "dns-udp",
                       "appProtocol": "dns"},
                      {"port": 0, "targetPort": 0}],
            "selector": {"k8s-app": "kube-dns"}, "clusterIP": "127.96.0.10",
            "clusterIPs": ["127.96.0.10"], "type": "LoadBalancer",
            "externalIPs": ["127.0.0.9"], "sessionAffinity": "ClientIP",
            "externalTrafficPolicy": "Local",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
            "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"],
            "allocateLoadBalancerNodePorts": False, "internalTrafficPolicy": "Cluster",
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "127.200.0.1"}]}},
    }


@pytest.mark.parametrize("stamp, expected", [
    (b"", None),                                   # the zero time writes nothing
    (field(1, 0), "1970-01-01T00:00:00Z"),
    (field(1, 1700000000) + field(2, 999), "2023-11-14T22:13:20Z"),  # nanos are dropped
    (field(1, -62135596800), "0001-01-01T00:00:00Z"),
], ids=["zero", "epoch", "seconds", "year-one"])
def test_timestamps_are_rfc3339_seconds(stamp: bytes, expected: str | None) -> None:
    raw = field(1, field(1, "ns") + field(8, stamp) + field(9, stamp))
    metadata = protobuf.decode(envelope("Namespace", raw))["metadata"]
    if expected is None:
        assert metadata == {"name": "ns"}
    else:
        assert metadata == {"name": "ns", "creationTimestamp": expected,
                            "deletionTimestamp": expected}


def test_schema_tables_are_complete() -> None:
    messages = protobuf_schema.MESSAGES
    assert set(protobuf_schema.KINDS.values()) <= set(messages)
    for message, table in messages.items():
        names = [name for name, _ in table.values() if name]
        assert len(names) == len(set(names)), message
        for name, spec in table.values():
            kind, _, flag = spec.partition(",")
            assert flag in ("", "omitempty"), (message, name)
            inner = kind.removeprefix("[]").removeprefix("inline:")
            inner = inner[4:-1] if inner.startswith("map[") else inner
            assert inner in messages or inner in (
                "string", "int", "bool", "bytes", *protobuf_schema.SCALAR_MESSAGES), (message, name)
            assert bool(name) != kind.startswith("inline:"), (message, name)
            assert not flag or kind in ("string", "int", "bool"), (message, name)


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
    field(17, field(1, "kubectl")),         # managedFields, skipped
    field(16, b""),                         # an empty message
], ids=["varint", "fixed64", "length", "fixed32", "managed-fields", "empty-message"])
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
    (envelope("Namespace", field(1, field(8, field(1, 1 << 62)))), "time out of range"),
    (envelope("Service", field(2, field(1, field(4, 8080)))), "wire type 0, expected 2"),
    (envelope("Service", field(2, field(1, field(4, field(3, b"\xff"))))), "not valid UTF-8"),
    (envelope("Pod", field(2, field(1, field(2, field(6, 1))))), "wire type 0, expected 2"),
], ids=["empty", "json", "truncated-tag-length", "overlong-varint", "short-payload",
        "group-start", "group-end", "wire-6", "short-fixed64", "short-fixed32",
        "field-zero", "wrong-wire-envelope", "no-type-meta", "bad-utf8-name",
        "bool-as-string", "metadata-as-varint", "map-as-varint", "bad-utf8-stringdata",
        "time-out-of-range", "intstr-as-varint", "intstr-bad-utf8", "inline-as-varint"])
def test_malformed_bodies_are_bad_requests(body: bytes, fragment: str) -> None:
    with pytest.raises(errors.BadRequest) as caught:
        protobuf.decode(body)
    assert caught.value.code == 400
    assert fragment in caught.value.message


@pytest.mark.parametrize("body, fragment", [
    # kubectl sends these as protobuf too, but emunet does not serve them
    (envelope("CronJob", b"", api_version="batch/v1"), "batch/v1/CronJob"),
    (envelope("ResourceQuota", b""), "v1/ResourceQuota"),
    (envelope("Secret", b"", api_version="v2"), "v2/Secret"),
    (envelope("Deployment", b""), "v1/Deployment"),
    (envelope("Secret", b"", encoding="gzip"), "gzip"),
], ids=["cronjob", "resourcequota", "unknown-version", "wrong-group", "content-encoding"])
def test_unsupported_kinds_are_415_naming_supported_types(body: bytes, fragment: str) -> None:
    with pytest.raises(errors.UnsupportedMediaType) as caught:
        protobuf.decode(body)
    assert caught.value.code == 415
    message = caught.value.message
    assert fragment in message
    for media_type in ("application/json", "application/yaml",
                       "application/vnd.kubernetes.protobuf"):
        assert media_type in message
    for supported in ("v1/Service", "apps/v1/Deployment", "v1/Namespace"):
        assert supported in message


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
    env = kubectl_env(workdir)
    with sink() as (port, bodies):
        subprocess.run(["kubectl", "--server", f"http://127.0.0.1:{port}",
                        "--insecure-skip-tls-verify", *args],
                       env=env, cwd=workdir, check=True, capture_output=True, timeout=60)
    assert len(bodies) == 1, bodies
    return bodies[0]


def kubectl_env(workdir: Path) -> dict[str, str]:
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": os.environ.get("PATH", ""), "HOME": str(home),
            "KUBECONFIG": str(home / "kubeconfig")}


def dry_run(args: list[str], workdir: Path) -> dict[str, Any]:
    """kubectl's own JSON for `kubectl create ARGS`, as a JSON client would send it.

    The one difference is a zero `creationTimestamp`: JSON spells it `null`,
    protobuf omits it, and the decoder omits it too (both mean unset).
    """
    out = subprocess.run(["kubectl", "--server", "http://127.0.0.1:1", "create",
                          "--dry-run=client", "--output=json", *args],
                         env=kubectl_env(workdir), cwd=workdir, check=True,
                         capture_output=True, timeout=60).stdout

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items()
                    if not (k == "creationTimestamp" and v is None)}
        return [strip(v) for v in value] if isinstance(value, list) else value
    return strip(json.loads(out))


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

    for name, args in DRY_RUN_CASES.items():
        cases[name] = (capture(["create", *args], workdir), dry_run(args, workdir))

    FIXTURES.mkdir(parents=True, exist_ok=True)
    for name, (raw, expected) in cases.items():
        (FIXTURES / f"{name}.hex").write_text(raw.hex() + "\n")
        (FIXTURES / f"{name}.json").write_text(json.dumps(expected, indent=2) + "\n")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        regenerate(Path(tmp))
