"""Starting and stopping asyncio tasks: the one helper for each, done right once.

The event loop keeps only a weak reference to a task, so a task nobody holds
can be garbage-collected before it finishes; and a failed task that nobody
awaits is reported ("Task exception was never retrieved") only when it is
collected, late and without saying which task it was. `spawn` keeps a strong
reference until the task is done (in the caller's `owner` set, so the owner
can cancel what is left, or in a module-wide set), names it, and logs its
failure at once under that name.

Stopping is the other half. `task.cancel()` only asks; until the task has
run its `finally` blocks it still holds sockets and may still write.
`cancel_and_wait` cancels and then waits for the tasks to finish. It absorbs
the CancelledError it caused and nothing else: a failure of a task surfaces
as awaiting the task would surface it, and if the caller is itself cancelled
while it waits, that cancellation propagates (asyncio's rule: a coroutine
that swallows its own cancellation cannot be stopped).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger("emunet.tasks")

T = TypeVar("T")

# Tasks spawned without an owner, held here until they are done.
_unowned: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, T], name: str, *,
          owner: set[asyncio.Task[Any]] | None = None) -> asyncio.Task[T]:
    """Run `coro` as a task named `name`, referenced by `owner` until it is done."""
    task = asyncio.get_running_loop().create_task(coro, name=name)
    holder = _unowned if owner is None else owner
    holder.add(task)

    def done(t: asyncio.Task[T]) -> None:
        holder.discard(t)
        if t.cancelled():
            return
        exc = t.exception()
        if exc is not None:
            log.error("task %s failed: %r", t.get_name(), exc, exc_info=exc)

    task.add_done_callback(done)
    return task


async def cancel_and_wait(*tasks: asyncio.Future[Any] | None) -> None:
    """Cancel `tasks` (None and finished ones are fine) and wait until all are done.

    Raises the first failure (other than cancellation) of a task, as `await
    task` would, once all have finished; raises CancelledError if the caller
    is cancelled while waiting.
    """
    futures = [t for t in tasks if t is not None]
    for t in futures:
        t.cancel()
    if not futures:
        return
    # asyncio.wait never raises a task's outcome, so a CancelledError out of it
    # is the caller's own: let it propagate.
    await asyncio.wait(futures)
    # Every outcome is looked at, so none is reported later as never retrieved.
    failures = [e for t in futures if not t.cancelled() and (e := t.exception()) is not None]
    if failures:
        raise failures[0]


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run a component's main coroutine on uvloop where it installs, else asyncio's loop.

    The proxy and the DNS server move bytes for every client; uvloop measured
    1.2-1.8x the default loop for them on these machines.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
