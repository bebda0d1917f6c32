"""The controllers' work queue: de-duplication, in-flight re-queue, back-off, delays."""
import asyncio
import logging

import pytest

from emunet.controllers.workqueue import WorkQueue, work


async def test_a_key_added_twice_is_processed_once():
    q = WorkQueue()
    q.add("a")
    q.add("b")
    q.add("a")
    assert len(q) == 2
    assert await q.get() == "a"
    assert await q.get() == "b"


async def test_a_key_added_while_processing_comes_back_after_done():
    q = WorkQueue()
    q.add("a")
    key = await q.get()
    q.add("a")
    assert len(q) == 0, "never handed to a second worker while in flight"
    q.done(key)
    assert len(q) == 1
    assert await q.get() == "a"


async def test_get_waits_for_an_add():
    q = WorkQueue()
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not getter.done()
    q.add("x")
    assert await asyncio.wait_for(getter, 1) == "x"


async def test_add_after_keeps_the_earliest_wakeup():
    q = WorkQueue()
    q.add_after("a", 5.0)
    q.add_after("a", 0.01)
    q.add_after("a", 3.0)
    assert await asyncio.wait_for(q.get(), 1) == "a"
    q.shutdown()


async def test_rate_limited_delay_doubles_and_forget_resets():
    q = WorkQueue(base_delay=0.001, max_delay=0.004)
    for expected in (1, 2, 3):
        q.add_rate_limited("k")
        assert q.num_requeues("k") == expected
        assert await asyncio.wait_for(q.get(), 1) == "k"
        q.done("k")
    q.forget("k")
    assert q.num_requeues("k") == 0


async def test_worker_survives_errors_and_requeues_the_key():
    q = WorkQueue(base_delay=0.001)
    calls = []
    done = asyncio.Event()

    async def sync(key):
        calls.append(key)
        if len(calls) < 3:
            raise RuntimeError("boom")
        done.set()

    q.add("k")
    worker = asyncio.create_task(work(q, sync, logging.getLogger("test")))
    await asyncio.wait_for(done.wait(), 2)
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await worker
    assert calls == ["k", "k", "k"]
    assert q.num_requeues("k") == 0
    q.shutdown()


async def test_sync_returning_seconds_requeues_the_key_later():
    q = WorkQueue()
    seen = []

    async def sync(key):
        seen.append(key)
        return 0.01 if len(seen) == 1 else None

    q.add("k")
    worker = asyncio.create_task(work(q, sync, logging.getLogger("test")))
    for _ in range(200):
        if len(seen) == 2:
            break
        await asyncio.sleep(0.005)
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await worker
    assert seen == ["k", "k"]
    q.shutdown()
