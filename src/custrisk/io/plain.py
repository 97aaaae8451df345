"""Plain values from what custrisk computes: JSON (NumPy numbers, dates, frames), a
table cell's text, a count with its noun, a result object's short repr."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from custrisk.errors import UsageError


def jsonable(value: Any) -> Any:
    """Plain JSON types (NaN and infinities become None)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, pd.DataFrame):
        return jsonable(value.to_dict(orient="records"))
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def cell_shown(value: object) -> str:
    """A table cell's text: blank for a missing value (None, NaN, NA), never ``nan``."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float) and value != value:  # NaN
        return ""
    return str(value)


def counted(n: int, one: str, many: str | None = None) -> str:
    """``1 report``, ``2,000 reports``: a count with its noun in the right number."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def path_argument(value: object, name: str, hint: str | None = None) -> Path:
    """``value`` (a str or path-like) as a path; anything else (a DataFrame, a dict,
    ``None`` handed by a library caller) is a :class:`UsageError` naming the argument and
    the type it got, not a ``TypeError`` from deep inside."""
    hint = hint or "pass the file or folder it names"
    if isinstance(value, str):
        if not value.strip():  # (Path("") is the current folder)
            raise UsageError(f"{name} is empty ({value!r})", hint=hint)
        return Path(value)
    if isinstance(value, os.PathLike):
        try:
            return Path(value)
        except TypeError:  # its __fspath__ gives bytes or no text at all
            got = type(value.__fspath__()).__name__
            raise UsageError(
                f"{name} must be a path (str or pathlib.Path); got a {type(value).__name__} "
                f"whose __fspath__() gives {got}, not str",
                hint=hint,
            ) from None
    if isinstance(value, pd.DataFrame):
        shown = "a pandas DataFrame"
        hint = f"{hint}; write a DataFrame to a file first (df.to_csv('table.csv', index=False))"
    else:
        shown = type(value).__name__
    raise UsageError(f"{name} must be a path (str or pathlib.Path); got {shown}", hint=hint)


#: Longest repr of one field that :func:`brief_repr` shows as it is.
_SHORT_REPR = 80


def brief_repr(obj: Any) -> str:
    """A dataclass result's repr for a notebook: ``Name(field=..., ...)`` with a table
    as its shape, a mapping or sequence as its size and a long value as its type -- never
    a wall of text, nor a table's cells (customer data, names and phones among them)."""
    fields = ", ".join(f"{f.name}={_brief(getattr(obj, f.name))}" for f in dataclasses.fields(obj))
    return f"{type(obj).__name__}({fields})"


def _brief(value: object) -> str:
    if isinstance(value, pd.DataFrame):
        return f"<DataFrame {value.shape[0]:,} rows x {value.shape[1]} columns>"
    if isinstance(value, (pd.Series, np.ndarray)):
        return f"<{type(value).__name__} of {len(value):,}>"
    if isinstance(value, Mapping):
        if value and all(isinstance(v, pd.DataFrame) for v in value.values()):
            shapes = (f"{k!r}: {v.shape[0]:,} x {v.shape[1]}" for k, v in value.items())
            return "{" + ", ".join(shapes) + "}"
        return f"<{counted(len(value), 'entry', 'entries')}>"
    if isinstance(value, (list, tuple, set, frozenset)):
        return f"<{counted(len(value), 'item')}>"
    text = repr(value)
    if len(text) <= _SHORT_REPR and "\n" not in text:
        return text
    return f"<{type(value).__name__}>"
