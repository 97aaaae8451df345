"""Tokenizer of the expression language.

The tokenizer is the first line of defence: characters that would open the door to
attribute access, subscripts, lambdas or statements (``.``, ``[``, ``:``, ``;`` ...) and
names that start with ``_`` are refused here, before anything is parsed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from custrisk.expr._errors import ExpressionError

MAX_LENGTH = 4000

#: Words with a meaning in the language.
KEYWORDS = frozenset({"and", "or", "not", "true", "false"})

#: Python words refused with a hint, so that a user who writes Python gets a useful message.
_PYTHON_WORDS: dict[str, str] = {
    "if": "use where(condition, value_if_true, value_if_false)",
    "else": "use where(condition, value_if_true, value_if_false)",
    "elif": "use nested where(...)",
    "is": "use isnull(x) to test for a missing value, or == to compare",
    "in": "use isin(x, 'a', 'b') to test membership",
    "None": "use isnull(x) to test for a missing value",
    "True": "write true",
    "False": "write false",
    "lambda": "the expression language has no functions of its own",
}
for _word in (
    "as",
    "assert",
    "async",
    "await",
    "break",
    "class",
    "continue",
    "def",
    "del",
    "except",
    "finally",
    "for",
    "from",
    "global",
    "import",
    "nonlocal",
    "pass",
    "raise",
    "return",
    "try",
    "while",
    "with",
    "yield",
    "match",
    "case",
):
    _PYTHON_WORDS.setdefault(_word, "the expression language only has expressions")

_CHAR_HINTS: dict[str, str] = {
    ".": "attribute access is not allowed",
    "[": "subscripts and lists are not allowed",
    "]": "subscripts and lists are not allowed",
    "{": "braces are not allowed",
    "}": "braces are not allowed",
    ":": "lambdas, slices and dicts are not allowed",
    ";": "statements are not allowed",
    "=": "assignment is not allowed; use '==' to compare",
    "!": "use 'not' to negate or '!=' to compare",
    "&": "use 'and'",
    "|": "use 'or'",
    "~": "use 'not'",
    "^": "use '**' for powers",
    "%": "the modulo operator is not supported",
    "@": "decorators and matrix products are not allowed",
    "`": "backquotes are not allowed; quote text with '...'",
    "#": "comments are not allowed inside an expression",
    "\\": "backslashes are only allowed inside quoted text",
}

_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = ("**", "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/")
_WHITESPACE = " \t\r\n"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, its source text, its 0-based offset and its value.

    ``kind`` is one of ``number``, ``string``, ``name``, ``op``, ``(``, ``)``, ``,``,
    a keyword (``and``, ``or``, ``not``, ``true``, ``false``) or ``end``.
    """

    kind: str
    text: str
    pos: int
    value: float | str | bool | None = None


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an ``end`` token.

    Raises
    ------
    ExpressionError
        For a character or word that is not part of the language, naming it and its
        column.
    """
    if not isinstance(text, str):
        raise ExpressionError(
            f"expected the expression as text, got {type(text).__name__}", text=str(text), pos=None
        )
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"expression is longer than {MAX_LENGTH} characters",
            text=text,
            pos=None,
            hint="split it into several indicators",
        )
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _WHITESPACE:
            i += 1
            continue
        if ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            match = _NUMBER.match(text, i)
            assert match is not None
            value = float(match.group())
            if not math.isfinite(value):
                raise ExpressionError(
                    f"number {match.group()!r} is too large", text=text, pos=i, token=match.group()
                )
            tokens.append(Token("number", match.group(), i, value))
            i = match.end()
            continue
        if ch.isascii() and (ch.isalpha() or ch == "_"):
            match = _NAME.match(text, i)
            assert match is not None
            word = match.group()
            if word.startswith("_"):
                raise ExpressionError(
                    f"name {word!r} is not allowed",
                    text=text,
                    pos=i,
                    token=word,
                    hint="names may not start with '_'",
                )
            if word in _PYTHON_WORDS:
                raise ExpressionError(
                    f"{word!r} is not part of the expression language",
                    text=text,
                    pos=i,
                    token=word,
                    hint=_PYTHON_WORDS[word],
                )
            if word in KEYWORDS:
                value_: bool | None = {"true": True, "false": False}.get(word)
                tokens.append(Token(word, word, i, value_))
            else:
                tokens.append(Token("name", word, i, word))
            i = match.end()
            continue
        if ch in "'\"":
            i = _read_string(text, i, tokens)
            continue
        if ch in "(),":
            tokens.append(Token(ch, ch, i))
            i += 1
            continue
        op = next((op for op in _OPERATORS if text.startswith(op, i)), None)
        if op is not None:
            tokens.append(Token("op", op, i, op))
            i += len(op)
            continue
        hint = _CHAR_HINTS.get(ch)
        raise ExpressionError(f"unexpected character {ch!r}", text=text, pos=i, token=ch, hint=hint)
    tokens.append(Token("end", "", n))
    return tokens


def _read_string(text: str, start: int, tokens: list[Token]) -> int:
    quote = text[start]
    chars: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            nxt = text[i + 1] if i + 1 < len(text) else ""
            if nxt not in ("\\", "'", '"'):
                escape = "\\" + nxt
                raise ExpressionError(
                    f"unsupported escape {escape!r} in quoted text",
                    text=text,
                    pos=i,
                    token=escape,
                    hint="only \\\\, \\' and \\\" are allowed",
                )
            chars.append(nxt)
            i += 2
            continue
        if ch == quote:
            tokens.append(Token("string", text[start : i + 1], start, "".join(chars)))
            return i + 1
        chars.append(ch)
        i += 1
    raise ExpressionError(
        "quoted text is not closed",
        text=text,
        pos=start,
        token=quote,
        hint=f"add the closing {quote}",
    )
