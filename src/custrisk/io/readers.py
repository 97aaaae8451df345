"""Reading exports (CSV or Parquet) as raw text columns with their line numbers.

Every column is read as text so that no leading zero of an id is lost and malformed
values can be reported rather than guessed at; typing is the cleaner's job.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from custrisk.config._yaml import join_limited
from custrisk.errors import DataError
from custrisk.io.encoding import normalise_encoding, scan_text_file

log = logging.getLogger(__name__)

CSV_SUFFIXES = (".csv", ".txt", ".tsv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
_OTHER_DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True)
class BadRow:
    """A record the CSV parser could not split into the header's fields."""

    line: int
    expected: int
    actual: int
    text: str


@dataclass
class RawTable:
    """One file's rows (Arrow; text for CSV), with the physical line or row number of each."""

    path: Path
    table: pa.Table
    lines: np.ndarray
    header: list[str]
    encoding: str
    bad_rows: list[BadRow] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.num_rows = self.table.num_rows

    @property
    def records(self) -> int:
        """Data records in the file: parsed rows plus unparseable ones."""
        return self.num_rows + len(self.bad_rows)

    def release(self) -> pa.Table:
        """Hand over the rows and drop this object's reference to them (frees memory as
        soon as the caller is done with them)."""
        table = self.table
        self.table = table.schema.empty_table()
        return table


def file_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    raise DataError(
        f"unsupported file type '{path.suffix}'",
        file=str(path),
        hint="export as .csv or .parquet",
    )


def read_raw(
    path: str | os.PathLike[str],
    *,
    delimiter: str = ",",
    encoding: str | None = None,
    typed: Mapping[str, pa.DataType] | None = None,
    null_values: Sequence[str] = (),
    true_values: Sequence[str] = (),
    false_values: Sequence[str] = (),
) -> RawTable:
    """Read a CSV or Parquet export; columns are text unless ``typed`` says otherwise.

    ``typed`` maps file columns to the Arrow type (int64, float64, timestamp[s], bool)
    worth trying on the fast path: Arrow parses them strictly (ISO dates, no thousands
    separators, no stray spaces). A column with any value Arrow cannot parse, a
    non-finite number or a date with a time of day is read as text instead, so that the
    cleaner can repair or report each bad value.

    Raises
    ------
    DataError
        Empty or undecodable file, no header, duplicate header names, or a delimiter
        that does not match the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", file=str(path), hint="check the path and the file name")
    if file_format(path) == "parquet":
        return _read_parquet(path)
    if path.stat().st_size == 0:
        raise DataError(
            "the file is empty (0 bytes)",
            file=str(path),
            hint="export it again with a header row and data rows",
        )
    if path.name.lower().endswith(".gz"):
        raise DataError(
            "compressed CSV is not supported yet",
            file=str(path),
            hint="decompress it (gunzip) or export Parquet",
        )
    if encoding is not None:
        try:
            encoding = normalise_encoding(encoding)
        except LookupError:
            raise DataError(
                f"unknown encoding {encoding!r}", hint="use e.g. --encoding utf-8 or --encoding gbk"
            ) from None
    scan = scan_text_file(path, encoding)
    header = _read_header(path, scan.encoding, delimiter)
    bad: list[tuple[int | None, int, int, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad.append((row.number, row.expected_columns, row.actual_columns, row.text))
        return "skip"

    column_types: dict[str, pa.DataType] = {name: pa.large_string() for name in header}
    column_types.update({name: kind for name, kind in (typed or {}).items() if name in header})

    def parse(use_threads: bool) -> pa.Table:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                use_threads=use_threads,
                column_names=header,
                skip_rows=1,
                encoding="utf8" if scan.encoding in ("utf-8", "utf-8-sig") else scan.encoding,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                invalid_row_handler=on_invalid,
                ignore_empty_lines=True,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=column_types,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=list(null_values),
                true_values=list(true_values) or ["true"],
                false_values=list(false_values) or ["false"],
                timestamp_parsers=[pacsv.ISO8601],
            ),
        )

    for _attempt in range(len(header) + 1):
        try:
            bad.clear()
            table = parse(use_threads=True)
            if bad:  # row numbers are only known to the single-threaded parser
                bad.clear()
                table = parse(use_threads=False)
        except pa.ArrowInvalid as exc:
            column = _failed_column(str(exc), header)
            if column is None or pa.types.is_large_string(column_types[column]):
                raise DataError(
                    f"cannot parse the CSV: {exc}",
                    file=str(path),
                    hint="check the delimiter and quoting of the file",
                ) from None
            column_types[column] = pa.large_string()  # read it as text: the cleaner decides
            continue
        suspect = [name for name in header if _needs_text(table.column(name))]
        if not suspect:
            break
        for name in suspect:
            column_types[name] = pa.large_string()
    # Records are the non-empty lines after the header; map them to physical lines.
    bad_numbers = np.array(sorted(n for n, *_ in bad if n is not None), dtype=np.int64)
    record_index = _nth_remaining(np.arange(table.num_rows), 2, bad_numbers)
    lines = _nth_remaining(record_index - 1, 1, scan.empty_lines)
    bad_lines = _nth_remaining(bad_numbers - 1, 1, scan.empty_lines) if bad else bad_numbers
    bad_rows = [
        BadRow(int(line), exp, act, text)
        for line, (_, exp, act, text) in zip(
            bad_lines, sorted(bad, key=lambda b: b[0] or 0), strict=True
        )
    ]
    return RawTable(path, table, lines, header, scan.encoding, bad_rows)


def _failed_column(message: str, header: list[str]) -> str | None:
    """The column named in an Arrow CSV conversion error, if any."""
    found = re.search(r"column #(\d+)", message)
    if found and int(found.group(1)) < len(header):
        return header[int(found.group(1))]
    return None


def _needs_text(column: pa.ChunkedArray) -> bool:
    """Typed values the cleaner must see as text: infinities, NaN, dates with a time."""
    if pa.types.is_floating(column.type):
        finite = pc.is_finite(column)
        return bool(pc.any(pc.invert(pc.fill_null(finite, True))).as_py())
    if pa.types.is_timestamp(column.type):
        with_time = pc.not_equal(pc.floor_temporal(column, unit="day"), column)
        return bool(pc.any(pc.fill_null(with_time, False)).as_py())
    return False


def _nth_remaining(i: np.ndarray, base: int, skipped: np.ndarray) -> np.ndarray:
    """The ``i``-th (0-based) integer counting from ``base`` once ``skipped`` are removed."""
    if not skipped.size:
        return base + i
    remaining_before = skipped - base - np.arange(skipped.size)
    return base + i + np.searchsorted(remaining_before, i, side="right")


def _read_header(path: Path, encoding: str, delimiter: str) -> list[str]:
    with path.open("r", encoding=encoding, newline="") as handle:
        first = handle.readline()
    if not first.strip():
        raise DataError(
            "the first line is empty: no header row",
            file=str(path),
            line=1,
            hint="the first line must hold the column names",
        )
    header = [
        h.strip().lstrip("\ufeff").strip()
        for h in next(csv.reader(io.StringIO(first), delimiter=delimiter))
    ]
    if len(header) == 1:
        for other in _OTHER_DELIMITERS:
            if other != delimiter and len(first.split(other)) > 2:
                raise DataError(
                    f"the header has one column but looks {_name(other)}-delimited: "
                    f"{first.strip()[:60]!r}",
                    file=str(path),
                    line=1,
                    hint=f"set delimiter: {_yaml_char(other)} for this source in the sources "
                    "config, or export with commas",
                )
    blanks = [i + 1 for i, h in enumerate(header) if not h]
    if blanks:
        raise DataError(
            f"header field {blanks[0]} is blank",
            file=str(path),
            line=1,
            hint="every column needs a name",
        )
    seen: set[str] = set()
    dupes = [h for h in header if h in seen or seen.add(h)]  # type: ignore[func-returns-value]
    if dupes:
        raise DataError(
            f"duplicate column names in the header: {join_limited(dupes)}",
            file=str(path),
            line=1,
            hint="give every column a distinct name",
        )
    return header


def _name(delim: str) -> str:
    return {"\t": "tab", ";": "semicolon", "|": "pipe", ",": "comma"}[delim]


def _yaml_char(delim: str) -> str:
    return '"\\t"' if delim == "\t" else f"'{delim}'"


def _read_parquet(path: Path) -> RawTable:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(
            f"cannot read the Parquet file: {exc}",
            file=str(path),
            hint="check that it is a complete Parquet file",
        ) from None
    return RawTable(
        path, table, np.arange(1, table.num_rows + 1), list(table.column_names), "parquet"
    )
