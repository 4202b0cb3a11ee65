"""The evaluation protocol (hepsig_tutorial.metrics): yields, floor rule, bootstrap errors, comparisons."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hepsig_tutorial import metrics, stats


def _toy(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    s = rng.normal(1.5 * y, 1.0)
    proc = rng.integers(0, 3, n)
    w = np.where(y == 1, 0.01, np.array([0.2, 2.0, 7.0])[proc])
    return s, y, w, proc


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(5, 300))
def test_yields_equal_brute_force_sums(seed, n):
    s, y, w, proc = _toy(n, seed)
    cuts = np.sort(np.random.default_rng(seed + 1).normal(size=7))
    scan = metrics.cut_scan(s, y, w, process=proc, cuts=cuts)
    for t, c in enumerate(scan.cuts):
        keep = s >= c
        assert scan.s[0, t] == pytest.approx(w[keep & (y == 1)].sum(), abs=1e-9)
        assert scan.b_raw[0, t] == pytest.approx(w[keep & (y == 0)].sum(), abs=1e-9)
        assert scan.n_background[0, t] == np.sum(keep & (y == 0))
        for i, p in enumerate(scan.processes):
            raw = w[keep & (y == 0) & (proc == p)].sum()
            floor = metrics.FLOOR_EVENTS * w[(y == 0) & (proc == p)].mean()
            assert scan.b_process[0, i, t] == pytest.approx(raw, abs=1e-9)
            assert scan.floor[i] == pytest.approx(floor)
        expected_b = sum(max(w[keep & (y == 0) & (proc == p)].sum(), scan.floor[i])
                         for i, p in enumerate(scan.processes))
        assert scan.b[0, t] == pytest.approx(expected_b)


def test_floor_is_one_sided_68_percent_upper_limit_for_zero_events():
    assert math.exp(-metrics.FLOOR_EVENTS) == pytest.approx(0.32)


def test_groups_as_matrix_indices_and_masks_agree_with_subsets():
    s, y, w, proc = _toy(2000, 3)
    rng = np.random.default_rng(4)
    member = rng.random((len(s), 4)) < 0.4
    cuts = np.linspace(-2, 3, 11)
    a = metrics.cut_scan(s, y, w, process=proc, cuts=cuts, groups=member)
    b = metrics.cut_scan(s, y, w, process=proc, cuts=cuts, groups=[np.flatnonzero(c) for c in member.T])
    c = metrics.cut_scan(s, y, w, process=proc, cuts=cuts, groups=list(member.T))
    np.testing.assert_allclose(a.s, b.s)
    np.testing.assert_allclose(a.b, c.b)
    for k in range(4):
        m = member[:, k]
        one = metrics.cut_scan(s[m], y[m], w[m], process=proc[m], cuts=cuts)
        np.testing.assert_allclose(a.s[k], one.s[0])
        np.testing.assert_allclose(a.b_raw[k], one.b_raw[0])
    assert not a.squeeze and a.s.shape == (4, 11)


def test_bootstrap_mean_and_variance_match_sum_of_squared_weights():
    s, y, w, proc = _toy(4000, 5)
    scan = metrics.cut_scan(s, y, w, process=proc, cuts=[-np.inf, 0.0, 1.0, 2.0], n_bootstrap=400, seed=9)
    for t, c in enumerate(scan.cuts):
        keep = s >= c
        var_s = np.sum(w[keep & (y == 1)] ** 2)
        var_b = np.sum(w[keep & (y == 0)] ** 2)
        assert scan.boot_s[:, 0, t].mean() == pytest.approx(scan.s[0, t], rel=4 * math.sqrt(var_s) / scan.s[0, t] / 20)
        # the variance of a Poisson bootstrap of a sum is the sum of squared weights (± sampling error of R = 400)
        assert scan.boot_s[:, 0, t].var(ddof=1) == pytest.approx(var_s, rel=0.25)
        assert scan.boot_b_process[:, 0].sum(axis=1)[:, t].var(ddof=1) == pytest.approx(var_b, rel=0.25)


def test_bootstrap_replicates_are_shared_between_scores_on_the_same_sample():
    s, y, w, proc = _toy(1500, 6)
    a = metrics.cut_scan(s, y, w, process=proc, n_bootstrap=30, seed=2)
    b = metrics.cut_scan(s.copy(), y, w, process=proc, n_bootstrap=30, seed=2)
    np.testing.assert_array_equal(a.boot_s, b.boot_s)
    za, zb = metrics.asimov_z(a, 0.1), metrics.asimov_z(b, 0.1)
    ia = metrics.best_cut(za, a)
    va, ra = metrics.at_cut(za, ia)
    vb, rb = metrics.at_cut(zb, ia)
    d = metrics.paired_difference([va, va], [vb, vb], np.stack([ra, ra]), np.stack([rb, rb]))
    assert d.value == 0 and d.se == 0 and d.p == 1.0
    # a different bootstrap seed gives different replicates
    c = metrics.cut_scan(s, y, w, process=proc, n_bootstrap=30, seed=3)
    assert not np.array_equal(a.boot_s, c.boot_s)


def test_figures_of_merit_match_stats_at_a_cut():
    s, y, w, proc = _toy(3000, 7)
    scan = metrics.cut_scan(s, y, w, process=proc, n_bootstrap=5)
    t = 120
    sb, bb = scan.s[0, t], scan.b[0, t]
    z, zr = metrics.at_cut(metrics.asimov_z(scan, 0.3), t)
    assert z == pytest.approx(float(stats.asimov_significance(sb, bb, 0.3 * bb)))
    assert zr.shape == (5,)
    total = w[y == 1].sum() * 2  # half of the signal was lost before the sample (acceptance)
    sig, _ = metrics.at_cut(metrics.punzi_sigma_min(scan, luminosity=50.0, signal_total=total), t)
    assert sig == pytest.approx(float(stats.punzi_sensitivity(sb / total, bb, luminosity=50.0)))


def test_best_cut_respects_the_simulated_event_minimum_and_choose_on_other_sample():
    s, y, w, proc = _toy(3000, 8)
    scan = metrics.cut_scan(s, y, w, process=proc)
    z = metrics.asimov_z(scan)
    i = metrics.best_cut(z, scan, min_background_events=50)
    assert scan.n_background[0, i] >= 50
    j = metrics.best_cut(z, scan, min_background_events=0)
    assert z[0][0, j] >= z[0][0, i]
    with pytest.raises(ValueError, match="min_background_events"):
        metrics.best_cut(z, scan, min_background_events=10**6)
    # chosen on one sample, quoted on another: the test value need not be the test maximum
    s2, y2, w2, p2 = _toy(3000, 9)
    test = metrics.cut_scan(s2, y2, w2, process=p2, cuts=scan.cuts)
    zt, _ = metrics.at_cut(metrics.asimov_z(test), i)
    assert zt <= metrics.asimov_z(test)[0].max()


def test_global_cut_over_groups():
    s, y, w, proc = _toy(4000, 10)
    member = np.random.default_rng(1).random((len(s), 3)) < 0.5
    scan = metrics.cut_scan(s, y, w, process=proc, groups=member)
    sig = metrics.punzi_sigma_min(scan, luminosity=1.0, signal_total=w[y == 1].sum())
    per = metrics.best_cut(sig, scan, maximize=False)
    g = metrics.best_cut(sig, scan, maximize=False, combine="mean")
    assert per.shape == (3,) and isinstance(g, int)
    v_per, _ = metrics.at_cut(sig, per)
    v_g, _ = metrics.at_cut(sig, g)
    assert np.all(v_per <= v_g + 1e-12)


def test_holm_against_a_worked_example():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005 ≤ .05/4, 0.01 ≤ .05/3, 0.03 > .05/2 → stop
    np.testing.assert_array_equal(metrics.holm(p, 0.05), [True, False, False, True])
    assert not metrics.holm([0.5], 0.05).any()
    with pytest.raises(ValueError, match="pvalues"):
        metrics.holm([0.1, 1.5])


def test_paired_difference_has_nominal_false_positive_rate_under_the_null():
    """A/A: the same method twice (different seeds) flags a difference at p < 0.05 about 5 % of the time."""
    rng = np.random.default_rng(0)
    n_exp, n_seeds, R = 2000, 3, 50
    hits = 0
    for _ in range(n_exp):
        shared_mc = rng.normal(0, 0.3, R)  # the same evaluation sample: common replicates
        a, b = rng.normal(0, 1, n_seeds), rng.normal(0, 1, n_seeds)
        ra = a[:, None] + shared_mc[None, :] + rng.normal(0, 0.1, (n_seeds, R))
        rb = b[:, None] + shared_mc[None, :] + rng.normal(0, 0.1, (n_seeds, R))
        hits += metrics.paired_difference(a, b, ra, rb).p < 0.05
    assert 0.035 <= hits / n_exp <= 0.065


def test_interval_and_format():
    e = metrics.summarise([1.0, 2.0, 3.0], np.tile([0.0, 0.1, -0.1], (3, 1)))
    lo, hi = e.interval(0.95)
    assert lo < 2.0 < hi and e.se >= e.se_seed
    assert f"{e:.2f}".startswith("2.00 ±")
    with pytest.raises(ValueError, match="boot"):
        metrics.summarise([1.0, 2.0], np.zeros((3, 4)))


def test_roc_auc_equals_pairwise_probability_with_ties():
    rng = np.random.default_rng(11)
    s = rng.integers(0, 5, 300).astype(float)
    y = (rng.random(300) < 0.4).astype(int)
    w = rng.random(300) + 0.1
    sig, bkg = s[y == 1], s[y == 0]
    ws, wb = w[y == 1], w[y == 0]
    gt = (sig[:, None] > bkg[None, :]) + 0.5 * (sig[:, None] == bkg[None, :])
    brute = np.sum(ws[:, None] * wb[None, :] * gt) / (ws.sum() * wb.sum())
    assert metrics.roc_auc(s, y, w) == pytest.approx(brute)
    fpr, tpr, thr = metrics.roc_curve(s, y, w)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == pytest.approx(1) and tpr[-1] == pytest.approx(1)


@pytest.mark.parametrize("kwargs, match", [
    (dict(scores=[0.1, np.nan], label=[0, 1], weight=[1, 1]), "scores"),
    (dict(scores=[0.1, 0.2], label=[0, 2], weight=[1, 1]), "label"),
    (dict(scores=[0.1, 0.2], label=[0, 1], weight=[1, -1]), "weight"),
    (dict(scores=[0.1, 0.2], label=[0, 1, 1], weight=[1, 1]), "label"),
    (dict(scores=[0.1, 0.2], label=[0, 1], weight=[1, 1], n_bootstrap=-1), "n_bootstrap"),
    (dict(scores=[0.1, 0.2], label=[0, 1], weight=[1, 1], groups=np.ones((3, 2), bool)), "groups"),
])
def test_bad_input_names_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        metrics.cut_scan(**kwargs)


def test_sigma_min_bad_input():
    scan = metrics.cut_scan([0.1, 0.9], [0, 1], [1.0, 1.0])
    with pytest.raises(ValueError, match="signal_total"):
        metrics.punzi_sigma_min(scan, signal_total=0.0)
    with pytest.raises(ValueError, match="sigma_b_rel"):
        metrics.asimov_z(scan, -0.1)
