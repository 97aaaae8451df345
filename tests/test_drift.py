"""Drift library: PSI arithmetic, verdicts, insufficient data, JSON and JUnit shapes.

The checks run on a small hand-made model (no training), so these tests are fast; the
end-to-end runs on generated exports are in test_cli_drift.py.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from custrisk.errors import CheckFailed, ConfigError, DataError, ModelArtifactError
from custrisk.monitoring import build_reference, check_drift, load_drift_config, psi
from custrisk.monitoring.config import Thresholds, with_options
from custrisk.monitoring.psi import DEFAULT_EPSILON
from custrisk.registry import LoadedModel, ModelRef

# ----------------------------------------------------------------------------- PSI


def test_psi_hand_computed_with_an_empty_bin() -> None:
    # expected shares .5 .3 .2 0 (floored to 1e-4); actual .4 .3 .2 .1
    # (0.4 - 0.5) ln(0.4 / 0.5) = 0.0223144; (0.1 - 0.0001) ln(0.1 / 0.0001) = 0.6900848
    value, contributions = psi([50, 30, 20, 0], [40, 30, 20, 10], eps=1e-4)
    assert value == pytest.approx(0.7123992, abs=1e-6)
    assert contributions == pytest.approx([0.0223144, 0.0, 0.0, 0.6900848], abs=1e-6)
    assert math.isfinite(value)


def test_psi_bin_empty_on_both_sides_contributes_nothing() -> None:
    value, contributions = psi([10, 0, 10], [10, 0, 10])
    assert value == 0.0
    assert contributions.tolist() == [0.0, 0.0, 0.0]


def test_psi_default_epsilon_is_the_documented_share_floor() -> None:
    assert DEFAULT_EPSILON == 1e-4
    assert load_drift_config().epsilon == DEFAULT_EPSILON


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 1000), min_size=2, max_size=12).flatmap(
        lambda a: st.tuples(
            st.just(a), st.lists(st.integers(0, 1000), min_size=len(a), max_size=len(a))
        )
    )
)
def test_psi_properties(pair: tuple[list[int], list[int]]) -> None:
    expected, actual = pair
    if sum(expected) == 0 or sum(actual) == 0:
        return
    before = (list(expected), list(actual))
    value, contributions = psi(expected, actual)
    assert value >= 0
    assert (contributions >= -1e-15).all()
    assert contributions.sum() == pytest.approx(value)
    assert psi(actual, expected).value == pytest.approx(value)  # symmetric
    assert psi(expected, expected).value == 0.0
    assert (expected, actual) == before  # inputs not mutated


@pytest.mark.parametrize(
    ("expected", "actual", "eps", "error", "match"),
    [
        ([1, 2], [1, 2, 3], 1e-4, DataError, "2 bins but actual_counts has 3"),
        ([1, -2], [1, 2], 1e-4, DataError, "expected_counts must hold finite counts"),
        ([0, 0], [1, 2], 1e-4, DataError, "expected_counts holds no rows"),
        ([], [], 1e-4, DataError, "expected_counts is empty"),
        (["a", "b"], [1, 2], 1e-4, DataError, "expected_counts must be counts \\(numbers\\)"),
        ([1, 2], [1, 2], 0.0, ConfigError, "'eps' parameter of psi must be in \\(0, 1\\)"),
    ],
)
def test_psi_rejects_bad_input(
    expected: list[int], actual: list[int], eps: float, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        psi(expected, actual, eps)


@pytest.mark.parametrize(
    ("value", "verdict"),
    [(0.0, "stable"), (0.0999, "stable"), (0.10, "warn"), (0.2499, "warn"), (0.25, "alert")],
)
def test_default_verdict_boundaries(value: float, verdict: str) -> None:
    assert load_drift_config().psi.verdict(value) == verdict
    assert load_drift_config().csi.verdict(value) == verdict


# -------------------------------------------------------------------------- config


def test_packaged_config_matches_the_built_in_defaults(tmp_path: Path) -> None:
    minimal = tmp_path / "drift.yaml"
    minimal.write_text("version: 1\n", encoding="utf-8")
    packaged = load_drift_config()
    assert replace(load_drift_config(minimal), path=packaged.path) == packaged
    assert packaged.fail_on == "alert" and packaged.allow_insufficient is False
    assert packaged.psi == Thresholds(0.10, 0.25)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("psi: {warn: 0.3, alert: 0.2}\n", "key 'psi.warn': warn 0.3 is above alert 0.2"),
        ("fail_on: sometimes\n", "key 'fail_on': 'sometimes' is not allowed"),
        ("epsilon: 0.5\n", "key 'epsilon': must be above 0 and below 0.01"),
        ("csi: {scope: some}\n", "key 'csi.scope': 'some' is not allowed"),
        ("minimum: {rows: -1}\n", "key 'minimum.rows': must be at least 1"),
        ("performance: {auc: 1}\n", "key 'performance.auc': unknown key"),
        ("compare: {confidence: 1.5}\n", "key 'compare.confidence': must be between 0 and 1"),
        ("thresholds: {}\n", "key 'thresholds': unknown key"),
        ("version: 2\n", "key 'version': unsupported config version 2"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "drift.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=match) as info:
        load_drift_config(path)
    assert str(path) in str(info.value)


def test_the_sample_datas_month_less_a_few_customers_is_enough_rows() -> None:
    """minimum.rows was the 500 customers custrisk sample-data writes by default: one
    customer forgotten (or rejected) and the month's drift was insufficient."""
    import inspect

    from custrisk.sample.generator import generate_frames

    default = inspect.signature(generate_frames).parameters["customers"].default
    assert load_drift_config().min_rows <= default * 0.8


def test_command_line_overrides() -> None:
    cfg = with_options(load_drift_config(), fail_on="never", allow_insufficient=True)
    assert (cfg.fail_on, cfg.allow_insufficient) == ("never", True)
    with pytest.raises(ConfigError, match="fail_on must be one of alert, warn, never"):
        with_options(load_drift_config(), fail_on="maybe")


# ----------------------------------------------------------------- a small model


class _Estimator:
    """PD rises with x; the score falls with it (like a scorecard)."""

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:
        x = X["x"].to_numpy(dtype=np.float64, na_value=0.0)
        return 1.0 / (1.0 + np.exp(-(1.5 * x - 2.5)))

    def predict_score(self, X: pd.DataFrame) -> np.ndarray:
        return np.round(600 - 40 * X["x"].to_numpy(dtype=np.float64, na_value=0.0))


def _frame(n: int, seed: int, shift: float = 0.0, regions: tuple[str, ...] = ("华东", "华北")):
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    x[rng.random(n) < 0.02] = np.nan
    region = pd.Series(rng.choice(list(regions), n), dtype="str")
    return pd.DataFrame(
        {"x": x, "region": region.to_numpy(), "noise": rng.normal(size=n)},
        index=pd.Index([f"C{i:05d}" for i in range(n)], name="customer_id"),
    )


def _labels(frame: pd.DataFrame, seed: int) -> pd.Series:
    pd_bad = _Estimator().predict_pd(frame)
    flags = (np.random.default_rng(seed).random(len(frame)) < pd_bad).astype(np.int8)
    return pd.Series(flags, index=frame.index, name="bad")


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    train = _frame(4000, seed=1)
    est = _Estimator()
    y = _labels(train, seed=11).to_numpy()
    pd_train = est.predict_pd(train)
    card: dict[str, Any] = {
        "model_id": "toy@1",
        "features": ["x", "region"],
        "candidate_features": ["x", "region", "noise"],
        "metrics": {
            "holdout": {
                "auc": float(roc_auc_score(y, pd_train)),
                "ks": 0.45,
                "bad_rate": float(y.mean()),
                "calibration": [
                    {"bin": 1, "count": len(y), "bads": int(y.sum()), "mean_pd": pd_train.mean()}
                ],
            }
        },
        "training": {"as_of": "2026-10-31", "bad_rate": float(y.mean())},
        "reference": {
            "score": build_reference(
                pd.Series(est.predict_score(train), dtype="float64")
            ).to_dict(),
            "pd": build_reference(pd.Series(pd_train)).to_dict(),
            "features": {c: build_reference(train[c]).to_dict() for c in ("x", "region", "noise")},
            "rows": len(train),
        },
    }
    return LoadedModel(ModelRef("toy", 1, Path("toy/1")), est, card)


def _stat(report: Any, stat_id: str) -> Any:
    return next(s for s in report.statistics if s.id == stat_id)


def test_same_distribution_is_stable(model: LoadedModel) -> None:
    new = _frame(3000, seed=2)
    before = new.copy()
    report = check_drift(model, new, as_of="2026-11-30")
    assert report.verdict == "stable", [(s.id, s.value) for s in report.statistics]
    assert not report.failed
    assert [s.id for s in report.statistics] == [
        "psi:score",
        "psi:pd",
        "csi:x",
        "csi:region",
        "csi:noise",
    ]
    assert all(s.value is not None and s.value < 0.02 for s in report.statistics)
    pd.testing.assert_frame_equal(new, before)  # input not mutated
    assert report.as_of == "2026-11-30"


def test_shift_gives_alerts_and_new_categories_go_to_other(model: LoadedModel) -> None:
    new = _frame(3000, seed=3, shift=0.8, regions=("华东", "华北", "西南"))
    report = check_drift(model, new)
    assert report.verdict == "alert" and report.failed
    assert _stat(report, "csi:x").verdict == "alert"
    assert _stat(report, "psi:score").verdict == "alert"
    assert _stat(report, "csi:noise").verdict == "stable"
    region = _stat(report, "csi:region")
    other = region.bins[-2]  # (before "missing"), naming the category new since training
    assert other.label == "other (new: 西南)"
    assert other.expected_count == 0 and other.actual_count > 0
    assert other.contribution > 0.5  # an empty training bin, smoothed: large but finite
    assert region.verdict == "alert"
    missing = _stat(report, "csi:x").bins[-1]
    assert missing.label == "missing" and missing.actual_count > 0
    assert [s.id for s in report.worst_first()][-1] == "csi:noise"
    assert report.failures()[0].verdict == "alert"


def test_new_categories_are_named_most_frequent_first_with_personal_data_masked(
    model: LoadedModel,
) -> None:
    new = _frame(3000, seed=4, regions=("华东", "西北", "西北", "13912345678"))
    region = _stat(check_drift(model, new), "csi:region")
    assert region.bins[-2].label == "other (new: 西北, 139****5678)"
    assert "13912345678" not in json.dumps(check_drift(model, new).to_dict(), ensure_ascii=False)


def test_a_shares_bins_are_shown_in_percents_as_its_points_and_bins_tables(
    model: LoadedModel,
) -> None:
    # (was "[0.17, 0.21): 10.4% -> 8.6%" where points.csv says "[15%, 22%)")
    train = _frame(4000, seed=1)
    share = (train["x"] - train["x"].min()) / 20  # a ratio read from percentages
    card = json.loads(json.dumps(model.card))
    card["reference"]["features"]["x"] = build_reference(share).to_dict()
    card["model"] = {"specs": {"x": {"code": "x", "kind": "numeric", "unit": "share"}}}
    shared = LoadedModel(model.ref, model.model, card)
    new = _frame(3000, seed=3, shift=0.8)
    new["x"] = (new["x"] - train["x"].min()) / 20
    x = _stat(check_drift(shared, new), "csi:x")
    edges = card["reference"]["features"]["x"]["edges"]
    assert x.bins[0].label == f"[-inf, {edges[0] * 100:.4g}%)"
    assert all(b.label.endswith("%)") for b in x.bins[:-2]) and x.bins[-1].label == "missing"
    shift = x.message.split("largest shift ")[1].split(":")[0]  # [24.08%, inf)
    assert shift.startswith("[") and "%" in shift, x.message
    plain = _stat(check_drift(model, new), "csi:x").message  # (not a share: as it was)
    assert "%" not in plain.split("largest shift ")[1].split(":")[0]
    # a candidate feature the model does not use: its unit from the model's indicators.yaml
    declared = {"indicators.yaml": b"indicators:\n  noise: {unit: share}\n"}
    candidate = LoadedModel(model.ref, model.model, model.card, files=declared)
    noise = _stat(check_drift(candidate, new), "csi:noise")
    assert noise.bins[0].label.endswith("%)") and noise.bins[-1].label == "missing"
    assert not _stat(check_drift(candidate, new), "csi:x").bins[0].label.endswith("%)")


def test_scope_model_skips_candidate_features(model: LoadedModel) -> None:
    cfg = replace(load_drift_config(), csi_scope="model", csi_exclude=("region",))
    report = check_drift(model, _frame(3000, seed=2), config=cfg)
    assert [s.id for s in report.statistics] == ["psi:score", "psi:pd", "csi:x"]


def test_too_few_rows_is_insufficient_not_a_pass(model: LoadedModel) -> None:
    new = _frame(120, seed=4)
    report = check_drift(model, new)
    assert {s.verdict for s in report.statistics} == {"insufficient"}
    assert "120 rows in the new data, below minimum.rows 400" in report.statistics[0].message
    assert report.statistics[0].value is not None  # computed, shown, not judged
    assert report.verdict == "insufficient"
    assert report.failed  # default: insufficient fails
    allowed = replace(report, config=with_options(report.config, allow_insufficient=True))
    assert not allowed.failed
    never = replace(report, config=with_options(report.config, fail_on="never"))
    assert not never.failed


def test_insufficient_ranks_between_warn_and_alert(model: LoadedModel) -> None:
    new = _frame(3000, seed=3, shift=0.8)
    labels = _labels(new, seed=5).iloc[:100]  # 100 labelled customers
    report = check_drift(model, new, labels)
    assert _stat(report, "auc").verdict == "insufficient"
    assert "29 bads and 71 goods labelled, fewer than drift.yaml's minimum.bads (30 of each)" in (
        _stat(report, "auc").message
    )
    order = [s.verdict for s in report.worst_first()]
    assert order.index("insufficient") > max(i for i, v in enumerate(order) if v == "alert")
    assert report.verdict == "alert"


def test_performance_statistics_with_labels(model: LoadedModel) -> None:
    new = _frame(3000, seed=2)
    labels = _labels(new, seed=6)
    report = check_drift(model, new, labels)
    auc_stat = _stat(report, "auc")
    expected_auc = roc_auc_score(labels, _Estimator().predict_pd(new))
    assert auc_stat.current == pytest.approx(expected_auc)
    assert auc_stat.value == pytest.approx(auc_stat.reference - expected_auc)
    assert auc_stat.verdict == "stable"
    assert _stat(report, "bad_rate").verdict == "stable"
    calibration = _stat(report, "calibration")
    assert calibration.verdict == "stable"
    assert len(calibration.table) == 10
    assert sum(row["count"] for row in calibration.table) == 3000
    assert report.data["labelled"] == 3000
    assert report.data["bads"] == int(labels.sum())


def test_performance_decay_when_labels_stop_matching_the_scores(model: LoadedModel) -> None:
    new = _frame(3000, seed=2)
    rng = np.random.default_rng(7)
    pd_bad = _Estimator().predict_pd(new)
    # Outcomes only loosely tied to the model's PD, and twice as many bads.
    noisy = 0.35 * pd_bad + 0.65 * rng.permutation(pd_bad)
    labels = pd.Series((rng.random(3000) < 2.0 * noisy).astype(int), index=new.index)
    report = check_drift(model, new, labels)
    assert _stat(report, "auc").verdict == "alert"
    assert _stat(report, "auc").value > 0.05
    assert _stat(report, "bad_rate").verdict == "alert"
    assert _stat(report, "calibration").verdict == "alert"
    assert report.failed


def test_too_few_bads_for_auc_is_insufficient(model: LoadedModel) -> None:
    new = _frame(3000, seed=2)
    labels = pd.Series(0, index=new.index)
    labels.iloc[:10] = 1
    report = check_drift(model, new, labels)
    for stat_id in ("auc", "ks"):
        stat = _stat(report, stat_id)
        assert stat.verdict == "insufficient"
        assert stat.message == (
            "10 bads and 2,990 goods labelled, fewer than drift.yaml's minimum.bads (30 of each)"
        )
    # a rate is judged on the bads forecast: ten where hundreds were expected is a finding
    assert _stat(report, "bad_rate").verdict == "alert"
    assert _stat(report, "calibration").verdict == "alert"


def test_the_label_minimum_counts_bads_and_goods_not_rows(model: LoadedModel) -> None:
    """One rule for every judgement on labels (drift.yaml's minimum.bads, of each
    outcome): 400 labelled customers with 60 bads were insufficient (under
    minimum.rows 500) while 600 with 40 bads were judged."""
    new = _frame(3000, seed=2)
    labels = _labels(new, seed=6)
    bads, goods = labels[labels == 1], labels[labels == 0]
    report = check_drift(model, new, pd.concat([bads.iloc[:60], goods.iloc[:340]]))
    for stat_id in ("auc", "ks", "bad_rate", "calibration"):
        assert _stat(report, stat_id).verdict != "insufficient", stat_id
    report = check_drift(model, new, pd.concat([bads.iloc[:200], goods.iloc[:20]]))
    for stat_id in ("auc", "ks"):
        assert _stat(report, stat_id).message.startswith("200 bads and 20 goods labelled, ")
    # a rate counts the larger of the labelled and the expected: 200 bads where the PDs
    # forecast 70 is judged, and far off; so is 10 of 3,000 (test above)
    assert _stat(report, "calibration").verdict == "alert"
    assert _stat(report, "bad_rate").verdict == "alert"
    report = check_drift(model, new, labels.iloc[:40])  # too few either way
    for stat_id in ("bad_rate", "calibration"):
        assert _stat(report, stat_id).verdict == "insufficient"
    assert "goods labelled or expected by the PDs, fewer than drift.yaml's minimum.bads" in (
        _stat(report, "calibration").message
    )


def test_the_label_minimum_is_one_rule_with_one_message() -> None:
    minimum = load_drift_config()
    assert minimum.too_few_labels(30, 30) is None
    assert minimum.too_few_labels(29, 5000) == (
        "29 bads and 5,000 goods labelled, fewer than drift.yaml's minimum.bads (30 of each)"
    )
    assert minimum.too_few_labels(5000, 29) is not None
    assert minimum.too_few_labels(12.4, 87.6, counted="labelled or expected by the PDs") == (
        "12 bads and 88 goods labelled or expected by the PDs, fewer than drift.yaml's "
        "minimum.bads (30 of each)"
    )


def test_labels_of_other_customers_are_a_data_error(model: LoadedModel) -> None:
    labels = pd.Series([0, 1], index=["X1", "X2"])
    labels.attrs["file"] = "labels.csv"
    with pytest.raises(DataError, match="labels.csv: none of the 2 labelled customers"):
        check_drift(model, _frame(600, seed=2), labels)


def test_missing_feature_is_a_data_error(model: LoadedModel) -> None:
    with pytest.raises(DataError, match="lacks 1 features model toy@1 needs: noise"):
        check_drift(model, _frame(600, seed=2).drop(columns="noise"))


def test_card_without_reference_is_an_artifact_error(model: LoadedModel) -> None:
    card = {k: v for k, v in model.card.items() if k != "reference"}
    old = LoadedModel(model.ref, model.model, card)
    with pytest.raises(ModelArtifactError, match="toy@1 has no reference distributions"):
        check_drift(old, _frame(600, seed=2))


def test_card_with_a_damaged_reference_is_an_artifact_error(model: LoadedModel) -> None:
    # a hand-edited baseline: neither a crash (exit 3) nor a false drift alert (exit 1)
    card = json.loads(json.dumps(model.card))
    card["reference"]["score"]["counts"] = card["reference"]["score"]["counts"][:3]
    damaged = LoadedModel(model.ref, model.model, card)
    with pytest.raises(ModelArtifactError, match=r"toy@1 is damaged \(reference.score: 3 counts"):
        check_drift(damaged, _frame(600, seed=2))


def test_a_card_without_or_with_a_damaged_performance_baseline(model: LoadedModel) -> None:
    """A removed hold-out is no 'too little data: check on a larger export'; a damaged
    one (text where the AUC was) is exit 2, not an internal error."""
    new = _frame(3000, seed=2)
    card = {k: v for k, v in model.card.items() if k != "metrics"}
    report = check_drift(LoadedModel(model.ref, model.model, card), new, _labels(new, seed=8))
    with pytest.raises(CheckFailed) as failed:
        report.require_pass()
    assert "auc, ks: the model card lacks the training figure" in str(failed.value.hint)
    card = json.loads(json.dumps(model.card))
    card["metrics"]["holdout"]["auc"] = "x"
    damaged = LoadedModel(model.ref, model.model, card)
    with pytest.raises(ModelArtifactError, match=r"metrics.holdout.auc is 'x', not a number"):
        check_drift(damaged, new, _labels(new, seed=8))


# ---------------------------------------------------------------- JSON and JUnit


def test_json_content(model: LoadedModel) -> None:
    new = _frame(3000, seed=3, shift=0.8)
    report = check_drift(model, new, _labels(new, seed=8), as_of="2026-11-30")
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["format"] == "custrisk.drift/1"
    assert data["model_id"] == "toy@1" and data["as_of"] == "2026-11-30"
    assert data["verdict"] == "alert" and data["failed"] is True
    assert data["thresholds"]["psi"] == {"warn": 0.1, "alert": 0.25}
    assert data["thresholds"]["epsilon"] == 1e-4
    assert data["data"]["rows"] == 3000 and data["data"]["reference_rows"] == 4000
    by_id = {s["id"]: s for s in data["statistics"]}
    assert set(by_id) == {
        "psi:score",
        "psi:pd",
        "csi:x",
        "csi:region",
        "csi:noise",
        "auc",
        "ks",
        "bad_rate",
        "calibration",
    }
    x = by_id["csi:x"]
    assert x["verdict"] == "alert" and x["fails"] is True and x["in_model"] is True
    assert by_id["csi:noise"]["in_model"] is False
    assert set(x["bins"][0]) == {
        "label",
        "expected_count",
        "expected_share",
        "actual_count",
        "actual_share",
        "contribution",
    }
    assert sum(b["contribution"] for b in x["bins"]) == pytest.approx(x["value"])
    assert sum(b["actual_count"] for b in x["bins"]) == 3000
    assert by_id["auc"]["current"] is not None and by_id["auc"]["reference"] is not None
    assert len(by_id["calibration"]["calibration"]) == 10
    assert data["counts"]["alert"] == sum(s["verdict"] == "alert" for s in data["statistics"])


def test_junit_parses_with_one_testcase_per_statistic(model: LoadedModel) -> None:
    new = _frame(3000, seed=3, shift=0.8)
    report = check_drift(model, new)
    root = ET.fromstring(report.to_junit())
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [s.id for s in report.statistics]
    assert suite.get("tests") == str(len(cases))
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    assert failed == {s.id for s in report.failures()}
    assert suite.get("failures") == str(len(failed))
    x = next(c for c in cases if c.get("name") == "csi:x")
    assert x.get("classname") == "custrisk.drift.feature"
    assert x.find("failure").get("type") == "alert"
    props = {p.get("name"): p.get("value") for p in x.find("properties")}
    assert props["verdict"] == "alert" and float(props["value"]) > 0.25
    assert props["warn"] == "0.1" and props["alert"] == "0.25"
    suite_props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert suite_props["model_id"] == "toy@1"
    assert suite_props["verdict"] == "alert"
    assert suite_props["thresholds.psi.alert"] == "0.25"
    noise = next(c for c in cases if c.get("name") == "csi:noise")
    assert noise.find("failure") is None and noise.find("skipped") is None


def test_junit_warn_fails_only_with_fail_on_warn(model: LoadedModel) -> None:
    report = check_drift(model, _frame(3000, seed=3, shift=0.3))
    warned = {s.id for s in report.statistics if s.verdict == "warn"}
    assert warned, [(s.id, s.value) for s in report.statistics]
    for fail_on, expect in (("alert", set()), ("warn", warned), ("never", set())):
        cfg = with_options(report.config, fail_on=fail_on)
        root = ET.fromstring(replace(report, config=cfg).to_junit())
        failed = {c.get("name") for c in root.iter("testcase") if c.find("failure") is not None}
        assert failed & warned == expect


def test_junit_insufficient_is_failure_or_skipped(model: LoadedModel) -> None:
    report = check_drift(model, _frame(120, seed=4))
    root = ET.fromstring(report.to_junit())
    assert {c.find("failure").get("type") for c in root.iter("testcase")} == {"insufficient"}
    allowed = replace(report, config=with_options(report.config, allow_insufficient=True))
    root = ET.fromstring(allowed.to_junit())
    assert all(c.find("skipped") is not None for c in root.iter("testcase"))
    assert root.find("testsuite").get("skipped") == str(len(report.statistics))
    assert root.find("testsuite").get("failures") == "0"
