"""Report contexts: the plain data (dicts, lists, numbers, text) a template renders.

Nothing here knows about HTML or PDF. A context holds raw numbers for charts next to
their display text in the report's language; labels of indicators, grades and alerts
come from the scoring run (``scores.run.json``), the alerts file or the report config.
Identity fields are the masked columns of the details file; a value that does not look
masked is masked again here (defence in depth).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from custrisk.errors import DataError
from custrisk.privacy import mask_middle_value, mask_name_value
from custrisk.report.config import LANGUAGES, ReportConfig, lang_text
from custrisk.report.formatting import Formatter, finite
from custrisk.report.inputs import ReportInputs
from custrisk.results import INDICATOR_PREFIX

log = logging.getLogger(__name__)

MAX_REASONS = 10
#: Drift tables with more statistics list only those that are not stable.
DRIFT_ROWS_ALWAYS = 12
_ACTION_SPLIT = re.compile(r"\s*(?:；|;|\n)\s*")
RISKIER = "higher_is_riskier"
SAFER = "higher_is_safer"


@dataclass
class PortfolioStats:
    """Facts about the whole portfolio that every customer report needs, computed once.

    Attributes
    ----------
    sorted_values : dict
        Indicator code -> sorted non-missing values of all customers.
    grade_ranges : dict
        Grade -> (lowest, highest) score observed in the portfolio.
    alerts_by_customer : dict
        Customer id -> the rows of the alerts file for that customer.
    alerts_loaded : bool
        Whether there was an alerts file (else alert codes come from the scores).
    """

    sorted_values: dict[str, np.ndarray] = field(default_factory=dict)
    grade_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    alerts_by_customer: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    alerts_loaded: bool = False

    def percentile(self, code: str, value: Any) -> int | None:
        """Mid-rank percentile (0-100) of ``value`` among all customers' values of ``code``."""
        values = self.sorted_values.get(code)
        number = finite(value)
        if values is None or not len(values) or number is None:
            return None
        below = np.searchsorted(values, number, side="left")
        upto = np.searchsorted(values, number, side="right")
        return round(100 * (below + upto) / 2 / len(values))

    def median(self, code: str) -> float | None:
        values = self.sorted_values.get(code)
        return float(np.median(values)) if values is not None and len(values) else None


def portfolio_stats(inputs: ReportInputs) -> PortfolioStats:
    """Percentile tables, grade score ranges and alerts per customer, for one run."""
    stats = PortfolioStats()
    details = inputs.details.reindex(inputs.scores["customer_id"])
    for column in details.columns:
        if not str(column).startswith(INDICATOR_PREFIX):
            continue
        if not pd.api.types.is_numeric_dtype(details[column]):
            continue
        values = details[column].to_numpy(dtype=np.float64, na_value=np.nan)
        values = values[np.isfinite(values)]
        stats.sorted_values[str(column)[len(INDICATOR_PREFIX) :]] = np.sort(values)
    scores = inputs.scores
    if "grade" in scores.columns:
        graded = scores.dropna(subset=["grade"])
        for grade, group in graded.groupby("grade", sort=True):
            stats.grade_ranges[str(grade)] = (
                float(group["score"].min()),
                float(group["score"].max()),
            )
    if inputs.alerts is not None:
        stats.alerts_loaded = True
        for record in inputs.alerts.to_dict(orient="records"):
            stats.alerts_by_customer.setdefault(str(record["customer_id"]), []).append(
                {str(k): v for k, v in record.items()}
            )
    return stats


# -- small helpers -----------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """Non-empty text of a cell, or None for missing/NaN/empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    return text or None


def _date_text(value: Any) -> str | None:
    if isinstance(value, pd.Timestamp | dt.date):
        return None if pd.isna(value) else value.strftime("%Y-%m-%d")
    text = _text(value)
    return text[:10] if text else None


def _due_text(value: Any) -> str | None:
    """``2026-11-01`` or ``2026-11-01 14:00`` (the time only when it is not midnight)."""
    text = _text(value)
    if text is None:
        return None
    day, _, time = text.replace("T", " ").partition(" ")
    time = time[:5]
    return f"{day} {time}" if time and time not in ("00:00", "0:00") else day


def _owner(value: Any, config: ReportConfig, lang: str) -> str | None:
    code = _text(value)
    if code is None:
        return None
    labels = config.owners.get(code)
    return labels[lang] if labels else code


def _masked_name(value: Any) -> str | None:
    text = _text(value)
    if text is None or "*" in text:
        return text
    log.warning("a name in the details is not masked; masking it for the report")
    return mask_name_value(text)


def _masked_middle(value: Any) -> str | None:
    text = _text(value)
    if text is None or "*" in text:
        return text
    log.warning("a phone or id number in the details is not masked; masking it for the report")
    return mask_middle_value(text)


def _indicator_meta(run: Mapping[str, Any], code: str, lang: str) -> dict[str, Any]:
    meta = (run.get("indicators") or {}).get(code) or {}
    return {
        "label": lang_text({k: meta.get(k) for k in LANGUAGES}, lang) or code,
        "unit": meta.get("unit") or "",
        "direction": meta.get("direction") or "none",
    }


def _policy_grades(run: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The grade definitions of the run's policy, keyed by grade (tolerant of shapes)."""
    policy = run.get("policy") or {}
    grades = policy.get("grades") or policy.get("grade_definitions") or {}
    if isinstance(grades, list):
        grades = {
            str(item.get("grade") or item.get("code")): item
            for item in grades
            if isinstance(item, Mapping)
        }
    if not isinstance(grades, Mapping):
        return {}
    return {str(k): v for k, v in grades.items() if isinstance(v, Mapping)}


def _pick_lang(entry: Mapping[str, Any], name: str, lang: str) -> Any:
    """``entry[name_<lang>]``, ``entry[name][lang]`` or ``entry[name]``, then the other
    language: the policy writes ``label_zh``/``label_en``, other tools ``{zh, en}``."""
    other = "en" if lang == "zh" else "zh"
    value = entry.get(name)
    candidates = [entry.get(f"{name}_{lang}")]
    if isinstance(value, Mapping):
        candidates += [value.get(lang), value.get(other)]
    else:
        candidates.append(value)
    candidates.append(entry.get(f"{name}_{other}"))
    return next((c for c in candidates if c not in (None, "", [], {})), None)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part for part in _ACTION_SPLIT.split(str(value).strip()) if part]


def _band_text(band: Any, fmt: Formatter) -> str | None:
    """``560 – 599`` (score band) or ``3.00% – 8.00%`` (PD band) from a policy band."""
    if band is None:
        return None
    if isinstance(band, str):
        return band
    if isinstance(band, list | tuple) and len(band) == 2:
        low, high, show = band[0], band[1], fmt.general
    elif isinstance(band, Mapping):

        def first(*keys: str) -> Any:
            return next((band[k] for k in keys if band.get(k) is not None), None)

        low = first("min_score", "score_min", "min", "low")
        high = first("max_score", "score_max", "max", "high")
        show = fmt.general
        if low is None and high is None:
            low, high, show = first("min_pd", "pd_min"), first("max_pd", "pd_max"), fmt.pd
    else:
        return str(band)
    low_text = show(low) if finite(low) is not None else None
    high_text = show(high) if finite(high) is not None else None
    if low_text and high_text:
        return f"{low_text} – {high_text}"
    if low_text:
        return f"≥ {low_text}"
    if high_text:
        return f"< {high_text}"
    return None


def grade_info(
    code: Any, *, run: Mapping[str, Any], config: ReportConfig, lang: str, fallback_label: Any
) -> dict[str, Any] | None:
    """Label, colour key and policy (actions, review frequency, band) of one grade."""
    grade = _text(code)
    if grade is None:
        return None
    entry = _policy_grades(run).get(grade, {})
    configured = config.grades.get(grade)
    label = (
        _text(_pick_lang(entry, "label", lang))
        or (configured.label(lang) if configured else None)
        or _text(fallback_label)
        or grade
    )
    return {
        "code": grade,
        "key": grade if configured else None,
        "label": label,
    }


def grade_policy(
    code: str | None, *, run: Mapping[str, Any], config: ReportConfig, lang: str, fmt: Formatter
) -> dict[str, Any] | None:
    """Actions, review frequency and band of a grade from the run's policy (or None)."""
    if code is None:
        return None
    entry = _policy_grades(run).get(code)
    if not entry:
        return None
    if lang == "en" or not entry.get("review_frequency_zh"):
        raw = entry.get("review_frequency")
        known = config.review_frequencies.get(raw) if isinstance(raw, str) else None
        review = known[lang] if known else _pick_lang(entry, "review_frequency", lang)
    else:
        review = entry["review_frequency_zh"]
    if review is None:
        months = next(
            (entry[k] for k in ("review_months", "review_frequency_months") if k in entry), None
        )
        review = fmt.value(months, "months") if finite(months) is not None else None
    band = (
        {"min_score": entry.get("min_score"), "max_score": entry.get("max_score")}
        if finite(entry.get("min_score")) is not None or finite(entry.get("max_score")) is not None
        else entry.get("band")
    )
    return {
        "actions": _as_list(_pick_lang(entry, "actions", lang)),
        "review_frequency": _text(review),
        "band": _band_text(band, fmt),
    }


def _level_info(level: Any, config: ReportConfig, lang: str) -> dict[str, Any] | None:
    code = _text(level)
    if code is None:
        return None
    code = code.lower()
    configured = config.alert_levels.get(code)
    return {
        "code": code,
        "key": code if configured else None,
        "label": configured.label(lang) if configured else code,
    }


def _severity(level: str | None, config: ReportConfig) -> int:
    order = list(config.alert_levels)
    return order.index(level) if level in order else len(order)


def _gauge(score: float | None, stats: PortfolioStats, config: ReportConfig) -> dict[str, Any]:
    low, high = config.score_range
    ranges = sorted(stats.grade_ranges.items(), key=lambda item: (item[1][0] + item[1][1]) / 2)
    segments = []
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
        meta = _indicator_meta(run, code, lang)
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
                "value_text": fmt.value(raw, meta["unit"]),
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
        meta = _indicator_meta(run, code, lang)
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


def _header(
    inputs: ReportInputs, config: ReportConfig, lang: str, report_date: dt.date | None
) -> dict[str, Any]:
    if lang not in LANGUAGES:
        from custrisk.errors import UsageError

        raise UsageError(f"--lang must be one of {', '.join(LANGUAGES)}; got {lang!r}")
    run = inputs.run
    scores = inputs.scores
    as_of = _text(run.get("as_of")) or (
        _date_text(scores["as_of"].iloc[0]) if "as_of" in scores.columns and len(scores) else None
    )
    model_id = _text(run.get("model_id")) or (
        _text(scores["model_id"].iloc[0]) if "model_id" in scores.columns and len(scores) else None
    )
    algorithm = _text(run.get("algorithm"))
    algorithm_label = (
        config.algorithms[algorithm][lang] if algorithm in config.algorithms else algorithm
    )
    return {
        "lang": lang,
        "report_date": (report_date or dt.date.today()).isoformat(),
        "company": config.company[lang],
        "as_of": as_of,
        "model_id": model_id,
        "algorithm": algorithm_label,
    }


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
            "gauge": _gauge(score, stats, config),
        },
        "grade": grade,
        "alert_level": level,
        "limits": {
            "current": current,
            "current_text": fmt.money(current),
            "recommended": recommended,
            "recommended_text": fmt.money(recommended),
            "change": change,
            "change_text": fmt.signed_money(change),
            "change_sign": 0 if not change else (1 if change > 0 else -1),
            "review_flag": bool(review) if isinstance(review, bool | np.bool_) else None,
        },
        "exposure": {
            "outstanding": outstanding,
            "outstanding_text": fmt.money(outstanding),
            "overdue_text": fmt.money(detail.get("overdue_amount")),
            "expected_loss": expected_loss,
            "expected_loss_text": fmt.money(expected_loss),
            "lgd_text": fmt.percent(config.lgd, 0),
        },
        "impact_kind": "contribution" if run.get("algorithm") == "tree" else "points_lost",
        "reasons": _reasons(row, detail, run=run, stats=stats, fmt=fmt, lang=lang),
        "indicators": _key_indicators(
            detail, run=run, stats=stats, config=config, fmt=fmt, lang=lang
        ),
        "alerts": alerts,
        "policy": grade_policy(
            grade["code"] if grade else None, run=run, config=config, lang=lang, fmt=fmt
        ),
        "history": history,
    }


# -- portfolio ---------------------------------------------------------------------------


def _pd_band_labels(edges: tuple[float, ...], fmt: Formatter) -> list[str]:
    texts = [fmt.percent(e, 0) if e * 100 == round(e * 100) else fmt.percent(e) for e in edges]
    labels = [f"< {texts[0]}"]
    labels += [f"{a} – {b}" for a, b in zip(texts, texts[1:], strict=False)]
    labels.append(f"≥ {texts[-1]}")
    return labels


def _exposure_band_labels(edges: tuple[float, ...], fmt: Formatter) -> list[str]:
    texts = [fmt.money_round(e) for e in edges]
    labels = [f"< {texts[0]}"]
    labels += [f"{a} – {b}" for a, b in zip(texts, texts[1:], strict=False)]
    labels.append(f"≥ {texts[-1]}")
    return labels


def _heat(value: float, top: float) -> int:
    if top <= 0 or value <= 0:
        return 0
    return max(1, min(4, math.ceil(4 * value / top)))


def _frame(inputs: ReportInputs, config: ReportConfig) -> pd.DataFrame:
    """Scores joined with the portfolio fields of the details (exposure, identity, KPIs)."""
    frame = inputs.scores.copy()
    details = inputs.details.reindex(frame["customer_id"])
    for column in ("outstanding_balance", "credit_limit", "name_masked", "region"):
        frame[column] = details[column].to_numpy() if column in details.columns else np.nan
    frame["exposure"] = pd.to_numeric(frame["outstanding_balance"], errors="coerce").fillna(0.0)
    frame["expected_loss"] = frame["pd"].fillna(0.0) * frame["exposure"] * config.lgd
    if "current_limit" not in frame.columns or frame["current_limit"].isna().all():
        frame["current_limit"] = pd.to_numeric(frame["credit_limit"], errors="coerce")
    return frame


def _grade_order(frame: pd.DataFrame, config: ReportConfig) -> list[str]:
    present = [str(g) for g in frame["grade"].dropna().unique()]
    ordered = [g for g in config.grades if g in present]
    return ordered + sorted(g for g in present if g not in config.grades)


def _grades_section(
    frame: pd.DataFrame, inputs: ReportInputs, config: ReportConfig, fmt: Formatter, lang: str
) -> list[dict[str, Any]] | None:
    if "grade" not in frame.columns or frame["grade"].isna().all():
        return None
    total = len(frame)
    rows = []
    for grade in _grade_order(frame, config):
        part = frame[frame["grade"].astype(str) == grade]
        label_source = part["grade_label"].iloc[0] if "grade_label" in part.columns else None
        info = grade_info(
            grade, run=inputs.run, config=config, lang=lang, fallback_label=label_source
        )
        exposure = float(part["exposure"].sum())
        rows.append(
            {
                **(info or {}),
                "count": len(part),
                "share": len(part) / total if total else 0.0,
                "share_text": fmt.percent(len(part) / total if total else None),
                "exposure_text": fmt.money_big(exposure),
                "mean_pd_text": fmt.pd(part["pd"].mean()),
                "mean_score_text": fmt.integer(part["score"].mean()),
                "expected_loss_text": fmt.money_big(part["expected_loss"].sum()),
            }
        )
    return rows


def _histogram(frame: pd.DataFrame, config: ReportConfig) -> dict[str, Any]:
    scores = frame["score"].dropna().to_numpy(dtype=np.float64)
    width = config.score_bin_width
    if not len(scores):
        return {"bins": [], "width": width}
    start = math.floor(scores.min() / width) * width
    stop = (math.floor(scores.max() / width) + 1) * width
    edges = np.arange(start, stop + width, width, dtype=np.float64)
    counts, _ = np.histogram(scores, bins=edges)
    grades = frame["grade"].astype(str).to_numpy() if "grade" in frame.columns else None
    bins = []
    for i, count in enumerate(counts):
        low, high = float(edges[i]), float(edges[i + 1])
        dominant = None
        if grades is not None and count:
            inside = (scores >= low) & (scores < high)
            values, times = np.unique(grades[inside], return_counts=True)
            dominant = str(values[np.argmax(times)])
        bins.append({"from": low, "to": high, "count": int(count), "grade": dominant})
    return {"bins": bins, "width": width}


def _matrix(frame: pd.DataFrame, config: ReportConfig, fmt: Formatter) -> dict[str, Any]:
    pd_band = np.searchsorted(np.array(config.pd_bands), frame["pd"].fillna(0).to_numpy(), "right")
    ex_band = np.searchsorted(
        np.array(config.exposure_bands), frame["exposure"].to_numpy(), "right"
    )
    n_pd, n_ex = len(config.pd_bands) + 1, len(config.exposure_bands) + 1
    counts = np.zeros((n_pd, n_ex), dtype=np.int64)
    losses = np.zeros((n_pd, n_ex), dtype=np.float64)
    np.add.at(counts, (pd_band, ex_band), 1)
    np.add.at(losses, (pd_band, ex_band), frame["expected_loss"].to_numpy())
    top = float(losses.max()) if losses.size else 0.0
    rows = []
    for i, label in enumerate(_pd_band_labels(config.pd_bands, fmt)):
        rows.append(
            {
                "label": label,
                "cells": [
                    {
                        "count": int(counts[i, j]),
                        "expected_loss_text": fmt.money_big(losses[i, j]),
                        "heat": _heat(float(losses[i, j]), top),
                    }
                    for j in range(n_ex)
                ],
                "count": int(counts[i].sum()),
                "expected_loss_text": fmt.money_big(losses[i].sum()),
            }
        )
    return {
        "columns": _exposure_band_labels(config.exposure_bands, fmt),
        "rows": rows,
        "column_counts": [int(c) for c in counts.sum(axis=0)],
        "column_losses": [fmt.money_big(v) for v in losses.sum(axis=0)],
        "count": int(counts.sum()),
        "expected_loss_text": fmt.money_big(losses.sum()),
        "lgd_text": fmt.percent(config.lgd, 0),
    }


def _limits(
    frame: pd.DataFrame, inputs: ReportInputs, config: ReportConfig, fmt: Formatter, lang: str
) -> dict[str, Any] | None:
    if "recommended_limit" not in frame.columns:
        return None
    change = frame["limit_change"] if "limit_change" in frame.columns else None
    if change is None or change.isna().all():
        change = frame["recommended_limit"] - frame["current_limit"]
    frame = frame.assign(_change=change)
    review = frame["review_flag"] if "review_flag" in frame.columns else None

    def summary(part: pd.DataFrame) -> dict[str, Any]:
        return {
            "count": len(part),
            "current_text": fmt.money_big(part["current_limit"].sum()),
            "recommended_text": fmt.money_big(part["recommended_limit"].sum()),
            "net_change_text": fmt.money_big(part["_change"].sum()),
            "increase": int((part["_change"] > 0).sum()),
            "decrease": int((part["_change"] < 0).sum()),
            "unchanged": int((part["_change"] == 0).sum()),
            "review": int(part["review_flag"].sum()) if review is not None else None,
        }

    rows = []
    if "grade" in frame.columns:
        for grade in _grade_order(frame, config):
            part = frame[frame["grade"].astype(str) == grade]
            info = grade_info(grade, run=inputs.run, config=config, lang=lang, fallback_label=None)
            rows.append({**(info or {}), **summary(part)})
    return {"rows": rows, "total": summary(frame), "has_review": review is not None}


def _alerts_summary(
    frame: pd.DataFrame, inputs: ReportInputs, config: ReportConfig, lang: str
) -> dict[str, Any] | None:
    alerts = inputs.alerts
    if alerts is None:
        if "alert_level" not in frame.columns:
            return None
        levels = frame["alert_level"].dropna().astype(str).str.lower()
        levels = levels[levels != ""]
        alerts = pd.DataFrame(
            {
                "level": levels.to_numpy(),
                "customer_id": frame.loc[levels.index, "customer_id"].to_numpy(),
            }
        )
    present = list(dict.fromkeys(alerts["level"].astype(str)))
    order = [lv for lv in config.alert_levels if lv in present] + sorted(
        lv for lv in present if lv not in config.alert_levels
    )
    order = order or list(config.alert_levels)
    by_level = []
    for level in order:
        part = alerts[alerts["level"] == level]
        by_level.append(
            {
                **(_level_info(level, config, lang) or {}),
                "count": len(part),
                "customers": int(part["customer_id"].nunique()),
            }
        )
    owners: list[dict[str, Any]] = []
    if "owner" in alerts.columns:
        table = alerts.assign(owner=alerts["owner"].fillna("").astype(str))
        for owner, part in table.groupby("owner", sort=True):
            counts = [int((part["level"] == level).sum()) for level in order]
            owners.append(
                {"owner": _owner(owner, config, lang), "counts": counts, "total": len(part)}
            )
        owners.sort(key=lambda o: (-o["total"], o["owner"] or ""))
    return {
        "levels": by_level,
        "owners": owners,
        "total": len(alerts),
        "customers": int(alerts["customer_id"].nunique()),
    }


def _top(
    frame: pd.DataFrame, inputs: ReportInputs, config: ReportConfig, fmt: Formatter, lang: str
) -> list[dict[str, Any]]:
    ranked = frame.sort_values(
        ["expected_loss", "customer_id"], ascending=[False, True], kind="mergesort"
    ).head(config.top_customers)
    out = []
    for rank, row in enumerate(ranked.to_dict(orient="records"), start=1):
        out.append(
            {
                "rank": rank,
                "customer_id": str(row["customer_id"]),
                "name": _masked_name(row.get("name_masked")),
                "region": _text(row.get("region")),
                "grade": grade_info(
                    row.get("grade"),
                    run=inputs.run,
                    config=config,
                    lang=lang,
                    fallback_label=row.get("grade_label"),
                ),
                "score_text": fmt.integer(row.get("score")),
                "pd_text": fmt.pd(row.get("pd")),
                "exposure_text": fmt.money(row.get("exposure")),
                "expected_loss_text": fmt.money(row.get("expected_loss")),
                "alert_level": _level_info(row.get("alert_level"), config, lang),
            }
        )
    return out


def _service(
    inputs: ReportInputs, config: ReportConfig, fmt: Formatter, lang: str
) -> dict[str, Any] | None:
    details = inputs.details.reindex(inputs.scores["customer_id"])
    kpis = {
        name: f"{INDICATOR_PREFIX}{config.service[name]}"
        for name in ("complaint_rate", "response_hours", "satisfaction")
    }
    kpis = {name: column for name, column in kpis.items() if column in details.columns}
    if not kpis:
        return None
    group_name = group_column = None
    for candidate in config.service["group_by"]:
        for column in (candidate, f"{INDICATOR_PREFIX}{candidate}"):
            if column in details.columns and details[column].notna().any():
                group_name, group_column = candidate, column
                break
        if group_column:
            break
    texts = config.texts[lang]

    def summary(part: pd.DataFrame, group: str | None) -> dict[str, Any]:
        def mean(name: str) -> float | None:
            return float(part[kpis[name]].mean()) if name in kpis else None

        return {
            "group": group,
            "customers": len(part),
            "complaint_rate_text": fmt.percent(mean("complaint_rate"), 2),
            "response_hours_text": fmt.decimal(mean("response_hours"), 1),
            "satisfaction_text": fmt.decimal(mean("satisfaction"), 2),
        }

    rows = []
    if group_column is not None:
        keyed = details.assign(_group=details[group_column].astype(str))
        for group, part in keyed.groupby("_group", sort=True):
            rows.append(summary(part, str(group)))
    return {
        "group_by": group_name,
        "group_label": texts.get(group_name or "", group_name),
        "note": texts.get(f"grouped_by_{group_name}", ""),
        "kpis": sorted(kpis),
        "rows": rows,
        "total": summary(details, None),
    }


def _model(run: Mapping[str, Any], fmt: Formatter) -> dict[str, Any]:
    metrics = run.get("model_metrics") or {}
    training = run.get("model_training") or {}
    calibration = [
        {"mean_pd": finite(b.get("mean_pd")), "bad_rate": finite(b.get("bad_rate"))}
        for b in metrics.get("calibration") or []
        if isinstance(b, Mapping)
    ]
    return {
        "training_as_of": _text(training.get("as_of")),
        "training_rows_text": fmt.integer(training.get("rows")),
        "bad_rate_text": fmt.percent(training.get("bad_rate"), 2),
        "metrics": {
            name: fmt.decimal(metrics.get(name), 3) for name in ("auc", "ks", "gini", "brier")
        },
        "calibration": [c for c in calibration if c["mean_pd"] is not None],
        "customers_text": fmt.integer(run.get("customers")),
        "rows_rejected_text": fmt.integer(run.get("rows_rejected")),
    }


def _drift(
    drift: dict[str, Any] | None,
    run: Mapping[str, Any],
    config: ReportConfig,
    fmt: Formatter,
    lang: str,
) -> dict[str, Any] | None:
    """Drift statistics, most severe verdict first, with labels."""
    if drift is None:
        return None
    texts = config.texts[lang]
    indicators = run.get("indicators") or {}

    def label(name: str) -> str:
        if name in indicators:
            return str(_indicator_meta(run, name, lang)["label"])
        return texts.get(f"drift_{name}", name)

    def verdict(code: str | None) -> dict[str, Any] | None:
        if not code:
            return None
        labels = config.drift_verdicts.get(code.lower())
        return {
            "code": code.lower(),
            "label": labels[lang] if labels else code,
            "rank": int(labels["rank"]) if labels else 0,
        }

    rows = []
    for item in drift["statistics"]:
        rows.append(
            {
                "name": item["name"],
                "label": label(item["name"]),
                "kind": item["kind"],
                "value_text": fmt.decimal(item["value"], 4),
                "verdict": verdict(item["verdict"]),
            }
        )
    rows.sort(key=lambda d: -(d["verdict"]["rank"] if d["verdict"] else 0))
    if len(rows) <= DRIFT_ROWS_ALWAYS:
        shown, hidden = rows, []
    else:
        shown = [r for r in rows if r["verdict"] and r["verdict"]["rank"] > 0]
        shown = shown or rows[:DRIFT_ROWS_ALWAYS]
        hidden = [r["label"] for r in rows if r not in shown]
    return {
        "verdict": verdict(drift.get("verdict")),
        "as_of": drift.get("as_of"),
        "rows": rows,
        "shown": shown,
        "hidden": hidden,
    }


def _migration_from_policy(run: Mapping[str, Any]) -> dict[str, Any] | None:
    """The policy stage's matrix: ``{rows, columns, counts, previous_as_of, ...}``."""
    raw = run.get("migration") or (run.get("policy") or {}).get("migration")
    if not isinstance(raw, Mapping):
        return None
    rows, columns, counts = raw.get("rows"), raw.get("columns"), raw.get("counts")
    if (
        not isinstance(rows, list)
        or not isinstance(columns, list)
        or not isinstance(counts, list)
        or len(counts) != len(rows)
        or any(not isinstance(r, list) or len(r) != len(columns) for r in counts)
    ):
        log.warning("the policy's migration matrix has an unknown shape; it is left out")
        return None
    return {
        "rows": [str(r) for r in rows],
        "columns": [str(c) for c in columns],
        "counts": [[int(finite(v) or 0) for v in row] for row in counts],
        "previous_as_of": _text(raw.get("previous_as_of")),
    }


def _migration_from_history(frame: pd.DataFrame, inputs: ReportInputs) -> dict[str, Any] | None:
    previous = inputs.history[-1] if inputs.history else None
    if previous is None or "grade" not in previous.frame.columns or "grade" not in frame.columns:
        return None
    before = previous.frame["grade"].astype("str")
    after = pd.Series(frame["grade"].astype("str").to_numpy(), index=frame["customer_id"])
    grades = sorted(set(before) | set(after))
    both = before.index.intersection(after.index)
    table = pd.crosstab(before[both], after[both]).reindex(index=grades, columns=grades).fillna(0)
    new = after[~after.index.isin(before.index)].value_counts().reindex(grades).fillna(0)
    gone = before[~before.index.isin(after.index)].value_counts().reindex(grades).fillna(0)
    counts = [[*map(int, table.loc[g]), int(gone[g])] for g in grades]
    counts.append([*map(int, new), 0])
    return {
        "rows": [*grades, "new"],
        "columns": [*grades, "departed"],
        "counts": counts,
        "previous_as_of": previous.as_of,
    }


def _migration(
    frame: pd.DataFrame, inputs: ReportInputs, config: ReportConfig, lang: str
) -> dict[str, Any] | None:
    """Grade migration: from the policy's matrix, else from the latest history run."""
    raw = _migration_from_policy(inputs.run) or _migration_from_history(frame, inputs)
    if raw is None:
        return None
    texts = config.texts[lang]
    special = {
        "new": texts.get("migration_new", "new"),
        "departed": texts.get("migration_departed", "departed"),
    }
    order = list(config.grades)

    def rank(code: str) -> tuple[int, str]:
        if code in special:
            return (len(order) + 1, code)
        return (order.index(code) if code in order else len(order), code)

    rows_order = sorted(range(len(raw["rows"])), key=lambda i: rank(raw["rows"][i]))
    cols_order = sorted(range(len(raw["columns"])), key=lambda j: rank(raw["columns"][j]))
    columns = [raw["columns"][j] for j in cols_order]
    rows = []
    for i in rows_order:
        code = raw["rows"][i]
        counts = [raw["counts"][i][j] for j in cols_order]
        rows.append(
            {
                "label": special.get(code, code),
                "counts": counts,
                "total": sum(counts),
                "diagonal": columns.index(code) if code in columns else None,
            }
        )
    return {
        "columns": [special.get(c, c) for c in columns],
        "rows": rows,
        "previous_as_of": raw["previous_as_of"],
    }


def build_portfolio_context(
    inputs: ReportInputs,
    *,
    config: ReportConfig,
    lang: str = "zh",
    report_date: dt.date | None = None,
) -> dict[str, Any]:
    """The data of the portfolio risk report (all customers of the run).

    Parameters
    ----------
    inputs : ReportInputs
        The scoring run; ``inputs.drift`` and ``inputs.history`` add the drift and
        migration sections when given.
    config : ReportConfig
        LGD, PD and exposure bands, number of top customers, labels.
    lang : {"zh", "en"}
        Language of the labels and number formats.
    report_date : datetime.date, optional
        The date printed on the report (default: today).

    Returns
    -------
    dict
        Plain data: JSON-serialisable, no markup.
    """
    header = _header(inputs, config, lang, report_date)
    fmt = Formatter(config, lang)
    frame = _frame(inputs, config)
    exposure = float(frame["exposure"].sum())
    loss = float(frame["expected_loss"].sum())
    alerts = _alerts_summary(frame, inputs, config, lang)
    red = next(iter(config.alert_levels))
    return {
        "kind": "portfolio",
        **header,
        "overview": {
            "customers": len(frame),
            "customers_text": fmt.integer(len(frame)),
            "total_exposure_text": fmt.money_big(exposure),
            "total_limit_text": fmt.money_big(frame["current_limit"].sum()),
            "mean_pd_text": fmt.pd(frame["pd"].mean()),
            "mean_score_text": fmt.integer(frame["score"].mean()),
            "expected_loss_text": fmt.money_big(loss),
            "el_rate_text": fmt.percent(loss / exposure if exposure else None, 2),
            "customers_with_alerts_text": fmt.integer(alerts["customers"] if alerts else None),
            "top_level": _level_info(red, config, lang),
            "top_level_count_text": fmt.integer(
                next((lv["count"] for lv in alerts["levels"] if lv["code"] == red), 0)
                if alerts
                else None
            ),
        },
        "grades": _grades_section(frame, inputs, config, fmt, lang),
        "histogram": _histogram(frame, config),
        "matrix": _matrix(frame, config, fmt),
        "limits": _limits(frame, inputs, config, fmt, lang),
        "alerts": alerts,
        "top": _top(frame, inputs, config, fmt, lang),
        "service": _service(inputs, config, fmt, lang),
        "model": _model(inputs.run, fmt),
        "drift": _drift(inputs.drift, inputs.run, config, fmt, lang),
        "migration": _migration(frame, inputs, config, lang),
    }
