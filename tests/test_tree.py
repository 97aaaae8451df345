"""TreeModel: CV pruning, Saabas contributions, encoding, single-customer scoring."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.tree import DecisionTreeClassifier

from custrisk.errors import ConfigError, DataError
from custrisk.estimators._pruning import prune_map as _prune_map
from custrisk.estimators._pruning import pruning_alphas as _pruning_alphas
from custrisk.estimators.features import FeatureSpec
from custrisk.estimators.metrics import auc
from custrisk.estimators.tree import TreeModel

SPECS = {
    "overdue_days": FeatureSpec(
        "overdue_days", direction="higher_is_riskier", label_zh="逾期天数", label_en="Days overdue"
    ),
    "income": FeatureSpec(
        "income", direction="higher_is_safer", label_zh="收入", label_en="Income"
    ),
    "region": FeatureSpec("region", kind="categorical", label_zh="地区", label_en="Region"),
    "noise": FeatureSpec("noise"),
}


def portfolio(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    overdue = rng.gamma(1.5, 8.0, n)
    income = rng.lognormal(11, 0.5, n)
    region = rng.choice(["华东", "华北", "西北", "东北"], n, p=[0.5, 0.3, 0.195, 0.005])
    logit = -3.0 + 0.07 * overdue - 1.0 * (np.log(income) - 11) + np.where(region == "西北", 1, 0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = pd.DataFrame(
        {
            "overdue_days": overdue,
            "income": np.where(rng.random(n) < 0.1, np.nan, income),
            "region": pd.Series(np.where(rng.random(n) < 0.03, None, region), dtype="str"),
            "noise": rng.normal(size=n),
        }
    )
    return X, y


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return portfolio()


@pytest.fixture(scope="module")
def model(data: tuple[pd.DataFrame, np.ndarray]) -> TreeModel:
    X, y = data
    return TreeModel(specs=SPECS).fit(X, y)


def test_pruning_picks_an_alpha_by_cross_validation(
    model: TreeModel, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, y = data
    results = model.cv_results_
    assert results["metric"] == "log_loss"
    assert model.ccp_alpha_ in results["alphas"]
    assert model.ccp_alpha_ == results["best_alpha"]
    chosen = results["alphas"].index(model.ccp_alpha_)
    assert results["mean"][chosen] == pytest.approx(min(results["mean"]), abs=1e-12)
    assert len(results["alphas"]) <= 20
    assert results["alphas"] == sorted(results["alphas"])
    # the chosen alpha prunes: fewer leaves than the unpruned tree of the same limits
    unpruned = DecisionTreeClassifier(
        max_depth=model.max_depth, min_samples_leaf=model.min_samples_leaf, random_state=0
    ).fit(model.encode(X), y)
    assert model.ccp_alpha_ > 0
    assert model.tree_model_.get_n_leaves() < unpruned.get_n_leaves()
    assert auc(y, model.predict_pd(X)) > 0.7


def test_pruning_path_and_pruned_trees_match_scikit_learn(
    model: TreeModel, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, y = data
    encoded = model.encode(X)
    full = DecisionTreeClassifier(max_depth=5, min_samples_leaf=0.02, random_state=0)
    path = full.cost_complexity_pruning_path(encoded, y)
    tree = full.fit(encoded, y).tree_
    cost = tree.impurity * tree.weighted_n_node_samples / tree.weighted_n_node_samples[0]
    ours = _pruning_alphas(tree.children_left, tree.children_right, cost)
    np.testing.assert_allclose(np.unique(ours), np.unique(path.ccp_alphas), atol=1e-12)
    for alpha in np.unique(path.ccp_alphas)[::3]:
        leaf_of = _prune_map(tree.children_left, tree.children_right, cost, alpha + 1e-12)
        leaves = {leaf_of[n] for n in range(tree.node_count) if tree.children_left[n] == -1}
        pruned = DecisionTreeClassifier(
            max_depth=5, min_samples_leaf=0.02, random_state=0, ccp_alpha=alpha + 1e-12
        ).fit(encoded, y)
        assert len(leaves) == pruned.get_n_leaves()


def test_pure_noise_is_pruned_to_a_small_tree() -> None:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({f"x{i}": rng.normal(size=2000) for i in range(3)})
    y = (rng.random(2000) < 0.2).astype(int)
    unbounded = TreeModel(min_samples_leaf=20, min_leaves=1).fit(X, y)
    assert unbounded.tree_model_.get_n_leaves() <= 3
    # the default keeps 4 leaves at least, and calibration keeps their PDs near the bad rate
    model = TreeModel(min_samples_leaf=20).fit(X, y)
    assert 4 <= model.tree_model_.get_n_leaves() <= 8
    assert model.calibration_["method"] != "none"
    pd_bad = model.predict_pd(X)
    assert pd_bad.max() - pd_bad.min() < 0.1


def test_roc_auc_metric_and_fixed_alpha(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    by_auc = TreeModel(specs=SPECS, cv_metric="roc_auc", cv=3).fit(X, y)
    assert by_auc.cv_results_["metric"] == "roc_auc"
    assert by_auc.ccp_alpha_ in by_auc.cv_results_["alphas"]
    fixed = TreeModel(specs=SPECS, ccp_alpha=0.0).fit(X, y)
    assert fixed.ccp_alpha_ == 0.0 and fixed.cv_results_ == {}


def test_contributions_plus_bias_equal_the_leaf_pd(
    model: TreeModel, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, _ = data
    contributions = model.contributions(X)
    assert list(contributions.columns) == list(X.columns)
    np.testing.assert_allclose(
        model.bias_ + contributions.sum(axis=1).to_numpy(), model.predict_pd(X), atol=1e-12
    )
    # uncalibrated, the root's PD is the (smoothed) portfolio bad rate
    raw = TreeModel(specs=SPECS, calibration="none", ccp_alpha=model.ccp_alpha_).fit(*data)
    assert raw.bias_ == pytest.approx(raw.bad_rate_, abs=1e-3)
    # a feature the tree never splits on contributes nothing
    used = {model.encoded_source_[f] for f in model.tree_model_.tree_.feature if f >= 0}
    for code in set(X.columns) - used:
        assert (contributions[code] == 0).all()


def _excess_by_walk(model: TreeModel, row: np.ndarray) -> dict[str, float]:
    """Per feature, the PD of each branch taken above its sibling's (0 if lower), summed
    along the row's path: the definition of a tree reason's impact, walked split by split."""
    tree = model.tree_model_.tree_
    node, out = 0, dict.fromkeys(model.features_, 0.0)
    while tree.children_left[node] != -1:
        left, right = tree.children_left[node], tree.children_right[node]
        if row[tree.feature[node]] <= tree.threshold[node]:
            taken, other = left, right
        else:
            taken, other = right, left
        code = model.encoded_source_[tree.feature[node]]
        out[code] += max(model.node_pd_[taken] - model.node_pd_[other], 0.0)
        node = taken
    return out


def test_reasons_are_the_pd_above_the_safer_branches(
    model: TreeModel, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, _ = data
    sample = X.iloc[:300]
    reasons = model.reasons(sample, top=3)
    again = model.reasons(sample, top=3)
    pd.testing.assert_frame_equal(reasons, again)
    assert list(reasons.columns) == [
        "row",
        "rank",
        "code",
        "label_zh",
        "label_en",
        "value",
        "contribution",
    ]
    assert (reasons["contribution"] > 0).all()
    encoded = model.encode(sample).astype(np.float32)
    by_row = dict(list(reasons.groupby("row")))
    for position, row in enumerate(sample.index):
        excess = _excess_by_walk(model, encoded[position])
        order = sorted(
            (c for c in excess if excess[c] > 0),
            key=lambda c: (-excess[c], model.features_.index(c)),
        )[:3]
        group = by_row.get(row, reasons.iloc[:0])
        assert group["code"].tolist() == order
        assert group["rank"].tolist() == list(range(1, len(order) + 1))
        np.testing.assert_allclose(group["contribution"], [excess[c] for c in order])
    first = reasons.iloc[0]
    assert first["label_en"] == SPECS[first["code"]].label_en


def test_a_riskier_branch_is_a_reason_though_the_path_lowered_the_pd() -> None:
    """A tree's reasons were the features that raised the PD along the path (Saabas): a
    customer sent to the safe side by ``x`` and then to its riskier half by ``x`` again
    had a net change below 0 and no reason. Now each split's excess over its safer
    branch counts, as a scorecard counts points lost against the best bin."""
    x = np.repeat(np.arange(100.0), 20)
    i = np.arange(x.size)
    rate = np.where(x < 20, 0.6, np.where(x < 60, 0.02, 0.2))  # risky, safe, middling
    y = ((i * 0.618034) % 1 < rate).astype(int)
    X = pd.DataFrame({"x": x, "other": (i % 7).astype(float)})
    specs = {"x": FeatureSpec("x"), "other": FeatureSpec("other")}
    model = TreeModel(
        specs=specs, ccp_alpha=0.0, max_depth=2, min_samples_leaf=100, calibration="none"
    ).fit(X, y)
    tree = model.tree_model_.tree_
    assert model.encoded_source_[tree.feature[0]] == "x"  # x < 20 | x >= 20
    safe = tree.children_right[0]
    assert model.encoded_source_[tree.feature[safe]] == "x"  # 20..59 | 60..
    best, middling = tree.children_left[safe], tree.children_right[safe]
    new = pd.DataFrame({"x": [80.0, 40.0], "other": [0.0, 0.0]})
    # the path to the middling leaf lowered the PD: the old rule gave no reason
    assert (model.contributions(new).iloc[0] <= 0).all()
    reasons = model.reasons(new)
    assert reasons["row"].tolist() == [0]  # the best-leaf customer (x = 40) has none
    assert reasons["code"].tolist() == ["x"]
    gap = model.node_pd_[middling] - model.node_pd_[best]
    assert gap > 0.1 and reasons["contribution"].tolist() == [gap]
    assert model.predict_pd(new).tolist() == [model.node_pd_[middling], model.node_pd_[best]]
    assert model.node_pd_[best] == model.node_pd_[tree.children_left == -1].min()
    ones = [model.score_one(r) for r in new.to_dict("records")]
    assert [[r["code"] for r in one["reasons"]] for one in ones] == [["x"], []]
    assert ones[0]["reasons"][0]["contribution"] == gap
    table = model.score_table(new)
    assert table.reason_feature[:, 0].tolist() == [model.features_.index("x"), -1]


def test_categorical_encoding_handles_unseen_and_missing(
    model: TreeModel, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    codes = model.category_codes_["region"]
    # ordinal by bad rate: the riskiest big region gets the highest code among them
    assert codes["西北"] > codes["华东"]
    assert codes["东北"] == codes["(other)"]  # rare (0.5%) is pooled
    new = pd.DataFrame(
        {
            "overdue_days": [5.0, 5.0, 5.0],
            "income": [60000.0] * 3,
            "region": pd.Series(["海外", None, "东北"], dtype="str"),
            "noise": [0.0] * 3,
        }
    )
    encoded = model.encode(new)
    column = model.encoded_features_.index("region")
    assert encoded[:, column].tolist() == [codes["(other)"], codes["(missing)"], codes["(other)"]]
    pds = model.predict_pd(new)
    assert np.isfinite(pds).all()


def test_missing_numbers_are_imputed_with_an_indicator(
    model: TreeModel, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, _ = data
    assert "income__missing" in model.encoded_features_
    assert "overdue_days__missing" not in model.encoded_features_
    encoded = model.encode(X)
    income = model.encoded_features_.index("income")
    flag = model.encoded_features_.index("income__missing")
    missing = X["income"].isna().to_numpy()
    assert (encoded[missing, flag] == 1).all() and (encoded[~missing, flag] == 0).all()
    median_encoded = model.encode(
        pd.DataFrame(
            {
                "overdue_days": [1.0],
                "income": [model.medians_["income"]],
                "region": ["华东"],
                "noise": [0.0],
            }
        )
    )[0, income]
    assert np.allclose(encoded[missing, income], median_encoded)


def test_monotonic_constraint_follows_the_direction() -> None:
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 100, 4000)
    rate = np.clip(0.02 + 0.003 * x + 0.1 * np.sin(x / 5), 0.01, 0.9)
    y = (rng.random(x.size) < rate).astype(int)
    X = pd.DataFrame({"x": x})
    model = TreeModel(
        specs={"x": FeatureSpec("x", direction="higher_is_riskier")},
        ccp_alpha=0.0,
        min_samples_leaf=50,
    ).fit(X, y)
    grid = pd.DataFrame({"x": np.linspace(0, 100, 201)})
    assert np.all(np.diff(model.predict_pd(grid)) >= 0)
    scores = model.predict_score(grid)
    assert np.all(np.diff(scores) <= 0)  # higher PD, lower score


def test_score_one_equals_batch(model: TreeModel, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, _ = data
    sample = pd.concat(
        [
            X.iloc[:60],
            pd.DataFrame(
                {
                    "overdue_days": [np.nan, 1e12],
                    "income": [np.nan, -1.0],
                    "region": pd.Series(["海外", None], dtype="str"),
                    "noise": [0.0, 0.0],
                },
                index=[-1, -2],
            ),
        ]
    )
    pds = model.predict_pd(sample)
    scores = model.predict_score(sample)
    reasons = model.reasons(sample)
    for position, (index, row) in enumerate(sample.iterrows()):
        one = model.score_one(row.to_dict())
        assert one["pd"] == pds[position]
        assert one["score"] == scores[position]
        expected = reasons[reasons["row"] == index]
        assert [r["code"] for r in one["reasons"]] == expected["code"].tolist()
        np.testing.assert_allclose(
            [r["contribution"] for r in one["reasons"]], expected["contribution"], atol=1e-12
        )
    with pytest.raises(DataError, match="lacks 1 feature"):
        model.score_one({"overdue_days": 1.0, "income": 1.0, "region": "华东"})


def test_tree_structure_export(model: TreeModel) -> None:
    nodes = model.tree_structure()
    assert nodes[0]["id"] == 0 and nodes[0]["depth"] == 0
    assert nodes[0]["count"] == 3000
    leaves = [n for n in nodes if n["leaf"]]
    assert len(leaves) == model.tree_model_.get_n_leaves()
    assert sum(n["count"] for n in leaves) == 3000
    for node in nodes:
        if not node["leaf"]:
            assert node["feature"] in SPECS
            assert node["left_when"].startswith(node["feature"])
            if node["feature"] == "region":
                assert node["left_when"].startswith("region in {")
    json.dumps(model.to_dict(), allow_nan=False, ensure_ascii=False)


def test_inputs_not_mutated_and_joblib_round_trip(
    data: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    X, y = data
    X_before, y_before = X.copy(deep=True), y.copy()
    model = TreeModel(specs=SPECS, cv=3).fit(X, y)
    model.score_one(X.iloc[0].to_dict())
    model.reasons(X)
    pd.testing.assert_frame_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)
    path = tmp_path / "tree.joblib"
    joblib.dump(model, path)
    restored = joblib.load(path)
    np.testing.assert_array_equal(restored.predict_pd(X), model.predict_pd(X))
    assert restored.score_one(X.iloc[0].to_dict()) == model.score_one(X.iloc[0].to_dict())


def test_same_seed_same_model(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    X, y = data
    a = TreeModel(specs=SPECS, cv=3, random_state=5).fit(X, y)
    b = TreeModel(specs=SPECS, cv=3, random_state=5).fit(X, y)
    np.testing.assert_array_equal(a.predict_pd(X), b.predict_pd(X))
    assert a.ccp_alpha_ == b.ccp_alpha_


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_depth": 0}, r"The 'max_depth' parameter of TreeModel must be an int >= 1\."),
        ({"min_samples_leaf": 0.7}, r"'min_samples_leaf' parameter of TreeModel must be an int"),
        ({"cv": 1}, r"'cv' parameter of TreeModel must be an int >= 2\. Got 1 instead\."),
        ({"cv_metric": "gini"}, r"'cv_metric' parameter of TreeModel must be one of"),
        ({"pd_smoothing": -1.0}, r"'pd_smoothing' parameter of TreeModel"),
    ],
)
def test_parameters_are_validated(
    data: tuple[pd.DataFrame, np.ndarray], kwargs: dict[str, object], message: str
) -> None:
    X, y = data
    with pytest.raises(ConfigError, match=message):
        TreeModel(**kwargs).fit(X, y)  # type: ignore[arg-type]


def test_a_small_sample_keeps_a_useful_tree() -> None:
    """490 rows: the pruning does not collapse to a stump, and the tree ranks."""
    X, y = portfolio(n=490, seed=6)
    X_test, y_test = portfolio(n=5000, seed=7)
    model = TreeModel(specs=SPECS).fit(X, y)
    assert model.tree_model_.get_n_leaves() >= model.min_leaves == 4
    assert min(model.cv_results_["leaves"]) >= 4
    assert auc(y_test, model.predict_pd(X_test)) > 0.6
    # unbounded, noisy folds on this sample choose the root alone
    stump = TreeModel(specs=SPECS, min_leaves=1).fit(X, y)
    assert stump.tree_model_.get_n_leaves() < 4
    assert auc(y_test, stump.predict_pd(X_test)) < auc(y_test, model.predict_pd(X_test))


def test_calibration_is_chosen_by_its_cross_validated_brier(
    data: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, y = data
    model = TreeModel(specs=SPECS).fit(X, y)
    record = model.calibration_
    briers = record["cv_brier"]
    assert set(briers) == {"none", "platt", "isotonic"}
    assert record["method"] == min(briers, key=lambda m: (briers[m], m != "none"))
    # a monotone map: leaves keep their order, contributions still add up to the PD
    raw = TreeModel(specs=SPECS, calibration="none").fit(X, y)
    order = np.argsort(raw.node_pd_, kind="stable")
    assert np.all(np.diff(model.node_pd_[order]) >= -1e-12)
    iso = TreeModel(specs=SPECS, calibration="isotonic").fit(X, y)
    assert iso.calibration_["method"] == "isotonic"
    np.testing.assert_allclose(
        iso.bias_ + iso.contributions(X).sum(axis=1).to_numpy(), iso.predict_pd(X), atol=1e-12
    )
    assert iso.score_one(X.iloc[0].to_dict())["pd"] == pytest.approx(iso.predict_pd(X)[0])


@pytest.mark.parametrize(
    ("calibration", "pd_smoothing"), [("isotonic", 1.0), ("platt", 1.0), ("none", 0.0)]
)
def test_tiny_sample_pds_are_never_0_or_1(calibration: str, pd_smoothing: float) -> None:
    """80 customers, 7 bads (all at the top of ``a``): an isotonic block of only goods
    gave a PD of exactly 0 (1,085 points, outside the model's range); PDs stay within
    ``[0.5 / n, 1 - 0.5 / n]`` so every score is a scorecard score."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=80)
    y = np.zeros(80, dtype=np.int64)
    y[np.argsort(a)[-7:]] = 1
    X = pd.DataFrame({"a": a, "b": rng.normal(size=80)})
    model = TreeModel(
        calibration=calibration, pd_smoothing=pd_smoothing, cv=3, min_samples_leaf=5
    ).fit(X, y)
    pd_bad = model.predict_pd(X)
    assert pd_bad.min() >= 0.5 / 80 - 1e-12
    assert pd_bad.max() <= 1 - 0.5 / 80 + 1e-12
    low, high = model.scaling_.score_from_pd(np.array([1 - 0.5 / 80, 0.5 / 80]))
    assert np.all((model.predict_score(X) >= low - 1) & (model.predict_score(X) <= high + 1))
