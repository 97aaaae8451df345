"""The database connections of one load of sources (:class:`Databases`): one per URL,
in one transaction whose snapshot every query of that URL shares, with the tables of
the planned queries locked first (PostgreSQL); the SQLAlchemy engine of a URL (connect
timeout, the psycopg loaders of ``money`` and infinite dates, SQLite's own ``BEGIN``),
the queries' timeouts (PostgreSQL's statement timeout; SQLite's busy timeout and a
progress handler that interrupts a statement past its time) and the errors of a query
cancelled at its timeout or a server that does not answer.

Split from :mod:`custrisk.io.sql`, which re-exports the public names.
"""

from __future__ import annotations

import decimal
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from custrisk.config.locations import DEFAULT_QUERY_TIMEOUT, mask_url, shown_duration
from custrisk.errors import DataError
from custrisk.io.sql_params import _month_of, _statement
from custrisk.io.sql_url import (
    _INSTALL_HINT,
    _check_sqlite_file,
    _origin,
    _scrub,
    _shown_resolved,
    resolve_url,
)

#: (the logger of :mod:`custrisk.io.sql`: a database read's lines under one name)
log = logging.getLogger("custrisk.io.sql")

#: Seconds to wait for a PostgreSQL server to answer a connection, unless the URL sets
#: its own ``connect_timeout`` (psycopg's own default is over two minutes)
DEFAULT_CONNECT_TIMEOUT = 30
#: SQLite calls the progress handler (which looks at the clock) every this many
#: instructions of its virtual machine: well under a millisecond of a query's work
_SQLITE_CHECK_EVERY = 10_000
#: SQLite's busy timeout (milliseconds) for ``query_timeout: 0`` (none): its largest
_SQLITE_NO_TIMEOUT_MS = 2**31 - 1
#: SQLite's result codes of a statement that waited out its busy timeout on another
#: connection's lock, and of one its progress handler interrupted
_SQLITE_BUSY, _SQLITE_INTERRUPT = 5, 9


class PlannedQuery(NamedTuple):
    """A source's query, known before any is read (:class:`Databases`)."""

    source: str
    url: str  # env:NAME or a URL, as the config writes it
    query: str
    timeout: float | None = None  # seconds (read_query's ``timeout``)


class Databases:
    """The database connections of one load of sources: one per database URL, kept open
    for every query of that URL, in one transaction (on PostgreSQL ``REPEATABLE READ,
    READ ONLY``; on SQLite a ``BEGIN`` of custrisk's own): those queries see the
    database as it was at the first one's start, so a reload committed between two
    sources' reads is seen by neither. On PostgreSQL the tables of every ``planned``
    query of that URL (found with EXPLAIN) are locked ``ACCESS SHARE`` at the
    transaction's start, before its snapshot: a reload that truncates, drops or swaps
    one of them (which a snapshot would not hide: PostgreSQL shows a table truncated
    since as empty) waits for the transaction's end. (SQLite's read transaction holds
    its snapshot in WAL mode, and in its default journal mode a lock that makes every
    writer wait.) ``close`` (or the end of its ``with`` block) rolls them back and
    closes them."""

    def __init__(
        self, planned: Sequence[PlannedQuery] = (), environ: Mapping[str, str] | None = None
    ) -> None:
        self._open: dict[str, _Opened] = {}
        self._planned, self._environ = list(planned), environ
        for one in self._planned:  # a month missing: said before any source is read
            _month_of(one.query, one.source, Path(f"query:{one.source}"))

    def __enter__(self) -> Databases:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def open(self, resolved: str, url: str, where: Path) -> _Opened:
        """The open connection to ``resolved`` (``url`` as the config names it, for
        messages), connected and its transaction begun on its first use."""
        if resolved not in self._open:
            engine = _engine(resolved, url, where)
            try:
                self._open[resolved] = _Opened.connect(engine, resolved, self._planned_on(resolved))
            except BaseException:
                engine.dispose()
                raise
        return self._open[resolved]

    def _planned_on(self, resolved: str) -> list[PlannedQuery]:
        found = []
        for planned in self._planned:
            try:
                on = resolve_url(planned.url, source=planned.source, environ=self._environ)
            except DataError:  # (said when that source is read)
                continue
            if on == resolved:
                found.append(planned)
        return found

    def discard(self, resolved: str) -> None:
        """Close the connection to ``resolved`` (after a failed query: its transaction
        is aborted); the next query of that URL connects again."""
        opened = self._open.pop(resolved, None)
        if opened is not None:
            opened.close()

    def close(self) -> None:
        for resolved in list(self._open):
            self.discard(resolved)


class _Opened:
    """One connection of :class:`Databases`, its session's own statement timeout (in
    seconds, 0: none; ``None`` when not set for it, or the database is not PostgreSQL)
    and the tables to lock before its first query reads. ``timed``: the queries on it
    are held to their ``query_timeout`` (PostgreSQL; SQLite through its own driver)."""

    def __init__(
        self,
        engine: Any,
        connection: Any,
        session_timeout: float | None = None,
        tables: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.engine, self.connection, self.session_timeout = engine, connection, session_timeout
        self.postgres = engine.dialect.name == "postgresql"
        self.sqlite = _sqlite_driver(engine)
        self.timed = self.postgres or self.sqlite
        self._to_lock = list(tables)
        self._seconds = 0.0  # (SQLite) the running query's timeout, 0: none
        self._deadline: float | None = None  # (SQLite) when the running step is interrupted

    @classmethod
    def connect(cls, engine: Any, resolved: str, planned: Sequence[PlannedQuery]) -> _Opened:
        import sqlalchemy

        connection = engine.connect()
        if engine.dialect.name != "postgresql":
            opened = cls(engine, connection)
            if opened.sqlite:
                raw = connection.connection.dbapi_connection
                raw.set_progress_handler(opened._past_deadline, _SQLITE_CHECK_EVERY)
            return opened
        try:
            session_timeout = _session_timeout(connection)
            tables: set[tuple[str, str]] = set()
            for one in planned:  # each EXPLAINed in a transaction of its own
                seconds, origin = _timeout_of(one.timeout, session_timeout)
                try:
                    with connection.begin():
                        _set_timeout(connection, seconds)
                        explain = "EXPLAIN (VERBOSE, FORMAT JSON) " + one.query
                        where = Path(f"query:{one.source}")
                        plan = connection.execute(_statement(explain, one.source, where)).scalar()
                except sqlalchemy.exc.DBAPIError as exc:
                    if _timed_out(exc.orig):
                        raise _timeout_error(one.source, resolved, where, seconds, origin) from None
                    continue  # the query's own error is said when it runs
                tables.update(_relations(plan))
            connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        except BaseException:
            connection.close()
            raise
        return cls(engine, connection, session_timeout, sorted(tables))

    def start(self, timeout: float | None) -> None:
        """Set the statement timeout of the next query (``timeout`` seconds, else the
        session's, else ``DEFAULT_QUERY_TIMEOUT``: :func:`_timeout_of`), and on the
        first query lock the tables. On SQLite: as long a busy timeout (waiting on
        another connection's lock) and a deadline for the statement's own work."""
        if self.sqlite:
            self._seconds = _timeout_of(timeout, None)[0]
            waits = _SQLITE_NO_TIMEOUT_MS if self._seconds <= 0 else round(self._seconds * 1000)
            self.connection.exec_driver_sql(f"PRAGMA busy_timeout = {max(1, waits)}")
            self.lap()
            return
        if not self.postgres:
            return
        _set_timeout(self.connection, _timeout_of(timeout, self.session_timeout)[0])
        tables, self._to_lock = self._to_lock, []
        for schema, name in tables:  # (LOCK takes no snapshot: the first query does)
            savepoint = self.connection.begin_nested()
            try:
                self.connection.exec_driver_sql(
                    f"LOCK TABLE {_quoted(schema)}.{_quoted(name)} IN ACCESS SHARE MODE"
                )
            except Exception as exc:
                savepoint.rollback()
                if _timed_out(getattr(exc, "orig", None)):
                    raise
                # no right to lock a table behind a view: read it unlocked
                log.debug("not locked: %s.%s: %s", schema, name, type(exc).__name__)
            else:
                savepoint.commit()

    def lap(self) -> None:
        """(SQLite) Start the clock of the next fetch: each chunk of a long result is
        read within the timeout, as each statement of PostgreSQL's server-side cursor."""
        self._deadline = time.monotonic() + self._seconds if self._seconds > 0 else None

    def stop(self) -> None:
        """(SQLite) The query is read: nothing runs against the clock until the next."""
        self._deadline = None

    def _past_deadline(self) -> int:
        """SQLite's progress handler: non-zero interrupts the running statement."""
        return int(self._deadline is not None and time.monotonic() > self._deadline)

    def close(self) -> None:
        self.stop()
        try:
            self.connection.close()  # (rolls its transaction back)
        except Exception as exc:  # a connection the server dropped: nothing to roll back
            log.debug("closing a database connection: %s", type(exc).__name__)
        finally:
            self.engine.dispose()


def _engine(resolved: str, url: str, where: Path) -> Any:
    """The SQLAlchemy engine of a resolved URL (one connection, no pool).

    Raises
    ------
    DataError
        A URL SQLAlchemy cannot read, a driver missing, a SQLite file that is not there.
    """
    import sqlalchemy

    try:
        parsed = sqlalchemy.engine.make_url(resolved)
        waits = parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query
        engine = sqlalchemy.create_engine(
            resolved,
            poolclass=sqlalchemy.pool.NullPool,
            hide_parameters=True,
            connect_args={"connect_timeout": DEFAULT_CONNECT_TIMEOUT} if waits else {},
        )
    except (ImportError, sqlalchemy.exc.ArgumentError, ValueError) as exc:
        shown = _shown_resolved(resolved)
        raise DataError(
            f"cannot use the database URL {shown or '(not shown)'} (from "
            f"{_origin(url)}): "
            + (
                _scrub(str(exc), resolved)
                if shown
                else "it has no '://' (its text is not shown: it may hold a password)"
            ),
            file=str(where),
            hint="write postgresql+psycopg:// instead of postgres:// (libpq's spelling; "
            "SQLAlchemy names PostgreSQL postgresql, and psycopg 3 is its driver)"
            if resolved.split("://", 1)[0].split("+", 1)[0].lower() == "postgres"
            else "write it as dialect+driver://user:password@host:port/database, e.g. "
            f"postgresql+psycopg://...; {_INSTALL_HINT}",
        ) from None
    _check_sqlite_file(engine.url, url, where)
    if _sqlite_driver(engine):
        sqlalchemy.event.listen(engine, "connect", _sqlite_no_implicit_begin)
        sqlalchemy.event.listen(engine, "begin", _sqlite_begin)
    if engine.dialect.driver == "psycopg":
        sqlalchemy.event.listen(engine, "connect", _money_as_numbers)
        sqlalchemy.event.listen(engine, "connect", _infinite_dates_as_text)
    return engine


def _sqlite_driver(engine: Any) -> bool:
    """Whether ``engine`` reads SQLite through Python's own sqlite3 module (whose
    transactions and progress handler custrisk drives)."""
    return bool(engine.dialect.name == "sqlite" and engine.dialect.driver == "pysqlite")


def _sqlite_no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
    """Leave transactions to custrisk's ``BEGIN`` (:func:`_sqlite_begin`): the sqlite3
    module begins one only before a write, so each query read at a moment of its own."""
    dbapi_connection.isolation_level = None


def _sqlite_begin(connection: Any) -> None:
    """Begin SQLite's transaction where SQLAlchemy begins one: the first query's read
    fixes the snapshot the connection's later queries read, until its rollback."""
    connection.exec_driver_sql("BEGIN")


def _sqlite_timed_out(problem: BaseException | None) -> str | None:
    """``locked`` for a SQLite query that waited out its busy timeout on another
    connection's lock, ``interrupted`` for one stopped at its deadline, else None."""
    code = getattr(problem, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return None
    return {_SQLITE_BUSY: "locked", _SQLITE_INTERRUPT: "interrupted"}.get(code & 0xFF)


#: Where a session's statement_timeout is set for it on purpose, even to 0 (none): the
#: URL's options (``client``), ALTER ROLE / ALTER DATABASE ... SET
_SET_FOR_THE_SESSION = ("client", "user", "database", "database user")


def _session_timeout(connection: Any) -> float | None:
    """The session's own statement_timeout in seconds (0: none), or ``None`` when it is
    the server's default of none; in a transaction of its own, ended."""
    row = connection.exec_driver_sql(
        "SELECT setting, source FROM pg_settings WHERE name = 'statement_timeout'"
    ).one_or_none()
    connection.rollback()
    if row is None:
        return None
    milliseconds = int(row[0]) if str(row[0]).isdigit() else 0
    if milliseconds or row[1] in _SET_FOR_THE_SESSION:
        return milliseconds / 1000
    return None


def _timeout_of(timeout: float | None, session: float | None) -> tuple[float, str]:
    """A query's timeout in seconds and where it comes from: ``config``, ``session``
    (the URL's options, the database's or role's settings) or ``default``."""
    if timeout is not None:
        return timeout, "config"
    if session is not None:
        return session, "session"
    return DEFAULT_QUERY_TIMEOUT, "default"


def _set_timeout(connection: Any, seconds: float) -> None:
    milliseconds = 0 if seconds <= 0 else max(1, round(seconds * 1000))
    connection.exec_driver_sql(f"SET LOCAL statement_timeout = {milliseconds}")


def _relations(plan: Any) -> set[tuple[str, str]]:
    """The (schema, table) pairs an EXPLAIN (VERBOSE, FORMAT JSON) plan scans, but the
    system catalogs'."""
    found: set[tuple[str, str]] = set()
    if isinstance(plan, list):
        for item in plan:
            found |= _relations(item)
    elif isinstance(plan, dict):
        schema, name = plan.get("Schema"), plan.get("Relation Name")
        if isinstance(schema, str) and isinstance(name, str):
            if schema not in ("pg_catalog", "information_schema"):
                found.add((schema, name))
        for value in plan.values():
            if isinstance(value, list | dict):
                found |= _relations(value)
    return found


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _timed_out(problem: BaseException | None) -> bool:
    """Whether the database cancelled the query at its statement timeout."""
    return getattr(problem, "sqlstate", None) == "57014" and "statement timeout" in str(problem)


def _timeout_error(
    source: str, resolved: str, where: Path, seconds: float, origin: str
) -> DataError:
    """The error of a query cancelled at its timeout: the source, the timeout, where it
    comes from and how to raise it."""
    said = {
        "config": "its query_timeout",
        "session": "the statement_timeout of the database session: the URL's options or "
        "the database's settings",
        "default": "the default query_timeout",
    }[origin]
    hint = (
        "raise statement_timeout in the URL (options=-c%20statement_timeout%3D30min) or set "
        f"sources.{source}.query_timeout"
        if origin == "session"
        else f"raise sources.{source}.query_timeout (or defaults.query_timeout, for every "
        "query) in the sources config, e.g. query_timeout: 30min (0: none)"
    )
    return DataError(
        f"the query on {mask_url(resolved)} was cancelled after {shown_duration(seconds)} "
        f"({said}): it ran that long, or waited on a lock another session holds on its "
        "tables (a reload?)",
        file=str(where),
        hint=hint + "; or run it again once the lock is released (pg_locks names who holds it)",
    )


def _sqlite_timeout_error(
    source: str, resolved: str, where: Path, seconds: float, origin: str, how: str
) -> DataError:
    """The error of a SQLite query stopped at its timeout (``how``: ``locked``, it
    waited that long on another connection's lock; ``interrupted``, it ran that long),
    naming the database file."""
    import sqlalchemy

    database = sqlalchemy.engine.make_url(resolved).database or ""
    shown = str(Path(database).resolve()) if database and ":" not in database else database
    said = "its query_timeout" if origin == "config" else "the default query_timeout"
    if how == "locked":
        what = (
            f"waited {shown_duration(seconds)} ({said}) on the SQLite file {shown}, which "
            "another connection holds locked while it writes (a reload?)"
        )
        then = (
            "; or run it again once the writer is done (in WAL mode, PRAGMA "
            "journal_mode=WAL, a reader does not wait on a writer)"
        )
    else:
        what = (
            f"on the SQLite file {shown} was cancelled after {shown_duration(seconds)} "
            f"({said}): it ran that long"
        )
        then = ""
    return DataError(
        f"the query {what}",
        file=str(where),
        hint=f"raise sources.{source}.query_timeout (or defaults.query_timeout, for every "
        "query) in the sources config, e.g. query_timeout: 30min (0: none)" + then,
    )


def _no_answer(resolved: str, where: Path) -> DataError:
    """The error of a database server that did not answer within the connect timeout:
    the host and port, the timeout and where to raise it."""
    import sqlalchemy

    parsed = sqlalchemy.engine.make_url(resolved)
    written = parsed.query.get("connect_timeout")
    seconds = written if isinstance(written, str) else str(DEFAULT_CONNECT_TIMEOUT)
    host = parsed.host or "the local socket"
    return DataError(
        f"the database server at {host}{f':{parsed.port}' if parsed.port else ''} did not "
        f"answer within {seconds} s ("
        + ("the URL's connect_timeout" if written is not None else "the default connect_timeout")
        + f"); URL {mask_url(resolved)}",
        file=str(where),
        hint="check the host and port, that the database is up and that a firewall or VPN "
        "lets this machine reach it; a server slow to answer: raise it in the URL "
        "(?connect_timeout=60)",
    )


def _money_as_numbers(dbapi_connection: Any, _record: Any) -> None:
    """Read PostgreSQL ``money`` as a Decimal on a psycopg connection, not as its text in
    the session's monetary locale (``$1,234.56``, ``1.234,56 €``, ``￥1,235``).

    The text of a money value has exactly as many digits after its decimal mark as the
    locale's currency has (``lc_monetary``), which the server says once per connection:
    its digits, and a minus sign or parentheses, are then the whole number."""
    from psycopg.adapt import Loader

    with dbapi_connection.cursor() as cursor:
        cursor.execute("SELECT scale((1::money)::numeric)")
        row = cursor.fetchone()
    dbapi_connection.rollback()
    places = int(row[0]) if row and row[0] is not None else 2

    class MoneyLoader(Loader):
        def load(self, data: Any) -> decimal.Decimal:
            text = bytes(data).decode("utf-8", "replace")
            digits = "".join(c for c in text if "0" <= c <= "9") or "0"
            number = decimal.Decimal(digits).scaleb(-places)
            return -number if "-" in text or "(" in text else number

    dbapi_connection.adapters.register_loader("money", MoneyLoader)


def _infinite_dates_as_text(dbapi_connection: Any, _record: Any) -> None:
    """Read PostgreSQL's ``infinity`` and ``-infinity`` dates and timestamps (an open
    end: ``valid_to = 'infinity'``) as that text, which the cleaner rejects or blanks as
    no date in its row, as in a CSV; psycopg fails the whole query on them."""
    from psycopg.types import datetime as pg_datetime

    def as_text(base: type) -> type:
        class InfiniteAsText(base):
            def load(self, data: Any) -> Any:
                text = bytes(data)
                if text in (b"infinity", b"-infinity"):
                    return text.decode("ascii")
                return super().load(data)

        return InfiniteAsText

    for name, loader in (
        ("date", pg_datetime.DateLoader),
        ("timestamp", pg_datetime.TimestampLoader),
        ("timestamptz", pg_datetime.TimestamptzLoader),
    ):
        dbapi_connection.adapters.register_loader(name, as_text(loader))
