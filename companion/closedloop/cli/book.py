"""The ``book`` command: execute the book's chapters with papermill.

``closedloop book run CHAPTER -p key value ... [-o OUT.ipynb]`` executes one chapter with
parameters; ``closedloop book run --all [--output-dir DIR]`` executes every chapter. A chapter is
named by its file stem (``07_batch_and_business``), its number (``07`` or ``7``) or its path.
Parameter values are read as papermill's ``-p`` reads them: ``True``/``False``, ``None``,
integers and floats become Python values, anything else stays a string.

Each chapter runs in a fresh workspace of its own: its ``workdir`` parameter (and
``$CLOSEDLOOP_WORKDIR``) is set to a new, empty folder next to its output notebook unless
``-p workdir ...`` is given. The kernel's working directory is the book folder, as in
``make book``. The book folder is ``--book DIR``, else the ``book`` folder of the current
directory or of one of its parents.

Exit codes: 0 every chapter ran, 1 a chapter failed (the report names the chapter, the failing
cell, its first lines and the error), 2 a usage error (an unknown chapter: the message lists them).

See Also
--------
Chapter :doc:`Introduction </book/01_introduction>`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from closedloop.cli._common import EXIT_FAILED, EXIT_OK, Command, UsageError

#: Lines of the failing cell's source shown in a failure report.
SOURCE_LINES = 4

#: Default folder (under the project root, next to the book folder) for executed chapters.
DEFAULT_OUTPUT_DIR = Path("_build") / "runs"


def parse_value(text: str) -> Any:
    """A ``-p`` value as papermill reads it: bool, None, int, float, else the string itself.

    >>> [parse_value(v) for v in ["3", "0.5", "None", "True", "1e3", "abc", "07"]]
    [3, 0.5, None, True, 1000.0, 'abc', 7]
    """
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def find_book(book: str | os.PathLike[str] | None = None, start: Path | None = None) -> Path:
    """The book folder: ``book`` if given, else ``book/`` in ``start`` (default: the current
    directory) or in one of its parents, or ``start`` itself when it holds chapters."""
    if book is not None:
        path = Path(book)
        if not path.is_dir() or not list(path.glob("*.ipynb")):
            raise UsageError(f"--book {book}: not a folder holding chapter notebooks")
        return path.resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "book").is_dir() and list((folder / "book").glob("*.ipynb")):
            return folder / "book"
    if here.name == "book" and list(here.glob("*.ipynb")):
        return here
    raise UsageError(f"no book folder (a `book/` holding chapter notebooks) in {here} or its "
                     "parents; pass --book DIR")


def chapters(book: Path) -> list[Path]:
    """The chapter notebooks of ``book``, in order."""
    return sorted(p for p in book.glob("*.ipynb") if not p.name.startswith("."))


def resolve_chapter(name: str, book: Path) -> Path:
    """The chapter ``name`` names: a stem, a number (``07`` or ``7``) or a path."""
    known = chapters(book)
    path = Path(name)
    if path.suffix == ".ipynb" and path.is_file():
        return path.resolve()
    for chapter in known:
        if name in (chapter.stem, chapter.name):
            return chapter
    if name.isdigit():
        matches = [c for c in known if c.stem.split("_")[0].isdigit()
                   and int(c.stem.split("_")[0]) == int(name)]
        if len(matches) == 1:
            return matches[0]
    listing = "\n  ".join(c.stem for c in known)
    raise UsageError(f"unknown chapter {name!r}; the chapters of {book} are:\n  {listing}")


@dataclass
class ChapterRun:
    """The outcome of executing one chapter."""

    chapter: Path
    output: Path
    seconds: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def describe_failure(chapter: Path, err: BaseException) -> str:
    """A failure report: the chapter, the failing cell (number, first lines) and the error."""
    from papermill.exceptions import PapermillExecutionError

    if not isinstance(err, PapermillExecutionError):
        return f"{chapter.stem}: {type(err).__name__}: {err}"
    lines = (err.source or "").splitlines()
    shown = "\n".join(f"    | {line}" for line in lines[:SOURCE_LINES])
    more = f"\n    | ... ({len(lines) - SOURCE_LINES} more lines)" if len(lines) > SOURCE_LINES else ""
    count = f" (In [{err.exec_count}])" if err.exec_count is not None else ""
    return (f"{chapter.stem}: cell {err.cell_index}{count} failed\n{shown}{more}\n"
            f"  {err.ename}: {err.evalue}")


def run_chapter(chapter: Path, output: Path, parameters: dict[str, Any], book: Path,
                kernel: str = "python3") -> ChapterRun:
    """Execute ``chapter`` into ``output`` with ``parameters`` in a fresh workspace.

    The workspace is ``<output stem>-workdir`` next to ``output`` (emptied first) unless
    ``parameters`` names a ``workdir``; it is passed as the ``workdir`` parameter when the
    chapter declares one, and as ``$CLOSEDLOOP_WORKDIR`` in every case.
    """
    import papermill

    declared = papermill.inspect_notebook(str(chapter))
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise UsageError(f"{chapter.stem} has no parameters {unknown}; it declares "
                         f"{sorted(declared) or 'none'}")
    parameters = dict(parameters)
    output.parent.mkdir(parents=True, exist_ok=True)
    if "workdir" not in parameters:
        workdir = output.parent / f"{output.stem}-workdir"
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        if "workdir" in declared:
            parameters["workdir"] = str(workdir.resolve())
    else:
        workdir = Path(str(parameters["workdir"]))
    saved = os.environ.get("CLOSEDLOOP_WORKDIR")
    os.environ["CLOSEDLOOP_WORKDIR"] = str(workdir.resolve())
    started = time.perf_counter()
    try:
        papermill.execute_notebook(str(chapter), str(output), parameters=parameters,
                                   kernel_name=kernel, cwd=str(book), progress_bar=False)
    except Exception as err:  # noqa: BLE001 - every failure is reported, by chapter
        return ChapterRun(chapter, output, time.perf_counter() - started,
                          describe_failure(chapter, err))
    finally:
        if saved is None:
            os.environ.pop("CLOSEDLOOP_WORKDIR", None)
        else:
            os.environ["CLOSEDLOOP_WORKDIR"] = saved
    return ChapterRun(chapter, output, time.perf_counter() - started)


def cmd_book_run(args: argparse.Namespace) -> int:
    book = find_book(args.book)
    if args.all == bool(args.chapters):
        raise UsageError("name chapters to run, or --all (not both)")
    if args.output and (args.all or len(args.chapters) > 1):
        raise UsageError("-o names one output notebook: use --output-dir with several chapters")
    selected = chapters(book) if args.all else [resolve_chapter(c, book) for c in args.chapters]
    parameters = {key: parse_value(value) for key, value in args.parameters or []}
    output_dir = Path(args.output_dir) if args.output_dir else book.parent / DEFAULT_OUTPUT_DIR
    runs = []
    for chapter in selected:
        output = Path(args.output) if args.output else output_dir / chapter.name
        print(f"running {chapter.stem} -> {output}", file=sys.stderr, flush=True)
        run = run_chapter(chapter, output.resolve(), parameters, book)
        runs.append(run)
        status = "ok" if run.ok else "FAILED"
        print(f"{chapter.stem}: {status} in {run.seconds:.0f}s", file=sys.stderr, flush=True)
    failed = [run for run in runs if not run.ok]
    for run in failed:
        print(f"closedloop book: {run.error}\n  (output notebook: {run.output})", file=sys.stderr)
    if len(runs) > 1:
        print(f"{len(runs) - len(failed)} of {len(runs)} chapters ran"
              + (f"; failed: {', '.join(r.chapter.stem for r in failed)}" if failed else ""))
    return EXIT_FAILED if failed else EXIT_OK


def _book_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="book_action", required=True)
    run = actions.add_parser("run", help="execute chapters with papermill",
                             description="Execute chapters with papermill, each in a fresh "
                                         "workspace; exit 1 names the failing chapter and cell.")
    run.add_argument("chapters", nargs="*", metavar="CHAPTER",
                     help="a chapter stem (07_batch_and_business), number (07) or path")
    run.add_argument("--all", action="store_true", help="run every chapter")
    run.add_argument("-p", "--parameter", nargs=2, action="append", dest="parameters",
                     metavar=("KEY", "VALUE"), help="a parameter (read like papermill's -p)")
    run.add_argument("-o", "--output", help="the executed notebook (one chapter)")
    run.add_argument("--output-dir", help="folder for executed notebooks "
                                          "(default _build/runs next to the book folder)")
    run.add_argument("--book", help="the book folder (default: ./book or a parent's)")
    run.set_defaults(handler=cmd_book_run)


def cmd_book(args: argparse.Namespace) -> int:
    return args.handler(args)  # pragma: no cover - replaced by the action's handler


COMMANDS: dict[str, Command] = {
    "book": (cmd_book, "execute the book's chapters (papermill), with parameters",
             _book_arguments),
}
