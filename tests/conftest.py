"""Shared test fixtures: the repository's paths and a module-wide cluster."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def examples() -> Path:
    return EXAMPLES


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Nothing a test does may touch the user's kubeconfig or state.
    home = tmp_path_factory.mktemp("home")
    os.environ.setdefault("XDG_STATE_HOME", str(home / "state"))
    os.environ["KUBECONFIG"] = str(home / "kubeconfig")
