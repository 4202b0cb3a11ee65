"""Figures of Chapter 8 (``sec-capstone``): every loss on the same problems."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from ..stats import asimov_significance

__all__ = ["plot_capstone_summary", "plot_z_vs_efficiency", "CAPSTONE_METRICS"]

#: Metrics of the summary figure: (key, label, larger_is_better).
CAPSTONE_METRICS = (("z_a_0", "Z_A, σ_b/b = 0", True), ("z_a_0.1", "Z_A, σ_b/b = 0.1", True),
                    ("z_a_0.5", "Z_A, σ_b/b = 0.5", True), ("mu_min", "σ_min (Punzi)", False))
_MARKERS = ("o", "s", "^", "D", "v", "P")


def _labels():
    from ..compare import METHOD_LABELS
    return METHOD_LABELS


def plot_capstone_summary(comparisons, verdicts=None, metrics=CAPSTONE_METRICS, baseline="bce", ncols=None,
                          level: float = 0.95):
    """One panel per problem: each method's paired difference to ``baseline``, relative to the baseline.

    Parameters
    ----------
    comparisons : dict name → :class:`hepsig_tutorial.compare.Comparison` (or a list of them)
    verdicts : list of :class:`hepsig_tutorial.compare.Verdict`, optional
        Points whose test Holm's procedure rejects are drawn filled, the others open.
    metrics : sequence of (key, label, larger_is_better)
        For σ_min (smaller is better) the sign is flipped, so that > 0 always means "better than the baseline".
    level : float
        Error bars: the ``level`` interval of the paired difference (seed spread ⊕ MC error of the test sample,
        Student t at the Welch-Satterthwaite degrees of freedom), divided by the baseline's mean.

    Markers differ per metric, so the figure reads in greyscale. Returns the figure.
    """
    from ..compare import paired

    comps = list(comparisons.values()) if isinstance(comparisons, dict) else list(comparisons)
    if not comps:
        raise ValueError("comparisons must not be empty")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    decided = {(v.problem, v.metric, v.method): v.reject for v in (verdicts or [])}
    n = len(comps)
    ncols = min(n, 3) if ncols is None else int(ncols)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 3.5 * nrows), squeeze=False, sharey=False)
    labels = _labels()
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, comp in zip(axes.flat, comps):
        base = comp.row(baseline)
        methods = [r.method for r in comp.summary if r.method != baseline]
        xs = np.arange(len(methods))
        for j, (key, label, better) in enumerate(metrics):
            off = (j - (len(metrics) - 1) / 2) * 0.16
            ref = abs(base.mean[key])
            sgn = 1.0 if better else -1.0
            for i, m in enumerate(methods):
                d = paired(comp, m, comp, baseline, key)
                lo, hi = d.interval(level)
                y, ylo, yhi = sgn * d.value / ref, min(sgn * lo, sgn * hi) / ref, max(sgn * lo, sgn * hi) / ref
                filled = decided.get((comp.problem, key, m), False)
                ax.errorbar(xs[i] + off, y, yerr=[[y - ylo], [yhi - y]], fmt=_MARKERS[j % len(_MARKERS)],
                            color=colors[j % len(colors)], mfc=colors[j % len(colors)] if filled else "white",
                            ms=5, capsize=2, lw=1, label=label if i == 0 else None)
        ax.axhline(0.0, color="0.3", lw=1, ls="--")
        ax.set_xticks(xs)
        ax.set_xticklabels([labels.get(m, m) for m in methods], rotation=30, ha="right", fontsize=8)
        ax.set_title(comp.problem, fontsize=10)
        ax.set_ylabel(f"(method − {labels.get(baseline, baseline)}) / {labels.get(baseline, baseline)}\n"
                      "(> 0: better)", fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, loc="best")
    return fig


def plot_z_vs_efficiency(comparison=None, sigma_b_rel=0.1, seed_index=0, ax=None):
    """Test-sample Z_A versus signal efficiency for every method of one problem (one seed).

    Each curve is a scan of the cut on that method's score, drawn only where the cut keeps enough simulated
    background events for the book's rule: the maximum is the best Z_A, and how fast the curve falls around it
    is how much a mis-placed cut costs (the ``cut_width`` metric). ``sigma_b_rel`` can be changed after
    training: the curves are recomputed from the stored s and (floored) b.
    """
    if comparison is None:
        raise ValueError("comparison must be a Comparison from hepsig_tutorial.compare.compare_losses")
    if not (isinstance(sigma_b_rel, (int, float)) and sigma_b_rel >= 0):
        raise ValueError(f"sigma_b_rel must be a number ≥ 0, got {sigma_b_rel!r}")
    seeds = sorted({r.seed for r in comparison.runs})
    if not 0 <= seed_index < len(seeds):
        raise ValueError(f"seed_index must lie in [0, {len(seeds)}), got {seed_index!r}")
    seed = seeds[seed_index]
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
    else:
        fig = ax.figure
    labels = _labels()
    styles = ("-", "--", "-.", ":", (0, (5, 1)))
    markers = ("o", "s", "^", "D", "v")
    for i, r in enumerate(x for x in comparison.runs if x.seed == seed):
        c = r.curve
        s, b = np.asarray(c["s"], dtype=float), np.asarray(c["b"], dtype=float)
        ok = np.asarray(c.get("eligible", np.ones(len(s), dtype=bool)))
        z = np.where(ok, np.asarray(asimov_significance(s, b, sigma_b_rel * b), dtype=float), np.nan)
        ax.plot(c["efficiency"], z, ls=styles[i % len(styles)], marker=markers[i % len(markers)], markevery=12,
                ms=4, lw=1.6, label=labels.get(r.method, r.method))
    ax.set_xlabel("signal efficiency ε_s (test)")
    ax.set_ylabel(f"Z_A (σ_b/b = {sigma_b_rel:g})")
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom=0)
    ax.set_title(f"{comparison.problem}: cut scan on the test events (seed {seed})", fontsize=10)
    ax.legend(fontsize=8)
    return fig
