"""Exact TreeSHAP for small trees by table look-up instead of LightGBM's per-row walk.

Reasons need every field's TreeSHAP contribution (``pred_contrib``) summed over the
features of the field, but LightGBM recomputes each tree's Shapley values from scratch
for every row: ``O(leaves · depth²)`` path bookkeeping per tree, plus per-call set-up.
The stages leadscore trains are many *small* trees (``num_leaves`` 3 by default, 7 for
flat exports), and a small tree's path-dependent TreeSHAP values depend on a row only
through which way the row goes at each of the tree's splits: with ``m`` splits there are
``2 ** m`` such *patterns* (4 for a 3-leaf tree). So the values are computed once per tree
and pattern, when the table is built, and a row's contributions are a look-up per tree:
compare the row to every split (vectorised over trees and rows), turn the tree's
comparisons into a pattern number, gather that pattern's values and add them up per
feature.

This is not an approximation. Path-dependent TreeSHAP (what ``pred_contrib`` computes)
is the exact Shapley value of the game ``v(S) = Σ_leaves value · Π_{j∈S} o_j · Π_{j∉S} z_j``,
where for each leaf ``o_j`` is 1 if the row satisfies every split on feature ``j`` on
the leaf's path and ``z_j`` is the share of the training rows (LightGBM's ``count``) that
went that way at those splits. The table holds those Shapley values, computed from that
definition by summing over the subsets of the tree's features; the row decision is
LightGBM's own (``Tree::NumericalDecision`` / ``CategoricalDecision``: missing values,
``default_left``, zero as missing, category bitsets). The two agree to rounding
(``tests/unit/test_shap_tables.py``; ``bench/topk_bench.py`` records the largest
difference and how often the top reasons differ).

Trees with more than :data:`MAX_SPLITS` splits (``2 ** splits`` patterns each) or
models this does not cover (multiclass, linear trees) raise :class:`TablesUnavailable`,
and the scorer falls back to each stage's ``pred_contrib``
(:meth:`scoring.model.LeadScorer.contributions`, which also sends one row of a small
model to LightGBM: :data:`SINGLE_ROW_MIN_WORK`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np

__all__ = ["MAX_SPLITS", "SINGLE_ROW_MIN_WORK", "ShapTables", "TablesUnavailable"]

MAX_SPLITS = 6
"""Largest number of splits per tree the tables are built for: 64 patterns per tree (a
``num_leaves`` 7 tree). Building a tree's table costs ``2 ** (2 · splits)`` products, so
bigger trees would make loading slow for little gain: they take the exact fallback."""

SINGLE_ROW_MIN_WORK = 2_000
"""Below this much TreeSHAP work (:attr:`ShapTables.path_work`) one row is cheaper through
LightGBM's single-row ``pred_contrib`` (:mod:`scoring.rowpredict`) than through the
tables, whose dozen numpy calls cost about as much as ~200 three-leaf trees (work 9
each) walked in C: measured 2026-12-06 on this project's 2-core machine, with the first
n trees of a 20,000-lead synthetic stage, one row at a time (tables 50-60 µs whatever
n; LightGBM 6 µs at 10 trees, 49 µs at 200, 146 µs at 369, load average 19). Batches
always take the tables."""

_ZERO = 1e-35  # LightGBM's kZeroThreshold: |x| at most this counts as zero


class TablesUnavailable(ValueError):
    """The booster has trees or settings the tables do not cover; says which."""


Split = tuple[int, float, frozenset[int] | None, bool, str]
"""A split's definition: feature, threshold, categories going left (categorical splits),
``default_left`` and missing type. Splits with equal definitions send every row the
same way, wherever they are."""


@dataclass(frozen=True)
class _Tree:
    """One tree in the flat form the table builder needs."""

    splits: list[Split]  # in split_index order
    leaf_values: list[float]
    paths: list[list[tuple[int, bool, float]]]  # per leaf: (split, went left, count share)

    def canonical(self) -> _Tree:
        """The same tree with its splits numbered in sorted order, so trees made of the
        same splits share a pattern numbering and their tables can simply be added."""
        order = sorted(range(len(self.splits)), key=lambda k: _split_key(self.splits[k]))
        rank = {k: r for r, k in enumerate(order)}
        return _Tree(
            splits=[self.splits[k] for k in order],
            leaf_values=self.leaf_values,
            paths=[[(rank[k], left, share) for k, left, share in path] for path in self.paths],
        )


def _split_key(split: Split) -> tuple[int, float, tuple[int, ...], bool, str]:
    feature, threshold, categories, default_left, missing = split
    return feature, threshold, tuple(sorted(categories or ())), default_left, missing


def _flatten(structure: dict[str, Any]) -> _Tree:
    nodes: dict[int, dict[str, Any]] = {}
    leaf_values: list[float] = []
    paths: list[list[tuple[int, bool, float]]] = []

    def walk(node: dict[str, Any], path: list[tuple[int, bool, float]]) -> None:
        if "split_index" not in node:
            if "leaf_coeff" in node:
                raise TablesUnavailable("linear trees (leaf_coeff) are not covered")
            leaf_values.append(float(node["leaf_value"]))
            paths.append(path)
            return
        k = int(node["split_index"])
        nodes[k] = node
        count = float(node["internal_count"])
        for child, left in ((node["left_child"], True), (node["right_child"], False)):
            child_count = float(child.get("internal_count", child.get("leaf_count", 0)))
            share = child_count / count if count > 0 else 0.0
            walk(child, [*path, (k, left, share)])

    walk(structure, [])
    if sorted(nodes) != list(range(len(nodes))):
        raise TablesUnavailable("split indices are not 0..m-1")
    return _Tree([_split(nodes[k]) for k in range(len(nodes))], leaf_values, paths)


def _split(node: dict[str, Any]) -> Split:
    common = (bool(node["default_left"]), str(node["missing_type"]))
    if common[1] not in ("None", "Zero", "NaN"):
        raise TablesUnavailable(f"unknown missing type {common[1]!r}")
    feature = int(node["split_feature"])
    if node["decision_type"] == "==":
        categories = frozenset(int(c) for c in str(node["threshold"]).split("||"))
        return feature, 0.0, categories, *common
    if node["decision_type"] == "<=":
        return feature, float(node["threshold"]), None, *common
    raise TablesUnavailable(f"unknown decision type {node['decision_type']!r}")


_CHUNK = 32
"""Trees of one shape tabulated together: bounds the ``(trees, patterns, subsets, leaves)``
scratch array (a few MB for 7-leaf trees)."""


def _tree_tables(trees: Sequence[_Tree]) -> list[tuple[np.ndarray, list[int], float]]:
    """Per tree: Shapley values per pattern, ``(2 ** splits, distinct features)``; those
    features in column order; the tree's expected value ``v(∅)``.

    Pattern bit ``k`` is 1 when the row goes left at split ``k``. ``v(S)`` is evaluated for
    every pattern and every subset ``S`` of the tree's features at once, and each
    feature's Shapley value is the weighted sum of its marginal contributions. Trees of
    the same shape (splits, distinct features, leaves) are computed together in numpy.
    """
    out: list[tuple[np.ndarray, list[int], float]] = [(np.zeros(0), [], 0.0)] * len(trees)
    shapes: dict[tuple[int, int, int], list[int]] = {}
    for i, tree in enumerate(trees):
        f = len({split[0] for split in tree.splits})
        shapes.setdefault((len(tree.splits), f, len(tree.leaf_values)), []).append(i)
    for (m, f, n_leaves), members in shapes.items():
        for start in range(0, len(members), _CHUNK):
            chunk = members[start : start + _CHUNK]
            results = _same_shape([trees[i] for i in chunk], m, f, n_leaves)
            for i, result in zip(chunk, results, strict=True):
                out[i] = result
    return out


def _same_shape(
    trees: Sequence[_Tree], m: int, f: int, n_leaves: int
) -> list[tuple[np.ndarray, list[int], float]]:
    n_patterns, n_subsets = 1 << m, 1 << f
    bits = (np.arange(n_patterns)[:, None] >> np.arange(m)[None, :]) & 1  # (P, m)
    follows = np.ones((len(trees), n_patterns, n_leaves, f))  # o: the path's splits on j hold
    shares = np.ones((len(trees), n_leaves, f))  # z: the training share going that way on j
    features: list[list[int]] = []
    for t, tree in enumerate(trees):
        feats = list(dict.fromkeys(split[0] for split in tree.splits))
        features.append(feats)
        column = {feat: j for j, feat in enumerate(feats)}
        for leaf, path in enumerate(tree.paths):
            for k, left, share in path:
                j = column[tree.splits[k][0]]
                follows[t, :, leaf, j] *= bits[:, k] == int(left)
                shares[t, leaf, j] *= share
    subsets = (np.arange(n_subsets)[:, None] >> np.arange(f)[None, :]) & 1  # (2^f, f)
    product = np.ones((len(trees), n_patterns, n_subsets, n_leaves))
    for j in range(f):
        inside = subsets[None, None, :, None, j] == 1
        product *= np.where(inside, follows[:, :, None, :, j], shares[:, None, None, :, j])
    leaf_values = np.array([tree.leaf_values for tree in trees])
    values = np.einsum("tpsl,tl->tps", product, leaf_values)  # v(S)
    sizes = subsets.sum(axis=1)
    weight = np.array([math.factorial(s) * math.factorial(f - s - 1) for s in range(f)])
    table = np.zeros((len(trees), n_patterns, f))
    for j in range(f):
        without = np.flatnonzero(subsets[:, j] == 0)
        marginal = values[:, :, without | (1 << j)] - values[:, :, without]
        table[:, :, j] = marginal @ (weight[sizes[without]] / math.factorial(f))
    return [(table[t], features[t], float(values[t, 0, 0])) for t in range(len(trees))]


@dataclass(frozen=True)
class _Slot:
    """Where the ``s``-th feature of every tree group adds its value.

    ``groups`` lists the groups that have an ``s``-th feature, ordered by that feature;
    ``starts`` is where each run of one feature begins in that order, ``features`` the
    feature of each run: a gather and one ``np.add.reduceat`` sum a slot per feature.
    """

    groups: np.ndarray
    identity: bool  # groups is 0..n_groups-1: no gather needed
    table: np.ndarray  # (Σ 2 ** splits,) this slot's value per group and pattern
    starts: np.ndarray
    features: np.ndarray


@dataclass(frozen=True)
class ShapTables:
    """Binary LightGBM boosters' TreeSHAP values, tabulated per tree and pattern.

    Built from one booster or several on the same features (a scorer's stages, whose
    contributions are added up anyway); trees made of the same splits are merged (their
    tables added), and each distinct split is compared once per row. :meth:`contributions`
    returns the sum of ``booster.predict(matrix, pred_contrib=True)`` over the boosters
    (one column per feature, the expected value last), up to rounding.
    """

    n_features: int
    split_feature: np.ndarray  # (splits,) one entry per distinct split
    threshold: np.ndarray  # numerical splits' thresholds (NaN on categorical ones)
    nan_left: np.ndarray  # where a missing value goes
    zero_split: np.ndarray  # numerical splits whose missing type is "Zero"
    zero_left: np.ndarray  # where zero goes on those
    categorical: np.ndarray  # categorical splits
    category_left: np.ndarray  # (categorical splits · width,): the code goes left
    category_start: np.ndarray  # where each categorical split's codes start in it
    category_width: int  # codes per categorical split (the largest listed + 1)
    group_split: np.ndarray  # (n_splits, groups) distinct split per bit, padding: last
    offset: np.ndarray  # (groups,) first entry of each group's block in the slot tables
    slots: tuple[_Slot, ...]
    expected_value: float
    path_work: int
    """What LightGBM's TreeSHAP does per row for these trees: the sum over leaves of the
    squared depth (its cost is ``O(leaves · depth²)`` per tree)."""

    @classmethod
    def from_boosters(cls, boosters: Sequence[lgb.Booster]) -> ShapTables:
        """Build the tables, or raise :class:`TablesUnavailable` saying why not."""
        n_features = {b.num_feature() for b in boosters}
        if len(n_features) != 1:
            raise TablesUnavailable("the boosters do not share one feature matrix")
        trees: list[_Tree] = []
        expected = 0.0
        for booster in boosters:
            dump = booster.dump_model()
            if int(dump.get("num_tree_per_iteration", 1)) != 1:
                raise TablesUnavailable("only single-output (binary) boosters are covered")
            for info in dump["tree_info"]:
                tree = _flatten(info["tree_structure"])
                if len(tree.splits) > MAX_SPLITS:
                    raise TablesUnavailable(
                        f"a tree has {len(tree.splits)} splits, more than {MAX_SPLITS}"
                    )
                if tree.splits:
                    trees.append(tree.canonical())
                else:  # a single leaf: only the expected value
                    expected += tree.leaf_values[0]
        groups: dict[tuple[Split, ...], tuple[np.ndarray, list[int]]] = {}
        for tree, (table, features, base) in zip(trees, _tree_tables(trees), strict=True):
            expected += base
            key = tuple(tree.splits)
            if key in groups:
                table = groups[key][0] + table
            groups[key] = (table, features)
        work = sum(len(path) ** 2 for tree in trees for path in tree.paths)
        return cls._pack(n_features.pop(), groups, expected, work)

    @classmethod
    def _pack(
        cls,
        n_features: int,
        groups: dict[tuple[Split, ...], tuple[np.ndarray, list[int]]],
        expected: float,
        work: int,
    ) -> ShapTables:
        # groups ordered by their first feature: slot 0 needs no reordering
        items = sorted(groups.items(), key=lambda item: item[1][1][0])
        splits = list(dict.fromkeys(s for key, _ in items for s in key))
        index = {s: i for i, s in enumerate(splits)}
        m = max((len(key) for key, _ in items), default=1)
        group_split = np.full((m, len(items)), len(splits), dtype=np.intp)
        sizes = np.array([table.shape[0] for _, (table, _) in items], dtype=np.intp)
        offset = np.cumsum(sizes) - sizes
        for g, (key, _) in enumerate(items):
            group_split[: len(key), g] = [index[s] for s in key]
        n_slots = max((len(feats) for _, (_, feats) in items), default=0)
        slots = []
        for s in range(n_slots):
            members = [g for g, (_, (_, feats)) in enumerate(items) if len(feats) > s]
            members.sort(key=lambda g: items[g][1][1][s])
            flat = np.zeros(int(sizes.sum()))
            for g, (_, (table, feats)) in enumerate(items):
                if len(feats) > s:
                    flat[offset[g] : offset[g] + sizes[g]] = table[:, s]
            feats_s = np.array([items[g][1][1][s] for g in members], dtype=np.intp)
            starts = np.flatnonzero(np.r_[True, feats_s[1:] != feats_s[:-1]])
            slots.append(
                _Slot(
                    groups=np.array(members, dtype=np.intp),
                    identity=members == list(range(len(items))),
                    table=flat,
                    starts=starts,
                    features=feats_s[starts],
                )
            )
        categorical = [i for i, s in enumerate(splits) if s[2] is not None]
        width = max((max(splits[i][2] or {0}) + 1 for i in categorical), default=1)
        category_left = np.zeros((len(categorical), width), dtype=bool)
        for row, i in enumerate(categorical):
            category_left[row, sorted(splits[i][2] or ())] = True
        # one more split at the end for the padding bits of smaller trees: x <= NaN and
        # nan_left False send every row right, so the bit is always 0
        threshold = np.array([np.nan if s[2] is not None else s[1] for s in splits] + [np.nan])
        # NaN is read as 0 unless the missing type is NaN (then it takes the default side);
        # with missing type Zero that 0 is itself missing: the default side again
        nan_left = np.array(
            [s[3] if s[4] != "None" else (s[2] is None and s[1] >= 0.0) for s in splits] + [False],
            dtype=bool,
        )
        nan_left[categorical] = False  # a missing category goes right
        zero = [i for i, s in enumerate(splits) if s[2] is None and s[4] == "Zero"]
        return cls(
            n_features=n_features,
            split_feature=np.array([s[0] for s in splits] + [0], dtype=np.intp),
            threshold=threshold,
            nan_left=nan_left,
            zero_split=np.array(zero, dtype=np.intp),
            zero_left=np.array([splits[i][3] for i in zero], dtype=bool),
            categorical=np.array(categorical, dtype=np.intp),
            category_left=category_left.ravel(),
            category_start=np.arange(len(categorical), dtype=np.intp) * width,
            category_width=width,
            group_split=group_split,
            offset=offset,
            slots=tuple(slots),
            expected_value=expected,
            path_work=work,
        )

    @property
    def n_groups(self) -> int:
        """Trees left after merging those made of the same splits."""
        return int(self.offset.size)

    def _goes_left(self, matrix: np.ndarray) -> np.ndarray:
        """LightGBM's decision at every distinct split for every row, the padding split
        (always ``False``) last: ``(rows, splits + 1)``."""
        x = matrix[:, self.split_feature]
        missing = np.isnan(x)
        with np.errstate(invalid="ignore"):
            left = x <= self.threshold
        left = np.where(missing, self.nan_left, left)
        if self.zero_split.size:
            zero = np.abs(x[:, self.zero_split]) <= _ZERO
            left[:, self.zero_split] = np.where(zero, self.zero_left, left[:, self.zero_split])
        if self.categorical.size:
            codes = x[:, self.categorical]
            with np.errstate(invalid="ignore"):  # NaN fails both comparisons: goes right
                usable = (codes >= 0) & (codes < self.category_width)
            idx = np.where(usable, codes, 0).astype(np.intp)  # LightGBM truncates to int
            left[:, self.categorical] = usable & self.category_left[self.category_start + idx]
        return left

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Per-feature TreeSHAP values and the expected value, ``pred_contrib``'s layout."""
        matrix = np.asarray(matrix, dtype=np.float64)
        left = self._goes_left(matrix).view(np.uint8)
        index = self.offset + left[:, self.group_split[0]]
        for k in range(1, self.group_split.shape[0]):
            index += left[:, self.group_split[k]].astype(np.intp) << k
        out = np.zeros((matrix.shape[0], self.n_features + 1))
        for slot in self.slots:
            chosen = index if slot.identity else index[:, slot.groups]
            out[:, slot.features] += np.add.reduceat(slot.table[chosen], slot.starts, axis=1)
        out[:, self.n_features] = self.expected_value
        return out
