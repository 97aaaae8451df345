"""What validation found: each source's report (rows in, kept, rejected and repaired,
rows per rule) and the workspace's, the warnings on a column most of whose values
one rule refused (with the date layout they are in), and what the scoring commands
ask of cleaned exports (:func:`require_usable`).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from custrisk.config.resources import is_packaged_config, recorded_config_path
from custrisk.config.sources import CUSTOMER_SOURCE, SourcesConfig, SourceSpec
from custrisk.data.clean import SourceResult
from custrisk.data.issues import DROPPED, FOREIGN_AMOUNT, SKIPPED, shown_units, unit_source
from custrisk.data.text import DECIMAL_COMMA_NUMBER
from custrisk.errors import CheckFailed, DataError
from custrisk.io.plain import brief_repr
from custrisk.privacy import mask_pii_text

REPORT_FILE = "validation_report.json"


@dataclass(frozen=True)
class SourceReport:
    """Counts for one source: rows in = rows kept + rows rejected + rows skipped."""

    name: str
    files: tuple[str, ...]
    encodings: tuple[str, ...]
    rows_in: int
    rows_kept: int
    rows_rejected: int
    rows_repaired: int
    rules: Mapping[str, Mapping[str, int]]  # rule -> {action: rows}
    warnings: tuple[str, ...] = ()
    #: Of the customer table: the customers none of whose rows was kept (not scored)
    customers_rejected: int = 0
    #: The report's own rows taken out (blank rows, totals, notes, its header repeated):
    #: listed in the rejects as ``skipped``, no bad data
    rows_skipped: int = 0
    #: The headers its files wrote otherwise than declared, by (file, column)
    #: (:attr:`SourceResult.headers`): for the rejects, not the report's JSON
    headers: Mapping[tuple[str, str], str] = field(default_factory=dict)

    @property
    def shown_files(self) -> str:
        """The names of the source's files, for messages (the source's name if none)."""
        return ", ".join(mask_pii_text(Path(f).name) for f in self.files) or self.name

    @property
    def dropped_by_rule(self) -> dict[str, int]:
        """The rows each rule dropped, for the rules that dropped any."""
        return {rule: a[DROPPED] for rule, a in self.rules.items() if a.get(DROPPED)}


@dataclass(frozen=True)
class ValidationReport:
    """What validation found in a workspace."""

    __repr__ = brief_repr  # a notebook prints it: sizes, never the tables' cells

    data_dir: str
    config: str
    sources: Mapping[str, SourceReport]
    absent: tuple[str, ...] = ()

    @property
    def rows_rejected(self) -> int:
        return sum(s.rows_rejected for s in self.sources.values())

    @property
    def written_headers(self) -> dict[tuple[str, str, str], str]:
        """The headers files wrote otherwise than declared, by (source, file, column):
        what :func:`~custrisk.data.rejects.rejects_to_write` shows for them."""
        return {
            (name, file, column): header
            for name, source in self.sources.items()
            for (file, column), header in source.headers.items()
        }

    @property
    def rows_repaired(self) -> int:
        return sum(s.rows_repaired for s in self.sources.values())

    @property
    def rows_skipped(self) -> int:
        return sum(s.rows_skipped for s in self.sources.values())

    @property
    def customers_rejected(self) -> int:
        """Customers in the customer table none of whose rows was kept: they are not
        scored, and their rows in other sources are rejected (``customer_rejected``)."""
        source = self.sources.get(CUSTOMER_SOURCE)
        return source.customers_rejected if source is not None else 0

    def customers_rejected_text(self) -> str | None:
        """``"4 customers of credit.csv are not scored: their rows were rejected"``, or
        ``None`` when every customer kept a row."""
        count = self.customers_rejected
        if not count:
            return None
        files = self.sources[CUSTOMER_SOURCE].shown_files
        if count == 1:
            return f"1 customer of {files} is not scored: its rows were rejected"
        return f"{count:,} customers of {files} are not scored: their rows were rejected"

    def require_no_rejects(self, rejects: str | os.PathLike[str]) -> None:
        """Raise :class:`~custrisk.errors.CheckFailed` (exit 1) when a row was rejected,
        counted per source, with the customers that leaves out, pointing to the
        ``rejects`` file written; nothing when no row was."""
        if not self.rows_rejected:
            return
        per_source = ", ".join(
            f"{name} {s.rows_rejected}" for name, s in self.sources.items() if s.rows_rejected
        )
        left_out = self.customers_rejected_text()
        raise CheckFailed(
            f"{self.rows_rejected:,} row{'s were' if self.rows_rejected > 1 else ' was'} "
            f"rejected ({per_source})" + (f"; {left_out}" if left_out else ""),
            hint=f"see {rejects} for each row and its reason",
        )

    @property
    def status(self) -> str:
        """``rejected`` when any row was dropped, else ``repaired`` or ``clean`` (a report's
        own rows skipped are no fault of the data)."""
        if self.rows_rejected:
            return "rejected"
        return "repaired" if self.rows_repaired else "clean"

    def require_customers(self) -> None:
        """:class:`DataError` when the customer table kept no row (every row rejected,
        or none in the file): there is nobody to compute indicators for or to score,
        and an empty table would pass for a month without customers."""
        source = self.sources.get(CUSTOMER_SOURCE)
        if source is None or source.rows_kept:
            return
        files = source.shown_files
        if source.rows_in == 0:
            said = f"{files} has no rows"
        else:
            taken = {
                rule: a.get(DROPPED, 0) + a.get(SKIPPED, 0) for rule, a in source.rules.items()
            }
            rules = ", ".join(f"{rule} {n:,}" for rule, n in taken.items() if n)
            n = source.rows_in
            every = "its one row was" if n == 1 else f"all {n:,} rows were"
            said = f"{files}: {every} rejected while cleaning ({rules})"
        raise DataError(
            f"no customer is left after cleaning: {said}",
            hint=f"run 'custrisk validate {self.data_dir}' to see each rejected row and its reason",
        )

    def to_dict(self) -> dict[str, Any]:
        # (rows_skipped only when some were: the report of an export without a report's
        # own rows is as it was)
        skipped = {"rows_skipped": self.rows_skipped} if self.rows_skipped else {}
        return {
            "status": self.status,
            "data_dir": self.data_dir,
            "config": recorded_config_path(self.config),
            "rows_rejected": self.rows_rejected,
            "rows_repaired": self.rows_repaired,
            **skipped,
            "customers_rejected": self.customers_rejected,
            "absent_sources": list(self.absent),
            "sources": {
                name: {
                    "files": [mask_pii_text(f) for f in s.files],
                    "encodings": list(s.encodings),
                    "rows_in": s.rows_in,
                    "rows_kept": s.rows_kept,
                    "rows_rejected": s.rows_rejected,
                    "rows_repaired": s.rows_repaired,
                    **({"rows_skipped": s.rows_skipped} if s.rows_skipped else {}),
                    "rules": {rule: dict(actions) for rule, actions in s.rules.items()},
                    "warnings": list(s.warnings),
                }
                for name, s in self.sources.items()
            },
        }


#: A source is judged on the share of its rows rejected from this many rows on: in a
#: handful of rows a few faults are a large share and still a normal month.
REJECTS_JUDGED_FROM = 20


def require_usable(
    report: ValidationReport, config: SourcesConfig, rejects: pd.DataFrame | None = None
) -> None:
    """What the scoring commands ask of cleaned exports before they compute anything
    (``validate`` only reports): customers left (:meth:`ValidationReport.require_customers`),
    and no source that lost more than its ``max_rejected_share`` of rows while cleaning.

    A date format of the export's own rejects every transaction; scored, the few rows
    left (or none) would pass for the month and every customer would look inactive. The
    message names the rule that rejected most rows, its column and (unless personal data)
    a value, from ``rejects`` when given.

    Raises
    ------
    DataError
        Naming the file, the counts, the share, the main rule and how to fix it.
    """
    report.require_customers()
    for name, source in report.sources.items():
        spec = config.sources.get(name)
        if spec is None or source.rows_in < REJECTS_JUDGED_FROM:
            continue
        if source.rows_rejected <= spec.max_rejected_share * source.rows_in:
            continue
        dropped = source.dropped_by_rule
        rule = max(dropped, key=lambda r: dropped[r]) if dropped else None
        most = (
            f", most as {rule} ({dropped[rule]:,}{_example(rejects, spec, rule)})" if rule else ""
        )
        fix = (  # the packaged config is part of the installed package: not to edit
            "then fix the export, or give a sources config of your own with --sources "
            "(custrisk init DATA --out DIR proposes one) with date_formats, rename, ... or "
            f"sources.{name}.max_rejected_share (1 turns the check off)"
            if is_packaged_config(config.path)
            else f"then fix the export or the sources config ({config.path}: date_formats, "
            f"rename, ...); or set sources.{name}.max_rejected_share (1 turns the check off)"
        )
        raise DataError(
            f"{source.rows_rejected:,} of {source.rows_in:,} rows "
            f"({source.rows_rejected / source.rows_in:.0%}; max_rejected_share "
            f"{spec.max_rejected_share:g}) were rejected while cleaning{most}; scored, the "
            f"{source.rows_kept:,} rows left would stand for the whole month",
            file=source.shown_files,
            hint=f"run 'custrisk validate {report.data_dir}' to see each row and its reason, "
            + fix,
        )


def _example(rejects: pd.DataFrame | None, spec: SourceSpec, rule: str) -> str:
    """`` in column txn_date, e.g. '10/31/2026'``: a rule's first rejected row (no value
    of a personal-data column)."""
    if rejects is None or not len(rejects):
        return ""
    rows = rejects[(rejects["source"] == spec.name) & (rejects["rule"] == rule)]
    if not len(rows) or not isinstance(rows["column"].iloc[0], str) or not rows["column"].iloc[0]:
        return ""
    column = str(rows["column"].iloc[0])
    declared = next((c for c in spec.columns if c.name == column), None)
    if declared is not None and declared.pii:
        return f" in column {column}"
    value = str(rows["value"].iloc[0])
    shown = value if len(value) <= 40 else value[:40] + "…"
    return f" in column {column}, e.g. {shown!r}"


#: Date layouts exports write that the packaged date_formats do not hold, tried in this
#: order to name the one an unreadable date column is in (day first before month first,
#: as outside the US).
DATE_LAYOUTS = (
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y.%m.%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d-%b-%Y",
    "%d %b %Y",
    "%b %d, %Y",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y%m%d%H%M%S",
)


def date_layouts_of(values: Sequence[str]) -> tuple[str, ...]:
    """The first of :data:`DATE_LAYOUTS` that reads every one of ``values`` (a sample of
    a column's unreadable dates), or none; two when it reads day and month in one order
    and the other order reads every value too (05/06/2023: no value tells)."""
    shown = [v.strip() for v in values if v and v.strip()]
    if not shown:
        return ()
    for layout in DATE_LAYOUTS:
        if _reads_every(layout, shown):
            swapped = layout.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")
            year_last = "%m" in layout and not layout.startswith("%Y")
            if year_last and _reads_every(swapped, shown):
                return (layout, swapped)
            return (layout,)
    return ()


def _reads_every(layout: str, values: Sequence[str]) -> bool:
    try:
        for value in values:
            dt.datetime.strptime(value, layout)
    except ValueError:
        return False
    return True


#: What a column's values are not, and how to read them, by the rule that refused them
_UNREADABLE = {
    "invalid_date": (
        "dates in any of the date_formats",
        "add their layout to defaults.date_formats in the sources config "
        "(e.g. '%Y年%m月%d日', '%d/%m/%Y')",
    ),
    "invalid_number": (
        "numbers",
        "text in the cells (约, 左右, a unit other than 元, 万, 亿 or %) is not read: "
        "export the plain numbers",
    ),
    "invalid_int": ("whole numbers", "declare the column type float if it holds decimals"),
    "scientific_id": (
        "ids but numbers in scientific notation",
        "a spreadsheet stored the ids as numbers and cut their digits: export the column "
        "as text (in Excel, format it as Text before the ids are typed or pasted, or "
        "export from the system of record)",
    ),
    "invalid_bool": (
        "true/false words",
        "add them to defaults.true_values / false_values in the sources config",
    ),
    "excel_error": (
        "values but Excel errors or formulas never calculated",
        "a workbook a program wrote stores no results of its formulas: open it in Excel "
        "and save it, or export the values (an error such as #N/A is fixed in the workbook)",
    ),
}
#: A column is said to be unreadable when one rule refused at least this share of the
#: source's rows (and this many): a layout the config does not know, not a few typos
_UNREADABLE_SHARE, _UNREADABLE_ROWS = 0.5, 10


def unreadable_columns(
    issues: pd.DataFrame, rows_in: int, spec: SourceSpec | None = None
) -> list[str]:
    """The columns most of whose values one rule refused, each said once with the fix:
    every value is in the rejects, but a whole column blanked (or every row rejected) is
    a config that does not fit the export. An example value is shown unless the column
    holds personal data (or the spec that would say so is not given)."""
    if not len(issues):
        return []
    found = issues[issues["rule"].isin(list(_UNREADABLE))]
    said = []
    for (column, rule), group in found.groupby(["column", "rule"], sort=False):
        bad = int(group.drop_duplicates(["file", "line"]).shape[0])
        if bad < _UNREADABLE_ROWS or bad < _UNREADABLE_SHARE * rows_in:
            continue
        what, fix = _UNREADABLE[str(rule)]
        col = next((c for c in spec.columns if c.name == column), None) if spec else None
        if rule == "invalid_date":
            layouts = date_layouts_of(group["value"].astype("str").head(200).tolist())
            if len(layouts) == 1:
                fix = (
                    f"they read as {layouts[0]!r}: add it to defaults.date_formats in the "
                    "sources config"
                )
            elif layouts:
                fix = (
                    f"they read as {layouts[0]!r} or as {layouts[1]!r} (no day over 12 "
                    "tells which): add the export's to defaults.date_formats in the "
                    "sources config"
                )
        elif rule == "invalid_number" and _decimal_commas(group["value"]):
            fix = (
                "they are numbers with a decimal comma (1.234,56): add decimal: ',' to the "
                "source in the sources config"
            )
        elif rule == "invalid_number" and (currency := _foreign_currency(group["message"])):
            # (not "export the plain numbers": those would be read as 元)
            fix = f"they are amounts in {currency}: convert them to 元 in the export"
        elif rule == "invalid_number" and col is not None and col.percent:
            fix = (
                "the column is written as percentages (16.3%) and these have no %: "
                "write them with it (39.2%), or retrain on the table as it is written now"
            )
        elif rule == "invalid_number" and col is not None and col.read_units:
            # (35岁 is read in an age: the unit is not the trouble; another unit is)
            fix = f"its numbers are read in {shown_units(col)}, {unit_source(col)}"
        pii = spec is None or (col is not None and col.pii)
        # (the first in the file, whichever engine cleaned the rows in which order)
        first = group.sort_values(["file", "line"], kind="stable")["value"].iloc[0]
        example = "" if pii else f" (e.g. {str(first)[:40]!r})"
        said.append(f"column {column}: {bad:,} of {rows_in:,} rows are not {what}{example}; {fix}")
    return said


_FOREIGN_SAID = re.compile(re.escape(FOREIGN_AMOUNT).replace(re.escape("{}"), "(.+?)"))


def _foreign_currency(messages: pd.Series) -> str | None:
    """The foreign currency most of a column's unreadable numbers (the first 200) are
    amounts in, as their messages name it; ``None`` when most are not."""
    found = [m[1] for v in messages.head(200) if (m := _FOREIGN_SAID.match(str(v)))]
    if not found or len(found) * 2 < min(len(messages), 200):
        return None
    return max(set(found), key=found.count)


def _decimal_commas(values: pd.Series) -> bool:
    """Whether most of a column's unreadable numbers (the first 200) have decimal commas."""
    shown = [str(v).strip() for v in values.head(200) if isinstance(v, str)]
    found = sum(1 for v in shown if DECIMAL_COMMA_NUMBER.fullmatch(v))
    return bool(shown) and found >= 0.95 * len(shown)


def source_report(result: SourceResult, spec: SourceSpec | None = None) -> SourceReport:
    """The report of a cleaned source (counts, rows per rule and action, warnings)."""
    rules: dict[str, dict[str, int]] = {}
    if len(result.issues):
        # Rows per rule and action (a row with two bad columns counts once per rule).
        counted = result.issues.drop_duplicates(["file", "line", "rule", "action"])
        sizes = counted.groupby(["rule", "action"]).size()
        for (rule, action), count in zip(sizes.index.tolist(), sizes.tolist(), strict=True):
            rules.setdefault(str(rule), {})[str(action)] = int(count)
    return SourceReport(
        name=result.name,
        files=tuple(result.files),
        encodings=tuple(result.encodings),
        rows_in=result.rows_in,
        rows_kept=result.rows_kept,
        rows_rejected=result.rows_rejected,
        rows_repaired=result.rows_repaired,
        rows_skipped=result.rows_skipped,
        rules={k: dict(sorted(v.items())) for k, v in sorted(rules.items())},
        warnings=(*result.warnings, *unreadable_columns(result.issues, result.rows_in, spec)),
        customers_rejected=len(result.rejected_keys) if result.rejected_keys is not None else 0,
        headers=dict(result.headers),
    )
