"""What `ps` shows for emunet's processes.

emunet's processes are forks (the daemon of `emunet up`, the components of
the daemon, each pod of its node's zygote), so without this every one of them
would show the command line of `emunet up`. On Linux the title replaces the
process's original argument area in place (what /proc/PID/cmdline reads,
found through /proc/self/stat), truncated to that area's size, and the
15-character command name (`ps -o comm`, `top`). Anywhere else, or if
anything is unexpected, it does nothing.
"""
from __future__ import annotations

import ctypes
import sys

PR_SET_NAME = 15


def set_title(title: str) -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        # Fields are numbered from 1 and these start at field 3: arg_start is 48.
        start, end = int(fields[45]), int(fields[46])
        with open("/proc/self/cmdline", "rb") as f:
            if len(f.read()) != end - start:   # not the layout we know: leave it
                return
        size = end - start
        data = title.encode()[:size - 1]
        ctypes.memmove(start, data + b"\0" * (size - len(data)), size)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_NAME, title.split()[0].encode()[:15], 0, 0, 0)
    except (OSError, ValueError, IndexError, AttributeError):
        pass
