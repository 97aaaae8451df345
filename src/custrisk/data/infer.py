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
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.config.columns import COUNT_UNITS, header_key
from custrisk.data.exports import export_format, read_export
from custrisk.data.headers import ScaledField, canonical_name, lower_header, scaled_field
from custrisk.data.parse import decorated_number, valid_cn_id_number
from custrisk.data.text import (
    DECIMAL_COMMA_NUMBER,
    DOTTED_THOUSANDS,
    NUMBER_BLANK_WORDS,
    decimal_point_value,
    null_variants,
    text_literal_values,
)
from custrisk.errors import DataError, UsageError
from custrisk.io.excel import (
    is_excel,
    split_sheet,
    top_rows,
    visible_worksheets,
)
from custrisk.io.header import other_delimiter, shown_names
from custrisk.protect.envelope import is_encrypted

#: Share of the non-blank values that must parse for a column to be typed a number or date.
NUMBER_SHARE = 0.95
#: Values at most inspected per column (the first rows of the table).
SAMPLE_ROWS = 200_000
#: A text column with at most this many distinct values (or ``CATEGORY_SHARE`` of the
#: rows, whichever is larger, up to ``CATEGORY_MAX``) is a category.
CATEGORY_MIN = 20
CATEGORY_SHARE = 0.05
CATEGORY_MAX = 200
#: Share of the values that must look like phones, id numbers or e-mails for a column to
#: be personal data.
PII_SHARE = 0.5

ROLES = ("id", "target", "feature", "pii", "ignored", "as_of")
#: A date column that says when each row was taken (an application or snapshot date):
#: the table's as-of date, not a feature. Its age would measure how long an outcome had
#: to mature, not the customer, and is 0 for every applicant scored on the day.
_AS_OF_HEADER = re.compile(
    r"申请|进件|观察|快照|数据日期|统计日期|报表日期|提数日期|"
    r"application|apply|applied|snapshot|observation|(?<![a-z])as[ _.-]?of(?![a-z])",
    re.IGNORECASE,
)
ID_NAME = "customer_id"

_ID_HEADERS = {
    header_key(h)
    for h in (
        "id",
        "customer_id",
        "customerid",
        "cust_id",
        "client_id",
        "clientid",
        "user_id",
        "account_id",
        "member_id",
        "borrower_id",
        "applicant_id",
        "loan_id",
        "客户编号",
        "客户id",
        "客户代码",
        "客户号",
        "用户id",
        "用户编号",
        "会员编号",
        "借款人编号",
        "申请编号",
        "编号",
        "序号",
    )
}
_PII_HEADER = re.compile(
    r"(^|_)(name|full_?name|first_?name|last_?name|surname|contact|address|addr|email|"
    r"e_?mail|phone|mobile|tel|telephone|id_?card|id_?number|passport|ssn)($|_)"
    r"|姓名|名字|名称|联系人|联系电话|联系方式|电话|手机|地址|住址|身份证|证件号|邮箱|护照"
    r"|法人|法定代表人|经办人|担保人|开户名|户名|微信|银行卡|卡号"
    # words that name a person only as the whole header (借款人年龄 is a feature)
    r"|^(?:借款人|负责人|申请人|客户经理|业务员|qq)$",
    re.IGNORECASE,
)
#: Headers of attributes a credit decision must not rest on, by what they are: those
#: 征信业管理条例 (第十四条) forbids collecting (religion, genes, fingerprints, blood
#: type, illness and medical history) and the grounds of discrimination (ethnicity,
#: political affiliation, disability, sexual orientation). Never a feature.
PROTECTED_ATTRIBUTES: MappingProxyType[str, re.Pattern[str]] = MappingProxyType(
    {
        "religion": re.compile(r"宗教|信仰|(^|_)(religion|religious|faith)($|_)"),
        "ethnicity": re.compile(r"民族|种族|(^|_)(ethnicity|ethnic|ethnic_group|race)($|_)"),
        "genes or biometrics": re.compile(r"基因|指纹|血型|(^|_)(genetic|gene|blood_type)($|_)"),
        "health": re.compile(
            r"疾病|病史|健康状况|身体状况|残疾|(^|_)(disease|illness|medical|medical_history|"
            r"health_status|disability|disabled)($|_)"
        ),
        "political affiliation": re.compile(r"政治面貌|党派|(^|_)(political|political_party)($|_)"),
        "sexual orientation": re.compile(r"性取向|(^|_)sexual_orientation($|_)"),
    }
)


def protected_attribute(header: str) -> str | None:
    """What a header names that a credit decision must not rest on (:data:`PROTECTED_ATTRIBUTES`),
    or ``None``."""
    key = re.sub(r"[\W_]+", "_", header_key(header))  # Blood Type, blood-type: blood_type
    return next((what for what, p in PROTECTED_ATTRIBUTES.items() if p.search(key)), None)


#: Contact data inside a text value (a note "客户张三电话13812345678"): a category
#: holding one would keep it in the model's bins.
_CONTACT_IN_TEXT = re.compile(
    r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d{9}(?!\d)|[^@\s]+@[^@\s]+\.[A-Za-z]{2,}"
    r"|(?<!\d)\d{17}[\dXx](?!\d)"
)
_NUMBER = re.compile(r"[+-]?(?:[1-9]\d{0,2}(?:,\d{3})+|\d+)(?:\.\d*)?(?:[eE][+-]?\d+)?|[+-]?\.\d+")
_INT = re.compile(r"[+-]?(?:[1-9]\d{0,2}(?:,\d{3})+|\d+)(?:\.0*)?")
_DATE = re.compile(
    r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}|\d{8}"
    r"|\d{4}年\d{1,2}月\d{1,2}日)"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?"  # a time of day, as exports stamp records
    r"|\d{4}[-/]\d{1,2}|\d{4}年\d{1,2}月"  # a month (开户年月 2019-05): its first day
)
#: Date-and-time layouts of exports that stamp records (创建时间, 申请时间): the day counts.
DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
)
#: Month layouts of a table's dates (开户年月 ``2019-05``, ``2019年5月``): read as the
#: month's first day, tried after the day layouts.
MONTH_FORMATS = ("%Y-%m", "%Y/%m", "%Y年%m月")
#: Dates with the year last (17/05/2023 written in Europe, 5/17/2023 by an American
#: Excel): which of day and month comes first is told by a value over 12 in one place
#: and in no value in the other (_day_first).
_YEAR_LAST = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2\d{4}( \d{1,2}:\d{2}(:\d{2})?)?")
_DATE_HEADER = re.compile(r"date|day|_dt$|time|日期|时间|年月日", re.IGNORECASE)
_PHONE = re.compile(r"(?:\+?86)?1[3-9]\d{9}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
_SLUG = re.compile(r"[^a-z0-9]+")
_RESERVED = {"as_of", "and", "or", "not", "true", "false", ID_NAME}


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
    #: of 万元 as the customer field in 元, a monthly income as ``annual_income``
    scale: int | None = None
    #: the unit its numbers are written with (``unit`` in the sources config): 岁, 个月
    unit: str | None = None


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
        """The file, and the sheet when one was chosen: ``book.xlsx, sheet '客户'``."""
        return self.file if self.sheet is None else f"{self.file}, sheet {self.sheet!r}"

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
            "file": self.file,
            "format": self.format,
            "rows_inspected": self.rows,
            "id_column": self.id_column,
            "target": self.target,
            "sheet": self.sheet,
            "columns": [asdict(c) for c in self.columns],
            "notes": list(self.notes),
            "latest_dates": dict(self.latest_dates),
        }

    def summary_lines(self) -> list[str]:
        """One line per column: header, role, type and why (for the terminal)."""
        width = max((_width(c.header) for c in self.columns), default=0)
        lines = []
        for c in self.columns:
            kind = (
                f"feature, {c.type}"
                if c.role == "feature"
                else "as-of date"
                if c.role == "as_of"
                else c.role
            )
            pad = " " * (width - _width(c.header))
            lines.append(f"{c.header}{pad}  {kind:<18} {c.reason}")
        if self.id_column is None:
            lines.append("(no id column: customer ids are the rows' line numbers in the file)")
        return lines


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
    trimmed), by header, for a caller that checks them further (``init``) without
    reading the file again. (Customer data: never into a card or a log.)

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
    target_header = _find(headers, target, "--target", path, sheet) if target else None
    id_header = _find(headers, id_column, "--id-column", path, sheet) if id_column else None
    if target_header is not None and target_header == id_header:
        raise UsageError(f"--target and --id-column name the same column {target_header!r}")
    words_true = {w.lower() for w in true_values}
    words_false = {w.lower() for w in false_values}
    texts = {h: _texts(table.column(h)) for h in headers}
    if samples is not None:
        samples.update(texts)
    decimal = "," if delimiter != "," and _decimal_commas(texts) else "."
    if decimal == ",":  # (1.234,56 and 0,614 judged as the cleaner will read them)
        texts = {h: [decimal_point_value(v) for v in values] for h, values in texts.items()}
    # 1, 2, 3, ... in the file's order (序号, No., a pandas index saved as Unnamed: 0)
    counters = {h for h in headers if _row_numbers(h, texts[h], table.num_rows)}
    if id_header is None:
        # a row number is the id only when no other column is (it restarts every month)
        ordered = sorted(headers, key=lambda h: h in counters or _row_number_header(h))
        id_header = _detect_id(ordered, texts, exclude=target_header)
    elif not _mostly_unique(texts[id_header], table.num_rows):
        # As a detected id: a few repeated or blank ids are rejected while cleaning
        faults = table.num_rows - len(set(texts[id_header]))
        raise DataError(
            f"--id-column {id_column!r}: {faults:,} of the first {table.num_rows:,} rows "
            f"repeat an id or have none (more than {ID_FAULT_SHARE:.0%})",
            file=str(path),
            hint="pick the column that identifies a customer, or leave --id-column out "
            "to use the row numbers",
        )
    order, unclear = _year_last_dates(
        {h: v for h, v in texts.items() if h not in (id_header, target_header)}
    )
    if order is not None:
        date_formats = (*date_formats, *year_last_formats(order))
    used: set[str] = set()
    # A field named as it is (年收入) is that column's before a scaled one's (月收入)
    exact = {canonical_name(h) for h in headers} - {None}
    columns = []
    as_of_taken = False
    for i, header in enumerate(headers, start=1):
        values = texts[header]
        blank = 1.0 - len(values) / max(table.num_rows, 1)
        distinct = len(set(values))
        if header == id_header:
            faults = table.num_rows - distinct
            why = (
                "identifies a customer (unique)"
                if not faults
                else f"identifies a customer; {faults:,} rows repeat an id or have none: "
                "rejected while cleaning"
            )
            col = InferredColumn(header, ID_NAME, "id", "id", why)
        elif header == target_header:
            col = InferredColumn(header, _name(header, i, used), "string", "target", "--target")
        else:
            unit, numbers = _count_unit(values)
            kind, role, reason, pii = _classify(
                header,
                numbers if unit else values,
                pa.string() if unit else table.column(header).type,
                words_true,
                words_false,
                date_formats,
            )
            if unit and kind in ("int", "float") and role == "feature":
                reason = (
                    f"{reason} written with the unit {unit} (e.g. {_cut(_with_unit(values, unit))})"
                )
            elif unit:  # not numbers once the unit is off after all
                unit = None
                kind, role, reason, pii = _classify(
                    header, values, table.column(header).type, words_true, words_false, date_formats
                )
            elif numbers and not pii:  # several units
                kind, role, reason = "string", "ignored", _several_units(values)
            if header in unclear and not pii:
                kind, role, reason = "string", "ignored", unclear[header]
            elif header in counters:
                kind, role, reason = "int", "ignored", _ROW_NUMBERS
            elif kind == "date" and order is not None and _year_last(values):
                reason = f"{reason}; {DATE_ORDER_SHOWN[order]}"
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
            lower, upper, bounded = _plausible_range(
                header, kind, role, numbers if unit else values
            )
            if bounded:
                reason = f"{reason}; {bounded}"
            known, scale = _customer_field(header, kind, role, exact)
            name = _name(header, i, used, known=known)
            if scale is not None and name == known:
                kind = "float"  # (a scale applies to float columns)
                reason = f"{reason}; {scale.why}: {known} = value × {scale.scale:,}"
                lower = None if lower is None else lower * scale.scale
                upper = None if upper is None else upper * scale.scale
            else:
                scale = None
            col = InferredColumn(
                header,
                name,
                kind,
                role,
                reason,
                pii,
                lower=lower,
                upper=upper,
                scale=scale.scale if scale is not None else None,
                unit=unit,
            )
        columns.append(
            InferredColumn(**{**asdict(col), "blank_share": round(blank, 4), "distinct": distinct})
        )
    latest = {
        c.name: _latest_date(texts[c.header], date_formats)
        for c in columns
        if c.role in ("feature", "as_of") and c.type == "date"
    }
    notes = []
    if id_header is None:
        notes.append("no id column found: the ids are the rows' line numbers in the file")
    return TableSchema(
        file=path.name,
        format=raw.encoding,
        rows=table.num_rows,
        columns=tuple(columns),
        id_column=id_header,
        target=target_header,
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
    """A CSV file's delimiter from its first line: a comma, unless the line has none
    and two or more of a semicolon, tab or pipe (a European or tab-separated export,
    which would read as one column)."""
    if export_format(path) != "csv" or not path.is_file() or is_encrypted(path):
        return ","
    with path.open("rb") as handle:  # (the delimiters are ASCII in any encoding read)
        line = handle.read(1 << 16).split(b"\n", 1)[0].decode("latin-1")
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


_ROW_NUMBERS = (
    "row numbers (1, 2, 3, ... in the file's order): they say where a row is, not who the "
    "customer is, and restart in every file"
)


#: Headers of a row number column (序号, No., #, a pandas index saved as ``Unnamed: 0``).
_ROW_NUMBER_HEADER = re.compile(
    r"序号|行号|no\.?|#|s/?n|index|idx|row_?(?:num|number|no)?|row number|unnamed: ?\d+"
)


def _row_number_header(header: str) -> bool:
    return _ROW_NUMBER_HEADER.fullmatch(header_key(header)) is not None


def _row_numbers(header: str, values: list[str], rows: int) -> bool:
    """Whether a column holds its rows' numbers: 1 to n (or 0 to n - 1) in order, blank
    in a few rows at most (a report's totals and notes under the table); under a row
    number's header (序号, No.), any whole numbers rising from 0 or 1 (rows deleted after
    numbering). As a feature it would learn the order the table was sorted in (by
    outcome, by date), which the next month's table does not keep."""
    if len(values) < 3 or len(values) < (1 - ID_FAULT_SHARE) * rows:
        return False
    numbers = [v.removesuffix(".0") for v in values]
    if numbers[0] not in ("0", "1") or not all(v.isdigit() for v in numbers):
        return False
    if _row_number_header(header):
        return all(int(a) < int(b) for a, b in zip(numbers, numbers[1:], strict=False))
    return all(v == str(int(numbers[0]) + i) for i, v in enumerate(numbers))


def _detect_id(headers: list[str], texts: dict[str, list[str]], exclude: str | None) -> str | None:
    """The first column whose header names an id and whose values are unique."""
    rows = max((len(v) for v in texts.values()), default=0)
    for header in headers:
        if header == exclude:
            continue
        key = header_key(header)
        named = (
            key in _ID_HEADERS
            or key.endswith(("_id", "_no", "编号", "id"))
            or canonical_name(header) == ID_NAME
        )
        if named and rows and _mostly_unique(texts[header], rows) and not _leads_pii(texts[header]):
            return header
    return None


#: A column whose header names an id is the id when at most this share of its rows
#: repeat an earlier id or are blank: those rows are rejected while cleaning (duplicate
#: key, blank id), each with its reason, rather than every customer losing its id.
ID_FAULT_SHARE = 0.1


def _mostly_unique(values: list[str], rows: int) -> bool:
    return rows - len(set(values)) <= ID_FAULT_SHARE * rows


def _leads_pii(values: list[str]) -> bool:
    sample = values[:2000]
    return _share(sample, _PHONE) >= PII_SHARE or _share(sample, _EMAIL) >= PII_SHARE


def _share(values: Sequence[str], pattern: re.Pattern[str]) -> float:
    if not values:
        return 0.0
    return sum(1 for v in values if pattern.fullmatch(v)) / len(values)


def _classify(
    header: str,
    values: list[str],
    arrow_type: pa.DataType,
    words_true: set[str],
    words_false: set[str],
    date_formats: Sequence[str],
) -> tuple[str, str, str, bool]:
    """(type, role, reason, pii) of a column that is neither the id nor the target."""
    n = len(values)
    if n == 0:
        return "string", "ignored", "blank in every row", False
    sample = values[:5000]
    protected = protected_attribute(header)
    if protected is not None:
        return (
            "string",
            "ignored",
            f"a protected attribute ({protected}): a credit decision must not rest on it",
            False,
        )
    if _PII_HEADER.search(header_key(header)) or _PII_HEADER.search(header):
        return "string", "pii", "the header names personal data", True
    if _share(sample, _PHONE) >= PII_SHARE:
        return "string", "pii", "mobile phone numbers", True
    if _share(sample, _EMAIL) >= PII_SHARE:
        return "string", "pii", "e-mail addresses", True
    id_like = [v for v in sample if len(v) == 18]
    if len(id_like) >= PII_SHARE * len(sample):
        valid = valid_cn_id_number(_series(id_like))
        if valid.mean() >= PII_SHARE:
            return "string", "pii", "resident id numbers", True
    distinct = set(values)
    if len(distinct) == 1:
        return "string", "ignored", f"one value in every row ({_cut(next(iter(distinct)))})", False
    lowered = {v.lower() for v in distinct}
    if lowered <= {"0", "1"}:
        return "int", "feature", "0/1 values", False
    if pa.types.is_boolean(arrow_type) or (
        lowered <= words_true | words_false and lowered & words_true and lowered & words_false
    ):
        return "bool", "feature", "yes/no values", False
    if pa.types.is_integer(arrow_type):
        return "int", "feature", "whole numbers", False
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "float", "feature", "numbers", False
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return "date", "feature", "dates: the feature is the age in days", False
    numbered = [v for v in sample if v not in NUMBER_BLANK_WORDS]  # 无, —, /: no number
    numbers = (
        sum(1 for v in numbered if _NUMBER.fullmatch(v) or decorated_number(v)) / len(numbered)
        if numbered
        else 0.0
    )
    dated = _date_share(numbered, header, date_formats)  # (nor a date: an unpaid bill's —)
    if dated >= NUMBER_SHARE and dated >= numbers:
        return "date", "feature", "dates: the feature is the age in days", False
    if numbers >= NUMBER_SHARE:
        coded = sum(1 for v in sample if len(v) > 1 and v[0] == "0" and v[1].isdigit())
        if coded >= 0.01 * len(sample):
            return _text_kind(values, distinct, "codes with leading zeros")
        if sum(1 for v in numbered if _whole(v)) >= NUMBER_SHARE * len(numbered):
            return "int", "feature", "whole numbers", False
        return "float", "feature", "numbers", False
    return _text_kind(values, distinct, "text")


_AGE_HEADER = re.compile(r"(^|_)age($|_)|年龄|年纪|岁数", re.IGNORECASE)
_NOT_NEGATIVE_HEADER = re.compile(
    r"amount|income|salary|balance|limit|count|days|months|years"
    r"|金额|收入|工资|薪|余额|额度|天数|笔数|次数|数量|期数|月数|年限|人数",
    re.IGNORECASE,
)
#: The ages a customer can have: a value outside is an entry error (200, -1, a birth year).
AGE_RANGE = (16, 100)


def _plausible_range(
    header: str, kind: str, role: str, values: list[str]
) -> tuple[float | None, float | None, str]:
    """(lower, upper, why) of a number feature whose header says what it measures, when
    the training values respect it: an age 16 to 100, an amount or count not negative.
    Nothing for other columns (a range is never guessed from the values alone)."""
    if role != "feature" or kind not in ("int", "float"):
        return None, None, ""
    numbers = [n for n in map(_number_of, values) if n is not None]
    if not numbers:
        return None, None, ""
    key = header_key(header)
    low, high = min(numbers), max(numbers)
    if _AGE_HEADER.search(key) or _AGE_HEADER.search(header):
        if AGE_RANGE[0] <= low and high <= AGE_RANGE[1]:
            return AGE_RANGE[0], AGE_RANGE[1], f"an age: {AGE_RANGE[0]} to {AGE_RANGE[1]}"
        return None, None, ""
    if (_NOT_NEGATIVE_HEADER.search(key) or _NOT_NEGATIVE_HEADER.search(header)) and low >= 0:
        return 0, None, "never negative"
    return None, None, ""


def _whole(value: str) -> bool:
    """Whether a value is a whole number as written (``1,200``, ``¥1,200.00``; never a
    percentage)."""
    if _INT.fullmatch(value):
        return True
    found = decorated_number(value)
    return found is not None and found[1] != "%" and found[0].is_integer()


def _number_of(value: str) -> float | None:
    """A value as the number cleaning reads it (thousands separators, a currency sign
    or unit, a percentage's hundredth), or ``None``: a comma only between thousands
    (``0,614`` is none, as cleaning rejects it)."""
    if "," not in value or _NUMBER.fullmatch(value):
        try:
            return float(value.replace(",", ""))
        except ValueError:
            pass
    found = decorated_number(value)
    return None if found is None else found[0]


def _text_kind(values: list[str], distinct: set[str], what: str) -> tuple[str, str, str, bool]:
    limit = min(CATEGORY_MAX, max(CATEGORY_MIN, int(CATEGORY_SHARE * len(values))))
    if any(_CONTACT_IN_TEXT.search(v) for v in distinct):
        return "string", "pii", "text holding phone numbers, e-mails or id numbers", True
    if len(distinct) <= limit:
        return "category", "feature", f"{what}, {len(distinct)} distinct values", False
    return (
        "string",
        "ignored",
        f"{what} with {len(distinct):,} distinct values (free text, not a feature)",
        False,
    )


#: A number and the unit written after it (``35岁``, ``36 个月``, ``3次``).
_WITH_UNIT = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(\D{1,6})")


def _count_unit(values: list[str]) -> tuple[str | None, list[str]]:
    """The one unit of :data:`COUNT_UNITS` a column's numbers are written with, and its
    values without it: most values carry it, and every other one is a plain number.
    ``(None, values)`` when the values are numbers in several such units (年 and 个月),
    ``(None, [])`` otherwise."""
    sample = values[:5000]
    if not sample:
        return None, []
    units: dict[str, int] = {}
    plain = 0
    for value in sample:
        found = _WITH_UNIT.fullmatch(value)
        if found is not None and found[2] in COUNT_UNITS:
            units[found[2]] = units.get(found[2], 0) + 1
        elif _NUMBER.fullmatch(value):
            plain += 1
    carried = sum(units.values())
    if not units or carried + plain < NUMBER_SHARE * len(sample) or carried < plain:
        return None, []
    if len(units) > 1:
        return None, values
    unit = next(iter(units))
    return unit, [_without(v, unit) for v in values]


def _without(value: str, unit: str) -> str:
    return value[: -len(unit)].rstrip() if value.endswith(unit) else value


def _with_unit(values: list[str], unit: str) -> str:
    return next(v for v in values if v.endswith(unit))


def _several_units(values: list[str]) -> str:
    found = sorted(
        {m[2] for v in values[:5000] if (m := _WITH_UNIT.fullmatch(v)) and m[2] in COUNT_UNITS}
    )
    return (
        f"numbers written in several units ({', '.join(found)}): export them in one unit "
        "to use them"
    )


def _decimal_commas(texts: dict[str, list[str]]) -> bool:
    """Whether a table writes its numbers with decimal commas: a column's values are
    such numbers in 95% of its rows (plain whole numbers allowed among them), some with
    other than three digits after the comma (``1,234`` alone could be a thousand), and
    no column holds numbers with a decimal point."""
    found = False
    for values in texts.values():
        sample = values[:5000]
        if not sample:
            continue
        commas = [v for v in sample if DECIMAL_COMMA_NUMBER.fullmatch(v)]
        if any(_POINT_DECIMAL.fullmatch(v) for v in sample[:500]):
            return False
        plain = sum(
            1 for v in sample if v.isdigit() or DOTTED_THOUSANDS.fullmatch(v.removesuffix("%"))
        )
        if len(commas) + plain >= NUMBER_SHARE * len(sample) and any(
            len(v.rstrip("%").rsplit(",", 1)[1]) != 3 for v in commas
        ):
            found = True
    return found


#: A number with a decimal point (``0.614``, ``1234.5``): not a decimal-comma table.
_POINT_DECIMAL = re.compile(r"[+-]?\d+\.\d{1,2}|[+-]?0\.\d+|[+-]?\d+\.\d{4,}")


#: How each order of day and month in dates with the year last is said.
DATE_ORDER_SHOWN = {"day": "day first (17/05/2023)", "month": "month first (05/17/2023)"}


def _year_last(values: list[str]) -> list[re.Match[str]]:
    """The dates with the year last among ``values``, when they are most of them."""
    sample = values[:5000]
    shaped = sum(1 for v in sample if _YEAR_LAST.fullmatch(v))
    if not shaped or shaped < NUMBER_SHARE * len(sample):
        return []
    return [m for m in map(_YEAR_LAST.fullmatch, values) if m is not None]


def _day_first(values: list[str]) -> str | None:
    """``"day"`` (17/05/2023), ``"month"`` (05/17/2023) or ``"unclear"`` (no value over
    12 in either place) for a column of dates with the year last; ``None`` for any other
    column (or one with values over 12 in both places: not dates)."""
    found = _year_last(values)
    if not found:
        return None
    first = any(int(m[1]) > 12 for m in found)
    second = any(int(m[3]) > 12 for m in found)
    if first and second:
        return None
    return "day" if first else "month" if second else "unclear"


def _year_last_dates(texts: dict[str, list[str]]) -> tuple[str | None, dict[str, str]]:
    """The table's order of day and month in dates with the year last (one system wrote
    them all: a column that cannot tell takes the order its other columns show), and the
    columns of such dates left out, with why: no column tells the order, or two tell
    different ones. A guess would put every date from the 13th on in the wrong month."""
    orders = {h: o for h, v in texts.items() if (o := _day_first(v)) is not None}
    told = {o: h for h, o in orders.items() if o != "unclear"}
    if not orders:
        return None, {}
    if len(told) == 1:
        return next(iter(told)), {}
    if told:
        why = (
            f"dates with the day first in column {_cut(told['day'])!r} and the month first "
            f"in column {_cut(told['month'])!r}: write them as YYYY-MM-DD to use them"
        )
    else:
        example = next(v for h in orders for v in texts[h] if _YEAR_LAST.fullmatch(v))
        why = (
            f"dates whose day and month cannot be told apart ({_cut(example)}: no value "
            "is over 12 in either place): write them as YYYY-MM-DD to use them"
        )
    return None, dict.fromkeys(orders, why)


def year_last_formats(order: str) -> tuple[str, ...]:
    """The date layouts with the year last, in ``order``, each separator, with a time or
    without."""
    day = "%d{0}%m{0}%Y" if order == "day" else "%m{0}%d{0}%Y"
    days = [day.format(sep) for sep in "/-."]
    return (*days, *(f"{d} %H:%M:%S" for d in days), *(f"{d} %H:%M" for d in days))


def _date_share(sample: list[str], header: str, formats: Sequence[str]) -> float:
    import pandas as pd

    shaped = [v for v in sample if _DATE.fullmatch(v)]
    if not shaped or len(shaped) < NUMBER_SHARE * len(sample):
        return 0.0
    eight_digits = sum(1 for v in shaped if len(v) == 8 and v.isdigit())
    if eight_digits and not _DATE_HEADER.search(header):
        return 0.0  # 20250131 is a number unless the header says it is a date
    parsed = np.zeros(len(sample), dtype=bool)
    series = pd.Series(sample, dtype="str")
    for fmt in formats:
        ok = pd.to_datetime(series, format=fmt, errors="coerce").notna().to_numpy()
        parsed |= ok
    return float(parsed.mean())


def _series(values: list[str]) -> Any:
    import pandas as pd

    return pd.Series(values, dtype="str")


def _width(text: str) -> int:
    """Terminal columns of ``text``: wide (CJK) characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cut(value: str, size: int = 20) -> str:
    return value if len(value) <= size else value[: size - 1] + "…"


#: The fields of a customer a flat table's column is named after when its header means
#: one (``授信额度`` -> ``credit_limit``, ``客户名称`` -> ``name``) and its values are of
#: the kind given here: the packaged credit table's columns, so that the grades' limit
#: rules, the details (names masked) and the reports find them as in an export.
CUSTOMER_FIELDS: MappingProxyType[str, str] = MappingProxyType(
    {
        "name": "pii",
        "phone": "pii",
        "id_number": "pii",
        "region": "category",
        "industry": "category",
        "customer_since": "date",
        "bureau_score": "number",
        "bureau_score_3m_ago": "number",
        "annual_income": "number",
        "credit_limit": "number",
        "outstanding_balance": "number",
        "overdue_amount": "number",
        "max_days_past_due_12m": "number",
        "num_credit_lines": "number",
    }
)


def _customer_field(
    header: str, kind: str, role: str, exact: Collection[str | None] = ()
) -> tuple[str | None, ScaledField | None]:
    """The customer field (:data:`CUSTOMER_FIELDS`) a column is, by header and values,
    and the factor its values need to be it (an amount in 万元, a monthly income) when
    no header in ``exact`` names the field as it is."""
    field = canonical_name(header)
    scale = None
    if field is None:
        scale = scaled_field(header)
        if scale is None or scale.name in exact:
            return None, None
        field = scale.name
    found = _field_kind(field, kind, role)
    return (field, scale) if found else (None, None)


def _field_kind(field: str, kind: str, role: str) -> bool:
    """Whether a column of ``kind`` and ``role`` holds the customer field ``field``."""
    wanted = CUSTOMER_FIELDS.get(field)
    if wanted is None:
        return False
    if role == "pii":
        found: str | None = "pii"
    elif role != "feature":
        return False
    elif kind in ("int", "float"):
        found = "number"
    else:
        found = {"category": "category", "string": "category", "date": "date"}.get(kind)
    return found == wanted


def _name(header: str, position: int, used: set[str], known: str | None = None) -> str:
    """A canonical name for a header: the customer field it is (``known``, when no other
    column took it), else its ASCII words in snake case (``Annual Income`` →
    ``annual_income``), else ``col<position>`` (Chinese headers keep their text as the
    label)."""
    if known is not None and known not in used:
        used.add(known)
        return known
    text = unicodedata.normalize("NFKC", header).lower()
    slug = _SLUG.sub("_", text).strip("_")
    ascii_share = sum(ch.isascii() and ch.isalpha() for ch in text) / max(len(text), 1)
    if not slug or not slug[0].isalpha() or ascii_share < 0.5:
        slug = f"col{position}"
    slug = slug[:48].rstrip("_")
    name, n = slug, 2
    while name in used or name in _RESERVED:
        name, n = f"{slug}_{n}", n + 1
    used.add(name)
    return name
