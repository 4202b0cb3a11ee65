"""Timing of the Chapter 7 sample generation (hepsig_tutorial.bump).

Measures
1. the paper's full data set: 600,000 histograms with their per-bin profile-likelihood targets
   (generation + targets), wall and CPU time;
2. the speed-up of the vectorised ``bump.local_significance`` over a per-histogram SciPy fit loop
   (``bump.local_significance_scipy``) on a subsample.

Usage: ``python benchmarks/bench_bump.py [--n 600000] [--n-scipy 20]``. The machine load (1-minute load
average) is printed next to each timing: on a shared machine, compare CPU times.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from hepsig_tutorial import bump


def _load():
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover
        return float("nan")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=600_000, help="histograms for the full-scale timing")
    parser.add_argument("--n-scipy", type=int, default=20, help="histograms for the SciPy reference loop")
    args = parser.parse_args(argv)
    print(f"CPUs: {os.cpu_count()}, load average before: {_load():.2f}")

    # 1. the full data set, in one call (the generator computes the targets in threaded blocks)
    w0, c0 = time.perf_counter(), time.process_time()
    data = bump.generate_histograms(args.n, (1.0, 20.0), rng=0)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    print(f"{args.n} histograms with targets: wall {wall:.1f} s, CPU {cpu:.1f} s (load {_load():.2f})")
    w0, c0 = time.perf_counter(), time.process_time()
    bump.local_significance(data["counts"], data["background"])
    wall_t, cpu_t = time.perf_counter() - w0, time.process_time() - c0
    print(f"  of which targets alone: wall {wall_t:.1f} s, CPU {cpu_t:.1f} s (load {_load():.2f})")

    # 2. vectorised vs SciPy loop on the same subsample
    sub = slice(0, args.n_scipy)
    w0, c0 = time.perf_counter(), time.process_time()
    z_ref = bump.local_significance_scipy(data["counts"][sub], data["background"][sub])
    wall_s, cpu_s = time.perf_counter() - w0, time.process_time() - c0
    z_vec = data["z"][sub]
    per_vec_wall, per_vec_cpu = wall_t / args.n, cpu_t / args.n
    print(f"SciPy loop: {1e3 * wall_s / args.n_scipy:.1f} ms/histogram wall, {1e3 * cpu_s / args.n_scipy:.1f} ms CPU "
          f"(load {_load():.2f})")
    print(f"vectorised: {1e6 * per_vec_wall:.1f} µs/histogram wall, {1e6 * per_vec_cpu:.1f} µs CPU")
    print(f"speed-up: {wall_s / args.n_scipy / per_vec_wall:.0f}x wall, {cpu_s / args.n_scipy / per_vec_cpu:.0f}x CPU")
    print(f"max |z_vectorised - z_scipy| on the subsample: {np.abs(z_vec - z_ref).max():.1e}")


if __name__ == "__main__":
    main()
