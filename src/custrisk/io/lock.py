"""Exclusive locks on output folders and registry entries, with the holder named.

A lock is an ``flock`` on a small file that records who holds it (pid, host, start time,
command). The kernel releases it when the holder exits, however it exits, so a lock
left by a killed run is simply taken over by the next one; a live holder is refused
with a message naming it. ``flock`` is local to one machine: on a network file system
shared by several hosts, run one custrisk at a time per folder (docs/security.md).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from custrisk.errors import CustriskError


class LockHeld(CustriskError):
    """Another live process holds the lock (exit code 2)."""

    def __init__(self, path: Path, holder: dict[str, Any], what: str, hint: str = "") -> None:
        self.path = path
        self.holder = holder
        who = describe_holder(holder) or "its details are not written yet"
        super().__init__(
            f"{path.parent}: {what} is in use by another custrisk process ({who})",
            hint=hint or "wait for it to finish, or write to another folder",
        )


@dataclass(frozen=True)
class HeldLock:
    """A lock this process holds."""

    path: Path
    previous: dict[str, Any]  # an earlier holder recorded in the file: one that died

    @property
    def taken_over(self) -> bool:
        return bool(self.previous)


def describe_holder(holder: dict[str, Any]) -> str:
    if not holder:
        return ""
    parts = [f"pid {holder.get('pid', '?')}", f"host {holder.get('host', '?')}"]
    if holder.get("started"):
        parts.append(f"since {holder['started']}")
    if holder.get("command"):
        parts.append(f"running {holder['command']!r}")
    return ", ".join(parts)


def read_holder(path: Path) -> dict[str, Any]:
    """What the lock file says about its (last) holder; empty when unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _command() -> str:
    """The holder's command as the operator typed it: ``custrisk run run.yaml`` (also
    under ``python -m custrisk``, whose ``argv[0]`` is the package's ``__main__.py``)."""
    program = Path(sys.argv[0]).name if sys.argv else ""
    if program == "__main__.py":
        program = "custrisk"
    return " ".join([program, *sys.argv[1:3]])


@contextlib.contextmanager
def exclusive_lock(
    path: str | os.PathLike[str], *, what: str = "the folder", hint: str = ""
) -> Iterator[HeldLock]:
    """Hold an exclusive lock on ``path`` (created 0600) for the ``with`` block
    (``hint``: what to do when another process holds it, instead of the default).

    Raises
    ------
    LockHeld
        When another live process holds it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            raise LockHeld(path, read_holder(path), what, hint) from None
        earlier = read_holder(path)
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "command": _command(),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
        try:
            yield HeldLock(path, earlier)
        finally:
            os.ftruncate(fd, 0)  # an empty file: nobody holds it
    finally:
        os.close(fd)  # releases the flock


__all__ = ["HeldLock", "LockHeld", "describe_holder", "exclusive_lock", "read_holder"]
