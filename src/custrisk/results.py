"""A scoring run's files: the one writer and the one reader.

``custrisk score --out DIR/scores.csv`` (or ``.parquet``) writes a run of five files:

==========================  =========================================================
``scores.csv``              the scores table: PD, score, grade, limits, reasons, alerts;
                            or the folder of parts ``scores.parquet/``
                            (:class:`TableParts`)
``scores.details.parquet``  per customer: masked identity, credit fields, every
                            indicator (``ind__<code>``), reason values and impacts; a
                            file, or a folder of parts of the same name
``alerts.csv``              the early-warning alerts, one row per rule that fired
``scores.rejects.csv``      rows rejected while cleaning (personal data masked); only
                            when there are any
``alerts.closed.csv``       with a previous run only: the alerts of the previous run
                            that no longer fire (closed since), one row per customer
                            and rule
``followups.csv``           the follow-up plan (回访计划); or the folder of parts
                            ``followups.parquet/``
``scores.run.json``         the run's facts, listing every other file with its SHA-256,
                            and the SHA-256 of each of its own fields (``facts_sha256``)
``scores.xlsx``             with ``--out scores.xlsx`` only: the workbook for people
                            (scores, alerts and summary sheets), beside the CSV
==========================  =========================================================

A workbook is an extra deliverable, not a new layout: ``--out scores.xlsx`` writes the
run as ``scores.csv`` & co. exactly as ``--out scores.csv`` would (same bytes, same run
id) plus ``scores.xlsx``, listed in the facts with its SHA-256. Readers keep reading the
CSV, which round-trips exactly; a workbook would not (Excel's types, its row limit), and
``read_run("scores.xlsx")`` reads the run it belongs to.

The per-customer tables (scores, details, follow-up plan) of millions of customers may be
written as parts while they are computed (:class:`TableParts`, the Dask engine): each is
then a folder of Parquet parts that Arrow, pandas, Spark and DuckDB read as one table,
listed part by part in the facts. Alerts, closed alerts and rejects stay single files.

The set is written as one unit: every file goes to a staging folder first, then the old
facts file is removed, the files are moved into place and the new facts file comes
last. Whatever moment a run is killed, the facts on disk either describe the files
beside them or are absent, and :func:`read_run` checks every file it reads against the
facts (SHA-256), so files of two runs are never read as one. The facts check themselves
the same way: each field's SHA-256 is recorded beside it (``facts_sha256``), so a fact
edited by hand (the as-of date, the model, a count) is refused, naming the field, rather
than read as the run's. A run of layout 1 (written before the facts held their own
hashes) is still read, without that check. A lock on the folder
refuses a second run into it while one is writing; temporary files and staging folders
left by a killed run are removed by the next.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from custrisk.config._yaml import join_limited
from custrisk.errors import DataError, UsageError
from custrisk.io.atomic import (
    DEFAULT_MODE,
    Sealer,
    active_group,
    active_sealer,
    ensure_dir,
    output_path,
    private,
    private_dir,
    sealing,
)
from custrisk.io.digest import sha256_file
from custrisk.io.excel_out import LEVEL_FILLS, Sheet, ramp, write_workbook, write_workbook_to
from custrisk.io.frame_csv import escaped_csv_bytes, write_escaped_csv
from custrisk.io.lock import exclusive_lock
from custrisk.io.parquet_out import write_parquet
from custrisk.io.safe_csv import READ_ENCODING, unescape_frame
from custrisk.io.safe_csv import csv_encoding as parse_csv_encoding
from custrisk.io.stop import Stopped, not_written
from custrisk.protect.audit import audit_event
from custrisk.protect.envelope import SUFFIX, plain_name
from custrisk.protect.output import encryption, existing, head_text, plain_bytes
from custrisk.protect.pseudonym import active_pseudonymiser
from custrisk.vocab import LEVEL_RANK, LEVELS

log = logging.getLogger(__name__)

#: Version of this file layout, recorded in the facts: 2 since the facts hold the SHA-256
#: of each of their fields (:data:`FACTS_DIGESTS`).
LAYOUT_VERSION = 2
#: Layouts :func:`read_run` reads: 1 (the previous release) has no digests of its facts
#: and is read without that check.
READABLE_LAYOUTS = (1, LAYOUT_VERSION)
#: The field of the facts holding the SHA-256 of each other field (its canonical JSON).
FACTS_DIGESTS = "facts_sha256"
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
#: The lock of an output folder, and the prefix of its staging folders.
LOCK_FILE = ".custrisk.lock"
STAGE_PREFIX = ".custrisk-stage-"
#: Output formats of the scores table, by extension.
SCORES_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "xlsx"}
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
    "open_alerts",
    "alert_level",
    "owner",
    "preferred_channel",
    "due_date",
)
#: Scores columns that hold numbers.
SCORES_NUMERIC = ("pd", "score", "current_limit", "recommended_limit", "limit_change")
SCORES_REQUIRED = ("customer_id", "pd", "score")

# -- the details table: one definition of its layout ----------------------------------
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
        paths = [*_both_forms(self.part(name))]
        if name in PARTED_TABLES:
            paths += _both_forms(self.parts_folder(name))
        return list(dict.fromkeys(paths))


def scores_format(path: str | os.PathLike[str]) -> str:
    """``csv`` or ``parquet`` from the extension of a scores file.

    Raises
    ------
    UsageError
        For any other extension.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in SCORES_FORMATS:
        raise UsageError(
            f"{path}: cannot tell the output format from the extension {suffix or '(none)'!r}",
            hint=f"name the file with one of {', '.join(SCORES_FORMATS)}",
        )
    return SCORES_FORMATS[suffix]


def run_files(scores: str | os.PathLike[str]) -> RunFiles:
    """The files of the run whose scores file is ``scores`` (a workbook ``x.xlsx``: the
    run ``x.csv`` & co. with the workbook beside it)."""
    path = plain_name(scores)  # scores.csv.enc: the run of scores.csv, encrypted
    workbook = None
    if scores_format(path) == "xlsx":
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


@dataclass
class ScoringRun:
    """A month's scoring: the tables and facts that :meth:`write` puts on disk.

    Attributes
    ----------
    scores : pandas.DataFrame
        One row per customer: id, as-of, PD, score, reasons, grade, limits, alert level,
        model id (and changes against the previous run, when there was one).
    details : pandas.DataFrame
        Per customer, for reports: masked identity, credit fields, indicators
        (``ind__<code>``), reason values and impacts. Never raw personal data.
    alerts : pandas.DataFrame
        :data:`ALERT_COLUMNS`, one row per rule that fired per customer.
    facts : dict
        Plain data about the run (model, as-of, policy, alert counts, migration,
        indicator labels; once written or read, ``files`` and ``run_id`` too).
    rejects : pandas.DataFrame or None
        Rows rejected or repaired while cleaning, personal data masked.
    extras : dict
        What a caller may want beyond the files (e.g. the migration matrix); not written.
    files : RunFiles or None
        Where the run was written or read from.
    closed : pandas.DataFrame or None
        :data:`CLOSED_COLUMNS`: alerts of the previous run that no longer fire; ``None``
        when the run was scored without a previous run.
    """

    scores: pd.DataFrame
    details: pd.DataFrame
    alerts: pd.DataFrame
    facts: dict[str, Any]
    rejects: pd.DataFrame | None = None
    extras: dict[str, Any] = field(default_factory=dict, repr=False)
    files: RunFiles | None = None
    closed: pd.DataFrame | None = None
    #: The follow-up plan (:data:`FOLLOWUP_COLUMNS`), written as ``followups.csv``.
    followups: pd.DataFrame | None = None
    #: The details already written as parts (:class:`DetailsParts`): :meth:`write` moves
    #: them into place as the folder ``scores.details.parquet/`` instead of writing
    #: ``details``, which then holds only the columns the policy and alerts read.
    details_parts: TableParts | None = field(default=None, repr=False)
    #: The scores already written as parts (:class:`TableParts`): :meth:`write` moves
    #: them into place as the folder ``<stem>.parquet/`` (``scores.parquet/`` for
    #: ``--out scores.csv`` or ``scores.parquet``) instead of writing ``scores``, which
    #: then holds only the columns later steps read, or none.
    scores_parts: TableParts | None = field(default=None, repr=False)
    #: The follow-up plan already written as parts (:class:`TableParts`): :meth:`write`
    #: moves them into place as the folder ``followups.parquet/`` instead of writing
    #: ``followups``.
    followups_parts: TableParts | None = field(default=None, repr=False)

    @property
    def run_id(self) -> str | None:
        value = self.facts.get("run_id")
        return str(value) if value else None

    def write(self, out: str | os.PathLike[str], *, csv_encoding: str | None = None) -> RunFiles:
        """Write the run as one unit beside the scores file ``out`` (see the module).

        Whatever an earlier run left of each part in the folder in another form (the
        file, its encrypted form, a folder of parts) is removed as the new one goes into
        place. With the scores written as parts, the returned files name their folder
        as the scores (``scores.parquet``), as :func:`read_run` does.

        Raises
        ------
        UsageError
            For an extension other than .csv/.parquet/.xlsx, or a workbook with the
            scores or the follow-up plan written as parts.
        custrisk.io.lock.LockHeld
            When another process is writing into the same folder.
        """
        with self.staged(out, csv_encoding=csv_encoding) as staged:
            return staged.commit()

    @contextlib.contextmanager
    def staged(
        self, out: str | os.PathLike[str], *, csv_encoding: str | None = None
    ) -> Iterator[StagedRun]:
        """The run written to a staging folder beside ``out``, the output folder locked,
        nothing in place changed yet: :meth:`StagedRun.commit` moves it into place (what
        :meth:`write` does at once). Leaving the block removes whatever was not moved
        (e.g. when another run's staging failed: all or nothing over several runs) and
        releases the lock. Raises as :meth:`write`."""
        files = run_files(out)
        parted = self._parted()
        _refuse_workbook(files, parted)
        encoding = parse_csv_encoding(csv_encoding)
        sealer = active_sealer()
        folder = ensure_dir(files.folder)
        with exclusive_lock(folder / LOCK_FILE, what="the output folder"):
            targets = [files.part(p) for p in PARTS] + [files.facts]
            targets += [files.workbook] if files.workbook is not None else []
            targets += [output_path(t) for t in targets if output_path(t) != t]
            for parts in parted.values():
                parts.check(folder)
            remove_leftovers(
                folder,
                [temp_pattern(t) for t in targets],
                keep=[parts.folder for parts in parted.values()],
            )
            stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=folder))
            ready: StagedRun | None = None
            try:
                staged: dict[str, Path] = {}
                listed: dict[str, dict[str, Any]] = {}
                tables = {
                    "scores": self.scores,
                    "details": self.details,
                    "alerts": alert_table(self.alerts),
                    "rejects": self.rejects,
                    "closed": None
                    if self.closed is None
                    else self.closed.loc[:, list(CLOSED_COLUMNS)],
                    "followups": None
                    if self.followups is None or "followups" in parted
                    else self.followups.loc[:, list(FOLLOWUP_COLUMNS)],
                }
                written: dict[str, Any] = {}
                # A Parquet table (the details) encoded by Arrow in a thread, without the
                # GIL, while the CSV tables are formatted (not encrypted ones: one file
                # sealed at a time)
                with ThreadPoolExecutor(1, thread_name_prefix="custrisk-write") as pool:
                    for part in PARTS:
                        if part in parted:
                            target = stage / files.parts_folder(part).name
                            written[part] = parted[part].stage(target)
                            continue
                        table = tables[part]
                        if table is None or (part == "rejects" and not len(table)):
                            continue
                        final = files.part(part)
                        args = (table, stage / final.name, encoding, sealer)
                        if sealer is None and final.suffix.lower() == ".parquet":
                            written[part] = pool.submit(_write_table, *args)
                        else:
                            written[part] = _write_table(*args)
                for part, done in written.items():  # in PARTS order, as the facts list them
                    staged[part], listed[part] = done.result() if isinstance(done, Future) else done
                facts = {
                    **{
                        k: v
                        for k, v in self.facts.items()
                        if k not in ("files", "run_id", FACTS_DIGESTS)
                    },
                    "layout": LAYOUT_VERSION,
                    "run_id": _run_id(listed),  # of the tables: the workbook does not change it
                    "files": listed,
                }
                if files.workbook is not None:
                    book = stage / files.workbook.name
                    alerts = alert_table(self.alerts)
                    write_workbook_to(
                        book, run_sheets(self.scores, alerts, facts, tables["followups"])
                    )
                    os.chmod(book, DEFAULT_MODE)
                    staged[WORKBOOK], listed[WORKBOOK] = _seal_staged(book, sealer)
                # last (the file list is whole), of the facts as read back: JSON turns
                # tuples into lists and number keys into text (sorted differently)
                facts = json.loads(_facts_bytes(facts))
                facts[FACTS_DIGESTS] = facts_digests(facts)
                facts_path, _ = _stage_bytes(stage / files.facts.name, _facts_bytes(facts), sealer)
                for path in [*staged.values(), facts_path]:
                    if path.is_dir():  # a table as parts (each part made private as written)
                        private_dir(path)
                    else:
                        private(path)  # 0600, or 0640 with the roles config's output_group
                ready = StagedRun(self, files, facts, staged, facts_path, parted)
                yield ready
            except Stopped as stop:
                if ready is None or not ready.committed:  # (else the run is in place)
                    stop.leave(
                        f"{files.folder} holds an incomplete run, which readers refuse: run "
                        "the command again"
                        if ready is not None and ready.moving
                        else not_written(files.scores)
                    )
                raise
            finally:
                shutil.rmtree(stage, ignore_errors=True)
                for parts in parted.values():
                    parts.discard()  # moved into place, or (on an error) of no use

    def _parted(self) -> dict[str, TableParts]:
        """The tables written as parts, by part; each checked to be of its part."""
        given = {
            "scores": self.scores_parts,
            "details": self.details_parts,
            "followups": self.followups_parts,
        }
        parted = {name: parts for name, parts in given.items() if parts is not None}
        for name, parts in parted.items():
            if parts.member != name:
                raise ValueError(f"the {name}_parts of a run hold parts of the {parts.member}")
        return parted


@dataclass
class StagedRun:
    """A run written to its staging folder by :meth:`ScoringRun.staged`, not yet in
    place: :meth:`commit` moves it into place; :meth:`pending` says what that will
    change, for a caller that stages other files to go with it (``custrisk forget``)."""

    run: ScoringRun
    files: RunFiles
    facts: dict[str, Any]
    staged: dict[str, Path]  # part (and workbook) -> its staged file or folder
    facts_path: Path
    parted: dict[str, TableParts]
    committed: bool = False
    #: Being moved into place (a stop now leaves an incomplete run, not the old one)
    moving: bool = False

    def pending(self) -> dict[Path, Path | None]:
        """Each path in the output folder that :meth:`commit` changes: the staged file
        (or folder) that replaces it, or ``None`` for a form removed."""
        folder = self.files.folder
        changes: dict[Path, Path | None] = {}
        for part in PARTS:
            for form in self.files.forms(part):
                changes[form] = None
        if self.files.workbook is not None:
            changes.update(dict.fromkeys(_both_forms(self.files.workbook)))
        changes.update(dict.fromkeys(_both_forms(self.files.facts)))
        for path in [*self.staged.values(), self.facts_path]:
            changes[folder / path.name] = path
        return {path: staged for path, staged in changes.items() if staged or path.exists()}

    def commit(self) -> RunFiles:
        """Move the staged run into place: the old facts go first and the new ones come
        last, so that between the two a reader finds no facts (an incomplete run), never
        facts of another run."""
        files, staged = self.files, self.staged
        self.moving = True
        for form in _both_forms(files.facts):
            form.unlink(missing_ok=True)
        for part in PARTS:
            for form in files.forms(part):
                if form.is_dir() and not form.is_symlink():  # a table as parts
                    shutil.rmtree(form)  # (a folder is not replaced by a rename)
                elif (
                    part not in staged
                    or form.name != staged[part].name
                    or staged[part].is_dir()  # a file where the folder goes
                ):
                    form.unlink(missing_ok=True)
            if part in staged:
                os.replace(staged[part], files.folder / staged[part].name)
        if files.workbook is not None:
            for form in _both_forms(files.workbook):
                if form.name != staged[WORKBOOK].name:
                    form.unlink(missing_ok=True)
            os.replace(staged[WORKBOOK], files.folder / staged[WORKBOOK].name)
        os.replace(self.facts_path, files.folder / self.facts_path.name)
        self.committed, self.moving = True, False
        if "scores" in self.parted:  # the scores are the folder, whatever --out named
            files = replace(files, scores=files.parts_folder("scores"))
        run = self.run
        run.facts = self.facts
        run.files = files
        listed = self.facts["files"]
        scores_rows = self.parted["scores"].rows if "scores" in self.parted else len(run.scores)
        audit_event(
            outputs=[files.folder / str(entry["file"]) for entry in listed.values()]
            + [files.folder / self.facts_path.name],  # (sealed: scores.run.json.enc)
            model=str(self.facts.get("model_id") or "") or None,
            rows={"scores": scores_rows, "alerts": len(run.alerts)},
            scope="portfolio",
        )
        return files


def _refuse_workbook(files: RunFiles, members: Iterable[str]) -> None:
    """A workbook cannot hold a table big enough to be written as parts.

    Raises
    ------
    UsageError
        When ``files`` have a workbook and the scores or follow-up plan are in
        ``members``.
    """
    too_big = [_LABELS[m] for m in members if m in ("scores", "followups")]
    if files.workbook is not None and too_big:
        raise UsageError(
            f"{files.workbook.name}: a workbook cannot hold the {' and the '.join(too_big)} "
            f"written as parts (a sheet holds at most {SHEET_ROWS:,} rows)",
            hint=f"write {files.scores.name} or "
            f"{files.scores.with_suffix(SCORES_PARTS_SUFFIX).name} instead",
        )


#: How messages name the tables that may be written as parts.
_LABELS = {"scores": "scores", "details": "details", "followups": "follow-up plan"}


class TableParts:
    """One of a run's tables of a row per customer (scores, details, follow-up plan)
    written as Parquet parts while it is computed, so that no process holds every
    customer's rows at once (the Dask engine writes each bucket's as its results arrive).

    The parts go to a staging folder beside the run's scores file (``out``), each
    sealed when outputs are encrypted (never a plaintext file then);
    :meth:`ScoringRun.write` moves them into place as the table's folder
    (:meth:`RunFiles.parts_folder`: ``scores.parquet/``, ``scores.details.parquet/``,
    ``followups.parquet/``, each of ``part-00000.parquet``, ...), which Arrow, pandas,
    Spark and DuckDB read as one table. The run facts list every part with its SHA-256
    and rows; the folder's own hash is that of the parts' names and hashes. Use it as a
    context manager: the staging folder is removed when the block fails.

    Each part is written so that :func:`read_run` gives the types the table has when
    written as one file: the scores those of a Parquet scores file (``--out
    scores.parquet``; a CSV's cells would come back as text), the follow-up plan the text
    of ``followups.csv``, in :data:`FOLLOWUP_COLUMNS`.

    Parameters
    ----------
    out : str or path-like
        The run's scores file (``--out``).
    member : {"scores", "details", "followups"}
        Which table (:data:`PARTED_TABLES`).

    Raises
    ------
    ValueError
        For another ``member``.
    UsageError
        For the scores or follow-up plan of a run with a workbook (``--out x.xlsx``),
        before anything is computed.
    """

    def __init__(self, out: str | os.PathLike[str], member: str) -> None:
        if member not in PARTED_TABLES:
            raise ValueError(
                f"The 'member' parameter of TableParts must be one of {PARTED_TABLES}. "
                f"Got {member!r} instead."
            )
        files = run_files(out)
        _refuse_workbook(files, [member])
        self.member = member
        self.name = files.parts_folder(member).name
        self.folder = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=ensure_dir(files.folder)))
        self.sealer = active_sealer()
        self.entries: list[dict[str, Any]] = []
        self.columns: list[str] | None = None

    def add(self, frame: pd.DataFrame) -> None:
        """Write one part (its rows: customers no other part holds)."""
        frame = _part_table(self.member, frame)
        columns = [str(c) for c in frame.columns]
        if self.columns is None:
            self.columns = columns
        elif columns != self.columns:
            raise ValueError(
                f"a part of the {_LABELS[self.member]} has the columns {columns}, "
                f"not {self.columns}"
            )
        path = self.folder / TABLE_PART.format(len(self.entries))
        written, entry = _write_table(frame, path, "utf-8", self.sealer)
        private(written)
        self.entries.append({**entry, "rows": len(frame)})

    def check(self, folder: Path) -> None:
        """Raise ``ValueError`` unless the parts can go into the run in ``folder``."""
        label = _LABELS[self.member]
        if self.folder.name == self.name:
            raise ValueError(f"these {label} parts were moved into a run already")
        if self.folder.parent.resolve() != folder.resolve():
            raise ValueError(f"the {label} parts are in {self.folder}, not in {folder}")
        if not self.entries:
            raise ValueError(f"no part of the {label} was written")
        if not all((self.folder / str(e["file"])).is_file() for e in self.entries):
            # another run writing into the same folder cleared what it took for leftovers
            raise DataError(
                f"the {label} parts written for this run were removed while it was computed",
                file=str(self.folder),
                hint="run one scoring into a folder at a time, and score the month again",
            )

    @property
    def rows(self) -> int:
        return sum(int(e["rows"]) for e in self.entries)

    def stage(self, target: Path) -> tuple[Path, dict[str, Any]]:
        """Move the parts to ``target`` (a folder in the run's staging folder); their
        entry in the facts."""
        os.replace(self.folder, target)
        self.folder = target
        return target, {
            "file": target.name,
            "sha256": _parts_digest(self.entries),
            "bytes": sum(int(e["bytes"]) for e in self.entries),
            "rows": self.rows,
            "parts": self.entries,
        }

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: Any, *_: Any) -> None:
        if kind is not None:
            self.discard()


class DetailsParts(TableParts):
    """A run's details written as parts: :class:`TableParts` of ``"details"``."""

    def __init__(self, out: str | os.PathLike[str]) -> None:
        super().__init__(out, "details")


def _part_table(member: str, frame: pd.DataFrame) -> pd.DataFrame:
    """A part as :meth:`TableParts.add` writes it."""
    if member == "followups":
        missing = [c for c in FOLLOWUP_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"a part of the follow-up plan lacks the columns {missing}")
        # The plan as one file is followups.csv, read back as text: a part holds the
        # same text (the CSV's cells), so that the parts read back as the file does.
        plan = escaped_csv_bytes(frame.loc[:, list(FOLLOWUP_COLUMNS)], "utf-8")
        return _table_from_bytes(plan, Path(FOLLOWUPS_FILE), "follow-up plan")
    if member == "scores":
        # Text held as objects becomes text: a part where it is all missing would
        # otherwise be Arrow's null type, and the folder would not read as one table.
        text = [
            c
            for c in frame.columns
            if frame[c].dtype == object
            and pd.api.types.infer_dtype(frame[c], skipna=True) in ("string", "empty")
        ]
        if text:
            frame = frame.astype(dict.fromkeys(text, "str"))
    return frame


def _parts_digest(entries: Iterable[Mapping[str, Any]]) -> str:
    """The SHA-256 of a table written as parts: of their names and hashes, in order."""
    joined = "\n".join(f"{e['file']}:{e['sha256']}" for e in entries)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


#: The key of the workbook in the facts' file list.
WORKBOOK = "workbook"
#: Number formats of the scores and alerts sheets (see custrisk.io.excel_out).
SCORES_KINDS = {
    "pd": "percent",
    "score": "integer",
    "current_limit": "amount",
    "recommended_limit": "amount",
    "limit_change": "amount",
    "previous_score": "integer",
    "score_change": "integer",
    "previous_recommended_limit": "amount",
}


def run_sheets(
    scores: pd.DataFrame,
    alerts: pd.DataFrame,
    facts: Mapping[str, Any],
    followups: pd.DataFrame | None = None,
) -> list[Sheet]:
    """The sheets of a run's workbook: scores and alerts (grades and levels coloured),
    the follow-up plan when there is one, and a summary (customers by grade, alerts by
    level, the run's facts)."""
    policy = facts.get("policy") or {}
    grades = [str(g.get("code")) for g in policy.get("grades") or [] if isinstance(g, dict)]
    grade_fills = ramp(grades)
    level_fills = {level: LEVEL_FILLS[level] for level in LEVELS if level in LEVEL_FILLS}
    sheets = [
        Sheet(
            "scores",
            scores,
            kinds={c: k for c, k in SCORES_KINDS.items() if c in scores.columns},
            fills={"grade": grade_fills, "alert_level": level_fills},
        ),
        Sheet(
            "alerts",
            alerts,
            kinds={"response_hours": "count"},
            fills={"level": level_fills, "grade": grade_fills},
        ),
        Sheet(
            "summary",
            _summary(facts, grades),
            kinds={"share": "percent", "limit": "amount"},
            fills={"item": {**grade_fills, **level_fills}},
        ),
    ]
    if followups is not None:
        plan = Sheet(
            "followups",
            followups,
            kinds={"days_since_last_follow_up": "count"},
            fills={"grade": grade_fills, "alert_level": level_fills},
        )
        sheets.insert(2, plan)
    return sheets


def write_alerts_workbook(alerts: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """The alerts (columns of alerts.csv) as a workbook: one sheet, levels coloured."""
    level_fills = {level: LEVEL_FILLS[level] for level in LEVELS if level in LEVEL_FILLS}
    sheet = Sheet(
        "alerts",
        alert_table(alerts),
        kinds={"response_hours": "count"},
        fills={"level": level_fills},
    )
    return write_workbook(path, [sheet])


def _summary(facts: Mapping[str, Any], grades: Sequence[str]) -> pd.DataFrame:
    """Customers and limits by grade, alerts by level, the facts of the run (long form)."""
    rows: list[tuple[str, str, Any, Any, Any]] = []
    policy = facts.get("policy") or {}
    distribution = policy.get("distribution") or {}
    for grade in grades or list(distribution):
        row = distribution.get(grade) or {}
        rows.append(
            ("grade", grade, row.get("customers"), row.get("share"), row.get("recommended_limit"))
        )
    alerts = facts.get("alerts") or {}
    customers = alerts.get("customers_by_highest_level") or {}
    for level in LEVELS:
        rows.append(("alerts", level, (alerts.get("by_level") or {}).get(level), None, None))
        rows.append(("customers at level", level, customers.get(level), None, None))
    limits = policy.get("limits") or {}
    for key in ("current_total", "recommended_total", "change_total"):
        if key in limits:
            rows.append(("limits", key, None, None, limits[key]))
    for key in ("run_id", "model_id", "algorithm", "as_of", "customers", "rows_rejected"):
        if key in facts:
            value = facts[key]
            rows.append(("run", key, value if isinstance(value, int) else str(value), None, None))
    return pd.DataFrame(rows, columns=["section", "item", "value", "share", "limit"])


def remove_leftovers(
    folder: Path, temp_patterns: Iterable[str], *, keep: Iterable[Path] = ()
) -> list[Path]:
    """Remove what a killed writer left in ``folder``: staging folders (but those in
    ``keep``), and temporary files matching ``temp_patterns`` (globs). Call it while
    holding the folder's lock."""
    removed: list[Path] = []
    kept = {Path(k).name for k in keep}
    for stale in folder.glob(f"{STAGE_PREFIX}*"):
        if stale.name in kept:
            continue
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
            removed.append(stale)
    for pattern in temp_patterns:
        for stale in folder.glob(pattern):
            if stale.is_file() or stale.is_symlink():
                stale.unlink(missing_ok=True)
                removed.append(stale)
    for stale in removed:
        log.info("removed %s, left by a run that did not finish", stale)
    return removed


def temp_pattern(target: Path) -> str:
    """The glob of the temporary files :func:`custrisk.io.atomic.atomic_path` makes for
    ``target``."""
    return f".{glob_escape(target.name)}.*.tmp"


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _write_table(
    frame: pd.DataFrame, path: Path, encoding: str, sealer: Sealer | None
) -> tuple[Path, dict[str, Any]]:
    """Stage one table; the staged path and its entry in the facts (name on disk, SHA-256
    and size of the plaintext: a run has the same run id encrypted or not)."""
    if sealer is not None:  # never a plaintext file: serialise in memory, seal to disk
        buffer = io.BytesIO()
        if path.suffix.lower() == ".csv":
            data = escaped_csv_bytes(frame, encoding)
        else:
            write_parquet(frame, buffer)
            data = buffer.getvalue()
        return _stage_bytes(path, data, sealer)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DEFAULT_MODE)
    if path.suffix.lower() == ".csv":
        with open(fd, "wb") as binary:  # noqa: PTH123
            write_escaped_csv(frame, binary, encoding)
    else:
        with open(fd, "wb") as binary:  # noqa: PTH123
            write_parquet(frame, binary)
    return path, {"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size}


def _stage_bytes(path: Path, data: bytes, sealer: Sealer | None) -> tuple[Path, dict[str, Any]]:
    """Write ``data`` to ``path`` (sealed into ``path.enc`` with a sealer)."""
    target = path.with_name(path.name + sealer.suffix) if sealer is not None else path
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DEFAULT_MODE)
    with os.fdopen(fd, "wb") as handle:
        if sealer is None:
            handle.write(data)
        else:
            sealer.seal(io.BytesIO(data), handle)
    entry = {"file": target.name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    return target, entry


def _seal_staged(path: Path, sealer: Sealer | None) -> tuple[Path, dict[str, Any]]:
    """A staged file as it goes into place (sealed and its plaintext removed, with a
    sealer) and its entry in the facts."""
    entry = {"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size}
    if sealer is None:
        return path, entry
    target = path.with_name(path.name + sealer.suffix)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DEFAULT_MODE)
    with path.open("rb") as plain, os.fdopen(fd, "wb") as handle:
        sealer.seal(plain, handle)
    path.unlink()
    return target, {**entry, "file": target.name}


def _both_forms(path: Path) -> tuple[Path, Path]:
    """A run file's plain and encrypted names."""
    plain = plain_name(path)
    return plain, plain.with_name(plain.name + SUFFIX)


def _facts_bytes(facts: Mapping[str, Any]) -> bytes:
    text = json.dumps(facts, ensure_ascii=False, indent=2, sort_keys=True, allow_nan=False)
    return (text + "\n").encode("utf-8")


def _canonical(value: Any) -> bytes:
    """A fact's value as the facts file writes it, without the layout's whitespace."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False).encode("utf-8")


def facts_digests(facts: Mapping[str, Any]) -> dict[str, str]:
    """The SHA-256 of each field of a run's facts (but :data:`FACTS_DIGESTS` itself), of
    its canonical JSON: what the facts file records to check itself by."""
    return {
        str(key): hashlib.sha256(_canonical(value)).hexdigest()
        for key, value in facts.items()
        if key != FACTS_DIGESTS
    }


def check_facts(facts: Mapping[str, Any], path: Path) -> None:
    """Refuse run facts that custrisk did not write as they are: an older or newer
    layout, or (layout 2) a field whose SHA-256 is not the one recorded beside it (an
    edited value, a field added or removed). Layout 1 runs carry no digests and pass.

    Raises
    ------
    DataError
        One line naming the facts file, the fields that do not match and to score again.
    """
    layout = facts.get("layout")
    if not isinstance(facts.get("files"), dict) or layout not in READABLE_LAYOUTS:
        raise DataError(
            f"the run facts list no files or have an unknown layout {layout!r}: written by "
            "another version of custrisk",
            file=str(path),
            hint="score the month again with this version (custrisk score)",
        )
    if layout == 1:
        return  # the previous release: its facts record no digests of themselves
    recorded = facts.get(FACTS_DIGESTS)
    if not isinstance(recorded, dict):
        raise DataError(
            f"the run facts lack the SHA-256 of their fields ({FACTS_DIGESTS}): edited "
            "since custrisk score wrote them",
            file=str(path),
            hint="do not edit a run's files; score the month again (custrisk score)",
        )
    actual = facts_digests(facts)
    changed = sorted(k for k in actual.keys() | recorded.keys() if actual.get(k) != recorded.get(k))
    if changed:
        raise DataError(
            f"the run facts were edited since custrisk score wrote them: "
            f"{join_limited(changed)} do(es) not match the SHA-256 recorded in {FACTS_DIGESTS}",
            file=str(path),
            hint="do not edit a run's facts; score the month again (custrisk score)",
        )


def read_facts(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The facts of the run at ``path`` (as :func:`read_run` takes it), checked
    (:func:`check_facts`) but without reading the run's tables: e.g. its run id.

    Raises
    ------
    DataError
        When the facts are missing, malformed or edited since they were written.
    """
    return _checked_facts(locate_run(path))


def _checked_facts(files: RunFiles) -> dict[str, Any]:
    """The facts of the run of ``files``, checked (see :func:`read_facts`)."""
    facts_path = existing(files.facts)
    if not facts_path.is_file():
        raise DataError(
            f"no run facts ({files.facts.name}) beside the scores: the run did not finish, "
            "or the file was not written by custrisk score",
            file=str(files.scores),
            hint="score the month again",
        )
    facts = _read_json_object(facts_path, "run facts")
    check_facts(facts, facts_path)
    return facts


def _run_id(listed: Mapping[str, Mapping[str, Any]]) -> str:
    """A short id of the run: a hash of its files' hashes (the same outputs, the same id)."""
    joined = "\n".join(f"{part}:{listed[part]['sha256']}" for part in sorted(listed))
    return hashlib.sha256(joined.encode("ascii")).hexdigest()[:16]


# -- reading ---------------------------------------------------------------------------


def locate_run(path: str | os.PathLike[str]) -> RunFiles:
    """The files of the run at ``path``: its scores file, its facts file, or a folder
    holding exactly one run. The folder of the scores written as parts
    (``scores.parquet/``), or a scores file that is not there but whose run's facts are
    (``--out scores.csv`` made ``scores.parquet/``), is the run its facts describe.

    Raises
    ------
    DataError
        When nothing (or more than one run) is there.
    """
    path = Path(path)
    if path.is_dir():
        found_facts = sorted(
            [*path.glob(f"*{FACTS_SUFFIX}"), *path.glob(f"*{FACTS_SUFFIX}{SUFFIX}")]
        )
        facts_beside = _facts_beside(path) if not found_facts else None
        if facts_beside is not None:  # the scores written as parts: scores.parquet/
            return locate_run(facts_beside)
        if len(found_facts) != 1:
            found = "no run" if not found_facts else f"{len(found_facts)} runs"
            raise DataError(
                f"the folder holds {found} (files *{FACTS_SUFFIX})",
                file=str(path),
                hint="pass the scores file of the run you mean",
            )
        path = found_facts[0]
    path = plain_name(path) if path.name.endswith(FACTS_SUFFIX + SUFFIX) else path
    if path.name.endswith(FACTS_SUFFIX):
        stem = path.name[: -len(FACTS_SUFFIX)]
        facts = _read_json_object(existing(path), "run facts")
        listed = (facts.get("files") or {}).get("scores") or {}
        name = str(listed.get("file") or f"{stem}.csv")
        if Path(name).name != name or not name.startswith(stem):
            raise DataError(f"the run facts name an odd scores file {name!r}", file=str(path))
        return run_files(path.with_name(name))
    if not existing(path).exists():
        facts_beside = _facts_beside(path)
        if facts_beside is not None:
            return locate_run(facts_beside)
        raise DataError(
            "scores file not found", file=str(path), hint="pass a scores file from custrisk score"
        )
    return run_files(path)


def _facts_beside(scores: Path) -> Path | None:
    """The facts of the run whose scores file would be ``scores``, when they exist."""
    if plain_name(scores).suffix.lower() not in SCORES_FORMATS:
        return None
    facts = existing(run_files(scores).facts)
    return facts if facts.is_file() else None


def _names_a_run(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a run's scores file, facts or folder, or the scores file of a
    run whose scores were written as parts (see :func:`locate_run`)."""
    path = Path(path)
    return existing(path).exists() or _facts_beside(path) is not None


def read_run(
    path: str | os.PathLike[str],
    *,
    parts: Sequence[str] = ("scores", "details", "alerts", "closed", "followups"),
    columns: Mapping[str, Collection[str]] | None = None,
) -> ScoringRun:
    """Read back a run written by :meth:`ScoringRun.write`, checking that its files
    belong together.

    Parameters
    ----------
    path : str or path-like
        The scores file, the facts file, or a folder holding one run.
    parts : sequence of str
        Which tables to read (``scores``, ``details``, ``alerts``, ``rejects``,
        ``closed``, ``followups``); the facts are always read. Each is read once, checked
        against the SHA-256 in the facts, and parsed from those same bytes. ``closed``
        (alerts closed since the previous run) is ``None`` when the run was scored
        without a previous run.
    columns : mapping, optional
        Per table (``scores``, ``details``, ``followups``), the columns to keep of
        those it has (its required ones are always kept). A table of parts is cut part
        by part, each part checked whole first: only the kept columns of the whole
        table are ever in memory together.

    Notes
    -----
    A table written as parts (:class:`TableParts`) is read part by part, each checked
    against the facts and as its file would be (required columns, numbers), and
    returned as one table; a part changed, missing or not listed is refused even when
    that table is not read. The scores come back in the order of their parts (each
    holds some of the customers: not the order of a scores file), the details likewise,
    and the follow-up plan in its own order (due date, most severe alert first, customer
    id), so that it equals the plan written as one file.

    Raises
    ------
    DataError
        A missing or damaged file, a file of another run (or changed since), a run that
        did not finish, raw personal data in the details.
    """
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ValueError(f"unknown run parts {unknown}; choose from {PARTS}")
    files = locate_run(path)
    facts = _checked_facts(files)
    listed = facts["files"]
    tables: dict[str, pd.DataFrame | None] = dict.fromkeys(PARTS)
    for part in PARTS:
        entry = listed.get(part)
        target = files.part(part)
        if entry is None:
            if part in OPTIONAL_PARTS:
                continue
            raise DataError(f"the run facts do not list its {part} file", file=str(files.facts))
        if part in PARTED_TABLES and "parts" in entry:  # a folder of parts
            paths = _part_paths(files.parts_folder(part), entry, files, part)
            if part in parts:
                tables[part] = _read_parts(part, paths, files, (columns or {}).get(part))
            else:
                for path, part_entry in paths:
                    _check_file(path, part_entry, files, part)
        elif part in parts:
            data = _read_verified(target, entry, files, part)
            tables[part] = _kept(part, _PARSERS[part](data, target), (columns or {}).get(part))
        else:  # not wanted, but it must belong to the run all the same
            _check_file(target, entry, files, part)
    audit_event(
        inputs=[files.facts, *(_member_path(files, p, listed[p]) for p in parts if p in listed)]
    )
    tables = _pseudonymised(tables)
    scores = tables["scores"] if tables["scores"] is not None else pd.DataFrame()
    details = tables["details"] if tables["details"] is not None else pd.DataFrame()
    alerts = tables["alerts"] if tables["alerts"] is not None else pd.DataFrame()
    return ScoringRun(
        scores,
        details,
        alerts,
        facts,
        tables["rejects"],
        files=files,
        closed=tables["closed"],
        followups=tables["followups"],
    )


def _pseudonymised(tables: dict[str, pd.DataFrame | None]) -> dict[str, pd.DataFrame | None]:
    """With ``--pseudonymise``: the customer ids of a run's tables as tokens (a run that
    was pseudonymised already keeps its tokens)."""
    active = active_pseudonymiser()
    if active is None:
        return tables
    out = {
        part: None if frame is None else active.frame(frame, ("customer_id",))
        for part, frame in tables.items()
    }
    active.save()
    return out


def _member_path(files: RunFiles, part: str, entry: Mapping[str, Any]) -> Path:
    """Where the part of a run listed by ``entry`` is: its file, or its folder of parts."""
    return files.parts_folder(part) if "parts" in entry else files.part(part)


def _part_paths(
    target: Path, entry: Mapping[str, Any], files: RunFiles, part: str
) -> list[tuple[Path, Mapping[str, Any]]]:
    """The files of a table written as parts, with their entries in the facts; checked
    to be the parts the facts list, all of them and nothing else."""
    folder = plain_name(target)  # the folder keeps its name; its parts are sealed
    listed = entry.get("parts")
    try:
        names = [str(e["file"]) for e in listed]  # type: ignore[union-attr]
        consistent = bool(names) and _parts_digest(listed) == entry.get("sha256")  # type: ignore[arg-type]
    except (KeyError, TypeError):
        consistent = False
    if not consistent or any(Path(n).name != n or n.startswith(".") for n in names):
        raise DataError(
            f"the run facts list the parts of {folder.name} inconsistently",
            file=str(files.facts),
            hint="do not edit a run's files; score the month again",
        )
    if not folder.is_dir():
        raise DataError(
            f"the folder of parts of the run's {_LABELS[part]} is missing",
            file=str(folder),
            hint=f"the run facts {files.facts.name} list them; score the month again",
        )
    listed_names = set(names)
    stray = sorted(p.name for p in folder.iterdir() if p.name not in listed_names)
    if stray:
        raise DataError(
            f"{folder.name} holds {join_limited(stray)}, which the run facts do not list "
            "(a part of another run, or added since)",
            file=str(folder),
            hint="score each period into its own folder, and do not edit a run's files",
        )
    return [(folder / name, e) for name, e in zip(names, listed, strict=True)]  # type: ignore[arg-type]


def _read_parts(
    part: str,
    paths: Sequence[tuple[Path, Mapping[str, Any]]],
    files: RunFiles,
    keep: Collection[str] | None = None,
) -> pd.DataFrame:
    """A table written as parts, each checked against the facts and as its file would
    be, as one table: in the parts' order, the follow-up plan in its own; only the
    columns ``keep`` names (and the required ones) when given."""
    what = _WHAT[part]
    required, numeric = _CHECKED[part]
    frames, rows = [], []
    for path, entry in paths:
        data = _read_verified(path, entry, files, part)
        frame = _table_from_bytes(data, path, what)
        del data
        if keep is None:  # the part named, not only its folder
            _require(frame, required, path, what)
            _numbers(frame, numeric, path)
        else:  # checked as a whole file (e.g. for raw personal data), then cut
            frame = _kept(part, _PART_CHECKS[part](frame, path), keep)
        frames.append(frame)
        rows.append((path.name, len(frame)))
    whole = _PART_CHECKS[part](concat_parts(frames), files.parts_folder(part), parts=rows)
    return _in_plan_order(whole) if part == "followups" else whole


def _kept(part: str, frame: pd.DataFrame, keep: Collection[str] | None) -> pd.DataFrame:
    """``frame`` (a table of a run) with only the columns ``keep`` names and those the
    table requires, in its order; all of it without ``keep``."""
    if keep is None:
        return frame
    wanted = {*keep, *_CHECKED[part][0]} if part in _CHECKED else set(keep)
    return frame.loc[:, [c for c in frame.columns if c in wanted]]


def _in_plan_order(plan: pd.DataFrame) -> pd.DataFrame:
    """The follow-up plan in its order, that of
    :func:`custrisk.review.followups.follow_up_plan`: by due date, then the most severe
    alert first (none last), then customer id."""
    rank = plan["alert_level"].map(LEVEL_RANK).fillna(99)
    keys = plan.loc[:, ["due_date", "customer_id"]].assign(_rank=rank.to_numpy())
    order = keys.sort_values(["due_date", "_rank", "customer_id"], kind="stable").index
    return plan.loc[order].reset_index(drop=True)


def concat_parts(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Tables of the same columns, each of some of the customers, as one (the parts of
    a run's details, the Dask engine's buckets) with the dtypes one table of them all
    would have. ``frames`` is emptied: each part is let go once it is in the whole.

    - A categorical column holds the values present, sorted (the scorer's reason codes
      and labels): the whole's categories are the sorted union of the parts' (a part
      without any value has none).
    - Text built from objects (the reasons' values): a part where every value is
      missing keeps ``object``; the whole's is inferred from every customer's objects,
      as pandas infers it.
    """
    if len(frames) == 1:
        return frames.pop()
    whole = pd.concat(frames, ignore_index=True)
    for name in frames[0].columns:
        parts = [f[name] for f in frames]
        if all(p.dtype == parts[0].dtype for p in parts):
            continue
        values = np.concatenate([p.astype(object).to_numpy() for p in parts])
        if not any(isinstance(p.dtype, pd.CategoricalDtype) for p in parts):
            whole[name] = pd.DataFrame({name: values})[name]
        else:
            union = sorted(
                {
                    str(c)
                    for p in parts
                    if isinstance(p.dtype, pd.CategoricalDtype)
                    for c in p.cat.categories
                }
            )
            dtype = pd.Categorical(np.asarray(union, dtype=object)).dtype
            whole[name] = pd.Categorical(values, dtype=dtype)
    frames.clear()
    return whole


def _read_verified(target: Path, entry: Mapping[str, Any], files: RunFiles, part: str) -> bytes:
    """The file's plaintext, read once (decrypted when encrypted) and checked against the
    facts."""
    target = existing(target)
    _check_present(target, files, part)
    data = plain_bytes(target)
    _check_digest(hashlib.sha256(data).hexdigest(), target, entry, files)
    return data


def _check_file(target: Path, entry: Mapping[str, Any], files: RunFiles, part: str) -> None:
    target = existing(target)
    _check_present(target, files, part)
    if target.name.endswith(SUFFIX):  # the facts hold the plaintext's hash
        _check_digest(hashlib.sha256(plain_bytes(target)).hexdigest(), target, entry, files)
    else:
        _check_digest(sha256_file(target), target, entry, files)


def _check_present(target: Path, files: RunFiles, part: str) -> None:
    if not target.is_file():
        raise DataError(
            f"the {_WHAT.get(part, f'{part} file')} of the run is missing",
            file=str(target),
            hint=f"the run facts {files.facts.name} list it; score the month again",
        )


def _check_digest(digest: str, target: Path, entry: Mapping[str, Any], files: RunFiles) -> None:
    if digest != str(entry.get("sha256", "")):
        raise DataError(
            f"{target.name} does not belong to the run described by {files.facts.name} "
            "(written by another run, or changed since)",
            file=str(target),
            hint="score each period into its own folder, and do not edit a run's files",
        )


def _read_json_object(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(plain_bytes(path).decode("utf-8"))
    except FileNotFoundError:
        raise DataError(f"{what} not found", file=str(path)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{what}: not valid JSON ({exc})", file=str(path)) from None
    if not isinstance(data, dict):
        raise DataError(f"{what}: expected a JSON object", file=str(path))
    return data


def _table_from_bytes(data: bytes, path: Path, what: str) -> pd.DataFrame:
    try:
        if plain_name(path).suffix.lower() == ".csv":
            frame = pd.read_csv(
                io.BytesIO(data),
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                encoding=READ_ENCODING,
            )
            return unescape_frame(frame)
        return _blank_as_missing(pq.read_table(pa.BufferReader(data)).to_pandas())
    except (ValueError, OSError, UnicodeDecodeError, pa.ArrowException) as exc:
        raise DataError(f"cannot read the {what}: {exc}", file=str(path)) from None


def _blank_as_missing(frame: pd.DataFrame) -> pd.DataFrame:
    """An empty text as missing, as a CSV table reads it: the same run read back from
    Parquet or from CSV gives the same values (a customer without an alert had
    ``alert_level`` ``''`` from one and missing from the other)."""
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_string_dtype(column.dtype) and not isinstance(
            column.dtype, pd.CategoricalDtype
        ):
            blank = column.eq("").fillna(False).to_numpy(dtype=bool)
            if blank.any():
                frame[name] = column.mask(blank)
    return frame


def _require(frame: pd.DataFrame, columns: Iterable[str], path: Path, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"the {what} lacks the column(s) {join_limited(missing)}",
            file=str(path),
            hint="write it with custrisk score",
        )


def _text_ids(
    frame: pd.DataFrame,
    path: Path,
    what: str,
    *,
    unique: bool,
    parts: Sequence[tuple[str, int]] = (),
) -> pd.DataFrame:
    """``frame`` with its ids as text; with ``unique``, checked to hold each once (with
    ``parts``, the names and rows of the parts it was read from: the message names the
    parts that hold an id twice)."""
    frame["customer_id"] = frame["customer_id"].astype("str")
    if unique:
        duplicated = frame["customer_id"].duplicated()
        if duplicated.any():
            twice = frame.loc[duplicated, "customer_id"]
            where = ""
            if parts:
                names = np.repeat([n for n, _ in parts], [r for _, r in parts])
                held = names[frame["customer_id"].isin(twice).to_numpy()]
                where = f" (in {join_limited(sorted(set(held.tolist())))})"
            raise DataError(
                f"the {what} holds customer ids more than once{where}: "
                f"{join_limited(twice.tolist())}",
                file=str(path),
                column="customer_id",
            )
    return frame


def _numbers(frame: pd.DataFrame, columns: Iterable[str], path: Path) -> None:
    for column in columns:
        if column not in frame.columns:
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if bad.any():
            first = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{int(bad.sum())} value(s) are not numbers, e.g. {frame[column].iloc[first]!r}",
                file=str(path),
                line=first + 2 if path.suffix.lower() == ".csv" else None,
                column=column,
            )
        frame[column] = values.astype("float64")


def _parse_scores(data: bytes, path: Path) -> pd.DataFrame:
    return _check_scores(_table_from_bytes(data, path, "scores file"), path)


def _check_scores(
    frame: pd.DataFrame, path: Path, *, parts: Sequence[tuple[str, int]] = ()
) -> pd.DataFrame:
    _require(frame, SCORES_REQUIRED, path, "scores file")
    frame = _text_ids(frame, path, "scores file", unique=True, parts=parts)
    _numbers(frame, SCORES_NUMERIC, path)
    if "review_flag" in frame.columns:
        text = frame["review_flag"].astype("str").str.strip().str.lower()
        frame["review_flag"] = text.isin(("1", "true", "yes", "y", "t")).to_numpy()
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].astype("str")
    return frame.reset_index(drop=True)


def _parse_details(data: bytes, path: Path) -> pd.DataFrame:
    return _check_details(_table_from_bytes(data, path, "details file"), path)


def _check_details(
    frame: pd.DataFrame, path: Path, *, parts: Sequence[tuple[str, int]] = ()
) -> pd.DataFrame:
    _require(frame, ("customer_id",), path, "details file")
    raw = [c for c in PII_COLUMNS if c in frame.columns]
    if raw:
        raise DataError(
            f"the details hold unmasked personal data ({', '.join(raw)}); reports use only "
            "the masked columns",
            file=str(path),
            hint="regenerate it with custrisk score, which writes masked columns only",
        )
    frame = _text_ids(frame, path, "details file", unique=True, parts=parts)
    _numbers(frame, [c for c in DETAILS_NUMERIC if c in frame.columns], path)
    return frame


def _parse_alerts(data: bytes, path: Path) -> pd.DataFrame:
    return _check_alerts(_table_from_bytes(data, path, "alerts file"), path)


def _check_alerts(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    for column in LIFECYCLE_COLUMNS:  # written before alerts had a lifecycle: unknown
        if column not in frame.columns:
            frame[column] = ""
    missing = [c for c in ALERT_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            f"not an alerts file: columns {join_limited(missing)} are missing",
            file=str(path),
            hint="pass alerts.csv or the scores file it belongs to",
        )
    frame = _text_ids(frame, path, "alerts file", unique=False)
    for column in ALERT_COLUMNS:
        if column not in ("customer_id", "response_hours"):
            frame[column] = frame[column].astype("str").where(frame[column].notna(), "")
    frame["level"] = frame["level"].str.strip().str.lower()
    hours = pd.to_numeric(frame["response_hours"], errors="coerce")
    if hours.isna().any():
        row = int(np.flatnonzero(hours.isna().to_numpy())[0])
        raise DataError(
            f"response_hours {frame['response_hours'].iloc[row]!r} is not a number",
            file=str(path),
            line=row + 2,
            column="response_hours",
        )
    frame["response_hours"] = hours.astype(np.int64)
    unknown = sorted(set(frame["level"]) - set(LEVELS))
    if unknown:
        raise DataError(f"unknown alert level {unknown[0]!r}", file=str(path), column="level")
    return frame.reset_index(drop=True)


def _parse_rejects(data: bytes, path: Path) -> pd.DataFrame:
    return _table_from_bytes(data, path, "rejects file")


def _parse_closed(data: bytes, path: Path) -> pd.DataFrame:
    frame = _table_from_bytes(data, path, "closed alerts file")
    _require(frame, CLOSED_COLUMNS, path, "closed alerts file")
    frame = _text_ids(frame, path, "closed alerts file", unique=False)
    for column in CLOSED_COLUMNS[1:]:
        frame[column] = frame[column].astype("str").where(frame[column].notna(), "")
    return frame.loc[:, list(CLOSED_COLUMNS)].reset_index(drop=True)


def _parse_followups(data: bytes, path: Path) -> pd.DataFrame:
    return _check_followups(_table_from_bytes(data, path, "follow-up plan"), path)


def _check_followups(
    frame: pd.DataFrame, path: Path, *, parts: Sequence[tuple[str, int]] = ()
) -> pd.DataFrame:
    _require(frame, FOLLOWUP_COLUMNS, path, "follow-up plan")
    return _text_ids(frame, path, "follow-up plan", unique=True, parts=parts)


#: How each table that may be written as parts is named in messages, and what each part
#: is checked for (required columns, columns of numbers) before they are put together.
_WHAT = {"scores": "scores file", "details": "details file", "followups": "follow-up plan"}
_CHECKED: dict[str, tuple[Sequence[str], Sequence[str]]] = {
    "scores": (SCORES_REQUIRED, SCORES_NUMERIC),
    "details": (("customer_id",), DETAILS_NUMERIC),
    "followups": (FOLLOWUP_COLUMNS, ()),
}
#: The checks of a table's whole file, run on each part that is cut to some columns.
_PART_CHECKS = {"scores": _check_scores, "details": _check_details, "followups": _check_followups}
_PARSERS = {
    "scores": _parse_scores,
    "details": _parse_details,
    "alerts": _parse_alerts,
    "rejects": _parse_rejects,
    "closed": _parse_closed,
    "followups": _parse_followups,
}


def read_alerts_file(path: str | os.PathLike[str]) -> pd.DataFrame:
    """An alerts CSV on its own (e.g. one written by ``custrisk alerts --out``).

    Raises
    ------
    DataError
        If the file is missing, unreadable or not an alerts file.
    """
    path = existing(path)
    try:
        data = plain_bytes(path)
    except FileNotFoundError:
        raise DataError(
            "alerts file not found", file=str(path), hint="run custrisk score first"
        ) from None
    except IsADirectoryError:
        raise DataError("is a folder, not an alerts file", file=str(path)) from None
    return _pseudonymised({"alerts": _parse_alerts(data, path)})["alerts"]  # type: ignore[return-value]


def is_alerts_csv(path: Path) -> bool:
    """Whether ``path`` is a CSV whose header is that of an alerts table."""
    path = existing(path)
    if plain_name(path).suffix.lower() != ".csv" or not path.is_file():
        return False
    header = head_text(path).partition("\n")[0].strip().split(",")
    return {"code", "level", "message_zh"} <= set(header)


def read_alerts(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The alerts of a run (its scores file, facts or folder: checked against the run's
    facts) or of a standalone alerts CSV."""
    path = Path(path)
    if is_alerts_csv(path):
        return read_alerts_file(path)
    return read_run(path, parts=("alerts",)).alerts


def read_previous_scores(path: str | os.PathLike[str]) -> pd.DataFrame:
    """An earlier run's scores for month-over-month changes (``--previous``).

    Returns
    -------
    pandas.DataFrame
        ``customer_id`` (text), ``score`` and, when the run has them, ``as_of``,
        ``grade``, ``recommended_limit``.
    """
    if not _names_a_run(path):
        raise DataError(
            "previous scores file not found",
            file=str(path),
            hint="pass the scores file of an earlier custrisk score run with --previous",
        )
    scores = read_run(path, parts=("scores",)).scores
    wanted = ("customer_id", "as_of", "score", "grade", "recommended_limit")
    keep = [c for c in wanted if c in scores]
    return scores.loc[:, keep].copy()


def read_previous_run(
    path: str | os.PathLike[str],
    *,
    details: bool = False,
    columns: Mapping[str, Collection[str]] | None = None,
) -> ScoringRun:
    """An earlier run for month-over-month changes and the alert lifecycle
    (``--previous``): its scores and alerts (and details when asked), checked like any
    run; of the scores and details only ``columns`` (as :func:`read_run`) when given."""
    if not _names_a_run(path):
        raise DataError(
            "previous scores file not found",
            file=str(path),
            hint="pass the scores file of an earlier custrisk score run with --previous",
        )
    parts = ("scores", "alerts", "details") if details else ("scores", "alerts")
    return read_run(path, parts=parts, columns=columns)


# -- forgetting a customer -------------------------------------------------------------


def forget_in_run(
    path: str | os.PathLike[str], customer_id: str, *, token: str | None = None
) -> dict[str, int]:
    """Remove one customer from a run (or, with ``token``, replace the id by it and blank
    the masked identity), rewriting the run as one unit with a new run id.

    Every other row comes back as it was: the tables are read with their written types
    (ids as text, numbers parsed exactly) and written by :meth:`ScoringRun.write`.
    Rejected rows naming the customer in any field are removed in both cases (they hold
    raw values). Nothing is written when the run does not hold the customer. An encrypted
    run is read through the envelope and written encrypted again, with the active
    encryption key (a clear run stays clear); without the key to read it, a
    :class:`~custrisk.errors.DataError` names the key id.

    Returns
    -------
    dict
        Rows removed or replaced per part (empty when the run does not hold the customer).
    """
    with forgetting_in_run(path, customer_id, token=token) as (counts, staged):
        if staged is not None:
            staged.commit()
    return counts


@contextlib.contextmanager
def forgetting_in_run(
    path: str | os.PathLike[str], customer_id: str, *, token: str | None = None
) -> Iterator[tuple[dict[str, int], StagedRun | None]]:
    """:func:`forget_in_run` up to the run staged without the customer, its folder
    locked, nothing in place changed: the rows per part and the :class:`StagedRun` to
    commit (``None`` when the run does not hold the customer). Leaving the block without
    committing leaves the run as it was (all or nothing over several runs)."""
    files = locate_run(path)
    facts_path = existing(files.facts)
    facts = _checked_facts(files)
    listed = facts["files"]
    # an encrypted run is written encrypted again (with the active key), a clear one clear
    sealed = facts_path.name.endswith(SUFFIX) or any(
        str((entry or {}).get("file", "")).endswith(SUFFIX) for entry in listed.values()
    )
    tables: dict[str, pd.DataFrame | None] = dict.fromkeys(PARTS)
    bom = False
    # tables as folders of parts are rewritten a part at a time below
    in_parts = [p for p in PARTED_TABLES if "parts" in (listed.get(p) or {})]
    for part in PARTS:
        entry = listed.get(part)
        if entry is None or part in in_parts:
            continue
        target = files.part(part)
        data = _read_verified(target, entry, files, part)
        # every CSV of a run has the run's encoding: the scores may be Parquet
        bom = bom or (target.suffix.lower() == ".csv" and data.startswith(b"\xef\xbb\xbf"))
        tables[part] = _typed_table(data, target, part)
    hits: dict[str, int] = {}
    for part in ("scores", "details", "alerts", "closed", "followups"):
        frame = tables[part]
        if frame is None:
            continue
        tables[part], hits[part] = _forget_rows(frame, customer_id, token)
    rejects = tables["rejects"]
    if rejects is not None and len(rejects):
        hit = rejects.astype("str").apply(lambda col: col.map(lambda v: _names(v, customer_id)))
        hit_rows = hit.any(axis=1)
        if hit_rows.any():
            hits["rejects"] = int(hit_rows.sum())
            tables["rejects"] = rejects.loc[~hit_rows].reset_index(drop=True)
    workbook = (listed.get(WORKBOOK) or {}).get("file")
    out = files.scores.with_name(str(workbook)) if workbook else files.scores
    with sealing(encryption() if sealed else None, group=active_group()):
        parted: dict[str, TableParts] = {}
        try:
            for part in in_parts:
                parted[part], hits[part] = _forget_in_parts(
                    files, listed, out, part, customer_id, token
                )
        except BaseException:
            for parts in parted.values():
                parts.discard()
            raise
        counts = {part: hits[part] for part in PARTS if hits.get(part)}
        if not counts:
            for parts in parted.values():
                parts.discard()
            yield counts, None
            return
        run = _forgotten_run(facts, tables, parted)
        with run.staged(out, csv_encoding="utf-8-sig" if bom else "utf-8") as staged:
            yield counts, staged


def _forget_rows(
    frame: pd.DataFrame, customer_id: str, token: str | None
) -> tuple[pd.DataFrame, int]:
    """A run table without the customer's rows (or with them under ``token``, the
    masked identity blanked), and how many there were."""
    if "customer_id" not in frame.columns:
        return frame, 0
    hit = frame["customer_id"].astype("str") == customer_id
    if not hit.any():
        return frame, 0
    if token is None:
        return frame.loc[~hit].reset_index(drop=True), int(hit.sum())
    frame = frame.astype({"customer_id": "object"})
    frame.loc[hit, "customer_id"] = token
    for column in MASKED_COLUMNS:
        if column in frame.columns:
            frame[column] = frame[column].astype("object")
            frame.loc[hit, column] = None
    return frame, int(hit.sum())


def _forget_in_parts(
    files: RunFiles,
    listed: Mapping[str, Any],
    out: Path,
    part: str,
    customer_id: str,
    token: str | None,
) -> tuple[TableParts, int]:
    """A table written as parts, copied one part at a time without the customer (the
    run's table is never all in memory), staged for the run to be written again; and
    how many rows were the customer's."""
    hits = 0
    with TableParts(out, part) as parts:
        for path, entry in _part_paths(files.parts_folder(part), listed[part], files, part):
            frame = _typed_table(_read_verified(path, entry, files, part), path, part)
            frame, found = _forget_rows(frame, customer_id, token)
            hits += found
            parts.add(frame)
    return parts, hits


def _forgotten_run(
    facts: Mapping[str, Any],
    tables: Mapping[str, pd.DataFrame | None],
    parts: Mapping[str, TableParts],
) -> ScoringRun:
    """A run read by :func:`forgetting_in_run`, without the customer, to write again."""
    kept = {k: v for k, v in facts.items() if k not in ("files", "run_id", FACTS_DIGESTS)}
    kept["forgotten"] = int(facts.get("forgotten") or 0) + 1
    return ScoringRun(
        scores=tables["scores"] if tables["scores"] is not None else pd.DataFrame(),
        details=tables["details"] if tables["details"] is not None else pd.DataFrame(),
        alerts=tables["alerts"]
        if tables["alerts"] is not None
        else pd.DataFrame(columns=list(ALERT_COLUMNS)),
        facts=kept,
        rejects=tables["rejects"],
        closed=tables["closed"],
        followups=tables["followups"],
        details_parts=parts.get("details"),
        scores_parts=parts.get("scores"),
        followups_parts=parts.get("followups"),
    )


def _names(value: object, customer_id: str) -> bool:
    """Whether a rejects cell is the id or holds it as one of its comma-separated fields
    (a blank cell, read as missing, holds nothing)."""
    if not isinstance(value, str):
        return False
    return value == customer_id or customer_id in (f.strip() for f in value.split(","))


def _typed_table(data: bytes, path: Path, what: str) -> pd.DataFrame:
    """A run table as it was written: CSV numbers parsed exactly (round trip), ids and
    other text as text, so that writing it again gives the same cells."""
    if path.suffix.lower() != ".csv":
        return _table_from_bytes(data, path, what)
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            dtype={"customer_id": str},
            keep_default_na=False,
            na_values=[""],
            encoding=READ_ENCODING,
        )
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read the {what}: {exc}", file=str(path)) from None
    return unescape_frame(frame)


@contextlib.contextmanager
def locked_folder(folder: str | os.PathLike[str], temp_patterns: Iterable[str] = ()) -> Any:
    """Hold the lock of an output folder (created 0700) and clear what a killed writer
    left there: for writers of other files into an output folder (e.g. reports)."""
    path = ensure_dir(folder)
    with exclusive_lock(path / LOCK_FILE, what="the output folder") as held:
        remove_leftovers(path, temp_patterns)
        yield held


__all__ = [
    "ALERTS_FILE",
    "FACTS_DIGESTS",
    "LAYOUT_VERSION",
    "check_facts",
    "facts_digests",
    "read_facts",
    "DETAILS_PART",
    "DetailsParts",
    "FOLLOWUPS_PARTS",
    "PARTED_TABLES",
    "SCORES_PARTS_SUFFIX",
    "TABLE_PART",
    "TableParts",
    "ALERT_COLUMNS",
    "ALERT_STATUSES",
    "CLOSED_COLUMNS",
    "CLOSED_FILE",
    "CLOSED_REASONS",
    "LIFECYCLE_COLUMNS",
    "FOLLOWUPS_FILE",
    "FOLLOWUP_COLUMNS",
    "OPTIONAL_PARTS",
    "CREDIT_DETAIL_COLUMNS",
    "DETAILS_SUFFIX",
    "FACTS_SUFFIX",
    "INDICATOR_PREFIX",
    "MASKED_COLUMNS",
    "PII_COLUMNS",
    "REJECTS_SUFFIX",
    "RunFiles",
    "ScoringRun",
    "alert_table",
    "concat_parts",
    "details_of",
    "forget_in_run",
    "forgetting_in_run",
    "StagedRun",
    "locate_run",
    "locked_folder",
    "read_alerts",
    "read_alerts_file",
    "read_previous_run",
    "read_previous_scores",
    "read_run",
    "run_files",
    "scores_format",
    "write_alerts_workbook",
]
