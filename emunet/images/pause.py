"""The `pause` image: a process that holds a pod open and does nothing.

Kubernetes' pause container blocks until SIGINT or SIGTERM, then prints
`Shutting down, got signal: <name>` on stderr and exits 0 (pause.c). Pods
made only of it are the cheapest way to have endpoints without traffic.
"""
from __future__ import annotations

import signal

from emunet.images import runtime

_NAMES: dict[int, str] = {signal.SIGTERM: "Terminated", signal.SIGINT: "Interrupt"}


async def main(argv: list[str], stop: runtime.Stop) -> int:
    if "-v" in argv[1:]:
        runtime.out("pause.c v3.10")
        return 0
    await stop.event.wait()
    if stop.signal is not None:
        runtime.err(f"Shutting down, got signal: {_NAMES.get(stop.signal, str(stop.signal))}")
    return 0


def run(argv: list[str]) -> int:
    return runtime.run(lambda stop: main(argv, stop))
