"""TLS termination at the load balancer: which ports end TLS, with which certificate.

A LoadBalancer Service annotated

    emunet.io/tls-secret: NAME        (a Secret in the Service's namespace)
    emunet.io/tls-ports: "443"        (comma-separated service ports, by number or name)

gets, on its load-balancer ingress IPs only, listeners that end TLS with the
Secret's `tls.crt`/`tls.key` (or the tutorial's `nginx.crt`/`nginx.key`) and send
plain TCP to the pods' targetPort, as a cloud load balancer with a certificate
does. ClusterIP and NodePort listeners stay pass-through. The pure parts (which
ports, which keys) are separate from building the SSLContext, which needs files:
the PEM is written to a private temporary directory only for the load call.
"""
from __future__ import annotations

import base64
import hashlib
import os
import ssl
import tempfile
from typing import Any

SECRET_ANNOTATION = "emunet.io/tls-secret"
PORTS_ANNOTATION = "emunet.io/tls-ports"
KEY_PAIRS = (("tls.crt", "tls.key"), ("nginx.crt", "nginx.key"))


def tls_ports(svc: dict[str, Any]) -> tuple[str, set[str]]:
    """(secret name, set of port numbers/names as strings) for a Service, or ("", set())."""
    ann = svc.get("metadata", {}).get("annotations") or {}
    secret = ann.get(SECRET_ANNOTATION, "").strip()
    if not secret or svc.get("spec", {}).get("type") != "LoadBalancer":
        return "", set()
    ports = {p.strip() for p in ann.get(PORTS_ANNOTATION, "443").split(",") if p.strip()}
    return secret, ports


def port_selected(port: dict[str, Any], selected: set[str]) -> bool:
    return str(port.get("port")) in selected or (bool(port.get("name")) and port["name"] in selected)


def key_pair(secret: dict[str, Any]) -> tuple[bytes, bytes] | None:
    """The PEM certificate and key from a Secret's data, or None if it has neither pair."""
    data = secret.get("data") or {}
    string_data = secret.get("stringData") or {}
    for crt, key in KEY_PAIRS:
        if crt in data and key in data:
            return base64.b64decode(data[crt]), base64.b64decode(data[key])
        if crt in string_data and key in string_data:
            return string_data[crt].encode(), string_data[key].encode()
    return None


def fingerprint(pair: tuple[bytes, bytes]) -> str:
    return hashlib.sha256(pair[0] + b"\0" + pair[1]).hexdigest()[:16]


def server_context(pair: tuple[bytes, bytes]) -> ssl.SSLContext:
    """An SSLContext serving that certificate; raises ssl.SSLError/ValueError on bad PEM."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory(prefix="emunet-tls-") as d:
        os.chmod(d, 0o700)
        crt, key = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
        for path, blob in ((crt, pair[0]), (key, pair[1])):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
        ctx.load_cert_chain(crt, key)
    return ctx
