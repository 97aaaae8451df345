"""Reading one sheet of a workbook (.xlsx, .xlsm, .xls, .ods) as cell values.

python-calamine (Rust) reads the cells. Before it does, an .xlsx/.xlsm is checked
against the limits (:class:`ExcelLimits`): the size of what it unzips to, the number of
sheets, cells, rows and columns, so that a hostile workbook (a zip bomb, a cell placed at
XFD1048576 to make the reader allocate the whole grid) is refused with a clear error
before any memory is spent on it. The same pass finds the cells that hold an Excel error
(``#N/A``, ``#DIV/0!``, ...), which calamine shows as empty cells.

The header is found past title rows (the first row among the first
:data:`HEADER_SEARCH_ROWS` that names most of the declared columns, or else the first
row of text as wide as the data); a cell merged across columns gives its text to each of
them, and a two-row header (a merged parent over child names) gives ``parent/child``.
A cell merged down a column of data rows gives its value to every row it spans.
Formulas give their cached values; dates come as dates.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from python_calamine import CalamineError, CalamineWorkbook

from custrisk.config.columns import header_key
from custrisk.config.locations import EXCEL_SUFFIXES
from custrisk.errors import DataError
from custrisk.io.excel_head import head_workbook
from custrisk.io.excel_package import (
    ZIP_FORMATS,
    CellError,
    ExcelLimits,
    XlsxPackage,
    column_letter,
    short_error,
)
from custrisk.io.file_kind import not_a_workbook
from custrisk.privacy import mask_pii_text

log = logging.getLogger(__name__)

#: The limits a workbook is read within unless a run configures its own.
DEFAULT_LIMITS = ExcelLimits()

#: Rows searched for the header (title rows above it are skipped).
HEADER_SEARCH_ROWS = 30
#: Joins a merged parent header and the child header under it.
HEADER_JOIN = "/"


@dataclass
class SheetData:
    """The data rows of a sheet, column by column, below the header."""

    path: Path  # for messages: the workbook, with ``#sheet`` when it has several
    sheet: str
    header: list[str]
    header_rows: tuple[int, ...]  # 1-based
    columns: dict[str, list[Any]]  # header name -> cell values of the data rows
    rows: list[int]  # 1-based sheet row of each data row
    positions: list[int] = field(default_factory=list)  # 0-based column of each header name
    errors: list[CellError] = field(default_factory=list)
    date1904: bool = False
    #: The data rows (1-based) the sheet hides, read like the others (a warning says so).
    hidden_rows: list[int] = field(default_factory=list)


def is_excel(path: Path) -> bool:
    return path.name.lower().endswith(EXCEL_SUFFIXES)


def first_cells(path: str | os.PathLike[str], rows: int = 10) -> set[str] | None:
    """The texts of the cells in the first ``rows`` rows of a workbook's first sheet,
    stripped (``None`` when it cannot be read: the reader says why later, with context).

    For telling one system's export from another by its headers without reading the
    whole sheet (a title row may come before the header)."""
    grid = top_rows(path, 0, rows)
    if grid is None:
        return None
    return {str(cell).strip() for row in grid for cell in row if isinstance(cell, str)}


def top_rows(
    path: str | os.PathLike[str], sheet: str | int = 0, rows: int = 10
) -> list[list[Any]] | None:
    """The cells of the first ``rows`` rows of a workbook's sheet (its name, or its
    place), or ``None`` when it cannot be read (the reader says why later, with context)
    or is over the reader's limits."""
    if not _safe_to_open(Path(path)):
        return None
    try:
        head = _head_rows(Path(path), sheet, rows)
        if head is not None:
            return head
        with CalamineWorkbook.from_path(str(path)) as workbook:
            found = (
                workbook.get_sheet_by_index(sheet)
                if isinstance(sheet, int)
                else workbook.get_sheet_by_name(sheet)
            )
            return [list(row) for row in found.to_python(nrows=rows)]
    except (CalamineError, OSError, ValueError, IndexError, KeyError):
        return None


def _head_rows(path: Path, sheet: str | int, rows: int) -> list[list[Any]] | None:
    """:func:`top_rows` of an .xlsx read from a workbook of the sheet's first rows alone
    (:mod:`custrisk.io.excel_head`); ``None`` to read the sheet whole (not an .xlsx, a
    short sheet, or too few rows with values among those read)."""
    if path.suffix.lower() not in ZIP_FORMATS:
        return None
    try:
        package = XlsxPackage(path, ExcelLimits())
    except DataError:
        return None
    with package.zip:
        names = list(package.parts)
        if isinstance(sheet, int):
            sheet = names[sheet] if 0 <= sheet < len(names) else ""
        part = package.parts.get(sheet)
        if part is None or part not in package.zip.namelist():
            return None
        cap = package.limits.max_unzipped_bytes
        data = head_workbook(
            package.zip,
            part,
            {p for p in package.parts.values() if p},
            rows,
            lambda info: package._chunks(info, cap),
        )
    if data is None:
        return None
    with CalamineWorkbook.from_filelike(io.BytesIO(data)) as workbook:
        grid = [list(row) for row in workbook.get_sheet_by_name(sheet).to_python(nrows=rows)]
    return grid if len(grid) >= rows else None


def _safe_to_open(path: Path, limits: ExcelLimits = DEFAULT_LIMITS) -> bool:
    """Whether a workbook is within the limits the reader checks before it opens one
    (its size; an .xlsx's unzipped size), so that a glance at its first rows does not
    unzip a bomb the reader would refuse."""
    try:
        if path.suffix.lower() in ZIP_FORMATS:
            XlsxPackage(path, limits).zip.close()
            return True
        return path.stat().st_size <= limits.max_file_bytes
    except (DataError, OSError):
        return False


def visible_worksheets(path: str | os.PathLike[str]) -> list[str]:
    """The names of a workbook's visible worksheets, in order (``[]`` when it cannot be
    read: the reader says why later, with context)."""
    try:
        with CalamineWorkbook.from_path(str(path)) as workbook:
            return [
                str(meta.name)
                for meta in workbook.sheets_metadata
                if str(meta.typ).endswith("WorkSheet") and str(meta.visible).endswith(".Visible")
            ]
    except (CalamineError, OSError, ValueError):
        return []


def layout_sheet(path: Path, saved: str | None, headers: Collection[str] = ()) -> str | None:
    """The sheet to read a table of a saved layout on (a flat table's: ``saved``, the
    sheet it was inferred on, ``None`` for a CSV, and its ``headers``): ``saved`` when
    the workbook has it; else the workbook's only visible worksheet, or the first whose
    top rows hold at least half of ``headers`` and most of them (next month's workbook
    saved again as Sheet1, its sheet named for its month, or a cover sheet 说明 before
    the data of a table first trained on a CSV); a sheet other than ``saved`` is said in
    a warning. Else ``saved``, which the reader refuses naming the sheets there are (or,
    ``None``, reads the first)."""
    if not is_excel(path) or not path.is_file():
        return saved
    names = visible_worksheets(path)
    if not names or (saved is not None and named_sheet(names, saved) is not None):
        return saved
    chosen = names[0] if len(names) == 1 else _sheet_holding(path, names, headers)
    if chosen is None or chosen == saved:
        return saved
    if saved is not None:
        log.warning(
            "%s has no sheet %r, which the layout was read on: its sheet %r is read",
            mask_pii_text(path.name),
            saved,
            mask_pii_text(chosen),
        )
    return chosen


def named_sheet(names: Collection[str], wanted: str) -> str | None:
    """The sheet of ``names`` that ``wanted`` names: as it is, as its header key (case,
    spaces and width aside), or as a layout keeps a name holding personal data
    (``客户138****5678`` for the sheet ``客户13812345678``: a model folder and a config
    never hold it in clear) when one sheet alone masks to it; ``None`` when none does."""
    if wanted in names:
        return wanted
    key = header_key(wanted)
    found = [n for n in names if header_key(n) == key]
    if found:
        return found[-1]
    masked = [n for n in names if header_key(mask_pii_text(n)) == key] if "*" in wanted else []
    return masked[0] if len(masked) == 1 else None  # (two alike once masked: neither)


def _sheet_holding(path: Path, names: list[str], headers: Collection[str]) -> str | None:
    """The first of the sheets ``names`` whose top rows hold most of ``headers``, when
    that is at least half of them; else ``None``."""
    wanted = {header_key(h) for h in headers}
    best, most = None, 0
    for name in names:
        cells = {header_key(str(c)) for row in top_rows(path, name) or [] for c in row if c}
        if len(cells & wanted) > most:
            best, most = name, len(cells & wanted)
    return best if wanted and most * 2 >= len(wanted) else None


def split_sheet(path: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """``book.xlsx#Sheet`` as the workbook and the sheet name (``None`` when not given).

    A file that exists under the full name is taken as it is.
    """
    text = str(path)
    if "#" in text and not Path(text).exists():
        base, _, sheet = text.rpartition("#")
        if is_excel(Path(base)) and sheet:
            return Path(base), sheet
    return Path(text), None


def read_sheet(
    path: str | Path,
    *,
    sheet: str | None = None,
    declared: Collection[str] = (),
    limits: ExcelLimits = DEFAULT_LIMITS,
) -> SheetData:
    """The data of one sheet: header, cell values by column, row numbers, error cells.

    Parameters
    ----------
    sheet
        The sheet's name; ``None``: the first visible worksheet.
    declared
        Header names the caller looks for: the header row is the one that holds most of
        them (title rows above it are skipped).

    Raises
    ------
    DataError
        Not a workbook, a missing sheet, over a limit, no header row, duplicate headers.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in ZIP_FORMATS and path.stat().st_size > limits.max_file_bytes:
        raise DataError(
            f"the workbook is {path.stat().st_size:,} bytes, over the limit of "
            f"{limits.max_file_bytes:,}",
            file=str(path),
            hint="save the sheet as .xlsx or CSV",
        )
    package = XlsxPackage(path, limits) if suffix in ZIP_FORMATS else None
    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError, ValueError) as exc:
        kind = not_a_workbook(path)
        if kind is not None:
            raise DataError(kind[0], file=str(path), hint=kind[1]) from None
        raise DataError(
            f"cannot read the workbook: {short_error(exc)}",
            file=str(path),
            hint="check that it is a complete Excel or OpenDocument file (a password-"
            "protected workbook must be saved without its password)",
        ) from None
    with workbook:
        names = [m.name for m in workbook.sheets_metadata]
        if len(names) > limits.max_sheets:
            raise DataError(
                f"the workbook has {len(names):,} sheets, over the limit of {limits.max_sheets:,}",
                file=str(path),
                hint="save the sheet you need in a workbook of its own",
            )
        chosen = _choose_sheet(path, workbook.sheets_metadata, sheet)
        shown = path.with_name(f"{path.name}#{chosen}") if sheet or len(names) > 1 else path
        errors: list[CellError] = []
        date1904 = False
        hidden: set[int] = set()
        if package is not None:
            errors = package.check_sheet(chosen, shown)
            date1904 = package.date1904
            hidden = package.hidden
        try:
            found = workbook.get_sheet_by_name(chosen)
            grid = found.to_python(skip_empty_area=False)
            merged = found.merged_cell_ranges or []
        except (CalamineError, ValueError) as exc:
            raise DataError(
                f"cannot read the sheet {chosen!r}: {short_error(exc)}", file=str(shown)
            ) from None
    if len(grid) > limits.max_rows or (grid and len(grid[0]) > limits.max_columns):
        raise DataError(
            f"the sheet has {len(grid):,} rows and {len(grid[0]) if grid else 0:,} columns, "
            f"over the limit of {limits.max_rows:,} rows and {limits.max_columns:,} columns",
            file=str(shown),
            hint="split the sheet, or export it as CSV or Parquet",
        )
    data = _sheet_data(grid, merged, shown, chosen, declared, errors, date1904)
    _say_hidden(data, hidden, path)
    return data


#: The workbooks (path, sheet, modification) whose hidden rows were warned of.
_SAID_HIDDEN: set[tuple[Any, ...]] = set()


def _say_hidden(data: SheetData, rows: set[int], workbook: Path) -> None:
    """Warn of the data rows the sheet hides (a filter's, or hidden by hand): they are
    read like the others, so more customers are scored than the sheet shows. (Hidden
    columns are listed with the others by the layout custrisk prints.)"""
    if not rows:  # (the usual sheet: no set of its every row number)
        return
    data.hidden_rows = sorted(rows.intersection(data.rows))
    if not data.hidden_rows:
        return
    # (once per workbook and sheet as it is: train reads a table twice, to infer its
    # layout and then to clean it)
    try:
        stat = workbook.stat()
    except OSError:
        stat = None
    said = (str(data.path), data.sheet, stat and (stat.st_mtime_ns, stat.st_size))
    if said in _SAID_HIDDEN:
        return
    _SAID_HIDDEN.add(said)
    log.warning(
        "%s: %s of the %s rows under its header are hidden in the sheet (%s: a filter, or "
        "hidden by hand) and are read like the others; to leave them out, delete them from "
        "the sheet (or copy the rows the filter shows into a new sheet)",
        data.path,
        f"{len(data.hidden_rows):,}",
        f"{len(data.rows):,}",
        _row_ranges(data.hidden_rows),
    )


def _row_ranges(rows: list[int], limit: int = 4) -> str:
    """Sorted row numbers as ``rows 10-21, 30`` (the first ``limit`` runs, then how
    many more rows)."""
    runs: list[list[int]] = []
    for row in rows:
        if runs and row == runs[-1][1] + 1:
            runs[-1][1] = row
        else:
            runs.append([row, row])
    shown = ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in runs[:limit])
    rest = sum(b - a + 1 for a, b in runs[limit:])
    word = "row" if len(rows) == 1 else "rows"
    return f"{word} {shown}" + (f" and {rest:,} more" if rest else "")


def _choose_sheet(path: Path, metadata: list[Any], sheet: str | None) -> str:
    names = [m.name for m in metadata]
    if sheet is not None:
        found = named_sheet(names, sheet)
        if found is not None:
            return found
        raise DataError(
            f"the workbook has no sheet {sheet!r}; it has: {_listed(names)}",
            file=str(path),
            hint="name one of its sheets (sheet: in the sources config, or FILE.xlsx#SHEET)",
        )
    for meta in metadata:
        if str(meta.typ).endswith("WorkSheet") and str(meta.visible).endswith(".Visible"):
            return str(meta.name)
    raise DataError(
        "the workbook has no visible worksheet", file=str(path), hint="name the sheet to read"
    )


def _listed(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _sheet_data(
    grid: list[list[Any]],
    merged: list[tuple[tuple[int, int], tuple[int, int]]],
    path: Path,
    sheet: str,
    declared: Collection[str],
    errors: list[CellError],
    date1904: bool,
) -> SheetData:
    error_at = {(e.row - 1, e.column) for e in errors}
    top = _header_row(grid, declared, error_at)
    if top is None and (odd := _odd_header(grid, error_at)) is not None:
        row, cells = odd
        said = {(e.row - 1, e.column): e for e in errors}
        shown = "; ".join(
            f"{column_letter(c)}{row + 1} holds {_odd_cell(said.get((row, c)), grid[row], c)}"
            for c in cells[:3]
        )
        raise DataError(
            f"row {row + 1} looks like the header row, but "
            + ("a cell of it holds" if len(cells) == 1 else "cells of it hold")
            + f" no column name: {shown}",
            file=str(path),
            hint=f"type the column's name in {column_letter(cells[0])}{row + 1} (text, not a "
            "formula or a date)",
        )
    if top is None:
        raise DataError(
            "no header row found: the sheet is empty"
            if not any(any(not _blank(v) for v in row) for row in grid)
            else f"no header row found in the first {HEADER_SEARCH_ROWS} rows (a row of "
            "column names above the data)",
            file=str(path),
            hint="put the column names in one row above the data",
        )
    width = len(grid[0]) if grid else 0
    parents = _header_texts(grid[top], width)
    spans = [
        (c0, c1) for (r0, c0), (r1, c1) in merged if r0 <= top <= r1 and c1 > c0 and c0 < width
    ]
    for c0, c1 in spans:  # a merged cell's text belongs to every column it spans
        for column in range(c0 + 1, min(c1, width - 1) + 1):
            parents[column] = parents[c0]
    header_rows: tuple[int, ...] = (top + 1,)
    header = parents
    below = top + 1
    if spans and below < len(grid) and _is_child_row(grid[below], spans):
        children = _header_texts(grid[below], width)
        vertical = {c0 for (r0, c0), (r1, _c1) in merged if r0 <= top < below <= r1}
        header = [
            f"{p}{HEADER_JOIN}{c}" if p and c and p != c and col not in vertical else (p or c)
            for col, (p, c) in enumerate(zip(parents, children, strict=True))
        ]
        header_rows = (top + 1, below + 1)
        below += 1
    _fill_merged_down(grid, merged, below, width)
    used = [i for i, name in enumerate(header) if name]
    for i in range(width):  # an unnamed column with data is named after its letter
        if not header[i] and any(not _blank(row[i]) for row in grid[below:]):
            header[i] = f"({column_letter(i)})"
            used.append(i)
    used.sort()
    names = [header[i] for i in used]
    seen: set[str] = set()
    dupes = [n for n in names if n in seen or seen.add(n)]  # type: ignore[func-returns-value]
    if dupes:
        raise DataError(
            f"duplicate column names in the header: {_listed(sorted(set(dupes)), 5)}",
            file=str(path),
            line=header_rows[-1],
            hint="give every column a distinct name",
        )
    error_rows = {r for r, _c in error_at}
    rows = [
        i
        for i in range(below, len(grid))
        # any(): a quick yes for most rows (a number 0 or False is falsy, not blank)
        if any(grid[i]) or any(not _blank(v) for v in grid[i]) or i in error_rows
    ]
    data = [grid[i] for i in rows]
    columns = {name: [row[i] for row in data] for name, i in zip(names, used, strict=True)}
    in_data = [e for e in errors if e.row - 1 >= below]
    return SheetData(
        path=path,
        sheet=sheet,
        header=names,
        header_rows=header_rows,
        columns=columns,
        rows=[i + 1 for i in rows],
        positions=used,
        errors=in_data,
        date1904=date1904,
    )


def _fill_merged_down(
    grid: list[list[Any]],
    merged: list[tuple[tuple[int, int], tuple[int, int]]],
    below: int,
    width: int,
) -> None:
    """Give a cell merged down a column of data rows (a region or account manager merged
    over the rows of its group, as a report lays them out) to every row it spans, as
    the sheet shows it: calamine gives the value to the top cell only, and the rows
    under it read as blanks. Cells merged across columns in data rows (a note or a
    group's caption over the width) are left as they are."""
    for (r0, c0), (r1, c1) in merged:
        if r0 < below or r1 <= r0 or c1 != c0 or c0 >= width or r0 >= len(grid):
            continue
        value = grid[r0][c0] if c0 < len(grid[r0]) else None
        if _blank(value):
            continue
        for r in range(r0 + 1, min(r1, len(grid) - 1) + 1):
            if c0 < len(grid[r]) and _blank(grid[r][c0]):
                grid[r][c0] = value


def _header_texts(row: list[Any], width: int) -> list[str]:
    return [
        " ".join(str(v).split()) if isinstance(v, str) else ("" if _blank(v) else _named(v))
        for v in (row + [""] * (width - len(row)))[:width]
    ]


def _named(value: Any) -> str:
    """A header cell that is no text: a date cell (a month's column, shown 2026年1月) as
    its date, ``2026-01-01``, not ``2026-01-01 00:00:00``."""
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _text_cells(row: list[Any]) -> int:
    return sum(isinstance(v, str) and bool(v.strip()) for v in row)


def _date_cells(row: list[Any]) -> int:
    return sum(isinstance(v, dt.date) for v in row)


def _header_row(
    grid: list[list[Any]], declared: Collection[str], error_at: set[tuple[int, int]]
) -> int | None:
    """The header: the row naming most declared columns, else the first row of text at
    least half as wide as the widest row near the top."""
    search = range(min(len(grid), HEADER_SEARCH_ROWS))
    keys = {header_key(name) for name in declared}
    if keys:
        hits = [sum(isinstance(v, str) and header_key(v) in keys for v in grid[i]) for i in search]
        if hits and max(hits) > 0:
            return hits.index(max(hits))
    filled = [sum(not _blank(v) for v in grid[i]) for i in search]
    widest = max(filled, default=0)
    if not widest:
        return None
    for i in search:
        # (a date cell names a month's column: 客户编号, 2026年1月, 2026年2月, ...)
        texts, dates = _text_cells(grid[i]), _date_cells(grid[i])
        others = filled[i] - texts - dates + sum(1 for r, _c in error_at if r == i)
        if texts and texts + dates >= max(1, (widest + 1) // 2) and others == 0:
            return i
    return None


def _odd_header(
    grid: list[list[Any]], error_at: set[tuple[int, int]]
) -> tuple[int, list[int]] | None:
    """The header row :func:`_header_row` refused for a few cells that are no name (an
    Excel error such as ``#REF!``, a number or a time: a date cell whose value is no
    date), and those cells' columns: a row of names but for them, with more text cells
    than the row under it (a data row has as many). ``None`` when there is none."""
    search = range(min(len(grid), HEADER_SEARCH_ROWS))
    used = [i for i in search if any(not _blank(v) for v in grid[i])]
    widest = max((sum(not _blank(v) for v in grid[i]) for i in used), default=0)
    for i, below in zip(used, used[1:], strict=False):
        texts, dates = _text_cells(grid[i]), _date_cells(grid[i])
        odd = [
            c
            for c, v in enumerate(grid[i])
            if (i, c) in error_at or not (_blank(v) or isinstance(v, str | dt.date))
        ]
        if (
            odd
            and len(odd) < texts
            and texts + dates + len(odd) >= max(1, (widest + 1) // 2)
            and texts > _text_cells(grid[below])
        ):
            return i, odd
    return None


def _odd_cell(error: CellError | None, row: list[Any], column: int) -> str:
    """What a header cell that is no name holds, for a message."""
    if error is not None:
        return f"the Excel error {error.what or error.text}"
    value = row[column]
    if isinstance(value, dt.time):
        return f"the time {value.isoformat()} (a date cell whose value is no date?)"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"the number {value:.15g} (a date cell whose value is out of range?)"
    return repr(value)


def _is_child_row(row: list[Any], spans: list[tuple[int, int]]) -> bool:
    """Whether the row under a header with merged cells names the columns under them:
    text under a merged cell and nothing that looks like data."""
    if any(not _blank(v) and not isinstance(v, str) for v in row):
        return False
    return any(
        isinstance(row[c], str) and row[c].strip()
        for c0, c1 in spans
        for c in range(c0, min(c1 + 1, len(row)))
    )
