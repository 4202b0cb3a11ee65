"""What every loss in :mod:`hepsig_tutorial.losses` shares: input conversion, value checks and the factory.

The tensor converter :func:`as_tensor` (NumPy arrays: ``hepsig_tutorial._validate.array``), the shape and
dtype of the network output (:func:`as_pred`), the value checks of a loss (:func:`check_values`; labels and
weights alone: :func:`check_target`, :func:`check_weight`) and :func:`batch_loss`,
the ``loss_fn(output, batch)`` closure behind every ``make_*_loss`` factory.
"""

from __future__ import annotations

import numpy as np
import torch

from .._validate import require


def as_tensor(x, name, like, dtype=None, *, same_shape=False):
    """``x`` as a tensor on the device of ``like`` (in ``dtype`` if given); a no-op for a tensor already there.

    ``same_shape=True`` also requires the shape of ``like`` (the network output ``pred``).
    """
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(np.asarray(x))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be an array or tensor, got {type(x).__name__}") from exc
    if same_shape and x.shape != like.shape:
        raise ValueError(f"{name} must have the shape {tuple(like.shape)} of pred, got {tuple(x.shape)}")
    return x.to(device=like.device, dtype=dtype)


def as_pred(pred):
    """The network output ``pred``, checked to be a tensor of shape (N,), in a floating dtype (the default
    dtype for an integer tensor, e.g. 0/1 hard selections)."""
    require(isinstance(pred, torch.Tensor),
            f"pred must be a torch tensor (the network output), got {type(pred).__name__}")
    require(pred.ndim == 1, f"pred must have shape (N,), got {tuple(pred.shape)}")
    return pred if pred.is_floating_point() else pred.to(torch.get_default_dtype())


def check_values(pred, target, weight, *, probability, positive=False):
    """The value checks of a loss (each waits for the device): ``pred`` finite, and in [0, 1] if
    ``probability``; ``target`` 0/1 (:func:`check_target`); ``weight`` (:func:`check_weight`) unless ``None``."""
    p = pred.detach()
    require(torch.isfinite(p), "pred contains NaN or inf")
    require(not probability or ((p >= 0) & (p <= 1)),
            "pred must lie in [0, 1] (this loss takes probabilities: use a sigmoid output)")
    check_target(target)
    if weight is not None:
        check_weight(weight, positive=positive)


def check_target(target):
    """Labels must be 0 (background) or 1 (signal); works on arrays and tensors."""
    require((target == 0) | (target == 1), "target must contain only 0 (background) and 1 (signal)")


def check_weight(weight, *, positive=False):
    """Weights must be finite and ≥ 0 (> 0 with ``positive``); works on arrays and tensors."""
    finite = (torch if isinstance(weight, torch.Tensor) else np).isfinite(weight)
    require(finite & ((weight > 0) if positive else (weight >= 0)),
            f"weight must be finite and {'positive' if positive else 'non-negative'} "
            "(expected events per simulated event)")


def batch_loss(loss, *, weight_key="w", extra=None, fraction=True, data=None, **options):
    """The ``loss_fn(output, batch)`` that :func:`hepsig_tutorial.train.fit` calls, for the plain function ``loss``.

    It calls ``loss(output, batch["y"], batch[weight_key], fraction=batch["fraction"], **options)`` (a batch
    without ``weight_key`` passes ``None``; ``fraction=False`` leaves the fraction out; each ``argument: key``
    of the dict ``extra`` adds ``argument=batch[key]``). The input *values* are checked once (``validate=True``,
    then ``False``): at construction on the whole training set when ``data`` (a mapping with those keys) is
    given, with an all-ones output standing in for the network, otherwise on the first call. Later training
    steps never wait for the device.
    """
    extra = extra or {}
    checked = data is not None
    if checked:
        missing = [k for k in ("y", weight_key, *extra.values()) if k not in data]
        require(not missing, f"data is missing the keys {missing}")
        loss(torch.ones(len(data["y"]), dtype=torch.float64), data["y"], data[weight_key], validate=True,
             **{arg: data[key] for arg, key in extra.items()}, **options)

    def loss_fn(output, batch):
        nonlocal checked
        kw = {arg: batch[key] for arg, key in extra.items()}
        if fraction:
            kw["fraction"] = float(batch.get("fraction", 1.0))
        out = loss(output, batch["y"], batch.get(weight_key), validate=not checked, **kw, **options)
        checked = True
        return out

    return loss_fn
