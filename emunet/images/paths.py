"""Where a container's absolute paths are on this host, and who the pod is.

In a sandbox (the kubelet's own mount and UTS namespaces) a volume is at its
`mountPath` and `/etc/resolv.conf` is the pod's, exactly as in Kubernetes.
Without namespaces the kubelet cannot put files at `/etc/nginx/ssl`, so it
says where they are instead, in one of two ways, both honoured here:
`EMUNET_MOUNTS` (JSON `{mountPath: host dir}`) or `EMUNET_ROOT` (a directory
that prefixes every absolute path). Built-ins read files only through
`host_path`, and print the container path in their messages, as the real
program would.
"""
from __future__ import annotations

import json
import os
import socket

CLUSTER_DOMAIN = "cluster.local"


def host_path(path: str, env: os._Environ[str] | dict[str, str] | None = None) -> str:
    """The host path at which the container sees `path`."""
    env = os.environ if env is None else env
    mounts_text = env.get("EMUNET_MOUNTS")
    if mounts_text:
        try:
            mounts = json.loads(mounts_text)
        except ValueError:
            mounts = {}
        # The longest mount path wins, as the innermost mount shadows outer ones.
        for mount in sorted(mounts, key=len, reverse=True):
            prefix = mount.rstrip("/")
            if path == prefix or path.startswith(prefix + "/"):
                return str(mounts[mount]).rstrip("/") + path[len(prefix):]
    root = env.get("EMUNET_ROOT")
    if root:
        candidate = os.path.join(root, path.lstrip("/"))
        if os.path.exists(candidate):
            return candidate
    return path


def pod_ip(env: os._Environ[str] | dict[str, str] | None = None) -> str:
    """The only address a built-in binds, so that many pods share port 80."""
    env = os.environ if env is None else env
    return env.get("EMUNET_POD_IP") or "127.0.0.1"


def container_ports(protocol: str = "TCP",
                    env: os._Environ[str] | dict[str, str] | None = None) -> list[int]:
    """The container's declared ports of one protocol, in spec order."""
    env = os.environ if env is None else env
    try:
        entries = json.loads(env.get("EMUNET_CONTAINER_PORTS") or "[]")
    except ValueError:
        return []
    ports: list[int] = []
    for entry in entries if isinstance(entries, list) else []:
        if (entry.get("protocol") or "TCP").upper() == protocol and entry.get("containerPort"):
            port = int(entry["containerPort"])
            if port not in ports:
                ports.append(port)
    return ports


def hostname() -> str:
    """The pod's name: the UTS hostname in a sandbox, HOSTNAME without one."""
    if os.environ.get("EMUNET_SANDBOX") == "0":
        return os.environ.get("HOSTNAME") or os.environ.get("EMUNET_POD_NAME") \
            or socket.gethostname()
    return os.environ.get("HOSTNAME") or socket.gethostname()
