"""Built-in images: what a container of a given image runs on this host.

emunet pulls no images. `resolve()` turns a container's image, `command`
and `args` into a `Launch`: a built-in emulation run in-process by
`run_builtin` (nginx, nginxhttps, agnhost, pause), a command run on the
host (a busybox-like image's shell, with shims for the tools such images
carry), or an image-pull error for an image emunet cannot stand in for. The
kubelet runs builtins in a child forked from a warm zygote, so this module
imports only the standard library and loads each builtin when it runs.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from emunet.images import catalog
from emunet.images.tools import tools_dir

__all__ = ["BUILTINS", "Launch", "default_tools_base", "resolve", "run_builtin", "tools_dir"]

# Builtin name -> module that implements it (each has `run(argv) -> int`).
BUILTINS = {"nginx": "nginx", "nginxhttps": "nginxhttps", "agnhost": "agnhost",
            "pause": "pause"}


@dataclass
class Launch:
    argv: list[str]
    builtin: str | None = None
    path_prepend: list[str] = field(default_factory=list)
    error: str | None = None
    stop_signal: str = "SIGTERM"


def default_tools_base() -> Path:
    """Where shims live unless the kubelet says (`EMUNET_TOOLS_BASE`)."""
    base = os.environ.get("EMUNET_TOOLS_BASE")
    if base:
        return Path(base)
    return Path(os.environ.get("TMPDIR") or "/tmp") / f"emunet-tools-{os.getuid()}"


def _shell(argv: list[str]) -> list[str]:
    """A default shell the host lacks (zsh for netshoot) falls back to sh."""
    import shutil  # only here: tool start-up imports this package too
    if len(argv) == 1 and argv[0] in ("zsh", "bash") and shutil.which(argv[0]) is None:
        return ["sh"]
    return argv


def resolve(image: str, command: list[str] | None, args: list[str] | None,
            image_map: dict[str, str], tools_base: Path | None = None) -> Launch:
    """What to run for one container (pure but for writing the tool shims)."""
    mapped = catalog.mapped_command(image, image_map)
    if mapped is not None:
        return Launch(catalog.effective_argv(mapped, (), command, args))
    known = catalog.lookup(image)
    if known is None:
        if command:
            return Launch(list(command) + list(args or []))
        return Launch([], error=catalog.pull_error(image))
    argv = catalog.effective_argv(known.entrypoint, known.cmd, command, args)
    builtin = catalog.builtin_for_argv(known, argv)
    if builtin is not None:
        name, builtin_argv = builtin
        return Launch(builtin_argv, builtin=name, stop_signal=known.stop_signal)
    if known.kind == "shell":
        shims = tools_dir(tools_base or default_tools_base())
        return Launch(_shell(argv), path_prepend=[str(shims)], stop_signal=known.stop_signal)
    return Launch(argv, stop_signal=known.stop_signal)


def run_builtin(name: str, argv: list[str]) -> int:
    """Run a builtin in this process until it exits; returns its exit code."""
    module = importlib.import_module(f"emunet.images.{BUILTINS[name]}")
    code: int = module.run(argv)
    return code
