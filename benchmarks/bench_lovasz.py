"""Timing: the sort-based Lovász-Z loss (Algorithm 1, O(p log p)) against Eq. (4) evaluated literally (O(p²)).

Run: ``python benchmarks/bench_lovasz.py``. Prints the time per evaluation of both and their ratio for a few
batch sizes p, and checks that both give the same value. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from hepsig_tutorial.losses.lovasz import lovasz_z_loss, naive_lovasz_z_loss, process_weights


def _time(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(sizes=(64, 256, 1024, 4096)):
    rng = np.random.default_rng(0)
    print(f"{'p':>6} {'sorted [ms]':>12} {'naive [ms]':>12} {'ratio':>8}  max |diff|")
    for p in sizes:
        process = rng.integers(0, 3, p)
        w = process_weights(process, (0.1, 1.0, 100.0), 3000.0)
        y = (process == 0).astype(float)
        scores = torch.tensor(rng.normal(size=p))
        fast = _time(lambda: lovasz_z_loss(scores, y, w), repeat=20)
        naive = _time(lambda: naive_lovasz_z_loss(scores, y, w), repeat=2 if p > 1000 else 5)
        diff = abs(float(lovasz_z_loss(scores, y, w)) - naive_lovasz_z_loss(scores, y, w))
        print(f"{p:>6} {1e3 * fast:>12.3f} {1e3 * naive:>12.2f} {naive / fast:>8.0f}  {diff:.1e}")


if __name__ == "__main__":
    main()
