"""Supervised binning and weight of evidence (WOE).

:class:`WoeBinner` bins every feature against the bad flag and replaces each value by
its bin's WOE::

    WOE(bin) = ln( (goods in bin / all goods) / (bads in bin / all bads) )

so a positive WOE marks a bin safer than the portfolio and a negative one riskier.

Optimal binning. Numeric features get pre-bins at the quantiles of their values (one
pre-bin per distinct value when there are at most ``n_prebins`` of them); categorical
features get one pre-bin per category (categories rarer than ``min_category_share`` are
pooled into an "(other)" group), ordered by bad rate. Adjacent pre-bins are then grouped
into the bins of the **highest information value** under constraints: every value bin
holds at least ``min_bin_share`` of the feature's value rows and ``min_bin_goods`` /
``min_bin_bads``; at most ``max_bins`` bins; the bad rate follows the feature's trend
(increasing, decreasing, peak or valley: given by the spec, or chosen from the data); with
``chi2_pvalue``, adjacent bins differ significantly; with ``min_iv_gain``, a bin is added
only when it raises the IV by that much. IV is a sum over bins, so the optimum is found
exactly by dynamic programming (:mod:`custrisk.estimators._optimal`).

Trend from the data (a numeric feature whose spec says ``monotonic="auto"`` and direction
``none``): the best increasing and decreasing binnings are compared by IV; the best peak or
valley binning replaces them only when a likelihood-ratio test prefers it at level
``trend_pvalue``.

Missing values always have a bin of their own, the last one, present even when empty;
``special_values`` of a numeric feature have one just before it. Their WOE is **shrunk
towards 0 by an explicit prior**: ``woe_prior`` rows at the portfolio bad rate are added to
the bin's counts, so a missing bin of one row gets a WOE near 0, one of thousands of rows
its own. An empty bin gets WOE 0 and is flagged ``empty``. A value bin without goods or
without bads (possible only with ``min_bin_goods`` or ``min_bin_bads`` at 0) gets
``smoothing`` added to both counts; shrunk and smoothed bins are flagged ``smoothed``.

Categories unseen at fit time go to the bin of the "(other)" group (an empty bin with WOE
0 when no category was rare).

IV(feature) = sum over bins of (good share - bad share) * WOE.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2 as chi2_distribution
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from custrisk.estimators._optimal import (
    Constraints,
    Partition,
    Problem,
    is_monotone,
    log_likelihood,
)
from custrisk.estimators._validation import (
    check_bool,
    check_columns,
    check_float,
    check_frame,
    check_int,
    check_target,
    param_error,
)
from custrisk.estimators.bins import (
    MISSING_LABEL,
    OTHER_LABEL,
    SPECIAL_LABEL,
    FeatureBins,
    binned,
    value_bins,
)
from custrisk.estimators.features import (
    FeatureSpec,
    category_text,
    numeric_values,
    resolve_specs,
)

logger = logging.getLogger(__name__)

__all__ = [
    "MISSING_LABEL",
    "OTHER_LABEL",
    "SPECIAL_LABEL",
    "FeatureBins",
    "WoeBinner",
    "percent_bin_labels",
    "value_bins",
]

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


# --------------------------------------------------------------------------------------
# Helpers (pure functions over per-bin counts)
# --------------------------------------------------------------------------------------


def _woe(
    goods: np.ndarray,
    bads: np.ndarray,
    smoothing: float,
    prior_rows: float,
    shrunk: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """WOE, IV contribution and smoothed flag per bin.

    Bins flagged in ``shrunk`` (missing and special values) get ``prior_rows`` rows at the
    portfolio bad rate added to their counts; other bins without goods or bads get
    ``smoothing`` added to both counts. Totals are unchanged.
    """
    total_goods, total_bads = float(goods.sum()), float(bads.sum())
    bad_rate = total_bads / (total_goods + total_bads)
    counts = goods + bads
    prior = np.where(shrunk & (counts > 0), prior_rows, 0.0)
    goods_adj = goods + prior * (1.0 - bad_rate)
    bads_adj = bads + prior * bad_rate
    pure = (counts > 0) & ((goods_adj <= 0) | (bads_adj <= 0))
    add = np.where(pure, smoothing, 0.0)
    goods_adj = goods_adj + add
    bads_adj = bads_adj + add
    with np.errstate(divide="ignore", invalid="ignore"):
        woe = np.log((goods_adj / total_goods) / (bads_adj / total_bads))
    woe = np.where(counts > 0, woe, 0.0)
    # shrunk bins: the share difference of the adjusted counts, consistent with their WOE
    good_share = np.where(prior > 0, goods_adj, goods) / total_goods
    bad_share = np.where(prior > 0, bads_adj, bads) / total_bads
    iv = (good_share - bad_share) * woe
    return woe, iv, pure | (prior > 0)


@cache
def _chi2_threshold(pvalue: float, df: int) -> float:
    """The chi-square statistic above which a test at level ``pvalue`` rejects."""
    return float(chi2_distribution.ppf(1.0 - pvalue, df))


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


def _interval_label(lower: float, upper: float, *, percent: bool = False) -> str:
    left = "(" if math.isinf(lower) else "["
    if percent:  # (a share read from 16%: its edges shown as the data shows it)
        return f"{left}{_fmt_percent(lower)}, {_fmt_percent(upper)})"
    return f"{left}{_fmt(lower)}, {_fmt(upper)})"


def _fmt_percent(value: float) -> str:
    return _fmt(value) if math.isinf(value) else f"{value * 100:.10g}%"


def percent_bin_labels(bins: FeatureBins) -> list[str]:
    """The labels of ``bins`` with the edges of its value bins as percents, ``[5%, 15%)``,
    for a feature read from percentages (16% in the data and the reports, 0.16 in the
    model); special and missing bins keep their labels."""
    labels = list(bins.labels)
    if bins.kind != "numeric":
        return labels
    edges = [-math.inf, *bins.cuts.tolist(), math.inf]
    labels[: len(edges) - 1] = [
        _interval_label(edges[i], edges[i + 1], percent=True) for i in range(len(edges) - 1)
    ]
    return labels


def _prebin_cuts(
    xs: np.ndarray, distinct: np.ndarray, first_of: np.ndarray, n_prebins: int
) -> np.ndarray:
    """Pre-bin cuts of sorted values: quantiles, and around every heavy value.

    With at most ``n_prebins`` distinct values, one pre-bin per value. Otherwise cuts at
    the ``n_prebins`` quantiles (tied values stay together), plus cuts on both sides of
    every value holding more than a pre-bin's share of the rows (a mass of zeros keeps a
    pre-bin of its own instead of being lumped with the small values next to it).
    """
    if distinct.size <= n_prebins:
        return distinct[1:]
    probs = np.linspace(0.0, 1.0, n_prebins + 1)[1:-1]
    cuts = np.quantile(xs, probs, method="inverted_cdf")
    sizes = np.diff(np.append(first_of, xs.size))
    heavy = np.flatnonzero(sizes > xs.size / n_prebins)
    if heavy.size:
        after = heavy + 1
        cuts = np.concatenate([cuts, distinct[heavy], distinct[after[after < distinct.size]]])
    cuts = np.unique(cuts)
    return cuts[cuts > distinct[0]]


def _group_sums(values: np.ndarray, starts: tuple[int, ...]) -> list[float]:
    return [float(v) for v in np.add.reduceat(values, list(starts))] if values.size else [0.0]


# --------------------------------------------------------------------------------------
# The estimator
# --------------------------------------------------------------------------------------


class WoeBinner(TransformerMixin, BaseEstimator):
    """Bin features against the bad flag (optimal binning) and transform them to WOE.

    Parameters
    ----------
    specs : mapping of str to FeatureSpec, optional
        Kind, risk direction, trend and labels per feature; columns without a spec get a
        default from their dtype (see :func:`feature_specs_from_frame`).
    max_bins : int, default 10
        Most value bins per feature (the missing and special bins not counted).
    min_bin_share : float, default 0.02
        Least share of the feature's value rows (not missing, not special) in a value
        bin, rounded down to whole rows.
    min_bin_goods, min_bin_bads : int, default 1
        Least goods and bads in a value bin.
    n_prebins : int, default 20
        Quantile pre-bins of a numeric feature before the optimal grouping.
    chi2_pvalue : float or None, default None
        Adjacent bins must differ in bad rate at this significance level (chi-square
        test, 1 degree of freedom). None: no test.
    min_iv_gain : float, default 0.0
        A bin is added only when the best binning with it has an IV higher by more than
        this.
    trend_pvalue : float, default 0.01
        Level of the likelihood-ratio test that must prefer a peak or valley to the best
        monotonic binning for a feature whose trend is chosen from the data.
    woe_prior : float, default 20.0
        Rows at the portfolio bad rate added to the missing and special bins' counts
        (their WOE is shrunk towards 0 by their size). 0: no shrinkage.
    smoothing : float, default 0.5
        Added to the good and the bad count of a bin that has no goods or no bads.
    monotonic : bool, default True
        Give numeric features their bad-rate trend (``FeatureSpec.trend``, or chosen from
        the data). False: no feature is constrained.
    min_category_share : float, default 0.01
        Categories rarer than this share of the feature's non-missing rows are pooled
        into "(other)" before the grouping.
    special_values : sequence of float, or mapping of str to sequence, optional
        Values of numeric features that are codes rather than amounts (e.g. -999): they
        get a bin of their own. A sequence applies to every numeric feature, a mapping
        per feature.

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
        max_bins: int = 10,
        min_bin_share: float = 0.02,
        min_bin_goods: int = 1,
        min_bin_bads: int = 1,
        n_prebins: int = 20,
        chi2_pvalue: float | None = None,
        min_iv_gain: float = 0.0,
        trend_pvalue: float = 0.01,
        woe_prior: float = 20.0,
        smoothing: float = 0.5,
        monotonic: bool = True,
        min_category_share: float = 0.01,
        special_values: Sequence[float] | Mapping[str, Sequence[float]] | None = None,
    ) -> None:
        self.specs = specs
        self.max_bins = max_bins
        self.min_bin_share = min_bin_share
        self.min_bin_goods = min_bin_goods
        self.min_bin_bads = min_bin_bads
        self.n_prebins = n_prebins
        self.chi2_pvalue = chi2_pvalue
        self.min_iv_gain = min_iv_gain
        self.trend_pvalue = trend_pvalue
        self.woe_prior = woe_prior
        self.smoothing = smoothing
        self.monotonic = monotonic
        self.min_category_share = min_category_share
        self.special_values = special_values

    # -- fitting ---------------------------------------------------------------------

    def _check_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "max_bins": check_int(self, "max_bins", self.max_bins, low=1),
            "min_bin_share": check_float(
                self, "min_bin_share", self.min_bin_share, low=0.0, high=0.5
            ),
            "min_bin_goods": check_int(self, "min_bin_goods", self.min_bin_goods, low=0),
            "min_bin_bads": check_int(self, "min_bin_bads", self.min_bin_bads, low=0),
            "n_prebins": check_int(self, "n_prebins", self.n_prebins, low=2),
            "min_iv_gain": check_float(self, "min_iv_gain", self.min_iv_gain, low=0.0),
            "trend_pvalue": check_float(
                self,
                "trend_pvalue",
                self.trend_pvalue,
                low=0.0,
                high=1.0,
                low_open=True,
                high_open=True,
            ),
            "woe_prior": check_float(self, "woe_prior", self.woe_prior, low=0.0),
            "smoothing": check_float(self, "smoothing", self.smoothing, low=0.0, low_open=True),
            "monotonic": check_bool(self, "monotonic", self.monotonic),
            "min_category_share": check_float(
                self, "min_category_share", self.min_category_share, low=0.0, high=0.5
            ),
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
            params["chi2_threshold"] = _chi2_threshold(pvalue, 1)
        if self.specs is not None and not isinstance(self.specs, Mapping):
            raise param_error(self, "specs", "a mapping of code to FeatureSpec or None", self.specs)
        params["special_values"] = self._check_special_values()
        return params

    def _check_special_values(self) -> Callable[[str], np.ndarray]:
        """The special values of each feature, as a function of its code."""
        given = self.special_values
        expected = "a list of numbers, a mapping of feature code to such a list, or None"

        def numbers(value: Any) -> np.ndarray:
            if isinstance(value, str | bytes) or not isinstance(value, Iterable):
                raise param_error(self, "special_values", expected, given)
            out = []
            for item in value:
                if isinstance(item, bool) or not isinstance(item, int | float | np.number):
                    raise param_error(self, "special_values", expected, given)
                if not math.isfinite(float(item)):
                    raise param_error(self, "special_values", expected, given)
                out.append(float(item))
            return np.unique(np.asarray(out, dtype=float))

        if given is None:
            return lambda code: np.empty(0)
        if isinstance(given, Mapping):
            table = {str(code): numbers(values) for code, values in given.items()}
            return lambda code: table.get(code, np.empty(0))
        shared = numbers(given)
        return lambda code: shared

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
        bins: dict[str, FeatureBins] = {}
        for code, spec in specs.items():
            if spec.kind == "numeric":
                fitted = self._fit_numeric(X[code], target, spec, params)
            else:
                fitted = self._fit_categorical(X[code], target, spec, params)
            bins[code] = fitted
            logger.debug(
                "binned %s: %d bins, IV %.4f, trend %s",
                code,
                fitted.n_bins,
                fitted.iv,
                fitted.trend or "-",
            )
        self.specs_ = specs
        self.bins_ = bins
        self.features_ = list(specs)
        self.iv_ = {code: b.iv for code, b in bins.items()}
        self.n_samples_ = n_rows
        self.bad_rate_ = float(target.mean())
        self.feature_names_in_ = np.asarray(self.features_, dtype=object)
        self.n_features_in_ = len(self.features_)
        return self

    @staticmethod
    def _constraints(params: dict[str, Any], value_rows: int) -> Constraints:
        return Constraints(
            min_count=float(math.floor(params["min_bin_share"] * value_rows + 1e-9)),
            min_goods=float(params["min_bin_goods"]),
            min_bads=float(params["min_bin_bads"]),
            max_bins=params["max_bins"],
            pair_threshold=params["chi2_threshold"],
            min_iv_gain=params["min_iv_gain"],
            smoothing=params["smoothing"],
        )

    def _best_partition(
        self,
        counts: np.ndarray,
        bads: np.ndarray,
        totals: tuple[float, float],
        params: dict[str, Any],
        value_rows: int,
        trend: str | None,
        from_data: bool,
    ) -> Partition:
        """The optimal grouping of the pre-bins (one bin when nothing is feasible)."""
        problem = Problem(counts, bads, totals[0], totals[1], self._constraints(params, value_rows))
        if not from_data:
            found = problem.solve(trend)
        else:
            found = _choose_trend(problem, counts, bads, params["trend_pvalue"])
        if found is None:
            return Partition((0,), 0.0, trend if not from_data else "none")
        return found

    def _fit_numeric(
        self,
        column: pd.Series,
        target: np.ndarray,
        spec: FeatureSpec,
        params: dict[str, Any],
    ) -> FeatureBins:
        values = numeric_values(column)
        specials = params["special_values"](spec.code)
        missing = np.isnan(values)
        special = np.isin(values, specials) if specials.size else np.zeros(values.size, bool)
        present = ~missing & ~special
        order = np.argsort(values[present], kind="stable")
        xs = values[present][order]
        ys = target[present][order]
        counts: np.ndarray
        bads: np.ndarray
        new_value = np.empty(xs.size, dtype=bool)
        new_value[:1] = True
        np.not_equal(xs[1:], xs[:-1], out=new_value[1:])
        first_of = np.flatnonzero(new_value)
        distinct = xs[first_of]
        if xs.size == 0:
            cuts = np.empty(0)
            counts = np.zeros(1)
            bads = np.zeros(1)
        else:
            cuts = _prebin_cuts(xs, distinct, first_of, params["n_prebins"])
            idx = np.searchsorted(cuts, xs, side="right")
            counts = np.bincount(idx, minlength=cuts.size + 1).astype(float)
            bads = np.bincount(idx, weights=ys, minlength=cuts.size + 1)
        total_bads = float(target.sum())
        totals = (float(target.size) - total_bads, total_bads)
        if not params["monotonic"]:
            trend, from_data = None, False
        else:
            trend, from_data = spec.trend, spec.trend_from_data
        partition = self._best_partition(
            counts, bads, totals, params, int(xs.size), trend, from_data
        )
        starts = partition.starts if xs.size else (0,)
        kept_cuts = np.array([_round_cut(cuts[s - 1], distinct) for s in starts[1:]], dtype=float)
        edges = [-math.inf, *kept_cuts.tolist(), math.inf]
        labels = [_interval_label(edges[i], edges[i + 1]) for i in range(len(starts))]
        group_counts = _group_sums(counts, starts)
        group_bads = _group_sums(bads, starts)
        extra_labels: list[str] = []
        extra_counts: list[float] = []
        extra_bads: list[float] = []
        if specials.size:
            extra_labels.append(SPECIAL_LABEL)
            extra_counts.append(float(special.sum()))
            extra_bads.append(float(target[special].sum()))
        return self._finish(
            spec,
            labels=[*labels, *extra_labels, MISSING_LABEL],
            counts=[*group_counts, *extra_counts, float(missing.sum())],
            bads=[*group_bads, *extra_bads, float(target[missing].sum())],
            n_shrunk=len(extra_labels) + 1,
            params=params,
            cuts=kept_cuts,
            trend=(partition.trend or "none") if len(starts) > 1 else "none",
            specials=specials,
        )

    def _fit_categorical(
        self,
        column: pd.Series,
        target: np.ndarray,
        spec: FeatureSpec,
        params: dict[str, Any],
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
        value_rows = int(present.sum())
        min_category = params["min_category_share"] * value_rows
        frequent = sorted(t for t, n in count_of.items() if n >= min_category)
        rare = sorted(t for t, n in count_of.items() if n < min_category)
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
        ordered_counts = np.array([group_counts[i] for i in order], dtype=float)
        ordered_bads = np.array([group_bads[i] for i in order], dtype=float)
        total_bads = float(target.sum())
        totals = (float(target.size) - total_bads, total_bads)
        if ordered_counts.size:
            # ordered by bad rate: the grouping keeps the order (an increasing trend)
            partition = self._best_partition(
                ordered_counts, ordered_bads, totals, params, value_rows, "increasing", False
            )
            starts = partition.starts
        else:
            starts = (0,)
        ends = [*starts[1:], len(order)]
        bin_members = [
            sorted((m for i in range(a, b) for m in members[order[i]]), key=_member_key)
            for a, b in zip(starts, ends, strict=True)
        ]
        counts = _group_sums(ordered_counts, starts) if ordered_counts.size else []
        bads = _group_sums(ordered_bads, starts) if ordered_counts.size else []
        bin_members = [m for m in bin_members if m]
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
            n_shrunk=1,
            params=params,
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
        n_shrunk: int,
        params: dict[str, Any],
        cuts: np.ndarray | None = None,
        categories: dict[str, int] | None = None,
        other_bin: int = -1,
        members: list[list[str]] | None = None,
        trend: str = "",
        specials: np.ndarray | None = None,
    ) -> FeatureBins:
        count_arr = np.rint(np.asarray(counts, dtype=float)).astype(np.int64)
        bad_arr = np.rint(np.asarray(bads, dtype=float)).astype(np.int64)
        good_arr = count_arr - bad_arr
        shrunk = np.zeros(count_arr.size, dtype=bool)
        shrunk[count_arr.size - n_shrunk :] = True
        woe, iv, smoothed = _woe(
            good_arr.astype(float),
            bad_arr.astype(float),
            params["smoothing"],
            params["woe_prior"],
            shrunk,
        )
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
            trend=trend,
            specials=np.empty(0) if specials is None else specials,
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
        return binned(self.bins_, X, codes)

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

    def woe_tables(
        self, bins: np.ndarray, features: Iterable[str], target: Any, rows: np.ndarray
    ) -> list[np.ndarray]:
        """The WOE of every bin, computed from ``rows`` only (the fitted bins kept).

        ``bins`` is a :meth:`bin_matrix` of ``features``; the counts of the given rows
        go through the same rules as at fit (smoothing, the prior of the missing and
        special bins). Cross-validation uses this so that a fold's validation rows do not
        leak into the WOE values it is scored with.
        """
        check_is_fitted(self, "bins_")
        params = self._check_params()
        target = np.asarray(target)[rows]
        tables = []
        for j, code in enumerate(features):
            fb = self.bins_[code]
            index = bins[rows, j]
            counts = np.bincount(index, minlength=fb.n_bins).astype(float)
            bads = np.bincount(index, weights=target, minlength=fb.n_bins)
            shrunk = np.zeros(fb.n_bins, dtype=bool)
            shrunk[fb.missing_bin] = True
            if fb.special_bin >= 0:
                shrunk[fb.special_bin] = True
            woe, _, _ = _woe(counts - bads, bads, params["smoothing"], params["woe_prior"], shrunk)
            tables.append(woe)
        return tables

    def export_bins(self) -> dict[str, dict[str, Any]]:
        """A JSON-ready description of every feature's bins (for the model card)."""
        check_is_fitted(self, "bins_")
        return {code: self.bins_[code].to_dict() for code in self.features_}


def _member_key(member: str) -> tuple[int, str]:
    return (1 if member == OTHER_LABEL else 0, member)


def _choose_trend(
    problem: Problem, counts: np.ndarray, bads: np.ndarray, trend_pvalue: float
) -> Partition | None:
    """The binning of a feature whose trend comes from the data.

    The better (by IV) of the best increasing and decreasing binnings, unless the better
    of the best peak and valley binnings turns and a likelihood-ratio test at level
    ``trend_pvalue`` prefers it (degrees of freedom: the extra bins, at least 1).
    """
    monotone = _best_of(problem.solve("increasing"), problem.solve("decreasing"))
    turning = _best_of(problem.solve("peak"), problem.solve("valley"))
    if turning is None or is_monotone(counts, bads, turning.starts):
        return monotone
    if monotone is None:
        return turning
    statistic = 2.0 * (
        log_likelihood(counts, bads, turning.starts) - log_likelihood(counts, bads, monotone.starts)
    )
    df = max(1, turning.n_bins - monotone.n_bins)
    return turning if statistic > _chi2_threshold(trend_pvalue, df) else monotone


def _best_of(first: Partition | None, second: Partition | None) -> Partition | None:
    """The partition of higher IV (the first on ties)."""
    if first is None:
        return second
    if second is None:
        return first
    return second if second.iv > first.iv + 1e-12 else first
