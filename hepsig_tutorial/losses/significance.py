"""The ℓ_s/√(s+b) and ℓ_Asimov losses of Elwood & Krücker.

Chapter 5 ("Training on s/√(s+b) and on the Asimov significance", ``sec-asimov``) teaches this module;
its training recipe is :mod:`hepsig_tutorial.asimov` and its evaluation :mod:`hepsig_tutorial.metrics`.
Equation numbers refer to significance-asimov-losses.txt. Trained classifiers are evaluated with hard cuts
by :func:`hepsig_tutorial.metrics.cut_scan` (the book's one protocol), not here.

Relaxed counts (Eqs. 4.1-4.4, :func:`relaxed_counts`). For a batch with sigmoid outputs ŷᵢ (``pred``),
labels yᵢ (``target``) and weights wᵢ (``weight``),

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

Losses. :func:`s_over_sqrt_s_plus_b_loss` is Eq. 4.5, ℓ = (s+b)/s². :func:`asimov_loss` is Eq. 4.6,
ℓ = 1/Z_A with ``power=1`` (the paper) or 1/Z_A² with ``power=2`` (what the authors' public code
returns), with σ_b = ``sigma_b_rel`` · b. Both take the network output and compute the relaxed counts;
:func:`s_over_sqrt_s_plus_b_loss_from_counts` and :func:`asimov_loss_from_counts` are the same formulas on
given counts (s, b). Z_A is evaluated in float64 with the arithmetic of
:func:`hepsig_tutorial.stats.asimov_significance` and differentiated in closed form (``_AsimovZ``:
∂(Z_A²/2)/∂s = ln(1 + s/(b(1 + k(s+b)))), k = (σ_b/b)², no cancellation), so the loss is exact for any
input dtype; on a GPU it runs there, with no value read back to the host.

Floors. Z_A diverges at b = 0 (an empty background selection looks infinitely significant) and both
losses diverge at s = 0. The losses therefore use s + ``s_floor`` and b + ``b_floor`` (both in expected
events; defaults 10⁻³ and 0.1). The background floor is a modelling choice, not only a numerical one:
it says "never believe a selection with less than ~0.1 expected background events" -- a batch of a few
thousand simulated events cannot resolve less anyway (one tt̄ event of a 4096-event batch carries ~10
expected events in the paper's set-up). With the floors the losses and their gradients are finite for
every s, b ≥ 0 and σ_b ≥ 0 (tests/test_significance_losses.py).
"""

from __future__ import annotations

import numpy as np
import torch

from .._validate import choice, number, require
from ..stats import _asimov_z
from ._common import as_tensor, batch_loss, check_values

__all__ = [
    "relaxed_counts",
    "s_over_sqrt_s_plus_b_loss",
    "s_over_sqrt_s_plus_b_loss_from_counts",
    "asimov_loss",
    "asimov_loss_from_counts",
    "naive_asimov_significance",
    "make_s_over_sqrt_s_plus_b_loss",
    "make_asimov_loss",
]

S_FLOOR = 1e-3
B_FLOOR = 0.1


# ------------------------------------------------------------------------------------------------
# relaxed counts
# ------------------------------------------------------------------------------------------------
def _check_counts_options(normalisation, expected_signal, expected_background):
    if choice("normalisation", normalisation, ("batch", "fraction")) == "batch":
        require(expected_signal is not None and expected_background is not None,
                "normalisation='batch' needs expected_signal and expected_background")
        number("expected_signal", expected_signal, low=0)
        number("expected_background", expected_background, low=0)


def relaxed_counts(pred, target, weight=None, *, normalisation: str = "batch", expected_signal: float | None = None,
                   expected_background: float | None = None, fraction: float = 1.0, validate: bool = True):
    """Differentiable expected signal and background selected by a batch (Eqs. 4.1-4.4).

    Parameters
    ----------
    pred : tensor (N,)
        Sigmoid outputs ŷ ∈ [0, 1] (the relaxed selection).
    target : tensor or array (N,)
        1 signal, 0 background.
    weight : tensor or array (N,), optional
        Per-event weights (ones if ``None``).
    normalisation : {"batch", "fraction"}
        See the module docstring. ``"batch"`` needs ``expected_signal`` and ``expected_background``.
    expected_signal, expected_background : float
        Full expected yields S and B (``StopToy.expected_signal`` ...).
    fraction : float in (0, 1]
        Share of the data set in this batch (``batch["fraction"]``); used by ``normalisation="fraction"``.
    validate : bool
        Check the input *values* (ŷ ∈ [0, 1], 0/1 labels, finite weights ≥ 0); each check waits for the device.

    Returns
    -------
    (s, b) : scalar tensors, in expected events, in the dtype of ``pred``.
    """
    _check_counts_options(normalisation, expected_signal, expected_background)
    number("fraction", fraction, low=0, low_open=True, high=1)
    sig = as_tensor(target, "target", pred, pred.dtype, same_shape=True)
    w = torch.ones_like(pred) if weight is None else as_tensor(weight, "weight", pred, same_shape=True)
    if validate:
        check_values(pred, sig, w, probability=True)
    bkg = 1.0 - sig
    if normalisation == "batch":
        # a batch without events of a class selects none of it (s or b = 0), never 0/0
        n_s, n_b = (torch.where(n > 0, n, torch.ones_like(n)) for n in ((w * sig).sum(), (w * bkg).sum()))
        return expected_signal * (w * sig * pred).sum() / n_s, expected_background * (w * bkg * pred).sum() / n_b
    return (w * sig * pred).sum() / fraction, (w * bkg * pred).sum() / fraction


# ------------------------------------------------------------------------------------------------
# the two losses on counts
# ------------------------------------------------------------------------------------------------
def _counts(s, b, validate):
    s = torch.as_tensor(s)
    b = torch.as_tensor(b, dtype=s.dtype, device=s.device)
    if validate and (bool((s.detach() < 0).any()) or bool((b.detach() < 0).any())):
        raise ValueError("s and b must be non-negative")
    return s, b


def s_over_sqrt_s_plus_b_loss_from_counts(s, b, *, s_floor: float = S_FLOOR, validate: bool = True):
    """ℓ_s/√(s+b) = (s+b)/s² (Eq. 4.5), the inverse square of s/√(s+b), with s → s + ``s_floor``.

    ``s``, ``b``: relaxed counts (tensors or floats, ≥ 0). Finite, with finite gradients, for every
    s, b ≥ 0 in float32. ``validate`` checks s, b ≥ 0 (a device wait).
    """
    number("s_floor", s_floor, low=0, low_open=True)
    s, b = _counts(s, b, validate)
    s_eff = s + s_floor
    return (s_eff + b) / (s_eff * s_eff)


def asimov_loss_from_counts(s, b, *, sigma_b_rel: float, power: int = 1, s_floor: float = S_FLOOR,
                            b_floor: float = B_FLOOR, use_naive: bool = False, validate: bool = True):
    """ℓ_Asimov = 1/Z_A (Eq. 4.6; ``power=2``: 1/Z_A² as in the authors' code) with σ_b = ``sigma_b_rel``·b.

    Z_A is Eq. 3.1 (the arithmetic of :func:`hepsig_tutorial.stats.asimov_significance`), evaluated at
    s + ``s_floor`` and b + ``b_floor`` (the relative uncertainty applies to the floored b). Finite, with
    finite gradients, at b → 0, s → 0 and σ_b → 0 in float32. ``use_naive=True`` swaps in
    :func:`naive_asimov_significance` (same floors) -- only to show, in Chapter 5, what the printed formula
    does in float32. ``validate`` checks s, b ≥ 0 (a device wait).
    """
    _check_asimov_options(sigma_b_rel, power, s_floor, b_floor, use_naive)
    s, b = _counts(s, b, validate)
    if use_naive:
        b_eff = b + b_floor
        z = naive_asimov_significance(s + s_floor, b_eff, sigma_b_rel * b_eff)
        z = z.clamp_min(torch.finfo(z.dtype).tiny ** 0.5)
    else:
        z = _AsimovZ.apply(s + s_floor, b + b_floor, float(sigma_b_rel))
    return 1.0 / z if power == 1 else 1.0 / (z * z)


def _check_asimov_options(sigma_b_rel, power, s_floor, b_floor, use_naive):
    number("sigma_b_rel", sigma_b_rel, low=0)
    number("s_floor", s_floor, low=0, low_open=True)
    number("b_floor", b_floor, low=0, low_open=True)
    choice("power", power, (1, 2))  # 1: the paper's 1/Z_A; 2: the code's 1/Z_A²
    require(not (use_naive and sigma_b_rel == 0),
            "use_naive needs sigma_b_rel > 0 (the printed formula is 0/0 at σ_b = 0)")


def _on_host(device) -> bool:
    """Whether ``_AsimovZ`` computes with NumPy (CPU tensors: zero-copy views, several times cheaper per
    operation on scalars than torch) rather than with torch on ``device`` (a GPU: nothing leaves it)."""
    return device.type == "cpu"


class _AsimovZ(torch.autograd.Function):
    r"""Z_A(s, b, σ_b = rel·b) in float64 with its closed-form gradient (Eq. 3.1; used by :func:`asimov_loss`).

    With n = s + b and k = rel², Eq. 3.1 reads Z²/2 = n ln(n/b) − (n + 1/k) ln((1+kn)/(1+kb)), and

    ∂(Z²/2)/∂s = ln A,   ∂(Z²/2)/∂b = ln A − s/(b(1+kb)),   ln A = ln(1 + s/(b(1+kn))),

    (σ_b follows b). ln A is a log1p and the difference in ∂/∂b is written as
    [ln(1+x) − x] − k s²/(b(1+kn)(1+kb)) with x = s/(b(1+kn)), so nothing cancels. The value is the
    cancellation-free arithmetic of :func:`~hepsig_tutorial.stats.asimov_significance` (which never forms
    1/k, so σ_b → 0 is exact). One code path on two backends: the same float64 arithmetic runs in torch on
    the device of ``s`` (a GPU: no value goes to the host and back) or, for CPU tensors, in NumPy on
    zero-copy views (``_on_host``). The result has the dtype and device of ``s``.
    """

    @staticmethod
    def forward(ctx, s, b, rel):
        host = _on_host(s.device)
        s64, b64 = (t.detach().double() for t in torch.broadcast_tensors(s, b))
        if host:
            s64, b64 = s64.numpy(), b64.numpy()  # device-ok: CPU tensors, views
        z = _asimov_z(s64, b64, rel * b64, np if host else torch)
        ctx.values, ctx.host, ctx.rel, ctx.shapes = (s64, b64, z), host, rel, (s.shape, b.shape)
        return torch.as_tensor(z, dtype=s.dtype, device=s.device)

    @staticmethod
    def backward(ctx, grad):
        s, b, z = ctx.values
        xp = np if ctx.host else torch
        k = ctx.rel * ctx.rel
        x = s / (b * (1.0 + k * (s + b)))
        d_b = _log1p_minus_x(x, xp) - k * s * s / (b * (1.0 + k * (s + b)) * (1.0 + k * b))
        positive = z > 0
        z_safe = xp.where(positive, z, xp.ones_like(z))
        dz_ds = xp.where(positive, xp.log1p(x) / z_safe, 1.0 / xp.sqrt(b * (1.0 + k * b)))
        dz_db = xp.where(positive, d_b / z_safe, xp.zeros_like(z))
        g = grad.detach().double()
        g = g.numpy() if ctx.host else g  # device-ok: CPU tensor, a view
        # back in the dtype and device of the gradient, summed over what s and b were broadcast along
        gs, gb = (torch.as_tensor(g * d, dtype=grad.dtype, device=grad.device).sum_to_size(shape)
                  for d, shape in zip((dz_ds, dz_db), ctx.shapes))
        return gs, gb, None


def _log1p_minus_x(x, xp):
    """ln(1+x) − x without cancellation (series below 10⁻³), float64 arrays or tensors."""
    series = x * x * (-0.5 + x * (1.0 / 3 - x * (0.25 - x * (0.2 - x / 6))))
    xc = xp.where(x < 1e-3, xp.ones_like(x), x)
    return xp.where(x < 1e-3, series, xp.log1p(xc) - xc)


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
# the losses on the network output, and their factories for train.fit
# ------------------------------------------------------------------------------------------------
def s_over_sqrt_s_plus_b_loss(pred, target, weight=None, *, normalisation: str = "batch",
                              expected_signal: float | None = None, expected_background: float | None = None,
                              fraction: float = 1.0, s_floor: float = S_FLOOR, validate: bool = True):
    """ℓ_s/√(s+b) (Eq. 4.5) on the relaxed counts of a batch: :func:`relaxed_counts`, then
    :func:`s_over_sqrt_s_plus_b_loss_from_counts`. ``pred`` are probabilities ŷ ∈ [0, 1] (sigmoid outputs);
    the other arguments as there."""
    s, b = relaxed_counts(pred, target, weight, normalisation=normalisation, expected_signal=expected_signal,
                          expected_background=expected_background, fraction=fraction, validate=validate)
    return s_over_sqrt_s_plus_b_loss_from_counts(s, b, s_floor=s_floor, validate=False)


def asimov_loss(pred, target, weight=None, *, sigma_b_rel: float, power: int = 1, normalisation: str = "batch",
                expected_signal: float | None = None, expected_background: float | None = None,
                fraction: float = 1.0, s_floor: float = S_FLOOR, b_floor: float = B_FLOOR, use_naive: bool = False,
                validate: bool = True):
    """ℓ_Asimov (Eq. 4.6) on the relaxed counts of a batch: :func:`relaxed_counts`, then
    :func:`asimov_loss_from_counts`. ``pred`` are probabilities ŷ ∈ [0, 1] (sigmoid outputs); the other
    arguments as there."""
    s, b = relaxed_counts(pred, target, weight, normalisation=normalisation, expected_signal=expected_signal,
                          expected_background=expected_background, fraction=fraction, validate=validate)
    return asimov_loss_from_counts(s, b, sigma_b_rel=sigma_b_rel, power=power, s_floor=s_floor, b_floor=b_floor,
                                   use_naive=use_naive, validate=False)


def make_s_over_sqrt_s_plus_b_loss(*, normalisation: str = "batch", expected_signal: float | None = None,
                                   expected_background: float | None = None, s_floor: float = S_FLOOR,
                                   weight_key: str = "w"):
    """``loss_fn(output, batch)`` for :func:`~hepsig_tutorial.train.fit`: :func:`s_over_sqrt_s_plus_b_loss`.

    Reads ``batch["y"]``, ``batch[weight_key]`` (ones if absent) and ``batch["fraction"]``; ``output`` are
    probabilities. Options are checked here, the data's values on the first call.
    """
    _check_counts_options(normalisation, expected_signal, expected_background)
    number("s_floor", s_floor, low=0, low_open=True)
    return batch_loss(s_over_sqrt_s_plus_b_loss, weight_key=weight_key, normalisation=normalisation,
                      expected_signal=expected_signal, expected_background=expected_background, s_floor=s_floor)


def make_asimov_loss(*, sigma_b_rel: float, power: int = 1, normalisation: str = "batch",
                     expected_signal: float | None = None, expected_background: float | None = None,
                     s_floor: float = S_FLOOR, b_floor: float = B_FLOOR, use_naive: bool = False,
                     weight_key: str = "w"):
    """``loss_fn(output, batch)`` for :func:`~hepsig_tutorial.train.fit`: :func:`asimov_loss`.

    Reads ``batch["y"]``, ``batch[weight_key]`` (ones if absent) and ``batch["fraction"]``; ``output`` are
    probabilities. Options are checked here, the data's values on the first call.
    """
    _check_counts_options(normalisation, expected_signal, expected_background)
    _check_asimov_options(sigma_b_rel, power, s_floor, b_floor, use_naive)
    return batch_loss(asimov_loss, weight_key=weight_key, sigma_b_rel=sigma_b_rel, power=power,
                      normalisation=normalisation, expected_signal=expected_signal,
                      expected_background=expected_background, s_floor=s_floor, b_floor=b_floor,
                      use_naive=use_naive)
