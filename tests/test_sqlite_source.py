"""Sources read from a SQLite file: the queries of one file read at one moment, and each
held to its ``query_timeout`` (a writer's lock waited on, a long query interrupted), as
on PostgreSQL. SQLite used to read each query at a moment of its own and to wait 5 s on
a lock whatever the config said."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from custrisk.cli import app
from custrisk.data import Workspace, load_workspace
from custrisk.errors import DataError
from custrisk.io.sql import read_query
from tests._support import PACKAGED_SOURCES, SQL_SOURCES, query_sources, sqlite_crm

pytest.importorskip("sqlalchemy", reason="the db extra (SQLAlchemy) is not installed")

ALL_TABLES = {name: f"SELECT * FROM {name}" for name in SQL_SOURCES}
#: A query that runs for many seconds (SQLite counting to 20 million; bounded, so that
#: a query no longer interrupted fails the test rather than hangs it)
LONG_QUERY = (
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 20000000) "
    "SELECT x AS customer_id FROM n WHERE x = 0"
)


@pytest.fixture(scope="module")
def crm(export_200: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """export_200 in a SQLite file (rollback journal, SQLite's default); read-only."""
    return sqlite_crm(export_200, tmp_path_factory.mktemp("sqlite"))


@contextlib.contextmanager
def _writing(database: Path) -> Iterator[sqlite3.Connection]:
    """Another connection in a write transaction holding the file's exclusive lock (a
    reload in the middle of its writes), rolled back at the end of the block."""
    writer = sqlite3.connect(database, isolation_level=None)
    try:
        writer.execute("BEGIN EXCLUSIVE")
        yield writer
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_writers_lock_stops_the_read_at_the_query_timeout_in_one_line(
    crm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_DB_URL", f"sqlite:///{crm}")
    config = query_sources(tmp_path, ALL_TABLES)
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("defaults:\n", "defaults:\n  query_timeout: 300ms\n", 1))
    command = ["validate", str(tmp_path), "--config", str(config), "--out", str(tmp_path / "v")]
    with _writing(crm):
        started = time.monotonic()
        result = CliRunner().invoke(app, command)
        waited = time.monotonic() - started
    assert result.exit_code == 2, result.output
    (line,) = [line for line in result.output.splitlines() if line.strip()]
    assert line.startswith(
        f"Error: query:credit: the query waited 300 ms (its query_timeout) on the SQLite "
        f"file {crm}, which another connection holds locked"
    )
    assert "raise sources.credit.query_timeout" in line
    assert waited < 4  # (SQLite's driver waited 5 s whatever the config said)
    assert not (tmp_path / "v").exists()


def test_a_query_running_past_its_timeout_is_interrupted(crm: Path) -> None:
    started = time.monotonic()
    with pytest.raises(DataError) as caught:
        read_query(LONG_QUERY, f"sqlite:///{crm}", source="credit", timeout=0.3)
    assert time.monotonic() - started < 4
    assert str(caught.value).startswith(
        f"query:credit: the query on the SQLite file {crm} was cancelled after 300 ms "
        "(its query_timeout): it ran that long"
    )


def test_a_lock_released_within_the_timeout_is_waited_for(crm: Path) -> None:
    locked = threading.Event()

    def hold() -> None:  # (a connection of its own thread)
        with _writing(crm):
            locked.set()
            time.sleep(0.4)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(5)
        table = read_query("SELECT * FROM credit", f"sqlite:///{crm}", source="credit", timeout=5)
    finally:
        holder.join()
    assert table.table.num_rows == 200


def _load_with_a_reload_after_credit(
    database: Path, folder: Path, monkeypatch: pytest.MonkeyPatch, reload: threading.Thread
) -> Workspace:
    """load_workspace of ``database``'s tables by queries, ``reload`` started once the
    credit table is read and before the other sources are."""
    import custrisk.data.workspace as workspace_module

    clean_source = workspace_module.clean_source

    def reload_after_credit(spec, *args, **kwargs):
        if spec.name == "credit" and reload.ident is None:  # credit read, not the others
            reload.start()
            reload.join(timeout=0.5)  # committed (WAL), or waiting on the read's lock
        return clean_source(spec, *args, **kwargs)

    monkeypatch.setattr(workspace_module, "clean_source", reload_after_credit)
    monkeypatch.setenv("CRM_DB_URL", f"sqlite:///{database}")
    config = query_sources(folder, ALL_TABLES)
    return load_workspace(folder, config=config)


def _reload(database: Path, done: list[str], timeout: float) -> None:
    """A reload of the month: credit limits doubled, a hundred customers' transactions
    gone, the behaviour table emptied; one commit."""
    with contextlib.closing(sqlite3.connect(database, timeout=timeout)) as other:
        other.execute("UPDATE credit SET credit_limit = credit_limit * 2")
        other.execute("DELETE FROM transactions WHERE customer_id < '0000000100'")
        other.execute("DELETE FROM behaviour")
        other.commit()
    done.append("committed")


@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_a_reload_committed_between_two_sources_reads_is_seen_by_neither(
    export_200: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, journal: str
) -> None:
    """Each query used to read at its own moment: a reload committed between the credit
    query and the transactions query gave a month of mixed loads. In WAL mode the reload
    commits meanwhile, unseen; in the default journal mode it waits for the read."""
    database = sqlite_crm(export_200, tmp_path)
    with contextlib.closing(sqlite3.connect(database)) as connection:
        connection.execute(f"PRAGMA journal_mode = {journal}")
    done: list[str] = []
    reload = threading.Thread(target=_reload, args=(database, done, 30))
    try:
        from_db = _load_with_a_reload_after_credit(database, tmp_path, monkeypatch, reload)
    finally:
        reload.join(timeout=30)
    assert done == ["committed"]  # (the reload went through, during the read or after it)
    from_csv = load_workspace(export_200, config=PACKAGED_SOURCES)
    for name in SQL_SOURCES:  # the month as it was when the first query read it
        pd.testing.assert_frame_equal(from_db.frames[name], from_csv.frames[name])
    with contextlib.closing(sqlite3.connect(database)) as connection:
        assert connection.execute("SELECT count(*) FROM behaviour").fetchone() == (0,)
