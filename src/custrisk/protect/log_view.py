"""What ``custrisk audit show`` shows of the audit log: the entries that match its
filters, each trusted or not by the chain of lines it belongs to."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from custrisk.errors import ConfigError
from custrisk.protect.audit import Verification, parse_since, select_entries, verify_log
from custrisk.protect.keys import AUDIT, ENCRYPTION, load_keyring


@dataclass(frozen=True)
class ShownEntries:
    """The entries of an audit log that match, with what the chain check found."""

    #: each matching entry: its line number, the entry, how it touched ``customer``
    entries: list[tuple[int, dict[str, Any], str]]
    #: the chain check, ``None`` when no key that signs audit lines is available
    checked: Verification | None

    def trusted(self, number: int) -> bool:
        """Whether line ``number`` comes before the first line the check refused (a
        line from there on may be forged: edited, inserted or written without the key)."""
        checked = self.checked
        bad = checked.bad_line if checked is not None and not checked.ok else None
        return bad is None or number < bad


def show_entries(
    path: str | os.PathLike[str],
    *,
    keyfile: str | os.PathLike[str] | None = None,
    since: str | None = None,
    user: str | None = None,
    command: str | None = None,
    customer: str | None = None,
) -> ShownEntries:
    """The entries of the audit log ``path`` that match every filter given
    (:func:`~custrisk.protect.audit.select_entries`; ``since`` as ``--since`` takes
    it), the chain checked first with the keys of ``keyfile`` when one of them signs
    audit lines, so that a forged line is never shown as fact. Without a key file the
    entries are shown all the same, unchecked, unless ``customer`` is asked for: the
    log holds keyed tokens, not ids, and the key gives them."""
    try:
        keyring = load_keyring(keyfile)
    except ConfigError:
        if customer is not None:
            raise
        keyring = None
    checked = None  # without a key that signs audit lines, nothing can be verified
    if keyring is not None and any(key.purpose in (AUDIT, ENCRYPTION) for key in keyring.keys):
        checked = verify_log(path, keyring)
    found = select_entries(
        path,
        since=parse_since(since) if since else None,
        user=user,
        command=command,
        customer=customer,
        keyring=keyring if customer is not None else None,
    )
    return ShownEntries(found, checked)
