"""Performance metrics, calibration and lift tables, CV and splits."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from custrisk.errors import ConfigError, DataError
from custrisk.estimators.binning import WoeBinner
from custrisk.estimators.metrics import (
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
from custrisk.estimators.scorecard import LogisticScorecard
from custrisk.estimators.tree import TreeModel

Y = [0, 0, 1, 1]
P = [0.1, 0.4, 0.35, 0.8]


def test_auc_ks_gini_on_a_hand_computed_example() -> None:
    # bad 0.35 beats good 0.1 but not good 0.4; bad 0.8 beats both: 3 of 4 pairs
    assert auc(Y, P) == pytest.approx(0.75)
    assert gini(Y, P) == pytest.approx(0.5)
    # cumulative shares above each cut (bads, goods): 0.8 -> (1/2, 0); 0.4 -> (1/2, 1/2);
    # 0.35 -> (1, 1/2); 0.1 -> (1, 1): the largest gap is 1/2
    assert ks(Y, P) == pytest.approx(0.5)
    assert auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)  # ties count one half
    assert auc([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8]) == 1.0
    assert ks([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8]) == 1.0


def test_brier() -> None:
    assert brier([0, 1], [0.2, 0.6]) == pytest.approx((0.04 + 0.16) / 2)
    assert brier([1, 1], [1.0, 1.0]) == 0.0


def test_metric_inputs_are_checked() -> None:
    with pytest.raises(DataError, match="both goods"):
        auc([0, 0], [0.1, 0.2])
    with pytest.raises(DataError, match="pd has 1 values but y has 2"):
        ks([0, 1], [0.1])
    with pytest.raises(DataError, match="missing values"):
        auc([0, 1], [0.1, np.nan])


def test_calibration_by_decile() -> None:
    rng = np.random.default_rng(0)
    pd_bad = rng.permutation(np.linspace(0.001, 0.5, 1000))
    y = (rng.random(1000) < pd_bad).astype(int)
    table = calibration_table(y, pd_bad)
    assert list(table.columns) == [
        "bin",
        "pd_min",
        "pd_max",
        "count",
        "bads",
        "mean_pd",
        "bad_rate",
    ]
    assert table["bin"].tolist() == list(range(1, 11))
    assert table["count"].tolist() == [100] * 10
    assert table["bads"].sum() == y.sum()
    assert table["mean_pd"].is_monotonic_increasing
    first = np.sort(pd_bad)[:100]
    assert table["mean_pd"].iloc[0] == pytest.approx(first.mean())
    assert table["pd_max"].iloc[0] == pytest.approx(first.max())
    order = np.argsort(pd_bad)
    assert table["bad_rate"].iloc[-1] == pytest.approx(y[order[-100:]].mean())


def test_calibration_keeps_tied_pds_together() -> None:
    pd_bad = np.repeat([0.05, 0.2, 0.4], [500, 300, 200])
    y = np.r_[np.zeros(475), np.ones(25), np.zeros(240), np.ones(60), np.zeros(120), np.ones(80)]
    table = calibration_table(y, pd_bad, n_bins=10)
    assert table["count"].tolist() == [500, 300, 200]
    assert table["bad_rate"].tolist() == pytest.approx([0.05, 0.2, 0.4])


def test_lift_table_by_score_deciles() -> None:
    rng = np.random.default_rng(1)
    scores = rng.permutation(np.arange(400, 800, 0.4))  # 1000 distinct scores
    y = (rng.random(1000) < 1 / (1 + np.exp((scores - 550) / 40))).astype(int)
    table = lift_table(y, scores)
    assert len(table) == 10
    assert table["count"].sum() == 1000
    assert table["bads"].sum() == y.sum()
    assert table["cum_bads"].iloc[-1] == y.sum()
    assert table["cum_bad_capture"].iloc[-1] == pytest.approx(1.0)
    assert table["cum_count_share"].iloc[-1] == pytest.approx(1.0)
    assert table["cum_bad_capture"].is_monotonic_increasing
    # band 1 is the riskiest: the lowest scores
    assert table["score_max"].iloc[0] < table["score_min"].iloc[1]
    assert table["lift"].iloc[0] > 1 > table["lift"].iloc[-1]
    overall = y.mean()
    np.testing.assert_allclose(table["lift"], table["bad_rate"] / overall)
    assert table["cum_lift"].iloc[-1] == pytest.approx(1.0)
    # the count-weighted mean lift is 1
    assert (table["lift"] * table["count"]).sum() / 1000 == pytest.approx(1.0)


def test_lift_table_with_configured_bands() -> None:
    scores = np.array([500, 540, 560, 590, 610, 650, 700, 720])
    y = np.array([1, 1, 0, 1, 0, 0, 0, 0])
    table = lift_table(y, scores, bands=[550, 600, 800])
    assert table["lower"].tolist() == [-np.inf, 550, 600, 800]
    assert table["count"].tolist() == [2, 2, 4, 0]
    assert table["bads"].tolist() == [2, 1, 0, 0]
    assert table["cum_bad_capture"].tolist()[:3] == pytest.approx([2 / 3, 1.0, 1.0])
    assert np.isnan(table["bad_rate"].iloc[3])
    by_pd = lift_table(y, 1 - scores / 1000, bands=[0.3, 0.45], higher_is_safer=False)
    assert by_pd["bads"].iloc[0] == 2  # PD >= 0.45 first
    with pytest.raises(ConfigError, match="'bands' parameter of lift_table must be strictly"):
        lift_table(y, scores, bands=[600, 550])


def portfolio(n: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    logit = -2 + 1.2 * X["a"].to_numpy() - 0.6 * X["b"].to_numpy()
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def test_evaluate_a_model() -> None:
    X, y = portfolio()
    card = LogisticScorecard(binner=WoeBinner()).fit(X, y)
    result = evaluate(card, X, y)
    pd_bad = card.predict_pd(X)
    assert result.auc == pytest.approx(auc(y, pd_bad))
    assert result.gini == pytest.approx(2 * result.auc - 1)
    assert result.ks == pytest.approx(ks(y, pd_bad))
    assert result.brier == pytest.approx(brier(y, pd_bad))
    assert result.n == 2000 and result.n_bad == y.sum()
    assert result.calibration["count"].sum() == 2000
    assert result.lift["bads"].sum() == y.sum()
    exported = result.to_dict()
    json.dumps(exported, allow_nan=False)
    assert exported["lift"][0]["lower"] is None  # -inf becomes None in JSON
    tree_result = evaluate(TreeModel(cv=3).fit(X, y), X, y, bands=[500, 600])
    assert len(tree_result.lift) == 3


def test_cross_validate_is_deterministic() -> None:
    X, y = portfolio()
    first = cross_validate(lambda: LogisticScorecard(), X, y, k=3, seed=4)
    second = cross_validate(LogisticScorecard(), X, y, k=3, seed=4)
    assert first == second
    assert set(first["mean"]) == {"auc", "ks", "gini", "brier"}
    assert len(first["folds"]) == 3
    assert first["mean"]["auc"] == pytest.approx(np.mean([f["auc"] for f in first["folds"]]))
    assert first["std"]["auc"] >= 0
    other = cross_validate(LogisticScorecard(), X, y, k=3, seed=5)
    assert other["folds"] != first["folds"]


def test_holdout_split_is_stratified_and_seeded() -> None:
    X, y = portfolio(n=1000)
    X_train, X_test, y_train, y_test = holdout_split(X, y, test_size=0.3, seed=2)
    assert len(X_test) == 300 and len(X_train) == 700
    assert abs(y_test.mean() - y.mean()) < 0.005
    assert set(X_train.index).isdisjoint(X_test.index)
    again = holdout_split(X, y, test_size=0.3, seed=2)
    assert again[1].index.equals(X_test.index)
    np.testing.assert_array_equal(y_test, y[X_test.index.to_numpy()])
    with pytest.raises(ConfigError, match="'test_size' parameter of holdout_split"):
        holdout_split(X, y, test_size=1.5)


def test_out_of_time_split() -> None:
    X, y = portfolio(n=10)
    dates = pd.date_range("2026-01-01", periods=10, freq="MS")
    X_train, X_test, y_train, y_test = out_of_time_split(X, y, dates, "2026-07-01")
    assert len(X_train) == 6 and len(X_test) == 4
    np.testing.assert_array_equal(y_test, y[6:])
    with pytest.raises(ConfigError, match="leaves no out-of-time rows"):
        out_of_time_split(X, y, dates, "2030-01-01")
    with pytest.raises(DataError, match="missing or unreadable"):
        out_of_time_split(X, y, [None] * 10, "2026-07-01")
