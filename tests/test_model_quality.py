"""End to end: generated portfolio -> indicators -> WOE scorecard, against the true PD.

The generator knows each customer's true PD; a scorecard on the default indicators
should rank customers nearly as well (hold-out AUC within 0.03 of the true PD's AUC on
the same rows).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from custrisk.indicators import compute_indicators, load_indicator_config
from custrisk.model import (
    LogisticScorecard,
    WoeBinner,
    auc,
    feature_specs_from_indicators,
    holdout_split,
)
from custrisk.sample import generate_frames


@pytest.mark.slow
def test_scorecard_auc_is_close_to_the_true_pd() -> None:
    started = time.perf_counter()
    frames = generate_frames(customers=20_000, seed=42)
    config = load_indicator_config()
    result = compute_indicators(
        {
            "credit": frames.credit,
            "transactions": frames.transactions,
            "behaviour": frames.behaviour,
        },
        config,
        as_of=frames.as_of,
    )
    X = result.frame.set_index("customer_id")
    y = frames.labels.set_index("customer_id")["bad"].reindex(X.index).astype(int).to_numpy()
    true_pd = frames.ground_truth.set_index("customer_id")["true_pd"].reindex(X.index)
    assert not np.isnan(true_pd.to_numpy()).any()
    specs = feature_specs_from_indicators(config.indicators)

    X_train, X_test, y_train, y_test = holdout_split(X, y, test_size=0.3, seed=0)
    card = LogisticScorecard(binner=WoeBinner(specs=specs)).fit(X_train, y_train)

    model_auc = auc(y_test, card.predict_pd(X_test))
    true_auc = auc(y_test, true_pd.loc[X_test.index].to_numpy())
    assert model_auc >= true_auc - 0.03, (model_auc, true_auc)
    # the points add up and the reasons name real indicators
    scores = card.predict_score(X_test)
    assert (scores == card.points_matrix(X_test).sum(axis=1) + card.base_points_).all()
    assert set(card.reasons(X_test.iloc[:100])["code"]) <= set(card.features_)
    assert time.perf_counter() - started < 60
