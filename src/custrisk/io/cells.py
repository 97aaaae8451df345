"""Typed cell values (from a workbook or a database) as the Arrow columns of a raw table.

A CSV gives text; a workbook or a query gives Python values: numbers, dates, booleans,
text. They become what the cleaner expects of a CSV: text, written the way a person
would type it (a whole number ``1.0`` as ``1``, never ``1.0``, so that no id gains a
decimal; a date as ``YYYY-MM-DD``), or, when every value of a column already has the
declared type, a typed column that the cleaner takes on its fast path.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

#: Excel's day zero: serial 1 is 1900-01-01 (with the 1900 leap-year bug, day 60 is
#: the 29 February 1900 that never was) or, in the 1904 system, serial 0 is 1904-01-01.
EPOCH_1900 = dt.datetime(1899, 12, 30)
EPOCH_1904 = dt.datetime(1904, 1, 1)
#: Serials of dates Excel can show: 1900-01-01 to 9999-12-31.
_MAX_SERIAL = 2958466
_EXACT = 2**53  # floats hold every whole number up to here


def excel_serial_date(serial: float, *, date1904: bool = False) -> dt.datetime | None:
    """The date (and time) of an Excel serial number, or ``None`` if it is not one."""
    if isinstance(serial, bool) or not math.isfinite(serial):
        return None
    if date1904:
        if not 0 <= serial < _MAX_SERIAL - 1462:
            return None
        return _round_second(EPOCH_1904 + dt.timedelta(days=serial))
    if not 1 <= serial < _MAX_SERIAL:
        return None
    # Before 1900-03-01 Excel counts a 29 February 1900 that did not exist.
    epoch = EPOCH_1900 if serial >= 61 else EPOCH_1900 + dt.timedelta(days=1)
    return _round_second(epoch + dt.timedelta(days=serial))


def _round_second(value: dt.datetime) -> dt.datetime:
    return (value + dt.timedelta(microseconds=500_000)).replace(microsecond=0)


def number_text(value: float | int | decimal.Decimal) -> str:
    """A number as a person types it: whole numbers without ``.0``, no exponent for
    whole numbers a float holds exactly."""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():  # a database's numeric 'Infinity' or 'NaN'
            return str(value)
        if value == value.to_integral_value():
            return str(value.quantize(decimal.Decimal(1)))
        return format(value.normalize(), "f")
    if math.isfinite(value) and value.is_integer() and abs(value) < _EXACT:
        return str(int(value))
    return repr(value)


def cell_text(value: Any) -> str | None:
    """The text of one cell: ``None`` for an empty cell."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | decimal.Decimal):
        return number_text(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat(timespec="seconds")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


def _is_blank(value: Any) -> bool:
    return value is None or value == ""


def _as_date(value: Any, serials: bool, date1904: bool) -> dt.datetime | None:
    """``value`` as a date at midnight if it is a date (or a serial, when ``serials``)."""
    if isinstance(value, dt.datetime):
        return value if value.time() == dt.time(0) else None
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if serials and isinstance(value, float | int) and not isinstance(value, bool):
        found = excel_serial_date(float(value), date1904=date1904)
        return found if found is not None and found.time() == dt.time(0) else None
    return None


def values_to_arrow(
    values: Sequence[Any],
    target: pa.DataType | None = None,
    *,
    date_serials: bool = False,
    date1904: bool = False,
) -> pa.Array:
    """One column of cell values as an Arrow array.

    Parameters
    ----------
    values
        The cells, top to bottom: ``None`` or ``""`` for an empty cell.
    target
        The Arrow type the column is declared as (int64, float64, timestamp[s], bool),
        or ``None`` for text. The column has that type only when every non-empty cell
        holds such a value (a date column: dates with no time of day); otherwise it is
        text and the cleaner reports each bad value.
    date_serials
        The column holds dates: a number is an Excel serial date (``date1904``: the
        1904 date system) and becomes the date it stands for.
    """
    if date_serials:
        values = _days_of(values)
    if target is not None:
        typed = _typed(values, target, date_serials, date1904)
        if typed is not None:
            return typed
    kinds = {type(v) for v in values}
    if kinds <= {str}:
        return pa.array(values, pa.large_string())
    if not date_serials and kinds <= {float, int, str, type(None)}:
        fast = _numbers_as_text(values, int in kinds)
        if fast is not None:
            return fast
    if date_serials:
        texts = []
        for value in values:
            if isinstance(value, float | int) and not isinstance(value, bool):
                found = excel_serial_date(float(value), date1904=date1904)
                if found is not None:
                    value = found
            texts.append(cell_text(value))
        return pa.array(texts, pa.large_string())
    return pa.array([cell_text(v) for v in values], pa.large_string())


def _days_of(values: Sequence[Any]) -> list[Any]:
    """A date column's cells with any time of day left out: a date and time cell (or an
    Excel serial with a fraction) holds its day, as a Parquet or database timestamp in a
    date column does (a workbook's ``2026-10-31 14:30`` was rejected as no date)."""
    return [_day_of(value) for value in values]


def _day_of(value: Any) -> Any:
    """The cell itself, or its day when it holds a time of day."""
    if isinstance(value, dt.datetime) and value.time() != dt.time(0):
        return dt.datetime(value.year, value.month, value.day)
    if type(value) is float and math.isfinite(value) and not value.is_integer():
        if excel_serial_date(value) is not None:  # else the cleaner reports it
            return float(math.floor(value))
    return value


def _numbers_as_text(values: Sequence[Any], has_int: bool) -> pa.Array | None:
    """A column of numbers and blanks as text, vectorised (``None`` when it holds text,
    or integers a float cannot hold): whole numbers without ``.0`` or an exponent."""
    if any(type(v) is str and v != "" for v in values):
        return None
    numbers = [v if type(v) is float or type(v) is int else None for v in values]
    if has_int and any(type(v) is int and abs(v) >= _EXACT for v in numbers):
        return None
    array = pa.array(numbers, pa.float64())
    whole = pc.and_(
        pc.equal(pc.floor(array), array), pc.less(pc.abs(array), pa.scalar(float(_EXACT)))
    )
    whole = pc.fill_null(whole, False)
    as_int = pc.cast(pc.cast(pc.if_else(whole, array, 0.0), pa.int64()), pa.large_string())
    as_float = pc.cast(pc.cast(array, pa.string()), pa.large_string())
    return pc.if_else(whole, as_int, as_float)


def _dates_fast(values: Sequence[Any]) -> pa.Array | None:
    """A column of dates (no times) and blanks as timestamp[s], vectorised."""
    kinds = {type(v) for v in values}
    if not kinds <= {dt.date, str, type(None)} or any(type(v) is str and v for v in values):
        return None
    return pa.array([v or None for v in values], pa.date32()).cast(pa.timestamp("s"))


def _typed(
    values: Sequence[Any], target: pa.DataType, date_serials: bool, date1904: bool
) -> pa.Array | None:
    """The column in its declared type, or ``None`` when a value does not fit."""
    out: list[Any] = []
    if pa.types.is_timestamp(target):
        fast = _dates_fast(values)
        if fast is not None:
            return fast
        for value in values:
            if _is_blank(value):
                out.append(None)
                continue
            found = _as_date(value, date_serials, date1904)
            if found is None:
                return None
            out.append(found)
        return pa.array(out, pa.timestamp("s"))
    if pa.types.is_boolean(target):
        for value in values:
            if _is_blank(value):
                out.append(None)
            elif isinstance(value, bool):
                out.append(value)
            else:
                return None
        return pa.array(out, pa.bool_())
    if pa.types.is_integer(target) or pa.types.is_floating(target):
        whole = pa.types.is_integer(target)
        for value in values:
            if _is_blank(value):
                out.append(None)
            elif isinstance(value, bool) or not isinstance(value, int | float | decimal.Decimal):
                return None
            elif whole:
                if isinstance(value, float | decimal.Decimal) and not (
                    math.isfinite(value) and value == int(value) and abs(int(value)) < _EXACT
                ):
                    return None
                out.append(int(value))
            else:
                number = float(value)
                if not math.isfinite(number):
                    return None
                out.append(number)
        return pa.array(out, target)
    return None


def table_from_columns(
    columns: Mapping[str, Sequence[Any]],
    typed: Mapping[str, pa.DataType],
    date_columns: Collection[str] = (),
    *,
    date1904: bool = False,
) -> pa.Table:
    """A raw table from ``{name: cell values}``: ``typed`` gives a column's declared
    Arrow type; a column of ``date_columns`` is tried as dates (numbers there being
    Excel serials), whatever the date formats of the config (see :func:`values_to_arrow`)."""
    arrays = [
        values_to_arrow(
            values,
            typed.get(name, pa.timestamp("s") if name in date_columns else None),
            date_serials=name in date_columns,
            date1904=date1904,
        )
        for name, values in columns.items()
    ]
    return pa.table(arrays, names=list(columns))


def concat_chunks(chunks: Sequence[pa.Table]) -> pa.Table:
    """Tables read chunk by chunk as one: a column typed in one chunk and text in
    another becomes text throughout (dates as ``YYYY-MM-DD``)."""
    if len(chunks) == 1:
        return chunks[0]
    names = chunks[0].column_names
    out = []
    for chunk in chunks:
        arrays = []
        for name in names:
            kinds = {c.schema.field(name).type for c in chunks}
            column = chunk.column(name)
            if len(kinds) > 1 and not pa.types.is_large_string(column.type):
                column = (
                    pc.strftime(column, format="%Y-%m-%d")
                    if pa.types.is_timestamp(column.type)
                    else pc.cast(column, pa.string())
                ).cast(pa.large_string())
            arrays.append(column)
        out.append(pa.table(arrays, names=names))
    return pa.concat_tables(out)
