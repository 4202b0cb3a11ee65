"""Figures of Chapter 4 (``sec-batch-size``): per-batch estimates of a figure of merit vs batch size,
their delta-method prediction, a batch-size sweep read at equal epochs, steps and CPU time, and the
hard-cut figure of merit of the trained networks.

The numbers come from :mod:`hepsig_tutorial.batching`; these functions only draw.
"""

from __future__ import annotations

import numpy as np
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

from . import COLORS, stamp

__all__ = [
    "plot_batch_estimates",
    "plot_spread_vs_batch",
    "plot_estimator_distribution",
    "plot_batch_sweep",
    "plot_hard_cut_comparison",
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
        From :func:`hepsig_tutorial.batching.sample_total_estimates` (NaN entries are skipped).
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


_STYLES = [("-", "o"), ("--", "s"), ("-.", "D"), (":", "^"), ((0, (5, 1, 1, 1)), "v")]


def _mean_se(a):
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    se = a.std(axis=0, ddof=1) / np.sqrt(a.shape[0]) if a.shape[0] > 1 else np.zeros(a.shape[1])
    return a.mean(axis=0), se


def plot_batch_sweep(curves, steps_per_epoch, *, cpu_seconds=None, budgets=("equal epochs", "equal steps"),
                     ylabel="Punzi loss on all training events [fb]", title=None):
    """A batch-size sweep read three ways: against epochs, against optimiser steps, and against CPU time.

    Parameters
    ----------
    curves : dict budget → dict label → array (n_seeds, epochs)
        The full-data loss after every epoch of each run (seeds in rows). ``budgets[0]`` is drawn against
        epochs, ``budgets[1]`` against optimiser steps (epoch × ``steps_per_epoch[label]``).
    steps_per_epoch : dict label → int
    cpu_seconds : dict budget → dict label → array (n_seeds,), optional
        CPU time of each run: adds a third panel, the final loss (mean ± s.e. over seeds) against the
        mean CPU time (filled markers: first budget; open: second).
    budgets : (str, str)
        The two keys of ``curves`` (and ``cpu_seconds``).

    Lines: mean over seeds; bands: ± 1 standard error of the mean. Every batch size has its own colour,
    line style and marker.
    """
    if len(budgets) != 2 or any(b not in curves for b in budgets):
        raise ValueError(f"curves must have the keys {budgets!r}")
    labels = list(curves[budgets[0]])
    if not labels or set(labels) != set(curves[budgets[1]]) or set(labels) - set(steps_per_epoch):
        raise ValueError("curves[budget] must have the same labels for both budgets, each in steps_per_epoch")
    n_panels = 3 if cpu_seconds is not None else 2
    fig, axes = plt.subplots(1, n_panels, figsize=(4.2 * n_panels, 3.9), squeeze=False)
    axes = axes[0]
    for c, lab in enumerate(labels):
        col, (ls, mk) = COLORS[c % len(COLORS)], _STYLES[c % len(_STYLES)]
        for a, budget in enumerate(budgets):
            mean, se = _mean_se(curves[budget][lab])
            x = np.arange(1, len(mean) + 1) * (1 if a == 0 else int(steps_per_epoch[lab]))
            every = max(len(x) // 8, 1)
            axes[a].plot(x, mean, color=col, ls=ls, marker=mk, markevery=every, ms=4, lw=1.6, label=lab)
            axes[a].fill_between(x, mean - se, mean + se, color=col, alpha=0.2, lw=0)
        if cpu_seconds is not None:
            for a, budget in enumerate(budgets):
                final = np.asarray(curves[budget][lab], dtype=np.float64)[:, -1]
                m, e = _mean_se(final[:, None])
                t = float(np.mean(cpu_seconds[budget][lab]))
                axes[2].errorbar([t], m, yerr=e, color=col, marker=mk, ls="none", ms=6,
                                 mfc=col if a == 0 else "white", label=f"{lab}, {budget}")
    axes[0].set_xlabel("epoch")
    axes[0].set_title(budgets[0], fontsize=10)
    axes[1].set_xlabel("optimiser step")
    axes[1].set_xscale("log")
    axes[1].set_title(budgets[1], fontsize=10)
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    for ax in axes[:2]:
        ax.set_ylabel(ylabel)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)
        ax.legend(fontsize=8, title="batch size", title_fontsize=8)
    if cpu_seconds is not None:
        axes[2].set_xscale("log")
        axes[2].set_yscale("log")
        axes[2].set_xlabel("CPU time per run [s]")
        axes[2].set_ylabel("final: " + ylabel)
        axes[2].yaxis.set_major_formatter(plain)
        axes[2].yaxis.set_minor_formatter(plain)
        axes[2].set_title("final loss against CPU time", fontsize=10)
        axes[2].legend(fontsize=7, ncol=1)
    if title:
        fig.suptitle(title)
    stamp(fig)
    return fig


def plot_hard_cut_comparison(labels, values, errors, reference, reference_error, *, bound=None,
                             xlabel="mean σ_min over the masses, test half [fb]", reference_label="BCE-pretrained",
                             title=None):
    """Hard-cut figure of merit of several networks (mean ± error) against a reference band.

    Parameters
    ----------
    labels : sequence of str
    values, errors : arrays (m,)
        Mean over seeds and its total uncertainty (seed spread and MC statistics, e.g.
        :class:`hepsig_tutorial.metrics.Estimate` ``.value`` / ``.se``).
    reference, reference_error : float
        The reference network's value and error (drawn as a band).
    bound : float, optional
        A lower bound that no cut can beat (drawn dashed), e.g. σ_min with all signal and only the floor.
    """
    v = np.asarray(values, dtype=np.float64)
    e = np.asarray(errors, dtype=np.float64)
    if v.ndim != 1 or e.shape != v.shape or len(labels) != len(v) or len(v) == 0:
        raise ValueError("labels, values and errors must have the same length m ≥ 1")
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(v) + 1.6))
    y = np.arange(len(v))[::-1]
    ax.axvspan(reference - reference_error, reference + reference_error, color=COLORS[1], alpha=0.25, lw=0)
    ax.axvline(reference, color=COLORS[1], lw=1.5, label=f"{reference_label} (± error)")
    if bound is not None:
        ax.axvline(bound, color="k", ls="--", lw=1.2, label="bound: all signal, floored background")
    ax.errorbar(v, y, xerr=e, ls="none", marker="o", color=COLORS[0], capsize=3, label="fine-tuned (± error)")
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=8, loc="best")
    if title:
        ax.set_title(title, fontsize=10)
    stamp(fig)
    return fig
