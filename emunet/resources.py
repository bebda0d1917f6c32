"""The resource table: every API type emunet serves, as data.

Paths, discovery documents, OpenAPI stubs and Tables are derived from this
table rather than written per kind, as the apiserver derives them from its
registry.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ("create", "delete", "deletecollection", "get", "list",
                              "patch", "update", "watch")

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
        return base


RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "Namespace", "namespaces", "namespace", namespaced=False,
             short_names=("ns",), subresources=("status",),
             verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
    Resource("", "v1", "Node", "nodes", "node", namespaced=False, short_names=("no",),
             subresources=("status",)),
    Resource("", "v1", "Pod", "pods", "pod", short_names=("po",),
             subresources=("status", "log", "exec", "attach", "portforward", "binding"), categories=("all",)),
    Resource("", "v1", "Service", "services", "service", short_names=("svc",),
             subresources=("status",), categories=("all",)),
    Resource("", "v1", "Endpoints", "endpoints", "endpoints", short_names=("ep",)),
    Resource("", "v1", "Secret", "secrets", "secret"),
    Resource("", "v1", "ConfigMap", "configmaps", "configmap", short_names=("cm",)),
    Resource("", "v1", "Event", "events", "event", short_names=("ev",)),
    Resource("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount",
             short_names=("sa",)),
    Resource("apps", "v1", "Deployment", "deployments", "deployment", short_names=("deploy",),
             subresources=("scale", "status"), categories=("all",)),
    Resource("apps", "v1", "ReplicaSet", "replicasets", "replicaset", short_names=("rs",),
             subresources=("scale", "status"), categories=("all",)),
    Resource("apps", "v1", "DaemonSet", "daemonsets", "daemonset", short_names=("ds",),
             subresources=("status",), categories=("all",)),
    Resource("apps", "v1", "StatefulSet", "statefulsets", "statefulset", short_names=("sts",),
             subresources=("scale", "status"), categories=("all",)),
    Resource("batch", "v1", "Job", "jobs", "job", subresources=("status",),
             categories=("all",)),
    Resource("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice"),
    Resource("coordination.k8s.io", "v1", "Lease", "leases", "lease"),
    Resource("events.k8s.io", "v1", "Event", "events", "event", short_names=("ev",)),
    # Reviews are answered, never stored: `kubectl auth can-i` and `kubectl auth whoami`.
    Resource("authorization.k8s.io", "v1", "SelfSubjectAccessReview",
             "selfsubjectaccessreviews", "selfsubjectaccessreview", namespaced=False,
             verbs=("create",)),
    Resource("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews",
             "selfsubjectreview", namespaced=False, verbs=("create",)),
)

REVIEWS = ("SelfSubjectAccessReview", "SelfSubjectReview")

# Groups in the order discovery lists them (the core group first, as the apiserver does).
GROUPS: tuple[str, ...] = ("", "apps", "batch", "discovery.k8s.io", "coordination.k8s.io",
                           "events.k8s.io", "authorization.k8s.io", "authentication.k8s.io")

_BY_GV_PLURAL = {(r.group, r.version, r.plural): r for r in RESOURCES}
_BY_KIND: dict[tuple[str, str], Resource] = {}
for _r in RESOURCES:
    _BY_KIND.setdefault((_r.api_version, _r.kind), _r)


def lookup(group: str, version: str, plural: str) -> Resource | None:
    return _BY_GV_PLURAL.get((group, version, plural))


def by_kind(api_version: str, kind: str) -> Resource | None:
    return _BY_KIND.get((api_version, kind))


def by_plural(plural: str, group: str = "") -> Resource:
    """The resource for a plural name, for components' own use (raises KeyError)."""
    for r in RESOURCES:
        if r.plural == plural and r.group == group:
            return r
    raise KeyError(plural)


def store_key(resource: Resource) -> str:
    """The name the store files a resource under: `group/plural`, or `plural` for core.

    events.k8s.io/v1 Events are the same objects as core v1 Events, so both
    map to one store key, as in the apiserver.
    """
    if resource.group == "events.k8s.io":
        return "events"
    return f"{resource.group}/{resource.plural}" if resource.group else resource.plural
