"""Reading a source from a database: a SQL query, in chunks, as a raw table.

The URL comes from an environment variable (``url: env:CRM_DB_URL`` in the sources
config); a URL with a password is never accepted from a config, and every message and
log line shows the URL with its password as ``***``. The rows are fetched through
SQLAlchemy with a server-side cursor where the driver has one (``stream_results``), a
chunk at a time, and turned into Arrow columns the way workbook cells are
(:mod:`custrisk.io.cells`), so that typing, cleaning and reject rules are those of a
file. A reject names the source (``query:<source>``) and the row of the result set.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa

from custrisk.config.sources import ENV_PREFIX, mask_url, url_password
from custrisk.errors import DataError
from custrisk.io.cells import concat_chunks, table_from_columns
from custrisk.io.readers import RawTable, match_header

log = logging.getLogger(__name__)

#: Rows fetched from the database at a time.
CHUNK_ROWS = 50_000
_INSTALL_HINT = "install the database extra: pip install 'custrisk[db]'"


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


def _scrub(text: str, url: str) -> str:
    """An error text with the URL's password (and any URL in it) masked, on one line."""
    password = url_password(url)
    if password:
        text = text.replace(password, "***")
    text = re.sub(r"\b[a-z][a-z0-9+.-]*://\S+", lambda m: mask_url(m.group(0)), text)
    text = text.split("\n[SQL:")[0].split("(Background on this error")[0]
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

    Raises
    ------
    DataError
        SQLAlchemy or the driver missing, the variable unset, the database unreachable,
        the query failing; never with the password in the message.
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
    try:
        engine = sqlalchemy.create_engine(
            resolved, poolclass=sqlalchemy.pool.NullPool, hide_parameters=True
        )
    except (ImportError, sqlalchemy.exc.ArgumentError, ValueError) as exc:
        shown = _shown_resolved(resolved)
        raise DataError(
            f"cannot use the database URL {shown or '(not shown)'} (from "
            f"{shown_url(url) if url.startswith(ENV_PREFIX) else 'the sources config'}): "
            + (
                _scrub(str(exc), resolved)
                if shown
                else "it has no '://' (its text is not shown: it may hold a password)"
            ),
            file=str(where),
            hint="write it as dialect+driver://user:password@host:port/database, e.g. "
            f"postgresql+psycopg://...; {_INSTALL_HINT}",
        ) from None
    log.info("source %s: running its query on %s", source, mask_url(resolved))
    chunks: list[pa.Table] = []
    rows = 0
    try:
        with engine.connect() as connection:
            result = connection.execution_options(
                stream_results=True, yield_per=chunk_rows
            ).execute(sqlalchemy.text(query))
            names = [str(name) for name in result.keys()]
            chosen, folded = _chosen(names, columns, where)
            wanted = [i for i, name in enumerate(names) if name in chosen]
            types = typed or {}
            for part in result.partitions(chunk_rows):
                values = {chosen[names[i]]: [row[i] for row in part] for i in wanted}
                chunks.append(
                    table_from_columns(
                        values,
                        {n: types[n] for n in values if n in types},
                        [n for n in values if n in date_columns],
                    )
                )
                rows += len(part)
    except sqlalchemy.exc.SQLAlchemyError as exc:
        problem = exc.orig if isinstance(exc, sqlalchemy.exc.DBAPIError) else exc
        connecting = isinstance(exc, sqlalchemy.exc.OperationalError) and not chunks
        raise DataError(
            ("cannot connect to or query " if connecting else "the query failed on ")
            + f"{mask_url(resolved)}: {_scrub(str(problem), resolved)}",
            file=str(where),
            hint="check the database URL, that the database is running, and the query "
            f"under sources.{source}.query",
        ) from None
    finally:
        engine.dispose()
    if chunks:
        table = concat_chunks(chunks)
    else:
        table = table_from_columns({chosen[names[i]]: [] for i in wanted}, {}, ())
    log.info("source %s: %d rows from the query", source, rows)
    return RawTable(
        where,
        table,
        np.arange(1, rows + 1, dtype=np.int64),
        names,
        "sql",
        unmatched=[n for n in names if n not in chosen],
        folded=folded,
    )


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
