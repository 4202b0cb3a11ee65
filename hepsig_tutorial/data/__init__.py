"""Seeded toy-data generators (each documented as a toy) and small preprocessing helpers.

Generators live in submodules and are re-exported here:

* :mod:`.belle` -- Belle II-like e⁺e⁻ → μ⁺μ⁻Z′ toy (Chapters 2-4);
* :mod:`.stop` -- LHC stop-pair search toy (Chapter 5);
* :mod:`.gauss2d` -- the 2D Gaussian case study of the Lovász-Z paper (Chapter 6);
* :mod:`.sample` -- :class:`~hepsig_tutorial.data.sample.Sample`, the container every generator returns, with
  one stratified ``split()``;
* :mod:`.problems` -- the comparison problems of Chapter 8.
"""

from __future__ import annotations

import numpy as np

from .._validate import array, choice, require

__all__ = ["Scaler", "Sample"]


class Scaler:
    """Linear rescaling fitted on the training sample, ``x -> (x - shift_) / scale_`` (reversible).

    ``kind="minmax"``: shift = minimum, scale = maximum - minimum (values to [0, 1]);
    ``kind="standard"``: shift = mean, scale = standard deviation (zero mean, unit variance).
    ``per_feature=True``: one (shift, scale) per column of a 2-D ``(events, features)`` array;
    ``False``: one pair for *all* values, e.g. the DDP paper's "all samples are then globally scaled to the
    interval [0, 1] under a linear transformation" (Chapter 7). A zero span or deviation gives scale 1.
    ``transform`` returns float32, ``inverse_transform`` float64.
    """

    def __init__(self, kind: str = "minmax", per_feature: bool = True):
        self.kind, self.per_feature = choice("kind", kind, ("minmax", "standard")), bool(per_feature)

    def fit(self, x):
        x = array("x", x, finite=True)
        require(x.size > 0 and (x.ndim == 2 or not self.per_feature),
                f"x must be a non-empty 2-D array (events, features) (any shape if not per_feature), got {x.shape}")
        axis = 0 if self.per_feature else None
        if self.kind == "minmax":
            shift, span = x.min(axis=axis), x.max(axis=axis) - x.min(axis=axis)
        else:
            shift, span = x.mean(axis=axis), x.std(axis=axis)
        conv = np.asarray if self.per_feature else float
        self.shift_, self.scale_ = conv(shift), conv(np.where(span > 0, span, 1.0))
        return self

    def _check(self):
        if not hasattr(self, "shift_"):
            raise ValueError("scaler is not fitted: call fit(x) first")

    def transform(self, x):
        self._check()
        return ((np.asarray(x, dtype=np.float64) - self.shift_) / self.scale_).astype(np.float32)

    def fit_transform(self, x):
        return self.fit(x).transform(x)

    def inverse_transform(self, z):
        self._check()
        return np.asarray(z, dtype=np.float64) * self.scale_ + self.shift_

    def state_dict(self) -> dict:
        """The fitted state, ``{"kind", "per_feature", "shift", "scale"}``; inverse of
        :meth:`~hepsig_tutorial.data.Scaler.from_state` (how a saved network stores its scaler)."""
        self._check()
        return {"kind": self.kind, "per_feature": self.per_feature, "shift": self.shift_, "scale": self.scale_}

    @classmethod
    def from_state(cls, state: dict) -> "Scaler":
        """Inverse of :meth:`~hepsig_tutorial.data.Scaler.state_dict`; also reads ``{"min", "scale"}``, the
        global min-max state of networks saved before the scalers were merged (e.g. the shipped DDP network)."""
        if "min" in state:
            state = {"kind": "minmax", "per_feature": False, "shift": state["min"], "scale": state["scale"]}
        out = cls(state["kind"], state["per_feature"])
        conv = np.asarray if out.per_feature else float
        out.shift_, out.scale_ = conv(state["shift"]), conv(state["scale"])
        return out

    def __repr__(self):
        args = f"{self.kind!r}, per_feature={self.per_feature}"
        if not hasattr(self, "shift_") or self.per_feature:
            return f"Scaler({args})"
        return f"Scaler({args}; shift={self.shift_:.6g}, scale={self.scale_:.6g})"


from . import belle, gauss2d, problems, stop  # noqa: E402,F401
from .belle import *  # noqa: E402,F401,F403
from .gauss2d import *  # noqa: E402,F401,F403
from .sample import Sample  # noqa: E402
from .stop import *  # noqa: E402,F401,F403

__all__ += belle.__all__ + stop.__all__ + gauss2d.__all__
