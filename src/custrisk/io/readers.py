"""Reading exports (CSV, Parquet or Excel) as raw text columns with their line numbers.

Every column is read as text so that no leading zero of an id is lost and malformed
values can be reported rather than guessed at; typing is the cleaner's job.

A CSV record is one physical line. A line that opens a quote it does not close, holds a
stray carriage return or is longer than ``max_line_bytes`` is a rejected row with its
line number, and the lines after it are read as usual (:mod:`custrisk.io.csv_lines`):
rows in always equal the file's data lines. Only the declared columns are read, matched
to the header case- and width-insensitively. Messages never repeat a data row.

The header is read and matched by :mod:`custrisk.io.header`, a CSV's rows by
:mod:`custrisk.io.csv_reader`; this module dispatches on the format and reads
workbooks and Parquet files.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from custrisk.config.columns import header_key
from custrisk.errors import DataError
from custrisk.io.cells import cell_text, table_from_columns
from custrisk.io.csv_reader import BadRow, CsvReader
from custrisk.io.encoding import (
    normalise_encoding,
    scan_ahead,
    scan_text_file,
)
from custrisk.io.excel import ExcelLimits, is_excel, read_sheet, split_sheet
from custrisk.io.header import (
    INDEX,
    UNNAMED,
    check_row_numbers,
    check_unnamed_empty,
    looks_like_data,
    match_header,
    read_header,
    shown_header,
    shown_names,
)
from custrisk.privacy import mask_pii_text

log = logging.getLogger(__name__)

CSV_SUFFIXES = (".csv", ".txt", ".tsv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
#: The rule of a workbook cell with an error value (#N/A, #DIV/0!) in a column read: its
#: row rejected, or the cell blanked (``blank_errors``).
EXCEL_ERROR = "excel_error"

MAX_HEADER_BYTES = 16 << 20  # a first line longer than this is not a header row
MAX_LINE_BYTES = 1 << 20  # a data line longer than this is a rejected row


@dataclass(frozen=True)
class BlankedCell:
    """A workbook cell holding an Excel error in a column whose bad values are blanked
    (``blank_errors`` of :func:`read_raw`): the row is kept with the cell empty, and the
    cleaner lists the cell as repaired (rule ``excel_error``)."""

    line: int
    column: str  # the canonical column
    text: str  # the error, e.g. "#N/A"
    message: str  # which cell holds which error (the cleaner adds that it was blanked)


@dataclass
class RawTable:
    """One file's rows (Arrow; text for CSV), with the physical line or row number of each.

    The table holds the columns that were asked for, named as they were declared; the
    file's own header is ``header``.
    """

    path: Path
    table: pa.Table
    lines: np.ndarray
    header: list[str]
    encoding: str
    bad_rows: list[BadRow] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)  # header fields not read
    folded: list[tuple[str, str]] = field(default_factory=list)  # (header, declared name)
    #: The file as rejects and messages name it when its name alone is not enough: its
    #: path in the exports folder (``transactions/txn_type=order/part-00000.parquet``)
    label: str | None = None
    #: Workbook cells holding an Excel error that were blanked, their rows kept
    blanked: list[BlankedCell] = field(default_factory=list)
    #: A CSV's delimiter as read (the one its ``sep=`` line declares, if any): how the
    #: text of its bad rows splits into fields
    delimiter: str = ","

    def __post_init__(self) -> None:
        self.num_rows = self.table.num_rows

    @property
    def shown_name(self) -> str:
        """The file's name in rejects and messages: its :attr:`label`, or its name, with a
        phone number, ID number or e-mail address in it masked (``王小明_138****5678.xlsx``)."""
        return mask_pii_text(self.label or self.path.name)

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

    @property
    def headerless(self) -> bool:
        """Whether the first line looks like a data row rather than column names."""
        return looks_like_data(self.header)

    def header_text(self, limit: int = 8) -> str:
        """The header for a message: its names (personal data masked, long names cut),
        or a note that the first line looks like a data row (whose values it does not
        repeat)."""
        if self.headerless:
            return "the first line looks like a data row, not a header (is the header missing?)"
        return f"the file has: {shown_names(self.header, limit)}"

    def closest(self, name: str) -> str | None:
        """The unread header field that ``name`` was probably meant to be, if any."""
        keys = {header_key(h): h for h in self.unmatched}
        found = difflib.get_close_matches(header_key(name), list(keys), n=1, cutoff=0.8)
        return shown_header(keys[found[0]]) if found else None


def file_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if is_excel(Path(name)):
        return "excel"
    raise DataError(
        f"unsupported file type '{path.suffix}'",
        file=str(path),
        hint="export as .csv, .parquet or .xlsx",
    )


def scan_before_reading(paths: Iterable[Path], encoding: str | None = None) -> None:
    """Begin, in a background thread, the scan :func:`read_raw` starts a CSV file with
    (encoding, line ends, line lengths), for files to be read later with ``encoding``
    and the default line limit. Other files are left to their readers."""
    try:
        encoding = normalise_encoding(encoding) if encoding is not None else None
    except LookupError:  # read_raw reports it
        return
    scan_ahead([p for p in paths if _plain_csv(p)], encoding, max_line_bytes=MAX_LINE_BYTES)


def _plain_csv(path: Path) -> bool:
    name = path.name.lower()
    if not name.endswith(CSV_SUFFIXES) or name.endswith(".gz"):
        return False
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


#: The type of a CSV column read as a dictionary (``dictionary_columns``).
DICTIONARY_TEXT = pa.dictionary(pa.int32(), pa.large_string())


def read_raw(
    path: str | os.PathLike[str],
    *,
    delimiter: str = ",",
    encoding: str | None = None,
    typed: Mapping[str, pa.DataType] | None = None,
    null_values: Sequence[str] = (),
    true_values: Sequence[str] = (),
    false_values: Sequence[str] = (),
    columns: Mapping[str, str] | None = None,
    multiline_columns: Collection[str] = (),
    max_header_bytes: int = MAX_HEADER_BYTES,
    max_line_bytes: int = MAX_LINE_BYTES,
    sheet: str | None = None,
    date_columns: Collection[str] = (),
    excel_limits: ExcelLimits | None = None,
    dictionary_columns: Collection[str] = (),
    blank_errors: Collection[str] = (),
    max_rows: int | None = None,
) -> RawTable:
    """Read a CSV, Parquet or Excel export; columns are text unless ``typed`` says otherwise.

    Parameters
    ----------
    columns
        ``{header: canonical column}`` of the declared columns: only these are read
        (``None``: every column). A header that differs from a declared one only in
        case, character width or traditional characters (``EDUCATION``,
        ``ｅｄｕｃａｔｉｏｎ``, ``客戶編號`` for ``客户编号``), or else in spaces and line
        breaks (``逾期\n次数`` for ``逾期次数``), matches it; the table names the column
        as declared.
    typed
        Declared columns mapped to the Arrow type (int64, float64, timestamp[s], bool)
        worth trying on the fast path: Arrow parses them strictly (ISO dates, no
        thousands separators, no stray spaces). A column with any value Arrow cannot
        parse, a non-finite number or a date with a time of day is read as text instead,
        so that the cleaner can repair or report each bad value.
    multiline_columns
        Declared columns whose quoted values may hold line breaks (free text); a quote
        left open in any other column is a rejected line.
    max_header_bytes, max_line_bytes
        The longest first line read as a header (longer: an error) and the longest data
        line (longer: a rejected row).
    sheet
        The sheet of a workbook (``None``: the one named as ``FILE.xlsx#SHEET`` in
        ``path``, else the first visible worksheet); see :mod:`custrisk.io.excel`.
    date_columns
        Declared columns that hold dates: in a workbook, a number there is an Excel
        serial date.
    excel_limits
        What a workbook may hold (sheets, rows, columns, cells, unzipped bytes).
    dictionary_columns
        Declared text columns of few distinct values (categories): a CSV's are read
        as Arrow dictionaries (the same text, held once per distinct value per block),
        and so are a Parquet file's text columns among them.
    blank_errors
        Declared columns whose bad values are blanked (optional, ``on_invalid: blank``):
        in a workbook, a cell there holding an Excel error is read as empty and its row
        kept (:attr:`RawTable.blanked`), as the cleaner blanks any other bad value of
        such a column; in any other column read, it rejects its row.
    max_rows
        Read the first rows only, to look at them (``init``, a table's layout): at most
        this many, and all of them when the file has no more. The rest of a CSV or
        Parquet file is not read (nor checked); a workbook's sheet is read whole.

    Raises
    ------
    DataError
        Empty or undecodable file, no header, an oversized header, duplicate header names,
        two headers matching one declared column, or a delimiter that does not match.
    """
    path, named_sheet = split_sheet(path)
    if not path.is_file():
        raise DataError("file not found", file=str(path), hint="check the path and the file name")
    kind = file_format(path)
    if kind == "parquet":
        return _read_parquet(path, columns, dictionary_columns, max_rows)
    if kind == "excel":
        if sheet is not None and named_sheet is not None and sheet != named_sheet:
            raise DataError(
                f"two sheets are named: {named_sheet!r} after '#' and {sheet!r} in the config",
                file=str(path),
                hint="name the sheet in one place",
            )
        return _read_excel(
            path,
            sheet or named_sheet,
            columns,
            typed or {},
            date_columns,
            excel_limits or ExcelLimits(),
            blank_errors,
        )
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
    scan = scan_text_file(
        path,
        encoding,
        max_line_bytes=max_line_bytes,
        max_lines=None if max_rows is None else head_lines(max_rows),
    )
    found = read_header(path, scan, delimiter, max_header_bytes)
    header = found.names
    unnamed = [name for name in header if name.startswith(UNNAMED)]
    index = header[:1] if header[0] == INDEX else []
    named = [name for name in header if not name.startswith(UNNAMED) and name != INDEX]
    if columns is None:
        chosen = {name: name for name in named}
        folded: list[tuple[str, str]] = []
    else:
        chosen, folded = match_header(named, columns, path)
    types = {**(typed or {}), **dict.fromkeys(dictionary_columns, DICTIONARY_TEXT)}
    reader = CsvReader(
        path,
        scan,
        header,
        found.end,
        chosen,
        header_line=found.line,
        delimiter=found.delimiter,
        typed={actual: types[name] for actual, name in chosen.items() if name in types},
        multiline={actual for actual, name in chosen.items() if name in multiline_columns},
        null_values=null_values,
        true_values=true_values,
        false_values=false_values,
        max_line_bytes=max_line_bytes,
        unnamed=[*index, *unnamed],
    )
    table, lines, bad_rows = reader.read()
    check_unnamed_empty(table, unnamed, lines, path, found.line)
    if index:
        check_row_numbers(table.column(INDEX), lines, path, found.line)
    table = table.select(reader.chosen).rename_columns([chosen[n] for n in reader.chosen])
    if max_rows is not None and table.num_rows > max_rows:
        left_out = int(lines[max_rows])  # the line of the first row left out
        table, lines = table.slice(0, max_rows), lines[:max_rows]
        bad_rows = [b for b in bad_rows if b.line < left_out]
    unmatched = [name for name in named if name not in chosen]
    return RawTable(
        path,
        table,
        lines,
        named,
        scan.encoding,
        bad_rows,
        unmatched,
        folded,
        delimiter=found.delimiter,
    )


def head_lines(rows: int) -> int:
    """The lines of a CSV file read to look at its first ``rows`` rows: the header, the
    rows and as many lines again (empty ones, values over several lines)."""
    return 2 * rows + 1


def _read_excel(
    path: Path,
    sheet: str | None,
    columns: Mapping[str, str] | None,
    typed: Mapping[str, pa.DataType],
    date_columns: Collection[str],
    limits: ExcelLimits,
    blank_errors: Collection[str] = (),
) -> RawTable:
    """One sheet as a raw table: a row with an Excel error (``#N/A``) in a column that is
    read is a rejected row naming the cell, holding the row's cells (for its key); in a
    column of ``blank_errors`` the cell is blanked instead and the row kept."""
    data = read_sheet(path, sheet=sheet, declared=list(columns or ()), limits=limits)
    if columns is None:
        chosen: dict[str, str] = {n: n for n in data.header}
        folded: list[tuple[str, str]] = []
    else:
        chosen, folded = match_header(data.header, columns, data.path)
    by_position = dict(zip(data.positions, data.header, strict=True))
    bad_rows: dict[int, BadRow] = {}
    blanked: list[BlankedCell] = []
    at = {row: i for i, row in enumerate(data.rows)} if data.errors else {}
    for error in data.errors:
        name = by_position.get(error.column)
        if name not in chosen or error.row in bad_rows:
            continue
        canonical = columns[chosen[name]] if columns is not None else name
        message = (
            f"cell {error.ref} ({shown_header(name)}) "
            f"{error.what or f'holds the Excel error {error.text}'}"
        )
        if chosen[name] in blank_errors:
            # One error cell must not cost a row that any other bad value there would
            # leave in place (calamine reads the cell as "": made None, as a blank cell)
            if error.row in at:
                data.columns[name][at[error.row]] = None
            blanked.append(BlankedCell(error.row, canonical, error.text, message))
            continue
        cells = (
            tuple(cell_text(data.columns[n][at[error.row]]) for n in data.header)
            if error.row in at
            else ()
        )
        bad_rows[error.row] = BadRow(
            error.row,
            len(data.header),
            len(data.header),
            error.text,
            rule=EXCEL_ERROR,
            message=message,
            column=canonical,
            cells=cells,
        )
    keep = [i for i, row in enumerate(data.rows) if row not in bad_rows]
    every = len(keep) == len(data.rows)
    values = {
        chosen[name]: column if every else [column[i] for i in keep]
        for name, column in data.columns.items()
        if name in chosen
    }
    table = table_from_columns(
        values,
        {name: typed[name] for name in values if name in typed},
        [name for name in values if name in date_columns],
        date1904=data.date1904,
    )
    return RawTable(
        data.path,
        table,
        np.asarray(data.rows if every else [data.rows[i] for i in keep], dtype=np.int64),
        data.header,
        path.suffix.lower().lstrip("."),
        sorted(bad_rows.values(), key=lambda b: b.line),
        unmatched=[n for n in data.header if n not in chosen],
        folded=folded,
        # (a row rejected for an error cell elsewhere is listed for that one only)
        blanked=[cell for cell in blanked if cell.line not in bad_rows],
    )


def _parquet_head(
    path: Path, columns: list[str], as_dictionary: list[str], max_rows: int
) -> pa.Table:
    with pq.ParquetFile(path, read_dictionary=as_dictionary) as file:
        batches = []
        rows = 0
        for batch in file.iter_batches(batch_size=max_rows, columns=columns):
            batches.append(batch)
            rows += batch.num_rows
            if rows >= max_rows:
                break
        if not batches:  # (a file of no rows)
            return file.schema_arrow.empty_table().select(columns)
        table = pa.Table.from_batches(batches)
    return table.slice(0, max_rows)


def _read_parquet(
    path: Path,
    columns: Mapping[str, str] | None,
    dictionary_columns: Collection[str] = (),
    max_rows: int | None = None,
) -> RawTable:
    try:
        schema = pq.read_schema(path)
        names = list(schema.names)
        chosen, folded = (
            ({n: n for n in names}, []) if columns is None else match_header(names, columns, path)
        )
        # Text categories read as dictionaries: a column the file holds dictionary-encoded
        # (as pyarrow, pandas and Spark write text) is read as its distinct values and the
        # codes, not as text per row (200k customers' transactions: their read and cleaning
        # 2.1 s to 0.8 s). The same text as read plainly.
        as_dictionary = [
            name
            for name, declared in chosen.items()
            if declared in dictionary_columns
            and (
                pa.types.is_string(schema.field(name).type)
                or pa.types.is_large_string(schema.field(name).type)
            )
        ]
        wanted = [n for n in names if n in chosen]
        if max_rows is None:
            table = pq.read_table(path, columns=wanted, read_dictionary=as_dictionary)
        else:  # the first row groups only
            table = _parquet_head(path, wanted, as_dictionary, max_rows)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(
            f"cannot read the Parquet file: {mask_pii_text(str(exc))[:200]}",
            file=str(path),
            hint="check that it is a complete Parquet file",
        ) from None
    table = table.rename_columns([chosen[n] for n in table.column_names])
    unmatched = [n for n in names if n not in chosen]
    return RawTable(
        path,
        table,
        np.arange(1, table.num_rows + 1),
        names,
        "parquet",
        unmatched=unmatched,
        folded=folded,
    )
