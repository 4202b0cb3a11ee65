"""What every loss in :mod:`hepsig_tutorial.losses` shares: input conversion, value checks and the factory.

One converter each way (:func:`as_numpy`, :func:`as_tensor`), one check per kind of input
(:func:`check_pred`, :func:`check_target`, :func:`check_weight`) and :func:`batch_loss`, the
``loss_fn(output, batch)`` closure behind every ``make_*_loss`` factory.
"""

from __future__ import annotations

import numpy as np
import torch


def as_numpy(x, name, dtype=np.float64, *, one_dim=False, finite=False):
    """``x`` (array, list or tensor on any device) as a NumPy array of ``dtype``, or a ``ValueError`` naming it."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        a = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric, got {type(x).__name__}") from exc
    if one_dim and a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    if finite and a.dtype.kind == "f" and not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf")
    return a


def as_tensor(x, name, like, dtype=None):
    """``x`` as a tensor on the device of ``like`` (in ``dtype`` if given); a no-op for a tensor already there."""
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(np.asarray(x))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be an array or tensor, got {type(x).__name__}") from exc
    return x.to(device=like.device, dtype=dtype)


def check_pred(pred, *, probability):
    """Value check of the network output (waits for the device): finite, and in [0, 1] if ``probability``."""
    p = pred.detach()
    if not bool(torch.isfinite(p).all()):
        raise ValueError("pred contains NaN or inf")
    if probability and not bool(((p >= 0) & (p <= 1)).all()):
        raise ValueError("pred must lie in [0, 1] (this loss takes probabilities: use a sigmoid output)")


def check_target(target):
    """Labels must be 0 (background) or 1 (signal); works on arrays and tensors."""
    ok = ((target == 0) | (target == 1)).all()
    if not bool(ok):
        raise ValueError("target must contain only 0 (background) and 1 (signal)")


def check_weight(weight, *, positive=False):
    """Weights must be finite and ≥ 0 (> 0 with ``positive``); works on arrays and tensors."""
    lib = torch if isinstance(weight, torch.Tensor) else np
    finite = bool(lib.isfinite(weight).all())
    if not finite or not bool(((weight > 0) if positive else (weight >= 0)).all()):
        raise ValueError(f"weight must be finite and {'positive' if positive else 'non-negative'} "
                         "(expected events per simulated event)")


def check_number(name, value, *, low=0.0, strict=False, high=None):
    """A finite real number ≥ ``low`` (> ``low`` if ``strict``, ≤ ``high`` if given), else a ``ValueError``."""
    ok = (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
          and np.isfinite(value) and (value > low if strict else value >= low) and (high is None or value <= high))
    if not ok:
        where = f"{'>' if strict else '≥'} {low:g}" + ("" if high is None else f" and ≤ {high:g}")
        raise ValueError(f"{name} must be a finite number {where}, got {value!r}")
    return float(value)


def batch_loss(loss, *, weight_key="w", extra=(), fraction=True, data=None, name=None, **options):
    """The ``loss_fn(output, batch)`` that :func:`hepsig_tutorial.train.fit` calls, for the plain function ``loss``.

    It calls ``loss(output, batch["y"], batch[weight_key], fraction=batch["fraction"], **options)`` (a batch
    without ``weight_key`` passes ``None``; ``fraction=False`` leaves the fraction out; each ``(argument, key)``
    in ``extra`` adds ``argument=batch[key]``). The input *values* are checked once (``validate=True``, then
    ``False``): at construction on the whole training set when ``data`` (a mapping with those keys) is given,
    with an all-ones output standing in for the network, otherwise on the first call. Later training steps
    never wait for the device.
    """
    state = {"checked": False}
    if data is not None:
        missing = [k for k in ("y", weight_key, *(key for _, key in extra)) if k not in data]
        if missing:
            raise ValueError(f"data is missing the keys {missing}")
        probe = {k: data[k] for k in ("y", weight_key, *(key for _, key in extra))}
        loss(torch.ones(len(data["y"]), dtype=torch.float64), probe["y"], probe[weight_key], validate=True,
             **{arg: probe[key] for arg, key in extra}, **options)
        state["checked"] = True

    def loss_fn(output, batch):
        kw = {arg: batch[key] for arg, key in extra}
        if fraction:
            kw["fraction"] = float(batch.get("fraction", 1.0))
        out = loss(output, batch["y"], batch.get(weight_key), validate=not state["checked"], **kw, **options)
        state["checked"] = True
        return out

    loss_fn.__name__ = name or loss.__name__
    return loss_fn
