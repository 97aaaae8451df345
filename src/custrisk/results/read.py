"""Reading a scoring run back (:func:`read_run`): locating its files, checking each against
the facts and parsing its tables; the alerts and previous-run readers.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from custrisk.config._yaml import join_limited
from custrisk.errors import DataError
from custrisk.io.atomic import OUTPUT_FORMATS
from custrisk.io.digest import sha256_file
from custrisk.io.plain import path_argument
from custrisk.io.safe_csv import READ_ENCODING, unescape_frame
from custrisk.protect.audit import audit_event
from custrisk.protect.envelope import SUFFIX, plain_name
from custrisk.protect.output import existing, head_text, plain_bytes
from custrisk.protect.pseudonym import active_pseudonymiser
from custrisk.results.facts import check_facts, facts_language
from custrisk.results.layout import (
    ALERT_COLUMNS,
    CHANGE_COLUMNS,
    CLOSED_COLUMNS,
    DEFAULT_LANG,
    DETAILS_NUMERIC,
    FACTS_SUFFIX,
    FOLLOWUP_REQUIRED,
    LIFECYCLE_COLUMNS,
    OPTIONAL_PARTS,
    PARTED_TABLES,
    PARTS,
    PII_COLUMNS,
    SCORES_NUMERIC,
    SCORES_REQUIRED,
    TABLE_LABELS,
    RunFiles,
    run_files,
)
from custrisk.results.parts import parts_digest
from custrisk.results.storage import table_from_bytes
from custrisk.results.write import ScoringRun
from custrisk.vocab import LEVEL_RANK, LEVELS, followup_reason


def read_facts(path: str | os.PathLike[str] | RunFiles) -> dict[str, Any]:
    """The facts of the run at ``path`` (as :func:`read_run` takes it), checked
    (:func:`check_facts`) but without reading the run's tables: e.g. its run id.

    Raises
    ------
    DataError
        When the facts are missing, malformed or edited since they were written.
    """
    return checked_facts(locate_run(path))


def checked_facts(files: RunFiles) -> dict[str, Any]:
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


def locate_run(path: str | os.PathLike[str] | RunFiles) -> RunFiles:
    """The files of the run at ``path``: its scores file, its facts file, or a folder
    holding exactly one run (or the :class:`RunFiles` that :meth:`ScoringRun.write`
    returned: the run at its scores). The folder of the scores written as parts
    (``scores.parquet/``), or a scores file that is not there but whose run's facts are
    (``--out scores.csv`` made ``scores.parquet/``), is the run its facts describe.

    Raises
    ------
    DataError
        When nothing (or more than one run) is there.
    """
    if isinstance(path, RunFiles):  # read_run(run.write(...))
        path = path.scores
    path = path_argument(path, "run", hint="pass a scores file, its run facts or the run's folder")
    if path.is_dir():
        found_facts = sorted(
            [*path.glob(f"*{FACTS_SUFFIX}"), *path.glob(f"*{FACTS_SUFFIX}{SUFFIX}")]
        )
        facts_beside = _facts_beside(path) if not found_facts else None
        if facts_beside is not None:  # the scores written as parts: scores.parquet/
            return locate_run(facts_beside)
        if len(found_facts) != 1:
            found = "no run" if not found_facts else f"{len(found_facts)} runs"
            inside = [] if found_facts else _runs_inside(path)
            raise DataError(
                f"the folder holds {found} (files *{FACTS_SUFFIX})",
                file=str(path),
                hint=f"it holds runs a folder each (custrisk run's months): pass one, e.g. "
                f"{inside[-1]}"
                if inside
                else "pass the scores file of the run you mean",
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


def _runs_inside(folder: Path) -> list[Path]:
    """The folders directly in ``folder`` that hold a run (a runs folder of custrisk
    run: one per month), by name."""
    return [
        sub
        for sub in sorted(folder.iterdir())
        if sub.is_dir() and not sub.name.startswith(".") and any(sub.glob(f"*{FACTS_SUFFIX}*"))
    ]


def _facts_beside(scores: Path) -> Path | None:
    """The facts of the run whose scores file would be ``scores``, when they exist."""
    if plain_name(scores).suffix.lower() not in OUTPUT_FORMATS:
        return None
    facts = existing(run_files(scores).facts)
    return facts if facts.is_file() else None


def _names_a_run(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a run's scores file, facts or folder, or the scores file of a
    run whose scores were written as parts (see :func:`locate_run`)."""
    path = Path(path)
    return existing(path).exists() or _facts_beside(path) is not None


def read_run(
    path: str | os.PathLike[str] | RunFiles,
    *,
    parts: Sequence[str] = ("scores", "details", "alerts", "closed", "followups"),
    columns: Mapping[str, Collection[str]] | None = None,
) -> ScoringRun:
    """Read back a run written by :meth:`ScoringRun.write`, checking that its files
    belong together.

    Parameters
    ----------
    path : str, path-like or RunFiles
        The scores file, the facts file, or a folder holding one run; or the files
        :meth:`ScoringRun.write` returned.
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
    facts = checked_facts(files)
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
            paths = part_paths(files.parts_folder(part), entry, files, part)
            if part in parts:
                tables[part] = _read_parts(part, paths, files, (columns or {}).get(part))
            else:
                for path, part_entry in paths:
                    _check_file(path, part_entry, files, part)
        elif part in parts:
            data = read_verified(target, entry, files, part)
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


def part_paths(
    target: Path, entry: Mapping[str, Any], files: RunFiles, part: str
) -> list[tuple[Path, Mapping[str, Any]]]:
    """The files of a table written as parts, with their entries in the facts; checked
    to be the parts the facts list, all of them and nothing else."""
    folder = plain_name(target)  # the folder keeps its name; its parts are sealed
    listed = entry.get("parts")
    try:
        names = [str(e["file"]) for e in listed]  # type: ignore[union-attr]
        consistent = bool(names) and parts_digest(listed) == entry.get("sha256")  # type: ignore[arg-type]
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
            f"the folder of parts of the run's {TABLE_LABELS[part]} is missing",
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
        data = read_verified(path, entry, files, part)
        frame = table_from_bytes(data, path, what)
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


def read_verified(target: Path, entry: Mapping[str, Any], files: RunFiles, part: str) -> bytes:
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
        fast = _plain_floats(frame[column])
        if fast is not None:
            frame[column] = fast
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


def _plain_floats(column: pd.Series) -> pd.Series | None:
    """The numbers of a column of Arrow text (a CSV table's) cast in Arrow, ten times
    faster than :func:`pandas.to_numeric`; ``None`` when the cast cannot give exactly
    what ``to_numeric`` would: a column not of Arrow text (Parquet's), a value Arrow does not read
    (spaces, ``1,5``: the caller's path names it), ``nan`` (not a number there) or
    ``-0`` (``to_numeric`` reads a whole number, 0.0). Both read the shortest text of a
    float (as the scorer writes it) back to the same bits."""
    if not isinstance(column.dtype, pd.StringDtype) or column.dtype.storage != "pyarrow":
        return None
    try:
        cast = pc.cast(pa.array(column.array), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError):
        return None
    values = np.array(cast.to_numpy(zero_copy_only=False), dtype=np.float64)  # writable
    known = cast.is_valid().to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        odd = (np.isnan(values) & known) | ((values == 0) & np.signbit(values))
    if odd.any():
        return None
    return pd.Series(values, index=column.index, name=column.name, dtype="float64")


def _parse_scores(data: bytes, path: Path) -> pd.DataFrame:
    return _check_scores(table_from_bytes(data, path, "scores file"), path)


def _check_scores(
    frame: pd.DataFrame, path: Path, *, parts: Sequence[tuple[str, int]] = ()
) -> pd.DataFrame:
    _require(frame, SCORES_REQUIRED, path, "scores file")
    frame = _text_ids(frame, path, "scores file", unique=True, parts=parts)
    _numbers(frame, (*SCORES_NUMERIC, *_SCORES_CHANGE_NUMBERS), path)
    if "review_flag" in frame.columns:
        text = frame["review_flag"].astype("str").str.strip().str.lower()
        frame["review_flag"] = text.isin(("1", "true", "yes", "y", "t")).to_numpy()
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].astype("str")
    return _as_scored(frame).reset_index(drop=True)


#: The scores' columns of changes against a previous run that hold numbers (all of
#: ``CHANGE_COLUMNS`` but ``prev_grade``); of those, whole numbers with blanks (``Int64``).
_SCORES_CHANGE_NUMBERS = tuple(c for c in CHANGE_COLUMNS if c != "prev_grade")
_SCORES_WHOLE = ("prev_score", "score_change", "grade_change")
#: Scores' text columns blank (not missing) for a customer without an alert.
_SCORES_BLANK_TEXT = ("alert_level", "alert_codes")
#: The scorer's reason codes and labels: categorical, their categories the values present.
_REASON_TEXT = re.compile(r"reason_[0-9]+_(code|label)")


def _as_scored(frame: pd.DataFrame) -> pd.DataFrame:
    """The scores read back with the dtypes and blanks :func:`score_portfolio` gives them
    (a file holds no dtypes, and CSV no difference between blank and missing): the score
    a whole number, the reason codes and labels categorical, no alert ``''``."""
    score = frame["score"]
    known = score.to_numpy(dtype="float64", na_value=np.nan)
    if np.isfinite(known).all() and np.array_equal(known, np.round(known)):
        frame["score"] = known.astype(np.int64)
    _whole_numbers(frame, _SCORES_WHOLE)
    for column in _SCORES_BLANK_TEXT:
        if column in frame.columns and not isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].fillna("")
    for column in frame.columns:
        if _REASON_TEXT.fullmatch(str(column)) and not isinstance(
            frame[column].dtype, pd.CategoricalDtype
        ):
            frame[column] = pd.Categorical(frame[column])
    return frame


def _whole_numbers(frame: pd.DataFrame, columns: Iterable[str]) -> None:
    """Those of ``columns`` (read as numbers) that hold only whole numbers and blanks as
    ``Int64``, as the scorer gives them, in place."""
    for column in columns:
        if column in frame.columns:
            values = frame[column]
            if values.dropna().mod(1).eq(0).all():
                frame[column] = values.astype("Int64")


def _parse_details(data: bytes, path: Path) -> pd.DataFrame:
    return _check_details(table_from_bytes(data, path, "details file"), path)


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
    return _check_alerts(table_from_bytes(data, path, "alerts file"), path)


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
    return table_from_bytes(data, path, "rejects file")


def _parse_closed(data: bytes, path: Path) -> pd.DataFrame:
    frame = table_from_bytes(data, path, "closed alerts file")
    _require(frame, CLOSED_COLUMNS, path, "closed alerts file")
    frame = _text_ids(frame, path, "closed alerts file", unique=False)
    for column in CLOSED_COLUMNS[1:]:
        frame[column] = frame[column].astype("str").where(frame[column].notna(), "")
    return frame.loc[:, list(CLOSED_COLUMNS)].reset_index(drop=True)


def _parse_followups(data: bytes, path: Path) -> pd.DataFrame:
    return _check_followups(table_from_bytes(data, path, "follow-up plan"), path)


#: The follow-up plan's column of days, a number read back as the plan held it.
FOLLOW_UP_DAYS = "days_since_last_follow_up"


def _check_followups(
    frame: pd.DataFrame, path: Path, *, parts: Sequence[tuple[str, int]] = ()
) -> pd.DataFrame:
    _require(frame, FOLLOWUP_REQUIRED, path, "follow-up plan")
    if "reason_zh" not in frame.columns:  # written by an earlier version
        reason_zh = [followup_reason(r, "zh") for r in frame["reason"].fillna("")]
        frame.insert(list(frame.columns).index("reason") + 1, "reason_zh", reason_zh)
    frame = _text_ids(frame, path, "follow-up plan", unique=True, parts=parts)
    # whole days, blank when never followed up: the plan's Int64, as score_portfolio gives
    # it (read as text, ``> 30`` would compare strings)
    _numbers(frame, (FOLLOW_UP_DAYS,), path)
    _whole_numbers(frame, (FOLLOW_UP_DAYS,))
    for column in _FOLLOWUP_BLANK_TEXT:  # '' in the plan (no alert, no channel known)
        frame[column] = frame[column].fillna("")
    return frame


#: The follow-up plan's text columns that the plan holds blank ('', not missing).
_FOLLOWUP_BLANK_TEXT = ("open_alerts", "alert_level", "preferred_channel")


#: How each table that may be written as parts is named in messages, and what each part
#: is checked for (required columns, columns of numbers) before they are put together.
_WHAT = {"scores": "scores file", "details": "details file", "followups": "follow-up plan"}


_CHECKED: dict[str, tuple[Sequence[str], Sequence[str]]] = {
    "scores": (SCORES_REQUIRED, SCORES_NUMERIC),
    "details": (("customer_id",), DETAILS_NUMERIC),
    "followups": (FOLLOWUP_REQUIRED, ()),
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


def read_language(path: str | os.PathLike[str]) -> str:
    """The language of the run at ``path`` (as :func:`read_run` takes it; only its
    facts are read), or of the run whose alerts file an alerts CSV is (the one run in its
    folder, naming it): what a command reading the run defaults to. ``zh`` for a run
    written before the language was recorded, and for an alerts CSV of no run (e.g.
    one written by ``custrisk alerts --out``).

    Raises
    ------
    DataError
        As :func:`read_facts`.
    """
    path = Path(path)
    if is_alerts_csv(path):
        facts = sorted(
            [*path.parent.glob(f"*{FACTS_SUFFIX}"), *path.parent.glob(f"*{FACTS_SUFFIX}{SUFFIX}")]
        )
        if len(facts) != 1:
            return DEFAULT_LANG
        files = locate_run(facts[0])
        if plain_name(files.part("alerts")).name != plain_name(path).name:
            return DEFAULT_LANG
        path = facts[0]
    files = locate_run(path)
    return facts_language(checked_facts(files), files.facts)


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


def typed_table(data: bytes, path: Path, what: str) -> pd.DataFrame:
    """A run table as it was written: CSV numbers parsed exactly (round trip), ids and
    other text as text, so that writing it again gives the same cells."""
    if path.suffix.lower() != ".csv":
        return table_from_bytes(data, path, what)
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
    return unescape_frame(_blank_integers(frame, data))


def _blank_integers(frame: pd.DataFrame, data: bytes) -> pd.DataFrame:
    """Columns of whole numbers with blanks (``341``, ``""``; pandas reads them as
    floats) as nullable integers, so that they are written again as they were, not as
    ``341.0``."""
    floats = [
        name
        for name in frame.columns
        if frame[name].dtype == "float64" and frame[name].isna().any()
    ]
    if not floats:
        return frame
    text = pd.read_csv(
        io.BytesIO(data),
        dtype=str,
        usecols=floats,
        keep_default_na=False,
        na_values=[""],
        encoding=READ_ENCODING,
    )
    for name in floats:
        if text[name].dropna().str.fullmatch(r"-?[0-9]+").all():
            frame[name] = frame[name].astype("Int64")
    return frame
