"""Supervised binning and weight of evidence (WOE).

:class:`WoeBinner` bins every feature against the bad flag and replaces each value by
its bin's WOE::

    WOE(bin) = ln( (goods in bin / all goods) / (bads in bin / all bads) )

so a positive WOE marks a bin safer than the portfolio and a negative one riskier.

Numeric features: pre-bins at the quantiles of the non-missing values (one pre-bin per
distinct value when there are at most ``n_prebins`` of them); adjacent pre-bins that
break the required bad-rate trend are pooled (pool-adjacent-violators); bins holding
less than ``min_bin_share`` of the rows are merged into the neighbour with the more
similar bad rate; then ChiMerge: the adjacent pair with the smallest chi-square
statistic is merged while there are more than ``max_bins`` bins or the pair's bad
rates do not differ at level ``chi2_pvalue``. Merging neighbours keeps a monotone
sequence monotone, so the final bins follow the trend.

Categorical features: one bin per category; categories holding less than
``min_bin_share`` of the rows are pooled into an "other" group; groups are ordered by
bad rate and merged by the same share and ChiMerge rules. Categories unseen at fit
time go to the bin of the "other" group (an empty bin with WOE 0 when no category was
rare).

Missing values always have a bin of their own, the last one, present even when empty.
An empty bin gets WOE 0 (neutral) and is flagged ``empty``. A bin without goods or
without bads would have an infinite WOE: ``smoothing`` is added to both its good and
bad counts (the totals are unchanged) and the bin is flagged ``smoothed``.

IV(feature) = sum over bins of (good share - bad share) * WOE.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from custrisk.errors import DataError
from custrisk.model._validation import (
    check_bool,
    check_columns,
    check_float,
    check_frame,
    check_int,
    check_target,
    param_error,
)
from custrisk.model.features import (
    FeatureSpec,
    category_text,
    is_missing,
    numeric_values,
    resolve_specs,
)

logger = logging.getLogger(__name__)

__all__ = ["MISSING_LABEL", "OTHER_LABEL", "FeatureBins", "WoeBinner"]

#: Label of the bin of missing values.
MISSING_LABEL = "missing"
#: Marker, in a categorical bin's label, of the bin rare and unseen categories go to.
OTHER_LABEL = "(other)"

BIN_TABLE_COLUMNS = (
    "feature",
    "kind",
    "bin",
    "label",
    "lower",
    "upper",
    "count",
    "share",
    "goods",
    "bads",
    "bad_rate",
    "woe",
    "iv",
    "empty",
    "smoothed",
)


@dataclass(eq=False)
class FeatureBins:
    """The fitted bins of one feature.

    Bins are numbered ``0 .. n_bins - 1``; the last is always the missing bin. For a
    numeric feature, value bin ``i`` covers ``[cuts[i-1], cuts[i])`` (the first starts at
    -inf, the last value bin ends at +inf). For a categorical feature, ``categories``
    maps each category seen in training to its bin and ``other_bin`` receives unseen
    categories.
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

    @property
    def n_bins(self) -> int:
        """Number of bins, the missing bin included."""
        return len(self.labels)

    @property
    def missing_bin(self) -> int:
        """Index of the missing bin (the last)."""
        return len(self.labels) - 1

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
            return bisect.bisect_right(self._cut_list, number)
        return self.categories.get(category_text(value), self.other_bin)

    @property
    def _cut_list(self) -> list[float]:
        cached = self.__dict__.get("_cuts_cache")
        if cached is None:
            cached = [float(c) for c in self.cuts]
            self.__dict__["_cuts_cache"] = cached
        return cached

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_cuts_cache", None)
        return state

    def bin_array(self, column: pd.Series) -> np.ndarray:
        """Bin indices (int64) of a column, vectorised."""
        if self.kind == "numeric":
            values = numeric_values(column)
            bins = np.searchsorted(self.cuts, values, side="right")
            bins[np.isnan(values)] = self.missing_bin
            return bins.astype(np.int64, copy=False)
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        lookup = np.fromiter(
            (self.categories.get(category_text(u), self.other_bin) for u in uniques),
            dtype=np.int64,
            count=len(uniques),
        )
        lookup = np.append(lookup, self.missing_bin)  # code -1 (missing) -> last entry
        return lookup[codes]

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
        else:
            out["categories"] = dict(sorted(self.categories.items()))
            out["other_bin"] = self.other_bin
            out["members"] = [list(m) for m in self.members]
        return out


# --------------------------------------------------------------------------------------
# Merging helpers (pure functions over per-bin counts)
# --------------------------------------------------------------------------------------


def _chi2(n1: float, b1: float, n2: float, b2: float) -> float:
    """Chi-square statistic of the 2x2 table (bin, good/bad) of two adjacent bins."""
    g1, g2 = n1 - b1, n2 - b2
    total, bads, goods = n1 + n2, b1 + b2, g1 + g2
    if bads == 0 or goods == 0 or n1 == 0 or n2 == 0:
        return 0.0
    return total * (b1 * g2 - b2 * g1) ** 2 / (n1 * n2 * bads * goods)


def _pava(counts: np.ndarray, bads: np.ndarray, increasing: bool) -> list[int]:
    """Start indices of the blocks pooling adjacent violators of the bad-rate trend."""
    starts: list[int] = []
    ns: list[float] = []
    bs: list[float] = []
    for i, (n, b) in enumerate(zip(counts.tolist(), bads.tolist(), strict=True)):
        starts.append(i)
        ns.append(n)
        bs.append(b)
        while len(ns) > 1:
            # rate[-2] vs rate[-1] by cross-multiplication (no division by zero)
            left, right = bs[-2] * ns[-1], bs[-1] * ns[-2]
            violates = left > right if increasing else left < right
            if not violates:
                break
            n_last, b_last = ns.pop(), bs.pop()
            ns[-1] += n_last
            bs[-1] += b_last
            starts.pop()
    return starts


class _Groups:
    """Adjacent groups of pre-bins with their counts, merged in place."""

    def __init__(
        self, counts: Iterable[float], bads: Iterable[float], starts: list[int] | None = None
    ) -> None:
        all_counts = [float(v) for v in counts]
        all_bads = [float(v) for v in bads]
        if starts is None:
            starts = list(range(len(all_counts)))
        ends = [*starts[1:], len(all_counts)]
        self.parts: list[list[int]] = [list(range(a, b)) for a, b in zip(starts, ends, strict=True)]
        self.counts = [sum(all_counts[a:b]) for a, b in zip(starts, ends, strict=True)]
        self.bads = [sum(all_bads[a:b]) for a, b in zip(starts, ends, strict=True)]

    def __len__(self) -> int:
        return len(self.counts)

    def merge(self, i: int) -> None:
        """Merge group ``i`` with group ``i + 1``."""
        self.counts[i] += self.counts.pop(i + 1)
        self.bads[i] += self.bads.pop(i + 1)
        self.parts[i].extend(self.parts.pop(i + 1))

    def pair_chi2(self, i: int) -> float:
        return _chi2(self.counts[i], self.bads[i], self.counts[i + 1], self.bads[i + 1])

    def merge_small(self, min_count: float) -> None:
        """Merge groups below ``min_count`` rows into their more similar neighbour."""
        while len(self) > 1:
            smallest = min(range(len(self)), key=lambda i: (self.counts[i], i))
            if self.counts[smallest] >= min_count:
                return
            if smallest == 0:
                self.merge(0)
            elif smallest == len(self) - 1:
                self.merge(smallest - 1)
            elif self.pair_chi2(smallest - 1) <= self.pair_chi2(smallest):
                self.merge(smallest - 1)
            else:
                self.merge(smallest)

    def chi_merge(self, max_groups: int, threshold: float) -> None:
        """ChiMerge down to ``max_groups`` and until every adjacent pair differs."""
        while len(self) > 1:
            stats = [self.pair_chi2(i) for i in range(len(self) - 1)]
            weakest = min(range(len(stats)), key=lambda i: (stats[i], i))
            if len(self) <= max_groups and stats[weakest] >= threshold:
                return
            self.merge(weakest)


def _woe(
    goods: np.ndarray, bads: np.ndarray, smoothing: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """WOE, IV contribution and smoothed flag per bin."""
    total_goods, total_bads = float(goods.sum()), float(bads.sum())
    counts = goods + bads
    smoothed = (counts > 0) & ((goods == 0) | (bads == 0))
    add = np.where(smoothed, smoothing, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        woe = np.log(((goods + add) / total_goods) / ((bads + add) / total_bads))
    woe = np.where(counts > 0, woe, 0.0)
    iv = (goods / total_goods - bads / total_bads) * woe
    return woe, iv, smoothed


def _round_cut(cut: float, distinct: np.ndarray) -> float:
    """The roundest number in ``(previous distinct value, cut]``.

    No training value lies in that gap, so the training bins are unchanged, and labels
    read ``[0.25, 1.5)`` rather than ``[0.2487312, 1.5013)``.
    """
    position = int(np.searchsorted(distinct, cut, side="left"))
    if position == 0 or not math.isfinite(cut):
        return float(cut)
    previous = float(distinct[position - 1])
    for decimals in range(-15, 16):
        scale = 10.0**decimals
        candidate = round(math.floor(cut * scale) / scale, max(decimals, 0))
        if previous < candidate <= cut:
            return float(candidate)
    return float(cut)


def _fmt(value: float) -> str:
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return f"{value:.10g}"


def _interval_label(lower: float, upper: float) -> str:
    left = "(" if math.isinf(lower) else "["
    return f"{left}{_fmt(lower)}, {_fmt(upper)})"


# --------------------------------------------------------------------------------------
# The estimator
# --------------------------------------------------------------------------------------


class WoeBinner(TransformerMixin, BaseEstimator):
    """Bin features against the bad flag and transform them to weight of evidence.

    Parameters
    ----------
    specs : mapping of str to FeatureSpec, optional
        Kind, risk direction and labels per feature; columns without a spec get a
        default from their dtype (see :func:`feature_specs_from_frame`).
    max_bins : int, default 8
        Most value bins per feature (the missing bin not counted).
    min_bin_share : float, default 0.05
        Least share of all training rows in a value bin; smaller bins are merged
        (numeric) or pooled into "other" (categorical categories).
    n_prebins : int, default 20
        Quantile pre-bins of a numeric feature before merging.
    chi2_pvalue : float or None, default 0.05
        Adjacent bins whose bad rates do not differ at this significance level
        (chi-square test, 1 degree of freedom) are merged. ``None``: merge only down to
        ``max_bins``.
    smoothing : float, default 0.5
        Added to the good and the bad count of a bin that has no goods or no bads.
    monotonic : bool, default True
        Enforce each numeric feature's bad-rate trend (``FeatureSpec.trend``). False:
        no feature is constrained.

    Attributes
    ----------
    features_ : list of str
        The binned features, in column order of the training frame.
    specs_ : dict of str to FeatureSpec
        The spec used for every feature.
    bins_ : dict of str to FeatureBins
        Fitted bins per feature.
    iv_ : dict of str to float
        Information value per feature.
    n_samples_ : int
        Training rows.
    bad_rate_ : float
        Share of bads in training.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    """

    def __init__(
        self,
        *,
        specs: Mapping[str, FeatureSpec] | None = None,
        max_bins: int = 8,
        min_bin_share: float = 0.05,
        n_prebins: int = 20,
        chi2_pvalue: float | None = 0.05,
        smoothing: float = 0.5,
        monotonic: bool = True,
    ) -> None:
        self.specs = specs
        self.max_bins = max_bins
        self.min_bin_share = min_bin_share
        self.n_prebins = n_prebins
        self.chi2_pvalue = chi2_pvalue
        self.smoothing = smoothing
        self.monotonic = monotonic

    # -- fitting ---------------------------------------------------------------------

    def _check_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "max_bins": check_int(self, "max_bins", self.max_bins, low=1),
            "min_bin_share": check_float(
                self, "min_bin_share", self.min_bin_share, low=0.0, high=0.5
            ),
            "n_prebins": check_int(self, "n_prebins", self.n_prebins, low=2),
            "smoothing": check_float(self, "smoothing", self.smoothing, low=0.0, low_open=True),
            "monotonic": check_bool(self, "monotonic", self.monotonic),
        }
        if self.chi2_pvalue is None:
            params["chi2_threshold"] = 0.0
        else:
            pvalue = check_float(
                self,
                "chi2_pvalue",
                self.chi2_pvalue,
                low=0.0,
                high=1.0,
                low_open=True,
                high_open=True,
            )
            params["chi2_threshold"] = NormalDist().inv_cdf(1.0 - pvalue / 2.0) ** 2
        if self.specs is not None and not isinstance(self.specs, Mapping):
            raise param_error(self, "specs", "a mapping of code to FeatureSpec or None", self.specs)
        return params

    def fit(self, X: pd.DataFrame, y: Any) -> WoeBinner:
        """Fit the bins of every column of ``X``.

        Parameters
        ----------
        X : pandas.DataFrame
            Features; numeric columns may hold NaN, categorical ones missing values.
        y : array-like of 0/1
            The bad flag (1 = bad).

        Returns
        -------
        WoeBinner
            The fitted binner.
        """
        params = self._check_params()
        X = check_frame(X)
        target = check_target(y, X.shape[0])
        specs = resolve_specs(X, self.specs)
        n_rows = X.shape[0]
        min_count = params["min_bin_share"] * n_rows
        bins: dict[str, FeatureBins] = {}
        for code, spec in specs.items():
            if spec.kind == "numeric":
                fitted = self._fit_numeric(X[code], target, spec, params, min_count)
            else:
                fitted = self._fit_categorical(X[code], target, spec, params, min_count)
            bins[code] = fitted
            logger.debug("binned %s: %d bins, IV %.4f", code, fitted.n_bins, fitted.iv)
        self.specs_ = specs
        self.bins_ = bins
        self.features_ = list(specs)
        self.iv_ = {code: b.iv for code, b in bins.items()}
        self.n_samples_ = n_rows
        self.bad_rate_ = float(target.mean())
        self.feature_names_in_ = np.asarray(self.features_, dtype=object)
        self.n_features_in_ = len(self.features_)
        return self

    def _fit_numeric(
        self,
        column: pd.Series,
        target: np.ndarray,
        spec: FeatureSpec,
        params: dict[str, Any],
        min_count: float,
    ) -> FeatureBins:
        values = numeric_values(column)
        present = ~np.isnan(values)
        xs = values[present]
        ys = target[present]
        counts: np.ndarray
        bads: np.ndarray
        if xs.size == 0:
            cuts = np.empty(0)
            counts = np.zeros(1)
            bads = np.zeros(1)
        else:
            distinct = np.unique(xs)
            if distinct.size <= params["n_prebins"]:
                cuts = distinct[1:]
            else:
                probs = np.linspace(0.0, 1.0, params["n_prebins"] + 1)[1:-1]
                cuts = np.unique(np.quantile(xs, probs, method="inverted_cdf"))
                cuts = cuts[cuts > distinct[0]]
            idx = np.searchsorted(cuts, xs, side="right")
            counts = np.bincount(idx, minlength=cuts.size + 1).astype(float)
            bads = np.bincount(idx, weights=ys, minlength=cuts.size + 1)
        trend = spec.trend if params["monotonic"] else None
        starts = None
        if trend is not None and counts.size > 1:
            starts = _pava(counts, bads, increasing=trend == "increasing")
        groups = _Groups(counts, bads, starts)
        groups.merge_small(min_count)
        groups.chi_merge(params["max_bins"], params["chi2_threshold"])
        kept_cuts = np.array(
            [_round_cut(cuts[part[0] - 1], distinct) for part in groups.parts[1:]], dtype=float
        )
        edges = [-math.inf, *kept_cuts.tolist(), math.inf]
        labels = [_interval_label(edges[i], edges[i + 1]) for i in range(len(groups))]
        missing_count = float((~present).sum())
        missing_bads = float(target[~present].sum())
        return self._finish(
            spec,
            labels=[*labels, MISSING_LABEL],
            counts=[*groups.counts, missing_count],
            bads=[*groups.bads, missing_bads],
            smoothing=params["smoothing"],
            cuts=kept_cuts,
        )

    def _fit_categorical(
        self,
        column: pd.Series,
        target: np.ndarray,
        spec: FeatureSpec,
        params: dict[str, Any],
        min_count: float,
    ) -> FeatureBins:
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        present = codes >= 0
        texts = [category_text(u) for u in uniques]
        counts_by_code = np.bincount(codes[present], minlength=len(texts)).astype(float)
        bads_by_code = np.bincount(codes[present], weights=target[present], minlength=len(texts))
        # the same text may come from different raw values (1 and "1"): pool by text
        count_of: dict[str, float] = {}
        bads_of: dict[str, float] = {}
        for text, n, b in zip(texts, counts_by_code.tolist(), bads_by_code.tolist(), strict=True):
            count_of[text] = count_of.get(text, 0.0) + n
            bads_of[text] = bads_of.get(text, 0.0) + b
        frequent = sorted(t for t, n in count_of.items() if n >= min_count)
        rare = sorted(t for t, n in count_of.items() if n < min_count)
        members: list[list[str]] = [[t] for t in frequent]
        group_counts = [count_of[t] for t in frequent]
        group_bads = [bads_of[t] for t in frequent]
        if rare:
            members.append([*rare, OTHER_LABEL])
            group_counts.append(sum(count_of[t] for t in rare))
            group_bads.append(sum(bads_of[t] for t in rare))
        order = sorted(
            range(len(members)),
            key=lambda i: (group_bads[i] / group_counts[i], members[i][0]),
        )
        groups = _Groups([group_counts[i] for i in order], [group_bads[i] for i in order])
        groups.merge_small(min_count)
        groups.chi_merge(params["max_bins"], params["chi2_threshold"])
        bin_members = [
            sorted((m for part_i in part for m in members[order[part_i]]), key=_member_key)
            for part in groups.parts
        ]
        counts = list(groups.counts)
        bads = list(groups.bads)
        if not rare:
            bin_members.append([OTHER_LABEL])
            counts.append(0.0)
            bads.append(0.0)
        other_bin = next(i for i, m in enumerate(bin_members) if OTHER_LABEL in m)
        categories = {
            m: i for i, group in enumerate(bin_members) for m in group if m != OTHER_LABEL
        }
        labels = [
            OTHER_LABEL if m == [OTHER_LABEL] else "{" + ", ".join(m) + "}" for m in bin_members
        ]
        missing = ~present
        return self._finish(
            spec,
            labels=[*labels, MISSING_LABEL],
            counts=[*counts, float(missing.sum())],
            bads=[*bads, float(target[missing].sum())],
            smoothing=params["smoothing"],
            categories=categories,
            other_bin=other_bin,
            members=[*bin_members, []],
        )

    @staticmethod
    def _finish(
        spec: FeatureSpec,
        *,
        labels: list[str],
        counts: list[float],
        bads: list[float],
        smoothing: float,
        cuts: np.ndarray | None = None,
        categories: dict[str, int] | None = None,
        other_bin: int = -1,
        members: list[list[str]] | None = None,
    ) -> FeatureBins:
        count_arr = np.rint(np.asarray(counts, dtype=float)).astype(np.int64)
        bad_arr = np.rint(np.asarray(bads, dtype=float)).astype(np.int64)
        good_arr = count_arr - bad_arr
        woe, iv, smoothed = _woe(good_arr.astype(float), bad_arr.astype(float), smoothing)
        return FeatureBins(
            code=spec.code,
            kind=spec.kind,
            labels=labels,
            counts=count_arr,
            goods=good_arr,
            bads=bad_arr,
            woe=woe,
            iv_contributions=iv,
            smoothed=smoothed,
            cuts=np.empty(0) if cuts is None else cuts,
            categories=categories or {},
            other_bin=other_bin,
            members=members or [],
        )

    # -- transforming ----------------------------------------------------------------

    def bin_indices(self, X: pd.DataFrame) -> pd.DataFrame:
        """The bin index of every value (the last bin of a feature is its missing bin).

        Parameters
        ----------
        X : pandas.DataFrame
            Must hold every fitted feature; other columns are ignored.

        Returns
        -------
        pandas.DataFrame
            int64 bin indices, the fitted features as columns, ``X``'s index.
        """
        matrix = self.bin_matrix(X)
        return pd.DataFrame(matrix, columns=list(self.features_), index=X.index)

    def bin_matrix(self, X: pd.DataFrame, features: Iterable[str] | None = None) -> np.ndarray:
        """Bin indices as an ``(n_rows, n_features)`` int64 array (``features`` order)."""
        check_is_fitted(self, "bins_")
        X = check_frame(X)
        codes = list(self.features_ if features is None else features)
        check_columns(X, codes)
        out = np.empty((X.shape[0], len(codes)), dtype=np.int64)
        for j, code in enumerate(codes):
            out[:, j] = self.bins_[code].bin_array(X[code])
        return out

    def woe_matrix(self, X: pd.DataFrame, features: Iterable[str] | None = None) -> np.ndarray:
        """WOE values as an ``(n_rows, n_features)`` float64 array (``features`` order)."""
        check_is_fitted(self, "bins_")
        codes = list(self.features_ if features is None else features)
        bins = self.bin_matrix(X, codes)
        out = np.empty(bins.shape, dtype=np.float64)
        for j, code in enumerate(codes):
            out[:, j] = self.bins_[code].woe[bins[:, j]]
        return out

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Replace every value by the WOE of its bin.

        Parameters
        ----------
        X : pandas.DataFrame
            Must hold every fitted feature; other columns are ignored.

        Returns
        -------
        pandas.DataFrame
            float64 WOE values, the fitted features as columns, ``X``'s index.
        """
        matrix = self.woe_matrix(X)
        return pd.DataFrame(matrix, columns=list(self.features_), index=X.index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The output columns: the fitted features."""
        check_is_fitted(self, "bins_")
        return np.asarray(self.features_, dtype=object)

    # -- reporting -------------------------------------------------------------------

    def bin_table(self, features: Iterable[str] | None = None) -> pd.DataFrame:
        """One row per feature and bin: counts, bad rate, WOE and IV contribution.

        Columns: feature, kind, bin, label, lower, upper (numeric bin edges; NaN
        otherwise), count, share, goods, bads, bad_rate (NaN for an empty bin), woe,
        iv (the bin's contribution), empty, smoothed.
        """
        check_is_fitted(self, "bins_")
        rows: list[dict[str, Any]] = []
        for code in self.features_ if features is None else features:
            fb = self.bins_[code]
            total = float(fb.counts.sum())
            edges = [-math.inf, *fb.cuts.tolist(), math.inf]
            for i in range(fb.n_bins):
                value_bin = fb.kind == "numeric" and i < fb.missing_bin
                count = int(fb.counts[i])
                rows.append(
                    {
                        "feature": code,
                        "kind": fb.kind,
                        "bin": i,
                        "label": fb.labels[i],
                        "lower": edges[i] if value_bin else math.nan,
                        "upper": edges[i + 1] if value_bin else math.nan,
                        "count": count,
                        "share": count / total if total else 0.0,
                        "goods": int(fb.goods[i]),
                        "bads": int(fb.bads[i]),
                        "bad_rate": fb.bads[i] / count if count else math.nan,
                        "woe": float(fb.woe[i]),
                        "iv": float(fb.iv_contributions[i]),
                        "empty": count == 0,
                        "smoothed": bool(fb.smoothed[i]),
                    }
                )
        table = pd.DataFrame(rows, columns=list(BIN_TABLE_COLUMNS))
        table.attrs["woe_definition"] = "WOE = ln(good share / bad share)"
        return table

    def export_bins(self) -> dict[str, dict[str, Any]]:
        """A JSON-ready description of every feature's bins (for the model card)."""
        check_is_fitted(self, "bins_")
        return {code: self.bins_[code].to_dict() for code in self.features_}


def _member_key(member: str) -> tuple[int, str]:
    return (1 if member == OTHER_LABEL else 0, member)
