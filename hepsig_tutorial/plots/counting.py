"""Figures of Chapter 1 (counting experiments and sensitivity).

Each function draws one figure with keyword defaults and returns it; a notebook attaches sliders to
it with :func:`hepsig_tutorial.widgets.sliders`. Numbers in titles and labels use the ``.3g`` format
of the slider readouts, so a title says what the slider says.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import poisson

from .. import stats

__all__ = [
    "plot_counting_experiment",
    "plot_significance_vs_signal",
    "plot_approximation_map",
    "plot_punzi",
    "plot_punzi_coverage",
]


def _stamp(fig):
    from . import stamp

    return stamp(fig)


def plot_counting_experiment(s: float = 10.0, b: float = 5.0):
    """Poisson distributions of the observed count under H_B (mean b) and H_S+B (mean s+b), with the
    p-value of the Asimov observation n = s + b (the *mean* count under H_S+B) shaded
    (punzi-loss.txt, Eqs. 5-6)."""
    if s < 0 or b <= 0:
        raise ValueError("need s >= 0 and b > 0")
    n_max = int(np.ceil(s + b + 5 * np.sqrt(s + b) + 5))
    n = np.arange(0, n_max + 1)
    n_med = s + b
    p = stats.poisson_pvalue(n_med, b)
    z = stats.pvalue_to_z(p)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.bar(n - 0.2, poisson.pmf(n, b), width=0.4, label=f"$H_B$: mean b = {b:.3g}", color="0.55")
    ax.bar(n + 0.2, poisson.pmf(n, s + b), width=0.4, label=f"$H_{{S+B}}$: mean s + b = {s + b:.3g}", color="C0",
           hatch="//", edgecolor="white", linewidth=0)
    tail = n >= n_med
    ax.bar(n[tail] - 0.2, poisson.pmf(n[tail], b), width=0.4, color="C1",
           label=f"p = P(n ≥ {n_med:.3g} | b) = {p:.2g}")
    ax.axvspan(n_med, n_max + 0.5, color="C1", alpha=0.12, lw=0, label="tail n ≥ s + b")
    ax.axvline(n_med, color="k", ls="--", lw=1, label="Asimov count n = s + b")
    ax.set_xlabel("observed events n")
    ax.set_ylabel("probability")
    ax.set_title(f"Asimov observation n = s + b gives Z = {z:.3g}")
    ax.legend(fontsize=8)
    return _stamp(fig)


def plot_significance_vs_signal(b: float = 10.0, sigma_b_rel: float = 0.2, s_max: float = 30.0):
    """Z versus s at fixed b: the Poisson tail at n = s + b (continuous in n), s/√b, s/√(s+b),
    Z_A(σ_b = 0) and Z_A(σ_b)."""
    if b <= 0 or s_max <= 0 or sigma_b_rel < 0:
        raise ValueError("need b > 0, s_max > 0 and sigma_b_rel >= 0")
    s = np.linspace(s_max / 200, s_max, 200)
    fig, ax = plt.subplots()
    ax.plot(s, stats.exact_poisson_significance(s, b), "k-", lw=2.5, label="Poisson tail at n = s + b")
    ax.plot(s, stats.simple_significance(s, b), "--", label="s/√b")
    ax.plot(s, stats.s_over_sqrt_s_plus_b(s, b), "-.", label="s/√(s+b)")
    ax.plot(s, stats.asimov_significance(s, b), ":", lw=2.5, label="$Z_A$, σ_b = 0")
    if sigma_b_rel > 0:
        ax.plot(s, stats.asimov_significance(s, b, sigma_b_rel * b), "-", marker="o", markevery=25, ms=4,
                label=f"$Z_A$, σ_b/b = {sigma_b_rel:.3g}")
    ax.set_xlabel("expected signal s")
    ax.set_ylabel("significance Z")
    ax.set_title(f"b = {b:.3g}, σ_b/b = {sigma_b_rel:.3g}")
    ax.set_ylim(0, None)
    ax.legend(fontsize=8)
    return _stamp(fig)


def plot_approximation_map(n_grid: int = 120):
    """Where each approximation fails: Z_approx/Z_exact over the (b, s/b) plane, with the ±10 %
    contour; the reference is the Poisson tail at the Asimov count n = s + b (continuous in n).
    Where that reference is below Z = 0.05 the ratio is not drawn (hatched: both Z are ~0 there)."""
    b = np.logspace(-1, 3, n_grid)
    x = np.logspace(-2, 1.5, n_grid)
    B, X = np.meshgrid(b, x)
    S = X * B
    exact = stats.exact_poisson_significance(S, B)
    approx = {
        "s/√b": stats.simple_significance(S, B),
        "s/√(s+b)": stats.s_over_sqrt_s_plus_b(S, B),
        "$Z_A$ (σ_b = 0)": stats.asimov_significance(S, B),
    }
    from matplotlib.colors import LogNorm

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), sharey=True)
    for ax, (name, z) in zip(axes, approx.items()):
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(exact > 0.05, z / exact, np.nan)
        # sequential, lightness-monotonic map: dark = underestimate, light = overestimate (reads in greyscale)
        im = ax.pcolormesh(B, X, np.clip(ratio, 0.2, 5.0), cmap="cividis", norm=LogNorm(0.2, 5.0), shading="auto")
        rel = np.abs(ratio - 1)
        cs = ax.contour(B, X, rel, levels=[0.1], colors="w", linewidths=1.4)
        ax.clabel(cs, fmt={0.1: "±10 %"}, fontsize=7)
        ax.set_facecolor("0.85")  # the masked corner (Z_exact < 0.05), hatched
        ax.patch.set_hatch("xx")
        ax.patch.set_edgecolor("0.6")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("background b")
        ax.set_title(name)
    axes[0].set_ylabel("s / b")
    cbar = fig.colorbar(im, ax=axes, shrink=0.95)
    cbar.set_label("$Z_{approx}\\,/\\,Z_{exact}$")
    return _stamp(fig)


def plot_punzi(a: float = 3.0, b_cl: float = 1.28, B: float = 5.0, efficiency: float = 0.5):
    """Punzi's σ_min·L (in events per unit efficiency) versus the background, for the paper's b²/2
    form and Punzi's refined constant; the marker shows the chosen (B, ε) point."""
    if a <= 0 or b_cl <= 0 or B < 0 or not 0 < efficiency <= 1:
        raise ValueError("need a > 0, b_cl > 0, B >= 0 and efficiency in (0, 1]")
    Bs = np.concatenate([[0.0], np.logspace(-2, 4, 300)])
    fig, ax = plt.subplots()
    for refined, style, name in ((False, "-", "Eq. (9): b²/2"), (True, "--", "refined: a²/8 + 9b²/13")):
        ax.plot(Bs[1:], stats.punzi_sensitivity(efficiency, Bs[1:], a=a, b=b_cl, refined=refined), style, label=name)
    ax.plot(Bs[1:], (a + b_cl) * np.sqrt(Bs[1:]) / efficiency, ":", color="0.4", label="(a + b)√B/ε (large-B limit)")
    val = stats.punzi_sensitivity(efficiency, B, a=a, b=b_cl)
    ax.plot([max(B, 1e-2)], [val], "o", color="C3", ms=8,
            label=f"B = {B:.3g}, ε = {efficiency:.3g}: σ_min·L = {val:.3g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("expected background B")
    ax.set_ylabel("σ_min · L  (signal events before selection)")
    ax.set_title(f"Punzi sensitivity, a = {a:.3g}, b = {b_cl:.3g}")
    ax.legend(fontsize=8)
    return _stamp(fig)


def plot_punzi_coverage(a=3.0, b_cl: float = 1.28, n_toys: int = 20_000, seed: int = 0):
    """Discovery probability at S = σ_min·ε·L versus B: exact Poisson power, and pseudo-experiments,
    for both forms of Punzi's formula. The target is CL_b = Φ(b). ``a`` may be a sequence (one
    panel per value, e.g. ``a=(3, 5)``)."""
    from scipy.stats import norm

    a_values = [float(v) for v in np.atleast_1d(a)]
    if not a_values or min(a_values) <= 0 or b_cl <= 0 or n_toys < 1:
        raise ValueError("need a > 0, b_cl > 0 and n_toys >= 1")
    rng = np.random.default_rng(seed)
    Bs = np.logspace(-2, 3, 200)
    fig, axes = plt.subplots(1, len(a_values), figsize=(6.4 if len(a_values) == 1 else 5.2 * len(a_values), 4.0),
                             sharey=True, squeeze=False)
    lowest = 1.0
    for ax, a_ in zip(axes[0], a_values):
        for refined, color, ls, marker, name in ((False, "C0", "-", "o", "Eq. (9): b²/2"),
                                                 (True, "C1", "--", "s", "refined")):
            S = stats.punzi_sensitivity(1.0, Bs, a=a_, b=b_cl, refined=refined)
            power = stats.discovery_probability(S, Bs, a=a_)
            lowest = min(lowest, float(power.min()))
            ax.plot(Bs, power, color=color, ls=ls, label=f"{name}: exact")
            pick = np.logspace(-1.5, 3, 8)
            S_pick = stats.punzi_sensitivity(1.0, pick, a=a_, b=b_cl, refined=refined)
            n_crit = poisson.isf(stats.z_to_pvalue(a_), pick) + 1
            toys = rng.poisson(S_pick + pick, size=(n_toys, len(pick)))
            frac = (toys >= n_crit).mean(axis=0)
            err = np.sqrt(frac * (1 - frac) / n_toys)
            ax.errorbar(pick, frac, yerr=err, fmt=marker, color=color, ms=4, label=f"{name}: {n_toys} pseudo-exp.")
        ax.axhline(norm.cdf(b_cl), color="k", ls=":", lw=1, label=f"CL_b = Φ({b_cl:.3g}) = {norm.cdf(b_cl):.2f}")
        ax.set_xscale("log")
        ax.set_xlabel("expected background B")
        ax.set_title(f"discovery at a = {a_:.3g}σ")
    axes[0][0].set_ylabel("P(discovery | S = σ_min·ε·L)")
    axes[0][0].set_ylim(max(0.0, np.floor(lowest * 10 - 0.5) / 10), 1.0)
    axes[0][-1].legend(fontsize=7, loc="lower right")
    return _stamp(fig)
