"""Chapter code reads well on a page: no code line longer than ``MAX_LINE`` characters.

A reader sees code cells in a column about 88 characters wide; longer lines scroll sideways in
the HTML book and are cut in print. The test lists every offending line by chapter and cell.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

BOOK = Path(__file__).resolve().parents[2] / "book"
CHAPTERS = sorted(BOOK.glob("*.ipynb"))
MAX_LINE = 88

def long_lines(chapter: Path, limit: int = MAX_LINE) -> list[str]:
    """``"cell N, line M (L chars): text"`` for every code line of ``chapter`` over ``limit``."""
    nb = nbformat.read(chapter, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    return [f"code cell {i}, line {j} ({len(line)} chars): {line.strip()[:60]}..."
            for i, cell in enumerate(code, start=1)
            for j, line in enumerate(cell.source.splitlines(), start=1) if len(line) > limit]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_code_lines_fit_the_page(chapter: Path):
    offenders = long_lines(chapter)
    assert not offenders, (f"{chapter.name}: code lines over {MAX_LINE} characters:\n  "
                           + "\n  ".join(offenders))
