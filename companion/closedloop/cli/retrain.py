"""Commands of the retraining stage: ``retrain`` and ``loop``.

``retrain`` runs the nine-step retraining workflow once (from the policy's decision on the
evidence to training, quality gates and promotion), each step an MLflow run, and exits 1 when a
failed step stops it. Step 1 is measured first, writing nothing
(:func:`~closedloop.retrain.workflow.assess_retraining`): a run it cannot judge (``--if-triggered``
with no trigger measurable, a ``--data`` no reference can be built from) exits 2 with the reason
and leaves the workspace as it was. ``--fairness COLUMN`` adds a
:class:`~closedloop.retrain.triggers.FairnessTrigger` on the labelled rows of the inference log
to the policy (its metric and threshold set by ``--fairness-metric`` and
``--fairness-threshold``); the decision then lists it with the other triggers. ``loop`` replays
a drifting stream under several retraining policies and compares what each one earns.

See Also
--------
Chapter :doc:`Automated retraining </book/08_automated_retraining>`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from closedloop.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    UNIT_INTERVAL,
    Command,
    UsageError,
    _champion,
    _dataset,
    _emit,
    _model_dataset,
    add_data_options,
    add_overwrite_option,
    check_output,
    number,
    whole_number,
)
from closedloop.cli.business import add_business_options

if TYPE_CHECKING:
    from closedloop.retrain.workflow import Assessment


def cmd_retrain(args: argparse.Namespace) -> int:
    from closedloop.retrain.workflow import RetrainConfig, assess_retraining, run_retraining

    # History and contract: the champion's stored ones unless --data is given (no champion: the
    # workflow stops at step 1 and says so)
    champion = _champion(args)
    historical, schema, _ = (_model_dataset(args, "champion", default="training")
                             if champion else _dataset(args))
    if args.data is not None:  # a table that cannot be history is refused before step 1 runs
        from closedloop.contract.validation import DataContractError, validate

        try:
            validate(historical, schema)
        except DataContractError as err:
            raise UsageError(f"--data {args.data}: not a labelled table of the champion's "
                             f"contract: {err}") from err
    config = RetrainConfig(recent_days=args.recent_days, recent_share=args.recent_share,
                           tune=args.tune, n_trials=args.trials, seed=args.seed,
                           gates=args.gates, derive_floors=not args.fixed_floors)
    policy = fairness_policy(args, schema)
    assessment = None
    if champion:  # step 1 first, writing nothing: a run it cannot judge is refused unwritten
        assessment = assess_retraining(args.workspace, historical, schema, policy=policy,
                                       config=config, as_of=args.as_of,
                                       model_name=args.model_name)
        problem = assessment_problem(assessment, args)
        if problem:
            raise UsageError(problem)
    run = run_retraining(args.workspace, historical, schema, policy=policy,
                         if_triggered=args.if_triggered, config=config,
                         as_of=args.as_of if assessment is None else assessment.as_of,
                         model_name=args.model_name, assessment=assessment)
    _emit(args, run.to_dict(), f"{run}\n{run.to_frame().to_string(index=False)}")
    return EXIT_FAILED if run.outcome == "stopped" else EXIT_OK


def fairness_policy(args: argparse.Namespace, schema: Any) -> Any:
    """``--policy``, with a :class:`~closedloop.retrain.triggers.FairnessTrigger` on
    ``--fairness COLUMN`` added when given (the policy's name gets ``+fairness``).

    The trigger reads the inference log's rows (labels as of ``--as-of``). A column that is not
    a feature of the contract, an unknown metric or a threshold out of range is a usage error
    naming the option, raised before anything runs.
    """
    if not args.fairness:
        return args.policy
    import dataclasses

    from closedloop.fairness.metrics import HIGHER_IS_FAIRER, metric_name
    from closedloop.monitoring.store import InferenceLog
    from closedloop.retrain.triggers import FairnessTrigger, get_policy

    if args.fairness not in schema.feature_names:
        raise UsageError(f"--fairness {args.fairness}: not a feature of the contract "
                         f"{schema.name!r} (the log stores its features: "
                         f"{', '.join(schema.feature_names)})")
    try:
        metric = metric_name(args.fairness_metric)
    except ValueError as err:
        raise UsageError(f"--fairness-metric: {err}") from None
    threshold = args.fairness_threshold
    if threshold is None:
        threshold = 0.8 if metric in HIGHER_IS_FAIRER else 0.1
    elif metric in HIGHER_IS_FAIRER and not 0 <= threshold <= 1:
        raise UsageError(f"--fairness-threshold {threshold:g}: {metric} is a ratio, expected "
                         "a number in [0, 1]")
    try:
        policy = get_policy(args.policy)
    except ValueError as err:
        raise UsageError(f"--policy: {err}") from None
    rows = InferenceLog(args.workspace, schema).read(None, args.as_of,
                                                     labels_as_of=args.as_of)
    trigger = FairnessTrigger(args.fairness, metric, threshold,
                              window_days=args.fairness_window_days,
                              min_rows=args.fairness_min_rows).with_rows(rows)
    return dataclasses.replace(policy, name=f"{policy.name}+fairness",
                               triggers=(*policy.triggers, trigger))


def add_fairness_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--fairness`` and its options (``closedloop retrain``)."""
    parser.add_argument("--fairness", metavar="COLUMN",
                        help="also retrain when a fairness disparity on this sensitive column "
                             "(a feature), measured on the log's labelled rows, is beyond "
                             "--fairness-threshold")
    parser.add_argument("--fairness-metric", default="equal_opportunity_difference",
                        help="the disparity (default equal_opportunity_difference, the TPR "
                             "difference; also demographic_parity_difference, "
                             "demographic_parity_ratio, equalized_odds_difference)")
    parser.add_argument("--fairness-threshold", type=number(0), default=None,
                        help="fire above this difference (default 0.1), or below this ratio "
                             "(default 0.8)")
    parser.add_argument("--fairness-window-days", type=number(0, low_open=True), default=30,
                        help="labels arrived in the last N days count (default 30)")
    parser.add_argument("--fairness-min-rows", type=whole_number(1), default=100,
                        help="fewer labelled rows and the trigger is not measured (default "
                             "100)")


def assessment_problem(assessment: Assessment, args: argparse.Namespace) -> str | None:
    """Why ``assessment`` (step 1, measured before anything is written) cannot judge what the
    command asked, or None.

    * ``--data`` was given but no reference could be built from it (the drift and estimated
      performance triggers would go unmeasured);
    * ``--if-triggered``, the policy does not fire, and every trigger that reads the inference
      log was "not measured" (no rows in the window, no labels): "not triggered" would then
      mean "not assessed".
    """
    if args.data is not None and assessment.note:
        return (f"--data {args.data}: the champion's monitoring reference cannot be built "
                f"from it ({assessment.note}); pass the table the champion was trained on, "
                "or no --data")
    if not args.if_triggered or assessment.decision.retrain or assessment.assessed:
        return None
    evidence = assessment.evidence.to_dict()
    reasons = "; ".join(f"{r.trigger}: {r.reason}" for r in assessment.watched)
    return (f"--if-triggered: cannot assess whether to retrain as of {assessment.as_of}: "
            f"{evidence.get('window_rows', 0)} logged row(s) in the window, "
            f"{evidence.get('labelled_rows', 0)} labelled ({reasons}). Score and log "
            "predictions (closedloop score) and backfill labels first")


def cmd_loop(args: argparse.Namespace) -> int:
    from closedloop.cli.business import business_from_args
    from closedloop.cli.simulate import resolve_scenario
    from closedloop.retrain.loop import DEFAULT_POLICIES, LoopConfig, simulate_loop

    check_output(args.figure, "--figure", args.overwrite)
    if args.figure:
        _check_figure_format(args.figure)
    # The champion's contract and training rows when there is one, else Telco (or --data)
    reference, schema, _ = (_model_dataset(args, "champion", default="training")
                            if _champion(args) and args.data is None else _dataset(args))
    # Telco's default drift; another table starts from a stationary stream.
    default = "loyalty_erosion" if schema.name == "telco" else "none"
    scenario = resolve_scenario(args.scenario, args.scenario_file, default=default)
    policies = args.policy or list(DEFAULT_POLICIES)
    config = LoopConfig(months=args.months, rows_per_day=args.rows_per_day,
                        scenario=scenario, label_delay_days=args.label_delay_days,
                        business=business_from_args(args), seed=args.seed)
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


def _check_figure_format(path: str) -> None:
    from matplotlib.figure import Figure

    known = Figure().canvas.get_supported_filetypes()
    suffix = Path(path).suffix.lstrip(".").lower()
    if suffix not in known:
        raise UsageError(f"--figure {path}: expected a file ending in one of "
                         f"{', '.join('.' + k for k in sorted(known))}")


def add_retrain_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``closedloop retrain``."""
    parser.add_argument("--if-triggered", action="store_true",
                        help="stop after step 1 unless the policy fires")
    parser.add_argument("--policy", default="default",
                        help="default (all five triggers), performance, drift_estimate, monthly")
    parser.add_argument("--as-of", help="moment of the run (default now, UTC)")
    parser.add_argument("--recent-days", type=number(0, low_open=True), default=90,
                        help="labelled production rows of the last N days (> 0) are the "
                             "fresh data")
    parser.add_argument("--recent-share", type=UNIT_INTERVAL, default=0.7,
                        help="share of recent rows in training, in [0, 1] (the rest: "
                             "history)")
    parser.add_argument("--gates", default="telecom_churn",
                        help="gate preset or YAML/JSON file")
    parser.add_argument("--fixed-floors", action="store_true",
                        help="keep the gates' metric floors instead of deriving them from the "
                             "fresh holdout's base rate")
    parser.add_argument("--tune", action="store_true",
                        help="tune instead of the champion's params")
    parser.add_argument("--trials", type=whole_number(0), default=20,
                        help="Optuna trials with --tune, >= 0")
    parser.add_argument("--seed", type=int, default=0)
    add_fairness_arguments(parser)
    add_data_options(parser, "the historical table (default: the rows the champion was "
                             "trained on, as stored with it)",
                     "its data contract, a JSON file (default: the champion's; if given it "
                     "must be the same)")


def add_loop_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``closedloop loop``."""
    parser.add_argument("--months", type=whole_number(1), default=12,
                        help="months to replay, >= 1")
    parser.add_argument("--scenario",
                        help="named drift scenario (default loyalty_erosion; closedloop "
                             "simulate --list-scenarios)")
    parser.add_argument("--scenario-file",
                        help="a scenario declared in a JSON or YAML file (Scenario.from_dict)")
    parser.add_argument("--policy", action="append",
                        help="policy to compare (repeat; default never, monthly, performance, "
                             "drift_estimate)")
    parser.add_argument("--rows-per-day", type=whole_number(1), default=200,
                        help="mean rows per day, >= 1")
    parser.add_argument("--label-delay-days", type=whole_number(0), default=30,
                        help="days until a label arrives, >= 0")
    add_business_options(parser)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figure", help="also save the comparison figure (.png/.svg)")
    add_overwrite_option(parser)
    add_data_options(parser, "the reference table (default: the champion's training rows, "
                             "or Telco without a champion)")


COMMANDS: dict[str, Command] = {
    "retrain": (cmd_retrain, "the nine-step retraining workflow (audited in MLflow)",
                add_retrain_arguments),
    "loop": (cmd_loop, "replay a drifting stream under retraining policies and compare",
             add_loop_arguments),
}
