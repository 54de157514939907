"""``closedloop book run``: chapters executed by papermill, with parameters, failures by cell."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from closedloop.cli.book import find_book, parse_value, resolve_chapter

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env_path = str(ROOT / "companion")
    import os

    env = {**os.environ, "PYTHONPATH": env_path + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "closedloop.cli", "book", "run", *args],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=900,
                          check=False)


def test_values_are_read_like_papermill():
    assert parse_value("12") == 12 and parse_value("0.25") == 0.25
    assert parse_value("None") is None and parse_value("False") is False
    assert parse_value("concept_drift") == "concept_drift"


def test_chapters_are_found_by_stem_number_or_path(tmp_path: Path):
    assert find_book(start=ROOT / "companion") == BOOK
    chapter = resolve_chapter("02_data_contract", BOOK)
    assert resolve_chapter("02", BOOK) == resolve_chapter("2", BOOK) == chapter
    assert resolve_chapter(str(chapter), BOOK) == chapter


def test_an_unknown_chapter_is_a_usage_error_listing_the_chapters():
    done = _run("99_nowhere")
    assert done.returncode == 2
    assert "unknown chapter '99_nowhere'" in done.stderr
    assert "02_data_contract" in done.stderr and "07_batch_and_business" in done.stderr


def test_a_parameter_the_chapter_lacks_is_a_usage_error():
    done = _run("02", "-p", "no_such_parameter", "1")
    assert done.returncode == 2 and "no_such_parameter" in done.stderr


@pytest.mark.slow
def test_a_chapter_runs_with_parameters(tmp_path: Path):
    out = tmp_path / "out" / "02.ipynb"
    done = _run("02_data_contract", "-p", "n_loans", "200", "-o", str(out), "--book", str(BOOK),
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    nb = nbformat.read(out, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "n_loans = 200" in injected[0].source
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    assert sum(bool(c.outputs) for c in code) >= len(code) // 2


@pytest.mark.slow
def test_a_failing_chapter_is_reported_by_chapter_and_cell(tmp_path: Path):
    done = _run("02", "-p", "data_home", str(tmp_path / "nowhere"),
                "--output-dir", str(tmp_path / "out"))
    assert done.returncode == 1
    assert "02_data_contract: cell" in done.stderr
    assert "load_telco(data_home)" in done.stderr  # the first lines of the failing cell
    assert "DataUnavailableError" in done.stderr
    assert (tmp_path / "out" / "02_data_contract.ipynb").is_file()
