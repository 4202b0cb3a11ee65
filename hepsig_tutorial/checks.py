"""Assertions for the numbers a chapter claims.

Every number the text of a chapter states is followed by a call to one of these helpers. If a
change to the package or to a seed moves the number outside its tolerance, the notebook stops with
a readable message, so CI fails instead of the book silently saying something false.
"""

from __future__ import annotations

import math

import numpy as np

from .config import mode

__all__ = ["ClaimDrift", "check_close", "check_between", "check_true"]


class ClaimDrift(AssertionError):
    """A number that a chapter's text claims is no longer what the code computes."""


def _as_float(value, name):
    try:
        out = float(np.asarray(value.detach().cpu() if hasattr(value, "detach") else value))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: value must be a scalar number, got {value!r}") from exc
    if math.isnan(out):
        raise ClaimDrift(f"{name}: computed value is NaN ({mode().upper()} mode)")
    return out


def check_close(name: str, value, expected: float, *, rtol: float = 0.0, atol: float = 0.0) -> float:
    """Raise :class:`ClaimDrift` unless ``|value - expected| <= atol + rtol*|expected|``.

    Returns the value as a float so a cell can print it.
    """
    if rtol < 0 or atol < 0 or (rtol == 0 and atol == 0):
        raise ValueError("check_close needs a positive tolerance: give rtol or atol")
    v = _as_float(value, name)
    tol = atol + rtol * abs(expected)
    if not abs(v - expected) <= tol:
        raise ClaimDrift(
            f"The text claims {name} = {expected:g} (± {tol:.3g}), but the code now gives {v:.6g} "
            f"({mode().upper()} mode). Update the chapter's text or investigate the change."
        )
    return v


def check_between(name: str, value, low: float, high: float) -> float:
    """Raise :class:`ClaimDrift` unless ``low <= value <= high``; return the value."""
    if not low <= high:
        raise ValueError(f"check_between: low ({low}) must not exceed high ({high})")
    v = _as_float(value, name)
    if not low <= v <= high:
        raise ClaimDrift(
            f"The text claims {name} lies in [{low:g}, {high:g}], but the code now gives {v:.6g} "
            f"({mode().upper()} mode). Update the chapter's text or investigate the change."
        )
    return v


def check_true(name: str, condition, detail: str = "") -> bool:
    """Raise :class:`ClaimDrift` unless ``condition`` is true (e.g. an ordering claimed in the text)."""
    if not bool(condition):
        extra = f": {detail}" if detail else ""
        raise ClaimDrift(f"The text claims {name}, but it no longer holds ({mode().upper()} mode){extra}")
    return True
