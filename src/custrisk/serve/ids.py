"""How the decisions store keeps a customer id that is personal data.

A CRM keyed by phone (or e-mail, or resident ID number) sends that as the record's id.
The store never keeps it in clear: under the pseudonym key (``custrisk keys new --purpose
pseudonym``, or ``CUSTRISK_PSEUDONYM_KEY``) it keeps the id's token, ``psn_`` and 20 hex
digits, the very token ``--pseudonymise`` gives that customer in a run's files, so that
``decisions list --customer 13812345678`` and ``custrisk forget 13812345678 --decisions``
find the customer's decisions with the same key; without the key it keeps the id masked
(``138****5678``), which other customers' ids may share. Any other id is kept as it is.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from custrisk.errors import ConfigError
from custrisk.privacy import mask_pii_text
from custrisk.protect.keys import KEY_ENV, PSEUDONYM, Key, default_keyfile
from custrisk.protect.output import keyring
from custrisk.protect.pseudonym import is_token, pseudonym

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeptIds:
    """Customer ids as the store keeps them, under ``key`` (``None``: masked)."""

    key: Key | None

    @classmethod
    def of_process(cls) -> KeptIds:
        """Under this process's active pseudonym key, if it has one (a key file that
        cannot be read is said, and the ids are then masked)."""
        if not os.environ.get(KEY_ENV[PSEUDONYM], "").strip() and not default_keyfile().exists():
            return cls(None)  # (no key at all: nothing to say)
        try:
            return cls(keyring().active(PSEUDONYM))
        except ConfigError as exc:
            if exc.message != f"no active {PSEUDONYM} key":  # (a key file of other keys)
                log.warning(
                    "customer ids that are phones, e-mails or ID numbers are stored masked, "
                    "not as pseudonym tokens: %s",
                    exc.message,
                )
            return cls(None)

    def personal(self, customer_id: str) -> bool:
        """Whether the id is (or holds) a phone number, e-mail address or ID number."""
        return not is_token(customer_id) and mask_pii_text(customer_id) != customer_id

    def kept(self, customer_id: str) -> str:
        """The id as stored: its token or its masked form when it is personal data."""
        if not self.personal(customer_id):
            return customer_id
        if self.key is not None:
            return pseudonym(customer_id, self.key)
        return mask_pii_text(customer_id)

    def exact(self, customer_id: str) -> tuple[str, ...]:
        """The stored ids that are this customer's for certain: the id as an earlier
        release stored it, and its token (a masked id may be another customer's)."""
        kept = self.kept(customer_id)
        return (customer_id, kept) if kept != customer_id and is_token(kept) else (customer_id,)

    def masked(self, customer_id: str) -> str | None:
        """The masked form under which decisions stored without the key may be this
        customer's (``None``: the id is no personal data)."""
        return mask_pii_text(customer_id) if self.personal(customer_id) else None
