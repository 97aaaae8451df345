"""The database URL of a query source: resolving ``env:NAME``, showing a URL in
messages with its password as ``***``, scrubbing a driver's error text, and the checks
of a URL before it is used (a password with an ``@`` as is, a SQLite file not there).

Split from :mod:`custrisk.io.sql`, which re-exports the public names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from custrisk.config.locations import ENV_PREFIX, mask_url, url_password
from custrisk.errors import DataError

_INSTALL_HINT = "install the database extra: pip install 'custrisk[db]'"


def resolve_url(url: str, *, source: str, environ: Mapping[str, str] | None = None) -> str:
    """The database URL of a source: the value of the environment variable of
    ``env:NAME``, or the URL as written (one without a password).

    Raises
    ------
    DataError
        When the variable is not set or empty.
    """
    if not url.startswith(ENV_PREFIX):
        return url
    environ = os.environ if environ is None else environ
    variable = url[len(ENV_PREFIX) :]
    value = environ.get(variable, "").strip()
    if not value:
        raise DataError(
            f"the environment variable {variable} is not set: it holds the database URL of "
            f"the source '{source}'",
            hint=f"export {variable}=postgresql+psycopg://USER:PASSWORD@HOST/DB (or "
            "sqlite:///file.db) before running custrisk",
        )
    return value


def shown_url(url: str) -> str:
    """A URL as messages show it: ``env:NAME`` as written, else with the password masked."""
    return url if url.startswith(ENV_PREFIX) else mask_url(url)


def _origin(url: str) -> str:
    """Where a URL came from, for messages: its variable (``env:NAME``) or the config."""
    return shown_url(url) if url.startswith(ENV_PREFIX) else "the sources config"


def _scrub(text: str, url: str) -> str:
    """An error text with the URL's password (and any URL in it) masked, on one line."""
    password = url_password(url)
    if password:
        text = text.replace(password, "***")
    text = re.sub(r"\b[a-z][a-z0-9+.-]*://\S+", lambda m: mask_url(m.group(0)), text)
    text = text.split("\n[SQL:")[0].split("(Background on this error")[0]
    # PostgreSQL's excerpt of the statement it ran (LINE 1: ... and a caret under it): the
    # query wrapped in the server-side cursor's DECLARE, which the user never wrote
    text = re.sub(r"\nLINE \d+: [^\n]*(\n *\^)?", "", text)
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:299] + "…"


def _shown_resolved(url: str) -> str | None:
    """A resolved URL as a message may show it (password masked), or ``None`` when it
    has no ``://``: a mistyped URL, whose password cannot be told apart to mask."""
    return mask_url(url) if "://" in url else None


def _check_password_encoded(resolved: str, url: str, where: Path) -> None:
    """A password with an ``@`` as is: an error. The URL parser ends the password at its
    first ``@`` and takes the rest for the host and port (the driver then names a piece
    of the password as a host it cannot find, or as a port that is no number)."""
    written = url_password(resolved)
    if written is None or "@" not in written:
        return
    raise DataError(
        f"the password in the database URL {mask_url(resolved)} (from {_origin(url)}) "
        "holds an '@' as is: the URL is read with the host after its first '@'",
        file=str(where),
        hint="percent-encode it in the URL: @ as %40, / as %2F, ? as %3F, # as %23, % as %25 "
        "(python3 -c 'import urllib.parse,getpass; print(urllib.parse.quote(getpass.getpass(), "
        'safe=""))\')',
    )


def _check_sqlite_file(database_url: Any, url: str, where: Path) -> None:
    """A SQLite URL naming a file that does not exist: an error (SQLite would create an
    empty database there, and the query fail with 'no such table')."""
    if database_url.get_backend_name() != "sqlite":
        return
    database = database_url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return  # in memory, or a URI (sqlite:///file:crm.db?mode=ro&uri=true)
    path = Path(database)
    if not path.is_file():
        shown = database if path.is_absolute() else f"{database} ({path.resolve()})"
        raise DataError(
            f"the SQLite database file {shown} does not exist (the URL comes from {_origin(url)})",
            file=str(where),
            hint="check the path in the URL: sqlite:///relative/path.db (from the current "
            "folder) or sqlite:////absolute/path.db",
        )
