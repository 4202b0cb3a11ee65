"""The comparison problems of Chapter 8: each one :class:`~hepsig_tutorial.data.sample.Sample` of simulated events.

:func:`standard_problems` draws them; ``compare.compare_losses(sample)`` splits each one per seed.
"""

from __future__ import annotations

import numpy as np

from .._validate import choice, number
from .belle import make_belle_toy
from .gauss2d import make_gauss2d
from .sample import Sample
from .stop import make_stop_toy

__all__ = ["belle_window_sample", "standard_problems"]

PROBLEMS = ("belle", "stop_compressed", "stop_uncompressed", "gauss2d")


def belle_window_sample(toy, k: int, signal_xsec_fb: float = 10.0) -> Sample:
    """The events in mass window ``k`` of a :class:`~hepsig_tutorial.data.belle.BelleToy`, weights in expected events.

    The single-selection version of the Punzi-net problem (punzi-loss.txt, Sec. 6): the events of window k
    (background in the window, signal generated at mass k inside it). Background weights are kept (expected
    events at ``toy.luminosity``); the signal weights (1/N_generated, so their sum is the efficiency *including*
    the detector acceptance) are multiplied by ``signal_xsec_fb · luminosity`` so that they, too, are expected
    events, for a signal of cross section ``signal_xsec_fb`` (a benchmark value: σ_min from
    :func:`~hepsig_tutorial.compare.compare_losses` is then in units of it). ``extras["process"]``: the process.
    """
    col = toy.window_column(k)  # checks k
    signal_xsec_fb = number("signal_xsec_fb", signal_xsec_fb, low=0, low_open=True)
    y = toy.y[col].astype(np.float64)
    w = np.where(y == 1, toy.w[col] * (signal_xsec_fb * toy.luminosity), toy.w[col])
    return Sample(toy.x[col].astype(np.float32), y, w, {"process": toy.process[col].astype(np.int64)})


def standard_problems(*, belle_masses=(3.0, 7.0), belle_signal=3000, belle_background=(20000, 150000, 120000),
                      stop_signal=6000, stop_background=150_000, gauss_per_process=60_000, gauss_case=1,
                      include=PROBLEMS, seed=0):
    """The Chapter 8 problems as ``{name: Sample}``.

    * ``"belle_m<mass>"`` -- the Belle II-like Z′ toy (:func:`~hepsig_tutorial.data.belle.make_belle_toy`), one
      single-window problem per mass (:func:`belle_window_sample`, signal of 10 fb); process = μμ(γ), ττ, eeμμ;
    * ``"stop_compressed"``, ``"stop_uncompressed"`` -- the toy stop search
      (:func:`~hepsig_tutorial.data.stop.make_stop_toy`); process = tt̄;
    * ``"gauss2d"`` -- the 2D Gaussian case study (:func:`~hepsig_tutorial.data.gauss2d.make_gauss2d`, case
      ``gauss_case``); process = b1, b2.

    Sizes are simulated events; everything is seeded by ``seed``. The split into fit, validation and test
    events is the comparison's (:func:`~hepsig_tutorial.compare.compare_losses`, per seed).
    """
    for name in include:
        choice("include", name, PROBLEMS)
    out = {}
    if "belle" in include:
        toy = make_belle_toy(masses=list(belle_masses), n_signal_per_mass=belle_signal,
                             n_background=belle_background, seed=seed)
        out.update({f"belle_m{m:g}": belle_window_sample(toy, k) for k, m in enumerate(toy.masses)})
    for bench in ("compressed", "uncompressed"):
        if f"stop_{bench}" in include:
            out[f"stop_{bench}"] = make_stop_toy(bench, n_signal=stop_signal, n_background=stop_background, seed=seed)
    if "gauss2d" in include:
        out["gauss2d"] = make_gauss2d(gauss_per_process, case=gauss_case, seed=seed)
    return out
