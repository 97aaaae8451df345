"""One exception hierarchy for custrisk; only the CLI turns these into exit codes.

Exit codes (the same for every command):

* 0 -- ok.
* 1 -- a check found a problem (rows rejected, drift over threshold, alerts at the
  ``--fail-on`` level). Raised as :class:`CheckFailed`.
* 2 -- usage or configuration error, unreadable or malformed input, an invalid
  model artifact, an output the disk cannot take. Raised as :class:`ConfigError`,
  :class:`DataError`, :class:`ModelArtifactError`, :class:`OutputError` or
  :class:`UsageError`.
* 3 -- an internal error (a bug).
* 130, 143 -- stopped by SIGINT (Ctrl-C) or SIGTERM: :class:`custrisk.io.stop.Stopped`,
  a ``KeyboardInterrupt`` rather than an error, so that ``except Exception`` never takes
  it for one item's failure.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2


class CustriskError(Exception):
    """Base class of every error custrisk reports to a user.

    The message is one line that names the file, the row/column or config key, the
    bad value, and how to fix it.
    """

    exit_code: int = EXIT_USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = self.message.replace("\n", " ").strip()
        if self.hint:
            text = f"{text}; {self.hint}"
        return text


class UsageError(CustriskError):
    """A command was called with options that do not fit together."""


class ConfigError(CustriskError):
    """A YAML config is missing, malformed, or holds a value that is not allowed."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.key = key
        where = ", ".join(part for part in (file, f"key '{key}'" if key else None) if part)
        super().__init__(f"{where}: {message}" if where else message, hint=hint)


class DataError(CustriskError):
    """An input file is missing, unreadable, undecodable, or unusable as a whole."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        where = file or ""
        if line is not None:
            where += f":{line}"
        if column:
            where += f" column '{column}'"
        super().__init__(f"{where}: {message}" if where else message, hint=hint)


class OutputError(CustriskError):
    """An output cannot be written: the disk is full, over quota or read-only."""


class ModelArtifactError(CustriskError):
    """A model artifact is missing, tampered with, unsigned, or incompatible."""


class CheckFailed(CustriskError):
    """A check ran to completion and found a problem (exit code 1)."""

    exit_code = EXIT_CHECK_FAILED
