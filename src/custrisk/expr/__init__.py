"""A small, safe expression language evaluated over whole columns.

Used by indicator configs (derived indicators, row filters, derived row columns) and, later,
by credit-limit rules and alert conditions. The text is split by our own tokenizer,
parsed by a recursive-descent parser into our own node classes, type-checked against a
table of known names, and evaluated with NumPy/pandas. Python's ``eval``/``exec``/
``compile`` and the ``ast`` module are never used on user text; attribute access,
subscripts, lambdas and calls of anything but the whitelisted functions cannot even be
written.

Semantics in brief (full reference: ``docs/indicators.md``):

* arithmetic ``+ - * / **`` and unary ``-``; comparisons ``== != < <= > >=``;
  ``and``/``or``/``not``; numbers, ``'text'``, ``true``/``false``;
* any result that is not a finite number (division by zero, ``log(0)``, overflow) is
  NaN; NaN propagates through arithmetic and functions;
* a comparison with a missing value is false; ``and``/``or``/``not`` follow three-valued
  logic (unknown stays unknown unless the other side decides);
* ``date - date`` gives days, ``date + number`` a date; a date compares with
  ``'YYYY-MM-DD'``;
* functions: see :data:`FUNCTIONS`.

Examples
--------
>>> import numpy as np
>>> from custrisk.expr import compile_expression
>>> e = compile_expression("safe_div(a, b, 0) + 1", {"a": "number", "b": "number"})
>>> e.evaluate({"a": np.array([1.0, 2.0]), "b": np.array([2.0, 0.0])}).tolist()
[1.5, 1.0]
"""

from custrisk.expr._compile import FUNCTIONS, Expression, compile_expression
from custrisk.expr._errors import ExpressionError
from custrisk.expr._lexer import KEYWORDS, Token, tokenize
from custrisk.expr._nodes import Binary, Call, Literal, Name, Node, Unary, iter_nodes
from custrisk.expr._parser import parse
from custrisk.expr._types import ExprType
from custrisk.expr._values import (
    convert,
    days_to_dates,
    is_text_categorical,
    to_days,
    to_numbers,
    to_text,
)

#: Words that cannot be used as names (keywords of the language).
RESERVED_WORDS = KEYWORDS

__all__ = [
    "FUNCTIONS",
    "RESERVED_WORDS",
    "Binary",
    "Call",
    "ExprType",
    "Expression",
    "ExpressionError",
    "Literal",
    "Name",
    "Node",
    "Token",
    "Unary",
    "compile_expression",
    "convert",
    "days_to_dates",
    "iter_nodes",
    "parse",
    "to_days",
    "to_numbers",
    "to_text",
    "tokenize",
    "is_text_categorical",
]
