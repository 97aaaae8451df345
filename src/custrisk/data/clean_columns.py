"""Cleaning one column of a source: the text path (trimming, blanks, formulas, ids and
phone numbers normalised, then typing, scales, ranges and plausible dates), the fast
path for a column a reader already typed, and the path of a column of few distinct
values, cleaned once per value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.config.columns import TEXT_TYPES, ColumnSpec
from custrisk.config.sources import DateLimits, SourcesConfig, SourceSpec
from custrisk.data._arrays import as_numpy, to_text
from custrisk.data.issues import (
    DROPPED,
    FOREIGN_AMOUNT,
    REPAIR_CASE,
    REPAIRED,
    Issues,
    Values,
    pick_values,
    record_invalid,
)
from custrisk.data.parse import (
    foreign_currencies,
    implausible_dates,
    parse_values,
    range_violations,
)
from custrisk.data.text import (
    PERSONAL_DATA_MASKED,
    control_characters,
    excel_text_literals,
    formula_like,
    header_unit_read,
    id_collisions,
    known_categories,
    known_spelling,
    normalise_id,
    normalise_phone,
    normalise_width,
    number_blank_words,
    pad_zeros,
    personal_data_texts,
    phone_numbers,
    row_flags,
    scientific_ids,
    tab_prefixed,
    trim_and_blank,
    with_decimal_point,
    without_units,
)
from custrisk.io.readers import RawTable

#: pandas' text (Arrow text, missing as NaN), as the cleaner's text columns hold it.
TEXT = pd.StringDtype("pyarrow", na_value=np.nan)


def clean_column_values(
    spec: SourceSpec,
    table: RawTable,
    name: str,
    config: SourcesConfig,
    *,
    table_spec: SourceSpec | None = None,
) -> tuple[pd.Series, np.ndarray]:
    """One column of a raw table cleaned row by row as
    :func:`~custrisk.data.clean.clean_source` cleans it, without dropping any row: the
    values and which rows a rule of this column drops.

    Nothing across rows is applied (no duplicates, no orphans, no upper limit of dates),
    so the values of a row do not depend on the other rows: an engine that cleans a
    source in parts uses them to send the rows sharing a cleaned key to one part, and
    to count the dates behind the latest credible date of a column over all parts.
    """
    table_spec = table_spec or spec
    col = spec.column(name)
    raw: pa.ChunkedArray | None = None
    for file_name in table.table.column_names:
        if table_spec.rename.get(file_name, file_name) == name:
            raw = table.table.column(file_name)
    if raw is None:
        raw = pa.chunked_array([pa.nulls(table.num_rows, pa.large_string())])
    issues = Issues(table.num_rows)
    dates = replace(spec.dates or DateLimits(), days_ahead=None)
    values = clean_column(raw, col, config, issues, dates=dates)
    return values, issues.dropped


def one_piece(column: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """The column as one array (dictionaries, whose blocks each have their own, are
    left to :func:`dictionary_text`)."""
    if pa.types.is_dictionary(column.type):
        return column
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def is_text(kind: pa.DataType) -> bool:
    """Text, or text as a dictionary."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def dictionary_text(column: pa.ChunkedArray | pa.Array) -> pa.DictionaryArray:
    """A text column as one dictionary array (indices into its distinct values)."""
    if pa.types.is_dictionary(column.type) and is_text(column.type):
        if isinstance(column, pa.DictionaryArray):
            return column
        column = column.unify_dictionaries()
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return pc.dictionary_encode(to_text(column))


def clean_column(
    column: pa.ChunkedArray | pa.Array,
    col: ColumnSpec,
    config: SourcesConfig,
    issues: Issues,
    *,
    dates: DateLimits | None = None,
    locate: Callable[[np.ndarray], list[str]] | None = None,
    by_value: bool = False,
) -> pd.Series:
    """Clean one column. ``dates`` are the source's plausible dates; ``locate`` (given
    for the key column only) names the lines of rows, for id collisions; ``by_value``
    cleans a text column once per distinct value into a categorical (as categories
    are), for a column of few distinct values on many rows."""
    dates = dates or DateLimits()
    if col.type == "date" and _other_date_type(column.type):
        column = _days_as_seconds(column)
    if _already_typed(column.type, col):
        return _clean_typed(column, col, issues, dates)
    if col.type == "category" or (by_value and col.type in TEXT_TYPES and locate is None):
        return _clean_by_dictionary(dictionary_text(column), col, config, issues)
    raw = to_text(column)
    if pa.types.is_decimal(column.type) and column.type.scale > 0:
        # A Parquet decimal's whole values as their digits (16712345678, not its type's
        # 16712345678.00, which reads as an amount): a phone or ID number in it is caught.
        # (Its text has the one point and then scale digits: a plain search, not a regex,
        # which took about as long as making the text, over millions of amounts.)
        raw = pc.replace_substring(raw, "." + "0" * column.type.scale, "")
    return clean_text(raw, col, config, issues, dates=dates, locate=locate)


def _clean_by_dictionary(
    encoded: pa.DictionaryArray, col: ColumnSpec, config: SourcesConfig, issues: Issues
) -> pd.Series:
    """Clean a low-cardinality column once per distinct value, then expand to rows.

    Rejects show the raw value of a row, taken from ``encoded`` (the raw column as a
    dictionary), so the column's text is never held once per row."""
    raw = encoded
    distinct = encoded.dictionary
    index = encoded.indices.to_numpy(zero_copy_only=False)
    if encoded.null_count:  # nulls get an entry of their own, after the distinct values
        # (with nulls, the indices arrive as floats)
        index = np.where(as_numpy(pc.is_null(encoded.indices)), len(distinct), index)
        index = index.astype(np.int64)
        distinct = pa.concat_arrays([distinct, pa.nulls(1, distinct.type)])
    # Else the indices stay as Arrow has them (int32): NumPy looks rows up with them as
    # they are, while an int64 copy of them was 39 MB on 4.9M transactions.
    entry_issues = Issues(len(distinct))
    entry_values = clean_text(distinct, col, config, entry_issues)
    for entries, column, rule, _shown, action, message in entry_issues.parts:
        flagged = np.zeros(len(distinct), dtype=bool)
        flagged[entries] = True
        issues.add(flagged[index], column, rule, raw, action, message)
    # The cleaned entries' distinct texts in sorted order (by Arrow: NumPy's sort of
    # 200,000 customer ids as its own text took a tenth of a second), and each entry's
    # position among them.
    cleaned = pa.array(entry_values.fillna("").astype("str").array, type=pa.large_string())
    encoded = pc.dictionary_encode(cleaned)
    order = pc.sort_indices(encoded.dictionary).to_numpy()
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    entry_codes = rank[encoded.indices.to_numpy(zero_copy_only=False)]
    categories = encoded.dictionary.take(pa.array(order))
    missing = entry_values.isna().to_numpy()
    present = as_numpy(pc.not_equal(categories, ""))
    remap = np.cumsum(present) - 1
    # The code of each distinct value, then one look-up per row: the rows' codes are
    # made once, not through five temporaries as long as the column.
    entry_codes = np.where(missing, -1, entry_codes)
    entry_codes = np.where(entry_codes >= 0, remap[np.maximum(entry_codes, 0)], -1)
    codes = entry_codes.astype(np.int32)[index]
    shown = pd.array(categories.filter(pa.array(present)), dtype=TEXT)
    return pd.Series(pd.Categorical.from_codes(codes, categories=pd.Index(shown)))


def clean_text(
    raw: pa.Array,
    col: ColumnSpec,
    config: SourcesConfig,
    issues: Issues,
    *,
    dates: DateLimits | None = None,
    locate: Callable[[np.ndarray], list[str]] | None = None,
) -> pd.Series:
    """Trim, blank, formula and id checks, then parse: the text path, row by row."""
    text, blank, trimmed, first = trim_and_blank(raw)
    if trimmed.any():
        # A tab before the ids (most of them: an export keeping them text in Excel) is
        # not a repair to list on every row; a stray one before a few still is
        tabbed = tab_prefixed(raw, text, trimmed)
        if tabbed.sum() * 2 >= np.count_nonzero(~blank):
            trimmed &= ~tabbed
    # ="0000000042", an export's way to keep an id's zeros in Excel: that text (="" blank)
    text, first, literal = excel_text_literals(text, first)
    if literal.any():
        blank = blank | (literal & (first == 0))
    present = ~blank
    raw_values = raw
    written = text
    repairs: list[tuple[np.ndarray, str, str | None]] = []  # (rows, rule, message)
    if col.required:
        issues.add(blank, col.name, "missing_required", raw_values, DROPPED)
    flags = None
    if col.type in TEXT_TYPES:
        flags = row_flags(text)
        control = present & control_characters(text, flags, col.type)
        formula = present & formula_like(text, first)
        if col.check == "cn_phone" and formula.any():
            formula &= ~phone_numbers(text, formula)  # +86-138-...: kept as 138...
        for unsafe, rule in ((control, "control_character"), (formula, "formula")):
            if unsafe.any():
                record_invalid(unsafe, col, rule, raw_values, issues)
        if col.on_invalid == "blank" and not col.required:
            # Blanked as a blank cell would be, before the other checks see it: the
            # text never reaches an output, and is not reported again (trimmed, a
            # pattern fault) nor normalised as an id
            present = present & ~(control | formula)
        repairs.append((trimmed & present, "whitespace", None))
        if col.type != "id" and not col.pii:
            text, personal = personal_data_texts(text, present)
            repairs.append((personal, "personal_data", PERSONAL_DATA_MASKED))
    if col.type == "id":
        scientific = present & scientific_ids(text, flags)
        if scientific.any():
            record_invalid(scientific, col, "scientific_id", raw_values, issues)
            present = present & ~scientific
        trimmed_text = text
        text, normalised = normalise_id(text, present, flags)
        if col.check == "cn_phone":
            text, phoned = normalise_phone(text, present)
            repairs.append((normalised | phoned, "normalised", PHONE_NORMALISED))
        else:
            repairs.append((normalised, "normalised", None))
        changed = normalised
        if col.zero_pad is not None:
            # Not a repair: the config asks it of every short number (all of a sheet's
            # ids, whose rows would all count as repaired). Two ids it makes one (42 and
            # 0042) still collide.
            text, padded = pad_zeros(text, present, col.zero_pad)
            changed = normalised | padded
        if locate is not None and changed.any():
            id_collisions(trimmed_text, text, changed, present, col, locate, raw_values, issues)
    elif col.check == "cn_phone":
        text, phoned = normalise_phone(text, present)
        repairs.append((phoned, "normalised", PHONE_NORMALISED))
    elif col.type not in TEXT_TYPES:
        numbers = col.type in ("int", "float")
        text, widened = normalise_width(text, present, unflagged="￥（）" if numbers else "")
        written = text  # (before a unit is cut: 16712345678元 is written as money)
        if numbers or col.type == "date":  # (an unpaid bill's 实际还款日期: —)
            worded = number_blank_words(text, present)  # 无, —, /: none, as a blank is
            if col.recode and worded.any():
                keys = pa.array([k for k, _ in col.recode], type=text.type)
                worded &= ~np.asarray(pc.is_in(text, keys).to_numpy(zero_copy_only=False))
            if worded.any():
                present = present & ~worded
                widened = widened & ~worded  # (a full-width －: a blank, not a repair)
                if col.required:
                    issues.add(worded, col.name, "missing_required", raw_values, DROPPED)
        repairs.append((widened, "normalised", None))
        if numbers:
            units = col.read_units  # (declared in 岁: 35周岁 too; 年龄: 35岁 is 35)
            if units:
                text, cut = without_units(text, units)
                if col.unit is None:  # (a unit only the header names: listed)
                    repairs.append((cut & present, "normalised", header_unit_read(col)))
            if col.decimal == ",":
                text = with_decimal_point(text)
    if col.type == "category" and col.known_values:
        text, respelled = known_categories(text, present, col)
        for known, rows in respelled.items():
            repairs.append((rows, "normalised", known_spelling(known)))
    values, failures = parse_values(text, present, col, config)
    if col.type in ("int", "float") and not col.pii:
        unread = np.zeros(len(text), dtype=bool)
        for invalid, _rule in failures:
            unread |= invalid
        personal = personal_numbers(values, present, written, unread)
        if personal.any():
            failures = [(invalid & ~personal, rule) for invalid, rule in failures]
            values = _personal_blanked(values, personal, col, _digits_of(raw_values), issues)
    for invalid, rule in failures:
        if rule == REPAIR_CASE:
            repairs.append((invalid & present, "normalised", "case of an allowed value normalised"))
        elif invalid.any():
            plain = invalid
            if rule == "invalid_number":  # (only the values no number was read from)
                foreign, currencies = foreign_currencies(text, invalid)
                if foreign.any():
                    said = np.array([FOREIGN_AMOUNT.format(c) for c in currencies], dtype=object)
                    record_invalid(foreign, col, rule, raw_values, issues, said=said)
                    plain = invalid & ~foreign
            if plain.any():
                record_invalid(plain, col, rule, raw_values, issues)
            if col.on_invalid == "blank":
                values = values.mask(invalid)
    if col.percent:
        signed = pc.fill_null(pc.match_substring(text, "%"), True).to_numpy(False)
        values = _bare_numbers_refused(values, np.asarray(signed), col, raw_values, issues)
    values = _scaled(values, col, raw_values, issues)
    out_of_range = range_violations(values, col)
    if out_of_range is not None and out_of_range.any():
        record_invalid(out_of_range, col, "out_of_range", raw_values, issues)
        if col.on_invalid == "blank":
            values = values.mask(out_of_range)
    if col.type == "date":
        values = implausible_dates(values, col, dates or DateLimits(), raw_values, issues)
    # The repairs of values kept: one blanked or rejected later is listed once, with
    # what happened to it, not also as trimmed or normalised
    faulted = issues.faulted(col.name, len(text))
    for rows, rule, message in repairs:
        issues.add(rows & ~faulted, col.name, rule, raw_values, REPAIRED, message)
    return values


def _bare_numbers_refused(
    values: pd.Series, signed: np.ndarray, col: ColumnSpec, raw_values: Values, issues: Issues
) -> pd.Series:
    """A column written as percentages (``percent: true``) with its numbers written
    without ``%`` (``39.2``: 39.2 % or 3,920 %?) refused as ``invalid_number`` (0 is 0 %
    either way): read as fractions, they would be scored as the highest ratios. ``signed``
    marks the values written with their ``%``."""
    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
    bare = ~signed & ~np.isnan(numbers) & (numbers != 0)
    if not bare.any():
        return values
    said = np.array(
        [
            f"{n:g} without %, in a column written as percentages (16.3%) is ambiguous: "
            f"write {n:g}% (or {100 * n:g}% if {n:g} is the fraction)"
            for n in numbers[bare]
        ],
        dtype=object,
    )
    record_invalid(bare, col, "invalid_number", raw_values, issues, said=said)
    return values.mask(bare) if col.on_invalid == "blank" else values


#: The message of a phone number ``check: cn_phone`` rewrote into its form.
PHONE_NORMALISED = "phone number normalised (+86, spaces, dashes or full-width digits)"


ARROW_TYPES = {
    "int": pa.int64(),
    "float": pa.float64(),
    "date": pa.timestamp("s"),
    "bool": pa.bool_(),
}


def _already_typed(kind: pa.DataType, col: ColumnSpec) -> bool:
    """True when the reader already parsed this column into its target type."""
    return col.type in ARROW_TYPES and kind == ARROW_TYPES[col.type]


def _other_date_type(kind: pa.DataType) -> bool:
    """A date type of a typed file other than the cleaner's own (timestamp[s]): a date,
    or a timestamp of another unit without a time zone (Parquet has no seconds unit, so
    a date column written from timestamp[s] reads back as timestamp[ms])."""
    return pa.types.is_date(kind) or (
        pa.types.is_timestamp(kind) and kind.tz is None and kind.unit != "s"
    )


def _days_as_seconds(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Dates or naive timestamps as timestamp[s] at the start of their day: the day the
    text path gave them (it formatted each as YYYY-MM-DD and parsed that), without
    formatting and parsing millions of dates."""
    if pa.types.is_timestamp(column.type):
        column = pc.floor_temporal(column, unit="day")
    return column.cast(pa.timestamp("s"))


def _clean_typed(
    column: pa.ChunkedArray | pa.Array,
    col: ColumnSpec,
    issues: Issues,
    dates: DateLimits | None = None,
) -> pd.Series:
    """The fast path: values Arrow parsed strictly; only blanks and ranges to check."""
    arr = column if isinstance(column, pa.Array) else one_piece(column)
    missing = as_numpy(pc.is_null(arr))
    if col.required:
        issues.add(missing, col.name, "missing_required", arr, DROPPED)
    if col.type == "float":
        values = _series_of(arr.to_numpy(zero_copy_only=False).astype(np.float64, copy=False))
    elif col.type == "int":
        numbers = pc.fill_null(arr, 0).to_numpy(zero_copy_only=False)
        values = pd.Series(pd.arrays.IntegerArray(numbers.astype(np.int64), missing))
    elif col.type == "date":
        values = _series_of(arr.to_numpy(zero_copy_only=False).astype("datetime64[s]", copy=False))
    else:
        flags = pc.fill_null(arr, False).to_numpy(zero_copy_only=False).astype(bool)
        values = pd.Series(pd.arrays.BooleanArray(flags, missing))
    if col.type in ("int", "float") and not col.pii:
        personal = personal_numbers(values, ~missing)
        if personal.any():
            # (shown as the digits written, 16712345678, not 1.6712345678e+10: so
            # that the rejects mask them as any phone or ID number)
            read = values

            def written(rows: np.ndarray) -> np.ndarray:
                shown = [f"{v:.0f}" if isinstance(v, float) else str(v) for v in read.iloc[rows]]
                return np.array(shown, dtype=object)

            values = _personal_blanked(values, personal, col, written, issues)
    if col.percent:  # (every value a number, none written with its %)
        values = _bare_numbers_refused(values, np.zeros(len(values), bool), col, arr, issues)
    values = _scaled(values, col, arr, issues)
    out_of_range = range_violations(values, col)
    if out_of_range is not None and out_of_range.any():
        record_invalid(out_of_range, col, "out_of_range", arr, issues)
        if col.on_invalid == "blank":
            values = values.mask(out_of_range)
    if col.type == "date":
        values = implausible_dates(values, col, dates or DateLimits(), arr, issues)
    return values


#: A number cell holding a resident ID number (17 digits and a digit or X) or a mobile
#: number (11 digits from 13 to 19), written bare: no decimals, separators or unit.
#: (A workbook's number cell comes as its number's text: an ID number there, in
#: scientific notation, 1.101051980010112e+17.)
_ID_SHAPE = r"^-?(?:[0-9]{17}[0-9Xx]|[1-9](?:\.[0-9]+)?[eE]\+?17)$"
_SCIENTIFIC = re.compile(r"[1-9](?:\.[0-9]+)?[eE]\+?17")
#: A mobile: bare (-16712345678: a dash typed before it), or after the country code
#: (+8613812345678, 008613812345678, 8613812345678), with spaces or dashes between its
#: groups (86 138 1234 5678, +86-138-1234-5678: not read as a number).
_MOBILE_SHAPE = r"^-?(?:(?:\+|00)?86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]{4}){2}$"
#: The smallest mobile number (13 billion, written bare): a number this large may be a
#: phone or an ID number (the quick path of one record leaves it to this cleaner).
PERSONAL_SIZED = 1.3e10
#: The mobiles as numbers: bare (13 to 20 billion), and after the country code 86, as a
#: number cell or Arrow reads +86... and 0086... (8.613 to 8.62 trillion).
_MOBILE_NUMBERS = ((PERSONAL_SIZED, 2e10), (8.613e12, 8.62e12))
#: A column whose other values all stay below this (a thousandth of the smallest mobile
#: number, as written, before any scale) holds counts or ordinary amounts: a bare
#: mobile-shaped number in it is a phone, not 13 to 20 billion.
SMALL_COLUMN = 1e7
#: The message of a number cell holding a phone or ID number.
PERSONAL_NUMBER = (
    "a phone number or ID number typed into a number column: not read as a number "
    "(personal data: correct the export, or keep it in a column flagged pii: true)"
)


def personal_numbers(
    values: pd.Series,
    present: np.ndarray,
    text: pa.Array | None = None,
    unread: np.ndarray | None = None,
) -> np.ndarray:
    """The rows of a number column holding personal data rather than a number: an ID
    number (an integer of 18 digits, or 17 and an X, which no number column holds) and a
    mobile number (an integer of 11 digits from 13 to 19, or those after the country
    code: +86, 0086 or 86) in a column whose other values are all below
    :data:`SMALL_COLUMN` (a monthly income, a count: a corporate portfolio's amounts of
    13-20 billion stay amounts). ``values`` are the numbers as read (missing: none);
    ``text``, when the column was read as text, the values as written, which decide:
    ``16712345678.00`` or ``16,712,345,678`` is an amount, only a bare integer (or a
    mobile's digits in their groups, ``86 138 1234 5678``) is a phone; ``unread`` marks
    the values no number was read from (an ID's X, a phone's spaces). Vectorised: only
    values of 13 billion or more, or unread, are looked at further, and no copy of the
    column's numbers is made."""
    big = present & _size_at_least(values, PERSONAL_SIZED)
    if unread is not None:
        big |= present & unread
    found = np.zeros(len(values), dtype=bool)
    if not big.any():
        return found
    rows = np.flatnonzero(big)
    if text is not None:
        shown = text.take(pa.array(rows))
        ident = as_numpy(pc.fill_null(pc.match_substring_regex(shown, _ID_SHAPE), False))
        mobile = as_numpy(pc.fill_null(pc.match_substring_regex(shown, _MOBILE_SHAPE), False))
    else:  # (a column every value of which Arrow read as a number: integers only)
        value = np.abs(values.iloc[rows].to_numpy(dtype=np.float64, na_value=np.nan))
        whole = np.floor(value) == value  # (np.mod warns of an infinite one: a float column's)
        ident = whole & (value >= 1e17) & (value < 1e18)
        mobile = np.zeros(len(rows), dtype=bool)
        for low, high in _MOBILE_NUMBERS:
            mobile |= whole & (value >= low) & (value < high)
    if mobile.any():
        large = present & _size_at_least(values, SMALL_COLUMN)
        large[rows[ident | mobile]] = False
        if large.any():  # (another value of 10 million or more: a column of big amounts)
            mobile[:] = False
    found[rows[ident | mobile]] = True
    return found


def _size_at_least(values: pd.Series, bound: float) -> np.ndarray:
    """Which values are ``bound`` or more in size, either sign (a missing one is not)."""
    return np.asarray(((values >= bound) | (values <= -bound)).to_numpy(dtype=bool, na_value=False))


def _digits_of(raw_values: pa.Array) -> Callable[[np.ndarray], np.ndarray]:
    """The raw values of rows as shown in the rejects, an ID number in scientific
    notation as its digits (110105198001011232): masked there as any ID number is."""

    def shown(rows: np.ndarray) -> np.ndarray:
        values = pick_values(raw_values, rows, shown=True)
        for i, value in enumerate(values):
            if isinstance(value, str) and _SCIENTIFIC.fullmatch(value.strip()):
                values[i] = f"{float(value):.0f}"
        return values

    return shown


def _personal_blanked(
    values: pd.Series, personal: np.ndarray, col: ColumnSpec, raw_values: Values, issues: Issues
) -> pd.Series:
    """The personal data of a number column as a ``personal_data`` repair, its value
    blank (in rejects the value shows masked, as any value of a column not flagged pii);
    in a required column, the row dropped, as a blank there is."""
    if col.required:
        issues.add(personal, col.name, "personal_data", raw_values, DROPPED, PERSONAL_NUMBER)
        return values
    message = f"{PERSONAL_NUMBER}; replaced by blank"
    issues.add(personal, col.name, "personal_data", raw_values, REPAIRED, message)
    return values.mask(personal)


def _scaled(values: pd.Series, col: ColumnSpec, raw_values: Values, issues: Issues) -> pd.Series:
    """A float column's values in its ``scale``'s unit (as read, without one). A value
    the factor takes past the largest float (``1e300`` in a column of 万元) is an
    ``invalid_number``, never an infinite amount."""
    if col.scale is None:
        return values
    scaled = values * col.scale
    overflow = np.isinf(scaled.to_numpy(dtype=np.float64, na_value=np.nan))
    if overflow.any():
        record_invalid(overflow, col, "invalid_number", raw_values, issues)
        if col.on_invalid == "blank":
            scaled = scaled.mask(overflow)
    return scaled


def _series_of(values: np.ndarray) -> pd.Series:
    """A Series of a column Arrow converted: its own array when the conversion made one
    (nulls filled in), a copy of a read-only view of Arrow's memory otherwise. pandas
    copies every array it is given by default, which made two copies of the first kind
    (a date column of 4.9M transactions: 39 MB each)."""
    return pd.Series(values, copy=not values.flags.writeable)
