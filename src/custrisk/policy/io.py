"""Selecting alerts: by level (``--fail-on``), owner, rule code and grade.

A run's alerts file is written and read by :mod:`custrisk.results`; this module works on
the alerts table only.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from custrisk.data.id_list import ids_named, known_ids_named
from custrisk.errors import UsageError
from custrisk.io.safe_csv import csv_bytes
from custrisk.results import (
    ALERT_STATUSES,
    alert_table,
    is_alerts_csv,
    read_alerts_file,
    read_run,
)
from custrisk.vocab import LEVEL_CHOICES, LEVEL_RANK, LEVELS, level_named, owners_named

#: ``--fail-on`` values: a level, or ``never``.
FAIL_ON = (*LEVELS, "never")


def alerts_csv_bytes(alerts: pd.DataFrame, *, encoding: str | None = None) -> bytes:
    """The alerts as CSV bytes (LF line ends; every text cell that looks like a formula
    escaped, ids included); UTF-8 with a BOM unless ``encoding`` is ``utf-8``."""
    return csv_bytes(alert_table(alerts), encoding=encoding)


def alerts_at_or_above(alerts: pd.DataFrame, level: str) -> pd.DataFrame:
    """The alerts at ``level`` or more severe (``never``: none)."""
    if level not in FAIL_ON:
        raise UsageError(f"level must be one of {', '.join(FAIL_ON)}; got {level!r}")
    if level == "never":
        return alerts.iloc[0:0]
    ranks = alerts["level"].map(LEVEL_RANK)
    return alerts.loc[(ranks <= LEVEL_RANK[level]).to_numpy()]


def failing_alerts(alerts: pd.DataFrame, level: str) -> dict[str, int]:
    """The alerts a ``--fail-on level`` gate fails on: their count by level, the most
    frequent first (empty when none is at ``level`` or above)."""
    counts = alerts_at_or_above(alerts, level)["level"].value_counts()
    return {str(name): int(counts[name]) for name in counts.index}


def filter_alerts(
    alerts: pd.DataFrame,
    *,
    level: str | None = None,
    owners: Iterable[str] = (),
    codes: Iterable[str] = (),
    grades: Iterable[str] = (),
    statuses: Iterable[str] = (),
    customers: Iterable[str] = (),
) -> pd.DataFrame:
    """Alerts at ``level`` or above, of the given owners, rule codes, grades,
    lifecycle statuses (``new``, ``ongoing``) and customers.

    Empty filters let everything through; each filter matches exactly (codes and
    grades ignore case; an owner is a role or one of its labels, see
    :func:`custrisk.vocab.owners_named`; a customer id as typed or as cleaning stores
    it, see :func:`custrisk.data.id_list.ids_named`).
    """
    # one value given as a str (owners="collections") is that value, not its letters
    owners, codes, grades, statuses, customers = (
        (values,) if isinstance(values, str) else values
        for values in (owners, codes, grades, statuses, customers)
    )
    out = alerts
    customer_list = list(customers)
    if customer_list:
        ids = out["customer_id"].astype("str")
        wanted, _ = ids_named(customer_list, set(ids))
        out = out.loc[ids.isin(wanted).to_numpy()]
    if level is not None:
        named = level_named(level)
        if named is None:
            raise UsageError(f"--level must be one of {LEVEL_CHOICES}; got {level!r}")
        out = alerts_at_or_above(out, named)
    owner_set = set(owners)
    if owner_set:
        present = out["owner"].dropna().astype("str").unique()
        owner_set = owners_named(owner_set, present)
        out = out.loc[out["owner"].isin(owner_set).to_numpy()]
    code_set = {c.upper() for c in codes}
    if code_set:
        out = out.loc[out["code"].str.upper().isin(code_set).to_numpy()]
    grade_set = {g.upper() for g in grades}
    if grade_set:
        out = out.loc[out["grade"].astype("str").str.upper().isin(grade_set).to_numpy()]
    status_set = set(statuses)
    if status_set:
        unknown = sorted(status_set - set(ALERT_STATUSES))
        if unknown:
            raise UsageError(
                f"--status must be one of {', '.join(ALERT_STATUSES)}; got {unknown[0]!r}"
            )
        status = out["status"] if "status" in out.columns else pd.Series("", index=out.index)
        out = out.loc[status.replace("", "new").isin(status_set).to_numpy()]
    return out.reset_index(drop=True)


def read_alerts(
    source: str | os.PathLike[str],
    *,
    codes: Sequence[str] = (),
    grades: Sequence[str] = (),
    customers: Sequence[str] = (),
    option: str = "--customers",
) -> pd.DataFrame:
    """The alerts of ``source``: a scoring run (its folder or scores file) or a
    standalone alerts CSV, which has no run facts to check against. For a run, a
    ``codes``, ``grades`` or ``customers`` filter naming what the run does not know is
    refused: a typo, not a filter that matches nothing (a customer of the run without
    alerts has none).

    Raises
    ------
    UsageError
        Naming the first unknown rule code or grade, with the run's own, or the unknown
        customer ids (and ``option``, the customers' option as typed).
    """
    source = Path(source)
    if is_alerts_csv(source):
        return read_alerts_file(source)
    if not customers:
        run = read_run(source, parts=("alerts",))
        _check_named(run.facts, codes, grades)
        return run.alerts
    run = read_run(source, parts=("alerts", "scores"), columns={"scores": ("customer_id",)})
    _check_named(run.facts, codes, grades)
    known_ids_named(
        customers,
        set(run.scores["customer_id"].astype("str")),
        where=f"the run's scores ({source})",
        option=option,
        note="; a customer of the run without alerts lists none",
    )
    return run.alerts


def _check_named(facts: Mapping[str, Any], codes: Sequence[str], grades: Sequence[str]) -> None:
    """A --code or --grade the run does not know is a typo, not a filter that matches
    nothing: said with the run's rule codes or grades."""
    rules = (facts.get("alerts") or {}).get("rules") or []
    policy_grades = (facts.get("policy") or {}).get("grades") or []
    for option, what, given, names in (
        ("--code", "rule codes", codes, [str(r.get("code")) for r in rules]),
        ("--grade", "grades", grades, [str(g.get("code")) for g in policy_grades]),
    ):
        upper = {n.upper() for n in names}
        unknown = [g for g in given if g.upper() not in upper]
        if names and unknown:
            raise UsageError(
                f"{option} {unknown[0]!r} is not one of this run's {what}: {', '.join(names)}"
            )


def handling_actions(alerts: pd.DataFrame, lang: str) -> dict[str, str]:
    """The handling actions of the rules that fired among ``alerts``, by rule code in
    code order, in ``lang`` (``zh`` or ``en``)."""
    actions = alerts.drop_duplicates("code").sort_values("code")
    return {str(row["code"]): row[f"actions_{lang}"] for row in actions.to_dict(orient="records")}
