"""Converting user data to the evaluator's column representation.

Numbers, conditions and dates become float64 NumPy arrays (NaN for missing; dates as
whole days since 1970-01-01); text becomes a pandas ``str`` Series with a fresh
RangeIndex. The evaluator never writes into these arrays (every operation makes a new
one), so a float64 array given by the caller is used as is, without a copy.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from custrisk.expr._types import ExprType

NumValue = np.ndarray | float | np.bool_
StrValue = pd.Series | str | None
Value = NumValue | StrValue

_EPOCH_DAY = np.datetime64("1970-01-01", "D")
_TICKS_PER_DAY = {
    "D": 1,
    "h": 24,
    "m": 1_440,
    "s": 86_400,
    "ms": 86_400_000,
    "us": 86_400_000_000,
    "ns": 86_400_000_000_000,
}


def to_numbers(obj: Any) -> NumValue:
    """Numbers (or booleans) as float64 with NaN for missing.

    Raises
    ------
    TypeError
        If ``obj`` holds text or dates.
    """
    if _is_scalar(obj):
        if obj is None or obj is pd.NA or (isinstance(obj, float) and np.isnan(obj)):
            return float("nan")
        if isinstance(obj, bool | np.bool_ | int | float | np.integer | np.floating):
            return float(obj)
        raise TypeError(f"expected a number, got {type(obj).__name__}")
    if isinstance(obj, pd.Series | pd.Index):
        dtype = obj.dtype
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
            return np.asarray(obj.to_numpy(dtype="float64", na_value=np.nan), dtype=np.float64)
        if pd.api.types.is_object_dtype(dtype):
            converted = pd.to_numeric(pd.Series(obj), errors="raise")
            return np.array(converted.to_numpy(dtype="float64", na_value=np.nan))
        raise TypeError(f"expected numbers, got values of dtype {dtype}")
    arr = np.asarray(obj)
    if arr.dtype == np.float64:
        return arr
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64)
    if arr.dtype.kind == "O":
        return to_numbers(pd.Series(arr))
    raise TypeError(f"expected numbers, got values of dtype {arr.dtype}")


def to_days(obj: Any) -> NumValue:
    """Dates as float64 whole days since 1970-01-01 (times of day dropped; NaN missing).

    Accepts datetime64 of any unit (also time-zone aware: the local date is kept),
    ``datetime.date``/``datetime``, ``pandas.Timestamp`` and ISO ``YYYY-MM-DD`` text.
    Arrays that are already float (days) are passed through.
    """
    if _is_scalar(obj):
        if obj is None or obj is pd.NA or obj is pd.NaT:
            return float("nan")
        if isinstance(obj, float | int | np.floating | np.integer) and not isinstance(obj, bool):
            return float(obj)
        if isinstance(obj, str):
            obj = dt.date.fromisoformat(obj.strip()[:10])
        if isinstance(obj, pd.Timestamp):
            if obj.tzinfo is not None:
                obj = obj.tz_localize(None)
            obj = obj.to_datetime64()
        elif isinstance(obj, dt.datetime):
            obj = np.datetime64(obj.replace(tzinfo=None))
        elif isinstance(obj, dt.date):
            obj = np.datetime64(obj, "D")
        if isinstance(obj, np.datetime64):
            if np.isnat(obj):
                return float("nan")
            return float((obj.astype("datetime64[D]") - _EPOCH_DAY).astype(np.int64))
        raise TypeError(f"expected a date, got {type(obj).__name__}")
    if isinstance(obj, np.ndarray) and obj.dtype.kind == "f":
        return obj if obj.dtype == np.float64 else obj.astype(np.float64)  # days already
    series = obj if isinstance(obj, pd.Series) else pd.Series(obj)
    if not pd.api.types.is_datetime64_any_dtype(series.dtype):
        if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
            raise TypeError(f"expected dates, got values of dtype {series.dtype}")
        if pd.api.types.is_string_dtype(series.dtype) and not _is_object(series.dtype):
            series = pd.to_datetime(series, format="ISO8601")
        else:
            series = pd.to_datetime(series)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_localize(None)
    arr = series.to_numpy()
    if arr.dtype.kind != "M":
        arr = np.asarray(pd.to_datetime(series).to_numpy(), dtype="datetime64[ns]")
    return _datetimes_to_days(arr)


def _datetimes_to_days(arr: np.ndarray) -> np.ndarray:
    """datetime64 of any unit to float days since the epoch, floored (NaT -> NaN)."""
    unit, count = np.datetime_data(arr.dtype)
    ticks = arr.view(np.int64)
    nat = ticks == np.iinfo(np.int64).min
    if unit in _TICKS_PER_DAY and unit != "ns":
        # float division is exact here: ticks stay below 2**53 for any real date
        per_day = float(_TICKS_PER_DAY[unit] // count)
        days = ticks.astype(np.float64)
        if per_day != 1.0:
            np.divide(days, per_day, out=days)
            np.floor(days, out=days)
    elif unit == "ns":
        days = (ticks // (_TICKS_PER_DAY["ns"] // count)).astype(np.float64)
    else:  # weeks, months, years: let NumPy do the calendar
        days = (arr.astype("datetime64[D]") - _EPOCH_DAY).astype(np.int64).astype(np.float64)
    if nat.any():
        days[nat] = np.nan
    return days


def to_text(obj: Any) -> StrValue:
    """Text as a pandas ``str`` Series with a RangeIndex (missing stays NaN)."""
    if _is_scalar(obj):
        if obj is None or obj is pd.NA or (isinstance(obj, float) and np.isnan(obj)):
            return None
        return str(obj)
    series = obj if isinstance(obj, pd.Series) else pd.Series(obj)
    if is_text_categorical(series.dtype):
        series = _categorical_text(series)
    elif not (pd.api.types.is_string_dtype(series.dtype) and not _is_object(series.dtype)):
        series = series.astype("str")
    return series.reset_index(drop=True)


def is_text_categorical(dtype: Any) -> bool:
    """Whether ``dtype`` is a categorical of text (the cleaner's category columns)."""
    return isinstance(dtype, pd.CategoricalDtype) and isinstance(
        dtype.categories.dtype, pd.StringDtype
    )


def _categorical_text(series: pd.Series) -> pd.Series:
    """A categorical of text as ``str``, expanded by Arrow from the codes (what
    ``astype("str")`` gives, without a Python string per row: the cleaner's category
    columns arrive so)."""
    categorical = series.array
    codes = categorical.codes
    dictionary = pa.array(categorical.categories.to_numpy(dtype=object), type=pa.large_string())
    text = pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), dictionary)
    shown = pd.array(text.cast(pa.large_string()), dtype=pd.StringDtype("pyarrow", na_value=np.nan))
    return pd.Series(shown, index=series.index)


def convert(obj: Any, kind: ExprType) -> Value:
    """Convert ``obj`` to the representation the evaluator uses for ``kind``."""
    if kind is ExprType.STRING:
        return to_text(obj)
    if kind is ExprType.DATE:
        return to_days(obj)
    return to_numbers(obj)


def length(value: Value) -> int | None:
    """Number of rows of a column value, ``None`` for a scalar."""
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return len(value)
    if isinstance(value, pd.Series):
        return len(value)
    return None


def days_to_dates(days: Any) -> np.ndarray:
    """Inverse of :func:`to_days` for arrays: float days to ``datetime64[D]`` (NaT missing)."""
    arr = np.asarray(days, dtype=np.float64)
    out = np.full(arr.shape, np.datetime64("NaT"), dtype="datetime64[D]")
    ok = ~np.isnan(arr)
    out[ok] = _EPOCH_DAY + arr[ok].astype(np.int64)
    return out


def _is_object(dtype: Any) -> bool:
    return pd.api.types.is_object_dtype(dtype)


def _is_scalar(obj: Any) -> bool:
    return obj is None or np.ndim(obj) == 0 and not isinstance(obj, pd.Series | np.ndarray)
