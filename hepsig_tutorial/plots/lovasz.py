"""Figures for Chapter 6, the Lovász Z-score loss.

* :func:`plot_loss_landscapes` (Fig. 3), :func:`plot_boundaries` (Fig. 1), :func:`plot_slopes`,
  :func:`plot_two_element_extension`, :func:`plot_kappa_scan`, :func:`plot_linear_learning_curves`,
  :func:`plot_z_against_bound` and :func:`plot_xsec_ratio` (the chapter's slider).

Training lives in the methods layer (:mod:`hepsig_tutorial.linear`); these functions only draw.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = [
    "plot_loss_landscapes",
    "plot_boundaries",
    "plot_slopes",
    "plot_two_element_extension",
    "plot_kappa_scan",
    "plot_linear_learning_curves",
    "plot_z_against_bound",
    "plot_xsec_ratio",
]

_PROCESS_STYLE = {0: ("signal", "#009E73"), 1: ("b1", "#0072B2"), 2: ("b2", "#D55E00")}


def _grid_scores(model, scaler, xlim, ylim, n=200):
    from ..train import predict

    g1, g2 = np.meshgrid(np.linspace(*xlim, n), np.linspace(*ylim, n))
    raw = np.column_stack([g1.ravel(), g2.ravel()])
    return g1, g2, predict(model, scaler.transform(raw)).reshape(g1.shape)


def plot_boundaries(x, process, models, scaler, *, lines=None, ax=None, title="", n_points=3000, seed=0):
    """Fig. 1 analogue: the three processes and each model's decision boundary F(x) = 0.

    ``models`` maps a label to a trained model (raw-score output) or to ``(model, level)`` to draw another level.
    ``lines`` maps a label to ``(u, t)``: the exact line u·x = t (e.g. the best linear cut), drawn in grey.
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
    for j, (label, (u, t)) in enumerate((lines or {}).items()):
        u = np.asarray(u, dtype=np.float64)
        xx = np.linspace(*xlim, 50)
        if abs(u[1]) > 1e-9:
            ax.plot(xx, (t - u[0] * xx) / u[1], color="0.45", lw=2.4, ls=["-", "--"][j % 2], alpha=0.8, label=label)
        else:
            ax.axvline(t / u[0], color="0.45", lw=2.4, ls=["-", "--"][j % 2], alpha=0.8, label=label)
    ax.set(xlabel="$x_1$", ylabel="$x_2$", xlim=xlim, ylim=ylim, title=title)
    ax.legend(loc="lower right", fontsize=7, markerscale=4)
    return ax


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
        z = np.array([[float(lovasz_z_loss(torch.tensor([a, b], dtype=torch.float64), y, w, epsilon=epsilon, error=err))
                       for a in f] for b in f])
        cs = ax.contourf(f, f, z, levels=20, cmap="viridis")
        ax.contour(f, f, z, levels=10, colors="w", linewidths=0.4)
        fig.colorbar(cs, ax=ax, shrink=0.85, label="loss")
        ax.set(title=err.replace("_", " "), xlabel="$F_1$ (signal)", ylabel="$F_2$ (background)", aspect="equal")
    fig.suptitle(f"Lovász-Z loss landscapes, GT = {list(gt)}, σ = {list(sigma)}")
    from . import stamp

    stamp(fig)
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
    ax.set(xscale="log", xlabel="$\\kappa = \\varepsilon / (\\sigma_s L)$",
           ylabel="min over directions of slope / $\\Delta_Z(V)$")
    if any(lab is not None for lab in labels):
        ax.legend(fontsize=8)
    from . import stamp

    stamp(ax.figure)
    return ax


def plot_xsec_ratio(models, scaler, cross_sections, train, *, luminosity=3000.0, n_points=1500):
    """Slider figure: the boundaries of ``models`` (from :func:`hepsig_tutorial.linear.xsec_ratio_models`).

    The legend gives, for each model, the exact best Z_A along its direction on the toy with these
    ``cross_sections`` (:func:`hepsig_tutorial.data.best_cut_along`); the best linear cut is drawn in grey.
    """
    from .. import plots
    from ..data import best_cut_along, best_linear_cut
    from ..linear import direction

    best = best_linear_cut(cross_sections, luminosity, n_angles=72)
    labels = {}
    for name, model in models.items():
        z = best_cut_along(direction(model, scaler.scale_), cross_sections, luminosity)["z"]
        labels[f"{name}: best $Z_A$ = {z:.2f}"] = model
    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    plot_boundaries(train.x, train.process, labels, scaler, ax=ax, n_points=n_points,
                    lines={f"best linear cut: $Z_A$ = {best['z']:.2f}": (best["direction"], best["threshold"])},
                    title=f"σ_b2/σ_b1 = {cross_sections[2] / cross_sections[1]:.3g}  "
                          f"(σ_b1 = {cross_sections[1]:g} fb)")
    plots.stamp(fig)
    return fig


def plot_two_element_extension(values, values_other=None, *, labels=("Δ_Z", "Δ′"), n=41):
    """The Lovász extension of a set function on two elements, as a picture.

    ``values = (Δ(∅), Δ({1}), Δ({2}), Δ({1, 2}))`` (Δ(∅) = 0). Left: the extension over the unit square,
    m₁ on the horizontal axis, with the four vertex values written at the corners and the diagonal m₁ = m₂
    where the two linear pieces meet. Right: the extension along the chord from (1, 0) to (0, 1) for
    ``values`` and, optionally, ``values_other`` (a set function that is not submodular): a V (convex) versus
    a Λ (not convex).
    """
    from ..losses.lovasz import lovasz_extension

    def ext(v):
        table = {(False, False): v[0], (True, False): v[1], (False, True): v[2], (True, True): v[3]}
        return lambda m: lovasz_extension(lambda mask: table[bool(mask[0]), bool(mask[1])], m)

    f = ext(values)
    g = np.linspace(0.0, 1.0, n)
    grid = np.array([[f([a, b]) for a in g] for b in g])
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.2))
    ax = axes[0]
    cs = ax.contourf(g, g, grid, levels=16, cmap="viridis")
    ax.contour(g, g, grid, levels=16, colors="w", linewidths=0.4)
    fig.colorbar(cs, ax=ax, label=f"extension of {labels[0]}")
    ax.plot([0, 1], [0, 1], "w--", lw=1.2)
    for (a, b), v in (((0, 0), values[0]), ((1, 0), values[1]), ((0, 1), values[2]), ((1, 1), values[3])):
        ax.annotate(f"{labels[0]}({ {(0, 0): '∅', (1, 0): '{1}', (0, 1): '{2}', (1, 1): '{1,2}'}[a, b] }) = {v:.2f}",
                    (a, b), xytext=(0.5 + 0.8 * (a - 0.5), 0.5 + 0.86 * (b - 0.5)), ha="center", va="center",
                    fontsize=8, color="w", bbox=dict(fc="k", alpha=0.45, lw=0))
    ax.text(0.66, 0.3, "$m_1 \\geq m_2$", color="w", fontsize=9)
    ax.text(0.2, 0.72, "$m_2 \\geq m_1$", color="w", fontsize=9)
    ax.set(xlabel="$m_1$ (error of element 1)", ylabel="$m_2$ (error of element 2)", aspect="equal",
           title="(a) two linear pieces, glued on $m_1 = m_2$")
    ax = axes[1]
    t = np.linspace(0.0, 1.0, n)
    for i, (v, lab) in enumerate(((values, labels[0]), (values_other, labels[1]))):
        if v is None:
            continue
        h = ext(v)
        curve = np.array([h([1 - x, x]) for x in t])
        ax.plot(t, curve, ls=["-", "--"][i], marker="os"[i], markevery=max(n // 8, 1), label=f"extension of {lab}")
        ax.plot([0, 1], [curve[0], curve[-1]], ls=":", color=ax.lines[-1].get_color(), lw=1)
    ax.set(xlabel="position on the chord from (1, 0) to (0, 1)", ylabel="extension",
           title="(b) along a chord: convex (V) or not (Λ)")
    ax.legend(fontsize=8)
    from . import stamp

    stamp(fig)
    return fig


def plot_kappa_scan(kappas, rows, *, bound=None, references=None, labels=("Case 1", "Case 2")):
    """The κ scan of Chapter 6: (a) trained loss / trivial loss, (b) best Z_A along the trained direction.

    ``rows[c]`` is a dict of arrays over ``kappas`` for case c: ``loss_ratio`` (validation loss over the
    trivial S/√ε; 1 means collapsed to F ≡ 0), ``z_along`` (exact best Z_A along the model's direction) and
    optionally ``z_target`` (the best Z of s/√(b + ε) turned into Z_A: what the hard-cut Δ_Z aims for).
    ``bound[c]`` draws the best linear cut's Z_A, ``references[c]`` a dict label → Z_A (horizontal lines).
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.0))
    markers, styles = "os^D", ["-", "--", ":", "-."]
    for i, (case, row) in enumerate(rows.items()):
        lab = labels[i] if i < len(labels) else f"case {case}"
        axes[0].plot(kappas, row["loss_ratio"], marker=markers[i], ls=styles[i], label=lab)
        line = axes[1].plot(kappas, row["z_along"], marker=markers[i], ls=styles[i], label=f"{lab}: trained")[0]
        if "z_target" in row:
            axes[1].plot(kappas, row["z_target"], ls=":", color=line.get_color(), lw=1.2,
                         label=f"{lab}: direction of the hard-cut optimum")
        if bound is not None and case in bound:
            axes[1].axhline(bound[case], color=line.get_color(), lw=2.2, alpha=0.35,
                            label=f"{lab}: best linear cut")
        for j, (rlab, z) in enumerate((references or {}).get(case, {}).items()):
            axes[1].axhline(z, color=line.get_color(), ls=styles[(j + 1) % 4], lw=0.9, alpha=0.8,
                            label=f"{lab}: {rlab}")
    axes[0].axhline(1.0, color="k", lw=0.8)
    axes[0].axhspan(0.98, 1.02, color="0.85", alpha=0.6, lw=0)
    axes[0].set(xscale="log", xlabel="$\\kappa = \\varepsilon / (\\sigma_s L)$",
                ylabel="validation loss / trivial loss $S/\\sqrt{\\varepsilon}$",
                title="(a) grey band: collapsed to $F \\equiv 0$")
    axes[1].set(xscale="log", xlabel="$\\kappa = \\varepsilon / (\\sigma_s L)$",
                ylabel="best $Z_A$ along the boundary's normal", title="(b) exact, on the toy's densities")
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=7, ncol=2)
    from . import stamp

    stamp(fig)
    return fig


def plot_linear_learning_curves(histories, *, reference=None, ncols=3):
    """Small multiples of validation-loss learning curves, one panel per method (all seeds overlaid).

    ``histories`` maps a method label to a list of :func:`hepsig_tutorial.train.fit` histories (one per seed).
    The best epoch of each run is marked. ``reference`` maps a label to a horizontal line (e.g. the exact
    minimum of the weighted logistic loss for a BCE panel).
    """
    n = len(histories)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.7 * ncols, 2.8 * nrows), squeeze=False)
    for ax, (label, runs) in zip(axes.ravel(), histories.items()):
        for k, h in enumerate(runs):
            v = np.asarray(h["val_loss"], dtype=np.float64)
            ax.plot(np.arange(1, len(v) + 1), v, ls=["-", "--", ":", "-."][k % 4], lw=1.0, label=f"seed {k}")
            if h.get("best_epoch") is not None:
                ax.plot([h["best_epoch"] + 1], [v[h["best_epoch"]]], "k|", ms=10)
        if reference and label in reference:
            ax.axhline(reference[label], color="0.4", lw=1.8, alpha=0.6, label="exact minimum")
        ax.set(title=label, xlabel="epoch", ylabel="validation loss")
        lo, hi = np.nanmin([np.min(h["val_loss"]) for h in runs]), np.nanmax([np.max(h["val_loss"]) for h in runs])
        if hi > lo:
            ax.set_ylim(lo - 0.05 * (hi - lo), lo + 0.6 * (hi - lo))
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    axes.ravel()[0].legend(fontsize=7)
    from . import stamp

    stamp(fig)
    return fig


def plot_z_against_bound(results, bounds, *, labels=("Case 1", "Case 2")):
    """Measured and exact Z_A of each method against the best linear cut, one panel per case.

    ``results[case][method]`` is a dict with ``measured`` and ``measured_err`` (test-sample Z_A, mean over
    seeds, seed ⊕ MC error), ``exact`` and ``exact_err`` (the exact Z_A of the chosen cuts, mean and seed
    error) and ``seeds_exact`` (per seed). ``bounds[case]`` is the best linear cut's Z_A.
    """
    fig, axes = plt.subplots(1, len(results), figsize=(5.4 * len(results), 3.9), squeeze=False)
    for i, (ax, (case, res)) in enumerate(zip(axes.ravel(), results.items())):
        names = list(res)
        y = np.arange(len(names))
        for j, name in enumerate(names):
            r = res[name]
            ax.errorbar(r["measured"], j + 0.12, xerr=r["measured_err"], fmt="o", color="C0", capsize=3,
                        label="test sample (seed ⊕ MC error)" if j == 0 else None)
            ax.errorbar(r["exact"], j - 0.12, xerr=r["exact_err"], fmt="s", mfc="none", color="C1", capsize=3,
                        label="exact for the chosen cut (seed error)" if j == 0 else None)
            ax.plot(r["seeds_exact"], np.full(len(r["seeds_exact"]), j - 0.12), "|", color="C1", ms=9)
        ax.axvline(bounds[case], color="k", ls="--", lw=1.4, label="best linear cut (exact)")
        ax.set_yticks(y, names)
        ax.set(xlabel="$Z_A$ ($\\sigma_b = 0$)", title=labels[i] if i < len(labels) else f"case {case}")
        ax.invert_yaxis()
    axes.ravel()[0].legend(fontsize=7, loc="center left")
    from . import stamp

    stamp(fig)
    return fig
