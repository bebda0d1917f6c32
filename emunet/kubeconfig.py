"""Merging a cluster's context into the kubeconfig kubectl uses, as kind does.

The file is `$KUBECONFIG` (its first entry) or `~/.kube/config`. Entries of
other clusters stay as they are; ours are replaced by name; the file keeps
mode 0600 and is replaced atomically so kubectl never reads half a file.
"""
from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml


def default_path() -> Path:
    env = os.environ.get("KUBECONFIG")
    if env:
        return Path(env.split(os.pathsep)[0])
    return Path.home() / ".kube" / "config"


def _load(path: Path) -> dict[str, Any]:
    if path.exists() and path.stat().st_size:
        data = yaml.safe_load(path.read_text()) or {}
        if isinstance(data, dict):
            return data
    return {}


def _save(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".emunet-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(data, f, default_flow_style=False, sort_keys=False)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _upsert(items: list[dict[str, Any]], name: str, entry: dict[str, Any]) -> list[dict[str, Any]]:
    out = [i for i in items if i.get("name") != name]
    out.append(entry)
    return out


def merge(path: Path, context: str, server: str, ca_pem: bytes, token: str,
          make_current: bool = True) -> None:
    data = _load(path)
    data.setdefault("apiVersion", "v1")
    data.setdefault("kind", "Config")
    data.setdefault("preferences", {})
    data["clusters"] = _upsert(data.get("clusters") or [], context, {
        "name": context,
        "cluster": {"server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode()}})
    data["users"] = _upsert(data.get("users") or [], context, {
        "name": context, "user": {"token": token}})
    data["contexts"] = _upsert(data.get("contexts") or [], context, {
        "name": context,
        "context": {"cluster": context, "user": context, "namespace": "default"}})
    if make_current or not data.get("current-context"):
        data["current-context"] = context
    _save(path, data)


def remove(path: Path, context: str) -> bool:
    data = _load(path)
    if not data:
        return False
    before = len(data.get("contexts") or [])
    for key in ("clusters", "users", "contexts"):
        data[key] = [i for i in data.get(key) or [] if i.get("name") != context]
    if data.get("current-context") == context:
        data["current-context"] = ""
    _save(path, data)
    return len(data["contexts"]) != before
