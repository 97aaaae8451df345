"""The indicator config (``configs/indicators.yaml``), validated at load into frozen objects.

Every problem is a :class:`~custrisk.errors.ConfigError` naming the file, the key path
(e.g. ``indicators.complaint_rate_180d.expr``), the bad value or token and how to fix it,
raised before any data is read. Expressions are compiled here, so an expression that
is not valid (or tries ``__import__('os')``) stops the run at load time.
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from custrisk.config._yaml import Node, config_root, join_limited, load_yaml_file
from custrisk.config.resources import is_packaged_config
from custrisk.errors import ConfigError
from custrisk.expr import (
    Expression,
    ExpressionError,
    ExprType,
    compile_expression,
    parse,
    tokenize,
)
from custrisk.expr import Name as _NameNode
from custrisk.expr import iter_nodes as _iter_nodes
from custrisk.indicators.spec import (
    AGGREGATIONS,
    AS_OF,
    CUSTOMER_ID,
    CUSTOMER_SOURCE,
    DAYS_SINCE_WHICH,
    DIRECTIONS,
    NUMERIC_AGGREGATIONS,
    RESERVED_NAMES,
    Aggregation,
    Indicator,
    IndicatorConfig,
    MissingPolicy,
    SourceSettings,
    Window,
)
from custrisk.io.plain import path_argument

logger = logging.getLogger(__name__)

_CODE = re.compile(r"[a-z][a-z0-9_]*")
_TOP_KEYS = ("version", "description", "as_of", "sources", "indicators")
_SOURCE_KEYS = ("date", "derived", "description")
_COMMON_KEYS = ("label", "unit", "description", "direction", "missing", "output")
_KIND_KEYS = {
    "aggregate": ("source", "agg", "column", "window", "offset", "filter", "per_month", "which"),
    "expression": ("expr",),
    "field": ("field",),
}
_KIND_MARKERS = {"agg": "aggregate", "expr": "expression", "field": "field"}

# default paths


def default_config_path(name: str = "indicators.yaml") -> Path:
    """Path of a packaged default config file."""
    from custrisk.config import default_config_path as packaged

    return packaged(name)


def _column_types(sources: Any) -> dict[str, dict[str, ExprType]]:
    """``{source: {column: ExprType}}`` from a sources config, path or plain mapping."""
    if sources is None or isinstance(sources, str | os.PathLike):
        from custrisk.config import load_sources_config

        path = Path(sources) if sources is not None else default_config_path("sources.yaml")
        sources = load_sources_config(path)
    if hasattr(sources, "sources"):  # a custrisk.config.SourcesConfig
        return {
            name: {col.name: ExprType.from_column_type(col.type) for col in spec.columns}
            for name, spec in sources.sources.items()
        }
    out: dict[str, dict[str, ExprType]] = {}
    for name, columns in dict(sources).items():
        out[str(name)] = {
            str(col): kind if isinstance(kind, ExprType) else ExprType.from_column_type(str(kind))
            for col, kind in dict(columns).items()
        }
    return out


# ---------------------------------------------------------------------------------------
# loading


def load_indicator_config(
    path: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    sources: Any = None,
) -> IndicatorConfig:
    """Load and validate an indicator config.

    Parameters
    ----------
    path : str, path-like or mapping, optional
        The YAML file, or its content as a dict (messages name it ``<indicators dict>``);
        ``None`` loads the default ``indicators.yaml``.
    sources : SourcesConfig, path or mapping, optional
        The sources config whose canonical columns the indicators may use: a
        :class:`custrisk.config.SourcesConfig`, a path to a sources YAML file, or a
        mapping ``{source: {column: type}}`` (types as in sources.yaml: ``id``,
        ``float``, ``date`` ...). ``None`` loads the default ``sources.yaml``.

    Returns
    -------
    IndicatorConfig

    Raises
    ------
    ConfigError
        For any problem, naming the file, the key path, the bad value and how to fix it;
        expressions are fully checked, so nothing runs when one is not valid.
    """
    if isinstance(path, Mapping):
        return parse_indicator_config(path, sources=sources, file="<indicators dict>")
    file_path = (
        path_argument(path, "indicator config", hint="pass its YAML file or a dict of its content")
        if path is not None
        else default_config_path("indicators.yaml")
    )
    columns = _column_types(sources)
    data = load_yaml_file(file_path)
    return _Loader(str(file_path), columns, _user_sources_file(sources)).load(data)


def _user_sources_file(sources: Any) -> str | None:
    """The user's own sources YAML the columns come from (``None``: the packaged one,
    a mapping, or not known), so that a column it lacks is fixed where it belongs."""
    path = sources if isinstance(sources, str | os.PathLike) else getattr(sources, "path", None)
    if path is None or is_packaged_config(path):
        return None
    return str(path)


def parse_indicator_config(
    data: Mapping[str, Any], *, sources: Any = None, file: str = "<indicators>"
) -> IndicatorConfig:
    """Validate an already-parsed config mapping (same rules as :func:`load_indicator_config`)."""
    return _Loader(file, _column_types(sources)).load(data)


class _Loader:
    def __init__(
        self,
        file: str,
        columns: dict[str, dict[str, ExprType]],
        sources_file: str | None = None,
    ) -> None:
        self.file = file
        self.columns = columns
        self.sources_file = sources_file
        if CUSTOMER_SOURCE not in columns or CUSTOMER_ID not in columns[CUSTOMER_SOURCE]:
            raise ConfigError(
                f"the sources config has no '{CUSTOMER_SOURCE}' source with a "
                f"'{CUSTOMER_ID}' column",
                file=file,
                hint="indicators are computed per customer of the credit table",
            )

    def error(self, key: str, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(message, file=self.file, key=key, hint=hint)

    def expression_error(self, key: str, exc: ExpressionError) -> ConfigError:
        return ConfigError(exc.message, file=self.file, key=key, hint=exc.hint)

    def load(self, data: Any) -> IndicatorConfig:
        root = config_root(data, self.file, allowed=_TOP_KEYS, required=("indicators",))
        as_of = self.as_of(root.get("as_of"))
        sources = self.sources(root)
        raw = root.get("indicators")
        if not isinstance(raw, Mapping) or not raw:
            raise root.error(
                "indicators",
                "expected a mapping of indicator code -> settings",
                hint="see docs/indicators.md for the format",
            )
        nodes: dict[str, Node] = {}
        for code, value in raw.items():
            key = f"indicators.{code}"
            self.check_code(str(code), key, "indicator code")
            nodes[str(code)] = Node(value if value is not None else {}, self.file, key)
        return self.indicators(nodes, sources, as_of)

    def as_of(self, value: Any) -> dt.date | None:
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            raise self.error(
                "as_of",
                f"{value!r} is not a date",
                hint="write YYYY-MM-DD, or null for the latest event date",
            ) from None

    def check_code(self, code: str, key: str, what: str) -> None:
        if not _CODE.fullmatch(code):
            raise self.error(
                key,
                f"{what} {code!r} is not snake_case",
                hint="use lowercase letters, digits and _, starting with a letter",
            )
        if code in RESERVED_NAMES:
            raise self.error(
                key,
                f"{what} {code!r} is a reserved word",
                hint=f"reserved: {', '.join(sorted(RESERVED_NAMES))}",
            )
        try:
            tokens = tokenize(code)
        except ExpressionError as exc:
            raise self.error(
                key, f"{what} {code!r} cannot be used in expressions", hint=exc.hint
            ) from None
        if [t.kind for t in tokens] != ["name", "end"]:
            raise self.error(key, f"{what} {code!r} cannot be used in expressions")

    # -- sources ---------------------------------------------------------------------
    def sources(self, root: Node) -> dict[str, SourceSettings]:
        raw = root.get("sources") or {}
        if not isinstance(raw, Mapping):
            raise root.error("sources", "expected a mapping of source name -> settings")
        out: dict[str, SourceSettings] = {}
        for name, value in raw.items():
            name = str(name)
            key = f"sources.{name}"
            if name not in self.columns:
                raise self.error(
                    key,
                    f"unknown source '{name}'",
                    hint=f"known sources: {', '.join(sorted(self.columns))}",
                )
            node = Node(value if value is not None else {}, self.file, key)
            node.check_keys(_SOURCE_KEYS)
            out[name] = self.source(name, node)
        for name in self.columns:
            out.setdefault(name, SourceSettings(name))
        return {name: out[name] for name in sorted(out)}

    def source(self, name: str, node: Node) -> SourceSettings:
        columns = self.columns[name]
        date = node.get("date")
        if date is not None:
            date = str(date)
            if date not in columns:
                raise node.error(
                    "date",
                    f"source '{name}' has no column '{date}'",
                    hint=self.column_hint(name, date, columns),
                )
            if columns[date] is not ExprType.DATE:
                raise node.error(
                    "date",
                    f"column '{date}' of source '{name}' is {columns[date].label}, not a date",
                    hint="name a column of type date",
                )
        raw = node.get("derived") or {}
        if not isinstance(raw, Mapping):
            raise node.error("derived", "expected a mapping of column name -> expression")
        names: dict[str, ExprType] = {**columns, AS_OF: ExprType.DATE}
        derived: list[tuple[str, Expression]] = []
        for column, text in raw.items():
            column = str(column)
            key = node.key(f"derived.{column}")
            self.check_code(column, key, "derived column")
            if column in columns:
                raise self.error(
                    key,
                    f"derived column '{column}' would replace a column of source '{name}'",
                    hint="choose another name",
                )
            expr = self.compile(key, text, names)
            derived.append((column, expr))
            names[column] = expr.type
        return SourceSettings(name=name, date=date, derived=tuple(derived))

    def compile(self, key: str, text: Any, names: Mapping[str, ExprType]) -> Expression:
        if isinstance(text, bool) or not isinstance(text, str | int | float):
            raise self.error(
                key,
                f"expected an expression as text, got {text!r}",
                hint="quote the expression in YAML",
            )
        try:
            return compile_expression(str(text), names)
        except ExpressionError as exc:
            raise self.expression_error(key, exc) from None

    def column_hint(self, source: str, column: str, columns: Mapping[str, Any]) -> str:
        close = difflib.get_close_matches(column, list(columns), n=1)
        listed = f"columns of {source}: {join_limited(sorted(columns), 12)}"
        hint = f"did you mean '{close[0]}'? {listed}" if close else listed
        if self.sources_file is not None and source in self.columns:
            # The indicators are packaged (or shared); the export's columns are the
            # user's sources config's: that is where a column of theirs gets this name.
            hint += (
                f"; or, if the export has it under another header, declare it in "
                f"{self.sources_file} (rename: {{HEADER: {column}}} and a column "
                f"{column}) under sources.{source}"
            )
        return hint

    # -- indicators --------------------------------------------------------------------
    def indicators(
        self, nodes: dict[str, Node], sources: dict[str, SourceSettings], as_of: dt.date | None
    ) -> IndicatorConfig:
        kinds = {code: self.kind(node) for code, node in nodes.items()}
        # parse expressions first: syntax errors and forbidden tokens stop the load here
        trees = {}
        for code, node in nodes.items():
            if kinds[code] == "expression":
                text = node.get("expr")
                key = node.key("expr")
                if isinstance(text, bool) or not isinstance(text, str | int | float):
                    raise self.error(
                        key,
                        f"expected an expression as text, got {text!r}",
                        hint="quote the expression in YAML",
                    )
                try:
                    trees[code] = parse(str(text))
                except ExpressionError as exc:
                    raise self.expression_error(key, exc) from None
        deps = {
            code: tuple(
                dict.fromkeys(
                    n.name
                    for n in _iter_nodes(tree)
                    if isinstance(n, _NameNode) and n.name in nodes
                )
            )
            for code, tree in trees.items()
        }
        order = self.order(list(nodes), deps, nodes)
        credit: dict[str, ExprType] = dict(self.columns[CUSTOMER_SOURCE])
        for name, expr in sources[CUSTOMER_SOURCE].derived:
            credit[name] = expr.type
        built: dict[str, Indicator] = {}
        for code in order:
            node = nodes[code]
            kind = kinds[code]
            if kind == "aggregate":
                agg, value_type = self.aggregation(node, sources)
                built[code] = self.indicator(code, node, kind, value_type, aggregation=agg)
            elif kind == "field":
                column, value_type = self.field(node, credit)
                built[code] = self.indicator(code, node, kind, value_type, field=column)
            else:
                names: dict[str, ExprType] = {
                    **credit,
                    **{c: ind.value_type for c, ind in built.items()},
                    AS_OF: ExprType.DATE,
                }
                expr = self.compile(node.key("expr"), node.get("expr"), names)
                if expr.type is ExprType.DATE:
                    raise node.error(
                        "expr",
                        "the expression gives a date; an indicator is a "
                        "number, a condition or a category",
                        hint="subtract dates to get days, e.g. as_of - customer_since",
                    )
                built[code] = self.indicator(
                    code, node, kind, expr.type, expression=expr, depends_on=deps[code]
                )
        indicators = tuple(built[code] for code in nodes)
        if not any(ind.output for ind in indicators):
            raise self.error(
                "indicators",
                "no indicator has output: true",
                hint="set output: true on at least one indicator",
            )
        return IndicatorConfig(
            path=self.file,
            as_of=as_of,
            sources=sources,
            indicators=indicators,
            order=tuple(order),
            columns=self.columns,
        )

    def kind(self, node: Node) -> str:
        present = [marker for marker in _KIND_MARKERS if marker in node.data]
        if len(present) != 1:
            found = f"found {', '.join(present)}" if present else "found none"
            raise node.error(
                None,
                f"an indicator needs exactly one of agg, expr or field ({found})",
                hint="agg: aggregate a source's rows; expr: "
                "combine indicators and credit fields; field: pass a credit "
                "column through",
            )
        kind = _KIND_MARKERS[present[0]]
        node.check_keys(_COMMON_KEYS + _KIND_KEYS[kind], required=("label", "direction"))
        return kind

    def order(
        self, codes: list[str], deps: Mapping[str, tuple[str, ...]], nodes: Mapping[str, Node]
    ) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}  # 1 visiting, 2 done

        def visit(code: str, path: list[str]) -> None:
            if state.get(code) == 2:
                return
            if state.get(code) == 1:
                cycle = path[path.index(code) :] + [code]
                first = cycle[0]
                hint = "remove one of the references"
                if first in self.columns[CUSTOMER_SOURCE] and len(cycle) == 2:
                    hint = (
                        f"'{first}' is also a credit column, but indicator codes come "
                        "first in expressions; rename the indicator or use field: "
                        f"{first}"
                    )
                raise self.error(
                    nodes[first].key("expr"),
                    f"cycle between indicators: {' -> '.join(cycle)}",
                    hint=hint,
                )
            state[code] = 1
            for dep in deps.get(code, ()):
                visit(dep, [*path, code])
            state[code] = 2
            order.append(code)

        for code in codes:
            visit(code, [])
        return order

    def indicator(
        self, code: str, node: Node, kind: str, value_type: ExprType, **parts: Any
    ) -> Indicator:
        label = node.get("label")
        if not isinstance(label, Mapping):
            raise node.error(
                "label",
                f"expected {{zh: ..., en: ...}}, got {label!r}",
                hint="give a Chinese and an English label",
            )
        label_node = Node(label, self.file, node.key("label"))
        label_node.check_keys(("zh", "en"), required=("zh", "en"))
        direction = node.text("direction", required=True, allowed=DIRECTIONS)
        if value_type is ExprType.STRING and direction != "none":
            raise node.error(
                "direction",
                f"'{direction}' does not apply to the categorical indicator '{code}'",
                hint="categories have no order; use none",
            )
        unit = node.get("unit", "")
        description = node.get("description", "")
        for name, value in (("unit", unit), ("description", description)):
            if not isinstance(value, str):
                raise node.error(name, f"expected text, got {value!r}")
        return Indicator(
            code=code,
            label_zh=label_node.text("zh", required=True),
            label_en=label_node.text("en", required=True),
            unit=unit,
            description=" ".join(description.split()),
            direction=direction,
            missing=self.missing(node, value_type),
            kind=kind,
            value_type=value_type,
            output=node.flag("output", True),
            key=node.path,
            **parts,
        )

    def missing(self, node: Node, value_type: ExprType) -> MissingPolicy:
        raw = node.get("missing", "keep")
        key = node.key("missing")
        if raw == "keep":
            return MissingPolicy("keep")
        if not isinstance(raw, Mapping) or set(raw) != {"fill"}:
            raise self.error(
                key,
                f"expected keep or {{fill: value}}, got {raw!r}",
                hint="keep leaves missing values as NaN (binned on their own); "
                "{fill: 0} replaces them, e.g. for counts",
            )
        value = raw["fill"]
        if value_type is ExprType.STRING:
            if not isinstance(value, str) or not value:
                raise self.error(
                    f"{key}.fill",
                    f"a categorical indicator is filled with text, got {value!r}",
                    hint="e.g. {fill: unknown}",
                )
            return MissingPolicy("fill", value)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self.error(
                f"{key}.fill",
                f"a numeric indicator is filled with a number, got {value!r}",
                hint="e.g. {fill: 0}",
            )
        return MissingPolicy("fill", float(value))

    def field(self, node: Node, credit: Mapping[str, ExprType]) -> tuple[str, ExprType]:
        column = node.get("field")
        key = node.key("field")
        if not isinstance(column, str) or column not in credit:
            raise self.error(
                key,
                f"source '{CUSTOMER_SOURCE}' has no column {column!r}",
                hint=self.column_hint(CUSTOMER_SOURCE, str(column), credit),
            )
        if credit[column] is ExprType.DATE:
            raise self.error(
                key,
                f"'{column}' is a date; an indicator is a number, a condition or a category",
                hint=f"use an expression such as expr: as_of - {column}",
            )
        return column, credit[column]

    def aggregation(
        self, node: Node, sources: Mapping[str, SourceSettings]
    ) -> tuple[Aggregation, ExprType]:
        source = node.get("source")
        if source is None:
            raise node.error(
                "source",
                "required key is missing",
                hint=f"known sources: {', '.join(sorted(self.columns))}",
            )
        if not isinstance(source, str) or source not in self.columns:
            raise node.error(
                "source",
                f"unknown source {source!r}",
                hint=f"known sources: {', '.join(sorted(self.columns))}",
            )
        settings = sources[source]
        func = node.text("agg", required=True, allowed=AGGREGATIONS)
        row_types: dict[str, ExprType] = dict(self.columns[source])
        for name, expr in settings.derived:
            row_types[name] = expr.type
        column = node.get("column")
        if column is not None:
            if not isinstance(column, str) or column not in row_types:
                raise node.error(
                    "column",
                    f"source '{source}' has no column {column!r}",
                    hint=self.column_hint(source, str(column), row_types),
                )
        elif func == "days_since":
            column = settings.date
            if column is None:
                raise node.error(
                    "agg",
                    f"days_since needs a date column; source '{source}' has none set",
                    hint=f"set column: <a date column>, or sources.{source}.date",
                )
        elif func != "count":
            raise node.error("column", f"agg '{func}' needs a column", hint="e.g. column: amount")
        col_type = row_types[column] if column is not None else None
        value_type = self.aggregation_type(node, func, column, col_type)

        window_raw = node.get("window", "all")
        window = self.window(node, "window", window_raw)
        offset = None
        if node.get("offset") is not None:
            offset = self.window(node, "offset", node.get("offset"))
            if offset.is_all:
                raise node.error(
                    "offset",
                    "the offset cannot be 'all'",
                    hint="e.g. offset: 3m shifts the window 3 months back",
                )
        needs_date = not window.is_all or offset is not None or func in ("first", "last")
        if needs_date and settings.date is None:
            what = f"window '{window}'" if not window.is_all else f"agg '{func}'"
            if offset is not None and window.is_all:
                what = f"offset '{offset}'"
            raise node.error(
                "window" if what.startswith("window") else "agg",
                f"{what} needs a date column, and source '{source}' has none set",
                hint=f"set sources.{source}.date in the indicator config",
            )
        per_month = node.flag("per_month", False)
        if per_month and window.is_all:
            raise node.error(
                "per_month",
                "per_month needs a window of fixed length, not 'all'",
                hint="e.g. window: 90d",
            )
        which = node.text("which", "latest", allowed=DAYS_SINCE_WHICH)
        if "which" in node.data and func != "days_since":
            raise node.error("which", f"'which' applies to days_since, not {func}")
        filt = None
        if node.get("filter") is not None:
            key = node.key("filter")
            filt = self.compile(key, node.get("filter"), {**row_types, AS_OF: ExprType.DATE})
            if filt.type is not ExprType.BOOL:
                raise self.error(
                    key,
                    f"the filter must be a condition (true/false), got {filt.type.label}",
                    hint="e.g. filter: \"txn_type == 'order'\"",
                )
        agg = Aggregation(
            source=source,
            func=func,
            column=column,
            window=window,
            offset=offset,
            filter=filt,
            per_month=per_month,
            which=which,
        )
        return agg, value_type

    def aggregation_type(
        self, node: Node, func: str, column: str | None, col_type: ExprType | None
    ) -> ExprType:
        if func in ("count", "nunique"):
            return ExprType.NUMBER
        assert col_type is not None
        if func == "days_since":
            if col_type is not ExprType.DATE:
                raise node.error(
                    "column", f"days_since needs a date column; '{column}' is {col_type.label}"
                )
            return ExprType.NUMBER
        if col_type is ExprType.DATE:
            raise node.error(
                "column",
                f"agg '{func}' cannot use the date column '{column}'",
                hint="use agg: days_since for the days since the latest (or earliest) date",
            )
        if func in NUMERIC_AGGREGATIONS:
            if not col_type.numeric:
                raise node.error(
                    "column",
                    f"agg '{func}' needs a numeric column; '{column}' is {col_type.label}",
                    hint="count, nunique, first and last work on text",
                )
            return ExprType.NUMBER
        return col_type  # first / last keep the column's type

    def window(self, node: Node, name: str, raw: Any) -> Window:
        try:
            return Window.parse(raw)
        except ValueError:
            raise node.error(
                name,
                f"bad window {raw!r}",
                hint="use a number followed by d (days), m (months) or y (years), "
                "e.g. 90d or 12m, or all",
            ) from None
