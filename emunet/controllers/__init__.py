"""The controllers that run inside the daemon, one per module, and the scheduler.

Each is a class `Controller(client, cfg)` with `async def run()` that runs
forever; the daemon starts one task per entry of CONTROLLERS.
"""
from __future__ import annotations

from .. import scheduler
from . import (
               deployment,
               garbagecollector,
               nodelifecycle,
               replicaset,
               serviceaccount,
               serviceloadbalancer,
)

CONTROLLERS = [
    deployment.Controller,
    replicaset.Controller,
    garbagecollector.Controller,
    nodelifecycle.Controller,
    serviceloadbalancer.Controller,
    serviceaccount.Controller,
    scheduler.Controller,
]

from . import endpoints, endpointslice  # noqa: E402

CONTROLLERS += [endpoints.Controller, endpointslice.Controller]
