"""Batch estimates of dataset-level figures of merit: theory, sampling and gradient accumulation.

Chapter 4 ("Batch-size instability of non-decomposable losses", ``sec-batch-size``) teaches
everything here. A significance loss is a function g(T) of *totals* over the whole data set --
s and b for s/√(s+b) (significance-asimov-losses.txt, Eqs. 4.1-4.2), ε_k and B_k for the Punzi loss
(punzi-loss.txt, Eqs. 10-12). A mini-batch of n events out of N estimates each total by the scaled
batch sum

    T̂ = (N/n) Σ_{i ∈ batch} x_i        (the "multiply by the number of batches" of punzi-loss.txt, Sec. 5)

where x_i is event i's contribution (e.g. w_i·y_i·ŷ_i for ε). Drawn without replacement, T̂ is
unbiased with covariance (simple random sampling)

    Cov(T̂) = N² (1 − n/N) S / n,     S = sample covariance of the x_i (ddof = 1),

and the delta method gives the bias and variance of the plug-in estimate g(T̂):

    E[g(T̂)] − g(T) ≈ ½ tr(H Cov),    Var[g(T̂)] ≈ ∇gᵀ Cov ∇g,

with ∇g and H the gradient and Hessian of g at the full-data totals (computed here by autograd).
For one positive total the relative variance is ≈ (1 − f)(1/n_eff,batch − 1/n) with
n_eff,batch = f·(Σx)²/Σx² the expected Kish *effective* number of contributing events per batch --
the quantity that sets the scale of the spread (:func:`effective_count`).
Where the expansion is accurate is measured, not assumed: :func:`accuracy_threshold` finds the largest
predicted spread up to which sampled and predicted spreads agree, and Chapter 4 sizes the batch by it.

The module also samples per-batch estimates empirically (:func:`sample_total_estimates`), gives
the probability that a batch holds none of a class's events (:func:`prob_no_events`), and shows
the exact alternative to a large batch when memory is short: accumulate the *sums* over
micro-batches, evaluate g once, and back-propagate through each micro-batch
(:class:`SumsLoss`: ``train.fit(..., micro_batch_size=m)`` trains with it; :func:`accumulated_backward`
gives one such gradient). Averaging per-micro-batch losses instead (:func:`averaged_backward`) is *not*
the full-batch gradient.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch

from . import stats
from ._lazy import lazy_module
from ._validate import array, integer, number, require
from .losses.punzi import sigma_min_from_yields
from .train import _micro_batches, as_tensors

sc = lazy_module("scipy.special")

__all__ = ["batch_total_moments", "delta_method", "estimator_theory", "accuracy_threshold", "effective_count",
           "expected_effective_per_batch", "prob_no_events", "sample_total_estimates", "significance_contributions",
           "significance_from_totals", "punzi_contributions", "punzi_sums", "punzi_loss_from_sums",
           "punzi_batch_losses", "SumsLoss", "accumulated_backward", "averaged_backward"]


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------
def _contributions(x, name="contributions"):
    """Per-event contributions as a finite float64 (N, d) array, N ≥ 2 (a vector is one column)."""
    a = array(name, x, finite=True)
    a = a[:, None] if a.ndim == 1 else a
    require(a.ndim == 2 and a.shape[0] >= 2 and a.shape[1] >= 1,
            f"{name} must have shape (N, d) with N ≥ 2 events, got {a.shape}")
    return a


def _batch_sizes(batch_sizes, n_total):
    """``(int64 array of sizes in [1, n_total], whether a scalar was given)``."""
    arr = np.atleast_1d(array("batch_sizes", batch_sizes, finite=True))
    require(arr.size > 0 and (arr == np.round(arr)).all() and (arr >= 1).all() and (arr <= n_total).all(),
            f"batch_sizes must be integers in [1, {n_total}] (the number of events), got {batch_sizes!r}")
    return arr.astype(np.int64), np.ndim(batch_sizes) == 0


# --------------------------------------------------------------------------------------------
# theory: moments of the batch totals and the delta method
# --------------------------------------------------------------------------------------------
def batch_total_moments(contributions, batch_sizes):
    """Mean and covariance of the scaled batch totals T̂ = (N/n) Σ_batch x_i (no replacement).

    Parameters
    ----------
    contributions : array (N,) or (N, d)
        Per-event contributions x_i to each of the d totals (e.g. columns s_i and b_i).
    batch_sizes : int or array of int in [1, N]

    Returns
    -------
    totals : array (d,)
        The full-data totals T = Σ_i x_i (the mean of T̂: the estimator is unbiased).
    cov : array (d, d) or (len(batch_sizes), d, d)
        Cov(T̂) = N²(1 − n/N) S / n with S the sample covariance (ddof = 1) of the x_i.
    """
    x = _contributions(contributions)
    n_total = x.shape[0]
    ns, scalar = _batch_sizes(batch_sizes, n_total)
    totals = x.sum(axis=0)
    S = np.atleast_2d(np.cov(x, rowvar=False, ddof=1))
    factor = n_total**2 * (1.0 - ns / n_total) / ns
    cov = factor[:, None, None] * S[None]
    return totals, (cov[0] if scalar else cov)


def delta_method(g: Callable, totals, cov):
    """Second-order bias and first-order variance of g(T̂) around the full-data totals.

    Parameters
    ----------
    g : callable
        ``g(t) -> scalar tensor`` for a float64 tensor ``t`` of shape (d,) (differentiable twice).
    totals : array (d,)
        Full-data totals (the mean of T̂).
    cov : array (d, d) or (m, d, d)
        Covariance(s) of T̂ (from :func:`batch_total_moments`).

    Returns
    -------
    dict
        ``value`` g(T); ``bias`` ½ tr(H Cov); ``variance`` ∇gᵀ Cov ∇g; ``std``; ``gradient`` ∇g;
        ``hessian`` H. ``bias``/``variance``/``std`` have one entry per covariance matrix.

    Notes
    -----
    Valid while the relative spread of each total is small; how small depends on the tails of the
    contributions, so measure it (:func:`accuracy_threshold` against sampled batches). It says nothing
    about batches where a total is exactly zero (see :func:`prob_no_events`). Chapter 4 overlays it on
    the sampled spread to show where it holds.
    """
    require(callable(g), "g must be callable")
    t = np.atleast_1d(array("totals", totals, finite=True))
    require(t.ndim == 1, "totals must be a finite 1D array")
    c = array("cov", cov)
    scalar = c.ndim == 2
    c = c[None] if scalar else c
    d = len(t)
    require(c.ndim == 3 and c.shape[1:] == (d, d),
            f"cov must have shape ({d}, {d}) or (m, {d}, {d}), got {np.shape(cov)}")
    tt = torch.as_tensor(t, dtype=torch.float64)

    def g_scalar(z):
        out = g(z)
        require(isinstance(out, torch.Tensor) and out.numel() == 1, "g must return a scalar tensor")
        return out.reshape(())

    value = float(g_scalar(tt))
    grad = torch.autograd.functional.jacobian(g_scalar, tt).numpy()
    hess = torch.autograd.functional.hessian(g_scalar, tt).numpy()
    require(np.isfinite(grad).all() and np.isfinite(hess).all(), "g has a non-finite gradient or Hessian at the totals")
    bias = 0.5 * np.einsum("ij,mji->m", hess, c)
    var = np.maximum(np.einsum("i,mij,j->m", grad, c, grad), 0.0)
    out = {"value": value, "bias": bias, "variance": var, "std": np.sqrt(var), "gradient": grad, "hessian": hess}
    if scalar:
        out.update(bias=float(bias[0]), variance=float(var[0]), std=float(np.sqrt(var[0])))
    return out


def estimator_theory(contributions, g: Callable, batch_sizes):
    """Delta-method prediction for the per-batch estimate g(T̂) at each batch size.

    Combines :func:`batch_total_moments` and :func:`delta_method`. Returns a dict with
    ``batch_size`` (m,), ``value`` (g at the full data), ``bias`` (m,), ``std`` (m,),
    ``rel_std`` (m,) = std / ``|value|`` and ``rel_bias`` (m,).
    """
    totals, cov = batch_total_moments(contributions, np.atleast_1d(batch_sizes))
    res = delta_method(g, totals, cov)
    scale = abs(res["value"]) if res["value"] != 0 else 1.0
    return {"batch_size": np.atleast_1d(np.asarray(batch_sizes)).astype(np.int64), "value": res["value"],
            "bias": res["bias"], "std": res["std"], "rel_std": res["std"] / scale,
            "rel_bias": res["bias"] / scale, "totals": totals}


def accuracy_threshold(predicted, sampled, factor: float = 1.25) -> float:
    """Largest predicted spread r* up to which a prediction of the spread is accurate within ``factor``.

    ``predicted`` and ``sampled`` are the relative spreads of a per-batch estimate at a set of batch sizes
    (e.g. ``estimator_theory(...)["rel_std"]`` and the spread of :func:`sample_total_estimates` draws).
    Going from the smallest predicted spread upwards, r* is the last predicted value before the first
    batch size where ``sampled / predicted`` leaves ``[1/factor, factor]``; entries with a predicted
    spread of 0 (the full batch) are skipped. Returns 0.0 if the prediction fails already at the
    smallest spread. Chapter 4 fixes ``factor`` before looking at training results and sizes the batch
    by r*.
    """
    number("factor", factor, low=1, low_open=True)
    th = array("predicted", predicted, finite=True)
    emp = array("sampled", sampled)
    require(th.ndim == 1 and emp.shape == th.shape and len(th) > 0,
            "predicted and sampled must be 1D arrays of the same non-zero length")
    require(th >= 0, "predicted must hold finite spreads ≥ 0")
    r_star = 0.0
    for i in np.argsort(th, kind="stable"):
        if th[i] == 0:
            continue
        if not (np.isfinite(emp[i]) and th[i] / factor <= emp[i] <= factor * th[i]):
            break
        r_star = float(th[i])
    return r_star


def effective_count(contributions):
    """Kish effective number of events of each total: (Σ x)² / Σ x² (array (d,)).

    Equals the number of contributing events when they all contribute equally, and is smaller
    when a few events dominate (large weights, or ŷ ≈ 0 for most events). A total with
    non-positive sum gets 0.
    """
    x = _contributions(contributions)
    s1, s2 = x.sum(axis=0), (x * x).sum(axis=0)
    return np.where((s1 > 0) & (s2 > 0), s1 * s1 / np.where(s2 > 0, s2, 1.0), 0.0)


def expected_effective_per_batch(contributions, batch_sizes):
    """Expected effective number of events per batch, (n/N)·(Σx)²/Σx²: shape (m, d) (or (d,)).

    The relative standard deviation of one scaled batch total is
    ≈ √((1 − n/N)(1/n_eff,batch − 1/n)) ≈ 1/√n_eff,batch.
    """
    x = _contributions(contributions)
    ns, scalar = _batch_sizes(batch_sizes, x.shape[0])
    out = (ns[:, None] / x.shape[0]) * effective_count(x)[None]
    return out[0] if scalar else out


def prob_no_events(n_class, n_total, batch_sizes):
    """Probability that a batch of n events drawn without replacement holds none of ``n_class``.

    Hypergeometric: P = C(N − K, n) / C(N, n) ≈ exp(−nK/N) for n ≪ N. With K the number of
    background events in a window (or those passing a cut), this is the chance that a batch sees
    B̂ = 0 -- where s/√(s+b) jumps to √s and σ_min loses its √B term (significance-asimov-losses.txt,
    Sec. 4; punzi-loss.txt, Sec. 5).
    """
    K, N = integer("n_class", n_class), integer("n_total", n_total, minimum=1)
    require(K <= N, f"n_class must lie in [0, n_total], got {n_class}, {n_total}")
    ns, scalar = _batch_sizes(batch_sizes, N)
    rest = N - K
    with np.errstate(invalid="ignore"):
        logp = (sc.gammaln(rest + 1.0) - sc.gammaln(np.maximum(rest - ns, 0) + 1.0)
                - sc.gammaln(N + 1.0) + sc.gammaln(N - ns + 1.0))
    p = np.where(ns <= rest, np.exp(logp), 0.0)
    return float(p[0]) if scalar else p


# --------------------------------------------------------------------------------------------
# sampling per-batch estimates
# --------------------------------------------------------------------------------------------
def sample_total_estimates(contributions, batch_sizes, n_draws: int = 10, seed=0, normalise_by=None):
    """Batch estimates of the totals for random batches (without replacement): array (m, n_draws, d).

    Apply g to the last axis (e.g. :func:`significance_from_totals`).

    Parameters
    ----------
    contributions : array (N,) or (N, d)
    batch_sizes : array of int in [1, N]
    n_draws : int
    seed : int or numpy Generator
    normalise_by : array (N,) or (N, d), optional
        ``None`` (default): the scaled batch sum T̂ = (N/n)·Σ_batch x, the estimator of this book's
        losses (unbiased for T). Otherwise per-event *counts* c (e.g. class indicators), and total a is
        estimated by the **ratio estimator** T̂_a = Σ_batch x_a · (Σ_all c_a) / Σ_batch c_a -- the
        normalisation of significance-asimov-losses.txt, Eqs. 4.3-4.4, which divide by the number of
        true signal (background) events in the batch. NaN where the batch holds no event with c_a > 0.
        The ratio estimator is biased at O(1/n) but does not fluctuate with the class counts.
    """
    x = _contributions(contributions)
    N = x.shape[0]
    ns, _ = _batch_sizes(batch_sizes, N)
    n_draws = integer("n_draws", n_draws, minimum=1)
    c = None
    if normalise_by is not None:
        c = _contributions(normalise_by, "normalise_by")
        require(c.shape[0] == N and c.shape[1] in (1, x.shape[1]),
                f"normalise_by must have shape ({N},) or ({N}, {x.shape[1]}), got {c.shape}")
        require(c >= 0, "normalise_by must hold non-negative counts")
        c = np.broadcast_to(c, x.shape)
        c_total = c.sum(axis=0)
        require(c_total > 0, "normalise_by: every column needs a positive total")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(integer("seed", seed))
    out = np.empty((len(ns), n_draws, x.shape[1]))
    for a, n in enumerate(ns):
        for j in range(n_draws):
            idx = rng.choice(N, size=int(n), replace=False)
            if c is None:
                out[a, j] = x[idx].sum(axis=0) * (N / n)
            else:
                cb = c[idx].sum(axis=0)
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[a, j] = np.where(cb > 0, x[idx].sum(axis=0) * c_total / np.where(cb > 0, cb, 1.0), np.nan)
    return out


# --------------------------------------------------------------------------------------------
# the two figures of merit as functions of totals
# --------------------------------------------------------------------------------------------
def _pred_label_weight(y_pred, y_true, weight):
    """float64 vectors of one length (NaN refused; weights finite)."""
    yp = array("y_pred", y_pred, ndim=1, finite="nan")
    return (yp, array("y_true", y_true, ndim=1, length=len(yp)),
            array("weight", weight, ndim=1, length=len(yp), finite=True))


def significance_contributions(y_pred, y_true, weight, signal_scale=1.0, select=None):
    """Per-event contributions (N, 2) to s and b (significance-asimov-losses.txt, Eqs. 4.1-4.2).

    s_i = signal_scale · w_i · y_i · ŷ_i and b_i = w_i (1 − y_i) ŷ_i, restricted to events with
    ``select`` (e.g. one mass window) when given. ``signal_scale`` turns signal weights in
    efficiency units (1/N_gen) into expected events (σ·L).
    """
    yp, y, w = _pred_label_weight(y_pred, y_true, weight)
    require((yp >= 0) & (yp <= 1), "y_pred must lie in [0, 1]")
    require((y == 0) | (y == 1), "y_true must contain only 0 and 1")
    require(w >= 0, "weight must be finite and non-negative")
    number("signal_scale", signal_scale, low=0, low_open=True)
    sel = np.ones_like(yp) if select is None else array("select", select, ndim=1, length=len(yp))
    return np.stack([signal_scale * w * y * yp * sel, w * (1 - y) * yp * sel], axis=1)


def significance_from_totals(totals):
    """s/√(s+b) of totals (..., 2) (NumPy, NaN where s + b = 0) or of a (2,) tensor (for :func:`delta_method`)."""
    if isinstance(totals, torch.Tensor):
        return stats.s_over_sqrt_s_plus_b(totals[..., 0], totals[..., 1])
    t = np.asarray(totals, dtype=np.float64)
    s, b = t[..., 0], t[..., 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s + b > 0, s / np.sqrt(np.where(s + b > 0, s + b, 1.0)), np.nan)


def punzi_contributions(y_pred, y_true, weight, membership):
    """Per-event contributions (N, 2K) to ε_k (first K columns) and B_k (last K) -- punzi-loss.txt Eqs. 10-11."""
    yp, y, w = _pred_label_weight(y_pred, y_true, weight)
    M = array("membership", membership, ndim=2, length=len(yp))
    return np.concatenate([(y * w * yp)[:, None] * M, ((1 - y) * w * yp)[:, None] * M], axis=1)


def punzi_sums(output, batch):
    """Unscaled batch sums (2, K): row 0 Σ y·w·ŷ·M (ε), row 1 Σ (1 − y)·w·ŷ·M (B). Differentiable.

    ``batch`` holds ``y``, ``w`` and ``membership`` like the data of
    :func:`hepsig_tutorial.punzinet.training_arrays`.
    """
    for key in ("y", "w", "membership"):
        require(key in batch, f"batch must contain {key!r}")
    y, w, M = (torch.as_tensor(batch[k], device=output.device).to(output.dtype) for k in ("y", "w", "membership"))
    return torch.stack((y * w * output, (1.0 - y) * w * output)) @ M


def punzi_loss_from_sums(sums, luminosity, a=3.0, b=1.28, refined=False):
    """Mean σ_min over windows (punzi-loss.txt, Eq. 12) from totals (2, K) (or flat (2K,)): ε_k, then B_k.

    A batch's sums estimate the totals once divided by the batch's share of the data (:class:`SumsLoss`).
    """
    t = sums if isinstance(sums, torch.Tensor) else torch.as_tensor(np.asarray(sums, dtype=np.float64))
    if t.ndim == 1:
        require(t.shape[0] % 2 == 0, "sums: a flat vector must hold 2K entries (ε then B)")
        t = t.reshape(2, -1)
    require(t.ndim == 2 and t.shape[0] == 2, f"sums must have shape (2, K), got {tuple(t.shape)}")
    return sigma_min_from_yields(t[0], t[1], a=a, b=b, luminosity=luminosity, refined=refined).mean()


def punzi_batch_losses(totals, luminosity, a=3.0, b=1.28, refined=False):
    """The Punzi loss of sampled scaled totals (..., 2K) (ε_k then B_k), vectorised in NumPy.

    Matches :func:`~hepsig_tutorial.losses.punzi.punzi_loss` with ``reduction="mean"``: the mean of σ_min
    over the windows whose ε̂ > 0 (windows without a signal event in the batch are left out); NaN
    where no window has signal. Use it on :func:`sample_total_estimates` output.
    """
    t = array("totals", totals)
    require(t.ndim >= 1 and t.shape[-1] > 0 and t.shape[-1] % 2 == 0,
            f"totals must have a last axis of length 2K, got shape {t.shape}")
    K = t.shape[-1] // 2
    eff, B = t[..., :K], np.maximum(t[..., K:], 0.0)
    require(~(eff < 0), "totals: efficiencies must be non-negative")
    sigma = sigma_min_from_yields(eff, B, a=a, b=b, luminosity=luminosity, refined=refined)
    has = eff > 0
    n_kept = has.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_kept > 0, np.where(has, sigma, 0.0).sum(axis=-1) / np.maximum(n_kept, 1), np.nan)


# --------------------------------------------------------------------------------------------
# gradient accumulation
# --------------------------------------------------------------------------------------------
def _micro_parts(model, data, micro_batch_size):
    """``(micro-batches, N)``: ``data`` on the model's device (no copy when already there), cut in order."""
    ref = next(model.parameters())
    batch = as_tensors(data, ref.device, ref.dtype, keep_dtype=True)
    return _micro_batches(batch, integer("micro_batch_size", micro_batch_size, minimum=1)), len(batch["x"])


class SumsLoss:
    """A loss g(T) of data-set totals T = Σ_events sums, trained exactly in micro-batches.

    ``SumsLoss(sums_fn, loss_from_sums)`` is a loss for :func:`hepsig_tutorial.train.fit`:

    * called as ``loss(output, batch)`` it is ``loss_from_sums(sums_fn(output, batch) / fraction)``, the
      batch's scaled estimate of the totals (punzi-loss.txt, Sec. 5);
    * with ``fit(..., micro_batch_size=m)`` fit calls its :meth:`micro_backward`, which accumulates the
      *sums* over the micro-batches and back-propagates the loss of the batch's totals -- the exact
      gradient of the whole batch with the memory of one micro-batch (Chapter 4, ``sec-batch-size``).

    Parameters
    ----------
    sums_fn : callable
        ``sums_fn(output, batch) -> tensor`` of batch *sums* (any shape; additive over events),
        e.g. :func:`punzi_sums`.
    loss_from_sums : callable
        ``loss_from_sums(totals) -> scalar tensor`` of totals scaled to the whole data set, e.g.
        ``lambda t: punzi_loss_from_sums(t, L)``.
    """

    def __init__(self, sums_fn: Callable, loss_from_sums: Callable):
        require(callable(sums_fn) and callable(loss_from_sums), "sums_fn and loss_from_sums must be callable")
        self.sums_fn, self.loss_from_sums = sums_fn, loss_from_sums

    def __call__(self, output, batch):
        return self.loss_from_sums(self.sums_fn(output, batch) / batch["fraction"])

    def micro_backward(self, model, parts, fraction: float = 1.0):
        """Add the exact gradient of ``loss_from_sums(Σ_j sums_j / fraction)`` to ``.grad``; return the loss.

        Two passes: (1) without a graph, add up the sums of the micro-batches ``parts`` to the totals T
        and get ∂L/∂T at T; (2) for each micro-batch, rebuild its sums with a graph and call ``backward``
        on ⟨∂L/∂T, T_j⟩. By the chain rule ∂L/∂θ = Σ_j ⟨∂L/∂T, ∂T_j/∂θ⟩: the full-batch gradient (up to
        rounding) with one micro-batch graph in memory and twice the forward passes.
        """
        with torch.no_grad():
            totals = sum(self.sums_fn(model(part["x"]), part) for part in parts)
        totals = totals.detach().requires_grad_(True)
        loss = self.loss_from_sums(totals / fraction)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {float(loss)} at the accumulated totals")
        (dl_dt,) = torch.autograd.grad(loss, totals)
        for part in parts:
            (dl_dt * self.sums_fn(model(part["x"]), part)).sum().backward()
        return loss.detach()


def accumulated_backward(model, data: Mapping, sums_fn: Callable, loss_from_sums: Callable,
                         micro_batch_size: int):
    """Exact full-batch gradient of ``loss_from_sums(Σ sums)`` using micro-batches of bounded size.

    :meth:`SumsLoss.micro_backward` on ``data`` cut into micro-batches of ``micro_batch_size`` events
    (in order). Gradients are *added* to the parameters' ``.grad`` (call ``zero_grad`` first).

    Parameters
    ----------
    model : torch.nn.Module
    data : mapping of str to array/tensor
        Must contain ``x``; the rest is passed to ``sums_fn`` sliced like ``x``. Tensors already on
        the model's device (and in its dtype, or integer/bool) are used as they are, without a copy.
    sums_fn, loss_from_sums : callable
        See :class:`SumsLoss`.
    micro_batch_size : int

    Returns
    -------
    float
        The loss at the full totals.
    """
    parts, _ = _micro_parts(model, data, micro_batch_size)
    return float(SumsLoss(sums_fn, loss_from_sums).micro_backward(model, parts))


def averaged_backward(model, data: Mapping, sums_fn: Callable, loss_from_sums: Callable, micro_batch_size: int):
    """The *naive* alternative: back-propagate the mean of per-micro-batch losses.

    Each micro-batch j of n_j events gives ``loss_from_sums(sums_j · N/n_j)`` (its own scaled
    estimate, as a mini-batch loss would); their mean is back-propagated. For a non-linear
    ``loss_from_sums`` this is not the full-batch gradient (Chapter 4 measures the difference).
    Returns the mean of the micro-batch losses.
    """
    parts, n = _micro_parts(model, data, micro_batch_size)
    losses = []
    for part in parts:
        loss = loss_from_sums(sums_fn(model(part["x"]), part) / (len(part["x"]) / n)) / len(parts)
        loss.backward()
        losses.append(float(loss.detach()) * len(parts))
    return float(np.mean(losses))
