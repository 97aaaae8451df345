"""Report contexts: the plain data (dicts, lists, numbers, text) a template renders.

Nothing here knows about HTML or PDF. A context holds raw numbers for charts next to
their display text in the report's language; labels of indicators, grades and alerts
come from the scoring run (``scores.run.json``), the alerts file or the report config.
Identity fields are the masked columns of the details file; a value that does not look
masked is masked again here (defence in depth).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import yaml

from custrisk.config import default_config_path
from custrisk.privacy import mask_middle_value, mask_name_value
from custrisk.report.config import LANGUAGES, ReportConfig, lang_text
from custrisk.report.formatting import Formatter, finite, points
from custrisk.report.inputs import ReportInputs
from custrisk.results import INDICATOR_PREFIX

log = logging.getLogger(__name__)

MAX_REASONS = 10
#: Drift tables with more statistics list only those that are not stable.
DRIFT_ROWS_ALWAYS = 12
_ACTION_SPLIT = re.compile(r"\s*(?:；|;|\n)\s*")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
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
        Grade -> (lowest, highest) score observed in the portfolio (the gauge's arcs
        when the run records no policy bands).
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


@functools.cache
def _packaged_labels() -> dict[str, Mapping[str, Any]]:
    """Indicator code -> ``{zh, en}`` label of the packaged indicators config."""
    try:
        path = default_config_path("indicators.yaml")
        node = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):  # (a broken install: the run's labels as they are)
        return {}
    indicators = node.get("indicators") if isinstance(node, Mapping) else None
    return {
        str(code): spec["label"]
        for code, spec in (indicators or {}).items()
        if isinstance(spec, Mapping) and isinstance(spec.get("label"), Mapping)
    }


def _indicator_meta(
    run: Mapping[str, Any], code: str, lang: str, texts: Mapping[str, str] | None = None
) -> dict[str, Any]:
    meta = (run.get("indicators") or {}).get(code) or {}
    label = lang_text({k: meta.get(k) for k in LANGUAGES}, lang)
    if lang == "en" and (label is None or _CJK.search(label)):
        # A flat table's run labels its columns by their (Chinese) headers in both
        # languages; a column custrisk knows (征信评分 read as bureau_score) has the
        # packaged English label, or the report's (未偿余额: Outstanding balance).
        known = (_packaged_labels().get(code) or {}).get("en") or (texts or {}).get(code)
        label = known or label
    return {
        "label": label or code,
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
        low, high, show = band[0], band[1], points
    elif isinstance(band, Mapping):

        def first(*keys: str) -> Any:
            return next((band[k] for k in keys if band.get(k) is not None), None)

        low = first("min_score", "score_min", "min", "low")
        high = first("max_score", "score_max", "max", "high")
        show = points
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
    low, high = finite(entry.get("min_score")), finite(entry.get("max_score"))
    band = (
        {"min_score": low, "max_score": high}
        if low is not None or high is not None
        else entry.get("band")
    )
    ends = (run.get("policy") or {}).get("score_range")
    if isinstance(band, dict) and isinstance(ends, list | tuple) and len(ends) == 2:
        # The top and bottom grades end at the policy's score range ([0, 1000]): "0 – 530"
        # reads like a score of 0 were possible; "< 530" and "≥ 640" say what is meant.
        bottom, top = finite(ends[0]), finite(ends[1])
        if low is not None and bottom is not None and low <= bottom:
            band["min_score"] = None
        if high is not None and top is not None and high >= top:
            band["max_score"] = None
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
