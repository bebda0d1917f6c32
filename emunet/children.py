"""Starting and watching the daemon's child processes (kubelets, proxy, DNS).

At start-up the daemon forks its children from itself, after it has imported
what they import (aiohttp, dnslib, the components) and before it opens any
socket, database or event loop: each child then begins with its imports done,
which on two cores is most of what `emunet up` waits for (a fresh interpreter
spends about 0.7 s importing them). A child started later (a crashed
component, `emunet node start`) is a fresh `python -m emunet.<component>`.
Either way the child is in its own session (so `emunet node stop` can kill it
with everything it started) and dies with the daemon (PR_SET_PDEATHSIG).

Exits are seen through pidfds, so one mechanism watches both kinds of child.
"""
from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
import subprocess
import sys
import traceback
from pathlib import Path

from . import launch, proctitle

log = logging.getLogger("emunet.children")

# component -> (module, function taking argv and returning an exit code)
ENTRYPOINTS = {"kubelet": ("emunet.kubelet.__main__", "main"),
               "proxy": ("emunet.proxy.__main__", "cli"),
               "dns": ("emunet.dns.__main__", "main")}


def die_with_parent() -> None:
    """In a child: be killed when the daemon dies, even by SIGKILL.

    A cluster's processes must never outlive it (a leftover proxy would hold its
    addresses); Linux's parent-death signal gives that without any cooperation.
    """
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def preload() -> None:
    """Import what the children run, so that forked children start warm."""
    for module, _ in ENTRYPOINTS.values():
        importlib.import_module(module)


def component_argv(component: str, state: Path, node: str | None) -> list[str]:
    argv = ["--state", str(state)]
    if node:
        argv += ["--node", node]
    return argv


def fork(component: str, state: Path, node: str | None, log_path: Path) -> int:
    """Fork a child running `component`; only call this with no threads or loop running."""
    module, func = ENTRYPOINTS[component]
    entry = getattr(importlib.import_module(module), func)
    argv = component_argv(component, state, node)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.setsid()
        die_with_parent()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        os.close(null)
        os.chdir(state)
        # The component sets up its own logging, as it does when started alone.
        for h in list(logging.root.handlers):
            logging.root.removeHandler(h)
        sys.argv = [f"emunet.{component}", *argv]
        proctitle.set_title(f"emunet-{component} {node or state.name}")
        code = entry(argv) or 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def spawn(component: str, state: Path, node: str | None, log_path: Path) -> int:
    """Start a child as a fresh interpreter (the slow path, once the daemon runs)."""
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", f"emunet.{component}",
             *component_argv(component, state, node)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=launch.child_env(), cwd=state,
            start_new_session=True, preexec_fn=die_with_parent)
    # The pid is reaped through its pidfd (Child), not through Popen.
    proc.returncode = 0
    return proc.pid


class Child:
    """A running child process, whichever way it was started, watched by pidfd."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        loop = asyncio.get_running_loop()
        self._done: asyncio.Future[int] = loop.create_future()
        self._fd = os.pidfd_open(pid)
        loop.add_reader(self._fd, self._exited)

    def _exited(self) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._fd)
        os.close(self._fd)
        try:
            _, status = os.waitpid(self.pid, 0)
            code = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            code = -1
        self.returncode = code
        if not self._done.done():
            self._done.set_result(code)

    async def wait(self) -> int:
        return await asyncio.shield(self._done)

    def killpg(self, sig: int) -> None:
        if self.returncode is not None:
            return
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass
