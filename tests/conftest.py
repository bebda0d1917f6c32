"""Shared test fixtures: the repository's paths and a module-wide cluster; a guard
that fails an async test which leaves tasks running on its event loop."""
from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import AsyncIterator
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


# How long tasks a test cancelled (or that end on their own) get to finish: a task
# cancelled without being awaited ends within a few turns of the loop.
LEAK_GRACE_SECONDS = 1.0


@pytest.fixture(autouse=True)
def _no_leaked_tasks(request: pytest.FixtureRequest) -> None:
    # Autouse, so set up before and torn down after the test's own fixtures: their
    # teardown (stopping servers, informers) runs before the check.
    if inspect.iscoroutinefunction(request.function):
        request.getfixturevalue("_leaked_tasks_check")


@pytest.fixture
async def _leaked_tasks_check(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    before = asyncio.all_tasks()
    yield
    me = asyncio.current_task()
    # The test's own task is done by now, so all_tasks() no longer lists it.
    left = [t for t in asyncio.all_tasks() if t is not me and t not in before]
    if left:
        await asyncio.wait(left, timeout=LEAK_GRACE_SECONDS)
    leaked = sorted(t.get_name() for t in left if not t.done())
    if leaked:
        for t in left:
            t.cancel()
        pytest.fail(f"{request.node.nodeid} left {len(leaked)} task(s) running: "
                    f"{', '.join(leaked)}", pytrace=False)
