"""Tests of the sample-data generator (custrisk.sample) and `custrisk sample-data`."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import tempfile
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.errors import UsageError
from custrisk.sample import (
    FAULT_KINDS,
    SampleSummary,
    generate_frames,
    generate_sample_data,
    resolve_as_of,
)

SOURCES_YAML = Path(__file__).resolve().parents[1] / "configs" / "sources.yaml"
DATA_FILES = ("credit.csv", "transactions.csv", "behaviour.csv", "labels.csv", "ground_truth.csv")
HEADERS = {
    "credit.csv": "customer_id,name,phone,id_number,region,industry,customer_since,bureau_score,"
    "bureau_score_3m_ago,annual_income,credit_limit,outstanding_balance,overdue_amount,"
    "max_days_past_due_12m,num_credit_lines",
    "transactions.csv": "txn_id,customer_id,txn_date,amount,txn_type,channel,due_date,paid_date",
    "behaviour.csv": "event_id,customer_id,event_date,event_type,channel,response_hours,resolved,"
    "satisfaction",
    "labels.csv": "customer_id,bad,bad_date,churned,churn_date,escalated,escalation_date",
    "ground_truth.csv": "customer_id,true_pd",
}
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


# --------------------------------------------------------------------------------------
# Fixtures: each export is generated once per module
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SampleSummary]:
    out = tmp_path_factory.mktemp("clean")
    return out, generate_sample_data(out, customers=500)


@pytest.fixture(scope="module")
def dirty(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SampleSummary]:
    out = tmp_path_factory.mktemp("dirty")
    return out, generate_sample_data(out, customers=500, dirty=True)


@pytest.fixture(scope="module")
def frames_20k():  # type: ignore[no-untyped-def]
    return generate_frames(customers=20_000, seed=7)


def read(path: Path, **kwargs: object) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, **kwargs)  # type: ignore[call-overload]


# --------------------------------------------------------------------------------------
# An independent checker of the sources.yaml rules, used on clean and dirty output
# --------------------------------------------------------------------------------------


def valid_id_number(text: str) -> bool:
    if not re.fullmatch(r"\d{17}[\dX]", text):
        return False
    total = sum(int(d) * w for d, w in zip(text[:17], ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == text[17]


def parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
    except ValueError:
        return None


def cell_problem(text: str, rule: dict, defaults: dict) -> tuple[str, object]:
    """(fault or "", parsed value) for one stripped, non-blank cell."""
    kind = rule["type"]
    value: object = text
    if kind in ("int", "float"):
        pattern = r"-?\d+" if kind == "int" else r"-?\d+(\.\d+)?"
        if not re.fullmatch(pattern, text):
            return "malformed_number", None
        value = float(text)
        if "min" in rule and value < rule["min"]:
            return ("negative_amount" if value < 0 else "out_of_range"), None
        if "max" in rule and value > rule["max"]:
            return "out_of_range", None
    elif kind == "date":
        value = parse_date(text)
        if value is None:
            return "impossible_date", None
        if "min" in rule and value < date.fromisoformat(rule["min"]):
            return "out_of_range", None
    elif kind == "bool":
        if text.lower() not in defaults["true_values"] + defaults["false_values"]:
            return "bad_bool", None
    elif kind == "category" and "allowed" in rule and text not in rule["allowed"]:
        return "bad_category", None
    if "pattern" in rule and not re.fullmatch(rule["pattern"], text):
        return "bad_pattern", None
    if rule.get("check") == "cn_id_number" and not valid_id_number(text):
        return "bad_id_number", None
    if kind == "string" and text[:1] in ("=", "+", "-", "@"):
        return "formula_injection", None
    return "", value


def check_file(
    path: Path, source: dict, defaults: dict, known_customers: set[str] | None
) -> tuple[list[tuple[int, str, str]], set[str]]:
    """Every problem as (line, column, fault), and the keys of the rows that survive."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    columns = source["columns"]
    problems: list[tuple[int, str, str]] = []
    first_seen: dict[str, list[str]] = {}
    for line, fields in enumerate(body, start=2):
        if len(fields) != len(header):
            problems.append((line, "", "too_many_fields" if len(fields) > len(header) else "few"))
            continue
        for name, text in zip(header, fields, strict=True):
            if text != text.strip():
                problems.append((line, name, "whitespace_id"))
        record = dict(zip(header, (f.strip() for f in fields), strict=True))
        values: dict[str, object] = {}
        bad = ""
        for name, rule in columns.items():
            text = record[name]
            if text == "":
                if rule.get("required"):
                    bad = bad or "blank_required"
                    problems.append((line, name, "blank_required"))
                continue
            fault, values[name] = cell_problem(text, rule, defaults)
            if fault:
                problems.append((line, name, fault))
                if rule.get("on_invalid") == "blank" and not rule.get("required"):
                    values.pop(name)  # blanked, the row kept
                else:
                    bad = bad or fault
        if bad:
            continue
        for check in source.get("checks", []):
            left, right = values.get(check["left"]), values.get(check["right"])
            ok = {"<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b}[check["op"]]
            if left is not None and right is not None and not ok(left, right):
                fault = "paid_before_txn" if check["name"] == "paid_not_before_order" else "check"
                problems.append((line, check["left"], fault))
                bad = fault
        if bad:
            continue
        key = record[source["key"]]
        if key in first_seen:
            same = first_seen[key] == list(record.values())
            problems.append((line, source["key"], "duplicate_row" if same else "duplicate_key"))
            continue
        if known_customers is not None and record["customer_id"] not in known_customers:
            problems.append((line, "customer_id", "orphan"))
            continue
        first_seen[key] = list(record.values())
    return problems, set(first_seen)


def check_export(out: Path) -> dict[str, list[tuple[int, str, str]]]:
    config = yaml.safe_load(SOURCES_YAML.read_text(encoding="utf-8"))
    sources, defaults = config["sources"], config["defaults"]
    credit_problems, customers = check_file(out / "credit.csv", sources["credit"], defaults, None)
    result = {"credit.csv": credit_problems}
    for name in ("transactions", "behaviour"):
        result[f"{name}.csv"], _ = check_file(
            out / f"{name}.csv", sources[name], defaults, customers
        )
    return result


# --------------------------------------------------------------------------------------
# Reproducibility, shape and content
# --------------------------------------------------------------------------------------


def test_same_arguments_give_identical_bytes(tmp_path: Path, dirty: tuple[Path, SampleSummary]):
    again = generate_sample_data(tmp_path / "a", customers=500, dirty=True)
    first_dir, first = dirty
    assert set(again.paths) == set(first.paths)
    for name in first.paths:
        assert (tmp_path / "a" / name).read_bytes() == (first_dir / name).read_bytes(), name


def test_different_seed_gives_different_data(tmp_path: Path, clean: tuple[Path, SampleSummary]):
    generate_sample_data(tmp_path, customers=500, seed=43)
    for name in DATA_FILES:
        assert (tmp_path / name).read_bytes() != (clean[0] / name).read_bytes(), name


def test_the_same_seed_a_month_later_is_the_same_customers_another_seed_other_ones() -> None:
    """The documented recipe for a second month (same --seed, later --as-of) gives the
    same people under the same ids; another seed gives other people under the same ids
    (which a run compared with the month before takes for grades that all moved)."""
    october = generate_frames(customers=200, seed=7, as_of=date(2026, 10, 31)).credit
    november = generate_frames(customers=200, seed=7, as_of=date(2026, 11, 30)).credit
    other = generate_frames(customers=200, seed=8, as_of=date(2026, 11, 30)).credit
    assert october["customer_id"].tolist() == other["customer_id"].tolist()
    for column in ("customer_id", "name", "region", "industry", "bureau_score"):
        assert october[column].tolist() == november[column].tolist(), column
    assert (october["name"] == other["name"]).mean() < 0.2


def test_files_headers_and_format(clean: tuple[Path, SampleSummary]):
    out, summary = clean
    assert set(summary.paths) == set(DATA_FILES)
    assert not (out / "faults.csv").exists()
    for name in DATA_FILES:
        raw = (out / name).read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf"), f"{name} has a BOM"
        assert b"\r" not in raw and raw.endswith(b"\n")
        assert b'"' not in raw, f"{name} quotes a value that needs no quotes"
        lines = raw.decode("utf-8").splitlines()
        assert lines[0] == HEADERS[name]
        assert len(lines) - 1 == summary.rows[name]
        width = lines[0].count(",")
        assert all(line.count(",") == width for line in lines)
        assert (out / name).stat().st_mode & 0o777 == 0o600
    assert summary.rows["credit.csv"] == summary.rows["labels.csv"] == 500
    # about 24 transactions and 6 events per customer over 12 months
    assert 20 * 500 < summary.rows["transactions.csv"] < 28 * 500
    assert 4.5 * 500 < summary.rows["behaviour.csv"] < 7.5 * 500


def test_one_credit_row_per_customer_with_zero_padded_ids(clean: tuple[Path, SampleSummary]):
    out, _ = clean
    credit, labels, truth = (
        read(out / n) for n in ("credit.csv", "labels.csv", "ground_truth.csv")
    )
    ids = credit["customer_id"]
    assert ids.is_unique
    assert ids.str.fullmatch(r"\d{10}").all()
    assert ids.iloc[0] == "0000000001"
    assert list(labels["customer_id"]) == list(ids) == list(truth["customer_id"])
    transactions = read(out / "transactions.csv")
    assert set(transactions["customer_id"]) <= set(ids)
    assert transactions["txn_id"].is_unique
    assert transactions["txn_id"].str.fullmatch(r"T\d{12}").all()


def test_id_numbers_phones_and_names_are_realistic(clean: tuple[Path, SampleSummary]):
    out, summary = clean
    credit = read(out / "credit.csv")
    assert credit["id_number"].map(valid_id_number).all()
    assert credit["id_number"].str.endswith("X").any()  # about 1 in 11
    birth = pd.to_datetime(credit["id_number"].str[6:14], format="%Y%m%d")
    age_years = (pd.Timestamp(summary.as_of) - birth).dt.days / 365.25
    assert age_years.between(18, 70).all()
    assert credit["phone"].str.fullmatch(r"1[3-9]\d{9}").all()
    assert credit["name"].str.fullmatch(r"[\u4e00-\u9fff]{2,3}").all()
    assert credit["name"].str.len().value_counts().index.isin([2, 3]).all()
    assert credit["region"].nunique() == 7 and credit["industry"].nunique() >= 7


def test_clean_export_satisfies_every_source_rule(clean: tuple[Path, SampleSummary]):
    problems = check_export(clean[0])
    assert problems == {"credit.csv": [], "transactions.csv": [], "behaviour.csv": []}


def test_dates_stay_within_the_window_and_before_as_of(clean: tuple[Path, SampleSummary]):
    out, summary = clean
    as_of = pd.Timestamp(summary.as_of)
    start = pd.Timestamp(2025, 11, 1)  # 12 months back from 2026-10-31
    t = read(out / "transactions.csv")
    txn = pd.to_datetime(t["txn_date"])
    assert txn.between(start, as_of).all()
    assert txn.min() < start + pd.Timedelta(days=10) and txn.max() > as_of - pd.Timedelta(days=10)
    orders = t["txn_type"] == "order"
    assert (t.loc[~orders, ["due_date", "paid_date"]] == "").all().all()
    due = pd.to_datetime(t.loc[orders, "due_date"])
    assert ((due - txn[orders]).dt.days.isin([30, 45, 60])).all()
    assert (due > as_of).any()  # recent orders fall due after the export date
    paid = pd.to_datetime(t.loc[orders, "paid_date"].replace("", None))
    assert (paid.dropna() <= as_of).all() and (paid.dropna() >= txn[orders][paid.notna()]).all()
    assert paid.isna().any() and (paid > due).any()
    assert t["txn_type"].value_counts().index[0] == "order"
    b = read(out / "behaviour.csv")
    assert pd.to_datetime(b["event_date"]).between(start, as_of).all()
    complaint, feedback = b["event_type"] == "complaint", b["event_type"] == "feedback"
    assert set(b.loc[complaint, "resolved"]) == {"true", "false"}
    assert (b.loc[~complaint, "resolved"] == "").all()
    assert set(b.loc[feedback, "satisfaction"]) <= set("12345")
    assert (b.loc[~feedback, "satisfaction"] == "").all()
    credit = read(out / "credit.csv")
    assert (pd.to_datetime(credit["customer_since"]) <= as_of).all()
    assert 0.02 < (credit["bureau_score"] == "").mean() < 0.09  # about 5 % missing


def test_frames_hold_what_the_files_hold(clean: tuple[Path, SampleSummary]):
    out, summary = clean
    frames = generate_frames(customers=500)
    assert frames.as_of == summary.as_of
    for name, frame in frames.tables().items():
        written = pd.read_csv(out / name, dtype={"customer_id": str, "txn_id": str})
        assert list(written.columns) == list(frame.columns)
        assert len(written) == len(frame)
        for column in frame.columns:
            ours = frame[column]
            if pd.api.types.is_datetime64_any_dtype(ours):
                theirs = pd.to_datetime(written[column])
                assert ours.astype("datetime64[s]").equals(theirs.astype("datetime64[s]")), column
            elif pd.api.types.is_numeric_dtype(ours) and not pd.api.types.is_bool_dtype(ours):
                np.testing.assert_allclose(
                    ours.astype("float64"), written[column].astype("float64"), err_msg=column
                )
            else:
                left = ours.astype("object").where(ours.notna(), None).astype(str)
                right = written[column].astype("object").where(written[column].notna(), None)
                assert list(left.str.lower()) == list(right.astype(str).str.lower()), column
    assert frames.credit["customer_id"].dtype == "str"
    assert frames.credit["bureau_score"].dtype == "Int64"
    assert frames.transactions["txn_date"].dtype == "datetime64[s]"


# --------------------------------------------------------------------------------------
# Risk signal
# --------------------------------------------------------------------------------------


def simple_indicators(frames) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    as_of = pd.Timestamp(frames.as_of)
    c = frames.credit.set_index("customer_id")
    x = pd.DataFrame(index=c.index)
    score = c["bureau_score"].astype("float64")
    x["bureau"] = score.fillna(score.median())
    x["no_bureau"] = score.isna().astype(float)
    x["bureau_change"] = (c["bureau_score"] - c["bureau_score_3m_ago"]).astype("float64").fillna(0)
    x["utilisation"] = c["outstanding_balance"] / c["credit_limit"]
    x["overdue"] = (c["overdue_amount"] > 0).astype(float)
    x["log_dpd"] = np.log1p(c["max_days_past_due_12m"].astype("float64"))
    x["log_income"] = np.log(c["annual_income"])
    x["debt_income"] = c["outstanding_balance"] / c["annual_income"]
    t = frames.transactions
    orders = t[(t["txn_type"] == "order") & t["paid_date"].notna()]
    late = (orders["paid_date"] - orders["due_date"]).dt.days.clip(lower=0)
    x["late_share"] = (late > 0).groupby(orders["customer_id"]).mean()
    x["days_late"] = late.groupby(orders["customer_id"]).mean()
    recent = t["txn_date"] > as_of - pd.DateOffset(months=3)
    n_recent = recent.groupby(t["customer_id"]).sum()
    n_before = (~recent).groupby(t["customer_id"]).sum()
    x["trade_change"] = np.log((n_recent + 0.5) / (n_before / 3 + 0.5))
    x["refunds"] = t["txn_type"].isin(["refund", "chargeback"]).groupby(t["customer_id"]).mean()
    b = frames.behaviour
    x["complaints"] = (b["event_type"] == "complaint").groupby(b["customer_id"]).sum()
    x["follow_ups"] = (b["event_type"] == "follow_up").groupby(b["customer_id"]).sum()
    feedback = b[b["event_type"] == "feedback"]
    x["satisfaction"] = (
        feedback["satisfaction"].astype("float64").groupby(feedback["customer_id"]).mean()
    )
    x = x.fillna(x.median())
    return x.join(pd.get_dummies(c[["region", "industry"]], dtype=float))


def test_bad_rate_and_true_pd_auc(frames_20k):  # type: ignore[no-untyped-def]
    bad = frames_20k.labels["bad"]
    assert 0.05 <= bad.mean() <= 0.15
    assert 0.75 < roc_auc_score(bad, frames_20k.ground_truth["true_pd"]) < 0.9


def test_later_outcomes_are_dated_and_follow_their_signals(frames_20k):  # type: ignore[no-untyped-def]
    """labels.csv: churn after trade collapses, escalation after complaints, each outcome
    dated within the 12 months after the export (docs/review.md, sample_data/README.md)."""
    labels = frames_20k.labels.set_index("customer_id")
    as_of = pd.Timestamp(frames_20k.as_of)
    for kind, day_column in (
        ("bad", "bad_date"),
        ("churned", "churn_date"),
        ("escalated", "escalation_date"),
    ):
        happened = labels[kind] == 1
        assert (labels[day_column].notna() == happened).all(), kind
        days = (labels.loc[happened, day_column] - as_of).dt.days
        assert days.between(1, 365).all(), kind
        assert 0.02 < happened.mean() < 0.2, kind
    x = simple_indicators(frames_20k).reindex(labels.index)
    churned, escalated = labels["churned"] == 1, labels["escalated"] == 1
    assert x.loc[churned, "trade_change"].mean() < x.loc[~churned, "trade_change"].mean() - 0.3
    assert x.loc[escalated, "complaints"].mean() > 1.5 * x.loc[~escalated, "complaints"].mean()


def test_observed_signals_recover_most_of_the_latent_risk(frames_20k):  # type: ignore[no-untyped-def]
    x = simple_indicators(frames_20k)
    bad = frames_20k.labels.set_index("customer_id")["bad"].reindex(x.index)
    true_pd = frames_20k.ground_truth.set_index("customer_id")["true_pd"].reindex(x.index)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    predicted = cross_val_predict(model, x, bad, cv=2, method="predict_proba")[:, 1]
    model_auc = roc_auc_score(bad, predicted)
    true_auc = roc_auc_score(bad, true_pd)
    assert 0.75 <= model_auc <= 0.85
    assert 0 < true_auc - model_auc < 0.03
    # each family of signals points the right way on its own
    for column, sign in [
        ("bureau", -1),
        ("bureau_change", -1),
        ("utilisation", 1),
        ("log_dpd", 1),
        ("late_share", 1),
        ("trade_change", -1),
        ("complaints", 1),
        ("satisfaction", -1),
        ("follow_ups", -1),
        ("log_income", -1),
    ]:
        assert roc_auc_score(bad, sign * x[column]) > 0.55, column


# --------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------


def test_gbk_output_is_gbk_with_the_same_content(tmp_path: Path, clean: tuple[Path, SampleSummary]):
    summary = generate_sample_data(tmp_path, customers=500, encoding="GBK")
    assert summary.encoding == "gbk"
    raw = (tmp_path / "credit.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert raw.decode("gbk", errors="strict") == (clean[0] / "credit.csv").read_text("utf-8")
    for name in DATA_FILES[1:]:  # pure ASCII: the same bytes in both encodings
        assert (tmp_path / name).read_bytes() == (clean[0] / name).read_bytes()


# --------------------------------------------------------------------------------------
# Dirty mode
# --------------------------------------------------------------------------------------


def test_dirty_lists_every_fault_kind_at_least_twice(dirty: tuple[Path, SampleSummary]):
    out, summary = dirty
    faults = read(out / "faults.csv")
    assert list(faults.columns) == ["file", "line", "column", "fault", "expected_action"]
    assert Counter(faults["fault"]) == Counter(summary.faults)
    assert all(summary.faults[kind] >= 2 for kind in FAULT_KINDS)
    assert summary.n_faults == len(faults) == summary.rows["faults.csv"]
    assert not faults.duplicated(["file", "line"]).any()  # one fault per row
    # formulas go into names, which the packaged config blanks (on_invalid: blank)
    repaired = faults["fault"].isin(["whitespace_id", "formula_injection"])
    assert (faults.loc[repaired, "expected_action"] == "repaired").all()
    assert (faults.loc[~repaired, "expected_action"] == "dropped").all()


def test_dirty_faults_are_exactly_what_a_validator_finds(dirty: tuple[Path, SampleSummary]):
    out, _ = dirty
    listed = read(out / "faults.csv")
    expected = {(row.file, int(row.line), row.column, row.fault) for row in listed.itertuples()}
    found = {
        (name, line, column, fault)
        for name, problems in check_export(out).items()
        for line, column, fault in problems
    }
    assert found == expected


def test_dirty_lines_show_their_fault(dirty: tuple[Path, SampleSummary]):
    out, _ = dirty
    lines = {
        name: (out / name).read_text("utf-8").split("\n")
        for name in ("credit.csv", "transactions.csv", "behaviour.csv")
    }
    for row in read(out / "faults.csv").itertuples():
        text = lines[row.file][int(row.line) - 1]
        header = lines[row.file][0].split(",")
        fields = next(csv.reader([text]))
        cell = fields[header.index(row.column)] if row.column else ""
        if row.fault == "whitespace_id":
            assert cell != cell.strip() and re.fullmatch(r"[TE]?\d+", cell.strip())
        elif row.fault == "blank_required":
            assert cell == ""
        elif row.fault == "malformed_number":
            assert not re.fullmatch(r"-?\d+(\.\d+)?", cell)
        elif row.fault == "negative_amount":
            assert float(cell) < 0
        elif row.fault == "impossible_date":
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", cell) and parse_date(cell) is None
        elif row.fault == "too_many_fields":
            assert len(fields) == len(header) + 1
        elif row.fault == "formula_injection":
            assert cell[:1] in "=+@-"
        elif row.fault == "orphan":
            assert cell.startswith("9")
        elif row.fault == "paid_before_txn":
            assert cell < fields[header.index("txn_date")]
        elif row.fault in ("duplicate_row", "duplicate_key"):
            earlier = [
                line
                for line in lines[row.file][1 : int(row.line) - 1]
                if line.split(",")[header.index(row.column)] == cell
            ]
            assert len(earlier) == 1
            assert (earlier[0] == text) == (row.fault == "duplicate_row")
        else:
            pytest.fail(f"unknown fault {row.fault}")


def test_dirty_files_hold_the_clean_rows_plus_faults(
    dirty: tuple[Path, SampleSummary], clean: tuple[Path, SampleSummary]
):
    faults = read(dirty[0] / "faults.csv")
    for name in ("credit.csv", "transactions.csv", "behaviour.csv"):
        clean_lines = (clean[0] / name).read_text("utf-8").splitlines()
        dirty_lines = (dirty[0] / name).read_text("utf-8").splitlines()
        touched = set(faults.loc[faults["file"] == name, "line"].astype(int))
        untouched = [line for n, line in enumerate(dirty_lines, 1) if n not in touched]
        assert set(untouched) <= set(clean_lines)
        assert len(dirty_lines) - len(clean_lines) == dirty[1].rows[name] - clean[1].rows[name]
    for name in ("labels.csv", "ground_truth.csv"):
        assert (dirty[0] / name).read_bytes() == (clean[0] / name).read_bytes()


def test_clean_run_removes_a_stale_faults_file(tmp_path: Path):
    generate_sample_data(tmp_path, customers=20, dirty=True)
    assert (tmp_path / "faults.csv").exists()
    generate_sample_data(tmp_path, customers=20)
    assert not (tmp_path / "faults.csv").exists()


# --------------------------------------------------------------------------------------
# Drift
# --------------------------------------------------------------------------------------


def psi(reference: pd.Series, current: pd.Series, bins: int = 10) -> float:
    ref, cur = reference.dropna().to_numpy(float), current.dropna().to_numpy(float)
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    r = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1)
    c = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1)
    r = np.clip(r / len(ref), 1e-4, None)
    c = np.clip(c / len(cur), 1e-4, None)
    return float(np.sum((c - r) * np.log(c / r)))


def drift_features(frames) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    c = frames.credit
    return pd.DataFrame(
        {
            "bureau_score": c["bureau_score"].astype("float64"),
            "annual_income": c["annual_income"],
            "utilisation": c["outstanding_balance"] / c["credit_limit"],
            "debt_income": c["outstanding_balance"] / c["annual_income"],
        }
    )


def test_drift_shifts_distributions_and_the_export_month():
    reference = generate_frames(customers=3000, seed=1)
    same = generate_frames(customers=3000, seed=2)
    drifted = generate_frames(customers=3000, seed=2, drift=0.5)
    assert drifted.as_of == date(2026, 11, 30) == resolve_as_of(None, 0.5)
    assert generate_frames(customers=5, drift=0.5, as_of=date(2026, 10, 31)).as_of == date(
        2026, 10, 31
    )
    ref, cur, shifted = (drift_features(f) for f in (reference, same, drifted))
    assert all(psi(ref[col], cur[col]) < 0.1 for col in ref.columns)
    assert all(psi(ref[col], shifted[col]) >= 0.25 for col in ref.columns)
    assert shifted["bureau_score"].mean() < ref["bureau_score"].mean() - 30
    assert shifted["annual_income"].median() < 0.8 * ref["annual_income"].median()
    assert drifted.labels["bad"].mean() > reference.labels["bad"].mean() + 0.03
    per_customer = [len(f.transactions) / 3000 for f in (reference, drifted)]
    assert per_customer[1] < 0.85 * per_customer[0]
    complaints = [(f.behaviour["event_type"] == "complaint").mean() for f in (reference, drifted)]
    assert complaints[1] > 1.2 * complaints[0]


# --------------------------------------------------------------------------------------
# Parameters, properties, summary
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"customers": 0}, r"'customers' must be an integer from 1 to 20000000; got 0"),
        ({"customers": 2.5}, r"'customers' must be an integer"),
        ({"months": 0}, r"'months' must be an integer from 1 to 120; got 0"),
        ({"drift": -1}, r"'drift' must be a number from 0 to 5 .*; got -1"),
        ({"drift": float("nan")}, r"'drift' must be a number .*; got nan"),
        ({"seed": -3}, r"'seed' must be an integer from 0 .*; got -3"),
        ({"encoding": "latin1"}, r"'encoding' must be one of utf-8, gbk; got 'latin1'"),
        ({"as_of": date(1999, 1, 1)}, r"'as_of' must be a date .* from 2011-01-01"),
    ],
)
def test_bad_parameters_name_the_parameter(tmp_path: Path, kwargs: dict, message: str):
    with pytest.raises(UsageError, match=message):
        generate_sample_data(tmp_path, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_out_dir_that_is_a_file_is_refused(tmp_path: Path):
    target = tmp_path / "file.csv"
    target.write_text("x")
    with pytest.raises(UsageError, match="existing file"):
        generate_sample_data(target, customers=5)


def test_summary_is_frozen(clean: tuple[Path, SampleSummary]):
    summary = clean[1]
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.bad_rate = 0.5  # type: ignore[misc]
    with pytest.raises(TypeError):
        summary.rows["credit.csv"] = 1  # type: ignore[index]
    assert summary.as_of == date(2026, 10, 31) and summary.faults == {}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    customers=st.integers(1, 60),
    months=st.integers(1, 30),
    seed=st.integers(0, 2**40),
    as_of=st.dates(date(2011, 1, 1), date(2099, 12, 31)),
)
def test_any_small_export_is_valid_and_faults_stay_unambiguous(
    customers: int, months: int, seed: int, as_of: date
):
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        generate_sample_data(out, customers=customers, months=months, seed=seed, as_of=as_of)
        assert check_export(out) == {"credit.csv": [], "transactions.csv": [], "behaviour.csv": []}
        before_window = (pd.Timestamp(as_of) - pd.DateOffset(months=months)).date().isoformat()
        for name, column in (("transactions.csv", "txn_date"), ("behaviour.csv", "event_date")):
            days = read(out / name)[column]
            assert days.empty or (before_window < days.min() and days.max() <= str(as_of))
        summary = generate_sample_data(
            out, customers=customers, months=months, seed=seed, as_of=as_of, dirty=True
        )
        listed = read(out / "faults.csv")
        found = {
            (name, line, fault)
            for name, problems in check_export(out).items()
            for line, _column, fault in problems
        }
        assert found == {(r.file, int(r.line), r.fault) for r in listed.itertuples()}
        assert summary.n_faults == len(listed) > 0


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_writes_the_export_and_a_summary(tmp_path: Path):
    result = runner.invoke(
        app, ["sample-data", str(tmp_path), "--customers", "40", "--seed", "3", "--dirty"]
    )
    assert result.exit_code == 0, result.output
    assert "credit.csv" in result.output and "transactions.csv" in result.output
    assert re.search(r"bad rate \d+\.\d%", result.output)
    assert "as of 2026-10-31" in result.output
    assert "faults injected" in result.output
    expected = generate_sample_data(tmp_path / "lib", customers=40, seed=3, dirty=True)
    for name in expected.paths:
        assert (tmp_path / name).read_bytes() == (tmp_path / "lib" / name).read_bytes()


def test_cli_drift_moves_as_of_unless_given(tmp_path: Path):
    result = runner.invoke(app, ["sample-data", str(tmp_path), "--customers", "5", "--drift", "1"])
    assert result.exit_code == 0 and "as of 2026-11-30" in result.output
    result = runner.invoke(
        app,
        ["sample-data", str(tmp_path), "--customers", "5", "--drift", "1", "--as-of", "2026-05-31"],
    )
    assert result.exit_code == 0 and "as of 2026-05-31" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--customers", "0"], "--customers must be an integer from 1 to 20000000; got 0"),
        (["--encoding", "latin1"], "--encoding must be one of utf-8, gbk; got 'latin1'"),
        (["--drift", "-1"], "--drift must be a number from 0 to 5"),
        (["--months", "500"], "--months must be an integer from 1 to 120; got 500"),
        (["--as-of", "2026-02-30"], "--as-of must be a date written YYYY-MM-DD"),
    ],
)
def test_cli_bad_option_exits_2_with_one_line(tmp_path: Path, args: list[str], message: str):
    result = runner.invoke(app, ["sample-data", str(tmp_path / "out"), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_cli_every_option_has_help():
    command = typer.main.get_command(app).commands["sample-data"]  # type: ignore[attr-defined]
    assert command.help
    names = {param.name: param for param in command.params}
    assert set(names) == {
        "out_dir",
        "customers",
        "months",
        "as_of",
        "seed",
        "drift",
        "dirty",
        "encoding",
        "layout",
    }
    for name, param in names.items():
        assert len(getattr(param, "help", None) or "") > 15, name
    assert runner.invoke(app, ["sample-data", "--help"]).exit_code == 0


def test_cli_output_is_plain_text_csv_readable(tmp_path: Path):
    runner.invoke(app, ["sample-data", str(tmp_path), "--customers", "10", "--encoding", "gbk"])
    text = (tmp_path / "credit.csv").read_bytes().decode("gbk")
    assert len(list(csv.reader(io.StringIO(text)))) == 11
