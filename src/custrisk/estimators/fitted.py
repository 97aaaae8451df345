"""A fitted scorecard's predictions, without scikit-learn.

:class:`ScorecardPredictions` is everything a fitted
:class:`~custrisk.estimators.scorecard.LogisticScorecard` does with data (PD, score,
points, reasons, one customer's score) on its fitted attributes alone: ``features_``,
``coef_``, ``intercept_``, ``points_``, ``base_points_`` and the binner's ``bins_`` and
``specs_``. The scorecard inherits it.

:class:`FittedScorecard` is the same predictions on the same attributes without the
estimator around them (no parameters, no fit). A model file is unpickled as one when the
caller only scores (:func:`custrisk.registry.load_model`'s ``predict_only``): the
estimator's class imports scikit-learn, and scikit-learn SciPy's statistics, 0.7 to
1.3 s of CPU holding the GIL that a month's scoring spent beside reading its exports.
The pickle is the estimator's own (:data:`STAND_INS` maps its classes), so the numbers
are the same by construction: one code path computes both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from custrisk.errors import DataError
from custrisk.estimators._validation import check_columns, check_frame, check_int, list_some
from custrisk.estimators.bins import FeatureBins, binned
from custrisk.estimators.features import FeatureSpec, is_missing
from custrisk.estimators.scored import ScoredTable, insert_top

__all__ = ["REASON_COLUMNS", "STAND_INS", "FittedBinner", "FittedScorecard", "ScorecardPredictions"]

REASON_COLUMNS = (
    "row",
    "rank",
    "code",
    "label_zh",
    "label_en",
    "value",
    "bin_label",
    "points",
    "points_lost",
)
#: Caches a scorecard builds on first use, never pickled.
CACHES = ("_compiled", "_plan")


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def raw_value(value: Any) -> Any:
    """A plain Python value for reports: None for missing, float or str otherwise."""
    if is_missing(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


class ScorecardPredictions:
    """PD, score, points and reasons from a fitted scorecard's attributes."""

    _OWNER: ClassVar[str] = "LogisticScorecard"  # the name its errors give

    features_: list[str]
    coef_: np.ndarray
    intercept_: float
    points_: dict[str, np.ndarray]
    base_points_: int
    binner_: Any  # a fitted WoeBinner, or its FittedBinner

    # -- predicting ------------------------------------------------------------------

    def _check_fitted(self) -> None:
        """Nothing to check: only a fitted scorecard's attributes are ever here (the
        estimator checks its own)."""

    def _bins(self, X: pd.DataFrame) -> np.ndarray:
        """Bin indices as an ``(n_rows, n_features)`` int64 array (``features_`` order),
        as the binner's ``bin_matrix`` gives them."""
        return binned(self.binner_.bins_, self._checked(X), self.features_)

    def _checked(self, X: pd.DataFrame) -> pd.DataFrame:
        self._check_fitted()
        X = check_frame(X)
        check_columns(X, self.features_)
        return X

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of bad per row (each characteristic binned in turn: no rows x
        characteristics matrix)."""
        X = self._checked(X)
        woe_terms = self._score_plan()["woe_terms"]
        z = np.full(X.shape[0], self.intercept_)
        for j, code in enumerate(self.features_):
            z += woe_terms[j][self.binner_.bins_[code].bin_array(X[code])]
        return z

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of bad per row (the model's, unrounded)."""
        return sigmoid(self.decision_function(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities ``[P(good), P(bad)]`` per row."""
        pd_bad = self.predict_pd(X)
        return np.column_stack([1.0 - pd_bad, pd_bad])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 (bad) where PD >= 0.5, else 0."""
        return (self.predict_pd(X) >= 0.5).astype(np.int64)

    def points_matrix(self, X: pd.DataFrame) -> np.ndarray:
        """Points of every characteristic per row, ``(n_rows, n_features)`` int64."""
        return self._points(self._bins(X))

    def _points(self, bins: np.ndarray) -> np.ndarray:
        out = np.empty(bins.shape, dtype=np.int64)
        for j, code in enumerate(self.features_):
            out[:, j] = self.points_[code][bins[:, j]]
        return out

    def predict_score(self, X: pd.DataFrame) -> np.ndarray:
        """Score per row: the sum of the points of the row's bins (int64).

        Named ``predict_score`` rather than ``score``: scikit-learn reserves
        ``score(X, y)`` for a goodness-of-fit number.
        """
        X = self._checked(X)
        score = np.full(X.shape[0], self.base_points_, dtype=np.int64)
        for code in self.features_:
            score += self.points_[code][self.binner_.bins_[code].bin_array(X[code])]
        return score

    def score_table(self, X: pd.DataFrame, top: int = 3) -> ScoredTable:
        """PD, score and the top reasons of every row, binning each value once.

        Each characteristic ``j`` (of ``m``) is binned once (integer bin codes); per bin,
        two small tables give the WOE term of the log-odds and a reason key
        ``points lost * m + (m - 1 - j)``. Keys order a row's characteristics by points
        lost, then by feature order; the top ``top`` keys of a row are kept by a running
        max/min exchange (:func:`~custrisk.estimators.scored.insert_top`), so no (rows,
        characteristics) matrix is built and no Python runs per row. The keys also give
        the score: their sum is ``m * (points lost) + m (m - 1) / 2``, and the score is
        the base points plus every maximum minus the points lost.

        Returns
        -------
        ScoredTable
            ``pd`` equal to :meth:`predict_pd`, ``score`` to :meth:`predict_score`, and
            the reasons :meth:`reasons` lists (impact: points lost).
        """
        top = check_int(self._OWNER, "top", top, low=1)
        X = self._checked(X)
        plan = self._score_plan()
        n, m = X.shape[0], len(self.features_)
        z = np.full(n, self.intercept_)
        key_sum = np.zeros(n, dtype=np.int64)
        best = [np.full(n, -1, dtype=plan["key_dtype"]) for _ in range(top)]
        for j, code in enumerate(self.features_):
            bins = self.binner_.bins_[code].bin_array(X[code])
            z += plan["woe_terms"][j][bins]
            keys = plan["keys"][j][bins]
            key_sum += keys
            insert_top(best, keys)
        lost_sum = (key_sum - m * (m - 1) // 2) // m
        # decoded in the keys' own narrow integers (-1, no key, gives lost -1)
        lost, rest = np.divmod(np.stack(best, axis=1), plan["key_dtype"](m))
        has_reason = lost > 0
        feature = (m - 1 - rest).astype(np.int64)
        feature[~has_reason] = -1
        impact = lost.astype(np.float64)
        impact[~has_reason] = np.nan
        specs = self.binner_.specs_
        return ScoredTable(
            index=X.index,
            pd=sigmoid(z),
            score=plan["max_total"] - lost_sum,
            features=tuple(self.features_),
            labels_zh=tuple(specs[c].label_zh for c in self.features_),
            labels_en=tuple(specs[c].label_en for c in self.features_),
            kinds=tuple(self.binner_.bins_[c].kind for c in self.features_),
            reason_feature=feature,
            reason_impact=impact,
            impact="points_lost",
            frame=X,
            category_values="raw",
        )

    def _score_plan(self) -> dict[str, Any]:
        """Per-bin lookup tables of :meth:`score_table` (built once, not pickled)."""
        plan = self.__dict__.get("_plan")
        if plan is not None:
            return plan
        m = len(self.features_)
        woe_terms, keys = [], []
        max_total = self.base_points_
        for j, code in enumerate(self.features_):
            points = self.points_[code].astype(np.int64)
            max_total += int(points.max())
            woe_terms.append(self.coef_[j] * self.binner_.bins_[code].woe)
            keys.append((points.max() - points) * m + (m - 1 - j))
        largest = max(int(k.max()) for k in keys)
        # the narrowest integers that hold the keys: less memory traffic per exchange
        key_dtype = next(t for t in (np.int16, np.int32, np.int64) if largest < np.iinfo(t).max)
        plan = {
            "woe_terms": woe_terms,
            "keys": [k.astype(key_dtype) for k in keys],
            "key_dtype": key_dtype,
            "max_total": max_total,
        }
        self.__dict__["_plan"] = plan
        return plan

    def reasons(self, X: pd.DataFrame, top: int = 3) -> pd.DataFrame:
        """The top reason codes of every row ("pointsBelow": points lost per characteristic).

        Parameters
        ----------
        X : pandas.DataFrame
            Must hold every characteristic.
        top : int, default 3
            Most reasons per row. Rows lose no points on a characteristic at its maximum,
            so a row may have fewer reasons.

        Returns
        -------
        pandas.DataFrame
            Long format, one row per reason: row (``X``'s index label), rank (1 = most
            points lost), code, label_zh, label_en, value (the raw value; None if
            missing), bin_label, points, points_lost.
        """
        table = self.score_table(X, top=top)
        rows, ranks, cols = table.reason_positions()
        lost = table.reason_impact[rows, ranks].astype(np.int64)
        bin_labels = np.empty(rows.size, dtype=object)
        points = np.empty(rows.size, dtype=np.int64)
        for j in np.unique(cols).tolist():
            hit = cols == j
            code = self.features_[j]
            fb = self.binner_.bins_[code]
            bins = fb.bin_array(X[code].iloc[rows[hit]])  # the few rows with this reason
            bin_labels[hit] = np.asarray(fb.labels, dtype=object)[bins]
            points[hit] = self.points_[code][bins]
        specs = self.binner_.specs_
        codes = np.asarray(self.features_, dtype=object)[cols]
        return pd.DataFrame(
            {
                "row": X.index.to_numpy()[rows],
                "rank": ranks.astype(np.int64) + 1,
                "code": codes,
                "label_zh": [specs[c].label_zh for c in codes],
                "label_en": [specs[c].label_en for c in codes],
                "value": pd.Series(table.long_values(rows, cols), dtype=object),
                "bin_label": bin_labels,
                "points": points,
                "points_lost": lost,
            },
            columns=list(REASON_COLUMNS),
        )

    # -- single customer -------------------------------------------------------------

    def _compiled_tables(self) -> list[tuple[Any, ...]]:
        compiled = self.__dict__.get("_compiled")
        if compiled is None:
            compiled = []
            for j, code in enumerate(self.features_):
                fb = self.binner_.bins_[code]
                spec = self.binner_.specs_[code]
                points = [int(p) for p in self.points_[code]]
                compiled.append(
                    (
                        code,
                        fb,
                        float(self.coef_[j]),
                        [float(w) for w in fb.woe],
                        points,
                        max(points),
                        spec.label_zh,
                        spec.label_en,
                    )
                )
            self.__dict__["_compiled"] = compiled
        return compiled

    def score_one(self, values: Mapping[str, Any], top: int = 3) -> dict[str, Any]:
        """Score one customer from a dict of raw feature values, without pandas.

        Parameters
        ----------
        values : dict of str to object
            Raw value of every characteristic (None or NaN for missing); other keys
            are ignored.
        top : int, default 3
            Most reason codes.

        Returns
        -------
        dict
            ``pd`` (float), ``score`` (int), ``reasons`` (list of dicts with code,
            label_zh, label_en, value, bin_label, points, points_lost), the same as
            :meth:`predict_pd`, :meth:`predict_score` and :meth:`reasons` give.
        """
        self._check_fitted()
        compiled = self._compiled_tables()
        absent = [entry[0] for entry in compiled if entry[0] not in values]
        if absent:
            raise DataError(
                f"values lacks {len(absent)} feature(s) the model uses: {list_some(absent)}",
                hint="pass None for a missing value",
            )
        z = self.intercept_
        score = self.base_points_
        losses: list[tuple[int, int, int]] = []
        for j, (code, fb, coef, woe, points, max_points, _, _) in enumerate(compiled):
            k = fb.bin_of(values[code])
            z += coef * woe[k]
            score += points[k]
            if points[k] < max_points:
                losses.append((points[k] - max_points, j, k))
        losses.sort()
        reasons = []
        for lost, j, k in losses[:top]:
            code, fb, _, _, points, _, label_zh, label_en = compiled[j]
            reasons.append(
                {
                    "code": code,
                    "label_zh": label_zh,
                    "label_en": label_en,
                    "value": raw_value(values[code]),
                    "bin_label": fb.labels[k],
                    "points": points[k],
                    "points_lost": -lost,
                }
            )
        # the PD through the same NumPy sigmoid as predict_pd and score_table: the same
        # log-odds (same products, summed in the same order) give the same bits
        pd_bad = float(sigmoid(np.array([z], dtype=np.float64))[0])
        return {"pd": pd_bad, "score": int(score), "reasons": reasons}


class FittedBinner:
    """A fitted :class:`~custrisk.estimators.binning.WoeBinner`'s attributes, unpickled
    without the estimator: ``bins_`` (code to :class:`FeatureBins`) and ``specs_``."""

    bins_: dict[str, FeatureBins]
    specs_: dict[str, FeatureSpec]

    def __repr__(self) -> str:
        return f"FittedBinner({len(self.__dict__.get('bins_', {}))} features)"


class FittedScorecard(ScorecardPredictions):
    """A fitted :class:`~custrisk.estimators.scorecard.LogisticScorecard` that only
    predicts: unpickled from the scorecard's own pickle (its state as it was saved),
    without scikit-learn. Pickles as itself (to a Dask worker), without its caches."""

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in CACHES}

    def __repr__(self) -> str:
        return f"FittedScorecard({len(self.__dict__.get('features_', []))} characteristics)"


#: The classes of a saved scorecard's pickle and what a predict-only load makes of them.
STAND_INS: dict[tuple[str, str], type] = {
    ("custrisk.estimators.scorecard", "LogisticScorecard"): FittedScorecard,
    ("custrisk.estimators.binning", "WoeBinner"): FittedBinner,
}
