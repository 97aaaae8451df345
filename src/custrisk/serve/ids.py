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
from dataclasses import dataclass

from custrisk.errors import ConfigError
from custrisk.privacy import mask_pii_text
from custrisk.protect.keys import PSEUDONYM, Key
from custrisk.protect.output import keyring
from custrisk.protect.pseudonym import is_token, pseudonym

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeptIds:
    """Customer ids as the store keeps them, under ``key`` (``None``: masked)."""

    key: Key | None

    @classmethod
    def of_process(cls) -> KeptIds:
        """Under this process's active pseudonym key (``--keyfile``, the environment or the
        default key file), if it has one; a key file that cannot be read is said, and the
        ids are then masked."""
        try:
            return cls(keyring().active(PSEUDONYM))
        except ConfigError as exc:
            # (no key file, or one of other keys: nothing to say)
            if not exc.message.endswith(("key file not found", f"no active {PSEUDONYM} key")):
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

    def looked_up(self, customer_id: str) -> tuple[str, ...]:
        """The stored ids a lookup by ``customer_id`` (``decisions list --customer``)
        finds: its own forms, and the masked one (which may be another customer's);
        without the key, said to find no token."""
        masked = self.masked(customer_id)
        if masked is not None and self.key is None:
            log.warning(
                "the customer id is a phone, e-mail or ID number: decisions stored under "
                "the pseudonym key hold its token and are found only with that key (none "
                "here); those stored masked (%s) are listed, which may be another "
                "customer's with the same masked id",
                masked,
            )
        return tuple(sorted({*self.exact(customer_id), masked or customer_id}))

    def masked(self, customer_id: str) -> str | None:
        """The masked form under which decisions stored without the key may be this
        customer's (``None``: the id is no personal data)."""
        return mask_pii_text(customer_id) if self.personal(customer_id) else None
