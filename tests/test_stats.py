"""Tests of hepsig_tutorial.stats: limits, tails, float32 accuracy, gradients, bad input, pyhf."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hepsig_tutorial import stats

mp.mp.dps = 50


def za_reference(s, b, sigma_b):
    """Eq. (3.1) of significance-asimov-losses.txt in 50-digit arithmetic."""
    if sigma_b == 0:
        s, b = mp.mpf(s), mp.mpf(b)
        return float(mp.sqrt(2 * ((s + b) * mp.log(1 + s / b) - s)))
    # the two terms cancel to ~ (sigma_b^2/b)^2 relative: carry enough digits for any sigma_b
    digits = 60 + int(max(0.0, -2 * math.log10(sigma_b**2 / b + 1e-300) + 2 * abs(math.log10(s / b + 1e-300))))
    with mp.workdps(digits):
        s, b, sg = mp.mpf(s), mp.mpf(b), mp.mpf(sigma_b)
        t1 = (s + b) * mp.log((s + b) * (b + sg**2) / (b**2 + (s + b) * sg**2))
        t2 = b**2 / sg**2 * mp.log(1 + sg**2 * s / (b * (b + sg**2)))
        return float(mp.sqrt(2 * (t1 - t2)))


# ---------------------------------------------------------------------------------------------
# p-values and Z
# ---------------------------------------------------------------------------------------------
def test_poisson_pvalue_matches_direct_sum():
    b = 3.7
    for n in range(0, 25):
        direct = 1.0 - sum(math.exp(-b) * b**k / math.factorial(k) for k in range(n))
        assert stats.poisson_pvalue(n, b) == pytest.approx(direct, rel=1e-10, abs=1e-15)
    assert stats.poisson_pvalue(0, 5.0) == 1.0


def test_poisson_pvalue_far_tail_is_relative_accurate():
    # P(N >= 60 | 2) is dominated by its first term
    b, n = 2.0, 60
    first = mp.e ** (-b) * mp.mpf(b) ** n / mp.factorial(n)
    tail = sum(mp.e ** (-b) * mp.mpf(b) ** k / mp.factorial(k) for k in range(n, n + 80))
    assert stats.poisson_pvalue(n, b) == pytest.approx(float(tail), rel=1e-10)
    assert float(tail) > float(first)


@pytest.mark.parametrize("z", [0.0, 1.0, 3.0, 5.0, 8.5, 12.0, 20.0, 30.0])
def test_z_p_round_trip_far_in_the_tail(z):
    p = stats.z_to_pvalue(z)
    assert p > 0
    assert stats.pvalue_to_z(p) == pytest.approx(z, abs=1e-9)


def test_known_tail_values():
    assert stats.z_to_pvalue(5.0) == pytest.approx(2.866515718791939e-07, rel=1e-12)
    assert stats.z_to_pvalue(30.0) == pytest.approx(4.906713927148187e-198, rel=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=-3, max_value=30))
def test_round_trip_property(z):
    # (below Z = -3, p is within 1e-3 of 1 and float64 cannot hold the difference to 1e-8 in Z)
    assert stats.pvalue_to_z(stats.z_to_pvalue(z)) == pytest.approx(z, abs=1e-8)


def test_torch_p_z_functions_are_differentiable():
    z = torch.tensor([1.0, 3.0, 6.0], dtype=torch.float64, requires_grad=True)
    p = stats.z_to_pvalue(z)
    p.sum().backward()
    phi = torch.exp(-0.5 * z.detach() ** 2) / math.sqrt(2 * math.pi)
    assert torch.allclose(z.grad, -phi, rtol=1e-10)
    back = stats.pvalue_to_z(p.detach())
    assert torch.allclose(back, z.detach(), atol=1e-9)


def test_exact_significance_survives_underflow_of_p():
    # p underflows float64 here; the log-space path must agree with Z_A to < 1 % (both are ~100σ)
    z = stats.exact_poisson_significance(31000.0, 1000.0)
    assert math.isfinite(z)
    assert z == pytest.approx(stats.asimov_significance(31000.0, 1000.0), rel=1e-2)
    # and be continuous across the switch between the two paths
    s = np.linspace(200.0, 260.0, 61)
    zz = stats.exact_poisson_significance(s, 20.0)
    assert np.all(np.diff(zz) > 0)


# ---------------------------------------------------------------------------------------------
# approximations
# ---------------------------------------------------------------------------------------------
def test_simple_and_s_over_sqrt_s_plus_b():
    assert stats.simple_significance(10.0, 25.0) == pytest.approx(2.0)
    assert stats.s_over_sqrt_s_plus_b(10.0, 15.0) == pytest.approx(2.0)
    assert stats.s_over_sqrt_s_plus_b(4.0, 0.0) == pytest.approx(2.0)


def test_asimov_sigma_zero_is_eq_3_2_exactly():
    s = np.array([1e-6, 1e-3, 0.05, 0.099, 0.1, 0.101, 1.0, 7.0, 100.0, 1e4])
    for b in (1e-3, 0.7, 10.0, 1e5):
        direct = np.sqrt(2 * ((s * b + b) * np.log1p(s) - s * b))
        ours = stats.asimov_significance(s * b, b, 0.0)
        big = s >= 1e-3  # below that the direct form itself loses digits
        np.testing.assert_allclose(ours[big], direct[big], rtol=1e-12)


@settings(max_examples=300, deadline=None)
@given(
    log_x=st.floats(min_value=-4, max_value=2),
    log_b=st.floats(min_value=-2, max_value=5),
    rel=st.floats(min_value=0, max_value=1),
)
def test_asimov_float32_accuracy_and_float64_exactness(log_x, log_b, rel):
    b = 10.0**log_b
    s = 10.0**log_x * b
    sg = rel * b
    ref = za_reference(s, b, sg)
    z64 = stats.asimov_significance(s, b, sg)
    assert z64 == pytest.approx(ref, rel=1e-10)
    t = lambda v: torch.tensor(v, dtype=torch.float32)  # noqa: E731
    z32 = stats.asimov_significance(t(s), t(b), t(sg)).item()
    # the float32 inputs themselves are rounded: compare with the reference at those inputs
    ref32 = za_reference(float(t(s)), float(t(b)), float(t(sg)))
    assert z32 == pytest.approx(ref32, rel=1e-4)


def test_asimov_float32_grid_worst_case():
    worst = 0.0
    for b in (1e-2, 1.0, 30.0, 1e4):
        for x in np.logspace(-4, 2, 31):
            for rel in (0.0, 1e-3, 0.1, 0.5, 1.0):
                s32, b32, sg32 = (torch.tensor(v, dtype=torch.float32) for v in (x * b, b, rel * b))
                z = stats.asimov_significance(s32, b32, sg32).item()
                ref = za_reference(float(s32), float(b32), float(sg32))
                worst = max(worst, abs(z / ref - 1))
    assert worst < 1e-4


def test_naive_formula_really_cancels_in_float32():
    """The reason for the rewrite: Eq. (3.1) as printed is > 10 % off at s/b = 1e-4 in float32."""
    s, b, sg = torch.tensor(0.01), torch.tensor(100.0), torch.tensor(10.0)
    naive = torch.sqrt(2 * ((s + b) * torch.log((s + b) * (b + sg**2) / (b**2 + (s + b) * sg**2))
                            - b**2 / sg**2 * torch.log(1 + sg**2 * s / (b * (b + sg**2)))))
    ref = za_reference(0.01, 100.0, 10.0)
    assert abs(naive.item() / ref - 1) > 0.1
    assert abs(stats.asimov_significance(s, b, sg).item() / ref - 1) < 1e-5


@settings(max_examples=200, deadline=None)
@given(log_x=st.floats(min_value=-4, max_value=2), log_b=st.floats(min_value=-2, max_value=4),
       rel=st.floats(min_value=0, max_value=1))
def test_asimov_gradients_finite_float32(log_x, log_b, rel):
    b = 10.0**log_b
    s = torch.tensor(10.0**log_x * b, dtype=torch.float32, requires_grad=True)
    bb = torch.tensor(b, dtype=torch.float32, requires_grad=True)
    sg = torch.tensor(rel * b, dtype=torch.float32, requires_grad=True)
    z = stats.asimov_significance(s, bb, sg)
    z.backward()
    for g in (s.grad, bb.grad, sg.grad):
        assert torch.isfinite(g).all()
    assert s.grad > 0  # more signal, more significance
    assert sg.grad <= 0  # more uncertainty, less significance (dZ/db at fixed absolute sigma_b can have either sign)


def test_asimov_gradients_at_the_edges():
    # s = 0, sigma_b = 0: dZ/ds = 1/sqrt(b + sigma_b^2), dZ/dsigma_b = 0
    s = torch.tensor([0.0, 0.0], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([4.0, 4.0], dtype=torch.float64)
    sg = torch.tensor([0.0, 3.0], dtype=torch.float64, requires_grad=True)
    z = stats.asimov_significance(s, b, sg)
    z.sum().backward()
    assert torch.all(z == 0)
    assert s.grad.tolist() == pytest.approx([0.5, 1 / math.sqrt(13.0)], rel=1e-12)
    assert torch.isfinite(sg.grad).all()
    # tiny background: finite value and gradients
    s2 = torch.tensor(1.0, requires_grad=True)
    b2 = torch.tensor(1e-6, requires_grad=True)
    z2 = stats.asimov_significance(s2, b2, 0.1 * b2)
    z2.backward()
    assert torch.isfinite(z2) and torch.isfinite(s2.grad) and torch.isfinite(b2.grad)


def test_asimov_gradcheck_float64():
    for s0 in (1e-3, 0.05, 0.2, 3.0):
        inputs = (torch.tensor([s0], dtype=torch.float64, requires_grad=True),
                  torch.tensor([2.0], dtype=torch.float64, requires_grad=True),
                  torch.tensor([0.7], dtype=torch.float64, requires_grad=True))
        assert torch.autograd.gradcheck(stats.asimov_significance, inputs)


@settings(max_examples=100, deadline=None)
@given(b=st.floats(min_value=10, max_value=1e6), rel=st.floats(min_value=0, max_value=0.3))
def test_asimov_small_signal_limit(b, rel):
    """For s ≪ b and σ_b² ≪ b... more precisely Z_A → s/√(b + σ_b²) as s/b → 0."""
    s = 1e-6 * b
    sg = rel * math.sqrt(b)
    assert stats.asimov_significance(s, b, sg) == pytest.approx(s / math.sqrt(b + sg**2), rel=1e-5)


@settings(max_examples=100, deadline=None)
@given(s=st.floats(min_value=0.1, max_value=100), b=st.floats(min_value=0.1, max_value=1e3))
def test_asimov_continuity_at_sigma_zero_and_monotone(s, b):
    z0 = stats.asimov_significance(s, b, 0.0)
    assert stats.asimov_significance(s, b, 1e-7 * b) == pytest.approx(z0, rel=1e-6)
    zs = stats.asimov_significance(s, b, np.array([0.0, 0.1, 0.5, 1.0]) * b)
    assert np.all(np.diff(zs) <= 1e-12)


def test_asimov_vs_pyhf_profile_likelihood():
    """Z_A is the discovery significance of the Asimov data set of a one-bin model with a Poisson
    (Gamma) constrained background -- exactly pyhf's uncorrelated_background model."""
    pyhf = pytest.importorskip("pyhf")
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer(tolerance=1e-12))
    for s, b, sg in [(5.0, 100.0, 10.0), (10.0, 10.0, 2.0), (30.0, 20.0, 10.0), (3.0, 50.0, 5.0), (8.0, 2.0, 0.5)]:
        model = pyhf.simplemodels.uncorrelated_background(signal=[s], bkg=[b], bkg_uncertainty=[sg])
        data = [s + b] + model.config.auxdata
        q0 = pyhf.infer.test_statistics.q0(0.0, data, model, model.config.suggested_init(),
                                           model.config.suggested_bounds(), model.config.suggested_fixed())
        assert stats.asimov_significance(s, b, sg) == pytest.approx(math.sqrt(float(q0)), rel=1e-6)


def test_asimov_between_exact_extremes():
    # Z_A is bounded above by s/sqrt(b) for sigma_b = 0 (it is the better approximation)
    s, b = np.array([1.0, 10.0, 100.0]), np.array([10.0, 10.0, 10.0])
    assert np.all(stats.asimov_significance(s, b) < stats.simple_significance(s, b))
    assert np.all(stats.asimov_significance(s, b) > stats.s_over_sqrt_s_plus_b(s, b))


# ---------------------------------------------------------------------------------------------
# Punzi
# ---------------------------------------------------------------------------------------------
def test_punzi_formula_values():
    a, bb = 3.0, 1.28
    B, eff, L = 16.0, 0.25, 50.0
    expected = (bb**2 / 2 + a * 4.0 + bb / 2 * math.sqrt(bb**2 + 4 * a * 4.0 + 4 * B)) / (eff * L)
    assert stats.punzi_sensitivity(eff, B, a=a, b=bb, luminosity=L) == pytest.approx(expected, rel=1e-14)
    refined = (a**2 / 8 + 9 * bb**2 / 13 + a * 4.0 + bb / 2 * math.sqrt(bb**2 + 4 * a * 4.0 + 4 * B)) / (eff * L)
    assert stats.punzi_sensitivity(eff, B, a=a, b=bb, luminosity=L, refined=True) == pytest.approx(refined, rel=1e-14)


def test_punzi_at_zero_background_value_and_gradient():
    assert stats.punzi_sensitivity(1.0, 0.0) == pytest.approx(1.28**2)
    for dtype in (torch.float32, torch.float64):
        eff = torch.tensor(0.4, dtype=dtype, requires_grad=True)
        B = torch.tensor(0.0, dtype=dtype, requires_grad=True)
        val = stats.punzi_sensitivity(eff, B, luminosity=50.0)
        val.backward()
        assert torch.isfinite(val) and torch.isfinite(B.grad) and torch.isfinite(eff.grad)
        assert B.grad > 0 and eff.grad < 0


def test_punzi_gradcheck_and_large_b_limit():
    inputs = (torch.tensor([0.3, 0.9], dtype=torch.float64, requires_grad=True),
              torch.tensor([0.5, 40.0], dtype=torch.float64, requires_grad=True))
    assert torch.autograd.gradcheck(lambda e, B: stats.punzi_sensitivity(e, B, luminosity=2.0), inputs)
    B = 1e8
    assert stats.punzi_sensitivity(1.0, B) == pytest.approx((3.0 + 1.28) * math.sqrt(B), rel=1e-3)


def test_punzi_is_monotone():
    B = np.logspace(-3, 4, 50)
    v = stats.punzi_sensitivity(0.5, B)
    assert np.all(np.diff(v) > 0)
    e = np.linspace(0.05, 1, 20)
    assert np.all(np.diff(stats.punzi_sensitivity(e, 3.0)) < 0)


def test_punzi_with_background_uncertainty_solves_its_condition():
    a, bb, B = 3.0, 1.28, np.array([0.0, 0.7, 5.0, 400.0])
    assert np.array_equal(stats.punzi_sensitivity(0.3, B, sigma_b=0.0), stats.punzi_sensitivity(0.3, B))
    for sigma in (0.5, 0.2 * B + 0.1, 30.0):
        S = stats.punzi_sensitivity(1.0, B, a=a, b=bb, sigma_b=sigma)  # ε L = 1: σ_min is the signal S
        # the defining condition S = a√(B + σ_b²) + b√(S + B)
        np.testing.assert_allclose(S, a * np.sqrt(B + sigma**2) + bb * np.sqrt(S + B), rtol=1e-12)
        assert np.all(S > stats.punzi_sensitivity(1.0, B, a=a, b=bb))
    # σ_b = r·B: σ_min grows like a·r·B at large B, not like √B
    r, B_big = 0.2, 1e8
    assert stats.punzi_sensitivity(1.0, B_big, sigma_b=r * B_big) == pytest.approx(a * r * B_big, rel=1e-3)


def test_punzi_with_background_uncertainty_gradient_is_finite_at_zero():
    B = torch.tensor([0.0, 3.0], dtype=torch.float64, requires_grad=True)
    sigma = torch.tensor([0.0, 0.6], dtype=torch.float64, requires_grad=True)
    val = stats.punzi_sensitivity(torch.tensor(0.5, dtype=torch.float64), B, sigma_b=sigma)
    val.sum().backward()
    assert torch.isfinite(B.grad).all() and torch.isfinite(sigma.grad).all() and sigma.grad[1] > 0
    assert torch.autograd.gradcheck(lambda s: stats.punzi_sensitivity(0.5, torch.tensor([2.0, 9.0], dtype=torch.float64),
                                                                       sigma_b=s), (sigma.detach()[1:].clone().requires_grad_(),))
    with pytest.raises(ValueError, match="sigma_b"):
        stats.punzi_sensitivity(0.5, 1.0, sigma_b=-0.1)


def test_discovery_probability_near_cl_at_large_background():
    for B in (300.0, 3000.0):
        S = stats.punzi_sensitivity(1.0, B)
        assert stats.discovery_probability(S, B) == pytest.approx(0.9, abs=0.02)
    # and the b^2/2 form under-covers at B = 1 while the refined one is closer
    assert stats.discovery_probability(stats.punzi_sensitivity(1.0, 1.0), 1.0) < 0.8
    assert stats.discovery_probability(stats.punzi_sensitivity(1.0, 1.0, refined=True), 1.0) > 0.85


# ---------------------------------------------------------------------------------------------
# types and bad input
# ---------------------------------------------------------------------------------------------
def test_return_types_follow_the_input():
    assert isinstance(stats.asimov_significance(1.0, 2.0), float)
    assert isinstance(stats.asimov_significance(np.array([1.0]), 2.0), np.ndarray)
    out = stats.asimov_significance(torch.tensor([1.0]), 2.0)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    assert isinstance(stats.punzi_sensitivity(0.5, 3), float)
    assert isinstance(stats.poisson_pvalue(np.array([3, 4]), 1.0), np.ndarray)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: stats.asimov_significance(-1.0, 2.0), "s"),
        (lambda: stats.asimov_significance(1.0, 0.0), "b"),
        (lambda: stats.asimov_significance(1.0, 2.0, -0.1), "sigma_b"),
        (lambda: stats.asimov_significance(np.ones(3), np.ones(2)), "shapes"),
        (lambda: stats.asimov_significance(float("nan"), 1.0), "s"),
        (lambda: stats.punzi_sensitivity(0.0, 1.0), "efficiency"),
        (lambda: stats.punzi_sensitivity(1.2, 1.0), "efficiency"),
        (lambda: stats.punzi_sensitivity(0.5, -1.0), "background"),
        (lambda: stats.punzi_sensitivity(0.5, 1.0, a=-3), "a"),
        (lambda: stats.punzi_sensitivity(0.5, 1.0, luminosity=0), "luminosity"),
        (lambda: stats.punzi_sensitivity(torch.ones(3), torch.ones(2)), "shapes"),
        (lambda: stats.poisson_pvalue(-1, 2.0), "n_obs"),
        (lambda: stats.poisson_pvalue(1, 0.0), "b"),
        (lambda: stats.pvalue_to_z(0.0), "p"),
        (lambda: stats.pvalue_to_z(1.5), "p"),
        (lambda: stats.simple_significance(1.0, 0.0), "b"),
        (lambda: stats.s_over_sqrt_s_plus_b(0.0, 0.0), "s + b"),
        (lambda: stats.asimov_significance("many", 1.0), "s"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=name.replace("+", r"\+")):
        call()
