"""The error raised for an expression that is not valid."""

from __future__ import annotations

from custrisk.errors import ConfigError


class ExpressionError(ConfigError):
    """An expression does not tokenize, parse or type-check.

    It is a :class:`~custrisk.errors.ConfigError` (exit code 2) because expressions live
    in YAML configs. Callers that know the config file and key re-raise it as a
    ``ConfigError`` naming them; ``reason``, ``token`` and ``column`` stay available.

    Attributes
    ----------
    reason : str
        What is wrong, e.g. ``unknown function 'eval'``.
    text : str
        The whole expression.
    pos : int or None
        0-based offset of the offending token in ``text``.
    token : str or None
        The offending token as written.
    """

    def __init__(
        self,
        reason: str,
        *,
        text: str,
        pos: int | None,
        token: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.reason = reason
        self.text = text
        self.pos = pos
        self.token = token
        where = f" at column {pos + 1}" if pos is not None else ""
        super().__init__(f'{reason}{where} of "{_clip(text)}"', hint=hint)

    @property
    def column(self) -> int | None:
        """1-based column of the offending token (``None`` if not tied to one)."""
        return None if self.pos is None else self.pos + 1


_FLATTEN = str.maketrans("\r\n\t", "   ")


def _clip(text: str, limit: int = 120) -> str:
    text = text.translate(_FLATTEN)  # one character for one, so columns stay right
    return text if len(text) <= limit else text[: limit - 3] + "..."
