"""The plain data of a customer's risk report (see :mod:`custrisk.report.context`)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from custrisk.errors import DataError
from custrisk.report.config import ReportConfig
from custrisk.report.context import (
    MAX_REASONS,
    RISKIER,
    SAFER,
    PortfolioStats,
    _as_list,
    _date_text,
    _due_text,
    _header,
    _indicator_meta,
    _level_info,
    _masked_middle,
    _masked_name,
    _owner,
    _policy_grades,
    _severity,
    _text,
    grade_info,
    grade_policy,
    portfolio_stats,
)
from custrisk.report.formatting import Formatter, finite
from custrisk.report.inputs import ReportInputs
from custrisk.results import INDICATOR_PREFIX


def _gauge(
    score: float | None, stats: PortfolioStats, config: ReportConfig, run: Mapping[str, Any]
) -> dict[str, Any]:
    """The score gauge's range, marker and one arc per grade.

    The arcs are the policy's score bands as the run recorded them, clipped to the
    gauge's ``score_range``: a grade nobody holds this month still has its arc, and the
    cut-offs do not move with the data. Only a run without bands (scored without a
    policy, or a policy recording no scores) falls back to the scores observed per
    grade, with each boundary halfway between neighbouring grades.
    """
    low, high = config.score_range
    bands = []
    for grade, entry in _policy_grades(run).items():
        lo, hi = finite(entry.get("min_score")), finite(entry.get("max_score"))
        if lo is None and hi is None:
            continue
        bands.append((grade, low if lo is None else lo, high if hi is None else hi))
    segments = []
    if bands:
        for grade, lo, hi in sorted(bands, key=lambda band: (band[1], band[2])):
            start, end = max(low, lo), min(high, hi)
            if end > start:
                segments.append({"grade": grade, "from": start, "to": end})
        return {"min": low, "max": high, "value": score, "segments": segments}
    ranges = sorted(stats.grade_ranges.items(), key=lambda item: (item[1][0] + item[1][1]) / 2)
    for i, (grade, (_lo, _hi)) in enumerate(ranges):
        start = low if i == 0 else max(low, min(high, (ranges[i - 1][1][1] + ranges[i][1][0]) / 2))
        end = (
            high
            if i == len(ranges) - 1
            else max(low, min(high, (ranges[i][1][1] + ranges[i + 1][1][0]) / 2))
        )
        if end > start:
            segments.append({"grade": grade, "from": start, "to": end})
    return {"min": low, "max": high, "value": score, "segments": segments}


# -- customer ----------------------------------------------------------------------------


def _reasons(
    row: Mapping[str, Any],
    detail: Mapping[str, Any],
    *,
    run: Mapping[str, Any],
    stats: PortfolioStats,
    fmt: Formatter,
    lang: str,
) -> list[dict[str, Any]]:
    tree = run.get("algorithm") == "tree"
    out = []
    for rank in range(1, MAX_REASONS + 1):
        code = _text(row.get(f"reason_{rank}_code")) or _text(detail.get(f"reason_{rank}_code"))
        if code is None:
            if f"reason_{rank}_code" not in row and f"reason_{rank}_code" not in detail:
                break
            continue
        meta = _indicator_meta(run, code, lang, fmt.config.texts[lang])
        if code not in (run.get("indicators") or {}):
            meta["label"] = _text(row.get(f"reason_{rank}_label")) or code
        raw = detail.get(f"{INDICATOR_PREFIX}{code}")
        if raw is None or (isinstance(raw, float) and math.isnan(raw)):
            raw = detail.get(f"reason_{rank}_value")
            raw = finite(raw) if finite(raw) is not None else _text(raw)
        impact = finite(detail.get(f"reason_{rank}_impact"))
        if impact is None:
            impact_text = fmt.missing
        elif tree:
            impact_text = "+" + fmt.percent(impact, 2)
        else:
            impact_text = f"-{fmt.integer(abs(impact))}"
        out.append(
            {
                "rank": rank,
                "code": code,
                "label": meta["label"],
                "value_text": (
                    fmt.value(raw, meta["unit"])
                    if raw is not None
                    else fmt.config.texts[lang].get("no_data", fmt.missing)
                ),
                "percentile": stats.percentile(code, raw),
                "impact": impact,
                "impact_text": impact_text,
            }
        )
    return out


def _flag(percentile: int | None, direction: str, share: float) -> bool:
    if percentile is None:
        return False
    if direction == RISKIER:
        return percentile >= 100 * (1 - share)
    if direction == SAFER:
        return percentile <= 100 * share
    return False


def _key_indicators(
    detail: Mapping[str, Any],
    *,
    run: Mapping[str, Any],
    stats: PortfolioStats,
    config: ReportConfig,
    fmt: Formatter,
    lang: str,
) -> list[dict[str, Any]]:
    codes = list(config.key_indicators) or [
        code for code, meta in (run.get("indicators") or {}).items() if meta.get("in_model")
    ]
    out = []
    for code in codes:
        column = f"{INDICATOR_PREFIX}{code}"
        if column not in detail:
            continue
        meta = _indicator_meta(run, code, lang, fmt.config.texts[lang])
        value = detail[column]
        percentile = stats.percentile(code, value)
        out.append(
            {
                "code": code,
                "label": meta["label"],
                "value_text": fmt.value(value, meta["unit"]),
                "median_text": fmt.value(stats.median(code), meta["unit"]),
                "percentile": percentile,
                "flag": _flag(percentile, meta["direction"], config.flag_riskiest_share),
            }
        )
    return out


def _alert_rows(
    customer_id: str,
    row: Mapping[str, Any],
    *,
    stats: PortfolioStats,
    config: ReportConfig,
    lang: str,
) -> list[dict[str, Any]]:
    other = "en" if lang == "zh" else "zh"
    records = stats.alerts_by_customer.get(customer_id, [])
    out: list[dict[str, Any]] = []
    if stats.alerts_loaded:
        for record in records:
            level = _level_info(record.get("level"), config, lang)
            out.append(
                {
                    "code": _text(record.get("code")),
                    "level": level,
                    "message": _text(record.get(f"message_{lang}"))
                    or _text(record.get(f"message_{other}")),
                    "actions": _as_list(
                        _text(record.get(f"actions_{lang}"))
                        or _text(record.get(f"actions_{other}"))
                    ),
                    "owner": _owner(record.get("owner"), config, lang),
                    "due_by": _due_text(record.get("due_by")),
                    "response_hours": finite(record.get("response_hours")),
                }
            )
    elif _text(row.get("alert_codes")):
        level = _level_info(row.get("alert_level"), config, lang)
        for code in _as_list(row.get("alert_codes")):
            out.append(
                {
                    "code": code,
                    "level": level,
                    "message": None,
                    "actions": [],
                    "owner": None,
                    "due_by": None,
                    "response_hours": None,
                }
            )
    out.sort(key=lambda a: (_severity(a["level"] and a["level"]["code"], config), a["code"] or ""))
    return out


def _history(
    customer_id: str, row: Mapping[str, Any], inputs: ReportInputs, fmt: Formatter, as_of: str
) -> list[dict[str, Any]]:
    """Score, PD and grade of earlier runs (``--history``), then this run.

    Without history files, the previous run's score that ``custrisk score --previous``
    wrote (``prev_score``, ``prev_grade``) gives a two-point history.
    """
    points = []
    for run in inputs.history:
        if run.as_of >= as_of or customer_id not in run.frame.index:
            continue
        past = run.frame.loc[customer_id]
        points.append(
            {
                "as_of": run.as_of,
                "score": finite(past.get("score")),
                "pd_text": fmt.pd(past.get("pd")),
                "grade": _text(past.get("grade")),
            }
        )
    previous_as_of = _text((inputs.run.get("migration") or {}).get("previous_as_of"))
    if (
        not points
        and finite(row.get("prev_score")) is not None
        and previous_as_of
        and previous_as_of < as_of
    ):
        points.append(
            {
                "as_of": previous_as_of,
                "score": finite(row.get("prev_score")),
                "pd_text": fmt.missing,
                "grade": _text(row.get("prev_grade")),
            }
        )
    if not points:
        return []
    points.append(
        {
            "as_of": as_of,
            "score": finite(row.get("score")),
            "pd_text": fmt.pd(row.get("pd")),
            "grade": _text(row.get("grade")),
        }
    )
    return points


def build_customer_context(
    inputs: ReportInputs,
    customer_id: str,
    *,
    config: ReportConfig,
    lang: str = "zh",
    stats: PortfolioStats | None = None,
    report_date: dt.date | None = None,
) -> dict[str, Any]:
    """The data of one customer's risk report.

    Parameters
    ----------
    inputs : ReportInputs
        The scoring run (scores, details, run facts, alerts, history).
    customer_id : str
        The customer to report on.
    config : ReportConfig
        Bands, LGD, key indicators, labels.
    lang : {"zh", "en"}
        Language of the labels and number formats.
    stats : PortfolioStats, optional
        Portfolio facts (percentiles); computed from ``inputs`` when not given (pass it
        when building many contexts).
    report_date : datetime.date, optional
        The date printed on the report (default: today).

    Returns
    -------
    dict
        Plain data: JSON-serialisable, no markup.

    Raises
    ------
    DataError
        When the customer is not in the scores or has no row in the details.
    """
    header = _header(inputs, config, lang, report_date)
    stats = stats if stats is not None else portfolio_stats(inputs)
    fmt = Formatter(config, lang)
    scores = inputs.scores
    matches = scores.index[scores["customer_id"] == customer_id]
    if not len(matches):
        raise DataError(
            f"customer {customer_id!r} is not in the scores", file=str(inputs.scores_path)
        )
    row = {str(k): v for k, v in scores.loc[matches[0]].to_dict().items()}
    if customer_id not in inputs.details.index:
        raise DataError(
            f"customer {customer_id!r} has no row in the details file",
            file=str(inputs.scores_path),
            hint="score the customers again so that scores and details match",
        )
    detail = {str(k): v for k, v in inputs.details.loc[customer_id].to_dict().items()}
    run = inputs.run
    score = finite(row.get("score"))
    pd_value = finite(row.get("pd"))
    grade = grade_info(
        row.get("grade"), run=run, config=config, lang=lang, fallback_label=row.get("grade_label")
    )
    current = finite(row.get("current_limit"))
    if current is None:
        current = finite(detail.get("credit_limit"))
    recommended = finite(row.get("recommended_limit"))
    change = finite(row.get("limit_change"))
    if change is None and current is not None and recommended is not None:
        change = recommended - current
    outstanding = finite(detail.get("outstanding_balance"))
    expected_loss = (
        pd_value * outstanding * config.lgd
        if pd_value is not None and outstanding is not None
        else None
    )
    alerts = _alert_rows(customer_id, row, stats=stats, config=config, lang=lang)
    level = _level_info(row.get("alert_level"), config, lang) or (
        alerts[0]["level"] if alerts else None
    )
    review = row.get("review_flag")
    history = _history(customer_id, row, inputs, fmt, header["as_of"] or "")
    return {
        "kind": "customer",
        **header,
        "customer": {
            "id": customer_id,
            "name": _masked_name(detail.get("name_masked")),
            "phone": _masked_middle(detail.get("phone_masked")),
            "id_number": _masked_middle(detail.get("id_number_masked")),
            "region": _text(detail.get("region")),
            "industry": _text(detail.get("industry")),
            "customer_since": _date_text(detail.get("customer_since")),
            "annual_income_text": fmt.money(detail.get("annual_income")),
        },
        "score": {
            "value": score,
            "text": fmt.integer(score),
            "pd": pd_value,
            "pd_text": fmt.pd(pd_value),
            "gauge": _gauge(score, stats, config, run),
        },
        "grade": grade,
        "alert_level": level,
        "limits": {
            "current": current,
            "current_text": fmt.money_tile(current),
            "recommended": recommended,
            "recommended_text": fmt.money_tile(recommended),
            "change": change,
            "change_text": fmt.money_tile(change, signed=True),
            "change_sign": 0 if not change else (1 if change > 0 else -1),
            "review_flag": bool(review) if isinstance(review, bool | np.bool_) else None,
        },
        "exposure": {
            "outstanding": outstanding,
            "outstanding_text": fmt.money_tile(outstanding),
            "overdue_text": fmt.money_tile(detail.get("overdue_amount")),
            "expected_loss": expected_loss,
            "expected_loss_text": fmt.money_tile(expected_loss),
            "lgd_text": fmt.percent(config.lgd, 0),
        },
        "impact_kind": "contribution" if run.get("algorithm") == "tree" else "points_lost",
        "reasons": _reasons(row, detail, run=run, stats=stats, fmt=fmt, lang=lang),
        "indicators": _key_indicators(
            detail, run=run, stats=stats, config=config, fmt=fmt, lang=lang
        ),
        # the most severe alerts, with their actions; the others named by level and code
        # (reports.yaml's customer_alerts keeps the report to one page)
        "alerts": alerts[: config.customer_alerts],
        "more_alerts": [
            {"code": a["code"], "level": a["level"]} for a in alerts[config.customer_alerts :]
        ],
        "policy": grade_policy(
            grade["code"] if grade else None, run=run, config=config, lang=lang, fmt=fmt
        ),
        "history": history,
        # earlier runs were given (or compared by score --previous) but hold no score
        # of this customer: a new customer, said rather than a history section gone
        "first_scored": not history
        and (
            any(h.as_of < (header["as_of"] or "") for h in inputs.history)
            or bool((run.get("migration") or {}).get("previous_as_of"))
        ),
    }


# -- portfolio ---------------------------------------------------------------------------
