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


def _daemon_log(state: Path) -> Path:
    """The daemon's log file, its directory made, and no daemon file left by one killed."""
    paths = state_paths(state)
    paths["logs"].mkdir(parents=True, exist_ok=True)
    paths["daemon"].unlink(missing_ok=True)
    return paths["logs"] / "daemon.log"


def start_daemon(state: Path, **extra_env: str) -> subprocess.Popen[bytes]:
    """Start `python -m emunet.daemon` for a state directory, logging to its logs/."""
    with open(_daemon_log(state), "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "emunet.daemon", "--state", str(state)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd=state,
                                start_new_session=True, env=child_env(**extra_env))


def fork_daemon(state: Path) -> int:
    """Start the daemon as a fork of this process; returns its pid.

    What `emunet up` uses: the daemon keeps what the CLI has imported already
    and skips an interpreter start, a tenth of a second of the time to a ready
    cluster. Only for a process with no threads (the CLI); the test harness,
    which may have some, uses start_daemon.
    """
    out = os.open(_daemon_log(state), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        os.close(out)
        os.close(null)
        return pid
    code = 1
    try:
        os.setsid()
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        os.close(null)
        # As an exec'd daemon would be: the user's directory out of the import path.
        here = os.getcwd()
        sys.path[:] = [d for d in sys.path if d not in ("", here)]
        if PACKAGE_ROOT not in sys.path:
            sys.path.append(PACKAGE_ROOT)
        os.chdir(state)
        env = child_env()
        os.environ.clear()
        os.environ.update(env)
        sys.argv = [sys.executable, "-m", "emunet.daemon", "--state", str(state)]
        from .daemon import main
        main(["--state", str(state)])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: BLE001 - reported in the daemon's log, then exit
        import traceback
        traceback.print_exc()
    finally:
        os._exit(code)
