"""The parameters of a source's query (``:period``, ``:period_start``, ``:period_end``,
``:as_of``): the month they are bound to (:func:`query_period`), the query as a
SQLAlchemy statement with them bound as values, and what the run facts record of each
query (:func:`query_facts`).

Split from :mod:`custrisk.io.sql`, which re-exports the public names.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from custrisk.config.locations import bindable_query, period_end, query_parameters
from custrisk.errors import UsageError
from custrisk.io.sql_url import shown_url

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
