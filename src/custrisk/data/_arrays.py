"""Arrow text columns as NumPy arrays: values, offsets and bytes, for the cleaner's
vectorised checks; pandas text as Arrow text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeAlias, overload

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def to_text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """The column as one Arrow (large) string array (numbers from Parquet become text)."""
    arr = column
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
        if pa.types.is_timestamp(arr.type) or pa.types.is_date(arr.type):
            arr = pc.strftime(arr, format="%Y-%m-%d")
        else:
            arr = pc.cast(arr, pa.large_string())
    return arr


@overload
def as_text(values: pd.Series) -> pd.Series: ...
@overload
def as_text(values: pd.Index) -> pd.Index: ...
def as_text(values: pd.Series | pd.Index) -> pd.Series | pd.Index:
    """pandas text as it is; any other dtype (numbers, objects) as its text."""
    if not pd.api.types.is_string_dtype(values.dtype) or pd.api.types.is_object_dtype(values.dtype):
        return values.astype("str")
    return values


#: pandas' text (``str``), held by Arrow.
TEXT = pd.StringDtype("pyarrow", na_value=np.nan)

#: What :func:`text_array` takes: a pandas column, index or array, or Arrow text.
Texts: TypeAlias = pd.Series | pd.Index | pd.api.extensions.ExtensionArray | pa.Array


@overload
def text_array(values: Texts, *, combine: Literal[True] = ...) -> pa.Array: ...
@overload
def text_array(values: Texts, *, combine: bool) -> pa.Array | pa.ChunkedArray: ...
def text_array(values: Texts, *, combine: bool = True) -> pa.Array | pa.ChunkedArray:
    """Values as Arrow large strings: pandas' Arrow text as it is (its array, zero-copy:
    not a NumPy object per value, nor Arrow's look for its protocols on a Series, which
    had pandas search each name among an index of 200,000 customer ids), anything else
    as its text first; in one piece unless ``combine`` is false."""
    if isinstance(values, pa.Array):
        array: pa.Array | pa.ChunkedArray = values
    else:
        if isinstance(values, pd.api.extensions.ExtensionArray):
            values = pd.Series(values, copy=False)
        array = pa.array(as_text(values).array)
    if isinstance(array, pa.ChunkedArray) and combine:
        array = array.combine_chunks()
    if array.type != pa.large_string():
        array = pc.cast(array, pa.large_string())
    return array


def texts_of(texts: Sequence[str], index: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``texts[index]`` (-1: missing) as pandas text, taken by Arrow (no Python text per
    row)."""
    taken = pa.array(texts, type=pa.large_string()).take(pa.array(index, mask=index < 0))
    return pd.array(taken, dtype=TEXT)


def text_order(values: Texts) -> np.ndarray:
    """Each text's rank in code-point order (as pandas sorts text; equal texts share
    one, missing ones last): the rows' own positions when they are in that order already
    (a run's customers usually are), else Arrow's dense rank."""
    text = text_array(values)
    if len(text) < 2 or pc.all(pc.less(text[:-1], text[1:]), skip_nulls=False).as_py():
        return np.arange(len(text))
    return np.asarray(pc.rank(text, tiebreaker="dense").to_numpy(), dtype=np.int64)


def text_equal(text: pa.Array, value: str) -> np.ndarray:
    """Which values of ``text`` are ``value`` (compared by Arrow: no Python text per
    row; a missing value is not)."""
    return as_numpy(pc.equal(text, value))


def as_numpy(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def string_bytes(text: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start and end offsets of every value, and the data bytes (no copy)."""
    offsets = value_offsets(text)
    data = text.buffers()[2]
    data_bytes = (
        np.frombuffer(data, dtype=np.uint8) if data is not None else np.empty(0, dtype=np.uint8)
    )
    return offsets[:-1], offsets[1:], data_bytes


def edge_bytes(text: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Length, first byte and last byte of every value (0 for empty values)."""
    starts, ends, data = string_bytes(text)
    lengths = ends - starts
    if not data.size:
        first = np.zeros(len(lengths), dtype=np.uint8)
        return lengths, first, first.copy()
    # Every value's bytes looked up at once (an empty value's index may fall past the
    # data, hence the clip; its bytes are zeroed after): gathering only the non-empty
    # values' bytes took twice as long, through two masked copies of the offsets.
    first = data.take(starts, mode="clip")
    last = data.take(ends - 1, mode="clip")
    empty = lengths == 0
    if empty.any():
        first[empty] = 0
        last[empty] = 0
    return lengths, first, last


def value_offsets(text: pa.Array) -> np.ndarray:
    """The value offsets of a (large) string array, as NumPy."""
    dtype = np.int64 if pa.types.is_large_string(text.type) else np.int32
    return np.frombuffer(text.buffers()[1], dtype=dtype)[text.offset : text.offset + len(text) + 1]


def strictly_ordered(values: pa.Array) -> bool:
    """Whether the present values rise (or fall) strictly from row to row, so that no
    two are equal: exports are usually in the order of their ids. One comparison of
    neighbours (13 ms for 4.9M ids), against hashing or sorting them (0.9 s of CPU)."""
    if values.null_count:
        values = pc.drop_null(values)
    if len(values) < 2:
        return True
    before, after = values.slice(0, len(values) - 1), values.slice(1)
    return bool(pc.all(pc.less(before, after)).as_py() or pc.all(pc.greater(before, after)).as_py())


def text_isin(values: pd.Index, other: pd.Index) -> np.ndarray:
    """``values.isin(other)`` for two indexes of text (customer ids): by Arrow's hash set
    when both are pandas' Arrow text (pandas 3 makes a Python list of ``other`` first,
    seconds for 400,000 ids), by pandas otherwise."""
    both_text = all(
        isinstance(index.dtype, pd.StringDtype) and index.dtype.storage == "pyarrow"
        for index in (values, other)
    )
    if not both_text or values.hasnans or other.hasnans:
        return np.asarray(values.isin(other), dtype=bool)
    return as_numpy(pc.is_in(text_array(values), value_set=text_array(other)))
