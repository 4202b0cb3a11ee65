"""pytest plugin: keep what nbval executes, so CI runs every notebook only once.

``make test`` runs ``pytest --nbval-lax notebooks/ -p tests.nbcapture --nbcapture-dir DIR``. nbval
executes each notebook cell by cell in a fresh kernel and checks that no cell raises; this plugin
copies each cell's outputs (and, at the end of each notebook, the kernel's ipywidgets state, so
saved sliders still render in the static HTML) into an executed copy of the notebook under
``DIR/notebooks/``. The book is then built from those copies with execution switched off
(``tests/stage_book.py``) — the same pages ``make book`` produces, without a second execution.

A notebook whose cells did not all pass is not written, so a broken chapter can never reach the
rendered-book test with stale outputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from queue import Empty

import nbformat
import pytest

_STATE_CODE = (
    "import json as _j\n"
    "try:\n"
    "    import ipywidgets as _w\n"
    "    print('@@WIDGETSTATE@@' + _j.dumps(_w.Widget.get_manager_state(drop_defaults=True)))\n"
    "except Exception as _e:\n"
    "    print('@@WIDGETSTATE@@null')\n"
)


def pytest_addoption(parser):
    parser.addoption("--nbcapture-dir", default=None,
                     help="write executed copies of the notebooks (outputs + widget state) below this folder")


def _files(config):
    return config.stash.setdefault(_KEY, {})


_KEY = pytest.StashKey[dict]()


def _widget_state(nbfile, timeout=60):
    """Ask the notebook's kernel for its ipywidgets manager state (None if it has no widgets)."""
    kernel = nbfile.kernel
    msg_id = kernel.execute_cell_input(_STATE_CODE, allow_stdin=False)
    text = ""
    while True:
        try:
            msg = nbfile.get_kernel_message(timeout=timeout)
        except Empty:
            return None
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            text += msg["content"]["text"]
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    marker = "@@WIDGETSTATE@@"
    if marker not in text:
        return None
    state = json.loads(text.split(marker, 1)[1].strip() or "null")
    if not state or not state.get("state"):
        return None
    return state


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if item.config.getoption("--nbcapture-dir") is None or not hasattr(item, "test_outputs"):
        return
    record = _files(item.config).setdefault(item.parent.nodeid, {"file": item.parent, "failed": False,
                                                                  "ran": 0, "total": None})
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
        item.cell.execution_count = record["ran"]
        # last code cell of the notebook: collect the widget state while the kernel is alive
        if record["ran"] == record["total"] and not record["failed"]:
            state = _widget_state(item.parent)
            if state:
                item.parent.nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": state}
    elif report.failed:
        record["failed"] = True


def pytest_sessionfinish(session, exitstatus):
    target = session.config.getoption("--nbcapture-dir")
    if target is None:
        return
    root = Path(str(session.config.rootpath))
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
