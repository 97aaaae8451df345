"""Checks that a month's scored data is that month's, whole, before its run goes on to
the reports and notifications and is published (RUN.yaml's ``checks``).

Both stop the run with a :class:`~custrisk.errors.DataError` (exit 2): the data is
wrong, not the portfolio, so nothing of it may be filed as the month's run.

* **The as-of date** (the data's latest event date, or ``as_of`` of the indicator
  config) must fall in the period's month or up to ``as_of_days_after`` days after its
  last day: an export taken on the 1st of the next month holds that day's first events.
  Last month's files left in the folder, or a later month's, are refused.
* **The number of customers** may not fall by more than ``max_customer_drop`` (a share)
  against the previous run's: a partial export (a query cut short, a file copied while
  it was being written) scores the customers it holds as if they were the portfolio.
* **The rows of each export** (each source of the validation report), a customer, may
  not fall by more than ``max_rows_drop`` (a share) against the previous run's: an event
  export cut
  exactly at a line end (copied while it was still being written, line by line) cannot
  be told from a whole one by its bytes, keeps every customer, and scores them on half
  their transactions.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from custrisk.config.locations import as_of_window, period_end
from custrisk.errors import DataError

CHECKS_KEY = "checks"


def check_as_of(
    period: str, as_of: dt.date, *, days_after: int, exports: Path, queried: bool = False
) -> None:
    """Refuse data whose as-of date is outside the window of ``period``
    (:func:`as_of_window`); ``queried``: every source is a database query (the message
    names the queries, not a folder of exports).

    Raises
    ------
    DataError
        Naming the period, the as-of date, the window and what to do.
    """
    first, last = as_of_window(period, days_after)
    if first <= as_of <= last:
        return
    window = (
        f"which accepts {first} to {last} (the month and {days_after} days after it, "
        f"{CHECKS_KEY}.as_of_days_after)"
    )
    if as_of < first:
        month = f"{as_of:%Y-%m}"
        if exports.is_file():  # a flat table: dated by its latest date unless it says its own
            raise DataError(
                f"custrisk run {period}: the table's as-of date {as_of} (its latest date) is "
                f"before the period, {window}",
                file=str(exports),
                hint=f"if it is {period}'s table, add a column of the date it was taken "
                f"(数据日期, the same date in every row, e.g. {period_end(period)}): it is the "
                "table's as-of date",
            )
        if queried:
            raise DataError(
                f"custrisk run {period}: the data's as-of date {as_of} (its latest event "
                f"date) is before the period, {window}: the queries return {month}'s rows",
                hint="bound their WHERE to the run's month (WHERE txn_date BETWEEN "
                ":period_start AND :period_end, docs/data-sources.md), load "
                f"{period} into the database and run again, or run {month} with --period {month}",
            )
        raise DataError(
            f"custrisk run {period}: the exports' as-of date {as_of} is before the period, "
            f"{window}: {exports} seems to hold {month}'s files",
            hint=f"put {period}'s exports there and run again, or run {month} with "
            f"--period {month}",
        )
    if queried:
        raise DataError(
            f"custrisk run {period}: the data's as-of date {as_of} (its latest event date) is "
            f"after the period, {window}: the queries return rows of a later month",
            hint="bound their WHERE to the run's month (WHERE txn_date BETWEEN :period_start "
            "AND :period_end) and run again; "
            f"if the data is taken after {last}, raise {CHECKS_KEY}.as_of_days_after in the "
            "run config",
        )
    raise DataError(
        f"custrisk run {period}: the exports' as-of date {as_of} is after the period, "
        f"{window}: {exports} seems to hold a later month's files, or a date in them is "
        "wrong",
        hint=f"put {period}'s exports there and run again; if the export was taken after "
        f"{last}, raise {CHECKS_KEY}.as_of_days_after in the run config",
    )


def check_customer_drop(
    period: str,
    customers: int,
    *,
    previous_period: str,
    previous_customers: int,
    max_drop: float,
    exports: Path,
    queried: bool = False,
) -> None:
    """Refuse a month whose customers fell by more than ``max_drop`` (a share of the
    previous run's ``previous_customers``); ``queried`` as for :func:`check_as_of`.

    Raises
    ------
    DataError
        Naming both counts, the drop and the key that allows it.
    """
    if previous_customers <= 0:
        return
    drop = (previous_customers - customers) / previous_customers
    if drop <= max_drop:
        return
    raise DataError(
        f"custrisk run {period}: {customers:,} customers against {previous_customers:,} in "
        f"the run of {previous_period}, a drop of {drop:.0%}, more than "
        f"{CHECKS_KEY}.max_customer_drop: {max_drop:g} allows: "
        + (
            "the queries' rows look partial"
            if queried
            else f"the export in {exports} looks partial"
        ),
        hint=(
            "check the credit query's WHERE and that the load of the month has finished"
            if queried
            else "wait for the export to finish"
        )
        + " and run again; if the drop is real, raise "
        f"{CHECKS_KEY}.max_customer_drop in the run config (1: no check)",
    )


def check_rows_drop(
    period: str,
    rows: dict[str, tuple[int, list[str]]],
    *,
    customers: int,
    previous_period: str,
    previous_rows: dict[str, int],
    previous_customers: int,
    max_drop: float,
    queried: bool = False,
) -> None:
    """Refuse a month one of whose exports has fewer rows a customer than the previous
    run's by more than ``max_drop`` (a share): a drop of customers (allowed by
    ``max_customer_drop``) takes their rows with it and is not counted twice. ``rows``:
    each source's rows read and its files (as the validation report lists them);
    ``previous_rows``: each source's rows in the previous run. A source new this month,
    or empty before, is not compared.

    Raises
    ------
    DataError
        Naming the export, both counts, the drop and the key that allows it.
    """
    if customers <= 0 or previous_customers <= 0:
        return
    for source, (count, files) in rows.items():
        before = previous_rows.get(source)
        if not isinstance(before, int) or before <= 0:
            continue
        drop = 1 - (count / customers) / (before / previous_customers)
        if drop <= max_drop:
            continue
        what = (
            f"{', '.join(files)} (source {source})"
            if files and not queried
            else f"the query of source {source}"
        )
        each = (
            ""
            if customers == previous_customers
            else f" (for {customers:,} customers against {previous_customers:,}: a drop of "
            f"{drop:.0%} a customer)"
        )
        raise DataError(
            f"custrisk run {period}: {what} has {count:,} rows against {before:,} in the run "
            f"of {previous_period}{each if each else f', a drop of {drop:.0%}'}, more than "
            f"{CHECKS_KEY}.max_rows_drop: {max_drop:g} allows: "
            + (
                "its rows look partial"
                if queried
                else "the export looks partial (a file copied while it was still being "
                "written can end at a line end, and read as whole)"
            ),
            hint=(
                "check the query's WHERE and that the load of the month has finished"
                if queried
                else "wait for the export to finish, copy it again"
            )
            + " and run again; if the drop is real, raise "
            f"{CHECKS_KEY}.max_rows_drop in the run config (1: no check)",
        )


__all__ = ["as_of_window", "check_as_of", "check_customer_drop", "check_rows_drop"]
