"""Differentiable significance losses: plain functions on tensors, one convention for all of them.

Each loss lives in a submodule and is re-exported here:

* :mod:`.bce` -- weighted binary cross-entropy on logits, the baseline of every chapter;
* :mod:`.punzi` -- the Punzi loss (punzi-loss.txt, Eqs. 10-12), Chapters 3-4;
* :mod:`.significance` -- ℓ_s/√(s+b) and ℓ_Asimov (significance-asimov-losses.txt, Eqs. 4.1-4.6), Chapter 5;
* :mod:`.lovasz` -- the Lovász Z-score loss (lovasz-z-score-loss.txt), Chapter 6.

The convention (as in :mod:`torch.nn.functional`):

* every loss is a plain function ``name_loss(pred, target, weight, *, ...)``: ``pred`` the network output
  (N,), ``target`` the labels (1 signal, 0 background), ``weight`` the per-event weights; everything
  after them is keyword-only. No loss has an ``nn.Module`` wrapper.
* ``validate=True`` (the default) checks the input *values*; each check waits for the device, so a
  training loop checks once and then passes ``False``. Options and shapes are always checked, and bad
  input raises a ``ValueError`` that names the argument.
* every loss has a factory ``make_name_loss(*, ...)`` returning ``loss_fn(output, batch)`` for
  :func:`hepsig_tutorial.train.fit`. It reads ``batch["y"]`` (target), ``batch[weight_key]`` (weight;
  ``weight_key="w"`` by default) and ``batch["fraction"]`` (the batch's share of the data set, set by
  ``fit``), plus ``batch["membership"]`` or ``batch["cell"]`` for the Punzi loss; it checks the values on
  its first call only.

What ``pred`` is, per loss (each chapter's choice), and the factory and counts-level form of each:

* :func:`~hepsig_tutorial.losses.bce.bce_loss` -- logits F; :func:`~hepsig_tutorial.losses.bce.make_bce_loss`;
* :func:`~hepsig_tutorial.losses.punzi.punzi_loss` -- probabilities ŷ;
  :func:`~hepsig_tutorial.losses.punzi.make_punzi_loss`; σ_min from yields:
  :func:`~hepsig_tutorial.losses.punzi.sigma_min_from_yields`;
* :func:`~hepsig_tutorial.losses.significance.s_over_sqrt_s_plus_b_loss` -- probabilities ŷ;
  :func:`~hepsig_tutorial.losses.significance.make_s_over_sqrt_s_plus_b_loss`; on counts:
  :func:`~hepsig_tutorial.losses.significance.s_over_sqrt_s_plus_b_loss_from_counts` (the counts themselves:
  :func:`~hepsig_tutorial.losses.significance.relaxed_counts`);
* :func:`~hepsig_tutorial.losses.significance.asimov_loss` -- probabilities ŷ;
  :func:`~hepsig_tutorial.losses.significance.make_asimov_loss`; on counts:
  :func:`~hepsig_tutorial.losses.significance.asimov_loss_from_counts`;
* :func:`~hepsig_tutorial.losses.lovasz.lovasz_z_loss` -- logits F;
  :func:`~hepsig_tutorial.losses.lovasz.make_lovasz_z_loss`; the set
  function: :func:`~hepsig_tutorial.losses.lovasz.delta_z`.

A loss on probabilities trains a network with a sigmoid output, or takes ``torch.sigmoid`` of logits
(:mod:`hepsig_tutorial.compare` does).
"""

from __future__ import annotations

from . import bce, lovasz, punzi, significance
from .bce import *  # noqa: F401,F403
from .lovasz import *  # noqa: F401,F403
from .punzi import *  # noqa: F401,F403
from .significance import *  # noqa: F401,F403

__all__ = bce.__all__ + punzi.__all__ + significance.__all__ + lovasz.__all__
