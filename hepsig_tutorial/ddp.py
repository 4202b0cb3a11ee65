"""The data-directed paradigm network: a CNN that maps a histogram to its significance map.

Chapter 7 ({ref}`sec-ddp`) teaches this module; the samples come from :mod:`hepsig_tutorial.bump`.
data-directed-bump-hunting.txt (Volkovich, De Vito Halevy, Bressler) describes the network only in
words: "a dense layer followed by six 1-dimensional convolutional layers", ReLU on all layers, 73,941
trainable parameters, Adam (lr 3·10⁻⁴), mean squared error, batch 100, 200 epochs, 600,000 samples
(20 % validation) and 25,000 test samples.

:class:`DDPNet` is an architecture consistent with that description and with exactly 73,941
parameters (see its docstring for the derivation); :func:`train_ddp` trains it with the paper's
settings; :func:`predict_z` maps raw histograms to z maps; :func:`save_ddp` / :func:`load_ddp` store a
trained model with its scalers, so that a FULL-mode model trained on a GPU can be loaded on a laptop.

Run ``python -m hepsig_tutorial.ddp train --dir RUN`` for the paper-scale training on a CPU or a GPU
(:func:`run_training`: checkpoints every few minutes, resumes automatically, logs the test metrics as
it goes) and ``python -m hepsig_tutorial.ddp ship --dir RUN`` to export the network with its
provenance (:func:`ship_run`); the book ships one such network (:data:`PRETRAINED`, :func:`load_pretrained`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ._validate import array, choice, integer, number, require
from .bump import N_BINS, generate_histograms
from .data import Scaler
from .metrics import roc_auc
from .config import device as default_device
from .train import fit, make_optimizer

__all__ = ["PAPER_PARAMETERS", "DDPNet", "train_ddp", "predict_z", "save_ddp", "load_ddp", "auc", "auc_error",
           "peak_accuracy", "evaluate_ddp", "make_test_sets", "run_training", "read_log", "ship_run", "PRETRAINED",
           "load_pretrained"]

#: Trainable parameters of the paper's network (data-directed-bump-hunting.txt, "A neural net implementation").
PAPER_PARAMETERS = 73_941


class DDPNet(nn.Module):
    """The DDP network: a dense layer, then 1-D convolutions ('same' padding), ReLU after every hidden
    layer; with the default ``channels`` and ``kernels`` exactly :data:`PAPER_PARAMETERS` = 73,941
    trainable parameters (``DDPNet(init="identity")`` is the FAST-mode network of Chapter 7).

    ``(N, n_bins)`` scaled histogram → ``(N, n_bins)`` scaled z map. The dense layer sees the whole
    histogram (it can undo position-dependent effects, as the paper motivates it); the convolutions
    detect the local bump features.

    The paper gives only "a dense layer followed by six 1-dimensional convolutional layers", ReLU and the
    count. Derivation: with a dense layer 100 → 100 (10,100 parameters) the six convolutions must hold
    63,841. A convolution with c_in → c_out channels and kernel k has (c_in·k + 1)·c_out parameters. A
    search over six layers 1 → c₁ … c₅ → 1 with one kernel size, "round" channel counts and an optional
    pointwise last layer finds thousands of solutions (the count alone does not fix the architecture);
    the simplest -- two channel counts, widening monotonically -- is

    ============  ========  ======  ============================
    layer         channels  kernel  parameters
    ============  ========  ======  ============================
    dense         100→100   --      100·100 + 100 = 10,100
    conv 1        1→24      10      (1·10 + 1)·24 = 264
    conv 2        24→24     10      (24·10 + 1)·24 = 5,784
    conv 3        24→48     10      (24·10 + 1)·48 = 11,568
    conv 4        48→48     10      (48·10 + 1)·48 = 23,088
    conv 5        48→48     10      (48·10 + 1)·48 = 23,088
    conv 6        48→1      1       (48·1 + 1)·1 = 49
    ============  ========  ======  ============================

    total 73,941. 'same' padding keeps 100 bins throughout (kernel 10 pads 4 left, 5 right).

    ``output="relu"`` puts a ReLU on the output layer too (the paper: "on all layers"). We measured that
    this output dies: most targets are 0 (z = 0 wherever the data sit below the background), the
    outputs are pushed below zero, and after one FAST epoch every output was exactly 0 with zero
    gradient. The default ``"linear"`` output trains; :func:`predict_z` clips predictions at 0.

    ``init="identity"`` starts the dense layer at the identity map plus one tenth of PyTorch's default
    random weights (bias 0) instead of the default random weights alone (``"default"``; the paper does
    not say how it initialised). Same architecture and parameter count; only the starting point
    differs. A random dense layer scrambles which bin is where, and the convolutions can only find a
    local bump once the dense layer has learned to keep bins in place: with the default start we
    measured a plateau of several epochs at the "predict a small smooth map" loss (Chapter 7,
    ``benchmarks/bench_ddp_init.py``). The identity start keeps locality from step one.
    """

    def __init__(self, n_bins: int = N_BINS, output: str = "linear", init: str = "default", *,
                 channels: Sequence[int] = (24, 24, 48, 48, 48, 1), kernels: Sequence[int] = (10, 10, 10, 10, 10, 1)):
        super().__init__()
        n_bins = integer("n_bins", n_bins, minimum=2)
        channels, kernels = [int(c) for c in channels], [int(k) for k in kernels]
        require(0 < len(channels) == len(kernels) and channels[-1] == 1 and min(channels + kernels) >= 1,
                f"channels and kernels must be positive and of equal length, channels ending in 1; "
                f"got {channels}, {kernels}")
        choice("output", output, ("linear", "relu"))
        choice("init", init, ("default", "identity"))
        # the dense layer keeps the length (n_bins → n_bins); "dense_units" stays in the saved format
        self.config = {"n_bins": n_bins, "dense_units": n_bins, "channels": channels, "kernels": kernels,
                       "output": output}
        self.dense = nn.Linear(n_bins, n_bins)
        if init == "identity":
            with torch.no_grad():
                self.dense.weight.mul_(0.1).add_(torch.eye(n_bins))
                self.dense.bias.zero_()
        layers: list[nn.Module] = []
        for i, (c_in, c, k) in enumerate(zip([1, *channels], channels, kernels)):
            if k > 1:  # 'same' padding, explicit (for even k: (k-1)//2 left, k//2 right, like padding="same")
                layers.append(nn.ConstantPad1d(((k - 1) // 2, k // 2), 0.0))
            layers.append(nn.Conv1d(c_in, c, k))
            if i < len(channels) - 1 or output == "relu":
                layers.append(nn.ReLU())
        self.convs = nn.Sequential(*layers)

    def forward(self, x):
        h = torch.relu(self.dense(x)).unsqueeze(1)  # (N, 1, n_bins)
        return self.convs(h).squeeze(1)


def _f32(name, value):
    """``value`` checked (numeric, 2-D ``(samples, bins)``, finite) as a float32 tensor."""
    return torch.as_tensor(array(name, value, np.float32, ndim=2, finite=True))


def _mse(output, batch):
    """Mean squared error of the z map over bins and histograms (the paper's loss), a ``fit`` loss."""
    return torch.mean((output - batch["y"]) ** 2)


@torch.no_grad()
def _evaluate(model, x, y, batch_size, dev):
    model.eval()
    total = 0.0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size].to(dev), y[i:i + batch_size].to(dev)
        total += float(torch.sum((model(xb) - yb) ** 2))
    return total / (len(x) * x.shape[1])


def train_ddp(model: nn.Module, x_train, z_train, *, x_val=None, z_val=None, epochs: int = 200,
              batch_size: int = 100, lr: float = 3e-4, schedule: str = "constant", seed: int = 0, device=None,
              callback=None) -> dict:
    """Train the DDP network with the paper's recipe: Adam, mean squared error, mini-batches.

    The loop is :func:`hepsig_tutorial.train.fit` (batch order seeded by ``seed``, cosine schedule per
    step); this function checks the arrays and adds the batched validation MSE. (Checkpoints, resuming and
    the paper-scale run: :func:`run_training`.)

    Parameters
    ----------
    model : torch.nn.Module
        E.g. :class:`DDPNet`; trained in place.
    x_train, z_train : array ``(N, n_bins)``
        Scaled inputs and targets (:class:`hepsig_tutorial.data.Scaler` with ``per_feature=False``).
    x_val, z_val : array, optional
        Validation set; its MSE is recorded after every epoch.
    epochs, batch_size, lr : int, int, float
        Paper: 200, 100, 3·10⁻⁴.
    schedule : {"constant", "cosine"}
        Learning rate per step: constant ``lr`` (the paper), or cosine decay from ``lr`` to 0 over all
        ``epochs`` (Chapter 7's FAST recipe: a short run can afford a large rate early on and still
        settle at the end).
    seed : int
        Seeds the batch order (seed torch before building the model for reproducible weights).
    device : torch.device, optional
        Default :func:`hepsig_tutorial.config.device` (CUDA when present).
    callback : callable, optional
        ``callback(epoch, model, history)`` after every epoch (e.g. to evaluate test metrics; ``history``
        has ``loss`` and ``val_loss`` so far).

    Returns
    -------
    dict
        :func:`~hepsig_tutorial.train.fit`'s history: ``loss`` (mean training MSE of the epoch's batches)
        and ``val_loss`` (validation MSE after each epoch), scaled units; ``lr`` (the rate at the start of
        each epoch), ``seconds``, ``steps``.
    """
    choice("schedule", schedule, ("constant", "cosine"))
    x, y = _f32("x_train", x_train), _f32("z_train", z_train)
    require(x.shape == y.shape, f"x_train {tuple(x.shape)} and z_train {tuple(y.shape)} must have the same shape")
    require((x_val is None) == (z_val is None), "give both x_val and z_val, or neither")
    if x_val is not None:
        xv, yv = _f32("x_val", x_val), _f32("z_val", z_val)
        require(xv.shape == yv.shape and xv.shape[1] == x.shape[1],
                "x_val and z_val must have the same shape, with as many bins as x_train")
    dev = default_device() if device is None else torch.device(device)

    def after_epoch(epoch, model_, history):
        if x_val is not None:  # in batches: a paper-scale validation set does not fit through the net at once
            history["val_loss"].append(_evaluate(model_, xv, yv, 4096, dev))
        if callback is not None:
            callback(epoch, model_, history)

    history = fit(model, _mse, {"x": x, "y": y}, epochs=epochs, batch_size=batch_size, lr=lr, optimizer="adam",
                  schedule="cosine" if schedule == "cosine" else None, seed=seed, device=dev, desc="DDP training",
                  callback=after_epoch)
    history.setdefault("lr", [lr] * len(history["loss"]))  # (fit records the rate only under a schedule)
    return history


@torch.no_grad()
def predict_z(model: nn.Module, counts, x_scaler: Scaler, z_scaler: Scaler,
              batch_size: int = 4096) -> np.ndarray:
    """z map predicted by the network for raw histograms ``counts`` ``(N, n_bins)``, in σ units
    (inputs scaled with ``x_scaler``, outputs un-scaled with ``z_scaler`` and clipped at 0, since z ≥ 0)."""
    x = _f32("counts", x_scaler.transform(np.atleast_2d(counts)))
    model.eval()
    dev = next(model.parameters()).device
    outs = [model(x[i:i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)]
    return np.maximum(z_scaler.inverse_transform(torch.cat(outs).numpy()), 0.0)


def save_ddp(path, model: nn.Module, *, x_scaler: Scaler | None = None,
             z_scaler: Scaler | None = None, history: dict | None = None, meta: dict | None = None):
    """Save a :class:`DDPNet` (architecture, CPU weights), its scalers, history and free-form ``meta``."""
    require(isinstance(model, DDPNet), "model must be a DDPNet")
    state = {
        "format": "hepsig-ddp-1",
        "config": model.config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "x_scaler": x_scaler.state_dict() if x_scaler is not None else None,
        "z_scaler": z_scaler.state_dict() if z_scaler is not None else None,
        "history": {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in (history or {}).items()},
        "meta": dict(meta or {}),
    }
    return _write_atomic(Path(path), state)


def load_ddp(path, device=None):
    """Load what :func:`save_ddp` wrote (e.g. a FULL-mode model trained on a GPU) onto ``device``
    (default: the CPU). Returns ``(model, x_scaler, z_scaler, info)`` with ``info`` holding
    ``history`` and ``meta``."""
    path = Path(path)
    require(path.is_file(), f"path: no such checkpoint file {str(path)!r}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    require(isinstance(state, dict) and state.get("format") == "hepsig-ddp-1",
            f"path: {str(path)!r} is not a DDP checkpoint written by save_ddp")
    cfg = state["config"]
    model = DDPNet(cfg["n_bins"], cfg.get("output", "relu"), channels=cfg["channels"], kernels=cfg["kernels"])
    model.load_state_dict(state["state_dict"])
    model.to(device or "cpu").eval()
    xs, zs = (None if state[k] is None else Scaler.from_state(state[k]) for k in ("x_scaler", "z_scaler"))
    return model, xs, zs, {"history": state["history"], "meta": state["meta"]}


# --------------------------------------------------------------------------------------------
# evaluation with statistical errors
# --------------------------------------------------------------------------------------------
def auc(scores_signal, scores_background) -> float:
    """Area under the ROC curve of signal against background scores (the paper's A;
    :func:`hepsig_tutorial.metrics.roc_auc` on the two samples pooled)."""
    s, b = np.ravel(scores_signal), np.ravel(scores_background)
    return roc_auc(np.concatenate([s, b]), np.concatenate([np.ones(s.size), np.zeros(b.size)]))


def peak_accuracy(predicted_peak, reference_peak, tolerances: Sequence[int] = (0, 1, 3)) -> dict:
    """Fraction of histograms whose predicted peak bin lies within ±k bins of the reference (for each k).

    ``reference_peak`` may be a bin (e.g. argmax of z_true) or a continuous injected mean, which is
    rounded to the nearest bin first."""
    p = np.asarray(predicted_peak, dtype=np.float64).ravel()
    r = np.rint(np.asarray(reference_peak, dtype=np.float64).ravel())
    require(p.shape == r.shape and p.size > 0,
            "predicted_peak and reference_peak must be non-empty and of equal length")
    d = np.abs(np.rint(p) - r)
    return {int(k): float(np.mean(d <= k)) for k in tolerances}


def auc_error(auc: float, n_pos: int, n_neg: int) -> float:
    """Standard error of an area under the ROC curve from ``n_pos`` signal and ``n_neg`` background
    scores (Hanley & McNeil 1982, Radiology 143, 29, Eq. 2; exponential-score approximation)."""
    a = number("auc", auc, low=0, high=1)
    n_pos, n_neg = integer("n_pos", n_pos, minimum=1), integer("n_neg", n_neg, minimum=1)
    q1, q2 = a / (2.0 - a), 2.0 * a * a / (1.0 + a)
    var = (a * (1.0 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (n_pos * n_neg)
    return math.sqrt(max(var, 0.0))


def make_test_sets(n: int, seed, **kwargs) -> dict:
    """The three test sets of Chapter 7, ``n`` histograms each, seeded from ``seed`` alone.

    ``"range"``: Z uniform in [1, 20] (bias, spread, peak location; the paper's Fig. 2);
    ``"3sigma"``: Z = 3 and ``"null"``: background only (A_pred; the paper's Figs. 3-4). Set k is drawn
    with ``numpy.random.default_rng([*seed, k])`` (``seed`` an int or a tuple of ints), so different
    seeds give independent sets. ``kwargs`` go to :func:`hepsig_tutorial.bump.generate_histograms`
    (e.g. ``background=`` for shapes outside the ten training forms).
    """
    n = integer("n", n, minimum=2)
    key = [int(v) for v in np.atleast_1d(seed)]
    specs = (("range", (1.0, 20.0)), ("3sigma", 3.0), ("null", 0.0))
    return {name: generate_histograms(n, sig, rng=np.random.default_rng([*key, k]), **kwargs)
            for k, (name, sig) in enumerate(specs)}


def evaluate_ddp(model: nn.Module, x_scaler: Scaler, z_scaler: Scaler, sets: dict,
                 *, n_boot: int = 200, seed: int = 0) -> dict:
    """The paper's figures of merit of a DDP network on :func:`make_test_sets`, with statistical errors.

    Returns a dict: ``A_pred`` (AUC of z_pred^max, 3σ against background-only; paper 0.855) and
    ``A_true`` (the same for z_true^max; paper 0.897) with Hanley-McNeil errors (:func:`auc_error`);
    ``bias`` and ``spread`` (mean and standard deviation of z_pred^max − z_true^max on the Z ∈ [1, 20]
    set; paper 0 and 0.55) with bootstrap errors (``n_boot`` resamples of the histograms); ``peak1``,
    ``peak3`` (fraction of predicted peaks within 1 and 3 bins of the z_true peak; paper "over 90 %"
    within 3) with binomial errors; ``n`` histograms per set. Predictions in float32 on the model's device.
    """
    zp = predict_z(model, sets["range"]["counts"], x_scaler, z_scaler)
    zt = sets["range"]["z"]
    d = zp.max(1) - zt.max(1)
    n = len(d)
    boot = np.random.default_rng(seed).integers(0, n, (int(n_boot), n))
    out = {"bias": float(d.mean()), "bias_err": float(d[boot].mean(1).std()),
           "spread": float(d.std()), "spread_err": float(d[boot].std(1).std())}
    acc = peak_accuracy(zp.argmax(1), zt.argmax(1), (1, 3))
    for k in (1, 3):
        out[f"peak{k}"], out[f"peak{k}_err"] = acc[k], math.sqrt(acc[k] * (1 - acc[k]) / n)
    s3, s0 = (predict_z(model, sets[k]["counts"], x_scaler, z_scaler).max(1) for k in ("3sigma", "null"))
    for name, (a, b) in {"A_pred": (s3, s0), "A_true": (sets["3sigma"]["z"].max(1), sets["null"]["z"].max(1))}.items():
        out[name] = auc(a, b)
        out[f"{name}_err"] = auc_error(out[name], len(a), len(b))
    return {**out, "n": n}


# --------------------------------------------------------------------------------------------
# the paper-scale run: resumable, logged
# --------------------------------------------------------------------------------------------
#: The network trained once at the paper's validation-study scale and shipped with the package.
PRETRAINED = Path(__file__).with_name("pretrained") / "ddp-paper-scale.pt"


def _sha256(path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _write_atomic(path: Path, data) -> Path:
    """Write ``data`` (text, or any object for ``torch.save``) to a temporary file, then rename it to ``path``."""
    tmp = path.with_name(path.name + ".tmp")
    if isinstance(data, str):
        tmp.write_text(data)
    else:
        torch.save(data, tmp)
    return tmp.replace(path)


def read_log(path) -> dict:
    """The training log (``log.csv`` of :func:`run_training`) as a dict of NumPy columns."""
    path = Path(path)
    require(path.is_file(), f"path: no such log file {str(path)!r}")
    data = np.genfromtxt(path, delimiter=",", names=True)
    return {k: np.atleast_1d(data[k]) for k in data.dtype.names}


def _run_data(cfg):
    """Scaled training and validation tensors ``[x, z, x_val, z_val]``, the two scalers and the log's test sets
    of :func:`run_training` (a function of its own, so that the raw histograms are freed before training)."""
    train, val = (generate_histograms(cfg[k], (1.0, 20.0), rng=np.random.default_rng([cfg["seed"], i]))
                  for i, k in enumerate(("n_train", "n_val")))
    xs, zs = Scaler(per_feature=False).fit(train["counts"]), Scaler(per_feature=False).fit(train["z"])
    tensors = [torch.as_tensor(s.transform(d[k])) for d in (train, val) for s, k in ((xs, "counts"), (zs, "z"))]
    return tensors, xs, zs, make_test_sets(cfg["n_eval"], (cfg["seed"], 2))  # tests seeded apart from both


def run_training(run_dir, *, n_train: int = 100_000, n_val: int = 10_000, epochs: int = 100, batch_size: int = 100,
                 lr: float = 1e-3, schedule: str = "cosine", init: str = "identity", seed: int = 7,
                 ema_decay: float = 0.999, eval_every: int = 2_500, n_eval: int = 4_000, threads: int | None = None,
                 checkpoint_minutes: float = 5.0, max_minutes: float | None = None, stop_at_step: int | None = None,
                 device=None, verbose: bool = True) -> dict:
    """Train the DDP network at the paper's validation-study scale, resumably, logging test metrics.

    The paper's validation study trains on 100,000 samples for 100 epochs (10⁵ steps of batch 100,
    10⁷ samples). Everything is a deterministic function of ``seed``: the training, validation and
    test histograms (regenerated on every start, ``numpy.random.default_rng([seed, 0|1|2])``), the
    initial weights and each epoch's batch order (``torch.Generator`` seeded with seed and epoch).
    So a run stopped at any step and resumed from its checkpoint continues exactly as if never stopped.

    Files in ``run_dir``:

    * ``checkpoint.pt`` -- weights, their exponential moving average (EMA), Adam state (with the learning
      rate of the next step), step, wall time, log; rewritten atomically (write, then rename) every
      ``checkpoint_minutes``, at the end and on SIGTERM/SIGINT, so a kill loses at most one interval;
    * ``log.csv`` -- every ``eval_every`` steps: step, samples, epoch, cumulative wall time, learning
      rate, mean training MSE since the last row, validation MSE, and on ``n_eval`` fresh test
      histograms per set (:func:`make_test_sets`) A_pred, bias, spread, peak within 1 and 3 bins with
      their errors (:func:`evaluate_ddp`);
    * ``latest.pt`` -- the EMA network with its scalers (:func:`save_ddp`) at the last checkpoint.

    The loop is :func:`hepsig_tutorial.train.fit` (``batch_order``, ``start_step`` and a ``step_callback``
    that averages the weights, logs, checkpoints and stops). Recipe: Adam, MSE on scaled z, batch
    ``batch_size`` (paper: 100), learning rate ``lr`` with a cosine
    decay to 0 over all steps (``schedule="cosine"``; ``"constant"`` is the paper's), the identity start
    of the dense layer (``init``), and the EMA of the weights (decay ``ema_decay``) as the evaluated and
    shipped network, so that a run stopped early still yields an averaged, usable network.
    Training runs in float32: bfloat16 autocast is 2.4× faster on CPUs with AMX/AVX-512-BF16, but *worse*
    at equal samples (``benchmarks/bench_ddp_train.py``: after 10⁵ samples val. MSE 3.4e-3 against 1.6e-3,
    A_pred 0.64 against 0.74; bfloat16 keeps 8 bits, 0.4 % of the input scale, while a 3σ bump on a
    thousand-event background is a few-% excess). ``threads``: PyTorch threads (default: leave as is).
    ``max_minutes``: stop (with a checkpoint) after this much wall time in this call; ``stop_at_step``:
    stop (with a checkpoint) on reaching this step (e.g. to test that resuming is exact).

    Returns a dict with ``step``, ``total_steps``, ``wall_s`` (cumulative), ``log`` (list of rows),
    ``finished``.
    """
    import copy
    import signal

    cfg = {"n_train": integer("n_train", n_train, minimum=1), "n_val": integer("n_val", n_val, minimum=1),
           "epochs": integer("epochs", epochs, minimum=1), "batch_size": integer("batch_size", batch_size, minimum=1),
           "lr": number("lr", lr, low=0, low_open=True),
           "schedule": choice("schedule", schedule, ("constant", "cosine")),
           "init": choice("init", init, ("default", "identity")), "seed": integer("seed", seed),
           "ema_decay": number("ema_decay", ema_decay, low=0, high=1, high_open=True),
           "eval_every": integer("eval_every", eval_every, minimum=1), "n_eval": integer("n_eval", n_eval, minimum=2)}
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = run_dir / "checkpoint.pt"
    if threads is not None:
        torch.set_num_threads(int(threads))
    dev = torch.device("cpu") if device is None else torch.device(device)
    say = print if verbose else (lambda *a, **k: None)

    t_start = time.perf_counter()
    (x, y, xv, yv), xs, zs, tests = _run_data(cfg)
    say(f"data regenerated from seed {seed} in {time.perf_counter() - t_start:.1f} s", flush=True)
    torch.manual_seed(cfg["seed"])
    model = DDPNet(init=init).to(dev)
    ema = copy.deepcopy(model)
    opt = make_optimizer("adam", model.parameters(), cfg["lr"])  # its rate is lr_at(0) = lr
    step, wall_before, log, loss_sum, loss_n = 0, 0.0, [], 0.0, 0
    if ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        # (keys beyond cfg: runs written before "precision" was dropped, all in float32)
        require({k: state["config"].get(k) for k in cfg} == cfg, f"run_dir: {str(ckpt_path)!r} was written with "
                f"{state['config']}, not {cfg}; use another run_dir or the same settings")
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])  # with the rate of the next step
        step, wall_before, log = int(state["step"]), float(state["wall_s"]), list(state["log"])
        loss_sum, loss_n = float(state["loss_sum"]), int(state["loss_n"])
        say(f"resumed {ckpt_path} at step {step} ({wall_before / 3600:.2f} h so far)", flush=True)
    loss_sum = torch.tensor(loss_sum, dtype=torch.float64)
    spe = math.ceil(len(x) / cfg["batch_size"])
    total = cfg["epochs"] * spe

    def lr_at(k):  # closed form of the schedule
        return cfg["lr"] * (0.5 * (1.0 + math.cos(math.pi * k / total)) if schedule == "cosine" else 1.0)

    def wall_s():  # training time, all calls together
        return wall_before + time.perf_counter() - t_call

    stop, old_handlers = [], {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(ValueError):  # (not in the main thread)
            old_handlers[sig] = signal.signal(sig, lambda *_: stop.append(True))

    def save():
        state = {"format": "hepsig-ddp-run-1", "config": cfg, "model": model.state_dict(), "ema": ema.state_dict(),
                 "optimizer": opt.state_dict(), "step": step, "wall_s": wall_s(), "log": log,
                 "loss_sum": float(loss_sum), "loss_n": loss_n, "torch": str(torch.__version__)}
        _write_atomic(ckpt_path, state)
        if log:
            rows = [",".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in r.values()) for r in log]
            _write_atomic(run_dir / "log.csv", "\n".join([",".join(log[0]), *rows]) + "\n")
        save_ddp(run_dir / "latest.pt", ema, x_scaler=xs, z_scaler=zs,
                 meta={"step": step, "samples": step * cfg["batch_size"], "wall_s": state["wall_s"], "config": cfg})
        return state["wall_s"]

    ema_params, params = list(ema.parameters()), list(model.parameters())

    def on_step(k, _net, loss):  # after every optimizer step of fit
        nonlocal step, loss_sum, loss_n, t_ckpt
        with torch.no_grad():
            decay = min(cfg["ema_decay"], (1.0 + step) / (10.0 + step))
            torch._foreach_lerp_(ema_params, params, 1.0 - decay)
            loss_sum += loss.cpu()
        loss_n += 1
        step = k
        if step % cfg["eval_every"] == 0 or step == total:
            row = {"step": step, "samples": step * cfg["batch_size"], "epoch": step / spe, "wall_s": wall_s(),
                   "lr": lr_at(step), "train_mse": float(loss_sum) / max(loss_n, 1),
                   "val_mse": _evaluate(ema, xv, yv, 4096, dev), **evaluate_ddp(ema, xs, zs, tests)}
            log.append(row)
            loss_sum, loss_n = torch.zeros((), dtype=torch.float64), 0
            say(f"step {step:7d}/{total} ({row['wall_s'] / 60:6.1f} min) val MSE {row['val_mse']:.3e} "
                f"A_pred {row['A_pred']:.3f}±{row['A_pred_err']:.3f} bias {row['bias']:+.2f} "
                f"spread {row['spread']:.2f} peak±3 {row['peak3']:.1%}", flush=True)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)  # the rate of the next step
        now = time.perf_counter()
        if now - t_ckpt >= 60.0 * checkpoint_minutes or step == total:
            save()
            t_ckpt = now
        return bool(stop) or (max_minutes is not None and now - t_call >= 60.0 * max_minutes) or step == stop_at_step

    def batch_order(epoch):  # seeded by seed and epoch alone: a run resumed at any step continues exactly
        return torch.randperm(len(x), generator=torch.Generator().manual_seed(cfg["seed"] * 1_000_003 + epoch))

    t_call = t_ckpt = time.perf_counter()
    try:
        if step < total and not stop:
            fit(model, _mse, {"x": x, "y": y}, epochs=cfg["epochs"], batch_size=cfg["batch_size"], lr=cfg["lr"],
                optimizer=opt, device=dev, desc=None, step_callback=on_step, batch_order=batch_order, start_step=step)
        wall = save()
    finally:
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
    say(f"stopped at step {step}/{total} after {wall / 3600:.2f} h in all; checkpoint {ckpt_path}", flush=True)
    return {"step": step, "total_steps": total, "wall_s": wall, "log": log, "finished": step >= total}


def ship_run(run_dir, out=PRETRAINED, *, n_test: int = 25_000, test_seed: int = 20_260_001, command: str = "",
             machine_note: str = "") -> dict:
    """Export the EMA network of a :func:`run_training` run (its ``latest.pt``) with its provenance.

    Writes ``out`` (:func:`save_ddp`: weights, scalers, training history) and next to it
    ``<out>.json`` (provenance: command, git commit, seeds, steps, samples, wall time, machine, torch
    version, sha256 of ``out``, and the evaluation on ``n_test`` fresh histograms per set seeded with
    ``test_seed``, apart from every set used in training) and ``<out stem>-log.csv`` (the training log).
    Returns the provenance dict.
    """
    import platform
    import shutil
    import subprocess

    run_dir, out = Path(run_dir), Path(out)
    state = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    cfg = state["config"]
    steps, total = int(state["step"]), cfg["epochs"] * math.ceil(cfg["n_train"] / cfg["batch_size"])
    model, xs, zs, latest = load_ddp(run_dir / "latest.pt")  # the EMA network and scalers, saved with the checkpoint
    require(latest["meta"].get("step") == steps, f"run_dir: latest.pt and checkpoint.pt of {str(run_dir)!r} are from "
                                                 "different steps; run train again (it rewrites both) before shipping")
    history = {k: [r[k] for r in state["log"]] for k in ("step", "val_mse", "train_mse", "A_pred")} if state["log"] else {}
    out.parent.mkdir(parents=True, exist_ok=True)
    save_ddp(out, model, x_scaler=xs, z_scaler=zs, history=history,
             meta={"steps": steps, "samples": steps * cfg["batch_size"], "config": cfg, "weights": "EMA"})
    t0 = time.perf_counter()
    metrics = evaluate_ddp(model, xs, zs, make_test_sets(n_test, test_seed))
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, check=False).stdout.strip() or None
    except OSError:
        commit = None
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").is_file() else []
    cpu = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), platform.processor())
    prov = {
        "file": out.name, "sha256": _sha256(out), "format": "hepsig-ddp-1 (hepsig_tutorial.ddp.save_ddp)",
        "command": command or f"python -m hepsig_tutorial.ddp train --dir {run_dir}",
        "git_commit_at_export": commit, "config": cfg, "steps": steps, "total_steps": total,
        "finished": steps >= total, "samples": steps * cfg["batch_size"], "wall_s": float(state["wall_s"]),
        "wall_hours": float(state["wall_s"]) / 3600, "weights": "exponential moving average of the weights",
        "machine": {"cpu": cpu, "cores": os.cpu_count(), "torch": state.get("torch", torch.__version__),
                    "training_threads": "see command", "shared": machine_note or "not recorded"},
        "seeds": {"training": [cfg["seed"], 0], "validation": [cfg["seed"], 1], "log_tests": [cfg["seed"], 2],
                  "provenance_tests": test_seed, "weights_and_batch_order": cfg["seed"]},
        "evaluation": {**metrics, "test_seed": test_seed, "n_per_set": n_test, "precision": "float32", "device": "cpu",
                       "seconds": time.perf_counter() - t0},
    }
    _write_atomic(out.with_suffix(".json"), json.dumps(prov, indent=1) + "\n")
    if (run_dir / "log.csv").is_file():
        shutil.copyfile(run_dir / "log.csv", out.with_name(out.stem + "-log.csv"))
    return prov


def load_pretrained(path=None, device=None, verify: bool = True):
    """The shipped paper-scale network (:data:`PRETRAINED`) or ``path`` / ``$HEPSIG_DDP_CHECKPOINT``.

    Returns ``(model, x_scaler, z_scaler, info)`` like :func:`load_ddp`, with ``info["provenance"]``
    (the JSON next to the file, or ``None``). With ``verify`` the file's sha256 must match its provenance.
    """
    path = Path(path or os.environ.get("HEPSIG_DDP_CHECKPOINT") or PRETRAINED)
    prov_path = path.with_suffix(".json")
    prov = json.loads(prov_path.read_text()) if prov_path.is_file() else None
    if verify and prov is not None and _sha256(path) != prov["sha256"]:
        raise ValueError(f"path: sha256 of {str(path)!r} does not match its provenance {str(prov_path)!r}")
    model, xs, zs, info = load_ddp(path, device=device)
    return model, xs, zs, {**info, "provenance": prov, "path": str(path)}


def _main(argv=None):  # pragma: no cover - command line
    import argparse
    import inspect

    parser = argparse.ArgumentParser(prog="python -m hepsig_tutorial.ddp",
                                     description="Train the DDP network at paper scale, resumably; ship it.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    commands = {"train": (run_training, "train (resumes automatically from DIR/checkpoint.pt)"),
                "ship": (ship_run, "export DIR's EMA network with its provenance")}
    for cmd, (fn, text) in commands.items():  # one option per keyword of the function, with its default
        p = sub.add_parser(cmd, help=text, description=f"{text}; the options are the keywords of ddp.{fn.__name__}.")
        p.add_argument("--dir", required=True, help="run directory (checkpoint.pt, log.csv, latest.pt)")
        for name, par in inspect.signature(fn).parameters.items():
            if par.default is not par.empty and name not in ("stop_at_step", "verbose"):
                kind = {"threads": int, "max_minutes": float, "device": str}.get(name, type(par.default))
                p.add_argument("--" + name.replace("_", "-"), type=kind, default=par.default)
    sub.choices["train"].set_defaults(threads=1)  # the command line trains on one thread unless told otherwise
    args = vars(parser.parse_args(argv))
    cmd, run_dir = args.pop("cmd"), args.pop("dir")
    if cmd == "train":
        res = run_training(run_dir, **args)
        print(json.dumps({k: v for k, v in res.items() if k != "log"}))
    else:
        torch.set_num_threads(1)
        print(json.dumps(ship_run(run_dir, **args)["evaluation"], indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())
