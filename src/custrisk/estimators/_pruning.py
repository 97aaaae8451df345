"""Minimal cost-complexity pruning over a scikit-learn tree's arrays.

Pure functions over ``children_left``, ``children_right`` and each node's cost as a leaf
(its weighted impurity): the effective alphas of weakest-link pruning, and the optimal
subtree for an alpha, so that a fold grows one tree and prunes it for every candidate.
Node ids follow scikit-learn: a child's id is larger than its parent's.
"""

from __future__ import annotations

import numpy as np

__all__ = ["n_leaves", "prune_map", "pruning_alphas", "reachable"]


def prune_map(left: np.ndarray, right: np.ndarray, cost: np.ndarray, alpha: float) -> np.ndarray:
    """For each node, the node that is its leaf in the optimal subtree for ``alpha``.

    ``cost`` is the node's weighted impurity as a leaf (impurity * weight share). A node
    is pruned when its cost + alpha is no more than its best subtree's cost (ties prune:
    the smallest optimal subtree, as weakest-link pruning gives).
    """
    n = left.size
    best = np.zeros(n)
    pruned = np.zeros(n, dtype=bool)
    # children have larger ids than their parent in scikit-learn trees
    for node in range(n - 1, -1, -1):
        if left[node] == -1:
            best[node] = cost[node] + alpha
            pruned[node] = True
            continue
        subtree = best[left[node]] + best[right[node]]
        if cost[node] + alpha <= subtree:
            best[node] = cost[node] + alpha
            pruned[node] = True
        else:
            best[node] = subtree
    leaf_of = np.arange(n)
    for node in range(n):  # parents come before their children
        if left[node] == -1:
            continue
        if leaf_of[node] != node:
            inherited = leaf_of[node]  # an ancestor was pruned
        elif pruned[node]:
            inherited = node
        else:
            continue
        leaf_of[left[node]] = inherited
        leaf_of[right[node]] = inherited
    return leaf_of


def pruning_alphas(left: np.ndarray, right: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """The effective alphas of weakest-link pruning, from the full tree to its root.

    At each step the internal nodes whose pruning costs the least impurity per leaf
    removed, ``g(t) = (R(t) - R(subtree)) / (leaves(subtree) - 1)``, are pruned.
    """
    n = left.size
    pruned = left == -1
    alphas = [0.0]
    while not pruned[0]:
        sub_cost = np.where(pruned, cost, 0.0)
        leaves = pruned.astype(np.int64)
        for node in range(n - 1, -1, -1):
            if not pruned[node]:
                sub_cost[node] = sub_cost[left[node]] + sub_cost[right[node]]
                leaves[node] = leaves[left[node]] + leaves[right[node]]
        internal = np.flatnonzero(~pruned & reachable(left, right, pruned))
        gain = (cost[internal] - sub_cost[internal]) / (leaves[internal] - 1)
        weakest = gain.min()
        pruned[internal[gain <= weakest + 1e-15]] = True
        alphas.append(max(float(weakest), alphas[-1]))
    return np.asarray(alphas)


def reachable(left: np.ndarray, right: np.ndarray, pruned: np.ndarray) -> np.ndarray:
    """Nodes still in the tree (no pruned strict ancestor)."""
    reach = np.zeros(left.size, dtype=bool)
    reach[0] = True
    for node in range(left.size):
        if reach[node] and not pruned[node] and left[node] != -1:
            reach[left[node]] = True
            reach[right[node]] = True
    return reach


def n_leaves(left: np.ndarray, right: np.ndarray, cost: np.ndarray, alpha: float) -> int:
    """Leaves of the optimal subtree for ``alpha``."""
    leaf_of = prune_map(left, right, cost, alpha)
    return int(np.unique(leaf_of[left == -1]).size)
