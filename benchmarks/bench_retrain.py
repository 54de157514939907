"""Time one retraining cycle (the nine steps) on Telco-size data, against the bare model fit.

Usage (the Telco CSV must be reachable, e.g. ``CLOSEDLOOP_DATA_HOME=../shared/data/telco``)::

    python benchmarks/bench_retrain.py --repeat 3

Sets up a workspace once: a champion trained on Telco (no HPO), 120 days x 100 rows of a
``loyalty_erosion`` stream scored and logged, the labels known by day 120 backfilled. Then times
:func:`closedloop.retrain.workflow.run_retraining` (assess, prepare, validate, fetch params,
retrain, compare, register, gates, promote, each a child MLflow run) on a fresh copy of that
workspace, so every repeat retrains and promotes. The baseline, in the same process, is step 5
alone: :func:`closedloop.model.train.retrain_with_params` on the same number of rows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
from _timing import best_of  # benchmarks/_timing.py, beside this script

from closedloop.config import Workspace, quiet_mlflow
from closedloop.contract.telco import TELCO_SCHEMA, load_telco
from closedloop.model import registry
from closedloop.model.train import DEFAULT_PARAMS, TrainConfig, retrain_with_params
from closedloop.monitoring.ground_truth import backfill, labels_from_stream
from closedloop.monitoring.store import InferenceLog
from closedloop.retrain.workflow import run_retraining
from closedloop.simulate.stream import StreamSimulator

AS_OF = pd.Timestamp("2026-05-01")


def deploy(root: Path, telco: pd.DataFrame, days: int, rows: int) -> Workspace:
    ws = Workspace.resolve(root)
    result = registry.train_and_register(telco, TELCO_SCHEMA, ws, TrainConfig(n_trials=0))
    registry.promote(ws, reason="benchmark: first model", force=True)
    stream = StreamSimulator(telco, seed=0, population=20_000).stream(days, rows,
                                                                      "loyalty_erosion")
    log = InferenceLog(ws, TELCO_SCHEMA)
    scored = registry.load_model(ws).predict(stream[TELCO_SCHEMA.feature_names])
    log.append(stream, scored=scored, model_name=registry.DEFAULT_MODEL_NAME,
               model_version=result.model_version, timestamp="event_time")
    backfill(log, labels_from_stream(stream, as_of=AS_OF))
    return ws


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--rows-per-day", type=int, default=100)
    args = parser.parse_args(argv)
    quiet_mlflow()
    telco = load_telco()
    tmp = Path(tempfile.mkdtemp(prefix="bench-retrain-"))
    deployed = deploy(tmp / "deployed", telco, args.days, args.rows_per_day)
    runs = []

    def cycle() -> None:
        copy = tmp / f"run{len(runs)}"
        shutil.copytree(deployed.root, copy)
        runs.append(run_retraining(Workspace.resolve(copy), telco, as_of=AS_OF))

    seconds = best_of(args.repeat, cycle)
    best = min(runs, key=lambda r: r.seconds)
    if any(r.outcome != "promoted" for r in runs):
        raise SystemExit(f"a cycle did not promote: {[str(r) for r in runs]}")
    train_rows = best.steps[1].details["train_rows"]
    fit = best_of(args.repeat, lambda: retrain_with_params(
        telco.sample(train_rows, random_state=0), TELCO_SCHEMA, DEFAULT_PARAMS))
    print(f"retraining cycle, {args.days} days x {args.rows_per_day} logged rows, "
          f"{train_rows:,} training rows, {os.cpu_count()} cores, best of {args.repeat}")
    for step in best.steps:
        print(f"  {step.number}. {step.name:<16} {step.seconds:6.2f} s")
    print(f"  nine steps (wall clock)  {seconds:6.2f} s")
    print(f"  baseline: the fit alone  {fit:6.2f} s  -> cycle = {seconds / fit:.1f} x the fit")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
