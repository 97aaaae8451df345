"""Writing tables as a workbook people are glad to get (xlsxwriter).

Every sheet has a frozen header, a filter, column widths fitted to the content (Chinese
characters count double), number formats by column kind (PD as a percentage, scores as
whole numbers, amounts with thousands separators, dates as Excel dates) and, where
asked, cell colours by value (grades, alert levels). Every text cell is written with
``write_string``: a value such as ``=HYPERLINK(...)`` stays literal text and no formula
or link can run. Rows are written in order with ``constant_memory`` so a large table
does not sit in memory twice. The file is written atomically with a private mode, like
every output.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xlsxwriter

from custrisk.errors import DataError
from custrisk.io.atomic import atomic_path, output_path

#: Data rows a sheet can hold (1,048,576 rows, one of them the header).
MAX_SHEET_ROWS = 1_048_575
#: Number formats by column kind.
NUMBER_FORMATS = {
    "percent": "0.00%",
    "share": "0.0%",
    "integer": "0",
    "amount": "#,##0.00",
    "count": "#,##0",
    "decimal": "#,##0.00",
    "number": "General",
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm",
}
#: Kinds whose cells are dates (ISO text, dates or timestamps in the frame).
DATE_KINDS = ("date", "datetime")
#: Fills of the traffic-light colours (Excel's good / neutral / bad styles and two steps
#: between them), best first.
FILLS = ("#C6EFCE", "#E2F0D9", "#FFEB9C", "#F8CBAD", "#FFC7CE")
LEVEL_FILLS = {"red": "#FFC7CE", "orange": "#F8CBAD", "yellow": "#FFEB9C"}
_MAX_WIDTH = 60
_SAMPLE_ROWS = 2000
#: Fixed document dates: the same tables give the same bytes.
_CREATED = dt.datetime(2000, 1, 1)


@dataclass(frozen=True)
class Sheet:
    """One sheet: a table, the kind of its numeric columns, colours by value."""

    name: str
    frame: pd.DataFrame
    kinds: Mapping[str, str] = field(default_factory=dict)  # column -> NUMBER_FORMATS key
    fills: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # column -> value -> fill


def ramp(values: Sequence[str]) -> dict[str, str]:
    """Traffic-light fills for ordered values (best first): green to red."""
    if not values:
        return {}
    if len(values) == 1:
        return {values[0]: FILLS[0]}
    last = len(FILLS) - 1
    return {value: FILLS[round(i * last / (len(values) - 1))] for i, value in enumerate(values)}


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def write_workbook(path: str | os.PathLike[str], sheets: Sequence[Sheet]) -> Path:
    """Write ``sheets`` to the workbook ``path`` (temp file + rename, mode 0600).

    Raises
    ------
    DataError
        When a table has more rows than a sheet holds.
    """
    target = Path(path)
    for sheet in sheets:
        if len(sheet.frame) > MAX_SHEET_ROWS:
            raise DataError(
                f"the {sheet.name} table has {len(sheet.frame):,} rows, more than an Excel "
                f"sheet holds ({MAX_SHEET_ROWS:,})",
                file=str(target),
                hint="write .csv or .parquet for a table this large",
            )
    with atomic_path(target) as tmp:
        write_workbook_to(tmp, sheets)
    return output_path(target)


def write_workbook_to(path: Path, sheets: Sequence[Sheet]) -> None:
    """Write the workbook to ``path`` as it is (no temp file): for a caller that stages."""
    workbook = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
            "nan_inf_to_errors": False,
        },
    )
    workbook.set_properties({"created": _CREATED})
    header = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    number_formats = {k: workbook.add_format({"num_format": v}) for k, v in NUMBER_FORMATS.items()}
    for sheet in sheets:
        _write_sheet(workbook, sheet, header, number_formats)
    workbook.close()


def _write_sheet(
    workbook: Any, sheet: Sheet, header: Any, number_formats: Mapping[str, Any]
) -> None:
    frame = sheet.frame
    worksheet = workbook.add_worksheet(sheet.name[:31])
    columns = [str(c) for c in frame.columns]
    kinds = [sheet.kinds.get(c) for c in columns]
    values = [_column_values(frame.iloc[:, i], kinds[i]) for i in range(len(columns))]
    for i, name in enumerate(columns):
        sample = [v for v in values[i][:_SAMPLE_ROWS] if v is not None]
        shown = [_shown(v, kinds[i]) for v in sample]
        width = max([display_width(name) + 2, *(display_width(s) + 1 for s in shown)])
        fmt = number_formats.get(kinds[i] or "")
        worksheet.set_column(i, i, min(width, _MAX_WIDTH) * 1.1, fmt)
    if columns:
        worksheet.freeze_panes(1, 0)
        worksheet.autofilter(0, 0, max(len(frame), 1), len(columns) - 1)
    for i, name in enumerate(columns):
        worksheet.write_string(0, i, name, header)
    for i, name in enumerate(columns):
        for value, fill in (sheet.fills.get(name) or {}).items():
            worksheet.conditional_format(
                1,
                i,
                max(len(frame), 1),
                i,
                {
                    "type": "cell",
                    "criteria": "==",
                    "value": '"' + str(value).replace('"', '""') + '"',
                    "format": workbook.add_format({"bg_color": fill}),
                },
            )
    writers = [_writer(worksheet, kinds[i], number_formats) for i in range(len(columns))]
    for row, cells in enumerate(zip(*values, strict=True), start=1):
        for col, value in enumerate(cells):
            if value is not None:
                writers[col](row, col, value)


#: Python formats of the numbers as NUMBER_FORMATS shows them (for the column widths).
_SHOWN = {
    "percent": "{:.2%}",
    "share": "{:.1%}",
    "integer": "{:.0f}",
    "amount": "{:,.2f}",
    "count": "{:,.0f}",
    "decimal": "{:,.2f}",
}


def _shown(value: Any, kind: str | None) -> str:
    """``value`` as the cell shows it: its column's width fits the shown text, not the
    float's seventeen digits."""
    if isinstance(value, float) and kind in _SHOWN:
        return _SHOWN[kind].format(value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M" if kind == "datetime" else "%Y-%m-%d")
    return str(value)


def _as_datetime(value: Any) -> Any:
    """A date cell's value: ISO text (``2026-10-31``, ``2026-11-01T00:00``), a date or a
    timestamp as a naive datetime, Excel's date; ``None`` for a blank; other text as it
    is (a cell that is not a date stays readable)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str):
        if not value:
            return None
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    return str(value)


def _writer(worksheet: Any, kind: str | None, number_formats: Mapping[str, Any]) -> Any:
    fmt = number_formats.get(kind or "")

    def write(row: int, col: int, value: Any) -> None:
        if isinstance(value, str):
            worksheet.write_string(row, col, value)
        elif isinstance(value, bool):
            worksheet.write_boolean(row, col, value)
        elif isinstance(value, int | float):
            worksheet.write_number(row, col, value, fmt)
        elif isinstance(value, dt.datetime):
            worksheet.write_datetime(row, col, value, fmt)
        else:
            worksheet.write_string(row, col, str(value))

    return write


def _column_values(column: pd.Series, kind: str | None) -> list[Any]:
    """The column as Python values, ``None`` for a blank (an empty text too: a cell
    holding "" is counted by COUNTA); numbers only for a numeric column (text elsewhere,
    even when it looks like a number: ids keep their zeros); datetimes for a date
    column."""
    if kind in DATE_KINDS:
        return [_as_datetime(v) for v in column.tolist()]
    if kind is not None and pd.api.types.is_numeric_dtype(column.dtype):
        numbers = column.to_numpy(dtype="float64", na_value=np.nan)
        return [None if not math.isfinite(v) else v for v in numbers.tolist()]
    if pd.api.types.is_bool_dtype(column.dtype):
        return [None if pd.isna(v) else bool(v) for v in column.tolist()]
    out: list[Any] = []
    for value in column.tolist():
        if value is None or value is pd.NA or (isinstance(value, str) and not value):
            out.append(None)
        elif isinstance(value, float) and math.isnan(value):
            out.append(None)
        elif isinstance(value, pd.Timestamp | dt.date):
            out.append(value.strftime("%Y-%m-%d") if value == value else None)
        else:
            out.append(value if isinstance(value, str | int | float | bool) else str(value))
    return out
