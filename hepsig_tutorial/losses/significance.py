"""The ℓ_s/√(s+b) and ℓ_Asimov losses of Elwood & Krücker.

Chapter 5 ("Training on s/√(s+b) and on the Asimov significance", ``sec-asimov``) teaches this module;
its training recipe is :mod:`hepsig_tutorial.asimov` and its evaluation :mod:`hepsig_tutorial.metrics`.
Equation numbers refer to significance-asimov-losses.txt. Trained classifiers are evaluated with hard cuts
by :func:`hepsig_tutorial.metrics.cut_scan` (the book's one protocol), not here.

Relaxed counts (Eqs. 4.1-4.4). For a batch with sigmoid outputs ŷᵢ, labels yᵢ and weights wᵢ,

* ``normalisation="batch"`` (the paper's; the default): s = S · Σ_sig wᵢŷᵢ / Σ_sig wᵢ and
  b = B · Σ_bkg wᵢŷᵢ / Σ_bkg wᵢ, with S and B the full expected yields. With equal weights inside a
  class this is exactly Eqs. 4.1-4.4: W_s = S/N_sig,batch rescales the *signal events present in this
  batch* to the expected yield, so the batch-to-batch fluctuation of the class composition drops out
  (a ratio estimator).
* ``normalisation="fraction"``: s = Σ_sig wᵢŷᵢ / f, b = Σ_bkg wᵢŷᵢ / f, with f = batch size / data size
  (``batch["fraction"]`` from :func:`hepsig_tutorial.train.fit`) and weights that sum to the expected
  yields over the training set. Unbiased for every batch composition, but it carries the Poisson
  fluctuation of how many signal and background events fell into the batch.

Both coincide for the full data set (one batch). Neither needs the events to be balanced.

Losses. ``s_over_sqrt_s_plus_b_loss`` is Eq. 4.5, ℓ = (s+b)/s². ``asimov_loss`` is Eq. 4.6,
ℓ = 1/Z_A with ``power=1`` (the paper) or 1/Z_A² with ``power=2`` (what the authors' public code
returns), with σ_b = ``sigma_b_rel`` · b. Z_A is evaluated in float64 by
:func:`hepsig_tutorial.stats.asimov_significance` and differentiated in closed form (``_AsimovZ``:
∂(Z_A²/2)/∂s = ln(1 + s/(b(1 + k(s+b)))), k = (σ_b/b)², no cancellation), so the loss is exact for any
input dtype and costs a few microseconds per batch.

Floors. Z_A diverges at b = 0 (an empty background selection looks infinitely significant) and both
losses diverge at s = 0. The losses therefore use s + ``s_floor`` and b + ``b_floor`` (both in expected
events; defaults 10⁻³ and 0.1). The background floor is a modelling choice, not only a numerical one:
it says "never believe a selection with less than ~0.1 expected background events" -- a batch of a few
thousand simulated events cannot resolve less anyway (one tt̄ event of a 4096-event batch carries ~10
expected events in the paper's set-up). With the floors the losses and their gradients are finite for
every s, b ≥ 0 and σ_b ≥ 0 (tests/test_significance_losses.py).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..stats import asimov_significance

__all__ = [
    "relaxed_counts",
    "s_over_sqrt_s_plus_b_loss",
    "asimov_loss",
    "naive_asimov_significance",
    "s_over_sqrt_s_plus_b_loss_fn",
    "asimov_loss_fn",
    "SOverSqrtSPlusBLoss",
    "AsimovLoss",
]

S_FLOOR = 1e-3
B_FLOOR = 0.1
_NORMALISATIONS = ("batch", "fraction")


def _check_nonneg(name, value):
    if isinstance(value, bool) or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")


# ------------------------------------------------------------------------------------------------
# relaxed counts and the two losses
# ------------------------------------------------------------------------------------------------
def relaxed_counts(output: torch.Tensor, batch, *, normalisation: str = "batch",
                   expected_signal: float | None = None, expected_background: float | None = None):
    """Differentiable expected signal and background selected by a batch (Eqs. 4.1-4.4).

    Parameters
    ----------
    output : tensor (N,)
        Sigmoid outputs ŷ ∈ [0, 1] (the relaxed selection).
    batch : mapping
        ``"y"`` (1 signal, 0 background), optional ``"w"`` (per-event weights; ones if absent) and, for
        ``normalisation="fraction"``, ``"fraction"`` (as :func:`hepsig_tutorial.train.fit` provides).
    normalisation : {"batch", "fraction"}
        See the module docstring. ``"batch"`` needs ``expected_signal`` and ``expected_background``.
    expected_signal, expected_background : float
        Full expected yields S and B (``StopToy.expected_signal`` ...).

    Returns
    -------
    (s, b) : scalar tensors, in expected events.
    """
    if normalisation not in _NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {_NORMALISATIONS}, got {normalisation!r}")
    y = batch["y"]
    if output.shape != y.shape:
        raise ValueError(f"output has shape {tuple(output.shape)} but batch['y'] has {tuple(y.shape)}")
    w = batch.get("w")
    w = torch.ones_like(output) if w is None else w
    sig = y.to(output.dtype)
    bkg = 1.0 - sig
    if normalisation == "batch":
        if expected_signal is None or expected_background is None:
            raise ValueError("normalisation='batch' needs expected_signal and expected_background")
        _check_nonneg("expected_signal", expected_signal)
        _check_nonneg("expected_background", expected_background)
        # a batch without events of a class selects none of it (s or b = 0), never 0/0
        n_s, n_b = (w * sig).sum(), (w * bkg).sum()
        n_s = torch.where(n_s > 0, n_s, torch.ones_like(n_s))
        n_b = torch.where(n_b > 0, n_b, torch.ones_like(n_b))
        return expected_signal * (w * sig * output).sum() / n_s, expected_background * (w * bkg * output).sum() / n_b
    fraction = batch.get("fraction", 1.0)
    if not 0 < float(fraction) <= 1:
        raise ValueError(f"batch['fraction'] must be in (0, 1], got {fraction!r}")
    return (w * sig * output).sum() / fraction, (w * bkg * output).sum() / fraction


def s_over_sqrt_s_plus_b_loss(s, b, *, s_floor: float = S_FLOOR):
    """ℓ_s/√(s+b) = (s+b)/s² (Eq. 4.5), the inverse square of s/√(s+b), with s → s + ``s_floor``.

    Finite, with finite gradients, for every s, b ≥ 0 in float32.
    """
    _check_nonneg("s_floor", s_floor)
    s = torch.as_tensor(s)
    b = torch.as_tensor(b, dtype=s.dtype)
    if s_floor == 0:
        raise ValueError("s_floor must be positive (the loss diverges at s = 0)")
    if bool((s.detach() < 0).any()) or bool((b.detach() < 0).any()):
        raise ValueError("s and b must be non-negative")
    s_eff = s + s_floor
    return (s_eff + b) / (s_eff * s_eff)


def asimov_loss(s, b, sigma_b_rel: float, *, power: int = 1, s_floor: float = S_FLOOR, b_floor: float = B_FLOOR):
    """ℓ_Asimov = 1/Z_A (Eq. 4.6; ``power=2``: 1/Z_A² as in the authors' code) with σ_b = ``sigma_b_rel``·b.

    Z_A is Eq. 3.1 (:func:`hepsig_tutorial.stats.asimov_significance`), evaluated at s + ``s_floor`` and
    b + ``b_floor`` (the relative uncertainty applies to the floored b). Finite, with finite gradients,
    at b → 0, s → 0 and σ_b → 0 in float32.
    """
    _check_nonneg("sigma_b_rel", sigma_b_rel)
    _check_nonneg("s_floor", s_floor)
    _check_nonneg("b_floor", b_floor)
    if b_floor == 0:
        raise ValueError("b_floor must be positive (Z_A diverges at b = 0)")
    if s_floor == 0:
        raise ValueError("s_floor must be positive (1/Z_A diverges at s = 0)")
    if power not in (1, 2):
        raise ValueError(f"power must be 1 (the paper's 1/Z_A) or 2 (the code's 1/Z_A²), got {power!r}")
    s = torch.as_tensor(s)
    b = torch.as_tensor(b, dtype=s.dtype)
    if bool((s.detach() < 0).any()) or bool((b.detach() < 0).any()):
        raise ValueError("s and b must be non-negative")
    z = _AsimovZ.apply(s + s_floor, b + b_floor, float(sigma_b_rel))
    return 1.0 / z if power == 1 else 1.0 / (z * z)


def _log1p_minus_x(x):
    """ln(1+x) − x without cancellation (series below 10⁻³), float64 arrays."""
    series = x * x * (-0.5 + x * (1.0 / 3 - x * (0.25 - x * (0.2 - x / 6))))
    return np.where(x < 1e-3, series, np.log1p(np.maximum(x, 1e-3)) - np.maximum(x, 1e-3))


def _z_scalar(s: float, b: float, rel: float):
    """Z_A of one (s, b) pair in float64 from Z²/2 = n ln(1+s/b) − (n + 1/k) ln(1 + ks/(1+kb)), n = s+b,
    k = rel² (n ln(1+s/b) − s at k = 0); ``None`` where the two terms cancel to worse than 10⁻¹³ relative
    (their rounding, ~2·10⁻¹⁶·n(1+kb)/s relative to Z²/2), left to the series of ``ht.stats``."""
    if not (s > 0 and b > 0):
        return None
    k = rel * rel
    if k * (s + b) < 1e-17:  # the σ_b terms are below float64 resolution (and 1/k may overflow): σ_b = 0
        k = 0.0
    if 4e-16 * (s + b) * (1.0 + k * b) / s > 1e-13:
        return None
    n = s + b
    half_z2 = n * math.log1p(s / b) - (s if k == 0 else (n + 1.0 / k) * math.log1p(k * s / (1.0 + k * b)))
    return math.sqrt(2.0 * max(half_z2, 0.0))


class _AsimovZ(torch.autograd.Function):
    r"""Z_A(s, b, σ_b = rel·b) in float64 with its closed-form gradient (Eq. 3.1; used by :func:`asimov_loss`).

    With n = s + b and k = rel², Eq. 3.1 reads Z²/2 = n ln(n/b) − (n + 1/k) ln((1+kn)/(1+kb)), and

    ∂(Z²/2)/∂s = ln A,   ∂(Z²/2)/∂b = ln A − s/(b(1+kb)),   ln A = ln(1 + s/(b(1+kn))),

    (σ_b follows b). ln A is a log1p and the difference in ∂/∂b is written as
    [ln(1+x) − x] − k s²/(b(1+kn)(1+kb)) with x = s/(b(1+kn)), so nothing cancels; the value comes from
    :func:`~hepsig_tutorial.stats.asimov_significance` (or, for one scalar pair where it cannot cancel, from
    the closed form in ``_z_scalar``). The batch sums s and b are scalars, so doing this in float64 on the
    host is several times cheaper than differentiating the series form of ``stats`` op by op
    (benchmarks/bench_asimov_loss.py); the result has the dtype and device of ``s``.
    """

    @staticmethod
    def forward(ctx, s, b, rel):
        s_t, b_t = torch.broadcast_tensors(s, b)
        s64 = s_t.detach().cpu().double().numpy()
        b64 = b_t.detach().cpu().double().numpy()
        z = _z_scalar(float(s64), float(b64), rel) if s64.size == 1 else None
        if z is None:
            z = np.asarray(asimov_significance(s64, b64, rel * b64), dtype=np.float64)
        else:
            z = np.full(s64.shape, z)
        ctx.save_for_backward(s_t, b_t)
        ctx.rel, ctx.z, ctx.shapes = rel, z, (s.shape, b.shape)
        return torch.as_tensor(z, dtype=s.dtype, device=s.device)

    @staticmethod
    def backward(ctx, grad):
        s_t, b_t = ctx.saved_tensors
        s = s_t.detach().cpu().double().numpy()
        b = b_t.detach().cpu().double().numpy()
        k, z = ctx.rel * ctx.rel, ctx.z
        x = s / (b * (1.0 + k * (s + b)))
        ln_a = np.log1p(x)
        d_b = _log1p_minus_x(x) - k * s * s / (b * (1.0 + k * (s + b)) * (1.0 + k * b))
        with np.errstate(divide="ignore", invalid="ignore"):
            dz_ds = np.where(z > 0, ln_a / z, 1.0 / np.sqrt(b * (1.0 + k * b)))
            dz_db = np.where(z > 0, d_b / z, 0.0)
        g = grad.detach().cpu().double().numpy()
        gs = torch.as_tensor(g * dz_ds, dtype=grad.dtype, device=grad.device)
        gb = torch.as_tensor(g * dz_db, dtype=grad.dtype, device=grad.device)
        s_shape, b_shape = ctx.shapes
        gs = gs.sum_to_size(s_shape) if gs.shape != s_shape else gs
        gb = gb.sum_to_size(b_shape) if gb.shape != b_shape else gb
        return gs, gb, None


def naive_asimov_significance(s, b, sigma_b):
    """Eq. 3.1 typed in as printed -- **for comparison only** (Chapter 5 shows why not to use it).

    The two terms inside the bracket are each ≈ s while their difference is ≈ s²/(2(b+σ_b²)): for
    s ≪ σ_b the difference is lost to rounding in float32 and Z_A and its gradient become noise. This
    is the regime of a freshly initialised network (s/σ_b ~ 10⁻³), and it is one reason the paper found
    that ℓ_Asimov "would take many iterations before the loss started minimising". ``sigma_b`` must be
    positive (the formula is 0/0 at σ_b = 0). Works on tensors (keeps their dtype) and arrays.
    """
    lib = torch if isinstance(s, torch.Tensor) or isinstance(b, torch.Tensor) else np
    sb2 = sigma_b * sigma_b
    t1 = (s + b) * lib.log((s + b) * (b + sb2) / (b * b + (s + b) * sb2))
    t2 = b * b / sb2 * lib.log(1 + sb2 * s / (b * (b + sb2)))
    z2 = 2 * (t1 - t2)
    return lib.sqrt(z2.clamp(min=0) if lib is torch else np.maximum(z2, 0))


# ------------------------------------------------------------------------------------------------
# closures for hepsig_tutorial.train.fit, and nn.Module wrappers
# ------------------------------------------------------------------------------------------------
def s_over_sqrt_s_plus_b_loss_fn(*, normalisation: str = "batch", expected_signal: float | None = None,
                                 expected_background: float | None = None, s_floor: float = S_FLOOR):
    """``loss_fn(output, batch)`` for :func:`~hepsig_tutorial.train.fit`: Eq. 4.5 on the relaxed counts."""
    if normalisation == "batch" and (expected_signal is None or expected_background is None):
        raise ValueError("normalisation='batch' needs expected_signal and expected_background")

    def loss_fn(output, batch):
        s, b = relaxed_counts(output, batch, normalisation=normalisation, expected_signal=expected_signal,
                              expected_background=expected_background)
        return s_over_sqrt_s_plus_b_loss(s, b, s_floor=s_floor)

    return loss_fn


def asimov_loss_fn(sigma_b_rel: float, *, power: int = 1, normalisation: str = "batch",
                   expected_signal: float | None = None, expected_background: float | None = None,
                   s_floor: float = S_FLOOR, b_floor: float = B_FLOOR, use_naive: bool = False):
    """``loss_fn(output, batch)`` for :func:`~hepsig_tutorial.train.fit`: Eq. 4.6 on the relaxed counts.

    ``use_naive=True`` swaps in :func:`naive_asimov_significance` (same floors) -- only to show, in
    Chapter 5, what the printed formula does in float32.
    """
    _check_nonneg("sigma_b_rel", sigma_b_rel)
    if normalisation == "batch" and (expected_signal is None or expected_background is None):
        raise ValueError("normalisation='batch' needs expected_signal and expected_background")
    if use_naive and sigma_b_rel == 0:
        raise ValueError("use_naive needs sigma_b_rel > 0 (the printed formula is 0/0 at σ_b = 0)")

    def loss_fn(output, batch):
        s, b = relaxed_counts(output, batch, normalisation=normalisation, expected_signal=expected_signal,
                              expected_background=expected_background)
        if use_naive:
            b_eff = b + b_floor
            z = naive_asimov_significance(s + s_floor, b_eff, sigma_b_rel * b_eff)
            z = z.clamp_min(torch.finfo(z.dtype).tiny ** 0.5)
            return 1.0 / z if power == 1 else 1.0 / (z * z)
        return asimov_loss(s, b, sigma_b_rel, power=power, s_floor=s_floor, b_floor=b_floor)

    return loss_fn


class SOverSqrtSPlusBLoss(nn.Module):
    """``nn.Module`` form of :func:`s_over_sqrt_s_plus_b_loss_fn`: ``criterion(output, batch)``."""

    def __init__(self, **kwargs):
        super().__init__()
        self._fn = s_over_sqrt_s_plus_b_loss_fn(**kwargs)

    def forward(self, output, batch):
        return self._fn(output, batch)


class AsimovLoss(nn.Module):
    """``nn.Module`` form of :func:`asimov_loss_fn`: ``AsimovLoss(0.5, expected_signal=S, ...)(output, batch)``."""

    def __init__(self, sigma_b_rel: float, **kwargs):
        super().__init__()
        self.sigma_b_rel = sigma_b_rel
        self._fn = asimov_loss_fn(sigma_b_rel, **kwargs)

    def forward(self, output, batch):
        return self._fn(output, batch)
