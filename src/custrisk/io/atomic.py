"""Atomic writes: a temp file in the target folder, then a rename.

A run that fails leaves no half-written output behind, and outputs are created with
mode 0600 by default (customer data lives in them); the folders created for them get
mode 0700.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

DEFAULT_MODE = 0o600
#: Mode of the folders custrisk creates for its outputs.
DIR_MODE = 0o700


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
        os.chmod(folder, mode)
    return path


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], mode: int = DEFAULT_MODE) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` on success.

    The caller writes the temporary path with any library (pyarrow, pandas, ...). On an
    exception the temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    ensure_dir(target.parent)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_open(
    target: str | os.PathLike[str],
    mode: str = "w",
    *,
    encoding: str | None = "utf-8",
    newline: str | None = None,
    file_mode: int = DEFAULT_MODE,
) -> Iterator[IO[Any]]:
    """Open a temporary file for writing and rename it over ``target`` when closed."""
    if "b" in mode:
        encoding = None
    with (
        atomic_path(target, mode=file_mode) as tmp,
        open(  # noqa: PTH123
            tmp, mode, encoding=encoding, newline=newline
        ) as handle,
    ):
        yield handle


def write_text(target: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``target`` atomically."""
    with atomic_open(target, "w", encoding=encoding, newline="") as handle:
        handle.write(text)


def write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_open(target, "wb") as handle:
        handle.write(data)
