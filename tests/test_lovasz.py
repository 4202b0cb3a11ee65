"""Tests for the Lovász Z-score loss (hepsig_tutorial.losses.lovasz), its submodularity proof checks
(hepsig_tutorial.submodular), the 2D Gaussian toy and Chapter 6's scan helper."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import hepsig_tutorial.submodular as sm
from hepsig_tutorial.data.gauss2d import GAUSS2D_CASES, make_gauss2d
from hepsig_tutorial.losses.lovasz import (
    ERRORS,
    delta_z,
    hinge_slope_at_zero,
    lovasz_errors,
    lovasz_extension,
    lovasz_z_gradient,
    lovasz_z_loss,
    make_lovasz_z_loss,
    naive_lovasz_z_loss,
    process_weights,
)


# ------------------------------------------------------------------------------------------------
# random ground sets: events drawn from a few processes with cross sections, weights σ_k L / v_k
# ------------------------------------------------------------------------------------------------
def ground_set(seed, p, n_background_processes=2, signal_fraction=None):
    rng = np.random.default_rng(seed)
    n_proc = 1 + n_background_processes
    frac = rng.uniform(0.2, 0.8) if signal_fraction is None else signal_fraction
    process = np.where(rng.random(p) < frac, 0, rng.integers(1, n_proc, p))
    process[0], process[-1] = 0, 1  # at least one signal and one background event
    xs = 10.0 ** rng.uniform(-2, 3, n_proc)
    w = process_weights(process, xs, luminosity=10.0 ** rng.uniform(0, 3.5))
    y = (process == 0).astype(float)
    eps = float(np.sum(w * y)) * 10.0 ** rng.uniform(-3, 3)
    return y, w, eps


def table(y, w, eps, **kw):
    return sm.subset_table(lambda masks: delta_z(masks, y, w, eps, **kw), len(y))


# ------------------------------------------------------------------------------------------------
# Δ_Z itself
# ------------------------------------------------------------------------------------------------
def test_delta_z_formula_and_empty_set():
    y = np.array([1, 1, 0, 0, 0.0])
    w = np.array([2.0, 2.0, 10.0, 10.0, 50.0])
    eps = 4.0
    assert delta_z(np.zeros(5, bool), y, w, eps) == 0.0
    m = np.array([True, False, True, False, True])
    expected = 4 / 2 - (4 - 2) / math.sqrt(4 + 60)
    assert delta_z(m, y, w, eps) == pytest.approx(expected, rel=1e-14)
    # default ε = S = Σ w y
    assert delta_z(m, y, w) == pytest.approx(4 / 2 - 2 / math.sqrt(64), rel=1e-14)
    # every event mispredicted: surviving signal is zero, Δ = S/√ε
    assert delta_z(np.ones(5, bool), y, w, eps) == pytest.approx(2.0)


def test_delta_z_bad_input():
    y, w = np.array([1, 0.0]), np.array([1.0, 1.0])
    with pytest.raises(ValueError, match="target"):
        delta_z([True, False], np.array([1, 2.0]), w)
    with pytest.raises(ValueError, match="weight"):
        delta_z([True, False], y, np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="epsilon"):
        delta_z([True, False], y, w, epsilon=0.0)
    with pytest.raises(ValueError, match="epsilon"):
        delta_z([True, False], np.array([0, 0.0]), w)  # no signal: default ε = 0
    with pytest.raises(ValueError, match="mispredicted"):
        delta_z([True, False, True], y, w)


def test_process_weights_sum_to_expected_events():
    proc = np.array([0, 0, 1, 2, 2, 2, 1])
    w = process_weights(proc, (0.1, 1.0, 100.0), 3000.0)
    for k, xs in enumerate((0.1, 1.0, 100.0)):
        assert w[proc == k].sum() == pytest.approx(xs * 3000.0)
    with pytest.raises(ValueError, match="cross_sections"):
        process_weights(proc, (0.1, 1.0), 3000.0)
    with pytest.raises(ValueError, match="luminosity"):
        process_weights(proc, (0.1, 1.0, 1.0), 0)


# ------------------------------------------------------------------------------------------------
# the proof checks: brute force over every subset
# ------------------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), p=st.integers(2, 9), n_bkg=st.integers(1, 3))
def test_delta_z_submodular_both_definitions(seed, p, n_bkg):
    y, w, eps = ground_set(seed, p, n_bkg)
    v = table(y, w, eps)
    union = sm.verify_union_intersection(v)
    dimin = sm.verify_diminishing_returns(v)
    assert union.checked == 4**p and dimin.checked == p * 3 ** (p - 1)
    assert union.holds, union
    assert dimin.holds, dimin
    # Case I (false negatives added) and Case II (false positives added) of Appendix A
    case1 = sm.verify_diminishing_returns(v, elements=np.flatnonzero(y == 1))
    case2 = sm.verify_diminishing_returns(v, elements=np.flatnonzero(y == 0))
    assert case1.holds and case2.holds
    assert case1.checked + case2.checked == dimin.checked


def test_delta_z_submodular_p12():
    for seed in (1, 2):
        y, w, eps = ground_set(seed, 12)
        v = table(y, w, eps)
        assert sm.verify_diminishing_returns(v).holds
        assert sm.verify_union_intersection(v).holds


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), p=st.integers(2, 8))
def test_appendix_closed_forms(seed, p):
    """Eq. (12) and Eq. (18) are the exact increments; T1 and T2 are larger for D ⊆ C."""
    y, w, eps = ground_set(seed, p)
    S = float(np.sum(w * y))
    rng = np.random.default_rng(seed)
    C = rng.random(p) < 0.5
    D = C & (rng.random(p) < 0.5)  # D ⊆ C
    for i in np.flatnonzero(~C):
        Ci = C.copy()
        Ci[i] = True
        inc = delta_z(Ci, y, w, eps) - delta_z(C, y, w, eps)
        fp_c = float(np.sum((w * (1 - y))[C]))
        fn_c = float(np.sum((w * y)[C]))
        if y[i] == 1:  # Case I, Eq. (12)
            assert inc == pytest.approx(w[i] / math.sqrt(eps + fp_c), rel=1e-9)
        else:  # Case II, Eq. (18): T1 · T2
            t1 = S - fn_c
            t2 = 1 / math.sqrt(eps + fp_c) - 1 / math.sqrt(eps + fp_c + w[i])
            assert inc == pytest.approx(t1 * t2, rel=1e-9, abs=1e-12 * S / math.sqrt(eps))
            t1_d = S - float(np.sum((w * y)[D]))
            fp_d = float(np.sum((w * (1 - y))[D]))
            t2_d = 1 / math.sqrt(eps + fp_d) - 1 / math.sqrt(eps + fp_d + w[i])
            assert t1 <= t1_d + 1e-12 * S and t2 <= t2_d + 1e-15


def test_wrong_signal_total_breaks_submodularity():
    """With the constant S below the ground set's signal weight, (S − FN) turns negative and Eq. (3) fails."""
    y = np.array([1, 1, 1, 0, 0.0])
    w = np.array([1.0, 1.0, 1.0, 5.0, 5.0])
    v = table(y, w, 3.0, signal_total=1.0)
    assert not sm.verify_diminishing_returns(v).holds
    assert table(y, w, 3.0, signal_total=3.0).size == 32
    assert sm.verify_diminishing_returns(table(y, w, 3.0, signal_total=3.0)).holds


# ------------------------------------------------------------------------------------------------
# the Lovász extension: vertices, piecewise linearity, convexity
# ------------------------------------------------------------------------------------------------
def lovasz_z_extension(m, y, w, eps):
    """Δ̄_Z(m) = g(m)·m by Algorithm 1 (the O(p log p) extension)."""
    return float(lovasz_z_gradient(m, y, w, eps) @ m)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), p=st.integers(2, 8))
def test_extension_equals_delta_on_every_vertex(seed, p):
    y, w, eps = ground_set(seed, p)
    masks = sm.all_subsets(p)
    values = delta_z(masks, y, w, eps)
    for mask, value in zip(masks, values):
        m = mask.astype(float)
        assert lovasz_z_extension(m, y, w, eps) == pytest.approx(value, rel=1e-10, abs=1e-12)
        assert lovasz_extension(lambda s: delta_z(s, y, w, eps), m) == pytest.approx(value, rel=1e-10, abs=1e-12)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), p=st.integers(2, 12))
def test_extension_convex_and_piecewise_linear(seed, p):
    y, w, eps = ground_set(seed, p)
    rng = np.random.default_rng(seed)
    f = lambda m: lovasz_z_extension(m, y, w, eps)  # noqa: E731
    a, b = rng.uniform(0, 2, (20, p)), rng.uniform(0, 2, (20, p))
    assert sm.verify_convex_chords(f, a, b).holds
    # linear inside a region of fixed order: two points with the same sorting permutation
    base = np.sort(rng.uniform(0, 2, p))[::-1]
    other = np.sort(rng.uniform(0, 2, p))[::-1]
    perm = rng.permutation(p)
    x1, x2 = np.empty(p), np.empty(p)
    x1[perm], x2[perm] = base, other
    for t in (0.25, 0.5, 0.8):
        assert f(t * x1 + (1 - t) * x2) == pytest.approx(t * f(x1) + (1 - t) * f(x2), rel=1e-10, abs=1e-12)
    # positively homogeneous, and shifting by c·1 adds c·Δ(V)
    assert f(3.0 * x1) == pytest.approx(3.0 * f(x1), rel=1e-12)
    full = delta_z(np.ones(p, bool), y, w, eps)
    assert f(x1 + 0.7) == pytest.approx(f(x1) + 0.7 * full, rel=1e-10)


def test_non_submodular_counterexample():
    """Δ built on s/√(s+b): Eq. (2) fails on two signal events, and its extension is not convex."""
    y, w = np.array([1.0, 1.0]), np.array([1.0, 1.0])
    f = lambda mask: sm.delta_s_over_sqrt_s_plus_b(mask, y, w, 2.0)  # noqa: E731
    a, b, ab = f([True, False]), f([False, True]), f([True, True])
    assert a == pytest.approx(1 - 1 / math.sqrt(3)) and ab == pytest.approx(1.0)
    assert a + b < ab + 0.0  # Eq. (2) violated
    ext = lambda m: lovasz_extension(f, m)  # noqa: E731
    assert ext([0.5, 0.5]) == pytest.approx(0.5)
    assert ext([0.5, 0.5]) > 0.5 * ext([1, 0]) + 0.5 * ext([0, 1])  # not convex
    # and on random ground sets the brute force finds violations of both definitions
    y, w, eps = ground_set(3, 8)
    v = sm.subset_table(lambda m: sm.delta_s_over_sqrt_s_plus_b(m, y, w, eps), 8)
    assert not sm.verify_union_intersection(v).holds
    assert not sm.verify_diminishing_returns(v).holds
    # the worst violating pair (A, B) gives a chord 1_A — 1_B whose midpoint lies above the chord
    union = sm.verify_union_intersection(v)
    a_mask, b_mask = (sm.all_subsets(8)[k].astype(float) for k in union.example)
    chords = sm.verify_convex_chords(lambda m: lovasz_extension(
        lambda s: sm.delta_s_over_sqrt_s_plus_b(s, y, w, eps), m), a_mask[None], b_mask[None])
    assert chords.violations > 0


def test_checks_detect_violations_and_count():
    v = np.array([0.0, 1.0, 1.0, 3.0])  # supermodular on p = 2
    assert not sm.verify_union_intersection(v).holds
    assert sm.verify_diminishing_returns(v).violations == 2
    assert sm.verify_union_intersection(np.array([0.0, 1.0, 1.0, 1.5])).holds
    with pytest.raises(ValueError, match="values"):
        sm.verify_union_intersection(np.zeros(3))
    with pytest.raises(ValueError, match="p"):
        sm.all_subsets(0)


# ------------------------------------------------------------------------------------------------
# the loss: Algorithm 1 vs Eq. (4), autograd vs g(m), the four errors
# ------------------------------------------------------------------------------------------------
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), p=st.integers(1, 40), error=st.sampled_from(ERRORS))
def test_fast_loss_equals_naive_eq4(seed, p, error):
    rng = np.random.default_rng(seed)
    y = (rng.random(p) < 0.5).astype(float)
    y[0] = 1.0
    w = rng.uniform(0.01, 100, p)
    scores = torch.tensor(rng.normal(0, 2, p))
    fast = float(lovasz_z_loss(scores, y, w, error=error))
    assert fast == pytest.approx(naive_lovasz_z_loss(scores, y, w, error=error), rel=1e-10, abs=1e-12)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), p=st.integers(2, 60))
def test_autograd_gradient_equals_algorithm_1(seed, p):
    rng = np.random.default_rng(seed)
    y, w, eps = ground_set(seed, p)
    F = torch.tensor(rng.normal(0, 1.5, p), requires_grad=True)
    lovasz_z_loss(F, y, w, epsilon=eps).backward()
    m = np.maximum(1 - (2 * y - 1) * F.detach().numpy(), 0)
    g = lovasz_z_gradient(m, y, w, eps)
    # chain rule through the hinge: dm/dF = −ỹ where m > 0
    # float64 cumulative sums in a different order (torch vs numpy): agreement to ~1e-15 of the largest increment
    scale = max(1.0, float(np.abs(g).max()))
    np.testing.assert_allclose(F.grad.numpy(), -(2 * y - 1) * g * (m > 0), rtol=1e-10, atol=1e-12 * scale)
    # and g·m reproduces the loss (the extension is linear where the order is fixed)
    assert float(g @ m) == pytest.approx(float(lovasz_z_loss(F.detach(), y, w, epsilon=eps)), rel=1e-10)


def test_paper_algorithm_1_with_corrections_is_a_rescaling():
    """The paper's normalised Algorithm 1 (σ → 1, permuted weights w/S and w/ε) returns Δ_Z·√ε/S."""
    rng = np.random.default_rng(5)
    p = 30
    y, w, eps = ground_set(5, p)
    S = float(np.sum(w * y))
    m = rng.uniform(0, 2, p)
    pi = np.argsort(-m)
    delta = y[pi]
    numerator = 1 - np.cumsum(delta * w[pi] / S)
    denominator = 1 + np.cumsum((1 - delta) * w[pi] / eps)
    g = 1 - numerator / np.sqrt(denominator)
    g[1:] = g[1:] - g[:-1].copy()
    g_orig = np.empty(p)
    g_orig[pi] = g
    np.testing.assert_allclose(g_orig, lovasz_z_gradient(m, y, w, eps) * math.sqrt(eps) / S, rtol=1e-10, atol=1e-15)


def test_finite_difference_gradient_all_errors():
    rng = np.random.default_rng(7)
    p = 25
    y, w, eps = ground_set(7, p)
    for error in ERRORS:
        F = torch.tensor(rng.normal(0, 1, p), requires_grad=True)
        lovasz_z_loss(F, y, w, epsilon=eps, error=error).backward()
        h = 1e-7
        for i in range(0, p, 6):
            Fp, Fm = F.detach().clone(), F.detach().clone()
            Fp[i] += h
            Fm[i] -= h
            fd = (float(lovasz_z_loss(Fp, y, w, epsilon=eps, error=error))
                  - float(lovasz_z_loss(Fm, y, w, epsilon=eps, error=error)))
            assert fd / (2 * h) == pytest.approx(float(F.grad[i]), rel=1e-4, abs=1e-8), (error, i)


def test_error_vectors():
    F = torch.tensor([2.0, -0.5, 0.0, 3.0])
    y = torch.tensor([1.0, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(lovasz_errors(F, y, "hinge").numpy(), [0.0, 1.5, 1.0, 4.0])
    sig = torch.sigmoid(F).numpy()
    np.testing.assert_allclose(lovasz_errors(F, y, "sigmoid").numpy(), [1 - sig[0], 1 - sig[1], sig[2], sig[3]],
                               rtol=1e-6)
    ce = lovasz_errors(F, y, "cross_entropy").numpy()
    np.testing.assert_allclose(ce, [-np.log(sig[0]), -np.log(sig[1]), -np.log(1 - sig[2]), -np.log(1 - sig[3])],
                               rtol=1e-5)
    foc = lovasz_errors(F, y, "focal").numpy()
    pt = np.array([sig[0], sig[1], 1 - sig[2], 1 - sig[3]])
    np.testing.assert_allclose(foc, (1 - pt) ** 2 * -np.log(pt), rtol=1e-5)
    with pytest.raises(ValueError, match="error"):
        lovasz_errors(F, y, "square")


def test_trivial_classifier_value_and_slope():
    y, w, eps = ground_set(11, 50)
    S = float(np.sum(w * y))
    zero = torch.zeros(50, dtype=torch.float64)
    assert float(lovasz_z_loss(zero, y, w, epsilon=eps)) == pytest.approx(S / math.sqrt(eps), rel=1e-12)
    h = np.random.default_rng(1).normal(size=50)
    lam = 0.5 / np.abs(h).max()
    fd = (float(lovasz_z_loss(torch.tensor(lam * h), y, w, epsilon=eps)) - S / math.sqrt(eps)) / lam
    assert hinge_slope_at_zero(h, y, w, eps) == pytest.approx(fd, rel=1e-9)
    # perfect direction (h = ỹ) always decreases the loss
    assert hinge_slope_at_zero(2 * y - 1, y, w, eps) < 0


def test_normalisation_conventions_are_an_epsilon_rescaling():
    """Weights w/f with ε  ≡  weights w with ε·f, up to the factor f^(-1/2) (Chapter 6's normalisation trap)."""
    y, w, eps = ground_set(2, 40)
    F = torch.tensor(np.random.default_rng(0).normal(size=40))
    f = 0.03
    assert float(lovasz_z_loss(F, y, w / f, epsilon=eps)) == pytest.approx(
        float(lovasz_z_loss(F, y, w, epsilon=eps * f)) / math.sqrt(f), rel=1e-10)


def test_float32_finite_at_tiny_yields():
    for s_scale, b_scale in ((1e-6, 1.0), (1.0, 1e-12), (1e-6, 1e-12), (1.0, 1e6)):
        y = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0])
        w = torch.tensor([s_scale, s_scale, b_scale, b_scale, b_scale])
        for error in ERRORS:
            F = torch.tensor([0.3, -2.0, 0.1, 1.0, -0.4], dtype=torch.float32, requires_grad=True)
            loss = lovasz_z_loss(F, y, w, epsilon=1e-3 * s_scale + 1e-12, error=error)
            loss.backward()
            assert loss.dtype == torch.float32
            assert torch.isfinite(loss) and torch.isfinite(F.grad).all()


def test_loss_bad_input():
    F = torch.zeros(3)
    with pytest.raises(ValueError, match="target"):
        lovasz_z_loss(F, [1, 0, 2], [1, 1, 1])
    with pytest.raises(ValueError, match="weight"):
        lovasz_z_loss(F, [1, 0, 0], [1, 0, 1])
    with pytest.raises(ValueError, match="shape"):
        lovasz_z_loss(F, [1, 0], [1, 1])
    with pytest.raises(ValueError, match="pred"):
        lovasz_z_loss(torch.tensor([0.0, float("nan")]), [1, 0], [1, 1])
    with pytest.raises(ValueError, match="epsilon"):
        lovasz_z_loss(F, [0, 0, 0], [1, 1, 1])
    with pytest.raises(ValueError, match="error"):
        make_lovasz_z_loss(epsilon=1.0, error="nope")
    with pytest.raises(ValueError, match="normalisation"):
        make_lovasz_z_loss(epsilon=1.0, normalisation="batchwise")
    with pytest.raises(ValueError, match="epsilon"):
        make_lovasz_z_loss(epsilon=-1.0)


def test_loss_fn_trains_with_fit():
    import hepsig_tutorial as ht

    d = make_gauss2d(300, seed=0)
    w = process_weights(d.process, GAUSS2D_CASES[1], 3000.0)
    x = ht.data.Scaler().fit_transform(d.x)
    torch.manual_seed(0)
    model = ht.models.mlp(2, (), output="linear")
    loss_fn = make_lovasz_z_loss(epsilon=100 * 300.0, error="hinge", normalisation="scaled")
    hist = ht.train.fit(model, loss_fn, {"x": x, "y": d.y, "w": w}, epochs=15, batch_size=300, lr=0.05,
                        optimizer="radam", device="cpu")
    assert all(math.isfinite(v) for v in hist["loss"])
    assert hist["loss"][-1] < hist["loss"][0]  # κ = 100: the trivial classifier is not the minimum here
    batch = {"y": torch.as_tensor(d.y), "w": torch.as_tensor(w), "fraction": 0.5}
    out = torch.zeros(len(w))
    scaled = make_lovasz_z_loss(epsilon=300.0, normalisation="scaled")(out, batch)
    dataset = make_lovasz_z_loss(epsilon=300.0, normalisation="dataset")(out, batch)
    assert float(scaled) == pytest.approx(float(np.sum(w * d.y)) / 0.5 / math.sqrt(300.0), rel=1e-5)
    assert float(dataset) == pytest.approx(float(np.sum(w * d.y)) / math.sqrt(300.0), rel=1e-5)


# ------------------------------------------------------------------------------------------------
# toy data and the scan
# ------------------------------------------------------------------------------------------------
def test_gauss2d_generator():
    a, b = make_gauss2d(1000, seed=3), make_gauss2d(1000, seed=3)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.x.shape == (3000, 2) and a.x.dtype == np.float32
    assert np.bincount(a.process).tolist() == [1000, 1000, 1000]
    np.testing.assert_allclose(a.x[a.process == 0].mean(0), [4, 7], atol=0.1)
    assert set(np.unique(a.y)) == {0.0, 1.0}
    with pytest.raises(ValueError, match="n_per_process"):
        make_gauss2d(0)
    with pytest.raises(ValueError, match="sigma"):
        make_gauss2d(10, sigma=-1.0)


def test_chapter_figures_smoke():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import hepsig_tutorial as ht

    fig = ht.plots.plot_loss_landscapes(n=7)
    assert len(fig.axes) == 8  # four panels and their colour bars
    ax = ht.plots.plot_slopes(np.array([1, 10]), np.array([0.2, -0.1]))
    assert ax.get_xscale() == "log"
    plt.close("all")


# ------------------------------------------------------------------------------------------------
# device hygiene (issue 17): increments on the scores' device, no host round trips
# ------------------------------------------------------------------------------------------------
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), p=st.integers(2, 80), error=st.sampled_from(ERRORS))
def test_default_epsilon_gradient_equals_algorithm_1(seed, p, error):
    """ε = S computed on the device (a tensor) gives exactly the NumPy Algorithm 1 increments."""
    rng = np.random.default_rng(seed)
    y, w, _ = ground_set(seed, p)
    F = torch.tensor(rng.normal(0, 1.5, p), requires_grad=True)
    loss = lovasz_z_loss(F, torch.as_tensor(y), torch.as_tensor(w), error=error)
    (dm,) = torch.autograd.grad(loss, F, retain_graph=True)
    m = lovasz_errors(F, torch.as_tensor(y), error=error)
    g = lovasz_z_gradient(m.detach().numpy(), y, w)
    (want,) = torch.autograd.grad(m, F, torch.as_tensor(g))          # chain rule with the NumPy g
    # S is summed by torch here and by NumPy there (another order): equal to float64 rounding of Δ_Z ~ S/√ε,
    # which the differences g_i = Δ_i − Δ_{i−1} inherit as an absolute error
    np.testing.assert_allclose(dm.numpy(), want.numpy(), rtol=1e-12, atol=1e-13 * float(np.abs(g).max()))
    assert float(loss.detach()) == pytest.approx(float(g @ m.detach().numpy()), rel=1e-12)


def test_loss_makes_no_host_round_trip():
    """With validate=False the loss never converts a tensor to a Python/NumPy value (no device sync)."""
    y, w, eps = ground_set(1, 50)
    yt, wt = torch.as_tensor(y), torch.as_tensor(w)
    F = torch.randn(50, dtype=torch.float64, requires_grad=True)
    names = ("__bool__", "__int__", "__float__", "__index__", "item", "tolist", "numpy")
    saved = {name: getattr(torch.Tensor, name) for name in names}

    def refuse(*args, **kwargs):
        raise AssertionError("host synchronisation")

    try:
        for name in names:
            setattr(torch.Tensor, name, refuse)
        # (without signal_total the CPU sums S with NumPy, bit-identical to lovasz_z_gradient -- there is no
        # device there; on a GPU S stays on the device: the gpu tests of tests/test_device.py run that path)
        S = float(np.sum(w * y))
        for epsilon in (eps, None):
            lovasz_z_loss(F, yt, wt, epsilon=epsilon, signal_total=S, validate=False).backward()
        with pytest.raises(AssertionError, match="host"):
            lovasz_z_loss(F, yt, wt, epsilon=eps)                            # validation does synchronise
    finally:
        for name, fn in saved.items():
            setattr(torch.Tensor, name, fn)
    assert torch.isfinite(F.grad).all()


def test_loss_fn_checks_values_on_first_call_only():
    fn = make_lovasz_z_loss(epsilon=1.0)
    good = {"y": torch.tensor([1.0, 0.0, 0.0]), "w": torch.tensor([1.0, 2.0, 3.0]), "fraction": 1.0}
    bad = dict(good, y=torch.tensor([1.0, 0.0, 2.0]))
    with pytest.raises(ValueError, match="target"):
        make_lovasz_z_loss(epsilon=1.0)(torch.zeros(3), bad)                   # first call: checked
    fn(torch.zeros(3), good)
    assert isinstance(fn(torch.zeros(3), bad), torch.Tensor)         # later calls: not checked (no sync)


def test_naive_loss_accepts_scores_on_any_device():
    """naive_lovasz_z_loss copies scores to the CPU itself (it used to mix devices and call .numpy())."""
    y, w, eps = ground_set(2, 12)
    F = torch.randn(12, dtype=torch.float64, requires_grad=True)
    want = float(lovasz_z_loss(F, y, w, epsilon=eps).detach())
    assert naive_lovasz_z_loss(F, y, w, epsilon=eps) == pytest.approx(want, rel=1e-10)   # F requires grad: fine
    # (on a GPU, tests/test_device.py runs it with CUDA scores)
