"""Differentiable significance losses: plain functions on tensors (plus thin ``nn.Module`` wrappers).

Each loss lives in a submodule and is re-exported here:

* :mod:`.punzi` -- the Punzi loss (punzi-loss.txt, Eqs. 10-12), Chapter 3;
* :mod:`.significance` -- ℓ_s/√(s+b) and ℓ_Asimov (significance-asimov-losses.txt, Eqs. 4.1-4.6), Chapter 5;
* :mod:`.lovasz` -- the Lovász Z-score loss (lovasz-z-score-loss.txt), Chapter 6.
"""

from __future__ import annotations

__all__: list[str] = []

from .lovasz import *  # noqa: E402,F401,F403
from .lovasz import __all__ as _lovasz  # noqa: E402
from .punzi import *  # noqa: E402,F401,F403
from .punzi import __all__ as _punzi  # noqa: E402
from .significance import *  # noqa: E402,F401,F403
from .significance import __all__ as _significance  # noqa: E402

__all__ += _punzi + _significance + _lovasz
