"""Atomic writes: a temp file in the target folder, then a rename.

A run that fails leaves no half-written output behind, and outputs are created with
mode 0600 by default (customer data lives in them); the folders created for them get
mode 0700.

Sealed outputs: inside :func:`sealing` (``custrisk ... --encrypt``, or ``encrypt: true``
in a run config), every write of customer data through :func:`atomic_path` goes to
``target + sealer.suffix`` (``scores.csv.enc``) through the sealer (the encryption of
:mod:`custrisk.protect`), and the plain ``target`` left by an earlier run is removed.
This module knows only the :class:`Sealer` protocol; :mod:`custrisk.protect.output`
provides the one that encrypts. Writers of non-customer files (models, configs, key
files, files that are already encrypted) pass ``sensitive=False``.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Protocol

from custrisk.errors import UsageError

DEFAULT_MODE = 0o600
#: Mode of the folders custrisk creates for its outputs.
DIR_MODE = 0o700
#: Errors that every later write to the same disk would meet too: full, over quota,
#: read-only. A batch stops at the first rather than failing each document in turn.
NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def out_of_room(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk takes no more writes (:data:`NO_ROOM`)."""
    return isinstance(exc, OSError) and exc.errno in NO_ROOM


def write_refused_hint(exc: OSError) -> str:
    """What to do about a write or read refused by the system: room on the disk
    (:data:`NO_ROOM`), the file size limit (``EFBIG``: ``ulimit -f``, systemd's
    ``LimitFSIZE=``, or the file system's largest file), else the path's permissions."""
    if out_of_room(exc):
        return "free space on that disk (or make it writable)"
    if exc.errno == errno.EFBIG:
        return (
            "raise the file size limit of the job (ulimit -f in the shell or crontab line, "
            "LimitFSIZE= of a systemd unit) or write to a file system that takes larger files"
        )
    return "check the path and its permissions"


def ensure_dir(path: str | os.PathLike[str], mode: int = DIR_MODE) -> Path:
    """Create ``path`` and its missing parents with ``mode`` (0700); existing folders
    keep their mode.

    Unlike ``mkdir -p`` (and :meth:`pathlib.Path.mkdir`), every folder created gets
    ``mode`` whatever the umask, so that no other user can list the outputs.
    """
    path = Path(path)
    missing: list[Path] = []
    current = path
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=mode)
        except FileExistsError:
            if folder.is_dir():  # created meanwhile by another process
                continue
            raise
        private_dir(folder, mode)
    return path


def private_dir(folder: str | os.PathLike[str], mode: int = DIR_MODE) -> None:
    """Give an output folder its mode: ``mode`` (0700), or 0750 and the configured group
    inside a :func:`sealing` block that names one (see :func:`private`)."""
    group = _OUTPUT_GROUP.get()
    if group is not None and mode == DIR_MODE:
        os.chown(folder, -1, group)
        mode = 0o750
    os.chmod(folder, mode)


class Sealer(Protocol):
    """What turns a plain output into a sealed (encrypted) one; see :func:`sealing`."""

    @property
    def suffix(self) -> str:
        """Appended to the name of every sealed file (``.enc``)."""

    def seal(self, plain: IO[bytes], sink: IO[bytes]) -> None:
        """Copy ``plain`` into ``sink`` sealed, streaming."""


_SEALER: contextvars.ContextVar[Sealer | None] = contextvars.ContextVar(
    "custrisk_sealer", default=None
)
#: File mode and group of the outputs (``None``: 0600, the owner's group).
_OUTPUT_GROUP: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "custrisk_output_group", default=None
)


@contextlib.contextmanager
def sealing(sealer: Sealer | None, *, group: int | None = None) -> Iterator[None]:
    """Within the block, outputs of customer data are sealed by ``sealer`` (``None``:
    written plain) and, with ``group`` (a gid), created 0640 and owned by that group."""
    token = _SEALER.set(sealer)
    group_token = _OUTPUT_GROUP.set(group)
    try:
        yield
    finally:
        _OUTPUT_GROUP.reset(group_token)
        _SEALER.reset(token)


def seal_from_now(sealer: Sealer | None, *, group: int | None = None) -> None:
    """Like :func:`sealing`, for the rest of the current context: for a command that
    runs in its own copy of the context (the CLI runs each command so)."""
    _SEALER.set(sealer)
    _OUTPUT_GROUP.set(group)


def active_sealer() -> Sealer | None:
    """The sealer of the current :func:`sealing` block, if any."""
    return _SEALER.get()


def active_group() -> int | None:
    """The group (gid) outputs are shared with in the current :func:`sealing` block."""
    return _OUTPUT_GROUP.get()


def output_path(target: str | os.PathLike[str], *, sensitive: bool = True) -> Path:
    """Where :func:`atomic_path` puts ``target``: ``target + '.enc'`` while sealing."""
    target = Path(target)
    sealer = _SEALER.get() if sensitive else None
    if sealer is None or target.name.endswith(sealer.suffix):
        return target
    return target.with_name(target.name + sealer.suffix)


def private(path: str | os.PathLike[str], mode: int = DEFAULT_MODE) -> None:
    """Give an output its mode: ``mode`` (0600), or 0640 and the configured group
    inside a :func:`sealing` block that names one."""
    group = _OUTPUT_GROUP.get()
    if group is not None and mode == DEFAULT_MODE:
        os.chown(path, -1, group)
        mode = 0o640
    os.chmod(path, mode)


def _counterpart(target: Path, final: Path, sealer: Sealer | None) -> Path | None:
    """The other form of an output (plain vs sealed) that an earlier run may have left."""
    suffix = sealer.suffix if sealer is not None else ".enc"
    if final != target:
        return target
    if target.name.endswith(suffix):
        return None
    return target.with_name(target.name + suffix)


@contextlib.contextmanager
def atomic_path(
    target: str | os.PathLike[str], mode: int = DEFAULT_MODE, *, sensitive: bool = True
) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` on success.

    The caller writes the temporary path with any library (pyarrow, pandas, ...). On an
    exception the temporary file is removed and ``target`` is left untouched.

    Inside a :func:`sealing` block (and unless ``sensitive`` is false) the file written
    is sealed into :func:`output_path` (``target.enc``); the plain temporary file (mode
    0600) is removed once sealed. Either way, the other form of ``target`` that an
    earlier run left (``target`` beside a new ``target.enc``, or the reverse) is
    removed, so that readers never find two.
    """
    target = Path(target)
    sealer = _SEALER.get() if sensitive else None
    final = output_path(target, sensitive=sensitive)
    ensure_dir(target.parent)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:  # named by the file asked for, not by our temporary name
        raise OSError(exc.errno, exc.strerror, str(final)) from None
    os.close(fd)
    tmp = Path(tmp_name)
    sealed: Path | None = None
    try:
        yield tmp
        if sealer is not None and final != target:
            fd, sealed_name = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
            )
            sealed = Path(sealed_name)
            with open(tmp, "rb") as plain, os.fdopen(fd, "wb") as sink:  # noqa: PTH123
                sealer.seal(plain, sink)
                sink.flush()
                os.fsync(sink.fileno())
            tmp.unlink()
            tmp = sealed
        private(tmp, mode)
        os.replace(tmp, final)
        other = _counterpart(target, final, sealer) if sensitive else None
        if other is not None and other != final:
            other.unlink(missing_ok=True)
    except BaseException:
        for leftover in (tmp, sealed):
            if leftover is not None:
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
        raise


@contextlib.contextmanager
def atomic_open(
    target: str | os.PathLike[str],
    mode: str = "w",
    *,
    encoding: str | None = "utf-8",
    newline: str | None = None,
    file_mode: int = DEFAULT_MODE,
    sensitive: bool = True,
) -> Iterator[IO[Any]]:
    """Open a temporary file for writing and rename it over ``target`` when closed
    (sealed inside a :func:`sealing` block unless ``sensitive`` is false)."""
    if "b" in mode:
        encoding = None
    with (
        atomic_path(target, mode=file_mode, sensitive=sensitive) as tmp,
        open(  # noqa: PTH123
            tmp, mode, encoding=encoding, newline=newline
        ) as handle,
    ):
        yield handle


def write_text(
    target: str | os.PathLike[str],
    text: str,
    *,
    encoding: str = "utf-8",
    sensitive: bool = True,
) -> Path:
    """Write ``text`` to ``target`` atomically; the path written (see :func:`output_path`)."""
    with atomic_open(target, "w", encoding=encoding, newline="", sensitive=sensitive) as handle:
        handle.write(text)
    return output_path(target, sensitive=sensitive)


def write_bytes(target: str | os.PathLike[str], data: bytes, *, sensitive: bool = True) -> Path:
    """Write ``data`` to ``target`` atomically; the path written (see :func:`output_path`)."""
    with atomic_open(target, "wb", sensitive=sensitive) as handle:
        handle.write(data)
    return output_path(target, sensitive=sensitive)


#: File extensions -> the format of a table written there (indicators, a run's scores).
OUTPUT_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "xlsx"}


def output_format(path: str | os.PathLike[str]) -> str:
    """``csv``, ``parquet`` or ``xlsx`` from the extension of ``path``.

    Raises
    ------
    UsageError
        For any other extension.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise UsageError(
            f"{path}: cannot tell the output format from the extension {suffix or '(none)'!r}",
            hint=f"name the file with one of {', '.join(OUTPUT_FORMATS)}",
        )
    return OUTPUT_FORMATS[suffix]
