"""What cleaning records about a row: the issue list, the rule texts, and the
``rejects.csv`` rows made from them."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.config._yaml import join_limited
from custrisk.config.columns import ColumnSpec, header_key
from custrisk.data._arrays import as_numpy
from custrisk.io.readers import BadRow, RawTable

DROPPED = "dropped"
REPAIRED = "repaired"
#: A report's own row (a blank row, its totals, a note under the table, its header
#: repeated): taken out and listed as a dropped row is, but no bad data: not counted as
#: rejected, so that a monthly check on such an export passes.
SKIPPED = "skipped"
#: The end of the message of a value blanked by ``on_invalid: blank`` (a repair that
#: loses the value, unlike a trim or a normalised spelling)
BLANKED = "replaced by blank (on_invalid: blank)"
#: The message of an amount in a foreign currency (never converted: at which rate?).
FOREIGN_AMOUNT = (
    "an amount in a foreign currency ({}): not read, custrisk does not convert currencies; "
    "convert it to the export's currency (元) in the export"
)
ISSUE_COLUMNS = ["source", "file", "line", "column", "rule", "value", "action", "message"]
RULE_TEXT = {
    "field_count": "wrong number of fields",
    "unclosed_quote": "a quote opened on the line is not closed on it",
    "stray_cr": "a carriage return (CR) inside the line",
    "oversized_line": "the line is longer than the limit",
    "excel_error": "a workbook cell holds an Excel error value (#N/A, #DIV/0!, ...)",
    "missing_required": "required value is blank",
    "formula": "looks like a spreadsheet formula (possible CSV injection)",
    "control_character": "holds a control character (NUL, escape, ...), shown as \\xNN",
    "whitespace": "stray whitespace trimmed",
    "personal_data": "a phone number, ID number or e-mail address in a column not flagged "
    "pii, masked",
    "normalised": "full-width characters (or lower case or spaces in an id) normalised",
    "id_collision": "two different ids become the same id once normalised",
    "scientific_id": "an id in scientific notation (6.22848E+17): a spreadsheet stored it "
    "as a number and cut its digits, so it no longer names one customer; export the "
    "column as text",
    "invalid_number": "not a number",
    "invalid_int": "not a whole number",
    "invalid_date": "not a valid date",
    "invalid_bool": "not true/false",
    "not_allowed": "value not in the allowed list",
    "pattern": "does not match the required pattern",
    "cn_id_number": "invalid resident id number (length, birth date or check digit)",
    "cn_phone": "not a mainland phone number (a mobile of 11 digits, or a landline with "
    "its area code)",
    "out_of_range": "outside the allowed range",
    "implausible_date": "outside the plausible dates of the source",
    "blank_row": "no value in any column read (a sheet's empty row saved as CSV: ,,,,), "
    "not a record",
    "total_row": "a totals row of the report (合计, 小计, Total), not a customer",
    "note_row": "a note of the report (制表人, 备注, 数据来源) alone in its row, not a customer",
    "caption_row": "a caption of the report (a group's heading such as 华东区, alone in its "
    "row above the group's customers), not a customer",
    "header_row": "the line repeats the header (two exports joined, or a report's header "
    "on every page), not a record",
    "duplicate_row": "exact duplicate of an earlier row",
    "duplicate_key": "key already used by another row",
    "orphan": "customer not found in the credit table",
    "customer_rejected": "the customer's credit row was rejected",
    "nulled": "invalid value replaced by blank (on_invalid: blank)",
}
REPAIR_CASE = "repair:case"
#: The rules of lines that are no record (a totals row, a repeated header): never a
#: customer whose rows were rejected.
NOT_ROWS = frozenset({"total_row", "header_row", "note_row", "caption_row", "blank_row"})
#: The rules that repair a value and keep it.
VALUE_REPAIRS = frozenset({"whitespace", "normalised", "personal_data"})


Values: TypeAlias = "pa.Array | pd.Series | np.ndarray | Callable[[np.ndarray], np.ndarray]"


class Issues:
    """Collects issues as (row positions, column, rule, raw values, action, message: one
    text, or one per row)."""

    def __init__(self, n: int) -> None:
        self.parts: list[tuple[np.ndarray, str, str, np.ndarray, str, str | np.ndarray]] = []
        self.dropped = np.zeros(n, dtype=bool)
        self.repaired = np.zeros(n, dtype=bool)
        self.skipped = np.zeros(n, dtype=bool)  # (dropped too: taken out of the data)

    def add(
        self,
        mask: np.ndarray,
        column: str,
        rule: str,
        values: Values,
        action: str,
        message: str | np.ndarray | None = None,
    ) -> None:
        """Record ``rule`` for the rows in ``mask`` (a mask over all rows, or the row
        positions); ``values`` gives the shown value of each row (an array over all
        rows, or a function of the flagged row positions); ``message`` is one text for
        all, or one per flagged row (in the order of their positions)."""
        rows = mask if mask.dtype.kind in "iu" else np.flatnonzero(mask)
        if not rows.size:
            return
        if isinstance(message, np.ndarray) and len(message) != len(rows):
            raise ValueError(f"{len(message)} messages for {len(rows)} rows")
        picked = values(rows) if callable(values) else pick_values(values, rows, shown=True)
        if isinstance(message, str | None):
            message = message or RULE_TEXT[rule]
        self.parts.append((rows, column, rule, picked, action, message))
        if action in (DROPPED, SKIPPED):
            self.dropped[rows] = True
            if action == SKIPPED:
                self.skipped[rows] = True
        else:
            self.repaired[rows] = True

    def flagged(self, n: int, but: frozenset[str] = frozenset()) -> np.ndarray:
        """The rows any rule found so far, the rules of ``but`` aside."""
        found = np.zeros(n, dtype=bool)
        for rows, _name, rule, *_ in self.parts:
            if rule not in but:
                found[rows] = True
        return found

    def faulted(self, column: str, n: int) -> np.ndarray:
        """The rows whose ``column`` value was found at fault so far (rejected, or
        blanked): any rule but a repair that keeps the value (trimmed, normalised)."""
        found = np.zeros(n, dtype=bool)
        for rows, name, rule, *_ in self.parts:
            if name == column and rule not in VALUE_REPAIRS:
                found[rows] = True
        return found

    def instead(self, rows: np.ndarray) -> None:
        """Forget what was found on ``rows`` (a mask), for one issue that says it all
        (a totals row is rejected as such, not for each blank field it has)."""
        parts = []
        for at, column, rule, values, action, message in self.parts:
            keep = ~rows[at]
            if keep.all():
                parts.append((at, column, rule, values, action, message))
            elif keep.any():
                said = message[keep] if isinstance(message, np.ndarray) else message
                parts.append((at[keep], column, rule, values[keep], action, said))
        self.parts = parts
        self.dropped[rows] = False
        self.repaired[rows] = False
        self.skipped[rows] = False

    def merge(self, other: Issues) -> None:
        self.parts.extend(other.parts)
        self.dropped |= other.dropped
        self.repaired |= other.repaired
        self.skipped |= other.skipped

    def first_drop(self) -> tuple[np.ndarray, list[str]]:
        """The first rule that dropped each row, as the rejects list it first (an index
        into the rules returned; -1: not dropped)."""
        first = np.full(len(self.dropped), -1, dtype=np.int32)
        rules: list[str] = []
        for rows, _column, rule, _values, action, _message in self.parts:
            if action not in (DROPPED, SKIPPED):
                continue
            unnamed = rows[first[rows] < 0]
            if unnamed.size:
                if rule not in rules:
                    rules.append(rule)
                first[unnamed] = rules.index(rule)
        return first, rules


@dataclass(frozen=True)
class RejectedKeys:
    """The keys of a source none of whose rows was kept (all rejected), each with the
    first such row: ``"credit.csv line 4: implausible_date"``. The rows of other sources
    that name one are rejected as ``customer_rejected`` rather than as orphans: the
    customer exists, its credit row did not pass."""

    ids: np.ndarray  # object: the cleaned keys, distinct
    rows: np.ndarray  # object: where and why each one's first row was rejected
    places: np.ndarray  # int64: that row's file position and line, (file << 32) + line

    @classmethod
    def first_of_each(
        cls, ids: np.ndarray, places: np.ndarray, row: Callable[[int], str]
    ) -> RejectedKeys:
        """The first row of each key among rejected rows (``places`` ascending),
        ``row(i)`` naming the ``i``-th."""
        if not len(ids):
            return cls(np.empty(0, dtype=object), np.empty(0, dtype=object), places[:0])
        _, first = np.unique(ids.astype(str), return_index=True)
        first = np.sort(first)
        rows = np.array([row(int(i)) for i in first], dtype=object)
        return cls(np.asarray(ids, dtype=object)[first], rows, places[first])

    @classmethod
    def merged(cls, parts: Sequence[RejectedKeys]) -> RejectedKeys:
        """The keys of the parts of one source cleaned apart, each with its first row."""
        ids = np.concatenate([p.ids for p in parts] or [np.empty(0, dtype=object)])
        rows = np.concatenate([p.rows for p in parts] or [np.empty(0, dtype=object)])
        places = np.concatenate([p.places for p in parts] or [np.empty(0, dtype=np.int64)])
        order = np.argsort(places, kind="stable")
        _, first = np.unique(ids[order].astype(str), return_index=True)
        chosen = order[np.sort(first)]
        return cls(ids[chosen], rows[chosen], places[chosen])

    def __len__(self) -> int:
        return len(self.ids)

    def positions(self, values: np.ndarray) -> np.ndarray:
        """The position of each value among the keys (-1: not one of them)."""
        if not len(self.ids):
            return np.full(len(values), -1, dtype=np.int64)
        return np.asarray(pd.Index(self.ids).get_indexer(values), dtype=np.int64)

    def without(self, kept: np.ndarray) -> RejectedKeys:
        """Without the keys ``kept`` masks (kept after all, in another part)."""
        return RejectedKeys(self.ids[~kept], self.rows[~kept], self.places[~kept])


def pick_values(
    values: pa.Array | pd.Series | np.ndarray, rows: np.ndarray, *, shown: bool = False
) -> np.ndarray:
    """The values at ``rows`` as an object array, converting only those rows. ``shown``
    (a rejected row's value) gives a number the parser typed as text, as the export
    wrote it: ``-5`` and ``1234.5``, not as read back (``-5.0``)."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        taken = values.take(pa.array(rows))
        if pa.types.is_dictionary(taken.type):
            taken = taken.cast(taken.type.value_type)
        if pa.types.is_timestamp(taken.type):
            taken = pc.strftime(taken, format="%Y-%m-%d")
        elif shown and (pa.types.is_floating(taken.type) or pa.types.is_integer(taken.type)):
            taken = pc.cast(taken, pa.string())  # the shortest text: -5, 1234.5, 1e+20
        return np.asarray(taken.to_numpy(zero_copy_only=False), dtype=object)
    if isinstance(values, pd.Series):
        if shown and (
            pd.api.types.is_float_dtype(values.dtype) or pd.api.types.is_integer_dtype(values.dtype)
        ):
            return pick_values(pa.array(values, from_pandas=True), rows, shown=True)
        return np.asarray(values.iloc[rows].to_numpy(dtype=object), dtype=object)
    return np.asarray(values, dtype=object)[rows]


def record_invalid(
    mask: np.ndarray,
    col: ColumnSpec,
    rule: str,
    raw_values: pa.Array,
    issues: Issues,
    *,
    said: np.ndarray | None = None,
) -> None:
    """Record ``rule`` on ``mask``: the rows dropped, or their values blanked (a column
    with ``on_invalid: blank``); ``said`` is one message per flagged row in place of the
    rule's text."""
    text: str | np.ndarray = _range_text(col, rule) if said is None else said
    if said is None and rule in ("invalid_number", "invalid_int") and text != RULE_TEXT[rule]:
        # a value with no digit at all ("true", "n/a") is not a number in any unit: the
        # column's unit (岁) says nothing about it
        rows = mask if mask.dtype.kind in "iu" else np.flatnonzero(mask)
        digitless = [not any(c.isdigit() for c in str(v)) for v in pick_values(raw_values, rows)]
        if any(digitless):
            text = np.array([RULE_TEXT[rule] if d else text for d in digitless], dtype=object)
    if col.on_invalid == "blank" and not col.required:
        blanked = (
            f"{text}; {BLANKED}"
            if isinstance(text, str)
            else np.array([f"{t}; {BLANKED}" for t in text], dtype=object)
        )
        issues.add(mask, col.name, rule, raw_values, REPAIRED, blanked)
    else:
        issues.add(mask, col.name, rule, raw_values, DROPPED, text)


def _range_text(col: ColumnSpec, rule: str) -> str:
    """The rule's text with what the column allows: its values, pattern or range."""
    if rule != "out_of_range":
        if rule == "not_allowed" and col.allowed:
            return f"{RULE_TEXT[rule]}: {join_limited(col.allowed, 8)}"
        if rule == "pattern" and col.pattern:
            shown = col.pattern if len(col.pattern) <= 60 else col.pattern[:60] + "…"
            return f"{RULE_TEXT[rule]} {shown}"
        if rule in ("invalid_number", "invalid_int") and col.read_units:
            return f"{RULE_TEXT[rule]} in {shown_units(col)}, {unit_source(col)}"
        return RULE_TEXT[rule]
    if col.min is not None and col.max is not None:
        return f"outside the allowed range {col.min} to {col.max}"
    if col.min is not None:
        return f"below the minimum {col.min}"
    return f"above the maximum {col.max}"


def unit_source(col: ColumnSpec) -> str:
    """Why a number column takes its unit (declared, or named by its header), and that a
    value in another unit is not converted."""
    unit = col.read_units[0]
    why = "the column's unit" if col.unit is not None else "the unit its header names"
    return f"{why} (a value in another unit is not converted: write it in {unit})"


def shown_units(col: ColumnSpec) -> str:
    """A number column's units to show: 岁 or 周岁 (not also 歲, 週歲 and English)."""
    units = col.read_units
    plain = [u for u in units if u == header_key(u) and not u.isascii()] or list(units[:1])
    return " or ".join(plain[:2])


def _shown_with_escapes(values: np.ndarray) -> np.ndarray:
    """Values to show in rejects, control characters written as \\xNN (never raw)."""
    try:
        text = pa.array(values, type=pa.large_string(), from_pandas=True)
        holding = as_numpy(pc.match_substring_regex(text, _SHOWN_CONTROLS_RE2))
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # numbers among the values
        holding = np.array(
            [isinstance(v, str) and _SHOWN_CONTROLS.search(v) is not None for v in values],
            dtype=bool,
        )
    out = values.copy()
    for i in np.flatnonzero(holding):
        out[i] = _SHOWN_CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", values[i])
    return out


_SHOWN_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SHOWN_CONTROLS_RE2 = r"[\x{00}-\x{08}\x{0b}\x{0c}\x{0e}-\x{1f}\x{7f}-\x{9f}]"


def locator(
    tables: Sequence[RawTable], file_of: np.ndarray, lines: np.ndarray
) -> Callable[[np.ndarray], list[str]]:
    """Names the line of each row position (with its file when a source has several)."""

    def locate(rows: np.ndarray) -> list[str]:
        if len(tables) == 1:
            return [f"line {lines[r]}" for r in rows]
        return [f"{tables[file_of[r]].shown_name} line {lines[r]}" for r in rows]

    return locate


def issues_to_frame(
    source: str, tables: Sequence[RawTable], issues: Issues, file_of: np.ndarray, lines: np.ndarray
) -> pd.DataFrame:
    if not issues.parts:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in ISSUE_COLUMNS})
    rows = np.concatenate([p[0] for p in issues.parts])
    names = [t.shown_name for t in tables]
    frame = pd.DataFrame(
        {
            "source": source,
            "file": np.array(names, dtype=object)[file_of[rows]],
            "line": lines[rows].astype(np.int64),
            "column": np.concatenate(
                [np.full(len(p[0]), p[1], dtype=object) for p in issues.parts]
            ),
            "rule": np.concatenate([np.full(len(p[0]), p[2], dtype=object) for p in issues.parts]),
            "value": _shown_with_escapes(np.concatenate([p[3] for p in issues.parts])),
            "action": np.concatenate(
                [np.full(len(p[0]), p[4], dtype=object) for p in issues.parts]
            ),
            "message": np.concatenate(
                [
                    p[5] if isinstance(p[5], np.ndarray) else np.full(len(p[0]), p[5], dtype=object)
                    for p in issues.parts
                ]
            ),
        }
    )
    # A repaired row that was later dropped is reported as dropped only.
    dropped_rows = issues.dropped[rows]
    frame = frame[~(dropped_rows & (frame["action"] == REPAIRED).to_numpy())]
    return frame


def with_values_typed(issues: pd.DataFrame) -> pd.DataFrame:
    """The issues with their shown values typed as pandas types them in one frame: text
    (blanks NaN) when every value is text or blank, else objects (blanks None). Issues
    put together from parts (the lines the reader rejected before the rows' issues; an
    engine's buckets) then have the dtype of one frame of them, whatever the parts'."""
    shown = issues["value"].astype(object)
    values = shown.where(shown.notna(), None).to_numpy(dtype=object)
    return issues.assign(value=pd.DataFrame({"value": values}, index=issues.index)["value"])


def bad_row_issues(
    source: str,
    tables: Sequence[RawTable],
    totals_label: Callable[[BadRow], str | None] = lambda bad: None,
) -> pd.DataFrame:
    """The rows the reader refused whole, dropped; a workbook's totals row (its
    ``totals_label``, 合计) refused for an Excel error cell is skipped as a totals row,
    as it is without one (a SUM over a column holding #N/A is #N/A)."""
    records = []
    for t in tables:
        for b in t.bad_rows:
            label = totals_label(b)
            message = b.message or (
                f"{RULE_TEXT['field_count']}: expected {b.expected}, found {b.actual}"
            )
            records.append(
                {
                    "source": source,
                    "file": t.shown_name,
                    "line": b.line,
                    "column": b.column,
                    "rule": b.rule if label is None else "total_row",
                    "value": (b.text if label is None else label)[:500],
                    "action": DROPPED if label is None else SKIPPED,
                    "message": message
                    if label is None
                    else f"{RULE_TEXT['total_row']} ({message})",
                }
            )
    return pd.DataFrame(records, columns=ISSUE_COLUMNS)
