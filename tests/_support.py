"""Builders shared by test modules: rows of the credit and transactions exports,
exports cut into partitions or written as hive-partitioned datasets, the comparison of two scoring runs,
``custrisk score`` run on both engines, an export with a credit column blanked, and the sample export in a SQLite file with a
sources config that reads it by queries.

Test modules import these from here, never from conftest.py or from another test module.
"""

from __future__ import annotations

import contextlib
import csv
import shutil
import sqlite3
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
from typer.testing import CliRunner

import custrisk
from custrisk.cli import app
from custrisk.config.sources import load_sources_config
from custrisk.results import ScoringRun

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

PACKAGED_SOURCES = Path(custrisk.__file__).parent / "defaults" / "configs" / "sources.yaml"


def with_zero_pad(source: str, width: int = 10, text: str | None = None) -> str:
    """The packaged sources config (or ``text``) with ``zero_pad: width`` on the
    customer_id column of ``source``."""
    text = PACKAGED_SOURCES.read_text(encoding="utf-8") if text is None else text
    declared = "customer_id: {type: id, required: true}"
    at = text.index(declared, text.index(f"\n  {source}:\n"))
    padded = f"customer_id: {{type: id, required: true, zero_pad: {width}}}"
    return text[:at] + padded + text[at + len(declared) :]


def strip_zeros(path: Path, column: str = "customer_id") -> None:
    """A CSV's ``column`` without leading zeros (``0000000042`` -> ``42``), as after an
    Excel number cell."""
    lines = path.read_text(encoding="utf-8").splitlines()
    at = lines[0].split(",").index(column)
    rows = [line.split(",") for line in lines[1:]]
    for row in rows:
        row[at] = row[at].lstrip("0") or "0"
    path.write_text("\n".join([lines[0], *(",".join(r) for r in rows)]) + "\n", encoding="utf-8")


def assert_same_run(got: ScoringRun, want: ScoringRun) -> None:
    """Two scoring runs (the Dask engine's and the pandas engine's) are equal, frame for
    frame with their dtypes, and in their facts."""
    pd.testing.assert_frame_equal(got.scores, want.scores)
    pd.testing.assert_frame_equal(got.details, want.details)
    pd.testing.assert_frame_equal(got.alerts, want.alerts)
    pd.testing.assert_frame_equal(got.followups, want.followups)
    if want.rejects is None:
        assert got.rejects is None
    else:
        assert got.rejects is not None
        pd.testing.assert_frame_equal(got.rejects, want.rejects)
    assert got.facts == want.facts


def partitioned_exports(source: Path, folder: Path, parts: int) -> Path:
    """The exports of ``source`` with each CSV cut into ``parts`` files by line (each
    with the header: credit-0.csv, credit-1.csv, ...), and a sources config that reads
    them by a glob (as the pandas engine can too)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.csv")):
        if path.name == "labels.csv":
            continue
        header, *lines = path.read_bytes().splitlines(keepends=True)
        cuts = np.array_split(np.arange(len(lines)), parts)
        for i, rows in enumerate(cuts):
            body = b"".join(lines[r] for r in rows)
            (folder / f"{path.stem}-{i}.csv").write_bytes(header + body)
    packaged = Path(custrisk.__file__).parent / "defaults" / "configs" / "sources.yaml"
    text = packaged.read_text(encoding="utf-8")
    for name in ("credit", "transactions", "behaviour"):
        text = text.replace(f"file: {name}.csv", f"file: {name}-*.csv")
    config = folder / "sources.yaml"
    config.write_text(text, encoding="utf-8")
    return config


#: The column each source's dataset is split by, as hive folders (dropped from the files).
HIVE_SPLIT = {"transactions": "txn_type", "behaviour": "event_type"}


def hive_dataset(export: Path, folder: Path) -> Path:
    """``export``'s transactions and behaviour as hive-partitioned Parquet datasets
    (``transactions/txn_type=order/part-00000.parquet``, with Spark's marker files)."""
    folder.mkdir()
    shutil.copy(export / "credit.csv", folder / "credit.csv")
    for name, column in HIVE_SPLIT.items():
        frame = pd.read_csv(export / f"{name}.csv", dtype=str, keep_default_na=False)
        for value, rows in frame.groupby(column, sort=True):
            part = folder / name / f"{column}={quote(str(value), safe='')}"
            part.mkdir(parents=True)
            rows.drop(columns=column).to_parquet(part / "part-00000.parquet", index=False)
            (part / ".part-00000.parquet.crc").write_bytes(b"\x00crc")
        (folder / name / "_SUCCESS").write_text("")
    return folder


def score_on_both_engines(
    tmp_path: Path, address: str, exports: Path, models: Path, *dask_options: str
) -> tuple[Path, Path]:
    """``custrisk score`` of ``exports`` with the logistic model of ``models`` on the
    pandas engine, then on the dask engine at the scheduler ``address`` with
    ``dask_options``; the two scores files (each run alone in its folder)."""
    runner = CliRunner()
    common = ["score", str(exports), "--model", "logistic", "--models-dir", str(models)]
    pandas_out, dask_out = tmp_path / "pandas" / "scores.csv", tmp_path / "dask" / "scores.csv"
    first = runner.invoke(app, [*common, "--out", str(pandas_out)])
    assert first.exit_code == 0, first.output
    dask = ["--out", str(dask_out), "--engine", "dask", "--scheduler", address, *dask_options]
    second = runner.invoke(app, [*common, *dask])
    assert second.exit_code == 0, second.output
    return pandas_out, dask_out


def with_blank(export: Path, target: Path, column: str, rows: object = slice(None)) -> Path:
    """A copy of ``export`` at ``target`` whose credit ``column`` is blank in ``rows``
    (a slice or a boolean mask of the credit rows; every row by default)."""
    shutil.copytree(export, target)
    credit = pd.read_csv(target / "credit.csv", dtype=str, keep_default_na=False)
    credit.loc[credit.index[rows], column] = ""
    credit.to_csv(target / "credit.csv", index=False)
    return target


def cut_off(path: Path) -> int:
    """Cut ``path`` in the middle of its last line, as a copy taken while the export was
    still being written; returns that line's number."""
    data = path.read_bytes().rstrip(b"\n")
    last = data.rfind(b"\n") + 1
    path.write_bytes(data[: last + (len(data) - last) // 2])
    return data.count(b"\n") + 1


# -- sources read from a database ---------------------------------------------------------

#: The sources of the packaged config, each a table of the test databases
SQL_SOURCES = ("credit", "transactions", "behaviour")

SQL_TYPES = {
    "id": "text",
    "string": "text",
    "category": "text",
    "int": "integer",
    "float": "numeric(16,2)",
    "date": "date",
    "bool": "boolean",
}


def table_columns(name: str) -> list[tuple[str, str]]:
    spec = load_sources_config(PACKAGED_SOURCES).sources[name]
    return [(c.name, SQL_TYPES[c.type]) for c in spec.columns]


def sqlite_crm(export_200: Path, tmp_path: Path) -> Path:
    """A SQLite file holding ``export_200``'s credit, transactions and behaviour tables."""
    database = tmp_path / "crm.db"
    with contextlib.closing(sqlite3.connect(database)) as connection:
        for name in SQL_SOURCES:
            columns = table_columns(name)
            kinds = {"integer": "INTEGER", "numeric(16,2)": "REAL", "boolean": "INTEGER"}
            body = ", ".join(f"{c} {kinds.get(k, 'TEXT')}" for c, k in columns)
            connection.execute(f"CREATE TABLE {name} ({body})")
            with (export_200 / f"{name}.csv").open(encoding="utf-8") as handle:
                rows = list(csv.reader(handle))[1:]
            marks = ", ".join("?" for _ in columns)
            connection.executemany(
                f"INSERT INTO {name} VALUES ({marks})",
                [[v if v != "" else None for v in row] for row in rows],
            )
        connection.commit()
    return database


def query_sources(folder: Path, queries: dict[str, str], url: str = "env:CRM_DB_URL") -> Path:
    """The packaged sources YAML with each source read by a query instead of a file."""
    text = PACKAGED_SOURCES.read_text(encoding="utf-8")
    for name, query in queries.items():
        text = text.replace(f"    file: {name}.csv\n", f'    query: "{query}"\n    url: {url}\n')
    path = folder / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    return path
