"""The Job controller: run pods until `spec.completions` of them have succeeded.

As upstream's `pkg/controller/job`, NonIndexed completion mode only. Pods are
made from the template with generateName `<job>-` and a controller
ownerReference, at most `min(parallelism, completions - succeeded)` at a time;
extra ones are deleted by the ReplicaSet controller's rank (newest first among
equals). Orphans the selector matches are adopted and owned pods it no longer
matches are released, as the ReplicaSet controller does; with the default
selector (the Job's own uid) only `manualSelector` Jobs ever adopt.

Finished pods are kept and counted: `succeeded` and `failed` are the owned
pods in those phases. Upstream counts each pod once through a tracking
finalizer; here the counts never fall below what the status already says, so
deleting a finished pod by hand does not run its work again. Unlike upstream,
a pod deleted while it runs (by hand, or when parallelism shrinks) is not
counted as failed: it disappears without reaching a phase, and counting it
would need a memory this controller does not keep. It is replaced at once, as
upstream's default podReplacementPolicy does. The pods a failing Job stops are
counted as failed, as upstream counts them.

Failure: replacements for failed pods wait `base * 2^(n-1)` seconds after the
last failure (n failures since the last success, capped at 6 minutes), base
being the kubelet's crash back-off (`crash_backoff_seconds`, 10 s as upstream).
More failed pods than `backoffLimit` fail the Job, and so, for restartPolicy
OnFailure, do `backoffLimit` container restarts among running and pending pods
(upstream's `pastBackoffLimitOnFailure`), or an expired `activeDeadlineSeconds`.

Finishing is in two steps, as Kubernetes 1.32 writes it: the interim condition
(FailureTarget or SuccessCriteriaMet) first, with the active pods deleted, then
the terminal one (Failed, or Complete with completionTime) once no pod is
terminating. A finished Job is not synced again, except that
`ttlSecondsAfterFinished` deletes it (in the background, so that the garbage
collector takes its pods). `suspend` deletes the active pods and sets the
Suspended condition; resuming resets startTime, as upstream does.

The decisions are one pure function, `decide`, from the Job, its pods and the
clock to the pods to delete, how many to create, the status and the events;
`sync` carries them out. Not done: Indexed completion mode (such a Job gets one
Warning event and no pods), podFailurePolicy, successPolicy,
backoffLimitPerIndex and managedBy.
"""
from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .. import resources
from ..client import Client, Informer
from ..config import ClusterConfig
from . import claims, common, replicaset, workqueue

log = logging.getLogger("emunet.controllers.job")
Obj = dict[str, Any]
POD = resources.by_plural("pods")
COMPONENT = "job-controller"
BURST = 500  # upstream's MaxPodCreateDeletePerSync
MAX_BACKOFF = 360.0  # seconds; the cap of the pod failure back-off
DEFAULT_BACKOFF_LIMIT = 6
# The interim condition of a finishing Job, and the terminal one that follows it.
TERMINAL = {"FailureTarget": "Failed", "SuccessCriteriaMet": "Complete"}
COMPLETIONS_REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")
BACKOFF_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")
# The status fields this controller owns; any other field is kept as it is.
_STATUS_FIELDS = ("conditions", "startTime", "completionTime", "active", "succeeded", "failed",
                  "terminating", "uncountedTerminatedPods", "ready")


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Counts:
    """What a Job's pods say (upstream's syncJobCtx counters)."""

    active: list[Obj] = field(default_factory=list)  # neither finished nor being deleted
    succeeded: int = 0
    failed: int = 0
    terminating: int = 0  # being deleted and not finished
    ready: int = 0  # active pods with Ready True
    restarts: int = 0  # container restarts in running and pending pods


def count_pods(job: Obj, pods: list[Obj]) -> Counts:
    c = Counts()
    for p in pods:
        status = p.get("status") or {}
        phase = status.get("phase")
        if phase == "Succeeded":
            c.succeeded += 1
        elif phase == "Failed":
            c.failed += 1
        elif common.is_terminating(p):
            c.terminating += 1
        else:
            c.active.append(p)
            c.ready += int(common.is_pod_ready(p))
        if phase in ("Running", "Pending"):
            c.restarts += sum(cs.get("restartCount") or 0
                              for key in ("initContainerStatuses", "containerStatuses")
                              for cs in status.get(key) or [])
    prev = job.get("status") or {}
    c.succeeded = max(c.succeeded, prev.get("succeeded") or 0)
    c.failed = max(c.failed, prev.get("failed") or 0)
    return c


def completions_of(job: Obj) -> int | None:
    """spec.completions; None for a work-queue Job (parallelism set, completions not)."""
    spec = job.get("spec") or {}
    if spec.get("completions") is None and spec.get("parallelism") is None:
        return 1
    return spec.get("completions")


def want_active(job: Obj, counts: Counts) -> int:
    spec = job.get("spec") or {}
    if spec.get("suspend"):
        return 0
    parallelism = spec.get("parallelism")
    parallelism = 1 if parallelism is None else parallelism
    completions = completions_of(job)
    if completions is None:
        # A work-queue Job: after one success the pods left are only let finish.
        return len(counts.active) if counts.succeeded else parallelism
    return max(0, min(parallelism, completions - counts.succeeded))


def is_complete(job: Obj, succeeded: int, active: int) -> bool:
    completions = completions_of(job)
    if completions is None:
        return succeeded > 0 and active == 0
    return succeeded >= completions and active == 0


def backoff_delay(failures: int, base: float, cap: float = MAX_BACKOFF) -> float:
    """The wait after the last of `failures` consecutive failures: base, doubled each time."""
    if failures <= 0:
        return 0.0
    # The exponent is bounded so that a long-failing Job cannot overflow a float.
    return min(base * 2 ** min(failures - 1, 64), cap)


def finish_time(pod: Obj) -> float:
    """When a pod finished (upstream's getFinishedTime): its last container's exit, else its
    Ready=False transition, else its deletion, else its creation."""
    status = pod.get("status") or {}
    ends = [((cs.get("state") or {}).get("terminated") or {}).get("finishedAt")
            for cs in status.get("containerStatuses") or []]
    if ends and all(ends):
        return max(replicaset.parse_time(e) for e in ends)
    ready = common.condition(pod, "Ready")
    if ready is not None and ready.get("status") == "False" and ready.get("lastTransitionTime"):
        return replicaset.parse_time(ready["lastTransitionTime"])
    meta = pod.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return (replicaset.parse_time(meta["deletionTimestamp"])
                - (meta.get("deletionGracePeriodSeconds") or 0))
    return replicaset.parse_time(meta.get("creationTimestamp"))


def _phase(pod: Obj) -> str | None:
    return (pod.get("status") or {}).get("phase")


def creation_backoff(pods: list[Obj], base: float, now: float) -> float:
    """Seconds until pods may be created again after failures (upstream's backoff record).

    Upstream remembers the record between syncs; it is derived from the kept
    finished pods here, so that a restarted daemon does not forget it.
    """
    last_success = max((finish_time(p) for p in pods if _phase(p) == "Succeeded"), default=None)
    failures = sorted(t for t in (finish_time(p) for p in pods if _phase(p) == "Failed")
                      if last_success is None or t > last_success)
    if not failures:
        return 0.0
    return max(0.0, backoff_delay(len(failures), base) - (now - failures[-1]))


def deadline_left(job: Obj, start: str | None, now: float) -> float | None:
    """Seconds left of activeDeadlineSeconds, counted from startTime; None without one."""
    spec = job.get("spec") or {}
    limit = spec.get("activeDeadlineSeconds")
    if limit is None or not start or spec.get("suspend"):
        return None
    return replicaset.parse_time(start) + limit - now


def new_condition(ctype: str, reason: str, message: str, now: float,
                  status: str = "True") -> Obj:
    ts = rfc3339(now)
    return {"type": ctype, "status": status, "lastProbeTime": ts, "lastTransitionTime": ts,
            "reason": reason, "message": message}


def finish_target(job: Obj, counts: Counts, start: str | None, now: float) -> Obj | None:
    """The interim condition of a Job that is to finish, if it is: one it already has,
    else FailureTarget when it failed too often or ran too long."""
    for ctype in ("SuccessCriteriaMet", "FailureTarget"):
        cond = common.condition(job, ctype)
        if cond is not None and cond.get("status") == "True":
            return cond
    spec = job.get("spec") or {}
    limit = spec.get("backoffLimit")
    limit = DEFAULT_BACKOFF_LIMIT if limit is None else limit
    on_failure = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy")
    # Upstream's own asymmetry: more failed pods than the limit, but as many restarts.
    restarted_out = on_failure == "OnFailure" and (
        counts.restarts > 0 if limit == 0 else counts.restarts >= limit)
    if counts.failed > limit or restarted_out:
        return new_condition("FailureTarget", *BACKOFF_EXCEEDED, now)
    left = deadline_left(job, start, now)
    if left is not None and left <= 0:
        return new_condition("FailureTarget", *DEADLINE_EXCEEDED, now)
    return None


def ensure_condition(conds: list[Obj], ctype: str, status: str, reason: str, message: str,
                     now: float) -> tuple[list[Obj], bool]:
    """Upstream's ensureJobConditionStatus: set the condition, but never add a False one
    (a Job that was never suspended gets no Suspended=False)."""
    for i, c in enumerate(conds):
        if c.get("type") == ctype:
            if (c.get("status"), c.get("reason"), c.get("message")) == (status, reason, message):
                return conds, False
            out = list(conds)
            out[i] = new_condition(ctype, reason, message, now, status)
            return out, True
    if status == "False":
        return conds, False
    return conds + [new_condition(ctype, reason, message, now, status)], True


def next_conditions(conds: list[Obj], target: Obj | None, terminating: int,
                    now: float) -> tuple[list[Obj], str | None]:
    """The conditions after this sync, and the terminal condition type it adds, if any.

    The interim condition goes in at once; the terminal one only when no pod is
    left terminating, so that a Job is never reported done while its pods run.
    """
    if target is None:
        return conds, None
    if not any(c.get("type") == target["type"] for c in conds):
        conds = conds + [target]
    if terminating:
        return conds, None
    final = TERMINAL[target["type"]]
    conds, changed = ensure_condition(conds, final, "True", target.get("reason", ""),
                                      target.get("message", ""), now)
    return conds, final if changed else None


def job_status(prev: Obj, *, conditions: list[Obj], start: str | None,
               completion: str | None, active: int, ready: int, succeeded: int, failed: int,
               terminating: int) -> Obj:
    """The status as upstream serialises it: active, succeeded and failed are omitempty
    counters, ready and terminating pointers written even when zero."""
    out = {k: v for k, v in prev.items() if k not in _STATUS_FIELDS}
    fields: Obj = {"conditions": conditions or None, "startTime": start,
                   "completionTime": completion, "active": active or None,
                   "succeeded": succeeded or None, "failed": failed or None,
                   "terminating": terminating, "uncountedTerminatedPods": {}, "ready": ready}
    out.update({k: v for k, v in fields.items() if v is not None})
    return out


@dataclass
class Decision:
    """What one sync does: deletes, then creates, then the status write, then events."""

    delete: list[Obj] = field(default_factory=list)
    create: int = 0
    status: Obj = field(default_factory=dict)
    events: list[tuple[str, str, str]] = field(default_factory=list)  # type, reason, message
    requeue: float | None = None  # seconds until the Job wants another look


def decide(job: Obj, pods: list[Obj], now: float, base: float) -> Decision:
    """One sync of an unfinished Job (upstream's syncJob and manageJob), assuming every
    delete and create it asks for succeeds; `pods` are the pods the Job owns."""
    spec = job.get("spec") or {}
    prev = job.get("status") or {}
    suspended = bool(spec.get("suspend"))
    counts = count_pods(job, pods)
    d = Decision()
    start = prev.get("startTime") or (None if suspended else rfc3339(now))
    was_suspended = (common.condition(job, "Suspended") or {}).get("status") == "True"
    if was_suspended and not suspended:
        # activeDeadlineSeconds counts the time a Job runs unsuspended.
        start = rfc3339(now)
    conds: list[Obj] = copy.deepcopy(prev.get("conditions") or [])
    target = finish_target(job, counts, start, now)
    if target is None:
        d.requeue = deadline_left(job, start, now)
    active = len(counts.active)
    if target is not None or suspended:
        d.delete = list(counts.active)
    else:
        want = want_active(job, counts)
        if active > want:
            d.delete = replicaset.pods_to_delete(counts.active, min(active - want, BURST))
        else:
            # podReplacementPolicy Failed: a deleted pod is replaced only once it is gone.
            pending = counts.terminating if spec.get("podReplacementPolicy") == "Failed" else 0
            missing = want - active - pending
            wait = creation_backoff(pods, base, now) if missing > 0 else 0.0
            if wait > 0:
                d.requeue = wait if d.requeue is None else min(d.requeue, wait)
            elif missing > 0:
                d.create = min(missing, BURST)
    active += d.create - len(d.delete)
    if target is None:
        if is_complete(job, counts.succeeded, active):
            target = new_condition("SuccessCriteriaMet", *COMPLETIONS_REACHED, now)
        elif suspended:
            conds, changed = ensure_condition(conds, "Suspended", "True", "JobSuspended",
                                              "Job suspended", now)
            if changed:
                d.events.append(("Normal", "Suspended", "Job suspended"))
        else:
            conds, changed = ensure_condition(conds, "Suspended", "False", "JobResumed",
                                              "Job resumed", now)
            if changed:
                d.events.append(("Normal", "Resumed", "Job resumed"))
    failed = counts.failed
    if target is not None and target["type"] == "FailureTarget":
        # Upstream counts the pods a failing Job stops as failed; the status keeps
        # the count once they are gone.
        failed += len(d.delete)
    terminating = counts.terminating + len(d.delete)
    ready = counts.ready - sum(1 for p in d.delete if common.is_pod_ready(p))
    conds, finished = next_conditions(conds, target, terminating, now)
    completion = prev.get("completionTime")
    if finished == "Complete":
        completion = rfc3339(now)
        completions = completions_of(job)
        if completions is not None and counts.succeeded > completions:
            d.events.append(("Warning", "TooManySucceededPods",
                             "Too many succeeded pods running after completion count reached"))
        d.events.append(("Normal", "Completed", "Job completed"))
    elif finished == "Failed" and target is not None:
        d.events.append(("Warning", target.get("reason", ""), target.get("message", "")))
    d.status = job_status(prev, conditions=conds, start=start, completion=completion,
                          active=active, ready=ready, succeeded=counts.succeeded,
                          failed=failed, terminating=terminating)
    return d


def is_finished(job: Obj) -> bool:
    return any((common.condition(job, t) or {}).get("status") == "True"
               for t in ("Complete", "Failed"))


def ttl_left(job: Obj, now: float) -> float | None:
    """Seconds until a finished Job is to be deleted; None if it is not to be."""
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    if ttl is None:
        return None
    for ctype in ("Complete", "Failed"):
        cond = common.condition(job, ctype)
        if cond is not None and cond.get("status") == "True":
            return replicaset.parse_time(cond.get("lastTransitionTime")) + ttl - now
    return None


class Controller:
    def __init__(self, client: Client, cfg: ClusterConfig) -> None:
        self.client = client
        self.cfg = cfg
        self.res = resources.by_plural("jobs", "batch")
        self.jobs = Informer.shared(client, self.res)
        self.pods = Informer.shared(client, POD)
        self.queue = workqueue.WorkQueue()
        # Parsed selectors by Job uid: a Job's selector is immutable.
        self.selectors = common.SelectorCache()
        self.warned: set[str] = set()  # uids of Jobs told their completion mode is not run
        self.jobs.add_handler(self._on_job)
        self.pods.add_handler(self._on_pod)

    async def run(self) -> None:
        await workqueue.run_controller([self.jobs, self.pods], self.queue, self.sync, log)

    def _on_job(self, etype: str, job: Obj, old: Obj | None) -> None:
        if etype == "DELETED":
            self.selectors.forget(job)
            self.warned.discard(job["metadata"].get("uid", ""))
        self.queue.add(common.key_of(job))

    def _on_pod(self, etype: str, pod: Obj, old: Obj | None) -> None:
        for key in common.owners_of_pod_event("Job", etype, pod, old, self.jobs.items(),
                                              self.selectors.selects):
            self.queue.add(key)

    async def sync(self, key: tuple[str, str]) -> float | None:
        ns, name = key
        job = self.jobs.get(ns, name)
        if job is None or common.is_terminating(job):
            return None
        job = common.with_kind(job, self.res)
        now = time.time()
        if is_finished(job):
            return await self._expire(job, now)
        mode = (job.get("spec") or {}).get("completionMode") or "NonIndexed"
        if mode != "NonIndexed":
            uid = job["metadata"].get("uid", "")
            if uid not in self.warned:
                self.warned.add(uid)
                await self.client.event(job, "UnsupportedCompletionMode",
                                        f"Skipped Job sync: emunet does not run {mode} Jobs",
                                        "Warning", component=COMPONENT)
            return None
        pods = await self._claim(job)
        d = decide(job, pods, now, self.cfg.crash_backoff_seconds)
        for p in d.delete:
            await self._delete(job, p)
        await self._create(job, d.create)
        await common.write_status(self.client, self.jobs, self.res, job, d.status)
        for type_, reason, message in d.events:
            await self.client.event(job, reason, message, type_, component=COMPONENT)
        return d.requeue

    async def _expire(self, job: Obj, now: float) -> float | None:
        left = ttl_left(job, now)
        if left is None or left > 0:
            return left
        meta = job["metadata"]
        log.info("deleting job %s/%s: ttlSecondsAfterFinished has passed",
                 meta["namespace"], meta["name"])
        await self.client.delete(self.res, meta["name"], meta["namespace"],
                                 propagation="Background", uid=meta.get("uid"))
        return None

    async def _claim(self, job: Obj) -> list[Obj]:
        sel = self.selectors.get(job)
        # A Job without a usable selector (never defaulted) neither adopts everything
        # nor releases what it made.
        usable = not (sel.empty or sel.nothing)
        return await claims.claim_pods(
            self.client, self.pods, job, self.res,
            (lambda p: sel.matches(p["metadata"].get("labels"))) if usable else None)

    async def _create(self, job: Obj, count: int) -> None:
        """One request at a time, as the ReplicaSet controller does; a failure raises, so a
        failing template costs one request per sync, not `count`."""
        for _ in range(count):
            pod = await self.client.create(POD, common.pod_from_template(job, self.res))
            common.remember(self.pods, pod)
            await self.client.event(job, "SuccessfulCreate",
                                    f"Created pod: {pod['metadata']['name']}",
                                    component=COMPONENT)

    async def _delete(self, job: Obj, pod: Obj) -> None:
        await common.delete_pod(self.client, self.pods, pod)
        await self.client.event(job, "SuccessfulDelete",
                                f"Deleted pod: {pod['metadata']['name']}", component=COMPONENT)
