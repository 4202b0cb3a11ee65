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

from .._validate import array, choice, integer, number, require
from .sample import Sample

__all__ = ["GAUSS2D_MEANS", "GAUSS2D_CASES", "GAUSS2D_LUMINOSITY", "GAUSS2D_PROCESSES", "make_gauss2d",
           "linear_cut_yields", "best_cut_along", "best_linear_cut"]

#: Process order used everywhere: 0 = signal, 1 = background b1, 2 = background b2.
GAUSS2D_PROCESSES = ("signal", "b1", "b2")
#: Means read off the paper's Fig. 1 (approximate).
GAUSS2D_MEANS = ((4.0, 7.0), (2.0, 5.0), (2.0, 10.0))
#: Cross sections in fb, in GAUSS2D_PROCESSES order, for the paper's two cases.
GAUSS2D_CASES = {1: (0.1, 1.0, 100.0), 2: (0.1, 100.0, 1.0)}
#: Integrated luminosity of the study, fb⁻¹.
GAUSS2D_LUMINOSITY = 3000.0


def make_gauss2d(n_per_process, *, case=1, cross_sections=None, luminosity=GAUSS2D_LUMINOSITY, means=GAUSS2D_MEANS,
                 sigma=1.0, seed=0):
    """Draw the three-process 2D Gaussian toy.

    Parameters
    ----------
    n_per_process : int > 0
        Events drawn per process (the paper: ~50 000).
    case : {1, 2}
        The paper's cross sections :data:`GAUSS2D_CASES` for the weights (ignored if ``cross_sections``).
    cross_sections : three floats, optional
        σ of signal, b1, b2 in fb.
    luminosity : float
        L in fb⁻¹ (the paper: 3000).
    means : three (x1, x2) pairs
        Centres of signal, b1, b2.
    sigma : float > 0
        Common standard deviation of both features (uncorrelated).
    seed : int
        Seed of the NumPy generator.

    Returns
    -------
    Sample
        ``x`` (N, 2) float32, ``y`` (N,) float32 (1 = signal), ``w`` = σ_k L / v_k
        (:func:`~hepsig_tutorial.losses.lovasz.process_weights`: expected events per simulated event),
        ``process`` (N,) int64 (0, 1, 2); shuffled. The weights of another case are
        ``process_weights(d.process, GAUSS2D_CASES[2], L)``.
    """
    from ..losses.lovasz import process_weights

    n = integer("n_per_process", n_per_process, minimum=1)
    if cross_sections is None:
        cross_sections = GAUSS2D_CASES[choice("case", case, tuple(GAUSS2D_CASES))]
    _, mu, sigma = _case_setup(cross_sections, luminosity, means, sigma)
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(mu[k], sigma, size=(n, 2)) for k in range(3)])
    process = np.repeat(np.arange(3, dtype=np.int64), n)
    order = rng.permutation(len(x))
    x, process = x[order], process[order]
    return Sample(x.astype(np.float32), (process == 0).astype(np.float32),
                  process_weights(process, cross_sections, luminosity), {"process": process})


# ------------------------------------------------------------------------------------------------
# the toy's truth: exact yields of any linear cut, and the best one
# ------------------------------------------------------------------------------------------------
def _case_setup(cross_sections, luminosity, means, sigma):
    xs = np.asarray(cross_sections, dtype=np.float64)
    require(xs.shape == (3,) and np.all(np.isfinite(xs)) and np.all(xs > 0),
            f"cross_sections must be three positive numbers (signal, b1, b2), got {cross_sections!r}")
    luminosity = number("luminosity", luminosity, low=0, low_open=True)
    mu = np.asarray(means, dtype=np.float64)
    require(mu.shape == (3, 2) and np.isfinite(mu).all(), f"means must be three finite (x1, x2) pairs, got {means!r}")
    return xs * luminosity, mu, number("sigma", sigma, low=0, low_open=True)


def _unit(direction):
    u = np.asarray(direction, dtype=np.float64)
    if u.shape == ():  # an angle in radians
        return np.array([math.cos(float(u)), math.sin(float(u))])
    if u.shape != (2,) or not np.all(np.isfinite(u)) or not np.linalg.norm(u) > 0:
        raise ValueError(f"direction must be an angle (radians) or a non-zero (2,) vector, got {direction!r}")
    return u / np.linalg.norm(u)


def linear_cut_yields(direction, threshold, cross_sections=GAUSS2D_CASES[1], luminosity=GAUSS2D_LUMINOSITY, *,
                      means=GAUSS2D_MEANS, sigma=1.0):
    """Exact expected yields of the cut ``u·x ≥ threshold`` on the toy (no simulation involved).

    Every process is an isotropic Gaussian N(μ_k, σ²·1), so the projection u·x of a unit vector u is
    N(u·μ_k, σ²) and the fraction of process k that passes is the Gaussian tail Φ̄((t − u·μ_k)/σ). The
    expected yield is that fraction times σ_k L.

    Parameters
    ----------
    direction : float or (2,) array
        An angle θ in radians (u = (cos θ, sin θ)) or any non-zero vector in the original x units
        (normalised here).
    threshold : float or array
        t, in the units of u·x (broadcasts).
    cross_sections : three positive floats
        σ of signal, b1, b2 (fb), e.g. ``GAUSS2D_CASES[1]``.
    luminosity : float
        L (fb⁻¹).

    Returns
    -------
    dict with ``s`` (expected signal), ``b`` (expected background, b1 + b2), ``efficiency`` ((3, ...) pass
    fractions of signal, b1, b2).
    """
    from scipy.special import ndtr

    tot, mu, sig = _case_setup(cross_sections, luminosity, means, sigma)
    u = _unit(direction)
    t = array("threshold", threshold, finite=True)
    eff = np.stack([ndtr(-(t - mu[k] @ u) / sig) for k in range(3)])
    return {"s": tot[0] * eff[0], "b": tot[1] * eff[1] + tot[2] * eff[2], "efficiency": eff}


def _z(s, b, fom, epsilon):
    bb = b + epsilon
    with np.errstate(divide="ignore", invalid="ignore"):
        if fom == "s_over_sqrt_b":
            return np.where(bb > 0, s / np.sqrt(bb), 0.0)
        z2 = 2.0 * ((s + bb) * np.log1p(s / bb) - s)
    return np.sqrt(np.maximum(np.where(bb > 0, z2, 0.0), 0.0))


def best_cut_along(direction, cross_sections=GAUSS2D_CASES[1], luminosity=GAUSS2D_LUMINOSITY, *, fom="asimov",
                   epsilon=0.0, means=GAUSS2D_MEANS, sigma=1.0):
    """The best threshold along one direction: max over t of Z(s(t), b(t) + ε), exactly (no simulation).

    ``fom``: ``"asimov"`` (Z_A with σ_b = 0, significance-asimov-losses.txt Eq. 3.1, the book's figure of merit)
    or ``"s_over_sqrt_b"`` (the Lovász paper's Eq. 1). ``epsilon`` ≥ 0 adds a constant background (the
    Lovász regulator; 0 for the real figure of merit). Returns a dict with ``z``, ``threshold``, ``s``, ``b``
    (b without ε) and ``efficiency``.
    """
    from scipy.optimize import minimize_scalar

    choice("fom", fom, ("asimov", "s_over_sqrt_b"))
    epsilon = number("epsilon", epsilon, low=0)
    tot, mu, sig = _case_setup(cross_sections, luminosity, means, sigma)
    u = _unit(direction)
    grid = float(mu[0] @ u) + sig * np.linspace(-6.0, 8.0, 561)  # around the signal centre

    def z_at(t):
        y = linear_cut_yields(u, t, cross_sections, luminosity, means=means, sigma=sigma)
        return _z(y["s"], y["b"], fom, epsilon)

    zs = z_at(grid)
    k = int(np.argmax(zs))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    res = minimize_scalar(lambda t: -float(z_at(t)), bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-7 * sig})
    t = float(res.x) if -res.fun >= zs[k] else float(grid[k])
    y = linear_cut_yields(u, t, cross_sections, luminosity, means=means, sigma=sigma)
    return {"z": float(z_at(t)), "threshold": t, "s": float(y["s"]), "b": float(y["b"]),
            "efficiency": y["efficiency"].astype(np.float64)}


def best_linear_cut(cross_sections=GAUSS2D_CASES[1], luminosity=GAUSS2D_LUMINOSITY, *, fom="asimov", epsilon=0.0,
                    means=GAUSS2D_MEANS, sigma=1.0, n_angles=720):
    """The analytic maximum of Z over **every** linear cut u·x ≥ t on the toy (Chapter 6's bound).

    Maximises Z(s, b + ε) over the angle θ of u and the threshold t: a grid of ``n_angles`` angles with the
    exact best threshold for each (:func:`best_cut_along`), refined by a bounded 1-D search in θ. No classifier
    with a linear boundary can exceed this Z in expectation; a measured Z above it is a fluctuation of the
    evaluation sample.

    Returns a dict with ``z``, ``theta`` (radians), ``direction`` (unit vector), ``threshold``, ``s``, ``b``,
    ``efficiency``, and ``z_by_angle`` / ``angles`` (the profile over the grid, for plots).
    """
    from scipy.optimize import minimize_scalar

    n_angles = integer("n_angles", n_angles, minimum=8)
    kw = dict(fom=fom, epsilon=epsilon, means=means, sigma=sigma)
    angles = np.linspace(0.0, 2 * math.pi, int(n_angles), endpoint=False)
    profile = np.array([best_cut_along(a, cross_sections, luminosity, **kw)["z"] for a in angles])
    k = int(np.argmax(profile))
    step = angles[1] - angles[0]
    res = minimize_scalar(lambda a: -best_cut_along(a, cross_sections, luminosity, **kw)["z"],
                          bounds=(angles[k] - step, angles[k] + step), method="bounded", options={"xatol": 1e-7})
    theta = float(res.x) if -res.fun >= profile[k] else float(angles[k])
    best = best_cut_along(theta, cross_sections, luminosity, **kw)
    theta = theta % (2 * math.pi)
    return dict(best, theta=theta, direction=np.array([math.cos(theta), math.sin(theta)]), angles=angles,
                z_by_angle=profile)
