"""WoeBinner: supervised bins, WOE convention, missing/other bins, IV, speed."""

from __future__ import annotations

import math
import pickle
import time
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError

from custrisk.errors import ConfigError, DataError
from custrisk.estimators.binning import MISSING_LABEL, OTHER_LABEL, SPECIAL_LABEL, WoeBinner
from custrisk.estimators.features import FeatureSpec, feature_specs_from_frame

RISKIER = FeatureSpec("x", direction="higher_is_riskier")
SAFER = FeatureSpec("x", direction="higher_is_safer")


def noisy_increasing(n: int = 5000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """x uniform; bad rate rises with x, with a dip the binner must smooth out."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 100, n)
    rate = 0.02 + 0.25 * (x / 100) ** 2
    rate[(x > 40) & (x < 50)] = 0.01  # a non-monotone dip
    y = (rng.random(n) < rate).astype(int)
    return pd.DataFrame({"x": x}), y


def value_rates(binner: WoeBinner, code: str = "x") -> list[float]:
    table = binner.bin_table([code])
    values = table[(table["label"] != MISSING_LABEL) & (table["count"] > 0)]
    return values["bad_rate"].tolist()


def test_bad_rate_is_monotone_in_the_risk_direction() -> None:
    X, y = noisy_increasing()
    riskier = WoeBinner(specs={"x": RISKIER}).fit(X, y)
    rates = value_rates(riskier)
    assert len(rates) >= 3
    assert all(a <= b for a, b in zip(rates, rates[1:], strict=False))
    # WOE then falls as the value grows
    woe = riskier.bins_["x"].woe[:-1]
    assert all(a >= b for a, b in zip(woe, woe[1:], strict=False))

    X_safe = X.assign(x=-X["x"])
    safer = WoeBinner(specs={"x": SAFER}).fit(X_safe, y)
    rates = value_rates(safer)
    assert all(a >= b for a, b in zip(rates, rates[1:], strict=False))


def test_without_constraints_the_dip_may_stay() -> None:
    X, y = noisy_increasing()
    binner = WoeBinner(monotonic=False).fit(X, y)
    rates = value_rates(binner)
    assert any(a > b for a, b in zip(rates, rates[1:], strict=False))
    assert binner.bins_["x"].trend == "none"


def test_missing_values_have_their_own_bin_which_is_always_present() -> None:
    X, y = noisy_increasing()
    X.loc[X.index[:300], "x"] = np.nan
    X["complete"] = np.arange(len(X), dtype=float)
    binner = WoeBinner(specs={"x": RISKIER}).fit(X, y)
    table = binner.bin_table()

    x_missing = table[(table["feature"] == "x") & (table["label"] == MISSING_LABEL)]
    assert len(x_missing) == 1
    assert x_missing["count"].item() == 300
    assert x_missing["bin"].item() == binner.bins_["x"].missing_bin
    # the value bins hold none of the missing rows
    x_values = table[(table["feature"] == "x") & (table["label"] != MISSING_LABEL)]
    assert x_values["count"].sum() == len(X) - 300

    complete_missing = table[(table["feature"] == "complete") & (table["label"] == MISSING_LABEL)]
    assert complete_missing["count"].item() == 0
    assert complete_missing["woe"].item() == 0.0
    assert complete_missing["empty"].item()

    new = pd.DataFrame({"x": [np.nan, 10.0], "complete": [np.nan, 5.0]})
    woe = binner.transform(new)
    assert woe.loc[0, "x"] == pytest.approx(x_missing["woe"].item())
    assert woe.loc[0, "complete"] == 0.0


def test_pandas_missing_markers_go_to_the_missing_bin() -> None:
    X = pd.DataFrame(
        {
            "n": pd.array([1, 2, None, 4] * 50, dtype="Int64"),
            "c": pd.Series(["a", None, "b", "a"] * 50, dtype="str"),
        }
    )
    y = np.array([0, 1, 0, 0] * 50)
    binner = WoeBinner(min_bin_share=0.01).fit(X, y)
    bins = binner.bin_indices(X)
    assert (bins["n"][X["n"].isna()] == binner.bins_["n"].missing_bin).all()
    assert (bins["c"][X["c"].isna()] == binner.bins_["c"].missing_bin).all()
    assert binner.bin_table(["n"])["count"].iloc[-1] == 50


def categorical_data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(1)
    shares = {"华东": 0.40, "华北": 0.30, "华南": 0.25, "西北": 0.03, "东北": 0.02}
    region = rng.choice(list(shares), size=4000, p=list(shares.values()))
    rate = pd.Series(region).map(
        {"华东": 0.05, "华北": 0.15, "华南": 0.30, "西北": 0.2, "东北": 0.2}
    )
    y = (rng.random(4000) < rate.to_numpy()).astype(int)
    return pd.DataFrame({"region": pd.Series(region, dtype="str")}), y


def test_rare_categories_are_merged_into_other() -> None:
    X, y = categorical_data()
    binner = WoeBinner(
        specs={"region": FeatureSpec("region", kind="categorical")}, min_category_share=0.05
    ).fit(X, y)
    fb = binner.bins_["region"]
    other = fb.other_bin
    assert OTHER_LABEL in fb.labels[other]
    assert fb.categories["西北"] == other
    assert fb.categories["东北"] == other
    assert "西北" in fb.labels[other] and "东北" in fb.labels[other]
    # frequent categories keep bins of their own
    assert len({fb.categories[c] for c in ("华东", "华北", "华南")}) == 3
    table = binner.bin_table()
    assert table["label"].str.startswith("{").sum() >= 3


def test_unseen_categories_go_to_the_other_bin() -> None:
    X, y = categorical_data()
    binner = WoeBinner(min_category_share=0.05).fit(X, y)  # str dtype: categorical
    fb = binner.bins_["region"]
    woe = binner.transform(pd.DataFrame({"region": ["海外", "西北", None]}))
    assert woe["region"].tolist() == pytest.approx(
        [fb.woe[fb.other_bin], fb.woe[fb.other_bin], fb.woe[fb.missing_bin]]
    )

    # no rare category: the other bin is empty and neutral
    frequent = X[X["region"].isin(["华东", "华北", "华南"])]
    y_frequent = y[frequent.index.to_numpy()]
    binner = WoeBinner(min_category_share=0.05).fit(frequent.reset_index(drop=True), y_frequent)
    fb = binner.bins_["region"]
    assert fb.labels[fb.other_bin] == OTHER_LABEL
    assert fb.counts[fb.other_bin] == 0
    assert binner.transform(pd.DataFrame({"region": ["海外"]}))["region"].item() == 0.0


def test_min_bin_share_is_respected() -> None:
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(size=3000), np.full(40, 50.0)])  # a tiny outlying bin
    y = (rng.random(x.size) < np.where(x > 10, 0.9, 0.1)).astype(int)
    X = pd.DataFrame({"x": x})
    for share in (0.05, 0.2):
        binner = WoeBinner(min_bin_share=share, chi2_pvalue=None).fit(X, y)
        table = binner.bin_table()
        values = table[table["label"] != MISSING_LABEL]
        assert (values["share"] >= share).all()


def test_max_bins_is_respected() -> None:
    rng = np.random.default_rng(4)
    x = rng.uniform(size=20000)
    y = (rng.random(x.size) < x * 0.5).astype(int)
    binner = WoeBinner(max_bins=4, chi2_pvalue=None, min_bin_share=0.01).fit(
        pd.DataFrame({"x": x}), y
    )
    assert binner.bins_["x"].n_bins == 5  # 4 value bins + the missing bin


def test_woe_is_ln_good_share_over_bad_share() -> None:
    X, y = noisy_increasing()
    binner = WoeBinner(specs={"x": RISKIER}).fit(X, y)
    table = binner.bin_table()
    goods, bads = int((y == 0).sum()), int(y.sum())
    for row in table[table["count"] > 0].itertuples():
        expected = math.log((row.goods / goods) / (row.bads / bads))
        assert row.woe == pytest.approx(expected)
        # safer than the portfolio (lower bad rate) means a positive WOE
        assert (row.woe > 0) == (row.bad_rate < y.mean())
    assert "ln(good share / bad share)" in table.attrs["woe_definition"]


def test_a_bin_without_bads_is_smoothed() -> None:
    X = pd.DataFrame({"c": ["a"] * 50 + ["b"] * 50})
    y = np.array([0] * 50 + [0] * 30 + [1] * 20)
    # by default a value bin needs a bad (min_bin_bads=1): here it may have none
    binner = WoeBinner(min_bin_bads=0, smoothing=0.5).fit(X, y)
    fb = binner.bins_["c"]
    a = fb.categories["a"]
    assert fb.bads[a] == 0
    assert fb.smoothed[a]
    assert fb.woe[a] == pytest.approx(math.log(((50 + 0.5) / 80) / ((0 + 0.5) / 20)))
    assert math.isfinite(fb.iv)
    b = fb.categories["b"]
    assert not fb.smoothed[b]
    assert fb.woe[b] == pytest.approx(math.log((30 / 80) / (20 / 20)))


def test_iv_of_a_hand_computed_two_bin_example() -> None:
    # x=0: 40 goods, 10 bads; x=1: 60 goods, 40 bads
    x = [0] * 50 + [1] * 100
    y = [0] * 40 + [1] * 10 + [0] * 60 + [1] * 40
    binner = WoeBinner(chi2_pvalue=None).fit(pd.DataFrame({"x": np.array(x, dtype=float)}), y)
    # good/bad shares: bin 0 = 0.4/0.2, bin 1 = 0.6/0.8
    expected = (0.4 - 0.2) * math.log(0.4 / 0.2) + (0.6 - 0.8) * math.log(0.6 / 0.8)
    assert binner.iv_["x"] == pytest.approx(expected)
    assert expected == pytest.approx(0.196166, abs=1e-6)


def test_few_distinct_values_get_one_bin_each() -> None:
    rng = np.random.default_rng(5)
    x = rng.integers(0, 4, 8000).astype(float)
    y = (rng.random(x.size) < 0.05 + 0.1 * x).astype(int)
    binner = WoeBinner(specs={"x": RISKIER}).fit(pd.DataFrame({"x": x}), y)
    fb = binner.bins_["x"]
    assert fb.labels == ["(-inf, 1)", "[1, 2)", "[2, 3)", "[3, +inf)", MISSING_LABEL]
    assert fb.counts[:-1].tolist() == [int((x == v).sum()) for v in range(4)]


def test_a_small_distinct_value_is_merged() -> None:
    x = np.array([0.0] * 500 + [1.0] * 10 + [2.0] * 490)
    y = np.array([0, 0, 0, 1] * 125 + [0, 1] * 5 + [0, 1, 1, 1] * 122 + [1, 1])
    binner = WoeBinner().fit(pd.DataFrame({"x": x}), y)
    fb = binner.bins_["x"]
    assert fb.n_bins == 3  # {0, 1} or {1, 2} merged, + missing
    assert fb.counts[:-1].min() >= 0.05 * x.size


def test_inputs_are_not_mutated() -> None:
    X, y = categorical_data()
    X["x"] = np.where(np.arange(len(X)) % 7 == 0, np.nan, np.arange(len(X), dtype=float))
    X_before, y_before = X.copy(deep=True), y.copy()
    specs = {"x": RISKIER}
    specs_before = dict(specs)
    binner = WoeBinner(specs=specs).fit(X, y)
    binner.transform(X)
    binner.bin_indices(X)
    pd.testing.assert_frame_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)
    assert specs == specs_before
    assert binner.specs is specs  # parameters are stored, not copied or changed


def test_transform_matches_the_scalar_lookup() -> None:
    X, y = categorical_data()
    X["x"] = np.random.default_rng(2).normal(size=len(X))
    X.loc[X.index[::11], "x"] = np.nan
    binner = WoeBinner().fit(X, y)
    bins = binner.bin_indices(X)
    for code in ("x", "region"):
        fb = binner.bins_[code]
        expected = [fb.bin_of(v) for v in X[code].tolist()]
        assert bins[code].tolist() == expected
    out = binner.transform(X)
    assert list(out.columns) == ["region", "x"]
    assert out.index.equals(X.index)
    assert out.dtypes.eq("float64").all()


def test_bin_table_is_tidy() -> None:
    X, y = categorical_data()
    binner = WoeBinner().fit(X, y)
    table = binner.bin_table()
    assert list(table.columns) == [
        "feature",
        "kind",
        "bin",
        "label",
        "lower",
        "upper",
        "count",
        "share",
        "goods",
        "bads",
        "bad_rate",
        "woe",
        "iv",
        "empty",
        "smoothed",
    ]
    assert table["count"].sum() == len(X)
    assert table["share"].sum() == pytest.approx(1.0)
    assert table["iv"].sum() == pytest.approx(binner.iv_["region"])
    assert (table["goods"] + table["bads"] == table["count"]).all()


def test_numeric_labels_read_as_intervals() -> None:
    X, y = noisy_increasing()
    binner = WoeBinner(specs={"x": RISKIER}).fit(X, y)
    labels = binner.bins_["x"].labels
    assert labels[0].startswith("(-inf, ")
    assert labels[-2].endswith(", +inf)")
    assert all(label.startswith("[") for label in labels[1:-2])
    cuts = binner.bins_["x"].cuts
    assert labels[1] == f"[{cuts[0]:.10g}, {cuts[1]:.10g})"


def test_parameters_are_validated_at_fit() -> None:
    X, y = noisy_increasing(200)
    WoeBinner(max_bins=0)  # __init__ only stores
    with pytest.raises(
        ConfigError,
        match=r"The 'max_bins' parameter of WoeBinner must be an int >= 1\. Got 0 instead\.",
    ):
        WoeBinner(max_bins=0).fit(X, y)
    with pytest.raises(ConfigError, match="'min_bin_share' parameter of WoeBinner"):
        WoeBinner(min_bin_share=0.8).fit(X, y)
    with pytest.raises(ConfigError, match="'smoothing' parameter of WoeBinner"):
        WoeBinner(smoothing=0).fit(X, y)
    with pytest.raises(ConfigError, match="'chi2_pvalue' parameter of WoeBinner"):
        WoeBinner(chi2_pvalue=1.5).fit(X, y)
    with pytest.raises(ConfigError, match="'direction' parameter of FeatureSpec"):
        FeatureSpec("x", direction="up")


def test_bad_inputs_are_reported() -> None:
    X, y = noisy_increasing(200)
    with pytest.raises(DataError, match="both goods"):
        WoeBinner().fit(X, np.zeros(len(X)))
    with pytest.raises(DataError, match="0/1"):
        WoeBinner().fit(X, np.full(len(X), 2))
    with pytest.raises(DataError, match="has 3 values but X has 200"):
        WoeBinner().fit(X, [0, 1, 0])
    with pytest.raises(DataError, match="not numbers"):
        WoeBinner(specs={"c": FeatureSpec("c")}).fit(pd.DataFrame({"c": ["1", "x"] * 100}), y)
    binner = WoeBinner().fit(X, y)
    with pytest.raises(DataError, match="lacks 1 feature column"):
        binner.transform(pd.DataFrame({"other": [1.0]}))
    with pytest.raises(NotFittedError):
        WoeBinner().transform(X)


def test_default_specs_follow_dtypes() -> None:
    X = pd.DataFrame(
        {
            "a": [1.0, 2.0],
            "b": pd.array([1, None], dtype="Int64"),
            "c": pd.Series(["x", "y"], dtype="str"),
            "d": pd.Series(["x", "y"], dtype="category"),
            "e": pd.Series(["x", None], dtype=object),
        }
    )
    kinds = {code: spec.kind for code, spec in feature_specs_from_frame(X).items()}
    assert kinds == {
        "a": "numeric",
        "b": "numeric",
        "c": "categorical",
        "d": "categorical",
        "e": "categorical",
    }


def test_fitted_binner_pickles() -> None:
    X, y = categorical_data()
    X["x"] = np.arange(len(X), dtype=float)
    binner = WoeBinner().fit(X, y)
    binner.bins_["x"].bin_of(3.0)  # fills the scalar lookup cache
    restored = pickle.loads(pickle.dumps(binner))
    pd.testing.assert_frame_equal(restored.transform(X), binner.transform(X))
    assert restored.bins_["x"].bin_of(3.0) == binner.bins_["x"].bin_of(3.0)


def test_binning_is_fast(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 100_000
    X = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(28)})
    X["region"] = pd.Series(rng.choice(list("abcdefg"), size=n), dtype="str")
    X["count"] = pd.array(rng.integers(0, 5, n), dtype="Int64")
    y = (rng.random(n) < 1 / (1 + np.exp(3 - X["x0"].to_numpy()))).astype(int)
    start = time.perf_counter()
    binner = WoeBinner().fit(X, y)
    binner.transform(X)
    assert time.perf_counter() - start < 10.0
    joblib.dump(binner, tmp_path / "binner.joblib")
    restored = joblib.load(tmp_path / "binner.joblib")
    assert restored.iv_ == binner.iv_


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(50, 600),
    distinct=st.integers(2, 60),
    direction=st.sampled_from(["higher_is_riskier", "higher_is_safer"]),
    share=st.sampled_from([0.0, 0.02, 0.05, 0.1]),
)
def test_bins_are_monotone_for_random_data(
    seed: int, n: int, distinct: int, direction: str, share: float
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, distinct, n).astype(float)
    x[rng.random(n) < 0.1] = np.nan
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    spec = FeatureSpec("x", direction=direction)
    binner = WoeBinner(specs={"x": spec}, min_bin_share=share, chi2_pvalue=None).fit(
        pd.DataFrame({"x": x}), y
    )
    rates = value_rates(binner)
    pairs = list(zip(rates, rates[1:], strict=False))
    if direction == "higher_is_riskier":
        assert all(a <= b + 1e-12 for a, b in pairs)
    else:
        assert all(a >= b - 1e-12 for a, b in pairs)
    table = binner.bin_table()
    values = table[table["label"] != MISSING_LABEL]
    n_values = int((~np.isnan(x)).sum())
    assert values["count"].sum() == n_values
    if len(values) > 1:
        # the share is of the value rows, rounded down to whole rows
        assert (values["count"] >= math.floor(share * n_values + 1e-9)).all()


def test_text_in_a_numeric_feature_is_an_error_at_transform() -> None:
    X, y = noisy_increasing(200)
    binner = WoeBinner().fit(X, y)
    with pytest.raises(DataError, match="column 'x': the numeric feature holds values"):
        binner.transform(pd.DataFrame({"x": pd.Series(["1.5", "abc"], dtype="str")}))
    # numbers written as text are read
    woe = binner.transform(pd.DataFrame({"x": pd.Series(["1.5", None], dtype="str")}))
    assert woe["x"].tolist() == pytest.approx(
        [binner.bins_["x"].woe[binner.bins_["x"].bin_of(1.5)], binner.bins_["x"].woe[-1]]
    )


# -- optimal binning ---------------------------------------------------------------------


def u_shaped(n: int = 6000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Bad rate high at both ends of x (a valley of the bad rate in the middle)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 100, n)
    rate = 0.03 + 0.3 * ((x - 50) / 50) ** 2
    y = (rng.random(n) < rate).astype(int)
    return pd.DataFrame({"x": x}), y


def test_a_u_shaped_feature_without_direction_keeps_its_valley() -> None:
    X, y = u_shaped()
    binner = WoeBinner().fit(X, y)  # default spec: direction none, trend from the data
    fb = binner.bins_["x"]
    assert fb.trend == "valley"
    rates = value_rates(binner)
    low = int(np.argmin(rates))
    assert 0 < low < len(rates) - 1
    assert all(a > b for a, b in zip(rates[:low], rates[1 : low + 1], strict=True))
    assert all(a < b for a, b in zip(rates[low:-1], rates[low + 1 :], strict=True))
    # a monotonic binning of the same data loses most of the information
    forced = WoeBinner(specs={"x": RISKIER}).fit(X, y)
    assert forced.bins_["x"].trend in ("increasing", "none")
    assert binner.iv_["x"] > 3 * forced.iv_["x"]


def test_a_monotonic_feature_without_direction_gets_a_monotonic_trend() -> None:
    X, y = noisy_increasing()
    binner = WoeBinner().fit(X, y)
    assert binner.bins_["x"].trend == "increasing"
    rates = value_rates(binner)
    assert all(a < b for a, b in zip(rates, rates[1:], strict=False))


def test_binning_finds_the_highest_iv_under_the_constraints() -> None:
    """Against every partition of the distinct values (brute force)."""
    import itertools

    rng = np.random.default_rng(12)
    x = rng.integers(0, 9, 3000).astype(float)
    y = rng.random(x.size) < np.array([5, 9, 6, 12, 10, 15, 14, 22, 30])[x.astype(int)] / 100
    y = y.astype(int)
    binner = WoeBinner(specs={"x": RISKIER}, min_bin_share=0.05).fit(pd.DataFrame({"x": x}), y)
    counts = np.bincount(x.astype(int), minlength=9).astype(float)
    bads = np.bincount(x.astype(int), weights=y, minlength=9)
    goods_total, bads_total = float((y == 0).sum()), float(y.sum())
    best = 0.0
    for r in range(9):
        for cuts in itertools.combinations(range(1, 9), r):
            edges = [0, *cuts, 9]
            n = [counts[a:b].sum() for a, b in zip(edges[:-1], edges[1:], strict=True)]
            k = [bads[a:b].sum() for a, b in zip(edges[:-1], edges[1:], strict=True)]
            if min(n) < 0.05 * x.size or min(k) < 1:
                continue
            rates = [b / c for b, c in zip(k, n, strict=True)]
            if any(a >= b for a, b in zip(rates, rates[1:], strict=False)) or len(n) > 10:
                continue
            iv = sum(
                ((c - b) / goods_total - b / bads_total)
                * math.log(((c - b) / goods_total) / (b / bads_total))
                for c, b in zip(n, k, strict=True)
            )
            best = max(best, iv)
    assert binner.iv_["x"] == pytest.approx(best, rel=1e-9)


def test_a_heavy_value_gets_a_bin_of_its_own() -> None:
    """A mass of zeros is not lumped with the small positive values next to it."""
    rng = np.random.default_rng(3)
    n = 8000
    amount = np.where(rng.random(n) < 0.15, 0.0, rng.lognormal(2.0, 1.0, n))
    rate = np.where(amount == 0, 0.35, np.where(amount < 5, 0.08, 0.15))
    y = (rng.random(n) < rate).astype(int)
    binner = WoeBinner().fit(pd.DataFrame({"amount": amount}), y)
    fb = binner.bins_["amount"]
    zero_bin = fb.bin_of(0.0)
    assert fb.bin_of(amount[amount > 0].min()) != zero_bin
    assert fb.counts[zero_bin] == int((amount == 0).sum())


def test_rare_but_telling_values_keep_their_own_bin() -> None:
    """A flag held by 3% of the rows, with most of them bad, is not merged away."""
    rng = np.random.default_rng(8)
    n = 3000
    flag = (rng.random(n) < 0.03).astype(float)
    y = (rng.random(n) < np.where(flag == 1, 0.8, 0.1)).astype(int)
    binner = WoeBinner().fit(pd.DataFrame({"flag": flag}), y)
    assert binner.bins_["flag"].n_bins == 3  # 0, 1 and the missing bin
    assert binner.iv_["flag"] > 0.2


def test_value_bins_have_the_least_goods_and_bads() -> None:
    rng = np.random.default_rng(9)
    x = rng.uniform(size=2000)
    y = (rng.random(x.size) < 0.02 + 0.2 * x).astype(int)
    for least in (1, 10):
        binner = WoeBinner(min_bin_goods=least, min_bin_bads=least, min_bin_share=0.01).fit(
            pd.DataFrame({"x": x}), y
        )
        fb = binner.bins_["x"]
        assert fb.bads[:-1].min() >= least
        assert fb.goods[:-1].min() >= least
        assert not fb.smoothed[:-1].any()


def test_adjacent_bins_differ_significantly_with_a_pvalue() -> None:
    X, y = noisy_increasing()
    loose = WoeBinner(specs={"x": RISKIER}).fit(X, y)
    strict = WoeBinner(specs={"x": RISKIER}, chi2_pvalue=0.01).fit(X, y)
    assert strict.bins_["x"].n_bins < loose.bins_["x"].n_bins
    table = strict.bin_table()
    values = table[table["label"] != MISSING_LABEL]
    for (_, a), (_, b) in zip(values.iloc[:-1].iterrows(), values.iloc[1:].iterrows(), strict=True):
        n1, b1, n2, b2 = a["count"], a["bads"], b["count"], b["bads"]
        g1, g2 = n1 - b1, n2 - b2
        chi2 = (n1 + n2) * (b1 * g2 - b2 * g1) ** 2 / (n1 * n2 * (b1 + b2) * (g1 + g2))
        assert chi2 >= 6.634  # the 1% critical value, 1 degree of freedom


def test_the_missing_bin_woe_is_shrunk_towards_zero_by_its_size() -> None:
    X, y = noisy_increasing()
    y = y.copy()
    X.loc[X.index[0], "x"] = np.nan
    y[0] = 1  # one missing value, and it is bad
    binner = WoeBinner(specs={"x": RISKIER}, woe_prior=20).fit(X, y)
    fb = binner.bins_["x"]
    goods, bads = float((y == 0).sum()), float(y.sum())
    p0 = bads / y.size
    expected = math.log(((0 + 20 * (1 - p0)) / goods) / ((1 + 20 * p0) / bads))
    assert fb.woe[fb.missing_bin] == pytest.approx(expected)
    assert abs(fb.woe[fb.missing_bin]) < 0.5  # unshrunk it would be about -2.3
    assert fb.smoothed[fb.missing_bin]
    # a large missing bin keeps nearly its own WOE
    X2, y2 = noisy_increasing()
    X2.loc[X2.index[:1500], "x"] = np.nan
    big = WoeBinner(specs={"x": RISKIER}, woe_prior=20).fit(X2, y2).bins_["x"]
    raw = math.log((big.goods[-1] / (y2 == 0).sum()) / (big.bads[-1] / y2.sum()))
    assert big.woe[-1] == pytest.approx(raw, abs=0.02)


def test_special_values_get_a_bin_of_their_own() -> None:
    X, y = noisy_increasing()
    X.loc[X.index[:200], "x"] = -999.0
    binner = WoeBinner(specs={"x": RISKIER}, special_values=[-999]).fit(X, y)
    fb = binner.bins_["x"]
    assert fb.labels[fb.special_bin] == SPECIAL_LABEL
    assert fb.special_bin == fb.missing_bin - 1
    assert fb.counts[fb.special_bin] == 200
    assert fb.bin_of(-999) == fb.special_bin
    assert fb.bin_of(-998.0) == 0
    bins = binner.bin_indices(pd.DataFrame({"x": [-999.0, np.nan, 50.0]}))["x"].tolist()
    assert bins == [fb.special_bin, fb.missing_bin, fb.bin_of(50.0)]
    # the special values take no part in the value bins
    assert fb.cuts.min() > 0
    # per feature: a mapping
    per_feature = WoeBinner(specs={"x": RISKIER}, special_values={"other": [-999]}).fit(X, y)
    assert per_feature.bins_["x"].special_bin == -1
    with pytest.raises(ConfigError, match="'special_values' parameter of WoeBinner"):
        WoeBinner(special_values=["-999"]).fit(X, y)


def test_the_woe_of_a_fold_comes_from_its_rows_only() -> None:
    X, y = noisy_increasing()
    binner = WoeBinner(specs={"x": RISKIER}).fit(X, y)
    bins = binner.bin_matrix(X)
    every = binner.woe_tables(bins, ["x"], y, np.arange(len(X)))[0]
    np.testing.assert_allclose(every, binner.bins_["x"].woe)
    rows = np.arange(len(X) // 2)
    half = binner.woe_tables(bins, ["x"], y, rows)[0]
    # the same bins, counted on the first half only
    counts = np.bincount(bins[rows, 0], minlength=len(every)).astype(float)
    bads = np.bincount(bins[rows, 0], weights=y[rows], minlength=len(every))
    goods = counts - bads
    expected = np.log((goods[:-1] / goods.sum()) / (bads[:-1] / bads.sum()))
    np.testing.assert_allclose(half[:-1], expected)
