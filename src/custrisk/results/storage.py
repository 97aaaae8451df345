"""A run's tables on disk: each staged (written, or sealed when encrypted) with its entry
in the facts, or read back from its bytes; the output folder's lock and what a killed
writer left in it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from custrisk.errors import DataError
from custrisk.io.atomic import (
    DEFAULT_MODE,
    Sealer,
    ensure_dir,
)
from custrisk.io.digest import sha256_file
from custrisk.io.frame_csv import escaped_csv_bytes, write_escaped_csv
from custrisk.io.lock import exclusive_lock
from custrisk.io.parquet_out import write_parquet
from custrisk.io.safe_csv import READ_ENCODING, unescape_frame
from custrisk.protect.envelope import plain_name
from custrisk.results.layout import LOCK_FILE, STAGE_PREFIX

log = logging.getLogger(__name__)


def remove_leftovers(
    folder: Path, temp_patterns: Iterable[str], *, keep: Iterable[Path] = ()
) -> list[Path]:
    """Remove what a killed writer left in ``folder``: staging folders (but those in
    ``keep``), and temporary files matching ``temp_patterns`` (globs). Call it while
    holding the folder's lock."""
    removed: list[Path] = []
    kept = {Path(k).name for k in keep}
    for stale in folder.glob(f"{STAGE_PREFIX}*"):
        if stale.name in kept:
            continue
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
            removed.append(stale)
    for pattern in temp_patterns:
        for stale in folder.glob(pattern):
            if stale.is_file() or stale.is_symlink():
                stale.unlink(missing_ok=True)
                removed.append(stale)
    for stale in removed:
        log.info("removed %s, left by a run that did not finish", stale)
    return removed


def stage_table(
    frame: pd.DataFrame, path: Path, encoding: str, sealer: Sealer | None
) -> tuple[Path, dict[str, Any]]:
    """Stage one table; the staged path and its entry in the facts (name on disk, SHA-256
    and size of the plaintext: a run has the same run id encrypted or not)."""
    if sealer is not None:  # never a plaintext file: serialise in memory, seal to disk
        buffer = io.BytesIO()
        if path.suffix.lower() == ".csv":
            data = escaped_csv_bytes(frame, encoding)
        else:
            write_parquet(frame, buffer)
            data = buffer.getvalue()
        return stage_bytes(path, data, sealer)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DEFAULT_MODE)
    if path.suffix.lower() == ".csv":
        with open(fd, "wb") as binary:  # noqa: PTH123
            write_escaped_csv(frame, binary, encoding)
    else:
        with open(fd, "wb") as binary:  # noqa: PTH123
            write_parquet(frame, binary)
    return path, {
        "file": path.name,
        "sha256": sha256_file(path, remember=True),
        "bytes": path.stat().st_size,
    }


def stage_bytes(path: Path, data: bytes, sealer: Sealer | None) -> tuple[Path, dict[str, Any]]:
    """Write ``data`` to ``path`` (sealed into ``path.enc`` with a sealer)."""
    target = path.with_name(path.name + sealer.suffix) if sealer is not None else path
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DEFAULT_MODE)
    with os.fdopen(fd, "wb") as handle:
        if sealer is None:
            handle.write(data)
        else:
            sealer.seal(io.BytesIO(data), handle)
    entry = {"file": target.name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    return target, entry


def seal_staged(path: Path, sealer: Sealer | None) -> tuple[Path, dict[str, Any]]:
    """A staged file as it goes into place (sealed and its plaintext removed, with a
    sealer) and its entry in the facts."""
    entry = {
        "file": path.name,
        "sha256": sha256_file(path, remember=True),
        "bytes": path.stat().st_size,
    }
    if sealer is None:
        return path, entry
    target = path.with_name(path.name + sealer.suffix)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DEFAULT_MODE)
    with path.open("rb") as plain, os.fdopen(fd, "wb") as handle:
        sealer.seal(plain, handle)
    path.unlink()
    return target, {**entry, "file": target.name}


@contextlib.contextmanager
def locked_folder(folder: str | os.PathLike[str], temp_patterns: Iterable[str] = ()) -> Any:
    """Hold the lock of an output folder (created 0700) and clear what a killed writer
    left there: for writers of other files into an output folder (e.g. reports)."""
    path = ensure_dir(folder)
    with exclusive_lock(path / LOCK_FILE, what="the output folder") as held:
        remove_leftovers(path, temp_patterns)
        yield held


def table_from_bytes(data: bytes, path: Path, what: str) -> pd.DataFrame:
    try:
        if plain_name(path).suffix.lower() == ".csv":
            frame = pd.read_csv(
                io.BytesIO(data),
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                encoding=READ_ENCODING,
            )
            return unescape_frame(frame)
        table = pq.read_table(pa.BufferReader(data))
        return _blank_as_missing(_with_date_units(table.to_pandas(), table.schema))
    except (ValueError, OSError, UnicodeDecodeError, pa.ArrowException) as exc:
        raise DataError(f"cannot read the {what}: {exc}", file=str(path)) from None


def _with_date_units(frame: pd.DataFrame, schema: pa.Schema) -> pd.DataFrame:
    """Dates in the unit the written frame had (``datetime64[s]``, as read from the
    exports): Parquet has no seconds, and Arrow gives back the milliseconds it stored;
    the unit is in the file's pandas metadata."""
    for column in (schema.pandas_metadata or {}).get("columns", ()):
        name, unit = column.get("name"), str(column.get("numpy_type") or "")
        if (
            column.get("pandas_type") == "datetime"
            and unit.startswith("datetime64[")
            and name in frame.columns
            and pd.api.types.is_datetime64_dtype(frame[name].dtype)
            and str(frame[name].dtype) != unit
        ):
            frame[name] = frame[name].astype(unit)
    return frame


def _blank_as_missing(frame: pd.DataFrame) -> pd.DataFrame:
    """An empty text as missing, as a CSV table reads it: the same run read back from
    Parquet or from CSV gives the same values (a customer without an alert had
    ``alert_level`` ``''`` from one and missing from the other)."""
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_string_dtype(column.dtype) and not isinstance(
            column.dtype, pd.CategoricalDtype
        ):
            blank = column.eq("").fillna(False).to_numpy(dtype=bool)
            if blank.any():
                frame[name] = column.mask(blank)
    return frame
