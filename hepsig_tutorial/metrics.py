"""The book's one evaluation protocol: cut scans, figures of merit, simulated-background rule, MC errors.

Every chapter that turns classifier scores into a number a physicist would quote goes through this
module (the conventions page of the book, ``sec-conventions``, states the same rules in words):

1. **Cut scan.** :func:`cut_scan` computes, for every threshold ``t`` of a grid, the expected signal ``s``
   and background ``b`` kept by ``score >= t`` -- per background process, per *group* (e.g. the
   mass windows of Chapters 2-3), in one sorted pass -- and the number of simulated background events
   behind ``b``.
2. **Simulated backgrounds that run out.** A weighted simulation cannot show that a background vanishes:
   when no simulated event of process ``p`` survives, all we know is that its expected yield is below
   about one event weight. The book's single rule (:data:`FLOOR_EVENTS`): each background process
   contributes ``max(b_p, 1.14 * w_p)``, where ``w_p`` is the mean event weight of process ``p`` in the
   evaluation sample and ``1.14 = -ln(0.32)`` is the one-sided 68 % CL Poisson upper limit on a mean when
   zero events are seen. In addition, a cut is only *chosen* if it keeps at least
   :data:`MIN_BACKGROUND_EVENTS` simulated background events (below that the floor, not the simulation,
   decides; chapters may state a different minimum, never a smaller floor).
3. **Figures of merit at a cut.** :func:`asimov_z` (Z_A with σ_b = rel·b) and :func:`punzi_sigma_min`, on the
   floored background.
4. **Choose on one sample, quote on another.** :func:`best_cut` picks the cut on the choosing sample
   (training or validation); :func:`at_cut` reads the figure of merit of the evaluation (test) sample there.
5. **Monte-Carlo statistical errors.** Every scan can carry a Poisson bootstrap of the evaluation sample
   (each simulated event gets an independent Poisson(1) multiplicity per replicate). The multiplicities
   depend only on the sample and the seed, not on the scores, so two classifiers evaluated on the same
   sample with the same seed see the *same* replicates: their difference has a correct (paired) MC error.
6. **Comparisons.** :func:`summarise` combines the seed-to-seed spread with the MC error of the evaluation
   sample; :func:`paired_difference` compares two methods seed by seed on the same replicates, with a
   Welch-Satterthwaite t test; :func:`holm` controls the family-wise error rate of a set of verdicts.

ROC curves and the area under them (weighted, ties counted half) are here too (:func:`roc_curve`,
:func:`roc_auc`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ._validate import array, choice, integer, number, require
from .stats import _punzi_numerator, asimov_significance

__all__ = [
    "FLOOR_EVENTS", "MIN_BACKGROUND_EVENTS", "N_BOOTSTRAP",
    "CutScan", "cut_grid", "cut_scan", "asimov_z", "punzi_sigma_min",
    "best_cut", "at_cut", "Estimate", "summarise", "paired_difference", "holm", "roc_curve", "roc_auc",
]

#: The zero-count floor in units of a process's mean event weight: -ln(0.32), the one-sided 68 % CL upper
#: limit on a Poisson mean when no event is seen.
FLOOR_EVENTS = -math.log(0.32)
#: The fewest simulated background events a cut must keep to be *chosen* (relative MC error ≤ 45 %).
MIN_BACKGROUND_EVENTS = 5
#: Default number of Poisson-bootstrap replicates.
N_BOOTSTRAP = 200
_CHUNK = 16  # bootstrap replicates drawn at once (memory: _CHUNK × N float32)
# Poisson(1) multiplicities by table look-up of 16-bit uniforms: ten times faster than Generator.poisson;
# probabilities are quantised to 2^-16 and multiplicities above 8 (P = 1e-6) are cut, which moves the mean
# and variance of the multiplicities by < 1e-4.
_POISSON1 = np.searchsorted(np.cumsum([math.exp(-1.0) / math.factorial(k) for k in range(12)]),
                            (np.arange(65536) + 0.5) / 65536).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# input checks
# ------------------------------------------------------------------------------------------------
def _events(scores, label, weight=None):
    """Checked float64 (scores, 0/1 labels, weights ≥ 0 or None) of one length."""
    s = array("scores", scores, ndim=1, finite=True)
    y = array("label", label, ndim=1, length=len(s), finite=True)
    require((y == 0) | (y == 1), "label must hold only 0 (background) and 1 (signal)")
    if weight is None:
        return s, y, None
    w = array("weight", weight, ndim=1, length=len(s), finite=True)
    require(w >= 0, "weight must be non-negative (negative event weights: see the practitioner's notes)")
    return s, y, w


def _groups(groups, n):
    """Normalise ``groups`` to a list of index arrays (one per group)."""
    if groups is None:
        return [np.arange(n)], True
    if getattr(groups, "ndim", 0) == 2:
        g = np.asarray(groups)
        require(g.shape[0] == n and g.dtype == bool,
                f"groups must be an (N, K) boolean matrix with N = {n}, got {g.dtype} {g.shape}")
        groups = list(g.T)  # one mask per group
    require(isinstance(groups, Sequence) and not isinstance(groups, (str, bytes)) and len(groups) > 0,
            "groups must be None, an (N, K) boolean matrix or a non-empty sequence of index arrays / masks")
    out = []
    for k, idx in enumerate(groups):
        idx = np.asarray(idx)
        if idx.dtype == bool:
            require(idx.shape == (n,), f"groups[{k}]: boolean mask must have length {n}")
            idx = np.flatnonzero(idx)
        require(idx.ndim == 1 and (len(idx) == 0 or (idx.min() >= 0 and idx.max() < n)),
                f"groups[{k}] must hold event indices in [0, {n})")
        out.append(idx.astype(np.int64))
    return out, False


# ------------------------------------------------------------------------------------------------
# the cut scan
# ------------------------------------------------------------------------------------------------
def cut_grid(scores, label, n: int = 201) -> np.ndarray:
    """Thresholds for :func:`cut_scan`: ``-inf`` (keep everything) and the quantiles of each class's scores.

    Half of the ``n`` quantiles come from the signal scores and half from the background scores, so the
    grid resolves both the loose region and the far tail where tight selections live.
    """
    n = integer("n", n, minimum=3)
    s, y, _ = _events(scores, label)
    q = np.linspace(0.0, 1.0, n // 2)
    parts = [np.quantile(s[y == c], q) for c in (0, 1) if np.any(y == c)]
    return np.concatenate([[-np.inf], np.unique(np.concatenate(parts))])


@dataclass
class CutScan:
    """Yields of ``score >= cuts[t]`` for every threshold (and every group), with bootstrap replicates.

    Shapes: K groups, T thresholds, P background processes, R bootstrap replicates. A scan made
    without ``groups`` has K = 1 and ``squeeze`` set, so its arrays are returned without the K axis
    by :func:`at_cut` and the figure-of-merit functions.

    Attributes
    ----------
    cuts : (T,) thresholds, increasing (``cuts[0] = -inf`` keeps everything).
    s : (K, T) expected signal kept.
    b_process : (K, P, T) expected background kept, per process (no floor).
    floor : (P,) the zero-count floor of each process (``FLOOR_EVENTS`` × its mean weight).
    n_background : (K, T) simulated background events kept.
    boot_s, boot_b_process : (R, K, T), (R, K, P, T) bootstrap replicates, or None.
    processes : (P,) the background process labels.
    """

    cuts: np.ndarray
    s: np.ndarray
    b_process: np.ndarray
    floor: np.ndarray
    n_background: np.ndarray
    processes: np.ndarray
    boot_s: np.ndarray | None = None
    boot_b_process: np.ndarray | None = None
    squeeze: bool = True

    @property
    def b_raw(self) -> np.ndarray:
        """(K, T) expected background without the floor."""
        return self.b_process.sum(axis=1)

    @property
    def b(self) -> np.ndarray:
        """(K, T) expected background with the book's floor rule (per process ``max(b_p, floor_p)``)."""
        return np.maximum(self.b_process, self.floor[None, :, None]).sum(axis=1)

    @property
    def boot_b(self) -> np.ndarray | None:
        """(R, K, T) bootstrap replicates of the floored background."""
        return None if self.boot_b_process is None else np.maximum(self.boot_b_process,
                                                                    self.floor[None, None, :, None]).sum(axis=2)

    def eligible(self, min_background_events: int = MIN_BACKGROUND_EVENTS) -> np.ndarray:
        """(K, T) cuts that keep some signal and ≥ ``min_background_events`` simulated background events."""
        integer("min_background_events", min_background_events)
        return (self.n_background >= min_background_events) & (self.s > 0)


def cut_scan(scores, label, weight, *, process=None, cuts=None, groups=None, n_bootstrap: int = 0,
             seed: int = 0, n_cuts: int = 201) -> CutScan:
    """Expected yields of ``score >= t`` for every threshold ``t``, per background process and group.

    Parameters
    ----------
    scores, label, weight : (N,) arrays
        Classifier output (any monotone scale), 1 = signal / 0 = background, and event weights
        (expected events per simulated event; signal weights in whatever units the figure of merit needs,
        e.g. efficiency units 1/N_generated for Punzi's ε).
    process : (N,) int array, optional
        Background process of each event (ignored for signal). The floor rule is applied per process;
        without it all background is one process.
    cuts : (T,) array, optional
        Thresholds (sorted here); default :func:`cut_grid` of the scores.
    groups : None, (N, K) bool matrix, or sequence of K index arrays / masks
        Evaluate K selections at once (e.g. the Belle II mass windows: group k holds the background in
        window k and the signal of mass k). Memory O(N + Σ|group|).
    n_bootstrap : int
        Poisson-bootstrap replicates of the sample (0: none). Replicate r of event i has multiplicity
        ``Poisson(1)`` drawn from ``seed`` and i alone, so scans of different scores on the same sample and
        seed share replicates (paired MC errors).
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    CutScan
    """
    s_, y, w = _events(scores, label, weight)
    n = len(s_)
    require(n > 0, "scores must not be empty")
    proc = np.zeros(n, np.int64) if process is None else array("process", process, np.int64, ndim=1, length=n)
    n_bootstrap, seed = integer("n_bootstrap", n_bootstrap), integer("seed", seed)
    cuts = cut_grid(s_, y, n_cuts) if cuts is None else np.sort(array("cuts", cuts, ndim=1, finite="nan"))
    require(len(cuts) > 0, "cuts must not be empty")
    idx_groups, squeeze = _groups(groups, n)
    sig = y == 1
    processes = np.unique(proc[~sig]) if np.any(~sig) else np.zeros(1, dtype=np.int64)
    P, T, K = len(processes), len(cuts), len(idx_groups)
    # class of each event: 0 = signal, 1 + p = background process p
    cls = np.where(sig, 0, 1 + np.searchsorted(processes, proc)).astype(np.int64)
    floor = np.array([FLOOR_EVENTS * w[~sig & (proc == p)].mean() if np.any(~sig & (proc == p)) else 0.0
                      for p in processes])
    # bin j = number of thresholds ≤ score: the event passes cuts[0..j-1]
    j = np.searchsorted(cuts, s_, side="right")
    C, B = P + 1, T + 1

    def tail(h):  # h[..., bins] -> yields at each threshold: sum over bins j > t
        return np.flip(np.cumsum(np.flip(h, -1), -1), -1)[..., 1:]

    s_out, b_out, nb_out = np.zeros((K, T)), np.zeros((K, P, T)), np.zeros((K, T))
    group_keys = [cls[idx] * B + j[idx] for idx in idx_groups]  # (class, bin) of each event of each group
    for k, (idx, key) in enumerate(zip(idx_groups, group_keys)):
        y_ = tail(np.bincount(key, weights=w[idx], minlength=C * B).reshape(C, B))
        s_out[k], b_out[k] = y_[0], y_[1:]
        nb_out[k] = tail(np.bincount(key, minlength=C * B).reshape(C, B))[1:].sum(axis=0)
    boot_s = boot_b = None
    if n_bootstrap:
        R = n_bootstrap
        boot_s, boot_b = np.zeros((R, K, T)), np.zeros((R, K, P, T))
        # per group: events sorted by (class, bin), so each replicate's histogram is one reduceat
        plans = []
        for idx, key in zip(idx_groups, group_keys):
            order = np.argsort(key, kind="stable")
            ks = key[order]  # sorted: each run of equal keys is one (class, bin) cell
            starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]]) if len(ks) else np.zeros(0, np.int64)
            plans.append((idx[order], w[idx][order].astype(np.float32), starts, ks[starts]))
        for r0 in range(0, R, _CHUNK):
            c = min(_CHUNK, R - r0)
            mult = _POISSON1[np.random.default_rng([seed, r0]).integers(0, 65536, size=(c, n), dtype=np.uint16)]
            for k, (ev, wk, starts, keys) in enumerate(plans):
                h = np.zeros((c, C * B))
                if len(ev):
                    h[:, keys] = np.add.reduceat(mult[:, ev] * wk[None, :], starts, axis=1, dtype=np.float64)
                y_ = tail(h.reshape(c, C, B))
                boot_s[r0:r0 + c, k] = y_[:, 0]
                boot_b[r0:r0 + c, k] = y_[:, 1:]
    return CutScan(cuts=cuts, s=s_out, b_process=b_out, floor=floor, n_background=nb_out, processes=processes,
                   boot_s=boot_s, boot_b_process=boot_b, squeeze=squeeze)


# ------------------------------------------------------------------------------------------------
# figures of merit on a scan: arrays (K, T), plus replicates (R, K, T)
# ------------------------------------------------------------------------------------------------
def _with_boot(scan: CutScan, fn):
    return fn(scan.s, scan.b), (None if scan.boot_s is None else fn(scan.boot_s, scan.boot_b))


def asimov_z(scan: CutScan, sigma_b_rel: float = 0.0):
    """Asimov discovery significance Z_A (significance-asimov-losses.txt, Eq. 3.1) at every cut.

    σ_b = ``sigma_b_rel`` × b (a relative background uncertainty held fixed across cuts -- an assumption:
    a real analysis re-derives σ_b for its selection). Returns ``(values (K, T), replicates (R, K, T) or
    None)``.
    """
    sigma_b_rel = number("sigma_b_rel", sigma_b_rel, low=0)

    def fn(s, b):
        return np.asarray(asimov_significance(np.maximum(s, 0.0), b, sigma_b_rel * b), dtype=np.float64)

    return _with_boot(scan, fn)


def punzi_sigma_min(scan: CutScan, *, luminosity: float = 1.0, signal_total=1.0, a: float = 3.0,
                    b: float = 1.28, refined: bool = False):
    """Punzi's σ_min (punzi-loss.txt, Eq. 9) at every cut; ``inf`` where no signal is kept.

    The efficiency is ε = s / ``signal_total`` (a scalar or one value per group: the signal *generated*,
    before detector acceptance, in the units of the signal weights); B is the floored background.
    Returns ``(values, replicates or None)``; lower is better.
    """
    tot = array("signal_total", signal_total, finite=True)
    require(tot > 0, f"signal_total must be positive and finite, got {signal_total!r}")
    for name, value in (("a", a), ("b", b), ("luminosity", luminosity)):
        number(name, value, low=0, low_open=True)
    tot = tot.reshape(-1, 1) if tot.ndim == 1 else tot

    def fn(s, bkg):  # stats.punzi_sensitivity's arithmetic where ε > 0
        eff = np.minimum(np.maximum(s, 0.0) / tot, 1.0)
        with np.errstate(divide="ignore"):
            return np.where(eff > 0, _punzi_numerator(bkg, bkg, a, b, refined, False) / (eff * luminosity), np.inf)

    return _with_boot(scan, fn)


# ------------------------------------------------------------------------------------------------
# choose on one sample, quote on another
# ------------------------------------------------------------------------------------------------
def best_cut(fom, scan: CutScan, *, maximize: bool = True, min_background_events: int = MIN_BACKGROUND_EVENTS,
             combine: str | None = None, columns=None) -> np.ndarray | int:
    """Index of the best eligible cut of ``fom`` (values of a figure of merit on ``scan``, shape (K, T)).

    Eligible: keeps signal and ≥ ``min_background_events`` simulated background events
    (:meth:`CutScan.eligible`). With ``combine=None`` one index per group (K,); with ``combine="mean"`` a
    single global index optimising the mean of the figure of merit over the groups ``columns`` (default all),
    among cuts eligible for all of them.

    Raises ``ValueError`` if no cut is eligible (lower ``min_background_events`` deliberately, or use
    a larger simulated sample).
    """
    values = np.asarray(fom[0] if isinstance(fom, tuple) else fom, dtype=np.float64).reshape(scan.s.shape)
    ok = scan.eligible(min_background_events)
    bad = -np.inf if maximize else np.inf
    masked = np.where(ok & np.isfinite(values), values, bad)
    if combine is None:
        empty = ~np.any(masked != bad, axis=1)
        require(~empty, f"min_background_events: no cut of group {int(np.argmax(empty))} keeps "
                f"{min_background_events} simulated background events and some signal")
        idx = np.argmax(masked, axis=1) if maximize else np.argmin(masked, axis=1)
        return int(idx[0]) if scan.squeeze else idx
    choice("combine", combine, (None, "mean"))
    cols = np.arange(scan.s.shape[0]) if columns is None else np.asarray(columns)
    good = np.all(ok[cols] & np.isfinite(values[cols]), axis=0)
    require(np.any(good), "min_background_events: no single cut is eligible for every group in columns")
    agg = np.where(good, np.nanmean(masked[cols], axis=0), bad)
    return int(np.argmax(agg) if maximize else np.argmin(agg))


def at_cut(fom, index):
    """The figure of merit at the chosen cut(s): ``(value, replicates)``.

    ``fom`` is ``(values (K, T), replicates (R, K, T) or None)`` from a figure-of-merit function of the
    *evaluation* scan; ``index`` is an int (one cut for every group) or (K,) indices (one per group).
    Returns scalars / (R,) replicates for a scan without groups, (K,) / (R, K) otherwise.
    """
    values, boot = np.asarray(fom[0]), fom[1]
    K = values.shape[0]
    idx = np.broadcast_to(np.asarray(index, dtype=np.int64), (K,))
    require((idx >= 0) & (idx < values.shape[1]), f"index must lie in [0, {values.shape[1]})")
    v = values[np.arange(K), idx]
    rb = None if boot is None else boot[:, np.arange(K), idx]
    if K == 1 and np.ndim(index) == 0:
        return float(v[0]), (None if rb is None else rb[:, 0])
    return v, rb


# ------------------------------------------------------------------------------------------------
# seeds, MC errors and comparisons
# ------------------------------------------------------------------------------------------------
@dataclass
class Estimate:
    """A mean over seeds with its uncertainties.

    ``value``: mean over seeds; ``se_seed``: standard error from the seed-to-seed spread (training
    randomness); ``se_mc``: Monte-Carlo statistical error of the evaluation sample (bootstrap s.d. of the
    seed mean); ``se``: both in quadrature; ``dof``: Welch-Satterthwaite degrees of freedom; ``t`` and
    ``p`` (two-sided) for a difference (:func:`paired_difference`), NaN otherwise.
    """

    value: float
    se_seed: float
    se_mc: float
    se: float
    n_seeds: int
    dof: float
    t: float = float("nan")
    p: float = float("nan")

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """Two-sided interval with Student-t quantiles at the Welch-Satterthwaite degrees of freedom."""
        number("level", level, low=0, high=1, low_open=True, high_open=True)
        from scipy import stats as _sps  # (scipy.stats is slow to import: only when needed)

        q = _sps.t.ppf(0.5 + level / 2, self.dof) if np.isfinite(self.dof) else _sps.norm.ppf(0.5 + level / 2)
        return self.value - q * self.se, self.value + q * self.se

    def __format__(self, spec):
        spec = spec or ".3g"
        return f"{self.value:{spec}} ± {self.se:{spec}}"


def summarise(values, boot=None) -> Estimate:
    """Mean over seeds of a figure of merit with seed and MC errors.

    ``values``: (n_seeds,) the figure of merit of each seed on the evaluation sample; ``boot``: (n_seeds, R)
    its bootstrap replicates (the same replicates for every seed, i.e. the same scan seed).
    """
    v = array("values", values, ndim=1, finite=True)
    require(len(v) > 0, "values must be a non-empty 1-D array (one value per seed)")
    n = len(v)
    se_seed = float(v.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    se_mc = 0.0
    if boot is not None:
        b = np.asarray(boot, dtype=np.float64)
        require(b.ndim == 2 and b.shape[0] == n, f"boot must have shape (n_seeds, R) = ({n}, R), got {b.shape}")
        se_mc = float(np.std(b.mean(axis=0), ddof=1)) if b.shape[1] > 1 else 0.0
    se = math.hypot(se_seed, se_mc)
    dof = se**4 * (n - 1) / se_seed**4 if n > 1 and se_seed > 0 else math.inf  # Welch-Satterthwaite
    return Estimate(float(v.mean()), se_seed, se_mc, se, n, dof)


def paired_difference(values_a, values_b, boot_a=None, boot_b=None) -> Estimate:
    """Difference A − B of two methods trained with the same seeds and evaluated on the same sample.

    Seed i of A and seed i of B share the data split and the initialisation (paired), and replicate r of
    both comes from the same bootstrap multiplicities (paired MC), so the correlated parts cancel in the
    errors. Returns an :class:`Estimate` with ``t = value / se`` and its two-sided p-value from Student's t
    at the Welch-Satterthwaite degrees of freedom.
    """
    a, b = np.asarray(values_a, dtype=np.float64), np.asarray(values_b, dtype=np.float64)
    require(a.shape == b.shape,
            f"values_a and values_b must have the same shape (paired seeds), got {a.shape}, {b.shape}")
    require((boot_a is None) == (boot_b is None),
            "boot_a, boot_b: give bootstrap replicates for both methods or for neither")
    boot = None if boot_a is None else np.asarray(boot_a, dtype=np.float64) - np.asarray(boot_b, dtype=np.float64)
    e = summarise(a - b, boot)
    if e.se > 0:
        from scipy import stats as _sps

        t = e.value / e.se
        p = float(2 * (_sps.t.sf(abs(t), e.dof) if np.isfinite(e.dof) else _sps.norm.sf(abs(t))))
    else:
        t, p = (0.0, 1.0) if e.value == 0 else (math.copysign(math.inf, e.value), 0.0)
    return replace(e, t=t, p=p)


def holm(pvalues, alpha: float = 0.05) -> np.ndarray:
    """Holm's step-down procedure: which hypotheses to reject with family-wise error rate ≤ ``alpha``.

    Sort the m p-values, compare the i-th smallest with alpha / (m − i), stop at the first that fails.
    Returns a boolean array in the input order.
    """
    p = array("pvalues", pvalues, ndim=1, finite=True)
    require((p >= 0) & (p <= 1), "pvalues must be a 1-D array of numbers in [0, 1]")
    number("alpha", alpha, low=0, high=1, low_open=True, high_open=True)
    order, m = np.argsort(p, kind="stable"), len(p)
    reject = np.zeros(m, dtype=bool)
    reject[order] = np.cumprod(p[order] <= alpha / (m - np.arange(m))).astype(bool)  # up to the first failure
    return reject


# ------------------------------------------------------------------------------------------------
# ROC
# ------------------------------------------------------------------------------------------------
def roc_curve(scores, label, weight=None):
    """Weighted ROC curve: ``(background efficiency, signal efficiency, thresholds)``, from (0, 0) up.

    Point t keeps ``score >= thresholds[t]``; tied scores enter together.
    """
    s, y, w = _events(scores, label, weight)
    w = np.ones(len(s)) if w is None else w
    ws, wb = w[y == 1].sum(), w[y == 0].sum()
    require(ws > 0 and wb > 0, "weight: roc_curve needs signal and background of positive total weight")
    thr, inv = np.unique(-s, return_inverse=True)
    hs = np.bincount(inv, weights=w * (y == 1), minlength=len(thr))
    hb = np.bincount(inv, weights=w * (y == 0), minlength=len(thr))
    tpr = np.concatenate([[0.0], np.cumsum(hs) / ws])
    fpr = np.concatenate([[0.0], np.cumsum(hb) / wb])
    return fpr, tpr, np.concatenate([[np.inf], -thr])


def roc_auc(scores, label, weight=None) -> float:
    """Area under the weighted ROC curve (ties count one half): P(score_sig > score_bkg)."""
    fpr, tpr, _ = roc_curve(scores, label, weight)
    return float(np.trapezoid(tpr, fpr) if hasattr(np, "trapezoid") else np.trapz(tpr, fpr))
