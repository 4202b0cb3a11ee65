"""Tests of hepsig_tutorial/batching.py (Chapter 4: batch estimates, delta method, gradient accumulation)."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import hepsig_tutorial as ht
from hepsig_tutorial import batching
from hepsig_tutorial.losses import punzi_loss


def _all_batches(x, n):
    """Every batch of size n (exhaustive) and its scaled totals."""
    N = len(x)
    return np.array([x[list(c)].sum(axis=0) * N / n for c in itertools.combinations(range(N), n)])


# ---------------------------------------------------------------------------------------------
# moments of the batch totals: exact against exhaustive enumeration
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 3, 5, 7])
def test_moments_exact_by_enumeration(n):
    rng = np.random.default_rng(n)
    x = rng.exponential(size=(7, 3)) * (rng.random((7, 3)) < 0.7)
    T, cov = batching.batch_total_moments(x, n)
    est = _all_batches(x, n)
    np.testing.assert_allclose(est.mean(axis=0), T, rtol=1e-12)
    np.testing.assert_allclose(np.cov(est, rowvar=False, ddof=0), cov, rtol=1e-10, atol=1e-12)


def test_moments_vector_batch_sizes_and_full_batch():
    x = np.arange(20, dtype=float).reshape(10, 2)
    T, cov = batching.batch_total_moments(x, [2, 5, 10])
    assert cov.shape == (3, 2, 2)
    np.testing.assert_allclose(cov[-1], 0.0, atol=1e-12)  # the full batch has no spread
    assert cov[0, 0, 0] > cov[1, 0, 0] > 0


# ---------------------------------------------------------------------------------------------
# delta method
# ---------------------------------------------------------------------------------------------
def test_delta_method_linear_and_quadratic_are_exact():
    T = np.array([3.0, 5.0])
    cov = np.array([[2.0, 0.5], [0.5, 1.0]])
    lin = batching.delta_method(lambda t: 2 * t[0] - 3 * t[1], T, cov)
    assert lin["value"] == pytest.approx(2 * 3 - 15)
    assert lin["bias"] == pytest.approx(0.0, abs=1e-12)
    assert lin["variance"] == pytest.approx(4 * 2 - 12 * 0.5 + 9 * 1)
    quad = batching.delta_method(lambda t: t[0] ** 2, T, cov)  # E[X²] − μ² = Var(X) exactly
    assert quad["bias"] == pytest.approx(2.0)


def test_delta_method_quadratic_bias_matches_enumeration():
    rng = np.random.default_rng(3)
    x = rng.exponential(size=(8, 1))
    T, cov = batching.batch_total_moments(x, 3)
    est = _all_batches(x, 3)[:, 0]
    res = batching.delta_method(lambda t: t[0] ** 2, T, cov)
    assert res["value"] + res["bias"] == pytest.approx(np.mean(est**2), rel=1e-10)


def test_theory_matches_sampling_for_significance():
    rng = np.random.default_rng(0)
    N = 20_000
    y = (rng.random(N) < 0.2).astype(float)
    yp = np.clip(np.where(y > 0, rng.beta(5, 2, N), rng.beta(1, 6, N)), 0, 1)
    w = np.where(y > 0, 0.05, 2.0)
    X = batching.significance_contributions(yp, y, w)
    ns = np.array([500, 2000, 8000])
    th = batching.estimator_theory(X, batching.significance_from_totals, ns)
    totals = batching.sample_total_estimates(X, ns, n_draws=1500, seed=1)
    z = batching.significance_from_totals(totals)
    np.testing.assert_allclose(z.std(axis=1), th["std"], rtol=0.08)
    assert th["value"] == pytest.approx(float(ht.stats.s_over_sqrt_s_plus_b(*X.sum(axis=0))), rel=1e-12)
    # the spread falls like √((1 − f)/n)
    ratio = th["std"][0] / th["std"][1]
    assert ratio == pytest.approx(np.sqrt((1 - 500 / N) / 500 / ((1 - 2000 / N) / 2000)), rel=1e-9)


def test_delta_method_rejects_bad_input():
    with pytest.raises(ValueError, match="g"):
        batching.delta_method(3.0, [1.0], [[1.0]])
    with pytest.raises(ValueError, match="cov"):
        batching.delta_method(lambda t: t.sum(), [1.0, 2.0], np.eye(3))
    with pytest.raises(ValueError, match="scalar"):
        batching.delta_method(lambda t: t, [1.0, 2.0], np.eye(2))


# ---------------------------------------------------------------------------------------------
# effective counts, zero-background probability
# ---------------------------------------------------------------------------------------------
def test_effective_count():
    x = np.zeros((1000, 2))
    x[:100, 0] = 0.3  # 100 equal contributions
    x[:10, 1] = 1.0   # 10 equal contributions
    np.testing.assert_allclose(batching.effective_count(x), [100.0, 10.0])
    np.testing.assert_allclose(batching.expected_effective_per_batch(x, 500), [50.0, 5.0])


def test_effective_count_gives_relative_spread():
    rng = np.random.default_rng(2)
    x = rng.exponential(size=(5000, 1)) * (rng.random((5000, 1)) < 0.05)
    n = 400
    _, cov = batching.batch_total_moments(x, n)
    rel = np.sqrt(cov[0, 0]) / x.sum()
    n_eff = batching.expected_effective_per_batch(x, n)[0]
    assert rel == pytest.approx(np.sqrt((1 - n / 5000) * (1 / n_eff - 1 / n)), rel=1e-3)


@pytest.mark.parametrize("K,n", [(0, 3), (2, 3), (3, 4), (5, 2), (6, 7)])
def test_prob_no_events_exact(K, n):
    N = 9
    members = set(range(K))
    hits = [not (members & set(c)) for c in itertools.combinations(range(N), n)]
    assert batching.prob_no_events(K, N, n) == pytest.approx(np.mean(hits), abs=1e-12)


def test_prob_no_events_limits():
    p = batching.prob_no_events(50, 100_000, [1, 1000, 100_000])
    assert p[0] == pytest.approx(1 - 50 / 100_000)
    assert p[1] == pytest.approx(np.exp(-1000 * 50 / 100_000), rel=0.01)
    assert p[2] == 0.0
    with pytest.raises(ValueError, match="n_class"):
        batching.prob_no_events(11, 10, 3)
    with pytest.raises(ValueError, match="batch_sizes"):
        batching.prob_no_events(1, 10, 11)


# ---------------------------------------------------------------------------------------------
# sampling
# ---------------------------------------------------------------------------------------------
def test_sampling_full_batch_is_exact_and_seeded():
    rng = np.random.default_rng(5)
    x = rng.random((50, 2))
    t = batching.sample_total_estimates(x, [50, 10], n_draws=4, seed=3)
    np.testing.assert_allclose(t[0], np.broadcast_to(x.sum(axis=0), (4, 2)), rtol=1e-12)
    np.testing.assert_array_equal(t, batching.sample_total_estimates(x, [50, 10], n_draws=4, seed=3))


def test_sampling_rejects_bad_input():
    with pytest.raises(ValueError, match="batch_sizes"):
        batching.sample_total_estimates(np.ones((5, 1)), [0], n_draws=2)
    with pytest.raises(ValueError, match="n_draws"):
        batching.sample_total_estimates(np.ones((5, 1)), [2], n_draws=0)
    with pytest.raises(ValueError, match="contributions"):
        batching.batch_total_moments(np.array([[np.nan], [1.0]]), 1)


def test_significance_from_totals_zero_is_nan():
    z = batching.significance_from_totals(np.array([[0.0, 0.0], [4.0, 0.0], [3.0, 6.0]]))
    assert np.isnan(z[0]) and z[1] == pytest.approx(2.0) and z[2] == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------
# the Punzi loss from sums, and gradient accumulation
# ---------------------------------------------------------------------------------------------
def _punzi_data(n=300, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, generator=g) < 0.4).double()
    w = torch.where(y > 0, torch.full((n,), 1.0 / 60), 0.5 + torch.rand(n, generator=g, dtype=torch.float64))
    M = torch.rand(n, k, generator=g) < 0.5
    M[:k, :] = True
    y[:k] = 1.0
    x = torch.rand(n, 3, generator=g, dtype=torch.float64)
    return {"x": x, "y": y, "w": w, "membership": M}


def _model(seed=0):
    torch.manual_seed(seed)
    return ht.models.mlp(3, (5, 3), "tanh").double()


def test_punzi_loss_from_sums_equals_punzi_loss():
    d = _punzi_data()
    model = _model()
    out = model(d["x"])
    for frac in (1.0, 0.25):
        want = punzi_loss(out, d["y"], d["w"], membership=d["membership"], luminosity=50.0, fraction=frac)
        got = batching.punzi_loss_from_sums(batching.punzi_sums(out, d) / frac, 50.0)
        assert float(got.detach()) == pytest.approx(float(want.detach()), rel=1e-12)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 1000), micro=st.integers(1, 300))
def test_accumulated_gradient_equals_full_batch(seed, micro):
    d = _punzi_data(seed=seed)
    loss_from_sums = lambda t: batching.punzi_loss_from_sums(t, 50.0)  # noqa: E731
    full = _model(seed)
    loss = loss_from_sums(batching.punzi_sums(full(d["x"]), d))
    loss.backward()
    acc = _model(seed)
    value = batching.accumulated_backward(acc, d, batching.punzi_sums, loss_from_sums, micro)
    assert value == pytest.approx(float(loss.detach()), rel=1e-12)
    for p_full, p_acc in zip(full.parameters(), acc.parameters()):
        np.testing.assert_allclose(p_acc.grad.numpy(), p_full.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_averaged_micro_batch_losses_are_not_the_full_gradient():
    d = _punzi_data(n=400, seed=1)
    loss_from_sums = lambda t: batching.punzi_loss_from_sums(t, 50.0)  # noqa: E731
    full = _model(1)
    loss_from_sums(batching.punzi_sums(full(d["x"]), d)).backward()
    naive = _model(1)
    batching.averaged_backward(naive, d, batching.punzi_sums, loss_from_sums, 40)
    g_full = torch.cat([p.grad.flatten() for p in full.parameters()])
    g_naive = torch.cat([p.grad.flatten() for p in naive.parameters()])
    assert float((g_naive - g_full).norm() / g_full.norm()) > 1e-3
    # one micro-batch = the full batch: identical
    one = _model(1)
    batching.averaged_backward(one, d, batching.punzi_sums, loss_from_sums, 400)
    g_one = torch.cat([p.grad.flatten() for p in one.parameters()])
    torch.testing.assert_close(g_one, g_full, rtol=1e-10, atol=1e-12)


def test_accumulation_is_finite_at_zero_background():
    d = _punzi_data(n=50, k=2, seed=2)
    d["y"] = torch.ones(50, dtype=torch.float64)  # no background at all: B = 0 in every window
    d["w"] = torch.full((50,), 1.0 / 50, dtype=torch.float64)
    model = _model(2).float()
    d32 = {k: (v.float() if v.is_floating_point() else v) for k, v in d.items()}
    value = batching.accumulated_backward(model, d32, batching.punzi_sums,
                                          lambda t: batching.punzi_loss_from_sums(t, 50.0), 7)
    assert np.isfinite(value)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_fit_with_micro_batches_of_a_sums_loss_reproduces_full_batch_training():
    d = _punzi_data(n=200, seed=4)
    d32 = {k: (v.float() if v.is_floating_point() else v) for k, v in d.items()}
    base = _model(4).float()
    m_fit, m_acc, m_sums = copy.deepcopy(base), copy.deepcopy(base), copy.deepcopy(base)
    kw = dict(epochs=15, batch_size=None, lr=1e-2, device="cpu")
    h_fit = ht.train.fit(m_fit, ht.losses.make_punzi_loss(luminosity=50.0), d32, **kw)
    loss = batching.SumsLoss(batching.punzi_sums, lambda t: batching.punzi_loss_from_sums(t, 50.0))
    h_acc = ht.train.fit(m_acc, loss, d32, micro_batch_size=32, **kw)          # the exact hook
    h_sums = ht.train.fit(m_sums, loss, d32, **kw)                             # the same loss, one batch
    np.testing.assert_allclose(h_acc["loss"], h_fit["loss"], rtol=2e-4)
    np.testing.assert_allclose(h_sums["loss"], h_fit["loss"], rtol=2e-4)
    assert h_acc["loss"][-1] < h_acc["loss"][0] and h_acc["steps"] == 15


def test_sums_loss_gradient_in_micro_batches_equals_one_batch():
    d = _punzi_data(n=300, seed=5)
    loss = batching.SumsLoss(batching.punzi_sums, lambda t: batching.punzi_loss_from_sums(t, 50.0))
    full, acc = _model(5), _model(5)
    whole = dict(d, fraction=0.5)                         # the batch is half of the data set
    loss(full(d["x"]), whole).backward()
    parts = [{k: v[i:i + 70] for k, v in d.items()} for i in range(0, 300, 70)]
    value = loss.micro_backward(acc, parts, 0.5)
    assert float(value) == pytest.approx(float(loss(full(d["x"]), whole).detach()), rel=1e-12)
    for p_full, p_acc in zip(full.parameters(), acc.parameters()):
        np.testing.assert_allclose(p_acc.grad.numpy(), p_full.grad.numpy(), rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="callable"):
        batching.SumsLoss(batching.punzi_sums, None)


def test_accumulation_rejects_bad_input():
    d = _punzi_data(n=20)
    with pytest.raises(ValueError, match="micro_batch_size"):
        batching.accumulated_backward(_model(), d, batching.punzi_sums,
                                      lambda t: batching.punzi_loss_from_sums(t, 50.0), 0)
    with pytest.raises(ValueError, match="micro_batch_size"):
        ht.train.fit(_model(), batching.SumsLoss(batching.punzi_sums, lambda t: t.sum()), d, epochs=1,
                     micro_batch_size=0)


def test_punzi_batch_losses_match_punzi_loss_on_batches():
    d = _punzi_data(n=120, k=5, seed=6)
    out = _model(6)(d["x"]).detach()
    X = batching.punzi_contributions(out.numpy(), d["y"].numpy(), d["w"].numpy(), d["membership"].numpy())
    rng = np.random.default_rng(0)
    for n in (3, 10, 60, 120):
        idx = rng.choice(120, size=n, replace=False)
        f = n / 120
        want = punzi_loss(out[idx], d["y"][idx], d["w"][idx], membership=d["membership"][idx], luminosity=50.0,
                          fraction=f)
        got = batching.punzi_batch_losses(X[idx].sum(axis=0) / f, 50.0)
        if float(d["y"][idx].sum()) == 0 or not (X[idx, :5].sum(axis=0) > 0).any():
            assert float(want) == 0.0 and np.isnan(got)
        else:
            assert float(got) == pytest.approx(float(want), rel=1e-10)
    with pytest.raises(ValueError, match="2K"):
        batching.punzi_batch_losses(np.ones(3), 50.0)


# ---------------------------------------------------------------------------------------------
# the ratio estimator (Elwood & Krücker, Eqs. 4.3-4.4): normalise by the class counts in the batch
# ---------------------------------------------------------------------------------------------
def test_ratio_estimator_by_enumeration():
    """Every batch of 3 out of 6: x-sum times total count over batch count; NaN without a counted event."""
    x = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 4.0], [0.0, 1.0], [3.0, 0.0], [0.0, 2.0]])
    c = (x > 0).astype(float)
    rng = np.random.default_rng(0)
    est = batching.sample_total_estimates(x, [3], n_draws=300, seed=rng, normalise_by=c)[0]
    exact = []
    for comb in itertools.combinations(range(6), 3):
        idx = list(comb)
        cb = c[idx].sum(axis=0)
        exact.append(np.where(cb > 0, x[idx].sum(axis=0) * c.sum(axis=0) / np.maximum(cb, 1), np.nan))
    exact = np.array(exact)
    # every sampled estimate is one of the exact batch values (row-wise, NaN-aware)
    for row in est:
        assert any(np.allclose(row, e, equal_nan=True) for e in exact)
    # a batch of all events gives the totals exactly; equal contributions within a class give zero spread
    full = batching.sample_total_estimates(x, [6], n_draws=2, seed=1, normalise_by=c)
    np.testing.assert_allclose(full[0], np.tile(x.sum(axis=0), (2, 1)))
    flat = np.array([[1.0, 0.0]] * 3 + [[0.0, 2.0]] * 3)
    est_flat = batching.sample_total_estimates(flat, [4], n_draws=50, seed=2, normalise_by=(flat > 0).astype(float))
    np.testing.assert_allclose(est_flat[0], np.tile([3.0, 6.0], (50, 1)))


def test_ratio_estimator_removes_class_count_noise_but_plain_scaling_is_unbiased():
    """With equal contributions per class the plain (N/n) scaling fluctuates with the class counts."""
    rng = np.random.default_rng(4)
    y = (rng.random(400) < 0.5).astype(float)
    x = np.stack([y, 1 - y], axis=1)
    plain = batching.sample_total_estimates(x, [40], n_draws=2000, seed=5)[0]
    ratio = batching.sample_total_estimates(x, [40], n_draws=2000, seed=5, normalise_by=x)[0]
    assert np.std(plain[:, 0]) > 10 * np.std(ratio[:, 0]) + 1e-12
    np.testing.assert_allclose(plain.mean(axis=0), x.sum(axis=0), rtol=0.02)


def test_ratio_estimator_bad_input():
    x = np.ones((5, 2))
    with pytest.raises(ValueError, match="normalise_by"):
        batching.sample_total_estimates(x, [2], normalise_by=np.ones((4, 2)))
    with pytest.raises(ValueError, match="normalise_by"):
        batching.sample_total_estimates(x, [2], normalise_by=-np.ones((5, 2)))
    with pytest.raises(ValueError, match="normalise_by"):
        batching.sample_total_estimates(x, [2], normalise_by=np.zeros((5, 2)))


# ---------------------------------------------------------------------------------------------
# where the delta method is accurate
# ---------------------------------------------------------------------------------------------
def test_accuracy_threshold_walks_up_from_the_smallest_spread():
    predicted = np.array([0.8, 0.4, 0.2, 0.1, 0.0])
    sampled = np.array([1.6, 0.45, 0.23, 0.09, 0.0])        # accurate up to 0.4, fails at 0.8
    assert batching.accuracy_threshold(predicted, sampled) == pytest.approx(0.4)
    # an inaccurate point below an accurate one stops the walk there (no islands of accuracy)
    assert batching.accuracy_threshold([0.4, 0.2, 0.1], [0.4, 0.5, 0.1]) == pytest.approx(0.1)
    assert batching.accuracy_threshold([0.4, 0.2], [0.9, 0.5]) == 0.0
    assert batching.accuracy_threshold([0.4, 0.2], [0.3, 0.17], factor=1.5) == pytest.approx(0.4)
    assert batching.accuracy_threshold([0.3, 0.1], [np.nan, 0.1]) == pytest.approx(0.1)   # NaN: not accurate


def test_accuracy_threshold_on_a_sampled_estimator():
    """For a well-populated total the delta method is accurate: r* reaches the largest spread tested."""
    rng = np.random.default_rng(7)
    x = rng.exponential(size=(5000, 1)) + 1.0
    ns = np.array([50, 200, 1000])
    th = batching.estimator_theory(x, lambda t: 1.0 / t[0], ns)
    est = 1.0 / batching.sample_total_estimates(x, ns, n_draws=800, seed=3)[..., 0]
    assert batching.accuracy_threshold(th["rel_std"], est.std(axis=1) / th["value"]) == pytest.approx(th["rel_std"].max())


def test_accuracy_threshold_bad_input():
    with pytest.raises(ValueError, match="factor"):
        batching.accuracy_threshold([0.1], [0.1], factor=1.0)
    with pytest.raises(ValueError, match="same"):
        batching.accuracy_threshold([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="predicted"):
        batching.accuracy_threshold([-0.1], [0.1])
