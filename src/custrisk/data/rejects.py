"""The rejects as files show them (``rejects.csv``, ``rejects.xlsx``): personal data
masked (a column by its masker, a whole row field by field) and each column named as
its export's header names it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from custrisk.config.columns import ColumnSpec
from custrisk.config.sources import SourcesConfig, SourceSpec
from custrisk.privacy import (
    mask_id_number,
    mask_name,
    mask_name_value,
    mask_phone,
    mask_pii_text,
)

REJECTS_FILE = "rejects.csv"
REJECTS_WORKBOOK = "rejects.xlsx"
REJECTS_FORMATS = ("csv", "xlsx")


#: Maskers of the usual personal-data columns; others are masked by their type.
_MASKERS = {"name": mask_name, "phone": mask_phone, "id_number": mask_id_number}


def column_masker(col: ColumnSpec) -> Any:
    return _MASKERS.get(col.name) or (mask_name if col.type == "string" else mask_id_number)


def mask_fields(text: Any, delimiter: str) -> Any:
    """A whole row's text with each field shown as its first character and ``**``.

    The fields of a malformed or duplicate row cannot be told apart reliably, so none is
    shown in clear; the file and line say where the row is.
    """
    if not isinstance(text, str) or not text:
        return text
    try:
        fields = [f for row in csv.reader(io.StringIO(text), delimiter=delimiter) for f in row]
    except csv.Error:
        fields = text.split(delimiter)
    return delimiter.join(mask_name_value(f.strip()) if f.strip() else f for f in fields)


#: The column of a written rejects file that names the column as the export heads it.
HEADER_COLUMN = "header"


def rejects_to_write(
    rejects: pd.DataFrame,
    config: SourcesConfig,
    *,
    masked: bool = True,
    written: Mapping[tuple[str, str, str], str] | None = None,
) -> pd.DataFrame:
    """The rejects as a file shows them: personal data masked (unless ``masked`` is
    false) and, after ``column`` (custrisk's name, the key of the sources config), the
    column's ``header`` in the export (``年龄`` for ``col4`` of a flat table, ``联系电话``
    for ``phone`` of a CRM export; blank for an issue about a whole row). ``written``:
    the headers files wrote otherwise than declared, by (source, file, column), as
    :attr:`~custrisk.data.validation.ValidationReport.written_headers` gives them
    (地區 where the config says 地区)."""
    shown = mask_rejects(rejects, config) if masked else rejects
    if HEADER_COLUMN in shown.columns:
        return shown
    headers = export_headers(shown, config, written)
    at = list(shown.columns).index("column") + 1 if "column" in shown.columns else 0
    shown = shown.copy()
    shown.insert(at, HEADER_COLUMN, headers)
    return shown


def export_headers(
    rejects: pd.DataFrame,
    config: SourcesConfig,
    written: Mapping[tuple[str, str, str], str] | None = None,
) -> pd.Series:
    """Each reject's column as its export's header says it: as the file wrote it when
    ``written`` has it, else the ``rename`` key that maps to it (a stacked source's part
    first, found by the reject's file), else the column's own name; blank for an issue
    about a whole row."""
    if not len(rejects) or "column" not in rejects.columns:
        return pd.Series("", index=rejects.index, dtype="str")
    keys = pd.MultiIndex.from_arrays(
        [
            rejects["source"].astype(str).to_numpy(),
            rejects["column"].fillna("").astype(str).to_numpy(),
            rejects["file"].fillna("").astype(str).to_numpy()
            if "file" in rejects
            else [""] * len(rejects),
        ]
    )
    codes, distinct = keys.factorize()
    specs = {**config.sources, "labels": config.labels}
    shown = []
    for source, column, file in distinct:
        spec = specs.get(source)
        declared = spec is not None and (column in spec.column_names or column in spec.left_out)
        # (blank: a whole row, or a column the config neither declares nor ignores)
        header = _header_of(spec, column, file) if declared else ""  # type: ignore[arg-type]
        shown.append((written or {}).get((source, file, column), header))
    headers = np.asarray(shown, dtype=object)[codes]
    return pd.Series(headers, index=rejects.index, dtype="str")


def _header_of(spec: SourceSpec, column: str, file: str) -> str:
    """The header of ``column`` in ``file`` of the source: its part's ``rename`` key
    when the file is that part's, else the source's, else the column's own name."""
    for part_spec, part in spec.part_specs():
        if part is not None and file and not _names_file(part.file, file):
            continue
        for header, canonical in part_spec.rename.items():
            if canonical == column:
                return header
        if part is not None:
            return column
    return column


def _names_file(pattern: str, file: str) -> bool:
    """Whether a part's ``file`` (a name or a glob, maybe with folders) names ``file``."""
    name = Path(file).name
    return fnmatch(name, Path(pattern).name) or fnmatch(file, pattern)


def mask_rejects(rejects: pd.DataFrame, config: SourcesConfig) -> pd.DataFrame:
    """The rejects with personal data masked, for files that people and tools read.

    The ``value`` of a row about a column flagged ``pii`` is masked with that column's
    masker (张**, 138****5678, ...). A value that shows a whole row (wrong number of
    fields, duplicate row, or any issue not about one column) is masked field by field
    when its source has personal-data columns. A row check that compares a personal-data
    column is masked too. Any other value has what looks like a phone number, an ID
    number or an e-mail address masked (a phone typed into an amount that did not parse,
    an ID number as a rejected row's customer id), and so has every message; the
    message of a formula in a personal-data cell has the texts it quotes masked.
    """
    if not len(rejects):
        return rejects
    values = rejects["value"].astype(object).to_numpy(copy=True)
    sources = rejects["source"].astype(str).to_numpy()
    columns = rejects["column"].fillna("").astype(str).to_numpy()
    rules = rejects["rule"].fillna("").astype(str).to_numpy()
    changed = False
    # (two ids that collide: the message names both)
    messages = (
        rejects["message"].astype(object).to_numpy(copy=True)
        if "message" in rejects.columns
        else None
    )
    quoted = False
    for name, spec in config.sources.items():
        pii = {c.name: c for c in spec.columns if c.pii}
        if not pii:
            continue
        in_source = sources == name
        if not in_source.any():
            continue
        for column, col in pii.items():
            rows = np.flatnonzero(in_source & (columns == column))
            if rows.size:
                shown = pd.Series(values[rows], dtype=object)
                text = shown.where(shown.isna(), shown.astype(str).str.strip())
                values[rows] = column_masker(col)(text).to_numpy(dtype=object)
                changed = True
                said = rows[rules[rows] == "excel_error"]
                if said.size and messages is not None:  # (=HYPERLINK("…","张伟"))
                    messages[said] = [_quoted_masked(m) for m in messages[said]]
                    quoted = True
        whole_row = in_source & ~np.isin(columns, spec.column_names)
        # (a 合计 in an ignored 序号 is no name; a note there, 制表人：王会计, is masked)
        whole_row &= ~((rules == "total_row") & np.isin(columns, sorted(spec.left_out)))
        for check in spec.checks:
            if check.left in pii or check.right in pii:
                whole_row |= in_source & (rules == f"check:{check.name}")
        for row in np.flatnonzero(whole_row):
            # A raw line has the file's delimiter; a duplicate row is shown with commas.
            delimiter = "," if rules[row] == "duplicate_row" else spec.delimiter
            values[row] = mask_fields(values[row], delimiter)
            changed = True
    changed |= _mask_pii_texts(values)
    masked = {}
    if messages is not None and (_mask_pii_texts(messages) or quoted):
        masked["message"] = pd.Series(messages, index=rejects.index, dtype=object)
    if not changed and not masked:
        return rejects
    return rejects.assign(value=pd.Series(values, index=rejects.index, dtype=object), **masked)


_QUOTED = re.compile(r'"([^"]+)"')


def _quoted_masked(message: Any) -> Any:
    """A message with each double-quoted text in it masked as a name (``"张**"``)."""
    if not isinstance(message, str):
        return message
    return _QUOTED.sub(lambda m: f'"{mask_name_value(m.group(1))}"', message)


def _mask_pii_texts(values: np.ndarray) -> bool:
    """Mask what looks like a phone number, an ID number or an e-mail address in each
    text of ``values`` (in place); whether any was."""
    texts = np.flatnonzero([isinstance(v, str) and v != "" for v in values])
    if not texts.size:
        return False
    # (each distinct text once: an export's orphans repeat a few customer ids)
    masks = {v: mask_pii_text(v) for v in pd.unique(values[texts])}
    masked = np.array([masks[v] for v in values[texts]], dtype=object)
    if not (masked != values[texts]).any():
        return False
    values[texts] = masked
    return True
