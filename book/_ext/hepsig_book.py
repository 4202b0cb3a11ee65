"""Local Sphinx extension of the hepsig-tutorial book (registered in ``book/_config.yml``).

It does three things on every build:

1. **Self-contained pages.** With ``HEPSIG_ASSETS=local`` (the default) MathJax 3 is served from the
   book's own ``_static/hepsig-vendor/`` (copied from the venv by ``book/tools/book_assets.py``, which
   ``make book`` runs), so equations render without the internet. ``HEPSIG_ASSETS=cdn`` keeps the
   upstream CDN URL. (It also removes the duplicated inline scripts that make a JavaScript error on
   every page.)
   **Static sliders.** A slider cell (``hepsig_tutorial.widgets.sliders``) carries a live ipywidgets view
   and a static ``text/html`` version with precomputed frames; the book renders the static one
   (``nb_mime_priority_overrides``) and ships ``_static/hepsig-sliders.js``, which swaps the frames. No
   Jupyter widgets manager is loaded (``nb_ipywidgets_js`` is empty), so the pages need neither npm
   assets nor a CDN for the sliders.
2. **A stamp on every page** (in the footer): package version, git commit, FAST/FULL mode and
   build date, so a reader can tell which results they are looking at.
3. **Alt text for notebook figures.** myst-nb gives a cell-output image no ``alt`` (the HTML then
   shows the file path). Each such image gets ``Figure N of "<chapter title>", section "<heading>"``
   unless the cell sets ``mystnb: image: alt:`` in its metadata; an image written in the text without
   alt text is a build warning (an error under ``-W``).
"""

from __future__ import annotations

import datetime as _dt
import html
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.errors import ConfigError
from sphinx.util import logging
from sphinx.util.fileutil import copy_asset

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
ASSET_MODES = ("local", "cdn")
VENDOR = "hepsig-vendor"  # folder below _static/
MATHJAX_LOCAL = f"{VENDOR}/mathjax/tex-mml-chtml.js"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def assets_mode() -> str:
    value = os.environ.get("HEPSIG_ASSETS", "local").strip().lower() or "local"
    if value not in ASSET_MODES:
        raise ConfigError(f"HEPSIG_ASSETS must be one of {ASSET_MODES}, got {value!r}")
    return value


def assets_dir() -> Path:
    return Path(os.environ.get("HEPSIG_ASSETS_DIR") or Path(sys.prefix) / "share" / "hepsig-book-assets")


def _git_commit(where: Path) -> str:
    """Short hash of HEAD (``+dirty`` with uncommitted changes to tracked files); "unknown" outside git."""
    try:
        run = dict(cwd=where, capture_output=True, text=True, timeout=20)
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], **run)
        if head.returncode != 0 or not head.stdout.strip():
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], **run)
        return head.stdout.strip() + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _package_dir() -> Path | None:
    """Where ``hepsig_tutorial`` is installed, found without importing it (importing loads PyTorch)."""
    spec = importlib.util.find_spec("hepsig_tutorial")
    return Path(spec.origin).parent if spec is not None and spec.origin else None


def _package_version() -> str:
    pkg = _package_dir()
    version_file = pkg / "_version.py" if pkg else None
    if version_file is None or not version_file.is_file():
        return "unknown"
    found = re.search(r"__version__\s*=\s*[\"']([^\"']+)", version_file.read_text())
    return found.group(1) if found else "unknown"


def _mode() -> str:
    """``$HEPSIG_MODE``, validated by the package's own ``config.mode()`` (loaded on its own)."""
    pkg = _package_dir()
    try:
        spec = importlib.util.spec_from_file_location("_hepsig_config", pkg / "config.py")
        config = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(config)
        mode = config.mode
    except Exception:  # noqa: BLE001 - no package, or its config needs the package: check here
        def mode():
            value = os.environ.get("HEPSIG_MODE", "fast").strip().lower() or "fast"
            if value not in ("fast", "full"):
                raise ValueError(f"HEPSIG_MODE must be one of ('fast', 'full'), got {value!r}")
            return value
    try:
        return mode()
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _build_date() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")  # reproducible builds
    when = (_dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc) if epoch
            else _dt.datetime.now(_dt.timezone.utc))
    return when.strftime("%Y-%m-%d")


def stamp_info(srcdir: Path) -> dict:
    return {"version": _package_version(), "commit": _git_commit(srcdir), "mode": _mode(),
            "date": _build_date(), "assets": assets_mode()}


def stamp_html(info: dict) -> str:
    data = " ".join(f'data-{k}="{html.escape(str(v))}"' for k, v in info.items())
    text = (f"hepsig_tutorial {info['version']} · commit {info['commit']} · "
            f"{info['mode'].upper()} mode · built {info['date']}")
    return f'<p class="hepsig-stamp" {data}>{html.escape(text)}</p>'


# --------------------------------------------------------------------------- configuration
def _configure(app: Sphinx, config) -> None:
    mode = assets_mode()
    if mode == "local":
        manifest = assets_dir() / "manifest.json"
        if not manifest.is_file():
            raise ConfigError(
                f"the book's offline assets are missing ({manifest} not found). Run `make book-assets` "
                "(or `make book`, which does it), or build with HEPSIG_ASSETS=cdn to load MathJax from "
                "the internet instead.")
        config.mathjax_path = MATHJAX_LOCAL
    # sliders: the static representation (precomputed frames), no widgets manager
    config.nb_ipywidgets_js = {}
    config.nb_mime_priority_overrides = [*(config.nb_mime_priority_overrides or []),
                                         ("html", WIDGET_VIEW, None), ("dirhtml", WIDGET_VIEW, None),
                                         ("singlehtml", WIDGET_VIEW, None)]
    info = stamp_info(Path(app.srcdir))
    app.hepsig_stamp = info
    options = dict(config.html_theme_options or {})
    options["extra_footer"] = stamp_html(info) + (options.get("extra_footer") or "")
    config.html_theme_options = options
    config.html_static_path = [*config.html_static_path, str(HERE.parent / "_static")]
    logger.info(f"[hepsig] assets: {mode}; stamp: {json.dumps(info)}")


def _copy_assets(app: Sphinx, exception) -> None:
    if exception is not None or app.builder is None or app.builder.format != "html":
        return
    if assets_mode() == "local":
        copy_asset(str(assets_dir()), os.path.join(app.builder.outdir, "_static", VENDOR))


# --------------------------------------------------------------------------- figures
_PATHLIKE = re.compile(r"(^|/)[^ ]+\.(png|jpe?g|gif|svg|webp)$", re.IGNORECASE)


def _in_cell_output(node: nodes.Node) -> bool:
    parent = node.parent
    while parent is not None:
        if isinstance(parent, nodes.Element) and "cell_output" in parent.get("classes", []):
            return True
        parent = parent.parent
    return False


def _section_title(node: nodes.Node) -> str:
    parent = node.parent
    while parent is not None:
        if isinstance(parent, nodes.section) and parent.children and isinstance(parent[0], nodes.title):
            return parent[0].astext()
        parent = parent.parent
    return ""


def _document_title(doctree: nodes.document) -> str:
    for section in doctree.findall(nodes.section):
        if section.children and isinstance(section[0], nodes.title):
            return section[0].astext()
    return ""


def _missing_alt(image: nodes.image) -> bool:
    alt = (image.get("alt") or "").strip()
    return not alt or alt == image.get("uri") or bool(_PATHLIKE.search(alt))


def _figure_alt(app: Sphinx, doctree: nodes.document) -> None:
    docname = app.env.docname
    title = _document_title(doctree) or docname
    number = 0
    for image in doctree.findall(nodes.image):
        if not _in_cell_output(image):
            if _missing_alt(image) and not isinstance(image.parent, nodes.figure):
                logger.warning(f"image {image.get('uri')!r} has no alt text (write ![what it shows](path))",
                               location=image, type="hepsig", subtype="alt")
            continue
        number += 1
        if not _missing_alt(image):
            continue
        section = _section_title(image)
        where = f', section "{section}"' if section and section != title else ""
        image["alt"] = f'Figure {number} of "{title}"{where}'


# --------------------------------------------------------------------------- mode check
_MODE_IN_OUTPUT = re.compile(r"\b(FAST|FULL) mode\b")


def _check_mode(app: Sphinx, doctree: nodes.document) -> None:
    """Warn when a notebook's saved outputs were produced in another mode than the stamp says."""
    expected = app.hepsig_stamp["mode"].upper()
    for block in doctree.findall(nodes.literal_block):
        if not _in_cell_output(block):
            continue
        found = {m.group(1) for m in _MODE_IN_OUTPUT.finditer(block.astext())}
        if found - {expected}:
            logger.warning(f"outputs say {sorted(found)} mode but the build runs with HEPSIG_MODE="
                           f"{expected.lower()}: set HEPSIG_MODE to the mode the notebooks ran in",
                           location=block, type="hepsig", subtype="mode")
            return


# --------------------------------------------------------------------------- duplicate scripts
def _dedupe_scripts(app: Sphinx, pagename, templatename, context, doctree) -> None:
    """Drop repeated identical <script> entries.

    Inline scripts that extensions add at ``builder-inited`` or later (sphinx-thebe's
    ``const THEBE_JS_URL = ...``, sphinx-togglebutton's selector) reach the page twice with
    Sphinx 7.4 + Jupyter Book 1; the second ``const`` is a JavaScript error on every page.
    """
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        # (one copy has filename None, the other ''; both are inline scripts)
        key = (str(getattr(js, "filename", js) or ""),
               tuple(sorted((k, str(v)) for k, v in (getattr(js, "attributes", None) or {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    scripts[:] = kept  # in place: handlers after this one (MathJax, myst-nb) append to the same list


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", _configure, priority=400)
    app.connect("doctree-read", _figure_alt)
    app.connect("doctree-read", _check_mode)
    app.connect("build-finished", _copy_assets)
    app.connect("html-page-context", _dedupe_scripts, priority=100)  # (a theme handler may end the event)
    app.add_css_file("hepsig.css")
    app.add_js_file("hepsig-sliders.js", priority=500)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
