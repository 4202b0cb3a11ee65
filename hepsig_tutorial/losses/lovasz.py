"""The Lovász Z-score loss of Bardhan, Neeraj, Mitra & Mandal (lovasz-z-score-loss.txt), Chapter 6.

The paper turns the discovery significance Z ≈ s/√b (its Eq. 1) into a *set function* Δ_Z on the set of
mispredicted events (Eq. 5), proves that Δ_Z is submodular (Appendix A) and trains a classifier on the
Lovász extension of Δ_Z (Eq. 4) evaluated on a vector of per-event errors m (Eq. 6 and Appendix B).

Notation used throughout (one ground set = one batch of p events):

* ``target`` y_i ∈ {0, 1} (1 = signal), ``weight`` w_i > 0 = expected events per simulated event,
  w_i = σ_k L / v_k for an event of process k (:func:`process_weights`);
* a *misprediction set* M holds false negatives (signal events in M) and false positives (background
  events in M); FN(M) = Σ_{i∈M, y_i=1} w_i and FP(M) = Σ_{i∈M, y_i=0} w_i are their expected yields;
* S = Σ_i w_i y_i, the expected signal of the ground set, and the regulator ε > 0 (default S = σ_s L).

Then Eq. (5) reads

    Δ_Z(M) = S/√ε − (S − FN(M)) / √(ε + FP(M)),     Δ_Z(∅) = 0,

i.e. "Z of a perfect selection with background ε" minus "Z of the selection that M describes".

Typos in the paper that this implementation corrects (the chapter discusses each one):

1. Eq. (4): g_i = Δ({π_1..π_i}) − Δ({π_1..π_{i−1}}) (the paper writes {π_i..π_{i−1}}), and the sort is of
   m (the paper writes x_{π_1} ≥ x_{π_2} ≥ …).
2. Algorithm 1, line 5: the leading "σ" must be 1; lines 3-4 must use the *permuted* weights inside the
   cumulative sums, normalised as w/S in the numerator and w/ε in the denominator. The algorithm then
   returns Δ_Z·√ε/S, i.e. Eq. (5) divided by the constant S/√ε. Its labels δ are {0, 1} while the hinge
   error uses signed labels {−1, +1}. "return g_π" means: scatter g back to the original event order.
3. Section 2 says the extension needs a submodular set function; in fact the Lovász extension exists for
   any set function with Δ(∅) = 0. Submodularity is what makes it *convex* (Lovász 1983).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as tnf

from .._validate import array, choice, integer, number, require
from ._common import as_pred, as_tensor, batch_loss, check_target, check_values, check_weight

__all__ = [
    "ERRORS",
    "process_weights",
    "delta_z",
    "lovasz_extension",
    "lovasz_z_gradient",
    "hinge_slope_at_zero",
    "min_hinge_slope_linear",
    "lovasz_errors",
    "lovasz_z_loss",
    "make_lovasz_z_loss",
    "naive_lovasz_z_loss",
]

#: The four error vectors m of the paper (Eq. 6 and Appendix B).
ERRORS = ("hinge", "sigmoid", "cross_entropy", "focal")


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------
def _target_weight(target, weight):
    """Checked float64 NumPy labels and positive weights of the same length."""
    y = array("target", target, ndim=1, finite=True)
    w = array("weight", weight, ndim=1, length=len(y), finite=True)
    check_target(y)
    check_weight(w, positive=True)
    return y, w


def _resolve_epsilon(epsilon, signal_total):
    if epsilon is None:
        require(signal_total is not None and signal_total > 0, "epsilon: the default ε = S (the ground set's "
                "expected signal) is not positive; the ground set holds no signal weight, so pass epsilon explicitly")
        return float(signal_total)
    return number("epsilon", epsilon, low=0, low_open=True)


def _resolve_signal_total(signal_total, y, w):
    return float(np.sum(w * y)) if signal_total is None else number("signal_total", signal_total, low=0)


# --------------------------------------------------------------------------------------------
# weights and the set function
# --------------------------------------------------------------------------------------------
def process_weights(process, cross_sections, luminosity):
    """Per-event weights w_i = σ_k·L / v_k: expected events per simulated event (Eq. 5's σ_i L / v_i).

    ``v_k`` is the number of events of process k **in the array passed** -- pass the whole data set for
    dataset-level weights, or one batch for batch-level weights (Chapter 6 discusses which one the loss needs).

    Parameters
    ----------
    process : array of int, shape (N,)
        Process index of every event (0 … K−1).
    cross_sections : sequence of float, length K
        σ_k of each process (e.g. in fb), all > 0.
    luminosity : float > 0
        Integrated luminosity L (e.g. in fb⁻¹).

    Returns
    -------
    numpy.ndarray, shape (N,), float64.
    """
    proc = array("process", process, ndim=1, finite=True)
    require((proc == np.round(proc)) & (proc >= 0), "process must hold non-negative integer process indices")
    proc = proc.astype(np.int64)
    xs = array("cross_sections", cross_sections, ndim=1, finite=True)
    require(len(xs) > 0 and (xs > 0).all(), "cross_sections must be a non-empty sequence of positive finite numbers")
    require(len(proc) == 0 or proc.max() < len(xs),
            f"process has an index ≥ {len(xs)}, the number of cross_sections given")
    number("luminosity", luminosity, low=0, low_open=True)
    counts = np.bincount(proc, minlength=len(xs)).astype(np.float64)
    return np.divide(xs * luminosity, counts, out=np.zeros_like(xs), where=counts > 0)[proc]   # σ_k L / v_k


def delta_z(mispredicted, target, weight, epsilon=None, *, signal_total=None):
    """The set function Δ_Z of lovasz-z-score-loss.txt, Eq. (5), on one or many misprediction sets.

    Δ_Z(M) = S/√ε − (S − FN(M)) / √(ε + FP(M)), with FN(M) and FP(M) the expected yields (weights summed)
    of the false negatives (signal events in M) and false positives (background events in M). Δ_Z(∅) = 0.

    Parameters
    ----------
    mispredicted : bool array, shape (p,) or (k, p)
        Membership mask(s) of M over the ground set of p events (one row per set).
    target : array, shape (p,)
        1 for signal, 0 for background.
    weight : array, shape (p,)
        w_i > 0, expected events per simulated event (:func:`process_weights`).
    epsilon : float > 0, optional
        The regulator ε; default S, the expected signal of the ground set (σ_s L when the weights are
        normalised on the ground set, the paper's choice).
    signal_total : float ≥ 0, optional
        The constant S; default Σ w_i y_i. Passing a different value models other weight conventions
        (Chapter 6); Δ_Z is submodular only while S ≥ FN(M) for every M, i.e. S ≥ Σ w_i y_i.

    Returns
    -------
    float for one set, numpy array of shape (k,) for k sets.
    """
    y, w = _target_weight(target, weight)
    fn, fp = _misprediction_yields(mispredicted, y, w)
    S = _resolve_signal_total(signal_total, y, w)
    eps = _resolve_epsilon(epsilon, S)
    out = S / math.sqrt(eps) - (S - fn) / np.sqrt(eps + fp)
    return float(out) if np.ndim(out) == 0 else out


def _misprediction_yields(mispredicted, y, w):
    """FN(M) and FP(M), the expected yields of the signal and of the background events in M, for one (p,)
    or many (k, p) boolean (or 0/1) masks, on checked labels ``y`` and weights ``w`` (``_target_weight``)."""
    mask = array("mispredicted", mispredicted)
    require(np.isin(mask, (0, 1)), "mispredicted must be a boolean (or 0/1) mask")
    require(mask.ndim in (1, 2) and mask.shape[-1] == len(y),
            f"mispredicted must have shape (p,) or (k, p) with p = {len(y)}, got {mask.shape}")
    return mask @ (w * y), mask @ (w * (1.0 - y))


# --------------------------------------------------------------------------------------------
# the generic Lovász extension (Eq. 4) -- the O(p²) reference
# --------------------------------------------------------------------------------------------
def lovasz_extension(set_function: Callable, m):
    """Lovász extension of any set function with Δ(∅) = 0, evaluated at m (Eq. 4, corrected).

    Sorts m decreasingly (m_{π_1} ≥ … ≥ m_{π_p}) and returns Σ_i m_{π_i}·g_i with
    g_i = Δ({π_1..π_i}) − Δ({π_1..π_{i−1}}). On a vertex of the hypercube (m ∈ {0,1}^p) this equals
    Δ(the set of ones). The extension is defined for *any* set function; it is convex if and only if the set
    function is submodular (Lovász 1983) -- Chapter 6 checks both directions numerically.

    Parameters
    ----------
    set_function : callable
        Takes a boolean mask of shape (p,) and returns a float; ``set_function(all False)`` must be 0.
    m : array, shape (p,)
        Any real vector (errors are ≥ 0 in the loss, but the extension is defined on all of R^p).

    Returns
    -------
    float. Costs p + 1 evaluations of the set function (O(p²) overall for Δ_Z): the reference that
    :func:`lovasz_z_loss` is tested and benchmarked against.
    """
    require(callable(set_function), "set_function must be callable")
    mm = array("m", m, ndim=1, finite=True)
    mask = np.zeros(len(mm), dtype=bool)
    empty = float(set_function(mask.copy()))
    require(abs(empty) <= 1e-12, f"set_function must vanish on the empty set, got {empty!r}")
    order = np.argsort(-mm, kind="stable")
    total, previous = 0.0, 0.0
    for idx in order:
        mask[idx] = True
        current = float(set_function(mask.copy()))
        total += mm[idx] * (current - previous)
        previous = current
    return total


# --------------------------------------------------------------------------------------------
# Algorithm 1 (corrected) and the loss
# --------------------------------------------------------------------------------------------
def _sorted_increments(y_sorted, w_sorted, S, eps, xp):
    """g_i = Δ_Z(first i) − Δ_Z(first i−1) for events already sorted by decreasing error.

    ``xp`` is ``numpy`` or ``torch`` (then on the tensors' device); S and ε are floats or 0-d tensors.
    """
    fn = xp.cumsum(w_sorted * y_sorted, 0)
    fp = xp.cumsum(w_sorted * (1.0 - y_sorted), 0)
    root_eps = math.sqrt(eps) if isinstance(eps, float) else xp.sqrt(eps)
    delta = S / root_eps - (S - fn) / xp.sqrt(eps + fp)
    return xp.concatenate((delta[:1], delta[1:] - delta[:-1]))


def lovasz_z_gradient(m, target, weight, epsilon=None, *, signal_total=None):
    """Algorithm 1 of the paper, corrected: the (sub)gradient g(m) of the Lovász extension of Δ_Z.

    1. π ← decreasing sort of m; permute the labels δ ∈ {0,1} (``target``) and the weights with it;
    2. FN_i ← cumsum(δ_π w_π), FP_i ← cumsum((1 − δ_π) w_π);
    3. Δ_i ← S/√ε − (S − FN_i)/√(ε + FP_i)   (the paper's line 5, divided by √ε/S, with its "σ" = 1);
    4. g_1 ← Δ_1, g_i ← Δ_i − Δ_{i−1};
    5. return g in the original event order (g[π_i] = g_i).

    Since the extension is linear wherever the order of m is fixed, ``Δ̄_Z(m) = g(m)·m``. NumPy, float64.
    """
    mm = array("m", m, ndim=1, finite=True)
    y, w = _target_weight(target, weight)
    require(len(mm) == len(y), f"m and target must have the same length, got {len(mm)} and {len(y)}")
    S = _resolve_signal_total(signal_total, y, w)
    eps = _resolve_epsilon(epsilon, S)
    order = np.argsort(-mm, kind="stable")
    g = np.empty(len(mm))
    g[order] = _sorted_increments(y[order], w[order], S, eps, np)   # back in the event order
    return g


def hinge_slope_at_zero(direction_scores, target, weight, epsilon=None, *, signal_total=None):
    """Slope of the hinge Lovász-Z loss along F = λ·h at the trivial classifier F ≡ 0 (λ → 0⁺).

    For λ·max|h| < 1 every hinge error is m_i = 1 − λ ỹ_i h_i > 0, and since the extension satisfies
    Δ̄(c·1 + d) = c·Δ(V) + Δ̄(d), the loss is exactly  Δ_Z(V) + λ·Δ̄_Z(−ỹ∘h):  linear in λ with slope
    Δ̄_Z(−ỹ∘h). The loss is convex in the parameters of a linear model (a convex, non-decreasing function of
    errors that are convex in the parameters), so if this slope is ≥ 0 for **every** direction h the trivial
    classifier is the global minimum and training can only shrink the model to F ≡ 0 (Chapter 6).

    Parameters
    ----------
    direction_scores : array (p,)
        h_i, the scores of the direction (e.g. a·x_i + c for a linear model).
    target, weight, epsilon, signal_total
        As in :func:`delta_z`.
    """
    h = array("direction_scores", direction_scores, ndim=1, finite=True)
    y = array("target", target, ndim=1, finite=True)
    require(len(h) == len(y), f"direction_scores and target must have the same length, got {len(h)} and {len(y)}")
    m = -(2.0 * y - 1.0) * h     # Δ̄_Z(m) = g(m)·m: the extension is linear where the order of m is fixed
    return float(lovasz_z_gradient(m, y, weight, epsilon, signal_total=signal_total) @ m)


def min_hinge_slope_linear(x, target, weight, epsilon=None, *, n_angles=24,
                           offsets=(-2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2)):
    """Smallest slope of the hinge Lovász-Z loss away from F ≡ 0 over linear directions h = u·x̂ + c (2D x).

    x is standardised (x̂), u runs over ``n_angles`` unit vectors and c over ``offsets``. Returns
    ``(min_slope / Δ_Z(V), (angle, offset))``; Δ_Z(V) = S/√ε is the loss of the trivial classifier. A positive
    value means that, up to the grid, no linear model improves on F ≡ 0 (Chapter 6's trivial-minimum check).
    """
    xx = array("x", x, ndim=2)
    require(xx.shape[1] == 2, f"x must have shape (N, 2), got {xx.shape}")
    y, w = _target_weight(target, weight)
    require(len(xx) == len(y), "x, target and weight must have the same length")
    n_angles = integer("n_angles", n_angles, minimum=1)
    xs = (xx - xx.mean(0)) / np.where(xx.std(0) > 0, xx.std(0), 1.0)
    S = float(np.sum(w * y))
    eps = _resolve_epsilon(epsilon, S)
    full = S / math.sqrt(eps)
    angles = np.linspace(0, 2 * math.pi, n_angles, endpoint=False)
    slopes = {(float(t), float(c)): hinge_slope_at_zero(xs @ [math.cos(t), math.sin(t)] + c, y, w, eps) / full
              for t in angles for c in offsets}
    arg = min(slopes, key=slopes.get)       # the first of equal minima, in the order of the scan
    return slopes[arg], arg


def lovasz_errors(pred, target, error="hinge", gamma=2.0):
    """The error vector m ≥ 0 of the paper (Eq. 6 / Eq. 27 and Appendix B) from raw scores F.

    With signed labels ỹ = 2y − 1 and p_t = sigmoid(ỹ·F) (the predicted probability of the true class):

    * ``"hinge"``: m = max(1 − ỹ·F, 0) (Eq. 6; the scores are the raw, unbounded model output);
    * ``"sigmoid"``: m = 1 − p_t (Eq. 28: 1 − F for signal, F for background with F the probability);
    * ``"cross_entropy"``: m = −log p_t;
    * ``"focal"``: m = −(1 − p_t)^γ log p_t (Lin et al. 2017; γ = 2).

    ``pred`` are raw scores F (logits) for every choice, ``target`` the 0/1 labels as a tensor; the sigmoid
    is applied here, stably.
    """
    choice("error", error, ERRORS)
    margin = (2.0 * target - 1.0) * pred     # ỹ·F with signed labels ỹ = 2y − 1
    if error == "hinge":
        return torch.clamp(1.0 - margin, min=0.0)
    if error == "sigmoid":
        return torch.sigmoid(-margin)
    if error == "cross_entropy":
        return tnf.softplus(-margin)
    number("gamma", gamma, low=0)
    return torch.sigmoid(-margin) ** gamma * tnf.softplus(-margin)


def lovasz_z_loss(pred, target, weight, *, epsilon=None, error="hinge", signal_total=None, gamma=2.0,
                  fraction=1.0, validate=True):
    """The Lovász Z-score loss Δ̄_Z(m(F)): the Lovász extension of Eq. (5) at the error vector m.

    O(p log p): one sort and two cumulative sums (Algorithm 1, corrected -- see :func:`lovasz_z_gradient`).
    The increments g are computed in float64 without gradient (they are piecewise constant in m), and the
    loss is the dot product g·m_sorted, so autograd's gradient with respect to m is exactly g(m).
    Everything runs in torch on the device of ``pred``: target and weight are moved there once and
    nothing (sort order, increments) goes back to the host.

    Parameters
    ----------
    pred : tensor, shape (p,)
        Raw model scores F, logits (e.g. ``ht.models.mlp(2, (), output="linear")``); may require grad.
    target : tensor or array, shape (p,)
        1 for signal, 0 for background.
    weight : tensor or array, shape (p,)
        Expected events per simulated event w_i > 0 (:func:`process_weights`).
    epsilon : float > 0, optional
        The regulator; default S = Σ w_i y_i (= σ_s L for weights normalised on this ground set).
    error : {"hinge", "sigmoid", "cross_entropy", "focal"}
        The error vector m (:func:`lovasz_errors`).
    signal_total : float, optional
        The constant S of Eq. (5); default Σ w_i y_i over the ground set.
    gamma : float
        Focusing parameter of the focal error.
    fraction : float in (0, 1]
        The weights are divided by it: a batch holding this share of a data set whose weights sum to the
        expected yields then carries the full expected yields (``make_lovasz_z_loss``'s "scaled").
    validate : bool
        Check the *values* of the inputs (finite scores, 0/1 labels, positive finite weights, S > 0 when
        it is the default ε). Each check waits for the device; a training loop checks its data once and
        passes ``False`` (:func:`make_lovasz_z_loss` does). Shapes and options are always checked.

    Returns
    -------
    Scalar tensor in the dtype of ``pred``. At F ≡ 0 with the hinge error it equals S/√ε.
    """
    F = as_pred(pred)
    y = as_tensor(target, "target", F, torch.float64, same_shape=True).detach()
    w = as_tensor(weight, "weight", F, same_shape=True).detach()
    w = (w / float(fraction) if fraction != 1.0 else w).to(torch.float64)
    require(F.shape[0] > 0, "pred must not be empty")
    if validate:
        check_values(F, y, w, probability=False, positive=True)
    if signal_total is not None:
        S = _resolve_signal_total(signal_total, None, None)
    elif F.device.type == "cpu":   # NumPy's pairwise sum, as lovasz_z_gradient: bit-identical to the reference
        S = float(np.sum(w.numpy() * y.numpy()))  # device-ok: CPU tensors, no copy
    else:                          # on a GPU: summed there (equal to rounding; no host round trip)
        S = (w * y).sum()
    if epsilon is None and (validate or isinstance(S, float)):   # a float costs no device wait
        _resolve_epsilon(None, S)
    eps = S if epsilon is None else _resolve_epsilon(epsilon, None)
    m = lovasz_errors(F, y.to(F.dtype), error=error, gamma=gamma)
    m_sorted, order = torch.sort(m, descending=True, stable=True)
    with torch.no_grad():  # the increments are piecewise constant in m: float64, no graph, on the device
        g = _sorted_increments(y[order], w[order], S, eps, torch)
    return (m_sorted * g.to(m_sorted.dtype)).sum()


def naive_lovasz_z_loss(pred, target, weight, *, epsilon=None, error="hinge", signal_total=None, gamma=2.0):
    """The same loss value by Eq. (4) literally: Δ_Z re-evaluated on every prefix set (O(p²), NumPy).

    For tests and ``benchmarks/bench_lovasz.py`` only. Scores on any device are copied to the CPU.
    """
    F = torch.as_tensor(array("pred", pred, ndim=1, finite=True), device="cpu")
    y, w = _target_weight(target, weight)
    m = lovasz_errors(F, torch.as_tensor(y, device="cpu"), error=error, gamma=gamma).cpu().numpy()
    S = _resolve_signal_total(signal_total, y, w)
    eps = _resolve_epsilon(epsilon, S)
    return lovasz_extension(lambda mask: delta_z(mask, y, w, eps, signal_total=S), m)


# --------------------------------------------------------------------------------------------
# a loss_fn for ht.train.fit
# --------------------------------------------------------------------------------------------
def make_lovasz_z_loss(*, epsilon, error="hinge", normalisation="scaled", gamma=2.0, weight_key="w"):
    """A ``loss_fn(output, batch)`` closure for :func:`hepsig_tutorial.train.fit`: :func:`lovasz_z_loss`.

    ``batch`` must hold ``"y"`` (0/1), ``weight_key`` (per-event weights σ_k L / v_k with v_k counted in the
    **whole training set**) and ``"fraction"`` (added by ``fit``); ``output`` are raw scores (logits).

    The closure checks the values of its inputs (:func:`lovasz_z_loss`'s ``validate``) on its first call only,
    so later training steps never wait for the device.

    Parameters
    ----------
    epsilon : float > 0
        The regulator ε, fixed for the whole training (the paper: ε = σ_s L).
    error : str
        One of :data:`ERRORS`.
    normalisation : {"scaled", "dataset"}
        ``"scaled"`` (default, what Eq. 5 needs) -- the batch weights are divided by the batch fraction, so the
        batch's expected yields estimate the full ones (S_batch ≈ σ_s L, comparable with ε) -- equivalent, up to
        the random process mix of a batch, to counting v_k in the batch. ``"dataset"``: the dataset-level weights
        are used as they are, so a batch carries only ``fraction``·σ_s L of signal, the effective regulator is
        ε/fraction and the result depends on the batch size (Chapter 6 shows this).
    gamma : float
        Focusing parameter of the focal error.
    weight_key : str
        The batch key of the weights.
    """
    eps = _resolve_epsilon(epsilon, None)
    choice("error", error, ERRORS)
    choice("normalisation", normalisation, ("scaled", "dataset"))
    return batch_loss(lovasz_z_loss, weight_key=weight_key, fraction=normalisation == "scaled", epsilon=eps,
                      error=error, gamma=gamma)
