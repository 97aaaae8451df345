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

import datetime as dt
import decimal
import logging
import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.config.locations import mask_url
from custrisk.errors import DataError
from custrisk.io.cells import concat_chunks, table_from_columns
from custrisk.io.csv_lines import OVERSIZED_LINE, SHOWN_BYTES
from custrisk.io.csv_reader import BadRow
from custrisk.io.header import match_header
from custrisk.io.readers import MAX_LINE_BYTES, RawTable
from custrisk.io.sql_params import (
    _month_of,
    _statement,
    bound_month,
    query_facts,
    query_period,
    set_query_period,
)
from custrisk.io.sql_snapshot import (
    DEFAULT_CONNECT_TIMEOUT,
    Databases,
    PlannedQuery,
    _no_answer,
    _sqlite_timed_out,
    _sqlite_timeout_error,
    _timed_out,
    _timeout_error,
    _timeout_of,
)
from custrisk.io.sql_url import (
    _INSTALL_HINT,
    _check_password_encoded,
    _scrub,
    resolve_url,
    shown_url,
)

#: The names of the parts split off (:mod:`custrisk.io.sql_url`, :mod:`custrisk.io.sql_params`,
#: :mod:`custrisk.io.sql_snapshot`) imported from here
__all__ = [
    "CHUNK_ROWS",
    "DEFAULT_CONNECT_TIMEOUT",
    "SQL_ENCODING",
    "Databases",
    "PlannedQuery",
    "bound_month",
    "query_facts",
    "query_period",
    "read_query",
    "resolve_url",
    "set_query_period",
    "shown_url",
]

log = logging.getLogger(__name__)

#: Rows fetched from the database at a time.
CHUNK_ROWS = 50_000
#: The encoding a query's table reports (the validation report's ``encodings``)
SQL_ENCODING = "sql"


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
        ``options=-c statement_timeout=...``), else ``DEFAULT_QUERY_TIMEOUT``. On
        SQLite: how long it waits on another connection's lock on the file, and may run
        (each chunk's fetch), else ``DEFAULT_QUERY_TIMEOUT``.
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
        if opened.timed:  # (known before start, whose LOCK may wait too)
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
                opened.lap()  # (the next chunk's fetch has a timeout of its own)
        opened.stop()
    except sqlalchemy.exc.SQLAlchemyError as exc:
        databases.discard(resolved)  # its transaction is aborted
        problem = exc.orig if isinstance(exc, sqlalchemy.exc.DBAPIError) else exc
        if _timed_out(problem):
            raise _timeout_error(source, resolved, where, *waited) from None
        if how := _sqlite_timed_out(problem):
            raise _sqlite_timeout_error(source, resolved, where, *waited, how) from None
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
