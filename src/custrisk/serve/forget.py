"""Forgetting one customer in the decisions store of ``custrisk serve`` (``custrisk
forget --decisions``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from custrisk.errors import UsageError
from custrisk.protect.audit import audit_event
from custrisk.protect.keys import Key
from custrisk.scoring.forget import MODES, pseudonym_token

if TYPE_CHECKING:
    from custrisk.serve.store import DecisionStore


@dataclass(frozen=True)
class DecisionsForgotten:
    """What :func:`forget_decisions` erased in one decisions store."""

    #: the store, a database URL without its user and password
    where: str
    decisions: int
    #: stored answers kept for retries (简道云 deliveries, idempotency keys), deleted
    cached: int
    pseudonymised: bool
    #: decisions stored under the customer's masked id (a phone stored without the
    #: pseudonym key): maybe the customer's, maybe another's, left as they are
    masked: int = 0

    def describe(self) -> str:
        """What was done, in one line."""
        if not self.decisions:
            said = f"The customer has no decision in the decisions store {self.where}"
        else:
            verb = "Pseudonymised" if self.pseudonymised else "Removed"
            said = (
                f"{verb} {self.decisions} decision(s) of the customer in the decisions store "
                f"{self.where}"
                + (
                    f" (and {self.cached} stored answer(s) kept for retries, deleted)"
                    if self.cached
                    else ""
                )
            )
        if self.masked:
            said += (
                f"; {self.masked} decision(s) stored under the id masked (stored without a "
                "pseudonym key) may be the customer's or another's with the same masked "
                "id: list them with custrisk decisions list --customer ID and delete those "
                "that are the customer's in the database"
            )
        return said


def forget_decisions(
    store: DecisionStore, customer: str, mode: str, key: Key | None
) -> DecisionsForgotten:
    """Erase ``customer``'s decisions in ``store`` (:meth:`DecisionStore.forget_customer`)
    and close it: with ``key`` (``--mode pseudonymise``) they are kept under the
    customer's ``anon-`` token, the one its runs get; without, deleted. The count goes
    to the command's audit line.

    Raises
    ------
    UsageError
        ``mode`` is not one of :data:`custrisk.scoring.forget.MODES`.
    """
    if mode not in MODES:
        raise UsageError(f"--mode {mode!r} is not one of {', '.join(MODES)}")
    token = pseudonym_token(key, customer.strip()) if key is not None else None
    try:
        counts = store.forget_customer(customer, token)
    finally:
        store.close()
    audit_event(rows={"decisions": counts["decisions"]})
    return DecisionsForgotten(
        where=store.shown_url,
        decisions=counts["decisions"],
        cached=counts["deliveries"] + counts["idempotency_keys"],
        pseudonymised=token is not None,
        masked=counts["masked"],
    )
