"""The credit policy (``configs/policy.yaml``), validated at load into frozen objects.

A policy maps score bands to grades (A best ... E riskiest by default); each grade has
labels, recommended actions, a review frequency and a credit-limit rule written in the
safe expression language (:mod:`custrisk.expr`). Every problem is a
:class:`~custrisk.errors.ConfigError` that names the file, the key path, the bad value
and how to fix it, raised before any data is read.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from custrisk.config._yaml import (
    Node,
    config_root,
    join_limited,
    load_yaml_file,
    percent_written,
)
from custrisk.config.resources import recorded_config_path
from custrisk.errors import ConfigError
from custrisk.expr import RESERVED_WORDS, Expression, ExpressionError, ExprType, compile_expression
from custrisk.io.plain import counted, path_argument
from custrisk.policy._names import GRADE_CAP, data_names, lacking_names, share_names
from custrisk.vocab import IN_RUN_FACTS, LANGUAGES

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from custrisk.indicators import IndicatorConfig

#: How often a grade's customers are reviewed, with the Chinese labels.
REVIEW_FREQUENCIES: Mapping[str, str] = {
    "weekly": "每周",
    "monthly": "每月",
    "quarterly": "每季度",
    "semiannual": "每半年",
    "annual": "每年",
}
#: ``limit.freeze``: keep the current limit (never more than the cap) or set it to zero.
FREEZE_MODES = ("current", "zero")
#: What a new application's grade means for ``custrisk serve`` (``decision:``).
DECISIONS = ("approve", "review", "decline")
#: Languages of labels, actions and messages.

_TOP_KEYS = ("version", "description", "score_range", "limits", "grades", "decision")
_DECISION_KEYS = ("grades", "notify")
_RANGE_KEYS = ("min", "max")
_LIMITS_KEYS = ("rounding", "review_increase_share")
# A cap above 0 below this is taken for one written in 万 or thousands (cap: 50 for 50万),
# whatever the rounding: no grade's credit limits are all below 1,000 of the currency.
_SMALLEST_CAP = 1000.0
# A review share above this (+1000 %) is taken for a percentage written as a number.
_LARGEST_REVIEW_SHARE = 10.0
_GRADE_KEYS = (
    "label",
    "description",
    "min_score",
    "max_score",
    "review_frequency",
    "actions",
    "limit",
)
_LIMIT_KEYS = ("rule", "cap", "params", "allow_increase", "freeze")
_GRADE_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+-]{0,15}")
_PARAM_NAME = re.compile(r"[a-z][a-z0-9_]*")
#: An amount written as text: ``50万``, ``1,000``, ``20k`` (read back for the hint).
_AMOUNT_TEXT = re.compile(r"\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*(万|亿|[kKwW])?\s*元?\s*")
_AMOUNT_UNITS = {"万": 1e4, "w": 1e4, "W": 1e4, "亿": 1e8, "k": 1e3, "K": 1e3}


def number_text(value: float) -> str:
    """``600`` for 600.0, ``0.5`` for 0.5: numbers as a person writes them."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class LimitRule:
    """How a grade's recommended credit limit is set.

    Attributes
    ----------
    rule : Expression or None
        A number expression over indicators, credit fields, ``score``, ``pd``,
        ``grade_cap`` and :attr:`params`; ``None`` when the limit is frozen.
    cap : float or None
        Upper bound of the recommended limit (``None``: no cap).
    params : mapping of str to float
        Per-grade numbers the rule reads by name (e.g. ``multiplier``).
    allow_increase : bool
        ``False``: the recommended limit is at most the current limit.
    freeze : str or None
        ``"current"`` (keep the current limit, capped) or ``"zero"``; ``None`` uses
        :attr:`rule`.
    key : str
        Key path in the config file, for messages.
    """

    rule: Expression | None
    cap: float | None
    params: Mapping[str, float]
    allow_increase: bool
    freeze: str | None
    key: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the run facts and reports."""
        return {
            "rule": self.rule.text if self.rule is not None else None,
            "cap": self.cap,
            "params": dict(self.params),
            "allow_increase": self.allow_increase,
            "freeze": self.freeze,
        }


@dataclass(frozen=True)
class Grade:
    """One grade: a score band ``[min_score, max_score)`` with its labels and treatment.

    The best grade's band also holds ``max_score`` itself (the top of the score range).
    ``rank`` is 1 for the best grade and counts up to the riskiest.
    """

    code: str
    rank: int
    label_zh: str
    label_en: str
    min_score: float
    max_score: float
    review_frequency: str
    actions_zh: tuple[str, ...]
    actions_en: tuple[str, ...]
    limit: LimitRule
    description: str = ""
    top: bool = False

    def label(self, lang: str = "zh") -> str:
        """The label in ``"zh"`` or ``"en"``."""
        return self.label_zh if lang == "zh" else self.label_en

    def actions(self, lang: str = "zh") -> tuple[str, ...]:
        """The recommended actions in ``"zh"`` or ``"en"``."""
        return self.actions_zh if lang == "zh" else self.actions_en

    @property
    def band(self) -> str:
        """The band as text: ``[600, 650)``, or ``[680, 1000]`` for the best grade."""
        close = "]" if self.top else ")"
        return f"[{number_text(self.min_score)}, {number_text(self.max_score)}{close}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the run facts and reports."""
        return {
            "code": self.code,
            "rank": self.rank,
            "label_zh": self.label_zh,
            "label_en": self.label_en,
            "description": self.description,
            "min_score": self.min_score,
            "max_score": self.max_score,
            "band": self.band,
            "review_frequency": self.review_frequency,
            "review_frequency_zh": REVIEW_FREQUENCIES[self.review_frequency],
            "actions_zh": list(self.actions_zh),
            "actions_en": list(self.actions_en),
            "limit": self.limit.to_dict(),
        }


@dataclass(frozen=True)
class Policy:
    """A validated credit policy.

    Attributes
    ----------
    path : str
        The file it was read from (for messages).
    score_min, score_max : float
        The score range the bands cover, without gap or overlap.
    grades : tuple of Grade
        Best grade first (rank 1), riskiest last.
    rounding : float
        Recommended limits computed by a rule are rounded down to a multiple of this
        (0: no rounding).
    review_increase_share : float
        An increase above this share of the current limit (0.5 = +50 %) sets
        ``review_flag``.
    """

    path: str
    score_min: float
    score_max: float
    grades: tuple[Grade, ...]
    rounding: float
    review_increase_share: float
    #: Limit rules left out because they read names this data does not have (the grade
    #: keeps the current limit): key path -> why.
    skipped: Mapping[str, str] = field(default_factory=dict)
    #: Grade code -> decision on a new application (one of :data:`DECISIONS`); every
    #: grade has one (without a ``decision:`` section: the best grade approve, the
    #: riskiest decline, the rest review).
    decisions: Mapping[str, str] = field(default_factory=dict)
    #: Decisions whose owners are told at once (high risk): ``decision.notify``.
    notify: tuple[str, ...] = ("decline",)
    #: The names the skipped limit rules read that this data does not have.
    lacking: frozenset[str] = frozenset()
    #: The indicators whose values are shares (0.9 is 90 %), each with the data column
    #: it is read from as written (``None``: computed); see
    #: :func:`~custrisk.policy.shares.check_share_scale`.
    shares: Mapping[str, str | None] = field(default_factory=dict, repr=False)
    _lower: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lower = np.array([g.min_score for g in reversed(self.grades)], dtype=np.float64)
        object.__setattr__(self, "_lower", lower)

    @property
    def codes(self) -> tuple[str, ...]:
        """Grade codes, best first."""
        return tuple(g.code for g in self.grades)

    def decision(self, code: str) -> str:
        """The decision on a new application of grade ``code`` (approve/review/decline)."""
        if code in self.decisions:
            return self.decisions[code]
        return _default_decision(code, self.codes)

    @property
    def riskiest(self) -> Grade:
        """The grade of the lowest scores."""
        return self.grades[-1]

    def grade(self, code: str) -> Grade:
        """The grade with this code (``KeyError`` if none)."""
        for grade in self.grades:
            if grade.code == code:
                return grade
        raise KeyError(code)

    def grade_index(self, scores: Any) -> np.ndarray:
        """Index into :attr:`grades` of each score (scores outside the range are clipped).

        Parameters
        ----------
        scores : array-like of float
            Scores without missing values.

        Returns
        -------
        numpy.ndarray of int
            0 for the best grade.
        """
        values = np.asarray(scores, dtype=np.float64)
        n = len(self.grades)
        ascending = np.searchsorted(self._lower, values, side="right") - 1
        return (n - 1) - np.clip(ascending, 0, n - 1)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the run facts and reports."""
        # absolute in the run facts: backtest --target-bad-rate reopens the file, from
        # whatever folder it is started in (a policy given as data keeps its "<policy>");
        # the packaged one by its name in the package, whatever the install
        file = os.path.abspath(self.path) if os.path.isfile(self.path) else self.path
        out = {
            "file": recorded_config_path(file),
            "score_range": [self.score_min, self.score_max],
            "limit_rounding": self.rounding,
            "review_increase_share": self.review_increase_share,
            "grades": [g.to_dict() for g in self.grades],
            "decision": {
                "grades": {g.code: self.decision(g.code) for g in self.grades},
                "notify": list(self.notify),
            },
        }
        if self.skipped:
            out["skipped_limit_rules"] = dict(self.skipped)
        return out


# ---------------------------------------------------------------------------------------
# loading


def _default_decision(code: str, codes: Sequence[str]) -> str:
    """The decision of a grade ``decision:`` leaves out (``codes``: best first): the best
    grade approve, the riskiest decline, the rest review."""
    if code == codes[0]:
        return "approve"
    return "decline" if code == codes[-1] else "review"


def load_policy(
    path: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    indicators: IndicatorConfig | None = None,
    strict: bool = False,
    names: Mapping[str, ExprType] | None = None,
) -> Policy:
    """Load and validate a credit policy.

    A limit rule that reads a name custrisk knows but this data lacks (e.g. the packaged
    policy's ``annual_income`` on a flat table) is skipped: the grade keeps the current
    limit, or none when the data has none; it is listed in ``Policy.skipped`` and logged
    once. ``strict`` makes it an error. Grades come from the score alone.

    Parameters
    ----------
    path : str, path-like or mapping, optional
        The YAML file, or its content as a dict (a notebook's policy, checked as a file
        is; messages name it ``<policy dict>``); ``None`` loads the packaged
        ``policy.yaml``.
    indicators : IndicatorConfig, optional
        The indicators limit rules may use (those of the model that scores); ``None``
        uses the packaged ``indicators.yaml``.
    names : mapping of str to ExprType, optional
        The names limit rules may use, instead of those of ``indicators`` (a back-test
        takes them from the run's details: the model's indicators, whichever config).

    Returns
    -------
    Policy

    Raises
    ------
    ConfigError
        For any problem (bands with a gap or overlap, an unknown name in a limit rule,
        ...), naming the file, the key path, the bad value and how to fix it.
    """
    from custrisk.config import default_config_path

    if isinstance(path, Mapping):
        return parse_policy(
            path, indicators=indicators, file="<policy dict>", strict=strict, names=names
        )
    file_path = (
        path_argument(path, "policy", hint="pass a policy YAML file or a dict of its content")
        if path is not None
        else default_config_path("policy.yaml")
    )
    return parse_policy(
        load_yaml_file(file_path),
        indicators=indicators,
        file=str(file_path),
        strict=strict,
        names=names,
    )


def parse_policy(
    data: Any,
    *,
    indicators: IndicatorConfig | None = None,
    file: str = "<policy>",
    strict: bool = False,
    names: Mapping[str, ExprType] | None = None,
) -> Policy:
    """Validate an already-parsed policy mapping (same rules as :func:`load_policy`)."""
    known = names if names is not None else data_names(indicators)
    policy = _PolicyLoader(file, known, strict=strict).load(data)
    policy = replace(policy, shares=share_names(indicators))
    if policy.skipped:
        log.warning(
            "%s skipped, those grades keep the current limit: %s",
            counted(len(policy.skipped), "limit rule"),
            skipped_limits_text(policy.skipped),
            extra=IN_RUN_FACTS,
        )
    return policy


def skipped_limits_text(skipped: Mapping[str, str]) -> str:
    """The limit rules the data cannot compute, grades with the same reason together:
    ``the limit rules of grades A, B, C read annual_income, credit_limit, which ...``."""
    grades: dict[str, list[str]] = {}
    for key, why in skipped.items():
        parts = key.split(".")  # grades.A.limit.rule
        grade = parts[1] if len(parts) > 2 and parts[0] == "grades" else key
        grades.setdefault(why.split(";")[0], []).append(grade)
    said = []
    for why, codes in grades.items():
        if len(codes) == 1:
            said.append(f"the limit rule of grade {codes[0]} {why}")
        else:
            plural = "read " + why.removeprefix("reads ") if why.startswith("reads ") else why
            said.append(f"the limit rules of grades {', '.join(codes)} {plural}")
    return "; ".join(said)


def _amount(node: Node, name: str, default: float | None) -> float | None:
    """A non-negative amount; one written as text (``50万``, ``1,000``) is refused with
    the plain number to write instead."""
    value = node.get(name)
    if isinstance(value, str):
        match = _AMOUNT_TEXT.fullmatch(value)
        hint = "write the amount as a plain number in the credit table's currency"
        if match:
            amount = float(match[1].replace(",", "")) * _AMOUNT_UNITS.get(match[2] or "", 1)
            hint += f", e.g. {number_text(amount)}"
        raise node.error(name, f"expected a number, got {value!r}", hint=hint)
    number = node.number(name, default, minimum=0)
    return None if number is None else float(number)


class _PolicyLoader:
    def __init__(self, file: str, names: Mapping[str, ExprType], *, strict: bool = False) -> None:
        self.file = file
        self.names = dict(names)
        self.strict = strict
        self.skipped: dict[str, str] = {}
        self.lacking: set[str] = set()
        self.rounding = 0.0

    def load(self, data: Any) -> Policy:
        root = config_root(data, self.file, allowed=_TOP_KEYS, required=("grades",))
        score_min, score_max = self.score_range(root)
        limits = root.child("limits")
        limits.check_keys(_LIMITS_KEYS)
        rounding = _amount(limits, "rounding", 0) or 0.0
        if 0 < rounding < 1:  # 0.1 meant as 0.1万: would let caps in 万 pass (below)
            raise limits.error(
                "rounding",
                f"rounding {number_text(rounding)} is a fraction of the currency unit",
                hint="amounts are in the credit table's currency, not 万 or thousands: "
                f"write e.g. {number_text(rounding * 10_000)} for {number_text(rounding)}万, "
                "or 0 for no rounding",
            )
        self.rounding = rounding
        share = self.review_share(limits)
        raw = root.get("grades")
        if not isinstance(raw, Mapping) or len(raw) < 2:
            raise root.error(
                "grades",
                "expected a mapping of at least two grade codes -> settings",
                hint="see docs/policy.md for the format",
            )
        nodes: dict[str, Node] = {}
        for code, value in raw.items():
            if not isinstance(code, str) or not _GRADE_CODE.fullmatch(code):
                raise root.error(
                    f"grades.{code}",
                    f"grade code {code!r} is not allowed",
                    hint="use 1-16 letters, digits, '_', '+' or '-' starting with a letter or "
                    "digit; quote codes YAML reads as true/false/null (Y, N, on, off)",
                )
            nodes[code] = Node(value if value is not None else {}, self.file, f"grades.{code}")
        bands = self.bands(nodes, score_min, score_max)
        order = sorted(nodes, key=lambda c: bands[c][0], reverse=True)  # best first
        self.check_letter_order(order)
        grades = tuple(
            self.grade(nodes[code], code, rank, bands[code], riskiest=rank == len(order))
            for rank, code in enumerate(order, start=1)
        )
        decisions, notify = self.decisions(root, [g.code for g in grades])
        return Policy(
            self.file,
            score_min,
            score_max,
            grades,
            rounding,
            share,
            self.skipped,
            decisions,
            notify,
            frozenset(self.lacking),
        )

    def review_share(self, limits: Node) -> float:
        """``limits.review_increase_share``: a share; ``50%`` or ``50`` (meant as 50 %,
        which would flag only increases above +5000 %) is refused naming ``0.5``."""
        raw = limits.get("review_increase_share")
        percent = percent_written(raw)
        number = percent if percent is not None else raw
        if percent is not None or (
            isinstance(number, int | float) and number > _LARGEST_REVIEW_SHARE
        ):
            raise limits.error(
                "review_increase_share",
                f"{raw!r} is read as a share of the current limit, +{number * 100:g} %"
                if percent is None
                else f"expected a share, got {raw!r}",
                hint=f"write {number / 100:g} for {number:g} % (increases above +{number:g} % "
                "of the current limit set review_flag)",
            )
        return float(limits.number("review_increase_share", 0.5, minimum=0))

    def decisions(self, root: Node, codes: list[str]) -> tuple[dict[str, str], tuple[str, ...]]:
        """``decision:``: grade -> approve/review/decline, and the decisions to notify."""
        node = root.child("decision")
        node.check_keys(_DECISION_KEYS)
        raw = node.get("grades") or {}
        if not isinstance(raw, Mapping):
            raise node.error(
                "grades",
                f"expected a mapping of grade code -> decision, got {raw!r}",
                hint="e.g. grades: {A: approve, B: approve, C: review, D: review, E: decline}",
            )
        out: dict[str, str] = {}
        for code, value in raw.items():
            if str(code) not in codes:
                raise node.error(
                    f"grades.{code}",
                    f"grade {code!r} is not a grade of this policy",
                    hint=f"the grades: {join_limited(codes, 20)}",
                )
            if value not in DECISIONS:
                raise node.error(
                    f"grades.{code}",
                    f"decision {value!r} is not allowed",
                    hint=f"allowed values: {', '.join(DECISIONS)}",
                )
            out[str(code)] = str(value)
        self.check_decision_order(node, codes, out)
        notify = node.text_list("notify", ["decline"], allow_empty=True) or ()
        for i, value in enumerate(notify):
            if value not in DECISIONS:
                raise node.error(
                    f"notify[{i}]",
                    f"decision {value!r} is not allowed",
                    hint=f"allowed values: {', '.join(DECISIONS)}",
                )
        return out, tuple(notify)

    def check_letter_order(self, order: list[str]) -> None:
        """Grades lettered A, B, C, ... whose bands rank them otherwise (A, C, B, D):
        most likely two grades' bands swapped by hand, so that the riskier scores get
        the better grade's label, limit rule and actions. Said, not refused: letters
        may stand for words (P(rime), G(ood), S(tandard), ...)."""
        if not all(len(code) == 1 and code.isascii() and code.isalpha() for code in order):
            return
        letters = [code.upper() for code in order]
        if letters in (sorted(letters), sorted(letters, reverse=True)):
            return
        log.warning(
            "%s: the score bands rank the grades %s (best first), not in letter order; "
            "check that each grade has the band meant (min_score/max_score)",
            self.file,
            ", ".join(order),
        )

    def check_decision_order(self, node: Node, codes: list[str], given: dict[str, str]) -> None:
        """A riskier grade (by band) never gets a milder decision than a better one:
        ``B: approve`` on a band below ``C: review`` says that B and C swapped bands."""
        severity = {name: i for i, name in enumerate(DECISIONS)}
        decided = [given.get(code, _default_decision(code, codes)) for code in codes]
        for i in range(len(codes) - 1):
            better, riskier = decided[i], decided[i + 1]
            if severity[riskier] < severity[better]:
                raise node.error(
                    f"grades.{codes[i + 1]}",
                    f"grade {codes[i + 1]} ({riskier}) has a band below grade {codes[i]} "
                    f"({better}): the riskier scores would get the milder decision",
                    hint=f"the bands rank the grades {', '.join(codes)} (best first); swap "
                    "the two grades' min_score/max_score if they were meant the other way, "
                    "or fix their decisions",
                )

    def score_range(self, root: Node) -> tuple[float, float]:
        node = root.child("score_range")
        node.check_keys(_RANGE_KEYS)
        low = float(node.number("min", 0))
        high = float(node.number("max", 1000))
        if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
            raise node.error(
                None,
                f"min {number_text(low)} must be below max {number_text(high)}",
                hint="e.g. score_range: {min: 0, max: 1000}",
            )
        return low, high

    def bands(
        self, nodes: Mapping[str, Node], low: float, high: float
    ) -> dict[str, tuple[float, float]]:
        """Each grade's ``(min_score, max_score)``, checked to tile ``[low, high]``."""
        bands: dict[str, tuple[float, float]] = {}
        for code, node in nodes.items():
            node.check_keys(_GRADE_KEYS)  # a misspelt min_score is named as such
            for name in ("min_score", "max_score"):
                if node.get(name) is None:
                    raise node.error(name, "required key is missing", hint="bands are [min, max)")
            lo, hi = float(node.number("min_score")), float(node.number("max_score"))
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
                raise node.error(
                    None,
                    f"band {code} [{number_text(lo)}, {number_text(hi)}) is empty",
                    hint="min_score must be below max_score",
                )
            bands[code] = (lo, hi)
        ordered = sorted(bands.items(), key=lambda item: item[1])

        def text(code: str) -> str:
            lo, hi = bands[code]
            return f"{code} [{number_text(lo)}, {number_text(hi)})"

        def err(message: str, hint: str) -> ConfigError:
            return ConfigError(message, file=self.file, key="grades", hint=hint)

        whole = f"[{number_text(low)}, {number_text(high)}]"
        first, (first_lo, _) = ordered[0]
        last, (_, last_hi) = ordered[-1]
        if first_lo < low or last_hi > high:
            code = first if first_lo < low else last
            bound = "min_score" if code == first and first_lo < low else "max_score"
            value = low if bound == "min_score" else high
            raise err(
                f"band {text(code)} reaches beyond the score range {whole}",
                f"set grades.{code}.{bound} to {number_text(value)} or widen score_range",
            )
        if first_lo > low:
            raise err(
                f"the bands do not cover the score range {whole}: scores "
                f"[{number_text(low)}, {number_text(first_lo)}) get no grade",
                f"set grades.{first}.min_score to {number_text(low)}",
            )
        if last_hi < high:
            raise err(
                f"the bands do not cover the score range {whole}: scores "
                f"[{number_text(last_hi)}, {number_text(high)}] get no grade",
                f"set grades.{last}.max_score to {number_text(high)}",
            )
        for (a, (_, a_hi)), (b, (b_lo, _)) in zip(ordered, ordered[1:], strict=False):
            if a_hi > b_lo:
                raise err(
                    f"bands {text(a)} and {text(b)} overlap on "
                    f"[{number_text(b_lo)}, {number_text(min(a_hi, bands[b][1]))})",
                    f"a score may fall in one band only: set grades.{b}.min_score to "
                    f"{number_text(a_hi)} or grades.{a}.max_score to {number_text(b_lo)}",
                )
            if a_hi < b_lo:
                raise err(
                    f"bands {text(a)} and {text(b)} leave a gap: scores "
                    f"[{number_text(a_hi)}, {number_text(b_lo)}) get no grade",
                    f"set grades.{b}.min_score to {number_text(a_hi)} or grades.{a}.max_score "
                    f"to {number_text(b_lo)}",
                )
        return bands

    def grade(
        self, node: Node, code: str, rank: int, band: tuple[float, float], *, riskiest: bool
    ) -> Grade:
        node.check_keys(_GRADE_KEYS, required=("label", "review_frequency", "actions", "limit"))
        label_zh, label_en = self.pair(node, "label")
        frequency = node.text("review_frequency", allowed=REVIEW_FREQUENCIES, required=True)
        actions = node.child("actions")
        actions.check_keys(LANGUAGES, required=LANGUAGES)
        actions_zh = actions.text_list("zh") or ()
        actions_en = actions.text_list("en") or ()
        description = node.get("description") or ""
        if not isinstance(description, str):
            raise node.error("description", "expected a text")
        limit = self.limit(node.child("limit"), code, riskiest=riskiest)
        return Grade(
            code=code,
            rank=rank,
            label_zh=label_zh,
            label_en=label_en,
            min_score=band[0],
            max_score=band[1],
            review_frequency=frequency,
            actions_zh=actions_zh,
            actions_en=actions_en,
            limit=limit,
            description=description.strip(),
            top=rank == 1,
        )

    def pair(self, node: Node, name: str) -> tuple[str, str]:
        sub = node.child(name)
        sub.check_keys(LANGUAGES, required=LANGUAGES)
        return sub.text("zh", required=True), sub.text("en", required=True)

    def limit(self, node: Node, code: str, *, riskiest: bool) -> LimitRule:
        node.check_keys(_LIMIT_KEYS)
        freeze = node.text("freeze", allowed=FREEZE_MODES)
        text = node.get("rule")
        if (freeze is None) == (text is None):
            raise node.error(
                None,
                "give exactly one of 'rule' (an expression) and 'freeze' (current or zero)",
                hint="e.g. rule: annual_income * multiplier",
            )
        cap = _amount(node, "cap", None)
        if cap is not None and 0 < cap < max(self.rounding, _SMALLEST_CAP):
            below = (
                f"below limits.rounding {number_text(self.rounding)}"
                if cap < self.rounding
                else f"below {number_text(_SMALLEST_CAP)}"
            )
            raise node.error(
                "cap",
                f"cap {number_text(cap)} is {below}, "
                f"so no limit of grade {code} could be more than {number_text(cap)}",
                hint="caps are amounts in the credit table's currency, not thousands or 万: "
                f"write e.g. {number_text(cap * 10_000)} for {number_text(cap)}万 "
                "(freeze: zero gives no credit)",
            )
        allow = node.flag("allow_increase", not riskiest)
        if riskiest and allow:
            raise node.error(
                "allow_increase",
                f"the riskiest grade {code} can never get a limit increase",
                hint="remove allow_increase or set it to false",
            )
        params = self.params(node, cap)
        rule = None
        if text is not None:
            if isinstance(text, bool) or not isinstance(text, str | int | float):
                raise node.error("rule", f"expected an expression, got {text!r}")
            names = {**self.names, **dict.fromkeys(params, ExprType.NUMBER)}
            if cap is not None:
                names[GRADE_CAP] = ExprType.NUMBER
            lacking = lacking_names(str(text), names)
            if lacking and self.strict:
                raise ConfigError(
                    f"the limit rule reads {join_limited(lacking, 3)}, which this data "
                    "does not have",
                    file=self.file,
                    key=node.key("rule"),
                    hint="change the rule or give the data the column (without --strict "
                    "the grade keeps the current limit)",
                )
            if lacking:
                self.lacking.update(lacking)
                self.skipped[node.key("rule")] = (
                    f"reads {join_limited(lacking, 3)}, which this data does not have; "
                    "the current limit is kept"
                )
                return LimitRule(
                    rule=None,
                    cap=float(cap) if cap is not None else None,
                    params={},
                    allow_increase=False,
                    freeze="current",
                    key=node.path,
                )
            try:
                rule = compile_expression(str(text), names)
            except ExpressionError as exc:
                raise ConfigError(
                    exc.message, file=self.file, key=node.key("rule"), hint=exc.hint
                ) from None
            if rule.type is not ExprType.NUMBER:
                raise node.error(
                    "rule",
                    f"the rule gives a {rule.type.label}, not a number: {text!r}",
                    hint="a limit rule computes an amount, e.g. annual_income * multiplier",
                )
        elif node.get("params") is not None:
            raise node.error("params", "params are used only with a rule, not with freeze")
        return LimitRule(
            rule=rule,
            cap=float(cap) if cap is not None else None,
            params=params,
            allow_increase=allow and freeze is None,
            freeze=freeze,
            key=node.path,
        )

    def params(self, node: Node, cap: float | None) -> dict[str, float]:
        params = node.child("params")
        out: dict[str, float] = {}
        for name in params.data:
            key = str(name)
            if not _PARAM_NAME.fullmatch(key) or key in RESERVED_WORDS:
                raise params.error(
                    key,
                    f"parameter name {key!r} is not allowed",
                    hint="use lower-case letters, digits and '_', starting with a letter",
                )
            if key in self.names or key == GRADE_CAP:
                raise params.error(
                    key,
                    f"parameter {key!r} would hide the data name {key!r}",
                    hint="rename the parameter"
                    + (" (the cap is set with limit.cap)" if key == GRADE_CAP else ""),
                )
            value = params.number(key)
            if value is None or not math.isfinite(value):
                raise params.error(key, f"expected a number, got {params.get(key)!r}")
            out[key] = float(value)
        return out
