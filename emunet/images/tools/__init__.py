"""The tools a busybox-like image has, as shims on the pod's PATH.

A pod running `radial/busyboxplus:curl` runs its shell on the host, so the
host's programs serve it; what the host lacks, or has in another flavour
(Debian's `nslookup` prints a different format than busybox's), comes from
here. `tools_dir(base)` writes one tiny shell script per tool into a
directory the kubelet puts first on the pod's PATH. Each script execs this
interpreter on the tool's module with the package on PYTHONPATH, so it works
from any working directory and inside a pod's mount namespace, and starts
without importing anything heavy.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

# Always provided: the busybox output format is part of what users see.
ALWAYS = ("nslookup",)
# Provided only where the host has none.
IF_MISSING = ("nc",)
PACKAGE_PARENT = str(Path(__file__).resolve().parents[3])


def script(tool: str) -> str:
    return ("#!/bin/sh\n"
            f"# emunet: the busybox '{tool}' of built-in images\n"
            f"PYTHONPATH='{PACKAGE_PARENT}'${{PYTHONPATH:+:$PYTHONPATH}}\n"
            "export PYTHONPATH\n"
            f"exec '{sys.executable}' -m emunet.images.tools.{tool} \"$@\"\n")


def wanted_tools() -> list[str]:
    import shutil  # lazily: every tool's start-up imports this package
    return list(ALWAYS) + [t for t in IF_MISSING if shutil.which(t) is None]


def tools_dir(base: Path) -> Path:
    """(Re)create the shim directory under `base` and return it; idempotent and atomic."""
    directory = Path(base) / "busybox-tools"
    directory.mkdir(parents=True, exist_ok=True)
    for tool in wanted_tools():
        target = directory / tool
        text = script(tool)
        try:
            if target.read_text() == text:
                continue
        except OSError:
            pass
        tmp = directory / f".{tool}.{os.getpid()}"
        tmp.write_text(text)
        tmp.chmod(0o755)
        os.replace(tmp, target)
    return directory
