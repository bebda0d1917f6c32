"""The client's write verbs, recorded: what a controller's sync sends, without a server.

A test subclasses `RecordingApi` with the `create` its controller needs (how the
server would name and answer a new pod).
"""
from __future__ import annotations

import copy


class RecordingApi:
    """Stands in for the client's verbs, recording what the controller sends."""

    def __init__(self, client, pods):
        self.pods = pods
        self.calls = []
        self.made = 0
        client.create = self.create
        client.delete = self.delete
        client.update = self.update
        client.event = self.event
        client.patch = self.patch

    async def create(self, res, obj, namespace=None):
        raise NotImplementedError

    async def delete(self, res, name, namespace=None, grace=None, propagation=None, uid=None):
        self.calls.append(("delete", name))
        return None

    async def update(self, res, obj, subresource=""):
        self.calls.append(("update", subresource, obj["status"]))
        return {**obj, "metadata": {**obj["metadata"], "resourceVersion": "99"}}

    async def patch(self, res, name, patch, namespace=None, subresource="", kind="merge"):
        self.calls.append(("patch", name, patch))
        out = copy.deepcopy(self.pods.get(namespace, name))
        out["metadata"].update(patch["metadata"], resourceVersion="98")
        return out

    async def event(self, involved, reason, message, type_="Normal", component="emunet",
                    host=None):
        self.calls.append(("event", type_, reason, message))
