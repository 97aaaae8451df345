"""Masking personal data for reports and logs.

Masks keep just enough to recognise a customer: the first character of a name (张*), the
first three and last four digits of a phone (138****5678), the first three and last four
characters of an id number (110***********002X).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# Resident ID numbers (18 characters, or the old 15 digits), phone numbers (mainland
# mobiles, with or without +86 and separators; landlines with an area code) and e-mail
# addresses, standing alone (not inside a longer run of digits or letters). ``\d`` is
# any decimal digit: full-width ones (１３８…, as a Chinese input method types them) too.
_ID_NUMBER = r"(?<![0-9A-Za-z])(?:\d{17}[\dXxＸｘ]|\d{15})(?![0-9A-Za-z])"
_MOBILE = r"(?<![\d+])(?:(?:\+|00)?86[- ]?)?[1１][3-9３-９]\d(?:[- ]?\d{4}){2}(?!\d)"
_LANDLINE = r"(?<![\d-])0\d{2,3}-\d{7,8}(?![\d-])"
_EMAIL = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
_PII_TEXT = re.compile("|".join(f"(?:{p})" for p in (_EMAIL, _ID_NUMBER, _MOBILE, _LANDLINE)))
#: Above this many characters a text is masked with the e-mail's local part starting only
#: where a run of its characters starts: the plain pattern tries again from every
#: character of a long run without an ``@`` (quadratic: a hostile export's 1 MB field,
#: quoted in a rejects file, took half an hour). Below it, the plain pattern. An e-mail
#: glued to a phone written with spaces (``138 1234 5678wang@x.com``: its local part
#: starts inside a run) is taken with the phone, its local part at most 64 characters
#: (RFC 5321's limit): each phone matched is followed by one bounded look, so masking
#: stays linear in the text's length.
_LONG_TEXT = 2000
_PII_LONG_TEXT = re.compile(
    "|".join(
        f"(?:{p})"
        for p in (
            r"(?<![\w.+-])" + _EMAIL,
            _ID_NUMBER,
            _MOBILE + r"(?P<glued>[\w.+-]{1,64}@[\w-]+(?:\.[\w-]+)+)?",
            _LANDLINE,
        )
    )
)


def mask_name_value(name: str) -> str:
    """张伟 -> 张**, 欧阳娜娜 -> 欧**: the first character and a fixed mask, which hides
    the length of the given name too."""
    return name[0] + "**"


def mask_middle_value(value: str, head: int = 3, tail: int = 4) -> str:
    """Keep ``head`` leading and ``tail`` trailing characters; mask all when too short."""
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[-tail:]


def mask_pii_text(text: str) -> str:
    """Mask what looks like a phone number, a resident ID number or an e-mail address in
    free text (an error message quoting a file, a log line).

    Names cannot be recognised in free text: a message should not quote a raw data row
    at all; this is the safety net for the places that must quote some text.

    >>> mask_pii_text("row 11010519491231002X, 138-1234-5678, zhang.wei@example.com")
    'row 110***********002X, 138******5678, z***@example.com'
    """
    pattern = _PII_TEXT if len(text) <= _LONG_TEXT else _PII_LONG_TEXT
    return pattern.sub(_mask_match, text)


_V = TypeVar("_V")


def with_names_masked(named: Mapping[str, _V]) -> dict[str, _V]:
    """``named`` keyed by its names with :func:`mask_pii_text` applied (a file named for
    its customer, ``王小明_13812345678.xlsx``, recorded in a model card or a run's facts as
    ``王小明_138****5678.xlsx``); names that are one once masked are told apart by a
    number (``王小明_138****5678.xlsx (2)``), so that no entry is lost."""
    out: dict[str, _V] = {}
    for name, value in named.items():
        key = masked = mask_pii_text(name)
        count = 1
        while key in out:
            count += 1
            key = f"{masked} ({count})"
        out[key] = value
    return out


def _mask_match(match: re.Match[str]) -> str:
    found = match.group(0)
    glued = match.groupdict().get("glued")
    if glued:  # (a phone, then an e-mail: each masked as it is alone)
        phone = found[: -len(glued)]
        return mask_middle_value(phone) + glued[0] + "***" + glued[glued.index("@") :]
    if "@" in found:
        return found[0] + "***" + found[found.index("@") :]
    return mask_middle_value(found)


def _apply(values: pd.Series, func: Callable[[str], str]) -> pd.Series:
    out = [func(v) if isinstance(v, str) and v else None for v in values.tolist()]
    return pd.Series(out, index=values.index, dtype="str")


def _masked(
    values: pd.Series, arrow: Callable[[pa.Array], pa.Array], func: Callable[[str], str]
) -> pd.Series:
    """``values`` masked by Arrow compute (``arrow``); blanks and anything that is not
    text are missing. A column holding other objects than text is masked value by value
    (``func``), with the same result."""
    try:
        # (of the array, not the Series: Arrow's look for its protocols on a Series had
        # pandas look each name up among 200,000 customer ids, 35 ms a column)
        text = pa.array(values.array, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return _apply(values, func)
    if pa.types.is_dictionary(text.type):
        text = text.cast(text.type.value_type)
    if pa.types.is_null(text.type):
        text = text.cast(pa.large_string())
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        return _apply(values, func)
    text = text.cast(pa.large_string())
    blank = pc.equal(pc.utf8_length(text), 0)
    text = pc.if_else(blank, pa.scalar(None, text.type), text)
    shown = pd.array(arrow(text), dtype=pd.StringDtype("pyarrow", na_value=np.nan))
    return pd.Series(shown, index=values.index, dtype="str")


def _mask_names(text: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(text, 0, 1), pa.scalar("**", text.type), pa.scalar("", text.type)
    )


def _mask_middles(text: pa.Array, head: int = 3, tail: int = 4) -> pa.Array:
    """:func:`mask_middle_value` of every value (lengths in characters)."""
    length = pc.utf8_length(text)
    stars = pc.cast(pc.binary_repeat(pa.scalar("*", text.type), length), text.type)
    middle = pc.cast(
        pc.binary_repeat(
            pa.scalar("*", text.type), pc.max_element_wise(pc.subtract(length, head + tail), 0)
        ),
        text.type,
    )
    kept = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(text, 0, head),
        middle,
        pc.utf8_slice_codeunits(text, -tail),
        pa.scalar("", text.type),
    )
    return pc.if_else(pc.less_equal(length, head + tail), stars, kept)


def mask_name(names: pd.Series) -> pd.Series:
    """Mask every name of a column (missing stays missing)."""
    return _masked(names, _mask_names, mask_name_value)


def mask_phone(phones: pd.Series) -> pd.Series:
    """138****5678: the first three and last four digits."""
    return _masked(phones, _mask_middles, mask_middle_value)


def mask_id_number(ids: pd.Series) -> pd.Series:
    """The first three and last four characters, the rest masked."""
    return _masked(ids, _mask_middles, mask_middle_value)
