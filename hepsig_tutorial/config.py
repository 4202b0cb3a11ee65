"""Run-time configuration shared by every chapter: FAST/FULL mode, device and seeding.

The whole book reads one environment variable, ``HEPSIG_MODE``:

* ``fast`` (default) -- small data and few epochs; what CI and the book build run
  (all eight chapters in four to eight minutes on two CPU cores);
* ``full`` -- the paper-scale settings, meant for a GPU.

Chapters never test ``os.environ`` themselves; they call :func:`mode` or :func:`scaled`.

The device comes from ``HEPSIG_DEVICE`` (:func:`device`): ``auto`` (default: CUDA when a GPU is
visible, else the CPU), ``cpu`` or ``cuda``. When CUDA is used, :func:`configure_device` (called by
``ht.setup()``) switches TensorFloat-32 off for matrix products and cuDNN convolutions, so that GPU
numbers agree with CPU ones to float32 precision (TF32 keeps 10 mantissa bits: ~1e-3 relative).
"""

from __future__ import annotations

import os
import random

import numpy as np

from ._validate import choice, integer, require

__all__ = ["MODE_VARIABLE", "THREADS_VARIABLE", "DEVICE_VARIABLE", "mode", "is_fast", "scaled", "device",
           "device_setting", "configure_device", "seed_everything", "progress_enabled", "configure_threads", "CHECKPOINT_VARIABLE", "checkpoint_dir"]

MODE_VARIABLE = "HEPSIG_MODE"
THREADS_VARIABLE = "HEPSIG_THREADS"
DEVICE_VARIABLE = "HEPSIG_DEVICE"
CHECKPOINT_VARIABLE = "HEPSIG_CHECKPOINT_DIR"
_MODES = ("fast", "full")
_DEVICES = ("auto", "cpu", "cuda")


def mode() -> str:
    """Return the current mode, ``"fast"`` or ``"full"``, read from ``$HEPSIG_MODE``.

    Raises
    ------
    ValueError
        If the variable holds anything other than ``fast`` or ``full`` (case-insensitive).
    """
    return _setting(MODE_VARIABLE, "fast", _MODES)


def _setting(variable, default, options):
    """The environment variable's value, lower-case (``default`` when unset or empty), one of ``options``."""
    return choice(variable, os.environ.get(variable, default).strip().lower() or default, options)


def is_fast() -> bool:
    """True in FAST mode."""
    return mode() == "fast"


def scaled(fast, full):
    """Pick a setting by mode: ``scaled(fast=2_000, full=200_000)``."""
    return fast if is_fast() else full


def device_setting() -> str:
    """The value of ``$HEPSIG_DEVICE``: ``"auto"`` (default), ``"cpu"`` or ``"cuda"`` (case-insensitive).

    Raises
    ------
    ValueError
        If the variable holds anything else.
    """
    return _setting(DEVICE_VARIABLE, "auto", _DEVICES)


def device():
    """The torch device to compute on, from ``$HEPSIG_DEVICE``.

    ``auto`` (default): CUDA when available, otherwise the CPU; ``cpu``: always the CPU (e.g. to
    compare with a GPU run); ``cuda``: the GPU.

    Raises
    ------
    ValueError
        If ``HEPSIG_DEVICE=cuda`` but no CUDA GPU is available, or the variable is not one of
        ``auto``, ``cpu``, ``cuda``.
    """
    import torch

    setting = device_setting()
    require(setting != "cuda" or torch.cuda.is_available(),
            f"{DEVICE_VARIABLE}=cuda but no CUDA GPU is available (set {DEVICE_VARIABLE}=auto or cpu)")
    return torch.device("cuda" if setting != "cpu" and torch.cuda.is_available() else "cpu")


def configure_device():
    """Resolve :func:`device` and make its numerics comparable with the CPU; return the device.

    On CUDA, TensorFloat-32 is switched off for matrix products and cuDNN convolutions
    (``torch.backends.cuda.matmul.allow_tf32 = False``, ``torch.backends.cudnn.allow_tf32 = False``):
    with TF32 (PyTorch's default for convolutions on Ampere and newer GPUs) float32 products keep only
    10 mantissa bits and differ from CPU results by ~1e-3 relative, more than the tolerances of the
    book's checks. Without it, GPU and CPU agree to float32 rounding (~1e-6 relative per operation).
    The cost is speed on large convolutions, which the book's small networks do not notice.
    Called by ``ht.setup()``.
    """
    import torch

    dev = device()
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return dev


def seed_everything(seed: int = 0) -> np.random.Generator:
    """Seed Python's, NumPy's and PyTorch's generators; return a fresh NumPy ``Generator``.

    Call it once per notebook (the Setup cell) and pass the returned generator, or explicit
    seeds, to every data generator, so that the numbers the text claims are reproducible.
    """
    import torch

    seed = integer("seed", seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def progress_enabled() -> bool:
    """Progress bars are on unless ``HEPSIG_PROGRESS=0`` (the book build and the tests set it)."""
    return os.environ.get("HEPSIG_PROGRESS", "1").strip() not in ("0", "false", "no", "off")


def configure_threads(threads=None, cpu_default=1) -> int:
    """Set PyTorch's intra-op thread count; return the number in use.

    The networks of this book are tiny (a few thousand weights, batches of a few thousand events):
    on a CPU, splitting each small matrix product over several threads costs more in
    synchronisation than it saves, and on a loaded machine it can be many times slower.
    The default is therefore **one thread on the CPU** (measured in ``book/running.md``) and
    PyTorch's own choice on a GPU.

    Parameters
    ----------
    threads : int or str, optional
        A positive integer, or ``"auto"`` to leave PyTorch's default untouched. When omitted, read
        ``$HEPSIG_THREADS`` (same values); when that is unset too, ``cpu_default`` on the CPU and
        ``"auto"`` on CUDA (:func:`device`, so ``HEPSIG_DEVICE=cpu`` gets the CPU default).
    cpu_default : int or str
        The CPU setting when neither ``threads`` nor the variable is given (default 1; Chapter 7's
        convolutional network asks for the machine's cores).

    Raises
    ------
    ValueError
        If ``threads`` (or ``$HEPSIG_THREADS``) is neither a positive integer nor ``"auto"``.
    """
    import torch

    name, env = "threads", os.environ.get(THREADS_VARIABLE, "").strip().lower()
    if threads is None and env:
        threads, name = env, THREADS_VARIABLE
    elif threads is None:
        threads = "auto" if device().type == "cuda" else cpu_default
    if isinstance(threads, str):
        if threads.strip().lower() == "auto":
            return torch.get_num_threads()
        try:
            threads = int(threads.strip())
        except ValueError:
            raise ValueError(f"{name} must be a positive integer or 'auto', got {threads!r}") from None
    torch.set_num_threads(integer(name, threads, minimum=1))
    return torch.get_num_threads()


def checkpoint_dir():
    """Where :func:`hepsig_tutorial.train.resumable` keeps its checkpoints, or ``None`` (no checkpoints).

    ``$HEPSIG_CHECKPOINT_DIR`` when set (on Colab, a Google Drive folder survives a disconnect); otherwise
    ``~/.cache/hepsig_tutorial/runs`` in FULL mode and ``None`` in FAST mode, whose trainings take seconds
    and whose results must not depend on files left on disk.
    """
    from pathlib import Path

    value = os.environ.get(CHECKPOINT_VARIABLE, "").strip()
    if value:
        return Path(value).expanduser()
    return None if is_fast() else Path.home() / ".cache" / "hepsig_tutorial" / "runs"
