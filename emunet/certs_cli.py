"""`emunet certs`: the tutorial's keys and Secret, and CA-signed serving certificates.

`emunet certs tutorial` is what `make keys secret` in `certs/` runs: the
tutorial builds these with a Go program; emunet makes the same artefacts
with `cryptography`, adding subjectAltNames so that modern clients, which no
longer read the CN, verify `https://my-nginx` by name.

`emunet certs serve` issues a certificate for a Service's DNS names (and its
ClusterIP, when the cluster runs) signed by the cluster CA, as a
`kubernetes.io/tls` Secret, and says where the CA is for `curl --cacert`.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="certs_command", required=True)
    t = sub.add_parser("tutorial", help="self-signed nginx.crt/nginx.key and the nginxsecret Secret")
    t.add_argument("--key", type=Path, help="where to write the private key (mode 0600)")
    t.add_argument("--cert", type=Path, help="where to write the certificate")
    t.add_argument("--secret", type=Path, help="where to write the Secret manifest (JSON)")
    t.add_argument("--secret-name", default="nginxsecret")
    t.add_argument("--cn", default="my-nginx", help="common name and Service name")
    t.add_argument("--namespace", default="default")
    s = sub.add_parser("serve", help="a serving certificate signed by the cluster CA, as a "
                       "kubernetes.io/tls Secret")
    s.add_argument("--service", required=True)
    s.add_argument("--namespace", default="default")
    s.add_argument("--secret-name")
    s.add_argument("--out", type=Path, required=True, help="where to write the Secret (JSON)")
    s.add_argument("--name", default="emunet", help="the cluster")


def _service_names(svc: str, ns: str, domain: str = "cluster.local") -> list[str]:
    return [svc, f"{svc}.{ns}", f"{svc}.{ns}.svc", f"{svc}.{ns}.svc.{domain}"]


def _write(path: Path, data: bytes, private: bool = False) -> None:
    from . import certs
    try:
        if private:
            certs.write_private(path, data)
        else:
            path.write_bytes(data)
    except OSError as e:
        raise SystemExit(f"emunet certs: cannot write {path}: {e.strerror or e}. "
                         "Choose a writable path (for example under /tmp).") from None


def run(args: argparse.Namespace) -> int:
    if args.certs_command == "tutorial":
        return _tutorial(args)
    return _serve(args)


def _tutorial(args: argparse.Namespace) -> int:
    from . import certs  # cryptography is slow to import: only when needed
    if not (args.key or args.cert or args.secret):
        print("emunet certs tutorial: give at least one of --key, --cert, --secret",
              file=sys.stderr)
        return 2
    cert_pem = key_pem = None
    reused = False
    if args.cert and args.key and args.cert.exists() and args.key.exists():
        cert_pem, key_pem = args.cert.read_bytes(), args.key.read_bytes()
        problem = certs.check_pair(cert_pem, key_pem)
        if problem:
            print(f"emunet certs: {args.cert} and {args.key} do not belong together: {problem}. "
                  "Delete them to make a new pair.", file=sys.stderr)
            return 1
        reused = True
    if cert_pem is None or key_pem is None:
        cert_pem, key_pem = certs.self_signed(args.cn, args.cn,
                                              _service_names(args.cn, args.namespace))
        if args.key:
            _write(args.key, key_pem, private=True)
        if args.cert:
            _write(args.cert, cert_pem)
    if args.secret:
        manifest = certs.secret_manifest(args.secret_name, cert_pem, key_pem)
        manifest["metadata"]["namespace"] = args.namespace
        _write(args.secret, (json.dumps(manifest, indent=2) + "\n").encode())
    for what, path in (("key", args.key), ("certificate", args.cert)):
        if path:
            print(f"{'kept' if reused else 'wrote'} {what} {path}")
    if args.secret:
        print(f"wrote Secret {args.secret}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from . import certs
    from .cli import Api, running_pid, state_dir
    from .paths import state_paths
    state = state_dir(args.name)
    pki = state_paths(state)["pki"]
    ca_crt, ca_key = pki / "ca.crt", pki / "ca.key"
    if not ca_crt.exists():
        print(f'emunet certs: cluster "{args.name}" has no CA yet: run `emunet up` first',
              file=sys.stderr)
        return 1
    ips: list[str] = []
    if running_pid(state):
        try:
            svc = Api(state).call("GET", f"/api/v1/namespaces/{args.namespace}/services/"
                                  f"{args.service}")
            ips = [ip for ip in svc["spec"].get("clusterIPs") or [] if ip != "None"]
        except Exception:  # the Service may not exist yet: names alone still verify
            ips = []
    with tempfile.TemporaryDirectory() as tmp:
        crt, key = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
        certs.issue(ca_crt, ca_key, args.service, _service_names(args.service, args.namespace),
                    ips, crt, key)
        manifest = certs.secret_manifest(args.secret_name or f"{args.service}-tls",
                                         crt.read_bytes(), key.read_bytes(),
                                         type_="kubernetes.io/tls", keys=("tls.crt", "tls.key"))
    manifest["metadata"]["namespace"] = args.namespace
    _write(args.out, (json.dumps(manifest, indent=2) + "\n").encode())
    print(f"wrote Secret {manifest['metadata']['name']} to {args.out}")
    print(f"clients verify it with the cluster CA: curl --cacert {ca_crt} https://...")
    return 0
