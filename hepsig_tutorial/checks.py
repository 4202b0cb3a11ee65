"""Assertions for the numbers a chapter claims, and the glue that puts them into the prose.

Every number the text of a chapter states is computed in a code cell, inserted into the markdown with
:func:`glue` (``{glue:text}`name:.2f``` in the text), and every qualitative claim about it ("A beats B",
"between", "reproduces") is asserted with one of the ``check_*`` helpers in a cell that the book hides
(tag ``remove-input``). A check prints nothing; if a change to the package, a seed or the machine moves a
claim outside its tolerance, the notebook stops with a readable :class:`ClaimDrift`, so CI fails instead of
the book silently saying something false.

FAST and FULL
-------------
A claim measured on FAST-mode samples need not hold at the papers' scale. Every check therefore says what
it expects in FULL mode with the keyword ``full``:

``full="same"``
    the claim does not depend on the sample size (an identity, an analytic result, a property that
    holds for any size);
``full=<expectation>``
    the FULL-mode expectation (``check_close``: a number, or ``dict(expected=..., rtol=..., atol=...)``;
    ``check_between``: ``(low, high)``). Where nobody has run FULL yet, this is the paper's number with the
    paper's stated precision, and the chapter says "not yet observed";
``full="skip"``
    not asserted in FULL mode (the text must say the claim is a FAST-mode observation).

A test (``tests/test_notebook_claims.py``) fails when a notebook calls a check without ``full``.
"""

from __future__ import annotations

import math

import numpy as np

from ._validate import require
from .config import mode

__all__ = ["ClaimDrift", "check_close", "check_between", "check_true", "glue", "GLUED"]

#: Every value given to :func:`glue` in this kernel, by name (also where myst-nb is not installed).
GLUED: dict = {}

_FULL_WORDS = ("same", "skip")


class ClaimDrift(AssertionError):
    """A number that a chapter's text claims is no longer what the code computes."""


def glue(name: str, value, *, display: bool = False):
    """Store ``value`` under ``name`` for the prose: ``{glue:text}`name:.3g``` in a markdown cell.

    Uses myst-nb's ``glue`` when it is installed (the book build, ``make test``); elsewhere (Colab, a bare
    kernel) the value is only kept in :data:`GLUED`. Tensors and NumPy scalars become Python numbers, so
    the format spec of ``{glue:text}`` applies. Returns nothing (a glue cell shows nothing).
    """
    require(isinstance(name, str) and name.replace("_", "").replace("-", "").isalnum(),
            f"name must be a non-empty identifier-like string, got {name!r}")
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    if getattr(value, "ndim", None) == 0 or (hasattr(value, "numel") and value.numel() == 1):  # NumPy/torch scalars
        value = value.item()
    GLUED[name] = value
    try:
        from myst_nb import glue as _myst_glue
    except ImportError:  # Colab or a bare kernel: the markdown shows the role, the value is in GLUED
        return
    _myst_glue(name, value, display=display)


def _as_float(value, name):
    try:
        out = float(np.asarray(value.detach().cpu() if hasattr(value, "detach") else value))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: value must be a scalar number, got {value!r}") from exc
    if math.isnan(out):
        raise ClaimDrift(f"{name}: computed value is NaN ({mode().upper()} mode)")
    return out


def _full(full, allowed_kinds, fn):
    """The checked ``full`` in force now: ``"skip"`` or a FULL-mode expectation in FULL mode, else ``None``."""
    if not (full is None or (isinstance(full, str) and full in _FULL_WORDS)):
        require(not isinstance(full, str) and isinstance(full, allowed_kinds),
                f"{fn}: full must be 'same', 'skip' or a FULL-mode expectation, got {full!r}")
    return full if mode() == "full" and full != "same" else None


def check_close(name: str, value, expected: float, *, rtol: float = 0.0, atol: float = 0.0, full=None) -> None:
    """Raise :class:`ClaimDrift` unless ``|value - expected| <= atol + rtol*|expected|``.

    ``full``: see the module docstring; a number replaces ``expected`` in FULL mode (same tolerances), a
    dict may also replace ``rtol``/``atol``.
    """
    full = _full(full, (int, float, np.integer, np.floating, dict), "check_close")
    if full == "skip":
        return
    if full is not None:
        spec = dict(full) if isinstance(full, dict) else {"expected": full}
        require(set(spec) <= {"expected", "rtol", "atol"} and "expected" in spec,
                f"check_close: full dict needs 'expected' (and optionally rtol/atol), got {full!r}")
        expected, rtol, atol = spec["expected"], spec.get("rtol", rtol), spec.get("atol", atol)
    require(rtol >= 0 and atol >= 0 and rtol + atol > 0, "check_close needs a positive tolerance: give rtol or atol")
    v = _as_float(value, name)
    tol = atol + rtol * abs(expected)
    if not abs(v - expected) <= tol:
        raise ClaimDrift(
            f"The text claims {name} = {expected:g} (± {tol:.3g}), but the code now gives {v:.6g} "
            f"({mode().upper()} mode). Update the chapter's text or investigate the change."
        )


def check_between(name: str, value, low: float, high: float, *, full=None) -> None:
    """Raise :class:`ClaimDrift` unless ``low <= value <= high``.

    ``full``: see the module docstring; a pair ``(low, high)`` replaces the range in FULL mode.
    """
    full = _full(full, (tuple, list), "check_between")
    if full == "skip":
        return
    if full is not None:
        require(len(full) == 2, f"check_between: full must be a (low, high) pair, got {full!r}")
        low, high = full
    require(low <= high, f"check_between: low ({low}) must not exceed high ({high})")
    v = _as_float(value, name)
    if not low <= v <= high:
        raise ClaimDrift(
            f"The text claims {name} lies in [{low:g}, {high:g}], but the code now gives {v:.6g} "
            f"({mode().upper()} mode). Update the chapter's text or investigate the change."
        )


def check_true(name: str, condition, detail: str = "", *, full=None) -> None:
    """Raise :class:`ClaimDrift` unless ``condition`` is true (e.g. an ordering claimed in the text).

    ``full``: ``"same"`` (asserted in both modes) or ``"skip"`` (a FAST-mode observation only).
    """
    if _full(full, (), "check_true") != "skip" and not bool(condition):
        extra = f": {detail}" if detail else ""
        raise ClaimDrift(f"The text claims {name}, but it no longer holds ({mode().upper()} mode){extra}")
