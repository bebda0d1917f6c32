"""Server-side Tables: the rows `kubectl get` prints, as the apiserver renders them.

kubectl 1.32 asks for `meta.k8s.io/v1` Tables and prints their cells verbatim;
a plain list would give only `NAME AGE`. So every column and every cell format
here follows the apiserver's printers for the same type, ages included: they are
computed on the server, with apimachinery's `HumanDuration` rules.

Column sets are data (one `Printer` per resource in `PRINTERS`, keyed by group and
plural), so the resource table and this one can be read side by side. As in the
apiserver, each printer yields every cell, the `-o wide` ones too; kubectl drops
the columns of priority 1 unless asked for them. Pure functions only: `now` is
passed in, so ages are testable and the caller owns the clock.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from emunet import errors

Obj = dict[str, Any]
Cells = list[Any]

_MINUTE = 60
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_YEAR = 365 * _DAY

# How many items a list-valued cell shows before "+ N more...", as upstream.
_MAX_LISTED = 3

INCLUDE_OBJECT = ("None", "Metadata", "Object")


# --- ages -------------------------------------------------------------------

def human_duration(seconds: float) -> str:
    """apimachinery's HumanDuration: precise while young, coarser with age.

    A skew of up to a second into the future still reads `0s`, so that clocks a
    little apart do not print `<invalid>` for an object just created.
    """
    s = int(seconds)  # truncates toward zero, as Go's int(d.Seconds())
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 2 * _MINUTE:
        return f"{s}s"
    minutes = s // _MINUTE
    if minutes < 10:
        rest = s % _MINUTE
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 3 * 60:
        return f"{minutes}m"
    hours = s // _HOUR
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 8 * 24:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if days < 2 * 365:
        return f"{days}d"
    years = days // 365
    if days < 8 * 365:
        rest = days % 365
        return f"{years}y{rest}d" if rest else f"{years}y"
    return f"{years}y"


def parse_time(timestamp: str | None) -> datetime | None:
    """An RFC3339 time (`metav1.Time` or `MicroTime`) as an aware datetime."""
    if not timestamp:
        return None
    try:
        parsed = datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def age(timestamp: str | None, now: datetime) -> str:
    """The Age cell: time since `timestamp`, or `<unknown>` for a zero time."""
    then = parse_time(timestamp)
    if then is None:
        return "<unknown>"
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return human_duration((now - then).total_seconds())


# --- shared cell formats ----------------------------------------------------

def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _name(obj: Obj) -> str:
    return _meta(obj).get("name", "")


def _age(obj: Obj, now: datetime) -> str:
    return age(_meta(obj).get("creationTimestamp"), now)


def _or(value: Any, default: str) -> Any:
    return value if value not in (None, "") else default


def _listed(items: list[str], empty: str) -> str:
    """Up to three items joined by commas, then `+ N more...`, as upstream."""
    if not items:
        return empty
    shown = ",".join(items[:_MAX_LISTED])
    if len(items) > _MAX_LISTED:
        return f"{shown} + {len(items) - _MAX_LISTED} more..."
    return shown


def format_labels(labels: dict[str, str] | None) -> str:
    """labels.FormatLabels: `k=v` pairs sorted by key, or `<none>`."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def selector_string(selector: Obj | None) -> str | None:
    """A LabelSelector in the label-selector syntax; None if it is malformed.

    Requirements are sorted by key and set values sorted, as the apimachinery
    selector prints them; an empty or absent selector is the empty string.
    """
    if not selector:
        return ""
    reqs: list[tuple[str, str]] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        reqs.append((key, f"{key}={value}"))
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator"), expr.get("values") or []
        if op in ("In", "NotIn"):
            if not values:
                return None
            word = "in" if op == "In" else "notin"
            reqs.append((key, f"{key} {word} ({','.join(sorted(values))})"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                return None
            reqs.append((key, key if op == "Exists" else f"!{key}"))
        else:
            return None
    reqs.sort(key=lambda r: r[0])
    return ",".join(text for _, text in reqs)


def format_label_selector(selector: Obj | None) -> str:
    """metav1.FormatLabelSelector: the selector string, `<none>` when empty."""
    text = selector_string(selector)
    if text is None:
        return "<error>"
    return text or "<none>"


def _containers(template_spec: Obj) -> tuple[str, str]:
    containers = template_spec.get("containers") or []
    return (",".join(c.get("name", "") for c in containers),
            ",".join(c.get("image", "") for c in containers))


def _host_port(ip: str, port: Any) -> str:
    try:
        if ipaddress.ip_address(ip).version == 6:
            return f"[{ip}]:{port}"
    except ValueError:
        pass
    return f"{ip}:{port}"


# --- per-resource cells -----------------------------------------------------

def _is_restartable_init(container: Obj | None) -> bool:
    # A sidecar: an init container with restartPolicy Always.
    return bool(container) and container.get("restartPolicy") == "Always"


def _condition_true(conditions: list[Obj], kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def _later(current: str | None, candidate: str | None) -> str | None:
    a, b = parse_time(current), parse_time(candidate)
    if b is not None and (a is None or b > a):
        return candidate
    return current


def _pod_cells(pod: Obj, now: datetime) -> Cells:
    """The kubelet-style summary `kubectl get pods` shows, as upstream derives it."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    conditions = status.get("conditions") or []
    phase = status.get("phase", "")
    reason = status.get("reason") or phase
    if any(c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated"
           for c in conditions):
        reason = "SchedulingGated"

    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    total = len(spec.get("containers") or []) + sum(
        1 for c in init_specs.values() if _is_restartable_init(c))
    ready = restarts = sidecar_restarts = 0
    last_restart = last_sidecar_restart = None

    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for i, cs in enumerate(init_statuses):
        state = cs.get("state") or {}
        finished = ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        restarts += cs.get("restartCount", 0)
        last_restart = _later(last_restart, finished)
        sidecar = _is_restartable_init(init_specs.get(cs.get("name")))
        if sidecar:
            sidecar_restarts += cs.get("restartCount", 0)
            last_sidecar_restart = _later(last_sidecar_restart, finished)
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and terminated.get("exitCode", 0) == 0:
            continue
        if sidecar and cs.get("started"):
            ready += 1 if cs.get("ready") else 0
            continue
        if terminated is not None:
            if terminated.get("reason"):
                reason = "Init:" + terminated["reason"]
            elif terminated.get("signal"):
                reason = f"Init:Signal:{terminated['signal']}"
            else:
                reason = f"Init:ExitCode:{terminated.get('exitCode', 0)}"
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(conditions, "Initialized"):
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        has_running = False
        # Walked backwards so that the first container's reason wins, as upstream.
        for cs in reversed(status.get("containerStatuses") or []):
            state = cs.get("state") or {}
            finished = ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
            restarts += cs.get("restartCount", 0)
            last_restart = _later(last_restart, finished)
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated is not None:
                reason = (f"Signal:{terminated['signal']}" if terminated.get("signal")
                          else f"ExitCode:{terminated.get('exitCode', 0)}")
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(conditions, "Ready") else "NotReady"

    if _meta(pod).get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"

    restarts_cell = str(restarts)
    if restarts and last_restart:
        restarts_cell = f"{restarts} ({age(last_restart, now)} ago)"

    pod_ips = status.get("podIPs") or []
    pod_ip = (pod_ips[0].get("ip") if pod_ips else None) or status.get("podIP")
    gates = spec.get("readinessGates") or []
    gates_cell = "<none>"
    if gates:
        by_type = {c.get("type"): c.get("status") for c in reversed(conditions)}
        passed = sum(1 for g in gates if by_type.get(g.get("conditionType")) == "True")
        gates_cell = f"{passed}/{len(gates)}"
    return [_name(pod), f"{ready}/{total}", reason, restarts_cell, _age(pod, now),
            _or(pod_ip, "<none>"), _or(spec.get("nodeName"), "<none>"),
            _or(status.get("nominatedNodeName"), "<none>"), gates_cell]


def _load_balancer_ips(svc: Obj) -> list[str]:
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return sorted({i.get("ip") or i.get("hostname") for i in ingress
                   if i.get("ip") or i.get("hostname")})


def service_external_ip(svc: Obj) -> str:
    """The External-IP cell; an LB without ingress is still `<pending>`."""
    spec = svc.get("spec") or {}
    external = list(spec.get("externalIPs") or [])
    kind = spec.get("type") or "ClusterIP"
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        return ",".join(_load_balancer_ips(svc) + external) or "<pending>"
    if kind == "ExternalName":
        return spec.get("externalName", "")
    return "<unknown>"


def service_ports(ports: list[Obj] | None) -> str:
    """`80/TCP`, or `port:nodePort/proto` once a node port is allocated."""
    pieces = []
    for p in ports or []:
        proto = p.get("protocol") or "TCP"
        if p.get("nodePort"):
            pieces.append(f"{p.get('port')}:{p['nodePort']}/{proto}")
        else:
            pieces.append(f"{p.get('port')}/{proto}")
    return ",".join(pieces) or "<none>"


def _service_cells(svc: Obj, now: datetime) -> Cells:
    spec = svc.get("spec") or {}
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    cluster_ip = cluster_ips[0] if cluster_ips else "<none>"
    return [_name(svc), spec.get("type") or "ClusterIP", cluster_ip, service_external_ip(svc),
            service_ports(spec.get("ports")), _age(svc, now), format_labels(spec.get("selector"))]


def format_endpoints(endpoints: Obj) -> str:
    """Every ready address by every port of each subset; a portless subset lists IPs."""
    subsets = endpoints.get("subsets") or []
    if not subsets:
        return "<none>"
    items: list[str] = []
    for ss in subsets:
        addresses = [a.get("ip", "") for a in ss.get("addresses") or []]
        ports = ss.get("ports") or []
        if not ports:
            items.extend(addresses)
        for port in ports:
            items.extend(_host_port(ip, port.get("port")) for ip in addresses)
    # Upstream prints an empty cell, not <none>, when subsets hold no ready address.
    return _listed(items, "")


def _endpoints_cells(ep: Obj, now: datetime) -> Cells:
    return [_name(ep), format_endpoints(ep), _age(ep, now)]


def _endpointslice_cells(eps: Obj, now: datetime) -> Cells:
    ports = []
    for p in eps.get("ports") or []:
        number, name = p.get("port"), p.get("name")
        ports.append(str(number) if number is not None else (name if name is not None else "*"))
    addresses = [a for e in eps.get("endpoints") or [] for a in e.get("addresses") or []]
    return [_name(eps), eps.get("addressType", ""), _listed(ports, "<unset>"),
            _listed(addresses, "<unset>"), _age(eps, now)]


def _deployment_cells(d: Obj, now: datetime) -> Cells:
    spec, status = d.get("spec") or {}, d.get("status") or {}
    names, images = _containers(((spec.get("template") or {}).get("spec")) or {})
    selector = selector_string(spec.get("selector"))
    return [_name(d), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            status.get("updatedReplicas", 0), status.get("availableReplicas", 0), _age(d, now),
            names, images, "<invalid>" if selector is None else selector]


def _replicaset_cells(rs: Obj, now: datetime) -> Cells:
    spec, status = rs.get("spec") or {}, rs.get("status") or {}
    names, images = _containers(((spec.get("template") or {}).get("spec")) or {})
    return [_name(rs), spec.get("replicas", 1), status.get("replicas", 0),
            status.get("readyReplicas", 0), _age(rs, now), names, images,
            format_label_selector(spec.get("selector"))]


def _node_address(node: Obj, kind: str) -> str:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == kind:
            return address.get("address", "")
    return "<none>"


def node_roles(node: Obj) -> str:
    roles = set()
    for key, value in (_meta(node).get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/") and key != "node-role.kubernetes.io/":
            roles.add(key[len("node-role.kubernetes.io/"):])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(roles)) or "<none>"


def _node_cells(node: Obj, now: datetime) -> Cells:
    status = node.get("status") or {}
    states = []
    ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    if ready:
        states.append("Ready" if ready[-1].get("status") == "True" else "NotReady")
    else:
        states.append("Unknown")
    if (node.get("spec") or {}).get("unschedulable"):
        states.append("SchedulingDisabled")
    info = status.get("nodeInfo") or {}
    return [_name(node), ",".join(states), node_roles(node), _age(node, now),
            info.get("kubeletVersion", ""), _node_address(node, "InternalIP"),
            _node_address(node, "ExternalIP"), _or(info.get("osImage"), "<unknown>"),
            _or(info.get("kernelVersion"), "<unknown>"),
            _or(info.get("containerRuntimeVersion"), "<unknown>")]


def _event_cells(ev: Obj, now: datetime) -> Cells:
    """Reads core/v1 and events.k8s.io/v1 field names alike: both views share one store."""
    first = ev.get("firstTimestamp") or ev.get("deprecatedFirstTimestamp")
    first_seen = age(first or ev.get("eventTime"), now)
    last = ev.get("lastTimestamp") or ev.get("deprecatedLastTimestamp")
    last_seen = age(last, now) if last else first_seen
    count = ev.get("count") or ev.get("deprecatedCount") or 0
    series = ev.get("series")
    if series:
        last_seen = age(series.get("lastObservedTime"), now)
        count = series.get("count", 0)
    elif not count:
        count = 1  # singleton events of the new API carry no count
    regarding = ev.get("involvedObject") or ev.get("regarding") or {}
    kind = (regarding.get("kind") or "").lower()
    target = f"{kind}/{regarding['name']}" if regarding.get("name") else kind
    source = ev.get("source") or ev.get("deprecatedSource") or {}
    component = source.get("component") or ev.get("reportingController") or ""
    host = source.get("host") or ev.get("reportingInstance") or ""
    message = (ev.get("message") or ev.get("note") or "").strip()
    return [last_seen, ev.get("type", ""), ev.get("reason", ""), target,
            regarding.get("fieldPath", ""), f"{component}, {host}" if host else component,
            message, first_seen, count, _name(ev)]


def _namespace_cells(ns: Obj, now: datetime) -> Cells:
    return [_name(ns), (ns.get("status") or {}).get("phase", ""), _age(ns, now)]


def _secret_cells(secret: Obj, now: datetime) -> Cells:
    # stringData is merged into data on write; count a key present in both once.
    keys = set(secret.get("data") or {}) | set(secret.get("stringData") or {})
    return [_name(secret), secret.get("type", ""), len(keys), _age(secret, now)]


def _configmap_cells(cm: Obj, now: datetime) -> Cells:
    return [_name(cm), len(cm.get("data") or {}) + len(cm.get("binaryData") or {}),
            _age(cm, now)]


def _serviceaccount_cells(sa: Obj, now: datetime) -> Cells:
    return [_name(sa), len(sa.get("secrets") or []), _age(sa, now)]


def _lease_cells(lease: Obj, now: datetime) -> Cells:
    return [_name(lease), (lease.get("spec") or {}).get("holderIdentity") or "", _age(lease, now)]


def _default_cells(obj: Obj, now: datetime) -> Cells:
    return [_name(obj), _age(obj, now)]


# --- the column sets --------------------------------------------------------

@dataclass(frozen=True)
class Column:
    name: str
    description: str
    type: str = "string"
    priority: int = 0
    format: str = ""

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


@dataclass(frozen=True)
class Printer:
    columns: tuple[Column, ...]
    cells: Callable[[Obj, datetime], Cells]


NAME = Column("Name", "Name of the object, unique within its namespace.", format="name")
AGE = Column("Age", "Time since the object was created (metadata.creationTimestamp).")
_CONTAINERS = Column("Containers", "Names of each container in the template.", priority=1)
_IMAGES = Column("Images", "Images referenced by each container in the template.", priority=1)
_SELECTOR = Column("Selector", "Label query over the pods this object manages.", priority=1)
_EVENTS = Printer((
    Column("Last Seen", "Time since the event was last observed."),
    Column("Type", "Type of the event: Normal or Warning."),
    Column("Reason", "Short, machine-readable reason for the event."),
    Column("Object", "The object the event is about, as kind/name."),
    Column("Subobject", "Field path within the object, for a container.", priority=1),
    Column("Source", "Component (and host) that reported the event.", priority=1),
    Column("Message", "Human-readable description of the event."),
    Column("First Seen", "Time since the event was first observed.", priority=1),
    Column("Count", "Number of times the event occurred.", priority=1),
    Column("Name", "Name of the event object.", priority=1, format="name"),
), _event_cells)

# Column types follow upstream, which declares most counts "string" even where
# the cell is an integer; kubectl prints the cell either way.
PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "pods"): Printer((
        NAME,
        Column("Ready", "Ready containers out of all containers of the pod."),
        Column("Status", "Aggregate status of the pod's containers."),
        Column("Restarts", "Container restarts, and how long ago the last one was."),
        AGE,
        Column("IP", "IP address allocated to the pod.", priority=1),
        Column("Node", "Node the pod is bound to.", priority=1),
        Column("Nominated Node", "Node the scheduler nominated by preemption.", priority=1),
        Column("Readiness Gates", "Readiness gates whose condition is True.", priority=1),
    ), _pod_cells),
    ("", "services"): Printer((
        NAME,
        Column("Type", "How the service is exposed."),
        Column("Cluster-IP", "Virtual IP the service is reached at inside the cluster."),
        Column("External-IP", "Addresses the service is reached at from outside."),
        Column("Port(s)", "Ports the service exposes, with node ports."),
        AGE,
        Column("Selector", "Labels of the pods traffic is routed to.", priority=1),
    ), _service_cells),
    ("", "endpoints"): Printer((
        NAME, Column("Endpoints", "Ready addresses and ports backing the service."), AGE,
    ), _endpoints_cells),
    ("discovery.k8s.io", "endpointslices"): Printer((
        NAME,
        Column("AddressType", "Kind of address the slice carries."),
        Column("Ports", "Ports exposed by the slice's endpoints."),
        Column("Endpoints", "Addresses of the slice's endpoints."),
        AGE,
    ), _endpointslice_cells),
    ("apps", "deployments"): Printer((
        NAME,
        Column("Ready", "Ready pods out of desired pods."),
        Column("Up-to-date", "Pods running the latest template."),
        Column("Available", "Pods available to serve."),
        AGE, _CONTAINERS, _IMAGES, _SELECTOR,
    ), _deployment_cells),
    ("apps", "replicasets"): Printer((
        NAME,
        Column("Desired", "Desired number of pods.", type="integer"),
        Column("Current", "Number of pods created.", type="integer"),
        Column("Ready", "Number of ready pods.", type="integer"),
        AGE, _CONTAINERS, _IMAGES, _SELECTOR,
    ), _replicaset_cells),
    ("", "nodes"): Printer((
        NAME,
        Column("Status", "The status of the node."),
        Column("Roles", "The roles of the node."),
        AGE,
        Column("Version", "Kubelet version reported by the node."),
        Column("Internal-IP", "The node's internal address.", priority=1),
        Column("External-IP", "The node's external address.", priority=1),
        Column("OS-Image", "Operating system image reported by the node.", priority=1),
        Column("Kernel-Version", "Kernel version reported by the node.", priority=1),
        Column("Container-Runtime", "Container runtime and version.", priority=1),
    ), _node_cells),
    ("", "namespaces"): Printer((
        NAME, Column("Status", "The status of the namespace."), AGE,
    ), _namespace_cells),
    ("", "secrets"): Printer((
        NAME, Column("Type", "Type of the secret."),
        Column("Data", "Number of keys in the secret."), AGE,
    ), _secret_cells),
    ("", "configmaps"): Printer((
        NAME, Column("Data", "Number of keys in the config map."), AGE,
    ), _configmap_cells),
    ("", "serviceaccounts"): Printer((
        NAME, Column("Secrets", "Number of secrets listed by the account."), AGE,
    ), _serviceaccount_cells),
    ("", "events"): _EVENTS,
    ("events.k8s.io", "events"): _EVENTS,
    ("coordination.k8s.io", "leases"): Printer((
        NAME, Column("Holder", "Identity of the lease's current holder."), AGE,
    ), _lease_cells),
}

DEFAULT = Printer((NAME, AGE), _default_cells)


def printer(plural: str, group: str) -> Printer:
    return PRINTERS.get((group, plural), DEFAULT)


# --- the Table --------------------------------------------------------------

def column_definitions(plural: str, group: str) -> list[dict[str, Any]]:
    return [c.definition() for c in printer(plural, group).columns]


def _row_conditions(plural: str, group: str, obj: Obj) -> list[dict[str, str]] | None:
    # Upstream marks finished pods as Completed rows.
    if (group, plural) != ("", "pods"):
        return None
    phase = (obj.get("status") or {}).get("phase")
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded",
                 "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed",
                 "message": "The pod failed."}]
    return None


def row(plural: str, group: str, obj: Obj, now: datetime,
        include_object: str = "Metadata") -> dict[str, Any]:
    """One TableRow; `include_object` is the request's `includeObject` parameter."""
    if include_object not in INCLUDE_OBJECT:
        raise errors.BadRequest(
            f"includeObject must be one of {', '.join(INCLUDE_OBJECT)}, not {include_object!r}")
    out: dict[str, Any] = {"cells": printer(plural, group).cells(obj, now)}
    conditions = _row_conditions(plural, group, obj)
    if conditions:
        out["conditions"] = conditions
    if include_object == "Metadata":
        out["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                         "metadata": dict(_meta(obj))}
    elif include_object == "Object":
        out["object"] = obj
    return out


def table(plural: str, group: str, objects: list[Obj], now: datetime, resource_version: str,
          include_object: str = "Metadata", with_columns: bool = True) -> dict[str, Any]:
    """A `meta.k8s.io/v1` Table; watch events after the first may leave columns out."""
    return {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": column_definitions(plural, group) if with_columns else [],
        "rows": [row(plural, group, obj, now, include_object) for obj in objects],
    }
