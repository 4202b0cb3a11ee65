"""Sliders that work in a live notebook *and* in the static HTML book.

Every chapter uses one call::

    ht.widgets.sliders(ht.plots.plot_punzi,
                       a=ht.widgets.float_slider(3.0, 1.0, 5.0, 0.1, "a (discovery σ)"),
                       B=ht.widgets.log_slider(5.0, 0.01, 1e4, "background B"))

The cell's result carries two representations of the same thing:

* **live** (JupyterLab, Notebook 7, Colab, Binder): the ipywidgets controls with an output area that
  shows the default figure at once and redraws it whenever a slider moves;
* **static** (the HTML book, where no kernel runs): the same controls as HTML range inputs and a set of
  figures precomputed when the notebook was executed -- one frame set per slider, the other sliders at
  their defaults. ``book/_static/hepsig-sliders.js`` (shipped with the book, works offline) swaps the
  frames; the book prefers this representation (``book/_ext/hepsig_book.py`` sets myst-nb's
  ``nb_mime_priority_overrides``).

How many frames each slider gets is set by the time one figure takes: one call draws frames for about
:data:`FRAME_BUDGET_S` seconds of CPU time (CPU, not wall time, so a busy machine draws the same
frames), round-robin over its sliders with the ends of each slider first, at most :data:`MAX_FRAMES`
values per slider, the default always included. ``static_frames_per_slider=N`` draws exactly N per
slider whatever it costs; ``static_budget_s`` changes the budget. A figure that takes longer than the
budget gets its default frame only (its static slider is then disabled).

The plotting functions themselves live in the chapter submodules of :mod:`hepsig_tutorial.plots`.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import json
import math
import os
import time

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["sliders", "float_slider", "log_slider", "int_slider", "frame_values", "render_frame", "static_frames",
           "FRAME_BUDGET_S", "MAX_FRAMES", "FRAME_DPI"]

#: CPU seconds of plotting one ``sliders`` call may spend on its static frames (FAST and FULL alike).
FRAME_BUDGET_S = 6.0
#: At most this many values per slider in the static book (the default value is always one of them).
MAX_FRAMES = 9
#: Resolution of the static frames (the book's images are 120 dpi; frames are many, so smaller).
FRAME_DPI = 80


# --------------------------------------------------------------------------- controls
def float_slider(value, min, max, step=None, description=""):
    """A labelled ``FloatSlider`` (continuous update off, so a drag redraws once)."""
    import ipywidgets as w

    step = (max - min) / 100 if step is None else step
    return w.FloatSlider(value=value, min=min, max=max, step=step, description=description,
                         continuous_update=False, readout_format=".3g",
                         style={"description_width": "initial"})


def log_slider(value, min, max, description=""):
    """A ``FloatLogSlider`` between ``min`` and ``max`` (both > 0)."""
    import ipywidgets as w

    if not 0 < min < max:
        raise ValueError(f"log_slider needs 0 < min < max, got min={min}, max={max}")
    return w.FloatLogSlider(value=value, base=10, min=math.log10(min), max=math.log10(max), step=0.02,
                            description=description, continuous_update=False, readout_format=".3g",
                            style={"description_width": "initial"})


def int_slider(value, min, max, step=1, description=""):
    """A labelled ``IntSlider``."""
    import ipywidgets as w

    return w.IntSlider(value=value, min=min, max=max, step=step, description=description,
                       continuous_update=False, style={"description_width": "initial"})


def _kind(control) -> str:
    import ipywidgets as w

    if isinstance(control, w.FloatLogSlider):
        return "log"
    if isinstance(control, (w.FloatSlider, w.BoundedFloatText)):
        return "float"
    if isinstance(control, (w.IntSlider, w.BoundedIntText)):
        return "int"
    if hasattr(control, "options") and hasattr(control, "index"):
        return "options"
    if isinstance(control, (w.Checkbox, w.ToggleButton)):
        return "bool"
    return "fixed"


def _readout(control, value) -> str:
    """The text the live slider shows next to its handle (``.3g`` for float sliders)."""
    kind = _kind(control)
    if kind in ("log", "float"):
        fmt = getattr(control, "readout_format", ".3g") or ".3g"
        return format(float(value), fmt)
    if kind == "int":
        return str(int(value))
    if kind == "options":
        for label, val in zip(control._options_labels, control._options_values):
            if val is value or val == value:
                return str(label)
    return str(value)


def _grid_with(lo: float, hi: float, at: float, n: int) -> np.ndarray:
    """About ``n`` points from ``lo`` to ``hi``, evenly spaced on each side of ``at`` (one of them)."""
    if n < 2 or hi <= lo:
        return np.array([at])
    m = n - 1
    k = int(round(m * (at - lo) / (hi - lo)))
    k = min(max(k, 1 if at > lo else 0), m - 1 if at < hi else m)
    left = np.linspace(lo, at, k + 1) if k > 0 else np.array([at])
    right = np.linspace(at, hi, m - k + 1) if m - k > 0 else np.array([at])
    return np.concatenate([left, right[1:]])


def frame_values(control, n: int) -> list:
    """The values at which the static book shows a frame for ``control``: about ``n`` positions of the
    slider, evenly spaced (in log for a log slider) on each side of its current (default) value, which
    is always one of them, snapped to the slider's step; all options of a dropdown (at most ``n``)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    kind = _kind(control)
    default = control.value
    if kind == "log":
        lo, hi, step = float(control.min), float(control.max), float(control.step) or 0.02
        at = min(max(math.log(float(default), float(control.base)), lo), hi)
        exps = _grid_with(lo, hi, at, n)
        vals = [default if np.isclose(e, at) else
                float(control.base) ** float(min(hi, lo + round((e - lo) / step) * step)) for e in exps]
    elif kind == "float":
        lo, hi, step = float(control.min), float(control.max), float(control.step or 0)
        grid = _grid_with(lo, hi, min(max(float(default), lo), hi), n)
        vals = [default if np.isclose(v, default) else
                (float(min(hi, lo + round((v - lo) / step) * step)) if step > 0 else float(v)) for v in grid]
    elif kind == "int":
        grid = _grid_with(float(control.min), float(control.max), float(default), n)
        vals = [int(round(v)) for v in grid]
    elif kind == "options":
        vals = list(control._options_values)
        if len(vals) > n:
            keep = sorted({int(round(i)) for i in np.linspace(0, len(vals) - 1, n)} | {control.index})
            vals = [vals[i] for i in keep]
        return vals
    elif kind == "bool":
        return [False, True]
    else:
        return [default]
    out = []
    for v in sorted(vals):
        if not out or not np.isclose(v, out[-1], rtol=1e-9, atol=0):
            out.append(v)
    if not any(np.isclose(v, default, rtol=1e-12, atol=0) for v in out):
        out = sorted(out + [default])
    return [int(v) for v in out] if kind == "int" else out


# --------------------------------------------------------------------------- frames
def _figure_of(result):
    from matplotlib.figure import Figure

    if isinstance(result, Figure):
        return result
    fig = getattr(result, "figure", None) or getattr(result, "fig", None)
    return fig if isinstance(fig, Figure) else plt.gcf()


def render_frame(plot_fn, kwargs: dict, *, dpi: int = FRAME_DPI) -> bytes:
    """Draw ``plot_fn(**kwargs)`` off screen and return the figure as PNG bytes (256-colour palette).

    Figures opened by ``plot_fn`` are closed, so nothing reaches the cell's output; ``plt.show`` inside
    ``plot_fn`` is a no-op while the frame is drawn.
    """
    before = set(plt.get_fignums())
    show = plt.show
    plt.show = lambda *a, **k: None
    try:
        fig = _figure_of(plot_fn(**kwargs))
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.show = show
        for num in set(plt.get_fignums()) - before:
            plt.close(num)
    try:  # a palette PNG is ~3x smaller and looks the same for line plots and colour maps
        from PIL import Image

        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB").quantize(colors=256, method=Image.FASTOCTREE)
        small = io.BytesIO()
        img.save(small, format="PNG", optimize=True)
        if small.tell() < buf.tell():
            return small.getvalue()
    except Exception:  # noqa: BLE001 - Pillow missing or unusual image: keep the plain PNG
        pass
    return buf.getvalue()


def _same(control, a, b) -> bool:
    if _kind(control) in ("log", "float", "int"):
        return bool(np.isclose(float(a), float(b), rtol=1e-12, atol=0))
    return a is b or a == b


def _bisection_order(n: int) -> list[int]:
    """Indices 0..n-1, coarse to fine: both ends, the middle, the quarters, ..."""
    if n <= 0:
        return []
    order, seen = [], set()
    queue = [(0, n - 1)]
    for i in (0, n - 1):
        if i not in seen:
            seen.add(i)
            order.append(i)
    while queue:
        lo, hi = queue.pop(0)
        if hi - lo < 2:
            continue
        mid = (lo + hi) // 2
        if mid not in seen:
            seen.add(mid)
            order.append(mid)
        queue += [(lo, mid), (mid, hi)]
    return order


def _max_frames(fixed: int | None) -> int:
    if fixed is not None:
        if int(fixed) < 1:
            raise ValueError(f"static_frames_per_slider must be >= 1, got {fixed}")
        return int(fixed)
    env = os.environ.get("HEPSIG_SLIDER_FRAMES", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"HEPSIG_SLIDER_FRAMES must be a positive integer, got {env!r}")
        return int(env)
    return MAX_FRAMES


def static_frames(plot_fn, controls: dict, *, n: int | None = None, budget: float = FRAME_BUDGET_S,
                  dpi: int = FRAME_DPI) -> dict:
    """Precompute the static book's frames: one set per control, the others at their defaults.

    Each control gets up to ``n`` values (:func:`frame_values`; default :data:`MAX_FRAMES`, or
    ``$HEPSIG_SLIDER_FRAMES``). Frames are drawn round-robin over the controls, coarse to fine (the
    ends of every slider first, then the middles, ...), until ``budget`` seconds are spent; with ``n``
    given explicitly all ``n`` values are drawn whatever the time. Values without a frame are dropped.

    Returns ``{"frames": [base64 PNG, ...], "controls": [{"name", "label", "values", "readouts",
    "frames", "default"}, ...], "seconds": ...}``; ``frames`` of a control indexes the shared frame list
    (the default figure, frame 0, is drawn once and shared by all controls).
    """
    explicit = n is not None
    n = _max_frames(n)
    defaults = {name: c.value for name, c in controls.items()}
    t0 = time.process_time()
    frames, index = [render_frame(plot_fn, defaults, dpi=dpi)], {}
    candidates, drawn = {}, {}
    for name, c in controls.items():
        values = frame_values(c, n)
        is_default = [_same(c, v, defaults[name]) for v in values]
        candidates[name] = values
        drawn[name] = {i: 0 for i, d in enumerate(is_default) if d}
    queues = {name: [i for i in _bisection_order(len(v)) if i not in drawn[name]] for name, v in candidates.items()}
    while any(queues.values()):
        for name in controls:
            if not queues[name]:
                continue
            if not explicit and time.process_time() - t0 > budget:
                queues = {k: [] for k in queues}
                break
            i = queues[name].pop(0)
            png = render_frame(plot_fn, {**defaults, name: candidates[name][i]}, dpi=dpi)
            if png not in index:
                index[png] = len(frames)
                frames.append(png)
            drawn[name][i] = index[png]
    spec = []
    for name, c in controls.items():
        keep = sorted(drawn[name])
        values = [candidates[name][i] for i in keep]
        ids = [drawn[name][i] for i in keep]
        spec.append({
            "name": name,
            "label": getattr(c, "description", "") or name,
            "values": [v if isinstance(v, (int, float, str, bool)) else str(v) for v in values],
            "readouts": [_readout(c, v) for v in values],
            "frames": ids,
            "default": ids.index(0) if 0 in ids else 0,
        })
    return {"frames": [base64.b64encode(f).decode("ascii") for f in frames], "controls": spec,
            "seconds": round(time.process_time() - t0, 3)}


def static_html(data: dict, alt: str) -> str:
    """The static representation: HTML range inputs, the default frame, and the frames as JSON."""
    rows = []
    for k, c in enumerate(data["controls"]):
        label = html.escape(c["label"])
        rows.append(
            f'<label class="hepsig-slider"><span class="hepsig-slider-label">{label}</span>'
            f'<input type="range" min="0" max="{len(c["values"]) - 1}" step="1" value="{c["default"]}" '
            f'data-control="{k}" aria-label="{label}" {"disabled" if len(c["values"]) < 2 else ""}>'
            f'<output class="hepsig-slider-readout">{html.escape(c["readouts"][c["default"]])}</output></label>')
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return (
        '<div class="hepsig-sliders">'
        f'<div class="hepsig-sliders-controls">{"".join(rows)}</div>'
        f'<img class="hepsig-sliders-frame" data-frame="0" alt="{html.escape(alt)}" '
        f'src="data:image/png;base64,{data["frames"][0]}">'
        '<p class="hepsig-sliders-note">Precomputed figures: one slider moves at a time, the others '
        'return to their defaults. Run the notebook (Binder, Colab or locally) for live sliders.</p>'
        f'<script type="application/json" class="hepsig-sliders-data">{payload}</script>'
        '</div>')


# --------------------------------------------------------------------------- the widget
@functools.lru_cache(maxsize=None)
def _box_class():
    import ipywidgets as w

    class Sliders(w.VBox):
        """The live controls + output; its display also carries the static HTML (``text/html``)."""

        def _bundle(self):
            data = {"text/plain": f"<sliders for {self._hepsig_name}: run the notebook to use them>"}
            if getattr(self, "_view_name", None) is not None:
                data["application/vnd.jupyter.widget-view+json"] = {
                    "version_major": 2, "version_minor": 0, "model_id": self.model_id}
            data["text/html"] = self._hepsig_html
            return data

        def _repr_mimebundle_(self, **kwargs):  # ipywidgets 8
            return self._bundle()

        def _ipython_display_(self, **kwargs):  # ipywidgets 7 displays widgets through this hook
            from IPython.display import display

            display(self._bundle(), raw=True)
            handler = getattr(self, "_handle_displayed", None)
            if handler is not None:
                handler(**kwargs)

    return Sliders


def sliders(plot_fn, *, static_frames_per_slider: int | None = None, static_budget_s: float = FRAME_BUDGET_S,
            **controls):
    """Attach ipywidgets controls to ``plot_fn``: live sliders in a kernel, precomputed ones in the book.

    Parameters
    ----------
    plot_fn : callable
        Plotting function taking the controls' names as keyword arguments; it draws one figure (and may
        return it).
    static_frames_per_slider : int, optional
        Draw exactly this many values per control for the static book, whatever the time (default: as
        many as ``static_budget_s`` allows, at most :data:`MAX_FRAMES`; ``$HEPSIG_SLIDER_FRAMES``
        changes that maximum).
    static_budget_s : float
        Seconds of plotting this call may spend on static frames.
    **controls : ipywidgets.ValueWidget
        One widget per keyword argument of ``plot_fn`` (see :func:`float_slider`, :func:`log_slider`,
        :func:`int_slider`; a ``Dropdown`` works too).

    Returns
    -------
    ipywidgets.VBox
        Controls on top, the figure below (shown at once, redrawn when a control moves). Its display
        also carries ``text/html``: the static controls and frames used by the HTML book.
    """
    import ipywidgets as w
    from IPython.display import Image

    if not callable(plot_fn):
        raise ValueError("plot_fn must be callable")
    if not controls:
        raise ValueError("sliders needs at least one control")
    for name, c in controls.items():
        if not isinstance(c, w.ValueWidget) and not hasattr(c, "value"):
            raise ValueError(f"control {name!r} must be an ipywidgets value widget, got {type(c).__name__}")
    if static_budget_s <= 0:
        raise ValueError(f"static_budget_s must be > 0, got {static_budget_s}")

    data = static_frames(plot_fn, controls, n=static_frames_per_slider, budget=static_budget_s)
    name = getattr(plot_fn, "__name__", "<lambda>")
    labels = ", ".join(c["label"] for c in data["controls"])
    alt = (f"Figure of {name} " if name.isidentifier() else "Figure ") + f"with sliders for {labels} (precomputed)"
    out = w.Output()
    # the default figure, at once (no redraw needed: it is the first static frame)
    dpi = plt.rcParams.get("figure.dpi", 100)
    first = base64.b64decode(data["frames"][0])
    try:
        from PIL import Image as _PIL

        width = int(_PIL.open(io.BytesIO(first)).size[0] * dpi / FRAME_DPI)
    except Exception:  # noqa: BLE001
        width = None
    out.append_display_data(Image(data=first, format="png", width=width))

    def redraw(_change=None):
        kwargs = {n: c.value for n, c in controls.items()}
        with out:
            out.clear_output(wait=True)
            plot_fn(**kwargs)
            plt.show()

    for c in controls.values():
        c.observe(redraw, names="value")
    items = list(controls.values())
    box = _box_class()([w.HBox(items[:3]), *([w.HBox(items[3:])] if len(items) > 3 else []), out])
    box._hepsig_name = name
    box._hepsig_html = static_html(data, alt)
    box._hepsig_static = data
    box._hepsig_redraw = redraw
    return box
