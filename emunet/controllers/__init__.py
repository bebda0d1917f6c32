"""The controllers that run inside the daemon, one per module, and the scheduler.

Each is a class `Controller(client, cfg)` with `async def run()` that runs
forever; the daemon starts one task per entry of CONTROLLERS.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from .. import client, config, scheduler
from . import (
    daemonset,
    deployment,
    garbagecollector,
    job,
    nodelifecycle,
    replicaset,
    serviceaccount,
    serviceloadbalancer,
    statefulset,
)


class Controller(Protocol):
    """What the daemon needs of a controller: a loop it runs as one task."""

    async def run(self) -> None: ...


Factory = Callable[[client.Client, config.ClusterConfig], Controller]

CONTROLLERS: list[Factory] = [
    deployment.Controller,
    replicaset.Controller,
    job.Controller,
    daemonset.Controller,
    statefulset.Controller,
    garbagecollector.Controller,
    nodelifecycle.Controller,
    serviceloadbalancer.Controller,
    serviceaccount.Controller,
    scheduler.Controller,
]

from . import endpoints, endpointslice  # noqa: E402

CONTROLLERS += [endpoints.Controller, endpointslice.Controller]
