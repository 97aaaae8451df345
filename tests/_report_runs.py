"""Builders of scoring runs for the report tests (no tests in this module).

:func:`write_handmade_run` writes a small, fixed run (five customers) by hand, shaped
like the output of ``custrisk score``: the golden-file customer lives here.
:func:`worst_case_context` fills a customer report as full as the packaged configs let it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd

from custrisk.expr import ExprType
from custrisk.indicators import load_indicator_config
from custrisk.policy import load_alert_rules
from custrisk.report import build_customer_context
from custrisk.report.config import ReportConfig
from custrisk.report.formatting import Formatter
from custrisk.results import ALERT_COLUMNS, ScoringRun

GRADES = {
    # code: label zh, label en, min score, max score, review (en, zh)
    "A": ("优质客户", "Prime", 640, 1000, ("annual", "每年")),
    "B": ("良好客户", "Good", 600, 640, ("semiannual", "每半年")),
    "C": ("普通客户", "Standard", 565, 600, ("quarterly", "每季度")),
    "D": ("关注客户", "Watch", 530, 565, ("monthly", "每月")),
    "E": ("高风险客户", "High risk", 0, 530, ("monthly", "每月")),
}
GRADE_ACTIONS = {
    "A": (
        ["可提高授信额度或延长账期", "每年复核一次"],
        ["The limit may be raised", "Review once a year"],
    ),
    "B": (["维持现有额度", "每半年复核一次"], ["Keep the limit", "Review every six months"]),
    "C": (["额度原则上维持", "每季度复核一次"], ["Keep the limit", "Review every quarter"]),
    "D": (
        ["不予提额，按还款能力压降额度", "缩短账期，必要时要求担保", "每月复核并加强回款监控"],
        [
            "No increase; reduce the limit to the payment capacity",
            "Shorten payment terms; ask for a guarantee if needed",
            "Review monthly and monitor collections",
        ],
    ),
    "E": (["冻结额度，停止新增赊销", "启动催收"], ["Freeze the limit", "Start collections"]),
}
LEVEL_ZH = {"red": "红色", "orange": "橙色", "yellow": "黄色"}


def policy_section() -> dict[str, Any]:
    """The ``policy`` section of scores.run.json, shaped as ``custrisk score`` writes it."""
    grades = []
    for rank, (code, (zh, en, low, high, (review_en, review_zh))) in enumerate(GRADES.items(), 1):
        grades.append(
            {
                "code": code,
                "rank": rank,
                "label_zh": zh,
                "label_en": en,
                "actions_zh": GRADE_ACTIONS[code][0],
                "actions_en": GRADE_ACTIONS[code][1],
                "band": f"[{low}, {high})",
                "min_score": float(low),
                "max_score": float(high),
                "review_frequency": review_en,
                "review_frequency_zh": review_zh,
            }
        )
    return {"grades": grades, "score_range": [0.0, 1000.0]}


INDICATORS = {
    "utilisation": ("额度使用率", "Utilisation", "share", "higher_is_riskier", True),
    "overdue_ratio": ("逾期金额占比", "Overdue ratio", "share", "higher_is_riskier", True),
    "max_days_past_due_12m": (
        "近12月最长逾期天数",
        "Maximum days past due (12 months)",
        "days",
        "higher_is_riskier",
        True,
    ),
    "bureau_score_change_3m": (
        "征信评分3个月变化",
        "Bureau score change (3 months)",
        "points",
        "higher_is_safer",
        True,
    ),
    "trade_amount_trend": ("交易金额趋势", "Trade amount trend", "ratio", "higher_is_safer", True),
    "complaint_rate_180d": (
        "投诉率",
        "Complaint rate (180 days)",
        "share",
        "higher_is_riskier",
        False,
    ),
    "avg_response_hours_180d": (
        "平均响应时长",
        "Average response time (180 days)",
        "hours",
        "higher_is_riskier",
        False,
    ),
    "avg_satisfaction_180d": (
        "平均满意度",
        "Average satisfaction (180 days)",
        "score 1-5",
        "higher_is_safer",
        False,
    ),
    "region": ("地区", "Region", "", "none", True),
}

HANDMADE_CUSTOMERS = [
    # id, name, phone, id_number, region, industry, pd, score, grade, limit, rec, balance,
    # overdue, indicators(utilisation, overdue_ratio, dpd, bureau_change, trend, complaint,
    # response, satisfaction), reasons [(code, impact)]
    (
        "C001",
        "张**",
        "138****5678",
        "110***********002X",
        "华东",
        "制造业",
        0.1875,
        541,
        "D",
        100000.0,
        70000.0,
        82000.0,
        16400.0,
        (0.82, 0.20, 45, -42, 0.35, 0.25, 30.5, 2.8),
        [("overdue_ratio", 38.0), ("utilisation", 27.0), ("bureau_score_change_3m", 15.0)],
    ),
    (
        "C002",
        "李**",
        "139****1234",
        "320***********1234",
        "华北",
        "批发零售",
        0.012,
        650,
        "B",
        50000.0,
        55000.0,
        12000.0,
        0.0,
        (0.24, 0.0, 0, 5, 1.1, 0.0, 8.0, 4.6),
        [("trade_amount_trend", 6.0), ("utilisation", 4.0), ("region", 2.0)],
    ),
    (
        "C003",
        "王**",
        "137****0000",
        "440***********5678",
        "华南",
        "建筑业",
        0.35,
        498,
        "E",
        200000.0,
        60000.0,
        190000.0,
        76000.0,
        (0.95, 0.40, 120, -80, 0.2, 0.5, 60.0, 2.0),
        [("max_days_past_due_12m", 52.0), ("overdue_ratio", 40.0), ("utilisation", 30.0)],
    ),
    (
        "C004",
        "赵**",
        "136****2222",
        "510***********9999",
        "华东",
        "服务业",
        0.006,
        688,
        "A",
        80000.0,
        96000.0,
        5000.0,
        0.0,
        (0.06, 0.0, 0, 12, 1.3, 0.0, 4.0, 4.9),
        [],
    ),
    (
        "C005",
        "陈**",
        "135****3333",
        "330***********7777",
        "西南",
        "制造业",
        0.05,
        590,
        "C",
        60000.0,
        60000.0,
        30000.0,
        1200.0,
        (0.5, 0.04, 10, -5, 0.8, 0.1, 14.0, 3.9),
        [("utilisation", 12.0), ("trade_amount_trend", 9.0), ("overdue_ratio", 3.0)],
    ),
]
INDICATOR_ORDER = (
    "utilisation",
    "overdue_ratio",
    "max_days_past_due_12m",
    "bureau_score_change_3m",
    "trade_amount_trend",
    "complaint_rate_180d",
    "avg_response_hours_180d",
    "avg_satisfaction_180d",
)
HANDMADE_ALERTS = [
    (
        "C001",
        "D",
        "CR01",
        "red",
        "逾期金额占比超过 15%",
        "Overdue share above 15%",
        "电话催收；暂停新增用信",
        "Call for payment; stop new drawdowns",
        "risk_officer",
        24,
    ),
    (
        "C001",
        "D",
        "TX02",
        "orange",
        "近3月交易额较前期下降超过50%",
        "Trade amount down by more than half",
        "客户经理回访了解经营情况",
        "Account manager visit on the business",
        "account_manager",
        72,
    ),
    (
        "C003",
        "E",
        "CR01",
        "red",
        "逾期金额占比超过 15%",
        "Overdue share above 15%",
        "电话催收；暂停新增用信",
        "Call for payment; stop new drawdowns",
        "collections",
        24,
    ),
    (
        "C003",
        "E",
        "SV03",
        "yellow",
        "近180天投诉率偏高",
        "High complaint rate (180 days)",
        "客服主管跟进投诉处理",
        "Service lead follows up the complaints",
        "service_manager",
        168,
    ),
]
AS_OF = "2026-10-31"


def handmade_frames(
    *, with_policy: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any], pd.DataFrame]:
    """Scores, details, run facts and alerts of the five hand-made customers."""
    scores_rows, details_rows = [], []
    alert_level = {"C001": ("red", "CR01;TX02"), "C003": ("red", "CR01;SV03")}
    for (
        cid,
        name,
        phone,
        idn,
        region,
        industry,
        pd_value,
        score,
        grade,
        limit,
        rec,
        balance,
        overdue,
        values,
        reasons,
    ) in HANDMADE_CUSTOMERS:
        row: dict[str, Any] = {"customer_id": cid, "as_of": AS_OF, "pd": pd_value, "score": score}
        if with_policy:
            level, codes = alert_level.get(cid, ("", ""))
            row |= {
                "grade": grade,
                "grade_label": GRADES[grade][0],
                "current_limit": limit,
                "recommended_limit": rec,
                "limit_change": rec - limit,
                "review_flag": grade in ("D", "E"),
                "alert_level": level,
                "alert_codes": codes,
            }
        detail: dict[str, Any] = {
            "customer_id": cid,
            "name_masked": name,
            "phone_masked": phone,
            "id_number_masked": idn,
            "region": region,
            "industry": industry,
            "customer_since": pd.Timestamp("2019-04-01"),
            "annual_income": 480000.0,
            "credit_limit": limit,
            "outstanding_balance": balance,
            "overdue_amount": overdue,
        }
        for code, value in zip(INDICATOR_ORDER, values, strict=True):
            detail[f"ind__{code}"] = float(value)
        detail["ind__region"] = region
        for k in range(1, 4):
            code, impact = reasons[k - 1] if k <= len(reasons) else (None, None)
            row[f"reason_{k}_code"] = code
            row[f"reason_{k}_label"] = INDICATORS[code][0] if code else None
            detail[f"reason_{k}_code"] = code
            detail[f"reason_{k}_value"] = None if code is None else str(detail.get(f"ind__{code}"))
            detail[f"reason_{k}_impact"] = impact
        row["model_id"] = "logistic@3"
        scores_rows.append(row)
        details_rows.append(detail)
    run = {
        "model_id": "logistic@3",
        "algorithm": "logistic",
        "as_of": AS_OF,
        "customers": len(scores_rows),
        "rows_rejected": 2,
        "model_metrics": {
            "auc": 0.812,
            "ks": 0.51,
            "gini": 0.624,
            "brier": 0.071,
            "calibration": [
                {"bin": i + 1, "mean_pd": 0.01 * (i + 1) ** 1.5, "bad_rate": 0.012 * (i + 1) ** 1.5}
                for i in range(10)
            ],
        },
        "model_training": {"as_of": "2026-06-30", "rows": 12000, "bad_rate": 0.081},
        "scaling": {"base_points": 600, "base_odds": 50, "pdo": 20},
        "unavailable_indicators": {},
        "indicators": {
            code: {"zh": zh, "en": en, "unit": unit, "direction": direction, "in_model": used}
            for code, (zh, en, unit, direction, used) in INDICATORS.items()
        },
    }
    if with_policy:
        run["policy"] = policy_section()
    alerts = pd.DataFrame(
        [
            {
                "customer_id": cid,
                "as_of": AS_OF,
                "grade": grade,
                "code": code,
                "level": level,
                "level_zh": LEVEL_ZH[level],
                "message_zh": mzh,
                "message_en": men,
                "actions_zh": azh,
                "actions_en": aen,
                "owner": owner,
                "response_hours": hours,
                "due_by": (dt.datetime.fromisoformat(AS_OF) + dt.timedelta(hours=hours)).isoformat(
                    timespec="minutes"
                ),
            }
            for cid, grade, code, level, mzh, men, azh, aen, owner, hours in HANDMADE_ALERTS
        ]
    )
    return pd.DataFrame(scores_rows), pd.DataFrame(details_rows), run, alerts


def write_run(
    folder: Path,
    scores: pd.DataFrame,
    details: pd.DataFrame,
    run: dict[str, Any],
    alerts: pd.DataFrame | None,
    *,
    name: str = "scores.csv",
) -> Path:
    """Write a scoring run folder (as custrisk score does); returns the scores path."""
    alerts = alerts if alerts is not None else pd.DataFrame(columns=list(ALERT_COLUMNS))
    return ScoringRun(scores, details, alerts, run).write(folder / name).scores


def write_handmade_run(folder: Path, **kwargs: Any) -> Path:
    """The five hand-made customers as a run folder; returns the scores path."""
    return write_run(folder, *handmade_frames(**kwargs))


def write_history(
    folder: Path, as_of: str, shift: int, grades: dict[str, str] | None = None
) -> Path:
    """A previous run of the hand-made customers (scores shifted by ``shift``)."""
    scores, details, run, _alerts = handmade_frames()
    scores = scores.assign(as_of=as_of, score=scores["score"] + shift)
    if grades:
        scores["grade"] = scores["customer_id"].map(grades).fillna(scores["grade"])
    return write_run(folder / as_of, scores, details, run, None)


def _wide_values(template: Any) -> dict[str, Any]:
    """Values that print wide in an alert message: 99%, 1,234,567, 365 (-365 for a
    change), grade E."""
    values: dict[str, Any] = {}
    for _, name, spec, kind in template.parts:
        if not name:
            continue
        if kind is ExprType.STRING:
            values[name] = "E"
        elif "%" in spec:
            values[name] = 0.99
        elif "," in spec:
            values[name] = 1_234_567.0
        else:
            values[name] = -365 if "change" in name else 365
    return values


#: Key-indicator values that print wide, by unit (others: 365 in the unit).
WIDE_VALUES = {
    "share": 1.0,
    "ratio": -12.34,
    "points": -120,
    "hours": 168.5,
    "months": 176,
    "score 1-5": 1.0,
}


def worst_case_context(
    inputs: Any, config: ReportConfig, lang: str, *, report_date: dt.date
) -> dict[str, Any]:
    """The fullest customer report of the packaged configs: score history, every key
    indicator of the packaged indicators with a wide value, all flagged, the review
    flag, and every packaged alert rule firing: the longest ones (message and actions,
    with wide values), whatever their level, listed and the others named."""

    context = build_customer_context(
        inputs, "C001", config=config, lang=lang, report_date=report_date
    )
    assert len(context["history"]) >= 3 and context["policy"] and context["reasons"]
    context["limits"]["review_flag"] = True
    fmt = Formatter(config, lang)
    known = {i.code: i for i in load_indicator_config().indicators}
    context["indicators"] = [
        {
            "code": code,
            "label": known[code].label_zh if lang == "zh" else known[code].label_en,
            "value_text": fmt.value(WIDE_VALUES.get(known[code].unit, 365), known[code].unit),
            "median_text": fmt.value(WIDE_VALUES.get(known[code].unit, 365), known[code].unit),
            "percentile": 100,
            "flag": True,
        }
        for code in config.key_indicators
        if code in known
    ]
    assert len(context["indicators"]) >= 15
    alerts = []
    for rule in load_alert_rules().rules:
        template = rule.message_zh if lang == "zh" else rule.message_en
        level = config.alert_levels[rule.level].label(lang)
        alerts.append(
            {
                "code": rule.code,
                "level": {"key": rule.level, "code": rule.level, "label": level},
                "message": template.render(_wide_values(template)),
                "actions": list(rule.actions_zh if lang == "zh" else rule.actions_en),
                "owner": config.owners[rule.owner][lang],
                "due_by": "2026-11-03",
                "response_hours": rule.response_hours,
            }
        )
    alerts.sort(key=lambda a: -len(a["message"]) - len("".join(a["actions"])))
    shown = config.customer_alerts
    context["alerts"] = alerts[:shown]
    context["more_alerts"] = [{"code": a["code"], "level": a["level"]} for a in alerts[shown:]]
    return context
