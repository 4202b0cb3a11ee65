"""hepsig_tutorial -- the helper package behind the book *Training classifiers on discovery significance*.

Modules (plain names, one home per helper):

``metrics``  the one evaluation protocol: cut scans, the simulated-background floor, bootstrap MC errors, comparisons
``stats``    counting statistics: p-values, Z, s/√b, s/√(s+b), Asimov Z_A, Punzi σ_min (Chapter 1)
``losses``   differentiable significance losses (Chapters 3-6)
``data``     seeded toy generators (Belle II-like Z′, stop search, 2D Gaussians)
``cutbased``  the cut-based analysis of the Belle II-like toy: window counting, rectangular cuts (Chapter 2)
``submodular``  set functions and the Lovász extension, with the checks of the Lovász-Z proof (Chapter 6)
``linear``   linear classifiers on the 2-D toy: training, the exact weighted-logistic reference, angles (Chapter 6)
``punzinet``  the Punzi-net recipe: BCE pretraining, then Punzi training over many masses (Chapter 3)
``batching``  per-batch estimators of s, b and σ_min, and their delta-method spread (Chapter 4)
``asimov``   the three losses of Chapter 5 trained and compared under the book's protocol
``bump``     histograms and profile-likelihood targets for the data-directed paradigm (Chapter 7)
``bumphunt``  the classical baseline on those histograms: fitted background, bump scans (Chapter 7)
``ddp``      the data-directed CNN, its training and its evaluation (Chapter 7)
``compare``  every loss on the same problem, head to head (Chapter 8)
``models``   network architectures; ``train``: one training loop for every loss
``plots``, ``widgets``   figures and sliders that also read in the static HTML book
``config``, ``checks``   FAST/FULL mode, device, seeding; assertions for the numbers the text claims
"""

from __future__ import annotations

from . import (asimov, batching, bump, bumphunt, checks, compare, config, cutbased, data, losses, metrics, models,
               punzinet, stats, linear, submodular, train)
from ._version import __version__
from .checks import ClaimDrift, check_between, check_close, check_true, glue
from .config import configure_threads, device, is_fast, mode, scaled, seed_everything

__all__ = [
    "__version__", "asimov", "batching", "bump", "bumphunt", "checks", "compare", "config", "cutbased", "data", "ddp", "linear", "losses", "metrics", "models", "plots",
    "punzinet", "stats", "submodular", "train", "widgets",
    "ClaimDrift", "check_between", "check_close", "check_true", "glue",
    "configure_threads", "device", "is_fast", "mode", "scaled", "seed_everything", "setup",
]

# ``plots`` and ``widgets`` pull in matplotlib (and ipywidgets): they load on first use, so that
# ``import hepsig_tutorial`` in an analysis script costs little beyond ``import torch``.
_LAZY = ("plots", "widgets", "ddp")  # ddp: also so that ``python -m hepsig_tutorial.ddp`` runs it only once


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


def setup(seed: int = 0):
    """The Setup cell of every chapter: seed everything, set the plotting style, print the stamp.

    Returns the seeded NumPy ``Generator``.
    """
    rng = seed_everything(seed)
    threads = configure_threads()
    dev = config.configure_device()   # HEPSIG_DEVICE; TF32 off on CUDA (GPU numerics comparable with CPU)
    __getattr__("plots").use_style()   # lazy module: a bare name would not trigger __getattr__
    print(f"hepsig_tutorial {__version__} · {mode().upper()} mode (set HEPSIG_MODE=full for paper scale) "
          f"· device: {dev} (HEPSIG_DEVICE={config.device_setting()}; "
          f"{threads} thread{'s' if threads != 1 else ''}) · seed {seed}")
    return rng
