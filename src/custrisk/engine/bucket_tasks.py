"""The rows of a source on the Dask engine's workers: :func:`bucket_of` (the stable hash
that sends a row to its bucket), a file read as one partition and split into pieces by
the bucket of its cleaned key, a bucket's pieces cleaned as the pandas engine cleans the
whole source, the kept rows of a source not keyed by the customer split and regrouped
by their customer's bucket, and the folder through which pieces and slices go from task
to task on a local cluster. :mod:`custrisk.engine.partitions` submits these tasks.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from custrisk.config.locations import SourcePart
from custrisk.config.sources import SourcesConfig, SourceSpec
from custrisk.data.clean import clean_source
from custrisk.data.clean_columns import clean_column_values
from custrisk.data.files import read_source_file
from custrisk.data.issues import RejectedKeys
from custrisk.data.known_ids import KnownIds
from custrisk.data.orphans import Orphans
from custrisk.errors import UsageError
from custrisk.io.readers import RawTable

#: How many ids :func:`bucket_of` hashes at a time.
HASH_BLOCK_ROWS = 1 << 18


def bucket_of(ids: pd.Series, buckets: int) -> np.ndarray:
    """The bucket (0 .. buckets-1) of each id: a stable hash of its text, the same in
    every process and run (pandas' SipHash with its fixed key). A missing id goes to
    bucket 0 (such a row belongs to no customer)."""
    if buckets < 1:
        raise UsageError(f"buckets must be 1 or more, not {buckets}")
    if isinstance(ids.dtype, pd.CategoricalDtype):
        categories = ids.cat.categories.to_numpy(dtype=object)
        of_category = pd.util.hash_array(categories.astype(str).astype(object)) % np.uint64(buckets)
        codes = ids.cat.codes.to_numpy()
        out = np.zeros(len(ids), dtype=np.int64)
        present = codes >= 0
        out[present] = of_category[codes[present]].astype(np.int64)
        return out
    out = np.zeros(len(ids), dtype=np.int64)
    # A block of ids at a time: each id as a Python string (hash_array's input) and as
    # fixed-width text on the way costs a few hundred bytes, 10 GB for the 24M
    # transaction ids of one file at 1,000,000 customers (docs/scale.md).
    for start in range(0, len(ids), HASH_BLOCK_ROWS):
        values = ids.iloc[start : start + HASH_BLOCK_ROWS].to_numpy(dtype=object)
        missing = pd.isna(values)
        text = np.where(missing, "", values).astype(str).astype(object)
        block = (pd.util.hash_array(text) % np.uint64(buckets)).astype(np.int64)
        block[missing] = 0
        out[start : start + len(block)] = block
    return out


@dataclass
class Piece:
    """The rows of one partition that go to one bucket, and their positions in it."""

    table: RawTable
    rows: np.ndarray

    def __sizeof__(self) -> int:
        """Its bytes, for Dask's spilling (``dask.sizeof`` measures an object by it)."""
        raw = self.table
        return object.__sizeof__(self) + raw.table.nbytes + raw.lines.nbytes + self.rows.nbytes


def _subset(raw: RawTable, rows: np.ndarray, bad_rows: bool) -> RawTable:
    """The rows of a partition going to one bucket, with the cells of theirs the reader
    blanked (repairs of those rows, listed by the bucket's cleaning), and the rows the
    reader rejected when ``bad_rows`` (they belong to no bucket: all go to one)."""
    lines = raw.lines[rows]
    blanked = raw.blanked
    if blanked:
        ours = np.isin(np.array([cell.line for cell in blanked], dtype=np.int64), lines)
        blanked = [cell for cell, mine in zip(blanked, ours, strict=True) if mine]
    return replace(
        raw,
        table=raw.table.take(pa.array(rows, type=pa.int64())),
        lines=lines,
        bad_rows=list(raw.bad_rows) if bad_rows else [],
        blanked=blanked,
    )


def read_partition(
    spec: SourceSpec,
    part_spec: SourceSpec,
    part: SourcePart | None,
    path: Path,
    cfg: SourcesConfig,
    encoding: str | None,
    split_key: str | None,
    buckets: int,
    date_columns: Sequence[str],
    root: Path,
    folder: str | None = None,
    partition: int = 0,
) -> dict[str, Any]:
    """On a worker: one file read, its rows split by the bucket of their cleaned key,
    and the day counts of its date columns (for the latest credible dates). With
    ``folder`` (a local cluster) each bucket's piece is written to
    ``folder/<bucket>/<partition>.pickle`` for the bucket's cleaning to read, and the
    result holds no pieces."""
    raw = read_source_file(spec, part_spec, part, path, cfg, encoding=encoding, root=root)
    if split_key is None:
        of_row = np.zeros(raw.num_rows, dtype=np.int64)
    else:
        keys, _dropped = clean_column_values(spec, raw, split_key, cfg, table_spec=part_spec)
        of_row = bucket_of(keys, buckets)
        del keys, _dropped
    days: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in date_columns:
        values, dropped = clean_column_values(spec, raw, name, cfg, table_spec=part_spec)
        stamps = values.to_numpy(dtype="datetime64[s]")
        use = ~np.isnat(stamps) & ~dropped
        day = stamps[use].view(np.int64) // 86_400
        days[name] = np.unique(day, return_counts=True)
    order = np.argsort(of_row, kind="stable")
    bounds = np.searchsorted(of_row[order], np.arange(buckets + 1))
    del of_row
    pieces = []
    for b in range(buckets):
        rows = order[bounds[b] : bounds[b + 1]]
        piece = Piece(_subset(raw, rows, bad_rows=b == 0), rows)
        if folder is None:
            pieces.append(piece)
        else:  # written and let go one at a time: not a second copy of the file's rows
            _dump(piece, folder, b, partition)
        del piece
    present = [part_spec.file_columns.get(c, c) for c in raw.table.column_names]
    return {
        "pieces": pieces,
        "present": present,
        "records": raw.records,
        "path": raw.path,
        "days": days,
    }


@dataclass
class Cleaned:
    """One bucket of a source, cleaned: the kept rows (with the partition and position
    each came from) and what the report needs."""

    frame: pd.DataFrame
    origin: np.ndarray  # (kept rows, 2): partition, row in it
    issues: pd.DataFrame
    files: list[str]
    encodings: list[str]
    rows_in: int
    rows_kept: int
    rows_rejected: int
    rows_repaired: int
    warnings: list[str]
    rows_skipped: int = 0
    #: The orphan check's counts and first ids, each first row as its partition and
    #: row in it (:func:`_in_file_order`).
    orphans: Orphans | None = None
    #: Of a bucket of the customer table: its customers none of whose rows was kept
    rejected_keys: RejectedKeys | None = None
    #: The headers its files wrote otherwise than declared (``SourceResult.headers``)
    headers: dict[tuple[str, str], str] = field(default_factory=dict)

    def __sizeof__(self) -> int:
        """Its bytes, for Dask's spilling (``dask.sizeof`` measures an object by it)."""
        frames = (self.frame, self.issues)
        return (
            object.__sizeof__(self)
            + sum(int(f.memory_usage(index=True, deep=True).sum()) for f in frames)
            + self.origin.nbytes
        )


def clean_bucket(
    spec: SourceSpec,
    cfg: SourcesConfig,
    table_specs: list[SourceSpec] | None,
    customer_ids: pd.Series | KnownIds | None,
    rejected_customers: RejectedKeys | None,
    *pieces: Piece,
) -> Cleaned:
    """On a worker: one bucket of a source cleaned as the pandas engine cleans the
    whole source (same rules, the whole source's latest credible dates).

    A bucket checked against every credit id (a source keyed by something else than
    the customer) keeps, in its customer column, only the ids its rows have: the
    column's categories would otherwise be the whole credit table in every bucket
    (and in every slice sent to another worker); the regroup sets them again."""
    tables = [p.table for p in pieces]
    result = clean_source(
        spec,
        tables,
        cfg,
        customer_ids=customer_ids,
        table_specs=table_specs,
        rejected_customers=rejected_customers,
    )
    assert result.kept_rows is not None
    if isinstance(customer_ids, KnownIds) and spec.customer_key in result.frame:
        column = result.frame[spec.customer_key]
        if isinstance(column.dtype, pd.CategoricalDtype):
            result.frame[spec.customer_key] = column.cat.remove_unused_categories()
    partition = np.concatenate(
        [np.full(len(p.rows), i, dtype=np.int64) for i, p in enumerate(pieces)]
    )
    row = np.concatenate([p.rows.astype(np.int64) for p in pieces])
    origin = np.column_stack([partition[result.kept_rows], row[result.kept_rows]])
    orphans = result.orphans
    if orphans is not None:
        at = list(orphans.first_rows)
        orphans = replace(orphans, first_rows=_in_file_order(partition[at], row[at]))
    return Cleaned(
        frame=result.frame,
        origin=origin,
        issues=result.issues,
        files=result.files,
        encodings=result.encodings,
        rows_in=result.rows_in,
        rows_kept=result.rows_kept,
        rows_rejected=result.rows_rejected,
        rows_repaired=result.rows_repaired,
        warnings=result.warnings,
        rows_skipped=result.rows_skipped,
        orphans=orphans,
        rejected_keys=result.rejected_keys,
        headers=result.headers,
    )


def _in_file_order(partitions: np.ndarray, rows: np.ndarray) -> tuple[int, ...]:
    """Rows of partitions as numbers in the order of the source's rows (partition, then
    row), comparable across buckets."""
    return tuple(int(p) << 40 | int(r) for p, r in zip(partitions, rows, strict=True))


def clean_bucket_from_folder(
    folder: str,
    bucket: int,
    partitions: int,
    spec: SourceSpec,
    cfg: SourcesConfig,
    table_specs: list[SourceSpec] | None,
    customer_ids: pd.Series | KnownIds | None,
    rejected_customers: RejectedKeys | None,
    *_read: Any,
) -> Cleaned:
    """:func:`clean_bucket` of the pieces the reads wrote for ``bucket`` (``_read``:
    the reads' results, which make this task wait for them)."""
    pieces = [_load(folder, bucket, partition) for partition in range(partitions)]
    return clean_bucket(spec, cfg, table_specs, customer_ids, rejected_customers, *pieces)


@dataclass
class Slice:
    """The kept rows of one bucket (of another key) whose customers are in one
    customer bucket, and where each came from."""

    frame: pd.DataFrame
    origin: np.ndarray  # (rows, 2): partition, row in it

    def __sizeof__(self) -> int:
        """Its bytes, for Dask's spilling. Dask's own measure of a frame formats each
        categorical column's dtype (its categories) as text, which took longer than
        the regroup itself; the frame's own count does not."""
        return (
            object.__sizeof__(self)
            + int(self.frame.memory_usage(index=True, deep=True).sum())
            + self.origin.nbytes
        )


def split_by_customer(done: Cleaned, customer_key: str, buckets: int) -> list[Slice]:
    """The kept rows of a bucket (of another key) split by their customer's bucket.

    Each slice's customer column keeps only its own ids as categories: a slice is
    pickled (sent to the worker of its customers, or spilled) with its categories, and
    the bucket's ids in every one of ``buckets`` slices would multiply the bytes moved
    by the number of buckets."""
    of_row = bucket_of(done.frame[customer_key], buckets)
    categorical = isinstance(done.frame[customer_key].dtype, pd.CategoricalDtype)
    out = []
    for b in range(buckets):
        rows = np.flatnonzero(of_row == b)
        piece = done.frame.iloc[rows]
        if categorical:
            piece = piece.assign(
                **{customer_key: piece[customer_key].cat.remove_unused_categories()}
            )
        out.append(Slice(piece, done.origin[rows]))
    return out


def split_to_folder(
    done: Cleaned, customer_key: str, buckets: int, folder: str, source_bucket: int
) -> int:
    """:func:`split_by_customer` on a worker of a local cluster: each slice written to
    ``folder/<customer bucket>/<source bucket>.pickle`` for the regroup to read, not
    held (and spilled) by the worker; the rows split."""
    for bucket, one in enumerate(split_by_customer(done, customer_key, buckets)):
        _dump(one, folder, bucket, source_bucket)
    return len(done.frame)


def regroup_from_folder(
    customer_key: str, ids: pd.Series, folder: str, bucket: int, sources: int, *_split: int
) -> Cleaned:
    """:func:`regroup` of the slices :func:`split_to_folder` wrote for ``bucket``
    (``_split``: the splits' results, which make this task wait for them); each slice
    file is removed once read."""
    parts = [_load(folder, bucket, source_bucket) for source_bucket in range(sources)]
    return regroup(customer_key, ids, *parts)


_BUCKET_DIR = "{:05d}"
_FROM_FILE = "{:05d}.pickle"


def _dump(value: Any, folder: str, bucket: int, origin: int) -> None:
    """Write what ``origin`` (a partition, a source bucket) has for ``bucket``."""
    path = Path(folder, _BUCKET_DIR.format(bucket), _FROM_FILE.format(origin))
    with path.open("wb") as handle:
        pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)


def _load(folder: str, bucket: int, origin: int) -> Any:
    """Read back (and remove) what :func:`_dump` wrote."""
    path = Path(folder, _BUCKET_DIR.format(bucket), _FROM_FILE.format(origin))
    with path.open("rb") as handle:
        value = pickle.load(handle)  # noqa: S301 - our own file, written by _dump
    path.unlink()
    return value


def source_folder(shuffle: str, name: str, buckets: int) -> str:
    """A folder for one source's pieces (or slices) on their way to their buckets: a
    folder per bucket in it, a file per partition (or source bucket) in each."""
    folder = Path(shuffle, name)
    folder.mkdir()
    for bucket in range(buckets):
        (folder / _BUCKET_DIR.format(bucket)).mkdir()
    return str(folder)


def regroup(customer_key: str, ids: pd.Series, *parts: Slice) -> Cleaned:
    """On a worker: the rows of one customer bucket gathered from every bucket of
    another key (its slice of each), back in the source's order, the customer column
    over this bucket's credit ids (as a source keyed by the customer has it)."""
    origins = [p.origin for p in parts]
    origin = np.concatenate(origins) if origins else np.empty((0, 2), dtype=np.int64)
    known = KnownIds(ids)
    # The customer column from each slice's codes: concatenating slices whose
    # categories differ would make it text first, hashed again row by row.
    codes = np.concatenate(
        [known.codes(p.frame[customer_key]) for p in parts] or [np.empty(0, dtype=np.int32)]
    )
    columns = list(parts[0].frame.columns)
    frames = [p.frame.drop(columns=customer_key) for p in parts]
    frame = (
        pd.concat(frames, ignore_index=True)
        if len(frames) > 1
        else frames[0].reset_index(drop=True)
    )
    order = np.lexsort((origin[:, 1], origin[:, 0])) if len(origin) else np.empty(0, dtype=np.int64)
    frame = frame.iloc[order].reset_index(drop=True)
    frame.insert(
        columns.index(customer_key),
        customer_key,
        pd.Series(known.column(codes[order])),
    )
    return Cleaned(frame, origin[order], pd.DataFrame(), [], [], 0, 0, 0, 0, [])
