"""A source's files in DATA_DIR, found and read: a name or glob, a dataset folder (hive
partitions), an export in another case or format standing in for the one named; each
file read as :func:`~custrisk.data.workspace.load_workspace` reads it (the reader's
options, a ``files:`` entry's values, line numbers as ids).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from fnmatch import fnmatchcase
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote

import numpy as np
import pyarrow as pa

from custrisk.config.columns import header_key
from custrisk.config.locations import EXCEL_SUFFIXES, SourcePart
from custrisk.config.resources import is_packaged_config
from custrisk.config.sources import SourcesConfig, SourceSpec
from custrisk.data.clean_columns import ARROW_TYPES
from custrisk.data.exports import read_export
from custrisk.data.report_rows import ignored_label_columns
from custrisk.data.text import null_variants
from custrisk.errors import DataError
from custrisk.io.readers import PARQUET_SUFFIXES, RawTable
from custrisk.protect.envelope import SUFFIX, is_encrypted, plain_name
from custrisk.protect.output import existing

log = logging.getLogger(__name__)


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


def no_files(name: str, spec: SourceSpec, data_dir: Path, cfg: SourcesConfig) -> None:
    """A source without files in ``data_dir``: an error if it is required, else noted
    (the indicators that need it are skipped)."""
    if spec.required:
        propose = (
            f"for exports in a layout of their own, 'custrisk init {data_dir} --out DIR' "
            "proposes a sources config from their headers"
        )
        # The packaged config is part of the installed package: the user writes their own.
        hint = (
            f"add the export; {propose}: give it with --sources (sources: in RUN.yaml)"
            if is_packaged_config(cfg.path)
            else f"add the export, or change sources.{name}.file in {cfg.path}; {propose}"
        )
        raise DataError(
            f"no file matches '{spec.file}' for the required source '{name}'",
            file=str(data_dir),
            hint=hint,
        )
    log.info("source %s: no file matches %s; indicators that need it are skipped", name, spec.file)


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
    """One file of a source read as :func:`~custrisk.data.workspace.load_workspace`
    reads it (a ``files:`` entry's ``values`` written in, the line as the id of a
    ``row_number`` source, named by its path in the exports folder ``root``): for an
    engine that reads the files of a source apart (one file, one partition)."""
    raw = read_part(part_spec, part, path, cfg, encoding, root)
    if spec.row_number is not None:
        number_rows(spec, [raw], cfg)
    return raw


def read_part(
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
        **read_options(part_spec, cfg),
        sheet=part_spec.sheet,
        encoding=part_spec.encoding or encoding,  # (the source's own over --encoding)
    )
    if root is not None:
        raw.label = _label(path, root)
    if part is not None:
        _add_values(raw, part, part_spec)
    return raw


def number_rows(spec: SourceSpec, tables: list[RawTable], cfg: SourcesConfig) -> None:
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


def read_options(spec: SourceSpec, cfg: SourcesConfig) -> dict[str, Any]:
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
        # (and the ignored 序号 of a customer table, for a report's 合计 in it)
        "columns": {**columns, **ignored_label_columns(spec)},
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
