"""Every chapter executes end to end with small parameters, reproducibly, and is committed clean.

Chapters are discovered with a glob, so a new chapter is tested without touching this file; give it
small parameters in ``SMALL_PARAMETERS`` if its defaults are slow. A chapter that declares a
``workdir`` parameter gets a fresh temporary workspace. Its executed outputs must be clean: no
warning, traceback, path of the repository or of the Python environment (``FORBIDDEN_OUTPUT``);
every figure it shows has a caption, a name and alt text (``figure_problems``); every number its
prose pastes with ``{glue:text}`` was glued by its code (``glue_problems``). Executed a second
time with the same parameters, in the same (emptied) folder, it prints the same text
(``test_chapter_prints_the_same_twice``), up to the differences named and justified in
``VOLATILE`` and the cells whose metadata says what they measure (``closedloop.varies``).

The second execution reuses the first: pytest-xdist's ``--dist loadfile`` runs this whole file
on one worker, in order, so ``test_chapter_executes`` leaves each executed notebook in
``_EXECUTED`` for the reproducibility test (run alone, with ``-k``, that test executes the chapter
twice itself).
"""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import dataclass
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


@dataclass
class Execution:
    """An executed chapter and the temporary folder it ran in (its workspace is inside)."""

    notebook: nbformat.NotebookNode
    folder: Path


#: Executed chapters by stem, for the reproducibility test (same worker: ``--dist loadfile``).
_EXECUTED: dict[str, Execution] = {}


def execute(chapter: Path, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Execution:
    """Run ``chapter`` with its small parameters in ``folder`` (its workspace is inside)."""
    import papermill

    folder.mkdir(parents=True, exist_ok=True)
    workdir = folder / "workdir"
    # Belt and braces: a chapter that ignores its workdir parameter still writes only in folder.
    monkeypatch.setenv("CLOSEDLOOP_WORKDIR", str(workdir))
    # The kernel draws with the inline backend, as in the book build, so the executed notebook
    # holds the images a reader sees (with MPLBACKEND=agg a figure assigned to a name shows
    # nothing, and the figure checks would pass on a chapter without figures).
    monkeypatch.delenv("MPLBACKEND", raising=False)
    declared = papermill.inspect_notebook(str(chapter))
    parameters = dict(SMALL_PARAMETERS.get(chapter.stem, {}))
    if "workdir" in declared:
        parameters["workdir"] = str(workdir)
    unknown = set(parameters) - set(declared)
    assert not unknown, f"{chapter.name} has no parameters {sorted(unknown)}"
    executed = papermill.execute_notebook(
        str(chapter), str(folder / chapter.name), parameters=parameters,
        kernel_name="python3", cwd=str(BOOK), progress_bar=False,
    )
    return Execution(executed, folder)


def _images(cell: nbformat.NotebookNode) -> int:
    return sum(1 for output in cell.get("outputs", []) for key in output.get("data", {})
               if key.startswith("image/"))


def figure_problems(nb: nbformat.NotebookNode) -> list[str]:
    """``"code cell N: ..."`` for every cell of an executed ``nb`` that shows an image without a
    caption, a ``fig-`` name and alt text in its ``mystnb`` metadata, or shows more than one
    image (the book would number the same figure twice)."""
    problems = []
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    for i, cell in enumerate(code, start=1):
        shown = _images(cell)
        if not shown:
            continue
        meta = cell.metadata.get("mystnb", {})
        figure, image = meta.get("figure", {}), meta.get("image", {})
        if not str(figure.get("caption", "")).strip():
            problems.append(f"code cell {i}: a figure without mystnb.figure.caption")
        if not str(figure.get("name", "")).startswith("fig-"):
            problems.append(f"code cell {i}: a figure without a mystnb.figure.name 'fig-...'")
        if not str(image.get("alt", "")).strip():
            problems.append(f"code cell {i}: a figure without mystnb.image.alt")
        if shown > 1:
            problems.append(f"code cell {i}: {shown} images (end the plotting line with ';')")
    return problems


GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`([^`:]+)(?::[^`]*)?`")


def glued_names(nb: nbformat.NotebookNode) -> set[str]:
    """Names glued by ``myst_nb.glue`` in the outputs of an executed ``nb``."""
    return {output.get("metadata", {}).get("scrapbook", {}).get("name")
            for cell in nb.cells if cell.cell_type == "code"
            for output in cell.get("outputs", [])} - {None}


def glue_problems(nb: nbformat.NotebookNode) -> list[str]:
    """Every ``{glue:...}`name``` in the prose of an executed ``nb`` that no code cell glued."""
    used = {name for cell in nb.cells if cell.cell_type == "markdown"
            for name in GLUE_ROLE.findall(cell.source)}
    return [f"prose pastes {name!r}, which no code cell glues"
            for name in sorted(used - glued_names(nb))]


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapter_executes(chapter: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    run = execute(chapter, tmp_path / "first", monkeypatch)
    _EXECUTED[chapter.stem] = run
    problems = output_problems(run.notebook)
    assert not problems, (f"{chapter.name} shows readers warnings, tracebacks or build paths:\n  "
                          + "\n  ".join(problems))
    problems = figure_problems(run.notebook) + glue_problems(run.notebook)
    assert not problems, f"{chapter.name}:\n  " + "\n  ".join(problems)


#: What may legitimately differ between two executions of a chapter with the same parameters:
#: each pattern's match is replaced by its placeholder (a group ``keep`` is kept) before the
#: texts are compared. Nothing else may differ.
VOLATILE: dict[str, re.Pattern] = {
    # MLflow run ids are random uuids (uuid4 hex), by MLflow's design.
    "<run-id>": re.compile(r"(?<![.\w])[0-9a-f]{32}(?![\w])"),
    # The registry ledger's transaction ids are random too (uuid4 hex, 12 digits); the decimals
    # of a number are never taken for one (no "." before).
    "<txn>": re.compile(r"(?<![.\w])[0-9a-f]{12}(?![\w])"),
    # The registry, the ledger, the audit trail and the gate reports record when a move was
    # made on this machine (wall-clock ISO times). Dates of the data never carry a time of day
    # with a fraction of a second or a zone, so they are not touched.
    # (A log line's time has a comma before its milliseconds.)
    "<now>": re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}([.,]\d+)(\+00:00|Z)?"
                        r"|\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\+00:00|Z| UTC)"),
    # ... and a time of day with no date before it is only ever that clock (chapter 3 shows the
    # ledger's `at` column as hh:mm:ss).
    "<time>": re.compile(r"(?<!\d{4}-\d{2}-\d{2} )(?<!\d{4}-\d{2}-\d{2}T)(?<![\d:])"
                         r"\d{2}:\d{2}:\d{2}(?![\d:])"),
    # Latency is measured on the machine that runs the chapter: a gate report's latency checks
    # show it as their value and in their explanation ("p99 (ms) of 400 calls 12.345").
    "<ms>": re.compile(r"(?P<keep>latency\.\w+</td><td[^>]*>|latency\.\w+\s+)[\d.]+"
                       r"|(?P<keep2>p99 \(ms\) of \d+ calls )[\d.]+"),
    # A duration printed in seconds ("scored in 0.5 s") is a measurement of this machine: the
    # unit " s" follows nothing else in the chapters.
    "<seconds>": re.compile(r"(?<![\w.])\d[\d,]*(\.\d+)? s\b"),
    # A local server (the serving chapter's service, chapter 11's stand-in workspace) binds a
    # free port that the operating system picks.
    "127.0.0.1:<port>": re.compile(r"127\.0\.0\.1:\d+"),
    # pandas' Styler ids tables with a random uuid ("T_3f2a1"), to keep CSS rules apart.
    "T_<id>": re.compile(r"T_[0-9a-f]{5}(?=[_\s\"'])"),
}


def _normalise(text: str) -> str:
    for placeholder, pattern in VOLATILE.items():
        text = pattern.sub(lambda m, p=placeholder: (m.groupdict().get("keep") or "")
                           + (m.groupdict().get("keep2") or "") + p, text)
    return text


def text_outputs(run: Execution) -> list[tuple[int, str]]:
    """``(code cell, text)`` for every code cell of ``run`` with text output: its streams,
    plain text, HTML, markdown and glued values, in order. A cell's stream output is joined
    first: the kernel splits a stream into chunks wherever it happens to flush. Images are left
    out: they are drawn from the numbers compared here, and a cell whose numbers are
    measurements (``closedloop.varies``) draws them too."""
    out = []
    code = [cell for cell in run.notebook.cells if cell.cell_type == "code"]
    for i, cell in enumerate(code, start=1):
        if cell.metadata.get("closedloop", {}).get("varies"):
            continue
        texts = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                if texts and texts[-1][0] == output.get("name"):
                    texts[-1] = (texts[-1][0], texts[-1][1] + output.get("text", ""))
                else:
                    texts.append((output.get("name"), output.get("text", "")))
            texts += [(key, str(value)) for key, value in output.get("data", {}).items()
                      if "image/" not in key]
        text = "\n".join(f"[{kind}]\n{value}" for kind, value in texts)
        if texts:
            text = _normalise(text)
            out.append((i, text))
    return out


def _changed_lines(first: str, second: str, limit: int = 6) -> list[str]:
    import difflib

    lines = [line for line in difflib.unified_diff(first.splitlines(), second.splitlines(),
                                                   "first", "second", lineterm="", n=0)
             if line[:1] in "+-" and line[:3] not in ("---", "+++")]
    return [line[:200] for line in lines[:limit]]


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapter_prints_the_same_twice(chapter: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch):
    first = _EXECUTED.pop(chapter.stem, None) or execute(chapter, tmp_path / "first", monkeypatch)
    # Again in the same folder, emptied first: a fresh workspace at the same path, so the paths
    # a chapter prints (its workspace, its MLflow store) are the same and need no normalising.
    shutil.rmtree(first.folder)
    second = execute(chapter, first.folder, monkeypatch)
    a, b = text_outputs(first), text_outputs(second)
    differences = [f"code cell {x[0]}:\n    " + "\n    ".join(_changed_lines(x[1], y[1]))
                   for x, y in zip(a, b) if x != y]
    if len(a) != len(b):
        differences.append(f"{len(a)} text outputs the first time, {len(b)} the second")
    assert not differences, (f"{chapter.name} prints different text with the same parameters:\n  "
                             + "\n  ".join(differences[:10]))


def test_cells_that_vary_say_why():
    """A cell excused from the reproducibility test names what varies (a measurement)."""
    unexplained = [f"{chapter.name} code cell {i}"
                   for chapter in CHAPTERS
                   for i, cell in enumerate(
                       [c for c in nbformat.read(chapter, as_version=4).cells
                        if c.cell_type == "code"], start=1)
                   if "varies" in cell.metadata.get("closedloop", {})
                   and len(str(cell.metadata["closedloop"]["varies"]).split()) < 3]
    assert not unexplained, "cells marked closedloop.varies without a reason: " + \
        ", ".join(unexplained)


#: A code cell that draws: calls a package ``plot_*`` function or a result's ``.plot()``.
DRAWS = re.compile(r"(?<![\w.])plot_\w+\(|\.plot\(|\bplot_\w+\(")
NUMREF = re.compile(r"\{numref\}`(?:[^`<]*<)?(fig-[\w-]+)>?`")


def test_every_figure_is_named_captioned_and_referenced():
    """Statically, without executing: each drawing cell carries caption, name and alt text, the
    name is unique in the book, and the chapter's prose refers to it with ``{numref}``."""
    problems, names = [], {}
    for chapter in CHAPTERS:
        nb = nbformat.read(chapter, as_version=4)
        prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        referenced = set(NUMREF.findall(prose))
        code = [cell for cell in nb.cells if cell.cell_type == "code"]
        for i, cell in enumerate(code, start=1):
            meta = cell.metadata.get("mystnb", {})
            name = meta.get("figure", {}).get("name")
            if DRAWS.search(cell.source) and not (name and meta["figure"].get("caption")
                                                  and meta.get("image", {}).get("alt")):
                problems.append(f"{chapter.name} code cell {i} draws without caption, name "
                                "and alt text")
            if name:
                if name in names:
                    problems.append(f"{chapter.name}: {name} is also a figure of {names[name]}")
                names[name] = chapter.name
                if name not in referenced:
                    problems.append(f"{chapter.name}: no {{numref}}`{name}` in the prose")
        for name in referenced - {n for n, c in names.items() if c == chapter.name}:
            problems.append(f"{chapter.name}: {{numref}}`{name}` names no figure of the chapter")
    assert not problems, "\n".join(problems)


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
