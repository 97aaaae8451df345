"""A pruned decision tree with leaf PDs, scores and per-feature contributions.

:class:`TreeModel` fits it (encoding, pruning, calibration, node PDs) and exports it for
the model card; what a fitted tree does with rows (encode them, route them to leaves,
PD, score, reasons, one customer) is
:class:`~custrisk.estimators.tree_predictions.TreePredictions`, which it inherits.

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
``(bads + m * p0) / (n + m)`` with ``m = pd_smoothing`` (0: the raw share), then
calibrated; never below ``0.5 / N`` nor above ``1 - 0.5 / N`` (``N`` training rows).

Contributions (Saabas): every node gets the same smoothed PD; along a customer's path
each split's change of PD (child minus parent) is attributed to the split's feature (a
``__missing`` indicator counts for its feature). ``bias`` (the root's PD) plus the
contributions equals the leaf PD exactly; positive contributions are riskier.

Reasons: at each split on the path, the PD of the branch taken minus the PD of the
split's safer (lower-PD) branch, summed per feature; the largest positive sums are the
reasons, so every customer who took a riskier branch somewhere gets reasons.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.validation import check_is_fitted

from custrisk.estimators._logistic import platt
from custrisk.estimators._pruning import n_leaves, prune_map, pruning_alphas
from custrisk.estimators._validation import (
    check_choice,
    check_float,
    check_frame,
    check_int,
    check_target,
    param_error,
)
from custrisk.estimators.features import (
    FeatureSpec,
    category_text,
    numeric_values,
    resolve_specs,
)
from custrisk.estimators.scaling import Scaling
from custrisk.estimators.tree_predictions import MISSING, OTHER, TreePredictions

logger = logging.getLogger(__name__)

__all__ = ["TreeModel"]

CV_METRICS = ("log_loss", "roc_auc")
CALIBRATION = ("auto", "platt", "isotonic", "none")
MISSING_SUFFIX = "__missing"
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


def _pd_bounds(n: float) -> tuple[float, float]:
    """The least and largest PD ``n`` rows can support: ``0.5 / n`` and ``1 - 0.5 / n``.

    A leaf (or an isotonic block) of only goods or only bads would otherwise get a PD
    of exactly 0 or 1, and a score far outside the model's range (-111 or 1085 points)."""
    low = 0.5 / max(float(n), 1.0)
    return low, 1.0 - low


def _fit_calibrator(method: str, pd_bad: np.ndarray, target: np.ndarray) -> dict[str, Any]:
    """A monotone map of PDs, as plain numbers: Platt's a, b or isotonic breakpoints
    (kept within :func:`_pd_bounds` of the calibration rows)."""
    if method == "platt":
        a, b = platt(target.astype(float), _logit(pd_bad))
        return {"a": a, "b": b}
    low, high = _pd_bounds(target.size)
    iso = IsotonicRegression(y_min=low, y_max=high, out_of_bounds="clip")
    iso.fit(pd_bad, target.astype(float))
    return {
        "x": [float(v) for v in iso.X_thresholds_],
        "y": [float(v) for v in iso.y_thresholds_],
    }


def _apply_calibrator(mapping: dict[str, Any], pd_bad: np.ndarray, n: float) -> np.ndarray:
    """The calibrated PDs, within :func:`_pd_bounds` of the ``n`` calibration rows (a
    steep Platt slope on a tiny sample would otherwise round them to 0 or 1)."""
    if "a" in mapping:
        z = mapping["a"] + mapping["b"] * _logit(pd_bad)
        calibrated = expit(z)
    else:
        calibrated = np.interp(pd_bad, mapping["x"], mapping["y"])
    return np.clip(calibrated, *_pd_bounds(n))


class TreeModel(TreePredictions, ClassifierMixin, BaseEstimator):
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
        for cache in ("_compiled", "_contrib", "_grid_cache", "_plans", "_splits"):
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
        result = np.where(n + m > 0, result, p0)
        if m == 0 and n.size:
            # The raw share of a pure leaf is exactly 0 or 1: keep it within the bounds
            # the root's rows support (smoothed PDs are never 0 or 1).
            result = np.clip(result, *_pd_bounds(n[0]))
        return result

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
                predicted[valid] = _apply_calibrator(mapping, out_of_fold[valid], train.size)
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
            self.node_pd_ = _apply_calibrator(self.calibration_, self.node_pd_, n_node[0])
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

    # -- pickling --------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        for cache in ("_compiled", "_contrib", "_grid_cache", "_plans", "_splits"):
            state.pop(cache, None)
        return state

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
