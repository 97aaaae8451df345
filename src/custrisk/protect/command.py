"""The protection of one command: what its caller's role allows, and the encryption,
keys and pseudonyms it runs with until it ends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from custrisk.protect.audit import audit_event
from custrisk.protect.output import protect_from_now
from custrisk.protect.pseudonym import Masker, pseudonymise_from_now, pseudonymiser, reading
from custrisk.protect.roles import CLEAR_PII, current_caller, load_roles, require


def protect_command(
    *,
    encrypt: bool = False,
    keyfile: Path | None = None,
    pseudonymise: bool = False,
    outputs: Path | None = None,
    clear_pii: Path | None = None,
    note: Callable[[str], None] | None = None,
) -> None:
    """Switch on this command's protection until the command ends: outputs of customer
    data encrypted with ``--encrypt``, encrypted inputs read with the keys of
    ``--keyfile``, customer ids tokenised with ``--pseudonymise`` (the re-identification
    table goes to the folder ``outputs``). Each command runs in its own copy of the
    context (see :mod:`custrisk.cli`), so all of it ends with the command.

    The caller's role (:mod:`custrisk.protect.roles`) is checked first: ``clear_pii``
    names a file of personal data in clear the command was asked to write
    (``--rejects-unmasked``), which needs the right ``clear_pii``. Outputs are shared
    with the roles config's ``output_group`` (mode 0640) when it names one. A role that
    pseudonymises every output switches ``pseudonymise`` on, said to ``note`` first.

    Reading follows the role too: a role without ``clear_pii`` reads exports and runs
    masked (names, phones and id numbers masked as the rows are loaded), a role with
    ``pseudonymise: true`` pseudonymised; the audit line says which (``facts.pii``).
    """
    roles = load_roles()
    caller = current_caller(roles)
    audit_event(role=caller.role.name)
    if clear_pii is not None:
        require(
            CLEAR_PII, f"write personal data in clear to {clear_pii} (--rejects-unmasked)", roles
        )
    if caller.role.pseudonymise and not pseudonymise:
        if note is not None:
            note(f"role {caller.role.name} pseudonymises every output (as with --pseudonymise)")
        pseudonymise = True
    protect_from_now(encrypt=encrypt, keyfile=keyfile, group=roles.output_gid())
    if pseudonymise:
        pseudonymise_from_now(pseudonymiser(outputs, keyfile))
    elif not caller.may(CLEAR_PII):
        pseudonymise_from_now(Masker())
    audit_event(pii=reading())
