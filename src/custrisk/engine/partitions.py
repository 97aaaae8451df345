"""The Dask engine's reading and cleaning: each file of a source read on a worker as
one partition, its rows sent to buckets by a cleaned key, each bucket cleaned on a
worker with :func:`custrisk.data.clean.clean_source` — the kept rows and the rejects
are the pandas engine's (:func:`custrisk.data.load_workspace`).

Every rule across rows gets the whole source's answer:

- **Duplicates (exact rows, keys, id collisions)**: the rows of a source go to a bucket
  by a stable hash of their *cleaned* key (:func:`custrisk.data.clean_columns.clean_column_values`,
  the value the cleaner gives the row; the customer id for credit, ``txn_id`` for
  transactions...). Rows sharing a cleaned key — exact copies, repeated keys, different
  ids that normalise to one — are in one bucket, in the source's order (file, then
  row), so ``keep_first``/``keep_last``/``reject_all`` decide as over the whole source.
- **The latest credible date of each date column** (``dates.ahead_of: data``) is a
  reduction: each partition counts its days per column, the counts are summed and the
  latest credible date found from them once
  (:func:`custrisk.data.dates.credible_range_of_counts`), then handed to every bucket.
- **Orphans**: a bucket of a source keyed by something else than the customer checks its
  customer ids against every kept credit id; a bucket of a source keyed by the
  customer against its own bucket's credit ids (the same hash puts a customer's credit
  row in the same bucket).
- **Counts, rules, warnings, files**: rows in = kept + rejected + skipped, summed over buckets;
  the rejects of every bucket sorted by file and line, as the pandas engine sorts them.

Then the kept rows of a source not keyed by customer are regrouped by the bucket of
their customer (every row of a customer in its customer's bucket, in the source's
order), so indicators can be computed bucket by bucket.

This module plans the tasks from the client and holds the workspace in buckets; the
tasks that read, clean, split and regroup the rows on the workers are in
:mod:`custrisk.engine.bucket_tasks`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from custrisk.config.sources import CUSTOMER_SOURCE, SourcesConfig, SourceSpec, load_sources_config
from custrisk.data import Workspace
from custrisk.data.clean import SourceResult
from custrisk.data.dates import credible_range_of_counts
from custrisk.data.files import no_files, source_files, stand_in_note
from custrisk.data.issues import ISSUE_COLUMNS, RejectedKeys, with_values_typed
from custrisk.data.known_ids import KnownIds
from custrisk.data.orphans import Mismatch, Orphans, check_orphans, mismatch_of
from custrisk.data.validation import ValidationReport, source_report
from custrisk.data.workspace import file_as_source, is_one_file, pseudonymise_workspace
from custrisk.engine.bucket_tasks import (
    Cleaned,
    Piece,
    Slice,
    clean_bucket,
    clean_bucket_from_folder,
    read_partition,
    regroup,
    regroup_from_folder,
    source_folder,
    split_by_customer,
    split_to_folder,
)
from custrisk.engine.cluster import ShuffleFolder, dask_client, shared
from custrisk.errors import DataError, UsageError

if TYPE_CHECKING:
    from distributed import Client, Future

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: The column that holds the customer id in every source that has one.
CUSTOMER_ID = "customer_id"

#: A bucket's share of the exports, at most, as a part of a worker's memory limit: a
#: bucket's rows are held cleaned, and cleaned and computed again, several times their
#: size on disk (measured in docs/scale.md).
BUCKET_SHARE_OF_MEMORY = 1 / 64
#: Bytes in memory per byte on disk of a compressed, typed file, against a CSV's.
_COMPRESSED = {".parquet": 4, ".pq": 4, ".xlsx": 4}


def _input_bytes(path: Path) -> int:
    """A partition's size for sizing buckets: its bytes on disk, a compressed format's
    counted as what it would be as CSV."""
    try:
        size = path.stat().st_size
    except OSError:
        return 0
    return size * _COMPRESSED.get(path.suffix.lower(), 1)


def default_buckets(client: Client, input_bytes: int) -> int:
    """The buckets for exports of ``input_bytes`` on ``client``'s cluster: twice its
    workers, or more when the exports are large for the workers' memory, so that a
    bucket's share of them is at most :data:`BUCKET_SHARE_OF_MEMORY` of the smallest
    worker's memory limit (workers without a limit: twice the workers)."""
    workers = client.scheduler_info().get("workers", {}).values()
    count = max(1, 2 * len(workers))
    limits = [int(w.get("memory_limit") or 0) for w in workers]
    if limits and min(limits) > 0:
        need = -(-input_bytes // int(min(limits) * BUCKET_SHARE_OF_MEMORY))
        if need > count:
            log.info(
                "dask engine: %d buckets for %.1f MB of exports (a worker's memory limit "
                "%.1f MB); --buckets sets another number",
                need,
                input_bytes / 1e6,
                min(limits) / 1e6,
            )
            count = need
    return count


def _ids_of(done: Cleaned) -> pd.Series:
    return done.frame[CUSTOMER_ID]


def _all_ids(*parts: pd.Series) -> KnownIds:
    """Every kept credit id, for the orphan check of the buckets of a source keyed by
    something else than the customer (prepared once per worker)."""
    ids = pd.concat(parts, ignore_index=True) if parts else pd.Series([], dtype="str")
    # compact: a bucket's customer column over its own ids (the regroup sets them again)
    return KnownIds(ids, compact=True)


def _not_kept(rejected: RejectedKeys, kept: KnownIds) -> RejectedKeys:
    """The rejected customers of the buckets that no bucket kept: a line the reader could
    not read goes to the first bucket, the customer's other rows to its own."""
    if not len(rejected):
        return rejected
    positions = kept.positions(pa.array(rejected.ids.tolist(), type=pa.large_string()))
    return rejected.without(positions >= 0)


def _summary(done: Cleaned) -> Cleaned:
    """A bucket's result without its rows (what the client needs for the report).

    A frame without rows still holds each categorical column's categories: a bucket
    of transactions holds about 500,000 customer ids at 5,000,000 customers, 7 MB in
    every summary. Every worker sent them to the client at once and passed 95 % of its
    3GB limit (docs/scale.md), so the summary's categories are emptied."""
    empty = done.frame.iloc[:0].copy()
    for name, column in empty.items():
        if isinstance(column.dtype, pd.CategoricalDtype):
            empty[name] = column.cat.remove_unused_categories()
    return replace(done, frame=empty, origin=done.origin[:0])


def _slice(split: list[Slice], bucket: int) -> Slice:
    """One customer bucket's slice of a split (a task of its own, so that the worker
    regrouping a bucket receives that bucket's slices only, not every split whole)."""
    return split[bucket]


def _shuffle_folder(client: Client) -> ShuffleFolder | None:
    """A folder for the pieces and slices that go from task to task, when every worker
    is a process of a local cluster started here (they share this machine's disk);
    ``None`` for a cluster given by its scheduler, whose workers may be elsewhere (they
    then go from worker to worker as task results)."""
    from distributed import LocalCluster

    if not isinstance(getattr(client, "cluster", None), LocalCluster):
        return None
    return ShuffleFolder()


# --- the workspace in buckets ----------------------------------------------------------


@dataclass
class BucketedWorkspace:
    """A workspace read and cleaned on a cluster: its report and rejects on the client,
    its kept rows in buckets on the workers (``frames[b][source]``: a future of a
    :class:`Cleaned` holding the rows of bucket ``b``'s customers, in order)."""

    data_dir: Path
    config: SourcesConfig
    report: ValidationReport
    rejects: pd.DataFrame
    missing_columns: dict[str, tuple[str, ...]]
    buckets: int
    frames: list[dict[str, Future]] = field(default_factory=list)
    #: The local folder the buckets' rows went through (removed with the workspace).
    scratch: Any = field(default=None, repr=False)

    def workspace(
        self, client: Client | None = None, *, sources: Sequence[str] | None = None
    ) -> Workspace:
        """The :class:`Workspace` of :func:`custrisk.data.load_workspace`: without
        frames, or with every kept row gathered to the client (``client`` given), in
        the pandas engine's order and dtypes; with ``sources``, only the rows of those
        (and of credit, which orders the others)."""
        frames: dict[str, pd.DataFrame] = {}
        if client is not None:
            for name in self.frames[0] if self.frames else {}:
                if sources is not None and name != CUSTOMER_SOURCE and name not in sources:
                    continue
                done = client.gather([bucket[name] for bucket in self.frames])
                frames[name] = _whole(name, done, self.config, frames.get(CUSTOMER_SOURCE))
        workspace = Workspace(
            self.data_dir, self.config, frames, self.report, self.rejects, self.missing_columns
        )
        return pseudonymise_workspace(workspace)


def _whole(
    name: str, done: list[Cleaned], cfg: SourcesConfig, credit: pd.DataFrame | None
) -> pd.DataFrame:
    """The buckets of a source as one frame, in the source's order, with the dtypes the
    pandas engine gives it (categories united and sorted; the customer column over the
    credit table's ids)."""
    frames = [d.frame for d in done]
    origin = np.concatenate([d.origin for d in done])
    whole = pd.concat(frames, ignore_index=True)
    for column in frames[0].columns:
        parts = [f[column] for f in frames]
        if not isinstance(parts[0].dtype, pd.CategoricalDtype):
            continue
        values = np.concatenate([p.astype(object).to_numpy() for p in parts])
        spec = cfg.sources[name]
        if column == spec.customer_key and credit is not None and name != CUSTOMER_SOURCE:
            categories = pd.Index(credit[CUSTOMER_ID].dropna().to_numpy(dtype=object), dtype="str")
        else:
            union = sorted({str(c) for p in parts for c in p.cat.categories})
            categories = pd.Index(np.asarray(union, dtype=object), dtype="str")
        whole[column] = pd.Categorical(values, categories=categories)
    order = np.lexsort((origin[:, 1], origin[:, 0])) if len(origin) else np.empty(0, dtype=np.int64)
    return whole.iloc[order].reset_index(drop=True)


def _date_columns(spec: SourceSpec) -> list[str]:
    """The date columns whose upper limit comes from the data (a reduction)."""
    dates = spec.dates
    if dates.days_ahead is None or dates.ahead_of != "data":
        return []
    return [c.name for c in spec.columns if c.type == "date"]


def load_workspace_dask(
    data_dir: PathLike,
    client: Client,
    *,
    config: SourcesConfig | PathLike | None = None,
    encoding: str | None = None,
    buckets: int | None = None,
) -> BucketedWorkspace:
    """:func:`custrisk.data.load_workspace` on a Dask cluster: each file (partition) of
    each source read and split on a worker, each bucket cleaned on a worker; the same
    report and rejects, and the kept rows left on the workers in buckets by customer.

    A source's files are its partitions: a glob of CSV or Parquet files
    (``transactions-*.csv``), or a folder dataset in the place of the file
    (``transactions/part-*.parquet``, hive-partitioned folders included). ``data_dir``
    may be one table file, read with a config of one source
    (:func:`custrisk.data.workspace.file_as_source`), as by ``load_workspace``.
    """
    shown = Path(data_dir)  # (the report names the file, as load_workspace's does)
    if is_one_file(data_dir):
        data_dir, config = file_as_source(Path(data_dir), config)
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(
            "data folder not found",
            file=str(root),
            hint="pass the folder holding credit.csv and the other exports",
        )
    cfg = config if isinstance(config, SourcesConfig) else load_sources_config(config)
    wanted = sorted(cfg.sources, key=lambda name: name != CUSTOMER_SOURCE)
    for name in wanted:
        if cfg.sources[name].query is not None:
            raise UsageError(
                f"sources.{name}.query: the dask engine reads files only, not a database query",
                hint="export the table as Parquet files, or use --engine pandas",
            )
    partitions = {name: source_files(root, cfg.sources[name]) for name in wanted}
    count = buckets or default_buckets(
        client, sum(_input_bytes(path) for found in partitions.values() for *_, path in found)
    )
    customers = cfg.sources.get(CUSTOMER_SOURCE)
    if customers is not None and customers.row_number is not None:
        # A table without an id column (one file, its rows' line numbers the ids): one
        # bucket, so that a row copied further down meets the row it copies (their line
        # numbers differ) and is rejected as by the pandas engine.
        count = 1
    shared_cfg = shared(client, cfg)
    reports: dict[str, Any] = {}
    absent: list[str] = []
    missing_columns: dict[str, tuple[str, ...]] = {}
    issues: list[pd.DataFrame] = []
    per_bucket: list[dict[str, Future]] = [{} for _ in range(count)]
    credit_ids: list[Future] = []
    every_credit_id: Future | None = None
    rejected_customers: Future | None = None  # (their rows: customer_rejected)
    # Where pieces and slices go from task to task on a local cluster (None: elsewhere,
    # as task results): no task taking one piece of a result the worker spilled whole.
    scratch = _shuffle_folder(client)
    for name in wanted:
        spec = cfg.sources[name]
        found = partitions.pop(name)
        if not found:
            no_files(name, spec, root, cfg)
            absent.append(name)
            continue
        if spec.row_number is not None and len(found) > 1:
            raise DataError(
                f"sources.{spec.name}.row_number: {len(found)} files match '{spec.file}'; row "
                "numbers identify rows of one file only",
                file=str(found[0][2]),
                hint=f"export one file, or add an id column and drop row_number in {cfg.path}",
            )
        by_customer = spec.customer_key is not None and spec.key in (None, spec.customer_key)
        split_key = spec.key or spec.customer_key
        dates = _date_columns(spec)
        pieces_folder = (
            None if scratch is None else source_folder(scratch.path, f"{name}.read", count)
        )
        read = [
            client.submit(
                read_partition,
                spec,
                part_spec,
                part,
                path,
                shared_cfg,
                encoding,
                split_key,
                count,
                dates,
                root,
                pieces_folder,
                index,
                pure=False,
            )
            for index, (part_spec, part, path) in enumerate(found)
        ]
        metas = client.gather([client.submit(_meta, r, pure=False) for r in read])
        present = {c for m in metas for c in m["present"]}
        missing = tuple(c for c in spec.column_names if c not in present)
        if missing:
            missing_columns[name] = missing
        records = sum(m["records"] for m in metas)
        if records < spec.min_rows:
            what = (
                "has a header but no data rows"
                if records == 0
                else (f"has {records} data rows, fewer than min_rows={spec.min_rows}")
            )
            raise DataError(
                what,
                file=str(metas[0]["path"]),
                hint=f"export the {name} table again with its rows",
            )
        latest = []
        for column in dates:
            days = np.concatenate([m["days"][column][0] for m in metas])
            counts = np.concatenate([m["days"][column][1] for m in metas])
            distinct, inverse = np.unique(days, return_inverse=True)
            found_range = credible_range_of_counts(
                distinct,
                np.bincount(inverse, weights=counts).astype(np.int64),
                spec.dates.days_ahead or 0,
            )
            if found_range is not None:
                latest.append((column, found_range.latest))
        clean_spec = replace(spec, dates=replace(spec.dates, latest=tuple(latest)))
        table_specs = [part_spec for part_spec, _part, _path in found] if spec.parts else None
        pieces = (
            []
            if pieces_folder is not None
            else [[client.submit(_piece, r, b, pure=False) for b in range(count)] for r in read]
        )
        # As task results (no folder): each read partition is released once its pieces
        # are taken from it, and each piece once its bucket is cleaned; held here, the
        # source would stay on the workers twice over until its last bucket is cleaned.
        cleaned = []
        for b in range(count):
            if name == CUSTOMER_SOURCE or not spec.customer_key:
                ids = None
            elif by_customer:
                ids = credit_ids[b]
            else:
                ids = every_credit_id
            options = (clean_spec, shared_cfg, table_specs, ids, rejected_customers)
            if pieces_folder is not None:  # each bucket's pieces written by the reads
                arguments: tuple[Any, ...] = (pieces_folder, b, len(found), *options, *read)
                cleaned.append(client.submit(clean_bucket_from_folder, *arguments, pure=False))
            else:
                arguments = (*options, *[p[b] for p in pieces])
                cleaned.append(client.submit(clean_bucket, *arguments, pure=False))
        del read, pieces
        summaries: list[Cleaned] = client.gather(
            [client.submit(_summary, c, pure=False) for c in cleaned]
        )
        if name == CUSTOMER_SOURCE:
            credit_ids = [client.submit(_ids_of, c, pure=False) for c in cleaned]
            every_credit_id = client.submit(_all_ids, *credit_ids, pure=False)
        if by_customer or name == CUSTOMER_SOURCE or not spec.customer_key:
            for b in range(count):
                per_bucket[b][name] = cleaned[b]
        else:
            assert spec.customer_key is not None
            if scratch is not None:
                # B splits writing B slices each to a folder, B regroups reading theirs:
                # no B x B slice tasks, and no split held (or spilled and read back
                # whole for each of its slices) by a worker.
                folder = source_folder(scratch.path, name, count)
                written = [
                    client.submit(
                        split_to_folder, c, spec.customer_key, count, folder, b, pure=False
                    )
                    for b, c in enumerate(cleaned)
                ]
                cleaned = []
                for b in range(count):
                    per_bucket[b][name] = client.submit(
                        regroup_from_folder,
                        spec.customer_key,
                        credit_ids[b],
                        folder,
                        b,
                        count,
                        *written,
                        pure=False,
                    )
                del written
            else:
                split = [
                    client.submit(split_by_customer, c, spec.customer_key, count, pure=False)
                    for c in cleaned
                ]
                slices = [
                    [client.submit(_slice, one, b, pure=False) for b in range(count)]
                    for one in split
                ]
                del split  # each split is released once its slices are computed
                cleaned = []  # and each bucket of the other key once it is split
                for b in range(count):
                    per_bucket[b][name] = client.submit(
                        regroup,
                        spec.customer_key,
                        credit_ids[b],
                        *[one[b] for one in slices],
                        pure=False,
                    )
                del slices
        result = _merged(name, summaries)
        if name == CUSTOMER_SOURCE:
            assert every_credit_id is not None
            merged = RejectedKeys.merged([s.rejected_keys for s in summaries if s.rejected_keys])
            result.rejected_keys = client.submit(
                _not_kept, merged, every_credit_id, pure=False
            ).result()
            rejected_customers = shared(client, result.rejected_keys)
        if every_credit_id is not None and name != CUSTOMER_SOURCE:
            check_orphans(
                spec,
                cfg,
                result.files,
                result.orphans,
                reports[CUSTOMER_SOURCE].files,
                reports[CUSTOMER_SOURCE].rows_kept,
                partial(_mismatch_on, client, every_credit_id, name),
            )
        # As the pandas engine notes it: a source read from credit.parquet for credit.csv,
        # say (the validation report and its warnings are that engine's, byte for byte).
        by_pattern: dict[str, list[Path]] = {}
        for part_spec, _part, path in found:  # (a files: entry's own pattern each)
            by_pattern.setdefault(part_spec.file, []).append(path)
        for pattern, paths in by_pattern.items():
            if note := stand_in_note(pattern, root, paths):
                result.warnings.append(note)
        if spec.parts and missing:
            result.warnings.append(
                f"column(s) no file of {spec.file} has, left blank: {', '.join(missing)}"
            )
        reports[name] = source_report(result, spec)
        if len(result.issues):
            issues.append(result.issues.sort_values(["file", "line"], kind="stable"))
        log.info(
            "source %s: %d rows in, %d kept, %d rejected, %d repaired (%d partitions, %d buckets)",
            name,
            result.rows_in,
            result.rows_kept,
            result.rows_rejected,
            result.rows_repaired,
            len(found),
            count,
        )
    report = ValidationReport(
        data_dir=str(shown), config=cfg.path, sources=reports, absent=tuple(absent)
    )
    rejects = (
        pd.concat(issues, ignore_index=True)
        if issues
        else pd.DataFrame({c: pd.Series(dtype="object") for c in ISSUE_COLUMNS})
    )
    return BucketedWorkspace(
        root, cfg, report, rejects, missing_columns, count, per_bucket, scratch=scratch
    )


def _mismatch_on(client: Client, known: Future, source: str, ids: Sequence[str]) -> Mismatch:
    """:func:`custrisk.data.orphans.mismatch_of` on the worker holding the credit ids."""
    found: Mismatch = client.submit(_mismatch_among, known, ids, source, pure=False).result()
    return found


def _mismatch_among(known: KnownIds, ids: Sequence[str], source: str) -> Mismatch:
    return mismatch_of(known.arrow, ids, source)


def _meta(read: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in read.items() if k != "pieces"}


def _piece(read: dict[str, Any], bucket: int) -> Piece:
    piece: Piece = read["pieces"][bucket]
    return piece


def _merged(name: str, summaries: list[Cleaned]) -> SourceResult:
    """The buckets' counts and rejects as one source's (files, encodings and warnings
    are every bucket's: each sees every partition, bucket 0 with its unreadable rows)."""
    first = summaries[0]
    found = [s.issues for s in summaries if len(s.issues)]
    issues = (
        pd.concat(found, ignore_index=True)
        if found
        else pd.DataFrame({c: pd.Series(dtype="object") for c in ISSUE_COLUMNS})
    )
    if len(found) > 1:
        # The shown values as the whole source's would be typed: a bucket's inference
        # saw only its own values.
        issues = with_values_typed(issues)
    return SourceResult(
        name=name,
        frame=first.frame,
        issues=issues,
        files=first.files,
        encodings=first.encodings,
        rows_in=sum(s.rows_in for s in summaries),
        rows_kept=sum(s.rows_kept for s in summaries),
        rows_rejected=sum(s.rows_rejected for s in summaries),
        rows_repaired=sum(s.rows_repaired for s in summaries),
        warnings=list(first.warnings),
        rows_skipped=sum(s.rows_skipped for s in summaries),
        headers=dict(first.headers),
        orphans=(
            Orphans.merged([s.orphans for s in summaries if s.orphans is not None])
            if first.orphans is not None
            else None
        ),
    )


def validate_dask(
    data_dir: PathLike,
    *,
    client: Client | None = None,
    scheduler: str | None = None,
    buckets: int | None = None,
    memory_limit: str | None = None,
    config: SourcesConfig | PathLike | None = None,
    encoding: str | None = None,
) -> Workspace:
    """What ``custrisk validate --engine dask`` checks: the workspace of
    :func:`load_workspace_dask` with its report and rejects (the pandas engine's) and
    no frames, on ``client``, the scheduler at ``scheduler`` or a local cluster
    (``memory_limit`` each worker, e.g. ``2GB``). ``data_dir`` may be one table file,
    read with a config of one source (:func:`custrisk.data.workspace.file_as_source`)."""
    if client is not None:
        return load_workspace_dask(
            data_dir, client, config=config, encoding=encoding, buckets=buckets
        ).workspace()
    with dask_client(scheduler, memory_limit=memory_limit) as own:
        return load_workspace_dask(
            data_dir, own, config=config, encoding=encoding, buckets=buckets
        ).workspace()


__all__ = [
    "BucketedWorkspace",
    "load_workspace_dask",
    "validate_dask",
]
