"""The workbook for people beside a run (scores, alerts and summary sheets), and the alerts
workbook.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from custrisk.io.excel_out import LEVEL_FILLS, Sheet, ramp, write_workbook
from custrisk.results.layout import alert_table
from custrisk.vocab import LEVELS


def run_sheets(
    scores: pd.DataFrame,
    alerts: pd.DataFrame,
    facts: Mapping[str, Any],
    followups: pd.DataFrame | None = None,
) -> list[Sheet]:
    """The sheets of a run's workbook: scores and alerts (grades and levels coloured),
    the follow-up plan when there is one, and a summary (customers by grade, alerts by
    level, the run's facts)."""
    policy = facts.get("policy") or {}
    grades = [str(g.get("code")) for g in policy.get("grades") or [] if isinstance(g, dict)]
    grade_fills = ramp(grades)
    level_fills = {level: LEVEL_FILLS[level] for level in LEVELS if level in LEVEL_FILLS}
    sheets = [
        Sheet(
            "scores",
            scores,
            kinds=SCORES_KINDS,
            fills={"grade": grade_fills, "alert_level": level_fills},
        ),
        Sheet(
            "alerts",
            alerts,
            kinds=ALERTS_KINDS,
            fills={"level": level_fills, "grade": grade_fills},
        ),
        Sheet(
            "summary",
            _summary(facts, grades),
            kinds={"value": "count", "share": "percent", "limit": "amount"},
            fills={"item": {**grade_fills, **level_fills}},
        ),
    ]
    if followups is not None:
        plan = Sheet(
            "followups",
            followups,
            kinds=FOLLOWUP_KINDS,
            fills={"grade": grade_fills, "alert_level": level_fills},
        )
        sheets.insert(2, plan)
    return sheets


def write_alerts_workbook(alerts: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """The alerts (columns of alerts.csv) as a workbook: one sheet, levels coloured."""
    level_fills = {level: LEVEL_FILLS[level] for level in LEVELS if level in LEVEL_FILLS}
    sheet = Sheet(
        "alerts",
        alert_table(alerts),
        kinds=ALERTS_KINDS,
        fills={"level": level_fills},
    )
    return write_workbook(path, [sheet])


def _summary(facts: Mapping[str, Any], grades: Sequence[str]) -> pd.DataFrame:
    """Customers and limits by grade, alerts by level, the facts of the run (long form)."""
    rows: list[tuple[str, str, Any, Any, Any]] = []
    policy = facts.get("policy") or {}
    distribution = policy.get("distribution") or {}
    for grade in grades or list(distribution):
        row = distribution.get(grade) or {}
        rows.append(
            ("grade", grade, row.get("customers"), row.get("share"), row.get("recommended_limit"))
        )
    alerts = facts.get("alerts") or {}
    customers = alerts.get("customers_by_highest_level") or {}
    for level in LEVELS:
        rows.append(("alerts", level, (alerts.get("by_level") or {}).get(level), None, None))
        rows.append(("customers at level", level, customers.get(level), None, None))
    limits = policy.get("limits") or {}
    for key in ("current_total", "recommended_total", "change_total"):
        if key in limits:
            rows.append(("limits", key, None, None, limits[key]))
    for key in ("run_id", "model_id", "algorithm", "as_of", "customers", "rows_rejected"):
        if key in facts:
            value = facts[key]
            rows.append(("run", key, value if isinstance(value, int) else str(value), None, None))
    return pd.DataFrame(rows, columns=["section", "item", "value", "share", "limit"])


#: Number formats of the scores and alerts sheets (see custrisk.io.excel_out).
SCORES_KINDS = {
    "pd": "percent",
    "score": "integer",
    "current_limit": "amount",
    "recommended_limit": "amount",
    "limit_change": "amount",
    "previous_score": "integer",
    "score_change": "integer",
    "previous_recommended_limit": "amount",
    "as_of": "date",
}
ALERTS_KINDS = {"response_hours": "count", "as_of": "date", "since": "date", "due_by": "datetime"}
#: The follow-up plan's columns by kind (the run's workbook and ``custrisk followups``).
FOLLOWUP_KINDS = {"days_since_last_follow_up": "count", "as_of": "date", "due_date": "date"}
