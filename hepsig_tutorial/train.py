"""One small training loop for every loss in the book.

Significance losses are functions of sums over many events, not means of per-event terms, so the
loop hands the loss a whole *batch* -- a dict of tensors -- plus the fraction of the dataset that the
batch represents. A loss is any callable ``loss_fn(output, batch) -> scalar tensor`` where

* ``output`` is the model's output on ``batch["x"]`` (shape ``(N,)``);
* ``batch`` holds every tensor given to :func:`fit` (sliced to the batch), plus
  ``batch["fraction"]``: batch size / dataset size (a float), so a loss can scale batch sums up to
  the full expected yields (the ``n_batches`` factor of punzi-loss.txt, Sec. 6).

Per-event losses such as BCE ignore ``fraction``; see :func:`bce_loss`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

import numpy as np
import torch

from .config import device as default_device
from .config import progress_enabled

__all__ = ["as_tensors", "bce_loss", "fit", "predict", "progress"]


def progress(iterable, **kwargs):
    """A text progress bar (tqdm), silent when ``HEPSIG_PROGRESS=0``."""
    from tqdm.auto import tqdm

    kwargs.setdefault("disable", not progress_enabled())
    kwargs.setdefault("mininterval", 0.5)
    return tqdm(iterable, **kwargs)


def as_tensors(data: Mapping, device=None, dtype=torch.float32, keep_dtype=("index",)) -> dict:
    """Convert a mapping of arrays to tensors on ``device``, checking equal lengths.

    Floating-point arrays become ``dtype``; integer and boolean arrays too (labels given as 0/1
    integers become floats), except under the keys in ``keep_dtype`` (``True``: every key), which keep
    their integer or boolean type (indices, window memberships). The inputs must be under ``"x"``.
    """
    device = default_device() if device is None else device
    out = {}
    n = None
    for key, value in data.items():
        t = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value)
        keep = keep_dtype is True or (keep_dtype is not False and key in keep_dtype)
        t = t.to(device=device, dtype=dtype if t.is_floating_point() or not keep else t.dtype)
        if n is None:
            n = t.shape[0]
        elif t.shape[0] != n:
            raise ValueError(f"data[{key!r}] has {t.shape[0]} rows, expected {n} like the others")
        out[key] = t
    if "x" not in out:
        raise ValueError("data must contain the inputs under the key 'x'")
    return out


def bce_loss(output, batch):
    """Weighted binary cross-entropy, ``Σ w·BCE / Σ w`` (weights from ``batch['w']`` if present)."""
    y = batch["y"]
    w = batch.get("w")
    eps = 1e-7
    p = output.clamp(eps, 1 - eps)
    per_event = -(y * torch.log(p) + (1 - y) * torch.log1p(-p))
    if w is None:
        return per_event.mean()
    return (w * per_event).sum() / w.sum()


def fit(
    model: torch.nn.Module,
    loss_fn: Callable,
    data: Mapping,
    *,
    epochs: int,
    batch_size: int | None = None,
    lr: float = 1e-3,
    optimizer: str | torch.optim.Optimizer = "adam",
    val_data: Mapping | None = None,
    seed: int = 0,
    device=None,
    desc: str = "training",
    callback: Callable | None = None,
) -> dict:
    """Train ``model`` on ``loss_fn`` and return the history.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``data["x"]`` to outputs of shape ``(N,)``.
    loss_fn : callable
        ``loss_fn(output, batch) -> scalar`` (see the module docstring).
    data, val_data : mapping of str to array
        Must contain ``"x"``; usually also ``"y"`` (labels) and ``"w"`` (per-event weights).
        Arrays or tensors; all the same length.
    epochs : int
        Passes over the data.
    batch_size : int or None
        ``None`` (or ≥ N) means one batch of all data ("mono-batch", full-batch gradient descent).
    optimizer : {"adam", "radam", "sgd"} or torch.optim.Optimizer
    seed : int
        Seeds the batch shuffling (not the model's initialisation: seed before building the model).
    callback : callable, optional
        ``callback(epoch, model, history)`` after every epoch.

    Returns
    -------
    dict
        ``{"loss": [...], "val_loss": [...], "seconds": float}`` with one mean loss per epoch.
    """
    if int(epochs) != epochs or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    if batch_size is not None and (int(batch_size) != batch_size or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    device = default_device() if device is None else device
    model.to(device)
    tensors = as_tensors(data, device)
    val = as_tensors(val_data, device) if val_data is not None else None
    n = tensors["x"].shape[0]
    bs = n if batch_size is None else min(int(batch_size), n)
    n_batches = math.ceil(n / bs)
    if isinstance(optimizer, str):
        choices = {"adam": torch.optim.Adam, "radam": torch.optim.RAdam, "sgd": torch.optim.SGD}
        if optimizer not in choices:
            raise ValueError(f"optimizer must be one of {sorted(choices)} or an Optimizer, got {optimizer!r}")
        opt = choices[optimizer](model.parameters(), lr=lr)
    else:
        opt = optimizer
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    history = {"loss": [], "val_loss": []}
    t0 = time.perf_counter()
    for epoch in progress(range(int(epochs)), desc=desc, leave=False):
        model.train()
        order = torch.randperm(n, generator=gen).to(device) if n_batches > 1 else None
        total = 0.0
        for k in range(n_batches):
            if order is None:
                batch = dict(tensors)
            else:
                idx = order[k * bs:(k + 1) * bs]
                batch = {key: t[idx] for key, t in tensors.items()}
            batch["fraction"] = batch["x"].shape[0] / n
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(batch["x"]), batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch}, batch {k}")
            loss.backward()
            opt.step()
            total += float(loss.detach())
        history["loss"].append(total / n_batches)
        if val is not None:
            model.eval()
            with torch.no_grad():
                vb = dict(val, fraction=1.0)
                history["val_loss"].append(float(loss_fn(model(vb["x"]), vb)))
        if callback is not None:
            callback(epoch, model, history)
    history["seconds"] = time.perf_counter() - t0
    return history


@torch.no_grad()
def predict(model: torch.nn.Module, x, batch_size: int = 65536) -> np.ndarray:
    """Model output for inputs ``x`` as a NumPy array (evaluation mode, no gradients)."""
    model.eval()
    dev = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x, dtype=torch.float32)
    outs = [model(x[i:i + batch_size].to(dev)).cpu() for i in range(0, max(len(x), 1), batch_size)]
    return torch.cat(outs).numpy() if outs else np.empty(0, dtype=np.float32)
