"""Tests of hepsig_tutorial.compare (Chapter 8: every loss on the same problems) and plots.capstone."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from hepsig_tutorial import compare, metrics, plots, stats, train  # noqa: E402
from hepsig_tutorial.data import Sample, problems  # noqa: E402


def _toy(n_sig=600, n_bkg=1800, seed=0, shift=1.5, s_total=50.0, b_total=2000.0):
    """Two Gaussian blobs in 3D, weights to expected events (each class sums to its yield)."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(shift, 1.0, (n_sig, 3)), rng.normal(0.0, 1.0, (n_bkg, 3))]).astype(np.float32)
    y = np.concatenate([np.ones(n_sig), np.zeros(n_bkg)])
    w = np.where(y == 1, s_total / n_sig, b_total / n_bkg)
    return x, y, w


def _sample(**kw):
    """:func:`_toy` as a :class:`Sample` (what :func:`compare.compare_losses` takes)."""
    return Sample(*_toy(**kw))


def _auc(scores, y):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    n1, n0 = (y == 1).sum(), (y == 0).sum()
    return (ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)


# ------------------------------------------------------------------------------------------------
# training interface
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", compare.METHODS)
def test_every_method_learns_a_separating_score(method):
    x, y, w = _toy()
    model, hist = compare.train_classifier(method, x, y, w, epochs=12, batch_size=600, lr=3e-2, seed=1,
                                           device="cpu")
    xt, yt, _ = _toy(seed=5)
    scores = train.predict(model, xt)
    assert np.isfinite(scores).all()
    # the Bayes-optimal AUC of these blobs is ≈ 0.97; a random score gives 0.5
    assert _auc(scores, yt) > 0.85, method
    assert len(hist["loss"]) == 12
    assert hist["pretrain_epochs"] == (3 if method in ("asimov", "punzi") else 0)  # round(0.25 · 12) within the budget
    assert all(math.isfinite(v) for v in hist["loss"])


@pytest.mark.parametrize("method", compare.METHODS)
def test_tiny_signal_yield_keeps_training_finite(method):
    # expected signal 1e-3 events (s → 0 in float32): every loss must stay finite
    x, y, w = _toy(n_sig=100, n_bkg=300, s_total=1e-3, b_total=1e4)
    model, hist = compare.train_classifier(method, x, y, w, epochs=3, batch_size=None, lr=1e-2, device="cpu")
    assert all(math.isfinite(v) for v in hist["loss"])
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_same_seed_same_model_and_different_seed_differs():
    x, y, w = _toy(n_sig=200, n_bkg=400)
    kw = dict(epochs=2, batch_size=300, lr=1e-2, device="cpu")
    a = train.predict(compare.train_classifier("bce", x, y, w, seed=3, **kw)[0], x)
    b = train.predict(compare.train_classifier("bce", x, y, w, seed=3, **kw)[0], x)
    c = train.predict(compare.train_classifier("bce", x, y, w, seed=4, **kw)[0], x)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_bce_is_on_logits_with_class_balanced_weights():
    # a perfectly separable 1D toy: on logits the BCE keeps a gradient however large |F| gets, so the scores grow
    x = np.r_[np.full(50, -1.0), np.full(50, 1.0)][:, None].astype(np.float32)
    y = np.r_[np.zeros(50), np.ones(50)]
    w = np.where(y == 1, 1.0 / 50, 100.0 / 50)
    model, _ = compare.train_classifier("bce", x, y, w, epochs=200, batch_size=None, lr=0.1, hidden=(), device="cpu")
    f = train.predict(model, x)
    assert f[y == 1].min() > 5 and f[y == 0].max() < -5


def test_early_stopping_restores_the_best_validation_state():
    x, y, w = _toy(seed=1)
    xv, yv, wv = _toy(seed=2)
    monitor = compare.validation_monitor(xv, yv, wv, sigma_b_rel=0.1)
    model, hist = compare.train_classifier("asimov", x, y, w, epochs=40, batch_size=600, lr=3e-2, seed=0,
                                           monitor=monitor, patience=5, device="cpu")
    mon = np.asarray(hist["monitor"])
    assert np.all(np.isnan(mon[:hist["pretrain_epochs"]]))      # no monitor during pretraining
    assert hist["best_epoch"] == int(np.nanargmax(mon))
    assert monitor(model) == pytest.approx(np.nanmax(mon))       # the best state is the one returned
    if hist["stopped_epoch"] is not None:
        assert hist["stopped_epoch"] - hist["best_epoch"] == 5
        assert len(hist["loss"]) == hist["stopped_epoch"] + 1


def test_validation_monitor_is_the_best_eligible_validation_z():
    x, y, w = _toy(n_sig=300, n_bkg=900, seed=3)
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    net = lambda t: model(t).squeeze(-1)  # noqa: E731
    mon = compare.validation_monitor(x, y, w, sigma_b_rel=0.1, min_background_events=5)

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = model

        def forward(self, t):
            return net(t)

    m = Wrap()
    scores = train.predict(m, x).astype(np.float64)
    scan = metrics.cut_scan(scores, y, w, n_cuts=101)
    z = metrics.asimov_z(scan, 0.1)[0][0]
    assert mon(m) == pytest.approx(z[scan.eligible(5)[0]].max())
    # no cut keeps 10 000 simulated background events: NaN (never an improvement for early stopping)
    assert math.isnan(compare.validation_monitor(x, y, w, min_background_events=10_000)(m))
    with pytest.raises(ValueError, match="sigma_b_rel"):
        compare.validation_monitor(x, y, w, sigma_b_rel=-1.0)


@pytest.mark.parametrize("kwargs, word", [
    (dict(method="mse"), "method"),
    (dict(epochs=0), "epochs"),
    (dict(pretrain_fraction=1.0), "pretrain_fraction"),
    (dict(asimov_sigma_b_rel=-0.1), "asimov_sigma_b_rel"),
    (dict(lovasz_kappa=0.0), "lovasz_kappa"),
    (dict(seed=-1), "seed"),
    (dict(patience=3), "patience"),
])
def test_train_classifier_rejects_bad_arguments(kwargs, word):
    x, y, w = _toy(n_sig=20, n_bkg=20)
    args = dict(method="bce", epochs=1)
    args.update(kwargs)
    method = args.pop("method")
    with pytest.raises(ValueError, match=word):
        compare.train_classifier(method, x, y, w, **args)


def test_bad_arrays_name_the_argument():
    x, y, w = _toy(n_sig=20, n_bkg=20)
    with pytest.raises(ValueError, match="y_train"):
        compare.train_classifier("bce", x, np.full_like(y, 2.0), w, epochs=1)
    with pytest.raises(ValueError, match="w_train.*negative"):
        compare.train_classifier("bce", x, y, -w, epochs=1)
    with pytest.raises(ValueError, match="same length"):
        compare.train_classifier("bce", x[:-1], y, w, epochs=1)
    with pytest.raises(ValueError, match="both signal"):
        compare.train_classifier("bce", x, np.zeros_like(y), w, epochs=1)


# ------------------------------------------------------------------------------------------------
# evaluation
# ------------------------------------------------------------------------------------------------
def test_evaluate_scores_matches_an_independent_scan_with_the_floor_rule():
    rng = np.random.default_rng(2)
    n = 400
    y = (rng.random(n) < 0.3).astype(float)
    proc = np.where(rng.random(n) < 0.5, 1, 2)
    w = np.where(y == 1, 20.0 / y.sum(), np.where(proc == 1, 2.0, 5.0))
    score = rng.normal(y * 1.5, 1.0)
    cuts = np.unique(score)
    m = compare.evaluate_scores(score, y, w, score, y, w, process_val=proc, process_test=proc, cuts=cuts,
                                min_background_events=5)
    # independent: every selection "score ≥ t"; each process floored at 1.14 × its mean weight
    S = w[y == 1].sum()
    floors = {p: -math.log(0.32) * w[(y == 0) & (proc == p)].mean() for p in (1, 2)}
    best_z = {rel: 0.0 for rel in compare.SIGMA_B_RELS}
    best_mu = np.inf
    for t in cuts:
        keep = score >= t
        if int((keep & (y == 0)).sum()) < 5 or not (keep & (y == 1)).any():
            continue
        s = w[keep & (y == 1)].sum()
        b = sum(max(w[keep & (y == 0) & (proc == p)].sum(), floors[p]) for p in (1, 2))
        for rel in best_z:
            best_z[rel] = max(best_z[rel], stats.asimov_significance(s, b, rel * b))
        best_mu = min(best_mu, stats.punzi_sensitivity(s / S, b) / S)
    for rel, z in best_z.items():
        assert m[f"z_a_{rel:g}"] == pytest.approx(z, rel=1e-6)
    assert m["mu_min"] == pytest.approx(best_mu, rel=1e-6)
    assert 0 < m["eff_0.1"] <= 1 and 0 < m["eff_punzi"] <= 1
    assert 0 <= m["cut_width"] <= 1
    assert m["boot"] is None


def test_bootstrap_replicates_are_shared_between_classifiers():
    rng = np.random.default_rng(3)
    n = 3000
    y = (rng.random(n) < 0.3).astype(float)
    w = np.where(y == 1, 20.0 / y.sum(), 500.0 / (n - y.sum()))
    a = rng.normal(y * 1.5, 1.0)
    b = a + rng.normal(0.0, 0.05, n)   # a slightly different classifier
    ma = compare.evaluate_scores(a, y, w, a, y, w, n_bootstrap=64, bootstrap_seed=7)
    mb = compare.evaluate_scores(a, y, w, a, y, w, n_bootstrap=64, bootstrap_seed=7)
    mc = compare.evaluate_scores(b, y, w, b, y, w, n_bootstrap=64, bootstrap_seed=7)
    md = compare.evaluate_scores(b, y, w, b, y, w, n_bootstrap=64, bootstrap_seed=8)
    assert ma["boot"]["z_a_0"].shape == (64,)
    # the replicates scatter around the value with a sensible MC spread
    assert abs(ma["boot"]["z_a_0"].mean() - ma["z_a_0"]) < 3 * ma["boot"]["z_a_0"].std()
    assert ma["boot"]["z_a_0"].std() > 0
    np.testing.assert_array_equal(ma["boot"]["z_a_0"], mb["boot"]["z_a_0"])
    # two similar scores on the same sample and bootstrap seed share the multiplicities: the MC error of their
    # difference is much smaller than with independent replicates
    paired_sd = np.std(ma["boot"]["z_a_0"] - mc["boot"]["z_a_0"])
    unpaired_sd = np.std(ma["boot"]["z_a_0"] - md["boot"]["z_a_0"])
    assert paired_sd < 0.5 * unpaired_sd


def test_cut_is_chosen_on_validation_not_test():
    # validation: the score is informative; test: the same events with the score reversed.
    rng = np.random.default_rng(4)
    n = 400
    y = (rng.random(n) < 0.5).astype(float)
    w = np.where(y == 1, 10.0 / y.sum(), 100.0 / (n - y.sum()))
    score = rng.normal(2 * y, 0.5)
    honest = compare.evaluate_scores(score, y, w, score, y, w)
    reversed_test = compare.evaluate_scores(score, y, w, -score, y, w)
    # the validation cut keeps the high-score tail, which on the reversed test sample is mostly background
    assert reversed_test["z_a_0"] < 0.5 * honest["z_a_0"]


def test_cut_width_counts_only_cuts_that_keep_background():
    # signal always above background. Without the rule (min 0 events) Z_A(σ_b/b = 0.1) grows with the kept
    # signal on top of the floor b0, so cut_width = 1 − ε* with Z_A(ε*·S) = 0.9·Z_A(S). With the rule (≥ 5
    # simulated background events) every eligible cut keeps all the signal: cut_width = 0.
    from scipy.optimize import brentq

    rng = np.random.default_rng(5)
    n = 4000
    y = (rng.random(n) < 0.5).astype(float)
    w = np.where(y == 1, 100.0 / y.sum(), 100.0 / (n - y.sum()))
    perfect = y + rng.uniform(0, 0.5, n)
    S, b0 = 100.0, -math.log(0.32) * w[y == 0].mean()
    z = lambda e: stats.asimov_significance(e * S, b0, 0.1 * b0)  # noqa: E731
    eff_star = brentq(lambda e: z(e) - 0.9 * z(1.0), 1e-6, 1.0)
    width0 = compare.evaluate_scores(perfect, y, w, perfect, y, w, n_cuts=2000,
                                     min_background_events=0)["cut_width"]
    assert width0 == pytest.approx(1.0 - eff_star, abs=0.01)
    assert compare.evaluate_scores(perfect, y, w, perfect, y, w, n_cuts=2000)["cut_width"] == 0.0
    # a weak score has a broad, flat optimum in efficiency
    weak = rng.normal(0.3 * y, 1.0)
    assert compare.evaluate_scores(weak, y, w, weak, y, w)["cut_width"] > 0.05


def test_evaluate_scores_rejects_bad_input():
    s = np.array([0.1, 0.9, 0.5, 0.4])
    y = np.array([0, 1, 0, 1])
    w = np.ones(4)
    with pytest.raises(ValueError, match="min_background_events"):
        compare.evaluate_scores(s, y, w, s, y, w, min_background_events=10)
    with pytest.raises(ValueError, match="width_level"):
        compare.evaluate_scores(s, y, w, s, y, w, width_level=1.5)
    with pytest.raises(ValueError, match="y_test"):
        compare.evaluate_scores(s, y, w, s, y[:3], w)
    with pytest.raises(ValueError, match="process_val"):
        compare.evaluate_scores(s, y, w, s, y, w, process_val=np.ones(3, dtype=int))


# ------------------------------------------------------------------------------------------------
# summaries and verdicts
# ------------------------------------------------------------------------------------------------
def _run(method, seed, z, boot=None, problem="p"):
    return compare.RunResult(problem=problem, method=method, seed=seed, lr=0.01,
                             metrics={"z_a_0": z, "mu_min": 1 / z}, train_seconds=0.0,
                             boot=None if boot is None else {"z_a_0": boot, "mu_min": 1 / boot})


def test_summarise_combines_seed_spread_and_mc_error():
    rng = np.random.default_rng(0)
    shared = rng.normal(0, 0.1, 200)  # the same test-sample fluctuation for every seed
    runs = [_run("bce", s, z, z + shared) for s, z in enumerate([1.0, 2.0, 4.0])] + [_run("punzi", 0, 3.0)]
    rows = {r.method: r for r in compare.summarise(runs)}
    e = rows["bce"].estimates["z_a_0"]
    assert rows["bce"].n_seeds == 3
    assert e.value == pytest.approx(7 / 3)
    assert e.se_seed == pytest.approx(np.std([1, 2, 4], ddof=1) / math.sqrt(3))
    assert e.se_mc == pytest.approx(np.std(shared, ddof=1), rel=1e-9)
    assert e.se == pytest.approx(math.hypot(e.se_seed, e.se_mc))
    assert rows["bce"].mean["z_a_0"] == e.value
    assert rows["punzi"].estimates["z_a_0"].se == 0.0  # one seed, no bootstrap: no error to quote


def _comparison(values_by_method, problem="p", noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, noise, 100)
    runs = []
    for m, vals in values_by_method.items():
        for s, v in enumerate(vals):
            runs.append(_run(m, s, v, v + shared + rng.normal(0, noise / 10, 100), problem))
    return compare.Comparison(problem=problem, runs=runs, summary=compare.summarise(runs), validation={},
                              chosen_lr={}, config={"bootstrap_seed": 0}, seconds=0.0)


def test_verdicts_holm_over_the_whole_family():
    base = [5.0, 5.2, 4.9, 5.1, 5.0]
    comp = _comparison({"bce": base, "lovasz": [v + 1.0 for v in base],           # clearly better
                        "punzi": [v + 0.01 * (-1) ** i for i, v in enumerate(base)],  # the same
                        "asimov": [v - 1.0 for v in base]})                       # clearly worse
    out = compare.verdicts({"p": comp}, metrics_=("z_a_0", "mu_min"))
    assert len(out) == 6  # 3 methods × 2 metrics, one family
    by = {(v.method, v.metric): v for v in out}
    assert by[("lovasz", "z_a_0")].sign == 1 and by[("lovasz", "mu_min")].sign == 1   # smaller σ_min is better
    assert by[("asimov", "z_a_0")].sign == -1 and by[("asimov", "mu_min")].sign == -1
    assert by[("punzi", "z_a_0")].sign == 0 and not by[("punzi", "z_a_0")].reject
    # Holm: the decisions are those of metrics.holm on the family's p-values
    np.testing.assert_array_equal([v.reject for v in out], metrics.holm([v.difference.p for v in out]))
    with pytest.raises(ValueError, match="baseline"):
        compare.verdicts({"p": comp}, baseline="s_sqrt_s_b")


def test_paired_needs_the_same_seeds():
    a = _comparison({"bce": [1.0, 2.0, 3.0]})
    b = _comparison({"bce": [1.0, 2.0]})
    with pytest.raises(ValueError, match="same seeds"):
        compare.paired(a, "bce", b, "bce", "z_a_0")
    with pytest.raises(ValueError, match="method_a"):
        compare.paired(a, "lovasz", a, "bce", "z_a_0")


# ------------------------------------------------------------------------------------------------
# the full comparison
# ------------------------------------------------------------------------------------------------
def test_split_keeps_every_process_yield_and_caps_the_fit_part():
    """The parts of compare_losses: Sample.split, then at most max_fit_events fit events per class (_cap)."""
    rng = np.random.default_rng(0)
    n = 3000
    y = (rng.random(n) < 0.2).astype(float)
    proc = np.where(y == 1, 0, rng.integers(1, 3, n))
    w = np.where(y == 1, 30.0 / y.sum(), np.where(proc == 1, 1000.0 / (proc == 1).sum(), 10.0 / (proc == 2).sum()))
    x = rng.normal(size=(n, 2)).astype(np.float32)
    sample = Sample(x, y, w, {"process": proc})
    fit, val = sample.split((0.5, 0.5), seed=1)
    capped = compare._cap(fit, 300, seed=1)
    for part in (fit, capped, val):
        assert part.w[part.y == 1].sum() == pytest.approx(30.0)
        assert part.w[(part.y == 0) & (part.process == 1)].sum() == pytest.approx(1000.0)
        assert part.w[(part.y == 0) & (part.process == 2)].sum() == pytest.approx(10.0)
    assert (capped.y == 0).sum() <= 301 and (capped.y == 1).sum() <= 301
    assert (fit.y == 0).sum() > 1000  # the cap did cut the background
    # stratified: each background process keeps its share of the capped background
    share = (capped.process[capped.y == 0] == 1).mean()
    assert share == pytest.approx((fit.process[fit.y == 0] == 1).mean(), abs=0.01)
    assert len(val) == pytest.approx(n / 2, abs=3)
    assert compare._cap(fit, None, seed=1).x.shape == fit.x.shape  # no cap: every fit event
    again = compare._cap(sample.split((0.5, 0.5), seed=1)[0], 300, seed=1)
    np.testing.assert_array_equal(capped.x, again.x)  # the split depends on the seed only


def test_compare_losses_end_to_end_small():
    x, y, w = _toy(n_sig=400, n_bkg=1200)
    res = compare.compare_losses(Sample(x, y, w), methods=("bce", "lovasz"), seeds=(0, 1, 2), epochs=6, patience=3,
                                 lrs=(1e-3, 3e-2), n_bootstrap=20, problem="blobs", device="cpu")
    assert len(res.runs) == 6 and {r.method for r in res.runs} == {"bce", "lovasz"}
    for method in ("bce", "lovasz"):
        vals = {lr: res.validation[(method, lr)] for lr in (1e-3, 3e-2)}
        assert res.chosen_lr[method] == max(vals, key=vals.get)
        row = res.row(method)
        assert row.n_seeds == 3 and row.lr == res.chosen_lr[method]
        assert row.mean["z_a_0"] > row.mean["z_a_0.1"] > row.mean["z_a_0.5"] > 0
        assert row.estimates["z_a_0"].se_mc > 0
    assert all(r.boot["z_a_0"].shape == (20,) for r in res.runs)
    assert res.config["batch_size"] == math.ceil(0.25 * res.config["n_fit"])
    assert res.config["n_fit"] + res.config["n_val"] + res.config["n_test"] == len(y)
    assert res.config["n_test"] == pytest.approx(0.3 * len(y), abs=2)
    assert res.config["n_val"] == pytest.approx(0.35 * len(y), abs=2)
    d = compare.paired(res, "lovasz", res, "bce", "z_a_0")
    assert d.n_seeds == 3 and 0 <= d.p <= 1
    table = res.table()
    assert "BCE + cut" in table and "Lovász" in table and table.count("\n") == 3
    assert set(res.histories()) == {"BCE + cut", "Lovász-Z (hinge)"}
    with pytest.raises(ValueError, match="method"):
        res.row("punzi")


def test_init_seeds_change_the_networks_not_the_splits():
    s = _sample(n_sig=300, n_bkg=900)
    kw = dict(methods=("bce",), seeds=(0, 1), epochs=3, patience=None, lrs=(1e-2,), n_bootstrap=10, device="cpu")
    a = compare.compare_losses(s, **kw)
    b = compare.compare_losses(s, init_seeds=(100, 101), **kw)
    assert a.config["n_val"] == b.config["n_val"]
    assert [r.metrics["z_a_0"] for r in a.runs] != [r.metrics["z_a_0"] for r in b.runs]
    np.testing.assert_array_equal(a.runs[0].boot["z_a_0"] - a.runs[0].metrics["z_a_0"] * 0,
                                  a.runs[0].boot["z_a_0"])  # replicates exist for the A/A pairing
    assert compare.paired(a, "bce", b, "bce", "z_a_0").n_seeds == 2


@pytest.mark.parametrize("kwargs, word", [
    (dict(methods=("bce", "focal")), "method"),
    (dict(seeds=()), "seeds"),
    (dict(seeds=(0, 0)), "seeds"),
    (dict(init_seeds=(1,)), "init_seeds"),
    (dict(lrs=(0.0,)), "lrs"),
    (dict(select_sigma_b_rel=-1.0), "select_sigma_b_rel"),
    (dict(val_fraction=1.5), "val_fraction"),
    (dict(test_fraction=0.0), "test_fraction"),
    (dict(batch_fraction=0.0), "batch_fraction"),
    (dict(max_fit_events=0), "max_fit_events"),
])
def test_compare_losses_rejects_bad_arguments(kwargs, word):
    s = _sample(n_sig=50, n_bkg=50)
    with pytest.raises(ValueError, match=word):
        compare.compare_losses(s, epochs=1, **kwargs)


def test_compare_losses_rejects_bad_samples_and_bare_arrays():
    x, y, w = _toy(n_sig=50, n_bkg=50)
    with pytest.raises(ValueError, match="sample"):
        compare.compare_losses((x, y, w), epochs=1)
    with pytest.raises(ValueError, match="y_sample"):
        compare.compare_losses(Sample(x, 2 * y, w), epochs=1)
    with pytest.raises(ValueError, match="w_sample"):
        compare.compare_losses(Sample(x, y, -w), epochs=1)
    with pytest.raises(ValueError, match="process_sample"):
        compare.compare_losses(Sample(x, y, w, {"process": np.zeros(len(y))}), epochs=1)


def test_each_seed_draws_its_own_test_part():
    """Seed i splits the whole sample into fit / val / test; different seeds, different test events (so the seed
    spread sees the test sample's fluctuations); the same seed, the same parts for every method."""
    s = _sample(n_sig=300, n_bkg=900)
    s.extras["id"] = np.arange(len(s))
    fit0, val0, test0 = compare._parts(s, 0, 0.3, 0.5, None)
    fit1, val1, test1 = compare._parts(s, 1, 0.3, 0.5, None)
    assert len(test0) == len(test1) == pytest.approx(0.3 * len(s), abs=2)
    assert set(test0.id) != set(test1.id)
    assert set(fit0.id) | set(val0.id) | set(test0.id) == set(range(len(s)))
    assert not set(fit0.id) & set(test0.id) and not set(val0.id) & set(test0.id)
    np.testing.assert_array_equal(compare._parts(s, 0, 0.3, 0.5, None)[2].id, test0.id)
    res = compare.compare_losses(s, methods=("bce",), seeds=(0, 1), epochs=1, patience=None, lrs=(1e-2,),
                                 n_bootstrap=0, device="cpu")
    assert (res.config["n_fit"], res.config["n_val"], res.config["n_test"]) == (len(fit0), len(val0), len(test0))


def test_standard_problems_weights_are_expected_events():
    probs = problems.standard_problems(include=("gauss2d", "stop_uncompressed"), gauss_per_process=300,
                                       stop_signal=200, stop_background=600)
    assert set(probs) == {"gauss2d", "stop_uncompressed"}
    g = probs["gauss2d"]   # case 1 at 3000 fb⁻¹: s = 300, b = 3000 (b1) + 300 000 (b2)
    assert isinstance(g, Sample) and len(g) == 900
    assert g.w[g.y == 1].sum() == pytest.approx(300.0)
    assert g.w[(g.y == 0) & (g.process == 1)].sum() == pytest.approx(3_000.0)
    assert g.w[(g.y == 0) & (g.process == 2)].sum() == pytest.approx(300_000.0)
    case2 = problems.standard_problems(include=("gauss2d",), gauss_per_process=300, gauss_case=2)["gauss2d"]
    assert case2.w[(case2.y == 0) & (case2.process == 1)].sum() == pytest.approx(300_000.0)
    st_ = probs["stop_uncompressed"]
    assert st_.w[st_.y == 1].sum() == pytest.approx(17.6 * 0.059 * 30, rel=1e-4)
    assert len(st_) == 800 and set(np.unique(st_.process[st_.y == 0])) == {1}
    with pytest.raises(ValueError, match="include"):
        problems.standard_problems(include=("lhc",))


def test_standard_belle_problems_are_the_mass_windows():
    probs = problems.standard_problems(include=("belle",), belle_masses=(3.0, 7.0), belle_signal=300,
                                       belle_background=3000, seed=0)
    assert set(probs) == {"belle_m3", "belle_m7"}
    from hepsig_tutorial.data import make_belle_toy

    toy = make_belle_toy(masses=[3.0, 7.0], n_signal_per_mass=300, n_background=3000, seed=0)
    for prob, k in zip((probs["belle_m3"], probs["belle_m7"]), (0, 1)):
        np.testing.assert_array_equal(prob.x, problems.belle_window_sample(toy, k).x)
        np.testing.assert_array_equal(prob.w, problems.belle_window_sample(toy, k).w)


def test_belle_window_sample():
    from hepsig_tutorial.data import make_belle_toy

    toy = make_belle_toy(masses=[3.0, 7.0], n_signal_per_mass=300, n_background=3000, seed=0)
    tr, _ = toy.split((0.6, 0.4), seed=0)
    win = problems.belle_window_sample(tr, 1, signal_xsec_fb=10.0)
    x, y, w, proc = win.x, win.y, win.w, win.process
    assert type(win) is Sample and x.shape == (len(y), 4) and (w > 0).all() and proc.shape == y.shape
    assert set(np.unique(proc[y == 0])) <= {1, 2, 3}
    col = tr.window_column(1)
    assert len(win) == col.sum()
    np.testing.assert_allclose(w[y == 0].sum(), tr.w[col & (tr.y == 0)].sum())
    # signal: 10 fb × L × (efficiency of the window, acceptance included: Σ 1/N_generated) expected events
    eff = tr.w[col & (tr.y == 1)].sum()
    assert eff == pytest.approx((col & (tr.y == 1)).sum() / tr.n_gen[1], rel=1e-6)
    assert eff < tr.signal_acceptance[1]
    assert w[y == 1].sum() == pytest.approx(10.0 * tr.luminosity * eff, rel=1e-6)
    np.testing.assert_allclose(problems.belle_window_sample(tr, 1, signal_xsec_fb=20.0).w[y == 1], 2 * w[y == 1])
    with pytest.raises(ValueError, match="k"):
        problems.belle_window_sample(tr, 2)
    with pytest.raises(ValueError, match="signal_xsec_fb"):
        problems.belle_window_sample(tr, 0, signal_xsec_fb=0.0)


# ------------------------------------------------------------------------------------------------
# figures
# ------------------------------------------------------------------------------------------------
def test_capstone_figures():
    s = _sample(n_sig=300, n_bkg=900)
    res = compare.compare_losses(s, methods=("bce", "s_sqrt_s_b"), seeds=(0, 1, 2), epochs=2,
                                 patience=None, lrs=(1e-2,), n_bootstrap=10, problem="blobs", device="cpu")
    v = compare.verdicts({"blobs": res})
    fig = plots.plot_capstone_summary({"blobs": res}, verdicts=v)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 1
    # one point per metric for the one method compared with BCE, at the paired relative difference
    d = compare.paired(res, "s_sqrt_s_b", res, "bce", "z_a_0")
    ys = [ln.get_ydata()[0] for ln in fig.axes[0].lines if len(ln.get_ydata()) == 1]
    assert any(y_ == pytest.approx(d.value / abs(res.row("bce").mean["z_a_0"])) for y_ in ys)
    fig2 = plots.plot_z_vs_efficiency(res, sigma_b_rel=0.5)
    assert len(fig2.axes[0].get_lines()) == 2
    with pytest.raises(ValueError, match="seed_index"):
        plots.plot_z_vs_efficiency(res, seed_index=5)
    with pytest.raises(ValueError, match="comparisons"):
        plots.plot_capstone_summary({})
    plt.close("all")
