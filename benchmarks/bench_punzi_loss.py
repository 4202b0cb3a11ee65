"""Time the Punzi loss (forward + backward over all mass windows): compact cells vs dense vs torch.sparse.

Not a timed test: run it by hand, e.g.

    .venv/bin/python benchmarks/bench_punzi_loss.py                         # 2e5 and 1e6 events, 45 windows
    .venv/bin/python benchmarks/bench_punzi_loss.py --events 1000000 --threads 2 --trials 3
    .venv/bin/python benchmarks/bench_punzi_loss.py --memory                # peak RSS at 2.4 M x 89
    .venv/bin/python benchmarks/bench_punzi_loss.py --device cuda

Four implementations of the same loss (values and gradients are checked against each other first):

* ``compact``  -- ``punzi_loss(..., windows=mw, cells=cells, validate=False)``: one ``index_add`` of ŷ·w
  into each event's cell and a (K × atoms) product (hepsig_tutorial/losses/punzi.py, MassWindows);
  memory O(N + K). What :func:`make_punzi_loss` runs after its first step.
* ``dense``    -- ``punzi_loss(..., membership=M, validate=False)``: one (3, N) @ (N, K) product.
* ``dense-before`` -- the dense loss as it was before issue 17 (written out below): the same product plus
  the per-step value checks and host synchronisations (about seven per step).
* ``sparse``   -- the reference of issue 17: the same sums with a ``torch.sparse`` (K, N) incidence
  matrix (the approach of the authors' public code), written here.

Each timing is the mean over ``--repeats`` forward+backward steps, repeated ``--trials`` times; the
minimum is reported (the machine may be shared: the script prints the 1-minute load average).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

import numpy as np
import torch

from hepsig_tutorial import stats
from hepsig_tutorial.losses import punzi_loss
from hepsig_tutorial.losses.punzi import MassWindows, _sigma_min_tensor


def make_batch(n, k, seed=0):
    """Events spread over k overlapping windows like the Belle II-like toy (≈2.5 % signal).

    Returns NumPy arrays: logits, labels, weights, M² (float64), mass index, windows (k, 2).
    """
    rng = np.random.default_rng(seed)
    centres = np.linspace(0.0, 80.0, k)
    y = (rng.random(n) < 0.025).astype(np.float32)
    mass = rng.integers(0, k, n)
    m2 = np.where(y > 0, centres[mass] + rng.normal(size=n) * 0.3, rng.random(n) * 80.0)
    windows = np.stack([centres - 1.2, centres + 1.2], axis=1)     # neighbours overlap (spacing 1.8)
    per_mass = np.maximum(np.bincount(mass[y > 0], minlength=k), 1)
    w = np.where(y > 0, 0.9 / per_mass[mass], 0.05 + rng.random(n)).astype(np.float32)
    logits = (rng.normal(size=n) + 2.0 * y).astype(np.float32)
    return logits, y, w, m2, np.where(y > 0, mass, -1), windows


# --------------------------------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------------------------------
def dense_before(pred, y, w, M, luminosity, fraction=1.0, a=3.0, b=1.28, eff_floor=1e-6):
    """The dense loss before issue 17: value checks and host syncs on every step (same arithmetic)."""
    yp = pred.detach()
    if torch.isnan(yp).any() or (yp < 0).any() or (yp > 1).any():
        raise ValueError("pred")
    if not ((y == 0) | (y == 1)).all():
        raise ValueError("target")
    if torch.isnan(w).any() or (w < 0).any() or torch.isinf(w).any():
        raise ValueError("weight")
    if not (M.detach().amin() >= 0):
        raise ValueError("membership")
    sig_w, bkg_w = y * w, (1.0 - y) * w
    yields = torch.stack((sig_w * pred, bkg_w * pred, sig_w.detach())) @ M
    eff, B = yields[0] / fraction, yields[1] / fraction
    if torch.isnan(eff.detach()).any() or (eff.detach() < 0).any():
        raise ValueError("efficiency")
    num = stats.punzi_sensitivity(torch.ones_like(B), B, a=a, b=b, luminosity=luminosity)   # its own checks
    sigma = num / torch.maximum(eff, torch.as_tensor(eff_floor, dtype=eff.dtype, device=eff.device))
    has = yields[2].detach() > 0
    kept = torch.where(has, sigma, torch.zeros_like(sigma))
    n_kept = has.sum()
    if int(n_kept) == 0:
        return (pred * 0.0).sum()
    return kept.sum() / n_kept.to(pred.dtype)


def sparse_loss(pred, y, w, Mt, luminosity, fraction=1.0, a=3.0, b=1.28, eff_floor=1e-6):
    """Reference: the window sums with a torch.sparse (K, N) incidence matrix ``Mt`` (built once)."""
    sig_w, bkg_w = y * w, (1.0 - y) * w
    rows = torch.stack((sig_w * pred, bkg_w * pred, sig_w.detach()), 1)          # (N, 3)
    yields = torch.sparse.mm(Mt, rows)                                              # (K, 3)
    eff, B = yields[:, 0] / fraction, yields[:, 1] / fraction
    sigma = _sigma_min_tensor(eff, B, a, b, luminosity, False, eff_floor)
    has = yields[:, 2].detach() > 0
    return torch.where(has, sigma, torch.zeros_like(sigma)).sum() / has.sum().clamp(min=1)


# --------------------------------------------------------------------------------------------------
def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timeit(fn, repeats, trials, device):
    """min over ``trials`` of the mean time of ``repeats`` calls (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(trials):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn()
        _sync(device)
        best = min(best, (time.perf_counter() - t0) / repeats)
    return best


def setup(n, k, device, seed=0):
    logits, y, w, m2, mass, windows = make_batch(n, k, seed)
    mw = MassWindows(windows)
    cells = mw.cells(m2, y, mass)
    M = torch.as_tensor(mw.membership(cells))
    t = {"logits": torch.as_tensor(logits, device=device), "y": torch.as_tensor(y, device=device),
         "w": torch.as_tensor(w, device=device), "cells": torch.as_tensor(cells, device=device),
         "M": M.to(device=device, dtype=torch.float32), "mw": mw}
    t["Mt"] = M.T.to(torch.float32).to_sparse().coalesce().to(device)
    return t


def run_sizes(sizes, k, repeats, trials, device):
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, "
          f"load average (1 min) {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'events':>9} {'windows':>7} {'compact':>9} {'dense':>9} {'dense-before':>12} {'sparse':>9} "
          f"{'vs sparse':>9} {'vs before':>9}  (ms per forward+backward, min of {trials})")
    results = []
    for n in sizes:
        t = setup(n, k, device)

        def step(kind):
            z = t["logits"].clone().requires_grad_(True)
            pred = torch.sigmoid(z)
            if kind == "compact":
                loss = punzi_loss(pred, t["y"], t["w"], windows=t["mw"], cells=t["cells"], luminosity=50.0,
                                  validate=False)
            elif kind == "dense":
                loss = punzi_loss(pred, t["y"], t["w"], membership=t["M"], luminosity=50.0, validate=False)
            elif kind == "dense-before":
                loss = dense_before(pred, t["y"], t["w"], t["M"], luminosity=50.0)
            else:
                loss = sparse_loss(pred, t["y"], t["w"], t["Mt"], luminosity=50.0)
            loss.backward()
            return loss.detach(), z.grad

        ref_v, ref_g = step("dense-before")
        for kind in ("compact", "dense", "sparse"):
            v, g = step(kind)
            assert torch.allclose(v, ref_v, rtol=1e-5), (kind, v, ref_v)
            assert torch.allclose(g, ref_g, rtol=1e-4, atol=1e-6 * float(ref_g.abs().max())), kind
        times = {kind: timeit(lambda kind=kind: step(kind), repeats, trials, device)
                 for kind in ("compact", "dense", "dense-before", "sparse")}
        print(f"{n:>9} {k:>7} {1e3 * times['compact']:>9.2f} {1e3 * times['dense']:>9.2f} "
              f"{1e3 * times['dense-before']:>12.2f} {1e3 * times['sparse']:>9.2f} "
              f"{times['sparse'] / times['compact']:>8.1f}x {times['dense-before'] / times['compact']:>8.1f}x")
        results.append((n, times))
        del t
    return results


# --------------------------------------------------------------------------------------------------
# peak memory of one Chapter-3-FULL-sized step (run in a fresh process per variant)
# --------------------------------------------------------------------------------------------------
def memory_child(kind, n, k):
    logits, y, w, m2, mass, windows = make_batch(n, k)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    z = torch.as_tensor(logits).requires_grad_(True)
    yt, wt = torch.as_tensor(y), torch.as_tensor(w)
    if kind == "compact":
        mw = MassWindows(windows)
        cells = torch.as_tensor(mw.cells(m2, y, mass))
        loss = punzi_loss(torch.sigmoid(z), yt, wt, windows=mw, cells=cells, luminosity=50.0)
    elif kind == "compact-fit":   # one epoch of ht.train.fit, batches of 8192, on a 4-8-4-1 network
        import hepsig_tutorial as ht
        from hepsig_tutorial.losses import make_punzi_loss

        mw = MassWindows(windows)
        x = np.random.default_rng(1).random((n, 4), dtype=np.float32) + y[:, None]
        data = {"x": x, "y": y, "w": w, "cell": mw.cells(m2, y, mass)}
        fn = make_punzi_loss(luminosity=50.0, windows=mw, data=data)
        torch.manual_seed(0)
        ht.train.fit(ht.models.mlp(4, (8, 4), "tanh"), fn, data, epochs=1, batch_size=8192, device="cpu")
    else:   # what Chapter 3 does today: bool window matrix -> float32 tensor (train.as_tensors) -> loss
        mw = MassWindows(windows)
        M = torch.as_tensor(mw.membership(mw.cells(m2, y, mass))).to(torch.float32)
        loss = punzi_loss(torch.sigmoid(z), yt, wt, membership=M, luminosity=50.0)
    if kind != "compact-fit":
        loss.backward()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{kind}: peak RSS {peak / 2**20:.2f} GiB (inputs alone {base / 2**20:.2f} GiB)")


def run_memory(n, k):
    print(f"peak resident memory at {n} events x {k} windows (fresh process each): one forward+backward of the "
          f"loss (compact, dense), and one epoch of ht.train.fit with the compact loss (compact-fit)")
    for kind in ("compact", "compact-fit", "dense"):
        subprocess.run([sys.executable, __file__, "--memory-child", kind, "--events", str(n), "--windows", str(k)],
                       check=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, nargs="*", default=None,
                   help="event counts (default 200000 1000000; with --memory 2400000)")
    p.add_argument("--windows", type=int, default=None, help="windows (default 45; with --memory 89)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--memory", action="store_true")
    p.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.memory_child:
        return memory_child(args.memory_child, args.events[0], args.windows)
    if args.memory:
        return run_memory((args.events or [2_400_000])[0], args.windows or 89)
    return run_sizes(args.events or [200_000, 1_000_000], args.windows or 45, args.repeats, args.trials,
                     torch.device(args.device))


if __name__ == "__main__":
    main()
