"""Figures of Chapter 5 ("Training on s/√(s+b) and on the Asimov significance", ``sec-asimov``).

* :func:`plot_stop_features` -- the toy's feature shapes (m_T edge at m_W, m_T2^W below m_t);
* :func:`plot_loss_gradients` -- the loss landscape along the purity direction (why ℓ_Asimov needs pretraining);
* :func:`plot_training_curves` -- a per-epoch metric for several trainings;
* :func:`plot_score_histograms` -- classifier outputs per class (Fig. 3 analogue);
* :func:`plot_z_vs_cut` -- Z_A vs the cut on the score with a ±1σ band (Fig. 4 analogue); its keyword
  ``sigma_b_rel`` is what the chapter's slider moves.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from . import COLORS, stamp

__all__ = ["plot_stop_features", "plot_loss_gradients", "plot_training_curves", "plot_score_histograms",
           "plot_z_vs_cut"]

_LINESTYLES = ["-", "--", ":", "-.", (0, (5, 1, 1, 1))]


def plot_stop_features(toys: dict, features=("met", "mt", "mt2w"), bins=60):
    """Normalised distributions of ``features`` for tt̄ and each toy's signal.

    ``toys`` maps a label (e.g. ``"(900, 100)"``) to a :class:`~hepsig_tutorial.data.StopToy`; tt̄ is
    taken from the first one. Dotted lines mark m_W and m_t on the m_T and m_T2^W panels.
    """
    if not toys:
        raise ValueError("toys must hold at least one StopToy")
    first = next(iter(toys.values()))
    names = list(first.feature_names)
    for f in features:
        if f not in names:
            raise ValueError(f"unknown feature {f!r}; choose from {names}")
    fig, axes = plt.subplots(1, len(features), figsize=(4.0 * len(features), 3.4))
    axes = np.atleast_1d(axes)
    labels_tex = {"met": r"missing $E_T$ [GeV]", "mt": r"$m_T$ [GeV]", "mt2w": r"$m_{T2}^W$-like [GeV]",
                  "ht": r"$H_T$ [GeV]", "lep_pt": r"lepton $p_T$ [GeV]", "jet1_pt": r"leading jet $p_T$ [GeV]"}
    for ax, f in zip(axes, features):
        j = names.index(f)
        xb = first.x[first.y == 0, j]
        hi = np.quantile(np.concatenate([t.x[t.y == 1, j] for t in toys.values()] + [xb]), 0.995)
        edges = np.linspace(0, hi, bins + 1)
        ax.hist(xb, edges, density=True, histtype="stepfilled", color="0.75", label=r"$t\bar t$")
        for k, (lab, toy) in enumerate(toys.items()):
            ax.hist(toy.x[toy.y == 1, j], edges, density=True, histtype="step", lw=1.8,
                    color=COLORS[k], ls=_LINESTYLES[k % len(_LINESTYLES)], label=f"stop {lab}")
        if f == "mt":
            ax.axvline(80.4, color="k", ls=":", lw=1)
            ax.text(82, ax.get_ylim()[1] * 0.9, r"$m_W$", fontsize=8)
        if f == "mt2w":
            ax.axvline(172.8, color="k", ls=":", lw=1)
            ax.text(175, ax.get_ylim()[1] * 0.9, r"$m_t$", fontsize=8)
        ax.set_xlabel(labels_tex.get(f, f))
        ax.set_yscale("log")
    axes[0].set_ylabel("normalised")
    axes[0].legend(fontsize=8)
    return stamp(fig)


def plot_loss_gradients(purity, curves: dict, *, xlabel=r"$s/b$", ylabel="", title=None, ax=None):
    """Curves over a purity axis (log-log), e.g. the gradient of each loss along the purity direction.

    ``curves`` maps a label to y-values with the shape of ``purity``.
    """
    purity = np.asarray(purity)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.0, 3.8))
    else:
        fig = ax.figure
    for k, (lab, yv) in enumerate(curves.items()):
        yv = np.asarray(yv)
        if yv.shape != purity.shape:
            raise ValueError(f"curve {lab!r} has shape {yv.shape}, expected {purity.shape}")
        ax.plot(purity, yv, color=COLORS[k % len(COLORS)], ls=_LINESTYLES[k % len(_LINESTYLES)], lw=2, label=lab)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return stamp(fig)


def plot_training_curves(curves: dict, *, ylabel="max $Z_A$ on the test set", xlabel="epoch", marks=None, ax=None):
    """One line per training: ``curves`` maps a label to per-epoch values. ``marks``: epochs to mark (vertical)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.0, 3.8))
    else:
        fig = ax.figure
    for k, (lab, yv) in enumerate(curves.items()):
        yv = np.asarray(yv, dtype=float)
        ax.plot(np.arange(1, len(yv) + 1), yv, color=COLORS[k % len(COLORS)], ls=_LINESTYLES[k % len(_LINESTYLES)],
                marker="o", ms=3, lw=1.8, label=lab)
    for m in marks or ():
        ax.axvline(m + 0.5, color="0.5", ls=":", lw=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return stamp(fig)


def plot_score_histograms(scores: dict, labels, *, bins=40, log=True):
    """Fig. 3 analogue: classifier output per class for each trained model (both classes normalised to 1).

    ``scores`` maps a model label to its test-set outputs; ``labels`` are the 1/0 truth labels.
    """
    labels = np.asarray(labels)
    if not scores:
        raise ValueError("scores must hold at least one model")
    fig, axes = plt.subplots(1, len(scores), figsize=(3.6 * len(scores), 3.2), sharey=True)
    axes = np.atleast_1d(axes)
    edges = np.linspace(0, 1, bins + 1)
    for ax, (lab, sc) in zip(axes, scores.items()):
        sc = np.asarray(sc)
        if sc.shape != labels.shape:
            raise ValueError(f"scores[{lab!r}] has shape {sc.shape}, labels {labels.shape}")
        ax.hist(sc[labels == 0], edges, density=True, histtype="stepfilled", color="0.75", label=r"$t\bar t$")
        ax.hist(sc[labels == 1], edges, density=True, histtype="step", lw=2, color=COLORS[0], label="stop")
        ax.set_title(lab, fontsize=10)
        ax.set_xlabel("classifier output")
        if log:
            ax.set_yscale("log")
    axes[0].set_ylabel("normalised")
    axes[0].legend(fontsize=8)
    return stamp(fig)


def plot_z_vs_cut(sigma_b_rel: float = 0.5, *, models: dict, labels, weights, min_background_events: int = 10,
                  cuts=None, title=None):
    """Fig. 4 analogue: Z_A(σ_b/b = ``sigma_b_rel``) vs the cut on the score, ±1σ band, one panel per model.

    ``models`` maps a label to test-set scores. Cuts that keep fewer than ``min_background_events``
    simulated background events are drawn thin and grey; the best allowed cut is marked.
    Call with its defaults for the static figure, then attach a slider to ``sigma_b_rel``.
    """
    from ..losses.significance import scan_cuts

    if not models:
        raise ValueError("models must hold at least one set of scores")
    cuts = np.linspace(0.0, 0.999, 334) if cuts is None else np.asarray(cuts)
    fig, axes = plt.subplots(1, len(models), figsize=(3.6 * len(models), 3.2), sharey=True)
    axes = np.atleast_1d(axes)
    for k, (ax, (lab, sc)) in enumerate(zip(axes, models.items())):
        scan = scan_cuts(sc, labels, weights, sigma_b_rel, cuts=cuts, min_background_events=min_background_events)
        ok = scan.allowed
        z, e = np.where(ok, scan.z, np.nan), np.where(ok, scan.z_err, np.nan)
        ax.plot(scan.cuts, np.where(ok, np.nan, scan.z), color="0.6", lw=0.8)
        ax.fill_between(scan.cuts, z - e, z + e, color=COLORS[5], alpha=0.4, lw=0, label=r"$\pm1\sigma$ (sim. stat.)")
        ax.plot(scan.cuts, z, color=COLORS[k % len(COLORS)], lw=1.8, label=r"$Z_A$")
        if ok.any():
            best = scan.best
            ax.plot([best["cut"]], [best["z"]], "k*", ms=9)
            ax.text(0.03, 0.95, f"max {best['z']:.2f} ± {best['z_err']:.2f}\ns = {best['s']:.1f}, b = {best['b']:.1f}",
                    transform=ax.transAxes, va="top", fontsize=8)
        ax.set_title(lab, fontsize=10)
        ax.set_xlabel("cut on classifier output")
    axes[0].set_ylabel(rf"$Z_A$ ($\sigma_b/b$ = {sigma_b_rel:.2f})")
    axes[0].legend(fontsize=8, loc="lower left")
    if title:
        fig.suptitle(title, fontsize=10)
    return stamp(fig)
