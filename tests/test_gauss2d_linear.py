"""Linear classifiers on the 2-D toy (hepsig_tutorial.linear, Chapter 6)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import hepsig_tutorial.linear as lin
from hepsig_tutorial.data import GAUSS2D_CASES, Scaler, make_gauss2d
from hepsig_tutorial.losses import make_bce_loss, process_weights
from hepsig_tutorial.train import predict


@pytest.fixture(scope="module")
def toy():
    d = make_gauss2d(1500, seed=3)
    w = process_weights(d.process, GAUSS2D_CASES[1], 3000.0)
    return d, w


def test_weights_sum_per_class(toy):
    d, w = toy
    ws, wb = lin.sigma_weights(d.y, w), lin.balanced_weights(d.y)
    for v in (ws, wb):
        assert v[d.y == 1].sum() == pytest.approx(1.0) and v[d.y == 0].sum() == pytest.approx(1.0)
    # σ weights keep the cross-section ratio between the backgrounds; balanced ones do not
    assert ws[d.process == 2].sum() / ws[d.process == 1].sum() == pytest.approx(100.0)
    assert wb[d.process == 2].sum() / wb[d.process == 1].sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="both classes"):
        lin.balanced_weights(np.ones(4))
    with pytest.raises(ValueError, match="same length"):
        lin.sigma_weights(np.ones(4), np.ones(3))


def test_weighted_logistic_regression_is_the_minimum(toy):
    d, w = toy
    ws = lin.sigma_weights(d.y, w)
    ref = lin.weighted_logistic_regression(d.x, d.y, ws)
    assert ref["converged"]
    x = d.x.astype(np.float64)
    base = lin.logistic_loss(ref["a"], ref["c"], x, d.y, ws)
    assert base == pytest.approx(ref["loss"], rel=1e-9)
    rng = np.random.default_rng(0)
    for _ in range(10):  # convex: every nearby point is worse
        da, dc = rng.normal(scale=1e-2, size=2), rng.normal(scale=1e-2)
        assert lin.logistic_loss(ref["a"] + da, ref["c"] + dc, x, d.y, ws) > base
    with pytest.raises(ValueError, match="y must"):
        lin.weighted_logistic_regression(x, np.full(len(x), 0.5), ws)
    with pytest.raises(ValueError, match="l2"):
        lin.weighted_logistic_regression(x, d.y, ws, l2=-1.0)


def test_fit_linear_converges_to_the_exact_bce_minimum(toy):
    d, w = toy
    sc = Scaler("standard").fit(d.x)
    ws = lin.sigma_weights(d.y, w)
    data = {"x": sc.transform(d.x), "y": d.y, "w": ws}
    model, hist = lin.fit_linear(make_bce_loss(), data, data, seed=1, epochs=400, patience=5,
                                 batch_size=2048, lr=0.1)
    ref = lin.weighted_logistic_regression(d.x, d.y, ws)
    assert lin.angle_deg(lin.direction(model, sc.scale_), ref["a"]) < 2.0
    assert hist["best_epoch"] is not None and min(hist["val_loss"]) == pytest.approx(ref["loss"], rel=0.02)


def test_linear_model_is_seeded():
    a, b = lin.linear_model(2, seed=4), lin.linear_model(2, seed=4)
    assert torch.equal(a[0].weight, b[0].weight)
    with pytest.raises(ValueError, match="seed"):
        lin.linear_model(2, seed=-1)


def test_direction_angle_and_cut_in_x_units(toy):
    d, _ = toy
    sc = Scaler("standard").fit(d.x)
    model = lin.linear_model(2, seed=2)
    u = lin.direction(model, sc.scale_)
    assert np.linalg.norm(u) == pytest.approx(1.0)
    np.testing.assert_allclose(u, lin.direction(model[0].weight.detach().numpy().ravel() / sc.scale_))
    # the selection F ≥ threshold is the selection u·x ≥ t
    scores = predict(model, sc.transform(d.x))
    thr = float(np.median(scores))
    u2, t = lin.cut_in_x_units(model, sc, thr)
    proj = d.x.astype(np.float64) @ u2
    near = np.abs(proj - t) < 1e-4  # float32 rounding at the boundary
    assert np.array_equal((scores >= thr)[~near], (proj >= t)[~near])
    assert lin.angle_deg([1, 0], [0, 1]) == pytest.approx(90.0)
    assert lin.angle_deg([1, 0], [-1, 0]) == pytest.approx(180.0)
    with pytest.raises(ValueError, match="zero"):
        lin.direction(np.zeros(2))


def test_standard_scaler():
    x = np.random.default_rng(1).normal([3.0, -2.0], [2.0, 0.5], size=(500, 2))
    z = Scaler("standard").fit(x).transform(x)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-6)
    np.testing.assert_allclose(z.std(0), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="2-D"):
        Scaler("standard").fit(np.ones(3))


def test_xsec_ratio_models_small():
    train = make_gauss2d(300, seed=9)
    models, scaler, xs = lin.xsec_ratio_models(10.0, train, epochs=2)
    assert set(models) == {"Lovász-Z", "BCE, σ-weighted"} and xs == (0.1, 1.0, 10.0)
    for m in models.values():
        assert math.isfinite(float(lin.direction(m, scaler.scale_)[0]))
    with pytest.raises(ValueError, match="ratio"):
        lin.xsec_ratio_models(-1.0, train)
