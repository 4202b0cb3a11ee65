"""Tests of the Punzi loss (hepsig_tutorial/losses/punzi.py), Chapter 3."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import hepsig_tutorial as ht
from hepsig_tutorial import stats
from hepsig_tutorial.losses import make_punzi_loss, punzi_loss, sigma_min_from_yields


def _toy(n=400, k=6, seed=0, dtype=torch.float64):
    """Random weighted events with a random window-membership matrix (both classes in most windows)."""
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, generator=g) < 0.3).to(dtype)
    w_sig = torch.full((n,), 1.0 / 200.0, dtype=dtype)
    w_bkg = 0.05 + torch.rand(n, generator=g, dtype=dtype)
    w = torch.where(y > 0, w_sig, w_bkg)
    M = torch.rand(n, k, generator=g) < 0.35
    p = torch.rand(n, generator=g, dtype=dtype).clamp(0.01, 0.99)
    return p, y, w, M


def _counted(sel, y, w, M, **kw):
    """σ_min per window by explicit counting with stats.punzi_sensitivity (a loop over windows)."""
    out = []
    for k in range(M.shape[1]):
        m = M[:, k].astype(bool) & sel.astype(bool)
        eff = float(np.sum(w[m] * y[m]))
        B = float(np.sum(w[m] * (1 - y[m])))
        out.append(stats.punzi_sensitivity(eff, B, **kw))
    return np.array(out)


# ---------------------------------------------------------------------------------------------
# agreement with counting
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("refined", [False, True])
@pytest.mark.parametrize("a,b", [(3.0, 1.28), (5.0, 1.64)])
def test_hard_outputs_equal_counting(refined, a, b):
    p, y, w, M = _toy()
    hard = (p > 0.4).to(p.dtype)
    got = punzi_loss(hard, y, w, membership=M, a=a, b=b, luminosity=50.0, refined=refined, reduction="none")
    want = _counted(hard.numpy(), y.numpy(), w.numpy(), M.numpy(), a=a, b=b, luminosity=50.0, refined=refined)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    mean = punzi_loss(hard, y, w, membership=M, a=a, b=b, luminosity=50.0, refined=refined)
    assert float(mean) == pytest.approx(want.mean(), rel=1e-12)
    assert float(punzi_loss(hard, y, w, membership=M, a=a, b=b, luminosity=50.0, refined=refined,
                            reduction="sum")) == pytest.approx(want.sum(), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(20, 300), k=st.integers(1, 8),
       cut=st.floats(0.05, 0.95), lumi=st.floats(0.5, 500.0))
def test_hard_outputs_equal_counting_property(seed, n, k, cut, lumi):
    p, y, w, M = _toy(n=n, k=k, seed=seed)
    y[0], w[0] = 1.0, 1.0 / 200.0                # at least one signal event ...
    M[0, :] = True                               # ... in every window, so none is left out
    p[0] = 0.999                                 # and it passes the cut (ε > 0 everywhere)
    hard = (p > cut).to(p.dtype)
    got = punzi_loss(hard, y, w, membership=M, luminosity=lumi, reduction="none").numpy()
    want = _counted(hard.numpy(), y.numpy(), w.numpy(), M.numpy(), luminosity=lumi)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_relaxed_value_is_eq9_of_weighted_sums():
    p, y, w, M = _toy(seed=3)
    got = punzi_loss(p, y, w, membership=M, luminosity=10.0, reduction="none")
    Mf = M.to(p.dtype)
    eff = (y * p * w) @ Mf
    B = ((1 - y) * p * w) @ Mf
    want = stats.punzi_sensitivity(eff, B, luminosity=10.0)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=0)


def test_fraction_scales_sums_up():
    """A batch holding a share f of the data with weights w equals the full sample with weights w/f."""
    p, y, w, M = _toy(seed=4)
    a = punzi_loss(p, y, w, membership=M, fraction=0.25, luminosity=50.0)
    b = punzi_loss(p, y, w / 0.25, membership=M, fraction=1.0, luminosity=50.0)
    assert float(a) == pytest.approx(float(b), rel=1e-12)
    # and the n_batches scaling matters: without it σ_min is larger (ε smaller)
    assert float(punzi_loss(p, y, w, membership=M, luminosity=50.0)) > float(a)


def test_closure_matches_function():
    p, y, w, M = _toy(seed=5)
    ref = punzi_loss(p, y, w, membership=M, a=3.0, b=1.28, luminosity=50.0, fraction=0.5, refined=True)
    fn = make_punzi_loss(a=3.0, b=1.28, luminosity=50.0, refined=True)
    assert float(fn(p, {"y": y, "w": w, "membership": M, "fraction": 0.5})) == pytest.approx(float(ref), rel=1e-12)
    other = make_punzi_loss(a=3.0, b=1.28, luminosity=50.0, refined=True, weight_key="w_eff")   # weights elsewhere
    batch = {"y": y, "w": torch.ones_like(w), "w_eff": w, "membership": M, "fraction": 0.5}
    assert float(other(p, batch)) == pytest.approx(float(ref), rel=1e-12)


# ---------------------------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------------------------
def test_gradcheck_float64():
    p, y, w, M = _toy(n=30, k=3, seed=6)
    p = p.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda q: punzi_loss(q, y, w, membership=M, luminosity=50.0, fraction=0.5), (p,))
    assert torch.autograd.gradcheck(lambda q: punzi_loss(q, y, w, membership=M, refined=True, reduction="none"), (p,))


def test_gradient_signs():
    """More output on signal lowers σ_min, more output on background raises it."""
    p, y, w, M = _toy(seed=7)
    p = p.clone().requires_grad_(True)
    punzi_loss(p, y, w, membership=M, luminosity=50.0).backward()
    in_some = M.any(dim=1)
    g = p.grad
    assert (g[(y == 1) & in_some] < 0).all()
    assert (g[(y == 0) & in_some] > 0).all()
    assert (g[~in_some] == 0).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_no_background_is_finite(dtype):
    p, y, w, M = _toy(seed=8, dtype=dtype)
    bkg_in_window = (y == 0)[:, None] & M
    M = M & ~bkg_in_window                       # windows hold signal only: B = 0
    p = p.clone().requires_grad_(True)
    loss = punzi_loss(p, y, w, membership=M, luminosity=50.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(p.grad).all()
    # at B = 0, σ_min = (b²/2 + b²/2)/(εL) = b²/(εL)
    eff = (y * p.detach() * w) @ M.to(dtype)
    torch.testing.assert_close(punzi_loss(p.detach(), y, w, membership=M, luminosity=50.0, reduction="none"),
                               1.28 ** 2 / (eff * 50.0), rtol=1e-5, atol=0)


def test_background_only_selected_near_zero_float32():
    """Outputs ~1e-30 on every event (ε → 0, B → 0) in float32: finite value and gradient."""
    p, y, w, M = _toy(seed=9, dtype=torch.float32)
    tiny = torch.full_like(p, 1e-30).requires_grad_(True)
    loss = punzi_loss(tiny, y, w, membership=M, luminosity=50.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(tiny.grad).all()
    # ε is floored at 1e-6: σ_min = (b²/2 + b²/2)/(1e-6 L) at B ≈ 0
    assert float(loss.detach()) == pytest.approx(1.28 ** 2 / (1e-6 * 50.0), rel=1e-3)


def test_empty_window_is_left_out_of_the_mean():
    p, y, w, M = _toy(seed=10)
    M[:, 2] = M[:, 2] & (y == 0)                 # window 2: background only, no signal at all
    per = punzi_loss(p, y, w, membership=M, luminosity=50.0, reduction="none")
    assert torch.isfinite(per).all()
    assert float(per[2]) > 1e4 * float(per[[0, 1, 3, 4, 5]].max())   # the floored value is huge ...
    keep = [0, 1, 3, 4, 5]
    assert float(punzi_loss(p, y, w, membership=M, luminosity=50.0)) == pytest.approx(float(per[keep].mean()),
                                                                                      rel=1e-12)
    pg = p.clone().requires_grad_(True)
    punzi_loss(pg, y, w, membership=M, luminosity=50.0).backward()
    assert torch.isfinite(pg.grad).all()
    # ... and contributes no gradient: events only in window 2 get zero gradient
    only2 = M[:, 2] & ~M[:, keep].any(dim=1)
    assert only2.any() and (pg.grad[only2] == 0).all()


def test_all_windows_empty_gives_zero_with_graph():
    p, y, w, M = _toy(seed=11)
    y = torch.zeros_like(y)                       # no signal at all
    pg = p.clone().requires_grad_(True)
    loss = punzi_loss(pg, y, w, membership=M)
    loss.backward()
    assert float(loss.detach()) == 0.0 and (pg.grad == 0).all()


def test_sigma_min_from_yields_allows_eff_above_one_and_zero():
    v = sigma_min_from_yields(np.array([0.0, 0.5, 1.5]), np.array([4.0, 4.0, 4.0]), luminosity=2.0)
    num = stats.punzi_sensitivity(1.0, 4.0, luminosity=2.0)
    np.testing.assert_allclose(v, [num / 1e-6, num / 0.5, num / 1.5])
    with pytest.raises(ValueError, match="efficiency"):
        sigma_min_from_yields(np.array([-0.1]), np.array([1.0]))
    with pytest.raises(ValueError, match="eff_floor"):
        sigma_min_from_yields(0.5, 1.0, eff_floor=0.0)


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("change,match", [
    (lambda p, y, w, M: (p[:-1], y, w, M), "target"),
    (lambda p, y, w, M: (p, y[:-1], w, M), "target"),
    (lambda p, y, w, M: (p, y, w[:-1], M), "weight"),
    (lambda p, y, w, M: (p, y, w, M[:-1]), "membership"),
    (lambda p, y, w, M: (p, y, w, M[:, 0]), "membership"),
    (lambda p, y, w, M: (p, y, -w, M), "weight"),
    (lambda p, y, w, M: (p, y, w * float("nan"), M), "weight"),
    (lambda p, y, w, M: (p * 2.0, y, w, M), "pred"),
    (lambda p, y, w, M: (p[:, None], y, w, M), "pred"),
    (lambda p, y, w, M: (p.numpy(), y, w, M), "pred"),
    (lambda p, y, w, M: (p, y * 2.0, w, M), "target"),
])
def test_bad_arrays_raise(change, match):
    p, y, w, M = change(*_toy(n=50, k=3))
    with pytest.raises(ValueError, match=match):
        punzi_loss(p, y, w, membership=M)


@pytest.mark.parametrize("kwargs,match", [
    ({"fraction": 0.0}, "fraction"), ({"fraction": 1.5}, "fraction"), ({"fraction": -0.2}, "fraction"),
    ({"fraction": True}, "fraction"), ({"a": 0.0}, "a"), ({"b": -1.0}, "b"), ({"luminosity": 0}, "luminosity"),
    ({"eff_floor": 0.0}, "eff_floor"), ({"reduction": "max"}, "reduction"),
])
def test_bad_options_raise(kwargs, match):
    p, y, w, M = _toy(n=50, k=3)
    with pytest.raises(ValueError, match=match):
        punzi_loss(p, y, w, membership=M, **kwargs)


def test_factory_rejects_bad_constants():
    with pytest.raises(ValueError, match="luminosity"):
        make_punzi_loss(luminosity=-1.0)
    with pytest.raises(ValueError, match="eff_floor"):
        make_punzi_loss(eff_floor=1.0)
    with pytest.raises(TypeError):
        make_punzi_loss(3.0)        # everything is keyword-only


# ---------------------------------------------------------------------------------------------
# hard-cut scans
# ---------------------------------------------------------------------------------------------
def test_the_evaluation_scan_equals_the_loss_on_hard_outputs():
    """metrics.cut_scan (the book's evaluation) and punzi_loss on 0/1 outputs count the same ε_k and B_k."""
    from hepsig_tutorial import metrics

    p, y, w, M = _toy(n=500, k=5, seed=13)
    cuts = np.array([0.2, 0.5, 0.8])
    scan = metrics.cut_scan(p.numpy(), y.numpy(), w.numpy(), cuts=cuts, groups=M.numpy().astype(bool))
    S = sigma_min_from_yields(scan.s, scan.b_raw, luminosity=50.0, refined=True)
    for c, t in enumerate(cuts):
        hard = (p >= t).to(p.dtype)
        np.testing.assert_allclose(S[:, c], punzi_loss(hard, y, w, membership=M, luminosity=50.0, refined=True,
                                                       reduction="none").numpy(), rtol=1e-10)


# ---------------------------------------------------------------------------------------------
# training with ht.train.fit
# ---------------------------------------------------------------------------------------------
def test_training_with_fit_lowers_the_loss():
    """A small net trained on the Punzi loss through ht.train.fit (mini-batches) lowers full-sample σ_min."""
    rng = np.random.default_rng(0)
    n = 3000
    y = (rng.random(n) < 0.3).astype(np.float32)
    x = rng.normal(size=(n, 2)).astype(np.float32) + y[:, None] * 1.5
    mass = rng.random(n)
    M = np.stack([(mass < 0.6), (mass > 0.4)], axis=1)
    w = np.where(y > 0, 1.0 / (0.3 * n * 0.6), 0.02).astype(np.float32)
    torch.manual_seed(0)
    model = ht.models.mlp(2, (4,), "tanh")
    loss_fn = make_punzi_loss(luminosity=50.0)
    data = {"x": x, "y": y, "w": w, "membership": M}
    full = dict(ht.train.as_tensors(data, "cpu"), fraction=1.0)
    with torch.no_grad():
        before = float(loss_fn(model(full["x"]), full))
    hist = ht.train.fit(model, loss_fn, data, epochs=15, batch_size=1000, lr=1e-2, device="cpu")
    with torch.no_grad():
        after = float(loss_fn(model(full["x"]), full))
    assert np.isfinite(hist["loss"]).all()
    assert after < 0.8 * before


# ---------------------------------------------------------------------------------------------
# the Punzi-net recipe (hepsig_tutorial/punzinet.py) on a small Belle II-like toy
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_toy():
    toy = ht.data.make_belle_toy(masses=[1.0, 2.0, 3.0, 4.0, 5.0], n_signal_per_mass=400, n_background=6000, seed=1)
    return toy.split((0.5, 0.5), seed=0)


def test_every_second_mass():
    from hepsig_tutorial import punzinet

    np.testing.assert_array_equal(punzinet.every_second_mass(5), [True, False, True, False, True])
    np.testing.assert_array_equal(punzinet.every_second_mass(4, first=1), [False, True, False, True])
    with pytest.raises(ValueError, match="n_masses"):
        punzinet.every_second_mass(0)


def test_bce_weights_balance_classes():
    from hepsig_tutorial import punzinet

    y = np.array([1, 1, 0, 0, 0])
    w = np.array([0.01, 0.03, 5.0, 10.0, 1.0])
    out = punzinet.bce_weights(y, w)
    assert out[y == 1].sum() == pytest.approx(out[y == 0].sum(), rel=1e-6)
    assert out[1] / out[0] == pytest.approx(3.0, rel=1e-6)          # relative weights kept
    assert out.mean() == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(ValueError, match="w"):
        punzinet.bce_weights(np.zeros(3), np.ones(3))


def test_training_arrays_keep_only_trained_windows(small_toy):
    from hepsig_tutorial import punzinet

    train, _ = small_toy
    mask = punzinet.every_second_mass(len(train.masses))
    data, scaler = punzinet.training_arrays(train, mask)
    wm = train.window_matrix()
    idx = data["index"]
    assert wm[idx][:, mask].any(axis=1).all()                        # every kept event counts somewhere
    assert not wm[np.setdiff1d(np.arange(len(train)), idx)][:, mask].any()   # and no event was lost
    assert data["membership"].shape == (len(idx), mask.sum())
    assert data["x"].min() >= 0 and data["x"].max() <= 1 + 1e-6
    assert not np.isin(train.mass_index[idx][train.y[idx] == 1], np.flatnonzero(~mask)).any()
    with pytest.raises(ValueError, match="train_masses"):
        punzinet.training_arrays(train, np.zeros(len(train.masses), bool))
    with pytest.raises(ValueError, match="toy"):
        punzinet.training_arrays(object())


# ---------------------------------------------------------------------------------------------
# figures of Chapter 3 (smoke tests with the Agg backend)
# ---------------------------------------------------------------------------------------------
def test_chapter3_figures_draw():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.4).astype(int)
    z = rng.normal(size=300) + 2 * y
    w = np.where(y == 1, 1 / 150, 0.5)
    fig = ht.plots.plot_relaxation(z, y, w, temperature=0.5, cut=0.2)
    assert len(fig.axes) == 3
    with pytest.raises(ValueError, match="temperature"):
        ht.plots.plot_relaxation(z, y, w, temperature=0.0)
    hist = {"bce": {"loss": [0.7, 0.6]}, "punzi": {"loss": [10.0, 5.0, 2.0]}}
    assert ht.plots.plot_punzi_history([hist, hist]) is not None
    masses = np.array([1.0, 2.0, 3.0])
    res = {"A": np.array([[1.0, 2.0, 3.0], [1.2, 2.2, 2.8]]), "B": np.array([0.5, 1.0, 1.5])}
    fig = ht.plots.plot_sigma_per_mass(masses, res, np.array([True, False, True]), reference="A")
    assert len(fig.axes) == 2
    fig = ht.plots.plot_output_vs_mass(rng.normal(size=300), rng.random(300) * 90, y, masses,
                                       per_mass_cut=np.array([0.3, 0.5, 0.7]), global_cut=0.5)
    assert len(fig.axes) >= 2
    plt.close("all")


# ---------------------------------------------------------------------------------------------
# the compact form: interval windows in M², one cell per event, no N x K matrix (issue 17)
# ---------------------------------------------------------------------------------------------
from hepsig_tutorial.losses import MassWindows, toy_cells  # noqa: E402
from tests._shared import no_host_sync  # noqa: E402


def _window_toy(n=3000, k=7, seed=0, dtype=torch.float64, grid=None):
    """Events with M² (on a coarse grid when ``grid``, so that many sit exactly on window edges),
    overlapping, nested and identical windows, signal of each mass and background."""
    rng = np.random.default_rng(seed)
    lo = np.sort(rng.uniform(0.0, 8.0, k))
    windows = np.stack([lo, lo + rng.uniform(0.5, 3.0, k)], 1)
    if k >= 3:
        windows[1] = windows[0]                                     # identical
        windows[2] = [windows[0, 0] + 0.1, windows[0, 0] + 0.2]     # nested
    if grid is not None:
        windows = np.round(windows / grid) * grid
    y = (rng.random(n) < 0.3).astype(np.float64)
    mass_index = np.where(y > 0, rng.integers(-1, k + 1, n), -1)     # -1 and k: "no window"
    m2 = rng.uniform(-1.0, 12.0, n)
    if grid is not None:
        m2 = np.round(m2 / grid) * grid
    w = np.where(y > 0, 1.0 / 200.0, 0.05 + rng.random(n))
    dense = np.zeros((n, k), dtype=bool)
    for j in range(k):
        inside = (m2 >= windows[j, 0]) & (m2 <= windows[j, 1])
        dense[:, j] = inside & ((y == 0) | (mass_index == j))
    p = torch.as_tensor(rng.uniform(0.01, 0.99, n), dtype=dtype)
    return p, torch.as_tensor(y, dtype=dtype), torch.as_tensor(w, dtype=dtype), m2, mass_index, windows, dense


@pytest.mark.parametrize("grid", [None, 0.25])
def test_cells_reproduce_the_dense_membership(grid):
    _, y, _, m2, mass_index, windows, dense = _window_toy(grid=grid)
    mw = MassWindows(windows)
    cells = mw.cells(m2, y.numpy(), mass_index)
    assert cells.dtype == np.int64 and cells.min() >= 0 and cells.max() < mw.n_cells
    np.testing.assert_array_equal(mw.membership(cells), dense)
    np.testing.assert_array_equal(mw.counts(cells), dense.any(axis=1))
    if grid is not None:                                             # the closed edges were exercised
        assert np.isin(m2, windows.ravel()).sum() > 20
    tc = mw.cells(torch.as_tensor(m2), y, torch.as_tensor(mass_index))   # tensors in (any device)
    np.testing.assert_array_equal(tc, cells)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 9), grid=st.sampled_from([None, 0.5, 1.0]))
def test_compact_equals_dense_property(seed, k, grid):
    p, y, w, m2, mass_index, windows, dense = _window_toy(n=400, k=k, seed=seed, grid=grid)
    mw = MassWindows(windows)
    cells = torch.as_tensor(mw.cells(m2, y.numpy(), mass_index))
    np.testing.assert_array_equal(mw.membership(cells), dense)
    for reduction in ("none", "mean", "sum"):
        want = punzi_loss(p, y, w, membership=dense, luminosity=20.0, fraction=0.5, reduction=reduction)
        got = punzi_loss(p, y, w, windows=mw, cells=cells, luminosity=20.0, fraction=0.5, reduction=reduction)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("refined", [False, True])
def test_compact_equals_dense_on_the_belle_toy_float32(refined):
    """The Chapter 3 set-up: every second mass trained, float32 network outputs; values to 1e-6
    relative and gradients as the dense form (both against a float64 reference)."""
    toy = ht.data.make_belle_toy(masses=np.linspace(1.0, 8.0, 12), n_signal_per_mass=200, n_background=8000,
                                 seed=2)
    mask = np.arange(12) % 2 == 0
    mw, cells = toy_cells(toy, mask)
    M = toy.window_matrix()[:, mask]
    np.testing.assert_array_equal(mw.membership(cells), M)
    rng = np.random.default_rng(0)
    p64 = torch.as_tensor(rng.uniform(0.01, 0.99, len(toy)))
    y, w = toy.y.astype(np.float32), toy.w.astype(np.float32)
    kw = dict(luminosity=toy.luminosity, fraction=0.3, refined=refined)
    ref = punzi_loss(p64, y.astype(np.float64), w.astype(np.float64), membership=M, **kw, reduction="none")
    p32 = p64.to(torch.float32).requires_grad_(True)
    dense = punzi_loss(p32, y, w, membership=M, **kw, reduction="none")
    compact = punzi_loss(p32, y, w, windows=mw, cells=cells, **kw, reduction="none")
    assert compact.dtype == torch.float32
    torch.testing.assert_close(compact.double(), ref, rtol=1e-6, atol=0)
    torch.testing.assert_close(compact, dense, rtol=1e-6, atol=0)
    (g_dense,) = torch.autograd.grad(punzi_loss(p32, y, w, membership=M, **kw), p32)
    (g_comp,) = torch.autograd.grad(punzi_loss(p32, y, w, windows=mw, cells=cells, **kw), p32)
    torch.testing.assert_close(g_comp, g_dense, rtol=1e-5, atol=1e-6 * float(g_dense.abs().max()))
    # toy_cells renumbers the trained masses: the cells of the selected windows with local mass indices
    local = np.where(np.isin(toy.mass_index, np.flatnonzero(mask)),
                     np.searchsorted(np.flatnonzero(mask), toy.mass_index), -1)
    np.testing.assert_array_equal(MassWindows(toy.windows[mask]).cells(toy.m2_rec, toy.y, local), cells)


def test_compact_gradcheck_and_finite_differences():
    p, y, w, m2, mass_index, windows, _ = _window_toy(n=60, k=4, seed=3)
    mw = MassWindows(windows)
    cells = torch.as_tensor(mw.cells(m2, y.numpy(), mass_index))
    q = p.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: punzi_loss(t, y, w, windows=mw, cells=cells, luminosity=50.0,
                                                         fraction=0.5), (q,))
    assert torch.autograd.gradcheck(lambda t: punzi_loss(t, y, w, windows=mw, cells=cells, refined=True,
                                                         reduction="none"), (q,))


def test_compact_edge_cases_match_dense():
    p, y, w, m2, mass_index, windows, dense = _window_toy(n=500, k=5, seed=4)
    mw = MassWindows(windows)
    cells = torch.as_tensor(mw.cells(m2, y.numpy(), mass_index))
    # a window without signal is left out of the mean, as in the dense form
    no_sig = cells.clone()
    no_sig[(cells == 3)] = mw.n_windows                              # signal of mass 3 counts nowhere
    d = torch.as_tensor(mw.membership(no_sig))
    assert float(punzi_loss(p, y, w, windows=mw, cells=no_sig)) == pytest.approx(
        float(punzi_loss(p, y, w, membership=d)),
                                                                                rel=1e-12)
    # no signal anywhere: 0 with a zero gradient
    nothing = torch.where(y > 0, torch.full_like(cells, mw.n_windows), cells)
    q = p.clone().requires_grad_(True)
    loss = punzi_loss(q, y, w, windows=mw, cells=nothing)
    loss.backward()
    assert float(loss.detach()) == 0.0 and (q.grad == 0).all()
    # float32 outputs ~1e-30 (ε → 0, B → 0): finite value and gradient
    tiny = torch.full((len(p),), 1e-30, dtype=torch.float32, requires_grad=True)
    loss = punzi_loss(tiny, y.float(), w.float(), windows=mw, cells=cells, luminosity=50.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(tiny.grad).all()


def test_no_host_sync_in_a_training_step():
    """With validate=False neither form reads a device value back to Python (issue 17: no per-step syncs)."""
    p, y, w, m2, mass_index, windows, dense = _window_toy(n=300, k=4, seed=5)
    mw = MassWindows(windows)
    cells = torch.as_tensor(mw.cells(m2, y.numpy(), mass_index))
    M = torch.as_tensor(dense, dtype=p.dtype)
    q = p.clone().requires_grad_(True)
    with no_host_sync():
        loss = punzi_loss(q, y, w, windows=mw, cells=cells, luminosity=50.0, fraction=0.5, validate=False)
        loss.backward()
        loss2 = punzi_loss(q, y, w, membership=M, luminosity=50.0, fraction=0.5, validate=False)
        loss2.backward()
    # the guard works: the validating call synchronises
    with no_host_sync(), pytest.raises(AssertionError, match="host"):
        punzi_loss(q, y, w, windows=mw, cells=cells, validate=True)
    assert float(loss.detach()) == pytest.approx(float(loss2.detach()), rel=1e-12)


def test_loss_fn_validates_once(monkeypatch):
    """make_punzi_loss checks the data at construction (data=) or on its first call, then never again."""
    from hepsig_tutorial.losses import punzi as punzi_module

    p, y, w, m2, mass_index, windows, _ = _window_toy(n=300, k=4, seed=6)
    mw = MassWindows(windows)
    cells = mw.cells(m2, y.numpy(), mass_index)
    data = {"y": y.numpy(), "w": w.numpy(), "cell": cells}
    want = float(punzi_loss(p, y, w, windows=mw, cells=cells, luminosity=50.0))
    calls = []
    real = punzi_module.check_values
    monkeypatch.setattr(punzi_module, "check_values", lambda *a, **kw: (calls.append(1), real(*a, **kw)))
    fn = make_punzi_loss(luminosity=50.0, windows=mw, data=data)
    assert len(calls) == 1
    batch = dict(ht.train.as_tensors(dict(data, x=np.zeros((300, 1))), "cpu"), fraction=1.0)   # float32 cells
    for _ in range(3):
        v = fn(p.float(), batch)
    assert len(calls) == 1
    assert float(v) == pytest.approx(want, rel=1e-6)
    fn2 = make_punzi_loss(luminosity=50.0, windows=mw)          # no data: the first call checks
    for _ in range(3):
        fn2(p.float(), batch)
    assert len(calls) == 2
    bad = dict(data, w=-data["w"])
    with pytest.raises(ValueError, match="weight"):
        make_punzi_loss(luminosity=50.0, windows=mw, data=bad)
    with pytest.raises(ValueError, match="data"):
        make_punzi_loss(luminosity=50.0, windows=mw, data={"y": data["y"]})


def test_training_with_fit_compact_matches_dense():
    """The same seeded training through ht.train.fit with cells and with the dense matrix."""
    toy = ht.data.make_belle_toy(masses=[1.0, 2.0, 3.0, 4.0, 5.0], n_signal_per_mass=300, n_background=4000, seed=3)
    mw, cells = toy_cells(toy)
    keep = mw.counts(cells)
    x = toy.x[keep].astype(np.float32)
    x = (x - x.mean(0)) / x.std(0)
    base = {"x": x, "y": toy.y[keep].astype(np.float32), "w": toy.w[keep].astype(np.float32)}
    hists = []
    for form in ("dense", "compact"):
        torch.manual_seed(0)
        model = ht.models.mlp(x.shape[1], (4,), "tanh")
        if form == "dense":
            data, fn = dict(base, membership=toy.window_matrix()[keep]), make_punzi_loss(luminosity=50.0)
        else:
            data = dict(base, cell=cells[keep])
            fn = make_punzi_loss(luminosity=50.0, windows=mw, data=data)
        hists.append(ht.train.fit(model, fn, data, epochs=4, batch_size=1000, lr=1e-2, device="cpu")["loss"])
    np.testing.assert_allclose(hists[1], hists[0], rtol=1e-4)
    assert hists[1][-1] < hists[1][0]


@pytest.mark.parametrize("kwargs,match", [
    ({"windows": np.zeros((3,))}, "windows"),
    ({"windows": np.array([[1.0, 0.5]])}, "windows"),
    ({"windows": np.array([[0.0, np.nan]])}, "windows"),
    ({"windows": np.zeros((0, 2))}, "windows"),
])
def test_bad_windows_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MassWindows(kwargs["windows"])


def test_bad_compact_arguments_raise():
    p, y, w, m2, mass_index, windows, dense = _window_toy(n=50, k=3, seed=7)
    mw = MassWindows(windows)
    cells = torch.as_tensor(mw.cells(m2, y.numpy(), mass_index))
    with pytest.raises(ValueError, match="membership"):
        punzi_loss(p, y, w, membership=dense, windows=mw, cells=cells)
    with pytest.raises(ValueError, match="membership"):
        punzi_loss(p, y, w)
    with pytest.raises(ValueError, match="windows"):
        punzi_loss(p, y, w, cells=cells)
    with pytest.raises(ValueError, match="cells"):
        punzi_loss(p, y, w, windows=mw)
    with pytest.raises(ValueError, match="cells"):
        punzi_loss(p, y, w, windows=mw, cells=cells[:-1])
    with pytest.raises(ValueError, match="cells"):
        punzi_loss(p, y, w, windows=mw, cells=cells + mw.n_cells)
    with pytest.raises(ValueError, match="cells"):
        punzi_loss(p, 1 - y, w, windows=mw, cells=cells)             # labels do not match the cells
    with pytest.raises(ValueError, match="cells"):
        punzi_loss(p, y, w, windows=mw, cells=cells.double() + 0.5)
    with pytest.raises(ValueError, match="m2"):
        mw.cells(np.full(len(y), np.nan), y.numpy(), mass_index)
    with pytest.raises(ValueError, match="mass_index"):
        mw.cells(m2, y.numpy(), mass_index + 0.5)
    with pytest.raises(ValueError, match="target"):
        mw.cells(m2, 2 * y.numpy(), mass_index)
    with pytest.raises(ValueError, match="columns"):
        toy_cells(ht.data.make_belle_toy(masses=[1.0, 2.0], n_signal_per_mass=20, n_background=100, seed=0),
                  np.zeros(2, bool))
    with pytest.raises(KeyError, match="cell"):
        make_punzi_loss(windows=mw)(p, {"y": y, "w": w, "membership": dense})   # the compact form reads "cell"
