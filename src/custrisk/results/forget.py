"""Forgetting one customer in a run (a deletion request): the run read, the customer
removed or pseudonymised, and the run rewritten as one unit.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from custrisk.io.atomic import (
    active_group,
    sealing,
)
from custrisk.protect.envelope import SUFFIX
from custrisk.protect.output import encryption, existing
from custrisk.results.layout import (
    ALERT_COLUMNS,
    FACTS_DIGESTS,
    MASKED_COLUMNS,
    PARTED_TABLES,
    PARTS,
    WORKBOOK,
    RunFiles,
)
from custrisk.results.parts import TableParts
from custrisk.results.read import (
    checked_facts,
    locate_run,
    part_paths,
    read_verified,
    typed_table,
)
from custrisk.results.write import ScoringRun, StagedRun


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
    facts = checked_facts(files)
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
        data = read_verified(target, entry, files, part)
        # every CSV of a run has the run's encoding: the scores may be Parquet
        bom = bom or (target.suffix.lower() == ".csv" and data.startswith(b"\xef\xbb\xbf"))
        tables[part] = typed_table(data, target, part)
    hits: dict[str, int] = {}
    removed: dict[str, int] = {}  # the rows counted in a monthly run's run.json, gone
    for part in ("scores", "details", "alerts", "closed", "followups"):
        frame = tables[part]
        if frame is None:
            continue
        if part == "alerts" and token is None and "level" in frame.columns:
            gone = frame.loc[frame["customer_id"].astype("str") == customer_id, "level"]
            removed.update({f"alerts_{k}": int(n) for k, n in gone.value_counts().items()})
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
        if token is None:
            removed["customers"] = hits.get("scores", 0)
        run = _forgotten_run(facts, tables, parted, removed)
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
        for path, entry in part_paths(files.parts_folder(part), listed[part], files, part):
            frame = typed_table(read_verified(path, entry, files, part), path, part)
            frame, found = _forget_rows(frame, customer_id, token)
            hits += found
            parts.add(frame)
    return parts, hits


def _forgotten_run(
    facts: Mapping[str, Any],
    tables: Mapping[str, pd.DataFrame | None],
    parts: Mapping[str, TableParts],
    removed: Mapping[str, int],
) -> ScoringRun:
    """A run read by :func:`forgetting_in_run`, without the customer, to write again.
    ``removed``: the customers and alerts (by level) dropped, added up over the forgets
    in ``removed`` (the counts ``custrisk run`` lists in run.json and its summary line
    are those scored less these; :func:`custrisk.batch.layout.refreshed_outputs`)."""
    kept = {k: v for k, v in facts.items() if k not in ("files", "run_id", FACTS_DIGESTS)}
    kept["forgotten"] = int(facts.get("forgotten") or 0) + 1
    if any(removed.values()):
        before = facts.get("removed")
        before = before if isinstance(before, dict) else {}
        total = {k: int(before.get(k) or 0) + int(removed.get(k) or 0) for k in {*before, *removed}}
        kept["removed"] = dict(sorted(total.items()))
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
