"""Tests of the Chapter 3 protocol pieces in hepsig_tutorial.punzinet (evaluation through metrics, monitor, nets)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import hepsig_tutorial as ht
from hepsig_tutorial import cutbased, metrics, punzinet


@pytest.fixture(scope="module")
def halves():
    toy = ht.data.make_belle_toy(masses=[1.0, 2.0, 3.0, 4.0, 5.0], n_signal_per_mass=400, n_background=8000, seed=1)
    return toy.split((0.5, 0.5), seed=0)


def test_logit_net_and_sigmoid_copy():
    net = punzinet.logit_net(seed=3)
    x = torch.rand(50, 4)
    z = net(x)
    assert z.shape == (50,) and (z.abs() > 0).any()
    again = punzinet.logit_net(seed=3)
    assert torch.equal(again(x), z)                                  # seeded initialisation
    p = punzinet.with_sigmoid(net)
    assert torch.allclose(p(x), torch.sigmoid(z))
    with torch.no_grad():                                            # a copy: training it leaves the original alone
        next(p.parameters()).add_(1.0)
    assert torch.equal(net(x), z)


def test_logit_scores_undo_the_sigmoid(halves):
    train, _ = halves
    data, scaler = punzinet.training_arrays(train)
    net = punzinet.logit_net(seed=0)
    z = punzinet.logit_scores(net, scaler, train)
    z2 = punzinet.logit_scores(punzinet.with_sigmoid(net), scaler, train)
    np.testing.assert_allclose(z, z2, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="toy"):
        punzinet.logit_scores(net, scaler, object())
    plain = ht.data.Sample(train.x, train.y, train.w, train.extras)  # the arrays without the toy's windows
    with pytest.raises(ValueError, match="BelleToy"):
        punzinet.training_arrays(plain)


def test_evaluate_cuts_uses_the_protocol(halves):
    train, test = halves
    rng = np.random.default_rng(0)
    # a score that knows the label a little: signal shifted up
    s_tr = rng.normal(size=len(train)) + 1.5 * train.y
    s_te = rng.normal(size=len(test)) + 1.5 * test.y
    mask = punzinet.every_second_mass(len(test.masses))
    ev = punzinet.evaluate_cuts(s_tr, train, s_te, test, mask, n_bootstrap=30, seed=2)
    K = len(test.masses)
    for key in ("per_mass", "global", "best_possible", "per_mass_cut"):
        assert ev[key].shape == (K,)
    assert ev["per_mass_boot"].shape == (30, K) and ev["global_boot"].shape == (30, K)
    # the values are metrics' σ_min of the eval scan at the chosen thresholds, with the floor rule
    scan = cutbased.window_scan(test, s_te, cuts=ev["scan"].cuts)
    sig, _ = metrics.punzi_sigma_min(scan, luminosity=test.luminosity)
    j = np.searchsorted(scan.cuts, ev["per_mass_cut"])
    np.testing.assert_allclose(ev["per_mass"], sig[np.arange(K), j])
    assert np.all(scan.b >= scan.floor.sum() - 1e-9)                  # every process floored
    # chosen and quoted on the same sample, the per-mass cut is the best eligible one
    same = punzinet.evaluate_cuts(s_tr, train, s_tr, train, mask)
    np.testing.assert_allclose(same["per_mass"], same["best_possible"])
    # pairing: the same replicates for another score on the same sample and seed
    ev2 = punzinet.evaluate_cuts(s_tr, train, s_te, test, mask, n_bootstrap=30, seed=2)
    np.testing.assert_allclose(ev2["per_mass_boot"], ev["per_mass_boot"])
    with pytest.raises(ValueError, match="mass hypotheses"):
        small = ht.data.make_belle_toy(masses=[1.0], n_signal_per_mass=50, n_background=500)
        punzinet.evaluate_cuts(s_tr, train, np.zeros(len(small)), small)


def test_validation_monitor(halves):
    train, test = halves
    _, scaler = punzinet.training_arrays(train)
    mon = punzinet.validation_monitor(test, None, scaler)
    value = mon(punzinet.logit_net(seed=0))
    assert np.isfinite(value) and value < 0                          # minus a mean σ_min in fb
    # a constant network can only keep everything: the monitor is minus the mean window-only σ_min
    const = punzinet.logit_net(seed=0)
    with torch.no_grad():
        for prm in const.parameters():
            prm.zero_()
    nocut, _ = metrics.punzi_sigma_min(cutbased.window_scan(test), luminosity=test.luminosity)
    mask = punzinet.every_second_mass(len(test.masses))
    assert mon(const) == pytest.approx(-nocut[mask, 0].mean())
    with pytest.raises(ValueError, match="scaler"):
        punzinet.validation_monitor(test, None, None)


def test_pretraining_then_punzi_finetuning_end_to_end(halves):
    """The two stages of the recipe (paper Secs. 5-6): BCE pretraining, then the Punzi loss with a cosine decay."""
    train, test = halves
    mask = punzinet.every_second_mass(len(train.masses))
    data, scaler = punzinet.training_arrays(train, mask)
    model, h_bce = punzinet.pretrain_bce(data, epochs=3, seed=0, device="cpu")
    assert len(h_bce["loss"]) == 3 and isinstance(model[-1], torch.nn.Sigmoid)
    hist = punzinet.finetune_punzi(model, data, epochs=15, batch_size=None, luminosity=train.luminosity, seed=0,
                                   device="cpu")
    loss = hist["loss"]
    assert len(loss) == 15 and np.isfinite(loss).all() and loss[-1] < loss[0]
    assert len(hist["lr"]) == 15 and hist["lr"][-1] < hist["lr"][0]
    s_tr, s_te = punzinet.scores(model, scaler, train), punzinet.scores(model, scaler, test)
    assert s_te.shape == (len(test),) and np.all((s_te >= 0) & (s_te <= 1))
    ev = punzinet.evaluate_cuts(s_tr, train, s_te, test, mask)
    assert np.all(ev["best_possible"] <= ev["per_mass"] + 1e-12)
    assert np.all(ev["best_possible"] <= ev["global"] + 1e-12)
    with pytest.raises(ValueError, match="luminosity"):
        punzinet.finetune_punzi(model, data)
    with pytest.raises(ValueError, match="schedule"):
        punzinet.finetune_punzi(model, data, luminosity=50.0, schedule="step")
    with pytest.raises(ValueError, match="train_masses"):
        punzinet.training_arrays(train, np.flatnonzero(mask))          # a boolean mask, not indices
