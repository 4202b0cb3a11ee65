"""The data-directed paradigm network: a CNN that maps a histogram to its significance map.

Chapter 7 ({ref}`sec-ddp`) teaches this module; the samples come from :mod:`hepsig_tutorial.bump`.
data-directed-bump-hunting.txt (Volkovich, De Vito Halevy, Bressler) describes the network only in
words: "a dense layer followed by six 1-dimensional convolutional layers", ReLU on all layers, 73,941
trainable parameters, Adam (lr 3·10⁻⁴), mean squared error, batch 100, 200 epochs, 600,000 samples
(20 % validation) and 25,000 test samples.

:func:`ddp_network` builds an architecture consistent with that description and with exactly 73,941
parameters (see its docstring for the derivation); :func:`train_ddp` trains it with the paper's
settings; :func:`predict_z` maps raw histograms to z maps; :func:`save_ddp` / :func:`load_ddp` store a
trained model with its scalers, so that a FULL-mode model trained on a GPU can be loaded on a laptop.

Run ``python -m hepsig_tutorial.ddp --out ddp-full.pt`` to train the FULL (paper-scale) model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .bump import N_BINS, GlobalMinMaxScaler
from .config import device as default_device
from .train import progress

__all__ = ["PAPER_PARAMETERS", "DDPNet", "ddp_network", "train_ddp", "predict_z", "save_ddp", "load_ddp"]

#: Trainable parameters of the paper's network (data-directed-bump-hunting.txt, "A neural net implementation").
PAPER_PARAMETERS = 73_941


class DDPNet(nn.Module):
    """Dense layer, then 1-D convolutions ('same' padding), ReLU after every hidden layer.

    ``(N, n_bins)`` scaled histogram → ``(N, n_bins)`` scaled z map. The dense layer sees the whole
    histogram (it can undo position-dependent effects, as the paper motivates it); the convolutions
    detect the local bump features.

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

    def __init__(self, n_bins: int = N_BINS, dense_units: int | None = None,
                 channels: Sequence[int] = (24, 24, 48, 48, 48, 1), kernels: Sequence[int] = (10, 10, 10, 10, 10, 1),
                 output: str = "linear", init: str = "default"):
        super().__init__()
        if int(n_bins) != n_bins or n_bins < 2:
            raise ValueError(f"n_bins must be an integer >= 2, got {n_bins!r}")
        dense_units = int(n_bins) if dense_units is None else dense_units
        if int(dense_units) != dense_units or dense_units < n_bins:
            raise ValueError(f"dense_units must be an integer >= n_bins, got {dense_units!r}")
        channels, kernels = [int(c) for c in channels], [int(k) for k in kernels]
        if len(channels) != len(kernels) or not channels:
            raise ValueError("channels and kernels must be non-empty and of equal length")
        if channels[-1] != 1 or any(c < 1 for c in channels) or any(k < 1 for k in kernels):
            raise ValueError(f"channels must be positive and end in 1, kernels positive; got {channels}, {kernels}")
        if dense_units != n_bins:
            raise ValueError("this implementation keeps the length: dense_units must equal n_bins")
        if output not in ("linear", "relu"):
            raise ValueError(f"output must be 'linear' or 'relu', got {output!r}")
        if init not in ("default", "identity"):
            raise ValueError(f"init must be 'default' or 'identity', got {init!r}")
        self.config = {"n_bins": int(n_bins), "dense_units": int(dense_units), "channels": channels,
                       "kernels": kernels, "output": output}
        self.dense = nn.Linear(int(n_bins), int(dense_units))
        if init == "identity":
            with torch.no_grad():
                self.dense.weight.mul_(0.1).add_(torch.eye(int(dense_units), int(n_bins)))
                self.dense.bias.zero_()
        layers: list[nn.Module] = []
        c_in = 1
        for i, (c, k) in enumerate(zip(channels, kernels)):
            if k > 1:  # 'same' padding, explicit (for even k: (k-1)//2 left, k//2 right, like padding="same")
                layers.append(nn.ConstantPad1d(((k - 1) // 2, k // 2), 0.0))
            layers.append(nn.Conv1d(c_in, c, k))
            if i < len(channels) - 1 or output == "relu":
                layers.append(nn.ReLU())
            c_in = c
        self.convs = nn.Sequential(*layers)

    def forward(self, x):
        h = torch.relu(self.dense(x)).unsqueeze(1)  # (N, 1, n_bins)
        return self.convs(h).squeeze(1)


def ddp_network(n_bins: int = N_BINS, output: str = "linear", init: str = "default") -> DDPNet:
    """The DDP network with exactly :data:`PAPER_PARAMETERS` = 73,941 trainable parameters.

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

    total 73,941. 'same' padding keeps 100 bins throughout (kernel 10 pads 4 left, 5 right). ``output``
    and ``init``: see :class:`DDPNet` (a ReLU output, as in the paper, dies in training, so the default
    is linear; ``init="identity"`` is the FAST-mode starting point of Chapter 7).
    """
    return DDPNet(n_bins, output=output, init=init)


def _as_float_tensor(x, name):
    try:
        t = torch.as_tensor(np.asarray(x, dtype=np.float32))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array") from exc
    if t.ndim != 2:
        raise ValueError(f"{name} must be 2D (samples, bins), got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains non-finite values")
    return t


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
              checkpoint=None, checkpoint_extra: dict | None = None, callback=None,
              desc: str = "DDP training") -> dict:
    """Train the DDP network with the paper's recipe: Adam, mean squared error, mini-batches.

    Parameters
    ----------
    model : torch.nn.Module
        E.g. :func:`ddp_network`; trained in place.
    x_train, z_train : array ``(N, n_bins)``
        Scaled inputs and targets (:class:`hepsig_tutorial.bump.GlobalMinMaxScaler`).
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
    checkpoint : path, optional
        After every epoch, save the model (and ``checkpoint_extra``, e.g. the scalers) with
        :func:`save_ddp`, so a long FULL run can be stopped and the last epoch kept.
    callback : callable, optional
        ``callback(epoch, model, history)`` after every epoch (e.g. to evaluate test metrics).

    Returns
    -------
    dict
        ``loss`` and ``val_loss`` (one MSE per epoch, scaled units), ``lr`` (the rate at the start of
        each epoch), ``seconds``, ``epochs``.
    """
    if int(epochs) != epochs or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    if schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")
    x = _as_float_tensor(x_train, "x_train")
    y = _as_float_tensor(z_train, "z_train")
    if x.shape != y.shape:
        raise ValueError(f"x_train {tuple(x.shape)} and z_train {tuple(y.shape)} must have the same shape")
    if (x_val is None) != (z_val is None):
        raise ValueError("give both x_val and z_val, or neither")
    if x_val is not None:
        xv, yv = _as_float_tensor(x_val, "x_val"), _as_float_tensor(z_val, "z_val")
        if xv.shape != yv.shape or xv.shape[1] != x.shape[1]:
            raise ValueError("x_val and z_val must have the same shape, with as many bins as x_train")
    dev = default_device() if device is None else torch.device(device)
    model.to(dev)
    on_dev = dev.type != "cpu"
    if on_dev:  # the whole set fits on a GPU (600k × 100 floats = 240 MB each)
        x, y = x.to(dev), y.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(int(seed))
    history = {"loss": [], "val_loss": [], "lr": [], "epochs": 0}
    n = len(x)
    bs = min(int(batch_size), n)
    total_steps = int(epochs) * math.ceil(n / bs)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)  # per step, down to 0
             if schedule == "cosine" and total_steps > 0 else None)
    t0 = time.perf_counter()
    bar = progress(range(int(epochs)), desc=desc, leave=False)
    for epoch in bar:
        model.train()
        order = torch.randperm(n, generator=gen)
        if on_dev:
            order = order.to(dev)
        total = 0.0
        history["lr"].append(opt.param_groups[0]["lr"])
        for k in range(0, n, bs):
            idx = order[k:k + bs]
            xb, yb = x[idx], y[idx]
            if not on_dev:
                xb, yb = xb.to(dev), yb.to(dev)
            opt.zero_grad(set_to_none=True)
            loss = torch.mean((model(xb) - yb) ** 2)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            total += float(loss.detach()) * len(idx)
        history["loss"].append(total / n)
        if x_val is not None:
            history["val_loss"].append(_evaluate(model, xv, yv, 4096, dev))
        history["epochs"] = epoch + 1
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{history['loss'][-1]:.2e}")
        if checkpoint is not None:
            extra = dict(checkpoint_extra or {})
            save_ddp(checkpoint, model, history=history, **extra)
        if callback is not None:
            callback(epoch, model, history)
    history["seconds"] = time.perf_counter() - t0
    return history


@torch.no_grad()
def predict_z(model: nn.Module, counts, x_scaler: GlobalMinMaxScaler, z_scaler: GlobalMinMaxScaler,
              batch_size: int = 4096) -> np.ndarray:
    """z map predicted by the network for raw histograms ``counts`` ``(N, n_bins)``, in σ units
    (inputs scaled with ``x_scaler``, outputs un-scaled with ``z_scaler`` and clipped at 0, since z ≥ 0)."""
    x = _as_float_tensor(x_scaler.transform(np.atleast_2d(counts)), "counts")
    model.eval()
    dev = next(model.parameters()).device
    outs = [model(x[i:i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)]
    return np.maximum(z_scaler.inverse_transform(torch.cat(outs).numpy()), 0.0)


def save_ddp(path, model: nn.Module, *, x_scaler: GlobalMinMaxScaler | None = None,
             z_scaler: GlobalMinMaxScaler | None = None, history: dict | None = None, meta: dict | None = None):
    """Save a :class:`DDPNet` (architecture, CPU weights), its scalers, history and free-form ``meta``."""
    if not isinstance(model, DDPNet):
        raise ValueError("model must be a DDPNet (built by ddp_network or DDPNet)")
    state = {
        "format": "hepsig-ddp-1",
        "config": model.config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "x_scaler": x_scaler.state_dict() if x_scaler is not None else None,
        "z_scaler": z_scaler.state_dict() if z_scaler is not None else None,
        "history": {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in (history or {}).items()},
        "meta": dict(meta or {}),
    }
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)
    return path


def load_ddp(path, device=None):
    """Load what :func:`save_ddp` wrote (e.g. a FULL-mode model trained on a GPU) onto ``device``
    (default: the CPU). Returns ``(model, x_scaler, z_scaler, info)`` with ``info`` holding
    ``history`` and ``meta``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path: no such checkpoint file {str(path)!r}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != "hepsig-ddp-1":
        raise ValueError(f"path: {str(path)!r} is not a DDP checkpoint written by save_ddp")
    cfg = state["config"]
    model = DDPNet(cfg["n_bins"], cfg["dense_units"], cfg["channels"], cfg["kernels"], cfg.get("output", "relu"))
    model.load_state_dict(state["state_dict"])
    model.to(torch.device("cpu") if device is None else torch.device(device))
    model.eval()
    xs = GlobalMinMaxScaler.from_state(state["x_scaler"]) if state["x_scaler"] is not None else None
    zs = GlobalMinMaxScaler.from_state(state["z_scaler"]) if state["z_scaler"] is not None else None
    return model, xs, zs, {"history": state["history"], "meta": state["meta"]}


def _main(argv=None):  # pragma: no cover - paper-scale run, meant for a GPU
    import argparse

    from . import bump
    from .config import seed_everything

    parser = argparse.ArgumentParser(description="Train the DDP network at paper scale (FULL mode).")
    parser.add_argument("--out", default="ddp-full.pt", help="checkpoint file to write")
    parser.add_argument("--samples", type=int, default=600_000, help="training + validation samples")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--lr", type=float, default=3e-4, help="learning rate (paper: 3e-4)")
    parser.add_argument("--schedule", choices=("constant", "cosine"), default="constant")
    parser.add_argument("--init", choices=("default", "identity"), default="default",
                        help="dense-layer start (paper: unstated; Chapter 7 FAST uses identity)")
    args = parser.parse_args(argv)
    rng = seed_everything(args.seed)
    t0 = time.perf_counter()
    data = bump.generate_histograms(args.samples, (1.0, 20.0), rng=rng)
    print(f"generated {args.samples} samples with targets in {time.perf_counter() - t0:.1f} s")
    n_val = int(round(0.2 * args.samples))
    xs = GlobalMinMaxScaler().fit(data["counts"][n_val:])
    zs = GlobalMinMaxScaler().fit(data["z"][n_val:])
    torch.manual_seed(args.seed)
    model = ddp_network(init=args.init)
    hist = train_ddp(model, xs.transform(data["counts"][n_val:]), zs.transform(data["z"][n_val:]),
                     x_val=xs.transform(data["counts"][:n_val]), z_val=zs.transform(data["z"][:n_val]),
                     epochs=args.epochs, lr=args.lr, schedule=args.schedule, seed=args.seed, checkpoint=args.out,
                     checkpoint_extra={"x_scaler": xs, "z_scaler": zs,
                                       "meta": {"mode": "full", "samples": args.samples, "seed": args.seed,
                                                "lr": args.lr, "schedule": args.schedule, "init": args.init}})
    print(f"trained {args.epochs} epochs in {hist['seconds']:.0f} s; final val MSE {hist['val_loss'][-1]:.3e}; "
          f"saved {args.out}")


if __name__ == "__main__":  # pragma: no cover
    _main()
