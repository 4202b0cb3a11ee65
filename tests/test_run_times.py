"""Every chapter's "FAST run time" header agrees with the measured times in book/run_times.json."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("run_times", ROOT / "book" / "tools" / "run_times.py")
run_times = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_times)


def test_headers_agree_with_the_recorded_times():
    problems = run_times.mismatches()
    assert not problems, "\n".join(problems)


def test_record_covers_every_chapter():
    record = json.loads(run_times.RECORD.read_text())
    stems = {p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")}
    assert stems <= set(record["fast_seconds"]), sorted(stems - set(record["fast_seconds"]))
    assert all(v > 0 for v in record["fast_seconds"].values())


@pytest.mark.parametrize("seconds,text", [(3, "~5 s"), (16, "~15 s"), (18, "~20 s"), (89, "~90 s"), (95, "~1.5 min"),
                                          (130, "~2 min"), (200, "~3.5 min")])
def test_header_text_rounds(seconds, text):
    assert run_times.header_text(seconds) == text
    assert abs(run_times.header_seconds(f"**FAST run time:** {text} on 2") - seconds) <= max(0.25 * seconds, 15)


def test_a_wrong_header_is_reported(tmp_path, monkeypatch):
    record = json.loads(run_times.RECORD.read_text())
    first = sorted(record["fast_seconds"])[0]
    bad = dict(record, fast_seconds=dict(record["fast_seconds"], **{first: 10 * record["fast_seconds"][first] + 100}))
    assert any(first in p for p in run_times.mismatches(bad))
