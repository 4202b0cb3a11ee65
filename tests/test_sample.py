"""Tests of hepsig_tutorial.data.Sample, the one event container, and its stratified split (issue 19).

Property tests (hypothesis) of :meth:`Sample.split` on small random samples, then the two subclasses whose
analysis depends on the split: the Belle II-like toy (per-mass efficiencies, ``n_gen``) and the stop toy
(expected yields of every part).
"""

from __future__ import annotations

import copy
import pickle
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hepsig_tutorial.data import BelleToy, Sample, StopToy, make_belle_toy, make_stop_toy, stop_expected_yields

SETTINGS = settings(max_examples=60, deadline=None)


# ------------------------------------------------------------------------------------------------
# strategies
# ------------------------------------------------------------------------------------------------
@st.composite
def samples(draw, uniform=True):
    """A shuffled sample: 0-25 signal events, 1-3 background processes of 0-25 events each (at least one event),
    weights constant within a stratum (``uniform``) or varying event by event. ``extras["id"]`` numbers the events
    (also in ``x[:, 0]``), so a part can be traced back; ``process`` is present or not."""
    n_sig = draw(st.integers(0, 25))
    n_bkg = draw(st.lists(st.integers(0, 25), min_size=1, max_size=3))
    if n_sig + sum(n_bkg) == 0:
        n_bkg[0] = 1
    process = np.concatenate([np.zeros(n_sig, np.int64)] + [np.full(n, p + 1, np.int64) for p, n in enumerate(n_bkg)])
    with_process = draw(st.booleans())
    stratum = process if with_process else np.minimum(process, 1)  # without ``process``: one background stratum
    level = np.array(draw(st.lists(st.floats(1e-3, 1e3), min_size=len(n_bkg) + 1, max_size=len(n_bkg) + 1)))
    w = level[stratum]
    if not uniform:
        w = w * np.array(draw(st.lists(st.floats(0.1, 10.0), min_size=len(w), max_size=len(w))))
    order = np.array(draw(st.permutations(range(len(w)))), dtype=np.int64)
    process, w = process[order], w[order]
    n = len(w)
    x = np.stack([np.arange(n, dtype=np.float64), np.asarray(process, np.float64)], axis=1)
    extras = {"id": np.arange(n)}
    if with_process:
        extras["process"] = process
    return Sample(x, (process == 0).astype(np.float32), w, extras)


fractions = st.lists(st.integers(1, 20), min_size=2, max_size=4).map(lambda a: tuple(v / sum(a) for v in a))
seeds = st.integers(0, 2**32 - 1)


def _sizes(sample, parts):
    """{stratum: [events of that stratum in each part]}."""
    strata = sample.strata()
    return {g: [int(np.sum(p.strata() == g)) for p in parts] for g in np.unique(strata)}


# ------------------------------------------------------------------------------------------------
# split: properties
# ------------------------------------------------------------------------------------------------
@SETTINGS
@given(samples(uniform=False), fractions, seeds)
def test_parts_partition_the_events(sample, fr, seed):
    parts = sample.split(fr, seed=seed)
    assert isinstance(parts, tuple) and len(parts) == len(fr)
    ids = np.concatenate([p.id for p in parts])
    np.testing.assert_array_equal(np.sort(ids), np.arange(len(sample)))  # every event once
    for p in parts:  # each event keeps its features, label and extras
        assert type(p) is Sample and set(p.extras) == set(sample.extras)
        np.testing.assert_array_equal(p.x, sample.x[p.id])
        np.testing.assert_array_equal(p.y, sample.y[p.id])
        for k, v in sample.extras.items():
            np.testing.assert_array_equal(p.extras[k], v[p.id])


@SETTINGS
@given(samples(uniform=False), fractions, seeds)
def test_weights_are_rescaled_by_the_stratum_share(sample, fr, seed):
    """Every weight is multiplied by W/W_part of its stratum: the same factor within a stratum, and each part
    predicts the whole stratum's yield exactly, whatever the weights."""
    parts = sample.split(fr, seed=seed)
    strata = sample.strata()
    for p in parts:
        for g in np.unique(p.strata()):
            sel = p.strata() == g
            factor = p.w[sel] / sample.w[p.id[sel]]
            np.testing.assert_allclose(factor, factor[0], rtol=1e-12)
            assert p.w[sel].sum() == pytest.approx(sample.w[strata == g].sum(), rel=1e-9)


@SETTINGS
@given(samples(uniform=True), fractions, seeds)
def test_each_part_predicts_every_stratum_yield(sample, fr, seed):
    """Weights constant within a stratum (expected events per simulated event of a process): each part that has
    events of a stratum predicts the whole stratum's expected yield, and the factor is N/N_part."""
    parts = sample.split(fr, seed=seed)
    strata = sample.strata()
    for g in np.unique(strata):
        total = sample.w[strata == g].sum()
        for p in parts:
            sel = p.strata() == g
            if sel.any():
                assert p.w[sel].sum() == pytest.approx(total, rel=1e-9)
            else:  # only a stratum smaller than the number of parts leaves a part without events
                assert np.sum(strata == g) < len(fr)


@SETTINGS
@given(samples(uniform=True), fractions, seeds)
def test_sizes_per_stratum_follow_the_rounding_rule(sample, fr, seed):
    """Part k ≥ 1 gets round(f_k · n) events of a stratum of n, part 0 the rest; with n ≥ number of parts every
    part gets at least one (the rounded sizes move only when they would leave a part empty)."""
    parts = sample.split(fr, seed=seed)
    P = len(fr)
    for g, sizes in _sizes(sample, parts).items():
        n = int(np.sum(sample.strata() == g))
        assert sum(sizes) == n
        want = [round(f * n) for f in fr[1:]]
        if n >= P:
            assert min(sizes) >= 1
            if min(want) >= 1 and sum(want) <= n - 1:  # the plain rule leaves no part empty: it applies as is
                assert sizes[1:] == want
            else:
                assert all(abs(s - w_) <= P for s, w_ in zip(sizes[1:], want))
        else:
            assert all(s <= w_ for s, w_ in zip(sizes[1:], want))  # a small stratum may leave parts empty


@SETTINGS
@given(seeds, seeds, fractions)
def test_deterministic_per_seed_and_seeds_differ(seed_a, seed_b, fr):
    rng = np.random.default_rng(0)
    y = (rng.random(600) < 0.3).astype(float)
    process = np.where(y == 1, 0, rng.integers(1, 3, 600))
    s = Sample(rng.normal(size=(600, 2)), y, np.ones(600), {"process": process, "id": np.arange(600)})
    a, again = s.split(fr, seed=seed_a), s.split(fr, seed=seed_a)
    for p, q in zip(a, again):
        np.testing.assert_array_equal(p.id, q.id)
        np.testing.assert_array_equal(p.w, q.w)
    if seed_a != seed_b:  # ≥ 2 parts of ≥ 100 events: the chance of the same partition is negligible
        b = s.split(fr, seed=seed_b)
        assert any(not np.array_equal(p.id, q.id) for p, q in zip(a, b))


def test_last_part_does_not_depend_on_the_parts_before_it():
    """The last part takes the first events of each permuted stratum: splitting off a validation part leaves the
    test part of a (train, test) split unchanged (Chapters 5 and 8)."""
    s = Sample(np.zeros((500, 1)), np.r_[np.ones(100), np.zeros(400)], np.ones(500), {"id": np.arange(500)})
    _, test = s.split((0.7, 0.3), seed=3)
    _, _, test3 = s.split((0.5, 0.2, 0.3), seed=3)
    np.testing.assert_array_equal(test.id, test3.id)


def test_default_split_is_two_halves():
    s = Sample(np.zeros((40, 1)), np.r_[np.ones(10), np.zeros(30)], np.ones(40))
    a, b = s.split()
    assert (len(a), len(b)) == (20, 20) and a.y.sum() == 5


def test_strata_without_process_are_the_two_classes():
    s = Sample(np.zeros((4, 1)), np.array([1, 0, 1, 0]), np.ones(4))
    np.testing.assert_array_equal(s.strata(), [-1, 0, -1, 0])
    s = Sample(np.zeros((4, 1)), np.array([1, 0, 1, 0]), np.ones(4), {"process": np.array([0, 2, 0, 1])})
    np.testing.assert_array_equal(s.strata(), [-1, 2, -1, 1])


# ------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fr, kwargs, name", [
    ((0.5, 0.4), {}, "fractions"),             # does not sum to 1
    ((0.6, 0.6), {}, "fractions"),
    ((1.0,), {}, "fractions"),                 # one part
    ((0.0, 1.0), {}, "fractions"),             # a fraction ≤ 0
    ((-0.5, 1.5), {}, "fractions"),
    ((float("nan"), 0.5), {}, "fractions"),
    ("train", {}, "fractions"),                # the old StopToy.split("train")
    ((0.5, 0.5), {"seed": -1}, "seed"),
    ((0.5, 0.5), {"seed": True}, "seed"),
    ((0.5, 0.5), {"seed": 1.5}, "seed"),
])
def test_split_bad_input_names_the_argument(fr, kwargs, name):
    s = Sample(np.zeros((10, 1)), np.r_[np.ones(5), np.zeros(5)], np.ones(10))
    with pytest.raises(ValueError, match=name):
        s.split(fr, **kwargs)


@pytest.mark.parametrize("kwargs, name", [
    (dict(x=np.zeros((3, 2))), "x"),
    (dict(w=np.ones(5)), "w"),
    (dict(extras={"process": np.zeros(3, np.int64)}), "process"),
])
def test_mismatched_lengths_name_the_array(kwargs, name):
    args = dict(x=np.zeros((4, 2)), y=np.array([1, 0, 1, 0]), w=np.ones(4))
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        Sample(**args)


# ------------------------------------------------------------------------------------------------
# subset and extras
# ------------------------------------------------------------------------------------------------
def _small():
    y = np.array([1, 0, 0, 1, 0])
    return Sample(np.arange(10.0).reshape(5, 2), y, np.arange(1.0, 6.0),
                  {"process": np.array([0, 1, 2, 0, 1]), "m2": np.linspace(0, 1, 5), "truth": None})


@pytest.mark.parametrize("idx", [np.array([4, 0, 2]), np.array([True, False, True, False, True])])
def test_subset_keeps_extras_and_weights(idx):
    s = _small()
    sub = s.subset(idx)
    rows = np.arange(5)[idx]
    np.testing.assert_array_equal(sub.x, s.x[rows])
    np.testing.assert_array_equal(sub.y, s.y[rows])
    np.testing.assert_array_equal(sub.w, s.w[rows])  # weights unchanged (not a split)
    assert set(sub.extras) == {"process", "m2", "truth"} and sub.truth is None
    np.testing.assert_array_equal(sub.process, s.process[rows])
    np.testing.assert_array_equal(sub.m2, s.m2[rows])
    assert len(s) == 5  # the original is untouched
    with pytest.raises(ValueError, match="idx"):
        s.subset(np.ones(3, bool))


def test_extras_are_attributes_and_unknown_names_are_attribute_errors():
    s = _small()
    assert s.process is s.extras["process"] and s.m2 is s.extras["m2"]
    with pytest.raises(AttributeError, match="nonsense"):
        s.nonsense
    assert not hasattr(s, "mass_index") and hasattr(s, "process")
    # copies and pickles work (no recursion through the extras lookup)
    for t in (copy.deepcopy(s), pickle.loads(pickle.dumps(s))):
        np.testing.assert_array_equal(t.process, s.process)
        np.testing.assert_array_equal(t.w, s.w)


# ------------------------------------------------------------------------------------------------
# the subclasses
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def belle_toy():
    return make_belle_toy(masses=[1.0, 4.0, 7.5], n_signal_per_mass=301, n_background=3001, seed=2)


def test_belle_split_keeps_n_gen_shares_and_per_mass_efficiencies(belle_toy):
    toy = belle_toy
    parts = toy.split((0.5, 0.2, 0.3), seed=4)
    n_k = np.bincount(toy.mass_index[toy.y == 1])
    for f, part in zip((None, 0.2, 0.3), parts):
        assert isinstance(part, BelleToy)
        np.testing.assert_array_equal(part.masses, toy.masses)
        np.testing.assert_array_equal(part.windows, toy.windows)
        counts = np.bincount(part.mass_index[part.y == 1], minlength=len(toy.masses))
        if f is not None:  # each mass is a stratum
            assert counts.tolist() == [round(f * n) for n in n_k]
        # n_gen of a part is its share of the generated events, so Σw = efficiency (acceptance included)
        np.testing.assert_allclose(part.n_gen, toy.n_gen * counts / n_k, rtol=1e-12)
        for k in range(len(toy.masses)):
            eff = part.w[part.mass_index == k].sum()
            assert eff == pytest.approx(toy.signal_acceptance[k], rel=1e-9)
            assert eff == pytest.approx(counts[k] / part.n_gen[k], rel=1e-9)
        for p in (1, 2, 3):
            assert part.expected(p) == pytest.approx(toy.expected(p), rel=1e-9)


def test_belle_split_gives_the_events_and_weights_of_the_previous_split(belle_toy):
    """The (train, test) split before issue 19, written out: the same events and weights, so the chapters keep
    their numbers."""
    toy = belle_toy
    rng = np.random.default_rng(5)
    groups = np.where(toy.y == 1, toy.mass_index, -1 - toy.process)
    is_test = np.zeros(len(toy), bool)
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        n_test = min(max(int(round(0.3 * len(members))), 1), len(members) - 1)
        is_test[rng.permutation(members)[:n_test]] = True
    train, test = toy.split((0.7, 0.3), seed=5)
    for part, mask in ((train, ~is_test), (test, is_test)):
        np.testing.assert_array_equal(part.m2_rec, toy.m2_rec[mask])
        share = {g: np.sum(groups[mask] == g) / np.sum(groups == g) for g in np.unique(groups)}
        np.testing.assert_allclose(part.w, toy.w[mask] / np.array([share[g] for g in groups[mask]]), rtol=1e-12)


@pytest.mark.parametrize("fr", [(0.7, 0.3), (0.35, 0.3, 0.35)])
def test_stop_parts_each_predict_the_full_expected_yields(fr):
    toy = make_stop_toy("uncompressed", n_signal=701, n_background=1303, seed=6)
    s_exp, b_exp = stop_expected_yields("uncompressed")
    parts = toy.split(fr, seed=1)
    assert sum(len(p) for p in parts) == len(toy)
    for f, p in zip(fr, parts):
        assert isinstance(p, StopToy) and p.expected_signal == pytest.approx(s_exp)
        assert p.w[p.y == 1].sum() == pytest.approx(s_exp, rel=1e-9)
        assert p.w[p.y == 0].sum() == pytest.approx(b_exp, rel=1e-9)
        assert len(p) == pytest.approx(f * len(toy), abs=2)


def test_replace_keeps_the_subclass_metadata(belle_toy):
    """``dataclasses.replace`` (how split and subset build parts) keeps every metadata field of a subclass."""
    sub = replace(belle_toy, extras=dict(belle_toy.extras, id=np.arange(len(belle_toy))))
    assert sub.luminosity == belle_toy.luminosity and sub.cross_section == belle_toy.cross_section
    part = sub.subset(sub.id < 100)
    assert len(part) == 100 and part.sample_luminosity == belle_toy.sample_luminosity
