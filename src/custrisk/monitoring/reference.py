"""Reference distributions: the bins and counts that drift checks compare against.

At training, every model feature and the score get a reference: for numbers, bins cut at
the training data's quantiles (deciles by default, fewer when values repeat); for
categories, one bin per category seen (plus "other" for new ones); always a bin for
missing values. The same bins are then applied to new data, so PSI/CSI compare like
with like. References are stored in the model card as plain JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

MISSING = "missing"
OTHER = "other"


@dataclass(frozen=True)
class Reference:
    """Bins of one variable and the training counts in each."""

    kind: str  # "numeric" | "categorical"
    labels: tuple[str, ...]  # one per bin, the missing bin last
    counts: tuple[int, ...]
    edges: tuple[float, ...] = ()  # numeric: interior cut points, bins [e_i, e_i+1)
    categories: tuple[str, ...] = ()  # categorical: known categories, in bin order

    @property
    def rows(self) -> int:
        return int(sum(self.counts))

    def bin_counts(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """Counts of ``values`` in these bins (same order as ``labels``)."""
        series = pd.Series(values)
        missing = series.isna().to_numpy()
        counts = np.zeros(len(self.labels), dtype=np.int64)
        counts[-1] = int(missing.sum())
        present = series[~missing]
        if self.kind == "numeric":
            numbers = present.to_numpy(dtype=np.float64)
            index = np.searchsorted(np.asarray(self.edges, dtype=np.float64), numbers, side="right")
            counts[:-1] += np.bincount(index, minlength=len(self.labels) - 1)
        else:
            position = {c: i for i, c in enumerate(self.categories)}
            other = len(self.categories)  # the "other" bin sits before "missing"
            codes = present.astype(str).map(position).fillna(other).to_numpy(dtype=np.int64)
            counts[:-1] += np.bincount(codes, minlength=len(self.labels) - 1)
        return counts

    def new_categories(self, values: pd.Series | np.ndarray, keep: int = 20) -> dict[str, int]:
        """The values of ``values`` a categorical reference did not see at training (those
        its "other" bin counts) and how many rows hold each, the ``keep`` most frequent
        (none for a numeric reference)."""
        if self.kind != "categorical":
            return {}
        present = pd.Series(values).dropna().astype(str)
        new = present[~present.isin(self.categories)]
        if not len(new):
            return {}
        top = new.value_counts(sort=True).head(keep)
        return {str(k): int(v) for k, v in top.items()}

    def in_percent(self) -> Reference:
        """These bins labelled with percent edges, ``[15%, 22%)``, for a share read from
        percentages (as the model's points and bins tables show it); the same bins."""
        if self.kind != "numeric":
            return self
        labels = _interval_labels(self.edges, percent=True)
        return replace(self, labels=(*labels, *self.labels[len(labels) :]))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "labels": list(self.labels),
            "counts": list(self.counts),
        }
        if self.kind == "numeric":
            out["edges"] = list(self.edges)
        else:
            out["categories"] = list(self.categories)
        return out


def reference_from_dict(data: Any) -> Reference:
    """The :class:`Reference` a model card stores as JSON.

    Raises
    ------
    ValueError
        Naming what is wrong when ``data`` is not a reference as :meth:`Reference.to_dict`
        writes it (a card edited by hand or damaged): a bin count that is not a whole
        number of rows, bins and counts that disagree, cut points out of order, no rows.
    """
    if not isinstance(data, dict):
        raise ValueError(f"not a table of bins but {type(data).__name__}")
    kind = data.get("kind")
    if kind not in ("numeric", "categorical"):
        raise ValueError(f"kind {kind!r} is neither 'numeric' nor 'categorical'")
    labels = _items(data, "labels", str)
    counts = _items(data, "counts", int)
    if any(c < 0 for c in counts) or not sum(counts):
        raise ValueError(f"counts {list(counts)} hold no training rows")
    if len(counts) != len(labels):
        raise ValueError(f"{len(counts)} counts for {len(labels)} bins")
    edges = _items(data, "edges", float) if kind == "numeric" else ()
    categories = _items(data, "categories", str) if kind == "categorical" else ()
    # numeric: a bin below, between and above the cut points; categorical: one bin per
    # category and "other"; then the missing bin
    bins = len(edges) + 2 if kind == "numeric" else len(categories) + 2
    if len(labels) != bins:
        raise ValueError(f"{len(labels)} bins where its {kind} cut points make {bins}")
    if not np.isfinite(edges).all() or (np.diff(edges) <= 0).any():
        raise ValueError("its cut points (edges) are not finite and increasing")
    return Reference(kind, labels, counts, edges=edges, categories=categories)


_KINDS = {int: "whole numbers", float: "numbers", str: "texts"}


def _items(data: dict[str, Any], key: str, kind: type) -> tuple[Any, ...]:
    values = data.get(key)
    if not isinstance(values, list):
        raise ValueError(f"{key} is {type(values).__name__}, not a list")
    try:
        items = tuple(kind(x) for x in values)
    except (TypeError, ValueError):
        raise ValueError(f"{key} holds values that are not {_KINDS[kind]}") from None
    if kind is int and any(isinstance(x, bool) or x != int(x) for x in values):
        raise ValueError(f"{key} holds values that are not {_KINDS[kind]}")
    return items


def build_reference(values: pd.Series | np.ndarray, *, bins: int = 10) -> Reference:
    """Reference bins and counts for ``values`` (numeric by dtype, else categorical)."""
    series = pd.Series(values)
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if numeric:
        numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
        present = numbers[~np.isnan(numbers)]
        if present.size:
            # Cut at observed values, so repeated values (counts, flags) keep one bin each.
            quantiles = np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1], method="higher")
            cuts = np.unique(quantiles)
            edges = tuple(float(e) for e in cuts[cuts > present.min()])
        else:
            edges = ()
        labels = _interval_labels(edges)
        ref = Reference("numeric", (*labels, MISSING), (0,) * (len(labels) + 1), edges=edges)
    else:
        present = series.dropna().astype(str)
        categories = tuple(sorted(present.unique()))
        ref = Reference(
            "categorical",
            (*categories, OTHER, MISSING),
            (0,) * (len(categories) + 2),
            categories=categories,
        )
    counts = ref.bin_counts(series)
    return Reference(ref.kind, ref.labels, tuple(int(c) for c in counts), ref.edges, ref.categories)


def _interval_labels(edges: tuple[float, ...], *, percent: bool = False) -> tuple[str, ...]:
    """``[lo, hi)`` of the bins below, between and above ``edges``."""
    shown = (f"{e * 100:.4g}%" if percent else _fmt(e) for e in edges)
    bounds = ("-inf", *shown, "inf")
    return tuple(f"[{lo}, {hi})" for lo, hi in zip(bounds[:-1], bounds[1:], strict=True))


def _fmt(value: float) -> str:
    return f"{value:.6g}"
