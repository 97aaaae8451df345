"""The sources config: which files hold each export and the rules for their columns."""

from __future__ import annotations

import codecs
import datetime as dt
import math
import os
import re
import unicodedata
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from custrisk.config._yaml import Node, config_root, load_yaml_text, open_config

COLUMN_TYPES = ("id", "string", "category", "int", "float", "date", "bool")
TEXT_TYPES = ("id", "string", "category")
ON_INVALID = ("reject", "blank")
DUPLICATE_POLICIES = ("keep_first", "keep_last", "reject_all")
CHECK_OPS = ("<", "<=", ">", ">=", "==", "!=")
CHECK_ON_FAIL = ("reject", "blank_left")
VALUE_CHECKS = ("cn_id_number", "cn_phone")
KNOWN_SOURCES = ("credit", "transactions", "behaviour")
CUSTOMER_SOURCE = "credit"
#: The share of a linked source's rows (of those its other rules keep) that may name a
#: customer the credit table lacks before the input is unusable (``max_orphan_share``).
MAX_ORPHAN_SHARE = 0.5
#: The share of a source's rows that may be rejected while cleaning before the scoring
#: commands call the input unusable (``max_rejected_share``): the rest would pass for the
#: whole month (a date format of the export's own rejects every transaction).
MAX_REJECTED_SHARE = 0.5
#: The widest ``zero_pad`` of an id column: wider than any id number (18 digits) with
#: room to spare, and far from a width whose padding would fill the memory.
MAX_ZERO_PAD = 64
#: The largest ``scale`` of a column (亿, 10^8, and a little room).
MAX_SCALE = 1e12
DATES_AHEAD_OF = ("data", "today")
#: Workbook files (read one sheet each: ``sheet:`` or ``FILE.xlsx#SHEET``).
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
#: A database URL is taken from the environment: ``url: env:NAME``.
ENV_PREFIX = "env:"

_COLUMN_KEYS = (
    "type",
    "required",
    "pii",
    "min",
    "max",
    "allowed",
    "pattern",
    "check",
    "on_invalid",
    "recode",
    "zero_pad",
    "scale",
    "unit",
    "description",
)
_SOURCE_KEYS = (
    "file",
    "files",
    "sheet",
    "query",
    "url",
    "required",
    "key",
    "customer_key",
    "row_number",
    "delimiter",
    "decimal",
    "encoding",
    "min_rows",
    "on_duplicate_key",
    "max_orphan_share",
    "max_rejected_share",
    "rename",
    "columns",
    "checks",
    "dates",
    "description",
)
_PART_KEYS = ("file", "sheet", "rename", "values", "encoding", "description")
_TOP_KEYS = ("version", "defaults", "sources", "labels")
_DEFAULT_KEYS = ("date_formats", "true_values", "false_values", "dates")
_DATES_KEYS = ("not_before", "days_ahead", "ahead_of")


@dataclass(frozen=True)
class ColumnSpec:
    """Rules for one canonical column."""

    name: str
    type: str
    required: bool = False
    pii: bool = False
    min: Any = None
    max: Any = None
    allowed: tuple[str, ...] | None = None
    pattern: str | None = None
    check: str | None = None
    on_invalid: str = "reject"
    #: A category's values in the export -> custrisk's (订单 -> order), applied to the
    #: trimmed text before the allowed values are checked
    recode: tuple[tuple[str, str], ...] = ()
    #: An id column's width: all-digit values shorter than it get leading zeros
    #: (``42`` -> ``0000000042`` with 10), for an export whose id cells were numbers.
    zero_pad: int | None = None
    #: A float column's unit: each value read is multiplied by it, before ``min`` and
    #: ``max`` are checked (10000 for amounts in 万元, 12 for a monthly income read as
    #: ``annual_income``).
    scale: float | None = None
    #: A number column's unit as the export writes it after each value (``35岁``,
    #: ``36个月``, ``3次``): removed before the value is read; a value with another unit
    #: is not a number (one of :data:`COUNT_UNITS`).
    unit: str | None = None
    #: A number column's decimal mark: ``","`` when its source says ``decimal: ","`` (a
    #: European export's ``1.234,56`` and ``0,614``), else ``"."``.
    decimal: str = "."


#: Entries of a column's recode at most (a mapping of a category's values).
MAX_RECODES = 1000


@dataclass(frozen=True)
class RowCheck:
    """A rule across two columns of a row, e.g. ``paid_date >= txn_date``."""

    name: str
    left: str
    op: str
    right: str
    on_fail: str = "reject"


@dataclass(frozen=True)
class DateLimits:
    """The plausible range of a source's dates (``dates`` in the sources config).

    Dates before ``not_before`` (for columns without their own ``min``) and dates more
    than ``days_ahead`` days after the reference are rejected: the reference is the
    column's latest credible date (``ahead_of: data``, see
    :func:`custrisk.data.dates.credible_limit`) or the day of the run
    (``ahead_of: today``). ``days_ahead`` ``None`` turns the upper check off.
    """

    not_before: dt.date = dt.date(1900, 1, 1)
    days_ahead: int | None = 31
    ahead_of: str = "data"
    #: (column, day number) pairs: the latest credible date of a column found over the
    #: whole source beforehand (by an engine that cleans a source in parts), used in
    #: place of the part's own. Not a config key.
    latest: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class SourcePart:
    """One of several exports stacked into a source (``files:``), e.g. the contracts and
    the collections workbooks of a CRM both feed ``transactions``: its file or glob, its
    own header mapping, and ``values`` written into declared columns the file does not
    have (``{txn_type: contract}``).

    ``partition`` holds the values a file's hive folders give declared columns
    (``month=2026-10/``), written only where the file has no such column; ``None`` is a
    missing value. It is set for each file found (:func:`custrisk.data.files.source_files`),
    never by a config."""

    file: str
    sheet: str | None
    rename: Mapping[str, str]
    values: Mapping[str, str] = field(default_factory=dict)
    partition: Mapping[str, str | None] = field(default_factory=dict)
    #: The text encoding of this entry's files (over the source's ``encoding``).
    encoding: str | None = None


@dataclass(frozen=True)
class SourceSpec:
    """One export: its file(s), key, header mapping and column rules."""

    name: str
    file: str
    required: bool
    key: str | None
    customer_key: str | None
    delimiter: str
    min_rows: int
    on_duplicate_key: str
    rename: Mapping[str, str]
    columns: tuple[ColumnSpec, ...]
    checks: tuple[RowCheck, ...] = ()
    dates: DateLimits = DateLimits()
    #: A declared id column the file does not have: each row's line number in the file
    #: (its row number in a sheet or Parquet file) is written into it (``row_number``).
    row_number: str | None = None
    sheet: str | None = None  # the sheet of a workbook file
    #: The text encoding of its CSV files (``encoding: big5``; over ``--encoding``):
    #: ``None`` detects it (or takes the command's ``--encoding``).
    encoding: str | None = None
    query: str | None = None  # a SQL query instead of a file
    url: str | None = None  # the database of the query: env:NAME or a URL without password
    #: Several exports stacked into this source (``files:``), each with its own headers.
    parts: tuple[SourcePart, ...] = ()
    #: Past this share of orphans among its rows a linked source is unusable (1: never).
    max_orphan_share: float = MAX_ORPHAN_SHARE
    #: Past this share of rejected rows the scoring commands refuse the source (1: never)
    max_rejected_share: float = MAX_REJECTED_SHARE
    #: Columns a file to score need not have (a flat table's outcome): not said missing.
    #: Set by the code reading the file, never from YAML.
    outcome_columns: frozenset[str] = frozenset()

    def part_specs(self) -> list[tuple[SourceSpec, SourcePart | None]]:
        """One spec per file entry to read: the spec itself, or for ``files:`` a copy
        per part with the part's file, sheet and header mapping (over the source's)."""
        if not self.parts:
            return [(self, None)]
        return [
            (
                replace(
                    self,
                    file=part.file,
                    sheet=part.sheet,
                    rename=MappingProxyType({**self.rename, **part.rename}),
                    encoding=part.encoding or self.encoding,
                    parts=(),
                ),
                part,
            )
            for part in self.parts
        ]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSpec:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def file_columns(self) -> dict[str, str]:
        """``{header in the file: canonical column}``: the ``rename`` keys, and every
        canonical name (a file may use it as is)."""
        names = dict(self.rename)
        for col in self.columns:
            if col.name != self.row_number:
                names.setdefault(col.name, col.name)
        return names


#: Traditional characters of the words headers are matched and read by (the header
#: dictionary's, personal data's, totals' and notes') as their simplified forms: a Hong
#: Kong or Taiwan export's 客戶編號, 聯絡電話 and 合計 are 客户编号, 联络电话 and 合计.
TRADITIONAL_TO_SIMPLIFIED = str.maketrans(
    "業個會餘償劃創別務動區單歷發員響壞處實屬錄徵戶據數時機來標檔溝滿電碼稱筆簽類約級"
    "結編網聯營觸計訂訊記證評識訴話賬帳貸還進違郵銷長間際額冊決開應歸號絡護經辦擔銀負"
    "責請齡歲紀資種紋狀況殘黨觀總匯製審備註說導統張輛臺項週與為產價購買賣費稅險職問題"
    "檢驗設復齊條戲貨詢諮訪饋體線門談繫",
    "业个会余偿划创别务动区单历发员响坏处实属录征户据数时机来标档沟满电码称笔签类约级"
    "结编网联营触计订讯记证评识诉话账账贷还进违邮销长间际额册决开应归号络护经办担银负"
    "责请龄岁纪资种纹状况残党观总汇制审备注说导统张辆台项周与为产价购买卖费税险职问题"
    "检验设复齐条戏货询咨访馈体线门谈系",
)
_SIMPLIFIED_TO_TRADITIONAL = {s: t for t, s in TRADITIONAL_TO_SIMPLIFIED.items()}


def traditional_form(text: str) -> str:
    """``text`` with the characters of :data:`TRADITIONAL_TO_SIMPLIFIED` in their
    traditional forms (合计 as 合計): to know a report's words in either form."""
    return text.translate(_SIMPLIFIED_TO_TRADITIONAL)


_UNITS = (
    *("岁", "周岁", "年", "个月", "月", "周", "天", "日", "小时", "分钟"),
    *("次", "笔", "期", "个", "人", "家", "张", "户", "套", "辆", "台", "项", "份"),
    *("分", "倍", "级", "星"),  # a score (720分), a multiple, a level, a rating
    *("years", "months", "days", "times"),
)
#: The units a number column's values may be written with (``unit``): ages, durations and
#: counts, in simplified or traditional characters (岁, 歲). Not 元, 万, 亿 or %, which
#: every number column reads (万 and 亿 scale it: use ``scale`` for a column in 万元).
COUNT_UNITS = (*_UNITS, *sorted({traditional_form(u) for u in _UNITS} - set(_UNITS)))


def header_key(name: str) -> str:
    """What a file header is matched on: NFKC (full-width to half-width), case-folded and
    traditional characters as simplified, so that ``EDUCATION``, ``Education`` and
    ``ｅｄｕｃａｔｉｏｎ`` all match ``education``, and ``客戶編號`` ``客户编号``."""
    text = unicodedata.normalize("NFKC", name).casefold().strip()
    return text.translate(TRADITIONAL_TO_SIMPLIFIED)


@dataclass(frozen=True)
class SourcesConfig:
    """All sources of a workspace, plus the labels file rules."""

    path: str
    sources: Mapping[str, SourceSpec]
    labels: SourceSpec
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    true_values: tuple[str, ...] = ("true", "1")
    false_values: tuple[str, ...] = ("false", "0")
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def pii_columns(self) -> dict[str, tuple[str, ...]]:
        return {
            name: tuple(c.name for c in spec.columns if c.pii)
            for name, spec in self.sources.items()
        }


def load_sources_config(path: str | os.PathLike[str] | None = None) -> SourcesConfig:
    """Load and validate a sources YAML file (``None``: the packaged default).

    Raises
    ------
    ConfigError
        Naming the file, the key path, the bad value and the allowed values.
    """
    return _parse_sources(
        open_config(path, "sources.yaml", allowed=_TOP_KEYS, required=("sources",))
    )


def parse_sources_config(text: str, file: str) -> SourcesConfig:
    """A sources config from its YAML text (e.g. a model folder's verified copy);
    ``file`` names it in messages and is the config's ``path``."""
    data = load_yaml_text(text, file)
    return _parse_sources(config_root(data, file, allowed=_TOP_KEYS, required=("sources",)))


def _parse_sources(root: Node) -> SourcesConfig:
    path = Path(root.file)
    defaults = root.child("defaults")
    defaults.check_keys(_DEFAULT_KEYS)
    date_formats = defaults.text_list(
        "date_formats", ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日"]
    )
    assert date_formats is not None
    for i, fmt in enumerate(date_formats):
        if "%" not in fmt:
            raise defaults.error(
                f"date_formats[{i}]",
                f"{fmt!r} is not a strftime format",
                hint="use codes such as %Y-%m-%d",
            )
    true_values = defaults.text_list("true_values", ["true", "1", "yes", "y", "t", "是"])
    false_values = defaults.text_list("false_values", ["false", "0", "no", "n", "f", "否"])
    assert true_values is not None and false_values is not None
    both = {v.lower() for v in true_values} & {v.lower() for v in false_values}
    if both:
        raise defaults.error("true_values", f"{sorted(both)[0]!r} is both true and false")
    date_limits = _parse_dates(defaults.child("dates"), DateLimits())

    source_nodes = root.children("sources")
    if not source_nodes:
        raise root.error(
            "sources", "no source is declared", hint=f"declare at least '{CUSTOMER_SOURCE}'"
        )
    sources = {}
    for name, node in source_nodes.items():
        if name not in KNOWN_SOURCES:
            raise root.error(
                f"sources.{name}",
                "unknown source name",
                hint=f"allowed: {', '.join(KNOWN_SOURCES)}",
            )
        sources[name] = _parse_source(name, node, labels=False, dates=date_limits)
    if CUSTOMER_SOURCE not in sources:
        raise root.error(
            "sources",
            f"the '{CUSTOMER_SOURCE}' source is missing",
            hint="every workspace needs the customer table with customer_id",
        )
    credit = sources[CUSTOMER_SOURCE]
    if credit.key != "customer_id":
        raise root.error(
            f"sources.{CUSTOMER_SOURCE}.key", f"must be 'customer_id', got {credit.key!r}"
        )
    labels_node = (
        root.child("labels")
        if "labels" in root.data
        else Node(
            {
                "key": "customer_id",
                "columns": {
                    "customer_id": {"type": "id", "required": True},
                    "bad": {"type": "int", "required": True, "min": 0, "max": 1},
                },
            },
            str(path),
            "labels",
        )
    )
    labels = _parse_source("labels", labels_node, labels=True, dates=date_limits)
    return SourcesConfig(
        path=str(path),
        sources=MappingProxyType(sources),
        labels=labels,
        date_formats=date_formats,
        true_values=tuple(v.lower() for v in true_values),
        false_values=tuple(v.lower() for v in false_values),
    )


def _parse_dates(node: Node, inherited: DateLimits) -> DateLimits:
    """A ``dates`` block over the limits it refines (the defaults' block, or built-ins)."""
    node.check_keys(_DATES_KEYS)
    not_before = inherited.not_before
    if "not_before" in node.data:
        not_before = _date_value(node, "not_before", node.get("not_before"))
    days_ahead = inherited.days_ahead
    if "days_ahead" in node.data:
        days_ahead = node.number("days_ahead", minimum=0, integer=True)
    return DateLimits(
        not_before=not_before,
        days_ahead=days_ahead,
        ahead_of=node.text("ahead_of", inherited.ahead_of, allowed=DATES_AHEAD_OF),
    )


def _date_value(node: Node, key: str, value: Any) -> dt.date:
    """A date written in the config as YYYY-MM-DD."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise node.error(
                key, f"{value!r} is not a date", hint="write dates as YYYY-MM-DD"
            ) from None
    if not isinstance(value, dt.date):
        raise node.error(key, f"expected a date YYYY-MM-DD, got {value!r}")
    return value


def _parse_source(
    name: str, node: Node, *, labels: bool, dates: DateLimits = DateLimits()
) -> SourceSpec:
    node.check_keys(_SOURCE_KEYS, required=("columns",))
    query, url = _parse_query(node, labels)
    stacked = "files" in node.data
    if stacked and (labels or query is not None or "file" in node.data or "sheet" in node.data):
        raise node.error(
            "files",
            "a source has either file: (with sheet:), files: or query:, not two of them",
            hint="list every export under files:, each with its own file: and rename:",
        )
    if query is None and not labels and "file" not in node.data and not stacked:
        raise node.error(
            "file", "is required", hint="name the export file (or give a query: and url:)"
        )
    if stacked:
        file, sheet = "", None
    else:
        file = node.text("file", "<--labels>" if labels else f"query:{name}", required=True)
        file, sheet = _parse_sheet(node, file)
    delimiter = node.text("delimiter", ",")
    if len(delimiter) != 1 or delimiter in '"\r\n':
        raise node.error(
            "delimiter",
            f"must be one character other than a quote or newline, got {delimiter!r}",
            hint="e.g. ',', ';', '\\t' or '|'",
        )
    decimal = node.text("decimal", ".", allowed=(".", ","))
    col_nodes = node.children("columns")
    if not col_nodes:
        raise node.error("columns", "no column is declared")
    columns = tuple(_parse_column(cname, cnode) for cname, cnode in col_nodes.items())
    if decimal != ".":  # (the mark is the source's: each number column reads with it)
        columns = tuple(
            replace(c, decimal=decimal) if c.type in ("int", "float") else c for c in columns
        )
    names = [c.name for c in columns]
    key = node.text("key", None)
    if key is not None and key not in names:
        raise node.error(
            "key",
            f"{key!r} is not one of the declared columns",
            hint=f"declared: {', '.join(names)}",
        )
    customer_key = node.text("customer_key", None)
    if customer_key is not None and customer_key not in names:
        raise node.error(
            "customer_key",
            f"{customer_key!r} is not one of the declared columns",
            hint=f"declared: {', '.join(names)}",
        )
    row_number = node.text("row_number", None)
    if row_number is not None:
        if row_number not in names or _declared_type(columns, row_number) != "id":
            raise node.error(
                "row_number",
                f"{row_number!r} is not a declared column of type id",
                hint="declare it, e.g. customer_id: {type: id, required: true}",
            )
        if row_number in _rename_targets(node):
            raise node.error("row_number", f"{row_number!r} is also read from the file (rename)")
    if row_number is not None and stacked:
        raise node.error(
            "row_number",
            "does not apply with files: (line numbers identify rows of one file only)",
            hint="add an id column to each export",
        )
    for linking in dict.fromkeys(k for k in (key, customer_key) if k is not None):
        if next(c for c in columns if c.name == linking).on_invalid == "blank":
            raise node.error(
                f"columns.{linking}.on_invalid",
                f"blank does not apply to {linking!r}, which identifies the row (a row "
                "without it cannot be kept)",
                hint="remove on_invalid from the column (a bad value rejects its row)",
            )
    if name != CUSTOMER_SOURCE and not labels and customer_key is None:
        raise node.error(
            "customer_key",
            "is required for every source but credit",
            hint="usually: customer_key: customer_id",
        )
    rename_raw = node.get("rename") or {}
    if not isinstance(rename_raw, Mapping):
        raise node.error("rename", "expected a mapping {file column: canonical column}")
    rename: dict[str, str] = {}
    for src, dst in rename_raw.items():
        if str(dst) not in names:
            raise node.error(
                f"rename.{src}",
                f"maps to {dst!r}, which is not a declared column",
                hint=f"declared: {', '.join(names)}",
            )
        if str(dst) in rename.values():
            raise node.error(f"rename.{src}", f"a second file column maps to {dst!r}")
        rename[str(src)] = str(dst)
    parts = _parse_parts(node, names, rename) if stacked else ()
    if parts:
        file = ", ".join(part.file for part in parts)
    checks = []
    raw_checks = node.get("checks") or []
    if not isinstance(raw_checks, list):
        raise node.error("checks", "expected a list of {name, left, op, right}")
    for i, raw in enumerate(raw_checks):
        cnode = Node(raw, node.file, node.key(f"checks[{i}]"))
        cnode.check_keys(
            ("name", "left", "op", "right", "on_fail"), required=("name", "left", "op", "right")
        )
        for side in ("left", "right"):
            if cnode.text(side, required=True) not in names:
                raise cnode.error(
                    side,
                    f"{cnode.get(side)!r} is not a declared column",
                    hint=f"declared: {', '.join(names)}",
                )
        checks.append(
            RowCheck(
                name=cnode.text("name", required=True),
                left=cnode.get("left"),
                op=cnode.text("op", required=True, allowed=CHECK_OPS),
                right=cnode.get("right"),
                on_fail=cnode.text("on_fail", "reject", allowed=CHECK_ON_FAIL),
            )
        )
    return SourceSpec(
        name=name,
        file=file,
        required=node.flag("required", labels or name == CUSTOMER_SOURCE),
        max_orphan_share=_parse_orphan_share(node, customer_key),
        max_rejected_share=_parse_share(node, "max_rejected_share", MAX_REJECTED_SHARE),
        key=key,
        customer_key=customer_key,
        delimiter=delimiter,
        min_rows=node.number(
            "min_rows", 1 if name == CUSTOMER_SOURCE else 0, minimum=0, integer=True
        ),
        on_duplicate_key=node.text("on_duplicate_key", "keep_first", allowed=DUPLICATE_POLICIES),
        rename=MappingProxyType(rename),
        columns=columns,
        checks=tuple(checks),
        dates=_parse_dates(node.child("dates"), dates),
        row_number=row_number,
        sheet=sheet,
        encoding=_parse_encoding(node),
        query=query,
        url=url,
        parts=parts,
    )


def _parse_encoding(node: Node) -> str | None:
    """``encoding``: a text encoding Python knows (``big5``, ``gbk``, ``utf-8``), or
    ``None`` to detect it. A folder whose exports were written in different encodings (one
    Big5, the others UTF-8) names it on the source that differs."""
    encoding = node.text("encoding")
    if encoding is None:
        return None
    try:  # (as written: the reader takes the codec's canonical name)
        codecs.lookup(encoding)
        return encoding
    except LookupError:
        raise node.error(
            "encoding",
            f"unknown encoding {encoding!r}",
            hint="e.g. utf-8, gbk, gb18030 or big5; leave it out to have it detected",
        ) from None


def _parse_orphan_share(node: Node, customer_key: str | None) -> float:
    """``max_orphan_share``: a share from 0 to 1, for a source linked by ``customer_key``."""
    if "max_orphan_share" not in node.data:
        return MAX_ORPHAN_SHARE
    if customer_key is None:
        raise node.error(
            "max_orphan_share",
            "applies to a source with a customer_key (its rows are checked against the "
            "credit table), not to this one",
        )
    return _parse_share(node, "max_orphan_share", MAX_ORPHAN_SHARE)


def _parse_share(node: Node, key: str, default: float) -> float:
    """A share from 0 to 1 under ``key`` (``default`` when absent)."""
    if key not in node.data:
        return default
    share = node.number(key, minimum=0)
    if share > 1:
        raise node.error(
            key,
            f"must be a share from 0 to 1, got {share}",
            hint="e.g. 0.5 (half the rows); 1 turns the check off",
        )
    return float(share)


def _parse_parts(node: Node, names: list[str], shared: Mapping[str, str]) -> tuple[SourcePart, ...]:
    """The ``files:`` list: each entry's file (and sheet), rename (over the source's
    ``rename``) and ``values`` for declared columns the file does not have."""
    raw = node.get("files")
    if not isinstance(raw, list) or not raw:
        raise node.error(
            "files",
            "expected a list of {file, rename, values}",
            hint="e.g. files: [{file: 合同*.xlsx, rename: {合同编号: txn_id}}]",
        )
    parts = []
    for i, item in enumerate(raw):
        pnode = Node(item, node.file, node.key(f"files[{i}]"))
        if not isinstance(item, Mapping):
            raise node.error(f"files[{i}]", "expected a mapping {file, rename, values}")
        pnode.check_keys(_PART_KEYS, required=("file",))
        file, sheet = _parse_sheet(pnode, pnode.text("file", required=True))
        rename_raw = pnode.get("rename") or {}
        if not isinstance(rename_raw, Mapping):
            raise pnode.error("rename", "expected a mapping {file column: canonical column}")
        rename: dict[str, str] = {}
        merged = dict(shared)
        for src, dst in rename_raw.items():
            if str(dst) not in names:
                raise pnode.error(
                    f"rename.{src}",
                    f"maps to {dst!r}, which is not a declared column",
                    hint=f"declared: {', '.join(names)}",
                )
            merged.pop(str(src), None)
            if str(dst) in merged.values() or str(dst) in rename.values():
                raise pnode.error(f"rename.{src}", f"a second file column maps to {dst!r}")
            rename[str(src)] = str(dst)
        values_raw = pnode.get("values") or {}
        if not isinstance(values_raw, Mapping):
            raise pnode.error("values", "expected a mapping {canonical column: value}")
        values: dict[str, str] = {}
        targets = {*merged.values(), *rename.values()}
        for column, value in values_raw.items():
            column = str(column)
            if column not in names:
                raise pnode.error(
                    f"values.{column}",
                    "is not a declared column",
                    hint=f"declared: {', '.join(names)}",
                )
            if column in targets:
                raise pnode.error(
                    f"values.{column}",
                    "is also read from the file (rename)",
                    hint="either read the column from the file or give it a value, not both",
                )
            if not isinstance(value, str | int | float | bool) or value is None:
                raise pnode.error(f"values.{column}", f"expected one value, got {value!r}")
            values[column] = str(value)
        parts.append(
            SourcePart(
                file=file,
                sheet=sheet,
                rename=MappingProxyType(rename),
                values=MappingProxyType(values),
                encoding=_parse_encoding(pnode),
            )
        )
    return tuple(parts)


def is_excel_name(name: str) -> bool:
    """Whether a file name (or glob) names a workbook."""
    return name.lower().endswith(EXCEL_SUFFIXES)


def _parse_sheet(node: Node, file: str) -> tuple[str, str | None]:
    """The file and its sheet, from ``sheet:`` or ``FILE.xlsx#SHEET``."""
    sheet = node.get("sheet")
    if sheet is not None and not isinstance(sheet, str | int):
        raise node.error("sheet", f"expected a sheet name, got {sheet!r}")
    named = str(sheet) if sheet is not None else None
    base, hash_, after = file.rpartition("#")
    if hash_ and after and is_excel_name(base):
        if named is not None and named != after:
            raise node.error(
                "sheet",
                f"{named!r} differs from the sheet {after!r} named in file: {file!r}",
                hint="name the sheet in one place",
            )
        file, named = base, after
    if named is not None and not is_excel_name(file):
        raise node.error(
            "sheet",
            f"applies to workbook files ({', '.join(EXCEL_SUFFIXES)}), not {file!r}",
        )
    return file, named


def _parse_query(node: Node, labels: bool) -> tuple[str | None, str | None]:
    """A SQL source: the query and its URL (``env:NAME``, or a URL with no password)."""
    if "query" not in node.data and "url" not in node.data:
        return None, None
    if labels:
        raise node.error("query", "the labels file cannot be a query", hint="pass --labels FILE")
    if "file" in node.data:
        raise node.error("query", "a source has either file: or query:, not both")
    query = node.text("query", required=True).strip()
    if not query:
        raise node.error("query", "is empty", hint="write the SELECT that returns the rows")
    raw = node.get("url")
    if raw is None:
        raise node.error(
            "url",
            "is required with query:",
            hint="write url: env:CRM_DB_URL and set CRM_DB_URL to the database URL",
        )
    if not isinstance(raw, str) or not raw.strip():
        raise node.error("url", "expected env:NAME or a database URL")
    url = raw.strip()
    if url.startswith(ENV_PREFIX):
        variable = url[len(ENV_PREFIX) :]
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable):
            raise node.error(
                "url",
                f"{variable!r} is not an environment variable name",
                hint="write e.g. url: env:CRM_DB_URL",
            )
        return query, url
    if "://" not in url:
        raise node.error(
            "url",
            "expected env:NAME or a database URL (dialect://...)",
            hint="write e.g. url: env:CRM_DB_URL",
        )
    if has_password(url):
        raise node.error(
            "url",
            f"holds a password ({mask_url(url)}); a password must never be written in a config",
            hint="put the URL in an environment variable and write url: env:CRM_DB_URL",
        )
    return query, url


#: A URL's ``user:password@``: the password runs to the last ``@`` (it may hold ``/`` or
#: an unencoded ``@``, which a URL parser would take for the host or the path)
_URL_PASSWORD = re.compile(r"(://[^/:@\s]*:)(\S*)@")


def url_password(url: str) -> str | None:
    """The password of ``user:password@`` in a database URL, or ``None``."""
    found = _URL_PASSWORD.search(url)
    return found.group(2) if found and found.group(2) else None


def has_password(url: str) -> bool:
    """Whether a database URL carries a password (``user:secret@host``)."""
    if re.search(r"(?i)[?&;](?:password|passwd|pwd)=", url) or url_password(url):
        return True
    try:
        return urllib.parse.urlsplit(url).password is not None
    except ValueError:
        return "@" in url


def mask_url(url: str) -> str:
    """A database URL fit for messages and logs: the password as ``***``, and any
    ``password=`` query parameter too."""
    masked = _URL_PASSWORD.sub(r"\1***@", url)
    return re.sub(r"(?i)((?:password|passwd|pwd)=)[^&;\s]*", r"\1***", masked)


def _declared_type(columns: tuple[ColumnSpec, ...], name: str) -> str:
    return next(c.type for c in columns if c.name == name)


def _rename_targets(node: Node) -> set[str]:
    raw = node.get("rename") or {}
    return {str(v) for v in raw.values()} if isinstance(raw, Mapping) else set()


def _parse_column(name: str, node: Node) -> ColumnSpec:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise node.error(
            None,
            f"column name {name!r} is not snake_case",
            hint="canonical names use a-z, 0-9 and _; map file headers with rename",
        )
    node.check_keys(_COLUMN_KEYS, required=("type",))
    ctype = node.text("type", required=True, allowed=COLUMN_TYPES)
    bounds: dict[str, Any] = {}
    for bound in ("min", "max"):
        value = node.get(bound)
        if value is None:
            bounds[bound] = None
        elif ctype == "date":
            if isinstance(value, dt.datetime):
                value = value.date()
            if isinstance(value, str):
                try:
                    value = dt.date.fromisoformat(value)
                except ValueError:
                    raise node.error(
                        bound, f"{value!r} is not a date", hint="write dates as YYYY-MM-DD"
                    ) from None
            if not isinstance(value, dt.date):
                raise node.error(bound, f"expected a date YYYY-MM-DD, got {value!r}")
            bounds[bound] = value
        elif ctype in ("int", "float"):
            bounds[bound] = node.number(bound)
        else:
            raise node.error(bound, f"ranges apply to int, float and date columns, not {ctype}")
    if bounds["min"] is not None and bounds["max"] is not None and bounds["min"] > bounds["max"]:
        raise node.error("min", f"min {bounds['min']} is greater than max {bounds['max']}")
    allowed = node.text_list("allowed")
    if allowed is not None and ctype != "category":
        raise node.error("allowed", f"applies to category columns, not {ctype}")
    pattern = node.text("pattern")
    if pattern is not None:
        if ctype not in ("id", "string"):
            raise node.error("pattern", f"applies to id and string columns, not {ctype}")
        problem = _pattern_problem(pattern)
        if problem is not None:
            raise node.error(
                "pattern",
                f"invalid regular expression {pattern!r}: {problem}",
                hint="patterns use RE2 syntax: no lookaround, backreferences or possessive "
                "quantifiers",
            )
    check = node.text("check", allowed=VALUE_CHECKS)
    if check is not None and ctype not in ("id", "string"):
        raise node.error("check", f"applies to id and string columns, not {ctype}")
    recode = _recode(node, ctype, allowed)
    zero_pad = node.number("zero_pad", minimum=1, integer=True)
    if zero_pad is not None:
        if ctype != "id":
            raise node.error("zero_pad", f"applies to id columns, not {ctype}")
        if zero_pad > MAX_ZERO_PAD:
            raise node.error(
                "zero_pad",
                f"must be at most {MAX_ZERO_PAD}, got {zero_pad}",
                hint="the width of the ids, e.g. 10 for 0000000042",
            )
    scale = node.number("scale")
    if scale is not None:
        if ctype != "float":
            raise node.error(
                "scale",
                f"applies to float columns, not {ctype}",
                hint="declare the column type: float",
            )
        if not (0 < scale <= MAX_SCALE):
            raise node.error(
                "scale",
                f"must be above 0 and at most {MAX_SCALE:g}, got {scale}",
                hint="the unit of the column's values, e.g. 10000 for amounts in 万元",
            )
    unit = node.text("unit", None, allowed=COUNT_UNITS)
    if unit is not None and ctype not in ("int", "float"):
        raise node.error(
            "unit",
            f"applies to number columns, not {ctype}",
            hint="declare the column type: int or float",
        )
    return ColumnSpec(
        name=name,
        type=ctype,
        required=node.flag("required", False),
        pii=node.flag("pii", False),
        min=bounds["min"],
        max=bounds["max"],
        allowed=allowed,
        pattern=pattern,
        check=check,
        on_invalid=node.text("on_invalid", "reject", allowed=ON_INVALID),
        recode=recode,
        zero_pad=zero_pad,
        scale=float(scale) if scale is not None else None,
        unit=unit,
    )


def _recode(node: Node, ctype: str, allowed: tuple[str, ...] | None) -> tuple[tuple[str, str], ...]:
    """A category or number column's ``recode: {export value: custrisk's value}``,
    checked: text to text (to a number for a number column: ``{是: 1, 否: 0}``), and each
    value one of ``allowed`` when the column has them."""
    raw = node.get("recode")
    if raw is None:
        return ()
    if ctype not in ("category", "int", "float"):
        raise node.error("recode", f"applies to category and number columns, not {ctype}")
    if not isinstance(raw, Mapping) or not raw:
        raise node.error(
            "recode",
            "expected a mapping of the export's values to custrisk's",
            hint="e.g. recode: {订单: order, 回款: payment}",
        )
    if len(raw) > MAX_RECODES:
        raise node.error("recode", f"{len(raw):,} entries, over the limit of {MAX_RECODES:,}")
    pairs = []
    for key, value in raw.items():
        if (
            not isinstance(key, str | int)
            or not isinstance(value, str | int)
            or isinstance(key, bool)
            or isinstance(value, bool)
            or not str(key).strip()
            or not str(value).strip()
        ):
            raise node.error(
                "recode",
                f"{key!r}: {value!r} is not a value and its replacement as text",
                hint="quote values YAML reads as something else: '是': 'yes'",
            )
        target = str(value).strip()
        if ctype != "category" and not _number_text(target, whole=ctype == "int"):
            raise node.error(
                "recode",
                f"{key!r} becomes {target!r}, which is not {'a whole' if ctype == 'int' else 'a'}"
                " number",
                hint="a number column's recode maps words onto numbers: {是: 1, 否: 0}",
            )
        if allowed is not None and target not in allowed:
            raise node.error(
                "recode",
                f"{key!r} becomes {target!r}, which is not one of the allowed values",
                hint=f"allowed: {', '.join(allowed)}",
            )
        pairs.append((str(key).strip(), target))
    return tuple(pairs)


def _number_text(text: str, *, whole: bool) -> bool:
    try:
        number = float(text)
    except ValueError:
        return False
    return math.isfinite(number) and (not whole or number.is_integer())


def _pattern_problem(pattern: str) -> str | None:
    """Why RE2, the engine that checks ``pattern`` columns, cannot run ``pattern``.

    ``None`` when it can. Patterns are never run by Python's ``re``: its backtracking
    takes exponential time on some patterns and values, RE2 takes linear time.
    """
    try:
        pc.match_substring_regex(pa.array([""], pa.string()), pattern)
    except pa.ArrowInvalid as exc:
        detail = str(exc).splitlines()[0].removeprefix("Invalid regular expression: ")
    else:
        return None
    fragment = detail.rpartition(": ")[2]
    if fragment in ("(?=", "(?!"):
        return "lookahead is not supported"
    if fragment in ("(?<=", "(?<!"):
        return "lookbehind is not supported"
    if fragment == "(?>":
        return "atomic groups are not supported"
    if re.fullmatch(r"\\[1-9k]", fragment) or (fragment == "(?P" and "(?P=" in pattern):
        return "backreferences are not supported"
    if detail.startswith("bad repetition operator") and fragment.endswith("+"):
        return "possessive quantifiers are not supported"
    if detail.startswith("invalid repetition size"):
        return f"{detail} (RE2 repeats at most 1000 times)"
    return detail
