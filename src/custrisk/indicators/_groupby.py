"""Vectorised per-customer aggregations over integer customer codes.

Every function takes ``codes`` (int array, values in ``[0, n)``; rows already filtered)
and returns a float64 array of length ``n``. No Python loop runs per customer or row.
Customers without rows get 0 from count and sum, NaN from everything else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def count(codes: np.ndarray, n: int) -> np.ndarray:
    """Rows per customer."""
    return np.bincount(codes, minlength=n).astype(np.float64)


def total(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Sum per customer (0 without rows)."""
    return np.bincount(codes, weights=values, minlength=n)


def mean(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Mean per customer."""
    counts = np.bincount(codes, minlength=n)
    sums = np.bincount(codes, weights=values, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def std(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Sample standard deviation (ddof=1) per customer; NaN with fewer than 2 rows.

    Two passes (mean, then squared deviations) for numerical stability.
    """
    counts = np.bincount(codes, minlength=n)
    means = mean(codes, values, n)
    deviations = values - means[codes]
    squares = np.bincount(codes, weights=deviations * deviations, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 1, np.sqrt(squares / np.maximum(counts - 1, 1)), np.nan)


def extreme(codes: np.ndarray, values: np.ndarray, n: int, *, largest: bool) -> np.ndarray:
    """Maximum (``largest``) or minimum per customer."""
    out = np.full(n, -np.inf if largest else np.inf)
    (np.maximum if largest else np.minimum).at(out, codes, values)
    has_rows = np.bincount(codes, minlength=n) > 0
    return np.where(has_rows, out, np.nan)


def median(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Median per customer."""
    out = np.full(n, np.nan)
    if len(codes):
        medians = pd.Series(values).groupby(codes, sort=False).median()
        out[medians.index.to_numpy(dtype=np.int64)] = medians.to_numpy(dtype=np.float64)
    return out


def nunique(codes: np.ndarray, value_codes: np.ndarray, n: int) -> np.ndarray:
    """Distinct values per customer; ``value_codes`` are the values factorised to ints."""
    if not len(codes):
        return np.zeros(n)
    width = np.int64(value_codes.max()) + 1
    pairs = np.unique(codes.astype(np.int64) * width + value_codes.astype(np.int64))
    return np.bincount(pairs // width, minlength=n).astype(np.float64)


def pick(
    codes: np.ndarray, dates: np.ndarray, values: np.ndarray, n: int, *, last: bool
) -> np.ndarray:
    """Value at the latest (``last``) or earliest date per customer.

    Several rows on that date: the largest value for ``last``, the smallest for
    ``first``, so the result does not depend on the row order.
    """
    at_date = extreme(codes, dates, n, largest=last)
    on_day = dates == at_date[codes]
    return extreme(codes[on_day], values[on_day], n, largest=last)
