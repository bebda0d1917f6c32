"""The files the kubelet writes for a pod's /etc: hosts, hostname, resolv.conf (pure).

These follow the kubelet's own renderings (kubelet_pods.go managedHostsFileContent
and pkg/kubelet/network/dns): a managed hosts file with the localhost lines,
the pod's IP mapped to its hostname (and FQDN with a subdomain), then
hostAliases; resolv.conf by dnsPolicy, where ClusterFirst searches
`<ns>.svc.<domain> svc.<domain> <domain>` then the host's own search
domains, asks the cluster DNS, with `options ndots:5`, and merges dnsConfig.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
MAX_NAMESERVERS = 3
MAX_SEARCH = 32


@dataclass
class ResolvConf:
    nameservers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)

    def render(self) -> str:
        lines = []
        if self.searches:
            lines.append("search " + " ".join(self.searches))
        for ns in self.nameservers:
            lines.append(f"nameserver {ns}")
        if self.options:
            lines.append("options " + " ".join(self.options))
        return "\n".join(lines) + "\n"


def parse_resolv_conf(text: str) -> ResolvConf:
    out = ResolvConf()
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].split()
        if not line:
            continue
        key, args = line[0], line[1:]
        if key == "nameserver" and args:
            out.nameservers.append(args[0])
        elif key in ("search", "domain"):
            out.searches = list(args)
        elif key == "options":
            out.options.extend(args)
    return out


def _merge_options(base: list[str], extra: list[Obj]) -> list[str]:
    """dnsConfig options replace same-named options (kubelet mergeDNSOptions)."""
    merged: dict[str, str] = {}
    for opt in base:
        name, _, value = opt.partition(":")
        merged[name] = opt
    for item in extra:
        name = item.get("name", "")
        merged[name] = f"{name}:{item['value']}" if item.get("value") is not None else name
    return list(merged.values())


def _dedup(items: list[str]) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def resolv_conf(pod: Obj, host: ResolvConf, dns_ip: str, domain: str) -> str:
    spec = pod.get("spec", {})
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    cfg = spec.get("dnsConfig") or {}
    ns = pod["metadata"].get("namespace", "default")
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet"):
        out = ResolvConf([dns_ip], [f"{ns}.svc.{domain}", f"svc.{domain}", domain]
                         + host.searches, ["ndots:5"])
    elif policy == "Default":
        out = ResolvConf(list(host.nameservers), list(host.searches), list(host.options))
    else:  # None: everything comes from dnsConfig
        out = ResolvConf()
    if cfg:
        out.nameservers = _dedup(out.nameservers + list(cfg.get("nameservers") or []))
        out.searches = _dedup(out.searches + list(cfg.get("searches") or []))
        out.options = _merge_options(out.options, cfg.get("options") or [])
    out.nameservers = out.nameservers[:MAX_NAMESERVERS]
    out.searches = _dedup(out.searches)[:MAX_SEARCH]
    return out.render()


def hostname(pod: Obj) -> str:
    """spec.hostname when set (<=63 chars), else the pod's name, truncated as Kubernetes does."""
    name = pod.get("spec", {}).get("hostname") or pod["metadata"]["name"]
    return name[:63].rstrip("-.")


def hosts_file(pod: Obj, pod_ip: str, domain: str) -> str:
    spec = pod.get("spec", {})
    host = hostname(pod)
    lines = ["# Kubernetes-managed hosts file.",
             "127.0.0.1\tlocalhost",
             "::1\tlocalhost ip6-localhost ip6-loopback",
             "fe00::0\tip6-localnet",
             "fe00::0\tip6-mcastprefix",
             "fe00::1\tip6-allnodes",
             "fe00::2\tip6-allrouters"]
    if spec.get("subdomain"):
        ns = pod["metadata"].get("namespace", "default")
        lines.append(f"{pod_ip}\t{host}.{spec['subdomain']}.{ns}.svc.{domain}\t{host}")
    else:
        lines.append(f"{pod_ip}\t{host}")
    aliases = spec.get("hostAliases") or []
    if aliases:
        lines.append("")
        lines.append("# Entries added by HostAliases.")
        for a in aliases:
            lines.append(a["ip"] + "\t" + "\t".join(a.get("hostnames") or []))
    return "\n".join(lines) + "\n"
