"""Early-warning rules (``configs/alerts.yaml``), validated at load into frozen objects.

Each rule has a code, a condition in the safe expression language, a level (red,
orange, yellow = 红色/橙色/黄色), a zh/en message (which may show values, e.g.
``{trade_amount_trend:.0%}``), handling actions, an owner role and a response-time
target in hours.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from custrisk.config._yaml import Node, config_root, join_limited, load_yaml_file
from custrisk.config.resources import recorded_config_path
from custrisk.errors import ConfigError
from custrisk.expr import (
    Binary,
    Call,
    Expression,
    ExpressionError,
    ExprType,
    Literal,
    Name,
    compile_expression,
    iter_nodes,
)
from custrisk.io.plain import counted, path_argument
from custrisk.policy._names import (
    PREVIOUS_NAMES,
    alert_names,
    lacking_among,
    lacking_names,
    lacking_new_when_names,
    new_when_names,
    share_names,
)
from custrisk.vocab import IN_RUN_FACTS, LEVEL_LABELS, LEVELS

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from custrisk.indicators import IndicatorConfig
    from custrisk.policy.config import Policy

#: Shown in a message for a value that is missing.
MISSING_TEXT = "—"

_TOP_KEYS = ("version", "description", "rules")
_RULE_KEYS = (
    "level",
    "condition",
    "message",
    "actions",
    "owner",
    "response_hours",
    "description",
    "new_when",
)
_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_FIELD = re.compile(r"([a-z_][a-z0-9_]*)(?:\|([^:]*))?(?::(.*))?", re.S)
_GRADE_NAMES = ("grade", "prev_grade")
_SAMPLE = {
    ExprType.NUMBER: 1.5,
    ExprType.BOOL: "true",
    ExprType.STRING: "text",
    ExprType.DATE: "2026-01-31",
}


def format_value(value: Any, kind: ExprType, spec: str = "", missing: str = MISSING_TEXT) -> str:
    """A value as shown in a message: numbers plainly (or by ``spec``), dates as ISO;
    ``missing`` for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    if kind is ExprType.NUMBER:
        number = float(value)
        if spec:
            return format(number, spec)
        if number.is_integer():
            return str(int(number))
        return f"{number:.2f}".rstrip("0").rstrip(".")
    if kind is ExprType.BOOL:
        text = "true" if bool(value) else "false"
    elif kind is ExprType.DATE:
        text = _date_text(float(value))
    else:
        text = str(value)
    return format(text, spec) if spec else text


def _formatted(
    values: Sequence[Any] | np.ndarray, kind: ExprType, spec: str, missing: str = MISSING_TEXT
) -> list[str]:
    """:func:`format_value` of each value, once per distinct value (by type and value:
    1, 1.0 and True are alike to a dict, not to ``str``). The distinct values of an
    array of numbers are found by hashing them all at once, as the first of each."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        codes, distinct = pd.factorize(values)  # (NaN: -1, the missing text after them)
        texts = [format_value(value, kind, spec, missing) for value in distinct.tolist()]
        return np.array([*texts, missing], dtype=object)[codes].tolist()
    done: dict[tuple[type, Any], str] = {}
    out = []
    for value in values:
        try:
            text = done.get((type(value), value))
        except TypeError:  # an unhashable value: formatted each time
            out.append(format_value(value, kind, spec, missing))
            continue
        if text is None:
            text = done[(type(value), value)] = format_value(value, kind, spec, missing)
        out.append(text)
    return out


def _date_text(days: float) -> str:
    """Days since 1970-01-01 as YYYY-MM-DD; dates past 9999 (from date arithmetic in a
    rule) in NumPy's longer calendar, and beyond even that as a number of days."""
    if not math.isfinite(days) or abs(days) > _MAX_CALENDAR_DAYS:
        return f"{days:g} days after 1970-01-01"
    return str(np.datetime64(int(days), "D"))


# NumPy's day calendar spans about +-2.5e16 years; keep far from its limits.
_MAX_CALENDAR_DAYS = 10**12


@dataclass(frozen=True)
class MessageTemplate:
    """A message with ``{name}`` or ``{name:format}`` placeholders (``{{`` for a brace);
    ``{name|text}`` shows ``text`` where the value is missing (default "—").

    Attributes
    ----------
    text : str
        The template as written.
    parts : tuple of (literal, name, format, type)
        Text before each placeholder, then the placeholder (name ``""`` for the tail).
    """

    text: str
    parts: tuple[tuple[str, str, str, ExprType | None], ...]
    #: each part's text for a missing value
    missing: tuple[str, ...] = ()

    def _missing(self, i: int) -> str:
        return self.missing[i] if i < len(self.missing) else MISSING_TEXT

    @property
    def names(self) -> frozenset[str]:
        """Names the placeholders show."""
        return frozenset(name for _, name, _, _ in self.parts if name)

    def render(self, values: Mapping[str, Any]) -> str:
        """The message with the placeholders filled from ``values`` (name -> scalar)."""
        out = []
        for i, (literal, name, spec, kind) in enumerate(self.parts):
            out.append(literal)
            if name and kind is not None:
                out.append(format_value(values.get(name), kind, spec, self._missing(i)))
        return "".join(out)

    def render_rows(self, values: Mapping[str, Sequence[Any] | np.ndarray], n: int) -> list[str]:
        """:meth:`render` of each of ``n`` rows, ``values`` holding each placeholder's
        value per row: placeholder by placeholder, each distinct value formatted once
        (an alert rule's 20,000 messages: a third of the time of one render per row)."""
        columns: list[Iterable[str]] = []
        for i, (literal, name, spec, kind) in enumerate(self.parts):
            if literal:
                columns.append(itertools.repeat(literal, n))
            if name and kind is not None:
                column = values.get(name)
                shown = [None] * n if column is None else column
                columns.append(_formatted(shown, kind, spec, self._missing(i)))
        return ["".join(row) for row in zip(*columns, strict=False)] if columns else [""] * n


def parse_template(text: str, names: Mapping[str, ExprType]) -> MessageTemplate:
    """Parse a message template; ``ValueError`` names the problem and its column."""
    parts: list[tuple[str, str, str, ExprType | None]] = []
    missing: list[str] = []
    literal: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        literal.append(text[pos : match.start()])
        pos = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
            continue
        if match.group(1) is None:
            raise ValueError(
                f"unmatched {token!r} at column {match.start() + 1}; write {token * 2!r} for "
                "a literal brace"
            )
        field = _FIELD.fullmatch(match.group(1).strip())
        if not field:
            raise ValueError(
                f"placeholder {token!r} at column {match.start() + 1} is not {{name}}, "
                "{name:format} or {name|text if missing}"
            )
        name, spec = field.group(1), field.group(3) or ""
        missing.append(MISSING_TEXT if field.group(2) is None else field.group(2))
        if name not in names:
            raise ValueError(f"unknown name {name!r} in placeholder {token!r}")
        kind = names[name]
        try:
            format(_SAMPLE[kind], spec)
        except (ValueError, TypeError):
            raise ValueError(f"format {spec!r} in {token!r} does not fit a {kind.label}") from None
        parts.append(("".join(literal), name, spec, kind))
        literal = []
    literal.append(text[pos:])
    parts.append(("".join(literal), "", "", None))
    missing.append(MISSING_TEXT)
    return MessageTemplate(text, tuple(parts), tuple(missing))


@dataclass(frozen=True)
class AlertRule:
    """One early-warning rule.

    Attributes
    ----------
    code : str
        Short unique code, e.g. ``TX01``.
    level : str
        ``red``, ``orange`` or ``yellow``.
    condition : Expression
        A condition; the rule fires where it is definitely true.
    message_zh, message_en : MessageTemplate
        What the alert says.
    actions_zh, actions_en : tuple of str
        Handling actions.
    owner : str
        Role that handles the alert.
    response_hours : int
        Response-time target: the alert is due ``response_hours`` after the as-of date.
    key : str
        Key path in the config file, for messages.
    new_when : Expression or None
        For a rule that fired last period too: when it is a new alert all the same
        (e.g. ``overdue_amount > prev_overdue_amount``: more is overdue than before)
        instead of an ongoing one. May read ``prev_<name>``, the previous run's values.
    """

    code: str
    level: str
    condition: Expression
    message_zh: MessageTemplate
    message_en: MessageTemplate
    actions_zh: tuple[str, ...]
    actions_en: tuple[str, ...]
    owner: str
    response_hours: int
    description: str = ""
    key: str = ""
    new_when: Expression | None = None

    @property
    def names(self) -> frozenset[str]:
        """Names read by the condition and the messages."""
        return self.condition.names | self.message_zh.names | self.message_en.names

    @property
    def needs_previous(self) -> bool:
        """True if the condition reads a change against the previous run."""
        return bool(self.condition.names & set(PREVIOUS_NAMES))

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the run facts and reports."""
        return {
            "code": self.code,
            "level": self.level,
            "level_zh": LEVEL_LABELS[self.level]["zh"],
            "condition": self.condition.text,
            "message_zh": self.message_zh.text,
            "message_en": self.message_en.text,
            "actions_zh": list(self.actions_zh),
            "actions_en": list(self.actions_en),
            "owner": self.owner,
            "response_hours": self.response_hours,
            "description": self.description,
            **({"new_when": self.new_when.text} if self.new_when is not None else {}),
        }


@dataclass(frozen=True)
class AlertRules:
    """A validated set of early-warning rules, in config order."""

    path: str
    rules: tuple[AlertRule, ...]
    #: Rules left out because they read names this data does not have: code -> why.
    skipped: Mapping[str, str] = field(default_factory=dict)
    #: The indicators whose values are shares (0.9 is 90 %), each with the data column
    #: it is read from as written (``None``: computed); see
    #: :func:`~custrisk.policy.shares.check_share_scale`.
    shares: Mapping[str, str | None] = field(default_factory=dict, repr=False)

    @property
    def codes(self) -> tuple[str, ...]:
        """Rule codes in config order."""
        return tuple(rule.code for rule in self.rules)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the run facts and reports."""
        return {
            "file": recorded_config_path(self.path),
            "rules": [rule.to_dict() for rule in self.rules],
        }


def load_alert_rules(
    path: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    indicators: IndicatorConfig | None = None,
    policy: Policy | None = None,
    strict: bool = False,
) -> AlertRules:
    """Load and validate early-warning rules.

    A rule whose condition reads a name custrisk knows but this data lacks (an
    indicator of the packaged config, a credit field the sources do not declare) is
    skipped and listed in ``AlertRules.skipped`` (logged once); ``strict`` makes it an
    error. A name nobody knows (a typo) is always an error.

    Parameters
    ----------
    path : str, path-like or mapping, optional
        The YAML file, or its content as a dict (messages name it ``<alerts dict>``);
        ``None`` loads the packaged ``alerts.yaml``.
    indicators : IndicatorConfig, optional
        The indicators conditions may use (those of the model that scores); ``None``
        uses the packaged ``indicators.yaml``.
    policy : Policy, optional
        When given, grade codes written in conditions (``grade == 'A'``) are checked
        against its grades.

    Returns
    -------
    AlertRules

    Raises
    ------
    ConfigError
        For any problem, naming the file, the key path, the bad value and how to fix it.
    """
    from custrisk.config import default_config_path

    if isinstance(path, Mapping):
        return parse_alert_rules(
            path, indicators=indicators, policy=policy, file="<alerts dict>", strict=strict
        )
    file_path = (
        path_argument(path, "alert_rules", hint="pass an alerts YAML file or a dict of its content")
        if path is not None
        else default_config_path("alerts.yaml")
    )
    return parse_alert_rules(
        load_yaml_file(file_path),
        indicators=indicators,
        policy=policy,
        file=str(file_path),
        strict=strict,
    )


def alert_rule_owners(path: str | os.PathLike[str] | None = None) -> frozenset[str]:
    """The owner roles the rules of an alerts YAML name (``None``: the packaged one),
    read without checking the rules, which scoring does: what a notifications config
    can route."""
    from custrisk.config import default_config_path

    file_path = Path(path) if path is not None else default_config_path("alerts.yaml")
    data = load_yaml_file(file_path)
    rules = data.get("rules") if isinstance(data, Mapping) else None
    if not isinstance(rules, Mapping):
        return frozenset()
    return frozenset(
        str(rule["owner"])
        for rule in rules.values()
        if isinstance(rule, Mapping) and isinstance(rule.get("owner"), str)
    )


def parse_alert_rules(
    data: Any,
    *,
    indicators: IndicatorConfig | None = None,
    policy: Policy | None = None,
    file: str = "<alerts>",
    strict: bool = False,
) -> AlertRules:
    """Validate an already-parsed rules mapping (same rules as :func:`load_alert_rules`)."""
    names = alert_names(indicators)
    grades = policy.codes if policy is not None else None
    root = config_root(data, file, allowed=_TOP_KEYS, required=("rules",))
    raw = root.get("rules")
    if not isinstance(raw, Mapping):
        raise root.error(
            "rules", "expected a mapping of rule code -> settings", hint="see docs/policy.md"
        )
    rules = []
    skipped: dict[str, str] = {}
    lacked: set[str] = set()  # what the skipped rules read that the data lacks
    for code, value in raw.items():
        if not isinstance(code, str) or not _CODE.fullmatch(code):
            raise root.error(
                f"rules.{code}",
                f"rule code {code!r} is not allowed",
                hint="use up to 32 letters, digits, '_' or '-', starting with a letter",
            )
        node = Node(value if value is not None else {}, file, f"rules.{code}")
        condition = node.get("condition")
        lacking = lacking_names(condition, names) if isinstance(condition, str) else []
        shown = _lacking_placeholders(node.get("message"), names)  # (a message shows them)
        if (lacking or shown) and not strict:
            lacked.update(lacking, shown)
            needs = join_limited(sorted({*lacking, *shown}), 3)
            skipped[code] = f"needs {needs}, which this data does not have"
            continue
        if lacking or shown:
            raise ConfigError(
                f"the rule reads {join_limited(lacking or shown, 3)}, which this data does "
                "not have",
                file=file,
                key=node.key("condition" if lacking else "message"),
                hint="drop the rule or give the data the column (--strict makes this an "
                "error; without it the rule is skipped)",
            )
        rule = _rule(node, code, names, grades)
        rules.append(_with_new_when(rule, node, names, strict))
    if skipped:
        log.warning(  # (one line: each rule's reason is in AlertRules.skipped)
            "%s skipped, the data lacks what they read (%s): %s",
            counted(len(skipped), "alert rule"),
            join_limited(sorted(lacked), 4),
            join_limited(skipped, 12),
            extra=IN_RUN_FACTS,
        )
    return AlertRules(file, tuple(rules), skipped, share_names(indicators))


def _lacking_placeholders(message: Any, names: Mapping[str, ExprType]) -> list[str]:
    """:func:`lacking_among` the names a rule's messages show (a name nobody knows is
    left to :func:`parse_template`'s error)."""
    if not isinstance(message, Mapping):
        return []
    used = set()
    for text in message.values():
        for match in _TOKEN.finditer(text if isinstance(text, str) else ""):
            field = _FIELD.fullmatch((match.group(1) or "").strip())
            if field:
                used.add(field.group(1))
    return lacking_among(used, names)


def _rule(
    node: Node, code: str, names: Mapping[str, ExprType], grades: tuple[str, ...] | None
) -> AlertRule:
    node.check_keys(
        _RULE_KEYS,
        required=("level", "condition", "message", "actions", "owner", "response_hours"),
    )
    level = node.text("level", allowed=LEVELS, required=True)
    text = node.get("condition")
    if isinstance(text, bool) or not isinstance(text, str):
        raise node.error(
            "condition",
            f"expected a condition, got {text!r}",
            hint="e.g. condition: utilisation > 0.9",
        )
    try:
        condition = compile_expression(text, names)
    except ExpressionError as exc:
        raise ConfigError(
            exc.message, file=node.file, key=node.key("condition"), hint=exc.hint
        ) from None
    if condition.type is not ExprType.BOOL:
        raise node.error(
            "condition",
            f"the condition gives a {condition.type.label}, not true/false: {text!r}",
            hint="compare it, e.g. utilisation > 0.9",
        )
    if grades is not None:
        _check_grade_literals(node, condition, grades)
    message = node.child("message")
    message.check_keys(("zh", "en"), required=("zh", "en"))
    templates = {}
    for lang in ("zh", "en"):
        raw = message.text(lang, required=True)
        try:
            templates[lang] = parse_template(raw, names)
        except ValueError as exc:
            raise message.error(
                lang,
                f"{exc} in {raw!r}",
                hint="placeholders are {name} or {name:format}, e.g. {utilisation:.0%}",
            ) from None
    actions = node.child("actions")
    actions.check_keys(("zh", "en"), required=("zh", "en"))
    owner = node.text("owner", required=True)
    hours = node.number("response_hours", integer=True, minimum=1)
    if hours is None:
        raise node.error("response_hours", "required key is missing")
    description = node.get("description") or ""
    if not isinstance(description, str):
        raise node.error("description", "expected a text")
    return AlertRule(
        code=code,
        level=level,
        condition=condition,
        message_zh=templates["zh"],
        message_en=templates["en"],
        actions_zh=actions.text_list("zh") or (),
        actions_en=actions.text_list("en") or (),
        owner=owner,
        response_hours=int(hours),
        description=description.strip(),
        key=node.path,
    )


def _with_new_when(
    rule: AlertRule, node: Node, names: Mapping[str, ExprType], strict: bool
) -> AlertRule:
    """The rule with its ``new_when`` compiled (left out, and logged, when it reads what
    this data lacks and ``strict`` is off)."""
    text = node.get("new_when")
    if text is None:
        return rule
    if isinstance(text, bool) or not isinstance(text, str):
        raise node.error(
            "new_when",
            f"expected a condition, got {text!r}",
            hint="e.g. new_when: overdue_amount > prev_overdue_amount",
        )
    lacking = lacking_new_when_names(text, names)
    if lacking and not strict:
        log.warning(
            "rule %s: new_when left out, it reads %s, which this data does not have",
            rule.code,
            join_limited(lacking, 3),
        )
        return rule
    if lacking:
        raise ConfigError(
            f"new_when reads {join_limited(lacking, 3)}, which this data does not have",
            file=node.file,
            key=node.key("new_when"),
            hint="drop new_when or give the data the column",
        )
    try:
        new_when = compile_expression(text, new_when_names(names))
    except ExpressionError as exc:
        raise ConfigError(
            exc.message,
            file=node.file,
            key=node.key("new_when"),
            hint=exc.hint or "new_when may read the condition's names and prev_<name>",
        ) from None
    if new_when.type is not ExprType.BOOL:
        raise node.error(
            "new_when",
            f"gives a {new_when.type.label}, not true/false: {text!r}",
            hint="compare it, e.g. overdue_amount > prev_overdue_amount",
        )
    return replace(rule, new_when=new_when)


def _check_grade_literals(node: Node, condition: Expression, grades: tuple[str, ...]) -> None:
    """Refuse ``grade == 'F'`` when the policy has no grade F (a typo never fires)."""
    written: list[str] = []
    for item in iter_nodes(condition.tree):
        if isinstance(item, Binary) and item.op in ("==", "!=", "<", "<=", ">", ">="):
            sides = (item.left, item.right)
            if any(isinstance(s, Name) and s.name in _GRADE_NAMES for s in sides):
                written += [str(s.value) for s in sides if isinstance(s, Literal)]
        elif isinstance(item, Call) and item.func == "isin" and item.args:
            first = item.args[0]
            if isinstance(first, Name) and first.name in _GRADE_NAMES:
                written += [str(a.value) for a in item.args[1:] if isinstance(a, Literal)]
    unknown = [v for v in written if v not in grades]
    if unknown:
        raise node.error(
            "condition",
            f"grade {unknown[0]!r} is not a grade of the policy: {condition.text!r}",
            hint=f"grades: {join_limited(grades, 10)}",
        )
