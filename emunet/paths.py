"""Where a cluster keeps its files, in one place.

Kept free of heavy imports: the CLI reads these paths on every command and
must start in a blink.
"""
from __future__ import annotations

from pathlib import Path


def state_paths(state: Path) -> dict[str, Path]:
    return {"config": state / "config.json", "creds": state / "credentials.json",
            "pki": state / "pki", "db": state / "store.db", "logs": state / "logs",
            "daemon": state / "daemon.json", "token": state / "pki" / "token"}
