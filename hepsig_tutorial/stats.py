"""Counting statistics: p-values, Z, the significance approximations and Punzi's sensitivity.

Chapter 1 ("Counting experiments and sensitivity") derives everything here; later chapters turn
these formulas into losses. Every public function accepts Python floats, NumPy arrays or torch
tensors and returns the same kind (a float for scalar Python input). Torch inputs stay on their
device and dtype and are differentiable.

References (see the book's bibliography)
----------------------------------------
* Cowan, Cranmer, Gross, Vitells, Eur. Phys. J. C 71 (2011) 1554 -- the Asimov significance;
* Elwood & Krücker (significance-asimov-losses.txt), Eqs. (3.1)-(3.2);
* Punzi, PHYSTAT 2003, physics/0308063 and punzi-loss.txt, Eq. (9).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._lazy import lazy_module
from ._validate import array, number, require

sc = lazy_module("scipy.special")

__all__ = [
    "poisson_pvalue",
    "pvalue_to_z",
    "z_to_pvalue",
    "exact_poisson_significance",
    "simple_significance",
    "s_over_sqrt_s_plus_b",
    "asimov_significance",
    "punzi_sensitivity",
    "discovery_probability",
]


# --------------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------------
def _inputs(**names_values):
    """``(values, xp, scalar)``: the inputs on one backend ``xp`` (``torch`` if any is a tensor, else ``numpy``,
    float64), NaN rejected and shapes checked to broadcast; ``scalar`` when all were Python/NumPy numbers."""
    torch_mode = any(isinstance(v, torch.Tensor) for v in names_values.values())
    scalar = all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                 for v in names_values.values())
    if torch_mode:
        ref = next(v for v in names_values.values() if isinstance(v, torch.Tensor))
        dtype = ref.dtype if ref.is_floating_point() else torch.get_default_dtype()
        out = {k: (v if isinstance(v, torch.Tensor) else torch.as_tensor(v, dtype=dtype, device=ref.device))
               for k, v in names_values.items()}
        out = {k: (v if v.is_floating_point() else v.to(dtype)) for k, v in out.items()}
        for k, v in out.items():
            require(~torch.isnan(v.detach()), f"{k} contains NaN")
        shapes = [tuple(v.shape) for v in out.values()]
    else:
        out = {k: array(k, v, finite="nan") for k, v in names_values.items()}
        shapes = [a.shape for a in out.values()]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError as exc:
        desc = ", ".join(f"{k} {s}" for k, s in zip(out, shapes))
        raise ValueError(f"shapes do not broadcast: {desc}") from exc
    return out, (torch if torch_mode else np), scalar


def _special(xp):
    """The special functions of backend ``xp``: ``torch.special`` and ``scipy.special`` share the names used here."""
    return torch.special if xp is torch else sc


def _finish(result, scalar: bool):
    return float(result) if scalar else result


# --------------------------------------------------------------------------------------------
# p-values and Z
# --------------------------------------------------------------------------------------------
def poisson_pvalue(n_obs, b):
    """p-value of observing at least ``n_obs`` events when ``b`` are expected.

    p = P(N ≥ n | b) = Σ_{k ≥ n} e^{-b} b^k / k! = P(n, b), the regularised lower incomplete
    gamma function (punzi-loss.txt, Eq. 5; Cowan et al. 2011). ``n_obs`` may be non-integer
    (the continuous extension used for Asimov-like data); ``n_obs = 0`` gives p = 1.

    Parameters
    ----------
    n_obs : float, array or tensor, ≥ 0
    b : float, array or tensor, > 0

    Returns
    -------
    p-value in [0, 1], accurate in relative terms far in the tail (p down to ~1e-300 in float64).
    """
    v, xp, scalar = _inputs(n_obs=n_obs, b=b)
    n, bb = v["n_obs"], v["b"]
    require(n >= 0, "n_obs must be non-negative")
    require(bb > 0, "b must be positive (the expected background)")
    gammainc, one = _special(xp).gammainc, xp.ones_like(n)
    return _finish(xp.where(n > 0, gammainc(xp.where(n > 0, n, one), bb), one), scalar)


def z_to_pvalue(z):
    """One-sided p-value of a Gaussian significance: p = 1 − Φ(Z) = ½ erfc(Z/√2).

    Computed with erfc, so it stays accurate in the far tail (Z = 30 gives p ≈ 4.9e-198 in
    float64; float32 underflows beyond Z ≈ 13).
    """
    v, xp, scalar = _inputs(z=z)
    return _finish(0.5 * _special(xp).erfc(v["z"] / math.sqrt(2.0)), scalar)


def pvalue_to_z(p):
    """Gaussian significance of a one-sided p-value: Z = Φ⁻¹(1 − p) = −Φ⁻¹(p).

    Uses the inverse normal CDF of p itself (not of 1 − p), so p = 1e-198 maps back to Z = 30
    without loss. ``p`` must lie in (0, 1].
    """
    v, xp, scalar = _inputs(p=p)
    require((v["p"] > 0) & (v["p"] <= 1), "p must lie in (0, 1]")
    return _finish(-_special(xp).ndtri(v["p"]), scalar)


def _log_poisson_tail(n, b):
    """log P(N ≥ n | b) for n > b, in log space (used where the p-value underflows float64).

    log P = log[b^n e^-b / Γ(n+1)] + log Σ_k Π_{j=1..k} b/(n+j); the series converges geometrically
    (ratio < b/n) and is summed until the terms are negligible.
    """
    log_pmf = n * np.log(b) - b - sc.gammaln(n + 1.0)
    total, term = np.ones_like(n), np.ones_like(n)
    for j in range(1, 100_000):
        term = term * b / (n + j)
        total = total + term
        if np.all(term < 1e-17 * total):
            break
    return log_pmf + np.log(total)


def _z_from_log_p(log_p):
    """Invert log p = log Φ(−Z) by Newton steps on scipy's accurate ``log_ndtr`` (any Z > 0)."""
    z = np.sqrt(np.maximum(-2.0 * log_p - np.log(-4.0 * np.pi * log_p), 1.0))  # asymptotic start
    for _ in range(50):
        f = sc.log_ndtr(-z) - log_p
        dfdz = -np.exp(-0.5 * z * z - 0.5 * np.log(2 * np.pi) - sc.log_ndtr(-z))
        step = f / dfdz
        z = z - step
        if np.all(np.abs(step) < 1e-13 * np.maximum(z, 1.0)):
            break
    return z


def exact_poisson_significance(s, b):
    """Z of the median (Asimov) observation n = s + b in a Poisson counting experiment.

    Z = Φ⁻¹(1 − P(N ≥ s + b | b)), with the continuous extension of the Poisson tail (Chapter 1's
    "exact" reference for the approximations). NumPy/float input: where the p-value underflows
    float64 (Z ≳ 37) the tail and its inversion are computed in log space, so Z stays finite and
    accurate. Torch input uses :func:`poisson_pvalue` and :func:`pvalue_to_z` directly.
    """
    v, xp, scalar = _inputs(s=s, b=b)
    require(v["s"] >= 0, "s must be non-negative")
    require(v["b"] > 0, "b must be positive")
    if xp is torch:
        return pvalue_to_z(poisson_pvalue(v["s"] + v["b"], v["b"]))
    s_, b_ = np.broadcast_arrays(v["s"], v["b"])
    n = s_ + b_
    p = np.asarray(poisson_pvalue(n, b_), dtype=np.float64)
    z = np.empty_like(p)
    tiny = p < 1e-300
    z[~tiny] = -sc.ndtri(p[~tiny])
    z[tiny] = _z_from_log_p(_log_poisson_tail(n[tiny], b_[tiny]))  # (no-op when nothing is tiny)
    return _finish(z, scalar)


# --------------------------------------------------------------------------------------------
# significance approximations
# --------------------------------------------------------------------------------------------
def simple_significance(s, b):
    """s/√b: the large-b Gaussian approximation of the discovery significance (punzi-loss.txt, Eq. 7).

    Raises ``ValueError`` for negative s or non-positive b.
    """
    v, xp, scalar = _inputs(s=s, b=b)
    require(v["s"] >= 0, "s must be non-negative")
    require(v["b"] > 0, "b must be positive")
    return _finish(v["s"] / xp.sqrt(v["b"]), scalar)


def s_over_sqrt_s_plus_b(s, b):
    """s/√(s+b) (punzi-loss.txt, Eq. 8; significance-asimov-losses.txt, Sec. 3).

    Defined for s + b > 0; raises ``ValueError`` for negative inputs or s = b = 0.
    """
    v, xp, scalar = _inputs(s=s, b=b)
    require(v["s"] >= 0, "s must be non-negative")
    require(v["b"] >= 0, "b must be non-negative")
    require(v["s"] + v["b"] > 0, "s + b must be positive")
    return _finish(v["s"] / xp.sqrt(v["s"] + v["b"]), scalar)


# Series of g1(t) = (log1p(t)/t − 1)/t = Σ_{k≥0} (−1)^(k+1) t^k/(k+2) for small t.
_G1_TERMS = 12
_SERIES_CUT = 0.1  # below this s/b the expanded form is used


def _g1(t, xp):
    """(log1p(t) − t)/t², accurate for every t ≥ 0 (series below 0.1, direct above)."""
    small = t < _SERIES_CUT
    ts = xp.where(small, t, xp.zeros_like(t))
    acc = xp.zeros_like(t)
    for k in reversed(range(_G1_TERMS)):  # Horner
        acc = acc * ts + ((-1.0) ** (k + 1)) / (k + 2)
    tl = xp.where(small, xp.ones_like(t), t)
    direct = (xp.log1p(tl) - tl) / (tl * tl)
    return xp.where(small, acc, direct)


def asimov_significance(s, b, sigma_b=0.0):
    r"""Median discovery significance Z_A with an uncertainty σ_b on the background.

    Implements significance-asimov-losses.txt Eq. (3.1) (Cowan et al. 2011, Eq. 20):

    .. math::
        Z_A = \Big[2\Big((s+b)\ln\frac{(s+b)(b+σ_b^2)}{b^2+(s+b)σ_b^2}
              - \frac{b^2}{σ_b^2}\ln\Big(1+\frac{σ_b^2 s}{b(b+σ_b^2)}\Big)\Big)\Big]^{1/2},

    which at σ_b = 0 is Eq. (3.2), Z_A = √(2((s+b)ln(1+s/b) − s)), and for s, σ_b² ≪ b tends to
    s/√(b + σ_b²).

    Numerics. With x = s/b and r = σ_b²/b the formula is b·f(x, r) with
    f = (1+x)·ln(1+u) − x·ln(1+v)/(v(1+r)), u = x/(1+r(1+x)), v = r·x/(1+r).
    Both terms are ≈ x while f ≈ x²/(2(1+r)): the naive form cancels catastrophically for
    s ≪ b (in float32 it is useless below s/b ≈ 1e-3) and is 0/0 at σ_b = 0. Here

    * for x ≥ 0.1 the form above is used, with ln(1+v)/v evaluated stably (→ 1 at v = 0);
    * for x < 0.1 the leading terms are cancelled analytically, giving
      Z_A = s·√(2F/b) with F = q/(1+r) + (1+x)q²g₁(u) − r·g₁(v)/(1+r)², q = 1/(1+r(1+x)),
      g₁(t) = (ln(1+t) − t)/t² from its Taylor series -- no cancellation, exact at σ_b = 0, and
      with a finite derivative at s = 0.

    The result is accurate to ≲ 1e-6 relative in float32 over s/b ∈ [1e-4, 1e2],
    σ_b/b ∈ [0, 1], and its gradients are finite there (tests/test_stats.py).

    Parameters
    ----------
    s : float, array or tensor, ≥ 0
        Expected signal.
    b : float, array or tensor, > 0
        Expected background. (At b = 0 with s > 0 the significance is infinite: use a floor in a loss.)
    sigma_b : float, array or tensor, ≥ 0
        Absolute uncertainty on b (not relative: pass ``rel * b`` for a relative systematic).
    """
    v, xp, scalar = _inputs(s=s, b=b, sigma_b=sigma_b)
    require(v["s"] >= 0, "s must be non-negative")
    require(v["b"] > 0, "b must be positive (Z_A diverges at b = 0)")
    require(v["sigma_b"] >= 0, "sigma_b must be non-negative")
    broadcast = torch.broadcast_tensors if xp is torch else np.broadcast_arrays
    return _finish(_asimov_z(*broadcast(v["s"], v["b"], v["sigma_b"]), xp), scalar)


def _asimov_z(s_, b_, sg, xp):
    """The arithmetic of :func:`asimov_significance` on checked, broadcast arrays or tensors (no value checks,
    so no host synchronisation: ``losses.significance`` calls it on float64 tensors on the device). ``xp`` is
    ``numpy`` or ``torch``."""
    small = (s_ / b_) < _SERIES_CUT
    one, zero = xp.ones_like(b_), xp.zeros_like(b_)

    # Each branch sees harmless stand-in values where it is not selected, so that neither its
    # value nor its derivative can be inf/NaN there (a NaN would leak through where()'s backward).
    # x < 0.1: Z = s·sqrt(2F/b)
    s1, b1, sg1 = xp.where(small, s_, zero), xp.where(small, b_, one), xp.where(small, sg, zero)
    x, r = s1 / b1, sg1 * sg1 / b1
    q = 1.0 / (1.0 + r * (1.0 + x))
    F = (q / (1.0 + r) + (1.0 + x) * q * q * _g1(x * q, xp)
         - r * _g1(r * x / (1.0 + r), xp) / ((1.0 + r) * (1.0 + r)))
    z_small = s1 * xp.sqrt(xp.clip(2.0 * F / b1, 0.0, None))

    # x ≥ 0.1: Z² = 2[(s+b)·ln(1+u) − s·L(w)/(1+r)], L(w) = ln(1+w)/w = 1 + w·g₁(w)
    s2, b2, sg2 = xp.where(small, one, s_), xp.where(small, one, b_), xp.where(small, zero, sg)
    x, r = s2 / b2, sg2 * sg2 / b2
    u = x / (1.0 + r * (1.0 + x))
    w = r * x / (1.0 + r)
    z2 = 2.0 * ((s2 + b2) * xp.log1p(u) - s2 * (1.0 + w * _g1(w, xp)) / (1.0 + r))
    z_large = xp.sqrt(xp.clip(z2, 0.0, None))
    return xp.where(small, z_small, z_large)


# --------------------------------------------------------------------------------------------
# Punzi sensitivity
# --------------------------------------------------------------------------------------------
_SQRT_FLOOR = 1e-12


def _punzi_numerator(B, var, a, b, refined, torch_mode):
    """σ_min·ε·L of Eq. 9 with V = ``var`` = B + σ_b² in the a-terms, on checked inputs (no value checks, so no
    host synchronisation: ``losses.punzi`` calls it on tensors). For tensors √V is linear below V = 1e-12, so
    its derivative is finite at V = 0 (values move by < 1e-6)."""
    const = (a * a / 8.0 + 9.0 * b * b / 13.0) if refined else b * b / 2.0
    if torch_mode:
        safe = torch.clamp(var, min=_SQRT_FLOOR)
        root, sqrt = torch.where(var > _SQRT_FLOOR, torch.sqrt(safe), var / math.sqrt(_SQRT_FLOOR)), torch.sqrt
    else:
        root, sqrt = np.sqrt(var), np.sqrt
    return const + a * root + 0.5 * b * sqrt(b * b + 4.0 * a * root + 4.0 * B)


def punzi_sensitivity(efficiency, background, a=3.0, b=1.28, luminosity=1.0, refined=False, sigma_b=0.0):
    r"""Punzi's minimum detectable cross section σ_min (punzi-loss.txt, Eq. 9).

    .. math::
        σ_{min} = \frac{b^2/2 + a\sqrt{B} + \frac{b}{2}\sqrt{b^2 + 4a\sqrt{B} + 4B}}{ε\,L}

    the smallest signal cross section for which an experiment with selection efficiency ε and
    expected background B has probability ≥ CL (b sigmas, one-sided) of giving a discovery at a
    sigmas. ``refined=True`` replaces b²/2 by a²/8 + 9b²/13, Punzi's improved approximation of the
    exact Poisson result (Punzi 2003, used in the public Punzi-net code).

    B = 0 is allowed: the value is finite, and for torch input the derivative with respect to B is
    finite too (√B is linearised below B = 1e-12, where the true derivative diverges).

    With a background uncertainty σ_b (``sigma_b``), the discovery threshold B + a√B becomes
    B + a√(B + σ_b²), a common prescription that is not in the papers: the signal must then satisfy
    S = a√(B + σ_b²) + b√(S + B), whose solution replaces √B by √(B + σ_b²) in the a-terms,

    .. math::
        σ_{min} = \frac{b^2/2 + a\sqrt{B+σ_b^2} + \frac{b}{2}\sqrt{b^2 + 4a\sqrt{B+σ_b^2} + 4B}}{ε\,L}.

    At σ_b = 0 it is Eq. (9) exactly; with σ_b = r·B it grows like a·r·B/(εL) at large B instead of
    like √B (Chapter 1, "Punzi with a background systematic").

    Parameters
    ----------
    efficiency : float, array or tensor in (0, 1]
    background : float, array or tensor, ≥ 0
        Expected background events B after the selection, at the target luminosity.
    a, b : float, > 0
        Discovery significance and CL_b in Gaussian sigmas (defaults 3 and 1.28: 3σ, 90 %).
    luminosity : float, > 0
        Integrated luminosity L; σ_min comes out in 1/(units of L).
    refined : bool
        Use the constant a²/8 + 9b²/13 instead of b²/2.
    sigma_b : float, array or tensor, ≥ 0
        Absolute uncertainty of B (same units as B); 0 gives Eq. (9).
    """
    v, xp, scalar = _inputs(efficiency=efficiency, background=background, sigma_b=sigma_b)
    eff, B, sig = v["efficiency"], v["background"], v["sigma_b"]
    for name, val in (("a", a), ("b", b), ("luminosity", luminosity)):
        number(name, val, low=0, low_open=True)
    require((eff > 0) & (eff <= 1), "efficiency must lie in (0, 1]")
    require(B >= 0, "background must be non-negative")
    require(B < float("inf"), "background must be finite")
    require((sig >= 0) & (sig < float("inf")), "sigma_b must be non-negative and finite")
    numerator = _punzi_numerator(B, B + sig * sig, a, b, refined, xp is torch)  # √B at σ_b = 0 (bit for bit)
    return _finish(numerator / (eff * luminosity), scalar)


def discovery_probability(signal, background, a=3.0):
    """Probability that a Poisson counting experiment with mean ``signal + background`` makes a
    discovery at ``a`` sigmas (its p-value under background-only is ≤ 1 − Φ(a)).

    This is the exact power of the counting test that Punzi's σ_min (Eq. 9 of punzi-loss.txt)
    approximates: at ``signal = σ_min·ε·L`` it should be ≈ CL_b = Φ(b) (Chapter 1 checks this with
    pseudo-experiments). NumPy/floats only (the result is a step function of the background: not
    differentiable).

    Parameters
    ----------
    signal : float or array, ≥ 0
    background : float or array, > 0
    a : float, > 0
        Discovery threshold in Gaussian sigmas.
    """
    require(not any(isinstance(x, torch.Tensor) for x in (signal, background)),
            "signal, background: discovery_probability works on floats and NumPy arrays, not tensors")
    v, _, scalar = _inputs(signal=signal, background=background)
    require(v["signal"] >= 0, "signal must be non-negative")
    require(v["background"] > 0, "background must be positive")
    number("a", a, low=0, low_open=True)
    from scipy.stats import poisson

    p_a = z_to_pvalue(float(a))
    n_crit = poisson.isf(p_a, v["background"]) + 1  # smallest n with P(N >= n | B) <= p_a
    power = poisson.sf(n_crit - 1, v["signal"] + v["background"])
    return _finish(power, scalar)
