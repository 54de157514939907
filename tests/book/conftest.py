"""Fixtures of the book tests: the built HTML book and a headless Chromium.

``built_book`` reuses ``_build/html`` when it is newer than every source of the book (what
``make book`` leaves behind, chapters executed); otherwise it builds a copy of the book with
``execute_notebooks: "off"`` into a temporary folder (fast: no chapter runs). ``chromium`` is the
browser's path: installed with apt-get when missing and this process may (root); the tests that
need it are skipped, saying why, only where it cannot be installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOOK_SOURCES = ["_config.yml", "_toc.yml", "book"]
JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")


def _newest_source() -> float:
    stamps = [(ROOT / name).stat().st_mtime for name in BOOK_SOURCES[:2]]
    stamps += [p.stat().st_mtime for p in (ROOT / "book").rglob("*") if p.is_file()]
    stamps += [p.stat().st_mtime for p in (ROOT / "companion").rglob("*.py")]
    return max(stamps)


def _fresh_build() -> Path | None:
    html = ROOT / "_build" / "html"
    index = html / "index.html"
    if index.is_file() and index.stat().st_mtime > _newest_source():
        return html
    return None


@pytest.fixture(scope="session")
def built_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the built HTML book (``index.html`` and ``book/*.html``).

    ``$CLOSEDLOOP_BOOK_HTML`` names an already built book to check instead (e.g. in CI, after
    ``make book``).
    """
    given = os.environ.get("CLOSEDLOOP_BOOK_HTML")
    if given:
        assert (Path(given) / "index.html").is_file(), f"$CLOSEDLOOP_BOOK_HTML={given}: no book"
        return Path(given)
    fresh = _fresh_build()
    if fresh is not None:
        return fresh
    copy = tmp_path_factory.mktemp("book-src")
    for name in BOOK_SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name)
        else:
            shutil.copy2(source, copy / name)
    config = (copy / "_config.yml").read_text()
    assert "execute_notebooks: cache" in config, "_config.yml no longer says how to execute"
    (copy / "_config.yml").write_text(config.replace("execute_notebooks: cache",
                                                     'execute_notebooks: "off"'))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "companion")}
    done = subprocess.run([str(JUPYTER_BOOK), "build", str(copy), "--keep-going"], check=False,
                          capture_output=True, text=True, env=env, timeout=1800)
    html = copy / "_build" / "html"
    assert done.returncode == 0 and (html / "index.html").is_file(), (
        f"jupyter-book build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return html


def _install_chromium() -> str | None:
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return None
    apt = shutil.which("apt-get")
    if apt is None:
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in ([apt, "update"], [apt, "install", "-y", "chromium"]):
        if subprocess.run(argv, capture_output=True, env=env, timeout=1200,
                          check=False).returncode != 0:
            return None
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of a headless-capable Chromium (installed with apt-get when missing)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser") or _install_chromium()
    if found is None:
        pytest.skip("no chromium, and it cannot be installed here (apt-get install -y chromium "
                    "needs root and the Debian archive)")
    return found
