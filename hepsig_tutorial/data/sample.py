"""One container for simulated events, with one stratified split (every toy of the book).

A :class:`Sample` holds features ``x``, labels ``y`` (1 signal, 0 background), weights ``w`` (expected events
per simulated event at the analysis luminosity) and ``extras``, a dict of other per-event arrays (background
``process``, the signal ``mass_index``, M²_rec, …). :meth:`Sample.split` divides it into training, validation
and test parts, stratified, with the weights rescaled so that every part predicts the full expected yields.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .._validate import integer, number, require

__all__ = ["Sample"]


@dataclass(eq=False)
class Sample:
    """Simulated events ``(x, y, w, extras)``.

    Attributes
    ----------
    x : (N, F) array
        Features.
    y : (N,) array
        1 for signal, 0 for background.
    w : (N,) float array
        Expected events per simulated event: Σ w over a class is its expected yield (punzi-loss.txt
        Eqs. 10-11 for the Belle II-like toy).
    extras : dict of (N, ...) arrays
        Other per-event arrays, also readable as attributes (``sample.process`` is
        ``sample.extras["process"]``). ``process`` (0 signal, 1, 2, … the background processes), if
        present, stratifies :meth:`split`.
    """

    x: np.ndarray
    y: np.ndarray
    w: np.ndarray
    extras: dict = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.y)
        for name, a in (("x", self.x), ("w", self.w), *self.extras.items()):
            if a is not None and len(a) != n:
                raise ValueError(f"{name} must have one entry per event ({n}), got {len(a)}")

    def __len__(self):
        return len(self.y)

    def __getattr__(self, name):
        extras = self.__dict__.get("extras", {})
        if name in extras:
            return extras[name]
        raise AttributeError(f"{type(self).__name__!r} has no attribute or extra {name!r}")

    def subset(self, idx) -> "Sample":
        """The selected events (indices or a boolean mask), weights unchanged."""
        idx = np.asarray(idx)
        require(idx.dtype != bool or idx.shape == (len(self),),
                f"idx: boolean mask must have length {len(self)}, got {idx.shape}")
        return replace(self, x=self.x[idx], y=self.y[idx], w=self.w[idx],
                       extras={k: None if v is None else v[idx] for k, v in self.extras.items()})

    def strata(self) -> np.ndarray:
        """Integer stratum of every event for :meth:`split`: −1 for signal, else the background ``process``
        (0 when the sample has no ``process``)."""
        process = self.extras.get("process")
        return np.where(self.y == 1, -1, 0 if process is None else process)

    def split(self, fractions=(0.5, 0.5), *, seed: int = 0) -> tuple:
        """Stratified random split into parts with the given ``fractions`` (e.g. ``(train, test)`` or
        ``(train, val, test)``; they must sum to 1).

        Within each stratum (:meth:`strata`) the events are permuted with ``np.random.default_rng(seed)``;
        the *last* part takes the first round(fraction × n) of them, the part before it the next, and the
        first part the rest. Every part of a stratum with at least as many events as there are parts gets one.
        Each weight is multiplied by W/W_part, the weight sum of its stratum in the whole sample over that in the
        part (N/N_part when a stratum's weights are equal), so each part predicts the full expected yield of every
        stratum (punzi-loss.txt, Sec. 4, when a subset is used to compute the loss).

        Returns
        -------
        tuple of :class:`Sample`, in the order of ``fractions``.
        """
        fr = [number("fractions", f, low=0, high=1, low_open=True) for f in np.atleast_1d(fractions)]
        require(len(fr) >= 2 and abs(sum(fr) - 1) < 1e-9,
                f"fractions must be two or more numbers in (0, 1] summing to 1, got {fractions!r}")
        rng = np.random.default_rng(integer("seed", seed))
        groups, inv = np.unique(self.strata(), return_inverse=True)
        part = np.zeros(len(self), dtype=np.int64)
        for g in range(len(groups)):
            members = rng.permutation(np.flatnonzero(inv == g))
            n, start = len(members), 0
            for k in range(len(fr) - 1, 0, -1):
                take = int(round(fr[k] * n))
                if n >= len(fr):
                    take = min(max(take, 1), n - start - k)
                take = min(take, n - start)
                part[members[start:start + take]] = k
                start += take
        # weight sums per stratum in the whole sample and per (part, stratum); each event scaled by their ratio
        total = np.bincount(inv, weights=self.w, minlength=len(groups))
        in_part = np.bincount(part * len(groups) + inv, weights=self.w, minlength=len(fr) * len(groups))
        in_part = in_part.reshape(len(fr), len(groups))
        scale = np.divide(total, in_part, out=np.ones(in_part.shape), where=in_part > 0)
        scaled = replace(self, w=self.w * scale[part, inv])
        return tuple(self._part(scaled.subset(part == k), part == k) for k in range(len(fr)))

    def _part(self, sub: "Sample", mask: np.ndarray) -> "Sample":
        """Hook for subclasses whose metadata depends on the part (``mask`` selects its events)."""
        return sub
