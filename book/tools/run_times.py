"""The chapters' "FAST run time" headers, from measurement.

    python book/tools/run_times.py update [MEASURED_JSON]   # default: book/_build/tested/run_times.json
    python book/tools/run_times.py check

``make test`` (``tests/nbcapture.py``) writes the seconds each notebook's cells took into
``book/_build/tested/run_times.json``. ``update`` copies them into ``book/run_times.json`` (the record
the book quotes, with the date and the machine) and rewrites each notebook's header line
``**FAST run time:** ~N s on 2 CPU cores`` from it. ``check`` (and ``tests/test_run_times.py``) fails
when a header and the record disagree by more than :data:`TOLERANCE`. Run ``update`` after the final
``make test`` of a release, on the 2-core machine that builds the book.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / "book" / "run_times.json"
NOTEBOOKS = ROOT / "notebooks"
HEADER = re.compile(r"\*\*FAST run time:\*\* ~(?P<value>\d+(?:\.\d+)?) (?P<unit>s|min)\b")
#: A header may differ from the recorded time by this fraction, or by TOLERANCE_S seconds, whichever is larger.
TOLERANCE = 0.25
TOLERANCE_S = 5.0


def header_text(seconds: float) -> str:
    """``~15 s`` (to 5 s) below 90 s, ``~1.5 min`` (to half a minute) above."""
    if seconds < 90:
        return f"~{max(5, int(5 * round(seconds / 5)))} s"
    minutes = math.floor(seconds / 30 + 0.5) / 2
    return f"~{minutes:g} min"


def header_seconds(text: str) -> float | None:
    m = HEADER.search(text)
    if not m:
        return None
    value = float(m.group("value"))
    return value * 60 if m.group("unit") == "min" else value


def _header_cell(nb: dict):
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown" and HEADER.search("".join(cell["source"])):
            return cell
    return None


def mismatches(record: dict | None = None) -> list[str]:
    record = record if record is not None else json.loads(RECORD.read_text())
    out = []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb")):
        cell = _header_cell(json.loads(path.read_text()))
        said = header_seconds("".join(cell["source"])) if cell else None
        measured = record["fast_seconds"].get(path.stem)
        if said is None:
            out.append(f"{path.name}: no '**FAST run time:** ~N s' header")
        elif measured is None:
            out.append(f"{path.name}: no recorded time in {RECORD.relative_to(ROOT)}")
        elif abs(said - measured) > max(TOLERANCE * measured, TOLERANCE_S):
            out.append(f"{path.name}: header says {said:g} s, recorded {measured:g} s "
                       f"(run `python book/tools/run_times.py update` after `make test`)")
    return out


def update(measured_path: Path) -> None:
    measured = json.loads(measured_path.read_text())
    record = json.loads(RECORD.read_text()) if RECORD.is_file() else {"fast_seconds": {}}
    record["fast_seconds"].update({k: round(float(v), 1) for k, v in measured.items()})
    record["measured"] = dt.date.today().isoformat()
    record.setdefault("how", "sum of the cells' execution times under nbval (make test), kernel start excluded")
    RECORD.write_text(json.dumps(record, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    for stem, seconds in measured.items():
        path = NOTEBOOKS / f"{stem}.ipynb"
        if not path.is_file():
            continue
        text = path.read_text()
        new = HEADER.sub(lambda m: f"**FAST run time:** {header_text(float(seconds))}", text, count=1)
        if new != text:
            path.write_text(new)
            print(f"{path.name}: FAST run time {header_text(float(seconds))} ({seconds:g} s)")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["update"] and len(args) <= 2:
        update(Path(args[1]) if len(args) == 2 else ROOT / "book" / "_build" / "tested" / "run_times.json")
    elif args == ["check"]:
        problems = mismatches()
        print("\n".join(problems) or "run-time headers agree with book/run_times.json")
        sys.exit(1 if problems else 0)
    else:
        raise SystemExit(__doc__)
