"""A model loaded only to score (``predict_only``): a scorecard as its fitted
predictions, without scikit-learn, giving the estimator's numbers to the bit."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from custrisk.errors import ModelArtifactError, UsageError
from custrisk.estimators import LogisticScorecard, TreeModel
from custrisk.estimators.fitted import FittedScorecard, ScorecardPredictions
from custrisk.registry import LoadedModel, load_model, resolve_model
from custrisk.registry.artifact import _unpickle
from custrisk.scoring.features import open_model, prepare_model_features


@pytest.fixture(scope="module")
def scorecards(models_3000: Path) -> tuple[LoadedModel, LoadedModel]:
    """The logistic model loaded as saved, and loaded to predict only."""
    return open_model("logistic", models_3000), open_model(
        "logistic", models_3000, predict_only=True
    )


@pytest.fixture(scope="module")
def X(scorecards: tuple[LoadedModel, LoadedModel], export_3000_other: Path) -> pd.DataFrame:
    full = scorecards[0]
    X = prepare_model_features(full, export_3000_other).X
    return X[list(full.card["candidate_features"])]


def test_a_scorecard_loads_as_its_fitted_attributes_without_the_estimator(
    scorecards: tuple[LoadedModel, LoadedModel],
) -> None:
    full, fitted = (loaded.model for loaded in scorecards)
    assert isinstance(full, LogisticScorecard)
    assert type(fitted) is FittedScorecard and not isinstance(fitted, LogisticScorecard)
    assert isinstance(full, ScorecardPredictions)  # one code path predicts for both
    assert fitted.features_ == full.features_
    np.testing.assert_array_equal(fitted.coef_, full.coef_)
    assert fitted.binner_.bins_.keys() == full.binner_.bins_.keys()


@pytest.mark.parametrize(
    "method",
    [
        "decision_function",
        "predict_pd",
        "predict_proba",
        "predict",
        "predict_score",
        "points_matrix",
    ],
)
def test_every_prediction_is_the_estimators_to_the_bit(
    scorecards: tuple[LoadedModel, LoadedModel], X: pd.DataFrame, method: str
) -> None:
    full, fitted = (loaded.model for loaded in scorecards)
    expected = getattr(full, method)(X)
    got = getattr(fitted, method)(X)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_the_scores_table_reasons_and_one_customer_are_the_estimators(
    scorecards: tuple[LoadedModel, LoadedModel], X: pd.DataFrame
) -> None:
    full, fitted = (loaded.model for loaded in scorecards)
    a, b = full.score_table(X, top=3), fitted.score_table(X, top=3)
    np.testing.assert_array_equal(b.pd, a.pd)
    np.testing.assert_array_equal(b.score, a.score)
    np.testing.assert_array_equal(b.reason_feature, a.reason_feature)
    np.testing.assert_array_equal(b.reason_impact, a.reason_impact)
    for rank in (1, 2, 3):
        assert list(b.reason_texts(rank)) == list(a.reason_texts(rank))
    pd.testing.assert_frame_equal(fitted.reasons(X), full.reasons(X))
    for _, row in X.head(50).iterrows():
        values = row.to_dict()
        assert fitted.score_one(values) == full.score_one(values)


def test_a_bad_call_is_refused_with_the_estimators_message(
    scorecards: tuple[LoadedModel, LoadedModel], X: pd.DataFrame
) -> None:
    full, fitted = (loaded.model for loaded in scorecards)
    for call in (
        lambda m: m.score_table(X, top=0),
        lambda m: m.predict_pd(X.drop(columns=full.features_[0])),
    ):
        with pytest.raises(Exception) as expected:
            call(full)
        with pytest.raises(type(expected.value)) as got:
            call(fitted)
        assert str(got.value) == str(expected.value)


def test_the_fitted_scorecard_pickles_to_a_worker_without_its_caches(
    scorecards: tuple[LoadedModel, LoadedModel], X: pd.DataFrame
) -> None:
    fitted = scorecards[1].model
    fitted.score_table(X)  # builds the lookup tables
    fitted.score_one(X.iloc[0].to_dict())
    assert {"_plan", "_compiled"} <= fitted.__dict__.keys()
    state = fitted.__getstate__()
    assert not {"_plan", "_compiled"} & state.keys()
    copy = pickle.loads(pickle.dumps(fitted))
    assert type(copy) is FittedScorecard
    np.testing.assert_array_equal(copy.predict_score(X), fitted.predict_score(X))


def test_a_tree_model_loads_as_it_was_saved(models_3000: Path) -> None:
    loaded = open_model("tree", models_3000, predict_only=True)
    assert isinstance(loaded.model, TreeModel)


def test_a_model_file_that_does_not_unpickle_is_refused_as_before(tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    for predict_only in (False, True):
        with pytest.raises(ModelArtifactError, match="could not be unpickled"):
            _unpickle(path, b"not a pickle", None, predict_only)


def test_predict_only_is_for_custrisks_estimators(models_3000: Path) -> None:
    ref = resolve_model("logistic", models_3000)
    with pytest.raises(UsageError, match="predict_only"):
        load_model(ref, types=(LogisticScorecard,), predict_only=True)
