"""What every command shares: exit codes, usage errors, output, the common options, input tables.

A command's handler takes the parsed arguments and returns its exit code: :data:`EXIT_OK` when it
is done, :data:`EXIT_FAILED` when a check it ran failed, :data:`EXIT_USAGE` for a usage,
data-contract or registry error (raised as ``UsageError`` or the library's own errors and
reported by :func:`closedloop.cli.main`). Each stage module lists its commands in
``COMMANDS``: name -> (handler, help text, function that adds the command's own arguments).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from closedloop.config import Workspace
from closedloop.contract.schema import Schema, load_schema
from closedloop.contract.telco import TELCO_SCHEMA, fetch, load_telco
from closedloop.platform.target import TARGETS, Target

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

Handler = Callable[[argparse.Namespace], int]
"""A command: parsed arguments in, exit code out."""
AddArguments = Callable[[argparse.ArgumentParser], None]
"""Adds a command's own arguments to its sub-parser."""
Command = tuple[Handler, str, AddArguments]
"""One entry of a stage module's ``COMMANDS``: handler, help text, its arguments."""


class UsageError(ValueError):
    """Bad command-line input (reported with exit code 2)."""


def whole_number(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: a whole number in ``[low, high]`` (either bound optional).

    A bad value is reported by argparse (exit 2) as, e.g., ``argument --days: expected a whole
    number >= 1, got -3``.
    """
    expected = _expected("a whole number", low, high, False, False)

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value

    parse.__name__ = "whole number"  # what argparse names in its own messages
    return parse


def number(low: float | None = None, high: float | None = None, *, low_open: bool = False,
           high_open: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a finite number between ``low`` and ``high`` (either bound
    optional; ``low_open``/``high_open`` exclude the bound itself).

    A bad value is reported by argparse (exit 2) as, e.g., ``argument --alpha: expected a number
    in (0, 1), got 5``.
    """
    import math

    expected = _expected("a number", low, high, low_open, high_open)

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}") from None
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if not math.isfinite(value) or too_low or too_high:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


def _expected(what: str, low: float | None, high: float | None, low_open: bool,
              high_open: bool) -> str:
    if low is not None and high is not None:
        return (f"{what} in {'(' if low_open else '['}{low:g}, {high:g}"
                f"{')' if high_open else ']'}")
    if low is not None:
        return f"{what} {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{what} {'<' if high_open else '<='} {high:g}"
    return what


#: The argparse ``type`` of a probability, a share or a threshold: a number in [0, 1].
UNIT_INTERVAL = number(0, 1)


def check_output(path: str | None, option: str, overwrite: bool) -> None:
    """Refuse to write ``path`` (given as ``option``) over a folder, or over an existing file
    unless ``overwrite`` (the command's ``--overwrite``) is set."""
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{option} {path}: is a folder (expected a file path)")
    if target.exists() and not overwrite:
        raise UsageError(f"{option} {path}: the file exists; pass --overwrite to replace it")
    if target.parent.exists() and not target.parent.is_dir():
        raise UsageError(f"{option} {path}: {target.parent} is a file, not a folder")


def add_overwrite_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--overwrite`` (replace output files that already exist)."""
    parser.add_argument("--overwrite", action="store_true",
                        help="replace output files that already exist (default: refuse)")


def _emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    print(json.dumps(payload, indent=2, default=str) if args.json else text)


def _read_table(path: str, option: str = "") -> pd.DataFrame:
    """The table in ``path`` (.csv/.parquet); a missing file, a folder or another file type is a
    ``UsageError`` naming ``option`` (e.g. ``--data``) and the path."""
    from closedloop.scoring.batch import read_table

    name = f"{option} {path}".strip()
    if Path(path).is_dir():
        raise UsageError(f"{name}: is a folder (expected a .csv or .parquet file)")
    if not Path(path).exists():
        raise UsageError(f"{name}: no such file (expected a .csv or .parquet file)")
    try:
        return read_table(path)
    except ValueError as err:  # an unsupported file type is a usage error (exit 2)
        raise UsageError(str(err)) from err


def _read_schema(path: str) -> Schema:
    """A data contract from a JSON file (:func:`~closedloop.contract.schema.load_schema`).

    A missing, malformed or invalid file raises :class:`~closedloop.contract.schema.SchemaError`
    naming the file, which :func:`closedloop.cli.main` reports with exit code 2.
    """
    return load_schema(path)


def _schema_or_telco(args: argparse.Namespace) -> Schema:
    """The contract in ``--schema`` if given, else the Telco one."""
    return _read_schema(args.schema) if args.schema else TELCO_SCHEMA


def _dataset(args: argparse.Namespace) -> tuple[pd.DataFrame, Schema, str]:
    """The training table: Telco by default, or ``--data FILE --schema FILE.json``."""
    if args.data is None:
        if args.schema is not None:
            raise UsageError("--schema needs --data")
        return load_telco(args.data_home), TELCO_SCHEMA, str(fetch("telco", args.data_home))
    if args.schema is None:
        raise UsageError("--data needs --schema (a JSON schema file, as in "
                         "examples/loans.schema.json)")
    schema = _read_schema(args.schema)
    from closedloop.contract.validation import restore_dtypes

    table = restore_dtypes(_read_table(args.data, "--data"), schema)
    return table, schema, str(Path(args.data).resolve())


def _champion(args: argparse.Namespace) -> str | None:
    """The ``@champion`` version of ``--model-name`` (None when there is none)."""
    from closedloop.model.registry import CHAMPION, aliases

    return aliases(args.workspace, args.model_name).get(CHAMPION)


def _require_model_ref(args: argparse.Namespace, ref: str, option: str = "--alias") -> None:
    """Refuse (``UsageError``) an alias or version number ``ref`` of ``--model-name``
    that does not exist, naming ``option`` and the aliases and versions there are."""
    from closedloop.model.registry import aliases

    known = aliases(args.workspace, args.model_name)
    if not str(ref).isdigit():
        if ref not in known:
            raise UsageError(f"{option} {ref}: {args.model_name} has no @{ref} (expected one "
                             f"of its aliases: {', '.join(sorted(known)) or 'none'}, or a "
                             "version number)")
        return
    found = args.workspace.client().search_model_versions(f"name = '{args.model_name}'")
    numbers = sorted((str(mv.version) for mv in found), key=int)
    if str(int(ref)) not in numbers:
        raise UsageError(f"{option} {ref}: {args.model_name} has no version {ref} (expected "
                         f"one of {', '.join(numbers) or 'none'}, or an alias)")


def _model_schema(args: argparse.Namespace, ref: str) -> Schema:
    """The contract of the registered version or alias ``ref``; ``--schema``, if given, must be
    the same (a ``UsageError`` names both and the first differing key)."""
    from closedloop.model.holdout import check_contract, load_contract

    contract = load_contract(args.workspace, ref, model_name=args.model_name)
    if getattr(args, "schema", None):
        try:
            check_contract(_read_schema(args.schema), contract,
                           what=f"{args.model_name} {'v' if ref.isdigit() else '@'}{ref}")
        except ValueError as err:
            raise UsageError(str(err)) from err
    return contract


def _model_dataset(args: argparse.Namespace, ref: str, *,
                   default: str = "none") -> tuple[pd.DataFrame | None, Schema, str]:
    """The table a command works on for the registered model ``ref``, with its contract.

    The contract is the model's (``--schema`` may only repeat it). ``--data``, if given, is read
    with it; otherwise ``default`` says what the table is: ``"none"`` (None: the command uses
    what the model stores) or ``"training"`` (the rows the model was trained on, as stored).
    """
    schema = _model_schema(args, ref)
    if args.data is not None:
        from closedloop.contract.validation import restore_dtypes

        return (restore_dtypes(_read_table(args.data, "--data"), schema), schema,
                str(Path(args.data).resolve()))
    if default == "training":
        from closedloop.model.holdout import load_training_rows, resolve_version

        version = resolve_version(args.workspace, ref, model_name=args.model_name)
        return (load_training_rows(args.workspace, version, model_name=args.model_name), schema,
                f"the training rows of {args.model_name} v{version}")
    return None, schema, f"the data stored with {args.model_name}@{ref}"


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Add the options every command takes (``--workdir``, ``--json``, ...)."""
    parser.add_argument("--workdir", help="workspace folder (default $CLOSEDLOOP_WORKDIR or "
                                          "./closedloop-work)")
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--model-name", default="closedloop-churn")
    parser.add_argument("--data-home", help="folder holding the Telco CSV "
                                            "(default $CLOSEDLOOP_DATA_HOME, then the cache)")
    parser.add_argument("--target", choices=TARGETS, type=str.lower,
                        help="where MLflow tracks and registers: the workspace folder (local) or "
                             "a Databricks workspace (default $CLOSEDLOOP_TARGET, then local)")
    parser.add_argument("--catalog", help="Unity Catalog catalog on --target databricks "
                                          "(default $CLOSEDLOOP_CATALOG)")
    parser.add_argument("--schema-name", help="Unity Catalog schema on --target databricks "
                                              "(default $CLOSEDLOOP_SCHEMA)")


def build_workspace(args: argparse.Namespace) -> Workspace:
    """The command's workspace: ``--workdir`` with MLflow on the target of ``--target``,
    ``--catalog`` and ``--schema-name`` (:meth:`~closedloop.platform.target.Target.resolve`);
    ``--model-name`` becomes the target's name for it (``catalog.schema.name`` in Unity
    Catalog). An incomplete target raises ``ValueError`` (exit code 2)."""
    target = Target.resolve(args.target, workdir=args.workdir, catalog=args.catalog,
                            schema=args.schema_name)
    args.model_name = target.model_name(args.model_name)
    return Workspace.resolve(args.workdir, target=target)


SCHEMA_HELP = "its data contract, a JSON schema file (book page 'The schema file')"


def add_data_options(parser: argparse.ArgumentParser, data_help: str,
                     schema_help: str = SCHEMA_HELP
                     ) -> None:
    """Add ``--data`` (its help says which table) and ``--schema``, as ``_dataset`` and
    ``_model_dataset`` read them."""
    parser.add_argument("--data", help=data_help)
    parser.add_argument("--schema", help=schema_help)
