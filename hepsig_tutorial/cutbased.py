"""The cut-based analysis of the Belle II-like toy (Chapter 2, ``sec-cut-based``), under the book's protocol.

* :func:`window_scan` -- :func:`hepsig_tutorial.metrics.cut_scan` of any score over the K mass windows of a
  :class:`~hepsig_tutorial.data.belle.BelleToy` (the per-mass Punzi sensitivity; also used for networks, Chapters 3-4);
* :func:`optimise_cuts` -- per mass, the rectangular cuts on the Table-1 features minimising σ_min (the
  cut-based baseline of punzi-loss.txt), :class:`CutResult`;
* :func:`apply_cuts` -- those cuts on an independent toy, with the same bootstrap replicates as a score scan.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import metrics
from ._validate import integer, require
from .data.belle import BelleToy
from .stats import punzi_sensitivity

__all__ = ["window_scan", "CutResult", "optimise_cuts", "apply_cuts"]


def window_scan(toy, scores=None, *, cuts=None, n_bootstrap=0, seed=0, n_cuts=201):
    """:func:`hepsig_tutorial.metrics.cut_scan` of ``scores`` over the K mass windows of ``toy``.

    Group k holds the events that count for hypothesis k (background in window k, signal of mass k in
    it), the floor rule is applied per background process (μμ(γ), ττ, eeμμ). Without ``scores`` the
    scan has one cut that keeps every event (the windows alone). Signal weights are 1/N_generated, so
    ``metrics.punzi_sigma_min(scan, luminosity=toy.luminosity)`` gives σ_min with ε including acceptance.
    """
    require(isinstance(toy, BelleToy), "toy must be a BelleToy")
    if scores is None:
        scores, cuts = np.zeros(len(toy)), np.array([-np.inf])
    return metrics.cut_scan(scores, toy.y, toy.w, process=toy.process, cuts=cuts,
                               groups=toy.window_groups(), n_bootstrap=n_bootstrap, seed=seed, n_cuts=n_cuts)


@dataclass
class CutResult:
    """Per-mass optimum of a rectangular-cut scan (:func:`optimise_cuts`).

    lower, upper : (K, F) cut values (−inf / +inf where a feature is not cut); an event passes
    hypothesis k if lower[k] ≤ x < upper[k] for every feature. ``sigma_min`` (K,): σ_min at the optimum on
    the sample it was chosen on (:func:`apply_cuts` on that sample gives the same σ_min, with ε, B and the
    simulated background events behind it).
    """

    masses: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    sigma_min: np.ndarray

    def passes(self, toy, k):
        """(N,) bool: the events of ``toy`` that pass the cuts of hypothesis ``k`` (window not applied)."""
        x = toy.x.astype(np.float64)
        return np.all((x >= self.lower[k]) & (x < self.upper[k]), axis=1)


_DEFAULT_LEVELS = (0.01, 0.03, 0.07, 0.15, 0.3, 0.5, 0.7, 0.85, 0.93, 0.97, 0.99)


def optimise_cuts(toy, levels=_DEFAULT_LEVELS, a=3.0, b=1.28, features=None, min_background_events=None):
    """Cut-based baseline: per mass, the rectangular cuts on the Table-1 features minimising σ_min.

    For every mass hypothesis k a full grid scan over one-sided cuts is made: on each feature
    either no cut, a lower cut x ≥ t or an upper cut x < t, with thresholds t at the quantiles
    ``levels`` of that mass's signal inside its window (11 levels → 23 options per feature,
    23⁴ ≈ 280 000 selections per mass, computed at once from 4D histograms with cumulative sums).
    σ_min is punzi-loss.txt Eq. 9 with ε and B of Eqs. 10-11 restricted to window k, and B follows the
    book's rule for simulated backgrounds that run out (``sec-conventions``): each process contributes
    ``max(b_p, 1.14·w̄_p)`` (:data:`hepsig_tutorial.metrics.FLOOR_EVENTS` times its mean event weight in
    ``toy``), and only selections that keep at least ``min_background_events`` simulated background
    events (default :data:`hepsig_tutorial.metrics.MIN_BACKGROUND_EVENTS`) can be chosen.

    Optimise on a training half and evaluate with :func:`apply_cuts` on an independent half: a scan
    over 280 000 selections finds the places where the simulated background happens to be thin.

    Returns
    -------
    CutResult
    """
    require(isinstance(toy, BelleToy), "toy must be a BelleToy")
    levels = np.sort(np.asarray(levels, float))
    require(levels.ndim == 1 and len(levels) > 0 and np.all((levels > 0) & (levels < 1)),
            "levels must be a non-empty sequence of quantiles in (0, 1)")
    feats = list(range(toy.x.shape[1])) if features is None else [int(f) for f in features]
    require(feats and all(0 <= f < toy.x.shape[1] for f in feats),
            f"features must be column indices in [0, {toy.x.shape[1]})")
    n_min = integer("min_background_events",
                    metrics.MIN_BACKGROUND_EVENTS if min_background_events is None else min_background_events)
    procs = np.unique(toy.process[toy.y == 0])
    floor = np.array([metrics.FLOOR_EVENTS * toy.w[toy.process == p].mean() for p in procs])
    K, T = len(toy.masses), len(levels)
    nb = T + 1
    # option matrix per axis: rows = [no cut, lower at t_1..t_T, upper at t_1..t_T]; columns = bins
    above = np.arange(nb)[None, :] >= np.arange(1, T + 1)[:, None]
    opt = np.vstack([np.ones(nb), above, ~above]).astype(np.float64)
    x_all = toy.x.astype(np.float64)
    lower = np.full((K, x_all.shape[1]), -np.inf)
    upper = -lower
    best = np.full(K, np.inf)

    def grid(idx, weights, sel):
        h = np.bincount(idx[sel], weights=None if weights is None else weights[sel],
                        minlength=nb ** len(feats)).astype(np.float64).reshape((nb,) * len(feats))
        for _ in feats:  # contract each axis with the option matrix (axes rotate)
            h = np.tensordot(h, opt, axes=([0], [1]))
        return h.ravel()

    for k in range(K):
        rows = np.flatnonzero(toy.window_column(k))
        x, w, proc, sig = x_all[rows][:, feats], toy.w[rows], toy.process[rows], toy.y[rows] == 1
        if not sig.any():
            continue
        thr = np.quantile(x[sig], levels, axis=0)  # (T, F)
        idx = np.ravel_multi_index([np.searchsorted(thr[:, j], x[:, j], side="right") for j in range(len(feats))],
                                   (nb,) * len(feats))  # the event's cell of the grid of thresholds
        s_grid = grid(idx, w, sig)
        b_floored = sum(np.maximum(grid(idx, w, proc == p), f) for p, f in zip(procs, floor))
        n_grid = grid(idx, None, ~sig)
        ok = (s_grid > 0) & (n_grid >= n_min)
        require(np.any(ok), f"min_background_events: no selection of mass {toy.masses[k]:g} GeV keeps "
                f"{n_min} simulated background events")
        sig_grid = np.full(len(s_grid), np.inf)
        sig_grid[ok] = punzi_sensitivity(np.minimum(s_grid[ok], 1.0), b_floored[ok], a=a, b=b,
                                         luminosity=toy.luminosity)
        i = int(np.argmin(sig_grid))
        best[k] = sig_grid[i]
        for col, (j, c) in enumerate(zip(feats, np.unravel_index(i, (len(opt),) * len(feats)))):
            if 1 <= c <= T:
                lower[k, j] = thr[c - 1, col]
            elif c > T:
                upper[k, j] = thr[c - 1 - T, col]
    return CutResult(masses=toy.masses.copy(), lower=lower, upper=upper, sigma_min=best)


def apply_cuts(toy, cuts, *, n_bootstrap=0, seed=0):
    """The per-mass cuts of a :class:`CutResult` on a toy, as a :class:`hepsig_tutorial.metrics.CutScan`.

    The scan has K groups (the windows) and one threshold: group k holds window k and the selection
    of hypothesis k is its own rectangular cut. Yields, the floor rule and the Poisson-bootstrap
    replicates are those of :func:`hepsig_tutorial.metrics.cut_scan` on the full arrays of ``toy`` with
    ``seed``, so a network scanned on the same toy with the same seed sees the *same* replicates (paired
    MC errors). Use ``metrics.punzi_sigma_min(scan, luminosity=toy.luminosity)`` and
    ``metrics.at_cut(..., 0)`` for σ_min per mass.
    """
    require(isinstance(toy, BelleToy) and isinstance(cuts, CutResult), "apply_cuts needs a BelleToy and a CutResult")
    require(len(cuts.masses) == len(toy.masses) and np.allclose(cuts.masses, toy.masses),
            "cuts: the mass hypotheses differ from the toy's")
    # one scan per window k, its score: the event passes the cuts of hypothesis k
    parts = [metrics.cut_scan(cuts.passes(toy, k).astype(np.float64), toy.y, toy.w, process=toy.process, cuts=[0.5],
                              groups=[idx], n_bootstrap=n_bootstrap, seed=seed)
             for k, idx in enumerate(toy.window_groups())]
    # the K one-group scans share cuts, floor and processes; their group axes (0, or 1 behind replicates) join
    stacked = {name: np.concatenate([getattr(p, name) for p in parts], axis=int(name.startswith("boot")))
               for name in ("s", "b_process", "n_background", "boot_s", "boot_b_process")
               if getattr(parts[0], name) is not None}
    return replace(parts[0], **stacked)
