"""Command of the simulation stage: ``simulate``.

``simulate`` writes a simulated production stream (Telco customers, or the rows of ``--data``
under the contract ``--schema``; a named drift scenario or one declared in ``--scenario-file``;
delayed labels) to Parquet, atomically, with the ground truth in its own file if asked; or lists
the scenarios.

See Also
--------
Chapter :doc:`Ground truth and production accuracy </book/05_ground_truth>`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

from closedloop.cli._common import (
    EXIT_OK,
    Command,
    UsageError,
    _dataset,
    _emit,
    _schema_or_telco,
    add_data_options,
    add_overwrite_option,
    check_output,
    number,
    whole_number,
)
from closedloop.contract.schema import Schema


def cmd_simulate(args: argparse.Namespace) -> int:
    from closedloop import simulate

    if args.list_scenarios:
        table = simulate.list_scenarios(_schema_or_telco(args))
        _emit(args, {"scenarios": table.to_dict("records")}, table.to_string(index=False))
        return EXIT_OK
    if args.output is None:
        raise UsageError("simulate needs --output FILE.parquet (or --list-scenarios)")
    scenario = resolve_scenario(args.scenario, args.scenario_file, _overrides(args))
    check_output(args.output, "--output", args.overwrite)
    check_output(args.labels_output, "--labels-output", args.overwrite)
    if args.labels_output and Path(args.labels_output).resolve() == Path(args.output).resolve():
        raise UsageError("--labels-output must be another file than --output")
    reference, schema, _ = _dataset(args)
    simulator = simulate.StreamSimulator(reference, schema=schema, seed=args.seed,
                                         start=args.start)
    delay = simulate.LabelDelay(kind=args.label_delay_kind, days=args.label_delay_days,
                                max_days=args.label_delay_max_days)
    stream = simulator.stream(args.days, args.rows_per_day, scenario=scenario, label_delay=delay)
    written = _write_stream(stream, Path(args.output), args.labels_output, schema)
    _emit(args, {"rows": len(stream), "days": args.days, "scenario": scenario.name,
                 "seed": args.seed, **written},
          f"wrote {len(stream):,} rows ({args.days} days, scenario {scenario.name}) to "
          f"{', '.join(written.values())}")
    return EXIT_OK


def resolve_scenario(name: str | None, path: str | None,
                     overrides: dict[str, Any] | None = None, default: str = "none") -> Any:
    """The scenario of ``--scenario NAME`` or ``--scenario-file FILE`` (not both), overridden.

    Without either, the registered scenario ``default``.

    Raises
    ------
    UsageError
        Both given, or the file is missing or declares a bad scenario.
    """
    from dataclasses import replace

    from closedloop import simulate

    if path is None:
        return simulate.get_scenario(name or default, **(overrides or {}))
    if name is not None:
        raise UsageError("give --scenario NAME or --scenario-file FILE, not both")
    if not Path(path).is_file():
        raise UsageError(f"--scenario-file {path}: no such file")
    return replace(simulate.load_scenario(path), **(overrides or {}))


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    pairs = {"start_day": args.start_day, "strength": args.strength}
    return {k: v for k, v in pairs.items() if v is not None}


def _write_stream(stream: pd.DataFrame, output: Path, labels_output: str | None,
                  schema: Schema) -> dict[str, str]:
    """Write atomically (temp file, then rename); labels go to their own file if asked.

    Without its labels the stream is a batch ``closedloop score`` takes as it is: the contract's
    columns and ``event_time`` (found by default and logged as each row's prediction time).
    Times are stored in microseconds (the simulator's resolution), which Spark reads; pandas'
    default nanoseconds it does not.
    """
    frames = {"output": stream}
    if labels_output:
        keys = [schema.entity_id, "event_time"]
        labels = [schema.target, "label_available_at", "true_churn_proba"]
        frames = {"output": stream.drop(columns=labels), "labels_output": stream[keys + labels]}
    paths = {"output": output, "labels_output": Path(labels_output or output)}
    for key, frame in frames.items():
        paths[key].parent.mkdir(parents=True, exist_ok=True)
        partial = paths[key].with_name(paths[key].name + ".partial")
        frame.to_parquet(partial, index=False, coerce_timestamps="us")
        partial.replace(paths[key])
    return {key: str(paths[key]) for key in frames}


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``closedloop simulate``."""
    parser.add_argument("--list-scenarios", action="store_true")
    parser.add_argument("--output", help="Parquet file for the stream")
    parser.add_argument("--labels-output",
                        help="write ground truth + arrival time to this file")
    parser.add_argument("--days", type=whole_number(1), default=30,
                        help="days of stream, >= 1")
    parser.add_argument("--rows-per-day", type=whole_number(1), default=1000,
                        help="mean rows per day, >= 1")
    parser.add_argument("--scenario", help="named drift scenario (default none; "
                                           "--list-scenarios shows them)")
    parser.add_argument("--scenario-file",
                        help="a scenario declared in a JSON or YAML file (Scenario.from_dict)")
    parser.add_argument("--start-day", type=whole_number(0),
                        help="day the scenario begins, >= 0")
    parser.add_argument("--strength", type=number(0),
                        help="scenario strength, >= 0 (1.0 = its default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", default="2026-01-01", help="date of day 0")
    parser.add_argument("--label-delay-kind", default="fixed",
                        choices=("fixed", "uniform", "geometric"),
                        help="how label delays are distributed (default: fixed)")
    parser.add_argument("--label-delay-days", type=whole_number(0), default=30,
                        help="the delay (fixed) or its mean (geometric), in days (>= 0)")
    parser.add_argument("--label-delay-max-days", type=whole_number(0), default=90,
                        help="the longest delay (uniform draws from 0 to this), >= 0")
    add_overwrite_option(parser)
    add_data_options(parser, "the reference table the stream is calibrated on (default Telco)")


COMMANDS: dict[str, Command] = {
    "simulate": (cmd_simulate, "write a simulated production stream to Parquet",
                 add_simulate_arguments),
}
