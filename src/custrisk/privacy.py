"""Masking personal data for reports and logs.

Masks keep just enough to recognise a customer: the first character of a name (张*), the
first three and last four digits of a phone (138****5678), the first three and last four
characters of an id number (110***********002X).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd

# Resident ID numbers (18 characters, or the old 15 digits), phone numbers (mainland
# mobiles, with or without +86 and separators; landlines with an area code) and e-mail
# addresses, standing alone (not inside a longer run of digits or letters).
_ID_NUMBER = r"(?<![0-9A-Za-z])(?:\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])"
_MOBILE = r"(?<![\d+])(?:(?:\+|00)?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}(?!\d)"
_LANDLINE = r"(?<![\d-])0\d{2,3}-\d{7,8}(?![\d-])"
_EMAIL = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
_PII_TEXT = re.compile("|".join(f"(?:{p})" for p in (_EMAIL, _ID_NUMBER, _MOBILE, _LANDLINE)))


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
    return _PII_TEXT.sub(_mask_match, text)


def _mask_match(match: re.Match[str]) -> str:
    found = match.group(0)
    if "@" in found:
        return found[0] + "***" + found[found.index("@") :]
    return mask_middle_value(found)


def _apply(values: pd.Series, func: Callable[[str], str]) -> pd.Series:
    out = [func(v) if isinstance(v, str) and v else None for v in values.tolist()]
    return pd.Series(out, index=values.index, dtype="str")


def mask_name(names: pd.Series) -> pd.Series:
    """Mask every name of a column (missing stays missing)."""
    return _apply(names, mask_name_value)


def mask_phone(phones: pd.Series) -> pd.Series:
    """138****5678: the first three and last four digits."""
    return _apply(phones, mask_middle_value)


def mask_id_number(ids: pd.Series) -> pd.Series:
    """The first three and last four characters, the rest masked."""
    return _apply(ids, mask_middle_value)
