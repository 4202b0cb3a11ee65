"""Toy: one signal and two backgrounds as 2D Gaussians -- the case study of lovasz-z-score-loss.txt (Chapter 6).

The paper (Sec. 3, Fig. 1) draws ~50 000 points per process from normal distributions in two features and
does not state their parameters. The defaults below are read off its Fig. 1 (approximate; see
``physics-facts.md``): background b1 near (2, 5), background b2 near (2, 10), signal near (4, 7), unit spread.
This is a toy, not a physics simulation: the features stand for "two kinematic variables".

The two test cases (Sec. 3), with L = 3000 fb⁻¹: Case 1 σ_b1 = 1 fb, σ_b2 = 100 fb, σ_s = 0.1 fb; Case 2 the two
backgrounds swapped. Expected events: s = 300, small background 3000, large background 300 000.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["GAUSS2D_MEANS", "GAUSS2D_CASES", "GAUSS2D_LUMINOSITY", "GAUSS2D_PROCESSES", "make_gauss2d"]

#: Process order used everywhere: 0 = signal, 1 = background b1, 2 = background b2.
GAUSS2D_PROCESSES = ("signal", "b1", "b2")
#: Means read off the paper's Fig. 1 (approximate).
GAUSS2D_MEANS = ((4.0, 7.0), (2.0, 5.0), (2.0, 10.0))
#: Cross sections in fb, in GAUSS2D_PROCESSES order, for the paper's two cases.
GAUSS2D_CASES = {1: (0.1, 1.0, 100.0), 2: (0.1, 100.0, 1.0)}
#: Integrated luminosity of the study, fb⁻¹.
GAUSS2D_LUMINOSITY = 3000.0


def make_gauss2d(n_per_process=50_000, *, means=GAUSS2D_MEANS, sigma=1.0, seed=0):
    """Draw the three-process 2D Gaussian toy.

    Parameters
    ----------
    n_per_process : int > 0
        Events drawn per process (the paper: ~50 000).
    means : three (x1, x2) pairs
        Centres of signal, b1, b2.
    sigma : float > 0
        Common standard deviation of both features (uncorrelated).
    seed : int
        Seed of the NumPy generator.

    Returns
    -------
    dict with ``x`` (N, 2) float32, ``y`` (N,) float32 (1 = signal), ``process`` (N,) int64 (0, 1, 2), shuffled.
    Per-event weights depend on the case: ``ht.losses.process_weights(d["process"], GAUSS2D_CASES[1], L)``.
    """
    if int(n_per_process) != n_per_process or n_per_process < 1:
        raise ValueError(f"n_per_process must be a positive integer, got {n_per_process!r}")
    mu = np.asarray(means, dtype=np.float64)
    if mu.shape != (3, 2) or not np.isfinite(mu).all():
        raise ValueError(f"means must be three finite (x1, x2) pairs, got {means!r}")
    if not (isinstance(sigma, (int, float)) and sigma > 0 and math.isfinite(sigma)):
        raise ValueError(f"sigma must be a positive finite number, got {sigma!r}")
    rng = np.random.default_rng(seed)
    n = int(n_per_process)
    x = np.concatenate([rng.normal(mu[k], sigma, size=(n, 2)) for k in range(3)])
    process = np.repeat(np.arange(3, dtype=np.int64), n)
    order = rng.permutation(len(x))
    x, process = x[order], process[order]
    return {"x": x.astype(np.float32), "y": (process == 0).astype(np.float32), "process": process}
