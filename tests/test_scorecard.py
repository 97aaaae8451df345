"""LogisticScorecard: points, reasons, signs, selection, single-customer scoring."""

from __future__ import annotations

import io
import math
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from custrisk.errors import ConfigError, DataError
from custrisk.estimators.binning import WoeBinner
from custrisk.estimators.features import FeatureSpec
from custrisk.estimators.metrics import auc, holdout_split
from custrisk.estimators.scaling import Scaling
from custrisk.estimators.scorecard import LogisticScorecard, bare_floor_pd
from custrisk.estimators.selection import select_features

SPECS = {
    "overdue_days": FeatureSpec(
        "overdue_days",
        direction="higher_is_riskier",
        label_zh="逾期天数",
        label_en="Days overdue",
        unit="days",
    ),
    "income": FeatureSpec(
        "income", direction="higher_is_safer", label_zh="收入", label_en="Income", unit="CNY"
    ),
    "region": FeatureSpec("region", kind="categorical", label_zh="地区", label_en="Region"),
    "noise": FeatureSpec("noise", label_zh="噪声", label_en="Noise"),
}


def portfolio(n: int = 4000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    overdue = rng.gamma(1.5, 8.0, n)
    income = rng.lognormal(11, 0.5, n)
    region = rng.choice(["华东", "华北", "西北"], n, p=[0.5, 0.3, 0.2])
    logit = (
        -3.0 + 0.06 * overdue - 0.9 * (np.log(income) - 11) + np.where(region == "西北", 0.8, 0.0)
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = pd.DataFrame(
        {
            "overdue_days": overdue,
            "income": np.where(rng.random(n) < 0.05, np.nan, income),
            "region": pd.Series(region, dtype="str"),
            "noise": rng.normal(size=n),
        }
    )
    return X, y


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return portfolio()


@pytest.fixture(scope="module")
def card(data: tuple[pd.DataFrame, np.ndarray]) -> LogisticScorecard:
    X, y = data
    return LogisticScorecard(binner=WoeBinner(specs=SPECS)).fit(X, y)


def test_fit_learns_a_sensible_model(
    card: LogisticScorecard, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, y = data
    assert card.features_ == ["overdue_days", "income", "region"]
    assert card.selection_.dropped["noise"].startswith("IV ")
    assert (card.coef_ < 0).all()
    assert card.sign_warnings_ == []
    assert auc(y, card.predict_pd(X)) > 0.7
    proba = card.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert card.classes_.tolist() == [0, 1]
    assert set(np.unique(card.predict(X))) <= {0, 1}


@pytest.mark.parametrize("intercept_points", ["distribute", "base"])
def test_score_is_exactly_the_sum_of_points(
    data: tuple[pd.DataFrame, np.ndarray], intercept_points: str
) -> None:
    X, y = data
    card = LogisticScorecard(binner=WoeBinner(specs=SPECS), intercept_points=intercept_points).fit(
        X, y
    )
    scores = card.predict_score(X)
    assert scores.dtype == np.int64
    table = card.points_table()
    lookup = {(r.feature, r.bin): r.points for r in table.itertuples()}
    bins = card.binner_.bin_indices(X)
    base = lookup.get(("(base)", 0), 0)
    by_table = [
        base + sum(lookup[(code, bins.at[i, code])] for code in card.features_) for i in X.index
    ]
    assert scores.tolist() == by_table
    if intercept_points == "base":
        assert base == card.base_points_ != 0
    # the integer score tracks the model's PD through the scaling, within the rounding of
    # every points row (the characteristics, and the base row when there is one)
    unrounded = card.scaling_.score_from_pd(card.predict_pd(X))
    rows = len(card.features_) + (intercept_points == "base")
    assert np.abs(scores - unrounded).max() <= rows / 2 + 1e-6


def test_points_table(card: LogisticScorecard) -> None:
    table = card.points_table()
    assert list(table.columns) == [
        "feature",
        "label_zh",
        "label_en",
        "bin",
        "bin_label",
        "woe",
        "coefficient",
        "points",
    ]
    assert table["points"].dtype == np.int64
    assert set(table["feature"]) == set(card.features_)
    income = table[table["feature"] == "income"]
    assert income["label_zh"].unique().tolist() == ["收入"]
    assert income["bin_label"].iloc[-1] == "missing"
    # safer bins (higher WOE) earn more points
    for _, group in table.groupby("feature"):
        ordered = group.sort_values("woe")
        assert ordered["points"].is_monotonic_increasing
    assert table.attrs["woe_definition"] == "WOE = ln(good share / bad share)"
    assert table.attrs["scaling"]["base_score"] == 600.0
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    back = pd.read_csv(io.StringIO(buffer.getvalue()))
    assert back["points"].tolist() == table["points"].tolist()


def test_points_follow_the_formula(card: LogisticScorecard) -> None:
    factor = card.scaling_.factor
    share = (card.scaling_.offset - factor * card.intercept_) / len(card.features_)
    for code, coef in zip(card.features_, card.coef_, strict=True):
        woe = card.binner_.bins_[code].woe
        np.testing.assert_array_equal(card.points_[code], np.round(-factor * coef * woe + share))


def symmetric_pair() -> tuple[pd.DataFrame, np.ndarray]:
    """Two binary features with identical, independent effects (swapping a and b gives
    the same data)."""
    rows = []
    # (a, b): (goods, bads)
    counts = {(0, 0): (400, 10), (0, 1): (300, 40), (1, 0): (300, 40), (1, 1): (100, 60)}
    for (a, b), (goods, bads) in counts.items():
        rows += [(a, b, 0)] * goods + [(a, b, 1)] * bads
    frame = pd.DataFrame(rows, columns=["a", "b", "bad"]).astype(float)
    return frame[["a", "b"]], frame["bad"].astype(int).to_numpy()


def test_reason_codes_on_a_two_feature_toy_model() -> None:
    X, y = symmetric_pair()
    specs = {
        "a": FeatureSpec("a", direction="higher_is_riskier", label_zh="甲", label_en="A"),
        "b": FeatureSpec("b", direction="higher_is_riskier", label_zh="乙", label_en="B"),
    }
    card = LogisticScorecard(binner=WoeBinner(specs=specs, chi2_pvalue=None)).fit(X, y)
    # WOE by hand: goods 1100, bads 150; a=0 holds 700 goods and 50 bads
    assert card.binner_.bins_["a"].woe[0] == pytest.approx(math.log((700 / 1100) / (50 / 150)))
    assert card.binner_.bins_["a"].woe[1] == pytest.approx(math.log((400 / 1100) / (100 / 150)))
    assert card.coef_[0] == pytest.approx(card.coef_[1], rel=1e-4)
    pa, pb = card.points_["a"], card.points_["b"]
    assert pa.tolist() == pb.tolist()
    lost = int(pa[0] - pa[1])
    assert lost > 0

    customers = pd.DataFrame({"a": [1.0, 0.0, 1.0, 0.0], "b": [1.0, 1.0, 0.0, 0.0]})
    reasons = card.reasons(customers, top=3)
    by_row = dict(list(reasons.groupby("row")))
    # row 0: both characteristics below their maximum by the same points: feature order
    assert by_row[0]["code"].tolist() == ["a", "b"]
    assert by_row[0]["points_lost"].tolist() == [lost, lost]
    assert by_row[0]["rank"].tolist() == [1, 2]
    assert by_row[0]["label_zh"].tolist() == ["甲", "乙"]
    assert by_row[0]["value"].tolist() == [1.0, 1.0]
    assert by_row[0]["bin_label"].tolist() == ["[1, +inf)", "[1, +inf)"]
    assert by_row[1]["code"].tolist() == ["b"]
    assert by_row[2]["code"].tolist() == ["a"]
    assert 3 not in by_row  # at the maximum everywhere: no reason
    # top=1 keeps the first by rank
    assert card.reasons(customers, top=1).groupby("row")["code"].first().to_dict() == {
        0: "a",
        1: "b",
        2: "a",
    }
    # the tie-break follows the feature order of the model, deterministically
    swapped = LogisticScorecard(binner=WoeBinner(specs=specs, chi2_pvalue=None)).fit(
        X[["b", "a"]], y
    )
    first = swapped.reasons(customers[["b", "a"]], top=3)
    assert first[first["row"] == 0]["code"].tolist() == ["b", "a"]


def test_reasons_rank_by_points_lost(
    card: LogisticScorecard, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, _ = data
    reasons = card.reasons(X.iloc[:200], top=3)
    points = card.points_matrix(X.iloc[:200])
    max_points = np.array([card.points_[c].max() for c in card.features_])
    for row, group in reasons.groupby("row"):
        lost = max_points - points[X.index.get_loc(row)]
        expected = sorted(
            (i for i in range(len(lost)) if lost[i] > 0), key=lambda i: (-lost[i], i)
        )[:3]
        assert group["code"].tolist() == [card.features_[i] for i in expected]
        assert group["points_lost"].tolist() == [lost[i] for i in expected]
    missing_income = X.index[X["income"].isna()][:5]
    values = card.reasons(X.loc[missing_income], top=3)
    assert values[values["code"] == "income"]["value"].isna().all()


def test_wrong_sign_is_warned_and_can_be_dropped() -> None:
    rng = np.random.default_rng(7)
    n = 6000
    z1 = rng.normal(size=n)
    z2 = 0.6 * z1 + 0.8 * rng.normal(size=n)
    # z2 looks risky alone (it follows z1) but is safe once z1 is known
    logit = -2.5 + 2.0 * z1 - 0.8 * z2
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = pd.DataFrame({"z1": z1, "z2": z2})
    card = LogisticScorecard(selection=False, drop_wrong_sign=False).fit(X, y)
    assert card.sign_warnings_ == ["z2"]
    assert card.coef_[1] > 0
    dropped = LogisticScorecard(selection=False).fit(X, y)  # drop_wrong_sign by default
    assert dropped.features_ == ["z1"]
    assert dropped.sign_warnings_ == []
    assert "wrong sign" in dropped.selection_.dropped["z2"]


def test_selection_reasons(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    X = X.assign(overdue_copy=X["overdue_days"] * 1.01 + 0.001)
    specs = {**SPECS, "overdue_copy": FeatureSpec("overdue_copy", direction="higher_is_riskier")}
    binner = WoeBinner(specs=specs).fit(X, y)
    result = select_features(binner, X, force_out=["region"])
    assert result.dropped["region"] == "forced out in config"
    assert result.dropped["noise"] == f"IV {binner.iv_['noise']:.3g} < 0.01"
    # the copy has the same IV up to ties: the first in IV order stays, naming it
    kept, copy = sorted(["overdue_days", "overdue_copy"], key=lambda c: -binner.iv_[c])
    assert kept in result.selected
    assert result.dropped[copy] == f"|r|=1.00 with {kept} (IV {binner.iv_[kept]:.2f})"
    assert result.selected == tuple(c for c in binner.features_ if c in ("income", kept))

    forced = select_features(binner, X, force_in=["noise", copy])
    assert "noise" in forced.selected and copy in forced.selected
    assert forced.dropped[kept].startswith(f"|r|=1.00 with {copy}")

    with pytest.raises(ConfigError, match="'force_in' parameter of select_features names unknown"):
        select_features(binner, X, force_in=["nope"])
    with pytest.raises(ConfigError, match="both forced in and forced out: noise"):
        select_features(binner, X, force_in=["noise"], force_out=["noise"])
    with pytest.raises(ConfigError, match=r"'max_corr' parameter of select_features"):
        select_features(binner, X, max_corr=0)
    with pytest.raises(ConfigError, match="No feature passed the selection"):
        LogisticScorecard(min_iv=100.0).fit(X, y)


def test_same_data_and_seed_give_identical_pds() -> None:
    X, y = portfolio(seed=3)
    runs = []
    for _ in range(2):
        X_train, X_test, y_train, _ = holdout_split(X, y, test_size=0.3, seed=11)
        model = LogisticScorecard(binner=WoeBinner(specs=SPECS)).fit(X_train, y_train)
        runs.append(model.predict_pd(X_test))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_score_one_equals_batch_scoring(
    card: LogisticScorecard, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, _ = data
    sample = pd.concat(
        [
            X.iloc[:40],
            pd.DataFrame(
                {
                    "overdue_days": [np.nan, 1e9],
                    "income": [np.nan, -5.0],
                    "region": pd.Series(["海外", None], dtype="str"),
                    "noise": [0.0, 0.0],
                },
                index=[-1, -2],
            ),
        ]
    )
    pds = card.predict_pd(sample)
    scores = card.predict_score(sample)
    reasons = card.reasons(sample, top=3)
    for position, (index, row) in enumerate(sample.iterrows()):
        one = card.score_one(row.to_dict(), top=3)
        assert one["pd"] == pytest.approx(pds[position], rel=1e-12)
        assert one["score"] == scores[position]
        expected = reasons[reasons["row"] == index]
        assert [r["code"] for r in one["reasons"]] == expected["code"].tolist()
        assert [r["points_lost"] for r in one["reasons"]] == expected["points_lost"].tolist()
        assert [r["bin_label"] for r in one["reasons"]] == expected["bin_label"].tolist()
    one = card.score_one({"overdue_days": 3, "income": None, "region": "华东"})
    assert isinstance(one["score"], int)
    with pytest.raises(DataError, match="lacks 1 feature"):
        card.score_one({"overdue_days": 3, "income": 1.0})
    with pytest.raises(DataError, match="not a number"):
        card.score_one({"overdue_days": "many", "income": 1.0, "region": "华东"})


def test_bare_floor_equals_predict_pd(card: LogisticScorecard) -> None:
    X, _ = portfolio(n=500, seed=9)
    X.loc[X.index[:10], "overdue_days"] = np.nan
    columns = []
    for code in card.features_:
        if card.binner_.bins_[code].kind == "numeric":
            columns.append(X[code].to_numpy(dtype=float))
        else:
            columns.append(card.binner_.bin_matrix(X, [code])[:, 0].astype(float))
    floor = bare_floor_pd(card, np.column_stack(columns))
    np.testing.assert_allclose(floor, card.predict_pd(X), rtol=1e-12)
    with pytest.raises(DataError, match="must have shape"):
        bare_floor_pd(card, np.zeros((3, 1)))


def test_special_values_score_the_same_in_batch_single_and_bare_floor() -> None:
    X, y = portfolio(3000, seed=10)
    X.loc[X.index[:150], "overdue_days"] = -999.0
    X.loc[X.index[150:160], "overdue_days"] = np.nan
    card = LogisticScorecard(
        binner=WoeBinner(specs=SPECS, special_values={"overdue_days": [-999]}),
        selection=False,
    ).fit(X, y)
    fb = card.binner_.bins_["overdue_days"]
    assert fb.special_bin == fb.missing_bin - 1
    rows = X.iloc[[0, 155, 400]]
    bins = card.binner_.bin_indices(rows)["overdue_days"].tolist()
    assert bins == [fb.special_bin, fb.missing_bin, fb.bin_of(rows["overdue_days"].iloc[2])]
    columns = [
        rows[c].to_numpy(dtype=float)
        if card.binner_.bins_[c].kind == "numeric"
        else card.binner_.bin_matrix(rows, [c])[:, 0].astype(float)
        for c in card.features_
    ]
    np.testing.assert_allclose(
        bare_floor_pd(card, np.column_stack(columns)), card.predict_pd(rows), rtol=1e-12
    )
    for i in range(len(rows)):
        one = card.score_one(rows.iloc[i].to_dict())
        assert one["score"] == card.predict_score(rows)[i]
        assert one["pd"] == pytest.approx(card.predict_pd(rows)[i], rel=1e-12)


def test_inputs_are_not_mutated(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    X_before, y_before = X.copy(deep=True), y.copy()
    binner = WoeBinner(specs=SPECS)
    card = LogisticScorecard(binner=binner).fit(X, y)
    card.predict_score(X)
    card.reasons(X)
    pd.testing.assert_frame_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)
    assert not hasattr(binner, "bins_")  # the binner parameter is cloned, not fitted


def test_joblib_round_trip(
    card: LogisticScorecard, data: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    X, _ = data
    card.score_one(X.iloc[0].to_dict())  # builds the single-customer cache
    path = tmp_path / "card.joblib"
    joblib.dump(card, path)
    restored = joblib.load(path)
    np.testing.assert_array_equal(restored.predict_pd(X), card.predict_pd(X))
    np.testing.assert_array_equal(restored.predict_score(X), card.predict_score(X))
    assert restored.score_one(X.iloc[0].to_dict()) == card.score_one(X.iloc[0].to_dict())
    assert "_compiled" not in card.__getstate__()


def test_model_card_export(card: LogisticScorecard) -> None:
    exported = card.to_dict()
    assert exported["features"] == card.features_
    assert set(exported["coefficients"]) == set(card.features_)
    assert exported["scaling"]["pdo"] == 20.0
    assert exported["bins"]["region"]["kind"] == "categorical"
    assert exported["points"]["income"] == card.points_["income"].tolist()
    import json

    json.dumps(exported, allow_nan=False)


def test_parameters_are_validated(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    with pytest.raises(
        ConfigError,
        match=r"The 'C' parameter of LogisticScorecard must be a float in the range \(0, inf\]\. "
        r"Got 0 instead\.",
    ):
        LogisticScorecard(C=0).fit(X, y)
    with pytest.raises(ConfigError, match="'intercept_points' parameter of LogisticScorecard"):
        LogisticScorecard(intercept_points="spread").fit(X, y)
    with pytest.raises(ConfigError, match="'binner' parameter of LogisticScorecard"):
        LogisticScorecard(binner="woe").fit(X, y)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="preset must be one of"):
        LogisticScorecard(scaling="fico").fit(X, y)
    with pytest.raises(NotFittedError):
        LogisticScorecard().predict_pd(X)


def test_custom_scaling_moves_the_scores(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    default = LogisticScorecard(binner=WoeBinner(specs=SPECS)).fit(X, y)
    wide = LogisticScorecard(binner=WoeBinner(specs=SPECS), scaling="wide_range").fit(X, y)
    np.testing.assert_allclose(wide.predict_pd(X), default.predict_pd(X))
    assert wide.scaling_ == Scaling.from_preset("wide_range")
    assert np.corrcoef(wide.predict_score(X), default.predict_score(X))[0, 1] > 0.999


# -- regularisation, stepwise selection, calibration -------------------------------------


def test_C_is_chosen_by_cross_validation_with_the_one_se_rule(
    card: LogisticScorecard,
) -> None:
    results = card.cv_results_
    Cs, mean, se = results["Cs"], results["mean_log_loss"], results["se_log_loss"]
    best = Cs.index(results["best_C"])
    chosen = Cs.index(results["chosen_C"])
    assert card.C_ == results["chosen_C"]
    assert mean[best] == min(mean)
    # the strongest penalty (smallest C) within one standard error of the best
    assert chosen <= best
    assert mean[chosen] <= mean[best] + se[chosen] + 1e-12
    assert all(mean[i] > mean[best] + se[i] for i in range(chosen))
    assert card.to_dict()["C"] == card.C_
    fixed = LogisticScorecard(binner=WoeBinner(specs=SPECS), C=0.5).fit(*portfolio(1500))
    assert fixed.C_ == 0.5 and fixed.cv_results_ == {}


def test_stepwise_selection_drops_what_adds_no_cv_auc_and_explains_it() -> None:
    rng = np.random.default_rng(21)
    n = 3000
    X = pd.DataFrame({f"signal{i}": rng.normal(size=n) for i in range(3)})
    for i in range(4):
        X[f"noise{i}"] = rng.normal(size=n)
    logit = -1.5 + X["signal0"] + 0.7 * X["signal1"] + 0.4 * X["signal2"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    specs = {c: FeatureSpec(c, monotonic="none") for c in X.columns}  # noise gets bins too
    card = LogisticScorecard(
        binner=WoeBinner(specs=specs), min_iv=0.0, max_vif=None, min_auc_gain=0.0
    ).fit(X, y)
    assert {"signal0", "signal1", "signal2"} <= set(card.features_)
    removed = [step["removed"] for step in card.selection_.steps[1:]]
    assert removed and all(name.startswith("noise") for name in removed)
    for name in removed:
        assert "CV AUC" in card.selection_.dropped[name]
    assert card.to_dict()["selection"]["steps"] == [dict(s) for s in card.selection_.steps]
    kept = LogisticScorecard(binner=WoeBinner(specs=specs), min_iv=0.0, stepwise="none").fit(X, y)
    assert len(kept.features_) > len(card.features_)


def test_the_vif_limit_drops_the_most_collinear_feature() -> None:
    rng = np.random.default_rng(5)
    n = 4000
    a, b = rng.normal(size=n), rng.normal(size=n)
    X = pd.DataFrame({"a": a, "b": b, "a_plus_b": a + b + 0.3 * rng.normal(size=n)})
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1.5 + a + b)))).astype(int)
    binner = WoeBinner(specs={c: FeatureSpec(c, direction="higher_is_riskier") for c in X}).fit(
        X, y
    )
    result = select_features(binner, X, max_corr=0.99, max_vif=3.0)
    assert len(result.selected) == 2
    (name, reason), *_ = result.dropped.items()
    assert reason.startswith("VIF ") and reason.endswith("> 3")


def test_platt_calibration_is_folded_into_the_points() -> None:
    X, y = portfolio(3000, seed=4)
    card = LogisticScorecard(binner=WoeBinner(specs=SPECS), calibration="platt").fit(X, y)
    cal = card.calibration_
    assert cal["method"] == "platt" and cal["b"] > 0
    raw = LogisticScorecard(binner=WoeBinner(specs=SPECS), calibration="none").fit(X, y)
    np.testing.assert_allclose(card.coef_, cal["b"] * raw.coef_)
    assert card.intercept_ == pytest.approx(cal["a"] + cal["b"] * raw.intercept_)
    # still one linear model: the score is the sum of the points, the PD its own
    assert (card.predict_score(X) == card.points_matrix(X).sum(axis=1)).all()
    unrounded = card.scaling_.score_from_pd(card.predict_pd(X))
    assert np.abs(card.predict_score(X) - unrounded).max() <= len(card.features_) / 2 + 1e-6
    auto = LogisticScorecard(binner=WoeBinner(specs=SPECS)).fit(X, y)
    expected = "platt" if cal["cv_brier_after"] < cal["cv_brier_before"] else "none"
    assert auto.calibration_["method"] == expected
