"""What a table holds, guessed from its header and its values: the id column, the target,
and the type, role and personal-data flag of every column.

Used for flat tables (one row per customer, ``custrisk train TABLE --target COLUMN``):
the guess becomes a sources config with one source, so that the table is read, typed,
cleaned and rejected by exactly the rules of every other export. Each decision carries
its reason, printed to the user and saved in the model card.

The rules, in order, for a column's non-blank values (blanks: the cleaner's null
spellings and empty fields):

* the target (``--target``) and the id (``--id-column``, else a header such as
  ``customer_id``/``客户编号`` whose values are unique) are taken out first;
* personal data: a header naming a person (``name``, ``姓名``, ``联系人``, address, ...) or
  values that are mostly mobile numbers, resident id numbers or e-mail addresses: kept
  out of the features and masked wherever the table's values are shown;
* blank in every row, or one value in every row: ignored (nothing to learn);
* ``0``/``1`` only: int; true/false words only (``是``/``否``, yes/no): bool;
* numbers (thousands separators allowed) in at least ``NUMBER_SHARE`` of the rows: int or
  float, unless leading zeros say the "numbers" are codes (postal codes, branch codes);
* dates in one of the date formats in at least ``NUMBER_SHARE`` of the rows: date (the
  feature is its age in days at the as-of date);
* other text with few distinct values: category; with many: free text, ignored.

Here: the table's layout (:class:`TableSchema`) and :func:`infer_table`, which reads the
table and decides its id, target and as-of date; what each column is comes from
:mod:`custrisk.data.infer_columns`, the tests on its values from
:mod:`custrisk.data.infer_values`.
"""

from __future__ import annotations

import codecs
import os
import re
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.config.columns import header_key
from custrisk.data.exports import export_format, read_export
from custrisk.data.headers import canonical_name, lower_header
from custrisk.data.infer_columns import (
    ID_FAULT_SHARE,
    ID_NAME,
    ROW_NUMBERS,
    classify,
    column_name,
    customer_field,
    detect_id,
    mostly_unique,
    plausible_range,
    row_number_header,
    row_numbers,
)
from custrisk.data.infer_values import (
    DATE_ORDER_SHOWN,
    DATETIME_FORMATS,
    MONTH_FORMATS,
    count_unit,
    cut_text,
    date_share,
    decimal_commas,
    foreign_amounts,
    percent_points,
    percent_text,
    serial_dates,
    several_units,
    with_unit,
    year_last,
    year_last_dates,
    year_last_formats,
)
from custrisk.data.text import (
    decimal_point_value,
    note_words,
    null_variants,
    text_literal_values,
    totals_words,
)
from custrisk.errors import DataError, UsageError
from custrisk.io.excel import (
    is_excel,
    split_sheet,
    top_rows,
    visible_worksheets,
)
from custrisk.io.header import other_delimiter, sep_line_delimiter, shown_names
from custrisk.privacy import mask_pii_text
from custrisk.protect.envelope import is_encrypted

#: Values at most inspected per column (the first rows of the table).
SAMPLE_ROWS = 200_000

ROLES = ("id", "target", "feature", "pii", "ignored", "as_of")
#: A date column that says when each row was taken (an application or snapshot date):
#: the table's as-of date, not a feature. Its age would measure how long an outcome had
#: to mature, not the customer, and is 0 for every applicant scored on the day.
_AS_OF_HEADER = re.compile(
    r"申请|进件|观察|快照|数据日期|统计日期|报表日期|提数日期|"
    r"application|apply|applied|snapshot|observation|(?<![a-z])as[ _.-]?of(?![a-z])",
    re.IGNORECASE,
)


#: The dates of a labels file's outcomes (custrisk.data.headers' names for 违约日期,
#: 流失日期, ...): beside the --target column they are no features, being known only after
#: the fact, and their dates (a year ahead) would date the table. (A second outcome column
#: such as 违约标志 is left out by training's leak check, which says so; a churned or
#: escalated flag may be a customer's past, and stays a feature.)
_OUTCOMES = frozenset({"bad_date", "label_date", "churn_date", "escalation_date"})


@dataclass(frozen=True)
class InferredColumn:
    """One column of the table as custrisk will read it."""

    header: str  # the name in the file
    name: str  # the canonical name (an identifier; the feature's code)
    type: str  # a sources-config column type
    role: str  # one of ROLES
    reason: str  # why, in one line
    pii: bool = False
    blank_share: float = 0.0
    distinct: int = 0
    #: the plausible range of a number (an age, an amount that is never negative): a
    #: value outside is blanked while cleaning and listed, as an export's would be
    lower: float | None = None
    upper: float | None = None
    #: the factor its values are read with (``scale`` in the sources config): a column
    #: of 万元 as the customer field in 元, a monthly income as ``annual_income``,
    #: percentage points as fractions (0.01)
    scale: float | None = None
    #: the unit its numbers are written with (``unit`` in the sources config): 岁, 个月
    unit: str | None = None
    #: its numbers are written as percentages (16.3%, read as 0.163): the feature's
    #: values are shown as percents (indicator unit ``share``)
    percent: bool = False
    #: its header names percentages and its numbers are percentage points (42.7 under
    #: ``Utilisation %``, read as 0.427 with ``scale`` 0.01): shown as percents too
    percent_points: bool = False


@dataclass(frozen=True)
class TableSchema:
    """The inferred layout of a flat table."""

    file: str
    format: str
    rows: int  # rows inspected
    columns: tuple[InferredColumn, ...]
    id_column: str | None  # the header of the id column; None: row numbers are the ids
    target: str | None  # the header of the target column
    true_values: tuple[str, ...] = ()
    false_values: tuple[str, ...] = ()
    date_formats: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    #: The latest date (ISO) of each date column, by canonical name.
    latest_dates: dict[str, str] = field(default_factory=dict)
    #: The workbook's sheet the table is on, when not its only one (``None``: the first).
    sheet: str | None = None
    #: A CSV file's field delimiter (found from its header line when not a comma).
    delimiter: str = ","
    #: Which comes first in its dates with the year last (``"day"``: 17/05/2023,
    #: ``"month"``: 05/17/2023; ``None``: no such dates, or their order is not told):
    #: ``date_formats`` read them so.
    date_order: str | None = None
    #: Its numbers' decimal mark: ``","`` for a European export's ``0,614`` and
    #: ``1.234,56`` (a file not separated by commas whose numbers have decimal commas)
    decimal: str = "."

    @property
    def shown(self) -> str:
        """The file, and the sheet when one was chosen: ``book.xlsx, sheet '客户'``, with
        a phone number, ID number or e-mail address in their names masked (a message, a
        config's comment and the model card never hold them in clear)."""
        if self.sheet is None:
            return self.kept_file
        return f"{self.kept_file}, sheet {self.kept_sheet!r}"

    @property
    def kept_file(self) -> str:
        """The file's name as a layout keeps it: personal data in it masked
        (``王小明_138****5678.xlsx``)."""
        return mask_pii_text(self.file)

    @property
    def kept_sheet(self) -> str | None:
        """The sheet's name as a layout keeps it (``客户138****5678``): the reader finds
        the sheet by it (:func:`custrisk.io.excel.named_sheet`)."""
        return None if self.sheet is None else mask_pii_text(self.sheet)

    @property
    def features(self) -> list[InferredColumn]:
        return [c for c in self.columns if c.role == "feature"]

    @property
    def outcome_guess(self) -> str | None:
        """Without ``--target``: the header of a two-valued column named as an outcome
        (``是否违约``, ``default``), which must not be taken as a feature."""
        if self.target is not None:
            return None
        return next(
            (
                c.header
                for c in self.columns
                if c.role == "feature" and c.distinct <= 2 and canonical_name(c.header) == "bad"
            ),
            None,
        )

    def column(self, header: str) -> InferredColumn:
        return next(c for c in self.columns if c.header == header)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.kept_file,
            "format": self.format,
            "rows_inspected": self.rows,
            "id_column": self.id_column,
            "target": self.target,
            "sheet": self.kept_sheet,
            "columns": [asdict(c) for c in self.columns],
            "notes": list(self.notes),
            "latest_dates": dict(self.latest_dates),
        }

    def summary_lines(self) -> list[str]:
        """One line per column: header, role, type and why (for the terminal)."""
        # (a header of 20,000 characters, cut, pads no other line to its width)
        shown = {c.header: cut_text(c.header, SHOWN_HEADER) for c in self.columns}
        width = max((_width(h) for h in shown.values()), default=0)
        lines = []
        for c in self.columns:
            kind = (
                f"feature, {c.type}"
                if c.role == "feature"
                else "as-of date"
                if c.role == "as_of"
                else c.role
            )
            pad = " " * (width - _width(shown[c.header]))
            lines.append(f"{shown[c.header]}{pad}  {kind:<18} {c.reason}")
        if self.id_column is None:
            lines.append("(no id column: customer ids are the rows' line numbers in the file)")
        features = [c.header for c in self.columns if c.role == "feature"]
        months = [h for h in features if _CALENDAR.match(h)]
        if len(months) > 1:
            lines.append(
                f"(features headed by calendar months, {months[0]} ... {months[-1]}: a later "
                "table, headed by later months, cannot be scored with them; head them by "
                "how far back they are, 近1月 ... 近12月, to score every month)"
            )
        return lines


#: The scale of a column of percentage points (42.7 read as the fraction 0.427).
PERCENT_POINT = 0.01

#: The characters of a header the layout's lines show (a longer one is cut, with …)
SHOWN_HEADER = 40

#: A header that is a calendar month or day (a date cell, 2026-01-01; 2026年1月; 2026-01).
_CALENDAR = re.compile(r"(?:19|20)\d\d(?:[-/.年]\d{1,2}月?(?:[-/.]\d{1,2}日?)?)$")


def infer_table(
    path: str | os.PathLike[str],
    *,
    target: str | None = None,
    id_column: str | None = None,
    encoding: str | None = None,
    delimiter: str = ",",
    true_values: Sequence[str] = ("true", "1", "yes", "y", "t", "是"),
    false_values: Sequence[str] = ("false", "0", "no", "n", "f", "否"),
    date_formats: Sequence[str] = (
        "%Y-%m-%d",
        "%Y/%m/%d",
        "%Y%m%d",
        "%Y年%m月%d日",
        "%Y.%m.%d",
        *DATETIME_FORMATS,
        *MONTH_FORMATS,
    ),
    sample_rows: int = SAMPLE_ROWS,
    samples: dict[str, list[str]] | None = None,
) -> TableSchema:
    """Read a table's header and first ``sample_rows`` rows and decide, for every column,
    whether it is the id, the target, a feature (and of which type), personal data or
    ignored.

    ``samples``: a mapping filled with each column's non-blank values as read (NFKC,
    trimmed), by header (as the layout keeps it: personal data in it masked), for a
    caller that checks them further (``init``) without reading the file again. (Customer
    data: never into a card or a log.)

    Raises
    ------
    UsageError
        ``target`` or ``id_column`` is not a column of the table.
    DataError
        The table cannot be read, or holds no data rows.
    """
    path = Path(path)
    file, named = split_sheet(path)  # book.xlsx#Sheet: that sheet
    sheet = None if named is not None else _table_sheet(file, target)
    if delimiter == "," and named is None:
        delimiter = _sniffed_delimiter(file)
    raw = read_export(
        path,
        encoding=encoding,
        delimiter=delimiter,
        null_values=null_variants(),
        sheet=sheet,
        max_rows=sample_rows,
    )
    if raw.num_rows == 0 and raw.bad_rows:  # every row refused by the reader: say why
        first = raw.bad_rows[0]
        why = first.message or f"expected {first.expected} fields, found {first.actual}"
        raise DataError(
            f"no row of the table can be read: all {len(raw.bad_rows):,} were refused, the "
            f"first at line {first.line}: {why}",
            file=str(path),
            hint="correct what it names in every row (or leave that column out of the "
            "export) and try again",
        )
    if raw.num_rows == 0:
        raise DataError(
            "the table has a header but no data rows",
            file=str(path),
            hint="export it again with its rows",
        )
    table = raw.table.slice(0, sample_rows)
    headers = list(table.column_names)
    kept = _kept_headers(headers, path)
    target_header = _find(headers, target, "--target", path, sheet) if target else None
    id_header = _find(headers, id_column, "--id-column", path, sheet) if id_column else None
    if target_header is not None and target_header == id_header:
        raise UsageError(f"--target and --id-column name the same column {kept[target_header]!r}")
    words_true = {w.lower() for w in true_values}
    words_false = {w.lower() for w in false_values}
    texts = {h: _texts(table.column(h)) for h in headers}
    if is_excel(file):  # 45961 beside date cells, or under 开户日期: a date lost its format
        for header in headers:
            dates = serial_dates(texts[header], header, date_formats)
            texts[header] = texts[header] if dates is None else dates
    if samples is not None:
        samples.update({kept[h]: v for h, v in texts.items()})  # (as the layout's)
    decimal = "," if delimiter != "," and decimal_commas(texts) else "."
    if decimal == ",":  # (1.234,56 and 0,614 judged as the cleaner will read them)
        texts = {h: [decimal_point_value(v) for v in values] for h, values in texts.items()}
    # 1, 2, 3, ... in the file's order (序号, No., a pandas index saved as Unnamed: 0)
    counters = {h for h in headers if row_numbers(h, texts[h], table.num_rows)}
    if id_header is None:
        # a row number is the id only when no other column is (it restarts every month)
        ordered = sorted(headers, key=lambda h: h in counters or row_number_header(h))
        id_header = detect_id(ordered, texts, exclude=target_header)
    elif not mostly_unique(texts[id_header], table.num_rows):
        # As a detected id: a few repeated or blank ids are rejected while cleaning
        faults = table.num_rows - len(set(texts[id_header]))
        raise DataError(
            f"--id-column {id_column!r}: {faults:,} of the first {table.num_rows:,} rows "
            f"repeat an id or have none (more than {ID_FAULT_SHARE:.0%})",
            file=str(path),
            hint="pick the column that identifies a customer, or leave --id-column out "
            "to use the row numbers",
        )
    order, unclear = year_last_dates(
        {h: v for h, v in texts.items() if h not in (id_header, target_header)}
    )
    if order is not None:
        date_formats = (*date_formats, *year_last_formats(order))
    used: set[str] = set()
    # A field named as it is (年收入) is that column's before a scaled one's (月收入)
    exact = {canonical_name(h) for h in headers} - {None}
    columns = []
    latest: dict[str, str] = {}
    as_of_taken = False
    for i, header in enumerate(headers, start=1):
        values = texts[header]
        blank = 1.0 - len(values) / max(table.num_rows, 1)
        distinct = len(set(values))
        if header == id_header:
            own = _report_rows(table, header, counters)
            faults = table.num_rows - distinct - own
            why = "identifies a customer" + ("" if faults or own else " (unique)")
            if faults:
                why += f"; {faults:,} rows repeat an id or have none: rejected while cleaning"
            if own:  # 合计 or 制表人：... beside a blank id: skipped, as cleaning will
                why += f"; {own:,} rows are the report's own (totals, notes, captions): skipped"
            col = InferredColumn(header, ID_NAME, "id", "id", why)
        elif header == target_header:
            col = InferredColumn(
                header, column_name(kept[header], i, used), "string", "target", "--target"
            )
        else:
            unit, numbers = count_unit(values)
            kind, role, reason, pii = classify(
                header,
                numbers if unit else values,
                pa.string() if unit else table.column(header).type,
                words_true,
                words_false,
                date_formats,
                table.num_rows,
            )
            if unit and kind in ("int", "float") and role == "feature":
                example = cut_text(with_unit(values, unit))
                reason = f"{reason} written with the unit {unit} (e.g. {example})"
            elif unit:  # not numbers once the unit is off after all
                unit = None
                kind, role, reason, pii = classify(
                    header,
                    values,
                    table.column(header).type,
                    words_true,
                    words_false,
                    date_formats,
                    table.num_rows,
                )
            elif numbers and not pii:  # several units
                kind, role, reason = "string", "ignored", several_units(values)
            elif kind not in ("int", "float") and not pii and (foreign := foreign_amounts(values)):
                kind, role, reason = "string", "ignored", foreign
            if header in unclear and not pii:
                kind, role, reason = "string", "ignored", unclear[header]
            elif header in counters:
                kind, role, reason = "int", "ignored", ROW_NUMBERS
            elif kind == "date" and order is not None and year_last(values):
                reason = f"{reason}; {DATE_ORDER_SHOWN[order]}"
            outcome = canonical_name(header)
            if target_header is not None and role == "feature" and outcome in _OUTCOMES:
                # 违约日期 beside --target 违约: known only after the fact (leakage); a
                # future date would also date the table
                kind, role, reason = (
                    "string",
                    "ignored",
                    f"an outcome ({outcome}): known after the fact, not a feature",
                )
            if (  # 数据日期 2026-09-30 in every row: one snapshot's date, not nothing
                role == "ignored"
                and distinct == 1
                and not as_of_taken
                and _AS_OF_HEADER.search(header)
                and (
                    pa.types.is_timestamp(table.column(header).type)
                    or pa.types.is_date(table.column(header).type)
                    or date_share(values[:1], header, date_formats) == 1.0
                )
            ):
                kind, role = "date", "feature"
            if (
                kind == "date"
                and role == "feature"
                and not as_of_taken
                and _AS_OF_HEADER.search(header)
            ):
                role, reason, as_of_taken = (
                    "as_of",
                    "the date each row was taken (the as-of date; not a feature)",
                    True,
                )
            lower, upper, bounded = plausible_range(header, kind, role, numbers if unit else values)
            if bounded:
                reason = f"{reason}; {bounded}"
            known, scale = customer_field(header, kind, role, exact)
            name = column_name(kept[header], i, used, known=known)
            if scale is not None and name == known:
                kind = "float"  # (a scale applies to float columns)
                reason = f"{reason}; {scale.why}: {known} = value × {scale.scale:,}"
                lower = None if lower is None else lower * scale.scale
                upper = None if upper is None else upper * scale.scale
            else:
                scale = None
            percent = points = None
            if kind == "float" and role == "feature" and scale is None and unit is None:
                percent = percent_text(values)
                if percent is not None:
                    reason = f"{reason}; percentages (e.g. {cut_text(percent)}), read as fractions"
            if (
                kind in ("int", "float")
                and role == "feature"
                and scale is None
                and unit is None
                and percent is None
            ):
                # (Utilisation % = 42.7 read as 42.7 would be 4,270 % to a rule on shares)
                points = percent_points(header, values)
                if points is not None:
                    kind = "float"  # (a scale applies to float columns)
                    reason = (
                        f"{reason}; percentage points ({cut_text(points)} is "
                        f"{cut_text(points)} %), read as fractions: value × 0.01"
                    )
                    lower = None if lower is None else lower * PERCENT_POINT
                    upper = None if upper is None else upper * PERCENT_POINT
            col = InferredColumn(
                header,
                name,
                kind,
                role,
                reason,
                pii,
                lower=lower,
                upper=upper,
                scale=(scale.scale if scale is not None else PERCENT_POINT if points else None),
                unit=unit,
                percent=percent is not None,
                percent_points=points is not None,
            )
        if col.role in ("feature", "as_of") and col.type == "date":
            latest[col.name] = _latest_date(values, date_formats)
        # The header as the model keeps it: a phone number, id number or e-mail address
        # in it masked (联系人138****5678), and matched so to next month's header
        # (custrisk.io.header.HeaderMatcher)
        columns.append(
            InferredColumn(
                **{
                    **asdict(col),
                    "header": kept[header],
                    "blank_share": round(blank, 4),
                    "distinct": distinct,
                }
            )
        )
    notes = []
    if id_header is None:
        notes.append("no id column found: the ids are the rows' line numbers in the file")
    return TableSchema(
        file=path.name,
        format=raw.encoding,
        rows=table.num_rows,
        columns=tuple(columns),
        id_column=None if id_header is None else kept[id_header],
        target=None if target_header is None else kept[target_header],
        true_values=tuple(true_values),
        false_values=tuple(false_values),
        date_formats=tuple(date_formats),
        notes=tuple(notes),
        latest_dates={k: v for k, v in latest.items() if v},
        sheet=sheet,
        delimiter=delimiter,
        date_order=order,
        decimal=decimal,
    )


def _kept_headers(headers: Sequence[str], path: Path) -> dict[str, str]:
    """Each header as the layout keeps it: a phone number, id number or e-mail address in
    it masked. Two headers holding personal data that are one once masked
    (联系人13812345678 and 联系人13899995678) are refused: the layout could not tell
    them apart."""
    kept: dict[str, str] = {}
    seen: dict[str, int] = {}
    for i, header in enumerate(headers, start=1):
        masked = kept[header] = mask_pii_text(header)
        if masked == header:
            continue
        if masked in seen:
            raise DataError(
                f"columns {seen[masked]} and {i} are both headed {masked!r} once the phone "
                "numbers, id numbers or e-mail addresses in their headers are masked (a "
                "model keeps them so)",
                file=str(path),
                hint="give the columns headers without personal data in the export",
            )
        seen[masked] = i
    return kept


def _latest_date(values: list[str], formats: Sequence[str]) -> str:
    """The 95th percentile of a date column's values (ISO; one stray 2100 does not count)."""
    import pandas as pd

    series = pd.Series(values[:SAMPLE_ROWS], dtype="str")
    parsed = pd.Series(pd.NaT, index=series.index, dtype="datetime64[s]")
    for fmt in formats:
        todo = parsed.isna()
        if not todo.any():
            break
        parsed[todo] = pd.to_datetime(series[todo], format=fmt, errors="coerce")
    parsed = parsed.dropna()
    if parsed.empty:
        return ""
    latest: Any = parsed.quantile(0.95)
    return str(pd.Timestamp(latest).date())


def _find(headers: list[str], wanted: str, option: str, path: Path, sheet: str | None) -> str:
    if wanted in headers:
        return wanted
    keys = {header_key(h): h for h in headers}
    if header_key(wanted) in keys:
        return keys[header_key(wanted)]
    # a sheet's two header rows make 结果/违约: 违约 names it when no other ends so
    lower = [
        h
        for h in headers
        if (low := lower_header(h)) is not None and header_key(low) == header_key(wanted)
    ]
    if len(lower) == 1:
        return lower[0]
    where = path.name if sheet is None else f"{path.name}, sheet {sheet!r}"
    hint = f"the table has: {shown_names(headers, 8)}"
    sheets = visible_worksheets(path) if is_excel(path) else []
    if len(sheets) > 1:
        hint += f"; the workbook's sheets: {shown_names(sheets, 8)}"
    raise UsageError(f"{option} {wanted!r} is not a column of {where}", hint=hint)


def _sniffed_delimiter(path: Path) -> str:
    """A CSV file's delimiter from its first line: the one Excel's ``sep=`` line declares;
    else a comma, unless the line has none and two or more of a semicolon, tab or pipe (a
    European or tab-separated export, which would read as one column)."""
    if export_format(path) != "csv" or not path.is_file() or is_encrypted(path):
        return ","
    with path.open("rb") as handle:  # (the delimiters are ASCII in any encoding read)
        line = (
            handle.read(1 << 16).split(b"\n", 1)[0].removeprefix(codecs.BOM_UTF8).decode("latin-1")
        )
    declared = sep_line_delimiter(line)  # Excel's sep=; line, which the reader honours
    if declared is not None:
        return declared
    return "," if "," in line else other_delimiter(line) or ","


def _table_sheet(path: Path, target: str | None) -> str | None:
    """The sheet of a workbook a flat table is on, when the workbook has several visible
    ones (``None``: the first, or not a workbook): the first whose top rows hold the
    ``target`` header, else (without a target, or none holds it) the first whose top
    rows look like a table's header (a row of two or more filled cells), so that a
    cover or notes sheet (说明) before the data is passed over."""
    if not is_excel(path) or not path.is_file():
        return None
    sheets = visible_worksheets(path)
    if len(sheets) < 2:
        return None
    tops = {name: top_rows(path, name) or [] for name in sheets}
    if target is not None:
        key = header_key(target)
        for name, rows in tops.items():
            if any(header_key(str(cell)) == key for row in rows for cell in row):
                return name
    for name, rows in tops.items():
        if any(sum(1 for cell in row if str(cell).strip()) >= 2 for row in rows):
            return name
    return None


def _report_rows(table: pa.Table, id_header: str, counters: Collection[str] = ()) -> int:
    """The rows without an id that hold a report's totals or note label (合计,
    制表人：王会计) in a text column, or nothing but in the row numbers (``counters``: a
    group's caption, 华东区, in 序号): skipped while cleaning, no fault of the id."""
    ids = table.column(id_header)
    if pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type):
        blank = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(ids), ""), True)
    else:
        blank = pc.is_null(ids)
    blank_rows = blank.to_numpy(zero_copy_only=False)
    if not blank_rows.any():
        return 0
    labelled = np.zeros(table.num_rows, dtype=bool)
    for name in table.column_names:
        column = table.column(name)
        if name != id_header and (
            pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        ):
            labelled |= totals_words(column) | note_words(column)
    if counters:  # (a row blank but in its row number: a blank row once those are ignored)
        filled = np.zeros(table.num_rows, dtype=bool)
        for name in set(table.column_names) - set(counters):
            text = pc.cast(table.column(name), pa.string())
            empty = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(text), ""), True)
            filled |= ~empty.to_numpy(zero_copy_only=False)
        labelled |= ~filled
    return int((blank_rows & labelled).sum())


def _texts(column: pa.ChunkedArray) -> list[str]:
    """The column's non-blank values as normalised text (NFKC, trimmed)."""
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
            column = pc.strftime(column, format="%Y-%m-%d")
        else:
            column = pc.cast(column, pa.string())
    column = pc.utf8_trim_whitespace(pc.utf8_normalize(column, "NFKC"))
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    column = text_literal_values(column)  # ="0042": the text 0042
    values = column.to_pylist()
    return [v for v in values if v]


def _width(text: str) -> int:
    """Terminal columns of ``text``: wide (CJK) characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
