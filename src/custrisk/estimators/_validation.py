"""Parameter and input checks shared by the model estimators.

Parameter errors are :class:`~custrisk.errors.ConfigError` (they come from the model
config) with scikit-learn style messages: "The 'x' parameter of Y must be …. Got …
instead." Input errors (missing columns, a target that is not 0/1) are
:class:`~custrisk.errors.DataError`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from custrisk.errors import ConfigError, DataError


def param_error(owner: object, name: str, expected: str, value: Any) -> ConfigError:
    """The error for a parameter that is not allowed."""
    cls = owner if isinstance(owner, str) else type(owner).__name__
    return ConfigError(
        f"The '{name}' parameter of {cls} must be {expected}. Got {value!r} instead."
    )


def check_int(owner: object, name: str, value: Any, *, low: int, high: int | None = None) -> int:
    """An integer in ``[low, high]``."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and value >= low and (high is None or value <= high):
        return int(value)
    bound = f"an int in the range [{low}, {high}]" if high is not None else f"an int >= {low}"
    raise param_error(owner, name, bound, value)


def check_float(
    owner: object,
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number within the given (open or closed) bounds."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        number = float(value)
        ok = bool(np.isfinite(number))
        if ok and low is not None:
            ok = number > low if low_open else number >= low
        if ok and high is not None:
            ok = number < high if high_open else number <= high
        if ok:
            return number
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    raise param_error(owner, name, f"a float in the range {left}{lo}, {hi}{right}", value)


def check_choice(owner: object, name: str, value: Any, choices: Sequence[Any]) -> Any:
    """One of ``choices``."""
    if isinstance(value, str | bool | None) and value in choices:
        return value
    raise param_error(owner, name, "one of " + ", ".join(repr(c) for c in choices), value)


def check_bool(owner: object, name: str, value: Any) -> bool:
    """A bool."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise param_error(owner, name, "a bool", value)


def list_some(items: Sequence[Any], limit: int = 5) -> str:
    """``a, b, c`` or ``a, b, c, d, e and 7 more``."""
    shown = ", ".join(str(item) for item in items[:limit])
    if len(items) > limit:
        shown += f" and {len(items) - limit} more"
    return shown


def check_frame(X: Any, what: str = "X") -> pd.DataFrame:
    """A non-empty pandas DataFrame with unique string column names."""
    if not isinstance(X, pd.DataFrame):
        raise DataError(f"{what} must be a pandas DataFrame, got {type(X).__name__}")
    if X.shape[0] == 0:
        raise DataError(f"{what} has no rows")
    not_text = [repr(c) for c in X.columns if not isinstance(c, str)]
    if not_text:
        raise DataError(f"{what} column names must be text, got {', '.join(not_text[:5])}")
    names = list(X.columns)
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise DataError(f"{what} has duplicate columns: {list_some(dupes)}")
    return X


def check_columns(X: pd.DataFrame, features: Sequence[str], what: str = "X") -> None:
    """Raise if any of ``features`` is not a column of ``X``."""
    present = set(X.columns)
    missing = [f for f in features if f not in present]
    if missing:
        raise DataError(
            f"{what} lacks {len(missing)} feature column(s) the model uses: {list_some(missing)}",
            hint="compute the same indicators the model was trained on",
        )


def check_target(y: Any, n_rows: int) -> np.ndarray:
    """A 0/1 int8 array of length ``n_rows`` holding both classes."""
    if isinstance(y, pd.Series | pd.Index):
        if bool(y.isna().any()):
            raise DataError("y holds missing values; the bad flag must be 0 or 1 on every row")
        values = y.to_numpy(dtype="float64")
    else:
        try:
            values = np.asarray(y, dtype="float64")
        except (TypeError, ValueError) as exc:
            raise DataError(f"y must hold 0/1 bad flags: {exc}") from None
    if values.ndim != 1:
        raise DataError(f"y must be one-dimensional, got shape {values.shape}")
    if values.shape[0] != n_rows:
        raise DataError(f"y has {values.shape[0]} values but X has {n_rows} rows")
    if np.isnan(values).any():
        raise DataError("y holds missing values; the bad flag must be 0 or 1 on every row")
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        examples = ", ".join(f"{v:g}" for v in np.unique(values[bad])[:3])
        raise DataError(f"y must hold 0/1 bad flags (1 = bad), got {examples}")
    target = values.astype(np.int8)
    n_bad = int(target.sum())
    if n_bad == 0 or n_bad == n_rows:
        raise DataError(
            "y must hold both goods (0) and bads (1) to fit a model; "
            f"got {n_bad} bad(s) in {n_rows} rows"
        )
    return target
