"""Per-customer tables written part by part while they are computed (:class:`TableParts`),
listed part by part in the facts.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Self

import pandas as pd

from custrisk.errors import DataError, UsageError
from custrisk.io.atomic import (
    active_sealer,
    ensure_dir,
    private,
)
from custrisk.io.frame_csv import escaped_csv_bytes
from custrisk.results.layout import (
    FOLLOWUP_COLUMNS,
    FOLLOWUPS_FILE,
    PARTED_TABLES,
    SCORES_PARTS_SUFFIX,
    SHEET_ROWS,
    STAGE_PREFIX,
    TABLE_LABELS,
    TABLE_PART,
    RunFiles,
    run_files,
)
from custrisk.results.storage import stage_table, table_from_bytes


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
        refuse_workbook(files, [member])
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
                f"a part of the {TABLE_LABELS[self.member]} has the columns {columns}, "
                f"not {self.columns}"
            )
        path = self.folder / TABLE_PART.format(len(self.entries))
        written, entry = stage_table(frame, path, "utf-8", self.sealer)
        private(written)
        self.entries.append({**entry, "rows": len(frame)})

    def check(self, folder: Path) -> None:
        """Raise ``ValueError`` unless the parts can go into the run in ``folder``."""
        label = TABLE_LABELS[self.member]
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
            "sha256": parts_digest(self.entries),
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
        return table_from_bytes(plan, Path(FOLLOWUPS_FILE), "follow-up plan")
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


def parts_digest(entries: Iterable[Mapping[str, Any]]) -> str:
    """The SHA-256 of a table written as parts: of their names and hashes, in order."""
    joined = "\n".join(f"{e['file']}:{e['sha256']}" for e in entries)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def refuse_workbook(files: RunFiles, members: Iterable[str]) -> None:
    """A workbook cannot hold a table big enough to be written as parts.

    Raises
    ------
    UsageError
        When ``files`` have a workbook and the scores or follow-up plan are in
        ``members``.
    """
    too_big = [TABLE_LABELS[m] for m in members if m in ("scores", "followups")]
    if files.workbook is not None and too_big:
        raise UsageError(
            f"{files.workbook.name}: a workbook cannot hold the {' and the '.join(too_big)} "
            f"written as parts (a sheet holds at most {SHEET_ROWS:,} rows)",
            hint=f"write {files.scores.name} or "
            f"{files.scores.with_suffix(SCORES_PARTS_SUFFIX).name} instead",
        )
