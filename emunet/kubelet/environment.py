"""A container's environment, computed as the kubelet computes it (pure).

Kubernetes builds a container's environment in layers, later ones winning:
the docker-link service variables of every Service visible to the pod (the
pod's namespace, plus the master `kubernetes` Service from `default`; only
the latter when `enableServiceLinks: false`), then `envFrom`, then `env`,
whose values may refer to earlier variables as `$(VAR)` (`$$` escapes a
`$`, unknown references stay as written). The container runtime then adds
PATH, HOME and HOSTNAME when the image does not set them.

emunet adds a few variables of its own, all prefixed `EMUNET_`, for the
built-in images (which have no network namespace and must bind the pod IP):

    EMUNET_POD_IP           the pod's IP; built-ins bind only this address
    EMUNET_POD_NAME         the pod's name
    EMUNET_POD_NAMESPACE    the pod's namespace
    EMUNET_CONTAINER_PORTS  JSON list of the container's `ports` entries
    EMUNET_MOUNTS           JSON {mountPath: path to read it at}; the same
                            path in a sandbox, the host directory without one
    EMUNET_SANDBOX          "1" when the container has its own mount/UTS
                            namespaces, "0" when it runs as a plain process
    EMUNET_DNS              the cluster DNS address (for nslookup-like shims)

Everything here is a pure function of the pod, the objects it refers to and
a few node facts, so it is tested as tables.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_FIELD_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.*)'\]$")


class EnvError(Exception):
    """The container cannot be configured (CreateContainerConfigError)."""


@dataclass
class EnvContext:
    """What the environment may refer to, gathered by the kubelet."""

    pod_ip: str = ""
    host_ip: str = ""
    services: list[Obj] = field(default_factory=list)    # all Services the kubelet knows
    secrets: dict[tuple[str, str], Obj] = field(default_factory=dict)      # (ns, name)
    configmaps: dict[tuple[str, str], Obj] = field(default_factory=dict)   # (ns, name)
    master_ip: str = "10.96.0.1"        # fallback for the `kubernetes` Service
    node_cpu: str = "2"
    node_memory_bytes: int = 8 * 1024 ** 3
    extra: dict[str, str] = field(default_factory=dict)  # EMUNET_* internals


# ---- service links -------------------------------------------------------

def _env_name(name: str) -> str:
    return name.upper().replace("-", "_")


def service_env(svc: Obj) -> dict[str, str]:
    """The variables one Service contributes (kubelet envvars.FromServices)."""
    name = _env_name(svc["metadata"]["name"])
    ip = svc.get("spec", {}).get("clusterIP", "")
    ports = svc.get("spec", {}).get("ports") or []
    out: dict[str, str] = {f"{name}_SERVICE_HOST": ip}
    if ports:
        out[f"{name}_SERVICE_PORT"] = str(ports[0]["port"])
    for p in ports:
        if p.get("name"):
            out[f"{name}_SERVICE_PORT_{_env_name(p['name'])}"] = str(p["port"])
    for i, p in enumerate(ports):
        proto = (p.get("protocol") or "TCP").lower()
        url = f"{proto}://{ip}:{p['port']}"
        prefix = f"{name}_PORT_{p['port']}_{proto.upper()}"
        if i == 0:
            out[f"{name}_PORT"] = url
        out[prefix] = url
        out[f"{prefix}_PROTO"] = proto
        out[f"{prefix}_PORT"] = str(p["port"])
        out[f"{prefix}_ADDR"] = ip
    return out


def _has_cluster_ip(svc: Obj) -> bool:
    ip = svc.get("spec", {}).get("clusterIP")
    return bool(ip) and ip != "None"


def service_links(namespace: str, services: list[Obj], enable: bool,
                  master_ip: str = "10.96.0.1") -> dict[str, str]:
    """All service variables for a pod in `namespace` (kubelet getServiceEnvVarMap)."""
    chosen: dict[str, Obj] = {}
    master: Obj | None = None
    for svc in services:
        meta = svc["metadata"]
        if not _has_cluster_ip(svc):
            continue
        if meta.get("namespace") == "default" and meta["name"] == "kubernetes":
            master = svc
        if enable and meta.get("namespace") == namespace:
            chosen[meta["name"]] = svc
    if "kubernetes" not in chosen or namespace != "default":
        chosen["kubernetes"] = master or {
            "metadata": {"name": "kubernetes", "namespace": "default"},
            "spec": {"clusterIP": master_ip,
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}}
    out: dict[str, str] = {}
    for name in sorted(chosen):
        out.update(service_env(chosen[name]))
    return out


# ---- $(VAR) expansion -----------------------------------------------------

def expand(text: str, env: dict[str, str]) -> str:
    """Expand `$(VAR)` as Kubernetes does (third_party/forked/golang/expansion)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "$" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2:end]
                    out.append(env[name] if name in env else text[i:end + 1])
                    i = end + 1
                    continue
        out.append(ch)
        i += 1
    return "".join(out)


# ---- valueFrom ------------------------------------------------------------

def field_ref(pod: Obj, path: str, ctx: EnvContext) -> str:
    meta, spec = pod["metadata"], pod.get("spec", {})
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": ctx.pod_ip,
        "status.podIPs": ctx.pod_ip,
        "status.hostIP": ctx.host_ip,
        "status.hostIPs": ctx.host_ip,
    }
    if path in simple:
        return simple[path]
    m = _FIELD_SUBSCRIPT.match(path)
    if m:
        return (meta.get(m.group(1)) or {}).get(m.group(2), "")
    if path in ("metadata.labels", "metadata.annotations"):
        items = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    raise EnvError(f"unsupported fieldPath: {path}")


_CPU = re.compile(r"^(\d+(?:\.\d+)?)(m?)$")
_MEM_UNITS = {"": 1, "k": 1000, "M": 1000 ** 2, "G": 1000 ** 3, "T": 1000 ** 4,
              "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4}


def _quantity(text: str) -> float:
    m = re.match(r"^(\d+(?:\.\d+)?)([a-zA-Z]*)$", str(text))
    if not m:
        raise EnvError(f"bad quantity {text!r}")
    num, unit = float(m.group(1)), m.group(2)
    if unit == "m":
        return num / 1000
    if unit not in _MEM_UNITS:
        raise EnvError(f"bad quantity {text!r}")
    return num * _MEM_UNITS[unit]


def resource_ref(container: Obj, ref: Obj, ctx: EnvContext) -> str:
    """resourceFieldRef: the limit (or the node's allocatable), over the divisor, rounded up."""
    kind, _, res = ref["resource"].partition(".")
    value = (container.get("resources", {}).get(kind) or {}).get(res)
    if value is None:
        if kind == "requests":
            value = "0"
        else:
            value = ctx.node_cpu if res == "cpu" else str(ctx.node_memory_bytes)
    divisor = _quantity(ref.get("divisor") or "1")
    amount = _quantity(value) / (divisor or 1)
    rounded = int(amount) if amount == int(amount) else int(amount) + 1
    return str(rounded)


def _lookup(kind: str, store: dict[tuple[str, str], Obj], ns: str, ref: Obj) -> Obj | None:
    obj = store.get((ns, ref.get("name", "")))
    if obj is None and not ref.get("optional"):
        raise EnvError(f'{kind} "{ref.get("name", "")}" not found')
    return obj


def _data(kind: str, obj: Obj) -> dict[str, str]:
    if kind == "secret":
        import base64
        return {k: base64.b64decode(v).decode(errors="replace")
                for k, v in (obj.get("data") or {}).items()} | dict(obj.get("stringData") or {})
    return dict(obj.get("data") or {})


def value_from(pod: Obj, container: Obj, src: Obj, ctx: EnvContext) -> str | None:
    """One env entry's valueFrom; None means 'leave the variable out' (optional refs)."""
    ns = pod["metadata"].get("namespace", "default")
    if "fieldRef" in src:
        return field_ref(pod, src["fieldRef"]["fieldPath"], ctx)
    if "resourceFieldRef" in src:
        return resource_ref(container, src["resourceFieldRef"], ctx)
    for key, kind, store in (("secretKeyRef", "secret", ctx.secrets),
                             ("configMapKeyRef", "configmap", ctx.configmaps)):
        if key in src:
            ref = src[key]
            obj = _lookup(kind, store, ns, ref)
            if obj is None:
                return None
            data = _data(kind, obj)
            if ref["key"] not in data:
                if ref.get("optional"):
                    return None
                label = "Secret" if kind == "secret" else "ConfigMap"
                raise EnvError(f"couldn't find key {ref['key']} in {label} {ns}/{ref['name']}")
            return data[ref["key"]]
    raise EnvError("valueFrom names no source")


# ---- the whole environment ---------------------------------------------------

def container_env(pod: Obj, container: Obj, ctx: EnvContext) -> dict[str, str]:
    """The full environment of one container, as a dict in insertion order."""
    meta, spec = pod["metadata"], pod.get("spec", {})
    ns = meta.get("namespace", "default")
    env: dict[str, str] = {"PATH": DEFAULT_PATH, "HOSTNAME": meta["name"]}
    if container.get("tty"):
        env["TERM"] = "xterm"
    env.update(service_links(ns, ctx.services, spec.get("enableServiceLinks", True),
                             ctx.master_ip))
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix", "")
        for key, kind, store in (("configMapRef", "configmap", ctx.configmaps),
                                 ("secretRef", "secret", ctx.secrets)):
            if key in src:
                obj = _lookup(kind, store, ns, src[key])
                if obj is not None:
                    for k, v in _data(kind, obj).items():
                        if _ENV_NAME.match(prefix + k):
                            env[prefix + k] = v
    for item in container.get("env") or []:
        if "valueFrom" in item:
            value = value_from(pod, container, item["valueFrom"], ctx)
            if value is None:
                continue
        else:
            value = expand(item.get("value", ""), env)
        env[item["name"]] = value
    env.setdefault("HOME", "/root")
    env.update(ctx.extra)
    return env


def emunet_env(pod: Obj, container: Obj, pod_ip: str, mounts: dict[str, str],
               sandbox: bool, dns_ip: str) -> dict[str, str]:
    """The EMUNET_* internals for built-in images (documented above)."""
    return {"EMUNET_POD_IP": pod_ip,
            "EMUNET_POD_NAME": pod["metadata"]["name"],
            "EMUNET_POD_NAMESPACE": pod["metadata"].get("namespace", "default"),
            "EMUNET_CONTAINER_PORTS": json.dumps(container.get("ports") or []),
            "EMUNET_MOUNTS": json.dumps(mounts),
            "EMUNET_SANDBOX": "1" if sandbox else "0",
            "EMUNET_DNS": dns_ip}
