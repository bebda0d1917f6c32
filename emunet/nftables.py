"""nftables transactions, for the components that program the kernel (the proxy's
nftables mode, the kubelet's pod source addresses).

Transactions go through libnftables (the library `nft` itself is built on) by
ctypes when it loads: a fork+exec of `nft` per transaction cost 10-40 ms on a
busy 2-core machine; the library call takes well under a millisecond. The
`nft` command is the fallback.
"""
from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import shutil
import subprocess
import threading

log = logging.getLogger("emunet.nftables")


def unavailable() -> str:
    """Why nftables cannot be programmed here ('' when it can)."""
    if os.geteuid() != 0:
        return "root (CAP_NET_ADMIN) is needed"
    if shutil.which("nft") is None:
        return "the `nft` command is needed (Debian package nftables)"
    try:
        r = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, timeout=5,
                           check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"`nft list tables` failed: {e}"
    if r.returncode:
        return f"`nft list tables` failed: {r.stderr.strip()}"
    return ""


class _Lib:
    """libnftables through ctypes: one context, used by one thread at a time."""

    def __init__(self) -> None:
        lib = ctypes.CDLL("libnftables.so.1")
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        ctx = lib.nft_ctx_new(0)
        if not ctx:
            raise OSError("nft_ctx_new failed")
        lib.nft_ctx_buffer_output(ctx)
        lib.nft_ctx_buffer_error(ctx)
        self.lib, self.ctx = lib, ctx
        self.lock = threading.Lock()

    def run(self, text: str) -> None:
        with self.lock:
            rc = self.lib.nft_run_cmd_from_buffer(self.ctx, text.encode())
            if rc:
                err = (self.lib.nft_ctx_get_error_buffer(self.ctx) or b"").decode().strip()
                raise RuntimeError(f"nft transaction failed: {err}")


_lib: _Lib | None = None
_lib_tried = False


def _library() -> _Lib | None:
    global _lib, _lib_tried
    if not _lib_tried:
        _lib_tried = True
        try:
            _lib = _Lib()
        except (OSError, AttributeError) as e:
            log.info("libnftables not usable (%s): running the nft command instead", e)
    return _lib


async def apply(text: str) -> None:
    """Run one transaction; raises RuntimeError with nft's message on failure."""
    lib = _library()
    if lib is not None:
        await asyncio.to_thread(lib.run, text)
        return
    proc = await asyncio.create_subprocess_exec(
        "nft", "-f", "-", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate(text.encode())
    if proc.returncode:
        raise RuntimeError(f"nft -f failed ({proc.returncode}): {err.decode().strip()}")


def delete(table: str) -> None:
    """Remove the table if it exists (blocking: used at start and at exit only)."""
    if shutil.which("nft") is None:
        return
    try:
        subprocess.run(["nft", "-f", "-"], input=f"add table ip {table}\ndelete table ip {table}\n",
                       capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        log.warning("could not delete nft table %s: %s", table, e)
