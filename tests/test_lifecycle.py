"""Alert lifecycle across months: new, ongoing (with the date it started) and closed
alerts, and `new_when` telling a new delinquency from an old one (CR02)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner, Result

from custrisk.cli import app
from custrisk.config import default_config_path
from custrisk.errors import ConfigError
from custrisk.policy import load_alert_rules, parse_alert_rules
from custrisk.policy.lifecycle import alert_lifecycle
from custrisk.results import ALERT_COLUMNS, CLOSED_COLUMNS, read_run


def _alerts(rows: list[tuple[str, str, str]], as_of: str, **extra: str) -> pd.DataFrame:
    """Alerts (customer, code, level) with the other columns filled plainly."""
    frame = pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "as_of": as_of,
            "grade": "C",
            "code": [r[1] for r in rows],
            "level": [r[2] for r in rows],
            "level_zh": "高",
            "message_zh": [f"{r[1]} 消息" for r in rows],
            "message_en": [f"{r[1]} message" for r in rows],
            "actions_zh": "",
            "actions_en": "",
            "owner": "collections",
            "response_hours": 24,
            "due_by": "",
            "status": "",
            "since": "",
        }
    )
    for column, value in extra.items():
        frame[column] = value
    return frame.loc[:, list(ALERT_COLUMNS)]


def test_without_a_previous_period_every_alert_is_new_and_nothing_closes() -> None:
    current = _alerts([("1", "CR02", "red"), ("2", "TX01", "orange")], "2026-11-30")
    result = alert_lifecycle(current, None, as_of="2026-11-30", customers=["1", "2"])
    assert result.alerts["status"].tolist() == ["new", "new"]
    assert result.alerts["since"].tolist() == ["2026-11-30"] * 2
    assert result.closed is None
    assert result.summary()["previous"] is False
    assert current["status"].tolist() == ["", ""]  # input not modified


def test_same_customer_and_rule_is_ongoing_since_its_first_period() -> None:
    october = _alerts([("1", "CR02", "red"), ("2", "TX01", "orange")], "2026-10-31")
    october["since"] = ["2026-08-31", ""]  # 1 has fired since August; 2 from an old run
    november = _alerts(
        [("1", "CR02", "red"), ("2", "TX01", "orange"), ("2", "CP01", "orange")], "2026-11-30"
    )
    result = alert_lifecycle(november, october, as_of="2026-11-30", customers=["1", "2"])
    assert result.alerts["status"].tolist() == ["ongoing", "ongoing", "new"]
    assert result.alerts["since"].tolist() == ["2026-08-31", "2026-10-31", "2026-11-30"]
    assert result.closed is not None and result.closed.empty
    assert list(result.closed.columns) == list(CLOSED_COLUMNS)


def test_alerts_that_stop_firing_are_closed_resolved_or_departed() -> None:
    october = _alerts(
        [("1", "CR02", "red"), ("2", "TX01", "orange"), ("3", "CP02", "yellow")], "2026-10-31"
    )
    november = _alerts([("1", "CR02", "red")], "2026-11-30")
    # customer 3 is gone from November's portfolio; 2 is still a customer
    result = alert_lifecycle(november, october, as_of="2026-11-30", customers=["1", "2"])
    closed = result.closed
    assert closed is not None
    assert closed[["customer_id", "code", "reason"]].values.tolist() == [
        ["2", "TX01", "resolved"],
        ["3", "CP02", "departed"],
    ]
    assert set(closed["last_as_of"]) == {"2026-10-31"}
    assert set(closed["as_of"]) == {"2026-11-30"}
    assert closed["last_message_en"].tolist() == ["TX01 message", "CP02 message"]
    # October's alerts.csv named each level 高 (as earlier versions did): a closed alert
    # is named by its level as today's files name it
    assert closed["level_zh"].tolist() == ["橙色", "黄色"]
    summary = result.summary()
    assert summary["closed_by_reason"] == {"resolved": 1, "departed": 1}
    assert (summary["new"], summary["ongoing"]) == (0, 1)


def test_a_renewed_alert_is_new_although_it_fired_last_period() -> None:
    october = _alerts([("1", "CR02", "red"), ("2", "CR02", "red")], "2026-10-31")
    november = _alerts([("1", "CR02", "red"), ("2", "CR02", "red")], "2026-11-30")
    result = alert_lifecycle(
        november,
        october,
        as_of="2026-11-30",
        customers=["1", "2"],
        renewed=np.array([True, False]),
    )
    assert result.alerts["status"].tolist() == ["new", "ongoing"]
    assert result.alerts["since"].tolist() == ["2026-11-30", "2026-10-31"]


# -- new_when in the rules config -------------------------------------------------------


def _rules(new_when: object) -> dict[str, object]:
    data = yaml.safe_load(default_config_path("alerts.yaml").read_text(encoding="utf-8"))
    data["rules"]["CR02"]["new_when"] = new_when
    return data


def test_the_packaged_cr02_tells_new_arrears_from_old() -> None:
    rule = {r.code: r for r in load_alert_rules().rules}["CR02"]
    assert rule.new_when is not None
    assert rule.new_when.names == {"overdue_amount", "prev_overdue_amount"}
    assert rule.to_dict()["new_when"] == "overdue_amount > prev_overdue_amount"


@pytest.mark.parametrize(
    ("new_when", "match"),
    [
        ("overdue_amount + prev_overdue_amount", r"rules\.CR02\.new_when.*not true/false"),
        ("prev_overdue_amout > 0", r"rules\.CR02\.new_when.*prev_overdue_amout"),
        (True, r"rules\.CR02\.new_when.*expected a condition, got True"),
    ],
)
def test_a_bad_new_when_is_refused_naming_the_key(new_when: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_alert_rules(_rules(new_when), file="alerts.yaml")


# -- end to end: custrisk score --previous ----------------------------------------------


def _score(data: Path, models: Path, out: Path, *extra: str) -> Result:
    args = ["score", str(data), "-m", "logistic", "--models-dir", str(models), "-o", str(out)]
    result = CliRunner().invoke(app, [*args, *extra])
    assert result.exit_code == 0, result.output
    return result


def _edit_credit(folder: Path, edit: dict[str, dict[str, str]], drop: set[str]) -> None:
    path = folder / "credit.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    for customer, values in edit.items():
        for column, value in values.items():
            frame.loc[frame["customer_id"] == customer, column] = value
    frame = frame.loc[~frame["customer_id"].isin(drop)]
    frame.to_csv(path, index=False, encoding="utf-8")


@pytest.fixture(scope="module")
def months(
    tmp_path_factory: pytest.TempPathFactory, export_200: Path, models_200: Path
) -> dict[str, Path]:
    """October scored alone; November (same exports, three customers edited: more
    overdue, nothing overdue, gone) scored against October."""
    root = tmp_path_factory.mktemp("lifecycle")
    october = root / "2026-10" / "scores.csv"
    _score(export_200, models_200, october)
    alerts = read_run(october).alerts
    cr02 = sorted(alerts.loc[alerts["code"] == "CR02", "customer_id"])
    others = alerts.loc[~alerts["customer_id"].isin(cr02), "customer_id"]
    assert len(cr02) >= 3, "the sample needs three CR02 customers"
    more, paid, gone = cr02[0], cr02[1], others.iloc[0]
    details = read_run(october).details.set_index("customer_id")
    data = root / "nov-data"
    shutil.copytree(export_200, data)
    owed = float(details.loc[more, "overdue_amount"])
    _edit_credit(
        data,
        {more: {"overdue_amount": f"{owed + 1000:.2f}"}, paid: {"overdue_amount": "0"}},
        {gone},
    )
    november = root / "2026-11" / "scores.csv"
    _score(data, models_200, november, "--previous", str(october))
    return {
        "oct": october,
        "nov": november,
        "more": Path(more),
        "paid": Path(paid),
        "gone": Path(gone),
    }


def test_score_previous_marks_alerts_new_or_ongoing(months: dict[str, Path]) -> None:
    october = read_run(months["oct"])
    november = read_run(months["nov"])
    assert set(october.alerts["status"]) == {"new"}
    assert october.closed is None  # scored without a previous run
    nov = november.alerts
    keys = set(zip(october.alerts["customer_id"], october.alerts["code"], strict=True))
    fired_before = [(c, k) in keys for c, k in zip(nov["customer_id"], nov["code"], strict=True)]
    more = str(months["more"])
    renewed = (nov["customer_id"] == more) & (nov["code"] == "CR02")
    expected = np.where(np.array(fired_before) & ~renewed.to_numpy(), "ongoing", "new")
    assert nov["status"].tolist() == expected.tolist()
    assert renewed.sum() == 1  # more overdue than last month: CR02 is new again (new_when)
    assert set(nov.loc[nov["status"] == "ongoing", "since"]) == {"2026-10-31"}
    lifecycle = november.facts["alerts"]["lifecycle"]
    assert lifecycle["ongoing"] == int((nov["status"] == "ongoing").sum())
    assert lifecycle["new"] == int((nov["status"] == "new").sum())


def test_score_previous_writes_the_closed_alerts(months: dict[str, Path]) -> None:
    november = read_run(months["nov"])
    closed = november.closed
    assert closed is not None
    assert (months["nov"].parent / "alerts.closed.csv").is_file()
    assert "closed" in november.facts["files"]
    rows = {(c, k): r for c, k, r in closed[["customer_id", "code", "reason"]].values}
    assert rows[(str(months["paid"]), "CR02")] == "resolved"
    gone = [r for (c, _), r in rows.items() if c == str(months["gone"])]
    assert gone and set(gone) == {"departed"}
    assert november.facts["alerts"]["lifecycle"]["closed"] == len(closed)


def test_a_run_without_lifecycle_columns_still_reads(
    months: dict[str, Path], tmp_path: Path
) -> None:
    """alerts.csv of an older custrisk (no status/since) reads with those left empty."""
    from custrisk.results import read_alerts_file

    alerts = pd.read_csv(months["oct"].parent / "alerts.csv", dtype=str, encoding="utf-8-sig")
    old = tmp_path / "alerts.csv"
    alerts.drop(columns=["status", "since"]).to_csv(old, index=False)
    back = read_alerts_file(old)
    assert set(back["status"]) == {""} and len(back) == len(alerts)


def test_alerts_lists_only_new_ones_with_status_new(months: dict[str, Path]) -> None:
    nov = read_run(months["nov"]).alerts
    args = ["alerts", str(months["nov"]), "--format", "csv"]
    result = CliRunner().invoke(app, [*args, "--status", "new"])
    assert result.exit_code == 0, result.output
    listed = pd.read_csv(io.StringIO(result.stdout), dtype=str, keep_default_na=False)
    assert len(listed) == int((nov["status"] == "new").sum()) > 0
    assert set(listed["status"]) == {"new"}
    result = CliRunner().invoke(app, [*args, "--status", "closed"])
    assert result.exit_code == 2 and "--status must be one of new, ongoing" in result.stderr
    result = CliRunner().invoke(app, [*args, "--status", "ongoing"])
    ongoing = pd.read_csv(io.StringIO(result.stdout), dtype=str, keep_default_na=False)
    assert len(ongoing) == int((nov["status"] == "ongoing").sum()) > 0
    assert set(ongoing["since"]) == {"2026-10-31"}
