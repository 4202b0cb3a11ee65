"""Tests of hepsig_tutorial.compare (Chapter 8: every loss on the same problems) and plots.capstone."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from hepsig_tutorial import compare, plots, stats, train  # noqa: E402


def _toy(n_sig=600, n_bkg=1800, seed=0, shift=1.5, s_total=50.0, b_total=2000.0):
    """Two Gaussian blobs in 3D, weights to expected events (each class sums to its yield)."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(shift, 1.0, (n_sig, 3)), rng.normal(0.0, 1.0, (n_bkg, 3))]).astype(np.float32)
    y = np.concatenate([np.ones(n_sig), np.zeros(n_bkg)])
    w = np.where(y == 1, s_total / n_sig, b_total / n_bkg)
    return x, y, w


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
    assert len(hist["loss"]) + len(hist["pretrain_loss"]) == 12
    if method in ("asimov", "punzi"):
        assert len(hist["pretrain_loss"]) == 3  # round(0.25 · 12) pretraining epochs within the budget
    assert all(math.isfinite(v) for v in hist["loss"])


@pytest.mark.parametrize("method", compare.METHODS)
def test_tiny_signal_yield_keeps_training_finite(method):
    # expected signal 1e-3 events (s → 0 in float32): every loss must stay finite
    x, y, w = _toy(n_sig=100, n_bkg=300, s_total=1e-3, b_total=1e4)
    model, hist = compare.train_classifier(method, x, y, w, epochs=3, batch_size=None, lr=1e-2, device="cpu")
    assert all(math.isfinite(v) for v in hist["loss"] + hist["pretrain_loss"])
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_same_seed_same_model_and_different_seed_differs():
    x, y, w = _toy(n_sig=200, n_bkg=400)
    kw = dict(epochs=2, batch_size=300, lr=1e-2, device="cpu")
    a = train.predict(compare.train_classifier("bce", x, y, w, seed=3, **kw)[0], x)
    b = train.predict(compare.train_classifier("bce", x, y, w, seed=3, **kw)[0], x)
    c = train.predict(compare.train_classifier("bce", x, y, w, seed=4, **kw)[0], x)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("kwargs, word", [
    (dict(method="mse"), "method"),
    (dict(epochs=0), "epochs"),
    (dict(pretrain_fraction=1.0), "pretrain_fraction"),
    (dict(asimov_sigma_b_rel=-0.1), "asimov_sigma_b_rel"),
    (dict(seed=-1), "seed"),
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
    with pytest.raises(ValueError, match="w_train"):
        compare.train_classifier("bce", x, y, -w, epochs=1)
    with pytest.raises(ValueError, match="same length"):
        compare.train_classifier("bce", x[:-1], y, w, epochs=1)
    with pytest.raises(ValueError, match="both signal"):
        compare.train_classifier("bce", x, np.zeros_like(y), w, epochs=1)


# ------------------------------------------------------------------------------------------------
# evaluation
# ------------------------------------------------------------------------------------------------
def test_evaluate_scores_matches_an_independent_scan():
    rng = np.random.default_rng(2)
    n = 300
    y = (rng.random(n) < 0.3).astype(float)
    w = np.where(y == 1, 20.0 / y.sum(), 500.0 / (n - y.sum()))
    score = rng.normal(y * 1.5, 1.0)
    m = compare.evaluate_scores(score, y, w, score, y, w, n_cuts=3000, min_background_events=10)
    # independent: every selection "score ≥ value" of the sorted scores
    S = w[y == 1].sum()
    best_z = {rel: 0.0 for rel in compare.SIGMA_B_RELS}
    best_mu = np.inf
    for t in np.unique(score):
        keep = score >= t
        nb = int((keep & (y == 0)).sum())
        s, b = w[keep & (y == 1)].sum(), w[keep & (y == 0)].sum()
        if nb < 10 or s <= 0:
            continue
        for rel in best_z:
            best_z[rel] = max(best_z[rel], stats.asimov_significance(s, b, rel * b))
        best_mu = min(best_mu, stats.punzi_sensitivity(s / S, b) / S)
    for rel, z in best_z.items():
        assert m[f"z_a_{rel:g}"] == pytest.approx(z, rel=1e-6)
    assert m["mu_min"] == pytest.approx(best_mu, rel=1e-6)
    assert 0 < m["eff_0.1"] <= 1 and 0 < m["eff_punzi"] <= 1
    assert 0 <= m["cut_width"] <= 1


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


def test_cut_width_known_answer_for_a_perfect_score():
    # signal always above background: at every cut inside the signal, b is the one-event floor, so
    # Z_A(σ_b/b = 0.1) grows with the kept signal s = ε·S and cut_width = 1 − ε* with Z_A(ε*·S) = 0.9·Z_A(S).
    from scipy.optimize import brentq

    rng = np.random.default_rng(5)
    n = 4000
    y = (rng.random(n) < 0.5).astype(float)
    w = np.where(y == 1, 100.0 / y.sum(), 100.0 / (n - y.sum()))
    perfect = y + rng.uniform(0, 0.5, n)
    S, b0 = 100.0, w[y == 0].min()
    z = lambda e: stats.asimov_significance(e * S, b0, 0.1 * b0)  # noqa: E731
    eff_star = brentq(lambda e: z(e) - 0.9 * z(1.0), 1e-6, 1.0)
    width = compare.evaluate_scores(perfect, y, w, perfect, y, w, n_cuts=2000)["cut_width"]
    assert width == pytest.approx(1.0 - eff_star, abs=0.01)
    # a weak score has a broad, flat optimum in efficiency -- wider than the perfect score's
    weak = rng.normal(0.3 * y, 1.0)
    assert compare.evaluate_scores(weak, y, w, weak, y, w)["cut_width"] > width


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


# ------------------------------------------------------------------------------------------------
# summaries
# ------------------------------------------------------------------------------------------------
def _run(method, seed, z):
    return compare.RunResult(problem="p", method=method, seed=seed, lr=0.01, metrics={"z_a_0": z, "mu_min": 1 / z},
                             train_seconds=0.0)


def test_summarise_mean_and_standard_error():
    runs = [_run("bce", s, z) for s, z in enumerate([1.0, 2.0, 4.0])] + [_run("punzi", 0, 3.0)]
    rows = {r.method: r for r in compare.summarise(runs)}
    assert rows["bce"].n_seeds == 3
    assert rows["bce"].value("z_a_0")[0] == pytest.approx(7 / 3)
    assert rows["bce"].value("z_a_0")[1] == pytest.approx(np.std([1, 2, 4], ddof=1) / math.sqrt(3))
    assert math.isnan(rows["punzi"].err["z_a_0"])
    with pytest.raises(ValueError, match="metric"):
        rows["bce"].value("nope")


def test_separated_needs_the_error_bars_to_separate():
    a = compare.SummaryRow("p", "a", 0.1, 3, {"z": 5.0}, {"z": 0.1})
    b = compare.SummaryRow("p", "b", 0.1, 3, {"z": 4.0}, {"z": 0.1})
    c = compare.SummaryRow("p", "c", 0.1, 3, {"z": 4.8}, {"z": 0.2})
    assert compare.separated(a, b, "z") == 1
    assert compare.separated(b, a, "z") == -1
    assert compare.separated(a, c, "z") == 0
    nan = compare.SummaryRow("p", "d", 0.1, 1, {"z": 1.0}, {"z": float("nan")})
    assert compare.separated(a, nan, "z") == 0


# ------------------------------------------------------------------------------------------------
# the full comparison
# ------------------------------------------------------------------------------------------------
def test_compare_losses_end_to_end_small():
    x, y, w = _toy(n_sig=400, n_bkg=1200)
    xt, yt, wt = _toy(n_sig=400, n_bkg=1200, seed=9)
    res = compare.compare_losses(x, y, w, xt, yt, wt, methods=("bce", "lovasz"), seeds=(0, 1), epochs=4,
                                 lrs=(1e-3, 3e-2), problem="blobs", device="cpu")
    assert len(res.runs) == 4 and {r.method for r in res.runs} == {"bce", "lovasz"}
    for method in ("bce", "lovasz"):
        vals = {lr: res.validation[(method, lr)] for lr in (1e-3, 3e-2)}
        assert res.chosen_lr[method] == max(vals, key=vals.get)
        row = res.row(method)
        assert row.n_seeds == 2 and row.lr == res.chosen_lr[method]
        assert row.mean["z_a_0"] > row.mean["z_a_0.1"] > row.mean["z_a_0.5"] > 0
    assert res.config["batch_size"] == math.ceil(0.25 * res.config["n_fit"])
    assert res.config["n_fit"] + res.config["n_val"] == len(y)
    table = res.table()
    assert "BCE + cut" in table and "Lovász" in table and table.count("\n") == 3
    with pytest.raises(ValueError, match="method"):
        res.row("punzi")


@pytest.mark.parametrize("kwargs, word", [
    (dict(methods=("bce", "focal")), "method"),
    (dict(seeds=()), "seeds"),
    (dict(seeds=(0, 0)), "seeds"),
    (dict(lrs=(0.0,)), "lrs"),
    (dict(select_metric="auc"), "select_metric"),
    (dict(val_fraction=1.5), "val_fraction"),
    (dict(batch_fraction=0.0), "batch_fraction"),
])
def test_compare_losses_rejects_bad_arguments(kwargs, word):
    x, y, w = _toy(n_sig=50, n_bkg=50)
    with pytest.raises(ValueError, match=word):
        compare.compare_losses(x, y, w, x, y, w, epochs=1, **kwargs)


def test_compare_losses_rejects_feature_mismatch():
    x, y, w = _toy(n_sig=50, n_bkg=50)
    with pytest.raises(ValueError, match="x_test"):
        compare.compare_losses(x, y, w, x[:, :2], y, w, epochs=1)


def test_standard_problems_weights_are_expected_events():
    probs = compare.standard_problems(include=("gauss2d", "stop_uncompressed"), gauss_per_process=300,
                                      stop_signal=200, stop_background=600)
    assert set(probs) == {"gauss2d", "stop_uncompressed"}
    xtr, ytr, wtr, xte, yte, wte = probs["gauss2d"]
    for y, w in ((ytr, wtr), (yte, wte)):   # case 1 at 3000 fb⁻¹: s = 300, b = 3000 + 300 000
        assert w[y == 1].sum() == pytest.approx(300.0)
        assert w[y == 0].sum() == pytest.approx(303_000.0)
    xtr, ytr, wtr, *_ = probs["stop_uncompressed"]
    assert wtr[ytr == 1].sum() == pytest.approx(17.6 * 0.059 * 30, rel=1e-4)
    with pytest.raises(ValueError, match="include"):
        compare.standard_problems(include=("lhc",))


def test_belle_window_arrays():
    from hepsig_tutorial.data import make_belle_toy

    toy = make_belle_toy(masses=[3.0, 7.0], n_signal_per_mass=300, n_background=3000, seed=0)
    tr, _ = toy.split(0.4, seed=0)
    x, y, w = compare.belle_window_arrays(tr, 1, signal_xsec_fb=10.0)
    assert x.shape == (len(y), 4) and (w > 0).all()
    col = tr.window_column(1)
    np.testing.assert_allclose(w[y == 0].sum(), tr.weight[col & (tr.label == 0)].sum())
    # signal: 10 fb × L × acceptance × (share of the mass-7 signal inside its window) expected events
    share = (col & (tr.label == 1)).sum() / ((tr.label == 1) & (tr.mass_index == 1)).sum()
    assert w[y == 1].sum() == pytest.approx(10.0 * tr.luminosity * tr.signal_acceptance[1] * share, rel=1e-6)
    with pytest.raises(ValueError, match="k"):
        compare.belle_window_arrays(tr, 2)
    with pytest.raises(ValueError, match="signal_xsec_fb"):
        compare.belle_window_arrays(tr, 0, signal_xsec_fb=0.0)


# ------------------------------------------------------------------------------------------------
# figures
# ------------------------------------------------------------------------------------------------
def test_capstone_figures():
    x, y, w = _toy(n_sig=300, n_bkg=900)
    res = compare.compare_losses(x, y, w, x, y, w, methods=("bce", "s_sqrt_s_b"), seeds=(0, 1), epochs=2,
                                 lrs=(1e-2,), problem="blobs", device="cpu")
    fig = plots.plot_capstone_summary({"blobs": res})
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 1
    # BCE relative to itself is exactly 1 for every metric
    line = fig.axes[0].lines[0]
    assert line.get_ydata()[0] == pytest.approx(1.0)
    fig2 = plots.plot_z_vs_efficiency(res, sigma_b_rel=0.5)
    assert len(fig2.axes[0].get_lines()) == 2
    with pytest.raises(ValueError, match="seed_index"):
        plots.plot_z_vs_efficiency(res, seed_index=5)
    with pytest.raises(ValueError, match="comparisons"):
        plots.plot_capstone_summary({})
    plt.close("all")
