"""A de-duplicating, rate-limited work queue and the worker loop controllers share.

This is client-go's workqueue in asyncio: event handlers only *add keys*; a key
queued twice is queued once; a key added while a worker holds it is re-queued
when the worker calls `done` (so one key is never synced by two workers at
once, and no change is lost); failures come back after a per-key exponential
back-off. Controllers are level-triggered, so coalescing many events into one
`sync(key)` is both safe and the point. `run_controller` is the loop every
controller runs: start informers, wait for their caches, then feed keys to
`sync` forever, never letting one bad key stop the loop.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any

from .. import tasks

Key = Hashable
# `sync` may return a number of seconds after which the key wants another look
# (e.g. a node's grace period expiring), as client-go controllers call AddAfter.
Sync = Callable[[Any], Awaitable[float | None]]


class WorkQueue:
    def __init__(self, base_delay: float = 0.005, max_delay: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.clock = clock
        self._queue: collections.deque[Key] = collections.deque()
        self._dirty: set[Key] = set()
        self._processing: set[Key] = set()
        self._failures: dict[Key, int] = {}
        self._delayed: dict[Key, tuple[float, asyncio.TimerHandle]] = {}
        self._ready = asyncio.Event()
        self._shutdown = False

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, key: Key) -> None:
        if self._shutdown or key in self._dirty:
            return
        self._dirty.add(key)
        # A key being processed goes back in line when its worker is done.
        if key not in self._processing:
            self._queue.append(key)
            self._ready.set()

    def add_after(self, key: Key, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        when = self.clock() + delay
        prev = self._delayed.get(key)
        if prev is not None:
            if prev[0] <= when:
                return  # an earlier wake-up already covers this one
            prev[1].cancel()
        handle = asyncio.get_running_loop().call_later(delay, self._fire, key)
        self._delayed[key] = (when, handle)

    def _fire(self, key: Key) -> None:
        self._delayed.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: Key) -> None:
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        self.add_after(key, min(self.base_delay * (2 ** n), self.max_delay))

    def num_requeues(self, key: Key) -> int:
        return self._failures.get(key, 0)

    def forget(self, key: Key) -> None:
        self._failures.pop(key, None)

    async def get(self) -> Key:
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: Key) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._ready.set()

    def shutdown(self) -> None:
        self._shutdown = True
        for _, handle in self._delayed.values():
            handle.cancel()
        self._delayed.clear()


async def work(queue: WorkQueue, sync: Sync, log: logging.Logger) -> None:
    """One worker: take a key, sync it, and requeue it on error with back-off."""
    while True:
        key = await queue.get()
        try:
            again = await sync(key)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # one bad key must never stop the loop
            log.warning("sync %s failed (%s): %s", key, type(err).__name__, err,
                        exc_info=log.isEnabledFor(logging.DEBUG))
            queue.add_rate_limited(key)
        else:
            queue.forget(key)
            if again is not None:
                queue.add_after(key, again)
        finally:
            queue.done(key)


async def run_controller(informers: Iterable[Any], queue: WorkQueue, sync: Sync,
                         log: logging.Logger, workers: int = 1,
                         on_synced: Callable[[], Awaitable[None] | None] | None = None) -> None:
    """Start the informers, wait for their caches, then run `workers` workers forever."""
    informers = list(informers)
    running: list[asyncio.Task[Any]] = []
    try:
        for inf in informers:
            inf.start()
        await asyncio.gather(*(inf.synced.wait() for inf in informers))
        if on_synced is not None:
            r = on_synced()
            if asyncio.iscoroutine(r):
                await r
        running = [asyncio.create_task(work(queue, sync, log), name=f"{log.name}-worker-{i}")
                   for i in range(workers)]
        await asyncio.gather(*running)
    finally:
        # Workers end only by cancellation: `work` absorbs every other error.
        await tasks.cancel_and_wait(*running)
        queue.shutdown()
        for inf in informers:
            await inf.stop()
