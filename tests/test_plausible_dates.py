"""Implausible dates: one mistyped date must not move the as-of date or crash a run."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from custrisk.cli import app
from custrisk.config import default_config_path, load_sources_config
from custrisk.data import load_labels, load_workspace
from custrisk.data.dates import credible_range, credible_range_of_dates
from custrisk.errors import ConfigError
from custrisk.expr import ExprType
from custrisk.indicators import compute_indicators
from custrisk.indicators.spec import Window
from custrisk.policy import apply_policy, load_alert_rules, load_policy
from custrisk.policy.rules import format_value
from custrisk.results import read_run
from custrisk.review.followups import follow_up_plan
from tests._support import CREDIT_HEADER, TXN_HEADER, credit_row

EPOCH = dt.date(1970, 1, 1)


def day(text: str) -> int:
    return (dt.date.fromisoformat(text) - EPOCH).days


def date_of(number: int) -> str:
    return (EPOCH + dt.timedelta(days=number)).isoformat()


def a_year_of_transactions(last: str = "2026-10-31", rows: int = 4000) -> np.ndarray:
    end = day(last)
    return np.random.default_rng(7).integers(end - 364, end + 1, size=rows)


# -- the latest credible date ----------------------------------------------------------


@pytest.mark.parametrize("typo", ["2100-06-15", "9999-12-31", "2027-10-31", "2026-12-15"])
def test_one_far_future_date_is_not_credible(typo: str) -> None:
    days = np.append(a_year_of_transactions(), day(typo))
    found = credible_range(days)
    assert found is not None
    assert date_of(found.latest) == "2026-10-31"
    assert date_of(found.limit) == "2026-12-01"


def test_one_percent_of_rows_in_2100_do_not_move_the_credible_date() -> None:
    days = a_year_of_transactions()
    wrong = np.full(len(days) // 99, day("2100-06-15"))
    found = credible_range(np.concatenate([days, wrong]))
    assert found is not None and date_of(found.latest) == "2026-10-31"


def test_an_export_that_lies_entirely_in_the_future_is_credible() -> None:
    found = credible_range(a_year_of_transactions(last="2099-12-31"))
    assert found is not None and date_of(found.latest) == "2099-12-31"


def test_a_late_date_within_the_tolerance_stays_credible() -> None:
    found = credible_range(np.append(a_year_of_transactions(), day("2026-11-25")))
    assert found is not None and date_of(found.latest) == "2026-11-25"


def test_the_thinning_top_of_a_sparse_column_stays_credible() -> None:
    # Customer-since dates: tenures of months to decades, few recent customers.
    tenure_days = np.exp(np.random.default_rng(3).normal(np.log(3.5 * 365), 0.6, 1000))
    days = day("2026-10-31") - tenure_days.astype(np.int64)
    found = credible_range(days)
    assert found is not None and found.latest == days.max()
    found = credible_range(np.append(days, day("2100-06-15")))
    assert found is not None and found.latest == days.max()


def test_a_column_with_too_few_dates_to_judge_is_all_credible() -> None:
    days = np.array([day("2026-01-05"), day("2026-02-10"), day("2026-06-01")])
    found = credible_range(days)
    assert found is not None and date_of(found.latest) == "2026-06-01"
    assert credible_range(np.array([], dtype=np.int64)) is None


def _walk(days: list[int], days_ahead: int) -> int:
    """The rule as docs/data.md states it, one date at a time."""
    ordered = sorted(days)
    n = len(ordered)
    if n < 20:
        return ordered[-1]
    outliers = n // 20
    anchor = ordered[n - 1 - outliers]
    distinct = sorted(set(ordered[outliers:]))
    widest = max((b - a for a, b in pairwise(distinct) if b <= anchor), default=0)
    latest = anchor
    for later in (d for d in distinct if d > anchor):
        if later - latest > max(days_ahead, 10 * widest):
            break
        widest = max(widest, later - latest)
        latest = later
    return latest


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(-800_000, 3_000_000), min_size=1, max_size=80),
    st.lists(st.integers(0, 40), min_size=0, max_size=400),
    st.integers(0, 60),
)
def test_the_credible_date_follows_the_documented_rule(
    scattered: list[int], near: list[int], days_ahead: int
) -> None:
    days = [*scattered, *(20_000 + d for d in near)]
    expected = _walk(days, days_ahead)
    found = credible_range(np.array(days, dtype=np.int64), days_ahead)
    assert found is not None and (found.latest, found.limit) == (expected, expected + days_ahead)
    stamps = np.array(days, dtype="datetime64[D]").astype("datetime64[s]")
    assert credible_range_of_dates(stamps, days_ahead=days_ahead) == found


# -- the cleaner -------------------------------------------------------------------------


def _with_txn_date(export: Path, folder: Path, value: str) -> int:
    """Copy ``export`` into ``folder`` with ``value`` as the date of a payment (a row with
    no due or paid date, so that no row check sees it); returns its line number."""
    shutil.copytree(export, folder)
    path = folder / "transactions.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines[100:], start=101):
        fields = line.split(",")
        if fields[6] == "" and fields[7] == "":
            fields[2] = value
            lines[number - 1] = ",".join(fields)
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            return number
    raise AssertionError("no payment row found")


def _sources(tmp_path: Path, edit: dict[str, dict[str, object]]) -> Path:
    """The default sources config with ``dates`` blocks set per source (or defaults)."""
    text = default_config_path("sources.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    for where, block in edit.items():
        target = data["defaults"] if where == "defaults" else data["sources"][where]
        target["dates"] = block
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("typo", ["2100-06-15", "9999-12-31"])
def test_a_far_future_date_is_a_rejected_row_with_its_reason(
    export_200: Path, tmp_path: Path, typo: str
) -> None:
    line = _with_txn_date(export_200, tmp_path / "data", typo)
    ws = load_workspace(tmp_path / "data")
    rejects = ws.rejects[ws.rejects["rule"] == "implausible_date"]
    assert rejects[["source", "line", "column", "value", "action"]].values.tolist() == [
        ["transactions", line, "txn_date", typo, "dropped"]
    ]
    message = rejects["message"].iloc[0]
    assert "more than 31 days after the latest credible txn_date (2026-10-31)" in message
    assert "dates.days_ahead" in message
    report = ws.report.sources["transactions"]
    assert report.rows_in == report.rows_kept + report.rows_rejected
    assert ws.frames["transactions"]["txn_date"].max() == pd.Timestamp("2026-10-31")


def test_days_ahead_null_keeps_far_future_dates(export_200: Path, tmp_path: Path) -> None:
    _with_txn_date(export_200, tmp_path / "data", "2100-06-15")
    config = _sources(tmp_path, {"transactions": {"days_ahead": None}})
    ws = load_workspace(tmp_path / "data", config=config)
    assert "implausible_date" not in set(ws.rejects["rule"])
    assert ws.frames["transactions"]["txn_date"].max() == pd.Timestamp("2100-06-15")


def test_ahead_of_today_rejects_dates_after_the_run_date(
    make_workspace: Callable[..., Path], tmp_path: Path
) -> None:
    today = dt.date.today()
    rows = [
        f"T{i},0000000001,{today - dt.timedelta(days=i)},10,payment,online,," for i in range(30)
    ]
    rows.append(f"T99,0000000001,{today + dt.timedelta(days=20)},10,payment,online,,")
    folder = make_workspace(
        {
            "credit.csv": f"{CREDIT_HEADER}\n{credit_row('0000000001')}\n",
            "transactions.csv": "\n".join([TXN_HEADER, *rows]) + "\n",
        }
    )
    # 20 days after the rest of the data is plausible ...
    assert "implausible_date" not in set(load_workspace(folder).rejects["rule"])
    # ... but not when nothing may be more than 7 days after the run date.
    config = _sources(tmp_path, {"transactions": {"ahead_of": "today", "days_ahead": 7}})
    rejects = load_workspace(folder, config=config).rejects
    assert rejects[["line", "rule"]].values.tolist() == [[32, "implausible_date"]]
    assert f"more than 7 days after today ({today})" in rejects["message"].iloc[0]


def test_dates_before_the_floor_are_rejected(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "customer_id,bad,label_date\nC1,0,2026-01-31\nC2,1,1899-12-31\nC3,0,\n", encoding="utf-8"
    )
    frame, issues = load_labels(labels)
    assert issues[["line", "column", "rule"]].values.tolist() == [
        [3, "label_date", "implausible_date"]
    ]
    assert "before 1900-01-01 (dates.not_before" in issues["message"].iloc[0]
    assert list(frame["customer_id"]) == ["C1", "C3"]


def test_the_floor_is_configurable_and_inherited_from_the_defaults(tmp_path: Path) -> None:
    config = load_sources_config(
        _sources(
            tmp_path,
            {"defaults": {"not_before": "1800-01-01"}, "behaviour": {"days_ahead": 90}},
        )
    )
    behaviour = config.sources["behaviour"].dates
    assert (behaviour.not_before, behaviour.days_ahead, behaviour.ahead_of) == (
        dt.date(1800, 1, 1),
        90,
        "data",
    )
    assert config.sources["credit"].dates.not_before == dt.date(1800, 1, 1)
    assert config.sources["credit"].dates.days_ahead == 31
    assert config.labels.dates.not_before == dt.date(1800, 1, 1)


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            {"days_ahead": -1},
            r"key 'sources\.transactions\.dates\.days_ahead': must be at least 0, got -1",
        ),
        (
            {"not_before": "1900-13-01"},
            r"key 'sources\.transactions\.dates\.not_before': '1900-13-01' is not a date",
        ),
        (
            {"ahead_of": "tomorrow"},
            r"key 'sources\.transactions\.dates\.ahead_of': 'tomorrow' is not allowed; "
            r"allowed values: data, today",
        ),
        (
            {"days_after": 3},
            r"key 'sources\.transactions\.dates\.days_after': unknown key; "
            r"did you mean 'days_ahead'\?",
        ),
    ],
)
def test_date_limit_mistakes_name_the_key(
    tmp_path: Path, block: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_sources_config(_sources(tmp_path, {"transactions": block}))


# -- the as-of date ----------------------------------------------------------------------


def test_the_automatic_as_of_date_ignores_a_far_future_date_in_uncleaned_frames(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ids = [f"C{i:03d}" for i in range(40)]
    dates = pd.to_datetime(dt.date(2026, 10, 31)) - pd.to_timedelta(np.arange(400) % 300, "D")
    transactions = pd.DataFrame(
        {
            "txn_id": [f"T{i}" for i in range(401)],
            "customer_id": [ids[i % 40] for i in range(401)],
            "txn_date": [*dates, pd.Timestamp("2100-06-15")],
            "amount": 100.0,
            "txn_type": "order",
        }
    )
    credit = pd.DataFrame({"customer_id": ids, "credit_limit": 1000.0})
    with caplog.at_level(logging.WARNING, logger="custrisk"):
        result = compute_indicators({"credit": credit, "transactions": transactions})
    assert (result.as_of, result.as_of_origin) == (dt.date(2026, 10, 31), "data")
    assert "transactions: 1 txn_date values after 2026-12-01" in caplog.text
    assert "2100-06-15" in caplog.text


# -- end to end --------------------------------------------------------------------------


def _score(data: Path, models: Path, out: Path, *extra: str) -> Result:
    args = ["score", str(data), "-m", "logistic", "--models-dir", str(models), "-o", str(out)]
    return CliRunner().invoke(app, [*args, *extra])


def _results(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    def read(path: Path) -> pd.DataFrame:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        return frame.drop(columns=[c for c in frame.columns if c.startswith("run")])

    return read(out), read(out.with_name("alerts.csv"))


@pytest.fixture(scope="module")
def clean_scores(export_200: Path, models_200: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("clean_scores") / "scores.csv"
    result = _score(export_200, models_200, out)
    assert result.exit_code == 0, result.output
    return _results(out)


@pytest.mark.parametrize("typo", ["2100-06-15", "9999-12-31"])
def test_one_far_future_transaction_leaves_every_other_customer_unchanged(
    export_200: Path, models_200: Path, clean_scores, tmp_path: Path, typo: str
) -> None:
    line = _with_txn_date(export_200, tmp_path / "data", typo)
    owner = (tmp_path / "data" / "transactions.csv").read_text(encoding="utf-8").splitlines()
    customer = owner[line - 1].split(",")[1]
    out = tmp_path / "out" / "scores.csv"
    result = _score(tmp_path / "data", models_200, out)
    assert result.exit_code == 0, result.output
    assert "as of 2026-10-31" in result.stdout  # the typo does not move the as-of date
    scores, alerts = _results(out)
    # The customer whose transaction was rejected has one payment fewer; nobody else moves.
    for new, clean in ((scores, clean_scores[0]), (alerts, clean_scores[1])):
        pd.testing.assert_frame_equal(
            new[new["customer_id"] != customer].reset_index(drop=True),
            clean[clean["customer_id"] != customer].reset_index(drop=True),
        )
    assert len(scores) == len(clean_scores[0])


def test_alerts_are_due_after_the_last_day_of_the_calendar_without_crashing(
    export_200: Path, models_200: Path, tmp_path: Path
) -> None:
    # An as-of date no event reaches is refused before anything is scored ...
    refused = _score(export_200, models_200, tmp_path / "refused.csv", "--as-of", "9999-12-31")
    assert refused.exit_code == 2
    assert "--as-of 9999-12-31 is " in refused.output and "days after the latest" in refused.output
    # ... and a run dated at the calendar's last day still gets its due dates past it.
    out = tmp_path / "scores.csv"
    assert _score(export_200, models_200, out).exit_code == 0
    run = read_run(out)
    applied = apply_policy(
        run.scores.assign(as_of="9999-12-31"), run.details, load_policy(), load_alert_rules()
    )
    assert len(applied.alerts)
    day_after = applied.alerts[applied.alerts["response_hours"] == 24]["due_by"]
    assert set(day_after) == {"10000-01-01T00:00"}
    grades = applied.summary["policy"]["grades"]
    plan = follow_up_plan(applied.scores, run.details, applied.alerts, grades, "9999-12-31")
    assert set(plan.loc[plan["open_alerts"] == "", "due_date"]) == {"10000-01-14"}


def test_windows_reaching_back_before_the_year_1_start_there(
    export_200: Path, models_200: Path, tmp_path: Path
) -> None:
    result = _score(export_200, models_200, tmp_path / "scores.csv", "--as-of", "0001-01-02")
    assert result.exit_code == 2  # before every event date: refused, not scored as inactive
    assert "--as-of 0001-01-02 is before every event date of the data" in result.output
    assert Window.parse("90d").before(dt.date(1, 1, 2)) == dt.date.min
    assert Window.parse("3m").before(dt.date(1, 2, 15)) == dt.date.min
    assert Window.parse("3m").before(dt.date(1, 5, 31)) == dt.date(1, 2, 28)


def test_rule_messages_show_dates_past_the_year_9999() -> None:
    assert format_value(float(day("9999-12-31")), ExprType.DATE) == "9999-12-31"
    assert format_value(float(day("9999-12-31") + 1), ExprType.DATE) == "10000-01-01"
    assert format_value(1e300, ExprType.DATE) == "1e+300 days after 1970-01-01"
