"""Tests of the toy stop-search generator (hepsig_tutorial/data/stop.py, Chapter 5)."""

from dataclasses import replace

import numpy as np
import pytest

from hepsig_tutorial.data import STOP_FEATURES, StopToy, make_stop_toy, stop_expected_yields
from hepsig_tutorial.data.stop import M_TOP, M_W, _leptonic_w, _two_body_momentum

N = 3000


@pytest.fixture(scope="module")
def toys():
    return {bm: make_stop_toy(bm, n_signal=N, n_background=2 * N, seed=3) for bm in ("uncompressed", "compressed")}


def col(toy, name, label):
    return toy.x[toy.y == label, STOP_FEATURES.index(name)]


def test_expected_yields_match_the_paper_and_the_authors_code():
    s_unc, b = stop_expected_yields("uncompressed", 30.0)
    s_comp, b2 = stop_expected_yields("compressed", 30.0)
    assert s_unc == pytest.approx(17.6 * 30 * 0.059)
    assert s_comp == pytest.approx(228 * 30 * 0.14)
    assert b == b2 == pytest.approx(844_000 * 30 * 8.2e-4)
    assert round(s_unc) == 31 and round(s_comp) == 958 and abs(b - 20_760) < 5
    assert stop_expected_yields("compressed", 60.0)[0] == pytest.approx(2 * s_comp)


def test_top_momentum_in_the_stop_frame():
    assert _two_body_momentum(900.0, M_TOP, 100.0) == pytest.approx(427, abs=1)
    assert _two_body_momentum(600.0, M_TOP, 400.0) == pytest.approx(83, abs=1)


def test_shapes_weights_and_split(toys):
    for bm, toy in toys.items():
        assert toy.x.shape == (3 * N, len(STOP_FEATURES)) and toy.x.dtype == np.float32
        assert np.isfinite(toy.x).all()
        s_exp, b_exp = stop_expected_yields(bm)
        assert toy.w[toy.y == 1].sum() == pytest.approx(s_exp)
        assert toy.w[toy.y == 0].sum() == pytest.approx(b_exp)
        tr, te = toy.split((0.7, 0.3), seed=0)
        assert isinstance(tr, StopToy) and tr.benchmark == bm and tr.expected_signal == toy.expected_signal
        assert len(tr) + len(te) == 3 * N
        assert len(te) == pytest.approx(0.3 * 3 * N, abs=2)
        for part in (tr, te):  # each subset is rescaled to the full expected yields
            assert part.w[part.y == 1].sum() == pytest.approx(s_exp, rel=1e-5)
            assert part.w[part.y == 0].sum() == pytest.approx(b_exp, rel=1e-5)
        # stratified: the signal fraction is the same in both subsets
        assert tr.y.mean() == pytest.approx(te.y.mean(), abs=2e-3)


def test_preselection_holds(toys):
    for toy in toys.values():
        f = {name: toy.x[:, j] for j, name in enumerate(STOP_FEATURES)}
        assert (f["met"] > 200).all() and (f["ht"] > 300).all() and (f["lep_pt"] > 30).all()
        assert (f["n_jet"] >= 4).all() and (f["n_b"] >= 1).all() and (f["jet1_pt"] > 80).all()
        assert (f["n_b"] <= f["n_jet"]).all()
        assert ((f["dphi_lep_met"] >= 0) & (f["dphi_lep_met"] <= np.pi)).all()
        # m_T is consistent with lepton p_T, missing E_T and their angle
        mt = np.sqrt(2 * f["lep_pt"] * f["met"] * (1 - np.cos(f["dphi_lep_met"])))
        np.testing.assert_allclose(f["mt"], mt, rtol=1e-3, atol=0.5)


def test_deterministic_and_seed_dependent():
    a = make_stop_toy("compressed", 500, 500, seed=7)
    b = make_stop_toy("compressed", 500, 500, seed=7)
    c = make_stop_toy("compressed", 500, 500, seed=8)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.w, b.w)
    assert not np.array_equal(a.x, c.x)
    # the tt̄ sample is shared by the two benchmark points, the signal is not
    u = make_stop_toy("uncompressed", 500, 500, seed=7)
    np.testing.assert_array_equal(a.x[a.y == 0], u.x[u.y == 0])
    assert not np.array_equal(a.x[a.y == 1], u.x[u.y == 1])


def test_w_decay_has_the_jacobian_edge_at_mw():
    rng = np.random.default_rng(0)
    lep, nu = _leptonic_w(rng, 50_000, rng.uniform(0, 400, 50_000))
    pl, pn = np.hypot(*lep.T), np.hypot(*nu.T)
    mt = np.sqrt(np.maximum(2 * (pl * pn - (lep * nu).sum(axis=1)), 0))
    assert mt.max() <= 100.0 + 1e-6  # never above the (clipped) W mass
    assert np.mean(mt > M_W + 5) < 0.03  # only the Breit-Wigner tail lies above the edge
    hist, edges = np.histogram(mt, bins=40, range=(0, 100))
    assert 70 <= edges[np.argmax(hist)] <= 82  # Jacobian peak just below m_W


def test_physics_of_the_two_benchmarks(toys):
    unc, comp = toys["uncompressed"], toys["compressed"]
    # one-lepton tt̄ sits below the m_T edge; the LSPs push the signal above it
    assert np.median(col(comp, "mt", 0)) < M_W
    assert np.median(col(unc, "mt", 1)) > np.median(col(comp, "mt", 1)) > np.median(col(comp, "mt", 0))
    # m_T2^W-like: tt̄ (mostly) below m_t, the uncompressed signal far above
    assert np.quantile(col(comp, "mt2w", 0), 0.9) < M_TOP + 20
    assert np.median(col(unc, "mt2w", 1)) > 250 > np.median(col(comp, "mt2w", 1))
    # hard tails for (900, 100), soft and tt̄-like for (600, 400)
    for name in ("met", "ht"):
        assert np.median(col(unc, name, 1)) > np.median(col(comp, name, 1))
    assert np.median(col(unc, "met", 1)) > 1.5 * np.median(col(unc, "met", 0))
    assert np.median(col(comp, "met", 1)) < 1.3 * np.median(col(comp, "met", 0))


def test_compressed_is_harder_to_separate(toys):
    # a single cut m_T2^W > q(tt̄, 99 %) keeps far more of the uncompressed than of the compressed signal
    cut = np.quantile(col(toys["compressed"], "mt2w", 0), 0.99)
    eff_unc = np.mean(col(toys["uncompressed"], "mt2w", 1) > cut)
    eff_comp = np.mean(col(toys["compressed"], "mt2w", 1) > cut)
    assert eff_unc > 0.5 and eff_comp < 0.5 * eff_unc


def test_luminosity_scales_the_weights():
    a = make_stop_toy("uncompressed", 300, 300, seed=1, luminosity=30.0)
    b = make_stop_toy("uncompressed", 300, 300, seed=1, luminosity=300.0)
    np.testing.assert_allclose(b.w, 10 * a.w)
    np.testing.assert_array_equal(a.x, b.x)


@pytest.mark.parametrize("kwargs, name", [
    ({"benchmark": "natural"}, "benchmark"),
    ({"n_signal": 0}, "n_signal"),
    ({"n_background": 1.5}, "n_background"),
    ({"luminosity": 0.0}, "luminosity"),
    ({"seed": -1}, "seed"),
])
def test_bad_input_names_the_argument(kwargs, name):
    args = {"benchmark": "compressed", "n_signal": 100, "n_background": 100}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        make_stop_toy(**args)


def test_split_rejects_the_old_subset_names(toys):
    with pytest.raises(ValueError, match="fractions"):
        toys["compressed"].split("validation")
    with pytest.raises(ValueError, match="benchmark"):
        stop_expected_yields("natural")


def test_validation_split_is_stratified_disjoint_and_keeps_the_old_test_set():
    toy = make_stop_toy("compressed", 900, 1500, seed=4)
    toy = replace(toy, extras={"id": np.arange(len(toy))})  # event identities to follow through the splits
    _, plain_test = toy.split((0.7, 0.3), seed=4)
    tr, va, te = toy.split((0.5, 0.2, 0.3), seed=4)
    assert len(np.intersect1d(tr.id, va.id)) == len(np.intersect1d(va.id, te.id)) == 0
    assert len(tr) + len(va) + len(te) == len(toy)
    # the test set does not depend on whether a validation set is split off (chapters' numbers unchanged)
    np.testing.assert_array_equal(te.id, plain_test.id)
    np.testing.assert_array_equal(te.x, plain_test.x)
    for label, n in ((1, 900), (0, 1500)):
        assert (va.y == label).sum() == round(0.2 * n)
        assert (te.y == label).sum() == round(0.3 * n)
    s_exp, b_exp = stop_expected_yields("compressed")
    assert va.w[va.y == 1].sum() == pytest.approx(s_exp, rel=1e-5)
    assert va.w[va.y == 0].sum() == pytest.approx(b_exp, rel=1e-5)
    # another seed gives another validation set
    assert not np.array_equal(va.id, toy.split((0.5, 0.2, 0.3), seed=5)[1].id)


def test_background_sample_is_cached_and_read_only():
    a = make_stop_toy("compressed", 300, 400, seed=11)
    b = make_stop_toy("uncompressed", 300, 400, seed=11)
    np.testing.assert_array_equal(a.x[a.y == 0], b.x[b.y == 0])
    from hepsig_tutorial.data.stop import _ttbar_sample
    assert not _ttbar_sample(400, 11).flags.writeable
    first_bkg = int(np.flatnonzero(a.y == 0)[0])
    before = float(_ttbar_sample(400, 11)[0, 0])
    assert a.x[first_bkg, 0] == before
    a.x[first_bkg, 0] = -1.0  # the toy's own copy is writable and does not touch the cache
    assert _ttbar_sample(400, 11)[0, 0] == before
