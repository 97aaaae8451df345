"""Forgetting one customer (a deletion request): every run folder under a root.

For each scoring run (a ``*.run.json`` with its files) the customer's rows are removed,
or pseudonymised, and the run rewritten as one unit (:func:`custrisk.results.forget_in_run`);
in each report folder (``manifest.csv``) the customer's PDF and manifest row are removed
and the portfolio report is named as stale (it may list the customer: render it again);
any other CSV under the root with a ``customer_id`` column, and any rejects CSV naming
the customer in a field, loses those rows. Last, every file left under the root is
searched for the id: what still holds it is listed for the operator (workbooks of other
commands, PDFs), never silently kept.

All or nothing: every file to change is first written to a temporary file beside it
(a run to its staging folder, its folder locked), the originals untouched; only when
every one is written are they all renamed into place (and the forgotten customer's
reports deleted). A failure on the way (an unreadable or damaged file, a folder that
cannot be written, a stop) removes the temporary files and leaves every file as it was.

Encrypted files (``--encrypt``, ``encrypt: true``) are read through the envelope and
written back encrypted with the active encryption key, a clear file stays clear; the
final search looks into their plaintext. Every encrypted file's key is checked before
anything is changed: without it, nothing is touched and the error names the key id.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import hmac
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from custrisk.errors import ConfigError, CustriskError, DataError, UsageError
from custrisk.io.atomic import active_group, private, sealing
from custrisk.io.safe_csv import READ_ENCODING
from custrisk.protect.audit import audit_event
from custrisk.protect.envelope import SUFFIX, is_encrypted, key_id_of, plain_name
from custrisk.protect.erasure import REGISTER_FILE
from custrisk.protect.keys import PSEUDONYM, Key, load_keyring
from custrisk.protect.output import encryption, existing, keyring_for, plain_bytes
from custrisk.protect.pseudonym import REIDENTIFICATION_COLUMNS, pseudonym
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
    StagedRun,
    forgetting_in_run,
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
    #: how many files were rewritten or deleted, all put in place together
    files_changed: int = 0
    #: the files rewritten (not those deleted), for the audit line
    written: list[Path] = field(default_factory=list)

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
    relist: Callable[[Path, Mapping[Path, Path | None]], Mapping[Path, bytes]] | None = None,
    token_of: str | None = None,
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
        Given ``runs`` and the changes staged (each file: its staged replacement, or
        ``None`` when deleted), the listing of each monthly run under it as it will be
        once the customer is gone (:func:`custrisk.batch.layout.relist_runs`): the
        run.json files to rewrite and their bytes, staged and put in place with the
        rest; before the final search, which would find the report's name there.
    token_of : str, optional
        The id whose ``anon-`` token ``pseudonymise`` gives (default ``customer_id``):
        the customer's own id when ``customer_id`` is its ``--pseudonymise`` token, so
        that the customer has one token in every run.

    Raises
    ------
    DataError, UsageError
        When a file cannot be read or written: nothing is changed then (every file is
        as it was), and the message says so.
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
        result.token = pseudonym_token(key, (token_of or customer_id).strip())
    _check_keys(root)  # before anything changes: every encrypted file can be read
    _remove_leftovers(root)
    try:
        with contextlib.ExitStack() as stack:
            changes = _Changes()
            stack.callback(changes.discard)  # whatever was staged and not put in place
            handled = _stage_forgetting(root, customer_id, result, changes, stack)
            if result.changed and relist is not None:  # monthly runs (custrisk run)
                for listing, data in relist(root, changes.pending()).items():
                    changes.stage(listing, data, sealed=False)
                    result.batch_runs.append(listing)
            written = [path for path, staged in changes.pending().items() if staged is not None]
            result.files_changed = changes.commit()
            result.written = sorted(written)
    except CustriskError as exc:
        raise _nothing_changed(exc) from None
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        raise _nothing_changed(DataError(f"{where}{exc.strerror or exc}")) from None
    result.remaining = _still_naming(root, customer_id, handled)
    return result


def forget_in_runs(
    customer: str,
    runs: str | os.PathLike[str],
    *,
    mode: str = "remove",
    key: Key | None = None,
    keyfile: Path | None = None,
    relist: Callable[[Path, Mapping[Path, Path | None]], Mapping[Path, bytes]] | None = None,
) -> dict[str, ForgetResult]:
    """Forget ``customer`` under ``runs`` (:func:`forget_customer`) after its id and,
    when the pseudonym key of ``keyfile`` is available, after its ``--pseudonymise``
    token: a pseudonymised run (``--pseudonymise``, or a role that pseudonymises) holds
    the customer under the token, which the key gives again whether or not the
    re-identification row is still there. Each forget is all or nothing; the customer
    has one ``anon-`` token in every run.

    Returns what each changed, by the name forgotten: the id first, then the token.
    Once all are done, the command's audit line gets each one's counts and the files
    it rewrote (hashed in the line, a monthly run's run.json with them: ``custrisk
    audit trace`` vouches for them by it).
    """
    names = [n for n in (customer, pseudonym_of(customer, keyfile)) if n is not None]
    results = {
        name: forget_customer(name, runs, mode=mode, key=key, relist=relist, token_of=customer)
        for name in names
    }
    for result in results.values():
        audit_event(
            rows={"runs": len(result.runs), "files": result.changed}, outputs=result.written
        )
    return results


def pseudonym_of(customer: str, keyfile: Path | None) -> str | None:
    """The customer's ``--pseudonymise`` token when a pseudonym key is available."""
    try:
        key = load_keyring(keyfile).active(PSEUDONYM)
    except ConfigError:
        return None
    token = pseudonym(customer.strip(), key)
    return token if token != customer.strip() else None


def _nothing_changed(exc: CustriskError) -> CustriskError:
    """``exc`` saying that forget changed nothing and how to go on."""
    said = "nothing was changed (every file is as it was); fix that and run custrisk forget again"
    exc.hint = f"{exc.hint}; {said}" if exc.hint else said
    exc.args = (exc.one_line(),)
    return exc


def _stage_forgetting(
    root: Path,
    customer_id: str,
    result: ForgetResult,
    changes: _Changes,
    stack: contextlib.ExitStack,
) -> set[Path]:
    """Stage every change under ``root`` into ``changes`` (nothing in place changed),
    holding the locks of the folders in ``stack``; the files handled (not searched as
    strays after)."""
    handled: set[Path] = set()
    locked: set[Path] = set()
    facts_files = [*root.rglob(f"*{FACTS_SUFFIX}"), *root.rglob(f"*{FACTS_SUFFIX}{SUFFIX}")]
    for facts in sorted(facts_files):
        if any(part.startswith(STAGE_PREFIX) for part in facts.parts):
            continue
        counts, staged = stack.enter_context(
            forgetting_in_run(facts, customer_id, token=result.token)
        )
        locked.add(Path(os.path.abspath(facts.parent)))
        if staged is not None:
            changes.runs.append(staged)
            result.runs[str(plain_name(facts))] = counts
        handled.update(_run_members(facts))
    manifests = {
        plain_name(m).parent for m in [*root.rglob(MANIFEST), *root.rglob(MANIFEST + SUFFIX)]
    }
    for folder in sorted(manifests):
        if Path(os.path.abspath(folder)) not in locked:  # (a run folder's lock is held)
            stack.enter_context(locked_folder(folder))
        _forget_in_reports(folder, customer_id, result, changes)
        handled.update(_both_forms(folder / MANIFEST))
        for pdf in [*folder.glob("customer_*.pdf"), *folder.glob(f"customer_*.pdf{SUFFIX}")]:
            handled.add(pdf)  # other customers' reports
        handled.update(_both_forms(folder / PORTFOLIO_FILE))  # named as stale when it matters
    for table in sorted([*root.rglob("*.csv"), *root.rglob(f"*.csv{SUFFIX}")]):
        if table in handled or table.name.startswith(".") or table.name == REGISTER_FILE:
            continue  # (the register of erasures: keyed tokens, kept on purpose)
        removed = _forget_in_csv(table, customer_id, changes)
        if removed:
            result.tables[str(table)] = removed
    return handled


#: The temporary files of a forget (removed when it fails, or by the next if killed).
TEMP_PREFIX = ".custrisk-forget."


class _Changes:
    """Every file a forget changes: staged to temporary files beside them first, then
    put in place together by :meth:`commit`; :meth:`discard` removes what is left."""

    def __init__(self) -> None:
        self.runs: list[StagedRun] = []
        self.temps: dict[Path, Path] = {}  # file -> its new content, staged beside it
        self.removals: list[Path] = []

    def stage(self, final: Path, data: bytes, *, sealed: bool) -> None:
        """Write ``data`` (sealed with the active key when ``sealed``) to a temporary
        file beside ``final``."""
        fd, name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{final.name}.", dir=final.parent)
        temp = Path(name)
        self.temps[final] = temp
        with os.fdopen(fd, "wb") as sink:
            if sealed:
                encryption().seal(io.BytesIO(data), sink)
            else:
                sink.write(data)
            sink.flush()
            os.fsync(sink.fileno())
        private(temp)

    def remove(self, path: Path) -> None:
        """Delete ``path`` with the rest (its folder checked to allow it now)."""
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "cannot delete a file in it", str(path.parent))
        self.removals.append(path)

    def pending(self) -> dict[Path, Path | None]:
        """Each file that :meth:`commit` changes: its staged replacement, or ``None``."""
        found: dict[Path, Path | None] = {}
        for run in self.runs:
            found.update(run.pending())
        found.update(self.temps)
        found.update(dict.fromkeys(self.removals))
        return found

    def commit(self) -> int:
        """Put everything in place; how many files were changed or deleted."""
        changed = len(self.temps) + len(self.removals)
        for run in self.runs:
            changed += sum(1 for path in run.pending().values() if path is not None)
            run.commit()
        for final, temp in self.temps.items():
            os.replace(temp, final)
        self.temps.clear()
        for path in self.removals:
            path.unlink(missing_ok=True)
        return changed

    def discard(self) -> None:
        for temp in self.temps.values():
            temp.unlink(missing_ok=True)
        self.temps.clear()


def _remove_leftovers(root: Path) -> None:
    """Temporary files of a forget that was killed before it put them in place."""
    for stale in root.rglob(f"{TEMP_PREFIX}*"):
        if stale.is_file() or stale.is_symlink():
            stale.unlink(missing_ok=True)


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


def _forget_in_reports(
    folder: Path, customer_id: str, result: ForgetResult, changes: _Changes
) -> None:
    """Stage the deletion of the customer's report and the manifest without its row."""
    rows = read_manifest(folder)
    mine = [key for key in rows if key[1] == customer_id]
    for pdf in _both_forms(folder / customer_file_name(customer_id)):
        if pdf.exists():
            changes.remove(pdf)
            result.reports_removed.append(pdf)
    if not mine:
        return
    kept = {key: row for key, row in rows.items() if key not in mine}
    manifest = existing(folder / MANIFEST)
    data = plain_bytes(manifest)
    encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
    scratch = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=folder))
    try:  # the manifest as report.batch writes it, clear, then staged in its form
        with sealing(None, group=active_group()):
            written = write_manifest(scratch, [], kept, list(kept), csv_encoding=encoding)
        changes.stage(manifest, written.read_bytes(), sealed=_is_sealed(manifest))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for portfolio in _both_forms(folder / PORTFOLIO_FILE):
        if portfolio.exists():
            result.stale_portfolios.append(portfolio)


def _is_sealed(path: Path) -> bool:
    return path.name.endswith(SUFFIX) and is_encrypted(path)


def _forget_in_csv(path: Path, customer_id: str, changes: _Changes) -> int:
    """Drop the rows of a CSV whose ``customer_id`` is the customer (or, in a rejects
    file, any field names it; in a re-identification table, whose value is the id); the
    other lines are kept byte for byte. An encrypted CSV is written back encrypted,
    sealed from memory (no clear copy on disk); staged into ``changes``."""
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
        # formula-escaped cells start with '; a rejects file quotes the raw value, stray
        # whitespace included (a whitespace repair: "\t0000000062")
        cells = [c.lstrip("'").strip() for c in record]
        if column is not None and column < len(cells):
            hit = cells[column] == customer_id
        else:
            hit = any(
                c == customer_id or customer_id in (f.strip() for f in c.split(",")) for c in cells
            )
        if hit:
            removed += 1
        else:
            kept.extend(record_lines)
    if removed:
        changes.stage(path, (bom + "".join(kept)).encode("utf-8"), sealed=sealed)
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
        if path.name == REGISTER_FILE:
            continue  # the register of erasures holds the token on purpose
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


def files_remaining(results: Mapping[str, ForgetResult]) -> list[tuple[Path, str]]:
    """The files the forgets of :func:`forget_in_runs` left that may still hold the
    customer, each once, with the first reason given: a file that cannot be searched (a
    model's ``.joblib``, a file too large) is left by the id's pass and the token's alike."""
    found: dict[Path, str] = {}
    for result in results.values():
        for path, why in result.remaining:
            found.setdefault(path, why)
    return list(found.items())


__all__ = ["MODES", "ForgetResult", "files_remaining", "forget_customer", "pseudonym_token"]
