"""Reading what ``custrisk score`` (and the alert and drift stages) wrote, for reports.

A scoring run folder holds ``scores.csv`` (or ``.parquet``), ``scores.details.parquet``
(masked identity, credit fields, every indicator, reason values), ``scores.run.json``
(model facts, indicator labels, the grade policy) and ``alerts.csv``. Reports read only
the masked identity columns; raw names, phones and id numbers are never loaded.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from custrisk import results
from custrisk.config._yaml import join_limited
from custrisk.data.id_list import known_ids_named
from custrisk.errors import DataError, UsageError
from custrisk.io.plain import brief_repr
from custrisk.protect.output import existing, plain_bytes
from custrisk.vocab import LEVEL_CHOICES, level_named

log = logging.getLogger(__name__)

#: Identity columns a report may show: only masked ones.
MASKED_COLUMNS = results.MASKED_COLUMNS


@dataclass(frozen=True)
class HistoryRun:
    """One previous scoring run: its as-of date and score, PD, grade per customer."""

    path: str
    as_of: str
    frame: pd.DataFrame  # indexed by customer_id: score, pd[, grade]
    details: pd.DataFrame | None = None  # the run's indicators, for KPIs month over month


@dataclass
class ReportInputs:
    """Everything the reports of one scoring run are built from.

    Attributes
    ----------
    scores : pandas.DataFrame
        The scores table, one row per customer, ``customer_id`` as text.
    details : pandas.DataFrame
        Masked identity, credit fields and indicators (``ind__<code>``), indexed by
        ``customer_id``.
    run : dict
        ``scores.run.json``.
    alerts : pandas.DataFrame or None
        ``alerts.csv`` (all alerts of the run), when present.
    history : list of HistoryRun
        Previous runs, oldest first.
    drift : dict or None
        Drift results (see :func:`read_drift`).
    """

    __repr__ = brief_repr  # a notebook prints it: sizes, never the tables' cells

    scores_path: Path
    scores: pd.DataFrame
    details: pd.DataFrame
    run: dict[str, Any]
    alerts: pd.DataFrame | None = None
    history: list[HistoryRun] = field(default_factory=list)
    drift: dict[str, Any] | None = None

    @property
    def customer_ids(self) -> list[str]:
        return self.scores["customer_id"].tolist()


def read_scores(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The scores table of a run (checked against the run's facts)."""
    return results.read_run(path, parts=("scores",)).scores


def _read_json(path: Path, what: str) -> Any:
    path = existing(path)  # drift.json.enc for drift.json
    if not path.is_file():
        raise DataError(f"{what} not found", file=str(path), hint="check the path")
    try:
        return json.loads(plain_bytes(path).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{what} is not valid JSON: {exc}", file=str(path)) from None


def read_history(paths: Sequence[str | os.PathLike[str]]) -> list[HistoryRun]:
    """Previous scores files, oldest first (by their as-of date)."""
    runs = []
    for raw in paths:
        path = Path(raw)
        previous = results.read_run(path, parts=("scores", "details"))
        frame = previous.scores
        if "as_of" in frame.columns and frame["as_of"].notna().any():
            as_of = str(frame["as_of"].dropna().iloc[0])[:10]
        else:
            raise DataError(
                "a history scores file needs an as_of column", file=str(path), column="as_of"
            )
        keep = [c for c in ("customer_id", "score", "pd", "grade") if c in frame.columns]
        runs.append(
            HistoryRun(
                str(path), as_of, frame[keep].set_index("customer_id"), details=previous.details
            )
        )
    runs.sort(key=lambda run: run.as_of)
    return runs


def read_drift(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Drift results: ``{verdict, as_of, statistics: [{name, kind, value, verdict}]}``.

    Accepts the JSON of ``custrisk drift --format json`` (an object with ``statistics``,
    whose items carry ``metric``, used as the kind) or a bare list of
    ``{name, kind, value, verdict}``.

    Raises
    ------
    DataError
        When an item lacks ``name``, ``value`` or ``verdict`` or its value is not a number.
    """
    path = Path(path)
    data = _read_json(path, "drift file")
    items = data.get("statistics") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise DataError(
            "expected a list of statistics or an object with a 'statistics' list",
            file=str(path),
            hint="pass the JSON written by `custrisk drift --format json`",
        )
    statistics = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or any(k not in item for k in ("name", "value", "verdict")):
            raise DataError(
                f"statistics[{i}] needs name, value and verdict, got {str(item)[:80]!r}",
                file=str(path),
            )
        value = item["value"]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise DataError(f"statistics[{i}].value is not a number: {value!r}", file=str(path))
        statistics.append(
            {
                "name": str(item["name"]),
                "kind": str(item.get("kind") or item.get("metric") or item.get("group") or ""),
                "value": None if value is None else float(value),
                "verdict": str(item["verdict"]),
            }
        )
    overall = data.get("verdict") if isinstance(data, dict) else None
    as_of = data.get("as_of") if isinstance(data, dict) else None
    return {
        "verdict": str(overall) if overall else None,
        "as_of": str(as_of) if as_of else None,
        "statistics": statistics,
    }


def load_report_inputs(
    scores: str | os.PathLike[str],
    *,
    alerts: str | os.PathLike[str] | None = None,
    history: Sequence[str | os.PathLike[str]] = (),
    drift: str | os.PathLike[str] | None = None,
) -> ReportInputs:
    """Load a scoring run for reporting.

    Parameters
    ----------
    scores : str or path-like
        The scores file; its details and run files are read from beside it.
    alerts : str or path-like, optional
        The alerts file (default: ``alerts.csv`` beside the scores, when present).
    history : sequence of path-like
        Previous scores files, for score history and grade migration.
    drift : str or path-like, optional
        A drift JSON (list of ``{name, kind, value, verdict}``).

    Returns
    -------
    ReportInputs
    """
    run = results.read_run(scores, parts=("scores", "details", "alerts"))
    assert run.files is not None
    scores_path = run.files.scores
    details = run.details.set_index("customer_id", drop=False)
    alerts_frame = results.read_alerts_file(alerts) if alerts is not None else run.alerts
    table = run.scores
    earlier = read_history(history)
    as_of = str(run.facts.get("as_of") or "")[:10]
    not_earlier = [h for h in earlier if as_of and h.as_of >= as_of]
    if not_earlier:
        # the migration and the service KPIs month over month would run backwards, or
        # compare the month with itself (the run given as its own history, a re-run)
        run_as_of = not_earlier[0].as_of
        if run_as_of == as_of:
            when = "the as-of date of this run too"
            hint = "give the runs of earlier months as --history, or leave the file out"
        else:
            when = f"after this run's as-of date {as_of}"
            hint = "report the later run with this one as its --history, or leave the file out"
        raise UsageError(
            f"--history {not_earlier[0].path} is as of {run_as_of}, {when}: history runs "
            "must be earlier months",
            hint=hint,
        )
    return ReportInputs(
        scores_path=scores_path,
        scores=table,
        details=details,
        run=run.facts,
        alerts=alerts_frame,
        history=earlier,
        drift=read_drift(drift) if drift is not None else None,
    )


def select_customers(
    inputs: ReportInputs,
    *,
    customers: Sequence[str] | None = None,
    grades: Sequence[str] | None = None,
    alert_levels: Sequence[str] | None = None,
    option: str = "--customers",
) -> list[str]:
    """Customer ids that pass every given filter, in the order of the scores table
    (``option``: the customers' option as typed, for the error).

    Raises
    ------
    UsageError
        For an unknown customer id, or a grade/alert-level filter on a scores table
        without that column.
    """
    frame = inputs.scores
    keep = pd.Series(True, index=frame.index)
    # one value given as a str (customers="0000000009") is that value, not its characters
    customers, grades, alert_levels = (
        [values] if isinstance(values, str) else values
        for values in (customers, grades, alert_levels)
    )
    if customers:
        ids = set(frame["customer_id"])
        # an id as the export or the CRM writes it (ab 12, ＡＢ12) as cleaning stored it;
        # under --pseudonymise an id names its token (the report of 0000000009 is
        # customer_psn_....pdf), as score names them
        wanted = known_ids_named(customers, ids, where=str(inputs.scores_path), option=option)
        keep &= frame["customer_id"].isin(wanted)
    if grades:
        if "grade" not in frame.columns:
            raise UsageError(
                f"--grade: {inputs.scores_path} has no grade column",
                hint="score with a policy config, or select with --customers",
            )
        known = list((inputs.run.get("policy") or {}).get("distribution") or ())
        known = known or sorted(set(frame["grade"].dropna().astype(str)))
        # a grade as typed, in either case (d, D)
        by_case = {g.upper(): g for g in known}
        typed = [g.strip() for g in grades if g.strip()]
        wanted = [g if g in known else by_case.get(g.upper(), g) for g in typed]
        unknown = [g for g in wanted if g not in known]
        if unknown:
            raise UsageError(
                f"--grade: unknown grade(s) {join_limited(unknown)}",
                hint=f"the grades of this run are {', '.join(known)}",
            )
        keep &= frame["grade"].astype(str).isin(wanted)
    if alert_levels:
        if "alert_level" not in frame.columns:
            raise UsageError(
                f"--alert-level: {inputs.scores_path} has no alert_level column",
                hint="score with an alerts config, or select with --customers",
            )
        typed = [lv.strip() for lv in alert_levels if lv.strip()]
        unknown = [lv for lv in typed if level_named(lv) is None]
        if unknown:
            raise UsageError(
                f"--alert-level: unknown level(s) {join_limited(unknown)}",
                hint=f"the levels are {LEVEL_CHOICES}",
            )
        levels = [level_named(lv) for lv in typed]
        keep &= frame["alert_level"].astype(str).str.lower().isin(levels)
    return frame.loc[keep, "customer_id"].tolist()
