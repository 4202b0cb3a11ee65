"""Weighted binary cross-entropy on logits: the baseline every chapter compares the significance losses with."""

from __future__ import annotations

import torch

from ._common import as_tensor, batch_loss, check_values

__all__ = ["bce_loss", "make_bce_loss"]


def bce_loss(pred, target, weight=None, *, validate=True):
    """Weighted binary cross-entropy on logits, ``Σ w·ℓ / Σ w`` (the mean when ``weight`` is ``None``).

    ``ℓ = -[y log σ(F) + (1 - y) log(1 - σ(F))]`` evaluated by
    :func:`torch.nn.functional.binary_cross_entropy_with_logits` (log-sum-exp form), so its gradient
    ``w (σ(F) - y) / Σ w`` stays non-zero however large a wrong score ``F`` gets. Use it with a network
    whose output is linear (``ht.models.mlp(..., output="linear")``); apply ``torch.sigmoid`` to its
    scores for probabilities.

    Parameters
    ----------
    pred : torch.Tensor, shape (N,)
        Raw scores (logits) F.
    target : tensor or array, shape (N,)
        Labels in {0, 1}.
    weight : tensor or array, shape (N,), optional
        Per-event weights ≥ 0.
    validate : bool
        Check the input values (finite scores, 0/1 labels, finite weights ≥ 0); each check waits for the device.
    """
    y = as_tensor(target, "target", pred, pred.dtype, same_shape=True)
    w = None if weight is None else as_tensor(weight, "weight", pred, same_shape=True)
    if validate:
        check_values(pred, y, w, probability=False)
    per_event = torch.nn.functional.binary_cross_entropy_with_logits(pred, y, reduction="none")
    return per_event.mean() if w is None else (w * per_event).sum() / w.sum()


def make_bce_loss(*, weight_key="w"):
    """``loss_fn(output, batch)`` for :func:`~hepsig_tutorial.train.fit`: :func:`bce_loss` on the logits ``output``.

    Reads ``batch["y"]`` and ``batch[weight_key]`` (unweighted mean without it); ignores ``batch["fraction"]``.
    """
    return batch_loss(bce_loss, weight_key=weight_key, fraction=False)
