"""Timing: optimizer steps per second of ``ht.train.fit`` against an older copy of the loop.

Compares the current ``fit`` with a copy of an earlier ``hepsig_tutorial/train.py`` (``--before``) on the
same losses. Used for the device-side loss sum (the old loop synchronised with the host twice per
step) and for issue 19's "one training loop" (micro-batches and the optimizer table added to ``fit``:
the plain path must not get slower). Workload: the Chapter 5 network (1×23 ReLU MLP, sigmoid output)
on the stop toy's inputs, batch 4096, trained on the weighted BCE and on the Asimov loss
(σ_b/b = 0.5), on the CPU with one thread.

Run: ``python benchmarks/bench_train.py [--before PATH] [--repeat 3] [--epochs 2]``. ``PATH`` is a copy
of the old ``hepsig_tutorial/train.py``, e.g. ``git show e40b244:hepsig_tutorial/train.py > /tmp/train_before.py``
(default ``/tmp/train_before.py``; skipped when absent; it must import against today's package). Prints the best (minimum-time) of ``--repeat``
runs per configuration, the runs interleaved so that both loops see the same machine load, and the
per-step cost of the bookkeeping alone. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

import numpy as np
import torch

import hepsig_tutorial as ht
from hepsig_tutorial import train as new_train
from hepsig_tutorial.losses import make_asimov_loss, make_bce_loss


def _load(path):
    spec = importlib.util.spec_from_file_location("hepsig_tutorial._train_before", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="/tmp/train_before.py")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    os.environ.setdefault("HEPSIG_PROGRESS", "0")
    torch.set_num_threads(args.threads)
    loops = {"after": new_train}
    if os.path.exists(args.before):
        loops = {"before": _load(args.before), **loops}
    else:
        print(f"(no 'before' module at {args.before}: timing the current loop only)")
    toy = ht.data.make_stop_toy("compressed", n_signal=40_000, n_background=240_000, seed=5)
    part, _ = toy.split((0.5, 0.5), seed=5)
    scaler = ht.data.Scaler().fit(part.x)
    y = part.y.astype(np.float32)
    data = {"x": scaler.transform(part.x), "y": y, "w": part.w.astype(np.float32)}
    bce_data = dict(data, w=np.where(y == 1, 0.5 / y.sum(), 0.5 / (1 - y).sum()).astype(np.float32))
    losses = {"BCE": (make_bce_loss(), bce_data),
              "Asimov 0.5": (make_asimov_loss(sigma_b_rel=0.5, expected_signal=toy.expected_signal,
                                              expected_background=toy.expected_background), data)}
    n_batches = int(np.ceil(len(y) / 4096))
    print(f"{len(y)} training events, batch 4096 → {n_batches} steps/epoch, {args.epochs} epochs per run, "
          f"{torch.get_num_threads()} thread(s), device {args.device}, best of {args.repeat}")
    best = {(lo, name): float("inf") for lo in loops for name in losses}
    for _ in range(args.repeat):
        for name, (loss_fn, d) in losses.items():
            for lo, mod in loops.items():
                torch.manual_seed(0)
                model = ht.models.mlp(d["x"].shape[1], (23,), "relu")
                t0 = time.perf_counter()
                h = mod.fit(model, loss_fn, d, epochs=args.epochs, batch_size=4096, lr=1e-2, device=args.device)
                if args.device != "cpu":
                    torch.cuda.synchronize()
                best[lo, name] = min(best[lo, name], time.perf_counter() - t0)
                assert np.isfinite(h["loss"]).all()
    steps = args.epochs * n_batches
    print(f"{'loss':<12}" + "".join(f"{lo + ' [steps/s]':>20}" for lo in loops)
          + ("   after/before" if len(loops) == 2 else ""))
    for name in losses:
        rates = [steps / best[lo, name] for lo in loops]
        line = f"{name:<12}" + "".join(f"{r:>20.1f}" for r in rates)
        if len(rates) == 2:
            line += f"   {rates[1] / rates[0]:.3f}"
        print(line)
    bookkeeping()


def bookkeeping(n=20_000):
    """Per-step cost of the loss bookkeeping alone (no training): the old host reads against the device sum."""
    loss = torch.tensor(0.5, requires_grad=True) * 1.0
    best_old = best_new = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        total = 0.0
        for _ in range(n):
            if not torch.isfinite(loss):
                raise FloatingPointError
            total += float(loss.detach())
        best_old = min(best_old, time.perf_counter() - t0)
        t0 = time.perf_counter()
        acc = torch.zeros((), dtype=torch.float64)
        for _ in range(n):
            acc += loss.detach().reshape(())
        _ = acc.item()
        best_new = min(best_new, time.perf_counter() - t0)
    print(f"loss bookkeeping per step (CPU): before {1e6 * best_old / n:.1f} µs, after {1e6 * best_new / n:.1f} µs")


if __name__ == "__main__":
    main()
