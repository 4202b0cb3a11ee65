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

Two ways to say which event counts for which window, with the same values and gradients:

* a dense (N, K) membership matrix M (``toy.window_matrix()``): all windows together with one matrix
  product ``(y·ŷ·w) @ M``. Simple, but N×K memory (2.4 M × 89 in Chapter 3's FULL mode);
* the *compact* form for windows that are intervals [lo_k, hi_k] in M² (the Belle II-like toy):
  :class:`MassWindows` cuts the M² axis at the 2K window edges into at most 4K + 1 pieces ("atoms")
  and gives every event one integer *cell* -- signal of mass k inside window k, background in atom a,
  or nowhere -- once per data set (:meth:`MassWindows.cells`). A loss step is then one ``index_add``
  of ŷ·w into the cells (O(N)) and a (cells × K) product for the overlapping background windows:
  memory O(N + K), no N×K matrix, no sort. ``benchmarks/bench_punzi_loss.py`` times both against a
  ``torch.sparse`` incidence-matrix implementation.

Input values are checked once (``validate=True``, the default of :func:`punzi_loss`); every check waits
for the device, so the training closure of :func:`make_punzi_loss` checks the data once, at
construction (``data=``) or on its first call, and its steps never synchronise with the host.

Trained networks are evaluated with hard cuts by :mod:`hepsig_tutorial.metrics` (the book's one
evaluation protocol), not here.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import stats
from .._validate import array, choice, number, require
from ._common import as_pred, as_tensor, batch_loss, check_target, check_values

__all__ = [
    "MassWindows",
    "toy_cells",
    "punzi_loss",
    "make_punzi_loss",
    "sigma_min_from_yields",
]


# --------------------------------------------------------------------------------------------
# σ_min from (ε, B), allowing ε > 1 and ε = 0
# --------------------------------------------------------------------------------------------
def _check_constants(a, b, luminosity, eff_floor):
    for name, val in (("a", a), ("b", b), ("luminosity", luminosity)):
        number(name, val, low=0, low_open=True)
    number("eff_floor", eff_floor, low=0, high=1, low_open=True, high_open=True)


def sigma_min_from_yields(efficiency, background, a=3.0, b=1.28, luminosity=1.0, refined=False,
                          eff_floor=1e-6):
    r"""σ_min (punzi-loss.txt, Eq. 9) for efficiencies that may be 0 or (batch estimates) above 1.

    :func:`hepsig_tutorial.stats.punzi_sensitivity` insists on ε ∈ (0, 1] -- right for a physical
    efficiency. A loss sees *estimates*: a mini-batch with more than its share of signal gives
    ε > 1 after the 1/f scaling, and a window whose signal is all cut away gives ε = 0. So the
    numerator (b²/2 + a√B + …)/L of ``stats.punzi_sensitivity`` (on NumPy arrays bit for bit
    ``stats.punzi_sensitivity(1, B, …)``) is divided by max(ε, ``eff_floor``) here. The floor (1e-6,
    as in the authors' public code) keeps the value finite at ε = 0; below it the derivative with
    respect to ε is zero.

    NumPy arrays in, NumPy array out; tensors in, tensor out (differentiable).
    """
    _check_constants(a, b, luminosity, eff_floor)
    ref = next((v for v in (efficiency, background) if isinstance(v, torch.Tensor)), None)
    if ref is None:
        eff, B = array("efficiency", efficiency), array("background", background)
    else:
        eff, B = (torch.as_tensor(v, dtype=ref.dtype, device=ref.device) for v in (efficiency, background))
    require(eff >= 0, "efficiency must be non-negative (and not NaN)")
    require((B >= 0) & (B < float("inf")), "background must be non-negative and finite")
    if ref is None:
        return stats._punzi_numerator(B, B, a, b, refined, False) / luminosity / np.maximum(eff, eff_floor)
    return _sigma_min_tensor(eff, B, a, b, luminosity, refined, eff_floor)


def _sigma_min_tensor(eff, B, a, b, luminosity, refined, eff_floor):
    """Eq. 9 with ε floored, on tensors, without value checks (no host synchronisation).

    The same arithmetic as ``stats.punzi_sensitivity(1, B) / max(ε, eff_floor)``: the caller has
    checked ε ≥ 0 and 0 ≤ B < ∞ (or built them so).
    """
    return (stats._punzi_numerator(B, B, a, b, refined, True) / luminosity) / torch.clamp(eff, min=eff_floor)


# --------------------------------------------------------------------------------------------
# compact windows: intervals in M²
# --------------------------------------------------------------------------------------------
class MassWindows:
    r"""Mass windows that are intervals [lo_k, hi_k] in M², and the per-event *cells* of the compact loss.

    The Belle II-like toy counts event i for hypothesis k when lo_k ≤ M²_i ≤ hi_k and the event is
    background or signal generated at mass k (``toy.window_matrix()``; punzi-loss.txt, Sec. 6). The
    J ≤ 2K distinct edges cut the M² axis into 2J + 1 *atoms* (the open gaps between edges and the
    edges themselves, so that closed windows are exact); a window is a run of atoms. Each event gets
    one integer cell:

    * ``k`` (0 … K−1) for signal of mass k inside window k,
    * ``K`` for an event that counts nowhere (signal outside its window, background outside all),
    * ``K + 1 + a`` for background in atom a.

    Then for any per-event values v, Σ_i v_i M_ik = S_k + Σ_a S_{K+1+a} C_ak with S the per-cell sums
    (one ``index_add``) and C the (atoms × K) 0/1 cover matrix: O(N + K) memory and time.

    Parameters
    ----------
    windows : array (K, 2)
        [lo_k, hi_k] per hypothesis (``toy.windows``, or ``toy.windows[train_mask]``), lo ≤ hi, finite.

    Attributes
    ----------
    n_windows : int
        K, the number of windows.
    n_cells : int
        K + 1 + the number of atoms: the range of the cell codes.
    cover : bool array (atoms, K)
        C, which atoms each window covers.
    cell_windows : bool array (n_cells, K)
        Row c: the windows that an event of cell code c counts for (:meth:`membership` looks it up).

    Examples
    --------
    >>> mw = MassWindows(toy.windows)                                  # doctest: +SKIP
    >>> cells = mw.cells(toy.m2_rec, toy.y, toy.mass_index)         # doctest: +SKIP
    >>> punzi_loss(pred, target, weight, windows=mw, cells=cells)       # doctest: +SKIP
    """

    def __init__(self, windows):
        wins = array("windows", windows, ndim=2, finite=True).copy()   # a copy: the caller's array may change
        require(wins.shape[1] == 2 and wins.shape[0] >= 1,
                f"windows must have shape (K, 2) with K ≥ 1, got {wins.shape}")
        require(wins[:, 0] <= wins[:, 1], "windows must be finite intervals [lo, hi] with lo ≤ hi")
        self.windows = wins
        self.n_windows = K = len(wins)
        self.edges = np.unique(wins.ravel())                       # J sorted distinct edges
        lo_i, hi_i = np.searchsorted(self.edges, wins.T)
        atoms = np.arange(2 * len(self.edges) + 1)
        # atom 2p: the gap below edge p (p = J: above the last); atom 2p + 1: the point edge p
        self.cover = (atoms[:, None] >= 2 * lo_i + 1) & (atoms[:, None] <= 2 * hi_i + 1)
        # row c: the windows that cell code c counts for (signal of mass k, nowhere, background atoms)
        self.cell_windows = np.vstack([np.eye(K, dtype=bool), np.zeros((1, K), dtype=bool), self.cover])
        self.n_cells = len(self.cell_windows)                       # K + 1 + number of atoms
        self._device_cache = {}

    def cells(self, m2, target, mass_index):
        """The cell code of every event (see the class docstring), computed in float64.

        Parameters
        ----------
        m2 : array or tensor (N,)
            The mass variable the windows cut on (M²_rec in the toy).
        target : array or tensor (N,)
            1 signal, 0 background.
        mass_index : array or tensor (N,) of int
            Window index of a signal event's generated mass (ignored for background; any value
            outside [0, K) means "no window", e.g. −1 or a mass not trained on).

        Returns
        -------
        int64 NumPy array (N,).
        """
        x = array("m2", m2, ndim=1, finite="nan")
        y = array("target", target, ndim=1, length=len(x))
        k = array("mass_index", mass_index, ndim=1, length=len(x))
        check_target(y)
        require(k == np.round(k), "mass_index must hold integers")
        K = self.n_windows
        p = np.searchsorted(self.edges, x, side="left")            # number of edges < m2
        on_edge = (p < len(self.edges)) & (self.edges[np.minimum(p, len(self.edges) - 1)] == x)
        background = K + 1 + 2 * p + on_edge
        kk = k.astype(np.int64)
        valid = (kk >= 0) & (kk < K)
        kc = np.where(valid, kk, 0)
        inside = valid & (x >= self.windows[kc, 0]) & (x <= self.windows[kc, 1])
        signal = np.where(inside, kk, K)
        return np.where(y == 1, signal, background).astype(np.int64)

    def counts(self, cells):
        """Boolean (N,): the event counts for at least one window (NumPy array in, NumPy array out)."""
        return self.cell_windows.any(axis=1)[array("cells", cells, np.int64)]

    def membership(self, cells):
        """The dense (N, K) bool matrix these cells describe (for checks; equals ``toy.window_matrix()``)."""
        return self.cell_windows[array("cells", cells, np.int64)]

    def yields(self, values, cells, dtype=torch.float64):
        """(signal, background) sums Σ_i values_i · M_ik per window, split by the cells' label.

        ``values`` (N,) tensor, ``cells`` (N,) int64 tensor on the same device. One 1-D ``index_add``
        per call (O(N); its backward is one gather), then a (K × atoms) product for the overlapping
        background windows; accumulated in ``dtype`` (float64 by default), differentiable in
        ``values``. Returns two (K,) tensors.
        """
        v = values.to(dtype)
        per_cell = torch.zeros(self.n_cells, dtype=dtype, device=v.device).index_add(0, cells, v)
        key = str(v.device)
        if key not in self._device_cache:   # the float64 cover matrix, uploaded once per device
            self._device_cache[key] = torch.as_tensor(self.cover, dtype=torch.float64, device=v.device)
        K = self.n_windows
        return per_cell[:K], self._device_cache[key].to(dtype).T @ per_cell[K + 1:]


def toy_cells(toy, columns=None):
    """``(MassWindows, cells)`` of a Belle II-like toy, for the windows ``columns`` (default: all).

    ``columns`` is a boolean mask or indices over the toy's mass hypotheses (e.g. the trained masses);
    signal of a mass not in ``columns`` counts nowhere, as in ``toy.window_matrix()[:, columns]``.
    ``MassWindows(...).membership(cells)`` reproduces that matrix exactly.
    """
    for attr in ("windows", "m2_rec", "y", "mass_index"):
        require(hasattr(toy, attr), f"toy must be a BelleToy-like sample (missing {attr!r})")
    K = len(toy.windows)
    cols = np.arange(K) if columns is None else np.asarray(columns)
    if cols.dtype == bool:
        require(cols.shape == (K,), f"columns as a mask must have {K} entries, got {cols.shape}")
        cols = np.flatnonzero(cols)
    require(len(cols) > 0 and cols.min() >= 0 and cols.max() < K,
            f"columns must select at least one of the {K} windows")
    remap = np.full(K + 1, -1, dtype=np.int64)   # entry K (and -1): "no window"
    remap[cols] = np.arange(len(cols))
    local = remap[np.clip(np.asarray(toy.mass_index, dtype=np.int64), -1, K)]
    mw = MassWindows(np.asarray(toy.windows)[cols])
    return mw, mw.cells(toy.m2_rec, toy.y, local)


# --------------------------------------------------------------------------------------------
# the loss
# --------------------------------------------------------------------------------------------
def punzi_loss(pred, target, weight, *, membership=None, a=3.0, b=1.28, luminosity=1.0, fraction=1.0,
               refined=False, eff_floor=1e-6, reduction="mean", windows=None, cells=None, validate=True):
    r"""The Punzi loss: mean relaxed σ_min over mass hypotheses (punzi-loss.txt, Eqs. 10-12).

    .. math::
        ε_k = \frac{1}{f}\sum_i y_i\,\hat y_i\,w_i\,M_{ik},\qquad
        B_k = \frac{1}{f}\sum_i (1-y_i)\,\hat y_i\,w_i\,M_{ik},\qquad
        C = \frac{1}{K'}\sum_{k} σ_{min}(ε_k, B_k)

    with σ_min from Eq. 9 (:func:`hepsig_tutorial.stats.punzi_sensitivity`). Taught in Chapter 3
    (``sec-punzi-net``).

    M is given either densely (``membership``, N × K) or, for windows that are intervals in M²,
    compactly: ``windows=`` plus ``cells=`` (from :meth:`MassWindows.cells` or :func:`toy_cells`, computed
    once per data set, on the host in float64: float32 M², what ``train.fit`` makes of float arrays,
    could move an event that sits within float32 rounding of a window edge across it). Both give the
    same values and gradients; the compact form needs O(N + K) memory and is several times faster
    (``benchmarks/bench_punzi_loss.py``).

    Parameters
    ----------
    pred : tensor (N,)
        Network output ŷ ∈ [0, 1], a probability (the relaxed selection; a 0/1 vector gives the hard-cut σ_min).
    target : tensor or array (N,)
        Labels, 1 signal, 0 background.
    weight : tensor or array (N,), ≥ 0
        Signal: 1/N_gen of its mass hypothesis (so Σ y·w·M is the window efficiency); background:
        expected events per simulated event at the target luminosity (the s_sig/N_gen and s_bkg of
        Eqs. 10-11).
    membership : tensor or array (N, K), optional
        Dense form: M_ik = 1 when event i counts for hypothesis k: inside window k and either
        background or signal generated at mass k (``toy.window_matrix()`` in the Belle II-like toy).
        Bool or float; pass only the columns of the hypotheses you train on.
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
    windows : MassWindows or array (K, 2), optional
        Compact form: the windows [lo_k, hi_k] (keep one :class:`MassWindows` for a whole training).
    cells : int tensor or array (N,), optional
        Compact form: each event's cell, ``windows.cells(m2, target, mass_index)`` (a float tensor
        holding integers, as ``train.fit`` delivers it, is accepted).
    validate : bool
        Check the input *values* (ŷ ∈ [0, 1], 0/1 labels, finite non-negative weights, cell codes).
        Each check waits for the device; a training loop checks its data once and passes ``False``
        (:func:`make_punzi_loss` does). Shapes and options are always checked (no device wait).

    Returns
    -------
    tensor
        Scalar (or (K,) for ``reduction="none"``), differentiable with respect to ``pred``, in
        ``pred``'s dtype (the compact form accumulates the sums and σ_min in float64).

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

    *No host synchronisation* with ``validate=False``: nothing in the computation reads a device value
    back to Python (the "no window has signal" case is a ``torch.where``, not an ``if``).
    """
    pred = as_pred(pred)
    choice("reduction", reduction, ("mean", "sum", "none"))
    _check_constants(a, b, luminosity, eff_floor)
    number("fraction", fraction, low=0, low_open=True, high=1)
    compact = membership is None
    require(compact or (windows is None and cells is None),
            "membership: give either the dense membership matrix or windows= with cells=, not both")
    y = as_tensor(target, "target", pred, pred.dtype, same_shape=True)
    w = as_tensor(weight, "weight", pred, pred.dtype, same_shape=True)
    if compact:
        require(windows is not None, "membership (an (N, K) matrix) or windows= with cells= must be given")
        require(cells is not None, "cells must be given with windows= (MassWindows.cells or toy_cells)")
        mw = windows if isinstance(windows, MassWindows) else MassWindows(windows)
        c = as_tensor(cells, "cells", pred, same_shape=True)
        if validate:
            check_values(pred, y, w, probability=True)
            require(not c.is_floating_point() or c == torch.round(c),
                    "cells must hold integer cell codes (MassWindows.cells)")
            require((c >= 0) & (c < mw.n_cells),
                    f"cells must lie in [0, {mw.n_cells}) for these windows (MassWindows.cells)")
            require((c <= mw.n_windows) == (y == 1),
                    "cells do not match target (signal cells are < K + 1, background cells > K)")
        c = c.to(torch.int64)
        # per-event ŷ·w summed into the cells (float64), and w alone: which windows hold any signal
        sig, bkg = mw.yields(pred * w, c)
        with torch.no_grad():   # only the sign matters: a sum of non-negative weights, in their own dtype
            has_signal = mw.yields(w, c, dtype=w.dtype)[0] > 0
    else:
        M = as_tensor(membership, "membership", pred, pred.dtype)
        require(M.ndim == 2 and M.shape[0] == pred.shape[0] and M.shape[1] >= 1,
                f"membership must have shape ({pred.shape[0]}, K) with K ≥ 1, got {tuple(M.shape)}")
        if validate:
            check_values(pred, y, w, probability=True)
            require(M.detach().amin() >= 0, "membership must be non-negative (a 0/1 matrix) without NaN")  # one pass
        # One matrix product for all windows: rows (signal·ŷ, background·ŷ, signal) @ M → (3, K).
        # The last row does not depend on the network: it says which windows hold any signal.
        sig, bkg, has_signal = torch.stack((y * w * pred, (1.0 - y) * w * pred, (y * w).detach())) @ M
        has_signal = has_signal.detach() > 0
    sigma = _sigma_min_tensor(sig / fraction, bkg / fraction, a, b, luminosity, refined, eff_floor).to(pred.dtype)
    if reduction == "none":
        return sigma
    # mean/sum over the windows with signal, without a host synchronisation
    total = torch.where(has_signal, sigma, torch.zeros_like(sigma)).sum()   # 0, with a graph, if none has signal
    if reduction == "sum":
        return total
    return total / has_signal.sum().clamp(min=1).to(pred.dtype)


def make_punzi_loss(*, a=3.0, b=1.28, luminosity=1.0, refined=False, eff_floor=1e-6, windows=None, data=None,
                    weight_key="w"):
    """A ``loss_fn(output, batch)`` for :func:`hepsig_tutorial.train.fit` computing :func:`punzi_loss`.

    ``output`` are probabilities ŷ. Reads ``batch["y"]`` (labels), ``batch[weight_key]`` (weights),
    ``batch["fraction"]`` (set by ``fit``; scales the batch sums up) and the window membership: dense
    (default) ``batch["membership"]``, the (N, K) matrix; compact (``windows`` given, a :class:`MassWindows`
    or (K, 2) array) ``batch["cell"]``, each event's cell (:meth:`MassWindows.cells`, :func:`toy_cells`).

    The input values are checked once: at construction for the whole training set when ``data``
    (a mapping with those keys) is given, otherwise on the first call. Later calls run with
    ``validate=False`` and never wait for the device.

    Examples
    --------
    Chapter 3 in the compact form (no N × K matrix)::

        mw, cells = toy_cells(train_toy, train_masses)
        data = {"x": x, "y": y, "w": w, "cell": cells}
        loss_fn = make_punzi_loss(luminosity=train_toy.luminosity, windows=mw, data=data)
        ht.train.fit(model, loss_fn, data, epochs=..., batch_size=...)
    """
    _check_constants(a, b, luminosity, eff_floor)
    if windows is not None and not isinstance(windows, MassWindows):   # one for the whole training
        windows = MassWindows(windows)
    return batch_loss(punzi_loss, weight_key=weight_key, data=data, windows=windows,
                      extra={"membership": "membership"} if windows is None else {"cells": "cell"},
                      a=a, b=b, luminosity=luminosity, refined=refined, eff_floor=eff_floor)
