"""The register of erased customers: who ``custrisk forget`` removed stays out of later runs.

``custrisk forget ID --runs DIR`` adds the customer's keyed token (the pseudonymiser's
HMAC-SHA256 under the installation's pseudonym key, :func:`custrisk.protect.pseudonym.
pseudonym`; never the id in clear) to ``DIR/forgotten.csv``, beside the run folders, so
backups and restores carry it with them. While a command reads exports with the register
active (:func:`erasing`), every row whose customer id has a registered token is dropped as
the files are read, before anything is cleaned, scored, rejected or written: only the
count is said. An export already pseudonymised holds the token itself, which matches too.

The register names the pseudonym key its tokens were made with; without that key the
tokens cannot be compared and the command stops with a clear error (exit 2) rather than
scoring the erased customers again.
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import datetime as dt
import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from custrisk.errors import ConfigError, UsageError
from custrisk.io.atomic import atomic_path
from custrisk.protect.keys import KEY_ENV, PSEUDONYM, Key, Keyring
from custrisk.protect.pseudonym import is_token, pseudonym

#: The register's file name, in the folder of the run folders.
REGISTER_FILE = "forgotten.csv"
_COLUMNS = ("token", "key", "recorded")


def register_path(runs: str | os.PathLike[str]) -> Path:
    """Where the register of the run folders under ``runs`` is: ``runs/forgotten.csv``, or
    beside a month's folder of ``custrisk run`` (``run.json``) when ``runs`` is one."""
    folder = Path(runs)
    if (folder / "run.json").is_file():
        folder = folder.parent
    return folder / REGISTER_FILE


def _read(path: Path) -> list[dict[str, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ConfigError(
            f"cannot read the register of erased customers: {exc.strerror}", file=str(path)
        ) from None
    rows = list(csv.DictReader(io.StringIO(text)))
    for number, row in enumerate(rows, start=2):
        if not is_token(row.get("token")) or not row.get("key"):
            raise ConfigError(
                f"line {number} is not a token and key id of custrisk forget",
                file=str(path),
                hint="restore the register from a backup; it is written only by custrisk forget",
            )
    return rows


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        temporary.write_text(buffer.getvalue(), encoding="utf-8")


def record(runs: str | os.PathLike[str], customer_id: str, key: Key) -> tuple[Path, bool]:
    """Add ``customer_id``'s token to the register of ``runs``; (the register, whether it
    was not there yet)."""
    path = register_path(runs)
    rows = _read(path)
    token = pseudonym(customer_id.strip(), key)
    if any(row["token"] == token and row["key"] == key.id for row in rows):
        return path, False
    today = dt.date.today().isoformat()
    _write(path, [*rows, {"token": token, "key": key.id, "recorded": today}])
    return path, True


def lift(runs: str | os.PathLike[str], customer_id: str, ring: Keyring) -> tuple[Path, int]:
    """Take ``customer_id`` out of the register of ``runs`` (an erasure recorded by
    mistake); (the register, how many entries were removed)."""
    path = register_path(runs)
    rows = _read(path)
    keep = []
    for row in rows:
        key = ring.require(row["key"], f"the register {path}")
        if pseudonym(customer_id.strip(), key) != row["token"]:
            keep.append(row)
    if len(keep) != len(rows):
        _write(path, keep)
    return path, len(rows) - len(keep)


@dataclass
class Erasures:
    """The registered tokens, by the key that made them, and the erased customers met."""

    path: Path
    keys: dict[str, Key]
    tokens: dict[str, frozenset[str]]
    #: the tokens of the erased customers whose rows were dropped so far
    met: set[str] = field(default_factory=set)
    #: each id looked at so far and whether it is erased: every export of a month names
    #: the same 200,000 customers, each hashed once (an HMAC a customer is ~6 µs)
    checked: dict[str, bool] = field(default_factory=dict, repr=False)

    def erased(self, values: Iterable[object]) -> set[object]:
        """Those of ``values`` (ids as read) that name an erased customer."""
        hits = set()
        for value in values:
            if value is None or value != value:  # (missing: NaN, None)
                continue
            text = str(value).strip()
            if not text:
                continue
            known = self.checked.get(text)
            if known is None:
                known = self.checked[text] = self._erased(text)
            if known:
                hits.add(value)
        return hits

    def _erased(self, text: str) -> bool:
        for key_id, key in self.keys.items():
            token = pseudonym(text, key)
            if token in self.tokens[key_id]:
                self.met.add(token)
                return True
        return False


def load_erasures(runs: str | os.PathLike[str], *, register: Path | None = None) -> Erasures | None:
    """The register of ``runs`` (or ``register``), ``None`` when there is none or it is
    empty; a :class:`ConfigError` (exit 2) when a key it was made with is not available
    (the keys of this process: :func:`custrisk.protect.output.keyring`)."""
    from custrisk.protect.output import keyring

    path = register if register is not None else register_path(runs)
    rows = _read(path)
    if not rows:
        return None
    ring: Keyring | None
    try:
        ring = keyring()
    except ConfigError:
        ring = None
    tokens: dict[str, set[str]] = {}
    for row in rows:
        tokens.setdefault(row["key"], set()).add(row["token"])
    keys: dict[str, Key] = {}
    for key_id in tokens:
        key = ring.get(key_id) if ring is not None else None
        if key is None or key.purpose != PSEUDONYM:
            raise ConfigError(
                f"the register of customers erased by custrisk forget needs the pseudonym "
                f"key '{key_id}' to leave them out, and it is not available"
                + (f" ({ring.source})" if ring is not None else ""),
                file=str(path),
                hint=f"set CUSTRISK_KEYFILE to the key file holding '{key_id}' (or "
                f"{KEY_ENV[PSEUDONYM]}={key_id}:BASE64); without it the erased customers "
                "would be scored again",
            )
        keys[key_id] = key
    return Erasures(path, keys, {k: frozenset(v) for k, v in tokens.items()})


_ACTIVE: contextvars.ContextVar[Erasures | None] = contextvars.ContextVar(
    "custrisk_erasures", default=None
)


def active_erasures() -> Erasures | None:
    """The register the current command leaves customers out by, if any."""
    return _ACTIVE.get()


def erasing_from_now(erasures: Erasures | None) -> None:
    """Leave the registered customers out of what the rest of the context reads."""
    _ACTIVE.set(erasures)


@contextlib.contextmanager
def erasing(erasures: Erasures | None) -> Iterator[Erasures | None]:
    """Within the block, exports are read without the registered customers."""
    token = _ACTIVE.set(erasures)
    try:
        yield erasures
    finally:
        _ACTIVE.reset(token)


def left_out_line(erasures: Erasures | None) -> str | None:
    """The one line saying how many erased customers were left out (no ids)."""
    if erasures is None or not erasures.met:
        return None
    count = len(erasures.met)
    if count == 1:
        return "1 customer erased by custrisk forget was left out"
    return f"{count} customers erased by custrisk forget were left out"


def erasures_for_output(out: str | os.PathLike[str], engine: str = "pandas") -> Erasures | None:
    """The register of customers erased by custrisk forget beside the run folders
    ``out`` (a scores file) goes into (``runs/forgotten.csv`` for
    ``runs/2026-10/scores.csv``, or in ``out``'s own folder), made active: its customers
    are left out as the exports are read. The Dask engine does not leave them out yet:
    a register is then a :class:`UsageError`."""
    folder = Path(out).parent.resolve()
    found = next(
        (f / REGISTER_FILE for f in (folder, folder.parent) if (f / REGISTER_FILE).is_file()),
        None,
    )
    erasures = load_erasures(folder, register=found) if found is not None else None
    if erasures is not None and engine == "dask":
        raise UsageError(
            f"{erasures.path} lists customers erased by custrisk forget, and the Dask "
            "engine does not leave them out yet",
            hint="score with --engine pandas",
        )
    erasing_from_now(erasures)
    return erasures
