"""The kubelet's pods: one worker per pod bound to this node.

`PodManager` watches this node's pods (fieldSelector spec.nodeName) and the
Services, Secrets and ConfigMaps they may refer to, and keeps one
`PodWorker` per pod uid. A worker: takes an IP from the node's podCIDR,
writes the pod's files and volumes (waiting, with a FailedMount event, while
a Secret or ConfigMap is missing), runs the init containers one by one and
then every container (containers.Container), and reports status with a
merge patch of `pods/NAME/status`, coalesced so a burst of changes is one
write; a new pod's first report waits briefly for its first start attempt,
so a pod that starts at once is reported once (Running), not twice. When the
pod gets a deletionTimestamp it SIGTERMs its processes, SIGKILLs them after
the grace period, releases its IP, removes its files and volumes, and deletes
the pod with grace 0 so it disappears (kubectl delete waits for that), as the
kubelet does.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from .. import resources, tasks
from ..client import ApiException, Client, Informer
from ..config import ClusterConfig
from . import containers, environment, ipam, podfiles, podsource, status, volumes
from .runtime import Runtime

T = TypeVar("T")

log = logging.getLogger("emunet.kubelet.pods")
Obj = dict[str, Any]
PODS = resources.by_plural("pods")
# How long a new pod's first status report waits for its first start attempt. Writing
# ContainerCreating at once and Running a moment later doubled the status writes of a
# rollout, and a node given many pods at once queued every ContainerCreating report
# ahead of the Ready reports of the pods already started.
FIRST_REPORT_WAIT = 0.25
# A stopped pod's volumes are torn down before its API object is deleted. The kubelet's
# volume manager unmounts them on its next reconcile, and WaitForUnmount looks every
# 300 ms, so a pod outlives its processes by about that much. kubectl (1.32) relies on
# it: `kubectl delete pod web-0` lists the pod by name and, if the pod is already gone
# and a StatefulSet's new web-0 shows up in the next 100 ms, waits for a DELETED event
# that never comes.
UNMOUNT_POLL = 0.3


def _now() -> str:
    from ..store import now_rfc3339
    return now_rfc3339()


class PodManager:
    def __init__(self, client: Client, cfg: ClusterConfig, node: str, state_dir: Path,
                 runtime: Runtime, sandbox: bool, source: podsource.PodSource,
                 backoff_base: float = 10.0) -> None:
        self.client, self.cfg, self.node = client, cfg, node
        idx = cfg.node_index(node)
        self.host_ip = cfg.node_internal_ip(idx)
        self.ipam = ipam.IPAM(cfg.node_pod_cidr(idx))
        self.dir = state_dir / "nodes" / node / "pods"
        # Claims are the cluster's, not a node's: a pod that moves keeps its data, as
        # with network-attached volumes.
        self.claims_dir = state_dir / "claims"
        self.runtime, self.sandbox, self.backoff_base = runtime, sandbox, backoff_base
        self.workers: dict[str, PodWorker] = {}
        self.pods = Informer(client, "pods", field_selector=f"spec.nodeName={node}")
        self.services = Informer(client, "services")
        self.secrets = Informer(client, "secrets")
        self.configmaps = Informer(client, "configmaps")
        self.host_resolv = podfiles.ResolvConf()
        self.source = source
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        return tasks.spawn(coro, name, owner=self._tasks)

    async def run(self) -> None:
        try:
            self.host_resolv = podfiles.parse_resolv_conf(Path("/etc/resolv.conf").read_text())
        except OSError:
            pass
        for inf in (self.services, self.secrets, self.configmaps):
            inf.start()
        self.secrets.add_handler(self._on_config)
        self.configmaps.add_handler(self._on_config)
        await asyncio.gather(*(i.synced.wait() for i in (self.services, self.secrets,
                                                         self.configmaps)))
        self.pods.add_handler(self._on_pod)
        self.pods.start()
        await asyncio.Event().wait()

    async def stop(self) -> None:
        for inf in (self.pods, self.services, self.secrets, self.configmaps):
            await inf.stop()
        for w in list(self.workers.values()):
            w.kill_all(signal.SIGKILL)
        for t in list(self._tasks):
            t.cancel()

    def lookup(self, kind: str, ns: str, name: str) -> Obj | None:
        inf = self.secrets if kind == "secret" else self.configmaps
        return inf.get(ns, name)

    def _on_pod(self, etype: str, pod: Obj, old: Obj | None) -> None:
        uid = pod["metadata"]["uid"]
        w = self.workers.get(uid)
        if etype == "DELETED":
            if w is not None:
                w.gone()
            return
        if w is None:
            if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                if not pod["metadata"].get("deletionTimestamp"):
                    return
            w = PodWorker(self, pod)
            self.workers[uid] = w
            w.task = self.spawn(w.run(), f"pod-{pod['metadata']['name']}")
        else:
            w.update(pod)

    def _on_config(self, etype: str, obj: Obj, old: Obj | None) -> None:
        if old is not None and old.get("data") == obj.get("data") and \
                old.get("stringData") == obj.get("stringData") and \
                old.get("binaryData") == obj.get("binaryData"):
            return
        for w in self.workers.values():
            if w.namespace == obj["metadata"].get("namespace"):
                w.config_changed()


class PodWorker:
    def __init__(self, mgr: PodManager, pod: Obj) -> None:
        self.mgr, self.pod = mgr, pod
        meta = pod["metadata"]
        self.uid, self.name = meta["uid"], meta["name"]
        self.namespace = meta.get("namespace", "default")
        self.dir = mgr.dir / self.uid
        self.ip = ""
        self.cgroup: str | None = None  # its net_cls cgroup.procs: its source address
        self.start_time = pod.get("status", {}).get("startTime") or _now()
        self.sandbox_ready = False
        spec = pod["spec"]
        self.init = [containers.Container(self, c, init=True)
                     for c in spec.get("initContainers") or []]
        self.containers = [containers.Container(self, c) for c in spec.get("containers") or []]
        self._restore_counts(pod)
        self.vols: dict[str, str] = {}
        self.task: asyncio.Task[Any] | None = None
        self._dirty = asyncio.Event()
        self._changed = asyncio.Event()
        self._deleting = asyncio.Event()
        self._vanished = False
        self._status_task = mgr.spawn(self._status_loop(), f"status-{self.name}")
        self._last_sent: Obj | None = None

    def _restore_counts(self, pod: Obj) -> None:
        """After a kubelet restart, carry restart counts on (the processes died with it)."""
        for cs in pod.get("status", {}).get("containerStatuses") or []:
            for c in self.containers:
                if c.name == cs.get("name") and cs.get("containerID"):
                    c.state.restart_count = cs.get("restartCount", 0) + 1
                    c.state.last = (cs.get("state") or {}).get("terminated") or {
                        "exitCode": 137, "reason": "Error", "startedAt": None,
                        "finishedAt": _now(), "containerID": cs["containerID"]}

    # ---- events from the manager -----------------------------------------

    def update(self, pod: Obj) -> None:
        self.pod = pod
        if pod["metadata"].get("deletionTimestamp"):
            self._deleting.set()

    def gone(self) -> None:
        self._vanished = True
        self._deleting.set()

    def config_changed(self) -> None:
        self._changed.set()
        if self.vols and not self._deleting.is_set():
            try:
                self.vols = volumes.materialise(self.pod, self.dir, self.mgr.lookup,
                                                 self.mgr.claims_dir)
            except volumes.VolumeError:
                pass

    def kick(self) -> None:
        self._dirty.set()

    def event(self, type_: str, reason: str, message: str) -> None:
        obj = {"kind": "Pod", "apiVersion": "v1", "metadata": self.pod["metadata"]}
        self.mgr.spawn(self.mgr.client.event(obj, reason, message, type_, component="kubelet",
                                             host=self.mgr.node), f"event-{reason}")

    # ---- what containers need ---------------------------------------------

    def env_context(self, spec: Obj) -> environment.EnvContext:
        m = self.mgr
        mounts = {}
        for mnt in volumes.mounts(spec, self.vols):
            mounts[mnt["dst"]] = mnt["dst"] if m.sandbox else mnt["src"]
        extra = environment.emunet_env(self.pod, spec, self.ip, mounts, m.sandbox,
                                       m.cfg.dns_service_ip)
        return environment.EnvContext(
            pod_ip=self.ip, host_ip=m.host_ip, services=m.services.items(),
            secrets={(s["metadata"].get("namespace", ""), s["metadata"]["name"]): s
                     for s in m.secrets.items() if s["metadata"].get("namespace") == self.namespace},
            configmaps={(s["metadata"].get("namespace", ""), s["metadata"]["name"]): s
                        for s in m.configmaps.items()
                        if s["metadata"].get("namespace") == self.namespace},
            master_ip=m.cfg.kubernetes_service_ip, extra=extra)

    def sandbox_spec(self, spec: Obj, cname: str) -> Obj:
        scratch = self.dir / "scratch" / cname
        scratch.mkdir(parents=True, exist_ok=True)
        return {"hostname": podfiles.hostname(self.pod), "scratch": str(scratch),
                "files": self.files, "mounts": volumes.mounts(spec, self.vols)}

    async def exec_simple(self, cname: str, argv: list[str]) -> int:
        """Run a command in a container with no stdio (exec probes)."""
        import os
        c = next(c for c in self.containers + self.init if c.name == cname)
        if c.run is None:
            return 1
        fd = os.open(os.devnull, os.O_RDWR)
        try:
            pid = await self.mgr.runtime.spawn(self.exec_request(c, argv, False), [fd, fd, fd])
        finally:
            os.close(fd)
        return await self.mgr.runtime.wait(pid)

    def exec_request(self, c: containers.Container, argv: list[str], tty: bool) -> Obj:
        env = dict(c.env) if c.env is not None else environment.container_env(
            self.pod, c.spec, self.env_context(c.spec))
        if tty:
            env["TERM"] = "xterm"
        req: Obj = {"argv": argv, "builtin": None, "env": env, "tty": tty,
                    "cwd": c.spec.get("workingDir"), "cgroup": self.cgroup}
        images = containers.load_images()
        if images is not None:
            launch = images.resolve(c.spec.get("image", ""), argv[:1], argv[1:],
                                    self.mgr.cfg.images)
            req["path_prepend"] = list(launch.path_prepend or [])
        if self.mgr.sandbox and c.run is not None:
            req["join"] = c.run.pid
        return req

    # ---- the lifecycle ---------------------------------------------------------

    async def run(self) -> None:
        try:
            if not await self._setup():
                return
            if not await self._run_init():
                return
            loops = [self.mgr.spawn(c.loop(), f"ctr-{self.name}-{c.name}")
                     for c in self.containers]
            waiter = asyncio.create_task(self._deleting.wait(), name=f"deleting-{self.name}")
            done_all = asyncio.gather(*loops)
            ends: list[asyncio.Future[Any]] = [waiter, done_all]
            await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
            if not self._deleting.is_set():
                await tasks.cancel_and_wait(waiter)
                self.kick()
                await self._deleting.wait()
        except asyncio.CancelledError:
            self.kill_all(signal.SIGKILL)
            raise
        finally:
            if self._deleting.is_set():
                await self._terminate()

    async def _setup(self) -> bool:
        m = self.mgr
        known = self.pod.get("status", {}).get("podIP")
        if known and m.ipam.claim(self.uid, known):
            self.ip = known
        else:
            self.ip = m.ipam.allocate(self.uid)
        self.cgroup = m.source.cgroup(self.uid, self.ip)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.files = {
            "/etc/hosts": podfiles.hosts_file(self.pod, self.ip, m.cfg.cluster_domain),
            "/etc/hostname": podfiles.hostname(self.pod) + "\n",
            "/etc/resolv.conf": podfiles.resolv_conf(self.pod, m.host_resolv,
                                                     m.cfg.dns_service_ip, m.cfg.cluster_domain),
        }
        for path, text in self.files.items():
            (self.dir / path.rsplit("/", 1)[1]).write_text(text)
        self.sandbox_ready = True
        reported = None
        while not self._deleting.is_set():
            try:
                self.vols = volumes.materialise(self.pod, self.dir, m.lookup, m.claims_dir)
                return True
            except volumes.VolumeError as e:
                if str(e) != reported:
                    self.event("Warning", "FailedMount", str(e))
                    reported = str(e)
                    self.kick()
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), 2.0)
            except TimeoutError:
                pass
        return False

    async def _run_init(self) -> bool:
        for c in self.init:
            if self._deleting.is_set():
                return False
            t = self.mgr.spawn(c.loop(), f"init-{self.name}-{c.name}")
            waiter = asyncio.create_task(self._deleting.wait(), name=f"deleting-{self.name}")
            await asyncio.wait([t, waiter], return_when=asyncio.FIRST_COMPLETED)
            await tasks.cancel_and_wait(waiter)
            if self._deleting.is_set():
                return False
            if t.result() != 0:
                self.kick()
                await self._deleting.wait()
                return False
        return True

    def kill_all(self, sig: int) -> None:
        for c in self.init + self.containers:
            c.stop(sig)

    async def _terminate(self) -> None:
        m = self.mgr
        running = [c for c in self.init + self.containers
                   if c.run is not None and not c.run.exited.done()]
        grace = self.pod["metadata"].get("deletionGracePeriodSeconds")
        if grace is None:
            grace = self.pod["spec"].get("terminationGracePeriodSeconds", 30)
        if self._vanished:
            grace = 0
        for c in running:
            self.event("Normal", "Killing", f"Stopping container {c.name}")
        for c in self.init + self.containers:
            c.stopping = True
            c.wake.set()
        # Each container as the kubelet stops it: preStop, its image's stop signal,
        # SIGKILL at the end of the grace period; all of them at once.
        await asyncio.gather(*(c.kill(float(grace)) for c in running))
        self.kick()
        # Its network and volumes go before the object does, as with the kubelet: the
        # sandbox is stopped with the pod, the volumes are unmounted after.
        m.ipam.release(self.uid)
        m.source.release(self.uid)
        if not self._vanished:
            await asyncio.sleep(UNMOUNT_POLL)
        await asyncio.to_thread(shutil.rmtree, self.dir, True)
        if not self._vanished:
            try:
                await m.client.delete(PODS, self.name, self.namespace, grace=0, uid=self.uid)
            except ApiException as e:
                if e.status not in (404, 409):
                    log.warning("pod %s/%s: final delete failed: %s", self.namespace,
                                self.name, e)
        with contextlib.suppress(Exception):  # a failure was logged by spawn
            await tasks.cancel_and_wait(self._status_task)
        m.workers.pop(self.uid, None)

    # ---- status -----------------------------------------------------------------

    def compute_status(self) -> Obj:
        return status.pod_status(
            self.pod, [c.state for c in self.init], [c.state for c in self.containers],
            pod_ip=self.ip, host_ip=self.mgr.host_ip, start_time=self.start_time, now=_now(),
            sandbox_ready=self.sandbox_ready)

    async def _status_loop(self) -> None:
        # Any change (a container started or failed, a volume missing, a delete) ends
        # the wait; a slow start is still reported as ContainerCreating after it.
        try:
            await asyncio.wait_for(self._dirty.wait(), FIRST_REPORT_WAIT)
        except TimeoutError:
            pass
        self.kick()
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            st = self.compute_status()
            comparable = {k: v for k, v in st.items() if k != "conditions"}
            comparable["c"] = [(c["type"], c["status"]) for c in st["conditions"]]
            if comparable == self._last_sent:
                continue
            try:
                # The uid: a pod of the same name made since (a StatefulSet's) is not ours.
                await self.mgr.client.patch(PODS, self.name,
                                            {"metadata": {"uid": self.uid}, "status": st},
                                            self.namespace, subresource="status")
                self._last_sent = comparable
            except asyncio.CancelledError:
                raise
            except ApiException as e:
                if e.status == 404 or (e.status == 409 and "UID in precondition" in str(e)):
                    return   # our pod is gone, whatever now bears its name
                log.warning("pod %s/%s: status: %s", self.namespace, self.name, e)
                await asyncio.sleep(0.5)
                self.kick()
            except Exception as e:  # noqa: BLE001 - a broken connection: retry
                log.warning("pod %s/%s: status: %s", self.namespace, self.name, e)
                await asyncio.sleep(0.5)
                self.kick()

