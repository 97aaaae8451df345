"""Back-test a past scoring run against the outcomes observed since.

By grade: customers, exposure, bad rate, expected against observed loss, limit
utilisation, and a binomial test of the grade's PD calibration; whether bad rates rise
grade by grade; the Gini of the grade ordering (and of the score, for comparison).
Pure functions over a run's tables; presenting and writing live in
:mod:`custrisk.review.output`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from custrisk.errors import DataError, UsageError
from custrisk.estimators.metrics import gini
from custrisk.results import ScoringRun

#: A grade's PD is called miscalibrated when the two-sided binomial test of its bad
#: count against customers x mean PD has a p-value below this.
CALIBRATION_ALPHA = 0.05


#: The outcomes an alert rule can be judged against: kind -> (0/1 column, date column).
#: ``bad`` is every labels file's target; ``churned`` and ``escalated`` are optional
#: columns of the outcomes file; ``any`` is one of them happening (the earliest date).
OUTCOME_KINDS: Mapping[str, tuple[str, str]] = {
    "bad": ("bad", "bad_date"),
    "churned": ("churned", "churn_date"),
    "escalated": ("escalated", "escalation_date"),
    "any": ("any_outcome", "any_outcome_date"),
}
_OPTIONAL_KINDS = ("churned", "escalated")
_FLAG_WORDS = {"true": 1, "false": 0, "yes": 1, "no": 0, "是": 1, "否": 0, "1": 1, "0": 0}


@dataclass(frozen=True)
class Outcomes:
    """A run's customers joined with the outcomes observed since.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per customer of the run that has an outcome: the scores columns, the
        exposure (``outstanding_balance``), ``bad`` (0/1), ``bad_date`` (from
        ``bad_date`` or ``label_date``, when the outcomes file has dates; ``label_date``
        is kept as given), the optional outcomes ``churned`` and ``escalated`` (0/1,
        blank when unknown) with ``churn_date`` and ``escalation_date``, and
        ``any_outcome`` / ``any_outcome_date`` (one of the kinds present happened, and
        the earliest date it did).
    unmatched : int
        Customers of the run without an outcome (left out).
    extra : int
        Outcomes of customers not in the run (ignored).
    lost_zeros : int
        Of those, the ids that are ids of the run once padded with leading zeros.
    kinds : tuple of str
        The kinds of outcome the file holds: ``bad`` and those of ``churned`` and
        ``escalated`` that have a value for at least one customer of the run.
    """

    frame: pd.DataFrame
    unmatched: int
    extra: int
    kinds: tuple[str, ...] = ("bad",)
    lost_zeros: int = 0


def _flags(values: pd.Series, name: str, source: str) -> pd.Series:
    """A 0/1 outcome column (0/1, true/false, yes/no, 是/否; blank = unknown) as Int64."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype("Int64")
    text = values.astype("string").str.strip().str.lower()
    flags = text.map(_FLAG_WORDS, na_action="ignore")
    numbers = pd.to_numeric(values, errors="coerce")
    flags = flags.where(flags.notna(), numbers.where(numbers.isin([0, 1])))
    wrong = text.notna() & (text != "") & flags.isna()
    if wrong.any():
        shown = sorted(set(text[wrong].tolist()))[:3]
        raise DataError(
            f"{name} must be 0/1 or true/false; found {shown}",
            file=source,
            column=name,
            hint=f"code a customer who {name} as 1 and one who did not as 0 (blank: unknown)",
        )
    return flags.astype("Float64").astype("Int64")


def _dates(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    return pd.to_datetime(frame[name], errors="coerce")


def join_outcomes(run: ScoringRun, outcomes: pd.DataFrame, *, source: str = "outcomes") -> Outcomes:
    """The run's customers with their outcomes (``customer_id``, ``bad``[, ``bad_date`` or
    ``label_date``][, ``churned``, ``churn_date``, ``escalated``, ``escalation_date``]).

    Raises
    ------
    DataError
        When the outcomes lack a column, or no customer of the run has an outcome, or
        the outcomes have only goods or only bads, or an outcome is not 0/1.
    """
    missing = [c for c in ("customer_id", "bad") if c not in outcomes.columns]
    if missing:
        raise DataError(
            f"the outcomes lack the column(s) {', '.join(missing)}",
            file=source,
            hint="give a labels file with customer_id,bad[,label_date]",
        )
    scores = run.scores
    wanted_columns = (
        "customer_id",
        "bad",
        "bad_date",
        "label_date",
        "churned",
        "churn_date",
        "escalated",
        "escalation_date",
    )
    keep = [c for c in wanted_columns if c in outcomes.columns]
    labelled = outcomes.loc[:, keep].drop_duplicates("customer_id", keep="last")
    labelled = labelled.assign(customer_id=labelled["customer_id"].astype(str))
    table = scores.assign(customer_id=scores["customer_id"].astype(str))
    details = run.details
    if len(details) and "customer_id" in details.columns:
        wanted = [c for c in details.columns if c == "outstanding_balance"]
        if wanted:
            table = table.merge(
                details.loc[:, ["customer_id", *wanted]].assign(
                    customer_id=details["customer_id"].astype(str)
                ),
                on="customer_id",
                how="left",
            )
    if "outstanding_balance" not in table.columns:
        table["outstanding_balance"] = np.nan
    joined = table.merge(labelled, on="customer_id", how="inner")
    outside = labelled["customer_id"][~labelled["customer_id"].isin(table["customer_id"])]
    padded = _lost_zeros(table["customer_id"], outside)
    if joined.empty:
        raise DataError(
            "no customer of the run has an outcome (no customer_id in common)",
            file=source,
            hint=(
                f"the outcome ids lost their leading zeros ({padded.example}): export "
                "them as text, or pad them to the run's ids"
                if padded.count
                else "give the outcomes of the run's customers"
            ),
        )
    joined["bad"] = pd.to_numeric(joined["bad"], errors="coerce")
    bad_values = set(joined["bad"].dropna().unique().tolist())
    if not bad_values <= {0, 1}:
        raise DataError(
            f"bad must be 0 or 1; found {sorted(bad_values - {0, 1})[:3]}",
            file=source,
            hint="code a bad outcome as 1 and a good one as 0",
        )
    joined = joined.dropna(subset=["bad"]).astype({"bad": np.int64}).reset_index(drop=True)
    bad_date = _dates(joined, "bad_date")
    if "label_date" in joined.columns:
        bad_date = bad_date.fillna(_dates(joined, "label_date"))
    if "bad_date" in joined.columns or "label_date" in joined.columns:
        joined["bad_date"] = bad_date
    kinds = ["bad"]
    for kind in _OPTIONAL_KINDS:
        column, date = OUTCOME_KINDS[kind]
        if column in joined.columns:
            joined[column] = _flags(joined[column], column, source)
            if joined[column].notna().any():
                kinds.append(kind)
        if date in joined.columns:
            joined[date] = _dates(joined, date)
    _add_any(joined, kinds)
    return Outcomes(
        joined, len(table) - len(joined), len(outside), tuple(kinds), lost_zeros=padded.count
    )


@dataclass(frozen=True)
class _Padded:
    count: int = 0
    example: str = ""


def _lost_zeros(run_ids: pd.Series, outside: pd.Series) -> _Padded:
    """Outcome ids not in the run that are run ids once padded with leading zeros (an
    id column that went through a spreadsheet as numbers): how many, and one of them
    as ``1 for 0000000001``."""
    digits = run_ids[run_ids.str.fullmatch(r"\d+")]
    if not len(outside) or not len(digits):
        return _Padded()
    width = int(digits.str.len().max())
    short = outside[outside.str.fullmatch(r"\d+") & (outside.str.len() < width)]
    padded = short.str.zfill(width)
    hits = padded.isin(run_ids)
    if not hits.any():
        return _Padded()
    first = int(np.argmax(hits.to_numpy()))
    return _Padded(int(hits.sum()), f"{short.iloc[first]} for {padded.iloc[first]}")


_KIND_HEADERS = {"churned": "流失", "escalated": "升级"}
#: Other words for the kinds (the README says "churn and escalation"; the headers).
_KIND_ALIASES = {
    "churn": "churned",
    "escalation": "escalated",
    "default": "bad",
    "违约": "bad",
    "流失": "churned",
    "升级": "escalated",
}


def select_kinds(
    outcomes: Outcomes, wanted: str | Sequence[str] | None, *, source: str = "outcomes"
) -> tuple[str, ...]:
    """The kinds of outcome to judge the alert rules against: ``wanted`` (``bad``,
    ``churned``, ``escalated``, ``any``; a comma-separated text or a sequence), or every
    kind the outcomes hold when ``None``.

    Raises
    ------
    UsageError
        For a kind custrisk does not know.
    DataError
        For a kind the outcomes file does not hold (no column, or only blanks).
    """
    if wanted is None:
        return outcomes.kinds
    names = wanted.split(",") if isinstance(wanted, str) else list(wanted)
    chosen: list[str] = []
    for raw in names:
        text = str(raw).strip().lower()
        kind = _KIND_ALIASES.get(text, text)
        if kind not in OUTCOME_KINDS:
            raise UsageError(
                f"--outcome must be {', '.join(OUTCOME_KINDS)} (or several, comma-separated); "
                f"got {raw!r}"
            )
        if kind not in outcomes.kinds and kind != "any":
            column, date = OUTCOME_KINDS[kind]
            raise DataError(
                f"--outcome {kind}: the outcomes have no '{column}' column (or it is blank "
                "for every customer of the run)",
                file=source,
                hint=f"add a {column} column (0/1 or true/false; header {column} or "
                f"{_KIND_HEADERS.get(kind, column)}, {date} for lead times), or leave out "
                f"--outcome {kind}",
            )
        if kind not in chosen:
            chosen.append(kind)
    return tuple(chosen)


def _add_any(frame: pd.DataFrame, kinds: Sequence[str]) -> None:
    """``any_outcome``: 1 when one of ``kinds`` happened, 0 when none did and all are
    known, blank otherwise; ``any_outcome_date``: the earliest date of those that did."""
    happened = np.zeros(len(frame), dtype=bool)
    unknown = np.zeros(len(frame), dtype=bool)
    earliest = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    for kind in kinds:
        column, date = OUTCOME_KINDS[kind]
        values = frame[column].astype("Int64")
        hit = values.eq(1).fillna(False).to_numpy(dtype=bool)
        happened |= hit
        unknown |= values.isna().to_numpy()
        if date in frame.columns:
            dated = _dates(frame, date).astype("datetime64[ns]").where(hit)
            earliest = earliest.where(earliest.notna() & ~(dated < earliest), dated)
    flags = pd.array(happened.astype(np.int64), dtype="Int64")
    flags[~happened & unknown] = pd.NA
    frame["any_outcome"] = flags
    frame["any_outcome_date"] = earliest


def rate_inversions(grades: Sequence[str], rates: np.ndarray) -> list[tuple[str, str]]:
    """The neighbouring grades (best first) whose bad rate falls from one to the next
    riskier one: empty when bad rates rise grade by grade."""
    return [(grades[i], grades[i + 1]) for i in range(len(rates) - 1) if rates[i + 1] < rates[i]]


def policy_grades(facts: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The run's grades (best first) from its facts: code, rank, labels, band, review."""
    grades = [g for g in (facts.get("policy") or {}).get("grades") or [] if isinstance(g, dict)]
    return sorted(grades, key=lambda g: int(g.get("rank", 0)))


@dataclass(frozen=True)
class GradeBacktest:
    """The back-test of a run's grades.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per grade, best first: ``grade``, ``customers``, ``share``, ``bads``,
        ``bad_rate``, ``mean_pd``, ``expected_bads``, ``exposure`` (the outstanding
        balance; the current limit when the run has no balances:
        ``facts["exposure_is"]``), ``limit`` (current limits), ``utilisation``,
        ``expected_loss`` and ``observed_loss`` (on the exposure), ``loss_ratio``
        (observed / expected), ``p_value`` (binomial test), ``calibration`` (``ok``,
        ``under-predicted``, ``over-predicted`` or ``too few`` customers).
    monotone : bool
        Bad rates never fall from a grade to the next riskier one (grades without
        customers skipped).
    inversions : list of (str, str)
        Pairs of neighbouring grades where the riskier one has the lower bad rate.
    gini_grades, gini_score : float or None
        Gini of the grade ordering and of the score against the outcomes (``None``
        when the outcomes are all good or all bad).
    facts : dict
        Totals and settings (customers, bads, unmatched, lgd, ...).
    """

    table: pd.DataFrame
    monotone: bool
    inversions: list[tuple[str, str]]
    gini_grades: float | None
    gini_score: float | None
    facts: dict[str, Any] = field(default_factory=dict)


def backtest_grades(
    outcomes: Outcomes, grades: Sequence[Mapping[str, Any]], *, lgd: float = 1.0
) -> GradeBacktest:
    """Bad rates, losses and calibration by grade; ``grades`` best first (see
    :func:`policy_grades`)."""
    if not 0 < lgd <= 1 or not math.isfinite(lgd):
        raise UsageError(f"--lgd must be a share above 0 and at most 1; got {lgd!r}")
    frame = outcomes.frame
    codes = [str(g["code"]) for g in grades] or sorted(frame["grade"].astype(str).unique())
    extra = sorted(set(frame["grade"].astype(str)) - set(codes))
    codes += extra
    exposure = pd.to_numeric(frame["outstanding_balance"], errors="coerce")
    limit = (
        pd.to_numeric(frame["current_limit"], errors="coerce")
        if "current_limit" in frame.columns
        else pd.Series(np.nan, index=frame.index)
    )
    exposure_is = "outstanding_balance"
    if exposure.isna().all():  # no balances in the run: the limit is the exposure
        exposure, exposure_is = limit, "current_limit"
    work = pd.DataFrame(
        {
            "grade": frame["grade"].astype(str),
            "bad": frame["bad"].to_numpy(),
            "pd": pd.to_numeric(frame["pd"], errors="coerce"),
            "exposure": exposure.fillna(0.0).to_numpy(),
            "limit": limit.fillna(0.0).to_numpy(),
        }
    )
    work["el"] = work["pd"] * work["exposure"] * lgd
    work["ol"] = work["bad"] * work["exposure"] * lgd
    rows = []
    total = len(work)
    for code in codes:
        part = work[work["grade"] == code]
        n = len(part)
        bads = int(part["bad"].sum())
        mean_pd = float(part["pd"].mean()) if n else math.nan
        expected_loss = float(part["el"].sum())
        observed_loss = float(part["ol"].sum())
        p_value, verdict = _calibration(bads, n, mean_pd)
        exposure_sum = float(part["exposure"].sum())
        limit_sum = float(part["limit"].sum())
        rows.append(
            {
                "grade": code,
                "customers": n,
                "share": n / total if total else math.nan,
                "bads": bads,
                "bad_rate": bads / n if n else math.nan,
                "mean_pd": mean_pd,
                "expected_bads": mean_pd * n if n else 0.0,
                "exposure": exposure_sum,
                "limit": limit_sum,
                "utilisation": exposure_sum / limit_sum if limit_sum > 0 else math.nan,
                "expected_loss": expected_loss,
                "observed_loss": observed_loss,
                "loss_ratio": observed_loss / expected_loss if expected_loss > 0 else math.nan,
                "p_value": p_value,
                "calibration": verdict,
            }
        )
    table = pd.DataFrame(rows)
    populated = table[table["customers"] > 0]
    inversions = rate_inversions(populated["grade"].tolist(), populated["bad_rate"].to_numpy())
    rank = {code: i + 1 for i, code in enumerate(codes)}
    both = work["bad"].nunique() == 2
    gini_grades = gini(work["bad"], work["grade"].map(rank)) if both else None
    scores = pd.to_numeric(frame["score"], errors="coerce")
    gini_score = gini(work["bad"], -scores.fillna(scores.min())) if both else None
    bads = int(work["bad"].sum())
    facts = {
        "customers": total,
        "bads": bads,
        "bad_rate": bads / total if total else None,
        "unmatched": outcomes.unmatched,
        "extra_outcomes": outcomes.extra,
        "extra_outcomes_lost_zeros": outcomes.lost_zeros,
        "lgd": lgd,
        "expected_loss": float(work["el"].sum()),
        "observed_loss": float(work["ol"].sum()),
        "exposure": float(work["exposure"].sum()),
        "exposure_is": exposure_is,
        "calibration_alpha": CALIBRATION_ALPHA,
        "monotone": not inversions,
        "inversions": [list(pair) for pair in inversions],
        "gini_grades": gini_grades,
        "gini_score": gini_score,
    }
    return GradeBacktest(table, not inversions, inversions, gini_grades, gini_score, facts)


def _calibration(bads: int, n: int, mean_pd: float) -> tuple[float, str]:
    """Two-sided exact binomial test of ``bads`` among ``n`` against the mean PD."""
    if n == 0 or not math.isfinite(mean_pd):
        return math.nan, "no customers"
    p = min(max(mean_pd, 1e-12), 1 - 1e-12)
    if n * p < 1 and bads == 0:  # not even one bad expected: the test cannot say much
        return 1.0, "too few"
    p_value = float(binomtest(bads, n, p, alternative="two-sided").pvalue)
    if p_value >= CALIBRATION_ALPHA:
        return p_value, "ok"
    return p_value, "under-predicted" if bads > n * p else "over-predicted"


__all__ = [
    "CALIBRATION_ALPHA",
    "OUTCOME_KINDS",
    "GradeBacktest",
    "Outcomes",
    "backtest_grades",
    "join_outcomes",
    "policy_grades",
    "select_kinds",
]
