"""Chapter 5's method layer: the three losses of Elwood & Krücker trained and compared under the book's protocol.

Chapter 5 ("Training on s/√(s+b) and on the Asimov significance", ``sec-asimov``) calls these functions;
the losses themselves live in :mod:`hepsig_tutorial.losses.significance`, the training loop in
:func:`hepsig_tutorial.train.fit` and the evaluation in :mod:`hepsig_tutorial.metrics`.

The protocol (book page ``sec-conventions``):

* **Samples.** :func:`stop_problem` draws the toy (:func:`~hepsig_tutorial.data.stop.make_stop_toy`) with a
  training, a validation and a test split, and scales the features on the training events.
* **Equal budget.** Every loss -- BCE on logits (class-balanced weights, as the paper's 50/50 sample),
  ℓ_s/√(s+b) and ℓ_Asimov -- trains the same network with Adam at the same batch size, over the same
  learning-rate grid and the same maximum number of epochs, with early stopping and best-state restore on
  the *validation* Z_A of the best allowed cut (:func:`za_monitor`). :func:`compare_losses` tunes the
  rate on the first seed (:func:`hepsig_tutorial.train.search`) and trains the other seeds at the rate
  chosen for that method. Seed ``i`` fixes the initial weights and the batch order, for every loss
  (paired seeds); the samples are shared, and their Monte-Carlo statistics enter through the bootstrap.
* **Choose on validation, quote on test.** :func:`evaluate` chooses the cut on the validation sample
  (floor rule, at least ``min_background_events`` simulated background events) and quotes Z_A, s and b on
  the test sample at that cut, with Poisson-bootstrap replicates; :func:`table` combines seeds
  (:func:`hepsig_tutorial.metrics.summarise`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch

from . import metrics, train
from ._validate import choice, require
from .compare import validation_monitor
from .data import Scaler, make_stop_toy
from .losses.bce import make_bce_loss
from .losses.significance import B_FLOOR, S_FLOOR, make_asimov_loss, make_s_over_sqrt_s_plus_b_loss, \
    naive_asimov_significance, relaxed_counts
from .models import mlp

__all__ = ["LOSSES", "StopProblem", "stop_problem", "build_model", "loss_function", "training_data",
           "probabilities", "za_monitor", "train_loss", "compare_losses", "evaluate", "table",
           "printed_formula_nonpositive", "pretraining_study"]

#: The three losses of the chapter, by the names the tables use.
LOSSES = ("BCE", "s/√(s+b)", "Asimov")


@dataclass
class StopProblem:
    """One benchmark point of the toy stop search, split and scaled (see :func:`stop_problem`).

    ``train``, ``val``, ``test``: ``{"x", "y", "w"}`` with scaled features and weights to expected events
    (each class of each split sums to the full expected yield).
    """

    benchmark: str
    train: dict
    val: dict
    test: dict
    expected_signal: float
    expected_background: float
    toy: object = field(repr=False, default=None)

    @property
    def n_features(self) -> int:
        return int(self.train["x"].shape[1])


def stop_problem(benchmark: str, *, n_signal: int, n_background: int, seed: int = 5,
                 val_fraction: float = 0.35, test_fraction: float = 0.35) -> StopProblem:
    """The toy stop search for ``benchmark`` with training / validation / test splits (features standardised).

    The simulated tt̄ events are shared between the benchmarks of a seed. The split is
    :meth:`Sample.split <hepsig_tutorial.data.sample.Sample.split>` (stratified by class, seed ``seed``). A test split
    with ``N_b`` simulated tt̄ events gives each of them the weight ``B/N_b`` (B ≈ 20 760 expected events):
    that, times the minimum number of simulated background events a cut must keep, is the smallest background
    a selection can be evaluated at.
    """
    toy = make_stop_toy(benchmark, n_signal=n_signal, n_background=n_background, seed=seed)
    parts = toy.split((1 - val_fraction - test_fraction, val_fraction, test_fraction), seed=seed)
    scaler = Scaler("standard").fit(parts[0].x)
    train, val, test = ({"x": scaler.transform(p.x), "y": p.y.astype(np.float32), "w": p.w.astype(np.float32)}
                        for p in parts)
    return StopProblem(benchmark=benchmark, train=train, val=val, test=test, expected_signal=toy.expected_signal,
                       expected_background=toy.expected_background, toy=toy)


def build_model(loss: str, seed: int, n_features: int, hidden=(23,)) -> torch.nn.Module:
    """The paper's network (one hidden layer of 23 ReLU units by default) with initialisation ``seed``.

    BCE gets a linear output (it is trained on logits); the significance losses need the sigmoid output
    as their soft selection. The weights are identical for every loss at a given seed (paired seeds).
    """
    choice("loss", loss, LOSSES)
    torch.manual_seed(int(seed))
    return mlp(n_features, hidden, "relu", output="linear" if loss == "BCE" else "sigmoid")


def loss_function(loss: str, problem: StopProblem, sigma_b_rel: float | None = None, **kwargs):
    """``loss_fn(output, batch)`` for :func:`~hepsig_tutorial.train.fit`.

    ``"BCE"``: :func:`~hepsig_tutorial.losses.bce.bce_loss`; ``"s/√(s+b)"``: Eq. 4.5 and ``"Asimov"``:
    Eq. 4.6 at ``sigma_b_rel`` on the batch-normalised soft counts (``kwargs`` go to
    :func:`~hepsig_tutorial.losses.significance.make_asimov_loss`, e.g. ``power=2`` or ``use_naive=True``).
    """
    yields = {"expected_signal": problem.expected_signal, "expected_background": problem.expected_background}
    if choice("loss", loss, LOSSES) == "BCE":
        return make_bce_loss()
    if loss == "s/√(s+b)":
        return make_s_over_sqrt_s_plus_b_loss(**yields)
    require(sigma_b_rel is not None,
            "sigma_b_rel: the Asimov loss needs the relative background uncertainty it trains for")
    return make_asimov_loss(sigma_b_rel=sigma_b_rel, **yields, **kwargs)


def training_data(loss: str, problem: StopProblem) -> dict:
    """The training events for ``loss``: BCE gets class-balanced weights (each class 1/2, the paper's 50/50)."""
    d = problem.train
    if choice("loss", loss, LOSSES) != "BCE":
        return d
    return dict(d, w=np.where(d["y"] == 1, 0.5 / d["y"].sum(), 0.5 / (1 - d["y"]).sum()).astype(np.float32))


@torch.no_grad()
def probabilities(model: torch.nn.Module, x) -> np.ndarray:
    """Classifier output in [0, 1] as float64: the sigmoid output, or the sigmoid of a linear (logit) output
    computed in float64, so that BCE's far tail keeps distinct values (float32 rounds them all to 1)."""
    out = train.predict(model, x).astype(np.float64)
    if isinstance(model[-2] if len(model) > 1 else model, torch.nn.Sigmoid):
        return out
    return 1.0 / (1.0 + np.exp(-out))


def za_monitor(data: dict, sigma_b_rel: float, *, min_background_events: int = metrics.MIN_BACKGROUND_EVENTS,
               n_cuts: int = 101):
    """``monitor(model) -> float`` for :func:`~hepsig_tutorial.train.fit`: Z_A(σ_b/b) of the best allowed cut on
    ``data`` (the validation sample), with the book's floor rule; NaN if no cut is allowed
    (:func:`hepsig_tutorial.compare.validation_monitor` on :func:`probabilities`)."""
    return validation_monitor(data["x"], data["y"], data["w"], sigma_b_rel=sigma_b_rel, n_cuts=n_cuts,
                              min_background_events=min_background_events, score=probabilities)


def _protocol(problem: StopProblem, loss: str, sigma_b_rel, monitor_rel: float, min_background_events: int,
              **loss_kwargs):
    """``(loss_fn, training events, validation monitor)`` of ``loss``: the monitor's σ_b/b is ``sigma_b_rel`` for
    the Asimov loss, ``monitor_rel`` for the others."""
    rel = sigma_b_rel if loss == "Asimov" else monitor_rel
    return (loss_function(loss, problem, sigma_b_rel, **loss_kwargs), training_data(loss, problem),
            za_monitor(problem.val, rel, min_background_events=min_background_events))


def train_loss(problem: StopProblem, loss: str, *, seed: int, lr: float | None = None,
               sigma_b_rel: float | None = None, monitor_rel: float = 0.5, epochs: int, patience: int,
               batch_size: int = 4096, hidden=(23,), min_background_events: int = metrics.MIN_BACKGROUND_EVENTS,
               **loss_kwargs):
    """Train one network of ``seed`` with ``loss`` at the rate ``lr`` under the chapter's protocol; returns
    ``(model, history, lr)``.

    Early stopping (``patience`` epochs) and best-state restore watch the validation Z_A at σ_b/b =
    ``sigma_b_rel`` for the Asimov loss, ``monitor_rel`` for the others (:func:`compare_losses` searches the rate).
    """
    fn, data, mon = _protocol(problem, loss, sigma_b_rel, monitor_rel, min_background_events, **loss_kwargs)
    model = build_model(loss, seed, problem.n_features, hidden)
    hist = train.fit(model, fn, data, lr=lr, monitor=mon, restore_best=True, epochs=epochs, patience=patience,
                     batch_size=batch_size, seed=seed, desc=loss)
    return model, hist, lr


def compare_losses(problem: StopProblem, *, seeds, lrs, epochs: int, patience: int, train_sigmas=(0.1, 0.3, 0.5),
                   batch_size: int = 4096, monitor_rel: float = 0.5, hidden=(23,),
                   min_background_events: int = metrics.MIN_BACKGROUND_EVENTS) -> dict:
    """Train BCE, ℓ_s/√(s+b) and ℓ_Asimov (one network per σ_b/b in ``train_sigmas``) for every seed.

    The learning rate of each method is chosen from ``lrs`` on the first seed (validation Z_A, same grid,
    same maximum ``epochs`` and ``patience`` for every method, :func:`~hepsig_tutorial.train.search`); later
    seeds use that rate (:func:`train_loss`). Returns
    ``{name: {"lr", "models": [...], "histories": [...], "lr_scores": {lr: best validation Z_A}}}`` with
    names ``"BCE"``, ``"s/√(s+b)"`` and ``"Asimov 0.1"``, ... Every network starts from a random
    initialisation (no pretraining: Sec. 5.3 of the chapter shows that the stable Z_A does not need it).
    """
    seeds = [int(s) for s in seeds]
    require(seeds, "seeds must not be empty")
    variants = [("BCE", None), ("s/√(s+b)", None)] + [("Asimov", float(r)) for r in train_sigmas]
    common = dict(epochs=epochs, patience=patience, batch_size=batch_size)
    out = {}
    for loss, rel in variants:
        name = loss if rel is None else f"Asimov {rel:g}"
        fn, data, mon = _protocol(problem, loss, rel, monitor_rel, min_background_events)
        res = train.search(lambda s: build_model(loss, s, problem.n_features, hidden), fn, data,
                           val_data=problem.val, monitor=mon, lrs=lrs, seed=seeds[0], desc=name, **common)
        out[name] = entry = {"lr": res.best_lr, "models": [res.model], "histories": [res.history],
                             "lr_scores": dict(res.scores_by_lr), "lr_histories": dict(res.histories_by_lr)}
        for s in seeds[1:]:
            m, h, _ = train_loss(problem, loss, seed=s, lr=res.best_lr, sigma_b_rel=rel, monitor_rel=monitor_rel,
                                 hidden=hidden, min_background_events=min_background_events, **common)
            entry["models"].append(m)
            entry["histories"].append(h)
    return out


def evaluate(problem: StopProblem, models, sigmas=(0.0, 0.1, 0.3, 0.5), *, n_bootstrap: int = metrics.N_BOOTSTRAP,
             bootstrap_seed: int = 0, min_background_events: int = metrics.MIN_BACKGROUND_EVENTS,
             n_cuts: int = 201) -> dict:
    """Z_A of each model at each σ_b/b: the cut is chosen on the validation sample, Z_A, s and b quoted on test.

    The cut grid is :func:`~hepsig_tutorial.metrics.cut_grid` of the validation scores; the test scan carries
    ``n_bootstrap`` Poisson-bootstrap replicates with ``bootstrap_seed`` -- the same replicates for every
    model, so differences between models are paired. Returns ``{σ_b/b: {"z": (n,), "boot": (n, R),
    "s": (n,), "b": (n,), "n_background": (n,), "cut": (n,)}}`` with one entry per model.
    """
    out = {float(r): {k: [] for k in ("z", "boot", "s", "b", "n_background", "cut")} for r in sigmas}
    for m in models:
        pv, pt = probabilities(m, problem.val["x"]), probabilities(m, problem.test["x"])
        cuts = metrics.cut_grid(pv, problem.val["y"], n_cuts)
        sv = metrics.cut_scan(pv, problem.val["y"], problem.val["w"], cuts=cuts)
        st = metrics.cut_scan(pt, problem.test["y"], problem.test["w"], cuts=cuts, n_bootstrap=n_bootstrap,
                              seed=bootstrap_seed)
        for rel, o in out.items():
            i = metrics.best_cut(metrics.asimov_z(sv, rel), sv, min_background_events=min_background_events)
            z, boot = metrics.at_cut(metrics.asimov_z(st, rel), i)
            row = dict(z=z, boot=boot, s=st.s[0, i], b=st.b[0, i], n_background=st.n_background[0, i], cut=st.cuts[i])
            for key, value in row.items():
                o[key].append(value)
    return {rel: {k: np.asarray(v, dtype=np.float64) for k, v in o.items()} for rel, o in out.items()}


def table(problem: StopProblem, results: dict, sigmas=(0.0, 0.1, 0.3, 0.5), **kwargs) -> tuple[dict, dict]:
    """The Table-2 analogue of one benchmark.

    Returns ``(rows, by_network)``: ``rows[(loss, σ_b/b)]`` is the evaluation (:func:`evaluate`) of the
    networks of ``loss`` at that σ_b/b plus ``"estimate"`` (seed mean with seed and MC errors,
    :func:`hepsig_tutorial.metrics.summarise`) and ``"network"``; the Asimov row of a column uses the
    network trained at that σ_b/b (at σ_b = 0, the one trained at the smallest σ_b/b).
    ``by_network[name][σ_b/b]`` evaluates every trained network at every σ_b/b (e.g. an Asimov network
    trained at 0.1 evaluated at 0.5).
    """
    by_network = {name: evaluate(problem, r["models"], sigmas, **kwargs) for name, r in results.items()}
    trained = sorted(float(k.split()[1]) for k in results if k.startswith("Asimov "))
    rows = {}
    for rel in sigmas:
        for loss in LOSSES:
            name = f"Asimov {min(trained, key=lambda t: (abs(t - rel), t)):g}" if loss == "Asimov" else loss
            ev = by_network[name][float(rel)]
            rows[loss, float(rel)] = dict(ev, estimate=metrics.summarise(ev["z"], ev["boot"]), network=name)
    return rows, by_network


def printed_formula_nonpositive(problem: StopProblem, sigma_b_rel: float, *, seeds, n_batches: int = 100,
                                batch_size: int = 4096, hidden=(23,)) -> tuple[int, int]:
    """How many random batches give Z_A² ≤ 0 with Eq. 3.1 as printed, in float32, at a random initialisation.

    For each seed a fresh sigmoid network is evaluated on ``n_batches`` random training batches; the soft
    counts (Eqs. 4.1-4.4, with the loss's floors) go into
    :func:`~hepsig_tutorial.losses.significance.naive_asimov_significance`, which returns exactly 0 where
    Z_A² ≤ 0 (its clamp). Returns ``(non-positive, total)``.
    """
    x, y, w = (torch.as_tensor(problem.train[k]) for k in ("x", "y", "w"))
    bad = total = 0
    for seed in seeds:
        model = build_model("Asimov", seed, problem.n_features, hidden)
        model.eval()
        g = torch.Generator().manual_seed(int(seed))
        with torch.no_grad():
            out = model(x)
            for _ in range(n_batches):
                idx = torch.randperm(len(y), generator=g)[:batch_size]
                s, b = relaxed_counts(out[idx], y[idx], w[idx], expected_signal=problem.expected_signal,
                                      expected_background=problem.expected_background)
                b = b + B_FLOOR
                bad += int(naive_asimov_significance(s + S_FLOOR, b, sigma_b_rel * b) == 0)  # Z_A² ≤ 0, clamped
                total += 1
    return bad, total


def pretraining_study(problem: StopProblem, sigma_b_rel: float, *, seeds, lr: float, pretrain_epochs: int,
                      epochs: int, batch_size: int = 4096, hidden=(23,),
                      min_background_events: int = metrics.MIN_BACKGROUND_EVENTS) -> dict:
    """Does ℓ_Asimov need ℓ_s/√(s+b) pretraining? Four trainings per seed, validation Z_A after every epoch.

    ``printed`` (Eq. 3.1 as printed, float32) or ``stable`` (:func:`~hepsig_tutorial.losses.significance.asimov_loss`),
    each from the random initialisation (``epochs`` epochs) or after ``pretrain_epochs`` epochs of
    ℓ_s/√(s+b) (then ``epochs - pretrain_epochs``), all at the fixed rate ``lr`` without early stopping.
    Returns ``{variant: (n_seeds, epochs) array of validation Z_A}`` plus ``"soft_purity"``:
    (n_seeds, 2) soft s/b on the training set at the start and after pretraining.
    """
    require(0 < pretrain_epochs < epochs, f"pretrain_epochs must lie in (0, epochs), got {pretrain_epochs!r}")
    mon = za_monitor(problem.val, sigma_b_rel, min_background_events=min_background_events)
    fns = {"printed": loss_function("Asimov", problem, sigma_b_rel, use_naive=True),
           "stable": loss_function("Asimov", problem, sigma_b_rel)}
    pre_fn = loss_function("s/√(s+b)", problem)
    curves = {f"{k}, {start}": [] for k in fns for start in ("random start", "pretrained")}
    purity = []
    d = problem.train

    def soft_purity(model):
        p = probabilities(model, d["x"])
        return float((d["w"] * p * d["y"]).sum() / (d["w"] * p * (1 - d["y"])).sum())

    def curve(model, fn, n_epochs, seed, before=()):  # validation Z_A after every epoch, after those of ``before``
        record = list(before)
        train.fit(model, fn, d, epochs=n_epochs, batch_size=batch_size, lr=lr, seed=seed,
                  callback=lambda epoch, m, history: record.append(mon(m)))
        return record

    for seed in seeds:
        start = build_model("Asimov", seed, problem.n_features, hidden)
        pre = copy.deepcopy(start)
        pre_curve = curve(pre, pre_fn, pretrain_epochs, seed)
        purity.append((soft_purity(start), soft_purity(pre)))
        for k, fn in fns.items():
            curves[f"{k}, random start"].append(curve(copy.deepcopy(start), fn, epochs, seed))
            curves[f"{k}, pretrained"].append(curve(copy.deepcopy(pre), fn, epochs - pretrain_epochs, seed, pre_curve))
    out = {k: np.asarray(v, dtype=np.float64) for k, v in curves.items()}
    out["soft_purity"] = np.asarray(purity)
    return out
