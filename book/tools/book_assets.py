"""Fetch the third-party JavaScript the book serves itself, so that its pages work offline.

    python book/tools/book_assets.py [DEST]        # default DEST: <venv>/share/hepsig-book-assets

``make book`` and ``make test`` run this (target ``book-assets``). It assembles, below ``DEST``:

* ``mathjax/``  MathJax 3 (``tex-mml-chtml.js`` with the fonts, TeX extensions, menu and
  accessibility components it loads at run time), copied from the PyPI package
  ``django-static-mathjax`` that the ``book`` extra installs into the venv;
* ``widgets/``  the Jupyter widgets HTML manager (``embed-amd.js`` and its font files) and
  RequireJS, which the npm registry has and PyPI has not; fetched with ``npm pack`` (only the
  package tarballs, no dependency tree), pinned below and checked against the registry's
  integrity hash by npm.

A ``manifest.json`` records the versions; a second run with the same pins does nothing, so after the
first fetch a build needs no network. The book's Sphinx extension (``book/_ext/hepsig_book.py``)
copies ``DEST`` into ``_static/hepsig-vendor/`` of every build. Nothing here is committed to git.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

#: npm packages (name, pinned version). html-manager 1.0.x renders ipywidgets 8 state (protocol 2).
NPM_PACKAGES = {
    "@jupyter-widgets/html-manager": "1.0.15",
    "requirejs": "2.3.7",
}
#: PyPI distribution that ships MathJax 3 (installed by the ``book`` extra of pyproject.toml).
MATHJAX_DIST = "django-static-mathjax"
MATHJAX_MAJOR = "3."

#: The MathJax es5 bundles and folders the book does not use (other combined components, SVG output,
#: the node/liteDOM adaptor). Everything else is what ``tex-mml-chtml.js`` can load on demand.
MATHJAX_SKIP = {
    "tex-chtml.js", "tex-chtml-full.js", "tex-chtml-full-speech.js", "tex-svg.js", "tex-svg-full.js",
    "tex-mml-svg.js", "mml-chtml.js", "mml-svg.js", "node-main.js", "latest.js", "adaptors", "output/svg.js",
    "output/svg",
}

MANIFEST = "manifest.json"
#: Bump when the selection of files above changes, so that existing asset folders are rebuilt.
LAYOUT = 2


def default_dest() -> Path:
    return Path(sys.prefix) / "share" / "hepsig-book-assets"


def _wanted_manifest() -> dict:
    return {
        "layout": LAYOUT,
        "mathjax": {"dist": MATHJAX_DIST, "version": importlib.metadata.version(MATHJAX_DIST)},
        "npm": dict(NPM_PACKAGES),
    }


def _mathjax_es5() -> Path:
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"book_assets: the PyPI package {MATHJAX_DIST!r} is not installed in {sys.prefix} "
                         "(it comes with `pip install -e .[book]`; `make book` installs it)")
    version = importlib.metadata.version(MATHJAX_DIST)
    if not version.startswith(MATHJAX_MAJOR):
        raise SystemExit(f"book_assets: {MATHJAX_DIST} {version} is not MathJax 3")
    es5 = Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax" / "es5"
    if not (es5 / "tex-mml-chtml.js").is_file():
        raise SystemExit(f"book_assets: no tex-mml-chtml.js in {es5}")
    return es5


def _copy_mathjax(dest: Path) -> None:
    es5 = _mathjax_es5()
    for path in sorted(es5.rglob("*")):
        rel = path.relative_to(es5).as_posix()
        if path.is_dir() or any(rel == s or rel.startswith(s + "/") for s in MATHJAX_SKIP):
            continue
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, out)
    licence = es5.parent / "LICENSE"
    if licence.is_file():
        shutil.copy2(licence, dest / "LICENSE")


def _npm_pack(name: str, version: str, workdir: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(
            "book_assets: `npm` (Node.js) is needed once, to fetch the Jupyter widgets manager and RequireJS "
            "for offline pages.\n  Install Node.js (e.g. `sudo apt-get install npm`), or build with the CDN "
            "instead: `make book HEPSIG_ASSETS=cdn` (pages then need the internet for math and widgets).")
    cmd = [npm, "pack", f"{name}@{version}", "--pack-destination", str(workdir), "--silent",
           "--no-fund", "--no-audit"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"book_assets: `{' '.join(cmd)}` failed:\n{result.stderr.strip()}\n"
                         "  (offline? once fetched, the assets stay in the venv; or use HEPSIG_ASSETS=cdn)")
    tarballs = sorted(workdir.glob("*.tgz"), key=lambda p: p.stat().st_mtime)
    if not tarballs:
        raise SystemExit(f"book_assets: npm pack {name}@{version} produced no tarball")
    return tarballs[-1]


def _extract(tarball: Path, members: dict[str, str], dest: Path) -> list[str]:
    """Extract ``package/<src>`` members (glob patterns) into ``dest/<dst>``; return what was written."""
    written = []
    with tarfile.open(tarball, "r:gz") as tar:
        names = tar.getnames()
        for pattern, sub in members.items():
            hits = [n for n in names if Path(n).match(f"package/{pattern}")]
            if not hits:
                raise SystemExit(f"book_assets: {tarball.name} has no {pattern}")
            for name in hits:
                data = tar.extractfile(name).read()
                out = dest / sub / Path(name).name
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(data)
                written.append(out.relative_to(dest).as_posix())
    return written


def _fetch_widgets(dest: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        name = "@jupyter-widgets/html-manager"
        (tmp / "hm").mkdir()
        tgz = _npm_pack(name, NPM_PACKAGES[name], tmp / "hm")
        # embed-amd.js plus the font files its bundled CSS refers to (webpack assets with hashed names)
        # (woff2/woff only: every browser that runs MathJax 3 reads them; eot/ttf/svg are for old IE/iOS)
        _extract(tgz, {"dist/embed-amd.js": "", "dist/*.woff2": "", "dist/*.woff": "",
                       "package.json": "html-manager"}, dest)
        (tmp / "rq").mkdir()
        tgz = _npm_pack("requirejs", NPM_PACKAGES["requirejs"], tmp / "rq")
        _extract(tgz, {"require.js": "", "package.json": "requirejs"}, dest)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(dest: Path, force: bool = False) -> Path:
    dest = dest.resolve()
    wanted = _wanted_manifest()
    manifest_path = dest / MANIFEST
    if not force and manifest_path.is_file():
        have = json.loads(manifest_path.read_text())
        if {k: have.get(k) for k in wanted} == wanted and all((dest / f).is_file() for f in have.get("files", {})):
            print(f"book assets up to date in {dest}")
            return dest
    staging = dest.with_name(dest.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    _copy_mathjax(staging / "mathjax")
    _fetch_widgets(staging / "widgets")
    files = {p.relative_to(staging).as_posix(): p.stat().st_size for p in sorted(staging.rglob("*")) if p.is_file()}
    key = {f: _sha256(staging / f) for f in ("mathjax/tex-mml-chtml.js", "widgets/embed-amd.js", "widgets/require.js")}
    manifest = dict(wanted, files=files, sha256=key, bytes=sum(files.values()))
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    print(f"book assets: MathJax {wanted['mathjax']['version']} (PyPI {MATHJAX_DIST}), "
          + ", ".join(f"{k}@{v}" for k, v in NPM_PACKAGES.items())
          + f" (npm): {len(files)} files, {manifest['bytes'] / 1e6:.1f} MB in {dest}")
    return dest


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--force"]
    if len(args) > 1:
        raise SystemExit(__doc__)
    fetch(Path(args[0]) if args else default_dest(), force="--force" in sys.argv)
