"""Type checking and vectorised evaluation.

:func:`compile_expression` walks the syntax tree once: it resolves every name against
the given name -> type table, checks operator and function types, and builds a tree of
small Python closures that evaluate the expression over whole columns with NumPy and
pandas. Nothing from the expression text is ever executed as Python.
"""

from __future__ import annotations

import datetime as dt
import difflib
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from custrisk.expr._errors import ExpressionError
from custrisk.expr._nodes import Binary, Call, Literal, Name, Node, Unary, iter_nodes
from custrisk.expr._parser import parse
from custrisk.expr._types import ExprType
from custrisk.expr._values import (
    Value,
    convert,
    is_text_categorical,
    length,
    to_days,
)

NUMBER, BOOL, STRING, DATE = ExprType.NUMBER, ExprType.BOOL, ExprType.STRING, ExprType.DATE
NAN = float("nan")

#: The whitelist: function name -> signature shown in messages and docs.
FUNCTIONS: Mapping[str, str] = {
    "abs": "abs(x)",
    "clip": "clip(x, lower, upper)",
    "coalesce": "coalesce(a, b, ...)",
    "exp": "exp(x)",
    "isin": "isin(x, value, ...)",
    "isnull": "isnull(x)",
    "log": "log(x)",
    "log1p": "log1p(x)",
    "max": "max(a, b, ...)",
    "min": "min(a, b, ...)",
    "safe_div": "safe_div(numerator, denominator[, default])",
    "sqrt": "sqrt(x)",
    "where": "where(condition, value_if_true, value_if_false)",
}

# name -> (minimum, maximum or None) number of arguments
_ARITY: dict[str, tuple[int, int | None]] = {
    "abs": (1, 1),
    "clip": (3, 3),
    "coalesce": (2, None),
    "exp": (1, 1),
    "isin": (2, None),
    "isnull": (1, 1),
    "log": (1, 1),
    "log1p": (1, 1),
    "max": (2, None),
    "min": (2, None),
    "safe_div": (2, 3),
    "sqrt": (1, 1),
    "where": (3, 3),
}
_MATH: dict[str, Callable[[Any], Any]] = {
    "abs": np.abs,
    "exp": np.exp,
    "log": np.log,
    "log1p": np.log1p,
    "sqrt": np.sqrt,
}
_CMP: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": operator.pow,
}

Fn = Callable[["_Env"], Value]


class _Env:
    """Values of the names during one evaluation, converted on first use."""

    def __init__(
        self, values: Mapping[str, Any], types: Mapping[str, ExprType], n: int | None
    ) -> None:
        self.values = values
        self.types = types
        self.n = n
        self.cache: dict[str, Value] = {}

    def get(self, name: str) -> Value:
        if name not in self.cache:
            try:
                raw = self.values[name]
            except KeyError:
                raise ValueError(f"no value was given for the name {name!r}") from None
            value = convert(raw, self.types[name])
            size = length(value)
            if size is not None and self.n is not None and size != self.n:
                raise ValueError(f"the column {name!r} has {size} rows, expected {self.n}")
            self.cache[name] = value
        return self.cache[name]

    def holds(self, value: Any) -> bool:
        """True if ``value`` is one of the input columns (it must not be returned as is)."""
        return any(value is held for held in self.cache.values())


@dataclass(frozen=True, eq=False)
class Expression:
    """A checked expression, ready to evaluate over columns.

    Build it with :func:`compile_expression`. It pickles as its text and the types of
    the names it uses, and is compiled again when unpickled.

    Attributes
    ----------
    text : str
        The expression as written.
    type : ExprType
        Type of the result.
    names : frozenset of str
        Names (columns, indicators, fields) the expression reads.
    functions : frozenset of str
        Whitelisted functions it calls.
    tree : Node
        The syntax tree (our own node classes).
    """

    text: str
    type: ExprType
    names: frozenset[str]
    functions: frozenset[str]
    tree: Node = field(repr=False)
    name_types: Mapping[str, ExprType] = field(repr=False)
    _fn: Fn = field(repr=False)

    def evaluate(self, values: Mapping[str, Any], n: int | None = None) -> np.ndarray | pd.Series:
        """Evaluate over whole columns.

        Parameters
        ----------
        values : mapping
            Name -> column (NumPy array, pandas Series) or scalar, for every name in
            :attr:`names`. Dates may be datetime64 of any unit or ``datetime.date``.
            Only the names used are read (a lazy mapping works too).
        n : int, optional
            Number of rows; needed only when the expression uses no column.

        Returns
        -------
        numpy.ndarray or pandas.Series
            float64 array of length ``n`` for numbers, conditions (1.0/0.0/NaN) and dates
            (days since 1970-01-01); a ``str`` Series for text. Always a new object, never
            one of the inputs.
        """
        env, result = self._run(values, n)
        if self.type is STRING:
            return _text_column(result, env.n or 0)
        arr = np.asarray(result, dtype=np.float64)
        if arr.shape == (env.n,) and not (arr is result and env.holds(result)):
            return arr  # a fresh result: no copy needed
        return np.array(np.broadcast_to(arr, (env.n or 0,)))

    def evaluate_mask(self, values: Mapping[str, Any], n: int | None = None) -> np.ndarray:
        """Evaluate a condition to a boolean mask: True where it is definitely true.

        Unknown (a missing value in a condition column) counts as false, as in a filter.

        Raises
        ------
        TypeError
            If the expression is not a condition.
        """
        if self.type is not BOOL:
            raise TypeError(f"the expression gives a {self.type.label}, not a condition")
        env, result = self._run(values, n)
        arr = np.asarray(result)
        mask = arr if arr.dtype == np.bool_ else arr == 1.0
        if mask.shape == (env.n,) and not env.holds(result):
            return mask
        return np.array(np.broadcast_to(mask, (env.n or 0,)))

    def _run(self, values: Mapping[str, Any], n: int | None) -> tuple[_Env, Value]:
        if n is None:
            for name in sorted(self.names):
                size = length(convert(values[name], self.name_types[name]))
                if size is not None:
                    n = size
                    break
        if n is None:
            raise ValueError("the expression reads no column; pass n, the number of rows")
        env = _Env(values, self.name_types, n)
        with np.errstate(all="ignore"):
            result = self._fn(env)
        return env, result

    def __reduce__(self) -> tuple[Any, ...]:
        return (compile_expression, (self.text, dict(self.name_types)))


def compile_expression(text: str, names: Mapping[str, ExprType | str]) -> Expression:
    """Parse and type-check ``text`` against the names it may use.

    Parameters
    ----------
    text : str
        The expression, e.g. ``"safe_div(overdue_amount, outstanding_balance, 0)"``.
    names : mapping of str to ExprType
        Every name the expression may read, with its type (an :class:`ExprType` or its
        value, e.g. ``"number"``).

    Returns
    -------
    Expression

    Raises
    ------
    ExpressionError
        For a syntax error, an unknown name or function, a wrong number of arguments or a
        type error, naming the token and its column.
    """
    types = {str(k): v if isinstance(v, ExprType) else ExprType(v) for k, v in names.items()}
    tree = parse(text)
    compiler = _Compiler(text, types)
    kind, fn = compiler.compile(tree)
    used = frozenset(n.name for n in iter_nodes(tree) if isinstance(n, Name))
    funcs = frozenset(n.func for n in iter_nodes(tree) if isinstance(n, Call))
    return Expression(
        text=text,
        type=kind,
        names=used,
        functions=funcs,
        tree=tree,
        name_types={k: types[k] for k in sorted(used)},
        _fn=fn,
    )


# ---------------------------------------------------------------------------------------
# compiler


class _Compiler:
    def __init__(self, text: str, types: Mapping[str, ExprType]) -> None:
        self.text = text
        self.types = types

    def error(
        self, reason: str, node: Node, token: str | None = None, hint: str | None = None
    ) -> ExpressionError:
        return ExpressionError(reason, text=self.text, pos=node.pos, token=token, hint=hint)

    def compile(self, node: Node) -> tuple[ExprType, Fn]:
        if isinstance(node, Literal):
            return self.literal(node)
        if isinstance(node, Name):
            return self.name(node)
        if isinstance(node, Unary):
            return self.unary(node)
        if isinstance(node, Binary):
            if node.op in ("and", "or"):
                return self.logical(node)
            if node.op in _CMP:
                return self.comparison(node)
            return self.arithmetic(node)
        if isinstance(node, Call):
            return self.call(node)
        raise TypeError(f"unknown node {node!r}")  # pragma: no cover

    # -- leaves --------------------------------------------------------------------
    def literal(self, node: Literal) -> tuple[ExprType, Fn]:
        value = node.value
        if isinstance(value, bool):
            truth = np.bool_(value)
            return BOOL, lambda env: truth
        if isinstance(value, str):
            return STRING, lambda env: value
        fvalue = float(value)
        return NUMBER, lambda env: fvalue

    def name(self, node: Name) -> tuple[ExprType, Fn]:
        kind = self.types.get(node.name)
        if kind is None:
            raise self.error(
                f"unknown name {node.name!r}", node, node.name, hint=self._name_hint(node.name)
            )
        name = node.name
        return kind, lambda env: env.get(name)

    def _name_hint(self, name: str) -> str:
        if name in FUNCTIONS:
            return f"{name!r} is a function; call it as {FUNCTIONS[name]}"
        close = difflib.get_close_matches(name, list(self.types), n=1)
        known = _join(sorted(self.types), 8)
        if close:
            return f"did you mean {close[0]!r}? known names: {known}"
        return f"known names: {known}" if known else "no names are available here"

    # -- operators -----------------------------------------------------------------
    def unary(self, node: Unary) -> tuple[ExprType, Fn]:
        kind, fn = self.compile(node.operand)
        if node.op == "not":
            self._need_condition("'not'", kind, node.operand, op_node=node)

            def not_(env: _Env) -> Value:
                value = np.asarray(fn(env))
                if value.dtype == np.bool_:
                    return ~value
                return 1.0 - value  # unknown (NaN) stays unknown

            return BOOL, not_
        if not kind.numeric:
            raise self.error(
                f"'{node.op}' needs a number, got {kind.label}",
                node,
                node.op,
                hint=_arith_hint(kind),
            )
        if node.op == "+":
            return NUMBER, fn
        return NUMBER, lambda env: -np.asarray(fn(env), dtype=np.float64)

    def arithmetic(self, node: Binary) -> tuple[ExprType, Fn]:
        # ``a + b - c + ...`` parses to a tree as deep as the chain is long: compile and
        # evaluate the chain in a loop, left to right, so that its length is bounded by
        # the expression's length and not by Python's recursion limit.
        links = _left_chain(node, tuple(_ARITH))
        result, first = self.compile(links[0].left)
        steps: list[tuple[Callable[[Any, Any], Any], Fn]] = []
        for link in links:
            rt, rf = self.compile(link.right)
            result = self._arith_type(link, result, rt)
            steps.append((_ARITH[link.op], rf))

        def arith(env: _Env) -> Value:
            value = first(env)
            for func, rf in steps:
                value = _finite(
                    func(np.asarray(value, dtype=np.float64), np.asarray(rf(env), dtype=np.float64))
                )
            return value

        return result, arith

    def _arith_type(self, node: Binary, lt: ExprType, rt: ExprType) -> ExprType:
        op = node.op
        result = _arith_result(op, lt, rt)
        if result is None:
            if op == "+":
                reason = f"'+' cannot add {lt.label} and {rt.label}"
            elif op == "-":
                reason = f"'-' cannot subtract {rt.label} from {lt.label}"
            else:
                side, bad = ("left", lt) if not lt.numeric else ("right", rt)
                reason = f"'{op}' needs numbers, got {bad.label} on the {side}"
            bad_kind = lt if lt in (STRING, DATE) else rt
            raise self.error(reason, node, op, hint=_arith_hint(bad_kind))
        return result

    def comparison(self, node: Binary) -> tuple[ExprType, Fn]:
        lt, lf = self.compile(node.left)
        rt, rf = self.compile(node.right)
        op = node.op
        # a date compared with a quoted date: 'YYYY-MM-DD' becomes a date
        if lt is DATE and rt is STRING and isinstance(node.right, Literal):
            rt, rf = DATE, self._date_literal(node.right)
        elif rt is DATE and lt is STRING and isinstance(node.left, Literal):
            lt, lf = DATE, self._date_literal(node.left)
        func = _CMP[op]
        if lt.numeric and rt.numeric or lt is rt is DATE:

            def compare_numbers(env: _Env) -> Value:
                left = np.asarray(lf(env), dtype=np.float64)
                right = np.asarray(rf(env), dtype=np.float64)
                return func(left, right) & ~(np.isnan(left) | np.isnan(right))

            return BOOL, compare_numbers
        if lt is rt is STRING:
            column, text, flipped = _column_and_text(node)

            def compare_text(env: _Env) -> Value:
                if column is not None and column not in env.cache:
                    raw = env.values.get(column)
                    if (
                        isinstance(raw, pd.Series)
                        and is_text_categorical(raw.dtype)
                        and (env.n is None or len(raw) == env.n)
                    ):
                        return _compare_categories(func, raw, text, flipped)
                return _compare_text(func, lf(env), rf(env), env.n)

            return BOOL, compare_text
        hint = "quote text values ('order') and compare numbers with numbers"
        if DATE in (lt, rt):
            hint = "compare a date with a date or with a quoted 'YYYY-MM-DD'"
        raise self.error(f"'{op}' cannot compare {lt.label} with {rt.label}", node, op, hint=hint)

    def _date_literal(self, node: Literal) -> Fn:
        assert isinstance(node.value, str)
        try:
            day = to_days(dt.date.fromisoformat(node.value))
        except ValueError:
            raise self.error(
                f"{node.value!r} is not a date",
                node,
                repr(node.value),
                hint="write dates as 'YYYY-MM-DD'",
            ) from None
        return lambda env: day

    def logical(self, node: Binary) -> tuple[ExprType, Fn]:
        # a long ``x or y or ...`` is compiled and evaluated in a loop, as in arithmetic
        links = _left_chain(node, (node.op,))
        kind, first = self.compile(links[0].left)
        rest: list[Fn] = []
        for link in links:
            rt, rf = self.compile(link.right)
            self._need_condition(f"'{link.op}'", kind, link.left, side="left", op_node=link)
            self._need_condition(f"'{link.op}'", rt, link.right, side="right", op_node=link)
            kind = BOOL
            rest.append(rf)
        combine = _kleene_and if node.op == "and" else _kleene_or

        def logical(env: _Env) -> Value:
            value = first(env)
            for rf in rest:
                value = combine(value, rf(env))
            return value

        return BOOL, logical

    def _need_condition(
        self,
        what: str,
        kind: ExprType,
        node: Node,
        side: str | None = None,
        op_node: Node | None = None,
    ) -> None:
        if kind is BOOL:
            return
        where = f" on the {side}" if side else ""
        at = op_node if op_node is not None else node
        raise self.error(
            f"{what} needs a condition (true/false), got {kind.label}{where}",
            at,
            what.strip("'"),
            hint="compare the value, e.g. x > 0 or x == 'a'",
        )

    # -- functions -------------------------------------------------------------------
    def call(self, node: Call) -> tuple[ExprType, Fn]:
        name = node.func
        if name not in FUNCTIONS:
            hint = f"allowed functions: {', '.join(sorted(FUNCTIONS))}"
            if name in self.types:
                raise self.error(f"{name!r} is not a function", node, name, hint=hint)
            raise self.error(f"unknown function {name!r}", node, name, hint=hint)
        low, high = _ARITY[name]
        count = len(node.args)
        if count < low or (high is not None and count > high):
            if high is None:
                want = f"at least {low} arguments"
            elif low == high:
                want = f"{low} argument" + ("s" if low != 1 else "")
            else:
                want = f"{low} to {high} arguments"
            raise self.error(
                f"{name}() takes {want}, got {count}", node, name, hint=f"use {FUNCTIONS[name]}"
            )
        args = [self.compile(arg) for arg in node.args]
        kinds = [kind for kind, _ in args]
        fns = [fn for _, fn in args]
        if name in _MATH:
            self._need_numbers(name, node, kinds)
            math_fn = _MATH[name]
            arg0 = fns[0]
            return NUMBER, lambda env: _finite(math_fn(np.asarray(arg0(env), dtype=np.float64)))
        if name in ("min", "max"):
            return self._min_max(name, node, kinds, fns)
        if name == "clip":
            self._need_numbers(name, node, kinds)
            x, lo, hi = fns

            def clip(env: _Env) -> Value:
                value = np.asarray(x(env), dtype=np.float64)
                value = np.maximum(value, np.asarray(lo(env), dtype=np.float64))
                return np.minimum(value, np.asarray(hi(env), dtype=np.float64))

            return NUMBER, clip
        if name == "safe_div":
            self._need_numbers(name, node, kinds)
            return NUMBER, _safe_div(fns)
        if name == "isnull":

            def isnull(env: _Env) -> Value:
                return _isnull(fns[0](env))

            return BOOL, isnull
        if name == "where":
            return self._where(node, kinds, fns)
        if name == "coalesce":
            return self._coalesce(node, kinds, fns)
        if name == "isin":
            return self._isin(node, kinds, fns)
        raise AssertionError(name)  # pragma: no cover

    def _need_numbers(self, name: str, node: Call, kinds: list[ExprType]) -> None:
        for i, kind in enumerate(kinds):
            if not kind.numeric:
                raise self.error(
                    f"argument {i + 1} of {name}() must be a number, got {kind.label}",
                    node.args[i],
                    name,
                    hint=_arith_hint(kind),
                )

    def _min_max(
        self, name: str, node: Call, kinds: list[ExprType], fns: list[Fn]
    ) -> tuple[ExprType, Fn]:
        if all(kind is DATE for kind in kinds):
            result = DATE
        else:
            self._need_numbers(name, node, kinds)
            result = NUMBER
        ufunc = np.minimum if name == "min" else np.maximum

        def reduce(env: _Env) -> Value:
            value = np.asarray(fns[0](env), dtype=np.float64)
            for fn in fns[1:]:
                value = ufunc(value, np.asarray(fn(env), dtype=np.float64))
            return value

        return result, reduce

    def _unify(self, name: str, node: Call, kinds: list[ExprType], first: int) -> ExprType:
        rest = kinds[first:]
        if all(kind is BOOL for kind in rest):
            return BOOL
        if all(kind.numeric for kind in rest):
            return NUMBER
        if all(kind is rest[0] for kind in rest):
            return rest[0]
        labels = " and ".join(sorted({kind.label for kind in rest}))
        which = f"arguments {first + 1}.." if first else "the arguments"
        raise self.error(
            f"{which} of {name}() must have one type, got {labels}",
            node,
            name,
            hint=f"use {FUNCTIONS[name]} with values of one type",
        )

    def _where(self, node: Call, kinds: list[ExprType], fns: list[Fn]) -> tuple[ExprType, Fn]:
        if kinds[0] is not BOOL:
            raise self.error(
                f"argument 1 of where() must be a condition (true/false), got {kinds[0].label}",
                node.args[0],
                "where",
                hint="compare the value, e.g. where(x > 0, a, b)",
            )
        result = self._unify("where", node, kinds, 1)
        cond_fn, yes_fn, no_fn = fns
        if result is STRING:

            def where_text(env: _Env) -> Value:
                n = env.n or 0
                mask = np.broadcast_to(_truth(cond_fn(env)), (n,))
                return _text_column(yes_fn(env), n).where(mask, _text_column(no_fn(env), n))

            return result, where_text

        def where(env: _Env) -> Value:
            cond = _truth(cond_fn(env))
            return np.where(
                cond,
                np.asarray(yes_fn(env), dtype=np.float64),
                np.asarray(no_fn(env), dtype=np.float64),
            )

        return result, where

    def _coalesce(self, node: Call, kinds: list[ExprType], fns: list[Fn]) -> tuple[ExprType, Fn]:
        result = self._unify("coalesce", node, kinds, 0)
        if result is STRING:

            def coalesce_text(env: _Env) -> Value:
                n = env.n or 0
                value = _text_column(fns[0](env), n)
                for fn in fns[1:]:
                    value = value.where(value.notna(), _text_column(fn(env), n))
                return value

            return result, coalesce_text

        def coalesce(env: _Env) -> Value:
            value = np.asarray(fns[0](env), dtype=np.float64)
            for fn in fns[1:]:
                value = np.where(np.isnan(value), np.asarray(fn(env), dtype=np.float64), value)
            return value

        return result, coalesce

    def _isin(self, node: Call, kinds: list[ExprType], fns: list[Fn]) -> tuple[ExprType, Fn]:
        subject = kinds[0]
        if subject is DATE:
            raise self.error(
                "argument 1 of isin() must be a number or text, got date", node.args[0], "isin"
            )
        options: list[Any] = []
        for i, arg in enumerate(node.args[1:], start=2):
            ok = (
                isinstance(arg, Literal)
                and not isinstance(arg.value, bool)
                and (isinstance(arg.value, str) == (subject is STRING))
            )
            if not ok:
                want = "quoted text" if subject is STRING else "a number"
                raise self.error(
                    f"argument {i} of isin() must be {want} written out",
                    arg,
                    "isin",
                    hint="isin(x, 'a', 'b') lists literal values",
                )
            assert isinstance(arg, Literal)
            options.append(arg.value)
        subject_fn = fns[0]
        if subject is STRING:

            def isin_text(env: _Env) -> Value:
                value = subject_fn(env)
                if isinstance(value, pd.Series):
                    return value.isin(options).to_numpy(dtype=bool)
                return np.bool_(value in options)

            return BOOL, isin_text

        def isin(env: _Env) -> Value:
            return np.isin(np.asarray(subject_fn(env), dtype=np.float64), options)

        return BOOL, isin


def _left_chain(node: Binary, ops: tuple[str, ...]) -> list[Binary]:
    """The links of a left-associative chain ``a op b op c ...``, innermost first."""
    links = [node]
    while isinstance(links[-1].left, Binary) and links[-1].left.op in ops:
        links.append(links[-1].left)
    links.reverse()
    return links


# ---------------------------------------------------------------------------------------
# runtime helpers


def _arith_result(op: str, lt: ExprType, rt: ExprType) -> ExprType | None:
    if lt.numeric and rt.numeric:
        return NUMBER
    if op == "+" and {lt, rt} == {DATE, NUMBER} or op == "+" and {lt, rt} == {DATE, BOOL}:
        return DATE
    if op == "-" and lt is DATE and rt is DATE:
        return NUMBER
    if op == "-" and lt is DATE and rt.numeric:
        return DATE
    return None


def _arith_hint(kind: ExprType) -> str | None:
    if kind is DATE:
        return "subtract two dates to get a number of days, e.g. as_of - customer_since"
    if kind is STRING:
        return "text cannot be used in arithmetic; compare it instead, e.g. x == 'a'"
    return None


def _finite(value: Any) -> Any:
    """Replace +-inf by NaN: division by zero and overflow give a missing value.

    ``value`` is always a fresh result of an operation, so it may be changed in place.
    """
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return float(arr) if np.isfinite(arr) else NAN
    infinite = np.isinf(arr)
    if infinite.any():
        arr[infinite] = NAN
    return arr


def _truth(value: Value) -> Any:
    """Boolean mask of a condition: unknown (NaN) is not true."""
    arr = np.asarray(value)
    return arr if arr.dtype == np.bool_ else arr == 1.0


def _safe_div(fns: list[Fn]) -> Fn:
    num_fn, den_fn = fns[0], fns[1]
    default_fn = fns[2] if len(fns) > 2 else None

    def safe_div(env: _Env) -> Value:
        num = np.asarray(num_fn(env), dtype=np.float64)
        den = np.asarray(den_fn(env), dtype=np.float64)
        default = NAN if default_fn is None else np.asarray(default_fn(env), dtype=np.float64)
        quotient = _finite(num / den)
        return np.where(den == 0, default, quotient)

    return safe_div


def _isnull(value: Value) -> Value:
    if isinstance(value, pd.Series):
        return value.isna().to_numpy(dtype=bool)
    if value is None or isinstance(value, str):
        return np.bool_(value is None)
    arr = np.asarray(value)
    if arr.dtype == np.bool_:
        return np.zeros(arr.shape, dtype=bool)
    return np.isnan(arr.astype(np.float64, copy=False))


# Conditions are NumPy bool arrays when they cannot be unknown (comparisons, isnull,
# isin, literals), else float64 1.0/0.0/NaN (a bool column with missing values). "and"
# and "or" stay in bools when they can and follow three-valued logic otherwise.


def _kleene_and(left: Value, right: Value) -> Value:
    a, b = np.asarray(left), np.asarray(right)
    if a.dtype == np.bool_ and b.dtype == np.bool_:
        return a & b
    a, b = a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)
    unknown = np.where(np.isnan(a) | np.isnan(b), NAN, 1.0)
    return np.where((a == 0.0) | (b == 0.0), 0.0, unknown)


def _kleene_or(left: Value, right: Value) -> Value:
    a, b = np.asarray(left), np.asarray(right)
    if a.dtype == np.bool_ and b.dtype == np.bool_:
        return a | b
    a, b = a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)
    unknown = np.where(np.isnan(a) | np.isnan(b), NAN, 0.0)
    return np.where((a == 1.0) | (b == 1.0), 1.0, unknown)


def _compare_text(
    func: Callable[[Any, Any], Any], left: Value, right: Value, n: int | None
) -> Value:
    if not isinstance(left, pd.Series) and not isinstance(right, pd.Series):
        if left is None or right is None:
            return np.False_
        return np.bool_(func(left, right))
    size = n or 0
    if left is None or right is None:
        return np.zeros(size, dtype=bool)
    if isinstance(left, pd.Series) and isinstance(right, pd.Series):
        result = func(left.reset_index(drop=True), right.reset_index(drop=True))
        ok = left.notna().to_numpy(dtype=bool) & right.notna().to_numpy(dtype=bool)
    elif isinstance(left, pd.Series):
        result = func(left, right)
        ok = left.notna().to_numpy(dtype=bool)
    else:
        assert isinstance(right, pd.Series)
        result = func(left, right)
        ok = right.notna().to_numpy(dtype=bool)
    values = np.asarray(result.to_numpy(dtype=bool, na_value=False), dtype=bool)
    return values & ok


def _column_and_text(node: Binary) -> tuple[str | None, str, bool]:
    """The column and the quoted text a comparison such as ``txn_type == 'order'`` is
    between, and whether the text is on the left (``None``: not such a comparison)."""
    left, right = node.left, node.right
    if isinstance(left, Name) and isinstance(right, Literal) and isinstance(right.value, str):
        return left.name, right.value, False
    if isinstance(right, Name) and isinstance(left, Literal) and isinstance(left.value, str):
        return right.name, left.value, True
    return None, "", False


def _compare_categories(
    func: Callable[[Any, Any], Any], column: pd.Series, text: str, flipped: bool
) -> np.ndarray:
    """:func:`_compare_text` of a categorical column of text with ``text``, compared once
    per category rather than once per row (a filter over millions of transactions
    expanded every row's category to text first)."""
    categories = pd.Series(column.cat.categories).astype("str")
    per_category = func(text, categories) if flipped else func(categories, text)
    holds = per_category.to_numpy(dtype=bool, na_value=False) & categories.notna().to_numpy()
    return np.append(holds, False)[column.cat.codes.to_numpy()]  # code -1: missing


def _text_column(value: Value, n: int) -> pd.Series:
    if isinstance(value, pd.Series):
        return value.reset_index(drop=True)
    if value is None:
        return pd.Series(np.full(n, np.nan, dtype=object), dtype="str")
    return pd.Series(np.full(n, value, dtype=object), dtype="str")


def _join(items: Iterable[str], limit: int) -> str:
    items = list(items)
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"
