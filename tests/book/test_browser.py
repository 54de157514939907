"""The built book, opened in headless Chromium: math typeset, numbered contents, clean pages.

The book is built by the ``built_book`` fixture (``tests/book/conftest.py``): the fresh
``_build/html`` of ``make book`` if there is one, else a quick build without executing chapters.
Pages are served over HTTP from 127.0.0.1 (as a reader's browser would load them) and each is
screenshotted to ``_build/screenshots/`` for a person to look at.
"""

from __future__ import annotations

import functools
import html as html_lib
import http.server
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHAPTERS = sorted(p.stem for p in (ROOT / "book").glob("*.ipynb"))
#: Pages that must be numbered in the sidebar (the chapters after the unnumbered root).
NUMBERED = [stem for stem in CHAPTERS if not stem.startswith("01_")]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                  "--virtual-time-budget=20000", "--window-size=1280,1600"]
#: Words an executed page must not show (outputs of a chapter are meant for readers).
FORBIDDEN = re.compile(r"Traceback|\w*Warning\b|WARNING")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(built_book: Path) -> Iterator[str]:
    """The base URL of an HTTP server on 127.0.0.1 serving the built book."""
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _chromium(chromium: str, *args: str) -> str:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        done = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _text(dom: str) -> str:
    """The visible text of an HTML page (scripts, styles and tags removed)."""
    dom = re.sub(r"(?is)<(script|style|noscript|template)\b.*?</\1>", " ", dom)
    dom = re.sub(r"(?s)<mjx-assistive-mml.*?</mjx-assistive-mml>", " ", dom)
    return html_lib.unescape(re.sub(r"(?s)<[^>]+>", " ", dom))


def _pages(built_book: Path) -> list[str]:
    pages = ["index.html"] + [f"book/{stem}.html" for stem in CHAPTERS]
    missing = [p for p in pages if not (built_book / p).is_file()]
    assert not missing, f"pages not built: {missing}"
    return pages


def test_pages_render_with_typeset_math(built_book: Path, server: str, chromium: str):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    for page in _pages(built_book):
        static = (built_book / page).read_text()
        if 'http-equiv="Refresh"' in static or 'http-equiv="refresh"' in static:
            target = re.search(r'url=([^"]+)"', static)
            assert target, f"{page}: a redirect without a target"
            page = str(Path(page).parent / target.group(1)).removeprefix("./")
            static = (built_book / page).read_text()
        url = f"{server}/{page}"
        shot = SCREENSHOTS / (Path(page).stem + ".png")
        _chromium(chromium, f"--screenshot={shot}", url)
        assert shot.is_file() and shot.stat().st_size > 10_000, f"{page}: no screenshot"
        dom = _chromium(chromium, "--dump-dom", url)
        text = _text(dom)
        if 'class="math' in static:
            if "<mjx-container" not in dom:
                problems.append(f"{page}: has math but MathJax typeset none of it")
            raw = re.findall(r"\\\(.{0,40}|\\\[.{0,40}", text)
            if raw:
                problems.append(f"{page}: raw TeX left in the page: {raw[:3]}")
        found = sorted(set(FORBIDDEN.findall(text)))
        if found:
            context = [text[max(m.start() - 80, 0):m.end() + 80].replace("\n", " ")
                       for m in FORBIDDEN.finditer(text)][:3]
            problems.append(f"{page}: shows {found}: {context}")
    assert not problems, "\n".join(problems)


def test_contents_are_numbered(built_book: Path):
    index = (built_book / "book/schema_format.html").read_text()  # links every chapter
    nav = re.search(r"(?s)<nav class=\"[^\"]*bd-docs-nav[^\"]*\".*?</nav>", index)
    assert nav, "no sidebar navigation in the page"
    unnumbered = []
    for stem in NUMBERED:
        link = re.search(rf'(?s)href="[^"]*{stem}\.html"[^>]*>(.*?)</a>', nav.group(0))
        assert link, f"{stem} is not in the sidebar"
        label = _text(link.group(1)).strip()
        if not re.match(r"\d+\.\s", label):
            unnumbered.append(f"{stem}: {label!r}")
    assert not unnumbered, f"chapters without a number in the sidebar: {unnumbered}"


def _links(page: Path) -> Iterator[tuple[str, str]]:
    for attribute, target in re.findall(r'\b(href|src)="([^"]*)"', page.read_text()):
        yield attribute, html_lib.unescape(target)


def test_internal_links_resolve(built_book: Path):
    broken = []
    for page in sorted(built_book.rglob("*.html")):
        if "_static" in page.parts or "_sources" in page.parts:
            continue
        for _, target in _links(page):
            parsed = urlparse(target)
            if parsed.scheme or target.startswith(("#", "//")) or not parsed.path:
                continue
            resolved = (page.parent / unquote(parsed.path)).resolve()
            if parsed.path.endswith("/"):
                resolved = resolved / "index.html"
            if not resolved.exists():
                broken.append(f"{page.relative_to(built_book)} -> {target}")
    assert not broken, "broken internal links:\n" + "\n".join(broken[:40])


def test_nothing_is_loaded_from_the_network(built_book: Path):
    """Scripts, styles, fonts and images come from the build itself: no CDN, works offline."""
    remote = []
    for page in sorted(built_book.rglob("*.html")):
        if "_sources" in page.parts:
            continue
        text = page.read_text()
        tags = re.findall(r"(?is)<(?:script|img|iframe|source)\b[^>]*\bsrc=\"([^\"]+)\"", text)
        tags += [href for tag in re.findall(r"(?is)<link\b[^>]*>", text)
                 for href in re.findall(r'href="([^"]+)"', tag)
                 if not re.search(r'rel="(canonical|alternate|index|search|next|prev)"', tag)]
        remote += [f"{page.relative_to(built_book)}: {url}" for url in tags
                   if url.startswith(("http:", "https:", "//"))]
    assert not remote, "pages load resources from the network:\n" + "\n".join(remote[:40])
    mathjax = built_book / "_static" / "mathjax" / "tex-chtml.js"
    assert mathjax.is_file(), "MathJax is not served from the build (_static/mathjax)"
