"""A list of values given on the command line: ``a,b,c``, or ``@FILE`` with one value a
line (a column of customer ids copied from Excel or Notepad, with or without its header)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import Path

from custrisk.config._yaml import join_limited
from custrisk.data.headers import canonical_name
from custrisk.data.text import normalised_id
from custrisk.errors import DataError, UsageError
from custrisk.io.encoding import scan_text_file
from custrisk.protect.pseudonym import Pseudonymiser, active_pseudonymiser, is_token, pseudonym


def listed_values(text: str | None, option: str) -> list[str] | None:
    """``a,b,c`` -> its values; ``@FILE`` -> one value per line (``#`` comments and blank
    lines left out, a first line that is the customer id header dropped); ``None`` for
    ``None``.

    The file is read as an export is: a BOM, else UTF-8, else GB18030 (an id list saved
    on a Chinese Windows).

    Raises
    ------
    UsageError
        Naming ``option``: a file that cannot be read or decoded, or no value at all.
    """
    if text is None:
        return None
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            # As an export is read: a BOM, else UTF-8, else GB18030 (an id list saved
            # from Excel or Notepad on a Chinese Windows); undecodable bytes: exit 2
            lines = path.read_text(encoding=scan_text_file(path).encoding).splitlines()
        except OSError as exc:
            raise UsageError(
                f"{option} {text}: cannot read {path} ({exc.strerror or exc})",
                hint="give a file with one customer id per line",
            ) from None
        except DataError as exc:
            raise UsageError(
                f"{option} {text}: {exc.message}", hint="save the list as UTF-8 or GBK text"
            ) from None
        values = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        if values and canonical_name(values[0]) == "customer_id":
            values = values[1:]  # a column copied with its header (客户编号, customer_id)
    else:
        values = [part.strip() for part in text.split(",") if part.strip()]
    if not values:
        raise UsageError(f"{option} was given without any value")
    return values


def ids_named(typed: Iterable[str], ids: Collection[str]) -> tuple[list[str], list[str]]:
    """The customer ids of ``ids`` that the ids ``typed`` name, and those named that are
    not there (sorted).

    An id is taken as typed, else as cleaning stores it (``ab 12``, ``ＡＢ12``: ``AB12``);
    under ``--pseudonymise`` (the run's ids read as tokens) an id names its token, as
    ``score`` names it.
    """
    wanted = [c if c in ids else normalised_id(c) for c in (c.strip() for c in typed) if c]
    unknown = sorted(set(wanted) - set(ids))
    active = active_pseudonymiser()
    if unknown and isinstance(active, Pseudonymiser):
        token = {u: pseudonym(u, active.key) for u in unknown}
        wanted = [token[w] if token.get(w) in ids else w for w in wanted]
        unknown = sorted(set(wanted) - set(ids))
    return wanted, unknown


def known_ids_named(
    typed: Iterable[str],
    ids: Collection[str],
    *,
    where: str,
    option: str = "--customers",
    note: str = "",
) -> list[str]:
    """The customer ids of ``ids`` that ``typed`` names (:func:`ids_named`), all of
    them known.

    Raises
    ------
    UsageError
        Naming ``option`` (as the user typed it) and the unknown ids; the hint says where
        the ids come from (``where``, then ``note``), or, when ``ids`` are pseudonym
        tokens and the unknown ones are not, to name the customers by their tokens.
    """
    wanted, unknown = ids_named(typed, ids)
    if unknown:
        tokens = any(is_token(i) for i in ids) and not any(is_token(u) for u in unknown)
        raise UsageError(
            f"{option}: unknown customer id(s) {join_limited(unknown)}",
            hint=f"the ids of {where} are read as pseudonym tokens (psn_…, --pseudonymise "
            "or a role that pseudonymises): name the customers by the tokens of its "
            "customer_id column"
            if tokens
            else f"the ids are those of {where}{note}",
        )
    return wanted


__all__ = ["ids_named", "known_ids_named", "listed_values"]
