"""A key's end: what still needs it (encrypted files, the audit log), then retiring it.

An encryption key may go once no encrypted file uses it (``custrisk keys rotate``); the
audit key derived from it stays in the key file, so the audit log it chained still
verifies. An audit key never goes while the audit log has lines chained with it: a log
cannot be re-keyed without rewriting the evidence it holds.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from custrisk.errors import CheckFailed
from custrisk.protect.audit import KeyUse, default_log_path, key_use
from custrisk.protect.backup import archives_under, sealed_members
from custrisk.protect.envelope import key_id_of
from custrisk.protect.files import encrypted_files, listed_by_model_card
from custrisk.protect.keys import (
    AUDIT,
    DERIVED_PREFIX,
    ENCRYPTION,
    Key,
    default_keyfile,
    read_keyfile,
    retirable,
    retire_key,
)


@dataclass(frozen=True)
class Retirement:
    """What :func:`retire` checked and did."""

    key: Key
    keyfile: Path
    #: Encrypted files found under the checked paths, and inside the backup archives
    #: there (none of them uses the key)
    files_checked: int
    #: The audit log's lines chained with the key, or for an encryption key with the
    #: audit key derived from it (``audit.lines`` 0: none)
    audit: KeyUse | None
    #: The audit key derived from a retired encryption key, kept in the key file
    kept: Key | None


def retire(
    key_id: str,
    keyfile: str | os.PathLike[str] | None = None,
    *,
    check: Iterable[str | os.PathLike[str]] = (),
    audit_log: str | os.PathLike[str] | None = None,
) -> Retirement:
    """Remove ``key_id`` from the key file once nothing that must stay readable needs it.

    Parameters
    ----------
    key_id : str
        The key to retire (not an active one).
    keyfile : path, optional
        The key file (default ``$CUSTRISK_KEYFILE``, else ``~/.config/custrisk/keys.json``).
    check : paths
        Encrypted files and folders of them: refused while one uses the key.
    audit_log : path, optional
        The audit log whose dependency is checked (default ``$CUSTRISK_AUDIT_LOG``, else
        the log custrisk writes).

    Raises
    ------
    CheckFailed
        A checked file still uses the key, or (an audit key) the audit log has lines
        chained with it.
    """
    path = Path(keyfile) if keyfile is not None else default_keyfile()
    ring = read_keyfile(path)
    key = retirable(ring, key_id)
    check = list(check)  # walked twice: the files, then the backup archives
    files = list(encrypted_files(check))
    still = [file for file in files if key_id_of(file) == key_id]
    if still:
        models = [file for file in still if listed_by_model_card(file)]
        raise CheckFailed(
            f"{len(still)} file(s) still use key '{key_id}', e.g. {(models or still)[0]}",
            hint="keep the key while you keep that model (keys rotate leaves a model's "
            "files: its card records their SHA-256), or train it again"
            if models
            else "run custrisk keys rotate on them first",
        )
    checked = len(files)
    if key.purpose == ENCRYPTION:
        for archive in archives_under(check):
            sealed = list(sealed_members(archive, ring))
            checked += len(sealed)
            inside = [name for name, used in sealed if used == key_id]
            if inside:
                raise CheckFailed(
                    f"the backup {archive} holds {len(inside)} file(s) encrypted with key "
                    f"'{key_id}', e.g. {inside[0]} (keys rotate re-wraps the archive, not "
                    "the files sealed inside it): without the key they cannot be read once "
                    "restored",
                    hint="keep the key until that backup expires, or restore it, run custrisk "
                    "keys rotate on the restored folder and back it up again",
                )
    log = Path(audit_log) if audit_log is not None else default_log_path()
    use = None
    if key.purpose == ENCRYPTION:
        use = key_use(log, DERIVED_PREFIX + key_id)
    elif key.purpose == AUDIT:
        use = key_use(log, key_id)
        if use.lines:
            raise CheckFailed(
                f"audit key '{key_id}' chains {use.describe()}: without it, custrisk audit "
                f"verify fails at line {use.first}",
                hint="keep the key as long as you keep that log and its copies (new lines "
                "use the active audit key; an audit log cannot be re-keyed)",
            )
    retired = retire_key(path, key_id)
    return Retirement(key, path, checked, use, retired.kept)
