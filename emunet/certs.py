"""Certificates for the emulated cluster, made with `cryptography` alone.

Two needs meet here. The cluster has its own CA, as kubeadm gives a real one:
the API server's serving certificate (and any client certificate) is issued
from it so that kubectl, curl and `openssl verify` trust the cluster through
one `ca.crt`. And the tutorial's HTTPS step needs a self-signed `nginx.crt` /
`nginx.key` pair, `CN=my-nginx, O=my-nginx`, put into the Secret
`nginxsecret` with the JSON its `make secret` writes.

No openssl binary is run: the library gives the same artefacts without a
dependency on a tool's flags or version. RSA 2048 is used throughout rather
than EC, because every TLS client accepts it; its key generation costs tens of
milliseconds, so async callers should run these functions off the event loop.
Private keys are written owner-only and atomically (a temporary file renamed
into place), so a crash never leaves a truncated key, and a key is never
readable by others even for an instant.
"""
from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import tempfile
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_COMMON_NAME = "emunet-ca"
CA_DAYS = 3650
LEAF_DAYS = 365
# Backdating absorbs clock skew between the issuer and a verifier.
_BACKDATE = datetime.timedelta(minutes=5)


def _new_key(key_type: str = "rsa") -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    # ECDSA P-256 for the cluster's own CA and API server: a TLS handshake with it
    # costs a fraction of RSA's, and every client of the cluster (kubectl, curl,
    # Python) accepts it. The tutorial's certificates stay RSA-2048, as it makes them.
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _key_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    # Traditional "BEGIN RSA PRIVATE KEY", as `openssl req -nodes` wrote it
    # in the tutorial's day; nginx and kubectl read both forms.
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _sans(dns_names: list[str], ips: list[str]) -> x509.SubjectAlternativeName:
    general: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    general += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    return x509.SubjectAlternativeName(general)


def _validity(builder: x509.CertificateBuilder, days: int) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (builder.not_valid_before(now - _BACKDATE)
            .not_valid_after(now + datetime.timedelta(days=days))
            .serial_number(x509.random_serial_number()))


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` readable by the owner only, atomically.

    Raises `PermissionError` (or another `OSError`) whose message names the
    path, so a caller can print it as is.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise type(exc)(exc.errno, f"cannot write {path}: {exc.strerror}") from exc
    try:
        # mkstemp already creates the file 0600; chmod guards against an
        # unusual umask-free platform default.
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise type(exc)(exc.errno, f"cannot write {path}: {exc.strerror}") from exc


def _write_public(path: Path, data: bytes) -> None:
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise type(exc)(exc.errno, f"cannot write {path}: {exc.strerror}") from exc


def ensure_ca(directory: Path, name: str = "emunet",
              key_type: str = "rsa") -> tuple[Path, Path]:
    """Return (`ca.crt`, `ca.key`) in `directory`, creating them only once.

    A CA that already exists is reused, so certificates issued by an earlier
    run (and kubeconfigs that embed `ca.crt`) stay valid. `name` goes into
    the CA's organization, to tell clusters apart in a trust store.
    """
    directory = Path(directory)
    cert_path, key_path = directory / "ca.crt", directory / "ca.key"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True)
    key = _new_key(key_type)
    subject = _name(CA_COMMON_NAME, name)
    cert = (_validity(x509.CertificateBuilder(), CA_DAYS)
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    # The key first: a certificate without its key would be reused forever.
    write_private(key_path, _key_pem(key))
    _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def issue(ca_cert: Path, ca_key: Path, common_name: str, dns_names: list[str],
          ips: list[str], cert_out: Path, key_out: Path,
          organization: str | None = None, client: bool = False,
          key_type: str = "rsa") -> None:
    """Issue a leaf certificate signed by the CA, for a server or a client.

    Modern verifiers ignore the CN for host names, so every name the leaf
    answers to must be a subjectAltName (`dns_names` and `ips`). For client
    certificates the organization becomes the Kubernetes group.
    """
    issuer_cert = x509.load_pem_x509_certificate(Path(ca_cert).read_bytes())
    issuer_key = serialization.load_pem_private_key(Path(ca_key).read_bytes(), password=None)
    if not isinstance(issuer_key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise TypeError(f"{ca_key}: expected an RSA or ECDSA private key")
    key = _new_key(key_type)
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (_validity(x509.CertificateBuilder(), LEAF_DAYS)
               .subject_name(_name(common_name, organization))
               .issuer_name(issuer_cert.subject)
               .public_key(key.public_key())
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(
                   digital_signature=True, content_commitment=False,
                   # Key encipherment is RSA key exchange; an ECDSA key only signs.
                   key_encipherment=key_type != "ec",
                   data_encipherment=False, key_agreement=False, key_cert_sign=False,
                   crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               # Strict verifiers (Python 3.13's default context sets
               # X509_STRICT) require both key identifiers.
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   issuer_key.public_key()), critical=False))
    if dns_names or ips:
        builder = builder.add_extension(_sans(dns_names, ips), critical=False)
    cert = builder.sign(issuer_key, hashes.SHA256())
    write_private(Path(key_out), _key_pem(key))
    _write_public(Path(cert_out), cert.public_bytes(serialization.Encoding.PEM))


def self_signed(common_name: str, organization: str, dns_names: list[str],
                days: int = 365) -> tuple[bytes, bytes]:
    """Return (cert PEM, key PEM) of a self-signed certificate.

    The equivalent of the tutorial's `openssl req -x509 -nodes -days 365
    -newkey rsa:2048 -subj "/CN=my-nginx/O=my-nginx"`, plus SANs, without
    which today's curl rejects `https://my-nginx` even with `--cacert`.
    """
    key = _new_key()
    subject = _name(common_name, organization)
    builder = (_validity(x509.CertificateBuilder(), days)
               .subject_name(subject).issuer_name(subject)
               .public_key(key.public_key())
               # A self-signed leaf doubles as its own trust anchor
               # (`curl --cacert nginx.crt`), which needs CA:TRUE for OpenSSL
               # to accept it as an issuer, as `openssl req -x509` sets.
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(
                   digital_signature=True, content_commitment=False, key_encipherment=True,
                   data_encipherment=False, key_agreement=False, key_cert_sign=True,
                   crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   key.public_key()), critical=False))
    if dns_names:
        builder = builder.add_extension(_sans(dns_names, []), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def secret_manifest(name: str, cert_pem: bytes, key_pem: bytes, type_: str = "Opaque",
                    keys: tuple[str, str] = ("nginx.crt", "nginx.key")) -> dict[str, Any]:
    """The Secret holding a certificate and key, base64 in `data`.

    Shaped like the tutorial's `nginxsecrets.yaml` (namespace `default`, keys
    `nginx.crt` / `nginx.key`, type Opaque); `kubernetes.io/tls` with keys
    `tls.crt` / `tls.key` gives what `kubectl create secret tls` makes.
    """
    cert_key, key_key = keys
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "default"},
        "type": type_,
        "data": {
            cert_key: base64.b64encode(cert_pem).decode("ascii"),
            key_key: base64.b64encode(key_pem).decode("ascii"),
        },
    }


def check_pair(cert_pem: bytes, key_pem: bytes) -> str | None:
    """None if `key_pem` is the private half of `cert_pem`'s key, else why not.

    `kubectl create secret tls` refuses a mismatched pair; the message says
    which file is wrong in words a user can act on.
    """
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        return "the certificate is not a valid PEM-encoded X.509 certificate"
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        return "the private key is not a valid unencrypted PEM-encoded key"
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if cert.public_key().public_bytes(*fmt) != key.public_key().public_bytes(*fmt):
        return "the private key does not match the certificate's public key"
    return None
