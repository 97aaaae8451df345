"""The zip package of an .xlsx/.xlsm workbook, checked before calamine reads it.

Its limits (:class:`ExcelLimits`: the size of what it unzips to, the number of sheets,
cells, rows and columns), its sheets located, the cells holding an Excel error
(``#N/A``), a formula never calculated and the rows a sheet hides, all found in the
sheet's XML without building its grid (:class:`XlsxPackage`).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from xml.etree import ElementTree

from custrisk.errors import DataError
from custrisk.io.file_kind import ZIP_MAGIC, not_a_workbook
from custrisk.privacy import mask_pii_text

ZIP_FORMATS = (".xlsx", ".xlsm")
_CHUNK = 4 << 20
_MAX_XML_PART = 64 << 20  # workbook.xml and its relationships: small by nature
_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_ROW_RE = re.compile(rb'<row\b[^>]*?\br="(\d+)"')
_WIDE_RE = re.compile(rb'<c\b[^>]{0,200}?\br="([A-Z]{2,})\d')
_ERROR_RE = re.compile(rb'<c\b([^>]{0,400}?)\bt="e"[^>]{0,400}?>(.{0,4000}?)</c>', re.DOTALL)
_REF_RE = re.compile(rb'\br="([A-Z]{1,3})(\d{1,7})"')
_VALUE_RE = re.compile(rb"<v>([^<]{0,64})</v>")
#: A cell with content (not ``<c r="A1"/>``), for the formula cells among them.
_CELL_RE = re.compile(rb"<c\b([^>]{0,400}?[^/>])>(.{0,8000}?)</c>", re.DOTALL)
_FORMULA_RE = re.compile(rb"<f\b[^>]{0,400}?>([^<]{0,200})</f>")
#: A formula cell without a result: ``<f>..</f></c>``, ``<f .../></c>``, an empty ``<v>``.
_NO_RESULT = (b"</f></c>", b"/></c>", b"<v></v>", b"<v/>", b"<v />")
#: A row the sheet hides: a filter's, or hidden by hand.
_HIDDEN_ROW_RE = re.compile(rb'<row\b([^>]{0,400}?\bhidden="(?:1|true)"[^>]{0,400}?)>')


@dataclass(frozen=True)
class ExcelLimits:
    """What a workbook may hold before it is refused (each configurable for a run).

    The defaults let through any sheet Excel itself can save with up to 30 million cells
    (e.g. a million rows of 30 columns) and refuse what would take more memory than a
    desktop has.
    """

    max_unzipped_bytes: int = 4 << 30
    max_sheets: int = 1000
    max_rows: int = 1_048_576
    max_columns: int = 16_384
    max_cells: int = 30_000_000
    max_file_bytes: int = 1 << 30  # .xls and .ods


@dataclass(frozen=True)
class CellError:
    """A cell holding an Excel error value."""

    row: int  # 1-based, as Excel numbers rows
    column: int  # 0-based
    text: str  # e.g. "#N/A"; a formula never calculated: the formula (=B2*12)
    #: What the cell holds, for a message (default: the Excel error ``text``)
    what: str = ""

    @property
    def ref(self) -> str:
        return f"{column_letter(self.column)}{self.row}"


def column_letter(index: int) -> str:
    """``0`` -> ``A``, ``26`` -> ``AA``."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _column_index(letters: bytes) -> int:
    value = 0
    for char in letters:
        value = value * 26 + char - 64
    return value - 1


def short_error(exc: BaseException) -> str:
    text = mask_pii_text(str(exc).replace("\n", " "))
    return text if len(text) <= 200 else text[:199] + "…"


class XlsxPackage:
    """The zip of an .xlsx: its limits checked, its sheets located, its errors found."""

    def __init__(self, path: Path, limits: ExcelLimits) -> None:
        self.path = path
        self.limits = limits
        self.hidden: set[int] = set()
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            kind = not_a_workbook(path)
            if kind is not None:
                raise DataError(kind[0], file=str(path), hint=kind[1]) from None
            if _starts_as_zip(path):  # (a zip with no directory at its end: cut short)
                raise DataError(
                    f"the workbook is incomplete or damaged: {short_error(exc)}",
                    file=str(path),
                    hint="it looks cut short (copied or downloaded before it was complete?); "
                    "copy or export it again",
                ) from None
            raise DataError(
                f"not a valid workbook (.xlsx is a zip archive): {short_error(exc)}",
                file=str(path),
                hint="save it again from Excel as .xlsx, or export CSV",
            ) from None
        declared = sum(info.file_size for info in self.zip.infolist())
        if declared > limits.max_unzipped_bytes:
            raise DataError(
                f"the workbook unzips to {declared:,} bytes, over the limit of "
                f"{limits.max_unzipped_bytes:,}",
                file=str(path),
                hint="split it, or export the sheet as CSV or Parquet",
            )
        workbook = self._xml("xl/workbook.xml")
        pr = workbook.find(f"{_MAIN_NS}workbookPr")
        self.date1904 = pr is not None and pr.get("date1904", "0").lower() in ("1", "true")
        # A workbook a program wrote (openpyxl, xlsxwriter, ...) asks to be calculated
        # when opened: the results it stores for its formulas may be placeholders (0, or
        # nothing), not what Excel would show. Excel calculates and clears it on saving.
        calc = workbook.find(f"{_MAIN_NS}calcPr")
        self.uncalculated = calc is not None and calc.get("fullCalcOnLoad", "0").lower() in (
            "1",
            "true",
        )
        # What a formula never calculated leaves in the XML (no result, an empty one, a
        # placeholder 0): a sheet of calculated formulas (as Excel saves them) has none
        # and is not looked at cell by cell (a third more time to read a sheet)
        self._uncalculated_marks = _NO_RESULT + ((b"</f><v>0</v>",) if self.uncalculated else ())
        targets = {}
        rels_name = "xl/_rels/workbook.xml.rels"
        if rels_name in self.zip.namelist():
            for rel in self._xml(rels_name).iter(f"{_PKG_NS}Relationship"):
                target = rel.get("Target", "")
                part = (
                    target.lstrip("/")
                    if target.startswith("/")
                    else str(PurePosixPath("xl", target))
                )
                targets[rel.get("Id")] = _normalise_part(part)
        self.parts = {
            s.get("name", ""): targets.get(s.get(f"{_REL_NS}id"))
            for s in workbook.iter(f"{_MAIN_NS}sheet")
        }

    def _xml(self, name: str) -> ElementTree.Element:
        try:
            info = self.zip.getinfo(name)
        except KeyError:
            raise DataError(
                f"not a valid workbook: it has no {name}",
                file=str(self.path),
                hint="save it again from Excel as .xlsx",
            ) from None
        data = self._read_capped(info, _MAX_XML_PART)
        try:
            return ElementTree.fromstring(data)
        except ElementTree.ParseError as exc:
            raise DataError(
                f"not a valid workbook: {name} is not XML ({exc})", file=str(self.path)
            ) from None

    def _read_capped(self, info: zipfile.ZipInfo, cap: int) -> bytes:
        return b"".join(self._chunks(info, cap))

    def _chunks(self, info: zipfile.ZipInfo, cap: int) -> Iterator[bytes]:
        """The member's bytes, refusing more than ``cap`` (whatever its header says)."""
        total = 0
        try:
            with self.zip.open(info) as handle:
                while chunk := handle.read(_CHUNK):
                    total += len(chunk)
                    if total > cap:
                        raise DataError(
                            f"{info.filename} in the workbook unzips to more than {cap:,} bytes",
                            file=str(self.path),
                            hint="split the workbook, or export the sheet as CSV or Parquet",
                        )
                    yield chunk
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise DataError(
                f"the workbook is damaged: {short_error(exc)}",
                file=str(self.path),
                hint="save it again from Excel",
            ) from None

    def check_sheet(self, name: str, shown: Path) -> list[CellError]:
        """Check the sheet (and its shared strings) against the limits before calamine
        reads it; the cells holding an error value. The rows (1-based) it hides are left
        in :attr:`hidden`."""
        part = self.parts.get(name)
        if part is None or part not in self.zip.namelist():
            return []
        for extra in ("xl/sharedStrings.xml", "xl/styles.xml"):
            if extra in self.zip.namelist():
                for _chunk in self._chunks(self.zip.getinfo(extra), self.limits.max_unzipped_bytes):
                    pass
        limits = self.limits
        cells = max_row = rows = 0
        max_column = 25  # no cell named with two letters: at most column Z
        errors: list[CellError] = []
        carry = b""
        for chunk in self._chunks(self.zip.getinfo(part), limits.max_unzipped_bytes):
            data = carry + chunk
            # Scan up to the end of the last whole cell or row; the rest waits for more.
            cut = max(data.rfind(b"</c>") + 4, data.rfind(b"</row>") + 6, 0)
            whole, carry = data[:cut], data[cut:]
            if len(carry) > _MAX_XML_PART:
                raise DataError("a cell of the sheet is too long to be data", file=str(shown))
            cells += whole.count(b"<c")
            rows += whole.count(b"<row")
            found_rows = _ROW_RE.findall(whole)
            max_row = max(max_row, rows, *map(int, found_rows))
            for letters in _WIDE_RE.findall(whole):
                max_column = max(max_column, _column_index(letters))
            if b't="e"' in whole:
                errors.extend(self._errors(whole))
            if b"<f" in whole and any(m in whole for m in self._uncalculated_marks):
                errors.extend(self._formulas(whole))
            if b'hidden="' in whole:
                self._hidden_in(whole)
            if cells > limits.max_cells or max_row > limits.max_rows:
                break
        columns = max_column + 1
        if max_row > limits.max_rows:
            over = f"{max_row:,} rows (limit {limits.max_rows:,})"
        elif columns > limits.max_columns:
            over = f"{columns:,} columns (limit {limits.max_columns:,})"
        elif cells > limits.max_cells:
            over = f"over {limits.max_cells:,} cells"
        elif max_row * columns > limits.max_cells:
            over = (
                f"a grid of {max_row:,} rows by {columns:,} columns (limit "
                f"{limits.max_cells:,} cells)"
            )
        else:
            return errors
        raise DataError(
            f"the sheet is too large to read: {over}",
            file=str(shown),
            hint="split the sheet (or delete stray cells far from the data), or export it "
            "as CSV or Parquet",
        )

    def _hidden_in(self, data: bytes) -> None:
        for attributes in _HIDDEN_ROW_RE.findall(data):
            found = _ROW_RE.search(b"<row " + attributes)
            if found is not None:
                self.hidden.add(int(found.group(1)))

    @staticmethod
    def _errors(data: bytes) -> list[CellError]:
        found = []
        for attributes, inner in _ERROR_RE.findall(data):
            ref = _REF_RE.search(attributes)
            value = _VALUE_RE.search(inner)
            if ref is None:
                continue
            text = value.group(1).decode("utf-8", "replace") if value else "#ERROR"
            found.append(CellError(int(ref.group(2)), _column_index(ref.group(1)), text))
        return found

    def _formulas(self, data: bytes) -> list[CellError]:
        """The formula cells never calculated: no result stored, or a stored 0 in a
        workbook that asks to be calculated when opened (xlsxwriter's placeholder for
        every formula it was not given a result for). Read as they are, they were
        values: 0 for every customer's annual income from a formula. A result a program
        stored (other than 0) is read as Excel's is."""
        found = []
        for attributes, inner in _CELL_RE.findall(data):
            if b"<f" not in inner or b't="e"' in attributes:  # (an error: _errors has it)
                continue
            value = _VALUE_RE.search(inner)
            stored = value.group(1) if value is not None else b""
            if stored and not (self.uncalculated and stored == b"0"):
                continue  # calculated (by Excel when it saved, or given by the program)
            ref = _REF_RE.search(attributes)
            if ref is None:
                continue
            formula = _FORMULA_RE.search(inner)
            text = "=" + formula.group(1).decode("utf-8", "replace") if formula else "="
            found.append(
                CellError(
                    int(ref.group(2)),
                    _column_index(ref.group(1)),
                    text,
                    f"holds a formula ({text}) never calculated: the program that wrote "
                    "the workbook stored no result for it (or a placeholder 0); open it in "
                    "Excel and save it, or export the values",
                )
            )
        return found


def _starts_as_zip(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == ZIP_MAGIC
    except OSError:
        return False


def _normalise_part(part: str) -> str:
    """A zip member name with ``..`` resolved (``xl/../x`` -> ``x``)."""
    out: list[str] = []
    for piece in part.split("/"):
        if piece == "..":
            if out:
                out.pop()
        elif piece not in ("", "."):
            out.append(piece)
    return "/".join(out)
