"""The DDP network's FAST-mode recipe (Chapter 7), measured: dense-layer start and learning-rate schedule.

Trains the 73,941-parameter network of :mod:`hepsig_tutorial.ddp` on the same FAST-size sample with
each combination of ``init`` ("default", "identity") and ``schedule`` ("constant", "cosine"), for
several seeds, and prints after every epoch the validation MSE and the test metrics of the chapter:
A_pred (3σ vs background-only), bias and spread of z_pred^max − z_true^max, and the fraction of
predicted peaks within 3 bins of the z_true peak.

Usage: ``python benchmarks/bench_ddp_init.py [--samples 30000] [--epochs 6] [--lr 1e-3] [--seeds 7 8 9]``
(about a minute per run on two CPU cores).
"""

from __future__ import annotations

import argparse
import itertools
import os

import numpy as np
import torch

from hepsig_tutorial import bump, ddp
from hepsig_tutorial.data import Scaler


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=30_000, help="training + validation samples")
    parser.add_argument("--test", type=int, default=2_000, help="test samples per set")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9])
    parser.add_argument("--inits", nargs="+", default=["default", "identity"])
    parser.add_argument("--schedules", nargs="+", default=["constant", "cosine"])
    args = parser.parse_args(argv)
    torch.set_num_threads(min(os.cpu_count() or 1, 4))
    rng = np.random.default_rng(0)
    train = bump.generate_histograms(args.samples, (1.0, 20.0), rng=rng)
    test = bump.generate_histograms(args.test, (1.0, 20.0), rng=rng)
    test3 = bump.generate_histograms(args.test, 3.0, rng=rng)
    test0 = bump.generate_histograms(args.test, 0.0, rng=rng)
    n_val = args.samples // 5
    xs = Scaler(per_feature=False).fit(train["counts"][n_val:])
    zs = Scaler(per_feature=False).fit(train["z"][n_val:])
    x, z = xs.transform(train["counts"]), zs.transform(train["z"])
    print(f"{args.samples} samples ({n_val} validation), {args.epochs} epochs, lr {args.lr}, "
          f"{torch.get_num_threads()} threads")
    print(f"{'init':9s} {'schedule':9s} {'seed':>4s} {'epoch':>5s} {'val MSE':>9s} {'A_pred':>7s} {'bias':>6s} "
          f"{'spread':>6s} {'peak±3':>6s}")
    for init, schedule, seed in itertools.product(args.inits, args.schedules, args.seeds):
        torch.manual_seed(seed)
        model = ddp.DDPNet(init=init)

        def report(epoch, model, hist, init=init, schedule=schedule, seed=seed):
            m = ddp.evaluate_ddp(model, xs, zs, {"range": test, "3sigma": test3, "null": test0})
            print(f"{init:9s} {schedule:9s} {seed:4d} {epoch + 1:5d} {hist['val_loss'][-1]:9.2e} "
                  f"{m['A_pred']:7.3f} {m['bias']:+6.2f} {m['spread']:6.2f} {m['peak3']:6.1%}", flush=True)

        ddp.train_ddp(model, x[n_val:], z[n_val:], x_val=x[:n_val], z_val=z[:n_val], epochs=args.epochs,
                      lr=args.lr, schedule=schedule, seed=seed, callback=report)


if __name__ == "__main__":
    main()
