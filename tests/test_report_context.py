"""Report contexts (plain data), inputs, config validation; golden files of the contexts.

Golden files live in tests/golden/. They are compared for real; regenerate them only
on purpose with ``CUSTRISK_UPDATE_GOLDEN=1 pytest tests/test_report_context.py`` and
review the diff.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from custrisk.errors import ConfigError, DataError, UsageError
from custrisk.report import (
    build_customer_context,
    build_portfolio_context,
    load_report_config,
    load_report_inputs,
    portfolio_stats,
    select_customers,
)
from custrisk.report.batch import customer_file_name
from custrisk.report.config import ReportConfig
from custrisk.report.inputs import read_drift
from custrisk.report.render import ReportRenderer
from tests._report_runs import handmade_frames, write_handmade_run, write_history, write_run

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("CUSTRISK_UPDATE_GOLDEN", "") not in ("", "0")
REPORT_DATE = dt.date(2026, 11, 5)


@pytest.fixture(scope="module")
def config() -> ReportConfig:
    return load_report_config()


@pytest.fixture(scope="module")
def run_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_handmade_run(tmp_path_factory.mktemp("run"))


def _normalise(value: Any) -> Any:
    """Floats to 9 significant digits, so that the golden files do not depend on the last bit."""
    if isinstance(value, float):
        return float(f"{value:.9g}") if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def _check_golden(name: str, context: dict[str, Any]) -> None:
    path = GOLDEN / name
    data = _normalise(json.loads(json.dumps(context, ensure_ascii=False)))
    text = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.is_file(), f"{path} is missing: run with CUSTRISK_UPDATE_GOLDEN=1 to create it"
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert data == expected, (
        f"the context differs from {path}; if the change is intended, regenerate with "
        "CUSTRISK_UPDATE_GOLDEN=1 and review the diff"
    )


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_customer_context_matches_golden(run_path: Path, config: ReportConfig, lang: str) -> None:
    inputs = load_report_inputs(run_path)
    context = build_customer_context(
        inputs, "C001", config=config, lang=lang, report_date=REPORT_DATE
    )
    _check_golden(f"report_customer_C001_{lang}.json", context)


def test_portfolio_context_matches_golden(run_path: Path, config: ReportConfig) -> None:
    inputs = load_report_inputs(run_path)
    context = build_portfolio_context(inputs, config=config, lang="zh", report_date=REPORT_DATE)
    _check_golden("report_portfolio_zh.json", context)


def test_the_customer_report_lists_the_most_severe_alerts_and_names_the_rest(
    tmp_path: Path, config: ReportConfig
) -> None:
    """More alerts than reports.yaml's customer_alerts (3) would take the report onto a
    second page: the most severe are listed with their actions, the others named by
    level and code, none left out silently."""
    scores, details, run, alerts = handmade_frames()
    first = alerts[alerts["customer_id"] == "C001"].iloc[0]
    extra = [
        first.copy().to_frame().T.assign(code=code, level=level)
        for code, level in (("CP02", "yellow"), ("GR01", "red"), ("CR03", "yellow"))
    ]
    alerts = pd.concat([alerts, *extra], ignore_index=True)
    inputs = load_report_inputs(write_run(tmp_path, scores, details, run, alerts))
    ctx = build_customer_context(inputs, "C001", config=config, lang="en", report_date=REPORT_DATE)
    listed = [(a["level"]["code"], a["code"]) for a in ctx["alerts"]]
    named = [(a["level"]["code"], a["code"]) for a in ctx["more_alerts"]]
    assert listed == [("red", "CR01"), ("red", "GR01"), ("orange", "TX02")]
    assert named == [("yellow", "CP02"), ("yellow", "CR03")]
    assert ctx["alert_level"]["code"] == "red"
    html = ReportRenderer(config, lang="en").html(ctx)
    assert "And 2 more" in html and "alerts.csv" in html
    one = dataclasses.replace(config, customer_alerts=1)
    ctx = build_customer_context(inputs, "C001", config=one, lang="zh", report_date=REPORT_DATE)
    assert [a["code"] for a in ctx["alerts"]] == ["CR01"]
    assert [a["code"] for a in ctx["more_alerts"]] == ["GR01", "TX02", "CP02", "CR03"]
    assert "另有 4 条" in ReportRenderer(one, lang="zh").html(ctx)


def test_customer_context_content(run_path: Path, config: ReportConfig) -> None:
    inputs = load_report_inputs(run_path)
    ctx = build_customer_context(inputs, "C001", config=config, lang="en", report_date=REPORT_DATE)
    assert ctx["customer"]["phone"] == "138****5678"
    assert ctx["grade"] == {"code": "D", "key": "D", "label": "Watch"}
    assert [r["code"] for r in ctx["reasons"]] == [
        "overdue_ratio",
        "utilisation",
        "bureau_score_change_3m",
    ]
    assert ctx["reasons"][0]["impact_text"] == "-38"
    assert ctx["exposure"]["expected_loss"] == pytest.approx(0.1875 * 82000 * 0.45)
    assert [a["level"]["code"] for a in ctx["alerts"]] == ["red", "orange"]
    assert ctx["alerts"][0]["owner"] == "Risk officer"
    assert ctx["alerts"][0]["due_by"] == "2026-11-01"
    assert ctx["policy"]["review_frequency"] == "Every month"
    assert ctx["policy"]["band"] == "530 – 565"
    assert ctx["history"] == []
    json.dumps(ctx)  # plain data only


def test_a_score_band_has_no_thousands_separator(tmp_path: Path, config: ReportConfig) -> None:
    scores, details, run, alerts = handmade_frames()
    run["policy"]["score_range"] = [0.0, 1200.0]  # (A ends at 1000 before the range's end)
    inputs = load_report_inputs(write_run(tmp_path, scores, details, run, alerts))
    for lang in ("zh", "en"):
        ctx = build_customer_context(inputs, "C004", config=config, lang=lang)
        assert ctx["grade"]["code"] == "A"
        assert ctx["policy"]["band"] == "640 – 1000"  # points, not money: never 1,000


def test_the_top_and_bottom_score_bands_are_open_ended(
    run_path: Path, config: ReportConfig
) -> None:
    """Grade E's band read "0 – 530" (the policy's score range starts at 0), grade A's
    "640 – 1000", beside a gauge from 400 to 750."""
    inputs = load_report_inputs(run_path)
    bands = {
        cid: build_customer_context(inputs, cid, config=config)["policy"]["band"]
        for cid in ("C004", "C001", "C003")
    }
    assert bands == {"C004": "≥ 640", "C001": "530 – 565", "C003": "< 530"}


def test_contexts_do_not_mutate_inputs(run_path: Path, config: ReportConfig) -> None:
    inputs = load_report_inputs(run_path)
    scores, details = inputs.scores.copy(), inputs.details.copy()
    build_customer_context(inputs, "C003", config=config)
    build_portfolio_context(inputs, config=config)
    pd.testing.assert_frame_equal(inputs.scores, scores)
    pd.testing.assert_frame_equal(inputs.details, details)


def test_percentile_is_mid_rank(run_path: Path) -> None:
    stats = portfolio_stats(load_report_inputs(run_path))
    # utilisation of the five customers: 0.06, 0.24, 0.5, 0.82, 0.95
    assert stats.percentile("utilisation", 0.82) == 70
    assert stats.percentile("utilisation", 0.06) == 10
    assert stats.percentile("utilisation", 2.0) == 100
    assert stats.percentile("utilisation", None) is None
    assert stats.percentile("no_such_indicator", 1.0) is None


def test_unmasked_identity_is_masked_again(
    tmp_path: Path, config: ReportConfig, caplog: pytest.LogCaptureFixture
) -> None:
    scores, details, run, alerts = handmade_frames()
    details.loc[0, "phone_masked"] = "13812345678"
    details.loc[0, "name_masked"] = "张伟"
    inputs = load_report_inputs(write_run(tmp_path, scores, details, run, alerts))
    with caplog.at_level(logging.WARNING, logger="custrisk"):
        ctx = build_customer_context(inputs, "C001", config=config)
    assert ctx["customer"]["phone"] == "138****5678"
    assert ctx["customer"]["name"] == "张**"
    assert "13812345678" not in json.dumps(ctx, ensure_ascii=False)
    assert "not masked" in caplog.text


def test_details_with_raw_personal_data_are_refused(tmp_path: Path) -> None:
    scores, details, run, alerts = handmade_frames()
    details["phone"] = "13812345678"
    path = write_run(tmp_path, scores, details, run, alerts)
    with pytest.raises(DataError, match=r"unmasked personal data \(phone\)"):
        load_report_inputs(path)


def test_missing_sidecar_names_the_file(tmp_path: Path) -> None:
    path = write_handmade_run(tmp_path)
    path.with_name("scores.details.parquet").unlink()
    with pytest.raises(DataError, match=r"scores\.details\.parquet: the details file .* missing"):
        load_report_inputs(path)


def test_customer_without_details_row(tmp_path: Path, config: ReportConfig) -> None:
    scores, details, run, alerts = handmade_frames()
    path = write_run(tmp_path, scores, details[details["customer_id"] != "C004"], run, alerts)
    inputs = load_report_inputs(path)
    with pytest.raises(DataError, match="customer 'C004' has no row in the details"):
        build_customer_context(inputs, "C004", config=config)


def test_scores_csv_keeps_leading_zeros(tmp_path: Path) -> None:
    scores, details, run, alerts = handmade_frames()
    scores["customer_id"] = details["customer_id"] = ["0001", "0002", "0003", "0004", "0005"]
    alerts["customer_id"] = "0001"
    inputs = load_report_inputs(write_run(tmp_path, scores, details, run, alerts))
    assert inputs.customer_ids[0] == "0001"
    assert "0001" in inputs.details.index


def test_select_customers(run_path: Path) -> None:
    inputs = load_report_inputs(run_path)
    assert select_customers(inputs) == ["C001", "C002", "C003", "C004", "C005"]
    assert select_customers(inputs, grades=["D", "E"]) == ["C001", "C003"]
    assert select_customers(inputs, alert_levels=["RED"]) == ["C001", "C003"]
    assert select_customers(inputs, customers=["C005", "C002"], grades=["B"]) == ["C002"]
    assert select_customers(inputs, customers="C005") == ["C005"]  # one id, not its letters
    assert repr(inputs).startswith("ReportInputs(") and "<DataFrame 5 rows x " in repr(inputs)
    with pytest.raises(UsageError, match=r"--customers: unknown customer id\(s\) C999"):
        select_customers(inputs, customers=["C001", "C999"])


def test_grade_filter_needs_a_grade_column(tmp_path: Path) -> None:
    inputs = load_report_inputs(write_run(tmp_path, *handmade_frames(with_policy=False)))
    with pytest.raises(UsageError, match="--grade: .* has no grade column"):
        select_customers(inputs, grades=["E"])


def test_context_without_policy_columns(tmp_path: Path, config: ReportConfig) -> None:
    inputs = load_report_inputs(write_run(tmp_path, *handmade_frames(with_policy=False)))
    ctx = build_customer_context(inputs, "C001", config=config)
    assert ctx["grade"] is None and ctx["policy"] is None
    assert ctx["limits"]["current"] == 100000.0  # the details' credit limit
    portfolio = build_portfolio_context(inputs, config=config)
    assert portfolio["grades"] is None and portfolio["limits"] is None


def test_gauge_arcs_are_the_policy_bands_even_for_an_empty_grade(
    tmp_path: Path, config: ReportConfig
) -> None:
    scores, details, run, alerts = handmade_frames()
    held = scores["customer_id"] != "C004"  # the only A customer: nobody holds A
    inputs = load_report_inputs(write_run(tmp_path, scores[held], details[held], run, alerts))
    gauge = build_customer_context(inputs, "C001", config=config)["score"]["gauge"]
    assert (gauge["min"], gauge["max"]) == (400, 750)
    # The policy's cut-offs, clipped to the gauge's range: A [640, 1000] ends at 750
    # and E [0, 530) starts at 400; not the midpoints between observed scores.
    assert [(s["grade"], s["from"], s["to"]) for s in gauge["segments"]] == [
        ("E", 400, 530),
        ("D", 530, 565),
        ("C", 565, 600),
        ("B", 600, 640),
        ("A", 640, 750),
    ]


def test_a_grade_nobody_holds_is_still_a_row_of_the_portfolio_tables(
    tmp_path: Path, config: ReportConfig
) -> None:
    """As on the console of custrisk score: a policy grade without customers is a row
    of 0 (the manager sees that nobody reached A), not a grade gone from the report."""
    scores, details, run, alerts = handmade_frames()
    held = scores["customer_id"] != "C004"  # the only A customer
    inputs = load_report_inputs(write_run(tmp_path, scores[held], details[held], run, alerts))
    portfolio = build_portfolio_context(inputs, config=config, lang="en")
    grades = {g["code"]: g for g in portfolio["grades"]}
    assert list(grades) == ["A", "B", "C", "D", "E"]
    assert (grades["A"]["count"], grades["A"]["share_text"], grades["A"]["label"]) == (
        0,
        "0.0%",
        "Prime",
    )
    limits = {r["code"]: r for r in portfolio["limits"]["rows"]}
    assert list(limits) == ["A", "B", "C", "D", "E"] and limits["A"]["count"] == 0


def test_gauge_without_policy_bands_falls_back_to_observed_scores(
    tmp_path: Path, config: ReportConfig
) -> None:
    scores, details, run, alerts = handmade_frames()
    for grade in run["policy"]["grades"]:  # a policy that records no scores
        del grade["min_score"], grade["max_score"]
    inputs = load_report_inputs(write_run(tmp_path, scores, details, run, alerts))
    gauge = build_customer_context(inputs, "C001", config=config)["score"]["gauge"]
    # Observed: E 498, D 541, C 590, B 650, A 688; boundaries halfway between them
    assert [(s["grade"], s["from"], s["to"]) for s in gauge["segments"]] == [
        ("E", 400, 519.5),
        ("D", 519.5, 565.5),
        ("C", 565.5, 620),
        ("B", 620, 669),
        ("A", 669, 750),
    ]


def test_read_drift_accepts_the_drift_json_and_a_list(tmp_path: Path) -> None:
    report = tmp_path / "drift.json"
    report.write_text(
        json.dumps(
            {
                "verdict": "warn",
                "statistics": [
                    {"name": "score", "metric": "psi", "value": 0.12, "verdict": "warn"},
                    {"name": "utilisation", "metric": "csi", "value": 0.01, "verdict": "stable"},
                ],
            }
        ),
        encoding="utf-8",
    )
    drift = read_drift(report)
    assert drift["verdict"] == "warn"
    assert drift["statistics"][0] == {
        "name": "score",
        "kind": "psi",
        "value": 0.12,
        "verdict": "warn",
    }
    plain = tmp_path / "list.json"
    plain.write_text('[{"name": "auc", "kind": "auc_drop", "value": null, "verdict": "stable"}]')
    assert read_drift(plain)["statistics"][0]["value"] is None
    bad = tmp_path / "bad.json"
    bad.write_text('[{"name": "score", "value": "high", "verdict": "warn"}]')
    with pytest.raises(DataError, match=r"statistics\[0\]\.value is not a number"):
        read_drift(bad)
    bad.write_text('{"statistics": [{"name": "score"}]}')
    with pytest.raises(DataError, match=r"statistics\[0\] needs name, value and verdict"):
        read_drift(bad)


def test_drift_section_lists_the_unstable_first(run_path: Path, config: ReportConfig) -> None:
    stats = [
        {"name": f"f{i}", "metric": "csi", "value": 0.01, "verdict": "stable"} for i in range(20)
    ]
    stats.append({"name": "utilisation", "metric": "csi", "value": 0.3, "verdict": "alert"})
    path = run_path.parent / "drift.json"
    path.write_text(json.dumps({"verdict": "alert", "statistics": stats}), encoding="utf-8")
    inputs = load_report_inputs(run_path, drift=path)
    drift = build_portfolio_context(inputs, config=config, lang="zh")["drift"]
    assert drift["verdict"]["label"] == "显著漂移"
    assert [r["label"] for r in drift["shown"]] == ["额度使用率"]
    assert len(drift["hidden"]) == 20


def test_history_gives_score_history_and_migration(tmp_path: Path, config: ReportConfig) -> None:
    run = write_handmade_run(tmp_path / "run")
    older = write_history(tmp_path / "hist", "2026-08-31", shift=30)
    old = write_history(tmp_path / "hist", "2026-09-30", shift=12, grades={"C001": "C"})
    inputs = load_report_inputs(run, history=[old, older])
    ctx = build_customer_context(inputs, "C001", config=config)
    assert [(p["as_of"], p["score"], p["grade"]) for p in ctx["history"]] == [
        ("2026-08-31", 571.0, "D"),
        ("2026-09-30", 553.0, "C"),
        ("2026-10-31", 541.0, "D"),
    ]
    migration = build_portfolio_context(inputs, config=config, lang="en")["migration"]
    assert migration["previous_as_of"] == "2026-09-30"
    assert migration["columns"] == ["A", "B", "C", "D", "E", "Departed"]
    rows = {r["label"]: r["counts"] for r in migration["rows"]}
    assert rows["C"] == [0, 0, 1, 1, 0, 0]  # C001 went from C to D
    assert rows["New"] == [0, 0, 0, 0, 0, 0]


def test_a_customer_new_in_this_run_is_said_to_be_first_scored(
    tmp_path: Path, config: ReportConfig
) -> None:
    """Earlier runs hold no score of C002: its report says it is first scored rather
    than dropping the history section without a word; with no earlier run, nothing."""
    run = write_handmade_run(tmp_path / "run")
    scores, details, facts, _alerts = handmade_frames()
    kept = scores["customer_id"] != "C002"
    old = write_run(
        tmp_path / "hist" / "2026-09-30",
        scores[kept].assign(as_of="2026-09-30", score=scores["score"] + 5),
        details[kept],
        facts,
        None,
    )
    inputs = load_report_inputs(run, history=[old])
    new = build_customer_context(inputs, "C002", config=config, lang="en")
    assert new["history"] == [] and new["first_scored"] is True
    html = ReportRenderer(config, lang="en").html(new)
    assert "first scored in this run" in html
    known = build_customer_context(inputs, "C001", config=config)
    assert known["history"] and known["first_scored"] is False
    alone = build_customer_context(load_report_inputs(run), "C002", config=config)
    assert alone["first_scored"] is False  # no earlier run given: nothing to say


@pytest.mark.parametrize(
    ("as_of", "said"),
    [
        # the next month given as --history: the migration ran backwards ("previous run
        # as of 2026-11-30" on a run of 2026-10-31) and the month-over-month KPIs put the
        # later month first
        ("2026-11-30", r"after this run's as-of date 2026-10-31"),
        # the run given as its own history (or a re-run of the month): a migration of the
        # month into itself
        ("2026-10-31", r"the as-of date of this run too"),
    ],
    ids=["later", "same-date"],
)
def test_a_history_run_not_earlier_than_the_run_is_refused(
    tmp_path: Path, as_of: str, said: str
) -> None:
    run = write_handmade_run(tmp_path / "run")
    history = write_history(tmp_path / "hist", as_of, shift=4)
    with pytest.raises(
        UsageError,
        match=rf"^--history .* is as of {as_of}, {said}: history runs must be earlier months",
    ):
        load_report_inputs(run, history=[history])


def test_migration_from_the_run_file(tmp_path: Path, config: ReportConfig) -> None:
    scores, details, run, alerts = handmade_frames()
    run["migration"] = {
        "rows": ["A", "B", "new"],
        "columns": ["A", "B", "departed"],
        "counts": [[3, 1, 0], [0, 2, 1], [1, 0, 0]],
        "previous_as_of": "2026-09-30",
    }
    inputs = load_report_inputs(write_run(tmp_path, scores, details, run, alerts))
    migration = build_portfolio_context(inputs, config=config, lang="zh")["migration"]
    assert migration["columns"] == ["A", "B", "退出客户"]
    assert [(r["label"], r["total"], r["diagonal"]) for r in migration["rows"]] == [
        ("A", 4, 0),
        ("B", 3, 1),
        ("新增客户", 1, None),
    ]


def test_portfolio_matrix_and_top(run_path: Path, config: ReportConfig) -> None:
    ctx = build_portfolio_context(load_report_inputs(run_path), config=config, lang="zh")
    matrix = ctx["matrix"]
    assert matrix["count"] == 5
    assert [row["label"] for row in matrix["rows"]][0] == "< 2%"
    assert matrix["columns"][0] == "< ¥2万"
    # C003: PD 35% (last band), exposure 190,000 (fourth band)
    assert matrix["rows"][-1]["cells"][3]["count"] == 1
    assert matrix["rows"][-1]["cells"][3]["heat"] == 4
    assert [c["customer_id"] for c in ctx["top"]][:2] == ["C003", "C001"]
    assert ctx["service"]["group_by"] == "region"
    assert ctx["service"]["note"].startswith("明细数据不含渠道字段")
    assert {o["owner"] for o in ctx["alerts"]["owners"]} == {
        "风控专员",
        "客户经理",
        "催收专员",
        "客服主管",
    }


def test_a_run_of_new_customers_has_no_made_up_exposure(
    tmp_path: Path, run_path: Path, config: ReportConfig
) -> None:
    """New customers scored from an application table have no balance and no current
    limit: the portfolio says their exposure and expected loss are unknown (not ¥0),
    leaves out the PD x exposure matrix and the limit changes, and ranks its top
    customers by PD."""
    scores, details, facts, alerts = handmade_frames()
    scores = scores.assign(current_limit=float("nan"), limit_change=float("nan"))
    details = details.assign(credit_limit=float("nan"), outstanding_balance=float("nan"))
    inputs = load_report_inputs(write_run(tmp_path, scores, details, facts, alerts))
    ctx = build_portfolio_context(inputs, config=config, lang="zh")
    missing = config.texts["zh"]["missing"]
    overview = ctx["overview"]
    assert ctx["has_exposure"] is False
    assert overview["total_exposure_text"] == overview["expected_loss_text"] == missing
    assert overview["total_limit_text"] == overview["el_rate_text"] == missing
    assert {g["exposure_text"] for g in ctx["grades"]} == {missing}
    assert ctx["matrix"] is None and ctx["limits"] is None
    ranked = scores.sort_values("pd", ascending=False)["customer_id"].tolist()
    assert [c["customer_id"] for c in ctx["top"]] == ranked
    html = ReportRenderer(config, lang="zh").html(ctx)
    texts = config.texts["zh"]
    assert texts["section_top_pd"] in html and texts["section_top"] not in html
    assert texts["section_matrix"] not in html and texts["section_limits_summary"] not in html
    # with balances, the same customers rank by expected loss, as before
    with_balance = build_portfolio_context(load_report_inputs(run_path), config=config)
    assert with_balance["has_exposure"] is True and with_balance["matrix"] is not None


def test_alert_levels_count_each_customer_once_at_their_most_severe_level(
    tmp_path: Path, config: ReportConfig
) -> None:
    scores, details, run, alerts = handmade_frames()
    # C002 gets a yellow alert of its own beside C001's and C003's red and lesser ones.
    extra = alerts.iloc[[-1]].assign(customer_id="C002", level="yellow", code="SV09")
    alerts = pd.concat([alerts, extra], ignore_index=True)
    inputs = load_report_inputs(write_run(tmp_path, scores, details, run, alerts))
    summary = build_portfolio_context(inputs, config=config, lang="en")["alerts"]
    levels = {lv["code"]: (lv["count"], lv["customers"]) for lv in summary["levels"]}
    assert levels == {"red": (2, 2), "orange": (1, 0), "yellow": (2, 1)}
    assert sum(c for _, c in levels.values()) == summary["customers"] == 3
    assert summary["total"] == 5


def test_customer_file_names_are_safe_and_distinct() -> None:
    assert customer_file_name("0000000001") == "customer_0000000001.pdf"
    evil = customer_file_name("../../etc/passwd")
    assert "/" not in evil and evil.startswith("customer_______etc_passwd-")
    assert customer_file_name("a/b") != customer_file_name("a_b")
    assert customer_file_name("客户1") != customer_file_name("客户2")
    assert len(customer_file_name("x" * 500)) < 100


BAD_CONFIGS = [
    ("lgd: 1.5\n", r"key 'lgd': must be between 0 and 1"),
    # a percentage where a share is meant says what to write
    ("lgd: 45\n", r"key 'lgd': must be between 0 and 1, got 45; write 0\.45 for 45 %"),
    ("lgd: 45%\n", r"key 'lgd': expected a share .* got '45%'; write 0\.45 for 45 %"),
    ("colour: red\n", r"key 'colour': unknown key"),
    ("pd_bands: [0.1, 0.05]\n", r"key 'pd_bands': edges must be positive and increasing"),
    ("style: {primary: 'red; x: url(a)'}\n", r"key 'style.primary': expected a colour"),
    ("style: {font_family: 'A\"B'}\n", r"key 'style.font_family'.*not a plain list of font"),
    ("score_range: [700, 400]\n", r"key 'score_range': expected \[low, high\]"),
    ("customer_alerts: 0\n", r"key 'customer_alerts'"),
]


@pytest.mark.parametrize(("extra", "message"), BAD_CONFIGS)
def test_config_errors_name_the_key(tmp_path: Path, extra: str, message: str) -> None:
    base = load_report_config().path
    text = Path(base).read_text(encoding="utf-8")
    for key in ("lgd:", "pd_bands:", "style:", "score_range:", "customer_alerts:"):
        if extra.startswith(key):
            start = text.index(f"\n{key}") + 1
            end = text.index("\n\n", start)
            text = text[:start] + text[end + 2 :]
    path = tmp_path / "reports.yaml"
    path.write_text(text + extra, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_report_config(path)


def test_config_text_needs_both_languages(tmp_path: Path) -> None:
    text = Path(load_report_config().path).read_text(encoding="utf-8")
    path = tmp_path / "reports.yaml"
    path.write_text(text.replace('  answer_yes: {zh: 是, en: "Yes"}', "  answer_yes: {zh: 是}"))
    with pytest.raises(ConfigError, match=r"key 'texts\.answer_yes\.en': required key is missing"):
        load_report_config(path)


@pytest.mark.parametrize(
    ("lang", "value", "signed", "shown"),
    [
        ("zh", 31_035.4, False, "¥31,035"),  # fits: in full
        ("zh", 999_999_999, False, "¥999,999,999"),
        ("zh", 12_345_678_901, False, "¥123.46亿"),  # too wide for a tile: in units
        ("zh", -12_345_678_901, True, "-¥123.46亿"),
        ("zh", 5_000, True, "+¥5,000"),
        ("en", 11_111_111_111.11, False, "¥11.11B"),
        ("en", 2_500_000_000, True, "+¥2.50B"),
    ],
)
def test_tile_amounts_are_never_cut_short(
    config: ReportConfig, lang: str, value: float, signed: bool, shown: str
) -> None:
    # a customer of twelve-digit limits had ¥12,345,678,90… in the PDF's tiles
    from custrisk.report.formatting import Formatter

    assert Formatter(config, lang).money_tile(value, signed=signed) == shown


def _packaged_indicators() -> list[Any]:
    """Every indicator of the packaged configs: the default profile's and the CRM one's."""
    from custrisk.config.profiles import PROFILES
    from custrisk.indicators.config import load_indicator_config

    crm = PROFILES["crm"]
    return [
        *load_indicator_config().indicators,
        *load_indicator_config(crm.config("indicators.yaml"), sources=crm.sources).indicators,
    ]


def _is_fraction(indicator: Any) -> bool:
    """A rate or share by its name (率, 占比): read as a percentage in a Chinese report;
    a coverage (覆盖率: payments against the balance, rightly above 1) is a quotient."""
    return indicator.label_zh.endswith(("率", "占比")) and "覆盖" not in indicator.label_zh


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_rate_and_share_indicator_is_shown_as_a_percentage(
    config: ReportConfig, lang: str
) -> None:
    from custrisk.report.formatting import Formatter

    fmt = Formatter(config, lang)
    indicators = [i for i in _packaged_indicators() if not i.categorical]
    fractions = {i.code: fmt.value(0.2634, i.unit) for i in indicators if _is_fraction(i)}
    # 额度使用率, 逾期金额占比, 近12月回款率 ... of both profiles
    assert {"utilisation", "overdue_ratio", "collection_rate_12m"} <= fractions.keys()
    assert {code: text for code, text in fractions.items() if text != "26.3%"} == {}
    # ... and only those: a trend or a capacity is a quotient, not a share (0.26, not 26%)
    others = {i.code: fmt.value(0.2634, i.unit) for i in indicators if not _is_fraction(i)}
    assert {
        "trade_amount_trend",
        "payment_capacity",
        "contract_trend",
        "payment_coverage_12m",
    } <= others.keys()
    assert [code for code, text in others.items() if text.endswith("%")] == []


def test_every_unit_of_the_packaged_indicators_is_one_the_reports_know(
    config: ReportConfig,
) -> None:
    """The CRM profile's average satisfaction read "3.667 1-5" in both languages (its unit
    1-5 was not in reports.yaml), and its counts "2 contracts" in a Chinese report."""
    from custrisk.report.formatting import Formatter

    units = {i.unit for i in _packaged_indicators() if not i.categorical} - {""}
    assert sorted(units - set(config.units)) == []
    assert Formatter(config, "zh").value(3.6667, "1-5") == "3.7分"
    assert Formatter(config, "en").value(3.6667, "1-5") == "3.7/5"
    assert Formatter(config, "zh").value(2, "contracts") == "2份"


def test_a_flat_tables_known_columns_read_english_in_an_english_report(
    tmp_path: Path, config: ReportConfig
) -> None:
    """A model trained on a flat table with Chinese headers labels its features by the
    headers in both languages: the English report read 征信评分 as a risk factor."""
    scores, details, run, alerts = handmade_frames()
    for code in ("utilisation", "bureau_score_change_3m"):
        zh = run["indicators"][code]["zh"]
        run["indicators"][code] |= {"en": zh}
    run["indicators"]["overdue_ratio"] |= {"zh": "逾期比例", "en": "逾期比例"}
    for frame in (scores, details):  # a column the indicators config does not hold
        frame.loc[frame["customer_id"] == "C001", "reason_3_code"] = "outstanding_balance"
    run["indicators"]["outstanding_balance"] = {"zh": "贷款余额", "en": "贷款余额", "unit": "CNY"}
    inputs = load_report_inputs(write_run(tmp_path, scores, details, run, alerts))
    en = build_customer_context(inputs, "C001", config=config, lang="en")
    labels = {r["code"]: r["label"] for r in en["reasons"]}
    assert labels["utilisation"] == "Credit utilisation"
    assert labels["outstanding_balance"] == "Outstanding balance"
    assert labels["overdue_ratio"] == "Overdue ratio"
    zh = build_customer_context(inputs, "C001", config=config, lang="zh")
    assert {r["code"]: r["label"] for r in zh["reasons"]}["overdue_ratio"] == "逾期比例"


def test_a_risk_factor_without_a_value_reads_no_data(tmp_path: Path, config: ReportConfig) -> None:
    """A customer without transactions lost 21 points for "average payment delay: —",
    which read like a value the report failed to fill."""
    scores, details, run, alerts = handmade_frames()
    first = details.loc[details["customer_id"] == "C001"].index[0]
    code = details.loc[first, "reason_1_code"]
    details.loc[first, [f"ind__{code}", "reason_1_value"]] = float("nan")
    inputs = load_report_inputs(write_run(tmp_path, scores, details, run, alerts))
    for lang, said in (("zh", "无记录"), ("en", "No data")):
        reasons = build_customer_context(inputs, "C001", config=config, lang=lang)["reasons"]
        assert reasons[0]["value_text"] == said
        assert reasons[1]["value_text"] not in (said, "—")
