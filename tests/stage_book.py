"""Assemble a book source tree from notebooks that were already executed (by nbval + nbcapture).

    python tests/stage_book.py STAGE_DIR

``STAGE_DIR/notebooks/*.ipynb`` must already hold the executed notebooks (``tests/nbcapture.py``
writes them). This copies ``book/`` (and the package source, which chapters quote) next to them with notebook execution switched off, so
``jupyter-book build STAGE_DIR --config STAGE_DIR/book/_config.yml --toc STAGE_DIR/book/_toc.yml``
renders exactly the outputs that the tests produced. Every notebook in the table of contents must be
present: a chapter that failed its test is missing here and makes the build fail.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_files(toc_path: Path) -> list[str]:
    """All ``file:`` entries of a jb-book table of contents (root first)."""
    toc = yaml.safe_load(toc_path.read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part.get("chapters", [])]
    return files


def stage(stage_dir: Path) -> None:
    stage_dir = stage_dir.resolve()
    book_dst = stage_dir / "book"
    if book_dst.exists():
        shutil.rmtree(book_dst)
    shutil.copytree(ROOT / "book", book_dst, ignore=shutil.ignore_patterns("_build", "__pycache__"))
    # chapters show package source with {literalinclude} ../hepsig_tutorial/...: stage it beside them
    pkg_dst = stage_dir / "hepsig_tutorial"
    if pkg_dst.exists():
        shutil.rmtree(pkg_dst)
    shutil.copytree(ROOT / "hepsig_tutorial", pkg_dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    config = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"
    (book_dst / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    missing = [f for f in toc_files(ROOT / "book" / "_toc.yml")
               if f.startswith("notebooks/") and not (stage_dir / f"{f}.ipynb").exists()]
    if missing:
        raise SystemExit(f"stage_book: no executed copy of {missing} (did its nbval test fail?)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    stage(Path(sys.argv[1]))
