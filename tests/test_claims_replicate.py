"""The capstone's statements are about the losses, not about one random split.

Chapter 8 draws, for every seed, its own fit / validation / test parts of the simulated events. This test
re-runs the whole chapter (FAST) with five other seeds -- new splits and new initialisations of the same
events -- and requires every check of the chapter to hold again: a statement that holds for seeds 0-4 but
not for 20-24 was a fluctuation (a ``ClaimDrift`` names it). The set of decided cells is deliberately not
among the checks: cells near Holm's threshold move in and out of it from one split to the next.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "notebooks" / "08-capstone.ipynb"
LINE = "SETTINGS.update(test_fraction=0.3, val_fraction=0.5)"
OTHER_SEEDS = (50, 51, 52, 53, 54)


def test_capstone_claims_hold_with_other_seeds(monkeypatch):
    nb = nbformat.read(CHAPTER, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and LINE in c.source]
    assert len(cells) == 1, "the chapter's SETTINGS line moved: update this test"
    cells[0].source = cells[0].source.replace(LINE, LINE[:-1] + f", seeds={OTHER_SEEDS})")
    for key, value in {"HEPSIG_MODE": "fast", "HEPSIG_PROGRESS": "0", "MPLBACKEND": "Agg"}.items():
        monkeypatch.setenv(key, value)
    client = NotebookClient(nb, timeout=1200, kernel_name="python3",
                            resources={"metadata": {"path": str(CHAPTER.parent)}})
    try:
        client.execute()
    except Exception as exc:  # the failing cell's ClaimDrift or assertion, with its message
        pytest.fail(f"Chapter 8 with seeds {OTHER_SEEDS}: {type(exc).__name__}: {str(exc)[-1500:]}")
