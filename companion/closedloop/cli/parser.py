"""The ``closedloop`` command line: one sub-command per API entry point.

:func:`build_parser` assembles the sub-commands from the stage modules
(:mod:`~closedloop.cli.model`, :mod:`~closedloop.cli.gates`, :mod:`~closedloop.cli.simulate`,
:mod:`~closedloop.cli.scoring`, :mod:`~closedloop.cli.serving`, :mod:`~closedloop.cli.monitoring`,
:mod:`~closedloop.cli.business`, :mod:`~closedloop.cli.retrain`, then
:mod:`~closedloop.cli.book`, which executes the book's chapters) in the order the loop runs them,
each with the common options of :func:`closedloop.cli._common.add_common_options`; :func:`main`
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
from closedloop.cli._common import EXIT_USAGE, Command, UsageError, add_common_options
from closedloop.config import Workspace, quiet_mlflow
from closedloop.contract.schema import DataContractError, SchemaError
from closedloop.contract.telco import DataUnavailableError

LOOP_ORDER = ("train", "validate", "promote", "rollback", "status", "history", "simulate",
              "score", "serve", "backfill", "monitor", "roi", "retrain", "loop", "book")
"""The sub-commands in the order the loop runs them (and ``closedloop --help`` lists them)."""


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
    """Entry point of the ``closedloop`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    args.workspace = Workspace.resolve(args.workdir)
    quiet_mlflow()
    try:
        return args.handler(args)
    except (UsageError, SchemaError, DataContractError, DataUnavailableError,
            FileNotFoundError) as err:
        print(f"closedloop {args.command}: {err}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as err:
        from closedloop.model.registry import RegistryError

        if isinstance(err, (RegistryError, ValueError)):
            print(f"closedloop {args.command}: {err}", file=sys.stderr)
            return EXIT_USAGE
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
