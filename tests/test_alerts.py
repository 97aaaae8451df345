"""Early-warning rules: loading, each default rule on hand-made customers, the alerts file
and ``custrisk alerts``."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.errors import ConfigError, UsageError
from custrisk.expr import ExprType
from custrisk.indicators import load_indicator_config
from custrisk.policy import (
    alerts_at_or_above,
    alerts_csv_bytes,
    apply_policy,
    filter_alerts,
    load_alert_rules,
    load_policy,
    parse_alert_rules,
)
from custrisk.policy.rules import parse_template
from custrisk.results import ALERT_COLUMNS, ScoringRun, read_alerts, read_alerts_file

INDICATORS = load_indicator_config()
POLICY = load_policy(indicators=INDICATORS)
RULES = load_alert_rules(indicators=INDICATORS, policy=POLICY)
AS_OF = "2026-10-31"

#: A customer no default rule fires for (grade A: score 700).
BENIGN: dict[str, Any] = {
    "score": 700,
    "credit_limit": 50_000.0,
    "annual_income": 200_000.0,
    "outstanding_balance": 15_000.0,
    "overdue_amount": 0.0,
    "trade_amount_trend": 1.0,
    "orders_12m": 20,
    "refunds_12m": 0,
    "refund_rate_12m": 0.0,
    "chargebacks_12m": 0,
    "complaints_90d": 0,
    "unresolved_complaints": 0,
    "bureau_score": 700,
    "bureau_score_change_3m": 0,
    "max_days_past_due_12m": 0,
    "utilisation": 0.3,
    "days_since_last_follow_up": 30,
}
CREDIT = ("credit_limit", "annual_income", "outstanding_balance", "overdue_amount")


def customers(*overrides: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores and details for one customer per overrides dict (on top of BENIGN)."""
    rows = [{**BENIGN, **o} for o in overrides]
    ids = [f"C{i:03d}" for i in range(len(rows))]
    scores = pd.DataFrame(
        {
            "customer_id": ids,
            "as_of": AS_OF,
            "pd": 0.01,
            "score": [r["score"] for r in rows],
            "model_id": "m@1",
        }
    )
    details = pd.DataFrame({"customer_id": ids})
    for name in CREDIT:
        details[name] = [float(r[name]) for r in rows]
    for indicator in INDICATORS.indicators:
        if indicator.output:
            values = [r.get(indicator.code, np.nan) for r in rows]
            details[f"ind__{indicator.code}"] = pd.Series(
                values, dtype="str" if indicator.value_type is ExprType.STRING else "float64"
            )
    return scores, details


def fired(overrides: dict[str, Any], previous: dict[str, Any] | None = None) -> set[str]:
    """Codes of the default rules that fire for one customer."""
    scores, details = customers(overrides)
    prev = None
    if previous is not None:
        prev = pd.DataFrame([{"customer_id": "C000", "as_of": "2026-09-30", **previous}])
    result = apply_policy(scores, details, POLICY, RULES, previous=prev)
    return set(result.alerts["code"])


def test_default_rules_cover_every_level() -> None:
    assert RULES.codes == (
        "TX01",
        "TX02",
        "CP01",
        "CP02",
        "CR01",
        "CR02",
        "CR04",
        "CR03",
        "RL01",
        "GR01",
    )
    assert {rule.level for rule in RULES.rules} == {"red", "orange", "yellow"}
    for rule in RULES.rules:
        assert rule.actions_zh and rule.actions_en and rule.owner and rule.response_hours > 0
    assert [r.code for r in RULES.rules if r.needs_previous] == ["GR01"]


def test_a_benign_customer_raises_no_alert() -> None:
    assert fired({}) == set()


@pytest.mark.parametrize(
    ("code", "fires", "quiet"),
    [
        ("TX01", {"trade_amount_trend": 0.19, "orders_12m": 12}, {"trade_amount_trend": 0.2}),
        (
            "TX01",
            {"trade_amount_trend": 0.1, "orders_12m": 12},
            {"trade_amount_trend": 0.1, "orders_12m": 11},
        ),
        ("TX01", {"trade_amount_trend": 0.0}, {"trade_amount_trend": np.nan}),
        ("TX02", {"chargebacks_12m": 3}, {"chargebacks_12m": 2}),
        (
            "TX02",
            {"refund_rate_12m": 0.31, "refunds_12m": 3},
            {"refund_rate_12m": 0.3, "refunds_12m": 3},
        ),
        (
            "TX02",
            {"refund_rate_12m": 0.5, "refunds_12m": 3},
            {"refund_rate_12m": 0.5, "refunds_12m": 2},
        ),
        ("CP01", {"complaints_90d": 3}, {"complaints_90d": 2}),
        ("CP02", {"unresolved_complaints": 2}, {"unresolved_complaints": 1}),
        ("CR01", {"bureau_score_change_3m": -30}, {"bureau_score_change_3m": -29}),
        (
            "CR02",
            {"max_days_past_due_12m": 31, "overdue_amount": 500, "score": 529},
            {"max_days_past_due_12m": 30, "overdue_amount": 500},
        ),
        (
            "CR02",
            {"max_days_past_due_12m": 45, "overdue_amount": 0.01, "score": 500},
            {"max_days_past_due_12m": 45, "overdue_amount": 0},
        ),
        (
            "CR04",
            {"max_days_past_due_12m": 31, "overdue_amount": 500, "score": 530},
            {"max_days_past_due_12m": 30, "overdue_amount": 500},
        ),
        (
            "CR04",
            {"max_days_past_due_12m": 45, "overdue_amount": 0.01},
            {"max_days_past_due_12m": 45, "overdue_amount": 0},
        ),
        ("CR03", {"utilisation": 0.91}, {"utilisation": 0.9}),
        ("RL01", {"days_since_last_follow_up": 181}, {"days_since_last_follow_up": 180}),
        (
            "RL01",
            {"days_since_last_follow_up": np.nan, "score": 650},
            {"days_since_last_follow_up": 400, "score": 580},
        ),
    ],
)
def test_each_default_rule_fires_and_not_just_below(
    code: str, fires: dict[str, Any], quiet: dict[str, Any]
) -> None:
    assert fired(fires) == {code}
    assert code not in fired({**fires, **quiet})


def test_grade_downgrade_of_two_notches_needs_the_previous_run() -> None:
    # now C (score 580): two notches below A, one below B
    assert fired({"score": 580}, previous={"score": 700, "grade": "A"}) == {"GR01"}
    assert fired({"score": 580}, previous={"score": 620, "grade": "B"}) == set()
    assert fired({"score": 500}, previous={"score": 700}) == {"GR01"}  # graded from the score
    scores, details = customers({"score": 500})
    result = apply_policy(scores, details, POLICY, RULES)
    assert result.alerts.empty
    assert result.summary["alerts"]["skipped_rules"] == {
        "GR01": "needs a previous run (--previous)"
    }


def test_alert_rows_say_what_and_who_and_when() -> None:
    scores, details = customers(
        {
            "max_days_past_due_12m": 45,
            "overdue_amount": 12_345.6,
            "utilisation": 0.95,
            "score": 500,
        },
        {"score": 650, "days_since_last_follow_up": np.nan},
        {},
    )
    result = apply_policy(scores, details, POLICY, RULES)
    alerts = result.alerts
    assert list(alerts.columns) == list(ALERT_COLUMNS)
    assert alerts[["customer_id", "code", "level"]].values.tolist() == [
        ["C000", "CR02", "red"],
        ["C000", "CR03", "yellow"],
        ["C001", "RL01", "yellow"],
    ]
    red = alerts.iloc[0]
    assert red["level_zh"] == "红色" and red["owner"] == "collections"
    assert red["message_zh"] == "逾期45天，逾期金额12,346元"
    assert red["message_en"] == "45 days past due, CNY 12,346 overdue"
    assert red["actions_zh"].startswith("24小时内启动催收") and "；" in red["actions_zh"]
    assert red["response_hours"] == 24 and red["due_by"] == "2026-11-01T00:00"
    assert alerts.iloc[1]["due_by"] == "2026-11-05T00:00"  # 120 hours
    # never followed up: said so, not "for — days"
    assert alerts.iloc[2]["message_en"] == (
        "Grade A customer, days since the last follow-up: never followed up"
    )
    assert alerts.iloc[2]["message_zh"] == "优质客户未跟进天数：从未跟进"
    table = result.scores
    assert table["alert_level"].tolist() == ["red", "yellow", ""]
    assert table["alert_codes"].tolist() == ["CR02;CR03", "RL01", ""]
    facts = result.summary["alerts"]
    assert facts["by_level"] == {"red": 1, "orange": 0, "yellow": 2}
    assert facts["customers_by_highest_level"] == {"red": 1, "orange": 0, "yellow": 1}
    assert facts["by_code"]["CR02"] == 1 and facts["total"] == 3


def test_rules_reading_unavailable_indicators_are_skipped() -> None:
    scores, details = customers({"complaints_90d": 5})
    result = apply_policy(scores, details, POLICY, RULES, unavailable={"complaints_90d"})
    assert result.alerts.empty
    assert "CP01" in result.summary["alerts"]["skipped_rules"]


# -- rule config errors ------------------------------------------------------------------


RULE = {
    "level": "red",
    "condition": "utilisation > 0.9",
    "message": {"zh": "使用率{utilisation:.0%}", "en": "utilisation {utilisation:.0%}"},
    "actions": {"zh": ["处理"], "en": ["act"]},
    "owner": "risk_officer",
    "response_hours": 24,
}


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        (
            {"level": "purple"},
            r"key 'rules\.X1\.level': 'purple' is not allowed; allowed values: red, orange, yellow",
        ),
        (
            {"condition": "utilisation"},
            r"rules\.X1\.condition': the condition gives a number, not true/false",
        ),
        (
            {"condition": "utilisaton > 0.9"},
            r"rules\.X1\.condition': unknown name 'utilisaton' .*did you mean 'utilisation'",
        ),
        (
            {"condition": "grade == 'F'"},
            r"rules\.X1\.condition': grade 'F' is not a grade of the policy: .*grades: A, B, C, D, E",
        ),
        ({"condition": "isin(prev_grade, 'A', 'Z')"}, r"grade 'Z' is not a grade of the policy"),
        (
            {"message": {"zh": "x{nope}", "en": "y"}},
            r"rules\.X1\.message\.zh': unknown name 'nope' in placeholder '\{nope\}'",
        ),
        (
            {"message": {"zh": "x{utilisation:.0q}", "en": "y"}},
            r"format '\.0q' in '\{utilisation:\.0q\}' does not fit a number",
        ),
        (
            {"message": {"zh": "x{", "en": "y"}},
            r"unmatched '\{' at column 2; write '\{\{' for a literal brace",
        ),
        ({"response_hours": 0}, r"rules\.X1\.response_hours': must be at least 1, got 0"),
        ({"response_hours": 2.5}, r"rules\.X1\.response_hours': expected an integer, got 2\.5"),
        ({"owner": None}, r"rules\.X1\.owner': required key is missing"),
    ],
)
def test_rule_errors(change: dict[str, Any], pattern: str) -> None:
    rule = {**RULE, **change}
    with pytest.raises(ConfigError, match=r"^a\.yaml, key 'rules\.X1\.[a-z_.]+': ") as info:
        parse_alert_rules(
            {"rules": {"X1": rule}}, indicators=INDICATORS, policy=POLICY, file="a.yaml"
        )
    assert re.search(pattern, str(info.value)), str(info.value)


def test_rule_code_must_be_plain() -> None:
    with pytest.raises(ConfigError, match=r"rule code 'A;B' is not allowed"):
        parse_alert_rules({"rules": {"A;B": RULE}}, indicators=INDICATORS, file="a.yaml")


def test_message_templates() -> None:
    names = {"x": ExprType.NUMBER, "g": ExprType.STRING, "d": ExprType.DATE, "b": ExprType.BOOL}
    template = parse_template("{{x}} {x} {x:.1%} {g} {d} {b} {x:,.0f}", names)
    assert template.names == {"x", "g", "d", "b"}
    assert template.render({"x": 1234.5, "g": "A", "d": 20392.0, "b": 1.0}) == (
        "{x} 1234.5 123450.0% A 2025-10-31 true 1,234"
    )
    assert template.render({"x": np.nan, "g": None, "d": np.nan, "b": np.nan}).startswith("{x} —")
    assert parse_template("plain", names).render({}) == "plain"


def test_a_placeholder_may_say_what_a_missing_value_means() -> None:
    """{days|从未跟进}: a customer never followed up reads as such, not as '—天'."""
    names = {"days": ExprType.NUMBER, "pct": ExprType.NUMBER}
    template = parse_template("未跟进天数：{days|从未跟进}, {pct|无:.0%}, {days}", names)
    assert template.render({"days": 200.0, "pct": 0.25}) == "未跟进天数：200, 25%, 200"
    assert template.render({"days": np.nan, "pct": None}) == "未跟进天数：从未跟进, 无, —"
    rows = {"days": np.array([200.0, np.nan, 3.0]), "pct": [0.5, None, 0.1]}
    assert template.render_rows(rows, 3) == [
        template.render({k: v[i] for k, v in rows.items()}) for i in range(3)
    ]
    with pytest.raises(ValueError, match=r"format '\.0%' in '\{days\|x:\.0%\}'"):
        parse_template("{days|x:.0%}", {"days": ExprType.STRING})


def test_messages_of_many_rows_are_each_rows_render() -> None:
    names = {"x": ExprType.NUMBER, "g": ExprType.STRING, "d": ExprType.DATE}
    template = parse_template(
        "{{x}} {x} 比 {x:.1%}, {g}/{d}. {missing}", {**names, "missing": ExprType.NUMBER}
    )
    # 1, 1.0 and True are one key to a dict, three texts to str; NaN is never equal
    rows = {
        "x": [1, 1.0, True, np.nan, None, 2.5, 2.5, float("nan")],
        "g": [1, 1.0, True, None, "A", "A", ["list"], "é"],
        "d": [20392.0, 20392.0, np.nan, 1e13, None, 0.0, -1.0, 20392.0],
    }
    got = template.render_rows(rows, 8)
    assert got == [template.render({k: v[i] for k, v in rows.items()}) for i in range(8)]
    assert got[0] != got[1] != got[2]  # "1", "1.0" and "True" shown for g
    assert parse_template("plain", names).render_rows({}, 3) == ["plain"] * 3
    # columns as arrays (a rule's numbers and dates): the same texts as row by row
    arrays = {
        "x": np.array([0.0, 2.5, np.nan, 1234.5, 0.0, 1e-7, 3.0, np.nan]),
        "g": ["a"] * 8,
        "d": np.array([20392, 20392, -1, 0, 20392, 10**13, 7, 20392]),
    }
    got = template.render_rows(arrays, 8)
    assert got == [template.render({k: v[i] for k, v in arrays.items()}) for i in range(8)]
    # 0.0 and -0.0 are one value to a dict as to a hash: the first one's text, either way
    flags = parse_template("{b} {x:+.0f}", {"b": ExprType.BOOL, "x": ExprType.NUMBER})
    signed = {"b": np.array([True, False, True]), "x": np.array([-0.0, 0.0, -0.0])}
    as_lists = {name: values.tolist() for name, values in signed.items()}
    assert (
        flags.render_rows(signed, 3)
        == flags.render_rows(as_lists, 3)
        == [
            "true -0",
            "false -0",
            "true -0",
        ]
    )


# -- the alerts file and filters -----------------------------------------------------------


@pytest.fixture
def alerts_frame() -> pd.DataFrame:
    scores, details = customers(
        {"max_days_past_due_12m": 45, "overdue_amount": 100, "score": 500},
        {"complaints_90d": 4, "score": 580},
        {"utilisation": 0.95, "score": 620},
        {"days_since_last_follow_up": 365},
    )
    return apply_policy(scores, details, POLICY, RULES).alerts


def test_filters(alerts_frame: pd.DataFrame) -> None:
    assert alerts_frame["code"].tolist() == ["CR02", "CP01", "CR03", "RL01"]
    assert filter_alerts(alerts_frame, level="orange")["code"].tolist() == ["CR02", "CP01"]
    assert filter_alerts(alerts_frame, level="red")["code"].tolist() == ["CR02"]
    assert len(filter_alerts(alerts_frame, level="yellow")) == 4
    assert filter_alerts(alerts_frame, owners=["account_manager"])["code"].tolist() == [
        "CR03",
        "RL01",
    ]
    assert filter_alerts(alerts_frame, codes=["cr03", "RL01"], grades=["a"])["code"].tolist() == [
        "RL01"
    ]
    # one value as a str is that value, not its letters (which matched nothing)
    one = filter_alerts(alerts_frame, owners="account_manager", codes="cr03")
    assert one["code"].tolist() == ["CR03"]
    assert len(alerts_at_or_above(alerts_frame, "never")) == 0


@pytest.mark.parametrize(
    "name", ["客户经理", "Account Manager", "account manager", "ACCOUNT_MANAGER"]
)
def test_an_owner_is_named_by_its_role_or_either_label(
    alerts_frame: pd.DataFrame, name: str
) -> None:
    assert filter_alerts(alerts_frame, owners=[name])["code"].tolist() == ["CR03", "RL01"]


def test_an_unknown_owner_is_a_typo_not_an_empty_list(alerts_frame: pd.DataFrame) -> None:
    with pytest.raises(
        UsageError,
        match=r"^--owner '风控' is not an owner role; did you mean 'risk_officer'\? the roles are: "
        r"account_manager \(客户经理\), "
        r"collections \(催收专员\), risk_officer \(风控专员\), service_manager \(客服主管\)$",
    ):
        filter_alerts(alerts_frame, owners=["风控"])
    with pytest.raises(UsageError, match=r"^--owner 'nobody' is not an owner role; the roles"):
        filter_alerts(alerts_frame, owners=["nobody"])  # nothing alike: no guess
    # A known role with no alert in this run selects nothing, without an error.
    assert filter_alerts(alerts_frame, owners=["risk_officer"]).empty


def _run(alerts_frame: pd.DataFrame) -> ScoringRun:
    scores = pd.DataFrame({"customer_id": ["C000"], "pd": [0.1], "score": [500]})
    return ScoringRun(scores, scores[["customer_id"]], alerts_frame, {})


def test_alerts_file_round_trip(alerts_frame: pd.DataFrame, tmp_path: Path) -> None:
    files = _run(alerts_frame).write(tmp_path / "scores.csv")
    assert files.alerts == tmp_path / "alerts.csv"
    assert files.alerts.stat().st_mode & 0o777 == 0o600
    facts = json.loads(files.facts.read_text(encoding="utf-8"))
    assert (
        facts["files"]["alerts"]["sha256"] == hashlib.sha256(files.alerts.read_bytes()).hexdigest()
    )
    back = read_alerts(files.scores)
    pd.testing.assert_frame_equal(back, alerts_frame, check_dtype=False)
    again = _run(alerts_frame).write(tmp_path / "again" / "scores.csv")
    assert again.alerts.read_bytes() == files.alerts.read_bytes()  # deterministic
    standalone = tmp_path / "picked.csv"
    standalone.write_bytes(alerts_csv_bytes(alerts_frame))
    pd.testing.assert_frame_equal(read_alerts_file(standalone), alerts_frame, check_dtype=False)


@pytest.fixture
def run_folder(alerts_frame: pd.DataFrame, tmp_path: Path) -> Path:
    """A scores file with its run facts and alerts.csv, as custrisk score leaves them."""
    _run(alerts_frame).write(tmp_path / "scores.csv")
    return tmp_path


def test_cli_lists_and_filters(run_folder: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["alerts", str(run_folder / "scores.csv"), "--level", "orange"])
    assert result.exit_code == 0, result.output
    assert "2 alerts" in result.stdout and "CR02" in result.stdout and "CP01" in result.stdout
    assert "CR03" not in result.stdout
    assert "处理措施" in result.stdout
    for name in ("橙色", "中", "Orange", "medium"):  # as the reports and alerts print it
        again = runner.invoke(app, ["alerts", str(run_folder / "scores.csv"), "--level", name])
        assert again.exit_code == 0 and again.stdout == result.stdout, (name, again.output)
    result = runner.invoke(
        app, ["alerts", str(run_folder), "--owner", "account_manager", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    listed = pd.read_csv(io.StringIO(result.stdout), dtype="str")
    assert list(listed.columns) == list(ALERT_COLUMNS)
    assert listed["code"].tolist() == ["CR03", "RL01"]
    out = run_folder / "picked.csv"
    result = runner.invoke(
        app,
        ["alerts", str(run_folder / "alerts.csv"), "--code", "RL01", "-f", "csv", "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert read_alerts(out)["code"].tolist() == ["RL01"]
    result = runner.invoke(app, ["alerts", str(out), "--grade", "E", "--lang", "en"])
    assert result.exit_code == 0 and "0 alerts" in result.stdout
    # a file named .csv is written as CSV without being told the format
    result = runner.invoke(
        app, ["alerts", str(run_folder / "alerts.csv"), "--code", "CR03", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert read_alerts(out)["code"].tolist() == ["CR03"]
    # a path ending in / is a folder: one line, not a file named after it
    folder = f"{run_folder / 'picked'}/"
    result = runner.invoke(app, ["alerts", str(run_folder / "alerts.csv"), "-o", folder])
    assert result.exit_code == 2 and not (run_folder / "picked").exists()
    assert f"--out {folder} is a folder: it takes the file to write; e.g. --out " in (
        " ".join(result.output.split())
    )


def test_filters_by_customer(alerts_frame: pd.DataFrame) -> None:
    assert filter_alerts(alerts_frame, customers=["C002"])["code"].tolist() == ["CR03"]
    # as the export or the CRM writes it (a space, full-width letters), and one as a str
    assert filter_alerts(alerts_frame, customers=[" c 001", "Ｃ000"])["code"].tolist() == [
        "CR02",
        "CP01",
    ]
    assert filter_alerts(alerts_frame, customers="C003")["code"].tolist() == ["RL01"]


def test_cli_shows_one_customers_alerts(alerts_frame: pd.DataFrame, tmp_path: Path) -> None:
    """A customer report lists its three most severe alerts and says the rest are in
    alerts.csv: --customer lists them all; a typo is an error, a customer of the run
    without alerts has none."""
    ids = ["C000", "C001", "C002", "C003", "C004"]  # C004: no alert
    scores = pd.DataFrame({"customer_id": ids, "pd": 0.1, "score": 500})
    ScoringRun(scores, scores[["customer_id"]], alerts_frame, {}).write(tmp_path / "scores.csv")
    runner = CliRunner()

    def listed(*args: str) -> list[str]:
        result = runner.invoke(app, ["alerts", str(tmp_path), "-f", "csv", *args])
        assert result.exit_code == 0, result.output
        return pd.read_csv(io.StringIO(result.stdout), dtype="str")["code"].tolist()

    assert listed("--customer", "C001") == ["CP01"]
    assert listed("--customers", "C003,C000") == ["CR02", "RL01"]  # most severe first
    id_file = tmp_path / "ids.txt"
    id_file.write_text("客户编号\nC002\n", encoding="utf-8")  # a column copied from Excel
    assert listed("--customers", f"@{id_file}", "--level", "yellow") == ["CR03"]
    assert listed("--customer", "C004") == []
    table = runner.invoke(app, ["alerts", str(tmp_path), "--customer", "C000"])
    assert table.exit_code == 0 and "1 alert (" in table.stdout and "C001" not in table.stdout
    wrong = runner.invoke(app, ["alerts", str(tmp_path), "--customer", "C009,C000"])
    assert wrong.exit_code == 2
    said = " ".join(wrong.stderr.split())
    # the option as typed (--customer, not --customers), and where the ids come from
    assert "--customer: unknown customer id(s) C009" in said and "Traceback" not in said
    assert "the ids are those of the run's scores" in said
    # an alerts CSV away from its run has no customers to check against: a filter only
    alone = runner.invoke(
        app, ["alerts", str(tmp_path / "alerts.csv"), "--customer", "C009", "-f", "csv"]
    )
    assert alone.exit_code == 0 and alone.stdout.count("\n") == 1  # the header


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["--level", "purple"], "--level must be one of red, orange, yellow (红色/橙色/黄色"),
        (["--format", "xml"], "--format must be one of table, csv"),
        (["--out", "x.csv", "-f", "table"], "--out writes CSV or an .xlsx workbook, not a"),
    ],
)
def test_cli_usage_errors(run_folder: Path, args: list[str], pattern: str) -> None:
    result = CliRunner().invoke(app, ["alerts", str(run_folder), *args])
    assert result.exit_code == 2
    assert pattern in result.stderr


def test_a_code_or_grade_the_run_does_not_have_is_a_typo_not_an_empty_list(
    export_200: Path, models_200: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    scores = tmp_path / "run" / "scores.csv"
    args = ["score", str(export_200), "-m", "logistic", "--models-dir", str(models_200)]
    assert runner.invoke(app, [*args, "-o", str(scores)]).exit_code in (0, 1)
    for option, value, said in (
        ("--code", "CR9", "--code 'CR9' is not one of this run's rule codes: TX01, TX02,"),
        ("--grade", "F", "--grade 'F' is not one of this run's grades: A, B, C, D, E"),
    ):
        result = runner.invoke(app, ["alerts", str(scores), option, value])
        assert result.exit_code == 2 and said in " ".join(result.stderr.split())
    # a rule of the run that fired for nobody, and case: a filter, not an error
    result = runner.invoke(app, ["alerts", str(scores.parent), "--code", "gr01", "--grade", "a"])
    assert result.exit_code == 0, result.output


def test_cli_refuses_alerts_of_another_run(run_folder: Path) -> None:
    path = run_folder / "alerts.csv"
    path.write_bytes(path.read_bytes().replace(b"CR02", b"CR99"))
    result = CliRunner().invoke(app, ["alerts", str(run_folder / "scores.csv")])
    assert result.exit_code == 2
    assert "alerts.csv does not belong to the run described by scores.run.json" in " ".join(
        result.stderr.split()
    )
    result = CliRunner().invoke(app, ["alerts", str(run_folder / "missing.csv")])
    assert result.exit_code == 2 and "scores file not found" in result.stderr


def test_a_rule_whose_message_shows_a_field_the_data_lacks_is_skipped_not_refused() -> None:
    # a flat table without bureau_score: the packaged CR01 shows {bureau_score}
    credit = {k: v for k, v in INDICATORS.columns["credit"].items() if k != "bureau_score"}
    lacking = dataclasses.replace(
        INDICATORS,
        indicators=tuple(i for i in INDICATORS.indicators if i.code != "bureau_score"),
        columns={**INDICATORS.columns, "credit": credit},
    )
    rule = {**RULE, "message": {"zh": "现为{bureau_score}", "en": "now {bureau_score}"}}

    rules = parse_alert_rules({"rules": {"X1": rule}}, indicators=lacking, file="a.yaml")

    assert rules.rules == () and "bureau_score" in rules.skipped["X1"]
    with pytest.raises(ConfigError, match=r"rules\.X1\.message': the rule reads bureau_score"):
        parse_alert_rules({"rules": {"X1": rule}}, indicators=lacking, file="a.yaml", strict=True)
    typo = {**RULE, "message": {"zh": "{bureau_scor}", "en": "x"}}  # a typo stays an error
    with pytest.raises(ConfigError, match="unknown name 'bureau_scor'"):
        parse_alert_rules({"rules": {"X1": typo}}, indicators=lacking, file="a.yaml")
