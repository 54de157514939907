"""The ``closedloop`` command line: one sub-command per API entry point.

Every command takes ``--workdir`` (default ``$CLOSEDLOOP_WORKDIR`` or ``./closedloop-work``) and
``--json`` (machine-readable output on stdout; logs and progress go to stderr). Exit codes: 0 done,
1 a check failed, 2 a usage, data-contract or registry error (the message says what to fix).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from closedloop.config import Workspace, quiet_mlflow
from closedloop.data import (
    TELCO_SCHEMA,
    DataContractError,
    DataUnavailableError,
    Schema,
    fetch,
    load_telco,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(ValueError):
    """Bad command-line input (reported with exit code 2)."""


def _emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    print(json.dumps(payload, indent=2, default=str) if args.json else text)


def _read_table(path: str) -> pd.DataFrame:
    from closedloop.scoring import read_table

    try:
        return read_table(path)
    except ValueError as err:  # an unsupported file type is a usage error (exit 2)
        raise UsageError(str(err)) from err


def _dataset(args: argparse.Namespace) -> tuple[pd.DataFrame, Schema, str]:
    """The training table: Telco by default, or ``--data FILE --schema FILE.json``."""
    if args.data is None:
        if args.schema is not None:
            raise UsageError("--schema needs --data")
        return load_telco(args.data_home), TELCO_SCHEMA, str(fetch("telco", args.data_home))
    if args.schema is None:
        raise UsageError("--data needs --schema (a JSON file as written by Schema.to_dict())")
    schema = Schema.from_dict(json.loads(Path(args.schema).read_text()))
    from closedloop.data import restore_dtypes

    return restore_dtypes(_read_table(args.data), schema), schema, str(Path(args.data).resolve())


def cmd_train(args: argparse.Namespace) -> int:
    from closedloop.registry import train_and_register
    from closedloop.train import TrainConfig

    df, schema, source = _dataset(args)
    config = TrainConfig(n_trials=args.trials, seed=args.seed)
    result = train_and_register(df, schema, args.workspace, config, model_name=args.model_name,
                                data_source=source, progress=not args.quiet)
    metrics = "\n".join(f"  {k:<10} {v:.4f}" for k, v in result.metrics.items())
    _emit(args, result.to_dict(),
          f"registered {args.model_name} v{result.model_version} as @challenger "
          f"(threshold {result.threshold:.3f})\ntest metrics:\n{metrics}")
    return EXIT_OK


def cmd_promote(args: argparse.Namespace) -> int:
    from closedloop.registry import promote

    move = promote(args.workspace, args.version, reason=args.reason, model_name=args.model_name,
                   force=args.force)
    _emit(args, move.to_dict(), f"v{move.version} is @champion (was v{move.previous_version})"
                                + (" FORCED without passed gates" if move.forced else ""))
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from closedloop.gates import GateConfig, get_preset
    from closedloop.validation import gate_version

    if args.preset and args.config:
        raise UsageError("give --preset or --config, not both")
    config = (GateConfig.from_file(args.config) if args.config
              else get_preset(args.preset or "telecom_churn"))
    changes = {"n_bootstrap": args.bootstrap, "random_state": args.seed}
    config = config.override(**{k: v for k, v in changes.items() if v is not None})
    df, schema, _ = _dataset(args)
    report = gate_version(args.workspace, df, schema, args.version, config,
                          model_name=args.model_name)
    _emit(args, report.to_dict(), str(report))
    return EXIT_OK if report.passed else EXIT_FAILED


def cmd_rollback(args: argparse.Namespace) -> int:
    from closedloop.registry import rollback

    move = rollback(args.workspace, reason=args.reason, model_name=args.model_name)
    _emit(args, move.to_dict(), f"rolled back: v{move.version} is @champion again "
                                f"(v{move.previous_version} is @previous_champion)")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from closedloop.registry import aliases, audit_log, versions

    table, audit = versions(args.workspace, args.model_name), audit_log(
        args.workspace, args.model_name)
    payload = {"aliases": aliases(args.workspace, args.model_name),
               "versions": table.to_dict("records"), "audit": audit.to_dict("records")}
    text = (f"{args.model_name}: {payload['aliases']}\n"
            f"{table.to_string(index=False) if len(table) else 'no versions'}\n\n"
            f"{audit.to_string(index=False) if len(audit) else 'no promotions yet'}")
    _emit(args, payload, text)
    return EXIT_OK


def cmd_simulate(args: argparse.Namespace) -> int:
    from closedloop import simulate

    if args.list_scenarios:
        table = simulate.list_scenarios()
        _emit(args, {"scenarios": table.to_dict("records")}, table.to_string(index=False))
        return EXIT_OK
    if args.output is None:
        raise UsageError("simulate needs --output FILE.parquet (or --list-scenarios)")
    scenario = simulate.get_scenario(args.scenario, **_overrides(args))
    simulator = simulate.StreamSimulator(load_telco(args.data_home), seed=args.seed,
                                         start=args.start)
    delay = simulate.LabelDelay(kind=args.label_delay_kind, days=args.label_delay_days,
                                max_days=args.label_delay_max_days)
    stream = simulator.stream(args.days, args.rows_per_day, scenario=scenario, label_delay=delay)
    written = _write_stream(stream, Path(args.output), args.labels_output)
    _emit(args, {"rows": len(stream), "days": args.days, "scenario": scenario.name,
                 "seed": args.seed, **written},
          f"wrote {len(stream):,} rows ({args.days} days, scenario {scenario.name}) to "
          f"{', '.join(written.values())}")
    return EXIT_OK


def cmd_monitor(args: argparse.Namespace) -> int:
    from closedloop.monitoring.drift import DriftConfig
    from closedloop.monitoring.report import holdout_reference, monitor
    from closedloop.monitoring.store import InferenceLog

    df, schema, source = _dataset(args)
    if args.baseline:
        baseline, name = _read_table(args.baseline), str(Path(args.baseline).resolve())
    else:
        baseline = holdout_reference(args.workspace, df, schema, model_name=args.model_name)
        name = f"{args.model_name}@champion held-out rows of {source}"
    report = monitor(InferenceLog(args.workspace, schema), baseline, granularity=args.granularity,
                     baseline_name=name, labels_as_of=args.labels_as_of,
                     drift_config=DriftConfig(alpha=args.alpha, min_psi=args.min_psi))
    _emit(args, report.to_dict(), report.summary())
    return EXIT_OK


def cmd_score(args: argparse.Namespace) -> int:
    from closedloop.scoring import RiskTiers, score_file

    schema = (Schema.from_dict(json.loads(Path(args.schema).read_text())) if args.schema
              else TELCO_SCHEMA)
    result = score_file(args.workspace, args.input, args.output, engine=args.engine,
                        alias=args.alias, schema=schema, model_name=args.model_name,
                        tiers=RiskTiers(high=args.high, medium=args.medium),
                        scored_at=args.scored_at, log=not args.no_log, master=args.master)
    _emit(args, result.to_dict(),
          f"scored {result.rows:,} rows with {result.model_name} v{result.model_version} "
          f"({result.engine}) -> {result.output}; tiers {result.tiers}")
    return EXIT_OK


def cmd_roi(args: argparse.Namespace) -> int:
    from closedloop.business import champion_summary, template

    fields = {"customer_value": args.customer_value,
              "intervention_cost": args.intervention_cost, "success_rate": args.success_rate}
    business = template(args.template, **{k: v for k, v in fields.items() if v is not None})
    frame = data = None
    if args.input:  # any batch; realised value too if it carries the target column
        from closedloop.data import restore_dtypes

        schema = (Schema.from_dict(json.loads(Path(args.schema).read_text())) if args.schema
                  else TELCO_SCHEMA)
        frame = restore_dtypes(_read_table(args.input), schema)
    else:  # the champion's holdout, rebuilt from the table it was trained on
        data, schema, _ = _dataset(args)
    summary = champion_summary(args.workspace, business, frame, data=data, schema=schema,
                               alias=args.alias, model_name=args.model_name,
                               threshold=args.threshold)
    _emit(args, summary.to_dict(), summary.to_markdown())
    return EXIT_OK


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    pairs = {"start_day": args.start_day, "strength": args.strength}
    return {k: v for k, v in pairs.items() if v is not None}


def _write_stream(stream: pd.DataFrame, output: Path, labels_output: str | None) -> dict[str, str]:
    """Write atomically (temp file, then rename); labels go to their own file if asked."""
    frames = {"output": stream}
    if labels_output:
        keys = [TELCO_SCHEMA.entity_id, "event_time"]
        labels = [TELCO_SCHEMA.target, "label_available_at", "true_churn_proba"]
        frames = {"output": stream.drop(columns=labels), "labels_output": stream[keys + labels]}
    paths = {"output": output, "labels_output": Path(labels_output or output)}
    for key, frame in frames.items():
        paths[key].parent.mkdir(parents=True, exist_ok=True)
        partial = paths[key].with_name(paths[key].name + ".partial")
        frame.to_parquet(partial, index=False)
        partial.replace(paths[key])
    return {key: str(paths[key]) for key in frames}


def cmd_backfill(args: argparse.Namespace) -> int:
    from closedloop.monitoring.ground_truth import backfill

    schema = (Schema.from_dict(json.loads(Path(args.schema).read_text())) if args.schema
              else TELCO_SCHEMA)
    result = backfill(args.workspace, args.labels, schema=schema, as_of=args.as_of,
                      dry_run=args.dry_run)
    counts = ", ".join(f"{k} {getattr(result, k)}" for k in (
        "matched", "already_present", "conflicting", "unmatched"))
    _emit(args, result.to_dict(),
          f"{result.labels} label(s): {counts}; {result.predictions_labelled} prediction(s) "
          f"labelled{' (dry run: nothing written)' if args.dry_run else ''}"
          + (f"\nconflicts (stored vs incoming, never overwritten):\n"
             f"{result.conflicts.to_string(index=False)}" if result.conflicting else ""))
    return EXIT_FAILED if args.fail_on_conflict and result.conflicting else EXIT_OK


def cmd_retrain(args: argparse.Namespace) -> int:
    from closedloop.retrain.workflow import RetrainConfig, run_retraining

    historical, schema, _ = _dataset(args)
    config = RetrainConfig(recent_days=args.recent_days, recent_share=args.recent_share,
                           tune=args.tune, n_trials=args.trials, seed=args.seed,
                           gates=args.gates, derive_floors=not args.fixed_floors)
    run = run_retraining(args.workspace, historical, schema, policy=args.policy,
                         if_triggered=args.if_triggered, config=config, as_of=args.as_of,
                         model_name=args.model_name)
    _emit(args, run.to_dict(), f"{run}\n{run.to_frame().to_string(index=False)}")
    return EXIT_FAILED if run.outcome == "stopped" else EXIT_OK


def cmd_loop(args: argparse.Namespace) -> int:
    from closedloop.retrain.loop import DEFAULT_POLICIES, LoopConfig, simulate_loop

    reference, schema, _ = _dataset(args)
    policies = args.policy or list(DEFAULT_POLICIES)
    config = LoopConfig(months=args.months, rows_per_day=args.rows_per_day,
                        scenario=args.scenario, label_delay_days=args.label_delay_days,
                        business=args.template, seed=args.seed)
    result = simulate_loop(reference, policies, config, schema=schema, progress=not args.quiet)
    folder = args.workspace.create().data_dir
    path = folder / f"loop-{args.scenario}-{args.months}m-seed{args.seed}.json"
    path.write_text(result.to_json())
    payload = {**result.to_dict(), "written": str(path)}
    if args.figure:
        result.plot().savefig(args.figure, dpi=120, bbox_inches="tight")
        payload["figure"] = args.figure
    _emit(args, payload, f"{result.summary().round(3).to_string(index=False)}\n\nwritten: {path}")
    return EXIT_OK


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", help="workspace folder (default $CLOSEDLOOP_WORKDIR or "
                                          "./closedloop-work)")
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--model-name", default="closedloop-churn")
    parser.add_argument("--data-home", help="folder holding the Telco CSV "
                                            "(default $CLOSEDLOOP_DATA_HOME, then the cache)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed so the docs and tests can inspect it)."""
    parser = argparse.ArgumentParser(prog="closedloop", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    commands: dict[str, tuple[Callable[[argparse.Namespace], int], str]] = {
        "train": (cmd_train, "tune, train and register a model as @challenger"),
        "validate": (cmd_validate, "run the quality gates on a version (default @challenger)"),
        "promote": (cmd_promote, "make a version (default @challenger) the @champion"),
        "rollback": (cmd_rollback, "give @champion back to @previous_champion"),
        "status": (cmd_status, "aliases, versions and the promotion audit trail"),
        "simulate": (cmd_simulate, "write a simulated production stream to Parquet"),
        "monitor": (cmd_monitor, "profile, drift and estimated performance of the inference log"),
        "backfill": (cmd_backfill, "join late-arriving labels into the inference log"),
        "roi": (cmd_roi, "expected and realised value of acting on the @champion's scores"),
        "score": (cmd_score, "score a batch file with the @champion, log it, write Parquet"),
        "retrain": (cmd_retrain, "the nine-step retraining workflow (audited in MLflow)"),
        "loop": (cmd_loop, "replay a drifting stream under retraining policies and compare"),
    }
    subs = {}
    for name, (handler, help_text) in commands.items():
        subs[name] = sub.add_parser(name, help=help_text, description=help_text)
        _common(subs[name])
        subs[name].set_defaults(handler=handler)
    train = subs["train"]
    train.add_argument("--trials", type=int, default=20, help="Optuna trials (0: no HPO)")
    train.add_argument("--seed", type=int, default=42)
    train.add_argument("--data", help="your own table (.csv/.parquet) instead of Telco")
    train.add_argument("--schema", help="its data contract, a JSON file (Schema.to_dict())")
    subs["promote"].add_argument("--version", help="version to promote (default @challenger)")
    subs["promote"].add_argument("--force", action="store_true", help="promote without a passed "
                                 "gate verdict (recorded in the audit trail)")
    val = subs["validate"]
    val.add_argument("--version", help="version to gate (default @challenger)")
    val.add_argument("--preset", help="gate preset (default telecom_churn)")
    val.add_argument("--config", help="gate settings, a YAML or JSON file")
    val.add_argument("--bootstrap", type=int, help="bootstrap replicates (default: the config's)")
    val.add_argument("--seed", type=int, help="seeds the bootstrap and the robustness sample")
    val.add_argument("--data", help="the table the version was trained on (default Telco)")
    val.add_argument("--schema", help="its data contract, a JSON file (Schema.to_dict())")
    for name in ("promote", "rollback"):
        subs[name].add_argument("--reason", required=True, help="why (kept in the audit trail)")
    mon = subs["monitor"]
    mon.add_argument("--granularity", default="1d", help="window width: 1h, 1d, 1w, 1mo, ...")
    mon.add_argument("--baseline", help="baseline table (.parquet/.csv) with the log's columns "
                                        "(default: the champion's held-out training rows)")
    mon.add_argument("--labels-as-of", help="use only labels arrived by this date")
    mon.add_argument("--alpha", type=float, default=0.01,
                     help="false-alarm rate per window (Bonferroni over columns)")
    mon.add_argument("--min-psi", type=float, default=0.0,
                     help="smallest PSI that counts as drift when a test rejects")
    mon.add_argument("--data", help="the champion's training table (default Telco)")
    mon.add_argument("--schema", help="its data contract, a JSON file (Schema.to_dict())")
    sim = subs["simulate"]
    sim.add_argument("--list-scenarios", action="store_true")
    sim.add_argument("--output", help="Parquet file for the stream")
    sim.add_argument("--labels-output", help="write ground truth + arrival time to this file")
    sim.add_argument("--days", type=int, default=30)
    sim.add_argument("--rows-per-day", type=int, default=1000)
    sim.add_argument("--scenario", default="none")
    sim.add_argument("--start-day", type=int, help="day the scenario begins")
    sim.add_argument("--strength", type=float, help="scenario strength (1.0 = its default)")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--start", default="2026-01-01", help="date of day 0")
    sim.add_argument("--label-delay-kind", default="fixed",
                     choices=("fixed", "uniform", "geometric"),
                     help="how label delays are distributed (default: fixed)")
    sim.add_argument("--label-delay-days", type=int, default=30,
                     help="the delay (fixed) or its mean (geometric), in days")
    sim.add_argument("--label-delay-max-days", type=int, default=90,
                     help="the longest delay (uniform draws from 0 to this)")
    fill = subs["backfill"]
    fill.add_argument("--labels", required=True, help="label file (.csv/.parquet): prediction_id "
                      "or entity id + window_start + window_end; ground_truth or the target; "
                      "label_arrived_at")
    fill.add_argument("--as-of", help="use only labels arrived by this time")
    fill.add_argument("--dry-run", action="store_true", help="count and report, write nothing")
    fill.add_argument("--fail-on-conflict", action="store_true",
                      help="exit 1 when a label conflicts with a stored one")
    fill.add_argument("--schema", help="the log's data contract, a JSON file (default Telco)")
    roi = subs["roi"]
    roi.add_argument("--template", default="telecom",
                     help="business template: telecom, retail or financial_services")
    roi.add_argument("--input", help="customers to score (.parquet/.csv; default: the "
                                     "champion's holdout, with real outcomes)")
    roi.add_argument("--threshold", type=float, help="contact customers scoring at least this "
                                                     "(default: the break-even probability)")
    roi.add_argument("--customer-value", type=float, help="override the template's value")
    roi.add_argument("--intervention-cost", type=float, help="override the template's cost")
    roi.add_argument("--success-rate", type=float, help="override the template's success rate")
    roi.add_argument("--alias", default="champion", help="alias or version number to score with")
    roi.add_argument("--data", help="the champion's training table (default Telco)")
    roi.add_argument("--schema", help="its data contract, a JSON file (Schema.to_dict())")
    sco = subs["score"]
    sco.add_argument("--input", required=True, help="batch to score (.parquet/.csv)")
    sco.add_argument("--output", required=True, help="Parquet file for the scored rows")
    sco.add_argument("--engine", choices=("pandas", "spark"), default="pandas")
    sco.add_argument("--alias", default="champion", help="alias or version number to score with")
    sco.add_argument("--master", default="local[*]", help="Spark master (--engine spark)")
    sco.add_argument("--high", type=float, default=0.7, help="lowest probability of 'high'")
    sco.add_argument("--medium", type=float, default=0.4, help="lowest probability of 'medium'")
    sco.add_argument("--scored-at", help="scoring time (default now, UTC); a retry that passes "
                                         "the same time logs nothing twice")
    sco.add_argument("--no-log", action="store_true", help="do not append to the inference log")
    sco.add_argument("--schema", help="the batch's data contract, a JSON file (default Telco)")
    ret = subs["retrain"]
    ret.add_argument("--if-triggered", action="store_true",
                     help="stop after step 1 unless the policy fires")
    ret.add_argument("--policy", default="default",
                     help="default (all five triggers), performance, drift_estimate, monthly")
    ret.add_argument("--as-of", help="moment of the run (default now, UTC)")
    ret.add_argument("--recent-days", type=float, default=90,
                     help="labelled production rows of the last N days are the fresh data")
    ret.add_argument("--recent-share", type=float, default=0.7,
                     help="share of recent rows in training (the rest: history)")
    ret.add_argument("--gates", default="telecom_churn", help="gate preset or YAML/JSON file")
    ret.add_argument("--fixed-floors", action="store_true",
                     help="keep the gates' metric floors instead of deriving them from the "
                          "fresh holdout's base rate")
    ret.add_argument("--tune", action="store_true", help="tune instead of the champion's params")
    ret.add_argument("--trials", type=int, default=20, help="Optuna trials with --tune")
    ret.add_argument("--seed", type=int, default=0)
    ret.add_argument("--data", help="the historical table (default Telco)")
    ret.add_argument("--schema", help="its data contract, a JSON file (Schema.to_dict())")
    loop = subs["loop"]
    loop.add_argument("--months", type=int, default=12)
    loop.add_argument("--scenario", default="loyalty_erosion",
                      help="drift scenario (closedloop simulate --list-scenarios)")
    loop.add_argument("--policy", action="append",
                      help="policy to compare (repeat; default never, monthly, performance, "
                           "drift_estimate)")
    loop.add_argument("--rows-per-day", type=int, default=200)
    loop.add_argument("--label-delay-days", type=int, default=30)
    loop.add_argument("--template", default="telecom", help="business template pricing the "
                                                            "decisions")
    loop.add_argument("--seed", type=int, default=0)
    loop.add_argument("--figure", help="also save the comparison figure (.png/.svg)")
    loop.add_argument("--data", help="the reference table (default Telco)")
    loop.add_argument("--schema", help="its data contract, a JSON file (Schema.to_dict())")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``closedloop`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    args.workspace = Workspace.resolve(args.workdir)
    quiet_mlflow()
    try:
        return args.handler(args)
    except (UsageError, DataContractError, DataUnavailableError, FileNotFoundError) as err:
        print(f"closedloop {args.command}: {err}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as err:
        from closedloop.registry import RegistryError

        if isinstance(err, (RegistryError, ValueError)):
            print(f"closedloop {args.command}: {err}", file=sys.stderr)
            return EXIT_USAGE
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
