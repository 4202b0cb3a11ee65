"""Linear classifiers on the 2-D Gaussian toy (Chapter 6): training, an exact reference, directions.

The Lovász-Z paper trains a linear model F(x) = a·x + c. Its boundary is a line, so two models can be compared
by the *angle* between their normals, and the best any linear model can do is known exactly
(:func:`~hepsig_tutorial.data.gauss2d.best_linear_cut`). This module is the methods layer behind the chapter:

* :func:`linear_model` -- the seeded linear model (paired seeds: the same initialisation for every loss);
* :func:`fit_linear` -- training through :func:`hepsig_tutorial.train.fit` with early stopping on the
  validation loss and best-state restore (the book's protocol), returning the model and its learning curve;
* :func:`weighted_logistic_regression` -- the exact minimum of the (convex) weighted logistic loss, found by
  :func:`scipy.optimize.minimize` (L-BFGS with the analytic gradient): the converged reference any
  BCE-trained linear model should reach;
* :func:`direction` and :func:`angle_deg` -- the unit normal of a boundary in the original x units, and the
  angle between two boundaries.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._validate import array, integer, number, require
from .data import Scaler

__all__ = ["linear_model", "fit_linear", "weighted_logistic_regression", "direction",
           "angle_deg", "sigma_weights", "balanced_weights", "cut_in_x_units", "xsec_ratio_models", "logistic_loss"]


def linear_model(n_inputs: int = 2, seed: int = 0) -> torch.nn.Module:
    """F(x) = a·x + c with torch's default initialisation drawn from ``seed``."""
    from .models import mlp

    torch.manual_seed(integer("seed", seed))
    return mlp(int(n_inputs), (), output="linear")


def fit_linear(loss_fn, data, val_data=None, *, seed=0, epochs=200, patience=10, batch_size=1024, lr=0.05,
               optimizer="radam", model=None):
    """Train a linear model on ``loss_fn`` until the validation loss stops improving; return ``(model, history)``.

    ``data`` / ``val_data`` are dicts with ``x`` (already scaled), ``y`` and ``w``. With ``val_data`` the run
    stops after ``patience`` epochs without a lower validation loss (at most ``epochs``) and restores the
    best epoch's weights (:func:`hepsig_tutorial.train.fit`); without it all ``epochs`` run. The initialisation
    comes from ``seed`` (:func:`linear_model`) unless a ``model`` is given.
    """
    from .train import fit

    model = linear_model(np.asarray(data["x"]).shape[1], seed) if model is None else model
    stop = {} if val_data is None else dict(val_data=val_data, monitor="val_loss", patience=patience, restore_best=True)
    return model, fit(model, loss_fn, data, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                      seed=seed, desc="linear model", **stop)


def sigma_weights(y, w):
    """Cross-section weights with each class scaled to total 1 (the σ-weighted BCE of Chapter 6)."""
    y, w = (np.asarray(v, dtype=np.float64) for v in (y, w))
    require(y.shape == w.shape and y.ndim == 1, "y and w must be 1-D arrays of the same length")
    require(np.any(y == 1) and np.any(y == 0), "y must contain both classes")
    return np.where(y == 1, w / np.sum(w * y), w / np.sum(w * (1 - y)))


def balanced_weights(y):
    """Every event the same weight within its class, both classes total 1 (the unweighted BCE of Chapter 6):
    :func:`sigma_weights` with every w = 1."""
    return sigma_weights(y, np.ones(np.shape(y)))


def weighted_logistic_regression(x, y, w, *, l2: float = 0.0):
    """The exact minimiser (a, c) of Σ w_i ℓ(y_i, a·x_i + c) / Σ w_i, ℓ the logistic (binary cross-entropy) loss.

    The loss is convex in (a, c), so L-BFGS with the analytic gradient finds the global minimum to machine
    precision: it is the answer a BCE-trained linear model converges to. ``l2`` ≥ 0 adds ``l2·|a|²/2``.

    Returns
    -------
    dict with ``a`` (weights in the units of ``x``), ``c``, ``loss`` (the minimum), ``converged`` (bool).
    """
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit

    xx, yy, ww = (np.asarray(v, dtype=np.float64) for v in (x, y, w))
    require(xx.ndim == 2 and yy.shape == ww.shape == (len(xx),), "x must be (N, d) and y, w of length N")
    require(np.isfinite(xx).all() and np.isfinite(ww).all() and np.all(ww >= 0) and ww.sum() > 0,
            "x and w must be finite, w non-negative with a positive sum")
    require(np.isin(yy, (0.0, 1.0)), "y must hold only 0 and 1")
    number("l2", l2, low=0)
    wn = ww / ww.sum()
    sign = 2.0 * yy - 1.0
    d = xx.shape[1]

    def f(p):
        a, c = p[:d], p[d]
        margin = sign * (xx @ a + c)
        loss = -np.sum(wn * log_expit(margin)) + 0.5 * l2 * (a @ a)
        g = -wn * sign * expit(-margin)
        return loss, np.concatenate([xx.T @ g + l2 * a, [g.sum()]])

    res = minimize(f, np.zeros(d + 1), jac=True, method="L-BFGS-B", options={"gtol": 1e-10, "ftol": 1e-15,
                                                                                 "maxiter": 10_000})
    return {"a": res.x[:d].copy(), "c": float(res.x[d]), "loss": float(res.fun), "converged": bool(res.success)}


def _linear_layer(model):
    """The first ``torch.nn.Linear`` of ``model`` (a linear model's only layer)."""
    return next(m for m in model.modules() if isinstance(m, torch.nn.Linear))


def direction(model_or_weights, scale=None):
    """Unit normal of a linear boundary in the original x units.

    ``model_or_weights``: a linear torch model (its first layer's weight, on any device -- copied to the CPU)
    or a weight vector. ``scale``: the per-feature scale of the inputs the model saw (``Scaler.scale_``),
    so a = a_scaled / scale is the normal in the original units; ``None`` if the model saw raw x.
    """
    is_model = isinstance(model_or_weights, torch.nn.Module)
    a = array("model_or_weights", _linear_layer(model_or_weights).weight if is_model else model_or_weights).ravel()
    if scale is not None:
        a = a / np.asarray(scale, dtype=np.float64)
    n = np.linalg.norm(a)
    require(np.isfinite(n) and n > 0, "the boundary has a zero (or non-finite) normal: no direction")
    return a / n


def angle_deg(u, v) -> float:
    """Angle between two directions in degrees (in [0°, 180°]: the orientation of the normals counts)."""
    uu, vv = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    cos = float(uu @ vv / (np.linalg.norm(uu) * np.linalg.norm(vv)))
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))


def cut_in_x_units(model, scaler, threshold):
    """The selection ``F(x) ≥ threshold`` of a linear model as ``u·x ≥ t`` in the original x units.

    Returns ``(u, t)`` with u the unit normal (:func:`direction`), for
    :func:`~hepsig_tutorial.data.gauss2d.linear_cut_yields` (the exact yields of the model's cut).
    """
    layer = _linear_layer(model)
    a = array("model", layer.weight).ravel() / np.asarray(scaler.scale_, dtype=np.float64)  # F = a·x + c − a·mean
    c = float(layer.bias.detach()[0])
    norm = np.linalg.norm(a)
    require(norm > 0, "the model has a zero normal: no cut")
    return a / norm, float((threshold - c + a @ np.asarray(scaler.shift_, dtype=np.float64)) / norm)


def xsec_ratio_models(ratio, train, *, kappa=30.0, seed=0, epochs=40, batch_size=2048, lr=0.1):
    """The two models of Chapter 6's slider at σ_b2/σ_b1 = ``ratio``: Lovász-Z (ε = κ σ_s L), σ-weighted BCE.

    σ_s = 0.1 fb, σ_b1 = 1 fb, σ_b2 = ``ratio`` fb, L = 3000 fb⁻¹; a fixed number of ``epochs`` (no early
    stopping: the slider must answer in about a second). Returns ``(models, scaler, cross_sections)`` with
    ``models = {"Lovász-Z": ..., "BCE, σ-weighted": ...}``.
    """
    from .losses import make_bce_loss, make_lovasz_z_loss, process_weights

    number("ratio", ratio, low=0, low_open=True)
    number("kappa", kappa, low=0, low_open=True)
    xs, lumi = (0.1, 1.0, float(ratio)), 3000.0
    scaler = Scaler("standard").fit(train.x)
    x, y = scaler.transform(train.x), np.asarray(train.y)
    w = process_weights(train.process, xs, lumi)
    kw = dict(seed=seed, epochs=epochs, batch_size=batch_size, lr=lr)
    lz, _ = fit_linear(make_lovasz_z_loss(epsilon=kappa * xs[0] * lumi), {"x": x, "y": y, "w": w}, **kw)
    bce, _ = fit_linear(make_bce_loss(), {"x": x, "y": y, "w": sigma_weights(y, w)}, **kw)
    return {"Lovász-Z": lz, "BCE, σ-weighted": bce}, scaler, xs


def logistic_loss(a, c, x, y, w) -> float:
    """Σ w ℓ(y, a·x + c) / Σ w with ℓ the logistic loss (e.g. a :func:`weighted_logistic_regression` solution on
    validation events)."""
    from scipy.special import log_expit

    xx, yy, ww = (np.asarray(v, dtype=np.float64) for v in (x, y, w))
    margin = (2.0 * yy - 1.0) * (xx @ np.asarray(a, dtype=np.float64) + float(c))
    return float(-np.sum(ww * log_expit(margin)) / np.sum(ww))
