"""Pod volumes, materialised as host directories under the pod's directory.

Each volume becomes `<pod dir>/volumes/<kind>/<name>`, bind-mounted at its
mountPath in the sandbox (or named in EMUNET_MOUNTS without one). Secret,
configMap, downwardAPI and projected volumes are written as the kubelet's
AtomicWriter writes them: the files go into a fresh timestamped directory,
a `..data` symlink is swapped to it by rename, and each visible name is a
symlink through `..data`, so a reader sees the old set or the new set, never
a mix, when a Secret or ConfigMap changes. A missing Secret/ConfigMap (not
optional) raises VolumeError with the kubelet's FailedMount message.
"""
from __future__ import annotations

import base64
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import environment

Obj = dict[str, Any]
Lookup = Callable[[str, str, str], Obj | None]   # (kind, namespace, name) -> object


class VolumeError(Exception):
    pass


def _items(data: dict[str, bytes], items: list[Obj] | None, default_mode: int,
           kind: str, name: str, optional: bool) -> dict[str, tuple[bytes, int]]:
    if not items:
        return {k: (v, default_mode) for k, v in data.items()}
    out: dict[str, tuple[bytes, int]] = {}
    for it in items:
        if it["key"] not in data:
            if optional:
                continue
            raise VolumeError(f'configmap references non-existent config key: {it["key"]}'
                              if kind == "configmap" else
                              f'references non-existent secret key: {it["key"]}')
        out[it["path"]] = (data[it["key"]], it.get("mode", default_mode))
    return out


def _source_files(src_kind: str, src: Obj, pod: Obj, lookup: Lookup, vol: str,
                  default_mode: int) -> dict[str, tuple[bytes, int]]:
    ns = pod["metadata"].get("namespace", "default")
    if src_kind in ("secret", "configMap"):
        kind = src_kind.lower()
        name = src.get("secretName") or src.get("name", "")
        obj = lookup(kind, ns, name)
        optional = bool(src.get("optional"))
        if obj is None:
            if optional:
                return {}
            raise VolumeError(f'MountVolume.SetUp failed for volume "{vol}" : '
                              f'{kind} "{name}" not found')
        if kind == "secret":
            data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
            data.update({k: v.encode() for k, v in (obj.get("stringData") or {}).items()})
        else:
            data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
            data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
        mode = src.get("defaultMode", default_mode)
        return _items(data, src.get("items"), mode, kind, name, optional)
    if src_kind == "downwardAPI":
        mode = src.get("defaultMode", default_mode)
        out = {}
        for it in src.get("items") or []:
            if "fieldRef" in it:
                value = environment.field_ref(pod, it["fieldRef"]["fieldPath"],
                                              environment.EnvContext())
            else:
                value = ""
            out[it["path"]] = (value.encode(), it.get("mode", mode))
        return out
    if src_kind == "serviceAccountToken":
        return {src.get("path", "token"): (b"emunet-service-account-token", default_mode)}
    return {}


def files_for(vol: Obj, pod: Obj, lookup: Lookup) -> dict[str, tuple[bytes, int]] | None:
    """The files of an atomically-written volume, or None for other kinds."""
    name = vol["name"]
    for kind in ("secret", "configMap", "downwardAPI"):
        if kind in vol:
            return _source_files(kind, vol[kind], pod, lookup, name, 0o644)
    if "projected" in vol:
        proj = vol["projected"]
        mode = proj.get("defaultMode", 0o644)
        out: dict[str, tuple[bytes, int]] = {}
        for src in proj.get("sources") or []:
            for kind, body in src.items():
                body = dict(body)
                body.setdefault("defaultMode", mode)
                out.update(_source_files(kind, body, pod, lookup, name, mode))
        return out
    return None


def write_atomic(target: Path, files: dict[str, tuple[bytes, int]]) -> bool:
    """Write files behind a `..data` symlink swap; False when nothing changed."""
    target.mkdir(parents=True, exist_ok=True)
    data_link = target / "..data"
    if data_link.is_symlink():
        current = target / os.readlink(data_link)
        same = all((current / p).is_file() and (current / p).read_bytes() == body
                   for p, (body, _) in files.items())
        listed = {str(p.relative_to(current)) for p in current.rglob("*") if p.is_file()}
        if same and listed == set(files):
            return False
    stamp = target / (time.strftime("..%Y_%m_%d_%H_%M_%S.") + str(time.monotonic_ns()))
    stamp.mkdir()
    for rel, (body, mode) in files.items():
        p = stamp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(body)
        p.chmod(mode)
    old = os.readlink(data_link) if data_link.is_symlink() else None
    tmp = target / "..data_tmp"
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(stamp.name)
    os.rename(tmp, data_link)
    tops = {rel.split("/", 1)[0] for rel in files}
    for entry in target.iterdir():
        if not entry.name.startswith("..") and entry.name not in tops:
            entry.unlink() if entry.is_symlink() else shutil.rmtree(entry, ignore_errors=True)
    for top in tops:
        link = target / top
        if not link.is_symlink():
            link.symlink_to(f"..data/{top}")
    if old:
        shutil.rmtree(target / old, ignore_errors=True)
    return True


def materialise(pod: Obj, pod_dir: Path, lookup: Lookup,
                claims_dir: Path | None = None) -> dict[str, str]:
    """Create or refresh every volume; returns {volume name: host path}.

    A persistentVolumeClaim volume is the directory `<claims_dir>/<namespace>/<claim>`,
    which outlives the pod: emunet has no PersistentVolumeClaim objects, so a claim is
    its name (a StatefulSet's `<template>-<pod>`), and its data stays until the
    cluster is purged."""
    out: dict[str, str] = {}
    for vol in pod.get("spec", {}).get("volumes") or []:
        name = vol["name"]
        if "hostPath" in vol:
            out[name] = vol["hostPath"]["path"]
            continue
        claim = (vol.get("persistentVolumeClaim") or {}).get("claimName")
        if claim and claims_dir is not None:
            if "/" in claim or claim in (".", ".."):
                raise VolumeError(f'MountVolume.SetUp failed for volume "{name}" : '
                                  f'invalid claim name "{claim}"')
            target = claims_dir / pod["metadata"].get("namespace", "default") / claim
            target.mkdir(parents=True, exist_ok=True)
            out[name] = str(target)
            continue
        files = files_for(vol, pod, lookup)
        kind = next((k for k in vol if k != "name"), "emptyDir")
        target = pod_dir / "volumes" / kind / name
        if files is None:
            target.mkdir(parents=True, exist_ok=True)
        else:
            write_atomic(target, files)
        out[name] = str(target)
    return out


def mounts(container: Obj, vols: dict[str, str]) -> list[Obj]:
    """The bind mounts of one container: [{src, dst, ro}]."""
    out = []
    for vm in container.get("volumeMounts") or []:
        src = vols.get(vm["name"])
        if src is None:
            continue
        if vm.get("subPath"):
            src = os.path.join(src, vm["subPath"])
            if not os.path.exists(src):
                os.makedirs(src, exist_ok=True)
        out.append({"src": src, "dst": vm["mountPath"], "ro": bool(vm.get("readOnly"))})
    return out
