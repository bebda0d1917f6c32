"""Service names for the host itself, through a marked block of /etc/hosts.

Split DNS (systemd-resolved routing `~cluster.local` to the cluster DNS) is
the better way, but not every host runs a resolver that can do it; every
host reads /etc/hosts. The DNS process, when asked (`EMUNET_HOST_DNS` names
the file, or the cluster config's `host_dns`), keeps one block of that file
in step with the Services' ClusterIPs:

    # BEGIN emunet <cluster>
    127.96.12.7 my-nginx.default.svc.cluster.local my-nginx.default.svc
    # END emunet <cluster>

Only the block is ever touched, so the user's own lines and other clusters'
blocks stay as they were. The file is replaced atomically (a temporary file
in the same directory, then rename), so a reader never sees half a file;
where the file is a bind mount (containers), a rename cannot replace it and
the content is written in place instead. Writes run off the event loop and
are coalesced: a burst of Service changes costs one write.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from . import records
from .index import Index

log = logging.getLogger("emunet.dns.hostsfile")

COALESCE_SECONDS = 0.05


def _markers(marker: str) -> tuple[str, str]:
    return f"# BEGIN emunet {marker}", f"# END emunet {marker}"


def _without_block(lines: list[str], marker: str) -> tuple[list[str], int]:
    """The lines outside the block, and where the block was (or -1)."""
    begin, end = _markers(marker)
    out: list[str] = []
    at = -1
    inside = False
    for line in lines:
        stripped = line.strip()
        if stripped == begin:
            inside = True
            at = len(out)
            continue
        if inside:
            if stripped == end:
                inside = False
            continue
        out.append(line)
    return out, at


def render_block(entries: list[tuple[str, list[str]]], marker: str) -> list[str]:
    begin, end = _markers(marker)
    body = [f"{ip} {' '.join(names)}" for ip, names in sorted(entries, key=lambda e: e[1])]
    return [begin, *body, end]


def sync_hosts_block(path: Path, entries: list[tuple[str, list[str]]], marker: str) -> bool:
    """Make the marked block of `path` hold exactly `entries`; True if the file changed."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        text = ""
    lines = text.splitlines()
    rest, at = _without_block(lines, marker)
    block = render_block(entries, marker) if entries else []
    if at < 0:
        at = len(rest)
    new_lines = rest[:at] + block + rest[at:]
    new = "\n".join(new_lines) + ("\n" if new_lines else "")
    if new == text:
        return False
    _write(path, new)
    return True


def remove_hosts_block(path: Path, marker: str) -> bool:
    return sync_hosts_block(path, [], marker)


def _write(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        try:
            os.replace(tmp, path)
            return
        except OSError as e:
            if e.errno not in (errno.EBUSY, errno.EXDEV, errno.EPERM):
                raise
        # A bind-mounted file cannot be renamed over: write it in place.
        with open(path, "w") as f:
            f.write(text)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def entries_for(index: Index) -> list[tuple[str, list[str]]]:
    out = []
    for svc in index.services.values():
        ips = [ip for ip in svc.cluster_ips if ip != "None" and ":" not in ip]
        if svc.type != "ExternalName" and ips:
            out.append((ips[0], records.service_names(svc, index.zone)))
    return out


class HostsSync:
    """Keeps the hosts file block current while the DNS process runs; removes it on stop."""

    def __init__(self, index: Index, path: Path, marker: str) -> None:
        self.index = index
        self.path = path
        self.marker = marker
        self._pending: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[Any] | None = None
        self._dirty = False

    def start(self) -> None:
        self.index.listeners.append(self._changed)
        self._changed()

    def _changed(self) -> None:
        if not self.index.synced:
            return
        self._dirty = True
        if self._pending is None:
            loop = asyncio.get_running_loop()
            self._pending = loop.call_later(COALESCE_SECONDS, self._flush)

    def _flush(self) -> None:
        self._pending = None
        if self._task is not None and not self._task.done():
            # A write is under way; it looks at _dirty again when done.
            return
        self._task = asyncio.get_running_loop().create_task(self._write_loop(),
                                                             name="dns-hosts-sync")

    async def _write_loop(self) -> None:
        while self._dirty:
            self._dirty = False
            entries = entries_for(self.index)
            try:
                changed = await asyncio.to_thread(sync_hosts_block, self.path, entries,
                                                  self.marker)
                if changed:
                    log.info("%s: %d service names", self.path, len(entries))
            except OSError as e:
                log.warning("cannot update %s: %s", self.path, e)

    async def stop(self) -> None:
        if self._changed in self.index.listeners:
            self.index.listeners.remove(self._changed)
        if self._pending is not None:
            self._pending.cancel()
        if self._task is not None:
            try:
                await self._task
            except OSError as e:
                log.warning("last update of %s failed: %s", self.path, e)
        try:
            await asyncio.to_thread(remove_hosts_block, self.path, self.marker)
        except OSError as e:
            log.warning("cannot clean %s: %s", self.path, e)
