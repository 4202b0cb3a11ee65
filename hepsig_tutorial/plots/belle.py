"""Figures of Chapter 2 ("A Belle II-like Z′ search and the cut-based baseline").

All functions take a :class:`~hepsig_tutorial.data.belle.BelleToy`, draw one figure, stamp it with the
FAST/FULL mode and return it. Background histograms are weighted to the toy's target luminosity;
signal is drawn for a hypothetical cross section ``signal_xs`` (fb), i.e. weight × σ × L events
(punzi-loss.txt, Sec. 6).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from . import COLORS, stamp

__all__ = [
    "plot_belle_recoil",
    "plot_belle_features",
    "plot_belle_resolution",
    "plot_belle_window",
    "plot_belle_sensitivity",
]

_BKG_STYLE = {  # process index -> (label, colour, hatch) -- hatches keep the stack readable in greyscale
    1: (r"$\mu^+\mu^-(\gamma)$", COLORS[0], ""),
    2: (r"$\tau^+\tau^-$ ($\tau\to\mu\nu\nu$)", COLORS[1], "//"),
    3: (r"$e^+e^-\mu^+\mu^-$", COLORS[2], ".."),
}
_FEATURE_LABELS = {
    "pt_thrust": r"$p^*_{t,\mathrm{thrust}}(\mu)$ [GeV]",
    "pt_rel": r"$p^*_{t,\mu_\min}(\mu_\max)$ [GeV]",
    "pl_rel": r"$p^*_{l,\mu_\min}(\mu_\max)$ [GeV]",
    "pt_mumu": r"$p^*_t(\mu^+\mu^-)$ [GeV]",
}


def _stack(ax, toy, x, bins, select=None, alpha=0.85):
    sel = np.ones(len(toy), bool) if select is None else select
    data, weights, labels, colors, hatches = [], [], [], [], []
    for p in (3, 2, 1):  # largest at the bottom for the high-recoil region
        m = sel & (toy.process == p)
        data.append(x[m])
        weights.append(toy.w[m])
        lab, col, hat = _BKG_STYLE[p]
        labels.append(lab)
        colors.append(col)
        hatches.append(hat)
    _, _, patches = ax.hist(data, bins=bins, weights=weights, stacked=True, label=labels, color=colors,
                            alpha=alpha, histtype="stepfilled", edgecolor="k", linewidth=0.4)
    for patch_list, hat in zip(patches, hatches):
        for patch in patch_list:
            patch.set_hatch(hat)


def _nearest_mass(toy, mass):
    k = int(np.argmin(np.abs(toy.masses - float(mass))))
    return k, float(toy.masses[k])


def plot_belle_recoil(toy, show_masses=(1.0, 4.0, 7.0), signal_xs=100.0, bins=120):
    """Stacked M²_rec spectrum of the backgrounds at the toy's luminosity (log scale), with the
    signal of a few Z′ masses for a cross section ``signal_xs`` fb overlaid."""
    fig, ax = plt.subplots(figsize=(7.2, 4.3))
    edges = np.linspace(-2.0, 100.0, bins + 1)
    _stack(ax, toy, toy.m2_rec, edges)
    for j, mass in enumerate(show_masses):
        k, m = _nearest_mass(toy, mass)
        sel = toy.mass_index == k
        ax.hist(toy.m2_rec[sel], bins=edges, weights=toy.w[sel] * signal_xs * toy.luminosity,
                histtype="step", color="k", linewidth=1.6, linestyle=["-", "--", ":"][j % 3],
                label=f"Z′ {m:.1f} GeV, σ = {signal_xs:g} fb")
    ax.set_yscale("log")
    ax.set_ylim(0.5, None)
    ax.set_xlabel(r"$M^2_\mathrm{rec}$ [GeV$^2$]")
    ax.set_ylabel(f"events / {edges[1] - edges[0]:.2f} GeV² at {toy.luminosity:g} fb⁻¹")
    ax.legend(fontsize=8, ncol=2)
    ax.set_title("Recoil-mass spectrum of the toy (no selection)")
    return stamp(fig)


def plot_belle_features(toy, mass=2.0, bins=40):
    """The four Table-1 features (punzi-loss.txt, Table 1) in the ±2σ window of one mass hypothesis:
    normalised distributions per process (signal of that mass, each background)."""
    k, m = _nearest_mass(toy, mass)
    inwin = toy.window_column(k)
    fig, axes = plt.subplots(2, 2, figsize=(8.0, 5.6))
    for j, ax in enumerate(axes.ravel()):
        x = toy.x[:, j].astype(np.float64)
        lo, hi = np.percentile(x[inwin], [0.5, 99.5])
        edges = np.linspace(lo, hi, bins + 1)
        for p, (lab, col, _hat) in _BKG_STYLE.items():
            sel = inwin & (toy.process == p)
            if sel.sum() >= 5:
                ax.hist(x[sel], bins=edges, weights=toy.w[sel], density=True, histtype="step",
                        color=col, linewidth=1.4, label=f"{lab} ({sel.sum()} sim.)")
        sel = inwin & (toy.mass_index == k)
        ax.hist(x[sel], bins=edges, density=True, histtype="stepfilled", color="0.3", alpha=0.35,
                label=f"Z′ {m:.1f} GeV")
        ax.set_xlabel(_FEATURE_LABELS.get(toy.feature_names[j], toy.feature_names[j]))
        ax.set_yscale("log")
        if j == 0:
            ax.legend(fontsize=7)
    fig.suptitle(f"Features in the window of m(Z′) = {m:.1f} GeV (unit area per process)", fontsize=11)
    return stamp(fig)


def plot_belle_resolution(toy, reference=None):
    """Signal resolution σ(M²_rec) per mass measured on the toy, against the authors' fitted widths
    (``reference``: dict with ``mass`` and ``sigma_m2``, e.g. ``data.AUTHORS_SIGMA_M2``)."""
    fig, ax = plt.subplots(figsize=(6.6, 4.0))
    ax.plot(toy.masses, toy.sigma_m2, "o-", color=COLORS[0], label="this toy (1.4826·MAD of $M^2_\\mathrm{rec}$)")
    if reference is not None:
        ax.plot(reference["mass"], reference["sigma_m2"], "s--", color=COLORS[1], markersize=3,
                label="authors' fitted widths (punzinet width.txt)")
    ax.set_xlabel("m(Z′) [GeV]")
    ax.set_ylabel(r"$\sigma(M^2_\mathrm{rec})$ [GeV$^2$]")
    ax.set_ylim(0, None)
    ax.legend(fontsize=8)
    ax.set_title("Signal recoil-mass resolution; windows are $m^2 \\pm 2\\sigma$")
    return stamp(fig)


def plot_belle_window(toy, mass=2.0, cuts=None, signal_xs=10.0):
    """Zoom on the ±2σ window of one mass hypothesis: stacked background, the signal for
    ``signal_xs`` fb, the window, and (if ``cuts`` is a ``CutResult``) the same after the cuts of
    that mass, with ε, B (the book's floor rule, ``sec-conventions``) and σ_min printed."""
    from .. import metrics  # local imports: plots must not need data at import time
    from ..cutbased import window_scan

    k, m = _nearest_mass(toy, mass)
    lo, hi = toy.windows[k]
    width = hi - lo
    edges = np.linspace(lo - 2.5 * width, hi + 2.5 * width, 61)
    ncol = 1 if cuts is None else 2
    fig, axes = plt.subplots(1, ncol, figsize=(5.0 * ncol, 3.9), sharey=True, squeeze=False)
    selections = [("window only", np.ones(len(toy), bool))]
    if cuts is not None:
        selections.append(("after the optimised cuts", cuts.passes(toy, k)))
    for ax, (title, sel) in zip(axes[0], selections):
        _stack(ax, toy, toy.m2_rec, edges, select=sel)
        s = sel & (toy.mass_index == k)
        ax.hist(toy.m2_rec[s], bins=edges, weights=toy.w[s] * signal_xs * toy.luminosity,
                histtype="step", color="k", linewidth=1.8, label=f"Z′ {m:.1f} GeV, σ = {signal_xs:g} fb")
        ax.axvspan(lo, hi, color="0.5", alpha=0.15, label=r"$m^2 \pm 2\sigma$ window")
        scan = window_scan(toy, sel.astype(float), cuts=[0.5])
        sig, _ = metrics.punzi_sigma_min(scan, luminosity=toy.luminosity)
        ax.set_title(f"{title}\nε = {scan.s[k, 0]:.2f}, B = {scan.b[k, 0]:.3g} (floored), "
                     f"σ_min = {sig[k, 0]:.3g} fb", fontsize=9)
        ax.set_yscale("log")
        ax.set_ylim(0.5, None)
        ax.set_xlabel(r"$M^2_\mathrm{rec}$ [GeV$^2$]")
    axes[0][0].set_ylabel(f"events / bin at {toy.luminosity:g} fb⁻¹")
    axes[0][-1].legend(fontsize=7)
    return stamp(fig)


def plot_belle_sensitivity(masses, curves, reference=None, title="Punzi sensitivity per mass hypothesis"):
    """σ_min (fb) against m(Z′) for several selections.

    ``curves`` maps a label to a (K,) array or to ``(values, errors)`` (errors drawn as bars, e.g. the
    bootstrap MC error); ``reference`` is an optional (label, value) drawn as a horizontal line.
    Series differ in colour, marker and line style.
    """
    fig, ax = plt.subplots(figsize=(6.8, 4.0))
    markers, styles = "os^vD", ["-", "--", "-.", ":", (0, (5, 1))]
    for j, (label, y) in enumerate(curves.items()):
        err = None
        if isinstance(y, tuple):
            y, err = y
        y = np.asarray(y, dtype=float)
        ax.errorbar(masses, y, yerr=err, marker=markers[j % len(markers)], linestyle=styles[j % len(styles)],
                    color=COLORS[j % len(COLORS)], markersize=4, capsize=2 if err is not None else 0,
                    label=f"{label} (mean {np.mean(y):.3g} fb)")
    if reference is not None:
        ax.axhline(reference[1], color="0.3", linestyle=":", label=reference[0])
    ax.set_yscale("log")
    ax.set_xlabel("m(Z′) [GeV]")
    ax.set_ylabel(r"$\sigma_\mathrm{min}$ [fb]  (a = 3, b = 1.28)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return stamp(fig)
