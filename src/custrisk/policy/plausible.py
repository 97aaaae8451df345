"""Whether a grade's limit rule gives limits on the scale of the policy's amounts.

A rule written for amounts in 万 (``annual_income * 0.45 / 10000``), or multiplied where
it should divide, passes the loader: its names and its syntax are right. On the data it
gives every customer a limit of a few yuan, rounded down to 0, or thousands of times the
cap, so that every customer gets the cap: a policy that looks applied and is not.
"""

from __future__ import annotations

import numpy as np

from custrisk.errors import ConfigError
from custrisk.policy.config import Grade, Policy, number_text

#: A rule is judged on at least this many customers of its grade with a value (a
#: handful of small customers may well all get small limits).
MIN_CUSTOMERS = 20
#: The median limit a rule gives more than this many times below or above its grade's
#: cap is on another scale (three orders of magnitude: 万 against 元 is four).
CAP_FACTOR = 1000.0


def check_limit_scale(
    policy: Policy, grade: Grade, values: np.ndarray, everyone: np.ndarray | None = None
) -> None:
    """Refuse a grade's limit rule whose results (``values``: the rule's value for each
    customer of the grade it was computed for, before rounding and the cap) are on
    another scale than the policy's amounts: every one below 1, every one rounded down
    to 0 by ``limits.rounding``, or their median more than :data:`CAP_FACTOR` times
    below or above the grade's cap. A rule that gives most of its customers 0 or less
    (e.g. income less arrears, in a risky grade) is a choice, not judged. A grade of
    fewer than :data:`MIN_CUSTOMERS` (a small portfolio) is judged on ``everyone``: the
    rule's value for every customer of the portfolio, whatever their grade (the scale
    of a rule does not depend on who it is applied to).

    Raises
    ------
    ConfigError
        Naming the policy file, the rule's key, what the rule gave and how many
        customers, and the likely fix.
    """
    limit = grade.limit
    who = f"the {len(values):,} customers of grade {grade.code}"
    if len(values) < MIN_CUSTOMERS and everyone is not None:
        who = (
            f"the {len(everyone):,} customers of the portfolio (grade {grade.code} has "
            f"{len(values):,}, fewer than the {MIN_CUSTOMERS} it is judged on alone)"
        )
        values = everyone
    if limit.rule is None or len(values) < MIN_CUSTOMERS:
        return
    positive = values[values > 0]
    if len(positive) * 2 < len(values):
        return
    largest, median = float(positive.max()), float(np.median(positive))
    if largest < 1:
        seen = f"every limit it gives {who} is below 1 (the largest {largest:.4g})"
    elif largest < policy.rounding:
        seen = (
            f"every limit it gives {who} rounds down to 0 (the largest {largest:,.2f}, "
            f"limits.rounding {number_text(policy.rounding)})"
        )
    elif limit.cap is not None and median * CAP_FACTOR < limit.cap:
        seen = (
            f"the limits it gives {who} have a median of {median:,.2f}, "
            f"{limit.cap / median:,.0f} times below the cap {number_text(limit.cap)}"
        )
    elif limit.cap is not None and median > limit.cap * CAP_FACTOR:
        seen = (
            f"the limits it gives {who} have a median of {median:,.0f}, "
            f"{median / limit.cap:,.0f} times the cap {number_text(limit.cap)}: every one "
            "would be the cap"
        )
    else:
        return
    raise ConfigError(
        f"limit rule {limit.rule.text!r}: {seen}",
        file=policy.path,
        key=f"{limit.key}.rule",
        hint="limits are amounts in the credit table's currency (元), as its credit fields "
        "are: check the rule for a / 10000 or * 10000 too many, or a field read in 万",
    )


__all__ = ["CAP_FACTOR", "MIN_CUSTOMERS", "check_limit_scale"]
