"""Starting emunet's own processes: the environment they need, and the daemon.

Kept light (the CLI imports it) and in one place, so that `emunet up`, the
test harness and the daemon's own restarts start processes the same way: the
package importable from wherever it lives (a checkout or an install), the
state directory as the working directory (a stray module in the user's
directory must never shadow the standard library), and a session of their own.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .paths import state_paths

PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = PACKAGE_ROOT + (os.pathsep + env["PYTHONPATH"]
                                        if env.get("PYTHONPATH") else "")
    env.update(extra)
    return env


def start_daemon(state: Path, **extra_env: str) -> subprocess.Popen[bytes]:
    """Start `python -m emunet.daemon` for a state directory, logging to its logs/."""
    logs = state_paths(state)["logs"]
    logs.mkdir(parents=True, exist_ok=True)
    state_paths(state)["daemon"].unlink(missing_ok=True)  # left by a daemon that was killed
    with open(logs / "daemon.log", "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "emunet.daemon", "--state", str(state)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd=state,
                                start_new_session=True, env=child_env(**extra_env))
