"""``import hepsig_tutorial`` stays cheap (issue 19): figures and sliders load on first use.

What it costs in seconds is measured by ``benchmarks/bench_import.py`` (timings never go in tests); this
checks the cause of the cost, which is machine-independent: which modules the plain import loads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("matplotlib.pyplot", "scipy.stats", "scipy.special", "scipy.ndimage", "ipywidgets", "hepsig_tutorial.plots",
         "hepsig_tutorial.widgets")


def _loaded_after(code: str) -> list[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=300,
                         env=dict(os.environ, HEPSIG_PROGRESS="0", MPLBACKEND="Agg"))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_plain_import_loads_no_plotting_or_widgets():
    assert _loaded_after("import hepsig_tutorial") == []


@pytest.mark.parametrize("name, needs", [("plots", "matplotlib.pyplot"), ("widgets", "hepsig_tutorial.widgets")])
def test_plots_and_widgets_load_on_first_use(name, needs):
    """The probe can fail: touching ``ht.plots`` / ``ht.widgets`` loads what the plain import must not
    (``ht.widgets`` itself defers ipywidgets until a slider is built)."""
    loaded = _loaded_after(f"import hepsig_tutorial as ht\nht.{name}")
    assert f"hepsig_tutorial.{name}" in loaded and needs in loaded, loaded


def test_scipy_special_loads_when_a_statistic_needs_it():
    """``stats`` reaches SciPy through a lazy module: the first special function imports it, and it works."""
    loaded = _loaded_after("import hepsig_tutorial as ht\nassert abs(ht.stats.pvalue_to_z(0.5)) < 1e-12")
    assert "scipy.special" in loaded, loaded
