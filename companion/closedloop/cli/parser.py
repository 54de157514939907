"""The ``closedloop`` command line: one sub-command per API entry point.

:func:`build_parser` assembles the sub-commands from the stage modules
(:mod:`~closedloop.cli.model`, :mod:`~closedloop.cli.gates`, :mod:`~closedloop.cli.simulate`,
:mod:`~closedloop.cli.scoring`, :mod:`~closedloop.cli.serving`, :mod:`~closedloop.cli.monitoring`,
:mod:`~closedloop.cli.business`, :mod:`~closedloop.cli.retrain`, then
:mod:`~closedloop.cli.book`, which executes the book's chapters) in the order the loop runs them,
each with the common options of ``closedloop.cli._common.add_common_options``; :func:`main`
runs one and turns the library's errors into exit codes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from closedloop.cli import (
    book,
    business,
    gates,
    model,
    monitoring,
    retrain,
    scoring,
    serving,
    simulate,
)
from closedloop.cli._common import (
    EXIT_USAGE,
    Command,
    UsageError,
    add_common_options,
    build_workspace,
)
from closedloop.config import Workspace, quiet_mlflow
from closedloop.contract.schema import SchemaError
from closedloop.contract.telco import DataUnavailableError
from closedloop.contract.validation import DataContractError

LOOP_ORDER = ("train", "validate", "promote", "rollback", "status", "history", "simulate",
              "score", "serve", "backfill", "monitor", "roi", "retrain", "loop", "book")
"""The sub-commands in the order the loop runs them (and ``closedloop --help`` lists them)."""

NEEDS_MODEL = frozenset({"validate", "promote", "rollback", "status", "history", "score",
                         "serve", "monitor", "roi", "retrain"})
"""Commands that work on a registered model: refused, with nothing created, in a workspace
without an MLflow store (``monitor --baseline FILE`` excepted: it reads a log only)."""


def check_workspace(args: argparse.Namespace) -> None:
    """Refuse, before anything is written, a ``--workdir`` that is not a folder and a command
    that needs a registered model in a workspace that has none.

    Raises
    ------
    UsageError
        Naming the folder and what was expected.
    """
    workspace: Workspace = args.workspace
    where = f"--workdir {args.workdir}" if args.workdir else f"workspace {workspace.root}"
    if workspace.root.exists() and not workspace.root.is_dir():
        raise UsageError(f"{where}: is a file (expected a workspace folder, or a path where one "
                         "can be created)")
    for parent in workspace.root.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"{where}: {parent} is a file, not a folder")
            break
    model_free = args.command == "monitor" and getattr(args, "baseline", None)
    if args.command in NEEDS_MODEL and not model_free and not workspace.has_registry:
        raise UsageError(f"no model registered in {workspace.root}: run closedloop train "
                         "first (or pass the --workdir that holds it)")


def _commands() -> dict[str, Command]:
    """Every stage module's ``COMMANDS``, in :data:`LOOP_ORDER`."""
    found: dict[str, Command] = {}
    for stage in (model, gates, simulate, scoring, serving, monitoring, business, retrain,
                  book):
        found.update(stage.COMMANDS)
    return {name: found[name] for name in LOOP_ORDER}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed so the docs and tests can inspect it)."""
    summary = __doc__.split("\n")[0].replace("``", "")
    parser = argparse.ArgumentParser(prog="closedloop", description=summary)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (handler, help_text, add_arguments) in _commands().items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        add_common_options(command)
        command.set_defaults(handler=handler)
        add_arguments(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``closedloop`` command; returns the exit code.

    A usage error argparse finds (a missing or out-of-range argument) is printed by argparse
    and returned as ``EXIT_USAGE``, like every other usage error,
    rather than raised as ``SystemExit``.
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as done:  # --help (0) or argparse's usage error (2)
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    quiet_mlflow()
    try:
        args.workspace = build_workspace(args)
        check_workspace(args)
        return args.handler(args)
    except (UsageError, SchemaError, DataContractError, DataUnavailableError,
            FileNotFoundError) as err:
        print(f"closedloop {args.command}: {err}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as err:
        from closedloop.model.registry import RegistryError
        from closedloop.monitoring.spark import SparkUnavailableError

        if isinstance(err, (RegistryError, ValueError, SparkUnavailableError)):
            print(f"closedloop {args.command}: {err}", file=sys.stderr)
            return EXIT_USAGE
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
