"""Every chapter executes end to end with small parameters, and is committed clean.

Chapters are discovered with a glob, so a new chapter is tested without touching this file; give it
small parameters in ``SMALL_PARAMETERS`` if its defaults are slow. A chapter that declares a
``workdir`` parameter gets a fresh temporary workspace.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

BOOK = Path(__file__).resolve().parents[2] / "book"
CHAPTERS = sorted(BOOK.glob("*.ipynb"))

#: Parameters that keep each chapter fast in tests, by notebook stem (default: none).
SMALL_PARAMETERS: dict[str, dict] = {
    "03_training": {"n_trials": 3},
    "04_quality_gates": {"n_trials": 0, "n_bootstrap": 200},
    "05_ground_truth": {"days": 40, "rows_per_day": 100},
    "06_drift_and_estimation": {"days": 63, "rows_per_day": 100},
    "07_batch_and_business": {"rows": 2_000},
    "08_automated_retraining": {"log_days": 100, "log_rows_per_day": 40, "months": 3,
                                "rows_per_day": 100},
    "09_real_time_serving": {"train_rows": 1_500, "latency_requests": 60, "batch_rows": 5_000},
    "10_explain_fairness_abtest": {"n_bootstrap": 200, "n_simulations": 2_000},
    "12_your_own_table": {"n_trials": 0, "days": 45, "rows_per_day": 50, "months": 1,
                          "loop_rows_per_day": 40},
}


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def test_there_are_chapters():
    assert len(CHAPTERS) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapter_executes(chapter: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import papermill

    workdir = tmp_path / "workdir"
    # Belt and braces: a chapter that ignores its workdir parameter still writes only in tmp_path.
    monkeypatch.setenv("CLOSEDLOOP_WORKDIR", str(workdir))
    monkeypatch.setenv("MPLBACKEND", "agg")
    declared = papermill.inspect_notebook(str(chapter))
    parameters = dict(SMALL_PARAMETERS.get(chapter.stem, {}))
    if "workdir" in declared:
        parameters["workdir"] = str(workdir)
    unknown = set(parameters) - set(declared)
    assert not unknown, f"{chapter.name} has no parameters {sorted(unknown)}"
    papermill.execute_notebook(
        str(chapter), str(tmp_path / chapter.name), parameters=parameters,
        kernel_name="python3", cwd=str(BOOK), progress_bar=False,
    )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapter_is_committed_clean(chapter: Path):
    nb = nbformat.read(chapter, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    dirty = [i for i, cell in enumerate(code) if cell.outputs or cell.execution_count is not None]
    assert not dirty, f"{chapter.name}: code cells {dirty} have outputs or execution counts"
    tagged = [i for i, cell in enumerate(code) if "parameters" in cell.metadata.get("tags", [])]
    assert tagged == [0], f"{chapter.name}: want one `parameters` cell, the first code cell"
