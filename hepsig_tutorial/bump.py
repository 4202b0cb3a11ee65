"""Histograms and their profile-likelihood targets for the data-directed paradigm.

Chapter 7 ({ref}`sec-ddp`) teaches this module. It implements the sample generation of
data-directed-bump-hunting.txt (Volkovich, De Vito Halevy, Bressler; "the DDP paper"):

* :func:`background_curves` -- the ten smoothly falling forms of Eq. (1), each fixed by the two points
  (x₁, y₁), (x₂, y₂) at the centres of the extreme bins;
* :func:`generate_histograms` -- Poisson-fluctuated backgrounds plus a Gaussian signal (width 3 bins)
  whose amplitude is solved, vectorised, so that it has a requested significance relative to the
  fluctuated background (:func:`signal_amplitude`);
* :func:`local_significance` -- the per-bin target z of the paper: a profile-likelihood fit of a
  Gaussian signal template (fixed width, μ̂ ≥ 0) on top of the known smooth background,
  z = √(2[NLL(0) − NLL(μ̂)]) (Cowan et al. 2011, q₀), solved with vectorised Newton steps for every
  histogram and every bin at once.

The classical baseline on these histograms is in :mod:`.bumphunt`, the figures of merit (AUC, peak
location) in :mod:`.ddp` and :mod:`.metrics`.

Conventions: a histogram has ``n_bins`` bins with integer centres ``0, 1, …, n_bins − 1`` in "bin units"
(signal means, widths and windows are in these units); the background forms are evaluated at
``x = linspace(x₁, x₂, n_bins)`` (default x₁ = 1, x₂ = 10, positive as the power and log forms need).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._lazy import lazy_module
from ._validate import choice, integer, number, require

ndimage, sparse, special = (lazy_module(f"scipy.{m}") for m in ("ndimage", "sparse", "special"))

__all__ = ["N_BINS", "SIGNAL_WIDTH", "BACKGROUND_FORMS", "OUTSIDE_FORMS", "background_curves",
           "outside_background_curves", "gaussian_shape", "template_windows", "asimov_z", "signal_amplitude",
           "local_significance", "local_significance_scipy", "generate_histograms"]

#: Bins per histogram (the paper's 100).
N_BINS = 100
#: Gaussian signal width in bins (the paper's 3).
SIGNAL_WIDTH = 3.0
#: Names of the ten background forms of Eq. (1), in the paper's order.
BACKGROUND_FORMS = (
    "exp",  # b·exp(−a x)
    "linear",  # a x + b
    "inv1",  # 1/(a x) + b
    "inv2",  # 1/(a x²) + b
    "inv3",  # 1/(a x³) + b
    "inv4",  # 1/(a x⁴) + b
    "quadratic",  # a (x − x₂)² + y₂
    "log",  # −a ln x + b
    "cos",  # (y₁ − y₂) cos(a (x − b)) + y₂, b = x₁, a quarter period over the range
    "cosh",  # cosh(a (x − x₂)) + b
)


# --------------------------------------------------------------------------------------------
# background forms, Eq. (1)
# --------------------------------------------------------------------------------------------
def background_curves(forms, y1, y2, n_bins: int = N_BINS, x_range: tuple[float, float] = (1.0, 10.0)) -> np.ndarray:
    """Smooth backgrounds of Eq. (1) through (x₁, y₁) and (x₂, y₂) at the extreme bin centres.

    data-directed-bump-hunting.txt, Eq. (1): b e^(−ax), ax + b, 1/(ax) + b, 1/(ax²) + b, 1/(ax³) + b,
    1/(ax⁴) + b, a(x − x₂)² + y₂, −a ln(x) + b, (y₁ − y₂) cos(a(x − b)) + y₂, cosh(a(x − x₂)) + b;
    a and b are fixed by the two points. In the cosine form b is a phase (b = x₁) and a gives a quarter
    period over the range, so the curve falls from y₁ to y₂. Taught in Chapter 7.

    Parameters
    ----------
    forms : int or str, or array of them
        Index into :data:`BACKGROUND_FORMS` (0-9) or the form's name, one per histogram.
    y1, y2 : float or array
        Values at the first and the last bin centre, ``y1 > y2 > 0``.
    n_bins : int
    x_range : (float, float)
        ``(x₁, x₂)``, the abscissae of the first and the last bin centre, ``0 < x₁ < x₂``.

    Returns
    -------
    numpy.ndarray, shape ``(M, n_bins)``
    """
    x, x1, x2, idx, y1, y2 = _curve_inputs(n_bins, x_range, _form_indices(forms), y1, y2)
    out = np.empty((len(idx), x.shape[1]))
    for k in np.unique(idx):
        m = idx == k
        a1, a2 = y1[m, None], y2[m, None]
        d = a1 - a2
        if k == 0:  # b e^{-ax}
            a = np.log(a1 / a2) / (x2 - x1)
            out[m] = a1 * np.exp(-a * (x - x1))
        elif k == 1:  # ax + b
            out[m] = a1 - d * (x - x1) / (x2 - x1)
        elif 2 <= k <= 5:  # 1/(a x^p) + b
            p = k - 1
            inv_a = d / (x1 ** -p - x2 ** -p)
            out[m] = a2 + inv_a * (x ** -p - x2 ** -p)
        elif k == 6:  # a (x - x2)^2 + y2
            out[m] = a2 + d * ((x - x2) / (x1 - x2)) ** 2
        elif k == 7:  # -a ln x + b
            out[m] = a1 - d * np.log(x / x1) / math.log(x2 / x1)
        elif k == 8:  # (y1 - y2) cos(a (x - x1)) + y2
            out[m] = a2 + d * np.cos(0.5 * math.pi * (x - x1) / (x2 - x1))
        else:  # cosh(a (x - x2)) + b
            a = np.arccosh(d + 1.0) / (x2 - x1)
            out[m] = a2 - 1.0 + np.cosh(a * (x - x2))
    return out


#: Smooth shapes *outside* the ten training forms, to test how the DDP network generalises (Chapter 7).
OUTSIDE_FORMS = (
    "powexp",  # power law × exponential, x^(−p) e^(−c x)
    "dijet",  # the dijet function (1 − u)^p₁ / u^p₂ of LHC resonance searches, u = 0.1 … 0.5
    "turnon",  # an exponential fall times a trigger-like turn-on (error function at bin 12, width 4 bins)
)


def outside_background_curves(kind: str, y1, y2, n_bins: int = N_BINS,
                              x_range: tuple[float, float] = (1.0, 10.0)) -> np.ndarray:
    """Smoothly falling backgrounds that are *not* among the ten forms of Eq. (1) (Chapter 7, generalisation).

    Each runs through (x₁, y₁) and (x₂, y₂) like :func:`background_curves`; L = ln(y₁/y₂) is the total
    log drop:

    * ``"powexp"``: ln f = ln y₁ − (L/2)·ln(x/x₁)/ln(x₂/x₁) − (L/2)·(x − x₁)/(x₂ − x₁), a power law times an
      exponential, each carrying half of the drop;
    * ``"dijet"``: f ∝ (1 − u)^p₁ u^(−p₂) with u from 0.1 to 0.5 over the histogram (the dijet function of
      LHC resonance searches), the two factors again sharing the drop;
    * ``"turnon"``: the exponential through the end points times Φ((k − 12)/4) (bin index k): a trigger or
      selection turn-on, so the spectrum rises over the first ~20 bins, peaks and then falls.

    Returns ``(M, n_bins)``.
    """
    choice("kind", kind, OUTSIDE_FORMS)
    x, x1, x2, _, y1, y2 = _curve_inputs(n_bins, x_range, 0, y1, y2)
    t = (x - x1) / (x2 - x1)
    drop = np.log(y1 / y2)[:, None]
    ln_y1 = np.log(y1)[:, None]
    if kind == "powexp":
        return np.exp(ln_y1 - 0.5 * drop * np.log(x / x1) / math.log(x2 / x1) - 0.5 * drop * t)
    if kind == "dijet":
        u = 0.1 + 0.4 * t
        return np.exp(ln_y1 - 0.5 * drop * np.log((1.0 - u) / 0.9) / math.log(0.5 / 0.9)
                      - 0.5 * drop * np.log(u / 0.1) / math.log(5.0))
    k = np.arange(x.shape[1])[None, :]
    return np.exp(ln_y1 - drop * t) * special.ndtr((k - 12.0) / 4.0)


def _curve_inputs(n_bins, x_range, idx, y1, y2):
    """Checked inputs of the background curves: the grid ``x`` ``(1, n_bins)``, x₁, x₂, and the form indices
    and end values broadcast to one length."""
    n_bins = integer("n_bins", n_bins, minimum=3)
    x1, x2 = (float(v) for v in x_range)
    require(0 < x1 < x2, f"x_range must satisfy 0 < x1 < x2, got {x_range!r}")
    idx, y1, y2 = np.broadcast_arrays(np.atleast_1d(idx), np.atleast_1d(np.asarray(y1, dtype=np.float64)),
                                      np.atleast_1d(np.asarray(y2, dtype=np.float64)))
    require(np.isfinite(y1).all() and np.isfinite(y2).all() and np.all(y2 > 0) and np.all(y1 > y2),
            "y1 and y2 must be finite with y1 > y2 > 0")
    return np.linspace(x1, x2, n_bins)[None, :], x1, x2, idx, y1, y2


def _form_indices(forms) -> np.ndarray:
    arr = np.asarray(forms)
    if arr.dtype.kind in "US":
        unknown = sorted(set(arr.ravel().tolist()) - set(BACKGROUND_FORMS))
        require(not unknown, f"forms: unknown background form(s) {unknown}; known: {BACKGROUND_FORMS}")
        arr = np.vectorize(BACKGROUND_FORMS.index, otypes=[np.int64])(arr)
    require(arr.dtype.kind in "iu" and np.all(arr >= 0) and np.all(arr < len(BACKGROUND_FORMS)),
            f"forms must be names or integers 0-{len(BACKGROUND_FORMS) - 1}, got {forms!r}")
    return arr.astype(np.int64)


# --------------------------------------------------------------------------------------------
# Gaussian signal shape and the template windows
# --------------------------------------------------------------------------------------------
def gaussian_shape(mean, width: float = SIGNAL_WIDTH, n_bins: int = N_BINS) -> np.ndarray:
    """Fraction of a unit-area Gaussian (mean, width in bin units) falling in each bin.

    Bin ``i`` spans ``[i − ½, i + ½]``; the contents are erf differences (bin integrals), so they sum to
    slightly less than 1 when the Gaussian reaches beyond the histogram. Returns ``(M, n_bins)``.
    """
    n_bins = integer("n_bins", n_bins, minimum=3)
    number("width", width, low=0, low_open=True)
    mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
    require(np.isfinite(mean), "mean must be finite")
    edges = np.arange(n_bins + 1) - 0.5
    cdf = 0.5 * special.erf((edges[None, :] - mean[:, None]) / (math.sqrt(2.0) * width))
    return np.diff(cdf, axis=1)


def template_windows(width: float = SIGNAL_WIDTH, n_bins: int = N_BINS):
    """Signal templates centred on every bin, cut to their short support.

    The template for bin ``k`` is :func:`gaussian_shape` with mean ``k``, kept only within
    ``± ceil(4·width)`` bins of ``k`` (outside it is below 3·10⁻⁵ of the total) and zero beyond the
    histogram edges.

    Returns
    -------
    windows : numpy.ndarray, shape ``(n_bins, 2h + 1)``
        ``windows[k, j]`` is the template of bin ``k`` in bin ``k − h + j``.
    h : int
        Half-width of the support in bins.
    """
    k = np.arange(integer("n_bins", n_bins, minimum=3))
    h = int(math.ceil(4.0 * width))
    padded = np.pad(gaussian_shape(k, width, n_bins), ((0, 0), (h, h)))
    return padded[k[:, None], k[:, None] + np.arange(2 * h + 1)[None, :]], h


def _dense_templates(win, h):
    """The windows of :func:`template_windows` as full rows ``(n_bins, n_bins)``, zero off their support."""
    n_bins = len(win)
    k = np.arange(n_bins)[:, None]
    dense = np.zeros((n_bins, n_bins + 2 * h))
    dense[k, k + np.arange(2 * h + 1)] = win
    return dense[:, h:h + n_bins]


# --------------------------------------------------------------------------------------------
# profile likelihood
# --------------------------------------------------------------------------------------------
def asimov_z(amplitude, shape, background) -> np.ndarray:
    """Profile-likelihood significance of the data ``background + amplitude·shape`` (Asimov data).

    For Asimov data μ̂ equals the amplitude, so the q₀ of Cowan et al. (2011) has the closed form
    z = √(2 Σᵢ [(bᵢ + A sᵢ) ln(1 + A sᵢ/bᵢ) − A sᵢ]). Shapes ``(M,)``, ``(M, n)``, ``(M, n)`` → ``(M,)``.
    """
    a = np.asarray(amplitude, dtype=np.float64)[..., None]
    s = np.asarray(shape, dtype=np.float64)
    b = np.asarray(background, dtype=np.float64)
    r = a * s / b
    q = np.sum(b * ((1.0 + r) * np.log1p(r) - r), axis=-1)
    return np.sqrt(2.0 * np.maximum(q, 0.0))


def signal_amplitude(significance, shape, background, *, tol: float = 1e-10, max_iter: int = 50) -> np.ndarray:
    """Signal amplitude (total events) whose Asimov significance over ``background`` is ``significance``.

    Solves :func:`asimov_z` (A) = Z for every histogram at once with Newton steps on z(A), which is
    almost linear in A: dz/dA = Σ sᵢ ln(1 + A sᵢ/bᵢ) / z. The start A₀ = Z/√(Σ s²/b) (the Gaussian
    limit) lies left of the root because z(A) ≤ A √(Σ s²/b).

    Parameters
    ----------
    significance : float or array, ≥ 0
    shape : array ``(M, n_bins)``
        Unit-area signal shape per bin (:func:`gaussian_shape`).
    background : array ``(M, n_bins)``, > 0
        The reference background (the paper: the fluctuated one).
    """
    s = np.atleast_2d(np.asarray(shape, dtype=np.float64))
    b = np.atleast_2d(np.asarray(background, dtype=np.float64))
    require(s.shape == b.shape, f"shape {s.shape} and background {b.shape} must have the same shape")
    require(b > 0, "background must be positive in every bin")
    require(np.isfinite(s) & (s >= 0), "shape must be finite and non-negative")
    z = np.broadcast_to(np.asarray(significance, dtype=np.float64), (len(s),))
    require(np.isfinite(z) & (z >= 0), f"significance must be finite and >= 0, got {significance!r}")
    fisher = np.sum(s * s / b, axis=1)
    require((fisher > 0) | (z <= 0), "shape is zero for a histogram that needs a signal")
    a = np.where(z > 0, z / np.sqrt(np.where(fisher > 0, fisher, 1.0)), 0.0)
    active = np.flatnonzero(z > 0)  # the histograms still iterating
    for _ in range(max_iter):
        ai, si, bi = a[active], s[active], b[active]
        zi = asimov_z(ai, si, bi)
        step = (zi - z[active]) / (np.sum(si * np.log1p(ai[:, None] * si / bi), axis=1) / np.maximum(zi, 1e-300))
        a[active] = np.maximum(ai - step, 0.5 * ai)
        active = active[~(np.abs(step) <= tol * np.maximum(a[active], 1.0))]
        if not active.size:
            break
    return a


_N_MOMENTS = 7  # L_1..L_6 in the series, L_7 bounds the remainder
# precision of z (absolute below z = 1, relative above) and of μ̂ (relative to max(μ̂, 1) events; errors in
# μ̂ enter z only at second order, since q is stationary at μ̂); Newton steps of the exact path at most
_TOL, _MU_TOL, _MAX_ITER = 1e-9, 1e-7, 50


def local_significance(counts, background, *, width: float = SIGNAL_WIDTH, return_mu: bool = False):
    """Per-bin local significance z of a Gaussian bump on a known background (the DDP target).

    For every histogram and every bin k, fit λᵢ = bᵢ + μ tᵢ(k) with the template t(k) of
    :func:`template_windows` (fixed width, centred on bin k) by maximum Poisson likelihood with μ ≥ 0,
    and return z = √(2[NLL(0) − NLL(μ̂)]) (q₀ of Cowan et al. 2011; z = 0 where μ̂ = 0). This is the
    target z of data-directed-bump-hunting.txt (Fig. 1b), taught in Chapter 7.

    Vectorised, no per-histogram fit. With rᵢ = tᵢ/bᵢ the score g(μ) = Σt − Σᵢ nᵢrᵢ/(1 + μrᵢ) is
    increasing and concave, and μ̂ > 0 exactly where g(0) < 0.

    1. The moments Lⱼ = Σᵢ nᵢ rᵢʲ (j = 1…7) are seven (sparse, banded) matrix products over all
       histograms and bins.
    2. g and q = NLL(0) − NLL(μ) are power series in μrᵢ with these moments as coefficients: Newton steps
       on the truncated series give μ̂ and z for every pair at once. Where the series remainder bound
       (both series alternate with terms shrinking by x = μ·max rᵢ < 1, so the first omitted term, from
       L₇, bounds it) guarantees the precision (below), that is the answer.
    3. The other pairs (large bumps on small backgrounds) take exact Newton steps on the short template
       support, starting from the series root clipped below by the first Newton step from 0 (a lower
       bound since g is concave), so they converge monotonically.

    z is exact to 10⁻⁹ (absolute below z = 1, relative above), μ̂ to 10⁻⁷ relative (of ``max(μ̂, 1)``
    events). Histograms are processed in blocks of 1,024 (to keep the work arrays in cache) in threads
    (NumPy releases the GIL): as many as CPUs, at most 4.

    Parameters
    ----------
    counts : array ``(M, n_bins)`` or ``(n_bins,)``, ≥ 0
        Observed (possibly non-integer) bin contents.
    background : array, same shape, > 0
        Known smooth background.
    width : float
        Template width in bins, see :func:`template_windows`.
    return_mu : bool
        Also return μ̂ (fitted signal events, ``(M, n_bins)``).

    Returns
    -------
    z : numpy.ndarray ``(M, n_bins)`` (``(n_bins,)`` for a single histogram), or ``(z, mu)``.
    """
    n, b = _histograms(counts, background)
    win, h = template_windows(width, n.shape[1])
    dense = _dense_templates(win, h)  # (K, n_bins)
    powers = [sparse.csr_matrix(dense ** j) for j in range(1, _N_MOMENTS + 1)]
    z_out, mu_out = np.zeros(n.shape), np.zeros(n.shape)
    with ThreadPoolExecutor(min(os.cpu_count() or 1, 4)) as pool:  # each block writes its own rows
        list(pool.map(lambda sl: _local_significance_block(n[sl], b[sl], z_out[sl], mu_out[sl], win, h, powers),
                      [slice(i, i + 1024) for i in range(0, len(n), 1024)]))
    if np.ndim(counts) == 1:
        z_out, mu_out = z_out[0], mu_out[0]
    return (z_out, mu_out) if return_mu else z_out


def _histograms(counts, background=None):
    """``counts`` (and ``background``) as float64 arrays ``(histograms, bins)``, checked: counts finite and
    ≥ 0; background finite, > 0 and of the same shape."""
    n = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    require(n.ndim == 2, f"counts must be 1D or 2D (histograms, bins), got shape {n.shape}")
    require(np.isfinite(n) & (n >= 0), "counts must be finite and non-negative")
    if background is None:
        return n
    b = np.atleast_2d(np.asarray(background, dtype=np.float64))
    require(b.shape == n.shape, f"background shape {b.shape} must equal counts shape {n.shape}")
    require(np.isfinite(b) & (b > 0), "background must be finite and positive")
    return n, b


def _local_significance_block(nc, bc, z, mu_out, win, h, powers):
    """:func:`local_significance` of the histograms ``nc`` on ``bc``, written into ``z`` and ``mu_out``."""
    inv_b = 1.0 / bc
    v = nc * inv_b
    moments = []
    for p in powers:  # L_j = Σ_i n_i t_i^j / b_i^j for every (histogram, bin): banded products
        moments.append((p @ v.T).T)
        v = v * inv_b
    score = (powers[0] @ ((nc - bc) * inv_b).T).T  # −g(0) = Σ t (n − b)/b, exactly 0 for n = b
    hist, pos = np.nonzero(score > 0)  # (none: the steps below run on empty arrays)
    L = [m[hist, pos] for m in moments]
    L_next = L.pop()  # first omitted moment
    score_p = score[hist, pos]
    lower = score_p / L[1]  # first Newton step from μ = 0: a lower bound of μ̂
    # x = μ max_i r_i, with max_i r_i <= t_peak · (max of 1/b over the window)
    rmax = win.max(axis=1)[pos] * ndimage.maximum_filter1d(inv_b, size=2 * h + 1, axis=1, mode="nearest")[hist, pos]
    cap = 0.5 / rmax  # the series converges for x < 1; beyond x = 0.5 we do not use it
    mu = np.minimum(lower, cap)
    J = len(L)
    for _ in range(12):  # Newton on the series g(μ) ≈ Σt − Σ_{j<J} (−μ)^j L_{j+1}
        g = (-1) ** J * L[J - 1]
        dg = np.zeros_like(mu)
        for j in range(J - 2, -1, -1):  # Horner
            dg = dg * mu + g
            g = g * mu + (-1) ** (j + 1) * L[j]
        g = g + L[0] - score_p  # constant term Σt − L₁, taken from the exactly computed score
        new = np.clip(mu - g / np.where(dg > 0, dg, L[1]), np.minimum(lower, cap), cap)
        done = np.all(np.abs(new - mu) <= 0.1 * _MU_TOL * np.maximum(new, 1.0))
        mu = new
        if done:
            break
    x = mu * rmax
    safe = x < 0.5
    xs = np.where(safe, x, 0.0)
    # alternating series with terms shrinking by ≤ x < 1: the remainder is below the first omitted term
    rem_g = mu ** J * L_next
    gprime = L[1] / (1.0 + xs) ** 2  # ≤ g'(μ)
    q = np.zeros_like(mu)
    for j in range(J, 0, -1):  # q = Σ_{j=1}^{J} (−1)^{j+1} μ^j L_j / j − μ Σt
        q = (q + (-1) ** (j + 1) * L[j - 1] / j) * mu
    q = q - mu * (L[0] - score_p)  # −μΣt, with μ(L₁ − Σt) replaced by μ·score (no cancellation)
    rem_q = mu ** (J + 1) * L_next / (J + 1)
    zs = np.sqrt(2.0 * np.maximum(q, 0.0))  # δz ≈ δq / z
    ok = safe & (rem_g / gprime <= _MU_TOL * np.maximum(mu, 1.0)) & (rem_q <= _TOL * zs * np.maximum(zs, 1.0))
    bad = np.flatnonzero(~ok)
    if len(bad):
        hb, pb = hist[bad], pos[bad]
        idx = (hb * (nc.shape[1] + 2 * h) + pb)[:, None] + np.arange(win.shape[1])
        r = win[pb] * np.take(np.pad(inv_b, ((0, 0), (h, h))).ravel(), idx)
        npad = np.take(np.pad(nc, ((0, 0), (h, h))).ravel(), idx)
        mb, lb, tb = mu[bad], lower[bad], win.sum(axis=1)[pb]
        active = np.arange(len(bad))
        ra, aa = r, npad * r
        for _ in range(_MAX_ITER):
            ma = mb[active]
            inv = 1.0 / (1.0 + ma[:, None] * ra)
            wgt = aa * inv
            g = tb[active] - wgt.sum(axis=1)
            hess = np.einsum("ij,ij,ij->i", wgt, ra, inv)
            new = np.maximum(ma - g / hess, lb[active])
            mb[active] = new
            moving = np.abs(new - ma) > 0.1 * _MU_TOL * np.maximum(new, 1.0)
            if not moving.any():
                break
            active, ra, aa = active[moving], ra[moving], aa[moving]
        mu[bad] = mb
        q[bad] = np.einsum("ij,ij->i", npad, np.log1p(mb[:, None] * r)) - mb * tb
    z[hist, pos] = np.sqrt(2.0 * np.maximum(q, 0.0))
    mu_out[hist, pos] = np.maximum(mu, 0.0)


def local_significance_scipy(counts, background, *, width: float = SIGNAL_WIDTH, return_mu: bool = False):
    """Reference implementation of :func:`local_significance`: one SciPy fit per histogram and bin
    (``scipy.optimize.brentq`` on the score dNLL/dμ, μ ≥ 0). Slow; for tests and the benchmark only."""
    from scipy.optimize import brentq

    n, b = _histograms(counts, background)
    dense = _dense_templates(*template_windows(width, n.shape[1]))
    z, mus = np.zeros(n.shape), np.zeros(n.shape)
    for m, k in np.ndindex(n.shape):
        sel = dense[k] > 0
        tk, nk, bk = dense[k, sel], n[m, sel], b[m, sel]

        def nll(mu, tk=tk, nk=nk, bk=bk):
            lam = bk + mu * tk
            return float(np.sum(lam - nk * np.log(lam)))

        def score(mu, tk=tk, nk=nk, bk=bk):
            return float(np.sum(tk - nk * tk / (bk + mu * tk)))

        if score(0.0) < 0:
            hi = 1.0
            while score(hi) < 0:
                hi *= 4.0
            mus[m, k] = brentq(score, 0.0, hi, xtol=1e-13, rtol=1e-14, maxiter=500)
        z[m, k] = math.sqrt(max(2.0 * (nll(0.0) - nll(mus[m, k])), 0.0))
    if np.asarray(counts).ndim == 1:
        z, mus = z[0], mus[0]
    return (z, mus) if return_mu else z


# --------------------------------------------------------------------------------------------
# sample generation
# --------------------------------------------------------------------------------------------
def generate_histograms(n: int, significance=(1.0, 20.0), *, rng=None, width: float = SIGNAL_WIDTH,
                        mean_range: tuple[float, float] = (25.0, 75.0), y_range: tuple[float, float] = (100.0, 1.0e4),
                        forms: Sequence | None = None, reference: str = "fluctuated",
                        fluctuate_signal: bool = False, targets: bool = True, outside: str | None = None) -> dict:
    """Samples of the DDP paper: (histogram, z target) pairs (data-directed-bump-hunting.txt, Fig. 1).

    Each histogram (:data:`N_BINS` bins): one background form of Eq. (1) chosen uniformly
    (:func:`background_curves` at x from 1 to 10, our choice), y₁ > y₂ the sorted pair of two uniform draws
    from ``y_range``; Poisson fluctuations of the background; plus a
    Gaussian signal (``width`` bins, mean uniform in ``mean_range``, bin-integrated) whose amplitude gives
    the requested significance Z relative to the reference background (:func:`signal_amplitude`). The
    signal is added as its expectation (not fluctuated) unless ``fluctuate_signal``.

    Parameters
    ----------
    n : int
        Number of histograms.
    significance : float or (low, high)
        Fixed Z (``3.0`` for the paper's test set, ``0`` for background-only samples) or a uniform range
        (``(1, 20)`` for training).
    rng : numpy.random.Generator or int, optional
    width : float
        Signal width in bins (the paper's 3).
    mean_range : (float, float)
        Range of the signal mean in bin units (paper: bins 25-75; a single value for ``(m, m)``).
    y_range : (float, float)
        Range of the end-point values y₁, y₂ (paper: [100, 10⁴]).
    forms : sequence of int or str, optional
        Restrict the background forms (default: all ten, uniformly).
    reference : {"fluctuated", "smooth", "window"}
        What "significance relative to the fluctuated background" means:
        ``"fluctuated"`` (default) -- the profile-likelihood (Asimov) significance of the injected shape
        with the *fluctuated* background counts as the known background; ``"smooth"`` -- the same with the
        smooth background; ``"window"`` -- S/√B of the fluctuated background within ±2 widths of the mean.
    fluctuate_signal : bool
        Add Poisson-fluctuated signal counts instead of the expectation.
    targets : bool
        Compute the z targets with :func:`local_significance` (the slow part).
    outside : str, optional
        One of :data:`OUTSIDE_FORMS`: use that shape (:func:`outside_background_curves`) for every
        histogram instead of the ten forms (the random draws are the same, so the sets are paired).

    Returns
    -------
    dict of numpy arrays
        ``counts`` (M, n_bins) observed N = B_fluct + S; ``background`` smooth B; ``background_fluct``;
        ``signal`` expected S per bin; ``z`` targets (if ``targets``); ``mean``, ``significance``,
        ``amplitude``, ``form`` (index), ``y1``, ``y2``.
    """
    n = integer("n", n, minimum=1)
    rng = np.random.default_rng(rng)
    lo_y, hi_y = (float(v) for v in y_range)
    require(0 < lo_y < hi_y, f"y_range must satisfy 0 < low < high, got {y_range!r}")
    lo_m, hi_m = (float(v) for v in mean_range)
    require(0 <= lo_m <= hi_m <= N_BINS - 1, f"mean_range must lie within [0, N_BINS - 1], got {mean_range!r}")
    choice("reference", reference, ("fluctuated", "smooth", "window"))
    if np.ndim(significance) == 0:
        zs = np.full(n, float(significance))
    else:
        lo_z, hi_z = (float(v) for v in significance)
        require(0 <= lo_z <= hi_z, f"significance range must satisfy 0 <= low <= high, got {significance!r}")
        zs = rng.uniform(lo_z, hi_z, n)
    require(np.isfinite(zs) & (zs >= 0), f"significance must be finite and >= 0, got {significance!r}")
    if forms is None:
        form = rng.integers(0, len(BACKGROUND_FORMS), n)
    else:
        allowed = np.unique(_form_indices(np.asarray(forms)))
        form = allowed[rng.integers(0, len(allowed), n)]
    yy = np.sort(rng.uniform(lo_y, hi_y, (n, 2)), axis=1)
    y1, y2 = yy[:, 1], yy[:, 0]
    bkg = background_curves(form, y1, y2) if outside is None else outside_background_curves(outside, y1, y2)
    bkg_fl = rng.poisson(bkg).astype(np.float64)
    mean = rng.uniform(lo_m, hi_m, n)
    # the signal lives on a short window of ±ceil(5·width) bins around its mean (outside: < 3e-7 of it)
    hw = int(math.ceil(5.0 * width))
    first = np.clip(np.floor(mean).astype(int) - hw, 0, max(N_BINS - 2 * hw - 2, 0))
    cols = first[:, None] + np.arange(min(2 * hw + 2, N_BINS))[None, :]
    rows = np.arange(n)[:, None]
    edges_lo = cols - 0.5
    scale = math.sqrt(2.0) * width
    shape_w = 0.5 * (special.erf((edges_lo + 1.0 - mean[:, None]) / scale)
                     - special.erf((edges_lo - mean[:, None]) / scale))
    if reference == "window":
        near = np.abs(cols - mean[:, None]) <= 2.0 * width
        amp = zs * np.sqrt(np.sum(bkg_fl[rows, cols] * near, axis=1)) / np.sum(shape_w * near, axis=1)
    else:
        ref = np.maximum(bkg_fl[rows, cols], 0.5) if reference == "fluctuated" else bkg[rows, cols]
        amp = signal_amplitude(zs, shape_w, ref)
    sig = np.zeros((n, N_BINS))
    sig[rows, cols] = amp[:, None] * shape_w
    counts = bkg_fl + (rng.poisson(sig) if fluctuate_signal else sig)
    out = {"counts": counts, "background": bkg, "background_fluct": bkg_fl, "signal": sig, "mean": mean,
           "significance": zs, "amplitude": amp, "form": form, "y1": y1, "y2": y2}
    if targets:
        out["z"] = local_significance(counts, bkg, width=width)
    return out
