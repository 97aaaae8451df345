"""Whether the shares the rules read are fractions, as the rules compare them.

A share is a fraction: 0.9 is 90 %, and the rules say so (``utilisation > 0.9``, a
message's ``{utilisation:.0%}``). A column holding percentage points (42.7 for 42.7 %)
read as written passes every check of the loaders and the cleaning: its name and its
numbers are right. To the rules it is 4,270 %: nearly every customer is alerted on,
``Credit utilisation is 4270%``. It happens with a model trained on a flat table before
such a column was read with ``scale: 0.01``, with a sources config written by hand, and
with an export whose share columns are written in points.

A share read by a rule is judged once, on the customers it is read for: more than half
of its values above 0 (blank and 0 say nothing of the scale) above
:data:`POINTS_ABOVE` are percentage points. Over-limit customers (a utilisation of 1.2)
do not trip it: they are a few, and most are not above 1.5 even then.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from custrisk.errors import ConfigError
from custrisk.policy._names import GRADE_CAP, SHARE_UNIT, packaged_unit

if TYPE_CHECKING:
    from custrisk.policy.config import Policy
    from custrisk.policy.rules import AlertRules

#: Most values of a share above 0 above this: percentage points (1.5 is 150 %,
#: more than a customer's share of anything but an over-drawn limit).
POINTS_ABOVE = 1.5
#: A share is judged on at least this many customers with a value above 0.
MIN_VALUES = 20


#: Where a rule reads a share: its file, its key, the data column the share is read
#: from as written (``None``: computed).
_Reader = tuple[str, str, "str | None"]


def _readers(
    policy: Policy | None, rules: AlertRules | None, skipped: Collection[str]
) -> dict[str, list[_Reader]]:
    """Share name -> every rule that reads it, in config order: the limit rules, then
    the alert rules (condition, messages, ``new_when``) not skipped."""
    found: dict[str, list[_Reader]] = {}
    if policy is not None:
        for grade in policy.grades:
            limit = grade.limit
            if limit.rule is None:
                continue
            for name in sorted(limit.rule.names - {*limit.params, GRADE_CAP}):
                if name in policy.shares:
                    key = f"{limit.key}.rule"
                    found.setdefault(name, []).append((policy.path, key, policy.shares[name]))
    if rules is None:
        return found
    for rule in rules.rules:
        if rule.code in skipped:
            continue
        parts = [("condition", rule.condition.names)]
        parts.append(("message", rule.message_zh.names | rule.message_en.names))
        if rule.new_when is not None:
            parts.append(("new_when", rule.new_when.names))
        read: dict[str, str] = {}  # (each share once per rule: where it is read first)
        for part, names in parts:
            for name in sorted(names & rules.shares.keys()):
                read.setdefault(name, f"{rule.key}.{part}")
        for name, key in read.items():
            found.setdefault(name, []).append((rules.path, key, rules.shares[name]))
    return found


def check_share_scale(
    policy: Policy | None,
    rules: AlertRules | None,
    values: Callable[[str], Any],
    skipped: Collection[str] = (),
) -> None:
    """Refuse a share read by a limit rule or an alert rule (not one of ``skipped``)
    whose values (``values(name)``: one per customer; ``None``: the data does not hold
    it, as a ``new_when`` may read a name only the previous run has) are percentage
    points: more than half of those above 0, and at least :data:`MIN_VALUES`, above
    :data:`POINTS_ABOVE`. Two comparisons over each share's column, counted.

    Raises
    ------
    ConfigError
        Naming the first rule that reads it (file and key), the share, how many
        customers' values are above 1.5 and their median, and the fix: ``scale: 0.01``
        on its column in the sources config, or a flat table's model retrained.
    """
    readers = _readers(policy, rules, skipped)
    for name, where in readers.items():
        column = values(name)
        if column is None:  # (nothing to judge)
            continue
        array = (
            column.to_numpy(dtype=np.float64, na_value=np.nan)
            if isinstance(column, pd.Series)
            else np.asarray(column, dtype=np.float64)
        )
        # two comparisons counted, nothing selected: ~1 ms for a million customers
        # (blank compares false, 0 and below say nothing of a scale)
        judged = int(np.count_nonzero(array > 0))
        above = int(np.count_nonzero(array > POINTS_ABOVE))
        if judged < MIN_VALUES or above * 2 <= judged:
            continue
        raise _points_error(name, where, above, array[array > 0])


def _points_error(name: str, where: list[_Reader], above: int, array: np.ndarray) -> ConfigError:
    median = float(np.median(array))
    file, key, column = where[0]
    also = f" (and {len(where) - 1} more rule(s))" if len(where) > 1 else ""
    what = "the data gives percentage points" if column else "its values are no fractions"
    seen = (
        f"reads {name!r} as a share (0.9 is 90 %){also}, but {what}: {above:,} of the "
        f"{len(array):,} customers with a value above 0 have one above "
        f"{POINTS_ABOVE:g} (median {median:,.4g}, read as {median:,.0%})"
    )
    if column is not None:
        hint = (
            f"read the column as fractions, scale: 0.01 under columns: {column} in the "
            f"sources config, and retrain a model that has {name} as a feature (it learnt "
            "the points); a model trained on a flat table keeps the layout it was trained "
            "with: retrain it (custrisk train TABLE --target COLUMN) with the column's "
            f"header naming the percent ('{column} %'), whose points are then read as "
            "fractions"
        )
    elif (unit := packaged_unit(name)) not in (None, "", SHARE_UNIT):
        # (a model trained when the packaged config called it a share keeps that unit)
        hint = (
            f"the packaged indicators config gives {name} the unit {unit} (it is rightly "
            "above 1), but the indicators config the model was trained with (an earlier "
            "version's, or a copy of it) calls it a share: retrain the model (custrisk "
            f"train DATA --labels LABELS) with {name} given the unit {unit}"
        )
    else:
        hint = (
            f"check the scales of what {name} is computed from (an amount in 万 beside one "
            "in 元: scale: 10000 on that column in the sources config; percentage points: "
            "scale: 0.01); if it is rightly above 1 for most customers (a coverage, not a "
            "share of a whole), give it another unit than share in the indicators config"
        )
    return ConfigError(seen, file=file, key=key, hint=hint)


__all__ = ["MIN_VALUES", "POINTS_ABOVE", "check_share_scale"]
