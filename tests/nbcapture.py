"""pytest plugin: keep what nbval executes, so CI runs every notebook only once.

``make test`` runs ``pytest --nbval-lax notebooks/ -p tests.nbcapture --nbcapture-dir DIR``. nbval
executes each notebook cell by cell in a fresh kernel and checks that no cell raises; this plugin
copies each cell's outputs into an executed copy of the notebook under ``DIR/notebooks/``. The book
is then built from those copies with execution switched off (``tests/stage_book.py``) — the same
pages ``make book`` produces, without a second execution. (No ipywidgets state is kept: the book shows
the static version of every slider, which is part of the cell's output; see hepsig_tutorial.widgets.)

It also writes ``DIR/run_times.json``: the seconds each notebook's cells took (their sum, kernel start
excluded), which ``book/tools/run_times.py`` turns into the chapters' "FAST run time" headers.

A notebook whose cells did not all pass is not written, so a broken chapter can never reach the
rendered-book test with stale outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest


def pytest_addoption(parser):
    parser.addoption("--nbcapture-dir", default=None,
                     help="write executed copies of the notebooks (with outputs) and run_times.json below this folder")


def _files(config):
    return config.stash.setdefault(_KEY, {})


_KEY = pytest.StashKey[dict]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if item.config.getoption("--nbcapture-dir") is None or not hasattr(item, "test_outputs"):
        return
    record = _files(item.config).setdefault(item.parent.nodeid, {"file": item.parent, "failed": False,
                                                                  "ran": 0, "total": None, "seconds": 0.0})
    if record["total"] is None:
        record["total"] = sum(1 for c in item.parent.nb.cells if c.cell_type == "code")
    if report.when == "call":
        if report.failed:
            record["failed"] = True
        outputs = item.test_outputs or []
        item.cell.outputs = [nbformat.from_dict(dict(o)) for o in outputs]
        for o in item.cell.outputs:
            o.pop("execution_count", None) if o.get("output_type") != "execute_result" else None
        record["ran"] += 1
        record["seconds"] += report.duration
        item.cell.execution_count = record["ran"]
    elif report.failed:
        record["failed"] = True


def pytest_sessionfinish(session, exitstatus):
    target = session.config.getoption("--nbcapture-dir")
    if target is None:
        return
    root = Path(str(session.config.rootpath))
    times = {}
    for record in _files(session.config).values():
        nbfile = record["file"]
        src = Path(str(nbfile.fspath)).resolve()
        if record["failed"] or record["ran"] != record["total"]:
            continue
        try:
            rel = src.relative_to(root)
        except ValueError:
            rel = Path(src.name)
        dest = Path(target) / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nbfile.nb, str(dest))
        times[rel.stem] = round(record["seconds"], 1)
    if times:
        out = Path(target) / "run_times.json"
        old = json.loads(out.read_text()) if out.is_file() else {}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({**old, **times}, indent=1, sort_keys=True) + "\n")
