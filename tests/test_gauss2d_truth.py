"""The 2-D Gaussian toy's exact answers (Chapter 6): yields of any linear cut and the best linear cut."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hepsig_tutorial.data import (GAUSS2D_CASES, GAUSS2D_LUMINOSITY, GAUSS2D_MEANS, best_cut_along, best_linear_cut,
                                  linear_cut_yields, make_gauss2d)
from hepsig_tutorial.stats import asimov_significance


def test_linear_cut_yields_match_a_simulation():
    d = make_gauss2d(100_000, seed=5)
    for theta, t in ((0.3, 4.0), (-0.4, 1.5), (2.0, 3.0)):
        u = np.array([math.cos(theta), math.sin(theta)])
        y = linear_cut_yields(theta, t)
        passed = d.x.astype(np.float64) @ u >= t
        for k in range(3):
            frac = passed[d.process == k].mean()
            err = math.sqrt(max(frac * (1 - frac), 1e-6) / 100_000)
            assert abs(frac - y["efficiency"][k]) < 5 * err + 1e-5, (theta, t, k)
        xs = np.array(GAUSS2D_CASES[1]) * GAUSS2D_LUMINOSITY
        assert y["s"] == pytest.approx(xs[0] * y["efficiency"][0])
        assert y["b"] == pytest.approx(xs[1] * y["efficiency"][1] + xs[2] * y["efficiency"][2])


def test_sample_weights_are_expected_events_of_the_case():
    """make_gauss2d's weights: each process sums to σ_k · L (case 1 by default, case 2, or given σ's)."""
    for kwargs, xs in ((dict(), GAUSS2D_CASES[1]), (dict(case=2), GAUSS2D_CASES[2]),
                       (dict(cross_sections=(1.0, 2.0, 3.0), luminosity=10.0), (1.0, 2.0, 3.0))):
        d = make_gauss2d(50, seed=1, **kwargs)
        lumi = kwargs.get("luminosity", GAUSS2D_LUMINOSITY)
        for k in range(3):
            assert d.w[d.process == k].sum() == pytest.approx(xs[k] * lumi)
            assert np.ptp(d.w[d.process == k]) == 0  # one weight per process
        np.testing.assert_array_equal(d.y, d.process == 0)
    np.testing.assert_array_equal(make_gauss2d(50, seed=1, case=2).x, d.x)  # the case changes the weights only
    for kwargs, name in ((dict(case=3), "case"), (dict(luminosity=0.0), "luminosity"),
                         (dict(cross_sections=(1.0, -1.0, 1.0)), "cross_sections"), (dict(sigma=0.0), "sigma")):
        with pytest.raises(ValueError, match=name):
            make_gauss2d(10, **kwargs)


def test_angle_and_vector_give_the_same_cut_and_thresholds_broadcast():
    a = linear_cut_yields(0.7, [1.0, 2.0, 3.0], GAUSS2D_CASES[2])
    b = linear_cut_yields(5 * np.array([math.cos(0.7), math.sin(0.7)]), np.array([1.0, 2.0, 3.0]), GAUSS2D_CASES[2])
    np.testing.assert_allclose(a["s"], b["s"])
    assert a["efficiency"].shape == (3, 3)
    assert np.all(np.diff(a["s"]) < 0)  # a tighter cut keeps less
    loose = linear_cut_yields(0.0, -50.0)
    assert loose["s"] == pytest.approx(300.0) and loose["b"] == pytest.approx(303_000.0)


def test_best_cut_along_is_a_maximum_in_the_threshold():
    u = np.array([0.9, -0.3])
    best = best_cut_along(u, GAUSS2D_CASES[1])
    for dt in (-0.05, -0.005, 0.005, 0.05):
        y = linear_cut_yields(u, best["threshold"] + dt, GAUSS2D_CASES[1])
        assert asimov_significance(y["s"], y["b"]) <= best["z"] + 1e-9
    assert best["z"] == pytest.approx(float(asimov_significance(best["s"], best["b"])), rel=1e-9)


@settings(max_examples=15, deadline=None)
@given(theta=st.floats(0, 2 * math.pi), case=st.sampled_from([1, 2]))
def test_no_direction_beats_the_best_linear_cut(theta, case):
    best = _BEST[case]
    assert best_cut_along(theta, GAUSS2D_CASES[case])["z"] <= best["z"] + 1e-7


_BEST = {c: best_linear_cut(GAUSS2D_CASES[c], n_angles=90) for c in (1, 2)}


def test_best_linear_cut_values_and_its_direction():
    for c in (1, 2):
        b = _BEST[c]
        assert b["z"] == pytest.approx(best_cut_along(b["theta"], GAUSS2D_CASES[c])["z"], rel=1e-9)
        assert np.linalg.norm(b["direction"]) == pytest.approx(1.0)
        assert b["z"] >= b["z_by_angle"].max() - 1e-9
        assert 0 <= b["theta"] < 2 * math.pi
    # Case 1's heavy background b2 sits above the signal: the best normal points down in x2, and vice versa
    assert _BEST[1]["direction"][1] < 0 < _BEST[2]["direction"][1]
    # the paper's s/√b is larger than Z_A at the same small-b optimum region and also finite
    sb = best_linear_cut(GAUSS2D_CASES[1], fom="s_over_sqrt_b", n_angles=60)
    assert sb["z"] > _BEST[1]["z"] and np.isfinite(sb["z"])


def test_epsilon_acts_like_a_background():
    """A large ε pushes the optimum of s/√(b + ε) towards keeping the signal, away from the Z_A optimum."""
    small = best_linear_cut(GAUSS2D_CASES[1], fom="s_over_sqrt_b", epsilon=300.0, n_angles=36)
    large = best_linear_cut(GAUSS2D_CASES[1], fom="s_over_sqrt_b", epsilon=300_000.0, n_angles=36)
    assert large["efficiency"][0] > small["efficiency"][0]
    z_small = best_cut_along(small["direction"], GAUSS2D_CASES[1])["z"]
    z_large = best_cut_along(large["direction"], GAUSS2D_CASES[1])["z"]
    assert z_small > z_large
    # the same numbers as adding ε to b by hand
    y = linear_cut_yields(large["direction"], large["threshold"], GAUSS2D_CASES[1])
    assert large["z"] == pytest.approx(y["s"] / math.sqrt(y["b"] + 300_000.0), rel=1e-9)


def test_bad_input():
    with pytest.raises(ValueError, match="direction"):
        linear_cut_yields([0.0, 0.0], 1.0)
    with pytest.raises(ValueError, match="cross_sections"):
        linear_cut_yields(0.0, 1.0, (1.0, 2.0))
    with pytest.raises(ValueError, match="luminosity"):
        linear_cut_yields(0.0, 1.0, GAUSS2D_CASES[1], -1.0)
    with pytest.raises(ValueError, match="threshold"):
        linear_cut_yields(0.0, np.nan)
    with pytest.raises(ValueError, match="fom"):
        best_cut_along(0.0, fom="punzi")
    with pytest.raises(ValueError, match="epsilon"):
        best_cut_along(0.0, epsilon=-1.0)
    with pytest.raises(ValueError, match="n_angles"):
        best_linear_cut(n_angles=3)
    with pytest.raises(ValueError, match="means"):
        linear_cut_yields(0.0, 1.0, means=GAUSS2D_MEANS[:2])
