"""The `bprashanth/nginxhttps` image: nginx on 80 and, with TLS, on 443.

The tutorial's secure Service runs this image with the Secret `nginxsecret`
mounted at `/etc/nginx/ssl`; its nginx config listens on 80 and on 443 with
`ssl_certificate /etc/nginx/ssl/nginx.crt` and `ssl_certificate_key
/etc/nginx/ssl/nginx.key`. TLS ends here, in the pod, so a client that trusts
the certificate verifies it end to end through the proxy.

Like nginx, a certificate that is missing, unreadable or does not match its
key stops the container at start with nginx's own `[emerg]` line (the
OpenSSL 3 wording) and exit code 1, so that `kubectl logs` shows the user
what real nginx would have told them.
"""
from __future__ import annotations

import asyncio
import errno
import os
import signal
import ssl

from emunet.images import http1, nginx, paths, runtime

CERT = "/etc/nginx/ssl/nginx.crt"
KEY = "/etc/nginx/ssl/nginx.key"

_SYS_CODES = {errno.ENOENT: "80000002", errno.EACCES: "8000000D", errno.EISDIR: "80000015"}


def _open_failure(what: str, path: str, exc: OSError) -> str:
    code = exc.errno or errno.EIO
    reason = os.strerror(code)
    bio = "no such file" if code == errno.ENOENT else "system lib"
    return (f'cannot load {what} "{path}": BIO_new_file() failed (SSL: '
            f"error:{_SYS_CODES.get(code, '80000005')}:system library::{reason}:"
            f"calling fopen({path}, r) error:10000080:BIO routines::{bio})")


def tls_context(cert_path: str = CERT, key_path: str = KEY) -> ssl.SSLContext | str:
    """A server context from the mounted pair, or nginx's [emerg] message."""
    cert_file, key_file = paths.host_path(cert_path), paths.host_path(key_path)
    try:
        with open(cert_file, "rb") as f:
            cert_pem = f.read()
    except OSError as exc:
        return _open_failure("certificate", cert_path, exc)
    if b"-----BEGIN CERTIFICATE-----" not in cert_pem:
        return (f'cannot load certificate "{cert_path}": PEM_read_bio_X509_AUX() failed '
                f"(SSL: error:0480006C:PEM routines::no start line:Expecting: "
                f"TRUSTED CERTIFICATE)")
    try:
        with open(key_file, "rb") as f:
            key_pem = f.read()
    except OSError as exc:
        return _open_failure("certificate key", key_path, exc)
    bad_key = (f'cannot load certificate key "{key_path}": PEM_read_bio_PrivateKey() failed '
               f"(SSL: error:1E08010C:DECODER routines::unsupported:No supported data to "
               f"decode. Input type: PEM)")
    if b"PRIVATE KEY-----" not in key_pem:
        return bad_key
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_verify_locations(cadata=cert_pem.decode("ascii", "replace"))
    except (ssl.SSLError, ValueError):
        return (f'cannot load certificate "{cert_path}": PEM_read_bio_X509_AUX() failed '
                f"(SSL: error:0680007B:asn1 encoding routines::header too long)")
    try:
        ctx.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc) or "key values mismatch" in str(exc):
            return (f'SSL_CTX_use_PrivateKey("{key_path}") failed (SSL: error:05800074:'
                    f"x509 certificate routines::key values mismatch)")
        return bad_key
    # A fresh context with only the chain: load_verify_locations above was a parse check.
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert_file, key_file)
    server_ctx.set_alpn_protocols(["http/1.1"])
    return server_ctx


async def main(argv: list[str], stop: runtime.Stop) -> int:
    asyncio.get_running_loop().add_signal_handler(signal.SIGQUIT, stop.on_signal,
                                                  signal.SIGQUIT)
    ctx = tls_context()
    if isinstance(ctx, str):
        return nginx.emerg(ctx)
    try:
        plain, secure = nginx.listen_all([80, 443])
    except runtime.BindError as exc:
        return nginx.emerg(str(exc))
    app = nginx.Nginx()
    conns = http1.Connections(nginx.KEEPALIVE_TIMEOUT)
    listeners = [await http1.Listener(app, plain, conns).start(),
                 await http1.Listener(app, secure, conns, ssl=ctx).start()]
    nginx.start_notices()
    # The real image's PID 1 is a shell script that ignores SIGTERM, so the pod serves
    # on until SIGKILL ends the grace period (30 s). Here SIGTERM is a graceful
    # shutdown instead: nothing under way is lost, and `kubectl delete pod` is quick.
    return await nginx.serve_until_stopped(stop, listeners, conns,
                                           (signal.SIGQUIT, signal.SIGTERM))


def run(argv: list[str]) -> int:
    return runtime.run(lambda stop: main(argv, stop))
