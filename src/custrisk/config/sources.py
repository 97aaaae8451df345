"""The sources config: which files hold each export and the rules for their columns.

A column's rules are parsed by :mod:`custrisk.config.columns`, where a source is read
from (files, sheet, query, encoding) by :mod:`custrisk.config.locations`; this module
holds the sources, their row rules and date limits, and the loader.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from custrisk.config._yaml import Node, config_root, load_yaml_text, open_config
from custrisk.config.columns import ColumnSpec, date_value, parse_column, with_header_units
from custrisk.config.locations import (
    SourcePart,
    parse_encoding,
    parse_parts,
    parse_query,
    parse_query_timeout,
    parse_sheet,
)

DUPLICATE_POLICIES = ("keep_first", "keep_last", "reject_all")
CHECK_OPS = ("<", "<=", ">", ">=", "==", "!=")
CHECK_ON_FAIL = ("reject", "blank_left")
KNOWN_SOURCES = ("credit", "transactions", "behaviour")
CUSTOMER_SOURCE = "credit"
#: The share of a linked source's rows (of those its other rules keep) that may name a
#: customer the credit table lacks before the input is unusable (``max_orphan_share``).
MAX_ORPHAN_SHARE = 0.5
#: The share of a source's rows that may be rejected while cleaning before the scoring
#: commands call the input unusable (``max_rejected_share``): the rest would pass for the
#: whole month (a date format of the export's own rejects every transaction).
MAX_REJECTED_SHARE = 0.5
DATES_AHEAD_OF = ("data", "today")

_SOURCE_KEYS = (
    "file",
    "files",
    "sheet",
    "query",
    "url",
    "query_timeout",
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
    "ignore",
    "columns",
    "checks",
    "dates",
    "description",
)
_TOP_KEYS = ("version", "defaults", "sources", "labels")
_DEFAULT_KEYS = ("date_formats", "true_values", "false_values", "dates", "query_timeout")
_DATES_KEYS = ("not_before", "days_ahead", "ahead_of")


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
    #: Seconds the query may run or wait on a lock (``query_timeout``, the source's or
    #: the defaults'; 0: none); ``None`` when neither is written (the URL's session's
    #: statement_timeout, else ``DEFAULT_QUERY_TIMEOUT``).
    query_timeout: float | None = None
    #: Several exports stacked into this source (``files:``), each with its own headers.
    parts: tuple[SourcePart, ...] = ()
    #: Past this share of orphans among its rows a linked source is unusable (1: never).
    max_orphan_share: float = MAX_ORPHAN_SHARE
    #: Past this share of rejected rows the scoring commands refuse the source (1: never)
    max_rejected_share: float = MAX_REJECTED_SHARE
    #: Columns a file to score need not have (a flat table's outcome): not said missing.
    #: Set by the code reading the file, never from YAML.
    outcome_columns: frozenset[str] = frozenset()
    #: Headers of the file left out on purpose (row numbers, a protected attribute, free
    #: text): not said to be columns the config lacks. From the source's ``ignore:``
    #: (``init`` writes the columns a flat layout left out), and from a flat model's
    #: layout when it scores a table.
    left_out: frozenset[str] = frozenset()

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
    def headers(self) -> list[str]:
        """The headers a file of the source is written with: the ``rename`` keys, and the
        declared names no key is renamed to (a flat table's, to find its sheet by)."""
        renamed = set(self.rename.values())
        return [
            *self.rename,
            *(c.name for c in self.columns if c.name not in renamed and c.name != self.row_number),
        ]

    @property
    def file_columns(self) -> dict[str, str]:
        """``{header in the file: canonical column}``: the ``rename`` keys, and every
        canonical name (a file may use it as is)."""
        names = dict(self.rename)
        for col in self.columns:
            if col.name != self.row_number:
                names.setdefault(col.name, col.name)
        return names


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
    query_timeout = parse_query_timeout(defaults, None)

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
        sources[name] = _parse_source(
            name, node, labels=False, dates=date_limits, query_timeout=query_timeout
        )
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
        not_before = date_value(node, "not_before", node.get("not_before"))
    days_ahead = inherited.days_ahead
    if "days_ahead" in node.data:
        days_ahead = node.number("days_ahead", minimum=0, integer=True)
    return DateLimits(
        not_before=not_before,
        days_ahead=days_ahead,
        ahead_of=node.text("ahead_of", inherited.ahead_of, allowed=DATES_AHEAD_OF),
    )


def _parse_source(
    name: str,
    node: Node,
    *,
    labels: bool,
    dates: DateLimits = DateLimits(),
    query_timeout: float | None = None,
) -> SourceSpec:
    node.check_keys(_SOURCE_KEYS, required=("columns",))
    query, url = parse_query(node, labels)
    if query is None and "query_timeout" in node.data:
        raise node.error(
            "query_timeout",
            "applies to a source read by a query: (this one reads a file)",
            hint="remove it, or set it under defaults: for every query",
        )
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
        file, sheet = parse_sheet(node, file)
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
    columns = tuple(parse_column(cname, cnode) for cname, cnode in col_nodes.items())
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
    ignored = node.text_list("ignore", [], allow_empty=True) or ()
    for header in ignored:
        if header in rename or header in names:
            read = f"rename maps it to {rename[header]!r}" if header in rename else "declared"
            raise node.error(
                "ignore",
                f"{header!r} is also read ({read})",
                hint=f"remove {header!r} from ignore, or from the columns read",
            )
    parts = parse_parts(node, names, rename) if stacked else ()
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
    renamed = [*rename.items(), *(pair for part in parts for pair in part.rename.items())]
    columns = with_header_units(columns, renamed)  # (年龄: 35岁 is 35)
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
        encoding=parse_encoding(node),
        query=query,
        url=url,
        query_timeout=parse_query_timeout(node, query_timeout) if query is not None else None,
        parts=parts,
        left_out=frozenset(ignored),
    )


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


def _declared_type(columns: tuple[ColumnSpec, ...], name: str) -> str:
    return next(c.type for c in columns if c.name == name)


def _rename_targets(node: Node) -> set[str]:
    raw = node.get("rename") or {}
    return {str(v) for v in raw.values()} if isinstance(raw, Mapping) else set()
