"""Keyed pseudonymisation: customer ids replaced by HMAC-SHA256 tokens (``--pseudonymise``).

A token is ``psn_`` + the first 20 hex digits (80 bits) of HMAC-SHA256 of the id under the
*pseudonym* key (``custrisk keys new --purpose pseudonym`` or ``CUSTRISK_PSEUDONYM_KEY``),
which is separate from the encryption key. The same id gives the same token every month
under the same key, so ``--previous``, grade migration and drift still join; without the
key a token cannot be turned back into the id nor recomputed from a guessed id.

Names, phones and id numbers never reach a pseudonymised output in clear: they are
masked (张**, 138****5678) before anything else sees them. The re-identification table
(token -> id) is written only encrypted, beside the outputs, as
``reidentification.csv.enc``; reading it back (``custrisk decrypt``) is a right of the
``admin`` role (see :mod:`custrisk.protect.roles`).

A value that already is a token is left as it is: pseudonymising twice (a previous run
that was pseudonymised) changes nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from custrisk.errors import ConfigError
from custrisk.io.atomic import sealing
from custrisk.io.safe_csv import read_csv, write_csv
from custrisk.protect.keys import ENCRYPTION, KEY_ENV, PSEUDONYM, Key
from custrisk.protect.output import Encryption, existing, keyring, open_plain
from custrisk.protect.roles import DECRYPT, require

TOKEN_PREFIX = "psn_"
TOKEN_HEX = 20
TOKEN = re.compile(rf"^{TOKEN_PREFIX}[0-9a-f]{{{TOKEN_HEX}}}$")
#: The re-identification table beside pseudonymised outputs (always encrypted).
REIDENTIFICATION_FILE = "reidentification.csv"
REIDENTIFICATION_COLUMNS = ("token", "column", "value")
_DOMAIN = b"custrisk pseudonym\x00"


def pseudonym(value: str, key: Key) -> str:
    """The token of one identifier (a token is returned as it is)."""
    if TOKEN.match(value):
        return value
    digest = hmac.new(key.secret, _DOMAIN + value.encode("utf-8"), hashlib.sha256).hexdigest()
    return TOKEN_PREFIX + digest[:TOKEN_HEX]


def is_token(value: object) -> bool:
    return isinstance(value, str) and TOKEN.match(value) is not None


@dataclass
class Pseudonymiser:
    """Tokens under one key, and the table to turn them back (kept for the run)."""

    key: Key
    encryption: Encryption
    #: Where the re-identification table goes (``None``: kept in memory only).
    folder: Path | None = None
    mapping: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    def tokens(self, values: pd.Series, column: str = "customer_id") -> pd.Series:
        """``values`` with every non-missing value replaced by its token (a blank id
        stays blank: it names nobody, and a rejects file says it is blank)."""
        as_text = values.astype(str)
        present = values.notna() & as_text.str.strip().ne("")
        if not present.any():
            return values
        text = as_text[present]
        unique = pd.unique(text.to_numpy(dtype=object))
        lookup = {v: pseudonym(v, self.key) for v in unique}
        for value, token in lookup.items():
            if value != token:
                self.mapping[(token, column)] = value
        out = values.astype(object).copy()
        out[present] = text.map(lookup).to_numpy(dtype=object)
        return out

    def frame(self, frame: pd.DataFrame, identifiers: Iterable[str]) -> pd.DataFrame:
        """``frame`` with its identifier columns tokenised."""
        present = [c for c in identifiers if c in frame.columns]
        if not present:
            return frame
        return frame.assign(**{c: self.tokens(frame[c], c) for c in present})

    def reidentification(self) -> pd.DataFrame:
        rows = sorted((token, column, value) for (token, column), value in self.mapping.items())
        return pd.DataFrame(rows, columns=list(REIDENTIFICATION_COLUMNS), dtype=object)

    def save(self) -> Path | None:
        """Merge the tokens met so far into the encrypted re-identification table of
        :attr:`folder` (always encrypted, whatever ``--encrypt`` says)."""
        if self.folder is None or not self.mapping:
            return None
        target = self.folder / REIDENTIFICATION_FILE
        table = self.reidentification()
        earlier = existing(target)
        if earlier.is_file():
            with open_plain(earlier) as handle:
                old = read_csv(handle, dtype=str, keep_default_na=False)
            table = (
                pd.concat([old, table], ignore_index=True)
                .drop_duplicates(["token", "column"], keep="last")
                .sort_values(["token", "column"], kind="stable")
                .reset_index(drop=True)
            )
        with sealing(self.encryption):
            return write_csv(table, target)

    def saved(self) -> Path | None:
        """The re-identification table :meth:`save` merged the tokens met into (as
        written: encrypted), or ``None`` when none was."""
        if self.folder is None or not self.mapping:
            return None
        table = existing(self.folder / REIDENTIFICATION_FILE)
        return table if table.is_file() else None


@dataclass
class Masker:
    """How a role without the right ``clear_pii`` reads exports and runs: customer ids
    kept, names, phones and id numbers masked as the rows are loaded (the same places
    and masks as :class:`Pseudonymiser`, which also tokenises the ids), so nothing after
    loading holds them in clear. Nothing to re-identify: no table is written."""

    def tokens(self, values: pd.Series, column: str = "customer_id") -> pd.Series:
        return values

    def frame(self, frame: pd.DataFrame, identifiers: Iterable[str]) -> pd.DataFrame:
        return frame

    def save(self) -> Path | None:
        return None


#: How personal data is read by a command: in clear, masked, or masked and pseudonymised.
READ_CLEAR, READ_MASKED, READ_PSEUDONYMISED = "clear", "masked", "pseudonymised"

_ACTIVE: contextvars.ContextVar[Pseudonymiser | Masker | None] = contextvars.ContextVar(
    "custrisk_pseudonymiser", default=None
)


def active_pseudonymiser() -> Pseudonymiser | Masker | None:
    """The pseudonymiser of the current command (``--pseudonymise``), or the masker of a
    role without ``clear_pii``, if any."""
    return _ACTIVE.get()


def reading() -> str:
    """How the current command reads personal data: :data:`READ_CLEAR`,
    :data:`READ_MASKED` or :data:`READ_PSEUDONYMISED`."""
    active = _ACTIVE.get()
    if active is None:
        return READ_CLEAR
    return READ_MASKED if isinstance(active, Masker) else READ_PSEUDONYMISED


def pseudonymiser(
    folder: str | os.PathLike[str] | None = None,
    keyfile: str | os.PathLike[str] | None = None,
) -> Pseudonymiser:
    """A pseudonymiser with the active pseudonym key; its re-identification table is
    encrypted with the active encryption key, so both are needed."""
    try:
        ring = keyring(keyfile)
        key = ring.active(PSEUDONYM)
        encryption = Encryption(ring.active(ENCRYPTION))
    except ConfigError as exc:
        raise ConfigError(
            f"--pseudonymise needs a pseudonym key and an encryption key (the "
            f"re-identification table is written only encrypted): {exc.message}",
            hint=f"custrisk keys new --purpose pseudonym and custrisk keys new (or set "
            f"{KEY_ENV[PSEUDONYM]} and {KEY_ENV[ENCRYPTION]})",
        ) from None
    return Pseudonymiser(key, encryption, Path(folder) if folder is not None else None)


def pseudonymise_from_now(active: Pseudonymiser | Masker | None) -> None:
    """Pseudonymise what the rest of the current context reads (see the CLI)."""
    _ACTIVE.set(active)


@contextlib.contextmanager
def pseudonymising(
    active: Pseudonymiser | Masker | None,
) -> Iterator[Pseudonymiser | Masker | None]:
    """Within the block, workspaces and runs are read pseudonymised by ``active``."""
    token = _ACTIVE.set(active)
    try:
        yield active
    finally:
        _ACTIVE.reset(token)


def reidentify(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The re-identification table of a folder or file (decrypted): needs the right
    ``decrypt`` (:mod:`custrisk.protect.roles`)."""
    path = Path(path)
    require(DECRYPT, f"read the re-identification table {path}")
    target = existing(path / REIDENTIFICATION_FILE if path.is_dir() else path)
    with open_plain(target) as handle:
        return read_csv(handle, dtype=str, keep_default_na=False)
