"""Mode switch, seeding, claim checks, models and the training loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import hepsig_tutorial as ht
from hepsig_tutorial import checks, config, models, train


def test_mode_switch(monkeypatch):
    monkeypatch.delenv("HEPSIG_MODE", raising=False)
    assert config.mode() == "fast" and config.scaled(1, 2) == 1
    monkeypatch.setenv("HEPSIG_MODE", "FULL")
    assert config.mode() == "full" and config.scaled(1, 2) == 2
    monkeypatch.setenv("HEPSIG_MODE", "fastest")
    with pytest.raises(ValueError, match="HEPSIG_MODE"):
        config.mode()


def test_device_is_cpu_or_cuda():
    assert config.device().type in ("cpu", "cuda")


def test_seed_everything_is_reproducible():
    a = config.seed_everything(3).normal(size=3), torch.rand(2)
    b = config.seed_everything(3).normal(size=3), torch.rand(2)
    np.testing.assert_array_equal(a[0], b[0])
    assert torch.equal(a[1], b[1])
    with pytest.raises(ValueError, match="seed"):
        config.seed_everything(-1)


def test_claim_checks_raise_readable_errors():
    assert checks.check_close("x", 1.05, 1.0, rtol=0.1) is None  # a check prints (returns) nothing
    with pytest.raises(ht.ClaimDrift, match=r"claims y = 1 .*code now gives 1\.5"):
        checks.check_close("y", 1.5, 1.0, atol=0.1)
    with pytest.raises(ht.ClaimDrift, match="lies in"):
        checks.check_between("z", 3.0, 0.0, 1.0)
    with pytest.raises(ht.ClaimDrift, match="NaN"):
        checks.check_between("w", float("nan"), 0.0, 1.0)
    with pytest.raises(ht.ClaimDrift, match="ordering"):
        checks.check_true("an ordering", False)
    with pytest.raises(ValueError, match="tolerance"):
        checks.check_close("v", 1.0, 1.0)
    checks.check_close("t", torch.tensor(2.0), 2.0, atol=1e-9)
    with pytest.raises(ht.ClaimDrift):
        checks.check_close("t", torch.tensor(2.1), 2.0, atol=1e-9)


def test_mode_aware_expectations(monkeypatch):
    monkeypatch.setenv("HEPSIG_MODE", "fast")
    checks.check_close("a", 1.0, 1.0, atol=0.1, full=5.0)        # FAST uses the first expectation
    checks.check_between("b", 0.5, 0.0, 1.0, full=(4.0, 6.0))
    monkeypatch.setenv("HEPSIG_MODE", "full")
    checks.check_close("a", 5.05, 1.0, atol=0.1, full=5.0)       # FULL uses full=, same tolerance
    checks.check_close("a", 5.4, 1.0, atol=0.1, full=dict(expected=5.0, atol=0.5))
    with pytest.raises(ht.ClaimDrift, match="FULL"):
        checks.check_close("a", 1.0, 1.0, atol=0.1, full=5.0)
    with pytest.raises(ht.ClaimDrift):
        checks.check_between("b", 0.5, 0.0, 1.0, full=(4.0, 6.0))
    checks.check_between("b", 0.5, 0.0, 1.0, full="same")
    with pytest.raises(ht.ClaimDrift):
        checks.check_true("c", False, full="same")
    checks.check_true("c", False, full="skip")                  # a FAST-only observation
    checks.check_close("d", 99.0, 1.0, atol=0.1, full="skip")
    with pytest.raises(ValueError, match="full"):
        checks.check_between("b", 0.5, 0.0, 1.0, full="maybe")
    with pytest.raises(ValueError, match="full"):
        checks.check_close("a", 1.0, 1.0, atol=0.1, full=dict(value=1.0))


def test_glue_keeps_python_numbers():
    checks.glue("x_value", np.float32(1.5))
    checks.glue("t_value", torch.tensor(2.0))
    assert checks.GLUED["x_value"] == 1.5 and isinstance(checks.GLUED["x_value"], float)
    assert checks.GLUED["t_value"] == 2.0 and isinstance(checks.GLUED["t_value"], float)
    with pytest.raises(ValueError, match="name"):
        checks.glue("not a name", 1.0)


def test_mlp_shapes_and_punzi_net_size():
    net = models.mlp(4, (8, 4), "tanh")
    assert net(torch.zeros(7, 4)).shape == (7,)
    assert models.count_parameters(net) == 4 * 8 + 8 + 8 * 4 + 4 + 4 + 1
    out = net(torch.randn(100, 4))
    assert torch.all((out > 0) & (out < 1))
    lin = models.mlp(2, (), output="linear")
    assert models.count_parameters(lin) == 3
    with pytest.raises(ValueError, match="activation"):
        models.mlp(2, (3,), "swish")
    with pytest.raises(ValueError, match="n_inputs"):
        models.mlp(0)


def test_fit_learns_a_separable_problem_and_is_deterministic():
    from hepsig_tutorial.losses import make_bce_loss

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-1, 0.5, (200, 2)), rng.normal(1, 0.5, (200, 2))]).astype(np.float32)
    y = np.r_[np.zeros(200), np.ones(200)].astype(np.float32)

    def run():
        torch.manual_seed(0)
        net = models.mlp(2, (4,), output="linear")
        hist = train.fit(net, make_bce_loss(), {"x": x, "y": y}, epochs=30, batch_size=64, lr=0.05, seed=1,
                         device="cpu")
        return net, hist

    net, hist = run()
    assert hist["loss"][-1] < 0.3 * hist["loss"][0]
    acc = ((train.predict(net, x) > 0.0) == (y > 0.5)).mean()      # logits: the cut at ŷ = 0.5 is F = 0
    assert acc > 0.95
    _, hist2 = run()
    assert hist["loss"] == hist2["loss"]


def test_fit_passes_batch_fraction_and_rejects_bad_input():
    seen = []

    def loss_fn(out, batch):
        seen.append(batch["fraction"])
        return out.mean()

    x = np.zeros((10, 1), dtype=np.float32)
    train.fit(models.mlp(1, ()), loss_fn, {"x": x}, epochs=1, batch_size=4, device="cpu")
    assert seen == [0.4, 0.4, 0.2]
    seen.clear()
    train.fit(models.mlp(1, ()), loss_fn, {"x": x}, epochs=1, device="cpu")
    assert seen == [1.0]
    with pytest.raises(ValueError, match="batch_size"):
        train.fit(models.mlp(1, ()), loss_fn, {"x": x}, epochs=1, batch_size=0)
    with pytest.raises(ValueError, match="rows"):
        train.fit(models.mlp(1, ()), loss_fn, {"x": x, "y": np.zeros(3)}, epochs=1)
    with pytest.raises(ValueError, match="optimizer"):
        train.fit(models.mlp(1, ()), loss_fn, {"x": x}, epochs=1, optimizer="lbfgs")


def test_fit_stops_on_non_finite_loss():
    x = np.zeros((4, 1), dtype=np.float32)
    with pytest.raises(FloatingPointError, match="epoch 0"):
        train.fit(models.mlp(1, ()), lambda out, b: out.sum() / 0.0, {"x": x}, epochs=2, device="cpu")


def test_minmax_scaler_round_trip():
    x = np.random.default_rng(1).normal(size=(50, 3))
    sc = ht.data.Scaler().fit(x)
    z = sc.transform(x)
    assert z.min() >= 0 and z.max() <= 1 + 1e-6
    np.testing.assert_allclose(sc.inverse_transform(z), x, atol=1e-5)


def test_stamp_names_the_mode(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.setenv("HEPSIG_MODE", "full")
    fig = plt.figure()
    ht.plots.stamp(fig)
    assert any("FULL mode" in t.get_text() for t in fig.texts)
    plt.close(fig)


def test_sliders_draw_the_default_at_once_and_redraw_on_change():
    """The live cell shows the default figure at once (issue 20), then redraws on every slider move."""
    calls = []
    box = ht.widgets.sliders(lambda x: calls.append(x), x=ht.widgets.float_slider(1.0, 0.0, 2.0))
    assert calls and calls[0] == 1.0  # the default first (then the static frames of the book)
    n = len(calls)
    box.children[0].children[0].value = 1.5
    assert calls[n:] == [1.5]
    with pytest.raises(ValueError, match="log_slider"):
        ht.widgets.log_slider(1.0, 0.0, 2.0)


def test_configure_threads_defaults_to_one_on_cpu_and_honours_the_variable(monkeypatch):
    import torch

    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("HEPSIG_THREADS", raising=False)
        if not torch.cuda.is_available():
            assert ht.configure_threads() == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("HEPSIG_THREADS", "2")
        assert ht.configure_threads() == 2 and torch.get_num_threads() == 2
        monkeypatch.setenv("HEPSIG_THREADS", "auto")
        assert ht.configure_threads() == 2  # "auto" leaves the current setting alone
        assert ht.configure_threads(1) == 1  # an explicit argument wins over the variable
    finally:
        torch.set_num_threads(before)


def test_configure_threads_cpu_default_yields_to_the_variable(monkeypatch):
    import torch

    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("HEPSIG_THREADS", raising=False)
        if not torch.cuda.is_available():
            assert ht.configure_threads(cpu_default=2) == 2 and torch.get_num_threads() == 2
        monkeypatch.setenv("HEPSIG_THREADS", "1")
        assert ht.configure_threads(cpu_default=2) == 1  # the reader's setting wins over a chapter's default
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("bad", [0, -3, 1.5, True, "many", ""])
def test_configure_threads_rejects_bad_values(bad, monkeypatch):
    monkeypatch.delenv("HEPSIG_THREADS", raising=False)
    if bad == "":
        monkeypatch.setenv("HEPSIG_THREADS", "lots")
        with pytest.raises(ValueError, match="HEPSIG_THREADS"):
            ht.configure_threads()
    else:
        with pytest.raises(ValueError, match="threads"):
            ht.configure_threads(bad)
