"""Tests of hepsig_tutorial.bump and .bumphunt (Chapter 7: histograms, profile-likelihood targets, classical scans)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hepsig_tutorial import bump, bumphunt, ddp
from hepsig_tutorial.data import Scaler


# ---------------------------------------------------------------- background forms, Eq. (1)
@pytest.mark.parametrize("form", range(len(bump.BACKGROUND_FORMS)))
def test_forms_pass_through_end_points_and_fall(form):
    y1, y2 = np.array([5000.0, 900.0]), np.array([300.0, 150.0])
    for xr in [(1.0, 10.0), (1.0, 100.0)]:
        c = bump.background_curves(np.full(2, form), y1, y2, 100, xr)
        np.testing.assert_allclose(c[:, 0], y1, rtol=1e-10)
        np.testing.assert_allclose(c[:, -1], y2, rtol=1e-10)
        assert np.all(np.diff(c, axis=1) <= 1e-9 * y1[:, None]), "every form must be non-increasing"


def test_forms_have_the_paper_functional_shape():
    x = np.linspace(1.0, 10.0, 100)
    exp_c = bump.background_curves("exp", 1000.0, 100.0)[0]
    assert np.allclose(np.diff(np.log(exp_c)), np.diff(np.log(exp_c))[0])  # b e^{-ax}: log-linear
    inv2 = bump.background_curves("inv2", 1000.0, 100.0)[0]
    # 1/(a x²) + b is linear in 1/x²
    coef = np.polyfit(1 / x ** 2, inv2, 1)
    np.testing.assert_allclose(np.polyval(coef, 1 / x ** 2), inv2, rtol=1e-10)
    log_c = bump.background_curves("log", 1000.0, 100.0)[0]
    coef = np.polyfit(np.log(x), log_c, 1)
    np.testing.assert_allclose(np.polyval(coef, np.log(x)), log_c, rtol=1e-10)


def test_background_curves_rejects_bad_input():
    with pytest.raises(ValueError, match="forms"):
        bump.background_curves("nope", 10.0, 5.0)
    with pytest.raises(ValueError, match="forms"):
        bump.background_curves(10, 10.0, 5.0)
    with pytest.raises(ValueError, match="y1"):
        bump.background_curves(0, 5.0, 10.0)
    with pytest.raises(ValueError, match="x_range"):
        bump.background_curves(0, 10.0, 5.0, x_range=(0.0, 1.0))


# ---------------------------------------------------------------- profile likelihood
def test_local_significance_matches_scipy_fit():
    rng = np.random.default_rng(3)
    d = bump.generate_histograms(4, (1.0, 20.0), rng=rng, targets=False)
    # also a low-count histogram, where large bumps need the exact Newton path
    low = bump.generate_histograms(2, (10.0, 20.0), rng=rng, targets=False, y_range=(3.0, 20.0))
    counts = np.concatenate([d["counts"], low["counts"]])
    bkg = np.concatenate([d["background"], low["background"]])
    z, mu = bump.local_significance(counts, bkg, return_mu=True)
    z_ref, mu_ref = bump.local_significance_scipy(counts, bkg, return_mu=True)
    np.testing.assert_allclose(z, z_ref, atol=1e-6, rtol=0)
    np.testing.assert_allclose(mu, mu_ref, atol=1e-6 * np.maximum(mu_ref, 1.0).max(), rtol=1e-6)
    assert (mu == 0).any() and (mu > 0).any()


def test_asimov_case_has_known_z():
    """Asimov data b + A·t(k) gives μ̂ = A at bin k and z = the closed-form Asimov significance."""
    b = bump.background_curves(np.array([0, 3]), np.array([2000.0, 800.0]), np.array([200.0, 150.0]))
    win, h = bump.template_windows()
    k = np.array([40, 61])
    t = np.zeros_like(b)
    for m in range(2):
        t[m, k[m] - h:k[m] + h + 1] = win[k[m]]
    amp = np.array([150.0, 400.0])
    counts = b + amp[:, None] * t
    z, mu = bump.local_significance(counts, b, return_mu=True)
    np.testing.assert_allclose(mu[np.arange(2), k], amp, rtol=1e-7)
    expected = bump.asimov_z(amp, t, b)
    np.testing.assert_allclose(z[np.arange(2), k], expected, rtol=1e-8)
    # a closed form for a single bin: z² = 2[(b + s) ln(1 + s/b) − s]
    s, bb = 30.0, 50.0
    assert math.isclose(float(bump.asimov_z(np.array([1.0]), np.array([[s]]), np.array([[bb]]))[0]),
                        math.sqrt(2 * ((bb + s) * math.log1p(s / bb) - s)), rel_tol=1e-12)


def test_mu_hat_is_clipped_at_zero_for_deficits():
    b = np.full((1, 100), 500.0)
    counts = b.copy()
    counts[0, 40:60] -= 60.0  # a dip
    z, mu = bump.local_significance(counts, b, return_mu=True)
    assert np.all(mu[0, 45:55] == 0) and np.all(z[0, 45:55] == 0)
    assert np.all(mu >= 0) and np.all(z >= 0)
    # exactly the background: no excess anywhere
    z0 = bump.local_significance(b, b)
    assert np.all(z0 == 0)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), low=st.floats(5.0, 5000.0))
def test_local_significance_agrees_with_scipy_property(seed, low):
    rng = np.random.default_rng(seed)
    d = bump.generate_histograms(1, (0.0, 25.0), rng=rng, targets=False, y_range=(low, 2 * low + 10))
    z = bump.local_significance(d["counts"], d["background"])
    idx = rng.choice(100, 6, replace=False)
    # compare a few bins with the scipy reference on the same histogram
    z_ref = bump.local_significance_scipy(d["counts"], d["background"])
    np.testing.assert_allclose(z[0, idx], z_ref[0, idx], atol=1e-6)


def test_local_significance_rejects_bad_input():
    good = np.full((2, 100), 10.0)
    with pytest.raises(ValueError, match="background"):
        bump.local_significance(good, -good)
    with pytest.raises(ValueError, match="counts"):
        bump.local_significance(-good, good)
    with pytest.raises(ValueError, match="background"):
        bump.local_significance(good, good[:, :50])


# ---------------------------------------------------------------- signal amplitude and generation
def test_signal_amplitude_hits_requested_significance():
    rng = np.random.default_rng(0)
    b = rng.uniform(50, 5000, (50, 100))
    shape = bump.gaussian_shape(rng.uniform(25, 75, 50))
    z = rng.uniform(0.5, 25.0, 50)
    a = bump.signal_amplitude(z, shape, b)
    np.testing.assert_allclose(bump.asimov_z(a, shape, b), z, rtol=1e-9)
    assert np.all(bump.signal_amplitude(0.0, shape, b) == 0)
    with pytest.raises(ValueError, match="significance"):
        bump.signal_amplitude(-1.0, shape, b)


@pytest.mark.parametrize("reference", ["fluctuated", "smooth", "window"])
def test_generate_histograms_structure(reference):
    d = bump.generate_histograms(200, (1.0, 20.0), rng=5, reference=reference)
    assert d["counts"].shape == d["z"].shape == (200, 100)
    assert np.all((d["mean"] >= 25) & (d["mean"] <= 75))
    assert np.all((d["significance"] >= 1) & (d["significance"] <= 20))
    assert np.all(d["background"][:, 0] >= d["background"][:, -1])
    assert np.all((d["y1"] <= 1e4) & (d["y2"] >= 100) & (d["y1"] > d["y2"]))
    np.testing.assert_allclose(d["counts"], d["background_fluct"] + d["signal"])
    np.testing.assert_allclose(d["signal"].sum(1), d["amplitude"], rtol=1e-4)
    if reference == "fluctuated":  # the signal's significance relative to the fluctuated background
        shape = bump.gaussian_shape(d["mean"])
        np.testing.assert_allclose(bump.asimov_z(d["amplitude"], shape, d["background_fluct"]), d["significance"],
                                   rtol=1e-6)
    # a big bump is found at its position
    big = d["significance"] > 12
    peak = d["z"][big].argmax(1)
    assert np.mean(np.abs(peak - d["mean"][big]) <= 2) > 0.95


def test_generation_is_seeded_and_background_only_has_no_signal():
    a = bump.generate_histograms(20, 0.0, rng=1)
    b = bump.generate_histograms(20, 0.0, rng=1)
    np.testing.assert_array_equal(a["counts"], b["counts"])
    assert np.all(a["signal"] == 0)
    assert np.all(a["counts"] == a["background_fluct"])
    with pytest.raises(ValueError, match="n"):
        bump.generate_histograms(0)
    with pytest.raises(ValueError, match="reference"):
        bump.generate_histograms(2, reference="other")
    with pytest.raises(ValueError, match="mean_range"):
        bump.generate_histograms(2, mean_range=(-1, 50))


def test_three_sigma_signal_z_true_fluctuates_around_three():
    d = bump.generate_histograms(400, 3.0, rng=2)
    k = np.rint(d["mean"]).astype(int)
    z_at_signal = d["z"][np.arange(400), k]
    assert 2.6 < np.median(z_at_signal) < 3.3
    assert 0.6 < np.std(z_at_signal) < 1.3  # the width of the paper's Fig. 3 z_true distribution


# ---------------------------------------------------------------- scaling
def test_global_scaler_is_reversible_and_global():
    x = np.random.default_rng(0).uniform(100, 1e4, (30, 100))
    s = Scaler(per_feature=False).fit(x)
    y = s.transform(x)
    assert y.min() == pytest.approx(0.0, abs=1e-7) and y.max() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(s.inverse_transform(y), x, rtol=1e-6)
    # one linear map for all bins: ratios of differences are preserved
    assert np.allclose((y[:, 1] - y[:, 0]) * s.scale_, x[:, 1] - x[:, 0], rtol=1e-4)
    s2 = Scaler.from_state(s.state_dict())
    np.testing.assert_array_equal(s2.transform(x), y)
    with pytest.raises(ValueError, match="fitted"):
        Scaler(per_feature=False).transform(x)
    # networks saved before the scalers were merged store {"min", "scale"} (the shipped DDP network)
    old = Scaler.from_state({"min": s.shift_, "scale": s.scale_})
    np.testing.assert_array_equal(old.transform(x), y)
    with pytest.raises(ValueError, match="kind"):
        Scaler("robust")


# ---------------------------------------------------------------- classical baseline and metrics
def test_smooth_fit_describes_background_only_histograms():
    d = bump.generate_histograms(300, 0.0, rng=4, targets=False)
    fit = bumphunt.fit_smooth_background(d["counts"])
    pull = (d["counts"] - fit) / np.sqrt(fit)
    chi2_ndf = np.mean(pull ** 2) * 100 / (100 - 9)
    assert 0.9 < chi2_ndf < 1.15
    # a degree-4 fit cannot follow the steep forms: visibly worse
    fit4 = bumphunt.fit_smooth_background(d["counts"], degree=4)
    assert np.mean((d["counts"] - fit4) ** 2 / fit4) * 100 / 95 > 1.5


def test_bumphunter_finds_a_big_bump_and_global_significance_is_monotone():
    d = bump.generate_histograms(200, 8.0, rng=6, targets=False)
    null = bump.generate_histograms(400, 0.0, rng=7, targets=False)
    scan = bumphunt.bumphunter_scan(d["counts"], d["background"])
    scan0 = bumphunt.bumphunter_scan(null["counts"], null["background"])
    assert np.mean(np.abs(scan["centre"] - d["mean"]) <= 3) > 0.9
    assert np.median(scan["t"]) > np.percentile(scan0["t"], 99)
    zg = bumphunt.global_significance(np.sort(scan["t"]), scan0["t"])
    assert np.all(np.diff(zg) >= 0)
    # global significance never exceeds what 400 pseudo-experiments can establish
    assert zg.max() <= -__import__("scipy").special.ndtri(1 / 401) + 1e-9


def test_roc_auc_and_peak_accuracy():
    rng = np.random.default_rng(0)
    s, b = rng.normal(1, 1, 4000), rng.normal(0, 1, 4000)
    from scipy.stats import norm

    assert ddp.auc(s, b) == pytest.approx(norm.cdf(1 / math.sqrt(2)), abs=0.015)
    # the Mann-Whitney statistic, ties counting one half (rounded scores have many ties)
    sr, br = np.round(s, 1), np.round(b, 1)
    mw = (np.sum(sr[:, None] > br[None, :]) + 0.5 * np.sum(sr[:, None] == br[None, :])) / (sr.size * br.size)
    assert ddp.auc(sr, br) == pytest.approx(mw, abs=1e-12)
    acc = ddp.peak_accuracy([10, 12, 20], [10.2, 10.6, 30.0])
    assert acc == {0: 1 / 3, 1: 2 / 3, 3: 2 / 3}
    with pytest.raises(ValueError):
        ddp.auc([], b)


def test_generation_does_not_depend_on_threading(monkeypatch):
    """The z targets are computed in blocks of histograms, in threads: one thread or several, same samples."""
    import os

    n = 2_500  # three blocks of the threaded target computation
    threaded = bump.generate_histograms(n, (1.0, 20.0), rng=3)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    serial = bump.generate_histograms(n, (1.0, 20.0), rng=3)
    for key, value in serial.items():
        np.testing.assert_array_equal(threaded[key], value, err_msg=key)


@pytest.mark.parametrize("kind", bump.OUTSIDE_FORMS)
def test_outside_forms_are_smooth_positive_and_not_among_the_ten(kind):
    y1, y2 = np.array([5000.0, 800.0]), np.array([200.0, 300.0])
    b = bump.outside_background_curves(kind, y1, y2)
    assert b.shape == (2, 100) and np.all(b > 0)
    if kind == "turnon":  # rises over the turn-on, then falls like the exponential through the end points
        assert np.all(np.argmax(b, axis=1) > 12) and np.all(np.argmax(b, axis=1) < 40)
        np.testing.assert_allclose(b[:, -1], y2, rtol=1e-9)
    else:
        np.testing.assert_allclose(b[:, [0, -1]], np.stack([y1, y2], 1), rtol=1e-9)
        assert np.all(np.diff(b, axis=1) < 0)
    # no form of Eq. (1) through the same end points is the same curve
    for form in range(len(bump.BACKGROUND_FORMS)):
        ten = bump.background_curves(form, y1[:1], y2[:1])
        assert np.max(np.abs(np.log(ten / b[:1]))) > 0.05
    data = bump.generate_histograms(5, 3.0, rng=1, outside=kind)
    assert data["z"].shape == (5, 100)
    with pytest.raises(ValueError, match="kind"):
        bump.outside_background_curves("gauss", y1, y2)


def test_fitted_signal_scan_finds_the_bump_and_score_agrees_with_lr():
    big = bump.generate_histograms(40, 10.0, rng=3)
    lr = bumphunt.fitted_signal_scan(big["counts"])
    k = np.rint(big["mean"]).astype(int)
    rows = np.arange(40)
    # the signal template takes the bump: fitted events close to the injected amplitude
    np.testing.assert_allclose(np.median(lr["mu"][rows, k] / big["amplitude"]), 1.0, atol=0.1)
    assert ddp.peak_accuracy(lr["z"].argmax(1), big["mean"])[3] >= 0.95
    # profiling a 9-parameter background costs significance: below the known-background z, but > 4σ
    assert np.all(lr["z"][rows, k] < big["z"].max(1) + 0.5) and np.median(lr["z"][rows, k]) > 4.0
    sc = bumphunt.fitted_signal_scan(big["counts"], method="score")
    null = bump.generate_histograms(40, 0.0, rng=4)
    lr0, sc0 = bumphunt.fitted_signal_scan(null["counts"]), bumphunt.fitted_signal_scan(null["counts"], method="score")
    assert np.median(np.abs(lr0["z"].max(1) - sc0["z"].max(1))) < 0.05  # same statistic near μ = 0
    assert np.all(lr0["z"] >= 0) and np.all(sc["z"] >= 0)
    with pytest.raises(ValueError, match="method"):
        bumphunt.fitted_signal_scan(big["counts"], method="wald")
    with pytest.raises(ValueError, match="positions"):
        bumphunt.fitted_signal_scan(big["counts"], positions=np.array([100]))


def test_masked_fit_and_sideband_bumphunter_do_not_absorb_the_bump():
    data = bump.generate_histograms(30, 8.0, rng=5)
    full = bumphunt.fit_smooth_background(data["counts"])
    side = bumphunt.bumphunter_sideband_scan(data["counts"])
    k = np.rint(data["mean"]).astype(int)
    rows = np.arange(30)
    # left out of the fit, the bump region is described by the sidebands: closer to the true background
    err_full = np.abs(full[rows, k] - data["background"][rows, k])
    err_side = np.abs(side["background"][rows, k] - data["background"][rows, k])
    assert np.median(err_side) < np.median(err_full)
    assert np.median(side["t"]) > np.median(bumphunt.bumphunter_scan(data["counts"], full)["t"])
    with pytest.raises(ValueError, match="mask"):
        bumphunt.fit_smooth_background(data["counts"], mask=np.zeros(100, bool))
