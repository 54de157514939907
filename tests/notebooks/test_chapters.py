"""Every chapter executes end to end with small parameters, and is committed clean.

Chapters are discovered with a glob, so a new chapter is tested without touching this file; give it
small parameters in ``SMALL_PARAMETERS`` if its defaults are slow. A chapter that declares a
``workdir`` parameter gets a fresh temporary workspace. Its executed outputs must be clean: no
warning, traceback, path of the repository or of the Python environment (``FORBIDDEN_OUTPUT``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
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
    "13_robustness": {"train_rows": 1_000},
}


#: What a reader must never see in a chapter's outputs: warnings, tracebacks, and paths of the
#: machine that built the book (the repository, the Python environment's packages).
FORBIDDEN_OUTPUT = re.compile("|".join([
    r"Warning\b", r"WARNING", r"Traceback", re.escape(str(ROOT)), re.escape(sys.prefix),
    r"site-packages",
]))


def output_problems(nb: nbformat.NotebookNode) -> list[str]:
    """``"code cell N: ...text..."`` for every output of ``nb`` that shows a forbidden string."""
    problems = []
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    for i, cell in enumerate(code, start=1):
        for output in cell.get("outputs", []):
            texts = [output.get("text", "")]
            texts += [str(v) for k, v in output.get("data", {}).items()
                      if k.startswith("text/") or k.endswith("json")]
            if output.get("output_type") == "error":
                texts += ["Traceback " + output.get("ename", "")]
            for text in texts:
                seen = set()
                for match in FORBIDDEN_OUTPUT.finditer(text):
                    line_start = text.rfind("\n", 0, match.start()) + 1
                    if line_start in seen:
                        continue
                    seen.add(line_start)
                    line_end = text.find("\n", match.end())
                    line = text[line_start:line_end if line_end >= 0 else None]
                    problems.append(f"code cell {i}: {line.strip()[:200]}")
    return problems


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
    executed = papermill.execute_notebook(
        str(chapter), str(tmp_path / chapter.name), parameters=parameters,
        kernel_name="python3", cwd=str(BOOK), progress_bar=False,
    )
    problems = output_problems(executed)
    assert not problems, (f"{chapter.name} shows readers warnings, tracebacks or build paths:\n  "
                          + "\n  ".join(problems))


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
