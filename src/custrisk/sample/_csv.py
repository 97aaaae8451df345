"""The generator's CSV text, built column-wise with pyarrow kernels and written in large
blocks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.sample._base import (
    _NULL,
    _NULL_DAY,
    _ROWS_PER_WRITE,
    _Column,
)

# --------------------------------------------------------------------------------------
# Typed chunks -> frames
# --------------------------------------------------------------------------------------


def _to_frame(columns: Sequence[_Column], chunks: Sequence[dict[str, Any]]) -> pd.DataFrame:
    data: dict[str, Any] = {}
    for column in columns:
        parts = [chunk[column.name] for chunk in chunks]
        if column.kind == "text":
            values = pa.chunked_array(parts, type=pa.string()).to_pandas()
            data[column.name] = values.astype("str")
            continue
        array = np.concatenate(parts) if parts else np.array([], dtype=np.int64)
        data[column.name] = _to_series(column, array)
    return pd.DataFrame(data)


def _to_series(column: _Column, array: np.ndarray) -> pd.Series:
    kind = column.kind
    if kind in ("customer_id", "txn_id", "event_id", "category"):
        return pd.Series(_format_column(column, array).to_pandas(), dtype="str")
    if kind == "int":
        integers = pd.array(array, dtype="Int64")
        integers[array == _NULL] = pd.NA
        return pd.Series(integers)
    if kind == "money":
        return pd.Series(array / 100.0)
    if kind == "tenths":
        return pd.Series(array / 10.0)
    if kind == "date":
        days = np.where(array == _NULL_DAY, 0, array).astype("datetime64[D]")
        dates = np.where(array == _NULL_DAY, np.datetime64("NaT"), days)
        return pd.Series(dates.astype("datetime64[s]"))
    if kind == "bool":
        flags = pd.array(array == 1, dtype="boolean")
        flags[array < 0] = pd.NA
        return pd.Series(flags)
    if kind == "prob":
        return pd.Series(np.round(array, 6))
    raise AssertionError(f"unknown column kind {kind!r}")


# --------------------------------------------------------------------------------------
# Typed chunks -> CSV text
# --------------------------------------------------------------------------------------

_ID_FORMATS = {"customer_id": ("", 10), "txn_id": ("T", 12), "event_id": ("E", 12)}


def _format_ids(kind: str, numbers: np.ndarray) -> pa.Array:
    prefix, width = _ID_FORMATS[kind]
    text = pc.utf8_lpad(pa.array(numbers, pa.int64()).cast(pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, text, "") if prefix else text


def _format_fixed(scaled: np.ndarray, decimals: int) -> pa.Array:
    """Non-negative integers in units of 10**-decimals, as fixed-point text."""
    whole, fraction = np.divmod(scaled, 10**decimals)
    return pc.binary_join_element_wise(
        pa.array(whole).cast(pa.string()),
        pc.utf8_lpad(pa.array(fraction).cast(pa.string()), width=decimals, padding="0"),
        ".",
    )


def _format_column(column: _Column, values: Any) -> pa.Array:
    kind = column.kind
    if kind in _ID_FORMATS:
        return _format_ids(kind, values)
    if kind == "text":
        return values
    if kind == "category":
        return pa.array(column.categories).take(pa.array(values))
    if kind == "int":
        text = pa.array(values, mask=values == _NULL).cast(pa.string())
        return pc.fill_null(text, "")
    if kind == "money":
        return _format_fixed(values, 2)
    if kind == "tenths":
        return _format_fixed(values, 1)
    if kind == "date":
        text = pa.array(values, type=pa.date32(), mask=values == _NULL_DAY).cast(pa.string())
        return pc.fill_null(text, "")
    if kind == "bool":
        return pa.array(["", "false", "true"]).take(pa.array(values.astype(np.int64) + 1))
    if kind == "prob":
        return _format_fixed(np.round(values * 1e6).astype(np.int64), 6)
    raise AssertionError(f"unknown column kind {kind!r}")


def _format_chunk(columns: Sequence[_Column], chunk: Mapping[str, Any]) -> dict[str, pa.Array]:
    """Column name to its CSV cells (already CSV-escaped; none need quoting)."""
    return {column.name: _format_column(column, chunk[column.name]) for column in columns}


def _csv_cell(text: str) -> str:
    """Quote a cell only when CSV needs it (RFC 4180)."""
    if any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


class _CsvWriter:
    """Writes a header and then rows of pre-escaped cells; counts data rows."""

    def __init__(self, handle: IO[bytes], columns: Sequence[_Column], encoding: str) -> None:
        self._handle = handle
        self._encoding = encoding
        self.rows = 0
        self._write_bytes(",".join(column.name for column in columns).encode() + b"\n")

    def write(self, cells: Mapping[str, pa.Array]) -> None:
        arrays = list(cells.values())
        size = len(arrays[0]) if arrays else 0
        for start in range(0, size, _ROWS_PER_WRITE):
            part = [array.slice(start, _ROWS_PER_WRITE) for array in arrays]
            line = pc.binary_join_element_wise(*part, ",")
            line = pc.binary_join_element_wise(line, "", "\n")
            self._write_bytes(_string_bytes(line))
        self.rows += size

    def _write_bytes(self, data: bytes | pa.Buffer) -> None:
        if self._encoding != "utf-8":
            raw = data.to_pybytes() if isinstance(data, pa.Buffer) else data
            if not raw.isascii():
                data = raw.decode("utf-8").encode(self._encoding)
        self._handle.write(data)


def _string_bytes(array: pa.Array) -> pa.Buffer:
    """The concatenated UTF-8 bytes of a string array without nulls."""
    assert pa.types.is_string(array.type) and array.null_count == 0
    if len(array) == 0:
        return pa.py_buffer(b"")
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)
    start = int(offsets[array.offset])
    stop = int(offsets[array.offset + len(array)])
    return array.buffers()[2].slice(start, stop - start)
