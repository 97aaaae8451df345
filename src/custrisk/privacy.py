"""Masking personal data for reports and logs.

Masks keep just enough to recognise a customer: the first character of a name (张*), the
first three and last four digits of a phone (138****5678), the first three and last four
characters of an id number (110***********002X).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd


def mask_name_value(name: str) -> str:
    """张伟 -> 张**, 欧阳娜娜 -> 欧**: the first character and a fixed mask, which hides
    the length of the given name too."""
    return name[0] + "**"


def mask_middle_value(value: str, head: int = 3, tail: int = 4) -> str:
    """Keep ``head`` leading and ``tail`` trailing characters; mask all when too short."""
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[-tail:]


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
