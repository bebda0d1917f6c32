"""Import aiohttp without parsing the machine's public CA bundle.

aiohttp builds two default SSL client contexts when it is imported, and each
reads every certificate of the system bundle (`SSL_CERT_FILE`, or OpenSSL's
default file): 25-30 ms apiece on the project's machine, on the critical
path of `emunet up`. emunet's processes trust only the cluster CA, which
every client of theirs is given explicitly (or skip verification, as probes
do), so those two contexts are built with no CA at all.
"""
from __future__ import annotations

import os

_NOWHERE = os.path.join(os.devnull, "no-ca")   # can never exist: /dev/null is a file


def import_aiohttp_without_public_cas() -> None:
    saved = {k: os.environ.get(k) for k in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    os.environ.update(SSL_CERT_FILE=_NOWHERE, SSL_CERT_DIR=_NOWHERE)
    try:
        import aiohttp.connector  # noqa: F401
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
