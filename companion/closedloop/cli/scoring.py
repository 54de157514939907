"""Command of the batch-scoring stage: ``score``.

``score`` scores a batch file (.parquet/.csv) with the ``@champion`` (or another alias or
version) on pandas or Spark, assigns risk tiers, appends the predictions to the inference log and
writes the scored rows to Parquet.

See Also
--------
Chapter :doc:`Batch inference and business impact </book/07_batch_and_business>`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from closedloop.cli._common import (
    EXIT_OK,
    UNIT_INTERVAL,
    Command,
    UsageError,
    _emit,
    _model_schema,
)


def cmd_score(args: argparse.Namespace) -> int:
    from closedloop.scoring import RiskTiers
    from closedloop.scoring.batch import score_file

    source = Path(args.input)
    if source.is_dir() or not source.exists():
        raise UsageError(f"--input {args.input}: "
                         f"{'is a folder' if source.is_dir() else 'no such file'} "
                         "(expected a .csv or .parquet file)")
    if args.engine == "spark" and (args.reasons or args.experiment_salt):
        option = "--reasons" if args.reasons else "--experiment-salt"
        raise UsageError(f"{option} is not available with --engine spark (the Spark engine "
                         "scores with one model and writes no reason columns): use --engine "
                         "pandas")
    schema = _model_schema(args, args.alias)
    result = score_file(args.workspace, args.input, args.output, engine=args.engine,
                        alias=args.alias, schema=schema, model_name=args.model_name,
                        tiers=RiskTiers(high=args.high, medium=args.medium),
                        scored_at=args.scored_at, log=not args.no_log, master=args.master,
                        event_time=args.event_time, carry=args.carry or (),
                        overwrite=args.overwrite, reasons=args.reasons,
                        experiment=experiment_from_args(args),
                        challenger_alias=args.challenger_alias)
    when = (f"logged at their {result.event_time}" if result.event_time
            else f"logged at {result.scored_at}")
    arms = (f"; arms {result.arms} by versions {result.arm_versions}" if result.arms
            is not None else "")
    _emit(args, result.to_dict(),
          f"scored {result.rows:,} rows with {result.model_name} v{result.model_version} "
          f"({result.engine}) -> {result.output}; tiers {result.tiers}{arms}"
          + (f"; {when}" if result.logged else ""))
    return EXIT_OK


def experiment_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~closedloop.abtest.assignment.Experiment` of ``--experiment-salt``,
    ``--experiment-split`` (the challenger's share) and ``--coverage``; None without a salt."""
    salt = getattr(args, "experiment_salt", None)
    if not salt:
        return None
    from closedloop.abtest.assignment import Experiment

    split = float(args.experiment_split)
    if not 0 <= split <= 1:
        raise ValueError(f"--experiment-split must be in [0, 1] (got {split})")
    return Experiment(args.experiment_name or f"ab-{salt}", salt=salt,
                      split=(1 - split, split), coverage=float(args.coverage))


def add_experiment_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--experiment-salt``, ``--experiment-split``, ``--coverage``,
    ``--experiment-name`` and ``--challenger-alias`` (``score`` and ``serve``)."""
    parser.add_argument("--experiment-salt", metavar="SALT",
                        help="run an A/B experiment with this salt: entities assigned to the "
                             "challenger arm are scored by --challenger-alias, the others by "
                             "the champion (sticky assignment by entity id)")
    parser.add_argument("--experiment-split", type=float, default=0.5, metavar="SHARE",
                        help="the challenger's share of the experiment's traffic (default 0.5)")
    parser.add_argument("--coverage", type=float, default=1.0,
                        help="share of entities in the experiment (default 1; the rest are "
                             "scored by the champion)")
    parser.add_argument("--experiment-name", help="the experiment's name (default ab-SALT)")
    parser.add_argument("--challenger-alias", default="challenger",
                        help="alias (or version) of the challenger arm (default challenger)")


def add_score_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``closedloop score``."""
    parser.add_argument("--input", required=True, help="batch to score (.parquet/.csv)")
    parser.add_argument("--output", required=True,
                        help="Parquet file for the scored rows (not a folder; an existing file "
                             "is refused unless --overwrite, or it holds this very batch)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --output file")
    parser.add_argument("--engine", choices=("pandas", "spark"), default="pandas")
    parser.add_argument("--alias", default="champion",
                        help="alias or version number to score with")
    parser.add_argument("--master", default="local[*]", help="Spark master (--engine spark)")
    parser.add_argument("--high", type=UNIT_INTERVAL, default=0.7,
                        help="lowest probability of 'high', in [0, 1]")
    parser.add_argument("--medium", type=UNIT_INTERVAL, default=0.4,
                        help="lowest probability of 'medium', in [0, --high]")
    parser.add_argument("--scored-at",
                        help="scoring time (default now, UTC). Without an event time a retry "
                             "of the same file with the same model logs nothing twice (the "
                             "batch is identified by the file's content); with --scored-at the "
                             "given time identifies it instead")
    parser.add_argument("--event-time", metavar="COLUMN",
                        help="column of each row's event time, kept in the output and logged as "
                             "the prediction time (default: the contract's timestamp column, "
                             "else a column named event_time if present, else the scoring "
                             "time)")
    parser.add_argument("--carry", metavar="COLUMN", action="append",
                        help="keep this extra column in the output file (repeatable; not "
                             "stored in the inference log)")
    parser.add_argument("--no-log", action="store_true",
                        help="do not append to the inference log")
    parser.add_argument("--schema",
                        help="the batch's data contract, a JSON file (default: the model's; "
                             "if given it must be the same)")
    parser.add_argument("--reasons", type=int, metavar="K",
                        help="append reason_1..reason_K, each row's top reasons in words, to "
                             "the output file (not the log; --engine pandas only)")
    add_experiment_arguments(parser)


COMMANDS: dict[str, Command] = {
    "score": (cmd_score, "score a batch file with the @champion, log it, write Parquet",
              add_score_arguments),
}
