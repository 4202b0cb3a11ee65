"""Argument checks shared by every module: bad input raises a ``ValueError`` that names the argument.

Each function returns the checked value converted to a plain Python type, so a check reads as one line::

    n_bins = integer("n_bins", n_bins, minimum=2)
    sigma_b_rel = number("sigma_b_rel", sigma_b_rel, low=0)
    kind = choice("kind", kind, ("minmax", "standard"))
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["integer", "number", "choice", "require", "array"]


def integer(name: str, value, minimum: int | None = 0, *, none: bool = False):
    """``int(value)`` if ``value`` is an integer ≥ ``minimum`` (``None`` passes when ``none=True``).

    Booleans are refused; floats with an integer value (``1e6``) are accepted.
    """
    if value is None and none:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) \
        and int(value) == value and (minimum is None or value >= minimum)
    if not ok:
        what = {0: "a non-negative integer", 1: "a positive integer", None: "an integer"}.get(
            minimum, f"an integer ≥ {minimum}")
        raise ValueError(f"{name} must be {what}{' or None' if none else ''}, got {value!r}")
    return int(value)


def number(name: str, value, *, low: float | None = None, high: float | None = None, low_open: bool = False,
           high_open: bool = False, none: bool = False):
    """``float(value)`` if ``value`` is a finite real number in the interval from ``low`` to ``high``.

    The bounds are closed unless ``low_open`` / ``high_open``; ``None`` means unbounded on that side.
    """
    if value is None and none:
        return None
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
          and (low is None or (value > low if low_open else value >= low))
          and (high is None or (value < high if high_open else value <= high)))
    if not ok:
        if low is not None and high is not None:
            where = f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        elif low is not None:
            where = f" {'>' if low_open else '≥'} {low:g}"
        elif high is not None:
            where = f" {'<' if high_open else '≤'} {high:g}"
        else:
            where = ""
        raise ValueError(f"{name} must be a finite number{where}{' or None' if none else ''}, got {value!r}")
    return float(value)


def choice(name: str, value, options):
    """``value`` if it is one of ``options``."""
    if value not in tuple(options):
        raise ValueError(f"{name} must be one of {tuple(options)!r}, got {value!r}")
    return value


def require(condition, message: str) -> None:
    """Raise ``ValueError(message)`` unless ``condition`` (a bool or an array: all elements) holds."""
    ok = bool(condition.all()) if hasattr(condition, "all") else bool(condition)
    if not ok:
        raise ValueError(message)


def array(name: str, value, dtype=np.float64, *, ndim: int | None = None, length: int | None = None, finite=False):
    """``value`` (array, list, or tensor on any device) as a NumPy array of ``dtype``.

    ``ndim`` and ``length`` check the number of axes and the length of the first; ``finite=True`` refuses
    NaN and ±inf in a float array, ``finite="nan"`` only NaN.
    """
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        a = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric, got {type(value).__name__}") from exc
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {a.shape}")
    if length is not None and len(a) != length:
        raise ValueError(f"{name} must have length {length}, got {len(a)}")
    if finite and a.dtype.kind == "f" and not (np.isfinite(a) if finite is True else ~np.isnan(a)).all():
        raise ValueError(f"{name} contains NaN{' or inf' if finite is True else ''}")
    return a
