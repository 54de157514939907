"""Commands of the retraining stage: ``retrain`` and ``loop``.

``retrain`` runs the nine-step retraining workflow once (from the policy's decision on the
evidence to training, quality gates and promotion), each step an MLflow run, and exits 1 when a
failed step stops it. ``loop`` replays a drifting stream under several retraining policies and
compares what each one earns.

See Also
--------
Chapter "Automated retraining" (``book/08_automated_retraining.ipynb``).
"""

from __future__ import annotations

import argparse

from closedloop.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    Command,
    _champion,
    _dataset,
    _emit,
    _model_dataset,
    add_data_options,
)


def cmd_retrain(args: argparse.Namespace) -> int:
    from closedloop.retrain.workflow import RetrainConfig, run_retraining

    # History and contract: the champion's stored ones unless --data is given (no champion: the
    # workflow stops at step 1 and says so)
    historical, schema, _ = (_model_dataset(args, "champion", default="training")
                             if _champion(args) else _dataset(args))
    config = RetrainConfig(recent_days=args.recent_days, recent_share=args.recent_share,
                           tune=args.tune, n_trials=args.trials, seed=args.seed,
                           gates=args.gates, derive_floors=not args.fixed_floors)
    run = run_retraining(args.workspace, historical, schema, policy=args.policy,
                         if_triggered=args.if_triggered, config=config, as_of=args.as_of,
                         model_name=args.model_name)
    _emit(args, run.to_dict(), f"{run}\n{run.to_frame().to_string(index=False)}")
    return EXIT_FAILED if run.outcome == "stopped" else EXIT_OK


def cmd_loop(args: argparse.Namespace) -> int:
    from closedloop.cli.simulate import resolve_scenario
    from closedloop.retrain.loop import DEFAULT_POLICIES, LoopConfig, simulate_loop

    # The champion's contract and training rows when there is one, else Telco (or --data)
    reference, schema, _ = (_model_dataset(args, "champion", default="training")
                            if _champion(args) and args.data is None else _dataset(args))
    # Telco's default drift; another table starts from a stationary stream.
    default = "loyalty_erosion" if schema.name == "telco" else "none"
    scenario = resolve_scenario(args.scenario, args.scenario_file, default=default)
    policies = args.policy or list(DEFAULT_POLICIES)
    config = LoopConfig(months=args.months, rows_per_day=args.rows_per_day,
                        scenario=scenario, label_delay_days=args.label_delay_days,
                        business=args.template, seed=args.seed)
    result = simulate_loop(reference, policies, config, schema=schema, progress=not args.quiet)
    folder = args.workspace.create().data_dir
    path = folder / f"loop-{scenario.name}-{args.months}m-seed{args.seed}.json"
    path.write_text(result.to_json())
    payload = {**result.to_dict(), "written": str(path)}
    if args.figure:
        result.plot().savefig(args.figure, dpi=120, bbox_inches="tight")
        payload["figure"] = args.figure
    _emit(args, payload, f"{result.summary().round(3).to_string(index=False)}\n\nwritten: {path}")
    return EXIT_OK


def add_retrain_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``closedloop retrain``."""
    parser.add_argument("--if-triggered", action="store_true",
                        help="stop after step 1 unless the policy fires")
    parser.add_argument("--policy", default="default",
                        help="default (all five triggers), performance, drift_estimate, monthly")
    parser.add_argument("--as-of", help="moment of the run (default now, UTC)")
    parser.add_argument("--recent-days", type=float, default=90,
                        help="labelled production rows of the last N days are the fresh data")
    parser.add_argument("--recent-share", type=float, default=0.7,
                        help="share of recent rows in training (the rest: history)")
    parser.add_argument("--gates", default="telecom_churn",
                        help="gate preset or YAML/JSON file")
    parser.add_argument("--fixed-floors", action="store_true",
                        help="keep the gates' metric floors instead of deriving them from the "
                             "fresh holdout's base rate")
    parser.add_argument("--tune", action="store_true",
                        help="tune instead of the champion's params")
    parser.add_argument("--trials", type=int, default=20, help="Optuna trials with --tune")
    parser.add_argument("--seed", type=int, default=0)
    add_data_options(parser, "the historical table (default: the rows the champion was "
                             "trained on, as stored with it)",
                     "its data contract, a JSON file (default: the champion's; if given it "
                     "must be the same)")


def add_loop_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``closedloop loop``."""
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--scenario",
                        help="named drift scenario (default loyalty_erosion; closedloop "
                             "simulate --list-scenarios)")
    parser.add_argument("--scenario-file",
                        help="a scenario declared in a JSON or YAML file (Scenario.from_dict)")
    parser.add_argument("--policy", action="append",
                        help="policy to compare (repeat; default never, monthly, performance, "
                             "drift_estimate)")
    parser.add_argument("--rows-per-day", type=int, default=200)
    parser.add_argument("--label-delay-days", type=int, default=30)
    parser.add_argument("--template", default="telecom",
                        help="business template pricing the decisions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figure", help="also save the comparison figure (.png/.svg)")
    add_data_options(parser, "the reference table (default: the champion's training rows, "
                             "or Telco without a champion)")


COMMANDS: dict[str, Command] = {
    "retrain": (cmd_retrain, "the nine-step retraining workflow (audited in MLflow)",
                add_retrain_arguments),
    "loop": (cmd_loop, "replay a drifting stream under retraining policies and compare",
             add_loop_arguments),
}
