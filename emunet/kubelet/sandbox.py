"""A container's sandbox: its own mount and UTS namespaces (runs in the child).

Python 3.11 has no os.unshare/os.setns, so libc is called through ctypes.
In the freshly forked container process, before exec, `enter()`:
  1. unshares mount + UTS namespaces and makes every mount private, so
     nothing below propagates back to the host;
  2. sets the hostname (the pod's name);
  3. mounts a tmpfs on the pod's (empty) sandbox directory: the scratch space
     for overlay upper/work layers, which vanishes with the namespace;
  4. overlays /etc (lower: the host's /etc, upper: in the tmpfs) and writes
     the pod's hosts, hostname and resolv.conf there (unlinking first: the
     host's may be symlinks into /run);
  5. bind-mounts each volume at its mountPath. A mountPath that does not
     exist is created inside an overlay of its nearest existing ancestor
     (never on the host). Limit: an ancestor of `/` itself cannot be
     overlaid, so a missing top-level directory such as `/data` is skipped
     with a line on the container's stderr; the volume is still readable at
     the host path given in EMUNET_MOUNTS.
  6. in the node's PID namespace, mounts a /proc of that namespace, so pids
     a pod's processes see and /proc agree.
`join()` moves an exec'd process into a running container's namespaces.
`available()` checks once, in a throwaway child, that all of this works.
`pid_namespace_for_children()` gives the node's zygote a PID namespace of its
own (see runtime.py): when it dies, the kernel kills everything in it.
"""
from __future__ import annotations

import ctypes
import os
import sys
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWPID = 0x20000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def set_pdeathsig(sig: int = 9) -> None:
    """Die with the parent (as a pod dies with its machine)."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0), "prctl")


def mount(src: str, dst: str, fstype: str | None, flags: int, data: str | None) -> None:
    _check(_libc.mount(src.encode(), dst.encode(), fstype.encode() if fstype else None,
                       flags, data.encode() if data else None), f"mount {dst}")


def _write(path: str, content: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    with open(path, "w") as f:
        f.write(content)


class _Overlays:
    def __init__(self, scratch: str) -> None:
        self.scratch = scratch
        self.done: set[str] = set()

    def overlay(self, target: str) -> None:
        if target in self.done:
            return
        key = target.strip("/").replace("/", "_") or "root"
        upper, work = f"{self.scratch}/{key}.u", f"{self.scratch}/{key}.w"
        os.makedirs(upper)
        os.makedirs(work)
        mount("overlay", target, "overlay", 0,
               f"lowerdir={target},upperdir={upper},workdir={work}")
        self.done.add(target)

    def covering(self, path: str) -> bool:
        return any(path == d or path.startswith(d.rstrip("/") + "/") for d in self.done)


def _make_target(ovl: _Overlays, dst: str, is_dir: bool) -> bool:
    if os.path.lexists(dst):
        return True
    ancestor = os.path.dirname(dst.rstrip("/"))
    while not os.path.isdir(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not ovl.covering(ancestor):
        if ancestor == "/":
            return False
        ovl.overlay(ancestor)
    if is_dir:
        os.makedirs(dst, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        open(dst, "a").close()
    return True


def enter(spec: dict[str, Any]) -> None:
    """spec: hostname, scratch (empty dir), files {path: text}, mounts [{src, dst, ro}]."""
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWUTS), "unshare")
    mount("none", "/", None, MS_REC | MS_PRIVATE, None)
    name = spec["hostname"].encode()
    _check(_libc.sethostname(name, len(name)), "sethostname")
    scratch = spec["scratch"]
    mount("tmpfs", scratch, "tmpfs", 0, "size=64m,mode=0755")
    ovl = _Overlays(scratch)
    ovl.overlay("/etc")
    for path, text in spec.get("files", {}).items():
        _write(path, text)
    for m in spec.get("mounts", []):
        src, dst = m["src"], os.path.normpath(m["dst"])
        if not _make_target(ovl, dst, os.path.isdir(src)):
            print(f"emunet: volume mountPath {dst} skipped: its parent does not exist and "
                  f"/ cannot be overlaid; the volume is at {src}", file=sys.stderr)
            continue
        mount(src, dst, None, MS_BIND | MS_REC, None)
        if m.get("ro"):
            mount("none", dst, None, MS_BIND | MS_REMOUNT | MS_RDONLY, None)
    _remount_proc()


def _remount_proc() -> None:
    """In the node's PID namespace, give the pod a /proc of that namespace.

    The host's /proc names processes by host pids, so `/proc/$$` would be
    another process (or none) for a shell that sees its own pid as 42.
    """
    try:
        if os.readlink("/proc/self") == str(os.getpid()):
            return   # the host's PID namespace: its /proc is right
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    except OSError as e:
        print(f"emunet: /proc stays the host's: {e}", file=sys.stderr)


def pid_namespace_for_children() -> int:
    """Make this process's next child the init of a new PID namespace.

    Returns an fd of the current namespace for `restore_pid_namespace()`, so that
    only that one child (the zygote) starts the new namespace.
    """
    fd = os.open("/proc/self/ns/pid", os.O_RDONLY)
    if _libc.unshare(CLONE_NEWPID) != 0:
        err = ctypes.get_errno()
        os.close(fd)
        raise OSError(err, f"unshare(CLONE_NEWPID): {os.strerror(err)}")
    return fd


def restore_pid_namespace(fd: int) -> None:
    """Later children start in this process's own PID namespace again."""
    try:
        _check(_libc.setns(fd, CLONE_NEWPID), "setns pid")
    finally:
        os.close(fd)


def join(pid: int) -> None:
    """setns into the mount and UTS namespaces of a running container process."""
    for ns in ("uts", "mnt"):
        fd = os.open(f"/proc/{pid}/ns/{ns}", os.O_RDONLY)
        try:
            _check(_libc.setns(fd, 0), f"setns {ns}")
        finally:
            os.close(fd)


def available(scratch: str) -> str | None:
    """None when namespaces + tmpfs + overlay of /etc work here, else the reason."""
    if not sys.platform.startswith("linux"):
        return "not Linux"
    if os.geteuid() != 0:
        return "not running as root"
    os.makedirs(scratch, exist_ok=True)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            enter({"hostname": "emunet-probe", "scratch": scratch,
                   "files": {"/etc/emunet-probe": "ok\n"}})
            os._exit(0)
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            os.write(w, str(e).encode()[:500])
            os._exit(1)
    os.close(w)
    msg = os.read(r, 1000).decode()
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if os.path.exists("/etc/emunet-probe"):
        return "the probe leaked into the host's /etc"
    return None if status == 0 else (msg or "sandbox probe failed")
