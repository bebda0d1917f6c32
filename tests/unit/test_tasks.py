"""The task helpers: spawn holds, names and reports; cancel_and_wait really waits."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from emunet import tasks


async def test_spawn_holds_the_task_in_its_owner_until_done() -> None:
    owner: set[asyncio.Task[Any]] = set()
    gate = asyncio.Event()
    t = tasks.spawn(gate.wait(), "gated", owner=owner)
    assert t.get_name() == "gated"
    assert owner == {t}
    gate.set()
    assert await t is True
    await asyncio.sleep(0)  # done callbacks run on the next turn
    assert owner == set()


async def test_spawn_logs_a_failure_with_the_task_name(caplog: pytest.LogCaptureFixture) -> None:
    async def boom() -> None:
        raise ValueError("bad key")

    caplog.set_level(logging.ERROR, logger="emunet.tasks")
    t = tasks.spawn(boom(), "sync-worker")
    await asyncio.wait([t])
    await asyncio.sleep(0)
    assert [r.getMessage() for r in caplog.records] == [
        "task sync-worker failed: ValueError('bad key')"]


async def test_spawn_does_not_log_a_cancellation(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="emunet.tasks")
    t = tasks.spawn(asyncio.sleep(30), "sleeper")
    await tasks.cancel_and_wait(t)
    await asyncio.sleep(0)
    assert t.cancelled()
    assert caplog.records == []


async def test_cancel_and_wait_returns_once_cleanup_has_run() -> None:
    cleaned = []

    async def worker() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            await asyncio.sleep(0)  # cleanup that itself awaits
            cleaned.append(True)

    t = asyncio.get_running_loop().create_task(worker())
    await asyncio.sleep(0)
    await tasks.cancel_and_wait(t, None)
    assert t.done() and cleaned == [True]


async def test_cancel_and_wait_accepts_nothing_and_finished_tasks() -> None:
    await tasks.cancel_and_wait()
    await tasks.cancel_and_wait(None)
    done = asyncio.get_running_loop().create_task(asyncio.sleep(0, "x"))
    await done
    await tasks.cancel_and_wait(done)


async def test_cancel_and_wait_raises_a_task_failure() -> None:
    async def failing() -> None:
        raise OSError("port in use")

    t = asyncio.get_running_loop().create_task(failing())
    await asyncio.wait([t])
    with pytest.raises(OSError, match="port in use"):
        await tasks.cancel_and_wait(t)


async def test_cancel_and_wait_propagates_the_callers_own_cancellation() -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            await release.wait()  # slow to stop

    inner = asyncio.get_running_loop().create_task(stubborn())
    await asyncio.sleep(0)
    outer = asyncio.get_running_loop().create_task(tasks.cancel_and_wait(inner))
    await asyncio.sleep(0)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    release.set()
    await inner
