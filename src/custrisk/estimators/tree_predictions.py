"""What a fitted tree does with rows: encode them, route them to leaves, PD, score, reasons.

:class:`TreePredictions` holds the predictions of a fitted
:class:`~custrisk.estimators.tree.TreeModel` on its fitted attributes (the encoding, the
pruned tree, the node PDs and their changes along the paths): a batch encoded and routed
once (PD, score and the top reasons per leaf, looked up per row; Saabas contributions)
and one customer scored from a dict without pandas. The tree inherits it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.validation import check_is_fitted

from custrisk.errors import DataError
from custrisk.estimators._validation import check_columns, check_frame, check_int, list_some
from custrisk.estimators.features import (
    MISSING,
    OTHER,
    FeatureSpec,
    category_text,
    is_missing,
    numeric_values,
)
from custrisk.estimators.scaling import Scaling
from custrisk.estimators.scored import ScoredTable

__all__ = ["CONTRIBUTION_REASON_COLUMNS", "MISSING", "OTHER", "TreePredictions"]

CONTRIBUTION_REASON_COLUMNS = (
    "row",
    "rank",
    "code",
    "label_zh",
    "label_en",
    "value",
    "contribution",
)


class TreePredictions:
    """Encoding, routing, PD, score and reasons from a fitted tree's attributes."""

    features_: list[str]
    specs_: dict[str, FeatureSpec]
    encoded_features_: list[str]
    encoded_source_: list[str]
    medians_: dict[str, float]
    grids_: dict[str, np.ndarray]
    missing_indicators_: dict[str, bool]
    category_codes_: dict[str, dict[str, int]]
    tree_model_: DecisionTreeClassifier
    node_pd_: np.ndarray
    node_parent_: np.ndarray
    _delta: np.ndarray
    scaling_: Scaling

    # -- encoding --------------------------------------------------------------------

    def encode(self, X: pd.DataFrame) -> np.ndarray:
        """The float64 matrix the tree sees (columns ``encoded_features_``)."""
        check_is_fitted(self, "tree_model_")
        return self._encode(X)

    def _encode(self, X: pd.DataFrame, *, for_tree: bool = False) -> np.ndarray:
        """The encoded matrix: float64, or with ``for_tree`` a float32 matrix the tree
        routes exactly as the float32 copy of the float64 one, column-major so that each
        column is written in one contiguous pass. For the tree, a column snapped to a
        quantile grid is not snapped (a binary search per value) but replaced by a value
        that sits on the same side of each of the tree's thresholds on that column
        (:meth:`_split_values`)."""
        X = check_frame(X)
        check_columns(X, self.features_)
        out = np.empty(
            (X.shape[0], len(self.encoded_features_)),
            dtype=np.float32 if for_tree else np.float64,
            order="F" if for_tree else "C",
        )
        j = 0
        for code, spec in self.specs_.items():
            if spec.kind == "numeric":
                values = numeric_values(X[code])
                missing = np.isnan(values)
                values[missing] = self.medians_[code]
                grid = self.grids_[code]
                if grid.size and for_tree:
                    bounds, shown = self._split_values()[j]
                    above = np.maximum(values, grid[0])  # below the grid: its first point
                    count = np.zeros(values.shape, dtype=np.int16)
                    for bound in bounds.tolist():
                        count += above >= bound
                    values = shown[count]
                elif grid.size:
                    values = grid[np.maximum(np.searchsorted(grid, values, side="right") - 1, 0)]
                out[:, j] = values
                j += 1
                if self.missing_indicators_[code]:
                    out[:, j] = missing
                    j += 1
                continue
            mapping = self.category_codes_[code]
            factor_codes, uniques = pd.factorize(X[code], use_na_sentinel=True)
            lookup = np.fromiter(
                (mapping.get(category_text(u), mapping[OTHER]) for u in uniques),
                dtype=np.float64,
                count=len(uniques),
            )
            lookup = np.append(lookup, mapping[MISSING])
            out[:, j] = lookup[factor_codes]
            j += 1
        return out

    def _split_values(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Per grid-snapped encoded column: the bounds and values that route a value as
        its snapped value would.

        A value ``v`` snaps to ``s(v)``, the largest grid point at or below it (the first
        point below the grid); the tree compares ``float32(s(v)) <= t``. With ``u(t)`` the
        least grid point whose float32 exceeds ``t``, ``float32(s(v)) > t`` exactly when
        ``max(v, grid[0]) >= u(t)``. Counting the bounds ``u(t)`` of the column's sorted
        thresholds that a value reaches gives ``c``, and ``float32(u(t_c))`` (the first
        grid point for ``c = 0``) lies on the same side of every threshold as
        ``float32(s(v))``.
        """
        cached = self.__dict__.get("_splits")
        if cached is not None:
            return cached
        tree = self.tree_model_.tree_
        internal = tree.children_left != -1
        cached = {}
        for j, (column, source) in enumerate(
            zip(self.encoded_features_, self.encoded_source_, strict=True)
        ):
            grid = self.grids_.get(source, np.empty(0))
            if column != source or not grid.size:
                continue
            thresholds = np.unique(tree.threshold[internal & (tree.feature == j)])
            points = grid.astype(np.float32).astype(np.float64)
            first = np.searchsorted(points, thresholds, side="right")
            reached = first < grid.size  # no grid point above t: never (NaN compares false)
            bounds = np.where(reached, grid[np.minimum(first, grid.size - 1)], np.nan)
            # c = 0: the grid's first point (at or below every threshold whenever a value
            # can reach no bound); unreached bounds are never counted (any finite value)
            shown = np.concatenate([points[:1], points[np.minimum(first, grid.size - 1)]])
            cached[j] = (bounds, shown.astype(np.float32))
        self.__dict__["_splits"] = cached
        return cached

    def _grid_lists(self) -> dict[str, list[float]]:
        cached = self.__dict__.get("_grid_cache")
        if cached is None:
            cached = {code: grid.tolist() for code, grid in self.grids_.items()}
            self.__dict__["_grid_cache"] = cached
        return cached

    def _encode_one(self, values: Mapping[str, Any]) -> list[float]:
        row: list[float] = []
        grids = self._grid_lists()
        for code, spec in self.specs_.items():
            value = values[code]
            if spec.kind == "numeric":
                missing = is_missing(value)
                if not missing:
                    try:
                        number = float(value)
                    except (TypeError, ValueError):
                        raise DataError(
                            f"the numeric feature got {value!r}, which is not a number",
                            column=code,
                        ) from None
                    missing = math.isnan(number)
                number = self.medians_[code] if missing else number
                grid = grids[code]
                if grid:
                    number = grid[max(bisect.bisect_right(grid, number) - 1, 0)]
                row.append(number)
                if self.missing_indicators_[code]:
                    row.append(1.0 if missing else 0.0)
                continue
            mapping = self.category_codes_[code]
            if is_missing(value):
                row.append(float(mapping[MISSING]))
            else:
                row.append(float(mapping.get(category_text(value), mapping[OTHER])))
        # the tree compares float32 values, as scikit-learn does
        return [float(v) for v in np.asarray(row, dtype=np.float32)]

    # -- predicting ------------------------------------------------------------------

    def _leaves(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "tree_model_")
        return self.tree_model_.apply(self._encode(X, for_tree=True))

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of bad per row: the smoothed PD of the row's leaf."""
        leaves = self._leaves(X)  # first: NotFittedError before any fitted attribute
        return self.node_pd_[leaves]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities ``[P(good), P(bad)]`` per row."""
        pd_bad = self.predict_pd(X)
        return np.column_stack([1.0 - pd_bad, pd_bad])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 (bad) where PD >= 0.5, else 0."""
        return (self.predict_pd(X) >= 0.5).astype(np.int64)

    def predict_score(self, X: pd.DataFrame) -> np.ndarray:
        """Integer score per row from the leaf PD through the scaling."""
        return np.round(self.scaling_.score_from_pd(self.predict_pd(X))).astype(np.int64)

    def _node_contributions(self) -> np.ndarray:
        """Saabas contributions of the path to every node, ``(n_nodes, n_features)``.

        A row's contributions depend only on its leaf: node ``k`` holds its parent's
        row plus its own change of PD, summed root first (the order in which the
        decision path adds them up).
        """
        delta = self._delta
        cumulative = np.zeros_like(delta)
        for node in range(1, delta.shape[0]):  # a parent's id is below its children's
            cumulative[node] = cumulative[self.node_parent_[node]] + delta[node]
        return cumulative

    def _node_excess(self) -> np.ndarray:
        """PD above the safer branch along the path to every node, ``(n_nodes, n_features)``.

        At each split the branch taken is compared with the split's lower-PD branch: the
        difference (0 when the safer branch was taken) goes to the split's feature, and
        node ``k`` holds its parent's row plus its own difference, summed root first (the
        order in which :meth:`score_one` adds them up). Computed from the stored tree, so
        a model saved before this rule gets it too.
        """
        tree = self.tree_model_.tree_
        left, right = tree.children_left, tree.children_right
        position = {code: i for i, code in enumerate(self.features_)}
        excess = np.zeros((tree.node_count, len(self.features_)))
        pd_node = self.node_pd_
        for node in range(1, tree.node_count):  # a parent's id is below its children's
            up = self.node_parent_[node]
            sibling = right[up] if left[up] == node else left[up]
            excess[node] = excess[up]
            j = position[self.encoded_source_[tree.feature[up]]]
            excess[node, j] += max(pd_node[node] - pd_node[sibling], 0.0)
        return excess

    def _leaf_plan(self, top: int) -> dict[str, np.ndarray]:
        """Score and top reasons of every node, for :meth:`score_table` (cached)."""
        plans = self.__dict__.setdefault("_plans", {})
        plan = plans.get(top)
        if plan is not None:
            return plan
        excess = self._node_excess()
        n_nodes, m = excess.shape
        # stable sort on -excess: ties keep the feature order
        order = np.argsort(-excess, axis=1, kind="stable")[:, :top]
        values = np.take_along_axis(excess, order, axis=1)
        positive = values > 0
        feature = np.full((n_nodes, top), -1, dtype=np.int64)
        impact = np.full((n_nodes, top), np.nan)
        feature[:, : order.shape[1]] = np.where(positive, order, -1)
        impact[:, : order.shape[1]] = np.where(positive, values, np.nan)
        plan = {
            "score": np.round(self.scaling_.score_from_pd(self.node_pd_)).astype(np.int64),
            "feature": feature,
            "impact": impact,
        }
        plans[top] = plan
        return plan

    def score_table(self, X: pd.DataFrame, top: int = 3) -> ScoredTable:
        """PD, score and the top reasons of every row from one pass down the tree.

        Every row is encoded and routed once; its PD, score and reasons (the features
        whose splits on the path sent it furthest above the safer branch, summed per
        feature, ties in feature order: :meth:`_node_excess`) are those of its leaf,
        computed once per leaf and looked up per row.
        """
        top = check_int(self, "top", top, low=1)
        leaves = self._leaves(X)
        plan = self._leaf_plan(top)
        return ScoredTable(
            index=X.index,
            pd=self.node_pd_[leaves],
            score=plan["score"][leaves],
            features=tuple(self.features_),
            labels_zh=tuple(self.specs_[c].label_zh for c in self.features_),
            labels_en=tuple(self.specs_[c].label_en for c in self.features_),
            kinds=tuple(self.specs_[c].kind for c in self.features_),
            reason_feature=plan["feature"][leaves],
            reason_impact=plan["impact"][leaves],
            impact="contribution",
            frame=X,
            category_values="text",
        )

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Saabas contributions to PD per row and feature (positive = riskier).

        ``bias_ + contributions.sum(axis=1)`` equals :meth:`predict_pd` (up to float
        rounding).
        """
        leaves = self._leaves(X)
        contrib = self.__dict__.get("_contrib")
        if contrib is None:
            contrib = self.__dict__["_contrib"] = self._node_contributions()
        values = contrib[leaves]
        return pd.DataFrame(values, columns=list(self.features_), index=X.index)

    def reasons(self, X: pd.DataFrame, top: int = 3) -> pd.DataFrame:
        """The top reasons per row: at each split on the row's path, the PD of the branch
        taken minus the PD of the split's safer (lower-PD) branch, summed per feature; the
        largest positive sums are the reasons.

        Returns
        -------
        pandas.DataFrame
            Long format: row (``X``'s index label), rank, code, label_zh, label_en,
            value (raw; None if missing), contribution (that sum: the PD above the safer
            branches, not the Saabas contribution :meth:`contributions` gives). Ties keep
            the feature order; a row that took the safer branch at every split has no
            reasons.
        """
        table = self.score_table(X, top=top)
        rows, ranks, cols = table.reason_positions()
        codes = np.asarray(self.features_, dtype=object)[cols]
        return pd.DataFrame(
            {
                "row": X.index.to_numpy()[rows],
                "rank": ranks.astype(np.int64) + 1,
                "code": codes,
                "label_zh": [self.specs_[c].label_zh for c in codes],
                "label_en": [self.specs_[c].label_en for c in codes],
                "value": pd.Series(table.long_values(rows, cols), dtype=object),
                "contribution": table.reason_impact[rows, ranks],
            },
            columns=list(CONTRIBUTION_REASON_COLUMNS),
        )

    # -- single customer -------------------------------------------------------------

    def _compiled_tree(self) -> tuple[list[int], list[int], list[int], list[float], list[float]]:
        compiled = self.__dict__.get("_compiled")
        if compiled is None:
            tree = self.tree_model_.tree_
            compiled = (
                tree.children_left.tolist(),
                tree.children_right.tolist(),
                tree.feature.tolist(),
                tree.threshold.tolist(),
                self.node_pd_.tolist(),
            )
            self.__dict__["_compiled"] = compiled
        return compiled

    def score_one(self, values: Mapping[str, Any], top: int = 3) -> dict[str, Any]:
        """Score one customer from a dict of raw feature values, without pandas.

        Returns
        -------
        dict
            ``pd`` (float), ``score`` (int), ``reasons`` (list of dicts with code,
            label_zh, label_en, value, contribution), as the batch methods give.
        """
        check_is_fitted(self, "tree_model_")
        absent = [code for code in self.features_ if code not in values]
        if absent:
            raise DataError(
                f"values lacks {len(absent)} feature(s) the model uses: {list_some(absent)}",
                hint="pass None for a missing value",
            )
        row = self._encode_one(values)
        left, right, feature, threshold, node_pd = self._compiled_tree()
        source = self.encoded_source_
        excess: dict[str, float] = {}
        node = 0
        while left[node] != -1:
            f = feature[node]
            if row[f] <= threshold[node]:
                child, other = left[node], right[node]
            else:
                child, other = right[node], left[node]
            code = source[f]
            excess[code] = excess.get(code, 0.0) + max(node_pd[child] - node_pd[other], 0.0)
            node = child
        position = {code: i for i, code in enumerate(self.features_)}
        ranked = sorted(
            ((c, v) for c, v in excess.items() if v > 0), key=lambda cv: (-cv[1], position[cv[0]])
        )
        reasons = []
        for code, value in ranked[:top]:
            spec = self.specs_[code]
            raw = values[code]
            if is_missing(raw):
                shown: Any = None
            elif spec.kind == "numeric":
                shown = float(raw)
            else:
                shown = category_text(raw)
            reasons.append(
                {
                    "code": code,
                    "label_zh": spec.label_zh,
                    "label_en": spec.label_en,
                    "value": shown,
                    "contribution": value,
                }
            )
        pd_bad = node_pd[node]
        score = int(np.round(self.scaling_.score_from_pd(pd_bad)))
        return {"pd": pd_bad, "score": score, "reasons": reasons}
