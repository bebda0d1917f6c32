"""Tests of the cluster CA, leaf issuing and the tutorial's self-signed pair.

Trust is checked by the tools a user runs: `openssl verify` (in strict mode,
as Python 3.13's default context is) and `curl --cacert` against a real TLS
server on loopback.
"""
from __future__ import annotations

import base64
import ipaddress
import os
import shutil
import socket
import ssl
import stat
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from emunet import certs

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl")
needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="no curl")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    ca_cert, ca_key = certs.ensure_ca(directory)
    certs.issue(ca_cert, ca_key, "localhost", ["localhost", "my-nginx.default.svc"],
                ["127.0.0.1", "::1"], directory / "server.crt", directory / "server.key")
    certs.issue(ca_cert, ca_key, "admin", [], [], directory / "client.crt",
                directory / "client.key", organization="system:masters", client=True)
    return directory


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ca_is_a_signing_ca_valid_for_ten_years(pki: Path) -> None:
    ca = load(pki / "ca.crt")
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "emunet-ca"
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert 3649 <= lifetime.days <= 3651


def test_ensure_ca_reuses_an_existing_ca(tmp_path: Path) -> None:
    first = certs.ensure_ca(tmp_path)
    before = [p.read_bytes() for p in first]
    assert certs.ensure_ca(tmp_path) == first
    assert [p.read_bytes() for p in first] == before


@pytest.mark.parametrize("name", ["ca.key", "server.key", "client.key"])
def test_private_keys_are_owner_only(pki: Path, name: str) -> None:
    assert mode(pki / name) == 0o600


@pytest.mark.parametrize("cert, dns, ips, usage", [
    ("server.crt", ["localhost", "my-nginx.default.svc"], ["127.0.0.1", "::1"],
     ExtendedKeyUsageOID.SERVER_AUTH),
    ("client.crt", [], [], ExtendedKeyUsageOID.CLIENT_AUTH),
])
def test_leaf_carries_sans_and_usage(pki: Path, cert: str, dns: list[str], ips: list[str],
                                     usage: x509.ObjectIdentifier) -> None:
    leaf = load(pki / cert)
    try:
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sans.get_values_for_type(x509.DNSName) == dns
        assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address(i) for i in ips]
    except x509.ExtensionNotFound:
        assert not dns and not ips
    assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [usage]
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.issuer == load(pki / "ca.crt").subject
    assert 364 <= (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days <= 366


def test_client_certificate_names_its_group(pki: Path) -> None:
    subject = load(pki / "client.crt").subject
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"


@needs_openssl
@pytest.mark.parametrize("leaf, purpose", [("server.crt", "sslserver"),
                                           ("client.crt", "sslclient")])
def test_openssl_verifies_leaf_against_ca(pki: Path, leaf: str, purpose: str) -> None:
    result = subprocess.run(["openssl", "verify", "-x509_strict", "-purpose", purpose,
                             "-CAfile", str(pki / "ca.crt"), str(pki / leaf)],
                            check=False, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_openssl
def test_openssl_rejects_leaf_from_another_ca(pki: Path, tmp_path: Path) -> None:
    other_ca, _ = certs.ensure_ca(tmp_path / "other")
    result = subprocess.run(["openssl", "verify", "-CAfile", str(other_ca),
                             str(pki / "server.crt")], check=False, capture_output=True,
                            timeout=30)
    assert result.returncode != 0


def test_self_signed_matches_the_tutorials_openssl_req(tmp_path: Path) -> None:
    cert_pem, key_pem = certs.self_signed("my-nginx", "my-nginx", ["my-nginx"])
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert cert.subject.rfc4514_string() == "O=my-nginx,CN=my-nginx"
    assert cert.issuer == cert.subject
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["my-nginx"]
    assert cert.public_key().key_size == 2048  # type: ignore[union-attr]
    assert 364 <= (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 366
    assert certs.check_pair(cert_pem, key_pem) is None
    if shutil.which("openssl"):
        path = tmp_path / "nginx.crt"
        path.write_bytes(cert_pem)
        # The pod's `curl --cacert nginx.crt` treats the cert as its own anchor.
        subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile", str(path), str(path)],
                       check=True, capture_output=True, timeout=30)


def test_secret_manifest_is_the_tutorials_nginxsecret() -> None:
    manifest = certs.secret_manifest("nginxsecret", b"CERT\n", b"KEY\n")
    assert manifest == {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "nginxsecret", "namespace": "default"},
        "type": "Opaque",
        "data": {"nginx.crt": base64.b64encode(b"CERT\n").decode(),
                 "nginx.key": base64.b64encode(b"KEY\n").decode()},
    }


def test_secret_manifest_can_be_a_tls_secret() -> None:
    manifest = certs.secret_manifest("t", b"c", b"k", type_="kubernetes.io/tls",
                                     keys=("tls.crt", "tls.key"))
    assert manifest["type"] == "kubernetes.io/tls"
    assert set(manifest["data"]) == {"tls.crt", "tls.key"}


def test_check_pair_reports_problems() -> None:
    cert_a, key_a = certs.self_signed("a", "a", [])
    _, key_b = certs.self_signed("b", "b", [])
    cases = [
        (cert_a, key_a, None),
        (cert_a, key_b, "the private key does not match the certificate's public key"),
        (b"not a cert", key_a, "the certificate is not a valid PEM-encoded X.509 certificate"),
        (cert_a, b"not a key", "the private key is not a valid unencrypted PEM-encoded key"),
    ]
    for cert, key, expected in cases:
        assert certs.check_pair(cert, key) == expected


def test_write_private_replaces_atomically_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    path.write_bytes(b"old")
    os.chmod(path, 0o644)
    certs.write_private(path, b"new")
    assert path.read_bytes() == b"new"
    assert mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["k.key"]


def test_write_private_error_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "missing-dir" / "k.key"
    with pytest.raises(OSError, match="cannot write .*missing-dir/k.key"):
        certs.write_private(path, b"x")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_write_private_into_read_only_directory_is_permission_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(PermissionError, match="cannot write .*locked/k.key"):
            certs.write_private(locked / "k.key", b"x")
    finally:
        locked.chmod(0o700)


@contextmanager
def tls_server(cert: Path, key: Path) -> Iterator[int]:
    """A one-page HTTPS server on a free loopback port, served from a thread."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(65536)
                    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n"
                                b"Connection: close\r\n\r\nhello\n")
            except (OSError, ssl.SSLError):
                pass  # a client that rejects our certificate hangs up mid-handshake

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        listener.close()


@needs_curl
@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_curl_trusts_issued_certificate_through_ca(pki: Path, host: str) -> None:
    with tls_server(pki / "server.crt", pki / "server.key") as port:
        result = subprocess.run(
            ["curl", "--silent", "--show-error", "--max-time", "10", "--noproxy", "*",
             "--cacert", str(pki / "ca.crt"), "--resolve", f"localhost:{port}:127.0.0.1",
             f"https://{host}:{port}/"],
            check=False, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello\n"


@needs_curl
def test_curl_rejects_certificate_without_the_ca(pki: Path, tmp_path: Path) -> None:
    other_ca, _ = certs.ensure_ca(tmp_path)
    with tls_server(pki / "server.crt", pki / "server.key") as port:
        result = subprocess.run(
            ["curl", "--silent", "--max-time", "10", "--noproxy", "*",
             "--cacert", str(other_ca), f"https://127.0.0.1:{port}/"],
            check=False, capture_output=True, timeout=30)
    assert result.returncode == 60  # peer certificate cannot be authenticated


def test_an_ecdsa_ca_and_server_certificate_verify_with_openssl(tmp_path: Path) -> None:
    # The daemon's own CA and API server certificate are ECDSA P-256.
    ca_crt, ca_key = certs.ensure_ca(tmp_path, key_type="ec")
    certs.issue(ca_crt, ca_key, "kube-apiserver", ["kubernetes"], ["127.0.0.1"],
                tmp_path / "s.crt", tmp_path / "s.key", key_type="ec")
    assert b"BEGIN EC PRIVATE KEY" in (tmp_path / "s.key").read_bytes()
    leaf = x509.load_pem_x509_certificate((tmp_path / "s.crt").read_bytes())
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_encipherment
    r = subprocess.run(["openssl", "verify", "-x509_strict", "-purpose", "sslserver", "-CAfile",
                        str(ca_crt), str(tmp_path / "s.crt")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
