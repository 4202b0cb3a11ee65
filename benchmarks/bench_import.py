"""What ``import hepsig_tutorial`` costs beyond ``import torch`` (issue 19: at most 0.3 s; plots and widgets lazy).

Each repeat starts fresh interpreters, alternating the two commands so that machine load hits both alike:

* ``python -c "import torch"`` and ``python -c "import torch, hepsig_tutorial"`` -- wall time of the whole
  process (interpreter start included), their difference and their ratio;
* one more process that times ``import torch`` and then ``import hepsig_tutorial`` inside itself (the
  package's own cost, without the noise of two process starts), and lists which heavy modules the plain
  import loaded (matplotlib.pyplot, scipy.stats, ipywidgets must not be among them).

Prints medians over the repeats (and min/max), the verdict against the 0.3 s budget, and with
``--json PATH`` writes the numbers. Run on an idle machine for numbers to quote; under load, say so.

Usage: ``.venv/bin/python benchmarks/bench_import.py [--repeats 7] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

BUDGET_S = 0.3  # issue 19
HEAVY = ("matplotlib", "matplotlib.pyplot", "scipy", "scipy.stats", "ipywidgets", "IPython", "pandas",
         "hepsig_tutorial.plots", "hepsig_tutorial.widgets", "hepsig_tutorial.ddp")
INSIDE = f"""
import json, sys, time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
import hepsig_tutorial
t2 = time.perf_counter()
print(json.dumps({{"torch": t1 - t0, "package": t2 - t1, "loaded": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def _wall(code: str, env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="fresh-process repeats per command (median)")
    parser.add_argument("--json", help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {args.repeats}")
    env = dict(os.environ, HEPSIG_PROGRESS="0")
    _wall("import torch, hepsig_tutorial", env)  # warm the file cache once: not counted
    torch_s, both_s, inside = [], [], []
    for _ in range(args.repeats):
        torch_s.append(_wall("import torch", env))
        both_s.append(_wall("import torch, hepsig_tutorial", env))
        out = subprocess.run([sys.executable, "-c", INSIDE], check=True, env=env, capture_output=True, text=True)
        inside.append(json.loads(out.stdout.strip().splitlines()[-1]))
    med = statistics.median
    extra = [b - t for t, b in zip(torch_s, both_s)]
    package = [r["package"] for r in inside]
    loaded = sorted({m for r in inside for m in r["loaded"]})
    result = {
        "repeats": args.repeats, "python": platform.python_version(), "cpus": os.cpu_count(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "torch_s": med(torch_s), "torch_and_package_s": med(both_s), "extra_s": med(extra),
        "ratio": med(both_s) / med(torch_s), "package_in_process_s": med(package),
        "torch_in_process_s": med(r["torch"] for r in inside), "heavy_modules_loaded": loaded,
        "budget_s": BUDGET_S,
    }
    print(f"{args.repeats} repeats, fresh processes, Python {result['python']}, {result['cpus']} CPUs, "
          f"load average {' '.join(f'{x:.2f}' for x in result['load_average'] or ())}")
    print(f"{'':44s} {'median':>8s} {'min':>8s} {'max':>8s}")
    rows = [('python -c "import torch"', torch_s), ('python -c "import torch, hepsig_tutorial"', both_s),
            ("difference (package beyond torch)", extra), ("in one process: import torch", [r["torch"] for r in inside]),
            ("in one process: then import hepsig_tutorial", package)]
    for name, xs in rows:
        print(f"{name:44s} {med(xs):7.3f}s {min(xs):7.3f}s {max(xs):7.3f}s")
    print(f"ratio (torch + hepsig_tutorial) / torch: {result['ratio']:.3f}")
    print(f"heavy modules loaded by the plain import: {', '.join(loaded) or 'none'}")
    ok = result["package_in_process_s"] <= BUDGET_S and not {"matplotlib.pyplot", "scipy.stats", "ipywidgets"} & set(loaded)
    print(f"budget: <= {BUDGET_S} s beyond torch, no pyplot/scipy.stats/ipywidgets: {'met' if ok else 'NOT met'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
