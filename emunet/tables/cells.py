"""The cells of each resource's Table row, as the apiserver's printers fill them.

kubectl 1.32 prints the server's cells verbatim, so every format here follows
the apiserver's printer for the same type: the pod Status summary `kubectl get
pods` shows, the `<none>`/`<pending>`/`<unset>` placeholders,
`+ N more...` after three listed items, `port:nodePort/proto`. As upstream,
each function yields every cell, the `-o wide` ones too; which columns they
fill is declared beside them in `printers`. Pure: `now` is passed in.
"""
from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from . import ages

Obj = dict[str, Any]
Cells = list[Any]

# How many items a list-valued cell shows before "+ N more...", as upstream.
_MAX_LISTED = 3


# --- shared cell formats ----------------------------------------------------

def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _name(obj: Obj) -> str:
    return _meta(obj).get("name", "")


def _age(obj: Obj, now: datetime) -> str:
    return ages.age(_meta(obj).get("creationTimestamp"), now)


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
    return container is not None and container.get("restartPolicy") == "Always"


def _condition_true(conditions: list[Obj], kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def _later(current: str | None, candidate: str | None) -> str | None:
    a, b = ages.parse_time(current), ages.parse_time(candidate)
    if b is not None and (a is None or b > a):
        return candidate
    return current


def pod_cells(pod: Obj, now: datetime) -> Cells:
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
        restarts_cell = f"{restarts} ({ages.age(last_restart, now)} ago)"

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


def service_cells(svc: Obj, now: datetime) -> Cells:
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


def endpoints_cells(ep: Obj, now: datetime) -> Cells:
    return [_name(ep), format_endpoints(ep), _age(ep, now)]


def endpointslice_cells(eps: Obj, now: datetime) -> Cells:
    ports = []
    for p in eps.get("ports") or []:
        number, name = p.get("port"), p.get("name")
        ports.append(str(number) if number is not None else (name if name is not None else "*"))
    addresses = [a for e in eps.get("endpoints") or [] for a in e.get("addresses") or []]
    return [_name(eps), eps.get("addressType", ""), _listed(ports, "<unset>"),
            _listed(addresses, "<unset>"), _age(eps, now)]


def deployment_cells(d: Obj, now: datetime) -> Cells:
    spec, status = d.get("spec") or {}, d.get("status") or {}
    names, images = _containers(((spec.get("template") or {}).get("spec")) or {})
    selector = selector_string(spec.get("selector"))
    return [_name(d), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            status.get("updatedReplicas", 0), status.get("availableReplicas", 0), _age(d, now),
            names, images, "<invalid>" if selector is None else selector]


def replicaset_cells(rs: Obj, now: datetime) -> Cells:
    spec, status = rs.get("spec") or {}, rs.get("status") or {}
    names, images = _containers(((spec.get("template") or {}).get("spec")) or {})
    return [_name(rs), spec.get("replicas", 1), status.get("replicas", 0),
            status.get("readyReplicas", 0), _age(rs, now), names, images,
            format_label_selector(spec.get("selector"))]


def daemonset_cells(ds: Obj, now: datetime) -> Cells:
    spec, status = ds.get("spec") or {}, ds.get("status") or {}
    tspec = ((spec.get("template") or {}).get("spec")) or {}
    names, images = _containers(tspec)
    return [_name(ds), status.get("desiredNumberScheduled", 0),
            status.get("currentNumberScheduled", 0), status.get("numberReady", 0),
            status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0),
            format_labels(tspec.get("nodeSelector")), _age(ds, now), names, images,
            format_label_selector(spec.get("selector"))]


def statefulset_cells(sts: Obj, now: datetime) -> Cells:
    spec, status = sts.get("spec") or {}, sts.get("status") or {}
    names, images = _containers(((spec.get("template") or {}).get("spec")) or {})
    return [_name(sts), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            _age(sts, now), names, images]


def job_status(job: Obj) -> str:
    """The STATUS cell, in upstream's order of precedence."""
    conditions = (job.get("status") or {}).get("conditions") or []
    if _condition_true(conditions, "Complete"):
        return "Complete"
    if _condition_true(conditions, "Failed"):
        return "Failed"
    if _meta(job).get("deletionTimestamp"):
        return "Terminating"
    if _condition_true(conditions, "Suspended"):
        return "Suspended"
    if _condition_true(conditions, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def job_cells(job: Obj, now: datetime) -> Cells:
    spec, status = job.get("spec") or {}, job.get("status") or {}
    succeeded = status.get("succeeded", 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif (spec.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    started = ages.parse_time(status.get("startTime"))
    finished = ages.parse_time(status.get("completionTime"))
    duration = "" if started is None else \
        ages.human_duration(((finished or now) - started).total_seconds())
    names, images = _containers(((spec.get("template") or {}).get("spec")) or {})
    return [_name(job), job_status(job), completions, duration, _age(job, now), names, images,
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


def node_cells(node: Obj, now: datetime) -> Cells:
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


def event_cells(ev: Obj, now: datetime) -> Cells:
    """Reads core/v1 and events.k8s.io/v1 field names alike: both views share one store."""
    first = ev.get("firstTimestamp") or ev.get("deprecatedFirstTimestamp")
    first_seen = ages.age(first or ev.get("eventTime"), now)
    last = ev.get("lastTimestamp") or ev.get("deprecatedLastTimestamp")
    last_seen = ages.age(last, now) if last else first_seen
    count = ev.get("count") or ev.get("deprecatedCount") or 0
    series = ev.get("series")
    if series:
        last_seen = ages.age(series.get("lastObservedTime"), now)
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


def namespace_cells(ns: Obj, now: datetime) -> Cells:
    return [_name(ns), (ns.get("status") or {}).get("phase", ""), _age(ns, now)]


def secret_cells(secret: Obj, now: datetime) -> Cells:
    # stringData is merged into data on write; count a key present in both once.
    keys = set(secret.get("data") or {}) | set(secret.get("stringData") or {})
    return [_name(secret), secret.get("type", ""), len(keys), _age(secret, now)]


def configmap_cells(cm: Obj, now: datetime) -> Cells:
    return [_name(cm), len(cm.get("data") or {}) + len(cm.get("binaryData") or {}),
            _age(cm, now)]


def serviceaccount_cells(sa: Obj, now: datetime) -> Cells:
    return [_name(sa), len(sa.get("secrets") or []), _age(sa, now)]


def lease_cells(lease: Obj, now: datetime) -> Cells:
    return [_name(lease), (lease.get("spec") or {}).get("holderIdentity") or "", _age(lease, now)]


def default_cells(obj: Obj, now: datetime) -> Cells:
    return [_name(obj), _age(obj, now)]
