"""Forgetting one customer (a deletion request): every run folder under a root.

For each scoring run (a ``*.run.json`` with its files) the customer's rows are removed,
or pseudonymised, and the run rewritten as one unit (:func:`custrisk.results.forget_in_run`);
in each report folder (``manifest.csv``) the customer's PDF and manifest row are removed
and the portfolio report is named as stale (it may list the customer: render it again);
any other CSV under the root with a ``customer_id`` column, and any rejects CSV naming
the customer in a field, loses those rows. Last, every file left under the root is
searched for the id: what still holds it is listed for the operator (workbooks of other
commands, PDFs), never silently kept.

Encrypted files (``--encrypt``, ``encrypt: true``) are read through the envelope and
written back encrypted with the active encryption key, a clear file stays clear; the
final search looks into their plaintext. Every encrypted file's key is checked before
anything is changed: without it, nothing is touched and the error names the key id.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import hmac
import io
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from custrisk.errors import UsageError
from custrisk.io.atomic import active_group, atomic_open, sealing, write_bytes
from custrisk.io.safe_csv import READ_ENCODING
from custrisk.protect.envelope import SUFFIX, is_encrypted, key_id_of, plain_name
from custrisk.protect.keys import Key
from custrisk.protect.output import encryption, existing, keyring_for, plain_bytes
from custrisk.protect.pseudonym import REIDENTIFICATION_COLUMNS
from custrisk.report.batch import (
    MANIFEST,
    PORTFOLIO_FILE,
    customer_file_name,
    read_manifest,
    write_manifest,
)
from custrisk.results import (
    FACTS_SUFFIX,
    PARTS,
    STAGE_PREFIX,
    forget_in_run,
    locate_run,
    locked_folder,
)

MODES = ("remove", "pseudonymise")
#: Files whose bytes do not show the text they hold.
_OPAQUE = frozenset({".xlsx", ".xlsm", ".parquet", ".pq", ".pdf", ".gz", ".zip", ".joblib"})
#: Files searched for the id after forgetting, up to this size each.
MAX_SEARCH_BYTES = 256 << 20


@dataclass
class ForgetResult:
    """What :func:`forget_customer` changed, and what still needs a person."""

    runs: dict[str, dict[str, int]] = field(default_factory=dict)  # facts file -> rows
    reports_removed: list[Path] = field(default_factory=list)
    stale_portfolios: list[Path] = field(default_factory=list)
    tables: dict[str, int] = field(default_factory=dict)  # other CSV -> rows removed
    #: files that may still hold the id, with why: for the operator to check
    remaining: list[tuple[Path, str]] = field(default_factory=list)
    token: str | None = None
    #: monthly run folders whose run.json lists their files again (removed, rehashed)
    batch_runs: list[Path] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return len(self.runs) + len(self.reports_removed) + len(self.tables)


def pseudonym_token(key: Key, customer_id: str) -> str:
    """The stable pseudonym of a forgotten customer: HMAC-SHA256 under the pseudonym key."""
    digest = hmac.new(key.secret, b"forget\x00" + customer_id.encode("utf-8"), hashlib.sha256)
    return "anon-" + digest.hexdigest()[:20]


def forget_customer(
    customer_id: str,
    runs: str | os.PathLike[str],
    *,
    mode: str = "remove",
    key: Key | None = None,
    relist: Callable[[Path], list[Path]] | None = None,
) -> ForgetResult:
    """Remove (or pseudonymise) ``customer_id`` everywhere under ``runs``.

    Parameters
    ----------
    customer_id : str
        The customer's id as it appears in the scores.
    runs : path
        The folder holding run folders (searched recursively).
    mode : {"remove", "pseudonymise"}
        Drop the customer's rows, or keep them under a keyed token with the masked
        identity blanked (portfolio figures stay whole).
    key : Key, optional
        The pseudonym key (``pseudonymise`` only).
    relist : callable, optional
        Given ``runs``, lists the files of each monthly run under it again once the
        customer is gone (:func:`custrisk.batch.layout.relist_runs`), returning the files
        it rewrote; before the final search, which would find the report's name there.
    """
    customer_id = customer_id.strip()
    if not customer_id:
        raise UsageError("the customer id is empty")
    if mode not in MODES:
        raise UsageError(f"--mode {mode!r} is not one of {', '.join(MODES)}")
    root = Path(runs)
    if not root.is_dir():
        raise UsageError(f"--runs {root} is not a folder", hint="pass the folder of the runs")
    result = ForgetResult()
    if mode == "pseudonymise":
        if key is None:
            raise UsageError(
                "--mode pseudonymise needs a pseudonym key",
                hint="create one with: custrisk keys new --purpose pseudonym",
            )
        result.token = pseudonym_token(key, customer_id)
    _check_keys(root)  # before anything changes: every encrypted file can be read
    handled: set[Path] = set()
    facts_files = [*root.rglob(f"*{FACTS_SUFFIX}"), *root.rglob(f"*{FACTS_SUFFIX}{SUFFIX}")]
    for facts in sorted(facts_files):
        if any(part.startswith(STAGE_PREFIX) for part in facts.parts):
            continue
        counts = forget_in_run(facts, customer_id, token=result.token)
        if counts:
            result.runs[str(plain_name(facts))] = counts
        handled.update(_run_members(facts))
    manifests = {
        plain_name(m).parent for m in [*root.rglob(MANIFEST), *root.rglob(MANIFEST + SUFFIX)]
    }
    for folder in sorted(manifests):
        _forget_in_reports(folder, customer_id, result)
        handled.update(_both_forms(folder / MANIFEST))
        for pdf in [*folder.glob("customer_*.pdf"), *folder.glob(f"customer_*.pdf{SUFFIX}")]:
            handled.add(pdf)  # other customers' reports
        handled.update(_both_forms(folder / PORTFOLIO_FILE))  # named as stale when it matters
    for table in sorted([*root.rglob("*.csv"), *root.rglob(f"*.csv{SUFFIX}")]):
        if table in handled or table.name.startswith("."):
            continue
        removed = _forget_in_csv(table, customer_id)
        if removed:
            result.tables[str(table)] = removed
    if result.changed and relist is not None:  # monthly runs (custrisk run) list files
        result.batch_runs = relist(root)
    result.remaining = _still_naming(root, customer_id, handled)
    return result


def _check_keys(root: Path) -> None:
    """Every encrypted file under ``root`` can be read with the keys at hand: else a
    :class:`~custrisk.errors.DataError` naming the first missing key id (exit 2)."""
    checked: set[str] = set()
    for path in sorted(root.rglob(f"*{SUFFIX}")):
        if path.is_file() and not path.is_symlink() and is_encrypted(path):
            key_id = key_id_of(path)
            if key_id not in checked:
                keyring_for(path)
                checked.add(key_id)


def _both_forms(path: Path) -> tuple[Path, Path]:
    plain = plain_name(path)
    return plain, plain.with_name(plain.name + SUFFIX)


def _run_members(facts: Path) -> set[Path]:
    """The files of a run, both forms (clear and encrypted), as its facts list them
    (the workbook included; of a table written as a folder of parts, every part)."""
    files = locate_run(facts)
    members = {files.facts, *(form for part in PARTS for form in files.forms(part))}
    with contextlib.suppress(OSError, ValueError):
        listed = json.loads(plain_bytes(existing(files.facts))).get("files") or {}
        members.update(files.facts.with_name(str(e.get("file"))) for e in listed.values())
        for entry in listed.values():  # scores, details, follow-ups as parts: each part
            folder = files.facts.with_name(str(entry.get("file")))
            members.update(folder / str(p.get("file")) for p in entry.get("parts") or ())
    return {form for member in members for form in _both_forms(member)}


def _forget_in_reports(folder: Path, customer_id: str, result: ForgetResult) -> None:
    with locked_folder(folder):
        rows = read_manifest(folder)
        mine = [key for key in rows if key[1] == customer_id]
        for pdf in _both_forms(folder / customer_file_name(customer_id)):
            if pdf.exists():
                pdf.unlink()
                result.reports_removed.append(pdf)
        if not mine:
            return
        kept = {key: row for key, row in rows.items() if key not in mine}
        manifest = existing(folder / MANIFEST)
        data = plain_bytes(manifest)
        encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
        with _sealing_like(manifest):
            write_manifest(folder, [], kept, list(kept), csv_encoding=encoding)
        for portfolio in _both_forms(folder / PORTFOLIO_FILE):
            if portfolio.exists():
                result.stale_portfolios.append(portfolio)


def _sealing_like(path: Path) -> contextlib.AbstractContextManager[None]:
    """Outputs written in the form of ``path``: encrypted (the active key) or clear."""
    sealed = path.name.endswith(SUFFIX) and is_encrypted(path)
    return sealing(encryption() if sealed else None, group=active_group())


def _forget_in_csv(path: Path, customer_id: str) -> int:
    """Drop the rows of a CSV whose ``customer_id`` is the customer (or, in a rejects
    file, any field names it; in a re-identification table, whose value is the id); the
    other lines are kept byte for byte. An encrypted CSV is written back encrypted,
    sealed from memory (no clear copy on disk)."""
    sealed = path.name.endswith(SUFFIX)
    if sealed and not is_encrypted(path):
        return 0  # not custrisk's: left for the final search to name
    data = plain_bytes(path)
    if customer_id.encode("utf-8") not in data:
        return 0
    bom = "\ufeff" if data.startswith(b"\xef\xbb\xbf") else ""
    try:
        text = data.decode(READ_ENCODING).removeprefix("\ufeff")
    except UnicodeDecodeError:
        return 0  # not UTF-8 (a GBK export?): left for the final search to name
    lines = text.splitlines(keepends=True)
    if not lines:
        return 0
    header = next(csv.reader([lines[0]]))
    rejects = "rejects" in path.name
    if tuple(header) == REIDENTIFICATION_COLUMNS:  # --pseudonymise's token -> id table
        column: int | None = header.index("value")
    elif "customer_id" in header:
        column = header.index("customer_id")
    elif rejects:
        column = None
    else:
        return 0
    kept = [lines[0]]
    removed = 0
    # records, not lines: a quoted field may hold a line break
    for record_lines in _records(lines[1:]):
        record = next(csv.reader(io.StringIO("".join(record_lines))), [])
        cells = [c.lstrip("'") for c in record]  # formula-escaped cells start with '
        if column is not None and column < len(cells):
            hit = cells[column] == customer_id
        else:
            hit = any(c == customer_id or customer_id in c.split(",") for c in cells)
        if hit:
            removed += 1
        else:
            kept.extend(record_lines)
    if removed:
        clean = (bom + "".join(kept)).encode("utf-8")
        if sealed:
            with atomic_open(path, "wb", sensitive=False) as sink:
                encryption().seal(io.BytesIO(clean), sink)
        else:
            write_bytes(path, clean)
    return removed


def _records(lines: list[str]) -> list[list[str]]:
    records: list[list[str]] = []
    current: list[str] = []
    quotes = 0
    for line in lines:
        current.append(line)
        quotes += line.count('"')
        if quotes % 2 == 0:
            records.append(current)
            current, quotes = [], 0
    if current:
        records.append(current)
    return records


def _still_naming(root: Path, customer_id: str, handled: set[Path]) -> list[tuple[Path, str]]:
    """Files under ``root`` that hold the id as a word, or that cannot be searched."""
    word = re.escape(customer_id.encode("utf-8"))
    # the id as a word, or in a file name custrisk writes (customer_<id>.pdf)
    needle = re.compile(rb"(?:(?<![A-Za-z0-9_-])|(?<=customer_))" + word + rb"(?![A-Za-z0-9_-])")
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink() or path.name.startswith(".custrisk"):
            continue
        sealed = path.name.endswith(SUFFIX)
        shown = plain_name(path) if sealed else path  # an encrypted file: its plaintext
        try:
            if shown.suffix.lower() in _OPAQUE:
                if path not in handled:
                    found.append((path, "compressed or binary: not searched"))
            elif sealed and not is_encrypted(path):
                found.append((path, "encrypted, not by custrisk: not searched"))
            elif path.stat().st_size > MAX_SEARCH_BYTES:
                found.append((path, "too large to search"))
            elif needle.search(plain_bytes(path) if sealed else path.read_bytes()):
                found.append((path, "holds the id"))
        except OSError as exc:
            found.append((path, f"unreadable ({exc.strerror})"))
    return found


__all__ = ["MODES", "ForgetResult", "forget_customer", "pseudonym_token"]
