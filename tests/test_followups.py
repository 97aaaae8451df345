"""The follow-up plan (回访计划): written with every scoring run, listed by owner (issue 17
item 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.cli._console import counted
from custrisk.results import FOLLOWUP_COLUMNS, read_run
from custrisk.review import followups
from custrisk.review.followups import (
    DEFAULT_OWNER,
    REVIEW_DUE_DAYS,
    follow_up_plan,
    preferred_channels,
)
from custrisk.vocab import followup_reason

GRADES = [
    {"code": "A", "review_frequency": "annual"},
    {"code": "C", "review_frequency": "quarterly"},
    {"code": "E", "review_frequency": "monthly"},
]


def _plan(behaviour: pd.DataFrame | None = None) -> pd.DataFrame:
    ids = ["C1", "C2", "C3", "C4", "C5"]
    scores = pd.DataFrame({"customer_id": ids, "grade": ["A", "A", "C", "E", "E"]})
    details = pd.DataFrame(
        {
            "customer_id": ids,
            "name_masked": ["张*", "李*", "王*", "赵*", "钱*"],
            # A: 200 days < a year; A: never; C: 100 > 91; E: 10 < 30 but alerted; E: 29
            "ind__days_since_last_follow_up": [200.0, np.nan, 100.0, 10.0, 29.0],
        }
    )
    alerts = pd.DataFrame(
        {
            "customer_id": ["C4", "C4"],
            "code": ["CR02", "CR03"],
            "level": ["red", "yellow"],
            "owner": ["collections", "account_manager"],
            "due_by": ["2026-11-01T00:00", "2026-11-05T00:00"],
        }
    )
    return follow_up_plan(scores, details, alerts, GRADES, "2026-10-31", behaviour=behaviour)


def test_due_by_review_frequency_never_followed_up_or_open_alerts() -> None:
    plan = _plan()
    assert list(plan.columns) == list(FOLLOWUP_COLUMNS)
    assert plan["customer_id"].tolist() == ["C4", "C2", "C3"]  # earliest due first
    rows = plan.set_index("customer_id")
    assert rows.loc["C4", "reason"] == "open alerts"
    assert rows.loc["C4", "open_alerts"] == "CR02;CR03" and rows.loc["C4", "alert_level"] == "red"
    assert rows.loc["C4", "owner"] == "collections" and rows.loc["C4", "due_date"] == "2026-11-01"
    assert rows.loc["C2", "reason"] == "never followed up"
    assert rows.loc["C3", "reason"] == "review due" and rows.loc["C3", "owner"] == DEFAULT_OWNER
    # beside the reason (a key scripts match), its words for a Chinese analyst in Excel
    assert rows["reason_zh"].to_dict() == {"C4": "有未结预警", "C2": "从未回访", "C3": "复核到期"}
    assert (
        rows.loc["C3", "due_date"]
        == str(pd.Timestamp("2026-10-31") + pd.Timedelta(days=REVIEW_DUE_DAYS))[:10]
    )
    assert "C1" not in rows.index and "C5" not in rows.index  # within their frequency


def test_the_preferred_channel_is_the_most_used_in_the_last_year() -> None:
    behaviour = pd.DataFrame(
        {
            "customer_id": ["C4", "C4", "C4", "C2", "C2", "C3"],
            "event_date": pd.to_datetime(
                ["2026-10-01", "2026-09-01", "2026-08-01", "2026-01-01", "2026-02-01", "2024-01-01"]
            ),
            "channel": ["phone", "email", "email", "visit", "phone", "visit"],
        }
    )
    channels = preferred_channels(behaviour, pd.Timestamp("2026-10-31").date())
    assert channels["C4"] == "email"  # twice
    assert channels["C2"] == "phone"  # one each: the most recent
    assert "C3" not in channels.index  # older than a year
    plan = _plan(behaviour).set_index("customer_id")
    assert plan.loc["C4", "preferred_channel"] == "email"
    assert plan.loc["C3", "preferred_channel"] == ""


@pytest.mark.parametrize("dense_pairs", [1 << 24, 0])  # a table of pairs, or a sort
def test_preferred_channels_break_ties_by_date_then_text(
    dense_pairs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Most events, then the latest, then the channel whose text sorts first: checked
    customer by customer against a plain count, with many ties (the same days)."""
    monkeypatch.setattr(followups, "_DENSE_PAIRS", dense_pairs)
    rng = np.random.default_rng(11)
    n = 4_000
    names = np.array(["电话", "email", "Email", "visit", "短信", "app"], dtype=object)
    behaviour = pd.DataFrame(
        {
            "customer_id": pd.Categorical(rng.choice([f"C{i:03d}" for i in range(400)], n)),
            "event_date": pd.Timestamp("2026-10-31")
            - pd.to_timedelta(rng.integers(0, 40, n) * 10, unit="D"),
            "channel": pd.Categorical(rng.choice(names, n)),
        }
    )
    day = pd.Timestamp("2026-10-31").date()
    got = preferred_channels(behaviour, day)

    recent = behaviour[
        behaviour["event_date"] > pd.Timestamp("2026-10-31") - pd.Timedelta(days=365)
    ]
    want = {}
    for customer, events in recent.groupby("customer_id", observed=True):
        by_channel = events.groupby("channel", observed=True)["event_date"].agg(["size", "max"])
        ranked = sorted(by_channel.itertuples(), key=lambda r: (-r.size, -r.max.value, r.Index))
        want[customer] = ranked[0].Index
    assert got.to_dict() == want
    assert list(got.index) == sorted(want)  # in the customers' text order


@pytest.fixture(scope="module")
def scored(export_200: Path, models_200: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("followups") / "run" / "scores.csv"
    result = CliRunner().invoke(
        app,
        [
            "score",
            str(export_200),
            "-m",
            "logistic",
            "--models-dir",
            str(models_200),
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def test_every_run_writes_its_follow_up_plan(scored: Path) -> None:
    run = read_run(scored)
    plan = run.followups
    assert plan is not None and (scored.parent / "followups.csv").is_file()
    assert run.facts["files"]["followups"]["file"] == "followups.csv"
    assert run.facts["followups"]["customers"] == len(plan) > 0
    alerted = set(run.alerts["customer_id"])
    assert alerted <= set(plan["customer_id"])  # every alerted customer is followed up
    assert plan["due_date"].is_monotonic_increasing
    assert (plan["preferred_channel"] != "").mean() > 0.5  # most have behaviour events
    names = plan["name_masked"].dropna().astype(str)
    assert len(names) and names.str.contains("*", regex=False).all()  # masked, never in clear


def test_days_since_the_last_follow_up_are_whole_days_blank_when_unknown(scored: Path) -> None:
    written = pd.read_csv(
        scored.parent / "followups.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig"
    )
    days = written["days_since_last_follow_up"]
    assert days.str.fullmatch(r"[0-9]*").all(), days[~days.str.fullmatch(r"[0-9]*")].head()
    assert (days == "").any() and (days != "").any()  # never followed up: blank
    rows = _plan().set_index("customer_id")["days_since_last_follow_up"]
    assert rows["C3"] == 100 and pd.isna(rows["C2"])
    read = read_run(scored).followups["days_since_last_follow_up"]  # numbers, as written
    assert str(read.dtype) == "Int64" and read.isna().sum() == (days == "").sum()


def test_followups_lists_by_owner_and_writes_a_file(scored: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["followups", str(scored), "--owner", "催收专员", "--limit", "0"])
    assert result.exit_code == 0, result.output
    plan = read_run(scored).followups
    assert plan is not None
    expected = int((plan["owner"] == "collections").sum())
    assert f"{expected:,} customers due" in result.output
    assert f"collections 催收专员: {expected:,}" in result.output
    result = runner.invoke(app, ["followups", str(scored), "--owner", "collection"])
    assert result.exit_code == 2
    assert (
        "--owner 'collection' is not an owner role; did you mean 'collections'? "
        "the roles are: " in result.output
    )
    out = tmp_path / "mine.csv"
    result = runner.invoke(
        app, ["followups", str(scored), "--owner", "account_manager", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    mine = pd.read_csv(out, dtype={"customer_id": str}, encoding="utf-8-sig")
    assert set(mine["owner"]) == {"account_manager"}
    assert len(mine) == int((plan["owner"] == "account_manager").sum())
    book = tmp_path / "mine.xlsx"
    result = runner.invoke(app, ["followups", str(scored), "-o", str(book)])
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(book).active
    header = [cell.value for cell in sheet[1]]
    days = [row[header.index("days_since_last_follow_up")] for row in sheet.iter_rows(2)]
    known = [cell.value for cell in days if cell.value is not None]
    assert known and all(isinstance(v, int | float) and v == int(v) for v in known)  # not text
    # a folder for --out (one there, or a path ending in /): one line, no file of its name
    for folder in (f"{tmp_path / 'plans'}/", str(tmp_path)):
        result = runner.invoke(app, ["followups", str(scored), "-o", folder])
        assert result.exit_code == 2, result.output
        assert f"--out {folder} is a folder: it takes the file to write; e.g. --out " in (
            " ".join(result.output.split())
        )
    assert not (tmp_path / "plans").exists()


def test_followups_in_english_name_the_owners_in_english(scored: Path) -> None:
    """An English user saw "risk_officer 风控专员" above each owner's table."""
    result = CliRunner().invoke(app, ["followups", str(scored), "--lang", "en", "--limit", "1"])
    assert result.exit_code == 0, result.output
    assert "risk officer (risk_officer): " in result.output
    titles = [line for line in result.output.splitlines() if ": " in line]
    assert titles and not any("\u4e00" <= ch <= "\u9fff" for ch in "".join(titles))


def test_owners_come_earliest_due_first_and_counts_are_singular_for_one(
    scored: Path, tmp_path: Path
) -> None:
    """Collections with a red alert due tomorrow are not listed after the account
    managers' quarterly reviews because of the alphabet; one customer is "1 customer"."""
    runner = CliRunner()
    result = runner.invoke(app, ["followups", str(scored), "--limit", "1"])
    assert result.exit_code == 0, result.output
    plan = read_run(scored).followups
    assert plan is not None
    titles = [line.split(" ")[0] for line in result.output.splitlines() if ": " in line]
    owners = [t for t in titles if t in set(plan["owner"])]
    firsts = plan.groupby("owner", sort=False)["due_date"].min()
    assert owners == list(firsts.index) and firsts.is_monotonic_increasing, owners
    assert owners[0] == plan.iloc[0]["owner"]
    assert counted(1, "customer") == "1 customer" and counted(2_000, "report") == "2,000 reports"


def test_a_run_without_a_plan_gets_one_from_its_tables(scored: Path, tmp_path: Path) -> None:
    run = read_run(scored)
    run.followups = None
    files = run.write(tmp_path / "old" / "scores.csv")
    assert not (files.folder / "followups.csv").exists()
    result = CliRunner().invoke(
        app, ["followups", str(files.scores), "-o", str(tmp_path / "p.csv")]
    )
    assert result.exit_code == 0, result.output
    computed = pd.read_csv(tmp_path / "p.csv", dtype={"customer_id": str}, encoding="utf-8-sig")
    original = read_run(scored).followups
    assert original is not None
    assert computed["customer_id"].tolist() == original["customer_id"].tolist()


def test_a_reason_is_said_in_each_language() -> None:
    assert followup_reason("open alerts; review due", "zh") == "有未结预警；复核到期"
    assert followup_reason("open alerts; never followed up", "en") == (
        "open alerts; never followed up"
    )
    assert followup_reason("something new", "zh") == "something new"  # no label: as it is


def test_followups_table_says_the_reason_in_the_runs_language(scored: Path) -> None:
    """The reason column of the table was English in a Chinese run."""
    runner = CliRunner()
    chinese = runner.invoke(app, ["followups", str(scored), "--limit", "0"])
    assert chinese.exit_code == 0, chinese.output
    assert "有未结预警" in chinese.output and "open alerts" not in chinese.output
    english = runner.invoke(app, ["followups", str(scored), "--limit", "0", "--lang", "en"])
    assert english.exit_code == 0, english.output
    assert "open alerts" in english.output and "有未结预警" not in english.output


def test_a_plan_written_before_reason_zh_reads_back_with_it(scored: Path, tmp_path: Path) -> None:
    """followups.csv of an earlier version (no reason_zh) is read as today's plan: the
    previous month's run, custrisk followups and notify read it."""
    import hashlib
    import json
    import shutil

    from custrisk.results import FACTS_DIGESTS, facts_digests

    folder = tmp_path / "earlier"
    shutil.copytree(scored.parent, folder)
    plan_file = folder / "followups.csv"
    plan = pd.read_csv(plan_file, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    plan.drop(columns="reason_zh").to_csv(plan_file, index=False, encoding="utf-8-sig")
    facts_path = folder / "scores.run.json"
    facts = json.loads(facts_path.read_text(encoding="utf-8"))
    entry = facts["files"]["followups"]
    entry["sha256"] = hashlib.sha256(plan_file.read_bytes()).hexdigest()
    entry["bytes"] = plan_file.stat().st_size
    facts[FACTS_DIGESTS] = facts_digests(facts)  # (as that version wrote them: consistent)
    facts_path.write_text(json.dumps(facts, ensure_ascii=False), encoding="utf-8")
    read = read_run(folder / "scores.csv").followups
    today = read_run(scored).followups
    assert read is not None and today is not None
    assert list(read.columns) == list(FOLLOWUP_COLUMNS)
    assert read["reason_zh"].tolist() == today["reason_zh"].tolist()
    result = CliRunner().invoke(app, ["followups", str(folder), "--limit", "1"])
    assert result.exit_code == 0, result.output
