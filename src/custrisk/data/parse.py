"""Typing text values: numbers, dates (with the plausible-date limits), booleans,
resident id numbers, and range checks."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.config.columns import ColumnSpec
from custrisk.config.sources import DateLimits, SourcesConfig
from custrisk.data._arrays import as_numpy, to_text, value_offsets
from custrisk.data.dates import credible_range_of_dates
from custrisk.data.issues import (
    DROPPED,
    REPAIR_CASE,
    REPAIRED,
    RULE_TEXT,
    Issues,
    Values,
    pick_values,
)
from custrisk.data.text import CN_PHONE

_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_ID_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)


def implausible_dates(
    values: pd.Series, col: ColumnSpec, limits: DateLimits, raw_values: Values, issues: Issues
) -> pd.Series:
    """Reject dates before the source's floor or after its plausible range.

    The floor is ``dates.not_before`` for columns without their own ``min``. The upper
    limit is ``dates.days_ahead`` days after the column's latest credible date (see
    :mod:`custrisk.data.dates`) or after today (``dates.ahead_of: today``). Rows already
    rejected for this column do not count.
    """
    stamps = values.to_numpy(dtype="datetime64[s]")
    ticks = stamps.view(np.int64)
    ok = ~np.isnat(stamps)
    if issues.dropped.any():
        ok &= ~issues.dropped
    if not ok.any():
        return values
    bad = np.zeros(len(stamps), dtype=bool)
    if col.min is None:
        floor = np.datetime64(limits.not_before, "s").astype(np.int64)
        early = ok & (ticks < floor)
        if early.any():
            _reject_dates(
                early,
                col,
                raw_values,
                issues,
                f"before {limits.not_before} (dates.not_before in the sources config; "
                "lower it, or give the column a min, to accept older dates)",
            )
            bad |= early
            ok &= ~early
    if limits.days_ahead is not None and ok.any():
        fixed = dict(limits.latest)
        if limits.ahead_of == "today":
            latest = (dt.date.today() - dt.date(1970, 1, 1)).days
            limit, reference = latest + limits.days_ahead, "today"
        elif col.name in fixed:  # found over the whole source (a source cleaned in parts)
            latest = fixed[col.name]
            limit, reference = latest + limits.days_ahead, f"the latest credible {col.name}"
        else:
            found = credible_range_of_dates(stamps, ok, limits.days_ahead)
            assert found is not None
            latest, limit = found.latest, found.limit
            reference = f"the latest credible {col.name}"
        late = ok & (ticks >= (limit + 1) * 86_400)
        if late.any():
            _reject_dates(
                late,
                col,
                raw_values,
                issues,
                f"more than {limits.days_ahead} days after {reference} "
                f"({np.datetime64(latest, 'D')}), so after {np.datetime64(limit, 'D')}; "
                "probably mistyped (dates.days_ahead in the sources config)",
            )
            bad |= late
    if bad.any() and col.on_invalid == "blank" and not col.required:
        values = values.mask(bad)
    return values


def _reject_dates(
    mask: np.ndarray, col: ColumnSpec, raw_values: Values, issues: Issues, why: str
) -> None:
    text = f"{RULE_TEXT['implausible_date']}: {why}"
    if col.on_invalid == "blank" and not col.required:
        issues.add(
            mask, col.name, "implausible_date", raw_values, REPAIRED, text + "; replaced by blank"
        )
    else:
        issues.add(mask, col.name, "implausible_date", raw_values, DROPPED, text)


def parse_values(
    text: pa.Array, present: np.ndarray, col: ColumnSpec, config: SourcesConfig
) -> tuple[pd.Series, list[tuple[np.ndarray, str]]]:
    """Typed values, and the masks of malformed ones with the rule each broke."""
    if col.type in ("int", "float"):
        if col.recode:  # words standing for numbers: {是: 1, 否: 0}
            text = _recoded(text, col.recode)
        # (a column whose scale is its unit: 50万 there is 50 of it or 500,000? refused;
        # a monthly income's scale of 12 is no unit: 1.2万 there is 12,000 a month)
        floats, ok = _parse_numbers(text, present, units=not col.scale_is_unit)
        malformed = present & ~ok
        if col.type == "float":
            return pd.Series(floats, dtype="float64"), [(malformed, "invalid_number")]
        whole = np.nan_to_num(floats)
        not_int = ok & ((np.mod(whole, 1) != 0) | (np.abs(whole) > 2**53))
        floats[not_int] = np.nan
        missing = np.isnan(floats)
        ints = pd.array(np.where(missing, 0, floats).astype(np.int64), dtype="Int64")
        ints[missing] = pd.NA
        return pd.Series(ints), [(malformed, "invalid_number"), (not_int, "invalid_int")]
    if col.type == "date":
        dates = _parse_dates(text, present, config.date_formats)
        return dates, [(present & dates.isna().to_numpy(), "invalid_date")]
    if col.type == "bool":
        lower = pc.utf8_lower(text)
        is_true = as_numpy(pc.is_in(lower, pa.array(config.true_values)))
        is_false = as_numpy(pc.is_in(lower, pa.array(config.false_values)))
        flags = pd.array(is_true, dtype="boolean")
        flags[~(is_true | is_false)] = pd.NA
        return pd.Series(flags), [(present & ~(is_true | is_false), "invalid_bool")]
    # id, string, category
    if col.recode:
        text = _recoded(text, col.recode)
    if not present.all():
        text = pc.if_else(pa.array(present), text, pa.scalar(None, text.type))
    values = _as_str_series(text)
    if col.allowed is not None:
        invalid = present & ~as_numpy(pc.is_in(text, pa.array(col.allowed)))
        recased = np.zeros(len(text), dtype=bool)
        if invalid.any():
            # Case-only differences are repaired, not rejected.
            lowered = {a.lower(): a for a in col.allowed}
            fixed = values[invalid].str.lower().map(lowered)
            ok = fixed.notna().to_numpy()
            rows = np.flatnonzero(invalid)[ok]
            values.iloc[rows] = fixed[ok].to_numpy()
            invalid[rows] = False
            recased[rows] = True
        return values, [(invalid, "not_allowed"), (recased, REPAIR_CASE)]
    failures: list[tuple[np.ndarray, str]] = []
    if col.pattern is not None:
        # RE2 only (linear time): the sources config refuses patterns it cannot run
        matched = as_numpy(pc.match_substring_regex(text, f"^(?:{col.pattern})$"))
        failures.append((present & ~matched, "pattern"))
    if col.check == "cn_id_number":
        failures.append((present & ~valid_cn_id_number(text), "cn_id_number"))
    elif col.check == "cn_phone":  # (the cleaner put the numbers in this form)
        phone = as_numpy(pc.match_substring_regex(text, f"^(?:{CN_PHONE})$"))
        failures.append((present & ~phone, "cn_phone"))
    if len(failures) > 1:  # a value at fault once
        failures[1] = (failures[1][0] & ~failures[0][0], failures[1][1])
    return values, failures


def _recoded(text: pa.Array, recode: tuple[tuple[str, str], ...]) -> pa.Array:
    """``text`` with the values ``recode`` names replaced (a category is cleaned once
    per distinct value, so this runs over the distinct values only)."""
    keys = pa.array([key for key, _ in recode], type=text.type)
    targets = pa.array([value for _, value in recode], type=text.type)
    where = pc.index_in(text, value_set=keys)
    hit = pc.is_valid(where)
    if not pc.any(hit).as_py():
        return text
    return pc.if_else(hit, targets.take(pc.fill_null(where, 0)), text)


def _parse_numbers(
    text: pa.Array, present: np.ndarray, *, units: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Floats (NaN where blank or malformed) and the mask of well-formed values.

    Thousands separators ("1,234,567.5") are accepted; "inf" and "nan" are not numbers.
    Without ``units``, a value with a unit that scales it (``50万``, ``12%``) is malformed.
    """
    given = pc.if_else(pa.array(present), text, pa.scalar(None, pa.string()))
    with_commas = present & as_numpy(pc.match_substring(text, ","))
    if with_commas.any():
        grouped = with_commas & as_numpy(
            pc.match_substring_regex(text, r"^[+-]?[1-9]\d{0,2}(,\d{3})+(\.\d+)?$")
        )
        given = pc.if_else(pa.array(grouped), pc.replace_substring(given, ",", ""), given)
        given = pc.if_else(pa.array(with_commas & ~grouped), pa.scalar(None, pa.string()), given)
    try:
        values = pc.cast(given, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
    except pa.ArrowInvalid:  # some value is malformed: find which
        shaped = as_numpy(
            pc.match_substring_regex(given, r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
        )
        given = pc.if_else(pa.array(shaped), given, pa.scalar(None, pa.string()))
        values = pc.cast(given, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
    ok = present & np.isfinite(values)
    if not ok.all() and (present & ~ok).any():
        _decorated_numbers(text, present & ~ok, values, ok, units=units)
    values[~ok] = np.nan
    return values, ok


#: A number written with a currency sign or unit (``¥1,234.50``, ``-$80``, ``−80``, ``1,234.50元``,
#: ``RMB 1234``) or as a percentage (``12.5%``); in brackets, as accounting writes a
#: negative amount (``(1,234.50)``), or with a minus after it, as ERPs do (``1,234.50-``),
#: it is negative (:data:`ACCOUNTING_NEGATIVE`, :data:`TRAILING_MINUS`). Looked
#: for only among the values that do not read as plain numbers, so a clean column pays
#: nothing.
DECORATED_NUMBER = (
    r"^(?P<sign>[+\-−]?)\s*(?:[¥￥$]|RMB|CNY)?\s*"
    r"(?P<number>(?:[1-9]\d{0,2}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)\s*(?P<unit>万元|亿元|元|万|亿|%)?$"
)
#: The power of ten each unit of :data:`DECORATED_NUMBER` scales its number by, as the
#: exponent written after it (``12.5%`` is ``12.5e-2``, ``1.5万`` is ``1.5e4``): read so,
#: the value is the exact double of the number written out in full.
NUMBER_UNITS = {"%": "e-2", "元": "", "万": "e4", "万元": "e4", "亿": "e8", "亿元": "e8"}
#: The units of :data:`NUMBER_UNITS` that scale a number: what a column with a ``scale``
#: must not hold (is ``50万`` in a column of 万元 50 of them, or 500,000 to scale again?).
SCALING_UNITS = tuple(unit for unit, exponent in NUMBER_UNITS.items() if exponent)
#: A value in brackets: accounting's negative amount, read as ``-`` and what is inside.
ACCOUNTING_NEGATIVE = r"^\((?P<inner>[^()]*)\)$"
#: A minus after the amount, as SAP and other ERPs export a negative one (``1,234.50-``):
#: read as ``-`` and what comes before it.
TRAILING_MINUS = r"^(?P<inner>[^+\-−()]*[0-9%元万亿])\s*-$"


#: Currencies other than the export's own (元: ¥, ￥, RMB, CNY, 元), written before or
#: after an amount (``HK$1,200``, ``USD 35.00``, ``€12``, ``1,200港币``): never converted
#: (at which rate, of which day?), named in the reject with the fix.
_FOREIGN_CURRENCY = (
    r"US\$|HK\$|NT\$|MOP\$|S\$|A\$|C\$|NZ\$|JP¥|€|£|₩|₹|₽|฿|円|"
    r"USD|HKD|TWD|NTD|MOP|EUR|GBP|JPY|KRW|SGD|AUD|CAD|NZD|CHF|INR|RUB|THB|MYR|"
    r"美元|美金|港币|港幣|港元|欧元|歐元|英镑|英鎊|日元|日圆|日圓|台币|台幣|新台币|新台幣|"
    r"澳门元|澳門元|澳元|韩元|韓元|新加坡元|加元|瑞士法郎|卢布|泰铢"
)
#: A number written with a foreign currency before or after it (groups ``before`` and
#: ``after``); not :data:`custrisk.data.issues.FOREIGN_AMOUNT`, the reject's message.
FOREIGN_AMOUNT_PATTERN = (
    rf"(?i)^\(?\s*[+\-−]?\s*(?P<before>{_FOREIGN_CURRENCY})?\s*[+\-−]?\s*"
    r"(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)\s*(?:万|亿|千)?\s*"
    rf"(?P<after>{_FOREIGN_CURRENCY})?\s*\)?\s*-?$"
)


def foreign_currencies(text: pa.Array, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``rows`` (a mask: values that already failed the plain parse, so a clean
    column pays nothing) are amounts written in a foreign currency, and the currency of
    each as written (an object array over the rows found)."""
    where = np.flatnonzero(rows)
    found = np.zeros(len(rows), dtype=bool)
    if not where.size:
        return found, np.empty(0, dtype=object)
    parts = pc.extract_regex(text.take(pa.array(where)), FOREIGN_AMOUNT_PATTERN)
    named = pc.coalesce(
        pc.if_else(pc.equal(parts.field("before"), ""), None, parts.field("before")),
        pc.if_else(pc.equal(parts.field("after"), ""), None, parts.field("after")),
    )
    hit = as_numpy(pc.fill_null(pc.is_valid(named), False))
    found[where[hit]] = True
    names = named.filter(pa.array(hit)).to_numpy(zero_copy_only=False).astype(object)
    return found, np.array([currency_shown(n) for n in names], dtype=object)


def currency_shown(currency: str) -> str:
    """A currency as a message names it: a Latin code upper-cased (usd -> USD), others
    as written (港币)."""
    return currency.upper() if currency.isascii() else currency


def decorated_number(value: str) -> tuple[float, str] | None:
    """One value read as :func:`_decorated_numbers` reads a column: the number and its
    unit (``""`` without one), or ``None`` when it is no decorated number."""
    negative = re.fullmatch(ACCOUNTING_NEGATIVE, value) or re.fullmatch(TRAILING_MINUS, value)
    found = re.fullmatch(DECORATED_NUMBER, f"-{negative['inner']}" if negative else value)
    if found is None:
        return None
    unit = found["unit"] or ""
    sign = found["sign"].replace("−", "-")
    return float(sign + found["number"].replace(",", "") + NUMBER_UNITS.get(unit, "")), unit


def _decorated_numbers(
    text: pa.Array, rows: np.ndarray, values: np.ndarray, ok: np.ndarray, *, units: bool = True
) -> None:
    """Read the ``rows`` of ``text`` that are decorated numbers (:data:`DECORATED_NUMBER`)
    into ``values`` and mark them in ``ok``: the number scaled by its unit (without
    ``units``, one with a unit that scales it, 万, 亿 or %, is left unread)."""
    where = np.flatnonzero(rows)
    subset = text.take(pa.array(where))
    for negative in (ACCOUNTING_NEGATIVE, TRAILING_MINUS):
        found = pc.extract_regex(subset, negative)
        if pc.any(pc.is_valid(found)).as_py():
            negated = pc.binary_join_element_wise(
                pa.scalar("-", subset.type),
                found.field("inner").cast(subset.type),
                pa.scalar("", subset.type),
            )
            subset = pc.if_else(pc.is_valid(found), negated, subset)
    parts = pc.extract_regex(subset, DECORATED_NUMBER)
    matched = as_numpy(pc.is_valid(parts))
    if not units and matched.any():  # (a currency sign, 元 and brackets are still read)
        unit = parts.field("unit")
        matched &= ~as_numpy(pc.fill_null(pc.is_in(unit, pa.array(SCALING_UNITS)), False))
    if not matched.any():
        return
    parts = parts.filter(pa.array(matched))
    # (the minus sign U+2212 of text copied from a document or a web page is a minus)
    sign = pc.replace_substring(parts.field("sign").cast(pa.large_string()), "−", "-")
    digits = pc.replace_substring(parts.field("number"), ",", "").cast(pa.large_string())
    units = pa.array(list(NUMBER_UNITS))
    exponents = pa.array(list(NUMBER_UNITS.values()), pa.large_string())
    exponent = pc.fill_null(exponents.take(pc.index_in(parts.field("unit"), units)), "")
    number = pc.binary_join_element_wise(sign, digits, exponent, pa.scalar("", pa.large_string()))
    found = pc.cast(number, pa.float64()).to_numpy(zero_copy_only=False)
    values[where[matched]] = found
    ok[where[matched]] = np.isfinite(found)


def _as_categorical(values: pd.Series) -> pd.Series:
    """Text with few distinct values as a pandas Categorical (codes, not strings)."""
    encoded = pc.dictionary_encode(to_text(pa.array(values)))
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int32)
    categories = pd.Index(encoded.dictionary.to_numpy(zero_copy_only=False), dtype="str")
    return pd.Series(pd.Categorical.from_codes(codes, categories=categories))


def _as_str_series(arr: pa.Array | pa.ChunkedArray) -> pd.Series:
    """An Arrow string array as a pandas ``str`` Series, without a round trip via objects."""
    return pd.Series(pd.array(arr, dtype=pd.StringDtype("pyarrow", na_value=np.nan)))


# Fixed-width layouts parsed on the fast path: width, separator positions and the slices
# of year, month and day.
_FIXED_DATE_LAYOUTS: dict[str, tuple[int, dict[int, int], tuple[int, int, int]]] = {
    "%Y-%m-%d": (10, {4: ord("-"), 7: ord("-")}, (0, 5, 8)),
    "%Y/%m/%d": (10, {4: ord("/"), 7: ord("/")}, (0, 5, 8)),
    "%Y.%m.%d": (10, {4: ord("."), 7: ord(".")}, (0, 5, 8)),
    "%Y%m%d": (8, {}, (0, 4, 6)),
    "%d/%m/%Y": (10, {2: ord("/"), 5: ord("/")}, (6, 3, 0)),
    "%d.%m.%Y": (10, {2: ord("."), 5: ord(".")}, (6, 3, 0)),
    "%m/%d/%Y": (10, {2: ord("/"), 5: ord("/")}, (6, 0, 3)),
}


def _parse_dates(text: pa.Array, present: np.ndarray, formats: Sequence[str]) -> pd.Series:
    """Parse dates trying each format in turn; unparseable values stay NaT.

    Fixed-width layouts (2025-01-31, 20250131, ...) are decoded straight from the Arrow
    bytes with NumPy, checking the calendar (no 2025-02-30); other values go through
    pandas' strict parser.
    """
    parsed = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[s]")
    todo = present.copy()
    for fmt in formats:
        if fmt in _FIXED_DATE_LAYOUTS and todo.any():
            rows, values = _fixed_width_dates(text, todo, *_FIXED_DATE_LAYOUTS[fmt])
            parsed[rows] = values
            todo[rows] = False
    for fmt in formats:
        if not todo.any():
            break
        rows = np.flatnonzero(todo)
        picked = pick_values(text, rows)
        if "%z" in fmt or "%Z" in fmt:
            values = _days_as_written(picked, fmt)
        else:
            strict = pd.to_datetime(pd.Series(picked), format=fmt, errors="coerce")
            # a date column holds days: a time of day (2026-10-03 14:25:00) is dropped,
            # as from a typed timestamp of Parquet or a database
            values = strict.to_numpy(dtype="datetime64[s]").astype("datetime64[D]")
        ok = ~np.isnat(values)
        parsed[rows[ok]] = values[ok]
        todo[rows[ok]] = False
    return pd.Series(parsed)


def _days_as_written(values: np.ndarray, fmt: str) -> np.ndarray:
    """The days of date-time text with a zone (a format with %z), each on its own clock:
    ``2026-10-03 01:30:00+08:00`` is 2026-10-03, as written and as a database's
    ``timestamptz`` is taken on its session's clock (pandas refuses a column of several
    offsets, and would move each to UTC: the evening before). Unparseable: NaT."""
    days = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[D]")
    for i, value in enumerate(values):
        try:
            days[i] = dt.datetime.strptime(str(value), fmt).date()
        except ValueError:
            continue
    return days


def _fixed_width_dates(
    text: pa.Array,
    todo: np.ndarray,
    width: int,
    separators: dict[int, int],
    starts: tuple[int, int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``todo`` that are valid dates in one fixed-width layout, and their values."""
    offsets = value_offsets(text)
    candidates = np.flatnonzero(todo & (np.diff(offsets) == width))
    if not candidates.size:
        return candidates, np.empty(0, dtype="datetime64[s]")
    subset = text.take(pa.array(candidates)) if candidates.size < len(text) else text
    sub_offsets = value_offsets(subset)
    data = np.frombuffer(subset.buffers()[2], dtype=np.uint8)
    block = data[sub_offsets[0] : sub_offsets[-1]].reshape(-1, width)
    digits = block - np.uint8(48)  # wraps around for bytes below '0'
    digit_at = [i for i in range(width) if i not in separators]
    ok = (digits[:, digit_at] <= 9).all(axis=1)
    for position, byte in separators.items():
        ok &= block[:, position] == byte

    def number(start: int, size: int) -> np.ndarray:
        value = np.zeros(len(block), dtype=np.int32)
        for i in range(start, start + size):
            value = value * 10 + digits[:, i]
        return value

    y0, m0, d0 = starts
    year, month, day = number(y0, 4), number(m0, 2), number(d0, 2)
    ok &= (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1)
    month_start = ((year - 1970) * 12 + np.clip(month, 1, 12) - 1).astype("datetime64[M]")
    days_in_month = (
        (month_start + 1).astype("datetime64[D]") - month_start.astype("datetime64[D]")
    ).astype(np.int64)
    ok &= day <= days_in_month
    values = (month_start.astype("datetime64[D]") + (day - 1)).astype("datetime64[s]")
    return candidates[ok], values[ok]


def valid_cn_id_number(values: pd.Series | pa.Array) -> np.ndarray:
    """True where the value is an 18-digit resident id (GB 11643) with a valid check digit
    and a real birth date.

    Checked on the values' bytes with NumPy (17 digits and a digit or X, the weighted
    check digit, the birth date's calendar): no Python object per value.
    """
    text = _id_text(values)
    ok = np.zeros(len(text), dtype=bool)
    sized = np.diff(value_offsets(text)) == 18  # 18 bytes: maybe 17 digits and a digit or X
    if text.null_count:
        sized &= as_numpy(pc.is_valid(text))
    rows = np.flatnonzero(sized)
    if not rows.size:
        return ok
    ids = text if rows.size == len(text) else text.take(pa.array(rows))
    offsets = value_offsets(ids)
    data = np.frombuffer(ids.buffers()[2], dtype=np.uint8)
    chars = data[offsets[0] : offsets[-1]].reshape(-1, 18)
    # Digit by digit in bytes and 32-bit sums: a matrix of 64-bit digits (29 MB at 200k
    # ids, in fresh pages of a command) took six times as long
    digits = chars - np.uint8(48)  # a byte below "0" wraps round: not a digit either
    last = chars[:, 17]
    shaped = (last == ord("X")) | (digits[:, 17] <= 9)
    total = np.zeros(len(chars), dtype=np.int32)
    for position, weight in enumerate(_ID_WEIGHTS.tolist()):
        digit = digits[:, position]
        shaped &= digit <= 9
        total += digit * np.int32(weight)
    check = _ID_CHECK[total % 11]

    def number(start: int, size: int) -> np.ndarray:
        value = np.zeros(len(chars), dtype=np.int32)
        for position in range(start, start + size):
            value = value * 10 + np.minimum(digits[:, position], 9)
        return value

    born = _real_dates(number(6, 4), number(10, 2), number(12, 2))
    ok[rows] = shaped & (check == last) & born
    return ok


def _id_text(values: pd.Series | pa.Array) -> pa.Array:
    """The values as one Arrow text array (anything but text as missing)."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return to_text(values)
    try:
        return to_text(pa.array(values, from_pandas=True, type=pa.large_string()))
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # numbers among the values
        only_text = [v if isinstance(v, str) else None for v in values.tolist()]
        return pa.array(only_text, type=pa.large_string())


def _real_dates(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Which (year, month, day) are dates of the proleptic Gregorian calendar (years 0
    to 9999, as pandas parses ``%Y%m%d``)."""
    ok = (month >= 1) & (month <= 12) & (day >= 1)
    month_start = ((year - 1970) * 12 + np.clip(month, 1, 12) - 1).astype("datetime64[M]")
    days_in_month = (
        (month_start + 1).astype("datetime64[D]") - month_start.astype("datetime64[D]")
    ).astype(np.int64)
    return ok & (day <= days_in_month)


def range_violations(values: pd.Series, col: ColumnSpec) -> np.ndarray | None:
    if col.min is None and col.max is None:
        return None
    if col.type == "date":
        lo = np.datetime64(col.min, "s") if col.min is not None else None
        hi = np.datetime64(col.max, "s") if col.max is not None else None
        arr = values.to_numpy(dtype="datetime64[s]")
        bad = np.zeros(len(arr), dtype=bool)
        valid = ~np.isnat(arr)
        if lo is not None:
            bad |= valid & (arr < lo)
        if hi is not None:
            bad |= valid & (arr > hi)
        return bad
    arr = values.to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        bad = np.zeros(len(arr), dtype=bool)
        if col.min is not None:
            bad |= arr < col.min
        if col.max is not None:
            bad |= arr > col.max
    return bad
