"""Text values before typing: blanks and whitespace, control characters, formulas,
full-width characters and the one rule that normalises ids."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.config._yaml import join_limited
from custrisk.config.columns import ColumnSpec, header_key, known_spellings, traditional_form
from custrisk.data._arrays import as_numpy, edge_bytes, string_bytes
from custrisk.data.issues import DROPPED, Issues, shown_units
from custrisk.privacy import mask_pii_text

NULL_TOKENS = ("", "null", "none", "nan", "na", "n/a", "#n/a", "-", "--")


#: What a number or date column holds for "none" besides the blanks of
#: :data:`NULL_TOKENS`: a dash, a slash (as a Chinese input method types them too, full
#: width: －, ／), 无 / 空 / 暂无 / 未知 / 不详 (a Chinese sheet's empty cell). Blanks there
#: (and only there: in a category, 无 is a value); a ``recode`` naming one wins.
NUMBER_BLANK_WORDS = ("—", "——", "–", "/", "－", "－－", "／", "无", "空", "暂无", "未知", "不详")
#: (the cleaner looks at them with their width folded: －, －－ and ／ are -, -- and / then)
_NUMBER_BLANKS = pa.array(NUMBER_BLANK_WORDS + ("-", "--"))


def number_blank_words(text: pa.Array, present: np.ndarray) -> np.ndarray:
    """Which present values of a number or date column are one of
    :data:`NUMBER_BLANK_WORDS`."""
    return present & np.asarray(pc.is_in(text, _NUMBER_BLANKS).to_numpy(zero_copy_only=False))


def without_units(text: pa.Array, units: tuple[str, ...]) -> tuple[pa.Array, np.ndarray]:
    """``text`` with the first of ``units`` a value ends with taken off it, and the
    spaces before it (``35岁``, ``35周岁`` and ``36 个月`` read as ``35`` and ``36``), the
    longer units first (个月 before 月); and which values had one."""
    cut = np.zeros(len(text), dtype=bool)
    for unit in sorted(units, key=len, reverse=True):
        ends = as_numpy(pc.fill_null(pc.ends_with(text, unit), False)) & ~cut
        if ends.any():
            shorter = pc.utf8_rtrim_whitespace(pc.utf8_slice_codeunits(text, 0, -len(unit)))
            text, cut = pc.if_else(pa.array(ends), shorter, text), cut | ends
    return text, cut


def header_unit_read(col: ColumnSpec) -> str:
    """The repair of a number written with the unit its column's header names (35岁 in
    年龄)."""
    return f"read as the number: its unit, {shown_units(col)}, is the one its header names"


#: A number written with dots between its thousands and, maybe, a decimal comma
#: (``1.234``, ``1.234.567,5``): its dots go.
DOTTED_THOUSANDS = re.compile(r"[+-]?[1-9]\d{0,2}(?:\.\d{3})+(?:,\d*)?")
#: A number with a decimal comma, and maybe dots between its thousands (``0,614``,
#: ``1.234,56``; ``12,5%``).
DECIMAL_COMMA_NUMBER = re.compile(r"[+-]?(?:\d+|[1-9]\d{0,2}(?:\.\d{3})+),\d+%?")


def with_decimal_point(text: pa.Array) -> pa.Array:
    """Numbers written with a decimal comma as custrisk reads them: ``0,614`` as
    ``0.614``, ``1.234,56`` as ``1234.56`` (dots between thousands dropped first), so
    that ``1,234,567`` (two commas) stays malformed rather than be read as another
    number."""
    dotted = "^" + DOTTED_THOUSANDS.pattern + r"\D*$"  # (a unit or % after it)
    grouped = pc.fill_null(pc.match_substring_regex(text, dotted), False)
    if pc.any(grouped).as_py():
        text = pc.if_else(grouped, pc.replace_substring(text, ".", ""), text)
    return pc.replace_substring(text, ",", ".")


def decimal_point_value(value: str) -> str:
    """One number as :func:`with_decimal_point` reads it in a number column; text that
    is no such number (of any other column) as it is."""
    if DOTTED_THOUSANDS.fullmatch(value.removesuffix("%")):
        value = value.replace(".", "")
    elif not DECIMAL_COMMA_NUMBER.fullmatch(value):
        return value
    return value.replace(",", ".")


def null_variants() -> list[str]:
    """Every spelling of a blank the cleaner accepts (NULL, null, N/A, n/a, ...)."""
    return sorted({v for t in NULL_TOKENS for v in (t, t.upper(), t.title(), t.capitalize())})


_NULL_SET = pa.array(null_variants())


_WHITESPACE_BYTES = np.array([9, 10, 11, 12, 13, 32], dtype=np.uint8)


def trim_and_blank(raw: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray, np.ndarray]:
    """Values without surrounding whitespace; which are blank; which were trimmed; the
    first byte of each value (0: empty), for :func:`formula_like`.

    Only values that start or end with whitespace (or a non-ASCII byte, which may be a
    full-width space) are trimmed, so a clean column costs one look at its bytes.
    """
    nulls = as_numpy(pc.is_null(raw)) if raw.null_count else np.zeros(len(raw), dtype=bool)
    lengths, first, last = edge_bytes(raw)
    suspect = (lengths > 0) & (
        np.isin(first, _WHITESPACE_BYTES)
        | np.isin(last, _WHITESPACE_BYTES)
        | (first >= 0x80)
        | (last >= 0x80)
    )
    text = raw
    trimmed = np.zeros(len(raw), dtype=bool)
    if suspect.any():
        rows = np.flatnonzero(suspect)
        subset = raw.take(pa.array(rows))
        cleaned = pc.utf8_trim_whitespace(subset)
        changed = ~as_numpy(pc.equal(cleaned, subset))
        if changed.any():
            trimmed[rows[changed]] = True
            text = pc.replace_with_mask(raw, pa.array(trimmed), cleaned.filter(pa.array(changed)))
            lengths, first, _last = edge_bytes(text)
    blank = nulls | (lengths == 0)
    short = ~blank & (lengths <= max(len(t) for t in NULL_TOKENS))
    if short.any():
        rows = np.flatnonzero(short)
        blank[rows[as_numpy(pc.is_in(text.take(pa.array(rows)), _NULL_SET))]] = True
    return text, blank, trimmed, first


# What a byte may mean in a text value, as bit flags: a C0 control character or DEL;
# part of a non-ASCII character (full-width forms, C1 controls); a-z; a space; a plus.
_CONTROL, _NON_ASCII, _LOWER, _SPACE, _PLUS = 1, 2, 4, 8, 16
_BYTE_FLAGS = np.zeros(256, dtype=np.uint8)
_BYTE_FLAGS[:0x20] = _CONTROL
_BYTE_FLAGS[0x7F] = _CONTROL
_BYTE_FLAGS[0x80:] = _NON_ASCII
_BYTE_FLAGS[ord("a") : ord("z") + 1] = _LOWER
_BYTE_FLAGS[ord(" ")] = _SPACE
_BYTE_FLAGS[ord("+")] = _PLUS  # 6.22848E+17: a spreadsheet's number in scientific notation
# Control characters a column type accepts: free text may hold tabs and line breaks.
_ALLOWED_CONTROLS = {"id": "", "category": "", "string": "\t\n\r"}
_C1_PATTERN = r"[\x{80}-\x{9f}]"  # RE2
_ROWS_PER_SCAN = 1 << 20  # bounds the memory of the per-byte flags


def row_flags(text: pa.Array, allowed_controls: str = "") -> np.ndarray:
    """The byte flags of each value, or-ed together: one pass over the bytes."""
    starts, ends, data = string_bytes(text)
    flags = np.zeros(len(starts), dtype=np.uint8)
    if len(starts) and ends[-1] > starts[0]:
        # The usual ids (digits, capitals, - and _) hold no byte that sets a flag.
        window = data[starts[0] : ends[-1]]
        if window.min() > ord("+") and window.max() < ord("a"):
            return flags
    lookup = _BYTE_FLAGS
    if allowed_controls:
        lookup = lookup.copy()
        lookup[[ord(c) for c in allowed_controls]] = 0
    for first in range(0, len(starts), _ROWS_PER_SCAN):
        last = min(first + _ROWS_PER_SCAN, len(starts))
        begin, stop = int(starts[first]), int(ends[last - 1])
        if stop == begin:
            continue
        chunk = lookup[data[begin:stop]]
        at = starts[first:last] - begin
        nonempty = at < ends[first:last] - begin
        flags[first:last][nonempty] = np.bitwise_or.reduceat(chunk, at[nonempty])
    return flags


def control_characters(text: pa.Array, flags: np.ndarray, column_type: str) -> np.ndarray:
    """Values holding a C0 or C1 control character (or DEL) their column type forbids."""
    allowed = _ALLOWED_CONTROLS.get(column_type, "")
    found = (flags & _CONTROL) != 0
    if allowed and found.any():  # look again at those values, allowing tabs and breaks
        rows = np.flatnonzero(found)
        found[rows] = (row_flags(text.take(pa.array(rows)), allowed) & _CONTROL) != 0
    non_ascii = np.flatnonzero((flags & _NON_ASCII) != 0)
    if non_ascii.size:
        subset = text.take(pa.array(non_ascii))
        found[non_ascii[as_numpy(pc.match_substring_regex(subset, _C1_PATTERN))]] = True
    return found


_FORMULA_START = "=@+-"


#: An Excel text literal, ``="0000000042"``: how exports write ids (and other text) for
#: Excel to keep their leading zeros. Excel shows the text, runs nothing; a ``"`` in it is
#: doubled.
TEXT_LITERAL = r'^="((?:[^"]|"")*)"$'


def excel_text_literals(
    text: pa.Array, first: np.ndarray
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """``text`` with each Excel text literal (``="0042"``) read as its text (``0042``),
    the first bytes again, and which rows were literals. Only values starting with ``=``
    are looked at. The text is then checked as any other value is: ``="=cmd|..."`` is
    still a formula."""
    literal = np.zeros(len(text), dtype=bool)
    rows = np.flatnonzero(first == ord("="))
    if not rows.size:
        return text, first, literal
    read, hit = _text_literals(text.take(pa.array(rows)))
    if hit is None:
        return text, first, literal
    literal[rows[as_numpy(hit)]] = True
    text = pc.replace_with_mask(text, pa.array(literal), read.filter(hit))
    _lengths, first, _last = edge_bytes(text)
    return text, first, literal


def tab_prefixed(raw: pa.Array, text: pa.Array, trimmed: np.ndarray) -> np.ndarray:
    """Which of the ``trimmed`` values were a tab and then the value (``\t0000000042``):
    before most of a column's values, as ``="0042"`` is, an export's way to keep an id
    text in Excel, not a stray blank to list as a repair on every row."""
    found = np.zeros(len(raw), dtype=bool)
    rows = np.flatnonzero(trimmed)
    if not rows.size:
        return found
    taken = raw.take(pa.array(rows))
    tab = pc.and_(
        pc.starts_with(taken, "\t"),
        pc.equal(pc.utf8_slice_codeunits(taken, 1), text.take(pa.array(rows))),
    )
    found[rows] = as_numpy(pc.fill_null(tab, False))
    return found


def text_literal_values(values: pa.Array) -> pa.Array:
    """``values`` with each Excel text literal (``="0042"``) read as its text."""
    return _text_literals(values)[0]


def _text_literals(values: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    """``values`` with each Excel text literal read as its text, and which were (``None``:
    none, ``values`` as they are)."""
    hit = pc.fill_null(pc.match_substring_regex(values, TEXT_LITERAL), False)
    if not pc.any(hit).as_py():
        return values, None
    inner = pc.replace_substring_regex(values, TEXT_LITERAL, r"\1")
    return pc.if_else(hit, pc.replace_substring(inner, '""', '"'), values), hit


def formula_like(text: pa.Array, first: np.ndarray | None = None) -> np.ndarray:
    """Values a spreadsheet would run as a formula, judged after NFKC normalisation.

    ``＝HYPERLINK(...)``, ``＋CMD|...`` and ``＠SUM(...)`` start with full-width (or other
    compatibility) forms of ``=``, ``+``, ``@`` that normalisation turns into the ASCII
    characters, so they are formulas too. A sign followed only by a number (-5, +86 138)
    is not a formula. ``first``: the first byte of each value (0: empty), when known
    (:func:`trim_and_blank` gives it).
    """
    if first is None:
        _lengths, first, _last = edge_bytes(text)
    # (an empty value's first byte is 0: neither a formula's start nor non-ASCII)
    found = np.isin(first, np.frombuffer(_FORMULA_START.encode(), dtype=np.uint8))
    non_ascii = np.flatnonzero(first >= 0x80)
    if non_ascii.size:
        # Look at each distinct first character once (a name column has few).
        heads = pc.dictionary_encode(pc.utf8_slice_codeunits(text.take(pa.array(non_ascii)), 0, 1))
        becomes = np.array(
            [
                unicodedata.normalize("NFKC", h or "")[:1] in tuple(_FORMULA_START)
                for h in heads.dictionary.to_pylist()
            ]
            + [False],
            dtype=bool,
        )
        index = pc.fill_null(heads.indices, len(heads.dictionary)).to_numpy(zero_copy_only=False)
        found[non_ascii[becomes[index]]] = True
    if found.any():
        rows = np.flatnonzero(found)
        shown = [
            unicodedata.normalize("NFKC", v or "") for v in text.take(pa.array(rows)).to_pylist()
        ]
        found[rows[[_NUMBER_LIKE.fullmatch(v) is not None for v in shown]]] = False
    return found


_NUMBER_LIKE = re.compile(r"[+-][0-9.,\s]*", re.ASCII)

#: Text that may hold a phone number, an ID number or an e-mail address (RE2: a first,
#: cheap look over the column; :func:`~custrisk.privacy.mask_pii_text` decides).
MAYBE_PERSONAL = r"@|[0-9０-９][0-9０-９ -]{6,}"
#: The message of a value masked as personal data in a column not flagged ``pii``.
PERSONAL_DATA_MASKED = (
    "a phone number, ID number or e-mail address in a column not flagged pii: masked "
    "(flag the column pii: true in the sources config if it holds personal data)"
)


def personal_data_texts(text: pa.Array, present: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """The values with what looks like a phone number, a resident ID number or an
    e-mail address masked (``请致电139****5678``), and the rows masked: personal data
    typed into a column not flagged ``pii`` (a region, a category, a note) would
    otherwise reach the scores' details, the model folder and the reports in clear."""
    maybe = pc.fill_null(pc.match_substring_regex(text, MAYBE_PERSONAL), False)
    rows = np.flatnonzero(present & as_numpy(maybe))
    masked = np.zeros(len(text), dtype=bool)
    if not rows.size:
        return text, masked
    values = text.take(pa.array(rows)).to_pylist()
    # (each distinct text once: a column repeats its values over 200,000 customers)
    masks = {v: mask_pii_text(v) for v in set(values)}
    shown = [masks[v] for v in values]
    changed = np.array([a != b for a, b in zip(values, shown, strict=True)], dtype=bool)
    if not changed.any():
        return text, masked
    masked[rows[changed]] = True
    replacements = pa.array([v for v, c in zip(shown, changed, strict=True) if c], text.type)
    return pc.replace_with_mask(text, pa.array(masked), replacements), masked


#: The longest customer id the decision service takes (its decisions store's column:
#: PostgreSQL refuses a longer one, and with it every decision of the same transaction).
MAX_ID_CHARS = 120


def normalised_id(value: str) -> str:
    """One id as cleaning writes it: full-width characters to ASCII (NFKC), no spaces,
    upper case (``ab c`` → ``ABC``), so that an id typed as the export has it finds
    the customer."""
    return "".join(unicodedata.normalize("NFKC", value).split()).upper()


def scientific_ids(text: pa.Array, flags: np.ndarray | None = None) -> np.ndarray:
    """Which values are numbers in scientific notation (``6.22848E+17``): how a
    spreadsheet writes a long number it stored as a float, its later digits lost. Only
    the values :func:`row_flags` found a ``+`` in are matched against the pattern, so an
    id column without one costs nothing more."""
    if flags is None:
        flags = row_flags(text)
    marked = (flags & _PLUS) != 0
    if not marked.any():
        return marked
    rows = np.flatnonzero(marked)
    shaped = as_numpy(
        pc.match_substring_regex(text.take(pa.array(rows)), r"^[0-9](?:\.[0-9]+)?[eE]\+[0-9]{1,3}$")
    )
    out = np.zeros(len(text), dtype=bool)
    out[rows[shaped]] = True
    return out


def normalise_id(
    text: pa.Array, present: np.ndarray, flags: np.ndarray | None = None
) -> tuple[pa.Array, np.ndarray]:
    """One rule for every id: full-width characters to ASCII (NFKC), no spaces, upper
    case (the X of id numbers). ``AB C``, ``ab c`` and ``ＡＢＣ`` all become ``ABC``."""
    if flags is None:
        flags = row_flags(text)
    odd = present & ((flags & (_NON_ASCII | _LOWER | _SPACE)) != 0)
    if not odd.any():
        return text, odd
    rows = np.flatnonzero(odd)
    subset = text.take(pa.array(rows))
    fixed = pa.array([normalised_id(v) for v in subset.to_pylist()], type=text.type)
    differs = ~as_numpy(pc.equal(fixed, subset))
    changed = np.zeros(len(text), dtype=bool)
    changed[rows[differs]] = True
    if differs.any():
        text = pc.replace_with_mask(text, pa.array(changed), fixed.filter(pa.array(differs)))
    return text, changed


def _with_traditional(words: tuple[str, ...]) -> tuple[str, ...]:
    """``words`` and their traditional forms (合计 and 合計: a Hong Kong or Taiwan report's)."""
    other = {traditional_form(w) for w in words} - set(words)
    return (*words, *sorted(other))


#: What a spreadsheet report writes in the first column of its totals rows (合计, 小计,
#: Total, ...): lower case, without spaces (``合　计`` and ``Grand Total`` are found) or a
#: trailing colon
TOTALS_WORDS = _with_traditional((
    "合计", "总计", "小计", "汇总", "总合计", "共计", "彙總",
    "total", "totals", "grandtotal", "subtotal", "sub-total", "sum",
))  # fmt: skip


def totals_words(values: pa.Array | pa.ChunkedArray, *, normalised: bool = False) -> np.ndarray:
    """Which text values are a totals row's label (``合计``, ``合　计``, ``小计：``,
    ``Grand Total``, ``ＴＯＴＡＬ``): a row that sums the others, not a customer.
    ``normalised``: the values are cleaned ids (NFKC, no spaces, upper case), looked up
    as they are (200,000 ids in a few milliseconds, against a fifth of a second)."""
    if normalised:
        words = [w.upper() + end for w in TOTALS_WORDS for end in ("", ":")]
        found = pc.is_in(values, value_set=pa.array(words, type=values.type))
        return as_numpy(pc.fill_null(found, False)).astype(bool)
    known = set(TOTALS_WORDS)
    return _report_labels(
        values,
        lambda folded: pc.is_in(
            pc.utf8_rtrim(folded, characters=":"),
            value_set=pa.array(TOTALS_WORDS, type=folded.type),
        ),
        lambda folded: folded.rstrip(":") in known,
    )


def _report_labels(
    values: pa.Array | pa.ChunkedArray,
    matches: Callable[[pa.Array | pa.ChunkedArray], pa.Array | pa.ChunkedArray],
    match: Callable[[str], bool],
) -> np.ndarray:
    """Which values a report's label test finds once folded: lower case, without spaces
    (``合　计``), a full-width colon as ``:``. ``matches`` tests the folded column in Arrow;
    the few values with full-width letters (``ＴＯＴＡＬ``) are folded with NFKC one by one
    and tested with ``match``."""
    folded = pc.replace_substring_regex(pc.utf8_lower(values), r"[\s\x{3000}]+", "")
    folded = pc.replace_substring(folded, "：", ":")
    found = as_numpy(pc.fill_null(matches(folded), False)).astype(bool)
    wide = pc.match_substring_regex(values, r"[\x{FF01}-\x{FF5E}]")
    rows = np.flatnonzero(as_numpy(pc.fill_null(wide, False)).astype(bool) & ~found)
    if rows.size:
        picked = values.take(pa.array(rows)).to_pylist()
        found[rows] = [
            match("".join(unicodedata.normalize("NFKC", v).lower().split())) for v in picked
        ]
    return found


#: The words a spreadsheet report's notes above or under its table start with (制表人：张三,
#: 备注：..., 数据来源：核心系统, Prepared by ...): lower case, without spaces.
NOTE_WORDS = _with_traditional((
    "制表人", "制表", "制表日期", "制表时间", "审核", "审核人", "复核", "复核人", "审批人",
    "填报人", "填表人", "填报日期", "经办人", "备注", "注", "说明", "数据来源", "来源",
    "打印人", "打印时间", "打印日期", "导出人", "导出时间", "导出日期", "统计日期",
    "统计时间", "统计口径", "截止日期", "数据截止", "报表日期", "金额单位", "单位",
    "preparedby", "reviewedby", "approvedby", "note", "notes", "source", "printed",
    "printedon", "generated", "generatedon", "exported", "exportedon",
))  # fmt: skip
_NOTE = re.compile(
    "^(?:" + "|".join(sorted(map(re.escape, NOTE_WORDS), key=len, reverse=True)) + ")(?::|$)"
)


def note_words(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Which text values are a report's note (``制表人：张三``, ``备注:``, ``数据来源：核心系统``,
    ``Prepared by: Li``): a note word (:data:`NOTE_WORDS`) and a colon, or the word alone,
    spaces and case aside, full-width colons and letters as half-width."""
    # Only values with a colon, or that are a note word as they stand, are looked at
    # (a million ids in a few milliseconds, against a fifth of a second)
    candidates = pc.or_(
        pc.or_(pc.match_substring(values, ":"), pc.match_substring(values, "：")),
        pc.is_in(values, value_set=pa.array(_BARE_NOTES, type=values.type)),
    )
    rows = np.flatnonzero(as_numpy(pc.fill_null(candidates, False)).astype(bool))
    found = np.zeros(len(values), dtype=bool)
    if rows.size:
        found[rows] = _report_labels(
            values.take(pa.array(rows)),
            lambda folded: pc.match_substring_regex(folded, _NOTE.pattern),
            lambda folded: _NOTE.match(folded) is not None,
        )
    return found


_BARE_NOTES = sorted({v for w in NOTE_WORDS for v in (w, w.upper(), w.title())})


#: A mainland phone number as ``check: cn_phone`` keeps it: a mobile of 11 digits, or a
#: landline as area code (010, 02X: three digits; others four), a dash, 7-8 digits.
CN_PHONE = r"1[3-9][0-9]{9}|0(?:10|2[0-9]|[3-9][0-9]{2})-[2-9][0-9]{6,7}"
_PHONE_SEPARATORS = re.compile(r"[\s\-.()（）]+")
_COUNTRY_CODE = re.compile(r"(?:\+|00)?86")
_AREA_NUMBER = r"(10|2[0-9]|[3-9][0-9]{2})([2-9][0-9]{6,7})"
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_TRUNK_LANDLINE = re.compile("0" + _AREA_NUMBER)  # as dialled at home
_LANDLINE = re.compile(_AREA_NUMBER)  # after +86, without the 0
_CN_PHONE = re.compile(CN_PHONE)


def cn_phone_form(value: str) -> str:
    """``value`` in the form ``check: cn_phone`` keeps, when it is a mainland number
    written another way (full-width digits, ``+86``/``0086``/``86``, spaces, dashes,
    dots or brackets): ``+86 138-1234-5678`` is ``13812345678``, ``(0371) 6123 4567``
    and ``+86 371 61234567`` are ``0371-61234567``. Anything else comes back as it is
    (after NFKC), for the check to refuse."""
    text = unicodedata.normalize("NFKC", value)
    digits = _PHONE_SEPARATORS.sub("", text)
    if _CN_PHONE.fullmatch(digits):
        return digits
    number = None
    if _MOBILE.fullmatch(digits):
        number = digits
    elif (home := _TRUNK_LANDLINE.fullmatch(digits)) is not None:
        number = f"0{home[1]}-{home[2]}"
    elif (code := _COUNTRY_CODE.match(digits)) is not None:
        rest = digits[code.end() :]
        if _MOBILE.fullmatch(rest):
            number = rest
        elif (line := _TRUNK_LANDLINE.fullmatch(rest) or _LANDLINE.fullmatch(rest)) is not None:
            number = f"0{line[1]}-{line[2]}"
    return text if number is None else number


def phone_numbers(text: pa.Array, rows: np.ndarray) -> np.ndarray:
    """Which of the ``rows`` (a mask) hold a mainland phone number in some writing
    (:func:`cn_phone_form`): a mask over all rows."""
    found = np.zeros(len(text), dtype=bool)
    picked = np.flatnonzero(rows)
    for row, value in zip(picked, text.take(pa.array(picked)).to_pylist(), strict=True):
        found[row] = value is not None and _CN_PHONE.fullmatch(cn_phone_form(value)) is not None
    return found


def normalise_phone(text: pa.Array, present: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """The values of a ``check: cn_phone`` column in its form (:func:`cn_phone_form`);
    which values changed. Only values that are not in that form already are looked at."""
    valid = as_numpy(pc.match_substring_regex(text, f"^(?:{CN_PHONE})$"))
    odd = present & ~valid
    changed = np.zeros(len(text), dtype=bool)
    if not odd.any():
        return text, changed
    rows = np.flatnonzero(odd)
    subset = text.take(pa.array(rows))
    fixed = pa.array([cn_phone_form(v) for v in subset.to_pylist()], type=text.type)
    differs = ~as_numpy(pc.equal(fixed, subset))
    changed[rows[differs]] = True
    if differs.any():
        text = pc.replace_with_mask(text, pa.array(changed), fixed.filter(pa.array(differs)))
    return text, changed


def pad_zeros(text: pa.Array, present: np.ndarray, width: int) -> tuple[pa.Array, np.ndarray]:
    """Ids of only ASCII digits shorter than ``width`` left-padded with zeros, as a
    column's ``zero_pad`` asks: an export whose id cells were numbers (an Excel sheet,
    which shows ``0000000042`` as ``42``) gives the ids the others have. Which values
    were padded."""
    starts, ends, _ = string_bytes(text)
    padded = present & ((ends - starts) < width)
    if padded.any():
        rows = np.flatnonzero(padded)
        subset = text.take(pa.array(rows))
        digits = as_numpy(pc.ascii_is_decimal(subset))  # (an empty value: not)
        padded[rows[~digits]] = False
        if digits.any():
            zeros = pc.utf8_lpad(subset.filter(pa.array(digits)), width=width, padding="0")
            text = pc.replace_with_mask(text, pa.array(padded), zeros)
    return text, padded


#: The repair message of a category value read as a value the model knows.
def known_spelling(known: str) -> str:
    """The repair message of a category value read as ``known``, a value the model knows."""
    return (
        f"read as {known!r}, a category the model knows, spelled otherwise (traditional "
        "characters, case or width)"
    )


def known_categories(
    text: pa.Array, present: np.ndarray, col: ColumnSpec
) -> tuple[pa.Array, dict[str, np.ndarray]]:
    """``text`` with a value that is one of the column's :attr:`~ColumnSpec.known_values`
    but for case, width or traditional characters (華南 for 华南) replaced by it, and
    where, by the value read. A value the model knows as it is, or a recode key, stays.
    Categories are cleaned once per distinct value, so this loops over few values."""
    spellings = known_spellings(col.known_values)
    keep = set(col.known_values) | {key for key, _ in col.recode}
    values = text.to_pylist()
    changed: dict[str, np.ndarray] = {}
    for i, value in enumerate(values):
        if value is None or not present[i] or value in keep:
            continue
        known = spellings.get(header_key(value))
        if known is not None:
            values[i] = known
            changed.setdefault(known, np.zeros(len(values), dtype=bool))[i] = True
    if not changed:
        return text, changed
    return pa.array(values, type=text.type), changed


def normalise_width(
    text: pa.Array, present: np.ndarray, *, unflagged: str = ""
) -> tuple[pa.Array, np.ndarray]:
    """Full-width digits, signs and separators (``１２３．５０``, ``２０２６－０１－３１``) as
    ASCII (NFKC), for numbers, dates and booleans; only values with non-ASCII bytes are
    looked at. Returns the text and the rows whose value changed, bar a change of the
    ``unflagged`` characters alone (a number's ``￥``: how Chinese exports write it, not
    a fault to list)."""
    odd = present & ~as_numpy(pc.string_is_ascii(text))
    if not odd.any():
        return text, odd
    rows = np.flatnonzero(odd)
    subset = text.take(pa.array(rows))
    fixed = pa.array([unicodedata.normalize("NFKC", v) for v in subset.to_pylist()], type=text.type)
    differs = ~as_numpy(pc.equal(fixed, subset))
    replaced = np.zeros(len(text), dtype=bool)
    replaced[rows[differs]] = True
    if differs.any():
        text = pc.replace_with_mask(text, pa.array(replaced), fixed.filter(pa.array(differs)))
    if not unflagged:
        return text, replaced
    compared = subset
    for char in unflagged:
        compared = pc.replace_substring(compared, char, unicodedata.normalize("NFKC", char))
    changed = np.zeros(len(text), dtype=bool)
    changed[rows[~as_numpy(pc.equal(fixed, compared))]] = True
    return text, changed


def id_collisions(
    before: pa.Array,
    after: pa.Array,
    normalised: np.ndarray,
    present: np.ndarray,
    col: ColumnSpec,
    locate: Callable[[np.ndarray], list[str]],
    raw_values: pa.Array,
    issues: Issues,
) -> None:
    """Reject the rows of a key whose different ids become one id once normalised.

    ``ab c`` and ``ABC`` are two rows of the file; merging them would give one customer
    the other's data. Both are rejected, each naming the other and its line, so that
    nothing is merged silently (exact repeats of one id stay duplicate keys).
    """
    targets = pc.unique(after.filter(pa.array(normalised)))
    involved = np.flatnonzero(present & as_numpy(pc.is_in(after, value_set=targets)))
    if not involved.size:
        return
    taken = pa.array(involved)
    after_ids = pc.dictionary_encode(after.take(taken))
    before_ids = pc.dictionary_encode(before.take(taken))
    group = after_ids.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    variant = before_ids.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    # Groups (one normalised id) holding more than one raw id collide.
    pairs = np.unique(group * len(before_ids.dictionary) + variant)
    raw_ids_per_group = np.bincount(pairs // len(before_ids.dictionary))
    colliding = np.isin(group, np.flatnonzero(raw_ids_per_group > 1))
    if not colliding.any():
        return
    order = np.flatnonzero(colliding)
    order = order[np.argsort(group[order], kind="stable")]  # by group, then row
    starts = np.flatnonzero(np.diff(group[order], prepend=-1))
    padding = ", leading zeros" if col.zero_pad is not None else ""
    for members in np.split(order, starts[1:]):
        _, first_of_each = np.unique(variant[members], return_index=True)
        firsts = np.sort(members[first_of_each])  # first row of each raw id, in file order
        places = locate(involved[firsts])
        raw_ids = [before_ids.dictionary[int(variant[r])].as_py() for r in firsts]
        target = after_ids.dictionary[int(group[members[0]])].as_py()
        if col.pii:  # the ids themselves are personal data: name the lines only
            what = f"the {col.name} values on {join_limited(places)} become the same id"
        else:
            named = join_limited(f"{v!r} ({p})" for v, p in zip(raw_ids, places, strict=True))
            what = f"{col.name} {named} become the same id {target!r}"
        issues.add(
            involved[members],
            col.name,
            "id_collision",
            raw_values,
            DROPPED,
            f"{what} once normalised (case, full-width characters, spaces{padding}); all "
            f"{len(members)} rows with them are rejected so that different ids are not merged",
        )
