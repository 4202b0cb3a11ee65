"""The rendered book, as a reader sees it: headless Chromium (Debian's) driven by Playwright.

Run by ``make test`` after the book has been built (marker ``book``); the HTML folder comes from
``$HEPSIG_BOOK_HTML`` (default ``book/_build/html``). Pages are served from 127.0.0.1 and every
request to any other host is blocked, so the test also shows what an offline reader gets.
Screenshots are saved next to the HTML, in ``../screenshots``.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("HEPSIG_BOOK_HTML", ROOT / "book" / "_build" / "html")).resolve()
CHROMIUM = os.environ.get("HEPSIG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
CHAPTERS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def server():
    if not (HTML / "index.html").exists():
        pytest.fail(f"no built book at {HTML}: run `make test` (or `make book`) first")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
    handler.log_message = lambda *args, **kwargs: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's `chromium` package (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture()
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    blocked = []

    def offline(route):
        host = urlparse(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", offline)
    pg = context.new_page()
    pg.blocked = blocked
    errors = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.js_errors = errors
    yield pg
    context.close()


def _open(page, server, path):
    response = page.goto(f"{server}/{path}", wait_until="load")
    assert response is not None and response.ok, f"{path}: HTTP {response.status if response else 'no response'}"
    page.wait_for_timeout(300)
    return page


def _screenshot(page, name):
    shots = HTML.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    page.screenshot(path=str(shots / f"{name}.png"), full_page=False)


def _assert_no_error_output(page, name):
    assert page.locator(".output.traceback, .output.error").count() == 0, f"{name}: a cell shows an error"
    body = page.inner_text("article")
    for bad in ("Traceback (most recent call last)", "ClaimDrift", "Error in callback"):
        assert bad not in body, f"{name}: page text contains {bad!r}"


def test_intro_page(page, server):
    _open(page, server, "index.html")
    assert "Training classifiers on discovery significance" in page.title()
    h1 = page.locator("article h1").first.inner_text()
    assert "Training classifiers on discovery significance" in h1
    text = page.inner_text("article")
    assert "make book" in text and "make test" in text and "FAST" in text
    links = page.locator("article table a")
    assert links.count() >= len(CHAPTERS), "the chapter map should link every chapter"
    _assert_no_error_output(page, "intro")
    _screenshot(page, "intro")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_page(page, server, chapter):
    _open(page, server, f"notebooks/{chapter}.html")
    number = int(chapter[:2])
    h1 = page.locator("article h1").first.inner_text()
    assert re.match(rf"^{number}\. \S", h1), f"{chapter}: unexpected title {h1!r}"
    assert h1.split(". ", 1)[1].split("#")[0].strip() in page.title()
    images = page.locator("article .cell_output img")
    assert images.count() >= 2, f"{chapter}: expected rendered figures, found {images.count()}"
    widths = page.eval_on_selector_all("article .cell_output img", "els => els.map(e => e.naturalWidth)")
    assert all(w > 0 for w in widths), f"{chapter}: a figure did not load"
    _assert_no_error_output(page, chapter)
    sections = page.inner_text("article")
    for heading in ("Summary", "Exercises", "References"):
        assert heading in sections, f"{chapter}: no {heading} section"
    _screenshot(page, chapter)
