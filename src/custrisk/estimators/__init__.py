"""Risk models: WOE binning, logistic scorecard, decision tree, scaling and metrics.

>>> from custrisk.estimators import LogisticScorecard, WoeBinner          # doctest: +SKIP
>>> card = LogisticScorecard(binner=WoeBinner(specs=specs)).fit(X, y)  # doctest: +SKIP
>>> card.predict_pd(X), card.predict_score(X), card.reasons(X)      # doctest: +SKIP

The estimators follow the scikit-learn contract and pickle with joblib. Names are
imported lazily so that ``import custrisk.estimators`` does not load scikit-learn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from custrisk.lazy import lazy_names

if TYPE_CHECKING:
    from custrisk.estimators.binning import WoeBinner
    from custrisk.estimators.bins import FeatureBins
    from custrisk.estimators.features import (
        DIRECTIONS,
        KINDS,
        MONOTONIC,
        FeatureSpec,
        feature_specs_from_frame,
        feature_specs_from_indicators,
    )
    from custrisk.estimators.metrics import (
        Evaluation,
        auc,
        brier,
        calibration_table,
        cross_validate,
        evaluate,
        gini,
        holdout_split,
        ks,
        lift_table,
        out_of_time_split,
    )
    from custrisk.estimators.scaling import SCALING_PRESETS, Scaling
    from custrisk.estimators.scorecard import LogisticScorecard, bare_floor_pd
    from custrisk.estimators.selection import SelectionResult, select_features
    from custrisk.estimators.tree import TreeModel

_EXPORTS = {
    "FeatureBins": "bins",
    "WoeBinner": "binning",
    "DIRECTIONS": "features",
    "KINDS": "features",
    "MONOTONIC": "features",
    "FeatureSpec": "features",
    "feature_specs_from_frame": "features",
    "feature_specs_from_indicators": "features",
    "Evaluation": "metrics",
    "auc": "metrics",
    "brier": "metrics",
    "calibration_table": "metrics",
    "cross_validate": "metrics",
    "evaluate": "metrics",
    "gini": "metrics",
    "holdout_split": "metrics",
    "ks": "metrics",
    "lift_table": "metrics",
    "out_of_time_split": "metrics",
    "SCALING_PRESETS": "scaling",
    "Scaling": "scaling",
    "LogisticScorecard": "scorecard",
    "bare_floor_pd": "scorecard",
    "SelectionResult": "selection",
    "select_features": "selection",
    "TreeModel": "tree",
}

__all__ = [
    "DIRECTIONS",
    "Evaluation",
    "FeatureBins",
    "FeatureSpec",
    "KINDS",
    "LogisticScorecard",
    "MONOTONIC",
    "SCALING_PRESETS",
    "Scaling",
    "SelectionResult",
    "TreeModel",
    "WoeBinner",
    "auc",
    "bare_floor_pd",
    "brier",
    "calibration_table",
    "cross_validate",
    "evaluate",
    "feature_specs_from_frame",
    "feature_specs_from_indicators",
    "gini",
    "holdout_split",
    "ks",
    "lift_table",
    "out_of_time_split",
    "select_features",
]


__getattr__, __dir__ = lazy_names(__name__, {n: f"{__name__}.{m}" for n, m in _EXPORTS.items()})
