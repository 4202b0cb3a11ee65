"""Time the Punzi loss (forward + backward) over all mass windows against a per-mass Python loop.

Not a timed test: run it by hand, e.g.

    .venv/bin/python benchmarks/bench_punzi_loss.py            # 200 000 events, 45 windows
    .venv/bin/python benchmarks/bench_punzi_loss.py --events 65000 --windows 12 --device cuda

``hepsig_tutorial.losses.punzi_loss`` computes every window's ε and B with one matrix product
(y·ŷ·w) @ M; the reference below is what one writes first: a loop over the mass hypotheses, each
with its own masked sums and its own call of ``stats.punzi_sensitivity``. Both give the same value
(checked here) and the same gradient; the script prints the time per forward+backward and the ratio.
"""

from __future__ import annotations

import argparse
import time

import torch

from hepsig_tutorial import stats
from hepsig_tutorial.losses import punzi_loss


def loop_loss(y_pred, y, w, M, luminosity, fraction=1.0):
    """Reference: one window at a time (the straightforward implementation)."""
    values = []
    for k in range(M.shape[1]):
        m = M[:, k]
        eff = (y[m] * y_pred[m] * w[m]).sum() / fraction
        B = ((1 - y[m]) * y_pred[m] * w[m]).sum() / fraction
        values.append(stats.punzi_sensitivity(eff.clamp(min=1e-6), B, luminosity=luminosity))
    return torch.stack(values).mean()


def make_batch(n, k, device, seed=0):
    """Events spread over k overlapping windows like the Belle II-like toy (≈2.5 % signal)."""
    g = torch.Generator().manual_seed(seed)
    m2 = torch.rand(n, generator=g) * 80.0
    centres = torch.linspace(0.0, 80.0, k)
    y = (torch.rand(n, generator=g) < 0.025).float()
    mass_of_signal = torch.randint(0, k, (n,), generator=g)
    m2 = torch.where(y > 0, centres[mass_of_signal] + torch.randn(n, generator=g) * 0.3, m2)
    inside = (m2[:, None] - centres[None, :]).abs() < 1.2
    own = (y[:, None] == 0) | (mass_of_signal[:, None] == torch.arange(k)[None, :])
    M = inside & own
    per_mass = torch.bincount(mass_of_signal[y > 0], minlength=k).clamp(min=1).float()
    w = torch.where(y > 0, 0.9 / per_mass[mass_of_signal], 0.05 + torch.rand(n, generator=g))
    logits = torch.randn(n, generator=g) + 2.0 * y
    return logits.to(device), y.to(device), w.to(device), M.to(device)


def timeit(fn, repeats, device):
    fn()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / repeats


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--windows", type=int, default=45)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    logits, y, w, M = make_batch(args.events, args.windows, device)
    Mf = M.float()

    def step(kind):
        z = logits.clone().requires_grad_(True)
        pred = torch.sigmoid(z)
        if kind == "vectorised":
            loss = punzi_loss(pred, y, w, Mf, luminosity=50.0)
        else:
            loss = loop_loss(pred, y, w, M, luminosity=50.0)
        loss.backward()
        return loss.detach(), z.grad

    lv, gv = step("vectorised")
    ll, gl = step("loop")
    assert torch.allclose(lv, ll, rtol=1e-4), (lv, ll)
    assert torch.allclose(gv, gl, rtol=1e-3, atol=1e-6 * float(gv.abs().max()))

    t_vec = timeit(lambda: step("vectorised"), args.repeats, device)
    t_loop = timeit(lambda: step("loop"), args.repeats, device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")
    print(f"{args.events} events, {args.windows} windows, {int(M.sum())} (event, window) memberships")
    print(f"punzi_loss (one matrix product): {1e3 * t_vec:8.2f} ms per forward+backward")
    print(f"per-mass Python loop            : {1e3 * t_loop:8.2f} ms per forward+backward")
    print(f"speed-up: {t_loop / t_vec:.1f}x")
    return t_loop / t_vec


if __name__ == "__main__":
    main()
