"""Grade migration between two runs: who moved from which grade to which."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from custrisk.errors import DataError

#: Row of the customers that are new in the current run.
NEW = "new"
#: Column of the customers of the previous run that are gone from the current one.
DEPARTED = "departed"
RATE_DECIMALS = 4


@dataclass(frozen=True)
class Migration:
    """A grade migration matrix.

    Attributes
    ----------
    counts : pandas.DataFrame
        Customers per previous grade (rows, then ``new``) and current grade (columns,
        then ``departed``).
    rates : pandas.DataFrame
        ``counts`` divided by its row sums (NaN for an empty row).
    grades : tuple of str
        The rows and columns besides ``new`` and ``departed``: the policy's grades, best
        first, then any other grade found in the data.
    ranked : tuple of str
        The grades whose order defines an upgrade or a downgrade (the policy's).
    """

    counts: pd.DataFrame
    rates: pd.DataFrame
    grades: tuple[str, ...]
    ranked: tuple[str, ...]

    def _matrix(self) -> np.ndarray:
        return self.counts.to_numpy(dtype=np.int64)

    @property
    def stayed(self) -> int:
        """Customers in the same grade in both runs."""
        size = len(self.grades)
        return int(np.trace(self._matrix()[:size, :size]))

    def _moves(self, sign: int) -> int:
        matrix = self._matrix()
        where = [self.grades.index(g) for g in self.ranked]
        ranked = matrix[np.ix_(where, where)]
        steps = np.subtract.outer(np.arange(len(where)), np.arange(len(where)))
        return int(ranked[steps * sign < 0].sum())

    @property
    def downgraded(self) -> int:
        """Customers now in a riskier grade than before."""
        return self._moves(+1)

    @property
    def upgraded(self) -> int:
        """Customers now in a better grade than before."""
        return self._moves(-1)

    def table_rows(self) -> list[tuple[str, list[tuple[int, float]]]]:
        """The matrix row by row, for a table: each previous grade (then ``new``) with
        the customers and their row share in each current grade (then ``departed``)."""
        counts = self.counts.to_numpy(dtype=np.int64)
        rates = self.rates.to_numpy(dtype=np.float64)
        return [
            (str(row), [(int(c), float(r)) for c, r in zip(counts[i], rates[i], strict=True)])
            for i, row in enumerate(self.counts.index)
        ]

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists of lists, ``None`` for an empty row's rates)."""
        rates = [
            [None if np.isnan(v) else round(float(v), RATE_DECIMALS) for v in row]
            for row in self.rates.to_numpy(dtype=np.float64)
        ]
        return {
            "rows": [str(r) for r in self.counts.index],
            "columns": [str(c) for c in self.counts.columns],
            "counts": self.counts.to_numpy(dtype=np.int64).tolist(),
            "rates": rates,
            "stayed": self.stayed,
            "upgraded": self.upgraded,
            "downgraded": self.downgraded,
            "new": int(self._matrix()[-1].sum()),
            "departed": int(self._matrix()[:, -1].sum()),
        }


def _grades_by_customer(frame: pd.DataFrame | pd.Series, which: str) -> pd.Series:
    if isinstance(frame, pd.Series):
        series = frame
    else:
        missing = [c for c in ("customer_id", "grade") if c not in frame.columns]
        if missing:
            raise DataError(
                f"the {which} table lacks the column(s) {', '.join(missing)}",
                hint="pass a scores table with customer_id and grade",
            )
        series = pd.Series(frame["grade"].to_numpy(), index=frame["customer_id"].astype("str"))
    series = series.astype("str")
    if series.index.has_duplicates:
        dup = series.index[series.index.duplicated()][0]
        raise DataError(f"the {which} table holds customer {dup!r} more than once")
    return series


def migration_matrix(
    prev: pd.DataFrame | pd.Series,
    curr: pd.DataFrame | pd.Series,
    grades: Sequence[str] | None = None,
) -> Migration:
    """Count the customers that moved from each grade to each other grade.

    Parameters
    ----------
    prev, curr : pandas.DataFrame or pandas.Series
        The previous and the current run: frames with ``customer_id`` and ``grade``, or
        Series of grades indexed by customer id. A missing grade counts as the grade
        ``"nan"``.
    grades : sequence of str, optional
        Grade codes, best first (the policy's). Grades found in the data but not listed
        follow, sorted. Default: the grades found, sorted.

    Returns
    -------
    Migration
        Rows are previous grades and ``new``; columns current grades and ``departed``.

    Examples
    --------
    >>> import pandas as pd
    >>> prev = pd.Series(["A", "B"], index=["1", "2"])
    >>> curr = pd.Series(["B", "B"], index=["1", "3"])
    >>> migration_matrix(prev, curr, ["A", "B"]).counts.loc["A", "B"]
    np.int64(1)
    """
    before = _grades_by_customer(prev, "previous")
    after = _grades_by_customer(curr, "current")
    listed = list(grades) if grades is not None else []
    found = sorted((set(before) | set(after)) - set(listed))
    order = listed + found
    index = pd.Index([*order, NEW], name="previous")
    columns = pd.Index([*order, DEPARTED], name="current")
    position = {grade: i for i, grade in enumerate(order)}
    size = len(order)
    matrix = np.zeros((size + 1, size + 1), dtype=np.int64)
    both = before.index.intersection(after.index, sort=False)
    rows = before.loc[both].map(position).to_numpy(dtype=np.int64)
    cols = after.loc[both].map(position).to_numpy(dtype=np.int64)
    np.add.at(matrix, (rows, cols), 1)
    new = after.loc[after.index.difference(before.index, sort=False)]
    new_cols = new.map(position).to_numpy(dtype=np.int64)
    np.add.at(matrix, (np.full(len(new_cols), size), new_cols), 1)
    gone = before.loc[before.index.difference(after.index, sort=False)]
    gone_rows = gone.map(position).to_numpy(dtype=np.int64)
    np.add.at(matrix, (gone_rows, np.full(len(gone_rows), size)), 1)
    counts = pd.DataFrame(matrix, index=index, columns=columns)
    return _migration(counts, order, listed)


def combine_migrations(
    parts: Sequence[Migration], grades: Sequence[str] | None = None
) -> Migration:
    """The migration matrix of customers taken part by part (each customer, of either
    run, in one part only) from the parts' matrices: the one :func:`migration_matrix`
    gives over the whole. ``grades`` as there."""
    listed = list(grades) if grades is not None else []
    found = sorted({g for part in parts for g in part.grades} - set(listed))
    order = listed + found
    index = pd.Index([*order, NEW], name="previous")
    columns = pd.Index([*order, DEPARTED], name="current")
    matrix = np.zeros((len(index), len(columns)), dtype=np.int64)
    for part in parts:
        matrix += part.counts.reindex(index=index, columns=columns, fill_value=0).to_numpy(
            dtype=np.int64
        )
    return _migration(pd.DataFrame(matrix, index=index, columns=columns), order, listed)


def _migration(counts: pd.DataFrame, order: list[str], listed: list[str]) -> Migration:
    totals = counts.sum(axis=1).to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = counts.to_numpy(dtype=np.float64) / totals[:, None]
    rates = pd.DataFrame(values, index=counts.index, columns=counts.columns)
    return Migration(counts, rates, tuple(order), tuple(listed or order))
