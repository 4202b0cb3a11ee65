"""Figures of Chapter 4 (``sec-batch-size``): per-batch estimates of a figure of merit vs batch size,
their delta-method prediction, and training at different batch sizes.

The numbers come from :mod:`hepsig_tutorial.batching`; these functions only draw.
"""

from __future__ import annotations

import numpy as np
import matplotlib.pyplot as plt

from . import COLORS, stamp

__all__ = [
    "plot_batch_estimates",
    "plot_spread_vs_batch",
    "plot_estimator_distribution",
    "plot_batch_training",
]


def _check_2d(estimates, n_sizes, name="estimates"):
    e = np.asarray(estimates, dtype=np.float64)
    if e.ndim != 2 or e.shape[0] != n_sizes:
        raise ValueError(f"{name} must have shape (len(batch_sizes), n_draws), got {e.shape}")
    return e


def plot_batch_estimates(batch_sizes, estimates, full_value, *, theory=None, ylabel="per-batch estimate",
                         title=None, clip=None):
    """Elwood & Krücker Fig. 1 analogue: every per-batch estimate against its batch size, plus a histogram.

    Parameters
    ----------
    batch_sizes : array (m,)
    estimates : array (m, n_draws)
        From :func:`hepsig_tutorial.batching.sample_batch_estimates` (NaN entries are skipped).
    full_value : float
        The full-data value (horizontal line).
    theory : dict, optional
        :func:`hepsig_tutorial.batching.estimator_theory` output: draws value + bias ± std.
    clip : (lo, hi), optional
        Range of the y axis and the histogram (values outside are drawn at the edge as triangles).
    """
    bs = np.asarray(batch_sizes, dtype=np.float64)
    est = _check_2d(estimates, len(bs))
    fig, (ax, axh) = plt.subplots(1, 2, figsize=(9.0, 4.0), gridspec_kw={"width_ratios": [3, 1]}, sharey=True)
    xs = np.repeat(bs, est.shape[1])
    ys = est.ravel()
    ok = np.isfinite(ys)
    lo, hi = (np.nanmin(ys[ok]), np.nanmax(ys[ok])) if clip is None else clip
    inside = ok & (ys >= lo) & (ys <= hi)
    ax.scatter(xs[inside], ys[inside], s=10, alpha=0.6, color=COLORS[0], label="one batch", lw=0)
    over, under = ok & (ys > hi), ok & (ys < lo)
    if over.any():
        ax.scatter(xs[over], np.full(over.sum(), hi), marker="^", s=18, color=COLORS[1],
                   label=f"above {hi:.3g} ({over.sum()})")
    if under.any():
        ax.scatter(xs[under], np.full(under.sum(), lo), marker="v", s=18, color=COLORS[1])
    ax.axhline(full_value, color="k", lw=1.2, label=f"full data: {full_value:.3g}")
    if theory is not None:
        mu = theory["value"] + np.asarray(theory["bias"])
        sd = np.asarray(theory["std"])
        tb = np.asarray(theory["batch_size"], dtype=np.float64)
        ax.plot(tb, mu + sd, color=COLORS[2], ls="--", lw=1.5, label="delta method: mean ± 1 s.d.")
        ax.plot(tb, mu - sd, color=COLORS[2], ls="--", lw=1.5)
    ax.set_xscale("log")
    ax.set_xlabel("batch size n")
    ax.set_ylabel(ylabel)
    ax.set_ylim(lo - 0.03 * (hi - lo), hi + 0.03 * (hi - lo))
    ax.legend(fontsize=8, loc="best")
    axh.hist(ys[inside], bins=40, orientation="horizontal", color=COLORS[0], alpha=0.7)
    axh.axhline(full_value, color="k", lw=1.2)
    axh.set_xlabel("batches")
    if title:
        fig.suptitle(title)
    stamp(fig)
    return fig


def plot_spread_vs_batch(batch_sizes, empirical_rel_std, theory_rel_std, *, p_zero=None, p_zero_empirical=None,
                         labels=("estimate",), title=None):
    """Relative spread of per-batch estimates vs batch size: sampled (markers) and delta method (lines).

    ``empirical_rel_std`` and ``theory_rel_std`` are (m,) or (c, m) for c estimators (``labels``).
    ``p_zero`` (m,), optional: predicted probability that a batch holds no background event of the
    window (hypergeometric), drawn on a second panel with the sampled fraction ``p_zero_empirical``.
    """
    bs = np.asarray(batch_sizes, dtype=np.float64)
    emp = np.atleast_2d(np.asarray(empirical_rel_std, dtype=np.float64))
    th = np.atleast_2d(np.asarray(theory_rel_std, dtype=np.float64))
    if emp.shape[1] != len(bs) or th.shape != emp.shape or len(labels) != emp.shape[0]:
        raise ValueError("empirical_rel_std and theory_rel_std must be (c, m) with m batch sizes and c labels")
    n_panels = 2 if p_zero is not None else 1
    fig, axes = plt.subplots(1, n_panels, figsize=(4.6 * n_panels + 0.4, 3.8), squeeze=False)
    ax = axes[0, 0]
    markers = "osD^v"
    for c in range(emp.shape[0]):
        ax.plot(bs, th[c], color=COLORS[c], lw=1.5, label=f"{labels[c]}: delta method")
        ax.plot(bs, emp[c], ls="none", marker=markers[c % 5], color=COLORS[c], mfc="white",
                label=f"{labels[c]}: sampled")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("batch size n")
    ax.set_ylabel("relative spread  s.d. / full-data value")
    ax.legend(fontsize=8)
    if p_zero is not None:
        ax2 = axes[0, 1]
        ax2.plot(bs, p_zero, color=COLORS[1], lw=1.5, label="hypergeometric")
        if p_zero_empirical is not None:
            ax2.plot(bs, p_zero_empirical, ls="none", marker="o", mfc="white", color=COLORS[1], label="sampled")
        ax2.set_xscale("log")
        ax2.set_ylim(-0.03, 1.03)
        ax2.set_xlabel("batch size n")
        ax2.set_ylabel("P(no background event in the window)")
        ax2.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    stamp(fig)
    return fig


def plot_estimator_distribution(contributions, g_numpy, g_torch, batch_size=256, *, n_draws=400, seed=0,
                                xlabel="per-batch estimate", xlim=None):
    """Histogram of g(T̂) over random batches of one size, with the delta-method Gaussian (slider plot).

    Parameters
    ----------
    contributions : array (N, d)
        Per-event contributions to the totals (see :mod:`hepsig_tutorial.batching`).
    g_numpy : callable
        g on sampled totals, array (..., d) → (...), NaN where undefined.
    g_torch : callable
        The same g on a float64 tensor (d,) (for the delta method).
    batch_size : int
        Batch size n (rounded; clipped to [2, N]).
    """
    from .. import batching

    x = np.asarray(contributions, dtype=np.float64)
    n = int(np.clip(round(batch_size), 2, len(x)))
    totals = batching.sample_total_estimates(x, [n], n_draws=n_draws, seed=seed)[0]
    vals = np.asarray(g_numpy(totals), dtype=np.float64)
    th = batching.estimator_theory(x, g_torch, [n])
    full, mu, sd = th["value"], th["value"] + th["bias"][0], th["std"][0]
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    ok = np.isfinite(vals)
    lo, hi = xlim if xlim is not None else (np.nanpercentile(vals, 0.5), np.nanpercentile(vals, 99.5))
    lo, hi = min(lo, full - 3 * sd), max(hi, full + 3 * sd)
    shown = ok & (vals >= lo) & (vals <= hi)
    ax.hist(vals[shown], bins=40, range=(lo, hi), density=True, color=COLORS[0], alpha=0.6,
            label=f"{n_draws} batches of n = {n}")
    grid = np.linspace(lo, hi, 400)
    if sd > 0:
        ax.plot(grid, np.exp(-0.5 * ((grid - mu) / sd) ** 2) / (sd * np.sqrt(2 * np.pi)), color=COLORS[2],
                lw=2, label=f"delta method: {mu:.3g} ± {sd:.3g}")
    ax.axvline(full, color="k", lw=1.2, label=f"full data: {full:.3g}")
    ax.axvline(np.nanmean(vals), color=COLORS[1], lw=1.2, ls=":", label=f"sampled mean: {np.nanmean(vals):.3g}")
    ax.set_xlim(lo, hi)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    n_out = int((ok & ~shown).sum())
    ax.set_title(f"batch size {n}: sampled s.d. {np.nanstd(vals):.3g}"
                 + (f" ({n_out} outside the axis)" if n_out else ""), fontsize=10)
    ax.legend(fontsize=8)
    stamp(fig)
    return fig


def plot_batch_training(curves, final, *, batch_curves=None, ylabel="mean σ_min on all training events [fb]",
                        final_label="test σ_min, global cut [fb]", title=None):
    """Punzi-loss Fig. 2 analogue: the full-data loss per epoch for each batch size, and the final result.

    Parameters
    ----------
    curves : dict label → array (epochs,)
        Loss on the *whole* training set after each epoch (the objective, not the batch estimates).
    final : dict label → float
        Final figure of merit per run (e.g. mean test σ_min at the global cut).
    batch_curves : dict label → array (epochs,), optional
        The mean of the per-batch losses in each epoch (what ``fit`` records), drawn dotted.
    """
    if not curves or set(curves) != set(final):
        raise ValueError("curves and final must be non-empty dicts with the same labels")
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10.0, 4.0), gridspec_kw={"width_ratios": [3, 2]})
    labels = list(curves)
    for c, lab in enumerate(labels):
        col = COLORS[c % len(COLORS)]
        y = np.asarray(curves[lab], dtype=np.float64)
        ax.plot(np.arange(1, len(y) + 1), y, color=col, lw=1.8, label=lab)
        if batch_curves is not None and lab in batch_curves:
            yb = np.asarray(batch_curves[lab], dtype=np.float64)
            ax.plot(np.arange(1, len(yb) + 1), yb, color=col, lw=1.0, ls=":")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    ax.legend(fontsize=8, title="batch size" + (" (dotted: mean batch loss)" if batch_curves else ""),
              title_fontsize=8)
    vals = [final[lab] for lab in labels]
    ax2.bar(np.arange(len(labels)), vals, color=[COLORS[c % len(COLORS)] for c in range(len(labels))])
    for i, v in enumerate(vals):
        ax2.text(i, v, f"{v:.3g}", ha="center", va="bottom", fontsize=8)
    ax2.set_xticks(np.arange(len(labels)))
    ax2.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    ax2.set_ylabel(final_label)
    ax2.set_xlabel("batch size")
    if title:
        fig.suptitle(title)
    stamp(fig)
    return fig
