"""Figures of Chapter 3 (differentiable relaxations and the Punzi-net, ``sec-punzi-net``)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

from ..stats import punzi_sensitivity

__all__ = ["plot_relaxation", "plot_punzi_history", "plot_sigma_per_mass", "plot_output_vs_mass"]


def _colors():
    from . import COLORS

    return COLORS


def _stamp(fig):
    from . import stamp

    stamp(fig)
    return fig


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def plot_relaxation(logit, y, w, temperature=1.0, cut=0.0, luminosity=50.0, a=3.0, b=1.28, xlabel="network logit z",
                    ax=None):
    """Hard cut versus its relaxation on the events of one mass window.

    Left: the selection weight of an event as a function of its network logit z: the hard cut
    [z > t] and the relaxed selection sigmoid((z − t)/T). Right: σ_min (punzi-loss.txt, Eq. 9) as a
    function of the cut t, once with hard counting (a staircase: its derivative is zero almost
    everywhere) and once with the relaxed ε and B of Eqs. 10-11 (smooth, so it has a useful gradient).
    T → 0 recovers the hard cut; the Punzi loss uses the network output itself, i.e. t = 0, T = 1.

    Parameters
    ----------
    logit, y, w : arrays (n,)
        Network logits, labels and weights (1/N_gen for signal, expected events for background) of
        the events in one window.
    temperature : float > 0
        T of the relaxation.
    cut : float
        The cut t drawn on the left panel.
    xlabel : str
        Name of the score on the x axes.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}")
    z, y, w = (np.asarray(v, dtype=np.float64) for v in (logit, y, w))
    if not (z.shape == y.shape == w.shape) or z.ndim != 1:
        raise ValueError("logit, y and w must be 1D arrays of equal length")
    c = _colors()
    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    else:
        fig = ax[0].figure
    lo, hi = np.percentile(z, [0.5, 99.5])
    grid = np.linspace(lo - 1, hi + 1, 400)
    a0 = ax[0]
    a0.hist([z[y == 0], z[y == 1]], bins=60, range=(lo - 1, hi + 1), density=True, histtype="step",
            color=["0.5", c[0]], label=["background (unweighted)", "signal"])
    a0b = a0.twinx()
    a0b.plot(grid, (grid > cut).astype(float), color="k", lw=2, ls="--", label=f"hard cut z > {cut:.2g}")
    a0b.plot(grid, _sigmoid((grid - cut) / temperature), color=c[1], lw=2,
             label=f"relaxed: sigmoid((z − t)/T), T = {temperature:.2g}")
    a0b.set_ylim(-0.05, 1.05)
    a0b.set_ylabel("selection weight")
    a0b.grid(False)
    a0.set_xlabel(xlabel)
    a0.set_ylabel("density")
    a0b.legend(loc="upper left", fontsize=8)
    a0.legend(loc="center left", fontsize=8)

    cuts = np.linspace(lo, np.percentile(z[y == 1], 98) if np.any(y == 1) else hi, 150)
    hard = np.empty_like(cuts)
    soft = np.empty_like(cuts)
    for i, t in enumerate(cuts):
        sel = z > t
        eff, B = np.sum(w[sel & (y == 1)]), np.sum(w[sel & (y == 0)])
        hard[i] = punzi_sensitivity(max(min(eff, 1.0), 1e-6), B, a=a, b=b, luminosity=luminosity)
        r = _sigmoid((z - t) / temperature)
        eff_s, B_s = np.sum((r * w)[y == 1]), np.sum((r * w)[y == 0])
        soft[i] = punzi_sensitivity(max(min(eff_s, 1.0), 1e-6), B_s, a=a, b=b, luminosity=luminosity)
    a1 = ax[1]
    a1.plot(cuts, hard, color="k", ls="--", drawstyle="steps-post", label="hard cut (counting)")
    a1.plot(cuts, soft, color=c[1], lw=2, label=f"relaxed, T = {temperature:.2g}")
    a1.axvline(cut, color="0.6", lw=1)
    a1.set_yscale("log")
    a1.set_xlabel(f"cut t on the {xlabel.split()[-2] if len(xlabel.split()) > 1 else xlabel}")
    a1.set_ylabel(r"$\sigma_{\min}$ [fb]")
    a1.legend(fontsize=8)
    return _stamp(fig)


def plot_punzi_history(histories, ax=None):
    """Training curves: the BCE stage and the Punzi stage (mean σ_min over trained masses) per seed.

    ``histories`` is a list of ``{"bce": history, "punzi": history}`` dicts: the :func:`hepsig_tutorial.train.fit`
    histories of :func:`hepsig_tutorial.punzinet.pretrain_bce` and :func:`hepsig_tutorial.punzinet.finetune_punzi`.
    """
    c = _colors()
    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.4))
    else:
        fig = ax[0].figure
    for i, h in enumerate(histories):
        kw = dict(color=c[i % len(c)], lw=1.2, label=f"seed {i}")
        ax[0].plot(np.arange(1, len(h["bce"]["loss"]) + 1), h["bce"]["loss"], **kw)
        ax[1].plot(np.arange(1, len(h["punzi"]["loss"]) + 1), h["punzi"]["loss"], **kw)
    ax[0].set(xlabel="epoch", ylabel="weighted BCE", title="stage 1: BCE pretraining")
    ax[1].set(xlabel="epoch", ylabel=r"Punzi loss = mean $\sigma_{\min}$ [fb]", yscale="log",
              title="stage 2: Punzi loss")
    ax[1].legend(fontsize=8)
    return _stamp(fig)


_MARKERS = {True: "o", False: "^"}
_STYLES = ["-", "--", "-.", ":", (0, (5, 1))]


def plot_sigma_per_mass(masses, results, train_mask, reference=None, ax=None, band="sem"):
    """σ_min per mass for several methods, mean over seeds with an error band (paper Fig. 3).

    Parameters
    ----------
    masses : (K,)
    results : dict name → array (n_seeds, K) (or (K,) for a method without seeds)
    train_mask : (K,) bool -- circles for masses used in training, triangles for held-out ones
    reference : str, optional
        Name of the method to divide by in a lower ratio panel.
    band : {"sem", "std"}
        Standard error of the mean over seeds (as the paper) or the standard deviation.
    """
    masses = np.asarray(masses, dtype=float)
    train_mask = np.asarray(train_mask, dtype=bool)
    c = _colors()
    if ax is None:
        if reference is None:
            fig, ax0 = plt.subplots(figsize=(8, 4.2))
            axes = [ax0]
        else:
            fig, axes = plt.subplots(2, 1, figsize=(8, 6), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    else:
        axes = list(np.atleast_1d(ax))
        fig = axes[0].figure
    ref = None if reference is None else np.atleast_2d(results[reference])
    for i, (name, arr) in enumerate(results.items()):
        arr = np.atleast_2d(np.asarray(arr, dtype=float))
        mean = arr.mean(axis=0)
        n = arr.shape[0]
        err = arr.std(axis=0, ddof=1) if n > 1 else np.zeros_like(mean)
        if band == "sem" and n > 1:
            err = err / np.sqrt(n)
        col = c[i % len(c)]
        ls = _STYLES[i % len(_STYLES)]
        axes[0].plot(masses, mean, color=col, lw=1, alpha=0.8, ls=ls)
        if n > 1:
            axes[0].fill_between(masses, np.maximum(mean - err, 1e-3), mean + err, color=col, alpha=0.2, lw=0)
        for tr in (True, False):
            m = train_mask == tr
            axes[0].plot(masses[m], mean[m], _MARKERS[tr], color=col, ms=5,
                         label=name if tr else None, mfc=col if tr else "white")
        if ref is not None and len(axes) > 1:
            ratio = np.exp(np.mean(np.log(arr / ref.mean(axis=0)), axis=0))
            axes[1].plot(masses, ratio, color=col, lw=1, ls=ls)
            for tr in (True, False):
                m = train_mask == tr
                axes[1].plot(masses[m], ratio[m], _MARKERS[tr], color=col, ms=4, mfc=col if tr else "white")
    axes[0].set_yscale("log")
    axes[0].set_ylabel(r"$\sigma_{\min}$ on the test half [fb]")
    axes[0].plot([], [], "o", color="0.3", label="trained mass")
    axes[0].plot([], [], "^", color="0.3", mfc="white", label="held-out mass")
    axes[0].legend(fontsize=8, ncol=2)
    if ref is not None and len(axes) > 1:
        axes[1].axhline(1.0, color="0.4", lw=1)
        axes[1].set_yscale("log")
        axes[1].set_ylabel(f"ratio to {reference}")
    axes[-1].set_xlabel(r"$m_{Z'}$ [GeV]")
    return _stamp(fig)


def plot_output_vs_mass(logit, m2_rec, label, masses, per_mass_cut=None, global_cut=None, ax=None,
                        cuts_on="probability"):
    """Network logit versus recoil mass for signal and background (paper Figs. 4-7).

    ``per_mass_cut`` (K,) and ``global_cut`` are cuts on ŷ (``cuts_on="probability"``; drawn as logits)
    or on the logit itself (``cuts_on="logit"``).
    """
    if cuts_on not in ("probability", "logit"):
        raise ValueError(f"cuts_on must be 'probability' or 'logit', got {cuts_on!r}")
    z = np.asarray(logit, dtype=float)
    mrec = np.sqrt(np.clip(np.asarray(m2_rec, dtype=float), 0, None))
    lab = np.asarray(label)
    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    else:
        fig = ax[0].figure
    zr = np.clip(z, -15, 15)
    rng = [[0, 10.5], [max(-15, np.percentile(zr, 0.5)), min(15, np.percentile(zr, 99.5))]]
    for a_, sel, title in ((ax[0], lab == 1, "signal"), (ax[1], lab == 0, "background")):
        a_.hist2d(mrec[sel], zr[sel], bins=[84, 60], range=rng, cmap="viridis", cmin=1,
                  norm=LogNorm())
        if per_mass_cut is not None:
            pc = np.asarray(per_mass_cut, float)
            if cuts_on == "probability":
                pc = np.clip(pc, 1e-7, 1 - 1e-7)
                pc = np.log(pc) - np.log1p(-pc)
            a_.plot(masses, np.clip(pc, -15, 15), "o-", color="#D55E00", ms=3, lw=1, label="best cut per mass")
        if global_cut is not None:
            g = float(global_cut)
            if cuts_on == "probability":
                g = min(max(g, 1e-7), 1 - 1e-7)
                g = np.log(g) - np.log1p(-g)
            a_.axhline(g, color="w", ls="--", lw=1.5, label="global cut")
        a_.set(title=title, xlabel=r"$M_{\mathrm{rec}}$ [GeV]")
        a_.grid(False)
    ax[0].set_ylabel("network logit")
    ax[1].legend(fontsize=8, loc="lower left")
    return _stamp(fig)
