"""Flat tables: one file with a row per customer, its columns the features, no YAML.

``custrisk train features.xlsx --target 违约`` infers the table's layout
(:func:`custrisk.data.infer.infer_table`) and turns it into the two configs every other
path uses: a sources config with the table as the one customer source, and an indicator
config with one feature per column (dates become their age in days at the as-of date).
From there the table is read, cleaned, trained on and scored exactly as exports are. The
model folder keeps both configs (``sources.yaml``, ``indicators.yaml``) and the card
records the inference (``table``), so that scoring next month's table applies the same
types, names and rules.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import yaml

from custrisk.config.sources import (
    CUSTOMER_SOURCE,
    SourcesConfig,
    SourceSpec,
    parse_sources_config,
)
from custrisk.data.exports import read_export
from custrisk.data.headers import AMOUNTS, ScaledField, canonical_name, chinese_header, scaled_field
from custrisk.data.infer import TableSchema, infer_table
from custrisk.data.infer_columns import CUSTOMER_FIELDS, ID_NAME, protected_attribute
from custrisk.data.workspace import file_as_source, is_one_file
from custrisk.errors import DataError, UsageError
from custrisk.estimators.features import MISSING, OTHER
from custrisk.io.excel import split_sheet
from custrisk.io.header import HeaderMatcher
from custrisk.privacy import mask_pii_text
from custrisk.registry import LoadedModel
from custrisk.vocab import NOTE, PERCENT_UNIT

#: The model-folder copy of a flat table's sources config.
TABLE_SOURCES_FILE = "sources.yaml"
#: Card key of a flat-table model: the inferred layout and the target's coding.
TABLE_CARD_KEY = "table"

#: Target values read as "bad" when a two-valued target is not 0/1 or true/false.
BAD_WORDS = frozenset(
    {"bad", "default", "defaulted", "yes", "y", "true", "1", "违约", "坏", "逾期", "是", "坏账"}
    | {"√", "✓", "✔"}  # a sheet's check mark under 是否违约: 是, as its bool columns read it
)

log = logging.getLogger(__name__)


#: Whether the data argument is one file (a flat table, or a sheet of a workbook named
#: as ``book.xlsx#Sheet``) rather than a folder: as the workspace tells it.
is_table = is_one_file


@dataclass(frozen=True)
class TableConfigs:
    """A flat table as custrisk reads it: the inference and the two configs' texts."""

    schema: TableSchema
    sources_text: str
    indicators_text: str
    as_of_column: str | None


def table_configs(schema: TableSchema) -> TableConfigs:
    """The sources and indicator configs (YAML text) of an inferred table."""
    columns: dict[str, Any] = {}
    rename: dict[str, str] = {}
    for col in schema.columns:
        if col.role == "ignored":
            continue
        if col.role == "id":
            columns[ID_NAME] = {"type": "id", "required": True}
        elif col.role == "pii":  # (a formula in a name blanks it, not the applicant)
            columns[col.name] = {"type": "string", "pii": True, "on_invalid": "blank"}
        elif col.role == "target":
            columns[col.name] = {"type": "string"}
        elif col.role == "as_of":
            columns[col.name] = {"type": "date", "on_invalid": "blank"}
        else:
            columns[col.name] = {"type": col.type, "on_invalid": "blank"}
            if col.scale is not None:
                columns[col.name]["scale"] = col.scale
            if col.unit is not None:
                columns[col.name]["unit"] = col.unit
            if col.percent:  # (a number there without %, 39.2: refused, not 3,920%)
                columns[col.name]["percent"] = True
            for bound, value in (("min", col.lower), ("max", col.upper)):
                if value is not None:
                    columns[col.name][bound] = int(value) if float(value).is_integer() else value
        if col.role != "id" or schema.id_column is not None:
            if col.header != (ID_NAME if col.role == "id" else col.name):
                rename[col.header] = ID_NAME if col.role == "id" else col.name
    if schema.id_column is None:
        columns = {ID_NAME: {"type": "id", "required": True}, **columns}
    source: dict[str, Any] = {
        "file": _file_pattern(schema.file, schema.kept_file),
        "required": True,
        "key": ID_NAME,
        "min_rows": 1,
    }
    if schema.kept_sheet is not None:
        source["sheet"] = schema.kept_sheet
    if schema.delimiter != ",":
        source["delimiter"] = schema.delimiter
    if schema.decimal != ".":
        source["decimal"] = schema.decimal
    if schema.id_column is None:
        source["row_number"] = ID_NAME
    if rename:
        source["rename"] = rename
    # (no warning every month about the columns the layout leaves out on purpose)
    ignored = [c.header for c in schema.columns if c.role == "ignored"]
    if ignored:
        source["ignore"] = ignored
    source["columns"] = columns
    sources = {
        "version": 1,
        "defaults": {
            "date_formats": list(schema.date_formats),
            "true_values": list(schema.true_values),
            "false_values": list(schema.false_values),
        },
        "sources": {CUSTOMER_SOURCE: source},
    }
    indicators: dict[str, Any] = {}
    dates = [c for c in schema.features if c.type == "date"]
    for col in schema.features:
        entry: dict[str, Any] = {
            "label": {"zh": col.header, "en": col.header},
            "description": f"column {col.header} of {schema.shown} ({col.reason})",
            "direction": "none",
            "missing": "keep",
        }
        code = col.name
        if col.type == "date":
            code = f"{col.name}_days"  # the column itself is the date
            entry["label"] = {"zh": f"{col.header}(距今天数)", "en": f"{col.header} (days ago)"}
            entry["unit"] = "days"
            entry["expr"] = f"as_of - {col.name}"
        else:
            entry["field"] = col.name
        if col.percent or col.percent_points:  # (16.3% or 16.3 read as 0.163: shown 16.3%)
            entry["unit"] = PERCENT_UNIT
        elif _in_yuan(col.name, col.header, col.type, col.unit):  # (shown ¥369,264)
            entry["unit"] = "CNY"
        if col.scale is not None and not col.percent_points:  # (not the header's: 月收入 × 12)
            entry["label"] = {
                "zh": f"{col.header} × {col.scale:,}",
                "en": f"{col.header} × {col.scale:,}",
            }
        indicators[code] = entry
    # The as-of date of a table: the latest credible date of its application or
    # snapshot date column, else of its most recent date column, so that ages are
    # repeatable; none: today.
    marked = [c.name for c in schema.columns if c.role == "as_of"]
    as_of_column = marked[0] if marked else _latest_date_column(schema, [c.name for c in dates])
    icfg: dict[str, Any] = {"version": 1, "as_of": None}
    if as_of_column is not None:
        icfg["sources"] = {CUSTOMER_SOURCE: {"date": as_of_column}}
    icfg["indicators"] = indicators
    head = f"# Generated by custrisk from the layout of {schema.shown}; see the model card.\n"
    return TableConfigs(
        schema,
        head + yaml.safe_dump(sources, allow_unicode=True, sort_keys=False, width=100),
        head + yaml.safe_dump(icfg, allow_unicode=True, sort_keys=False, width=100),
        as_of_column,
    )


def _file_pattern(file: str, kept: str) -> str:
    """The file's name as the config's pattern: the name itself, or the name as a layout
    keeps it (personal data masked: ``王小明_138****5678.xlsx``) with each masked run a
    wildcard, which finds that file in its folder without holding the number."""
    if kept == file:
        return glob.escape(file)
    return "*".join(glob.escape(part) for part in re.split(r"\*+", kept))


#: A header naming its amounts' unit as 元 (``贷款金额(元)``, ``余额/元``, ``(人民币)``),
#: not 万元, whose values stay in 万 unless the column is scaled to a known amount.
_YUAN_HEADER = re.compile(
    r"(?:[(（]\s*(?:元|人民币|rmb|cny)\s*[)）]|[/／]\s*元)\s*$", re.IGNORECASE
)


def _in_yuan(name: str, header: str, kind: str, unit: str | None) -> bool:
    """Whether a flat table's column holds amounts in 元: a known amount (its values
    scaled to 元: 年收入(万元), 月收入 × 12) or a header naming 元."""
    if kind not in ("int", "float") or unit is not None:
        return False
    return name in AMOUNTS or _YUAN_HEADER.search(unicodedata.normalize("NFKC", header)) is not None


def _latest_date_column(schema: TableSchema, names: Sequence[str]) -> str | None:
    if not names:
        return None
    latest = max(names, key=lambda n: schema.latest_dates.get(n, ""))
    return latest


@contextmanager
def written_configs(configs: TableConfigs) -> Iterator[tuple[Path, Path]]:
    """The two configs as files in a private temporary folder (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="custrisk-table-") as tmp:
        sources = Path(tmp) / TABLE_SOURCES_FILE
        indicators = Path(tmp) / "indicators.yaml"
        sources.write_text(configs.sources_text, encoding="utf-8")
        indicators.write_text(configs.indicators_text, encoding="utf-8")
        yield sources, indicators


def target_coding(values: pd.Series, header: str, bad_value: str | None) -> tuple[np.ndarray, str]:
    """The target as 1 (bad), 0 (good) or NaN (blank: unlabelled), and the value read as
    bad.

    0/1, true/false words and a two-valued column with one value that says bad (违约,
    default, 是, ...) are read without help; otherwise ``bad_value`` must say which value
    is bad.

    Raises
    ------
    UsageError
        The column has more than two values, or which one is bad cannot be told.
    """
    text: list[str | None] = [
        None if pd.isna(v) else (unicodedata.normalize("NFKC", str(v)).strip() or None)
        for v in values.to_numpy(dtype=object)
    ]
    distinct = sorted({t for t in text if t is not None})
    shown = ", ".join(repr(v) for v in distinct[:6])
    if bad_value is not None:
        wanted = unicodedata.normalize("NFKC", bad_value).strip().casefold()
        if wanted not in {v.casefold() for v in distinct}:
            raise UsageError(
                f"--bad-value {bad_value!r} is not a value of --target {header!r}",
                hint=f"its values: {shown}",
            )
        if len(distinct) > 2:
            raise UsageError(
                f"--target {header!r} holds {len(distinct)} values ({shown}); a target has "
                "two: the outcome to predict (bad) and the rest (good)",
                hint="make a 0/1 column, e.g. 1 for defaulted and 0 otherwise",
            )
        return _coded(text, lambda t: t.casefold() == wanted), bad_value
    if len(distinct) != 2:
        raise UsageError(
            f"--target {header!r} holds {len(distinct)} distinct value(s) ({shown}); a target "
            "needs two, the bad outcome and the good one",
            hint="pick the 0/1 outcome column, e.g. --target 违约",
        )
    numeric = _as_numbers(distinct)
    if numeric is not None and set(numeric) == {0.0, 1.0}:
        bad_text = distinct[numeric.index(1.0)]
    else:
        flagged = [v for v in distinct if v.casefold() in BAD_WORDS]
        if len(flagged) != 1:
            raise UsageError(
                f"cannot tell which value of --target {header!r} is the bad outcome: {shown}",
                hint=f"pass --bad-value, e.g. --bad-value {distinct[0]!r}",
            )
        bad_text = flagged[0]
    return _coded(text, lambda t: t == bad_text), bad_text


def _coded(text: list[str | None], is_bad: Callable[[str], bool]) -> np.ndarray:
    """1.0 where bad, 0.0 where good, NaN where blank."""
    return np.array([np.nan if t is None else float(is_bad(t)) for t in text], dtype=float)


def _as_numbers(values: Sequence[str]) -> list[float] | None:
    try:
        return [float(v) for v in values]
    except ValueError:
        return None


def table_labels(
    frame: pd.DataFrame, target: str, header: str, bad_value: str | None
) -> tuple[pd.DataFrame, str]:
    """Labels (``customer_id``, ``bad``) from the cleaned table's target column; rows with
    a blank target are left out (unlabelled)."""
    coded, bad_text = target_coding(frame[target], header, bad_value)
    labels = pd.DataFrame({ID_NAME: frame[ID_NAME].to_numpy(), "bad": coded})
    labels = labels[~np.isnan(coded)]
    labels["bad"] = labels["bad"].astype(int)
    return labels, bad_text


def table_sources(model: LoadedModel, data: str | os.PathLike[str]) -> tuple[Path, SourcesConfig]:
    """The folder and sources config to read ``data`` (a table file) with, for a model
    trained on a flat table: the model's own sources config pointed at the file."""
    path = split_sheet(data)[0]
    info = model.card.get(TABLE_CARD_KEY) or {}
    if not path.exists():
        raise UsageError(
            f"{path} does not exist; model {model.model_id} was trained on a flat table "
            f"({info.get('file', '?')}) and reads a table file of that layout",
            hint="check the path (e.g. next_month.csv)",
        )
    if not path.is_file():
        raise UsageError(
            f"model {model.model_id} was trained on a flat table ({info.get('file', '?')}): "
            f"pass a table file, not the folder {path}",
            hint="e.g. next_month.csv (a CSV, Excel or Parquet file of the table's layout)",
        )
    _warn_protected(model)
    # (book.xlsx#2026年10月: that sheet, not the saved one's)
    folder, config = file_as_source(Path(data), model_table_config(model))
    spec = config.sources[CUSTOMER_SOURCE]
    outcomes = frozenset(c["name"] for c in info.get("columns", ()) if c["role"] == "target")
    # (the columns the layout ignored, 序号 or 民族, are no news in every month's warnings)
    ignored = frozenset(c["header"] for c in info.get("columns", ()) if c["role"] == "ignored")
    spec = dataclasses.replace(spec, outcome_columns=outcomes, left_out=spec.left_out | ignored)
    spec = _scaled_headers(spec, Path(data))
    return folder, dataclasses.replace(
        config, sources=MappingProxyType({**config.sources, CUSTOMER_SOURCE: spec})
    )


def _scaled_headers(spec: SourceSpec, data: Path) -> SourceSpec:
    """``spec`` reading a header that names one of its amounts in another unit as that
    amount, scaled: a model trained on ``年收入`` scoring a table whose header is
    ``年收入(万元)`` (or ``年收入（万元）``, ``annual_income(万元)``, ``月收入``) reads it
    as ``annual_income`` × 10,000 (× 12), rather than leave the income blank and the
    header ignored; said as a note. Only when the table lacks the model's own header."""
    header = read_export(
        data, delimiter=spec.delimiter, encoding=spec.encoding, columns={}, max_rows=1
    ).header
    matcher = HeaderMatcher(spec.rename)
    present = {spec.rename[found] for h in header if (found := matcher.find(h)) is not None}
    present |= {h for h in header if h in spec.column_names}
    by_name = {c.name: c for c in spec.columns}
    rename, columns = dict(spec.rename), dict(by_name)
    for h in header:
        if matcher.find(h) is not None or h in spec.column_names:
            continue
        scaled = scaled_field(h)
        if scaled is None and (name := canonical_name(h)) in AMOUNTS:
            scaled = ScaledField(name, 1, "in 元")
        col = by_name.get(scaled.name) if scaled is not None else None
        if scaled is None or col is None or scaled.name in present:
            continue
        if col.type not in ("float", "int"):
            continue
        was = next((k for k, v in spec.rename.items() if v == col.name), col.name)
        factor = None if scaled.scale == 1 else float(scaled.scale)
        rename[h] = col.name
        columns[col.name] = dataclasses.replace(col, type="float", scale=factor)
        present.add(col.name)
        log.warning(
            "%s: column %r read as the model's %r (%s)%s",
            mask_pii_text(data.name),
            h,
            was,
            col.name,
            f" × {scaled.scale:,} ({scaled.why})" if factor else " (in 元)",
            extra=NOTE,
        )
    if rename == spec.rename:
        return spec
    return dataclasses.replace(
        spec,
        rename=MappingProxyType(rename),
        columns=tuple(columns[c.name] for c in spec.columns),
    )


def model_table_config(model: LoadedModel) -> SourcesConfig:
    """The sources config of a model trained on a flat table (its ``sources.yaml``), each
    category column given the categories the model was fitted on (``known_values``), so
    that 華南 in a table or a request written in traditional characters is read as the
    model's 华南 (a repair) rather than as a category it has never seen."""
    file = str(model.ref.path / TABLE_SOURCES_FILE)
    config = parse_sources_config(model.file_text(TABLE_SOURCES_FILE), file)
    fitted = model.card.get("model") or {}
    known: dict[str, tuple[str, ...]] = {}
    for name, binned in (fitted.get("bins") or {}).items():  # a scorecard's
        categories = binned.get("categories") if isinstance(binned, dict) else None
        if isinstance(categories, dict) and categories:
            known[name] = tuple(str(c) for c in categories)
    for name, codes in (fitted.get("category_codes") or {}).items():  # a tree's
        if isinstance(codes, dict):
            known[name] = tuple(str(c) for c in codes if c not in (OTHER, MISSING))
    spec = config.sources[CUSTOMER_SOURCE]
    columns = tuple(
        dataclasses.replace(c, known_values=known[c.name])
        if c.type == "category" and c.name in known
        else c
        for c in spec.columns
    )
    if columns == spec.columns:
        return config
    spec = dataclasses.replace(spec, columns=columns)
    return dataclasses.replace(
        config, sources=MappingProxyType({**config.sources, CUSTOMER_SOURCE: spec})
    )


def _warn_protected(model: LoadedModel) -> None:
    """Say when a model trained before protected attributes were left out (宗教信仰, 民族,
    ...: :data:`custrisk.data.infer_columns.PROTECTED_ATTRIBUTES`) scores on one."""
    used = set(model.card.get("features", []))
    found = [
        f"{header} ({what})"
        for code, header in table_feature_headers(model).items()
        if code in used and (what := protected_attribute(str(header))) is not None
    ]
    if found:
        log.warning(
            "model %s scores on a protected attribute, which a credit decision must not "
            "rest on: %s; train it again on the table (custrisk train TABLE --target ...), "
            "which leaves such columns out",
            model.model_id,
            ", ".join(found),
        )


def table_target(model: LoadedModel, frame: pd.DataFrame) -> pd.DataFrame:
    """Labels (``customer_id``, ``bad``) from a scored table's target column, coded as
    in training.

    Raises
    ------
    DataError
        The table has no target column (or only blanks in it).
    """
    info = model.card[TABLE_CARD_KEY]
    target = next(c for c in info["columns"] if c["role"] == "target")
    name, header = target["name"], target["header"]
    if name not in frame.columns or frame[name].isna().all():
        raise DataError(
            f"the table has no outcomes in its target column {header!r}",
            hint="measure the model on a table with the outcome column, or pass --labels",
        )
    labels, _ = table_labels(frame, name, header, str(info["target_bad_value"]))
    return labels


def table_feature_headers(model: LoadedModel) -> dict[str, str]:
    """``{feature code: the table's header}`` of a model trained on a flat table (a date
    column's feature is its age in days, ``<name>_days``)."""
    columns = (model.card.get(TABLE_CARD_KEY) or {}).get("columns", [])
    return {
        f"{c['name']}_days" if c["type"] == "date" else c["name"]: c["header"]
        for c in columns
        if c["role"] == "feature"
    }


def is_table_model(model: LoadedModel) -> bool:
    return TABLE_CARD_KEY in model.card


def check_exports_input(model: LoadedModel, data: str | os.PathLike[str]) -> None:
    """Refuse a table file for a model trained on exports (with the fix)."""
    if Path(data).is_file():
        raise UsageError(
            f"model {model.model_id} was trained on exports (a folder with credit.csv and "
            f"the other files); {Path(data).name} is a single file",
            hint="pass the folder of the month's exports, or train a model on the table "
            "with custrisk train TABLE --target COLUMN",
        )


#: The columns a table without a feature names, each with why it is none.
_COLUMNS_SHOWN = 8


def infer_for_training(
    path: str | os.PathLike[str],
    target: str,
    *,
    id_column: str | None = None,
    encoding: str | None = None,
) -> TableConfigs:
    """Infer a training table's layout and its configs."""
    schema = infer_table(path, target=target, id_column=id_column, encoding=encoding)
    if not schema.features:
        shown = [
            f"{c.header[:40]}: {c.reason if c.role in ('ignored', 'pii') else c.role}"
            for c in schema.columns[:_COLUMNS_SHOWN]
        ]
        more = len(schema.columns) - _COLUMNS_SHOWN
        raise DataError(
            "no column of the table can be a feature ("
            + "; ".join(shown)
            + (f"; and {more:,} more" if more > 0 else "")
            + ")",
            file=str(path),
            hint="add numeric or categorical columns (numbers with a decimal point, not a "
            "decimal comma)",
        )
    return table_configs(schema)


def learnt_directions(X: pd.DataFrame, y: np.ndarray) -> dict[str, str]:
    """The risk direction of each numeric feature, learnt from the labelled rows: the sign
    of its rank correlation with the outcome where that is clear (|Spearman rho| at least
    0.02 and beyond 2 standard errors), else ``none`` (also for categories)."""
    out = {}
    for code in X.columns:
        column = X[code]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            out[code] = "none"
            continue
        values = column.to_numpy(dtype="float64", na_value=np.nan)
        present = ~np.isnan(values)
        if present.sum() < 10:
            out[code] = "none"
            continue
        ranks = pd.Series(values[present]).rank().to_numpy()
        target = pd.Series(y[present].astype(float)).rank().to_numpy()
        rho = float(np.corrcoef(ranks, target)[0, 1]) if ranks.std() and target.std() else 0.0
        clear = abs(rho) >= 0.02 and abs(rho) * np.sqrt(max(present.sum() - 1, 1)) >= 2
        out[code] = ("higher_is_riskier" if rho > 0 else "higher_is_safer") if clear else "none"
    return out


def table_fields_hint(
    data: str | os.PathLike[str], lacking: frozenset[str], lang: str = "zh"
) -> str:
    """For a flat table: the headers its columns would need for the limit rules that
    were skipped to read the customer fields they lack (``年收入`` is taken as
    ``annual_income``), as the end of the note that says so; ``""`` for exports, or
    when no lacking name is such a field. In English the field's own name, which is a
    header too, comes first (``credit_limit (or 授信额度)``)."""
    if not is_table(data):
        return ""
    named = {n: h for n in sorted(lacking & set(CUSTOMER_FIELDS)) if (h := chinese_header(n))}
    if not named:
        return ""
    shown = "{h} ({n})" if lang == "zh" else "{n} (or {h})"
    headers = ", ".join(shown.format(h=h, n=n) for n, h in named.items())
    return (
        f". Columns headed {headers} are read as those fields: train the model on a table "
        "that has them"
    )
