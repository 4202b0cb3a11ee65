"""Tests of Chapter 5's method layer (hepsig_tutorial/asimov.py): protocol pieces on a small toy."""

import numpy as np
import pytest
import torch

from hepsig_tutorial import asimov as ch5
from hepsig_tutorial import metrics


@pytest.fixture(scope="module")
def problem():
    return ch5.stop_problem("compressed", n_signal=1500, n_background=6000, seed=2, val_fraction=0.3,
                            test_fraction=0.3)


def test_problem_splits_are_scaled_on_training_events_and_weighted_to_the_yields(problem):
    tr = problem.train["x"]
    np.testing.assert_allclose(tr.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(tr.std(axis=0), 1.0, atol=1e-3)
    for d in (problem.train, problem.val, problem.test):
        assert d["w"][d["y"] == 1].sum() == pytest.approx(problem.expected_signal, rel=1e-5)
        assert d["w"][d["y"] == 0].sum() == pytest.approx(problem.expected_background, rel=1e-5)
    assert len(problem.val["y"]) == pytest.approx(0.3 * 7500, abs=2)
    # the parts are those of the toy's stratified split with the problem's seed, x standardised on train
    parts = problem.toy.split((0.4, 0.3, 0.3), seed=2)
    for d, part in zip((problem.train, problem.val, problem.test), parts):
        np.testing.assert_allclose(d["w"], part.w, rtol=1e-6)
        np.testing.assert_array_equal(d["y"], part.y)
        np.testing.assert_allclose(d["x"], (part.x - parts[0].x.mean(0)) / parts[0].x.std(0), rtol=1e-4, atol=1e-4)


def test_paired_initialisation_and_output_layers(problem):
    bce = ch5.build_model("BCE", 3, problem.n_features)
    asi = ch5.build_model("Asimov", 3, problem.n_features)
    other = ch5.build_model("Asimov", 4, problem.n_features)
    for p, q in zip(bce.parameters(), asi.parameters()):
        assert torch.equal(p, q)
    assert not all(torch.equal(p, q) for p, q in zip(asi.parameters(), other.parameters()))
    x = problem.test["x"][:50]
    logits = ch5.train.predict(bce, x).astype(np.float64)
    np.testing.assert_allclose(ch5.probabilities(bce, x), 1 / (1 + np.exp(-logits)), rtol=1e-12)
    np.testing.assert_allclose(ch5.probabilities(asi, x), ch5.train.predict(asi, x), rtol=1e-6)
    assert ch5.probabilities(bce, x).dtype == np.float64


def test_bce_probabilities_keep_the_far_tail_distinct():
    model = torch.nn.Sequential(torch.nn.Linear(1, 1), torch.nn.Identity(), torch.nn.Flatten(0))
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[0].bias.zero_()
    p = ch5.probabilities(model, np.array([[20.0], [25.0], [30.0]], dtype=np.float32))
    assert len(np.unique(p)) == 3  # float32 sigmoid would give 1.0 three times


def test_bce_training_data_is_class_balanced(problem):
    d = ch5.training_data("BCE", problem)
    assert d["w"][d["y"] == 1].sum() == pytest.approx(0.5, rel=1e-5)
    assert d["w"][d["y"] == 0].sum() == pytest.approx(0.5, rel=1e-5)
    assert ch5.training_data("Asimov", problem) is problem.train


def test_monitor_is_the_best_allowed_validation_cut(problem):
    model = ch5.build_model("Asimov", 0, problem.n_features)
    mon = ch5.za_monitor(problem.val, 0.3, min_background_events=5)
    p = ch5.probabilities(model, problem.val["x"])
    scan = metrics.cut_scan(p, problem.val["y"], problem.val["w"], n_cuts=101)
    fom = metrics.asimov_z(scan, 0.3)
    assert mon(model) == pytest.approx(metrics.at_cut(fom, metrics.best_cut(fom, scan, min_background_events=5))[0])
    assert np.isnan(ch5.za_monitor(problem.val, 0.3, min_background_events=10**6)(model))


def test_training_with_early_stopping_and_evaluation_choose_on_validation(problem):
    model, hist, lr = ch5.train_loss(problem, "Asimov", seed=1, lr=1e-2, sigma_b_rel=0.5, epochs=4, patience=2,
                                     batch_size=1024)
    assert lr == 1e-2 and hist["best_epoch"] is not None and len(hist["monitor"]) <= 4
    ev = ch5.evaluate(problem, [model, model], (0.0, 0.5), n_bootstrap=20)
    for rel, e in ev.items():
        assert e["boot"].shape == (2, 20)
        np.testing.assert_array_equal(e["boot"][0], e["boot"][1])  # same replicates for every model (paired)
        # the cut is the validation optimum, and the quoted numbers are those of the test sample at it
        pv = ch5.probabilities(model, problem.val["x"])
        cuts = metrics.cut_grid(pv, problem.val["y"], 201)
        sv = metrics.cut_scan(pv, problem.val["y"], problem.val["w"], cuts=cuts)
        i = metrics.best_cut(metrics.asimov_z(sv, rel), sv)
        assert e["cut"][0] == cuts[i]
        pt = ch5.probabilities(model, problem.test["x"])
        keep = pt >= cuts[i]
        te = problem.test
        assert e["s"][0] == pytest.approx(te["w"][keep & (te["y"] == 1)].sum())
        assert e["n_background"][0] == (keep & (te["y"] == 0)).sum()


def test_compare_losses_and_table_use_the_right_networks(problem):
    res = ch5.compare_losses(problem, seeds=[0, 1], lrs=(1e-2,), epochs=2, patience=1, train_sigmas=(0.1, 0.5),
                             batch_size=2048)
    assert set(res) == {"BCE", "s/√(s+b)", "Asimov 0.1", "Asimov 0.5"}
    assert all(len(v["models"]) == 2 and v["lr"] == 1e-2 for v in res.values())
    rows, by_net = ch5.table(problem, res, (0.0, 0.3, 0.5), n_bootstrap=10)
    assert rows["Asimov", 0.0]["network"] == "Asimov 0.1"
    assert rows["Asimov", 0.5]["network"] == "Asimov 0.5"
    np.testing.assert_array_equal(rows["BCE", 0.3]["z"], by_net["BCE"][0.3]["z"])
    e = rows["s/√(s+b)", 0.5]["estimate"]
    assert e.n_seeds == 2 and e.se >= e.se_mc


def test_printed_formula_count_and_pretraining_study(problem):
    bad, total = ch5.printed_formula_nonpositive(problem, 0.5, seeds=[0], n_batches=5, batch_size=512)
    assert total == 5 and 0 <= bad <= total
    out = ch5.pretraining_study(problem, 0.5, seeds=[0], lr=1e-3, pretrain_epochs=1, epochs=2, batch_size=2048)
    assert out["stable, random start"].shape == (1, 2) and out["printed, pretrained"].shape == (1, 2)
    np.testing.assert_array_equal(out["stable, pretrained"][:, 0], out["printed, pretrained"][:, 0])
    assert out["soft_purity"].shape == (1, 2)


@pytest.mark.parametrize("call, name", [
    (lambda p: ch5.build_model("MSE", 0, 9), "loss"),
    (lambda p: ch5.loss_function("Asimov", p), "sigma_b_rel"),
    (lambda p: ch5.train_loss(p, "BCE", seed=0, epochs=1, patience=1), "lr"),
    (lambda p: ch5.pretraining_study(p, 0.5, seeds=[0], lr=1e-3, pretrain_epochs=3, epochs=3), "pretrain_epochs"),
])
def test_bad_input_names_the_argument(problem, call, name):
    with pytest.raises(ValueError, match=name):
        call(problem)
