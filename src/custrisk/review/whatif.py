"""Policy what-if: another policy on the same customers, and cut-offs proposed from
target bad rates.

:func:`compare_policies` grades a run's customers again with a second policy and says
who moves (the swap set, with the bad rates of those moved up and down), how approvals,
exposure and expected loss change. :func:`propose_cutoffs` finds score cut-offs whose
grades meet target bad rates with a stated confidence, checked on a hold-out, and
:func:`proposed_policy_yaml` writes them as a policy file ready for review.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy.stats import beta
from sklearn.isotonic import IsotonicRegression

from custrisk.config._yaml import load_yaml_file
from custrisk.errors import DataError, UsageError
from custrisk.expr import ExprType
from custrisk.policy import Policy, apply_policy, parse_policy
from custrisk.results import ScoringRun
from custrisk.review.backtest import Outcomes, policy_grades, rate_inversions

#: Confidence that a proposed grade's bad rate is below its target (one-sided
#: Clopper-Pearson upper bound on the rows the cut-offs are fitted on).
DEFAULT_CONFIDENCE = 0.8
#: Share of customers held out to check proposed cut-offs.
DEFAULT_HOLDOUT = 0.3
#: A band checked on fewer hold-out customers than this gets a warning: at a few
#: customers one bad more or less turns the verdict (the 30 of the usual rule of thumb
#: for a normal approximation of a rate).
MIN_HOLDOUT_CUSTOMERS = 30
#: Columns of ``totals`` under their old names, deprecated: ``exposure`` (the summed
#: recommended limits, not the outstanding balance ``exposure`` is everywhere else) and
#: ``expected_loss`` (on those limits); to be removed in the next release.
DEPRECATED_TOTALS = {"exposure": "recommended_limits", "expected_loss": "expected_loss_on_limits"}
#: ``facts["moves_by"]`` of a what-if: what a move up or down was judged by.
MOVES_BY_RANK = "grade order"
MOVES_BY_PD = "mean PD of the grades"
_TARGET = re.compile(r"^\s*([^=\s]+)\s*=\s*([0-9]*\.?[0-9]+)\s*(%?)\s*$")


@dataclass(frozen=True)
class PolicyComparison:
    """Two policies on the same customers.

    Attributes
    ----------
    swap : pandas.DataFrame
        Customers by current grade (rows) and new grade (columns).
    moves : pandas.DataFrame
        ``moved up``, ``stayed``, ``moved down``: customers, bads, bad rate (up: to a
        better grade by the grades' order, or, when the policies' grades differ, to a
        grade of lower mean PD: ``facts["moves_by"]``).
    totals : pandas.DataFrame
        Rows ``current`` and ``new``: ``approved`` customers (recommended limit above
        0), ``approval_rate``, ``recommended_limits`` (their sum),
        ``expected_loss_on_limits`` (PD x recommended limit x LGD),
        ``bad_rate_approved``; and the deprecated names of two of them
        (:data:`DEPRECATED_TOTALS`).
    grades : pandas.DataFrame
        By grade, the new policy's first, then any only the current policy has:
        ``customers_current``, ``bad_rate_current``, ``mean_pd_current``,
        ``customers_new``, ``bad_rate_new``, ``mean_pd_new``.
    facts : dict
        The new policy's file, customers, ``moved_up``, ``moved_down``, ``moves_by``
        (:data:`MOVES_BY_RANK` or :data:`MOVES_BY_PD`), LGD, and
        ``new_monotone`` with ``new_inversions``: whether bad rates rise grade by grade
        under the new policy (grades without customers skipped).
    """

    swap: pd.DataFrame
    moves: pd.DataFrame
    totals: pd.DataFrame
    grades: pd.DataFrame
    facts: dict[str, Any] = field(default_factory=dict)


def compare_policies(
    run: ScoringRun, outcomes: Outcomes, new_policy: Policy, *, lgd: float = 1.0
) -> PolicyComparison:
    """The run's grades and limits against ``new_policy``'s on the same customers.

    A customer moved up when the new grade is better than the current one: by rank
    when both policies have the same grades, else by the mean PD of the customers each
    grade holds under its own policy (see :func:`_move`), so that policies of different
    numbers of grades compare.
    """
    scores = run.scores.assign(customer_id=run.scores["customer_id"].astype(str))
    base = scores.loc[:, ["customer_id", "as_of", "pd", "score"]]
    details = run.details.assign(customer_id=run.details["customer_id"].astype(str))
    regraded = apply_policy(base, details, new_policy).scores
    bad = outcomes.frame.set_index("customer_id")["bad"]
    table = pd.DataFrame(
        {
            "customer_id": scores["customer_id"],
            "pd": pd.to_numeric(scores["pd"], errors="coerce"),
            "old_grade": scores["grade"].astype(str),
            "new_grade": regraded["grade"].astype(str).to_numpy(),
            "old_limit": pd.to_numeric(scores["recommended_limit"], errors="coerce").fillna(0.0),
            "new_limit": pd.to_numeric(regraded["recommended_limit"], errors="coerce")
            .fillna(0.0)
            .to_numpy(),
        }
    )
    table["bad"] = table["customer_id"].map(bad)
    old_grades = policy_grades(run.facts)
    old_codes = [str(g["code"]) for g in old_grades] or sorted(table["old_grade"].unique())
    new_codes = list(new_policy.codes)
    # each grade's risk as both policies can be judged by: the mean PD of the customers
    # it holds under its own policy (the same model's PDs on the same customers)
    old_pd = {str(k): float(v) for k, v in table.groupby("old_grade")["pd"].mean().items()}
    new_pd = {str(k): float(v) for k, v in table.groupby("new_grade")["pd"].mean().items()}
    by_rank = old_codes == new_codes
    pairs = table[["old_grade", "new_grade"]].drop_duplicates()
    direction = {
        (old, new): _move(old, new, new_codes if by_rank else None, old_pd, new_pd)
        for old, new in pairs.itertuples(index=False)
    }
    pairs_of = zip(table["old_grade"], table["new_grade"], strict=True)
    table["move"] = [direction[pair] for pair in pairs_of]
    swap = pd.crosstab(table["old_grade"], table["new_grade"]).reindex(
        index=[c for c in old_codes if c in set(table["old_grade"])],
        columns=[c for c in new_codes if c in set(table["new_grade"])],
        fill_value=0,
    )
    moves = pd.DataFrame(
        [
            _counts(name, table[table["move"] == name])
            for name in ("moved up", "stayed", "moved down")
        ]
    )
    totals = pd.DataFrame(
        [
            _totals("current", table, "old_limit", lgd),
            _totals("new", table, "new_limit", lgd),
        ]
    )
    grades = pd.DataFrame(
        [
            {
                "grade": code,
                "customers_current": int((table["old_grade"] == code).sum()),
                "bad_rate_current": _rate(table.loc[table["old_grade"] == code, "bad"]),
                "mean_pd_current": old_pd.get(code, math.nan),
                "customers_new": int((table["new_grade"] == code).sum()),
                "bad_rate_new": _rate(table.loc[table["new_grade"] == code, "bad"]),
                "mean_pd_new": new_pd.get(code, math.nan),
            }
            for code in dict.fromkeys([*new_codes, *old_codes])
        ]
    )
    populated = grades[grades["grade"].isin(new_codes) & (grades["customers_new"] > 0)]
    inversions = [
        list(pair)
        for pair in rate_inversions(
            populated["grade"].tolist(), populated["bad_rate_new"].to_numpy()
        )
    ]
    facts = {
        "policy": new_policy.path,
        "customers": len(table),
        "moved_up": int((table["move"] == "moved up").sum()),
        "moved_down": int((table["move"] == "moved down").sum()),
        "moves_by": MOVES_BY_RANK if by_rank else MOVES_BY_PD,
        "lgd": lgd,
        "new_monotone": not inversions,
        "new_inversions": inversions,
    }
    return PolicyComparison(swap, moves, totals, grades, facts)


def _move(
    old: str,
    new: str,
    codes: Sequence[str] | None,
    old_pd: Mapping[str, float],
    new_pd: Mapping[str, float],
) -> str:
    """``moved up``, ``stayed`` or ``moved down`` from grade ``old`` to ``new``.

    A grade of the same name is the same grade. When both policies have the same grades
    in the same order (``codes``), the rank decides. Otherwise neither the ranks (the
    best of four grades is not the best of five) nor the score bands (a wider best band
    has a lower middle) compare, so the grades' risk does: the mean PD of the customers
    each holds under its own policy. A move to a grade of higher mean PD is a move down.
    """
    if old == new:
        return "stayed"
    if codes is not None and old in codes and new in codes:
        step: float = codes.index(new) - codes.index(old)
    else:
        before, after = old_pd.get(old, math.nan), new_pd.get(new, math.nan)
        if not (math.isfinite(before) and math.isfinite(after)):
            raise DataError(
                f"cannot tell whether grade {old} to {new} is a move up or down: the "
                "run's scores have no PD for the customers of one of them",
                hint="compare with a policy of the same grades, or score the run again",
            )
        step = after - before  # a riskier grade: a move down
    return "moved up" if step < 0 else "moved down" if step > 0 else "stayed"


def _rate(values: pd.Series) -> float:
    known = values.dropna()
    return float(known.mean()) if len(known) else math.nan


def _counts(name: str, part: pd.DataFrame) -> dict[str, Any]:
    known = part["bad"].dropna()
    return {
        "move": name,
        "customers": len(part),
        "bads": int(known.sum()),
        "bad_rate": float(known.mean()) if len(known) else math.nan,
    }


def _totals(name: str, table: pd.DataFrame, limit: str, lgd: float) -> dict[str, Any]:
    approved = table[limit] > 0
    row = {
        "policy": name,
        "approved": int(approved.sum()),
        "approval_rate": float(approved.mean()) if len(table) else math.nan,
        "recommended_limits": float(table[limit].sum()),
        "expected_loss_on_limits": float((table["pd"].fillna(0) * table[limit] * lgd).sum()),
        "bad_rate_approved": _rate(table.loc[approved, "bad"]),
    }
    # the old names ("exposure", elsewhere the outstanding balance, was the summed
    # limits here): kept for scripts for one release (docs/review.md)
    return row | {old: row[new] for old, new in DEPRECATED_TOTALS.items()}


# -- proposed cut-offs ------------------------------------------------------------------


def parse_targets(text: str, codes: Sequence[str], *, policy: str = "") -> dict[str, float]:
    """``A=0.5%,B=2%,C=6%,D=18%`` to ``{"A": 0.005, ...}``.

    Every grade but the riskiest needs a target, as a share below 1, and each riskier
    grade a higher one than the grade before it: bands are cut best first, so a target
    below the better grade's would leave its grade a one-point band.

    Raises
    ------
    UsageError
        A pair that cannot be read, an unknown grade, a rate outside (0, 100%), a
        missing grade or targets that do not rise grade by grade.
    """
    targets: dict[str, float] = {}
    written: dict[str, str] = {}
    # typed with a Chinese input method: ％, ，, ＝ and full-width digits read as ASCII
    text = unicodedata.normalize("NFKC", text).replace("、", ",")
    for part in [p for p in text.split(",") if p.strip()]:
        match = _TARGET.match(part)
        if not match:
            raise UsageError(
                f"--target-bad-rate: cannot read {part.strip()!r}; write GRADE=RATE pairs "
                "such as A=0.5%,B=2%"
            )
        code, number, percent = match.groups()
        value = float(number) / (100 if percent else 1)
        # a grade as typed, in either case (a, A), as custrisk report --grade reads it
        code = code if code in codes else {c.upper(): c for c in codes}.get(code.upper(), code)
        if code not in codes:
            raise UsageError(
                f"--target-bad-rate: {code!r} is not a grade of the run's policy"
                + (f" {policy}" if policy else "")
                + "; grades: "
                + ", ".join(codes)
                + " (the cut-offs are proposed for the policy the run was scored with, "
                "not for --policy)"
            )
        if not 0 < value < 1:
            hint = (
                f"; a rate without % is a share: write {code}={number}% or "
                f"{code}={float(number) / 100:g} for {number} percent"
                if not percent and 1 <= float(number) < 100
                else ""
            )
            raise UsageError(
                f"--target-bad-rate: {code}={number}{percent} must be above 0 and below 100%" + hint
            )
        targets[code] = value
        written[code] = f"{code}={number}{percent}"
    missing = [c for c in codes[:-1] if c not in targets]
    if missing:
        raise UsageError(
            "--target-bad-rate needs a target for every grade but the riskiest; missing: "
            + ", ".join(missing)
        )
    ordered = [c for c in codes if c in targets]
    falling = [
        f"{written[riskier]} is not above {written[better]}"
        for better, riskier in zip(ordered, ordered[1:], strict=False)
        if targets[riskier] <= targets[better]
    ]
    if falling:
        raise UsageError(
            "--target-bad-rate: targets must rise from the best grade to the riskiest; "
            + "; ".join(falling)
        )
    return targets


def holdout_mask(ids: pd.Series, share: float) -> np.ndarray:
    """A stable split: True for the customers held out (by a hash of the id)."""
    if not 0 < share < 1:
        raise UsageError(f"--holdout must be a share between 0 and 1; got {share!r}")
    buckets = np.array(
        [int.from_bytes(hashlib.sha256(str(i).encode()).digest()[:4], "big") for i in ids],
        dtype=np.float64,
    )
    return buckets / 2**32 < share


def _upper_bound(bads: np.ndarray, n: np.ndarray, confidence: float) -> np.ndarray:
    """One-sided Clopper-Pearson upper bound of the bad rate."""
    with np.errstate(invalid="ignore", divide="ignore"):
        bound = beta.ppf(confidence, bads + 1, np.maximum(n - bads, 1e-9))
    return np.where(n > 0, np.where(bads >= n, 1.0, bound), 1.0)


@dataclass(frozen=True)
class CutoffProposal:
    """Score cut-offs proposed from target bad rates.

    Attributes
    ----------
    bands : dict
        Grade code to ``(min_score, max_score)``, best first.
    table : pandas.DataFrame
        By grade: band, target, customers, bad rate and upper bound on the fitting
        rows, customers and bad rate on the hold-out, ``met`` and ``note``. ``met`` is
        True when the hold-out bad rate is within the target, False when it is not or
        when no score reaches the target (a one-point band), None (not judged) for a
        band without a target or without hold-out customers; ``note`` says why.
    facts : dict
        Settings and counts, and the verdict: ``all_met`` (every band with a target
        met it on its hold-out customers), the grades ``missed``, ``not_reachable``,
        ``not_judged`` (no hold-out customers) and ``few_holdout`` (judged on fewer
        than ``min_holdout_customers``).
    """

    bands: dict[str, tuple[float, float]]
    table: pd.DataFrame
    facts: dict[str, Any] = field(default_factory=dict)

    def by_grade(self, column: str) -> dict[str, Any]:
        """One column of :attr:`table` by grade code (e.g. ``customers_holdout``)."""
        return dict(zip(self.table["grade"].astype(str), self.table[column], strict=True))


def propose_cutoffs(
    scores: pd.Series,
    bad: pd.Series,
    policy: Policy,
    targets: Mapping[str, float],
    *,
    holdout: np.ndarray | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
) -> CutoffProposal:
    """Cut-offs, best grade first: a grade starts at the lowest whole score from which
    the bad rate, fitted as a non-increasing function of the score (isotonic regression
    on all rows but ``holdout``), is within the grade's target; so every customer of the
    band, not just its average, meets it. The riskiest grade takes the rest. The table
    gives each band's bad rate with a one-sided ``confidence`` upper bound on the fitting
    rows and its bad rate on the hold-out."""
    if not 0.5 <= confidence < 1:
        raise UsageError(f"--confidence must be from 0.5 to below 1; got {confidence!r}")
    s = pd.to_numeric(scores, errors="coerce").to_numpy(dtype="float64")
    y = pd.to_numeric(bad, errors="coerce").to_numpy(dtype="float64")
    held = np.zeros(len(s), dtype=bool) if holdout is None else np.asarray(holdout, dtype=bool)
    fit = ~held & np.isfinite(s) & np.isfinite(y)
    test = held & np.isfinite(s) & np.isfinite(y)
    codes = list(policy.codes)
    lo_range, hi_range = policy.score_min, policy.score_max
    upper = hi_range
    bands: dict[str, tuple[float, float]] = {}
    notes: dict[str, str] = {}
    fs, fy = s[fit], y[fit]
    if not len(fs) or len(np.unique(fy)) < 2:
        raise UsageError("--target-bad-rate needs scored customers with both good and bad outcomes")
    # the bad rate as a non-increasing function of the score (isotonic fit)
    local = IsotonicRegression(increasing=False, out_of_bounds="clip").fit(fs, fy)
    points = np.unique(np.floor(fs))
    rate_at = local.predict(points)
    for code in codes[:-1]:
        target = float(targets[code])
        # the lowest whole score from which every customer's bad rate is within target
        ok = points[(rate_at <= target) & (points < upper)]
        cut = float(ok.min()) if len(ok) else math.nan
        if not len(ok) or cut <= lo_range:
            cut = upper - 1 if not len(ok) else lo_range + 1
            notes[code] = "target not reachable: a one-point band" if not len(ok) else ""
        bands[code] = (cut, upper)
        upper = cut
    bands[codes[-1]] = (lo_range, upper)
    rows = []
    for code in codes:
        lo, hi = bands[code]
        top = hi == hi_range

        fin, tin = _within(fs, lo, hi, top), _within(s[test], lo, hi, top)
        n_fit, k_fit = int(fin.sum()), float(fy[fin].sum())
        n_test, k_test = int(tin.sum()), float(y[test][tin].sum())
        goal = targets.get(code)
        rate_test = k_test / n_test if n_test else math.nan
        met, note = _verdict(goal, n_test, rate_test, notes.get(code, ""))
        rows.append(
            {
                "grade": code,
                "min_score": lo,
                "max_score": hi,
                "target": goal if goal is not None else math.nan,
                "customers_fit": n_fit,
                "bad_rate_fit": k_fit / n_fit if n_fit else math.nan,
                "upper_bound_fit": _bound(k_fit, n_fit, confidence),
                "customers_holdout": n_test,
                "bad_rate_holdout": rate_test,
                "met": met,
                "note": note,
            }
        )
    table = pd.DataFrame(rows).astype({"met": object})
    judged = {str(r["grade"]): r["met"] for r in rows}
    in_holdout = dict(zip(codes, table["customers_holdout"], strict=True))
    targeted = [c for c in codes if c in targets]
    reachable = [c for c in targeted if not notes.get(c)]
    facts = {
        "confidence": confidence,
        "fit_customers": int(fit.sum()),
        "holdout_customers": int(test.sum()),
        "targets": dict(targets),
        "min_holdout_customers": MIN_HOLDOUT_CUSTOMERS,
        "all_met": all(judged[c] is True for c in targeted),
        "missed": [c for c in reachable if judged[c] is False],
        "not_reachable": [c for c in targeted if notes.get(c)],
        "not_judged": [c for c in targeted if judged[c] is None],
        "few_holdout": [
            c
            for c in reachable
            if judged[c] is not None and int(in_holdout[c]) < MIN_HOLDOUT_CUSTOMERS
        ],
    }
    return CutoffProposal(bands, table, facts)


def _verdict(
    goal: float | None, n_test: int, rate_test: float, note: str
) -> tuple[bool | None, str]:
    """``met`` and ``note`` of a band: a target no score reaches is not met, whatever
    the few customers of its one-point band did; a band without a target or without
    hold-out customers is not judged (None), rather than passed."""
    if goal is None:
        return None, note
    if note:
        return False, note
    if not n_test:
        return None, "no hold-out customers: not judged"
    if n_test < MIN_HOLDOUT_CUSTOMERS:
        customers = "customer" if n_test == 1 else "customers"
        note = f"only {n_test} hold-out {customers} (fewer than {MIN_HOLDOUT_CUSTOMERS})"
    return bool(rate_test <= goal), note


def _within(values: np.ndarray, lo: float, hi: float, top: bool) -> np.ndarray:
    return (values >= lo) & ((values < hi) | (top & (values <= hi)))


def _bound(bads: float, n: int, confidence: float) -> float:
    if not n:
        return math.nan
    return float(_upper_bound(np.array([bads]), np.array([n]), confidence)[0])


def proposed_policy_yaml(
    policy: Policy, proposal: CutoffProposal, names: Mapping[str, ExprType] | None = None
) -> str:
    """The policy file of ``policy`` with the proposed bands, as YAML text with a header
    saying where the bands come from. Validated with the policy loader."""
    data = load_yaml_file(policy.path)
    grades = data.get("grades") or {}
    for code, (lo, hi) in proposal.bands.items():
        grades[code]["min_score"] = _whole(lo)
        grades[code]["max_score"] = _whole(hi)
        description = grades[code].get("description")
        target = proposal.facts["targets"].get(code)
        if target is not None:
            grades[code]["description"] = f"Proposed for a bad rate below {target:.2%}." + (
                f" Was: {description}" if description else ""
            )
    lines = [
        "# Proposed by custrisk backtest --target-bad-rate: review before use.",
        f"# Based on {policy.path}; only the score bands changed.",
        f"# Each band starts where the bad rate (isotonic in the score) meets its target; "
        f"upper bounds at {proposal.facts['confidence']:.0%} confidence",
        f"# on {proposal.facts['fit_customers']} customers; checked on "
        f"{proposal.facts['holdout_customers']} held-out customers:",
    ]
    for i, row in enumerate(proposal.table.to_dict("records")):
        goal, rate = float(row["target"]), float(row["bad_rate_holdout"])
        target = "" if math.isnan(goal) else f" target {goal:.2%},"
        held = "—" if math.isnan(rate) else f"{rate:.2%}"
        met = row["met"]
        verdict = "" if met is None or met != met else (": met" if met else ": MISSED")
        close = "]" if i == 0 else ")"  # the best grade holds score_range.max
        lines.append(
            f"#   {row['grade']} [{_whole(float(row['min_score']))}, "
            f"{_whole(float(row['max_score']))}{close}:{target} "
            f"hold-out bad rate {held} of {row['customers_holdout']}{verdict}"
            + (f" ({row['note']})" if row["note"] else "")
        )
    text = "\n".join(lines) + "\n" + yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    # refuses a broken file (names: those the run's limit rules may read)
    parse_policy(yaml.safe_load(text), file="<proposed policy>", names=names)
    return text


def _whole(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


__all__ = [
    "DEFAULT_CONFIDENCE",
    "DEFAULT_HOLDOUT",
    "DEPRECATED_TOTALS",
    "MIN_HOLDOUT_CUSTOMERS",
    "MOVES_BY_PD",
    "MOVES_BY_RANK",
    "CutoffProposal",
    "PolicyComparison",
    "compare_policies",
    "holdout_mask",
    "parse_targets",
    "propose_cutoffs",
    "proposed_policy_yaml",
]
