"""The fitted bins of one feature, and binning raw values into them.

:class:`FeatureBins` holds what :class:`~custrisk.estimators.binning.WoeBinner` learnt
for one feature (cuts or categories, counts, WOE) and bins new values: a column at a
time (:meth:`FeatureBins.bin_array`) or one value (:meth:`FeatureBins.bin_of`).
Numeric columns are binned by :func:`value_bins` (one comparison per cut), Arrow text
columns by a lookup of the fitted categories in Arrow.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from custrisk.errors import DataError
from custrisk.estimators.features import category_text, is_missing, numeric_values

__all__ = [
    "COMPARE_CUTS",
    "MISSING_LABEL",
    "OTHER_LABEL",
    "SPECIAL_LABEL",
    "FeatureBins",
    "binned",
    "value_bins",
]

#: Label of the bin of missing values.
MISSING_LABEL = "missing"
#: Label of the bin of special values.
SPECIAL_LABEL = "special"
#: Marker, in a categorical bin's label, of the bin rare and unseen categories go to.
OTHER_LABEL = "(other)"


def _arrow_strings(column: pd.Series) -> Any:
    """The Arrow array behind a pyarrow-backed text column (None for other columns)."""
    dtype = column.dtype
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        return column.array.__arrow_array__()
    return None


#: Most cuts a numeric column is binned against by comparisons (one vectorised pass per
#: cut); beyond, by binary search.
COMPARE_CUTS = 24


def value_bins(values: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Bin index (int64) of numeric values: the number of cuts at or below each value
    (``searchsorted(cuts, values, side="right")``), and ``len(cuts) + 1`` for NaN (the
    missing bin of a feature without special values).

    A binary search per value mispredicts its branches on unsorted data; with the few
    cuts a scorecard has, one comparison pass per cut, summed in int8, is an order of
    magnitude faster and gives the same bins.
    """
    if cuts.size > COMPARE_CUTS:
        edges = np.append(cuts, np.nan)  # NaN sorts last: the missing bin after the values
        return np.searchsorted(edges, values, side="right").astype(np.int64, copy=False)
    count = np.isnan(values).view(np.int8) * np.int8(cuts.size + 1)
    above = np.empty(values.shape, dtype=bool)
    for cut in cuts.tolist():
        np.greater_equal(values, cut, out=above)
        count += above.view(np.int8)
    return count.astype(np.int64)


@dataclass(eq=False)
class FeatureBins:
    """The fitted bins of one feature.

    Bins are numbered ``0 .. n_bins - 1``; the last is always the missing bin, and a
    numeric feature with special values has their bin just before it. For a numeric
    feature, value bin ``i`` covers ``[cuts[i-1], cuts[i])`` (the first starts at -inf,
    the last value bin ends at +inf). For a categorical feature, ``categories`` maps each
    category seen in training to its bin and ``other_bin`` receives unseen categories.
    ``trend`` is the bad-rate trend of the value bins (increasing, decreasing, peak,
    valley, or "none"; "" for a categorical feature).
    """

    code: str
    kind: str
    labels: list[str]
    counts: np.ndarray
    goods: np.ndarray
    bads: np.ndarray
    woe: np.ndarray
    iv_contributions: np.ndarray
    smoothed: np.ndarray
    cuts: np.ndarray = field(default_factory=lambda: np.empty(0))
    categories: dict[str, int] = field(default_factory=dict)
    other_bin: int = -1
    members: list[list[str]] = field(default_factory=list)
    trend: str = ""
    specials: np.ndarray = field(default_factory=lambda: np.empty(0))

    @property
    def n_bins(self) -> int:
        """Number of bins, the missing bin included."""
        return len(self.labels)

    @property
    def missing_bin(self) -> int:
        """Index of the missing bin (the last)."""
        return len(self.labels) - 1

    @property
    def special_bin(self) -> int:
        """Index of the bin of special values (-1 when the feature has none)."""
        return len(self.labels) - 2 if self.specials.size else -1

    @property
    def iv(self) -> float:
        """Information value of the feature."""
        return float(self.iv_contributions.sum())

    def bin_of(self, value: object) -> int:
        """The bin of one raw value (the scalar counterpart of :meth:`bin_array`)."""
        if is_missing(value):
            return self.missing_bin
        if self.kind == "numeric":
            try:
                number = float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise DataError(
                    f"the numeric feature got {value!r}, which is not a number",
                    column=self.code,
                ) from None
            if math.isnan(number):
                return self.missing_bin
            if self.specials.size and number in self._special_set:
                return self.special_bin
            return bisect.bisect_right(self._cut_list, number)
        return self.categories.get(category_text(value), self.other_bin)

    @property
    def _cut_list(self) -> list[float]:
        cached = self.__dict__.get("_cuts_cache")
        if cached is None:
            cached = [float(c) for c in self.cuts]
            self.__dict__["_cuts_cache"] = cached
        return cached

    @property
    def _special_set(self) -> frozenset[float]:
        cached = self.__dict__.get("_special_cache")
        if cached is None:
            cached = frozenset(float(v) for v in self.specials)
            self.__dict__["_special_cache"] = cached
        return cached

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for key in ("_cuts_cache", "_special_cache"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("trend", "")
        state.setdefault("specials", np.empty(0))
        self.__dict__.update(state)

    def bin_array(self, column: pd.Series) -> np.ndarray:
        """Bin indices (int64) of a column, vectorised."""
        if self.kind == "numeric":
            if column.dtype == np.float64:  # NaN is its only missing value: no copy
                values = column.to_numpy()
            else:
                values = numeric_values(column)
            bins = value_bins(values, self.cuts)
            if not self.specials.size:
                return bins  # NaN is already in the missing bin (the last)
            bins[np.isin(values, self.specials)] = self.special_bin
            bins[np.isnan(values)] = self.missing_bin
            return bins.astype(np.int64, copy=False)
        strings = _arrow_strings(column)
        if strings is not None:
            return self._bin_arrow_strings(strings)
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        lookup = np.fromiter(
            (self.categories.get(category_text(u), self.other_bin) for u in uniques),
            dtype=np.int64,
            count=len(uniques),
        )
        lookup = np.append(lookup, self.missing_bin)  # code -1 (missing) -> last entry
        return lookup[codes]

    def _bin_arrow_strings(self, strings: Any) -> np.ndarray:
        """Bins of an Arrow text column: each value looked up among the fitted
        categories in Arrow (one hash probe per value, no factorizing)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        texts = list(self.categories)
        position = pc.index_in(strings, value_set=pa.array(texts, type=pa.string()))
        unseen = len(texts)  # not a fitted category (or missing: fixed below)
        index = position.fill_null(unseen).to_numpy()
        lookup = np.array([*self.categories.values(), self.other_bin], dtype=np.int64)
        bins = lookup[index]
        if strings.null_count:
            bins[pc.is_null(strings).to_numpy(zero_copy_only=False)] = self.missing_bin
        return bins

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description of the bins (for the model card)."""
        out: dict[str, Any] = {
            "code": self.code,
            "kind": self.kind,
            "labels": list(self.labels),
            "missing_bin": self.missing_bin,
            "counts": [int(v) for v in self.counts],
            "goods": [int(v) for v in self.goods],
            "bads": [int(v) for v in self.bads],
            "woe": [float(v) for v in self.woe],
            "iv": self.iv,
        }
        if self.kind == "numeric":
            out["cuts"] = [float(v) for v in self.cuts]
            out["trend"] = self.trend
            if self.specials.size:
                out["special_values"] = [float(v) for v in self.specials]
                out["special_bin"] = self.special_bin
        else:
            out["categories"] = dict(sorted(self.categories.items()))
            out["other_bin"] = self.other_bin
            out["members"] = [list(m) for m in self.members]
        return out


def binned(bins: Mapping[str, FeatureBins], X: pd.DataFrame, codes: Sequence[str]) -> np.ndarray:
    """Bin indices of ``X``'s columns ``codes`` as an ``(n_rows, len(codes))`` int64 array
    (each column binned by its :class:`FeatureBins`; the caller has checked ``X``)."""
    out = np.empty((X.shape[0], len(codes)), dtype=np.int64)
    for j, code in enumerate(codes):
        out[:, j] = bins[code].bin_array(X[code])
    return out
