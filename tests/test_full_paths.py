"""FULL-only code paths of the chapters whose FULL run does not fit a CPU session (3, 7, 8), at tiny size.

FULL mode runs code that FAST never reaches: Chapter 3 trains on millions of events with the compact
Punzi loss, Chapter 7 trains the paper's recipe resumably (``ddp.run_training`` with a constant learning
rate and default initialisation), Chapter 8 adds the Belle II-like problems. These tests run exactly those
paths with tiny inputs (issue 17, item 3). Other tests cover the rest of these paths: checkpoint round trip
and resume with the FAST recipe (test_ddp.py), compact = dense loss values and training (test_punzi_loss.py),
``train.fit`` checkpoint/resume (test_train.py), the Belle window samples (test_compare.py).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import hepsig_tutorial as ht
import hepsig_tutorial.ddp as ddp
from hepsig_tutorial import compare, punzinet
from hepsig_tutorial.data import problems
from hepsig_tutorial.losses import make_punzi_loss, toy_cells
from tests._shared import killed_and_whole_ddp_runs


# ------------------------------------------------------------------------------------------------
# Chapter 3: the FULL training path is compact, and its memory does not grow with N × K
# ------------------------------------------------------------------------------------------------
def test_ch3_training_path_needs_no_membership_matrix():
    """Chapter 3's training cell on a tiny toy: cells only (no "membership" key anywhere), loss falls."""
    toy = ht.data.make_belle_toy(masses=[1.0, 2.0, 3.0, 4.0], n_signal_per_mass=200, n_background=3000, seed=1)
    trained = punzinet.every_second_mass(len(toy.masses))
    fit_toy, val_toy = toy.split((0.5, 0.5), seed=100)
    data, scaler = punzinet.training_arrays(fit_toy, trained)
    vdata, _ = punzinet.training_arrays(val_toy, trained, scaler)
    windows, cells = toy_cells(fit_toy, trained)
    data["cell"] = cells[data["index"]]
    vdata["cell"] = toy_cells(val_toy, trained)[1][vdata["index"]]
    # the compact cells say the same as the dense matrix the arrays were selected with
    np.testing.assert_array_equal(windows.membership(data["cell"]), data["membership"])
    keys = ("x", "y", "w", "cell")
    torch.manual_seed(0)
    model = torch.nn.Sequential(punzinet.logit_net(seed=0), torch.nn.Sigmoid())
    hist = ht.train.fit(model, make_punzi_loss(luminosity=toy.luminosity, windows=windows),
                        {k: data[k] for k in keys}, val_data={k: vdata[k] for k in keys}, epochs=6,
                        batch_size=len(data["y"]) // 3, lr=1e-2, seed=0, device="cpu")
    assert np.all(np.isfinite(hist["loss"])) and hist["loss"][-1] < hist["loss"][0]


_MEMORY_PROBE = textwrap.dedent("""
    import resource, sys
    import numpy as np, torch
    from hepsig_tutorial.losses import punzi_loss
    from hepsig_tutorial.losses.punzi import MassWindows
    n, k = int(sys.argv[1]), int(sys.argv[2])
    rng = np.random.default_rng(0)
    centres = np.linspace(0.0, 80.0, k)
    y = (rng.random(n) < 0.03).astype(np.float64)
    mass = rng.integers(0, k, n)
    m2 = np.where(y > 0, centres[mass] + rng.normal(size=n) * 0.3, rng.random(n) * 80.0)
    mw = MassWindows(np.stack([centres - 1.2, centres + 1.2], axis=1))
    cells = torch.as_tensor(mw.cells(m2, y, np.where(y > 0, mass, -1)))
    y_t, w_t = torch.as_tensor(y), torch.as_tensor(np.where(y > 0, 1e-4, 0.5))
    pred = torch.full((n,), 0.5, dtype=torch.float64, requires_grad=True)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    loss = punzi_loss(pred, y_t, w_t, windows=mw, cells=cells, luminosity=50.0, validate=False)
    loss.backward()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert torch.isfinite(pred.grad).all()
    print((after - before) * 1024)   # ru_maxrss is in kB on Linux
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in kB is Linux's convention")
def test_ch3_compact_loss_memory_does_not_grow_with_n_times_k():
    """Forward + backward at 10⁶ events × 89 windows (Chapter 3 FULL's windows) in a fresh process.

    A dense float32 membership matrix alone would take 356 MB (float64: 712 MB; measured with the dense loss
    at 2·10⁶ events: 1.66 GB more); the compact loss needs a few per-event vectors (8 MB each in float64;
    measured: 9 MB more at 2·10⁶ events). The limit, 200 MB, fails for any N × K float matrix.
    """
    n, k = 1_000_000, 89
    out = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(n), str(k)], capture_output=True, text=True,
                         timeout=300, check=True)
    extra = int(out.stdout.split()[-1])
    assert extra < 200e6, f"the compact loss raised the peak memory by {extra / 1e6:.0f} MB"


# ------------------------------------------------------------------------------------------------
# Chapter 7: the FULL recipe (constant learning rate, default initialisation) resumes exactly
# ------------------------------------------------------------------------------------------------
_FULL_RECIPE = dict(n_train=300, n_val=50, epochs=2, batch_size=50, eval_every=4, n_eval=30,
                    lr=3e-4, schedule="constant", init="default", checkpoint_minutes=0.0, verbose=False)


def test_ch7_full_recipe_killed_halfway_resumes_to_the_same_state(tmp_path):
    sa, _ = killed_and_whole_ddp_runs(tmp_path, 7, **_FULL_RECIPE)
    assert sa["step"] == 12
    # the loader the chapter uses after training (ddp-full-run/latest.pt)
    model, x_scaler, z_scaler, info = ddp.load_ddp(tmp_path / "b" / "latest.pt")
    assert info["meta"]["step"] == 12 and x_scaler is not None and z_scaler is not None
    with pytest.raises(ValueError):   # the same run directory with another recipe is refused
        ddp.run_training(tmp_path / "b", **{**_FULL_RECIPE, "schedule": "cosine"})


# ------------------------------------------------------------------------------------------------
# Chapter 8: the Belle II-like problems exist only in FULL
# ------------------------------------------------------------------------------------------------
def test_ch8_full_belle_problems_run_through_the_comparison():
    probs = problems.standard_problems(include=("belle",), belle_masses=(2.0, 6.0), belle_signal=300,
                                       belle_background=(2000, 4000, 4000), seed=0)
    assert set(probs) == {"belle_m2", "belle_m6"}
    prob = probs["belle_m2"]
    assert (prob.w > 0).all() and set(np.unique(prob.process[prob.y == 0])) <= {1, 2, 3}
    res = compare.compare_losses(prob, problem="belle_m2", methods=("bce", "punzi"), seeds=(0, 1), epochs=3,
                                 patience=2, eval_every=1, lrs=(1e-2,), max_fit_events=150, n_bootstrap=10,
                                 device="cpu")
    assert {r.method for r in res.runs} == {"bce", "punzi"} and len(res.runs) == 4
    for method in ("bce", "punzi"):
        row = res.row(method)
        assert row.n_seeds == 2 and np.isfinite(row.mean["z_a_0"]) and row.mean["z_a_0"] > 0
