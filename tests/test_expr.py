"""The expression language: tokenizer, parser, type checker and vectorised evaluator."""

from __future__ import annotations

import builtins
import datetime as dt
import math
import pickle
import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custrisk.errors import ConfigError
from custrisk.expr import (
    FUNCTIONS,
    Binary,
    Call,
    ExpressionError,
    ExprType,
    Literal,
    Name,
    Unary,
    compile_expression,
    parse,
    to_days,
    tokenize,
)

NAN = float("nan")

TYPES = {
    "x": "number",
    "y": "number",
    "flag": "bool",
    "kind": "string",
    "other": "string",
    "d": "date",
    "e": "date",
}


def ev(text: str, n: int = 1, **values: object) -> np.ndarray | pd.Series:
    """Compile against TYPES and evaluate with ``values``."""
    return compile_expression(text, TYPES).evaluate(values, n=n)


def scalar(text: str, **values: object) -> float:
    result = ev(text, **values)
    assert isinstance(result, np.ndarray)
    return float(result[0])


def same(actual: object, expected: list[float]) -> None:
    np.testing.assert_array_equal(np.asarray(actual, dtype=float), np.asarray(expected))


def refused(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        compile_expression(text, TYPES)


# -- tokenizer ---------------------------------------------------------------------------


def test_tokens_have_kinds_values_and_positions() -> None:
    tokens = tokenize("a1 >= 1.5e2 and not 'o\\'k' or .5 ** (x)")
    assert [(t.kind, t.text, t.pos) for t in tokens] == [
        ("name", "a1", 0),
        ("op", ">=", 3),
        ("number", "1.5e2", 6),
        ("and", "and", 12),
        ("not", "not", 16),
        ("string", "'o\\'k'", 20),
        ("or", "or", 27),
        ("number", ".5", 30),
        ("op", "**", 33),
        ("(", "(", 36),
        ("name", "x", 37),
        (")", ")", 38),
        ("end", "", 39),
    ]
    assert tokens[2].value == 150.0
    assert tokens[5].value == "o'k"


def test_double_quoted_text_and_chinese() -> None:
    tokens = tokenize('kind == "华东"')
    assert tokens[2].value == "华东"


# -- parser --------------------------------------------------------------------------------


def test_parse_builds_our_own_nodes() -> None:
    tree = parse("a + b * -c")
    assert tree == Binary(
        2, "+", Name(0, "a"), Binary(6, "*", Name(4, "b"), Unary(8, "-", Name(9, "c")))
    )
    call = parse("min(a, 1)")
    assert call == Call(0, "min", (Name(4, "a"), Literal(7, 1.0)))


@pytest.mark.parametrize(
    "text,expected",
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 4 - 3", 3),
        ("12 / 3 / 2", 2),
        ("-2 ** 2", -4),
        ("2 ** 3 ** 2", 512),
        ("2 ** -1", 0.5),
        ("-(1 - 3)", 2),
        ("+3 - -3", 6),
        ("2 * 3 ** 2", 18),
        ("1 + 2 > 2", 1),
        ("not 1 > 2 and 3 > 2", 1),
        ("1 > 2 or 3 > 2 and 0 > 1", 0),
        ("(1 > 2 or 3 > 2) and 0 > 1", 0),
        ("not (1 > 2 or 3 > 2)", 0),
        ("true and not false", 1),
    ],
)
def test_precedence(text: str, expected: float) -> None:
    assert scalar(text) == expected


# -- arithmetic, missing values ------------------------------------------------------------


def test_division_by_zero_gives_nan_not_inf() -> None:
    x = np.array([1.0, -1.0, 0.0, 4.0])
    same(ev("x / y", n=4, x=x, y=np.array([0.0, 0.0, 0.0, 2.0])), [NAN, NAN, NAN, 2.0])


def test_non_finite_results_are_nan() -> None:
    same(ev("log(x)", n=3, x=np.array([0.0, -1.0, math.e])), [NAN, NAN, 1.0])
    same(ev("sqrt(x)", n=2, x=np.array([-4.0, 9.0])), [NAN, 3.0])
    same(ev("exp(x)", n=2, x=np.array([1000.0, 0.0])), [NAN, 1.0])
    same(ev("x ** 0.5", n=2, x=np.array([-1.0, 4.0])), [NAN, 2.0])


def test_nan_propagates() -> None:
    x = np.array([NAN, 1.0])
    same(ev("x + 1", n=2, x=x), [NAN, 2.0])
    same(ev("-x * 2", n=2, x=x), [NAN, -2.0])
    same(ev("min(x, 5)", n=2, x=x), [NAN, 1.0])
    same(ev("max(x, 0, 3)", n=2, x=x), [NAN, 3.0])
    same(ev("clip(x, 0, 0.5)", n=2, x=x), [NAN, 0.5])
    same(ev("abs(x)", n=2, x=x), [NAN, 1.0])


def test_comparisons_with_nan_are_false() -> None:
    x = np.array([NAN, 1.0])
    for op, expected in (
        ("==", 1.0),
        ("!=", 0.0),
        ("<", 0.0),
        ("<=", 1.0),
        (">", 0.0),
        (">=", 1.0),
    ):
        same(ev(f"x {op} 1", n=2, x=x), [0.0, expected])
    kind = pd.Series(["a", None], dtype="str")
    same(ev("kind == 'a'", n=2, kind=kind), [1.0, 0.0])
    same(ev("kind != 'a'", n=2, kind=kind), [0.0, 0.0])
    same(ev("kind != other", n=2, kind=kind, other=pd.Series(["b", "b"], dtype="str")), [1.0, 0.0])


def test_logic_is_three_valued() -> None:
    flag = pd.Series([True, False, None], dtype="boolean")
    same(ev("not flag", n=3, flag=flag), [0.0, 1.0, NAN])
    same(ev("flag and true", n=3, flag=flag), [1.0, 0.0, NAN])
    same(ev("flag and false", n=3, flag=flag), [0.0, 0.0, 0.0])
    same(ev("flag or true", n=3, flag=flag), [1.0, 1.0, 1.0])
    same(ev("flag or false", n=3, flag=flag), [1.0, 0.0, NAN])
    same(ev("flag == false", n=3, flag=flag), [0.0, 1.0, 0.0])


def test_conditions_count_as_one_and_zero() -> None:
    same(ev("(x > 0) + (x > 1)", n=3, x=np.array([0.5, 2.0, -1.0])), [1.0, 2.0, 0.0])


# -- functions -----------------------------------------------------------------------------


def test_every_function_is_documented_and_evaluates() -> None:
    x = np.array([1.0, 4.0])
    cases = {
        "abs": ("abs(-x)", [1.0, 4.0]),
        "clip": ("clip(x, 2, 3)", [2.0, 3.0]),
        "coalesce": ("coalesce(y, x)", [1.0, 7.0]),
        "exp": ("exp(x - x)", [1.0, 1.0]),
        "isin": ("isin(x, 4, 5)", [0.0, 1.0]),
        "isnull": ("isnull(y)", [1.0, 0.0]),
        "log": ("log(exp(x))", [1.0, 4.0]),
        "log1p": ("log1p(x - 1)", [0.0, math.log(4.0)]),
        "max": ("max(x, 2)", [2.0, 4.0]),
        "min": ("min(x, 2)", [1.0, 2.0]),
        "safe_div": ("safe_div(x, x - 1, -1)", [-1.0, 4.0 / 3.0]),
        "sqrt": ("sqrt(x)", [1.0, 2.0]),
        "where": ("where(x > 2, x, 0)", [0.0, 4.0]),
    }
    assert set(cases) == set(FUNCTIONS)
    for text, expected in cases.values():
        np.testing.assert_allclose(ev(text, n=2, x=x, y=np.array([NAN, 7.0])), expected)


def test_where_behaves_like_numpy_where_and_unknown_is_false() -> None:
    flag = pd.Series([True, False, None], dtype="boolean")
    x = np.array([1.0, 2.0, 3.0])
    same(ev("where(flag, x, -x)", n=3, flag=flag, x=x), [1.0, -2.0, -3.0])
    same(ev("where(x > 1, 1, y)", n=3, x=x, y=np.array([NAN, 5.0, 6.0])), [NAN, 1.0, 1.0])
    text = ev("where(x >= 2, 'big', kind)", n=3, x=x, kind=pd.Series(["a", "b", None], dtype="str"))
    assert isinstance(text, pd.Series)
    assert text.tolist() == ["a", "big", "big"]


def test_coalesce_is_sql_coalesce() -> None:
    a = np.array([NAN, NAN, 1.0])
    b = np.array([NAN, 2.0, 3.0])
    same(ev("coalesce(x, y, 0)", n=3, x=a, y=b), [0.0, 2.0, 1.0])
    same(ev("coalesce(x, y)", n=3, x=a, y=b), [NAN, 2.0, 1.0])
    kind = pd.Series([None, "a"], dtype="str")
    out = ev("coalesce(kind, 'unknown')", n=2, kind=kind)
    assert isinstance(out, pd.Series)
    assert out.tolist() == ["unknown", "a"]


def test_safe_div_default_is_nan() -> None:
    same(ev("safe_div(x, y)", n=2, x=np.array([1.0, 1.0]), y=np.array([0.0, 4.0])), [NAN, 0.25])


def test_isin_on_text_and_missing() -> None:
    kind = pd.Series(["order", "refund", None], dtype="str")
    same(ev("isin(kind, 'order', 'payment')", n=3, kind=kind), [1.0, 0.0, 0.0])


# -- dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_dates_of_any_unit_are_days(unit: str) -> None:
    d = pd.Series(pd.to_datetime(["2024-03-01T00:00", None, "2024-01-01T23:59"])).astype(
        f"datetime64[{unit}]"
    )
    e = pd.Series(pd.to_datetime(["2024-02-01", "2024-01-01", "2023-12-31"])).astype(
        "datetime64[s]"
    )
    same(ev("d - e", n=3, d=d, e=e), [29.0, NAN, 1.0])
    same(ev("d >= '2024-02-01'", n=3, d=d, e=e), [1.0, 0.0, 0.0])
    same(ev("(d + 1) - d", n=3, d=d), [1.0, NAN, 1.0])


def test_as_of_style_scalar_dates() -> None:
    d = pd.Series(pd.to_datetime(["2024-03-01"]))
    same(ev("e - d", n=1, d=d, e=dt.date(2024, 3, 31)), [30.0])
    assert to_days(dt.date(1970, 1, 2)) == 1.0
    assert to_days("2024-01-01") == to_days(pd.Timestamp("2024-01-01 12:00", tz="Asia/Shanghai"))


# -- refused expressions: injection attempts -------------------------------------------------

INJECTIONS = {
    "__import__('os').system('id')": r"^name '__import__' is not allowed at column 1 of "
    r"\"__import__\('os'\)\.system\('id'\)\"; names may not start with '_'$",
    "().__class__.__bases__": r"^unexpected character '\.' at column 3 of "
    r"\"\(\)\.__class__\.__bases__\"; attribute access is not allowed$",
    "()": r"^empty parentheses at column 1",
    "x.__class__": r"^unexpected character '\.' at column 2 .*attribute access is not allowed",
    "x.real": r"^unexpected character '\.' at column 2",
    "(1).real": r"^unexpected character '\.' at column 4",
    "kind[0]": r"^unexpected character '\[' at column 5 .*subscripts and lists are not allowed",
    "[x for x in y]": r"^unexpected character '\[' at column 1",
    "{'a': 1}": r"^unexpected character '\{' at column 1 .*braces are not allowed",
    "lambda: 1": r"^'lambda' is not part of the expression language at column 1",
    "(lambda x: x)(1)": r"^'lambda' is not part of the expression language at column 2",
    "eval('1+1')": r"^unknown function 'eval' at column 1 of \"eval\('1\+1'\)\"; allowed "
    r"functions: abs, clip, coalesce, exp, isin, isnull, log, log1p, max, min, safe_div, "
    r"sqrt, where$",
    "exec('x=1')": r"^unknown function 'exec' at column 1",
    "open('/etc/passwd')": r"^unknown function 'open' at column 1",
    "getattr(x, 'real')": r"^unknown function 'getattr' at column 1",
    "globals()": r"^unknown function 'globals' at column 1",
    "x(1)": r"^'x' is not a function at column 1",
    "min(x, y)(1)": r"^calling the result of an expression is not allowed at column 10",
    "(min)(x, y)": r"^calling the result of an expression is not allowed at column 6",
    "min + 1": r"^unknown name 'min' at column 1 .*'min' is a function; call it as "
    r"min\(a, b, \.\.\.\)",
    "x; import os": r"^unexpected character ';' at column 2 .*statements are not allowed",
    "import os": r"^'import' is not part of the expression language at column 1",
    "x = 1": r"^unexpected character '=' at column 3 .*use '==' to compare",
    "x if flag else y": r"^'if' is not part of the expression language at column 3 .*use "
    r"where\(condition, value_if_true, value_if_false\)",
    "x is None": r"^'is' is not part of the expression language at column 3",
    "kind in ('a', 'b')": r"^'in' is not part of the expression language at column 6 .*isin",
    "True": r"^'True' is not part of the expression language at column 1 .*write true",
    "_x": r"^name '_x' is not allowed at column 1",
    "x & y": r"^unexpected character '&' at column 3 .*use 'and'",
    "x | y": r"^unexpected character '\|' at column 3 .*use 'or'",
    "~x": r"^unexpected character '~' at column 1",
    "`x`": r"^unexpected character '`' at column 1",
    "x # comment": r"^unexpected character '#' at column 3",
    "f'{x}'": r"^unknown name 'f'|^unexpected",
    "'\\x41'": r"^unsupported escape '\\\\x' in quoted text at column 2",
    "'abc": r"^quoted text is not closed at column 1",
    "(x, y)": r"^tuples are not allowed at column 3",
    "x @ y": r"^unexpected character '@' at column 3",
}


@pytest.mark.parametrize("text", sorted(INJECTIONS))
def test_injection_attempts_are_refused_with_exact_messages(text: str) -> None:
    refused(text, INJECTIONS[text])


def test_expression_errors_are_config_errors_with_exit_code_2() -> None:
    with pytest.raises(ConfigError) as info:
        compile_expression("__import__('os').system('id')", TYPES)
    assert info.value.exit_code == 2
    assert isinstance(info.value, ExpressionError)
    assert (info.value.reason, info.value.token, info.value.column) == (
        "name '__import__' is not allowed",
        "__import__",
        1,
    )


def test_python_eval_exec_compile_are_never_used(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("Python eval/exec/compile was called")

    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, forbidden)
    expr = compile_expression("where(kind == 'a', log1p(x) * 2, -1)", TYPES)
    out = expr.evaluate({"kind": pd.Series(["a", "b"], dtype="str"), "x": np.array([0.0, 1.0])})
    same(out, [0.0, -1.0])


def test_nesting_and_length_are_bounded() -> None:
    refused("(" * 100 + "1" + ")" * 100, r"^the expression is nested more than 60 levels deep")
    refused("-" * 100 + "1", r"^the expression is nested more than 60 levels deep")
    refused("1" + " + 1" * 2000, r"^expression is longer than 4000 characters")


@pytest.mark.parametrize(
    "op,operand,step",
    [
        ("+", "0.1", lambda a, b: a + b),
        ("-", "0.3", lambda a, b: a - b),
        ("*", "1.01", lambda a, b: a * b),
        ("/", "1.01", lambda a, b: a / b),
    ],
)
def test_a_flat_chain_as_long_as_the_length_limit_computes_left_to_right(
    op: str, operand: str, step: Callable[[np.ndarray, float], np.ndarray]
) -> None:
    # about 700-1000 terms: a tree far deeper than Python's recursion limit allows to walk
    terms = (4000 - 1) // (len(op) + len(operand))
    text = "x" + (op + operand) * terms
    assert len(text) <= 4000
    x = np.array([1.0, -2.5, NAN])
    expected = x.copy()
    for _ in range(terms):
        expected = step(expected, float(operand))
    np.testing.assert_array_equal(ev(text, n=3, x=x), expected)


@pytest.mark.parametrize("op", ["and", "or"])
def test_a_long_chain_of_conditions_computes(op: str) -> None:
    link, last = f" {op} x>0", f" {op} y>0"
    text = "x>0" + link * ((4000 - 3 - len(last)) // len(link)) + last  # 500-570 terms
    out = ev(text, n=2, x=np.array([1.0, 1.0]), y=np.array([1.0, -1.0]))
    same(out, [1.0, 0.0] if op == "and" else [1.0, 1.0])


def test_a_type_error_at_the_end_of_a_long_chain_names_its_column() -> None:
    text = "x" + " + 1" * 900 + " + kind"
    refused(text, rf"^'\+' cannot add number and text at column {len(text) - 5} of ")


# -- syntax and type errors ------------------------------------------------------------------

ERRORS = {
    "x + 'a'": r"^'\+' cannot add number and text at column 3 of \"x \+ 'a'\"; text cannot be "
    r"used in arithmetic; compare it instead, e\.g\. x == 'a'$",
    "kind + 1": r"^'\+' cannot add text and number at column 6",
    "d * 2": r"^'\*' needs numbers, got date on the left at column 3 of \"d \* 2\"; subtract "
    r"two dates to get a number of days",
    "d + e": r"^'\+' cannot add date and date at column 3",
    "x - d": r"^'-' cannot subtract date from number at column 3",
    "-d": r"^'-' needs a number, got date at column 1",
    "log(d)": r"^argument 1 of log\(\) must be a number, got date at column 5",
    "sqrt(kind)": r"^argument 1 of sqrt\(\) must be a number, got text at column 6",
    "log(x, 2)": r"^log\(\) takes 1 argument, got 2 at column 1 .*use log\(x\)$",
    "clip(x, 1)": r"^clip\(\) takes 3 arguments, got 2 at column 1",
    "min(x)": r"^min\(\) takes at least 2 arguments, got 1 at column 1",
    "safe_div(x)": r"^safe_div\(\) takes 2 to 3 arguments, got 1 at column 1",
    "where(x, 1, 2)": r"^argument 1 of where\(\) must be a condition \(true/false\), got number "
    r"at column 7",
    "where(x > 1, 'a', 2)": r"^arguments 2\.\. of where\(\) must have one type, got number and "
    r"text at column 1",
    "coalesce(kind, 0)": r"^the arguments of coalesce\(\) must have one type, got number and "
    r"text at column 1",
    "x and flag": r"^'and' needs a condition \(true/false\), got number on the left at column 3",
    "not kind": r"^'not' needs a condition \(true/false\), got text at column 1",
    "kind == 1": r"^'==' cannot compare text with number at column 6",
    "d < 5": r"^'<' cannot compare date with number at column 3",
    "d < '2024-13-01'": r"^'2024-13-01' is not a date at column 5 .*'YYYY-MM-DD'",
    "isin(kind, 1)": r"^argument 2 of isin\(\) must be quoted text written out at column 12",
    "isin(x, y)": r"^argument 2 of isin\(\) must be a number written out at column 9",
    "1 < x < 3": r"^chained comparisons are not supported at column 7 .*\(a < b\) and \(b < c\)",
    "xx + 1": r"^unknown name 'xx' at column 1 .*did you mean 'x'\? known names: d, e, flag, "
    r"kind, other, x, y$",
    "amount": r"^unknown name 'amount' at column 1 of \"amount\"; known names:",
    "foo(x)": r"^unknown function 'foo' at column 1",
    "x +": r"^the expression ends too early; expected a number, a name, quoted text or '\(' at "
    r"column 4",
    "x y": r"^unexpected name 'y' at column 3 .*expected an operator or the end",
    "(x + 1": r"^'\(' is not closed at column 1 .*add '\)'",
    "min(x, y": r"^'\(' is not closed at column 4",
    "min(x y)": r"^unexpected name 'y' at column 7 .*expected '\)' to close the '\(' at column 4",
    "": r"^the expression is empty",
    "1e999": r"^number '1e999' is too large at column 1",
    ",": r"^unexpected ',' at column 1",
}


@pytest.mark.parametrize("text", sorted(ERRORS))
def test_errors_name_the_token_and_its_column(text: str) -> None:
    refused(text, ERRORS[text])


# -- the Expression object --------------------------------------------------------------------


def test_expression_reports_type_names_and_functions() -> None:
    expr = compile_expression("coalesce(x / y, 0) > 1 and kind == 'a'", TYPES)
    assert expr.type is ExprType.BOOL
    assert expr.names == {"x", "y", "kind"}
    assert expr.functions == {"coalesce"}


def test_expression_pickles_by_recompiling() -> None:
    expr = compile_expression("safe_div(x, y, 0)", TYPES)
    again = pickle.loads(pickle.dumps(expr))
    assert again.text == expr.text and again.type is expr.type
    same(again.evaluate({"x": np.array([1.0]), "y": np.array([0.0])}), [0.0])


def test_inputs_are_not_mutated() -> None:
    x = np.array([1.0, NAN, 3.0])
    kind = pd.Series(["a", None, "c"], dtype="str")
    before = (x.copy(), kind.copy())
    out = ev("where(isnull(x), 0, x / 0)", n=3, x=x, kind=kind)
    out[:] = 99.0
    np.testing.assert_array_equal(x, before[0])
    pd.testing.assert_series_equal(kind, before[1])


def test_literal_only_expression_needs_n() -> None:
    expr = compile_expression("1 + 1", {})
    same(expr.evaluate({}, n=2), [2.0, 2.0])
    with pytest.raises(ValueError, match="reads no column; pass n"):
        expr.evaluate({})


def test_length_mismatch_is_refused() -> None:
    expr = compile_expression("x + y", TYPES)
    with pytest.raises(ValueError, match=re.escape("the column 'y' has 1 rows, expected 2")):
        expr.evaluate({"x": np.array([1.0, 2.0]), "y": np.array([1.0])})


# -- properties ------------------------------------------------------------------------------

finite = st.one_of(st.floats(min_value=-1e6, max_value=1e6), st.just(NAN))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=20))
def test_arithmetic_matches_numpy_and_never_gives_inf(pairs: list[tuple[float, float]]) -> None:
    x = np.array([a for a, _ in pairs])
    y = np.array([b for _, b in pairs])
    n = len(pairs)
    np.testing.assert_array_equal(ev("x + y * 2", n=n, x=x, y=y), x + y * 2)
    quotient = ev("x / y", n=n, x=x, y=y)
    assert not np.isinf(quotient).any()
    with np.errstate(all="ignore"):
        expected = np.where(np.isfinite(x / y), x / y, NAN)
    np.testing.assert_array_equal(quotient, expected)
    np.testing.assert_array_equal(ev("where(x > y, x, y)", n=n, x=x, y=y), np.where(x > y, x, y))


KINDS = ["order", None, "refund", "Order", "order", "退款", None, "payment"]


@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">="])
@pytest.mark.parametrize("flipped", [False, True], ids=["column first", "text first"])
@pytest.mark.parametrize("text", ["order", "退款", "zzz", ""])
def test_a_category_column_compares_with_text_as_its_text_does(
    op: str, flipped: bool, text: str
) -> None:
    # the cleaner's category columns: compared once per category, not once per row
    as_text = pd.Series(KINDS, dtype="str")
    listed = pd.Index(["Order", "order", "payment", "refund", "unused", "退款"], dtype="str")
    categories = as_text.astype(pd.CategoricalDtype(listed))
    condition = f"'{text}' {op} kind" if flipped else f"kind {op} '{text}'"
    expression = compile_expression(condition, TYPES)

    expected = expression.evaluate({"kind": as_text}, n=len(KINDS))
    found = expression.evaluate({"kind": categories}, n=len(KINDS))

    assert categories.cat.categories.dtype == "str"
    np.testing.assert_array_equal(np.asarray(found, dtype=bool), np.asarray(expected, dtype=bool))
    np.testing.assert_array_equal(
        expression.evaluate_mask({"kind": categories}, n=len(KINDS)),
        expression.evaluate_mask({"kind": as_text}, n=len(KINDS)),
    )
