"""`custrisk indicators` from the command line: output files, summary, exit codes."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

pytest.importorskip("custrisk.data")

from custrisk.cli import indicators as indicators_cli  # noqa: E402

CREDIT = """\
customer_id,region,industry,customer_since,bureau_score,bureau_score_3m_ago,annual_income,credit_limit,outstanding_balance,overdue_amount,max_days_past_due_12m
C001,华东,制造业,2020-01-01,700,720,100000,10000,4999,0,0
C002,华北,零售,2023-06-01,,600,,5000,0,0,5
C003,,零售,2022-03-15,650,640,50000,5000,5000,1000,
"""
TRANSACTIONS = """\
txn_id,customer_id,txn_date,amount,txn_type,channel,due_date,paid_date
T1,C001,2024-06-30,100,order,app,2024-07-30,
T2,C001,2024-06-01,200,order,web,2024-06-15,2024-06-20
T3,C001,2024-03-31,500,payment,web,,
T4,C002,2024-06-15,10,order,web,2024-06-20,2024-06-25
"""
BEHAVIOUR = """\
event_id,customer_id,event_date,event_type,channel,response_hours,resolved,satisfaction
E1,C001,2024-06-20,complaint,phone,10,false,2
E2,C001,2024-02-01,contact,email,,,4
E3,C003,2024-06-01,contact,,4,,
"""


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    """The root app; mounts the indicators sub-app the way the lead will if not yet there."""
    from custrisk.cli import app as root

    if "indicators" in typer.main.get_command(root).commands:  # type: ignore[attr-defined]
        return root
    from custrisk.cli import _ErrorMappingGroup

    app = typer.Typer(cls=_ErrorMappingGroup, pretty_exceptions_show_locals=False)

    @app.callback()
    def _root() -> None:
        """custrisk (test root)."""

    app.add_typer(indicators_cli.app)
    return app


@pytest.fixture
def data_dir(make_workspace: Callable[..., Path]) -> Path:
    return make_workspace(
        {"credit.csv": CREDIT, "transactions.csv": TRANSACTIONS, "behaviour.csv": BEHAVIOUR}
    )


def _one_line_error(result: Any) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    assert lines[0].startswith("Error: ")
    return lines[0]


def test_writes_one_row_per_customer_and_prints_a_summary(
    cli: typer.Typer, runner: CliRunner, data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "indicators.csv"
    result = runner.invoke(cli, ["indicators", str(data_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, dtype={"customer_id": "str"})
    assert frame["customer_id"].tolist() == ["C001", "C002", "C003"]
    assert frame["complaint_rate_180d"].tolist()[0] == 0.5
    assert frame["region"].tolist()[:2] == ["华东", "华北"]
    assert "Indicators as of 2024-06-30 (the latest event date in the data)" in result.stdout
    assert "complaint_rate_180d" in result.stdout
    assert f"Wrote {out} (3 customers, 32 indicators)" in result.stdout
    assert (out.stat().st_mode & 0o777) == 0o600


def test_parquet_output_and_as_of(
    cli: typer.Typer, runner: CliRunner, data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "indicators.parquet"
    result = runner.invoke(
        cli, ["indicators", str(data_dir), "--out", str(out), "--as-of", "2024-07-31"]
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out)
    assert len(frame) == 3
    assert frame.loc[0, "days_since_last_order"] == 31
    assert "Indicators as of 2024-07-31 (from --as-of)" in result.stdout


def test_absent_source_is_reported(
    cli: typer.Typer, runner: CliRunner, make_workspace: Callable[..., Path], tmp_path: Path
) -> None:
    data_dir = make_workspace({"credit.csv": CREDIT, "transactions.csv": TRANSACTIONS})
    out = tmp_path / "indicators.csv"
    result = runner.invoke(cli, ["indicators", str(data_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Unavailable: complaints_90d: source 'behaviour' is not in the workspace" in (
        result.stderr
    )
    frame = pd.read_csv(out)
    assert frame["complaints_90d"].isna().all()


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["--out", "{tmp}/x.ods"],
            r"x\.ods: cannot tell the output format from the extension "
            r"'\.ods'; name the file with one of \.csv, \.parquet, \.pq, \.xlsx$",
        ),
        (  # (was "the extension '(none)'", the / dropped)
            ["--out", "{tmp}/x/"],
            r"--out .*/x/ is a folder: it takes the file to write; e\.g\. --out .*/x/indicators\.csv$",
        ),
        (
            ["--out", "{tmp}/x.csv", "--as-of", "30/06/2024"],
            r"--as-of '30/06/2024' is not a date; write it as YYYY-MM-DD",
        ),
        (
            ["--out", "{tmp}/x.csv", "--config", "{tmp}/missing.yaml"],
            r"missing\.yaml: config file not found",
        ),
    ],
)
def test_usage_errors_exit_2_without_output(
    cli: typer.Typer,
    runner: CliRunner,
    data_dir: Path,
    tmp_path: Path,
    args: list[str],
    message: str,
) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = runner.invoke(cli, ["indicators", str(data_dir), *args])
    assert result.exit_code == 2, result.output
    assert re.search(message, _one_line_error(result)), result.stderr
    assert not list(tmp_path.glob("x.*"))


def test_injected_expression_exits_2_before_anything_runs(
    cli: typer.Typer,
    runner: CliRunner,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import custrisk.data

    calls: list[Any] = []
    monkeypatch.setattr(custrisk.data, "load_workspace", lambda *a, **k: calls.append(a))
    marker = tmp_path / "pwned"
    config = tmp_path / "evil.yaml"
    config.write_text(
        "indicators:\n"
        "  evil:\n"
        "    label: {zh: 恶意, en: Evil}\n"
        "    direction: none\n"
        f"    expr: \"__import__('os').system('touch {marker}')\"\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.csv"
    result = runner.invoke(
        cli, ["indicators", str(data_dir), "--out", str(out), "--config", str(config)]
    )
    assert result.exit_code == 2, result.output
    line = _one_line_error(result)
    assert (
        "evil.yaml, key 'indicators.evil.expr': name '__import__' is not allowed at column 1"
        in (line)
    )
    assert calls == []  # the data was never loaded
    assert not out.exists() and not marker.exists()
