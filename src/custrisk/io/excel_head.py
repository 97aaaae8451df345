"""The first rows of an .xlsx sheet without reading the whole sheet.

python-calamine reads a sheet whole before it gives any row: a glance at the top rows of
a 300,000-row sheet (to find the sheet a table is on past a 说明 cover sheet, or to tell
a CRM export by its header) cost as much as reading it, 10 to 20 s, and was paid again
by the read itself. Here the sheet's XML is read only up to its first rows, closed, and
handed to calamine as a small workbook of its own (with the shared strings and styles,
so that texts and dates read as in the whole sheet).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Collection, Iterator

_ROW_END = b"</row>"
_DIMENSION = re.compile(rb"<dimension\b[^>]*/>")
_CLOSE = b"</sheetData></worksheet>"
_EMPTY_SHEET = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    b"<sheetData/></worksheet>"
)
#: Rows read past those asked for: rows without a value (a styled blank row) close with
#: ``</row>`` too, and calamine's rows start at the first that holds one.
_MARGIN = 20


def head_workbook(
    archive: zipfile.ZipFile,
    sheet_part: str,
    sheet_parts: Collection[str],
    rows: int,
    chunks: Callable[[zipfile.ZipInfo], Iterator[bytes]],
) -> bytes | None:
    """An .xlsx (its bytes) holding the first ``rows`` rows (and a few more) of the sheet
    at ``sheet_part``, the workbook's other sheets empty; ``None`` when the sheet has no
    more rows than that (read it as it is). ``chunks`` reads a member of ``archive``
    within the reader's limits."""
    head = _sheet_head(chunks(archive.getinfo(sheet_part)), rows + _MARGIN)
    if head is None:
        return None
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for info in archive.infolist():
            name = info.filename
            if name == sheet_part:
                target.writestr(name, head)
            elif name in sheet_parts:
                target.writestr(name, _EMPTY_SHEET)
            elif name.endswith((".xml", ".rels")) and not name.startswith("xl/worksheets/_rels"):
                target.writestr(name, b"".join(chunks(info)))
    return out.getvalue()


def _sheet_head(chunks: Iterator[bytes], rows: int) -> bytes | None:
    """The sheet's XML up to the end of its ``rows``-th row, closed; ``None`` when it
    ends before that."""
    data = bytearray()
    seen = 0
    try:
        for chunk in chunks:
            start = len(data)
            data += chunk
            # (a </row> cut between two chunks is counted once, in the later)
            seen += data.count(_ROW_END, max(0, start - len(_ROW_END) + 1))
            if seen >= rows:
                break
        else:
            return None
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # (the member's stream, left unread)
    end = -1
    for _ in range(rows):
        end = data.find(_ROW_END, end + 1)
    cut = bytes(data[: end + len(_ROW_END)])
    return _DIMENSION.sub(b"", cut, count=1) + _CLOSE
