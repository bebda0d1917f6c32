"""Pod status from container states, as the kubelet computes it (pure).

The kubelet keeps a small state record per container (waiting / running /
terminated, restart count, last termination, readiness) and derives the
whole `pod.status` from them: the phase by kubelet's getPhase rules
(a waiting container that never ran keeps the pod Pending; restartPolicy
decides whether stopped containers make it Running, Succeeded or Failed),
the conditions PodReadyToStartContainers, Initialized, ContainersReady, Ready
and PodScheduled, with lastTransitionTime kept while a condition's status is
unchanged, and containerStatuses in the API's shape.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]


@dataclass
class ContainerState:
    name: str
    image: str
    state: str = "waiting"             # waiting | running | terminated
    reason: str = "ContainerCreating"  # for waiting / terminated
    message: str = ""
    started_at: str = ""
    finished_at: str = ""
    exit_code: int = 0
    restart_count: int = 0
    last: Obj | None = None            # lastState.terminated
    container_id: str = ""
    ready: bool = False
    started: bool = False
    extra: Obj = field(default_factory=dict)

    def terminated(self) -> Obj:
        t: Obj = {"exitCode": self.exit_code, "reason": self.reason,
                  "startedAt": self.started_at or None, "finishedAt": self.finished_at,
                  "containerID": self.container_id}
        if self.message:
            t["message"] = self.message
        return t


def image_ref(image: str) -> str:
    """Normalise as containerd reports images: docker.io/library/nginx:latest."""
    name, tag = image, "latest"
    last = image.rsplit("/", 1)[-1]
    if "@" in image:
        return image
    if ":" in last:
        name, tag = image.rsplit(":", 1)
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    return f"{name}:{tag}"


def image_id(image: str) -> str:
    ref = image_ref(image)
    digest = hashlib.sha256(ref.encode()).hexdigest()
    return ref.rsplit(":", 1)[0] + "@sha256:" + digest


def container_status(cs: ContainerState) -> Obj:
    if cs.state == "running":
        state: Obj = {"running": {"startedAt": cs.started_at}}
    elif cs.state == "terminated":
        state = {"terminated": cs.terminated()}
    else:
        state = {"waiting": {"reason": cs.reason, **({"message": cs.message} if cs.message else {})}}
    out: Obj = {"name": cs.name, "state": state,
                "lastState": {"terminated": cs.last} if cs.last else {},
                "ready": cs.ready, "restartCount": cs.restart_count,
                "image": image_ref(cs.image),
                "imageID": image_id(cs.image) if cs.container_id else "",
                "started": cs.started}
    if cs.container_id:
        out["containerID"] = cs.container_id
    return out


def phase(restart_policy: str, init: list[ContainerState], main: list[ContainerState]) -> str:
    for cs in init:
        if cs.state == "terminated" and cs.exit_code == 0:
            continue
        if cs.state == "terminated" and restart_policy == "Never":
            return "Failed"
        return "Pending"
    running = waiting = stopped = succeeded = 0
    for cs in main:
        if cs.state == "running":
            running += 1
        elif cs.state == "terminated":
            stopped += 1
            succeeded += cs.exit_code == 0
        elif cs.last is not None:
            stopped += 1
            succeeded += cs.last.get("exitCode") == 0
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if restart_policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _condition(old: list[Obj], type_: str, ok: bool, now: str, reason: str = "",
               message: str = "") -> Obj:
    status = "True" if ok else "False"
    prev = next((c for c in old if c.get("type") == type_), None)
    since = prev["lastTransitionTime"] if prev and prev.get("status") == status \
        and prev.get("lastTransitionTime") else now
    c: Obj = {"type": type_, "status": status, "lastProbeTime": None, "lastTransitionTime": since}
    if reason and not ok:
        c["reason"] = reason
    if message and not ok:
        c["message"] = message
    return c


def pod_status(pod: Obj, init: list[ContainerState], main: list[ContainerState], *,
               pod_ip: str, host_ip: str, start_time: str, now: str,
               sandbox_ready: bool) -> Obj:
    spec = pod.get("spec", {})
    old = pod.get("status", {}) or {}
    old_conds = old.get("conditions") or []
    policy = spec.get("restartPolicy") or "Always"
    ph = phase(policy, init, main)
    done = ph in ("Succeeded", "Failed")
    pending_init = [cs.name for cs in init if not (cs.state == "terminated" and cs.exit_code == 0)]
    unready = [cs.name for cs in main if not cs.ready]
    ready = not unready and not done
    ready_reason = "PodCompleted" if done else "ContainersNotReady"
    ready_msg = "" if done else f"containers with unready status: [{' '.join(unready)}]"
    conds = [
        _condition(old_conds, "PodReadyToStartContainers", sandbox_ready and not done, now),
        # A pod that failed in an init container stays not Initialized (kubectl then
        # shows Init:Error); only a Succeeded pod counts as initialized regardless.
        _condition(old_conds, "Initialized", not pending_init or ph == "Succeeded", now,
                   "ContainersNotInitialized",
                   f"containers with incomplete status: [{' '.join(pending_init)}]"),
        _condition(old_conds, "Ready", ready, now, ready_reason, ready_msg),
        _condition(old_conds, "ContainersReady", ready, now, ready_reason, ready_msg),
    ]
    sched = next((c for c in old_conds if c.get("type") == "PodScheduled"), None)
    conds.append(sched or _condition([], "PodScheduled", True, now))
    status: Obj = {"phase": ph, "conditions": conds, "hostIP": host_ip,
                   "hostIPs": [{"ip": host_ip}], "startTime": start_time,
                   "qosClass": old.get("qosClass") or "BestEffort"}
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    if init:
        status["initContainerStatuses"] = [container_status(cs) for cs in init]
    status["containerStatuses"] = [container_status(cs) for cs in main]
    return status
