"""A pruned decision tree with leaf PDs, scores and per-feature contributions.

Encoding (fitted on the training data):

* numeric features: missing values are replaced by the training median, and a 0/1
  ``<code>__missing`` column is added for every feature that had missing values in
  training (a feature without missing values in training gets the median only);
* categorical features: ordinal codes by training bad rate (rank 0 = lowest bad rate).
  Categories holding less than ``min_category_share`` of the rows are pooled into an
  "(other)" group, missing values form a "(missing)" group; both are ranked by their own
  bad rate, or by the portfolio bad rate when they had no training rows. Unseen
  categories are coded as "(other)". A split "code <= t" thus separates the safer
  categories from the riskier ones.

Pruning: minimal cost-complexity pruning, ``ccp_alpha`` chosen by stratified k-fold
cross-validation over (up to ``n_alphas``) alphas from the training tree's pruning path
(the geometric means of consecutive breakpoints, so each names one subtree).
Each fold grows one tree and prunes it for every candidate alpha (the optimal subtree
for alpha, found bottom-up), so the search costs k tree fits. The alpha with the least
mean validation log-loss is chosen by default (``cv_metric="log_loss"``: PDs must be
calibrated, not only ranked); ``cv_metric="roc_auc"`` maximises mean AUC instead. Ties go
to the larger alpha (the smaller tree).

PD: the bad share of the customer's leaf, smoothed toward the portfolio bad rate,
``(bads + m * p0) / (n + m)`` with ``m = pd_smoothing`` (0: the raw share).

Contributions (Saabas): every node gets the same smoothed PD; along a customer's path
each split's change of PD (child minus parent) is attributed to the split's feature (a
``__missing`` indicator counts for its feature). ``bias`` (the root's PD) plus the
contributions equals the leaf PD exactly; positive contributions are riskier.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.validation import check_is_fitted

from custrisk.errors import DataError
from custrisk.estimators._logistic import platt
from custrisk.estimators._pruning import n_leaves, prune_map, pruning_alphas
from custrisk.estimators._validation import (
    check_choice,
    check_columns,
    check_float,
    check_frame,
    check_int,
    check_target,
    list_some,
    param_error,
)
from custrisk.estimators.features import (
    FeatureSpec,
    category_text,
    is_missing,
    numeric_values,
    resolve_specs,
)
from custrisk.estimators.scaling import Scaling
from custrisk.estimators.scored import ScoredTable

logger = logging.getLogger(__name__)

__all__ = ["CONTRIBUTION_REASON_COLUMNS", "TreeModel"]

CV_METRICS = ("log_loss", "roc_auc")
CALIBRATION = ("auto", "platt", "isotonic", "none")
OTHER = "(other)"
MISSING = "(missing)"
MISSING_SUFFIX = "__missing"
CONTRIBUTION_REASON_COLUMNS = (
    "row",
    "rank",
    "code",
    "label_zh",
    "label_en",
    "value",
    "contribution",
)
_EPS = 1e-15


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, _EPS, 1.0 - _EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from custrisk.estimators.metrics import auc

    return auc(y, p)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1.0 - 1e-9)
    return np.log(p / (1.0 - p))


def _fit_calibrator(method: str, pd_bad: np.ndarray, target: np.ndarray) -> dict[str, Any]:
    """A monotone map of PDs, as plain numbers: Platt's a, b or isotonic breakpoints."""
    if method == "platt":
        a, b = platt(target.astype(float), _logit(pd_bad))
        return {"a": a, "b": b}
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    iso.fit(pd_bad, target.astype(float))
    return {
        "x": [float(v) for v in iso.X_thresholds_],
        "y": [float(v) for v in iso.y_thresholds_],
    }


def _apply_calibrator(mapping: dict[str, Any], pd_bad: np.ndarray) -> np.ndarray:
    if "a" in mapping:
        z = mapping["a"] + mapping["b"] * _logit(pd_bad)
        return 1.0 / (1.0 + np.exp(-z))
    return np.interp(pd_bad, mapping["x"], mapping["y"])


class TreeModel(ClassifierMixin, BaseEstimator):
    """Decision tree PD model with cross-validated cost-complexity pruning.

    Parameters
    ----------
    specs : mapping of str to FeatureSpec, optional
        Kind, risk direction and labels per feature (defaults from dtypes).
    max_depth : int or None, default 6
        Deepest split level.
    min_samples_leaf : int or float, default 0.01
        Least rows in a leaf: a count (int >= 1) or a share of the rows (float in
        (0, 0.5)), so that the same setting suits 1,000 rows and 1,000,000.
    ccp_alpha : float or None, default None
        Pruning strength; None chooses it by cross-validation.
    cv : int, default 5
        Folds of the stratified cross-validation that chooses ``ccp_alpha``.
    n_alphas : int, default 20
        Most candidate alphas taken from the pruning path.
    min_leaves : int, default 4
        Candidate alphas that would prune the tree to fewer leaves are left out (the
        bounded grid), so that noisy folds on small data cannot choose a near-empty tree.
    cv_metric : {"log_loss", "roc_auc"}, default "log_loss"
        Minimise mean validation log-loss, or maximise mean AUC.
    monotonic : bool, default True
        Constrain numeric features to their risk direction (``FeatureSpec.trend``).
    min_category_share : float, default 0.01
        Categories rarer than this share are pooled into "(other)".
    pd_smoothing : float, default 1.0
        Weight ``m`` of the portfolio bad rate in leaf PDs ``(bads + m p0) / (n + m)``.
    scaling : Scaling, str or dict, default "default"
        Score scaling (scores are rounded to integers).
    random_state : int, default 0
        Seed of the tree's tie-breaking and of the CV folds.
    n_quantiles : int or None, default 256
        A numeric feature with more distinct values is rounded down to the nearest of
        its ``n_quantiles`` training quantiles (at fit and at prediction alike), which
        makes fitting about three times faster; None keeps exact values.
    calibration : {"auto", "platt", "isotonic", "none"}, default "auto"
        A monotone map of the leaf PDs fitted on the out-of-fold PDs of the pruning
        search: Platt scaling (logistic on the log-odds) or isotonic regression. "auto"
        takes the one with the lower k-fold Brier score when it beats no calibration.

    Attributes
    ----------
    features_ : list of str
        The input features, in column order.
    specs_ : dict of str to FeatureSpec
    encoded_features_ : list of str
        Columns the tree sees (features plus ``__missing`` indicators).
    encoded_source_ : list of str
        The feature each encoded column belongs to.
    medians_ : dict of str to float
        Imputation value of each numeric feature.
    grids_ : dict of str to ndarray
        Quantile values a numeric feature is rounded down to (empty: exact values).
    missing_indicators_ : dict of str to bool
        Whether a feature has a ``__missing`` indicator column.
    category_codes_ : dict of str to dict of str to int
        Ordinal code of each category (plus "(other)" and "(missing)") per feature.
    tree_model_ : DecisionTreeClassifier
        The fitted, pruned tree.
    ccp_alpha_ : float
        The pruning strength used.
    cv_results_ : dict
        ``alphas``, ``leaves``, ``mean``, ``std`` of the CV metric per candidate alpha,
        ``metric``.
    calibration_ : dict
        ``method``, the k-fold Brier score of each method (``cv_brier``) and the map
        (Platt's ``a`` and ``b``, or isotonic breakpoints ``x`` and ``y``).
    node_pd_ : ndarray
        Smoothed (and calibrated) PD of every node (leaf PDs are the predictions).
    bias_ : float
        PD of the root node (the base of the contributions).
    bad_rate_ : float
    scaling_ : Scaling
    classes_ : ndarray, [0, 1]
    """

    def __init__(
        self,
        *,
        specs: Mapping[str, FeatureSpec] | None = None,
        max_depth: int | None = 6,
        min_samples_leaf: int | float = 0.01,
        ccp_alpha: float | None = None,
        cv: int = 5,
        n_alphas: int = 20,
        cv_metric: str = "log_loss",
        monotonic: bool = True,
        min_category_share: float = 0.01,
        pd_smoothing: float = 1.0,
        scaling: Scaling | str | dict[str, float] = "default",
        random_state: int = 0,
        n_quantiles: int | None = 256,
        min_leaves: int = 4,
        calibration: str = "auto",
    ) -> None:
        self.specs = specs
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.ccp_alpha = ccp_alpha
        self.cv = cv
        self.n_alphas = n_alphas
        self.cv_metric = cv_metric
        self.monotonic = monotonic
        self.min_category_share = min_category_share
        self.pd_smoothing = pd_smoothing
        self.scaling = scaling
        self.random_state = random_state
        self.n_quantiles = n_quantiles
        self.min_leaves = min_leaves
        self.calibration = calibration

    # -- parameters ------------------------------------------------------------------

    def _check_params(self) -> Scaling:
        if self.max_depth is not None:
            check_int(self, "max_depth", self.max_depth, low=1)
        leaf = self.min_samples_leaf
        if isinstance(leaf, bool) or not (
            (isinstance(leaf, int | np.integer) and leaf >= 1)
            or (isinstance(leaf, float) and 0.0 < leaf < 0.5)
        ):
            raise param_error(
                self, "min_samples_leaf", "an int >= 1 or a float in the range (0, 0.5)", leaf
            )
        if self.ccp_alpha is not None:
            check_float(self, "ccp_alpha", self.ccp_alpha, low=0.0)
        check_int(self, "cv", self.cv, low=2)
        check_int(self, "n_alphas", self.n_alphas, low=1)
        check_int(self, "min_leaves", self.min_leaves, low=1)
        check_choice(self, "calibration", self.calibration, CALIBRATION)
        check_choice(self, "cv_metric", self.cv_metric, CV_METRICS)
        if not isinstance(self.monotonic, bool):
            raise param_error(self, "monotonic", "a bool", self.monotonic)
        check_float(self, "min_category_share", self.min_category_share, low=0.0, high=0.5)
        check_float(self, "pd_smoothing", self.pd_smoothing, low=0.0)
        check_int(self, "random_state", self.random_state, low=0)
        if self.n_quantiles is not None:
            check_int(self, "n_quantiles", self.n_quantiles, low=2)
        if self.specs is not None and not isinstance(self.specs, Mapping):
            raise param_error(self, "specs", "a mapping of code to FeatureSpec or None", self.specs)
        return Scaling.resolve(self.scaling)

    # -- encoding --------------------------------------------------------------------

    def _fit_encoding(self, X: pd.DataFrame, target: np.ndarray) -> None:
        n = X.shape[0]
        p0 = float(target.mean())
        medians: dict[str, float] = {}
        grids: dict[str, np.ndarray] = {}
        codes: dict[str, dict[str, int]] = {}
        encoded: list[str] = []
        source: list[str] = []
        indicators: dict[str, bool] = {}
        for code, spec in self.specs_.items():
            if spec.kind == "numeric":
                values = numeric_values(X[code])
                missing = np.isnan(values)
                present_values = values[~missing]
                medians[code] = float(np.median(present_values)) if present_values.size else 0.0
                grids[code] = np.empty(0)
                if self.n_quantiles is not None and present_values.size:
                    if np.unique(present_values).size > self.n_quantiles:
                        probs = np.linspace(0.0, 1.0, self.n_quantiles + 1)[:-1]
                        grids[code] = np.unique(
                            np.quantile(present_values, probs, method="inverted_cdf")
                        )
                encoded.append(code)
                source.append(code)
                indicators[code] = bool(missing.any())
                if indicators[code]:
                    encoded.append(code + MISSING_SUFFIX)
                    source.append(code)
                continue
            factor_codes, uniques = pd.factorize(X[code], use_na_sentinel=True)
            texts = [category_text(u) for u in uniques]
            present = factor_codes >= 0
            counts = np.bincount(factor_codes[present], minlength=len(texts))
            bads = np.bincount(factor_codes[present], weights=target[present], minlength=len(texts))
            n_of: dict[str, float] = {}
            b_of: dict[str, float] = {}
            for text, c, b in zip(texts, counts.tolist(), bads.tolist(), strict=True):
                n_of[text] = n_of.get(text, 0.0) + c
                b_of[text] = b_of.get(text, 0.0) + b
            min_count = self.min_category_share * n
            rare = [t for t, c in n_of.items() if c < min_count]
            groups = {t: (n_of[t], b_of[t]) for t in n_of if t not in rare}
            groups[OTHER] = (sum(n_of[t] for t in rare), sum(b_of[t] for t in rare))
            groups[MISSING] = (float((~present).sum()), float(target[~present].sum()))
            rate = {g: (b / c if c else p0) for g, (c, b) in groups.items()}
            ranked = sorted(groups, key=lambda g: (rate[g], g))
            rank = {g: i for i, g in enumerate(ranked)}
            mapping = {t: rank[t] for t in groups if t not in (OTHER, MISSING)}
            mapping.update(dict.fromkeys(rare, rank[OTHER]))
            mapping[OTHER] = rank[OTHER]
            mapping[MISSING] = rank[MISSING]
            codes[code] = mapping
            encoded.append(code)
            source.append(code)
            indicators[code] = False
        self.medians_ = medians
        self.grids_ = grids
        self.category_codes_ = codes
        self.encoded_features_ = encoded
        self.encoded_source_ = source
        self.missing_indicators_ = indicators

    def encode(self, X: pd.DataFrame) -> np.ndarray:
        """The float64 matrix the tree sees (columns ``encoded_features_``)."""
        check_is_fitted(self, "tree_model_")
        return self._encode(X)

    def _encode(self, X: pd.DataFrame, *, for_tree: bool = False) -> np.ndarray:
        """The encoded matrix: float64, or with ``for_tree`` a float32 matrix the tree
        routes exactly as the float32 copy of the float64 one, column-major so that each
        column is written in one contiguous pass. For the tree, a column snapped to a
        quantile grid is not snapped (a binary search per value) but replaced by a value
        that sits on the same side of each of the tree's thresholds on that column
        (:meth:`_split_values`)."""
        X = check_frame(X)
        check_columns(X, self.features_)
        out = np.empty(
            (X.shape[0], len(self.encoded_features_)),
            dtype=np.float32 if for_tree else np.float64,
            order="F" if for_tree else "C",
        )
        j = 0
        for code, spec in self.specs_.items():
            if spec.kind == "numeric":
                values = numeric_values(X[code])
                missing = np.isnan(values)
                values[missing] = self.medians_[code]
                grid = self.grids_[code]
                if grid.size and for_tree:
                    bounds, shown = self._split_values()[j]
                    above = np.maximum(values, grid[0])  # below the grid: its first point
                    count = np.zeros(values.shape, dtype=np.int16)
                    for bound in bounds.tolist():
                        count += above >= bound
                    values = shown[count]
                elif grid.size:
                    values = grid[np.maximum(np.searchsorted(grid, values, side="right") - 1, 0)]
                out[:, j] = values
                j += 1
                if self.missing_indicators_[code]:
                    out[:, j] = missing
                    j += 1
                continue
            mapping = self.category_codes_[code]
            factor_codes, uniques = pd.factorize(X[code], use_na_sentinel=True)
            lookup = np.fromiter(
                (mapping.get(category_text(u), mapping[OTHER]) for u in uniques),
                dtype=np.float64,
                count=len(uniques),
            )
            lookup = np.append(lookup, mapping[MISSING])
            out[:, j] = lookup[factor_codes]
            j += 1
        return out

    def _split_values(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Per grid-snapped encoded column: the bounds and values that route a value as
        its snapped value would.

        A value ``v`` snaps to ``s(v)``, the largest grid point at or below it (the first
        point below the grid); the tree compares ``float32(s(v)) <= t``. With ``u(t)`` the
        least grid point whose float32 exceeds ``t``, ``float32(s(v)) > t`` exactly when
        ``max(v, grid[0]) >= u(t)``. Counting the bounds ``u(t)`` of the column's sorted
        thresholds that a value reaches gives ``c``, and ``float32(u(t_c))`` (the first
        grid point for ``c = 0``) lies on the same side of every threshold as
        ``float32(s(v))``.
        """
        cached = self.__dict__.get("_splits")
        if cached is not None:
            return cached
        tree = self.tree_model_.tree_
        internal = tree.children_left != -1
        cached = {}
        for j, (column, source) in enumerate(
            zip(self.encoded_features_, self.encoded_source_, strict=True)
        ):
            grid = self.grids_.get(source, np.empty(0))
            if column != source or not grid.size:
                continue
            thresholds = np.unique(tree.threshold[internal & (tree.feature == j)])
            points = grid.astype(np.float32).astype(np.float64)
            first = np.searchsorted(points, thresholds, side="right")
            reached = first < grid.size  # no grid point above t: never (NaN compares false)
            bounds = np.where(reached, grid[np.minimum(first, grid.size - 1)], np.nan)
            # c = 0: the grid's first point (at or below every threshold whenever a value
            # can reach no bound); unreached bounds are never counted (any finite value)
            shown = np.concatenate([points[:1], points[np.minimum(first, grid.size - 1)]])
            cached[j] = (bounds, shown.astype(np.float32))
        self.__dict__["_splits"] = cached
        return cached

    def _grid_lists(self) -> dict[str, list[float]]:
        cached = self.__dict__.get("_grid_cache")
        if cached is None:
            cached = {code: grid.tolist() for code, grid in self.grids_.items()}
            self.__dict__["_grid_cache"] = cached
        return cached

    def _encode_one(self, values: Mapping[str, Any]) -> list[float]:
        row: list[float] = []
        grids = self._grid_lists()
        for code, spec in self.specs_.items():
            value = values[code]
            if spec.kind == "numeric":
                missing = is_missing(value)
                if not missing:
                    try:
                        number = float(value)
                    except (TypeError, ValueError):
                        raise DataError(
                            f"the numeric feature got {value!r}, which is not a number",
                            column=code,
                        ) from None
                    missing = math.isnan(number)
                number = self.medians_[code] if missing else number
                grid = grids[code]
                if grid:
                    number = grid[max(bisect.bisect_right(grid, number) - 1, 0)]
                row.append(number)
                if self.missing_indicators_[code]:
                    row.append(1.0 if missing else 0.0)
                continue
            mapping = self.category_codes_[code]
            if is_missing(value):
                row.append(float(mapping[MISSING]))
            else:
                row.append(float(mapping.get(category_text(value), mapping[OTHER])))
        # the tree compares float32 values, as scikit-learn does
        return [float(v) for v in np.asarray(row, dtype=np.float32)]

    # -- fitting ---------------------------------------------------------------------

    def _tree(self, alpha: float = 0.0) -> DecisionTreeClassifier:
        monotonic = None
        if self.monotonic:
            trend = {"increasing": 1, "decreasing": -1}
            cst = [
                trend.get(self.specs_[src].trend or "", 0)
                if column == src and self.specs_[src].kind == "numeric"
                else 0
                for column, src in zip(self.encoded_features_, self.encoded_source_, strict=True)
            ]
            if any(cst):
                monotonic = cst
        return DecisionTreeClassifier(
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            ccp_alpha=alpha,
            monotonic_cst=monotonic,
            random_state=self.random_state,
        )

    def fit(self, X: pd.DataFrame, y: Any) -> TreeModel:
        """Encode the features, choose the pruning strength by CV, fit the pruned tree.

        Parameters
        ----------
        X : pandas.DataFrame
            Features (numeric and categorical columns; missing values allowed).
        y : array-like of 0/1
            The bad flag (1 = bad).

        Returns
        -------
        TreeModel
            The fitted model.
        """
        scaling = self._check_params()
        X = check_frame(X)
        target = check_target(y, X.shape[0])
        self.specs_ = resolve_specs(X, self.specs)
        self.features_ = list(self.specs_)
        self._fit_encoding(X, target)
        encoded = self._encode(X)
        self.bad_rate_ = float(target.mean())
        if self.ccp_alpha is None:
            alpha, results, out_of_fold = self._choose_alpha(encoded, target)
            calibration = self._choose_calibration(out_of_fold, target)
        else:
            alpha, results = float(self.ccp_alpha), {}
            calibration = {"method": "none", "note": "fixed ccp_alpha: no cross-validation"}
        self.calibration_ = calibration
        tree = self._tree(alpha).fit(encoded, target)
        self.tree_model_ = tree
        self.ccp_alpha_ = alpha
        self.cv_results_ = results
        self.scaling_ = scaling
        self._set_nodes()
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.asarray(self.features_, dtype=object)
        self.n_features_in_ = len(self.features_)
        for cache in ("_compiled", "_grid_cache", "_plans", "_splits"):
            self.__dict__.pop(cache, None)
        logger.info(
            "tree: ccp_alpha %.3g, %d leaves, depth %d",
            alpha,
            tree.get_n_leaves(),
            tree.get_depth(),
        )
        return self

    def _smoothed(self, n: np.ndarray, bads: np.ndarray, p0: float) -> np.ndarray:
        m = float(self.pd_smoothing)
        with np.errstate(invalid="ignore", divide="ignore"):
            result = (bads + m * p0) / (n + m)
        return np.where(n + m > 0, result, p0)

    def _choose_alpha(
        self, encoded: np.ndarray, target: np.ndarray
    ) -> tuple[float, dict[str, Any], np.ndarray]:
        """The pruning strength, its CV record, and the out-of-fold PDs at that strength."""
        full = self._tree().fit(encoded, target).tree_
        full_cost = full.impurity * full.weighted_n_node_samples / full.weighted_n_node_samples[0]
        alphas = pruning_alphas(full.children_left, full.children_right, full_cost)
        # candidates inside the intervals between breakpoints (geometric means, as CART
        # does), so that float rounding cannot flip a prune at a breakpoint
        breaks = np.unique(alphas)
        alphas = np.append(np.sqrt(breaks[:-1] * breaks[1:]), 2.0 * breaks[-1])
        # bounded grid: no candidate prunes the tree below min_leaves leaves
        leaves = np.array(
            [n_leaves(full.children_left, full.children_right, full_cost, a) for a in alphas]
        )
        floor = min(self.min_leaves, int(leaves.max()))
        alphas, leaves = alphas[leaves >= floor], leaves[leaves >= floor]
        if alphas.size > self.n_alphas:
            picks = np.unique(np.round(np.linspace(0, alphas.size - 1, self.n_alphas)))
            alphas, leaves = alphas[picks.astype(int)], leaves[picks.astype(int)]
        folds = StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)
        scores = []
        out_of_fold = np.empty((alphas.size, target.size))
        for train, valid in folds.split(encoded, target):
            fold_scores, fold_pd = self._fold_scores(encoded, target, train, valid, alphas)
            scores.append(fold_scores)
            out_of_fold[:, valid] = fold_pd
        table = np.vstack(scores)
        mean = table.mean(axis=0)
        std = table.std(axis=0)
        if self.cv_metric == "log_loss":
            best_value = mean.min()
            candidates = np.flatnonzero(mean <= best_value + 1e-12)
        else:
            best_value = mean.max()
            candidates = np.flatnonzero(mean >= best_value - 1e-12)
        best = int(candidates.max())  # ties: the larger alpha, the smaller tree
        results = {
            "metric": self.cv_metric,
            "alphas": [float(a) for a in alphas],
            "leaves": [int(v) for v in leaves],
            "mean": [float(v) for v in mean],
            "std": [float(v) for v in std],
            "best_alpha": float(alphas[best]),
            "min_leaves": int(self.min_leaves),
        }
        logger.debug(
            "ccp_alpha chosen %.4g (mean %s %.5f)", alphas[best], self.cv_metric, mean[best]
        )
        return float(alphas[best]), results, out_of_fold[best]

    def _fold_scores(
        self,
        encoded: np.ndarray,
        target: np.ndarray,
        train: np.ndarray,
        valid: np.ndarray,
        alphas: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Validation metric and PDs of the fold's tree pruned at every alpha."""
        tree = self._tree().fit(encoded[train], target[train]).tree_
        n_node = tree.weighted_n_node_samples
        bads = np.rint(tree.value[:, 0, 1] * n_node)
        node_pd = self._smoothed(n_node, bads, float(target[train].mean()))
        cost = tree.impurity * n_node / n_node[0]
        leaves = tree.apply(encoded[valid].astype(np.float32))
        out = np.empty(alphas.size)
        pds = np.empty((alphas.size, valid.size))
        for a, alpha in enumerate(alphas):
            leaf_of = prune_map(tree.children_left, tree.children_right, cost, alpha)
            pd_valid = node_pd[leaf_of[leaves]]
            pds[a] = pd_valid
            if self.cv_metric == "log_loss":
                out[a] = _log_loss(target[valid], pd_valid)
            else:
                out[a] = _auc(target[valid], pd_valid)
        return out, pds

    def _choose_calibration(self, out_of_fold: np.ndarray, target: np.ndarray) -> dict[str, Any]:
        """Platt or isotonic calibration of the PDs, when asked for or when it helps.

        Each method is fitted on the out-of-fold PDs of the pruning search and judged by
        its own k-fold Brier score on them; "auto" takes the best one when it beats the
        uncalibrated Brier score.
        """
        if self.calibration == "none" or out_of_fold.size == 0:
            return {"method": "none"}
        folds = StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)
        splits = list(folds.split(out_of_fold, target))
        brier = {"none": float(np.mean((out_of_fold - target) ** 2))}
        for method in ("platt", "isotonic"):
            predicted = np.empty(target.size)
            for train, valid in splits:
                mapping = _fit_calibrator(method, out_of_fold[train], target[train])
                predicted[valid] = _apply_calibrator(mapping, out_of_fold[valid])
            brier[method] = float(np.mean((predicted - target) ** 2))
        if self.calibration == "auto":
            method = min(brier, key=lambda m: (brier[m], m != "none"))
        else:
            method = self.calibration
        record: dict[str, Any] = {"method": method, "cv_brier": brier}
        if method != "none":
            record.update(_fit_calibrator(method, out_of_fold, target))
        return record

    def _set_nodes(self) -> None:
        tree = self.tree_model_.tree_
        n_node = tree.weighted_n_node_samples.astype(float)
        bads = np.rint(tree.value[:, 0, 1] * n_node)
        self.node_count_ = n_node.astype(np.int64)
        self.node_bads_ = bads.astype(np.int64)
        self.node_pd_ = self._smoothed(n_node, bads, self.bad_rate_)
        if self.calibration_["method"] != "none":
            self.node_pd_ = _apply_calibrator(self.calibration_, self.node_pd_)
        self.bias_ = float(self.node_pd_[0])
        left, right = tree.children_left, tree.children_right
        parent = np.full(tree.node_count, -1, dtype=np.int64)
        for node in range(tree.node_count):
            if left[node] != -1:
                parent[left[node]] = node
                parent[right[node]] = node
        self.node_parent_ = parent
        source_index = {code: i for i, code in enumerate(self.features_)}
        delta = np.zeros((tree.node_count, len(self.features_)))
        for node in range(1, tree.node_count):
            up = parent[node]
            feature = self.encoded_source_[tree.feature[up]]
            delta[node, source_index[feature]] = self.node_pd_[node] - self.node_pd_[up]
        self._delta = delta

    # -- predicting ------------------------------------------------------------------

    def _leaves(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "tree_model_")
        return self.tree_model_.apply(self._encode(X, for_tree=True))

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of bad per row: the smoothed PD of the row's leaf."""
        leaves = self._leaves(X)  # first: NotFittedError before any fitted attribute
        return self.node_pd_[leaves]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities ``[P(good), P(bad)]`` per row."""
        pd_bad = self.predict_pd(X)
        return np.column_stack([1.0 - pd_bad, pd_bad])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 (bad) where PD >= 0.5, else 0."""
        return (self.predict_pd(X) >= 0.5).astype(np.int64)

    def predict_score(self, X: pd.DataFrame) -> np.ndarray:
        """Integer score per row from the leaf PD through the scaling."""
        return np.round(self.scaling_.score_from_pd(self.predict_pd(X))).astype(np.int64)

    def _node_contributions(self) -> np.ndarray:
        """Saabas contributions of the path to every node, ``(n_nodes, n_features)``.

        A row's contributions depend only on its leaf: node ``k`` holds its parent's
        row plus its own change of PD, summed root first (the order in which the
        decision path adds them up).
        """
        delta = self._delta
        cumulative = np.zeros_like(delta)
        for node in range(1, delta.shape[0]):  # a parent's id is below its children's
            cumulative[node] = cumulative[self.node_parent_[node]] + delta[node]
        return cumulative

    def _leaf_plan(self, top: int) -> dict[str, np.ndarray]:
        """Score and top reasons of every node, for :meth:`score_table` (cached)."""
        plans = self.__dict__.setdefault("_plans", {})
        plan = plans.get(top)
        if plan is not None:
            return plan
        contrib = self._node_contributions()
        n_nodes, m = contrib.shape
        # stable sort on -contribution: ties keep the feature order
        order = np.argsort(-contrib, axis=1, kind="stable")[:, :top]
        values = np.take_along_axis(contrib, order, axis=1)
        positive = values > 0
        feature = np.full((n_nodes, top), -1, dtype=np.int64)
        impact = np.full((n_nodes, top), np.nan)
        feature[:, : order.shape[1]] = np.where(positive, order, -1)
        impact[:, : order.shape[1]] = np.where(positive, values, np.nan)
        plan = {
            "contributions": contrib,
            "score": np.round(self.scaling_.score_from_pd(self.node_pd_)).astype(np.int64),
            "feature": feature,
            "impact": impact,
        }
        plans[top] = plan
        return plan

    def score_table(self, X: pd.DataFrame, top: int = 3) -> ScoredTable:
        """PD, score and the top reasons of every row from one pass down the tree.

        Every row is encoded and routed once; its PD, score and reasons (the features
        with the largest positive Saabas contributions, ties in feature order) are those
        of its leaf, computed once per leaf and looked up per row.
        """
        top = check_int(self, "top", top, low=1)
        leaves = self._leaves(X)
        plan = self._leaf_plan(top)
        return ScoredTable(
            index=X.index,
            pd=self.node_pd_[leaves],
            score=plan["score"][leaves],
            features=tuple(self.features_),
            labels_zh=tuple(self.specs_[c].label_zh for c in self.features_),
            labels_en=tuple(self.specs_[c].label_en for c in self.features_),
            kinds=tuple(self.specs_[c].kind for c in self.features_),
            reason_feature=plan["feature"][leaves],
            reason_impact=plan["impact"][leaves],
            impact="contribution",
            frame=X,
            category_values="text",
        )

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Saabas contributions to PD per row and feature (positive = riskier).

        ``bias_ + contributions.sum(axis=1)`` equals :meth:`predict_pd` (up to float
        rounding).
        """
        leaves = self._leaves(X)
        values = self._leaf_plan(1)["contributions"][leaves]
        return pd.DataFrame(values, columns=list(self.features_), index=X.index)

    def reasons(self, X: pd.DataFrame, top: int = 3) -> pd.DataFrame:
        """The top reasons per row: the features with the largest positive contributions.

        Returns
        -------
        pandas.DataFrame
            Long format: row (``X``'s index label), rank, code, label_zh, label_en,
            value (raw; None if missing), contribution. Ties keep the feature order;
            rows with no positive contribution have no reasons.
        """
        table = self.score_table(X, top=top)
        rows, ranks, cols = table.reason_positions()
        codes = np.asarray(self.features_, dtype=object)[cols]
        return pd.DataFrame(
            {
                "row": X.index.to_numpy()[rows],
                "rank": ranks.astype(np.int64) + 1,
                "code": codes,
                "label_zh": [self.specs_[c].label_zh for c in codes],
                "label_en": [self.specs_[c].label_en for c in codes],
                "value": pd.Series(table.long_values(rows, cols), dtype=object),
                "contribution": table.reason_impact[rows, ranks],
            },
            columns=list(CONTRIBUTION_REASON_COLUMNS),
        )

    # -- single customer -------------------------------------------------------------

    def _compiled_tree(self) -> tuple[list[int], list[int], list[int], list[float], list[float]]:
        compiled = self.__dict__.get("_compiled")
        if compiled is None:
            tree = self.tree_model_.tree_
            compiled = (
                tree.children_left.tolist(),
                tree.children_right.tolist(),
                tree.feature.tolist(),
                tree.threshold.tolist(),
                self.node_pd_.tolist(),
            )
            self.__dict__["_compiled"] = compiled
        return compiled

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        for cache in ("_compiled", "_grid_cache", "_plans", "_splits"):
            state.pop(cache, None)
        return state

    def score_one(self, values: Mapping[str, Any], top: int = 3) -> dict[str, Any]:
        """Score one customer from a dict of raw feature values, without pandas.

        Returns
        -------
        dict
            ``pd`` (float), ``score`` (int), ``reasons`` (list of dicts with code,
            label_zh, label_en, value, contribution), as the batch methods give.
        """
        check_is_fitted(self, "tree_model_")
        absent = [code for code in self.features_ if code not in values]
        if absent:
            raise DataError(
                f"values lacks {len(absent)} feature(s) the model uses: {list_some(absent)}",
                hint="pass None for a missing value",
            )
        row = self._encode_one(values)
        left, right, feature, threshold, node_pd = self._compiled_tree()
        source = self.encoded_source_
        contrib: dict[str, float] = {}
        node = 0
        while left[node] != -1:
            f = feature[node]
            child = left[node] if row[f] <= threshold[node] else right[node]
            code = source[f]
            contrib[code] = contrib.get(code, 0.0) + (node_pd[child] - node_pd[node])
            node = child
        position = {code: i for i, code in enumerate(self.features_)}
        ranked = sorted(
            ((c, v) for c, v in contrib.items() if v > 0), key=lambda cv: (-cv[1], position[cv[0]])
        )
        reasons = []
        for code, value in ranked[:top]:
            spec = self.specs_[code]
            raw = values[code]
            if is_missing(raw):
                shown: Any = None
            elif spec.kind == "numeric":
                shown = float(raw)
            else:
                shown = category_text(raw)
            reasons.append(
                {
                    "code": code,
                    "label_zh": spec.label_zh,
                    "label_en": spec.label_en,
                    "value": shown,
                    "contribution": value,
                }
            )
        pd_bad = node_pd[node]
        score = int(np.round(self.scaling_.score_from_pd(pd_bad)))
        return {"pd": pd_bad, "score": score, "reasons": reasons}

    # -- export ----------------------------------------------------------------------

    def tree_structure(self) -> list[dict[str, Any]]:
        """Every node as a JSON-ready dict (for the model card).

        Keys: id, depth, count, bads, pd, leaf, and for splits: feature (the input
        feature), column (the encoded column), threshold (on the encoded value: left
        when ``value <= threshold``), left, right, left_when (the rule in raw terms, e.g.
        ``"bureau_score < 612"``, ``"region in {华东, 华南}"``); for a split on a
        categorical feature also ``categories_left`` (the categories sent left).
        """
        check_is_fitted(self, "tree_model_")
        tree = self.tree_model_.tree_
        depth = np.zeros(tree.node_count, dtype=int)
        nodes: list[dict[str, Any]] = []
        for node in range(tree.node_count):
            if self.node_parent_[node] >= 0:
                depth[node] = depth[self.node_parent_[node]] + 1
            item: dict[str, Any] = {
                "id": node,
                "depth": int(depth[node]),
                "count": int(self.node_count_[node]),
                "bads": int(self.node_bads_[node]),
                "pd": float(self.node_pd_[node]),
                "leaf": bool(tree.children_left[node] == -1),
            }
            if not item["leaf"]:
                column = self.encoded_features_[tree.feature[node]]
                source = self.encoded_source_[tree.feature[node]]
                item.update(
                    {
                        "feature": source,
                        "column": column,
                        "threshold": float(tree.threshold[node]),
                        "left": int(tree.children_left[node]),
                        "right": int(tree.children_right[node]),
                    }
                )
                item["left_when"] = self._left_condition(source, column, tree.threshold[node])
                if source in self.category_codes_:
                    item["categories_left"] = sorted(
                        c
                        for c, k in self.category_codes_[source].items()
                        if k <= tree.threshold[node]
                    )
            nodes.append(item)
        return nodes

    def _left_condition(self, source: str, column: str, threshold: float) -> str:
        if column != source:
            return f"{source} is not missing"
        if source in self.category_codes_:
            left = sorted(
                c
                for c, k in self.category_codes_[source].items()
                if k <= threshold and c not in (OTHER, MISSING)
            )
            extras = [g for g in (OTHER, MISSING) if self.category_codes_[source][g] <= threshold]
            return f"{source} in {{{', '.join(left + extras)}}}"
        grid = self.grids_[source]
        above = grid[grid > threshold]
        if grid.size and above.size:
            return f"{source} < {above[0]:.10g}"
        return f"{source} <= {threshold:.10g}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary for the model card: encoding, pruning, tree."""
        check_is_fitted(self, "tree_model_")
        return {
            "algorithm": "decision_tree",
            "features": list(self.features_),
            "encoded_features": list(self.encoded_features_),
            "medians": dict(self.medians_),
            "grids": {k: [float(v) for v in g] for k, g in self.grids_.items() if g.size},
            "category_codes": {k: dict(v) for k, v in self.category_codes_.items()},
            "ccp_alpha": self.ccp_alpha_,
            "cv_results": dict(self.cv_results_),
            "calibration": dict(getattr(self, "calibration_", {"method": "none"})),
            "pd_smoothing": float(self.pd_smoothing),
            "bias": self.bias_,
            "scaling": self.scaling_.to_dict(),
            "specs": {c: s.to_dict() for c, s in self.specs_.items()},
            "nodes": self.tree_structure(),
        }
