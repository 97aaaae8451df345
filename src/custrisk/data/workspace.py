"""A workspace: the monthly exports of one DATA_DIR, loaded, validated and cleaned."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatch, fnmatchcase
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pyarrow as pa

from custrisk.config.columns import ColumnSpec, header_key
from custrisk.config.locations import EXCEL_SUFFIXES, SourcePart
from custrisk.config.sources import CUSTOMER_SOURCE, SourcesConfig, SourceSpec, load_sources_config
from custrisk.data.clean import ARROW_TYPES, KnownIds, SourceResult, clean_source
from custrisk.data.exports import read_export
from custrisk.data.headers import canonical_name
from custrisk.data.issues import BLANKED, DROPPED, ISSUE_COLUMNS, RULE_TEXT, RejectedKeys
from custrisk.data.orphans import check_orphans, mismatch_of
from custrisk.data.text import DECIMAL_COMMA_NUMBER, null_variants
from custrisk.errors import DataError
from custrisk.io.atomic import atomic_path, ensure_dir, output_path
from custrisk.io.encoding import cancel_scans_ahead
from custrisk.io.excel_out import Sheet, write_workbook
from custrisk.io.memory import release_memory
from custrisk.io.readers import PARQUET_SUFFIXES, RawTable, scan_before_reading
from custrisk.io.safe_csv import write_csv
from custrisk.io.sql import read_query
from custrisk.privacy import mask_id_number, mask_name, mask_name_value, mask_phone
from custrisk.protect.envelope import SUFFIX, is_encrypted, plain_name
from custrisk.protect.output import existing
from custrisk.protect.pseudonym import active_pseudonymiser
from custrisk.protect.roles import CLEAR_PII, require

log = logging.getLogger(__name__)

REJECTS_FILE = "rejects.csv"
REJECTS_WORKBOOK = "rejects.xlsx"
REJECTS_FORMATS = ("csv", "xlsx")
REPORT_FILE = "validation_report.json"


@dataclass(frozen=True)
class SourceReport:
    """Counts for one source: rows in = rows kept + rows rejected."""

    name: str
    files: tuple[str, ...]
    encodings: tuple[str, ...]
    rows_in: int
    rows_kept: int
    rows_rejected: int
    rows_repaired: int
    rules: Mapping[str, Mapping[str, int]]  # rule -> {action: rows}
    warnings: tuple[str, ...] = ()
    #: Of the customer table: the customers none of whose rows was kept (not scored)
    customers_rejected: int = 0

    @property
    def shown_files(self) -> str:
        """The names of the source's files, for messages (the source's name if none)."""
        return ", ".join(Path(f).name for f in self.files) or self.name

    @property
    def dropped_by_rule(self) -> dict[str, int]:
        """The rows each rule dropped, for the rules that dropped any."""
        return {rule: a[DROPPED] for rule, a in self.rules.items() if a.get(DROPPED)}


@dataclass(frozen=True)
class ValidationReport:
    """What validation found in a workspace."""

    data_dir: str
    config: str
    sources: Mapping[str, SourceReport]
    absent: tuple[str, ...] = ()

    @property
    def rows_rejected(self) -> int:
        return sum(s.rows_rejected for s in self.sources.values())

    @property
    def rows_repaired(self) -> int:
        return sum(s.rows_repaired for s in self.sources.values())

    @property
    def customers_rejected(self) -> int:
        """Customers in the customer table none of whose rows was kept: they are not
        scored, and their rows in other sources are rejected (``customer_rejected``)."""
        source = self.sources.get(CUSTOMER_SOURCE)
        return source.customers_rejected if source is not None else 0

    def customers_rejected_text(self) -> str | None:
        """``"4 customers of credit.csv are not scored: their rows were rejected"``, or
        ``None`` when every customer kept a row."""
        count = self.customers_rejected
        if not count:
            return None
        files = self.sources[CUSTOMER_SOURCE].shown_files
        if count == 1:
            return f"1 customer of {files} is not scored: its rows were rejected"
        return f"{count:,} customers of {files} are not scored: their rows were rejected"

    @property
    def status(self) -> str:
        """``rejected`` when any row was dropped, else ``repaired`` or ``clean``."""
        if self.rows_rejected:
            return "rejected"
        return "repaired" if self.rows_repaired else "clean"

    def require_customers(self) -> None:
        """:class:`DataError` when the customer table kept no row (every row rejected,
        or none in the file): there is nobody to compute indicators for or to score,
        and an empty table would pass for a month without customers."""
        source = self.sources.get(CUSTOMER_SOURCE)
        if source is None or source.rows_kept:
            return
        files = source.shown_files
        if source.rows_in == 0:
            said = f"{files} has no rows"
        else:
            rules = ", ".join(f"{rule} {n:,}" for rule, n in source.dropped_by_rule.items())
            n = source.rows_in
            every = "its one row was" if n == 1 else f"all {n:,} rows were"
            said = f"{files}: {every} rejected while cleaning ({rules})"
        raise DataError(
            f"no customer is left after cleaning: {said}",
            hint=f"run 'custrisk validate {self.data_dir}' to see each rejected row and its reason",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "data_dir": self.data_dir,
            "config": self.config,
            "rows_rejected": self.rows_rejected,
            "rows_repaired": self.rows_repaired,
            "customers_rejected": self.customers_rejected,
            "absent_sources": list(self.absent),
            "sources": {
                name: {
                    "files": list(s.files),
                    "encodings": list(s.encodings),
                    "rows_in": s.rows_in,
                    "rows_kept": s.rows_kept,
                    "rows_rejected": s.rows_rejected,
                    "rows_repaired": s.rows_repaired,
                    "rules": {rule: dict(actions) for rule, actions in s.rules.items()},
                    "warnings": list(s.warnings),
                }
                for name, s in self.sources.items()
            },
        }


#: A source is judged on the share of its rows rejected from this many rows on: in a
#: handful of rows a few faults are a large share and still a normal month.
REJECTS_JUDGED_FROM = 20


def require_usable(
    report: ValidationReport, config: SourcesConfig, rejects: pd.DataFrame | None = None
) -> None:
    """What the scoring commands ask of cleaned exports before they compute anything
    (``validate`` only reports): customers left (:meth:`ValidationReport.require_customers`),
    and no source that lost more than its ``max_rejected_share`` of rows while cleaning.

    A date format of the export's own rejects every transaction; scored, the few rows
    left (or none) would pass for the month and every customer would look inactive. The
    message names the rule that rejected most rows, its column and (unless personal data)
    a value, from ``rejects`` when given.

    Raises
    ------
    DataError
        Naming the file, the counts, the share, the main rule and how to fix it.
    """
    report.require_customers()
    for name, source in report.sources.items():
        spec = config.sources.get(name)
        if spec is None or source.rows_in < REJECTS_JUDGED_FROM:
            continue
        if source.rows_rejected <= spec.max_rejected_share * source.rows_in:
            continue
        dropped = source.dropped_by_rule
        rule = max(dropped, key=lambda r: dropped[r]) if dropped else None
        most = (
            f", most as {rule} ({dropped[rule]:,}{_example(rejects, spec, rule)})" if rule else ""
        )
        raise DataError(
            f"{source.rows_rejected:,} of {source.rows_in:,} rows "
            f"({source.rows_rejected / source.rows_in:.0%}; max_rejected_share "
            f"{spec.max_rejected_share:g}) were rejected while cleaning{most}; scored, the "
            f"{source.rows_kept:,} rows left would stand for the whole month",
            file=source.shown_files,
            hint=f"run 'custrisk validate {report.data_dir}' to see each row and its reason, "
            f"then fix the export or the sources config ({config.path}: date_formats, "
            f"rename, ...); or set sources.{name}.max_rejected_share (1 turns the check off)",
        )


def _example(rejects: pd.DataFrame | None, spec: SourceSpec, rule: str) -> str:
    """`` in column txn_date, e.g. '10/31/2026'``: a rule's first rejected row (no value
    of a personal-data column)."""
    if rejects is None or not len(rejects):
        return ""
    rows = rejects[(rejects["source"] == spec.name) & (rejects["rule"] == rule)]
    if not len(rows) or not isinstance(rows["column"].iloc[0], str) or not rows["column"].iloc[0]:
        return ""
    column = str(rows["column"].iloc[0])
    declared = next((c for c in spec.columns if c.name == column), None)
    if declared is not None and declared.pii:
        return f" in column {column}"
    value = str(rows["value"].iloc[0])
    shown = value if len(value) <= 40 else value[:40] + "…"
    return f" in column {column}, e.g. {shown!r}"


@dataclass
class Workspace:
    """Cleaned frames (canonical columns, typed) with their validation report and rejects."""

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
                rejects = rejects_to_write(self.rejects, self.config)
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
        rejects = rejects_to_write(self.rejects, self.config, masked=masked)
        return write_csv(rejects, path, encoding=csv_encoding)


#: Maskers of the usual personal-data columns; others are masked by their type.
_MASKERS = {"name": mask_name, "phone": mask_phone, "id_number": mask_id_number}


def _column_masker(col: ColumnSpec) -> Any:
    return _MASKERS.get(col.name) or (mask_name if col.type == "string" else mask_id_number)


def _mask_fields(text: Any, delimiter: str) -> Any:
    """A whole row's text with each field shown as its first character and ``**``.

    The fields of a malformed or duplicate row cannot be told apart reliably, so none is
    shown in clear; the file and line say where the row is.
    """
    if not isinstance(text, str) or not text:
        return text
    try:
        fields = [f for row in csv.reader(io.StringIO(text), delimiter=delimiter) for f in row]
    except csv.Error:
        fields = text.split(delimiter)
    return delimiter.join(mask_name_value(f.strip()) if f.strip() else f for f in fields)


#: The column of a written rejects file that names the column as the export heads it.
HEADER_COLUMN = "header"


def rejects_to_write(
    rejects: pd.DataFrame, config: SourcesConfig, *, masked: bool = True
) -> pd.DataFrame:
    """The rejects as a file shows them: personal data masked (unless ``masked`` is
    false) and, after ``column`` (custrisk's name, the key of the sources config), the
    column's ``header`` in the export (``年龄`` for ``col4`` of a flat table, ``联系电话``
    for ``phone`` of a CRM export; blank for an issue about a whole row)."""
    shown = mask_rejects(rejects, config) if masked else rejects
    if HEADER_COLUMN in shown.columns:
        return shown
    headers = export_headers(shown, config)
    at = list(shown.columns).index("column") + 1 if "column" in shown.columns else 0
    shown = shown.copy()
    shown.insert(at, HEADER_COLUMN, headers)
    return shown


def export_headers(rejects: pd.DataFrame, config: SourcesConfig) -> pd.Series:
    """Each reject's column as its export's header says it: the ``rename`` key that
    maps to it (a stacked source's part first, found by the reject's file), else the
    column's own name; blank for an issue about a whole row."""
    if not len(rejects) or "column" not in rejects.columns:
        return pd.Series("", index=rejects.index, dtype="str")
    keys = pd.MultiIndex.from_arrays(
        [
            rejects["source"].astype(str).to_numpy(),
            rejects["column"].fillna("").astype(str).to_numpy(),
            rejects["file"].fillna("").astype(str).to_numpy()
            if "file" in rejects
            else [""] * len(rejects),
        ]
    )
    codes, distinct = keys.factorize()
    specs = {**config.sources, "labels": config.labels}
    shown = []
    for source, column, file in distinct:
        spec = specs.get(source)
        declared = spec is not None and column in spec.column_names
        # (blank: a whole row, or a column the config does not declare)
        shown.append(_header_of(spec, column, file) if declared else "")  # type: ignore[arg-type]
    headers = np.asarray(shown, dtype=object)[codes]
    return pd.Series(headers, index=rejects.index, dtype="str")


def _header_of(spec: SourceSpec, column: str, file: str) -> str:
    """The header of ``column`` in ``file`` of the source: its part's ``rename`` key
    when the file is that part's, else the source's, else the column's own name."""
    for part_spec, part in spec.part_specs():
        if part is not None and file and not _names_file(part.file, file):
            continue
        for header, canonical in part_spec.rename.items():
            if canonical == column:
                return header
        if part is not None:
            return column
    return column


def _names_file(pattern: str, file: str) -> bool:
    """Whether a part's ``file`` (a name or a glob, maybe with folders) names ``file``."""
    name = Path(file).name
    return fnmatch(name, Path(pattern).name) or fnmatch(file, pattern)


def mask_rejects(rejects: pd.DataFrame, config: SourcesConfig) -> pd.DataFrame:
    """The rejects with personal data masked, for files that people and tools read.

    The ``value`` of a row about a column flagged ``pii`` is masked with that column's
    masker (张**, 138****5678, ...). A value that shows a whole row (wrong number of
    fields, duplicate row, or any issue not about one column) is masked field by field
    when its source has personal-data columns. A row check that compares a personal-data
    column is masked too.
    """
    if not len(rejects):
        return rejects
    values = rejects["value"].astype(object).to_numpy(copy=True)
    sources = rejects["source"].astype(str).to_numpy()
    columns = rejects["column"].fillna("").astype(str).to_numpy()
    rules = rejects["rule"].fillna("").astype(str).to_numpy()
    changed = False
    for name, spec in config.sources.items():
        pii = {c.name: c for c in spec.columns if c.pii}
        if not pii:
            continue
        in_source = sources == name
        if not in_source.any():
            continue
        for column, col in pii.items():
            rows = np.flatnonzero(in_source & (columns == column))
            if rows.size:
                shown = pd.Series(values[rows], dtype=object)
                text = shown.where(shown.isna(), shown.astype(str).str.strip())
                values[rows] = _column_masker(col)(text).to_numpy(dtype=object)
                changed = True
        whole_row = in_source & ~np.isin(columns, spec.column_names)
        for check in spec.checks:
            if check.left in pii or check.right in pii:
                whole_row |= in_source & (rules == f"check:{check.name}")
        for row in np.flatnonzero(whole_row):
            # A raw line has the file's delimiter; a duplicate row is shown with commas.
            delimiter = "," if rules[row] == "duplicate_row" else spec.delimiter
            values[row] = _mask_fields(values[row], delimiter)
            changed = True
    if not changed:
        return rejects
    return rejects.assign(value=pd.Series(values, index=rejects.index, dtype=object))


#: Names in a dataset folder that hold no rows: Spark's ``_SUCCESS`` and ``_metadata``,
#: ``.crc`` checksums, hidden files.
NOT_DATA_PREFIXES = ("_", ".")
#: A hive folder's value for a missing one (``month=__HIVE_DEFAULT_PARTITION__``).
HIVE_MISSING = "__HIVE_DEFAULT_PARTITION__"


def find_source_files(data_dir: Path, pattern: str) -> list[Path]:
    """Files in ``data_dir`` matching a name or glob, sorted by name.

    A folder in the place of a file is a dataset: its files, in every sub-folder (hive
    folders such as ``month=2026-10/``), sorted by path, without the names that hold no
    rows (:data:`NOT_DATA_PREFIXES`). When nothing matches a name, a folder named as it
    without its extensions (``credit/`` for ``credit.csv``) or with ``.parquet``
    (``credit.parquet/``) is the source's dataset.

    Raises
    ------
    DataError
        When something that matches is not a readable file (a broken link) or is a
        folder with no file in it: an export that cannot be read is an error, not an
        absent source.
    """
    if any(ch in pattern for ch in "*?["):
        found = sorted(data_dir.glob(pattern))
        # encrypted exports (credit.csv.enc) match the pattern of their plain name
        plain = {p.name for p in found}
        found += [
            p
            for p in sorted(data_dir.glob(pattern + SUFFIX))
            if p.name[: -len(SUFFIX)] not in plain and is_encrypted(p)
        ]
        if not found and "/" not in pattern:  # a pattern's matches in other letters
            found = _named_in_any_case(data_dir, partial(fnmatchcase, pat=pattern.lower()))
        found.sort()
    else:
        path = data_dir / pattern
        if not (path.exists() or path.is_symlink()):
            path = existing(path)  # credit.csv.enc for credit.csv
        found = [path] if path.exists() or path.is_symlink() else []
        if not found:
            stem = pattern.split(".", 1)[0]
            found = [d for d in (data_dir / stem, data_dir / f"{stem}.parquet") if d.is_dir()][:1]
        if not found:
            found = _stand_in(data_dir, pattern)
    files: list[Path] = []
    for path in found:
        if path.is_dir():
            parts = _dataset_files(path)
            if not parts:
                raise DataError(
                    "is a folder with no export file in it",
                    file=str(path),
                    hint="a folder in the place of a source's file is read as a dataset of "
                    "CSV or Parquet files (in sub-folders too); put the export's files in it, "
                    "or remove it",
                )
            files += parts
        else:
            files.append(path)
    for path in files:
        if not path.is_file():
            what = "is a link to nothing" if not path.exists() else "is not a regular file"
            raise DataError(
                f"{what}, not an export file",
                file=str(path),
                hint="a source's file must be a CSV, Parquet or Excel export; rename or remove "
                "what is in its place",
            )
    return files


#: The export formats a file named in a sources config may come in instead (the named
#: one absent): ``transactions.xlsx`` for ``transactions.csv``.
_STAND_IN_SUFFIXES = (".csv", ".txt", ".tsv", *PARQUET_SUFFIXES, *EXCEL_SUFFIXES)


def _stand_in(data_dir: Path, name: str) -> list[Path]:
    """The export named as ``name`` but for the case of its letters or its format, when
    ``name`` itself is absent: ``Transactions.CSV`` copied from Windows, or
    ``transactions.xlsx`` saved from Excel, where the config names ``transactions.csv``,
    is read (the source's report says so) rather than the source left out, its
    indicators missing from every score. Two such files are an error naming both."""
    stem = name.split(".", 1)[0]
    wanted = {name.lower(), *(f"{stem}{suffix}".lower() for suffix in _STAND_IN_SUFFIXES)}
    candidates = _named_in_any_case(data_dir, wanted.__contains__)
    if len(candidates) > 1:
        raise DataError(
            f"no {name}, and {len(candidates)} exports named as it in another case or "
            f"format: {', '.join(p.name for p in candidates)}",
            file=str(data_dir),
            hint="keep the one to read, or name it as the source's file in the sources config",
        )
    return candidates


def _named_in_any_case(data_dir: Path, matches: Callable[[str], bool]) -> list[Path]:
    """The files of ``data_dir`` whose name in small letters ``matches`` (Windows ignores
    the case of file names, Linux does not), sorted; an encrypted one by its plain name,
    unless its plain file is there too."""
    try:
        entries = sorted(data_dir.iterdir())
    except OSError:  # the caller reports the folder
        return []
    return [
        path
        for path in entries
        if matches(plain_name(path).name.lower())
        and path.is_file()
        and (path == plain_name(path) or (is_encrypted(path) and not plain_name(path).is_file()))
    ]


def stand_in_note(pattern: str, data_dir: Path, files: Sequence[Path]) -> str | None:
    """The report's note on a source read from files its config does not name as
    written: another case or format (:func:`_stand_in`), or a pattern's matches in other
    letters; else ``None``."""
    if not files or any(path.parent != data_dir for path in files):
        return None  # nothing read, or a dataset folder's files
    names = [plain_name(path).name for path in files]
    if any(ch in pattern for ch in "*?["):
        if any(fnmatchcase(name, pattern) for name in names):
            return None
        return (
            f"no file matches {pattern} as written: read {', '.join(p.name for p in files)}, "
            "named in other letters"
        )
    if len(files) != 1 or names[0] == pattern:
        return None
    return f"no {pattern} in the folder: read {files[0].name} in its place"


def _dataset_files(folder: Path) -> list[Path]:
    """The files of a folder dataset, in every sub-folder, sorted by path."""
    return sorted(
        p
        for p in folder.rglob("*")
        if not any(name.startswith(NOT_DATA_PREFIXES) for name in p.relative_to(folder).parts)
        and not p.is_dir()
    )


def source_files(
    data_dir: Path, spec: SourceSpec
) -> list[tuple[SourceSpec, SourcePart | None, Path]]:
    """The files of a source in the order they are stacked, each with the spec of its
    file entry and its part: each file matching the source's ``file``
    (:func:`find_source_files`), or each ``files:`` entry's in turn. A file under hive
    folders (``transactions/month=2026-10/part-0.parquet``) has their values in its
    part's ``partition``, for the declared columns they name."""
    return [
        (part_spec, _partition_of(part_spec, part, path, data_dir), path)
        for part_spec, part in spec.part_specs()
        for path in find_source_files(data_dir, part_spec.file)
    ]


def _partition_of(
    spec: SourceSpec, part: SourcePart | None, path: Path, data_dir: Path
) -> SourcePart | None:
    """``part`` with the values of the hive folders between ``data_dir`` and ``path``
    (``key=value``, percent-decoded as Hive and Spark write them) whose key is a declared
    column of ``spec`` (matched as a header is); other folders are names only."""
    try:
        folders = path.relative_to(data_dir).parts[:-1]
    except ValueError:
        return part
    by_header = {header_key(name): canonical for name, canonical in spec.file_columns.items()}
    values: dict[str, str | None] = {}
    for folder in folders:
        key, equals, value = folder.partition("=")
        column = by_header.get(header_key(unquote(key))) if equals else None
        if column is not None:
            values[column] = None if value == HIVE_MISSING else unquote(value)
    if not values:
        return part
    base = part or SourcePart(file=spec.file, sheet=spec.sheet, rename={})
    return replace(base, partition=MappingProxyType(values))


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
        Folder holding the exports named in the sources config.
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
    data_dir = Path(data_dir)
    if data_dir.is_file():
        raise DataError(
            "a file, not a folder of exports",
            file=str(data_dir),
            hint=f"pass the folder that holds it ({data_dir.parent}) and the other exports",
        )
    if not data_dir.is_dir():
        raise DataError(
            "data folder not found",
            file=str(data_dir),
            hint="pass the folder holding credit.csv and the other exports",
        )
    cfg = config if isinstance(config, SourcesConfig) else load_sources_config(config)
    wanted = [
        name
        for name in cfg.sources
        if sources is None or name in sources or name == CUSTOMER_SOURCE
    ]
    # Credit first: its ids decide which rows of other sources are orphans.
    wanted.sort(key=lambda name: name != CUSTOMER_SOURCE)
    results: dict[str, SourceResult] = {}
    absent: list[str] = []
    missing_columns: dict[str, tuple[str, ...]] = {}
    customer_ids: KnownIds | None = None  # prepared once for every linked source
    rejected_customers: RejectedKeys | None = None  # (their rows: customer_rejected)
    files = _FilesOf(data_dir, cfg)
    try:
        for position, name in enumerate(wanted):
            spec = cfg.sources[name]
            # (spec of the file entry, part, path): one entry, or each of files: in order
            found = files(name)
            if spec.query is None and not found:
                no_files(name, spec, data_dir, cfg)
                absent.append(name)
                continue
            options = _read_options(spec, cfg)
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
                    )
                ]
            else:
                tables = []
                table_specs = []
                for part_spec, part, path in found:
                    tables.append(_read_part(part_spec, part, path, cfg, encoding, data_dir))
                    table_specs.append(part_spec)
                    release_memory()  # the reader's own buffers, before the cleaning's
            if spec.row_number is not None:
                _number_rows(spec, tables, cfg)
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
                what = (
                    "has a header but no data rows"
                    if records == 0
                    else (f"has {records} data rows, fewer than min_rows={spec.min_rows}")
                )
                raise DataError(
                    what,
                    file=str(tables[0].path),
                    hint=f"export the {name} table again with its rows",
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
        cancel_scans_ahead()  # a source that failed leaves the next one's unread
    report = ValidationReport(
        data_dir=str(data_dir),
        config=cfg.path,
        sources={name: _source_report(r, cfg.sources[name]) for name, r in results.items()},
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


def no_files(name: str, spec: SourceSpec, data_dir: Path, cfg: SourcesConfig) -> None:
    """A source without files in ``data_dir``: an error if it is required, else noted
    (the indicators that need it are skipped)."""
    if spec.required:
        raise DataError(
            f"no file matches '{spec.file}' for the required source '{name}'",
            file=str(data_dir),
            hint=f"add the export, or change sources.{name}.file in {cfg.path}; for "
            f"exports in a layout of their own, 'custrisk init {data_dir} --out DIR' "
            "proposes a sources config from their headers",
        )
    log.info("source %s: no file matches %s; indicators that need it are skipped", name, spec.file)


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


def _identifiers(spec: SourceSpec) -> list[str]:
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
        frame = active.frame(frame, _identifiers(spec))
        masked = {
            c.name: _column_masker(c)(frame[c.name])
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
            for column in _identifiers(spec):
                rows = np.flatnonzero(in_source & (columns == column))
                if rows.size:
                    shown = pd.Series(values[rows], dtype=object)
                    values[rows] = active.tokens(shown, column).to_numpy(dtype=object)
            for row in np.flatnonzero(in_source & ~np.isin(columns, spec.column_names)):
                values[row] = _mask_fields(values[row], ",")  # a whole row: no id in clear
        rejects = rejects.assign(value=pd.Series(values, index=rejects.index, dtype=object))
    active.save()
    return replace(workspace, frames=frames, rejects=rejects)


def read_source_file(
    spec: SourceSpec,
    part_spec: SourceSpec,
    part: SourcePart | None,
    path: Path,
    cfg: SourcesConfig,
    *,
    encoding: str | None = None,
    root: Path | None = None,
) -> RawTable:
    """One file of a source read as :func:`load_workspace` reads it (a ``files:`` entry's
    ``values`` written in, the line as the id of a ``row_number`` source, named by its
    path in the exports folder ``root``): for an engine that reads the files of a source
    apart (one file, one partition)."""
    raw = _read_part(part_spec, part, path, cfg, encoding, root)
    if spec.row_number is not None:
        _number_rows(spec, [raw], cfg)
    return raw


def _read_part(
    part_spec: SourceSpec,
    part: SourcePart | None,
    path: Path,
    cfg: SourcesConfig,
    encoding: str | None,
    root: Path | None,
) -> RawTable:
    """One file of a source read, named by its path in ``root``, with its part's values
    written in (what both engines do to each file before numbering rows)."""
    raw = read_export(
        path,
        **_read_options(part_spec, cfg),
        sheet=part_spec.sheet,
        encoding=part_spec.encoding or encoding,  # (the source's own over --encoding)
    )
    if root is not None:
        raw.label = _label(path, root)
    if part is not None:
        _add_values(raw, part, part_spec)
    return raw


def source_report(result: SourceResult, spec: SourceSpec | None = None) -> SourceReport:
    """The report of a cleaned source (counts, rows per rule and action, warnings)."""
    return _source_report(result, spec)


def _number_rows(spec: SourceSpec, tables: list[RawTable], cfg: SourcesConfig) -> None:
    """Give each row its line number in the file as its id (``row_number``): a table
    without an id column gets ids a user can find in the file."""
    assert spec.row_number is not None
    if len(tables) > 1:
        raise DataError(
            f"sources.{spec.name}.row_number: {len(tables)} files match '{spec.file}'; row "
            "numbers identify rows of one file only",
            file=str(tables[0].path),
            hint=f"export one file, or add an id column and drop row_number in {cfg.path}",
        )
    for raw in tables:
        numbers = pa.array(raw.lines.astype(np.int64)).cast(pa.string())
        raw.table = raw.table.append_column(spec.row_number, numbers)


def _label(path: Path, data_dir: Path) -> str | None:
    """A file in a sub-folder of the exports folder (a dataset's part) is named by its
    path there in rejects and messages: its name alone may be every part's."""
    try:
        inside = path.relative_to(data_dir)
    except ValueError:
        return None
    return inside.as_posix() if len(inside.parts) > 1 else None


def _add_values(raw: RawTable, part: SourcePart, spec: SourceSpec) -> None:
    """Write a part's ``values`` (e.g. ``txn_type: contract``) into every row of its file
    (in place of a column of that name the file may have), then its hive folders' values
    (``partition``) where the file has no column for them (``spec``: its file entry's)."""
    for column, value in part.values.items():
        table = raw.table
        if column in table.column_names:
            table = table.drop_columns([column])
        constant = pa.repeat(pa.scalar(value, pa.large_string()), table.num_rows)
        raw.table = table.append_column(column, constant)
    has = {spec.file_columns.get(name, name) for name in raw.table.column_names}
    for column, text in part.partition.items():
        if column not in has:
            constant = pa.repeat(pa.scalar(text, pa.large_string()), raw.table.num_rows)
            raw.table = raw.table.append_column(column, constant)


def _read_options(spec: SourceSpec, cfg: SourcesConfig) -> dict[str, Any]:
    """Reader options: the columns worth parsing on Arrow's strict fast path."""
    from_file = {canonical: name for name, canonical in spec.rename.items()}
    typed: dict[str, pa.DataType] = {}
    date_columns = [from_file.get(c.name, c.name) for c in spec.columns if c.type == "date"]
    for col in spec.columns:
        if col.type == "date" and "%Y-%m-%d" not in cfg.date_formats:
            continue
        if col.decimal != ".":  # (1.234,56: read as text, for the cleaner to read)
            continue
        if col.type in ARROW_TYPES:
            typed[from_file.get(col.name, col.name)] = ARROW_TYPES[col.type]
    columns = spec.file_columns
    blanking = {c.name for c in spec.columns if c.on_invalid == "blank" and not c.required}
    return {
        "delimiter": spec.delimiter,
        "columns": columns,
        "multiline_columns": [
            name for name, canonical in columns.items() if spec.column(canonical).type == "string"
        ],
        "typed": typed,
        "date_columns": date_columns,
        # a workbook's Excel error cell there is blanked, as any other bad value there is
        "blank_errors": [name for name, canonical in columns.items() if canonical in blanking],
        # categories as dictionaries from the start: a tenth of the memory, and the
        # cleaner needs no hashing of their text (CSV and Parquet; other readers ignore it)
        "dictionary_columns": [
            from_file.get(c.name, c.name) for c in spec.columns if c.type == "category"
        ],
        "null_values": null_variants(),
        "true_values": _case_variants(cfg.true_values),
        "false_values": _case_variants(cfg.false_values),
    }


def _case_variants(words: Sequence[str]) -> list[str]:
    return sorted({v for w in words for v in (w, w.lower(), w.upper(), w.title())})


#: Date layouts exports write that the packaged date_formats do not hold, tried in this
#: order to name the one an unreadable date column is in (day first before month first,
#: as outside the US).
DATE_LAYOUTS = (
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y.%m.%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d-%b-%Y",
    "%d %b %Y",
    "%b %d, %Y",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y%m%d%H%M%S",
)


def date_layouts_of(values: Sequence[str]) -> tuple[str, ...]:
    """The first of :data:`DATE_LAYOUTS` that reads every one of ``values`` (a sample of
    a column's unreadable dates), or none; two when it reads day and month in one order
    and the other order reads every value too (05/06/2023: no value tells)."""
    shown = [v.strip() for v in values if v and v.strip()]
    if not shown:
        return ()
    for layout in DATE_LAYOUTS:
        if _reads_every(layout, shown):
            swapped = layout.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")
            year_last = "%m" in layout and not layout.startswith("%Y")
            if year_last and _reads_every(swapped, shown):
                return (layout, swapped)
            return (layout,)
    return ()


def _reads_every(layout: str, values: Sequence[str]) -> bool:
    try:
        for value in values:
            dt.datetime.strptime(value, layout)
    except ValueError:
        return False
    return True


#: What a column's values are not, and how to read them, by the rule that refused them
_UNREADABLE = {
    "invalid_date": (
        "dates in any of the date_formats",
        "add their layout to defaults.date_formats in the sources config "
        "(e.g. '%Y年%m月%d日', '%d/%m/%Y')",
    ),
    "invalid_number": (
        "numbers",
        "text in the cells (约, 左右, a unit other than 元, 万, 亿 or %) is not read: "
        "export the plain numbers",
    ),
    "invalid_int": ("whole numbers", "declare the column type float if it holds decimals"),
    "scientific_id": (
        "ids but numbers in scientific notation",
        "a spreadsheet stored the ids as numbers and cut their digits: export the column "
        "as text (in Excel, format it as Text before the ids are typed or pasted, or "
        "export from the system of record)",
    ),
    "invalid_bool": (
        "true/false words",
        "add them to defaults.true_values / false_values in the sources config",
    ),
    "excel_error": (
        "values but Excel errors or formulas never calculated",
        "a workbook a program wrote stores no results of its formulas: open it in Excel "
        "and save it, or export the values (an error such as #N/A is fixed in the workbook)",
    ),
}
#: A column is said to be unreadable when one rule refused at least this share of the
#: source's rows (and this many): a layout the config does not know, not a few typos
_UNREADABLE_SHARE, _UNREADABLE_ROWS = 0.5, 10


def unreadable_columns(
    issues: pd.DataFrame, rows_in: int, spec: SourceSpec | None = None
) -> list[str]:
    """The columns most of whose values one rule refused, each said once with the fix:
    every value is in the rejects, but a whole column blanked (or every row rejected) is
    a config that does not fit the export. An example value is shown unless the column
    holds personal data (or the spec that would say so is not given)."""
    if not len(issues):
        return []
    found = issues[issues["rule"].isin(list(_UNREADABLE))]
    said = []
    for (column, rule), group in found.groupby(["column", "rule"], sort=False):
        bad = int(group.drop_duplicates(["file", "line"]).shape[0])
        if bad < _UNREADABLE_ROWS or bad < _UNREADABLE_SHARE * rows_in:
            continue
        what, fix = _UNREADABLE[str(rule)]
        if rule == "invalid_date":
            layouts = date_layouts_of(group["value"].astype("str").head(200).tolist())
            if len(layouts) == 1:
                fix = (
                    f"they read as {layouts[0]!r}: add it to defaults.date_formats in the "
                    "sources config"
                )
            elif layouts:
                fix = (
                    f"they read as {layouts[0]!r} or as {layouts[1]!r} (no day over 12 "
                    "tells which): add the export's to defaults.date_formats in the "
                    "sources config"
                )
        elif rule == "invalid_number" and _decimal_commas(group["value"]):
            fix = (
                "they are numbers with a decimal comma (1.234,56): add decimal: ',' to the "
                "source in the sources config"
            )
        pii = spec is None or any(c.pii for c in spec.columns if c.name == column)
        # (the first in the file, whichever engine cleaned the rows in which order)
        first = group.sort_values(["file", "line"], kind="stable")["value"].iloc[0]
        example = "" if pii else f" (e.g. {str(first)[:40]!r})"
        said.append(f"column {column}: {bad:,} of {rows_in:,} rows are not {what}{example}; {fix}")
    return said


def _decimal_commas(values: pd.Series) -> bool:
    """Whether most of a column's unreadable numbers (the first 200) have decimal commas."""
    shown = [str(v).strip() for v in values.head(200) if isinstance(v, str)]
    found = sum(1 for v in shown if DECIMAL_COMMA_NUMBER.fullmatch(v))
    return bool(shown) and found >= 0.95 * len(shown)


def _source_report(result: SourceResult, spec: SourceSpec | None = None) -> SourceReport:
    rules: dict[str, dict[str, int]] = {}
    if len(result.issues):
        # Rows per rule and action (a row with two bad columns counts once per rule).
        counted = result.issues.drop_duplicates(["file", "line", "rule", "action"])
        sizes = counted.groupby(["rule", "action"]).size()
        for (rule, action), count in zip(sizes.index.tolist(), sizes.tolist(), strict=True):
            rules.setdefault(str(rule), {})[str(action)] = int(count)
    return SourceReport(
        name=result.name,
        files=tuple(result.files),
        encodings=tuple(result.encodings),
        rows_in=result.rows_in,
        rows_kept=result.rows_kept,
        rows_rejected=result.rows_rejected,
        rows_repaired=result.rows_repaired,
        rules={k: dict(sorted(v.items())) for k, v in sorted(rules.items())},
        warnings=(*result.warnings, *unreadable_columns(result.issues, result.rows_in, spec)),
        customers_rejected=len(result.rejected_keys) if result.rejected_keys is not None else 0,
    )


def load_labels(
    path: str | os.PathLike[str],
    *,
    config: SourcesConfig | str | os.PathLike[str] | None = None,
    encoding: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Load a labels file (customer_id, bad[, label_date]): the clean rows and the rejects."""
    cfg = config if isinstance(config, SourcesConfig) else load_sources_config(config)
    encoding = cfg.labels.encoding or encoding
    table: RawTable = read_export(path, **_read_options(cfg.labels, cfg), encoding=encoding)
    spec = _labels_by_dictionary(cfg.labels, table)
    if spec is not cfg.labels:  # (a labels file is small: read again with the headers)
        table = read_export(path, **_read_options(spec, cfg), encoding=encoding)
        cfg = replace(cfg, labels=spec)
    if table.records == 0:
        raise DataError(
            "has a header but no data rows",
            file=str(path),
            hint="a labels file needs customer_id,bad rows",
        )
    result = clean_source(cfg.labels, [table], cfg)
    active = active_pseudonymiser()
    if active is None:
        return result.frame, result.issues
    frame = active.frame(result.frame, _identifiers(cfg.labels))
    active.save()
    return frame, mask_rejects(result.issues, cfg).assign(value="")


def _labels_by_dictionary(spec: SourceSpec, table: RawTable) -> SourceSpec:
    """The labels spec with the file's headers the header dictionary knows for the
    columns it lacks (是否违约 is ``bad``, 客户ID is ``customer_id``: an outcomes table
    of the analyst's own, a flat table with its outcome) added to its rename; ``spec``
    itself when nothing is missing or nothing is found. Said as a warning: the outcome
    is read from a column the config does not name."""
    present = {spec.rename.get(name, name) for name in table.table.column_names}
    missing = {c.name for c in spec.columns} - present
    found: dict[str, str] = {}
    for header in table.unmatched:
        name = canonical_name(header)
        if name in missing and name not in found.values():
            found[header] = name
    if not found or not {c.name for c in spec.columns if c.required} & {*found.values()}:
        return spec  # (only for a required column: optional outcomes stay as configured)
    log.warning(
        "%s: read %s (the header dictionary; name them under labels: rename in the sources "
        "config to choose otherwise)",
        table.shown_name,
        ", ".join(f"{header} as {name}" for header, name in found.items()),
    )
    return replace(spec, rename=MappingProxyType({**spec.rename, **found}))


def label_rejects_summary(rejects: pd.DataFrame, limit: int = 3) -> str:
    """The rejected label rows by column and rule, most first, with one value each
    (labels hold outcomes, not personal data): ``bad: not a number: 3 rows, e.g. 'x'``."""
    groups = rejects.assign(column=rejects["column"].fillna("")).groupby(
        ["column", "rule"], sort=False
    )
    sized = sorted(
        ((int(g["line"].nunique()), col, rule, g) for (col, rule), g in groups),
        key=lambda item: -item[0],
    )
    parts = []
    for n, col, rule, group in sized[:limit]:
        said = group["message"].dropna() if "message" in group else pd.Series()
        text = str(said.iloc[0]) if len(said) else RULE_TEXT.get(str(rule), str(rule))
        what = f"{col}: {text}" if col else text
        value = group["value"].dropna().astype(str)
        value = value[value.str.strip() != ""]
        example = f", e.g. {str(value.iloc[0])[:20]!r}" if col == "bad" and len(value) else ""
        parts.append(f"{what}: {n:,} row{'s' if n != 1 else ''}{example}")
    if len(sized) > limit:
        parts.append(f"{len(sized) - limit} more kinds")
    return "; ".join(parts)


def label_faults(rejects: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The issues of a labels file split into the rows dropped (a bad outcome that is no
    outcome, a repeated id) and the values blanked (an optional outcome or date that is
    none: unknown, the row kept)."""
    if not len(rejects):
        return rejects, rejects
    dropped = rejects["action"].astype(str).eq(DROPPED).to_numpy()
    # (a value blanked on a row dropped for another reason is no loss of its own)
    blanked = (
        rejects["message"].astype(str).str.endswith(BLANKED).to_numpy()
        & ~rejects["line"].isin(rejects.loc[dropped, "line"]).to_numpy()
    )
    return rejects[dropped], rejects[blanked]


def require_labels(
    frame: pd.DataFrame, rejects: pd.DataFrame, path: str | os.PathLike[str]
) -> None:
    """Refuse a labels (outcomes) file none of whose rows survived cleaning, saying why
    the rows were rejected (rather than letting a caller report no id in common)."""
    rejects, _ = label_faults(rejects)
    if len(frame) or not len(rejects):
        return
    rejected = int(rejects["line"].nunique())
    raise DataError(
        f"no usable label: every one of the {rejected:,} label rows was rejected "
        f"({label_rejects_summary(rejects)})",
        file=str(path),
        hint="bad must be 1 (bad) or 0 (good), or a word the sources config's "
        "labels.columns.bad.recode maps onto them (是/否, Y/N, yes/no, true/false)",
    )


__all__ = [
    "DROPPED",
    "SourceReport",
    "ValidationReport",
    "Workspace",
    "label_faults",
    "label_rejects_summary",
    "load_labels",
    "load_workspace",
    "mask_rejects",
    "read_source_file",
    "require_labels",
    "source_files",
    "source_report",
]
