"""The quick path of :class:`~custrisk.scoring.records.RecordScorer`: a request's records
turned into the model's features on Python scalars, for records whose every value is
plainly clean.

The batch path (:func:`~custrisk.data.clean.clean_source`, then
:func:`~custrisk.indicators.compute_indicators`) costs about 1 ms per column for a
one-row table, almost all of it fixed cost: Arrow arrays, masks and pandas frames built
for one value. Most requests hold nothing the cleaner would change: ids of digits and
capitals, plain decimal numbers within range, categories spelled as in training, blanks.
For those the cleaner's result is known without running it, so each column's rules are
compiled once, at model load, into a check on one Python value that either gives the
typed value the cleaner would give or declines. A record with any value a rule declines
(whitespace, full-width digits, an out-of-range or malformed number, an unknown
category, formula-like text, control characters, a date) sends the whole request down
the batch path, which repairs, reports or rejects it: the quick path never decides
anything the batch path would decide differently, it only skips work whose outcome is
certain (tests compare both on hostile records).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from custrisk.config.columns import ColumnSpec, header_key, known_spellings
from custrisk.config.sources import SourcesConfig, SourceSpec
from custrisk.data.clean_columns import PERSONAL_SIZED
from custrisk.data.text import MAYBE_PERSONAL, NULL_TOKENS, null_variants
from custrisk.indicators.spec import IndicatorConfig

#: What a rule gives back when it declines a value (the batch path must decide).
DECLINE = object()

# Plain numbers: what the batch parser reads to the same float as Python does, with no
# thousands separator, exponent, sign other than '-', or padding. Longer digit strings
# go to the batch path (beyond 2**53 the int rules matter).
_INT = re.compile(r"-?[0-9]{1,15}")
_FLOAT = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,15})?")
# Ids the cleaner leaves as they are: ASCII capitals, digits, '_' (no space, lower case
# or full-width form to normalise; no leading sign that could read as a formula).
_PLAIN_ID = re.compile(r"[0-9A-Z_][0-9A-Z_.\-/#]*")
_FORMULA_START = tuple("=@+-")
_BLANKS = frozenset(null_variants())
_NULL_WORDS = frozenset(NULL_TOKENS)
#: A text that may hold a phone, ID number or e-mail address: the cleaner masks it.
_MAYBE_PERSONAL = re.compile(MAYBE_PERSONAL)
_NUMERIC_TYPES = ("int", "float", "bool")
_TEXT_FEATURE_TYPES = ("category", "string")

Rule = Callable[[str | None], Any]


@dataclass(frozen=True)
class QuickFeatures:
    """The features of a request's records, as the batch path computes them."""

    ids: list[str]
    frame: pd.DataFrame  # the model's candidate features, indexed by customer id
    current_limit: np.ndarray  # the cleaned credit_limit column (NaN where blank)


@dataclass(frozen=True)
class QuickRecords:
    """The features of a request's records as Python scalars, record by record."""

    ids: list[str]
    features: list[dict[str, Any]]  # candidate feature code -> value, per record
    current_limit: list[float]  # the cleaned credit_limit (NaN where blank)


class QuickPath:
    """Per-column rules compiled once for a model's flat table (see the module)."""

    def __init__(
        self,
        spec: SourceSpec,
        rules: dict[str, Rule],
        features: list[tuple[str, str, bool, Any]],
    ) -> None:
        self.spec = spec
        self.rules = rules
        self.features = features  # (indicator code, column, categorical, fill value)
        self.key = spec.key or "customer_id"  # build() declines a table without a key

    @classmethod
    def build(
        cls,
        spec: SourceSpec,
        sources: SourcesConfig,
        indicators: IndicatorConfig,
        candidates: Sequence[str],
    ) -> QuickPath | None:
        """The quick path for this table and model, or ``None`` when some rule of the
        table has no scalar form (row checks, a feature computed from an expression or
        from another source): every request then takes the batch path."""
        if spec.checks or spec.key is None or spec.row_number is not None:
            return None
        columns = {c.name: c for c in spec.columns}
        rules: dict[str, Rule] = {}
        for col in spec.columns:
            rule = column_rule(col, sources)
            if rule is None:
                return None
            rules[col.name] = rule
        by_code = {ind.code: ind for ind in indicators.indicators}
        features: list[tuple[str, str, bool, Any]] = []
        for code in candidates:
            ind = by_code.get(code)
            if ind is None or ind.kind != "field" or ind.field not in columns:
                return None
            kind = columns[ind.field].type
            if kind not in (_TEXT_FEATURE_TYPES if ind.categorical else _NUMERIC_TYPES):
                return None
            fill = ind.missing.value if ind.missing.action == "fill" else None
            features.append((code, ind.field, bool(ind.categorical), fill))
        return cls(spec, rules, features)

    def _typed(
        self, columns: Mapping[str, Sequence[str | None]], n: int
    ) -> dict[str, list[Any]] | None:
        """Each column's typed values, or ``None`` when a rule declines a value or an id
        repeats (duplicate rows and keys are the batch path's to report)."""
        typed: dict[str, list[Any]] = {}
        blanks: list[str | None] = [None] * n
        for name, rule in self.rules.items():
            values = [rule(text) for text in columns.get(name, blanks)]
            if DECLINE in values:
                return None
            typed[name] = values
        if n > 1 and len({str(v) for v in typed[self.key]}) != n:
            return None
        return typed

    def records_of(
        self, columns: Mapping[str, Sequence[str | None]], n: int
    ) -> QuickRecords | None:
        """The features of ``n`` records as Python scalars, one mapping per record (the
        values the frame of :meth:`features_of` holds: numbers as floats, NaN where
        missing, categories as text or ``None``; fill values applied), or ``None`` when
        some value needs the batch path's judgement."""
        typed = self._typed(columns, n)
        if typed is None:
            return None
        ids = [str(v) for v in typed[self.key]]
        rows: list[dict[str, Any]] = [{} for _ in range(n)]
        for code, column, categorical, fill in self.features:
            for row, value in zip(rows, typed[column], strict=True):
                if value is None:
                    value = fill
                if categorical:
                    row[code] = None if value is None else str(value)
                else:
                    row[code] = math.nan if value is None else float(value)
        limits = typed.get("credit_limit")
        current = (
            [math.nan if v is None else float(v) for v in limits] if limits else [math.nan] * n
        )
        return QuickRecords(ids, rows, current)

    def features_of(
        self, columns: Mapping[str, Sequence[str | None]], n: int
    ) -> QuickFeatures | None:
        """The features of ``n`` records given as raw text by column name (ids filled
        in), or ``None`` when some value needs the batch path's judgement."""
        typed = self._typed(columns, n)
        if typed is None:
            return None
        ids = [str(v) for v in typed[self.key]]
        data: dict[str, Any] = {}
        for code, column, categorical, fill in self.features:
            values = typed[column]
            if categorical:
                if fill is not None:
                    values = [fill if v is None else v for v in values]
                data[code] = pd.array(values, dtype="str")
            else:
                array = _floats(values)
                if fill is not None:
                    array[np.isnan(array)] = fill
                data[code] = array
        # the candidate features in the model's order: the frame is scored as it is
        frame = pd.DataFrame(data, index=pd.Index(ids, dtype="str", name="customer_id"))
        current = _floats(typed["credit_limit"]) if "credit_limit" in typed else np.full(n, np.nan)
        return QuickFeatures(ids, frame, current)


def _floats(values: Sequence[Any]) -> np.ndarray:
    return np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)


def column_rule(col: ColumnSpec, sources: SourcesConfig) -> Rule | None:
    """The scalar rule of one column: the typed value the cleaner gives a plainly clean
    text (``None`` for a blank), or :data:`DECLINE`."""
    if col.type == "date":

        def date_rule(text: str | None) -> Any:
            return None if _blank(text) is None and not col.required else DECLINE

        return date_rule
    if col.type in ("int", "float"):
        pattern = _INT if col.type == "int" else _FLOAT
        convert: Callable[[str], Any] = int if col.type == "int" else float

        def number_rule(text: str | None) -> Any:
            blank = _blank(text)
            if blank is None:
                return DECLINE if col.required else None
            if blank is DECLINE or text is None or not pattern.fullmatch(text):
                return DECLINE
            value = convert(text)
            # (a phone or ID number? left to the batch path: clean_columns.personal_numbers)
            if abs(value) >= PERSONAL_SIZED:
                return DECLINE
            if col.scale is not None:  # (the cleaner's: a float column's unit)
                value *= col.scale
                if not math.isfinite(value):
                    return DECLINE
            if (col.min is not None and value < col.min) or (
                col.max is not None and value > col.max
            ):
                return DECLINE
            return value

        return number_rule
    if col.type == "bool":
        true, false = frozenset(sources.true_values), frozenset(sources.false_values)
        if col.min is not None or col.max is not None:
            return None

        def bool_rule(text: str | None) -> Any:
            blank = _blank(text)
            if blank is None:
                return DECLINE if col.required else None
            if blank is DECLINE or text is None:
                return DECLINE
            if text != text.lower() or unicodedata.normalize("NFKC", text) != text:
                return DECLINE
            if text in true and text not in false:
                return True
            if text in false and text not in true:
                return False
            return DECLINE

        return bool_rule
    if col.type not in ("id", "string", "category"):
        return None
    if col.pattern is not None or col.check is not None or col.min is not None:
        return None
    allowed = frozenset(col.allowed) if col.allowed is not None else None
    recode = dict(col.recode)  # (the cleaner's: the export's value -> custrisk's)
    is_id = col.type == "id"
    masks = not col.pii  # (the cleaner masks a phone in a column not flagged pii)
    pad = col.zero_pad or 0
    # (the cleaner's known_values: 華南 is read as the model's 华南, a repair to report)
    known = frozenset(col.known_values)
    respelled = frozenset(known_spellings(col.known_values)) if col.type == "category" else ()

    def text_rule(text: str | None) -> Any:
        blank = _blank(text)
        if blank is None:
            return DECLINE if col.required else None
        if blank is DECLINE or text is None:
            return DECLINE
        if is_id:
            if not _PLAIN_ID.fullmatch(text):
                return DECLINE
            # (the cleaner's zero_pad: a number shorter than the width gets zeros)
            short = len(text) < pad and text.isascii() and text.isdigit()
            return text.zfill(pad) if short else text
        if not _plain_text(text) or (masks and _MAYBE_PERSONAL.search(text)):
            return DECLINE
        if respelled and text not in known and text not in recode:
            if header_key(text) in respelled:
                return DECLINE
        text = recode.get(text, text)
        if allowed is not None and text not in allowed:
            return DECLINE
        return text

    return text_rule


def _blank(text: str | None) -> Any:
    """``None`` for what the cleaner reads as a blank, :data:`DECLINE` for a text the
    cleaner might trim into one (or a blank word in an unusual case), else the text."""
    if text is None or text in _BLANKS:
        return None
    if text.lower() in _NULL_WORDS:
        return DECLINE
    return text


def _plain_text(text: str) -> bool:
    """Text the cleaner keeps as it is, with no issue: printable (no control, format or
    separator character but the ASCII space), no space at either end, not formula-like."""
    if not text.isprintable() or text[0] == " " or text[-1] == " ":
        return False
    head = text[0]
    if head.isascii():
        return head not in _FORMULA_START
    return unicodedata.normalize("NFKC", head)[:1] not in _FORMULA_START


__all__ = ["DECLINE", "QuickFeatures", "QuickPath", "QuickRecords", "column_rule"]
