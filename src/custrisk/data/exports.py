"""Reading one export file, encrypted or not: the data layer's door to
:func:`custrisk.io.readers.read_raw`.

An encrypted export (``credit.csv.enc``, written by ``custrisk encrypt`` or
``--encrypt``) is read through a private plaintext copy (:func:`plaintext_file`);
messages name the file the user gave, never the copy. ``io`` reads plain files only, so
that it stays below :mod:`custrisk.protect`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from custrisk.errors import DataError
from custrisk.io.readers import RawTable, file_format, head_lines, read_raw, split_sheet
from custrisk.protect.envelope import is_encrypted, plain_name
from custrisk.protect.output import plaintext_file


def export_format(path: Path) -> str:
    """``csv``, ``parquet`` or ``excel``: the format of the file, or of its plain name
    when it is encrypted (DataError for anything else)."""
    return file_format(plain_name(path))


def read_export(path: str | os.PathLike[str], **options: Any) -> RawTable:
    """:func:`~custrisk.io.readers.read_raw` of ``path``, decrypting it first when it is
    encrypted (same options)."""
    file, named_sheet = split_sheet(path)
    if not (file.is_file() and is_encrypted(file)):
        return read_raw(path, **options)
    options["sheet"] = options.get("sheet") or named_sheet
    rows = options.get("max_rows")
    # (a CSV's head is decrypted and copied alone; a Parquet file needs its footer)
    csv = export_format(file) == "csv"
    head = head_lines(rows) if rows is not None and csv else None
    with plaintext_file(file, max_lines=head) as plain:
        try:
            raw = read_raw(plain, **options)
        except DataError as exc:
            if exc.file != str(plain):
                raise
            named = DataError(exc.message.replace(str(plain), str(file)), hint=exc.hint)
            named.file, named.line, named.column = str(file), exc.line, exc.column
            raise named from None
    raw.path = file
    return raw


__all__ = ["export_format", "read_export"]
