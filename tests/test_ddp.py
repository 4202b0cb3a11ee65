"""Tests of hepsig_tutorial.ddp (Chapter 7 network, training and checkpoints)."""

import numpy as np
import pytest
import torch

import hepsig_tutorial.ddp as ddp
from hepsig_tutorial import bump
from hepsig_tutorial.models import count_parameters


def test_paper_parameter_count():
    model = ddp.ddp_network()
    assert count_parameters(model) == ddp.PAPER_PARAMETERS == 73_941
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv1d)]
    denses = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(convs) == 6 and len(denses) == 1  # "a dense layer followed by six 1-D convolutional layers"


def test_shapes_and_output_options():
    torch.manual_seed(0)
    model = ddp.ddp_network()
    out = model(torch.rand(7, 100))
    assert out.shape == (7, 100)
    assert (out < 0).any()  # linear output layer (default)
    relu = ddp.ddp_network(output="relu")
    assert count_parameters(relu) == ddp.PAPER_PARAMETERS
    assert torch.all(relu(torch.rand(7, 100)) >= 0)  # the paper's "ReLU on all layers"
    with pytest.raises(ValueError, match="output"):
        ddp.ddp_network(output="tanh")


def test_predictions_are_clipped_at_zero():
    torch.manual_seed(0)
    model = ddp.ddp_network()
    data = bump.generate_histograms(10, 0.0, rng=3)
    xs = bump.GlobalMinMaxScaler().fit(data["counts"])
    zs = bump.GlobalMinMaxScaler().fit(data["z"] + 1.0)
    assert np.all(ddp.predict_z(model, data["counts"], xs, zs) >= 0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="channels"):
        ddp.DDPNet(channels=(4, 2), kernels=(3, 3))
    with pytest.raises(ValueError, match="epochs"):
        ddp.train_ddp(ddp.ddp_network(), np.zeros((4, 100)), np.zeros((4, 100)), epochs=-1)
    with pytest.raises(ValueError, match="z_train"):
        ddp.train_ddp(ddp.ddp_network(), np.zeros((4, 100)), np.zeros((5, 100)), epochs=1)
    with pytest.raises(ValueError, match="x_train"):
        ddp.train_ddp(ddp.ddp_network(), np.full((4, 100), np.nan), np.zeros((4, 100)), epochs=1)
    with pytest.raises(ValueError, match="path"):
        ddp.load_ddp("/nonexistent/ddp.pt")


def test_training_reduces_the_loss_and_is_seeded():
    data = bump.generate_histograms(300, (5.0, 20.0), rng=0)
    xs = bump.GlobalMinMaxScaler().fit(data["counts"])
    zs = bump.GlobalMinMaxScaler().fit(data["z"])
    x, z = xs.transform(data["counts"]), zs.transform(data["z"])
    histories = []
    for _ in range(2):
        torch.manual_seed(3)
        model = ddp.ddp_network()
        histories.append(ddp.train_ddp(model, x[:240], z[:240], x_val=x[240:], z_val=z[240:], epochs=3,
                                       batch_size=20, lr=1e-3, seed=1, device="cpu"))
    h = histories[0]
    assert len(h["loss"]) == len(h["val_loss"]) == 3 and h["epochs"] == 3
    assert h["loss"][-1] < h["loss"][0]
    assert h["loss"] == histories[1]["loss"]  # same seeds, same numbers


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(1)
    model = ddp.ddp_network()
    data = bump.generate_histograms(20, 5.0, rng=2)
    xs = bump.GlobalMinMaxScaler().fit(data["counts"])
    zs = bump.GlobalMinMaxScaler().fit(data["z"])
    before = ddp.predict_z(model, data["counts"], xs, zs)
    path = ddp.save_ddp(tmp_path / "m.pt", model, x_scaler=xs, z_scaler=zs, history={"loss": [1.0, 0.5]},
                        meta={"mode": "test"})
    model2, xs2, zs2, info = ddp.load_ddp(path)
    after = ddp.predict_z(model2, data["counts"], xs2, zs2)
    np.testing.assert_allclose(after, before, rtol=1e-6, atol=1e-6)
    assert info["meta"] == {"mode": "test"} and info["history"]["loss"] == [1.0, 0.5]
    assert before.shape == (20, 100)


def test_training_writes_a_checkpoint_every_epoch(tmp_path):
    torch.manual_seed(0)
    model = ddp.ddp_network()
    x = np.random.default_rng(0).random((30, 100)).astype(np.float32)
    path = tmp_path / "run.pt"
    ddp.train_ddp(model, x, x, epochs=2, batch_size=10, seed=0, device="cpu", checkpoint=path,
                  checkpoint_extra={"meta": {"run": 1}})
    _, _, _, info = ddp.load_ddp(path)
    assert info["history"]["epochs"] == 2 and info["meta"] == {"run": 1}


def test_identity_initialisation_keeps_bins_in_place():
    torch.manual_seed(0)
    default = ddp.ddp_network()
    torch.manual_seed(0)
    eye = ddp.ddp_network(init="identity")
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
        ddp.ddp_network(init="orthogonal")


def test_cosine_schedule_follows_its_formula_and_constant_stays():
    x = np.random.default_rng(1).random((40, 100)).astype(np.float32)
    torch.manual_seed(0)
    h_cos = ddp.train_ddp(ddp.ddp_network(), x, x, epochs=4, batch_size=10, lr=1e-3, schedule="cosine",
                          seed=0, device="cpu")
    torch.manual_seed(0)
    h_const = ddp.train_ddp(ddp.ddp_network(), x, x, epochs=4, batch_size=10, lr=1e-3, seed=0, device="cpu")
    # 4 steps per epoch, 16 in all: the rate at the start of epoch e is lr (1 + cos(π·4e/16))/2
    expected = [1e-3 * 0.5 * (1 + np.cos(np.pi * 4 * e / 16)) for e in range(4)]
    np.testing.assert_allclose(h_cos["lr"], expected, rtol=1e-12)
    assert h_const["lr"] == [1e-3] * 4
    assert h_cos["loss"][1:] != h_const["loss"][1:]  # the schedule changes the updates
    with pytest.raises(ValueError, match="schedule"):
        ddp.train_ddp(ddp.ddp_network(), x, x, epochs=1, schedule="step")


def test_callback_sees_every_epoch():
    x = np.random.default_rng(2).random((20, 100)).astype(np.float32)
    seen = []
    ddp.train_ddp(ddp.ddp_network(), x, x, epochs=3, batch_size=10, seed=0, device="cpu",
                  callback=lambda epoch, model, hist: seen.append((epoch, len(hist["loss"]))))
    assert seen == [(0, 1), (1, 2), (2, 3)]
