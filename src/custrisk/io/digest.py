"""The SHA-256 of a file, read a block at a time (run facts, the audit log, backups,
model artifacts and monthly runs all record files by it).

An audited command hashes what it read and wrote when its line is written, after the
command has read every input byte once already (the encoding scan) and hashed every
table it wrote (the run's facts). So that those bytes are not read and hashed a second
time, a digest taken on the way can be remembered (:func:`remember_digest`, by the
file's device, inode, size and modification time, which a rename keeps) and taken back
by the audit alone (:func:`sha256_file` with ``reuse=True``): a file changed since is
hashed again. Inputs are hashed on the way only when the audit will want them
(:func:`want_digests`): unaudited commands pay nothing.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable
from pathlib import Path

_BLOCK = 1 << 20

#: A file as the digests remembered know it: device, inode, size, modification time (ns)
Identity = tuple[int, int, int, int]

_lock = threading.Lock()
_remembered: dict[Identity, str] = {}
_wanted: set[Path] = set()
_auditing = False  # digests are remembered only while an audited command runs


def identity(path: str | os.PathLike[str] | int) -> Identity:
    """The file at ``path`` (or open as the descriptor ``path``) as
    :func:`remember_digest` keys it."""
    info = os.fstat(path) if isinstance(path, int) else os.stat(path)
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def sha256_file(path: Path, *, reuse: bool = False, remember: bool = False) -> str:
    """The hex SHA-256 of the file at ``path``.

    ``reuse``: take the digest remembered for this file when it has not changed since
    (for the audit line, whose files were hashed on the way). ``remember``: remember the
    digest taken (when the file did not change while it was read).
    """
    if reuse:
        with _lock:
            known = _remembered.get(identity(path))
        if known is not None:
            return known
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        # (the file opened, not the one the path names now: a link swapped while it
        # is read must not file one file's digest under another's identity)
        before = identity(handle.fileno()) if remember else None
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
        if before is not None:
            remember_digest(handle.fileno(), digest.hexdigest(), before)
    return digest.hexdigest()


def remember_digest(path: str | os.PathLike[str] | int, hexdigest: str, before: Identity) -> None:
    """Remember ``hexdigest`` as the SHA-256 of the file read as it was at ``before``
    (its :func:`identity` when reading began), ``path`` the descriptor it was read from
    (a path can name another file by then); nothing is kept if it changed since."""
    try:
        now = identity(path)
    except OSError:
        return
    if now == before:
        with _lock:
            if _auditing:
                _remembered[now] = hexdigest


def want_digests(paths: Iterable[str | os.PathLike[str]]) -> None:
    """Ask for the files at ``paths`` (files, or folders: the files under them) to be
    hashed on the way when they are read in full (:func:`digest_wanted`), and for digests
    taken on the way to be remembered until :func:`forget_digests` (an audited command
    begins: called with no paths)."""
    global _auditing
    with _lock:
        _auditing = True
        for path in paths:
            try:
                _wanted.add(Path(path).resolve())
            except OSError:
                continue


def digest_wanted(path: str | os.PathLike[str]) -> bool:
    """Whether the file at ``path`` was asked for by :func:`want_digests`."""
    with _lock:
        if not _wanted:
            return False
        wanted = set(_wanted)
    try:
        resolved = Path(path).resolve()
    except OSError:
        return False
    return resolved in wanted or not wanted.isdisjoint(resolved.parents)


def forget_digests() -> None:
    """Forget every digest remembered and every file wanted (a command's end)."""
    global _auditing
    with _lock:
        _auditing = False
        _remembered.clear()
        _wanted.clear()


__all__ = [
    "digest_wanted",
    "forget_digests",
    "identity",
    "remember_digest",
    "sha256_file",
    "want_digests",
]
