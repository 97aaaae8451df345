"""How well each alert rule of a run foretold what happened since.

For each rule and level: how often it fired, its precision and recall against the
outcomes, lift over the base rate, lead time (when outcomes are dated), overlap with the
other rules, the defaults only it caught, flags for rules that never fire, fire on most
customers, add nothing or do no better than chance, and a suggested threshold that keeps
the rule within a target share of customers. The rules are read from the run's facts,
so the review judges exactly the rules that ran.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from custrisk.expr import (
    Binary,
    ExpressionError,
    ExprType,
    Literal,
    Name,
    Unary,
    compile_expression,
    iter_nodes,
    parse,
    tokenize,
)
from custrisk.results import INDICATOR_PREFIX
from custrisk.review.backtest import OUTCOME_KINDS, Outcomes
from custrisk.vocab import LEVEL_RANK

#: A rule that fires on more than this share of customers "fires on most".
MOST_SHARE = 0.5
#: Names a condition may read from the scores table rather than the details.
_SCORE_NAMES = (
    "score",
    "pd",
    "grade",
    "current_limit",
    "recommended_limit",
    "limit_change",
    "review_flag",
)
_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
#: The column of an effectiveness table that counts the customers with the outcome
#: among those a rule alerted, per kind (``unique_`` + it: those no other rule caught).
COUNT_COLUMNS = {"bad": "bads", "churned": "churned", "escalated": "escalated", "any": "outcomes"}


@dataclass(frozen=True)
class AlertReview:
    """Alert rule effectiveness.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per rule and level (most severe first): ``code``, ``level``,
        ``condition``, ``fired``, ``share``, ``bads``, ``precision``, ``recall``,
        ``lift``, ``lead_days`` (median days from the as-of date to the outcome of the
        bads it caught), ``overlap`` (share of its customers that another rule also
        alerted), ``overlaps_most_with``, ``unique_bads`` (bads no other rule caught),
        ``flags``, ``suggested_condition`` and its ``suggested_share``,
        ``suggested_precision``, ``suggested_recall``. Against another outcome than
        ``bad``, ``bads`` and ``unique_bads`` are named after it (:data:`COUNT_COLUMNS`:
        ``churned``/``unique_churned``, ...).
    facts : dict
        The ``outcome`` judged against, customers (those whose outcome is known),
        ``positives`` (customers with the outcome) and ``base_rate`` (``bads`` and
        ``bad_rate`` too for ``bad``), customers with any alert and with a red one
        (share, recall and precision), ``max_alert_share``.
    outcome : str
        The kind of outcome (``bad``, ``churned``, ``escalated``, ``any``).
    """

    table: pd.DataFrame
    facts: dict[str, Any] = field(default_factory=dict)
    outcome: str = "bad"


def rule_values(frame: pd.DataFrame, details: pd.DataFrame, grades: Sequence[str]) -> pd.DataFrame:
    """The names alert conditions read, one row per customer of ``frame`` (same order):
    scores columns, ``grade_rank`` and every indicator and credit field of ``details``."""
    ids = frame["customer_id"].astype(str)
    table = pd.DataFrame({"customer_id": ids.to_numpy()})
    for name in _SCORE_NAMES:
        if name in frame.columns:
            table[name] = frame[name].to_numpy()
    rank = {code: i + 1 for i, code in enumerate(grades)}
    if "grade" in frame.columns:
        table["grade_rank"] = frame["grade"].astype(str).map(rank).astype("float64").to_numpy()
    if len(details):
        keyed = details.assign(customer_id=details["customer_id"].astype(str))
        keyed = keyed.drop_duplicates("customer_id").set_index("customer_id").reindex(ids)
        for column in keyed.columns:
            name = (
                column[len(INDICATOR_PREFIX) :] if column.startswith(INDICATOR_PREFIX) else column
            )
            if name not in table.columns:
                table[name] = keyed[column].to_numpy()
    return table


def _compile(text: str, values: pd.DataFrame) -> Any:
    names = {n.name for n in iter_nodes(parse(text)) if isinstance(n, Name)}
    missing = sorted(names - set(values.columns))
    if missing:
        return None
    types = {}
    for name in names:
        column = values[name]
        if name == "as_of":
            types[name] = ExprType.DATE
        elif pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            types[name] = ExprType.NUMBER
        else:
            types[name] = ExprType.STRING
    try:
        return compile_expression(text, types)
    except ExpressionError:
        return None


def _mask(text: str, values: pd.DataFrame) -> np.ndarray | None:
    expression = _compile(text, values)
    if expression is None:
        return None
    columns = {
        name: (
            values[name].to_numpy(dtype="float64")
            if expression.name_types[name] is ExprType.NUMBER
            else values[name]
        )
        for name in expression.names
    }
    return np.asarray(expression.evaluate_mask(columns, n=len(values)), dtype=bool)


@dataclass(frozen=True)
class _Threshold:
    """The first ``name OP number`` comparison of a condition, where its number sits."""

    name: str
    op: str  # as if the name were on the left
    value: float
    start: int
    end: int


def _threshold(text: str) -> _Threshold | None:
    tokens = {t.pos: t for t in tokenize(text)}
    for node in iter_nodes(parse(text)):
        if not isinstance(node, Binary) or node.op not in _FLIPPED:
            continue
        left, right, op = node.left, node.right, node.op
        if isinstance(left, Literal) and isinstance(right, Name):
            left, right, op = right, left, _FLIPPED[op]
        sign, start = 1.0, None
        if isinstance(right, Unary) and right.op == "-" and isinstance(right.operand, Literal):
            sign, start, right = -1.0, right.pos, right.operand
        if isinstance(left, Name) and isinstance(right, Literal):
            if isinstance(right.value, bool) or not isinstance(right.value, int | float):
                continue
            token = tokens.get(right.pos)
            if token is None or token.kind != "number":
                continue
            end = right.pos + len(token.text)
            value = sign * float(right.value)
            return _Threshold(left.name, op, value, right.pos if start is None else start, end)
    return None


def _number_text(value: float) -> str:
    text = f"{value:.6g}"
    return text if "e" not in text else repr(float(value))


def suggest_threshold(
    text: str, values: pd.DataFrame, max_share: float
) -> tuple[str, np.ndarray] | None:
    """The condition with its first numeric threshold moved just far enough that it
    fires on at most ``max_share`` of the customers in ``values`` (the condition as it
    is when it already does), and its mask; ``None`` when the condition has no
    ``name OP number`` comparison or reads a name ``values`` lacks."""
    current = _mask(text, values)
    found = _threshold(text)
    if current is None or found is None or found.name not in values.columns:
        return None
    n = len(values)
    if n == 0 or current.sum() <= max_share * n:
        return text, current
    column = pd.to_numeric(values[found.name], errors="coerce").to_numpy(dtype="float64")
    candidates = np.unique(column[np.isfinite(column)])
    stricter_up = found.op in (">", ">=")  # a larger threshold fires less
    if stricter_up:
        candidates = candidates[candidates >= found.value]
    else:
        candidates = candidates[candidates <= found.value][::-1]
    if not len(candidates):
        return None

    def attempt(value: float) -> tuple[str, np.ndarray] | None:
        new = text[: found.start] + _number_text(value) + text[found.end :]
        mask = _mask(new, values)
        return None if mask is None else (new, mask)

    # candidates go from least to most strict; find the first that meets the share
    lo, hi = 0, len(candidates) - 1
    best = attempt(candidates[hi])
    if best is None:
        return None
    if best[1].sum() > max_share * n:  # the rest of the condition fires too often
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        tried = attempt(candidates[mid])
        if tried is not None and tried[1].sum() <= max_share * n:
            best, hi = tried, mid
        else:
            lo = mid + 1
    return best


def alert_effectiveness(
    outcomes: Outcomes,
    alerts: pd.DataFrame,
    rules: Sequence[Mapping[str, Any]],
    details: pd.DataFrame,
    grades: Sequence[str],
    *,
    max_share: float = 0.05,
    as_of: str | None = None,
    outcome: str = "bad",
    skipped: Mapping[str, str] | None = None,
) -> AlertReview:
    """Each rule's record against the outcomes (see :class:`AlertReview`).

    Parameters
    ----------
    outcomes : Outcomes
        The run's customers with outcomes (:func:`~custrisk.review.backtest.join_outcomes`).
    alerts : pandas.DataFrame
        The run's alerts (columns of ``alerts.csv``).
    rules : sequence of mapping
        The rules of the run (its facts' ``alerts.rules``: code, level, condition, ...).
    details : pandas.DataFrame
        The run's details (indicators and credit fields), for the suggested thresholds.
    grades : sequence of str
        Grade codes, best first.
    max_share : float
        Target share of customers per rule for the suggested thresholds.
    as_of : str, optional
        The run's as-of date, for the lead times.
    outcome : str
        The kind of outcome to judge against (:data:`~custrisk.review.backtest.OUTCOME_KINDS`);
        customers whose outcome of that kind is blank are left out.
    skipped : mapping of str to str, optional
        The rules the run did not evaluate, each with why (``alerts.skipped_rules`` of its
        facts: GR01 without a previous run): flagged "not evaluated", not "never fires",
        and kept in the facts' ``not_evaluated``.
    """
    column, date_column = OUTCOME_KINDS[outcome]
    skipped = dict(skipped or {})
    count_name = COUNT_COLUMNS[outcome]
    frame = outcomes.frame
    if column not in frame.columns:
        raise KeyError(f"the outcomes have no {column!r} column")
    known = frame[column].notna().to_numpy(dtype=bool)
    if not known.all():
        frame = frame[known].reset_index(drop=True)
    ids = frame["customer_id"].astype(str).to_numpy()
    index = {cid: i for i, cid in enumerate(ids)}
    n = len(ids)
    bad = frame[column].astype("int64").to_numpy() == 1
    total_bads = int(bad.sum())
    base = total_bads / n if n else math.nan
    lead = _lead_days(frame, as_of, date_column)
    keyed_alerts = alerts.assign(customer_id=alerts["customer_id"].astype(str))
    keyed_alerts = keyed_alerts[keyed_alerts["customer_id"].isin(index)]
    masks: dict[tuple[str, str], np.ndarray] = {}
    order = sorted(
        {(str(r["code"]), str(r["level"])) for r in rules}
        | set(zip(keyed_alerts["code"], keyed_alerts["level"], strict=True)),
        key=lambda key: (LEVEL_RANK.get(key[1], 99), key[0]),
    )
    for key in order:
        mask = np.zeros(n, dtype=bool)
        part = keyed_alerts[(keyed_alerts["code"] == key[0]) & (keyed_alerts["level"] == key[1])]
        mask[[index[c] for c in part["customer_id"]]] = True
        masks[key] = mask
    counts = np.sum(list(masks.values()), axis=0) if masks else np.zeros(n)
    conditions = {(str(r["code"]), str(r["level"])): str(r.get("condition", "")) for r in rules}
    values = rule_values(frame, details, grades)
    rows = []
    for key, mask in masks.items():
        fired = int(mask.sum())
        caught = mask & bad
        others = counts - mask.astype(int)
        overlap_with = {
            other[0]: int((mask & m).sum()) for other, m in masks.items() if other != key
        }
        most = max(overlap_with.items(), key=lambda kv: kv[1], default=(None, 0))
        unique_bads = int((caught & (others == 0)).sum())
        # a bad this rule caught that no other rule at its level or above also caught
        rank = LEVEL_RANK.get(key[1], 99)
        as_urgent = np.zeros(n, dtype=bool)
        for other, m in masks.items():
            if other != key and LEVEL_RANK.get(other[1], 99) <= rank:
                as_urgent |= m
        adds = int((caught & ~as_urgent).sum())
        precision = caught.sum() / fired if fired else math.nan
        flags = []
        if fired == 0:
            flags.append("not evaluated" if key[0] in skipped else "never fires")
        elif fired > MOST_SHARE * n:
            flags.append("fires on most")
        if fired and adds == 0:
            flags.append("adds nothing")
        if fired and total_bads and precision <= base:
            flags.append("no better than chance")
        suggestion = None
        condition = conditions.get(key, "")
        if condition:  # None for a condition on names the run lacks (prev_*, ...)
            suggestion = suggest_threshold(condition, values, max_share)
        if suggestion is not None:
            s_text, s_mask = suggestion
            s_fired = int(s_mask.sum())
            s_caught = int((s_mask & bad).sum())
        rows.append(
            {
                "code": key[0],
                "level": key[1],
                "condition": condition,
                "fired": fired,
                "share": fired / n if n else math.nan,
                count_name: int(caught.sum()),
                "precision": precision,
                "recall": caught.sum() / total_bads if total_bads else math.nan,
                "lift": precision / base if fired and base > 0 else math.nan,
                "lead_days": float(np.nanmedian(lead[caught]))
                if lead is not None and caught.any() and np.isfinite(lead[caught]).any()
                else math.nan,
                "overlap": float((mask & (others > 0)).sum() / fired) if fired else math.nan,
                "overlaps_most_with": most[0] if most[1] else "",
                f"unique_{count_name}": unique_bads,
                "flags": "; ".join(flags),
                "suggested_condition": "" if suggestion is None else s_text,
                "suggested_share": math.nan if suggestion is None else s_fired / n,
                "suggested_precision": math.nan
                if suggestion is None or not s_fired
                else s_caught / s_fired,
                "suggested_recall": math.nan
                if suggestion is None or not total_bads
                else s_caught / total_bads,
            }
        )
    table = pd.DataFrame(rows)
    any_alert = counts > 0
    red = masks_at(masks, "red", n)
    facts: dict[str, Any] = {
        "outcome": outcome,
        "customers": n,
        "positives": total_bads,
        "base_rate": base,
        "max_alert_share": max_share,
        "customers_alerted": int(any_alert.sum()),
        "alerted_share": float(any_alert.mean()) if n else None,
        "alerted_recall": float((any_alert & bad).sum() / total_bads) if total_bads else None,
        "customers_red": int(red.sum()),
        "red_share": float(red.mean()) if n else None,
        "red_recall": float((red & bad).sum() / total_bads) if total_bads else None,
        "red_precision": float((red & bad).sum() / red.sum()) if red.any() else None,
        "dated_outcomes": lead is not None,
        "not_evaluated": {code: skipped[code] for code, _level in masks if code in skipped},
    }
    if outcome == "bad":
        facts["bads"], facts["bad_rate"] = total_bads, base
    return AlertReview(table, facts, outcome)


def over_share(review: AlertReview) -> list[dict[str, Any]]:
    """The rules that fired on more customers than ``max_alert_share``, as the table has
    them (``suggested_condition`` blank when no threshold could be moved: the condition
    has no ``name OP number`` on the run's data, reads ``prev_*`` names, or its other
    parts alone fire too often), so that a review names each one rather than leaving a
    rule above the share unmentioned."""
    limit = review.facts.get("max_alert_share")
    if limit is None or review.table.empty:
        return []
    n = review.facts.get("customers") or 0
    table = review.table
    above = table[table["fired"] > limit * n]
    return [dict(row) for row in above.to_dict("records")]


def flagged_rules(review: AlertReview) -> list[dict[str, Any]]:
    """The rules the review flags (rows of its table with ``flags`` set: never fired,
    not evaluated, low precision...), in the table's order, with the reason it was not
    evaluated, when it was not, in ``not_evaluated``."""
    why = review.facts.get("not_evaluated") or {}
    flagged = review.table[review.table["flags"] != ""]
    return [
        {**{str(k): v for k, v in row.items()}, "not_evaluated": why.get(row["code"])}
        for row in flagged.to_dict("records")
    ]


def masks_at(masks: Mapping[tuple[str, str], np.ndarray], level: str, n: int) -> np.ndarray:
    """Customers with an alert at ``level`` from any rule."""
    out = np.zeros(n, dtype=bool)
    for (_code, lvl), mask in masks.items():
        if lvl == level:
            out |= mask
    return out


def _lead_days(frame: pd.DataFrame, as_of: str | None, column: str) -> np.ndarray | None:
    if column not in frame.columns and column == "bad_date" and "label_date" in frame.columns:
        column = "label_date"  # a frame not from join_outcomes
    if column not in frame.columns or as_of is None:
        return None
    dates = pd.to_datetime(frame[column], errors="coerce")
    if dates.isna().all():
        return None
    days = (dates - pd.Timestamp(as_of)).dt.days.astype("float64")
    return days.to_numpy()


__all__ = [
    "COUNT_COLUMNS",
    "MOST_SHARE",
    "AlertReview",
    "alert_effectiveness",
    "flagged_rules",
    "masks_at",
    "over_share",
    "rule_values",
    "suggest_threshold",
]
