"""Brute-force checks of submodularity and of the Lovász extension on small ground sets (Chapter 6).

The Lovász Z-score loss rests on one theorem (Lovász 1983): the Lovász extension of a set function Δ with
Δ(∅) = 0 is convex **if and only if** Δ is submodular. lovasz-z-score-loss.txt proves (Appendix A) that its
Δ_Z is submodular; this module checks such claims by enumerating every subset of a ground set of p ≤ ~12
elements, so nothing is sampled and nothing is left out:

* :func:`subset_table` tabulates a set function on all 2^p subsets (bit k of the index = element k);
* :func:`verify_union_intersection` tests Eq. (2), Δ(A) + Δ(B) ≥ Δ(A ∪ B) + Δ(A ∩ B), for all 4^p pairs;
* :func:`verify_diminishing_returns` tests Eq. (3), Δ(A ∪ {i}) − Δ(A) ≤ Δ(B ∪ {i}) − Δ(B), for every
  B ⊆ A and i ∉ A (optionally only for i in a given set, e.g. the signal events: the paper's Case I);
* :func:`verify_convex_chords` tests convexity of a function on random chords;
* :func:`delta_s_over_sqrt_s_plus_b` is a significance-based set function that is *not* submodular -- the
  counterexample the chapter uses to show why the proof matters.

Import it as ``import hepsig_tutorial.submodular`` (the package ``__init__`` does not import it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._validate import integer, require

__all__ = [
    "Check",
    "all_subsets",
    "subset_table",
    "verify_union_intersection",
    "verify_diminishing_returns",
    "verify_convex_chords",
    "delta_s_over_sqrt_s_plus_b",
]

_MAX_P = 14


@dataclass(frozen=True)
class Check:
    """Result of a brute-force check: how many inequalities were tested, how many failed, the worst failure.

    ``worst`` is the largest amount by which an inequality is violated (≤ 0 when all hold; then it is minus the
    smallest slack). ``example`` describes the worst case (indices as bit masks).
    """

    checked: int
    violations: int
    worst: float
    example: tuple = ()

    @property
    def holds(self) -> bool:
        return self.violations == 0


def all_subsets(p: int) -> np.ndarray:
    """Boolean matrix (2^p, p): row k is the subset whose members are the set bits of k."""
    p = integer("p", p, minimum=1)
    require(p <= _MAX_P, f"p must be at most {_MAX_P} (2^p subsets), got {p}")
    idx = np.arange(2 ** p, dtype=np.int64)
    return ((idx[:, None] >> np.arange(p)) & 1).astype(bool)


def subset_table(set_function: Callable, p: int) -> np.ndarray:
    """Values of ``set_function`` on all 2^p subsets, indexed by bit mask.

    ``set_function`` takes the (2^p, p) boolean matrix of :func:`all_subsets` and returns 2^p values (e.g.
    :func:`~hepsig_tutorial.losses.lovasz.delta_z`, which accepts many masks at once).
    """
    require(callable(set_function), "set_function must be callable")
    values = np.asarray(set_function(all_subsets(p)), dtype=np.float64)
    require(values.shape == (2 ** p,), f"set_function returned shape {values.shape}, expected ({2 ** p},)")
    require(np.isfinite(values), "set_function returned NaN or inf")
    return values


def _table(values, rtol):
    """The table ``values`` of a set function, its p, and the absolute tolerance of its inequalities."""
    v = np.asarray(values, dtype=np.float64)
    require(v.ndim == 1 and v.size >= 2 and not v.size & (v.size - 1),
            f"values must be a table of length 2^p, got shape {v.shape}")
    return v, int(v.size).bit_length() - 1, rtol * max(1.0, float(np.abs(v).max()))


def _tally(batches) -> Check:
    """The :class:`Check` of batches ``(excess, tol, example)`` of inequalities: those with ``excess > tol``
    fail, and ``example(j)`` describes inequality j of its batch (the worst: the first largest excess)."""
    checked, violations, worst, example = 0, 0, -math.inf, ()
    for excess, tol, describe in batches:
        checked += excess.size
        violations += int((excess > tol).sum())
        j = int(np.argmax(excess))
        if excess[j] > worst:
            worst, example = float(excess[j]), describe(j)
    return Check(checked, violations, worst, example)


def verify_union_intersection(values, rtol: float = 1e-12, chunk: int = 1 << 20) -> Check:
    """Eq. (2): Δ(A) + Δ(B) ≥ Δ(A ∪ B) + Δ(A ∩ B) for **all** ordered pairs (A, B) of subsets (4^p checks)."""
    v, _, tol = _table(values, rtol)
    n = v.size

    def batches():   # the pairs k = (A, B) in chunks, A = k // n and B = k % n as bit masks
        for start in range(0, n * n, chunk):
            k = np.arange(start, min(start + chunk, n * n), dtype=np.int64)
            a, b = k // n, k % n
            yield (v[a | b] + v[a & b]) - (v[a] + v[b]), tol, lambda j, a=a, b=b: (int(a[j]), int(b[j]))

    return _tally(batches())


def verify_diminishing_returns(values, elements=None, rtol: float = 1e-12) -> Check:
    """Eq. (3): Δ(A ∪ {i}) − Δ(A) ≤ Δ(B ∪ {i}) − Δ(B) for every B ⊆ A and every i ∉ A.

    All pairs B ⊆ A are enumerated explicitly (3^p of them: each element is outside A, in A only, or in both).
    ``elements``: restrict i to these indices (e.g. the false negatives, the paper's Case I).
    """
    v, p, tol = _table(values, rtol)
    elements = range(p) if elements is None else [int(i) for i in elements]
    require(all(0 <= i < p for i in elements), f"elements must be indices in [0, {p})")
    # digits base 3: 0 = not in A, 1 = in A only, 2 = in A and B
    codes = np.arange(3 ** p, dtype=np.int64)
    a_mask, b_mask = np.zeros_like(codes), np.zeros_like(codes)
    for k in range(p):
        digit = codes // 3 ** k % 3
        a_mask |= (digit >= 1).astype(np.int64) << k
        b_mask |= (digit == 2).astype(np.int64) << k

    def batches():   # one per element i: the pairs B ⊆ A with i ∉ A
        for i in elements:
            bit = np.int64(1) << i
            sel = (a_mask & bit) == 0
            a, b = a_mask[sel], b_mask[sel]
            yield (v[a | bit] - v[a]) - (v[b | bit] - v[b]), tol, lambda j, a=a, b=b, i=i: (int(a[j]), int(b[j]), i)

    return _tally(batches())


def verify_convex_chords(function: Callable, points_a, points_b, n_t: int = 9, rtol: float = 1e-10) -> Check:
    """Convexity on chords: f(t·a + (1−t)·b) ≤ t·f(a) + (1−t)·f(b) for each pair of rows, t on a grid in (0, 1).

    ``function`` maps a vector to a float; ``points_a``, ``points_b`` are (n, p) arrays of chord end points.
    """
    require(callable(function), "function must be callable")
    pa, pb = np.asarray(points_a, dtype=np.float64), np.asarray(points_b, dtype=np.float64)
    require(pa.ndim == 2 and pa.shape == pb.shape,
            f"points_a and points_b must be (n, p) arrays of the same shape, got {pa.shape}, {pb.shape}")
    ts = np.linspace(0, 1, int(n_t) + 2)[1:-1]

    def batches():   # one per chord k: the points t of the grid
        for k, (a, b) in enumerate(zip(pa, pb)):
            fa, fb = float(function(a)), float(function(b))
            mid = np.array([float(function(t * a + (1 - t) * b)) for t in ts])
            yield mid - (ts * fa + (1 - ts) * fb), rtol * max(1.0, abs(fa), abs(fb)), lambda j, k=k: (k, float(ts[j]))

    return _tally(batches())


def delta_s_over_sqrt_s_plus_b(mispredicted, labels, weights, epsilon=None):
    """A set function like Δ_Z but built on s/√(s+b) -- **not** submodular (Chapter 6's counterexample).

    Δ'(M) = S/√(S + ε) − (S − FN(M))/√(S − FN(M) + ε + FP(M)), Δ'(∅) = 0, with the notation of
    :func:`~hepsig_tutorial.losses.lovasz.delta_z`. Because s/√(s+c) is strictly concave in s, the marginal cost of a
    false negative *grows* with the number of false negatives already made: diminishing returns fail. With two
    signal events of weight 1 and ε = S = 2: Δ'({1}) = Δ'({2}) = 1 − 1/√3 ≈ 0.423 and Δ'({1, 2}) = 1, so
    Δ'({1}) + Δ'({2}) ≈ 0.845 < Δ'({1, 2}) + Δ'(∅) = 1, violating Eq. (2); its Lovász extension at (½, ½) is
    0.5 > 0.423, the mean of its values at (1, 0) and (0, 1), so it is not convex.
    """
    from .losses.lovasz import _misprediction_yields, _resolve_epsilon, _target_weight

    y, w = _target_weight(labels, weights)
    fn, fp = _misprediction_yields(mispredicted, y, w)
    S = float(np.sum(w * y))
    eps = _resolve_epsilon(epsilon, S)
    out = S / math.sqrt(S + eps) - (S - fn) / np.sqrt(S - fn + eps + fp)
    return float(out) if np.ndim(out) == 0 else out
