"""Where ``custrisk run`` keeps its runs: the one owner of the runs folder's layout.

::

    runs/
      .custrisk-run.lock           the lock: one run at a time in the folder (a month's
                                   run reads the month before's)
      .staging-2026-11/            the run being built (kept when a stage fails or the
                                   process is killed; the next run resumes from it)
        state.json                 the stages done so far, with their outputs' hashes
      .replaced-2026-10/           an older run of a period, while a new one replaces it
      2026-10/                     a finished run, moved here only when every stage ran
        run.json                   versions, config and input hashes, stages, outputs
        log.jsonl                  the run's log, one JSON object a line
        validation/                rejects.csv, validation_report.json
        scores.csv & co.           the scoring run (custrisk.results)
        drift.json, evaluation.json
        reports/                   portfolio.pdf, customer_<id>.pdf, manifest.csv
        notifications.json
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from custrisk.batch.config import PERIOD_PATTERN
from custrisk.errors import DataError
from custrisk.io.atomic import write_bytes
from custrisk.io.digest import sha256_file
from custrisk.protect.envelope import SUFFIX
from custrisk.results import FACTS_SUFFIX, read_facts

RUN_FILE = "run.json"
STATE_FILE = "state.json"
LOG_FILE = "log.jsonl"
#: run.json's key for the run id a month was published with, once ``custrisk forget``
#: gave it another (the id the later months were compared with).
PUBLISHED_RUN_ID = "published_run_id"
STAGING_PREFIX = ".staging-"
REPLACED_PREFIX = ".replaced-"
LOCK_PREFIX = ".custrisk-run"
#: Files of a run folder that are not outputs (not hashed): its bookkeeping.
BOOKKEEPING = (RUN_FILE, STATE_FILE, LOG_FILE)
#: Version of this layout, recorded in run.json.
LAYOUT_VERSION = 1


@dataclass(frozen=True)
class RunLayout:
    """The paths of one period's run under ``runs_dir``."""

    runs_dir: Path
    period: str

    @property
    def final(self) -> Path:
        return self.runs_dir / self.period

    @property
    def staging(self) -> Path:
        return self.runs_dir / f"{STAGING_PREFIX}{self.period}"

    @property
    def replaced(self) -> Path:
        return self.runs_dir / f"{REPLACED_PREFIX}{self.period}"

    @property
    def lock_file(self) -> Path:
        """The lock of the whole runs folder, whatever the period: a month's run reads
        the run of the month before, so two runs of one folder never run at once."""
        return self.runs_dir / f"{LOCK_PREFIX}.lock"

    def recover(self) -> str | None:
        """Finish or undo a replacement of this period's run that a kill interrupted
        (call it holding the lock); says what it did."""
        if not self.replaced.exists():
            return None
        if self.final.exists():
            shutil.rmtree(self.replaced)
            return f"removed {self.replaced.name}, left by a run killed while replacing it"
        if (self.staging / RUN_FILE).is_file():
            os.replace(self.staging, self.final)
            shutil.rmtree(self.replaced)
            return f"finished moving the run of {self.period} into place"
        os.replace(self.replaced, self.final)
        return f"put back the run of {self.period} that a killed run was replacing"

    def foreign(self) -> list[str]:
        """The files of ``runs/<period>`` when it is no run of ``custrisk run`` (no
        run.json): outputs of ``custrisk score`` or a person's, which publishing the run
        would delete with the folder. Hidden files (a writer's lock) do not count."""
        if not self.final.is_dir() or (self.final / RUN_FILE).is_file():
            return []
        return sorted(p.name for p in self.final.iterdir() if not p.name.startswith("."))

    def publish(self) -> None:
        """Move the staging folder into place as ``runs/<period>`` (replacing an older
        run of the period): two renames, recoverable by :meth:`recover` at any point."""
        if self.final.exists():
            if self.replaced.exists():
                shutil.rmtree(self.replaced)
            os.replace(self.final, self.replaced)
        os.replace(self.staging, self.final)
        if self.replaced.exists():
            shutil.rmtree(self.replaced)


def periods(runs_dir: Path) -> list[str]:
    """The periods with a finished run in ``runs_dir``, oldest first."""
    if not runs_dir.is_dir():
        return []
    return sorted(
        p.name
        for p in runs_dir.iterdir()
        if PERIOD_PATTERN.match(p.name) and (p / RUN_FILE).is_file()
    )


def unfinished(runs_dir: Path) -> list[str]:
    """The periods whose run was started and did not finish (a staging folder is left:
    a failed stage or a killed run), oldest first."""
    if not runs_dir.is_dir():
        return []
    names = (p.name for p in runs_dir.iterdir() if p.name.startswith(STAGING_PREFIX))
    found = (name[len(STAGING_PREFIX) :] for name in names)
    return sorted(period for period in found if PERIOD_PATTERN.match(period))


def previous_run(runs_dir: Path, period: str) -> Path | None:
    """The folder of the latest finished run before ``period``, if any."""
    earlier = [p for p in periods(runs_dir) if p < period]
    return runs_dir / earlier[-1] if earlier else None


def apply_retention(runs_dir: Path, keep: int, current: str) -> list[str]:
    """Remove the finished runs beyond the ``keep`` latest periods (never ``current``);
    ``keep`` 0 keeps every run. Returns the periods removed."""
    if keep <= 0:
        return []
    done = periods(runs_dir)
    removed = []
    for period in done[: max(len(done) - keep, 0)]:
        if period == current:
            continue
        shutil.rmtree(runs_dir / period)
        removed.append(period)
    return removed


def file_hashes(folder: Path, names: Iterable[str] | None = None) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (or under the given names in it), by
    path relative to ``folder``; hidden files (locks) and bookkeeping left out."""
    roots = [folder / n for n in names] if names is not None else [folder]
    found: dict[str, str] = {}
    for root in roots:
        candidates = [root] if root.is_file() else sorted(root.rglob("*")) if root.is_dir() else []
        for path in candidates:
            rel = path.relative_to(folder)
            if not path.is_file() or any(part.startswith(".") for part in rel.parts):
                continue
            if len(rel.parts) == 1 and rel.name in BOOKKEEPING:
                continue
            found[rel.as_posix()] = sha256_file(path)
    return dict(sorted(found.items()))


def remove_outputs(folder: Path, names: Iterable[str]) -> None:
    """Remove a stage's outputs (files or folders) before it runs again."""
    for name in names:
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    # run facts, state, drift and evaluation statistics, delivery results: no customer
    # data, so never encrypted (the run reads them back to resume and to skip work)
    write_bytes(path, json_bytes(data), sensitive=False)


def json_bytes(data: Mapping[str, Any]) -> bytes:
    """A JSON object as :func:`write_json` writes it."""
    text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, allow_nan=False)
    return (text + "\n").encode("utf-8")


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object written by this module; DataError when damaged."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(
            f"cannot read it ({exc})",
            file=str(path),
            hint="remove the run folder and run the period again",
        ) from None
    if not isinstance(data, dict):
        raise DataError("not a JSON object", file=str(path))
    return data


def refresh_outputs(folder: Path, added: Iterable[Path] = ()) -> bool:
    """After files of a finished run were changed or removed outside the run (``custrisk
    forget``; reports rendered again by hand into its ``reports/``), its ``run.json``
    lists what is there: removed files (a forgotten customer's report, whose name holds
    the id) left out, changed ones hashed again, and the files ``added`` in the folder
    listed too (with the stage whose files share their folder, ``reports/``). Whether
    run.json changed (``False`` for a folder that is not a monthly run)."""
    facts = refreshed_outputs(folder, added=added)
    if facts is not None:
        write_json(folder / RUN_FILE, facts)
    return facts is not None


def refreshed_outputs(
    folder: Path, pending: Mapping[Path, Path | None] | None = None, added: Iterable[Path] = ()
) -> dict[str, Any] | None:
    """The ``run.json`` of the monthly run in ``folder`` listing its outputs as they are,
    or as they will be once ``pending`` is in place (each path changed: the staged file
    or folder that replaces it, ``None`` when removed); its run id the scoring run's.
    ``None`` when nothing changes, or ``folder`` is not a monthly run."""
    path = folder / RUN_FILE
    try:
        facts = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    outputs = facts.get("outputs") if isinstance(facts, dict) else None
    if not isinstance(outputs, dict) or "period" not in facts:
        return None
    changes = {Path(os.path.abspath(k)): v for k, v in (pending or {}).items()}

    def where(name: str) -> Path | None:
        """Where the file ``name`` of the folder will be (``None``: removed)."""
        target = Path(os.path.abspath(folder / name))
        for above in (target, *target.parents):
            if above in changes:
                staged = changes[above]
                return None if staged is None else staged / target.relative_to(above)
        return target

    lists = [facts] + [
        stage
        for stage in (facts.get("stages") or {}).values()
        if isinstance(stage, dict) and isinstance(stage.get("outputs"), dict)
    ]  # the run's files, and each stage's (kept to resume a run)
    inside = Path(os.path.abspath(folder))
    absolute = [Path(os.path.abspath(p)) for p in added]
    new_names = [p.relative_to(inside).as_posix() for p in absolute if p.is_relative_to(inside)]
    changed = False
    hashed: dict[str, str | None] = {}  # by name: a stage's files are the run's too

    def digest(name: str) -> str | None:
        if name not in hashed:
            file = where(name)
            hashed[name] = None
            if file is not None and file.is_file() and not file.is_symlink():
                hashed[name] = sha256_file(file)
        return hashed[name]

    for holder in lists:
        listed = holder["outputs"]
        tops = {name.split("/")[0] for name in listed if "/" in name}
        more = [
            n
            for n in new_names
            if n not in listed and (holder is facts or ("/" in n and n.split("/")[0] in tops))
        ]
        fresh = {}
        for name in sorted([*listed, *more]) if more else listed:
            if (found := digest(name)) is not None:
                fresh[name] = found
        if fresh != listed:
            holder["outputs"] = fresh
            changed = True
            reports = (facts.get("stages") or {}).get("reports")
            if isinstance(reports, dict) and holder is reports:  # a forgotten customer's
                _uncount_reports(reports, [n for n in listed if n not in fresh])
    names = {p.name for p in folder.glob(f"*{FACTS_SUFFIX}*")}
    names |= {p.name for p in changes if p.parent == inside}
    for name in sorted(names):  # the run id is the scoring run's (rewritten)
        scoring = where(name)
        if not name.endswith((FACTS_SUFFIX, FACTS_SUFFIX + SUFFIX)) or scoring is None:
            continue
        with contextlib.suppress(DataError):
            scored = read_facts(scoring) if scoring.exists() else {}
            run_id = scored.get("run_id")
            if run_id and facts.get("run_id") != run_id:
                facts["run_id"] = run_id
                changed = True
            changed = _recount(facts, scored) or changed
    return facts if changed else None


def _uncount_reports(stage: dict[str, Any], gone: list[str]) -> None:
    """The reports stage's counts without the PDFs ``gone`` (``custrisk forget`` deletes
    a forgotten customer's report), as the summary line of a run with nothing to do says."""
    rows = stage.get("rows")
    pdfs = sum(1 for name in gone if name.lower().endswith(".pdf"))
    if not pdfs or not isinstance(rows, dict):
        return
    for key in ("documents", "rendered"):
        if isinstance(rows.get(key), int):
            rows[key] = max(rows[key] - pdfs, 0)


def _recount(facts: dict[str, Any], scored: Mapping[str, Any]) -> bool:
    """The score stage's counts in ``facts`` (run.json) less the customers and alerts a
    ``custrisk forget`` removed since (``removed`` in the scoring run's facts), so that
    run.json and the summary line of a run with nothing to do count what is there."""
    removed = scored.get("removed")
    stage = (facts.get("stages") or {}).get("score")
    rows = stage.get("rows") if isinstance(stage, dict) else None
    alerts = scored.get("alerts")
    if not isinstance(removed, dict) or not isinstance(stage, dict) or not isinstance(rows, dict):
        return False
    by_level = alerts.get("by_level") if isinstance(alerts, dict) else None
    fresh = dict(rows)
    if isinstance(scored.get("customers"), int):
        fresh["customers"] = scored["customers"] - int(removed.get("customers") or 0)
    if isinstance(by_level, dict):
        for level, count in by_level.items():
            fresh[f"alerts_{level}"] = int(count) - int(removed.get(f"alerts_{level}") or 0)
        fresh["alerts"] = sum(fresh[f"alerts_{level}"] for level in by_level)
    if fresh == rows:
        return False
    stage["rows"] = fresh
    return True


def previous_model_differs(previous: Path | None, model_id: str) -> str | None:
    """The words on a previous run scored by another model than ``model_id`` (a version
    trained and promoted since): its grades are the old model's, so the grade changes,
    the migration and the alerts on them (GR01) compare two models, not two months."""
    if previous is None:
        return None
    before = read_json(previous / RUN_FILE).get("model", {}).get("model_id")
    if not before or before == model_id:
        return None
    return (
        f"model {model_id}, {previous.name} scored by {before}: grade changes and their "
        "alerts compare the two models"
    )


def compared_with(runs: Path, period: str, facts: dict[str, Any]) -> dict[str, Any] | None:
    """The run a finished run of ``period`` counts as compared with now: the latest
    earlier run, or the one it recorded when that was removed since (retention) and no
    run came between -- the run was made with it and is no less up to date."""
    latest = previous_run(runs, period)
    recorded = facts.get("previous")
    if isinstance(recorded, dict) and isinstance(recorded.get("period"), str):
        gone = not (runs / recorded["period"] / RUN_FILE).is_file()
        if gone and (latest is None or latest.name < recorded["period"]):
            return recorded
    return run_ref(latest)


def run_ref(run: Path | None) -> dict[str, Any] | None:
    """How run.json names a previous run: its period and the run id it was published
    with (a ``custrisk forget`` since gives it another, which does not make the later
    months out of date: the customer is gone from them too)."""
    if run is None:
        return None
    facts = read_json(run / RUN_FILE)
    return {"period": run.name, "run_id": facts.get(PUBLISHED_RUN_ID) or facts.get("run_id")}


def relist_runs(root: Path, pending: Mapping[Path, Path | None] | None = None) -> dict[Path, bytes]:
    """The run.json of every monthly run under ``root`` whose outputs change (removed,
    rehashed) once ``pending`` is in place (see :func:`refreshed_outputs`), as the bytes
    to write (``custrisk forget``'s ``relist``: staged with the other files it changes).
    A new run id leaves the one the month was published with in ``published_run_id``:
    the later months were compared with that run, and a customer erased from both leaves
    them up to date (:func:`custrisk.batch.run` names a previous run by it), rather than
    run again from exports that may still hold the customer."""
    found = {}
    for facts_file in sorted(root.rglob(RUN_FILE)):
        facts = refreshed_outputs(facts_file.parent, pending)
        if facts is not None:
            published = read_json(facts_file).get("run_id")
            if published and facts.get("run_id") != published:
                facts.setdefault(PUBLISHED_RUN_ID, published)
            found[facts_file] = json_bytes(facts)
    return found


__all__ = [
    "LOG_FILE",
    "PUBLISHED_RUN_ID",
    "RUN_FILE",
    "STATE_FILE",
    "RunLayout",
    "apply_retention",
    "compared_with",
    "file_hashes",
    "periods",
    "previous_model_differs",
    "previous_run",
    "read_json",
    "json_bytes",
    "refresh_outputs",
    "refreshed_outputs",
    "relist_runs",
    "remove_outputs",
    "run_ref",
    "unfinished",
    "write_json",
]
