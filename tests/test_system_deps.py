"""`make test` / `make book` on a machine without Chromium: tools/system-deps.sh stops at once with one
line saying what to install (or installs it, as root or with password-less sudo: not exercised here)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "system-deps.sh"
HIDDEN = ("chromium", "chromium-browser", "google-chrome", "npm", "node", "nodejs")


def _path_without_browsers(tmp_path) -> str:
    """A PATH with every program of the current PATH except Chromium, Chrome and npm/node."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not d or not Path(d).is_dir():
            continue
        for exe in Path(d).iterdir():
            if exe.name in HIDDEN or (bin_dir / exe.name).exists():
                continue
            if exe.is_file() and os.access(exe, os.X_OK):
                (bin_dir / exe.name).symlink_to(exe)
    return str(bin_dir)


def _run(args, tmp_path, extra_path=None, **env):
    path = _path_without_browsers(tmp_path) if not (tmp_path / "bin").exists() else str(tmp_path / "bin")
    if extra_path:
        path = f"{extra_path}{os.pathsep}{path}"
    e = {k: v for k, v in os.environ.items() if k != "HEPSIG_CHROMIUM"}
    e.update(PATH=path, HEPSIG_NO_INSTALL="1", **env)
    t0 = time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True, env=e, timeout=120, cwd=ROOT)
    return out, time.perf_counter() - t0


def test_missing_chromium_stops_at_once_with_one_line(tmp_path):
    out, seconds = _run(["bash", str(SCRIPT), "test"], tmp_path)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "chromium" in lines[0] and "apt-get install" in lines[0], out.stderr
    assert seconds < 5


def test_chromium_on_path_is_found(tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "chromium").write_text("#!/bin/sh\nexit 0\n")
    (fake / "chromium").chmod(0o755)
    out, _ = _run(["bash", str(SCRIPT), "test"], tmp_path, extra_path=str(fake))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"HEPSIG_CHROMIUM={fake / 'chromium'}"
    out, _ = _run(["bash", str(SCRIPT), "book"], tmp_path)
    assert out.returncode == 0 and out.stdout == "", "make book needs no browser"


def test_bad_hepsig_chromium_and_usage(tmp_path):
    out, _ = _run(["bash", str(SCRIPT), "test"], tmp_path, HEPSIG_CHROMIUM="/nonexistent/chrome")
    assert out.returncode == 1 and "HEPSIG_CHROMIUM" in out.stderr
    out, _ = _run(["bash", str(SCRIPT), "nonsense"], tmp_path)
    assert out.returncode == 2 and "usage" in out.stderr


def test_ci_and_make_share_the_script():
    assert "tools/system-deps.sh test" in (ROOT / ".ci" / "run").read_text()
    make = (ROOT / "Makefile").read_text()
    assert "tools/system-deps.sh $*" in make
    assert "\ntest: system-deps-test venv" in make and "\nbook: system-deps-book venv" in make
    assert "npm" not in (ROOT / "book" / "tools" / "book_assets.py").read_text().split('"""', 2)[2], \
        "the book's assets must not need npm"


@pytest.mark.slow
def test_fresh_copy_make_test_without_chromium_stops_in_seconds(tmp_path):
    """The README's `make test` on a fresh copy of the working tree, Chromium and npm removed from PATH:
    it must stop before creating a venv, within seconds, with one line on what to install."""
    if shutil.which("make") is None:
        pytest.skip("no make")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    clone = tmp_path / "clone"
    for f in files:
        src = ROOT / f
        if src.is_file():
            (clone / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, clone / f)
    path = _path_without_browsers(tmp_path)
    e = {k: v for k, v in os.environ.items() if k not in ("HEPSIG_CHROMIUM", "MAKEFLAGS", "MAKELEVEL")}
    e.update(PATH=path, HEPSIG_NO_INSTALL="1")
    t0 = time.perf_counter()
    out = subprocess.run(["make", "test"], cwd=clone, capture_output=True, text=True, env=e, timeout=300)
    seconds = time.perf_counter() - t0
    assert out.returncode != 0
    assert not (clone / ".venv").exists(), "make test went on to build a venv without Chromium"
    msg = [ln for ln in out.stderr.splitlines() if ln.startswith("system-deps:")]
    assert len(msg) == 1 and "chromium" in msg[0], out.stderr
    assert seconds < 10, f"took {seconds:.1f} s"
