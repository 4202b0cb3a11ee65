"""Tests of the Belle II-like toy (hepsig_tutorial.data.belle): determinism, shapes, physics, weights."""

from __future__ import annotations

import math

import numpy as np
import pytest

import hepsig_tutorial as ht
from hepsig_tutorial import cutbased
from hepsig_tutorial.data import belle

MASSES = [0.5, 2.0, 5.0, 8.0]


@pytest.fixture(scope="module")
def toy():
    return belle.make_belle_toy(masses=MASSES, n_signal_per_mass=1500, n_background=30_000, seed=3,
                                keep_truth=True)


def _mass2(v):
    return v[..., 0] ** 2 - np.sum(v[..., 1:] ** 2, axis=-1)


# ------------------------------------------------------------------------------------ API
def test_reexported():
    assert ht.data.make_belle_toy is belle.make_belle_toy
    for name in belle.__all__:
        assert hasattr(ht.data, name)


def test_shapes_and_dtypes(toy):
    n = len(toy)
    k = len(MASSES)
    assert n == 4 * 1500 + 30_000
    assert isinstance(toy, ht.data.Sample) and set(toy.extras) == {"m2_rec", "process", "mass_index", "truth"}
    assert toy.x.shape == (n, 4) and toy.x.dtype == np.float32
    assert toy.feature_names == belle.BELLE_FEATURES and len(toy.feature_names) == 4
    assert toy.m2_rec.shape == (n,) and toy.m2_rec.dtype == np.float64
    assert toy.y.dtype == np.int8 and set(np.unique(toy.y)) == {0, 1}
    assert np.issubdtype(toy.process.dtype, np.integer) and set(np.unique(toy.process)) == {0, 1, 2, 3}
    assert toy.process_names == ["signal", "mumu(gamma)", "tautau", "eemumu"]
    assert np.array_equal(toy.y == 1, toy.process == 0)
    assert np.all(toy.mass_index[toy.y == 0] == -1)
    assert np.array_equal(np.bincount(toy.mass_index[toy.y == 1]), [1500] * k)
    assert toy.masses.shape == (k,) and toy.sigma_m2.shape == (k,) and toy.windows.shape == (k, 2)
    assert np.all(toy.n_gen > 1500)  # generated, before acceptance and preselection
    assert np.allclose(toy.signal_acceptance, 1500 / toy.n_gen)
    assert toy.luminosity == 50.0
    assert toy.truth.shape == (n, 3, 4)
    # background split 15/55/30 %
    assert np.array_equal(np.bincount(toy.process)[1:], [4500, 16500, 9000])
    assert toy.preselection_pt == belle.PRESELECTION_PT
    assert toy.generator_filter_pt == {"mumu(gamma)": belle.GENERATOR_FILTER_PT, "tautau": 0.0,
                                       "eemumu": belle.GENERATOR_FILTER_PT}
    assert np.all(np.isfinite(toy.x)) and np.all(np.isfinite(toy.m2_rec))


def test_paper_masses_and_sizes_from_the_caller():
    m = belle.PAPER_MASSES
    assert len(m) == 89 and m[0] == 0.1 and m[-1] == 8.9 and np.allclose(np.diff(m), 0.1)
    np.testing.assert_array_equal(belle.AUTHORS_SIGMA_M2["mass"], m)
    with pytest.raises(TypeError):  # no defaults that depend on HEPSIG_MODE: the caller says how much
        belle.make_belle_toy(masses=[1.0])


def test_deterministic_for_a_seed():
    a = belle.make_belle_toy(masses=[1.0, 3.0], n_signal_per_mass=300, n_background=3000, seed=7)
    b = belle.make_belle_toy(masses=[1.0, 3.0], n_signal_per_mass=300, n_background=3000, seed=7)
    c = belle.make_belle_toy(masses=[1.0, 3.0], n_signal_per_mass=300, n_background=3000, seed=8)
    for name in ("x", "m2_rec", "y", "process", "mass_index", "w", "sigma_m2", "windows"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert not np.array_equal(a.m2_rec, c.m2_rec)


def test_same_mass_same_events_whatever_the_mass_list():
    a = belle.make_belle_toy(masses=[1.0, 3.0], n_signal_per_mass=300, n_background=300, seed=1)
    b = belle.make_belle_toy(masses=[3.0], n_signal_per_mass=300, n_background=300, seed=1)
    sa = np.sort(a.m2_rec[a.mass_index == 1])
    sb = np.sort(b.m2_rec[b.mass_index == 0])
    assert np.array_equal(sa, sb)


# ------------------------------------------------------------------------------------ physics
def test_truth_kinematics(toy):
    mu_p, mu_m, rec = toy.truth[:, 0], toy.truth[:, 1], toy.truth[:, 2]
    # muons on shell; four-momentum conserved: μ⁺ + μ⁻ + recoil = (√s, 0, 0, 0)
    assert np.allclose(_mass2(mu_p), belle.M_MU**2, atol=1e-6)
    assert np.allclose(_mass2(mu_m), belle.M_MU**2, atol=1e-6)
    total = mu_p + mu_m + rec
    assert np.allclose(total, [belle.SQRT_S, 0, 0, 0], atol=1e-9)
    # the recoil system is physical: E ≥ |p|, M_rec ≤ √s − 2 m_μ before smearing
    m2 = _mass2(rec)
    assert np.all(m2 > -1e-6)
    assert np.all(np.sqrt(np.maximum(m2, 0)) <= belle.SQRT_S - 2 * belle.M_MU + 1e-9)
    assert np.all(rec[:, 0] >= -1e-9)
    # signal: the true recoil mass is the Z′ mass (exact three-body kinematics)
    sig = toy.y == 1
    assert np.allclose(np.sqrt(np.maximum(m2[sig], 0)), toy.masses[toy.mass_index[sig]], atol=1e-5)
    # μμ(γ): the recoil is the ISR photon pair, so M²_rec ≈ 4E₁E₂ ≥ 0 and its energy < √s/2 per photon
    mm = toy.process == 1
    assert np.all(rec[mm, 0] <= belle.SQRT_S)
    # eeμμ: the dimuon mass is above the generation cut W > 0.5 GeV
    ee = toy.process == 3
    assert np.all(np.sqrt(_mass2(mu_p[ee] + mu_m[ee])) > 0.5 - 1e-9)
    # smeared recoil mass reproduces the true one within the resolution scale
    assert np.median(np.abs(toy.m2_rec - m2)) < 0.5


def test_decay_conserves_four_momentum():
    rng = np.random.default_rng(0)
    parent = belle._vec(rng.uniform(0, 5, 1000), 2 * rng.random(1000) - 1, 2 * np.pi * rng.random(1000), 3.0)
    d1, d2 = belle._decay(rng, parent, belle.M_MU, 1.0)
    assert np.allclose(d1 + d2, parent, atol=1e-10)
    assert np.allclose(belle._m2(d1), belle.M_MU**2, atol=1e-8)
    assert np.allclose(belle._m2(d2), 1.0, atol=1e-8)


def test_signal_recoil_peaks_at_m_squared(toy):
    for k, m in enumerate(toy.masses):
        x = toy.m2_rec[toy.mass_index == k]
        assert abs(np.median(x) - m * m) < 0.1, m
        hist, edges = np.histogram(x, bins=np.linspace(m * m - 1, m * m + 1, 21))
        mode = 0.5 * (edges[:-1] + edges[1:])[np.argmax(hist)]
        assert abs(mode - m * m) <= 0.15, m


def test_resolution_close_to_authors_table(toy):
    ref = np.interp(toy.masses, belle.AUTHORS_SIGMA_M2["mass"], belle.AUTHORS_SIGMA_M2["sigma_m2"])
    ratio = toy.sigma_m2 / ref
    assert np.all((ratio > 0.6) & (ratio < 1.5)), ratio
    assert toy.sigma_m2[-1] < 0.5 * toy.sigma_m2[0]  # the resolution shrinks towards the endpoint
    assert np.allclose(toy.windows, np.c_[toy.masses**2 - 2 * toy.sigma_m2, toy.masses**2 + 2 * toy.sigma_m2])


def test_feature_ranges(toy):
    f = toy.x
    assert np.all(f[:, [0, 1, 3]] >= 0)
    assert np.all(np.abs(f) <= belle.SQRT_S / 2 + 0.3)  # smearing can push p slightly above √s/2
    # |p_l| of the harder muon cannot exceed its momentum: p_l² + p_t² = |p_max|² ≤ (√s/2)²
    assert np.all(f[:, 1] ** 2 + f[:, 2] ** 2 <= (belle.SQRT_S / 2 + 0.3) ** 2)


def test_background_recoil_shapes(toy):
    med = {p: np.median(toy.m2_rec[toy.process == p]) for p in (1, 2, 3)}
    assert abs(med[1]) < 0.3  # μμ(γ): recoil at zero (an escaping photon)
    assert 10 < med[2] < 70  # ττ: broad continuum
    assert med[3] > 60  # eeμμ: high recoil
    # every event passes the preselection; μμ(γ) and eeμμ have softer dimuon p_t than signal and ττ
    assert np.all(toy.x[:, 3] > toy.preselection_pt)
    ptmm = {p: np.median(toy.x[toy.process == p, 3]) for p in range(4)}
    assert max(ptmm[1], ptmm[3]) < min(ptmm[0], ptmm[2])


def test_features_by_hand():
    m = belle.M_MU
    e = belle.SQRT_S / 2
    p = math.sqrt(e * e - m * m)
    a = np.array([[e, 0, 0, p]])
    b = np.array([[e, 0, 0, -p]])
    f = belle.belle_features(a, b)[0]
    assert f[0] == pytest.approx(0, abs=1e-12) and f[1] == pytest.approx(0, abs=1e-12)
    assert f[3] == pytest.approx(0, abs=1e-12) and f[2] == pytest.approx(-p)
    assert belle._m2(belle._recoil(a.T, b.T))[0] == pytest.approx(0, abs=1e-9)
    # μ⁺ along x with p = 3, μ⁻ along y with p = 4
    a = np.array([[math.hypot(3, m), 3, 0, 0]])
    b = np.array([[math.hypot(4, m), 0, 4, 0]])
    f = belle.belle_features(a, b)[0]
    assert np.allclose(f, [12 / 5, 4, 0, 5])


def test_features_rotation_invariance_about_z():
    rng = np.random.default_rng(1)
    a = belle._vec(rng.uniform(0.5, 4, 50), 2 * rng.random(50) - 1, 2 * np.pi * rng.random(50), belle.M_MU)
    b = belle._vec(rng.uniform(0.5, 4, 50), 2 * rng.random(50) - 1, 2 * np.pi * rng.random(50), belle.M_MU)
    phi = 0.7
    rot = np.array([[1, 0, 0, 0], [0, math.cos(phi), -math.sin(phi), 0], [0, math.sin(phi), math.cos(phi), 0],
                    [0, 0, 0, 1]])
    f1 = belle.belle_features(a.T, b.T)
    f2 = belle.belle_features((rot @ a).T, (rot @ b).T)
    assert np.allclose(f1, f2)


# ------------------------------------------------------------------------------------ weights
def test_weights(toy):
    for p, name in enumerate(toy.process_names[1:], start=1):
        vis = toy.visible_cross_section[name]
        assert toy.expected(p) == pytest.approx(vis * toy.luminosity, rel=1e-9)
        acc = vis / toy.cross_section[name]
        assert 0 < acc <= 1
        w = toy.w[toy.process == p]
        assert np.allclose(w, toy.luminosity / toy.sample_luminosity[name])
    assert toy.cross_section["tautau"] == pytest.approx(0.919e6 * 0.1739**2)
    # the preselection and the filter keep only a few per cent of μμ(γ) and eeμμ, most of ττ
    assert toy.visible_cross_section["mumu(gamma)"] / toy.cross_section["mumu(gamma)"] < 0.05
    assert toy.visible_cross_section["eemumu"] / toy.cross_section["eemumu"] < 0.05
    assert toy.visible_cross_section["tautau"] / toy.cross_section["tautau"] > 0.3
    # signal weights are 1/N_generated: they sum to the acceptance (× preselection), not to 1
    for k in range(len(toy.masses)):
        assert toy.w[toy.mass_index == k].sum() == pytest.approx(toy.signal_acceptance[k])
    assert np.all((toy.signal_acceptance > 0.3) & (toy.signal_acceptance < 1))


def test_weights_scale_with_luminosity():
    a = belle.make_belle_toy(masses=[2.0], n_signal_per_mass=100, n_background=3000, seed=2, luminosity=50.0)
    b = belle.make_belle_toy(masses=[2.0], n_signal_per_mass=100, n_background=3000, seed=2, luminosity=100.0)
    bk = a.y == 0
    assert np.allclose(b.w[bk], 2 * a.w[bk])
    assert np.allclose(b.w[~bk], a.w[~bk])


# ------------------------------------------------------------------------------------ windows, split
def test_window_matrix_semantics(toy):
    wm = toy.window_matrix()
    assert wm.shape == (len(toy), len(toy.masses)) and wm.dtype == bool
    for i in np.random.default_rng(0).choice(len(toy), 400, replace=False):
        for k, (lo, hi) in enumerate(toy.windows):
            inside = lo <= toy.m2_rec[i] <= hi
            counts = inside and (toy.y[i] == 0 or toy.mass_index[i] == k)
            assert wm[i, k] == counts
    # signal of mass k never counts for another hypothesis
    sig = toy.y == 1
    assert not np.any(wm[sig] & (toy.mass_index[sig][:, None] != np.arange(len(toy.masses))))
    idx = np.arange(10, 50)  # membership is per event: a subset keeps its rows
    assert np.array_equal(toy.subset(idx).window_matrix(), wm[idx])
    assert np.array_equal(toy.window_groups()[1], np.flatnonzero(wm[:, 1]))
    # most signal lies in its ±2σ window
    frac = wm[sig, toy.mass_index[sig]].mean()
    assert 0.8 < frac < 1.0


def test_subset_keeps_normalisation(toy):
    sel = toy.x[:, 3] > 1.0
    sub = toy.subset(sel)
    assert len(sub) == sel.sum() and np.array_equal(sub.n_gen, toy.n_gen)
    assert np.array_equal(sub.windows, toy.windows)
    eff = sub.w[sub.mass_index == 1].sum()
    assert eff == pytest.approx(np.sum(toy.x[toy.mass_index == 1, 3] > 1.0) / toy.n_gen[1])


def test_split_conserves_expected_yields(toy):
    train, test = toy.split((0.7, 0.3), seed=5)
    assert len(train) + len(test) == len(toy)
    assert abs(len(test) / len(toy) - 0.3) < 0.01
    for p in (1, 2, 3):
        assert train.expected(p) == pytest.approx(toy.expected(p), rel=1e-9)
        assert test.expected(p) == pytest.approx(toy.expected(p), rel=1e-9)
    for half in (train, test):
        for k in range(len(toy.masses)):
            sel = half.mass_index == k
            assert half.w[sel].sum() == pytest.approx(toy.signal_acceptance[k])
            assert half.n_gen[k] == pytest.approx(toy.n_gen[k] * sel.sum() / np.sum(toy.mass_index == k))
    # halves are disjoint and deterministic
    t2, _ = toy.split((0.7, 0.3), seed=5)
    assert np.array_equal(train.m2_rec, t2.m2_rec)
    both = np.concatenate([train.m2_rec, test.m2_rec])
    assert np.array_equal(np.sort(both), np.sort(toy.m2_rec))


# ------------------------------------------------------------------------------------ the protocol: scans and cuts
def test_window_scan_matches_sums(toy):
    from hepsig_tutorial import metrics

    scan = cutbased.window_scan(toy)
    wm = toy.window_matrix()
    sig, _ = metrics.punzi_sigma_min(scan, luminosity=toy.luminosity)
    for k in range(len(toy.masses)):
        eff = toy.w[(toy.mass_index == k) & wm[:, k]].sum()
        per_p = [toy.w[(toy.process == p) & wm[:, k]].sum() for p in (1, 2, 3)]
        floors = [metrics.FLOOR_EVENTS * toy.w[toy.process == p].mean() for p in (1, 2, 3)]
        assert scan.s[k, 0] == pytest.approx(eff)
        np.testing.assert_allclose(scan.b_process[k, :, 0], per_p)
        bkg = sum(max(b, f) for b, f in zip(per_p, floors))
        assert sig[k, 0] == pytest.approx(ht.stats.punzi_sensitivity(eff, bkg, luminosity=50.0))
    with pytest.raises(ValueError, match="toy"):
        cutbased.window_scan(object())


def test_optimise_cuts_follows_the_floor_rule(toy):
    from hepsig_tutorial import metrics

    cuts = cutbased.optimise_cuts(toy)
    assert np.all(cuts.lower <= cuts.upper)
    # re-evaluated on the same toy through metrics: the same σ_min, from enough simulated background events
    scan = cutbased.apply_cuts(toy, cuts)
    sig, _ = metrics.at_cut(metrics.punzi_sigma_min(scan, luminosity=toy.luminosity), 0)
    np.testing.assert_allclose(sig, cuts.sigma_min, rtol=1e-9)
    assert np.all(scan.n_background[:, 0] >= metrics.MIN_BACKGROUND_EVENTS)
    nocut, _ = metrics.at_cut(metrics.punzi_sigma_min(cutbased.window_scan(toy), luminosity=toy.luminosity), 0)
    assert np.all(cuts.sigma_min < 0.9 * nocut)  # the features help at every mass
    # a stricter minimum can only make the training-sample optimum worse
    strict = cutbased.optimise_cuts(toy, min_background_events=50)
    assert np.all(strict.sigma_min >= cuts.sigma_min - 1e-12)
    assert np.all(cutbased.apply_cuts(toy, strict).n_background >= 50)
    with pytest.raises(ValueError, match="levels"):
        cutbased.optimise_cuts(toy, levels=[0.0, 0.5])
    with pytest.raises(ValueError, match="features"):
        cutbased.optimise_cuts(toy, features=[7])
    with pytest.raises(ValueError, match="min_background_events"):
        cutbased.optimise_cuts(toy, min_background_events=-1)
    with pytest.raises(ValueError, match="min_background_events"):
        cutbased.optimise_cuts(toy, min_background_events=10**9)
    other = belle.make_belle_toy(masses=[1.0], n_signal_per_mass=50, n_background=300)
    with pytest.raises(ValueError, match="cuts"):
        cutbased.apply_cuts(other, cuts)


def test_apply_cuts_shares_bootstrap_replicates_with_a_score_scan(toy):
    """Pairing: the rectangular cuts and any score scanned on the same toy and seed see the same replicates."""
    cuts = cutbased.optimise_cuts(toy)
    scan = cutbased.apply_cuts(toy, cuts, n_bootstrap=20, seed=4)
    k = 2
    same = cutbased.window_scan(toy, cuts.passes(toy, k).astype(float), cuts=[0.5], n_bootstrap=20, seed=4)
    np.testing.assert_allclose(scan.boot_s[:, k], same.boot_s[:, k])
    np.testing.assert_allclose(scan.boot_b_process[:, k], same.boot_b_process[:, k])
    other = cutbased.apply_cuts(toy, cuts, n_bootstrap=20, seed=5)
    assert not np.allclose(other.boot_s, scan.boot_s)


def test_generator_filter_loses_no_preselected_event():
    """The filter is a smearing margin below the preselection: on unfiltered samples no event that passes
    the preselection has a true dimuon p_t below the filter (the assumption behind the filtered weights)."""
    t = belle.make_belle_toy(masses=[2.0], n_signal_per_mass=10, n_background=(60_000, 10, 30_000), seed=11,
                             keep_truth=True, preselection_pt=0.0)
    q = t.truth[:, 0] + t.truth[:, 1]
    pt_true = np.hypot(q[:, 1], q[:, 2])
    for p in (1, 3):
        passed = (t.process == p) & (t.x[:, 3] > belle.PRESELECTION_PT)
        assert passed.sum() > 200
        assert np.sum(passed & (pt_true < belle.GENERATOR_FILTER_PT)) == 0


def test_filter_multiplies_the_simulated_luminosity():
    kw = dict(masses=[2.0], n_signal_per_mass=10, n_background=(3000, 10, 1000), seed=2)
    plain = belle.make_belle_toy(preselection_pt=0.0, **kw)
    filt = belle.make_belle_toy(**kw)
    for name in ("mumu(gamma)", "eemumu"):
        assert filt.sample_luminosity[name] > 5 * plain.sample_luminosity[name]
    # the expected yields are estimates of the same physics: what passes the preselection agrees
    sel = plain.x[:, 3] > belle.PRESELECTION_PT
    for p in (1, 3):
        a = plain.w[sel & (plain.process == p)].sum()
        b = filt.expected(p)
        n = np.sum(sel & (plain.process == p))
        assert abs(a - b) < 4 * a / np.sqrt(n) + 1e-9


# ------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kwargs, name", [
    (dict(masses=[-1.0]), "masses"),
    (dict(masses=[0.0]), "masses"),
    (dict(masses=[10.6]), "masses"),
    (dict(masses=[1.0, 1.0]), "masses"),
    (dict(masses=[np.nan]), "masses"),
    (dict(n_signal_per_mass=0), "n_signal_per_mass"),
    (dict(n_signal_per_mass=-5), "n_signal_per_mass"),
    (dict(n_signal_per_mass=2.5), "n_signal_per_mass"),
    (dict(n_background=0), "n_background"),
    (dict(n_background=[10, 0, 10]), "n_background"),
    (dict(n_background=[10, 10]), "n_background"),
    (dict(luminosity=0.0), "luminosity"),
    (dict(luminosity=-50.0), "luminosity"),
    (dict(luminosity=float("inf")), "luminosity"),
    (dict(seed=-1), "seed"),
    (dict(preselection_pt=-0.1), "preselection_pt"),
    (dict(preselection_pt=float("nan")), "preselection_pt"),
    (dict(generator_filter_pt=0.3), "generator_filter_pt"),
    (dict(preselection_pt=0.0, generator_filter_pt=0.1), "generator_filter_pt"),
])
def test_bad_input(kwargs, name):
    base = dict(masses=[1.0], n_signal_per_mass=10, n_background=30)
    base.update(kwargs)
    with pytest.raises(ValueError, match=name):
        belle.make_belle_toy(**base)


def test_bad_input_methods(toy):
    with pytest.raises(ValueError, match="fractions"):
        toy.split((0.0, 1.0))
    with pytest.raises(ValueError, match="k must be a mass index"):
        toy.window_column(len(toy.masses))
    with pytest.raises(ValueError, match="seed"):
        toy.split(seed=-1)
    with pytest.raises(ValueError, match="mu_plus"):
        belle.belle_features(np.zeros((3, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="process"):
        toy.expected("nonsense")
