"""A labels (outcomes) file loaded and cleaned by the sources config's ``labels`` spec
(headers the header dictionary knows read for its missing required columns), and its
rejected rows summarised, told apart from blanked values, and refused when none is
left.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import replace
from types import MappingProxyType

import pandas as pd

from custrisk.config.sources import SourcesConfig, SourceSpec, load_sources_config
from custrisk.data.clean import clean_source
from custrisk.data.exports import read_export
from custrisk.data.files import read_options
from custrisk.data.headers import canonical_name
from custrisk.data.issues import BLANKED, DROPPED, RULE_TEXT
from custrisk.data.rejects import mask_rejects
from custrisk.data.workspace import identifiers
from custrisk.errors import DataError
from custrisk.io.plain import path_argument
from custrisk.io.readers import RawTable
from custrisk.protect.pseudonym import active_pseudonymiser

log = logging.getLogger(__name__)


def load_labels(
    path: str | os.PathLike[str],
    *,
    config: SourcesConfig | str | os.PathLike[str] | None = None,
    encoding: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Load a labels file (customer_id, bad[, label_date]): the clean rows and the rejects."""
    path = path_argument(path, "labels", hint="pass the labels file (customer_id, bad)")
    cfg = config if isinstance(config, SourcesConfig) else load_sources_config(config)
    encoding = cfg.labels.encoding or encoding
    table: RawTable = read_export(path, **read_options(cfg.labels, cfg), encoding=encoding)
    spec = _labels_by_dictionary(cfg.labels, table)
    if spec is not cfg.labels:  # (a labels file is small: read again with the headers)
        table = read_export(path, **read_options(spec, cfg), encoding=encoding)
        cfg = replace(cfg, labels=spec)
    if table.records == 0:
        raise DataError(
            "has a header but no data rows",
            file=str(path),
            hint="a labels file needs customer_id,bad rows",
        )
    result = clean_source(cfg.labels, [table], cfg)
    active = active_pseudonymiser()
    if active is None:
        return result.frame, result.issues
    frame = active.frame(result.frame, identifiers(cfg.labels))
    active.save()
    return frame, mask_rejects(result.issues, cfg).assign(value="")


def _labels_by_dictionary(spec: SourceSpec, table: RawTable) -> SourceSpec:
    """The labels spec with the file's headers the header dictionary knows for the
    columns it lacks (是否违约 is ``bad``, 客户ID is ``customer_id``: an outcomes table
    of the analyst's own, a flat table with its outcome) added to its rename; ``spec``
    itself when nothing is missing or nothing is found. Said as a warning: the outcome
    is read from a column the config does not name."""
    present = {spec.rename.get(name, name) for name in table.table.column_names}
    missing = {c.name for c in spec.columns} - present
    found: dict[str, str] = {}
    for header in table.unmatched:
        name = canonical_name(header)
        if name in missing and name not in found.values():
            found[header] = name
    if not found or not {c.name for c in spec.columns if c.required} & {*found.values()}:
        return spec  # (only for a required column: optional outcomes stay as configured)
    log.warning(
        "%s: read %s (the header dictionary; name them under labels: rename in the sources "
        "config to choose otherwise)",
        table.shown_name,
        ", ".join(f"{header} as {name}" for header, name in found.items()),
    )
    return replace(spec, rename=MappingProxyType({**spec.rename, **found}))


def label_rejects_summary(rejects: pd.DataFrame, limit: int = 3) -> str:
    """The rejected label rows by column and rule, most first, with one value each
    (labels hold outcomes, not personal data): ``bad: not a number: 3 rows, e.g. 'x'``."""
    groups = rejects.assign(column=rejects["column"].fillna("")).groupby(
        ["column", "rule"], sort=False
    )
    sized = sorted(
        ((int(g["line"].nunique()), col, rule, g) for (col, rule), g in groups),
        key=lambda item: -item[0],
    )
    parts = []
    for n, col, rule, group in sized[:limit]:
        said = group["message"].dropna() if "message" in group else pd.Series()
        text = str(said.iloc[0]) if len(said) else RULE_TEXT.get(str(rule), str(rule))
        what = f"{col}: {text}" if col else text
        value = group["value"].dropna().astype(str)
        value = value[value.str.strip() != ""]
        example = f", e.g. {str(value.iloc[0])[:20]!r}" if col == "bad" and len(value) else ""
        parts.append(f"{what}: {n:,} row{'s' if n != 1 else ''}{example}")
    if len(sized) > limit:
        parts.append(f"{len(sized) - limit} more kinds")
    return "; ".join(parts)


def label_faults(rejects: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The issues of a labels file split into the rows dropped (a bad outcome that is no
    outcome, a repeated id) and the values blanked (an optional outcome or date that is
    none: unknown, the row kept)."""
    if not len(rejects):
        return rejects, rejects
    dropped = rejects["action"].astype(str).eq(DROPPED).to_numpy()
    # (a value blanked on a row dropped for another reason is no loss of its own)
    blanked = (
        rejects["message"].astype(str).str.endswith(BLANKED).to_numpy()
        & ~rejects["line"].isin(rejects.loc[dropped, "line"]).to_numpy()
    )
    return rejects[dropped], rejects[blanked]


def require_labels(
    frame: pd.DataFrame, rejects: pd.DataFrame, path: str | os.PathLike[str]
) -> None:
    """Refuse a labels (outcomes) file none of whose rows survived cleaning, saying why
    the rows were rejected (rather than letting a caller report no id in common)."""
    rejects, _ = label_faults(rejects)
    if len(frame) or not len(rejects):
        return
    rejected = int(rejects["line"].nunique())
    raise DataError(
        f"no usable label: every one of the {rejected:,} label rows was rejected "
        f"({label_rejects_summary(rejects)})",
        file=str(path),
        hint="bad must be 1 (bad) or 0 (good), or a word the sources config's "
        "labels.columns.bad.recode maps onto them (是/否, Y/N, yes/no, true/false)",
    )


def without_outcomes_known_at(
    frame: pd.DataFrame, as_of: dt.date, file: str | os.PathLike[str]
) -> pd.DataFrame:
    """The labels without the bad outcomes (``bad_date``) dated on or before the data's
    as-of date: customers already bad when the export was taken, whom a model neither
    learns from nor is judged on, left out with a warning. When they are most of the bad
    outcomes, the labels belong to an earlier export (last month's labels against this
    month's data): refused, as measuring a model on them mixes months silently."""
    if "bad_date" not in frame.columns or "bad" not in frame.columns:
        return frame
    dates = pd.to_datetime(frame["bad_date"], errors="coerce")
    bad = frame["bad"].fillna(0).astype("int64").to_numpy() == 1
    early = bad & dates.notna().to_numpy() & (dates <= pd.Timestamp(as_of)).to_numpy()
    count = int(early.sum())
    if not count:
        return frame
    first = dates[early].min().date().isoformat()
    said = (
        f"{count:,} of the {int(bad.sum()):,} bad outcomes have a bad_date on or before the "
        f"data's as-of date {as_of.isoformat()} (the earliest {first})"
    )
    if 2 * count <= int(bad.sum()):  # a few customers already bad at the as-of date
        log.warning("%s: %s: already bad then, left out", file, said)
        return frame[~early]
    raise DataError(
        f"{said}: they were known when the export was taken, so these are the labels of "
        "an earlier export",
        file=str(file),
        hint=f"use the labels of this export (outcomes after {as_of.isoformat()}), or the "
        "export these labels belong to",
    )
