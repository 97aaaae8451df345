"""One pass per customer: ``score_table`` gives the PD, score and reasons the separate
methods give, from one binning (scorecard) or one walk down the tree."""

from __future__ import annotations

import io

import joblib
import numpy as np
import pandas as pd
import pytest

from custrisk.estimators.binning import WoeBinner
from custrisk.estimators.bins import COMPARE_CUTS, value_bins
from custrisk.estimators.features import FeatureSpec
from custrisk.estimators.scorecard import LogisticScorecard
from custrisk.estimators.scored import ScoredTable
from custrisk.estimators.tree import TreeModel

SPECS = {
    "overdue_days": FeatureSpec(
        "overdue_days", direction="higher_is_riskier", label_zh="逾期天数", label_en="Overdue"
    ),
    "income": FeatureSpec(
        "income", direction="higher_is_safer", label_zh="收入", label_en="Income"
    ),
    "region": FeatureSpec("region", kind="categorical", label_zh="地区", label_en="Region"),
    "utilisation": FeatureSpec(
        "utilisation", direction="higher_is_riskier", label_zh="使用率", label_en="Utilisation"
    ),
}


def _portfolio(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    overdue = rng.gamma(1.5, 8.0, n)
    income = rng.lognormal(11, 0.5, n)
    util = rng.beta(2, 3, n)
    region = rng.choice(["华东", "华北", "西北", "123"], n, p=[0.4, 0.3, 0.2, 0.1])
    logit = (
        -3.0
        + 0.06 * overdue
        - 0.9 * (np.log(income) - 11)
        + 1.5 * util
        + np.where(region == "西北", 0.8, 0.0)
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = pd.DataFrame(
        {
            "overdue_days": np.round(overdue, 1),
            "income": np.where(rng.random(n) < 0.05, np.nan, income),
            "region": pd.Series(np.where(rng.random(n) < 0.03, None, region), dtype="str"),
            "utilisation": util,
        }
    )
    return X, y


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return _portfolio(3000, 0)


@pytest.fixture(scope="module")
def new_rows() -> pd.DataFrame:
    """Rows to score: missing values, an unseen category, -0.0, on a string index."""
    X, _ = _portfolio(600, 1)
    X.loc[0:9, "region"] = "火星"  # unseen at fit
    X.loc[10:19, "overdue_days"] = np.nan
    X.loc[20:29, "income"] = -0.0  # the riskiest income bin: a reason
    X.loc[30:39, "income"] = 0.0
    X.index = [f"C{i:04d}" for i in range(len(X))]
    return X


@pytest.fixture(scope="module")
def card(data: tuple[pd.DataFrame, np.ndarray]) -> LogisticScorecard:
    X, y = data
    return LogisticScorecard(binner=WoeBinner(specs=SPECS), selection=False).fit(X, y)


@pytest.fixture(scope="module")
def tree(data: tuple[pd.DataFrame, np.ndarray]) -> TreeModel:
    X, y = data
    return TreeModel(specs=SPECS, cv=3).fit(X, y)


def _expected_reasons(impact: np.ndarray, top: int) -> list[list[int]]:
    """Per row, the features with a positive impact, largest first, ties in feature
    order (the definition, row by row)."""
    out = []
    for row in impact:
        ranked = sorted((j for j in range(row.size) if row[j] > 0), key=lambda j: (-row[j], j))
        out.append(ranked[:top])
    return out


def _table_reasons(table: ScoredTable) -> list[list[int]]:
    return [[int(j) for j in row if j >= 0] for row in table.reason_feature]


@pytest.mark.parametrize("top", [1, 3, 6])
def test_scorecard_table_equals_the_separate_methods(
    card: LogisticScorecard, new_rows: pd.DataFrame, top: int
) -> None:
    table = card.score_table(new_rows, top=top)
    assert len(table) == len(new_rows) and table.top == top
    np.testing.assert_array_equal(table.pd, card.predict_pd(new_rows))
    np.testing.assert_array_equal(table.score, card.predict_score(new_rows))
    points = card.points_matrix(new_rows)
    lost = np.array([card.points_[c].max() for c in card.features_]) - points
    expected = _expected_reasons(lost, top)
    assert _table_reasons(table) == expected
    assert any(len(r) > 2 for r in _expected_reasons(lost, 99))  # ranking is exercised
    rows, ranks, cols = table.reason_positions()
    np.testing.assert_array_equal(table.reason_impact[rows, ranks], lost[rows, cols])
    assert np.isnan(table.reason_impact[table.reason_feature < 0]).all()
    long = card.reasons(new_rows, top=top)
    bins = card.binner_.bin_matrix(new_rows, card.features_)
    np.testing.assert_array_equal(long["points"], points[rows, cols])
    assert long["bin_label"].tolist() == [
        card.binner_.bins_[card.features_[j]].labels[b]
        for j, b in zip(cols, bins[rows, cols], strict=True)
    ]


def test_tree_table_equals_the_separate_methods(tree: TreeModel, new_rows: pd.DataFrame) -> None:
    table = tree.score_table(new_rows, top=3)
    np.testing.assert_array_equal(table.pd, tree.predict_pd(new_rows))
    np.testing.assert_array_equal(table.score, tree.predict_score(new_rows))
    # Saabas contributions the long way: the decision path times the per-node changes
    encoded = tree.encode(new_rows).astype(np.float32)
    by_path = np.asarray(tree.tree_model_.decision_path(encoded) @ tree._delta)
    np.testing.assert_allclose(tree.contributions(new_rows).to_numpy(), by_path, atol=1e-15)
    # reasons: per split, the PD of the branch taken above its sibling's (0 if lower),
    # per feature, the long way: the decision path times these per-node excesses
    nodes = tree.tree_model_.tree_
    per_node = np.zeros_like(tree._delta)
    for up in np.flatnonzero(nodes.children_left != -1):
        left, right = nodes.children_left[up], nodes.children_right[up]
        j = tree.features_.index(tree.encoded_source_[nodes.feature[up]])
        per_node[left, j] = max(tree.node_pd_[left] - tree.node_pd_[right], 0.0)
        per_node[right, j] = max(tree.node_pd_[right] - tree.node_pd_[left], 0.0)
    excess = np.asarray(tree.tree_model_.decision_path(encoded) @ per_node)
    assert _table_reasons(table) == _expected_reasons(excess, 3)
    assert _table_reasons(table) != _expected_reasons(by_path, 3)  # not the Saabas rule
    rows, ranks, cols = table.reason_positions()
    np.testing.assert_allclose(table.reason_impact[rows, ranks], excess[rows, cols], atol=1e-15)
    long = tree.reasons(new_rows, top=3)
    assert long["code"].tolist() == [tree.features_[j] for j in cols]
    assert long["row"].tolist() == new_rows.index[rows].tolist()


def test_reason_columns_are_built_from_the_codes(
    card: LogisticScorecard, new_rows: pd.DataFrame
) -> None:
    table = card.score_table(new_rows, top=3)
    long = card.reasons(new_rows, top=3)
    for rank in (1, 2, 3):
        chosen = long[long["rank"] == rank].set_index("row").reindex(new_rows.index)
        codes = table.reason_codes(rank)
        assert isinstance(codes, pd.Categorical)
        assert list(codes.categories) == sorted(chosen["code"].dropna().unique())
        assert (
            pd.Series(codes).astype(object).fillna("-").tolist()
            == chosen["code"].fillna("-").tolist()
        )
        labels = pd.Series(table.reason_labels(rank, "en")).astype(object).fillna("-").tolist()
        assert labels == chosen["label_en"].fillna("-").tolist()
        expected = [None if pd.isna(v) else v for v in chosen["value"].tolist()]
        assert table.reason_values(rank).tolist() == expected


def test_reason_texts_format_numbers_and_keep_categories(
    card: LogisticScorecard, new_rows: pd.DataFrame
) -> None:
    table = card.score_table(new_rows, top=len(card.features_))
    seen: dict[str, set[str]] = {}
    for rank in range(1, table.top + 1):
        texts = table.reason_texts(rank)
        features = table.reason_feature[:, rank - 1]
        for i in np.flatnonzero(features >= 0):
            code = table.features[features[i]]
            value = new_rows[code].iloc[i]
            text = texts[i]
            if pd.isna(value):
                assert text is None
            elif code == "region":
                assert text == value  # "123" reads as a number: printed as one, the same
            else:
                assert text == f"{value:.6g}"
                seen.setdefault(code, set()).add(text)
        assert all(t is None for t in texts[features < 0])
    assert {"-0", "0"} <= seen["income"]  # -0.0 keeps its sign, as %g prints it


def test_lookup_tables_follow_a_refit_and_are_not_pickled(
    data: tuple[pd.DataFrame, np.ndarray], new_rows: pd.DataFrame
) -> None:
    X, y = data
    model = LogisticScorecard(binner=WoeBinner(specs=SPECS), selection=False, C=1.0).fit(X, y)
    first = model.score_table(new_rows).pd
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    assert b"_plan" not in buffer.getvalue()
    buffer.seek(0)
    np.testing.assert_array_equal(joblib.load(buffer).score_table(new_rows).pd, first)
    X2, y2 = _portfolio(3000, 7)
    model.fit(X2, y2)
    np.testing.assert_array_equal(model.score_table(new_rows).pd, model.predict_pd(new_rows))
    assert not np.array_equal(model.score_table(new_rows).pd, first)


@pytest.mark.parametrize("n_cuts", [0, 1, 5, COMPARE_CUTS, COMPARE_CUTS + 5])
def test_value_bins_equal_a_binary_search(n_cuts: int) -> None:
    rng = np.random.default_rng(n_cuts)
    cuts = np.unique(np.round(rng.normal(size=n_cuts), 2))
    values = np.concatenate(
        [
            rng.normal(size=500),
            cuts,
            [np.nan, np.inf, -np.inf, -0.0, 0.0],
            np.round(rng.normal(size=50), 2),
        ]
    )
    expected = np.searchsorted(cuts, values, side="right")
    expected[np.isnan(values)] = cuts.size + 1
    got = value_bins(values, cuts)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)


def test_arrow_text_columns_bin_as_python_objects(card: LogisticScorecard) -> None:
    fb = card.binner_.bins_["region"]
    texts = ["华东", "火星", None, "123", "", "西北", None, "华北"]
    arrow = pd.Series(texts, dtype=pd.StringDtype("pyarrow"))
    objects = pd.Series(texts, dtype=object)
    bins = fb.bin_array(arrow)
    np.testing.assert_array_equal(bins, fb.bin_array(objects))
    assert bins[2] == bins[6] == fb.missing_bin
    assert bins[1] == fb.other_bin  # unseen at fit
    assert bins[0] == fb.categories["华东"]


def test_tree_routes_its_own_encoding_as_the_snapped_values(
    data: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, y = data
    tree = TreeModel(specs=SPECS, cv=3, n_quantiles=16).fit(X, y)
    assert any(g.size for g in tree.grids_.values())  # some columns are snapped to a grid
    rows = []
    for code, grid in tree.grids_.items():
        if not grid.size:
            continue
        # grid points, values just around them, below and above the grid, infinities
        edges = np.concatenate([grid, np.nextafter(grid, -np.inf), np.nextafter(grid, np.inf)])
        extra = np.array([grid[0] - 1, grid[-1] + 1, -np.inf, np.inf, np.nan])
        for value in np.concatenate([edges, extra]):
            row = X.iloc[len(rows) % len(X)].to_dict()
            row[code] = value
            rows.append(row)
    frame = pd.DataFrame(rows).astype({"region": "str"})
    exact = tree.tree_model_.apply(tree.encode(frame).astype(np.float32))
    np.testing.assert_array_equal(tree._leaves(frame), exact)
    assert len(np.unique(exact)) > 1


def test_reason_text_column_is_the_frame_of_the_texts(
    card: LogisticScorecard, new_rows: pd.DataFrame
) -> None:
    # the details' value columns: built by Arrow, the column a frame makes of the texts
    table = card.score_table(new_rows, top=len(card.features_))
    built = 0
    for rank in range(1, table.top + 1):
        texts = table.reason_texts(rank)
        expected = pd.DataFrame({"value": texts})["value"]
        made = table.reason_text_column(rank)
        built += not isinstance(made, np.ndarray)
        column = pd.DataFrame({"value": made})["value"]
        pd.testing.assert_series_equal(column, expected, check_exact=True)
    assert built  # (not every rank fell back to the objects)
