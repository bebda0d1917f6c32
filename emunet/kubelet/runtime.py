"""The container runtime: a zygote that forks container processes.

A fresh Python interpreter per container costs ~0.3 s of CPU and ~23 MB; a
fork of a warm process that has already imported aiohttp and the images costs
~10 ms and ~5 MB (research/perf-anchors.md §6). So the kubelet forks one
zygote at start-up, before its event loop exists (no threads, no loop to
inherit), and asks it over a SOCK_SEQPACKET socketpair to spawn containers:
one JSON message per request, with the container's stdio fds attached
(SCM_RIGHTS). The zygote forks; the child dies with the zygote
(PR_SET_PDEATHSIG), starts a session (its process group is the container),
takes the fds as 0/1/2 (a pty slave becomes its controlling tty), joins the
pod's net_cls cgroup (podsource.py), sets up the sandbox (or joins a
container's namespaces, for exec), then either execs the host program or runs
the built-in image in-process. The zygote reaps children on SIGCHLD and
reports `{"exit": pid, "code": n}` (128+signal for a killed process, as
container runtimes report) on a second socketpair the kubelet reads from its
loop. The zygote dies with the kubelet, so every pod dies with its node.

PDEATHSIG only reaches a container's first process: its own children (the
`sleep` under `sh -c 'while true; do sleep 1; done'`) would be orphaned and
live on. So, where it may (root), the kubelet starts the zygote as the init
of a new PID namespace, one per node: when the zygote dies (the node is
stopped, or its kubelet is killed), the kernel SIGKILLs every process in the
namespace, whatever session it made or however it daemonised, and no
cgroup or reaper has to survive the kill to do it. Pids inside the namespace
are not the host's, so each child reports its host pid (read from the
host's /proc) to the zygote before it does anything else; the kubelet only
ever sees host pids. Orphans reparent to the zygote, which reaps them
without reporting them.
"""
from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import selectors
import signal
import socket
import sys
from typing import Any, cast

from .. import proctitle, tasks
from . import sandbox

log = logging.getLogger("emunet.kubelet.runtime")
MAX_MSG = 1 << 20


def exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


# ---- the child --------------------------------------------------------------

def _child(req: dict[str, Any], fds: list[int]) -> None:
    """Runs in the forked container process; never returns."""
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        sandbox.set_pdeathsig()
        os.setsid()
        for i, fd in enumerate(fds[:3]):
            os.dup2(fd, i, inheritable=True)
        if req.get("tty"):
            import fcntl
            import termios
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        os.closerange(3, 65536)
        if req.get("cgroup"):  # the pod's net_cls cgroup: its source address (podsource.py)
            try:
                with open(req["cgroup"], "w") as f:
                    f.write("0")
            except OSError as e:
                os.write(2, f"emunet: connections leave from 127.0.0.1, not the pod IP: "
                            f"{e}\n".encode())
        if req.get("join"):
            sandbox.join(req["join"])
        elif req.get("sandbox"):
            sandbox.enter(req["sandbox"])
        env = req["env"]
        if req.get("path_prepend"):
            env["PATH"] = ":".join(req["path_prepend"] + [env.get("PATH", "")])
        cwd = req.get("cwd")
        if cwd:
            try:
                os.chdir(cwd)
            except OSError as e:
                os.write(2, f"emunet: chdir to {cwd}: {e.strerror}\n".encode())
                os._exit(128)
        if req.get("builtin"):
            os.environ.clear()
            os.environ.update(env)
            # The standard streams of a Python process are TextIOWrappers.
            cast(io.TextIOWrapper, sys.stdout).reconfigure(line_buffering=True)
            cast(io.TextIOWrapper, sys.stderr).reconfigure(line_buffering=True)
            from .. import images
            proctitle.set_title(" ".join(req["argv"]))
            code = images.run_builtin(req["builtin"], req["argv"])
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code if isinstance(code, int) else 0)
        argv = req["argv"]
        try:
            os.execvpe(argv[0], argv, env)
        except FileNotFoundError:
            os.write(2, f'exec: "{argv[0]}": executable file not found in $PATH\n'.encode())
            os._exit(127)
        except PermissionError:
            os.write(2, f'exec: "{argv[0]}": permission denied\n'.encode())
            os._exit(126)
    except SystemExit as e:
        os._exit(e.code if isinstance(e.code, int) else 1)
    except BaseException as e:  # noqa: BLE001 - the container's stderr is the only channel left
        try:
            os.write(2, f"emunet: cannot start container: {e}\n".encode())
        finally:
            os._exit(128)
    os._exit(128)


# ---- the zygote -------------------------------------------------------------

def serve(req_sock: socket.socket, ev_sock: socket.socket) -> None:
    """The zygote's loop (blocking; in its own process)."""
    sandbox.set_pdeathsig()
    rfd, wfd = os.pipe()
    os.set_blocking(wfd, False)
    signal.set_wakeup_fd(wfd)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sel = selectors.DefaultSelector()
    sel.register(req_sock, selectors.EVENT_READ)
    sel.register(rfd, selectors.EVENT_READ)

    def send(msg: dict[str, Any]) -> None:
        ev_sock.sendall(json.dumps(msg).encode())

    own_namespace = os.getpid() == 1
    mine: dict[int, int] = {}   # pid in our namespace -> host pid, for the children we forked

    while True:
        for key, _ in sel.select():
            if key.fileobj is req_sock:
                try:
                    data, fds, _flags, _addr = socket.recv_fds(req_sock, MAX_MSG, 8)
                except InterruptedError:
                    continue
                if not data:
                    os._exit(0)
                req = json.loads(data)
                report_r, report_w = os.pipe() if own_namespace else (-1, -1)
                pid = os.fork()
                if pid == 0:
                    req_sock.close()
                    ev_sock.close()
                    if own_namespace:
                        _report_host_pid(report_w)
                    _child(req, fds)
                for fd in fds:
                    os.close(fd)
                host_pid = pid
                if own_namespace:
                    os.close(report_w)
                    host_pid = _read_host_pid(report_r, pid)
                mine[pid] = host_pid
                send({"id": req["id"], "pid": host_pid})
            else:
                os.read(rfd, 4096)
                while True:
                    try:
                        pid, status = os.waitpid(-1, os.WNOHANG)
                    except ChildProcessError:
                        break
                    if pid == 0:
                        break
                    if pid in mine:
                        send({"exit": mine.pop(pid), "code": exit_code(status)})


def _report_host_pid(fd: int) -> None:
    """In a child in the node's PID namespace: tell the zygote our pid on the host.

    /proc is the host's mount, so its `self` link names the host pid.
    """
    try:
        os.write(fd, os.readlink("/proc/self").encode())
    except OSError:
        pass
    os.close(fd)


def _read_host_pid(fd: int, fallback: int) -> int:
    data = b""
    while True:
        try:
            chunk = os.read(fd, 32)
        except InterruptedError:
            continue
        if not chunk:
            break
        data += chunk
    os.close(fd)
    return int(data) if data.isdigit() else fallback


# ---- the kubelet's side -----------------------------------------------------

class Runtime:
    """Kubelet-side handle on the zygote. Call `fork()` before any event loop."""

    def __init__(self, node: str = "") -> None:
        self.node = node
        self._req: socket.socket | None = None
        self._ev: socket.socket | None = None
        self.zygote_pid = 0
        self.pid_namespace = False
        self._next = 0
        self._spawns: dict[int, asyncio.Future[int]] = {}
        self._exits: dict[int, asyncio.Future[int]] = {}
        self._early: dict[int, int] = {}
        self._reader: asyncio.Task[None] | None = None

    def fork(self, pid_namespace: bool = True) -> None:
        """Start the zygote; in a PID namespace of its own when `pid_namespace` and allowed."""
        req_parent, req_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ev_parent, ev_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        restore = None
        if pid_namespace:
            try:
                restore = sandbox.pid_namespace_for_children()
            except OSError as e:
                log.warning("pods share the host's PID namespace (%s): a stopped node's "
                            "containers die, but processes they started may outlive them", e)
        self.pid_namespace = restore is not None
        pid = os.fork()
        if restore is not None and pid != 0:
            sandbox.restore_pid_namespace(restore)
        if pid == 0:
            req_parent.close()
            ev_parent.close()
            proctitle.set_title(f"emunet-zygote {self.node}")
            try:
                serve(req_child, ev_child)
            finally:
                os._exit(0)
        req_child.close()
        ev_child.close()
        self._req, self._ev, self.zygote_pid = req_parent, ev_parent, pid

    def start(self) -> None:
        assert self._ev is not None
        self._ev.setblocking(False)
        self._reader = asyncio.create_task(self._read(), name="zygote-events")

    async def close(self) -> None:
        await tasks.cancel_and_wait(self._reader)
        if self.zygote_pid:
            try:
                os.kill(self.zygote_pid, signal.SIGKILL)
                os.waitpid(self.zygote_pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.zygote_pid = 0

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._ev is not None
        while True:
            data = await loop.sock_recv(self._ev, MAX_MSG)
            if not data:
                log.error("the zygote is gone")
                return
            msg = json.loads(data)
            if "exit" in msg:
                fut = self._exits.get(msg["exit"])
                if fut is None or fut.done():
                    self._early[msg["exit"]] = msg["code"]
                else:
                    fut.set_result(msg["code"])
            else:
                f = self._spawns.pop(msg["id"], None)
                if f is not None and not f.done():
                    f.set_result(msg["pid"])

    async def spawn(self, req: dict[str, Any], fds: list[int]) -> int:
        """Start a process; returns its pid. `req`: argv, builtin, env, cwd, tty,
        path_prepend, cgroup (a cgroup.procs file to join), and sandbox (see
        sandbox.enter) or join (a pid)."""
        assert self._req is not None
        self._next += 1
        rid = self._next
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._spawns[rid] = fut
        socket.send_fds(self._req, [json.dumps({**req, "id": rid}).encode()], fds)
        pid = await fut
        exit_fut = asyncio.get_running_loop().create_future()
        if pid in self._early:
            exit_fut.set_result(self._early.pop(pid))
        self._exits[pid] = exit_fut
        return pid

    async def wait(self, pid: int) -> int:
        """The exit code of a spawned process (128+N when killed by signal N)."""
        return await asyncio.shield(self._exits[pid])

    def kill(self, pid: int, sig: int) -> None:
        """Signal the container's process group (its session), then the process."""
        fut = self._exits.get(pid)
        if fut is not None and fut.done():
            return
        for target in (lambda: os.killpg(pid, sig), lambda: os.kill(pid, sig)):
            try:
                target()
            except (ProcessLookupError, PermissionError):
                pass
