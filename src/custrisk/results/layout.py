"""The layout of a scoring run: its files' names, the columns of its tables and where each
file lives (:class:`RunFiles`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.io.atomic import output_format
from custrisk.protect.envelope import SUFFIX, plain_name

#: Version of this file layout, recorded in the facts: 2 since the facts hold the SHA-256
#: of each of their fields (:data:`FACTS_DIGESTS`).
LAYOUT_VERSION = 2


#: Layouts :func:`read_run` reads: 1 (the previous release) has no digests of its facts
#: and is read without that check.
READABLE_LAYOUTS = (1, LAYOUT_VERSION)


#: The field of the facts holding the SHA-256 of each other field (its canonical JSON).
FACTS_DIGESTS = "facts_sha256"


#: The field of the facts holding the run's language (``zh`` or ``en``: its labels and
#: messages), which the commands reading the run default to; a run without it (written
#: before it was recorded) is :data:`DEFAULT_LANG`.
LANG_FACT = "lang"
DEFAULT_LANG = "zh"


#: Beside the scores file ``<stem>.csv``: ``<stem>`` + these suffixes.
DETAILS_SUFFIX = ".details.parquet"


#: The name of each part of a table written as parts (e.g. ``scores.details.parquet/``).
TABLE_PART = "part-{:05d}.parquet"


DETAILS_PART = TABLE_PART


#: The folder of the scores written as parts: the scores file's stem + this suffix.
SCORES_PARTS_SUFFIX = ".parquet"


FACTS_SUFFIX = ".run.json"


REJECTS_SUFFIX = ".rejects.csv"


#: The alerts file, in the folder of the scores file.
ALERTS_FILE = "alerts.csv"


#: The alerts closed since the previous run, beside the alerts file.
CLOSED_FILE = "alerts.closed.csv"


#: The follow-up plan (回访计划), in the folder of the scores file.
FOLLOWUPS_FILE = "followups.csv"


#: The follow-up plan written as parts (a folder), in the folder of the scores file.
FOLLOWUPS_PARTS = "followups.parquet"


#: A run folder's PDF reports (``customer_<id>.pdf``, ``portfolio.pdf``): where
#: ``custrisk run`` renders them and where ``custrisk notify`` looks for them.
REPORTS_DIR = "reports"


#: The lock of an output folder, and the prefix of its staging folders.
LOCK_FILE = ".custrisk.lock"


STAGE_PREFIX = ".custrisk-stage-"


#: The parts of a run, in the order they are written.
PARTS = ("scores", "details", "alerts", "rejects", "closed", "followups")


#: Parts a run may lack: rejects when no row was rejected, closed without a previous run,
#: followups in a run written before follow-up plans.
OPTIONAL_PARTS = ("rejects", "closed", "followups")


#: The parts of a run that may be written as a folder of parts (:class:`TableParts`):
#: the tables of one row per customer.
PARTED_TABLES = ("scores", "details", "followups")


#: A worksheet's row limit, which tables written as parts are meant to exceed.
SHEET_ROWS = 1_048_576


#: Columns of the alerts table, in order.
ALERT_COLUMNS = (
    "customer_id",
    "as_of",
    "grade",
    "code",
    "level",
    "level_zh",
    "message_zh",
    "message_en",
    "actions_zh",
    "actions_en",
    "owner",
    "response_hours",
    "due_by",
    "status",
    "since",
)


#: Lifecycle of an alert across periods (column ``status``): first seen this period, or
#: fired in the previous period too and still holds. ``since`` is the as-of date of the
#: first period in a row that it fired.
ALERT_STATUSES = ("new", "ongoing")


NEW_ALERT, ONGOING_ALERT = ALERT_STATUSES


#: Columns an alerts file written before the lifecycle lacks (read as empty).
LIFECYCLE_COLUMNS = ("status", "since")


#: Columns of the closed alerts (``alerts.closed.csv``).
CLOSED_COLUMNS = (
    "customer_id",
    "as_of",
    "code",
    "level",
    "level_zh",
    "owner",
    "since",
    "last_as_of",
    "last_message_zh",
    "last_message_en",
    "reason",
)


#: Why an alert closed: the rule no longer holds, or the customer left the portfolio.
CLOSED_REASONS = ("resolved", "departed")


#: Columns of the follow-up plan, in order.
FOLLOWUP_COLUMNS = (
    "customer_id",
    "as_of",
    "name_masked",
    "grade",
    "review_frequency",
    "days_since_last_follow_up",
    "reason",
    "reason_zh",
    "open_alerts",
    "alert_level",
    "owner",
    "preferred_channel",
    "due_date",
)
#: Columns a follow-up plan written by an earlier version lacks (filled in when read:
#: ``reason_zh`` from ``reason``).
FOLLOWUP_ADDED_COLUMNS = ("reason_zh",)
#: Columns every follow-up plan has.
FOLLOWUP_REQUIRED = tuple(c for c in FOLLOWUP_COLUMNS if c not in FOLLOWUP_ADDED_COLUMNS)


#: Columns the policy adds to the scores table, after ``score``.
POLICY_COLUMNS = (
    "grade",
    "grade_label",
    "current_limit",
    "recommended_limit",
    "limit_change",
    "review_flag",
    "alert_level",
    "alert_codes",
)
#: Columns added after :data:`POLICY_COLUMNS` when a previous run is given.
CHANGE_COLUMNS = (
    "prev_score",
    "score_change",
    "prev_grade",
    "grade_change",
    "prev_recommended_limit",
    "recommended_limit_change",
)


#: Scores columns that hold numbers.
SCORES_NUMERIC = ("pd", "score", "current_limit", "recommended_limit", "limit_change")


SCORES_REQUIRED = ("customer_id", "pd", "score")


#: Indicator columns of the details: this prefix + the indicator code.
INDICATOR_PREFIX = "ind__"


#: Credit fields copied into the details.
CREDIT_DETAIL_COLUMNS = (
    "region",
    "industry",
    "customer_since",
    "annual_income",
    "credit_limit",
    "outstanding_balance",
    "overdue_amount",
)


#: Personal-data columns: the details hold only their masked form (``<column>_masked``).
PII_COLUMNS = ("name", "phone", "id_number")


MASKED_COLUMNS = tuple(f"{c}_masked" for c in PII_COLUMNS)


DETAILS_NUMERIC = ("annual_income", "credit_limit", "outstanding_balance", "overdue_amount")


def details_of(
    details: pd.DataFrame, ids: pd.Series, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """The row of ``details`` (its ``columns``, default all) of each customer of ``ids``,
    in their order, with a range index: the first row of a customer held twice, blank
    for a customer without one. Taken as they are when the details hold those customers
    in that order, as a run's do (no hashing of every customer's id twice)."""
    frame = details if columns is None else details.loc[:, list(columns)]
    if _same_keys(details["customer_id"], ids):
        return frame.reset_index(drop=True)
    keyed = frame.set_index(details["customer_id"].astype("str"))
    return keyed.loc[~keyed.index.duplicated()].reindex(ids.to_numpy()).reset_index(drop=True)


def holds_repeats(ids: pd.Series) -> bool:
    """Whether a text column holds a value twice (a missing one counts, as in
    ``Series.duplicated``). Ids that rise or fall strictly from row to row are distinct:
    a run's customers come in the credit table's order, usually their ids', and one
    comparison of neighbours replaces hashing every id."""
    if isinstance(ids.dtype, pd.StringDtype) and len(ids) > 1 and not ids.hasnans:
        text = pa.array(ids.array)
        before, after = text[:-1], text[1:]
        if pc.all(pc.less(before, after)).as_py() or pc.all(pc.greater(before, after)).as_py():
            return False
    return bool(ids.duplicated().any())


def _same_keys(left: pd.Series, right: pd.Series) -> bool:
    """Whether two text columns hold the same keys in the same order, none missing."""
    if len(left) != len(right) or not all(
        isinstance(s.dtype, pd.StringDtype) for s in (left, right)
    ):
        return False
    return bool(pc.all(pc.equal(pa.array(left), pa.array(right)), skip_nulls=False).as_py())


def alert_table(alerts: pd.DataFrame) -> pd.DataFrame:
    """The alerts in the columns of the alerts file (:data:`ALERT_COLUMNS`); the
    lifecycle columns left empty when a table has none (alerts made without one)."""
    missing = [c for c in LIFECYCLE_COLUMNS if c not in alerts.columns]
    if missing:
        alerts = alerts.assign(**dict.fromkeys(missing, ""))
    return alerts.loc[:, list(ALERT_COLUMNS)]


@dataclass(frozen=True)
class RunFiles:
    """Where the files of a run live, from the path of its scores file."""

    scores: Path
    details: Path
    alerts: Path
    rejects: Path
    facts: Path
    closed: Path
    workbook: Path | None = None  # with --out scores.xlsx: the workbook beside the CSV
    followups: Path | None = None

    @property
    def folder(self) -> Path:
        return self.scores.parent

    def part(self, name: str) -> Path:
        return {
            "scores": self.scores,
            "details": self.details,
            "alerts": self.alerts,
            "rejects": self.rejects,
            "closed": self.closed,
            "followups": self.followups or self.folder / FOLLOWUPS_FILE,
        }[name]

    def parts_folder(self, name: str) -> Path:
        """Where the part ``name`` (one of :data:`PARTED_TABLES`) goes when written as
        parts: ``scores.parquet/`` (the scores file's stem, whatever its extension),
        ``scores.details.parquet/``, ``followups.parquet/``."""
        return {
            "scores": self.scores.with_suffix(SCORES_PARTS_SUFFIX),
            "details": self.details,
            "followups": self.folder / FOLLOWUPS_PARTS,
        }[name]

    def forms(self, name: str) -> list[Path]:
        """Every name the part ``name`` may have on disk: its file, the file encrypted
        (``.enc``) and, for a table that may be written as parts, its folder (an earlier
        run may have left any of them)."""
        paths = [*both_forms(self.part(name))]
        if name in PARTED_TABLES:
            paths += both_forms(self.parts_folder(name))
        return list(dict.fromkeys(paths))


def run_files(scores: str | os.PathLike[str]) -> RunFiles:
    """The files of the run whose scores file is ``scores`` (a workbook ``x.xlsx``: the
    run ``x.csv`` & co. with the workbook beside it)."""
    path = plain_name(scores)  # scores.csv.enc: the run of scores.csv, encrypted
    workbook = None
    if output_format(path) == "xlsx":
        workbook, path = path, path.with_suffix(".csv")
    stem = path.with_suffix("")
    return RunFiles(
        scores=path,
        details=stem.with_name(stem.name + DETAILS_SUFFIX),
        alerts=path.with_name(ALERTS_FILE),
        rejects=stem.with_name(stem.name + REJECTS_SUFFIX),
        facts=stem.with_name(stem.name + FACTS_SUFFIX),
        closed=path.with_name(CLOSED_FILE),
        workbook=workbook,
        followups=path.with_name(FOLLOWUPS_FILE),
    )


def temp_pattern(target: Path) -> str:
    """The glob of the temporary files :func:`custrisk.io.atomic.atomic_path` makes for
    ``target``."""
    return f".{glob_escape(target.name)}.*.tmp"


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def both_forms(path: Path) -> tuple[Path, Path]:
    """A run file's plain and encrypted names."""
    plain = plain_name(path)
    return plain, plain.with_name(plain.name + SUFFIX)


#: How messages name the tables that may be written as parts.
TABLE_LABELS = {"scores": "scores", "details": "details", "followups": "follow-up plan"}


#: The key of the workbook in the facts' file list.
WORKBOOK = "workbook"
