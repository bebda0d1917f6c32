"""The column sets of server-side Tables: one `Printer` per resource.

Column sets are data (one `Printer` per resource in `PRINTERS`, keyed by group
and plural), so the resource table and this one can be read side by side. Each
printer pairs its columns with the function in `cells` that fills a row; as in
the apiserver, columns of priority 1 are the `-o wide` ones, which kubectl
drops unless asked for them. Resources without a printer get `DEFAULT`
(`NAME AGE`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import cells

Obj = dict[str, Any]
Cells = list[Any]


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
), cells.event_cells)

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
    ), cells.pod_cells),
    ("", "services"): Printer((
        NAME,
        Column("Type", "How the service is exposed."),
        Column("Cluster-IP", "Virtual IP the service is reached at inside the cluster."),
        Column("External-IP", "Addresses the service is reached at from outside."),
        Column("Port(s)", "Ports the service exposes, with node ports."),
        AGE,
        Column("Selector", "Labels of the pods traffic is routed to.", priority=1),
    ), cells.service_cells),
    ("", "endpoints"): Printer((
        NAME, Column("Endpoints", "Ready addresses and ports backing the service."), AGE,
    ), cells.endpoints_cells),
    ("discovery.k8s.io", "endpointslices"): Printer((
        NAME,
        Column("AddressType", "Kind of address the slice carries."),
        Column("Ports", "Ports exposed by the slice's endpoints."),
        Column("Endpoints", "Addresses of the slice's endpoints."),
        AGE,
    ), cells.endpointslice_cells),
    ("apps", "deployments"): Printer((
        NAME,
        Column("Ready", "Ready pods out of desired pods."),
        Column("Up-to-date", "Pods running the latest template."),
        Column("Available", "Pods available to serve."),
        AGE, _CONTAINERS, _IMAGES, _SELECTOR,
    ), cells.deployment_cells),
    ("apps", "replicasets"): Printer((
        NAME,
        Column("Desired", "Desired number of pods.", type="integer"),
        Column("Current", "Number of pods created.", type="integer"),
        Column("Ready", "Number of ready pods.", type="integer"),
        AGE, _CONTAINERS, _IMAGES, _SELECTOR,
    ), cells.replicaset_cells),
    ("apps", "daemonsets"): Printer((
        NAME,
        Column("Desired", "The number of nodes that should be running the daemon pod.",
               type="integer"),
        Column("Current", "The number of nodes running at least one daemon pod.",
               type="integer"),
        Column("Ready", "The number of nodes that have a ready daemon pod.", type="integer"),
        Column("Up-to-date", "The number of nodes running the latest daemon pod template.",
               type="integer"),
        Column("Available", "The number of nodes with an available daemon pod.",
               type="integer"),
        Column("Node Selector", "The node selector of the daemon pods."),
        AGE, _CONTAINERS, _IMAGES, _SELECTOR,
    ), cells.daemonset_cells),
    ("apps", "statefulsets"): Printer((
        NAME,
        Column("Ready", "Number of the pod with ready state."),
        AGE, _CONTAINERS, _IMAGES,
    ), cells.statefulset_cells),
    ("batch", "jobs"): Printer((
        NAME,
        Column("Status", "Status of the job."),
        Column("Completions", "The number of successfully completed pods out of the "
                              "desired completions."),
        Column("Duration", "Time needed to complete the job."),
        AGE, _CONTAINERS, _IMAGES, _SELECTOR,
    ), cells.job_cells),
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
    ), cells.node_cells),
    ("", "namespaces"): Printer((
        NAME, Column("Status", "The status of the namespace."), AGE,
    ), cells.namespace_cells),
    ("", "secrets"): Printer((
        NAME, Column("Type", "Type of the secret."),
        Column("Data", "Number of keys in the secret."), AGE,
    ), cells.secret_cells),
    ("", "configmaps"): Printer((
        NAME, Column("Data", "Number of keys in the config map."), AGE,
    ), cells.configmap_cells),
    ("", "serviceaccounts"): Printer((
        NAME, Column("Secrets", "Number of secrets listed by the account."), AGE,
    ), cells.serviceaccount_cells),
    ("", "events"): _EVENTS,
    ("events.k8s.io", "events"): _EVENTS,
    ("coordination.k8s.io", "leases"): Printer((
        NAME, Column("Holder", "Identity of the lease's current holder."), AGE,
    ), cells.lease_cells),
}

DEFAULT = Printer((NAME, AGE), cells.default_cells)


def printer(plural: str, group: str) -> Printer:
    return PRINTERS.get((group, plural), DEFAULT)
