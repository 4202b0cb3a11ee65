"""The one loss API (hepsig_tutorial/losses/__init__.py): same argument names, a factory per loss, no modules;
and the weighted BCE on logits (hepsig_tutorial/losses/bce.py)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

import hepsig_tutorial as ht
from hepsig_tutorial import losses
from hepsig_tutorial.losses import bce_loss, make_bce_loss

LOSSES = ("bce", "punzi", "s_over_sqrt_s_plus_b", "asimov", "lovasz_z")


@pytest.mark.parametrize("name", LOSSES)
def test_every_loss_has_the_same_signature_and_a_factory(name):
    fn = getattr(losses, f"{name}_loss")
    params = list(inspect.signature(fn).parameters.values())
    assert [p.name for p in params[:3]] == ["pred", "target", "weight"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[3:]), "options after weight: keyword-only"
    assert "validate" in inspect.signature(fn).parameters
    factory = getattr(losses, f"make_{name}_loss")
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in inspect.signature(factory).parameters.values())
    assert "weight_key" in inspect.signature(factory).parameters


def test_no_loss_is_an_nn_module_and_old_names_are_gone():
    public = {name: getattr(losses, name) for name in losses.__all__}
    assert not [n for n, v in public.items() if isinstance(v, type) and issubclass(v, torch.nn.Module)]
    for old in ("PunziLoss", "AsimovLoss", "SOverSqrtSPlusBLoss", "make_punzi_loss_fn", "asimov_loss_fn",
                "s_over_sqrt_s_plus_b_loss_fn", "lovasz_z_loss_fn"):
        assert not hasattr(losses, old), old
    assert not hasattr(ht.train, "bce_loss") and not hasattr(ht.train, "bce_with_logits_loss")


def test_bce_is_the_weighted_mean_of_the_logistic_loss():
    torch.manual_seed(0)
    logits = torch.randn(50, dtype=torch.float64)
    y = (torch.rand(50) > 0.5).double()
    w = torch.rand(50, dtype=torch.float64) + 0.1
    ref = -(y * torch.log(torch.sigmoid(logits)) + (1 - y) * torch.log(1 - torch.sigmoid(logits)))
    torch.testing.assert_close(bce_loss(logits, y, w), (w * ref).sum() / w.sum())
    torch.testing.assert_close(bce_loss(logits, y), ref.mean())
    torch.testing.assert_close(bce_loss(logits, y.numpy(), w.numpy()), (w * ref).sum() / w.sum())   # arrays too
    fn = make_bce_loss(weight_key="w_bce")
    torch.testing.assert_close(fn(logits, {"y": y, "w_bce": w, "w": torch.ones_like(w), "fraction": 0.3}),
                               bce_loss(logits, y, w))
    torch.testing.assert_close(make_bce_loss()(logits, {"y": y}), ref.mean())


@pytest.mark.parametrize("logit,label", [(30.0, 0.0), (-30.0, 1.0), (200.0, 0.0)])
def test_bce_keeps_its_gradient_where_a_clamped_probability_version_loses_it(logit, label):
    """σ(F) − y = ±1 for a confidently wrong score; BCE on clamp(σ(F), 1e-7) (the old train.bce_loss) gives 0."""
    f1 = torch.tensor([logit], requires_grad=True)
    bce_loss(f1, torch.tensor([label])).backward()
    assert abs(float(f1.grad)) == pytest.approx(1.0, rel=1e-6)
    f2 = torch.tensor([logit], requires_grad=True)
    p = torch.sigmoid(f2).clamp(1e-7, 1 - 1e-7)
    (-(label * torch.log(p) + (1 - label) * torch.log1p(-p))).sum().backward()
    assert float(f2.grad) == 0.0


@pytest.mark.parametrize("call, name", [
    (lambda: bce_loss(torch.zeros(3), torch.ones(4)), "target"),
    (lambda: bce_loss(torch.zeros(3), torch.tensor([0.0, 1.0, 2.0])), "target"),
    (lambda: bce_loss(torch.zeros(3), torch.ones(3), -torch.ones(3)), "weight"),
    (lambda: bce_loss(torch.zeros(3), torch.ones(3), torch.ones(2)), "weight"),
    (lambda: bce_loss(torch.tensor([0.0, float("nan"), 1.0]), torch.ones(3)), "pred"),
    (lambda: make_bce_loss()(torch.zeros(3), {"y": torch.full((3,), 0.5)}), "target"),
])
def test_bce_bad_input_raises_value_error(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_factories_check_values_on_the_first_call_only():
    good = {"y": torch.tensor([1.0, 0.0, 0.0]), "w": torch.tensor([1.0, 2.0, 3.0]), "fraction": 1.0}
    bad = dict(good, w=torch.tensor([1.0, -2.0, 3.0]))
    for make in (make_bce_loss, lambda: losses.make_asimov_loss(sigma_b_rel=0.1, normalisation="fraction"),
                 lambda: losses.make_s_over_sqrt_s_plus_b_loss(normalisation="fraction")):
        with pytest.raises(ValueError, match="weight"):
            make()(torch.full((3,), 0.5), bad)
        fn = make()
        fn(torch.full((3,), 0.5), good)
        assert np.isfinite(float(fn(torch.full((3,), 0.5), bad)))     # later calls: not checked (no device wait)
