"""Reading a source from a database: a SQL query, in chunks, as a raw table.

The URL comes from an environment variable (``url: env:CRM_DB_URL`` in the sources
config); a URL with a password is never accepted from a config, and every message and
log line shows the URL with its password as ``***``. The rows are fetched through
SQLAlchemy with a server-side cursor where the driver has one (``stream_results``), a
chunk at a time, and turned into Arrow columns the way workbook cells are
(:mod:`custrisk.io.cells`), so that typing, cleaning and reject rules are those of a
file. A reject names the source (``query:<source>``) and the row of the result set.

Databases type their values, so a date column takes the day of a timestamp (a
``timestamptz`` on the clock of the database session, as ``col::date`` and an export of
the table show it; SQLite's date-time text ``2026-10-03 14:25:00`` likewise), a
PostgreSQL ``money`` value arrives as its number (not its locale's text ``$1,234.56``),
and a value no column of its declared type can hold (an interval, binary data, JSON in a
number column) is an error naming the column, never a column of blanks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import hashlib
import logging
import os
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.config.locations import (
    DEFAULT_QUERY_TIMEOUT,
    ENV_PREFIX,
    bindable_query,
    mask_url,
    period_end,
    query_parameters,
    shown_duration,
    url_password,
)
from custrisk.errors import DataError, UsageError
from custrisk.io.cells import concat_chunks, table_from_columns
from custrisk.io.csv_lines import OVERSIZED_LINE, SHOWN_BYTES
from custrisk.io.csv_reader import BadRow
from custrisk.io.header import match_header
from custrisk.io.readers import MAX_LINE_BYTES, RawTable

log = logging.getLogger(__name__)

#: Rows fetched from the database at a time.
CHUNK_ROWS = 50_000
#: The encoding a query's table reports (the validation report's ``encodings``)
SQL_ENCODING = "sql"
_INSTALL_HINT = "install the database extra: pip install 'custrisk[db]'"
#: Seconds to wait for a PostgreSQL server to answer a connection, unless the URL sets
#: its own ``connect_timeout`` (psycopg's own default is over two minutes)
DEFAULT_CONNECT_TIMEOUT = 30

#: The month (``YYYY-MM``) the queries' parameters (``:period`` ...) are bound to
_PERIOD: ContextVar[str | None] = ContextVar("custrisk_query_period", default=None)


@contextlib.contextmanager
def query_period(period: str | None) -> Iterator[None]:
    """Bind the parameters of the queries read in this block (``:period``,
    ``:period_start``, ``:period_end``, ``:as_of``) to the month ``period``
    (``YYYY-MM``, checked by the caller); ``None``: no month (a query naming one is an
    error)."""
    token = _PERIOD.set(period)
    try:
        yield
    finally:
        _PERIOD.reset(token)


def set_query_period(period: str | None) -> None:
    """:func:`query_period` for the rest of the current context (a command's own)."""
    _PERIOD.set(period)


def _period_values(period: str) -> dict[str, Any]:
    last = period_end(period)
    return {
        "period": period,
        "period_start": last.replace(day=1),
        "period_end": last,
        "as_of": last,
    }


def bound_month(query: str) -> str | None:
    """The month the parameters of ``query`` are bound to (None: it names none)."""
    return _PERIOD.get() if query_parameters(query) else None


def query_facts(sources: Mapping[str, Any], period: str | None = None) -> dict[str, Any]:
    """What the run facts record of each query of ``sources`` (name -> spec): the
    SHA-256 of its text, its URL as shown (``env:NAME``, never a password) and the
    values its parameters are bound to (``period`` or that of :func:`query_period`)."""
    period = period or _PERIOD.get()
    facts: dict[str, Any] = {}
    for name, spec in sources.items():
        if getattr(spec, "query", None) is None:
            continue
        names = query_parameters(spec.query)
        values = _period_values(period) if names and period else {}
        facts[name] = {
            "query_sha256": hashlib.sha256(spec.query.encode("utf-8")).hexdigest(),
            "url": shown_url(spec.url or ""),
            "parameters": {n: str(values[n]) for n in names if n in values},
        }
    return facts


def _month_of(query: str, source: str, where: Path) -> str:
    """The month the parameters of ``query`` are bound to (``""`` when it names none).

    Raises
    ------
    UsageError
        The query names a parameter and no month is given.
    """
    names = query_parameters(query)
    period = _PERIOD.get()
    if names and period is None:
        raise UsageError(
            f"{where}: the query of sources.{source} names :{names[0]}, the month of the "
            "run, and no month is given",
            hint="give --period YYYY-MM (custrisk run passes its own)",
        )
    return (period or "") if names else ""


def _statement(query: str, source: str, where: Path) -> Any:
    """The query as a SQLAlchemy ``text()``, its parameters bound to the month of
    :func:`query_period` (as values, never written into the SQL).

    Raises
    ------
    UsageError
        The query names a parameter and no month is given.
    """
    import sqlalchemy

    statement = sqlalchemy.text(bindable_query(query))
    names = query_parameters(query)
    if not names:
        return statement
    values = _period_values(_month_of(query, source, where))
    return statement.bindparams(
        *(
            sqlalchemy.bindparam(
                name,
                values[name],
                type_=sqlalchemy.String() if name == "period" else sqlalchemy.Date(),
            )
            for name in names
            if name in values  # (an unknown one: refused when the config is read)
        )
    )


def resolve_url(url: str, *, source: str, environ: Mapping[str, str] | None = None) -> str:
    """The database URL of a source: the value of the environment variable of
    ``env:NAME``, or the URL as written (one without a password).

    Raises
    ------
    DataError
        When the variable is not set or empty.
    """
    if not url.startswith(ENV_PREFIX):
        return url
    environ = os.environ if environ is None else environ
    variable = url[len(ENV_PREFIX) :]
    value = environ.get(variable, "").strip()
    if not value:
        raise DataError(
            f"the environment variable {variable} is not set: it holds the database URL of "
            f"the source '{source}'",
            hint=f"export {variable}=postgresql+psycopg://USER:PASSWORD@HOST/DB (or "
            "sqlite:///file.db) before running custrisk",
        )
    return value


def shown_url(url: str) -> str:
    """A URL as messages show it: ``env:NAME`` as written, else with the password masked."""
    return url if url.startswith(ENV_PREFIX) else mask_url(url)


def _origin(url: str) -> str:
    """Where a URL came from, for messages: its variable (``env:NAME``) or the config."""
    return shown_url(url) if url.startswith(ENV_PREFIX) else "the sources config"


def _scrub(text: str, url: str) -> str:
    """An error text with the URL's password (and any URL in it) masked, on one line."""
    password = url_password(url)
    if password:
        text = text.replace(password, "***")
    text = re.sub(r"\b[a-z][a-z0-9+.-]*://\S+", lambda m: mask_url(m.group(0)), text)
    text = text.split("\n[SQL:")[0].split("(Background on this error")[0]
    # PostgreSQL's excerpt of the statement it ran (LINE 1: ... and a caret under it): the
    # query wrapped in the server-side cursor's DECLARE, which the user never wrote
    text = re.sub(r"\nLINE \d+: [^\n]*(\n *\^)?", "", text)
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:299] + "…"


def _shown_resolved(url: str) -> str | None:
    """A resolved URL as a message may show it (password masked), or ``None`` when it
    has no ``://``: a mistyped URL, whose password cannot be told apart to mask."""
    return mask_url(url) if "://" in url else None


def read_query(
    query: str,
    url: str,
    *,
    source: str,
    columns: Mapping[str, str] | None = None,
    typed: Mapping[str, pa.DataType] | None = None,
    date_columns: Collection[str] = (),
    chunk_rows: int = CHUNK_ROWS,
    environ: Mapping[str, str] | None = None,
    max_row_chars: int | None = None,
    timeout: float | None = None,
    databases: Databases | None = None,
) -> RawTable:
    """Run ``query`` against the database at ``url`` and read its rows as a raw table.

    Parameters
    ----------
    url
        ``env:NAME`` (the URL is the value of that environment variable) or a URL.
    source
        The source's name, for messages and rejects (``query:<source>``).
    columns, typed, date_columns
        As for :func:`custrisk.io.readers.read_raw`: the result's column names play the
        part of a file's header.
    max_row_chars
        A row whose columns read hold more characters than this together (default
        ``MAX_LINE_BYTES``) is a rejected row (``oversized_line``), as a CSV line that
        long is.
    timeout
        Seconds the query may run, or wait on a lock, before PostgreSQL cancels it (0:
        no limit); ``None``: the session's ``statement_timeout`` (the URL's
        ``options=-c statement_timeout=...``), else ``DEFAULT_QUERY_TIMEOUT``.
    databases
        The connections shared by the sources of one load (:class:`Databases`): the
        queries of one URL read in one transaction. Default: a connection of its own.

    Raises
    ------
    DataError
        SQLAlchemy or the driver missing, the variable unset, the database unreachable,
        the query failing or cancelled at its timeout; never with the password in the
        message.
    """
    try:
        import sqlalchemy
    except ImportError:  # the optional db extra
        raise DataError(
            f"the source '{source}' is a database query, which needs SQLAlchemy",
            hint=_INSTALL_HINT,
        ) from None
    resolved = resolve_url(url, source=source, environ=environ)
    where = Path(f"query:{source}")
    month = _month_of(query, source, where)
    _check_password_encoded(resolved, url, where)
    shared = databases is not None
    databases = databases if databases is not None else Databases()
    log.info(
        "source %s: running its query on %s%s",
        source,
        mask_url(resolved),
        f" (its parameters bound to the month {month})" if month else "",
    )
    kinds = _declared_kinds(typed or {}, date_columns)
    limit = MAX_LINE_BYTES if max_row_chars is None else max_row_chars
    chunks: list[pa.Table] = []
    kept_rows: list[np.ndarray] = []
    oversized: list[BadRow] = []
    rows = 0
    waited: tuple[float, str] = (0.0, "")
    try:
        opened = databases.open(resolved, url, where)
        if opened.postgres:  # (known before start, whose LOCK may wait too)
            waited = _timeout_of(timeout, opened.session_timeout)
        opened.start(timeout)
        result = opened.connection.execute(
            _statement(query, source, where),
            execution_options={"stream_results": True, "yield_per": chunk_rows},
        )
        with result:
            names = [str(name) for name in result.keys()]
            chosen, folded = _chosen(names, columns, where)
            wanted = [i for i, name in enumerate(names) if name in chosen]
            types = typed or {}
            for part in result.partitions(chunk_rows):
                values = {
                    chosen[names[i]]: _cells(
                        [row[i] for row in part], chosen[names[i]], kinds, rows, where
                    )
                    for i in wanted
                }
                chunk = table_from_columns(
                    values,
                    {n: types[n] for n in values if n in types},
                    [n for n in values if n in date_columns],
                )
                numbers = np.arange(rows + 1, rows + len(part) + 1, dtype=np.int64)
                chunk, numbers = _without_oversized(chunk, numbers, part, names, limit, oversized)
                chunks.append(chunk)
                kept_rows.append(numbers)
                rows += len(part)
    except sqlalchemy.exc.SQLAlchemyError as exc:
        databases.discard(resolved)  # its transaction is aborted
        problem = exc.orig if isinstance(exc, sqlalchemy.exc.DBAPIError) else exc
        if _timed_out(problem):
            raise _timeout_error(source, resolved, where, *waited) from None
        connecting = isinstance(exc, sqlalchemy.exc.OperationalError) and not chunks
        if connecting and "timeout expired" in str(problem):
            raise _no_answer(resolved, where) from None
        raise DataError(
            ("cannot connect to or query " if connecting else "the query failed on ")
            + f"{mask_url(resolved)}: {_scrub(str(problem), resolved)}",
            file=str(where),
            hint="the database ended the transaction the sources of this URL share while "
            "an earlier source was cleaned: raise idle_in_transaction_session_timeout for "
            "custrisk's database role (ALTER ROLE ... SET idle_in_transaction_session_timeout "
            "= '1h')"
            if getattr(problem, "sqlstate", None) == "25P03"
            else "check the database URL, that the database is running, and the query "
            f"under sources.{source}.query",
        ) from None
    except BaseException:
        databases.discard(resolved)
        raise
    finally:
        if not shared:
            databases.close()
    if chunks:
        table = concat_chunks(chunks)
    else:
        table = table_from_columns({chosen[names[i]]: [] for i in wanted}, {}, ())
    log.info("source %s: %d rows from the query", source, rows)
    return RawTable(
        where,
        table,
        np.concatenate(kept_rows) if kept_rows else np.zeros(0, dtype=np.int64),
        names,
        SQL_ENCODING,
        bad_rows=oversized,
        unmatched=[n for n in names if n not in chosen],
        folded=folded,
    )


class PlannedQuery(NamedTuple):
    """A source's query, known before any is read (:class:`Databases`)."""

    source: str
    url: str  # env:NAME or a URL, as the config writes it
    query: str
    timeout: float | None = None  # seconds (read_query's ``timeout``)


class Databases:
    """The database connections of one load of sources: one per database URL, kept open
    for every query of that URL, in one transaction (on PostgreSQL ``REPEATABLE READ,
    READ ONLY``): those queries see the database as it was at the first one's start, so
    a reload committed between two sources' reads is seen by neither. The tables of
    every ``planned`` query of that URL (found with EXPLAIN) are locked ``ACCESS SHARE``
    at the transaction's start, before its snapshot: a reload that truncates, drops or
    swaps one of them (which a snapshot would not hide: PostgreSQL shows a table
    truncated since as empty) waits for the transaction's end. ``close`` (or the end
    of its ``with`` block) rolls them back and closes them."""

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
    and the tables to lock before its first query reads."""

    def __init__(
        self,
        engine: Any,
        connection: Any,
        session_timeout: float | None = None,
        tables: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.engine, self.connection, self.session_timeout = engine, connection, session_timeout
        self.postgres = engine.dialect.name == "postgresql"
        self._to_lock = list(tables)

    @classmethod
    def connect(cls, engine: Any, resolved: str, planned: Sequence[PlannedQuery]) -> _Opened:
        import sqlalchemy

        connection = engine.connect()
        if engine.dialect.name != "postgresql":
            return cls(engine, connection)
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
        first query lock the tables."""
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

    def close(self) -> None:
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
    if engine.dialect.driver == "psycopg":
        sqlalchemy.event.listen(engine, "connect", _money_as_numbers)
        sqlalchemy.event.listen(engine, "connect", _infinite_dates_as_text)
    return engine


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


def _without_oversized(
    chunk: pa.Table,
    numbers: np.ndarray,
    part: Sequence[Any],
    names: list[str],
    limit: int,
    oversized: list[BadRow],
) -> tuple[pa.Table, np.ndarray]:
    """The chunk without its rows whose text columns hold more than ``limit``
    characters together, each added to ``oversized`` as a rejected row naming its size
    (its cells cut short, for the key that makes the customer's other rows
    ``customer_rejected``)."""
    sizes = np.zeros(chunk.num_rows, dtype=np.int64)
    for column in chunk.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            lengths = pc.fill_null(pc.utf8_length(column), 0)
            sizes += np.asarray(lengths.to_numpy(zero_copy_only=False), dtype=np.int64)
    over = np.flatnonzero(sizes > limit)
    if not over.size:
        return chunk, numbers
    for i in over.tolist():
        cells = tuple(None if v is None else str(v)[:SHOWN_BYTES] for v in part[i])
        text = ",".join("" if c is None else c for c in cells)[:SHOWN_BYTES]
        oversized.append(
            BadRow(
                int(numbers[i]),
                len(names),
                len(names),
                text,
                rule=OVERSIZED_LINE,
                message=f"the row holds {int(sizes[i]):,} characters, over the limit of {limit:,}",
                cells=cells,
            )
        )
    keep = np.ones(chunk.num_rows, dtype=bool)
    keep[over] = False
    return chunk.filter(pa.array(keep)), numbers[keep]


def _chosen(
    names: list[str], columns: Mapping[str, str] | None, where: Path
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise DataError(
            f"the query returns the column(s) {', '.join(duplicated)} more than once",
            file=str(where),
            hint="give each column of the SELECT a distinct name (AS ...)",
        )
    if columns is None:
        return {n: n for n in names}, []
    return match_header(names, columns, where)


def _check_password_encoded(resolved: str, url: str, where: Path) -> None:
    """A password with an ``@`` as is: an error. The URL parser ends the password at its
    first ``@`` and takes the rest for the host and port (the driver then names a piece
    of the password as a host it cannot find, or as a port that is no number)."""
    written = url_password(resolved)
    if written is None or "@" not in written:
        return
    raise DataError(
        f"the password in the database URL {mask_url(resolved)} (from {_origin(url)}) "
        "holds an '@' as is: the URL is read with the host after its first '@'",
        file=str(where),
        hint="percent-encode it in the URL: @ as %40, / as %2F, ? as %3F, # as %23, % as %25 "
        "(python3 -c 'import urllib.parse,getpass; print(urllib.parse.quote(getpass.getpass(), "
        'safe=""))\')',
    )


def _check_sqlite_file(database_url: Any, url: str, where: Path) -> None:
    """A SQLite URL naming a file that does not exist: an error (SQLite would create an
    empty database there, and the query fail with 'no such table')."""
    if database_url.get_backend_name() != "sqlite":
        return
    database = database_url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return  # in memory, or a URI (sqlite:///file:crm.db?mode=ro&uri=true)
    path = Path(database)
    if not path.is_file():
        shown = database if path.is_absolute() else f"{database} ({path.resolve()})"
        raise DataError(
            f"the SQLite database file {shown} does not exist (the URL comes from {_origin(url)})",
            file=str(where),
            hint="check the path in the URL: sqlite:///relative/path.db (from the current "
            "folder) or sqlite:////absolute/path.db",
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


#: The kinds of value a declared column can take from a database (beside None and text),
#: and how to cast a column the database holds in another kind
_NUMBERS = (bool, int, float, decimal.Decimal)
_TAKES: dict[str, tuple[tuple[type, ...], str]] = {
    "int": (_NUMBERS, "a number, e.g. CAST(col AS bigint)"),
    "float": (_NUMBERS, "a number, e.g. CAST(col AS numeric)"),
    "bool": (_NUMBERS, "a boolean, e.g. CAST(col AS boolean)"),
    # numbers: Excel serial dates, as in a workbook (20261003 is read as %Y%m%d text)
    "date": ((dt.date, int, float, decimal.Decimal), "a date, e.g. CAST(col AS date)"),
}

#: Values of the database types a column cannot take, as the message names them
_UNTAKEN = (
    (dt.timedelta, "durations (interval)"),
    (dt.time, "times of day without a date (time)"),
    ((bytes, bytearray, memoryview), "binary data (bytea)"),
    ((dict, list, tuple), "JSON or array values"),
)

#: SQL's date-time text, as SQLite stores DATETIME (and CURRENT_TIMESTAMP writes it)
_SQL_DATETIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
)


def _declared_kinds(
    typed: Mapping[str, pa.DataType], date_columns: Collection[str]
) -> dict[str, str]:
    """The declared type (int, float, bool, date) of the typed columns, by result column."""
    kinds = dict.fromkeys(date_columns, "date")
    for name, kind in typed.items():
        if pa.types.is_integer(kind):
            kinds[name] = "int"
        elif pa.types.is_floating(kind):
            kinds[name] = "float"
        elif pa.types.is_boolean(kind):
            kinds[name] = "bool"
        elif pa.types.is_timestamp(kind):
            kinds[name] = "date"
    return kinds


def _cells(
    values: list[Any], name: str, kinds: Mapping[str, str], before: int, where: Path
) -> Sequence[Any]:
    """A column's values as the cells of a workbook would hold them: the day of a date
    column's timestamps (in their own time zone), its date-time text as its day.

    Raises
    ------
    DataError
        A value of a kind the column cannot take (the column is named, not the value).
    """
    kind = kinds.get(name)
    if kind is None:
        return values
    takes, cast = _TAKES[kind]
    found = {type(v) for v in values}
    odd = [t for t in found if t is not str and t is not type(None) and not issubclass(t, takes)]
    if odd:
        row = next(i for i, v in enumerate(values) if type(v) in odd)
        what = next(
            (said for types, said in _UNTAKEN if isinstance(values[row], types)),
            f"values of the type {type(values[row]).__name__}",
        )
        raise DataError(
            f"column {name} ({kind}) holds {what}, first in row {before + row + 1} of the result",
            file=str(where),
            hint=f"cast it in the query to {cast}"
            + (
                " (an interval in days: EXTRACT(EPOCH FROM col) / 86400)"
                if kind != "date" and isinstance(values[row], dt.timedelta)
                else ""
            )
            + ", or select another column",
        )
    if kind != "date" or not (dt.datetime in found or str in found):
        return values
    return [_day(v) for v in values]


def _day(value: Any) -> Any:
    """A timestamp's day (on its own clock), SQL date-time text's day; else the value."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        matched = _SQL_DATETIME.fullmatch(value.strip())
        if matched:
            try:
                return dt.date.fromisoformat(matched.group(1))
            except ValueError:  # 2026-02-30 14:00: the cleaner says it is no date
                return value
    return value
