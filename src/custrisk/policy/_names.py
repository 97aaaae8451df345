"""The names limit rules and alert conditions may use, with their types.

Both configs are checked against these tables when they are loaded, so that an unknown
name (a typo, an indicator the model does not compute) stops the run before any data is
read.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import pandas as pd

from custrisk.config.sources import CUSTOMER_SOURCE
from custrisk.expr import ExpressionError, ExprType, Name, iter_nodes, parse
from custrisk.results import INDICATOR_PREFIX

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

#: A previous period's value in a rule's ``new_when``: this prefix + the name (e.g.
#: ``prev_overdue_amount``), read from the previous run's scores and details.
PREV_PREFIX = "prev_"

#: The name of the grade's cap inside a limit rule.
GRADE_CAP = "grade_cap"


def indicator_names(indicators: IndicatorConfig | None) -> dict[str, ExprType]:
    """Output indicators of ``indicators`` (default: the packaged config) with their types."""
    if indicators is None:
        from custrisk.indicators import load_indicator_config

        indicators = load_indicator_config()
    return {i.code: i.value_type for i in indicators.indicators if i.output}


def details_names(details: pd.DataFrame) -> dict[str, ExprType]:
    """The names a limit rule may read on a scored run: its details table's credit
    fields and indicators (those of the model that scored it, from whichever indicator
    config: a CRM profile's ``days_past_due`` too), the score, PD and as-of date."""
    names: dict[str, ExprType] = {}
    for column in map(str, details.columns):
        name = column.removeprefix(INDICATOR_PREFIX)
        if name == column:
            if name in CREDIT_FIELDS:
                names[name] = CREDIT_FIELDS[name]
            continue
        kind = details[column].dtype
        if pd.api.types.is_bool_dtype(kind):
            names[name] = BOOL
        elif pd.api.types.is_numeric_dtype(kind):
            names[name] = NUMBER
        elif pd.api.types.is_datetime64_any_dtype(kind):
            names[name] = DATE
        else:
            names[name] = STRING
    return {**names, **SCORE_NAMES}


def data_names(indicators: IndicatorConfig | None) -> dict[str, ExprType]:
    """Credit fields, indicators (which hide a credit field of the same name) and scores.

    With ``indicators``, only the credit fields its sources config declares: a flat
    table or an export without ``industry`` does not have them."""
    credit = dict(CREDIT_FIELDS)
    if indicators is not None:
        declared = indicators.columns.get(CUSTOMER_SOURCE, {})
        credit = {name: kind for name, kind in credit.items() if name in declared}
    return {**credit, **indicator_names(indicators), **SCORE_NAMES}


@functools.lru_cache(maxsize=1)
def known_names() -> frozenset[str]:
    """Every name the packaged configs know: credit fields, the packaged indicators,
    scores, policy results and changes. A rule that reads one of these which the data
    at hand lacks is skipped (not a typo); any other unknown name is an error."""
    return frozenset({**alert_names(None), **dict.fromkeys(CREDIT_FIELDS, NUMBER)})


def lacking_names(text: str, names: Mapping[str, ExprType]) -> list[str]:
    """The names ``text`` reads that custrisk knows but ``names`` lacks (sorted); empty
    when it reads none such, or when it reads a name nobody knows (a typo: compiling it
    gives the error with its suggestion)."""
    try:
        tree = parse(text)
    except ExpressionError:
        return []
    return lacking_among({n.name for n in iter_nodes(tree) if isinstance(n, Name)}, names)


def lacking_among(used: Iterable[str], names: Mapping[str, ExprType]) -> list[str]:
    """Of the names ``used`` (by a condition, or shown by a message), those custrisk
    knows but ``names`` lacks (sorted); empty when there are none, or when one is a
    name nobody knows (a typo, left to the error that names it)."""
    missing = set(used) - set(names)
    if not missing or not missing <= known_names():
        return []
    return sorted(missing)


def alert_names(indicators: IndicatorConfig | None) -> dict[str, ExprType]:
    """Every name an alert condition may use."""
    return {**data_names(indicators), **POLICY_NAMES, **PREVIOUS_NAMES}


def new_when_names(names: Mapping[str, ExprType]) -> dict[str, ExprType]:
    """The names a rule's ``new_when`` may use: those of its condition, and the previous
    period's value of each data name (``prev_<name>``)."""
    out = dict(names)
    for name, kind in names.items():
        if name in PREVIOUS_NAMES or name in POLICY_NAMES or name == "as_of":
            continue
        out.setdefault(PREV_PREFIX + name, kind)
    return out


def lacking_new_when_names(text: str, names: Mapping[str, ExprType]) -> list[str]:
    """Like :func:`lacking_names` for a ``new_when`` (``prev_<known name>`` is known)."""
    try:
        tree = parse(text)
    except ExpressionError:
        return []
    used = {n.name for n in iter_nodes(tree) if isinstance(n, Name)}
    missing = used - set(new_when_names(names))
    if not missing:  # the usual case: no need to parse the packaged indicator config
        return []
    known = known_names()
    if not all(m in known or m.removeprefix(PREV_PREFIX) in known for m in missing):
        return []
    return sorted(missing)


#: The unit of an indicator whose values are fractions (0.9 is 90 %).
SHARE_UNIT = "share"


def share_names(indicators: IndicatorConfig | None) -> dict[str, str | None]:
    """The indicators of ``indicators`` (``None``: the packaged config) whose values are
    shares, each with the data column it is read from as written (a ``field``, or the
    column an aggregation reads; ``None`` when it is computed from other values).

    Those with the unit ``share``, and those without a unit that the packaged config
    knows as a share: a flat table's ``utilisation`` (of a model trained before
    ``Utilisation %`` was read as fractions) is read by the packaged rule on
    utilisation all the same."""
    if indicators is None:
        return dict(_packaged_shares())
    out: dict[str, str | None] = {}
    for indicator in indicators.indicators:
        unit = indicator.unit.strip()
        # (the packaged config is read only for an indicator without a unit)
        if unit == SHARE_UNIT or (not unit and indicator.code in _packaged_shares()):
            column = indicator.field
            if column is None and indicator.aggregation is not None:
                column = indicator.aggregation.column
            out[indicator.code] = column
    return out


def packaged_unit(code: str) -> str | None:
    """The unit the packaged indicator config gives ``code`` (``None``: it has no such
    indicator): a model keeps the config it was trained with, so its unit may be an
    older one (``payment_coverage_12m`` was a ``share`` before it was a ``ratio``)."""
    return _packaged_units().get(code)


@functools.lru_cache(maxsize=1)
def _packaged_units() -> Mapping[str, str]:
    from custrisk.indicators import load_indicator_config

    return {i.code: i.unit.strip() for i in load_indicator_config().indicators}


@functools.lru_cache(maxsize=1)
def _packaged_shares() -> Mapping[str, str | None]:
    from custrisk.indicators import load_indicator_config

    config = load_indicator_config()
    return {i.code: i.field for i in config.indicators if i.unit.strip() == SHARE_UNIT and i.output}
