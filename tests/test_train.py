"""The training protocol of ``ht.train``: early stopping with best-state restore, schedules,
checkpoint/resume, per-epoch non-finite detection, BCE on logits, the learning-rate search, and the
learning-curve figure. Everything runs on the CPU at toy size."""

from __future__ import annotations

import logging
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hepsig_tutorial import models, plots, train  # noqa: E402
from hepsig_tutorial.losses import make_bce_loss  # noqa: E402

_BCE = make_bce_loss()  # one closure: it checks its inputs on the first call only


def _problem(n=400, seed=0, noise=1.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x[:, 0] - 0.5 * x[:, 1] + noise * rng.normal(size=n) > 0).astype(np.float32)
    w = rng.uniform(0.5, 2.0, n).astype(np.float32)
    return {"x": x, "y": y, "w": w}


TRAIN, VAL = _problem(400, 0), _problem(300, 1)


def _model(seed=0, hidden=(6,)):
    torch.manual_seed(seed)
    return models.mlp(3, hidden, "tanh", output="linear")


def _params(model):
    return [p.detach().clone() for p in model.parameters()]


def _same(a, b):
    return all(torch.equal(p, q) for p, q in zip(a, b))


def _strip(history):
    return {k: v for k, v in history.items() if k != "seconds"}


def _accuracy_monitor(data):
    x, y = torch.as_tensor(data["x"]), torch.as_tensor(data["y"])

    def monitor(model):
        return float(((model(x) > 0).float() == y).float().mean())
    return monitor


# ------------------------------------------------------------------------------------------------
# the plain loop is unchanged; non-finite loss detected per epoch
# ------------------------------------------------------------------------------------------------
def test_history_has_the_new_keys_and_counts_steps():
    h = train.fit(_model(), make_bce_loss(), TRAIN, epochs=3, batch_size=128, device="cpu")
    assert h["steps"] == 3 * 4
    assert len(h["loss"]) == 3 and h["val_loss"] == [] and h["monitor"] == []
    assert h["best_epoch"] is None and h["stopped_epoch"] is None and "lr" not in h


def test_non_finite_loss_is_detected_in_its_epoch():
    calls = []

    def loss_fn(out, batch):
        calls.append(1)
        bad = len(calls) == 6  # second batch of epoch 1 (4 batches per epoch)
        return _BCE(out, batch) * (math.nan if bad else 1.0)

    with pytest.raises(FloatingPointError, match="epoch 1"):
        train.fit(_model(), loss_fn, TRAIN, epochs=4, batch_size=100, device="cpu")
    assert len(calls) == 8  # the rest of epoch 1 ran: the check is once per epoch, not per step


# ------------------------------------------------------------------------------------------------
# early stopping and best-state restore
# ------------------------------------------------------------------------------------------------
def test_early_stopping_stops_and_restores_the_best_epoch():
    values = [0.1, 0.5, 0.4, 0.3, 0.45, 0.2, 0.9, 0.9]  # best at epoch 1; patience 3 stops after epoch 4
    states = []

    def monitor(model):
        states.append(_params(model))
        return values[len(states) - 1]

    model = _model()
    h = train.fit(model, make_bce_loss(), TRAIN, epochs=8, batch_size=200, monitor=monitor,
                  patience=3, device="cpu")
    assert h["best_epoch"] == 1 and h["stopped_epoch"] == 4
    assert len(h["loss"]) == 5 and h["monitor"] == values[:5] and h["steps"] == 5 * 2
    assert _same(_params(model), states[1])
    assert not _same(_params(model), states[4])


def test_restore_best_false_keeps_the_last_weights():
    states = []

    def monitor(model):
        states.append(_params(model))
        return -len(states)  # gets worse every epoch

    model = _model()
    h = train.fit(model, make_bce_loss(), TRAIN, epochs=4, monitor=monitor, restore_best=False,
                  device="cpu")
    assert h["best_epoch"] == 0 and h["stopped_epoch"] is None
    assert _same(_params(model), states[-1])


def test_val_loss_monitor_restores_the_lowest_validation_loss():
    model = _model()
    h = train.fit(model, make_bce_loss(), TRAIN, epochs=12, batch_size=50, lr=0.3, val_data=VAL,
                  monitor="val_loss", device="cpu")
    best = int(np.argmin(h["val_loss"]))
    assert h["best_epoch"] == best and h["monitor"] == h["val_loss"]
    with torch.no_grad():
        vb = {k: torch.as_tensor(v) for k, v in VAL.items()}
        now = float(_BCE(model(vb["x"]), vb))
    assert now == pytest.approx(h["val_loss"][best], rel=1e-6)


@given(values=st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=12),
       patience=st.integers(1, 4), eval_every=st.integers(1, 3),
       min_delta=st.sampled_from([0.0, 0.5]))
@settings(max_examples=30, deadline=None)
def test_early_stopping_rule_matches_a_reference(values, patience, eval_every, min_delta):
    epochs = len(values)
    seen = []

    def monitor(model):
        seen.append(len(seen))
        return values[len(seen) - 1]

    x = {"x": np.zeros((4, 1), np.float32)}
    h = train.fit(models.mlp(1, ()), lambda out, b: out.mean(), x, epochs=epochs, monitor=monitor,
                  patience=patience, min_delta=min_delta, eval_every=eval_every, device="cpu")
    # reference: evaluations at epochs e with (e+1) % eval_every == 0 or the last one
    best, best_epoch, stopped, k = None, None, None, 0
    for e in range(epochs):
        if (e + 1) % eval_every == 0 or e + 1 == epochs:
            v = values[k]
            k += 1
            if best is None or v > best + min_delta:
                best, best_epoch = v, e
            if e - best_epoch >= patience and e + 1 < epochs:
                stopped = e
                break
    assert h["best_epoch"] == best_epoch and h["stopped_epoch"] == stopped
    assert len(h["loss"]) == (epochs if stopped is None else stopped + 1)
    assert np.count_nonzero(np.isfinite(h["monitor"])) == k


@pytest.mark.parametrize("kwargs,name", [
    ({"monitor": "val_loss"}, "val_data"),
    ({"monitor": "accuracy"}, "monitor"),
    ({"patience": 3}, "patience"),
    ({"monitor": lambda m: 0.0, "patience": 0}, "patience"),
    ({"monitor": lambda m: 0.0, "min_delta": -1.0}, "min_delta"),
    ({"monitor": lambda m: 0.0, "eval_every": 0}, "eval_every"),
    ({"schedule": "linear"}, "schedule"),
    ({"schedule": lambda opt, t: None}, "schedule"),
    ({"schedule": "cosine", "schedule_interval": "batch"}, "schedule_interval"),
    ({"checkpoint_every": -1}, "checkpoint_every"),
    ({"epochs": 1.5}, "epochs"),
    ({"epochs": -1}, "epochs"),
    ({"lr": 0.0}, "lr"),
    ({"micro_batch_size": 0}, "micro_batch_size"),
    ({"optimizer": "adamw"}, "optimizer"),
])
def test_bad_arguments_raise_value_errors_naming_them(kwargs, name):
    kwargs = {"epochs": 2, **kwargs}
    with pytest.raises(ValueError, match=name):
        train.fit(_model(), make_bce_loss(), TRAIN, device="cpu", **kwargs)


# ------------------------------------------------------------------------------------------------
# gradient accumulation (micro-batches) and the one optimizer table
# ------------------------------------------------------------------------------------------------
def _mean_bce(out, batch):  # an unweighted per-event mean: micro-batches reproduce the batch gradient
    return torch.nn.functional.binary_cross_entropy_with_logits(out, batch["y"])


@pytest.mark.parametrize("batch_size,micro", [(128, 40), (None, 150), (100, 100)])
def test_micro_batches_reproduce_the_batch_training_of_a_mean_loss(batch_size, micro):
    m_one, m_acc = _model(3), _model(3)
    h_one = train.fit(m_one, _mean_bce, TRAIN, epochs=4, batch_size=batch_size, lr=1e-2, device="cpu")
    h_acc = train.fit(m_acc, _mean_bce, TRAIN, epochs=4, batch_size=batch_size, micro_batch_size=micro, lr=1e-2,
                      device="cpu")
    assert h_acc["steps"] == h_one["steps"]
    np.testing.assert_allclose(h_acc["loss"], h_one["loss"], rtol=1e-5)
    for p, q in zip(m_acc.parameters(), m_one.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)


def test_a_loss_with_a_micro_backward_hook_computes_the_step_gradient_itself():
    calls = []

    class Hooked:
        def __call__(self, out, batch):
            return _mean_bce(out, batch)

        def micro_backward(self, model, parts, fraction):
            calls.append(([len(p["x"]) for p in parts], fraction))
            loss = sum(_mean_bce(model(p["x"]), p) * len(p["x"]) for p in parts) / sum(len(p["x"]) for p in parts)
            loss.backward()
            return loss.detach()

    h = train.fit(_model(), Hooked(), TRAIN, epochs=2, batch_size=200, micro_batch_size=150, device="cpu")
    assert calls == [([150, 50], 0.5)] * 4 and h["steps"] == 4
    calls.clear()
    train.fit(_model(), Hooked(), TRAIN, epochs=1, batch_size=200, device="cpu")  # no micro-batches: no hook
    assert calls == []


@pytest.mark.parametrize("ordered", [False, True])
def test_a_run_halted_by_its_step_callback_continues_exactly_from_start_step(ordered):
    order = (lambda epoch: torch.randperm(400, generator=torch.Generator().manual_seed(100 + epoch))) if ordered else None
    kw = dict(epochs=3, batch_size=128, lr=1e-2, device="cpu", batch_order=order, seed=4)
    whole = _model(2)
    seen = []
    h_whole = train.fit(whole, _mean_bce, TRAIN, step_callback=lambda k, m, loss: seen.append((k, loss.ndim)), **kw)
    assert seen == [(k, 0) for k in range(1, 13)] and h_whole["steps"] == 12
    part = _model(2)
    opt = torch.optim.Adam(part.parameters(), lr=1e-2)
    h = train.fit(part, _mean_bce, TRAIN, optimizer=opt, step_callback=lambda k, m, loss: k == 6, **kw)
    assert h["steps"] == 6 and h["stopped_epoch"] == 1 and len(h["loss"]) == 2     # halfway through epoch 1
    h_rest = train.fit(part, _mean_bce, TRAIN, optimizer=opt, start_step=6, **kw)
    assert h_rest["steps"] == 12 and len(h_rest["loss"]) == 2                       # the rest of epoch 1, epoch 2
    assert _same(_params(part), _params(whole))
    assert h_rest["loss"][-1] == h_whole["loss"][-1]
    with pytest.raises(ValueError, match="start_step"):
        train.fit(_model(), _mean_bce, TRAIN, epochs=1, start_step=2, checkpoint="x.pt", device="cpu")


def test_one_optimizer_table():
    model = _model()
    assert isinstance(train.make_optimizer("sgd", model.parameters(), 0.1), torch.optim.SGD)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    assert train.make_optimizer(opt, None, 1.0) is opt
    assert set(train.OPTIMIZERS) == {"adam", "radam", "sgd"}
    with pytest.raises(ValueError, match="optimizer"):
        train.make_optimizer("adamw", model.parameters(), 0.1)


# ------------------------------------------------------------------------------------------------
# schedules
# ------------------------------------------------------------------------------------------------
def test_cosine_schedule_is_stepped_per_step_and_reaches_zero():
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    h = train.fit(model, make_bce_loss(), TRAIN, epochs=5, batch_size=100, optimizer=opt,
                  schedule="cosine", device="cpu")
    steps = 5 * 4
    expected = [0.05 * (1 + math.cos(math.pi * 4 * e / steps)) for e in range(5)]
    assert h["lr"] == pytest.approx(expected, abs=1e-12)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_callable_schedule_per_epoch_reaches_its_final_rate():
    total_seen = []

    def schedule(opt, total):
        total_seen.append(total)
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=1e-4)

    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    h = train.fit(model, make_bce_loss(), TRAIN, epochs=6, batch_size=100, optimizer=opt,
                  schedule=schedule, schedule_interval="epoch", device="cpu")
    assert total_seen == [6]
    assert h["lr"][0] == pytest.approx(1e-2) and h["lr"][1] < h["lr"][0]
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-4, rel=1e-9)


# ------------------------------------------------------------------------------------------------
# checkpoint and resume
# ------------------------------------------------------------------------------------------------
def _resumable_run(tmp_path, interrupt_after=None, checkpoint=True):
    dropout_net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Dropout(0.2),
                                      torch.nn.Linear(8, 1), torch.nn.Flatten(0))
    torch.manual_seed(3)
    model = dropout_net
    for p in model.parameters():  # deterministic start
        torch.nn.init.normal_(p, std=0.5, generator=torch.Generator().manual_seed(11))

    def callback(epoch, model_, history):
        if interrupt_after is not None and epoch == interrupt_after:
            raise KeyboardInterrupt

    h = train.fit(model, make_bce_loss(), TRAIN, epochs=8, batch_size=64, lr=3e-2, val_data=VAL,
                  monitor=_accuracy_monitor(VAL), patience=None, schedule="cosine", seed=5, device="cpu",
                  callback=callback, checkpoint=tmp_path / "run.pt" if checkpoint else None, checkpoint_every=0)
    return model, h


def test_a_killed_run_resumes_to_the_same_final_state(tmp_path, caplog):
    ref_model, ref_hist = _resumable_run(tmp_path / "ref", checkpoint=False)
    with pytest.raises(KeyboardInterrupt):
        _resumable_run(tmp_path, interrupt_after=4)
    assert (tmp_path / "run.pt").exists() and not list(tmp_path.glob("*.tmp*"))
    torch.manual_seed(999)  # a different global RNG state in the "new session": the checkpoint restores it
    with caplog.at_level(logging.WARNING, logger="hepsig_tutorial.train"):
        model, hist = _resumable_run(tmp_path)
    assert "resumed" in caplog.text
    assert _same(_params(model), _params(ref_model))
    assert _strip(hist) == _strip(ref_hist)
    # a finished checkpoint returns the final state at once
    again, hist2 = _resumable_run(tmp_path)
    assert _same(_params(again), _params(ref_model)) and _strip(hist2) == _strip(ref_hist)


def test_resume_with_early_stopping_restores_the_same_best_state(tmp_path):
    def run(interrupt, path):
        model = _model(1)

        def cb(epoch, m, h):
            if interrupt is not None and epoch == interrupt:
                raise KeyboardInterrupt

        h = train.fit(model, make_bce_loss(), TRAIN, epochs=30, batch_size=100, lr=0.5,
                      optimizer="sgd", val_data=VAL, monitor="val_loss", patience=2, min_delta=1e-3,
                      device="cpu", callback=cb, checkpoint=path, checkpoint_every=0)
        return model, h

    ref, h_ref = run(None, tmp_path / "a.pt")
    assert h_ref["stopped_epoch"] is not None  # the run really stops early
    with pytest.raises(KeyboardInterrupt):
        run(h_ref["stopped_epoch"] - 1, tmp_path / "b.pt")
    model, h = run(None, tmp_path / "b.pt")
    assert _same(_params(model), _params(ref)) and _strip(h) == _strip(h_ref)


def test_a_checkpoint_from_another_run_is_refused(tmp_path):
    path = tmp_path / "c.pt"
    train.fit(_model(), make_bce_loss(), TRAIN, epochs=2, device="cpu", checkpoint=path)
    with pytest.raises(ValueError, match="checkpoint"):
        train.fit(_model(), make_bce_loss(), TRAIN, epochs=3, device="cpu", checkpoint=path)


# ------------------------------------------------------------------------------------------------
# the learning-rate search
# ------------------------------------------------------------------------------------------------
def test_search_picks_the_rate_with_the_best_monitor_and_survives_divergence():
    starts = []

    def build(seed):
        model = _model(seed)
        starts.append(_params(model))
        return model

    def monitor(model):  # a stand-in validation figure of merit
        return _accuracy_monitor(VAL)(model) - 1e-3 * float(model[0].weight.detach().abs().sum())

    def loss_fn(out, batch):  # the third rate's run diverges
        return _BCE(out, batch) * (math.inf if len(starts) == 3 else 1.0)

    res = train.search(build, loss_fn, TRAIN, val_data=VAL, monitor=monitor, lrs=(1e-3, 1e-1, 10.0),
                       epochs=4, patience=2, batch_size=100, seed=7, device="cpu")
    assert len(starts) == 3 and all(_same(s, starts[0]) for s in starts)  # paired: same start per rate
    assert _same(starts[0], _params(_model(7)))
    assert math.isnan(res.scores_by_lr[10.0]) and "error" in res.histories_by_lr[10.0]
    finite = {lr: s for lr, s in res.scores_by_lr.items() if math.isfinite(s)}
    assert set(finite) == {1e-3, 1e-1}
    assert res.best_lr == max(finite, key=finite.get)
    assert res.history is res.histories_by_lr[res.best_lr]
    for lr in finite:
        assert finite[lr] == np.nanmax(res.histories_by_lr[lr]["monitor"])
    assert monitor(res.model) == pytest.approx(res.scores_by_lr[res.best_lr])  # best state restored
    with pytest.raises(FloatingPointError, match="no learning rate"):
        train.search(_model, lambda out, b: out.sum() * math.nan, TRAIN, val_data=VAL, monitor="val_loss",
                     lrs=(1e-2,), epochs=2, device="cpu")


def test_search_rejects_bad_input():
    with pytest.raises(ValueError, match="lrs"):
        train.search(_model, make_bce_loss(), TRAIN, val_data=VAL, monitor="val_loss", lrs=(),
                     epochs=1)
    with pytest.raises(ValueError, match="monitor"):
        train.search(_model, make_bce_loss(), TRAIN, val_data=VAL, monitor=None, epochs=1)
    with pytest.raises(ValueError, match="build_model"):
        train.search(lambda seed: "net", make_bce_loss(), TRAIN, val_data=VAL, monitor="val_loss",
                     epochs=1, device="cpu")


# ------------------------------------------------------------------------------------------------
# learning curves
# ------------------------------------------------------------------------------------------------
def test_learning_curves_draws_one_panel_per_run_and_marks_the_best_epoch():
    hists = {}
    for name, lr in (("BCE", 0.1), ("slow", 1e-3), ("third", 0.03), ("fourth", 0.3)):
        hists[name] = train.fit(_model(), make_bce_loss(), TRAIN, epochs=5, lr=lr, val_data=VAL,
                                monitor=_accuracy_monitor(VAL), eval_every=2, device="cpu")
    assert plots.learning_curves is plots.plot_learning_curves
    fig = plots.plot_learning_curves(hists, ncols=3, monitor_label="validation accuracy")
    visible = [ax for ax in fig.axes if ax.get_visible() and ax.get_xlabel() == "epoch"]
    assert len(visible) == 4
    assert any("FAST" in t.get_text() or "FULL" in t.get_text() for t in fig.texts)
    assert {ax.get_title() for ax in visible} == set(hists)
    best_lines = [ln for ax in visible for ln in ax.get_lines() if ln.get_label() == "best epoch (restored)"]
    assert [ln.get_xdata()[0] for ln in best_lines] == [h["best_epoch"] + 1 for h in hists.values()]
    plt.close(fig)
    with pytest.raises(ValueError, match="histories"):
        plots.learning_curves({})
    with pytest.raises(ValueError, match="histories"):
        plots.learning_curves({"a": {"val_loss": []}})


# ------------------------------------------------------------------------------------------------
# resumable: every fit of a block checkpoints (FULL runs survive a disconnect)
# ------------------------------------------------------------------------------------------------
def _two_fits(interrupt_second_after=None, calls=None):
    """A 'cell' with two trainings, like a chapter's training loop."""
    out = []
    for seed in (0, 1):
        model = _model(seed)

        def cb(epoch, m, h, seed=seed):
            if seed == 1 and interrupt_second_after is not None and epoch == interrupt_second_after:
                raise KeyboardInterrupt

        def loss(output, batch):
            if calls is not None:
                calls.append(1)
            return _BCE(output, batch)

        h = train.fit(model, loss, TRAIN, epochs=6, batch_size=100, lr=0.3, optimizer="sgd", seed=seed,
                      device="cpu", callback=cb, checkpoint_every=0)
        out.append((_params(model), _strip(h)))
    return out


def test_resumable_is_off_in_fast_mode_without_a_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("HEPSIG_CHECKPOINT_DIR", raising=False)
    monkeypatch.setenv("HEPSIG_MODE", "fast")
    monkeypatch.chdir(tmp_path)
    with train.resumable("cell") as where:
        _two_fits()
    assert where is None and not list(tmp_path.rglob("*.pt"))


def test_resumable_cell_rerun_after_a_disconnect_repeats_no_finished_training(tmp_path):
    ref = _two_fits()
    with pytest.raises(KeyboardInterrupt):
        with train.resumable("cell", tmp_path):
            _two_fits(interrupt_second_after=3)
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["cell-0001.pt", "cell-0002.pt"]
    calls = []
    with train.resumable("cell", tmp_path):  # the re-run: fit 1 is read back, fit 2 resumes after its 3 saved epochs
        again = _two_fits(calls=calls)
    for (p, h), (q, g) in zip(again, ref):
        assert _same(p, q) and h == g
    assert len(calls) == 3 * 4  # only the second training's last 3 epochs (4 batches of 100 each)
    calls.clear()
    with train.resumable("cell", tmp_path):  # a third run trains nothing
        _two_fits(calls=calls)
    assert calls == []


def test_resumable_refuses_a_checkpoint_for_other_data(tmp_path):
    with train.resumable("cell", tmp_path):
        train.fit(_model(), _BCE, TRAIN, epochs=2, device="cpu")
    other = {k: v.copy() for k, v in TRAIN.items()}
    other["x"][0, 0] += 1.0
    with pytest.raises(ValueError, match="checkpoint"):
        with train.resumable("cell", tmp_path):
            train.fit(_model(), _BCE, other, epochs=2, device="cpu")
    with pytest.raises(ValueError, match="name"):
        with train.resumable("a b", tmp_path):
            pass
