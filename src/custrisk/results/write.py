"""Writing a scoring run as one unit: :class:`ScoringRun` and the :class:`StagedRun` that
puts its staged files in place.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from custrisk.errors import UsageError
from custrisk.io.atomic import (
    DEFAULT_MODE,
    active_sealer,
    ensure_dir,
    output_path,
    private,
    private_dir,
)
from custrisk.io.excel_out import write_workbook_to
from custrisk.io.lock import exclusive_lock
from custrisk.io.plain import brief_repr
from custrisk.io.safe_csv import csv_encoding as parse_csv_encoding
from custrisk.io.stop import Stopped, not_written
from custrisk.protect.audit import PORTFOLIO, audit_event
from custrisk.protect.envelope import plain_name
from custrisk.results.facts import facts_bytes, facts_digests, facts_language, run_id_of
from custrisk.results.layout import (
    ALERTS_FILE,
    CLOSED_COLUMNS,
    FACTS_DIGESTS,
    FACTS_SUFFIX,
    FOLLOWUP_COLUMNS,
    FOLLOWUPS_FILE,
    LAYOUT_VERSION,
    LOCK_FILE,
    PARTS,
    STAGE_PREFIX,
    WORKBOOK,
    RunFiles,
    alert_table,
    both_forms,
    run_files,
    temp_pattern,
)
from custrisk.results.parts import TableParts, refuse_workbook
from custrisk.results.storage import remove_leftovers, seal_staged, stage_bytes, stage_table
from custrisk.results.workbook import run_sheets


def refuse_another_run(files: RunFiles) -> None:
    """Refuse to write a run into a folder that holds another run (another scores
    file's facts, ``oct.run.json`` beside ``nov.csv``): the alerts, closed alerts and
    follow-up plan have one name per folder, so the new run would overwrite the other's
    and leave it unreadable. The same run written again is fine.

    Raises
    ------
    UsageError
        Naming the other run and the folder to write to instead.
    """
    ours = plain_name(files.facts).name
    others = sorted(
        name
        for path in files.folder.glob(f"*{FACTS_SUFFIX}*")
        if (name := plain_name(path).name) != ours and name.endswith(FACTS_SUFFIX)
    )
    if not others:
        return
    other = others[0].removesuffix(FACTS_SUFFIX)
    raise UsageError(
        f"{files.folder} holds another run ({other}, {others[0]}): its {ALERTS_FILE} and "
        f"{FOLLOWUPS_FILE} would be overwritten by this run's, and that run could no "
        "longer be read",
        hint=f"write each run in a folder of its own, e.g. --out "
        f"{files.folder / files.scores.stem}/{files.scores.name}; or remove the other run's "
        "files first",
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

    __repr__ = brief_repr  # a notebook prints it: sizes, never the tables' cells

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

    @property
    def lang(self) -> str:
        """The run's language (``zh`` or ``en``), recorded in its facts when it was
        scored: what the commands reading the run default to. ``zh`` for a run written
        before the language was recorded."""
        return facts_language(self.facts, self.files.facts if self.files is not None else None)

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
        refuse_workbook(files, parted)
        encoding = parse_csv_encoding(csv_encoding)
        sealer = active_sealer()
        folder = ensure_dir(files.folder)
        with exclusive_lock(folder / LOCK_FILE, what="the output folder"):
            refuse_another_run(files)
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
                            written[part] = pool.submit(stage_table, *args)
                        else:
                            written[part] = stage_table(*args)
                for part, done in written.items():  # in PARTS order, as the facts list them
                    staged[part], listed[part] = done.result() if isinstance(done, Future) else done
                facts = {
                    **{
                        k: v
                        for k, v in self.facts.items()
                        if k not in ("files", "run_id", FACTS_DIGESTS)
                    },
                    "layout": LAYOUT_VERSION,
                    "run_id": run_id_of(listed),  # of the tables: the workbook does not change it
                    "files": listed,
                }
                if files.workbook is not None:
                    book = stage / files.workbook.name
                    alerts = alert_table(self.alerts)
                    write_workbook_to(
                        book, run_sheets(self.scores, alerts, facts, tables["followups"])
                    )
                    os.chmod(book, DEFAULT_MODE)
                    staged[WORKBOOK], listed[WORKBOOK] = seal_staged(book, sealer)
                # last (the file list is whole), of the facts as read back: JSON turns
                # tuples into lists and number keys into text (sorted differently)
                facts = json.loads(facts_bytes(facts))
                facts[FACTS_DIGESTS] = facts_digests(facts)
                facts_path, _ = stage_bytes(stage / files.facts.name, facts_bytes(facts), sealer)
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
                        else not_written(
                            f"{files.parts_folder('scores')}/"
                            if "scores" in parted
                            else files.scores
                        )
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
            changes.update(dict.fromkeys(both_forms(self.files.workbook)))
        changes.update(dict.fromkeys(both_forms(self.files.facts)))
        for path in [*self.staged.values(), self.facts_path]:
            changes[folder / path.name] = path
        return {path: staged for path, staged in changes.items() if staged or path.exists()}

    def commit(self) -> RunFiles:
        """Move the staged run into place: the old facts go first and the new ones come
        last, so that between the two a reader finds no facts (an incomplete run), never
        facts of another run."""
        files, staged = self.files, self.staged
        self.moving = True
        for form in both_forms(files.facts):
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
            for form in both_forms(files.workbook):
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
            scope=PORTFOLIO,
        )
        return files
