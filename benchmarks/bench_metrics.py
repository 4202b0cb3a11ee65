"""Cut scan with Poisson-bootstrap MC errors on 10⁶ events (hepsig_tutorial.metrics).

Run: ``.venv/bin/python benchmarks/bench_metrics.py [n_events] [n_bootstrap]``. Prints the wall time of
the plain scan and of the scan with bootstrap replicates, for one group and for 45 overlapping groups
(the Chapter 3 mass windows' shape), min of three runs.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from hepsig_tutorial import metrics


def main(n=1_000_000, R=200):
    rng = np.random.default_rng(0)
    y = (rng.random(n) < 0.2).astype(np.int8)
    s = rng.normal(1.5 * y, 1.0).astype(np.float32)
    proc = rng.integers(0, 3, n)
    w = np.where(y == 1, 1e-5, np.array([0.5, 5.0, 50.0])[proc])
    m2 = rng.random(n)
    windows = [np.flatnonzero(np.abs(m2 - c) < 0.02) for c in np.linspace(0.02, 0.98, 45)]

    def best(fn):
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    print(f"{n:,} events, {R} bootstrap replicates, 201 cuts")
    print(f"  one group, no bootstrap   : {best(lambda: metrics.cut_scan(s, y, w, process=proc)):.3f} s")
    print(f"  one group, bootstrap      : {best(lambda: metrics.cut_scan(s, y, w, process=proc, n_bootstrap=R)):.2f} s")
    print(f"  45 windows, no bootstrap  : {best(lambda: metrics.cut_scan(s, y, w, process=proc, groups=windows)):.3f} s")
    print(f"  45 windows, bootstrap     : {best(lambda: metrics.cut_scan(s, y, w, process=proc, groups=windows, n_bootstrap=R)):.2f} s")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
