"""Every loss of the book on the same problem, head to head (Chapter 8, ``sec-capstone``).

One *common training interface*, :func:`train_classifier`, trains the same network (``ht.models.mlp`` with a
linear output, i.e. raw scores F) with the same optimiser, batch policy and epoch budget for each method:

* ``"bce"`` -- weighted binary cross-entropy on the logits F (:func:`~hepsig_tutorial.losses.bce.bce_loss`)
  with *class-balanced cross-section weights*: background events keep their expected-event weights, signal
  events are rescaled so that Σw_sig = Σw_bkg (:func:`hepsig_tutorial.punzinet.bce_weights`); then the best
  cut on the score;
* ``"s_sqrt_s_b"`` -- ℓ_s/√(s+b) = (s+b)/s² on the relaxed counts (significance-asimov-losses.txt, Eq. 4.5);
* ``"asimov"`` -- ℓ_Asimov = 1/Z_A (Eq. 4.6) at a fixed σ_b/b, after a pretraining on ℓ_s/√(s+b) (Sec. 4 of
  the same paper) that uses the first ``pretrain_fraction`` of the epoch budget;
* ``"punzi"`` -- the Punzi loss (punzi-loss.txt, Eq. 12) with *one* window (membership all ones), signal weights
  normalised to efficiency units, after a weighted-BCE pretraining (Sec. 5 of that paper) within the same budget;
* ``"lovasz"`` -- the Lovász Z-score loss with the hinge error on the raw scores (lovasz-z-score-loss.txt, Eq. 6),
  batch weights scaled to the full yields and regulator ε = κ·S with κ = :data:`LOVASZ_KAPPA` = 30 (the
  recommendation of Chapter 6, ``sec-lovasz``, Section 7: with the paper's ε = S, and for every κ ≤ 3, the
  trivial classifier F ≡ 0 is the minimum; κ = 30 is the smallest value of its scan that trains in both cases).

Training protocol (the book's, ``sec-conventions``): every method gets the same budget -- the same learning-rate
grid, the same maximum number of epochs, early stopping with patience and best-state restore on the same
*validation figure of merit* (the best eligible Z_A on the validation events, :func:`validation_monitor`).

Evaluation protocol (:mod:`hepsig_tutorial.metrics`): cuts are scanned with the per-process floor rule, chosen on
the validation events among cuts that keep ≥ ``min_background_events`` simulated background events, and
quoted on the test events with a Poisson bootstrap of the test sample (:func:`evaluate_scores`).

Comparisons: seed ``i`` fixes the fit/validation split and the initialisation of *every* method (paired seeds);
the test sample and its bootstrap replicates are shared. :func:`summarise` combines the seed spread with the
MC error of the test sample; :func:`verdicts` tests every method against a baseline with
:func:`hepsig_tutorial.metrics.paired_difference` and controls the family-wise error rate with Holm's procedure.
:func:`compare_losses` runs all of it on a reader's two samples (:class:`~hepsig_tutorial.data.sample.Sample`) and
returns a pandas-free :class:`Comparison`.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from . import metrics, models, train
from ._validate import array, choice, integer, number, require
from .data import Sample, Scaler
from .losses.bce import make_bce_loss
from .losses.lovasz import make_lovasz_z_loss
from .losses.punzi import make_punzi_loss
from .losses.significance import make_asimov_loss, make_s_over_sqrt_s_plus_b_loss
from .punzinet import bce_weights

__all__ = [
    "METHODS", "METHOD_LABELS", "SIGMA_B_RELS", "VERDICT_METRICS", "LOWER_IS_BETTER", "LOVASZ_KAPPA",
    "train_classifier", "validation_monitor", "evaluate_scores", "RunResult", "SummaryRow", "Comparison", "Verdict",
    "compare_losses", "summarise", "paired", "verdicts", "format_table",
]

#: Method names understood by :func:`train_classifier` and :func:`compare_losses`.
METHODS = ("bce", "s_sqrt_s_b", "asimov", "punzi", "lovasz")
#: Labels for tables and figures.
METHOD_LABELS = {"bce": "BCE + cut", "s_sqrt_s_b": "ℓ_s/√(s+b)", "asimov": "ℓ_Asimov", "punzi": "Punzi loss",
                 "lovasz": "Lovász-Z (hinge)"}
#: Background uncertainties σ_b/b at which Z_A is reported.
SIGMA_B_RELS = (0.0, 0.1, 0.5)
#: The figures of merit on which :func:`verdicts` compares methods.
VERDICT_METRICS = ("z_a_0", "z_a_0.1", "z_a_0.5", "mu_min")
#: Metrics for which smaller is better.
LOWER_IS_BETTER = ("mu_min",)
#: The Lovász regulator ε = κ·S, S = σ_s L the expected signal (Chapter 6, ``sec-lovasz``, Section 7: its κ scan on
#: a factor-of-three grid collapses to F ≡ 0 for κ ≤ 3 -- κ = 1 is the paper's literal ε = σ_s L -- and κ = 30 is
#: the smallest value that trains in both of its cases; a larger κ turns the boundary towards σ-weighted BCE and
#: costs Z_A). Chapter 8 uses Chapter 6's recommendation.
LOVASZ_KAPPA = 30.0


# ------------------------------------------------------------------------------------------------
# input checks
# ------------------------------------------------------------------------------------------------
def _arrays(x, y, w, prefix, process=None):
    x = array(f"x_{prefix}", x, np.float32, finite=True)
    y, w = array(f"y_{prefix}", y).ravel(), array(f"w_{prefix}", w, finite=True).ravel()
    x = x[:, None] if x.ndim == 1 else x
    require(x.ndim == 2 and len(x) > 0, f"x_{prefix} must be a non-empty 2D array (events, features), got {x.shape}")
    require(len(x) == len(y) == len(w),
            f"x_{prefix}, y_{prefix}, w_{prefix} must have the same length, got {len(x)}, {len(y)}, {len(w)}")
    require(np.isin(y, (0.0, 1.0)), f"y_{prefix} must contain only 0 (background) and 1 (signal)")
    require(w >= 0, f"w_{prefix} must be positive: negative event weights are not supported by the cut scan or the "
                    "significance losses (see the practitioner's notes of Chapter 8)")
    require(w > 0, f"w_{prefix} must be positive (expected events per simulated event)")
    require((y == 1).any() and (y == 0).any(), f"y_{prefix} must contain both signal (1) and background (0) events")
    p = np.zeros(len(y), dtype=np.int64) if process is None else np.asarray(process)
    require(p.shape == y.shape and np.issubdtype(p.dtype, np.integer),
            f"process_{prefix} must be an integer array of length {len(y)}")
    return x, y, w, p.astype(np.int64)


# ------------------------------------------------------------------------------------------------
# the common training interface
# ------------------------------------------------------------------------------------------------
def _sigmoid_loss(loss_fn):
    """Apply a loss written for probabilities ŷ ∈ (0, 1) to raw scores F: ŷ = σ(F)."""
    def wrapped(output, batch):
        return loss_fn(torch.sigmoid(output), batch)
    return wrapped


def validation_monitor(x_val, y_val, w_val, process_val=None, *, sigma_b_rel: float = 0.1,
                       min_background_events: int = metrics.MIN_BACKGROUND_EVENTS, n_cuts: int = 101, score=None):
    """The validation figure of merit of the training protocol: ``monitor(model) -> float``.

    The best Z_A(σ_b/b = ``sigma_b_rel``) over the cuts of a :func:`hepsig_tutorial.metrics.cut_scan` of the
    model's scores on the validation events that keep ≥ ``min_background_events`` simulated background events
    (floor rule per process); NaN if no cut is eligible (never counts as an improvement). Pass it as
    ``monitor=`` to :func:`hepsig_tutorial.train.fit` (early stopping, best-state restore). ``score(model, x)``
    replaces the model's raw output (e.g. :func:`hepsig_tutorial.asimov.probabilities`, Chapter 5).
    """
    xv, yv, wv, pv = _arrays(x_val, y_val, w_val, "val", process_val)
    sigma_b_rel = number("sigma_b_rel", sigma_b_rel, low=0)
    x_on = functools.cache(lambda dev: torch.as_tensor(xv, device=dev))  # the events on a device, copied once

    def monitor(model):
        if score is not None:
            scores = np.asarray(score(model, xv), dtype=np.float64)
        else:
            with torch.no_grad():
                scores = model(x_on(next(model.parameters()).device)).cpu().numpy().astype(np.float64)
        if not np.isfinite(scores).all():
            return math.nan
        scan = metrics.cut_scan(scores, yv, wv, process=pv, n_cuts=n_cuts)
        z, _ = metrics.asimov_z(scan, sigma_b_rel)
        ok = scan.eligible(min_background_events)[0]
        return float(z[0][ok].max()) if ok.any() else math.nan

    return monitor


def train_classifier(method: str, x, y, w, *, epochs: int = 100, batch_size: int | None = 4096, lr: float = 1e-2,
                     hidden: Sequence[int] = (16, 8), activation: str = "tanh", optimizer: str = "adam",
                     pretrain_fraction: float = 0.25, asimov_sigma_b_rel: float = 0.5,
                     lovasz_kappa: float = LOVASZ_KAPPA, monitor=None, patience: int | None = None,
                     eval_every: int = 1, seed: int = 0, device=None):
    """Train one classifier with one loss through the common interface; return ``(model, history)``.

    Every method gets the same network, ``ht.models.mlp(n_features, hidden, activation, output="linear")``
    (raw scores F; the losses that need probabilities use σ(F)), the same optimiser, the same batch size and
    the same maximum number of epochs. For ``"asimov"`` and ``"punzi"`` the first ``round(pretrain_fraction ·
    epochs)`` epochs are the pretraining their papers prescribe (ℓ_s/√(s+b) for ℓ_Asimov,
    significance-asimov-losses.txt Sec. 4; weighted BCE for the Punzi loss, punzi-loss.txt Sec. 5), so the
    budget stays equal. With a ``monitor`` (:func:`validation_monitor`) the main stage stops early after
    ``patience`` epochs without improvement and the best epoch's weights are restored
    (:func:`hepsig_tutorial.train.fit`). Taught in Chapter 8 (``sec-capstone``).

    Parameters
    ----------
    method : one of :data:`METHODS`
    x : (N, F) array
        Features, already scaled (e.g. with :class:`~hepsig_tutorial.data.Scaler`).
    y : (N,) array of 0/1
        Labels (1 = signal).
    w : (N,) array > 0
        Expected events per simulated event, so that Σ w over each class is that class's full expected yield.
    epochs, batch_size, lr, optimizer :
        Passed to :func:`hepsig_tutorial.train.fit` (``batch_size=None``: full batch). ``epochs`` is the
        maximum (pretraining included). The significance losses scale batch sums to full-sample yields.
    hidden, activation :
        The network (:func:`hepsig_tutorial.models.mlp`).
    pretrain_fraction : float in [0, 1)
        Share of the epochs used for pretraining by ``"asimov"`` and ``"punzi"``.
    asimov_sigma_b_rel : float ≥ 0
        σ_b/b inside ℓ_Asimov.
    lovasz_kappa : float > 0
        The Lovász regulator ε = κ·S, S the expected signal.
    monitor : callable, optional
        ``monitor(model) -> float`` (higher is better); evaluated after every ``eval_every`` epochs of the
        main stage. ``None``: train all epochs, keep the last weights.
    patience : int, optional
        Early stopping (needs ``monitor``).
    seed : int
        Seeds the network initialisation and the batch order.

    Returns
    -------
    (torch.nn.Module, dict)
        The model (outputs raw scores) and a history with ``loss`` (every epoch, pretraining included),
        ``monitor`` (NaN during pretraining and between evaluations), ``pretrain_epochs``, ``best_epoch`` and
        ``stopped_epoch`` (0-based over all epochs, ``None`` if not applicable), ``steps`` and ``seconds``.
    """
    choice("method", method, METHODS)
    x, y, w, _ = _arrays(x, y, w, "train")
    epochs = integer("epochs", epochs, minimum=1)
    pretrain_fraction = number("pretrain_fraction", pretrain_fraction, low=0, high=1, high_open=True)
    asimov_sigma_b_rel = number("asimov_sigma_b_rel", asimov_sigma_b_rel, low=0)
    lovasz_kappa = number("lovasz_kappa", lovasz_kappa, low=0, low_open=True)
    seed = integer("seed", seed)
    require(patience is None or monitor is not None, "patience needs a monitor (validation_monitor)")
    signal_total, background_total = float(w[y == 1].sum()), float(w[y == 0].sum())
    w_eff = np.where(y == 1, w / signal_total, w)  # Punzi: signal in efficiency units, background in events
    data = {"x": x, "y": y.astype(np.float32), "w": w.astype(np.float32), "w_bce": bce_weights(y, w),
            "w_eff": w_eff.astype(np.float32), "membership": np.ones((len(y), 1), dtype=np.float32)}

    torch.manual_seed(seed)
    model = models.mlp(x.shape[1], tuple(hidden), activation, output="linear")
    n_pre = min(int(round(pretrain_fraction * epochs)), epochs - 1) if method in ("asimov", "punzi") else 0
    yields = dict(normalisation="batch", expected_signal=signal_total, expected_background=background_total)
    s_sqrt = _sigmoid_loss(make_s_over_sqrt_s_plus_b_loss(**yields))
    bce = make_bce_loss(weight_key="w_bce")
    pre, main = {  # (pretraining loss, main loss) of each method
        "bce": (None, bce), "s_sqrt_s_b": (None, s_sqrt),
        "asimov": (s_sqrt, _sigmoid_loss(make_asimov_loss(sigma_b_rel=asimov_sigma_b_rel, **yields))),
        "punzi": (bce, _sigmoid_loss(make_punzi_loss(luminosity=1.0, weight_key="w_eff"))),
        "lovasz": (None, make_lovasz_z_loss(epsilon=lovasz_kappa * signal_total, error="hinge",
                                            normalisation="scaled")),
    }[method]
    common = dict(batch_size=batch_size, lr=lr, optimizer=optimizer, device=device)
    h0 = {"loss": [], "steps": 0, "seconds": 0.0}  # the pretraining's history
    if n_pre:
        h0 = train.fit(model, pre, data, epochs=n_pre, seed=seed, desc=f"{method} pretraining", **common)
    h = train.fit(model, main, data, epochs=epochs - n_pre, seed=seed + 7919, desc=method, monitor=monitor,
                  patience=patience, restore_best=True, eval_every=eval_every, **common)
    main_monitor = h["monitor"] if monitor is not None else [math.nan] * len(h["loss"])
    return model, {"loss": h0["loss"] + h["loss"], "monitor": [math.nan] * len(h0["loss"]) + main_monitor,
                   "pretrain_epochs": n_pre, "best_epoch": None if h["best_epoch"] is None else n_pre + h["best_epoch"],
                   "stopped_epoch": None if h["stopped_epoch"] is None else n_pre + h["stopped_epoch"],
                   "steps": h0["steps"] + h["steps"], "seconds": h0["seconds"] + h["seconds"]}


# ------------------------------------------------------------------------------------------------
# evaluation on held-out events
# ------------------------------------------------------------------------------------------------
def evaluate_scores(scores_val, y_val, w_val, scores_test, y_test, w_test, *, process_val=None, process_test=None,
                    sigma_b_rels=SIGMA_B_RELS, min_background_events: int = metrics.MIN_BACKGROUND_EVENTS,
                    width_sigma_b_rel: float = 0.1, width_level: float = 0.9, n_cuts: int = 201, cuts=None,
                    n_bootstrap: int = 0, bootstrap_seed: int = 0):
    """The Chapter 8 metrics of one trained classifier, by the book's protocol (:mod:`hepsig_tutorial.metrics`).

    Both samples are scanned with :func:`~hepsig_tutorial.metrics.cut_scan` on one grid of thresholds (quantiles
    of the validation scores), with the per-process floor rule. For each σ_b/b in ``sigma_b_rels`` the cut that
    maximises Z_A (significance-asimov-losses.txt, Eq. 3.1; σ_b = (σ_b/b)·b) on the *validation* events
    (:func:`~hepsig_tutorial.metrics.best_cut`: only cuts keeping ≥ ``min_background_events`` simulated
    background events) is applied to the *test* events (:func:`~hepsig_tutorial.metrics.at_cut`). The same for
    Punzi's σ_min (punzi-loss.txt, Eq. 9, with ε = s/S), minimised. ``cuts`` replaces the default grid
    (:func:`~hepsig_tutorial.metrics.cut_grid` of the validation scores with ``n_cuts`` points).

    Returns
    -------
    dict
        ``"z_a_<rel>"`` (test Z_A at the validation cut) and ``"eff_<rel>"`` (signal efficiency s/S there) for
        every σ_b/b; ``"mu_min"`` (test σ_min divided by the signal cross section behind the weights: the
        signal strength needed for a 3σ discovery with 90 % probability; lower is better) and ``"eff_punzi"``;
        ``"cut_width"``: over the test cuts that keep ≥ ``min_background_events`` simulated background events,
        the range of signal efficiency where Z_A(σ_b/b = ``width_sigma_b_rel``) stays ≥ ``width_level`` × its
        maximum (larger = flatter, more forgiving of the cut); ``"boot"``: ``{metric: (R,) replicates}`` of the
        Poisson bootstrap of the test sample (``n_bootstrap`` replicates from ``bootstrap_seed``, shared by
        every classifier scored on the same test sample; ``None`` without bootstrap); ``"curve"``: the test scan
        (efficiency, s, floored b, eligible) for plots.
    """
    sv, yv, wv, pv = _arrays(scores_val, y_val, w_val, "val", process_val)
    st, yt, wt, pt = _arrays(scores_test, y_test, w_test, "test", process_test)
    sv, st = sv[:, 0].astype(np.float64), st[:, 0].astype(np.float64)
    number("width_level", width_level, low=0, high=1, low_open=True, high_open=True)
    min_background_events = integer("min_background_events", min_background_events)
    sigma_b_rels = tuple(float(r) for r in sigma_b_rels)
    S_val, S_test = wv[yv == 1].sum(), wt[yt == 1].sum()
    cuts = metrics.cut_grid(sv, yv, n_cuts) if cuts is None else np.sort(np.asarray(cuts, dtype=np.float64))
    scan_v = metrics.cut_scan(sv, yv, wv, process=pv, cuts=cuts)
    require(scan_v.eligible(min_background_events).any(), f"min_background_events: no cut keeps "
            f"{min_background_events} simulated validation background events and some signal (use a larger validation "
            "sample)")

    def foms(scan, S):  # {metric: (figure of merit on scan, key of its efficiency)}
        out = {f"z_a_{rel:g}": (metrics.asimov_z(scan, rel), f"eff_{rel:g}") for rel in sigma_b_rels}
        out["mu_min"] = (metrics.punzi_sigma_min(scan, luminosity=S, signal_total=S), "eff_punzi")
        return out

    chosen = {key: metrics.best_cut(fom, scan_v, maximize=key != "mu_min", min_background_events=min_background_events)
              for key, (fom, _) in foms(scan_v, S_val).items()}
    # the test sample at the chosen thresholds only (cheap bootstrap), and on the whole grid (curve, width)
    picked = np.unique([cuts[j] for j in chosen.values()])
    scan_c = metrics.cut_scan(st, yt, wt, process=pt, cuts=picked, n_bootstrap=n_bootstrap, seed=bootstrap_seed)
    out, boot = {}, {}
    for key, (fom, eff_key) in foms(scan_c, S_test).items():
        k = int(np.searchsorted(picked, cuts[chosen[key]]))
        out[key], boot[key] = metrics.at_cut(fom, k)
        out[eff_key] = float(scan_c.s[0, k] / S_test)
        if scan_c.boot_s is not None:
            boot[eff_key] = scan_c.boot_s[:, 0, k] / S_test
    scan_t = metrics.cut_scan(st, yt, wt, process=pt, cuts=cuts)
    z_t = metrics.asimov_z(scan_t, width_sigma_b_rel)[0][0]
    eff_t = scan_t.s[0] / S_test
    ok = scan_t.eligible(min_background_events)[0]
    near = ok & (z_t >= width_level * z_t[ok].max()) if ok.any() else ok
    out["cut_width"] = float(np.ptp(eff_t[near])) if ok.any() else math.nan
    out["boot"] = boot if n_bootstrap else None
    out["curve"] = {"efficiency": eff_t, "s": scan_t.s[0], "b": scan_t.b[0], "eligible": ok}
    return out


# ------------------------------------------------------------------------------------------------
# results
# ------------------------------------------------------------------------------------------------
@dataclass
class RunResult:
    """One trained classifier: ``problem``, ``method``, ``seed``, chosen ``lr``, its test ``metrics`` (floats),
    their bootstrap replicates ``boot`` ({metric: (R,)} or None), ``history`` and the test ``curve``."""

    problem: str
    method: str
    seed: int
    lr: float
    metrics: dict
    train_seconds: float
    boot: dict = field(default=None, repr=False)
    history: dict = field(default=None, repr=False)
    curve: dict = field(default=None, repr=False)


@dataclass
class SummaryRow:
    """Every metric of one (problem, method) over the seeds: a :class:`hepsig_tutorial.metrics.Estimate` each
    (mean, seed spread ⊕ MC error of the test sample)."""

    problem: str
    method: str
    lr: float
    n_seeds: int
    estimates: dict

    @property
    def mean(self) -> dict:
        """``{metric: mean over the seeds}``."""
        return {k: e.value for k, e in self.estimates.items()}


def _runs_of(runs, problem, method):
    return sorted((r for r in runs if r.problem == problem and r.method == method), key=lambda r: r.seed)


def summarise(runs: Sequence[RunResult]) -> list[SummaryRow]:
    """Group runs by (problem, method): :func:`hepsig_tutorial.metrics.summarise` of every float metric, with the
    bootstrap replicates of the shared test sample when the runs carry them (else seed spread only)."""
    rows = []
    for problem, method in dict.fromkeys((r.problem, r.method) for r in runs):  # in order of appearance
        rs = _runs_of(runs, problem, method)
        est = {}
        for k in [k for k, v in rs[0].metrics.items() if isinstance(v, float)]:
            v = np.array([r.metrics[k] for r in rs], dtype=np.float64)
            boot = np.stack([r.boot[k] for r in rs]) if all(r.boot is not None and k in r.boot for r in rs) else None
            if np.all(np.isfinite(v)):
                est[k] = metrics.summarise(v, boot if boot is not None and np.all(np.isfinite(boot)) else None)
        rows.append(SummaryRow(problem=problem, method=method, lr=rs[0].lr, n_seeds=len(rs), estimates=est))
    return rows


def format_table(rows: Sequence[SummaryRow], metrics=("z_a_0", "z_a_0.1", "z_a_0.5", "mu_min", "eff_0.1",
                                                      "cut_width"), digits: int = 3) -> str:
    """A Markdown table ``problem | method | lr | metric ± error …`` (error: seed spread ⊕ MC error)."""
    lines = ["| problem | method | lr | " + " | ".join(metrics) + " |", "|" + "---|" * (3 + len(metrics))]
    for r in rows:
        cells = [f"{r.estimates[m].value:.{digits}g} ± {r.estimates[m].se:.2g}" if m in r.estimates else "–"
                 for m in metrics]
        lines.append(f"| {r.problem} | {METHOD_LABELS.get(r.method, r.method)} | {r.lr:g} | {' | '.join(cells)} |")
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
        row = next((r for r in self.summary if r.method == method), None)
        require(row is not None, f"method {method!r} is not in this comparison ({[r.method for r in self.summary]})")
        return row

    def table(self, **kwargs) -> str:
        """:func:`format_table` of the summary."""
        return format_table(self.summary, **kwargs)

    def histories(self, seed=None) -> dict:
        """``{method label: fit history}`` of one seed (default the first), for ``ht.plots.learning_curves``."""
        seed = min(r.seed for r in self.runs) if seed is None else seed
        return {METHOD_LABELS.get(r.method, r.method): r.history for r in self.runs if r.seed == seed}


def paired(comp_a: Comparison, method_a: str, comp_b: Comparison, method_b: str, metric: str) -> metrics.Estimate:
    """Paired difference A − B of ``metric`` (:func:`hepsig_tutorial.metrics.paired_difference`).

    Runs are matched by seed (the same split and initialisation seed); both comparisons must share the test
    sample and its bootstrap seed (they do when made by :func:`compare_losses` on the same arrays).
    """
    ra, rb = _runs_of(comp_a.runs, comp_a.problem, method_a), _runs_of(comp_b.runs, comp_b.problem, method_b)
    require(ra and rb, f"method_a {method_a!r} / method_b {method_b!r}: no runs in the comparisons")
    require([r.seed for r in ra] == [r.seed for r in rb],
            "the two methods must have been run with the same seeds (paired comparison)")
    require(comp_a.config.get("bootstrap_seed") == comp_b.config.get("bootstrap_seed"),
            "the comparisons use different bootstrap seeds: their MC replicates are not paired")
    va, vb = (np.array([r.metrics[metric] for r in rs]) for rs in (ra, rb))
    have = all(r.boot is not None for r in ra + rb)
    ba, bb = (np.stack([r.boot[metric] for r in rs]) if have else None for rs in (ra, rb))
    return metrics.paired_difference(va, vb, ba, bb)


@dataclass
class Verdict:
    """One test of :func:`verdicts`: ``method`` against ``baseline`` on ``problem`` in ``metric``.

    ``difference``: the paired :class:`~hepsig_tutorial.metrics.Estimate` of method − baseline (its ``p``);
    ``reject``: Holm's decision at ``alpha`` over the whole family; ``sign``: +1 method better, −1 worse,
    0 not decided ("better" = larger, or smaller for :data:`LOWER_IS_BETTER`).
    """

    problem: str
    metric: str
    method: str
    baseline: str
    difference: metrics.Estimate
    reject: bool
    sign: int


def verdicts(comparisons, *, baseline: str = "bce", metrics_=VERDICT_METRICS, alpha: float = 0.05,
             methods=None) -> list[Verdict]:
    """Every method against ``baseline`` on every problem and metric, with Holm's control over the family.

    One paired test per (problem, metric, method) (:func:`paired`); the family is *all* of them, and
    :func:`hepsig_tutorial.metrics.holm` keeps the probability of any false verdict ≤ ``alpha``.
    """
    comps = list(comparisons.values()) if isinstance(comparisons, dict) else list(comparisons)
    require(comps, "comparisons must not be empty")
    tests = []
    for comp in comps:
        present = [r.method for r in comp.summary]
        require(baseline in present, f"baseline {baseline!r} is not in comparison {comp.problem!r}")
        others = [m for m in (present if methods is None else methods) if m != baseline and m in present]
        tests += [(comp.problem, metric, m, paired(comp, m, comp, baseline, metric))
                  for metric in metrics_ for m in others]
    require(tests, "no method to compare with the baseline")
    reject = metrics.holm([t[3].p for t in tests], alpha)
    out = []
    for (problem, metric, m, d), rej in zip(tests, reject):
        better = d.value < 0 if metric in LOWER_IS_BETTER else d.value > 0
        out.append(Verdict(problem, metric, m, baseline, d, bool(rej), (1 if better else -1) if rej else 0))
    return out


# ------------------------------------------------------------------------------------------------
# the full comparison
# ------------------------------------------------------------------------------------------------
def _cap(fit, max_events, seed):
    """At most ``max_events`` events of each class: a stratified subsample (:meth:`Sample.split`, weights rescaled
    to the full yields), in the original order."""
    keep, w = np.ones(len(fit), dtype=bool), fit.w.copy()
    for label in (1.0, 0.0):
        idx = np.flatnonzero(fit.y == label)
        if max_events is not None and len(idx) > max_events:
            cls = fit.subset(idx)
            cls.extras["index"] = idx
            kept = cls.split((max_events / len(cls), 1 - max_events / len(cls)), seed=seed)[0]
            keep[idx], keep[kept.index], w[kept.index] = False, True, kept.w
    return fit if keep.all() else replace(fit.subset(keep), w=w[keep])


def _parts(sample, seed, test_fraction, val_fraction, max_fit_events):
    """Seed ``seed``'s fit, validation and test parts of ``sample`` (:meth:`Sample.split`, then :func:`_cap`)."""
    t, v = test_fraction, (1 - test_fraction) * val_fraction
    fit, val, test = sample.split((1 - t - v, v, t), seed=seed)
    return _cap(fit, max_fit_events, seed), val, test


def compare_losses(sample: Sample, *, methods=METHODS, seeds=(0, 1, 2, 3, 4), init_seeds=None, epochs: int = 100,
                   patience: int | None = 20, eval_every: int = 1, batch_size: int | None = None,
                   batch_fraction: float = 0.25, lrs=(3e-3, 1e-2, 3e-2), hidden=(16, 8), activation: str = "tanh",
                   optimizer: str = "adam", pretrain_fraction: float = 0.25, asimov_sigma_b_rel: float = 0.5,
                   lovasz_kappa: float = LOVASZ_KAPPA, sigma_b_rels=SIGMA_B_RELS, select_sigma_b_rel: float = 0.1,
                   test_fraction: float = 0.3, val_fraction: float = 0.5, max_fit_events: int | None = None,
                   min_background_events: int = metrics.MIN_BACKGROUND_EVENTS, n_bootstrap: int = 100,
                   bootstrap_seed: int = 0, problem: str = "problem", device=None) -> Comparison:
    """Train every loss on the same events and compare them on held-out test events (Chapter 8).

    1. For every seed the sample is split (:meth:`~hepsig_tutorial.data.sample.Sample.split`, stratified by class and
       background process) into *test* events (``test_fraction``) and a training part, which is split again into
       *fit* and *validation* events (``val_fraction`` of it); each part's weights are rescaled per process so
       every part predicts the full expected yields. The split depends on the seed only, so seed ``i`` gives every
       method the same three parts and the same initialisation (``init_seeds[i]``, default ``seeds[i]``): paired
       seeds. Because each seed draws its own parts, the seed spread contains the fluctuations of the training
       and test samples, not only those of the initialisation. Inputs are min-max scaled on the fit events.
    2. Validation search, the same budget for every method: for each learning rate in ``lrs`` one network
       (first seed) is trained by :func:`train_classifier` for at most ``epochs`` epochs with early stopping
       (``patience``) and best-state restore on :func:`validation_monitor` (best eligible validation Z_A at
       σ_b/b = ``select_sigma_b_rel``); the rate with the best monitor value is kept (the rule of
       :func:`hepsig_tutorial.train.search`).
    3. For each seed a network is trained with that learning rate (the search's network is reused for the first
       seed) and evaluated by :func:`evaluate_scores`: cuts chosen on its validation events, metrics on the test
       events with ``n_bootstrap`` Poisson-bootstrap replicates of that seed's test sample (seed
       ``bootstrap_seed``, the same for every method, so differences get paired MC errors).

    Parameters
    ----------
    sample : :class:`~hepsig_tutorial.data.sample.Sample`
        All simulated events of the problem: features (N, F), labels 0/1 and per-event weights > 0 = expected
        events per simulated event (each class's weights summing to its full expected yield);
        ``extras["process"]`` (optional), the background process of each event: the floor rule and the
        stratified split work per process.
    test_fraction, val_fraction : float
        Share of the test events, and of the validation events in what the test part leaves.
    methods : sequence of names from :data:`METHODS`
    seeds, init_seeds : sequences of int
        One network per seed and method. ``init_seeds`` (default ``seeds``) seed the initialisations and batch
        orders; changing only them repeats a comparison with new networks on the same splits (an A/A test).
    epochs, patience, eval_every, hidden, activation, optimizer, pretrain_fraction, asimov_sigma_b_rel, lovasz_kappa :
        The common training settings (:func:`train_classifier`); ``epochs`` is the maximum.
    batch_size, batch_fraction :
        The batch policy, the same for every method: ``batch_size`` events, or (``batch_size=None``, the
        default) ``ceil(batch_fraction · N_fit)`` events. The significance losses need large batches.
    lrs : sequence of float
        The learning rates of the validation search.
    sigma_b_rels : sequence of float
        σ_b/b values for Z_A.
    max_fit_events : int, optional
        At most this many fit events per class (a stratified subsample of the fit part): caps the training cost
        while the validation and test samples stay large enough for the simulated-background rule.
    min_background_events : int
        Cuts must keep at least this many simulated validation background events (the book's rule).
    problem : str
        Name stored in the result rows.

    Returns
    -------
    Comparison
        ``runs`` (list of :class:`RunResult`), ``summary`` (list of :class:`SummaryRow`), ``validation``
        ({(method, lr): best validation monitor value}), ``chosen_lr``, ``config`` and ``seconds``.
    """
    t0 = time.perf_counter()
    require(isinstance(sample, Sample), f"sample must be a hepsig_tutorial.data.Sample, got {type(sample)}")
    x, y, w, process = _arrays(sample.x, sample.y, sample.w, "sample", sample.extras.get("process"))
    whole = Sample(x, y, w, {"process": process})
    methods = tuple(choice("methods", m, METHODS) for m in methods)
    require(methods, "methods must not be empty")
    seeds = tuple(integer("seeds", s) for s in seeds)
    require(seeds and len(set(seeds)) == len(seeds), f"seeds must be a non-empty sequence of distinct integers ≥ 0, "
                                                     f"got {seeds!r}")
    init_seeds = seeds if init_seeds is None else tuple(integer("init_seeds", s) for s in init_seeds)
    require(len(init_seeds) == len(seeds), f"init_seeds must hold one non-negative integer per seed, got {init_seeds!r}")
    lrs = tuple(number("lrs", v, low=0, low_open=True) for v in lrs)
    require(lrs, "lrs must be a non-empty sequence of positive learning rates")
    sigma_b_rels = tuple(number("sigma_b_rels", v, low=0) for v in sigma_b_rels)
    require(sigma_b_rels, "sigma_b_rels must not be empty")
    number("select_sigma_b_rel", select_sigma_b_rel, low=0)
    test_fraction = number("test_fraction", test_fraction, low=0, high=1, low_open=True, high_open=True)
    val_fraction = number("val_fraction", val_fraction, low=0, high=1, low_open=True, high_open=True)
    if batch_size is None:
        number("batch_fraction", batch_fraction, low=0, high=1, low_open=True)
    max_fit_events = integer("max_fit_events", max_fit_events, minimum=1, none=True)
    n_bootstrap = integer("n_bootstrap", n_bootstrap)
    bootstrap_seed = integer("bootstrap_seed", bootstrap_seed)

    def prepare(seed):  # the seed's parts (inputs min-max scaled on the fit part), batch size and validation monitor
        fit, val, test = _parts(whole, seed, test_fraction, val_fraction, max_fit_events)
        scaler = Scaler().fit(fit.x)
        xf, xv, xt = (scaler.transform(part.x).astype(np.float32) for part in (fit, val, test))
        return dict(fit=(xf, fit.y, fit.w), val=(xv, val.y, val.w, val.process),
                    test=(xt, test.y, test.w, test.process),
                    batch_size=batch_size if batch_size is not None else max(1, math.ceil(batch_fraction * len(fit))),
                    monitor=validation_monitor(xv, val.y, val.w, val.process, sigma_b_rel=select_sigma_b_rel,
                                               min_background_events=min_background_events))

    splits = {seed: prepare(seed) for seed in seeds}
    common = dict(epochs=epochs, hidden=hidden, activation=activation, optimizer=optimizer, patience=patience,
                  eval_every=eval_every, pretrain_fraction=pretrain_fraction, asimov_sigma_b_rel=asimov_sigma_b_rel,
                  lovasz_kappa=lovasz_kappa)

    def fit_one(method, lr, i):
        sp = splits[seeds[i]]
        return train_classifier(method, *sp["fit"], lr=lr, seed=init_seeds[i], batch_size=sp["batch_size"],
                                monitor=sp["monitor"], device=device, **common)

    validation, chosen, runs = {}, {}, []
    for method in methods:
        trained = {lr: fit_one(method, lr, 0) for lr in lrs}  # the validation search, on the first seed
        for lr, (_, hist) in trained.items():
            validation[(method, lr)] = max((v for v in hist["monitor"] if math.isfinite(v)), default=math.nan)
        best = chosen[method] = max((lr for lr in lrs if math.isfinite(validation[(method, lr)])),
                                    key=lambda lr: validation[(method, lr)], default=lrs[0])
        for i, seed in enumerate(seeds):
            model, hist = trained[best] if i == 0 else fit_one(method, best, i)
            (xv, yv, wv, pv), (xt, yt, wt, pt) = splits[seed]["val"], splits[seed]["test"]
            met = evaluate_scores(train.predict(model, xv), yv, wv, train.predict(model, xt), yt, wt, process_val=pv,
                                  process_test=pt, sigma_b_rels=sigma_b_rels, width_sigma_b_rel=select_sigma_b_rel,
                                  min_background_events=min_background_events, n_bootstrap=n_bootstrap,
                                  bootstrap_seed=bootstrap_seed)
            curve, boot = met.pop("curve"), met.pop("boot")
            runs.append(RunResult(problem=problem, method=method, seed=seed, lr=best, metrics=met,
                                  train_seconds=float(hist["seconds"]), boot=boot, history=hist, curve=curve))
    sp0 = splits[seeds[0]]
    config = dict(common, seeds=seeds, init_seeds=init_seeds, lrs=lrs, sigma_b_rels=sigma_b_rels,
                  select_sigma_b_rel=select_sigma_b_rel, test_fraction=test_fraction, val_fraction=val_fraction,
                  max_fit_events=max_fit_events, min_background_events=min_background_events, n_bootstrap=n_bootstrap,
                  bootstrap_seed=bootstrap_seed, batch_size=sp0["batch_size"], n_fit=len(sp0["fit"][1]),
                  n_val=len(sp0["val"][1]), n_test=len(sp0["test"][1]))
    return Comparison(problem=problem, runs=runs, summary=summarise(runs), validation=validation, chosen_lr=chosen,
                      config=config, seconds=time.perf_counter() - t0)
