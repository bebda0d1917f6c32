"""One container of a pod: its runs, restarts with back-off, and its stdio.

A `Container` owns the state record the pod status is computed from
(status.ContainerState) and loops: resolve the image, compute the
environment, open stdio (pipes, or a pty for `tty: true`; a stdin pipe the
kubelet keeps for `stdin: true`), ask the runtime to start the process,
wait for its exit, and decide by restartPolicy whether to run it again.
Restarts follow the kubelet's CrashLoopBackOff: the first restart at once,
then 10 s doubling to 300 s (the base is configurable for tests), reset
after a run of 10 minutes. Errors before start (unknown image, bad env)
leave the container waiting with the kubelet's reasons.
"""
from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import os
import signal
import struct
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from . import environment, hooks, logs, probes, status

if TYPE_CHECKING:
    from .pods import PodWorker

log = logging.getLogger("emunet.kubelet.containers")
Obj = dict[str, Any]
MAX_BACKOFF = 300.0
MIN_GRACE = 2.0
RESET_AFTER = 600.0


def load_images() -> ModuleType | None:
    try:
        from .. import images
    except ImportError:
        return None
    return images if hasattr(images, "resolve") else None


@dataclass
class Run:
    """One started process of a container: what attach and exec need."""

    pid: int
    capture: logs.Capture
    stdin_fd: int | None = None      # pipe write end, or the pty master
    pty_master: int | None = None
    exited: asyncio.Future[int] = field(default_factory=lambda: asyncio.get_running_loop()
                                        .create_future())
    attached_once: bool = False
    stop_signal: int = signal.SIGTERM   # the image's STOPSIGNAL

    def resize(self, width: int, height: int) -> None:
        if self.pty_master is not None:
            fcntl.ioctl(self.pty_master, termios.TIOCSWINSZ,
                        struct.pack("HHHH", height, width, 0, 0))

    def close_stdin(self) -> None:
        if self.stdin_fd is not None and self.stdin_fd != self.pty_master:
            try:
                os.close(self.stdin_fd)
            except OSError:
                pass
            self.stdin_fd = None


def _now() -> str:
    from ..store import now_rfc3339
    return now_rfc3339()


class Container:
    def __init__(self, worker: PodWorker, spec: Obj, init: bool = False) -> None:
        self.worker = worker
        self.spec = spec
        self.name: str = spec["name"]
        self.init = init
        self.state = status.ContainerState(self.name, spec.get("image", ""))
        inits = worker.pod["spec"].get("initContainers") or []
        if inits and not (init and inits[0].get("name") == self.name):
            # What the kubelet reports for containers behind a pending init container.
            self.state.reason = "PodInitializing"
        self.run: Run | None = None
        # The environment the running process got: `kubectl exec` sees this one, so a
        # Service created since the container started does not appear in it.
        self.env: dict[str, str] | None = None
        self.stopping = False
        self._crashes = 0
        self.prober: probes.Prober | None = None
        self.wake = asyncio.Event()

    # ---- one run --------------------------------------------------------

    def _fds(self) -> tuple[list[int], list[int], Callable[[logs.Capture], Run]]:
        """Child fds, fds to close after spawn, and a Run builder for our ends."""
        if self.spec.get("tty"):
            master, slave = os.openpty()
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))

            def build(cap: logs.Capture) -> Run:
                cap.read_fd(master, "stdout")
                return Run(0, cap, stdin_fd=master, pty_master=master)
            return [slave, slave, slave], [slave], build
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        if self.spec.get("stdin"):
            in_r, in_w = os.pipe()
            os.set_blocking(in_w, False)
        else:
            in_r, in_w = os.open(os.devnull, os.O_RDONLY), None

        def build_pipes(cap: logs.Capture) -> Run:
            cap.read_fd(out_r, "stdout")
            cap.read_fd(err_r, "stderr")
            return Run(0, cap, stdin_fd=in_w)
        return [in_r, out_w, err_w], [in_r, out_w, err_w], build_pipes

    async def start_once(self) -> bool:
        """Start one run; False (with a waiting state) when it could not start."""
        w = self.worker
        images = load_images()
        if images is None:
            launch_err = "emunet.images is not available"
            launch = None
        else:
            launch = images.resolve(self.spec.get("image", ""), self.spec.get("command"),
                                    self.spec.get("args"), w.mgr.cfg.images)
            launch_err = launch.error
        if launch is None or launch_err:
            first = self.state.reason != "ImagePullBackOff"
            self.state.state, self.state.message = "waiting", launch_err
            self.state.reason = "ErrImagePull" if first else "ImagePullBackOff"
            if first:
                w.event("Warning", "Failed",
                        f'Failed to pull image "{self.state.image}": {launch_err}')
                w.event("Warning", "Failed", "Error: ErrImagePull")
            return False
        try:
            env = environment.container_env(w.pod, self.spec, w.env_context(self.spec))
            self.env = env
        except environment.EnvError as e:
            self.state.state, self.state.reason, self.state.message = \
                "waiting", "CreateContainerConfigError", str(e)
            w.event("Warning", "Failed", f"Error: {e}")
            return False
        restart = self.state.restart_count
        cid = hashlib.sha256(f"{w.uid}/{self.name}/{restart}/{time.time()}".encode()).hexdigest()
        cap = logs.Capture(w.dir / "logs" / self.name / f"{restart}.log")
        child_fds, close_fds, build = self._fds()
        req: Obj = {"argv": launch.argv, "builtin": launch.builtin, "env": env,
                    "path_prepend": list(launch.path_prepend or []),
                    "cwd": self.spec.get("workingDir"), "tty": bool(self.spec.get("tty")),
                    "cgroup": w.cgroup}
        if w.mgr.sandbox:
            req["sandbox"] = w.sandbox_spec(self.spec, self.name)
        if not self._announced:
            w.event("Normal", "Pulled",
                    f'Container image "{self.state.image}" already present on machine')
        try:
            pid = await w.mgr.runtime.spawn(req, child_fds)
        finally:
            for fd in close_fds:
                os.close(fd)
        run = build(cap)
        run.pid = pid
        run.stop_signal = getattr(signal, launch.stop_signal, signal.SIGTERM)
        self.run = run
        w.event("Normal", "Created", f"Created container: {self.name}")
        w.event("Normal", "Started", f"Started container {self.name}")
        self._announced = True
        self.state = status.ContainerState(
            self.name, self.state.image, state="running", reason="", started_at=_now(),
            restart_count=restart, last=self.state.last, container_id=f"emunet://{cid}",
            # A startup probe gates readiness too: not ready before it passes.
            ready=not self.spec.get("readinessProbe") and not self.spec.get("startupProbe"),
            started=not self.spec.get("startupProbe"))
        hook = (self.spec.get("lifecycle") or {}).get("postStart")
        if hook:
            # Not running until postStart returns, as the kubelet reports it.
            st, ready = self.state, self.state.ready
            st.state, st.reason, st.ready = "waiting", "ContainerCreating", False
            w.kick()
            if not await hooks.post_start(self, hook):
                w.event("Normal", "Killing", "FailedPostStartHook")
                await self.kill(self.grace())
                return True   # the run is over; wait_run records how it ended
            st.state, st.reason, st.ready, st.started_at = "running", "", ready, _now()
        self.prober = probes.Prober.for_container(self, w)
        return True

    _announced = False

    async def wait_run(self) -> int:
        run = self.run
        assert run is not None
        code = await self.worker.mgr.runtime.wait(run.pid)
        if not run.exited.done():
            run.exited.set_result(code)
        if self.prober is not None:
            await self.prober.stop()
            self.prober = None
        # Output written just before exit may still sit in the pipes.
        if not run.capture.closed:
            try:
                await asyncio.wait_for(run.capture.changed.wait(), 0.2)
            except TimeoutError:
                pass
        run.capture.finish()
        run.close_stdin()
        if run.pty_master is not None:
            try:
                asyncio.get_running_loop().remove_reader(run.pty_master)
                os.close(run.pty_master)
            except OSError:
                pass
        st = self.state
        st.state, st.exit_code, st.finished_at = "terminated", code, _now()
        st.reason = "Completed" if code == 0 else "Error"
        st.ready = False
        return code

    # ---- the loop ---------------------------------------------------------

    def should_restart(self, code: int) -> bool:
        policy = self.worker.pod["spec"].get("restartPolicy") or "Always"
        if self.stopping:
            return False
        if self.init:
            return code != 0 and policy != "Never"
        return policy == "Always" or (policy == "OnFailure" and code != 0)

    def backoff(self, ran_for: float) -> float:
        if ran_for > RESET_AFTER:
            self._crashes = 0
        self._crashes += 1
        if self._crashes == 1:
            return 0.0
        return min(self.worker.mgr.backoff_base * 2 ** (self._crashes - 2), MAX_BACKOFF)

    async def loop(self) -> int:
        """Run until the container is done for good; returns the last exit code."""
        w = self.worker
        while True:
            if not await self.start_once():
                w.kick()
                await self._pause(w.mgr.backoff_base)
                if self.stopping:
                    return 1
                continue
            w.kick()
            started = time.monotonic()
            code = await self.wait_run()
            w.kick()
            if not self.should_restart(code):
                return code
            delay = self.backoff(time.monotonic() - started)
            term = self.state.terminated()
            if delay > 0:
                self.state = status.ContainerState(
                    self.name, self.state.image, state="waiting", reason="CrashLoopBackOff",
                    message=f"back-off {int(delay)}s restarting failed container={self.name} "
                            f"pod={w.name}_{w.namespace}({w.uid})",
                    restart_count=self.state.restart_count, last=term,
                    container_id=self.state.container_id)
                w.event("Warning", "BackOff", f"Back-off restarting failed container "
                        f"{self.name} in pod {w.name}_{w.namespace}({w.uid})")
                w.kick()
                await self._pause(delay)
                if self.stopping:
                    return code
            self.state.last = term
            self.state.restart_count += 1

    async def _pause(self, seconds: float) -> None:
        self.wake.clear()
        try:
            await asyncio.wait_for(self.wake.wait(), seconds)
        except TimeoutError:
            pass

    def grace(self) -> float:
        return float(self.worker.pod["spec"].get("terminationGracePeriodSeconds", 30))

    async def kill(self, grace: float) -> None:
        """Stop the running process as the kubelet's killContainer does: the preStop
        hook, then the image's STOPSIGNAL, then SIGKILL when the grace period is over."""
        run = self.run
        rt = self.worker.mgr.runtime
        if run is None or run.exited.done():
            return
        if grace > 0:
            began = time.monotonic()
            hook = (self.spec.get("lifecycle") or {}).get("preStop")
            if hook:
                await hooks.pre_stop(self, hook, grace)
                # The kubelet leaves at least 2 s after the hook before SIGKILL.
                grace = max(grace - (time.monotonic() - began), MIN_GRACE)
            rt.kill(run.pid, run.stop_signal)
            try:
                await asyncio.wait_for(rt.wait(run.pid), grace)
                return
            except TimeoutError:
                pass
        rt.kill(run.pid, signal.SIGKILL)
        try:
            await asyncio.wait_for(rt.wait(run.pid), 5)
        except TimeoutError:
            log.warning("container %s of pod %s/%s outlived SIGKILL", self.name,
                        self.worker.namespace, self.worker.name)

    def stop(self, sig: int) -> None:
        self.stopping = True
        self.wake.set()
        if self.run is not None and not self.run.exited.done():
            self.worker.mgr.runtime.kill(self.run.pid, sig)
