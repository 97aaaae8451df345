"""Categories a model never saw in training: which customers have them and what the model
does with them, so that ``custrisk score`` says so (a new region scored silently as the
model's rule for unseen values was found only by ``drift``)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from custrisk.config._yaml import join_limited
from custrisk.estimators.features import category_text
from custrisk.io.plain import counted
from custrisk.privacy import mask_pii_text
from custrisk.registry import LoadedModel

#: How many of a feature's new values a note names.
SHOWN_VALUES = 3


def unseen_categories(model: LoadedModel, X: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per categorical feature of ``model`` with values its training data never had: how
    many customers of ``X`` have them, the first few of those values (most customers
    first) and what the model scores them as. One pass per feature over its distinct
    values; empty when every value was seen."""
    card = model.card
    reference = (card.get("reference") or {}).get("features") or {}
    out: dict[str, dict[str, Any]] = {}
    for code in card.get("features", []):
        known = (reference.get(code) or {}).get("categories")
        if known is None or code not in X.columns:
            continue
        seen = set(known)
        counts = X[code].value_counts(dropna=True, sort=True)
        new = [(category_text(v), int(n)) for v, n in counts.items()]
        new = [(text, n) for text, n in new if n and text not in seen]
        if not new:
            continue
        out[code] = {
            "customers": sum(n for _, n in new),
            # (a phone or a name typed into a category column: masked, as everywhere)
            "values": [mask_pii_text(text) for text, _ in new[:SHOWN_VALUES]],
            "distinct": len(new),
            "scored_as": _scored_as(card, code),
        }
    return out


def merged_unseen(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The ``unseen_categories`` facts of buckets scored apart (the Dask engine) as one:
    customers summed, the values each bucket named in bucket order (``distinct`` is then
    at least the largest bucket's)."""
    out: dict[str, dict[str, Any]] = {}
    for run in runs:
        for code, fact in (run.get("unseen_categories") or {}).items():
            whole = out.setdefault(code, dict(fact, customers=0, values=[], distinct=0))
            whole["customers"] += fact["customers"]
            values = list(dict.fromkeys([*whole["values"], *fact["values"]]))
            whole["distinct"] = max(whole["distinct"], fact["distinct"], len(values))
            whole["values"] = values[:SHOWN_VALUES]
    return out


def _scored_as(card: dict[str, Any], code: str) -> str:
    """What the model does with a value it never saw (the rule of its estimator)."""
    model = card.get("model") or {}
    bins = (model.get("bins") or {}).get(code)
    if isinstance(bins, dict) and "other_bin" in bins:  # the WOE scorecard
        other = int(bins["other_bin"])
        rare = [m for m in bins["members"][other] if m != "(other)"]
        woe = float(bins["woe"][other])
        if not rare:
            return "scored as neutral (the empty bin '(other)', WOE 0)"
        return f"scored as the training's rare values ({join_limited(rare)}), WOE {woe:+.2f}"
    codes = (model.get("category_codes") or {}).get(code)
    if isinstance(codes, dict) and "(other)" in codes:  # the decision tree
        rare = [t for t, v in codes.items() if v == codes["(other)"] and t[:1] != "("]
        if not rare:
            return "scored as the training's average bad rate (the tree's empty group '(other)')"
        return f"scored as the training's rare values ({join_limited(rare)})"
    return "scored as the model's group '(other)'"


def unseen_lines(unseen: dict[str, dict[str, Any]], names: dict[str, str]) -> list[str]:
    """One line per feature of :func:`unseen_categories` (``names``: the headers to show
    for the feature codes, for a flat table)."""
    lines = []
    for code, fact in unseen.items():
        shown = ", ".join(fact["values"])
        more = fact["distinct"] - len(fact["values"])
        if more > 0:
            shown += f" and {more} more"
        lines.append(
            f"{names.get(code, code)}: "
            f"{counted(fact['customers'], 'customer has a value', 'customers have values')} "
            f"the model never saw ({shown}): {fact['scored_as']}"
        )
    return lines


__all__ = ["merged_unseen", "unseen_categories", "unseen_lines"]
