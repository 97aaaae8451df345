"""A batch of rows scored in one pass: PD, score and the top reasons as arrays.

:meth:`LogisticScorecard.score_table <custrisk.estimators.scorecard.LogisticScorecard.score_table>`
and :meth:`TreeModel.score_table <custrisk.estimators.tree.TreeModel.score_table>` bin (or
route) every row once and return a :class:`ScoredTable`: the PD and score columns and, per
reason rank, the index of the reason's feature and its impact (points lost, or the PD
above the safer branches of the tree's splits). Everything a scores table shows is derived
from these arrays:

* reason codes and labels become :class:`pandas.Categorical` columns built from the
  feature indices, their text made once per feature, never per row;
* a reason's raw value is read from the scored frame only for the rows that have that
  reason, and numbers are formatted once per distinct value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas import Categorical, DataFrame, Index  # names the field `pd` does not shadow
from pandas.api.extensions import ExtensionArray

from custrisk.estimators.features import category_text, is_missing, numeric_values

__all__ = ["CATEGORY_VALUES", "NUMBER_FORMAT", "ScoredTable", "category_texts", "insert_top"]

#: How a categorical reason's raw value is given back: the value as read ("raw": a number
#: stays a number) or the text it is matched by ("text").
CATEGORY_VALUES = ("raw", "text")
#: printf format of numeric reason values in text columns (6 significant digits).
NUMBER_FORMAT = "%.6g"


def insert_top(best: Sequence[np.ndarray], keys: np.ndarray) -> None:
    """Merge one column of keys into the running top-k columns ``best`` (in place).

    ``best[0] >= best[1] >= ...`` hold, per row, the largest keys seen so far; each new
    key sinks to its place by a max/min exchange per rank (2k vectorised operations), so
    the (rows, features) matrix of keys is never built. Keys must be distinct within a
    row for the order to be total (callers fold the feature index into the key).
    """
    carry = keys
    last = len(best) - 1
    for rank, column in enumerate(best):
        lower = np.minimum(column, carry) if rank < last else carry
        np.maximum(column, carry, out=column)
        carry = lower


@dataclass(frozen=True, eq=False)
class ScoredTable:
    """PD, score and top reasons of every row of a frame, from one pass over it.

    Attributes
    ----------
    index : pandas.Index
        The scored frame's index.
    pd : ndarray of float64, shape (n,)
        Probability of bad (the model's, unrounded).
    score : ndarray of int64, shape (n,)
    features : tuple of str
        The model's features; reason columns index into it.
    labels_zh, labels_en : tuple of str
        Each feature's label.
    kinds : tuple of str
        Each feature's kind ("numeric" or "categorical").
    reason_feature : ndarray of int64, shape (n, top)
        Feature index of the reason at each rank; -1 where the row has no reason at that
        rank (reasons fill the first ranks).
    reason_impact : ndarray of float64, shape (n, top)
        The reason's impact (``impact`` names it); NaN where there is no reason.
    impact : str
        "points_lost" (scorecard) or "contribution" (tree: the PD above the safer
        branches, see :meth:`TreeModel.reasons <custrisk.estimators.tree.TreeModel.reasons>`).
    frame : pandas.DataFrame
        The scored rows; reasons' raw values are read from it on demand.
    category_values : {"raw", "text"}
        How a categorical reason's value is given back (see :data:`CATEGORY_VALUES`).
    """

    index: Index
    pd: np.ndarray
    score: np.ndarray
    features: tuple[str, ...]
    labels_zh: tuple[str, ...]
    labels_en: tuple[str, ...]
    kinds: tuple[str, ...]
    reason_feature: np.ndarray
    reason_impact: np.ndarray
    impact: str
    frame: DataFrame = field(repr=False)
    category_values: str = "raw"
    _factorized: dict[int, tuple[np.ndarray, list[Any]]] = field(
        default_factory=dict, init=False, repr=False
    )
    #: Per rank: the reasons' feature indices as one contiguous array and the features
    #: among them (the codes, labels and values of a rank each read both).
    _ranked: dict[int, tuple[np.ndarray, list[int]]] = field(
        default_factory=dict, init=False, repr=False
    )

    def __len__(self) -> int:
        return int(self.pd.shape[0])

    @property
    def top(self) -> int:
        """Number of reason ranks."""
        return int(self.reason_feature.shape[1])

    # -- per-rank columns --------------------------------------------------------------

    def _rank(self, rank: int) -> np.ndarray:
        return self._ranked_of(rank)[0]

    def _ranked_of(self, rank: int) -> tuple[np.ndarray, list[int]]:
        """The feature index of every row's reason at ``rank`` and the features present."""
        if not 1 <= rank <= self.top:
            raise IndexError(f"rank must be in 1..{self.top}, got {rank}")
        found = self._ranked.get(rank)
        if found is None:
            column = np.ascontiguousarray(self.reason_feature[:, rank - 1])
            found = self._ranked[rank] = (column, self._present(column))
        return found

    def _present(self, column: np.ndarray) -> list[int]:
        counts = np.bincount(column + 1, minlength=len(self.features) + 1)[1:]
        return [int(j) for j in np.flatnonzero(counts)]

    def _categorical(self, rank: int, texts: Sequence[str]) -> Categorical[Any]:
        """``texts[feature]`` per row of the reasons at ``rank`` as a Categorical
        (categories sorted, as pandas makes them from the values), built from the feature
        indices: the codes made in the width pandas keeps them in, and not checked again."""
        column, present = self._ranked_of(rank)
        categories = sorted({texts[j] for j in present})
        position = {text: i for i, text in enumerate(categories)}
        width = next(t for t in (np.int8, np.int16, np.int32) if len(categories) < np.iinfo(t).max)
        lookup = np.full(len(self.features) + 1, -1, dtype=width)  # [-1] -> no reason
        for j in present:
            lookup[j] = position[texts[j]]
        dtype = pd.Categorical(np.asarray(categories, dtype=object)).dtype
        return pd.Categorical.from_codes(lookup[column], dtype=dtype, validate=False)

    def reason_codes(self, rank: int) -> Categorical[Any]:
        """The feature code of every row's reason at ``rank`` (1-based); NaN if none."""
        return self._categorical(rank, self.features)

    def reason_labels(self, rank: int, lang: str) -> Categorical[Any]:
        """The label (``lang`` "zh" or "en") of every row's reason at ``rank``."""
        texts = self.labels_zh if lang == "zh" else self.labels_en
        return self._categorical(rank, texts)

    def reason_impacts(self, rank: int) -> np.ndarray:
        """The impact of every row's reason at ``rank`` (NaN if none)."""
        self._rank(rank)
        return self.reason_impact[:, rank - 1]

    def reason_values(self, rank: int) -> np.ndarray:
        """Raw values of every row's reason at ``rank`` (object; None if missing or no
        reason): floats for numeric features, categories as ``category_values`` says."""
        return self._values(rank, text=False)

    def reason_texts(self, rank: int) -> np.ndarray:
        """The values as text (object): numbers to 6 significant digits, a category as
        is (a numeric-looking category as a number); None if missing or no reason."""
        return self._values(rank, text=True)

    def reason_text_column(self, rank: int) -> ExtensionArray | np.ndarray:
        """:meth:`reason_texts` as the column a frame makes of them: pandas text, built
        by Arrow from each feature's distinct texts (no Python text per row, nor the
        frame's conversion of 200,000 of them); the object array itself when they are not
        all text or missing, or all missing (the frame keeps such a column as objects)."""
        column, present = self._ranked_of(rank)
        texts: list[Any] = []
        at = np.full(column.shape[0], -1, dtype=np.int64)
        for j in present:
            rows = np.flatnonzero(column == j)
            if self.kinds[j] == "numeric":
                values = _numbers(self.frame[self.features[j]])[rows]
                known = np.flatnonzero(~np.isnan(values))
                codes, shown = _number_texts(values[known])
                rows = rows[known]
            else:
                codes, categories = self._categories(j)
                codes = codes[rows]
                shown = _as_text(categories) if categories else []
            at[rows] = np.where(codes >= 0, codes + len(texts), -1)
            texts.extend(shown)
        if not all(t is None or isinstance(t, str) for t in texts) or not (at >= 0).any():
            return self.reason_texts(rank)
        taken = pa.array(texts, type=pa.large_string()).take(pa.array(at, mask=at < 0))
        return pd.array(taken, dtype=pd.StringDtype("pyarrow", na_value=np.nan))

    def _values(self, rank: int, *, text: bool) -> np.ndarray:
        column, present = self._ranked_of(rank)
        out = np.full(column.shape[0], None, dtype=object)
        for j in present:
            rows = np.flatnonzero(column == j)
            self._fill_values(out, rows, j, rows, text=text)
        return out

    def _fill_values(
        self, out: np.ndarray, places: np.ndarray, j: int, rows: np.ndarray, *, text: bool
    ) -> None:
        """Write feature ``j``'s values of the frame's rows ``rows`` to ``out[places]``
        (missing values stay None)."""
        source = self.frame[self.features[j]]
        if self.kinds[j] == "numeric":
            values = _numbers(source)[rows]
            present = np.flatnonzero(~np.isnan(values))
            out[places[present]] = _number_objects(values[present], text=text)
            return
        codes, shown = self._categories(j)
        lookup = np.empty(len(shown) + 1, dtype=object)  # code -1 (missing) -> None
        lookup[: len(shown)] = _as_text(shown) if text and shown else shown
        lookup[-1] = None
        out[places] = lookup[codes[rows]]

    def _categories(self, j: int) -> tuple[np.ndarray, list[Any]]:
        """Codes of a categorical feature's column and its distinct values as shown
        (factorized once: the text of a category is made once, not per row)."""
        cached = self._factorized.get(j)
        if cached is None:
            codes, uniques = pd.factorize(self.frame[self.features[j]], use_na_sentinel=True)
            shown = [
                None if is_missing(u) else _category_value(u, self.category_values) for u in uniques
            ]
            cached = (np.asarray(codes), shown)
            self._factorized[j] = cached
        return cached

    # -- long form ---------------------------------------------------------------------

    def reason_positions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every reason as (row position, rank index 0.., feature index), row by row."""
        rows, ranks = np.nonzero(self.reason_feature >= 0)
        return rows, ranks, self.reason_feature[rows, ranks]

    def long_values(self, rows: np.ndarray, features: np.ndarray) -> np.ndarray:
        """Raw values (object) of the given (row position, feature index) pairs."""
        out = np.full(rows.shape[0], None, dtype=object)
        for j in np.unique(features).tolist():
            hit = np.flatnonzero(features == j)
            self._fill_values(out, hit, j, rows[hit], text=False)
        return out


def _numbers(column: pd.Series) -> np.ndarray:
    """float64 values of a column (missing as NaN), without a copy when already float."""
    if column.dtype == np.float64:
        return column.to_numpy()  # NaN is the only missing value of a NumPy float column
    return numeric_values(column)


def _number_objects(values: np.ndarray, *, text: bool) -> np.ndarray:
    """Numbers (none missing) as Python floats, or as text made once per distinct number
    (found by hashing, no sort; by bit pattern, as -0.0 and 0.0 print differently)."""
    if not text:
        return values.astype(object)
    codes, texts = _number_texts(values)
    shown = np.empty(len(texts), dtype=object)
    shown[:] = texts
    return shown[codes]


def _number_texts(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The code of each number (none missing) and the text of each code: each distinct
    number (by bit pattern, as -0.0 and 0.0 print differently) formatted once."""
    codes, bits = pd.factorize(values.view(np.int64))
    # Python's % on Python floats: a third of np.char.mod's time, the same text
    return codes, [NUMBER_FORMAT % x for x in np.asarray(bits).view(np.float64).tolist()]


def _category_value(value: Any, style: str) -> Any:
    if style == "text":
        return category_text(value)
    return value.item() if isinstance(value, np.generic) else value


def category_texts(values: list[Any]) -> list[Any]:
    """Categories as :meth:`ScoredTable.reason_texts` shows them (see :func:`_as_text`)."""
    return _as_text(values)


def _as_text(values: list[Any]) -> list[Any]:
    """Values as a text column shows them: what reads as a number, to 6 significant
    digits; anything else as is."""
    numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(
        dtype=np.float64
    )
    return [
        v if np.isnan(x) else NUMBER_FORMAT % x
        for v, x in zip(values, numbers.tolist(), strict=True)
    ]
