"""A module imported on first use: keeps ``import hepsig_tutorial`` cheap (issue 19, ``benchmarks/bench_import.py``).

``sc = lazy_module("scipy.special")`` at the top of a module, then ``sc.gammaln(...)`` as usual: SciPy's
special functions cost about 0.25 s to import, which a script that only builds a loss should not pay.
"""

from __future__ import annotations

import importlib

__all__ = ["lazy_module"]


class lazy_module:  # noqa: N801 (used like a module)
    """Stands for the module ``name``; the first attribute access imports it."""

    def __init__(self, name: str):
        self._name, self._module = name, None

    def __getattr__(self, attr):
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)

    def __repr__(self):
        return f"<lazy module {self._name!r}>"
