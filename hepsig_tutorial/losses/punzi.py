"""The Punzi loss: Punzi's sensitivity σ_min made differentiable, for many mass hypotheses at once.

Chapter 3 ("Differentiable relaxations and the Punzi-net", ``sec-punzi-net``) teaches everything
here. A hard selection ``ŷ > t`` makes the efficiency ε and the background B step functions of the
network parameters; the Punzi loss replaces the 0/1 selection by the network output ŷ itself
(punzi-loss.txt, Eqs. 10-11):

    ε_k = Σ_i y_i · ŷ_i · w_i · M_ik / f,        B_k = Σ_i (1 − y_i) · ŷ_i · w_i · M_ik / f,

where M_ik = 1 if event i counts for hypothesis k (it lies in mass window k and is background or
signal generated at mass k), w_i is 1/N_gen for signal and the expected number of events per
simulated event at the target luminosity for background, and f is the share of the data set in
the (mini-)batch -- dividing by f is the "multiply by the number of batches" of Sec. 5. Each window
gets σ_min(ε_k, B_k) from Eq. 9 (:func:`hepsig_tutorial.stats.punzi_sensitivity`) and the loss is
their mean over the hypotheses used in training (Eq. 12).

All windows are computed together with one matrix product ``(y·ŷ·w) @ M``; there is no Python loop
over masses (``benchmarks/bench_punzi_loss.py`` compares with a loop).

The module also has the *hard-cut* counterparts used to evaluate a trained network: the yields and
σ_min of every window for a whole grid of cuts (:func:`window_yields`, :func:`sigma_min_scan`) and
the best per-window and best global cut (:func:`best_cuts`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .. import stats

__all__ = [
    "punzi_loss",
    "PunziLoss",
    "make_punzi_loss_fn",
    "sigma_min_from_yields",
    "window_yields",
    "sigma_min_scan",
    "best_cuts",
]

_REDUCTIONS = ("mean", "sum", "none")


# --------------------------------------------------------------------------------------------
# σ_min from (ε, B), allowing ε > 1 and ε = 0
# --------------------------------------------------------------------------------------------
def _check_constants(a, b, luminosity, eff_floor):
    for name, val in (("a", a), ("b", b), ("luminosity", luminosity), ("eff_floor", eff_floor)):
        if (not isinstance(val, (int, float, np.integer, np.floating)) or isinstance(val, bool)
                or not val > 0 or math.isinf(val)):
            raise ValueError(f"{name} must be a positive finite number, got {val!r}")
    if not eff_floor < 1:
        raise ValueError(f"eff_floor must be below 1, got {eff_floor!r}")


def sigma_min_from_yields(efficiency, background, a=3.0, b=1.28, luminosity=1.0, refined=False,
                          eff_floor=1e-6):
    r"""σ_min (punzi-loss.txt, Eq. 9) for efficiencies that may be 0 or (batch estimates) above 1.

    :func:`hepsig_tutorial.stats.punzi_sensitivity` insists on ε ∈ (0, 1] -- right for a physical
    efficiency. A loss sees *estimates*: a mini-batch with more than its share of signal gives
    ε > 1 after the 1/f scaling, and a window whose signal is all cut away gives ε = 0. So the
    numerator (b²/2 + a√B + …)/L is taken from ``stats.punzi_sensitivity(1, B, …)`` and divided by
    max(ε, ``eff_floor``) here. The floor (1e-6, as in the authors' public code) keeps the value
    finite at ε = 0; below it the derivative with respect to ε is zero.

    NumPy arrays in, NumPy array out; tensors in, tensor out (differentiable).
    """
    _check_constants(a, b, luminosity, eff_floor)
    if isinstance(efficiency, torch.Tensor) or isinstance(background, torch.Tensor):
        ref = efficiency if isinstance(efficiency, torch.Tensor) else background
        eff = torch.as_tensor(efficiency, dtype=ref.dtype, device=ref.device)
        B = torch.as_tensor(background, dtype=ref.dtype, device=ref.device)
        if torch.isnan(eff.detach()).any():
            raise ValueError("efficiency contains NaN")
        if (eff.detach() < 0).any():
            raise ValueError("efficiency must be non-negative")
        numerator = stats.punzi_sensitivity(torch.ones_like(B), B, a=a, b=b, luminosity=luminosity,
                                            refined=refined)
        floor = torch.as_tensor(eff_floor, dtype=eff.dtype, device=eff.device)
        return numerator / torch.maximum(eff, floor)
    eff = np.asarray(efficiency, dtype=np.float64)
    B = np.asarray(background, dtype=np.float64)
    if np.isnan(eff).any():
        raise ValueError("efficiency contains NaN")
    if (eff < 0).any():
        raise ValueError("efficiency must be non-negative")
    numerator = stats.punzi_sensitivity(np.ones_like(B), B, a=a, b=b, luminosity=luminosity, refined=refined)
    return np.asarray(numerator) / np.maximum(eff, eff_floor)


# --------------------------------------------------------------------------------------------
# the loss
# --------------------------------------------------------------------------------------------
def _as_tensor_like(x, ref, name):
    if isinstance(x, torch.Tensor):
        return x.to(device=ref.device)
    try:
        return torch.as_tensor(np.asarray(x), device=ref.device)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array or tensor, got {type(x).__name__}") from exc


def punzi_loss(y_pred, y_true, weight, membership, a=3.0, b=1.28, luminosity=1.0, fraction=1.0,
               refined=False, eff_floor=1e-6, reduction="mean"):
    r"""The Punzi loss: mean relaxed σ_min over mass hypotheses (punzi-loss.txt, Eqs. 10-12).

    .. math::
        ε_k = \frac{1}{f}\sum_i y_i\,\hat y_i\,w_i\,M_{ik},\qquad
        B_k = \frac{1}{f}\sum_i (1-y_i)\,\hat y_i\,w_i\,M_{ik},\qquad
        C = \frac{1}{K'}\sum_{k} σ_{min}(ε_k, B_k)

    with σ_min from Eq. 9 (:func:`hepsig_tutorial.stats.punzi_sensitivity`). Taught in Chapter 3
    (``sec-punzi-net``).

    Parameters
    ----------
    y_pred : tensor (N,)
        Network output ŷ ∈ [0, 1] (the relaxed selection; a 0/1 vector gives the hard-cut σ_min).
    y_true : tensor or array (N,)
        Labels, 1 signal, 0 background.
    weight : tensor or array (N,), ≥ 0
        Signal: 1/N_gen of its mass hypothesis (so Σ y·w·M is the window efficiency); background:
        expected events per simulated event at the target luminosity (the s_sig/N_gen and s_bkg of
        Eqs. 10-11).
    membership : tensor or array (N, K)
        M_ik = 1 when event i counts for hypothesis k: inside window k and either background or
        signal generated at mass k (``toy.window_matrix()`` in the Belle II-like toy). Bool or float;
        pass only the columns of the hypotheses you train on.
    a, b : float
        Punzi's constants (discovery sigmas, CL sigmas); the paper trains with 3 and 1.28.
    luminosity : float
        Target luminosity L (σ_min comes out in 1/units of L, e.g. fb for L in fb⁻¹).
    fraction : float in (0, 1]
        Share of the data set in this batch (``batch["fraction"]`` in :func:`hepsig_tutorial.train.fit`).
        ε and B are divided by it: the ``n_batches`` factor of punzi-loss.txt, Sec. 5.
    refined : bool
        Use the constant a²/8 + 9b²/13 of the authors' public code instead of the paper's b²/2.
    eff_floor : float
        ε is floored at this value (1e-6, as in the public code) so σ_min stays finite at ε = 0.
    reduction : {"mean", "sum", "none"}
        ``"none"`` returns σ_min of every window, shape (K,). ``"mean"``/``"sum"`` run over the windows
        that contain at least one signal event in this batch (Σ_i y_i w_i M_ik > 0).

    Returns
    -------
    tensor
        Scalar (or (K,) for ``reduction="none"``), differentiable with respect to ``y_pred``.

    Notes
    -----
    *Empty windows.* A window with no signal event in the batch (possible with small mini-batches)
    has ε = 0 whatever the network does. Its floored σ_min, const/(10⁻⁶ L), would dominate the mean
    and its gradient, 1/(10⁻⁶ L) × ∂numerator/∂B, would push the network to reject all background in
    that window for no gain, so such windows are *left out* of ``"mean"``/``"sum"`` (they carry no
    information about ε in this batch). If no window has signal, the loss is 0 (with a graph, so
    ``backward()`` works and gives zero gradients). A window that has signal but whose ε the network
    drives below the floor keeps the floored value: it stays in the mean.

    *B = 0* is finite with a finite gradient (``stats.punzi_sensitivity`` linearises √B below 1e-12).
    """
    if not isinstance(y_pred, torch.Tensor):
        raise ValueError(f"y_pred must be a torch tensor (the network output), got {type(y_pred).__name__}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    _check_constants(a, b, luminosity, eff_floor)
    if (isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.integer, np.floating))
            or not 0 < fraction <= 1):
        raise ValueError(f"fraction must be a number in (0, 1], got {fraction!r}")
    if y_pred.ndim != 1:
        raise ValueError(f"y_pred must have shape (N,), got {tuple(y_pred.shape)}")
    dtype = y_pred.dtype if y_pred.is_floating_point() else torch.get_default_dtype()
    y_pred = y_pred.to(dtype)
    y = _as_tensor_like(y_true, y_pred, "y_true").to(dtype)
    w = _as_tensor_like(weight, y_pred, "weight").to(dtype)
    M = _as_tensor_like(membership, y_pred, "membership")
    if M.dtype != dtype:
        M = M.to(dtype)
    n = y_pred.shape[0]
    if tuple(y.shape) != (n,):
        raise ValueError(f"y_true must have shape ({n},) like y_pred, got {tuple(y.shape)}")
    if tuple(w.shape) != (n,):
        raise ValueError(f"weight must have shape ({n},) like y_pred, got {tuple(w.shape)}")
    if M.ndim != 2 or M.shape[0] != n or M.shape[1] < 1:
        raise ValueError(f"membership must have shape ({n}, K) with K ≥ 1, got {tuple(M.shape)}")
    yp = y_pred.detach()
    if torch.isnan(yp).any() or (yp < 0).any() or (yp > 1).any():
        raise ValueError("y_pred must lie in [0, 1] (use a sigmoid output)")
    if not ((y == 0) | (y == 1)).all():
        raise ValueError("y_true must contain only 0 (background) and 1 (signal)")
    if torch.isnan(w).any() or (w < 0).any() or torch.isinf(w).any():
        raise ValueError("weight must be finite and non-negative")
    if not (M.detach().amin() >= 0):   # one pass; also catches NaN
        raise ValueError("membership must be non-negative (a 0/1 matrix) without NaN")

    sig_w = y * w                      # (N,)
    bkg_w = (1.0 - y) * w
    # One matrix product for all windows: rows (signal·ŷ, background·ŷ, signal) @ M → (3, K).
    # The last row does not depend on the network: it says which windows hold any signal.
    stacked = torch.stack((sig_w * y_pred, bkg_w * y_pred, sig_w.detach()))
    yields = stacked @ M
    eff, B = yields[0] / fraction, yields[1] / fraction
    sigma = sigma_min_from_yields(eff, B, a=a, b=b, luminosity=luminosity, refined=refined,
                                  eff_floor=eff_floor)
    if reduction == "none":
        return sigma
    has_signal = yields[2].detach() > 0
    kept = torch.where(has_signal, sigma, torch.zeros_like(sigma))
    n_kept = has_signal.sum()
    if int(n_kept) == 0:
        return (y_pred * 0.0).sum()
    total = kept.sum()
    return total / n_kept.to(dtype) if reduction == "mean" else total


class PunziLoss(nn.Module):
    """``nn.Module`` wrapper of :func:`punzi_loss` (the constants are fixed at construction).

    ``PunziLoss(a=3, b=1.28, luminosity=50)(y_pred, y_true, weight, membership, fraction=1.0)``.
    """

    def __init__(self, a=3.0, b=1.28, luminosity=1.0, refined=False, eff_floor=1e-6, reduction="mean"):
        super().__init__()
        _check_constants(a, b, luminosity, eff_floor)
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.a, self.b, self.luminosity = float(a), float(b), float(luminosity)
        self.refined, self.eff_floor, self.reduction = bool(refined), float(eff_floor), reduction

    def forward(self, y_pred, y_true, weight, membership, fraction=1.0):
        return punzi_loss(y_pred, y_true, weight, membership, a=self.a, b=self.b, luminosity=self.luminosity,
                          fraction=fraction, refined=self.refined, eff_floor=self.eff_floor,
                          reduction=self.reduction)

    def extra_repr(self):
        return (f"a={self.a}, b={self.b}, luminosity={self.luminosity}, refined={self.refined}, "
                f"eff_floor={self.eff_floor}, reduction={self.reduction!r}")


def make_punzi_loss_fn(a=3.0, b=1.28, luminosity=1.0, refined=False, eff_floor=1e-6,
                       keys=("y", "w", "membership")):
    """A ``loss_fn(output, batch)`` for :func:`hepsig_tutorial.train.fit` computing :func:`punzi_loss`.

    ``batch[keys[0]]`` are the labels, ``batch[keys[1]]`` the weights, ``batch[keys[2]]`` the (N, K)
    window-membership matrix; ``batch["fraction"]`` (set by ``fit``) scales the batch sums up.
    """
    loss = PunziLoss(a=a, b=b, luminosity=luminosity, refined=refined, eff_floor=eff_floor)
    if len(keys) != 3:
        raise ValueError(f"keys must name (labels, weights, membership), got {keys!r}")
    ky, kw, km = keys

    def loss_fn(output, batch):
        return loss(output, batch[ky], batch[kw], batch[km], fraction=float(batch.get("fraction", 1.0)))

    loss_fn.punzi = loss  # the module, for inspection
    return loss_fn


# --------------------------------------------------------------------------------------------
# hard cuts: yields and σ_min for a grid of cuts, best cuts
# --------------------------------------------------------------------------------------------
def _np(x, name, dtype=np.float64):
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric") from exc


def window_yields(scores, y_true, weight, membership, cuts):
    """Efficiency and background of every window for every cut ``score > cut`` (no loops over masses).

    Parameters
    ----------
    scores : array (N,)
        Classifier output.
    y_true, weight, membership :
        As in :func:`punzi_loss` (weights already scaled to the full expected yields of the sample).
    cuts : array (C,), increasing
        Thresholds; an event is selected by cut c when ``score > cuts[c]``.

    Returns
    -------
    eff, B : arrays (K, C)
        ε_k(t_c) = Σ y w M_ik [score > t_c] and B_k(t_c) = Σ (1 − y) w M_ik [score > t_c].
    """
    s = _np(scores, "scores")
    y = _np(y_true, "y_true")
    w = _np(weight, "weight")
    M = _np(membership, "membership", dtype=bool) if not isinstance(membership, np.ndarray) or \
        membership.dtype != bool else membership
    t = _np(cuts, "cuts")
    n = len(s)
    if s.ndim != 1 or y.shape != (n,) or w.shape != (n,):
        raise ValueError(f"scores, y_true and weight must all have shape ({n},); got {s.shape}, {y.shape}, {w.shape}")
    if M.ndim != 2 or M.shape[0] != n:
        raise ValueError(f"membership must have shape ({n}, K), got {M.shape}")
    if t.ndim != 1 or len(t) == 0 or np.any(np.diff(t) <= 0):
        raise ValueError("cuts must be a non-empty, strictly increasing 1D array")
    if (w < 0).any() or np.isnan(w).any():
        raise ValueError("weight must be non-negative")
    K, C = M.shape[1], len(t)
    # bin c holds the events with cuts[c-1] < score ≤ cuts[c]; an event passes cut c iff its bin > c.
    bins = np.searchsorted(t, s, side="left")          # 0 … C
    rows, cols = np.nonzero(M)                          # (event, window) pairs
    flat = cols * (C + 1) + bins[rows]
    out = []
    for part in (y * w, (1.0 - y) * w):
        h = np.bincount(flat, weights=part[rows], minlength=K * (C + 1)).reshape(K, C + 1)
        above = np.cumsum(h[:, ::-1], axis=1)[:, ::-1]  # above[:, j] = Σ_{bins ≥ j}
        out.append(above[:, 1:])                        # pass cut c ⇔ bin ≥ c + 1
    return out[0], out[1]


def sigma_min_scan(scores, y_true, weight, membership, cuts, a=3.0, b=1.28, luminosity=1.0,
                   refined=False, eff_floor=1e-6):
    """σ_min (Eq. 9) of every window for every cut; shape (K, C). See :func:`window_yields`."""
    eff, B = window_yields(scores, y_true, weight, membership, cuts)
    return sigma_min_from_yields(eff, B, a=a, b=b, luminosity=luminosity, refined=refined, eff_floor=eff_floor)


def best_cuts(sigma_scan, cuts, columns=None):
    """Best cut per window and the best single (global) cut.

    Parameters
    ----------
    sigma_scan : array (K, C)
        From :func:`sigma_min_scan` (usually on the *training* sample).
    cuts : array (C,)
    columns : bool or index array over K, optional
        Windows that choose the global cut (default: all). The global cut minimises their mean σ_min.

    Returns
    -------
    dict
        ``per_window_cut`` (K,), ``per_window_sigma`` (K,), ``global_cut`` (float),
        ``global_sigma`` (K,): σ_min of every window at the global cut.
    """
    S = _np(sigma_scan, "sigma_scan")
    t = _np(cuts, "cuts")
    if S.ndim != 2 or S.shape[1] != len(t):
        raise ValueError(f"sigma_scan must have shape (K, {len(t)}), got {S.shape}")
    sel = np.arange(S.shape[0]) if columns is None else np.asarray(columns)
    if sel.dtype == bool:
        if sel.shape != (S.shape[0],):
            raise ValueError("columns as a mask must have one entry per window")
        sel = np.flatnonzero(sel)
    if len(sel) == 0:
        raise ValueError("columns selects no window")
    j = np.argmin(S, axis=1)
    g = int(np.argmin(S[sel].mean(axis=0)))
    return {"per_window_cut": t[j], "per_window_sigma": S[np.arange(len(S)), j],
            "global_cut": float(t[g]), "global_sigma": S[:, g]}
