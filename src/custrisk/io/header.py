"""A file's header: a CSV's first line read and checked, and declared columns matched to it.

The first line of a CSV holds the column names, under Excel's ``sep=`` line or title
lines (an Excel sheet saved as CSV keeps its title row), which are passed over; a header
written with another delimiter, blank or duplicate names and a first line that looks like
a data row are refused with what to do about it. Blank
trailing names (over columns checked to be empty) and a blank first name over row numbers
(a pandas index, checked to be one) are read and left out. The declared columns
are matched to any file's header (CSV, workbook, Parquet, a query's) case- and
width-insensitively, and header names are shown in messages masked and cut.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.config._yaml import join_limited
from custrisk.config.columns import header_key
from custrisk.errors import DataError
from custrisk.io.csv_lines import open_quote
from custrisk.io.encoding import TextScan, open_ascii
from custrisk.privacy import mask_pii_text

log = logging.getLogger(__name__)

_OTHER_DELIMITERS = (",", ";", "\t", "|")
_SHOWN_NAME = 40  # characters of a header name quoted in a message
_DATA_LIKE = re.compile(
    r"[-+]?(?:\d[\d,]*)?\.?\d+%?|\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}日?(?:[ T][\d:.]+)?"
)


def shown_names(names: Sequence[str], limit: int = 5) -> str:
    """Header names for a message: personal data masked, long names cut, ``and N more``."""
    return join_limited([shown_header(n) for n in names], limit)


def shown_header(name: str) -> str:
    name = mask_pii_text(name)
    return name if len(name) <= _SHOWN_NAME else name[: _SHOWN_NAME - 1] + "…"


def looks_like_data(fields: Sequence[str]) -> bool:
    """Whether a header holds values rather than names: a number, a date, a phone or ID
    number or an e-mail address (a file exported without its header row)."""
    return any(_DATA_LIKE.fullmatch(f) or mask_pii_text(f) != f for f in fields)


#: The name read_raw gives a trailing header field without one (``UNNAMED`` + its place).
UNNAMED = "\x00unnamed:"
#: The name read_raw gives a first header field without one over row numbers: the index
#: pandas writes unless told ``index=False`` (read, checked and left out).
INDEX = "\x00index"


def check_row_numbers(
    column: pa.ChunkedArray, lines: np.ndarray, path: Path, header_line: int = 1
) -> None:
    """Refuse a column with a blank header that does not hold rising whole numbers (a
    pandas index: 0, 1, 2, ..., or the rows a filter kept): its values would be lost."""
    values = [v.strip() if v is not None else "" for v in column.to_pylist()]
    previous = -1
    for row, value in enumerate(values):
        number = int(value) if value.isascii() and value.isdigit() else None
        if number is None or number <= previous:
            raise DataError(
                f"header field 1 is blank but the column holds values that are not row "
                f"numbers (line {int(lines[row])})",
                file=str(path),
                line=header_line,
                hint="name the column in the header, or delete it",
            )
        previous = number


def check_unnamed_empty(
    table: pa.Table, unnamed: Sequence[str], lines: np.ndarray, path: Path, header_line: int = 1
) -> None:
    """Refuse a value in a column whose header field is blank: it would be lost."""
    for name in unnamed:
        values = pc.utf8_trim_whitespace(table.column(name).combine_chunks())
        filled = np.asarray(
            pc.fill_null(pc.greater(pc.utf8_length(values), 0), False).to_numpy(
                zero_copy_only=False
            )
        )
        if filled.any():
            row = int(np.flatnonzero(filled)[0])
            place = int(name.removeprefix(UNNAMED))
            raise DataError(
                f"header field {place} is blank but the column holds values (line "
                f"{int(lines[row])})",
                file=str(path),
                line=header_line,
                hint="name the column in the header, or delete it",
            )


#: Lines read past a one-field first line to find the header under a title.
TITLE_LINES = 5


def _header_under_titles(
    path: Path, scan: TextScan, delimiter: str, raw: bytes, max_header_bytes: int, at: int
) -> int | None:
    """The line of the header when the line ``at`` (``raw``) is a title over it: one
    field, or one and the empty fields a spreadsheet saved as CSV gives a title row
    (``客户风险台账（2026年10月）,,,,,``), over a line of several names within
    :data:`TITLE_LINES` (blank lines and notes between). ``None`` when it is not."""
    if len(raw) > max_header_bytes:
        return None
    first = raw.decode(scan.ascii_encoding, errors="replace").rstrip("\r\n")
    try:
        fields = next(csv.reader([first], delimiter=delimiter), [])
    except csv.Error:
        return None
    fields = [f.strip().lstrip("\ufeff").strip() for f in fields]
    if not fields or not fields[0] or any(fields[1:]):
        return None
    with open_ascii(path, scan) as handle:
        for _ in range(at):
            handle.readline(max_header_bytes + 1)
        below = [
            handle.readline(max_header_bytes + 1).decode(scan.ascii_encoding, errors="replace")
            for _ in range(TITLE_LINES)
        ]
    for n, line in enumerate(below, start=at + 1):
        try:
            fields = next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter), [])
        except csv.Error:
            return None
        named = [f for f in fields if f.strip()]
        if len(named) >= 2:  # the header, or a row of data under a one-column header
            return None if looks_like_data(fields) else n
    return None


@dataclass(frozen=True)
class CsvHeader:
    """A CSV file's header as :func:`read_header` found it."""

    #: The column names (:data:`INDEX` and :data:`UNNAMED` ones included).
    names: list[str]
    #: The byte offset where the data starts (in the file as ``open_ascii`` reads it).
    end: int
    #: The header's line: 2 under Excel's ``sep=`` line, else 1.
    line: int
    #: The delimiter the file is read with: the one its ``sep=`` line declares, if any.
    delimiter: str


def read_header(path: Path, scan: TextScan, delimiter: str, max_header_bytes: int) -> CsvHeader:
    """The header of a CSV file: its names, where the data starts, its line and the
    delimiter. Excel's ``sep=;`` line above the header (which some exports write so that
    Excel splits the columns) is read as the delimiter it declares, over ``delimiter``."""
    with open_ascii(path, scan) as handle:
        raw = handle.readline(max_header_bytes + 1)
        declared = _declared_delimiter(raw, scan, path)
        above = 0
        if declared is not None:
            if declared != delimiter:
                log.info(
                    "%s: line 1 (Excel's %r) declares the delimiter %r: the file is read "
                    "with it, not with %r",
                    path.name,
                    f"sep={declared}",
                    declared,
                    delimiter,
                )
            above, delimiter = len(raw), declared
            raw = handle.readline(max_header_bytes + 1)
    line = 2 if declared is not None else 1
    titled = _header_under_titles(path, scan, delimiter, raw, max_header_bytes, line)
    if titled is not None:
        # A title over the header (an Excel sheet saved as CSV keeps it): passed over,
        # as a workbook's title rows are; the rows keep their lines
        log.info(
            "%s: line%s %s above the header (line %d) read as a title and passed over",
            path.name,
            "s" if titled - line > 1 else "",
            f"{line} to {titled - 1}" if titled - line > 1 else str(line),
            titled,
        )
        with open_ascii(path, scan) as handle:
            above = sum(len(handle.readline(max_header_bytes + 1)) for _ in range(titled - 1))
            raw = handle.readline(max_header_bytes + 1)
        line = titled
    names = _header_names(path, scan, raw, delimiter, max_header_bytes, line)
    return CsvHeader(names, above + len(raw), line, delimiter)


#: Excel's line naming a file's delimiter above its header: ``sep=;`` (any one character
#: that can delimit: not a letter, digit, quote or space).
_SEP_LINE = re.compile(r"sep=(.)", flags=re.IGNORECASE)


def sep_line_delimiter(line: str) -> str | None:
    """The character Excel's ``sep=`` line declares as the delimiter (``sep=;``), or
    ``None`` when ``line`` (a file's first line, decoded) is not one."""
    said = _SEP_LINE.fullmatch(line.rstrip("\r\n").lstrip("\ufeff").strip(" "))
    return said.group(1) if said else None


def _declared_delimiter(raw: bytes, scan: TextScan, path: Path) -> str | None:
    """The delimiter Excel's ``sep=`` line declares, or ``None`` when ``raw`` is not one."""
    text = raw.decode(scan.ascii_encoding, errors="replace")
    declared = sep_line_delimiter(text)
    if declared is None:
        return None
    if declared.isalnum() or declared in "\"' \r\n\ufeff":
        raise DataError(
            f"line 1 is Excel's delimiter line ({text.strip()!r}), not the header, and "
            f"{declared!r} cannot delimit columns",
            file=str(path),
            line=1,
            hint="delete that line and save the CSV again",
        )
    return declared


def _header_names(
    path: Path, scan: TextScan, raw: bytes, delimiter: str, max_header_bytes: int, at: int
) -> list[str]:
    """The names of the header line ``raw`` (the file's line ``at``), checked."""
    where = "the first line" if at == 1 else f"line {at}"
    if len(raw) > max_header_bytes:
        raise DataError(
            f"{where} is longer than {max_header_bytes:,} bytes: not a header row",
            file=str(path),
            line=at,
            hint=f"{where} must hold the column names; check that the file is a CSV "
            "export and not a one-line or binary file",
        )
    first = raw.decode(scan.ascii_encoding, errors="replace").rstrip("\r\n")
    if not first.strip():
        raise DataError(
            f"{where} is empty: no header row",
            file=str(path),
            line=at,
            hint=f"{where} must hold the column names",
        )
    if open_quote(first, delimiter):
        raise DataError(
            "the header has a quote that is not closed",
            file=str(path),
            line=at,
            hint=f"{where} must hold the column names, each quoted name closed",
        )
    try:
        fields = next(csv.reader([first], delimiter=delimiter))
    except csv.Error:
        raise DataError(
            f"a header field is longer than {csv.field_size_limit():,} characters: not a "
            "column name",
            file=str(path),
            line=at,
            hint=f"{where} must hold the column names",
        ) from None
    header = [h.strip().lstrip("\ufeff").strip() for h in fields]
    if len(header) == 1:
        other = other_delimiter(first, delimiter)
        if other is not None:
            shown = (
                f"its {where.removeprefix('the ')} looks like a data row"
                if looks_like_data(first.split(other))
                else repr(mask_pii_text(first.strip())[:60])
            )
            raise DataError(
                f"the header has one column but looks {_name(other)}-delimited: {shown}",
                file=str(path),
                line=at,
                hint=f"set delimiter: {_yaml_char(other)} for this source in the sources "
                "config, or export with commas",
            )
    blanks = [i + 1 for i, h in enumerate(header) if not h]
    trailing = blanks == list(range(len(header) - len(blanks) + 1, len(header) + 1))
    if blanks == [1] and len(header) > 1 and not looks_like_data(header):
        # a first field without a name: an index pandas saved (to_csv without
        # index=False), read and checked to be row numbers (read_raw)
        return [INDEX, *header[1:]]
    if blanks and trailing and not looks_like_data(header):
        if len(blanks) < len(header):
            # Trailing fields without a name (a spreadsheet's touched, empty columns:
            # "a,b,,"): read, checked to be empty and left out (read_raw)
            return [*header[: -len(blanks)], *(f"{UNNAMED}{i}" for i in blanks)]
    if blanks:
        raise DataError(
            f"header field {blanks[0]} is blank"
            + (f"; {where} looks like a data row, not a header" if looks_like_data(header) else ""),
            file=str(path),
            line=at,
            hint="every column needs a name",
        )
    seen: set[str] = set()
    dupes = [h for h in header if h in seen or seen.add(h)]  # type: ignore[func-returns-value]
    if dupes:
        data_row = looks_like_data(header)
        raise DataError(
            f"{where} looks like a data row, not a header (is the header missing?)"
            if data_row
            else f"duplicate column names in the header: {shown_names(dupes)}",
            file=str(path),
            line=at,
            hint="give every column a distinct name"
            if not data_row
            else f"{where} must hold the column names",
        )
    return header


def match_header(
    header: Sequence[str], columns: Mapping[str, str], path: Path
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """``{header: declared name}`` for the declared columns the header holds, and the
    headers that matched only ignoring case, width, spaces and line breaks.

    Raises
    ------
    DataError
        When two headers would give the same column.
    """
    matcher = HeaderMatcher(columns)
    chosen: dict[str, str] = {}
    folded: list[tuple[str, str]] = []
    for name in header:
        declared = matcher.find(name)
        if declared is not None:
            chosen[name] = declared
            # (a header kept masked, 联系人138****5678: the same header, not another spelling)
            if declared != name and declared != mask_pii_text(name):
                folded.append((name, declared))
    by_column: dict[str, list[str]] = {}
    for name, declared in chosen.items():
        by_column.setdefault(columns[declared], []).append(name)
    for column, names in by_column.items():
        if len(names) > 1:
            raise DataError(
                f"the header fields {shown_names([repr(n) for n in names])} all match the "
                f"declared column '{column}'",
                file=str(path),
                line=1,
                hint="rename or drop all but one of them in the export",
            )
    return chosen, folded


class HeaderMatcher:
    """The declared name a header (or a request's field) means: itself, else the one it
    equals ignoring case, width and traditional characters (:func:`header_key`: 年齡 is
    年龄), else ignoring spaces and line breaks too (a sheet's header wrapped in its cell,
    逾期\\n次数, is next month's 逾期次数), else the one it is with its personal data masked
    (:func:`~custrisk.privacy.mask_pii_text`: a flat table's model keeps a header holding
    a phone number, 联系人13812345678, as 联系人138****5678, never in clear). Two declared
    names that fold alike (ID and id) match only exactly."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(names)
        self._by_key: dict[str, str | None] = {}
        self._by_spaceless: dict[str, str | None] = {}
        for name in self.names:
            key = header_key(name)
            self._by_key[key] = None if self._by_key.get(key, name) != name else name
            bare = _spaceless(key)
            self._by_spaceless[bare] = None if self._by_spaceless.get(bare, name) != name else name

    def find(self, header: str) -> str | None:
        if header in self.names:
            return header
        key = header_key(header)
        if key in self._by_key:
            return self._by_key[key]
        found = self._by_spaceless.get(_spaceless(key))
        if found is None and (masked := mask_pii_text(header)) != header:
            return self.find(masked)
        return found


def _spaceless(key: str) -> str:
    return "".join(key.split())


def other_delimiter(first_line: str, delimiter: str = ",") -> str | None:
    """The delimiter a header line that ``delimiter`` does not split is written with
    (a European or tab-separated export): the first of :data:`_OTHER_DELIMITERS` that
    splits it into three or more fields, or ``None``."""
    return next(
        (d for d in _OTHER_DELIMITERS if d != delimiter and len(first_line.split(d)) > 2), None
    )


def _name(delim: str) -> str:
    return {"\t": "tab", ";": "semicolon", "|": "pipe", ",": "comma"}[delim]


def _yaml_char(delim: str) -> str:
    return '"\\t"' if delim == "\t" else f"'{delim}'"
