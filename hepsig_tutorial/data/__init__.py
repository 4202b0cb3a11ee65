"""Seeded toy-data generators (each documented as a toy) and small preprocessing helpers.

Generators live in submodules and are re-exported here:

* :mod:`.belle` -- Belle II-like e⁺e⁻ → μ⁺μ⁻Z′ toy (Chapters 2-4);
* :mod:`.stop` -- LHC stop-pair search toy (Chapter 5);
* :mod:`.gauss2d` -- the 2D Gaussian case study of the Lovász-Z paper (Chapter 6).
"""

from __future__ import annotations

import numpy as np

__all__ = ["MinMaxScaler", "train_test_split"]


class MinMaxScaler:
    """Scale each feature to [0, 1] using the training set's minimum and maximum (reversible)."""

    def fit(self, x):
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or len(x) == 0:
            raise ValueError(f"x must be a non-empty 2D array (events, features), got shape {x.shape}")
        self.min_ = x.min(axis=0)
        span = x.max(axis=0) - self.min_
        self.scale_ = np.where(span > 0, span, 1.0)
        return self

    def transform(self, x):
        return ((np.asarray(x, dtype=np.float64) - self.min_) / self.scale_).astype(np.float32)

    def fit_transform(self, x):
        return self.fit(x).transform(x)

    def inverse_transform(self, z):
        return np.asarray(z, dtype=np.float64) * self.scale_ + self.min_


def train_test_split(n: int, test_fraction: float = 0.5, seed: int = 0):
    """Boolean mask of length ``n``: True for training events, False for test events (seeded)."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    rng = np.random.default_rng(seed)
    mask = np.ones(int(n), dtype=bool)
    mask[rng.permutation(int(n))[: int(round(test_fraction * n))]] = False
    return mask


from .belle import *  # noqa: E402,F401,F403
from .belle import __all__ as _belle  # noqa: E402
from .gauss2d import *  # noqa: E402,F401,F403
from .gauss2d import __all__ as _gauss2d  # noqa: E402
from .stop import *  # noqa: E402,F401,F403
from .stop import __all__ as _stop  # noqa: E402

__all__ += _belle + _stop + _gauss2d
