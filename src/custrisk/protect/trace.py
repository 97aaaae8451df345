"""Whether files are as custrisk wrote them, by the audit log (``custrisk audit trace``).

A run's own digests (the facts list each file's SHA-256, ``facts_sha256`` each fact's)
catch an edit, not a forgery: whoever can write the folder can compute them again. The
audit log is kept under a key the folder's writers need not hold, and each of its lines
records the SHA-256 of every file its command wrote. So a file is vouched for when a
line of the verified log recorded its content: as a file (``custrisk score``'s scores,
``custrisk forget``'s rewrites), or as part of a folder the line recorded whole whose
files are all still as they were (a monthly run's ``reports/``). A file whose content no
line recorded was edited, or written by something other than custrisk; the latest line
that wrote a file of its name says when custrisk last wrote one.

The log is verified first (:func:`custrisk.protect.audit.verify_log`): a log that does not
verify vouches for nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from custrisk.errors import DataError
from custrisk.io.digest import sha256_file
from custrisk.protect.audit import (
    describe_path,
    produced,
    read_entries,
    require_ok,
    verify_log,
)
from custrisk.protect.keys import Keyring


@dataclass(frozen=True)
class Recorded:
    """One output a line of the log recorded: the line, its entry, the path as written
    there, and its SHA-256 (a folder's: over its files' names and hashes)."""

    line: int
    entry: Mapping[str, Any]
    path: str
    sha256: str
    folder: bool

    def said(self) -> str:
        """``line 12 (custrisk score, 2026-12-07 04:09 UTC, root@vm)``."""
        when = str(self.entry.get("time", ""))[:16].replace("T", " ")
        who = f"{self.entry.get('user', '?')}@{self.entry.get('host', '?')}"
        return f"line {self.line} (custrisk {self.entry.get('command', '?')}, {when} UTC, {who})"


@dataclass(frozen=True)
class Trace:
    """What the log says of one file."""

    path: Path
    sha256: str
    #: The line that wrote this content (the first to record it: the file, or a folder
    #: holding it)
    by: Recorded | None
    #: Without ``by``: the latest file of the same name a line recorded (at this path
    #: when one did)
    namesake: Recorded | None = None
    #: Without ``by``: the latest folder a line recorded whole that holds the file, by
    #: its path, whose files changed since (one was added, removed or edited)
    changed_folder: Recorded | None = None
    #: The path given for it: the file itself, or the folder it was found in
    given: Path = Path()
    #: Whether ``namesake`` was recorded at this file's path (else elsewhere)
    namesake_here: bool = False

    @property
    def ok(self) -> bool:
        return self.by is not None

    def as_dict(self) -> dict[str, Any]:
        """The trace as plain data (``audit trace --json``): the file, its SHA-256, whether
        it is vouched for and by which line (command, time, user, host), and the line
        :meth:`said` gives."""
        by = self.by
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "vouched": self.ok,
            "line": by.line if by else None,
            "command": by.entry.get("command") if by else None,
            "time": by.entry.get("time") if by else None,
            "user": by.entry.get("user") if by else None,
            "host": by.entry.get("host") if by else None,
            "in_folder": by.path if by and by.folder else None,
            "said": self.said(),
        }

    def said(self) -> str:
        """One line: vouched for, by which line, or why not."""
        if self.by is not None:
            part = f" (in the folder {self.by.path} it recorded)" if self.by.folder else ""
            return f"{self.path}: as custrisk wrote it{part}: {self.by.said()}"
        text = f"{self.path}: no line of the log recorded its content"
        if self.changed_folder is not None:
            return (
                f"{text}; {self.changed_folder.said()} recorded its folder "
                f"{self.changed_folder.path} whole, and a file in it was added, removed or "
                "edited since"
            )
        if self.namesake is not None and self.namesake_here:
            return (
                f"{text} (SHA-256 {self.sha256[:12]}…); custrisk last wrote it at "
                f"{self.namesake.said()} as {self.namesake.sha256[:12]}…: edited since"
            )
        if self.namesake is not None:
            return (
                f"{text} (SHA-256 {self.sha256[:12]}…); the latest file named "
                f"{Path(self.namesake.path).name} that custrisk wrote, {self.namesake.said()}, "
                f"had {self.namesake.sha256[:12]}…: not custrisk's, or edited since"
            )
        return f"{text} or name: custrisk did not write it (or not while the log was kept)"


class _Outputs:
    """The outputs the verified lines recorded: the first line to record each content,
    the latest to record each file name, the folders latest first."""

    def __init__(self, log: Path, lines: int) -> None:
        self.by_content: dict[str, Recorded] = {}
        self.by_name: dict[str, list[Recorded]] = {}
        self.folders: list[Recorded] = []
        for number, entry in read_entries(log):
            if number > lines:  # appended after the check: not verified
                break
            # a failed command's line: one written before ``not_produced`` hashed what
            # its paths held then (a file edited since, say), not "as custrisk wrote it"
            if not produced(entry):
                continue
            facts = entry.get("facts")
            rewrapped = facts.get("rewrapped") if isinstance(facts, dict) else None
            for output in entry.get("outputs") or []:
                digest = output.get("sha256")
                if not isinstance(digest, str):  # missing, unreadable, a huge folder
                    continue
                if isinstance(rewrapped, dict) and digest in rewrapped:
                    # keys rotate: the new bytes of a file whose old bytes a line vouched
                    # for (a forgery re-wrapped stays a forgery)
                    if rewrapped[digest] not in self.by_content:
                        continue
                folder = "files" in output
                seen = Recorded(number, entry, str(output.get("path", "")), digest, folder)
                if folder:
                    self.folders.append(seen)
                else:  # (the first line to record a content wrote it; later ones kept it)
                    self.by_content.setdefault(digest, seen)
                    self.by_name.setdefault(Path(seen.path).name, []).append(seen)
        self.folders.reverse()
        self._digests: dict[Path, str | None] = {}

    def namesake(self, path: Path) -> tuple[Recorded | None, bool]:
        """The latest file of ``path``'s name a line recorded, and whether at that path
        (as the line wrote it, relative or not): there when one was, else anywhere."""
        seen = self.by_name.get(path.name) or []
        at = [r for r in seen if _same_place(Path(r.path), path)]
        return ((at or seen)[-1] if seen else None), bool(at)

    def folder_holding(self, path: Path) -> tuple[Recorded | None, Recorded | None]:
        """The latest recorded folder holding ``path`` (by the path it was recorded
        under) whose files are still as they were, else ``None`` and the latest such
        folder that changed."""
        changed = None
        for seen in self.folders:
            recorded = Path(seen.path)
            for ancestor in path.parents:
                if not _same_place(recorded, ancestor):
                    continue
                if self._digest(ancestor) == seen.sha256:
                    return seen, None
                changed = changed or seen
        return None, changed

    def _digest(self, folder: Path) -> str | None:
        if folder not in self._digests:
            self._digests[folder] = describe_path(folder).get("sha256")
        return self._digests[folder]


def _same_place(recorded: Path, actual: Path) -> bool:
    """Whether a path as a line recorded it (absolute, or relative to a working folder
    the line does not say) names ``actual`` (absolute): equal, or its last parts."""
    if recorded.is_absolute():
        return recorded == actual
    parts = tuple(p for p in recorded.parts if p != ".")
    return bool(parts) and actual.parts[-len(parts) :] == parts


def trace_files(
    log: str | os.PathLike[str], paths: Iterable[str | os.PathLike[str]], keyring: Keyring
) -> list[Trace]:
    """What the audit log ``log`` says of each file of ``paths`` (a folder: each file in
    it), after verifying it (CheckFailed naming the first bad line when it does not).

    Raises
    ------
    DataError
        The log is missing, or a path is neither a file nor a folder.
    CheckFailed
        The log does not verify: it vouches for nothing.
    """
    verified = require_ok(verify_log(log, keyring))
    outputs = _Outputs(Path(log), verified.lines)
    traces = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        if path.is_dir():  # (hidden files are bookkeeping: locks, temporary files)
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and not p.is_symlink()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            files = [path]
        else:
            raise DataError("not found", file=str(path), hint="name a file or a folder of them")
        for file in files:
            where = file.resolve()
            if where in seen:
                continue
            seen.add(where)
            digest = sha256_file(file)
            by = outputs.by_content.get(digest)
            if by is not None:
                traces.append(Trace(file, digest, by, given=path))
                continue
            holder, changed = outputs.folder_holding(where)
            namesake, here = outputs.namesake(where)
            traces.append(
                Trace(
                    file,
                    digest,
                    holder,
                    namesake=namesake,
                    changed_folder=changed,
                    given=path,
                    namesake_here=here,
                )
            )
    return traces


__all__ = ["Recorded", "Trace", "trace_files"]
