"""Figures (and the small computations behind them) for Chapter 6, the Lovász Z-score loss.

* :func:`threshold_scan` -- Z = s/√b (lovasz-z-score-loss.txt, Eq. 1) and class efficiencies versus the threshold u,
  with the paper's validity rule (signal efficiency ≥ 5 %, expected background ≥ 5 events);
* :func:`fit_linear` -- the paper's linear classifier trained with RAdam through ``ht.train.fit``;
* :func:`plot_loss_landscapes` (Fig. 3), :func:`plot_boundaries` (Fig. 1), :func:`plot_scans` (Fig. 2),
  :func:`plot_slopes`, and :func:`plot_xsec_ratio` (the chapter's slider).
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = [
    "threshold_scan",
    "fit_linear",
    "plot_loss_landscapes",
    "plot_boundaries",
    "plot_scans",
    "plot_slopes",
    "plot_xsec_ratio",
]

_PROCESS_STYLE = {0: ("signal", "#009E73"), 1: ("b1", "#0072B2"), 2: ("b2", "#D55E00")}


def threshold_scan(scores, process, weights, min_signal_efficiency=0.05, min_background=5.0):
    """Scan a threshold u over ``scores`` (select score ≥ u) and compute Z = s/√b at each u.

    Parameters
    ----------
    scores : array (N,)
    process : array of int (N,)
        0 = signal, 1, 2, … = backgrounds.
    weights : array (N,)
        Expected events per simulated event.
    min_signal_efficiency, min_background : float
        The paper's rule (Sec. 3): Z is reported only where ε_s(u) ≥ 5 % and b(u) ≥ 5 events; elsewhere NaN.

    Returns
    -------
    dict with ``u`` (thresholds, decreasing), ``s``, ``b``, ``z``, ``eff`` (dict process → efficiency array),
    and the maximum: ``z_max``, ``u_max``, ``eff_s_max``, ``s_max``, ``b_max``.
    """
    from ..stats import simple_significance

    sc = np.asarray(scores, dtype=np.float64)
    proc = np.asarray(process)
    w = np.asarray(weights, dtype=np.float64)
    if sc.ndim != 1 or proc.shape != sc.shape or w.shape != sc.shape:
        raise ValueError("scores, process and weights must be 1D arrays of the same length")
    if not np.isfinite(sc).all():
        raise ValueError("scores contains NaN or inf")
    if not (proc == 0).any():
        raise ValueError("process must contain signal events (process 0)")
    order = np.argsort(-sc, kind="stable")
    sc, proc, w = sc[order], proc[order], w[order]
    last = np.r_[sc[1:] != sc[:-1], True]  # cut between distinct scores only
    eff = {}
    for k in np.unique(proc):
        cum = np.cumsum(np.where(proc == k, w, 0.0))
        eff[int(k)] = cum[last] / cum[-1]
    s = np.cumsum(np.where(proc == 0, w, 0.0))[last]
    b = np.cumsum(np.where(proc != 0, w, 0.0))[last]
    ok = (eff[0] >= min_signal_efficiency) & (b >= min_background)
    z = np.full(s.shape, np.nan)
    if ok.any():
        z[ok] = simple_significance(s[ok], b[ok])
    out = {"u": sc[last], "s": s, "b": b, "z": z, "eff": eff}
    if ok.any():
        k = int(np.nanargmax(z))
        out.update(z_max=float(z[k]), u_max=float(sc[last][k]), eff_s_max=float(eff[0][k]),
                   s_max=float(s[k]), b_max=float(b[k]))
    else:
        out.update(z_max=math.nan, u_max=math.nan, eff_s_max=math.nan, s_max=math.nan, b_max=math.nan)
    return out


def fit_linear(loss_fn, x, y, w, *, epochs=40, batch_size=1024, lr=0.05, seed=0):
    """Train the paper's linear classifier F(x) = a·x + c (raw scores) with RAdam; return the model.

    ``x`` should already be scaled (``ht.data.MinMaxScaler``). The initialisation is seeded with ``seed``.
    """
    from ..models import mlp
    from ..train import fit

    torch.manual_seed(int(seed))
    model = mlp(np.asarray(x).shape[1], (), output="linear")
    fit(model, loss_fn, {"x": x, "y": y, "w": w}, epochs=epochs, batch_size=batch_size, lr=lr,
        optimizer="radam", seed=seed, desc="linear model")
    return model


def _grid_scores(model, scaler, xlim, ylim, n=200):
    from ..train import predict

    g1, g2 = np.meshgrid(np.linspace(*xlim, n), np.linspace(*ylim, n))
    raw = np.column_stack([g1.ravel(), g2.ravel()])
    return g1, g2, predict(model, scaler.transform(raw)).reshape(g1.shape)


def plot_boundaries(x, process, models, scaler, *, ax=None, title="", n_points=3000, seed=0):
    """Fig. 1 analogue: the three processes and each model's decision boundary F(x) = 0.

    ``models`` maps a label to a trained model (raw-score output) or to ``(model, level)`` to draw another level.
    """
    x = np.asarray(x)
    proc = np.asarray(process)
    ax = ax or plt.subplots(figsize=(5.2, 4.4))[1]
    rng = np.random.default_rng(seed)
    for k, (name, colour) in _PROCESS_STYLE.items():
        pts = x[proc == k]
        pts = pts[rng.permutation(len(pts))[: n_points]]
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.25, color=colour, label=name, rasterized=True)
    xlim = (x[:, 0].min(), x[:, 0].max())
    ylim = (x[:, 1].min(), x[:, 1].max())
    styles = ["-", "--", ":", "-."]
    for i, (label, item) in enumerate(models.items()):
        model, level = item if isinstance(item, tuple) else (item, 0.0)
        g1, g2, z = _grid_scores(model, scaler, xlim, ylim)
        if z.min() < level < z.max():
            ax.contour(g1, g2, z, levels=[level], colors="k", linestyles=styles[i % 4], linewidths=1.8)
        ax.plot([], [], "k", ls=styles[i % 4], label=label)
    ax.set(xlabel="$x_1$", ylabel="$x_2$", xlim=xlim, ylim=ylim, title=title)
    ax.legend(loc="lower right", fontsize=7, markerscale=4)
    return ax


def plot_scans(scans, *, class_efficiency_of=None, title=""):
    """Fig. 2 analogue: (a) Z vs threshold u, (b) Z vs signal efficiency, (c) class efficiencies vs u.

    ``scans`` maps a label to a :func:`threshold_scan` result. u is shown per model as the quantile-free
    rescaling (u − u_min)/(u_max − u_min) of its own score range, so models with different score scales share
    an axis. ``class_efficiency_of`` names the scan drawn in panel (c) (default: the first).
    """
    fig, axes = plt.subplots(1, 3, figsize=(12.5, 3.8))
    for i, (label, sc) in enumerate(scans.items()):
        u = sc["u"]
        un = (u - u.min()) / max(u.max() - u.min(), 1e-300)
        ls = ["-", "--", ":", "-."][i % 4]
        axes[0].plot(un, sc["z"], ls=ls, label=label)
        axes[1].plot(sc["eff"][0], sc["z"], ls=ls, label=label)
        axes[1].plot([sc["eff_s_max"]], [sc["z_max"]], "o", color=axes[1].lines[-1].get_color())
    axes[0].set(xlabel="threshold $u$ (rescaled to [0, 1] per model)", ylabel="$Z = s/\\sqrt{b}$", title="(a)")
    axes[1].set(xlabel="signal efficiency $\\varepsilon_s(u)$", ylabel="$Z = s/\\sqrt{b}$", title="(b)  dots: max Z")
    axes[0].legend(fontsize=8)
    key = class_efficiency_of or next(iter(scans))
    sc = scans[key]
    u = sc["u"]
    un = (u - u.min()) / max(u.max() - u.min(), 1e-300)
    for k, (name, colour) in _PROCESS_STYLE.items():
        if k in sc["eff"]:
            axes[2].plot(un, sc["eff"][k], color=colour, ls=["-", "--", ":"][k], label=name)
    axes[2].set(xlabel="threshold $u$ (rescaled)", ylabel="class efficiency", yscale="log", ylim=(1e-5, 1.5),
                title=f"(c) {key}")
    axes[2].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_loss_landscapes(gt=(1, 0), sigma=(1.0, 10.0), *, epsilon=None, span=3.0, n=121):
    """Fig. 3 analogue: the Lovász-Z loss over the two scores (F₁, F₂) for the four error choices.

    Two events with labels ``gt`` and weights ``sigma`` (σ·L/v with L = v = 1); ε defaults to the signal weight.
    """
    from ..losses.lovasz import ERRORS, lovasz_z_loss

    y = torch.tensor(gt, dtype=torch.float64)
    w = torch.tensor(sigma, dtype=torch.float64)
    f = np.linspace(-span, span, n)
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
    for ax, err in zip(axes, ERRORS):
        z = np.array([[float(lovasz_z_loss(torch.tensor([a, b], dtype=torch.float64), y, w, epsilon, error=err))
                       for a in f] for b in f])
        cs = ax.contourf(f, f, z, levels=20, cmap="viridis")
        ax.contour(f, f, z, levels=10, colors="w", linewidths=0.4)
        fig.colorbar(cs, ax=ax, shrink=0.85)
        ax.set(title=err.replace("_", " "), xlabel="$F_1$ (signal)", ylabel="$F_2$ (background)", aspect="equal")
    fig.suptitle(f"Lovász-Z loss landscapes, GT = {list(gt)}, σ = {list(sigma)}")
    return fig


def plot_slopes(kappas, slopes, *, labels=None, ax=None):
    """Smallest relative slope of the hinge loss away from F ≡ 0 versus ε/(σ_s L) (> 0: trivial minimum)."""
    ax = ax or plt.subplots(figsize=(5.6, 3.8))[1]
    slopes = np.atleast_2d(slopes)
    labels = labels or [None] * len(slopes)
    for i, (row, lab) in enumerate(zip(slopes, labels)):
        ax.plot(kappas, row, marker="os^"[i % 3], ls=["-", "--", ":"][i % 3], label=lab)
    ax.axhline(0, color="k", lw=0.8)
    ax.axhspan(0, max(1.0, float(np.nanmax(slopes)) * 1.05), color="0.85", alpha=0.5, lw=0)
    ax.text(kappas[0], 0.05, "trivial classifier F ≡ 0 is the minimum", fontsize=8, va="bottom")
    ax.set(xscale="log", xlabel="$\\varepsilon / (\\sigma_s L)$",
           ylabel="min over directions of slope / $\\Delta_Z(V)$")
    if any(lab is not None for lab in labels):
        ax.legend(fontsize=8)
    return ax


def plot_xsec_ratio(ratio=1.0, *, train=None, evaluate=None, kappa=100.0, epochs=40, seed=0):
    """Slider figure: Lovász-Z (hinge) and cross-section-weighted BCE boundaries for σ_b2/σ_b1 = ``ratio``.

    σ_b1 = 1 fb, σ_b2 = ratio fb, σ_s = 0.1 fb, L = 3000 fb⁻¹, ε = kappa·σ_s L. ``train``/``evaluate`` are
    the data dicts (from :func:`hepsig_tutorial.data.make_gauss2d`); small defaults are drawn if omitted.
    """
    from .. import plots
    from ..data import MinMaxScaler, make_gauss2d
    from ..losses.lovasz import lovasz_z_loss_fn, process_weights
    from ..train import bce_loss, predict

    if not (isinstance(ratio, (int, float)) and ratio > 0 and math.isfinite(ratio)):
        raise ValueError(f"ratio must be a positive finite number, got {ratio!r}")
    train = train or make_gauss2d(5000, seed=11)
    evaluate = evaluate or make_gauss2d(50_000, seed=12)
    xs, lumi = (0.1, 1.0, float(ratio)), 3000.0
    scaler = MinMaxScaler().fit(train["x"])
    x, y = scaler.transform(train["x"]), train["y"]
    w = process_weights(train["process"], xs, lumi)
    w_bce = np.where(y == 1, w / np.sum(w * y), w / np.sum(w * (1 - y)))
    lz = fit_linear(lovasz_z_loss_fn(kappa * xs[0] * lumi, "hinge", "scaled"), x, y, w, epochs=epochs, seed=seed)
    bce = fit_linear(lambda o, b: bce_loss(torch.sigmoid(o), b), x, y, w_bce, epochs=epochs, seed=seed)
    w_eval = process_weights(evaluate["process"], xs, lumi)
    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    res = {}
    for name, model in (("Lovász-Z (hinge)", lz), ("BCE, σ-weighted", bce)):
        res[name] = threshold_scan(predict(model, scaler.transform(evaluate["x"])), evaluate["process"], w_eval)
    labels = {f"{k}: Z_max = {v['z_max']:.2f} at ε_s = {v['eff_s_max']:.2f}": m
              for (k, v), m in zip(res.items(), (lz, bce))}
    plot_boundaries(train["x"], train["process"], labels, scaler, ax=ax,
                    title=f"σ_b2/σ_b1 = {ratio:.3g}  (σ_b1 = 1 fb)", n_points=1500)
    plots.stamp(fig)
    return fig
