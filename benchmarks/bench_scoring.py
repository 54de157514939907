"""Time batch scoring end to end, pandas and Spark, against raw LightGBM on the same rows.

Usage (the Telco CSV must be reachable, e.g. ``CLOSEDLOOP_DATA_HOME=../shared/data/telco``)::

    python benchmarks/bench_scoring.py --rows 2400000 --repeat 1

Simulates ``--rows`` rows with :class:`closedloop.simulate.stream.StreamSimulator`, writes them to
Parquet (without the label), trains and promotes a model (no HPO) in a temporary workspace, then
times :func:`closedloop.scoring.batch.score_file` with each engine and each scoring method
(``compiled``: :class:`closedloop.model.compiled.CompiledPredictor`, the default; ``native``:
the same with the trees compiled by tl2cgen, the ``native`` extra; ``pipeline``: the
scikit-learn pipeline; ``--methods`` picks them), the runs interleaved so that all methods
see the same load: read Parquet, contract check, features, model, risk tier, write the output
Parquet and append the batch to the inference log. In memory, each method's
``predict_proba`` on the checked frame (every core) is timed too. The reference is the
pipeline's model step alone (``LGBMClassifier.predict_proba`` on features already built) on
the same rows, with one thread (as the model was trained) and with every core. Session start-up and one small warm-up batch
per engine and method are not timed. The load average is printed before and after.

``--stages`` times the pandas compiled path step by step on the same file (read, contract
check, encode, predict, tier, prediction ids, write the output, write the log batch), so the
time outside the model is seen where it goes. ``--compiled`` times compiled tree predictors
against ``Booster.predict`` on the same matrix (``--compiled-rows`` rows, every core):
treelite + tl2cgen (the model compiled to C, then a shared library) and lleaves (LLVM), each
only when installed, with its compile time and the largest probability difference. ``--json``
writes every figure, the ratios and the load averages to a file (the book and the README read
``benchmarks/results/scoring.json``)::

    python benchmarks/bench_scoring.py --rows 1000000 --methods compiled,native --stages \
        --compiled --json benchmarks/results/scoring.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _timing import best_of  # benchmarks/_timing.py, beside this script

from closedloop.config import Workspace, quiet_mlflow
from closedloop.contract.telco import TELCO_SCHEMA, load_telco
from closedloop.model.compiled import CompiledPredictor
from closedloop.model.promotion import promote
from closedloop.model.registry import load_model, train_and_register
from closedloop.model.train import TrainConfig
from closedloop.scoring.batch import _log_table, check_input, score_file
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
        method: str, lane: bool = True) -> None:
    """Score ``source`` as ``closedloop score`` would; ``lane=False`` switches the pandas
    engine's Arrow lane off (the pandas path every batch took before it, for comparison)."""
    from closedloop.scoring import batch

    shutil.rmtree(ws.tables_dir / "inference_log", ignore_errors=True)  # log the batch again
    real = batch._score_arrow_lane
    if not lane:
        batch._score_arrow_lane = lambda *args: None
    try:
        score_file(ws, source, output, engine=engine, timestamp="event_time", master=master,
                   scored_at="2026-02-01", method=method, overwrite=True)
    finally:
        batch._score_arrow_lane = real


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


def in_memory(ws: Workspace, source: Path, cores: int, repeat: int,
              methods: tuple[str, ...] = ("pipeline", "compiled")
              ) -> tuple[dict[str, float], Callable[[], object]]:
    """Rows/s of the model step alone on features built beforehand (the reference, 1 thread
    and every core), then of each method's ``predict_proba`` on the checked frame; and the
    reference on every core as a work, to run again between the end-to-end runs."""
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
    native = CompiledPredictor(pipeline, 0.5, TELCO_SCHEMA).use_native() \
        if "native" in methods else None
    works = {
        "pipeline": lambda: pipeline.predict_proba(checked),
        "compiled": lambda: compiled.predict_proba(checked, check=False, num_threads=cores),
        "native": lambda: native.predict_proba(checked, check=False, num_threads=cores)}
    timed = interleaved(repeat, {f"in memory ({cores} threads), {m}": works[m]
                                 for m in methods})
    classifier.set_params(n_jobs=cores)
    return ({**rates, **{name: rows / seconds for name, seconds in timed.items()}},
            lambda: classifier.predict_proba(features))


def stages(ws: Workspace, source: Path, cores: int) -> dict[str, float]:
    """Seconds of each step of the pandas engine's Arrow lane on ``source`` (the path
    :func:`~closedloop.scoring.batch.score_file` takes for a plain Parquet batch), run one
    after another (model loading not included). ``score_file`` builds the log columns while
    the trees predict and writes the two files side by side: the sum overstates its time."""
    import pandas as pd
    import pyarrow.parquet as pq

    from closedloop.scoring import _arrow as lane
    from closedloop.scoring.batch import _arrow_log_columns
    from closedloop.scoring.tiers import RiskTiers

    schema, when = TELCO_SCHEMA, pd.Timestamp("2026-02-01")
    compiled = CompiledPredictor.from_registry(ws)
    seconds: dict[str, float] = {}

    def step(name: str, work: Callable[[], object]) -> object:
        started = time.perf_counter()
        result = work()
        seconds[name] = time.perf_counter() - started
        return result

    table = step("read Parquet (Arrow)", lambda: lane.read_parquet(source, schema))
    times_us = step("contract check", lambda: lane.plain_batch(
        table, schema, ["event_time"]) and lane.event_micros(table.column("event_time")))
    X = step("encode (compiled)", lambda: compiled.matrix_arrow(table))
    proba = step("predict (booster)", lambda: compiled.predict_matrix(X, num_threads=cores))
    columns, ids, times, batch_id = step(
        "log columns, ids, batch id", lambda: _arrow_log_columns(
            table, schema, True, "closedloop-churn", "1", when, "event_time", times_us, None))
    prediction = (proba >= compiled.threshold).astype(np.int64)
    out = step("tier and output table", lambda: lane.output_table(
        table, schema, proba, prediction, RiskTiers().assign(proba), "closedloop-churn", "1",
        when, ("event_time",), "event_time", times_us, columns[schema.entity_id]))
    logged = step("log table", lambda: _log_table(columns, prediction, proba, schema, ids,
                                                  times, "closedloop-churn", "1", batch_id))
    with tempfile.TemporaryDirectory() as tmp:
        step("write output Parquet", lambda: pq.write_table(out, Path(tmp) / "out.parquet"))
        step("write log batch", lambda: pq.write_table(logged, Path(tmp) / "log.parquet",
                                                       store_schema=False))
    return seconds


def spark_floor(source: Path, repeat: int, master: str) -> dict[str, float]:
    """What Spark costs on ``source`` with no model at all, each stage adding one step: read
    the Parquet file, hand every column to a Python worker as Arrow (one tiny row back), hand
    them back unchanged, write them to Parquet. Best of ``repeat`` seconds each."""
    import pyarrow as pa

    spark = spark_for_scoring(master)
    frame = spark.read.parquet(str(source))

    def rows(batches):
        yield pa.RecordBatch.from_pydict({"rows": [sum(b.num_rows for b in batches)]})

    def same(batches):
        yield from batches

    with tempfile.TemporaryDirectory() as tmp:
        stages = {
            "read": lambda: frame.write.format("noop").mode("overwrite").save(),
            "read, Arrow to Python": lambda: frame.mapInArrow(rows, "rows long").collect(),
            "read, Arrow to Python and back": lambda: frame.mapInArrow(same, frame.schema)
            .write.format("noop").mode("overwrite").save(),
            "read, Arrow to Python and back, write Parquet": lambda: frame.mapInArrow(
                same, frame.schema).write.mode("overwrite").parquet(str(Path(tmp) / "out")),
        }
        found = {name: best_of(repeat, work) for name, work in stages.items()}
    for name, seconds in found.items():
        print(f"  spark without a model, {name}: {seconds:.2f} s", flush=True)
    return found


def compiled_predictors(ws: Workspace, source: Path, rows: int, cores: int,
                        repeat: int) -> dict[str, dict[str, object]]:
    """``Booster.predict`` against compiled tree predictors on the same float64 matrix:
    seconds, compile seconds, speed-up and the largest probability difference; a predictor
    that is not installed or fails says why instead."""
    import pandas as pd

    compiled = CompiledPredictor.from_registry(ws)
    frame = pd.read_parquet(source).head(rows).drop(columns="event_time")
    X = compiled.matrix(check_input(frame))
    base = compiled.predict_matrix(X, num_threads=cores)
    booster = best_of(repeat, lambda: compiled.predict_matrix(X, num_threads=cores))
    found: dict[str, dict[str, object]] = {
        "booster": {"seconds": booster, "rows": len(X), "trees": compiled.booster.num_trees()}}
    with tempfile.TemporaryDirectory() as tmp:
        model_file = Path(tmp) / "model.txt"
        compiled.booster.save_model(model_file)

        def tl2cgen() -> tuple[float, Callable[[], np.ndarray]]:
            import tl2cgen as tl
            import treelite

            started = time.perf_counter()
            model = treelite.frontend.load_lightgbm_model(str(model_file))
            tl.export_lib(model, toolchain="gcc", libpath=str(Path(tmp) / "tl2cgen.so"),
                          params={"parallel_comp": cores})
            predictor = tl.Predictor(str(Path(tmp) / "tl2cgen.so"), nthread=cores)
            return time.perf_counter() - started, lambda: np.asarray(
                predictor.predict(tl.DMatrix(X))).reshape(-1)

        def lleaves() -> tuple[float, Callable[[], np.ndarray]]:
            import lleaves as ll

            started = time.perf_counter()
            model = ll.Model(model_file=str(model_file))
            model.compile(cache=str(Path(tmp) / "lleaves.o"))
            return time.perf_counter() - started, lambda: model.predict(X, n_jobs=cores)

        for name, build in (("treelite + tl2cgen", tl2cgen), ("lleaves", lleaves)):
            try:
                compile_seconds, predict = build()
                seconds = best_of(repeat, predict)
                found[name] = {"seconds": seconds, "compile_seconds": compile_seconds,
                               "speedup": booster / seconds,
                               "max_abs_diff": float(np.max(np.abs(predict() - base)))}
            except Exception as err:  # not installed, or it cannot compile this model here
                found[name] = {"error": f"{type(err).__name__}: {str(err)[:200]}"}
            print(f"  {name}: {found[name]}", flush=True)
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_400_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--engines", default="pandas,spark")
    parser.add_argument("--methods", default="pipeline,compiled")
    parser.add_argument("--stages", action="store_true",
                        help="time the pandas compiled path step by step")
    parser.add_argument("--compiled", action="store_true",
                        help="time compiled tree predictors (tl2cgen, lleaves) vs the booster")
    parser.add_argument("--compiled-rows", type=int, default=200_000)
    parser.add_argument("--spark-floor", action="store_true",
                        help="time Spark's own steps on the batch with no model (read, Arrow to "
                             "the workers and back, write)")
    parser.add_argument("--json", type=Path, default=None,
                        help="write the figures to this JSON file")
    args = parser.parse_args(argv)
    quiet_mlflow()
    load_before = load()
    print(f"load average before (1/5/15 min): {load_before}")
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
    rates, raw_work = in_memory(ws, source, cores, args.repeat, tuple(args.methods.split(",")))
    # The reference runs again between the end-to-end runs: each ratio compares runs made
    # under the same load (the best of all runs is kept).
    raw_name = f"raw LightGBM, {cores} thread(s)"
    works: dict[str, Callable[[], object]] = {raw_name: raw_work}
    for engine in args.engines.split(","):
        if engine == "spark":
            spark_for_scoring(args.master)
        for method in args.methods.split(","):
            run(ws, small, output, engine, args.master, method)  # warm-up: imports, model load
            works[f"end to end, {engine}, {method}"] = (
                lambda e=engine, m=method: run(ws, source, output, e, args.master, m))
            if engine == "pandas" and method == "compiled":
                works["end to end, pandas without the Arrow lane, compiled"] = (
                    lambda: run(ws, source, output, "pandas", args.master, "compiled", False))
    timed = interleaved(args.repeat, works)
    # Every ratio divides by the raw model's runs interleaved with the end-to-end ones (same
    # load), not by its first measurement above, made minutes earlier.
    rates.update({name: args.rows / seconds for name, seconds in timed.items()})
    steps = stages(ws, source, cores) if args.stages else {}
    floor = spark_floor(source, args.repeat, args.master) if args.spark_floor else {}
    predictors = compiled_predictors(ws, source, min(args.compiled_rows, args.rows), cores,
                                     args.repeat) if args.compiled else {}

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
    seconds = {name: args.rows / rate for name, rate in rates.items()}
    raw = seconds[f"raw LightGBM, {cores} thread(s)"]
    ratios = {}
    for method in args.methods.split(","):
        pandas_s = seconds.get(f"end to end, pandas, {method}")
        spark_s = seconds.get(f"end to end, spark, {method}")
        if pandas_s:
            ratios[f"pandas {method} / raw {cores} threads"] = pandas_s / raw
        if pandas_s and spark_s:
            ratios[f"spark {method} / pandas {method}"] = spark_s / pandas_s
    without = seconds.get("end to end, pandas without the Arrow lane, compiled")
    if without:
        ratios[f"pandas without the Arrow lane, compiled / raw {cores} threads"] = without / raw
    for name, ratio in ratios.items():
        print(f"  {name}: {ratio:.2f} x")
    if steps:
        print(f"\npandas compiled path step by step ({sum(steps.values()):.1f} s in all):")
        for name, value in steps.items():
            print(f"  {name:<24} {value:7.2f} s  {value / sum(steps.values()):6.1%}")
    if predictors:
        print(f"\ncompiled tree predictors, {predictors['booster']['rows']:,} rows, "
              f"{cores} threads: booster {predictors['booster']['seconds']:.2f} s")
        for name, found in list(predictors.items())[1:]:
            print(f"  {name}: " + (found["error"] if "error" in found else
                  f"{found['seconds']:.2f} s ({found['speedup']:.2f}x the booster, "
                  f"compiled in {found['compile_seconds']:.0f} s), largest difference "
                  f"{found['max_abs_diff']:.1e}"))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "rows": args.rows, "cores": cores, "repeat": args.repeat,
            "load_before": load_before, "load_after": load(),
            "seconds": {k: round(v, 2) for k, v in seconds.items()},
            "ratios": {k: round(v, 3) for k, v in ratios.items()},
            "stages": {k: round(v, 2) for k, v in steps.items()},
            "compiled_predictors": predictors,
            "spark_without_a_model": {k: round(v, 2) for k, v in floor.items()}},
            indent=2) + "\n")
        print(f"wrote {args.json}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
