"""The stored decisions written to a file (``custrisk decisions list --out``): CSV (the
listed columns, for a spreadsheet) or JSON lines (each decision whole, as ``--json``
prints it: masked inputs and the answer), streamed from the store, written atomically
and readable by the owner only."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from custrisk.errors import UsageError
from custrisk.io.atomic import atomic_open, output_path
from custrisk.io.safe_csv import DEFAULT_CSV_ENCODING, escape_cell
from custrisk.serve.store import DecisionStore

#: File endings ``--out`` takes, and the format each is written in.
EXPORT_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
#: The columns of the CSV: what ``decisions list`` shows, with the model and fingerprint.
CSV_COLUMNS = (
    "decision_id",
    "created_at",
    "caller",
    "channel",
    "model_id",
    "customer_id",
    "pd",
    "score",
    "grade",
    "decision",
    "input_fingerprint",
)


def export_format(path: str | os.PathLike[str], option: str = "--out") -> str:
    """``csv`` or ``jsonl`` from the ending of ``path``.

    Raises
    ------
    UsageError
        For another ending, naming the ones taken.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in EXPORT_FORMATS:
        raise UsageError(
            f"{option} {path}: cannot tell the format from {suffix or 'no ending'}; it takes "
            f"{', '.join(EXPORT_FORMATS)}",
            hint=f"e.g. {option} decisions.csv (a spreadsheet) or decisions.jsonl (each "
            "decision whole)",
        )
    return EXPORT_FORMATS[suffix]


def write_decisions(
    store: DecisionStore, path: str | os.PathLike[str], *, limit: int = 0, **filters: Any
) -> tuple[Path, int]:
    """Write the latest ``limit`` decisions (0: all) matching ``filters`` (as
    :meth:`DecisionStore.iter_decisions` takes them) to ``path``; the path written and
    how many. CSV cells a spreadsheet would run as formulas are escaped."""
    kind = export_format(path)
    count = 0
    if kind == "csv":
        with atomic_open(path, "w", encoding=DEFAULT_CSV_ENCODING, newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(CSV_COLUMNS)
            for row in store.iter_decisions(limit=limit, full=False, **filters):
                writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])
                count += 1
    else:
        with atomic_open(path, "w", encoding="utf-8", newline="\n") as handle:
            for row in store.iter_decisions(limit=limit, **filters):
                handle.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
                count += 1
    return output_path(path), count


def _cell(value: Any) -> Any:
    return escape_cell(value) if isinstance(value, str) else ("" if value is None else value)


__all__ = ["CSV_COLUMNS", "EXPORT_FORMATS", "export_format", "write_decisions"]
