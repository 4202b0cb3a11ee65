"""hepsig_tutorial.widgets: live sliders that show their figure at once, and the static frames of the book."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=True)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hepsig_tutorial import plots, widgets  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _line(slope=1.0, offset=0.0):
    fig, ax = plt.subplots(figsize=(3, 2))
    x = np.linspace(0, 1, 20)
    ax.plot(x, slope * x + offset)
    ax.set_ylim(-3, 3)
    ax.set_title(f"slope = {slope:.3g}")
    return fig


def _controls():
    return {"slope": widgets.float_slider(1.0, -2.0, 2.0, 0.1, "slope"),
            "offset": widgets.log_slider(0.1, 0.01, 1.0, "offset")}


def test_frame_values_snap_to_the_slider_and_include_the_default():
    s = widgets.float_slider(0.2, 0.0, 1.0, 0.01, "x")
    v = widgets.frame_values(s, 9)
    assert 0.2 in v and v[0] == 0.0 and v[-1] == 1.0 and v == sorted(v)
    assert all(abs(round(x / 0.01) * 0.01 - x) < 1e-9 for x in v)
    log = widgets.log_slider(5.0, 0.01, 1e4, "B")
    lv = widgets.frame_values(log, 9)
    assert 5.0 in lv and np.isclose(lv[0], 0.01) and np.isclose(lv[-1], 1e4)
    steps = (np.log10([x for x in lv if x != 5.0]) - np.log10(0.01)) / log.step  # (the default need not be)
    assert np.allclose(steps, np.round(steps), atol=1e-6), "log slider frames must sit on the slider's steps"
    assert len(lv) == 9 and np.all(np.diff(np.log10(lv)) > 0)
    i = widgets.int_slider(3, 0, 9)
    assert widgets.frame_values(i, 4) == [0, 3, 6, 9]
    with pytest.raises(ValueError, match="n must be"):
        widgets.frame_values(s, 0)


def test_static_frames_are_the_figures_drawn_for_those_values():
    data = widgets.static_frames(_line, _controls(), n=3)
    assert [c["name"] for c in data["controls"]] == ["slope", "offset"]
    for c in data["controls"]:
        assert len(c["values"]) == 3 and c["frames"][c["default"]] == 0
        for value, frame in zip(c["values"], c["frames"]):
            kwargs = {"slope": 1.0, "offset": 0.1, c["name"]: value}
            assert base64.b64decode(data["frames"][frame]) == widgets.render_frame(_line, kwargs), (c["name"], value)
    slope = data["controls"][0]
    assert len({slope_f for slope_f in slope["frames"]}) == 3, "different slopes must give different pictures"
    assert slope["readouts"] == ["-2", "1", "2"]
    assert plt.get_fignums() == [], "frames must not leave figures open (they would show in the cell)"


def test_frame_budget_is_respected_and_keeps_the_default():
    def slow(slope=1.0):
        t = time.process_time()
        while time.process_time() - t < 0.3:  # 0.3 s of CPU (the budget counts CPU time)
            pass
        return _line(slope)

    t0 = time.process_time()
    data = widgets.static_frames(slow, {"slope": widgets.float_slider(1.0, -2.0, 2.0, 0.1, "slope")}, budget=0.5)
    assert time.process_time() - t0 < 2.5
    c = data["controls"][0]
    assert 1.0 in c["values"] and 1 <= len(c["values"]) <= 3


def test_sliders_bundle_live_view_and_static_html():
    box = widgets.sliders(_line, static_frames_per_slider=3, **_controls())
    bundle = box._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html", "application/vnd.jupyter.widget-view+json"}
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == box.model_id
    html = bundle["text/html"]
    assert html.count('type="range"') == 2 and 'class="hepsig-sliders-frame"' in html
    payload = json.loads(re.search(r'class="hepsig-sliders-data">(.*?)</script>', html).group(1).replace("<\\/", "</"))
    assert payload["frames"][0] in html.split("<script")[0], "the default frame is the picture shown without JS"
    # live: the figure is there at once, before any slider moves
    out = box.children[-1]
    assert len(out.outputs) == 1 and "image/png" in out.outputs[0]["data"]


def test_moving_a_live_slider_redraws():
    calls = []

    def plot(slope=1.0, offset=0.1):
        calls.append((slope, offset))
        return _line(slope, offset)

    box = widgets.sliders(plot, static_frames_per_slider=2, **_controls())
    n = len(calls)
    box.children[0].children[0].value = -1.5
    assert calls[n:] == [(-1.5, 0.1)]
    plt.close("all")


def test_sliders_reject_bad_input():
    with pytest.raises(ValueError, match="plot_fn"):
        widgets.sliders(42, x=widgets.float_slider(1, 0, 2))
    with pytest.raises(ValueError, match="at least one control"):
        widgets.sliders(_line)
    with pytest.raises(ValueError, match="control 'slope'"):
        widgets.sliders(_line, slope=3.0)
    with pytest.raises(ValueError, match="static_budget_s"):
        widgets.sliders(_line, static_budget_s=0, slope=widgets.float_slider(1, 0, 2))
    with pytest.raises(ValueError, match="log_slider"):
        widgets.log_slider(1.0, 0.0, 2.0)


def test_chapter_one_sliders_have_frames_that_change():
    """The book's own call: every slider of the Punzi figure changes the picture."""
    box = widgets.sliders(plots.plot_punzi, static_frames_per_slider=3,
                          a=widgets.float_slider(3.0, 1.0, 5.0, 0.1, "a"),
                          B=widgets.log_slider(5.0, 0.01, 1e4, "B"))
    for c in box._hepsig_static["controls"]:
        assert len(set(c["frames"])) == 3, c


# --------------------------------------------------------------------------- Colab's ipywidgets 7
IPYWIDGETS_OLDEST = "7.6.5"  # the lower bound in pyproject.toml; Colab runs 7.7.1

_OLD_WIDGETS_SCRIPT = textwrap.dedent("""
    import matplotlib; matplotlib.use("Agg")
    import ipywidgets, json
    assert ipywidgets.__version__ == VERSION, ipywidgets.__version__
    import hepsig_tutorial as ht
    box = ht.widgets.sliders(lambda a, B, n: ht.plots.plot_punzi(a=a, B=B, efficiency=0.1 + 0.2 * n),
                             static_frames_per_slider=2,
                             a=ht.widgets.float_slider(3.0, 1.0, 5.0, 0.1, "a"),
                             B=ht.widgets.log_slider(5.0, 0.01, 1e4, "B"),
                             n=ht.widgets.int_slider(2, 0, 4, description="n"))
    shown = []
    import IPython.display
    IPython.display.display = lambda data, raw=False: shown.append(data)
    box._ipython_display_()
    calls = []
    box.children[0].children[0].value = 4.0
    print(json.dumps({"mimes": sorted(shown[0]), "outputs": len(box.children[-1].outputs)}))
""")


@pytest.mark.slow
@pytest.mark.parametrize("version", [IPYWIDGETS_OLDEST, "7.7.1"])
def test_sliders_work_with_old_ipywidgets(tmp_path_factory, version):
    """Install ipywidgets ``version`` (no dependencies) into a folder under /tmp and run the slider code
    with it in front of the venv's own: the oldest version pyproject.toml allows, and Colab's."""
    target = Path(os.environ.get("HEPSIG_OLD_WIDGETS_DIR", "/tmp")) / f"hepsig-ipywidgets-{version}"
    if not (target / "ipywidgets").is_dir():
        pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                              f"ipywidgets=={version}", "ipython_genutils"], capture_output=True, text=True, timeout=300)
        if pip.returncode != 0:  # offline and not cached yet: say so (the code under test is not at fault)
            pytest.skip(f"could not fetch ipywidgets {version} from PyPI (needed once, then cached in {target}): "
                        f"{pip.stderr.strip()[-300:]}")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), str(ROOT)]), MPLBACKEND="Agg")
    run = subprocess.run([sys.executable, "-c", _OLD_WIDGETS_SCRIPT.replace("VERSION", repr(version))],
                         capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["mimes"] == ["application/vnd.jupyter.widget-view+json", "text/html", "text/plain"]
    assert result["outputs"] >= 1


def test_pyproject_and_environment_allow_colabs_ipywidgets():
    text = (ROOT / "pyproject.toml").read_text()
    assert f'"ipywidgets>={IPYWIDGETS_OLDEST}"' in text
    assert f"ipywidgets>={IPYWIDGETS_OLDEST}" in (ROOT / "environment.yml").read_text()


def test_dropdown_controls_get_one_frame_per_option():
    """Chapter 8 passes an ipywidgets Dropdown: every option gets a frame, the readout is its label."""
    import ipywidgets as w

    def plot(kind="up", slope=1.0):
        return _line(slope if kind == "up" else -slope)

    box = widgets.sliders(plot, static_frames_per_slider=3,
                          kind=w.Dropdown(options=[("rising", "up"), ("falling", "down")], value="up"),
                          slope=widgets.float_slider(1.0, 0.5, 2.0, 0.1, "slope"))
    kind = box._hepsig_static["controls"][0]
    assert kind["values"] == ["up", "down"] and kind["readouts"] == ["rising", "falling"]
    assert kind["frames"][0] == 0 and kind["frames"][1] != 0
