"""Time batch scoring end to end, pandas and Spark, against raw LightGBM on the same rows.

Usage (the Telco CSV must be reachable, e.g. ``CLOSEDLOOP_DATA_HOME=../shared/data/telco``)::

    python benchmarks/bench_scoring.py --rows 2400000 --repeat 1

Simulates ``--rows`` rows with :class:`closedloop.simulate.stream.StreamSimulator`, writes them to
Parquet (without the label), trains and promotes a model (no HPO) in a temporary workspace, then
times :func:`closedloop.scoring.batch.score_file` with each engine: read Parquet, contract check,
features, model, risk tier, write the output Parquet and append the batch to the inference log.
The reference is the pipeline's model step alone (``LGBMClassifier.predict_proba`` on features
already built) on the same rows, with one thread (as the model was trained) and with every core.
Session start-up and one small warm-up batch per engine are not timed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from _timing import best_of  # benchmarks/_timing.py, beside this script

from closedloop.config import Workspace, quiet_mlflow
from closedloop.contract.telco import TELCO_SCHEMA, load_telco
from closedloop.model.registry import load_model, train_and_register
from closedloop.model.promotion import promote
from closedloop.model.train import TrainConfig
from closedloop.scoring.batch import check_input, score_file
from closedloop.scoring.spark import spark_for_scoring
from closedloop.simulate.stream import StreamSimulator

DROP = [TELCO_SCHEMA.target, "label_available_at", "true_churn_proba"]


def simulate(rows: int, path: Path) -> None:
    days = 30
    stream = StreamSimulator(load_telco(), seed=0).stream(days, -(-rows // days))
    # Customers recur in the stream: the event time keeps their prediction ids apart in the log.
    # Microseconds: Spark cannot read Parquet's nanosecond timestamps, which pandas writes.
    batch = stream.head(rows).drop(columns=DROP)
    batch["event_time"] = batch["event_time"].astype("datetime64[us]")
    batch.to_parquet(path, index=False)


def run(ws: Workspace, source: Path, output: Path, engine: str, master: str) -> None:
    shutil.rmtree(ws.tables_dir / "inference_log", ignore_errors=True)  # log the batch again
    score_file(ws, source, output, engine=engine, timestamp="event_time", master=master,
               scored_at="2026-02-01")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_400_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--engines", default="pandas,spark")
    args = parser.parse_args(argv)
    quiet_mlflow()
    tmp = Path(tempfile.mkdtemp(prefix="bench-scoring-"))
    ws = Workspace(tmp / "ws")
    source, small, output = tmp / "batch.parquet", tmp / "small.parquet", tmp / "out.parquet"
    started = time.perf_counter()
    simulate(args.rows, source)
    simulate(5_000, small)
    print(f"simulated {args.rows:,} rows in {time.perf_counter() - started:.1f} s "
          f"({os.path.getsize(source) / 1e6:.0f} MB Parquet)")
    train_and_register(load_telco(), TELCO_SCHEMA, ws, TrainConfig(n_trials=0))
    promote(ws, reason="benchmark", force=True)

    # The reference: the model step alone, on features built beforehand.
    import pandas as pd

    pipeline = load_model(ws).unwrap_python_model().pipeline
    features = pipeline.named_steps["features"].transform(check_input(pd.read_parquet(
        source).drop(columns="event_time")))
    classifier = pipeline.named_steps["model"]
    rates = {}
    for threads in (1, os.cpu_count() or 1):
        classifier.set_params(n_jobs=threads)
        seconds = best_of(args.repeat, lambda: classifier.predict_proba(features))
        rates[f"raw LightGBM, {threads} thread(s)"] = args.rows / seconds
    classifier.set_params(n_jobs=1)
    del features

    for engine in args.engines.split(","):
        if engine == "spark":
            spark_for_scoring(args.master)
        run(ws, small, output, engine, args.master)  # warm-up: imports, JIT, model load
        seconds = best_of(args.repeat, lambda: run(ws, source, output, engine, args.master))
        rates[f"end to end, {engine}"] = args.rows / seconds
        print(f"{engine}: {seconds:.1f} s", flush=True)

    reference = rates["raw LightGBM, 1 thread(s)"]
    print(f"\n{args.rows:,} rows, {os.cpu_count()} cores, best of {args.repeat}")
    for name, rate in rates.items():
        print(f"  {name:<28} {rate:>12,.0f} rows/s  {args.rows / rate:7.1f} s  "
              f"{rate / reference:6.2f} x raw 1-thread")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
