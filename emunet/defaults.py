"""Defaults the apiserver fills in before it stores an object.

`kubectl get -o yaml` shows an object as stored, so emunet must fill in the
same fields Kubernetes does, or what users see (and what `kubectl apply`
diffs against) would differ. Three upstream sources are folded into one pass
here, each named where it applies:

- the v1 defaulting functions (core and apps), which run on every decode and
  so apply to pod templates as well as Pods;
- the conversion from v1 to the internal type and back (`serviceAccount`
  mirrors `serviceAccountName`; a Secret's `stringData` folds into `data`);
- the admission plugins and registry strategies that only touch Pods,
  Services and Namespaces (service account, priority, default toleration
  seconds, IP families, namespace finalizers).

The function is pure: it returns a new dict and never touches the input, so
the API server can default, validate and only then commit. Allocation of
cluster IPs and node ports, and object metadata (uid, timestamps), are left
to the allocator and the store.
"""
from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

Obj = dict[str, Any]

# Upstream's DefaultTolerationSeconds admission plugin adds these to every Pod
# that does not already tolerate the taints, so pods leave a dead node after 5m.
_NOEXECUTE_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
_DEFAULT_TOLERATION_SECONDS = 300

# The two priority classes every cluster has; any other name would need a
# PriorityClass object, which emunet does not serve, so it gets priority 0.
_BUILTIN_PRIORITIES = {"system-node-critical": 2000001000,
                       "system-cluster-critical": 2000000000}

_VOLUME_SOURCES_WITH_MODE = ("secret", "configMap", "downwardAPI", "projected")
_DEFAULT_MODE = 420  # 0644, as upstream writes it in decimal


def apply_defaults(kind: str, obj: Obj) -> Obj:
    """A copy of `obj` with the fields Kubernetes defaults filled in."""
    out = copy.deepcopy(obj)
    defaulter = _DEFAULTERS.get(kind)
    if defaulter is not None:
        defaulter(out)
    return out


# --- images ---------------------------------------------------------------

def image_tag(image: str) -> str:
    """The tag of an image reference: "latest" when neither tag nor digest is given."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        return last.rsplit(":", 1)[1]
    return "" if digest else "latest"


def pull_policy(image: str) -> str:
    return "Always" if image_tag(image) == "latest" else "IfNotPresent"


# --- pod spec -------------------------------------------------------------

def _pod_spec(spec: Obj) -> None:
    """Defaults every PodSpec gets, whether in a Pod or in a template."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = 30
    spec.setdefault("schedulerName", "default-scheduler")
    # The v1 <-> internal round trip keeps the deprecated alias equal to the real field.
    if not spec.get("serviceAccountName") and spec.get("serviceAccount"):
        spec["serviceAccountName"] = spec["serviceAccount"]
    if spec.get("serviceAccountName"):
        spec["serviceAccount"] = spec["serviceAccountName"]
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(key) or []:
            _container(container)
    for volume in spec.get("volumes") or []:
        _volume(volume)


def _container(c: Obj) -> None:
    if not c.get("imagePullPolicy"):
        c["imagePullPolicy"] = pull_policy(c.get("image", ""))
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    if c.get("resources") is None:
        c["resources"] = {}
    for port in c.get("ports") or []:
        port.setdefault("protocol", "TCP")
    for probe_key in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = c.get(probe_key)
        if probe:
            _probe(probe)
    for hook in ((c.get("lifecycle") or {}).get(k) for k in ("postStart", "preStop")):
        if hook and hook.get("httpGet"):
            _http_get(hook["httpGet"])
    for env in c.get("env") or []:
        field_ref = (env.get("valueFrom") or {}).get("fieldRef")
        if field_ref is not None:
            field_ref.setdefault("apiVersion", "v1")


def _probe(probe: Obj) -> None:
    # Upstream treats 0 as unset for these, so a 0 becomes the default too.
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10),
                       ("successThreshold", 1), ("failureThreshold", 3)):
        if not probe.get(key):
            probe[key] = value
    if probe.get("httpGet"):
        _http_get(probe["httpGet"])


def _http_get(action: Obj) -> None:
    if not action.get("path"):
        action["path"] = "/"
    if not action.get("scheme"):
        action["scheme"] = "HTTP"


def _volume(volume: Obj) -> None:
    if not any(k != "name" for k in volume):
        volume["emptyDir"] = {}
    for source in _VOLUME_SOURCES_WITH_MODE:
        if isinstance(volume.get(source), dict) and volume[source].get("defaultMode") is None:
            volume[source]["defaultMode"] = _DEFAULT_MODE
    if isinstance(volume.get("hostPath"), dict):
        volume["hostPath"].setdefault("type", "")
    for item in (volume.get("downwardAPI") or {}).get("items") or []:
        if item.get("fieldRef") is not None:
            item["fieldRef"].setdefault("apiVersion", "v1")
    for source in (volume.get("projected") or {}).get("sources") or []:
        token = source.get("serviceAccountToken")
        if token is not None and token.get("expirationSeconds") is None:
            token["expirationSeconds"] = 3600
        for item in (source.get("downwardAPI") or {}).get("items") or []:
            if item.get("fieldRef") is not None:
                item["fieldRef"].setdefault("apiVersion", "v1")


def _template(owner: Obj) -> None:
    template = owner.setdefault("spec", {}).setdefault("template", {})
    _pod_spec(template.setdefault("spec", {}))


# --- Pod ------------------------------------------------------------------

def _pod(pod: Obj) -> None:
    spec = pod.setdefault("spec", {})
    _pod_spec(spec)
    # Pod-only defaults (SetDefaults_Pod): upstream keeps them off templates so
    # that adding them never changed a Deployment's template hash.
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            resources = c["resources"]
            if resources.get("limits"):
                requests = resources.setdefault("requests", {})
                for name, value in resources["limits"].items():
                    requests.setdefault(name, value)
    spec.setdefault("enableServiceLinks", True)
    if spec.get("hostNetwork"):
        for key in ("containers", "initContainers"):
            for c in spec.get(key) or []:
                for port in c.get("ports") or []:
                    if not port.get("hostPort"):
                        port["hostPort"] = port.get("containerPort")
    # ServiceAccount admission.
    if not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = "default"
        spec["serviceAccount"] = "default"
    # Priority admission.
    if spec.get("priority") is None:
        spec["priority"] = _BUILTIN_PRIORITIES.get(spec.get("priorityClassName", ""), 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    # DefaultTolerationSeconds admission.
    tolerations = spec["tolerations"] = list(spec.get("tolerations") or [])
    for taint in _NOEXECUTE_TAINTS:
        if not any(t.get("key", "") in ("", taint) and t.get("effect", "") in ("", "NoExecute")
                   for t in tolerations):
            tolerations.append({"key": taint, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": _DEFAULT_TOLERATION_SECONDS})
    status = pod.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", qos_class(spec))


_UNITS: dict[str, int | Decimal] = {"": 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
          "P": 10**15, "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
          "Pi": 2**50, "Ei": 2**60}


def parse_quantity(text: Any) -> Decimal | None:
    """A resource quantity ("250m", "1Gi", "1e3") as a number; None if malformed."""
    s = str(text).strip()
    for suffix in sorted(_UNITS, key=len, reverse=True):
        if suffix and s.endswith(suffix):
            number, unit = s[: -len(suffix)], _UNITS[suffix]
            break
    else:
        number, unit = s, 1
    try:
        return Decimal(number) * unit
    except InvalidOperation:
        return None


def qos_class(spec: Obj) -> str:
    """The QoS class the apiserver records, from cpu and memory requests and limits."""
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    any_set = False
    guaranteed = True
    for c in containers:
        resources = c.get("resources") or {}
        requests = {k: v for k, v in (resources.get("requests") or {}).items()
                    if k in ("cpu", "memory")}
        limits = {k: v for k, v in (resources.get("limits") or {}).items()
                  if k in ("cpu", "memory")}
        if requests or limits:
            any_set = True
        if set(limits) != {"cpu", "memory"}:
            guaranteed = False
            continue
        for name, limit in limits.items():
            request = requests.get(name, limit)
            if parse_quantity(request) != parse_quantity(limit):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


# --- Service --------------------------------------------------------------

def _service(svc: Obj) -> None:
    spec = svc.setdefault("spec", {})
    affinity = spec.setdefault("sessionAffinity", "None")
    if affinity == "None":
        spec.pop("sessionAffinityConfig", None)
    elif affinity == "ClientIP":
        client_ip = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        if client_ip.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    kind = spec.setdefault("type", "ClusterIP")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    if kind in ("NodePort", "LoadBalancer") or (kind == "ClusterIP" and spec.get("externalIPs")):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if kind in ("ClusterIP", "NodePort", "LoadBalancer"):
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
        for ingress in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
            if ingress.get("ip"):
                ingress.setdefault("ipMode", "VIP")
    if kind != "ExternalName":
        _ip_families(spec)
    svc.setdefault("status", {}).setdefault("loadBalancer", {})


def _ip_families(spec: Obj) -> None:
    """The registry's IP family choice for a single-stack IPv4 cluster."""
    if spec.get("clusterIP") and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [spec["clusterIP"]]
    if spec.get("clusterIP") == "None" and not spec.get("selector"):
        # Headless without a selector: its endpoints are whatever the user
        # writes, so upstream asks for both families even on a one-family cluster.
        policy = spec.setdefault("ipFamilyPolicy", "RequireDualStack")
        families = spec.setdefault("ipFamilies", ["IPv4"])
        if len(families) < 2 and policy != "SingleStack":
            families.append("IPv6" if families[0] == "IPv4" else "IPv4")
        return
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    if not spec.get("ipFamilies"):
        spec["ipFamilies"] = ["IPv4"]


# --- apps -----------------------------------------------------------------

def _deployment(deploy: Obj) -> None:
    spec = deploy.setdefault("spec", {})
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        if rolling.get("maxUnavailable") is None:
            rolling["maxUnavailable"] = "25%"
        if rolling.get("maxSurge") is None:
            rolling["maxSurge"] = "25%"
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    if spec.get("progressDeadlineSeconds") is None:
        spec["progressDeadlineSeconds"] = 600
    _template(deploy)


def _replicaset(rs: Obj) -> None:
    spec = rs.setdefault("spec", {})
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    _template(rs)


def _daemonset(ds: Obj) -> None:
    spec = ds.setdefault("spec", {})
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        if rolling.get("maxUnavailable") is None:
            rolling["maxUnavailable"] = 1
        if rolling.get("maxSurge") is None:
            rolling["maxSurge"] = 0
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    _template(ds)


def _statefulset(sts: Obj) -> None:
    spec = sts.setdefault("spec", {})
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        if rolling.get("partition") is None:
            rolling["partition"] = 0
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    retention = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
    retention.setdefault("whenDeleted", "Retain")
    retention.setdefault("whenScaled", "Retain")
    for claim in spec.get("volumeClaimTemplates") or []:
        claim.setdefault("apiVersion", "v1")
        claim.setdefault("kind", "PersistentVolumeClaim")
        claim.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
        claim.setdefault("status", {"phase": "Pending"})
    _template(sts)


def _job(job: Obj) -> None:
    spec = job.setdefault("spec", {})
    # A job that sets neither runs one pod to one completion.
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    if spec.get("parallelism") is None:
        spec["parallelism"] = 1
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 6
    spec.setdefault("completionMode", "NonIndexed")
    if spec.get("suspend") is None:
        spec["suspend"] = False
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    _template(job)
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    meta = job.setdefault("metadata", {})
    if labels and not meta.get("labels"):
        meta["labels"] = dict(labels)


# --- the rest -------------------------------------------------------------

def _secret(secret: Obj) -> None:
    if not secret.get("type"):
        secret["type"] = "Opaque"
    # stringData is write-only: conversion merges it into data (it wins on a
    # clash) and it is never stored, so `get -o yaml` shows only data.
    string_data = secret.pop("stringData", None)
    if string_data:
        data = secret.get("data") or {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        secret["data"] = data


def _namespace(ns: Obj) -> None:
    name = (ns.get("metadata") or {}).get("name")
    if name:
        ns["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    spec = ns.setdefault("spec", {})
    if not spec.get("finalizers"):
        spec["finalizers"] = ["kubernetes"]
    ns.setdefault("status", {}).setdefault("phase", "Active")


def _node(node: Obj) -> None:
    status = node.get("status")
    if status and status.get("capacity") is not None and status.get("allocatable") is None:
        status["allocatable"] = dict(status["capacity"])


def _endpoints(ep: Obj) -> None:
    for subset in ep.get("subsets") or []:
        for port in subset.get("ports") or []:
            port.setdefault("protocol", "TCP")


def _endpointslice(eps: Obj) -> None:
    # Endpoint conditions stay as the writer gave them: upstream defaults none.
    for port in eps.get("ports") or []:
        if port.get("name") is None:
            port["name"] = ""
        if port.get("protocol") is None:
            port["protocol"] = "TCP"


def _nothing(obj: Obj) -> None:
    """ConfigMap, ServiceAccount, Event and Lease have no defaults upstream."""


_DEFAULTERS: dict[str, Callable[[Obj], None]] = {
    "Pod": _pod,
    "Service": _service,
    "Deployment": _deployment,
    "ReplicaSet": _replicaset,
    "Job": _job,
    "DaemonSet": _daemonset,
    "StatefulSet": _statefulset,
    "Secret": _secret,
    "Namespace": _namespace,
    "Node": _node,
    "Endpoints": _endpoints,
    "EndpointSlice": _endpointslice,
    "ConfigMap": _nothing,
    "ServiceAccount": _nothing,
    "Event": _nothing,
    "Lease": _nothing,
}
