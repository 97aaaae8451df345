"""The WOE logistic scorecard: bins, selection, logistic regression, points, reasons.

Fitting bins every feature (:class:`~custrisk.estimators.binning.WoeBinner`), optionally
selects features (:func:`~custrisk.estimators.selection.select_features`) and fits an L2
logistic regression of the bad flag on the WOE values::

    log(PD / (1 - PD)) = b0 + sum_j b_j * WOE_j

As WOE = ln(good share / bad share) is positive for safer bins, every ``b_j`` should be
negative; features whose coefficient is positive are listed in ``sign_warnings_``.

Points. With the scaling's ``factor`` and ``offset`` (see :mod:`custrisk.estimators.scaling`)
the unrounded score is ``offset + factor * (-b0 - sum_j b_j * WOE_j)``. The points of
bin ``k`` of characteristic ``j`` are::

    points_jk = round(-factor * b_j * WOE_jk + (offset - factor * b0) / m)

with ``m`` the number of characteristics (``intercept_points="distribute"``, the
default), or ``round(-factor * b_j * WOE_jk)`` plus one base-points row of
``round(offset - factor * b0)`` (``intercept_points="base"``). The score of a customer
is *defined* as the sum of the (integer) points of their bins, so ``score == sum of
points`` holds exactly. The PD reported is the model's own, unrounded; the score differs
from ``Scaling.score_from_pd(pd)`` by at most ``m / 2`` points of rounding.

Reason codes (PMML "pointsBelow"): for every characteristic, points lost = the
characteristic's maximum points minus the customer's points; the reasons are the
characteristics with the most points lost (ties: feature order), losses of 0 excluded.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from custrisk.errors import ConfigError, DataError
from custrisk.estimators._logistic import cv_path, fit_logistic, platt
from custrisk.estimators._validation import (
    check_bool,
    check_choice,
    check_float,
    check_frame,
    check_int,
    check_target,
    list_some,
    param_error,
)
from custrisk.estimators.binning import WoeBinner
from custrisk.estimators.bins import value_bins
from custrisk.estimators.fitted import CACHES, REASON_COLUMNS, ScorecardPredictions, sigmoid
from custrisk.estimators.scaling import Scaling
from custrisk.estimators.selection import SelectionResult, select_features, stepwise_select

logger = logging.getLogger(__name__)

__all__ = [
    "BASE_POINTS_CODE",
    "POINTS_TABLE_COLUMNS",
    "REASON_COLUMNS",
    "LogisticScorecard",
    "bare_floor_pd",
]

INTERCEPT_POINTS = ("distribute", "base")
STEPWISE = ("backward", "forward", "none")
C_RULES = ("one_se", "best")
_RULE_TEXT = {
    "one_se": "one standard error (paired by row)",
    "best": "least out-of-fold log-loss",
}
CALIBRATION = ("auto", "platt", "none")
#: Candidates of the inverse L2 strength C when it is chosen by cross-validation.
DEFAULT_CS = tuple(float(v) for v in np.logspace(-3, 2, 11))
#: Feature code of the base-points row of the points table (``intercept_points="base"``).
BASE_POINTS_CODE = "(base)"
POINTS_TABLE_COLUMNS = (
    "feature",
    "label_zh",
    "label_en",
    "bin",
    "bin_label",
    "woe",
    "coefficient",
    "points",
)


class _WoeFold:
    """A CV fold whose WOE values come from its own training rows (bins kept)."""

    def __init__(
        self, bins: np.ndarray, tables: list[np.ndarray], train: np.ndarray, valid: np.ndarray
    ) -> None:
        self.bins = bins
        self.tables = tables
        self.train = train
        self.valid = valid

    def matrices(self, columns: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        cols = list(columns)
        out = []
        for rows in (self.train, self.valid):
            matrix = np.empty((rows.size, len(cols)))
            for k, c in enumerate(cols):
                matrix[:, k] = self.tables[c][self.bins[rows, c]]
            out.append(matrix)
        return out[0], out[1]


class LogisticScorecard(ScorecardPredictions, ClassifierMixin, BaseEstimator):
    """WOE logistic regression scorecard with integer points and reason codes.

    Parameters
    ----------
    binner : WoeBinner, optional
        The binning step (cloned at fit); default ``WoeBinner()``. Feature specs (risk
        direction, labels) are given to the binner.
    C : float or "cv", default "cv"
        Inverse L2 regularisation strength of the logistic regression (scikit-learn's
        meaning), or "cv": chosen among ``Cs`` by ``cv``-fold cross-validated log-loss
        with the one-standard-error rule (the strongest penalty whose mean log-loss is
        within one standard error of the best).
    Cs : sequence of float, default 10^-3 .. 10^2 (11 values)
        Candidates for ``C="cv"``.
    C_rule : {"one_se", "best"}, default "one_se"
        With ``C="cv"``: the one-standard-error rule (the strongest penalty whose
        out-of-fold log-loss is within one standard error of the best, the error of the
        difference paired by row), or the C of the least log-loss.
    cv : int, default 5
        Stratified folds for choosing ``C``, the stepwise selection and the calibration.
    random_state : int, default 0
        Seed of the folds.
    class_weight : None, "balanced" or dict, default None
        Row weights by class; anything but None shifts the PDs away from the observed
        bad rate (and turns the automatic calibration off).
    max_iter : int, default 100
        Newton iterations of each logistic regression.
    selection : bool, default True
        Select features: IV floor, correlation and VIF limits, then stepwise CV AUC.
    min_iv, max_corr, max_vif, force_in, force_out
        See :func:`~custrisk.estimators.selection.select_features`.
    stepwise : {"backward", "forward", "none"}, default "backward"
        Forward selection by cross-validated AUC among the features that pass the
        filters (:func:`~custrisk.estimators.selection.stepwise_select`), or none.
    min_auc_gain : float, default -0.002
        The CV AUC a feature must add to stay (backward) or to be added (forward, at
        least above 0). Negative: backward elimination removes a feature only when the
        model without it has a CV AUC higher by at least the absolute value; smaller
        differences are noise on small data, and removing on noise loses signal.
    drop_wrong_sign : bool, default True
        Refit without the feature with the largest wrong-sign coefficient (not forced
        in) until every coefficient is negative.
    calibration : {"auto", "platt", "none"}, default "auto"
        Platt scaling of the log-odds, fitted on out-of-fold predictions and folded into
        the coefficients (points, score and PD stay one linear model). "auto" keeps it
        only when it lowers the out-of-fold Brier score.
    scaling : Scaling, str or dict, default "default"
        Score scaling: an instance, a preset name or ``base_score/base_odds/pdo``.
    intercept_points : {"distribute", "base"}, default "distribute"
        Spread the intercept evenly over the characteristics, or give it a base-points
        row of its own.

    Attributes
    ----------
    binner_ : WoeBinner
        The fitted binner (all input features).
    selection_ : SelectionResult
        Selected features, the reason each other one was dropped, the stepwise steps.
    features_ : list of str
        The characteristics of the scorecard (selected features, in input order).
    coef_ : ndarray of shape (n_features,)
        Logistic coefficients on WOE, aligned with ``features_`` (negative is right).
    intercept_ : float
        Logistic intercept (log-odds of bad at WOE 0).
    C_ : float
        The regularisation strength used.
    cv_results_ : dict
        The cross-validation of ``C`` (candidates, mean and standard error of the
        log-loss, best and chosen C); empty for a fixed C.
    calibration_ : dict
        ``method`` ("platt" or "none"), Platt's ``a`` and ``b``, and the out-of-fold
        Brier scores before and after.
    sign_warnings_ : list of str
        Features whose coefficient is positive (wrong sign).
    scaling_ : Scaling
    points_ : dict of str to ndarray of int64
        Points per bin of each characteristic (the binner's bin order).
    base_points_ : int
        Base points (0 when the intercept is distributed).
    classes_ : ndarray, [0, 1]
    converged_ : bool
        Whether the solver converged within ``max_iter``.
    """

    def __init__(
        self,
        *,
        binner: WoeBinner | None = None,
        C: float | str = "cv",
        Cs: Sequence[float] = DEFAULT_CS,
        C_rule: str = "one_se",
        cv: int = 5,
        random_state: int = 0,
        class_weight: Any = None,
        max_iter: int = 100,
        selection: bool = True,
        min_iv: float = 0.01,
        max_corr: float = 0.8,
        max_vif: float | None = 10.0,
        stepwise: str = "backward",
        min_auc_gain: float = -0.002,
        force_in: Iterable[str] = (),
        force_out: Iterable[str] = (),
        drop_wrong_sign: bool = True,
        calibration: str = "auto",
        scaling: Scaling | str | dict[str, float] = "default",
        intercept_points: str = "distribute",
    ) -> None:
        self.binner = binner
        self.C = C
        self.Cs = Cs
        self.C_rule = C_rule
        self.cv = cv
        self.random_state = random_state
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.selection = selection
        self.min_iv = min_iv
        self.max_corr = max_corr
        self.max_vif = max_vif
        self.stepwise = stepwise
        self.min_auc_gain = min_auc_gain
        self.force_in = force_in
        self.force_out = force_out
        self.drop_wrong_sign = drop_wrong_sign
        self.calibration = calibration
        self.scaling = scaling
        self.intercept_points = intercept_points

    # -- fitting ---------------------------------------------------------------------

    def _check_params(self) -> Scaling:
        if not (isinstance(self.C, str) and self.C == "cv"):
            check_float(self, "C", self.C, low=0.0, low_open=True)
        if isinstance(self.Cs, str | bytes) or not isinstance(self.Cs, Iterable):
            raise param_error(self, "Cs", "a non-empty list of positive numbers", self.Cs)
        Cs = list(self.Cs)
        if not Cs:
            raise param_error(self, "Cs", "a non-empty list of positive numbers", self.Cs)
        for value in Cs:
            check_float(self, "Cs", value, low=0.0, low_open=True)
        check_choice(self, "C_rule", self.C_rule, C_RULES)
        check_int(self, "cv", self.cv, low=2)
        check_int(self, "random_state", self.random_state, low=0)
        check_int(self, "max_iter", self.max_iter, low=1)
        check_bool(self, "selection", self.selection)
        check_bool(self, "drop_wrong_sign", self.drop_wrong_sign)
        check_choice(self, "stepwise", self.stepwise, STEPWISE)
        check_float(self, "min_auc_gain", self.min_auc_gain, low=-1.0)
        check_choice(self, "calibration", self.calibration, CALIBRATION)
        check_choice(self, "intercept_points", self.intercept_points, INTERCEPT_POINTS)
        if self.binner is not None and not isinstance(self.binner, WoeBinner):
            raise param_error(self, "binner", "a WoeBinner or None", self.binner)
        if not (
            self.class_weight is None
            or self.class_weight == "balanced"
            or isinstance(self.class_weight, dict)
        ):
            raise param_error(self, "class_weight", "None, 'balanced' or a dict", self.class_weight)
        return Scaling.resolve(self.scaling)

    def _weights(self, target: np.ndarray) -> np.ndarray | None:
        if self.class_weight is None:
            return None
        if self.class_weight == "balanced":
            counts = np.bincount(target, minlength=2).astype(float)
            per_class = target.size / (2.0 * counts)
        else:
            per_class = np.array(
                [float(self.class_weight.get(c, 1.0)) for c in (0, 1)], dtype=float
            )
        return per_class[target]

    def _folds(self, target: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Stratified folds; none when a class has fewer rows than 2 folds need."""
        k = min(self.cv, int(target.sum()), int(target.size - target.sum()))
        if k < 2:
            return []
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=self.random_state)
        return list(splitter.split(np.zeros(target.size), target))

    def fit(self, X: pd.DataFrame, y: Any) -> LogisticScorecard:
        """Bin, select, and fit the logistic regression; compute the points.

        Parameters
        ----------
        X : pandas.DataFrame
            Features (numeric and categorical columns; missing values allowed).
        y : array-like of 0/1
            The bad flag (1 = bad).

        Returns
        -------
        LogisticScorecard
            The fitted scorecard.
        """
        scaling = self._check_params()
        X = check_frame(X)
        target = check_target(y, X.shape[0])
        for cache in ("_compiled", "_plan"):  # lookup tables of a previous fit
            self.__dict__.pop(cache, None)
        # hundreds of small dense solves: BLAS threads only add contention
        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit(X, target, scaling)

    def _fit(self, X: pd.DataFrame, target: np.ndarray, scaling: Scaling) -> LogisticScorecard:
        weights = self._weights(target)
        folds = self._folds(target)
        binner = clone(self.binner) if self.binner is not None else WoeBinner()
        binner.fit(X, target)
        if self.selection:
            selection = select_features(
                binner,
                X,
                min_iv=self.min_iv,
                max_corr=self.max_corr,
                max_vif=self.max_vif,
                force_in=self.force_in,
                force_out=self.force_out,
            )
        else:
            selection = SelectionResult(selected=tuple(binner.features_), iv=dict(binner.iv_))
        features = list(selection.selected)
        if not features:
            raise ConfigError(
                "No feature passed the selection "
                f"(min_iv={self.min_iv}, max_corr={self.max_corr}); "
                f"dropped: {list_some([f'{k}: {v}' for k, v in selection.dropped.items()], 3)}",
                hint="lower min_iv or force features in",
            )
        dropped = dict(selection.dropped)
        forced = set(self.force_in) if self.selection else set()
        # CV folds with their own WOE values; candidates by decreasing IV (stepwise ties
        # go to the higher IV)
        order = sorted(features, key=lambda f: -selection.iv[f])
        column = {f: j for j, f in enumerate(order)}
        bins = binner.bin_matrix(X, order)
        cv_folds = [
            _WoeFold(bins, binner.woe_tables(bins, order, target, train), train, valid)
            for train, valid in folds
        ]
        C, path = self._choose_C(target, cv_folds, [column[f] for f in features], weights)
        steps: list[dict[str, Any]] = []
        if self.selection and self.stepwise != "none" and cv_folds and len(features) > 1:
            chosen, step_dropped, steps = stepwise_select(
                target,
                order,
                folds=cv_folds,
                C=C,
                method=self.stepwise,
                force_in=forced,
                min_auc_gain=self.min_auc_gain,
                weights=weights,
                max_iter=self.max_iter,
            )
            dropped.update(step_dropped)
            if len(chosen) < len(features):
                features = [f for f in features if f in set(chosen)]
                C, path = self._choose_C(target, cv_folds, [column[f] for f in features], weights)
        woe_all = binner.woe_matrix(X, features)
        woe = woe_all
        while True:
            fit = fit_logistic(woe, target, C, weights=weights, max_iter=self.max_iter)
            wrong = [
                (float(c), f)
                for c, f in zip(fit.coef, features, strict=True)
                if c > 0 and f not in forced
            ]
            if not (self.drop_wrong_sign and wrong) or len(features) == 1:
                break
            worst = max(wrong)[1]
            dropped[worst] = f"coefficient {max(wrong)[0]:+.3g} has the wrong sign"
            logger.info("feature %s dropped: wrong-sign coefficient", worst)
            keep = [i for i, f in enumerate(features) if f != worst]
            features = [features[i] for i in keep]
            woe = woe[:, keep]
        coef, intercept = fit.coef.copy(), fit.intercept
        calibration = self._calibrate(target, cv_folds, [column[f] for f in features], C, weights)
        if calibration["method"] == "platt":
            coef = calibration["b"] * coef
            intercept = calibration["a"] + calibration["b"] * intercept
        if not fit.converged:
            logger.warning(
                "the logistic regression did not converge in %d iterations; raise max_iter",
                self.max_iter,
            )
        self.binner_ = binner
        self.selection_ = SelectionResult(
            selected=tuple(features),
            dropped={f: dropped[f] for f in binner.features_ if f in dropped},
            iv=selection.iv,
            steps=tuple(steps),
        )
        self.features_ = features
        self.coef_ = np.asarray(coef, dtype=float)
        self.intercept_ = float(intercept)
        self.C_ = float(C)
        self.cv_results_ = path
        self.calibration_ = calibration
        self.converged_ = fit.converged
        self.sign_warnings_ = [f for f, c in zip(features, self.coef_, strict=True) if c > 0]
        for code in self.sign_warnings_:
            logger.warning(
                "feature %s has a positive coefficient on WOE (a safer bin scores as riskier)",
                code,
            )
        self.scaling_ = scaling
        self._set_points()
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.asarray(binner.features_, dtype=object)
        self.n_features_in_ = len(binner.features_)
        self.__dict__.pop("_compiled", None)
        return self

    def _choose_C(
        self,
        target: np.ndarray,
        folds: list[_WoeFold],
        columns: list[int],
        weights: np.ndarray | None,
    ) -> tuple[float, dict[str, Any]]:
        """The C to use and the record of its cross-validation."""
        if not (isinstance(self.C, str) and self.C == "cv"):
            return float(self.C), {}
        if not folds:
            return 1.0, {"note": "too few bads or goods for cross-validation: C = 1"}
        path = cv_path(
            target, folds, columns, list(self.Cs), weights=weights, max_iter=self.max_iter
        )
        index = path.chosen if self.C_rule == "one_se" else path.best
        return path.Cs[index], {**path.to_dict(), "rule": _RULE_TEXT[self.C_rule]}

    def _calibrate(
        self,
        target: np.ndarray,
        folds: list[_WoeFold],
        columns: list[int],
        C: float,
        weights: np.ndarray | None,
    ) -> dict[str, Any]:
        """Platt scaling on out-of-fold log-odds, when asked for and when it helps."""
        none: dict[str, Any] = {"method": "none"}
        if self.calibration == "none" or not folds:
            return none
        if self.calibration == "auto" and self.class_weight is not None:
            return {"method": "none", "note": "class weights: PDs are shifted on purpose"}
        z = np.empty(target.size)
        for fold in folds:
            X_train, X_valid = fold.matrices(columns)
            w = None if weights is None else weights[fold.train]
            fold_fit = fit_logistic(
                X_train, target[fold.train], C, weights=w, max_iter=self.max_iter
            )
            z[fold.valid] = fold_fit.intercept + X_valid @ fold_fit.coef
        a, b = platt(target.astype(float), z)
        before = float(np.mean((sigmoid(z) - target) ** 2))
        after = float(np.mean((sigmoid(a + b * z) - target) ** 2))
        record = {"cv_brier_before": before, "cv_brier_after": after, "a": a, "b": b}
        if b > 0 and (self.calibration == "platt" or after < before):
            return {"method": "platt", **record}
        return {"method": "none", **record}

    def _set_points(self) -> None:
        factor = self.scaling_.factor
        constant = self.scaling_.offset - factor * self.intercept_
        m = len(self.features_)
        share = constant / m if self.intercept_points == "distribute" else 0.0
        self.base_points_ = 0 if self.intercept_points == "distribute" else int(round(constant))
        self.points_ = {
            code: np.round(-factor * coef * self.binner_.bins_[code].woe + share).astype(np.int64)
            for code, coef in zip(self.features_, self.coef_, strict=True)
        }

    # -- tables and reasons ----------------------------------------------------------

    def points_table(self) -> pd.DataFrame:
        """Points per characteristic and bin.

        Columns: feature, label_zh, label_en, bin, bin_label, woe, coefficient, points.
        With ``intercept_points="base"`` a first row (feature ``"(base)"``) holds the
        base points. ``attrs`` records the WOE definition, the scaling and the rule
        "score = sum of points".
        """
        check_is_fitted(self, "coef_")
        rows: list[dict[str, Any]] = []
        if self.intercept_points == "base":
            rows.append(
                {
                    "feature": BASE_POINTS_CODE,
                    "label_zh": "基础分",
                    "label_en": "Base points",
                    "bin": 0,
                    "bin_label": "",
                    "woe": math.nan,
                    "coefficient": self.intercept_,
                    "points": self.base_points_,
                }
            )
        for code, coef in zip(self.features_, self.coef_, strict=True):
            spec = self.binner_.specs_[code]
            fb = self.binner_.bins_[code]
            for k in range(fb.n_bins):
                rows.append(
                    {
                        "feature": code,
                        "label_zh": spec.label_zh,
                        "label_en": spec.label_en,
                        "bin": k,
                        "bin_label": fb.labels[k],
                        "woe": float(fb.woe[k]),
                        "coefficient": float(coef),
                        "points": int(self.points_[code][k]),
                    }
                )
        table = pd.DataFrame(rows, columns=list(POINTS_TABLE_COLUMNS))
        table.attrs.update(
            {
                "woe_definition": "WOE = ln(good share / bad share)",
                "score_definition": "score = sum of the points of the customer's bins",
                "intercept_points": self.intercept_points,
                "scaling": self.scaling_.to_dict(),
            }
        )
        return table

    def _check_fitted(self) -> None:
        check_is_fitted(self, "coef_")

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        for cache in CACHES:
            state.pop(cache, None)
        return state

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary for the model card: features, coefficients, points."""
        check_is_fitted(self, "coef_")
        return {
            "algorithm": "woe_logistic_scorecard",
            "features": list(self.features_),
            "coefficients": {c: float(v) for c, v in zip(self.features_, self.coef_, strict=True)},
            "intercept": self.intercept_,
            "sign_warnings": list(self.sign_warnings_),
            "selection": self.selection_.to_dict(),
            "C": getattr(self, "C_", None),
            "cv_results": dict(getattr(self, "cv_results_", {})),
            "calibration": dict(getattr(self, "calibration_", {"method": "none"})),
            "scaling": self.scaling_.to_dict(),
            "intercept_points": self.intercept_points,
            "base_points": self.base_points_,
            "points": {c: [int(p) for p in self.points_[c]] for c in self.features_},
            "bins": {c: self.binner_.bins_[c].to_dict() for c in self.features_},
            "specs": {c: self.binner_.specs_[c].to_dict() for c in self.features_},
            "woe_definition": "WOE = ln(good share / bad share)",
        }


def bare_floor_pd(model: LogisticScorecard, X: np.ndarray) -> np.ndarray:
    """PD by bin lookup and a dot product on a raw NumPy matrix: the least scoring can cost.

    Used by benchmarks as the floor that full scoring is compared against: the same
    comparison binning as :func:`~custrisk.estimators.binning.value_bins`, one lookup
    and one addition per characteristic, nothing else. For the fastest floor, pass a
    column-major (Fortran-ordered) matrix.

    Parameters
    ----------
    model : LogisticScorecard
        A fitted scorecard.
    X : ndarray of shape (n_rows, n_features)
        Raw float values of ``model.features_``, in that order (NaN for missing). A
        categorical characteristic's column must hold the bin index instead (as
        :meth:`WoeBinner.bin_matrix` gives).

    Returns
    -------
    ndarray of shape (n_rows,)
        PD per row; equal to :meth:`LogisticScorecard.predict_pd` on the same data.
    """
    check_is_fitted(model, "coef_")
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != len(model.features_):
        raise DataError(f"X must have shape (n_rows, {len(model.features_)}), got {X.shape}")
    z = np.full(X.shape[0], model.intercept_)
    for j, code in enumerate(model.features_):
        fb = model.binner_.bins_[code]
        partial = model.coef_[j] * fb.woe
        if fb.kind == "numeric":
            column = X[:, j]
            index = value_bins(column, fb.cuts)
            if fb.specials.size:
                index[np.isin(column, fb.specials)] = fb.special_bin
                index[np.isnan(column)] = fb.missing_bin
            z += partial[index]
        else:
            z += partial[X[:, j].astype(np.int64)]
    return 1.0 / (1.0 + np.exp(-z))
