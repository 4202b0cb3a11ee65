"""Figures of Chapter 5 ("Training on s/√(s+b) and on the Asimov significance", ``sec-asimov``).

* :func:`plot_stop_features` -- the toy's feature shapes (m_T edge at m_W, m_T2^W below m_t);
* :func:`plot_loss_gradients` -- the loss landscape along the purity direction (why ℓ_Asimov needs pretraining);
* :func:`plot_training_curves` -- a per-epoch metric for several trainings (and seeds);
* :func:`plot_validation_curves` -- learning curves (validation Z_A per epoch) as small multiples;
* :func:`plot_score_histograms` -- classifier outputs per class (Fig. 3 analogue);
* :func:`plot_z_vs_cut` -- Z_A vs the cut on the score with a ±1σ MC band (Fig. 4 analogue); its keyword
  ``sigma_b_rel`` is what the chapter's slider moves.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from . import COLORS, stamp

__all__ = ["plot_stop_features", "plot_loss_gradients", "plot_training_curves", "plot_validation_curves",
           "plot_score_histograms", "plot_z_vs_cut"]

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
    """One line per training: ``curves`` maps a label to per-epoch values, or to an (n_seeds, epochs) array
    (thin lines: the seeds; thick line with markers: their mean). ``marks``: epochs to mark (vertical)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.0, 3.8))
    else:
        fig = ax.figure
    markers = ["o", "s", "^", "D", "v"]
    for k, (lab, yv) in enumerate(curves.items()):
        yv = np.atleast_2d(np.asarray(yv, dtype=float))
        color, ls = COLORS[k % len(COLORS)], _LINESTYLES[k % len(_LINESTYLES)]
        ep = np.arange(1, yv.shape[1] + 1)
        if yv.shape[0] > 1:
            for row in yv:
                ax.plot(ep, row, color=color, ls=ls, lw=0.7, alpha=0.45)
        ax.plot(ep, yv.mean(axis=0), color=color, ls=ls, marker=markers[k % len(markers)], ms=4, lw=2,
                label=lab + (f" (mean of {yv.shape[0]})" if yv.shape[0] > 1 else ""))
    for m in marks or ():
        ax.axvline(m + 0.5, color="0.5", ls=":", lw=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return stamp(fig)


def plot_validation_curves(histories: dict, *, ylabel=r"validation $Z_A$", ncols: int = 5):
    """Learning curves as small multiples: one panel per method, one line per seed.

    ``histories`` maps a method label to a list of :func:`~hepsig_tutorial.train.fit` histories (with a
    ``monitor``); the epoch whose weights were kept (``best_epoch``) is marked with a star, and the epochs
    where early stopping ended a run are where its line ends.
    """
    if not histories:
        raise ValueError("histories must hold at least one method")
    n = len(histories)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.4 * nrows), sharey=True, squeeze=False)
    for k, (ax, (lab, hists)) in enumerate(zip(axes.flat, histories.items())):
        for j, h in enumerate(hists):
            v = np.asarray(h["monitor"], dtype=float)
            ep = np.arange(1, len(v) + 1)
            ax.plot(ep, v, color=COLORS[j % len(COLORS)], ls=_LINESTYLES[j % len(_LINESTYLES)], lw=1.2)
            if h.get("best_epoch") is not None:
                ax.plot([h["best_epoch"] + 1], [v[h["best_epoch"]]], "*", color=COLORS[j % len(COLORS)], ms=8,
                        mec="k", mew=0.5)
        ax.set_title(lab, fontsize=9)
        ax.set_xlabel("epoch")
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
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


def plot_z_vs_cut(sigma_b_rel: float = 0.5, *, models: dict, val, test, min_background_events: int | None = None,
                  n_cuts: int = 201, n_bootstrap: int = 100, title=None):
    """Fig. 4 analogue: test-set Z_A(σ_b/b = ``sigma_b_rel``) vs the cut on the score, ±1σ MC band, one panel each.

    ``models`` maps a label to ``(validation scores, test scores)``; ``val`` and ``test`` are the
    ``{"y", "w"}`` of the two samples. The cut grid and the chosen cut (star) are those of the chapter's
    table (:func:`hepsig_tutorial.asimov.evaluate`): the grid from the validation scores, the cut chosen
    on validation, the star at its test value. Cuts that keep fewer than ``min_background_events``
    simulated test background events are drawn thin and grey. Call with its defaults for the static
    figure, then attach a slider to ``sigma_b_rel``.
    """
    from .. import metrics

    if not models:
        raise ValueError("models must hold at least one (validation, test) pair of scores")
    m_min = metrics.MIN_BACKGROUND_EVENTS if min_background_events is None else min_background_events
    fig, axes = plt.subplots(1, len(models), figsize=(3.6 * len(models), 3.2), sharey=True)
    axes = np.atleast_1d(axes)
    for k, (ax, (lab, (sv, st))) in enumerate(zip(axes, models.items())):
        cuts = metrics.cut_grid(sv, val["y"], n_cuts)
        scan_v = metrics.cut_scan(sv, val["y"], val["w"], cuts=cuts)
        i = metrics.best_cut(metrics.asimov_z(scan_v, sigma_b_rel), scan_v, min_background_events=m_min)
        scan = metrics.cut_scan(st, test["y"], test["w"], cuts=cuts, n_bootstrap=n_bootstrap)
        z, boot = metrics.asimov_z(scan, sigma_b_rel)
        z, e = z[0], boot[:, 0].std(axis=0)
        ok = scan.eligible(m_min)[0]
        x = np.clip(cuts, 0.0, None)
        ax.plot(x, np.where(ok, np.nan, z), color="0.6", lw=0.8, label="< %d sim. bkg events" % m_min)
        zo, eo = np.where(ok, z, np.nan), np.where(ok, e, np.nan)
        ax.fill_between(x, zo - eo, zo + eo, color=COLORS[5], alpha=0.4, lw=0, label=r"$\pm1\sigma$ (MC stat.)")
        ax.plot(x, zo, color=COLORS[k % len(COLORS)], ls=_LINESTYLES[k % len(_LINESTYLES)], lw=1.8, label=r"$Z_A$")
        ax.plot([x[i]], [z[i]], "k*", ms=10, label="cut chosen on validation")
        ax.text(0.03, 0.95, f"{z[i]:.2f} ± {e[i]:.2f}\ns = {scan.s[0, i]:.1f}, b = {scan.b[0, i]:.2f}",
                transform=ax.transAxes, va="top", fontsize=8)
        ax.set_title(lab, fontsize=10)
        ax.set_xlabel("cut on classifier output")
    axes[0].set_ylabel(rf"test $Z_A$ ($\sigma_b/b$ = {sigma_b_rel:.2f})")
    axes[0].legend(fontsize=7, loc="center left")
    if title:
        fig.suptitle(title, fontsize=10)
    return stamp(fig)
