"""The names limit rules and alert conditions may use, with their types.

Both configs are checked against these tables when they are loaded, so that an unknown
name (a typo, an indicator the model does not compute) stops the run before any data is
read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from custrisk.expr import ExprType

if TYPE_CHECKING:
    from custrisk.indicators import IndicatorConfig

NUMBER, BOOL, STRING, DATE = ExprType.NUMBER, ExprType.BOOL, ExprType.STRING, ExprType.DATE

#: Credit fields carried in the scores details table (see ``custrisk.results``).
CREDIT_FIELDS: Mapping[str, ExprType] = {
    "annual_income": NUMBER,
    "credit_limit": NUMBER,
    "outstanding_balance": NUMBER,
    "overdue_amount": NUMBER,
    "region": STRING,
    "industry": STRING,
    "customer_since": DATE,
}

#: Columns of the scores table, and the run's as-of date.
SCORE_NAMES: Mapping[str, ExprType] = {"score": NUMBER, "pd": NUMBER, "as_of": DATE}

#: Results of the credit policy, known to alert conditions.
POLICY_NAMES: Mapping[str, ExprType] = {
    "grade": STRING,
    "grade_rank": NUMBER,
    "current_limit": NUMBER,
    "recommended_limit": NUMBER,
    "limit_change": NUMBER,
    "review_flag": BOOL,
}

#: Changes against the previous run (``--previous``); missing without one.
PREVIOUS_NAMES: Mapping[str, ExprType] = {
    "prev_score": NUMBER,
    "score_change": NUMBER,
    "prev_grade": STRING,
    "prev_grade_rank": NUMBER,
    "grade_change": NUMBER,
    "prev_recommended_limit": NUMBER,
    "prev_limit": NUMBER,
    "recommended_limit_change": NUMBER,
}

#: The name of the grade's cap inside a limit rule.
GRADE_CAP = "grade_cap"


def indicator_names(indicators: IndicatorConfig | None) -> dict[str, ExprType]:
    """Output indicators of ``indicators`` (default: the packaged config) with their types."""
    if indicators is None:
        from custrisk.indicators import load_indicator_config

        indicators = load_indicator_config()
    return {i.code: i.value_type for i in indicators.indicators if i.output}


def data_names(indicators: IndicatorConfig | None) -> dict[str, ExprType]:
    """Credit fields, indicators (which hide a credit field of the same name) and scores."""
    return {**CREDIT_FIELDS, **indicator_names(indicators), **SCORE_NAMES}


def alert_names(indicators: IndicatorConfig | None) -> dict[str, ExprType]:
    """Every name an alert condition may use."""
    return {**data_names(indicators), **POLICY_NAMES, **PREVIOUS_NAMES}
