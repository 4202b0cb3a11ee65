"""Sliders that also make sense in the static HTML book.

The pattern used in every chapter (see STYLE "figure first, slider second"):

1. call the plotting function plainly -- the default figure becomes a normal image output;
2. in the next cell, ``ht.widgets.sliders(plot_fn, name=slider, ...)`` shows the controls and an
   output area that redraws only when a slider moves. Without a kernel (the HTML book) the controls
   still render next to the default figure; with a kernel they are live.

The plotting functions themselves live in the chapter submodules of :mod:`hepsig_tutorial.plots`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt

__all__ = ["sliders", "float_slider", "log_slider", "int_slider"]


def float_slider(value, min, max, step=None, description=""):
    """A labelled ``FloatSlider`` (continuous update off, so a drag redraws once)."""
    import ipywidgets as w

    step = (max - min) / 100 if step is None else step
    return w.FloatSlider(value=value, min=min, max=max, step=step, description=description,
                         continuous_update=False, readout_format=".3g",
                         style={"description_width": "initial"})


def log_slider(value, min, max, description=""):
    """A ``FloatLogSlider`` between ``min`` and ``max`` (both > 0)."""
    import math

    import ipywidgets as w

    if not 0 < min < max:
        raise ValueError(f"log_slider needs 0 < min < max, got min={min}, max={max}")
    return w.FloatLogSlider(value=value, base=10, min=math.log10(min), max=math.log10(max), step=0.02,
                            description=description, continuous_update=False, readout_format=".3g",
                            style={"description_width": "initial"})


def int_slider(value, min, max, step=1, description=""):
    """A labelled ``IntSlider``."""
    import ipywidgets as w

    return w.IntSlider(value=value, min=min, max=max, step=step, description=description,
                       continuous_update=False, style={"description_width": "initial"})


def sliders(plot_fn, **controls):
    """Attach ipywidgets controls to ``plot_fn`` and display them with a live output area.

    Unlike ``ipywidgets.interact`` this does **not** call ``plot_fn`` on creation: the default
    figure has already been drawn by the previous cell as a plain image, so executing the notebook
    (nbval, the book build) stays fast and produces no duplicate figure.

    Parameters
    ----------
    plot_fn : callable
        Plotting function taking the controls' names as keyword arguments.
    **controls : ipywidgets.ValueWidget
        One widget per keyword argument of ``plot_fn`` (see :func:`float_slider`).

    Returns
    -------
    ipywidgets.VBox
        The box (controls on top, output below); displayed as the cell's result.
    """
    import ipywidgets as w

    if not callable(plot_fn):
        raise ValueError("plot_fn must be callable")
    if not controls:
        raise ValueError("sliders needs at least one control")
    out = w.Output()

    def redraw(_change=None):
        kwargs = {name: c.value for name, c in controls.items()}
        with out:
            out.clear_output(wait=True)
            plot_fn(**kwargs)
            plt.show()

    for c in controls.values():
        c.observe(redraw, names="value")
    box = w.VBox([w.HBox(list(controls.values())[:3]), *(
        [w.HBox(list(controls.values())[3:])] if len(controls) > 3 else []), out])
    return box
