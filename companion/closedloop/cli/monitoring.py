"""Commands of the monitoring stage: ``backfill`` and ``monitor``.

``backfill`` joins late-arriving labels into the inference log (idempotently; a label that
conflicts with a stored one is reported, never written). ``monitor`` profiles the log per window
and model version, tests it for drift against a baseline (default: per model version, the
held-out rows stored with that version) and estimates the performance the labels have not
confirmed yet.

See Also
--------
Chapter :doc:`Ground truth and production accuracy </book/05_ground_truth>` for
``backfill``; chapter :doc:`Drift and estimated performance </book/06_drift_and_estimation>` for ``monitor``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from closedloop.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    Command,
    UsageError,
    _champion,
    _emit,
    _model_dataset,
    _model_schema,
    _read_table,
    _schema_or_telco,
    add_data_options,
    number,
)


def cmd_backfill(args: argparse.Namespace) -> int:
    from closedloop.monitoring.ground_truth import backfill

    # The champion's contract when there is one (the log holds its predictions), else --schema
    # or Telco (a log without a model)
    champion = _champion(args)
    schema = _model_schema(args, champion) if champion else _schema_or_telco(args)
    _check_labels(args.labels, schema)
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


def _check_labels(path: str, schema) -> None:
    """Refuse a label file with rows that carry no label (before anything is written)."""
    labels = _read_table(path, "--labels")
    column = "ground_truth" if "ground_truth" in labels.columns else schema.target
    if column not in labels.columns:
        return  # backfill names the columns it expects
    missing = labels[column].isna().to_numpy().nonzero()[0]
    if len(missing):
        rows = ", ".join(str(i) for i in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise UsageError(f"--labels {path}: {column}: {len(missing)} null label(s) (rows "
                         f"{rows}; expected a label on every row: leave out the rows whose "
                         "label has not arrived)")


def cmd_monitor(args: argparse.Namespace) -> int:
    from closedloop.monitoring.drift import DriftConfig
    from closedloop.monitoring.report import holdout_reference, monitor, version_baselines
    from closedloop.monitoring.store import InferenceLog

    if _champion(args) or not args.baseline:  # the champion's contract (and baseline)
        df, schema, source = _model_dataset(args, "champion")
    else:  # a log and a baseline file, no model: --schema or Telco, as for backfill
        df, schema, source = None, _schema_or_telco(args), ""
    log = InferenceLog(args.workspace, schema)
    baselines = None
    if args.baseline:
        baseline = _read_table(args.baseline, "--baseline")
        name = str(Path(args.baseline).resolve())
    else:
        baseline = holdout_reference(args.workspace, df, schema, model_name=args.model_name)
        name = (f"{args.model_name}@champion held-out rows"
                + (f" of {source}" if df is not None else ""))
        if not args.one_baseline:  # each version's rows against that version's held-out rows
            logged = log.read(model_name=args.model_name, columns=["model_version"])
            versions = sorted(logged["model_version"].astype(str).unique())
            baselines = version_baselines(args.workspace, versions, model_name=args.model_name)
            name = (f"per model version, its held-out rows ({args.model_name}@champion's for "
                    f"versions that store none: {name})")
    report = monitor(log, baseline, granularity=args.granularity,
                     baseline_name=name, labels_as_of=args.labels_as_of,
                     drift_config=DriftConfig(alpha=args.alpha, min_psi=args.min_psi),
                     baselines=baselines)
    _emit(args, report.to_dict(), report.summary())
    return EXIT_OK


def add_backfill_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``closedloop backfill``."""
    parser.add_argument("--labels", required=True, help="label file (.csv/.parquet): "
                        "prediction_id, or entity id + event_time (the logged time), or entity "
                        "id + window_start + window_end; ground_truth (0/1) or the target in "
                        "its own values (e.g. Churn Yes/No); label_arrived_at. The file "
                        "`closedloop simulate --labels-output` writes is taken as it is")
    parser.add_argument("--as-of", help="use only labels arrived by this time")
    parser.add_argument("--dry-run", action="store_true",
                        help="count and report, write nothing")
    parser.add_argument("--fail-on-conflict", action="store_true",
                        help="exit 1 when a label conflicts with a stored one")
    parser.add_argument("--schema",
                        help="the log's data contract, a JSON file (default: the champion's, "
                             "which it must then be; Telco without a champion)")


def add_monitor_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``closedloop monitor``."""
    parser.add_argument("--granularity", default="1d",
                        help="window width: 1h, 1d, 1w, 1mo, ...")
    parser.add_argument("--baseline", help="baseline table (.parquet/.csv) with the log's "
                                           "columns (default: the champion's held-out training "
                                           "rows)")
    parser.add_argument("--one-baseline", action="store_true",
                        help="compare every version's predictions with the champion's baseline "
                             "(default: each version with its own held-out rows)")
    parser.add_argument("--labels-as-of", help="use only labels arrived by this date")
    parser.add_argument("--alpha", type=number(0, 1, low_open=True, high_open=True),
                        default=0.01, help="false-alarm rate per window, in (0, 1) "
                                           "(Bonferroni over columns)")
    parser.add_argument("--min-psi", type=number(0), default=0.0,
                        help="smallest PSI that counts as drift when a test rejects")
    add_data_options(parser, "the champion's training table (default: the held-out rows "
                             "stored with it; needed only for an older version)",
                     "the log's data contract, a JSON file (default: the champion's; if given "
                     "it must be the same)")


COMMANDS: dict[str, Command] = {
    "backfill": (cmd_backfill, "join late-arriving labels into the inference log",
                 add_backfill_arguments),
    "monitor": (cmd_monitor, "profile, drift and estimated performance of the inference log",
                add_monitor_arguments),
}
