"""Sources read from a database (``query:`` + ``url: env:NAME``): against a real
PostgreSQL started in a temporary folder, and against SQLite. The same typing, cleaning
and reject rules as files; the password never in a message, a log line or a report."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import sqlite3
import threading
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrisk.cli import app
from custrisk.config.sources import load_sources_config
from custrisk.data import load_workspace
from custrisk.errors import ConfigError, DataError
from custrisk.io.sql import read_query
from tests._postgres import PASSWORD, free_port  # a distinctive password, to grep for
from tests._support import query_sources, sqlite_crm, table_columns

psycopg = pytest.importorskip("psycopg", reason="the db extra (psycopg) is not installed")

PACKAGED_SOURCES = Path(__file__).resolve().parents[1] / "configs" / "sources.yaml"
SOURCES = ("credit", "transactions", "behaviour")


@pytest.fixture(scope="session")
def postgres(postgres_cluster: dict[str, str], export_200: Path) -> dict[str, str]:
    """A database ``crm`` in the session's throwaway PostgreSQL cluster
    (tests/_postgres.py) holding ``export_200``'s credit, transactions and behaviour
    tables. Yields the URL parts."""
    from tests._postgres import USER

    port = postgres_cluster["port"]
    with psycopg.connect(postgres_cluster["admin"], autocommit=True) as connection:
        connection.execute("CREATE DATABASE crm")
    url = f"postgresql+psycopg://{USER}:{PASSWORD}@127.0.0.1:{port}/crm"
    with psycopg.connect(url.replace("+psycopg", "")) as connection:
        for name in SOURCES:
            columns = table_columns(name)
            body = ", ".join(f"{column} {kind}" for column, kind in columns)
            connection.execute(f"CREATE TABLE {name} ({body})")
            with (
                (export_200 / f"{name}.csv").open(encoding="utf-8") as handle,
                connection.cursor().copy(
                    f"COPY {name} FROM STDIN WITH (FORMAT csv, HEADER true)"
                ) as copy,
            ):
                copy.write(handle.read())
    return {"url": url, "port": port, "folder": postgres_cluster["folder"]}


ALL_TABLES = {name: f"SELECT * FROM {name}" for name in SOURCES}


def test_a_postgres_workspace_cleans_to_the_same_frames_as_the_csv_export(
    postgres: dict[str, str],
    export_200: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("CRM_DB_URL", postgres["url"])
    config = query_sources(tmp_path, ALL_TABLES)
    caplog.set_level(logging.DEBUG)
    # an earlier CLI run in this process may have stopped custrisk's log at its handler
    monkeypatch.setattr(logging.getLogger("custrisk"), "propagate", True)
    monkeypatch.setattr(logging.getLogger("custrisk"), "level", logging.DEBUG)
    from_db = load_workspace(tmp_path, config=config)
    from_csv = load_workspace(export_200, config=PACKAGED_SOURCES)
    for name in SOURCES:
        pd.testing.assert_frame_equal(from_db.frames[name], from_csv.frames[name])
        assert from_db.report.sources[name].files == (f"query:{name}",)
    assert "source credit: running its query on" in caplog.text  # the log says where ...
    assert PASSWORD not in caplog.text  # ... never with the password
    assert "custrisk:***@127.0.0.1" in caplog.text
    assert PASSWORD not in json.dumps(from_db.report.to_dict())


def test_rows_of_a_query_are_rejected_with_the_source_and_the_row_of_the_result(
    postgres: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner
) -> None:
    monkeypatch.setenv("CRM_DB_URL", postgres["url"])
    # The third and fifth rows of the result break the rules: a limit out of range
    # (rejected), a phone that is no mobile number (blanked: an optional column).
    query = (
        "SELECT customer_id, name, CASE WHEN n = 5 THEN '2' || substr(phone, 2) ELSE phone "
        "END AS phone, id_number, region, industry, customer_since, bureau_score, "
        "bureau_score_3m_ago, annual_income, CASE WHEN n = 3 THEN -1 ELSE credit_limit END "
        "AS credit_limit, outstanding_balance, overdue_amount, max_days_past_due_12m, "
        "num_credit_lines FROM (SELECT *, row_number() OVER (ORDER BY customer_id) AS n "
        "FROM credit) AS numbered ORDER BY n"
    )
    config = query_sources(tmp_path, {"credit": query, "transactions": ALL_TABLES["transactions"]})
    out = tmp_path / "validation"
    result = runner.invoke(
        app, ["validate", str(tmp_path), "--config", str(config), "--out", str(out)]
    )
    assert result.exit_code == 1, result.output
    rejects = pd.read_csv(out / "rejects.csv", dtype=str, encoding="utf-8-sig")
    rejects = rejects[rejects["source"] == "credit"]  # (then its customer's transactions)
    assert rejects[["source", "file", "line", "column", "rule", "action"]].values.tolist() == [
        ["credit", "query:credit", "3", "credit_limit", "out_of_range", "dropped"],
        ["credit", "query:credit", "5", "phone", "cn_phone", "repaired"],
    ]
    assert rejects["value"].iloc[1].startswith("2") and "****" in rejects["value"].iloc[1]  # masked
    report = (out / "validation_report.json").read_text(encoding="utf-8")
    assert PASSWORD not in report and PASSWORD not in result.output


def test_a_wrong_password_or_a_closed_port_is_a_one_line_error_without_the_password(
    postgres: dict[str, str], tmp_path: Path
) -> None:
    wrong = postgres["url"].replace(PASSWORD, "Wr0ng-" + PASSWORD)
    with pytest.raises(DataError) as caught:
        read_query("SELECT 1 AS a", "env:DB", source="credit", environ={"DB": wrong})
    message = str(caught.value)
    assert "password authentication failed" in message
    assert PASSWORD not in message and "custrisk:***@127.0.0.1" in message
    closed = postgres["url"].replace(f":{postgres['port']}/", f":{free_port()}/")
    with pytest.raises(DataError, match=r"cannot connect to or query .*custrisk:\*\*\*@") as caught:
        read_query("SELECT 1 AS a", "env:DB", source="credit", environ={"DB": closed})
    assert PASSWORD not in str(caught.value)


def test_a_failing_query_names_the_source_and_hides_the_password(
    postgres: dict[str, str],
) -> None:
    with pytest.raises(
        DataError, match=r"query:credit: the query failed on .*no_such_table"
    ) as caught:
        read_query(
            "SELECT * FROM no_such_table",
            "env:DB",
            source="credit",
            environ={"DB": postgres["url"]},
        )
    assert PASSWORD not in str(caught.value)
    # not the server-side cursor's DECLARE around the query, which nobody wrote
    assert "DECLARE" not in str(caught.value) and "LINE 1" not in str(caught.value)


def test_reading_in_chunks_gives_the_same_table(postgres: dict[str, str], export_200: Path) -> None:
    options = {"source": "credit", "environ": {"DB": postgres["url"]}}
    query = "SELECT customer_id, customer_since, credit_limit FROM credit ORDER BY customer_id"
    whole = read_query(query, "env:DB", **options)
    chunked = read_query(query, "env:DB", chunk_rows=7, **options)
    assert chunked.table.equals(whole.table)
    assert chunked.lines.tolist() == list(range(1, 201))
    # numeric(16,2) arrives as Decimal, a date as a date: written as a person types them
    exported = pd.read_csv(export_200 / "credit.csv", dtype=str).sort_values("customer_id")
    read = whole.table.to_pandas()
    assert read["customer_since"].tolist() == exported["customer_since"].tolist()
    assert [Decimal(v) for v in read["credit_limit"]] == [
        Decimal(v) for v in exported["credit_limit"]
    ]
    whole_numbers = exported["credit_limit"].str.endswith(".00").to_numpy()
    assert (
        whole_numbers.any()
        and not read["credit_limit"][whole_numbers].str.contains(".", regex=False).any()
    )


# -- SQLite, and the config ---------------------------------------------------------------


def test_a_sqlite_file_database_is_read_with_the_same_rules(
    export_200: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_DB_URL", f"sqlite:///{sqlite_crm(export_200, tmp_path)}")
    config = query_sources(tmp_path, ALL_TABLES)
    from_db = load_workspace(tmp_path, config=config)
    from_csv = load_workspace(export_200, config=PACKAGED_SOURCES)
    for name in SOURCES:
        pd.testing.assert_frame_equal(from_db.frames[name], from_csv.frames[name])


def test_a_column_typed_in_one_chunk_and_not_in_another_is_judged_row_by_row(
    tmp_path: Path,
) -> None:
    database = tmp_path / "mixed.db"
    with contextlib.closing(sqlite3.connect(database)) as connection:
        connection.execute("CREATE TABLE t (id TEXT, n)")
        connection.executemany("INSERT INTO t VALUES (?, ?)", [("a", 1), ("b", 2), ("c", 2.5)])
        connection.commit()
    raw = read_query(
        "SELECT id, n FROM t ORDER BY id",
        f"sqlite:///{database}",
        source="credit",
        typed={"n": pa.int64()},
        chunk_rows=2,
    )
    assert raw.table.column("n").to_pylist() == ["1", "2", "2.5"]


def test_a_url_with_a_password_in_the_config_is_refused_without_showing_it(
    tmp_path: Path,
) -> None:
    config = query_sources(
        tmp_path, {"credit": "SELECT * FROM credit"}, url=f"postgresql://bob:{PASSWORD}@db/crm"
    )
    with pytest.raises(
        ConfigError, match=r"sources\.credit\.url.*bob:\*\*\*@db.*env:CRM_DB_URL"
    ) as caught:
        load_sources_config(config)
    assert PASSWORD not in str(caught.value)


def test_an_unset_variable_is_named_in_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRM_DB_URL", raising=False)
    config = query_sources(tmp_path, {"credit": "SELECT * FROM credit"})
    with pytest.raises(DataError, match=r"environment variable CRM_DB_URL is not set"):
        load_workspace(tmp_path, config=config)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("    file: credit.csv\n    query: SELECT 1\n    url: env:X\n", "either file: or query:"),
        ("    query: SELECT 1\n", r"url.*is required with query:"),
        ("    query: SELECT 1\n    url: env:1X\n", "not an environment variable name"),
        ("    query: SELECT 1\n    url: crm\n", r"expected env:NAME or a database URL"),
        (
            "    query: SELECT * FROM t WHERE m = :month AND n <> ':x'\n    url: env:X\n",
            r"sources.credit.query.*names the parameter :month, which custrisk does not know",
        ),
    ],
)
def test_query_and_url_are_checked_in_the_config(tmp_path: Path, lines: str, message: str) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(
        "version: 1\nsources:\n  credit:\n" + lines + "    key: customer_id\n"
        "    columns:\n      customer_id: {type: id}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=message):
        load_sources_config(path)


@pytest.mark.parametrize(
    "url",
    [
        # a '/' in the password, on a port where nothing listens
        "postgresql+psycopg://risk:S3cr/3tPW@127.0.0.1:9/crm",
        # the ':' of the scheme mistyped: SQLAlchemy cannot read it, its text is not shown
        "postgresql+psycopg//risk:S3cr/3tPW@127.0.0.1:9/crm",
        "not a url S3cr/3tPW",
    ],
)
def test_a_password_is_never_shown_when_the_url_fails(url: str) -> None:
    from custrisk.errors import DataError
    from custrisk.io.sql import read_query

    with pytest.raises(DataError) as caught:
        read_query("SELECT 1", "env:CRM_DB_URL", source="credit", environ={"CRM_DB_URL": url})
    said = str(caught.value)
    assert "S3cr" not in said and "3tPW" not in said, said
    assert "env:CRM_DB_URL" in said or "risk:***@" in said


# -- Database types: timestamps, money, and types no column can take -----------------------

SHANGHAI = "options=-c%20TimeZone%3DAsia/Shanghai"  # the session's clock, in the URL


def test_postgres_timestamps_and_money_clean_as_the_csv_export(
    postgres: dict[str, str], export_200: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As CRMs store them: a transaction's date as a timestamp with a time of day, its due
    # date as a timestamptz (01:30 in Shanghai: the evening before in UTC), the amount as
    # money (whose text is '$1,234.56')
    with psycopg.connect(postgres["url"].replace("+psycopg", "")) as connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS transactions_stamped AS SELECT txn_id, customer_id, "
            "txn_date + time '14:25:31' AS txn_date, amount::money AS amount, txn_type, "
            "channel, (due_date + time '01:30') AT TIME ZONE 'Asia/Shanghai' AS due_date, "
            "paid_date::timestamp(0) AS paid_date FROM transactions"
        )
        kinds = connection.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE "
            "attrelid = 'transactions_stamped'::regclass AND attname IN "
            "('txn_date', 'amount', 'due_date') ORDER BY attname"
        ).fetchall()
    assert kinds == [
        ("amount", "money"),
        ("due_date", "timestamp with time zone"),
        ("txn_date", "timestamp without time zone"),
    ]
    monkeypatch.setenv("CRM_DB_URL", f"{postgres['url']}?{SHANGHAI}")
    config = query_sources(
        tmp_path, {**ALL_TABLES, "transactions": "SELECT * FROM transactions_stamped"}
    )
    from_db = load_workspace(tmp_path, config=config)
    from_csv = load_workspace(export_200, config=PACKAGED_SOURCES)
    pd.testing.assert_frame_equal(from_db.frames["transactions"], from_csv.frames["transactions"])
    assert from_db.report.rows_rejected == from_csv.report.rows_rejected == 0


def test_a_timestamptz_is_taken_on_the_clock_of_the_database_session(
    postgres: dict[str, str],
) -> None:
    query = "SELECT '2026-10-03 01:30:00+08'::timestamptz AS due_date"
    days = {}
    for zone, url in (("UTC", postgres["url"]), ("Shanghai", f"{postgres['url']}?{SHANGHAI}")):
        raw = read_query(query, url, source="transactions", date_columns=["due_date"])
        days[zone] = raw.table.to_pandas()["due_date"].dt.strftime("%Y-%m-%d").tolist()
    # the day psql shows and `due_date::date` gives in that session
    assert days == {"UTC": ["2026-10-02"], "Shanghai": ["2026-10-03"]}


def test_negative_and_large_money_amounts_arrive_as_their_numbers(
    postgres: dict[str, str],
) -> None:
    raw = read_query(
        "SELECT v::money AS amount FROM (VALUES (-1234.5), (0), (92233720368547758.07), "
        "(NULL)) AS t(v)",
        postgres["url"],
        source="transactions",
    )
    assert raw.table.column("amount").to_pylist() == ["-1234.5", "0", "92233720368547758.07", None]


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("interval '2 days'", "durations (interval)"),
        ("'\\x3132'::bytea", "binary data (bytea)"),
        ("'{\"amount\": 12}'::json", "JSON or array values"),
        ("time '12:30'", "times of day without a date (time)"),
    ],
)
def test_a_database_type_a_number_column_cannot_take_is_a_clear_error(
    postgres: dict[str, str], value: str, said: str
) -> None:
    with pytest.raises(DataError) as caught:
        read_query(
            f"SELECT 'T1' AS txn_id, {value} AS amount",
            postgres["url"],
            source="transactions",
            typed={"amount": pa.float64()},
        )
    message = str(caught.value)
    assert f"query:transactions: column amount (float) holds {said}, first in row 1" in message
    assert "cast it in the query" in message


def test_a_date_column_cannot_take_a_duration(postgres: dict[str, str]) -> None:
    with pytest.raises(DataError, match=r"column due_date \(date\) holds durations \(interval\)"):
        read_query(
            "SELECT interval '3 days' AS due_date",
            postgres["url"],
            source="transactions",
            date_columns=["due_date"],
        )


def test_sqlite_datetime_text_is_taken_as_its_day(
    export_200: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite has no date type: DATETIME columns hold text such as CURRENT_TIMESTAMP's
    # '2026-10-03 14:25:00' (or with a 'T', fractions of a second, an offset)
    database = tmp_path / "crm.db"
    frame = pd.read_csv(export_200 / "transactions.csv", dtype=str, keep_default_na=False)
    stamps = [" 14:25:00", "T08:00:00.250", " 23:59:59+08:00", " 00:00:00Z", ""]
    frame["txn_date"] = [
        f"{day}{stamps[i % len(stamps)]}" for i, day in enumerate(frame["txn_date"])
    ]
    with contextlib.closing(sqlite3.connect(database)) as connection:
        connection.execute(
            "CREATE TABLE transactions (txn_id TEXT, customer_id TEXT, txn_date DATETIME, "
            "amount REAL, txn_type TEXT, channel TEXT, due_date DATE, paid_date DATE)"
        )
        connection.executemany(
            "INSERT INTO transactions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [[v if v != "" else None for v in row] for row in frame.itertuples(index=False)],
        )
        connection.commit()
    monkeypatch.setenv("CRM_DB_URL", f"sqlite:///{database}")
    config = query_sources(tmp_path, {"transactions": ALL_TABLES["transactions"]})
    shutil.copy(export_200 / "credit.csv", tmp_path / "credit.csv")
    from_db = load_workspace(tmp_path, config=config, sources=["transactions"])
    from_csv = load_workspace(export_200, config=PACKAGED_SOURCES, sources=["transactions"])
    pd.testing.assert_frame_equal(from_db.frames["transactions"], from_csv.frames["transactions"])
    assert from_db.report.rows_rejected == 0


def test_a_sqlite_database_file_that_does_not_exist_is_an_error_and_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner
) -> None:
    missing = tmp_path / "nowhere" / "crm.db"
    (tmp_path / "nowhere").mkdir()
    monkeypatch.setenv("CRM_DB_URL", f"sqlite:///{missing}")
    config = query_sources(tmp_path, {"credit": "SELECT * FROM credit"})
    result = runner.invoke(app, ["validate", str(tmp_path), "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert f"the SQLite database file {missing} does not exist" in result.output
    assert "no such table" not in result.output
    assert not missing.exists()


def test_training_data_read_by_queries_has_no_file_to_hash(
    export_200: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """custrisk train from a database used to fail at its very end, hashing its training
    files for the model card: 'query:credit: No such file or directory'."""
    from custrisk.scoring.features import input_files_sha256

    monkeypatch.setenv("CRM_DB_URL", f"sqlite:///{sqlite_crm(export_200, tmp_path)}")
    queries = {"credit": "SELECT * FROM credit"}
    workspace = load_workspace(export_200, config=query_sources(tmp_path, queries))
    hashes = input_files_sha256(workspace, export_200, export_200 / "labels.csv")
    assert set(hashes) == {"transactions.csv", "behaviour.csv", "labels:labels.csv"}


def test_a_query_that_returns_no_rows_says_so_and_what_to_check(
    export_200: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_DB_URL", f"sqlite:///{sqlite_crm(export_200, tmp_path)}")
    queries = {**ALL_TABLES, "transactions": "SELECT * FROM transactions WHERE 0"}
    with pytest.raises(DataError) as caught:
        load_workspace(tmp_path, config=query_sources(tmp_path, queries))
    assert str(caught.value).startswith("query:transactions: the query returned no rows")
    assert "sources.transactions.query" in str(caught.value) and "export" not in str(caught.value)
    # a query bound to a month no rows are loaded for names that month (it named none)
    from custrisk.io.sql import query_period

    queries["transactions"] = "SELECT * FROM transactions WHERE txn_date >= :period_start"
    with pytest.raises(DataError) as caught, query_period("2099-12"):
        load_workspace(tmp_path, config=query_sources(tmp_path, queries))
    said = "query:transactions: the query returned no rows for the month 2099-12"
    assert str(caught.value).startswith(said), caught.value


@pytest.mark.parametrize("password", [f"{PASSWORD}@x/y", f"x@{PASSWORD}", f"{PASSWORD}@db:5432"])
def test_a_password_with_an_unencoded_at_is_refused_without_showing_it(
    password: str,
) -> None:
    """The URL parser ends the password at its first '@' and took the rest for the host:
    'failed to resolve host x', naming a piece of the password."""
    url = f"postgresql+psycopg://risk:{password}@127.0.0.1:{free_port()}/crm"
    with pytest.raises(DataError, match=r"risk:\*\*\*@127\.0\.0\.1.*percent-encode") as caught:
        read_query("SELECT 1 AS a", "env:DB", source="credit", environ={"DB": url})
    assert PASSWORD not in str(caught.value) and "x/y" not in str(caught.value)


def test_a_row_too_long_is_rejected_as_a_csv_line_would_be_and_its_customer_named(
    export_200: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 200 MB name in a database row used to be read whole, into every output; a CSV
    line that long is a rejected row (oversized_line)."""
    database = sqlite_crm(export_200, tmp_path)
    with contextlib.closing(sqlite3.connect(database)) as connection:
        first = connection.execute("SELECT min(customer_id) FROM credit").fetchone()[0]
        connection.execute("UPDATE credit SET name = ? WHERE customer_id = ?", ("张" * 300, first))
        connection.commit()
    raw = read_query(
        "SELECT * FROM credit ORDER BY customer_id",
        f"sqlite:///{database}",
        source="credit",
        max_row_chars=250,
    )
    assert raw.num_rows == 199 and raw.lines.tolist() == list(range(2, 201))
    (bad,) = raw.bad_rows
    assert (
        bad.line == 1
        and bad.rule == "oversized_line"
        and "over the limit of 250" in (bad.message or "")
    )
    monkeypatch.setenv("CRM_DB_URL", f"sqlite:///{database}")
    monkeypatch.setattr("custrisk.io.sql.MAX_LINE_BYTES", 250)
    queries = {name: f"SELECT * FROM {name} ORDER BY 1" for name in SOURCES}
    workspace = load_workspace(tmp_path, config=query_sources(tmp_path, queries))
    issues = workspace.rejects
    assert first not in set(workspace.frames["credit"]["customer_id"])
    linked = issues[(issues["source"] != "credit") & (issues["value"] == first)]
    assert not linked.empty and set(linked["rule"]) == {"customer_rejected"}  # no orphans


def test_a_postgres_scheme_is_told_to_be_postgresql_psycopg() -> None:
    url = f"postgres://risk:{PASSWORD}@127.0.0.1:5432/crm"
    with pytest.raises(DataError, match=r"write postgresql\+psycopg:// instead of postgres://"):
        read_query("SELECT 1 AS a", "env:DB", source="credit", environ={"DB": url})


def test_ids_a_query_reads_as_numbers_are_told_apart_from_an_excel_cell(
    export_200: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_DB_URL", f"sqlite:///{sqlite_crm(export_200, tmp_path)}")
    columns = ", ".join(c for c, _ in table_columns("behaviour") if c != "customer_id")
    queries = {
        **ALL_TABLES,
        "behaviour": f"SELECT CAST(customer_id AS INTEGER) AS customer_id, {columns} FROM behaviour",
    }
    with pytest.raises(DataError) as caught:
        load_workspace(tmp_path, config=query_sources(tmp_path, queries))
    assert "the ids of this query lost their leading zeros" in str(caught.value)
    assert "a number column of a database" in str(caught.value) and "zero_pad" in str(caught.value)


def test_infinite_dates_and_numbers_are_bad_values_of_their_row_not_a_failed_query(
    postgres: dict[str, str],
) -> None:
    """'infinity' dates (an open end, valid_to) failed the whole query in psycopg
    ('date too large'); a numeric 'Infinity' was an internal error (exit 3)."""
    raw = read_query(
        "SELECT d::date AS due_date, d::timestamptz AS txn_date, n::numeric AS amount "
        "FROM (VALUES ('infinity', 'Infinity'), ('-infinity', 'NaN'), "
        "('2026-10-03', '12.50')) AS v(d, n)",
        postgres["url"],
        source="transactions",
        typed={"amount": pa.float64()},
        date_columns=["due_date", "txn_date"],
    )
    table = raw.table.to_pydict()
    assert [str(v) for v in table["amount"]] == ["Infinity", "NaN", "12.5"]
    for column in ("due_date", "txn_date"):
        assert [str(v)[:10] for v in table[column]] == ["infinity", "-infinity", "2026-10-03"]


def test_a_colon_in_the_query_is_sql_not_a_bind_parameter(tmp_path: Path) -> None:
    """' :x' in a literal used to fail: 'A value is required for bind parameter x'."""
    database = tmp_path / "c.db"
    sqlite3.connect(database).close()
    raw = read_query(
        "SELECT ' :x' AS note, 'a:b' AS other, '10:30' AS at, '10 :30:00' AS late",
        f"sqlite:///{database}",
        source="credit",
    )
    assert raw.table.to_pydict() == {
        "note": [" :x"],
        "other": ["a:b"],
        "at": ["10:30"],
        "late": ["10 :30:00"],  # (was '10 \\:30:00': escaped where text() binds nothing)
    }


@pytest.mark.parametrize(
    ("query", "names", "bound"),
    [
        ("SELECT ' :x', \"a:b\", x::date -- :c", [], "SELECT ' \\:x', \"a:b\", x::date -- \\:c"),
        ("SELECT $q$ :x $q$, E'\\' :y', /* :z */ a[lo:hi]", [], None),
        # PostgreSQL nests block comments; an array slice or a name text() binds (:1)
        ("/* a /* b */ :x */ SELECT :period /* :y */", ["period"], None),
        ("SELECT a[1 :2], :1 FROM t", [], "SELECT a[1 \\:2], \\:1 FROM t"),
        (
            "SELECT 1 WHERE m = :period AND d >= :period_start::date AND d <= :period_end",
            ["period", "period_start", "period_end"],
            "SELECT 1 WHERE m = :period AND d >= :period_start ::date AND d <= :period_end",
        ),
    ],
)
def test_query_parameters_are_told_from_colons_in_literals_and_comments(
    query: str, names: list[str], bound: str | None
) -> None:
    from custrisk.config.locations import bindable_query, query_parameters

    assert query_parameters(query) == names
    if bound is not None:
        assert bindable_query(query) == bound


_SQL_BITS = st.sampled_from(
    [
        " ",
        ":",
        "::",
        ":period",
        ":x",
        ":1",
        "'",
        "''",
        '"',
        "E'",
        "\\'",
        "$$",
        "$t$",
        "--",
        "\n",
        "/*",
        "*/",
        "a",
        "[",
        "1",
        "%",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_SQL_BITS, max_size=14).map("".join))
def test_the_parameters_text_binds_are_the_ones_custrisk_names(query: str) -> None:
    """text() bound what the scanner did not name (':x' after a nested comment's inner
    end, 'a[1 :2]'): 'A value is required for bind parameter', or a wrong bind."""
    import sqlalchemy

    from custrisk.config.locations import bindable_query, query_parameters

    statement = sqlalchemy.text(bindable_query(query))
    assert set(statement._bindparams) == set(query_parameters(query))
    if "\\:" not in query:  # (a backslash before a colon in code: text()'s own escape)
        assert str(statement).replace(" ", "") == query.replace(" ", "")


def test_a_query_is_given_the_month_as_bound_parameters(
    postgres: dict[str, str], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A monthly job needed a view of 'the current month' or a config edited each month."""
    from custrisk.errors import UsageError
    from custrisk.io.sql import query_period

    query = (
        "SELECT :period AS customer_id, :period_start::text AS a, "
        "CAST(:period_end AS text) AS b, :as_of - :period_start AS days, '10:30' AS at"
    )
    caplog.set_level(logging.INFO, logger="custrisk.io.sql")
    monkeypatch.setattr(logging.getLogger("custrisk"), "propagate", True)
    with query_period("2026-02"):
        raw = read_query(query, postgres["url"], source="credit")
    assert "(its parameters bound to the month 2026-02)" in caplog.text
    assert raw.table.to_pylist() == [
        {
            "customer_id": "2026-02",
            "a": "2026-02-01",
            "b": "2026-02-28",
            "days": "27",
            "at": "10:30",
        }
    ]
    with pytest.raises(UsageError, match=r"names :period, the month of the run.*--period YYYY-MM"):
        read_query(query, postgres["url"], source="credit")


def test_cli_binds_period_and_refuses_a_query_naming_one_without_it(
    postgres: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner
) -> None:
    monkeypatch.setenv("CRM_DB_URL", postgres["url"])
    queries = dict(
        ALL_TABLES, credit="SELECT * FROM credit WHERE :period_start < DATE '2999-01-01'"
    )
    config = query_sources(tmp_path, queries)
    out = tmp_path / "validation"
    command = ["validate", str(tmp_path), "--config", str(config), "--out", str(out)]
    result = runner.invoke(app, command)
    assert result.exit_code == 2, result.output
    (line,) = [line for line in result.output.splitlines() if line.strip()]
    assert "query:credit" in line and ":period_start" in line and "--period" in line
    result = runner.invoke(app, [*command, "--period", "2026-13"])
    assert result.exit_code == 2 and "'2026-13' is not a month" in result.output
    result = runner.invoke(app, [*command, "--period", "2026-10"])
    assert "Wrote" in result.output, result.output


@pytest.mark.parametrize(
    "command", ["validate", "score", "indicators", "train", "evaluate", "drift", "compare"]
)
def test_every_command_reading_sources_takes_the_month_of_the_queries(runner, command) -> None:
    """The error of a query naming :period says 'give --period': each of them takes it."""
    result = runner.invoke(app, [command, "--help"])
    assert "--period" in result.output and ":period_start" in result.output


def test_train_says_the_score_command_with_its_period(capsys: pytest.CaptureFixture[str]) -> None:
    """The 'Next:' line of train left --period out: scoring as told stopped on the queries."""
    from custrisk.cli.train import _print_next

    _print_next(Path("."), "pg@1", sources="s.yaml", models_dir=None, period="2026-10")
    assert "--model pg@1 --period 2026-10 --out scores.csv" in capsys.readouterr().out


def test_a_database_host_that_does_not_answer_stops_at_the_connect_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A blackholed host used to hold the batch for psycopg's 130 s (or the TCP default)."""
    import socket

    import custrisk.io.sql_snapshot as snapshot

    with contextlib.ExitStack() as stack:
        server = stack.enter_context(socket.socket())
        server.bind(("127.0.0.1", 0))
        server.listen(0)  # never accepted: once its queue is full, connections hang
        port = server.getsockname()[1]
        for _ in range(3):
            filler = stack.enter_context(socket.socket())
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        monkeypatch.setattr(snapshot, "DEFAULT_CONNECT_TIMEOUT", 2)  # (psycopg's least)
        url = f"postgresql+psycopg://custrisk:{PASSWORD}@127.0.0.1:{port}/crm"
        with pytest.raises(DataError) as caught:
            read_query("SELECT 1 AS a", url, source="credit")
    message = str(caught.value)
    assert f"server at 127.0.0.1:{port} did not answer within 2 s" in message
    assert "connect_timeout" in message and PASSWORD not in message


# -- Timeouts: a query waiting on a lock ---------------------------------------------------


@contextlib.contextmanager
def _locked(url: str, table: str):
    """``table`` locked ACCESS EXCLUSIVE by a second session (a nightly reload) until the
    block ends. After 20 s the sessions waiting on it are cancelled: a query with no
    timeout fails the test rather than hanging it."""
    plain = url.replace("+psycopg", "")

    def cancel_waiting() -> None:
        with psycopg.connect(plain, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_cancel_backend(pid) FROM pg_locks WHERE NOT granted AND "
                "relation = %s::regclass",
                (table,),
            )

    with psycopg.connect(plain) as other:
        other.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        guard = threading.Timer(20, cancel_waiting)
        guard.start()
        try:
            yield
        finally:
            guard.cancel()
            other.rollback()


def test_a_query_waiting_on_a_lock_stops_at_its_timeout_naming_the_source_and_the_fix(
    postgres: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner
) -> None:
    """A query behind a reload's lock used to hang custrisk score and run forever."""
    monkeypatch.setenv("CRM_DB_URL", postgres["url"])
    config = query_sources(tmp_path, ALL_TABLES)
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "defaults:\n", "defaults:\n  query_timeout: 200ms\n"
        ),
        encoding="utf-8",
    )
    with _locked(postgres["url"], "transactions"):
        result = runner.invoke(app, ["validate", str(tmp_path), "--config", str(config)])
    assert result.exit_code == 2, result.output
    (line,) = [line for line in result.output.splitlines() if line.strip()]
    assert line.startswith("Error: query:transactions: the query on ")
    assert "cancelled after 200 ms (its query_timeout)" in line
    assert "sources.transactions.query_timeout" in line and "custrisk:***@" in line
    assert PASSWORD not in result.output and "Traceback" not in result.output


def test_the_timeout_is_the_sources_else_the_urls_session_else_ten_minutes(
    postgres: dict[str, str],
) -> None:
    query = "SELECT current_setting('statement_timeout') AS customer_id"

    def timeout(url: str, seconds: float | None = None) -> str:
        raw = read_query(query, url, source="credit", timeout=seconds)
        return str(raw.table.column("customer_id")[0])

    in_url = f"{postgres['url']}?options=-c%20statement_timeout%3D1500"
    assert timeout(postgres["url"]) == "10min"  # the default
    assert timeout(in_url) == "1500ms"  # the URL's options keep working
    assert timeout(in_url, 0.25) == "250ms"  # a source's query_timeout wins
    assert timeout(postgres["url"], 0) == "0"  # 0: none
    # none on purpose in the URL (or ALTER ROLE ... SET): kept, not the default
    assert timeout(f"{postgres['url']}?options=-c%20statement_timeout%3D0") == "0"


def test_a_lock_past_the_urls_statement_timeout_says_to_raise_it_in_the_url(
    postgres: dict[str, str],
) -> None:
    in_url = f"{postgres['url']}?options=-c%20statement_timeout%3D200"
    with _locked(postgres["url"], "credit"), pytest.raises(DataError) as caught:
        read_query("SELECT * FROM credit", in_url, source="credit")
    message = str(caught.value)
    assert "cancelled after 200 ms (the statement_timeout of the database session" in message
    assert "raise statement_timeout in the URL" in message and PASSWORD not in message


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("30", 30.0), ("1.5", 1.5), ("500ms", 0.5), ("45s", 45.0), ("10min", 600.0), ("2h", 7200.0)],
)
def test_query_timeout_is_read_with_its_unit(tmp_path: Path, written: str, seconds: float) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(
        "version: 1\nsources:\n  credit:\n    query: SELECT 1\n    url: sqlite:///c.db\n"
        f"    query_timeout: {written}\n    key: customer_id\n"
        "    columns:\n      customer_id: {type: id}\n",
        encoding="utf-8",
    )
    assert load_sources_config(path).sources["credit"].query_timeout == seconds


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            "defaults:\n  query_timeout: soon\n",
            r"defaults\.query_timeout.*'soon' is not a duration",
        ),
        ("defaults:\n  query_timeout: -1\n", "is not a duration"),
        ("", r"sources\.credit\.query_timeout.*applies to a source read by a query"),
    ],
)
def test_a_bad_query_timeout_is_a_config_error_naming_the_key(
    tmp_path: Path, lines: str, message: str
) -> None:
    credit = (
        "    file: credit.csv\n    query_timeout: 5s\n" if not lines else "    file: credit.csv\n"
    )
    path = tmp_path / "sources.yaml"
    path.write_text(
        f"version: 1\n{lines}sources:\n  credit:\n{credit}    key: customer_id\n"
        "    columns:\n      customer_id: {type: id}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=message):
        load_sources_config(path)


# -- One snapshot: the sources of one database read at one moment -------------------------


def test_a_reload_committed_between_two_sources_reads_is_seen_by_neither(
    postgres: dict[str, str], export_200: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each source used to read in its own connection: a reload committed between two
    reads gave a month of the new load's transactions and the old load's credit."""
    import custrisk.data.workspace as workspace_module

    plain = postgres["url"].replace("+psycopg", "")
    with psycopg.connect(plain, autocommit=True) as admin:
        for name in SOURCES:
            admin.execute(f"DROP TABLE IF EXISTS snap_{name}")
            admin.execute(f"CREATE TABLE snap_{name} AS SELECT * FROM {name}")
    reloads: list[threading.Thread] = []

    def truncate_and_load() -> None:  # a reload by TRUNCATE: waits for the read to end
        with psycopg.connect(plain) as other:
            other.execute("TRUNCATE snap_behaviour")
            other.execute("INSERT INTO snap_behaviour SELECT * FROM behaviour LIMIT 3")

    def reload_after_credit(spec, *args, **kwargs):
        if spec.name == "credit" and not reloads:  # credit read, not the others yet
            with psycopg.connect(plain) as other:  # committed at the end of the block
                other.execute("UPDATE snap_credit SET credit_limit = credit_limit * 2")
                other.execute("DELETE FROM snap_transactions WHERE customer_id < '0000000100'")
            reloads.append(threading.Thread(target=truncate_and_load))
            reloads[0].start()
            with psycopg.connect(plain, autocommit=True) as watch:  # until it waits
                for _ in range(100):
                    if (
                        not reloads[0].is_alive()
                        or watch.execute("SELECT 1 FROM pg_locks WHERE NOT granted").fetchone()
                    ):
                        break
                    threading.Event().wait(0.05)
        return clean_source(spec, *args, **kwargs)

    clean_source = workspace_module.clean_source
    monkeypatch.setattr(workspace_module, "clean_source", reload_after_credit)
    monkeypatch.setenv("CRM_DB_URL", postgres["url"])
    config = query_sources(tmp_path, {name: f"SELECT * FROM snap_{name}" for name in SOURCES})
    try:
        from_db = load_workspace(tmp_path, config=config)
    finally:
        for thread in reloads:
            thread.join(timeout=30)
    from_csv = load_workspace(export_200, config=PACKAGED_SOURCES)
    for name in SOURCES:  # the month as it was when the first source was read
        pd.testing.assert_frame_equal(from_db.frames[name], from_csv.frames[name])
    with psycopg.connect(plain, autocommit=True) as admin:  # and the reload went through
        assert admin.execute("SELECT count(*) FROM snap_behaviour").fetchone() == (3,)
        for name in SOURCES:
            admin.execute(f"DROP TABLE snap_{name}")


def test_a_shared_transaction_ended_by_the_server_while_cleaning_names_the_setting(
    postgres: dict[str, str],
) -> None:
    from custrisk.io.sql import Databases, PlannedQuery

    url = f"{postgres['url']}?options=-c%20idle_in_transaction_session_timeout%3D300"
    queries = {name: f"SELECT * FROM {name}" for name in ("credit", "transactions")}
    with Databases([PlannedQuery(n, url, q) for n, q in queries.items()]) as databases:
        read_query(queries["credit"], url, source="credit", databases=databases)
        threading.Event().wait(0.8)  # the credit table cleaned, the transaction idle
        with pytest.raises(DataError) as caught:
            read_query(queries["transactions"], url, source="transactions", databases=databases)
    message = str(caught.value)
    assert message.startswith("query:transactions: the query failed on ")
    assert "raise idle_in_transaction_session_timeout" in message and PASSWORD not in message


def test_a_reload_locking_a_table_after_it_was_planned_stops_at_the_timeout_too(
    postgres: dict[str, str],
) -> None:
    """The tables are locked before the first query: that LOCK waits on a reload's lock
    taken since the queries were planned, within the same timeout and message."""
    from custrisk.io.sql import Databases, PlannedQuery

    url, query = postgres["url"], "SELECT * FROM behaviour"
    with Databases([PlannedQuery("behaviour", url, query, 0.2)]) as databases:
        databases.open(url, url, Path("query:behaviour"))  # planned: EXPLAIN done
        with _locked(url, "behaviour"), pytest.raises(DataError) as caught:
            read_query(query, url, source="behaviour", timeout=0.2, databases=databases)
    assert "query:behaviour: the query on" in str(caught.value)
    assert "cancelled after 200 ms (its query_timeout)" in str(caught.value)


def test_a_model_trained_on_queries_records_them_and_their_month(
    export_200: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner
) -> None:
    """The card recorded the labels file's hash only: nothing said which month the
    queries of the training data were bound to."""
    monkeypatch.setenv("CRM_DB_URL", f"sqlite:///{sqlite_crm(export_200, tmp_path)}")
    queries = dict(ALL_TABLES, credit="SELECT * FROM credit WHERE :period = '2026-10'")
    config = query_sources(tmp_path, queries)
    models = tmp_path / "models"
    command = ["train", str(tmp_path), "--sources", str(config), "--period", "2026-10"]
    labels = ["--labels", str(export_200 / "labels.csv"), "--models-dir", str(models)]
    result = runner.invoke(app, [*command, *labels, "--name", "q"])
    assert result.exit_code == 0, result.output
    card = json.loads((models / "q" / "1" / "model.json").read_text(encoding="utf-8"))
    queried = card["training"]["queries"]
    assert queried["credit"]["parameters"] == {"period": "2026-10"}
    assert queried["credit"]["url"] == "env:CRM_DB_URL" and len(queried) == len(SOURCES)
