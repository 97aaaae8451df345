"""The CSV text of a table, formatted column by column in Arrow compute.

:func:`frame_csv_bytes` gives exactly the bytes of ``frame.to_csv(index=False,
lineterminator="\\n")`` (pandas with Python's ``csv`` module, minimal quoting) for the
column types custrisk writes (floats, integers, booleans, text and text categories),
without formatting every cell in Python: numbers are cast to text in Arrow, cells are
quoted with Arrow string kernels and each row is joined by one kernel. Floats come out
as NumPy (and so pandas) prints them, the shortest text that reads back to the same
number (``1.0``, ``0.053588``, ``1e-05``, ``1e+16``): Arrow's cast gives the same digits,
so in the range where both print plain decimals (1e-4 to 1e9) only the ``.0`` of a whole
number is added; the rare values outside it are printed by Python's ``repr``.

For any other column type (dates, nullable integers, mixed objects, ...) and for a table
of one column (where pandas quotes an empty cell), it returns ``None`` and the caller
falls back to pandas. The caller escapes formula cells first (:mod:`custrisk.io.safe_csv`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: Bytes that make Python's csv writer (minimal quoting, "\\n" line ends) quote a cell
#: (none of them is part of another character in UTF-8).
_QUOTE_BYTES = (ord(","), ord('"'), ord("\n"))
#: Floats in [_PLAIN_LOW, _PLAIN_HIGH) (and zero) print as plain decimals in both Arrow
#: and NumPy; outside it NumPy switches to exponents at other thresholds than Arrow.
_PLAIN_LOW = 1e-4
_PLAIN_HIGH = 1e9


#: Rows formatted at a time: the CSV text of a part, not of the whole table, is built
#: cell by cell (the finished bytes of each part are kept, a fraction of the rest).
_ROWS_PER_PART = 65_536


def frame_csv_bytes(frame: pd.DataFrame) -> bytes | None:
    """The UTF-8 CSV of ``frame`` (header, no index, LF line ends) as pandas writes it,
    or ``None`` when a column's type or the table's shape is not covered."""
    parts = frame_csv_parts(frame)
    return None if parts is None else b"".join(parts)


def frame_csv_parts(frame: pd.DataFrame) -> list[bytes] | None:
    """:func:`frame_csv_bytes` as consecutive pieces (the header, then the rows a part
    at a time), or ``None``; a part's cells do not depend on the other rows."""
    if frame.shape[1] < 2 or not all(isinstance(name, str) for name in frame.columns):
        return None
    header = ",".join(_quote_text(str(name)) for name in frame.columns) + "\n"
    pieces = [
        frame.iloc[start : start + _ROWS_PER_PART] for start in range(0, len(frame), _ROWS_PER_PART)
    ]
    if len(pieces) < 2:
        rows = [_part_text(piece) for piece in pieces]
    else:
        # Two parts at a time: Arrow's casts and joins, most of the work, run outside
        # the GIL (and a part is small enough to reuse the memory of the one before).
        with ThreadPoolExecutor(2, thread_name_prefix="custrisk-csv") as formatters:
            rows = list(formatters.map(_part_text, pieces))
    if any(part is None for part in rows):
        return None
    return [header.encode("utf-8"), *(part for part in rows if part is not None)]


def _part_text(piece: pd.DataFrame) -> bytes | None:
    """The CSV rows of a part of a table, or ``None`` for a column type not covered."""
    columns = []
    for position in range(piece.shape[1]):
        text = _column_text(piece.iloc[:, position])
        if text is None:
            return None
        columns.append(text)
    rows = pc.binary_join_element_wise(*columns, ",", null_handling="replace", null_replacement="")
    del columns
    return _string_data(pc.binary_join_element_wise(rows, "\n", ""))


def escaped_csv_bytes(frame: pd.DataFrame, encoding: str) -> bytes:
    """The bytes :func:`custrisk.io.safe_csv.write_csv` writes for ``frame`` (formula
    cells escaped, a BOM for ``utf-8-sig``), through :func:`frame_csv_bytes` when it
    covers the table and pandas otherwise."""
    return b"".join(_escaped_csv_parts(frame, encoding))


def write_escaped_csv(frame: pd.DataFrame, handle: BinaryIO, encoding: str) -> None:
    """Write :func:`escaped_csv_bytes` of ``frame`` to ``handle`` part by part, without
    joining them into one copy of the file's bytes."""
    for part in _escaped_csv_parts(frame, encoding):
        handle.write(part)


def _escaped_csv_parts(frame: pd.DataFrame, encoding: str) -> list[bytes]:
    from custrisk.io.safe_csv import csv_bytes, escape_frame

    parts = frame_csv_parts(escape_frame(frame))
    if parts is None:
        return [csv_bytes(frame, encoding=encoding)]
    return [b"\xef\xbb\xbf", *parts] if encoding == "utf-8-sig" else parts


def _string_data(values: Any) -> bytes:
    """The concatenated bytes of a string array without nulls."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    values = values.cast(pa.large_string())
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)
    start, end = offsets[values.offset], offsets[values.offset + len(values)]
    return bytes(memoryview(values.buffers()[2])[start:end])


def _column_text(column: pd.Series) -> pa.Array | None:
    """The CSV cells of one column (null for an empty cell), or ``None``."""
    dtype = column.dtype
    if isinstance(dtype, np.dtype):
        if dtype == np.float64:
            return _float_text(column.to_numpy())
        if dtype.kind in "iu":
            return pc.cast(pa.array(column.to_numpy()), pa.string())
        if dtype.kind == "b":
            return pa.array(np.where(column.to_numpy(), "True", "False"), pa.string())
        if dtype.kind == "O":
            return _object_text(column.to_numpy())
        return None
    if isinstance(dtype, pd.StringDtype):
        return _quoted(_arrow_strings(column))
    if pd.api.types.is_integer_dtype(dtype):  # nullable Int64: a missing value is blank
        return pc.cast(_arrow_strings(column), pa.string())
    if isinstance(dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        categories = column.cat.categories
        if not len(categories):
            return pa.nulls(len(column), pa.string())
        names = _object_text(categories.to_numpy(dtype=object))
        if names is None:  # categories other than text
            return None
        return pc.take(names, pa.array(codes, mask=codes < 0))
    return None


def _arrow_strings(column: pd.Series) -> pa.Array:
    values = pa.array(column.array, from_pandas=True)
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _object_text(values: np.ndarray) -> pa.Array | None:
    """An object column whose cells are all text or missing; else ``None``."""
    try:
        text = pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    return _quoted(text)


def _quote_text(text: str) -> str:
    if any(char in text for char in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _quoted(text: pa.Array) -> pa.Array:
    if text.type != pa.string():
        text = text.cast(pa.string())
    needs = _needs_quotes(text)
    if needs is None:
        return text
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
    return pc.if_else(pa.array(needs), quoted, text)


def _needs_quotes(text: pa.Array) -> np.ndarray | None:
    """Which cells of a string array hold a byte of _QUOTE_BYTES, or ``None`` when none
    does: the bytes looked at once in NumPy (several times faster than a regex per
    cell), each one found placed in its cell by the offsets."""
    data = text.buffers()[2]
    if data is None:
        return None
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[
        text.offset : text.offset + len(text) + 1
    ]
    start = int(offsets[0])
    chars = np.frombuffer(data, dtype=np.uint8)[start : offsets[-1]]
    found = chars == _QUOTE_BYTES[0]
    for byte in _QUOTE_BYTES[1:]:
        found |= chars == byte
    at = np.flatnonzero(found)
    if not at.size:
        return None
    needs = np.zeros(len(text), dtype=bool)
    needs[np.searchsorted(offsets, at + start, side="right") - 1] = True
    return needs


#: A float column is printed once per distinct value when a sample of this many rows
#: has at most a _DISTINCT_SHARE of distinct values (counts, days, scores: most of the
#: indicators), then looked up per row: a third of the time of printing every row.
_SAMPLE_ROWS = 4_096
_DISTINCT_SHARE = 1 / 8


def _float_text(values: np.ndarray) -> pa.Array:
    """NumPy's ``str`` of every float (``repr``), null for NaN: of each distinct value
    when there are few (and no -0.0, which hashes as 0.0 but prints otherwise)."""
    if len(values) >= 2 * _SAMPLE_ROWS:
        _, sample = pd.factorize(values[:_SAMPLE_ROWS])
        if len(sample) <= _DISTINCT_SHARE * _SAMPLE_ROWS:
            codes, distinct = pd.factorize(values)
            if len(distinct) <= _DISTINCT_SHARE * len(values) and not (
                (distinct == 0).any() and ((values == 0) & np.signbit(values)).any()
            ):
                return pc.take(_float_cells(distinct), pa.array(codes, mask=codes < 0))
    return _float_cells(values)


def _float_cells(values: np.ndarray) -> pa.Array:
    """NumPy's ``str`` of every float (``repr``), null for NaN.

    Whole numbers are cast as integers (three times faster than Arrow's float cast) and
    get ``.0``; the other plain decimals are cast as floats; the rest go through ``repr``.
    """
    missing = np.isnan(values)
    magnitude = np.abs(values)
    with np.errstate(invalid="ignore"):
        plain = (magnitude >= _PLAIN_LOW) & (magnitude < _PLAIN_HIGH)
        plain |= (values == 0) & ~np.signbit(values)
        whole = plain & (values == np.trunc(values))
    integers = np.where(whole, values, 0).astype(np.int64)
    text = pc.binary_join_element_wise(
        pc.cast(pa.array(integers, mask=~whole), pa.string()), ".0", ""
    )
    fraction = plain & ~whole
    if fraction.any():
        cast = pc.cast(pa.array(values[fraction]), pa.string())
        text = pc.replace_with_mask(text, pa.array(fraction), cast)
    other = ~plain & ~missing
    if other.any():
        exact = pa.array([repr(v) for v in values[other].tolist()], pa.string())
        text = pc.replace_with_mask(text, pa.array(other), exact)
    return text
