"""The portfolio report's service-quality section: KPIs against targets by segment, month
over month, and the (masked) customers behind each breach (issue 17 item 5)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.report import build_portfolio_context, load_report_config, load_report_inputs
from custrisk.report.render import ReportRenderer
from custrisk.sample import generate_sample_data


@pytest.fixture(scope="module")
def two_months(
    export_200: Path, models_200: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("service")
    nxt = root / "next"
    generate_sample_data(nxt, customers=200, seed=1, drift=0.5)  # as of 2026-11-30
    runs = []
    for data, name in ((export_200, "oct"), (nxt, "nov")):
        out = root / name / "scores.csv"
        args = [
            "score",
            str(data),
            "-m",
            "logistic",
            "--models-dir",
            str(models_200),
            "-o",
            str(out),
        ]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        runs.append(out)
    return runs[0], runs[1]


def test_service_kpis_against_targets_month_over_month_with_breaches(
    two_months: tuple[Path, Path],
) -> None:
    october, november = two_months
    config = load_report_config()
    inputs = load_report_inputs(november, history=[october])
    ctx = build_portfolio_context(
        inputs, config=config, lang="en", report_date=dt.date(2026, 12, 5)
    )
    service = ctx["service"]
    assert [r["as_of"] for r in service["trend"]] == ["2026-10-31", "2026-11-30"]
    assert service["target_text"] == "24 h"
    details = inputs.details
    hours = details["ind__avg_response_hours_180d"]
    target = config.service["response_target_hours"]
    within = (hours.dropna() <= target).mean()
    assert service["total"]["within_target_text"] == f"{within * 100:.1f}%"
    assert (
        service["total"]["unresolved_text"]
        == f"{int(details['ind__unresolved_complaints'].sum()):,}"
    )
    breaches = {b["kpi"]: b for b in service["breaches"]}
    assert breaches["response_hours"]["count"] == int((hours > target).sum()) > 0
    assert breaches["unresolved"]["count"] == int(
        (details["ind__unresolved_complaints"] >= 1).sum()
    )
    listed = breaches["response_hours"]["customers"]
    assert 0 < len(listed) <= config.service["breach_customers"]
    values = [float(c["value_text"]) for c in listed]
    assert values == sorted(values, reverse=True)  # worst first
    assert all("*" in (c["name"] or "*") for b in service["breaches"] for c in b["customers"])
    # the drifted month complains more: the trend marks the complaint rate as worse
    assert "complaint_rate" in service["trend"][-1]["worse"]

    html = ReportRenderer(config, lang="en").html(ctx)
    for text in (
        "Service KPIs month over month",
        "Customers behind each breach",
        "Mean response time above target",
        listed[0]["customer_id"],
    ):
        assert text in html
    raw_names = pd.read_csv(november.parents[1] / "next" / "credit.csv", dtype=str)["name"]
    assert not any(name in html for name in raw_names.head(50))
