"""Every loss of the book on the same problem, head to head (Chapter 8, ``sec-capstone``).

One *common training interface*, :func:`train_classifier`, trains the same network (``ht.models.mlp`` with a
linear output, i.e. raw scores F) with the same optimiser, batch policy and epoch budget for each method:

* ``"bce"`` -- class-balanced weighted binary cross-entropy on σ(F) (signal reweighted so Σw_sig = Σw_bkg,
  :func:`hepsig_tutorial.punzinet.bce_weights`), followed by the optimal cut on the score;
* ``"s_sqrt_s_b"`` -- ℓ_s/√(s+b) = (s+b)/s² on the relaxed counts (significance-asimov-losses.txt, Eq. 4.5);
* ``"asimov"`` -- ℓ_Asimov = 1/Z_A (Eq. 4.6) at a fixed σ_b/b, after a pretraining on ℓ_s/√(s+b) (Sec. 4 of
  the same paper) that uses the first ``pretrain_fraction`` of the epoch budget;
* ``"punzi"`` -- the Punzi loss (punzi-loss.txt, Eq. 12) with *one* window (membership all ones), signal weights
  normalised to efficiency units, after a weighted-BCE pretraining (Sec. 5 of that paper) within the same budget;
* ``"lovasz"`` -- the Lovász Z-score loss with the hinge error on the raw scores (lovasz-z-score-loss.txt, Eq. 6),
  regulator ε = S, the expected signal.

:func:`compare_losses` runs all of them on a reader's arrays (features, labels, per-event weights = expected
events per simulated event) with a small validation search over the learning rate, several seeds, and the
metrics of Chapter 8, all on held-out test events: Z_A at several σ_b/b, Punzi's σ_min (in units of the
signal cross section behind the weights), the signal efficiency at the optimum and how flat Z_A is around it.
The result is pandas-free: a :class:`Comparison` holding lists of dataclass rows.

Cuts are never chosen on the events they are evaluated on: the training sample is split into a *fit* part
(training) and a *validation* part (learning-rate choice and the cut), and every number is quoted on the test
sample.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from . import models, train
from .config import device as default_device
from .data import MinMaxScaler
from .losses.lovasz import lovasz_z_loss_fn
from .losses.punzi import make_punzi_loss_fn
from .losses.significance import asimov_loss_fn, s_over_sqrt_s_plus_b_loss_fn, scan_cuts
from .punzinet import bce_weights
from .stats import asimov_significance, punzi_sensitivity

__all__ = [
    "METHODS",
    "METHOD_LABELS",
    "SIGMA_B_RELS",
    "train_classifier",
    "evaluate_scores",
    "RunResult",
    "SummaryRow",
    "Comparison",
    "compare_losses",
    "summarise",
    "separated",
    "versus_baseline",
    "format_table",
    "belle_window_arrays",
    "standard_problems",
]

#: Method names understood by :func:`train_classifier` and :func:`compare_losses`.
METHODS = ("bce", "s_sqrt_s_b", "asimov", "punzi", "lovasz")
#: Labels for tables and figures.
METHOD_LABELS = {"bce": "BCE + cut", "s_sqrt_s_b": "ℓ_s/√(s+b)", "asimov": "ℓ_Asimov", "punzi": "Punzi loss",
                 "lovasz": "Lovász-Z (hinge)"}
#: Background uncertainties σ_b/b at which Z_A is reported.
SIGMA_B_RELS = (0.0, 0.1, 0.5)


# ------------------------------------------------------------------------------------------------
# input checks
# ------------------------------------------------------------------------------------------------
def _arrays(x, y, w, prefix):
    try:
        x = np.asarray(x, dtype=np.float32)
        y = np.asarray(y, dtype=np.float64).ravel()
        w = np.asarray(w, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"x_{prefix}, y_{prefix}, w_{prefix} must be numeric arrays") from exc
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"x_{prefix} must be a non-empty 2D array (events, features), got shape {x.shape}")
    if not (len(x) == len(y) == len(w)):
        raise ValueError(f"x_{prefix}, y_{prefix}, w_{prefix} must have the same length, got "
                         f"{len(x)}, {len(y)}, {len(w)}")
    if not np.isfinite(x).all():
        raise ValueError(f"x_{prefix} contains NaN or inf")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"y_{prefix} must contain only 0 (background) and 1 (signal)")
    if not (np.isfinite(w).all() and (w > 0).all()):
        raise ValueError(f"w_{prefix} must be finite and positive (expected events per simulated event)")
    if not (y == 1).any() or not (y == 0).any():
        raise ValueError(f"y_{prefix} must contain both signal (1) and background (0) events")
    return x, y, w


def _check_method(method):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


# ------------------------------------------------------------------------------------------------
# the common training interface
# ------------------------------------------------------------------------------------------------
def _sigmoid_loss(loss_fn):
    """Apply a loss written for probabilities ŷ ∈ (0, 1) to raw scores F: ŷ = σ(F)."""
    def wrapped(output, batch):
        return loss_fn(torch.sigmoid(output), batch)
    return wrapped


def _bce_on_scores(output, batch):
    return train.bce_loss(torch.sigmoid(output), {"y": batch["y"], "w": batch["w_bce"]})


def train_classifier(method: str, x, y, w, *, epochs: int = 20, batch_size: int | None = 4096, lr: float = 1e-2,
                     hidden: Sequence[int] = (16, 8), activation: str = "tanh", optimizer: str = "adam",
                     pretrain_fraction: float = 0.25, asimov_sigma_b_rel: float = 0.5, seed: int = 0, device=None):
    """Train one classifier with one loss through the common interface; return ``(model, history)``.

    Every method gets the same network, ``ht.models.mlp(n_features, hidden, activation, output="linear")``
    (raw scores F; the losses that need probabilities use σ(F)), the same optimiser, the same batch size and
    the same total number of epochs. For ``"asimov"`` and ``"punzi"`` the first ``round(pretrain_fraction ·
    epochs)`` epochs are the pretraining their papers prescribe (ℓ_s/√(s+b) for ℓ_Asimov,
    significance-asimov-losses.txt Sec. 4; weighted BCE for the Punzi loss, punzi-loss.txt Sec. 5), so the
    budget stays equal. Taught in Chapter 8 (``sec-capstone``).

    Parameters
    ----------
    method : one of :data:`METHODS`
    x : (N, F) array
        Features, already scaled (e.g. with :class:`~hepsig_tutorial.data.MinMaxScaler`).
    y : (N,) array of 0/1
        Labels (1 = signal).
    w : (N,) array > 0
        Expected events per simulated event, so that Σ w over each class is that class's full expected yield.
    epochs, batch_size, lr, optimizer :
        Passed to :func:`hepsig_tutorial.train.fit` (``batch_size=None``: full batch). The significance losses
        scale batch sums by 1/``batch["fraction"]`` to full-sample yields.
    hidden, activation :
        The network (:func:`hepsig_tutorial.models.mlp`).
    pretrain_fraction : float in [0, 1)
        Share of the epochs used for pretraining by ``"asimov"`` and ``"punzi"``.
    asimov_sigma_b_rel : float ≥ 0
        σ_b/b inside ℓ_Asimov.
    seed : int
        Seeds the network initialisation and the batch order.

    Returns
    -------
    (torch.nn.Module, dict)
        The model (outputs raw scores) and ``{"loss": [...], "pretrain_loss": [...], "seconds": float}``.
    """
    _check_method(method)
    x, y, w = _arrays(x, y, w, "train")
    epochs = _positive_int("epochs", epochs)
    if not (isinstance(pretrain_fraction, (int, float)) and 0 <= pretrain_fraction < 1):
        raise ValueError(f"pretrain_fraction must lie in [0, 1), got {pretrain_fraction!r}")
    if not (isinstance(asimov_sigma_b_rel, (int, float)) and math.isfinite(asimov_sigma_b_rel)
            and asimov_sigma_b_rel >= 0):
        raise ValueError(f"asimov_sigma_b_rel must be a finite number ≥ 0, got {asimov_sigma_b_rel!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    dev = default_device() if device is None else device
    signal_total = float(w[y == 1].sum())
    w_eff = np.where(y == 1, w / signal_total, w)  # Punzi: signal in efficiency units, background in events
    data = {"x": x, "y": y.astype(np.float32), "w": w.astype(np.float32), "w_bce": bce_weights(y, w),
            "w_eff": w_eff.astype(np.float32), "membership": np.ones((len(y), 1), dtype=np.float32)}

    torch.manual_seed(int(seed))
    model = models.mlp(x.shape[1], tuple(hidden), activation, output="linear")
    n_pre = int(round(pretrain_fraction * epochs)) if method in ("asimov", "punzi") else 0
    n_pre = min(n_pre, epochs - 1)
    s_sqrt = _sigmoid_loss(s_over_sqrt_s_plus_b_loss_fn(normalisation="fraction"))
    if method == "bce":
        stages = [(_bce_on_scores, epochs)]
    elif method == "s_sqrt_s_b":
        stages = [(s_sqrt, epochs)]
    elif method == "asimov":
        asimov = _sigmoid_loss(asimov_loss_fn(float(asimov_sigma_b_rel), normalisation="fraction"))
        stages = [(s_sqrt, n_pre), (asimov, epochs - n_pre)]
    elif method == "punzi":
        punzi = _sigmoid_loss(make_punzi_loss_fn(luminosity=1.0, keys=("y", "w_eff", "membership")))
        stages = [(_bce_on_scores, n_pre), (punzi, epochs - n_pre)]
    else:  # lovasz
        stages = [(lovasz_z_loss_fn(signal_total, error="hinge", normalisation="scaled"), epochs)]
    history = {"loss": [], "pretrain_loss": [], "seconds": 0.0}
    for i, (loss_fn, n_ep) in enumerate(stages):
        if n_ep == 0:
            continue
        h = train.fit(model, loss_fn, data, epochs=n_ep, batch_size=batch_size, lr=lr, optimizer=optimizer,
                      seed=int(seed) + 7919 * i, device=dev, desc=f"{method} stage {i + 1}")
        history["pretrain_loss" if (len(stages) == 2 and i == 0) else "loss"] += h["loss"]
        history["seconds"] += h["seconds"]
    return model, history


# ------------------------------------------------------------------------------------------------
# evaluation on held-out events
# ------------------------------------------------------------------------------------------------
def _yields(scores, y, w, cuts):
    """Expected s, b and simulated background counts kept by ``score > cut`` for each cut."""
    scan = scan_cuts(scores, y, w, 0.0, cuts=cuts, min_background_events=1)
    return scan.s, scan.b, scan.n_background


def _z_from(s, b, rel, b_floor):
    b = np.maximum(b, b_floor)
    return np.asarray(asimov_significance(np.maximum(s, 0.0), b, rel * b), dtype=np.float64)


def _mu_min(s, b, signal_total, b_floor):
    """Punzi σ_min in units of the signal cross section behind the weights (Eq. 9 with ε = s/S)."""
    out = np.full(np.shape(s), np.inf)
    ok = s > 0
    if ok.any():
        eff = np.minimum(s[ok] / signal_total, 1.0)
        out[ok] = np.asarray(punzi_sensitivity(eff, np.maximum(b[ok], b_floor))) / signal_total
    return out


def _cut_grid(scores, n_cuts):
    q = np.unique(np.quantile(scores, np.linspace(0.0, 1.0, int(n_cuts))))
    return np.concatenate([[q[0] - 1e-9], 0.5 * (q[:-1] + q[1:])]) if len(q) > 1 else q - 1e-9


def evaluate_scores(scores_val, y_val, w_val, scores_test, y_test, w_test, *, sigma_b_rels=SIGMA_B_RELS,
                    min_background_events: int = 10, width_sigma_b_rel: float = 0.1, width_level: float = 0.9,
                    n_cuts: int = 400):
    """The Chapter 8 metrics of one trained classifier: cuts chosen on validation, values on test.

    For each σ_b/b in ``sigma_b_rels`` the cut ``score > t`` maximising Z_A (significance-asimov-losses.txt,
    Eq. 3.1; σ_b = (σ_b/b)·b) on the validation events is applied to the test events. The same for Punzi's
    σ_min (punzi-loss.txt, Eq. 9, with ε = s/S, the kept share of the expected signal), minimised. Only cuts
    keeping ≥ ``min_background_events`` simulated validation background events are eligible, and on the test
    events b is floored at the weight of one simulated background event (an empty simulated sample does not
    mean b = 0).

    Returns
    -------
    dict
        ``"z_a_<rel>"`` (test Z_A at the validation cut) and ``"eff_<rel>"`` (signal efficiency s/S there) for
        every σ_b/b; ``"mu_min"`` (test σ_min divided by the signal cross section behind the weights: the
        signal strength needed for a 3σ discovery with 90 % probability; lower is better) and ``"eff_punzi"``;
        ``"cut_width"``: the range of test signal efficiency over which Z_A at σ_b/b = ``width_sigma_b_rel``
        stays ≥ ``width_level`` × its maximum (larger = flatter, more forgiving of the cut); ``"curve"``: the
        test curve (efficiency, s, b) on a quantile grid of cuts, for plots.
    """
    sv, yv, wv = _arrays(scores_val, y_val, w_val, "val")
    st, yt, wt = _arrays(scores_test, y_test, w_test, "test")
    sv, st = sv[:, 0].astype(np.float64), st[:, 0].astype(np.float64)
    if not 0 < width_level < 1:
        raise ValueError(f"width_level must lie in (0, 1), got {width_level!r}")
    min_background_events = _positive_int("min_background_events", min_background_events)
    S_val, S_test = wv[yv == 1].sum(), wt[yt == 1].sum()
    floor_val, floor_test = wv[yv == 0].min(), wt[yt == 0].min()
    cuts = _cut_grid(np.concatenate([sv, st]), n_cuts)
    s_v, b_v, nb_v = _yields(sv, yv, wv, cuts)
    s_t, b_t, _ = _yields(st, yt, wt, cuts)
    eligible = (nb_v >= min_background_events) & (s_v > 0)
    if not eligible.any():
        raise ValueError(f"min_background_events: no cut keeps {min_background_events} validation background "
                         "events and some signal")
    out = {}
    for rel in sigma_b_rels:
        z_v = np.where(eligible, _z_from(s_v, b_v, rel, floor_val), -np.inf)
        j = int(np.argmax(z_v))
        out[f"z_a_{rel:g}"] = float(_z_from(s_t[j:j + 1], b_t[j:j + 1], rel, floor_test)[0])
        out[f"eff_{rel:g}"] = float(s_t[j] / S_test)
    mu_v = np.where(eligible, _mu_min(s_v, b_v, S_val, floor_val), np.inf)
    j = int(np.argmin(mu_v))
    out["mu_min"] = float(_mu_min(s_t[j:j + 1], b_t[j:j + 1], S_test, floor_test)[0])
    out["eff_punzi"] = float(s_t[j] / S_test)
    # flatness of the test Z_A curve around its maximum, in signal efficiency
    z_t = _z_from(s_t, b_t, width_sigma_b_rel, floor_test)
    eff_t = s_t / S_test
    near = z_t >= width_level * np.max(z_t)
    out["cut_width"] = float(eff_t[near].max() - eff_t[near].min())
    out["curve"] = {"efficiency": eff_t, "s": s_t, "b": np.maximum(b_t, floor_test)}
    return out


# ------------------------------------------------------------------------------------------------
# results
# ------------------------------------------------------------------------------------------------
@dataclass
class RunResult:
    """One trained classifier: ``problem``, ``method``, ``seed``, chosen ``lr`` and its test ``metrics``."""

    problem: str
    method: str
    seed: int
    lr: float
    metrics: dict
    train_seconds: float
    curve: dict = field(default=None, repr=False)


@dataclass
class SummaryRow:
    """Mean and standard error (over seeds) of every metric for one (problem, method)."""

    problem: str
    method: str
    lr: float
    n_seeds: int
    mean: dict
    err: dict

    def value(self, metric):
        """``(mean, standard error)`` of ``metric``."""
        if metric not in self.mean:
            raise ValueError(f"metric must be one of {sorted(self.mean)}, got {metric!r}")
        return self.mean[metric], self.err[metric]


def summarise(runs: Sequence[RunResult]) -> list[SummaryRow]:
    """Group runs by (problem, method); mean and standard error s/√n of each metric over the seeds."""
    groups: dict = {}
    for r in runs:
        groups.setdefault((r.problem, r.method), []).append(r)
    rows = []
    for (problem, method), rs in groups.items():
        keys = [k for k in rs[0].metrics if isinstance(rs[0].metrics[k], float)]
        mean, err = {}, {}
        for k in keys:
            v = np.array([r.metrics[k] for r in rs], dtype=np.float64)
            mean[k] = float(np.mean(v))
            err[k] = float(np.std(v, ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan")
        rows.append(SummaryRow(problem=problem, method=method, lr=rs[0].lr, n_seeds=len(rs), mean=mean, err=err))
    return rows


def separated(a: SummaryRow, b: SummaryRow, metric: str, k: float = 2.0) -> int:
    """+1 if ``a`` is larger than ``b`` in ``metric`` by more than k combined standard errors, −1 if smaller,
    0 if the error bars do not separate them (``k=2`` by default). For ``mu_min`` smaller is better: read the
    sign accordingly."""
    ma, ea = a.value(metric)
    mb, eb = b.value(metric)
    tol = k * math.sqrt(ea * ea + eb * eb)
    if not math.isfinite(tol):
        return 0
    if ma - mb > tol:
        return 1
    if mb - ma > tol:
        return -1
    return 0


def versus_baseline(comparison, metric: str, baseline: str = "bce", k: float = 2.0) -> dict:
    """``{method: +1 / 0 / −1}``: better than, not separated from, or worse than ``baseline`` in ``metric``.

    "Better" means larger for the Z_A metrics and smaller for ``mu_min`` (Punzi σ_min); a difference counts
    only when it exceeds ``k`` combined standard errors (:func:`separated`). The baseline itself maps to 0.
    """
    base = comparison.row(baseline)
    sign = -1 if metric == "mu_min" else 1
    return {r.method: (0 if r.method == baseline else sign * separated(r, base, metric, k))
            for r in comparison.summary}


def format_table(rows: Sequence[SummaryRow], metrics=("z_a_0", "z_a_0.1", "z_a_0.5", "mu_min", "eff_0.1",
                                                      "cut_width"), digits: int = 3) -> str:
    """A Markdown table ``problem | method | lr | metric ± error …``."""
    head = "| problem | method | lr | " + " | ".join(metrics) + " |"
    lines = [head, "|" + "---|" * (3 + len(metrics))]
    for r in rows:
        cells = [f"{r.mean[m]:.{digits}g} ± {r.err[m]:.2g}" for m in metrics]
        label = METHOD_LABELS.get(r.method, r.method)
        lines.append(f"| {r.problem} | {label} | {r.lr:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass
class Comparison:
    """Result of :func:`compare_losses`: per-seed ``runs``, their ``summary`` and the validation search."""

    problem: str
    runs: list
    summary: list
    validation: dict
    chosen_lr: dict
    config: dict
    seconds: float

    def row(self, method) -> SummaryRow:
        """The :class:`SummaryRow` of ``method``."""
        for r in self.summary:
            if r.method == method:
                return r
        raise ValueError(f"method {method!r} is not in this comparison ({[r.method for r in self.summary]})")

    def table(self, **kwargs) -> str:
        """:func:`format_table` of the summary."""
        return format_table(self.summary, **kwargs)


def _split_fit_val(x, y, w, val_fraction, seed):
    """Stratified split; each class's weights rescaled so both parts predict the full expected yields."""
    rng = np.random.default_rng(seed)
    is_val = np.zeros(len(y), dtype=bool)
    for label in (0.0, 1.0):
        idx = np.flatnonzero(y == label)
        n_val = min(max(int(round(val_fraction * len(idx))), 1), len(idx) - 1)
        is_val[rng.permutation(idx)[:n_val]] = True
    parts = []
    for m in (~is_val, is_val):
        wp = w[m].copy()
        for label in (0.0, 1.0):
            cls = y[m] == label
            wp[cls] *= w[y == label].sum() / wp[cls].sum()
        parts.append((x[m], y[m], wp))
    return parts


def _select_value(metrics, select_metric):
    v = metrics[select_metric]
    return -v if select_metric == "mu_min" else v


def compare_losses(x_train, y_train, w_train, x_test, y_test, w_test, *, methods=METHODS, seeds=(0, 1, 2),
                   epochs: int = 30, batch_size: int | None = None, batch_fraction: float = 0.25,
                   lrs=(3e-3, 3e-2), hidden=(16, 8),
                   activation: str = "tanh", optimizer: str = "adam", pretrain_fraction: float = 0.25,
                   asimov_sigma_b_rel: float = 0.5, sigma_b_rels=SIGMA_B_RELS, select_metric: str = "z_a_0.1",
                   val_fraction: float = 0.25, min_background_events: int = 10, scale_inputs: bool = True,
                   problem: str = "problem", split_seed: int = 0, device=None) -> Comparison:
    """Train every loss on the same arrays and compare them on held-out test events (Chapter 8).

    1. The training arrays are split (stratified, ``val_fraction``) into *fit* and *validation* events; each
       part's weights are rescaled per class so both predict the full expected yields. Inputs are min-max scaled
       on the fit events (``scale_inputs``).
    2. Validation search: for each method and each learning rate in ``lrs`` one network (seed ``seeds[0]``) is
       trained by :func:`train_classifier`; the learning rate with the best ``select_metric`` on the
       validation events (the same rule for every method) is kept.
    3. For each seed a network is trained with that learning rate (the search's network is reused for
       ``seeds[0]``) and evaluated by :func:`evaluate_scores`: cuts chosen on validation, metrics on test.

    Parameters
    ----------
    x_train, y_train, w_train, x_test, y_test, w_test : arrays
        Features (N, F), labels 0/1 and per-event weights > 0 = expected events per simulated event (each
        class's weights summing to its full expected yield in each sample).
    methods : sequence of names from :data:`METHODS`
    seeds : sequence of int
        One network per seed and method; errors are the standard error over seeds.
    epochs, hidden, activation, optimizer, pretrain_fraction, asimov_sigma_b_rel :
        The common training settings (:func:`train_classifier`).
    batch_size, batch_fraction :
        The batch policy, the same for every method: ``batch_size`` events, or (``batch_size=None``, the
        default) ``ceil(batch_fraction · N_fit)`` events, i.e. 1/``batch_fraction`` steps per epoch whatever the
        sample size. The significance losses need large batches (batch sums estimate the full yields).
    lrs : sequence of float
        The learning rates of the validation search.
    sigma_b_rels : sequence of float
        σ_b/b values for Z_A.
    select_metric : str
        ``"z_a_<rel>"`` (maximised) for a ``rel`` in ``sigma_b_rels``, or ``"mu_min"`` (minimised).
    min_background_events : int
        Cuts must keep at least this many simulated validation background events.
    problem : str
        Name stored in the result rows.

    Returns
    -------
    Comparison
        ``runs`` (list of :class:`RunResult`), ``summary`` (list of :class:`SummaryRow`), ``validation``
        ({(method, lr): validation score}), ``chosen_lr``, ``config`` and ``seconds``.
    """
    t0 = time.perf_counter()
    x_tr, y_tr, w_tr = _arrays(x_train, y_train, w_train, "train")
    x_te, y_te, w_te = _arrays(x_test, y_test, w_test, "test")
    if x_tr.shape[1] != x_te.shape[1]:
        raise ValueError(f"x_test has {x_te.shape[1]} features but x_train has {x_tr.shape[1]}")
    methods = tuple(methods)
    if not methods:
        raise ValueError("methods must not be empty")
    for m in methods:
        _check_method(m)
    seeds = tuple(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty sequence of non-negative integers, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds!r}")
    lrs = tuple(float(v) for v in lrs)
    if not lrs or any(not (v > 0 and math.isfinite(v)) for v in lrs):
        raise ValueError(f"lrs must be a non-empty sequence of positive learning rates, got {lrs!r}")
    sigma_b_rels = tuple(float(v) for v in sigma_b_rels)
    if not sigma_b_rels or any(not (v >= 0 and math.isfinite(v)) for v in sigma_b_rels):
        raise ValueError(f"sigma_b_rels must be non-negative numbers, got {sigma_b_rels!r}")
    valid_select = [f"z_a_{v:g}" for v in sigma_b_rels] + ["mu_min"]
    if select_metric not in valid_select:
        raise ValueError(f"select_metric must be one of {valid_select}, got {select_metric!r}")
    if not (isinstance(val_fraction, float) and 0 < val_fraction < 1):
        raise ValueError(f"val_fraction must be a float in (0, 1), got {val_fraction!r}")
    width_rel = 0.1 if 0.1 in sigma_b_rels else sigma_b_rels[0]
    if batch_size is None and not (isinstance(batch_fraction, (int, float)) and 0 < batch_fraction <= 1):
        raise ValueError(f"batch_fraction must lie in (0, 1], got {batch_fraction!r}")

    (x_fit, y_fit, w_fit), (x_val, y_val, w_val) = _split_fit_val(x_tr, y_tr, w_tr, val_fraction, split_seed)
    if scale_inputs:
        scaler = MinMaxScaler().fit(x_fit)
        x_fit, x_val, x_te = scaler.transform(x_fit), scaler.transform(x_val), scaler.transform(x_te)
    if batch_size is None:
        batch_size = max(1, math.ceil(batch_fraction * len(y_fit)))
    common = dict(epochs=epochs, batch_size=batch_size, hidden=hidden, activation=activation, optimizer=optimizer,
                  pretrain_fraction=pretrain_fraction, asimov_sigma_b_rel=asimov_sigma_b_rel, device=device)
    eval_kw = dict(sigma_b_rels=sigma_b_rels, min_background_events=min_background_events,
                   width_sigma_b_rel=width_rel)

    def run(method, lr, seed):
        model, hist = train_classifier(method, x_fit, y_fit, w_fit, lr=lr, seed=seed, **common)
        met = evaluate_scores(train.predict(model, x_val), y_val, w_val, train.predict(model, x_te), y_te, w_te,
                              **eval_kw)
        # the validation value of the selection metric (cut chosen and evaluated on validation)
        val = evaluate_scores(train.predict(model, x_val), y_val, w_val, train.predict(model, x_val), y_val, w_val,
                              **eval_kw)[select_metric]
        return met, val, hist["seconds"]

    validation, chosen, runs = {}, {}, []
    for method in methods:
        cache = {}
        for lr in lrs:
            met, val, sec = run(method, lr, seeds[0])
            validation[(method, lr)] = val
            cache[lr] = (met, sec)
        best = max(lrs, key=lambda lr: _select_value({select_metric: validation[(method, lr)]}, select_metric))
        chosen[method] = best
        for seed in seeds:
            met, sec = cache[best] if seed == seeds[0] else run(method, best, seed)[::2]
            curve = met.pop("curve")
            runs.append(RunResult(problem=problem, method=method, seed=int(seed), lr=best, metrics=met,
                                  train_seconds=float(sec), curve=curve))
    config = dict(common, seeds=seeds, lrs=lrs, sigma_b_rels=sigma_b_rels, select_metric=select_metric,
                  val_fraction=val_fraction, min_background_events=min_background_events, n_fit=len(y_fit),
                  n_val=len(y_val), n_test=len(y_te), width_sigma_b_rel=width_rel)
    config.pop("device")
    return Comparison(problem=problem, runs=runs, summary=summarise(runs), validation=validation, chosen_lr=chosen,
                      config=config, seconds=time.perf_counter() - t0)


# ------------------------------------------------------------------------------------------------
# the Belle II-like toy as single-window problems
# ------------------------------------------------------------------------------------------------
def belle_window_arrays(toy, k: int, signal_xsec_fb: float = 10.0):
    """Features, labels and weights of the events in mass window ``k`` of a :class:`BelleToy` (one half).

    The single-selection version of the Punzi-net problem (punzi-loss.txt, Sec. 6): the events of window k
    (background in the window, signal generated at mass k inside it). Background weights are kept (expected
    events at ``toy.luminosity``); the signal weights of ``toy.split()`` halves (1/N per half) are multiplied
    by ``signal_xsec_fb · luminosity · acceptance_k`` so that they, too, are expected events, for a signal of
    cross section ``signal_xsec_fb`` (a benchmark value: σ_min from :func:`compare_losses` is then in units of
    it). Returns ``(x, y, w)``.
    """
    for attr in ("features", "label", "weight", "window_column", "luminosity", "signal_acceptance", "masses"):
        if not hasattr(toy, attr):
            raise ValueError(f"toy must be a BelleToy (missing {attr!r})")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < len(toy.masses):
        raise ValueError(f"k must be a mass index in [0, {len(toy.masses)}), got {k!r}")
    if not (isinstance(signal_xsec_fb, (int, float)) and signal_xsec_fb > 0 and math.isfinite(signal_xsec_fb)):
        raise ValueError(f"signal_xsec_fb must be a positive finite number, got {signal_xsec_fb!r}")
    col = toy.window_column(int(k))
    y = toy.label[col].astype(np.float64)
    w = toy.weight[col].astype(np.float64)
    sig = y == 1
    w[sig] *= signal_xsec_fb * toy.luminosity * float(toy.signal_acceptance[int(k)])
    return toy.features[col].astype(np.float32), y, w


def standard_problems(*, belle_masses=(3.0, 7.0), belle_signal=3000, belle_background=(20000, 150000, 120000),
                      stop_signal=3000, stop_background=9000, gauss_per_process=4000, gauss_case=1,
                      include=("belle", "stop_compressed", "stop_uncompressed", "gauss2d"), seed=0):
    """The Chapter 8 problems as ``{name: (x_train, y_train, w_train, x_test, y_test, w_test)}``.

    * ``"belle_m<mass>"`` -- the Belle II-like Z′ toy (:func:`~hepsig_tutorial.data.make_belle_toy`), one
      single-window problem per mass (:func:`belle_window_arrays`, signal of 10 fb), halves of ``toy.split()``
      (60 % train, 40 % test);
    * ``"stop_compressed"``, ``"stop_uncompressed"`` -- the toy stop search
      (:func:`~hepsig_tutorial.data.make_stop_toy`), its own 70/30 split with weights to expected events;
    * ``"gauss2d"`` -- the 2D Gaussian case study (:func:`~hepsig_tutorial.data.make_gauss2d`, case
      ``gauss_case``), split 70/30, weights σ_k L / v_k counted in each part.

    Sizes are simulated events; everything is seeded by ``seed``.
    """
    from .data import (GAUSS2D_CASES, GAUSS2D_LUMINOSITY, make_belle_toy, make_gauss2d, make_stop_toy,
                       train_test_split)
    from .losses.lovasz import process_weights

    known = ("belle", "stop_compressed", "stop_uncompressed", "gauss2d")
    if any(name not in known for name in include):
        raise ValueError(f"include must name problems among {known}, got {include!r}")
    out = {}
    if "belle" in include:
        toy = make_belle_toy(masses=list(belle_masses), n_signal_per_mass=belle_signal,
                             n_background=belle_background, seed=seed)
        tr, te = toy.split(0.4, seed=seed)
        for k, m in enumerate(toy.masses):
            out[f"belle_m{m:g}"] = belle_window_arrays(tr, k) + belle_window_arrays(te, k)
    for bench in ("compressed", "uncompressed"):
        if f"stop_{bench}" in include:
            st = make_stop_toy(bench, n_signal=stop_signal, n_background=stop_background, seed=seed)
            a, b = st.split("train"), st.split("test")
            out[f"stop_{bench}"] = (a["x"], a["y"], a["w"], b["x"], b["y"], b["w"])
    if "gauss2d" in include:
        if gauss_case not in GAUSS2D_CASES:
            raise ValueError(f"gauss_case must be one of {sorted(GAUSS2D_CASES)}, got {gauss_case!r}")
        d = make_gauss2d(gauss_per_process, seed=seed)
        mask = train_test_split(len(d["y"]), test_fraction=0.3, seed=seed)
        parts = []
        for m in (mask, ~mask):
            w = process_weights(d["process"][m], GAUSS2D_CASES[gauss_case], GAUSS2D_LUMINOSITY)
            parts += [d["x"][m], d["y"][m], w]
        out["gauss2d"] = tuple(parts)
    return out
