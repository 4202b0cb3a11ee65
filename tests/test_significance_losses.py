"""Tests of ℓ_s/√(s+b) and ℓ_Asimov (hepsig_tutorial/losses/significance.py, Chapter 5); cut scans: test_metrics.py."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import hepsig_tutorial as ht
from hepsig_tutorial.losses import (
    asimov_loss,
    asimov_loss_from_counts,
    make_asimov_loss,
    make_s_over_sqrt_s_plus_b_loss,
    naive_asimov_significance,
    relaxed_counts,
    s_over_sqrt_s_plus_b_loss,
    s_over_sqrt_s_plus_b_loss_from_counts,
)
from hepsig_tutorial.losses.significance import B_FLOOR, S_FLOOR
from hepsig_tutorial.stats import asimov_significance
from tests._shared import no_host_sync

S_EXP, B_EXP = 958.0, 20760.0


def make_batch(n_sig=40, n_bkg=60, dtype=torch.float32, seed=0, fraction=0.25):
    g = torch.Generator().manual_seed(seed)
    y = torch.cat([torch.ones(n_sig), torch.zeros(n_bkg)]).to(dtype)
    w = torch.where(y == 1, S_EXP / n_sig, B_EXP / n_bkg).to(dtype) * fraction
    out = torch.rand(n_sig + n_bkg, generator=g, dtype=dtype) * 0.9 + 0.05
    return out, {"y": y, "w": w, "fraction": fraction}


KW = {"expected_signal": S_EXP, "expected_background": B_EXP}


# --------------------------------------------------------------------------------------------
# relaxed counts (Eqs. 4.1-4.4)
# --------------------------------------------------------------------------------------------
def test_batch_normalisation_is_the_papers_eq_4_1_to_4_4():
    out, batch = make_batch()
    s, b = relaxed_counts(out, batch["y"], batch["w"], normalisation="batch", **KW)
    y = batch["y"]
    w_s, w_b = S_EXP / y.sum(), B_EXP / (1 - y).sum()  # Eqs. 4.3-4.4 with N_true counted in the batch
    assert s.item() == pytest.approx((w_s * (out * y).sum()).item(), rel=1e-6)
    assert b.item() == pytest.approx((w_b * (out * (1 - y)).sum()).item(), rel=1e-6)


def test_fraction_normalisation_and_agreement_on_the_full_data():
    out, batch = make_batch(fraction=0.25)
    s, b = relaxed_counts(out, batch["y"], batch["w"], normalisation="fraction", fraction=batch["fraction"])
    y, w = batch["y"], batch["w"]
    assert s.item() == pytest.approx((w * y * out).sum().item() / 0.25, rel=1e-6)
    assert b.item() == pytest.approx((w * (1 - y) * out).sum().item() / 0.25, rel=1e-6)
    # with weights summing to the yields over the data and fraction = 1 both estimators agree
    out, full = make_batch(fraction=1.0)
    s1, b1 = relaxed_counts(out, full["y"], full["w"], normalisation="fraction", fraction=full["fraction"])
    s2, b2 = relaxed_counts(out, full["y"], full["w"], normalisation="batch", **KW)
    assert s1.item() == pytest.approx(s2.item(), rel=1e-5) and b1.item() == pytest.approx(b2.item(), rel=1e-5)
    # selecting everything gives the expected yields
    s, b = relaxed_counts(torch.ones_like(out), full["y"], full["w"], normalisation="batch", **KW)
    assert (s.item(), b.item()) == pytest.approx((S_EXP, B_EXP), rel=1e-6)


def test_batch_without_signal_gives_s_zero_not_nan():
    out = torch.full((10,), 0.5, requires_grad=True)
    batch = {"y": torch.zeros(10), "w": torch.ones(10)}
    s, b = relaxed_counts(out, batch["y"], batch["w"], normalisation="batch", **KW)
    assert s.item() == 0.0 and np.isfinite(b.item())
    loss = asimov_loss_from_counts(s, b, sigma_b_rel=0.3)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(out.grad).all()


# --------------------------------------------------------------------------------------------
# the losses (Eqs. 4.5, 4.6)
# --------------------------------------------------------------------------------------------
def test_loss_values():
    s, b = torch.tensor(40.0, dtype=torch.float64), torch.tensor(300.0, dtype=torch.float64)
    want = (40 + S_FLOOR + 300) / (40 + S_FLOOR) ** 2
    assert s_over_sqrt_s_plus_b_loss_from_counts(s, b).item() == pytest.approx(want)
    for rel in (0.0, 0.1, 0.5):
        be = 300.0 + B_FLOOR
        z = asimov_significance(40.0 + S_FLOOR, be, rel * be)
        assert asimov_loss_from_counts(s, b, sigma_b_rel=rel).item() == pytest.approx(1 / z, rel=1e-10)
        assert asimov_loss_from_counts(s, b, sigma_b_rel=rel, power=2).item() == pytest.approx(1 / z**2, rel=1e-10)
    # for s, σ_b ≪ b the Asimov loss tends to √(b + σ_b²)/s
    big_b = torch.tensor(1e6, dtype=torch.float64)
    assert asimov_loss_from_counts(s, big_b, sigma_b_rel=0.0).item() == pytest.approx(1e3 / 40, rel=1e-3)


@pytest.mark.parametrize("case", ["b_zero", "s_zero", "sigma_zero", "all_zero", "saturated"])
@pytest.mark.parametrize("which", ["ssb", "asimov", "asimov2"])
def test_finite_loss_and_gradients_in_float32(case, which):
    out, batch = make_batch(dtype=torch.float32)
    y = batch["y"]
    if case in ("b_zero", "all_zero"):
        out = torch.where(y == 0, torch.zeros_like(out), out)
    if case in ("s_zero", "all_zero"):
        out = torch.where(y == 1, torch.zeros_like(out), out)
    if case == "saturated":
        out = torch.where(y == 1, torch.ones_like(out), torch.full_like(out, 1e-7))
    out = out.clone().requires_grad_(True)
    rel = 0.0 if case == "sigma_zero" else 0.5
    fn = {"ssb": make_s_over_sqrt_s_plus_b_loss(**KW), "asimov": make_asimov_loss(sigma_b_rel=rel, **KW),
          "asimov2": make_asimov_loss(sigma_b_rel=rel, power=2, **KW)}[which]
    loss = fn(out, batch)
    loss.backward()
    assert loss.dtype == torch.float32
    assert torch.isfinite(loss), loss
    assert torch.isfinite(out.grad).all()


@pytest.mark.parametrize("rel", [0.0, 1e-4, 0.1, 0.5])
@pytest.mark.parametrize("kind", ["ssb", "asimov", "asimov2"])
@pytest.mark.parametrize("purity", ["low", "high", "b_tiny"])
def test_finite_difference_gradients(rel, kind, purity):
    out, batch = make_batch(n_sig=6, n_bkg=8, dtype=torch.float64, seed=1)
    y = batch["y"]
    if purity == "high":
        out = torch.where(y == 0, out * 1e-3, out)
    if purity == "b_tiny":
        out = torch.where(y == 0, out * 1e-7, out)
    fn = {"ssb": make_s_over_sqrt_s_plus_b_loss(**KW), "asimov": make_asimov_loss(sigma_b_rel=rel, **KW),
          "asimov2": make_asimov_loss(sigma_b_rel=rel, power=2, **KW)}[kind]
    x = out.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda o: fn(o, batch), (x,), eps=1e-7, atol=1e-6, rtol=1e-4)


def test_loss_prefers_purity():
    out, batch = make_batch(dtype=torch.float64)
    y = batch["y"]
    for fn in (make_s_over_sqrt_s_plus_b_loss(**KW), make_asimov_loss(sigma_b_rel=0.3, **KW),
               make_asimov_loss(sigma_b_rel=0.0, **KW)):
        x = out.clone().requires_grad_(True)
        fn(x, batch).backward()
        assert (x.grad[y == 1] < 0).all()  # more signal selected → lower loss
        assert (x.grad[y == 0] > 0).all()  # more background selected → higher loss


def test_float32_matches_float64():
    out, batch = make_batch(dtype=torch.float64)
    b32 = {k: (v.float() if torch.is_tensor(v) else v) for k, v in batch.items()}
    for fn in (make_asimov_loss(sigma_b_rel=0.5, **KW), make_asimov_loss(sigma_b_rel=0.0, **KW),
               make_s_over_sqrt_s_plus_b_loss(**KW)):
        assert fn(out.float(), b32).item() == pytest.approx(fn(out, batch).item(), rel=1e-5)


def test_naive_formula_cancels_in_float32_where_the_stable_one_does_not():
    # a freshly initialised network on the uncompressed point: s ≈ 15, b ≈ 10 000, σ_b/b = 0.5
    s, b = 15.6, 10_381.0
    exact = asimov_significance(s, b, 0.5 * b)  # float64 reference
    naive64 = naive_asimov_significance(torch.tensor(s, dtype=torch.float64), torch.tensor(b, dtype=torch.float64),
                                        torch.tensor(0.5 * b, dtype=torch.float64)).item()
    assert naive64 == pytest.approx(exact, rel=1e-5)  # the formula itself is right
    naive32 = naive_asimov_significance(torch.tensor(s), torch.tensor(b), torch.tensor(0.5 * b)).item()
    stable32 = asimov_significance(torch.tensor(s), torch.tensor(b), torch.tensor(0.5 * b)).item()
    assert stable32 == pytest.approx(exact, rel=1e-5)
    assert abs(naive32 - exact) / exact > 0.05  # float32 rounding destroys the naive value


def test_factories_and_fit_integration():
    rng = np.random.default_rng(0)
    n = 512
    y = (rng.uniform(size=n) < 0.5).astype(np.float32)
    x = (rng.normal(size=(n, 3)) + y[:, None]).astype(np.float32)
    w = np.where(y == 1, S_EXP / y.sum(), B_EXP / (1 - y).sum()).astype(np.float32)
    data = {"x": x, "y": y, "w": w}
    for crit in (make_asimov_loss(sigma_b_rel=0.3, **KW), make_s_over_sqrt_s_plus_b_loss(**KW),
                 make_s_over_sqrt_s_plus_b_loss(normalisation="fraction"),
                 make_asimov_loss(sigma_b_rel=0.3, normalisation="fraction", power=2)):
        torch.manual_seed(0)
        model = ht.models.mlp(3, (4,))
        hist = ht.train.fit(model, crit, data, epochs=3, batch_size=128, device="cpu")
        assert np.isfinite(hist["loss"]).all()


@pytest.mark.parametrize("call, name", [
    (lambda: asimov_loss_from_counts(torch.tensor(1.0), torch.tensor(1.0), sigma_b_rel=-0.1), "sigma_b_rel"),
    (lambda: asimov_loss_from_counts(torch.tensor(1.0), torch.tensor(1.0), sigma_b_rel=0.1, power=3), "power"),
    (lambda: asimov_loss_from_counts(torch.tensor(1.0), torch.tensor(1.0), sigma_b_rel=0.1, b_floor=0.0), "b_floor"),
    (lambda: s_over_sqrt_s_plus_b_loss_from_counts(torch.tensor(1.0), torch.tensor(1.0), s_floor=-1.0), "s_floor"),
    (lambda: s_over_sqrt_s_plus_b_loss_from_counts(torch.tensor(-1.0), torch.tensor(1.0)), "non-negative"),
    (lambda: make_asimov_loss(sigma_b_rel=0.1), "expected_signal"),
    (lambda: make_asimov_loss(sigma_b_rel=0.0, use_naive=True, **KW), "use_naive"),
    (lambda: make_s_over_sqrt_s_plus_b_loss(normalisation="batch"), "expected_signal"),
    (lambda: relaxed_counts(torch.ones(3), torch.ones(3), normalisation="mean"), "normalisation"),
    (lambda: relaxed_counts(torch.ones(3), torch.ones(4), normalisation="fraction"), "shape"),
    (lambda: relaxed_counts(torch.ones(3), torch.ones(3), normalisation="fraction", fraction=2.0), "fraction"),
    (lambda: relaxed_counts(torch.full((3,), 1.5), torch.ones(3), normalisation="fraction"), "pred"),
    (lambda: relaxed_counts(torch.ones(3), torch.full((3,), 2.0), normalisation="fraction"), "target"),
    (lambda: relaxed_counts(torch.ones(3), torch.ones(3), -torch.ones(3), normalisation="fraction"), "weight"),
    (lambda: asimov_loss(torch.ones(3), torch.ones(3), sigma_b_rel=0.1, **KW, fraction=0.0), "fraction"),
    (lambda: s_over_sqrt_s_plus_b_loss(torch.ones(3), torch.ones(3), torch.ones(2), **KW), "weight"),
])
def test_bad_input_raises_value_error(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# --------------------------------------------------------------------------------------------
# the closed-form gradient of Z_A used by asimov_loss
# --------------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(s=st.floats(1e-3, 1e4), b=st.floats(1e-1, 1e6), rel=st.floats(0.0, 1.0))
def test_closed_form_gradient_matches_autograd_of_the_series(s, b, rel):
    """∂Z/∂s and dZ/db (σ_b = rel·b follows b) of the loss agree with autograd through ht.stats in float64."""
    from hepsig_tutorial.losses.significance import _AsimovZ

    st_, bt = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (s, b))
    z = _AsimovZ.apply(st_, bt, rel)
    z.backward()
    s2, b2 = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (s, b))
    ref = asimov_significance(s2, b2, rel * b2)
    ref.backward()
    assert z.item() == pytest.approx(ref.item(), rel=1e-9)
    assert st_.grad.item() == pytest.approx(s2.grad.item(), rel=1e-5, abs=1e-12)
    assert bt.grad.item() == pytest.approx(b2.grad.item(), rel=1e-4, abs=1e-12)


def test_asimov_loss_keeps_dtype_device_and_shape():
    s = torch.tensor([1.0, 30.0, 500.0], requires_grad=True)
    b = torch.tensor(200.0, requires_grad=True)
    loss = asimov_loss_from_counts(s, b, sigma_b_rel=0.3)
    assert loss.dtype == torch.float32 and loss.shape == (3,)
    loss.sum().backward()
    assert s.grad.shape == (3,) and b.grad.shape == () and torch.isfinite(b.grad)
    assert (s.grad < 0).all() and b.grad > 0


@settings(max_examples=80, deadline=None)
@given(s=st.floats(1e-3, 1e5), b=st.floats(1e-2, 1e6),
       rel=st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 5e-155, 1e-9, 1.0])))
def test_both_backends_match_the_float64_formula(s, b, rel):
    """_AsimovZ gives ht.stats' NumPy float64 Z_A to 1e-12 on both of its backends (NumPy for CPU tensors,
    torch on the tensor's device, forced here on the CPU) -- also where σ_b/b is so small that 1/k would
    overflow (rel = 5e-155, commit 41321e2) and at σ_b = 0 -- and the two agree on the gradient to 1e-12."""
    from hepsig_tutorial.losses import significance

    ref = float(asimov_significance(np.float64(s), np.float64(b), rel * np.float64(b)))
    results = []
    real = significance._on_host
    try:
        for host in (True, False):
            significance._on_host = lambda device, host=host: host
            st_, bt = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (s, b))
            z = significance._AsimovZ.apply(st_, bt, rel)
            z.backward()
            results.append((z.item(), st_.grad.item(), bt.grad.item()))
    finally:
        significance._on_host = real
    for z, gs, gb in results:
        assert z == pytest.approx(ref, rel=1e-12) and np.isfinite(z) and z > 0
        assert np.isfinite(gs) and np.isfinite(gb)
    assert results[1][1:] == pytest.approx(results[0][1:], rel=1e-12, abs=1e-300)


def test_plain_functions_equal_their_factories():
    out, batch = make_batch(dtype=torch.float64, fraction=0.25)
    y, w = batch["y"], batch["w"]
    for norm, kw in (("batch", KW), ("fraction", {})):
        want = asimov_loss(out, y, w, sigma_b_rel=0.3, normalisation=norm, fraction=0.25, **kw)
        got = make_asimov_loss(sigma_b_rel=0.3, normalisation=norm, **kw)(out, batch)
        assert got.item() == pytest.approx(want.item(), rel=1e-14)
        want = s_over_sqrt_s_plus_b_loss(out, y, w, normalisation=norm, fraction=0.25, **kw)
        got = make_s_over_sqrt_s_plus_b_loss(normalisation=norm, **kw)(out, batch)
        assert got.item() == pytest.approx(want.item(), rel=1e-14)
    # weight_key: the weights under another key; absent weights are ones
    moved = {"y": y, "w_other": w, "fraction": 0.25}
    assert make_asimov_loss(sigma_b_rel=0.3, weight_key="w_other", **KW)(out, moved).item() == pytest.approx(
        asimov_loss(out, y, w, sigma_b_rel=0.3, **KW).item(), rel=1e-14)
    assert make_asimov_loss(sigma_b_rel=0.3, **KW)(out, {"y": y}).item() == pytest.approx(
        asimov_loss(out, y, sigma_b_rel=0.3, **KW).item(), rel=1e-14)


def test_factory_steps_make_no_host_round_trip(monkeypatch):
    """After its first (validating) call a factory's loss reads nothing back from the device (issue 17).

    Z_A runs on the device path that a GPU takes (on the CPU it uses zero-copy NumPy views instead)."""
    from hepsig_tutorial.losses import significance

    monkeypatch.setattr(significance, "_on_host", lambda device: False)
    out, batch = make_batch(dtype=torch.float32)
    for fn in (make_asimov_loss(sigma_b_rel=0.5, **KW), make_s_over_sqrt_s_plus_b_loss(**KW),
               make_asimov_loss(sigma_b_rel=0.0, power=2, normalisation="fraction")):
        fn(out, batch)                                   # the first call checks the values
        x = out.clone().requires_grad_(True)
        with no_host_sync():
            loss = fn(x, batch)
            loss.backward()
        assert torch.isfinite(loss.detach()) and torch.isfinite(x.grad).all()
    with no_host_sync(), pytest.raises(AssertionError, match="host"):
        asimov_loss(out, batch["y"], batch["w"], sigma_b_rel=0.5, **KW)    # validate=True checks values
