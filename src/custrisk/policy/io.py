"""Reading previous scores, and writing, reading and filtering the alerts file."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from custrisk.errors import DataError, UsageError
from custrisk.io.safe_csv import READ_ENCODING, csv_bytes, read_csv
from custrisk.policy.rules import LEVEL_RANK, LEVELS

#: The alerts file, written in the folder of the scores file.
ALERTS_FILE = "alerts.csv"
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
)
#: ``--fail-on`` values: a level, or ``never``.
FAIL_ON = (*LEVELS, "never")
_PREVIOUS_COLUMNS = ("customer_id", "score")


def alerts_path(scores_path: str | os.PathLike[str]) -> Path:
    """Where the alerts of a scores file are written: ``alerts.csv`` in its folder."""
    return Path(scores_path).with_name(ALERTS_FILE)


def alerts_csv_bytes(alerts: pd.DataFrame, *, encoding: str | None = None) -> bytes:
    """The alerts as CSV bytes (LF line ends; every text cell that looks like a formula
    escaped, ids included); UTF-8 with a BOM unless ``encoding`` is ``utf-8``."""
    return csv_bytes(alerts.loc[:, list(ALERT_COLUMNS)], encoding=encoding)


def write_alerts(
    alerts: pd.DataFrame, path: str | os.PathLike[str], *, csv_encoding: str | None = None
) -> str:
    """Write the alerts CSV atomically (mode 0600), UTF-8 with a BOM by default.

    Returns
    -------
    str
        SHA-256 of the bytes written (kept in the run facts, so that ``custrisk alerts``
        can tell that the file belongs to the scores beside it).
    """
    from custrisk.io.atomic import write_bytes

    data = alerts_csv_bytes(alerts, encoding=csv_encoding)
    write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def read_alerts(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read an alerts file written by ``custrisk score``.

    Raises
    ------
    DataError
        If the file is missing, unreadable or lacks alert columns.
    """
    path = Path(path)
    try:
        frame = read_csv(path, dtype="str", keep_default_na=False)
    except FileNotFoundError:
        raise DataError(
            "alerts file not found", file=str(path), hint="run custrisk score first"
        ) from None
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read the alerts file: {exc}", file=str(path)) from None
    missing = [c for c in ALERT_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            f"not an alerts file: columns {', '.join(missing)} are missing",
            file=str(path),
            hint="pass alerts.csv or the scores file it belongs to",
        )
    hours = pd.to_numeric(frame["response_hours"], errors="coerce")
    if hours.isna().any():
        line = int(np.flatnonzero(hours.isna().to_numpy())[0]) + 2
        raise DataError(
            f"response_hours {frame['response_hours'].iloc[line - 2]!r} is not a number",
            file=str(path),
            line=line,
        )
    frame["response_hours"] = hours.astype(np.int64)
    unknown = sorted(set(frame["level"]) - set(LEVELS))
    if unknown:
        raise DataError(f"unknown alert level {unknown[0]!r}", file=str(path), column="level")
    return frame


def _is_alerts_csv(path: Path) -> bool:
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    with path.open(encoding=READ_ENCODING, errors="replace") as handle:
        header = handle.readline().strip().split(",")
    return {"code", "level", "message_zh"} <= set(header)


def resolve_alerts_file(path: str | os.PathLike[str]) -> Path:
    """The alerts file for ``path``: an alerts CSV, a scores file or a folder.

    For a scores file this is ``alerts.csv`` in its folder; when the scores' run facts
    (``<stem>.run.json``) record the alerts file's SHA-256, a file written by another
    run is refused.

    Raises
    ------
    DataError
        If there is no alerts file, or it belongs to another run.
    """
    from custrisk.modeling.pipeline import sidecar_paths

    path = Path(path)
    if path.is_dir():
        return path / ALERTS_FILE
    if _is_alerts_csv(path):
        return path
    if not path.exists():
        raise DataError("file not found", file=str(path), hint="pass a scores or alerts file")
    target = alerts_path(path)
    if not target.exists():
        raise DataError(
            f"no {ALERTS_FILE} beside the scores file",
            file=str(path),
            hint="score with a custrisk that writes alerts, or pass the alerts file itself",
        )
    _, run_path = sidecar_paths(path)
    if run_path.exists():
        try:
            facts = json.loads(run_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            facts = {}
        expected = (facts.get("alerts") or {}).get("sha256") if isinstance(facts, dict) else None
        if expected:
            actual = hashlib.sha256(target.read_bytes()).hexdigest()
            if actual != expected:
                raise DataError(
                    f"{target.name} was written by another run (or changed) than {path.name}",
                    file=str(target),
                    hint="score each period into its own folder, or pass the alerts file itself",
                )
    return target


def alerts_at_or_above(alerts: pd.DataFrame, level: str) -> pd.DataFrame:
    """The alerts at ``level`` or more severe (``never``: none)."""
    if level not in FAIL_ON:
        raise UsageError(f"level must be one of {', '.join(FAIL_ON)}; got {level!r}")
    if level == "never":
        return alerts.iloc[0:0]
    ranks = alerts["level"].map(LEVEL_RANK)
    return alerts.loc[(ranks <= LEVEL_RANK[level]).to_numpy()]


def filter_alerts(
    alerts: pd.DataFrame,
    *,
    level: str | None = None,
    owners: Iterable[str] = (),
    codes: Iterable[str] = (),
    grades: Iterable[str] = (),
) -> pd.DataFrame:
    """Alerts at ``level`` or above, of the given owners, rule codes and grades.

    Empty filters let everything through; each filter matches exactly (codes and
    grades ignore case).
    """
    out = alerts
    if level is not None:
        if level not in LEVELS:
            raise UsageError(f"--level must be one of {', '.join(LEVELS)}; got {level!r}")
        out = alerts_at_or_above(out, level)
    owner_set = set(owners)
    if owner_set:
        out = out.loc[out["owner"].isin(owner_set).to_numpy()]
    code_set = {c.upper() for c in codes}
    if code_set:
        out = out.loc[out["code"].str.upper().isin(code_set).to_numpy()]
    grade_set = {g.upper() for g in grades}
    if grade_set:
        out = out.loc[out["grade"].astype("str").str.upper().isin(grade_set).to_numpy()]
    return out.reset_index(drop=True)


def read_previous_scores(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a scores file of an earlier ``custrisk score`` run (CSV or Parquet).

    Returns
    -------
    pandas.DataFrame
        ``customer_id`` (text), ``score`` and, when the file has them, ``grade``,
        ``recommended_limit`` and ``as_of``.

    Raises
    ------
    DataError
        If the file is missing or unreadable, lacks ``customer_id``/``score``, has a
        score that is not a number, or holds a customer twice.
    """
    from custrisk.indicators import output_format

    path = Path(path)
    kind = output_format(path)
    try:
        if kind == "csv":
            frame = read_csv(path, dtype={"customer_id": "str", "grade": "str", "as_of": "str"})
        else:
            frame = pd.read_parquet(path)
    except FileNotFoundError:
        raise DataError(
            "previous scores file not found",
            file=str(path),
            hint="pass a scores file written by an earlier custrisk score with --previous",
        ) from None
    except (ValueError, UnicodeDecodeError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read the previous scores: {exc}", file=str(path)) from None
    missing = [c for c in _PREVIOUS_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            f"not a scores file: column(s) {', '.join(missing)} missing",
            file=str(path),
            hint="pass a scores file written by custrisk score",
        )
    keep = [
        c for c in ("customer_id", "as_of", "score", "grade", "recommended_limit") if c in frame
    ]
    out = frame.loc[:, keep].copy()
    out["customer_id"] = out["customer_id"].astype("str")
    score = pd.to_numeric(out["score"], errors="coerce")
    bad = score.isna() & out["score"].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"score {out['score'].iloc[row]!r} is not a number",
            file=str(path),
            line=row + 2 if kind == "csv" else None,
            column="score",
        )
    out["score"] = score.astype(np.float64)
    if "recommended_limit" in out:
        out["recommended_limit"] = pd.to_numeric(out["recommended_limit"], errors="coerce")
    if "grade" in out:
        out["grade"] = out["grade"].astype("str")
    duplicated = out["customer_id"].duplicated()
    if duplicated.any():
        raise DataError(
            f"customer {out['customer_id'][duplicated].iloc[0]!r} appears more than once",
            file=str(path),
            column="customer_id",
        )
    return out
