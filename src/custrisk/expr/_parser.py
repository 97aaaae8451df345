"""Recursive-descent parser: tokens to a tree of :mod:`custrisk.expr._nodes`.

Grammar, from the loosest to the tightest binding::

    expr        := or_expr
    or_expr     := and_expr ("or" and_expr)*
    and_expr    := not_expr ("and" not_expr)*
    not_expr    := "not" not_expr | comparison
    comparison  := additive [("==" | "!=" | "<" | "<=" | ">" | ">=") additive]
    additive    := term (("+" | "-") term)*
    term        := unary (("*" | "/") unary)*
    unary       := ("-" | "+") unary | power
    power       := primary ["**" unary]              (right-associative)
    primary     := number | 'text' | true | false | name | name "(" [args] ")" | "(" expr ")"
    args        := expr ("," expr)*

Only a bare name can be called; calling anything else (``f(x)(y)``, ``(f)(x)``) is
refused, and so is a chained comparison (``a < b < c``).
"""

from __future__ import annotations

from custrisk.expr._errors import ExpressionError
from custrisk.expr._lexer import Token, tokenize
from custrisk.expr._nodes import Binary, Call, Literal, Name, Node, Unary

MAX_DEPTH = 60
_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")


def parse(text: str) -> Node:
    """Parse ``text`` into a syntax tree.

    Parameters
    ----------
    text : str
        The expression, e.g. ``"annual_income / (outstanding_balance + 1)"``.

    Returns
    -------
    Node
        The root of the tree; names and functions are not resolved yet.

    Raises
    ------
    ExpressionError
        Naming the unexpected token and its column.
    """
    return _Parser(text, tokenize(text)).parse()


class _Parser:
    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    # -- helpers -------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def error(self, reason: str, tok: Token, hint: str | None = None) -> ExpressionError:
        return ExpressionError(
            reason, text=self.text, pos=tok.pos, token=tok.text or None, hint=hint
        )

    def unexpected(self, tok: Token, expected: str) -> ExpressionError:
        if tok.kind == "end":
            return self.error(f"the expression ends too early; expected {expected}", tok)
        return self.error(f"unexpected {_describe(tok)}", tok, hint=f"expected {expected}")

    def enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(
                f"the expression is nested more than {MAX_DEPTH} levels deep",
                tok,
                hint="split it into several indicators",
            )

    # -- grammar ---------------------------------------------------------------------
    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise ExpressionError("the expression is empty", text=self.text, pos=None)
        node = self.expr()
        if self.tok.kind != "end":
            if self.tok.kind == "(":
                raise self.error(
                    "calling the result of an expression is not allowed",
                    self.tok,
                    hint="only whitelisted functions can be called, by name",
                )
            raise self.unexpected(self.tok, "an operator or the end of the expression")
        return node

    def expr(self) -> Node:
        self.enter(self.tok)
        try:
            return self.or_expr()
        finally:
            self.depth -= 1

    def or_expr(self) -> Node:
        node = self.and_expr()
        while self.tok.kind == "or":
            op = self.advance()
            node = Binary(op.pos, "or", node, self.and_expr())
        return node

    def and_expr(self) -> Node:
        node = self.not_expr()
        while self.tok.kind == "and":
            op = self.advance()
            node = Binary(op.pos, "and", node, self.not_expr())
        return node

    def not_expr(self) -> Node:
        if self.tok.kind == "not":
            op = self.advance()
            self.enter(op)
            try:
                return Unary(op.pos, "not", self.not_expr())
            finally:
                self.depth -= 1
        return self.comparison()

    def comparison(self) -> Node:
        node = self.additive()
        if self.at_op(*_COMPARISONS):
            op = self.advance()
            node = Binary(op.pos, op.text, node, self.additive())
            if self.at_op(*_COMPARISONS):
                raise self.error(
                    "chained comparisons are not supported",
                    self.tok,
                    hint="write (a < b) and (b < c)",
                )
        return node

    def additive(self) -> Node:
        node = self.term()
        while self.at_op("+", "-"):
            op = self.advance()
            node = Binary(op.pos, op.text, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.at_op("*", "/"):
            op = self.advance()
            node = Binary(op.pos, op.text, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.at_op("-", "+"):
            op = self.advance()
            self.enter(op)
            try:
                return Unary(op.pos, op.text, self.unary())
            finally:
                self.depth -= 1
        return self.power()

    def power(self) -> Node:
        node = self.primary()
        if self.at_op("**"):
            op = self.advance()
            self.enter(op)
            try:
                node = Binary(op.pos, "**", node, self.unary())
            finally:
                self.depth -= 1
        return node

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind == "number":
            self.advance()
            assert isinstance(tok.value, float)
            node: Node = Literal(tok.pos, tok.value)
        elif tok.kind == "string":
            self.advance()
            assert isinstance(tok.value, str)
            node = Literal(tok.pos, tok.value)
        elif tok.kind in ("true", "false"):
            self.advance()
            node = Literal(tok.pos, tok.kind == "true")
        elif tok.kind == "name":
            self.advance()
            if self.tok.kind == "(":
                node = self.call(tok)
            else:
                node = Name(tok.pos, tok.text)
        elif tok.kind == "(":
            self.advance()
            if self.tok.kind == ")":
                raise self.error("empty parentheses", tok, hint="put an expression inside")
            node = self.expr()
            if self.tok.kind == ",":
                raise self.error(
                    "tuples are not allowed",
                    self.tok,
                    hint="commas only separate function arguments",
                )
            self.expect(")", tok)
        else:
            raise self.unexpected(tok, "a number, a name, quoted text or '('")
        if self.tok.kind == "(":
            raise self.error(
                "calling the result of an expression is not allowed",
                self.tok,
                hint="only whitelisted functions can be called, by name",
            )
        return node

    def call(self, name: Token) -> Node:
        open_ = self.advance()
        self.enter(open_)
        try:
            args: list[Node] = []
            if self.tok.kind != ")":
                args.append(self.expr())
                while self.tok.kind == ",":
                    self.advance()
                    args.append(self.expr())
            self.expect(")", open_)
        finally:
            self.depth -= 1
        return Call(name.pos, name.text, tuple(args))

    def expect(self, kind: str, opened: Token) -> None:
        if self.tok.kind != kind:
            if self.tok.kind == "end":
                raise self.error(f"'{opened.text}' is not closed", opened, hint=f"add '{kind}'")
            raise self.unexpected(
                self.tok, f"'{kind}' to close the '{opened.text}' at column {opened.pos + 1}"
            )
        self.advance()


def _describe(tok: Token) -> str:
    if tok.kind == "number":
        return f"number {tok.text}"
    if tok.kind == "string":
        return f"text {tok.text}"
    if tok.kind == "name":
        return f"name '{tok.text}'"
    return f"'{tok.text}'"
