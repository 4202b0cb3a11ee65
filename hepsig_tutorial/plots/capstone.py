"""Figures of Chapter 8 (``sec-capstone``): every loss on the same problems."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from ..stats import asimov_significance

__all__ = ["plot_capstone_summary", "plot_z_vs_efficiency", "CAPSTONE_METRICS"]

#: Metrics of the summary figure: (key, label, larger_is_better).
CAPSTONE_METRICS = (("z_a_0", "Z_A, σ_b/b = 0", True), ("z_a_0.1", "Z_A, σ_b/b = 0.1", True),
                    ("z_a_0.5", "Z_A, σ_b/b = 0.5", True), ("mu_min", "1/σ_min (Punzi)", False))
_MARKERS = ("o", "s", "^", "D", "v", "P")


def _labels():
    from ..compare import METHOD_LABELS
    return METHOD_LABELS


def _ratio(row, base, key, larger_is_better):
    """method/BCE (or BCE/method for σ_min, so that > 1 is always better) with a propagated error."""
    (m, em), (b, eb) = row.value(key), base.value(key)
    r = m / b if larger_is_better else b / m
    rel = math.sqrt((em / m) ** 2 + (eb / b) ** 2) if (m > 0 and b > 0) else float("nan")
    return r, abs(r) * rel


def plot_capstone_summary(comparisons, metrics=CAPSTONE_METRICS, baseline="bce", ncols=None):
    """One panel per problem: each method's metrics relative to ``baseline`` (> 1 = better than BCE).

    Parameters
    ----------
    comparisons : dict name → :class:`hepsig_tutorial.compare.Comparison` (or a list of them)
    metrics : sequence of (key, label, larger_is_better)
        Z_A ratios are method/BCE; for σ_min (smaller is better) the ratio is BCE/method.
    baseline : str
        The method everything is divided by.

    Error bars: standard errors over seeds, propagated through the ratio (the baseline's error included).
    Markers differ per metric, so the figure reads in greyscale. Returns the figure.
    """
    comps = list(comparisons.values()) if isinstance(comparisons, dict) else list(comparisons)
    if not comps:
        raise ValueError("comparisons must not be empty")
    n = len(comps)
    ncols = min(n, 3) if ncols is None else int(ncols)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False, sharey=True)
    labels = _labels()
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, comp in zip(axes.flat, comps):
        base = comp.row(baseline)
        methods = [r.method for r in comp.summary]
        xs = np.arange(len(methods))
        for j, (key, label, better) in enumerate(metrics):
            off = (j - (len(metrics) - 1) / 2) * 0.15
            vals = [_ratio(comp.row(m), base, key, better) for m in methods]
            ax.errorbar(xs + off, [v[0] for v in vals], yerr=[v[1] for v in vals], fmt=_MARKERS[j % len(_MARKERS)],
                        color=colors[j % len(colors)], ms=5, capsize=2, lw=1, label=label)
        ax.axhline(1.0, color="0.3", lw=1, ls="--")
        ax.set_xticks(xs)
        ax.set_xticklabels([labels.get(m, m) for m in methods], rotation=30, ha="right", fontsize=8)
        ax.set_title(comp.problem, fontsize=10)
    for ax in axes[:, 0]:
        ax.set_ylabel(f"relative to {labels.get(baseline, baseline)}\n(> 1: better)")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, loc="best")
    return fig


def plot_z_vs_efficiency(comparison=None, sigma_b_rel=0.1, seed_index=0, ax=None):
    """Test-sample Z_A versus signal efficiency for every method of one problem (one seed).

    Each curve is a scan of the cut on that method's score: the maximum is the best Z_A, and how fast the
    curve falls around it is how much a mis-placed cut costs (the ``cut_width`` metric). ``sigma_b_rel`` can
    be changed after training: the curves are recomputed from the stored s and b.
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
    for i, r in enumerate(x for x in comparison.runs if x.seed == seed):
        c = r.curve
        s, b = np.asarray(c["s"]), np.asarray(c["b"])
        z = np.asarray(asimov_significance(s, b, sigma_b_rel * b))
        ax.plot(c["efficiency"], z, ls=styles[i % len(styles)], lw=1.6, label=labels.get(r.method, r.method))
    ax.set_xlabel("signal efficiency ε_s (test)")
    ax.set_ylabel(f"Z_A (σ_b/b = {sigma_b_rel:g})")
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom=0)
    ax.set_title(f"{comparison.problem}: cut scan on the test events (seed {seed})", fontsize=10)
    ax.legend(fontsize=8)
    return fig
