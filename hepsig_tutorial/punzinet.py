"""The Punzi-net recipe of punzi-loss.txt (Secs. 4-6) on the Belle II-like toy, reusable by chapters.

Chapter 3 (``sec-punzi-net``) explains it; Chapter 4 (batch size) and the capstone retrain through
these functions instead of copying a notebook:

* :func:`training_arrays` -- the events that enter training (those inside the window of a *trained*
  mass hypothesis; signal only of the trained masses), scaled to [0, 1], with the Punzi weights and
  the window-membership matrix, plus the class-balanced BCE weights;
* :func:`pretrain_bce` -- weighted-BCE pretraining of the 4-8-4-1 tanh/sigmoid network (Sec. 5);
* :func:`finetune_punzi` -- continue training on the Punzi loss (Eq. 12) at any batch size;
* :func:`scores` and :func:`evaluate_cuts` -- network output on a toy and σ_min per mass for the
  best per-mass cut and the best single (global) cut, cuts chosen on one sample, evaluated on another
  with the book's protocol (:mod:`hepsig_tutorial.metrics`: floor rule, bootstrap MC errors);
* :func:`validation_monitor`, :func:`logit_net`, :func:`with_sigmoid` -- the pieces of Chapter 3's
  baseline protocol (BCE on logits and Punzi fine-tuning, each with a learning-rate search and early
  stopping on the same validation figure of merit through ``ht.train.search``).

Import it as ``from hepsig_tutorial import punzinet``.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch

from . import metrics, models, train
from ._validate import choice, integer, require
from .cutbased import window_scan
from .data import BelleToy, Scaler
from .losses.bce import make_bce_loss
from .losses.punzi import make_punzi_loss

__all__ = ["every_second_mass", "training_arrays", "bce_weights", "pretrain_bce", "finetune_punzi", "scores",
           "evaluate_cuts", "validation_monitor", "logit_scores", "logit_net", "with_sigmoid"]


def _check_toy(toy):
    require(isinstance(toy, BelleToy), f"toy must be a hepsig_tutorial.data.BelleToy, got {type(toy).__name__}")


def every_second_mass(n_masses: int, first: int = 0) -> np.ndarray:
    """Boolean mask over the mass hypotheses: True for every second one (paper Sec. 6), from ``first``."""
    n_masses = integer("n_masses", n_masses, minimum=1)
    return np.arange(n_masses) % 2 == choice("first", first, (0, 1))


def _mass_mask(toy, train_masses):
    K = len(toy.masses)
    if train_masses is None:
        return every_second_mass(K)
    m = np.asarray(train_masses)
    require(m.dtype == bool and m.shape == (K,),
            f"train_masses must be a boolean mask of length {K}, got {m.dtype} of shape {m.shape}")
    require(m.any(), "train_masses selects no mass hypothesis")
    return m


def bce_weights(y, w):
    """Per-event weights for the pretraining BCE: signal rescaled so Σ_sig = Σ_bkg (paper Sec. 5).

    Within each class the relative weights ``w`` are kept; the result is normalised to mean 1.
    """
    y = np.asarray(y)
    w = np.asarray(w, dtype=np.float64)
    require(y.shape == w.shape, f"y and w must have the same shape, got {y.shape} and {w.shape}")
    sig, bkg = w[y == 1].sum(), w[y == 0].sum()
    require(sig > 0 and bkg > 0, "w: both classes need a positive weight sum")
    out = np.where(y == 1, w * (bkg / sig), w)
    return (out / out.mean()).astype(np.float32)


def training_arrays(toy, train_masses=None, scaler=None):
    """The arrays that enter training (paper Sec. 6), ready for :func:`hepsig_tutorial.train.fit`.

    Only events that count for at least one trained hypothesis are kept: background inside a
    trained window and signal of a trained mass inside its window.

    Parameters
    ----------
    toy : BelleToy
        Usually the training half of ``toy.split()`` (weights scaled to the full expected yields).
    train_masses : bool mask (K,), optional
        Hypotheses used in training; default every second mass (:func:`every_second_mass`).
    scaler : Scaler, optional
        Fitted scaler; default: fit a new one on the kept events (inputs to [0, 1], Sec. 5).

    Returns
    -------
    data : dict
        ``x`` (n, 4) float32 in [0, 1], ``y`` (n,), ``w`` (n,) the Punzi weights (1/N_gen or
        expected events per event), ``membership`` (n, K_train) bool, ``w_bce`` (n,) balanced BCE
        weights, ``index`` (n,) rows of ``toy`` kept.
    scaler : Scaler
    """
    _check_toy(toy)
    mask = _mass_mask(toy, train_masses)
    M = toy.window_matrix()[:, mask]
    keep = np.flatnonzero(M.any(axis=1))
    require(len(keep) > 0, "toy: no event lies in a trained window")
    x = toy.x[keep]
    scaler = Scaler().fit(x) if scaler is None else scaler
    y = toy.y[keep].astype(np.float32)
    w = toy.w[keep].astype(np.float64)
    return ({"x": scaler.transform(x), "y": y, "w": w.astype(np.float32), "membership": M[keep],
             "w_bce": bce_weights(y, w), "index": keep}, scaler)


def _schedule(schedule, lr):
    """``fit``'s per-epoch schedule: ``"cosine"`` anneals from ``lr`` to ``lr/100`` over the epochs
    (the paper halves it on plateaus instead); ``None`` keeps it constant."""
    if choice("schedule", schedule, (None, "cosine")) is None:
        return None
    return lambda opt, epochs: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1), eta_min=lr / 100.0)


def pretrain_bce(data, *, hidden=(8, 4), epochs=20, batch_size=2048, lr=1e-2, optimizer="adam", schedule="cosine",
                 seed=0, device=None, desc="BCE pretraining"):
    """Build the 4-8-4-1 tanh/sigmoid net (``ht.models.mlp``) and pretrain it on the balanced weighted BCE.

    The BCE is taken on the logits (:func:`~hepsig_tutorial.losses.bce.bce_loss`, the network without its sigmoid);
    the returned model has the sigmoid output the Punzi loss needs.
    ``data`` is the dict of :func:`training_arrays`. The paper (Sec. 5) uses SGD with lr 1, batch
    2048 and 200 epochs; the defaults here (Adam, lr 1e-2, 20 epochs) reach a similar separation
    in far less time (``schedule="cosine"`` anneals lr to lr/100). The network is seeded with ``seed``.
    Returns ``(model, history)``.
    """
    net = logit_net(hidden, seed, data["x"].shape[1])
    hist = train.fit(net, make_bce_loss(), {"x": data["x"], "y": data["y"], "w": data["w_bce"]}, epochs=epochs,
                     batch_size=batch_size, lr=lr, optimizer=optimizer, schedule=_schedule(schedule, lr),
                     schedule_interval="epoch", seed=seed, device=device, desc=desc)
    return with_sigmoid(net), hist


def finetune_punzi(model, data, *, epochs=120, batch_size=8192, lr=1e-2, optimizer="adam", schedule="cosine",
                   a=3.0, b=1.28, luminosity=None, refined=False, seed=0, device=None, desc="Punzi-loss training",
                   callback=None, val_data=None):
    """Continue training ``model`` (in place) on the Punzi loss, punzi-loss.txt Eq. 12.

    A finite batch size uses ``batch["fraction"]`` to scale ε and B up (the n_batches factor,
    Sec. 5); ``batch_size=None`` trains full-batch, as the authors' public code does. The default,
    8192 events (≈ 13 % of the FAST training sample, the upper end of the 0.5-13 % the paper explored),
    escapes the plateau that full-batch training often stalls on with this toy (Chapter 3);
    Chapter 4 studies the batch size. ``luminosity`` must be the toy's target luminosity (``toy.luminosity``).
    Returns the history of :func:`hepsig_tutorial.train.fit` (the loss is the mean σ_min in fb).
    """
    require(luminosity is not None, "luminosity must be given (the toy's target luminosity, e.g. toy.luminosity)")
    keys = ("x", "y", "w", "membership")
    val = None if val_data is None else {k: val_data[k] for k in keys}
    return train.fit(model, make_punzi_loss(a=a, b=b, luminosity=luminosity, refined=refined),
                     {k: data[k] for k in keys}, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                     schedule=_schedule(schedule, lr), schedule_interval="epoch", seed=seed, device=device, desc=desc,
                     callback=callback, val_data=val)


def scores(model, scaler, toy):
    """Network output on every event of ``toy`` (inputs scaled by ``scaler``), as float64."""
    _check_toy(toy)
    return train.predict(model, scaler.transform(toy.x)).astype(np.float64)


def logit_scores(model, scaler, toy):
    """Network logit on every event of ``toy``, the score Chapter 3 cuts on: a ``Sequential``'s sigmoid is left out.

    Cuts on the logit and on ŷ are the same cuts, but a saturated float32 sigmoid ties many events at
    exactly 1; the logit keeps them apart.
    """
    _check_toy(toy)
    if isinstance(model, torch.nn.Sequential):
        model = torch.nn.Sequential(*[m for m in model if not isinstance(m, torch.nn.Sigmoid)])
    return train.predict(model, scaler.transform(toy.x)).astype(np.float64)


def evaluate_cuts(score_choose, toy_choose, score_eval, toy_eval, train_masses=None, cuts=None, a=3.0, b=1.28,
                  refined=False, n_bootstrap=0, seed=0, n_cuts=201):
    """σ_min per mass of a network with the best per-mass cut and the best global cut (the book's protocol).

    The cuts are chosen on one sample (``score_choose`` on ``toy_choose``, the training half) and
    quoted on another (``score_eval`` on ``toy_eval``, the test half) with
    :mod:`hepsig_tutorial.metrics`: the per-process floor rule, at least
    ``metrics.MIN_BACKGROUND_EVENTS`` simulated background events for a cut to be chosen, and
    ``n_bootstrap`` Poisson-bootstrap replicates of the evaluation sample (seed ``seed``: the same
    replicates for every network and for :func:`hepsig_tutorial.cutbased.apply_cuts` on the same toy).
    The global cut minimises the mean σ_min over the ``train_masses`` (default every second mass) on the
    choosing sample. Thresholds: ``cuts``, or :func:`hepsig_tutorial.metrics.cut_grid` of ``score_choose``.

    Returns
    -------
    dict
        ``per_mass`` (K,): σ_min on the eval sample at each mass's own cut; ``global`` (K,) at the single
        cut; ``per_mass_boot``, ``global_boot`` (R, K) their replicates (None without bootstrap);
        ``global_cut`` (float); ``per_mass_cut`` (K,); ``best_possible`` (K,): σ_min of the best cut
        chosen on the eval sample itself (an optimistic reference); ``scan``: the eval scan.
    """
    for t in (toy_choose, toy_eval):
        _check_toy(t)
    require(len(toy_choose.masses) == len(toy_eval.masses),
            "toy_choose and toy_eval must have the same mass hypotheses")
    mask = _mass_mask(toy_eval, train_masses)
    cuts = np.asarray(metrics.cut_grid(score_choose, toy_choose.y, n_cuts) if cuts is None else cuts, np.float64)
    kw = dict(a=a, b=b, refined=refined)
    scan_c = window_scan(toy_choose, score_choose, cuts=cuts)
    scan_e = window_scan(toy_eval, score_eval, cuts=cuts, n_bootstrap=n_bootstrap, seed=seed)
    fom_c = metrics.punzi_sigma_min(scan_c, luminosity=toy_choose.luminosity, **kw)
    fom_e = metrics.punzi_sigma_min(scan_e, luminosity=toy_eval.luminosity, **kw)
    per = metrics.best_cut(fom_c, scan_c, maximize=False)
    glob = metrics.best_cut(fom_c, scan_c, maximize=False, combine="mean", columns=np.flatnonzero(mask))
    v_per, b_per = metrics.at_cut(fom_e, per)
    v_glob, b_glob = metrics.at_cut(fom_e, glob)
    oracle = metrics.at_cut(fom_e, metrics.best_cut(fom_e, scan_e, maximize=False))[0]
    return {"per_mass": v_per, "global": v_glob, "per_mass_boot": b_per, "global_boot": b_glob,
            "global_cut": float(scan_c.cuts[glob]), "per_mass_cut": scan_c.cuts[per], "best_possible": oracle,
            "scan": scan_e}


def validation_monitor(toy_val, train_masses=None, scaler=None, a=3.0, b=1.28, n_cuts=101):
    """A ``monitor(model)`` for :func:`hepsig_tutorial.train.fit`: minus the mean best σ_min on validation events.

    For each trained mass the best cut on the network's score (chosen on ``toy_val`` itself, with the
    floor rule and the minimum simulated count of :mod:`hepsig_tutorial.metrics`), then the mean over the
    trained masses, negated (the monitor is higher-is-better). The same figure of merit for every method,
    so early stopping and the learning-rate choice are judged alike. ``inf`` σ_min (no eligible cut)
    gives ``-inf``.
    """
    _check_toy(toy_val)
    require(scaler is not None, "scaler must be the fitted Scaler of the training arrays")
    mask = np.flatnonzero(_mass_mask(toy_val, train_masses))

    def monitor(model):  # scans every event; the window groups select the masses
        scan = window_scan(toy_val, logit_scores(model, scaler, toy_val), n_cuts=n_cuts)
        vals, _ = metrics.punzi_sigma_min(scan, luminosity=toy_val.luminosity, a=a, b=b)
        ok = scan.eligible() & np.isfinite(vals)
        best = np.where(ok, vals, np.inf).min(axis=1)[mask]
        return float(-best.mean()) if np.all(np.isfinite(best)) else -math.inf

    return monitor


def logit_net(hidden=(8, 4), seed=0, n_inputs=4):
    """The 4-8-4-1 tanh network with a *linear* output (a logit), seeded: the BCE-net of Chapter 3."""
    torch.manual_seed(int(seed))
    return models.mlp(n_inputs, hidden, "tanh", output="linear")


def with_sigmoid(net):
    """A copy of a logit network with a sigmoid output (ŷ ∈ (0, 1), as the Punzi loss needs)."""
    return torch.nn.Sequential(*copy.deepcopy(net), torch.nn.Sigmoid())
