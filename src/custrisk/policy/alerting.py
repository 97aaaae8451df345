"""The alerts the early-warning rules raise over a scores table, in their order (most
severe level first, then customer id, then rule code), each column made once.

Each rule's customers and messages are found rule by rule; the order of all the alerts
is then found on numbers (customer ids already in their order are not sorted) and each
column taken once in it, as Arrow text: a frame per rule, put together, made text column
by column and sorted moved every text column three times."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa

from custrisk.data._arrays import TEXT, text_array, text_order, texts_of
from custrisk.expr import convert
from custrisk.policy.rules import AlertRule, AlertRules
from custrisk.results import ALERT_COLUMNS
from custrisk.vocab import LEVEL_LABELS, LEVEL_RANK

#: Separators of the actions in the alerts table.
ACTION_SEPARATOR = {"zh": "；", "en": "; "}


class Values(Protocol):
    """The names a rule's condition and messages read (the policy's columns)."""

    def get(self, name: str) -> Any: ...

    def values(self, names: Any) -> dict[str, Any]: ...


def evaluate_alerts(
    rules: AlertRules,
    columns: Values,
    ids: pd.Series,
    grades: pd.Series,
    as_of: dt.date,
    skipped: Mapping[str, str],
) -> pd.DataFrame:
    """The alerts of ``rules`` (but the ``skipped``) over the customers ``ids`` (text,
    with their ``grades``), in their order."""
    n = len(ids)
    fired: list[tuple[AlertRule, np.ndarray]] = []
    messages: dict[str, list[str]] = {"zh": [], "en": []}
    for rule in rules.rules:
        if rule.code in skipped:
            continue
        mask = rule.condition.evaluate_mask(columns.values(rule.condition.names), n=n)
        rows = np.flatnonzero(mask)
        if not len(rows):
            continue
        fired.append((rule, rows))
        for lang, texts in messages.items():
            shown = _messages(rule, lang, columns, rows)
            texts.extend([shown] * len(rows) if isinstance(shown, str) else shown)
    if not fired:
        empty = {c: pd.Series(dtype="str") for c in ALERT_COLUMNS}
        empty["response_hours"] = pd.Series(dtype=np.int64)
        return pd.DataFrame(empty)
    chosen = [rule for rule, _ in fired]
    rows = np.concatenate([r for _, r in fired])
    rule_of = np.repeat(np.arange(len(fired)), [len(r) for _, r in fired])
    # most severe level first, then customer id, then rule code; stable (rule order)
    code_rank = np.argsort(
        np.argsort(np.array([r.code for r in chosen], dtype=object), kind="stable")
    )
    level_rank = np.array([LEVEL_RANK[r.level] for r in chosen])
    order = np.lexsort((code_rank[rule_of], text_order(ids)[rows], level_rank[rule_of]))
    rows, rule_of = rows[order], rule_of[order]

    def per_rule(text: Callable[[AlertRule], str]) -> pd.api.extensions.ExtensionArray:
        return texts_of([text(rule) for rule in chosen], rule_of)

    def message(lang: str) -> pd.api.extensions.ExtensionArray:
        return _text(pa.array(messages[lang], pa.large_string()).take(pa.array(order)))

    return pd.DataFrame(
        {
            "customer_id": _taken(ids, rows),
            "as_of": per_rule(lambda _: as_of.isoformat()),
            "grade": _taken(grades, rows),
            "code": per_rule(lambda r: r.code),
            "level": per_rule(lambda r: r.level),
            "level_zh": per_rule(lambda r: LEVEL_LABELS[r.level]["zh"]),
            "message_zh": message("zh"),
            "message_en": message("en"),
            "actions_zh": per_rule(lambda r: ACTION_SEPARATOR["zh"].join(r.actions_zh)),
            "actions_en": per_rule(lambda r: ACTION_SEPARATOR["en"].join(r.actions_en)),
            "owner": per_rule(lambda r: r.owner),
            "response_hours": np.array([r.response_hours for r in chosen], dtype=np.int64)[rule_of],
            "due_by": per_rule(lambda r: _due_by(as_of, r.response_hours)),
        }
    )


def _text(values: pa.Array) -> pd.api.extensions.ExtensionArray:
    return pd.array(values, dtype=TEXT)


def _taken(values: pd.Series, rows: np.ndarray) -> pd.api.extensions.ExtensionArray:
    return _text(text_array(values).cast(pa.large_string()).take(pa.array(rows)))


def _due_by(as_of: dt.date, hours: int) -> str:
    """``response_hours`` after the as-of date, ``YYYY-MM-DDTHH:MM``. NumPy's calendar
    goes on after 9999-12-31, where Python's ends (an as-of date of 9999-12-31 plus a
    day is ``10000-01-01T00:00``, not an OverflowError)."""
    return str(np.datetime64(as_of, "m") + np.timedelta64(hours, "h"))


def _messages(rule: AlertRule, lang: str, columns: Values, rows: np.ndarray) -> list[str] | str:
    template = rule.message_zh if lang == "zh" else rule.message_en
    if not template.names:
        return template.render({})
    kinds = {name: kind for _, name, _, kind in template.parts if name and kind is not None}
    picked: dict[str, Sequence[Any] | np.ndarray] = {}
    for name, kind in kinds.items():
        value = convert(columns.get(name), kind)
        if isinstance(value, pd.Series):
            picked[name] = [None if pd.isna(v) else v for v in value.iloc[rows].tolist()]
        elif isinstance(value, np.ndarray):
            picked[name] = value[rows]
        else:  # a scalar (as_of)
            picked[name] = [value] * len(rows)
    return template.render_rows(picked, len(rows))
