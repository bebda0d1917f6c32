"""Informers shared by the components of one client: one per selection, started once."""
import asyncio

from emunet import client as client_mod
from emunet.client import Client, Credentials, Informer


def test_one_informer_per_client_and_selection():
    c = Client(Credentials("https://127.0.0.1:1", "t"))
    pods = Informer.shared(c, "pods")
    assert Informer.shared(c, client_mod.resources.by_plural("pods")) is pods
    assert Informer.shared(c, "pods", field_selector="spec.nodeName=a") is not pods
    assert Informer.shared(c, "apps/deployments") is not pods
    other = Client(Credentials("https://127.0.0.1:1", "t"))
    assert Informer.shared(other, "pods") is not pods


async def test_a_shared_informer_runs_until_its_last_user_stops(monkeypatch):
    runs = []

    async def run(self):
        runs.append(self)
        await asyncio.Event().wait()

    monkeypatch.setattr(Informer, "_run", run)
    inf = Informer.shared(Client(Credentials("https://127.0.0.1:1", "t")), "pods")
    first = inf.start()
    assert inf.start() is first
    await asyncio.sleep(0)
    assert len(runs) == 1
    await inf.stop()
    assert not first.done()
    await inf.stop()
    assert first.cancelled()


async def test_a_handler_added_late_first_sees_the_cached_objects():
    inf = Informer(Client(Credentials("https://127.0.0.1:1", "t")), "pods")
    pod = {"metadata": {"name": "p", "namespace": "default"}}
    inf.cache[("default", "p")] = pod
    seen = []
    inf.add_handler(lambda etype, obj, old: seen.append((etype, obj, old)))

    async def later(etype, obj, old):
        seen.append(("async", etype))

    inf.add_handler(later)
    await asyncio.sleep(0)
    assert seen == [("ADDED", pod, None), ("async", "ADDED")]
