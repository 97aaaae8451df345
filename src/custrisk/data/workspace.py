"""A workspace: the monthly exports of one DATA_DIR, loaded, validated and cleaned
(:func:`load_workspace`), pseudonymised when asked, and its validation written. Its files
are found and read by :mod:`custrisk.data.files`, its report made by
:mod:`custrisk.data.validation`, its rejects shown by :mod:`custrisk.data.rejects`."""

from __future__ import annotations

import glob
import json
import logging
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from custrisk.config.locations import SourcePart
from custrisk.config.sources import CUSTOMER_SOURCE, SourcesConfig, SourceSpec, load_sources_config
from custrisk.data.clean import SourceResult, clean_source
from custrisk.data.erased import drop_erased
from custrisk.data.files import (
    no_files,
    number_rows,
    read_options,
    read_part,
    source_files,
    stand_in_note,
)
from custrisk.data.issues import ISSUE_COLUMNS, RejectedKeys
from custrisk.data.known_ids import KnownIds
from custrisk.data.orphans import check_orphans, mismatch_of
from custrisk.data.rejects import (
    REJECTS_FILE,
    REJECTS_FORMATS,
    REJECTS_WORKBOOK,
    column_masker,
    mask_fields,
    mask_rejects,
    rejects_to_write,
)
from custrisk.data.validation import REPORT_FILE, ValidationReport, source_report
from custrisk.errors import DataError
from custrisk.io.atomic import atomic_path, ensure_dir, output_path
from custrisk.io.encoding import cancel_scans_ahead
from custrisk.io.excel import layout_sheet, split_sheet
from custrisk.io.excel_out import Sheet, write_workbook
from custrisk.io.memory import release_memory
from custrisk.io.plain import brief_repr, path_argument
from custrisk.io.readers import scan_before_reading
from custrisk.io.safe_csv import write_csv
from custrisk.io.sql import Databases, PlannedQuery, bound_month, read_query
from custrisk.privacy import mask_pii_text
from custrisk.protect.pseudonym import active_pseudonymiser
from custrisk.protect.roles import CLEAR_PII, require

log = logging.getLogger(__name__)


@dataclass
class Workspace:
    """Cleaned frames (canonical columns, typed) with their validation report and rejects."""

    __repr__ = brief_repr  # a notebook prints it: sizes, never the tables' cells

    data_dir: Path
    config: SourcesConfig
    frames: dict[str, pd.DataFrame]
    report: ValidationReport
    rejects: pd.DataFrame = field(repr=False)
    # declared columns that no file of the source has (left blank in ``frames``)
    missing_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __sizeof__(self) -> int:
        """The bytes of its frames and rejects: what Dask counts (``dask.sizeof``) to
        spill a workspace a worker holds to disk past its memory limit."""
        frames = [*self.frames.values(), self.rejects]
        return object.__sizeof__(self) + sum(
            int(frame.memory_usage(index=True, deep=True).sum()) for frame in frames
        )

    def customers_only(self) -> Workspace:
        """The workspace with the customer table as its only frame (report, rejects and
        missing columns unchanged): what scoring holds on to once the indicators are
        computed, rather than millions of events nothing reads any more."""
        frames = {n: f for n, f in self.frames.items() if n == CUSTOMER_SOURCE}
        return replace(self, frames=frames)

    def without_keys(self, keep: Mapping[str, Collection[str]] | None = None) -> Workspace:
        """The workspace without the key column of each source other than the customer
        table (txn_id, event_id), except a key named in ``keep[source]``: the key tells
        rows apart while cleaning and in the rejects, and afterwards only takes room (the
        transaction ids are the largest column of a month's exports)."""
        frames = {}
        for name, frame in self.frames.items():
            key = self.config.sources[name].key if name in self.config.sources else None
            drop = (
                name != CUSTOMER_SOURCE
                and key is not None
                and key in frame.columns
                and key not in (keep or {}).get(name, ())
                and key not in self.missing_columns.get(name, ())
            )
            frames[name] = frame.drop(columns=[key]) if drop else frame
        return replace(self, frames=frames)

    def present_frames(self) -> dict[str, pd.DataFrame]:
        """The frames without the columns that no file has: what the exports hold, so
        that whatever needs such a column can say it is missing rather than blank."""
        return {
            name: frame.drop(columns=list(self.missing_columns.get(name, ())))
            for name, frame in self.frames.items()
        }

    def write_validation(
        self,
        out_dir: str | os.PathLike[str],
        *,
        csv_encoding: str | None = None,
        rejects_format: str = "csv",
    ) -> tuple[Path, Path]:
        """Write ``rejects.csv`` (or ``rejects.xlsx``; personal data masked) and
        ``validation_report.json`` into ``out_dir`` (created with mode 0700), atomically."""
        if rejects_format not in REJECTS_FORMATS:
            raise ValueError(f"rejects_format must be one of {REJECTS_FORMATS}")
        out_dir = ensure_dir(out_dir)
        rejects_name = REJECTS_WORKBOOK if rejects_format == "xlsx" else REJECTS_FILE
        rejects_path, report_path = out_dir / rejects_name, out_dir / REPORT_FILE
        with atomic_path(report_path) as tmp_report:
            tmp_report.write_text(
                json.dumps(self.report.to_dict(), ensure_ascii=False, indent=2) + "\n",
                encoding="utf-8",
            )
            if rejects_format == "xlsx":
                rejects = rejects_to_write(
                    self.rejects, self.config, written=self.report.written_headers
                )
                write_workbook(rejects_path, [Sheet("rejects", rejects, kinds={"line": "count"})])
            else:
                self.write_rejects(rejects_path, csv_encoding=csv_encoding)
        return output_path(rejects_path), output_path(report_path)

    def write_rejects(
        self,
        path: str | os.PathLike[str],
        *,
        masked: bool = True,
        csv_encoding: str | None = None,
    ) -> Path:
        """Write the rejected and repaired rows to ``path`` (CSV, mode 0600), atomically.

        Parameters
        ----------
        path : str or path-like
            The CSV file.
        masked : bool
            Mask the values of the columns flagged ``pii`` in the sources config (and
            every field of a whole-row value of a source that has such columns). Only
            pass ``False`` for a file the user asked for by name.
        csv_encoding : {"utf-8-sig", "utf-8"}, optional
            UTF-8 with a BOM (the default) or without.
        """
        if not masked:  # personal data in clear: only for a role with that right
            require(CLEAR_PII, f"write personal data in clear to {path}")
        rejects = rejects_to_write(
            self.rejects, self.config, masked=masked, written=self.report.written_headers
        )
        return write_csv(rejects, path, encoding=csv_encoding)


def is_one_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names one file (or a sheet of a workbook, ``book.xlsx#Sheet``)
    rather than a folder of exports."""
    return split_sheet(path)[0].is_file()


def file_as_source(
    path: Path, config: SourcesConfig | str | os.PathLike[str] | None
) -> tuple[Path, SourcesConfig]:
    """The folder and sources config to read one table file with: a config of one source
    (a flat table's, as ``custrisk init TABLE`` proposes it) reads ``path`` whatever
    file it names, so that next month's table is checked with this month's layout (and
    not this month's file again, found in the same folder).

    Raises
    ------
    DataError
        No config of one source is given (a folder of exports is passed as a folder).
    """
    path, sheet = split_sheet(path)  # book.xlsx#Sheet: that sheet
    cfg = (
        None
        if config is None
        else (config if isinstance(config, SourcesConfig) else load_sources_config(config))
    )
    if cfg is None or len(cfg.sources) != 1:
        raise DataError(
            "a file, not a folder of exports"
            + ("" if cfg is None else f", and its sources config has {len(cfg.sources)} sources"),
            file=str(path),
            hint="for one table, pass the sources config custrisk init proposes for it "
            f"(custrisk init {path.name} --out configs/; then custrisk validate {path.name} "
            f"--config configs/sources.yaml, or custrisk indicators {path.name} --sources "
            "configs/sources.yaml --config configs/indicators.yaml); for exports, pass "
            f"their folder ({path.parent})",
        )
    ((name, spec),) = cfg.sources.items()
    if spec.query is not None or spec.parts:
        raise DataError(
            f"a file, and source {name!r} of the sources config reads "
            + ("a query" if spec.query is not None else "several files (files:)"),
            file=str(path),
            hint=f"pass the folder of its files ({path.parent})",
        )
    sheet = sheet or layout_sheet(path, spec.sheet, spec.headers)
    spec = replace(spec, file=glob.escape(path.name), sheet=sheet)
    return path.parent, replace(cfg, sources=MappingProxyType({name: spec}))


def load_workspace(
    data_dir: str | os.PathLike[str],
    *,
    config: SourcesConfig | str | os.PathLike[str] | None = None,
    encoding: str | None = None,
    sources: tuple[str, ...] | None = None,
) -> Workspace:
    """Load, validate and clean the exports in ``data_dir``.

    Parameters
    ----------
    data_dir
        Folder holding the exports named in the sources config (that need not exist
        when every source is a database query), or one table file read with a config
        of one source (:func:`file_as_source`).
    config
        A loaded :class:`SourcesConfig`, a path to a sources YAML, or ``None`` for the
        packaged default.
    encoding
        Force this text encoding instead of detecting it (BOM, UTF-8, GB18030).
    sources
        Only these sources (default: all declared). The credit source is always loaded.

    Raises
    ------
    DataError
        A missing folder or required file, a missing required column, an undecodable
        file, or too few rows: the input is unusable (exit code 2).
    """
    data_dir = shown = path_argument(
        data_dir, "data_dir", hint="pass the folder of exports or a table file"
    )
    if is_one_file(data_dir):  # one table, read with a config of one source
        data_dir, config = file_as_source(data_dir, config)
    cfg = config if isinstance(config, SourcesConfig) else load_sources_config(config)
    wanted = [
        name
        for name in cfg.sources
        if sources is None or name in sources or name == CUSTOMER_SOURCE
    ]
    # (sources that are all database queries read no folder: it need not exist)
    if not data_dir.is_dir() and any(cfg.sources[name].query is None for name in wanted):
        raise DataError(
            "data folder not found",
            file=str(data_dir),
            hint="pass the folder holding credit.csv and the other exports",
        )
    # Credit first: its ids decide which rows of other sources are orphans.
    wanted.sort(key=lambda name: name != CUSTOMER_SOURCE)
    results: dict[str, SourceResult] = {}
    absent: list[str] = []
    missing_columns: dict[str, tuple[str, ...]] = {}
    customer_ids: KnownIds | None = None  # prepared once for every linked source
    rejected_customers: RejectedKeys | None = None  # (their rows: customer_rejected)
    files = _FilesOf(data_dir, cfg)
    # the queries of one database URL read in one transaction: one moment of the database
    databases = Databases(
        [
            PlannedQuery(name, spec.url, spec.query, spec.query_timeout)
            for name in wanted
            if (spec := cfg.sources[name]).query is not None and spec.url is not None
        ]
    )
    try:
        for position, name in enumerate(wanted):
            spec = cfg.sources[name]
            # (spec of the file entry, part, path): one entry, or each of files: in order
            found = files(name)
            if spec.query is None and not found:
                no_files(name, spec, data_dir, cfg)
                absent.append(name)
                continue
            options = read_options(spec, cfg)
            table_specs: list[SourceSpec] = [spec]
            if spec.query is not None and spec.url is not None:
                tables = [
                    read_query(
                        spec.query,
                        spec.url,
                        source=name,
                        columns=options["columns"],
                        typed=options["typed"],
                        date_columns=options["date_columns"],
                        timeout=spec.query_timeout,
                        databases=databases,
                    )
                ]
            else:
                tables = []
                table_specs = []
                for part_spec, part, path in found:
                    tables.append(read_part(part_spec, part, path, cfg, encoding, data_dir))
                    table_specs.append(part_spec)
                    release_memory()  # the reader's own buffers, before the cleaning's
            if spec.row_number is not None:
                number_rows(spec, tables, cfg)
            for table, table_spec in zip(tables, table_specs, strict=True):
                drop_erased(spec, table_spec, table)  # (customers custrisk forget erased)
            present = {
                table_spec.file_columns.get(c, c)
                for t, table_spec in zip(tables, table_specs, strict=True)
                for c in t.table.column_names
            }
            missing = tuple(c for c in spec.column_names if c not in present)
            if missing:
                missing_columns[name] = missing
            records = sum(t.records for t in tables)
            if records < spec.min_rows:
                queried = spec.query is not None
                what = (
                    ("returned no rows" if queried else "has a header but no data rows")
                    if records == 0
                    else (
                        f"{'returned' if queried else 'has'} {records} data rows, fewer "
                        f"than min_rows={spec.min_rows}"
                    )
                )
                month = bound_month(spec.query) if spec.query is not None else None
                raise DataError(
                    f"the query {what}{f' for the month {month}' if month else ''}"
                    if queried
                    else what,
                    file=str(tables[0].path),
                    hint=f"check sources.{name}.query (its WHERE, the dates it selects) and "
                    "that the tables it reads are loaded"
                    if queried
                    else f"export the {name} table again with its rows"
                    if len(cfg.sources) > 1
                    else "export the table again with its rows, one per customer",  # flat
                )
            if position == 0:
                # The other sources' files scanned (in a background thread) while the
                # customers are cleaned: the cleaning leaves a core idle part of the time,
                # and less is held then than at any later source
                for later in wanted[1:]:
                    _scan_next(files, later, encoding)
            result = clean_source(
                spec,
                tables,
                cfg,
                customer_ids=customer_ids,
                table_specs=table_specs if spec.parts else None,
                rejected_customers=rejected_customers,
            )
            by_pattern: dict[str, list[Path]] = {}
            for part_spec, _, path in found:  # (a files: entry's own pattern each)
                by_pattern.setdefault(part_spec.file, []).append(path)
            for pattern, paths in by_pattern.items():
                note = stand_in_note(pattern, data_dir, paths)
                if note:
                    result.warnings.append(note)
            if spec.parts and missing:
                result.warnings.append(
                    f"column(s) no file of {spec.file} has, left blank: {', '.join(missing)}"
                )
            if customer_ids is not None:
                check_orphans(
                    spec,
                    cfg,
                    result.files,
                    result.orphans,
                    results[CUSTOMER_SOURCE].files,
                    results[CUSTOMER_SOURCE].rows_kept,
                    partial(mismatch_of, customer_ids.arrow, source=spec.name),
                )
            del tables
            release_memory()
            results[name] = result
            if name == CUSTOMER_SOURCE:
                customer_ids = KnownIds(result.frame[spec.key])
                rejected_customers = result.rejected_keys
            log.info(
                "source %s: %d rows in, %d kept, %d rejected, %d repaired",
                name,
                result.rows_in,
                result.rows_kept,
                result.rows_rejected,
                result.rows_repaired,
            )
    finally:
        databases.close()
        cancel_scans_ahead()  # a source that failed leaves the next one's unread
    report = ValidationReport(
        data_dir=mask_pii_text(str(shown)),
        config=cfg.path,
        sources={name: source_report(r, cfg.sources[name]) for name, r in results.items()},
        absent=tuple(absent),
    )
    issues = [
        r.issues.sort_values(["file", "line"], kind="stable")
        for r in results.values()
        if len(r.issues)
    ]
    rejects = (
        pd.concat(issues, ignore_index=True)
        if issues
        else pd.DataFrame({c: pd.Series(dtype="object") for c in ISSUE_COLUMNS})
    )
    workspace = Workspace(
        data_dir, cfg, {n: r.frame for n, r in results.items()}, report, rejects, missing_columns
    )
    del results, issues
    release_memory()  # what the last source's cleaning freed, before the caller's next step
    return pseudonymise_workspace(workspace)


#: The column that holds the customer id in every source that has one.
CUSTOMER_ID = "customer_id"


def _scan_next(files: _FilesOf, name: str, encoding: str | None) -> None:
    try:
        found = files(name)
    except DataError:  # reported when that source is read, in its turn
        return
    for own in {part_spec.encoding for part_spec, _, _ in found}:
        paths = (path for part_spec, _, path in found if part_spec.encoding == own)
        scan_before_reading(paths, encoding=own or encoding)


class _FilesOf:
    """The files of each source (:func:`source_files`; none for a query), found once."""

    def __init__(self, data_dir: Path, cfg: SourcesConfig) -> None:
        self.data_dir, self.cfg = data_dir, cfg
        self._found: dict[str, list[tuple[SourceSpec, SourcePart | None, Path]]] = {}

    def __call__(self, name: str) -> list[tuple[SourceSpec, SourcePart | None, Path]]:
        if name not in self._found:
            spec = self.cfg.sources[name]
            self._found[name] = [] if spec.query is not None else source_files(self.data_dir, spec)
        return self._found[name]


def identifiers(spec: SourceSpec) -> list[str]:
    """The columns of a source that identify a customer (tokenised by --pseudonymise)."""
    return sorted({c for c in (CUSTOMER_ID, spec.customer_key) if c})


def pseudonymise_workspace(workspace: Workspace) -> Workspace:
    """The workspace as ``--pseudonymise`` hands it on: customer ids replaced by their
    tokens, personal-data columns masked, rejects masked and tokenised, and the tokens
    added to the encrypted re-identification table. Unchanged when not pseudonymising."""
    active = active_pseudonymiser()
    if active is None:
        return workspace
    cfg = workspace.config
    frames = {}
    for name, frame in workspace.frames.items():
        spec = cfg.sources[name]
        frame = active.frame(frame, identifiers(spec))
        masked = {
            c.name: column_masker(c)(frame[c.name])
            for c in spec.columns
            if c.pii and c.name in frame.columns
        }
        frames[name] = frame.assign(**masked) if masked else frame
    rejects = mask_rejects(workspace.rejects, cfg)
    if len(rejects):
        values = rejects["value"].astype(object).to_numpy(copy=True)
        sources = rejects["source"].astype(str).to_numpy()
        columns = rejects["column"].fillna("").astype(str).to_numpy()
        for name, spec in cfg.sources.items():
            in_source = sources == name
            for column in identifiers(spec):
                rows = np.flatnonzero(in_source & (columns == column))
                if rows.size:
                    shown = pd.Series(values[rows], dtype=object)
                    values[rows] = active.tokens(shown, column).to_numpy(dtype=object)
            for row in np.flatnonzero(in_source & ~np.isin(columns, spec.column_names)):
                values[row] = mask_fields(values[row], ",")  # a whole row: no id in clear
        rejects = rejects.assign(value=pd.Series(values, index=rejects.index, dtype=object))
    active.save()
    return replace(workspace, frames=frames, rejects=rejects)


__all__ = [
    "Workspace",
    "load_workspace",
]
