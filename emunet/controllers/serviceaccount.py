"""The service account controller: every namespace has a `default` ServiceAccount.

As upstream's `serviceaccounts-controller`: a namespace that appears, or a
`default` account that is deleted, is reconciled by creating the account
again. Namespaces being deleted are left alone.
"""
from __future__ import annotations

import logging
from typing import Any

from .. import resources
from ..client import ApiException, Client, Informer
from ..config import ClusterConfig
from . import common, workqueue

log = logging.getLogger("emunet.controllers.serviceaccount")
Obj = dict[str, Any]
NAMESPACE = resources.by_plural("namespaces")
SA = resources.by_plural("serviceaccounts")
NAMES = ("default",)


class Controller:
    def __init__(self, client: Client, cfg: ClusterConfig) -> None:
        self.client = client
        self.cfg = cfg
        self.namespaces = Informer.shared(client, NAMESPACE)
        self.accounts = Informer.shared(client, SA)
        self.queue = workqueue.WorkQueue()
        self.namespaces.add_handler(
            lambda et, obj, old: self.queue.add(obj["metadata"]["name"]))
        self.accounts.add_handler(self._on_account)

    async def run(self) -> None:
        await workqueue.run_controller([self.namespaces, self.accounts], self.queue,
                                       self.sync, log)

    def _on_account(self, etype: str, sa: Obj, old: Obj | None) -> None:
        if etype == "DELETED" and sa["metadata"]["name"] in NAMES:
            self.queue.add(sa["metadata"].get("namespace", ""))

    async def sync(self, ns: str) -> float | None:
        obj = self.namespaces.get("", ns)
        if obj is None or common.is_terminating(obj) or \
                (obj.get("status") or {}).get("phase") == "Terminating":
            return None
        for name in NAMES:
            if self.accounts.get(ns, name) is not None:
                continue
            try:
                created = await self.client.create(SA, {
                    "apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": name, "namespace": ns}})
            except ApiException as e:
                if e.status == 409:
                    continue  # already there; our cache was behind
                if e.status == 404 or "being terminated" in str(e):
                    return None
                raise
            common.remember(self.accounts, created)
        return None
