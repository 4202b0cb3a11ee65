"""Time one step of the Asimov loss: the closed-form float64 gradient against autograd through ``ht.stats``.

Not a timed test: run it by hand, e.g.

    .venv/bin/python benchmarks/bench_asimov_loss.py
    .venv/bin/python benchmarks/bench_asimov_loss.py --batch 4096 --repeats 2000 --trials 3 --device cuda

Two implementations of ℓ_Asimov = 1/Z_A on the batch-normalised soft counts of a random batch (values and
gradients are checked against each other first):

* ``closed-form`` -- :func:`hepsig_tutorial.losses.asimov_loss` as shipped (``validate=False``, what a
  training step of :func:`~hepsig_tutorial.losses.make_asimov_loss` runs): Z_A of the two scalar batch sums
  in float64 torch on the batch's device with its gradient in closed form (``_AsimovZ``), no host round trip;
* ``autograd``    -- the same loss differentiated op by op through the float32-stable series form of
  :func:`hepsig_tutorial.stats.asimov_significance` on tensors.

Also timed: ℓ_s/√(s+b) on the same counts, as the floor. Each timing is the mean over ``--repeats``
forward+backward steps (relaxed counts included), repeated ``--trials`` times; the minimum is reported
(the machine may be shared: the script prints the 1-minute load average).
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from hepsig_tutorial.losses import asimov_loss, relaxed_counts, s_over_sqrt_s_plus_b_loss
from hepsig_tutorial.losses.significance import B_FLOOR, S_FLOOR
from hepsig_tutorial.stats import asimov_significance

YIELDS = {"expected_signal": 958.0, "expected_background": 20760.0}


def autograd_asimov_loss(out, y, w, rel):
    s, b = relaxed_counts(out, y, w, **YIELDS, validate=False)
    b_eff = b + B_FLOOR
    return 1.0 / asimov_significance(s + S_FLOOR, b_eff, rel * b_eff)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--repeats", type=int, default=1000)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--rel", type=float, default=0.5)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(1)
    dev = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    y = (torch.rand(args.batch, generator=g) < 0.08).float().to(dev)
    w = torch.ones(args.batch, device=dev)
    base = torch.rand(args.batch, generator=g).to(dev)

    impl = {
        "closed-form": lambda out: asimov_loss(out, y, w, sigma_b_rel=args.rel, **YIELDS, validate=False),
        "autograd": lambda out: autograd_asimov_loss(out, y, w, args.rel),
        "s/sqrt(s+b)": lambda out: s_over_sqrt_s_plus_b_loss(out, y, w, **YIELDS, validate=False),
    }

    def step(fn):
        out = base.clone().requires_grad_(True)
        loss = fn(out)
        loss.backward()
        return loss.detach(), out.grad

    l1, g1 = step(impl["closed-form"])
    l2, g2 = step(impl["autograd"])
    assert torch.allclose(l1, l2, rtol=1e-5), (l1, l2)
    assert torch.allclose(g1, g2, rtol=1e-3, atol=1e-9), (g1 - g2).abs().max()
    print(f"load average (1 min): {os.getloadavg()[0]:.1f}; batch {args.batch}, σ_b/b = {args.rel}, 1 thread, "
          f"device {dev}")
    for name, fn in impl.items():
        best = float("inf")
        for _ in range(args.trials):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(args.repeats):
                step(fn)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, (time.perf_counter() - t0) / args.repeats)
        print(f"{name:12s}: {best * 1e3:.3f} ms per forward+backward step")


if __name__ == "__main__":
    main()
