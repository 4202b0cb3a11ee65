"""Timing of the Belle II-like toy generator (hepsig_tutorial.data.belle.make_belle_toy).

Run: ``python benchmarks/bench_belle.py [n_events]`` (default one million: 89 masses × 5000 signal
events + the rest background, split 30/50/20 % over μμ(γ), ττ, eeμμ). Prints wall and CPU time
and events per second; the CPU figure is the meaningful one on a shared machine.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from hepsig_tutorial.data import make_belle_toy


def main(n_events: int = 1_000_000, repeats: int = 1) -> None:
    masses = np.round(np.arange(0.1, 8.95, 0.1), 1)
    n_sig = max(n_events // 2 // len(masses), 1)
    n_bkg = n_events - n_sig * len(masses)
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        toy = make_belle_toy(masses=masses, n_signal_per_mass=n_sig, n_background=n_bkg, seed=0)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"{toy}")
        print(f"wall {wall:.2f} s ({len(toy) / wall:,.0f} events/s) · CPU {cpu:.2f} s "
              f"({len(toy) / cpu:,.0f} events/s per CPU-second)")
        for name in toy.process_names[1:]:
            acc = toy.visible_cross_section[name] / toy.cross_section[name]
            print(f"  {name:12s} acceptance {acc:.3f}  simulated-sample L = {toy.sample_luminosity[name]:.3g} fb^-1")


if __name__ == "__main__":
    main(int(float(sys.argv[1])) if len(sys.argv) > 1 else 1_000_000)
