"""Tests of hepsig_tutorial.ddp (Chapter 7 network, training and checkpoints)."""

import json

import numpy as np
import pytest
import torch

import hepsig_tutorial.ddp as ddp
from hepsig_tutorial import bump
from hepsig_tutorial.data import Scaler
from hepsig_tutorial.models import count_parameters
from tests._shared import killed_and_whole_ddp_runs


def test_paper_parameter_count():
    model = ddp.DDPNet()
    assert count_parameters(model) == ddp.PAPER_PARAMETERS == 73_941
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv1d)]
    denses = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(convs) == 6 and len(denses) == 1  # "a dense layer followed by six 1-D convolutional layers"


def test_shapes_and_output_options():
    torch.manual_seed(0)
    model = ddp.DDPNet()
    out = model(torch.rand(7, 100))
    assert out.shape == (7, 100)
    assert (out < 0).any()  # linear output layer (default)
    relu = ddp.DDPNet(output="relu")
    assert count_parameters(relu) == ddp.PAPER_PARAMETERS
    assert torch.all(relu(torch.rand(7, 100)) >= 0)  # the paper's "ReLU on all layers"
    with pytest.raises(ValueError, match="output"):
        ddp.DDPNet(output="tanh")


def test_predictions_are_clipped_at_zero():
    torch.manual_seed(0)
    model = ddp.DDPNet()
    data = bump.generate_histograms(10, 0.0, rng=3)
    xs = Scaler(per_feature=False).fit(data["counts"])
    zs = Scaler(per_feature=False).fit(data["z"] + 1.0)
    assert np.all(ddp.predict_z(model, data["counts"], xs, zs) >= 0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="channels"):
        ddp.DDPNet(channels=(4, 2), kernels=(3, 3))
    with pytest.raises(ValueError, match="epochs"):
        ddp.train_ddp(ddp.DDPNet(), np.zeros((4, 100)), np.zeros((4, 100)), epochs=-1)
    with pytest.raises(ValueError, match="z_train"):
        ddp.train_ddp(ddp.DDPNet(), np.zeros((4, 100)), np.zeros((5, 100)), epochs=1)
    with pytest.raises(ValueError, match="x_train"):
        ddp.train_ddp(ddp.DDPNet(), np.full((4, 100), np.nan), np.zeros((4, 100)), epochs=1)
    with pytest.raises(ValueError, match="path"):
        ddp.load_ddp("/nonexistent/ddp.pt")


def test_training_reduces_the_loss_and_is_seeded():
    data = bump.generate_histograms(300, (5.0, 20.0), rng=0)
    xs = Scaler(per_feature=False).fit(data["counts"])
    zs = Scaler(per_feature=False).fit(data["z"])
    x, z = xs.transform(data["counts"]), zs.transform(data["z"])
    histories = []
    for _ in range(2):
        torch.manual_seed(3)
        model = ddp.DDPNet()
        histories.append(ddp.train_ddp(model, x[:240], z[:240], x_val=x[240:], z_val=z[240:], epochs=3,
                                       batch_size=20, lr=1e-3, seed=1, device="cpu"))
    h = histories[0]
    assert len(h["loss"]) == len(h["val_loss"]) == 3
    assert h["loss"][-1] < h["loss"][0]
    assert h["loss"] == histories[1]["loss"]  # same seeds, same numbers


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(1)
    model = ddp.DDPNet()
    data = bump.generate_histograms(20, 5.0, rng=2)
    xs = Scaler(per_feature=False).fit(data["counts"])
    zs = Scaler(per_feature=False).fit(data["z"])
    before = ddp.predict_z(model, data["counts"], xs, zs)
    path = ddp.save_ddp(tmp_path / "m.pt", model, x_scaler=xs, z_scaler=zs, history={"loss": [1.0, 0.5]},
                        meta={"mode": "test"})
    model2, xs2, zs2, info = ddp.load_ddp(path)
    after = ddp.predict_z(model2, data["counts"], xs2, zs2)
    np.testing.assert_allclose(after, before, rtol=1e-6, atol=1e-6)
    assert info["meta"] == {"mode": "test"} and info["history"]["loss"] == [1.0, 0.5]
    assert before.shape == (20, 100)


def test_identity_initialisation_keeps_bins_in_place():
    torch.manual_seed(0)
    default = ddp.DDPNet()
    torch.manual_seed(0)
    eye = ddp.DDPNet(init="identity")
    assert count_parameters(eye) == ddp.PAPER_PARAMETERS  # only the starting point differs
    w = eye.dense.weight.detach()
    # identity plus one tenth of the default random weights, bias zero
    torch.testing.assert_close(w - torch.eye(100), 0.1 * default.dense.weight.detach())
    assert torch.all(eye.dense.bias == 0)
    # a bump in one bin stays the largest entry of the dense layer's output in that bin
    x = torch.full((1, 100), 0.2)
    x[0, 40] = 1.0
    assert int(torch.argmax(eye.dense(x))) == 40
    with pytest.raises(ValueError, match="init"):
        ddp.DDPNet(init="orthogonal")


def test_cosine_schedule_follows_its_formula_and_constant_stays():
    x = np.random.default_rng(1).random((40, 100)).astype(np.float32)
    torch.manual_seed(0)
    h_cos = ddp.train_ddp(ddp.DDPNet(), x, x, epochs=4, batch_size=10, lr=1e-3, schedule="cosine",
                          seed=0, device="cpu")
    torch.manual_seed(0)
    h_const = ddp.train_ddp(ddp.DDPNet(), x, x, epochs=4, batch_size=10, lr=1e-3, seed=0, device="cpu")
    # 4 steps per epoch, 16 in all: the rate at the start of epoch e is lr (1 + cos(π·4e/16))/2
    expected = [1e-3 * 0.5 * (1 + np.cos(np.pi * 4 * e / 16)) for e in range(4)]
    np.testing.assert_allclose(h_cos["lr"], expected, rtol=1e-12)
    assert h_const["lr"] == [1e-3] * 4
    assert h_cos["loss"][1:] != h_const["loss"][1:]  # the schedule changes the updates
    with pytest.raises(ValueError, match="schedule"):
        ddp.train_ddp(ddp.DDPNet(), x, x, epochs=1, schedule="step")


def test_callback_sees_every_epoch():
    x = np.random.default_rng(2).random((20, 100)).astype(np.float32)
    seen = []
    ddp.train_ddp(ddp.DDPNet(), x, x, epochs=3, batch_size=10, seed=0, device="cpu",
                  callback=lambda epoch, model, hist: seen.append((epoch, len(hist["loss"]))))
    assert seen == [(0, 1), (1, 2), (2, 3)]


# ------------------------------------------------------------------------------------------------
# the resumable paper-scale run, its evaluation and the shipped network
# ------------------------------------------------------------------------------------------------
_TINY = dict(n_train=300, n_val=50, epochs=2, batch_size=50, eval_every=4, n_eval=30, checkpoint_minutes=0.0,
             verbose=False)


def test_run_training_resumes_exactly_where_it_stopped(tmp_path):
    sa, sb = killed_and_whole_ddp_runs(tmp_path, 5, **_TINY)
    assert sa["step"] == 12
    drop = ("wall_s",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in sa["log"]] == \
           [{k: v for k, v in r.items() if k not in drop} for r in sb["log"]]
    log = ddp.read_log(tmp_path / "b" / "log.csv")
    assert list(log["step"]) == [4, 8, 12] and np.all((log["A_pred"] >= 0) & (log["A_pred"] <= 1))
    model, xs, zs, info = ddp.load_ddp(tmp_path / "b" / "latest.pt")
    assert info["meta"]["step"] == 12 and xs is not None and zs is not None


def test_run_training_refuses_a_changed_recipe_and_bad_input(tmp_path):
    ddp.run_training(tmp_path, stop_at_step=1, **_TINY)
    with pytest.raises(ValueError, match="run_dir"):
        ddp.run_training(tmp_path, **{**_TINY, "lr": 5e-4})
    with pytest.raises(ValueError, match="schedule"):
        ddp.run_training(tmp_path / "x", **{**_TINY, "schedule": "step"})
    with pytest.raises(ValueError, match="n_eval"):
        ddp.run_training(tmp_path / "y", **{**_TINY, "n_eval": 1})


def test_auc_error_matches_the_spread_of_repeated_experiments():
    # under H0 the Mann-Whitney variance is exact: (n1 + n2 + 1) / (12 n1 n2)
    n = 1000
    assert abs(ddp.auc_error(0.5, n, n) / np.sqrt((2 * n + 1) / (12 * n * n)) - 1) < 0.01
    rng = np.random.default_rng(0)
    aucs = [ddp.auc(rng.exponential(2.0, 200), rng.exponential(1.0, 300)) for _ in range(400)]
    predicted = ddp.auc_error(float(np.mean(aucs)), 200, 300)  # exponential scores: Hanley-McNeil's own model
    assert abs(np.std(aucs) / predicted - 1) < 0.15
    with pytest.raises(ValueError, match="auc"):
        ddp.auc_error(1.2, 10, 10)


def _provenance():
    assert ddp.PRETRAINED.is_file(), f"the shipped network {ddp.PRETRAINED} is missing"
    return json.loads(ddp.PRETRAINED.with_suffix(".json").read_text())


def test_shipped_network_matches_its_provenance_sha256():
    prov = _provenance()
    assert ddp._sha256(ddp.PRETRAINED) == prov["sha256"]
    model, xs, zs, info = ddp.load_pretrained()
    assert count_parameters(model) == ddp.PAPER_PARAMETERS
    assert info["provenance"]["steps"] == prov["steps"] and prov["samples"] == prov["steps"] * prov["config"]["batch_size"]


def test_shipped_network_reproduces_its_a_pred_on_fresh_test_sets():
    """A_pred on new, differently seeded 3σ and background-only sets (1,500 each, a few seconds) agrees
    with the provenance value within 3 combined standard errors (Hanley-McNeil)."""
    prov = _provenance()
    model, xs, zs, _ = ddp.load_pretrained(device="cpu")
    seed = (424_242, 17)
    assert seed != prov["evaluation"]["test_seed"]
    m = ddp.evaluate_ddp(model, xs, zs, ddp.make_test_sets(1_500, seed), n_boot=50)
    ref, ref_err = prov["evaluation"]["A_pred"], prov["evaluation"]["A_pred_err"]
    tol = 3.0 * np.hypot(m["A_pred_err"], ref_err)
    assert abs(m["A_pred"] - ref) <= tol, (m["A_pred"], ref, tol)
    # and the peak location, binomial errors
    tol3 = 3.0 * np.hypot(m["peak3_err"], prov["evaluation"]["peak3_err"])
    assert abs(m["peak3"] - prov["evaluation"]["peak3"]) <= tol3


def test_shipped_network_predictions_are_device_independent():
    """Stated tolerance: |Δz| ≤ 1e-3 σ between float32 on the CPU and float64 (the exact arithmetic of the
    same weights), and between the CPU and CUDA (TF32 off) when a GPU is present."""
    model, xs, zs, _ = ddp.load_pretrained(device="cpu")
    counts = bump.generate_histograms(200, (1.0, 20.0), rng=np.random.default_rng([5, 5]))["counts"]
    z32 = ddp.predict_z(model, counts, xs, zs)
    x64 = torch.as_tensor(xs.transform(counts), dtype=torch.float64)
    with torch.no_grad():
        z64 = np.maximum(zs.inverse_transform(model.double()(x64).numpy()), 0.0)
    model.float()
    assert np.abs(z32 - z64).max() <= 1e-3
    if torch.cuda.is_available():
        old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        try:
            zc = ddp.predict_z(model.to("cuda"), counts, xs, zs)
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
            model.to("cpu")
        assert np.abs(zc - z32).max() <= 1e-3


def test_ship_run_writes_weights_provenance_and_log_and_the_override_loads_it(tmp_path, monkeypatch):
    ddp.run_training(tmp_path / "run", **_TINY)
    out = tmp_path / "ship" / "net.pt"
    prov = ddp.ship_run(tmp_path / "run", out, n_test=40, test_seed=99, command="python -m hepsig_tutorial.ddp train")
    assert prov["sha256"] == ddp._sha256(out) and prov["steps"] == 12 and prov["finished"]
    assert prov["samples"] == 12 * _TINY["batch_size"] and prov["evaluation"]["n_per_set"] == 40
    assert (tmp_path / "ship" / "net-log.csv").is_file() and out.with_suffix(".json").is_file()
    monkeypatch.setenv("HEPSIG_DDP_CHECKPOINT", str(out))
    model, xs, zs, info = ddp.load_pretrained()
    assert info["path"] == str(out) and info["provenance"]["sha256"] == prov["sha256"]
    out.write_bytes(out.read_bytes() + b"tampered")
    with pytest.raises(ValueError, match="sha256"):
        ddp.load_pretrained()
    # the command line maps its options onto ship_run's keywords
    threads = torch.get_num_threads()
    try:
        assert ddp._main(["ship", "--dir", str(tmp_path / "run"), "--out", str(out), "--n-test", "30"]) == 0
    finally:
        torch.set_num_threads(threads)
    assert json.loads(out.with_suffix(".json").read_text())["evaluation"]["n_per_set"] == 30
    # latest.pt (the EMA network that is shipped) must be from the checkpoint's step
    model, xs, zs, _ = ddp.load_ddp(tmp_path / "run" / "latest.pt")
    ddp.save_ddp(tmp_path / "run" / "latest.pt", model, x_scaler=xs, z_scaler=zs, meta={"step": 3})
    with pytest.raises(ValueError, match="run_dir"):
        ddp.ship_run(tmp_path / "run", out)


def test_the_command_line_module_loads_once_and_ht_ddp_loads_lazily():
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-m", "hepsig_tutorial.ddp", "--help"],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0 and "found in sys.modules" not in res.stderr, res.stderr
    code = ("import sys, hepsig_tutorial as ht; assert 'hepsig_tutorial.ddp' not in sys.modules; "
            "assert ht.ddp.PAPER_PARAMETERS == 73941 and 'hepsig_tutorial.ddp' in sys.modules")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
