"""Learning curves for the book's training protocol (``ht.train.fit`` histories).

* :func:`plot_learning_curves` (alias ``learning_curves``) -- small multiples, one panel per method or
  run: training loss, validation loss and the validation figure of merit (twin axis), with the restored
  best epoch marked. This is the figure that shows a baseline was trained to convergence.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from . import COLORS, stamp

__all__ = ["plot_learning_curves", "learning_curves"]


def plot_learning_curves(histories: dict, *, ncols: int = 3, loss_label: str = "loss",
                    monitor_label: str = "validation figure of merit", log_loss: bool = False,
                    panel_size=(3.6, 2.7), title: str | None = None):
    """Small multiples of training histories, one panel per entry of ``histories``.

    Parameters
    ----------
    histories : dict of str to dict
        Label → history returned by :func:`hepsig_tutorial.train.fit` (keys ``loss``; optional
        ``val_loss``, ``monitor``, ``best_epoch``, ``stopped_epoch``). Epochs are drawn 1-based.
    ncols : int
        Panels per row.
    loss_label, monitor_label : str
        Axis labels of the loss (left) and of the monitor (right, twin axis).
    log_loss : bool
        Logarithmic loss axis (for losses that stay positive).
    panel_size : (float, float)
        Width and height of one panel in inches.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Stamped with the mode.
    """
    if not histories:
        raise ValueError("histories must hold at least one history")
    if int(ncols) != ncols or ncols < 1:
        raise ValueError(f"ncols must be a positive integer, got {ncols!r}")
    for label, h in histories.items():
        if not isinstance(h, dict) or "loss" not in h:
            raise ValueError(f"histories[{label!r}] must be a fit history with a 'loss' list")
    n = len(histories)
    ncols = min(int(ncols), n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows + 0.3),
                             squeeze=False)
    handles = {}
    for ax, (label, h) in zip(axes.flat, histories.items()):
        loss = np.asarray(h["loss"], dtype=float)
        epochs = np.arange(1, len(loss) + 1)
        handles["training loss"], = ax.plot(epochs, loss, color=COLORS[0], ls="-", label="training loss")
        val = np.asarray(h.get("val_loss") or [], dtype=float)
        if len(val):
            handles["validation loss"], = ax.plot(np.arange(1, len(val) + 1), val, color=COLORS[1], ls="--",
                                                  label="validation loss")
        if log_loss:
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(loss_label)
        ax.set_title(str(label), fontsize=10)
        mon = np.asarray(h.get("monitor") or [], dtype=float)
        ok = np.isfinite(mon)
        if ok.any():
            ax2 = ax.twinx()
            ax2.grid(False)
            handles[monitor_label], = ax2.plot(
                np.arange(1, len(mon) + 1)[ok], mon[ok], color=COLORS[2], ls=":", marker="o", ms=3,
                label=monitor_label)
            ax2.set_ylabel(monitor_label, color=COLORS[2])
            ax2.tick_params(axis="y", colors=COLORS[2])
        best = h.get("best_epoch")
        if best is not None:
            handles["best epoch (restored)"] = ax.axvline(best + 1, color="0.3", ls="-.", lw=1,
                                                          label="best epoch (restored)")
        stopped = h.get("stopped_epoch")
        if stopped is not None:
            ax.annotate("early stop", (stopped + 1, 0.03), xycoords=("data", "axes fraction"), ha="right",
                        va="bottom", fontsize=7, color="0.3")
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    constrained = isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine)
    fig.legend(list(handles.values()), list(handles.keys()), ncol=len(handles), fontsize=8,
               loc="outside upper center" if constrained else "upper center")
    if not constrained:
        fig.subplots_adjust(top=1 - 0.5 / fig.get_figheight(), hspace=0.6, wspace=0.6)
    if title:
        fig.suptitle(title, y=1.02)
    return stamp(fig)


#: Alias of :func:`plot_learning_curves`.
learning_curves = plot_learning_curves
