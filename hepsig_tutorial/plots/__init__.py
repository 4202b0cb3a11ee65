"""Figures. The core helpers live here; each chapter's plotting functions live in a submodule
(``plots.counting`` for Chapter 1, ...) and are re-exported, so a notebook just calls
``ht.plots.<name>``.

Every result figure carries a small stamp saying which mode (FAST or FULL) produced it.
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt

from .._version import __version__
from ..config import mode

__all__ = ["stamp", "mode_label", "use_style", "CMAP", "COLORS"]

#: Perceptually uniform colour map that stays readable in greyscale.
CMAP = "viridis"
#: Colour-blind-safe qualitative colours (Okabe-Ito), used for the methods throughout the book.
COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]


def mode_label() -> str:
    """Text of the stamp, e.g. ``"FAST mode · hepsig_tutorial 0.1.0"``."""
    return f"{mode().upper()} mode · hepsig_tutorial {__version__}"


def stamp(fig=None, *, loc: str = "lower right"):
    """Write the mode stamp into a corner of ``fig`` (default: the current figure); return ``fig``."""
    fig = plt.gcf() if fig is None else fig
    x, ha = (0.995, "right") if "right" in loc else (0.005, "left")
    y, va = (0.005, "bottom") if "lower" in loc else (0.995, "top")
    fig.text(x, y, mode_label(), ha=ha, va=va, fontsize=7, color="0.35", alpha=0.9)
    return fig


def use_style() -> None:
    """The book's matplotlib defaults (readable sizes, colour-blind-safe cycle, tight layout)."""
    mpl.rcParams.update(
        {
            "figure.figsize": (6.4, 4.0),
            "figure.dpi": 100,
            "savefig.dpi": 120,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.prop_cycle": mpl.cycler(color=COLORS),
            "image.cmap": CMAP,
            "figure.constrained_layout.use": True,
            "legend.frameon": False,
        }
    )


from .counting import *  # noqa: E402,F401,F403
from .counting import __all__ as _counting  # noqa: E402
from .belle import *  # noqa: E402,F401,F403
from .belle import __all__ as _belle  # noqa: E402
from .punzi import *  # noqa: E402,F401,F403
from .punzi import __all__ as _punzi  # noqa: E402
from .batchsize import *  # noqa: E402,F401,F403
from .batchsize import __all__ as _batchsize  # noqa: E402
from .asimov import *  # noqa: E402,F401,F403
from .asimov import __all__ as _asimov  # noqa: E402
from .lovasz import *  # noqa: E402,F401,F403
from .lovasz import __all__ as _lovasz  # noqa: E402
from .ddp import *  # noqa: E402,F401,F403
from .ddp import __all__ as _ddp  # noqa: E402
from .capstone import *  # noqa: E402,F401,F403
from .capstone import __all__ as _capstone  # noqa: E402

__all__ += _counting + _belle + _punzi + _batchsize + _asimov + _lovasz + _ddp + _capstone
