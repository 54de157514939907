"""Time batch scoring end to end, pandas and Spark, against raw LightGBM on the same rows.

Usage (the Telco CSV must be reachable, e.g. ``CLOSEDLOOP_DATA_HOME=../shared/data/telco``)::

    python benchmarks/bench_scoring.py --rows 2400000 --repeat 1

Simulates ``--rows`` rows with :class:`closedloop.simulate.stream.StreamSimulator`, writes them to
Parquet (without the label), trains and promotes a model (no HPO) in a temporary workspace, then
times :func:`closedloop.scoring.batch.score_file` with each engine and each scoring method
(``compiled``: :class:`closedloop.model.compiled.CompiledPredictor`, the default; ``pipeline``:
the scikit-learn pipeline), the runs interleaved so that both methods see the same load: read
Parquet, contract check, features, model, risk tier, write the output Parquet and append the
batch to the inference log. In memory, both methods' ``predict_proba`` on the checked frame
(every core) are timed too. The reference is the pipeline's model step alone
(``LGBMClassifier.predict_proba`` on features already built) on the same rows, with one thread
(as the model was trained) and with every core. Session start-up and one small warm-up batch
per engine and method are not timed. The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _timing import best_of  # benchmarks/_timing.py, beside this script

from closedloop.config import Workspace, quiet_mlflow
from closedloop.contract.telco import TELCO_SCHEMA, load_telco
from closedloop.model.compiled import CompiledPredictor
from closedloop.model.promotion import promote
from closedloop.model.registry import load_model, train_and_register
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


def run(ws: Workspace, source: Path, output: Path, engine: str, master: str,
        method: str) -> None:
    shutil.rmtree(ws.tables_dir / "inference_log", ignore_errors=True)  # log the batch again
    score_file(ws, source, output, engine=engine, timestamp="event_time", master=master,
               scored_at="2026-02-01", method=method, overwrite=True)


def interleaved(repeat: int, works: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Best seconds of each work, the works run in turn ``repeat`` times (same load for all)."""
    best = dict.fromkeys(works, float("inf"))
    for _ in range(repeat):
        for name, work in works.items():
            best[name] = min(best[name], best_of(1, work))
            print(f"  {name}: {best[name]:.1f} s", flush=True)
    return best


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def in_memory(ws: Workspace, source: Path, cores: int, repeat: int) -> dict[str, float]:
    """Rows/s of the model step alone on features built beforehand (the reference, 1 thread
    and every core), then of each method's ``predict_proba`` on the checked frame."""
    import pandas as pd

    rows = len(pd.read_parquet(source, columns=["customerID"]))
    pipeline = load_model(ws).unwrap_python_model().pipeline
    checked = check_input(pd.read_parquet(source).drop(columns="event_time"))
    features = pipeline.named_steps["features"].transform(checked)
    classifier = pipeline.named_steps["model"]
    compiled = CompiledPredictor(pipeline, 0.5, TELCO_SCHEMA)
    rates = {}
    for threads in (1, cores):
        classifier.set_params(n_jobs=threads)
        seconds = best_of(repeat, lambda: classifier.predict_proba(features))
        rates[f"raw LightGBM, {threads} thread(s)"] = rows / seconds
    # Features and trees, every core (the file path's setting), each method in turn.
    timed = interleaved(repeat, {
        f"in memory ({cores} threads), pipeline": lambda: pipeline.predict_proba(checked),
        f"in memory ({cores} threads), compiled": lambda: compiled.predict_proba(
            checked, check=False, num_threads=cores)})
    return {**rates, **{name: rows / seconds for name, seconds in timed.items()}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_400_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--engines", default="pandas,spark")
    parser.add_argument("--methods", default="pipeline,compiled")
    args = parser.parse_args(argv)
    quiet_mlflow()
    print(f"load average before (1/5/15 min): {load()}")
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

    cores = os.cpu_count() or 1
    rates = in_memory(ws, source, cores, args.repeat)
    works = {}
    for engine in args.engines.split(","):
        if engine == "spark":
            spark_for_scoring(args.master)
        for method in args.methods.split(","):
            run(ws, small, output, engine, args.master, method)  # warm-up: imports, model load
            works[f"end to end, {engine}, {method}"] = (
                lambda e=engine, m=method: run(ws, source, output, e, args.master, m))
    timed = interleaved(args.repeat, works)
    rates.update({name: args.rows / seconds for name, seconds in timed.items()})

    reference = rates["raw LightGBM, 1 thread(s)"]
    print(f"\n{args.rows:,} rows, {cores} cores, best of {args.repeat} (interleaved); "
          f"load average after: {load()}")
    for name, rate in rates.items():
        print(f"  {name:<36} {rate:>12,.0f} rows/s  {args.rows / rate:7.1f} s  "
              f"{rate / reference:6.2f} x raw 1-thread")
    for prefix in [name.removesuffix(", compiled") for name in rates
                   if name.endswith(", compiled")]:
        if f"{prefix}, pipeline" in rates:
            print(f"  compiled / pipeline, {prefix}: "
                  f"{rates[f'{prefix}, compiled'] / rates[f'{prefix}, pipeline']:.2f} x")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
