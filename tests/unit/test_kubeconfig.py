"""Merging and removing a cluster's kubeconfig entries, as kind does, leaving others alone."""
from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
import yaml

from emunet import kubeconfig

CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

OTHER = {
    "apiVersion": "v1", "kind": "Config", "preferences": {},
    "clusters": [{"name": "prod", "cluster": {"server": "https://prod.example:6443"}}],
    "users": [{"name": "prod-admin", "user": {"token": "prod-token"}}],
    "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod-admin"}}],
    "current-context": "prod",
}


def names(data: dict, key: str) -> list[str]:
    return [i["name"] for i in data.get(key) or []]


def read(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_merge_into_a_missing_file_writes_a_complete_private_config(tmp_path: Path) -> None:
    path = tmp_path / "dir" / "config"
    kubeconfig.merge(path, "emunet", "https://127.0.0.1:6443", CA, "tok")
    data = read(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert data["current-context"] == "emunet"
    assert data["clusters"] == [{"name": "emunet", "cluster": {
        "server": "https://127.0.0.1:6443",
        "certificate-authority-data": base64.b64encode(CA).decode()}}]
    assert data["users"] == [{"name": "emunet", "user": {"token": "tok"}}]
    assert data["contexts"] == [{"name": "emunet", "context": {
        "cluster": "emunet", "user": "emunet", "namespace": "default"}}]
    assert not list(path.parent.glob("*tmp*"))


def test_merge_keeps_other_entries_and_replaces_its_own(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(OTHER))
    path.chmod(0o644)
    kubeconfig.merge(path, "emunet", "https://127.0.0.1:6443", CA, "old")
    kubeconfig.merge(path, "emunet", "https://127.0.0.1:6444", CA, "new")
    data = read(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for key in ("clusters", "users", "contexts"):
        assert sorted(names(data, key)) == sorted(names(OTHER, key) + ["emunet"])
    assert [c for c in data["clusters"] if c["name"] == "prod"] == OTHER["clusters"]
    ours = [c for c in data["clusters"] if c["name"] == "emunet"][0]
    assert ours["cluster"]["server"] == "https://127.0.0.1:6444"
    assert [u for u in data["users"] if u["name"] == "emunet"][0]["user"]["token"] == "new"
    assert data["current-context"] == "emunet"


# (current context before, make_current, current context after)
CURRENT_CASES = [
    ("prod", True, "emunet"),
    ("prod", False, "prod"),
    ("", False, "emunet"),
    (None, False, "emunet"),
]


@pytest.mark.parametrize("before,make_current,after", CURRENT_CASES)
def test_merge_current_context(tmp_path: Path, before, make_current, after) -> None:
    path = tmp_path / "config"
    data = dict(OTHER)
    if before is None:
        del data["current-context"]
    else:
        data["current-context"] = before
    path.write_text(yaml.safe_dump(data))
    kubeconfig.merge(path, "emunet", "https://127.0.0.1:6443", CA, "t",
                     make_current=make_current)
    assert read(path)["current-context"] == after


def test_remove_drops_only_its_entries_and_clears_current_context(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(OTHER))
    kubeconfig.merge(path, "emunet", "https://127.0.0.1:6443", CA, "t")
    assert kubeconfig.remove(path, "emunet") is True
    data = read(path)
    for key in ("clusters", "users", "contexts"):
        assert names(data, key) == names(OTHER, key)
    assert data["current-context"] == ""
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Removing again finds nothing to remove.
    assert kubeconfig.remove(path, "emunet") is False


def test_remove_keeps_another_current_context(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(OTHER))
    kubeconfig.merge(path, "emunet", "https://127.0.0.1:6443", CA, "t", make_current=False)
    kubeconfig.remove(path, "emunet")
    assert read(path)["current-context"] == "prod"


def test_remove_from_a_missing_file_is_nothing(tmp_path: Path) -> None:
    assert kubeconfig.remove(tmp_path / "none", "emunet") is False
    assert not (tmp_path / "none").exists()


def test_default_path_is_the_first_kubeconfig_entry(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(first), str(second)]))
    assert kubeconfig.default_path() == first
    monkeypatch.setenv("KUBECONFIG", str(second))
    assert kubeconfig.default_path() == second
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert kubeconfig.default_path() == tmp_path / ".kube" / "config"
