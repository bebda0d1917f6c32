"""resolv.conf, read as the C library reads it, and the search rule it implies.

The pod's `/etc/resolv.conf` (cluster DNS, the Kubernetes search path,
`options ndots:5`) is what makes `nslookup my-nginx` find
`my-nginx.default.svc.cluster.local`. Parsing and the order of candidate
names are pure and table-tested; the tools only send the queries.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from emunet.images import paths


@dataclass
class ResolvConf:
    nameservers: list[str] = field(default_factory=list)
    search: list[str] = field(default_factory=list)
    ndots: int = 1
    timeout: float = 5.0
    attempts: int = 2


def parse(text: str) -> ResolvConf:
    conf = ResolvConf()
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].split()
        if not line:
            continue
        key, values = line[0], line[1:]
        if key == "nameserver" and values:
            conf.nameservers.append(values[0])
        elif key in ("search", "domain") and values:
            # The last search or domain line wins, as in glibc.
            conf.search = [v.rstrip(".") for v in values] if key == "search" \
                else [values[0].rstrip(".")]
        elif key == "options":
            for option in values:
                name, _, value = option.partition(":")
                if name == "ndots" and value.isdigit():
                    conf.ndots = min(int(value), 15)
                elif name == "timeout" and value.isdigit():
                    conf.timeout = max(1.0, float(value))
                elif name == "attempts" and value.isdigit():
                    conf.attempts = max(1, int(value))
    if not conf.nameservers:
        conf.nameservers = ["127.0.0.1"]
    return conf


def candidates(name: str, conf: ResolvConf) -> list[str]:
    """The absolute names to try, in order (res_search's rule)."""
    if name.endswith("."):
        return [name.rstrip(".")]
    searched = [f"{name}.{domain}" for domain in conf.search if domain]
    if name.count(".") >= conf.ndots:
        return [name] + searched
    return searched + [name]


def load(env: os._Environ[str] | dict[str, str] | None = None) -> ResolvConf:
    """The pod's resolver configuration.

    `EMUNET_RESOLV_CONF` names a file (tests); a pod without its own mount
    namespace cannot have its resolv.conf at /etc, so the kubelet's
    `EMUNET_DNS` stands in, with the search path Kubernetes writes.
    """
    env = os.environ if env is None else env
    path = env.get("EMUNET_RESOLV_CONF")
    if not path and env.get("EMUNET_SANDBOX") == "0" and env.get("EMUNET_DNS"):
        namespace = env.get("EMUNET_POD_NAMESPACE", "default")
        domain = env.get("EMUNET_CLUSTER_DOMAIN", paths.CLUSTER_DOMAIN)
        return parse(f"nameserver {env['EMUNET_DNS']}\n"
                     f"search {namespace}.svc.{domain} svc.{domain} {domain}\n"
                     "options ndots:5\n")
    try:
        with open(path or paths.host_path("/etc/resolv.conf", env), encoding="utf-8",
                  errors="replace") as f:
            return parse(f.read())
    except OSError:
        return parse("")
