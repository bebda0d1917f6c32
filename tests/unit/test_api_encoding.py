"""Responses assembled from stored bytes equal the JSON of the presented objects."""
import json

from emunet import resources
from emunet.api import encoding
from emunet.store import encode

POD = {"metadata": {"name": "p", "namespace": "default", "resourceVersion": "7"},
       "spec": {"containers": [{"name": "c", "image": "nginx"}]}, "status": {"phase": "Running"}}
PODS = resources.by_plural("pods")
DEPLOYMENTS = resources.by_plural("deployments", "apps")


def test_a_get_is_the_body_with_type_meta_first():
    out = encoding.typed(DEPLOYMENTS, encode({"apiVersion": "x", "kind": "y", **POD}))
    assert json.loads(out) == {"apiVersion": "apps/v1", "kind": "Deployment", **POD}
    assert out.startswith(b'{"apiVersion":"apps/v1","kind":"Deployment","metadata"')


def test_a_list_carries_items_without_type_meta():
    out = json.loads(encoding.list_of(PODS, "9", [encode(POD), encode(POD)]))
    assert out == {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "9"},
                   "items": [POD, POD]}
    assert json.loads(encoding.list_of(PODS, "1", []))["items"] == []


def test_a_watch_event_is_one_line():
    line = encoding.watch_event("MODIFIED", encoding.typed(PODS, encode(POD)))
    assert line.endswith(b"}\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"type": "MODIFIED",
                                "object": {"apiVersion": "v1", "kind": "Pod", **POD}}
