"""Volumes as the kubelet's AtomicWriter lays them out."""
from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from emunet.kubelet import volumes

POD = {"metadata": {"name": "p", "namespace": "default", "labels": {"a": "b"}},
       "spec": {"volumes": [
           {"name": "secret-volume", "secret": {"secretName": "s", "defaultMode": 0o400}},
           {"name": "cfg", "configMap": {"name": "cm", "items": [{"key": "k", "path": "sub/k.txt"}]}},
           {"name": "scratch", "emptyDir": {}},
           {"name": "info", "downwardAPI": {"items": [{"path": "labels",
                                                      "fieldRef": {"fieldPath": "metadata.labels"}}]}}]}}


def store(objs):
    return lambda kind, ns, name: objs.get((kind, ns, name))


def test_materialise_lays_out_every_kind(tmp_path):
    objs = {("secret", "default", "s"): {"data": {"tls.crt": base64.b64encode(b"CERT").decode()}},
            ("configmap", "default", "cm"): {"data": {"k": "v", "other": "x"}}}
    vols = volumes.materialise(POD, tmp_path, store(objs))
    sec = vols["secret-volume"]
    assert Path(os.path.join(sec, "tls.crt")).read_text() == "CERT"
    assert os.path.islink(os.path.join(sec, "tls.crt")) and os.path.islink(os.path.join(sec, "..data"))
    assert oct(os.stat(os.path.join(sec, "tls.crt")).st_mode & 0o777) == "0o400"
    assert Path(os.path.join(vols["cfg"], "sub/k.txt")).read_text() == "v"
    assert not os.path.exists(os.path.join(vols["cfg"], "other"))
    assert os.path.isdir(vols["scratch"])
    assert Path(os.path.join(vols["info"], "labels")).read_text() == 'a="b"'


def test_update_swaps_the_data_link(tmp_path):
    objs = {("secret", "default", "s"): {"data": {"a": base64.b64encode(b"1").decode()}},
            ("configmap", "default", "cm"): {"data": {"k": "v"}}}
    vols = volumes.materialise(POD, tmp_path, store(objs))
    before = os.readlink(os.path.join(vols["secret-volume"], "..data"))
    objs[("secret", "default", "s")] = {"data": {"b": base64.b64encode(b"2").decode()}}
    volumes.materialise(POD, tmp_path, store(objs))
    sec = vols["secret-volume"]
    assert os.readlink(os.path.join(sec, "..data")) != before
    assert sorted(n for n in os.listdir(sec) if not n.startswith("..")) == ["b"]
    assert not os.path.exists(os.path.join(sec, before))
    assert volumes.write_atomic(tmp_path / "volumes" / "secret" / "secret-volume",
                                {"b": (b"2", 0o400)}) is False


def test_missing_secret_is_a_failed_mount(tmp_path):
    with pytest.raises(volumes.VolumeError, match='MountVolume.SetUp failed for volume '
                       '"secret-volume" : secret "s" not found'):
        volumes.materialise(POD, tmp_path, store({}))


def test_mounts_follow_volume_mounts():
    c = {"volumeMounts": [{"name": "v", "mountPath": "/etc/nginx/ssl", "readOnly": True},
                          {"name": "missing", "mountPath": "/x"}]}
    assert volumes.mounts(c, {"v": "/host/v"}) == [{"src": "/host/v", "dst": "/etc/nginx/ssl", "ro": True}]
