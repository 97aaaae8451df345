"""Optimal binning: the partition of ordered pre-bins into bins of the highest IV.

Pure functions over per-pre-bin counts. A binning groups adjacent pre-bins; its
information value is a sum over bins, so the best binning under constraints on single
bins (least rows, goods and bads) and on adjacent pairs (the bad-rate trend, a
significant difference) is found exactly by dynamic programming over "the last bin
covers pre-bins i .. j-1": with ``n`` pre-bins there are ``n (n + 1) / 2`` bins and
``O(n^3)`` transitions, a few thousand for the default 20 pre-bins, done in NumPy.

Trends of the bad rate as the value grows: ``increasing``, ``decreasing``, ``peak``
(rises then falls), ``valley`` (falls then rises) or ``None`` (no constraint). Adjacent
bins of a trend differ strictly in bad rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TRENDS = ("increasing", "decreasing", "peak", "valley")
_NEG = -np.inf


@dataclass(frozen=True)
class Partition:
    """A binning of the pre-bins: ``starts[b]`` is the first pre-bin of bin ``b``."""

    starts: tuple[int, ...]
    iv: float
    trend: str | None

    @property
    def n_bins(self) -> int:
        return len(self.starts)


@dataclass(frozen=True)
class Constraints:
    """What every bin and every pair of adjacent bins must satisfy.

    ``min_count``, ``min_goods``, ``min_bads`` bound single bins; adjacent bins must have
    a chi-square statistic of at least ``pair_threshold`` (0: no test). ``max_bins``
    caps the number of bins; ``min_iv_gain``: a bin is added only when it raises the IV
    by at least this much.
    """

    min_count: float = 0.0
    min_goods: float = 0.0
    min_bads: float = 0.0
    max_bins: int = 10
    pair_threshold: float = 0.0
    min_iv_gain: float = 0.0
    smoothing: float = 0.5


def _interval_tables(
    counts: np.ndarray, bads: np.ndarray, total_goods: float, total_bads: float, cons: Constraints
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per candidate bin [i, j): rows, bads, bad rate, IV contribution, feasibility."""
    cum_n = np.concatenate([[0.0], np.cumsum(counts)])
    cum_b = np.concatenate([[0.0], np.cumsum(bads)])
    n_rows = cum_n[np.newaxis, :] - cum_n[:, np.newaxis]
    n_bads = cum_b[np.newaxis, :] - cum_b[:, np.newaxis]
    n_goods = n_rows - n_bads
    upper = np.triu(np.ones(n_rows.shape, dtype=bool), k=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n_rows > 0, n_bads / n_rows, 0.0)
        pure = (n_goods <= 0) | (n_bads <= 0)
        add = np.where(pure, cons.smoothing, 0.0)
        good_share = (n_goods + add) / total_goods
        bad_share = (n_bads + add) / total_bads
        woe = np.log(good_share / bad_share)
        iv = (n_goods / total_goods - n_bads / total_bads) * woe
    iv = np.where(upper & (n_rows > 0), iv, 0.0)
    feasible = (
        upper
        & (n_rows > 0)
        & (n_rows >= cons.min_count)
        & (n_goods >= cons.min_goods)
        & (n_bads >= cons.min_bads)
    )
    return n_rows, n_bads, rate, iv, feasible


def _pair_chi2(n1: np.ndarray, b1: np.ndarray, n2: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """Chi-square statistic of the 2x2 tables of two adjacent bins (broadcast)."""
    g1, g2 = n1 - b1, n2 - b2
    total, bads, goods = n1 + n2, b1 + b2, g1 + g2
    denominator = n1 * n2 * bads * goods
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = total * (b1 * g2 - b2 * g1) ** 2 / denominator
    return np.where(denominator > 0, stat, 0.0)


def _choose_count(values: list[float], cons: Constraints) -> int | None:
    """Index (number of bins - 1) of the chosen solution among the best per bin count.

    More bins are taken only when they raise the IV by more than ``min_iv_gain``.
    """
    chosen: int | None = None
    for c, value in enumerate(values):
        if not math.isfinite(value):
            continue
        if chosen is None:
            chosen = c
            continue
        gain = value - values[chosen]
        if gain > max(cons.min_iv_gain, 1e-12 * max(1.0, abs(values[chosen]))):
            chosen = c
    return chosen


class Problem:
    """The candidate bins and transitions of one feature's pre-bins, shared by all trends."""

    def __init__(
        self,
        counts: np.ndarray,
        bads: np.ndarray,
        total_goods: float,
        total_bads: float,
        cons: Constraints,
    ) -> None:
        self.cons = cons
        self.n = n = int(counts.size)
        n_rows, n_bads, rate, iv, feasible = _interval_tables(
            counts, bads, total_goods, total_bads, cons
        )
        self.iv = iv
        self.feasible = feasible
        # transitions k < i < j: bin [i, j) after bin [k, i), both feasible
        left_i, left_j = np.nonzero(feasible)
        by_end: dict[int, np.ndarray] = {}
        for i in range(1, n):
            by_end[i] = left_i[left_j == i]
        ks, is_, js = [], [], []
        for i in range(1, n):
            firsts = by_end[i]
            if firsts.size == 0:
                continue
            ends = np.flatnonzero(feasible[i])
            if ends.size == 0:
                continue
            ks.append(np.tile(firsts, ends.size))
            is_.append(np.full(firsts.size * ends.size, i))
            js.append(np.repeat(ends, firsts.size))
        if ks:
            k = np.concatenate(ks)
            i_arr = np.concatenate(is_)
            j = np.concatenate(js)
        else:
            k = i_arr = j = np.empty(0, dtype=np.int64)
        # grouped by (i, j), k ascending within a group
        self.k, self.i, self.j = k, i_arr, j
        prev_rate, next_rate = rate[k, i_arr], rate[i_arr, j]
        self.rises = prev_rate < next_rate
        self.falls = prev_rate > next_rate
        self.pair_ok = np.ones(k.size, dtype=bool)
        if cons.pair_threshold > 0 and k.size:
            stat = _pair_chi2(
                n_rows[k, i_arr], n_bads[k, i_arr], n_rows[i_arr, j], n_bads[i_arr, j]
            )
            self.pair_ok = stat >= cons.pair_threshold

    def solve(self, trend: str | None) -> Partition | None:
        """The highest-IV binning for one trend, or None if no binning is feasible.

        Ties go to fewer bins, then to the earliest cuts.
        """
        if self.n == 0:
            return None
        if trend in ("peak", "valley"):
            rise, fall = _Moves(self, self.rises), _Moves(self, self.falls)
            first, second = (rise, fall) if trend == "peak" else (fall, rise)
            return self._two_phase(first, second, trend)
        if trend == "increasing":
            mask = self.rises
        elif trend == "decreasing":
            mask = self.falls
        else:
            mask = self.rises | self.falls
        return self._one_phase(_Moves(self, mask), trend)

    def _first_layer(self) -> np.ndarray:
        size = self.n + 1
        layer = np.full((size, size), _NEG)
        layer[0, :] = np.where(self.feasible[0, :], self.iv[0, :], _NEG)
        return layer

    def _one_phase(self, moves: _Moves, trend: str | None) -> Partition | None:
        n = self.n
        layers = [self._first_layer()]
        for _ in range(1, min(self.cons.max_bins, n)):
            layer = moves.step(layers[-1], self.iv)
            if layer is None:
                break
            layers.append(layer)
        ends = [float(layer[:, n].max()) for layer in layers]
        c = _choose_count(ends, self.cons)
        if c is None:
            return None
        i_start, j_end = int(np.argmax(layers[c][:, n])), n
        starts = [i_start]
        for level in range(c, 0, -1):
            k = moves.best_k(layers[level - 1], i_start, j_end)
            j_end, i_start = i_start, k
            starts.append(i_start)
        starts.reverse()
        return Partition(tuple(starts), ends[c], trend)

    def _two_phase(self, first: _Moves, second: _Moves, trend: str) -> Partition | None:
        """Peak (rise then fall) or valley (fall then rise): before and after the turn."""
        n = self.n
        size = n + 1
        before = [self._first_layer()]
        after = [np.full((size, size), _NEG)]
        for _ in range(1, min(self.cons.max_bins, n)):
            new_before = first.step(before[-1], self.iv)
            from_before = second.step(before[-1], self.iv)
            from_after = second.step(after[-1], self.iv)
            if new_before is None and from_before is None and from_after is None:
                break
            empty = np.full((size, size), _NEG)
            new_after = np.maximum(
                empty if from_before is None else from_before,
                empty if from_after is None else from_after,
            )
            before.append(empty if new_before is None else new_before)
            after.append(new_after)
        ends = [
            max(float(b[:, n].max()), float(a[:, n].max()))
            for b, a in zip(before, after, strict=True)
        ]
        c = _choose_count(ends, self.cons)
        if c is None:
            return None
        turned = float(after[c][:, n].max()) > float(before[c][:, n].max())
        i_start = int(np.argmax((after if turned else before)[c][:, n]))
        j_end = n
        starts = [i_start]
        for level in range(c, 0, -1):
            if turned:
                k_after, v_after = second.best(after[level - 1], i_start, j_end)
                k_before, v_before = second.best(before[level - 1], i_start, j_end)
                if v_after > v_before:
                    k = k_after
                else:
                    k, turned = k_before, False
            else:
                k = first.best_k(before[level - 1], i_start, j_end)
            j_end, i_start = i_start, k
            starts.append(i_start)
        starts.reverse()
        return Partition(tuple(starts), ends[c], trend)


class _Moves:
    """The allowed transitions of one trend, grouped by the next bin (i, j)."""

    def __init__(self, problem: Problem, mask: np.ndarray) -> None:
        keep = mask & problem.pair_ok
        self.k = problem.k[keep]
        self.i = problem.i[keep]
        self.j = problem.j[keep]
        size = problem.n + 1
        group = self.i * size + self.j
        if group.size:
            change = np.flatnonzero(np.diff(group)) + 1
            self.starts = np.concatenate([[0], change])
            self.gi = self.i[self.starts]
            self.gj = self.j[self.starts]
        else:
            self.starts = np.empty(0, dtype=np.int64)
            self.gi = self.gj = self.starts
        self.size = size
        self.group = group
        self.flat_prev = self.k * size + self.i
        self.flat_next = self.gi * size + self.gj

    def step(self, previous: np.ndarray, iv: np.ndarray) -> np.ndarray | None:
        """The next layer: best previous value over allowed k, plus the bin's IV."""
        if self.k.size == 0:
            return None
        best = np.maximum.reduceat(previous.ravel()[self.flat_prev], self.starts)
        finite = np.isfinite(best)
        if not finite.any():
            return None
        layer = np.full(self.size * self.size, _NEG)
        cells = self.flat_next[finite]
        layer[cells] = iv.ravel()[cells] + best[finite]
        return layer.reshape(self.size, self.size)

    def best(self, previous: np.ndarray, i: int, j: int) -> tuple[int, float]:
        """The k (smallest on ties) of the best allowed transition into bin [i, j)."""
        hit = self.group == i * self.size + j
        ks = self.k[hit]
        if ks.size == 0:
            return -1, _NEG
        values = previous[ks, i]
        at = int(np.argmax(values))
        return int(ks[at]), float(values[at])

    def best_k(self, previous: np.ndarray, i: int, j: int) -> int:
        return self.best(previous, i, j)[0]


def optimal_partition(
    counts: np.ndarray,
    bads: np.ndarray,
    total_goods: float,
    total_bads: float,
    cons: Constraints,
    trend: str | None,
) -> Partition | None:
    """The highest-IV binning of the pre-bins for one trend (see :class:`Problem`)."""
    return Problem(counts, bads, total_goods, total_bads, cons).solve(trend)


def log_likelihood(counts: np.ndarray, bads: np.ndarray, starts: tuple[int, ...]) -> float:
    """Binomial log-likelihood of the bad flag with one bad rate per bin."""
    edges = [*starts, counts.size]
    total = 0.0
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        n = float(counts[a:b].sum())
        k = float(bads[a:b].sum())
        for part in (k, n - k):
            if part > 0:
                total += part * math.log(part / n)
    return total


def is_monotone(counts: np.ndarray, bads: np.ndarray, starts: tuple[int, ...]) -> bool:
    """Whether the bins' bad rates only rise or only fall."""
    edges = [*starts, counts.size]
    rates = [
        float(bads[a:b].sum()) / float(counts[a:b].sum())
        for a, b in zip(edges[:-1], edges[1:], strict=True)
    ]
    steps = np.sign(np.diff(rates))
    return bool((steps >= 0).all() or (steps <= 0).all())
