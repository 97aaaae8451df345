"""Keys for encryption at rest and for keyed pseudonyms: a key file or the environment.

A key file is JSON, private to its owner (mode 0600: custrisk refuses a key file that
others can read, as ssh does), created and extended by ``custrisk keys new``::

    {"format": 1,
     "keys": [{"id": "enc-20261201-3fa9c2d1", "purpose": "encryption",
               "created": "2026-12-01T10:00:00+00:00", "secret": "<base64, 32 bytes>",
               "active": true}]}

Each purpose (``encryption``, ``pseudonym``, ``audit``: the MACs of the audit log) has
one active key: new files are written
with it; every key still in the file can read what it wrote, until it is retired
(``custrisk keys retire ID``). Key ids are public (they are written into the header of
every encrypted file); secrets never leave the key file or the variable.

Without an audit key, the audit log is chained with a key derived from the active
encryption key (id ``hkdf:`` + its id). Retiring that encryption key keeps the derived
key in the file, as an audit key of its own: the log still verifies, and the derived key
decrypts nothing.

Where the keys come from, first match wins:

1. ``CUSTRISK_KEY`` / ``CUSTRISK_PSEUDONYM_KEY`` / ``CUSTRISK_AUDIT_KEY`` -- one key as
   ``ID:BASE64`` (for CI and containers whose secrets arrive as variables);
2. the key file named by ``CUSTRISK_KEYFILE``;
3. ``~/.config/custrisk/keys.json``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import re
import secrets
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from custrisk.errors import ConfigError, UsageError

ENCRYPTION = "encryption"
PSEUDONYM = "pseudonym"
AUDIT = "audit"
PURPOSES = (ENCRYPTION, PSEUDONYM, AUDIT)
KEY_BYTES = 32
KEYFILE_ENV = "CUSTRISK_KEYFILE"
KEY_ENV = {
    ENCRYPTION: "CUSTRISK_KEY",
    PSEUDONYM: "CUSTRISK_PSEUDONYM_KEY",
    AUDIT: "CUSTRISK_AUDIT_KEY",
}
FORMAT = 1
#: A key file is a few keys; anything larger is not one.
MAX_KEYFILE_BYTES = 1 << 20
_PREFIX = {ENCRYPTION: "enc", PSEUDONYM: "psn", AUDIT: "aud"}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: Key ids of audit keys derived from an encryption key: this prefix + the encryption
#: key's id.
DERIVED_PREFIX = "hkdf:"
_HKDF_INFO = b"custrisk audit log v1"


def valid_key_id(key_id: str, purpose: str) -> bool:
    """Whether ``key_id`` is an id custrisk writes: a plain id, or for an audit key the
    id of one derived from an encryption key (``hkdf:enc-...``)."""
    if purpose == AUDIT and key_id.startswith(DERIVED_PREFIX):
        key_id = key_id[len(DERIVED_PREFIX) :]
    return bool(_ID.match(key_id))


def default_keyfile() -> Path:
    """The key file custrisk uses when none is named: ``$CUSTRISK_KEYFILE`` or
    ``~/.config/custrisk/keys.json``."""
    named = os.environ.get(KEYFILE_ENV, "").strip()
    if named:
        return Path(named).expanduser()
    return Path.home() / ".config" / "custrisk" / "keys.json"


@dataclass(frozen=True)
class Key:
    """One key: a public id, a purpose and a 32-byte secret (never printed)."""

    id: str
    purpose: str
    secret: bytes = field(repr=False)
    created: str = ""
    active: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "purpose": self.purpose,
            "created": self.created,
            "secret": base64.b64encode(self.secret).decode("ascii"),
            "active": self.active,
        }


@dataclass(frozen=True)
class Keyring:
    """The keys custrisk can use, and where they came from (for messages)."""

    keys: tuple[Key, ...]
    source: str

    def get(self, key_id: str) -> Key | None:
        return next((key for key in self.keys if key.id == key_id), None)

    def active(self, purpose: str = ENCRYPTION) -> Key:
        """The key new files are written with; a clear error when there is none."""
        for key in self.keys:
            if key.purpose == purpose and key.active:
                return key
        raise ConfigError(
            f"no active {purpose} key",
            file=self.source,
            hint=f"create one with: custrisk keys new --purpose {purpose}",
        )

    def require(self, key_id: str, what: str) -> Key:
        """The key with ``key_id``; names the id and where keys were looked for if absent."""
        key = self.get(key_id)
        if key is None:
            raise ConfigError(
                f"{what} needs key '{key_id}', which is not among the keys of {self.source}",
                hint=f"point {KEYFILE_ENV} at the key file that holds it (key ids: "
                f"custrisk keys list)",
            )
        return key


def new_key(purpose: str = ENCRYPTION, *, now: dt.datetime | None = None) -> Key:
    """A fresh random key; its id says its purpose, its day and a fingerprint."""
    if purpose not in PURPOSES:
        raise UsageError(f"unknown key purpose '{purpose}'; use one of {', '.join(PURPOSES)}")
    now = now or dt.datetime.now(dt.UTC)
    secret = secrets.token_bytes(KEY_BYTES)
    fingerprint = hashlib.sha256(b"custrisk key id\x00" + secret).hexdigest()[:8]
    key_id = f"{_PREFIX[purpose]}-{now:%Y%m%d}-{fingerprint}"
    return Key(key_id, purpose, secret, now.isoformat(timespec="seconds"), True)


def derive_audit_key(encryption: Key) -> Key:
    """The audit key derived from an encryption key (HKDF-SHA256, its own info string):
    it chains the audit log when there is no audit key, and reads nothing encrypted."""
    secret = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        encryption.secret
    )
    return Key(DERIVED_PREFIX + encryption.id, AUDIT, secret, encryption.created, True)


def _decode_secret(text: Any, where: str, key_id: str) -> bytes:
    try:
        secret = base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        secret = b""
    if len(secret) != KEY_BYTES:
        raise ConfigError(
            f"key '{key_id}' is not {KEY_BYTES} bytes of base64",
            file=where,
            hint="the key file was edited by hand or damaged; restore it from its backup",
        )
    return secret


def _check_private(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"the key file can be read by other users (mode {mode:04o})",
            file=str(path),
            hint=f"chmod 600 {path}",
        )


def read_keyfile(path: str | os.PathLike[str]) -> Keyring:
    """The keys of a key file, after checking that only its owner can read it."""
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise ConfigError(
            "key file not found",
            file=where,
            hint=f"create it with: custrisk keys new --keyfile {path}",
        )
    _check_private(path)
    if path.stat().st_size > MAX_KEYFILE_BYTES:
        raise ConfigError("not a key file (over 1 MiB)", file=where)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"not a custrisk key file ({exc})", file=where) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(
            f"not a custrisk key file of format {FORMAT}",
            file=where,
            key="format",
        )
    entries = data.get("keys")
    if not isinstance(entries, list):
        raise ConfigError("'keys' must be a list", file=where, key="keys")
    keys = []
    seen: set[str] = set()
    for number, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise ConfigError("each key must be a mapping", file=where, key=f"keys[{number}]")
        key_id = str(entry.get("id", ""))
        purpose = str(entry.get("purpose", ""))
        if not valid_key_id(key_id, purpose) or key_id in seen:
            raise ConfigError(
                f"missing, malformed or repeated key id '{key_id}'",
                file=where,
                key=f"keys[{number}].id",
            )
        if purpose not in PURPOSES:
            raise ConfigError(
                f"unknown purpose '{purpose}'; use one of {', '.join(PURPOSES)}",
                file=where,
                key=f"keys[{number}].purpose",
            )
        seen.add(key_id)
        secret = _decode_secret(entry.get("secret"), where, key_id)
        keys.append(
            Key(key_id, purpose, secret, str(entry.get("created", "")), bool(entry.get("active")))
        )
    return Keyring(tuple(keys), where)


def write_keyfile(path: str | os.PathLike[str], keys: tuple[Key, ...]) -> Path:
    """Write the key file atomically with mode 0600 (its folder 0700 when created)."""
    path = Path(path)
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    text = json.dumps(
        {"format": FORMAT, "keys": [key.as_dict() for key in keys]}, indent=2, ensure_ascii=False
    )
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def add_key(path: str | os.PathLike[str], key: Key) -> Path:
    """Add ``key`` to the key file (created if missing) as the active key of its purpose;
    the previous active key of that purpose stays, readable, until retired."""
    path = Path(path)
    existing = read_keyfile(path).keys if path.exists() else ()
    kept = tuple(
        replace(old, active=False) if old.purpose == key.purpose else old for old in existing
    )
    return write_keyfile(path, (*kept, replace(key, active=True)))


def retirable(keyring: Keyring, key_id: str) -> Key:
    """The key ``key_id`` of ``keyring`` if it may be retired: there, and not active."""
    key = keyring.require(key_id, "retiring")
    if key.active:
        raise UsageError(
            f"key '{key_id}' is the active {key.purpose} key",
            hint=f"create its successor first (custrisk keys new --purpose {key.purpose}), "
            "re-encrypt with custrisk keys rotate, then retire it",
        )
    return key


@dataclass(frozen=True)
class Retired:
    """What :func:`retire_key` removed, and the audit key it kept in its place."""

    key: Key
    #: The audit key derived from a retired encryption key (``hkdf:<id>``), kept so that
    #: audit lines chained with it still verify; None for other keys.
    kept: Key | None = None


def retire_key(path: str | os.PathLike[str], key_id: str) -> Retired:
    """Remove a non-active key from the key file; what it encrypted can no longer be read.

    An encryption key is replaced by the audit key derived from it (inactive): audit
    lines written while it was the active encryption key, in this log, its backups or
    its copies, still verify. That key is one-way from the encryption key and decrypts
    nothing. Whether a log still needs a key is checked by the caller
    (:func:`custrisk.protect.lifecycle.retire`).
    """
    path = Path(path)
    keyring = read_keyfile(path)
    key = retirable(keyring, key_id)
    kept = None
    if key.purpose == ENCRYPTION:
        derived = replace(derive_audit_key(key), active=False)
        kept = keyring.get(derived.id) or derived
    remaining: list[Key] = []
    for other in keyring.keys:
        if other.id != key_id:
            remaining.append(other)
        elif kept is not None and keyring.get(kept.id) is None:
            remaining.append(kept)  # in the retired key's place
    write_keyfile(path, tuple(remaining))
    return Retired(key, kept)


def _env_key(purpose: str) -> Key | None:
    name = KEY_ENV[purpose]
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    key_id, sep, encoded = text.rpartition(":")  # a derived audit key's id has one too
    if not sep or not valid_key_id(key_id, purpose):
        raise ConfigError(
            f"{name} must be ID:BASE64 (a key id, a colon and 32 bytes in base64)",
            hint="custrisk keys export ID prints a key in this form",
        )
    return Key(key_id, purpose, _decode_secret(encoded, name, key_id), "", True)


def load_keyring(keyfile: str | os.PathLike[str] | None = None) -> Keyring:
    """The keys available to this process: variables first, then the key file.

    ``keyfile`` names the key file explicitly (``--keyfile``); without it the key file is
    optional when a variable provides a key.
    """
    from_env = tuple(key for key in map(_env_key, PURPOSES) if key is not None)
    path = Path(keyfile) if keyfile is not None else default_keyfile()
    if keyfile is None and from_env and not path.exists():
        return Keyring(from_env, " and ".join(KEY_ENV[key.purpose] for key in from_env))
    keyring = read_keyfile(path)
    env_ids = {key.id for key in from_env}
    # a variable's key is the active one of its purpose; the file's keys still read
    env_purposes = {key.purpose for key in from_env}
    merged = from_env + tuple(
        replace(key, active=key.active and key.purpose not in env_purposes)
        for key in keyring.keys
        if key.id not in env_ids
    )
    return Keyring(merged, keyring.source)
