"""Helpers that several test files share (not tests themselves)."""

from __future__ import annotations

import contextlib

import torch

import hepsig_tutorial.ddp as ddp


@contextlib.contextmanager
def no_host_sync():
    """Make every tensor -> Python conversion (what waits for a GPU) raise inside the block."""
    def refuse(*args, **kwargs):
        raise AssertionError("host synchronisation (tensor converted to a Python value)")

    names = ("__bool__", "__int__", "__float__", "__index__", "item", "tolist", "numpy")
    saved = {name: getattr(torch.Tensor, name) for name in names}
    try:
        for name in names:
            setattr(torch.Tensor, name, refuse)
        yield
    finally:
        for name, fn in saved.items():
            setattr(torch.Tensor, name, fn)


def killed_and_whole_ddp_runs(tmp_path, stop_at_step, **recipe):
    """Run ``ddp.run_training`` whole (in ``a``) and stopped at ``stop_at_step`` then restarted (in ``b``).

    Asserts that both finish and that the restarted run's weights and EMA equal the uninterrupted run's;
    returns the two final checkpoints ``(a, b)`` for further checks.
    """
    whole = ddp.run_training(tmp_path / "a", **recipe)
    assert whole["finished"] and whole["step"] == whole["total_steps"]
    part = ddp.run_training(tmp_path / "b", stop_at_step=stop_at_step, **recipe)  # killed halfway ...
    assert part["step"] == stop_at_step and not part["finished"]
    rest = ddp.run_training(tmp_path / "b", **recipe)  # ... and started again: resumes from the checkpoint
    assert rest["finished"] and rest["step"] == whole["step"]
    sa = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)
    sb = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    for key in ("model", "ema"):
        for name in sa[key]:
            assert torch.equal(sa[key][name], sb[key][name]), (key, name)
    return sa, sb
