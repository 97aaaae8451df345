"""Writing CSV that analysts open in spreadsheets without running injected formulas."""

from __future__ import annotations

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_formula_cells(values: pd.Series) -> pd.Series:
    """Prefix a single quote to text that a spreadsheet would run as a formula.

    Plain signed numbers such as ``-12.5`` are left alone (OWASP's CSV-injection advice).
    """
    text = values.astype("str")
    risky = text.str.startswith(FORMULA_START).fillna(False) & ~text.str.fullmatch(
        r"[+-]?[0-9][0-9.,]*"
    ).fillna(False)
    if not risky.any():
        return values
    return text.mask(risky, "'" + text)
