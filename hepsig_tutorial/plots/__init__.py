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

__all__ = ["stamp", "mode_label", "use_style", "CMAP", "COLORS", "STAMP_FONTSIZE"]

#: Perceptually uniform colour map that stays readable in greyscale.
CMAP = "viridis"
#: Colour-blind-safe qualitative colours (Okabe-Ito), used for the methods throughout the book.
COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]


def mode_label() -> str:
    """Text of the stamp, e.g. ``"FAST mode · hepsig_tutorial 0.1.0"``."""
    return f"{mode().upper()} mode · hepsig_tutorial {__version__}"


#: Font size of the stamp (points) and the height of the strip reserved for it below the figure.
STAMP_FONTSIZE = 7
_STAMP_STRIP_PT = 2.0 * STAMP_FONTSIZE


def stamp(fig=None, *, loc: str = "lower right"):
    """Write the mode stamp below ``fig`` (default: the current figure); return ``fig``.

    The stamp gets a strip of its own: the figure grows by ~0.2 inch at the bottom and the plot is
    laid out above it (the constrained/tight layout engine is told to keep the strip free; without a
    layout engine the axes are moved up), so the stamp can never cover an axis or tick label.
    ``loc`` picks the left or right corner ("lower left", "lower right"). A second call is a no-op.
    """
    from matplotlib.layout_engine import ConstrainedLayoutEngine, TightLayoutEngine

    fig = plt.gcf() if fig is None else fig
    if getattr(fig, "_hepsig_stamp", None) is not None:
        return fig
    if not any(side in loc for side in ("left", "right")):
        raise ValueError(f"loc must be 'lower left' or 'lower right', got {loc!r}")
    strip = _STAMP_STRIP_PT / 72.0
    height = fig.get_figheight()
    frac = strip / (height + strip)
    engine = fig.get_layout_engine()
    fig.set_figheight(height + strip)
    if isinstance(engine, ConstrainedLayoutEngine):
        x0, y0, w, h = engine.get().get("rect", (0, 0, 1, 1))
        engine.set(rect=(x0, frac + y0 * (1 - frac), w, h * (1 - frac)))
    elif isinstance(engine, TightLayoutEngine):
        x0, y0, x1, y1 = engine.get().get("rect", (0, 0, 1, 1)) or (0, 0, 1, 1)
        engine.set(rect=(x0, frac + y0 * (1 - frac), x1, frac + y1 * (1 - frac)))
    else:  # no layout engine: keep every axes where it was (in inches) above the new strip
        for ax in fig.axes:
            pos = ax.get_position()
            ax.set_position([pos.x0, frac + pos.y0 * (1 - frac), pos.width, pos.height * (1 - frac)])
        for text in fig.texts:
            x, y = text.get_position()
            text.set_position((x, frac + y * (1 - frac)))
    x, ha = (0.995, "right") if "right" in loc else (0.005, "left")
    fig._hepsig_stamp = fig.text(x, frac * 0.45, mode_label(), ha=ha, va="center", fontsize=STAMP_FONTSIZE,
                                 color="0.35", alpha=0.9)
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
from .curves import *  # noqa: E402,F401,F403
from .curves import __all__ as _curves  # noqa: E402

__all__ += _counting + _belle + _punzi + _batchsize + _asimov + _lovasz + _ddp + _capstone + _curves
