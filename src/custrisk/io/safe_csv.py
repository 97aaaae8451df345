"""The one CSV writer for what custrisk writes, and its reader.

Every CSV that custrisk writes (scores, indicators, alerts, rejects, the report
manifest, a model's tables) goes through :func:`write_csv` or :func:`csv_bytes`, which

* escape every text cell, ids included, that a spreadsheet would run as a formula: a
  cell whose first character is ``=``, ``+``, ``-``, ``@``, a tab or a carriage return,
  also after NFKC normalisation (``＝HYPERLINK(...)`` becomes ``=HYPERLINK(...)`` in a
  spreadsheet that normalises width), gets a leading ``'``. Plain signed numbers such
  as ``-12.5`` stay as they are (OWASP's CSV-injection advice);
* write UTF-8 with a BOM by default, so that Excel on Windows shows Chinese text
  correctly; ``utf-8`` opts out.

The escaping is undone exactly by :func:`read_csv` (and :func:`unescape_cell`): a cell
that already starts with ``'`` gets one more quote when what follows its quotes would be
escaped, so every value reads back as written and customer ids join across runs.
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from custrisk.errors import UsageError
from custrisk.io.atomic import DEFAULT_MODE, atomic_path, output_path

#: First characters a spreadsheet reads as the start of a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: The prefix that makes a spreadsheet show a cell as text.
QUOTE = "'"
#: Encodings of the CSV files custrisk writes; the first is the default.
CSV_ENCODINGS = ("utf-8-sig", "utf-8")
DEFAULT_CSV_ENCODING = CSV_ENCODINGS[0]
#: Encoding to read them back with: UTF-8 with or without a BOM.
READ_ENCODING = "utf-8-sig"
_ALIASES = {"utf8": "utf-8", "utf-8-bom": "utf-8-sig", "utf8-sig": "utf-8-sig"}
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9][0-9.,]*")


def csv_encoding(name: str | None) -> str:
    """The CSV output encoding for ``name`` (``None``: the default, UTF-8 with a BOM).

    Raises
    ------
    UsageError
        For an encoding other than ``utf-8-sig`` (UTF-8 with a BOM) or ``utf-8``.
    """
    if name is None:
        return DEFAULT_CSV_ENCODING
    key = name.strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in CSV_ENCODINGS:
        raise UsageError(
            f"--csv-encoding must be one of {', '.join(CSV_ENCODINGS)}; got {name!r}",
            hint="utf-8-sig (UTF-8 with a BOM, for Excel) is the default; utf-8 leaves it out",
        )
    return key


@functools.lru_cache(maxsize=4096)
def _normalised_first(char: str) -> str:
    return unicodedata.normalize("NFKC", char)[:1]


def _is_risky(text: str) -> bool:
    """True when a spreadsheet could run ``text`` as a formula."""
    if not text or _normalised_first(text[0]) not in FORMULA_START:
        return False
    return _PLAIN_NUMBER.fullmatch(unicodedata.normalize("NFKC", text)) is None


def needs_escape(text: str) -> bool:
    """True when :func:`escape_cell` prefixes ``text`` with a quote.

    That is when ``text`` without its leading quotes could run as a formula: a value
    starting with a quote gets one more, so that reading back is exact.
    """
    return _is_risky(text.lstrip(QUOTE))


def escape_cell(text: str) -> str:
    """``text`` as written to a CSV cell: ``'`` prefixed when it could run as a formula."""
    return QUOTE + text if needs_escape(text) else text


def unescape_cell(text: str) -> str:
    """The value :func:`escape_cell` was given for the cell ``text``."""
    if text.startswith(QUOTE) and needs_escape(text[1:]):
        return text[1:]
    return text


#: The first bytes (UTF-8) of the characters whose NFKC form starts with one of
#: FORMULA_START, and of the quote: ``＝`` (U+FF1D) and ``⁺`` (U+207A) lead with 0xEF and
#: 0xE2. A value starting with any other byte (a digit, a letter, a Chinese character)
#: is never escaped. tests/test_safe_csv.py checks the list against every code point.
_RISKY_FIRST_BYTES = np.array([0x09, 0x0D, 0x27, 0x2B, 0x2D, 0x3D, 0x40, 0xE2, 0xEF], np.uint8)


def _risky_mask(text: pd.Series) -> np.ndarray:
    """:func:`needs_escape` of every value of a text Series without missing values.

    Only the values whose first byte may start a formula are looked at (ids, grades and
    Chinese names never are: a look at one byte a value, not a Python call)."""
    maybe = np.isin(_first_bytes(text), _RISKY_FIRST_BYTES)
    if maybe.all():
        return _risky_text_mask(text)
    risky = np.zeros(len(text), dtype=bool)
    if maybe.any():
        rows = np.flatnonzero(maybe)
        risky[rows] = _risky_text_mask(text.iloc[rows])
    return risky


def _first_bytes(text: pd.Series) -> np.ndarray:
    """The first byte of each value's UTF-8 (0 for an empty value)."""
    values = pa.array(text.array, type=pa.large_string(), from_pandas=True)
    if isinstance(values, pa.ChunkedArray):  # (as a pandas string column holds it)
        values = values.combine_chunks()
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)[
        values.offset : values.offset + len(values) + 1
    ]
    data = values.buffers()[2]
    data_bytes = np.frombuffer(data, dtype=np.uint8) if data is not None else np.empty(0, np.uint8)
    if not data_bytes.size:  # every value empty
        return np.zeros(len(values), dtype=np.uint8)
    starts = offsets[:-1]
    first = data_bytes[np.minimum(starts, data_bytes.size - 1)]
    return np.where(offsets[1:] > starts, first, 0).astype(np.uint8)


def _risky_text_mask(text: pd.Series) -> np.ndarray:
    stripped = text.str.lstrip(QUOTE) if text.str.startswith(QUOTE).any() else text
    first = stripped.str[:1]
    lookup = {char: _normalised_first(char) for char in pd.unique(first) if char}
    starts = first.map(lookup).isin(FORMULA_START).to_numpy(dtype=bool, copy=True)
    if starts.any():
        rows = np.flatnonzero(starts)
        candidates = stripped.iloc[rows].str.normalize("NFKC")
        number = candidates.str.fullmatch(_PLAIN_NUMBER.pattern).to_numpy(dtype=bool)
        starts[rows[number]] = False
    return starts


def _text_cells(values: pd.Series) -> np.ndarray | None:
    """Positions of the text (``str``) cells of a column, or ``None`` for a non-text column."""
    if isinstance(values.dtype, pd.StringDtype):
        return np.flatnonzero(values.notna().to_numpy())
    if values.dtype != object:
        return None
    return np.flatnonzero([isinstance(v, str) for v in values.to_numpy(dtype=object)])


def _map_text(values: pd.Series, change: Any, rows_of: Any) -> pd.Series:
    """Apply ``change`` to the cells that ``rows_of`` picks among the text cells."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = pd.Series(values.cat.categories)
        if not len(categories):
            return values
        mapped = _map_text(categories, change, rows_of)
        if mapped is categories:
            return values
        return values.cat.rename_categories(pd.Index(mapped.tolist()))
    cells = _text_cells(values)
    if cells is None or not cells.size:
        return values
    text = values.iloc[cells].astype("str")
    picked = rows_of(text)
    if not picked.any():
        return values
    rows = cells[picked]
    out = values.astype(object) if values.dtype == object else values.copy()
    out.iloc[rows] = change(text[picked]).to_numpy(dtype=object)
    return out


def escape_formula_cells(values: pd.Series) -> pd.Series:
    """Prefix a single quote to the text cells that a spreadsheet would run as a formula.

    Non-text columns (numbers, dates, booleans) are returned unchanged; a Categorical has
    its categories escaped.
    """
    return _map_text(values, lambda text: QUOTE + text, _risky_mask)


def unescape_formula_cells(values: pd.Series) -> pd.Series:
    """Undo :func:`escape_formula_cells` (cells read back from a CSV custrisk wrote)."""

    def quoted(text: pd.Series) -> np.ndarray:
        starts = text.str.startswith(QUOTE).to_numpy(dtype=bool, copy=True)
        if starts.any():
            rows = np.flatnonzero(starts)
            starts[rows] = _risky_mask(text.iloc[rows].str[1:])
        return starts

    return _map_text(values, lambda text: text.str[1:], quoted)


def _header(names: Iterable[Any], change: Any) -> list[Any]:
    return [change(name) if isinstance(name, str) else name for name in names]


def escape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text column (and column name) escaped for a spreadsheet."""
    out = frame
    for position in range(frame.shape[1]):
        column = frame.iloc[:, position]
        escaped = escape_formula_cells(column)
        if escaped is not column:
            if out is frame:
                out = frame.copy()
            out.isetitem(position, escaped.array)
    header = _header(frame.columns, escape_cell)
    if header != list(frame.columns):
        out = out.set_axis(header, axis=1)
    return out


def unescape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Undo :func:`escape_frame`: every text column and column name as written."""
    out = frame
    for position in range(frame.shape[1]):
        column = frame.iloc[:, position]
        plain = unescape_formula_cells(column)
        if plain is not column:
            if out is frame:
                out = frame.copy()
            out.isetitem(position, plain.array)
    header = _header(frame.columns, unescape_cell)
    if header != list(frame.columns):
        out = out.set_axis(header, axis=1)
    return out


def csv_text(frame: pd.DataFrame, *, encoding: str | None = None) -> str:
    """The CSV text of ``frame`` (escaped, no index, LF line ends), with a leading BOM
    character when ``encoding`` is UTF-8 with a BOM (the default)."""
    text = escape_frame(frame).to_csv(index=False, lineterminator="\n")
    return ("\ufeff" + text) if csv_encoding(encoding) == "utf-8-sig" else text


def csv_bytes(frame: pd.DataFrame, *, encoding: str | None = None) -> bytes:
    """The bytes :func:`write_csv` writes for ``frame``."""
    return csv_text(frame, encoding=encoding).encode("utf-8")


def write_csv(
    frame: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    encoding: str | None = None,
    mode: int = DEFAULT_MODE,
) -> Path:
    """Write ``frame`` as CSV to ``path``: escaped, atomically, with file mode ``mode``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table; its index is not written.
    path : str or path-like
        The target; missing folders are created with mode 0700.
    encoding : {"utf-8-sig", "utf-8"}, optional
        UTF-8 with a BOM (the default, for Excel) or without.
    mode : int
        File mode of the written file (default 0600).

    Returns
    -------
    pathlib.Path
        The path written: ``path``, or ``path.enc`` inside a
        :func:`custrisk.io.atomic.sealing` block (``--encrypt``).
    """
    encoding = csv_encoding(encoding)
    target = Path(path)
    escaped = escape_frame(frame)
    with atomic_path(target, mode=mode) as tmp:
        escaped.to_csv(tmp, index=False, encoding=encoding, lineterminator="\n")
    return output_path(target)


def read_csv(path: str | os.PathLike[str] | IO[bytes], **options: Any) -> pd.DataFrame:
    """Read a CSV that custrisk wrote: with or without a BOM, escaping undone.

    ``options`` go to :func:`pandas.read_csv` (the encoding defaults to UTF-8 with an
    optional BOM).
    """
    options.setdefault("encoding", READ_ENCODING)
    return unescape_frame(pd.read_csv(path, **options))
