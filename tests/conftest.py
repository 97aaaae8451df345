"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.sample import generate_sample_data

BAD_INPUTS = Path(__file__).parent / "bad_inputs"

CREDIT_HEADER = (
    "customer_id,name,phone,id_number,region,industry,customer_since,bureau_score,"
    "bureau_score_3m_ago,annual_income,credit_limit,outstanding_balance,overdue_amount,"
    "max_days_past_due_12m,num_credit_lines"
)


def credit_row(
    customer_id: str,
    *,
    name: str = "张伟",
    phone: str = "13812345678",
    id_number: str = "11010519491231002X",
    since: str = "2015-03-01",
    bureau: str = "720",
    limit: str = "100000.00",
    balance: str = "20000.00",
    overdue: str = "0.00",
) -> str:
    return (
        f"{customer_id},{name},{phone},{id_number},华东,制造业,{since},{bureau},730,"
        f"500000.00,{limit},{balance},{overdue},0,3"
    )


TXN_HEADER = "txn_id,customer_id,txn_date,amount,txn_type,channel,due_date,paid_date"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def make_workspace(tmp_path: Path) -> Callable[..., Path]:
    """Write files {name: text or bytes} into a fresh data folder and return it."""
    counter = iter(range(1000))

    def make(files: dict[str, str | bytes]) -> Path:
        folder = tmp_path / f"data{next(counter)}"
        folder.mkdir()
        for name, content in files.items():
            data = content.encode("utf-8") if isinstance(content, str) else content
            (folder / name).write_bytes(data)
        return folder

    return make


@pytest.fixture(scope="session")
def export_200(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean sample export of 200 customers (as of 2026-10-31); copy it before editing."""
    folder = tmp_path_factory.mktemp("export_200")
    generate_sample_data(folder, customers=200, seed=1)
    return folder


@pytest.fixture(scope="session")
def models_200(tmp_path_factory: pytest.TempPathFactory, export_200: Path) -> Path:
    """A registry with a logistic model trained on ``export_200``."""
    folder = tmp_path_factory.mktemp("models_200")
    args = ["train", str(export_200), "--labels", str(export_200 / "labels.csv")]
    result = CliRunner().invoke(app, [*args, "--models-dir", str(folder)])
    assert result.exit_code == 0, result.output
    return folder
