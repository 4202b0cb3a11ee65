"""Fetch the third-party JavaScript the book serves itself, so that its pages work offline.

    python book/tools/book_assets.py [DEST]        # default DEST: <venv>/share/hepsig-book-assets

``make book`` and ``make test`` run this (target ``book-assets``). It assembles, below ``DEST``:

* ``mathjax/``  MathJax 3 (``tex-mml-chtml.js`` with the fonts, TeX extensions, menu and
  accessibility components it loads at run time), copied from the PyPI package
  ``django-static-mathjax`` that the ``book`` extra installs into the venv;

(The book no longer serves the Jupyter widgets manager: its sliders are static HTML with precomputed
frames, see ``hepsig_tutorial/widgets``, so neither npm nor a CDN is needed for them.)

A ``manifest.json`` records the version; a second run with the same version does nothing, and no run
needs the network (the files come from the venv). The book's Sphinx extension (``book/_ext/hepsig_book.py``)
copies ``DEST`` into ``_static/hepsig-vendor/`` of every build. Nothing here is committed to git.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import shutil
import sys
from pathlib import Path

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
LAYOUT = 3


def default_dest() -> Path:
    return Path(sys.prefix) / "share" / "hepsig-book-assets"


def _wanted_manifest() -> dict:
    return {
        "layout": LAYOUT,
        "mathjax": {"dist": MATHJAX_DIST, "version": importlib.metadata.version(MATHJAX_DIST)},
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
    files = {p.relative_to(staging).as_posix(): p.stat().st_size for p in sorted(staging.rglob("*")) if p.is_file()}
    key = {f: _sha256(staging / f) for f in ("mathjax/tex-mml-chtml.js",)}
    manifest = dict(wanted, files=files, sha256=key, bytes=sum(files.values()))
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    print(f"book assets: MathJax {wanted['mathjax']['version']} (PyPI {MATHJAX_DIST}): "
          f"{len(files)} files, {manifest['bytes'] / 1e6:.1f} MB in {dest}")
    return dest


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--force"]
    if len(args) > 1:
        raise SystemExit(__doc__)
    fetch(Path(args[0]) if args else default_dest(), force="--force" in sys.argv)
