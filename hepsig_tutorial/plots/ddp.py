"""Figures of Chapter 7 (the data-directed paradigm, data-directed-bump-hunting.txt).

Analogues of the paper's Fig. 1 (sample generation), Fig. 2 (z_pred^max − z_true^max), Fig. 3 (z^max
distributions) and Fig. 4 (ROC curves), plus training curves, example z maps and the slider figure.
Each function draws one figure and returns it.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.colors import LogNorm
import numpy as np

from .. import bump
from ..ddp import auc
from ..metrics import roc_curve

__all__ = [
    "plot_background_forms",
    "plot_generation",
    "plot_ddp_training",
    "plot_z_maps",
    "plot_zmax_residuals",
    "plot_zmax_distributions",
    "plot_roc_curves",
    "plot_ddp_example",
    "plot_training_log",
]


def _stamp(fig):
    from . import stamp

    return stamp(fig)


def _colors():
    from . import COLORS

    return COLORS


def plot_background_forms(y1: float = 5000.0, y2: float = 300.0, x_range=(1.0, 10.0), n_bins: int = bump.N_BINS):
    """The ten smooth background forms of Eq. (1), all through the same two end points."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    styles = ["-", "--", "-.", ":"]
    curves = bump.background_curves(np.arange(len(bump.BACKGROUND_FORMS)), y1, y2, n_bins, x_range)
    for i, (name, c) in enumerate(zip(bump.BACKGROUND_FORMS, curves)):
        ax.plot(np.arange(n_bins), c, styles[i % 4], color=plt.cm.viridis(i / 9), label=name, lw=1.6)
    ax.set_yscale("log")
    ax.set_xlabel("bin")
    ax.set_ylabel("expected events per bin")
    ax.set_title(f"Eq. (1): ten forms through ({x_range[0]:g}, {y1:g}) and ({x_range[1]:g}, {y2:g})")
    ax.legend(ncol=2, fontsize=8)
    return _stamp(fig)


def plot_generation(sample: dict, i: int = 0, x_scaler=None, z_scaler=None):
    """Fig. 1 analogue for histogram ``i`` of a :func:`bump.generate_histograms` sample: (a) smooth
    background, fluctuated background, injected signal and observed data; (b) the target z map. Right
    axes show the globally scaled values when scalers are given."""
    c = _colors()
    x = np.arange(sample["counts"].shape[1])
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(6.8, 6.0), sharex=True)
    ax1.step(x, sample["counts"][i], where="mid", color=c[0], lw=1.4, label="observed N = B_fluct + S")
    ax1.step(x, sample["background_fluct"][i], where="mid", color=c[2], lw=1.0, ls="--", label="fluctuated background")
    ax1.plot(x, sample["background"][i], color=c[1], lw=2.0, label="smooth background B")
    ax1.fill_between(x, 0, sample["signal"][i], step="mid", color=c[3], alpha=0.5,
                     label=f"signal S ({sample['significance'][i]:.1f}σ at bin {sample['mean'][i]:.1f})")
    ax1.set_ylabel("events per bin")
    ax1.set_title(f"(a) a sample: background form '{bump.BACKGROUND_FORMS[sample['form'][i]]}'")
    ax1.legend(fontsize=8)
    ax2.plot(x, sample["z"][i], color="k", lw=1.6, label="target z (profile likelihood, known B)")
    ax2.axvline(sample["mean"][i], color=c[3], ls=":", label="injected mean")
    ax2.set_xlabel("bin")
    ax2.set_ylabel("local significance z [σ]")
    ax2.set_title("(b) its z map")
    ax2.legend(fontsize=8)
    for ax, sc in ((ax1, x_scaler), (ax2, z_scaler)):
        if sc is not None:
            sec = ax.secondary_yaxis("right", functions=(lambda v, s=sc: (v - s.shift_) / s.scale_,
                                                         lambda v, s=sc: v * s.scale_ + s.shift_))
            sec.set_ylabel("scaled")
    return _stamp(fig)


def plot_ddp_training(history: dict):
    """Training and validation MSE (scaled units) per epoch."""
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    ep = np.arange(1, len(history["loss"]) + 1)
    ax.plot(ep, history["loss"], "o-", label="training", color=_colors()[0])
    if history.get("val_loss"):
        ax.plot(ep, history["val_loss"], "s--", label="validation", color=_colors()[1])
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE (scaled z)")
    ax.legend()
    return _stamp(fig)


def plot_z_maps(sample: dict, z_pred, indices=(0, 1, 2)):
    """Observed histograms (top) and their true and predicted z maps (bottom) for a few samples."""
    c = _colors()
    idx = list(indices)
    fig, axes = plt.subplots(2, len(idx), figsize=(3.4 * len(idx), 5.2), sharex=True, squeeze=False)
    x = np.arange(sample["counts"].shape[1])
    for j, i in enumerate(idx):
        a, b = axes[0, j], axes[1, j]
        a.step(x, sample["counts"][i], where="mid", color=c[0], lw=1.0)
        a.plot(x, sample["background"][i], color=c[1], lw=1.5)
        a.set_title(f"{sample['significance'][i]:.1f}σ at bin {sample['mean'][i]:.0f}", fontsize=9)
        b.plot(x, sample["z"][i], color="k", lw=1.6, label="z_true")
        b.plot(x, z_pred[i], color=c[2], lw=1.6, ls="--", label="z_pred (DDP)")
        if sample["significance"][i] > 0:
            b.axvline(sample["mean"][i], color=c[3], ls=":")
        b.set_xlabel("bin")
    axes[0, 0].set_ylabel("events per bin")
    axes[1, 0].set_ylabel("z [σ]")
    axes[1, 0].legend(fontsize=8)
    return _stamp(fig)


def plot_zmax_residuals(z_true_max, z_pred_max):
    """Fig. 2 analogue: z_pred^max − z_true^max against z_true^max (2D histogram), with the bias μ and
    spread σ of the difference (paper: μ ≈ 0, σ = 0.55)."""
    zt = np.asarray(z_true_max, dtype=float)
    d = np.asarray(z_pred_max, dtype=float) - zt
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    lim = max(3.0, float(np.percentile(np.abs(d), 99.5)))
    h = ax.hist2d(zt, d, bins=[60, 60], range=[[0, max(1.0, zt.max())], [-lim, lim]], cmap="viridis", cmin=1,
                  norm=LogNorm())
    fig.colorbar(h[3], ax=ax, label="samples")
    ax.axhline(0, color="0.4", lw=0.8)
    ax.set_xlabel(r"$z^{max}_{true}$ [σ]")
    ax.set_ylabel(r"$z^{max}_{pred} - z^{max}_{true}$ [σ]")
    ax.set_title(f"μ = {d.mean():+.2f}, σ = {d.std():.2f}  (paper: μ ≈ 0, σ = 0.55)")
    return _stamp(fig)


def plot_zmax_distributions(zt_signal, zp_signal, zt_background, zp_background, label="3σ signal"):
    """Fig. 3 analogue: z_true^max (solid) and z_pred^max (dashed) for signal and background-only samples."""
    c = _colors()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    allv = np.concatenate([zt_signal, zp_signal, zt_background, zp_background])
    bins = np.linspace(0, float(np.percentile(allv, 99.8)) + 0.5, 50)
    kw = {"bins": bins, "histtype": "step", "lw": 1.8, "density": True}
    ax.hist(zt_background, color=c[0], label=r"no signal, $z^{max}_{true}$", **kw)
    ax.hist(zp_background, color=c[0], ls="--", label=r"no signal, $z^{max}_{pred}$", **kw)
    ax.hist(zt_signal, color=c[1], label=rf"{label}, $z^{{max}}_{{true}}$", **kw)
    ax.hist(zp_signal, color=c[1], ls="--", label=rf"{label}, $z^{{max}}_{{pred}}$", **kw)
    ax.set_xlabel(r"$z^{max}$ [σ]")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    return _stamp(fig)


def plot_roc_curves(scores: dict):
    """Fig. 4 analogue: ROC curves, one per method; ``scores`` maps a label to
    ``(signal_scores, background_scores)``. The legend gives each area under the curve."""
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    styles = ["-", "--", "-.", ":"]
    for i, (name, (s, b)) in enumerate(scores.items()):
        s, b = np.ravel(s), np.ravel(b)
        fpr, tpr, _ = roc_curve(np.concatenate([s, b]), np.concatenate([np.ones(s.size), np.zeros(b.size)]))
        ax.plot(fpr, tpr, styles[i % 4], lw=1.8, color=_colors()[i % 8],
                label=f"{name}: A = {auc(s, b):.3f}")
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8)
    ax.set_xlabel("false-positive rate (background-only samples)")
    ax.set_ylabel("efficiency for a 3σ bump")
    ax.legend(fontsize=8, loc="lower right")
    return _stamp(fig)


def plot_ddp_example(model=None, x_scaler=None, z_scaler=None, significance: float = 3.0, position: float = 50.0,
                     form: int = 0, seed: int = 1):
    """One fresh histogram with a bump of the given significance and position: the histogram, z_true and,
    when a trained model is given, z_pred (the slider figure of Chapter 7)."""
    from ..ddp import predict_z

    s = bump.generate_histograms(1, float(significance), rng=seed, mean_range=(float(position), float(position)),
                                 forms=[int(form)])
    c = _colors()
    x = np.arange(s["counts"].shape[1])
    fig, (a, b) = plt.subplots(1, 2, figsize=(9.6, 3.6))
    a.step(x, s["counts"][0], where="mid", color=c[0], lw=1.0, label="observed")
    a.plot(x, s["background"][0], color=c[1], lw=1.6, label="smooth background")
    a.set_xlabel("bin")
    a.set_ylabel("events per bin")
    a.set_title(f"{significance:.1f}σ bump at bin {position:.0f} ({bump.BACKGROUND_FORMS[int(form)]})", fontsize=10)
    a.legend(fontsize=8)
    b.plot(x, s["z"][0], color="k", lw=1.6, label=f"z_true (max {s['z'][0].max():.2f})")
    if model is not None:
        zp = predict_z(model, s["counts"], x_scaler, z_scaler)[0]
        b.plot(x, zp, color=c[2], ls="--", lw=1.6, label=f"z_pred (max {zp.max():.2f})")
    b.axvline(position, color=c[3], ls=":")
    b.set_xlabel("bin")
    b.set_ylabel("z [σ]")
    b.legend(fontsize=8)
    return _stamp(fig)


def plot_training_log(log: dict, *, label: str = "shipped network (EMA weights)"):
    """A_pred (± its statistical error) and the bias and spread of z_pred^max − z_true^max against
    optimiser steps, from the log of :func:`hepsig_tutorial.ddp.run_training` (``ddp.read_log``), with
    the paper's values: A_pred 0.855 after about 10⁶ steps, 0.82-0.83 in its validation study (10⁵ steps),
    bias 0 and spread 0.55."""
    steps = np.asarray(log["step"], dtype=float)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.0, 3.8), constrained_layout=True)
    c = _colors()
    ax1.errorbar(steps, log["A_pred"], yerr=log["A_pred_err"], fmt="o-", ms=3, color=c[0], label=label)
    ax1.axhline(0.855, color="k", ls="--", lw=1, label="paper: 0.855 (200 epochs, 480k samples)")
    ax1.axhspan(0.82, 0.83, color="0.8", label="paper: 0.82-0.83 (validation study, 10⁵ steps)")
    if "A_true" in log:
        ax1.axhline(float(np.mean(log["A_true"])), color=c[2], ls=":", lw=1.5, label="A_true (known background)")
    ax1.set_xlabel("optimiser steps (batch 100)")
    ax1.set_ylabel("$A_{pred}$ (3σ vs background only)")
    ax1.legend(fontsize=7, loc="lower right")
    ax2.errorbar(steps, log["bias"], yerr=log["bias_err"], fmt="o-", ms=3, color=c[1], label="bias μ")
    ax2.errorbar(steps, log["spread"], yerr=log["spread_err"], fmt="s--", ms=3, color=c[3], label="spread σ")
    ax2.axhline(0.0, color=c[1], lw=0.8, ls=":")
    ax2.axhline(0.55, color=c[3], lw=0.8, ls=":", label="paper: μ = 0, σ = 0.55")
    ax2.set_xlabel("optimiser steps (batch 100)")
    ax2.set_ylabel("$z^{max}_{pred} - z^{max}_{true}$ [σ]")
    ax2.legend(fontsize=7)
    for ax in (ax1, ax2):
        if steps.max() / max(steps.min(), 1) > 20:
            ax.set_xscale("log")
    return _stamp(fig)
